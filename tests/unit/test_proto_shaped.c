/*
 * test_proto_shaped.c — serve_parse_v2's first tier (src/serve/proto_v2_fast.c): a body shaped like
 * the last one the fast path took on this thread is read by comparing the bytes around its
 * values and reading the values alone. These tests check that it takes new values in the
 * same shape and builds exactly the slow path's batch, that it declines every other body
 * (any byte changed outside a value, values the fast path would not take, truncations,
 * trailing bytes) so that serve_parse_v2 answers exactly as the slow path, that bodies
 * outside its bounds are not remembered, that each thread has its own shape, and that it
 * survives out-of-memory at every allocation.
 */
#include "serve/serve.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"

#include <pthread.h>
#include <stdlib.h>

static bool is_zero(const serve_batch *b)
{
    return !b->id && !b->n_rows && !b->n_cols && !b->cols && !b->arena;
}

/* Makes body this thread's shape (the fast path must take it). */
static void remember(const char *body)
{
    serve_batch f;
    REQUIRE(serve_parse_v2_fast(body, strlen(body), &f, NULL));
    serve_batch_free(&f);
}

/* Parses body[0..n) by the shaped tier and by the slow path: a body the shaped tier takes,
 * the slow path takes too, with the same batch; one it declines leaves the batch zeroed.
 * Returns whether it was taken. Leaves the thread's shape as it was. */
static bool shaped_agrees(const char *body, size_t n)
{
    serve_batch t, s;
    serve_error et = {.status = 77}, es;
    memset(&t, 0x55, sizeof t);
    bool took = serve_parse_v2_shaped(body, n, &t, &et);
    int rs = serve_parse_v2_slow(body, n, &s, &es);
    if (took) {
        CHECK_EQ_INT(et.status, 0);
        CHECK_STR(et.msg, "");
        CHECK_EQ_INT(rs, KEEL_OK);
        bool same = rs == KEEL_OK && test_same_batch(&t, &s);
        if (!same) fprintf(stderr, "batches differ: %.*s\n", (int)n, body);
        CHECK(same);
        serve_batch_free(&t);
    } else {
        CHECK(is_zero(&t));
        CHECK_EQ_INT(et.status, 77);
    }
    serve_batch_free(&s);
    return took;
}

/* The shaped tier takes body (the shape must be remembered), agreeing with the slow path. */
static void check_taken(const char *body)
{
    bool took = shaped_agrees(body, strlen(body));
    if (!took) fprintf(stderr, "declined: %s\n", body);
    CHECK(took);
}

/* The shaped tier declines body, and serve_parse_v2 answers exactly as the slow path. */
static void check_declined(const char *body)
{
    bool took = shaped_agrees(body, strlen(body));
    if (took) fprintf(stderr, "taken: %s\n", body);
    CHECK(!took);
    test_check_v2_as_slow_path(body);
}

/* The bench's kind of request, shortened, with an id: BYTES, INT64, FP64, BOOL, FP32 and a
 * two-row INT32 tensor; %s marks where each value goes. */
static const char shape_fmt[] =
    "{\"id\":%s,\"inputs\":[{\"name\":\"state\",\"shape\":[1],\"datatype\":\"BYTES\","
    "\"data\":[%s]},{\"name\":\"account_length\",\"shape\":[1],\"datatype\":\"INT64\","
    "\"data\":[%s]},{\"name\":\"total_day_minutes\",\"shape\":[1],\"datatype\":\"FP64\","
    "\"data\":[%s]},{\"name\":\"plan\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[%s]},"
    "{\"name\":\"f\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[%s]}]}";

static char *shaped_body(const char *id, const char *s, const char *i, const char *d, const char *b,
                         const char *f)
{
    static char out[1024];
    snprintf(out, sizeof out, shape_fmt, id, s, i, d, b, f);
    return out;
}

TEST(proto_v2_shaped_takes_new_values)
{
    remember(shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5"));
    check_taken(shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5"));
    check_taken(shaped_body("\"request 2\"", "\"OH\"", "-7", "0.0", "false", "-1e-3"));
    check_taken(shaped_body("\"\"", "null", "null", "null", "null", "null"));
    check_taken(shaped_body("\"q\\\"\\\\\\/\\n\"",
                            "\"gr\xc3\xb6\xc3\x9f"
                            "e \\t \xf0\x9f\x98\x80\"",
                            "-9223372036854775808", "1.7976931348623157e308", "true", "3.4e38"));
    check_taken(shaped_body("\"x\"", "\"a much longer value than the first one had\"",
                            "9223372036854775807", "123456789012345678901234567890.5e-3", "false",
                            "1E-46"));
    /* whitespace before a value is the value's, not the shape's */
    check_taken(shaped_body("  \"x\"", "\t\"y\"", "\n1", " 2.5", "\r\ntrue", " 1"));
}

TEST(proto_v2_shaped_declines_other_bodies)
{
    remember(shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5"));
    /* values the fast path itself would not take, or that are wrong for their datatype */
    check_declined(shaped_body("\"r\"", "\"\\u0041\"", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\x01\"", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"\xff\"", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "1", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1.5", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "9223372036854775808", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "01", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1e400", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1.", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "-", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1", "tru", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1", "1", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1", "true", "1e39"));
    check_declined(shaped_body("1", "\"a\"", "1", "1", "true", "1"));
    check_declined(shaped_body("null", "\"a\"", "1", "1", "true", "1"));
    /* a value that becomes two, or a nested one: the bytes after it differ */
    check_declined(shaped_body("\"r\"", "\"a\",\"b\"", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "[\"a\"]", "1", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1 2", "1", "true", "1"));
    check_declined(shaped_body("\"r\"", "\"a\"", "1", "1", "truex", "1"));
    /* the same values, other bytes around them */
    const char *ok = shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5");
    char body[1100];
    snprintf(body, sizeof body, "%s ", ok); /* trailing space: valid, but another shape */
    check_declined(body);
    snprintf(body, sizeof body, "%s}", ok);
    check_declined(body);
    snprintf(body, sizeof body, " %s", ok);
    check_declined(body);
    check_declined("{\"inputs\":[]}");
    check_declined("");
}

/* Every byte of a body in the shape changed to each of a few others, and every truncation:
 * whatever the shaped tier takes, the slow path gives the same batch. Those inside a value
 * are mostly taken; those outside are all declined. */
TEST(proto_v2_shaped_every_byte_changed)
{
    const char *base = shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5");
    char body[1024];
    size_t n = strlen(base);
    memcpy(body, base, n + 1);
    remember(body);
    static const char others[] = {'0', '9', '.', '-', 'e', '"',    '\\',
                                  ' ', ',', ']', '}', 'x', '\x01', '\xc3'};
    int taken = 0, tried = 0;
    for (size_t i = 0; i < n; i++) {
        char was = body[i];
        for (size_t k = 0; k < sizeof others; k++) {
            if (others[k] == was) continue;
            body[i] = others[k];
            taken += shaped_agrees(body, n);
            tried++;
        }
        body[i] = was;
    }
    for (size_t cut = 0; cut < n; cut++)
        CHECK(!shaped_agrees(body, cut));
    CHECK(shaped_agrees(body, n));
    CHECK(taken > 0 && taken < tried / 4);
}

TEST(proto_v2_shaped_what_is_not_remembered)
{
    /* Each body is taken by the fast path but not remembered, so after it the shaped tier
     * takes nothing, not even the same body. */
    keel_buf many;
    keel_buf_init(&many);
    keel_buf_puts(&many, "{\"inputs\":[{\"name\":\"x\",\"shape\":[300],\"datatype\":\"INT32\","
                         "\"data\":[");
    for (int r = 0; r < 300; r++) /* more values than a shape keeps */
        keel_buf_printf(&many, "%s%d", r ? "," : "", r);
    keel_buf_puts(&many, "]}]}");
    keel_buf wide;
    keel_buf_init(&wide);
    keel_buf_puts(&wide, "{\"inputs\":[");
    for (int j = 0; j < 130; j++) /* more columns than a shape keeps */
        keel_buf_printf(&wide,
                        "%s{\"name\":\"c%d\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}",
                        j ? "," : "", j);
    keel_buf_puts(&wide, "]}");
    const char *bodies[] = {
        /* explain parameters */
        "{\"parameters\":{\"top_k\":2},\"inputs\":[{\"name\":\"a\",\"shape\":[1],"
        "\"datatype\":\"FP32\",\"data\":[1]}]}",
        /* data before its shape and datatype: read out of order */
        "{\"inputs\":[{\"name\":\"a\",\"data\":[1],\"shape\":[1],\"datatype\":\"FP32\"}]}",
        many.data,
        wide.data,
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        remember(
            "{\"inputs\":[{\"name\":\"z\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}");
        check_taken(
            "{\"inputs\":[{\"name\":\"z\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}]}");
        remember(bodies[i]);
        CHECK(!shaped_agrees(bodies[i], strlen(bodies[i])));
        check_declined(
            "{\"inputs\":[{\"name\":\"z\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}]}");
    }
    keel_buf_free(&many);
    keel_buf_free(&wide);
}

/* A thread that has parsed nothing has no shape; what it remembers is its own. */
static void *other_thread(void *arg)
{
    const char *body = arg;
    serve_batch b;
    bool before = serve_parse_v2_shaped(body, strlen(body), &b, NULL);
    if (before) serve_batch_free(&b);
    remember("{\"inputs\":[{\"name\":\"mine\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}");
    return before ? (void *)1 : NULL;
}

TEST(proto_v2_shaped_per_thread)
{
    const char *body =
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}";
    remember(body);
    pthread_t t;
    void *before = (void *)1;
    REQUIRE(pthread_create(&t, NULL, other_thread, (void *)body) == 0);
    REQUIRE(pthread_join(t, &before) == 0);
    CHECK(before == NULL);
    check_taken(body); /* the other thread's shape did not replace this one's */
}

/* Failing each allocation of the shaped tier in turn: it declines and leaves nothing. */
TEST(proto_v2_shaped_survives_oom)
{
    const char *body = shaped_body("\"r-1\"", "\"KS\"", "128", "265.1", "true", "0.5");
    remember(body);
    test_alloc_reset();
    long live = test_alloc_live();
    int declines = 0;
    for (long n = 1; n < 100; n++) {
        serve_batch b;
        test_fail_alloc_after(n);
        bool took = serve_parse_v2_shaped(body, strlen(body), &b, NULL);
        test_fail_alloc_after(0);
        if (took) {
            CHECK_EQ_INT(b.n_cols, 5);
            serve_batch_free(&b);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        declines++;
        CHECK(is_zero(&b));
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(declines >= 2);
    check_taken(body);
}
