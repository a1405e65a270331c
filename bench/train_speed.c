/*
 * train_speed.c — keel's training and prediction speed on the MLPs of issue 3's goals.
 *
 * Build and run from the repository root:
 *   gcc -std=c17 -O2 -Iinclude -Isrc -I. -D_GNU_SOURCE bench/train_speed.c src/base/[a-z]*.c \
 *       src/tensor/[a-z]*.c src/nn/[a-z]*.c src/train/optim.c -lsodium -lyaml -ldnnl -lgomp -lm \
 *       -lpthread -o bench/out/train_speed && bench/out/train_speed
 *
 * Prints one JSON object per line:
 *   sgemm        oneDNN single-core GFLOP/s on each batch-64 layer shape of the small MLP
 *   train        samples/s (median of REPS timings) of one step = forward + backward + Adam:
 *                "small" 64-256-256-2 on 1 thread, "large" 512-1024-1024-1024-10 on 2
 *   predict      median µs per forward of the small MLP (batch 1 over 20000 calls, batch 64
 *                over 4000), with the FLOP time at the measured sgemm rates and at the
 *                nominal 160 GFLOP/s, and the ratios
 * The PyTorch side (measured by another script) mirrors this: nn.Linear layers with ReLU,
 * CrossEntropyLoss, torch.optim.Adam(lr=1e-3), batch 256, inputs N(0,1), random labels.
 * Every run uses the same seeds, so the same initial parameters and data.
 */
#include "base/base.h"
#include "nn/nn.h"
#include "tensor/tensor.h"
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#define BATCH     256
#define N_BATCHES 8 /* a pool of random batches, cycled */
#define REPS      7

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float normal(keel_rng *r)
{
    double u1 = 1.0 - keel_rng_uniform(r), u2 = keel_rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef struct mlp {
    keel_graph *g;
    int in, labels, logits, loss;
} mlp;

/* in -> (dense, relu)* -> dense -> softmax_ce, dims[0] inputs, dims[n-1] classes. */
static mlp build(const size_t *dims, int n)
{
    mlp m = {0};
    m.g = keel_graph_new();
    m.in = keel_nn_input(m.g, dims[0], "x");
    m.labels = keel_nn_index(m.g, 1, "y");
    int h = m.in;
    for (int i = 1; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%d", i);
        h = keel_nn_dense(m.g, h, dims[i], KEEL_INIT_KAIMING, name);
        if (i < n - 1) h = keel_nn_unary(m.g, KEEL_OP_RELU, h, 0);
    }
    m.logits = h;
    m.loss = keel_nn_loss(m.g, KEEL_OP_SOFTMAX_CE, m.logits, m.labels, -1, 0);
    if (m.loss < 0 || keel_graph_finalise(m.g) != KEEL_OK) {
        fprintf(stderr, "graph build failed\n");
        exit(1);
    }
    keel_rng r;
    keel_rng_seed(&r, 42);
    keel_graph_init_params(m.g, &r);
    return m;
}

static void bench_train(const char *name, const size_t *dims, int n, int threads, int steps)
{
    keel_tensor_set_threads(threads);
    mlp m = build(dims, n);
    size_t in = dims[0], classes = dims[n - 1];
    keel_exec *x = keel_exec_new(m.g, BATCH, true);
    float *grad = calloc(m.g->n_params, sizeof(float));
    keel_adamw opt;
    if (!x || !grad || keel_adamw_init(&opt, m.g->n_params) != KEEL_OK) exit(1);
    keel_rng r;
    keel_rng_seed(&r, 7);
    float *xs = malloc(N_BATCHES * BATCH * in * sizeof(float));
    int32_t *ys = malloc(N_BATCHES * BATCH * sizeof(int32_t));
    for (size_t i = 0; i < N_BATCHES * BATCH * in; i++)
        xs[i] = normal(&r);
    for (size_t i = 0; i < N_BATCHES * BATCH; i++)
        ys[i] = (int32_t)(keel_rng_next(&r) % classes);
    float *xd = keel_exec_data(x, m.in);
    int32_t *yd = keel_exec_index(x, m.labels);
    double t[REPS];
    float first_loss = 0, last_loss = 0;
    for (int rep = -1; rep < REPS; rep++) { /* rep -1 warms up */
        double t0 = bench_now();
        for (int s = 0; s < steps; s++) {
            size_t b = (size_t)s % N_BATCHES;
            memcpy(xd, xs + b * BATCH * in, BATCH * in * sizeof(float));
            memcpy(yd, ys + b * BATCH, BATCH * sizeof(int32_t));
            if (keel_exec_forward(x, m.loss, BATCH, true) != KEEL_OK ||
                keel_exec_backward(x, m.loss, grad) != KEEL_OK)
                exit(1);
            keel_adamw_step(&opt, m.g->params, grad, 1e-3f);
            last_loss = keel_exec_value(x, m.loss)[0];
            if (rep == -1 && s == 0) first_loss = last_loss;
        }
        if (rep >= 0) t[rep] = bench_now() - t0;
    }
    double sps[REPS];
    for (int i = 0; i < REPS; i++)
        sps[i] = (double)steps * BATCH / t[i];
    double med = median(sps, REPS);
    printf("{\"bench\":\"train_mlp_%s\",\"impl\":\"keel\",\"value\":%.0f,\"unit\":\"samples/s\","
           "\"threads\":%d,\"batch\":%d,\"steps\":%d,\"samples_per_s\":%.0f,\"min\":%.0f,\"max\":%."
           "0f,\"step_us\":%.1f,\"params\":%zu,"
           "\"loss_first\":%.4f,\"loss_last\":%.4f}\n",
           name, med, threads, BATCH, steps, med, sps[0], sps[REPS - 1], 1e6 * BATCH / med,
           m.g->n_params, first_loss, last_loss);
    fflush(stdout);
    keel_adamw_free(&opt);
    keel_exec_free(x);
    keel_graph_free(m.g);
    free(grad);
    free(xs);
    free(ys);
}

/* oneDNN single-core rate on one shape: median of 7 timings. */
static double sgemm_rate(size_t mm, size_t nn, size_t kk)
{
    float *a = calloc(mm * kk, sizeof(float)), *b = calloc(kk * nn, sizeof(float));
    float *c = calloc(mm * nn, sizeof(float));
    for (size_t i = 0; i < mm * kk; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < kk * nn; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double flop = 2.0 * (double)mm * (double)nn * (double)kk;
    int reps = (int)(2e8 / flop);
    reps = reps < 20 ? 20 : reps;
    double t[7];
    for (int r = -1; r < 7; r++) {
        double t0 = bench_now();
        for (int i = 0; i < reps; i++)
            keel_gemm(false, false, mm, nn, kk, 1.0f, a, kk, b, nn, 0.0f, c, nn);
        if (r >= 0) t[r] = (bench_now() - t0) / reps;
    }
    double sec = median(t, 7);
    printf("{\"bench\":\"sgemm\",\"threads\":1,\"m\":%zu,\"n\":%zu,\"k\":%zu,\"gflops\":%.1f,"
           "\"us\":%.3f}\n",
           mm, nn, kk, flop / sec * 1e-9, sec * 1e6);
    free(a);
    free(b);
    free(c);
    return flop / sec;
}

static void bench_predict(const size_t *dims, int n)
{
    keel_tensor_set_threads(1);
    /* FLOP time of one batch-64 forward at the measured per-shape rates and at 160 GFLOP/s */
    double t_measured = 0, flops64 = 0;
    for (int i = 1; i < n; i++) {
        double f = 2.0 * 64 * (double)dims[i - 1] * (double)dims[i];
        flops64 += f;
        t_measured += f / sgemm_rate(64, dims[i], dims[i - 1]);
    }
    mlp m = build(dims, n);
    keel_exec *x = keel_exec_new(m.g, 64, false);
    keel_rng r;
    keel_rng_seed(&r, 9);
    float *xd = keel_exec_data(x, m.in);
    for (size_t i = 0; i < 64 * dims[0]; i++)
        xd[i] = normal(&r);
    static const size_t batches[] = {1, 64};
    for (int bi = 0; bi < 2; bi++) {
        size_t b = batches[bi];
        int calls = b == 1 ? 20000 : 4000;
        double *t = malloc((size_t)calls * sizeof *t);
        for (int i = 0; i < calls / 10; i++) /* warm-up */
            keel_exec_forward(x, m.logits, b, false);
        for (int i = 0; i < calls; i++) {
            double t0 = bench_now();
            keel_exec_forward(x, m.logits, b, false);
            t[i] = bench_now() - t0;
        }
        double med = median(t, (size_t)calls) * 1e6;
        double p10 = t[calls / 10] * 1e6, p90 = t[calls * 9 / 10] * 1e6;
        if (b == 1) {
            printf("{\"bench\":\"predict_mlp_small_b1\",\"impl\":\"keel\",\"threads\":1,"
                   "\"value\":%.3f,\"unit\":\"us\",\"batch\":1,\"calls\":%d,\"median_us\":%.3f,"
                   "\"p10_us\":%.3f,\"p90_us\":%.3f,\"goal_us\":1.5}\n",
                   med, calls, med, p10, p90);
        } else {
            double nominal = flops64 / 160e9 * 1e6;
            printf("{\"bench\":\"predict_mlp_small_b64\",\"impl\":\"keel\",\"threads\":1,"
                   "\"value\":%.3f,\"unit\":\"us\",\"batch\":64,\"calls\":%d,\"median_us\":%.3f,"
                   "\"p10_us\":%.3f,\"p90_us\":%.3f,\"flop_time_us_measured_rate\":%.3f,"
                   "\"ratio_measured\":%.3f,\"flop_time_us_160gflops\":%.3f,"
                   "\"ratio_160\":%.3f,\"goal_ratio\":1.1}\n",
                   med, calls, med, p10, p90, t_measured * 1e6, med / (t_measured * 1e6), nominal,
                   med / nominal);
        }
        fflush(stdout);
        free(t);
    }
    keel_exec_free(x);
    keel_graph_free(m.g);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static const size_t small[] = {64, 256, 256, 2};
    static const size_t large[] = {512, 1024, 1024, 1024, 10};
    printf("{\"bench\":\"backend\",\"backend\":\"%s\"}\n", keel_tensor_backend());
    bench_predict(small, 4);
    bench_train("small", small, 4, 1, 200);
    bench_train("large", large, 5, 2, 10);
    return 0;
}
