/*
 * api_latency.c — the public C API's single-row cost (include/keel.h), start to finish:
 * keel_model_predict_tensor (raw network inputs: workspace from the pool, forward,
 * calibrated probabilities) and keel_model_predict_row (text values: parsing, the schema's
 * rules, the fitted transforms, then the same).
 *
 * Build and run from the repository root (bench/train_speed.sh does both):
 *   gcc -std=c17 -O2 -Iinclude -Isrc -I. -D_GNU_SOURCE bench/api_latency.c build/libkeel.a \
 *       -lsodium -lyaml -ldnnl -lgomp -lm -lpthread -o build/api_latency
 *   build/api_latency MODEL.keel
 * Prints one JSON object per measurement: the median over 20000 calls after 2000 warm-up
 * calls, in microseconds.
 */
#include "keel.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define CALLS 20000

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: api_latency MODEL.keel\n");
        return 2;
    }
    keel_model *m;
    keel_error e;
    if (keel_model_open(argv[1], &m, &e)) {
        fprintf(stderr, "api_latency: %s\n", e.msg);
        return 1;
    }
    size_t nf = keel_model_n_features(m), ni = keel_model_n_inputs(m);
    float *x = calloc(nf + 1, sizeof *x), out[64];
    const char **row = calloc(ni + 1, sizeof *row);
    double *t = malloc(CALLS * sizeof *t);
    for (size_t i = 0; i < nf; i++)
        x[i] = (float)((i * 37 % 17) - 8) / 8.0f;
    for (size_t i = 0; i < ni; i++)
        row[i] = i % 3 ? "0.25" : "-1.5";
    for (int mode = 0; mode < 2; mode++) {
        for (int i = -2000; i < CALLS; i++) {
            double t0 = now();
            int rc = mode == 0 ? keel_model_predict_tensor(m, x, 1, nf, out, &e)
                               : keel_model_predict_row(m, row, out, &e);
            double dt = now() - t0;
            if (rc) {
                fprintf(stderr, "api_latency: %s\n", e.msg);
                return 1;
            }
            if (i >= 0) t[i] = dt;
        }
        qsort(t, CALLS, sizeof *t, cmp);
        printf("{\"bench\":\"%s\",\"impl\":\"keel\",\"threads\":1,\"value\":%.3f,\"unit\":\"us\","
               "\"features\":%zu,\"inputs\":%zu,\"p10_us\":%.3f,\"p90_us\":%.3f}\n",
               mode == 0 ? "api_predict_tensor_b1" : "api_predict_row_b1", t[CALLS / 2] * 1e6, nf,
               ni, t[CALLS / 10] * 1e6, t[CALLS * 9 / 10] * 1e6);
    }
    keel_model_close(m);
    free(x);
    free(row);
    free(t);
    return 0;
}
