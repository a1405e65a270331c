/*
 * schema.h — the data contract between domain experts and engineers.
 *
 * A schema says, for one file format, what each column is: its type, its role in a model,
 * which values are allowed, which tokens mean "missing", whether it holds personal data,
 * and what to do with a bad value. `keel data infer` writes one as YAML for people to review
 * and edit (docs/schema.md); `keel data validate` and `profile` enforce it.
 *
 * Ownership: a keel_schema owns every string and array hanging off it; keel_schema_free
 * releases all of it. Strings are UTF-8 and NUL-terminated. Not thread-safe to modify;
 * safe to read from several threads once built.
 */
#ifndef KEEL_DATA_SCHEMA_H
#define KEEL_DATA_SCHEMA_H

#include "base/base.h"

typedef enum keel_type {
    KEEL_TYPE_NUMERIC = 0, /* real numbers; missing allowed */
    KEEL_TYPE_CATEGORICAL, /* one of a known set of strings (dictionary-encoded) */
    KEEL_TYPE_BOOLEAN,     /* true/false, spelt per true_values/false_values */
    KEEL_TYPE_TEXT,        /* free text */
    KEEL_TYPE_TIMESTAMP,   /* instants, stored as microseconds since 1970-01-01 UTC */
    KEEL_TYPE_ID,          /* identifiers: kept as text, never a model feature */
    KEEL_TYPE_COUNT
} keel_type;

typedef enum keel_role {
    KEEL_ROLE_FEATURE = 0,
    KEEL_ROLE_TARGET,
    KEEL_ROLE_ID,
    KEEL_ROLE_TIME,
    KEEL_ROLE_WEIGHT,
    KEEL_ROLE_IGNORE,
    KEEL_ROLE_COUNT
} keel_role;

/* What validation does with a value that breaks the column's rules. */
typedef enum keel_on_invalid {
    KEEL_ON_INVALID_REJECT = 0, /* quarantine the whole record (default) */
    KEEL_ON_INVALID_MISSING,    /* keep the record, treat the value as missing */
    KEEL_ON_INVALID_CLIP,       /* numbers/timestamps out of range are clamped to it; any
                                   other invalid value rejects the record */
    KEEL_ON_INVALID_COUNT
} keel_on_invalid;

typedef enum keel_pii {
    KEEL_PII_NONE = 0,
    KEEL_PII_EMAIL,
    KEEL_PII_PHONE,
    KEEL_PII_IBAN,
    KEEL_PII_CARD,        /* payment card number (passes Luhn) */
    KEEL_PII_NATIONAL_ID, /* e.g. US SSN, UK NINO */
    KEEL_PII_NAME,
    KEEL_PII_ADDRESS,
    KEEL_PII_BIRTH_DATE,
    KEEL_PII_OTHER,
    KEEL_PII_COUNT
} keel_pii;

typedef enum keel_format { KEEL_FORMAT_CSV = 0, KEEL_FORMAT_JSONL } keel_format;

/* The format a file's name says: .jsonl, .ndjson and .json are JSON Lines, .csv and .tsv
 * CSV; -1 for any other name (or none). */
int keel_format_of_path(const char *path);
typedef enum keel_encoding { KEEL_ENC_UTF8 = 0, KEEL_ENC_LATIN1 } keel_encoding;

/* A list of owned strings. */
typedef struct keel_strlist {
    char **items;
    size_t n;
} keel_strlist;

int keel_strlist_add(keel_strlist *l, const char *s, size_t len); /* copies s */
void keel_strlist_clear(keel_strlist *l);
/* Index of s in l, or -1. */
long keel_strlist_find(const keel_strlist *l, const char *s, size_t len);

typedef struct keel_schema_column {
    char *name;         /* as in the file's header (CSV) or key (JSON Lines) */
    char *display_name; /* for people, e.g. in reason codes; NULL = name */
    char *description;  /* NULL or free text */
    keel_type type;
    keel_role role;
    bool nullable; /* missing values allowed (default true) */
    keel_on_invalid on_invalid;

    /* numeric and timestamp: inclusive range (timestamps in microseconds) */
    bool has_min, has_max;
    double min, max;
    bool integer; /* numeric: values must be whole numbers */

    keel_strlist categories;  /* categorical: the allowed values, in order */
    keel_strlist true_values; /* boolean: empty = the defaults (true, yes, ...) */
    keel_strlist false_values;
    char *time_format; /* timestamp: NULL = ISO 8601; else strftime-like, see docs */

    bool has_missing; /* true: `missing` replaces the schema-wide tokens */
    keel_strlist missing;

    keel_pii pii;
    bool sensitive; /* a protected or sensitive attribute (e.g. age band, sex): the model card
                       reports the model's quality per value of it (default false) */
    char *note;     /* infer's remark for the reviewer, written as a YAML comment; may be NULL */
} keel_schema_column;

/* A set of borrowed strings for finding duplicates in O(n) (schema checks, the YAML reader):
 * open addressing; each entry remembers a tag given when it was added. */
typedef struct keel_strset {
    struct keel_strset_slot {
        const char *s;
        uint32_t tag;
    } * slots;
    size_t mask;
} keel_strset;

int keel_strset_init(keel_strset *t, size_t n); /* room for n strings; KEEL_ENOMEM */
/* Adds s (which must outlive the set); returns the tag of an equal string already there, or
 * -1 when s is new. */
long keel_strset_add(keel_strset *t, const char *s, uint32_t tag);
/* The tag of the string equal to (p, len), or -1. p need not be NUL-terminated. */
long keel_strset_find(const keel_strset *t, const char *p, size_t len);
void keel_strset_free(keel_strset *t);

typedef struct keel_schema {
    int version;  /* format version, 1 */
    char *source; /* the file it was inferred from (informational); may be NULL */
    keel_format format;
    char delimiter;         /* CSV: ',' by default */
    char quote;             /* CSV: '"' */
    char decimal;           /* '.' or ',' (decimal comma) */
    bool header;            /* CSV: the first record names the columns (default true) */
    keel_encoding encoding; /* input encoding; Latin-1 is converted to UTF-8 on read */
    keel_strlist missing;   /* tokens that mean "missing" in every column */
    keel_schema_column *columns;
    size_t n_columns;
    size_t cap_columns; /* allocated entries of columns */
} keel_schema;

/* Creates an empty schema with the defaults above and the standard missing tokens
 * ("", "NA", "N/A", "null", "NULL", "NaN", "?"); NULL when out of memory. */
keel_schema *keel_schema_new(void);
void keel_schema_free(keel_schema *s);

/* Appends a column named name with defaults (numeric, feature, nullable, reject);
 * *out points into s->columns and is valid until the next add. */
int keel_schema_add_column(keel_schema *s, const char *name, keel_schema_column **out);

/* Removes column i (freeing it) / moves column i to the end; others keep their order. Pointers
 * into s->columns are invalidated. Out-of-range i does nothing. */
void keel_schema_remove_column(keel_schema *s, size_t i);
void keel_schema_move_to_end(keel_schema *s, size_t i);

/* Index of the column called name, or -1. */
long keel_schema_find(const keel_schema *s, const char *name);

/* Semantic checks: unique non-empty names, min <= max, categories for categorical columns,
 * at most one target, on_invalid=clip only with a range. Fills e naming the column. */
int keel_schema_check(const keel_schema *s, keel_error *e);

/* Parses schema YAML (docs/schema.md). name is used in error messages
 * ("schema.yaml:12:5: unknown type 'numbr'"). On success *out is a new, checked schema. */
int keel_schema_parse(const char *text, size_t n, const char *name, keel_schema **out,
                      keel_error *e);
/* Reads and parses a schema file. */
int keel_schema_load(const char *path, keel_schema **out, keel_error *e);
/* Appends the schema as commented, human-editable YAML that keel_schema_parse reads back
 * to an equal schema. */
int keel_schema_write(const keel_schema *s, keel_buf *out);

/* The schema as one JSON object (schema_json.c; the same fields as the YAML form), for model
 * artifacts: libkeel reads schemas without a YAML library. */
int keel_schema_to_json(const keel_schema *s, keel_buf *out);
/* Reads that JSON back as untrusted input: every field type-checked, names from the closed
 * lists, sizes capped, then keel_schema_check. KEEL_EFORMAT with e naming the field. The json
 * type is from base/json.h. */
struct keel_json;
int keel_schema_from_json(const struct keel_json *root, keel_schema **out, keel_error *e);
/* A deep copy of s. */
int keel_schema_dup(const keel_schema *s, keel_schema **out, keel_error *e);

/* Names used in YAML and JSON ("numeric", "target", "reject", "email", ...), and back.
 * The _from_name functions return -1 for an unknown name. */
const char *keel_type_name(keel_type t);
const char *keel_role_name(keel_role r);
const char *keel_on_invalid_name(keel_on_invalid p);
const char *keel_pii_name(keel_pii p);
int keel_type_from_name(const char *s);
int keel_role_from_name(const char *s);
int keel_on_invalid_from_name(const char *s);
int keel_pii_from_name(const char *s);

#endif
