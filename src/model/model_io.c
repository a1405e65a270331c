/*
 * model_io.c — a model to and from an artifact (docs/artifact.md).
 *
 * The manifest holds everything needed to predict as JSON: the schema, the transforms, the
 * target, the network's structure, the settings, calibration, metrics, profile and lineage;
 * the parameters and batch-norm state are the tensors "params" and "state", and the
 * explanations' background sample the tensor "background". Saving writes them in one fixed
 * order, so the same model gives the same bytes. Loading re-validates all of it as untrusted
 * input (every reference in range, every size checked, the graph rebuilt through the same
 * shape rules as building) and copies the parameters out, so the file can be closed at once;
 * it then derives what a loaded model adds: the input index, the representation node and the
 * row plan.
 */
#include "model/model_impl.h"
#include "model/artifact.h"

#include <math.h>
#include <string.h>

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

/* ---- loading ---- */

static int bad(keel_error *e, const char *what)
{
    return keel_error_set(e, KEEL_EFORMAT, "model manifest: %s", what);
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

/* Every node must feed the loss (which reads the logits, the label and the weight): the
 * network keel builds has no other node, and a node that feeds nothing is never computed for
 * a prediction but still costs memory and time in every workspace and walk over the graph (an
 * artifact with 30,000 of them took 2.8 s to answer 100 rows). Refused rather than pruned: a
 * graph keel did not write is not one to repair silently. */
static int check_no_dead_nodes(const keel_model *m, keel_error *e)
{
    const keel_graph *g = m->graph;
    int first;
    size_t n_dead;
    int rc = keel_graph_dead_nodes(g, m->node_loss, &first, &n_dead);
    if (rc == KEEL_ENOMEM) return keel_error_set(e, rc, "out of memory");
    if (rc) return bad(e, "io.loss is not a node");
    if (n_dead == 0) return KEEL_OK;
    const keel_node *nd = &g->nodes[first];
    char what[128];
    if (n_dead == 1)
        snprintf(what, sizeof what, "graph node %d (%s%s%s) contributes", first,
                 keel_op_name(nd->op), nd->name[0] ? " " : "", nd->name);
    else
        snprintf(what, sizeof what, "%zu graph nodes, the first node %d (%s%s%s), contribute",
                 n_dead, first, keel_op_name(nd->op), nd->name[0] ? " " : "", nd->name);
    return keel_error_set(e, KEEL_EFORMAT,
                          "model manifest: %s nothing to the model's outputs; keel never writes "
                          "such a graph, so the artifact was edited or made by another tool: "
                          "retrain the model with keel train",
                          what);
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
    if ((rc = check_io(m, keel_json_get(root, "io"), e)) || (rc = check_no_dead_nodes(m, e)) ||
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
        if (v && keel_json_write(v, bufs[i])) {
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = model_make_input_schema(m, e))) goto fail;
    model_find_repr(m);
    if ((rc = read_background(m, keel_artifact_find(a, "background"), e))) goto fail;
    if (model_rowplan_build(m) == KEEL_ENOMEM) {
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
