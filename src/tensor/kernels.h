/*
 * kernels.h — keel's own dense kernels (private to src/tensor and src/nn, and their tests).
 *
 * Each elementwise kernel keel_k_NAME has a plain-C version keel_k_NAME_c and, on x86-64, an
 * AVX-512 version keel_k_NAME_avx512 compiled with a target attribute (the build uses -O2
 * without -march); keel_k_NAME picks one at run time (keel_tensor_simd()). The matrix kernels
 * (gemv, narrow_*) exist only as AVX-512 code: without it the linear-layer functions use
 * oneDNN, which carries its own code for older CPUs; keel_gemm_ref is their reference.
 * Only call an _avx512 function when keel_k_cpu_avx512() is true.
 *
 * None allocates. Tight row-major layouts; n, m, k may be 0.
 */
#ifndef KEEL_TENSOR_KERNELS_H
#define KEEL_TENSOR_KERNELS_H

#include "tensor/tensor.h"

/* Outputs narrower than this use the narrow_* kernels (classifier logits). */
#define KEEL_K_NARROW 16

bool keel_k_cpu_avx512(void); /* the CPU (and OS) support AVX-512F */

/* y[r,:] += b (b may be NULL) for r < m; then, if relu is not NULL, relu = max(0, y). */
void keel_k_bias(size_t m, size_t n, const float *b, float *y, float *relu);
void keel_k_bias_c(size_t m, size_t n, const float *b, float *y, float *relu);
void keel_k_bias_avx512(size_t m, size_t n, const float *b, float *y, float *relu);

/* y = max(0, x) over n floats. */
void keel_k_relu(size_t n, const float *x, float *y);
/* Whether all n floats are finite (no NaN, no infinity). */
bool keel_k_all_finite(size_t n, const float *x);
void keel_k_relu_c(size_t n, const float *x, float *y);
void keel_k_relu_avx512(size_t n, const float *x, float *y);

/* dx (= or +=, by acc) dy where y > 0, else 0: ReLU's backward from its output y. */
void keel_k_relu_bwd(size_t n, const float *y, const float *dy, float *dx, bool acc);
void keel_k_relu_bwd_c(size_t n, const float *y, const float *dy, float *dx, bool acc);
void keel_k_relu_bwd_avx512(size_t n, const float *y, const float *dy, float *dx, bool acc);

/* db[j] (= or +=) sum over r < m of dy[r, j]. */
void keel_k_colsum(size_t m, size_t n, const float *dy, float *db, bool acc);
void keel_k_colsum_c(size_t m, size_t n, const float *dy, float *db, bool acc);
void keel_k_colsum_avx512(size_t m, size_t n, const float *dy, float *db, bool acc);

/* y = a + b over n floats (y may alias a or b). */
void keel_k_add(size_t n, const float *a, const float *b, float *y);
void keel_k_add_c(size_t n, const float *a, const float *b, float *y);
void keel_k_add_avx512(size_t n, const float *a, const float *b, float *y);

/* dst (= or +=) src over n floats. */
void keel_k_accum(size_t n, const float *src, float *dst, bool acc);
void keel_k_accum_c(size_t n, const float *src, float *dst, bool acc);
void keel_k_accum_avx512(size_t n, const float *src, float *dst, bool acc);

/* y[n] = b + x[k] w[k,n] (b may be NULL), skipping the rows of w where x is 0 (ReLU
 * outputs are about half zeros, and one row is one input's weights); relu as keel_k_bias. */
void keel_k_gemv_avx512(size_t n, size_t k, const float *x, const float *w, const float *b,
                        float *y, float *relu);

/* Weights at bfloat16 precision: every float of w[k,n] whose low 16 bits are zero (what
 * keel train writes by default) is exactly its top 16 bits, so half the bytes hold the same
 * matrix. keel_k_pack_bf16 writes those top halves to out[k * n] in the order
 * keel_k_gemv_bf16_avx512 reads them (within each 32 outputs, output j and j + 16 share a
 * 32-bit word) and returns true, or returns false when some weight has other bits or n is
 * not a multiple of 16. keel_k_gemv_bf16_avx512 then gives exactly the bits of
 * keel_k_gemv_avx512 on w (the same fp32 multiply-adds in the same order, one weight
 * widened by a shift or a mask), reading half the memory; it needs n > 64. */
bool keel_k_pack_bf16(size_t k, size_t n, const float *w, uint16_t *out);
/* Rounds n floats to bfloat16 precision (to nearest, ties to even, in place): the low 16 bits
 * become zero. Infinities and NaN stay; a finite value never rounds to infinity. */
void keel_k_round_bf16(size_t n, float *w);
void keel_k_gemv_bf16_avx512(size_t n, size_t k, const float *x, const uint16_t *w, const float *b,
                             float *y, float *relu);

/* One block of a block-sparse matrix-vector product: output columns [col, col + n_cols),
 * n_cols <= 16, sum over input rows [row, row + n_rows) only (n_rows may be 0). */
typedef struct keel_k_block {
    uint32_t col, n_cols, row, n_rows;
} keel_k_block;

/* A block-sparse matrix packed for keel_k_gemv_blocks_avx512: the blocks in groups of
 * KEEL_K_BLOCK_GROUP (fewest rows last, so that a group's blocks have about as many rows; the
 * last group filled with empty blocks), and for each group, row r of all its blocks side by
 * side: the input index each reads (xi) and 16 weights each (w: the block's row r, zero past
 * its columns and past its rows; a block past its rows reads its last input row again, or
 * input 0 when it has none, times weights 0). */
#define KEEL_K_BLOCK_GROUP 8
typedef struct keel_k_blockpack {
    keel_k_block *blocks; /* n_groups * KEEL_K_BLOCK_GROUP, in group order */
    uint32_t *rows;       /* per group: its most rows */
    uint32_t *xi;
    float *w; /* 64-byte aligned, in mem */
    size_t n_groups;
    void *mem;
} keel_k_blockpack;

/* Packs the blocks of the k x n row-major w (each output column in exactly one block, each
 * block's rows inside [0, k)). KEEL_OK or KEEL_ENOMEM (p then empty). */
int keel_k_pack_blocks(const float *w, size_t n, const keel_k_block *blocks, size_t n_blocks,
                       keel_k_blockpack *p);
void keel_k_blockpack_free(keel_k_blockpack *p);

/* y[c] = b[c] + sum of x[i] w[i,c] over the rows i of c's block, in ascending i with one fused
 * multiply-add per term (b may be NULL). keel_k_gemv_avx512 forms the same sums when n > 64
 * (one chain per output, rows ascending, rows with x[i] = 0 left out, where a zero term
 * changes nothing here either), so when w is zero outside the blocks and x and w are finite
 * both give the same values (a zero result may differ in sign), this one reading only the
 * blocks' weights, contiguously. The terms past a block's rows are x times weight 0: they
 * leave its sums as they are (but for the sign of a zero sum), x being finite. (The
 * per-column embedding of a model is such a matrix: src/model/model.c.) */
void keel_k_gemv_blocks_avx512(const float *x, const keel_k_blockpack *p, const float *b, float *y);

/* y = x σ(x) over n floats, as the SILU op defines it: in float, e^-|x| by range reduction
 * and a degree-7 Taylor series, then one division (kernels.c, silu_ref); within 4 units in
 * the last place of x / (1 + e^-x). The AVX-512 version runs the same IEEE operations in the
 * same order, so both give the same bits for every input (tests/unit/test_api.c compares a
 * million). y may alias x. */
void keel_k_silu(size_t n, const float *x, float *y);
void keel_k_silu_c(size_t n, const float *x, float *y);
void keel_k_silu_avx512(size_t n, const float *x, float *y);

/* For n <= KEEL_K_NARROW: y[m,n] = x[m,k] w[k,n] + b (b may be NULL). */
void keel_k_narrow_fwd_avx512(size_t m, size_t n, size_t k, const float *x, const float *w,
                              const float *b, float *y);
/* For n <= KEEL_K_NARROW: dw[k,n] (= or +=) x[m,k]^T dy[m,n]. */
void keel_k_narrow_dw_avx512(size_t m, size_t n, size_t k, const float *x, const float *dy,
                             float *dw, bool acc);
/* For n <= KEEL_K_NARROW: dx[m,k] (= or +=) dy[m,n] w[k,n]^T. */
void keel_k_narrow_dx_avx512(size_t m, size_t n, size_t k, const float *dy, const float *w,
                             float *dx, bool acc);

#endif
