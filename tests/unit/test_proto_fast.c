/*
 * test_proto_fast.c — serve_parse_v2's single-pass fast path (src/serve/proto_v2_fast.c): that it
 * takes the common request shapes and builds exactly the slow path's batch (every value bit
 * for bit), that it declines everything it is not sure of (so that serve_parse_v2 answers
 * exactly as the slow path, messages included), that the explain parameters read the same
 * through it, and that it survives out-of-memory at every allocation.
 */
#include "serve/serve.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"

#include <stdlib.h>

/* The fast path takes body and agrees with the slow path. */
static void check_taken(const char *body)
{
    serve_batch f, s;
    serve_error ef = {.status = 77}, es;
    bool took = serve_parse_v2_fast(body, strlen(body), &f, &ef);
    if (!took) fprintf(stderr, "declined: %s\n", body);
    REQUIRE(took);
    CHECK_EQ_INT(ef.status, 0);
    CHECK_STR(ef.msg, "");
    REQUIRE(serve_parse_v2_slow(body, strlen(body), &s, &es) == KEEL_OK);
    if (!test_same_batch(&f, &s)) fprintf(stderr, "batches differ: %s\n", body);
    CHECK(test_same_batch(&f, &s));
    serve_batch_free(&f);
    serve_batch_free(&s);
}

/* The fast path declines body, leaving the batch zeroed, and serve_parse_v2 answers as the
 * slow path: same code, status, message, batch. */
static void check_declined(const char *body)
{
    serve_batch f;
    memset(&f, 0x55, sizeof f);
    bool took = serve_parse_v2_fast(body, strlen(body), &f, NULL);
    if (took) fprintf(stderr, "taken: %s\n", body);
    CHECK(!took);
    CHECK(f.arena == NULL && f.cols == NULL && f.id == NULL && f.n_rows == 0 && f.n_cols == 0);
    if (took) serve_batch_free(&f);
    test_check_v2_as_slow_path(body);
}

TEST(proto_v2_fast_takes_common_bodies)
{
    static const char *const bodies[] = {
        /* the bench's churn request, shortened: BYTES, INT64, FP64 */
        "{\"inputs\":[{\"name\":\"state\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"KS\"]},"
        "{\"name\":\"account_length\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[128]},"
        "{\"name\":\"total_day_minutes\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[265.1]}]}",
        /* nested data, nulls, every datatype at its limits */
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [3, 1], \"datatype\": \"FP64\", \"data\": "
        "[[1.5], [null], [-0.0]]}, {\"name\": \"y\", \"datatype\": \"INT16\", \"shape\": [3], "
        "\"data\": [[1, 2], [null]]}]}",
        "{\"inputs\":[{\"name\":\"b\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,null]},"
        "{\"name\":\"u8\",\"shape\":[2],\"datatype\":\"UINT8\",\"data\":[255,0]},"
        "{\"name\":\"u16\",\"shape\":[2],\"datatype\":\"UINT16\",\"data\":[65535,null]},"
        "{\"name\":\"u32\",\"shape\":[2],\"datatype\":\"UINT32\",\"data\":[4294967295,1]},"
        "{\"name\":\"u64\",\"shape\":[2],\"datatype\":\"UINT64\",\"data\":[9223372036854775807,0]},"
        "{\"name\":\"i8\",\"shape\":[2],\"datatype\":\"INT8\",\"data\":[-128,127]},"
        "{\"name\":\"i16\",\"shape\":[2],\"datatype\":\"INT16\",\"data\":[-32768,-0]},"
        "{\"name\":\"i32\",\"shape\":[2],\"datatype\":\"INT32\",\"data\":[-2147483648,2147483647]},"
        "{\"name\":\"i64\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[-9223372036854775808,7]},"
        "{\"name\":\"f32\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[3.4e38,1e-46]},"
        "{\"name\":\"f64\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":"
        "[1.7976931348623157e308,123456789012345678901234567890.5e-3]},"
        "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"\",null]}]}",
        /* one-letter escapes in the id, names and values; UTF-8 as is */
        "{\"id\":\"q\\\"1\\\\/\",\"inputs\":[{\"name\":\"a\\tb\\n\\\"c\\\"\\\\d\\/e\\b\\f\\r\","
        "\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"x\\\\y\",\"t\\\"z\"]}]}",
        "{\"inputs\":[{\"name\":\"gr\xc3\xb6\xc3\x9f"
        "e\",\"shape\":[1],\"datatype\":\"FP32\","
        "\"data\":[1.25]},{\"name\":\"\xe5\x90\x8d\",\"shape\":[1],\"datatype\":\"BYTES\","
        "\"data\":[\"\xe6\x9d\xb1 \xf0\x9f\x98\x80\"]}]}",
        /* id, outputs, parameters, unknown keys, data before shape and datatype, spacing */
        " {\r\n\t\"model\" : {\"x\": [1, {\"y\": null}]},"
        " \"id\" : \"r-2\" , \"outputs\" : [ {\"name\": \"label\", \"parameters\": "
        "{\"binary_data\": false}} , {\"name\": \"p\"} ], \"parameters\" : {\"method\": "
        "\"shapley\", \"top_k\": 3}, \"inputs\" : [ {\"data\" : [ 1 , 2 ] , \"parameters\": "
        "{\"content_type\": \"np\"}, \"name\" : \"a\" , \"datatype\" : \"INT32\", \"shape\" :"
        " [ 2 ] } ] } \n",
        "{\"inputs\":[{\"name\":\"a\",\"data\":[],\"shape\":[0],\"datatype\":\"FP32\"}],"
        "\"outputs\":[]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"data\":[[[[0.5]]],[[]],[1]],"
        "\"datatype\":\"FP64\"}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        check_taken(bodies[i]);
}

/* Strings are scanned eight bytes at a time, jumping to the first byte that needs a look:
 * put each such byte (a quote ending the string, an escape, a control byte, UTF-8, a byte
 * that is not UTF-8) at every position of the first words of a name and a value, and check
 * that the fast path takes what it should and agrees with the slow path either way. */
TEST(proto_v2_fast_strings_at_every_offset)
{
    static const struct {
        const char *bytes;
        bool taken;
    } specials[] = {{"", true},         {"\\\"", true},         {"\\n", true},
                    {"\xc3\xa9", true}, {"\xe2\x82\xac", true}, {"\x01", false},
                    {"\xff", false},    {"\xc3", false},        {"\\u0041", false}};
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        for (int at = 0; at <= 20; at++) {
            char text[64];
            snprintf(text, sizeof text, "%.*s%s%s", at, "abcdefghijklmnopqrstuvwxyz",
                     specials[k].bytes, "xyz");
            char body[256];
            snprintf(body, sizeof body,
                     "{\"inputs\":[{\"name\":\"%s\",\"shape\":[1],\"datatype\":\"BYTES\","
                     "\"data\":[\"%s\"]}]}",
                     text, text);
            if (specials[k].taken)
                check_taken(body);
            else
                check_declined(body);
        }
    }
}

TEST(proto_v2_fast_declines_what_it_is_not_sure_of)
{
    static const char *const bodies[] = {
        /* accepted by the slow path, but spelled in ways the fast path leaves to it */
        "{\"inputs\":[{\"name\":\"\\u00e9\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\\u0041\"]}]"
        "}",
        "{\"inputs\":[{\"n\\u0061me\":\"a\",\"name\":\"b\",\"shape\":[1],\"datatype\":\"FP64\","
        "\"data\":[1]}]}",
        "{\"x\":\"\\ud83d\\ude00\",\"inputs\":[{\"name\":\"a\",\"shape\":[1],"
        "\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1.0],\"datatype\":\"INT64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[1e2]}]}",
        "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
        "\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":"
        "[1.00000000000000000000000000000000000000000000000000000000000000001]}]}",
        /* refused by the slow path: every message must stay its own */
        "",
        "[]",
        "{}",
        "{\"inputs\":[]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]} x",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1],}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}],"
        "\"inputs\":[]}",
        "{\"inputs\":[{\"name\":\"a\",\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\","
        "\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
        "{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}",
        "{\"inputs\":[{\"name\":\"\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\\u0000\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
        "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[100001],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[128]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"UINT64\",\"data\":"
        "[9223372036854775808]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1e39]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1e400]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[\"1\"]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[{}]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":1}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\"}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[01]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}],"
        "\"parameters\":[]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1],"
        "\"parameters\":1}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}],"
        "\"outputs\":[{\"x\":1}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}],"
        "\"id\":7}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\x01\"]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\xc3\"]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\\x\"]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"a",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        check_declined(bodies[i]);
}

/* Names are checked for repeats by comparison up to 64 columns and by a hash table beyond:
 * both ways must take unique names and decline a repeat, wherever it is. */
TEST(proto_v2_fast_wide_requests)
{
    for (int dup = -1; dup < 200; dup += 67) {
        keel_buf body;
        keel_buf_init(&body);
        keel_buf_puts(&body, "{\"inputs\": [");
        for (int j = 0; j < 200; j++)
            keel_buf_printf(&body,
                            "%s{\"name\": \"c%d\", \"shape\": [2], \"datatype\": \"FP32\", "
                            "\"data\": [%d, null]}",
                            j ? "," : "", j == dup ? 0 : j, j);
        keel_buf_puts(&body, "]}");
        if (dup < 0)
            check_taken(body.data);
        else
            check_declined(body.data);
        keel_buf_free(&body);
    }
}

/* Repeats are found by a fingerprint of each name (its length, first and last eight bytes)
 * before comparing bytes: a repeat of every length is declined, and names that share the
 * fingerprint's bytes but differ in the middle are taken as different. */
TEST(proto_v2_fast_repeated_names_of_every_length)
{
    for (int len = 1; len <= 24; len++) {
        char name[32], other[32];
        for (int i = 0; i < len; i++)
            name[i] = other[i] = (char)('a' + i % 26);
        name[len] = other[len] = '\0';
        other[len / 2] = 'Z'; /* the middle differs: outside the first and last eight bytes
                                 once len > 16 */
        for (int repeat = 0; repeat < 2; repeat++) {
            char body[512];
            snprintf(body, sizeof body,
                     "{\"inputs\":[{\"name\":\"%s\",\"shape\":[1],\"datatype\":\"FP64\","
                     "\"data\":[1]},{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\","
                     "\"data\":[2]},{\"name\":\"%s\",\"shape\":[1],\"datatype\":\"FP64\","
                     "\"data\":[3]}]}",
                     name, repeat ? name : other);
            if (repeat)
                check_declined(body);
            else
                check_taken(body);
        }
    }
}

/* The explain parameters of a batch from the fast path read as from the slow path's. */
TEST(proto_v2_fast_explain_parameters)
{
    static const char *const params[] = {
        "",
        ", \"parameters\": {}",
        ", \"parameters\": {\"method\": \"ig\", \"scale\": \"probability\", \"top_k\": 4, "
        "\"class\": \"yes\"}",
        ", \"parameters\": {\"method\": \"shapley\", \"class\": 1.50}",
        ", \"parameters\": {\"method\": \"nope\"}",
        ", \"parameters\": {\"top_k\": 99}",
        ", \"parameters\": {\"colour\": \"red\"}",
        ", \"parameters\": {\"method\": \"ig\", \"method\": \"ig\"}",
    };
    for (size_t i = 0; i < sizeof params / sizeof *params; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\", "
                 "\"data\": [1]}]%s}",
                 params[i]);
        serve_batch f, s;
        REQUIRE(serve_parse_v2_fast(body, strlen(body), &f, NULL));
        REQUIRE(serve_parse_v2_slow(body, strlen(body), &s, NULL) == KEEL_OK);
        serve_explain_params pf, ps;
        serve_error ef, es;
        int rf = serve_parse_explain_params(&f, &pf, &ef);
        int rs = serve_parse_explain_params(&s, &ps, &es);
        CHECK_EQ_INT(rf, rs);
        CHECK_EQ_INT(ef.status, es.status);
        CHECK_STR(ef.msg, es.msg);
        if (rf == KEEL_OK) {
            CHECK_EQ_INT(pf.method, ps.method);
            CHECK_EQ_INT(pf.scale, ps.scale);
            CHECK_EQ_INT(pf.top_k, ps.top_k);
            CHECK(test_same_text(pf.class_label, ps.class_label));
        }
        serve_batch_free(&f);
        serve_batch_free(&s);
    }
}

/* Failing each allocation of the fast path in turn: it declines, leaving nothing behind,
 * and serve_parse_v2 still answers (the slow path runs after the failure). */
TEST(proto_v2_fast_survives_oom)
{
    keel_buf body;
    keel_buf_init(&body);
    keel_buf_puts(&body, "{\"id\": \"x\", \"parameters\": {\"method\": \"ig\"}, \"inputs\": [");
    for (int j = 0; j < 80; j++) /* past 64 columns: the name table too */
        keel_buf_printf(&body,
                        "%s{\"name\": \"c%d\", \"shape\": [3, 1], \"datatype\": \"%s\", "
                        "\"data\": [\"1\", null, \"0\"]}",
                        j ? "," : "", j, "BYTES");
    keel_buf_puts(&body, "]}");
    test_alloc_reset();
    long live = test_alloc_live();
    int declines = 0;
    for (long n = 1; n < 10000; n++) {
        serve_batch b;
        test_fail_alloc_after(n);
        bool took = serve_parse_v2_fast(body.data, body.len, &b, NULL);
        test_fail_alloc_after(0);
        if (took) {
            CHECK_EQ_INT(b.n_cols, 80);
            serve_batch_free(&b);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        declines++;
        CHECK(b.arena == NULL && b.cols == NULL && b.id == NULL);
        CHECK_EQ_INT(test_alloc_live(), live);
        serve_error err;
        test_fail_alloc_after(n);
        int rc = serve_parse_v2(body.data, body.len, &b, &err);
        test_fail_alloc_after(0);
        CHECK_EQ_INT(rc, KEEL_OK);
        CHECK_EQ_INT(b.n_cols, 80);
        serve_batch_free(&b);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(declines >= 4);
    keel_buf_free(&body);
}
