/* Tests of the streaming sketches: HyperLogLog, KLL quantiles, space-saving top-k. */
#include "harness.h"

#include "data/sketch.h"

#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------------- */

static uint64_t num_hash(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return keel_mix64(b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Standard normal by Box-Muller. */
static double normal(keel_rng *r)
{
    double u1 = keel_rng_uniform(r), u2 = keel_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* Fraction of sorted[0..n) that is < x and <= x (binary searches). */
static void true_ranks(const double *sorted, size_t n, double x, double *lt, double *le)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    *lt = (double)lo / (double)n;
    hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    *le = (double)lo / (double)n;
}

/* Worst rank error of the sketch's quantiles for q = 0.01 .. 0.99 against sorted data: the
 * distance from q to the true rank interval [F(x-), F(x)] of the answer x. Also checks
 * keel_kll_rank at the true quantiles. */
static double kll_max_rank_error(const keel_kll *s, const double *sorted, size_t n)
{
    double worst = 0;
    for (int i = 1; i <= 99; i++) {
        double q = i / 100.0, lt, le;
        double x = keel_kll_quantile(s, q);
        true_ranks(sorted, n, x, &lt, &le);
        double err = q < lt ? lt - q : q > le ? q - le : 0.0;
        worst = err > worst ? err : worst;
        double tx = sorted[(size_t)(q * (double)n)];
        true_ranks(sorted, n, tx, &lt, &le);
        double r = keel_kll_rank(s, tx);
        err = r < lt ? lt - r : r > le ? r - le : 0.0;
        worst = err > worst ? err : worst;
    }
    return worst;
}

static double *sorted_copy(const double *v, size_t n)
{
    double *s = malloc(n * sizeof *s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return s;
}

/* Parses text into a fresh doc (caller frees); NULL on failure. */
static keel_json_doc *parse(const char *text)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    if (!d || keel_json_parse(d, text, strlen(text), &e) != KEEL_OK) {
        keel_json_doc_free(d);
        return NULL;
    }
    return d;
}

/* Writes s, reads it back; returns the copy (NULL on any failure). */
static keel_kll *kll_round_trip(const keel_kll *s)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_kll *out = NULL;
    keel_error e;
    if (keel_kll_write(s, &b) == KEEL_OK) {
        keel_json_doc *d = parse(b.data);
        if (d && keel_kll_read(keel_json_root(d), &out, &e) != KEEL_OK) out = NULL;
        keel_json_doc_free(d);
    }
    keel_buf_free(&b);
    return out;
}

static char *kll_json(const keel_kll *s)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_kll_write(s, &b) != KEEL_OK) {
        keel_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- HyperLogLog --------------------------------------------------------------------- */

/* Two of n values share a register with probability about n^2 / 2m, and that loss cannot be
 * seen, so for n = 100 a few in a hundred sets come out 3 or 4 low. Within 2 for nearly all,
 * never far off, and unbiased. */
TEST(sketch_hll_tiny_sets_are_near_exact)
{
    int total = 0, within1 = 0, within2 = 0;
    double bias = 0;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        keel_hll h;
        keel_hll_init(&h);
        for (int n = 1; n <= 100; n++) {
            char key[32];
            int len = snprintf(key, sizeof key, "value-%d", n);
            keel_hll_add(&h, keel_hash64(key, (size_t)len, seed));
            keel_hll_add(&h, keel_hash64(key, (size_t)len, seed)); /* duplicates */
            double err = keel_hll_estimate(&h) - n;
            total++;
            within1 += fabs(err) <= 1;
            within2 += fabs(err) <= 2;
            bias += err;
            if (n <= 10) CHECK_NEAR(err, 0, 0.5); /* up to 10: exact after rounding */
            CHECK_NEAR(err, 0, 5);
        }
    }
    CHECK(within2 >= total * 97 / 100);
    CHECK(within1 >= total * 85 / 100);
    CHECK_NEAR(bias / total, 0, 0.25);
    keel_hll h;
    keel_hll_init(&h);
    CHECK_EQ_INT(keel_hll_estimate(&h), 0);
}

TEST(sketch_hll_within_5_percent)
{
    const long sizes[] = {1000, 100000, 1000000};
    for (size_t t = 0; t < 3; t++) {
        keel_hll h;
        keel_hll_init(&h);
        for (long i = 0; i < sizes[t]; i++)
            keel_hll_add(&h, num_hash((double)i * 0.5));
        double est = keel_hll_estimate(&h);
        CHECK_NEAR(est / (double)sizes[t], 1.0, 0.05);
    }
    /* Strings, through keel_hash64, and every count in between stays unbiased. */
    keel_hll h;
    keel_hll_init(&h);
    double worst = 0;
    for (long i = 1; i <= 200000; i++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user%ld@example.com", i);
        keel_hll_add(&h, keel_hash64(key, (size_t)len, 0));
        if (i % 1000 == 0) {
            double err = fabs(keel_hll_estimate(&h) / (double)i - 1.0);
            worst = err > worst ? err : worst;
        }
    }
    CHECK(worst < 0.05);
}

TEST(sketch_hll_merge_equals_union)
{
    keel_hll a, b, u;
    keel_hll_init(&a);
    keel_hll_init(&b);
    keel_hll_init(&u);
    for (int i = 0; i < 60000; i++) {
        keel_hll_add(&a, num_hash(i));
        keel_hll_add(&u, num_hash(i));
    }
    for (int i = 30000; i < 100000; i++) {
        keel_hll_add(&b, num_hash(i));
        keel_hll_add(&u, num_hash(i));
    }
    keel_hll_merge(&a, &b);
    CHECK(memcmp(a.reg, u.reg, sizeof a.reg) == 0);
    CHECK_NEAR(keel_hll_estimate(&a), keel_hll_estimate(&u), 0);
    CHECK_NEAR(keel_hll_estimate(&a) / 100000.0, 1.0, 0.05);
}

TEST(sketch_hll_round_trip_and_malformed)
{
    keel_hll h, back;
    keel_hll_init(&h);
    for (int i = 0; i < 5000; i++)
        keel_hll_add(&h, num_hash(i));
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_hll_write(&h, &b) == KEEL_OK);
    CHECK(b.data[0] == '"' && b.data[b.len - 1] == '"');
    keel_json_doc *d = parse(b.data);
    REQUIRE(d != NULL);
    keel_error e;
    keel_hll_init(&back);
    CHECK_EQ_INT(keel_hll_read(&back, keel_json_root(d), &e), KEEL_OK);
    CHECK(memcmp(h.reg, back.reg, sizeof h.reg) == 0);
    keel_json_doc_free(d);

    /* A register above 53 (64 - 12 + 1): "//" decodes to 0xff bytes. */
    char *bad = strdup(b.data);
    bad[1] = '/';
    bad[2] = '/';
    const char *cases[] = {"42", "\"AAAA\"", "null", "{}", bad};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        d = parse(cases[i]);
        REQUIRE(d != NULL);
        e.msg[0] = '\0';
        keel_hll before = back;
        CHECK_EQ_INT(keel_hll_read(&back, keel_json_root(d), &e), KEEL_EFORMAT);
        CHECK(e.msg[0] != '\0');
        CHECK(memcmp(before.reg, back.reg, sizeof back.reg) == 0);
        keel_json_doc_free(d);
    }
    /* Corrupt base64 of the right length. */
    bad[1] = '*';
    d = parse(bad);
    REQUIRE(d != NULL);
    CHECK_EQ_INT(keel_hll_read(&back, keel_json_root(d), &e), KEEL_EFORMAT);
    keel_json_doc_free(d);
    free(bad);
    keel_buf_free(&b);
}

/* ---- KLL ----------------------------------------------------------------------------- */

TEST(sketch_kll_exact_below_k)
{
    keel_kll *s = keel_kll_new(200, 7);
    REQUIRE(s != NULL);
    CHECK(isnan(keel_kll_quantile(s, 0.5)));
    CHECK(isnan(keel_kll_min(s)));
    CHECK(isnan(keel_kll_max(s)));
    CHECK(isnan(keel_kll_rank(s, 1.0)));
    CHECK_EQ_INT(keel_kll_count(s), 0);
    keel_rng r;
    keel_rng_seed(&r, 3);
    const size_t n = 199;
    double v[199];
    for (size_t i = 0; i < n; i++) {
        v[i] = normal(&r) * 100;
        CHECK_EQ_INT(keel_kll_add(s, v[i]), KEEL_OK);
    }
    CHECK_EQ_INT(keel_kll_add(s, NAN), KEEL_OK); /* ignored */
    CHECK_EQ_INT(keel_kll_count(s), n);
    qsort(v, n, sizeof v[0], cmp_double);
    for (size_t i = 1; i <= n; i++) {
        double q = ((double)i - 0.5) / (double)n; /* the i-th smallest */
        CHECK_NEAR(keel_kll_quantile(s, q), v[i - 1], 0);
        CHECK_NEAR(keel_kll_rank(s, v[i - 1]), (double)i / (double)n, 1e-12);
    }
    CHECK_NEAR(keel_kll_quantile(s, 0), v[0], 0);
    CHECK_NEAR(keel_kll_quantile(s, 1), v[n - 1], 0);
    CHECK_NEAR(keel_kll_quantile(s, -3), v[0], 0);
    CHECK_NEAR(keel_kll_quantile(s, 7), v[n - 1], 0);
    CHECK(isnan(keel_kll_quantile(s, NAN)));
    CHECK_NEAR(keel_kll_min(s), v[0], 0);
    CHECK_NEAR(keel_kll_max(s), v[n - 1], 0);
    CHECK_NEAR(keel_kll_rank(s, v[0] - 1), 0, 0);
    CHECK_NEAR(keel_kll_rank(s, v[n - 1] + 1), 1, 0);
    keel_kll_free(s);
    keel_kll_free(NULL);

    /* Still exact at n = 2k (level 0 holds 2k), compacted just after. */
    s = keel_kll_new(200, 8);
    REQUIRE(s != NULL);
    for (int i = 0; i < 400; i++)
        keel_kll_add(s, (i * 7919) % 400);
    for (int i = 1; i <= 400; i++)
        CHECK_NEAR(keel_kll_quantile(s, (i - 0.5) / 400.0), i - 1, 0);
    keel_kll_add(s, 400);
    CHECK_EQ_INT(keel_kll_count(s), 401);
    CHECK_NEAR(keel_kll_quantile(s, 0.5), 200, 2);
    keel_kll_free(s);
}

TEST(sketch_kll_uniform_1e6_within_2_percent)
{
    const size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    keel_rng r;
    keel_rng_seed(&r, 11);
    keel_kll *s = keel_kll_new(200, 1);
    REQUIRE(s != NULL);
    for (size_t i = 0; i < n; i++) {
        v[i] = keel_rng_uniform(&r);
        CHECK_EQ_INT(keel_kll_add(s, v[i]), KEEL_OK);
    }
    double *sorted = sorted_copy(v, n);
    double err = kll_max_rank_error(s, sorted, n);
    CHECK(err <= 0.02);
    if (err > 0.01) printf("note: uniform max rank error %.4f\n", err);
    CHECK_NEAR(keel_kll_min(s), sorted[0], 0);
    CHECK_NEAR(keel_kll_max(s), sorted[n - 1], 0);
    CHECK_EQ_INT(keel_kll_count(s), n);
    keel_kll_free(s);
    free(sorted);
    free(v);
}

TEST(sketch_kll_skewed_and_duplicate_data_within_2_percent)
{
    const size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    keel_rng r;
    keel_rng_seed(&r, 12);
    for (int kind = 0; kind < 3; kind++) {
        keel_kll *s = keel_kll_new(200, (uint64_t)kind + 100);
        REQUIRE(s != NULL);
        for (size_t i = 0; i < n; i++) {
            if (kind == 0)
                v[i] = exp(3.0 * normal(&r)); /* heavily skewed lognormal */
            else if (kind == 1)
                v[i] = (double)(keel_rng_next(&r) % 50) - 10; /* few distinct, negatives */
            else
                v[i] = (double)(n - i) * 1e-3; /* descending */
            CHECK_EQ_INT(keel_kll_add(s, v[i]), KEEL_OK);
        }
        double *sorted = sorted_copy(v, n);
        double err = kll_max_rank_error(s, sorted, n);
        if (err > 0.02) printf("kind %d: max rank error %.4f\n", kind, err);
        CHECK(err <= 0.02);
        keel_kll_free(s);
        free(sorted);
    }
    free(v);
}

TEST(sketch_kll_merge_of_halves_and_chunks)
{
    const size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    keel_rng r;
    keel_rng_seed(&r, 13);
    for (size_t i = 0; i < n; i++)
        v[i] = exp(normal(&r)) + (i < n / 2 ? 0 : 2); /* halves differ */
    keel_kll *a = keel_kll_new(200, 1), *b = keel_kll_new(200, 2), *whole = keel_kll_new(200, 3);
    REQUIRE(a && b && whole);
    for (size_t i = 0; i < n; i++) {
        keel_kll_add(i < n / 2 ? a : b, v[i]);
        keel_kll_add(whole, v[i]);
    }
    CHECK_EQ_INT(keel_kll_merge(a, b), KEEL_OK);
    double *sorted = sorted_copy(v, n);
    double e_merged = kll_max_rank_error(a, sorted, n);
    double e_whole = kll_max_rank_error(whole, sorted, n);
    CHECK(e_merged <= 0.02);
    CHECK(e_whole <= 0.02);
    CHECK_EQ_INT(keel_kll_count(a), n);
    CHECK_NEAR(keel_kll_min(a), sorted[0], 0);
    CHECK_NEAR(keel_kll_max(a), sorted[n - 1], 0);

    /* 100 chunk sketches merged one by one, as profiles of chunks are. */
    keel_kll *all = keel_kll_new(200, 4);
    REQUIRE(all != NULL);
    for (size_t c = 0; c < 100; c++) {
        keel_kll *part = keel_kll_new(200, 1000 + c);
        REQUIRE(part != NULL);
        for (size_t i = c * (n / 100); i < (c + 1) * (n / 100); i++)
            keel_kll_add(part, v[i]);
        CHECK_EQ_INT(keel_kll_merge(all, part), KEEL_OK);
        keel_kll_free(part);
    }
    CHECK_EQ_INT(keel_kll_count(all), n);
    CHECK(kll_max_rank_error(all, sorted, n) <= 0.02);

    /* Merging into an empty sketch, with an empty sketch, and with itself. */
    keel_kll *empty = keel_kll_new(200, 5), *copy = keel_kll_new(200, 6);
    REQUIRE(empty && copy);
    CHECK_EQ_INT(keel_kll_merge(all, empty), KEEL_OK);
    CHECK_EQ_INT(keel_kll_count(all), n);
    CHECK_EQ_INT(keel_kll_merge(copy, all), KEEL_OK);
    CHECK_EQ_INT(keel_kll_count(copy), n);
    CHECK(kll_max_rank_error(copy, sorted, n) <= 0.02);
    CHECK_EQ_INT(keel_kll_merge(copy, copy), KEEL_OK);
    CHECK_EQ_INT(keel_kll_count(copy), 2 * n);
    CHECK(kll_max_rank_error(copy, sorted, n) <= 0.02);
    keel_kll_free(a);
    keel_kll_free(b);
    keel_kll_free(whole);
    keel_kll_free(all);
    keel_kll_free(empty);
    keel_kll_free(copy);
    free(sorted);
    free(v);
}

TEST(sketch_kll_small_sketches_merge_exactly)
{
    keel_kll *a = keel_kll_new(200, 1), *b = keel_kll_new(200, 2);
    REQUIRE(a && b);
    for (int i = 0; i < 100; i++) {
        keel_kll_add(a, i);
        keel_kll_add(b, 100 + i);
    }
    CHECK_EQ_INT(keel_kll_merge(a, b), KEEL_OK);
    for (int i = 1; i <= 200; i++)
        CHECK_NEAR(keel_kll_quantile(a, (i - 0.5) / 200.0), i - 1, 0);
    keel_kll_free(a);
    keel_kll_free(b);
}

TEST(sketch_kll_deterministic_for_a_seed)
{
    keel_kll *a = keel_kll_new(200, 42), *b = keel_kll_new(200, 42), *c = keel_kll_new(200, 43);
    REQUIRE(a && b && c);
    keel_rng r;
    keel_rng_seed(&r, 9);
    for (int i = 0; i < 300000; i++) {
        double x = normal(&r);
        keel_kll_add(a, x);
        keel_kll_add(b, x);
        keel_kll_add(c, x);
    }
    char *ja = kll_json(a), *jb = kll_json(b), *jc = kll_json(c);
    REQUIRE(ja && jb && jc);
    CHECK_STR(ja, jb);
    CHECK(strcmp(ja, jc) != 0); /* another seed flips other coins */
    for (int i = 1; i < 100; i++)
        CHECK_NEAR(keel_kll_quantile(a, i / 100.0), keel_kll_quantile(b, i / 100.0), 0);
    keel_free(ja);
    keel_free(jb);
    keel_free(jc);
    keel_kll_free(a);
    keel_kll_free(b);
    keel_kll_free(c);
}

TEST(sketch_kll_special_values)
{
    keel_kll *s = keel_kll_new(3, 1); /* k below the minimum is clamped to 8 */
    REQUIRE(s != NULL);
    keel_kll_add(s, -0.0);
    CHECK(!signbit(keel_kll_min(s))); /* -0.0 is stored as 0.0 */
    CHECK_NEAR(keel_kll_rank(s, -0.0), 1, 0);
    keel_kll_add(s, INFINITY);
    keel_kll_add(s, -INFINITY);
    for (int i = 0; i < 1000; i++)
        keel_kll_add(s, i);
    CHECK(isinf(keel_kll_max(s)) && keel_kll_max(s) > 0);
    CHECK(isinf(keel_kll_min(s)) && keel_kll_min(s) < 0);
    CHECK_EQ_INT(keel_kll_count(s), 1003);
    keel_kll *t = kll_round_trip(s);
    REQUIRE(t != NULL);
    CHECK(isinf(keel_kll_max(t)) && keel_kll_max(t) > 0);
    CHECK(isinf(keel_kll_min(t)) && keel_kll_min(t) < 0);
    for (int i = 0; i <= 100; i++)
        CHECK(keel_kll_quantile(s, i / 100.0) == keel_kll_quantile(t, i / 100.0));
    keel_kll_free(s);
    keel_kll_free(t);
}

TEST(sketch_kll_round_trip_is_exact)
{
    const uint32_t ks[] = {8, 200, 1000};
    const size_t ns[] = {0, 1, 150, 5000, 400000};
    keel_rng r;
    keel_rng_seed(&r, 21);
    for (size_t ki = 0; ki < 3; ki++) {
        for (size_t ni = 0; ni < 5; ni++) {
            keel_kll *s = keel_kll_new(ks[ki], ki * 10 + ni);
            REQUIRE(s != NULL);
            for (size_t i = 0; i < ns[ni]; i++)
                keel_kll_add(s, exp(2 * normal(&r)) - 3);
            keel_kll *t = kll_round_trip(s);
            REQUIRE(t != NULL);
            CHECK_EQ_INT(keel_kll_count(t), ns[ni]);
            for (int i = 0; i <= 200; i++) {
                double q = i / 200.0, x = keel_kll_quantile(s, q), y = keel_kll_quantile(t, q);
                CHECK(x == y || (isnan(x) && isnan(y)));
            }
            /* The coin flips travel too: both go on identically. */
            for (size_t i = 0; i < 20000; i++) {
                double x = normal(&r);
                keel_kll_add(s, x);
                keel_kll_add(t, x);
            }
            char *js = kll_json(s), *jt = kll_json(t);
            REQUIRE(js && jt);
            CHECK_STR(js, jt);
            keel_free(js);
            keel_free(jt);
            keel_kll_free(s);
            keel_kll_free(t);
        }
    }
}

/* A hand-made sketch: k 8, levels as given, items as doubles in level order. */
static char *kll_text(const char *k, const char *n, const char *min, const char *max,
                      const char *rng, const char *levels, const double *items, size_t n_items,
                      const char *extra)
{
    keel_buf b;
    keel_buf_init(&b);
    unsigned char bytes[64 * 8];
    for (size_t i = 0; i < n_items; i++) {
        uint64_t x;
        memcpy(&x, &items[i], 8);
        for (int j = 0; j < 8; j++)
            bytes[8 * i + j] = (unsigned char)(x >> (8 * j));
    }
    keel_buf_printf(&b,
                    "{\"type\":\"kll\",\"version\":1,\"k\":%s,\"n\":%s,\"min\":%s,\"max\":%s,"
                    "\"rng\":%s,\"levels\":%s,\"items\":\"",
                    k, n, min, max, rng, levels);
    keel_buf_base64(&b, bytes, n_items * 8);
    keel_buf_printf(&b, "\"%s}", extra);
    return b.data;
}

TEST(sketch_kll_read_refuses_malformed)
{
    const char *rng = "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"";
    const double it3[] = {3, 1, 2};       /* level 0 of 3: unsorted is fine */
    const double it_l1[] = {5, 1, 2};     /* level 0 {5}, level 1 {1, 2}: n = 5 */
    const double it_l1_bad[] = {5, 2, 1}; /* level 1 unsorted */
    const double it_nan[] = {1, NAN, 2};  /* NaN */
    const double it_out[] = {1, 2, 9};    /* outside [1, 3] */
    keel_error e;
    /* First the valid ones, to show the mutations below are what gets refused. */
    {
        char *ok1 = kll_text("8", "3", "1", "3", rng, "[3]", it3, 3, "");
        char *ok2 = kll_text("8", "5", "1", "5", rng, "[1,2]", it_l1, 3, ",\"extra\":true");
        char *ok3 = kll_text("8", "0", "null", "null", rng, "[0]", NULL, 0, "");
        char *ok4 = kll_text("8", "9223372036854775808", "1", "1", rng,
                             "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                             "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]",
                             it3 + 1, 1, "");
        const char *oks[] = {ok1, ok2, ok3, ok4};
        for (size_t i = 0; i < 4; i++) {
            keel_json_doc *d = parse(oks[i]);
            REQUIRE(d != NULL);
            keel_kll *s = NULL;
            CHECK_EQ_INT(keel_kll_read(keel_json_root(d), &s, &e), KEEL_OK);
            if (!s) printf("valid case %zu refused: %s\n", i, e.msg);
            keel_kll_free(s);
            keel_json_doc_free(d);
            free((void *)oks[i]);
        }
    }
    char *bad[] = {
        strdup("[]"),
        strdup("{\"type\":\"hll\"}"),
        kll_text("7", "3", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("70000", "3", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("\"200\"", "3", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("8.5", "3", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "-3", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "4", "1", "3", rng, "[3]", it3, 3, ""), /* levels weigh 3 */
        kll_text("8", "1e30", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "18446744073709551616", "1", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "3", "1", "3", rng, "3", it3, 3, ""),
        kll_text("8", "3", "1", "3", rng, "[]", it3, 3, ""),
        kll_text("8", "3", "1", "3", rng, "[-3]", it3, 3, ""),
        kll_text("8", "3", "1", "3", rng, "[\"3\"]", it3, 3, ""),
        kll_text("8", "3", "1", "3", rng, "[2,1]", it3, 3, ""),   /* weighs 4 */
        kll_text("8", "100", "1", "3", rng, "[100]", it3, 3, ""), /* over capacity 16 */
        kll_text("8", "4294967299", "1", "3", rng, "[4294967299]", it3, 3, ""),
        kll_text("8", "3", "3", "1", rng, "[3]", it3, 3, ""), /* min > max */
        kll_text("8", "3", "null", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "3", "\"x\"", "3", rng, "[3]", it3, 3, ""),
        kll_text("8", "0", "1", "null", rng, "[0]", NULL, 0, ""),
        kll_text("8", "3", "1", "3", "\"0123\"", "[3]", it3, 3, ""),
        kll_text("8", "3", "1", "3", "7", "[3]", it3, 3, ""),
        kll_text("8", "3", "1", "3",
                 "\"0000000000000000000000000000000000000000000000000000000000000000\"", "[3]", it3,
                 3, ""),
        kll_text("8", "3", "1", "3",
                 "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\"", "[3]", it3,
                 3, ""),
        kll_text("8", "3", "1", "3", rng, "[3]", it3, 2, ""), /* too few items */
        kll_text("8", "3", "1", "3", rng, "[3]", it_nan, 3, ""),
        kll_text("8", "3", "1", "3", rng, "[3]", it_out, 3, ""),
        kll_text("8", "5", "1", "5", rng, "[1,2]", it_l1_bad, 3, ""),
        /* 64 levels whose weights overflow 64 bits */
        kll_text("8", "1", "1", "1", rng,
                 "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2]",
                 it3 + 1, 2, ""),
        /* 65 levels */
        kll_text("8", "0", "null", "null", rng,
                 "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]",
                 NULL, 0, ""),
    };
    /* Another version. */
    char *v2 = kll_text("8", "3", "1", "3", rng, "[3]", it3, 3, "");
    memcpy(strstr(v2, "\"version\":1"), "\"version\":2", 11);
    /* Items that are not base64. */
    char *notb64 = kll_text("8", "3", "1", "3", rng, "[3]", it3, 3, "");
    char *p = strstr(notb64, "\"items\":\"") + 9;
    p[3] = '!';
    for (size_t i = 0; i < KEEL_ARRAY_LEN(bad) + 2; i++) {
        const char *text = i < KEEL_ARRAY_LEN(bad)    ? bad[i]
                           : i == KEEL_ARRAY_LEN(bad) ? notb64
                                                      : v2;
        keel_json_doc *d = parse(text);
        if (!d) {
            printf("case %zu does not parse: %s\n", i, text);
            CHECK(d != NULL);
            continue;
        }
        keel_kll *s = (keel_kll *)1;
        e.msg[0] = '\0';
        int rc = keel_kll_read(keel_json_root(d), &s, &e);
        if (rc != KEEL_EFORMAT) printf("case %zu: rc %d for %s\n", i, rc, text);
        CHECK_EQ_INT(rc, KEEL_EFORMAT);
        CHECK(s == NULL);
        CHECK(strlen(e.msg) > 0);
        keel_kll_free(rc == KEEL_OK ? s : NULL);
        keel_json_doc_free(d);
    }
    for (size_t i = 0; i < KEEL_ARRAY_LEN(bad); i++)
        free(bad[i]);
    free(notb64);
    free(v2);
}

TEST(sketch_kll_out_of_memory)
{
    long live0 = test_alloc_live();
    /* new */
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        keel_kll *s = keel_kll_new(200, 1);
        test_fail_alloc_after(0);
        if (s) {
            keel_kll_free(s);
            break;
        }
        CHECK_EQ_INT(test_alloc_live(), live0);
    }
    /* add: level growth allocates. On failure the value is not added and all else holds. */
    for (long n = 1;; n++) {
        keel_kll *s = keel_kll_new(8, 1);
        REQUIRE(s != NULL);
        test_fail_alloc_after(n);
        int rc = KEEL_OK;
        uint64_t added = 0;
        for (int i = 0; i < 20000 && rc == KEEL_OK; i++)
            if ((rc = keel_kll_add(s, i)) == KEEL_OK) added++;
        test_fail_alloc_after(0);
        CHECK_EQ_INT(keel_kll_count(s), added);
        if (rc == KEEL_OK) {
            keel_kll_free(s);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        for (int i = (int)added; i < 20000; i++) /* it goes on fine afterwards */
            CHECK_EQ_INT(keel_kll_add(s, i), KEEL_OK);
        CHECK_EQ_INT(keel_kll_count(s), 20000);
        CHECK(keel_kll_quantile(s, 0.5) >= 0 && keel_kll_quantile(s, 0.5) < 20000);
        keel_kll_free(s);
        CHECK_EQ_INT(test_alloc_live(), live0);
    }
    /* merge, write, read */
    keel_kll *a = keel_kll_new(200, 1), *b = keel_kll_new(200, 2);
    REQUIRE(a && b);
    for (int i = 0; i < 50000; i++) {
        keel_kll_add(a, i);
        keel_kll_add(b, -i);
    }
    char *before = kll_json(a);
    REQUIRE(before != NULL);
    long live1 = test_alloc_live();
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        int rc = keel_kll_merge(a, b);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT(test_alloc_live(), live1);
        char *now = kll_json(a);
        CHECK_STR(now, before);
        keel_free(now);
    }
    CHECK_EQ_INT(keel_kll_count(a), 100000);
    keel_buf out;
    keel_buf_init(&out);
    keel_buf_puts(&out, "prefix");
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        int rc = keel_kll_write(a, &out);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_STR(out.data, "prefix");
    }
    keel_json_doc *d = parse(out.data + 6);
    REQUIRE(d != NULL);
    live1 = test_alloc_live();
    for (long n = 1;; n++) {
        keel_kll *s = NULL;
        keel_error e;
        test_fail_alloc_after(n);
        int rc = keel_kll_read(keel_json_root(d), &s, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK_NEAR(keel_kll_quantile(s, 0.3), keel_kll_quantile(a, 0.3), 0);
            keel_kll_free(s);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK(s == NULL);
        CHECK_EQ_INT(test_alloc_live(), live1);
    }
    keel_json_doc_free(d);
    keel_buf_free(&out);
    keel_free(before);
    keel_kll_free(a);
    keel_kll_free(b);
    CHECK_EQ_INT(test_alloc_live(), live0);
}

/* ---- top-k --------------------------------------------------------------------------- */

static uint64_t topk_count_of(const keel_topk *t, const char *s, uint64_t *error)
{
    keel_topk_item items[1024];
    size_t n = keel_topk_items(t, items, 1024);
    for (size_t i = 0; i < n; i++)
        if (items[i].len == strlen(s) && memcmp(items[i].s, s, items[i].len) == 0) {
            if (error) *error = items[i].error;
            return items[i].count;
        }
    return 0;
}

TEST(sketch_topk_exact_when_few_distinct)
{
    keel_topk *t = keel_topk_new(64);
    REQUIRE(t != NULL);
    /* value i occurs i times (i = 1..64), in an interleaved order */
    for (int round = 64; round >= 1; round--)
        for (int i = round; i <= 64; i++) {
            char key[16];
            int len = snprintf(key, sizeof key, "v%02d", i);
            CHECK_EQ_INT(keel_topk_add(t, key, (size_t)len, 1), KEEL_OK);
        }
    CHECK_EQ_INT(keel_topk_add(t, "v01", 3, 0), KEEL_OK); /* weight 0: nothing */
    CHECK_EQ_INT(keel_topk_total(t), 64 * 65 / 2);
    keel_topk_item items[100];
    size_t n = keel_topk_items(t, items, 100);
    CHECK_EQ_INT(n, 64);
    for (size_t i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%02d", (int)(64 - i));
        CHECK_STR(items[i].s, want);
        CHECK_EQ_INT(items[i].count, 64 - i);
        CHECK_EQ_INT(items[i].error, 0);
    }
    /* fewer slots than items: the best ones, in order */
    n = keel_topk_items(t, items, 3);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(items[0].s, "v64");
    CHECK_STR(items[2].s, "v62");
    CHECK_EQ_INT(keel_topk_items(t, items, 0), 0);
    keel_topk_free(t);
    keel_topk_free(NULL);

    /* Ties by string; weights; binary strings. */
    t = keel_topk_new(8);
    REQUIRE(t != NULL);
    keel_topk_add(t, "b", 1, 5);
    keel_topk_add(t, "a", 1, 5);
    keel_topk_add(t, "c\0d", 3, 7);
    keel_topk_add(t, "", 0, 5);
    n = keel_topk_items(t, items, 8);
    CHECK_EQ_INT(n, 4);
    CHECK(items[0].len == 3 && memcmp(items[0].s, "c\0d", 3) == 0 && items[0].count == 7);
    CHECK(items[1].len == 0 && items[1].s[0] == '\0');
    CHECK_STR(items[2].s, "a");
    CHECK_STR(items[3].s, "b");
    keel_topk_free(t);
}

/* Zipf(s) over m values: a CDF table for inverse sampling. */
static double *zipf_cdf(size_t m, double s)
{
    double *cdf = malloc(m * sizeof *cdf), sum = 0;
    for (size_t i = 0; i < m; i++)
        cdf[i] = sum += 1.0 / pow((double)(i + 1), s);
    for (size_t i = 0; i < m; i++)
        cdf[i] /= sum;
    return cdf;
}

static size_t zipf_draw(const double *cdf, size_t m, keel_rng *r)
{
    double u = keel_rng_uniform(r);
    size_t lo = 0, hi = m - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Checks that t holds the true top 10 in order with bounds around the truth. */
static void check_zipf_top(const keel_topk *t, const uint64_t *truth, size_t m)
{
    keel_topk_item items[64];
    size_t n = keel_topk_items(t, items, 64);
    CHECK(n >= 10);
    for (size_t i = 0; i < 10 && i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "item%zu", i);
        CHECK_STR(items[i].s, want);
        CHECK(items[i].count >= truth[i]);
        CHECK(items[i].count - items[i].error <= truth[i]);
    }
    for (size_t i = 0; i < n; i++) { /* every reported bound holds */
        size_t id = (size_t)atol(items[i].s + 4);
        REQUIRE(id < m);
        CHECK(items[i].count >= truth[id]);
        CHECK(items[i].count - items[i].error <= truth[id]);
    }
}

TEST(sketch_topk_finds_zipf_heavy_hitters_and_merges)
{
    const size_t m = 100000, n = 1000000;
    double *cdf = zipf_cdf(m, 1.3);
    uint64_t *truth = calloc(m, sizeof *truth);
    keel_topk *all = keel_topk_new(64), *h1 = keel_topk_new(64), *h2 = keel_topk_new(64);
    REQUIRE(all && h1 && h2);
    keel_rng r;
    keel_rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        size_t id = zipf_draw(cdf, m, &r);
        truth[id]++;
        char key[16];
        int len = snprintf(key, sizeof key, "item%zu", id);
        CHECK_EQ_INT(keel_topk_add(all, key, (size_t)len, 1), KEEL_OK);
        keel_topk_add(i % 3 ? h1 : h2, key, (size_t)len, 1);
    }
    CHECK_EQ_INT(keel_topk_total(all), n);
    check_zipf_top(all, truth, m);
    CHECK_EQ_INT(keel_topk_merge(h1, h2), KEEL_OK);
    CHECK_EQ_INT(keel_topk_total(h1), n);
    check_zipf_top(h1, truth, m);
    /* Self-merge doubles everything. */
    uint64_t c0 = topk_count_of(all, "item0", NULL);
    CHECK_EQ_INT(keel_topk_merge(all, all), KEEL_OK);
    CHECK_EQ_INT(topk_count_of(all, "item0", NULL), 2 * c0);
    CHECK_EQ_INT(keel_topk_total(all), 2 * n);
    keel_topk_free(all);
    keel_topk_free(h1);
    keel_topk_free(h2);
    free(truth);
    free(cdf);
}

TEST(sketch_topk_merge_exact_and_bounds)
{
    keel_topk *a = keel_topk_new(4), *b = keel_topk_new(4), *small = keel_topk_new(2);
    REQUIRE(a && b && small);
    keel_topk_add(a, "x", 1, 10);
    keel_topk_add(a, "y", 1, 3);
    keel_topk_add(b, "x", 1, 1);
    keel_topk_add(b, "z", 1, 4);
    CHECK_EQ_INT(keel_topk_merge(a, b), KEEL_OK);
    uint64_t err = 99;
    CHECK_EQ_INT(topk_count_of(a, "x", &err), 11);
    CHECK_EQ_INT(err, 0);
    CHECK_EQ_INT(topk_count_of(a, "z", NULL), 4);
    CHECK_EQ_INT(topk_count_of(a, "y", NULL), 3);
    CHECK_EQ_INT(keel_topk_total(a), 18);
    /* A full, smaller summary: what it lost is charged as error. */
    keel_topk_add(small, "p", 1, 5);
    keel_topk_add(small, "q", 1, 6);
    keel_topk_add(small, "r", 1, 1); /* evicts p (5): r = 6 with error 5 */
    CHECK_EQ_INT(topk_count_of(small, "r", &err), 6);
    CHECK_EQ_INT(err, 5);
    CHECK_EQ_INT(keel_topk_merge(a, small), KEEL_OK);
    CHECK_EQ_INT(keel_topk_total(a), 30);
    keel_topk_item items[4];
    size_t n = keel_topk_items(a, items, 4);
    CHECK_EQ_INT(n, 4);
    /* Charging small's floor (5) to what it lacks: x 16 (error 5), z 9, y 8, q 6 + a's
     * floor 0, r 6 (error 5); r loses the tie with q and is dropped, raising the floor to 6.
     * True counts always lie within [count - error, count]. */
    CHECK_STR(items[0].s, "x");
    CHECK_EQ_INT(items[0].count, 16);
    CHECK_EQ_INT(items[0].error, 5);
    const char *names[] = {"x", "y", "z", "p", "q", "r"};
    const uint64_t truth[] = {11, 3, 4, 5, 6, 1};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 6; j++)
            if (strcmp(items[i].s, names[j]) == 0) {
                CHECK(items[i].count >= truth[j]);
                CHECK(items[i].count - items[i].error <= truth[j]);
            }
    keel_topk_free(a);
    keel_topk_free(b);
    keel_topk_free(small);
}

static char *topk_json(const keel_topk *t)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_topk_write(t, &b) != KEEL_OK) {
        keel_buf_free(&b);
        return NULL;
    }
    return b.data;
}

TEST(sketch_topk_round_trip)
{
    keel_topk *t = keel_topk_new(16);
    REQUIRE(t != NULL);
    keel_rng r;
    keel_rng_seed(&r, 8);
    for (int i = 0; i < 5000; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", (int)(keel_rng_next(&r) % 40));
        keel_topk_add(t, key, (size_t)len, 1 + keel_rng_next(&r) % 3);
    }
    keel_topk_add(t, "\xff\xfe bad utf-8", 13, 500);
    keel_topk_add(t, "nul\0inside \"quoted\"\n", 20, 400);
    keel_topk_add(t, "caf\xc3\xa9", 5, 300);
    char *j1 = topk_json(t);
    REQUIRE(j1 != NULL);
    CHECK(strstr(j1, "\"base64\":") != NULL);
    keel_json_doc *d = parse(j1);
    REQUIRE(d != NULL);
    keel_topk *u = NULL;
    keel_error e;
    CHECK_EQ_INT(keel_topk_read(keel_json_root(d), &u, &e), KEEL_OK);
    REQUIRE(u != NULL);
    char *j2 = topk_json(u);
    CHECK_STR(j1, j2);
    keel_topk_item a[16], b[16];
    size_t na = keel_topk_items(t, a, 16), nb = keel_topk_items(u, b, 16);
    CHECK_EQ_INT(na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        CHECK(a[i].len == b[i].len && memcmp(a[i].s, b[i].s, a[i].len) == 0);
        CHECK_EQ_INT(a[i].count, b[i].count);
        CHECK_EQ_INT(a[i].error, b[i].error);
    }
    /* Both go on identically (evictions are fixed by a total order). */
    for (int i = 0; i < 3000; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", (int)(keel_rng_next(&r) % 60));
        keel_topk_add(t, key, (size_t)len, 1);
        keel_topk_add(u, key, (size_t)len, 1);
    }
    char *j3 = topk_json(t), *j4 = topk_json(u);
    CHECK_STR(j3, j4);
    keel_free(j1);
    keel_free(j2);
    keel_free(j3);
    keel_free(j4);
    keel_json_doc_free(d);
    keel_topk_free(t);
    keel_topk_free(u);
}

TEST(sketch_topk_read_refuses_malformed)
{
    const char *ok = "{\"type\":\"topk\",\"version\":1,\"capacity\":2,\"total\":5,\"floor\":0,"
                     "\"items\":[{\"value\":\"a\",\"count\":3,\"error\":0},"
                     "{\"base64\":\"/w==\",\"count\":2,\"error\":0}]}";
    keel_json_doc *d = parse(ok);
    REQUIRE(d != NULL);
    keel_topk *t = NULL;
    keel_error e;
    CHECK_EQ_INT(keel_topk_read(keel_json_root(d), &t, &e), KEEL_OK);
    CHECK_EQ_INT(topk_count_of(t, "\xff", NULL), 2);
    keel_topk_free(t);
    keel_json_doc_free(d);
#define HEAD "{\"type\":\"topk\",\"version\":1,"
    const char *bad[] = {
        "[]",
        "{\"type\":\"kll\",\"version\":1}",
        HEAD "\"capacity\":0,\"total\":0,\"floor\":0,\"items\":[]}",
        HEAD "\"capacity\":65537,\"total\":0,\"floor\":0,\"items\":[]}",
        HEAD "\"capacity\":\"2\",\"total\":0,\"floor\":0,\"items\":[]}",
        HEAD "\"capacity\":2,\"total\":-1,\"floor\":0,\"items\":[]}",
        HEAD "\"capacity\":2,\"total\":1,\"floor\":2,\"items\":[]}",
        HEAD "\"capacity\":2,\"total\":0,\"floor\":0,\"items\":{}}",
        HEAD "\"capacity\":1,\"total\":2,\"floor\":0,\"items\":[{\"value\":\"a\",\"count\":1,"
             "\"error\":0},{\"value\":\"b\",\"count\":1,\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":2,\"floor\":0,\"items\":[3]}",
        HEAD "\"capacity\":2,\"total\":2,\"floor\":0,\"items\":[{\"value\":\"a\",\"count\":3,"
             "\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":9,\"floor\":1,\"items\":[{\"value\":\"a\",\"count\":3,"
             "\"error\":4}]}",
        HEAD "\"capacity\":2,\"total\":9,\"floor\":4,\"items\":[{\"value\":\"a\",\"count\":3,"
             "\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":9,\"floor\":1,\"items\":[{\"value\":\"a\",\"count\":3,"
             "\"error\":2}]}",
        HEAD "\"capacity\":2,\"total\":4,\"floor\":0,\"items\":[{\"value\":\"a\",\"count\":2,"
             "\"error\":0},{\"value\":\"a\",\"count\":2,\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":2,\"floor\":0,\"items\":[{\"count\":2,\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":2,\"floor\":0,\"items\":[{\"base64\":\"!!!!\","
             "\"count\":2,\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":5,\"floor\":1,\"items\":[{\"value\":\"a\",\"count\":4,"
             "\"error\":0},{\"value\":\"b\",\"count\":3,\"error\":1}]}",
        HEAD "\"capacity\":2,\"total\":5,\"floor\":0,\"items\":[{\"value\":\"a\",\"count\":4,"
             "\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":5,\"floor\":0,\"items\":[{\"value\":\"a\",\"count\":0,"
             "\"error\":0}]}",
        HEAD "\"capacity\":2,\"total\":5,\"floor\":0,\"items\":[{\"value\":\"a\","
             "\"count\":1.5e0,\"error\":0}]}",
    };
#undef HEAD
    for (size_t i = 0; i < KEEL_ARRAY_LEN(bad); i++) {
        d = parse(bad[i]);
        if (!d) {
            printf("case %zu does not parse\n", i);
            CHECK(d != NULL);
            continue;
        }
        t = (keel_topk *)1;
        e.msg[0] = '\0';
        int rc = keel_topk_read(keel_json_root(d), &t, &e);
        if (rc != KEEL_EFORMAT) printf("case %zu: rc %d for %s\n", i, rc, bad[i]);
        CHECK_EQ_INT(rc, KEEL_EFORMAT);
        CHECK(t == NULL);
        CHECK(strlen(e.msg) > 0);
        keel_json_doc_free(d);
    }
}

TEST(sketch_topk_out_of_memory)
{
    long live0 = test_alloc_live();
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        keel_topk *t = keel_topk_new(64);
        test_fail_alloc_after(0);
        if (t) {
            keel_topk_free(t);
            break;
        }
        CHECK_EQ_INT(test_alloc_live(), live0);
    }
    /* add: new slots and longer strings allocate; a failed add changes nothing. */
    char big[300];
    memset(big, 'z', sizeof big);
    for (long n = 1;; n++) {
        keel_topk *t = keel_topk_new(4);
        REQUIRE(t != NULL);
        test_fail_alloc_after(n);
        int rc = KEEL_OK, i;
        for (i = 0; i < 40 && rc == KEEL_OK; i++) {
            char key[16];
            snprintf(key, sizeof key, "%03d", i);
            memcpy(big, key, 3);
            rc = keel_topk_add(t, big, (size_t)(10 + i * 7), 1);
        }
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK_EQ_INT(keel_topk_total(t), 40);
            keel_topk_free(t);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT(keel_topk_total(t), i - 1);
        keel_topk_item items[4];
        size_t k = keel_topk_items(t, items, 4);
        uint64_t sum = 0;
        for (size_t j = 0; j < k; j++)
            sum += items[j].count - items[j].error;
        CHECK(sum <= keel_topk_total(t));
        CHECK_EQ_INT(keel_topk_add(t, "after", 5, 1), KEEL_OK);
        keel_topk_free(t);
        CHECK_EQ_INT(test_alloc_live(), live0);
    }
    /* merge, write, read */
    keel_topk *a = keel_topk_new(8), *b = keel_topk_new(8);
    REQUIRE(a && b);
    for (int i = 0; i < 30; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "key%d", i % 11);
        keel_topk_add(a, key, (size_t)len, 1);
        len = snprintf(key, sizeof key, "key%d", i % 7 + 5);
        keel_topk_add(b, key, (size_t)len, 2);
    }
    char *before = topk_json(a);
    long live1 = test_alloc_live();
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        int rc = keel_topk_merge(a, b);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT(test_alloc_live(), live1);
        char *now = topk_json(a);
        CHECK_STR(now, before);
        keel_free(now);
    }
    keel_buf out;
    keel_buf_init(&out);
    keel_buf_puts(&out, "prefix");
    for (long n = 1;; n++) {
        test_fail_alloc_after(n);
        int rc = keel_topk_write(a, &out);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_STR(out.data, "prefix");
    }
    keel_json_doc *d = parse(out.data + 6);
    REQUIRE(d != NULL);
    live1 = test_alloc_live();
    for (long n = 1;; n++) {
        keel_topk *t = NULL;
        keel_error e;
        test_fail_alloc_after(n);
        int rc = keel_topk_read(keel_json_root(d), &t, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK_EQ_INT(keel_topk_total(t), keel_topk_total(a));
            keel_topk_free(t);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK(t == NULL);
        CHECK_EQ_INT(test_alloc_live(), live1);
    }
    keel_json_doc_free(d);
    keel_buf_free(&out);
    keel_free(before);
    keel_topk_free(a);
    keel_topk_free(b);
    CHECK_EQ_INT(test_alloc_live(), live0);
}

/* keel_kll_add_many: groups are compacted on their own before merging; the accuracy must
 * stay within the same bound as value-by-value adds, and counts/min/max exact. */
TEST(sketch_kll_add_many_is_accurate)
{
    size_t n = 1000000;
    double *x = malloc(n * sizeof *x), *sorted = malloc(n * sizeof *x);
    REQUIRE(x && sorted);
    keel_rng r;
    keel_rng_seed(&r, 99);
    for (int dist = 0; dist < 2; dist++) {
        for (size_t i = 0; i < n; i++) {
            double u = keel_rng_uniform(&r);
            x[i] = dist == 0 ? u : exp(4 * u * u); /* uniform, then skewed */
        }
        x[12345] = NAN; /* a missing value inside a group */
        keel_kll *s = keel_kll_new(200, 7);
        REQUIRE(s);
        /* feed it the way profile does: chunks of 8192, plus an odd tail */
        for (size_t i = 0; i < n; i += 8192)
            CHECK_EQ_INT(keel_kll_add_many(s, x + i, KEEL_MIN((size_t)8192, n - i)), KEEL_OK);
        memcpy(sorted, x, n * sizeof *x);
        sorted[12345] = sorted[n - 1];
        qsort(sorted, n - 1, sizeof *sorted, cmp_double);
        CHECK_EQ_INT(keel_kll_count(s), n - 1);
        CHECK(keel_kll_min(s) == sorted[0]);
        CHECK(keel_kll_max(s) == sorted[n - 2]);
        double err = kll_max_rank_error(s, sorted, n - 1);
        if (err > 0.02)
            harness_fail(__FILE__, __LINE__, "distribution %d: worst rank error %.4f", dist, err);
        keel_kll_free(s);
    }
    free(x);
    free(sorted);
}
