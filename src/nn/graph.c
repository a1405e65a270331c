/*
 * graph.c — building a keel_graph: nodes, the shape rules, the parameter layout and
 * initialisation, and the layer builders.
 *
 * Design. Nodes are appended in topological order into one growable array; every rule an op
 * has about its inputs is checked when the node is added (check_node), with a message that
 * names the node and what does not fit, so that a graph that builds always runs and a graph
 * read from an untrusted file (graph_json.c goes through the same function) is rejected
 * with a reason. Sizes are capped (KEEL_NN_MAX_*) and every sum is overflow-checked, so no
 * later size computation can wrap.
 *
 * Finalising lays every PARAM block out in one flat float buffer, each block starting on a
 * 64-byte boundary (its size rounded up to 16 floats): the SIMD kernels then read weight rows
 * without splitting cache lines, and optimisers and checkpoints still see one array. The
 * gaps hold zeros and always get zero gradient. The buffer itself is over-allocated by 64
 * bytes and aligned by hand (keel_malloc promises only malloc's alignment); the raw pointer
 * is kept in params_mem for keel_free. Running a graph lives in ops.c.
 */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

static const char *const op_names[KEEL_OP_COUNT] = {
    [KEEL_OP_INPUT] = "input",
    [KEEL_OP_INDEX] = "index",
    [KEEL_OP_BAG] = "bag",
    [KEEL_OP_PARAM] = "param",
    [KEEL_OP_LINEAR] = "linear",
    [KEEL_OP_ADD] = "add",
    [KEEL_OP_RELU] = "relu",
    [KEEL_OP_GELU] = "gelu",
    [KEEL_OP_SILU] = "silu",
    [KEEL_OP_DROPOUT] = "dropout",
    [KEEL_OP_LAYERNORM] = "layernorm",
    [KEEL_OP_BATCHNORM] = "batchnorm",
    [KEEL_OP_EMBED] = "embed",
    [KEEL_OP_EMBED_BAG] = "embed_bag",
    [KEEL_OP_CONCAT] = "concat",
    [KEEL_OP_SOFTMAX_CE] = "softmax_ce",
    [KEEL_OP_SIGMOID_BCE] = "sigmoid_bce",
    [KEEL_OP_MSE] = "mse",
    [KEEL_OP_HUBER] = "huber",
};

const char *keel_op_name(keel_op op)
{
    return (unsigned)op < KEEL_OP_COUNT ? op_names[op] : "?";
}

int keel_op_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < KEEL_OP_COUNT; i++)
        if (strcmp(name, op_names[i]) == 0) return i;
    return -1;
}

/* ---- graph --------------------------------------------------------------------------- */

keel_graph *keel_graph_new(void)
{
    return keel_calloc(1, sizeof(keel_graph));
}

void keel_graph_free(keel_graph *g)
{
    if (!g) return;
    keel_free(g->nodes);
    keel_free(g->params_mem);
    keel_free(g->state);
    keel_free(g);
}

size_t keel_node_cols(const keel_graph *g, int node)
{
    if (!g || node < 0 || node >= g->n_nodes) return 0;
    return g->nodes[node].cols;
}

static bool is_loss(keel_op op)
{
    return op >= KEEL_OP_SOFTMAX_CE && op <= KEEL_OP_HUBER;
}

/* A node with a dense float value of [batch, cols]: what most ops take as input. */
static bool is_batch(keel_op op)
{
    return op != KEEL_OP_PARAM && op != KEEL_OP_INDEX && op != KEEL_OP_BAG && !is_loss(op);
}

/* Validates nd as the next node of g and returns its output cols through *cols; on failure
 * fills e with "node N (op): reason". */
static int check_node(const keel_graph *g, const keel_node *nd, size_t *cols, keel_error *e)
{
    int id = g->n_nodes;
    const char *on = keel_op_name(nd->op);
#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        char why_[400];                                                                            \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                                  \
        return keel_error_set(e, code, "node %d (%s): %s", id, on, why_);                          \
    } while (0)

    if (g->finalised) FAIL(KEEL_ESTATE, "the graph is finalised");
    if (id >= KEEL_NN_MAX_NODES) FAIL(KEEL_ELIMIT, "more than %d nodes", KEEL_NN_MAX_NODES);
    if ((unsigned)nd->op >= KEEL_OP_COUNT) FAIL(KEEL_EINVAL, "unknown op %d", (int)nd->op);
    if (nd->n_inputs < 0 || nd->n_inputs > KEEL_NN_MAX_INPUTS)
        FAIL(KEEL_EINVAL, "%d inputs (at most %d)", nd->n_inputs, KEEL_NN_MAX_INPUTS);
    for (int i = 0; i < nd->n_inputs; i++)
        if (nd->inputs[i] < 0 || nd->inputs[i] >= id)
            FAIL(KEEL_EINVAL, "input %d is %d, not an earlier node", i, nd->inputs[i]);
    if (!isfinite(nd->attr)) FAIL(KEEL_EINVAL, "attr is not a finite number");
    if (nd->rows > KEEL_NN_MAX_DIM || nd->cols > KEEL_NN_MAX_DIM)
        FAIL(KEEL_ELIMIT, "a dimension over %zu", KEEL_NN_MAX_DIM);
    if (memchr(nd->name, '\0', sizeof nd->name) == NULL) FAIL(KEEL_EINVAL, "name too long");

    keel_op op = nd->op;
    const keel_node *in[KEEL_NN_MAX_INPUTS];
    for (int i = 0; i < nd->n_inputs; i++)
        in[i] = &g->nodes[nd->inputs[i]];
    bool uses_attr = op == KEEL_OP_DROPOUT || op == KEEL_OP_HUBER ||
                     (op == KEEL_OP_PARAM && nd->iattr == KEEL_INIT_NORMAL);
    bool uses_iattr = op == KEEL_OP_PARAM || op == KEEL_OP_EMBED;
    if (!uses_attr && nd->attr != 0.0f) FAIL(KEEL_EINVAL, "attr must be 0 for this op");
    if (!uses_iattr && nd->iattr != 0) FAIL(KEEL_EINVAL, "iattr must be 0 for this op");

    size_t want_rows = 0, out = 0;
    int min_in = 1, max_in = 1;
    switch (op) {
    case KEEL_OP_INPUT:
    case KEEL_OP_INDEX:
    case KEEL_OP_BAG:
    case KEEL_OP_PARAM:
        min_in = max_in = 0;
        break;
    case KEEL_OP_LINEAR:
        min_in = 2, max_in = 3;
        break;
    case KEEL_OP_ADD:
    case KEEL_OP_EMBED:
    case KEEL_OP_EMBED_BAG:
        min_in = max_in = 2;
        break;
    case KEEL_OP_LAYERNORM:
    case KEEL_OP_BATCHNORM:
        min_in = max_in = 3;
        break;
    case KEEL_OP_CONCAT:
        max_in = KEEL_NN_MAX_INPUTS;
        break;
    case KEEL_OP_SOFTMAX_CE:
    case KEEL_OP_SIGMOID_BCE:
    case KEEL_OP_MSE:
    case KEEL_OP_HUBER:
        min_in = 2, max_in = 3;
        break;
    default:
        break;
    }
    if (nd->n_inputs < min_in || nd->n_inputs > max_in) {
        if (min_in == max_in) FAIL(KEEL_EINVAL, "takes %d inputs, not %d", min_in, nd->n_inputs);
        FAIL(KEEL_EINVAL, "takes %d to %d inputs, not %d", min_in, max_in, nd->n_inputs);
    }
    /* the first input of every derived op except EMBED/EMBED_BAG is a dense batch value */
    if (nd->n_inputs > 0 && op != KEEL_OP_EMBED && op != KEEL_OP_EMBED_BAG && !is_batch(in[0]->op))
        FAIL(KEEL_EINVAL, "input 0 (node %d, %s) is not a dense batch value", nd->inputs[0],
             keel_op_name(in[0]->op));

    switch (op) {
    case KEEL_OP_INPUT:
    case KEEL_OP_INDEX:
        if (nd->cols == 0) FAIL(KEEL_EINVAL, "needs cols >= 1");
        if (nd->rows != 0) FAIL(KEEL_EINVAL, "rows must be 0 (the batch)");
        out = nd->cols;
        break;
    case KEEL_OP_BAG:
        if (nd->rows != 0 || nd->cols != 0) FAIL(KEEL_EINVAL, "rows and cols must be 0");
        out = 0;
        break;
    case KEEL_OP_PARAM: {
        if (nd->rows == 0 || nd->cols == 0) FAIL(KEEL_EINVAL, "needs rows and cols >= 1");
        if (nd->iattr < 0 || nd->iattr >= KEEL_INIT_COUNT)
            FAIL(KEEL_EINVAL, "unknown init kind %d", nd->iattr);
        if (nd->attr < 0.0f) FAIL(KEEL_EINVAL, "a negative standard deviation");
        if (nd->rows * nd->cols > KEEL_NN_MAX_PARAMS)
            FAIL(KEEL_ELIMIT, "more than %zu parameters", KEEL_NN_MAX_PARAMS);
        want_rows = nd->rows;
        out = nd->cols;
        break;
    }
    case KEEL_OP_LINEAR: {
        const keel_node *w = in[1];
        if (w->op != KEEL_OP_PARAM) FAIL(KEEL_EINVAL, "input 1 (W) is not a param");
        if (w->rows != in[0]->cols)
            FAIL(KEEL_EINVAL, "W has %zu rows, x has %zu columns", w->rows, in[0]->cols);
        out = w->cols;
        if (nd->n_inputs == 3) {
            const keel_node *b = in[2];
            if (b->op != KEEL_OP_PARAM) FAIL(KEEL_EINVAL, "input 2 (b) is not a param");
            if (b->rows != 1 || b->cols != out)
                FAIL(KEEL_EINVAL, "b is [%zu, %zu], not [1, %zu]", b->rows, b->cols, out);
        }
        break;
    }
    case KEEL_OP_ADD:
        if (!is_batch(in[1]->op))
            FAIL(KEEL_EINVAL, "input 1 (node %d) is not a dense batch value", nd->inputs[1]);
        if (in[0]->cols != in[1]->cols)
            FAIL(KEEL_EINVAL, "inputs have %zu and %zu columns", in[0]->cols, in[1]->cols);
        out = in[0]->cols;
        break;
    case KEEL_OP_RELU:
    case KEEL_OP_GELU:
    case KEEL_OP_SILU:
        out = in[0]->cols;
        break;
    case KEEL_OP_DROPOUT:
        if (!(nd->attr >= 0.0f && nd->attr < 1.0f)) FAIL(KEEL_EINVAL, "p must be in [0, 1)");
        out = in[0]->cols;
        break;
    case KEEL_OP_LAYERNORM:
    case KEEL_OP_BATCHNORM:
        out = in[0]->cols;
        for (int i = 1; i < 3; i++)
            if (in[i]->op != KEEL_OP_PARAM || in[i]->rows != 1 || in[i]->cols != out)
                FAIL(KEEL_EINVAL, "input %d must be a [1, %zu] param", i, out);
        break;
    case KEEL_OP_EMBED:
    case KEEL_OP_EMBED_BAG: {
        keel_op want = op == KEEL_OP_EMBED ? KEEL_OP_INDEX : KEEL_OP_BAG;
        if (in[0]->op != want) FAIL(KEEL_EINVAL, "input 0 is not an %s node", keel_op_name(want));
        if (in[1]->op != KEEL_OP_PARAM) FAIL(KEEL_EINVAL, "input 1 (the table) is not a param");
        if (op == KEEL_OP_EMBED && (nd->iattr < 0 || (size_t)nd->iattr >= in[0]->cols))
            FAIL(KEEL_EINVAL, "column %d is not one of the index's %zu", nd->iattr, in[0]->cols);
        out = in[1]->cols;
        break;
    }
    case KEEL_OP_CONCAT:
        for (int i = 0; i < nd->n_inputs; i++) {
            if (!is_batch(in[i]->op))
                FAIL(KEEL_EINVAL, "input %d (node %d) is not a dense batch value", i,
                     nd->inputs[i]);
            out += in[i]->cols; /* each <= 2^24 and at most 64 of them: no overflow */
        }
        if (out > KEEL_NN_MAX_DIM) FAIL(KEEL_ELIMIT, "more than %zu columns", KEEL_NN_MAX_DIM);
        break;
    case KEEL_OP_SOFTMAX_CE:
    case KEEL_OP_SIGMOID_BCE:
    case KEEL_OP_MSE:
    case KEEL_OP_HUBER: {
        if (op == KEEL_OP_SOFTMAX_CE) {
            if (in[1]->op != KEEL_OP_INDEX || in[1]->cols != 1)
                FAIL(KEEL_EINVAL, "the labels must be an index node of 1 column");
        } else {
            if (in[1]->op != KEEL_OP_INPUT || in[1]->cols != in[0]->cols)
                FAIL(KEEL_EINVAL, "the targets must be an input node of %zu columns", in[0]->cols);
        }
        if (nd->n_inputs == 3 && (in[2]->op != KEEL_OP_INPUT || in[2]->cols != 1))
            FAIL(KEEL_EINVAL, "the weights must be an input node of 1 column");
        if (op == KEEL_OP_HUBER && nd->attr < 0.0f) FAIL(KEEL_EINVAL, "delta must be > 0");
        if (nd->rows > 1 || nd->cols > 1) FAIL(KEEL_EINVAL, "a loss is [1, 1]");
        want_rows = 1;
        out = 1;
        break;
    }
    default:
        break;
    }
    if (nd->rows != want_rows && !(is_loss(op) && nd->rows == 0))
        FAIL(KEEL_EINVAL, "rows must be %zu", want_rows);
    if (op != KEEL_OP_PARAM && op != KEEL_OP_INPUT && op != KEEL_OP_INDEX && nd->cols != 0 &&
        nd->cols != out)
        FAIL(KEEL_EINVAL, "cols is %zu, the inputs give %zu", nd->cols, out);
    *cols = out;
    return KEEL_OK;
#undef FAIL
}

int keel_graph_add_node(keel_graph *g, const keel_node *node, keel_error *e)
{
    if (!g || !node) return keel_error_set(e, KEEL_EINVAL, "no graph or node");
    keel_node nd = *node;
    /* A loss's weights given as -1 mean none. */
    if (is_loss(nd.op) && nd.n_inputs == 3 && nd.inputs[2] == -1) nd.n_inputs = 2;
    size_t cols;
    int rc = check_node(g, &nd, &cols, e);
    if (rc != KEEL_OK) return rc;
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 16;
        if (cap > KEEL_NN_MAX_NODES) cap = KEEL_NN_MAX_NODES;
        keel_node *p = keel_reallocarray(g->nodes, (size_t)cap, sizeof *p);
        if (!p) return keel_error_set(e, KEEL_ENOMEM, "out of memory adding a node");
        g->nodes = p;
        g->cap_nodes = cap;
    }
    if (is_loss(nd.op)) {
        nd.rows = 1;
        if (nd.op == KEEL_OP_HUBER && nd.attr == 0.0f) nd.attr = 1.0f;
    }
    nd.cols = cols;
    nd.offset = 0;
    for (int i = nd.n_inputs; i < KEEL_NN_MAX_INPUTS; i++)
        nd.inputs[i] = 0;
    size_t len = strlen(nd.name);
    memset(nd.name + len, 0, sizeof nd.name - len);
    g->nodes[g->n_nodes] = nd;
    return g->n_nodes++;
}

int keel_graph_add(keel_graph *g, keel_op op, const int *inputs, int n_inputs, size_t rows,
                   size_t cols, float attr, int iattr, const char *name)
{
    if (!g || n_inputs < 0 || n_inputs > KEEL_NN_MAX_INPUTS || (n_inputs > 0 && !inputs))
        return KEEL_EINVAL;
    keel_node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++)
        nd.inputs[i] = inputs[i];
    nd.rows = rows;
    nd.cols = cols;
    nd.attr = attr;
    nd.iattr = iattr;
    if (name) {
        size_t len = strlen(name);
        if (len >= sizeof nd.name) return KEEL_EINVAL;
        memcpy(nd.name, name, len);
    }
    return keel_graph_add_node(g, &nd, NULL);
}

/* ---- layout -------------------------------------------------------------------------- */

int keel_graph_dead_nodes(const keel_graph *g, int root, int *first, size_t *n_dead)
{
    *first = -1;
    *n_dead = 0;
    if (!g || root < 0 || root >= g->n_nodes) return KEEL_EINVAL;
    unsigned char *live = keel_calloc((size_t)g->n_nodes, 1);
    if (!live) return KEEL_ENOMEM;
    /* Inputs are always earlier nodes, so one pass downwards sees every reader of a node
     * before the node itself. */
    live[root] = 1;
    for (int i = root; i >= 0; i--)
        if (live[i])
            for (int j = 0; j < g->nodes[i].n_inputs; j++)
                live[g->nodes[i].inputs[j]] = 1;
    for (int i = 0; i < g->n_nodes; i++)
        if (!live[i]) {
            if (*first < 0) *first = i;
            ++*n_dead;
        }
    keel_free(live);
    return KEEL_OK;
}

/* A PARAM block's size in the flat buffer: rounded up to 16 floats (64 bytes). */
static size_t param_span(const keel_node *nd)
{
    return (nd->rows * nd->cols + 15) & ~(size_t)15;
}

int keel_graph_sizes(const keel_graph *g, size_t *n_params, size_t *n_state)
{
    size_t np = 0, ns = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const keel_node *nd = &g->nodes[i];
        /* each term is <= 2^31 + 15 and the running sums stay <= 2^31: no overflow */
        if (nd->op == KEEL_OP_PARAM) np += param_span(nd);
        if (nd->op == KEEL_OP_BATCHNORM) ns += 2 * nd->cols;
        if (np > KEEL_NN_MAX_PARAMS || ns > KEEL_NN_MAX_PARAMS) return KEEL_ELIMIT;
    }
    *n_params = np;
    *n_state = ns;
    return KEEL_OK;
}

int keel_graph_finalise(keel_graph *g)
{
    if (!g) return KEEL_EINVAL;
    if (g->finalised) return KEEL_ESTATE;
    size_t np, ns;
    int rc = keel_graph_sizes(g, &np, &ns);
    if (rc != KEEL_OK) return rc;
    /* np <= 2^31: the byte count cannot overflow */
    void *mem = keel_malloc(np * sizeof(float) + 64);
    float *state = keel_calloc(ns ? ns : 1, sizeof(float));
    if (!mem || !state) {
        keel_free(mem);
        keel_free(state);
        return KEEL_ENOMEM;
    }
    float *params = (float *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    memset(params, 0, np * sizeof(float));
    size_t po = 0, so = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        keel_node *nd = &g->nodes[i];
        if (nd->op == KEEL_OP_PARAM) {
            nd->offset = po;
            po += param_span(nd);
        } else if (nd->op == KEEL_OP_BATCHNORM) {
            nd->offset = so;
            so += 2 * nd->cols;
        }
    }
    g->params_mem = mem;
    g->params = params;
    g->n_params = np;
    g->state = state;
    g->n_state = ns;
    g->finalised = true;
    return KEEL_OK;
}

/* A standard normal draw (Box-Muller; 1 - u keeps the log's argument in (0, 1]). */
static double normal01(keel_rng *rng)
{
    double u1 = 1.0 - keel_rng_uniform(rng);
    double u2 = keel_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void keel_graph_init_params(keel_graph *g, keel_rng *rng)
{
    if (!g || !g->finalised) return;
    memset(g->params, 0, g->n_params * sizeof(float));
    for (int i = 0; i < g->n_nodes; i++) {
        const keel_node *nd = &g->nodes[i];
        if (nd->op == KEEL_OP_BATCHNORM) {
            float *mean = g->state + nd->offset, *var = mean + nd->cols;
            for (size_t j = 0; j < nd->cols; j++) {
                mean[j] = 0.0f;
                var[j] = 1.0f;
            }
        }
        if (nd->op != KEEL_OP_PARAM) continue;
        float *p = g->params + nd->offset;
        size_t n = nd->rows * nd->cols;
        double bound = 0.0;
        switch ((keel_init)nd->iattr) {
        case KEEL_INIT_ZERO:
            break;
        case KEEL_INIT_ONE:
            for (size_t j = 0; j < n; j++)
                p[j] = 1.0f;
            break;
        case KEEL_INIT_KAIMING:
        case KEEL_INIT_XAVIER:
            bound = nd->iattr == KEEL_INIT_KAIMING ? sqrt(6.0 / (double)nd->rows)
                                                   : sqrt(6.0 / (double)(nd->rows + nd->cols));
            for (size_t j = 0; j < n; j++)
                p[j] = (float)((2.0 * keel_rng_uniform(rng) - 1.0) * bound);
            break;
        case KEEL_INIT_NORMAL:
            for (size_t j = 0; j < n; j++)
                p[j] = (float)(normal01(rng) * nd->attr);
            break;
        default:
            break;
        }
    }
}

/* ---- builders ------------------------------------------------------------------------ */

/* "base.suffix" into out[32]; false when it does not fit. An empty base gives "". */
static bool sub_name(char out[32], const char *base, const char *suffix)
{
    if (!base || !*base) {
        out[0] = '\0';
        return true;
    }
    int n = snprintf(out, 32, "%s.%s", base, suffix);
    return n >= 0 && n < 32;
}

int keel_nn_input(keel_graph *g, size_t cols, const char *name)
{
    return keel_graph_add(g, KEEL_OP_INPUT, NULL, 0, 0, cols, 0.0f, 0, name);
}

int keel_nn_index(keel_graph *g, size_t cols, const char *name)
{
    return keel_graph_add(g, KEEL_OP_INDEX, NULL, 0, 0, cols, 0.0f, 0, name);
}

int keel_nn_bag(keel_graph *g, const char *name)
{
    return keel_graph_add(g, KEEL_OP_BAG, NULL, 0, 0, 0, 0.0f, 0, name);
}

int keel_nn_param(keel_graph *g, size_t rows, size_t cols, keel_init init, float attr,
                  const char *name)
{
    return keel_graph_add(g, KEEL_OP_PARAM, NULL, 0, rows, cols,
                          init == KEEL_INIT_NORMAL ? attr : 0.0f, (int)init, name);
}

/* Adds the nodes of a layer; on any failure removes those already added, so a failed
 * builder leaves the graph as it was. */
static int rollback(keel_graph *g, int n_before, int rc)
{
    if (rc < 0 && g) g->n_nodes = n_before;
    return rc;
}

int keel_nn_dense(keel_graph *g, int x, size_t n_out, keel_init init, const char *name)
{
    if (!g || x < 0 || x >= g->n_nodes) return KEEL_EINVAL;
    int n0 = g->n_nodes;
    char wn[32], bn[32];
    if (!sub_name(wn, name, "W") || !sub_name(bn, name, "b")) return KEEL_EINVAL;
    int w = keel_nn_param(g, g->nodes[x].cols, n_out, init, 0.0f, wn);
    if (w < 0) return rollback(g, n0, w);
    int b = keel_nn_param(g, 1, n_out, KEEL_INIT_ZERO, 0.0f, bn);
    if (b < 0) return rollback(g, n0, b);
    int in[3] = {x, w, b};
    return rollback(g, n0, keel_graph_add(g, KEEL_OP_LINEAR, in, 3, 0, n_out, 0.0f, 0, name));
}

int keel_nn_unary(keel_graph *g, keel_op op, int x, float attr)
{
    if (op != KEEL_OP_RELU && op != KEEL_OP_GELU && op != KEEL_OP_SILU && op != KEEL_OP_DROPOUT)
        return KEEL_EINVAL;
    return keel_graph_add(g, op, &x, 1, 0, 0, op == KEEL_OP_DROPOUT ? attr : 0.0f, 0, NULL);
}

static int norm_layer(keel_graph *g, keel_op op, int x, const char *name)
{
    if (!g || x < 0 || x >= g->n_nodes) return KEEL_EINVAL;
    int n0 = g->n_nodes;
    char gn[32], bn[32];
    if (!sub_name(gn, name, "g") || !sub_name(bn, name, "b")) return KEEL_EINVAL;
    size_t n = g->nodes[x].cols;
    int gamma = keel_nn_param(g, 1, n, KEEL_INIT_ONE, 0.0f, gn);
    if (gamma < 0) return rollback(g, n0, gamma);
    int beta = keel_nn_param(g, 1, n, KEEL_INIT_ZERO, 0.0f, bn);
    if (beta < 0) return rollback(g, n0, beta);
    int in[3] = {x, gamma, beta};
    return rollback(g, n0, keel_graph_add(g, op, in, 3, 0, 0, 0.0f, 0, name));
}

int keel_nn_layernorm(keel_graph *g, int x, const char *name)
{
    return norm_layer(g, KEEL_OP_LAYERNORM, x, name);
}

int keel_nn_batchnorm(keel_graph *g, int x, const char *name)
{
    return norm_layer(g, KEEL_OP_BATCHNORM, x, name);
}

static int embed_layer(keel_graph *g, keel_op op, int src, int col, size_t vocab, size_t dim,
                       const char *name)
{
    if (!g || dim == 0) return KEEL_EINVAL;
    int n0 = g->n_nodes;
    char tn[32];
    if (!sub_name(tn, name, "T")) return KEEL_EINVAL;
    int t = keel_nn_param(g, vocab, dim, KEEL_INIT_NORMAL, (float)(1.0 / sqrt((double)dim)), tn);
    if (t < 0) return rollback(g, n0, t);
    int in[2] = {src, t};
    return rollback(g, n0, keel_graph_add(g, op, in, 2, 0, dim, 0.0f, col, name));
}

int keel_nn_embed(keel_graph *g, int idx, int col, size_t vocab, size_t dim, const char *name)
{
    return embed_layer(g, KEEL_OP_EMBED, idx, col, vocab, dim, name);
}

int keel_nn_embed_bag(keel_graph *g, int bag, size_t vocab, size_t dim, const char *name)
{
    return embed_layer(g, KEEL_OP_EMBED_BAG, bag, 0, vocab, dim, name);
}

int keel_nn_concat(keel_graph *g, const int *xs, int n)
{
    return keel_graph_add(g, KEEL_OP_CONCAT, xs, n, 0, 0, 0.0f, 0, NULL);
}

int keel_nn_loss(keel_graph *g, keel_op op, int logits, int target, int weights, float attr)
{
    if (!is_loss(op)) return KEEL_EINVAL;
    int in[3] = {logits, target, weights};
    return keel_graph_add(g, op, in, 3, 1, 1, op == KEEL_OP_HUBER ? attr : 0.0f, 0, NULL);
}
