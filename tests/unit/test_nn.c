/* Tests of the nn module: shape rules, layout and init, every op's forward on hand-made
 * inputs, every op's gradient against central finite differences (parameters, and dense
 * inputs through an identity LINEAR in front of the op), plans and gradient bookkeeping,
 * out-of-memory paths, and the JSON form of a graph. */
#include "harness.h"

#include "base/json.h"
#include "nn/nn.h"
#include "tensor/tensor.h"

#include <stdlib.h>

static float *P(keel_graph *g, int node)
{
    return g->params + g->nodes[node].offset;
}

static void fill_uniform(keel_rng *r, float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * (float)keel_rng_uniform(r);
}

/* Values in ±[0.3, 1]: well away from ReLU's kink at 0. */
static void fill_away_from_zero(keel_rng *r, float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = 0.3f + 0.7f * (float)keel_rng_uniform(r);
        p[i] = keel_rng_uniform(r) < 0.5 ? -v : v;
    }
}

/* ---- gradient checking -------------------------------------------------------------- */

typedef struct gc {
    keel_graph *g;
    keel_exec *x;
    int loss;
    size_t rows;
    bool train;
    bool reseed; /* re-seed the dropout rng before every forward */
} gc;

static double loss_at(gc *c)
{
    if (c->reseed) keel_exec_seed(c->x, 1234);
    if (keel_exec_forward(c->x, c->loss, c->rows, c->train) != KEEL_OK) return NAN;
    return keel_exec_value(c->x, c->loss)[0];
}

/* (L(p + ε) - L(p - ε)) / 2ε for one parameter entry, with the step actually taken. */
static double numeric(gc *c, float *w, double eps)
{
    float save = *w;
    *w = (float)(save + eps);
    double hi = *w, lp = loss_at(c);
    *w = (float)(save - eps);
    double lo = *w, lm = loss_at(c);
    *w = save;
    return (lp - lm) / (hi - lo);
}

static bool agree(double a, double b)
{
    return fabs(a - b) <= 1e-2 * fmax(fabs(a), fabs(b)) + 1e-3;
}

/* Compares every parameter's analytic gradient (at most 80 entries per PARAM node) with
 * central differences. Where they disagree, the difference is taken again with half the
 * step: if the two numeric values disagree with each other, the step crossed a kink (ReLU,
 * Huber) and the entry is skipped (at most a tenth may be); otherwise it is a mismatch.
 * Returns the number of mismatches (and prints the first few). */
static int grad_check(gc *c, double eps)
{
    keel_graph *g = c->g;
    float *grad = malloc(g->n_params * sizeof(float));
    for (size_t i = 0; i < g->n_params; i++)
        grad[i] = NAN;
    if (!(isfinite(loss_at(c)))) return 1000;
    if (keel_exec_backward(c->x, c->loss, grad) != KEEL_OK) return 1000;
    int bad = 0, checked = 0, skipped = 0;
    size_t pos = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        const keel_node *nd = &g->nodes[n];
        if (nd->op != KEEL_OP_PARAM) continue;
        for (size_t i = pos; i < nd->offset; i++) /* alignment gaps: zero */
            if (grad[i] != 0.0f) bad++;
        size_t size = nd->rows * nd->cols, step = size > 80 ? size / 80 + 1 : 1;
        for (size_t j = 0; j < size; j += step) {
            float *w = g->params + nd->offset + j;
            double ana = grad[nd->offset + j], num = numeric(c, w, eps);
            checked++;
            if (agree(ana, num)) continue;
            double num2 = numeric(c, w, eps / 2);
            if (!agree(num, num2)) {
                skipped++;
                continue;
            }
            if (bad < 5)
                fprintf(stderr, "    param node %d (%s) [%zu]: analytic %.6g numeric %.6g\n", n,
                        nd->name, j, ana, num);
            bad++;
        }
        pos = nd->offset + size;
    }
    for (size_t i = pos; i < g->n_params; i++)
        if (grad[i] != 0.0f) bad++;
    if (skipped * 10 > checked) {
        fprintf(stderr, "    %d of %d entries skipped as kinks\n", skipped, checked);
        bad += skipped;
    }
    loss_at(c); /* leave the exec as it was */
    free(grad);
    return checked ? bad : 1000;
}

/* A graph whose dense input reaches the op under test through an identity LINEAR "carrier"
 * (W = I, b = 0): the carrier's parameter gradients are x^T dh and Σ dh, so checking them
 * checks the op's gradient with respect to its dense input. */
typedef struct fixture {
    keel_graph *g;
    int x, h, w0;      /* input, carrier output, carrier W */
    int t, wts;        /* MSE targets and weights (INPUT nodes) */
    size_t rows, cols; /* of x */
} fixture;

static fixture fixture_new(size_t rows, size_t cols)
{
    fixture f = {0};
    f.g = keel_graph_new();
    f.rows = rows;
    f.cols = cols;
    f.x = keel_nn_input(f.g, cols, "x");
    f.h = keel_nn_dense(f.g, f.x, cols, KEEL_INIT_ZERO, "carrier");
    f.w0 = f.h - 2;
    return f;
}

/* Adds loss = MSE(out, t, weights) and finalises. */
static int fixture_mse(fixture *f, int out, bool weighted)
{
    size_t c = keel_node_cols(f->g, out);
    f->t = keel_nn_input(f->g, c, "t");
    f->wts = weighted ? keel_nn_input(f->g, 1, "w") : -1;
    int loss = keel_nn_loss(f->g, KEEL_OP_MSE, out, f->t, f->wts, 0);
    return loss;
}

/* Finalises, sets the carrier to identity and fills x (away from 0), t and the weights. */
static keel_exec *fixture_ready(fixture *f, keel_rng *r)
{
    if (keel_graph_finalise(f->g) != KEEL_OK) return NULL;
    keel_graph_init_params(f->g, r);
    /* ones and zeros (γ, β, biases) made generic, so that no factor of 1 or 0 hides a term */
    for (int i = 0; i < f->g->n_nodes; i++) {
        const keel_node *nd = &f->g->nodes[i];
        if (nd->op != KEEL_OP_PARAM || i == f->w0 || i == f->w0 + 1) continue;
        if (nd->iattr == KEEL_INIT_ONE)
            fill_uniform(r, P(f->g, i), nd->rows * nd->cols, 0.5f, 1.5f);
        else if (nd->iattr == KEEL_INIT_ZERO)
            fill_uniform(r, P(f->g, i), nd->rows * nd->cols, -0.5f, 0.5f);
    }
    float *w0 = P(f->g, f->w0);
    for (size_t i = 0; i < f->cols; i++)
        w0[i * f->cols + i] = 1.0f;
    keel_exec *x = keel_exec_new(f->g, f->rows + 3, true);
    if (!x) return NULL;
    fill_away_from_zero(r, keel_exec_data(x, f->x), f->rows * f->cols);
    if (f->t > 0) fill_uniform(r, keel_exec_data(x, f->t), f->rows * f->g->nodes[f->t].cols, -1, 1);
    if (f->wts > 0) fill_uniform(r, keel_exec_data(x, f->wts), f->rows, 0.5f, 1.5f);
    return x;
}

/* ---- names, shapes, layout ----------------------------------------------------------- */

TEST(op_names_round_trip)
{
    for (int i = 0; i < KEEL_OP_COUNT; i++)
        CHECK_EQ_INT(keel_op_from_name(keel_op_name((keel_op)i)), i);
    CHECK_STR(keel_op_name(KEEL_OP_SOFTMAX_CE), "softmax_ce");
    CHECK_STR(keel_op_name(KEEL_OP_EMBED_BAG), "embed_bag");
    CHECK_EQ_INT(keel_op_from_name("conv2d"), -1);
    CHECK_EQ_INT(keel_op_from_name(NULL), -1);
    CHECK_STR(keel_op_name((keel_op)99), "?");
}

TEST(graph_add_checks_shapes)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 4, "x");
    int idx = keel_nn_index(g, 2, "idx");
    int bag = keel_nn_bag(g, "bag");
    int w = keel_nn_param(g, 4, 3, KEEL_INIT_XAVIER, 0, "W");
    int b = keel_nn_param(g, 1, 3, KEEL_INIT_ZERO, 0, "b");
    int bad_b = keel_nn_param(g, 1, 4, KEEL_INIT_ZERO, 0, "b4");
    CHECK(x == 0 && idx == 1 && bag == 2 && w == 3 && b == 4 && bad_b == 5);
    int in[4] = {x, w, b};
    int lin = keel_graph_add(g, KEEL_OP_LINEAR, in, 3, 0, 0, 0, 0, "lin");
    CHECK(lin > 0);
    CHECK_EQ_INT(keel_node_cols(g, lin), 3);
    /* x W without bias */
    CHECK(keel_graph_add(g, KEEL_OP_LINEAR, in, 2, 0, 3, 0, 0, NULL) > 0);
    /* bad: wrong bias shape, W not a param, x a param, cols disagreeing, rows not 0 */
    int bad1[3] = {x, w, bad_b}, bad2[3] = {x, lin, b}, bad3[3] = {w, w, b};
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_LINEAR, bad1, 3, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_LINEAR, bad2, 3, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_LINEAR, bad3, 3, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_LINEAR, in, 3, 0, 5, 0, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_LINEAR, in, 3, 7, 0, 0, 0, NULL), KEEL_EINVAL);
    /* inputs must be earlier nodes */
    int fwd[2] = {x, 99};
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_ADD, fwd, 2, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    int neg[1] = {-1};
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_RELU, neg, 1, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    /* ADD of different widths; unary of a param; attr on an op without one */
    int add_bad[2] = {x, lin};
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_ADD, add_bad, 2, 0, 0, 0, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_RELU, w, 0), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_RELU, &x, 1, 0, 0, 0.5f, 0, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_LINEAR, x, 0), KEEL_EINVAL);
    /* dropout p range */
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_DROPOUT, x, 1.0f), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_DROPOUT, x, -0.1f), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_DROPOUT, x, NAN), KEEL_EINVAL);
    CHECK(keel_nn_unary(g, KEEL_OP_DROPOUT, x, 0.5f) > 0);
    /* embed: column in range, the right source kinds */
    CHECK(keel_nn_embed(g, idx, 1, 10, 3, "e") > 0);
    CHECK_EQ_INT(keel_nn_embed(g, idx, 2, 10, 3, "e2"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_embed(g, x, 0, 10, 3, "e3"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_embed_bag(g, idx, 10, 3, "e4"), KEEL_EINVAL);
    CHECK(keel_nn_embed_bag(g, bag, 10, 3, "e5") > 0);
    /* losses: labels must be a 1-column index, targets an input of matching width */
    int n_before = g->n_nodes;
    CHECK_EQ_INT(keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, lin, x, -1, 0), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_loss(g, KEEL_OP_MSE, lin, x, -1, 0), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_loss(g, KEEL_OP_MSE, lin, lin, -1, 0), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_loss(g, KEEL_OP_RELU, lin, x, -1, 0), KEEL_EINVAL);
    CHECK_EQ_INT(g->n_nodes, n_before);
    int t3 = keel_nn_input(g, 3, "t3"), w1 = keel_nn_input(g, 1, "w1");
    int mse = keel_nn_loss(g, KEEL_OP_MSE, lin, t3, w1, 0);
    CHECK(mse > 0);
    CHECK_EQ_INT(g->nodes[mse].n_inputs, 3);
    int hub = keel_nn_loss(g, KEEL_OP_HUBER, lin, t3, -1, 0);
    CHECK_EQ_INT(g->nodes[hub].n_inputs, 2);
    CHECK(g->nodes[hub].attr == 1.0f); /* the default delta */
    CHECK(g->nodes[hub].rows == 1 && g->nodes[hub].cols == 1);
    CHECK_EQ_INT(keel_nn_loss(g, KEEL_OP_HUBER, lin, t3, -1, -2.0f), KEEL_EINVAL);
    /* a loss is not an input to anything */
    CHECK_EQ_INT(keel_nn_unary(g, KEEL_OP_RELU, mse, 0), KEEL_EINVAL);
    /* concat: at least one input, all dense */
    int cc[3] = {x, lin, x};
    int cat = keel_nn_concat(g, cc, 3);
    CHECK_EQ_INT(keel_node_cols(g, cat), 11);
    CHECK_EQ_INT(keel_nn_concat(g, cc, 0), KEEL_EINVAL);
    int cbad[2] = {x, idx};
    CHECK_EQ_INT(keel_nn_concat(g, cbad, 2), KEEL_EINVAL);
    /* names and sizes */
    CHECK_EQ_INT(keel_nn_input(g, 2, "a name that is far too long to fit 32 bytes"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_dense(g, x, 3, KEEL_INIT_KAIMING, "a name of thirty bytes, nearly!"),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_input(g, 0, "zero"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_nn_input(g, KEEL_NN_MAX_DIM + 1, "huge"), KEEL_ELIMIT);
    CHECK_EQ_INT(keel_nn_param(g, KEEL_NN_MAX_DIM, KEEL_NN_MAX_DIM, KEEL_INIT_ZERO, 0, "big"),
                 KEEL_ELIMIT);
    CHECK_EQ_INT(keel_graph_add(g, KEEL_OP_PARAM, NULL, 0, 2, 2, 0, 17, "badinit"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_graph_add(g, (keel_op)77, NULL, 0, 0, 2, 0, 0, NULL), KEEL_EINVAL);
    /* norms */
    CHECK(keel_nn_layernorm(g, x, "ln") > 0);
    CHECK(keel_nn_batchnorm(g, lin, "bn") > 0);
    CHECK_EQ_INT(keel_nn_layernorm(g, w, "ln2"), KEEL_EINVAL);
    /* finalised: no more nodes */
    CHECK_EQ_INT(keel_graph_finalise(g), KEEL_OK);
    CHECK_EQ_INT(keel_graph_finalise(g), KEEL_ESTATE);
    CHECK_EQ_INT(keel_nn_input(g, 2, "late"), KEEL_ESTATE);
    keel_graph_free(g);
    keel_graph_free(NULL);
}

TEST(finalise_layout_and_init)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 5, "x");
    int h = keel_nn_dense(g, x, 7, KEEL_INIT_KAIMING, "h");
    int bn = keel_nn_batchnorm(g, h, "bn");
    int xa = keel_nn_param(g, 30, 20, KEEL_INIT_XAVIER, 0, "xa");
    int nm = keel_nn_param(g, 100, 50, KEEL_INIT_NORMAL, 0.5f, "nm");
    int one = keel_nn_param(g, 1, 3, KEEL_INIT_ONE, 0, "one");
    CHECK(bn > 0 && one > 0);
    size_t np, ns;
    CHECK_EQ_INT(keel_graph_sizes(g, &np, &ns), KEEL_OK);
    /* 5x7 -> 48, 1x7 -> 16, γ 16, β 16, 600 -> 608, 5000 -> 5008, 3 -> 16 */
    CHECK_EQ_INT(np, 48 + 16 + 16 + 16 + 608 + 5008 + 16);
    CHECK_EQ_INT(ns, 14);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    CHECK_EQ_INT(g->n_params, np);
    CHECK_EQ_INT(g->n_state, ns);
    CHECK(((uintptr_t)g->params & 63) == 0);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KEEL_OP_PARAM) CHECK(g->nodes[i].offset % 16 == 0);
    keel_rng r;
    keel_rng_seed(&r, 5);
    keel_graph_init_params(g, &r);
    float *w = P(g, h - 2), *b = P(g, h - 1);
    double bound = sqrt(6.0 / 5.0);
    bool varied = false;
    for (int i = 0; i < 35; i++) {
        CHECK(fabs(w[i]) <= bound);
        varied |= w[i] != w[0];
    }
    CHECK(varied);
    for (int i = 0; i < 7; i++)
        CHECK(b[i] == 0.0f);
    CHECK(w[35] == 0.0f && w[47] == 0.0f); /* gap */
    float *xw = P(g, xa);
    for (int i = 0; i < 600; i++)
        CHECK(fabs(xw[i]) <= sqrt(6.0 / 50.0));
    double s = 0, s2 = 0;
    for (int i = 0; i < 5000; i++) {
        s += P(g, nm)[i];
        s2 += (double)P(g, nm)[i] * P(g, nm)[i];
    }
    CHECK_NEAR(s / 5000, 0.0, 0.03);
    CHECK_NEAR(sqrt(s2 / 5000), 0.5, 0.03);
    CHECK(P(g, one)[0] == 1.0f && P(g, one)[2] == 1.0f && P(g, one)[3] == 0.0f);
    CHECK(P(g, bn - 2)[6] == 1.0f && P(g, bn - 1)[6] == 0.0f); /* γ ones, β zeros */
    for (int j = 0; j < 7; j++) {
        CHECK(g->state[g->nodes[bn].offset + (size_t)j] == 0.0f);
        CHECK(g->state[g->nodes[bn].offset + 7 + (size_t)j] == 1.0f);
    }
    /* the same seed gives the same parameters */
    float first = w[3];
    keel_rng_seed(&r, 5);
    keel_graph_init_params(g, &r);
    CHECK(w[3] == first);
    keel_graph_free(g);
}

/* ---- forward values on hand-made inputs ---------------------------------------------- */

TEST(forward_linear_all_paths)
{
    /* x [2,3] W [3,2] b [1,2]: y = x W + b, then the same layer with 20 outputs (the GEMM
     * path) and one row (the matrix-vector path); SIMD on and off. */
    for (int simd = 0; simd < 2; simd++) {
        keel_tensor_set_simd(simd);
        keel_graph *g = keel_graph_new();
        int x = keel_nn_input(g, 3, "x");
        int y = keel_nn_dense(g, x, 2, KEEL_INIT_ZERO, "y");
        int y20 = keel_nn_dense(g, x, 20, KEEL_INIT_ZERO, "y20");
        int r20 = keel_nn_unary(g, KEEL_OP_RELU, y20, 0); /* fused with y20 */
        REQUIRE(keel_graph_finalise(g) == KEEL_OK);
        float *w = P(g, y - 2), *b = P(g, y - 1);
        const float wv[6] = {1, 2, 3, 4, 5, 6}, bv[2] = {0.5f, -1};
        memcpy(w, wv, sizeof wv);
        memcpy(b, bv, sizeof bv);
        float *w20 = P(g, y20 - 2), *b20 = P(g, y20 - 1);
        for (int i = 0; i < 60; i++)
            w20[i] = (float)((i * 7) % 11) - 5.0f;
        for (int j = 0; j < 20; j++)
            b20[j] = 0.25f * (float)j - 2.0f;
        keel_exec *ex = keel_exec_new(g, 4, false);
        REQUIRE(ex);
        const float xv[6] = {1, 0, -1, 2, 1, 0.5f};
        memcpy(keel_exec_data(ex, x), xv, sizeof xv);
        for (size_t rows = 1; rows <= 2; rows++) {
            CHECK_EQ_INT(keel_exec_forward(ex, y, rows, false), KEEL_OK);
            const float *out = keel_exec_value(ex, y);
            CHECK_NEAR(out[0], 1 * 1 + 0 * 3 - 1 * 5 + 0.5, 1e-6);
            CHECK_NEAR(out[1], 1 * 2 + 0 * 4 - 1 * 6 - 1, 1e-6);
            if (rows == 2) {
                CHECK_NEAR(out[2], 2 * 1 + 1 * 3 + 0.5 * 5 + 0.5, 1e-6);
                CHECK_NEAR(out[3], 2 * 2 + 1 * 4 + 0.5 * 6 - 1, 1e-6);
            }
            CHECK_EQ_INT(keel_exec_forward(ex, r20, rows, false), KEEL_OK);
            const float *o20 = keel_exec_value(ex, y20), *rl = keel_exec_value(ex, r20);
            for (size_t r = 0; r < rows; r++)
                for (int j = 0; j < 20; j++) {
                    double want = b20[j];
                    for (int i = 0; i < 3; i++)
                        want += (double)xv[r * 3 + (size_t)i] * w20[i * 20 + j];
                    CHECK_NEAR(o20[r * 20 + (size_t)j], want, 1e-5);
                    CHECK_NEAR(rl[r * 20 + (size_t)j], want > 0 ? want : 0, 1e-5);
                }
        }
        keel_exec_free(ex);
        keel_graph_free(g);
    }
    keel_tensor_set_simd(true);
}

TEST(forward_elementwise_values)
{
    keel_graph *g = keel_graph_new();
    int a = keel_nn_input(g, 3, "a"), b = keel_nn_input(g, 3, "b");
    int ab[2] = {a, b};
    int add = keel_graph_add(g, KEEL_OP_ADD, ab, 2, 0, 0, 0, 0, NULL);
    int relu = keel_nn_unary(g, KEEL_OP_RELU, a, 0);
    int gelu = keel_nn_unary(g, KEEL_OP_GELU, a, 0);
    int silu = keel_nn_unary(g, KEEL_OP_SILU, a, 0);
    int cc[3] = {b, a, b};
    int cat = keel_nn_concat(g, cc, 3);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_exec *ex = keel_exec_new(g, 1, false);
    const float av[3] = {1, -1, 2}, bv[3] = {0.5f, 0.25f, -2};
    memcpy(keel_exec_data(ex, a), av, sizeof av);
    memcpy(keel_exec_data(ex, b), bv, sizeof bv);
    int targets[5] = {add, relu, gelu, silu, cat};
    for (int t = 0; t < 5; t++)
        CHECK_EQ_INT(keel_exec_forward(ex, targets[t], 1, false), KEEL_OK);
    const float *v = keel_exec_value(ex, add);
    CHECK_NEAR(v[0], 1.5, 1e-7);
    CHECK_NEAR(v[1], -0.75, 1e-7);
    CHECK_NEAR(v[2], 0, 1e-7);
    v = keel_exec_value(ex, relu);
    CHECK(v[0] == 1 && v[1] == 0 && v[2] == 2);
    v = keel_exec_value(ex, gelu);
    CHECK_NEAR(v[0], 0.8413447, 1e-6);
    CHECK_NEAR(v[1], -0.1586553, 1e-6);
    CHECK_NEAR(v[2], 1.9544997, 1e-6);
    v = keel_exec_value(ex, silu);
    CHECK_NEAR(v[0], 0.7310586, 1e-6);
    CHECK_NEAR(v[1], -0.2689414, 1e-6);
    CHECK_NEAR(v[2], 1.7615942, 1e-6);
    v = keel_exec_value(ex, cat);
    const float want[9] = {0.5f, 0.25f, -2, 1, -1, 2, 0.5f, 0.25f, -2};
    for (int i = 0; i < 9; i++)
        CHECK(v[i] == want[i]);
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(forward_dropout)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 100, "x");
    int d = keel_nn_unary(g, KEEL_OP_DROPOUT, x, 0.25f);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_exec *ex = keel_exec_new(g, 50, false);
    float *in = keel_exec_data(ex, x);
    for (int i = 0; i < 5000; i++)
        in[i] = 1.0f + (float)(i % 13);
    /* eval: identity */
    CHECK_EQ_INT(keel_exec_forward(ex, d, 50, false), KEEL_OK);
    CHECK(memcmp(keel_exec_value(ex, d), in, 5000 * sizeof(float)) == 0);
    /* train: about p zeros, the rest scaled by 1 / (1 - p); the same seed, the same mask */
    keel_exec_seed(ex, 77);
    CHECK_EQ_INT(keel_exec_forward(ex, d, 50, true), KEEL_OK);
    const float *y = keel_exec_value(ex, d);
    int zeros = 0, bad = 0;
    float first[5000];
    for (int i = 0; i < 5000; i++) {
        first[i] = y[i];
        if (y[i] == 0)
            zeros++;
        else if (fabsf(y[i] - in[i] / 0.75f) > 1e-5f * in[i])
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(zeros > 1100 && zeros < 1400); /* 1250 expected; 6 standard deviations ~ 180 */
    keel_exec_seed(ex, 77);
    CHECK_EQ_INT(keel_exec_forward(ex, d, 50, true), KEEL_OK);
    CHECK(memcmp(keel_exec_value(ex, d), first, sizeof first) == 0);
    CHECK_EQ_INT(keel_exec_forward(ex, d, 50, true), KEEL_OK); /* the stream moves on */
    CHECK(memcmp(keel_exec_value(ex, d), first, sizeof first) != 0);
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(forward_layernorm_batchnorm)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 4, "x");
    int ln = keel_nn_layernorm(g, x, "ln");
    int x2 = keel_nn_input(g, 2, "x2");
    int bn = keel_nn_batchnorm(g, x2, "bn");
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_rng r;
    keel_rng_seed(&r, 1);
    keel_graph_init_params(g, &r);
    const float gv[4] = {1, 2, 1, 1}, bv[4] = {0, 0, 1, 0};
    memcpy(P(g, ln - 2), gv, sizeof gv);
    memcpy(P(g, ln - 1), bv, sizeof bv);
    keel_exec *ex = keel_exec_new(g, 3, false);
    const float xv[4] = {1, 2, 3, 4};
    memcpy(keel_exec_data(ex, x), xv, sizeof xv);
    CHECK_EQ_INT(keel_exec_forward(ex, ln, 1, false), KEEL_OK);
    const float *y = keel_exec_value(ex, ln);
    double rs = 1.0 / sqrt(1.25 + 1e-5);
    CHECK_NEAR(y[0], -1.5 * rs, 1e-6);
    CHECK_NEAR(y[1], 2 * -0.5 * rs, 1e-6);
    CHECK_NEAR(y[2], 0.5 * rs + 1, 1e-6);
    CHECK_NEAR(y[3], 1.5 * rs, 1e-6);
    /* batch norm, train: per-column batch statistics; running stats move by 0.1 */
    const float x2v[6] = {1, 10, 3, 10, 5, 16};
    memcpy(keel_exec_data(ex, x2), x2v, sizeof x2v);
    CHECK_EQ_INT(keel_exec_forward(ex, bn, 3, true), KEEL_OK);
    y = keel_exec_value(ex, bn);
    double r0 = 1.0 / sqrt(8.0 / 3.0 + 1e-5), r1 = 1.0 / sqrt(8.0 + 1e-5);
    CHECK_NEAR(y[0], -2 * r0, 1e-6);
    CHECK_NEAR(y[2], 0, 1e-6);
    CHECK_NEAR(y[4], 2 * r0, 1e-6);
    CHECK_NEAR(y[1], -2 * r1, 1e-6);
    CHECK_NEAR(y[5], 4 * r1, 1e-6);
    const float *st = g->state + g->nodes[bn].offset;
    CHECK_NEAR(st[0], 0.3, 1e-6);
    CHECK_NEAR(st[1], 1.2, 1e-6);
    CHECK_NEAR(st[2], 0.9 + 0.1 * 4, 1e-6);  /* unbiased variance 4 */
    CHECK_NEAR(st[3], 0.9 + 0.1 * 12, 1e-6); /* unbiased variance 12 */
    /* eval: the running statistics */
    CHECK_EQ_INT(keel_exec_forward(ex, bn, 3, false), KEEL_OK);
    y = keel_exec_value(ex, bn);
    CHECK_NEAR(y[0], (1 - 0.3) / sqrt(1.3 + 1e-5), 1e-6);
    CHECK_NEAR(y[5], (16 - 1.2) / sqrt(2.1 + 1e-5), 1e-5);
    CHECK_NEAR(st[0], 0.3, 1e-6); /* eval leaves them alone */
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(forward_embed_and_bags)
{
    keel_graph *g = keel_graph_new();
    int idx = keel_nn_index(g, 2, "idx");
    int e = keel_nn_embed(g, idx, 1, 4, 2, "e");
    int bag = keel_nn_bag(g, "bag");
    int eb = keel_nn_embed_bag(g, bag, 3, 2, "eb");
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    float *t = P(g, e - 1);
    for (int i = 0; i < 8; i++)
        t[i] = (float)(10 * (i / 2) + i % 2); /* row v: (10v, 10v + 1) */
    float *tb = P(g, eb - 1);
    for (int i = 0; i < 6; i++)
        tb[i] = (float)i; /* rows (0,1), (2,3), (4,5) */
    keel_exec *ex = keel_exec_new(g, 3, false);
    int32_t *id = keel_exec_index(ex, idx);
    CHECK(keel_exec_data(ex, idx) == NULL);
    const int32_t iv[6] = {9, 3, 9, 0, 9, 2};
    memcpy(id, iv, sizeof iv);
    CHECK_EQ_INT(keel_exec_forward(ex, e, 3, false), KEEL_OK);
    const float *y = keel_exec_value(ex, e);
    CHECK(y[0] == 30 && y[1] == 31 && y[2] == 0 && y[3] == 1 && y[4] == 20 && y[5] == 21);
    id[3] = 4; /* outside [0, V) */
    CHECK_EQ_INT(keel_exec_forward(ex, e, 3, false), KEEL_EINVAL);
    id[3] = -1;
    CHECK_EQ_INT(keel_exec_forward(ex, e, 3, false), KEEL_EINVAL);
    /* bags: {0, 2}, {} (empty: 0), {4, -1 (4294967295 % 3 = 0), 1} */
    CHECK_EQ_INT(keel_exec_forward(ex, eb, 3, false), KEEL_EINVAL); /* none set */
    const uint32_t off[4] = {0, 2, 2, 5};
    const int32_t ids[5] = {0, 2, 4, -1, 1};
    keel_exec_bag(ex, bag, off, ids);
    CHECK_EQ_INT(keel_exec_forward(ex, eb, 3, false), KEEL_OK);
    y = keel_exec_value(ex, eb);
    CHECK_NEAR(y[0], (0 + 4) / 2.0, 1e-6);
    CHECK_NEAR(y[1], (1 + 5) / 2.0, 1e-6);
    CHECK(y[2] == 0 && y[3] == 0);
    CHECK_NEAR(y[4], (2 + 0 + 2) / 3.0, 1e-6);
    CHECK_NEAR(y[5], (3 + 1 + 3) / 3.0, 1e-6);
    const uint32_t dec[4] = {0, 3, 2, 5};
    keel_exec_bag(ex, bag, dec, ids);
    CHECK_EQ_INT(keel_exec_forward(ex, eb, 3, false), KEEL_EINVAL);
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(forward_losses_values)
{
    keel_graph *g = keel_graph_new();
    int z3 = keel_nn_input(g, 3, "z3"), lab = keel_nn_index(g, 1, "lab");
    int w = keel_nn_input(g, 1, "w");
    int z1 = keel_nn_input(g, 1, "z1"), t1 = keel_nn_input(g, 1, "t1");
    int z2 = keel_nn_input(g, 2, "z2"), t2 = keel_nn_input(g, 2, "t2");
    int ce = keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, z3, lab, -1, 0);
    int cew = keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, z3, lab, w, 0);
    int bce = keel_nn_loss(g, KEEL_OP_SIGMOID_BCE, z1, t1, -1, 0);
    int mse = keel_nn_loss(g, KEEL_OP_MSE, z2, t2, -1, 0);
    int msew = keel_nn_loss(g, KEEL_OP_MSE, z2, t2, w, 0);
    int hub = keel_nn_loss(g, KEEL_OP_HUBER, z1, t1, -1, 1.0f);
    int hubw = keel_nn_loss(g, KEEL_OP_HUBER, z1, t1, w, 0.5f);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_exec *ex = keel_exec_new(g, 3, false);
    const float z3v[6] = {1, 2, 3, 1, 1, 1};
    memcpy(keel_exec_data(ex, z3), z3v, sizeof z3v);
    keel_exec_index(ex, lab)[0] = 2;
    keel_exec_index(ex, lab)[1] = 0;
    float *wv = keel_exec_data(ex, w);
    wv[0] = 1;
    wv[1] = 3;
    wv[2] = 0;
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 2, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, ce)[0], (0.4076059644 + 1.0986122887) / 2, 1e-6);
    CHECK_EQ_INT(keel_exec_forward(ex, cew, 2, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, cew)[0], (0.4076059644 + 3 * 1.0986122887) / 4, 1e-6);
    keel_exec_index(ex, lab)[1] = 3; /* outside [0, K) */
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 2, false), KEEL_EINVAL);
    keel_exec_index(ex, lab)[1] = 0;
    /* BCE: stable for large |z| */
    const float z1v[3] = {0, 2, -3}, t1v[3] = {1, 0, 1};
    memcpy(keel_exec_data(ex, z1), z1v, sizeof z1v);
    memcpy(keel_exec_data(ex, t1), t1v, sizeof t1v);
    CHECK_EQ_INT(keel_exec_forward(ex, bce, 3, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, bce)[0], (0.6931471806 + 2.1269280110 + 3.0485873516) / 3, 1e-6);
    float *zz = keel_exec_data(ex, z1), *tt = keel_exec_data(ex, t1);
    zz[0] = 100, tt[0] = 1, zz[1] = -100, tt[1] = 0, zz[2] = 100, tt[2] = 0;
    CHECK_EQ_INT(keel_exec_forward(ex, bce, 3, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, bce)[0], 100.0 / 3, 1e-4);
    /* MSE with and without weights; weights summing to 0 give 0 */
    const float z2v[4] = {1, 2, 3, 4}, t2v[4] = {0, 0, 0, 0};
    memcpy(keel_exec_data(ex, z2), z2v, sizeof z2v);
    memcpy(keel_exec_data(ex, t2), t2v, sizeof t2v);
    wv[0] = 1, wv[1] = 0;
    CHECK_EQ_INT(keel_exec_forward(ex, mse, 2, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, mse)[0], 7.5, 1e-6);
    CHECK_EQ_INT(keel_exec_forward(ex, msew, 2, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, msew)[0], 2.5, 1e-6);
    wv[0] = 0;
    CHECK_EQ_INT(keel_exec_forward(ex, msew, 2, false), KEEL_OK);
    CHECK(keel_exec_value(ex, msew)[0] == 0.0f);
    /* Huber, delta 1 and 0.5 (weighted) */
    zz[0] = 0.5f, zz[1] = 2, zz[2] = -3, tt[0] = tt[1] = tt[2] = 0;
    CHECK_EQ_INT(keel_exec_forward(ex, hub, 3, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, hub)[0], (0.125 + 1.5 + 2.5) / 3, 1e-6);
    wv[0] = 1, wv[1] = 2, wv[2] = 1;
    CHECK_EQ_INT(keel_exec_forward(ex, hubw, 3, false), KEEL_OK);
    CHECK_NEAR(keel_exec_value(ex, hubw)[0], (0.5 * 0.25 + 2 * 0.5 * 1.75 + 0.5 * 2.75) / 4, 1e-6);
    keel_exec_free(ex);
    keel_graph_free(g);
}

/* ---- gradients ----------------------------------------------------------------------- */

/* Runs grad_check on f with SIMD on and off; REQUIREs a ready exec. */
static void check_fixture(fixture *f, int loss, bool train, bool reseed, double eps, int line)
{
    keel_rng r;
    keel_rng_seed(&r, 100 + (uint64_t)line);
    keel_exec *ex = fixture_ready(f, &r);
    if (!ex || loss < 0) {
        harness_fail(__FILE__, line, "fixture did not build (loss %d)", loss);
        keel_exec_free(ex);
        keel_graph_free(f->g);
        return;
    }
    for (int simd = 1; simd >= 0; simd--) {
        keel_tensor_set_simd(simd);
        gc c = {f->g, ex, loss, f->rows, train, reseed};
        int bad = grad_check(&c, eps);
        if (bad) harness_fail(__FILE__, line, "%d gradient mismatches (simd %d)", bad, simd);
    }
    keel_tensor_set_simd(true);
    keel_exec_free(ex);
    keel_graph_free(f->g);
}

TEST(grad_linear_shapes)
{
    /* narrow (3), wide (20) outputs, batch 1 and 5, with and without bias */
    static const size_t outs[] = {3, 20};
    for (int o = 0; o < 2; o++)
        for (size_t rows = 1; rows <= 5; rows += 4) {
            fixture f = fixture_new(rows, 7);
            int y = keel_nn_dense(f.g, f.h, outs[o], KEEL_INIT_XAVIER, "y");
            int in2[2] = {f.h, y - 2};
            int nob = keel_graph_add(f.g, KEEL_OP_LINEAR, in2, 2, 0, 0, 0, 0, "nob");
            int both[2] = {y, nob};
            int cat = keel_nn_concat(f.g, both, 2);
            int loss = fixture_mse(&f, cat, rows > 1);
            check_fixture(&f, loss, false, false, 1e-2, __LINE__);
        }
}

TEST(grad_relu_fused_and_not)
{
    fixture f = fixture_new(6, 5);
    int y = keel_nn_dense(f.g, f.h, 18, KEEL_INIT_XAVIER, "y");
    int ry = keel_nn_unary(f.g, KEEL_OP_RELU, y, 0);   /* fused with y */
    int rh = keel_nn_unary(f.g, KEEL_OP_RELU, f.h, 0); /* the carrier's output shares h */
    int cc[2] = {ry, rh};
    int loss = fixture_mse(&f, keel_nn_concat(f.g, cc, 2), true);
    check_fixture(&f, loss, false, false, 1e-3, __LINE__);
}

TEST(grad_add_and_shared_inputs)
{
    fixture f = fixture_new(4, 6);
    int hh[2] = {f.h, f.h};
    int a = keel_graph_add(f.g, KEEL_OP_ADD, hh, 2, 0, 0, 0, 0, NULL); /* h + h */
    int s = keel_nn_unary(f.g, KEEL_OP_SILU, f.h, 0);
    int as[2] = {a, s};
    int b = keel_graph_add(f.g, KEEL_OP_ADD, as, 2, 0, 0, 0, 0, NULL);
    int loss = fixture_mse(&f, b, false);
    check_fixture(&f, loss, false, false, 1e-2, __LINE__);
}

TEST(grad_gelu_silu)
{
    fixture f = fixture_new(5, 4);
    int gl = keel_nn_unary(f.g, KEEL_OP_GELU, f.h, 0);
    int sl = keel_nn_unary(f.g, KEEL_OP_SILU, f.h, 0);
    int cc[2] = {gl, sl};
    int loss = fixture_mse(&f, keel_nn_concat(f.g, cc, 2), true);
    check_fixture(&f, loss, false, false, 1e-2, __LINE__);
}

TEST(grad_dropout_reseeded)
{
    fixture f = fixture_new(8, 6);
    int d = keel_nn_unary(f.g, KEEL_OP_DROPOUT, f.h, 0.3f);
    int y = keel_nn_dense(f.g, d, 3, KEEL_INIT_XAVIER, "y");
    int loss = fixture_mse(&f, y, true);
    check_fixture(&f, loss, true, true, 1e-2, __LINE__);
    /* and in eval mode (identity) */
    fixture f2 = fixture_new(4, 3);
    int d2 = keel_nn_unary(f2.g, KEEL_OP_DROPOUT, f2.h, 0.5f);
    check_fixture(&f2, fixture_mse(&f2, d2, false), false, false, 1e-2, __LINE__);
}

TEST(grad_layernorm)
{
    fixture f = fixture_new(4, 5);
    int ln = keel_nn_layernorm(f.g, f.h, "ln");
    int loss = fixture_mse(&f, ln, true);
    check_fixture(&f, loss, false, false, 1e-2, __LINE__);
}

TEST(grad_batchnorm_train_and_eval)
{
    for (int train = 1; train >= 0; train--) {
        fixture f = fixture_new(6, 4);
        int bn = keel_nn_batchnorm(f.g, f.h, "bn");
        int y = keel_nn_dense(f.g, bn, 2, KEEL_INIT_XAVIER, "y"); /* γ, β matter through y */
        int loss = fixture_mse(&f, y, true);
        check_fixture(&f, loss, train, false, 1e-2, __LINE__);
    }
}

TEST(grad_embed_and_embed_bag)
{
    keel_graph *g = keel_graph_new();
    int idx = keel_nn_index(g, 2, "idx");
    int e = keel_nn_embed(g, idx, 0, 5, 3, "e");
    int bag = keel_nn_bag(g, "bag");
    int eb = keel_nn_embed_bag(g, bag, 4, 3, "eb");
    int x = keel_nn_input(g, 2, "x");
    int cc[3] = {e, eb, x};
    int cat = keel_nn_concat(g, cc, 3);
    int y = keel_nn_dense(g, cat, 2, KEEL_INIT_XAVIER, "y");
    int t = keel_nn_input(g, 2, "t");
    int w = keel_nn_input(g, 1, "w");
    int loss = keel_nn_loss(g, KEEL_OP_MSE, y, t, w, 0);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_rng r;
    keel_rng_seed(&r, 4);
    keel_graph_init_params(g, &r);
    keel_exec *ex = keel_exec_new(g, 4, true);
    REQUIRE(ex);
    const int32_t iv[8] = {1, 9, 3, 9, 1, 9, 4, 9}; /* row 0 of T never used */
    memcpy(keel_exec_index(ex, idx), iv, sizeof iv);
    const uint32_t off[5] = {0, 3, 3, 4, 6}; /* an empty bag; ids beyond V wrap */
    const int32_t ids[6] = {0, 1, 1, 6, 3, -2};
    keel_exec_bag(ex, bag, off, ids);
    fill_uniform(&r, keel_exec_data(ex, x), 8, -1, 1);
    fill_uniform(&r, keel_exec_data(ex, t), 8, -1, 1);
    fill_uniform(&r, keel_exec_data(ex, w), 4, 0.5f, 1.5f);
    gc c = {g, ex, loss, 4, false, false};
    CHECK_EQ_INT(grad_check(&c, 1e-2), 0);
    /* T's unused row gets exactly zero gradient */
    float *grad = malloc(g->n_params * sizeof(float));
    CHECK_EQ_INT(keel_exec_backward(ex, loss, grad), KEEL_OK);
    float *gt = grad + g->nodes[e - 1].offset;
    CHECK(gt[0] == 0 && gt[1] == 0 && gt[2] == 0 && gt[3] != 0);
    free(grad);
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(grad_concat_repeated_input)
{
    fixture f = fixture_new(3, 4);
    int x2 = keel_nn_input(f.g, 2, "x2");
    int h2 = keel_nn_dense(f.g, x2, 2, KEEL_INIT_XAVIER, "h2");
    int cc[4] = {f.h, h2, f.h, x2};
    int loss = fixture_mse(&f, keel_nn_concat(f.g, cc, 4), false);
    keel_rng r;
    keel_rng_seed(&r, 12);
    keel_exec *ex = fixture_ready(&f, &r);
    REQUIRE(ex);
    fill_uniform(&r, keel_exec_data(ex, x2), 6, -1, 1);
    gc c = {f.g, ex, loss, 3, false, false};
    CHECK_EQ_INT(grad_check(&c, 1e-2), 0);
    keel_exec_free(ex);
    keel_graph_free(f.g);
}

/* Each loss straight on the carrier's output, with and without weights. */
TEST(grad_losses_with_and_without_weights)
{
    for (int weighted = 0; weighted < 2; weighted++) {
        /* softmax cross-entropy over 4 classes */
        fixture f = fixture_new(5, 4);
        int lab = keel_nn_index(f.g, 1, "lab");
        int w = weighted ? keel_nn_input(f.g, 1, "w") : -1;
        int loss = keel_nn_loss(f.g, KEEL_OP_SOFTMAX_CE, f.h, lab, w, 0);
        f.wts = w;
        keel_rng r;
        keel_rng_seed(&r, 20 + (uint64_t)weighted);
        keel_exec *ex = fixture_ready(&f, &r);
        REQUIRE(ex);
        for (int i = 0; i < 5; i++)
            keel_exec_index(ex, lab)[i] = i % 4;
        gc c = {f.g, ex, loss, 5, false, false};
        CHECK_EQ_INT(grad_check(&c, 1e-2), 0);
        keel_exec_free(ex);
        keel_graph_free(f.g);

        /* BCE (2 label columns), MSE, Huber (delta 0.5: both branches) */
        static const keel_op ops[3] = {KEEL_OP_SIGMOID_BCE, KEEL_OP_MSE, KEEL_OP_HUBER};
        for (int o = 0; o < 3; o++) {
            fixture f2 = fixture_new(6, 2);
            f2.t = keel_nn_input(f2.g, 2, "t");
            f2.wts = weighted ? keel_nn_input(f2.g, 1, "w") : -1;
            int l2 = keel_nn_loss(f2.g, ops[o], f2.h, f2.t, f2.wts, 0.5f);
            keel_rng_seed(&r, 30 + (uint64_t)o);
            keel_exec *e2 = fixture_ready(&f2, &r);
            REQUIRE(e2);
            if (ops[o] == KEEL_OP_SIGMOID_BCE) /* 0/1 targets */
                for (int i = 0; i < 12; i++)
                    keel_exec_data(e2, f2.t)[i] = (float)(i % 2);
            gc c2 = {f2.g, e2, l2, 6, false, false};
            int bad = grad_check(&c2, 1e-3);
            if (bad)
                harness_fail(__FILE__, __LINE__, "%s weighted %d: %d mismatches",
                             keel_op_name(ops[o]), weighted, bad);
            keel_exec_free(e2);
            keel_graph_free(f2.g);
        }
    }
}

/* The benchmark's model in small: input, two fused dense+ReLU layers, logits, softmax CE. */
TEST(grad_mlp_end_to_end)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 6, "x"), y = keel_nn_index(g, 1, "y");
    int h = keel_nn_unary(g, KEEL_OP_RELU, keel_nn_dense(g, x, 20, KEEL_INIT_KAIMING, "h1"), 0);
    h = keel_nn_unary(g, KEEL_OP_RELU, keel_nn_dense(g, h, 17, KEEL_INIT_KAIMING, "h2"), 0);
    int logits = keel_nn_dense(g, h, 3, KEEL_INIT_XAVIER, "out");
    int loss = keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, logits, y, -1, 0);
    REQUIRE(loss > 0 && keel_graph_finalise(g) == KEEL_OK);
    keel_rng r;
    keel_rng_seed(&r, 6);
    keel_graph_init_params(g, &r);
    keel_exec *ex = keel_exec_new(g, 9, true);
    fill_uniform(&r, keel_exec_data(ex, x), 9 * 6, -1, 1);
    for (int i = 0; i < 9; i++)
        keel_exec_index(ex, y)[i] = i % 3;
    for (int simd = 1; simd >= 0; simd--) {
        keel_tensor_set_simd(simd);
        for (size_t rows = 1; rows <= 9; rows += 8) {
            gc c = {g, ex, loss, rows, true, false};
            int bad = grad_check(&c, 1e-3);
            if (bad) harness_fail(__FILE__, __LINE__, "simd %d rows %zu: %d", simd, rows, bad);
        }
    }
    keel_tensor_set_simd(true);
    /* each ReLU is its LINEAR's only consumer: it lends its gradient buffer (in place) */
    int relu2 = logits - 3, lin2 = relu2 - 1;
    CHECK(g->nodes[relu2].op == KEEL_OP_RELU && g->nodes[lin2].op == KEEL_OP_LINEAR);
    CHECK(keel_exec_grad(ex, relu2) == NULL);
    CHECK(keel_exec_grad(ex, lin2) != NULL);
    CHECK(keel_exec_grad(ex, logits) != NULL);
    keel_exec_free(ex);
    keel_graph_free(g);
}

/* ---- plans, gradient bookkeeping, errors --------------------------------------------- */

TEST(forward_computes_only_ancestors)
{
    keel_graph *g = keel_graph_new();
    int a = keel_nn_input(g, 3, "a"), b = keel_nn_input(g, 3, "b");
    int ra = keel_nn_unary(g, KEEL_OP_RELU, a, 0);
    int rb = keel_nn_unary(g, KEEL_OP_RELU, b, 0);
    int lab = keel_nn_index(g, 1, "lab");
    int ce = keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, rb, lab, -1, 0);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_exec *ex = keel_exec_new(g, 2, false);
    for (int i = 0; i < 6; i++) {
        keel_exec_data(ex, a)[i] = 1.0f;
        keel_exec_data(ex, b)[i] = 2.0f;
    }
    keel_exec_index(ex, lab)[0] = 99; /* invalid, but not needed for ra */
    CHECK_EQ_INT(keel_exec_forward(ex, ra, 2, false), KEEL_OK);
    CHECK(keel_exec_value(ex, ra)[5] == 1.0f);
    CHECK(keel_exec_value(ex, rb)[0] == 0.0f); /* never computed */
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 1, false), KEEL_EINVAL);
    keel_exec_index(ex, lab)[0] = 1;
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 1, false), KEEL_OK);
    CHECK(keel_exec_value(ex, rb)[0] == 2.0f);
    /* bad calls */
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 3, false), KEEL_EINVAL);
    CHECK_EQ_INT(keel_exec_forward(ex, ce, 0, false), KEEL_EINVAL);
    CHECK_EQ_INT(keel_exec_forward(ex, 99, 1, false), KEEL_EINVAL);
    CHECK(keel_exec_value(ex, lab) == NULL);
    CHECK(keel_exec_value(ex, -1) == NULL);
    CHECK(keel_exec_data(ex, ra) == NULL);
    CHECK(keel_exec_index(ex, a) == NULL);
    float dummy[1];
    CHECK_EQ_INT(keel_exec_backward(ex, ce, dummy), KEEL_ESTATE); /* no gradients */
    keel_exec_free(ex);
    keel_exec_free(NULL);
    CHECK(keel_exec_new(g, 0, false) == NULL);
    keel_graph *unf = keel_graph_new();
    keel_nn_input(unf, 2, "x");
    CHECK(keel_exec_new(unf, 4, false) == NULL); /* not finalised */
    keel_graph_free(unf);
    keel_graph_free(g);
}

/* Dead nodes: those nothing reachable from the root reads, in the middle of the graph and
 * after the root. */
TEST(graph_dead_nodes)
{
    keel_graph *g = keel_graph_new();
    REQUIRE(g);
    int x = keel_nn_input(g, 4, "x");
    int h = keel_nn_dense(g, x, 3, KEEL_INIT_ZERO, "h"); /* W 1, b 2, linear 3 */
    int dead = keel_nn_unary(g, KEEL_OP_RELU, h, 0);     /* 4: nothing reads it */
    int a = keel_nn_unary(g, KEEL_OP_SILU, h, 0);
    int out = keel_nn_dense(g, a, 1, KEEL_INIT_ZERO, "out");
    int t = keel_nn_input(g, 1, "t");
    int loss = keel_nn_loss(g, KEEL_OP_MSE, out, t, -1, 0);
    REQUIRE(loss > 0 && dead == 4);
    int first = 7;
    size_t n = 7;
    CHECK_EQ_INT(keel_graph_dead_nodes(g, loss, &first, &n), KEEL_OK);
    CHECK_EQ_INT(first, dead);
    CHECK_EQ_INT(n, 1);
    /* From the output instead, the target and the loss are dead too. */
    CHECK_EQ_INT(keel_graph_dead_nodes(g, out, &first, &n), KEEL_OK);
    CHECK_EQ_INT(first, dead);
    CHECK_EQ_INT(n, 3);
    int after = keel_nn_unary(g, KEEL_OP_GELU, out, 0); /* after the loss: dead */
    CHECK_EQ_INT(keel_graph_dead_nodes(g, loss, &first, &n), KEEL_OK);
    CHECK_EQ_INT(n, 2);
    /* A graph where every node feeds the root has none. */
    CHECK_EQ_INT(keel_graph_dead_nodes(g, after, &first, &n), KEEL_OK);
    CHECK_EQ_INT(first, dead);
    CHECK_EQ_INT(keel_graph_dead_nodes(g, 99, &first, &n), KEEL_EINVAL);
    keel_graph_free(g);

    g = keel_graph_new();
    REQUIRE(g);
    x = keel_nn_input(g, 2, "x");
    out = keel_nn_dense(g, x, 1, KEEL_INIT_ZERO, "out");
    t = keel_nn_input(g, 1, "t");
    loss = keel_nn_loss(g, KEEL_OP_MSE, out, t, -1, 0);
    CHECK_EQ_INT(keel_graph_dead_nodes(g, loss, &first, &n), KEEL_OK);
    CHECK_EQ_INT(first, -1);
    CHECK_EQ_INT(n, 0);
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_graph_dead_nodes(g, loss, &first, &n), KEEL_ENOMEM);
    test_fail_alloc_after(0);
    keel_graph_free(g);
}

TEST(backward_zeroes_unreached_params)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 3, "x");
    int used = keel_nn_dense(g, x, 2, KEEL_INIT_XAVIER, "used");
    int unused = keel_nn_dense(g, x, 5, KEEL_INIT_XAVIER, "unused");
    int lonely = keel_nn_param(g, 3, 3, KEEL_INIT_ONE, 0, "lonely");
    int t = keel_nn_input(g, 2, "t");
    int loss = keel_nn_loss(g, KEEL_OP_MSE, used, t, -1, 0);
    int other = keel_nn_loss(g, KEEL_OP_MSE, unused, keel_nn_input(g, 5, "t5"), -1, 0);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK && lonely > 0 && other > 0);
    keel_rng r;
    keel_rng_seed(&r, 2);
    keel_graph_init_params(g, &r);
    keel_exec *ex = keel_exec_new(g, 2, true);
    fill_uniform(&r, keel_exec_data(ex, x), 6, -1, 1);
    fill_uniform(&r, keel_exec_data(ex, t), 4, -1, 1);
    float *grad = malloc(g->n_params * sizeof(float));
    for (size_t i = 0; i < g->n_params; i++)
        grad[i] = NAN;
    CHECK_EQ_INT(keel_exec_backward(ex, loss, grad), KEEL_ESTATE); /* no forward yet */
    CHECK_EQ_INT(keel_exec_forward(ex, loss, 2, true), KEEL_OK);
    CHECK_EQ_INT(keel_exec_backward(ex, used, grad), KEEL_EINVAL);  /* not a loss */
    CHECK_EQ_INT(keel_exec_backward(ex, other, grad), KEEL_ESTATE); /* not the last forward */
    CHECK_EQ_INT(keel_exec_backward(ex, loss, grad), KEEL_OK);
    size_t nz = 0;
    for (size_t i = 0; i < g->n_params; i++) {
        CHECK(isfinite(grad[i]));
        nz += grad[i] != 0;
    }
    CHECK_EQ_INT(nz, 3 * 2 + 2); /* only used.W and used.b */
    const float *gx = keel_exec_grad(ex, used);
    CHECK(gx != NULL);
    CHECK(keel_exec_grad(ex, x) == NULL); /* inputs take none */
    CHECK(keel_exec_grad(ex, unused) == NULL);
    /* a forward that fails leaves nothing to back-propagate */
    CHECK_EQ_INT(keel_exec_forward(ex, loss, 3, true), KEEL_EINVAL);
    CHECK_EQ_INT(keel_exec_backward(ex, loss, grad), KEEL_ESTATE);
    free(grad);
    keel_exec_free(ex);
    keel_graph_free(g);
}

/* ---- out of memory ------------------------------------------------------------------- */

static int build_model(keel_graph *g)
{
#define TRY(v, call)                                                                               \
    do {                                                                                           \
        v = (call);                                                                                \
        if (v < 0) return v;                                                                       \
    } while (0)
    int x, idx, bag, e, eb, h, y, loss;
    TRY(x, keel_nn_input(g, 8, "x"));
    TRY(idx, keel_nn_index(g, 1, "idx"));
    TRY(bag, keel_nn_bag(g, "b"));
    TRY(e, keel_nn_embed(g, idx, 0, 10, 4, "e"));
    TRY(eb, keel_nn_embed_bag(g, bag, 10, 4, "eb"));
    int cc[3] = {x, e, eb};
    TRY(h, keel_nn_concat(g, cc, 3));
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%d", i);
        TRY(h, keel_nn_dense(g, h, 16, KEEL_INIT_KAIMING, name));
        TRY(h, keel_nn_layernorm(g, h, NULL));
        TRY(h, keel_nn_unary(g, KEEL_OP_GELU, h, 0));
    }
    TRY(h, keel_nn_batchnorm(g, h, "bn"));
    TRY(h, keel_nn_dense(g, h, 3, KEEL_INIT_XAVIER, "out"));
    TRY(y, keel_nn_index(g, 1, "y"));
    TRY(loss, keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, h, y, -1, 0));
#undef TRY
    return keel_graph_finalise(g);
}

TEST(oom_graph_build_and_finalise)
{
    int iters = 0;
    for (long n = 1; n < 1000; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        keel_graph *g = keel_graph_new();
        int rc = g ? build_model(g) : KEEL_ENOMEM;
        test_fail_alloc_after(0);
        iters++;
        if (rc == KEEL_OK) {
            CHECK(g->finalised);
            keel_graph_free(g);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        keel_graph_free(g);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(iters > 3 && iters < 1000);
}

TEST(oom_exec_new)
{
    keel_graph *g = keel_graph_new();
    REQUIRE(build_model(g) == KEEL_OK);
    int iters = 0;
    for (long n = 1; n < 100; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        keel_exec *ex = keel_exec_new(g, 32, true);
        test_fail_alloc_after(0);
        iters++;
        if (ex) {
            keel_exec_free(ex);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(iters >= 2 && iters < 100);
    /* sizes that overflow are refused, not wrapped */
    CHECK(keel_exec_new(g, SIZE_MAX / 4, true) == NULL);
    keel_graph_free(g);
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* A graph with every op. */
static keel_graph *every_op_graph(void)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 5, "x"), idx = keel_nn_index(g, 2, "idx");
    int bag = keel_nn_bag(g, "bag");
    int e = keel_nn_embed(g, idx, 1, 7, 3, "emb");
    int eb = keel_nn_embed_bag(g, bag, 11, 2, "bag_emb");
    int cc[3] = {x, e, eb};
    int h = keel_nn_concat(g, cc, 3);
    h = keel_nn_dense(g, h, 10, KEEL_INIT_KAIMING, "h1");
    int r = keel_nn_unary(g, KEEL_OP_RELU, h, 0);
    int ge = keel_nn_unary(g, KEEL_OP_GELU, r, 0);
    int si = keel_nn_unary(g, KEEL_OP_SILU, ge, 0);
    int d = keel_nn_unary(g, KEEL_OP_DROPOUT, si, 0.1f);
    int ln = keel_nn_layernorm(g, d, "ln");
    int bn = keel_nn_batchnorm(g, ln, "bn");
    int ad[2] = {bn, h};
    int a = keel_graph_add(g, KEEL_OP_ADD, ad, 2, 0, 0, 0, 0, "res");
    int out = keel_nn_dense(g, a, 3, KEEL_INIT_XAVIER, "out");
    int y = keel_nn_index(g, 1, "y"), w = keel_nn_input(g, 1, "w");
    keel_nn_loss(g, KEEL_OP_SOFTMAX_CE, out, y, w, 0);
    int o1 = keel_nn_dense(g, a, 1, KEEL_INIT_XAVIER, "o1");
    int t1 = keel_nn_input(g, 1, "t1");
    keel_nn_loss(g, KEEL_OP_SIGMOID_BCE, o1, t1, -1, 0);
    keel_nn_loss(g, KEEL_OP_MSE, o1, t1, w, 0);
    int last = keel_nn_loss(g, KEEL_OP_HUBER, o1, t1, -1, 0.3f);
    keel_nn_param(g, 2, 2, KEEL_INIT_NORMAL, 0.02f, "\xc3\xa9t\xc3\xa9"); /* UTF-8 name */
    if (last < 0 || keel_graph_finalise(g) != KEEL_OK) {
        keel_graph_free(g);
        return NULL;
    }
    return g;
}

/* Parses text and runs from_json; returns its code, with *out and e filled. */
static int from_text(const char *text, keel_graph **out, keel_error *e)
{
    keel_json_doc *d = keel_json_doc_new();
    int rc = keel_json_parse(d, text, strlen(text), e);
    if (rc == KEEL_OK) rc = keel_graph_from_json(keel_json_root(d), out, e);
    keel_json_doc_free(d);
    return rc;
}

TEST(json_round_trip)
{
    keel_graph *g = every_op_graph();
    REQUIRE(g);
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_graph_to_json(g, &b) == KEEL_OK);
    CHECK(strstr(b.data, "{\"op\":\"linear\",\"inputs\":[") != NULL);
    CHECK(strstr(b.data, "\"attr\":0.1,") != NULL); /* shortest float form */
    CHECK(strstr(b.data, "\"attr\":0.3,") != NULL);
    keel_graph *h = NULL;
    keel_error e;
    REQUIRE(from_text(b.data, &h, &e) == KEEL_OK);
    REQUIRE(h != NULL);
    CHECK(h->finalised);
    CHECK_EQ_INT(h->n_nodes, g->n_nodes);
    CHECK_EQ_INT(h->n_params, g->n_params);
    CHECK_EQ_INT(h->n_state, g->n_state);
    for (int i = 0; i < g->n_nodes; i++) {
        const keel_node *p = &g->nodes[i], *q = &h->nodes[i];
        CHECK(p->op == q->op && p->n_inputs == q->n_inputs && p->rows == q->rows &&
              p->cols == q->cols && p->attr == q->attr && p->iattr == q->iattr &&
              p->offset == q->offset && strcmp(p->name, q->name) == 0);
        for (int j = 0; j < p->n_inputs; j++)
            CHECK_EQ_INT(p->inputs[j], q->inputs[j]);
    }
    for (size_t i = 0; i < h->n_params; i++)
        if (h->params[i] != 0.0f) CHECK(h->params[i] == 0.0f);
    keel_buf b2;
    keel_buf_init(&b2);
    REQUIRE(keel_graph_to_json(h, &b2) == KEEL_OK);
    CHECK_STR(b2.data, b.data);
    /* the copy runs */
    keel_exec *ex = keel_exec_new(h, 4, true);
    CHECK(ex != NULL);
    keel_exec_free(ex);
    /* not finalised: refused */
    keel_graph *u = keel_graph_new();
    keel_nn_input(u, 3, "x");
    CHECK_EQ_INT(keel_graph_to_json(u, &b2), KEEL_ESTATE);
    keel_graph_free(u);
    keel_buf_free(&b);
    keel_buf_free(&b2);
    keel_graph_free(g);
    keel_graph_free(h);
}

TEST(json_rejects_bad_graphs)
{
    static const struct {
        const char *text;
        int code;
        const char *msg; /* a substring of the message */
    } cases[] = {
        {"[]", KEEL_EFORMAT, "expected an object"},
        {"{\"nodes\":[],\"n_params\":0}", KEEL_EFORMAT, "n_state"},
        {"{\"nodes\":{},\"n_params\":0,\"n_state\":0}", KEEL_EFORMAT, "must be an array"},
        {"{\"nodes\":[],\"n_params\":0,\"n_state\":0,\"x\":1}", KEEL_EFORMAT, "unknown key"},
        {"{\"nodes\":[],\"nodes\":[],\"n_params\":0,\"n_state\":0}", KEEL_EFORMAT, "twice"},
        {"{\"nodes\":[{\"op\":\"conv\",\"inputs\":[],\"rows\":0,\"cols\":1}],\"n_params\":0,"
         "\"n_state\":0}",
         KEEL_EFORMAT, "node 0: unknown op \"conv\""},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4},{\"op\":\"relu\","
         "\"inputs\":[2],\"rows\":0,\"cols\":4},{\"op\":\"input\",\"inputs\":[],\"rows\":0,"
         "\"cols\":4}],\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "node 1: input 0 refers to node 2, which is not earlier"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4},{\"op\":\"param\","
         "\"inputs\":[],\"rows\":3,\"cols\":2,\"iattr\":2},{\"op\":\"linear\",\"inputs\":[0,1],"
         "\"rows\":0,\"cols\":2}],\"n_params\":16,\"n_state\":0}",
         KEEL_EFORMAT, "node 2 (linear): W has 3 rows, x has 4 columns"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":33554432}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_ELIMIT, "cols"},
        {"{\"nodes\":[{\"op\":\"param\",\"inputs\":[],\"rows\":16777216,\"cols\":16777216}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_ELIMIT, "parameters"},
        {"{\"nodes\":[],\"n_params\":1e300,\"n_state\":0}", KEEL_ELIMIT, "n_params"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":\"4\"}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "\"cols\" must be an integer"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4.5}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "\"cols\" must be an integer"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":-1,\"cols\":4}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "rows"},
        {"{\"nodes\":[{\"op\":7,\"inputs\":[],\"rows\":0,\"cols\":4}],\"n_params\":0,"
         "\"n_state\":0}",
         KEEL_EFORMAT, "\"op\" must be a string"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":0,\"rows\":0,\"cols\":4}],\"n_params\":0,"
         "\"n_state\":0}",
         KEEL_EFORMAT, "\"inputs\" must be an array"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"name\":5}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "\"name\" must be a string"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"name\":"
         "\"0123456789012345678901234567890123\"}],\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "name"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"name\":\"a\\u0000b\"}"
         "],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "NUL"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"colour\":1}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "node 0: unknown key \"colour\""},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"attr\":1e39}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "attr"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":4,\"attr\":0.5}],"
         "\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "attr must be 0"},
        {"{\"nodes\":[{\"op\":\"param\",\"inputs\":[],\"rows\":3,\"cols\":2}],\"n_params\":6,"
         "\"n_state\":0}",
         KEEL_EFORMAT, "lay out 16/0"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":2},{\"op\":\"dropout\","
         "\"inputs\":[0],\"rows\":0,\"cols\":2,\"attr\":1.5}],\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "p must be in [0, 1)"},
        {"{\"nodes\":[{\"op\":\"input\",\"inputs\":[],\"rows\":0,\"cols\":2},{\"op\":\"add\","
         "\"inputs\":[0,0,0],\"rows\":0,\"cols\":2}],\"n_params\":0,\"n_state\":0}",
         KEEL_EFORMAT, "takes 2 inputs, not 3"},
        {"{\"nodes\":[\"input\"],\"n_params\":0,\"n_state\":0}", KEEL_EFORMAT,
         "expected an object"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        keel_graph *g = (keel_graph *)&g; /* must come back NULL */
        keel_error e;
        memset(&e, 0, sizeof e);
        int rc = from_text(cases[i].text, &g, &e);
        if (rc != cases[i].code || g != NULL || !strstr(e.msg, cases[i].msg))
            harness_fail(__FILE__, __LINE__, "case %zu: rc %d (want %d), msg \"%s\" (want \"%s\")",
                         i, rc, cases[i].code, e.msg, cases[i].msg);
    }
}

TEST(json_rejects_too_many_nodes)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "{\"nodes\":[");
    for (int i = 0; i <= KEEL_NN_MAX_NODES; i++)
        keel_buf_puts(&b, i ? ",{}" : "{}");
    keel_buf_puts(&b, "],\"n_params\":0,\"n_state\":0}");
    keel_graph *g = NULL;
    keel_error e;
    CHECK_EQ_INT(from_text(b.data, &g, &e), KEEL_ELIMIT);
    CHECK(strstr(e.msg, "100001 nodes") != NULL);
    keel_buf_free(&b);
}

TEST(oom_json_round_trip)
{
    keel_graph *g = every_op_graph();
    REQUIRE(g);
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_graph_to_json(g, &b) == KEEL_OK);
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    REQUIRE(keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
    int iters = 0;
    for (long n = 1; n < 200; n++) {
        long live = test_alloc_live();
        keel_graph *h = NULL;
        test_fail_alloc_after(n);
        int rc = keel_graph_from_json(keel_json_root(d), &h, &e);
        test_fail_alloc_after(0);
        iters++;
        if (rc == KEEL_OK) {
            keel_graph_free(h);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK(h == NULL);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(iters >= 3 && iters < 200);
    /* to_json into a fresh buffer: a failure leaves it as it was */
    for (long n = 1; n < 100; n++) {
        keel_buf o;
        keel_buf_init(&o);
        keel_buf_puts(&o, "prefix");
        test_fail_alloc_after(n);
        int rc = keel_graph_to_json(g, &o);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK(strncmp(o.data, "prefix{", 7) == 0);
            keel_buf_free(&o);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_STR(o.data, "prefix");
        keel_buf_free(&o);
    }
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_graph_free(g);
}
