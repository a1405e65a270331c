/*
 * profile.h — per-column statistics of a dataset, built in one streaming pass and mergeable.
 *
 * A profile holds, per column: counts (rows, missing, repaired), distinct values
 * (HyperLogLog, exact for categorical), min/max/mean/std (merged exactly with Chan's
 * formulas), quantiles and a histogram (from a KLL sketch), and top values (exact counts for
 * categorical and boolean, space-saving for text and ids). Its JSON form (docs/profile.md)
 * carries the sketches, so the profiles of two chunks of a file merge into the profile of
 * the whole; it is also the drift baseline stored with a model.
 * A profile is not thread-safe; build one per thread and merge.
 */
#ifndef KEEL_DATA_PROFILE_H
#define KEEL_DATA_PROFILE_H

#include "base/json.h"
#include "data/frame.h"

typedef struct keel_profile keel_profile;

/* Creates an empty profile for data of schema s (names, types, roles, display names and
 * categories are copied: s need not outlive it). NULL when out of memory. */
keel_profile *keel_profile_new(const keel_schema *s);
void keel_profile_free(keel_profile *p);

/* Adds the rows of a frame of the profile's schema. A keel_chunk_fn, so it can be passed
 * straight to keel_validate_file as on_chunk (ud = the profile). KEEL_OK or KEEL_ENOMEM. */
int keel_profile_add_frame(void *p, const keel_frame *f);

/* Records where the data came from and what validation did with it. source and sha256
 * (64 hex digits) may be NULL; repaired has one count per column (or is NULL). */
int keel_profile_set_source(keel_profile *p, const char *source, const char *sha256,
                            uint64_t records, uint64_t accepted, uint64_t quarantined,
                            const uint64_t *repaired);

/* Records when the profile was made (microseconds since the epoch, UTC; whole seconds kept).
 * The library does not read the clock itself, so that profiles can be reproduced. */
void keel_profile_set_created(keel_profile *p, int64_t micros);

/* Appends the profile as JSON (docs/profile.md). */
int keel_profile_write_json(const keel_profile *p, keel_buf *out);

/* Rebuilds a profile from its JSON form (only the sketches and counts are read; derived
 * statistics are recomputed). Hostile input gives KEEL_EFORMAT with a message. */
int keel_profile_read_json(const keel_json *root, keel_profile **out, keel_error *e);
/* The same from a profile's JSON file (at most KEEL_PROFILE_FILE_MAX bytes); e names the
 * file. */
#define KEEL_PROFILE_FILE_MAX ((size_t)1 << 30)
int keel_profile_read_file(const char *path, keel_profile **out, keel_error *e);
/* Reads the profiles of parts of one dataset from paths[0..n) and merges them into *out (the
 * profile of the whole). e names the file that could not be read or merged. */
int keel_profile_merge_files(const char *const *paths, size_t n, keel_profile **out, keel_error *e);

/* Adds src into dst: the result is the profile of both datasets. The columns must match by
 * name and type (KEEL_EMISMATCH otherwise). */
int keel_profile_merge(keel_profile *dst, const keel_profile *src, keel_error *e);

/* Summary numbers, for tests and the CLI. */
size_t keel_profile_n_columns(const keel_profile *p);
uint64_t keel_profile_records(const keel_profile *p);
/* Column statistics by index; NaN where not applicable. */
double keel_profile_mean(const keel_profile *p, size_t col);
double keel_profile_std(const keel_profile *p, size_t col);
double keel_profile_quantile(const keel_profile *p, size_t col, double q);
double keel_profile_distinct(const keel_profile *p, size_t col);
uint64_t keel_profile_missing(const keel_profile *p, size_t col);
/* Values counted in a column, missing ones included. */
uint64_t keel_profile_count(const keel_profile *p, size_t col);
/* The column called name, or -1. */
long keel_profile_find(const keel_profile *p, const char *name);
/* Estimated share of the column's present values that are <= x (numeric and timestamp
 * columns; NaN otherwise or when empty). */
double keel_profile_rank(const keel_profile *p, size_t col, double x);
/* Categorical columns: the count of the category called label (0 when unknown); boolean
 * columns: label "false" or "true". */
uint64_t keel_profile_category_count(const keel_profile *p, size_t col, const char *label);
/* The most frequent category (categorical) or "false"/"true" (boolean), or NULL. Borrowed. */
const char *keel_profile_mode(const keel_profile *p, size_t col);

#endif
