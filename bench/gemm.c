/*
 * gemm.c — single-precision GEMM throughput of OpenBLAS and oneDNN on the layer shapes of
 * issue 3's benchmarks (batch 256), to choose keel's matrix-multiply backend by measurement.
 * Not part of keel; built and run by bench/gemm.sh.
 *
 * For each shape C[m×n] = A[m×k] · B[k×n] it runs warm-up calls, then times REPS calls and
 * prints GFLOP/s (2·m·n·k per call), the median of 5 timings.
 */
#include <cblas.h>
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

int main(int argc, char **argv)
{
    const char *lib = argc > 1 ? argv[1] : "openblas";
    static const int shapes[][3] = {
        {256, 256, 64},    /* 64 -> 256, forward */
        {256, 256, 256},   /* 256 -> 256 */
        {256, 1024, 512},  /* 512 -> 1024 */
        {256, 1024, 1024}, /* 1024 -> 1024 */
        {1, 256, 64},      /* one row (prediction) */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)m * k),
              *b = malloc(sizeof(float) * (size_t)k * n),
              *c = malloc(sizeof(float) * (size_t)m * n);
        for (int i = 0; i < m * k; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (int i = 0; i < k * n; i++)
            b[i] = (float)(i % 5) * 0.1f;
        double flop = 2.0 * m * n * k;
        int reps = (int)(2e9 / flop);
        reps = reps < 10 ? 10 : reps > 200000 ? 200000 : reps;
        double t[5];
        for (int r = -1; r < 5; r++) {
            double t0 = bench_now();
            for (int i = 0; i < reps; i++) {
                if (!strcmp(lib, "onednn"))
                    dnnl_sgemm('N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b,
                                n, 0.0f, c, n);
            }
            if (r >= 0) t[r] = bench_now() - t0;
        }
        qsort(t, 5, sizeof *t, bench_cmp_double);
        double per_call = t[2] / reps;
        printf("%-8s %4d x %4d x %4d  %8.2f GFLOP/s  %10.2f us/call\n", lib, m, n, k,
               flop / per_call * 1e-9, per_call * 1e6);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
