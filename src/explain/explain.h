/*
 * explain.h — why a model predicted what it did: per-prediction attributions in the user's
 * own columns, reason codes, and global explanations (importance, partial dependence).
 *
 * Where attributions live. Every model network starts by turning each input column into a
 * block of numbers of its own: a numeric column's encodings go through its own slice of
 * the per-column embedding, a categorical column becomes its embedding row, a text column
 * the mean of its words' embeddings. The concatenation of these blocks — the
 * *representation* (keel_model_represent) — feeds the hidden layers, and no block depends on
 * another column. Attributions are computed over the representation and each block's
 * values are summed back to its column, so a categorical embedding's or a text bag's many
 * dimensions give one number per column, and a column the model cannot see gets exactly 0.
 *
 * What is explained is one number per row, on a stated scale (keel_explain_scale):
 *   classification  the log-odds (default) or the probability of the explained class: the
 *                   model's adverse class (binary: keel train --adverse-class, else the
 *                   second class, "yes" of no/yes), or for multiclass without one, the
 *                   predicted class; calibration (Platt, temperature) is included, so the
 *                   probability is the one keel predict reports;
 *   regression      the predicted value, in the target's units.
 *
 * Integrated Gradients (Sundararajan et al. 2017) integrate the gradient along the straight
 * path from the baseline's representation to the row's. The baseline is a typical row
 * built from the training profile the artifact keeps: numeric and timestamp columns at
 * their median, categorical and boolean columns at their most frequent value, text empty.
 * The integral is taken by Gauss–Legendre quadrature; by default with 4 points, doubled
 * (up to 256) until the completeness error |Σ attributions − (f(x) − f(baseline))| is at
 * most `tolerance` × |f(x) − f(baseline)|. The first hidden layer is linear along the path,
 * so its product is computed twice per row, not once per point.
 *
 * Shapley values use the background sample the artifact keeps (representations of up to 64
 * training rows, chosen at random when the model was trained; models without one use the
 * profile baseline as a one-row background). The value of a set S of columns is the mean,
 * over the background rows, of the prediction with the columns in S taken from the row and
 * the others from the background row (interventional Shapley values). Up to
 * exact_max_columns columns (default 12) they are exact: every subset is evaluated. Above,
 * they are estimated from random permutations in antithetic pairs (a permutation and its
 * reverse, with one background row), each pair's background row taken in turn, with the
 * standard error of each estimate; with the default number of pairs every background row
 * is used equally, so the attributions still add up to f(x) − baseline exactly.
 *
 * Reason codes: the top-k columns whose attributions push the explained number up (toward
 * the adverse class or, for regression, toward higher values unless the model says
 * "lower"), each with a sentence built from the schema's display name and the training
 * profile: "Day minutes 265.1 is higher than 96% of customers".
 *
 * Thread-safety: an explainer is read-only once made; any number of threads may explain
 * with it at once (each call allocates its own scratch).
 */
#ifndef KEEL_EXPLAIN_H
#define KEEL_EXPLAIN_H

#include "model/model.h"

#define KEEL_EXPLAIN_MAX_REASONS 16
#define KEEL_EXPLAIN_REASON_LEN  256

typedef enum keel_explain_method {
    KEEL_EXPLAIN_IG = 0,     /* Integrated Gradients (the default: fast, any number of columns) */
    KEEL_EXPLAIN_SHAPLEY = 1 /* Shapley values over the background sample */
} keel_explain_method;

typedef enum keel_explain_scale {
    KEEL_SCALE_DEFAULT = 0, /* log-odds for classification, value for regression */
    KEEL_SCALE_LOG_ODDS,
    KEEL_SCALE_PROBABILITY,
    KEEL_SCALE_VALUE
} keel_explain_scale;

/* "integrated_gradients", "shapley"; "log_odds", "probability", "value" (static). */
const char *keel_explain_method_name(keel_explain_method m);
const char *keel_explain_scale_name(keel_explain_scale s);
/* Parses the names above (and "ig"); -1 when unknown. */
int keel_explain_method_from_name(const char *s);
int keel_explain_scale_from_name(const char *s);

typedef struct keel_explain_options {
    keel_explain_method method;
    keel_explain_scale scale;
    long class_index;      /* the class explained; -1: the model's (see the top) */
    int steps;             /* IG quadrature points; 0: adaptive (4, doubled up to 256) */
    double tolerance;      /* IG adaptive target, relative; default 0.001 */
    int pairs;             /* Shapley sampling: antithetic pairs; 0: the background rows */
    int exact_max_columns; /* Shapley: exact up to this many columns; default 12 */
    size_t top_k;          /* reason codes; 0: the model's (default 4) */
    uint64_t seed;         /* Shapley sampling */
} keel_explain_options;

void keel_explain_options_init(keel_explain_options *o);
/* Checks o against model m before any row is explained: a classifier is explained in log_odds
 * or probability, a regression model in value; class_label (NULL: none asked) must be one of
 * the model's classes, and o->class_index is set to it. KEEL_EINVAL with e saying which
 * setting does not fit and what would. */
int keel_explain_options_fit(keel_explain_options *o, const keel_model *m, const char *class_label,
                             keel_error *e);

typedef struct keel_reason_code {
    size_t input;       /* the model input (keel_model_input_name) */
    double attribution; /* its attribution, > 0 */
    char text[KEEL_EXPLAIN_REASON_LEN];
} keel_reason_code;

/* One explained row. attributions and std_errors are the caller's arrays of
 * keel_model_n_inputs(m) doubles (std_errors may be NULL; it gets 0 except for sampled
 * Shapley values). */
typedef struct keel_explanation {
    double *attributions;
    double *std_errors;
    keel_explain_method method;
    keel_explain_scale scale; /* resolved: never DEFAULT */
    size_t class_index;       /* classification: the explained class; regression 0 */
    double prediction;        /* f(x) on the scale */
    double baseline_prediction;
    double completeness_error; /* |Σ attributions − (prediction − baseline_prediction)| */
    int steps;                 /* IG: quadrature points used; Shapley: model evaluations */
    bool exact;                /* Shapley: every subset was evaluated */
    size_t n_reasons;
    keel_reason_code reasons[KEEL_EXPLAIN_MAX_REASONS];
} keel_explanation;

/* Per-model settings for explanations, kept in the artifact's manifest ("explain"). */
typedef struct keel_explain_settings {
    long adverse_class;    /* binary/multiclass: the class reasons push toward; -1 default */
    bool lower_is_adverse; /* regression: reasons push the value down */
    size_t reasons;        /* default top-k, 4 */
    char population[64];   /* who the profile describes, e.g. "customers" (default "training
                              records") */
} keel_explain_settings;

typedef struct keel_explainer keel_explainer;

/* The explainer of m, made on first use and kept with the model (freed with it). It finds
 * the representation and the chain of dense layers after it; a network with another op
 * there is KEEL_ENOTSUP. Thread-safe. */
int keel_explainer_get(keel_model *m, keel_explainer **out, keel_error *e);

/* The model's settings as read from its artifact (defaults when it has none). */
const keel_explain_settings *keel_explainer_settings(const keel_explainer *x);

/* Explains row `row` of f (a frame of m->schema or m->input_schema). out->attributions
 * must be set. KEEL_EINVAL for bad options, KEEL_ENOMEM. Thread-safe. */
int keel_explain_row(keel_explainer *x, keel_model *m, const keel_frame *f, size_t row,
                     const keel_explain_options *o, keel_explanation *out, keel_error *e);

/* Explains one row given as named fields (as keel_model_predict_fields reads them), with
 * reason codes (o->top_k, else the model's setting). Errors as predict_fields. */
int keel_explain_fields(keel_model *m, const keel_named_value *fields, size_t n_fields,
                        const keel_explain_options *o, keel_explanation *out, keel_error *e);

/* Appends one explanation as a JSON object:
 *   {"prediction":P,"baseline_prediction":B,"scale":"log_odds","class":"yes",
 *    "method":"integrated_gradients","attributions":{"col":a,...},
 *    "completeness_error":c,"steps":n,
 *    "reasons":[{"column":"col","attribution":a,"text":"..."},...]}
 * plus "std_errors":{...} and "exact":bool for Shapley values. Columns in input order.
 * KEEL_ENOMEM. */
int keel_explanation_to_json(const keel_model *m, const keel_explanation *x, keel_buf *out);

/* The same from representations already computed (r: the row's, base: the baseline's, or
 * NULL for the profile baseline's); for tests and the global explanations. */
int keel_explain_repr(keel_explainer *x, keel_model *m, const float *r, const float *base,
                      const keel_explain_options *o, keel_explanation *out, keel_error *e);

/* Width of the representation, and which model input owns dimension d. */
size_t keel_explainer_repr_dim(const keel_explainer *x);
size_t keel_explainer_owner(const keel_explainer *x, size_t d);

/* The explained number for representations r[n, D] (no attributions): the same f as
 * keel_explain_row with the same options. For tests and partial dependence. */
int keel_explain_value(keel_explainer *x, keel_model *m, const float *r, size_t n,
                       const keel_explain_options *o, double *out, keel_error *e);

/* ---- reason codes ---- */

/* Fills out->reasons from out->attributions: the top k (0: the model's setting) inputs with
 * positive attribution, largest first, with their sentences built from the value of the
 * input in row `row` of f. */
int keel_explain_reasons(keel_explainer *x, keel_model *m, const keel_frame *f, size_t row,
                         size_t k, keel_explanation *out);

/* ---- global explanations (src/explain/global.c) ---- */

typedef struct keel_importance {
    size_t input;
    double drop;                 /* mean drop of the metric when the input is permuted */
    double ci_low, ci_high;      /* 95% confidence interval of the mean drop */
    double mean_abs_attribution; /* mean |IG attribution| over the rows; NaN when not computed */
} keel_importance;

/* Permutation importance on rows of f (a frame of m->schema, with the target): each input's
 * values are shuffled among the rows `repeats` times (default 5 when 0) and the metric
 * recomputed: ROC AUC (binary), accuracy (multiclass), RMSE (regression, where the drop is
 * the rise). out[n_inputs] in input order; *metric gets the metric's name (static) and
 * *base its value on the rows as they are. Deterministic for a seed. */
int keel_explain_permutation_importance(keel_model *m, const keel_frame *f, const size_t *rows,
                                        size_t n, int repeats, uint64_t seed, keel_importance *out,
                                        const char **metric, double *base, keel_error *e);

/* Mean |attribution| per input over rows of f with Integrated Gradients (o may be NULL for
 * the defaults); out[n_inputs]. */
int keel_explain_mean_abs_attribution(keel_explainer *x, keel_model *m, const keel_frame *f,
                                      const size_t *rows, size_t n, const keel_explain_options *o,
                                      double *out, keel_error *e);

/* A partial-dependence curve of one input: the mean explained number (scale as in o) over
 * rows of f when the input is set to each grid value. Numeric and timestamp inputs: up to
 * `points` values at evenly spaced quantiles of the training profile (distinct values
 * only); categorical and boolean: their categories (at most `points`, the most frequent).
 * Text inputs are KEEL_ENOTSUP. */
typedef struct keel_pd_curve {
    size_t input;
    size_t n;
    double *x;     /* numeric/timestamp grid values (timestamps in microseconds), or NULL */
    char **labels; /* the grid value as text, n of them */
    double *y;     /* mean prediction at each */
} keel_pd_curve;

int keel_explain_partial_dependence(keel_explainer *x, keel_model *m, const keel_frame *f,
                                    const size_t *rows, size_t n, size_t input, size_t points,
                                    const keel_explain_options *o, keel_pd_curve *out,
                                    keel_error *e);
void keel_pd_curve_free(keel_pd_curve *c);

#endif
