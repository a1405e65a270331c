/* Tests of the tensor module: keel_gemm (oneDNN) and every custom kernel against the scalar
 * reference keel_gemm_ref, on odd sizes, all transpose combinations, alpha/beta, non-tight
 * leading dimensions and empty dimensions; the AVX-512 and plain-C variants both. */
#include "harness.h"

#include "tensor/kernels.h"
#include "tensor/tensor.h"

#include <stdlib.h>

static float *rand_floats(keel_rng *r, size_t n, double zero_frac)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        double u = keel_rng_uniform(r);
        p[i] = keel_rng_uniform(r) < zero_frac ? 0.0f : (float)(2.0 * u - 1.0);
    }
    return p;
}

/* Largest |a - b| relative to tol_scale; prints the first offender. */
static int close_all(const float *a, const float *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= tol * (1.0 + fabs((double)b[i])))) {
            fprintf(stderr, "    at %zu: %.9g vs %.9g\n", i, (double)a[i], (double)b[i]);
            return 0;
        }
    }
    return 1;
}

TEST(gemm_matches_reference_all_transposes_odd_sizes)
{
    keel_rng r;
    keel_rng_seed(&r, 1);
    static const size_t dims[] = {1, 3, 17, 64, 65};
    static const float alphas[] = {1.0f, -0.5f};
    static const float betas[] = {0.0f, 1.0f, 0.25f};
    int cases = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t im = 0; im < 5; im++)
                for (size_t in = 0; in < 5; in++)
                    for (size_t ik = 0; ik < 5; ik++) {
                        size_t m = dims[im], n = dims[in], k = dims[ik];
                        /* stored shapes and padded leading dimensions */
                        size_t ar = ta ? k : m, ac = ta ? m : k;
                        size_t br = tb ? n : k, bc = tb ? k : n;
                        size_t lda = ac + 3, ldb = bc + 1, ldc = n + 5;
                        float *a = rand_floats(&r, ar * lda, 0.0);
                        float *b = rand_floats(&r, br * ldb, 0.0);
                        float *c0 = rand_floats(&r, m * ldc, 0.0);
                        float *c1 = malloc(m * ldc * sizeof *c1);
                        float *c2 = malloc(m * ldc * sizeof *c2);
                        float alpha = alphas[(im + ik) % 2];
                        float beta = betas[(in + ik) % 3];
                        memcpy(c1, c0, m * ldc * sizeof *c1);
                        memcpy(c2, c0, m * ldc * sizeof *c2);
                        if (beta == 0.0f) /* C must not be read: NaN stays out */
                            for (size_t i = 0; i < m; i++)
                                c1[i * ldc] = NAN;
                        keel_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
                        keel_gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
                        int ok = 1;
                        for (size_t i = 0; i < m && ok; i++) {
                            ok = close_all(c1 + i * ldc, c2 + i * ldc, n, 2e-6 * (double)k + 1e-6);
                            /* the padding between rows is left alone */
                            for (size_t j = n; j < ldc && ok && i + 1 < m; j++)
                                ok = c1[i * ldc + j] == c0[i * ldc + j];
                        }
                        if (!ok)
                            harness_fail(__FILE__, __LINE__,
                                         "gemm ta=%d tb=%d m=%zu n=%zu k=%zu a=%g b=%g", ta, tb, m,
                                         n, k, (double)alpha, (double)beta);
                        cases++;
                        free(a);
                        free(b);
                        free(c0);
                        free(c1);
                        free(c2);
                    }
    CHECK_EQ_INT(cases, 500);
}

TEST(gemm_empty_dimensions)
{
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 1, 1, 1};
    float c[4] = {5, 6, 7, 8};
    keel_gemm(false, false, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2); /* nothing */
    keel_gemm(false, false, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    CHECK(c[0] == 5 && c[3] == 8);
    keel_gemm(false, false, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c, 2); /* k = 0: C = beta C */
    CHECK(c[0] == 2.5f && c[1] == 3.0f && c[2] == 3.5f && c[3] == 4.0f);
    c[1] = NAN;
    keel_gemm(true, true, 2, 2, 0, 1.0f, a, 1, b, 1, 0.0f, c, 2); /* beta 0: zeros, no NaN */
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 0);
    float r[4] = {1, 1, 1, 1};
    keel_gemm_ref(false, false, 2, 2, 0, 1.0f, a, 1, b, 2, 0.0f, r, 2);
    CHECK(r[0] == 0 && r[3] == 0);
}

TEST(gemm_threads_and_backend)
{
    CHECK_EQ_INT(keel_tensor_threads(), 1); /* the default */
    keel_tensor_set_threads(2);
    CHECK_EQ_INT(keel_tensor_threads(), 2);
    keel_rng r;
    keel_rng_seed(&r, 2);
    size_t m = 130, n = 70, k = 90;
    float *a = rand_floats(&r, m * k, 0), *b = rand_floats(&r, k * n, 0);
    float *c1 = calloc(m * n, sizeof(float)), *c2 = calloc(m * n, sizeof(float));
    keel_gemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, n);
    keel_gemm_ref(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c2, n);
    CHECK(close_all(c1, c2, m * n, 1e-4));
    keel_tensor_set_threads(0); /* clamps to 1 */
    CHECK_EQ_INT(keel_tensor_threads(), 1);
    const char *be = keel_tensor_backend();
    CHECK(strncmp(be, "oneDNN ", 7) == 0);
    CHECK(strstr(be, "sgemm") != NULL);
    CHECK(keel_tensor_backend() == be);
    free(a);
    free(b);
    free(c1);
    free(c2);
}

/* The sizes the elementwise kernels are tried on: empty, tails, whole vectors. */
static const size_t elem_sizes[] = {0, 1, 5, 15, 16, 17, 31, 33, 100, 256, 257, 1000};

TEST(elementwise_kernels_c_and_avx512)
{
    keel_rng r;
    keel_rng_seed(&r, 3);
    bool have = keel_k_cpu_avx512();
    for (size_t s = 0; s < KEEL_ARRAY_LEN(elem_sizes); s++) {
        size_t n = elem_sizes[s];
        float *x = rand_floats(&r, n + 1, 0.2), *x2 = rand_floats(&r, n + 1, 0);
        float *want = malloc((n + 1) * sizeof(float)), *got = malloc((n + 1) * sizeof(float));
        /* relu */
        for (size_t i = 0; i < n; i++)
            want[i] = x[i] > 0 ? x[i] : 0;
        keel_k_relu_c(n, x, got);
        CHECK(close_all(got, want, n, 0));
        if (have) {
            got[n] = 42;
            keel_k_relu_avx512(n, x, got);
            CHECK(close_all(got, want, n, 0));
            CHECK(got[n] == 42); /* no write past the end */
        }
        /* relu backward, overwrite and accumulate */
        for (int acc = 0; acc < 2; acc++) {
            for (size_t i = 0; i < n; i++)
                want[i] = (acc ? 0.5f : 0.0f) + (x[i] > 0 ? x2[i] : 0.0f);
            for (int v = 0; v < 1 + have; v++) {
                for (size_t i = 0; i <= n; i++)
                    got[i] = acc ? 0.5f : NAN;
                got[n] = 42;
                (v ? keel_k_relu_bwd_avx512 : keel_k_relu_bwd_c)(n, x, x2, got, acc);
                CHECK(close_all(got, want, n, 0));
                CHECK(got[n] == 42);
            }
        }
        /* add, accum */
        for (size_t i = 0; i < n; i++)
            want[i] = x[i] + x2[i];
        for (int v = 0; v < 1 + have; v++) {
            (v ? keel_k_add_avx512 : keel_k_add_c)(n, x, x2, got);
            CHECK(close_all(got, want, n, 0));
            memcpy(got, x, n * sizeof(float));
            (v ? keel_k_accum_avx512 : keel_k_accum_c)(n, x2, got, true);
            CHECK(close_all(got, want, n, 0));
            (v ? keel_k_accum_avx512 : keel_k_accum_c)(n, x2, got, false);
            CHECK(close_all(got, x2, n, 0));
        }
        free(x);
        free(x2);
        free(want);
        free(got);
    }
}

TEST(bias_and_colsum_kernels)
{
    keel_rng r;
    keel_rng_seed(&r, 4);
    bool have = keel_k_cpu_avx512();
    static const size_t ms[] = {0, 1, 3, 8}, ns[] = {1, 7, 16, 17, 255, 256, 257, 600};
    for (size_t im = 0; im < 4; im++)
        for (size_t in = 0; in < 8; in++) {
            size_t m = ms[im], n = ns[in];
            float *y0 = rand_floats(&r, m * n, 0), *b = rand_floats(&r, n, 0);
            float *want = malloc((m * n + 1) * sizeof(float)),
                  *wr = malloc((m * n + 1) * sizeof(float));
            float *y = malloc((m * n + 1) * sizeof(float)),
                  *rl = malloc((m * n + 1) * sizeof(float));
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                    want[i * n + j] = y0[i * n + j] + b[j];
                    wr[i * n + j] = want[i * n + j] > 0 ? want[i * n + j] : 0;
                }
            for (int v = 0; v < 1 + have; v++) {
                void (*f)(size_t, size_t, const float *, float *, float *) =
                    v ? keel_k_bias_avx512 : keel_k_bias_c;
                memcpy(y, y0, m * n * sizeof(float));
                f(m, n, b, y, NULL);
                CHECK(close_all(y, want, m * n, 0));
                memcpy(y, y0, m * n * sizeof(float));
                rl[m * n] = 42;
                f(m, n, b, y, rl);
                CHECK(close_all(y, want, m * n, 0));
                CHECK(close_all(rl, wr, m * n, 0));
                CHECK(rl[m * n] == 42);
                f(m, n, NULL, y, rl); /* relu only */
                CHECK(close_all(rl, wr, m * n, 0));
            }
            /* column sums against the reference (a ones-vector product) */
            float *ones = malloc((m + 1) * sizeof(float)), *cs = malloc(n * sizeof(float));
            float *csw = malloc(n * sizeof(float));
            for (size_t i = 0; i < m; i++)
                ones[i] = 1;
            for (int acc = 0; acc < 2; acc++) {
                for (size_t j = 0; j < n; j++)
                    csw[j] = acc ? 1.0f : 0.0f;
                keel_gemm_ref(true, false, 1, n, m, 1.0f, ones, 1, y0, n, 1.0f, csw, n);
                for (int v = 0; v < 1 + have; v++) {
                    for (size_t j = 0; j < n; j++)
                        cs[j] = acc ? 1.0f : NAN;
                    (v ? keel_k_colsum_avx512 : keel_k_colsum_c)(m, n, y0, cs, acc);
                    CHECK(close_all(cs, csw, n, 1e-5));
                }
            }
            free(ones);
            free(cs);
            free(csw);
            free(y0);
            free(b);
            free(want);
            free(wr);
            free(y);
            free(rl);
        }
}

TEST(all_finite_finds_every_nan_and_infinity)
{
    const float bad[] = {INFINITY, -INFINITY, NAN, -NAN};
    float x[41];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t i = 0; i <= 40; i++)
            x[i] = (float)i - 20.5f;
        x[5] = 3.4e38f;
        x[6] = -1e-45f;
        x[n] = NAN; /* just past the n checked: never looked at */
        CHECK(keel_k_all_finite(n, x));
        for (size_t at = 0; at < n; at++)
            for (size_t kind = 0; kind < KEEL_ARRAY_LEN(bad); kind++) {
                float keep = x[at];
                x[at] = bad[kind];
                if (keel_k_all_finite(n, x))
                    harness_fail(__FILE__, __LINE__, "n=%zu at=%zu kind=%zu", n, at, kind);
                x[at] = keep;
            }
    }
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

TEST(round_bf16_to_nearest_even)
{
    /* input bits -> rounded bits */
    static const uint32_t cases[][2] = {
        {0x3f800000u, 0x3f800000u}, /* 1: already bfloat16 */
        {0x3f807fffu, 0x3f800000u}, /* below half: down */
        {0x3f808000u, 0x3f800000u}, /* a tie, even below: down */
        {0x3f818000u, 0x3f820000u}, /* a tie, odd below: up */
        {0x3f808001u, 0x3f810000u}, /* above half: up */
        {0xbf808001u, 0xbf810000u}, /* the same for negatives */
        {0x3fffffffu, 0x40000000u}, /* carries into the exponent */
        {0x7f7fffffu, 0x7f7f0000u}, /* FLT_MAX would round to infinity: stays finite */
        {0xff7fffffu, 0xff7f0000u}, {0x7f800000u, 0x7f800000u}, /* infinity */
        {0x7fc00001u, 0x7fc00001u},                             /* NaN untouched */
        {0x00000001u, 0x00000000u},                             /* the smallest subnormal */
        {0x80000000u, 0x80000000u},                             /* -0 */
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        float v = from_bits(cases[i][0]);
        keel_k_round_bf16(1, &v);
        uint32_t got;
        memcpy(&got, &v, sizeof got);
        if (got != cases[i][1])
            harness_fail(__FILE__, __LINE__, "round_bf16(%08x) = %08x, want %08x",
                         (unsigned)cases[i][0], (unsigned)got, (unsigned)cases[i][1]);
    }
}

TEST(gemv_bf16_gives_the_bits_of_gemv)
{
    if (!keel_k_cpu_avx512()) return;
    keel_rng r;
    keel_rng_seed(&r, 15);
    static const size_t ns[] = {80, 96, 128, 144, 256, 272, 400, 512, 528};
    static const size_t ks[] = {1, 7, 100, 263, 2100};
    for (size_t in = 0; in < KEEL_ARRAY_LEN(ns); in++)
        for (size_t ik = 0; ik < KEEL_ARRAY_LEN(ks); ik++) {
            size_t n = ns[in], k = ks[ik];
            float *x = rand_floats(&r, k, 0.3), *w = rand_floats(&r, k * n, 0.05);
            float *b = rand_floats(&r, n, 0);
            for (size_t i = 0; i < k * n; i++) { /* to bfloat16 precision: the top 16 bits */
                uint32_t u;
                memcpy(&u, &w[i], 4);
                u &= 0xffff0000u;
                memcpy(&w[i], &u, 4);
            }
            uint16_t *packed = malloc(k * n * sizeof *packed);
            float *y = malloc((n + 1) * sizeof(float)), *rl = malloc((n + 1) * sizeof(float));
            float *y2 = malloc(n * sizeof(float)), *rl2 = malloc(n * sizeof(float));
            REQUIRE(x && w && b && packed && y && rl && y2 && rl2);
            REQUIRE(keel_k_pack_bf16(k, n, w, packed));
            const float *bias = (in + ik) % 2 ? b : NULL;
            keel_k_gemv_avx512(n, k, x, w, bias, y2, rl2);
            y[n] = rl[n] = 42;
            keel_k_gemv_bf16_avx512(n, k, x, packed, bias, y, rl);
            if (memcmp(y, y2, n * sizeof *y) || memcmp(rl, rl2, n * sizeof *rl))
                harness_fail(__FILE__, __LINE__, "gemv_bf16 n=%zu k=%zu differs", n, k);
            CHECK(y[n] == 42 && rl[n] == 42);
            /* one weight with a low bit set, or a width not a multiple of 16: no packing */
            w[k * n / 2] = nextafterf(w[k * n / 2] == 0 ? 1.0f : w[k * n / 2], 2.0f);
            CHECK(!keel_k_pack_bf16(k, n, w, packed));
            CHECK(!keel_k_pack_bf16(k * n / 8, 8, w, packed));
            free(x);
            free(w);
            free(b);
            free(packed);
            free(y);
            free(rl);
            free(y2);
            free(rl2);
        }
}

TEST(gemv_kernel_matches_reference)
{
    if (!keel_k_cpu_avx512()) return;
    keel_rng r;
    keel_rng_seed(&r, 5);
    static const size_t ns[] = {1,  2,   4,   5,   8,   16,  17,  48,  64, 65,
                                80, 100, 128, 192, 256, 257, 300, 600, 640};
    static const size_t ks[] = {0, 1, 7, 64, 100, 2100};
    for (size_t in = 0; in < KEEL_ARRAY_LEN(ns); in++)
        for (size_t ik = 0; ik < KEEL_ARRAY_LEN(ks); ik++)
            for (int zeros = 0; zeros < 2; zeros++) {
                size_t n = ns[in], k = ks[ik];
                float *x = rand_floats(&r, k, zeros ? 0.5 : 0.0);
                float *w = rand_floats(&r, k * n, 0), *b = rand_floats(&r, n, 0);
                float *y = malloc((n + 1) * sizeof(float)), *rl = malloc((n + 1) * sizeof(float));
                float *want = malloc(n * sizeof(float)), *wr = malloc(n * sizeof(float));
                bool with_b = (in + ik) % 2;
                for (size_t j = 0; j < n; j++)
                    want[j] = with_b ? b[j] : 0.0f;
                keel_gemm_ref(false, false, 1, n, k, 1.0f, x, k, w, n, 1.0f, want, n);
                for (size_t j = 0; j < n; j++)
                    wr[j] = want[j] > 0 ? want[j] : 0;
                y[n] = rl[n] = 42;
                keel_k_gemv_avx512(n, k, x, w, with_b ? b : NULL, y, rl);
                if (!close_all(y, want, n, 1e-6 * (double)k + 1e-6) ||
                    !close_all(rl, wr, n, 1e-6 * (double)k + 1e-6))
                    harness_fail(__FILE__, __LINE__, "gemv n=%zu k=%zu zeros=%d", n, k, zeros);
                CHECK(y[n] == 42 && rl[n] == 42);
                free(x);
                free(w);
                free(b);
                free(y);
                free(rl);
                free(want);
                free(wr);
            }
}

TEST(narrow_kernels_match_reference)
{
    if (!keel_k_cpu_avx512()) return;
    keel_rng r;
    keel_rng_seed(&r, 6);
    static const size_t ms[] = {1, 2, 3, 5, 9, 17};
    static const size_t ks[] = {0, 1, 15, 16, 17, 255, 256, 257, 600};
    for (size_t n = 1; n <= KEEL_K_NARROW; n++)
        for (size_t im = 0; im < KEEL_ARRAY_LEN(ms); im++)
            for (size_t ik = 0; ik < KEEL_ARRAY_LEN(ks); ik++) {
                size_t m = ms[im], k = ks[ik];
                double tol = 1e-6 * (double)(k + m) + 1e-6;
                float *x = rand_floats(&r, m * k, 0.1), *w = rand_floats(&r, k * n, 0);
                float *b = rand_floats(&r, n, 0), *dy = rand_floats(&r, m * n, 0);
                float *y = malloc((m * n + 1) * sizeof(float)),
                      *want = malloc((m * n + k * n + m * k + 1) * sizeof(float));
                /* forward */
                for (size_t i = 0; i < m; i++)
                    for (size_t j = 0; j < n; j++)
                        want[i * n + j] = b[j];
                keel_gemm_ref(false, false, m, n, k, 1.0f, x, k, w, n, 1.0f, want, n);
                y[m * n] = 42;
                keel_k_narrow_fwd_avx512(m, n, k, x, w, b, y);
                if (!close_all(y, want, m * n, tol))
                    harness_fail(__FILE__, __LINE__, "narrow fwd m=%zu n=%zu k=%zu", m, n, k);
                CHECK(y[m * n] == 42);
                /* dw and dx, overwrite and accumulate */
                float *got = malloc((k * n + m * k + 1) * sizeof(float));
                for (int acc = 0; acc < 2; acc++) {
                    for (size_t i = 0; i < k * n; i++)
                        want[i] = got[i] = acc ? 0.25f : 0.0f;
                    if (!acc)
                        for (size_t i = 0; i < k * n; i++)
                            got[i] = NAN;
                    keel_gemm_ref(true, false, k, n, m, 1.0f, x, k, dy, n, 1.0f, want, n);
                    keel_k_narrow_dw_avx512(m, n, k, x, dy, got, acc);
                    if (!close_all(got, want, k * n, tol))
                        harness_fail(__FILE__, __LINE__, "narrow dw m=%zu n=%zu k=%zu acc=%d", m, n,
                                     k, acc);
                    for (size_t i = 0; i < m * k; i++)
                        want[i] = got[i] = acc ? -0.5f : 0.0f;
                    if (!acc)
                        for (size_t i = 0; i < m * k; i++)
                            got[i] = NAN;
                    got[m * k] = 42;
                    keel_gemm_ref(false, true, m, k, n, 1.0f, dy, n, w, n, 1.0f, want, k);
                    keel_k_narrow_dx_avx512(m, n, k, dy, w, got, acc);
                    if (!close_all(got, want, m * k, tol))
                        harness_fail(__FILE__, __LINE__, "narrow dx m=%zu n=%zu k=%zu acc=%d", m, n,
                                     k, acc);
                    CHECK(got[m * k] == 42);
                }
                free(got);
                free(x);
                free(w);
                free(b);
                free(dy);
                free(y);
                free(want);
            }
}

/* The linear-layer entry points on the shapes that pick each path, SIMD on and off. */
TEST(linear_forward_backward_all_paths)
{
    keel_rng r;
    keel_rng_seed(&r, 7);
    static const size_t shapes[][3] = {{1, 256, 64}, {1, 2, 256}, {64, 2, 256}, {64, 256, 64},
                                       {7, 33, 19},  {1, 1, 1},   {3, 17, 0},   {0, 5, 5}};
    bool have = keel_k_cpu_avx512();
    for (int simd = 0; simd < 1 + have; simd++) {
        keel_tensor_set_simd(simd);
        CHECK(keel_tensor_simd() == (bool)simd);
        for (size_t s = 0; s < KEEL_ARRAY_LEN(shapes); s++) {
            size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            double tol = 1e-6 * (double)(k + m) + 1e-6;
            float *x = rand_floats(&r, m * k, 0.3), *w = rand_floats(&r, k * n, 0);
            float *b = rand_floats(&r, n, 0), *dy = rand_floats(&r, m * n, 0);
            size_t big = m * n + k * n + m * k + n + 1;
            float *y = calloc(big, sizeof(float)), *rl = calloc(big, sizeof(float));
            float *want = calloc(big, sizeof(float));
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    want[i * n + j] = b[j];
            keel_gemm_ref(false, false, m, n, k, 1.0f, x, k, w, n, 1.0f, want, n);
            keel_linear_forward(m, n, k, x, w, b, y, rl);
            CHECK(close_all(y, want, m * n, tol));
            for (size_t i = 0; i < m * n; i++)
                CHECK(rl[i] == (y[i] > 0 ? y[i] : 0));
            /* backward: dw, db, dx at once, accumulating onto 1 */
            float *dw = y, *db = y + k * n, *dx = db + n;
            for (size_t i = 0; i < big; i++)
                y[i] = want[i] = 1.0f;
            float *wdw = want, *wdb = want + k * n, *wdx = wdb + n;
            keel_gemm_ref(true, false, k, n, m, 1.0f, x, k, dy, n, 1.0f, wdw, n);
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++)
                    wdb[j] += dy[i * n + j];
            keel_gemm_ref(false, true, m, k, n, 1.0f, dy, n, w, n, 1.0f, wdx, k);
            keel_linear_backward(m, n, k, x, w, dy, dw, true, db, true, dx, true);
            CHECK(close_all(y, want, k * n + n + m * k, tol));
            /* overwrite mode, one output at a time */
            for (size_t i = 0; i < big; i++)
                y[i] = NAN;
            keel_linear_backward(m, n, k, x, w, dy, dw, false, NULL, false, NULL, false);
            keel_linear_backward(m, n, k, x, w, dy, NULL, false, db, false, NULL, false);
            keel_linear_backward(m, n, k, x, w, dy, NULL, false, NULL, false, dx, false);
            for (size_t i = 0; i < k * n + n + m * k; i++)
                want[i] -= 1.0f;
            CHECK(close_all(y, want, k * n + n + m * k, tol));
            free(x);
            free(w);
            free(b);
            free(dy);
            free(y);
            free(rl);
            free(want);
        }
    }
    keel_tensor_set_simd(true);
}
