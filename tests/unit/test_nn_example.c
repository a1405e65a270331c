/*
 * test_nn_example.c — per-example gradient norms (keel_exec_example_grad_norms), checked
 * against the backward pass run one row at a time: row r alone, with its weight, gives the
 * gradient of its own loss, ∇l_r, and its share of the batch gradient is ∇l_r w_r / Σ w.
 */
#include "harness.h"

#include "nn/nn.h"

#include <stdlib.h>

enum { ROWS = 7, NX = 4 };

typedef struct net {
    keel_graph *g;
    int x, idx, bag, t, w, loss;
} net;

/* dense → SiLU, an embedding, an embedding bag, concatenated, layer norm, dense → ReLU
 * (the fused path), dense → one logit, weighted sigmoid cross-entropy. */
static int build(net *n, bool batchnorm)
{
    keel_graph *g = n->g = keel_graph_new();
    if (!g) return -1;
    n->x = keel_nn_input(g, NX, "x");
    n->idx = keel_nn_index(g, 1, "idx");
    n->bag = keel_nn_bag(g, "bag");
    n->t = keel_nn_input(g, 1, "t");
    n->w = keel_nn_input(g, 1, "w");
    int a = keel_nn_unary(g, KEEL_OP_SILU, keel_nn_dense(g, n->x, 6, KEEL_INIT_XAVIER, "l1"), 0);
    int e = keel_nn_embed(g, n->idx, 0, 5, 3, "e");
    int eb = keel_nn_embed_bag(g, n->bag, 7, 2, "eb");
    int parts[] = {a, e, eb};
    int c = keel_nn_concat(g, parts, 3);
    int nrm = batchnorm ? keel_nn_batchnorm(g, c, "bn") : keel_nn_layernorm(g, c, "ln");
    int r = keel_nn_unary(g, KEEL_OP_RELU, keel_nn_dense(g, nrm, 5, KEEL_INIT_KAIMING, "l2"), 0);
    int out = keel_nn_dense(g, r, 1, KEEL_INIT_XAVIER, "out");
    n->loss = keel_nn_loss(g, KEEL_OP_SIGMOID_BCE, out, n->t, n->w, 0);
    if (n->loss < 0 || keel_graph_finalise(g)) return -1;
    keel_rng rng;
    keel_rng_seed(&rng, 7);
    keel_graph_init_params(g, &rng);
    for (size_t i = 0; i < g->n_params; i++) /* biases and γ, β away from their defaults */
        g->params[i] += (float)(0.2 * (keel_rng_uniform(&rng) - 0.5));
    return 0;
}

static const uint32_t bag_off[ROWS + 1] = {0, 3, 3, 5, 9, 10, 12, 14};
static const int32_t bag_ids[14] = {1, 1, 4, 2, 9, 3, 3, 3, 10, 0, 6, 13, 5, 5};

/* Writes rows [first, first + n) of the test data into exec x's rows 0..n. */
static void fill(const net *n, keel_exec *x, size_t first, size_t rows, uint32_t *off)
{
    keel_rng rng;
    keel_rng_seed(&rng, 99);
    float xs[ROWS * NX], ts[ROWS], ws[ROWS];
    int32_t ix[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        for (size_t j = 0; j < NX; j++)
            xs[r * NX + j] = (float)(2 * keel_rng_uniform(&rng) - 1);
        ts[r] = r % 3 == 0 ? 1.0f : 0.0f;
        ws[r] = 0.5f + (float)r;
        ix[r] = (int32_t)(r % 5);
    }
    memcpy(keel_exec_data(x, n->x), xs + first * NX, rows * NX * sizeof(float));
    memcpy(keel_exec_data(x, n->t), ts + first, rows * sizeof(float));
    memcpy(keel_exec_data(x, n->w), ws + first, rows * sizeof(float));
    memcpy(keel_exec_index(x, n->idx), ix + first, rows * sizeof(int32_t));
    for (size_t r = 0; r <= rows; r++)
        off[r] = bag_off[first + r];
    keel_exec_bag(x, n->bag, off, bag_ids);
}

TEST(example_grad_norms_match_one_row_backward)
{
    net n;
    REQUIRE(build(&n, false) == 0);
    keel_graph *g = n.g;
    keel_exec *bx = keel_exec_new(g, ROWS, true), *rx = keel_exec_new(g, 1, true);
    float *grad = calloc(g->n_params, sizeof *grad), *gr = calloc(g->n_params, sizeof *gr);
    double *sum = calloc(g->n_params, sizeof *sum), norms[ROWS];
    uint32_t off[ROWS + 1], off1[2];
    REQUIRE(bx && rx && grad && gr && sum);
    fill(&n, bx, 0, ROWS, off);
    CHECK_EQ_INT(keel_exec_example_grad_norms(bx, norms), KEEL_ESTATE); /* no backward yet */
    REQUIRE(keel_exec_forward(bx, n.loss, ROWS, true) == KEEL_OK);
    REQUIRE(keel_exec_backward(bx, n.loss, grad) == KEEL_OK);
    REQUIRE(keel_exec_example_grad_norms(bx, norms) == KEEL_OK);
    double sum_w = 0;
    for (size_t r = 0; r < ROWS; r++)
        sum_w += 0.5 + (double)r;
    for (size_t r = 0; r < ROWS; r++) {
        /* Row r alone: ids of its bag still index bag_ids (the offsets are absolute). */
        fill(&n, rx, r, 1, off1);
        REQUIRE(keel_exec_forward(rx, n.loss, 1, true) == KEEL_OK);
        REQUIRE(keel_exec_backward(rx, n.loss, gr) == KEEL_OK);
        double share = (0.5 + (double)r) / sum_w, want = 0;
        for (size_t q = 0; q < g->n_params; q++) {
            want += (double)gr[q] * gr[q] * share * share;
            sum[q] += gr[q] * share;
        }
        CHECK(want > 0);
        CHECK_NEAR(norms[r], want, 1e-4 * want);
    }
    /* The shares add up to the batch's gradient (the reference is the right one). */
    for (size_t q = 0; q < g->n_params; q++)
        CHECK_NEAR(sum[q], grad[q], 1e-5 + 1e-4 * fabs(grad[q]));
    /* A new forward leaves no backward to read. */
    REQUIRE(keel_exec_forward(bx, n.loss, ROWS, true) == KEEL_OK);
    CHECK_EQ_INT(keel_exec_example_grad_norms(bx, norms), KEEL_ESTATE);
    free(grad);
    free(gr);
    free(sum);
    keel_exec_free(bx);
    keel_exec_free(rx);
    keel_graph_free(g);
}

TEST(example_grad_norms_refuse_batchnorm)
{
    net n;
    REQUIRE(build(&n, true) == 0);
    keel_exec *x = keel_exec_new(n.g, ROWS, true);
    float *grad = calloc(n.g->n_params, sizeof *grad);
    double norms[ROWS];
    uint32_t off[ROWS + 1];
    REQUIRE(x && grad);
    fill(&n, x, 0, ROWS, off);
    REQUIRE(keel_exec_forward(x, n.loss, ROWS, true) == KEEL_OK);
    REQUIRE(keel_exec_backward(x, n.loss, grad) == KEEL_OK);
    CHECK_EQ_INT(keel_exec_example_grad_norms(x, norms), KEEL_EINVAL);
    free(grad);
    keel_exec_free(x);
    keel_graph_free(n.g);
}
