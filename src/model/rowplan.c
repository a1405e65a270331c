/*
 * rowplan.c — the one-row fast path of a loaded model.
 *
 * One row at a time (the C API's predict_row and predict_fields) the graph executor's fixed
 * costs are a large share of a few microseconds, so a loaded model also gets a row plan: the
 * ops the logits need, in the executor's order, each one call of the same kernels (one-row
 * matrix-vector products; activations through nn/activation.h, the executor's maths),
 * dropout and embedding lookups as pointers instead of copies, and the per-column embedding
 * (block-diagonal: zero outside each column's block, as training keeps it) multiplied by its
 * blocks only. Weights that are exactly bfloat16 (keel train's default) are read as 16 bits,
 * the same products in the same order. Every value equals the executor's, so a row predicts
 * the same either way; a network with an op the plan does not know (normalisation, text
 * bags, ...) simply has no plan.
 */
#include "model/model_impl.h"
#include "nn/activation.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"

#include <string.h>

enum step_kind { STEP_LINEAR, STEP_BLOCKS, STEP_ACT, STEP_ALIAS, STEP_EMBED, STEP_CONCAT };

typedef struct row_step {
    int kind;
    int node;   /* the node whose value it computes */
    int relu;   /* LINEAR, BLOCKS: the ReLU of it computed in the same step, or -1 */
    size_t off; /* where in the scratch its value goes (computed steps) */
    size_t relu_off;
    uint16_t *bf16; /* LINEAR: its weights packed by keel_k_pack_bf16 when they are exactly
                       bfloat16 (keel train's default), else NULL; 64-byte aligned in */
    void *bf16_mem; /* this allocation */
} row_step;

struct keel_rowplan {
    row_step *steps;
    int n_steps;
    size_t scratch;          /* floats of scratch a workspace needs */
    keel_k_blockpack blocks; /* the BLOCKS step's weights (one such step at most) */
};

void model_rowplan_free(struct keel_rowplan *p)
{
    if (!p) return;
    for (int t = 0; t < p->n_steps; t++)
        keel_free(p->steps[t].bf16_mem);
    keel_free(p->steps);
    keel_k_blockpack_free(&p->blocks);
    keel_free(p);
}

size_t model_rowplan_scratch(const struct keel_rowplan *p)
{
    return p->scratch;
}

/* The blocks of a LINEAR over the dense input whose weight is zero outside them, grouping
 * neighbouring columns with the same span of nonzero rows (up to 16). Only worth it, and
 * only exact, when the layer is wider than 64 (keel_k_gemv_blocks_avx512) and the blocks
 * hold at most a quarter of the weights: then packs them into *out. KEEL_OK with out->n_groups
 * 0 when not. */
static int find_blocks(const keel_graph *g, const keel_node *lin, keel_k_blockpack *out)
{
    memset(out, 0, sizeof *out);
    const keel_node *wn = &g->nodes[lin->inputs[1]];
    size_t k = wn->rows, n = wn->cols;
    if (n <= 64 || k == 0 || k > UINT32_MAX || n > UINT32_MAX) return KEEL_OK;
    const float *w = g->params + wn->offset;
    uint32_t *span = keel_calloc(2 * n, sizeof *span); /* lo, hi per column */
    keel_k_block *b = keel_calloc(n, sizeof *b);
    if (!span || !b) {
        keel_free(span);
        keel_free(b);
        return KEEL_ENOMEM;
    }
    /* Row by row (the order of the weights in memory): hi is one past the last nonzero row
     * seen, lo the first; a column with none keeps the empty span [0, 0). */
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++)
            if (w[i * n + j] != 0.0f) {
                if (span[2 * j + 1] == 0) span[2 * j] = (uint32_t)i;
                span[2 * j + 1] = (uint32_t)i + 1;
            }
    size_t nb = 0, cost = 0;
    for (size_t j0 = 0, j1; j0 < n; j0 = j1) {
        for (j1 = j0 + 1; j1 < n && j1 - j0 < 16 && span[2 * j1] == span[2 * j0] &&
                          span[2 * j1 + 1] == span[2 * j0 + 1];
             j1++)
            ;
        uint32_t lo = span[2 * j0], hi = span[2 * j0 + 1];
        b[nb++] = (keel_k_block){(uint32_t)j0, (uint32_t)(j1 - j0), lo, hi > lo ? hi - lo : 0};
        cost += hi > lo ? hi - lo : 0; /* one vector per row of a block */
    }
    keel_free(span);
    if (cost * 4 > k * ((n + 15) / 16)) { /* dense: k rows of n / 16 vectors */
        keel_free(b);
        return KEEL_OK;
    }
    int rc = keel_k_pack_blocks(w, n, b, nb, out);
    keel_free(b);
    return rc;
}

/* The weights of a LINEAR as bfloat16 (st->bf16) when they all are exactly that and the
 * kernel applies (wider than 64, whole vectors); NULL otherwise. Rows of whole vectors start
 * on 64-byte boundaries, as the float weights do (a load split across two cache lines costs
 * both). KEEL_ENOMEM only. */
static int pack_bf16(const keel_graph *g, const keel_node *lin, row_step *st)
{
    const keel_node *wn = &g->nodes[lin->inputs[1]];
    size_t k = wn->rows, n = wn->cols;
    if (!keel_tensor_simd() || n <= 64 || n % 16 || k == 0) return KEEL_OK;
    char *mem = keel_malloc(k * n * sizeof(uint16_t) + 64);
    if (!mem) return KEEL_ENOMEM;
    uint16_t *w = (uint16_t *)(mem + (64 - (uintptr_t)mem % 64) % 64);
    if (keel_k_pack_bf16(k, n, g->params + wn->offset, w)) {
        st->bf16 = w;
        st->bf16_mem = mem;
    } else {
        keel_free(mem);
    }
    return KEEL_OK;
}

int model_rowplan_build(keel_model *m)
{
    const keel_graph *g = m->graph;
    int n = g->n_nodes, target = m->node_logits;
    uint8_t *active = keel_calloc((size_t)n + 1, 1);
    struct keel_rowplan *p = keel_calloc(1, sizeof *p);
    if (p) p->steps = keel_calloc((size_t)n + 1, sizeof *p->steps);
    int rc = KEEL_ENOMEM;
    if (!active || !p || !p->steps) goto done;
    rc = KEEL_OK;
    /* The ancestors of the logits, in node order: the executor's plan. */
    active[target] = 1;
    for (int i = target; i >= 0; i--)
        if (active[i])
            for (int j = 0; j < g->nodes[i].n_inputs; j++)
                active[g->nodes[i].inputs[j]] = 1;
    bool ok = true;
    for (int i = 0; i <= target && ok; i++) {
        if (!active[i]) continue;
        const keel_node *nd = &g->nodes[i];
        row_step st = {.kind = -1, .node = i, .relu = -1, .off = p->scratch};
        switch (nd->op) {
        case KEEL_OP_INPUT:
            ok = i == m->node_dense;
            break;
        case KEEL_OP_INDEX:
            ok = i == m->node_index;
            break;
        case KEEL_OP_PARAM:
            break;
        case KEEL_OP_LINEAR: {
            st.kind = STEP_LINEAR;
            /* as the executor: a ReLU of it next in order is computed in the same pass */
            int next = i + 1;
            while (next <= target && !active[next])
                next++;
            if (next <= target && g->nodes[next].op == KEEL_OP_RELU &&
                g->nodes[next].inputs[0] == i) {
                st.relu = next;
                active[next] = 0; /* done here */
            }
            if (nd->inputs[0] == m->node_dense && !p->blocks.n_groups) {
                if ((rc = find_blocks(g, nd, &p->blocks))) goto done;
                if (p->blocks.n_groups) st.kind = STEP_BLOCKS;
            }
            if (st.kind == STEP_LINEAR && (rc = pack_bf16(g, nd, &st))) goto done;
            break;
        }
        case KEEL_OP_RELU:
        case KEEL_OP_SILU:
        case KEEL_OP_GELU:
            st.kind = STEP_ACT;
            break;
        case KEEL_OP_DROPOUT: /* the identity when predicting */
            st.kind = STEP_ALIAS;
            break;
        case KEEL_OP_EMBED:
            st.kind = STEP_EMBED;
            break;
        case KEEL_OP_CONCAT:
            st.kind = STEP_CONCAT;
            break;
        default:
            ok = false;
            break;
        }
        if (!ok || st.kind < 0) {
            keel_free(st.bf16_mem);
            continue;
        }
        if (st.kind != STEP_ALIAS && st.kind != STEP_EMBED) p->scratch += (nd->cols + 15) & ~15ul;
        if (st.relu >= 0) {
            st.relu_off = p->scratch;
            p->scratch += (nd->cols + 15) & ~15ul;
        }
        p->steps[p->n_steps++] = st;
    }
    if (ok && g->nodes[target].op != KEEL_OP_PARAM && g->nodes[target].op != KEEL_OP_INPUT) {
        m->plan = p;
        p = NULL;
    }
done:
    keel_free(active);
    model_rowplan_free(p);
    return rc;
}

/* A node's value during a plan run: parameters straight from the flat buffer. */
static inline const float *plan_val(const keel_graph *g, const float **val, int node)
{
    const keel_node *nd = &g->nodes[node];
    return nd->op == KEEL_OP_PARAM ? g->params + nd->offset : val[node];
}

int model_rowplan_run_to(const keel_model *m, keel_workspace *ws, const float *dense, int stop)
{
    const struct keel_rowplan *p = m->plan;
    const keel_graph *g = m->graph;
    const float **val = ws->val;
    float *s = ws->scratch;
    if (m->node_dense >= 0) val[m->node_dense] = dense;
    for (int t = 0; t < p->n_steps; t++) {
        const row_step *st = &p->steps[t];
        const keel_node *nd = &g->nodes[st->node];
        float *y = s + st->off;
        switch (st->kind) {
        case STEP_BLOCKS:
        case STEP_LINEAR: {
            const float *x = plan_val(g, val, nd->inputs[0]);
            const float *w = plan_val(g, val, nd->inputs[1]);
            const float *b = nd->n_inputs == 3 ? plan_val(g, val, nd->inputs[2]) : NULL;
            size_t k = g->nodes[nd->inputs[0]].cols;
            float *relu = st->relu >= 0 ? s + st->relu_off : NULL;
            /* The blocks give the dense product's values only for finite inputs. */
            if (st->kind == STEP_BLOCKS && keel_tensor_simd() && keel_k_all_finite(k, x)) {
                keel_k_gemv_blocks_avx512(x, &p->blocks, b, y);
                if (relu) keel_k_relu(nd->cols, y, relu);
            } else if (st->bf16 && keel_tensor_simd()) { /* the bits the float weights give */
                keel_k_gemv_bf16_avx512(nd->cols, k, x, st->bf16, b, y, relu);
            } else {
                keel_linear_forward(1, nd->cols, k, x, w, b, y, relu);
            }
            val[st->node] = y;
            if (relu) val[st->relu] = relu;
            break;
        }
        case STEP_ACT: /* nn/activation.h: the executor's maths, so the executor's bits */
            keel_act_forward(nd->op, nd->cols, plan_val(g, val, nd->inputs[0]), y);
            val[st->node] = y;
            break;
        case STEP_ALIAS:
            val[st->node] = plan_val(g, val, nd->inputs[0]);
            break;
        case STEP_EMBED: {
            const keel_node *tn = &g->nodes[nd->inputs[1]];
            int32_t code = ws->index[nd->iattr];
            if (code < 0 || (size_t)code >= tn->rows) return KEEL_EINVAL;
            val[st->node] = g->params + tn->offset + (size_t)code * tn->cols;
            break;
        }
        case STEP_CONCAT: {
            size_t at = 0;
            for (int j = 0; j < nd->n_inputs; j++) {
                size_t c = g->nodes[nd->inputs[j]].cols;
                memcpy(y + at, plan_val(g, val, nd->inputs[j]), c * sizeof *y);
                at += c;
            }
            val[st->node] = y;
            break;
        }
        }
        if (st->node == stop || st->relu == stop) break;
    }
    return KEEL_OK;
}

int model_rowplan_run(const keel_model *m, keel_workspace *ws, const float *dense, float *logits)
{
    int rc = model_rowplan_run_to(m, ws, dense, m->node_logits);
    if (!rc) memcpy(logits, ws->val[m->node_logits], m->n_out * sizeof *logits);
    return rc;
}
