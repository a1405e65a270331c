/*
 * kernels.c — the elementwise and small matrix kernels behind the nn ops.
 *
 * Design. The heavy matrix products go to oneDNN (gemm.c); what is left is either memory-bound
 * elementwise work (bias, ReLU, column sums) or shapes where a GEMM call is a poor fit: one
 * row (prediction of one record: the fixed cost of a GEMM call is larger than the work) and
 * narrow outputs (n <= 16, the logits layer, where oneDNN runs at a tenth of its speed).
 * Each elementwise kernel has a plain-C version and an AVX-512 version beside it; the build
 * compiles everything at -O2 without -march, so the AVX-512 code carries a target attribute
 * and is only called after a run-time check of the CPU (keel_tensor_simd()). Loops use masked
 * loads and stores for their tails, so there is no scalar epilogue to get wrong.
 *
 * The matrix-vector product streams the weight matrix once, row by row (y += x[i] * W[i,:]),
 * with the whole output block in registers, and skips the rows whose input is zero: after a
 * ReLU about half are, which halves the bytes read from L2, and bytes are what bound it
 * (a 256 x 256 layer is 256 KiB: it lives in L2, not L1). For 1, 2, 4 or 8 outputs a vector
 * holds several whole rows and the product runs over packed rows instead.
 * The narrow kernels transpose the (small) weight matrix into a stack tile in chunks of
 * NARROW_KC rows so that every product becomes a run of dot products along k.
 */
#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define KEEL_HAVE_AVX512 1
#include <immintrin.h>
#else
#define KEEL_HAVE_AVX512 0
#endif

bool keel_k_cpu_avx512(void)
{
#if KEEL_HAVE_AVX512
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

/* ---- the SIMD switch ------------------------------------------------------------------
 * Every keel_k_* dispatcher below reads it; it lives here, with them, so the choice between
 * the plain-C and AVX-512 variants is made in one file. */

static int g_simd = -1; /* -1: not yet probed */

bool keel_tensor_simd(void)
{
    int s = __atomic_load_n(&g_simd, __ATOMIC_RELAXED);
    if (KEEL_UNLIKELY(s < 0)) {
        s = keel_k_cpu_avx512() ? 1 : 0;
        __atomic_store_n(&g_simd, s, __ATOMIC_RELAXED);
    }
    return s != 0;
}

void keel_tensor_set_simd(bool on)
{
    __atomic_store_n(&g_simd, on && keel_k_cpu_avx512() ? 1 : 0, __ATOMIC_RELAXED);
}

/* ---- plain C ------------------------------------------------------------------------- */

void keel_k_bias_c(size_t m, size_t n, const float *b, float *y, float *relu)
{
    for (size_t r = 0; r < m; r++) {
        float *yr = y + r * n;
        if (b)
            for (size_t j = 0; j < n; j++)
                yr[j] += b[j];
        if (relu)
            for (size_t j = 0; j < n; j++)
                relu[r * n + j] = yr[j] > 0.0f ? yr[j] : 0.0f;
    }
}

void keel_k_relu_c(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void keel_k_relu_bwd_c(size_t n, const float *y, const float *dy, float *dx, bool acc)
{
    if (acc) {
        for (size_t i = 0; i < n; i++)
            dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    } else {
        for (size_t i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

void keel_k_colsum_c(size_t m, size_t n, const float *dy, float *db, bool acc)
{
    if (!acc) memset(db, 0, n * sizeof *db);
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < n; j++)
            db[j] += dy[r * n + j];
}

void keel_k_add_c(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void keel_k_accum_c(size_t n, const float *src, float *dst, bool acc)
{
    if (!acc) {
        memmove(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* y = z σ(z) in float, the SiLU every version computes, operation for operation, so the
 * AVX-512 kernel gives the same bits as this C (each step is one IEEE operation: fmaf,
 * rintf and ldexpf round once, as the vector instructions do). e^-|z| comes from
 * |z| = -n ln2 - r with |r| <= ln2 / 2 (ln2 in two parts, the products inside fmaf exact)
 * and e^r by its Taylor series to degree 7, whose truncation (|r|^8 / 8! < 5.3e-9) is a
 * tenth of a float's rounding; the result is within a few units in the last place of
 * z / (1 + e^-z). Beyond |z| = 128 the result is z, or -0 (|z e^z| < 2^-150). */
#define SILU_BIG    128.0f
#define SILU_LOG2E  0x1.715476p+0f
#define SILU_LN2_HI 0x1.62e43p-1f
#define SILU_LN2_LO -0x1.05c61p-29f
static const float silu_taylor[8] = {0x1p+0f,         0x1p+0f,        0x1p-1f,
                                     0x1.555556p-3f,  0x1.555556p-5f, 0x1.111112p-7f,
                                     0x1.6c16c2p-10f, 0x1.a01a02p-13f};

static inline float silu_ref(float z)
{
    float a = fabsf(z);
    if (!(a <= SILU_BIG)) return z > 0.0f ? z : z < 0.0f ? -0.0f : z; /* huge, ±inf, NaN */
    float n = rintf(a * -SILU_LOG2E);                                 /* -|z| = n ln2 + r */
    float r = fmaf(n, -SILU_LN2_HI, -a);
    r = fmaf(n, -SILU_LN2_LO, r);
    float p = silu_taylor[7];
    for (int i = 6; i >= 0; i--)
        p = fmaf(p, r, silu_taylor[i]);
    float t = ldexpf(p, (int)n); /* e^-|z| */
    if (z >= 0.0f) return z * (1.0f / (1.0f + t));
    /* z e^z / (1 + e^z) with e^z = p 2^n: scaling last keeps the bits a tiny e^z would lose */
    return ldexpf(z * (p / (1.0f + t)), (int)n);
}

void keel_k_silu_c(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = silu_ref(x[i]);
}

void keel_k_round_bf16(size_t n, float *w)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u, r;
        memcpy(&u, &w[i], sizeof u);
        if ((u & 0x7f800000u) == 0x7f800000u) continue; /* infinity or NaN */
        r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        if ((r & 0x7f800000u) == 0x7f800000u) r = (u & 0x80000000u) | 0x7f7f0000u;
        memcpy(&w[i], &r, sizeof r);
    }
}

bool keel_k_pack_bf16(size_t k, size_t n, const float *w, uint16_t *out)
{
    if (n % 16) return false;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++) {
            uint32_t u;
            memcpy(&u, &w[i * n + j], sizeof u);
            if (u & 0xffffu) return false;
            /* output j's place: within its 32 outputs, j and j + 16 share a word; a last
             * group of 16 stays in order */
            size_t g = j / 32 * 32, l = j % 32, at = l;
            if (g + 32 <= n) at = l < 16 ? 2 * l : 2 * (l - 16) + 1;
            out[i * n + g + at] = (uint16_t)(u >> 16);
        }
    return true;
}

void keel_k_blockpack_free(keel_k_blockpack *p)
{
    keel_free(p->mem);
    memset(p, 0, sizeof *p);
}

int keel_k_pack_blocks(const float *w, size_t n, const keel_k_block *blocks, size_t n_blocks,
                       keel_k_blockpack *p)
{
    enum { G = KEEL_K_BLOCK_GROUP };
    memset(p, 0, sizeof *p);
    size_t n_groups = (n_blocks + G - 1) / G, slots = n_groups * G;
    /* Most rows first (a stable insertion sort of the block numbers: few blocks). */
    size_t *order = keel_calloc(slots ? slots : 1, sizeof *order);
    if (!order) return KEEL_ENOMEM;
    for (size_t q = 0; q < n_blocks; q++) {
        size_t at = q;
        for (; at > 0 && blocks[order[at - 1]].n_rows < blocks[q].n_rows; at--)
            order[at] = order[at - 1];
        order[at] = q;
    }
    size_t total_rows = 0; /* sum over groups of their most rows */
    for (size_t g = 0; g < n_groups; g++)
        total_rows += blocks[order[g * G]].n_rows;
    size_t at = 0, sz_blocks = slots * sizeof(keel_k_block), sz_rows = n_groups * sizeof(uint32_t),
           sz_xi = total_rows * G * sizeof(uint32_t), sz_w = total_rows * G * 16 * sizeof(float);
    char *mem = keel_calloc(1, sz_blocks + sz_rows + sz_xi + sz_w + 64);
    if (!mem) {
        keel_free(order);
        return KEEL_ENOMEM;
    }
    p->mem = mem;
    p->n_groups = n_groups;
    p->w = (float *)(mem + (64 - (uintptr_t)mem % 64) % 64);
    p->blocks = (keel_k_block *)((char *)p->w + sz_w); /* the rest needs 4-byte alignment */
    p->rows = (uint32_t *)((char *)p->blocks + sz_blocks);
    p->xi = p->rows + n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        uint32_t rows = blocks[order[g * G]].n_rows;
        p->rows[g] = rows;
        for (size_t u = 0; u < G; u++) {
            size_t slot = g * G + u;
            keel_k_block bk = slot < n_blocks ? blocks[order[slot]] : (keel_k_block){0, 0, 0, 0};
            p->blocks[slot] = bk;
            for (uint32_t r = 0; r < rows; r++) {
                size_t cell = (at + r) * G + u;
                uint32_t i = bk.n_rows ? bk.row + (r < bk.n_rows ? r : bk.n_rows - 1) : 0;
                p->xi[cell] = i;
                if (r < bk.n_rows)
                    memcpy(p->w + cell * 16, w + (size_t)i * n + bk.col, bk.n_cols * sizeof(float));
            }
        }
        at += rows;
    }
    keel_free(order);
    return KEEL_OK;
}

/* ---- AVX-512 ------------------------------------------------------------------------- */
#if KEEL_HAVE_AVX512

#define KEEL_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE      inline __attribute__((always_inline))

/* Lanes [0, left) of a 16-float vector, all of them when left >= 16. */
KEEL_AVX512 static INLINE __mmask16 tail(size_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

KEEL_AVX512 void keel_k_bias_avx512(size_t m, size_t n, const float *b, float *y, float *relu)
{
    const __m512 zero = _mm512_setzero_ps();
    for (size_t r = 0; r < m; r++) {
        float *yr = y + r * n;
        float *rr = relu ? relu + r * n : NULL;
        for (size_t j = 0; j < n; j += 16) {
            __mmask16 k = tail(n - j);
            __m512 v = _mm512_maskz_loadu_ps(k, yr + j);
            if (b) {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, b + j));
                _mm512_mask_storeu_ps(yr + j, k, v);
            }
            if (rr) _mm512_mask_storeu_ps(rr + j, k, _mm512_max_ps(v, zero));
        }
    }
}

KEEL_AVX512 void keel_k_relu_avx512(size_t n, const float *x, float *y)
{
    const __m512 zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_max_ps(_mm512_maskz_loadu_ps(k, x + i), zero));
    }
}

KEEL_AVX512 void keel_k_relu_bwd_avx512(size_t n, const float *y, const float *dy, float *dx,
                                        bool acc)
{
    const __m512 zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail(n - i);
        __mmask16 pos =
            _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, y + i), zero, _CMP_GT_OQ);
        __m512 v = _mm512_maskz_loadu_ps(pos, dy + i);
        if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, dx + i));
        _mm512_mask_storeu_ps(dx + i, k, v);
    }
}

KEEL_AVX512 void keel_k_colsum_avx512(size_t m, size_t n, const float *dy, float *db, bool acc)
{
    /* 256 columns at a time, the sums in 16 registers, rows streamed once per block. */
    for (size_t j0 = 0; j0 < n; j0 += 256) {
        size_t nb = KEEL_MIN((size_t)256, n - j0);
        __mmask16 mk[16];
        __m512 s[16];
#pragma GCC unroll 16
        for (int v = 0; v < 16; v++) {
            mk[v] = (size_t)v * 16 < nb ? tail(nb - (size_t)v * 16) : 0;
            s[v] = acc ? _mm512_maskz_loadu_ps(mk[v], db + j0 + 16 * v) : _mm512_setzero_ps();
        }
        for (size_t r = 0; r < m; r++) {
            const float *row = dy + r * n + j0;
#pragma GCC unroll 16
            for (int v = 0; v < 16; v++)
                if (mk[v]) s[v] = _mm512_add_ps(s[v], _mm512_maskz_loadu_ps(mk[v], row + 16 * v));
        }
#pragma GCC unroll 16
        for (int v = 0; v < 16; v++)
            if (mk[v]) _mm512_mask_storeu_ps(db + j0 + 16 * v, mk[v], s[v]);
    }
}

KEEL_AVX512 void keel_k_add_avx512(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail(n - i);
        _mm512_mask_storeu_ps(
            y + i, k,
            _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i)));
    }
}

KEEL_AVX512 void keel_k_accum_avx512(size_t n, const float *src, float *dst, bool acc)
{
    if (!acc) {
        memmove(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail(n - i);
        _mm512_mask_storeu_ps(
            dst + i, k,
            _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst + i), _mm512_maskz_loadu_ps(k, src + i)));
    }
}

/* ---- matrix-vector product ---- */

/* Rows of one GEMV pass whose indices are gathered at a time (a stack array). */
#define GEMV_KC 2048
/* How many rows before the end of a wide GEMV the output lines are requested for writing
 * (measured: 8 took 0.1 µs off a 64 x 256 layer; the stores otherwise miss L1). */
#define PREFETCH_OUT_ROWS 8
/* X(nv) for every block width in whole vectors, 1 .. 16 (a switch on a constant width) */
#define GEMV_WIDTHS(X)                                                                             \
    X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16)

/* Writes to idx the i < k with x[i] != 0 (NaN counts as non-zero, so it propagates);
 * returns how many. idx must have room for k + 16 entries. */
KEEL_AVX512 static size_t nonzero_rows(const float *x, size_t k, int32_t *idx)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t nnz = 0;
    for (size_t i = 0; i < k; i += 16) {
        __mmask16 lm = tail(k - i);
        __m512 v = _mm512_maskz_loadu_ps(lm, x + i);
        __mmask16 nz = _mm512_mask_cmp_ps_mask(lm, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        /* compress in a register and store all 16 lanes (idx has 16 spare entries): a
         * compressing store to memory is several times slower on current cores */
        __m512i packed =
            _mm512_maskz_compress_epi32(nz, _mm512_add_epi32(_mm512_set1_epi32((int)i), lane));
        _mm512_storeu_si512((void *)(idx + nnz), packed);
        nnz += (size_t)__builtin_popcount(nz);
    }
    return nnz;
}

/* n <= 64: at most four vectors of output, so four rows are kept in flight at once (four
 * sets of accumulators) to hide the latency of the FMA chains. */
KEEL_AVX512 static void gemv_small(size_t n, size_t k, const float *x, const float *w,
                                   const float *b, float *y, float *relu)
{
    int32_t idx[GEMV_KC + 16];
    __mmask16 mk[4];
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        mk[v] = (size_t)v * 16 < n ? tail(n - (size_t)v * 16) : 0;
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            acc[u][v] = _mm512_setzero_ps();
    }
    for (size_t i0 = 0; i0 < k; i0 += GEMV_KC) {
        size_t nnz = nonzero_rows(x + i0, KEEL_MIN((size_t)GEMV_KC, k - i0), idx);
        size_t t = 0;
        for (; t + 4 <= nnz; t += 4) {
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                size_t i = i0 + (size_t)idx[t + (size_t)u];
                __m512 xv = _mm512_set1_ps(x[i]);
                const float *row = w + i * n;
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++)
                    if (mk[v])
                        acc[u][v] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mk[v], row + 16 * v),
                                                    acc[u][v]);
            }
        }
        for (; t < nnz; t++) {
            size_t i = i0 + (size_t)idx[t];
            __m512 xv = _mm512_set1_ps(x[i]);
            const float *row = w + i * n;
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                if (mk[v])
                    acc[0][v] =
                        _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mk[v], row + 16 * v), acc[0][v]);
        }
    }
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        if (!mk[v]) continue;
        __m512 s =
            _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]), _mm512_add_ps(acc[2][v], acc[3][v]));
        if (b) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mk[v], b + 16 * v));
        _mm512_mask_storeu_ps(y + 16 * v, mk[v], s);
        if (relu)
            _mm512_mask_storeu_ps(relu + 16 * v, mk[v], _mm512_max_ps(s, _mm512_setzero_ps()));
    }
}

/* n in {1, 2, 4, 8}: one vector of w holds 16 / n whole rows, so 16 rows take n loads of w
 * and n permutes of the 16 x values (x_i repeated n times per row) — no per-row work at all.
 * Lane l of the accumulators sums column l % n. */
KEEL_AVX512 static INLINE void gemv_packed(const size_t n, size_t k, const float *x, const float *w,
                                           const float *b, float *y, float *relu)
{
    __m512i perm[8];
    __m512 acc[2][8];
    size_t rpv = 16 / n; /* rows per vector */
#pragma GCC unroll 8
    for (size_t s = 0; s < n; s++) {
        int e[16];
        for (int l = 0; l < 16; l++)
            e[l] = (int)(s * rpv) + l / (int)n;
        perm[s] = _mm512_loadu_si512((const void *)e);
        acc[0][s] = acc[1][s] = _mm512_setzero_ps();
    }
    size_t total = k * n, blk = 0;
    for (size_t i = 0; i < k; i += 16, blk++) {
        __m512 xv = _mm512_maskz_loadu_ps(tail(k - i), x + i);
        const float *wp = w + i * n;
        size_t left = total - i * n;
#pragma GCC unroll 8
        for (size_t s = 0; s < n; s++) {
            size_t off = 16 * s;
            __mmask16 wm = left > off ? tail(left - off) : 0;
            __m512 xs = _mm512_permutexvar_ps(perm[s], xv);
            __m512 ws = _mm512_maskz_loadu_ps(wm, wp + off);
            if (blk & 1) /* two sets of accumulators: two FMA chains in flight */
                acc[1][s] = _mm512_fmadd_ps(xs, ws, acc[1][s]);
            else
                acc[0][s] = _mm512_fmadd_ps(xs, ws, acc[0][s]);
        }
    }
    __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (size_t s = 0; s < n; s++)
        sum = _mm512_add_ps(sum, _mm512_add_ps(acc[0][s], acc[1][s]));
    _Alignas(64) float lanes[16];
    _mm512_store_ps(lanes, sum);
    for (size_t c = 0; c < n; c++) {
        float v = b ? b[c] : 0.0f;
        for (size_t l = c; l < 16; l += n)
            v += lanes[l];
        y[c] = v;
        if (relu) relu[c] = v > 0.0f ? v : 0.0f;
    }
}

/* The parts of a block's pass that do not depend on how its weights are stored: the sums
 * start at the bias, the output lines are asked for (for writing) a few rows before the end
 * because the weight stream has evicted them, and plain stores end it (masked ones cost more
 * here). */
KEEL_AVX512 static INLINE void block_start(const int nv, const float *b, __m512 *acc)
{
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        acc[v] = b ? _mm512_loadu_ps(b + 16 * v) : _mm512_setzero_ps();
}

KEEL_AVX512 static INLINE void block_want_out(const int nv, float *y, float *relu)
{
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++) {
        _mm_prefetch((const char *)(y + 16 * v), _MM_HINT_ET0);
        if (relu) _mm_prefetch((const char *)(relu + 16 * v), _MM_HINT_ET0);
    }
}

KEEL_AVX512 static INLINE void block_store(const int nv, const __m512 *acc, float *y, float *relu)
{
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++) {
        _mm512_storeu_ps(y + 16 * v, acc[v]);
        if (relu) _mm512_storeu_ps(relu + 16 * v, _mm512_max_ps(acc[v], _mm512_setzero_ps()));
    }
}

/* One block of nv * 16 outputs (columns j0.. of a row-major w with n columns, w passed
 * offset to j0), nv a constant so the accumulators live in registers and no load is
 * masked: for each non-zero x_i in order, acc += x_i * row i. Every block width sums in the
 * same order, so the result does not depend on which path ran. */
KEEL_AVX512 static INLINE void gemv_block(const int nv, size_t n, size_t k, const float *x,
                                          const float *w, const float *b, float *y, float *relu,
                                          int32_t *idx)
{
    __m512 acc[16];
    block_start(nv, b, acc);
    for (size_t i0 = 0; i0 < k; i0 += GEMV_KC) {
        size_t nnz = nonzero_rows(x + i0, KEEL_MIN((size_t)GEMV_KC, k - i0), idx);
        for (size_t t = 0; t < nnz; t++) {
            if (t + PREFETCH_OUT_ROWS == nnz && i0 + GEMV_KC >= k) block_want_out(nv, y, relu);
            size_t i = i0 + (size_t)idx[t];
            __m512 xv = _mm512_set1_ps(x[i]);
            const float *row = w + i * n;
#pragma GCC unroll 16
            for (int v = 0; v < nv; v++)
                acc[v] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(row + 16 * v), acc[v]);
        }
    }
    block_store(nv, acc, y, relu);
}

/* The same for a block of nb < 256 outputs that is not whole vectors: masked loads. */
KEEL_AVX512 static void gemv_block_masked(size_t nb, size_t n, size_t k, const float *x,
                                          const float *w, const float *b, float *y, float *relu,
                                          int32_t *idx)
{
    __mmask16 mk[16];
    __m512 acc[16];
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++) {
        mk[v] = (size_t)v * 16 < nb ? tail(nb - (size_t)v * 16) : 0;
        acc[v] = b ? _mm512_maskz_loadu_ps(mk[v], b + 16 * v) : _mm512_setzero_ps();
    }
    for (size_t i0 = 0; i0 < k; i0 += GEMV_KC) {
        size_t nnz = nonzero_rows(x + i0, KEEL_MIN((size_t)GEMV_KC, k - i0), idx);
        for (size_t t = 0; t < nnz; t++) {
            size_t i = i0 + (size_t)idx[t];
            __m512 xv = _mm512_set1_ps(x[i]);
            const float *row = w + i * n;
#pragma GCC unroll 16
            for (int v = 0; v < 16; v++)
                if (mk[v])
                    acc[v] =
                        _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mk[v], row + 16 * v), acc[v]);
        }
    }
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++) {
        if (!mk[v]) continue;
        _mm512_mask_storeu_ps(y + 16 * v, mk[v], acc[v]);
        if (relu)
            _mm512_mask_storeu_ps(relu + 16 * v, mk[v], _mm512_max_ps(acc[v], _mm512_setzero_ps()));
    }
}

/* gemv_block over weights packed by keel_k_pack_bf16 (w offset to the block's first
 * output): a 64-byte load holds 32 weights, the low halves of its words are outputs
 * 32p .. 32p + 15 (shifted up 16 bits), the high halves outputs 32p + 16 .. 32p + 31 (the low
 * bits masked off); an odd last vector is 16 plain halves. Same order of sums. */
KEEL_AVX512 static INLINE void gemv_block_bf16(const int nv, size_t n, size_t k, const float *x,
                                               const uint16_t *w, const float *b, float *y,
                                               float *relu, int32_t *idx)
{
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    __m512 acc[16];
    block_start(nv, b, acc);
    for (size_t i0 = 0; i0 < k; i0 += GEMV_KC) {
        size_t nnz = nonzero_rows(x + i0, KEEL_MIN((size_t)GEMV_KC, k - i0), idx);
        for (size_t t = 0; t < nnz; t++) {
            if (t + PREFETCH_OUT_ROWS == nnz && i0 + GEMV_KC >= k) block_want_out(nv, y, relu);
            size_t i = i0 + (size_t)idx[t];
            __m512 xv = _mm512_set1_ps(x[i]);
            const uint16_t *row = w + i * n;
#pragma GCC unroll 8
            for (int p = 0; p < nv / 2; p++) {
                __m512i two = _mm512_loadu_si512((const void *)(row + 32 * p));
                acc[2 * p] = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_slli_epi32(two, 16)),
                                             acc[2 * p]);
                acc[2 * p + 1] = _mm512_fmadd_ps(
                    xv, _mm512_castsi512_ps(_mm512_and_si512(two, high)), acc[2 * p + 1]);
            }
            if (nv & 1) {
                __m256i one = _mm256_loadu_si256((const __m256i *)(row + 32 * (nv / 2)));
                __m512 wv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(one), 16));
                acc[nv - 1] = _mm512_fmadd_ps(xv, wv, acc[nv - 1]);
            }
        }
    }
    block_store(nv, acc, y, relu);
}

KEEL_AVX512 void keel_k_gemv_bf16_avx512(size_t n, size_t k, const float *x, const uint16_t *w,
                                         const float *b, float *y, float *relu)
{
    int32_t idx[GEMV_KC + 16];
    for (size_t j0 = 0; j0 < n; j0 += 256) { /* the blocks of keel_k_gemv_avx512 */
        size_t nb = KEEL_MIN((size_t)256, n - j0);
        float *yb = y + j0, *rb = relu ? relu + j0 : NULL;
        const float *bb = b ? b + j0 : NULL;
        switch (nb / 16) { /* n is a multiple of 16 */
            /* clang-format off */
#define BF16_WHOLE(nv) case nv: gemv_block_bf16(nv, n, k, x, w + j0, bb, yb, rb, idx); break;
            GEMV_WIDTHS(BF16_WHOLE)
#undef BF16_WHOLE
            /* clang-format on */
        default:
            break;
        }
    }
}

/* One output: a dot product in four chains, summed as a tree. (gemv_packed's serial sum of
 * its lanes was most of a 256-input output layer's 40 ns.) */
KEEL_AVX512 static void gemv_dot(size_t k, const float *x, const float *w, const float *b, float *y,
                                 float *relu)
{
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= k; i += 64)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16 * c),
                                     _mm512_loadu_ps(w + i + 16 * c), acc[c]);
    for (int c = 0; i < k; i += 16, c++) {
        __mmask16 m = tail(k - i);
        acc[c] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, w + i),
                                 acc[c]);
    }
    float v = _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    if (b) v += b[0];
    y[0] = v;
    if (relu) relu[0] = v > 0.0f ? v : 0.0f;
}

KEEL_AVX512 void keel_k_gemv_avx512(size_t n, size_t k, const float *x, const float *w,
                                    const float *b, float *y, float *relu)
{
    if (n == 0) return;
    switch (n) { /* constant n: the accumulators live in registers */
    case 1:
        gemv_dot(k, x, w, b, y, relu);
        return;
    case 2:
        gemv_packed(2, k, x, w, b, y, relu);
        return;
    case 4:
        gemv_packed(4, k, x, w, b, y, relu);
        return;
    case 8:
        gemv_packed(8, k, x, w, b, y, relu);
        return;
    default:
        break;
    }
    if (n <= 64) {
        gemv_small(n, k, x, w, b, y, relu);
        return;
    }
    int32_t idx[GEMV_KC + 16];
    /* 256 outputs at a time in 16 registers; the row indices are recomputed per block,
     * which costs k/16 vector compares against the block's 16 * nnz loads. */
    for (size_t j0 = 0; j0 < n; j0 += 256) {
        size_t nb = KEEL_MIN((size_t)256, n - j0);
        float *yb = y + j0, *rb = relu ? relu + j0 : NULL;
        const float *bb = b ? b + j0 : NULL;
        switch (nb % 16 ? 0 : nb / 16) { /* whole vectors: no masks, a constant count */
            /* clang-format off */
#define FP32_WHOLE(nv) case nv: gemv_block(nv, n, k, x, w + j0, bb, yb, rb, idx); break;
            GEMV_WIDTHS(FP32_WHOLE)
#undef FP32_WHOLE
            /* clang-format on */
        default:
            gemv_block_masked(nb, n, k, x, w + j0, bb, yb, rb, idx);
            break;
        }
    }
}

KEEL_AVX512 void keel_k_gemv_blocks_avx512(const float *x, const keel_k_blockpack *p,
                                           const float *b, float *y)
{
    /* Eight blocks side by side: eight chains in flight (one block's chain alone waits on
     * each add: four cycles, and two units take one each cycle), and per block and row only
     * a load of its input index, a broadcast, a load of its weights and the multiply-add.
     * Each block sums its rows in order. */
    const keel_k_block *bk = p->blocks;
    const uint32_t *xi = p->xi;
    const float *w = p->w;
    for (size_t g = 0; g < p->n_groups; g++, bk += KEEL_K_BLOCK_GROUP) {
        __mmask16 mk[KEEL_K_BLOCK_GROUP];
        __m512 acc[KEEL_K_BLOCK_GROUP];
#pragma GCC unroll 8
        for (int u = 0; u < KEEL_K_BLOCK_GROUP; u++) {
            mk[u] = tail(bk[u].n_cols);
            acc[u] = b ? _mm512_maskz_loadu_ps(mk[u], b + bk[u].col) : _mm512_setzero_ps();
        }
        for (uint32_t r = 0; r < p->rows[g]; r++) {
#pragma GCC unroll 8
            for (int u = 0; u < KEEL_K_BLOCK_GROUP; u++)
                acc[u] =
                    _mm512_fmadd_ps(_mm512_set1_ps(x[xi[u]]), _mm512_load_ps(w + 16 * u), acc[u]);
            xi += KEEL_K_BLOCK_GROUP;
            w += 16 * KEEL_K_BLOCK_GROUP;
        }
#pragma GCC unroll 8
        for (int u = 0; u < KEEL_K_BLOCK_GROUP; u++)
            if (mk[u]) _mm512_mask_storeu_ps(y + bk[u].col, mk[u], acc[u]);
    }
}

/* ---- SiLU ---- */

/* 16 floats through silu_ref's steps, the same IEEE operations in the same order. */
KEEL_AVX512 static INLINE __m512 silu16(__m512 z)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 a = _mm512_abs_ps(z);
    __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(SILU_BIG), _CMP_LE_OQ);
    __m512 am = _mm512_maskz_mov_ps(small, a); /* big lanes: any finite value, replaced below */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(am, _mm512_set1_ps(-SILU_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 ma = _mm512_sub_ps(zero, am);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-SILU_LN2_HI), ma);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-SILU_LN2_LO), r);
    __m512 p = _mm512_set1_ps(silu_taylor[7]);
#pragma GCC unroll 7
    for (int i = 6; i >= 0; i--)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(silu_taylor[i]));
    __m512 t = _mm512_scalef_ps(p, n);
    __mmask16 pos = _mm512_cmp_ps_mask(z, zero, _CMP_GE_OQ);
    __m512 num = _mm512_mask_mov_ps(p, pos, one);
    __m512 y = _mm512_mul_ps(z, _mm512_div_ps(num, _mm512_add_ps(one, t)));
    y = _mm512_mask_scalef_ps(y, (__mmask16)~pos, y, n);
    /* huge, ±inf and NaN lanes: z when z > 0, -0 when z < 0, z itself (NaN) otherwise */
    __mmask16 lt = _mm512_cmp_ps_mask(z, zero, _CMP_LT_OQ);
    __m512 big = _mm512_mask_mov_ps(z, lt, _mm512_set1_ps(-0.0f));
    return _mm512_mask_mov_ps(big, small, y);
}

KEEL_AVX512 void keel_k_silu_avx512(size_t n, const float *x, float *y)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, silu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 k = tail(n - i);
        _mm512_mask_storeu_ps(y + i, k, silu16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}

/* ---- narrow outputs (n <= 16) ---- */

/* Rows of w transposed into the stack tile at a time: 16 x 256 floats = 16 KiB. */
#define NARROW_KC 256

/* wt[j * NARROW_KC + i] = w[(i0 + i) * n + j] for i < kc, zero up to the next multiple of 16
 * (the padding meets masked-off, zeroed x lanes, so it must be finite). */
static void transpose_chunk(size_t n, size_t i0, size_t kc, const float *w, float *wt)
{
    size_t pad = (kc + 15) & ~(size_t)15;
    for (size_t j = 0; j < n; j++) {
        float *dst = wt + j * NARROW_KC;
        const float *src = w + i0 * n + j;
        for (size_t i = 0; i < kc; i++)
            dst[i] = src[i * n];
        for (size_t i = kc; i < pad; i++)
            dst[i] = 0.0f;
    }
}

/* R rows of y[.., 0..N) += dot products over one chunk of k: R * N <= 16 accumulators, and
 * where N allows at least 8 of them, so that the FMA latency is hidden. */
KEEL_AVX512 static INLINE void narrow_fwd_block(const int N, const int R, size_t k, size_t kc,
                                                const float *x, const float *wt, float *y,
                                                const float *init)
{
    __m512 acc[8][16];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int j = 0; j < N; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (size_t i = 0; i < kc; i += 16) {
        __mmask16 lm = tail(kc - i);
        __m512 xv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            xv[r] = _mm512_maskz_loadu_ps(lm, x + (size_t)r * k + i);
#pragma GCC unroll 16
        for (int j = 0; j < N; j++) {
            __m512 wv = _mm512_load_ps(wt + (size_t)j * NARROW_KC + i);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[r][j] = _mm512_fmadd_ps(xv[r], wv, acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int j = 0; j < N; j++) {
            float base = init ? init[j] : y[(size_t)r * (size_t)N + (size_t)j];
            y[(size_t)r * (size_t)N + (size_t)j] = base + _mm512_reduce_add_ps(acc[r][j]);
        }
}

KEEL_AVX512 static INLINE void narrow_fwd_n(const int N, const int R, size_t m, size_t k, size_t i0,
                                            size_t kc, const float *x, const float *wt,
                                            const float *b, float *y)
{
    /* The first chunk starts from the bias (or zero); later ones add to y. */
    static const float zeros[KEEL_K_NARROW];
    const float *init = i0 == 0 ? (b ? b : zeros) : NULL;
    size_t r = 0;
    for (; r + (size_t)R <= m; r += (size_t)R)
        narrow_fwd_block(N, R, k, kc, x + r * k + i0, wt, y + r * (size_t)N, init);
    for (; r < m; r++)
        narrow_fwd_block(N, 1, k, kc, x + r * k + i0, wt, y + r * (size_t)N, init);
}

#define NARROW_CASES(X)                                                                            \
    X(1, 8)                                                                                        \
    X(2, 4)                                                                                        \
    X(3, 4)                                                                                        \
    X(4, 4)                                                                                        \
    X(5, 3)                                                                                        \
    X(6, 2) X(7, 2) X(8, 2) X(9, 1) X(10, 1) X(11, 1) X(12, 1) X(13, 1) X(14, 1) X(15, 1) X(16, 1)

KEEL_AVX512 void keel_k_narrow_fwd_avx512(size_t m, size_t n, size_t k, const float *x,
                                          const float *w, const float *b, float *y)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (size_t r = 0; r < m; r++)
            for (size_t j = 0; j < n; j++)
                y[r * n + j] = b ? b[j] : 0.0f;
        return;
    }
    _Alignas(64) float wt[KEEL_K_NARROW * NARROW_KC];
    for (size_t i0 = 0; i0 < k; i0 += NARROW_KC) {
        size_t kc = KEEL_MIN((size_t)NARROW_KC, k - i0);
        transpose_chunk(n, i0, kc, w, wt);
        switch (n) {
#define X(N, R)                                                                                    \
    case N:                                                                                        \
        narrow_fwd_n(N, R, m, k, i0, kc, x, wt, b, y);                                             \
        break;
            NARROW_CASES(X)
#undef X
        default:
            break;
        }
    }
}

/* dw for 16 * B consecutive rows of w (columns of x) at a time: N * B accumulators. */
KEEL_AVX512 static INLINE void narrow_dw_n(const int N, const int B, size_t m, size_t k,
                                           const float *x, const float *dy, float *dw, bool acc)
{
    _Alignas(64) float tile[256];
    for (size_t i0 = 0; i0 < k; i0 += 16 * (size_t)B) {
        size_t cols = KEEL_MIN((size_t)(16 * B), k - i0);
        __mmask16 lm[16];
        __m512 a[16][16];
#pragma GCC unroll 16
        for (int bb = 0; bb < B; bb++) {
            lm[bb] = (size_t)bb * 16 < cols ? tail(cols - (size_t)bb * 16) : 0;
#pragma GCC unroll 16
            for (int j = 0; j < N; j++)
                a[j][bb] = _mm512_setzero_ps();
        }
        for (size_t r = 0; r < m; r++) {
            __m512 xv[16];
#pragma GCC unroll 16
            for (int bb = 0; bb < B; bb++)
                xv[bb] = _mm512_maskz_loadu_ps(lm[bb], x + r * k + i0 + 16 * (size_t)bb);
#pragma GCC unroll 16
            for (int j = 0; j < N; j++) {
                __m512 d = _mm512_set1_ps(dy[r * (size_t)N + (size_t)j]);
#pragma GCC unroll 16
                for (int bb = 0; bb < B; bb++)
                    a[j][bb] = _mm512_fmadd_ps(d, xv[bb], a[j][bb]);
            }
        }
#pragma GCC unroll 16
        for (int j = 0; j < N; j++)
#pragma GCC unroll 16
            for (int bb = 0; bb < B; bb++)
                _mm512_store_ps(tile + (size_t)(j * B + bb) * 16, a[j][bb]);
        for (size_t i = 0; i < cols; i++)
            for (int j = 0; j < N; j++) {
                float v = tile[(size_t)j * (size_t)B * 16 + i];
                float *d = dw + (i0 + i) * (size_t)N + (size_t)j;
                *d = acc ? *d + v : v;
            }
    }
}

#define NARROW_DW_CASES(X)                                                                         \
    X(1, 16)                                                                                       \
    X(2, 8)                                                                                        \
    X(3, 5)                                                                                        \
    X(4, 4)                                                                                        \
    X(5, 3)                                                                                        \
    X(6, 2) X(7, 2) X(8, 2) X(9, 1) X(10, 1) X(11, 1) X(12, 1) X(13, 1) X(14, 1) X(15, 1) X(16, 1)

KEEL_AVX512 void keel_k_narrow_dw_avx512(size_t m, size_t n, size_t k, const float *x,
                                         const float *dy, float *dw, bool acc)
{
    if (n == 0 || k == 0) return;
    switch (n) {
#define X(N, B)                                                                                    \
    case N:                                                                                        \
        narrow_dw_n(N, B, m, k, x, dy, dw, acc);                                                   \
        break;
        NARROW_DW_CASES(X)
#undef X
    default:
        break;
    }
}

KEEL_AVX512 static INLINE void narrow_dx_n(const int N, size_t m, size_t k, size_t i0, size_t kc,
                                           const float *dy, const float *wt, float *dx, bool acc)
{
    for (size_t r = 0; r < m; r++) {
        __m512 d[16];
#pragma GCC unroll 16
        for (int j = 0; j < N; j++)
            d[j] = _mm512_set1_ps(dy[r * (size_t)N + (size_t)j]);
        float *out = dx + r * k + i0;
        for (size_t i = 0; i < kc; i += 16) {
            __mmask16 lm = tail(kc - i);
            __m512 v = acc ? _mm512_maskz_loadu_ps(lm, out + i) : _mm512_setzero_ps();
#pragma GCC unroll 16
            for (int j = 0; j < N; j++)
                v = _mm512_fmadd_ps(d[j], _mm512_load_ps(wt + (size_t)j * NARROW_KC + i), v);
            _mm512_mask_storeu_ps(out + i, lm, v);
        }
    }
}

KEEL_AVX512 void keel_k_narrow_dx_avx512(size_t m, size_t n, size_t k, const float *dy,
                                         const float *w, float *dx, bool acc)
{
    if (m == 0 || k == 0) return;
    if (n == 0) {
        if (!acc) memset(dx, 0, m * k * sizeof *dx);
        return;
    }
    _Alignas(64) float wt[KEEL_K_NARROW * NARROW_KC];
    for (size_t i0 = 0; i0 < k; i0 += NARROW_KC) {
        size_t kc = KEEL_MIN((size_t)NARROW_KC, k - i0);
        transpose_chunk(n, i0, kc, w, wt);
        switch (n) {
#define X(N, R)                                                                                    \
    case N:                                                                                        \
        narrow_dx_n(N, m, k, i0, kc, dy, wt, dx, acc);                                             \
        break;
            NARROW_CASES(X)
#undef X
        default:
            break;
        }
    }
}

#else /* !KEEL_HAVE_AVX512: never called (keel_k_cpu_avx512() is false); plain C stand-ins. */

void keel_k_bias_avx512(size_t m, size_t n, const float *b, float *y, float *relu)
{
    keel_k_bias_c(m, n, b, y, relu);
}
void keel_k_relu_avx512(size_t n, const float *x, float *y)
{
    keel_k_relu_c(n, x, y);
}
void keel_k_relu_bwd_avx512(size_t n, const float *y, const float *dy, float *dx, bool acc)
{
    keel_k_relu_bwd_c(n, y, dy, dx, acc);
}
void keel_k_colsum_avx512(size_t m, size_t n, const float *dy, float *db, bool acc)
{
    keel_k_colsum_c(m, n, dy, db, acc);
}
void keel_k_add_avx512(size_t n, const float *a, const float *b, float *y)
{
    keel_k_add_c(n, a, b, y);
}
void keel_k_accum_avx512(size_t n, const float *src, float *dst, bool acc)
{
    keel_k_accum_c(n, src, dst, acc);
}
void keel_k_gemv_avx512(size_t n, size_t k, const float *x, const float *w, const float *b,
                        float *y, float *relu)
{
    keel_gemm(false, false, 1, n, k, 1.0f, x, k, w, n, 0.0f, y, n);
    keel_k_bias_c(1, n, b, y, relu);
}
void keel_k_gemv_bf16_avx512(size_t n, size_t k, const float *x, const uint16_t *w, const float *b,
                             float *y, float *relu)
{
    (void)n, (void)k, (void)x, (void)w, (void)b, (void)y, (void)relu;
}
void keel_k_gemv_blocks_avx512(const float *x, const keel_k_blockpack *p, const float *b, float *y)
{
    (void)x, (void)p, (void)b, (void)y;
}
void keel_k_silu_avx512(size_t n, const float *x, float *y)
{
    keel_k_silu_c(n, x, y);
}
void keel_k_narrow_fwd_avx512(size_t m, size_t n, size_t k, const float *x, const float *w,
                              const float *b, float *y)
{
    keel_gemm(false, false, m, n, k, 1.0f, x, k, w, n, 0.0f, y, n);
    keel_k_bias_c(m, n, b, y, NULL);
}
void keel_k_narrow_dw_avx512(size_t m, size_t n, size_t k, const float *x, const float *dy,
                             float *dw, bool acc)
{
    keel_gemm(true, false, k, n, m, 1.0f, x, k, dy, n, acc ? 1.0f : 0.0f, dw, n);
}
void keel_k_narrow_dx_avx512(size_t m, size_t n, size_t k, const float *dy, const float *w,
                             float *dx, bool acc)
{
    keel_gemm(false, true, m, k, n, 1.0f, dy, n, w, n, acc ? 1.0f : 0.0f, dx, k);
}

#endif

/* ---- dispatch ------------------------------------------------------------------------ */

void keel_k_bias(size_t m, size_t n, const float *b, float *y, float *relu)
{
    if (keel_tensor_simd())
        keel_k_bias_avx512(m, n, b, y, relu);
    else
        keel_k_bias_c(m, n, b, y, relu);
}

/* An exponent of all ones is an infinity or a NaN. */
static bool all_finite_c(size_t n, const float *x)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

#if KEEL_HAVE_AVX512
KEEL_AVX512 static bool all_finite_avx512(size_t n, const float *x)
{
    const __m512i exp = _mm512_set1_epi32(0x7f800000);
    __mmask16 bad = 0;
    for (size_t i = 0; i < n; i += 16) {
        __m512i v = _mm512_maskz_loadu_epi32(tail(n - i), x + i);
        bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(v, exp), exp);
    }
    return !bad;
}
#endif

bool keel_k_all_finite(size_t n, const float *x)
{
#if KEEL_HAVE_AVX512
    if (keel_tensor_simd()) return all_finite_avx512(n, x);
#endif
    return all_finite_c(n, x);
}

void keel_k_relu(size_t n, const float *x, float *y)
{
    if (keel_tensor_simd())
        keel_k_relu_avx512(n, x, y);
    else
        keel_k_relu_c(n, x, y);
}

void keel_k_relu_bwd(size_t n, const float *y, const float *dy, float *dx, bool acc)
{
    if (keel_tensor_simd())
        keel_k_relu_bwd_avx512(n, y, dy, dx, acc);
    else
        keel_k_relu_bwd_c(n, y, dy, dx, acc);
}

void keel_k_colsum(size_t m, size_t n, const float *dy, float *db, bool acc)
{
    if (keel_tensor_simd())
        keel_k_colsum_avx512(m, n, dy, db, acc);
    else
        keel_k_colsum_c(m, n, dy, db, acc);
}

void keel_k_add(size_t n, const float *a, const float *b, float *y)
{
    if (keel_tensor_simd())
        keel_k_add_avx512(n, a, b, y);
    else
        keel_k_add_c(n, a, b, y);
}

void keel_k_accum(size_t n, const float *src, float *dst, bool acc)
{
    if (keel_tensor_simd())
        keel_k_accum_avx512(n, src, dst, acc);
    else
        keel_k_accum_c(n, src, dst, acc);
}

void keel_k_silu(size_t n, const float *x, float *y)
{
    if (keel_tensor_simd())
        keel_k_silu_avx512(n, x, y);
    else
        keel_k_silu_c(n, x, y);
}
