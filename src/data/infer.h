/*
 * infer.h — proposing a schema from a file, for people to review.
 *
 * Reads the whole file (streaming; or the first max_rows records) and proposes, per column,
 * a type and role, the observed range, the categorical domain, missing-value tokens, and a
 * flag for values that look like personal data. Anything a reviewer should look at gets a
 * note, which the YAML shows as a comment above the column.
 */
#ifndef KEEL_DATA_INFER_H
#define KEEL_DATA_INFER_H

#include "data/schema.h"

/* The most columns inferred from JSON Lines by default. Every record holds a value for every
 * column, and a key costs a record nothing where it is absent: 85 KB of records that each
 * bring five new keys would otherwise become 5,000 columns and a model of 3 GB to train. */
#define KEEL_INFER_MAX_COLUMNS 4096

typedef struct keel_infer_options {
    const char *target;       /* column to mark as the target; NULL: none */
    const char *display_name; /* the file's name in the schema and messages; NULL: path */
    char delimiter;           /* 0: detect among , ; TAB | */
    int encoding;             /* -1: detect (UTF-8 unless the bytes are not) */
    uint64_t max_rows;        /* 0: read everything */
    size_t max_categories;    /* most distinct values for a categorical column, default 1000 */
    size_t max_columns;       /* JSON Lines: most distinct keys (0: KEEL_INFER_MAX_COLUMNS) */
    keel_progress_fn progress;
    void *progress_ud;
} keel_infer_options;

void keel_infer_options_init(keel_infer_options *o);

/* Infers a schema for the CSV file at path. On success *out is a new schema (free with
 * keel_schema_free). Errors: KEEL_ENOENT/KEEL_EIO (unreadable), KEEL_EEMPTY (no header),
 * KEEL_EINVAL (the target is not a column), KEEL_ENOMEM. */
int keel_infer_file(const char *path, const keel_infer_options *o, keel_schema **out,
                    keel_error *e);

/* Appends what inference proposed for file (the schema s, written to output, or NULL for
 * standard output): as one JSON line (file, schema, columns, types: {TYPE: count},
 * pii_flagged), or for people (the columns by type, and how many may hold personal data).
 * KEEL_ENOMEM leaves out as it was. */
int keel_infer_summary(const char *file, const char *output, const keel_schema *s, bool json,
                       keel_buf *out);

/* The personal-data checks infer applies to one value, exposed for tests. */
bool keel_looks_like_email(const char *p, size_t n);
bool keel_looks_like_card(const char *p, size_t n);        /* 13-19 digits passing Luhn */
bool keel_looks_like_iban(const char *p, size_t n);        /* ISO 13616 mod-97 check */
bool keel_looks_like_phone(const char *p, size_t n);       /* +, digits, separators; 7-15 digits */
bool keel_looks_like_national_id(const char *p, size_t n); /* US SSN, UK NINO */

#endif
