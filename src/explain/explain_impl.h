/*
 * explain_impl.h — what the files of src/explain share (private to them).
 *
 *   explain.c   the explainer, the tail evaluator, Integrated Gradients, the entry points
 *   shapley.c   the background sample and Shapley values
 *   reasons.c   per-model settings, the profile baseline, reason codes and their sentences
 *   format.c    an explanation as JSON
 *   api.c       keel_explain of the public C API
 *   global.c    permutation importance, mean |attribution|, partial dependence
 */
#ifndef KEEL_EXPLAIN_IMPL_H
#define KEEL_EXPLAIN_IMPL_H

#include "data/profile.h"
#include "explain/explain.h"

#define IG_MIN_STEPS 4
#define IG_MAX_STEPS 256

/* One dense layer of the tail: U = H_prev W + b, then act (a keel_op, or -1 for none). */
typedef struct tail_layer {
    const float *w, *b; /* w [k, n] row-major; b [n] or NULL (borrowed from the graph) */
    size_t k, n;
    int act;
} tail_layer;

typedef struct scratch {
    size_t floats;
    struct scratch *next;
} scratch;

struct keel_explainer {
    size_t d;        /* representation width */
    size_t n_inputs; /* the model's inputs */
    uint32_t *owner; /* [d]: the input owning each dimension (UINT32_MAX: none) */
    tail_layer *layers;
    int n_layers;
    size_t max_width;
    float *base;     /* [d] the profile baseline's representation */
    float *base_pre; /* [n of layer 0] its first-layer pre-activations (bias included) */
    /* Shapley: background representations' first-layer pre-activations ([n_bg, n1]) and
     * each input's share of them ([n_bg, n_inputs, n1]), and their logits-based values are
     * computed per call (they depend on the scale and class). */
    size_t n_bg;
    const float *bg;     /* [n_bg, d]: the model's background, or base when it has none */
    float *bg_pre;       /* [n_bg, n1] */
    float *bg_own;       /* [n_bg, n_inputs, n1] */
    float *bg_value;     /* unused slot kept for symmetry (NULL) */
    double *gl_x, *gl_w; /* Gauss–Legendre tables, 16 .. 256 points */
    keel_explain_settings settings;
    /* reasons */
    keel_profile *profile; /* the training profile, or NULL */
    long *profile_col;     /* [n_inputs]: its column for each input, or -1 */
    pthread_mutex_t lock;  /* guards pool only */
    scratch *pool;
};

/* Scratch of at least `floats` floats, 64-byte aligned, from the pool (NULL: out of memory);
 * give it back with explain_scratch_give. */
float *explain_scratch_take(keel_explainer *x, size_t floats);
void explain_scratch_give(keel_explainer *x, float *data);
/* Floats of scratch the tail needs for `rows` rows, forward and backward. */
size_t explain_tail_floats(const keel_explainer *x, size_t rows);
/* First-layer pre-activations of n representations (bias included). */
void explain_first_layer(const keel_explainer *x, const float *r, size_t n, float *pre);
/* Runs the tail from pre-activations already in s (rows of layer 0, stride n1): returns the
 * logits [rows, n_out] inside s. s must have explain_tail_floats(x, rows) floats. */
const float *explain_tail_run(const keel_explainer *x, float *s, size_t rows);
/* Logits of n representations. KEEL_ENOMEM. */
int explain_logits(keel_explainer *x, const float *r, size_t n, float *z, size_t n_out);
/* The explained number of one row of logits (and its gradient into dz, may be NULL). */
double explain_output(const keel_explainer *x, const keel_model *m, const float *z, size_t c,
                      keel_explain_scale s, float *dz);
/* Sets out->scale and out->class_index (z: the row's logits, needed only for a multiclass
 * model without an adverse class or a chosen one). */
void explain_resolve(const keel_explainer *x, const keel_model *m, const keel_explain_options *o,
                     const float *z, keel_explanation *out);
int explain_ig(keel_explainer *x, keel_model *m, const float *r, const float *base,
               const float *base_pre, const keel_explain_options *o, keel_explanation *out);
int explain_shapley(keel_explainer *x, keel_model *m, const float *r, const keel_explain_options *o,
                    keel_explanation *out);
int explain_row_ws(keel_explainer *x, keel_model *m, keel_workspace *ws, const keel_frame *f,
                   size_t row, const keel_explain_options *o, keel_explanation *out, keel_error *e);

/* reasons.c */
int explain_settings_read(keel_explainer *x, const keel_model *m, keel_error *e);
int explain_reasons_init(keel_explainer *x, const keel_model *m);
void explain_reasons_free(keel_explainer *x);
int explain_baseline(keel_explainer *x, keel_model *m, keel_error *e);
/* shapley.c */
int explain_background_init(keel_explainer *x, const keel_model *m);

#endif
