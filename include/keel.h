/*
 * keel.h — the public C API of keel.
 *
 * This header is the manual. Every function says what it does, who owns what it returns,
 * which errors it reports and whether it is thread-safe. It is the embeddable surface
 * (libkeel): nothing here needs SQLite, HTTP or YAML.
 *
 * Conventions
 *   - Fallible functions return int: KEEL_OK (0) or a negative KEEL_E* code.
 *     keel_strerror() names a code; the detailed message lives on the object that failed,
 *     or in a caller-supplied keel_error for functions without an object.
 *   - Results come back through out-parameters, which are set to NULL/0 on failure.
 *   - Every heap object has a matching _free/_close; passing NULL to it does nothing.
 *   - The library never prints, never exits and never reads the environment.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_VERSION_MAJOR  0
#define KEEL_VERSION_MINOR  1
#define KEEL_VERSION_PATCH  0
#define KEEL_VERSION_STRING "0.1.0"

/* Returns the library's version string, e.g. "0.1.0". Static storage; thread-safe. */
const char *keel_version(void);

/* ---------------------------------------------------------------------------------------
 * Errors. One table gives the enum and the text (the X-macro keeps them in step).
 * ------------------------------------------------------------------------------------- */
#define KEEL_ERROR_TABLE(X)                                                                        \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "input/output error")                                                               \
    X(ENOENT, -4, "no such file or directory")                                                     \
    X(EPARSE, -5, "malformed input")                                                               \
    X(EFORMAT, -6, "unsupported or corrupt format")                                                \
    X(ELIMIT, -7, "a limit was exceeded")                                                          \
    X(ESCHEMA, -8, "schema error")                                                                 \
    X(EMISMATCH, -9, "data does not match the schema")                                             \
    X(ECANCELED, -10, "operation canceled")                                                        \
    X(EEMPTY, -11, "no data")                                                                      \
    X(ESTATE, -12, "operation not valid in the current state")                                     \
    X(EPERM, -13, "permission denied")                                                             \
    X(ENOTSUP, -14, "not supported for this model")                                                \
    X(ENONFINITE, -15, "the model computed a number that is not finite")

enum keel_status {
#define KEEL_ERROR_ENUM(name, code, text) KEEL_##name = code,
    KEEL_ERROR_TABLE(KEEL_ERROR_ENUM)
#undef KEEL_ERROR_ENUM
};

/* Returns a static description of an error code ("unknown error" for codes not in the
 * table). Never NULL; thread-safe. */
const char *keel_strerror(int code);

/* Returns the symbolic name of an error code without the prefix ("ENOMEM"), or "E?" for
 * codes not in the table. Static storage; thread-safe. */
const char *keel_errname(int code);

/* A caller-supplied error report for functions that have no object to hang a message on.
 * Functions taking a keel_error * fill it on failure (code and msg); they accept NULL. */
typedef struct keel_error {
    int code;      /* KEEL_OK or a KEEL_E* code */
    char msg[512]; /* human message, NUL-terminated; "" when code is KEEL_OK */
} keel_error;

/* ---------------------------------------------------------------------------------------
 * Allocation. Every allocation in keel goes through one hook, so that an embedding program
 * can route memory to its own allocator and tests can fail the Nth allocation on purpose.
 * ------------------------------------------------------------------------------------- */
typedef struct keel_allocator {
    /* Same contracts as malloc/realloc/free; ud is passed back unchanged. realloc is also
     * called with ptr == NULL (acts as malloc). free is called with ptr != NULL only. */
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} keel_allocator;

/* Installs an allocator (NULL restores the C library's). Not thread-safe: call it before
 * any other keel function, and never while keel objects allocated with another allocator
 * are alive. */
void keel_set_allocator(const keel_allocator *a);

/* ---------------------------------------------------------------------------------------
 * Logging. The library never prints; it hands messages to this callback, if one is set.
 * ------------------------------------------------------------------------------------- */
enum keel_log_level { KEEL_LOG_DEBUG = 0, KEEL_LOG_INFO, KEEL_LOG_WARN, KEEL_LOG_ERROR };

typedef void (*keel_log_fn)(int level, const char *msg, void *ud);

/* Installs a log callback (NULL disables logging) and the lowest level passed to it.
 * Not thread-safe to change; the callback itself may be called from any thread. */
void keel_set_log(keel_log_fn fn, int min_level, void *ud);

/* ---------------------------------------------------------------------------------------
 * Prediction: the start of libkeel. A model is one .keel file written by `keel train`
 * (format in docs/artifact.md); it carries its schema and fitted transforms, so callers pass
 * the raw values of a row and get what the model predicts, computed exactly as `keel
 * predict` does. Thread-safety: open and close from one thread; between them any number of
 * threads may call the other functions on the same model at once.
 * ------------------------------------------------------------------------------------- */
typedef struct keel_model keel_model;

/* Opens and checks the artifact at path (every offset, size and type; the SHA-256 digest).
 * On failure *out is NULL and e says why: KEEL_ENOENT / KEEL_EIO (cannot read),
 * KEEL_EFORMAT (not a keel model, corrupt, truncated or from a newer keel), KEEL_ENOMEM. */
int keel_model_open(const char *path, keel_model **out, keel_error *e);
/* Frees the model; NULL does nothing. No call on it may be running. */
void keel_model_close(keel_model *m);

/* "binary", "multiclass" or "regression". Static storage. */
const char *keel_model_task(const keel_model *m);
/* The artifact's SHA-256 (64 lowercase hex digits): its identity. Owned by m. */
const char *keel_model_sha256(const keel_model *m);

/* The model's inputs: its feature columns, in the order predict_row expects them. */
size_t keel_model_n_inputs(const keel_model *m);
/* Name and type ("numeric", "categorical", "boolean", "text", "timestamp") of input i, or
 * NULL when i is out of range. Owned by m. */
const char *keel_model_input_name(const keel_model *m, size_t i);
const char *keel_model_input_type(const keel_model *m, size_t i);

/* Values written per predicted row: one probability per class (classification) or the
 * predicted value (regression). */
size_t keel_model_n_outputs(const keel_model *m);
/* Output j's name: the class label, or "prediction" for regression. Owned by m. */
const char *keel_model_output_name(const keel_model *m, size_t j);

/* Every predict function below refuses to hand out a value that is not a finite number: when
 * the network computes NaN or an infinity for a row (a model whose weights overflow), the
 * call fails with KEEL_ENONFINITE, e names the first such row ("row 3: ..." for calls of
 * several rows), and out must not be read as predictions. */

/* Predicts one row. values[i] is input i as text, exactly as it would appear in a CSV file
 * (NULL or a missing-value token such as "" or "NA" = missing); out receives
 * keel_model_n_outputs(m) floats. A value the model's schema rejects gives KEEL_EMISMATCH
 * with e naming the column; nothing is written to out then. KEEL_ENONFINITE as above. */
int keel_model_predict_row(keel_model *m, const char *const *values, float *out, keel_error *e);
/* Predicts n_rows rows: values holds n_rows * n_inputs strings, row after row; out receives
 * n_rows * n_outputs floats. Stops at the first rejected row (KEEL_EMISMATCH, e names the
 * row and column). */
int keel_model_predict_batch(keel_model *m, const char *const *values, size_t n_rows, float *out,
                             keel_error *e);

/* For models whose inputs are all numeric or boolean: predicts from the network's input
 * tensor directly, skipping the schema and transforms (for benchmarks and callers that
 * transform themselves). x holds n_rows rows of keel_model_n_features(m) floats; out gets
 * n_rows * n_outputs floats. KEEL_EINVAL when n_cols is not the model's feature width or
 * the model has categorical or text inputs. */
size_t keel_model_n_features(const keel_model *m);
int keel_model_predict_tensor(keel_model *m, const float *x, size_t n_rows, size_t n_cols,
                              float *out, keel_error *e);

/* ---- named and columnar input -------------------------------------------------------------
 * Inputs given by name, in any order, as text or as numbers; inputs not given are missing.
 * The artifact's own schema and transforms apply exactly as for predict_row: a number given
 * for a categorical column is read as its text (12 -> "12"), text for a numeric column is
 * parsed as a CSV field would be. */
enum keel_input_type {
    KEEL_COL_TEXT = 0, /* const char *const *: NULL = missing */
    KEEL_COL_F64,      /* const double *: NaN = missing */
    KEEL_COL_F32,      /* const float *: NaN = missing */
    KEEL_COL_I64,      /* const int64_t * */
    KEEL_COL_I32,      /* const int32_t * */
    KEEL_COL_BOOL      /* const unsigned char *: 0 false, else true */
};

/* One input column of a batch: n_rows values of one type. */
typedef struct keel_input_column {
    const char *name;             /* the input's name (keel_model_input_name) */
    int type;                     /* enum keel_input_type */
    const void *data;             /* n_rows values of that type */
    const unsigned char *missing; /* optional n_rows flags (nonzero = missing); may be NULL */
} keel_input_column;

/* Predicts n_rows rows given column by column; out receives n_rows * n_outputs floats. A
 * name that is not an input, or given twice, is KEEL_EINVAL (e names it); a value the schema
 * rejects is KEEL_EMISMATCH (e names the row, from 0, and the column) and nothing is written
 * to out. Thread-safe on one model, like every predict function. */
int keel_model_predict_columns(keel_model *m, const keel_input_column *cols, size_t n_cols,
                               size_t n_rows, float *out, keel_error *e);

/* One named value of a row: text when text is not NULL, else number (NaN = missing). */
typedef struct keel_named_value {
    const char *name;
    const char *text;
    double number;
} keel_named_value;

/* Predicts one row given as named fields; errors as keel_model_predict_columns. */
int keel_model_predict_fields(keel_model *m, const keel_named_value *fields, size_t n_fields,
                              float *out, keel_error *e);

/* The predicted class of one row of outputs: the index of the highest probability, whose
 * label is keel_model_output_name(m, index). 0 for regression. */
size_t keel_model_predicted_class(const keel_model *m, const float *row_out);

/* ---- explanations ------------------------------------------------------------------------
 * Why the model predicted what it did for one row: one attribution per input (the model's
 * inputs, in keel_model_input_name order) that add up to prediction − baseline_prediction,
 * and reason codes: the inputs pushing hardest toward the model's adverse class (or, for
 * regression, toward higher values), each with a sentence for people. docs/explain.md
 * describes the methods, scales and baselines. */
#define KEEL_EXPLAIN_REASONS 8

typedef struct keel_explain_info {
    double prediction;          /* the explained number, on `scale` */
    double baseline_prediction; /* the same for the baseline (or the background's mean) */
    double completeness_error;  /* |sum of attributions - (prediction - baseline_prediction)| */
    const char *scale;          /* "log_odds", "probability" or "value" (static) */
    const char *method;         /* "integrated_gradients" or "shapley" (static) */
    size_t class_index;         /* the explained class (keel_model_output_name); 0: regression */
    size_t n_reasons;           /* at most KEEL_EXPLAIN_REASONS */
    size_t reason_input[KEEL_EXPLAIN_REASONS];
    char reason_text[KEEL_EXPLAIN_REASONS][256];
} keel_explain_info;

/* Explains one row given as named fields (read as keel_model_predict_fields reads them).
 * attributions receives keel_model_n_inputs(m) doubles; info (may be NULL) the rest.
 * options is NULL for the defaults (Integrated Gradients; log-odds of the adverse class, or
 * the value for regression; the model's number of reasons) or a list of key=value separated
 * by commas: method=ig|shapley, scale=log_odds|probability|value, class=LABEL, top=K,
 * steps=N. KEEL_EINVAL for a bad option or name (e says which), KEEL_EMISMATCH for a value
 * the schema rejects, KEEL_ENOTSUP for a network explanations do not handle. Thread-safe. */
int keel_explain(keel_model *m, const keel_named_value *fields, size_t n_fields,
                 const char *options, double *attributions, keel_explain_info *info, keel_error *e);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
