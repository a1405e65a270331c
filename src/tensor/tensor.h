/*
 * tensor.h — dense float kernels: matrix multiply and the elementwise work of the nn ops.
 *
 * Matrices are row-major float arrays with an explicit leading dimension. keel_gemm calls
 * oneDNN's dnnl_sgemm (measured fastest here, bench/gemm.sh); keel_gemm_ref is the scalar
 * reference every kernel is tested against. Thread count for GEMM is set once per process
 * with keel_tensor_set_threads. All functions are thread-safe on distinct outputs.
 *
 * The linear-layer kernels below (keel_linear_*) are what the nn ops call. They pick, per
 * shape, between oneDNN and keel's own kernels (src/tensor/kernels.c): a matrix-vector
 * product for one row (prediction of a single record, where a GEMM call's fixed cost
 * dominates) and dot-product kernels for narrow outputs (n <= 16: the logits of a
 * classifier), each in plain C and, where the CPU has it, AVX-512, chosen at run time.
 */
#ifndef KEEL_TENSOR_H
#define KEEL_TENSOR_H

#include "base/base.h"

/* C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major; op(X) = X or X^T when
 * trans_x is true. lda/ldb/ldc are the row strides of A, B, C as stored. As in BLAS, C is
 * not read when beta is 0 (so it may hold NaN); m, n or k may be 0 (k = 0 gives
 * C = beta * C). If oneDNN refuses the call (it should not) the reference computes it. */
void keel_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
               const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
               size_t ldc);
/* The same in plain loops (double accumulation): the reference for tests. */
void keel_gemm_ref(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                   const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                   size_t ldc);

/* Threads the GEMM backend may use (>= 1; smaller values count as 1). Process-wide: every
 * thread that later calls keel_gemm uses this count. The default is 1, so that a program
 * embedding keel gets no threads it did not ask for. Call before training/predicting; not
 * meant to be changed while other threads are inside keel_gemm. */
void keel_tensor_set_threads(int n);
int keel_tensor_threads(void);
/* A short description of the backend for reports, e.g.
 * "oneDNN 2.6.3 sgemm (avx512_core_bf16), keel kernels avx512". Static storage;
 * thread-safe. */
const char *keel_tensor_backend(void);

/* Whether keel's own kernels may use their SIMD (AVX-512) variants; true by default when
 * the CPU has AVX-512. Turning it off forces the plain-C variants: for tests, which check
 * both, and for benchmarks. Process-wide; not thread-safe to change while kernels run. */
void keel_tensor_set_simd(bool on);
bool keel_tensor_simd(void);

/* ---- linear-layer kernels ----------------------------------------------------------------
 * All matrices tight row-major: x[m,k], w[k,n], b[n], y[m,n], dy[m,n], dx[m,k], dw[k,n].
 * None allocates; all are thread-safe on distinct outputs. */

/* y = x w + b (b may be NULL: no bias). When relu is not NULL it also receives max(0, y)
 * (the fused LINEAR -> RELU of a dense layer: one pass over y instead of two). */
void keel_linear_forward(size_t m, size_t n, size_t k, const float *x, const float *w,
                         const float *b, float *y, float *relu);

/* The gradients of y = x w + b given dy: dw = x^T dy, db = column sums of dy, dx = dy w^T.
 * Each output may be NULL (not wanted); acc_* says whether to add to it (true) or overwrite
 * it (false). */
void keel_linear_backward(size_t m, size_t n, size_t k, const float *x, const float *w,
                          const float *dy, float *dw, bool acc_w, float *db, bool acc_b, float *dx,
                          bool acc_x);

#endif
