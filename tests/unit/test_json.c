/* Tests of the strict JSON parser (src/base/json.c). */
#include "harness.h"

#include "base/json.h"

#include <stdlib.h>

/* Parses a C string with a fresh doc; returns the code and leaves the doc in *out. */
static int parse(const char *text, keel_json_doc **out, keel_error *e)
{
    *out = keel_json_doc_new();
    if (!*out) return KEEL_ENOMEM;
    return keel_json_parse(*out, text, strlen(text), e);
}

/* Asserts that text fails with code and exactly the message want. */
static void check_error(const char *text, int code, const char *want, int line)
{
    keel_json_doc *d;
    keel_error e = {0, ""};
    int rc = parse(text, &d, &e);
    if (rc != code || strcmp(e.msg, want) != 0)
        harness_fail(__FILE__, line, "%s: got %d \"%s\", want %d \"%s\"", text, rc, e.msg, code,
                     want);
    if (keel_json_root(d) != NULL)
        harness_fail(__FILE__, line, "%s: a failed parse left a root", text);
    keel_json_doc_free(d);
}
#define CHECK_ERROR(text, code, want) check_error(text, code, want, __LINE__)

/* Asserts only that text is rejected with KEEL_EPARSE. */
static void check_rejects(const char *text, size_t n, int line)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e = {0, ""};
    int rc = keel_json_parse(d, text, n, &e);
    if (rc != KEEL_EPARSE || strncmp(e.msg, "line ", 5) != 0)
        harness_fail(__FILE__, line, "\"%.*s\" gave %d \"%s\", want EPARSE", (int)n, text, rc,
                     e.msg);
    keel_json_doc_free(d);
}
#define CHECK_REJECTS(lit) check_rejects(lit, sizeof(lit) - 1, __LINE__)

TEST(json_scalars)
{
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse("null", &d, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->type, KEEL_JSON_NULL);
    CHECK_EQ_INT(keel_json_parse(d, "true", 4, &e), KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->type, KEEL_JSON_BOOL);
    CHECK(keel_json_bool(keel_json_root(d), false) == true);
    CHECK_EQ_INT(keel_json_parse(d, " false ", 7, &e), KEEL_OK);
    CHECK(keel_json_bool(keel_json_root(d), true) == false);
    CHECK_EQ_INT(keel_json_parse(d, "42", 2, &e), KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->type, KEEL_JSON_NUMBER);
    CHECK_NEAR(keel_json_num(keel_json_root(d), 0), 42, 0);
    CHECK_EQ_INT(keel_json_parse(d, "\"hi\"", 4, &e), KEEL_OK);
    CHECK_STR(keel_json_str(keel_json_root(d)), "hi");
    CHECK_EQ_INT(keel_json_root(d)->u.string.len, 2);
    CHECK_EQ_INT(keel_json_parse(d, "\"\"", 2, &e), KEEL_OK);
    CHECK_STR(keel_json_str(keel_json_root(d)), "");
    CHECK_EQ_INT(keel_json_parse(d, "[]", 2, &e), KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->type, KEEL_JSON_ARRAY);
    CHECK_EQ_INT(keel_json_len(keel_json_root(d)), 0);
    CHECK_EQ_INT(keel_json_parse(d, "{}", 2, &e), KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->type, KEEL_JSON_OBJECT);
    CHECK_EQ_INT(keel_json_len(keel_json_root(d)), 0);
    keel_json_doc_free(d);
}

TEST(json_record)
{
    const char *text =
        "{\"id\": 17, \"name\": \"Zoë\", \"score\": -0.25, \"ok\": true,\n"
        " \"tags\": [\"a\", \"b\", null], \"nested\": {\"x\": [1, [2, {\"y\": 3}]]}}";
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse(text, &d, &e) == KEEL_OK);
    const keel_json *r = keel_json_root(d);
    REQUIRE(r != NULL);
    CHECK_EQ_INT(keel_json_len(r), 6);
    CHECK_STR(r->u.object.members[0].key, "id");
    CHECK_EQ_INT(r->u.object.members[0].key_len, 2);
    CHECK_NEAR(keel_json_num(keel_json_get(r, "id"), 0), 17, 0);
    CHECK_STR(keel_json_str(keel_json_get(r, "name")), "Zoë");
    CHECK_NEAR(keel_json_num(keel_json_get(r, "score"), 0), -0.25, 0);
    CHECK(keel_json_bool(keel_json_get(r, "ok"), false));
    const keel_json *tags = keel_json_get(r, "tags");
    CHECK_EQ_INT(keel_json_len(tags), 3);
    CHECK_STR(keel_json_str(keel_json_at(tags, 1)), "b");
    CHECK_EQ_INT(keel_json_at(tags, 2)->type, KEEL_JSON_NULL);
    const keel_json *x = keel_json_get(keel_json_get(r, "nested"), "x");
    CHECK_NEAR(keel_json_num(keel_json_at(x, 0), 0), 1, 0);
    const keel_json *inner = keel_json_at(x, 1);
    CHECK_NEAR(keel_json_num(keel_json_get(keel_json_at(inner, 1), "y"), 0), 3, 0);
    keel_json_doc_free(d);
}

TEST(json_deep_nesting_within_limit)
{
    /* 256 levels are allowed; the 257th is KEEL_ELIMIT at the bracket that opens it. */
    char text[600];
    for (int i = 0; i < 256; i++) {
        text[i] = '[';
        text[256 + i] = ']';
    }
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    CHECK_EQ_INT(keel_json_parse(d, text, 512, &e), KEEL_OK);
    const keel_json *v = keel_json_root(d);
    int depth = 0;
    while (v && v->type == KEEL_JSON_ARRAY) {
        depth++;
        v = keel_json_at(v, 0);
    }
    CHECK_EQ_INT(depth, 256);
    for (int i = 0; i < 257; i++) {
        text[i] = '[';
        text[257 + i] = ']';
    }
    CHECK_EQ_INT(keel_json_parse(d, text, 514, &e), KEEL_ELIMIT);
    CHECK_STR(e.msg, "line 1, column 257: nesting deeper than 256 levels");
    CHECK(keel_json_root(d) == NULL);
    keel_json_doc_free(d);
    CHECK_EQ_INT(test_alloc_live(), 0);
}

TEST(json_depth_limit_counts_objects)
{
    keel_buf b;
    keel_buf_init(&b);
    for (int i = 0; i < 300; i++)
        keel_buf_puts(&b, "{\"k\":");
    keel_buf_puts(&b, "1");
    for (int i = 0; i < 300; i++)
        keel_buf_putc(&b, '}');
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    CHECK_EQ_INT(keel_json_parse(d, b.data, b.len, &e), KEEL_ELIMIT);
    CHECK_STR(e.msg, "line 1, column 1281: nesting deeper than 256 levels");
    keel_buf_free(&b);
    keel_json_doc_free(d);
}

TEST(json_string_escapes)
{
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\"", &d, &e) == KEEL_OK);
    const keel_json *r = keel_json_root(d);
    CHECK_STR(keel_json_str(r), "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac");
    CHECK_EQ_INT(r->u.string.len, strlen("a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac"));
    /* A surrogate pair becomes one 4-byte sequence: U+1F600. */
    CHECK_EQ_INT(keel_json_parse(d, "\"\\ud83d\\ude00!\"", 15, &e), KEEL_OK);
    CHECK_STR(keel_json_str(keel_json_root(d)), "\xf0\x9f\x98\x80!");
    /* The extremes: U+10000 and U+10FFFF. */
    CHECK_EQ_INT(keel_json_parse(d, "\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", 26, &e), KEEL_OK);
    CHECK_STR(keel_json_str(keel_json_root(d)), "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    /* Raw UTF-8 passes through unchanged. */
    CHECK_EQ_INT(keel_json_parse(d, "\"\xf0\x9f\x98\x80 \xe4\xb8\xad\"", 10, &e), KEEL_OK);
    CHECK_STR(keel_json_str(keel_json_root(d)), "\xf0\x9f\x98\x80 \xe4\xb8\xad");
    /* Escaped keys are unescaped too. */
    CHECK_EQ_INT(keel_json_parse(d, "{\"k\\u0065y\":1}", 14, &e), KEEL_OK);
    CHECK(keel_json_get(keel_json_root(d), "key") != NULL);
    keel_json_doc_free(d);
}

TEST(json_embedded_nul)
{
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse("{\"a\\u0000b\": \"x\\u0000y\"}", &d, &e) == KEEL_OK);
    const keel_json *r = keel_json_root(d);
    const keel_json_member *m = &r->u.object.members[0];
    CHECK_EQ_INT(m->key_len, 3);
    CHECK(memcmp(m->key, "a\0b", 4) == 0);
    CHECK_EQ_INT(m->value.u.string.len, 3);
    CHECK(memcmp(m->value.u.string.s, "x\0y", 4) == 0);
    /* A C-string lookup cannot name a key with a NUL in it, and must not match its prefix. */
    CHECK(keel_json_get(r, "a") == NULL);
    keel_json_doc_free(d);
}

TEST(json_long_strings_cross_word_boundaries)
{
    /* Stops (quote, backslash, control, high byte) at every offset of the 8-byte scan. */
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    for (int k = 0; k < 24; k++) {
        char text[64], want[64];
        memset(text, 'x', sizeof text);
        memset(want, 'x', sizeof want);
        text[0] = '"';
        memcpy(text + 1 + k, "\\n\xc3\xa9", 4);
        text[40] = '"';
        memcpy(want + k, "\n\xc3\xa9", 3);
        want[38] = '\0';
        CHECK_EQ_INT(keel_json_parse(d, text, 41, &e), KEEL_OK);
        CHECK_STR(keel_json_str(keel_json_root(d)), want);
        text[1 + k] = '\x01';
        CHECK_EQ_INT(keel_json_parse(d, text, 41, &e), KEEL_EPARSE);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "line 1, column %d: control character 0x01 in a string (must be escaped)", k + 2);
        CHECK_STR(e.msg, msg);
    }
    keel_json_doc_free(d);
}

TEST(json_numbers)
{
    struct {
        const char *text;
        double want;
    } cases[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"1", 1.0},
        {"-1", -1.0},
        {"0.5", 0.5},
        {"-0.0", -0.0},
        {"3.14159", 3.14159},
        {"1e3", 1000.0},
        {"1E3", 1000.0},
        {"1e+3", 1000.0},
        {"2.5e-3", 0.0025},
        {"1e308", 1e308},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"4.9406564584124654e-324", 4.9406564584124654e-324},
        {"1e-400", 0.0},
        {"0.1", 0.1},
        {"9007199254740993", 9007199254740992.0}, /* 2^53 + 1 rounds to even */
        {"123456789012345678901234567890", 1.2345678901234568e29},
        {"0.30000000000000004", 0.30000000000000004},
        {"1e22", 1e22},
        {"1e23", 1e23},
        {"0e10", 0.0},
        {"100e-2", 1.0},
    };
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        const char *t = cases[i].text;
        if (keel_json_parse(d, t, strlen(t), &e) != KEEL_OK) {
            harness_fail(__FILE__, __LINE__, "%s: %s", t, e.msg);
            continue;
        }
        const keel_json *r = keel_json_root(d);
        CHECK_EQ_INT(r->type, KEEL_JSON_NUMBER);
        double v = keel_json_num(r, 99);
        if (memcmp(&v, &cases[i].want, sizeof v) != 0) /* bitwise: tells -0 from 0 */
            harness_fail(__FILE__, __LINE__, "%s: %.17g, want %.17g", t, v, cases[i].want);
        double s = strtod(t, NULL);
        if (memcmp(&v, &s, sizeof v) != 0)
            harness_fail(__FILE__, __LINE__, "%s: %.17g, strtod says %.17g", t, v, s);
        CHECK_STR(r->u.number.text, t);
        CHECK_EQ_INT(r->u.number.len, strlen(t));
    }
    /* Beyond the double range: infinity, as strtod says; the text is kept exactly. */
    CHECK_EQ_INT(keel_json_parse(d, "[1e400, -1e400]", 15, &e), KEEL_OK);
    CHECK(isinf(keel_json_num(keel_json_at(keel_json_root(d), 0), 0)));
    CHECK(keel_json_num(keel_json_at(keel_json_root(d), 1), 0) < 0);
    CHECK_STR(keel_json_at(keel_json_root(d), 1)->u.number.text, "-1e400");
    /* A big integer keeps its exact digits for callers that need them (ids). */
    const char *big = "{\"id\":12345678901234567890123}";
    CHECK_EQ_INT(keel_json_parse(d, big, strlen(big), &e), KEEL_OK);
    const keel_json *id = keel_json_get(keel_json_root(d), "id");
    CHECK_STR(id->u.number.text, "12345678901234567890123");
    CHECK_EQ_INT(id->u.number.len, 23);
    keel_json_doc_free(d);
}

TEST(json_numbers_match_strtod)
{
    /* The direct path for short numbers must agree with strtod bit for bit. */
    keel_rng r;
    keel_rng_seed(&r, 7);
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    for (int i = 0; i < 20000; i++) {
        char t[64];
        uint64_t x = keel_rng_next(&r);
        int digits = 1 + (int)(x % 19), frac = (int)((x >> 8) % (unsigned)(digits + 1));
        int len = 0;
        if (x >> 63) t[len++] = '-';
        for (int k = 0; k < digits; k++) {
            if (k == digits - frac && frac) {
                if (k == 0) t[len++] = '0';
                t[len++] = '.';
            }
            int dg = (int)(keel_rng_next(&r) % 10);
            if (k == 0 && frac != digits && dg == 0)
                dg = 1; /* no leading zero in the integer part */
            t[len++] = (char)('0' + dg);
        }
        if ((x >> 20) % 3 == 0) len += snprintf(t + len, 16, "e%d", (int)((x >> 24) % 60) - 30);
        t[len] = '\0';
        if (keel_json_parse(d, t, (size_t)len, &e) != KEEL_OK) {
            harness_fail(__FILE__, __LINE__, "%s: %s", t, e.msg);
            break;
        }
        double v = keel_json_num(keel_json_root(d), 0), s = strtod(t, NULL);
        if (memcmp(&v, &s, sizeof v) != 0) {
            harness_fail(__FILE__, __LINE__, "%s: %.17g, strtod says %.17g", t, v, s);
            break;
        }
    }
    keel_json_doc_free(d);
}

TEST(json_whitespace)
{
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse(" \t\r\n{ \"a\" \n:\t[ 1 ,\r\n2 ] , \"b\" : { } }\n\n ", &d, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_json_len(keel_json_get(keel_json_root(d), "a")), 2);
    /* Other Unicode or ASCII spaces are not JSON whitespace. */
    CHECK_EQ_INT(keel_json_parse(d, "\f1", 2, &e), KEEL_EPARSE);
    CHECK_EQ_INT(keel_json_parse(d, "1\v", 2, &e), KEEL_EPARSE);
    CHECK_EQ_INT(keel_json_parse(d,
                                 "\xc2\xa0"
                                 "1",
                                 3, &e),
                 KEEL_EPARSE);
    keel_json_doc_free(d);
}

TEST(json_duplicate_keys_kept_in_order)
{
    keel_json_doc *d;
    keel_error e;
    REQUIRE(parse("{\"a\":1,\"b\":2,\"a\":3}", &d, &e) == KEEL_OK);
    const keel_json *r = keel_json_root(d);
    CHECK_EQ_INT(keel_json_len(r), 3);
    CHECK_NEAR(keel_json_num(keel_json_get(r, "a"), 0), 1, 0); /* the first */
    CHECK_STR(r->u.object.members[2].key, "a");
    CHECK_NEAR(r->u.object.members[2].value.u.number.value, 3, 0);
    keel_json_doc_free(d);
}

TEST(json_errors_report_line_and_column)
{
    CHECK_ERROR("", KEEL_EPARSE, "line 1, column 1: expected a value, found end of input");
    CHECK_ERROR("   \n  ", KEEL_EPARSE, "line 2, column 3: expected a value, found end of input");
    CHECK_ERROR("{\"a\": 1,\n \"b\": 2\n \"c\": 3}", KEEL_EPARSE,
                "line 3, column 2: expected ',' or '}', found '\"'");
    CHECK_ERROR("[1, 2,]", KEEL_EPARSE,
                "line 1, column 7: expected a value after ',' (no trailing commas)");
    CHECK_ERROR("{\"a\":1,}", KEEL_EPARSE,
                "line 1, column 8: expected a key after ',' (no trailing commas)");
    CHECK_ERROR("[1 2]", KEEL_EPARSE, "line 1, column 4: expected ',' or ']', found '2'");
    CHECK_ERROR("{a:1}", KEEL_EPARSE, "line 1, column 2: expected a string key, found 'a'");
    CHECK_ERROR("{\"a\" 1}", KEEL_EPARSE,
                "line 1, column 6: expected ':' after the key, found '1'");
    CHECK_ERROR("[1,\n\n   x]", KEEL_EPARSE, "line 3, column 4: expected a value, found 'x'");
    CHECK_ERROR("tru", KEEL_EPARSE, "line 1, column 1: expected 'true', found 't'");
    CHECK_ERROR("nulL", KEEL_EPARSE, "line 1, column 1: expected 'null', found 'n'");
    CHECK_ERROR("1 2", KEEL_EPARSE,
                "line 1, column 3: expected end of input after the value, found '2'");
    CHECK_ERROR("[1]]", KEEL_EPARSE,
                "line 1, column 4: expected end of input after the value, found ']'");
    CHECK_ERROR("[", KEEL_EPARSE, "line 1, column 2: expected a value, found end of input");
    CHECK_ERROR("{\"a\":[1,", KEEL_EPARSE,
                "line 1, column 9: expected a value, found end of input");
    CHECK_ERROR("\xef\xbb\xbf{}", KEEL_EPARSE,
                "line 1, column 1: expected a value, found byte 0xEF");
}

TEST(json_number_errors)
{
    CHECK_ERROR("01", KEEL_EPARSE, "line 1, column 1: leading zeros are not allowed in numbers");
    CHECK_ERROR("[-012]", KEEL_EPARSE,
                "line 1, column 2: leading zeros are not allowed in numbers");
    CHECK_ERROR("-", KEEL_EPARSE,
                "line 1, column 2: expected a digit after '-', found end of input");
    CHECK_ERROR("-a", KEEL_EPARSE, "line 1, column 2: expected a digit after '-', found 'a'");
    CHECK_ERROR("1.", KEEL_EPARSE,
                "line 1, column 3: expected a digit after '.', found end of input");
    CHECK_ERROR("1.e5", KEEL_EPARSE, "line 1, column 3: expected a digit after '.', found 'e'");
    CHECK_ERROR("1e", KEEL_EPARSE,
                "line 1, column 3: expected a digit in the exponent, found end of input");
    CHECK_ERROR("1e+", KEEL_EPARSE,
                "line 1, column 4: expected a digit in the exponent, found end of input");
    CHECK_ERROR("[1,\n 2e-x]", KEEL_EPARSE,
                "line 2, column 5: expected a digit in the exponent, found 'x'");
    CHECK_REJECTS("+1");
    CHECK_REJECTS(".5");
    CHECK_REJECTS("NaN");
    CHECK_REJECTS("Infinity");
    CHECK_REJECTS("-Infinity");
    CHECK_REJECTS("0x10");
    CHECK_REJECTS("1.5.3");
    CHECK_REJECTS("- 1");
    CHECK_REJECTS("00");
}

TEST(json_string_errors)
{
    CHECK_ERROR("\"abc", KEEL_EPARSE, "line 1, column 1: unterminated string");
    CHECK_ERROR("[\"abc\\", KEEL_EPARSE, "line 1, column 2: unterminated string");
    CHECK_ERROR("[\"ab\ncd\"]", KEEL_EPARSE,
                "line 1, column 5: control character 0x0A in a string (must be escaped)");
    CHECK_ERROR("\"a\tb\"", KEEL_EPARSE,
                "line 1, column 3: control character 0x09 in a string (must be escaped)");
    CHECK_ERROR("\"a\\qb\"", KEEL_EPARSE, "line 1, column 3: invalid escape: '\\' followed by 'q'");
    CHECK_ERROR("\"\\x41\"", KEEL_EPARSE, "line 1, column 2: invalid escape: '\\' followed by 'x'");
    CHECK_ERROR("\"\\u12\"", KEEL_EPARSE, "line 1, column 2: expected 4 hex digits after \\u");
    CHECK_ERROR("\"\\u12G4\"", KEEL_EPARSE, "line 1, column 2: expected 4 hex digits after \\u");
    CHECK_ERROR("\"ab\\uD800\"", KEEL_EPARSE, "line 1, column 4: lone surrogate \\uD800");
    CHECK_ERROR("\"\\uDC00\\uD800\"", KEEL_EPARSE, "line 1, column 2: lone surrogate \\uDC00");
    CHECK_ERROR("\"\\uD800\\u0041\"", KEEL_EPARSE, "line 1, column 2: lone surrogate \\uD800");
    CHECK_ERROR("\"\\uD800x\"", KEEL_EPARSE, "line 1, column 2: lone surrogate \\uD800");
    CHECK_ERROR("\"\\uD800\\uD800\"", KEEL_EPARSE, "line 1, column 2: lone surrogate \\uD800");
    CHECK_ERROR("{\"k\":\n\"ok \xff\"}", KEEL_EPARSE,
                "line 2, column 5: invalid UTF-8 (byte 0xFF) in a string");
    CHECK_REJECTS("\"\xc0\xaf\"");         /* overlong '/' */
    CHECK_REJECTS("\"\xed\xa0\x80\"");     /* an encoded surrogate */
    CHECK_REJECTS("\"\xf4\x90\x80\x80\""); /* above U+10FFFF */
    CHECK_REJECTS("\"\xe2\x82\"");         /* truncated sequence */
    CHECK_REJECTS("\"\\\xc3\xa9\"");       /* a backslash before a non-ASCII byte */
    CHECK_REJECTS("'single'");
    CHECK_REJECTS("\"a\x7f\x00\""); /* NUL raw byte (0x7F is allowed) */
}

TEST(json_rejects_non_json)
{
    CHECK_REJECTS("// c\n1");
    CHECK_REJECTS("/* c */ 1");
    CHECK_REJECTS("[1,,2]");
    CHECK_REJECTS("[,]");
    CHECK_REJECTS("{\"a\"}");
    CHECK_REJECTS("{\"a\":}");
    CHECK_REJECTS("{1:2}");
    CHECK_REJECTS("[1}");
    CHECK_REJECTS("{\"a\":1]");
    CHECK_REJECTS("True");
    CHECK_REJECTS("undefined");
    CHECK_REJECTS("\"a\" \"b\"");
    CHECK_REJECTS("1\0");
}

TEST(json_input_is_not_read_past_n)
{
    /* The text need not be NUL-terminated: parsing stops at n. */
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    const char *t = "[12345]garbage";
    CHECK_EQ_INT(keel_json_parse(d, t, 7, &e), KEEL_OK);
    CHECK_EQ_INT(keel_json_parse(d, t, 3, &e), KEEL_EPARSE);
    CHECK_STR(e.msg, "line 1, column 4: expected ',' or ']', found end of input");
    CHECK_EQ_INT(keel_json_parse(d, "truex", 3, &e), KEEL_EPARSE);
    CHECK_EQ_INT(keel_json_parse(d, NULL, 0, &e), KEEL_EPARSE);
    CHECK_EQ_INT(keel_json_parse(NULL, "1", 1, &e), KEEL_EINVAL);
    keel_json_doc_free(d);
}

TEST(json_doc_reuse_does_not_allocate_when_warm)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    char line[256];
    int n =
        snprintf(line, sizeof line,
                 "{\"id\":%d,\"name\":\"user %d\",\"tags\":[\"a\",\"b\\n\"],\"v\":%d.5}", 1, 1, 1);
    REQUIRE(keel_json_parse(d, line, (size_t)n, &e) == KEEL_OK);
    long before = test_alloc_count();
    for (int i = 0; i < 10000; i++) {
        n = snprintf(line, sizeof line,
                     "{\"id\":%d,\"name\":\"user %d\",\"tags\":[\"a\",\"b\\n\"],\"v\":%d.5}", i, i,
                     i);
        if (keel_json_parse(d, line, (size_t)n, &e) != KEEL_OK) {
            harness_fail(__FILE__, __LINE__, "%s: %s", line, e.msg);
            break;
        }
        const keel_json *r = keel_json_root(d);
        if (keel_json_num(keel_json_get(r, "id"), -1) != i) {
            harness_fail(__FILE__, __LINE__, "record %d read back wrong", i);
            break;
        }
        if (i % 100 == 0) /* failures in between must not spoil the doc */
            CHECK_EQ_INT(keel_json_parse(d, "[1,", 3, &e), KEEL_EPARSE);
    }
    CHECK_EQ_INT(test_alloc_count() - before, 0);
    keel_json_doc_free(d);
    CHECK_EQ_INT(test_alloc_live(), 0);
}

TEST(json_doc_reuse_after_big_document)
{
    /* A document much larger than one block, then small ones, then large again. */
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_putc(&b, '[');
    for (int i = 0; i < 100000; i++)
        keel_buf_printf(&b, "%s{\"k%d\":\"%d\"}", i ? "," : "", i, i);
    keel_buf_putc(&b, ']');
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    for (int round = 0; round < 3; round++) {
        REQUIRE(keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
        const keel_json *r = keel_json_root(d);
        CHECK_EQ_INT(keel_json_len(r), 100000);
        CHECK_STR(keel_json_str(keel_json_get(keel_json_at(r, 99999), "k99999")), "99999");
        CHECK_EQ_INT(keel_json_parse(d, "{\"a\":[1]}", 9, &e), KEEL_OK);
        CHECK_NEAR(keel_json_num(keel_json_at(keel_json_get(keel_json_root(d), "a"), 0), 0), 1, 0);
    }
    /* One huge string: a block of its own, given back by the next parse. */
    keel_buf_reset(&b);
    keel_buf_putc(&b, '"');
    for (int i = 0; i < (10 << 20); i++)
        keel_buf_putc(&b, (char)('a' + i % 26));
    keel_buf_putc(&b, '"');
    REQUIRE(keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_json_root(d)->u.string.len, 10 << 20);
    long live = test_alloc_live();
    CHECK_EQ_INT(keel_json_parse(d, "1", 1, &e), KEEL_OK);
    CHECK(test_alloc_live() < live);
    keel_buf_free(&b);
    keel_json_doc_free(d);
    CHECK_EQ_INT(test_alloc_live(), 0);
}

TEST(json_out_of_memory_is_reported_and_recovers)
{
    /* Enough nodes and text to need several arena blocks and scratch growth. */
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "{\"rows\":[");
    for (int i = 0; i < 2000; i++)
        keel_buf_printf(&b, "%s[%d,\"s\\u00e9%d\",{\"x\":%d.25}]", i ? "," : "", i, i, i);
    keel_buf_puts(&b, "]}");
    long start = test_alloc_live();
    int done = 0;
    for (long n = 1; n < 1000 && !done; n++) {
        keel_json_doc *d = keel_json_doc_new();
        test_fail_alloc_after(n);
        if (!d) {
            test_fail_alloc_after(0);
            CHECK_EQ_INT(test_alloc_live(), start);
            continue;
        }
        keel_error e;
        int rc = keel_json_parse(d, b.data, b.len, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            done = 1;
        } else {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(strstr(e.msg, "out of memory") != NULL);
            CHECK(keel_json_root(d) == NULL);
            /* The doc is still usable. */
            CHECK_EQ_INT(keel_json_parse(d, b.data, b.len, &e), KEEL_OK);
        }
        const keel_json *rows = keel_json_get(keel_json_root(d), "rows");
        CHECK_EQ_INT(keel_json_len(rows), 2000);
        CHECK_STR(keel_json_str(keel_json_at(keel_json_at(rows, 1999), 1)), "s\xc3\xa9"
                                                                            "1999");
        keel_json_doc_free(d);
        CHECK_EQ_INT(test_alloc_live(), start);
    }
    CHECK(done);
    keel_buf_free(&b);
}

TEST(json_lookup_helpers_are_null_safe)
{
    CHECK(keel_json_root(NULL) == NULL);
    CHECK(keel_json_get(NULL, "a") == NULL);
    CHECK(keel_json_at(NULL, 0) == NULL);
    CHECK_EQ_INT(keel_json_len(NULL), 0);
    CHECK_NEAR(keel_json_num(NULL, 2.5), 2.5, 0);
    CHECK(keel_json_str(NULL) == NULL);
    CHECK(keel_json_bool(NULL, true) == true);
    keel_json_doc_free(NULL);

    keel_json_doc *d = keel_json_doc_new();
    CHECK(keel_json_root(d) == NULL); /* nothing parsed yet */
    keel_error e;
    const char *t = "{\"s\":\"x\",\"n\":1,\"b\":false,\"a\":[true],\"o\":{\"k\":null}}";
    REQUIRE(keel_json_parse(d, t, strlen(t), &e) == KEEL_OK);
    const keel_json *r = keel_json_root(d);
    const keel_json *s = keel_json_get(r, "s"), *n = keel_json_get(r, "n");
    const keel_json *b = keel_json_get(r, "b"), *a = keel_json_get(r, "a");
    const keel_json *o = keel_json_get(r, "o");
    CHECK(keel_json_get(r, "missing") == NULL);
    CHECK(keel_json_get(r, NULL) == NULL);
    CHECK(keel_json_get(r, "") == NULL);
    CHECK(keel_json_get(a, "s") == NULL); /* an array is not an object */
    CHECK(keel_json_get(s, "s") == NULL);
    CHECK(keel_json_at(r, 0) == NULL); /* an object is not an array */
    CHECK(keel_json_at(a, 1) == NULL); /* out of range */
    CHECK(keel_json_at(a, (size_t)-1) == NULL);
    CHECK(keel_json_bool(keel_json_at(a, 0), false) == true);
    CHECK_EQ_INT(keel_json_len(s), 0);
    CHECK_EQ_INT(keel_json_len(o), 1);
    CHECK_EQ_INT(keel_json_len(r), 5);
    CHECK_NEAR(keel_json_num(s, -1), -1, 0);
    CHECK_NEAR(keel_json_num(b, -1), -1, 0);
    CHECK(keel_json_str(n) == NULL);
    CHECK(keel_json_str(keel_json_get(o, "k")) == NULL);
    CHECK(keel_json_bool(n, true) == true);
    CHECK(keel_json_bool(b, true) == false);
    keel_json_doc_free(d);
}

TEST(json_errors_accept_null_error_struct)
{
    keel_json_doc *d = keel_json_doc_new();
    CHECK_EQ_INT(keel_json_parse(d, "[1,]", 4, NULL), KEEL_EPARSE);
    CHECK_EQ_INT(keel_json_parse(d, "[1]", 3, NULL), KEEL_OK);
    keel_json_doc_free(d);
}
