/* Tests of AdamW and the learning-rate schedule: a step against hand-computed values, many
 * steps against PyTorch's Adam formula in double, weight decay and its mask, the AVX-512
 * and plain loops agreeing exactly, the threaded path, a small regression converging, and
 * the schedule's corners. */
#include "harness.h"

#include "nn/nn.h"
#include "tensor/tensor.h"
#include "train/optim.h"

#include <stdlib.h>

TEST(adamw_init_defaults_and_oom)
{
    keel_adamw o;
    CHECK_EQ_INT(keel_adamw_init(&o, 10), KEEL_OK);
    CHECK(o.n == 10 && o.step == 0 && o.decay == NULL);
    CHECK(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f && o.weight_decay == 0.0f);
    CHECK(o.m[9] == 0.0f && o.v[9] == 0.0f);
    keel_adamw_free(&o);
    CHECK(o.m == NULL && o.n == 0);
    keel_adamw_free(&o); /* twice: harmless */
    keel_adamw_free(NULL);
    long live = test_alloc_live();
    for (long n = 1; n <= 2; n++) {
        test_fail_alloc_after(n);
        CHECK_EQ_INT(keel_adamw_init(&o, 100), KEEL_ENOMEM);
        test_fail_alloc_after(0);
        CHECK(o.m == NULL && o.v == NULL);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
}

TEST(adamw_one_step_by_hand)
{
    /* Step 1: m = 0.1 g, v = 0.001 g², step size lr / 0.1, denom sqrt(v) / sqrt(0.001) + ε
     * = |g| + ε, so p -= lr g / (|g| + ε): about lr sign(g). */
    keel_adamw o;
    REQUIRE(keel_adamw_init(&o, 3) == KEEL_OK);
    float p[3] = {1.0f, -2.0f, 0.5f};
    const float g[3] = {0.1f, -0.2f, 0.0f};
    keel_adamw_step(&o, p, g, 0.01f);
    CHECK_EQ_INT(o.step, 1);
    CHECK_NEAR(p[0], 1.0 - 0.01 * 0.1 / (0.1 + 1e-8), 1e-7);
    CHECK_NEAR(p[1], -2.0 + 0.01 * 0.2 / (0.2 + 1e-8), 1e-7);
    CHECK(p[2] == 0.5f); /* zero gradient: no move */
    CHECK_NEAR(o.m[0], 0.01, 1e-9);
    CHECK(o.m[0] == 0.1f * 0.1f);              /* PyTorch: exp_avg * 0.9 + g * 0.1, in float */
    CHECK(o.v[1] == (0.001f * -0.2f) * -0.2f); /* v * 0.999 + 0.001 * g * g */
    CHECK_NEAR(o.v[1], 0.001 * 0.04, 1e-10);
    keel_adamw_free(&o);
}

/* PyTorch's Adam/AdamW in double: the reference. */
static void ref_step(double *p, double *m, double *v, const float *g, size_t n, int t, double lr,
                     double wd, const uint8_t *mask)
{
    double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    for (size_t i = 0; i < n; i++) {
        if (!mask || mask[i]) p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

TEST(adamw_matches_adam_formula_and_decay_mask)
{
    enum { N = 37, STEPS = 50 };
    for (int decay = 0; decay < 2; decay++) {
        keel_adamw o;
        REQUIRE(keel_adamw_init(&o, N) == KEEL_OK);
        uint8_t mask[N];
        for (int i = 0; i < N; i++)
            mask[i] = (uint8_t)(i % 3 != 0);
        if (decay) {
            o.weight_decay = 0.1f;
            o.decay = mask;
        }
        float p[N], g[N];
        double rp[N], rm[N] = {0}, rv[N] = {0};
        keel_rng r;
        keel_rng_seed(&r, 11);
        for (int i = 0; i < N; i++)
            rp[i] = p[i] = (float)(keel_rng_uniform(&r) * 2 - 1);
        double worst = 0;
        for (int t = 1; t <= STEPS; t++) {
            for (int i = 0; i < N; i++)
                g[i] = (float)((keel_rng_uniform(&r) - 0.3) * (i + 1) * 0.1);
            keel_adamw_step(&o, p, g, 0.01f);
            ref_step(rp, rm, rv, g, N, t, (double)0.01f, decay ? (double)0.1f : 0.0,
                     decay ? mask : NULL);
            for (int i = 0; i < N; i++)
                worst = fmax(worst, fabs(p[i] - rp[i]));
        }
        CHECK(worst < 2e-6);
        if (decay) { /* the masked-out entries took no decay: compare with a run without */
            keel_adamw u;
            REQUIRE(keel_adamw_init(&u, N) == KEEL_OK);
            float q[N];
            keel_rng_seed(&r, 11);
            for (int i = 0; i < N; i++)
                q[i] = (float)(keel_rng_uniform(&r) * 2 - 1);
            for (int t = 1; t <= STEPS; t++) {
                for (int i = 0; i < N; i++)
                    g[i] = (float)((keel_rng_uniform(&r) - 0.3) * (i + 1) * 0.1);
                keel_adamw_step(&u, q, g, 0.01f);
            }
            for (int i = 0; i < N; i++)
                CHECK(mask[i] ? p[i] != q[i] : p[i] == q[i]);
            keel_adamw_free(&u);
        }
        keel_adamw_free(&o);
    }
}

/* The AVX-512 and plain loops, and 1 or 2 threads, give identical bits. */
TEST(adamw_variants_agree_exactly)
{
    size_t n = ((size_t)1 << 20) + 37; /* large enough for the threaded path */
    float *p[3], *grad = malloc(n * sizeof(float));
    uint8_t *mask = malloc(n);
    keel_adamw o[3];
    keel_rng r;
    keel_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++) {
        grad[i] = (float)(keel_rng_uniform(&r) - 0.5);
        mask[i] = (uint8_t)(i % 5 != 0);
    }
    for (int v = 0; v < 3; v++) {
        REQUIRE(keel_adamw_init(&o[v], n) == KEEL_OK);
        o[v].weight_decay = 0.01f;
        o[v].decay = mask;
        p[v] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            p[v][i] = (float)i * 1e-6f;
        keel_tensor_set_simd(v != 1);
        keel_tensor_set_threads(v == 2 ? 2 : 1);
        for (int t = 0; t < 3; t++)
            keel_adamw_step(&o[v], p[v], grad, 0.001f);
    }
    keel_tensor_set_simd(true);
    keel_tensor_set_threads(1);
    CHECK(memcmp(p[0], p[1], n * sizeof(float)) == 0);
    CHECK(memcmp(p[0], p[2], n * sizeof(float)) == 0);
    CHECK(memcmp(o[0].v, o[1].v, n * sizeof(float)) == 0);
    CHECK(memcmp(o[0].m, o[2].m, n * sizeof(float)) == 0);
    for (int v = 0; v < 3; v++) {
        keel_adamw_free(&o[v]);
        free(p[v]);
    }
    free(grad);
    free(mask);
}

/* y = 2 x1 - 3 x2 + 1 learnt by a LINEAR layer under MSE with Adam. */
TEST(adamw_fits_a_linear_regression)
{
    keel_graph *g = keel_graph_new();
    int x = keel_nn_input(g, 2, "x"), t = keel_nn_input(g, 1, "t");
    int y = keel_nn_dense(g, x, 1, KEEL_INIT_XAVIER, "y");
    int loss = keel_nn_loss(g, KEEL_OP_MSE, y, t, -1, 0);
    REQUIRE(keel_graph_finalise(g) == KEEL_OK);
    keel_rng r;
    keel_rng_seed(&r, 1);
    keel_graph_init_params(g, &r);
    keel_exec *ex = keel_exec_new(g, 32, true);
    float *grad = malloc(g->n_params * sizeof(float));
    keel_adamw o;
    REQUIRE(keel_adamw_init(&o, g->n_params) == KEEL_OK);
    float first = 0, last = 0;
    for (int step = 0; step < 600; step++) {
        float *xd = keel_exec_data(ex, x), *td = keel_exec_data(ex, t);
        for (int i = 0; i < 32; i++) {
            xd[2 * i] = (float)(keel_rng_uniform(&r) * 2 - 1);
            xd[2 * i + 1] = (float)(keel_rng_uniform(&r) * 2 - 1);
            td[i] = 2 * xd[2 * i] - 3 * xd[2 * i + 1] + 1;
        }
        REQUIRE(keel_exec_forward(ex, loss, 32, true) == KEEL_OK);
        REQUIRE(keel_exec_backward(ex, loss, grad) == KEEL_OK);
        keel_adamw_step(&o, g->params, grad,
                        keel_lr_schedule(0.05f, (uint64_t)step, 20, 600, 0.1f));
        if (step == 0) first = keel_exec_value(ex, loss)[0];
        last = keel_exec_value(ex, loss)[0];
    }
    const float *w = g->params + g->nodes[y - 2].offset, *b = g->params + g->nodes[y - 1].offset;
    CHECK(first > 1.0f);
    CHECK(last < 1e-4f);
    CHECK_NEAR(w[0], 2.0, 0.01);
    CHECK_NEAR(w[1], -3.0, 0.01);
    CHECK_NEAR(b[0], 1.0, 0.01);
    keel_adamw_free(&o);
    free(grad);
    keel_exec_free(ex);
    keel_graph_free(g);
}

TEST(lr_schedule_corners)
{
    float base = 0.1f, fl = 0.05f;
    CHECK(keel_lr_schedule(base, 0, 100, 1100, fl) == 0.0f);           /* warm-up start */
    CHECK_NEAR(keel_lr_schedule(base, 50, 100, 1100, fl), 0.05, 1e-7); /* half way */
    CHECK_NEAR(keel_lr_schedule(base, 100, 100, 1100, fl), 0.1, 1e-7); /* warm-up end */
    CHECK_NEAR(keel_lr_schedule(base, 600, 100, 1100, fl), 0.1 * (0.05 + 0.95 * 0.5), 1e-7);
    CHECK_NEAR(keel_lr_schedule(base, 1100, 100, 1100, fl), 0.005, 1e-8); /* decay end */
    CHECK_NEAR(keel_lr_schedule(base, 5000, 100, 1100, fl), 0.005, 1e-8); /* after it */
    CHECK(keel_lr_schedule(base, 1099, 100, 1100, fl) > 0.005f);
    /* decreasing through the cosine */
    float prev = 1;
    for (uint64_t t = 100; t <= 1100; t += 50) {
        float lr = keel_lr_schedule(base, t, 100, 1100, fl);
        CHECK(lr <= prev);
        prev = lr;
    }
    /* no warm-up; no decay phase */
    CHECK_NEAR(keel_lr_schedule(base, 0, 0, 10, 0), 0.1, 1e-7);
    CHECK_NEAR(keel_lr_schedule(base, 5, 0, 10, 0), 0.05, 1e-7);
    CHECK_NEAR(keel_lr_schedule(base, 7, 10, 10, 0), 0.07, 1e-7);
    CHECK_NEAR(keel_lr_schedule(base, 20, 10, 5, 0), 0.1, 1e-7);
}
