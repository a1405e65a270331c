/*
 * explain.c — the explainer of a model and Integrated Gradients (the method is described in
 * explain.h).
 *
 * The explainer is built once per model from its graph: the representation node's width D
 * and which input owns each of its dimensions (owner[]), the dense layers from the
 * representation to the logits (the "tail": LINEAR, then an optional activation, dropout
 * being the identity when predicting), the profile baseline's representation, and the
 * background sample. Everything after that works on representations with keel's own tail
 * evaluator below, forward and backward, for a batch of rows at once: the quadrature points
 * of one row are one batch, so the hidden layers run as small matrix products.
 *
 * The first layer is linear in the path: pre(α) = (b + base·W) + α (x − base)·W, so it costs
 * two matrix-vector products per row whatever the number of points (base·W + b is kept for
 * the profile baseline). Its backward is linear too: the gradient the points send back is
 * averaged first (with the quadrature weights) and multiplied by Wᵀ once.
 *
 * Scratch memory comes from a small pool kept by the explainer (a mutex guards only the
 * pool), so a call allocates nothing once the pool is warm and threads never share buffers.
 */
#include "explain/explain_impl.h"
#include "nn/activation.h"

#include "tensor/kernels.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

const char *keel_explain_method_name(keel_explain_method m)
{
    return m == KEEL_EXPLAIN_SHAPLEY ? "shapley" : "integrated_gradients";
}

const char *keel_explain_scale_name(keel_explain_scale s)
{
    switch (s) {
    case KEEL_SCALE_LOG_ODDS:
        return "log_odds";
    case KEEL_SCALE_PROBABILITY:
        return "probability";
    case KEEL_SCALE_VALUE:
        return "value";
    default:
        return "default";
    }
}

int keel_explain_method_from_name(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "ig") || !strcmp(s, "integrated_gradients")) return KEEL_EXPLAIN_IG;
    if (!strcmp(s, "shapley") || !strcmp(s, "shap")) return KEEL_EXPLAIN_SHAPLEY;
    return -1;
}

int keel_explain_scale_from_name(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "log_odds") || !strcmp(s, "logit")) return KEEL_SCALE_LOG_ODDS;
    if (!strcmp(s, "probability")) return KEEL_SCALE_PROBABILITY;
    if (!strcmp(s, "value")) return KEEL_SCALE_VALUE;
    if (!strcmp(s, "default")) return KEEL_SCALE_DEFAULT;
    return -1;
}

void keel_explain_options_init(keel_explain_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = KEEL_EXPLAIN_IG;
    o->scale = KEEL_SCALE_DEFAULT;
    o->class_index = -1;
    o->tolerance = 0.001;
    o->exact_max_columns = 12;
    o->seed = 42;
}

int keel_explain_options_fit(keel_explain_options *o, const keel_model *m, const char *class_label,
                             keel_error *e)
{
    bool regression = m->target.task == KEEL_TASK_REGRESSION;
    keel_explain_scale s = o->scale;
    if (regression && (s == KEEL_SCALE_LOG_ODDS || s == KEEL_SCALE_PROBABILITY))
        return keel_error_set(e, KEEL_EINVAL,
                              "scale %s applies to classifiers; this model does regression "
                              "(scale value)",
                              keel_explain_scale_name(s));
    if (!regression && s == KEEL_SCALE_VALUE)
        return keel_error_set(e, KEEL_EINVAL,
                              "scale value applies to regression; a classifier is explained in "
                              "log_odds or probability");
    if (!class_label) return KEEL_OK;
    if (regression)
        return keel_error_set(e, KEEL_EINVAL,
                              "a class applies to classifiers; this model does regression");
    long k = keel_strlist_find(&m->target.classes, class_label, strlen(class_label));
    if (k < 0)
        return keel_error_set(e, KEEL_EINVAL,
                              "class '%s' is not a class of the model's target '%s'", class_label,
                              m->target.column);
    o->class_index = k;
    return KEEL_OK;
}

/* ---- Gauss–Legendre points on [0, 1] ---- */

/* n points and weights of the Gauss–Legendre rule on [0, 1], by Newton's method on the
 * Legendre polynomial P_n from the usual cosine first guesses. */
static void gauss_legendre(int n, double *x, double *w)
{
    for (int i = 0; i < n; i++) {
        double t = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = t;
            for (int j = 2; j <= n; j++) {
                double p2 = ((2.0 * j - 1) * t * p1 - (j - 1.0) * p0) / j;
                p0 = p1;
                p1 = p2;
            }
            dp = n * (t * p1 - p0) / (t * t - 1);
            double step = p1 / dp;
            t -= step;
            if (fabs(step) < 1e-15) break;
        }
        x[i] = (1 - t) / 2; /* ascending on [0, 1] */
        w[i] = 1.0 / ((1 - t * t) * dp * dp);
    }
}

/* ---- building ---- */

static bool unary(keel_op op)
{
    return op == KEEL_OP_RELU || op == KEEL_OP_GELU || op == KEEL_OP_SILU || op == KEEL_OP_DROPOUT;
}

/* The input that owns feature f, or -1. */
static long feature_input(const keel_model *m, size_t f)
{
    size_t col = m->tf.features[f].col;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (m->inputs[i] == col) return (long)i;
    return -1;
}

/* Marks the owners of dims [at, at + width) from one part of the representation. */
static int own_part(keel_explainer *x, const keel_model *m, int part, size_t at)
{
    const keel_graph *g = m->graph;
    int q = part;
    while (unary(g->nodes[q].op))
        q = g->nodes[q].inputs[0];
    const keel_node *nd = &g->nodes[q];
    size_t width = keel_node_cols(g, part);
    uint32_t *own = x->owner + at;
    long fi = -1;
    if (q == m->node_dense) {
        for (size_t f = 0; f < m->tf.n_features; f++) {
            const keel_feature *ft = &m->tf.features[f];
            long in = feature_input(m, f);
            for (size_t j = ft->dense_offset; j < ft->dense_offset + ft->n_dense_out && j < width;
                 j++)
                own[j] = in < 0 ? UINT32_MAX : (uint32_t)in;
        }
        return KEEL_OK;
    }
    if (nd->op == KEEL_OP_LINEAR && nd->inputs[0] == m->node_dense) {
        /* The per-column embedding: an output belongs to the feature whose encodings its
         * weights read (model.c checked that there is one); an output that reads none is
         * constant and given to the previous output's owner. */
        const keel_node *wn = &g->nodes[nd->inputs[1]];
        const float *w = g->params + wn->offset;
        uint32_t prev = 0;
        for (size_t j = 0; j < width; j++) {
            uint32_t o = prev;
            for (size_t f = 0; f < m->tf.n_features && o == prev; f++) {
                const keel_feature *ft = &m->tf.features[f];
                for (size_t r = ft->dense_offset; r < ft->dense_offset + ft->n_dense_out; r++)
                    if (w[r * wn->cols + j] != 0.0f) {
                        long in = feature_input(m, f);
                        o = in < 0 ? UINT32_MAX : (uint32_t)in;
                        break;
                    }
            }
            own[j] = prev = o;
        }
        return KEEL_OK;
    }
    if (nd->op == KEEL_OP_EMBED) {
        for (size_t f = 0; f < m->tf.n_features; f++)
            if (m->tf.features[f].kind == KEEL_FEAT_CATEGORICAL &&
                m->tf.features[f].index_slot == nd->iattr)
                fi = (long)f;
    } else if (nd->op == KEEL_OP_EMBED_BAG) {
        for (size_t b = 0; b < m->tf.n_bags; b++)
            if (m->node_bag[b] == nd->inputs[0])
                for (size_t f = 0; f < m->tf.n_features; f++)
                    if (m->tf.features[f].bag_slot == (int)b) fi = (long)f;
    } else {
        return KEEL_ENOTSUP;
    }
    long in = fi < 0 ? -1 : feature_input(m, (size_t)fi);
    for (size_t j = 0; j < width; j++)
        own[j] = in < 0 ? UINT32_MAX : (uint32_t)in;
    return KEEL_OK;
}

/* The dense layers from the representation to the logits, first to last. */
static int find_tail(keel_explainer *x, const keel_model *m)
{
    const keel_graph *g = m->graph;
    int lin[KEEL_MAX_HIDDEN * 4 + 2], acts[KEEL_MAX_HIDDEN * 4 + 2], n = 0;
    int cur = m->node_logits, act = -1;
    for (;;) {
        const keel_node *nd = &g->nodes[cur];
        if (nd->op != KEEL_OP_LINEAR || g->nodes[nd->inputs[1]].op != KEEL_OP_PARAM ||
            n == (int)KEEL_ARRAY_LEN(lin))
            return KEEL_ENOTSUP;
        lin[n] = cur;
        acts[n++] = act;
        int y = nd->inputs[0];
        if (y == m->node_repr) break;
        act = -1;
        while (unary(g->nodes[y].op)) {
            if (g->nodes[y].op != KEEL_OP_DROPOUT) {
                if (act >= 0) return KEEL_ENOTSUP; /* two activations in a row */
                act = (int)g->nodes[y].op;
            }
            y = g->nodes[y].inputs[0];
        }
        cur = y;
    }
    if (!(x->layers = keel_calloc((size_t)n, sizeof *x->layers))) return KEEL_ENOMEM;
    x->n_layers = n;
    for (int l = 0; l < n; l++) {
        const keel_node *nd = &g->nodes[lin[n - 1 - l]];
        const keel_node *wn = &g->nodes[nd->inputs[1]];
        tail_layer *t = &x->layers[l];
        t->k = wn->rows;
        t->n = wn->cols;
        t->w = g->params + wn->offset;
        t->b = nd->n_inputs == 3 ? g->params + g->nodes[nd->inputs[2]].offset : NULL;
        t->act = acts[n - 1 - l];
        if (t->n > x->max_width) x->max_width = t->n;
    }
    return KEEL_OK;
}

static void explainer_free(keel_explainer *x)
{
    if (!x) return;
    while (x->pool) {
        scratch *n = x->pool->next;
        keel_free(x->pool);
        x->pool = n;
    }
    pthread_mutex_destroy(&x->lock);
    keel_free(x->owner);
    keel_free(x->layers);
    keel_free(x->base);
    keel_free(x->base_pre);
    keel_free(x->bg_own);
    keel_free(x->bg_pre);
    keel_free(x->bg_value);
    keel_free(x->gl_x);
    keel_free(x->gl_w);
    explain_reasons_free(x);
    keel_free(x);
}

static void explainer_free_hook(struct keel_explainer *x)
{
    explainer_free(x);
}

/* The Gauss–Legendre tables for 4, 8, ..., 256 points, one after another. */
static int make_rules(keel_explainer *x)
{
    size_t total = 0;
    for (int n = IG_MIN_STEPS; n <= IG_MAX_STEPS; n *= 2)
        total += (size_t)n;
    x->gl_x = keel_malloc(total * sizeof *x->gl_x);
    x->gl_w = keel_malloc(total * sizeof *x->gl_w);
    if (!x->gl_x || !x->gl_w) return KEEL_ENOMEM;
    size_t at = 0;
    for (int n = IG_MIN_STEPS; n <= IG_MAX_STEPS; n *= 2) {
        gauss_legendre(n, x->gl_x + at, x->gl_w + at);
        at += (size_t)n;
    }
    return KEEL_OK;
}

/* A rule's points: the table's for n = 16 · 2^j, else computed into the caller's arrays. */
static void rule(const keel_explainer *x, int n, const double **px, const double **pw, double *bx,
                 double *bw)
{
    size_t at = 0;
    for (int k = IG_MIN_STEPS; k <= IG_MAX_STEPS; k *= 2) {
        if (k == n) {
            *px = x->gl_x + at;
            *pw = x->gl_w + at;
            return;
        }
        at += (size_t)k;
    }
    gauss_legendre(n, bx, bw);
    *px = bx;
    *pw = bw;
}

static int build(keel_model *m, keel_explainer **out, keel_error *e)
{
    *out = NULL;
    if (m->node_repr < 0)
        return keel_error_set(e, KEEL_ENOTSUP,
                              "this model's network has no layer where its columns are apart, so "
                              "it cannot be explained per column");
    keel_explainer *x = keel_calloc(1, sizeof *x);
    if (!x) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if (pthread_mutex_init(&x->lock, NULL)) {
        keel_free(x);
        return keel_error_set(e, KEEL_ENOMEM, "no mutex");
    }
    x->d = keel_model_repr_dim(m);
    x->n_inputs = m->n_inputs;
    int rc = KEEL_ENOMEM;
    if (!(x->owner = keel_malloc(x->d * sizeof *x->owner))) goto fail;
    rc = KEEL_OK;
    const keel_node *rn = &m->graph->nodes[m->node_repr];
    if (rn->op == KEEL_OP_CONCAT) {
        size_t at = 0;
        for (int j = 0; j < rn->n_inputs && !rc; j++) {
            if ((rc = own_part(x, m, rn->inputs[j], at))) break;
            at += keel_node_cols(m->graph, rn->inputs[j]);
        }
        rc = at == x->d || rc ? rc : KEEL_ENOTSUP;
    } else {
        rc = own_part(x, m, m->node_repr, 0);
    }
    if (rc == KEEL_OK) rc = find_tail(x, m);
    if (rc == KEEL_ENOTSUP) {
        keel_error_set(e, rc, "this model's network has a layer explanations do not handle");
        goto fail_set;
    }
    if (rc || (rc = make_rules(x))) goto fail;
    if ((rc = explain_settings_read(x, m, e))) goto fail_set;
    if ((rc = explain_reasons_init(x, m))) goto fail;
    if ((rc = explain_baseline(x, m, e))) goto fail_set;
    if ((rc = explain_background_init(x, m))) goto fail;
    *out = x;
    return KEEL_OK;
fail:
    keel_error_set(e, rc, "cannot prepare explanations: %s", keel_strerror(rc));
fail_set:
    explainer_free(x);
    return rc;
}

int keel_explainer_get(keel_model *m, keel_explainer **out, keel_error *e)
{
    pthread_mutex_lock(&m->lock);
    keel_explainer *x = m->explainer;
    pthread_mutex_unlock(&m->lock);
    if (x) {
        *out = x;
        return KEEL_OK;
    }
    int rc = build(m, &x, e);
    if (rc) {
        *out = NULL;
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    if (m->explainer) { /* another thread was quicker: keep its explainer */
        explainer_free(x);
        x = m->explainer;
    } else {
        m->explainer = x;
        m->explainer_free = explainer_free_hook;
    }
    pthread_mutex_unlock(&m->lock);
    *out = x;
    return KEEL_OK;
}

const keel_explain_settings *keel_explainer_settings(const keel_explainer *x)
{
    return &x->settings;
}

size_t keel_explainer_repr_dim(const keel_explainer *x)
{
    return x->d;
}

size_t keel_explainer_owner(const keel_explainer *x, size_t d)
{
    return d < x->d ? x->owner[d] : SIZE_MAX;
}

/* ---- scratch ---- */

/* Each block: its header, then the header's address in the 8 bytes right before the
 * 64-byte aligned data, so giving back finds the header without a search. */
static float *scratch_data(scratch *s)
{
    uintptr_t p = ((uintptr_t)(s + 1) + sizeof(scratch *) + 63) & ~(uintptr_t)63;
    ((scratch **)p)[-1] = s;
    return (float *)p;
}

float *explain_scratch_take(keel_explainer *x, size_t floats)
{
    pthread_mutex_lock(&x->lock);
    scratch **pp = &x->pool, *s = NULL;
    while (*pp && (*pp)->floats < floats)
        pp = &(*pp)->next;
    if (*pp) {
        s = *pp;
        *pp = s->next;
    }
    pthread_mutex_unlock(&x->lock);
    if (!s) {
        if (floats > (SIZE_MAX - sizeof *s - 128) / sizeof(float)) return NULL;
        if (!(s = keel_malloc(sizeof *s + sizeof(scratch *) + 64 + floats * sizeof(float))))
            return NULL;
        s->floats = floats;
    }
    s->next = NULL;
    return scratch_data(s);
}

void explain_scratch_give(keel_explainer *x, float *data)
{
    if (!data) return;
    scratch *s = ((scratch **)data)[-1];
    pthread_mutex_lock(&x->lock);
    s->next = x->pool;
    x->pool = s;
    pthread_mutex_unlock(&x->lock);
}

/* ---- the tail: forward and backward ---- */

/* h = act(u): nn/activation.h, the graph's and the row plan's maths. */
static void activate(int act, size_t n, const float *u, float *h)
{
    keel_act_forward(act, n, u, h);
}

/* dh ⊙ act'(u) into du; h = act(u) from the forward pass. SiLU's derivative is taken from h
 * (keel_act_silu_grad_from_out), so the backward pass needs no exponential; it is not the
 * graph's double form, and the attributions are what they always were with it. */
static void activate_bwd(int act, size_t n, const float *u, const float *h, const float *dh,
                         float *du)
{
    switch (act) {
    case KEEL_OP_RELU:
        for (size_t i = 0; i < n; i++)
            du[i] = u[i] > 0 ? dh[i] : 0;
        break;
    case KEEL_OP_SILU:
        for (size_t i = 0; i < n; i++)
            du[i] = dh[i] * keel_act_silu_grad_from_out(u[i], h[i]);
        break;
    case KEEL_OP_GELU:
        for (size_t i = 0; i < n; i++)
            du[i] = (float)(dh[i] * keel_act_gelu_grad(u[i]));
        break;
    default:
        memcpy(du, dh, n * sizeof *du);
    }
}

size_t explain_tail_floats(const keel_explainer *x, size_t rows)
{
    size_t per = 0;
    for (int l = 0; l < x->n_layers; l++)
        per += 2 * ((x->layers[l].n + 15) & ~(size_t)15);
    return rows * (per + 2 * ((x->max_width + 15) & ~(size_t)15)) + 64;
}

/* Runs the tail for `rows` rows whose first-layer pre-activations are already in the
 * scratch's first buffer (U_0). Buffers: U_l and H_l per layer, each rows × n_l, one after
 * another from s; returns the logits (U of the last layer). */
static float *tail_forward(const keel_explainer *x, float *s, size_t rows);

const float *explain_tail_run(const keel_explainer *x, float *s, size_t rows)
{
    return tail_forward(x, s, rows);
}

static float *tail_forward(const keel_explainer *x, float *s, size_t rows)
{
    float *u = s;
    for (int l = 0;; l++) {
        const tail_layer *t = &x->layers[l];
        size_t np = (t->n + 15) & ~(size_t)15;
        float *h = u + rows * np;
        if (l == x->n_layers - 1) return u;
        activate(t->act, rows * t->n, u, h);
        const tail_layer *nx = &x->layers[l + 1];
        float *un = h + rows * np;
        keel_linear_forward(rows, nx->n, t->n, h, nx->w, nx->b, un, NULL);
        u = un;
    }
}

/* Backward from dz [rows, n_out] to the first layer's pre-activations for the first `rows`
 * rows of a forward run over `layout` rows: returns dU_0, in the two gradient buffers after
 * the forward's (which must still hold the forward's values). */
static float *tail_backward(const keel_explainer *x, float *s, size_t layout, size_t rows,
                            const float *dz)
{
    size_t fwd = 0;
    for (int l = 0; l < x->n_layers; l++)
        fwd += 2 * layout * ((x->layers[l].n + 15) & ~(size_t)15);
    size_t wp = (x->max_width + 15) & ~(size_t)15;
    float *ga = s + fwd, *gb = ga + layout * wp;
    const float *du = dz;
    size_t off = fwd;
    for (int l = x->n_layers - 1; l > 0; l--) {
        const tail_layer *t = &x->layers[l], *pv = &x->layers[l - 1];
        size_t pp = (pv->n + 15) & ~(size_t)15, tp = (t->n + 15) & ~(size_t)15;
        off -= 2 * layout * tp;                          /* start of this layer's U */
        const float *u_prev = s + off - 2 * layout * pp; /* the previous layer's U */
        /* dH_{l-1} = dU_l W_lᵀ into the buffer not holding dU_l, then through the
         * activation in place */
        float *dst = du == ga ? gb : ga;
        keel_linear_backward(rows, t->n, t->k, NULL, t->w, du, NULL, false, NULL, false, dst,
                             false);
        activate_bwd(pv->act, rows * pv->n, u_prev, u_prev + layout * pp, dst, dst);
        du = dst;
    }
    return (float *)du;
}

/* ---- the explained number ---- */

/* The explained number of one row of logits z, and its gradient with respect to z in dz
 * (n_out floats; may be NULL). */
double explain_output(const keel_explainer *x, const keel_model *m, const float *z, size_t c,
                      keel_explain_scale s, float *dz)
{
    size_t k = m->n_out;
    if (m->target.task == KEEL_TASK_REGRESSION) {
        if (dz) dz[0] = (float)m->target.scale;
        return z[0] * m->target.scale + m->target.mean;
    }
    if (k == 1) {
        double a = m->cal.kind == 1 ? m->cal.a : 1, b = m->cal.kind == 1 ? m->cal.b : 0;
        double sign = c == 1 ? 1 : -1, v = sign * (a * z[0] + b);
        if (s == KEEL_SCALE_PROBABILITY) {
            double p = keel_act_sigmoid(v);
            if (dz) dz[0] = (float)(p * (1 - p) * sign * a);
            return p;
        }
        if (dz) dz[0] = (float)(sign * a);
        return v;
    }
    double t = m->cal.kind == 2 && m->cal.t > 0 ? m->cal.t : 1;
    double mx = -INFINITY, mo = -INFINITY;
    for (size_t j = 0; j < k; j++) {
        mx = fmax(mx, z[j] / t);
        if (j != c) mo = fmax(mo, z[j] / t);
    }
    double sum = 0, so = 0;
    for (size_t j = 0; j < k; j++) {
        sum += exp(z[j] / t - mx);
        if (j != c) so += exp(z[j] / t - mo);
    }
    if (s == KEEL_SCALE_PROBABILITY) {
        double pc = exp(z[c] / t - mx) / sum;
        if (dz)
            for (size_t j = 0; j < k; j++) {
                double pj = exp(z[j] / t - mx) / sum;
                dz[j] = (float)(pc * ((j == c) - pj) / t);
            }
        return pc;
    }
    /* log p_c − log(1 − p_c) = u_c − log Σ_{j≠c} e^{u_j} */
    if (dz)
        for (size_t j = 0; j < k; j++)
            dz[j] = (float)(j == c ? 1 / t : -exp(z[j] / t - mo) / so / t);
    return z[c] / t - (mo + log(so));
}

/* Resolves the scale and the explained class (multiclass without one: argmax of z). */
void explain_resolve(const keel_explainer *x, const keel_model *m, const keel_explain_options *o,
                     const float *z, keel_explanation *out)
{
    keel_explain_scale s = o->scale;
    if (m->target.task == KEEL_TASK_REGRESSION)
        s = KEEL_SCALE_VALUE;
    else if (s == KEEL_SCALE_DEFAULT || s == KEEL_SCALE_VALUE)
        s = KEEL_SCALE_LOG_ODDS;
    out->scale = s;
    size_t c = 0;
    if (m->target.task != KEEL_TASK_REGRESSION) {
        if (o->class_index >= 0 && (size_t)o->class_index < m->target.classes.n)
            c = (size_t)o->class_index;
        else if (x->settings.adverse_class >= 0)
            c = (size_t)x->settings.adverse_class;
        else if (m->n_out == 1)
            c = 1;
        else
            for (size_t j = 1; j < m->n_out; j++)
                if (z[j] > z[c]) c = j;
    }
    out->class_index = c;
}

/* First-layer pre-activations of n representations: r W + b. */
void explain_first_layer(const keel_explainer *x, const float *r, size_t n, float *pre)
{
    const tail_layer *t = &x->layers[0];
    keel_linear_forward(n, t->n, t->k, r, t->w, t->b, pre, NULL);
}

int keel_explain_value(keel_explainer *x, keel_model *m, const float *r, size_t n,
                       const keel_explain_options *o, double *out, keel_error *e)
{
    keel_explain_options def;
    if (!o) {
        keel_explain_options_init(&def);
        o = &def;
    }
    const size_t chunk = 256;
    float *s = explain_scratch_take(x, explain_tail_floats(x, chunk));
    if (!s) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i += chunk) {
        size_t c = KEEL_MIN(chunk, n - i);
        explain_first_layer(x, r + i * x->d, c, s);
        const float *z = tail_forward(x, s, c);
        for (size_t j = 0; j < c; j++) {
            keel_explanation t = {0};
            explain_resolve(x, m, o, z + j * m->n_out, &t);
            out[i + j] = explain_output(x, m, z + j * m->n_out, t.class_index, t.scale, NULL);
        }
    }
    explain_scratch_give(x, s);
    return KEEL_OK;
}

int explain_logits(keel_explainer *x, const float *r, size_t n, float *z, size_t n_out)
{
    const size_t chunk = 256;
    float *s = explain_scratch_take(x, explain_tail_floats(x, chunk));
    if (!s) return KEEL_ENOMEM;
    for (size_t i = 0; i < n; i += chunk) {
        size_t c = KEEL_MIN(chunk, n - i);
        explain_first_layer(x, r + i * x->d, c, s);
        memcpy(z + i * n_out, tail_forward(x, s, c), c * n_out * sizeof *z);
    }
    explain_scratch_give(x, s);
    return KEEL_OK;
}

/* ---- Integrated Gradients ---- */

/* One pass of the rule with n points: Σ attributions per input into attr, and f at both
 * ends. pre0: the baseline's first-layer pre-activations; p1: (r − base) W. */
static int ig_pass(keel_explainer *x, const keel_model *m, const float *diff, const float *pre0,
                   const float *p1, int n, keel_explanation *out, double *fx, double *fb)
{
    const tail_layer *t0 = &x->layers[0];
    size_t n1 = t0->n, np = (n1 + 15) & ~(size_t)15, rows = (size_t)n + 2, k = m->n_out;
    double bx[IG_MAX_STEPS * 4], bw[IG_MAX_STEPS * 4];
    const double *px, *pw;
    if (n > IG_MAX_STEPS * 4) return KEEL_EINVAL;
    rule(x, n, &px, &pw, bx, bw);
    size_t need = explain_tail_floats(x, rows) + rows * k + 2 * (x->d + np) + 64;
    float *s = explain_scratch_take(x, need);
    if (!s) return KEEL_ENOMEM;
    /* U_0 rows: the n points, then α = 0 and α = 1 */
    for (int j = 0; j < n + 2; j++) {
        float a = j < n ? (float)px[j] : j == n ? 0.0f : 1.0f;
        float *u = s + (size_t)j * n1;
        for (size_t i = 0; i < n1; i++)
            u[i] = pre0[i] + a * p1[i];
    }
    /* tail_forward lays U_0 out with a padded stride only when n1 is a multiple of 16;
     * rows are packed (stride n1), which is what keel_linear_forward expects. */
    const float *z = tail_forward(x, s, rows);
    float *dz = s + explain_tail_floats(x, rows);
    for (size_t j = 0; j < rows; j++)
        explain_output(x, m, z + j * k, out->class_index, out->scale, dz + j * k);
    *fb = explain_output(x, m, z + (size_t)n * k, out->class_index, out->scale, NULL);
    *fx = explain_output(x, m, z + (size_t)(n + 1) * k, out->class_index, out->scale, NULL);
    float *du = tail_backward(x, s, rows, (size_t)n, dz);
    /* ḡ = Σ w_j dU_0[j]; grad = W ḡ; attribution = (r − base) ⊙ grad */
    float *gbar = dz + rows * k, *grad = gbar + np;
    memset(gbar, 0, n1 * sizeof *gbar);
    for (int j = 0; j < n; j++) {
        const float *dj = du + (size_t)j * n1;
        float wj = (float)pw[j];
        for (size_t i = 0; i < n1; i++)
            gbar[i] += wj * dj[i];
    }
    keel_linear_backward(1, n1, t0->k, NULL, t0->w, gbar, NULL, false, NULL, false, grad, false);
    for (size_t i = 0; i < x->n_inputs; i++)
        out->attributions[i] = 0;
    for (size_t d = 0; d < x->d; d++)
        if (x->owner[d] != UINT32_MAX) out->attributions[x->owner[d]] += (double)diff[d] * grad[d];
    explain_scratch_give(x, s);
    return KEEL_OK;
}

int explain_ig(keel_explainer *x, keel_model *m, const float *r, const float *base,
               const float *base_pre, const keel_explain_options *o, keel_explanation *out)
{
    const tail_layer *t0 = &x->layers[0];
    size_t n1 = t0->n;
    float *s = explain_scratch_take(x, x->d + 2 * n1 + 64);
    if (!s) return KEEL_ENOMEM;
    float *diff = s, *p1 = diff + x->d, *pre0 = p1 + n1;
    for (size_t d = 0; d < x->d; d++)
        diff[d] = r[d] - base[d];
    keel_linear_forward(1, n1, t0->k, diff, t0->w, NULL, p1, NULL);
    if (base_pre)
        memcpy(pre0, base_pre, n1 * sizeof *pre0);
    else
        explain_first_layer(x, base, 1, pre0);
    /* The class and scale, from the row's own logits when multiclass needs the argmax. */
    if (m->n_out > 1 && o->class_index < 0 && x->settings.adverse_class < 0) {
        float z[1024];
        float *zz = m->n_out <= 1024 ? z : NULL;
        if (!zz || explain_logits(x, r, 1, zz, m->n_out)) {
            explain_scratch_give(x, s);
            return KEEL_ENOMEM;
        }
        explain_resolve(x, m, o, zz, out);
    } else {
        explain_resolve(x, m, o, NULL, out);
    }
    int rc = KEEL_OK;
    double fx = 0, fb = 0;
    int n = o->steps > 0 ? o->steps : IG_MIN_STEPS;
    double tol = o->tolerance > 0 ? o->tolerance : 0.001;
    for (;;) {
        if ((rc = ig_pass(x, m, diff, pre0, p1, n, out, &fx, &fb))) break;
        double sum = 0;
        for (size_t i = 0; i < x->n_inputs; i++)
            sum += out->attributions[i];
        out->completeness_error = fabs(sum - (fx - fb));
        out->steps = n;
        if (o->steps > 0 || n >= IG_MAX_STEPS ||
            out->completeness_error <= tol * fabs(fx - fb) + 1e-7)
            break;
        n *= 2;
    }
    out->prediction = fx;
    out->baseline_prediction = fb;
    out->method = KEEL_EXPLAIN_IG;
    out->exact = false;
    if (out->std_errors)
        for (size_t i = 0; i < x->n_inputs; i++)
            out->std_errors[i] = 0;
    explain_scratch_give(x, s);
    return rc;
}

/* An explanation of a model whose weights overflow holds NaN or infinity: that is an error
 * for the row, as a prediction's would be (KEEL_ENONFINITE), never numbers written as null. */
static int explanation_finite(const keel_explainer *x, const keel_explanation *out, keel_error *e)
{
    bool finite = isfinite(out->prediction) && isfinite(out->baseline_prediction);
    for (size_t i = 0; finite && i < x->n_inputs; i++)
        finite = isfinite(out->attributions[i]);
    if (finite) return KEEL_OK;
    return keel_error_set(e, KEEL_ENONFINITE,
                          "the model computed a value that is not a finite number (NaN or "
                          "infinity), so there is no explanation for this row: its weights "
                          "overflow (retrain the model)");
}

/* ---- entry points ---- */

static int check_options(const keel_model *m, const keel_explain_options *o, keel_error *e)
{
    if (o->method != KEEL_EXPLAIN_IG && o->method != KEEL_EXPLAIN_SHAPLEY)
        return keel_error_set(e, KEEL_EINVAL, "unknown explanation method");
    if ((int)o->scale < 0 || o->scale > KEEL_SCALE_VALUE)
        return keel_error_set(e, KEEL_EINVAL, "unknown scale");
    if (m->target.task == KEEL_TASK_REGRESSION && o->scale != KEEL_SCALE_DEFAULT &&
        o->scale != KEEL_SCALE_VALUE)
        return keel_error_set(e, KEEL_EINVAL,
                              "a regression model is explained on the scale of its value");
    if (m->target.task != KEEL_TASK_REGRESSION && o->scale == KEEL_SCALE_VALUE)
        return keel_error_set(e, KEEL_EINVAL,
                              "a classifier is explained as log-odds or probability, not value");
    if (o->class_index >= 0 &&
        (m->target.task == KEEL_TASK_REGRESSION || (size_t)o->class_index >= m->target.classes.n))
        return keel_error_set(e, KEEL_EINVAL, "class %ld is not one of the model's classes",
                              o->class_index);
    if (o->steps < 0 || o->steps > IG_MAX_STEPS * 4)
        return keel_error_set(e, KEEL_EINVAL, "steps must be between 1 and %d", IG_MAX_STEPS * 4);
    if (o->pairs < 0 || o->pairs > 100000)
        return keel_error_set(e, KEEL_EINVAL, "pairs must be between 1 and 100000");
    if (o->top_k > KEEL_EXPLAIN_MAX_REASONS)
        return keel_error_set(e, KEEL_EINVAL, "at most %d reasons", KEEL_EXPLAIN_MAX_REASONS);
    if (!(o->tolerance >= 0) || o->exact_max_columns < 0 || o->exact_max_columns > 20)
        return keel_error_set(e, KEEL_EINVAL, "bad tolerance or exact_max_columns (0..20)");
    return KEEL_OK;
}

int keel_explain_repr(keel_explainer *x, keel_model *m, const float *r, const float *base,
                      const keel_explain_options *o, keel_explanation *out, keel_error *e)
{
    keel_explain_options def;
    if (!o) {
        keel_explain_options_init(&def);
        o = &def;
    }
    if (!out->attributions)
        return keel_error_set(e, KEEL_EINVAL, "keel_explain: no attributions array");
    int rc = check_options(m, o, e);
    if (rc) return rc;
    out->n_reasons = 0;
    if (o->method == KEEL_EXPLAIN_SHAPLEY)
        rc = explain_shapley(x, m, r, o, out);
    else
        rc = explain_ig(x, m, r, base ? base : x->base, base ? NULL : x->base_pre, o, out);
    if (rc) return keel_error_set(e, rc, "explanation failed: %s", keel_strerror(rc));
    return explanation_finite(x, out, e);
}

int explain_row_ws(keel_explainer *x, keel_model *m, keel_workspace *ws, const keel_frame *f,
                   size_t row, const keel_explain_options *o, keel_explanation *out, keel_error *e)
{
    float rb[1024], *r = x->d <= 1024 ? rb : keel_malloc(x->d * sizeof *r);
    if (!r) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = keel_model_represent(m, ws, f, &row, 0, 1, r);
    if (rc)
        keel_error_set(e, rc, "cannot encode the row: %s", keel_strerror(rc));
    else if (!(rc = keel_explain_repr(x, m, r, NULL, o, out, e)))
        rc = keel_explain_reasons(x, m, f, row, o ? o->top_k : 0, out);
    if (r != rb) keel_free(r);
    return rc;
}

int keel_explain_row(keel_explainer *x, keel_model *m, const keel_frame *f, size_t row,
                     const keel_explain_options *o, keel_explanation *out, keel_error *e)
{
    if (row >= f->n_rows) return keel_error_set(e, KEEL_EINVAL, "row %zu is not in the frame", row);
    keel_workspace *ws = keel_model_ws_take(m, 1);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = explain_row_ws(x, m, ws, f, row, o, out, e);
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_explain_fields(keel_model *m, const keel_named_value *fields, size_t n_fields,
                        const keel_explain_options *o, keel_explanation *out, keel_error *e)
{
    if (!m || (n_fields && !fields) || !out || !out->attributions)
        return keel_error_set(e, KEEL_EINVAL,
                              "keel_explain_fields: model, fields and attributions are required");
    keel_explainer *x;
    int rc = keel_explainer_get(m, &x, e);
    if (rc) return rc;
    keel_workspace *ws = keel_model_ws_take(m, 1);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if (!(rc = keel_model_fill_fields(m, ws, fields, n_fields, e)))
        rc = explain_row_ws(x, m, ws, ws->row, 0, o, out, e);
    keel_model_ws_give(m, ws);
    return rc;
}
