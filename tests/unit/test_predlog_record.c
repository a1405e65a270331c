/* Tests of the prediction log's record (src/data/predlog_record.c): the exact line the
 * server writes; write -> read round trips for every column type, missing values and odd
 * names; hostile and broken lines refused with a message naming the field; the time format;
 * out of memory in the writer and the reader. */
#include "harness.h"

#include "data/predlog_record.h"

#include <math.h>
#include <stdlib.h>

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* 2026-11-24T10:00:00.123456Z */
#define T_MICROS INT64_C(1795514400123456)

/* A request of two rows with one column of each type (the second row's values missing
 * where a column has missing flags) and a classifier's two outputs. */
typedef struct fixture {
    const char *text[2];
    double f64[2];
    float f32[2];
    int64_t i64[2];
    int32_t i32[2];
    unsigned char boolean[2], missing[2];
    keel_input_column cols[6];
    float pred[4];
    const char *names[2];
    keel_predlog_request q;
} fixture;

static void fixture_init(fixture *f)
{
    *f = (fixture){.text = {"KS", "caf\xc3\xa9 \"q\""},
                   .f64 = {128.5, 0.1},
                   .f32 = {0.1f, -3.25f},
                   .i64 = {INT64_C(9007199254740993), -7},
                   .i32 = {415, INT32_MIN},
                   .boolean = {1, 0},
                   .missing = {0, 1},
                   .pred = {0.93f, 0.07f, 0.25f, 0.75f},
                   .names = {"no", "yes"}};
    f->cols[0] = (keel_input_column){"state", KEEL_COL_TEXT, f->text, NULL};
    f->cols[1] = (keel_input_column){"total day minutes", KEEL_COL_F64, f->f64, f->missing};
    f->cols[2] = (keel_input_column){"rate", KEEL_COL_F32, f->f32, NULL};
    f->cols[3] = (keel_input_column){"big", KEEL_COL_I64, f->i64, NULL};
    f->cols[4] = (keel_input_column){"area_code", KEEL_COL_I32, f->i32, NULL};
    f->cols[5] = (keel_input_column){"intl", KEEL_COL_BOOL, f->boolean, f->missing};
    f->q = (keel_predlog_request){.request_id = "req-42",
                                  .time_micros = T_MICROS,
                                  .protocol = "v2",
                                  .model = "churn",
                                  .version = "3",
                                  .sha256 = SHA,
                                  .latency_seconds = 41.24e-6,
                                  .cols = f->cols,
                                  .n_cols = 6,
                                  .n_rows = 2,
                                  .output_names = f->names,
                                  .n_outputs = 2,
                                  .outputs = f->pred};
}

/* Row r of f->q as a line; returns it (static, valid until the next call). */
static const char *line_of(const keel_predlog_request *q, size_t r)
{
    static keel_buf line;
    keel_buf head;
    keel_buf_init(&head);
    keel_buf_reset(&line);
    int rc = keel_predlog_record_head(&head, q);
    if (rc == KEEL_OK) rc = keel_predlog_record_write(&line, q, &head, r);
    keel_buf_free(&head);
    return rc == KEEL_OK ? line.data : NULL;
}

TEST(predlog_record_writes_the_documented_line)
{
    fixture f;
    fixture_init(&f);
    CHECK_STR(line_of(&f.q, 0),
              "{\"request_id\":\"req-42\",\"row\":0,\"time\":\"2026-11-24T10:00:00.123456Z\","
              "\"protocol\":\"v2\",\"model\":\"churn\",\"version\":\"3\",\"sha256\":\"" SHA "\","
              "\"inputs\":{\"state\":\"KS\",\"total day minutes\":128.5,\"rate\":0.1,"
              "\"big\":9007199254740993,\"area_code\":415,\"intl\":true},"
              "\"outputs\":{\"no\":0.93,\"yes\":0.07},\"latency_us\":41.2}");
    CHECK_STR(line_of(&f.q, 1),
              "{\"request_id\":\"req-42\",\"row\":1,\"time\":\"2026-11-24T10:00:00.123456Z\","
              "\"protocol\":\"v2\",\"model\":\"churn\",\"version\":\"3\",\"sha256\":\"" SHA "\","
              "\"inputs\":{\"state\":\"caf\xc3\xa9 \\\"q\\\"\",\"total day minutes\":null,"
              "\"rate\":-3.25,\"big\":-7,\"area_code\":-2147483648,\"intl\":null},"
              "\"outputs\":{\"no\":0.25,\"yes\":0.75},\"latency_us\":41.2}");
    /* A whole second leaves the fraction out; a zero or NaN latency is 0.0. */
    f.q.time_micros = T_MICROS - 123456;
    f.q.latency_seconds = NAN;
    f.q.n_cols = 0;
    f.q.n_outputs = 1;
    f.names[0] = "prediction";
    f.pred[0] = NAN;
    CHECK_STR(line_of(&f.q, 0), "{\"request_id\":\"req-42\",\"row\":0,\"time\":"
                                "\"2026-11-24T10:00:00Z\",\"protocol\":\"v2\",\"model\":\"churn\","
                                "\"version\":\"3\",\"sha256\":\"" SHA "\",\"inputs\":{},"
                                "\"outputs\":{\"prediction\":null},\"latency_us\":0.0}");
}

TEST(predlog_record_round_trip)
{
    fixture f;
    fixture_init(&f);
    keel_predlog_reader *rd = keel_predlog_reader_new();
    REQUIRE(rd);
    for (size_t r = 0; r < 2; r++) {
        const char *line = line_of(&f.q, r);
        REQUIRE(line);
        keel_predlog_record rec;
        keel_error e;
        int rc = keel_predlog_record_read(rd, line, strlen(line), &rec, &e);
        if (rc != KEEL_OK) fprintf(stderr, "%s\n", e.msg);
        REQUIRE(rc == KEEL_OK);
        CHECK_STR(rec.request_id, "req-42");
        CHECK_EQ_INT(rec.row, r);
        CHECK_STR(rec.time, "2026-11-24T10:00:00.123456Z");
        CHECK_EQ_INT(rec.time_micros, T_MICROS);
        CHECK_STR(rec.protocol, "v2");
        CHECK_STR(rec.model, "churn");
        CHECK_STR(rec.version, "3");
        CHECK_STR(rec.sha256, SHA);
        CHECK_NEAR(rec.latency_us, 41.2, 1e-12);
        REQUIRE(rec.n_inputs == 6);
        for (size_t c = 0; c < 6; c++)
            CHECK_STR(rec.inputs[c].name, f.cols[c].name);
        const keel_predlog_value *in = rec.inputs;
        CHECK_EQ_INT(in[0].kind, KEEL_PREDLOG_TEXT);
        CHECK_STR(in[0].text, f.text[r]);
        CHECK_EQ_INT(in[0].len, strlen(f.text[r]));
        if (r == 0) {
            CHECK_EQ_INT(in[1].kind, KEEL_PREDLOG_NUMBER);
            CHECK(in[1].number == 128.5);
            CHECK_EQ_INT(in[5].kind, KEEL_PREDLOG_BOOL);
            CHECK(in[5].boolean);
        } else { /* missing */
            CHECK_EQ_INT(in[1].kind, KEEL_PREDLOG_NULL);
            CHECK(isnan(in[1].number) && in[1].text == NULL);
            CHECK_EQ_INT(in[5].kind, KEEL_PREDLOG_NULL);
        }
        CHECK_EQ_INT(in[2].kind, KEEL_PREDLOG_NUMBER);
        CHECK((float)in[2].number == f.f32[r]); /* a float's text reads back as that float */
        CHECK_EQ_INT(in[3].kind, KEEL_PREDLOG_NUMBER);
        CHECK_EQ_INT(strtoll(in[3].text, NULL, 10), f.i64[r]); /* exact beyond 2^53 */
        CHECK_EQ_INT(in[4].kind, KEEL_PREDLOG_NUMBER);
        CHECK(in[4].number == f.i32[r]);
        REQUIRE(rec.n_outputs == 2);
        CHECK_STR(rec.outputs[0].name, "no");
        CHECK_STR(rec.outputs[1].name, "yes");
        CHECK((float)rec.outputs[0].value == f.pred[2 * r]);
        CHECK((float)rec.outputs[1].value == f.pred[2 * r + 1]);
    }
    keel_predlog_reader_free(rd);
}

/* Odd but valid text everywhere the writer puts a string, with the newline the log adds. */
TEST(predlog_record_round_trip_odd_strings)
{
    fixture f;
    fixture_init(&f);
    const char *odd = "tab\there \\ \"quoted\" \xe2\x82\xac\x01";
    f.cols[0].name = odd;
    f.text[0] = odd;
    f.names[1] = odd;
    f.q.request_id = odd;
    f.q.model = odd;
    f.q.protocol = "mlflow";
    f.q.version = "0123456789ab";
    keel_buf line;
    keel_buf_init(&line);
    REQUIRE(keel_buf_puts(&line, line_of(&f.q, 0)) == KEEL_OK);
    REQUIRE(keel_buf_putc(&line, '\n') == KEEL_OK);
    keel_predlog_reader *rd = keel_predlog_reader_new();
    REQUIRE(rd);
    keel_predlog_record rec;
    keel_error e;
    REQUIRE(keel_predlog_record_read(rd, line.data, line.len, &rec, &e) == KEEL_OK);
    CHECK_STR(rec.request_id, odd);
    CHECK_STR(rec.model, odd);
    CHECK_STR(rec.protocol, "mlflow");
    CHECK_STR(rec.version, "0123456789ab");
    CHECK_STR(rec.inputs[0].name, odd);
    CHECK_STR(rec.inputs[0].text, odd);
    CHECK_STR(rec.outputs[1].name, odd);
    /* The reader's memory is reused: a second, narrower line reads as itself. */
    f.q.n_cols = 1;
    f.q.n_outputs = 1;
    const char *narrow = line_of(&f.q, 1);
    REQUIRE(keel_predlog_record_read(rd, narrow, strlen(narrow), &rec, &e) == KEEL_OK);
    CHECK_EQ_INT(rec.n_inputs, 1);
    CHECK_EQ_INT(rec.n_outputs, 1);
    CHECK_EQ_INT(rec.row, 1);
    keel_buf_free(&line);
    keel_predlog_reader_free(rd);
}

/* Every line: the code, and a piece of the message it must give. */
TEST(predlog_record_refuses_broken_lines)
{
    static const char *const good_head =
        "{\"request_id\":\"r\",\"row\":0,\"time\":\"2026-11-24T10:00:00Z\",\"protocol\":\"v2\","
        "\"model\":\"m\",\"version\":\"3\",\"sha256\":\"" SHA "\"";
    static const char *const good_tail =
        ",\"inputs\":{\"a\":1},\"outputs\":{\"yes\":0.5},\"latency_us\":1.5}";
    struct {
        const char *line;
        const char *msg;
    } cases[] = {
        {"", "not JSON: "},
        {"{\"request_id\":", "not JSON: "},
        {"[1,2]", "expected a record (a JSON object), got an array"},
        {"\"text\"", "expected a record (a JSON object), got \"text\""},
        {"{}", "the record has no \"request_id\""},
        {"{\"request_id\":\"r\",\"request_id\":\"s\"}", "\"request_id\": given twice"},
        /* One field broken at a time, in a line that is otherwise whole. */
        {"{\"request_id\":7,\"row\":0,\"time\":\"2026-11-24T10:00:00Z\",\"protocol\":\"v2\","
         "\"model\":\"m\",\"version\":\"3\",\"sha256\":\"" SHA "\",\"inputs\":{},\"outputs\":{},"
         "\"latency_us\":1}",
         "\"request_id\": expected a string, got 7"},
        {"{\"request_id\":\"a\\u0000b\",\"row\":0,\"time\":\"2026-11-24T10:00:00Z\","
         "\"protocol\":\"v2\",\"model\":\"m\",\"version\":\"3\",\"sha256\":\"" SHA "\","
         "\"inputs\":{},\"outputs\":{},\"latency_us\":1}",
         "\"request_id\": must not contain a NUL character"},
    };
    keel_predlog_reader *rd = keel_predlog_reader_new();
    REQUIRE(rd);
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        keel_predlog_record rec;
        keel_error e;
        int rc = keel_predlog_record_read(rd, cases[i].line, strlen(cases[i].line), &rec, &e);
        CHECK_EQ_INT(rc, KEEL_EPARSE);
        if (!strstr(e.msg, cases[i].msg))
            harness_fail(__FILE__, __LINE__, "case %zu: message \"%s\" lacks \"%s\"", i, e.msg,
                         cases[i].msg);
        CHECK(rec.request_id == NULL && rec.inputs == NULL && rec.n_inputs == 0);
    }

    /* Fields replaced in a good line: "KEY" -> VALUE gives the message. */
    struct {
        const char *key, *value, *msg;
    } fields[] = {
        {"row", "-1", "\"row\": expected a whole number from 0, got -1"},
        {"row", "1.5", "\"row\": expected a whole number from 0, got 1.5"},
        {"row", "1e2", "\"row\": expected a whole number from 0, got 1e2"},
        {"row", "99999999999999999999", "\"row\": expected a whole number from 0"},
        {"row", "\"0\"", "\"row\": expected a row number, got \"0\""},
        {"time", "\"2026-11-24 10:00:00Z\"", "\"time\": expected a UTC time such as"},
        {"time", "\"2026-02-29T10:00:00Z\"", "\"time\": expected a UTC time"},
        {"time", "\"2026-11-24T24:00:00Z\"", "\"time\": expected a UTC time"},
        {"time", "\"2026-11-24T10:00:00.12Z\"", "\"time\": expected a UTC time"},
        {"time", "\"2026-11-24T10:00:00+01:00\"", "\"time\": expected a UTC time"},
        {"sha256", "\"abc\"", "\"sha256\": expected 64 lowercase hex digits, got \"abc\""},
        {"sha256", "\"" SHA "0\"", "\"sha256\": expected 64 lowercase hex digits"},
        {"version", "null", "\"version\": expected a string, got null"},
        {"inputs", "[1]", "\"inputs\": expected an object of values by name, got an array"},
        {"inputs", "{\"age\":[1]}",
         "inputs[\"age\"]: expected a number, string, boolean or null, got an array"},
        {"inputs", "{\"age\":{}}", "inputs[\"age\"]: expected a number, string, boolean or null"},
        {"inputs", "{\"age\":1e999}", "inputs[\"age\"]: the number 1e999 is out of range"},
        {"inputs", "{\"a\":1,\"b\":2,\"a\":3}", "inputs[\"a\"]: given twice"},
        {"inputs", "{\"x\\u0000\":1}", "inputs[\"x\\u0000\"]: a name must not contain a NUL"},
        {"outputs", "{\"yes\":\"0.5\"}",
         "outputs[\"yes\"]: expected a number or null, got \"0.5\""},
        {"outputs", "{\"yes\":1e300}", "outputs[\"yes\"]: 1e300 is out of range for a float"},
        {"outputs", "{\"yes\":1,\"yes\":2}", "outputs[\"yes\"]: given twice"},
        {"latency_us", "-1", "\"latency_us\": expected microseconds (a number from 0), got -1"},
        {"latency_us", "true", "\"latency_us\": expected microseconds"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(fields); i++) {
        /* The good line with the field's value replaced (its first occurrence). */
        keel_buf line, good;
        keel_buf_init(&line);
        keel_buf_init(&good);
        REQUIRE(keel_buf_puts(&good, good_head) == KEEL_OK);
        REQUIRE(keel_buf_puts(&good, good_tail) == KEEL_OK);
        char key[40];
        snprintf(key, sizeof key, "\"%s\":", fields[i].key);
        const char *at = strstr(good.data, key);
        REQUIRE(at);
        at += strlen(key);
        const char *end = at;
        int depth = 0;
        bool in_str = false;
        for (; *end; end++) { /* the end of the value: a comma or brace at depth 0 */
            if (in_str) {
                if (*end == '\\')
                    end++;
                else if (*end == '"')
                    in_str = false;
            } else if (*end == '"') {
                in_str = true;
            } else if (*end == '{' || *end == '[') {
                depth++;
            } else if ((*end == '}' || *end == ']') && depth-- == 0) {
                break;
            } else if (*end == ',' && depth == 0) {
                break;
            }
        }
        keel_buf_append(&line, good.data, (size_t)(at - good.data));
        keel_buf_puts(&line, fields[i].value);
        keel_buf_puts(&line, end);
        keel_predlog_record rec;
        keel_error e;
        int rc = keel_predlog_record_read(rd, line.data, line.len, &rec, &e);
        CHECK_EQ_INT(rc, KEEL_EPARSE);
        if (!strstr(e.msg, fields[i].msg))
            harness_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\" (line %s)",
                         fields[i].key, e.msg, fields[i].msg, line.data);
        keel_buf_free(&line);
        keel_buf_free(&good);
    }

    /* The good line itself reads, with a key the reader does not know skipped. */
    keel_buf line;
    keel_buf_init(&line);
    keel_buf_puts(&line, good_head);
    keel_buf_puts(&line, ",\"later\":{\"added\":[1,2]}");
    keel_buf_puts(&line, good_tail);
    keel_predlog_record rec;
    keel_error e;
    REQUIRE(keel_predlog_record_read(rd, line.data, line.len, &rec, &e) == KEEL_OK);
    CHECK_STR(rec.time, "2026-11-24T10:00:00Z");
    CHECK_EQ_INT(rec.time_micros, T_MICROS - 123456);
    CHECK_NEAR(rec.latency_us, 1.5, 0);
    /* Every cut of it is refused, with a message. */
    for (size_t n = 0; n < line.len; n++) {
        int rc = keel_predlog_record_read(rd, line.data, n, &rec, &e);
        CHECK_EQ_INT(rc, KEEL_EPARSE);
        CHECK(e.msg[0] != '\0');
    }
    keel_buf_free(&line);
    keel_predlog_reader_free(rd);
}

/* A long hostile name is quoted short in the message, cut at a character boundary. */
TEST(predlog_record_messages_stay_short)
{
    keel_buf line;
    keel_buf_init(&line);
    keel_buf_puts(&line, "{\"request_id\":\"r\",\"row\":0,\"time\":\"2026-11-24T10:00:00Z\","
                         "\"protocol\":\"v2\",\"model\":\"m\",\"version\":\"3\",\"sha256\":\"" SHA
                         "\",\"outputs\":{},\"latency_us\":1,\"inputs\":{\"");
    for (int i = 0; i < 2000; i++)
        keel_buf_puts(&line, "\xc3\xa9");
    keel_buf_puts(&line, "\":[]}}");
    keel_predlog_reader *rd = keel_predlog_reader_new();
    REQUIRE(rd);
    keel_predlog_record rec;
    keel_error e;
    CHECK_EQ_INT(keel_predlog_record_read(rd, line.data, line.len, &rec, &e), KEEL_EPARSE);
    CHECK(strlen(e.msg) < 200);
    CHECK(strstr(e.msg, "...\"]: expected a number") != NULL);
    CHECK(keel_utf8_valid(e.msg, strlen(e.msg)));
    keel_buf_free(&line);
    keel_predlog_reader_free(rd);
}

/* The times keel_format_timestamp writes read back to the same microseconds. */
TEST(predlog_record_time_round_trip)
{
    keel_rng rng;
    keel_rng_seed(&rng, 7);
    keel_predlog_reader *rd = keel_predlog_reader_new();
    REQUIRE(rd);
    fixture f;
    fixture_init(&f);
    for (int i = 0; i < 2000; i++) {
        /* 1970 to 2286, a whole second one time in four; then the leap day and the edges. */
        int64_t t = (int64_t)(keel_rng_next(&rng) % UINT64_C(10000000000000000));
        if (i % 4 == 0) t -= t % 1000000;
        if (i == 0) t = 0;
        if (i == 1) t = INT64_C(1709164800000000);   /* 2024-02-29T00:00:00Z */
        if (i == 2) t = INT64_C(253402300799999999); /* 9999-12-31T23:59:59.999999Z */
        f.q.time_micros = t;
        const char *line = line_of(&f.q, 0);
        keel_predlog_record rec;
        keel_error e;
        REQUIRE(line && keel_predlog_record_read(rd, line, strlen(line), &rec, &e) == KEEL_OK);
        CHECK_EQ_INT(rec.time_micros, t);
        char want[40];
        keel_format_timestamp(t, want);
        CHECK_STR(rec.time, want);
    }
    keel_predlog_reader_free(rd);
}

/* Out of memory at every allocation in turn: the writer and the reader say so, leak nothing,
 * and succeed once memory is there. */
TEST(predlog_record_out_of_memory)
{
    fixture f;
    fixture_init(&f);
    const char *text = line_of(&f.q, 1);
    REQUIRE(text);
    char *copy = keel_strdup(text);
    REQUIRE(copy);
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 1; n < 1000 && rc == KEEL_ENOMEM; n++) {
        long live = test_alloc_live();
        keel_buf head, line;
        keel_buf_init(&head);
        keel_buf_init(&line);
        test_fail_alloc_after(n);
        rc = keel_predlog_record_head(&head, &f.q);
        if (rc == KEEL_OK) rc = keel_predlog_record_write(&line, &f.q, &head, 1);
        test_fail_alloc_after(0);
        if (rc != KEEL_OK) {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(line.len == 0);
        } else {
            CHECK_STR(line.data, copy);
        }
        keel_buf_free(&head);
        keel_buf_free(&line);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK(n > 2);

    rc = KEEL_ENOMEM;
    for (n = 1; n < 1000 && rc == KEEL_ENOMEM; n++) {
        long live = test_alloc_live();
        keel_predlog_record rec;
        keel_error e;
        test_fail_alloc_after(n);
        keel_predlog_reader *rd = keel_predlog_reader_new();
        rc = rd ? keel_predlog_record_read(rd, copy, strlen(copy), &rec, &e) : KEEL_ENOMEM;
        test_fail_alloc_after(0);
        if (rc != KEEL_OK) {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(rec.request_id == NULL || !rd);
        } else {
            CHECK_EQ_INT(rec.n_inputs, 6);
        }
        keel_predlog_reader_free(rd);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK(n > 2);
    keel_free(copy);
}
