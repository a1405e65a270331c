/*
 * model.c — building the network for a fitted transform, saving and loading artifacts, and
 * predicting.
 *
 * The network is a plain MLP over the concatenation of the dense features, one embedding per
 * categorical column and one embedding bag per text column:
 *   x = [dense | E_1[c_1] | ... | mean(B_1[bag_1]) | ...]
 *   h = dropout(act(x W_1 + b_1)) ... ; logits = h W_out + b_out
 * with a loss node for training (sigmoid BCE, softmax CE or MSE, weighted per row).
 *
 * The manifest (docs/artifact.md) holds everything needed to predict as JSON; the parameters
 * and batch-norm state are the tensors "params" and "state". Loading re-validates all of it
 * as untrusted input and copies the parameters out, so the file can be closed at once.
 *
 * One row at a time (the C API's predict_row and predict_fields) the graph executor's fixed
 * costs are a large share of a few microseconds, so a loaded model also gets a row plan: the
 * ops the logits need, in the executor's order, each one call of the same kernels (one-row
 * matrix-vector products, activations through nn/activation.h as the executor computes them),
 * dropout and embedding lookups as pointers instead of copies, and the per-column embedding
 * (block-diagonal: zero outside each column's block, as training keeps it) multiplied by its
 * blocks only. Every value equals the executor's, so a row predicts the same either way; a
 * network with an op the plan does not know (normalisation, text bags, ...) simply has
 * no plan. Inputs are also indexed by name at load time, for the API's named fields.
 */
#include "model/model.h"
#include "data/validate.h"
#include "model/artifact.h"
#include "nn/activation.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"

#include <math.h>
#include <string.h>

void keel_hparams_init(keel_hparams *h)
{
    memset(h, 0, sizeof *h);
    h->hidden[0] = 128;
    h->hidden[1] = 128;
    h->n_hidden = 2;
    h->activation = KEEL_OP_SILU;
    h->dropout = 0.3f;
    h->lr = 1e-3f;
    h->weight_decay = 1e-4f;
    h->patience = 16;
    h->val_fraction = 0.15f;
    h->bins = 16;
    h->feature_dim = 8;
    h->seed = 42;
    h->threads = 1;
    h->calibrate = true;
    h->bf16_weights = true;
    h->task = -1;
}

static const char *class_weight_name(int w)
{
    return w == 1 ? "none" : w == 2 ? "balanced" : "auto";
}

int keel_hparams_to_json(const keel_hparams *h, keel_buf *b)
{
    int rc = keel_buf_puts(b, "{\"hidden\":[");
    for (int i = 0; i < h->n_hidden; i++)
        rc |= keel_buf_printf(b, "%s%zu", i ? "," : "", h->hidden[i]);
    rc |= keel_buf_printf(b, "],\"activation\":\"%s\",\"dropout\":", keel_op_name(h->activation));
    rc |= keel_buf_json_num(b, h->dropout);
    rc |= keel_buf_puts(b, ",\"lr\":");
    rc |= keel_buf_json_num(b, h->lr);
    rc |= keel_buf_puts(b, ",\"weight_decay\":");
    rc |= keel_buf_json_num(b, h->weight_decay);
    rc |= keel_buf_printf(
        b,
        ",\"batch_size\":%zu,\"max_epochs\":%d,\"patience\":%d,\"bins\":%zu,\"feature_dim\":%zu,",
        h->batch_size, h->max_epochs, h->patience, h->bins, h->feature_dim);
    rc |= keel_buf_puts(b, "\"val_fraction\":");
    rc |= keel_buf_json_num(b, h->val_fraction);
    rc |=
        keel_buf_printf(b,
                        ",\"seed\":%llu,\"threads\":%d,\"class_weight\":\"%s\","
                        "\"calibrate\":%s,\"weight_precision\":\"%s\",\"optimizer\":\"adamw\"}",
                        (unsigned long long)h->seed, h->threads, class_weight_name(h->class_weight),
                        h->calibrate ? "true" : "false", h->bf16_weights ? "bf16" : "fp32");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* ---- building ---- */

/* Output block of feature f of the per-column embedding: numeric columns with bins get
 * feature_dim outputs, every other dense column passes through its own width. */
static size_t fe_block(const keel_model *m, const keel_feature *f)
{
    if (f->kind == KEEL_FEAT_NUMERIC && f->n_bins) return m->hp.feature_dim;
    return f->n_dense_out;
}

static size_t feature_embed_width(const keel_model *m)
{
    if (!m->hp.feature_dim) return 0;
    size_t w = 0, binned = 0;
    for (size_t i = 0; i < m->tf.n_features; i++) {
        w += fe_block(m, &m->tf.features[i]);
        binned += m->tf.features[i].kind == KEEL_FEAT_NUMERIC && m->tf.features[i].n_bins;
    }
    return binned ? w : 0;
}

int keel_model_init_feature_embed(keel_model *m)
{
    if (m->node_fe_w < 0) return KEEL_OK;
    keel_graph *g = m->graph;
    const keel_node *w = &g->nodes[m->node_fe_w];
    size_t rows = w->rows, cols = w->cols;
    if (!(m->frozen = keel_calloc(g->n_params + 1, 1))) return KEEL_ENOMEM;
    float *W = g->params + w->offset;
    uint8_t *fz = m->frozen + w->offset;
    memset(fz, 1, rows * cols);
    size_t col0 = 0;
    for (size_t i = 0; i < m->tf.n_features; i++) {
        const keel_feature *f = &m->tf.features[i];
        size_t bw = fe_block(m, f), r0 = f->dense_offset, nr = f->n_dense_out;
        /* Kaiming over the block's own fan-in: the whole-matrix init used all rows. */
        float scale = nr ? sqrtf((float)rows / (float)nr) : 0;
        for (size_t r = r0; r < r0 + nr; r++)
            for (size_t c = col0; c < col0 + bw; c++) {
                fz[r * cols + c] = 0;
                W[r * cols + c] *= scale;
            }
        col0 += bw;
    }
    for (size_t q = 0; q < rows * cols; q++)
        if (fz[q]) W[q] = 0;
    return KEEL_OK;
}

static void find_repr(keel_model *m);

static int build_graph(keel_model *m, keel_error *e)
{
    keel_graph *g = keel_graph_new();
    if (!g) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    m->graph = g;
    int parts[KEEL_NN_MAX_INPUTS], n_parts = 0, x;
    m->node_dense = m->node_index = -1;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(m->node_bag); i++)
        m->node_bag[i] = -1;
    if (m->tf.n_bags > KEEL_ARRAY_LEN(m->node_bag) ||
        m->tf.n_index + m->tf.n_bags + 1 > KEEL_NN_MAX_INPUTS)
        return keel_error_set(e, KEEL_ELIMIT, "too many categorical and text columns (at most %d)",
                              KEEL_NN_MAX_INPUTS - 1);
    m->node_fe_w = -1;
    if (m->tf.n_dense) {
        if ((x = m->node_dense = keel_nn_input(g, m->tf.n_dense, "dense")) < 0) goto fail;
        size_t width = feature_embed_width(m);
        if (width) {
            /* Per-column embedding: one linear map per column from its encodings (score,
             * bins, indicator) to feature_dim values, written as one block-diagonal linear
             * layer whose off-block weights are held at zero in training. */
            if ((x = keel_nn_dense(g, x, width, KEEL_INIT_KAIMING, "fe")) < 0) goto fail;
            m->node_fe_w = g->nodes[x].inputs[1];
            if ((x = keel_nn_unary(g, m->hp.activation, x, 0)) < 0) goto fail;
        }
        parts[n_parts++] = x;
    }
    if (m->tf.n_index && (m->node_index = keel_nn_index(g, m->tf.n_index, "index")) < 0) goto fail;
    for (size_t i = 0; i < m->tf.n_features; i++) {
        const keel_feature *f = &m->tf.features[i];
        char name[32];
        snprintf(name, sizeof name, "emb%zu", i);
        if (f->kind == KEEL_FEAT_CATEGORICAL) {
            x = keel_nn_embed(g, m->node_index, f->index_slot, f->vocab, f->embed_dim, name);
        } else if (f->kind == KEEL_FEAT_TEXT) {
            int bag = m->node_bag[f->bag_slot] = keel_nn_bag(g, name);
            if (bag < 0) goto fail;
            x = keel_nn_embed_bag(g, bag, f->vocab, f->embed_dim, name);
        } else {
            continue;
        }
        if (x < 0) goto fail;
        parts[n_parts++] = x;
    }
    if (n_parts == 0) return keel_error_set(e, KEEL_EEMPTY, "the model has no input features");
    x = n_parts == 1 ? parts[0] : keel_nn_concat(g, parts, n_parts);
    for (int l = 0; l < m->hp.n_hidden && x >= 0; l++) {
        char name[32];
        snprintf(name, sizeof name, "h%d", l + 1);
        x = keel_nn_dense(g, x, m->hp.hidden[l], KEEL_INIT_KAIMING, name);
        if (x >= 0) x = keel_nn_unary(g, m->hp.activation, x, 0);
        if (x >= 0 && m->hp.dropout > 0) x = keel_nn_unary(g, KEEL_OP_DROPOUT, x, m->hp.dropout);
    }
    if (x < 0 || (x = m->node_logits = keel_nn_dense(g, x, m->n_out, KEEL_INIT_XAVIER, "out")) < 0)
        goto fail;
    keel_op loss = KEEL_OP_MSE;
    if (m->target.task == KEEL_TASK_MULTICLASS) {
        m->node_label = keel_nn_index(g, 1, "label");
        loss = KEEL_OP_SOFTMAX_CE;
    } else {
        m->node_label = keel_nn_input(g, 1, "label");
        if (m->target.task == KEEL_TASK_BINARY) loss = KEEL_OP_SIGMOID_BCE;
    }
    if (m->node_label < 0 || (m->node_weight = keel_nn_input(g, 1, "weight")) < 0) goto fail;
    if ((m->node_loss = keel_nn_loss(g, loss, m->node_logits, m->node_label, m->node_weight, 1)) <
        0)
        goto fail;
    if (keel_graph_finalise(g)) goto fail;
    return KEEL_OK;
fail:
    return keel_error_set(e, KEEL_ENOMEM, "cannot build the network (out of memory)");
}

static int make_input_schema(keel_model *m, keel_error *e)
{
    int rc = keel_schema_dup(m->schema, &m->input_schema, e);
    if (rc) return rc;
    keel_schema *s = m->input_schema;
    keel_schema_remove_column(s, s->n_columns - 1);
    if (!(m->inputs = keel_calloc(s->n_columns + 1, sizeof *m->inputs)))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_columns; i++)
        if (s->columns[i].role == KEEL_ROLE_FEATURE) m->inputs[m->n_inputs++] = i;
    /* Inputs by name: a table at most half full, so probes are short. */
    size_t size = 16;
    while (size < 2 * m->n_inputs + 2)
        size *= 2;
    if (!(m->name_slots = keel_calloc(size, sizeof *m->name_slots)))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    m->name_mask = size - 1;
    for (size_t i = 0; i < m->n_inputs; i++) {
        const char *name = s->columns[m->inputs[i]].name;
        size_t h = keel_hash64(name, strlen(name), 0) & m->name_mask;
        while (m->name_slots[h])
            h = (h + 1) & m->name_mask;
        m->name_slots[h] = (uint32_t)i + 1;
    }
    return KEEL_OK;
}

long keel_model_input_index(const keel_model *m, const char *name, size_t len)
{
    size_t h = keel_hash64(name, len, 0) & m->name_mask;
    for (uint32_t v; (v = m->name_slots[h]); h = (h + 1) & m->name_mask) {
        const char *have = m->input_schema->columns[m->inputs[v - 1]].name;
        if (!strncmp(have, name, len) && have[len] == '\0') return (long)v - 1;
    }
    return -1;
}

static int model_init(keel_model *m, keel_error *e)
{
    m->n_out = m->target.task == KEEL_TASK_MULTICLASS ? m->target.classes.n : 1;
    m->cal = (keel_calibration){.kind = 0, .a = 1, .b = 0, .t = 1}; /* none until fitted */
    if (pthread_mutex_init(&m->lock, NULL)) return keel_error_set(e, KEEL_ENOMEM, "no mutex");
    int rc = build_graph(m, e);
    if (!rc) rc = make_input_schema(m, e);
    if (!rc) find_repr(m);
    return rc;
}

int keel_model_build(keel_schema *schema, keel_transform *tf, keel_target *target,
                     const keel_hparams *hp, keel_model **out, keel_error *e)
{
    *out = NULL;
    keel_model *m = keel_calloc(1, sizeof *m);
    if (!m) {
        keel_schema_free(schema);
        keel_transform_free(tf);
        keel_target_free(target);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    m->schema = schema;
    m->tf = *tf;
    m->target = *target;
    memset(tf, 0, sizeof *tf);
    memset(target, 0, sizeof *target);
    m->hp = *hp;
    int rc = model_init(m, e);
    if (rc) {
        keel_model_free(m);
        return rc;
    }
    *out = m;
    return KEEL_OK;
}

static void ws_free(keel_workspace *ws)
{
    if (!ws) return;
    keel_exec_free(ws->exec);
    keel_free(ws->dense);
    keel_free(ws->index);
    keel_bags_free(&ws->bags);
    keel_free(ws->logits);
    keel_frame_free(ws->row);
    keel_converter_free(ws->conv);
    keel_free(ws->scratch);
    keel_free(ws->val);
    keel_free(ws->given);
    keel_free(ws);
}

static void rowplan_free(struct keel_rowplan *p);

void keel_model_free(keel_model *m)
{
    if (!m) return;
    while (m->free_ws) {
        keel_workspace *n = m->free_ws->next;
        ws_free(m->free_ws);
        m->free_ws = n;
    }
    for (size_t i = 0; i < KEEL_WS_SLOTS; i++)
        ws_free(atomic_load(&m->ws_slots[i].ws));
    if (m->graph) pthread_mutex_destroy(&m->lock);
    keel_graph_free(m->graph);
    keel_transform_free(&m->tf);
    keel_target_free(&m->target);
    keel_schema_free(m->schema);
    keel_schema_free(m->input_schema);
    keel_free(m->inputs);
    keel_free(m->name_slots);
    rowplan_free(m->plan);
    keel_buf_free(&m->metrics_json);
    keel_buf_free(&m->training_json);
    keel_buf_free(&m->profile_json);
    keel_buf_free(&m->lineage_json);
    keel_buf_free(&m->explain_json);
    keel_free(m->background);
    if (m->explainer && m->explainer_free) m->explainer_free(m->explainer);
    keel_free(m->frozen);
    keel_free(m);
}

size_t keel_model_n_outputs(const keel_model *m)
{
    return m->target.task == KEEL_TASK_REGRESSION ? 1 : m->target.classes.n;
}

/* ---- saving ---- */

static const char *cal_name(int kind)
{
    return kind == 1 ? "platt" : kind == 2 ? "temperature" : "none";
}

int keel_model_save(keel_model *m, const char *path, keel_error *e)
{
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_buf_puts(&b, "{\"format\":\"keel-model\",\"format_version\":1,\"task\":");
    const char *task = keel_task_name(m->target.task);
    rc |= keel_buf_json_str(&b, task, strlen(task));
    rc |= keel_buf_puts(&b, ",\"schema\":");
    rc |= keel_schema_to_json(m->schema, &b);
    rc |= keel_buf_puts(&b, ",\"target\":");
    rc |= keel_target_to_json(&m->target, &b);
    rc |= keel_buf_puts(&b, ",\"transforms\":");
    rc |= keel_transform_to_json(&m->tf, &b);
    rc |= keel_buf_puts(&b, ",\"graph\":");
    rc |= keel_graph_to_json(m->graph, &b);
    rc |= keel_buf_printf(&b, ",\"io\":{\"dense\":%d,\"index\":%d,\"bags\":[", m->node_dense,
                          m->node_index);
    for (size_t i = 0; i < m->tf.n_bags; i++)
        rc |= keel_buf_printf(&b, "%s%d", i ? "," : "", m->node_bag[i]);
    rc |= keel_buf_printf(&b, "],\"logits\":%d,\"label\":%d,\"weight\":%d,\"loss\":%d}",
                          m->node_logits, m->node_label, m->node_weight, m->node_loss);
    rc |= keel_buf_printf(&b, ",\"calibration\":{\"kind\":\"%s\",\"a\":", cal_name(m->cal.kind));
    rc |= keel_buf_json_num(&b, m->cal.a);
    rc |= keel_buf_puts(&b, ",\"b\":");
    rc |= keel_buf_json_num(&b, m->cal.b);
    rc |= keel_buf_puts(&b, ",\"t\":");
    rc |= keel_buf_json_num(&b, m->cal.t);
    rc |= keel_buf_puts(&b, "},\"hyper_parameters\":");
    rc |= keel_hparams_to_json(&m->hp, &b);
    const struct {
        const char *key;
        const keel_buf *v;
    } extra[] = {{"metrics", &m->metrics_json},
                 {"training", &m->training_json},
                 {"profile", &m->profile_json},
                 {"lineage", &m->lineage_json},
                 {"explain", &m->explain_json}};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(extra); i++)
        if (extra[i].v->len) {
            rc |= keel_buf_printf(&b, ",\"%s\":", extra[i].key);
            rc |= keel_buf_append(&b, extra[i].v->data, extra[i].v->len);
        }
    rc |= keel_buf_putc(&b, '}');
    if (rc) {
        keel_buf_free(&b);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    keel_artifact_tensor t[3] = {
        {.name = "params",
         .dtype = KEEL_DTYPE_F32,
         .rank = 1,
         .shape = {m->graph->n_params},
         .data = m->graph->params,
         .nbytes = m->graph->n_params * sizeof(float)},
        {.name = "state",
         .dtype = KEEL_DTYPE_F32,
         .rank = 1,
         .shape = {m->graph->n_state},
         .data = m->graph->state,
         .nbytes = m->graph->n_state * sizeof(float)},
        {.name = "background",
         .dtype = KEEL_DTYPE_F32,
         .rank = 2,
         .shape = {m->n_background, keel_model_repr_dim(m)},
         .data = m->background,
         .nbytes = m->n_background * keel_model_repr_dim(m) * sizeof(float)},
    };
    unsigned char digest[32];
    rc = keel_artifact_write(path, b.data, b.len, t, m->n_background ? 3 : 2, digest, e);
    if (!rc) keel_sha256_hex(digest, m->sha256);
    keel_buf_free(&b);
    return rc;
}

/* ---- the row plan ---- */

enum step_kind {
    STEP_LINEAR,
    STEP_BLOCKS,
    STEP_ACT,
    STEP_ALIAS,
    STEP_EMBED,
    STEP_CONCAT
};

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

static void rowplan_free(struct keel_rowplan *p)
{
    if (!p) return;
    for (int t = 0; t < p->n_steps; t++)
        keel_free(p->steps[t].bf16_mem);
    keel_free(p->steps);
    keel_k_blockpack_free(&p->blocks);
    keel_free(p);
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

/* Builds m->plan, or leaves it NULL when the network needs an op the plan does not run.
 * KEEL_ENOMEM only. */
static int rowplan_build(keel_model *m)
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
    rowplan_free(p);
    return rc;
}

/* A node's value during a plan run: parameters straight from the flat buffer. */
static inline const float *plan_val(const keel_graph *g, const float **val, int node)
{
    const keel_node *nd = &g->nodes[node];
    return nd->op == KEEL_OP_PARAM ? g->params + nd->offset : val[node];
}

/* Runs the plan for one row whose dense input is dense (the transform's output or the
 * caller's tensor) and whose category codes are in ws->index, up to node `stop`, whose value
 * is then ws->val[stop]. */
static int rowplan_run_to(const keel_model *m, keel_workspace *ws, const float *dense, int stop)
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

/* Logits of one row (see rowplan_run_to). */
static int rowplan_run(const keel_model *m, keel_workspace *ws, const float *dense, float *logits)
{
    int rc = rowplan_run_to(m, ws, dense, m->node_logits);
    if (!rc) memcpy(logits, ws->val[m->node_logits], m->n_out * sizeof *logits);
    return rc;
}

/* ---- the representation ---- */

static bool is_unary(keel_op op)
{
    return op == KEEL_OP_RELU || op == KEEL_OP_GELU || op == KEEL_OP_SILU || op == KEEL_OP_DROPOUT;
}

/* Whether the LINEAR node lin reads the dense input and keeps columns apart: every output
 * column's nonzero weights lie in the dense outputs of one feature (the per-column
 * embedding). */
static bool keeps_columns_apart(const keel_model *m, const keel_node *lin)
{
    const keel_graph *g = m->graph;
    if (lin->inputs[0] != m->node_dense || m->node_dense < 0) return false;
    const keel_node *wn = &g->nodes[lin->inputs[1]];
    const float *w = g->params + wn->offset;
    for (size_t j = 0; j < wn->cols; j++) {
        long owner = -1;
        for (size_t f = 0; f < m->tf.n_features; f++) {
            const keel_feature *ft = &m->tf.features[f];
            for (size_t r = ft->dense_offset; r < ft->dense_offset + ft->n_dense_out; r++)
                if (w[r * wn->cols + j] != 0.0f) {
                    if (owner >= 0 && owner != (long)f) return false;
                    owner = (long)f;
                }
        }
    }
    return true;
}

/* The representation node: walking back from the logits through the chain of dense layers
 * (LINEAR with parameters, each after activations or dropout), the input of the first
 * one, unless that input is the dense input itself read by a layer that keeps columns
 * apart, in which case that layer (with its activation) belongs to the representation. */
static void find_repr(keel_model *m)
{
    const keel_graph *g = m->graph;
    m->node_repr = -1;
    int cur = m->node_logits;
    while (cur >= 0 && g->nodes[cur].op == KEEL_OP_LINEAR &&
           g->nodes[g->nodes[cur].inputs[1]].op == KEEL_OP_PARAM) {
        int x = g->nodes[cur].inputs[0], y = x;
        while (is_unary(g->nodes[y].op))
            y = g->nodes[y].inputs[0];
        const keel_node *yn = &g->nodes[y];
        if (yn->op == KEEL_OP_LINEAR && g->nodes[yn->inputs[1]].op == KEEL_OP_PARAM &&
            !keeps_columns_apart(m, yn)) {
            cur = y;
            continue;
        }
        m->node_repr = x;
        return;
    }
}

size_t keel_model_repr_dim(const keel_model *m)
{
    return m->node_repr >= 0 ? keel_node_cols(m->graph, m->node_repr) : 0;
}

int keel_model_represent(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                         size_t first, size_t n, float *repr)
{
    if (m->node_repr < 0) return KEEL_ENOTSUP;
    if (n > ws->max_rows) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    size_t d = keel_model_repr_dim(m);
    int rc = keel_transform_apply(&m->tf, f, rows, first, n, ws->dense, ws->index, &ws->bags);
    if (rc) return rc;
    if (n == 1 && m->plan && ws->scratch) {
        if ((rc = rowplan_run_to(m, ws, ws->dense, m->node_repr))) return rc;
        memcpy(repr, ws->val[m->node_repr], d * sizeof *repr);
        return KEEL_OK;
    }
    if (m->node_dense >= 0)
        memcpy(keel_exec_data(ws->exec, m->node_dense), ws->dense,
               n * m->tf.n_dense * sizeof(float));
    if (m->node_index >= 0)
        memcpy(keel_exec_index(ws->exec, m->node_index), ws->index,
               n * m->tf.n_index * sizeof(int32_t));
    static const int32_t no_ids[1] = {0};
    for (size_t b = 0; b < m->tf.n_bags; b++)
        keel_exec_bag(ws->exec, m->node_bag[b], ws->bags.slot[b].off,
                      ws->bags.slot[b].ids ? ws->bags.slot[b].ids : no_ids);
    if ((rc = keel_exec_forward(ws->exec, m->node_repr, n, false))) return rc;
    memcpy(repr, keel_exec_value(ws->exec, m->node_repr), n * d * sizeof *repr);
    return KEEL_OK;
}

int keel_model_set_background(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                              size_t k, uint64_t seed)
{
    /* Found again on the final weights: whether the first layer keeps columns apart is read
     * from them, and a network built but not yet trained has all-zero weights, which keep
     * every column apart. Loading finds it from the saved weights the same way. */
    find_repr(m);
    size_t d = keel_model_repr_dim(m);
    if (!rows) n = f->n_rows;
    if (k > n) k = n;
    keel_free(m->background);
    m->background = NULL;
    m->n_background = 0;
    if (!d || !k) return KEEL_OK;
    size_t *pick = keel_malloc(n * sizeof *pick);
    float *bg = keel_malloc(k * d * sizeof *bg);
    keel_workspace *ws = keel_model_ws_take(m, 64);
    int rc = KEEL_ENOMEM;
    if (!pick || !bg || !ws) goto done;
    /* The first k of a Fisher-Yates shuffle, sorted back into row order. */
    keel_rng rng;
    keel_rng_seed(&rng, seed ^ 0x6267726f756e64ULL);
    for (size_t i = 0; i < n; i++)
        pick[i] = rows ? rows[i] : i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(keel_rng_uniform(&rng) * (double)(n - i));
        if (j >= n) j = n - 1;
        size_t t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
    }
    rc = KEEL_OK;
    for (size_t i = 0; i < k && !rc; i += 64) {
        size_t c = KEEL_MIN((size_t)64, k - i);
        rc = keel_model_represent(m, ws, f, pick + i, 0, c, bg + i * d);
    }
    for (size_t i = 0; i < k * d && !rc; i++)
        if (!isfinite(bg[i])) rc = KEEL_EINVAL;
    if (!rc) {
        m->background = bg;
        m->n_background = k;
        bg = NULL;
    }
done:
    if (ws) keel_model_ws_give(m, ws);
    keel_free(pick);
    keel_free(bg);
    return rc;
}

/* ---- loading ---- */

static int bad(keel_error *e, const char *what)
{
    return keel_error_set(e, KEEL_EFORMAT, "model manifest: %s", what);
}

/* Copies a raw JSON value back out as text, for the parts kept verbatim (metrics, profile). */
static int keep_json(const keel_json *v, keel_buf *out);

static int keep_json(const keel_json *v, keel_buf *out)
{
    int rc = 0;
    switch (v->type) {
    case KEEL_JSON_NULL:
        return keel_buf_puts(out, "null");
    case KEEL_JSON_BOOL:
        return keel_buf_puts(out, v->u.boolean ? "true" : "false");
    case KEEL_JSON_NUMBER:
        return keel_buf_append(out, v->u.number.text, v->u.number.len);
    case KEEL_JSON_STRING:
        return keel_buf_json_str(out, v->u.string.s, v->u.string.len);
    case KEEL_JSON_ARRAY:
        rc |= keel_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.array.n && !rc; i++) {
            if (i) rc |= keel_buf_putc(out, ',');
            rc |= keep_json(&v->u.array.items[i], out);
        }
        return rc | keel_buf_putc(out, ']');
    case KEEL_JSON_OBJECT:
        rc |= keel_buf_putc(out, '{');
        for (size_t i = 0; i < v->u.object.n && !rc; i++) {
            const keel_json_member *mb = &v->u.object.members[i];
            if (i) rc |= keel_buf_putc(out, ',');
            rc |= keel_buf_json_str(out, mb->key, mb->key_len);
            rc |= keel_buf_putc(out, ':');
            rc |= keep_json(&mb->value, out);
        }
        return rc | keel_buf_putc(out, '}');
    }
    return KEEL_OK;
}

/* An io node id: must name a node of the expected op (or be -1 where allowed). */
static int io_node(const keel_graph *g, const keel_json *io, const char *key, keel_op op,
                   bool optional, int *out, keel_error *e)
{
    const keel_json *v = keel_json_get(io, key);
    double x = keel_json_num(v, -2);
    if (x == -1 && optional) {
        *out = -1;
        return KEEL_OK;
    }
    if (!v || x != floor(x) || x < 0 || x >= g->n_nodes || g->nodes[(int)x].op != op)
        return keel_error_set(e, KEEL_EFORMAT, "model manifest: io.%s does not name a %s node", key,
                              keel_op_name(op));
    *out = (int)x;
    return KEEL_OK;
}

static int check_io(keel_model *m, const keel_json *io, keel_error *e)
{
    const keel_graph *g = m->graph;
    int rc, logits;
    if ((rc = io_node(g, io, "dense", KEEL_OP_INPUT, true, &m->node_dense, e)) ||
        (rc = io_node(g, io, "index", KEEL_OP_INDEX, true, &m->node_index, e)) ||
        (rc = io_node(g, io, "weight", KEEL_OP_INPUT, false, &m->node_weight, e)))
        return rc;
    const keel_json *lv = keel_json_get(io, "logits");
    double lx = keel_json_num(lv, -1);
    if (lx != floor(lx) || lx < 0 || lx >= g->n_nodes || g->nodes[(int)lx].op == KEEL_OP_PARAM)
        return bad(e, "io.logits does not name a computed node");
    logits = m->node_logits = (int)lx;
    if (keel_node_cols(g, logits) != m->n_out)
        return keel_error_set(e, KEEL_EFORMAT,
                              "model manifest: the network has %zu outputs, the target needs %zu",
                              keel_node_cols(g, logits), m->n_out);
    keel_op label_op = m->target.task == KEEL_TASK_MULTICLASS ? KEEL_OP_INDEX : KEEL_OP_INPUT;
    if ((rc = io_node(g, io, "label", label_op, false, &m->node_label, e))) return rc;
    double lo = keel_json_num(keel_json_get(io, "loss"), -1);
    if (lo != floor(lo) || lo < 0 || lo >= g->n_nodes) return bad(e, "io.loss is not a node");
    keel_op lop = g->nodes[(int)lo].op;
    if (lop != KEEL_OP_SOFTMAX_CE && lop != KEEL_OP_SIGMOID_BCE && lop != KEEL_OP_MSE &&
        lop != KEEL_OP_HUBER)
        return bad(e, "io.loss does not name a loss node");
    m->node_loss = (int)lo;
    /* The inputs must be exactly what the transforms produce. */
    if ((m->node_dense >= 0) != (m->tf.n_dense > 0) ||
        (m->node_dense >= 0 && keel_node_cols(g, m->node_dense) != m->tf.n_dense))
        return bad(e, "the dense input does not match the transforms");
    if ((m->node_index >= 0) != (m->tf.n_index > 0) ||
        (m->node_index >= 0 && keel_node_cols(g, m->node_index) != m->tf.n_index))
        return bad(e, "the index input does not match the transforms");
    const keel_json *bags = keel_json_get(io, "bags");
    if (!bags || bags->type != KEEL_JSON_ARRAY || bags->u.array.n != m->tf.n_bags ||
        m->tf.n_bags > KEEL_ARRAY_LEN(m->node_bag))
        return bad(e, "io.bags does not match the text columns");
    for (size_t i = 0; i < m->tf.n_bags; i++) {
        double x = keel_json_num(&bags->u.array.items[i], -1);
        if (x != floor(x) || x < 0 || x >= g->n_nodes || g->nodes[(int)x].op != KEEL_OP_BAG)
            return bad(e, "io.bags names a node that is not a bag");
        m->node_bag[i] = (int)x;
    }
    /* Every INDEX/EMBED pairing must stay inside what the transforms emit: an embedding's
     * column and vocabulary are checked against the feature that feeds it. */
    for (int i = 0; i < g->n_nodes; i++) {
        const keel_node *nd = &g->nodes[i];
        if (nd->op == KEEL_OP_EMBED) {
            if (nd->inputs[0] != m->node_index || nd->iattr < 0 ||
                (size_t)nd->iattr >= m->tf.n_index)
                return bad(e, "an embedding reads outside the index input");
            for (size_t f = 0; f < m->tf.n_features; f++)
                if (m->tf.features[f].index_slot == nd->iattr &&
                    g->nodes[nd->inputs[1]].rows < m->tf.features[f].vocab)
                    return bad(e, "an embedding table is smaller than its column's vocabulary");
        }
        if ((nd->op == KEEL_OP_INPUT || nd->op == KEEL_OP_INDEX || nd->op == KEEL_OP_BAG) &&
            i != m->node_dense && i != m->node_index && i != m->node_label && i != m->node_weight) {
            bool is_bag = false;
            for (size_t b = 0; b < m->tf.n_bags; b++)
                is_bag |= m->node_bag[b] == i;
            if (!is_bag) return bad(e, "the network has an input the model does not feed");
        }
    }
    return KEEL_OK;
}

static int read_calibration(keel_model *m, const keel_json *c, keel_error *e)
{
    const char *kind = keel_json_str(keel_json_get(c, "kind"));
    if (!kind) return bad(e, "'calibration.kind' is missing");
    m->cal.kind = !strcmp(kind, "platt") ? 1 : !strcmp(kind, "temperature") ? 2 : 0;
    if (!m->cal.kind && strcmp(kind, "none")) return bad(e, "unknown calibration kind");
    m->cal.a = keel_json_num(keel_json_get(c, "a"), 1);
    m->cal.b = keel_json_num(keel_json_get(c, "b"), 0);
    m->cal.t = keel_json_num(keel_json_get(c, "t"), 1);
    if (!isfinite(m->cal.a) || !isfinite(m->cal.b) || !(m->cal.t > 0) || !isfinite(m->cal.t))
        return bad(e, "calibration parameters must be finite (and t > 0)");
    if ((m->cal.kind == 1 && m->target.task != KEEL_TASK_BINARY) ||
        (m->cal.kind == 2 && m->target.task != KEEL_TASK_MULTICLASS))
        return bad(e, "the calibration kind does not fit the task");
    return KEEL_OK;
}

static int read_hparams(keel_model *m, const keel_json *h)
{
    keel_hparams_init(&m->hp);
    m->hp.seed = (uint64_t)keel_json_num(keel_json_get(h, "seed"), 42);
    m->hp.threads = (int)keel_json_num(keel_json_get(h, "threads"), 1);
    const keel_json *hid = keel_json_get(h, "hidden");
    size_t n = keel_json_len(hid);
    if (n <= KEEL_MAX_HIDDEN && hid && hid->type == KEEL_JSON_ARRAY) {
        m->hp.n_hidden = (int)n;
        for (size_t i = 0; i < n; i++)
            m->hp.hidden[i] = (size_t)fmax(0, keel_json_num(keel_json_at(hid, i), 0));
    }
    return KEEL_OK;
}

/* The optional background sample: [k, repr dim] finite floats, k at most 4096. */
static int read_background(keel_model *m, const keel_artifact_tensor *t, keel_error *e)
{
    if (!t) return KEEL_OK;
    size_t d = keel_model_repr_dim(m);
    if (t->dtype != KEEL_DTYPE_F32 || t->rank != 2 || t->shape[1] != d || d == 0 ||
        t->shape[0] == 0 || t->shape[0] > 4096)
        return bad(e, "tensor 'background' does not match the network's representation");
    size_t k = (size_t)t->shape[0];
    if (!(m->background = keel_malloc(k * d * sizeof(float))))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    memcpy(m->background, t->data, k * d * sizeof(float));
    m->n_background = k;
    for (size_t i = 0; i < k * d; i++)
        if (!isfinite(m->background[i])) return bad(e, "a background value is not finite");
    return KEEL_OK;
}

int keel_model_from_artifact(const keel_artifact *a, keel_model **out, keel_error *e)
{
    *out = NULL;
    size_t len;
    const char *text = keel_artifact_manifest(a, &len);
    keel_json_doc *d = keel_json_doc_new();
    keel_model *m = keel_calloc(1, sizeof *m);
    int rc;
    if (!d || !m) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = keel_json_parse(d, text, len, e))) {
        if (rc == KEEL_ENOMEM) goto fail;
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        rc = keel_error_set(e, KEEL_EFORMAT, "model manifest: not JSON: %s", msg);
        goto fail;
    }
    const keel_json *root = keel_json_root(d);
    const char *fmt = keel_json_str(keel_json_get(root, "format"));
    if (!fmt || strcmp(fmt, "keel-model")) {
        rc = bad(e, "'format' is not \"keel-model\"");
        goto fail;
    }
    if (keel_json_num(keel_json_get(root, "format_version"), 0) != 1) {
        rc = bad(e, "'format_version' is not 1");
        goto fail;
    }
    if ((rc = keel_schema_from_json(keel_json_get(root, "schema"), &m->schema, e)) ||
        (rc = keel_target_from_json(&m->target, keel_json_get(root, "target"), m->schema, e)) ||
        (rc = keel_transform_from_json(&m->tf, keel_json_get(root, "transforms"), m->schema, e)))
        goto fail;
    if (m->target.col != m->schema->n_columns - 1) {
        rc = bad(e, "the target must be the schema's last column");
        goto fail;
    }
    for (size_t i = 0; i < m->tf.n_features; i++)
        if (m->tf.features[i].col == m->target.col) {
            rc = bad(e, "the target is also a feature");
            goto fail;
        }
    m->n_out = m->target.task == KEEL_TASK_MULTICLASS ? m->target.classes.n : 1;
    /* The parameter counts must match the tensors before the graph allocates anything: a
     * consistent but huge graph must not make the loader allocate gigabytes. */
    const keel_json *gj = keel_json_get(root, "graph");
    const keel_artifact_tensor *p = keel_artifact_find(a, "params");
    const keel_artifact_tensor *s = keel_artifact_find(a, "state");
    double jp = keel_json_num(keel_json_get(gj, "n_params"), -1);
    double js = keel_json_num(keel_json_get(gj, "n_state"), -1);
    if (!p || p->dtype != KEEL_DTYPE_F32 || jp < 0 || jp * sizeof(float) != (double)p->nbytes) {
        rc = bad(e, "tensor 'params' is missing or does not match the network");
        goto fail;
    }
    if (js < 0 ||
        (js > 0 && (!s || s->dtype != KEEL_DTYPE_F32 || js * sizeof(float) != (double)s->nbytes))) {
        rc = bad(e, "tensor 'state' is missing or does not match the network");
        goto fail;
    }
    if ((rc = keel_graph_from_json(gj, &m->graph, e))) goto fail;
    if (pthread_mutex_init(&m->lock, NULL)) {
        keel_graph_free(m->graph);
        m->graph = NULL;
        rc = keel_error_set(e, KEEL_ENOMEM, "no mutex");
        goto fail;
    }
    if ((rc = check_io(m, keel_json_get(root, "io"), e)) ||
        (rc = read_calibration(m, keel_json_get(root, "calibration"), e)) ||
        (rc = read_hparams(m, keel_json_get(root, "hyper_parameters"))))
        goto fail;
    if (p->nbytes != m->graph->n_params * sizeof(float)) {
        rc = bad(e, "tensor 'params' is missing or does not match the network");
        goto fail;
    }
    if (m->graph->n_state &&
        (!s || s->dtype != KEEL_DTYPE_F32 || s->nbytes != m->graph->n_state * sizeof(float))) {
        rc = bad(e, "tensor 'state' is missing or does not match the network");
        goto fail;
    }
    memcpy(m->graph->params, p->data, p->nbytes);
    if (m->graph->n_state) memcpy(m->graph->state, s->data, s->nbytes);
    for (size_t i = 0; i < m->graph->n_params; i++)
        if (!isfinite(m->graph->params[i])) {
            rc = bad(e, "a parameter is not a finite number");
            goto fail;
        }
    const char *keys[] = {"metrics", "training", "profile", "lineage", "explain"};
    keel_buf *bufs[] = {&m->metrics_json, &m->training_json, &m->profile_json, &m->lineage_json,
                        &m->explain_json};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(keys); i++) {
        const keel_json *v = keel_json_get(root, keys[i]);
        if (v && keep_json(v, bufs[i])) {
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = make_input_schema(m, e))) goto fail;
    find_repr(m);
    if ((rc = read_background(m, keel_artifact_find(a, "background"), e))) goto fail;
    if (rowplan_build(m) == KEEL_ENOMEM) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(m->sha256, sizeof m->sha256, "%s", keel_artifact_sha256(a));
    keel_json_doc_free(d);
    *out = m;
    return KEEL_OK;
fail:
    keel_json_doc_free(d);
    keel_model_free(m);
    return rc;
}

int keel_model_load(const char *path, keel_model **out, keel_error *e)
{
    *out = NULL;
    keel_artifact *a;
    int rc = keel_artifact_open(path, &a, e);
    if (rc) return rc;
    rc = keel_model_from_artifact(a, out, e);
    keel_artifact_close(a);
    return rc;
}

int keel_model_load_mem(const void *data, size_t n, keel_model **out, keel_error *e)
{
    *out = NULL;
    keel_artifact *a;
    int rc = keel_artifact_open_mem(data, n, &a, e);
    if (rc) return rc;
    rc = keel_model_from_artifact(a, out, e);
    keel_artifact_close(a);
    return rc;
}

/* ---- predicting ---- */

/* This thread's workspace slot: up to KEEL_WS_SLOTS threads (a server's workers) each have
 * one of their own. */
static size_t ws_slot(void)
{
    return keel_thread_slot() % KEEL_WS_SLOTS;
}

keel_workspace *keel_model_ws_take(keel_model *m, size_t max_rows)
{
    if (max_rows == 0) max_rows = 1;
    keel_workspace *mine = atomic_exchange(&m->ws_slots[ws_slot()].ws, NULL);
    if (mine && mine->max_rows >= max_rows) return mine;
    pthread_mutex_lock(&m->lock);
    if (mine) { /* too small for this call: to the list */
        mine->next = m->free_ws;
        m->free_ws = mine;
    }
    keel_workspace **pp = &m->free_ws, *ws = NULL;
    while (*pp && (*pp)->max_rows < max_rows)
        pp = &(*pp)->next;
    if (*pp) {
        ws = *pp;
        *pp = ws->next;
    }
    pthread_mutex_unlock(&m->lock);
    if (ws) return ws;
    ws = keel_calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->max_rows = max_rows;
    ws->exec = keel_exec_new(m->graph, max_rows, false);
    ws->dense = keel_calloc(max_rows * m->tf.n_dense + 1, sizeof(float));
    ws->index = keel_calloc(max_rows * m->tf.n_index + 1, sizeof(int32_t));
    ws->logits = keel_calloc(max_rows * m->n_out + 1, sizeof(float));
    ws->row = keel_frame_new(m->input_schema);
    if (keel_converter_new(m->input_schema, &ws->conv)) ws->conv = NULL;
    ws->given = keel_calloc(m->n_inputs + 1, sizeof *ws->given);
    bool plan_ok = true;
    if (m->plan) {
        ws->scratch = keel_calloc(m->plan->scratch + 16, sizeof(float));
        ws->val = keel_calloc((size_t)m->graph->n_nodes + 1, sizeof *ws->val);
        plan_ok = ws->scratch && ws->val;
    }
    if (!ws->exec || !ws->dense || !ws->index || !ws->logits || !ws->row || !ws->conv ||
        !ws->given || !plan_ok) {
        ws_free(ws);
        return NULL;
    }
    return ws;
}

void keel_model_ws_give(keel_model *m, keel_workspace *ws)
{
    if (!ws) return;
    keel_workspace *empty = NULL;
    if (atomic_compare_exchange_strong(&m->ws_slots[ws_slot()].ws, &empty, ws)) return;
    pthread_mutex_lock(&m->lock);
    ws->next = m->free_ws;
    m->free_ws = ws;
    pthread_mutex_unlock(&m->lock);
}

int keel_model_logits(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                      size_t first, size_t n, float *logits)
{
    if (n > ws->max_rows) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    int rc = keel_transform_apply(&m->tf, f, rows, first, n, ws->dense, ws->index, &ws->bags);
    if (rc) return rc;
    if (n == 1 && m->plan && ws->scratch) return rowplan_run(m, ws, ws->dense, logits);
    if (m->node_dense >= 0)
        memcpy(keel_exec_data(ws->exec, m->node_dense), ws->dense,
               n * m->tf.n_dense * sizeof(float));
    if (m->node_index >= 0)
        memcpy(keel_exec_index(ws->exec, m->node_index), ws->index,
               n * m->tf.n_index * sizeof(int32_t));
    /* A bag that never held an id has no ids array yet; the executor wants one all the
     * same (every offset is 0, so nothing is read from it). */
    static const int32_t no_ids[1] = {0};
    for (size_t b = 0; b < m->tf.n_bags; b++)
        keel_exec_bag(ws->exec, m->node_bag[b], ws->bags.slot[b].off,
                      ws->bags.slot[b].ids ? ws->bags.slot[b].ids : no_ids);
    if ((rc = keel_exec_forward(ws->exec, m->node_logits, n, false))) return rc;
    memcpy(logits, keel_exec_value(ws->exec, m->node_logits), n * m->n_out * sizeof(float));
    return KEEL_OK;
}

int keel_model_logits_dense(keel_model *m, keel_workspace *ws, const float *dense, size_t n,
                            float *logits)
{
    if (n > ws->max_rows || m->node_dense < 0) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    if (n == 1 && m->plan && ws->scratch) return rowplan_run(m, ws, dense, logits);
    memcpy(keel_exec_data(ws->exec, m->node_dense), dense, n * m->tf.n_dense * sizeof(float));
    int rc = keel_exec_forward(ws->exec, m->node_logits, n, false);
    if (!rc)
        memcpy(logits, keel_exec_value(ws->exec, m->node_logits), n * m->n_out * sizeof(float));
    return rc;
}

void keel_model_finish(const keel_model *m, const float *logits, size_t n, float *out)
{
    if (m->target.task == KEEL_TASK_REGRESSION) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(logits[i] * m->target.scale + m->target.mean);
        return;
    }
    keel_calibration_apply(&m->cal, logits, n, m->n_out, out);
}

#define PREDICT_CHUNK 256

int keel_model_predict_frame(keel_model *m, const keel_frame *f, const size_t *rows, size_t first,
                             size_t n, float *out)
{
    keel_workspace *ws = keel_model_ws_take(m, PREDICT_CHUNK);
    if (!ws) return KEEL_ENOMEM;
    size_t k = keel_model_n_outputs(m);
    int rc = KEEL_OK;
    for (size_t i = 0; i < n && !rc; i += PREDICT_CHUNK) {
        size_t c = KEEL_MIN((size_t)PREDICT_CHUNK, n - i);
        rc = keel_model_logits(m, ws, f, rows ? rows + i : NULL, first + i, c, ws->logits);
        if (!rc) keel_model_finish(m, ws->logits, c, out + i * k);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_model_predict_strings(keel_model *m, const char *const *values, float *out, keel_error *e)
{
    keel_workspace *ws = keel_model_ws_take(m, 1);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    const keel_schema *s = m->input_schema;
    int rc = KEEL_OK;
    keel_frame_clear(ws->row);
    /* The same conversion as validation: missing tokens, types, categories, policies. Only
     * features are read (the transforms read nothing else): an id column that may not be
     * missing must not refuse every row. */
    for (size_t i = 0; i < s->n_columns && !rc; i++) {
        if (s->columns[i].role != KEEL_ROLE_FEATURE) continue;
        const char *v = values[i];
        int why = keel_converter_set(ws->conv, ws->row, i, 0, v, v ? strlen(v) : 0);
        if (why < 0)
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        else if (why > 0)
            rc = keel_error_set(e, KEEL_EMISMATCH, "column '%s': %s%.40s%s rejected (%s)",
                                s->columns[i].name, v ? "'" : "", v ? v : "a missing value",
                                v ? "'" : "", keel_reason_name((keel_reason)(why - 1)));
    }
    if (!rc) {
        ws->row->n_rows = 1;
        rc = keel_model_logits(m, ws, ws->row, NULL, 0, 1, ws->logits);
        if (rc)
            keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
        else
            keel_model_finish(m, ws->logits, 1, out);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_model_evaluate(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                        keel_metrics *out)
{
    keel_metrics_clear(out);
    size_t k = keel_model_n_outputs(m);
    float *pred = keel_calloc(n * k + 1, sizeof *pred);
    int32_t *cls = keel_calloc(n + 1, sizeof *cls);
    double *y = keel_calloc(n + 1, sizeof *y), *p = keel_calloc(n + 1, sizeof *p);
    size_t *keep = keel_calloc(n + 1, sizeof *keep);
    int rc = KEEL_ENOMEM;
    if (!pred || !cls || !y || !p || !keep) goto done;
    /* Rows with a missing target (or a class never seen in training) cannot be scored. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        int32_t c;
        float v;
        keel_target_label(&m->target, f, r, &c, &v);
        if (m->target.task == KEEL_TASK_REGRESSION ? isnan(v) : c < 0) continue;
        cls[kept] = c;
        y[kept] = v * m->target.scale + m->target.mean;
        keep[kept++] = r;
    }
    if ((rc = keel_model_predict_frame(m, f, keep, 0, kept, pred))) goto done;
    if (m->target.task == KEEL_TASK_REGRESSION) {
        for (size_t i = 0; i < kept; i++)
            p[i] = pred[i];
        rc = keel_metrics_regression(y, p, kept, out);
    } else {
        rc = keel_metrics_classification(cls, pred, kept, k, out);
    }
done:
    keel_free(pred);
    keel_free(cls);
    keel_free(y);
    keel_free(p);
    keel_free(keep);
    return rc;
}
