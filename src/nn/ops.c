/*
 * ops.c — running a keel_graph: the exec workspace, and every op's forward and backward.
 *
 * Design. An exec is made once per thread and model (keel_exec_new) and holds, in one
 * 64-byte aligned arena, every node's value for max_rows rows, every gradient buffer a
 * backward will need, and each op's auxiliary state (dropout masks, normalisation
 * statistics, per-row log-sum-exp); INPUT and INDEX values are the caller's input buffers.
 * Forward and backward therefore never allocate: a training step is the same sequence of
 * kernel calls over the same memory every time.
 *
 * Forward runs only the ancestors of the target, in node order (a plan recomputed when the
 * target changes). A LINEAR whose next planned node is the ReLU of it is computed together
 * with that ReLU: one pass over the output writes both values (the ReLU is then skipped).
 *
 * Backward walks the plan in reverse. Instead of zeroing every gradient buffer first, each
 * node has a flag saying whether its gradient has been written yet: the first consumer to
 * reach it overwrites (GEMM beta = 0), later ones accumulate. Only nodes fed by a parameter
 * get a gradient at all (so the input layer's dx product is never computed), parameter
 * gradients are written straight into the caller's flat array, and what no path reached
 * (unused parameters, the alignment gaps) is zeroed at the end.
 *
 * After a backward, keel_exec_example_grad_norms gives each row's share of the parameter
 * gradient as a squared norm, from the values and gradients the backward left (the ghost-norm
 * identity for LINEAR: |x_r^T dy_r|² = |x_r|² |dy_r|²), for DP-SGD's clipping; training
 * does not call it, so it costs the default loop nothing.
 *
 * Per-op maths are stated beside each op (and in nn.h). Reductions that decide numerics
 * (norm statistics, loss sums) accumulate in double; the losses use the stable forms
 * (log-sum-exp, softplus).
 */
#include "nn/nn.h"
#include "nn/activation.h"

#include "tensor/kernels.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

#define NORM_EPS    1e-5
#define BN_MOMENTUM 0.1

struct keel_exec {
    const keel_graph *g;
    size_t max_rows;
    bool with_grad;
    int n;
    float **val;  /* per node: its value (INPUT: the caller's buffer); NULL for INDEX/BAG */
    float **grad; /* per node: its gradient buffer (dense nodes fed by a param), else NULL */
    float **aux;  /* per node: op state kept from forward for backward */
    int32_t **idx;
    const uint32_t **bag_off;
    const int32_t **bag_ids;
    uint8_t *need;   /* the node's value depends on a parameter: it gets a gradient */
    uint8_t *active; /* in the current plan */
    uint8_t *gset;   /* backward: the gradient has been written (else it is garbage) */
    uint8_t *lent;   /* a ReLU whose gradient buffer is also its input's (see keel_exec_new) */
    int *order;      /* the plan: ancestors of plan_target, in node order */
    int n_order;
    int plan_target;
    keel_rng rng;
    size_t rows;    /* of the last forward */
    int fwd_target; /* of the last successful forward, -1 if none */
    bool fwd_train;
    float *grad_out;           /* during backward: the caller's parameter gradient */
    double loss_num, loss_den; /* the last loss forward: value = num / den (0 when den is 0) */
    bool bwd_done;             /* a backward ran since the last forward */
    void *arena;
};

static bool is_loss(keel_op op)
{
    return op >= KEEL_OP_SOFTMAX_CE && op <= KEEL_OP_HUBER;
}

static bool is_dense(keel_op op)
{
    return op != KEEL_OP_PARAM && op != KEEL_OP_INDEX && op != KEEL_OP_BAG && !is_loss(op);
}

/* ---- creation ------------------------------------------------------------------------ */

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Sizes (in floats, each rounded to 16) of a node's value, gradient and aux buffers; false
 * on overflow. */
static bool node_sizes(const keel_graph *g, const keel_node *nd, size_t max_rows, bool with_grad,
                       bool need, size_t *val, size_t *grad, size_t *aux)
{
    size_t bc; /* batch x cols */
    if (!keel_size_mul(max_rows, nd->cols, &bc) || bc > SIZE_MAX / 8) return false;
    *val = *grad = *aux = 0;
    if (nd->op == KEEL_OP_INDEX || is_dense(nd->op)) *val = round16(bc);
    if (is_loss(nd->op)) *val = 16;
    if (with_grad && need && is_dense(nd->op)) *grad = round16(bc);
    switch (nd->op) {
    case KEEL_OP_DROPOUT:
        if (with_grad) *aux = round16(bc);
        break;
    case KEEL_OP_LAYERNORM:
        if (max_rows > SIZE_MAX / 8) return false;
        *aux = round16(2 * max_rows);
        break;
    case KEEL_OP_BATCHNORM:
        *aux = round16(6 * nd->cols);
        break; /* mean, rstd, 2 double sums */
    case KEEL_OP_SOFTMAX_CE:
    case KEEL_OP_SIGMOID_BCE:
    case KEEL_OP_MSE:
    case KEEL_OP_HUBER:
        if (max_rows > SIZE_MAX / 8) return false;
        *aux = round16(max_rows + 1); /* per-row log-sum-exp; [max_rows]: sum of weights */
        break;
    default:
        break;
    }
    (void)g;
    return true;
}

keel_exec *keel_exec_new(const keel_graph *g, size_t max_rows, bool with_grad)
{
    if (!g || !g->finalised || max_rows == 0) return NULL;
    int n = g->n_nodes;
    size_t nn = (size_t)(n > 0 ? n : 1);
    /* One block for the struct and the per-node arrays, one arena for the floats. */
    size_t meta = sizeof(keel_exec);
    meta = (meta + 15) & ~(size_t)15;
    size_t o_val = meta, o_grad = o_val + nn * sizeof(float *),
           o_aux = o_grad + nn * sizeof(float *), o_idx = o_aux + nn * sizeof(float *),
           o_off = o_idx + nn * sizeof(int32_t *), o_ids = o_off + nn * sizeof(uint32_t *),
           o_order = o_ids + nn * sizeof(int32_t *), o_need = o_order + nn * sizeof(int),
           total_meta = o_need + 4 * nn;
    char *m = keel_calloc(1, total_meta);
    if (!m) return NULL;
    keel_exec *x = (keel_exec *)m;
    x->g = g;
    x->max_rows = max_rows;
    x->with_grad = with_grad;
    x->n = n;
    x->val = (float **)(m + o_val);
    x->grad = (float **)(m + o_grad);
    x->aux = (float **)(m + o_aux);
    x->idx = (int32_t **)(m + o_idx);
    x->bag_off = (const uint32_t **)(m + o_off);
    x->bag_ids = (const int32_t **)(m + o_ids);
    x->order = (int *)(m + o_order);
    x->need = (uint8_t *)(m + o_need);
    x->active = x->need + nn;
    x->gset = x->active + nn;
    x->lent = x->gset + nn;
    x->plan_target = -1;
    x->fwd_target = -1;
    keel_rng_seed(&x->rng, 0);

    /* A ReLU that is the only consumer of its input lends its gradient buffer to that input:
     * ReLU's backward then runs in place (dx = dy where y > 0), and training touches one
     * [batch, cols] buffer less per dense layer. x->order counts consumers meanwhile (the
     * plan overwrites it later). */
    int *users = x->order;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            users[g->nodes[i].inputs[j]]++;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const keel_node *nd = &g->nodes[i];
        if (nd->op == KEEL_OP_PARAM)
            x->need[i] = 1;
        else
            for (int j = 0; j < nd->n_inputs; j++)
                if (x->need[nd->inputs[j]]) x->need[i] = 1;
        if (with_grad && nd->op == KEEL_OP_RELU && x->need[i] && users[nd->inputs[0]] == 1) {
            x->lent[i] = 1;
            users[nd->inputs[0]] = -1; /* from now on: "borrows its consumer's buffer" */
        }
    }
    for (int i = 0; i < n; i++) {
        const keel_node *nd = &g->nodes[i];
        size_t v, gr, a;
        if (!node_sizes(g, nd, max_rows, with_grad, x->need[i], &v, &gr, &a)) goto fail;
        if (users[i] == -1) gr = 0;
        if (!keel_size_add(total, v, &total) || !keel_size_add(total, gr, &total) ||
            !keel_size_add(total, a, &total))
            goto fail;
    }
    size_t bytes;
    if (!keel_size_mul(total, sizeof(float), &bytes) || !keel_size_add(bytes, 64, &bytes))
        goto fail;
    x->arena = keel_malloc(bytes);
    if (!x->arena) goto fail;
    memset(x->arena, 0, bytes);
    float *p = (float *)(((uintptr_t)x->arena + 63) & ~(uintptr_t)63);
    for (int i = 0; i < n; i++) {
        const keel_node *nd = &g->nodes[i];
        size_t v, gr, a;
        node_sizes(g, nd, max_rows, with_grad, x->need[i], &v, &gr, &a);
        if (users[i] == -1) gr = 0;
        if (nd->op == KEEL_OP_INDEX)
            x->idx[i] = (int32_t *)p;
        else if (v)
            x->val[i] = p;
        p += v;
        if (gr) x->grad[i] = p;
        p += gr;
        if (a) x->aux[i] = p;
        p += a;
    }
    for (int i = 0; i < n; i++)
        if (x->lent[i]) x->grad[g->nodes[i].inputs[0]] = x->grad[i];
    return x;
fail:
    keel_free(m);
    return NULL;
}

void keel_exec_free(keel_exec *x)
{
    if (!x) return;
    keel_free(x->arena);
    keel_free(x);
}

float *keel_exec_data(keel_exec *x, int node)
{
    if (!x || node < 0 || node >= x->n || x->g->nodes[node].op != KEEL_OP_INPUT) return NULL;
    return x->val[node];
}

int32_t *keel_exec_index(keel_exec *x, int node)
{
    if (!x || node < 0 || node >= x->n || x->g->nodes[node].op != KEEL_OP_INDEX) return NULL;
    return x->idx[node];
}

void keel_exec_bag(keel_exec *x, int node, const uint32_t *offsets, const int32_t *ids)
{
    if (!x || node < 0 || node >= x->n || x->g->nodes[node].op != KEEL_OP_BAG) return;
    x->bag_off[node] = offsets;
    x->bag_ids[node] = ids;
}

void keel_exec_seed(keel_exec *x, uint64_t seed)
{
    if (x) keel_rng_seed(&x->rng, seed);
}

const float *keel_exec_value(const keel_exec *x, int node)
{
    if (!x || node < 0 || node >= x->n) return NULL;
    const keel_node *nd = &x->g->nodes[node];
    if (nd->op == KEEL_OP_PARAM) return x->g->params + nd->offset;
    return x->val[node];
}

int keel_exec_loss_parts(const keel_exec *x, int loss, double *num, double *den)
{
    if (!x || loss < 0 || loss >= x->n || !is_loss(x->g->nodes[loss].op)) return KEEL_EINVAL;
    if (x->fwd_target != loss) return KEEL_ESTATE;
    *num = x->loss_num;
    *den = x->loss_den;
    return KEEL_OK;
}

const float *keel_exec_grad(const keel_exec *x, int node)
{
    if (!x || node < 0 || node >= x->n || !x->grad[node] || !x->gset[node] || x->lent[node])
        return NULL;
    return x->grad[node];
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The value of input j of node nd (parameters straight from the flat buffer). */
static const float *in_val(const keel_exec *x, const keel_node *nd, int j)
{
    const keel_node *src = &x->g->nodes[nd->inputs[j]];
    if (src->op == KEEL_OP_PARAM) return x->g->params + src->offset;
    return x->val[nd->inputs[j]];
}

static size_t in_cols(const keel_exec *x, const keel_node *nd, int j)
{
    return x->g->nodes[nd->inputs[j]].cols;
}

/* Where the gradient for input j of nd goes, or NULL if that input takes none. *acc tells
 * whether to add (something was written there already) or overwrite; the node counts as
 * written from now on. */
static float *grad_to(keel_exec *x, const keel_node *nd, int j, bool *acc)
{
    int src = nd->inputs[j];
    if (!x->need[src]) return NULL;
    const keel_node *s = &x->g->nodes[src];
    *acc = x->gset[src];
    x->gset[src] = 1;
    if (s->op == KEEL_OP_PARAM) return x->grad_out + s->offset;
    return x->grad[src];
}

/* *dst = v, or += v when accumulating. */
static void put(float *dst, float v, bool acc)
{
    *dst = acc ? *dst + v : v;
}

static void plan(keel_exec *x, int target)
{
    const keel_graph *g = x->g;
    memset(x->active, 0, (size_t)x->n);
    x->active[target] = 1;
    for (int i = target; i >= 0; i--)
        if (x->active[i])
            for (int j = 0; j < g->nodes[i].n_inputs; j++)
                x->active[g->nodes[i].inputs[j]] = 1;
    x->n_order = 0;
    for (int i = 0; i <= target; i++)
        if (x->active[i]) x->order[x->n_order++] = i;
    x->plan_target = target;
}

/* ---- forward ------------------------------------------------------------------------- */

/* train: y = x m / (1 - p), m ~ Bernoulli(1 - p); else y = x. aux keeps m / (1 - p). */
static void fwd_dropout(keel_exec *x, int i, size_t rows, bool train)
{
    const keel_node *nd = &x->g->nodes[i];
    const float *in = in_val(x, nd, 0);
    float *y = x->val[i], *mask = x->aux[i];
    size_t n = rows * nd->cols;
    if (!train || nd->attr == 0.0f) {
        memcpy(y, in, n * sizeof *y);
        return;
    }
    double p = nd->attr;
    float keep = (float)(1.0 / (1.0 - p));
    for (size_t j = 0; j < n; j++) {
        float s = keel_rng_uniform(&x->rng) >= p ? keep : 0.0f;
        y[j] = in[j] * s;
        if (mask) mask[j] = s;
    }
}

/* y = γ (x - μ_row) / sqrt(σ²_row + ε) + β; aux: μ per row, then 1/sqrt(σ² + ε) per row. */
static void fwd_layernorm(keel_exec *x, int i, size_t rows)
{
    const keel_node *nd = &x->g->nodes[i];
    const float *in = in_val(x, nd, 0), *gamma = in_val(x, nd, 1), *beta = in_val(x, nd, 2);
    float *y = x->val[i], *mu = x->aux[i], *rs = x->aux[i] + x->max_rows;
    size_t n = nd->cols;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = in + r * n;
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += xr[j];
        double mean = s / (double)n, v = 0;
        for (size_t j = 0; j < n; j++)
            v += ((double)xr[j] - mean) * ((double)xr[j] - mean);
        double rstd = 1.0 / sqrt(v / (double)n + NORM_EPS);
        mu[r] = (float)mean;
        rs[r] = (float)rstd;
        for (size_t j = 0; j < n; j++)
            y[r * n + j] = (float)(gamma[j] * (((double)xr[j] - mean) * rstd) + beta[j]);
    }
}

/* train: batch statistics per column, running mean/var updated (momentum 0.1, unbiased
 * variance); eval: the running statistics. aux: mean, rstd per column, then two double
 * accumulators per column. */
static void fwd_batchnorm(keel_exec *x, int i, size_t rows, bool train)
{
    const keel_node *nd = &x->g->nodes[i];
    const float *in = in_val(x, nd, 0), *gamma = in_val(x, nd, 1), *beta = in_val(x, nd, 2);
    size_t n = nd->cols;
    float *y = x->val[i], *mu = x->aux[i], *rs = mu + n;
    double *acc = (double *)(void *)(mu + 2 * n);
    float *run_mean = x->g->state + nd->offset, *run_var = run_mean + n;
    if (train) {
        memset(acc, 0, 2 * n * sizeof *acc);
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++)
                acc[j] += in[r * n + j];
        for (size_t j = 0; j < n; j++)
            acc[j] /= (double)rows;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++) {
                double d = in[r * n + j] - acc[j];
                acc[n + j] += d * d;
            }
        for (size_t j = 0; j < n; j++) {
            double var = acc[n + j] / (double)rows;
            double unbiased = rows > 1 ? acc[n + j] / (double)(rows - 1) : var;
            mu[j] = (float)acc[j];
            rs[j] = (float)(1.0 / sqrt(var + NORM_EPS));
            run_mean[j] = (float)((1.0 - BN_MOMENTUM) * run_mean[j] + BN_MOMENTUM * acc[j]);
            run_var[j] = (float)((1.0 - BN_MOMENTUM) * run_var[j] + BN_MOMENTUM * unbiased);
        }
    } else {
        for (size_t j = 0; j < n; j++) {
            mu[j] = run_mean[j];
            rs[j] = (float)(1.0 / sqrt((double)run_var[j] + NORM_EPS));
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++)
            y[r * n + j] = gamma[j] * ((in[r * n + j] - mu[j]) * rs[j]) + beta[j];
}

/* y[r] = T[idx[r, col]]. */
static int fwd_embed(keel_exec *x, int i, size_t rows)
{
    const keel_node *nd = &x->g->nodes[i];
    const keel_node *tab = &x->g->nodes[nd->inputs[1]];
    const int32_t *idx = x->idx[nd->inputs[0]];
    size_t c = in_cols(x, nd, 0), d = nd->cols, col = (size_t)nd->iattr;
    const float *t = in_val(x, nd, 1);
    for (size_t r = 0; r < rows; r++) {
        int32_t id = idx[r * c + col];
        if (id < 0 || (size_t)id >= tab->rows) return KEEL_EINVAL;
        memcpy(x->val[i] + r * d, t + (size_t)id * d, d * sizeof(float));
    }
    return KEEL_OK;
}

/* Checks a BAG input's offsets for rows rows. */
static int bags_ok(const keel_exec *x, int bag, size_t rows)
{
    const uint32_t *off = x->bag_off[bag];
    if (!off || !x->bag_ids[bag]) return KEEL_EINVAL;
    for (size_t r = 0; r < rows; r++)
        if (off[r + 1] < off[r]) return KEEL_EINVAL;
    return KEEL_OK;
}

/* y[r] = mean of T[id mod V] over the row's bag (0 for an empty bag). */
static int fwd_embed_bag(keel_exec *x, int i, size_t rows)
{
    const keel_node *nd = &x->g->nodes[i];
    int bag = nd->inputs[0];
    if (bags_ok(x, bag, rows) != KEEL_OK) return KEEL_EINVAL;
    const uint32_t *off = x->bag_off[bag];
    const int32_t *ids = x->bag_ids[bag];
    size_t v = x->g->nodes[nd->inputs[1]].rows, d = nd->cols;
    const float *t = in_val(x, nd, 1);
    for (size_t r = 0; r < rows; r++) {
        float *y = x->val[i] + r * d;
        memset(y, 0, d * sizeof *y);
        uint32_t cnt = off[r + 1] - off[r];
        if (!cnt) continue;
        for (uint32_t q = off[r]; q < off[r + 1]; q++) {
            const float *row = t + ((uint32_t)ids[q] % v) * d;
            for (size_t j = 0; j < d; j++)
                y[j] += row[j];
        }
        float s = 1.0f / (float)cnt;
        for (size_t j = 0; j < d; j++)
            y[j] *= s;
    }
    return KEEL_OK;
}

/* y = [x1 x2 ...] along columns. */
static void fwd_concat(keel_exec *x, int i, size_t rows)
{
    const keel_node *nd = &x->g->nodes[i];
    size_t n = nd->cols, off = 0;
    for (int j = 0; j < nd->n_inputs; j++) {
        size_t c = in_cols(x, nd, j);
        const float *src = in_val(x, nd, j);
        for (size_t r = 0; r < rows; r++)
            memcpy(x->val[i] + r * n + off, src + r * c, c * sizeof(float));
        off += c;
    }
}

/* The loss ops: [1, 1] = Σ_r w_r ℓ_r / (Σ_r w_r · c) (c = 1 for SOFTMAX_CE). aux keeps each
 * row's log-sum-exp (SOFTMAX_CE) and, at [max_rows], Σ_r w_r. */
static int fwd_loss(keel_exec *x, int i, size_t rows)
{
    const keel_node *nd = &x->g->nodes[i];
    const float *z = in_val(x, nd, 0);
    const float *w = nd->n_inputs == 3 ? in_val(x, nd, 2) : NULL;
    size_t c = in_cols(x, nd, 0);
    float *aux = x->aux[i];
    double sum_w = 0, total = 0;
    for (size_t r = 0; r < rows; r++)
        sum_w += w ? w[r] : 1.0;
    if (nd->op == KEEL_OP_SOFTMAX_CE) {
        const int32_t *lab = x->idx[nd->inputs[1]];
        for (size_t r = 0; r < rows; r++) {
            const float *zr = z + r * c;
            if (lab[r] < 0 || (size_t)lab[r] >= c) return KEEL_EINVAL;
            double mx = zr[0], s = 0;
            for (size_t k = 1; k < c; k++)
                mx = zr[k] > mx ? zr[k] : mx;
            for (size_t k = 0; k < c; k++)
                s += exp((double)zr[k] - mx);
            double lse = mx + log(s);
            aux[r] = (float)lse;
            total += (w ? w[r] : 1.0) * (lse - zr[lab[r]]);
        }
        c = 1;
    } else {
        const float *t = in_val(x, nd, 1);
        double delta = nd->attr;
        for (size_t r = 0; r < rows; r++) {
            double row = 0;
            for (size_t j = 0; j < c; j++) {
                double zv = z[r * c + j], tv = t[r * c + j], d = zv - tv;
                switch (nd->op) {
                case KEEL_OP_SIGMOID_BCE:
                    /* -t log σ(z) - (1-t) log(1-σ(z)) = max(z,0) - z t + log(1 + e^-|z|) */
                    row += (zv > 0 ? zv : 0) - zv * tv + log1p(exp(-fabs(zv)));
                    break;
                case KEEL_OP_MSE:
                    row += d * d;
                    break;
                default: /* HUBER */
                    row += fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
                    break;
                }
            }
            total += (w ? w[r] : 1.0) * row;
        }
    }
    aux[x->max_rows] = (float)sum_w;
    x->val[i][0] = sum_w != 0 ? (float)(total / (sum_w * (double)c)) : 0.0f;
    x->loss_num = total;
    x->loss_den = sum_w * (double)c;
    return KEEL_OK;
}

int keel_exec_forward(keel_exec *x, int target, size_t rows, bool train)
{
    if (!x) return KEEL_EINVAL;
    x->fwd_target = -1; /* a failed forward leaves nothing to back-propagate */
    x->bwd_done = false;
    if (target < 0 || target >= x->n || rows == 0 || rows > x->max_rows) return KEEL_EINVAL;
    if (target != x->plan_target) plan(x, target);
    const keel_graph *g = x->g;
    for (int t = 0; t < x->n_order; t++) {
        int i = x->order[t];
        const keel_node *nd = &g->nodes[i];
        float *y = x->val[i];
        int rc = KEEL_OK;
        switch (nd->op) {
        case KEEL_OP_INPUT:
        case KEEL_OP_INDEX:
        case KEEL_OP_BAG:
        case KEEL_OP_PARAM:
            break;
        case KEEL_OP_LINEAR: {
            /* y = x W + b, with the following ReLU of y in the same pass */
            float *relu = NULL;
            if (t + 1 < x->n_order) {
                const keel_node *next = &g->nodes[x->order[t + 1]];
                if (next->op == KEEL_OP_RELU && next->inputs[0] == i) relu = x->val[x->order[++t]];
            }
            keel_linear_forward(rows, nd->cols, in_cols(x, nd, 0), in_val(x, nd, 0),
                                in_val(x, nd, 1), nd->n_inputs == 3 ? in_val(x, nd, 2) : NULL, y,
                                relu);
            break;
        }
        case KEEL_OP_ADD:
            keel_k_add(rows * nd->cols, in_val(x, nd, 0), in_val(x, nd, 1), y);
            break;
        case KEEL_OP_RELU: /* y = max(0, x) */
        case KEEL_OP_GELU: /* y = x Φ(x) */
        case KEEL_OP_SILU: /* y = x σ(x) */
            /* nn/activation.h: the same maths as the row plan and the explainer; SiLU's
             * kernel gives the same bits as the double formula (checked for every float in
             * tests/unit/test_api.c), about five times faster. */
            keel_act_forward(nd->op, rows * nd->cols, in_val(x, nd, 0), y);
            break;
        case KEEL_OP_DROPOUT:
            fwd_dropout(x, i, rows, train);
            break;
        case KEEL_OP_LAYERNORM:
            fwd_layernorm(x, i, rows);
            break;
        case KEEL_OP_BATCHNORM:
            fwd_batchnorm(x, i, rows, train);
            break;
        case KEEL_OP_EMBED:
            rc = fwd_embed(x, i, rows);
            break;
        case KEEL_OP_EMBED_BAG:
            rc = fwd_embed_bag(x, i, rows);
            break;
        case KEEL_OP_CONCAT:
            fwd_concat(x, i, rows);
            break;
        case KEEL_OP_SOFTMAX_CE:
        case KEEL_OP_SIGMOID_BCE:
        case KEEL_OP_MSE:
        case KEEL_OP_HUBER:
            rc = fwd_loss(x, i, rows);
            break;
        default:
            rc = KEEL_EINVAL;
            break;
        }
        if (rc != KEEL_OK) return rc;
    }
    x->rows = rows;
    x->fwd_target = target;
    x->fwd_train = train;
    return KEEL_OK;
}

/* ---- backward ------------------------------------------------------------------------ */

static void bwd_gelu_silu(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    bool acc;
    float *dx = grad_to(x, nd, 0, &acc);
    if (!dx) return;
    const float *in = in_val(x, nd, 0), *dy = x->grad[i];
    size_t n = x->rows * nd->cols;
    for (size_t j = 0; j < n; j++) {
        /* GELU: Φ(x) + x φ(x); SiLU: σ(x) (1 + x (1 - σ(x))), the double form */
        double v = in[j];
        double d = nd->op == KEEL_OP_GELU ? keel_act_gelu_grad(v) : keel_act_silu_grad(v);
        put(&dx[j], (float)(dy[j] * d), acc);
    }
}

static void bwd_dropout(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    bool acc;
    float *dx = grad_to(x, nd, 0, &acc);
    if (!dx) return;
    const float *dy = x->grad[i], *mask = x->aux[i];
    size_t n = x->rows * nd->cols;
    if (!x->fwd_train || nd->attr == 0.0f) {
        keel_k_accum(n, dy, dx, acc);
        return;
    }
    for (size_t j = 0; j < n; j++)
        put(&dx[j], dy[j] * mask[j], acc);
}

/* dγ = Σ_r dy x̂, dβ = Σ_r dy (into the param gradients, zeroed first when not yet set). */
static void norm_param_grads(keel_exec *x, const keel_node *nd, const float *dy,
                             const float *xhat_src, size_t rows, const float *mu, const float *rs,
                             bool per_row)
{
    size_t n = nd->cols;
    bool ag, ab;
    float *dg = grad_to(x, nd, 1, &ag);
    float *db = grad_to(x, nd, 2, &ab);
    if (dg && !ag) memset(dg, 0, n * sizeof *dg);
    if (db && !ab) memset(db, 0, n * sizeof *db);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            float m = per_row ? mu[r] : mu[j], s = per_row ? rs[r] : rs[j];
            float xh = (xhat_src[r * n + j] - m) * s;
            if (dg) dg[j] += dy[r * n + j] * xh;
            if (db) db[j] += dy[r * n + j];
        }
}

/* dx = rstd (g - mean(g) - x̂ mean(g x̂)) with g = dy γ, per row. */
static void bwd_layernorm(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    size_t n = nd->cols, rows = x->rows;
    const float *in = in_val(x, nd, 0), *gamma = in_val(x, nd, 1), *dy = x->grad[i];
    const float *mu = x->aux[i], *rs = x->aux[i] + x->max_rows;
    norm_param_grads(x, nd, dy, in, rows, mu, rs, true);
    bool acc;
    float *dx = grad_to(x, nd, 0, &acc);
    if (!dx) return;
    for (size_t r = 0; r < rows; r++) {
        double sg = 0, sgx = 0;
        for (size_t j = 0; j < n; j++) {
            double g = (double)dy[r * n + j] * gamma[j];
            double xh = ((double)in[r * n + j] - mu[r]) * rs[r];
            sg += g;
            sgx += g * xh;
        }
        sg /= (double)n;
        sgx /= (double)n;
        for (size_t j = 0; j < n; j++) {
            double g = (double)dy[r * n + j] * gamma[j];
            double xh = ((double)in[r * n + j] - mu[r]) * rs[r];
            put(&dx[r * n + j], (float)(rs[r] * (g - sg - xh * sgx)), acc);
        }
    }
}

/* train: dx = γ rstd / B (B dy - Σ dy - x̂ Σ dy x̂) per column; eval: dx = dy γ rstd. */
static void bwd_batchnorm(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    size_t n = nd->cols, rows = x->rows;
    const float *in = in_val(x, nd, 0), *gamma = in_val(x, nd, 1), *dy = x->grad[i];
    const float *mu = x->aux[i], *rs = mu + n;
    double *acc_s = (double *)(void *)(x->aux[i] + 2 * n);
    norm_param_grads(x, nd, dy, in, rows, mu, rs, false);
    bool acc;
    float *dx = grad_to(x, nd, 0, &acc);
    if (!dx) return;
    if (!x->fwd_train) {
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++)
                put(&dx[r * n + j], dy[r * n + j] * gamma[j] * rs[j], acc);
        return;
    }
    memset(acc_s, 0, 2 * n * sizeof *acc_s);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            double xh = ((double)in[r * n + j] - mu[j]) * rs[j];
            acc_s[j] += dy[r * n + j];
            acc_s[n + j] += dy[r * n + j] * xh;
        }
    double b = (double)rows;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            double xh = ((double)in[r * n + j] - mu[j]) * rs[j];
            double v = gamma[j] * rs[j] / b * (b * dy[r * n + j] - acc_s[j] - xh * acc_s[n + j]);
            put(&dx[r * n + j], (float)v, acc);
        }
}

/* dT[idx[r]] += dy[r] (EMBED), dT[id] += dy[r] / |bag| (EMBED_BAG). */
static void bwd_embed(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    bool acc;
    float *dt = grad_to(x, nd, 1, &acc);
    if (!dt) return;
    const keel_node *tab = &x->g->nodes[nd->inputs[1]];
    size_t d = nd->cols, rows = x->rows;
    const float *dy = x->grad[i];
    if (!acc) memset(dt, 0, tab->rows * d * sizeof *dt);
    if (nd->op == KEEL_OP_EMBED) {
        const int32_t *idx = x->idx[nd->inputs[0]];
        size_t c = in_cols(x, nd, 0), col = (size_t)nd->iattr;
        for (size_t r = 0; r < rows; r++) {
            float *row = dt + (size_t)idx[r * c + col] * d;
            for (size_t j = 0; j < d; j++)
                row[j] += dy[r * d + j];
        }
        return;
    }
    const uint32_t *off = x->bag_off[nd->inputs[0]];
    const int32_t *ids = x->bag_ids[nd->inputs[0]];
    for (size_t r = 0; r < rows; r++) {
        uint32_t cnt = off[r + 1] - off[r];
        if (!cnt) continue;
        float s = 1.0f / (float)cnt;
        for (uint32_t q = off[r]; q < off[r + 1]; q++) {
            float *row = dt + ((uint32_t)ids[q] % tab->rows) * d;
            for (size_t j = 0; j < d; j++)
                row[j] += s * dy[r * d + j];
        }
    }
}

static void bwd_concat(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    size_t n = nd->cols, off = 0, rows = x->rows;
    const float *dy = x->grad[i];
    for (int j = 0; j < nd->n_inputs; j++) {
        size_t c = in_cols(x, nd, j);
        bool acc;
        float *dx = grad_to(x, nd, j, &acc);
        if (dx)
            for (size_t r = 0; r < rows; r++)
                keel_k_accum(c, dy + r * n + off, dx + r * c, acc);
        off += c;
    }
}

/* dz = w_r ∂ℓ/∂z / (Σ w · c): softmax − onehot, σ(z) − t, 2 (z − t), clamp(z − t, ±δ). */
static void bwd_loss(keel_exec *x, int i)
{
    const keel_node *nd = &x->g->nodes[i];
    bool acc;
    float *dz = grad_to(x, nd, 0, &acc);
    if (!dz) return;
    const float *z = in_val(x, nd, 0);
    const float *w = nd->n_inputs == 3 ? in_val(x, nd, 2) : NULL;
    size_t c = in_cols(x, nd, 0), rows = x->rows;
    double sum_w = x->aux[i][x->max_rows];
    double scale =
        sum_w != 0 ? 1.0 / (sum_w * (nd->op == KEEL_OP_SOFTMAX_CE ? 1.0 : (double)c)) : 0;
    if (nd->op == KEEL_OP_SOFTMAX_CE) {
        const int32_t *lab = x->idx[nd->inputs[1]];
        for (size_t r = 0; r < rows; r++) {
            double s = (w ? w[r] : 1.0) * scale, lse = x->aux[i][r];
            for (size_t k = 0; k < c; k++) {
                double p = exp((double)z[r * c + k] - lse) - (k == (size_t)lab[r] ? 1.0 : 0.0);
                put(&dz[r * c + k], (float)(s * p), acc);
            }
        }
        return;
    }
    const float *t = in_val(x, nd, 1);
    double delta = nd->attr;
    for (size_t r = 0; r < rows; r++) {
        double s = (w ? w[r] : 1.0) * scale;
        for (size_t j = 0; j < c; j++) {
            double zv = z[r * c + j], d = zv - t[r * c + j], gv;
            switch (nd->op) {
            case KEEL_OP_SIGMOID_BCE:
                gv = keel_act_sigmoid(zv) - t[r * c + j];
                break;
            case KEEL_OP_MSE:
                gv = 2.0 * d;
                break;
            default:
                gv = d > delta ? delta : d < -delta ? -delta : d;
                break;
            }
            put(&dz[r * c + j], (float)(s * gv), acc);
        }
    }
}

int keel_exec_backward(keel_exec *x, int loss, float *grad)
{
    if (!x || loss < 0 || loss >= x->n || !is_loss(x->g->nodes[loss].op)) return KEEL_EINVAL;
    if (!x->with_grad || x->fwd_target != loss) return KEEL_ESTATE;
    const keel_graph *g = x->g;
    if (!grad && g->n_params) return KEEL_EINVAL;
    x->grad_out = grad;
    memset(x->gset, 0, (size_t)x->n);
    size_t rows = x->rows;
    for (int t = x->n_order - 1; t >= 0; t--) {
        int i = x->order[t];
        const keel_node *nd = &g->nodes[i];
        if (i == loss) {
            bwd_loss(x, i);
            continue;
        }
        /* only dense nodes pass gradients on, and only once one reached them */
        if (!is_dense(nd->op) || !x->gset[i]) continue;
        const float *dy = x->grad[i];
        bool acc;
        switch (nd->op) {
        case KEEL_OP_LINEAR: {
            /* dW = x^T dy, db = Σ_r dy, dx = dy W^T */
            bool aw = false, ab = false, ax = false;
            float *dw = grad_to(x, nd, 1, &aw);
            float *db = nd->n_inputs == 3 ? grad_to(x, nd, 2, &ab) : NULL;
            float *dx = grad_to(x, nd, 0, &ax);
            keel_linear_backward(rows, nd->cols, in_cols(x, nd, 0), in_val(x, nd, 0),
                                 in_val(x, nd, 1), dy, dw, aw, db, ab, dx, ax);
            break;
        }
        case KEEL_OP_ADD:
            for (int j = 0; j < 2; j++) {
                float *dx = grad_to(x, nd, j, &acc);
                if (dx) keel_k_accum(rows * nd->cols, dy, dx, acc);
            }
            break;
        case KEEL_OP_RELU: {
            float *dx = grad_to(x, nd, 0, &acc);
            if (dx) keel_k_relu_bwd(rows * nd->cols, x->val[i], dy, dx, acc);
            break;
        }
        case KEEL_OP_GELU:
        case KEEL_OP_SILU:
            bwd_gelu_silu(x, i);
            break;
        case KEEL_OP_DROPOUT:
            bwd_dropout(x, i);
            break;
        case KEEL_OP_LAYERNORM:
            bwd_layernorm(x, i);
            break;
        case KEEL_OP_BATCHNORM:
            bwd_batchnorm(x, i);
            break;
        case KEEL_OP_EMBED:
        case KEEL_OP_EMBED_BAG:
            bwd_embed(x, i);
            break;
        case KEEL_OP_CONCAT:
            bwd_concat(x, i);
            break;
        default:
            break;
        }
    }
    /* Zero what no path reached: unused parameters and the alignment gaps between blocks. */
    size_t pos = 0;
    for (int i = 0; i < x->n; i++) {
        const keel_node *nd = &g->nodes[i];
        if (nd->op != KEEL_OP_PARAM) continue;
        size_t size = nd->rows * nd->cols;
        memset(grad + pos, 0, (nd->offset - pos) * sizeof *grad);
        if (!x->gset[i]) memset(grad + nd->offset, 0, size * sizeof *grad);
        pos = nd->offset + size;
    }
    if (g->n_params > pos) memset(grad + pos, 0, (g->n_params - pos) * sizeof *grad);
    x->grad_out = NULL;
    x->bwd_done = true;
    return KEEL_OK;
}

/* ---- per-example gradient norms ------------------------------------------------------ */

/* Σ_j v_j² in double. */
static double sumsq(const float *v, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)v[j] * v[j];
    return s;
}

int keel_exec_example_grad_norms(const keel_exec *x, double *norms_sq)
{
    if (!x || !x->bwd_done) return KEEL_ESTATE;
    const keel_graph *g = x->g;
    size_t rows = x->rows;
    /* Each parameter must feed one op of the plan: a shared one's per-example gradient is
     * a sum whose norm does not split into the ops' norms. */
    for (int p = 0; p < x->n; p++) {
        if (g->nodes[p].op != KEEL_OP_PARAM || !x->active[p]) continue;
        int consumers = 0;
        for (int t = 0; t < x->n_order; t++) {
            const keel_node *nd = &g->nodes[x->order[t]];
            for (int j = 0; j < nd->n_inputs; j++)
                if (nd->inputs[j] == p) consumers++;
        }
        if (consumers > 1) return KEEL_EINVAL;
    }
    for (size_t r = 0; r < rows; r++)
        norms_sq[r] = 0;
    for (int t = 0; t < x->n_order; t++) {
        int i = x->order[t];
        const keel_node *nd = &g->nodes[i];
        bool has_param = false;
        for (int j = 0; j < nd->n_inputs; j++)
            if (g->nodes[nd->inputs[j]].op == KEEL_OP_PARAM) has_param = true;
        if (!has_param || !x->gset[i]) continue; /* no gradient reached it: no share */
        const float *dy = x->grad[i];
        size_t n = nd->cols;
        switch (nd->op) {
        case KEEL_OP_LINEAR: {
            /* Row r's share of dW is the outer product x_r^T dy_r, whose squared Frobenius
             * norm is |x_r|² |dy_r|² (the "ghost norm": no [k, n] matrix per row); of db,
             * dy_r itself. */
            const float *in = in_val(x, nd, 0);
            size_t k = in_cols(x, nd, 0);
            for (size_t r = 0; r < rows; r++) {
                double d2 = sumsq(dy + r * n, n);
                norms_sq[r] += sumsq(in + r * k, k) * d2 + (nd->n_inputs == 3 ? d2 : 0);
            }
            break;
        }
        case KEEL_OP_EMBED: /* row r adds dy_r to one row of T */
            for (size_t r = 0; r < rows; r++)
                norms_sq[r] += sumsq(dy + r * n, n);
            break;
        case KEEL_OP_EMBED_BAG: {
            /* Row r adds dy_r / |bag| to T's row of each id (mod V); an id m times in the bag
             * adds m dy_r / |bag|: |g_r|² = Σ_distinct (m / |bag|)² |dy_r|². */
            const uint32_t *off = x->bag_off[nd->inputs[0]];
            const int32_t *ids = x->bag_ids[nd->inputs[0]];
            uint32_t v = (uint32_t)g->nodes[nd->inputs[1]].rows;
            for (size_t r = 0; r < rows; r++) {
                uint32_t lo = off[r], hi = off[r + 1];
                if (hi == lo) continue;
                double mult = 0;
                for (uint32_t q = lo; q < hi; q++) {
                    uint32_t id = (uint32_t)ids[q] % v, m = 0;
                    bool first = true;
                    for (uint32_t q2 = lo; q2 < hi; q2++)
                        if ((uint32_t)ids[q2] % v == id) {
                            if (q2 < q) first = false;
                            m++;
                        }
                    if (first) mult += (double)m * m;
                }
                double len = hi - lo;
                norms_sq[r] += mult / (len * len) * sumsq(dy + r * n, n);
            }
            break;
        }
        case KEEL_OP_LAYERNORM: {
            /* dγ_r = dy_r ⊙ x̂_r, dβ_r = dy_r, x̂_r = (x_r − μ_r) / sqrt(σ²_r + ε) */
            const float *in = in_val(x, nd, 0), *mu = x->aux[i], *rs = x->aux[i] + x->max_rows;
            for (size_t r = 0; r < rows; r++) {
                double s = 0;
                for (size_t j = 0; j < n; j++) {
                    double h = ((double)in[r * n + j] - mu[r]) * rs[r] * dy[r * n + j];
                    s += h * h;
                }
                norms_sq[r] += s + sumsq(dy + r * n, n);
            }
            break;
        }
        default:
            /* Batch norm in training couples the rows through the batch statistics: a row's
             * gradient is not its own. Nothing else takes parameters. */
            return KEEL_EINVAL;
        }
    }
    return KEEL_OK;
}
