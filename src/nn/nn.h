/*
 * nn.h — a small graph of ops with forward and backward, in the style of kann.
 *
 * A keel_graph is built once (nodes added in topological order: an op's inputs are always
 * earlier nodes), then finalised, which lays every trainable parameter out in ONE flat float
 * buffer (g->params, n_params) so that optimisers, checkpoints and artifacts are plain loops
 * over one array. Non-trainable state (batch-norm running statistics) lives in a second flat
 * buffer (g->state, n_state). After finalising, the graph is read-only except for params and
 * state, which the trainer updates between batches.
 *
 * Running a graph needs a keel_exec: a per-thread workspace holding every node's value (and
 * gradient, when made for training) for up to max_rows rows. Several execs may share one
 * graph from several threads at once for prediction (forward only, train=false).
 *
 * Every node's value is a row-major matrix [rows, cols] where rows is the batch size given
 * to forward (PARAM nodes: their own fixed [rows, cols]; loss nodes: [1, 1]).
 *
 * Ops and their maths (B = batch rows):
 *   INPUT        dense input [B, cols], written by the caller through keel_exec_data
 *   INDEX        int32 input [B, cols], written through keel_exec_index (category codes,
 *                class labels); no gradient
 *   BAG          ragged int32 bags, one per row, set with keel_exec_bag (hashed text)
 *   PARAM        trainable [r, c]; iattr init: KEEL_INIT_* (attr: NORMAL's stddev)
 *   LINEAR       y = x W + b          inputs x[B,k], W[k,n] (PARAM), b[1,n] (PARAM)
 *   ADD          y = a + b            same shapes (residual connections)
 *   RELU         y = max(0, x)
 *   GELU         y = x Φ(x)           exact, with erf
 *   SILU         y = x σ(x)
 *   DROPOUT      train: y = x m / (1-p), m ~ Bernoulli(1-p) from the exec's rng; else y = x
 *   LAYERNORM    y = γ (x - μ_row) / sqrt(σ²_row + ε) + β     inputs x, γ[1,n], β[1,n]; ε 1e-5
 *   BATCHNORM    train: batch statistics, running stats updated with momentum 0.1 (in
 *                g->state); eval: running stats.  inputs x, γ[1,n], β[1,n]; ε 1e-5
 *   EMBED        y[B,d] = T[idx[r, col]]   inputs idx (INDEX), T[V,d] (PARAM); iattr col;
 *                an index outside [0, V) is a programming error (the transforms map unknown
 *                values to bucket 0)
 *   EMBED_BAG    y[B,d] = mean over the row's bag of T[id]; empty bag gives 0; ids are
 *                reduced modulo V      inputs bag (BAG), T[V,d] (PARAM)
 *   CONCAT       y = [x1 x2 ...] along columns (1..KEEL_NN_MAX_INPUTS inputs)
 *   SOFTMAX_CE   [1,1] = Σ_r w_r · (−log softmax(z_r)[y_r]) / Σ_r w_r
 *                inputs logits z[B,K], labels (INDEX [B,1]), optional weights (INPUT [B,1])
 *   SIGMOID_BCE  [1,1] = Σ_r w_r · (−y log σ(z) − (1−y) log(1−σ(z))) / Σ_r w_r  (stable form)
 *                inputs logits z[B,1], targets (INPUT [B,1], 0/1), optional weights
 *   MSE          [1,1] = Σ_r w_r Σ_j (z−y)² / (Σ_r w_r · cols)
 *   HUBER        like MSE with the Huber function of attr delta (default 1)
 * Loss ops take an optional third input: per-row weights (pass -1 for none: all 1).
 * A loss whose weights sum to 0 is 0, with zero gradient.
 *
 * Details the list above leaves open:
 *   LINEAR       the bias input is optional (2 inputs: y = x W)
 *   SIGMOID_BCE  z and the targets may have c > 1 columns (multi-label): the sum over
 *                columns is divided by Σ_r w_r · c, as MSE does
 *   BATCHNORM    the running variance is updated with the unbiased batch variance (as
 *                PyTorch does); with one row, the biased one (0)
 *   EMBED        an index outside [0, V) makes forward fail with KEEL_EINVAL
 *   EMBED_BAG    ids are reduced as (uint32_t)id % V; forward fails with KEEL_EINVAL when
 *                no bags were set or the offsets decrease
 *   SOFTMAX_CE   a label outside [0, K) makes forward fail with KEEL_EINVAL
 *   DROPOUT      attr p in [0, 1); HUBER attr delta > 0 (0 is taken as the default 1)
 * Ops that use no attr / iattr require them to be 0, so that every graph has one spelling.
 *
 * Limits (checked by keel_graph_add, so also for graphs read from JSON): at most
 * KEEL_NN_MAX_NODES nodes, every dimension at most KEEL_NN_MAX_DIM, at most
 * KEEL_NN_MAX_PARAMS parameters (and state floats), names shorter than 32 bytes.
 */
#ifndef KEEL_NN_H
#define KEEL_NN_H

#include "base/base.h"
#include "base/json.h"

#define KEEL_NN_MAX_INPUTS 64
#define KEEL_NN_MAX_NODES  100000
#define KEEL_NN_MAX_DIM    ((size_t)1 << 24)
#define KEEL_NN_MAX_PARAMS ((size_t)1 << 31)

typedef enum keel_op {
    KEEL_OP_INPUT = 0,
    KEEL_OP_INDEX,
    KEEL_OP_BAG,
    KEEL_OP_PARAM,
    KEEL_OP_LINEAR,
    KEEL_OP_ADD,
    KEEL_OP_RELU,
    KEEL_OP_GELU,
    KEEL_OP_SILU,
    KEEL_OP_DROPOUT,
    KEEL_OP_LAYERNORM,
    KEEL_OP_BATCHNORM,
    KEEL_OP_EMBED,
    KEEL_OP_EMBED_BAG,
    KEEL_OP_CONCAT,
    KEEL_OP_SOFTMAX_CE,
    KEEL_OP_SIGMOID_BCE,
    KEEL_OP_MSE,
    KEEL_OP_HUBER,
    KEEL_OP_COUNT
} keel_op;

/* How a PARAM node is initialised by keel_graph_init_params. */
typedef enum keel_init {
    KEEL_INIT_ZERO = 0,
    KEEL_INIT_ONE,
    KEEL_INIT_KAIMING, /* U(-b, b), b = sqrt(6 / fan_in), fan_in = rows: for ReLU-family layers */
    KEEL_INIT_XAVIER,  /* U(-b, b), b = sqrt(6 / (rows + cols)) */
    KEEL_INIT_NORMAL,  /* N(0, attr^2): embeddings */
    KEEL_INIT_COUNT
} keel_init;

const char *keel_op_name(keel_op op);    /* "linear", "softmax_ce", ... */
int keel_op_from_name(const char *name); /* -1 if unknown */

typedef struct keel_node {
    keel_op op;
    int n_inputs;
    int inputs[KEEL_NN_MAX_INPUTS];
    size_t rows; /* PARAM: its rows; loss: 1; others: 0 = the batch */
    size_t cols;
    float attr;    /* DROPOUT p; HUBER delta; NORMAL init stddev */
    int iattr;     /* EMBED column; PARAM keel_init */
    size_t offset; /* PARAM: offset in g->params; BATCHNORM: offset of mean, var in g->state */
    char name[32]; /* optional, for reports and the manifest ("h1.W"); may be empty */
} keel_node;

typedef struct keel_graph {
    keel_node *nodes;
    int n_nodes, cap_nodes;
    float *params; /* after finalise: n_params floats, 64-byte aligned; every PARAM node's
                    * block starts 64-byte aligned too (the gaps are zero, with zero grad) */
    size_t n_params;
    float *state; /* after finalise: n_state floats (batch-norm running mean and variance) */
    size_t n_state;
    bool finalised;
    void *params_mem; /* private: the allocation params points into (for the alignment) */
} keel_graph;

/* A new empty graph (NULL when out of memory). Free with keel_graph_free (NULL-safe). A graph
 * is not thread-safe while it is built; once finalised, any number of execs may read it. */
keel_graph *keel_graph_new(void);
void keel_graph_free(keel_graph *g);

/* Adds a node; returns its id (>= 0) or a negative KEEL_E* code (KEEL_EINVAL for shapes
 * that don't fit, naming nothing: the builder is program code, not data; KEEL_ELIMIT past
 * a limit; KEEL_ENOMEM; KEEL_ESTATE once finalised). The shape rules are checked here, so a
 * graph that builds always runs. inputs may name -1 as a loss's weights: none. For derived
 * ops rows must be 0 and cols either 0 (inferred) or the inferred value; name may be NULL. */
int keel_graph_add(keel_graph *g, keel_op op, const int *inputs, int n_inputs, size_t rows,
                   size_t cols, float attr, int iattr, const char *name);
/* The same for a node given as a struct (offset is ignored); on failure e (may be NULL)
 * says what does not fit, e.g. "node 5 (linear): input 1 has 64 rows, x has 32 columns". */
int keel_graph_add_node(keel_graph *g, const keel_node *node, keel_error *e);

/* Builders for the common cases (thin wrappers of keel_graph_add; same returns). dense adds
 * "NAME.W" [k, n_out] with the given init and "NAME.b" [1, n_out] zero, then the LINEAR
 * "NAME"; layernorm/batchnorm add "NAME.g" (ones) and "NAME.b" (zeros); embed and embed_bag
 * add "NAME.T" [vocab, dim], NORMAL with stddev 1/sqrt(dim). Names that would not fit the
 * 32 bytes are refused (KEEL_EINVAL). loss: weights -1 for none; attr is HUBER's delta. */
int keel_nn_input(keel_graph *g, size_t cols, const char *name);
int keel_nn_index(keel_graph *g, size_t cols, const char *name);
int keel_nn_bag(keel_graph *g, const char *name);
int keel_nn_param(keel_graph *g, size_t rows, size_t cols, keel_init init, float attr,
                  const char *name);
int keel_nn_dense(keel_graph *g, int x, size_t n_out, keel_init init,
                  const char *name);                             /* W,b,LINEAR */
int keel_nn_unary(keel_graph *g, keel_op op, int x, float attr); /* RELU, GELU, SILU, DROPOUT */
int keel_nn_layernorm(keel_graph *g, int x, const char *name);   /* γ, β, LAYERNORM */
int keel_nn_batchnorm(keel_graph *g, int x, const char *name);
int keel_nn_embed(keel_graph *g, int idx, int col, size_t vocab, size_t dim, const char *name);
int keel_nn_embed_bag(keel_graph *g, int bag, size_t vocab, size_t dim, const char *name);
int keel_nn_concat(keel_graph *g, const int *xs, int n);
int keel_nn_loss(keel_graph *g, keel_op op, int logits, int target, int weights, float attr);

/* Columns of a node's value (for non-PARAM nodes the row count is the batch). */
size_t keel_node_cols(const keel_graph *g, int node);

/* Nodes that contribute nothing to node root: neither root nor read by it, directly or
 * through other nodes (every node after root among them). *n_dead receives their count and
 * *first the lowest of them (-1 when none). One pass from root down, O(nodes + edges).
 * KEEL_EINVAL for a root outside the graph, KEEL_ENOMEM. */
int keel_graph_dead_nodes(const keel_graph *g, int root, int *first, size_t *n_dead);

/* The sizes finalise lays out: params (each PARAM block rounded to 16 floats) and state
 * (2 * cols per BATCHNORM). KEEL_ELIMIT past KEEL_NN_MAX_PARAMS. */
int keel_graph_sizes(const keel_graph *g, size_t *n_params, size_t *n_state);
/* Assigns offsets and allocates params and state, zeroed; no nodes may be added afterwards.
 * KEEL_ENOMEM (the graph is unchanged and may be finalised again), KEEL_ELIMIT,
 * KEEL_ESTATE if already finalised. */
int keel_graph_finalise(keel_graph *g);
/* Fills params by each PARAM node's init kind from rng; state: means 0, variances 1.
 * Deterministic for a given seed. Needs a finalised graph (else does nothing). */
void keel_graph_init_params(keel_graph *g, keel_rng *rng);

/* The graph's structure (no parameter values) as a JSON object:
 * {"nodes":[{"op":"linear","inputs":[0,1,2],"rows":0,"cols":256,"attr":0,"iattr":0,
 *  "name":"h1"},...],"n_params":N,"n_state":M}.  keel_graph_from_json reads it back,
 * validating everything as untrusted input (op names from the closed list, inputs earlier
 * nodes, shapes consistent, sizes capped and overflow-checked) and returns a finalised graph
 * with zeroed params and state whose sizes must equal n_params/n_state. */
/* to_json appends to out; it needs a finalised graph (KEEL_ESTATE) and returns KEEL_ENOMEM
 * on allocation failure. from_json returns KEEL_EFORMAT for anything that is not a valid
 * graph (e->msg names the node and the problem), KEEL_ELIMIT past the limits, KEEL_ENOMEM;
 * *out is NULL on failure and owned by the caller on success. */
int keel_graph_to_json(const keel_graph *g, keel_buf *out);
int keel_graph_from_json(const keel_json *v, keel_graph **out, keel_error *e);

/* ---- running ---------------------------------------------------------------------------- */
typedef struct keel_exec keel_exec;

/* A workspace for up to max_rows rows; with_grad adds gradient buffers for backward. NULL
 * when out of memory, when g is not finalised, max_rows is 0 or the sizes overflow. It
 * borrows g, which must outlive it. One exec is used by one thread at a time. No call below
 * allocates. */
keel_exec *keel_exec_new(const keel_graph *g, size_t max_rows, bool with_grad);
void keel_exec_free(keel_exec *x);
/* Input buffers to fill before forward: INPUT nodes [max_rows * cols] floats, INDEX nodes
 * [max_rows * cols] int32. NULL if the node has another op. */
float *keel_exec_data(keel_exec *x, int node);
int32_t *keel_exec_index(keel_exec *x, int node);
/* Sets a BAG node's bags for the next forward: row r's ids are ids[offsets[r] ..
 * offsets[r+1]). Borrowed: must stay valid through forward and backward. */
void keel_exec_bag(keel_exec *x, int node, const uint32_t *offsets, const int32_t *ids);
/* Seeds the exec's dropout rng. */
void keel_exec_seed(keel_exec *x, uint64_t seed);

/* Computes the value of `target` (and the ancestors it needs) for rows rows (<= max_rows).
 * train: dropout active, batch norm uses and updates batch statistics (so only one exec may
 * train a graph at a time). Returns KEEL_OK or KEEL_EINVAL (rows 0 or too large, target not
 * a node, or bad index data as the op list says). */
int keel_exec_forward(keel_exec *x, int target, size_t rows, bool train);
/* The value computed for a node by the last forward: [rows, cols] row-major (PARAM nodes:
 * their parameters). NULL for INDEX and BAG nodes and nodes out of range. */
const float *keel_exec_value(const keel_exec *x, int node);
/* The last forward's loss as the two sums it divides: Σ_r w_r · loss_r (*num) and Σ_r w_r,
 * times the columns for the per-column losses (*den); the loss is num / den (0 when den is
 * 0). Sums over several batches (or processes) give the loss over all their rows.
 * KEEL_EINVAL if loss is not a loss node, KEEL_ESTATE if the last forward was not for it. */
int keel_exec_loss_parts(const keel_exec *x, int loss, double *num, double *den);
/* Back-propagates from the loss node `loss` (after forward(loss, ..., true)) and writes the
 * gradient of the loss with respect to every parameter into grad (n_params floats,
 * overwritten, not accumulated). Needs an exec made with_grad. KEEL_EINVAL if loss is not a
 * loss node, KEEL_ESTATE if the exec has no gradients or the last forward was not for loss. */
int keel_exec_backward(keel_exec *x, int loss, float *grad);
/* Per-example gradient norms, for DP-SGD's clipping: after a backward, norms_sq[r] (rows
 * doubles, for each row of the last forward) is |g_r|², where g_r is row r's share of the
 * parameter gradient backward wrote (the rows' shares sum to it; with a weighted loss each
 * share carries w_r / Σ w). No per-row gradient is formed: LINEAR's share of dW is the outer
 * product x_r^T dy_r, whose squared norm is |x_r|² |dy_r|²; of db, |dy_r|²; EMBED adds
 * |dy_r|²; EMBED_BAG Σ over distinct ids (m / |bag|)² |dy_r|² (m: the id's count); LAYERNORM
 * |dy_r ⊙ x̂_r|² + |dy_r|². Weights the caller later zeroes (held at zero) still count, so
 * the norm bounds the share that is used. KEEL_ESTATE without a backward since the last
 * forward; KEEL_EINVAL when a parameter feeds more than one op (its shares' norms do not
 * add) or feeds a BATCHNORM (whose batch statistics make no gradient a row's own). Not used
 * by default training. */
int keel_exec_example_grad_norms(const keel_exec *x, double *norms_sq);
/* The gradient of the loss with respect to a node's value from the last backward, [rows,
 * cols]; NULL for nodes that got none (inputs, params, nodes no parameter feeds) and for a
 * ReLU that is its input's only consumer (its buffer is reused, in place, for the input's
 * gradient). */
const float *keel_exec_grad(const keel_exec *x, int node);

#endif
