/* Tests of the server's Prometheus metrics (src/serve/metrics.c): exact counts under
 * concurrency, cumulative buckets, escaping, the bounded label-set table, allocation failures,
 * and the rendered text checked by promtool itself. */
#include "harness.h"

#include "serve/serve.h"

#include <stdlib.h>
#include <unistd.h>

/* The value of the sample whose series (name and labels) is exactly `series`, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    }
    return -1;
}

/* The number of sample lines whose name starts with prefix, and the sum of their values. */
static long count_series(const char *text, const char *prefix, double *sum)
{
    long n = 0;
    *sum = 0;
    size_t k = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, k) != 0) continue;
        const char *sp = strstr(p, "} ");
        const char *nl = strchr(p, '\n');
        if (!sp || (nl && sp > nl)) continue;
        *sum += strtod(sp + 2, NULL);
        n++;
    }
    return n;
}

static char *render(serve_metrics *m)
{
    keel_buf b;
    keel_buf_init(&b);
    if (serve_metrics_render(m, &b) != KEEL_OK) {
        keel_buf_free(&b);
        return NULL;
    }
    return b.data; /* the caller keel_frees it */
}

/* Runs promtool check metrics on text; returns its exit status (-1: could not run) and
 * prints what it said when it complained. */
static int promtool_check(const char *text)
{
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/metrics.txt", test_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s.out' >&2", path);
        if (system(cmd) != 0) fprintf(stderr, "    (cannot show promtool's output)\n");
    }
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

TEST(metrics_latency_bounds_ascend)
{
    for (int i = 1; i < SERVE_LATENCY_BUCKETS; i++)
        CHECK(serve_latency_bounds[i] > serve_latency_bounds[i - 1]);
    CHECK_NEAR(serve_latency_bounds[0], 50e-6, 1e-12);
    CHECK_NEAR(serve_latency_bounds[SERVE_LATENCY_BUCKETS - 1], 2.5, 1e-12);
}

enum { N_THREADS = 4, PER_THREAD = 60000 };

static void *hammer(void *arg)
{
    serve_metrics *m = arg;
    static const char *models[3] = {"iris", "churn", "fraud"};
    for (int i = 0; i < PER_THREAD; i++) {
        const char *model = models[i % 3];
        int code = i % 10 == 0 ? 400 : 200;
        serve_metrics_in_flight(m, 1);
        serve_metrics_request(m, i % 2 ? "v2" : "v1", model, "7", code, code == 200 ? 2 : 0,
                              0.0003);
        serve_metrics_in_flight(m, -1);
    }
    return NULL;
}

TEST(metrics_counts_are_exact_across_threads)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, hammer, m) == 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = render(m);
    REQUIRE(text);

    /* Expected, per thread: i in [0, PER_THREAD) with i%2 -> protocol, i%3 -> model,
     * i%10 == 0 -> 400. Count each set by walking the same loop. */
    long expect[2][3][2] = {{{0}}};
    for (int i = 0; i < PER_THREAD; i++)
        expect[i % 2][i % 3][i % 10 == 0]++;
    static const char *protos[2] = {"v1", "v2"}, *models[3] = {"iris", "churn", "fraud"};
    long n_sets = 0;
    for (int p = 0; p < 2; p++)
        for (int mo = 0; mo < 3; mo++) {
            char s[200];
            for (int c = 0; c < 2; c++) {
                snprintf(s, sizeof s,
                         "keel_requests_total{protocol=\"%s\",model=\"%s\",version=\"7\","
                         "code=\"%d\"}",
                         protos[p], models[mo], c ? 400 : 200);
                /* a set never seen has no series (400s only come with even i: v1) */
                long want = N_THREADS * expect[p][mo][c];
                CHECK_EQ_INT(sample(text, s), want ? want : -1);
                n_sets += want != 0;
            }
            long all = N_THREADS * (expect[p][mo][0] + expect[p][mo][1]);
            snprintf(s, sizeof s,
                     "keel_request_duration_seconds_count{protocol=\"%s\",model=\"%s\"}", protos[p],
                     models[mo]);
            CHECK_EQ_INT(sample(text, s), all);
            snprintf(s, sizeof s,
                     "keel_request_duration_seconds_bucket{protocol=\"%s\",model=\"%s\","
                     "le=\"0.00025\"}",
                     protos[p], models[mo]);
            CHECK_EQ_INT(sample(text, s), 0);
            snprintf(s, sizeof s,
                     "keel_request_duration_seconds_bucket{protocol=\"%s\",model=\"%s\","
                     "le=\"0.0005\"}",
                     protos[p], models[mo]);
            CHECK_EQ_INT(sample(text, s), all);
            snprintf(s, sizeof s, "keel_request_duration_seconds_sum{protocol=\"%s\",model=\"%s\"}",
                     protos[p], models[mo]);
            CHECK_NEAR(sample(text, s), all * 0.0003, 1e-6);
            snprintf(s, sizeof s, "keel_rows_total{protocol=\"%s\",model=\"%s\"}", protos[p],
                     models[mo]);
            CHECK_EQ_INT(sample(text, s), 2 * N_THREADS * expect[p][mo][0]);
        }
    double sum;
    CHECK_EQ_INT(n_sets, 9);
    CHECK_EQ_INT(count_series(text, "keel_requests_total{", &sum), n_sets);
    CHECK_EQ_INT(sum, N_THREADS * PER_THREAD);
    CHECK_EQ_INT(sample(text, "keel_requests_in_flight"), 0);
    keel_free(text);
    serve_metrics_free(m);
}

/* Counts live in per-thread shards: a request that begins on one thread and ends on another
 * still leaves the in-flight sum right. */
static void *end_one(void *arg)
{
    serve_metrics_in_flight(arg, -1);
    return NULL;
}

TEST(metrics_in_flight_sums_over_threads)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    serve_metrics_in_flight(m, 1);
    serve_metrics_in_flight(m, 1);
    CHECK_EQ_INT(serve_metrics_in_flight_now(m), 2);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, end_one, m) == 0);
    pthread_join(t, NULL);
    CHECK_EQ_INT(serve_metrics_in_flight_now(m), 1);
    char *text = render(m);
    REQUIRE(text);
    CHECK_EQ_INT(sample(text, "keel_requests_in_flight"), 1);
    keel_free(text);
    serve_metrics_in_flight(m, -1);
    CHECK_EQ_INT(serve_metrics_in_flight_now(m), 0);
    serve_metrics_free(m);
}

TEST(metrics_buckets_are_cumulative)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    /* One request per value: on a bound (le includes it), between bounds, beyond the last,
     * and the nonsense ones counted as 0. */
    double v[] = {50e-6, 0.0003, 0.0003, 0.004, 2.5, 3.0, 1e9, -1.0, NAN};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(v); i++)
        serve_metrics_request(m, "v2", "m", "1", 200, 1, v[i]);
    char *text = render(m);
    REQUIRE(text);
    /* per le: 5e-05 gets 50e-6, -1, NaN = 3; 0.0005 adds 2; 0.005 adds 1; 2.5 adds 1. */
    long expect[SERVE_LATENCY_BUCKETS] = {3, 3, 3, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7};
    for (int b = 0; b < SERVE_LATENCY_BUCKETS; b++) {
        keel_buf s;
        keel_buf_init(&s);
        keel_buf_puts(&s, "keel_request_duration_seconds_bucket{protocol=\"v2\",model=\"m\",le=\"");
        keel_buf_json_num(&s, serve_latency_bounds[b]);
        keel_buf_puts(&s, "\"}");
        CHECK_EQ_INT(sample(text, s.data), expect[b]);
        keel_buf_free(&s);
    }
    CHECK_EQ_INT(sample(text, "keel_request_duration_seconds_bucket{protocol=\"v2\",model=\"m\","
                              "le=\"+Inf\"}"),
                 9);
    CHECK_EQ_INT(sample(text, "keel_request_duration_seconds_count{protocol=\"v2\",model=\"m\"}"),
                 9);
    /* The sum: 1e9 is capped at a day. */
    CHECK_NEAR(sample(text, "keel_request_duration_seconds_sum{protocol=\"v2\",model=\"m\"}"),
               50e-6 + 0.0006 + 0.004 + 2.5 + 3.0 + 86400, 1e-6);
    CHECK(strstr(text, "le=\"5e-05\"") != NULL);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_label_values_are_escaped)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    serve_metrics_request(m, "v2", "a\"b\\c\nd", "x\xff\xc3\xa9", 404, 0, 0.001);
    serve_metrics_request(m, "v1", NULL, NULL, 400, 0, 0.001);
    serve_metrics_model_loaded(m, "we\"ird\n", "1", 0.5);
    char *text = render(m);
    REQUIRE(text);
    CHECK(sample(text, "keel_requests_total{protocol=\"v2\",model=\"a\\\"b\\\\c\\nd\","
                       "version=\"x\xef\xbf\xbd\xc3\xa9\",code=\"404\"}") == 1);
    CHECK(sample(text, "keel_requests_total{protocol=\"v1\",model=\"\",version=\"\","
                       "code=\"400\"}") == 1);
    CHECK(sample(text, "keel_model_load_seconds{model=\"we\\\"ird\\n\",version=\"1\"}") == 0.5);
    CHECK_EQ_INT(promtool_check(text), 0);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_long_label_values_are_cut)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    char a[600], b[600];
    memset(a, 'q', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[400] = 'z'; /* differs only after the cut: the same series */
    serve_metrics_request(m, "v2", a, "1", 200, 1, 0.001);
    serve_metrics_request(m, "v2", b, "1", 200, 1, 0.001);
    char *text = render(m);
    REQUIRE(text);
    double sum;
    CHECK_EQ_INT(count_series(text, "keel_requests_total{", &sum), 1);
    CHECK_EQ_INT(sum, 2);
    CHECK(strstr(text, "model=\"qqqq") != NULL);
    CHECK(strstr(text, "qz") == NULL);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_label_sets_are_bounded)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    /* 1100 names, twice each: 1024 get series, the other 76 * 2 requests land in "(other)". */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 1100; i++) {
            char name[32];
            snprintf(name, sizeof name, "model-%d", i);
            serve_metrics_request(m, "v2", name, "1", 404, 0, 0.002);
        }
    char *text = render(m);
    REQUIRE(text);
    double sum;
    CHECK_EQ_INT(count_series(text, "keel_requests_total{", &sum), 1025);
    CHECK_EQ_INT(sum, 2200);
    CHECK_EQ_INT(sample(text, "keel_requests_total{protocol=\"(other)\",model=\"(other)\","
                              "version=\"(other)\",code=\"(other)\"}"),
                 152);
    CHECK_EQ_INT(sample(text, "keel_requests_total{protocol=\"v2\",model=\"model-5\","
                              "version=\"1\",code=\"404\"}"),
                 2);
    /* Latency sets: one per (protocol, model) of the first 1024, then overflow. */
    CHECK_EQ_INT(count_series(text, "keel_request_duration_seconds_count{", &sum), 1025);
    CHECK_EQ_INT(sum, 2200);
    CHECK_EQ_INT(promtool_check(text), 0);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_model_loads_and_swaps)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    serve_metrics_model_loaded(m, "iris", "1", 0.25);
    serve_metrics_model_loaded(m, "churn", "3", 1.5);
    serve_metrics_model_loaded(m, "iris", "2", 0.125);
    serve_metrics_model_loaded(m, "iris", "2", 0.0625);
    serve_metrics_shed(m);
    serve_metrics_shed(m);
    serve_metrics_in_flight(m, 3);
    serve_metrics_log_dropped(m, 17);
    char *text = render(m);
    REQUIRE(text);
    CHECK(sample(text, "keel_model_load_seconds{model=\"iris\",version=\"1\"}") == 0.25);
    CHECK(sample(text, "keel_model_load_seconds{model=\"iris\",version=\"2\"}") == 0.0625);
    CHECK(sample(text, "keel_model_load_seconds{model=\"churn\",version=\"3\"}") == 1.5);
    CHECK_EQ_INT(sample(text, "keel_model_swaps_total{model=\"iris\"}"), 2);
    CHECK_EQ_INT(sample(text, "keel_model_swaps_total{model=\"churn\"}"), 0);
    CHECK_EQ_INT(sample(text, "keel_requests_shed_total"), 2);
    CHECK_EQ_INT(sample(text, "keel_requests_in_flight"), 3);
    CHECK_EQ_INT(sample(text, "keel_prediction_log_dropped_total"), 17);
    CHECK_EQ_INT(sample(text, "keel_up"), 1);
    char s[100];
    snprintf(s, sizeof s, "keel_build_info{version=\"%s\"}", keel_version());
    CHECK_EQ_INT(sample(text, s), 1);
    CHECK(sample(text, "keel_start_time_seconds") > 1.6e9);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_every_family_has_help_and_type)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    serve_metrics_request(m, "mlflow", "m", "1", 200, 4, 0.01);
    serve_metrics_model_loaded(m, "m", "1", 0.1);
    char *text = render(m);
    REQUIRE(text);
    static const char *families[] = {"keel_requests_total counter",
                                     "keel_request_duration_seconds histogram",
                                     "keel_rows_total counter",
                                     "keel_requests_in_flight gauge",
                                     "keel_requests_shed_total counter",
                                     "keel_model_load_seconds gauge",
                                     "keel_model_swaps_total counter",
                                     "keel_prediction_log_dropped_total counter",
                                     "keel_up gauge",
                                     "keel_build_info gauge"};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(families); i++) {
        char s[200], name[100];
        snprintf(s, sizeof s, "# TYPE %s\n", families[i]);
        if (!strstr(text, s)) harness_fail(__FILE__, __LINE__, "no \"%s\" line", s);
        snprintf(name, sizeof name, "%s", families[i]);
        *strchr(name, ' ') = '\0';
        snprintf(s, sizeof s, "# HELP %s ", name);
        if (!strstr(text, s)) harness_fail(__FILE__, __LINE__, "no HELP for %s", name);
    }
    CHECK(text[strlen(text) - 1] == '\n');
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_empty_and_full_pass_promtool)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        fprintf(stderr, "    SKIP: /usr/bin/promtool missing (Debian package prometheus)\n");
        return;
    }
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    char *text = render(m);
    REQUIRE(text);
    CHECK_EQ_INT(promtool_check(text), 0); /* families with no samples yet */
    keel_free(text);

    static const char *protos[] = {"v2", "v1", "mlflow", "other"};
    static const int codes[] = {200, 400, 404, 413, 415, 422, 500, 503};
    for (int i = 0; i < 400; i++)
        serve_metrics_request(m, protos[i % 4], i % 7 ? "iris" : "fraud\tdetector \xe2\x82\xac",
                              i % 5 ? "3" : "", codes[i % 8], (size_t)(i % 3),
                              1e-5 * (i * i % 9000));
    serve_metrics_model_loaded(m, "iris", "3", 0.2);
    serve_metrics_model_loaded(m, "iris", "4", 0.3);
    serve_metrics_shed(m);
    serve_metrics_in_flight(m, 2);
    serve_metrics_log_dropped(m, 5);
    text = render(m);
    REQUIRE(text);
    CHECK_EQ_INT(promtool_check(text), 0);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_random_label_bytes_pass_promtool)
{
    /* Model and version names of random bytes (1..255: every escape, control byte and broken
     * UTF-8 sequence) must still render as text promtool accepts. */
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    keel_rng r;
    keel_rng_seed(&r, 42);
    for (int i = 0; i < 300; i++) {
        char name[64], version[8];
        size_t n = 1 + keel_rng_next(&r) % (sizeof name - 1);
        for (size_t k = 0; k < n; k++)
            name[k] = (char)(1 + keel_rng_next(&r) % 255);
        name[n] = '\0';
        for (size_t k = 0; k < sizeof version - 1; k++)
            version[k] = (char)(1 + keel_rng_next(&r) % 255);
        version[sizeof version - 1] = '\0';
        serve_metrics_request(m, "v2", name, version, 200, 1, 0.001);
        if (i % 10 == 0) serve_metrics_model_loaded(m, name, version, 0.5);
    }
    char *text = render(m);
    REQUIRE(text);
    double sum;
    CHECK_EQ_INT(count_series(text, "keel_requests_total{", &sum), 300);
    CHECK_EQ_INT(sum, 300);
    CHECK(keel_utf8_valid(text, strlen(text)));
    CHECK_EQ_INT(promtool_check(text), 0);
    keel_free(text);
    serve_metrics_free(m);
}

TEST(metrics_survive_allocation_failures)
{
    test_alloc_reset();
    long base = test_alloc_live();
    /* serve_metrics_new: every failure point returns NULL and leaks nothing. */
    serve_metrics *m = NULL;
    for (long n = 1; n < 100 && !m; n++) {
        test_fail_alloc_after(n);
        m = serve_metrics_new();
        test_fail_alloc_after(0);
        if (!m) CHECK_EQ_INT(test_alloc_live(), base);
    }
    REQUIRE(m);
    /* A set that cannot be allocated is counted in the overflow set, not lost. */
    test_fail_alloc_after(1);
    serve_metrics_request(m, "v2", "m", "1", 200, 1, 0.001);
    test_fail_alloc_after(0);
    serve_metrics_request(m, "v2", "m", "1", 200, 1, 0.001);
    /* Rendering: a failure returns KEEL_ENOMEM and leaves the buffer as it was. */
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "keep");
    int rc = KEEL_ENOMEM;
    for (long n = 1; n < 1000 && rc != KEEL_OK; n++) {
        test_fail_alloc_after(n);
        rc = serve_metrics_render(m, &b);
        test_fail_alloc_after(0);
        if (rc != KEEL_OK) {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK_STR(b.data, "keep");
        }
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK(strncmp(b.data, "keep# HELP", 10) == 0);
    CHECK_EQ_INT(sample(b.data + 4, "keel_requests_total{protocol=\"(other)\",model=\"(other)\","
                                    "version=\"(other)\",code=\"(other)\"}"),
                 1);
    CHECK_EQ_INT(sample(b.data + 4, "keel_requests_total{protocol=\"v2\",model=\"m\","
                                    "version=\"1\",code=\"200\"}"),
                 1);
    keel_buf_free(&b);
    serve_metrics_free(m);
    CHECK_EQ_INT(test_alloc_live(), base);
}

/* Not a pass/fail check: the cost of one request's bookkeeping, printed for the record. */
TEST(metrics_request_cost)
{
    serve_metrics *m = serve_metrics_new();
    REQUIRE(m);
    enum { N = 2000000 };
    double t0 = keel_now_seconds();
    for (int i = 0; i < N; i++)
        serve_metrics_request(m, "v2", i & 1 ? "iris" : "churn", "12", 200, 1, 0.0004);
    double dt = keel_now_seconds() - t0;
    fprintf(stderr, "    metrics: %.1f ns per request (one thread)\n", dt / N * 1e9);
    CHECK(dt / N < 5e-6);
    serve_metrics_free(m);
}
