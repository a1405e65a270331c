/*
 * gemm.c — matrix multiply over oneDNN, its scalar reference, and the linear-layer kernels.
 *
 * Design. keel_gemm is a thin wrapper of dnnl_sgemm (row-major, 'N'/'T'), which on this
 * hardware runs at about 95% of the FMA peak for the layer shapes of keel's models
 * (bench/gemm.sh). The wrapper owns the edge cases oneDNN does not accept (an empty inner
 * dimension) and, should oneDNN ever refuse a call, computes it with the reference rather
 * than return garbage: keel_gemm has no error path.
 *
 * Threads: oneDNN is built on OpenMP and uses omp_get_max_threads(), which is a per-thread
 * setting. keel keeps one process-wide count and re-applies it on the calling thread when it
 * differs, so "process-wide" holds for every thread that calls in. The default is one thread.
 *
 * keel_linear_forward/backward choose per shape: one row goes to the matrix-vector kernel
 * (a GEMM call costs about 0.5 µs before it does any work, more than the whole product for a
 * 64 x 256 layer), outputs of at most 16 columns to the narrow kernels (oneDNN manages about a
 * tenth of its peak on them), everything else to oneDNN followed by one fused pass for the
 * bias (and the ReLU, when the caller wants it). Without AVX-512 everything goes to oneDNN.
 */
#include "tensor/tensor.h"

#include "tensor/kernels.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

/* ---- threads ------------------------------------------------------------------------- */

static int g_threads = 1;

void keel_tensor_set_threads(int n)
{
    if (n < 1) n = 1;
    __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
    omp_set_num_threads(n);
}

int keel_tensor_threads(void)
{
    return __atomic_load_n(&g_threads, __ATOMIC_RELAXED);
}

/* ---- backend description ------------------------------------------------------------- */

static char g_backend[128];
static pthread_once_t g_backend_once = PTHREAD_ONCE_INIT;

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "isa unknown";
    }
}

static void backend_init(void)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(g_backend, sizeof g_backend, "oneDNN %d.%d.%d sgemm (%s), keel kernels %s",
             v ? v->major : 0, v ? v->minor : 0, v ? v->patch : 0,
             isa_name(dnnl_get_effective_cpu_isa()), keel_k_cpu_avx512() ? "avx512" : "plain C");
}

const char *keel_tensor_backend(void)
{
    pthread_once(&g_backend_once, backend_init);
    return g_backend;
}

/* ---- GEMM ---------------------------------------------------------------------------- */

/* C = beta * C over an m x n block (beta 0 writes zeros without reading C). */
static void scale_c(size_t m, size_t n, float beta, float *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, n * sizeof *row);
        else if (beta != 1.0f)
            for (size_t j = 0; j < n; j++)
                row[j] *= beta;
    }
}

void keel_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
               const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
               size_t ldc)
{
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    int want = keel_tensor_threads();
    if (omp_get_max_threads() != want) omp_set_num_threads(want);
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', (dnnl_dim_t)m,
                                  (dnnl_dim_t)n, (dnnl_dim_t)k, alpha, a, (dnnl_dim_t)lda, b,
                                  (dnnl_dim_t)ldb, beta, c, (dnnl_dim_t)ldc);
    if (KEEL_UNLIKELY(st != dnnl_success))
        keel_gemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void keel_gemm_ref(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                   const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                   size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = trans_a ? a[p * lda + i] : a[i * lda + p];
                double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double prev = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            c[i * ldc + j] = (float)((double)alpha * s + prev);
        }
}

/* ---- linear layers ------------------------------------------------------------------- */

void keel_linear_forward(size_t m, size_t n, size_t k, const float *x, const float *w,
                         const float *b, float *y, float *relu)
{
    if (m == 0 || n == 0) return;
    if (keel_tensor_simd()) {
        if (m == 1) {
            keel_k_gemv_avx512(n, k, x, w, b, y, relu);
            return;
        }
        if (n <= KEEL_K_NARROW) {
            keel_k_narrow_fwd_avx512(m, n, k, x, w, b, y);
            if (relu) keel_k_relu_avx512(m * n, y, relu);
            return;
        }
    }
    keel_gemm(false, false, m, n, k, 1.0f, x, k, w, n, 0.0f, y, n);
    keel_k_bias(m, n, b, y, relu);
}

void keel_linear_backward(size_t m, size_t n, size_t k, const float *x, const float *w,
                          const float *dy, float *dw, bool acc_w, float *db, bool acc_b, float *dx,
                          bool acc_x)
{
    bool narrow = n <= KEEL_K_NARROW && keel_tensor_simd();
    if (dw) {
        if (narrow)
            keel_k_narrow_dw_avx512(m, n, k, x, dy, dw, acc_w);
        else
            keel_gemm(true, false, k, n, m, 1.0f, x, k, dy, n, acc_w ? 1.0f : 0.0f, dw, n);
    }
    if (db) keel_k_colsum(m, n, dy, db, acc_b);
    if (dx) {
        if (narrow)
            keel_k_narrow_dx_avx512(m, n, k, dy, w, dx, acc_x);
        else
            keel_gemm(false, true, m, k, n, 1.0f, dy, n, w, n, acc_x ? 1.0f : 0.0f, dx, k);
    }
}
