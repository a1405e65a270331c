/*
 * transform.h — feature transforms fitted on training data, applied identically at prediction.
 *
 * keel_transform_fit looks at the schema's feature columns (role feature; ids, ignored columns
 * and the target are skipped) and the training rows of a frame, and learns per column:
 *   numeric    quantile normalisation: up to 64 knots (sorted distinct training quantiles)
 *              mapped piecewise-linearly to standard normal scores, so outliers cannot
 *              dominate (values beyond the knots clamp to the end scores); then a
 *              piecewise-linear encoding over up to 16 quantile bins (each output rises from
 *              0 to 1 across its bin, so the network can place thresholds as trees do);
 *              missing values are imputed with the median's score (bins 0) and flagged by an
 *              indicator column when the training data had any missing value (or the
 *              schema allows them).
 *              Knot i's score is Φ⁻¹ of its mid-rank (lo + hi) / 2n, where [lo, hi) are the
 *              sorted positions holding its value, clamped to ±5. A column with one distinct
 *              value (or none) gives a constant 0, still emitted so that shapes are stable.
 *   boolean    0/1, missing imputed 0.5 plus an indicator when nullable (or when the training
 *              data had a missing value).
 *   categorical  an embedding index: 0 = unknown or rare (seen < min_count = 5 times in
 *              training, or not seen at all), 1 = missing, 2.. = the frequent categories by
 *              schema order; embedding dim = min(16, round(1.6 * vocab^0.56)).
 *   text       a bag of hashed ids: lower-cased word unigrams and bigrams, modulo 2^14
 *              buckets (keel_hash64, seed KEEL_TEXT_SEED), embedding dim 16. See
 *              keel_text_hash_ids for the exact rule. A missing text gives an empty bag.
 *   timestamp  dense: year (the decimal year 1970 + days / 365.2425, scaled by training
 *              mean/sd and clamped to ±10), sin/cos of month, day of week (Monday first),
 *              hour of day (each angle 2π k / period), plus a missing indicator when
 *              nullable. A missing timestamp gives zeros.
 * Output per row: `n_dense` floats, `n_index` int32 codes (one per categorical column, in
 * feature order), and one bag per text column. Dense outputs of a feature are its value(s)
 * followed by its indicator (1 = missing) when it has one.
 *
 * The fitted transform is stored in the artifact's manifest as JSON (format: the comment at
 * the top of transform.c) and read back by keel_transform_from_json, which validates it as
 * untrusted input against the schema. Fit → JSON → load → apply gives bit-identical outputs.
 * A fitted transform is read-only, so any number of threads may apply it at once.
 */
#ifndef KEEL_DATA_TRANSFORM_H
#define KEEL_DATA_TRANSFORM_H

#include "base/json.h"
#include "data/frame.h"

/* Bounds enforced on fit options and on loaded transforms. */
#define KEEL_TRANSFORM_MAX_KNOTS 4096                  /* knots per numeric feature */
#define KEEL_TRANSFORM_MAX_VOCAB (1 << 24)             /* categorical vocabulary or text buckets */
#define KEEL_TRANSFORM_MAX_DIM   1024                  /* embedding dimension */
#define KEEL_TEXT_SEED           0x6b65656c74657874ULL /* "keeltext": the fixed hash seed */

typedef enum keel_feature_kind {
    KEEL_FEAT_NUMERIC = 0,
    KEEL_FEAT_BOOLEAN,
    KEEL_FEAT_CATEGORICAL,
    KEEL_FEAT_TEXT,
    KEEL_FEAT_TIMESTAMP
} keel_feature_kind;

/* "numeric", "boolean", "categorical", "text", "timestamp" (the names used in JSON). */
const char *keel_feature_kind_name(keel_feature_kind k);

typedef struct keel_feature {
    char *column; /* schema column name (owned) */
    size_t col;   /* its index in the schema (resolved on fit and on load) */
    keel_feature_kind kind;
    size_t dense_offset, n_dense_out; /* where its dense outputs go */
    int index_slot;                   /* categorical: its column in the index output; else -1 */
    int bag_slot;                     /* text: which bag; else -1 */
    bool indicator;                   /* a missing-value indicator column is emitted */
    /* numeric */
    double *knots;  /* n_knots sorted, strictly increasing raw values */
    double *scores; /* n_knots normal scores, non-decreasing */
    size_t n_knots;
    double fill; /* the score used for a missing value */
    /* piecewise-linear encoding: n_bins outputs, bin b = clamp((x - e_b) / (e_{b+1} - e_b),
     * 0, 1) over edges e_0 < ... < e_{n_bins}, which are knots picked evenly by rank (derived
     * from the knots on fit and load, never stored); all 0 when missing */
    size_t n_bins;
    double *edges; /* n_bins + 1 */
    /* categorical: code_map[schema category code] = embedding index (0 unknown, >= 2) */
    int32_t *code_map;
    size_t n_codes;
    size_t vocab, embed_dim; /* categorical and text (text: vocab = the number of buckets) */
    /* timestamp */
    double year_mean, year_scale;
} keel_feature;

typedef struct keel_transform {
    keel_feature *features;
    size_t n_features;
    size_t n_dense, n_index, n_bags;
} keel_transform;

typedef struct keel_transform_options {
    size_t max_knots;    /* default 64; 2 .. KEEL_TRANSFORM_MAX_KNOTS */
    size_t bins;         /* piecewise-linear bins per numeric column, default 16; 0 .. 256 */
    size_t min_count;    /* rarer categories share the unknown bucket; default 5 */
    size_t text_buckets; /* default 1 << 14; 1 .. KEEL_TRANSFORM_MAX_VOCAB */
    size_t text_dim;     /* default 16; 1 .. KEEL_TRANSFORM_MAX_DIM */
} keel_transform_options;

void keel_transform_options_init(keel_transform_options *o);

/* Fits on rows rows[0..n_rows) of f (all of f's rows when rows is NULL, n_rows ignored) using
 * f's schema; target names the column to leave out (may be NULL). Fills *t (free with
 * keel_transform_free; on failure *t is left empty, so freeing it is harmless). o may be NULL
 * for the defaults. KEEL_EEMPTY when there are no feature columns, KEEL_EINVAL for options
 * out of bounds, KEEL_ENOMEM. Row indices must be < f->n_rows. */
int keel_transform_fit(keel_transform *t, const keel_frame *f, const size_t *rows, size_t n_rows,
                       const char *target, const keel_transform_options *o, keel_error *e);
/* Releases everything t owns and empties it; t itself is the caller's. NULL is a no-op. */
void keel_transform_free(keel_transform *t);

/* Bags of hashed ids for a batch of rows: bag slot s, row r has ids[s][off[s][r] ..
 * off[s][r+1]). Reused between batches; free with keel_bags_free. Initialise with
 * `keel_bags b = {0};`. */
typedef struct keel_bags {
    size_t n_slots;
    struct keel_bag {
        uint32_t *off; /* rows + 1 */
        int32_t *ids;
        size_t cap_off, cap_ids;
    } * slot;
} keel_bags;
/* Releases the bags' memory and empties b (b itself is the caller's). NULL is a no-op. */
void keel_bags_free(keel_bags *b);

/* Transforms rows rows[0..n) of f (consecutive rows from `first` when rows is NULL) into
 * dense [n * n_dense] (row-major), index [n * n_index] and bags (n_bags slots; slots are
 * added to bags as needed, others left alone). dense, index and bags may be NULL when the
 * transform has no outputs of that sort. f must have the schema the transform was
 * fitted/loaded with. Allocates only to grow bags. KEEL_ENOMEM only (also when one batch's
 * bag would pass 2^32 ids). Thread-safe for distinct outputs. */
int keel_transform_apply(const keel_transform *t, const keel_frame *f, const size_t *rows,
                         size_t first, size_t n, float *dense, int32_t *index, keel_bags *bags);

/* The text bag ids of one string (exposed for tests): appends to *ids, growing *cap.
 * Words are maximal runs of ASCII letters and digits and of bytes >= 0x80 (so UTF-8 letters
 * stay inside words), lower-cased (ASCII only). For each word, in order, its unigram id and
 * then, from the second word on, the bigram id of "previous word" + ' ' + "word". An id is
 * keel_hash64(text, len, KEEL_TEXT_SEED) % buckets; text longer than 64 bytes is hashed
 * 64 bytes at a time, each chunk's hash being the seed of the next. buckets must be >= 1
 * (KEEL_EINVAL otherwise). KEEL_OK or KEEL_ENOMEM (*ids, *n and *cap stay consistent). */
int keel_text_hash_ids(const char *s, size_t len, size_t buckets, int32_t **ids, size_t *n,
                       size_t *cap);

/* Manifest form: a JSON array, one object per feature (docs/artifact.md). Appends to out;
 * on failure (KEEL_ENOMEM) out is restored to its previous content. */
int keel_transform_to_json(const keel_transform *t, keel_buf *out);
/* Reads it back, resolving columns against s; every value is checked (kinds from the closed
 * list, knots strictly increasing and finite, code maps inside [0, vocab), sizes capped).
 * Offsets and slots are recomputed from the feature order. Fills *t (left empty on failure).
 * Errors: KEEL_EFORMAT (malformed; e names the feature and field), KEEL_ESCHEMA (a column
 * unknown to s, of another type, or used twice), KEEL_ENOMEM. */
int keel_transform_from_json(keel_transform *t, const keel_json *v, const keel_schema *s,
                             keel_error *e);

/* Φ⁻¹(p), the standard normal quantile, for p in (0, 1) (±inf at 0 and 1, NaN outside),
 * accurate to about 1e-15 (a rational approximation refined by one Halley step).
 * Thread-safe. Exposed for tests. */
double keel_normal_quantile(double p);

/* ---- the target ---------------------------------------------------------------------- */
typedef enum keel_task {
    KEEL_TASK_BINARY = 0,
    KEEL_TASK_MULTICLASS,
    KEEL_TASK_REGRESSION
} keel_task;
const char *keel_task_name(keel_task t); /* "binary", "multiclass", "regression" */

#define KEEL_TARGET_MAX_CLASSES 65536 /* classes of an explicitly requested classification */

typedef struct keel_target {
    char *column;
    size_t col;
    keel_task task;
    keel_strlist classes; /* classification: class labels as text, in index order */
    double mean, scale;   /* regression: y is standardised as (y - mean) / scale for training */
    /* Derived on fit and on load (not stored in JSON): */
    keel_type type;         /* the column's type */
    int32_t *class_of_code; /* categorical: schema category code -> class index or -1 */
    size_t n_codes;
    double *class_values; /* numeric classification: the classes' values, ascending */
} keel_target;

/* Decides the task (task < 0: automatic — categorical or boolean columns, and numeric columns
 * of whole numbers with at most 20 distinct values, are classification; other numeric
 * columns regression) and fits classes or scaling on the given rows (all rows when rows is
 * NULL). column NULL means the schema's column with role target. Classes: categorical →
 * the categories occurring in the rows, in schema order; boolean → "false", "true"; numeric
 * → the distinct whole values written as integers, ascending. KEEL_ESCHEMA when the column
 * is missing or of an unusable type (text, id, timestamp) or has a single class (or, for
 * regression, a single value or none), or the requested task does not fit the column
 * (binary with more than two classes, classification of fractional numbers, regression of a
 * non-numeric column); KEEL_EINVAL for an unknown task; KEEL_ENOMEM. Fills *t (free with
 * keel_target_free; left empty on failure). */
int keel_target_fit(keel_target *t, const keel_frame *f, const size_t *rows, size_t n_rows,
                    const char *column, int task, keel_error *e);
/* Releases what t owns and empties it. NULL is a no-op. */
void keel_target_free(keel_target *t);
/* Label of row r: class index (classification; -1 when missing or a class unseen in
 * training) into *cls, or the standardised value (regression; NaN when missing) into *y.
 * Only the output for t's task is written; the other pointer may be NULL. f must have the
 * schema t was fitted/loaded with. Thread-safe. */
void keel_target_label(const keel_target *t, const keel_frame *f, size_t r, int32_t *cls, float *y);
/* Appends {"column", "task", "classes"} or {"column", "task", "mean", "scale"} to out;
 * KEEL_ENOMEM (out restored). */
int keel_target_to_json(const keel_target *t, keel_buf *out);
/* Reads it back against s, checking it as untrusted input: KEEL_EFORMAT (malformed, e says
 * which field), KEEL_ESCHEMA (column unknown to s or of an incompatible type, a class that
 * is not one of its categories), KEEL_ENOMEM. Fills *t (left empty on failure). */
int keel_target_from_json(keel_target *t, const keel_json *v, const keel_schema *s, keel_error *e);

#endif
