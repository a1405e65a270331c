/*
 * model.c — a model's network built for a fitted transform and target, its settings, and the
 * things a model is made of that every other part reads: the input schema with the inputs
 * indexed by name, the representation node, the per-column embedding's frozen zeros.
 *
 * The network is a plain MLP over the concatenation of the dense features, one embedding per
 * categorical column and one embedding bag per text column:
 *   x = [dense | E_1[c_1] | ... | mean(B_1[bag_1]) | ...]
 *   h = dropout(act(x W_1 + b_1)) ... ; logits = h W_out + b_out
 * with a loss node for training (sigmoid BCE, softmax CE or MSE, weighted per row). Numeric
 * columns first pass through a per-column embedding: one LINEAR over the dense input whose
 * weights are zero outside each column's block (m->frozen marks the zeros training keeps).
 *
 * The rest of the model lives beside this file: model_io.c saves and loads artifacts,
 * rowplan.c is the one-row fast path, predict.c predicts and represents rows (model_impl.h
 * names what they share).
 */
#include "model/model_impl.h"

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

/* Most weights of the per-column embedding. Stored as one dense matrix, it grows with the
 * square of the numeric columns (n_dense x feature_dim per column): 500 columns of 7 bins are
 * 14 million weights and 0.5 GB in training (about eight copies: weights, gradient, moments,
 * best, average), 2,000 columns 224 million and more than 5 GB, from a 1 MB file. 2^26
 * (about 2 GB in training) leaves room for some 700 numeric columns at 16 bins. */
#define MAX_FE_WEIGHTS ((size_t)1 << 26)

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
        size_t width = feature_embed_width(m), fe_weights;
        if (width &&
            (!keel_size_mul(m->tf.n_dense, width, &fe_weights) || fe_weights > MAX_FE_WEIGHTS))
            return keel_error_set(
                e, KEEL_ELIMIT,
                "the per-column embedding of %zu encoded inputs into %zu values would hold %.0f "
                "million weights (it grows with the square of the numeric columns); keel "
                "builds at most %zu million: --feature-dim 0 feeds the encodings to the first "
                "layer directly",
                m->tf.n_dense, width, (double)m->tf.n_dense * (double)width / 1048576.0,
                MAX_FE_WEIGHTS >> 20);
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

int model_make_input_schema(keel_model *m, keel_error *e)
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
    if (!rc) rc = model_make_input_schema(m, e);
    if (!rc) model_find_repr(m);
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

void keel_model_free(keel_model *m)
{
    if (!m) return;
    while (m->free_ws) {
        keel_workspace *n = m->free_ws->next;
        model_ws_free(m->free_ws);
        m->free_ws = n;
    }
    for (size_t i = 0; i < KEEL_WS_SLOTS; i++)
        model_ws_free(atomic_load(&m->ws_slots[i].ws));
    if (m->graph) pthread_mutex_destroy(&m->lock);
    keel_graph_free(m->graph);
    keel_transform_free(&m->tf);
    keel_target_free(&m->target);
    keel_schema_free(m->schema);
    keel_schema_free(m->input_schema);
    keel_free(m->inputs);
    keel_free(m->name_slots);
    model_rowplan_free(m->plan);
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

/* ---- the representation node ---- */

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
void model_find_repr(keel_model *m)
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
