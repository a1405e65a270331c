/*
 * optim.c — AdamW over one flat parameter buffer, and the learning-rate schedule.
 *
 * Design. The update is one pass over params, grad and the two moments: seven floats of
 * memory traffic per parameter and a square root and a division, so it is memory-bound for
 * large models and division-bound for small ones. The plain loop is kept beside an AVX-512
 * version with the same operations in the same order (no FMA contraction in either: the
 * build is ISO C, where GCC does not contract), so the two give identical results and tests
 * can compare them exactly. The scalars follow PyTorch's Adam/AdamW (step size
 * lr / (1 - β1^t) and sqrt(1 - β2^t) computed in double, decay applied to p first), which
 * is what makes "wd = 0 is torch.optim.Adam" hold to float rounding. One deliberate
 * difference: sqrt(v) is multiplied by 1 / sqrt(1 - β2^t) where PyTorch divides (at most an
 * ulp apart), because the vector division is as slow as the square root and two of them
 * made the update a tenth of a small model's training step.
 *
 * For models of a million parameters and more the update takes milliseconds, comparable to
 * the GEMMs, so it is split across keel_tensor_threads() threads of the OpenMP team that
 * oneDNN uses (see GOMP_parallel below).
 */
#include "train/optim.h"

#include "tensor/tensor.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX512 1
#include <immintrin.h>
#else
#define HAVE_AVX512 0
#endif

/* Below this many parameters the update runs on the calling thread only. */
#ifndef PARALLEL_MIN
#define PARALLEL_MIN ((size_t)1 << 20)
#endif

int keel_adamw_init(keel_adamw *o, size_t n)
{
    memset(o, 0, sizeof *o);
    float *m = keel_calloc(n ? n : 1, sizeof(float));
    float *v = keel_calloc(n ? n : 1, sizeof(float));
    if (!m || !v) {
        keel_free(m);
        keel_free(v);
        return KEEL_ENOMEM;
    }
    o->n = n;
    o->m = m;
    o->v = v;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    return KEEL_OK;
}

void keel_adamw_free(keel_adamw *o)
{
    if (!o) return;
    keel_free(o->m);
    keel_free(o->v);
    memset(o, 0, sizeof *o);
}

/* The per-step constants. */
typedef struct adam_k {
    float b1, omb1, b2, omb2, step_size, inv_bc2_sqrt, eps, decay;
} adam_k;

/* One slice [lo, hi) of the update. */
typedef struct adam_job {
    const adam_k *k;
    float *p, *m, *v;
    const float *g;
    const uint8_t *mask;
    size_t lo, hi;
} adam_job;

static void update_c(const adam_job *j)
{
    const adam_k *k = j->k;
    for (size_t i = j->lo; i < j->hi; i++) {
        float g = j->g[i];
        float m = j->m[i] * k->b1 + g * k->omb1;
        float v = j->v[i] * k->b2 + (k->omb2 * g) * g; /* addcmul's order */
        float denom = sqrtf(v) * k->inv_bc2_sqrt + k->eps;
        float p = j->p[i];
        if (!j->mask || j->mask[i]) p = p * k->decay;
        j->m[i] = m;
        j->v[i] = v;
        j->p[i] = p + (-k->step_size * m) / denom;
    }
}

#if HAVE_AVX512
__attribute__((target("avx512f,avx2,fma"))) static void update_avx512(const adam_job *j)
{
    const adam_k *k = j->k;
    const __m512 b1 = _mm512_set1_ps(k->b1), omb1 = _mm512_set1_ps(k->omb1);
    const __m512 b2 = _mm512_set1_ps(k->b2), omb2 = _mm512_set1_ps(k->omb2);
    const __m512 nss = _mm512_set1_ps(-k->step_size), ibc2 = _mm512_set1_ps(k->inv_bc2_sqrt);
    const __m512 eps = _mm512_set1_ps(k->eps), decay = _mm512_set1_ps(k->decay);
    for (size_t i = j->lo; i < j->hi; i += 16) {
        size_t left = j->hi - i;
        __mmask16 lm = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 g = _mm512_maskz_loadu_ps(lm, j->g + i);
        __m512 m = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lm, j->m + i), b1),
                                 _mm512_mul_ps(g, omb1));
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lm, j->v + i), b2),
                                 _mm512_mul_ps(_mm512_mul_ps(omb2, g), g));
        __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(v), ibc2), eps);
        __m512 p = _mm512_maskz_loadu_ps(lm, j->p + i);
        __mmask16 dm = lm;
        if (j->mask) {
            __m128i bytes;
            if (left >= 16) {
                bytes = _mm_loadu_si128((const __m128i *)(const void *)(j->mask + i));
            } else { /* AVX-512F has no masked byte load: copy the tail */
                uint8_t tmp[16] = {0};
                memcpy(tmp, j->mask + i, left);
                bytes = _mm_loadu_si128((const __m128i *)(const void *)tmp);
            }
            dm = _mm512_mask_test_epi32_mask(lm, _mm512_cvtepu8_epi32(bytes),
                                             _mm512_set1_epi32(0xFF));
        }
        p = _mm512_mask_mul_ps(p, dm, p, decay);
        p = _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(nss, m), denom));
        _mm512_mask_storeu_ps(j->m + i, lm, m);
        _mm512_mask_storeu_ps(j->v + i, lm, v);
        _mm512_mask_storeu_ps(j->p + i, lm, p);
    }
}
#endif

static void run_job(const adam_job *j)
{
#if HAVE_AVX512
    if (keel_tensor_simd()) {
        update_avx512(j);
        return;
    }
#endif
    update_c(j);
}

/* libgomp's entry for a parallel region: what GCC emits for `#pragma omp parallel`. The
 * build does not compile with -fopenmp, so the region is opened by hand; it runs fn on a team
 * of num_threads threads (the caller is thread 0) and returns when all are done. Using
 * OpenMP's own team matters: oneDNN's worker threads spin for a while after each GEMM, and a
 * separately created thread would compete with them for the cores. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

typedef struct adam_par {
    adam_job base;
} adam_par;

static void par_body(void *arg)
{
    const adam_par *pp = arg;
    adam_job j = pp->base;
    size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    /* slices rounded to 16 floats so that each starts on a vector boundary */
    size_t per = ((j.hi / nt) + 15) & ~(size_t)15;
    j.lo = KEEL_MIN(j.hi, t * per);
    if (t + 1 < nt) j.hi = KEEL_MIN(j.hi, (t + 1) * per);
    run_job(&j);
}

/* A float hyper-parameter read as the decimal it was written as: 0.999f is 0.99900001287,
 * and 1 - 0.99900001287 differs from PyTorch's 1 - 0.999 in the fifth digit. Seven
 * significant digits identify a float's decimal spelling. */
static double as_decimal(float f)
{
    char s[32];
    snprintf(s, sizeof s, "%.7g", (double)f);
    return strtod(s, NULL);
}

void keel_adamw_step(keel_adamw *o, float *params, const float *grad, float lr)
{
    o->step++;
    double t = (double)o->step, b1 = as_decimal(o->beta1), b2 = as_decimal(o->beta2);
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    adam_k k = {
        .b1 = (float)b1,
        .omb1 = (float)(1.0 - b1),
        .b2 = (float)b2,
        .omb2 = (float)(1.0 - b2),
        .step_size = (float)((double)lr / bc1),
        .inv_bc2_sqrt = (float)(1.0 / sqrt(bc2)),
        .eps = o->eps,
        .decay = (float)(1.0 - (double)lr * as_decimal(o->weight_decay)),
    };
    adam_par par = {{&k, params, o->m, o->v, grad, o->decay, 0, o->n}};
    int nt = keel_tensor_threads();
    if (nt <= 1 || o->n < PARALLEL_MIN) {
        run_job(&par.base);
        return;
    }
    GOMP_parallel(par_body, &par, (unsigned)nt, 0);
}

float keel_lr_schedule(float base, uint64_t t, uint64_t warmup, uint64_t total, float floor_ratio)
{
    if (t < warmup) return (float)((double)base * (double)t / (double)warmup);
    if (total <= warmup) return base;
    if (t >= total) return base * floor_ratio;
    double progress = (double)(t - warmup) / (double)(total - warmup);
    double f = floor_ratio + (1.0 - floor_ratio) * 0.5 * (1.0 + cos(3.141592653589793 * progress));
    return (float)((double)base * f);
}
