/*
 * test_proto.c — the serving protocols without HTTP (src/serve/proto_*.c): each parser's
 * accepted shapes and the batch they give, every refusal with its status and exact message,
 * out-of-memory at every allocation, and the response writers' exact bodies for models
 * trained here on tests/data/kinds.csv (binary, multiclass and regression).
 */
#include "data/infer.h"
#include "data/validate.h"
#include "model/model.h"
#include "serve/serve.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------------------ */

enum { V2, V1, MLFLOW_JSON, MLFLOW_CSV, V2_SLOW };

static int parse(int proto, const char *body, serve_batch *b, serve_error *err)
{
    size_t n = strlen(body);
    switch (proto) {
    case V2:
        return serve_parse_v2(body, n, b, err);
    case V2_SLOW: /* serve_parse_v2's slow path alone (test_proto_fast.c has the fast one) */
        return serve_parse_v2_slow(body, n, b, err);
    case V1:
        return serve_parse_v1(body, n, b, err);
    case MLFLOW_JSON:
        return serve_parse_mlflow("application/json", body, n, b, err);
    default:
        return serve_parse_mlflow("text/csv", body, n, b, err);
    }
}

static const keel_input_column *col(const serve_batch *b, const char *name)
{
    for (size_t i = 0; i < b->n_cols; i++)
        if (strcmp(b->cols[i].name, name) == 0) return &b->cols[i];
    return NULL;
}

static bool is_missing(const keel_input_column *c, size_t r)
{
    return c->missing && c->missing[r];
}

static const char *text_at(const keel_input_column *c, size_t r)
{
    return ((const char *const *)c->data)[r];
}

static double f64_at(const keel_input_column *c, size_t r)
{
    return ((const double *)c->data)[r];
}

/* Whether every value of two batches is the same (columns in the same order). */
static bool same_batch(const serve_batch *a, const serve_batch *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols) return false;
    for (size_t j = 0; j < a->n_cols; j++) {
        const keel_input_column *x = &a->cols[j], *y = &b->cols[j];
        if (strcmp(x->name, y->name) || x->type != y->type) return false;
        for (size_t r = 0; r < a->n_rows; r++) {
            if (is_missing(x, r) != is_missing(y, r)) return false;
            if (is_missing(x, r)) continue;
            switch (x->type) {
            case KEEL_COL_TEXT:
                if (strcmp(text_at(x, r), text_at(y, r))) return false;
                break;
            case KEEL_COL_F64:
                if (f64_at(x, r) != f64_at(y, r)) return false;
                break;
            case KEEL_COL_BOOL:
                if (((const unsigned char *)x->data)[r] != ((const unsigned char *)y->data)[r])
                    return false;
                break;
            default:
                return false;
            }
        }
    }
    return true;
}

/* A refused body: its code, status and exact message. */
typedef struct refusal {
    const char *body;
    int code, status;
    const char *msg;
} refusal;

static void check_refusals(int proto, const refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        serve_batch b;
        serve_error err;
        memset(&b, 0x55, sizeof b);
        int rc = parse(proto, cases[i].body, &b, &err);
        if (rc != cases[i].code || err.status != cases[i].status ||
            strcmp(err.msg, cases[i].msg) != 0)
            fprintf(stderr, "case %zu: %s\n  rc %d status %d msg: %s\n", i, cases[i].body, rc,
                    err.status, err.msg);
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK_EQ_INT(err.status, cases[i].status);
        CHECK_STR(err.msg, cases[i].msg);
        CHECK(b.cols == NULL && b.arena == NULL && b.n_rows == 0 && b.id == NULL);
    }
}

/* ---- OIP v2 ------------------------------------------------------------------------------ */

TEST(proto_v2_flat_and_nested_tensors)
{
    const char *body =
        "{\"id\": \"req-7\", \"parameters\": {\"x\": 1},"
        " \"inputs\": ["
        "  {\"name\": \"amount\", \"shape\": [3], \"datatype\": \"FP64\", \"data\": [1.5, null, "
        "-2e3]},"
        "  {\"name\": \"plan\", \"shape\": [3, 1], \"datatype\": \"BYTES\","
        "   \"data\": [[\"pro\"], [\"team\"], [null]], \"parameters\": {\"content_type\": "
        "\"str\"}},"
        "  {\"name\": \"active\", \"shape\": [3, 1], \"datatype\": \"BOOL\", \"data\": [true, "
        "false, true]},"
        "  {\"name\": \"visits\", \"shape\": [3], \"datatype\": \"INT32\", \"data\": [[7, 1e3], "
        "[null]]}"
        " ], \"outputs\": [{\"name\": \"label\"}]}";
    serve_batch b;
    serve_error err;
    REQUIRE(serve_parse_v2(body, strlen(body), &b, &err) == KEEL_OK);
    CHECK_STR(b.id, "req-7");
    CHECK_EQ_INT(b.n_rows, 3);
    CHECK_EQ_INT(b.n_cols, 4);
    CHECK_STR(b.cols[0].name, "amount");
    CHECK_EQ_INT(b.cols[0].type, KEEL_COL_F64);
    CHECK_NEAR(f64_at(&b.cols[0], 0), 1.5, 0);
    CHECK(isnan(f64_at(&b.cols[0], 1)) && is_missing(&b.cols[0], 1));
    CHECK_NEAR(f64_at(&b.cols[0], 2), -2000, 0);
    CHECK(!is_missing(&b.cols[0], 0));
    CHECK_EQ_INT(b.cols[1].type, KEEL_COL_TEXT);
    CHECK_STR(text_at(&b.cols[1], 0), "pro");
    CHECK_STR(text_at(&b.cols[1], 1), "team");
    CHECK(text_at(&b.cols[1], 2) == NULL && is_missing(&b.cols[1], 2));
    CHECK_EQ_INT(b.cols[2].type, KEEL_COL_BOOL);
    CHECK(b.cols[2].missing == NULL); /* no nulls: no flags */
    const unsigned char *active = b.cols[2].data;
    CHECK(active[0] == 1 && active[1] == 0 && active[2] == 1);
    CHECK_EQ_INT(b.cols[3].type, KEEL_COL_I32);
    const int32_t *visits = b.cols[3].data;
    CHECK(visits[0] == 7 && visits[1] == 1000 && is_missing(&b.cols[3], 2));
    serve_batch_free(&b);
    CHECK(b.arena == NULL && b.cols == NULL && b.n_rows == 0);
    serve_batch_free(&b); /* twice, and NULL: both fine */
    serve_batch_free(NULL);
}

TEST(proto_v2_datatypes_map_to_columns)
{
    const char *body =
        "{\"inputs\": ["
        "{\"name\": \"i8\", \"shape\": [2], \"datatype\": \"INT8\", \"data\": [-128, 127]},"
        "{\"name\": \"i16\", \"shape\": [2], \"datatype\": \"INT16\", \"data\": [-32768, 32767]},"
        "{\"name\": \"i32\", \"shape\": [2], \"datatype\": \"INT32\", \"data\": [-2147483648, "
        "2.0]},"
        "{\"name\": \"i64\", \"shape\": [2], \"datatype\": \"INT64\","
        " \"data\": [-9223372036854775808, 9223372036854775807]},"
        "{\"name\": \"u8\", \"shape\": [2], \"datatype\": \"UINT8\", \"data\": [0, 255]},"
        "{\"name\": \"u16\", \"shape\": [2], \"datatype\": \"UINT16\", \"data\": [0, 65535]},"
        "{\"name\": \"u32\", \"shape\": [2], \"datatype\": \"UINT32\", \"data\": [0, 4294967295]},"
        "{\"name\": \"u64\", \"shape\": [2], \"datatype\": \"UINT64\", \"data\": [-0, "
        "9223372036854775807]},"
        "{\"name\": \"f32\", \"shape\": [2], \"datatype\": \"FP32\", \"data\": [0.1, 3e38]},"
        "{\"name\": \"f64\", \"shape\": [2], \"datatype\": \"FP64\", \"data\": [0.1, 1e308]},"
        "{\"name\": \"s\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"\", "
        "\"\\u00e9\"]},"
        "{\"name\": \"b\", \"shape\": [2], \"datatype\": \"BOOL\", \"data\": [false, true]}"
        "]}";
    serve_batch b;
    serve_error err;
    REQUIRE(serve_parse_v2(body, strlen(body), &b, &err) == KEEL_OK);
    REQUIRE(b.n_cols == 12 && b.n_rows == 2);
    static const int types[] = {KEEL_COL_I32, KEEL_COL_I32, KEEL_COL_I32,  KEEL_COL_I64,
                                KEEL_COL_I32, KEEL_COL_I32, KEEL_COL_I64,  KEEL_COL_I64,
                                KEEL_COL_F32, KEEL_COL_F64, KEEL_COL_TEXT, KEEL_COL_BOOL};
    for (size_t j = 0; j < 12; j++)
        CHECK_EQ_INT(b.cols[j].type, types[j]);
    const int32_t *i8 = b.cols[0].data, *i16 = b.cols[1].data, *i32 = b.cols[2].data;
    CHECK(i8[0] == -128 && i8[1] == 127 && i16[0] == -32768 && i16[1] == 32767);
    CHECK(i32[0] == INT32_MIN && i32[1] == 2);
    const int64_t *i64 = b.cols[3].data, *u32 = b.cols[6].data, *u64 = b.cols[7].data;
    CHECK(i64[0] == INT64_MIN && i64[1] == INT64_MAX); /* exact, not through a double */
    CHECK(u32[1] == 4294967295LL && u64[0] == 0 && u64[1] == INT64_MAX);
    const int32_t *u8 = b.cols[4].data, *u16 = b.cols[5].data;
    CHECK(u8[1] == 255 && u16[1] == 65535);
    const float *f32 = b.cols[8].data;
    CHECK(f32[0] == 0.1f && f32[1] == 3e38f);
    CHECK(f64_at(&b.cols[9], 0) == 0.1 && f64_at(&b.cols[9], 1) == 1e308);
    CHECK_STR(text_at(&b.cols[10], 0), "");
    CHECK_STR(text_at(&b.cols[10], 1), "\xc3\xa9");
    for (size_t j = 0; j < 12; j++)
        CHECK(b.cols[j].missing == NULL);
    serve_batch_free(&b);
}

TEST(proto_v2_empty_batch_is_valid)
{
    const char *body = "{\"inputs\": [{\"name\": \"a\", \"shape\": [0], \"datatype\": \"FP32\", "
                       "\"data\": []}, {\"name\": \"b\", \"shape\": [0, 1], \"datatype\": "
                       "\"BYTES\", \"data\": [[]]}]}";
    serve_batch b;
    serve_error err;
    REQUIRE(serve_parse_v2(body, strlen(body), &b, &err) == KEEL_OK);
    CHECK_EQ_INT(b.n_rows, 0);
    CHECK_EQ_INT(b.n_cols, 2);
    CHECK(b.id == NULL);
    serve_batch_free(&b);
}

TEST(proto_v2_refusals)
{
    static const refusal cases[] = {
        {"", KEEL_EPARSE, 400,
         "malformed JSON: line 1, column 1: expected a value, found end of input"},
        {"{\"inputs\": [}", KEEL_EPARSE, 400,
         "malformed JSON: line 1, column 13: expected a value, found '}'"},
        {"[1]", KEEL_EPARSE, 400,
         "the body must be a JSON object (an inference request), got an array"},
        {"{}", KEEL_EPARSE, 400, "\"inputs\" is required: a list of tensors, one per column"},
        {"{\"inputs\": [], \"inputs\": []}", KEEL_EPARSE, 400, "inputs: given twice"},
        {"{\"inputs\": {}}", KEEL_EPARSE, 400, "inputs: expected a list of tensors, got an object"},
        {"{\"inputs\": []}", KEEL_EPARSE, 400, "inputs: expected at least one tensor"},
        {"{\"id\": 5, \"inputs\": []}", KEEL_EPARSE, 400, "id: expected a string, got 5"},
        {"{\"parameters\": [], \"inputs\": []}", KEEL_EPARSE, 400,
         "parameters: expected an object, got an array"},
        {"{\"outputs\": [{}], \"inputs\": []}", KEEL_EPARSE, 400,
         "outputs[0]: \"name\" is required"},
        {"{\"inputs\": [3]}", KEEL_EPARSE, 400,
         "inputs[0]: expected a tensor ({\"name\", \"shape\", \"datatype\", \"data\"}), got 3"},
        {"{\"inputs\": [{\"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}", KEEL_EPARSE,
         400, "inputs[0]: \"name\" is required"},
        {"{\"inputs\": [{\"name\": \"a\", \"datatype\": \"FP32\", \"data\": [1]}]}", KEEL_EPARSE,
         400, "inputs[0]: \"shape\" is required"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"data\": [1]}]}", KEEL_EPARSE, 400,
         "inputs[0]: \"datatype\" is required"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\"}]}", KEEL_EPARSE,
         400, "inputs[0]: \"data\" is required"},
        {"{\"inputs\": [{\"name\": \"a\", \"name\": \"b\", \"shape\": [1], \"datatype\": "
         "\"FP32\", \"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[0].name: given twice"},
        {"{\"inputs\": [{\"name\": \"\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[0].name: a column name must not be empty"},
        {"{\"inputs\": [{\"name\": \"a\\u0000b\", \"shape\": [1], \"datatype\": \"FP32\", "
         "\"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[0].name: a column name must not contain a NUL character"},
        {"{\"inputs\": [{\"name\": 1, \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[0].name: expected a string, got 1"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]},"
         "{\"name\": \"b\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]},"
         "{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[2].name: \"a\" is given twice (also inputs[0])"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP16\", \"data\": [1]}]}",
         KEEL_EPARSE, 400, "inputs[0].datatype: datatype FP16 is not supported: send FP32 or FP64"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"fp32\", \"data\": [1]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].datatype: unknown datatype \"fp32\" (expected one of BOOL, UINT8, UINT16, "
         "UINT32, UINT64, INT8, INT16, INT32, INT64, FP32, FP64, BYTES)"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 3], \"datatype\": \"FP32\", \"data\": "
         "[1, 2, 3, 4, 5, 6]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].shape: expected [n] or [n, 1] (one tensor per column, n rows), got [2, 3]"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [], \"datatype\": \"FP32\", \"data\": []}]}",
         KEEL_EPARSE, 400,
         "inputs[0].shape: expected [n] or [n, 1] (one tensor per column, n rows), got []"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 1, 1, 1, 1], \"datatype\": \"FP32\", "
         "\"data\": [1]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].shape: expected [n] or [n, 1] (one tensor per column, n rows), got [1, 1, 1, "
         "1, ...]"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [-1], \"datatype\": \"FP32\", \"data\": []}]}",
         KEEL_EPARSE, 400,
         "inputs[0].shape[0]: -1 is out of range for a dimension (0 to 9223372036854775807)"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [\"2\"], \"datatype\": \"FP32\", \"data\": "
         "[]}]}",
         KEEL_EPARSE, 400, "inputs[0].shape[0]: expected a dimension (an integer), got \"2\""},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1.5], \"datatype\": \"FP32\", \"data\": "
         "[]}]}",
         KEEL_EPARSE, 400, "inputs[0].shape[0]: expected an integer for a dimension, got 1.5"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": 3, \"datatype\": \"FP32\", \"data\": []}]}",
         KEEL_EPARSE, 400, "inputs[0].shape: expected a list of dimensions such as [3], got 3"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [4], \"datatype\": \"FP32\", \"data\": [1, "
         "2, 3]}]}",
         KEEL_EPARSE, 400, "inputs[0].data: 3 values, but shape [4] needs 4"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 1], \"datatype\": \"FP32\", \"data\": "
         "[[1, 2], [3]]}]}",
         KEEL_EPARSE, 400, "inputs[0].data: 3 values, but shape [2, 1] needs 2"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": \"FP32\", \"data\": [1, "
         "2]}, {\"name\": \"b\", \"shape\": [3], \"datatype\": \"FP32\", \"data\": [1, 2, 3]}]}",
         KEEL_EPARSE, 400,
         "inputs[1].shape: 3 rows, but inputs[0] has 2: every tensor needs one value per row"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": "
         "\"AAAA\"}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data: expected a list of values, got \"AAAA\" (binary tensor data is not "
         "supported)"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": "
         "[{}]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: expected a value or a list, got an object"},
        {"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1], "
         "\"parameters\": 1}]}",
         KEEL_EPARSE, 400, "inputs[0].parameters: expected an object, got 1"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [4], \"datatype\": \"FP32\", \"data\": [1, "
         "2, 3, \"4\"]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[3]: expected a number for datatype FP32, got \"4\""},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 1], \"datatype\": \"FP64\", \"data\": "
         "[[1], [true]]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[1][0]: expected a number for datatype FP64, got true"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"INT32\", \"data\": "
         "[1.5]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: expected an integer for datatype INT32, got 1.5"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"INT8\", \"data\": "
         "[128]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data[0]: 128 is out of range for datatype INT8 (-128 to 127)"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"UINT16\", \"data\": "
         "[-1]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data[0]: -1 is out of range for datatype UINT16 (0 to 65535)"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"INT64\", \"data\": "
         "[9223372036854775808]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data[0]: 9223372036854775808 is out of range for datatype INT64 "
         "(-9223372036854775808 to 9223372036854775807)"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"UINT64\", \"data\": "
         "[18446744073709551615]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data[0]: 18446744073709551615 is out of range for datatype UINT64 (0 to "
         "9223372036854775807)"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"INT32\", \"data\": "
         "[1e300]}]}",
         KEEL_EPARSE, 400,
         "inputs[0].data[0]: 1e300 is out of range for datatype INT32 (-2147483648 to "
         "2147483647)"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"INT32\", \"data\": "
         "[\"7\"]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: expected an integer for datatype INT32, got \"7\""},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": "
         "[1e39]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: 1e39 is out of range for datatype FP32"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": "
         "[-1e400]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: -1e400 is out of range for datatype FP64"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BOOL\", \"data\": "
         "[1]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: expected true or false for datatype BOOL, got 1"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": "
         "[12]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: expected a string for datatype BYTES, got 12"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": "
         "[\"a\\u0000\"]}]}",
         KEEL_EPARSE, 400, "inputs[0].data[0]: a string must not contain a NUL character"},
        {"{\"inputs\": [{\"name\": \"x\", \"shape\": [100001], \"datatype\": \"BYTES\", \"data\": "
         "[]}]}",
         KEEL_ELIMIT, 400, "inputs[0].shape: at most 100000 rows per request, got 100001"},
    };
    check_refusals(V2, cases, KEEL_ARRAY_LEN(cases));
}

TEST(proto_v2_too_many_tensors)
{
    keel_buf body;
    keel_buf_init(&body);
    keel_buf_puts(&body, "{\"inputs\": [");
    for (int i = 0; i <= SERVE_MAX_COLS; i++)
        keel_buf_printf(&body,
                        "%s{\"name\":\"c%d\",\"shape\":[1],\"datatype\":\"FP64\","
                        "\"data\":[1]}",
                        i ? "," : "", i);
    keel_buf_puts(&body, "]}");
    serve_batch b;
    serve_error err;
    CHECK_EQ_INT(serve_parse_v2(body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_STR(err.msg, "inputs: at most 4096 tensors (columns) per request, got 4097");
    /* Exactly the limit is fine. */
    char *last = strrchr(body.data, '{');
    strcpy(last - 1, "]}");
    REQUIRE(serve_parse_v2(body.data, strlen(body.data), &b, &err) == KEEL_OK);
    CHECK_EQ_INT(b.n_cols, 4096);
    CHECK_STR(b.cols[4095].name, "c4095");
    serve_batch_free(&b);
    keel_buf_free(&body);
}

/* ---- KServe v1 ---------------------------------------------------------------------------- */

TEST(proto_v1_infers_column_types)
{
    const char *body = "{\"instances\": ["
                       " {\"amount\": 1.5, \"active\": true, \"code\": 7, \"flag\": true,"
                       "  \"empty\": null, \"note\": \"hi\"},"
                       " {\"amount\": -2, \"active\": false, \"code\": \"A7\", \"flag\": \"no\","
                       "  \"note\": null},"
                       " {\"code\": 1.50, \"flag\": false, \"extra\": 1e3, \"amount\": null}"
                       "], \"signature_name\": \"ignored\"}";
    serve_batch b;
    serve_error err;
    REQUIRE(serve_parse_v1(body, strlen(body), &b, &err) == KEEL_OK);
    CHECK_EQ_INT(b.n_rows, 3);
    REQUIRE(b.n_cols == 7);
    /* Columns in order of first appearance. */
    static const char *names[] = {"amount", "active", "code", "flag", "empty", "note", "extra"};
    for (size_t j = 0; j < 7; j++)
        CHECK_STR(b.cols[j].name, names[j]);
    const keel_input_column *amount = col(&b, "amount"), *active = col(&b, "active"),
                            *code = col(&b, "code"), *flag = col(&b, "flag"),
                            *empty = col(&b, "empty"), *note = col(&b, "note"),
                            *extra = col(&b, "extra");
    CHECK_EQ_INT(amount->type, KEEL_COL_F64); /* all numbers */
    CHECK(f64_at(amount, 0) == 1.5 && f64_at(amount, 1) == -2);
    CHECK(isnan(f64_at(amount, 2)) && is_missing(amount, 2) && !is_missing(amount, 0));
    CHECK_EQ_INT(active->type, KEEL_COL_BOOL); /* all booleans; absent in row 2 */
    CHECK(((const unsigned char *)active->data)[0] == 1);
    CHECK(((const unsigned char *)active->data)[1] == 0 && !is_missing(active, 1));
    CHECK(is_missing(active, 2));
    CHECK_EQ_INT(code->type, KEEL_COL_TEXT); /* numbers and strings: text as written */
    CHECK_STR(text_at(code, 0), "7");
    CHECK_STR(text_at(code, 1), "A7");
    CHECK_STR(text_at(code, 2), "1.50");
    CHECK(code->missing == NULL);
    CHECK_EQ_INT(flag->type, KEEL_COL_TEXT); /* booleans and strings */
    CHECK_STR(text_at(flag, 0), "true");
    CHECK_STR(text_at(flag, 1), "no");
    CHECK_STR(text_at(flag, 2), "false");
    CHECK_EQ_INT(empty->type, KEEL_COL_TEXT); /* only nulls */
    for (size_t r = 0; r < 3; r++)
        CHECK(text_at(empty, r) == NULL && is_missing(empty, r));
    CHECK_EQ_INT(note->type, KEEL_COL_TEXT);
    CHECK_STR(text_at(note, 0), "hi");
    CHECK(text_at(note, 1) == NULL && is_missing(note, 1) && is_missing(note, 2));
    CHECK_EQ_INT(extra->type, KEEL_COL_F64);
    CHECK(is_missing(extra, 0) && f64_at(extra, 2) == 1000);
    serve_batch_free(&b);
}

TEST(proto_v1_inputs_alias_records_and_columns)
{
    const char *records = "{\"instances\": [{\"a\": 1, \"b\": \"x\"}, {\"a\": 2, \"b\": \"y\"}]}";
    const char *alias = "{\"inputs\": [{\"a\": 1, \"b\": \"x\"}, {\"a\": 2, \"b\": \"y\"}]}";
    const char *columnar = "{\"inputs\": {\"a\": [1, 2], \"b\": [\"x\", \"y\"]}}";
    serve_batch x, y, z;
    serve_error err;
    REQUIRE(serve_parse_v1(records, strlen(records), &x, &err) == KEEL_OK);
    REQUIRE(serve_parse_v1(alias, strlen(alias), &y, &err) == KEEL_OK);
    REQUIRE(serve_parse_v1(columnar, strlen(columnar), &z, &err) == KEEL_OK);
    CHECK_EQ_INT(x.n_rows, 2);
    CHECK_EQ_INT(x.n_cols, 2);
    CHECK(same_batch(&x, &y));
    CHECK(same_batch(&x, &z));
    serve_batch_free(&x);
    serve_batch_free(&y);
    serve_batch_free(&z);
    /* No rows: a valid, empty batch. */
    REQUIRE(serve_parse_v1("{\"instances\": []}", 17, &x, &err) == KEEL_OK);
    CHECK(x.n_rows == 0 && x.n_cols == 0);
    serve_batch_free(&x);
}

TEST(proto_v1_refusals)
{
    static const refusal cases[] = {
        {"{\"instances\": [1", KEEL_EPARSE, 400,
         "malformed JSON: line 1, column 17: expected ',' or ']', found end of input"},
        {"[]", KEEL_EPARSE, 400,
         "the body must be a JSON object ({\"instances\": [...]}), got an array"},
        {"{\"rows\": []}", KEEL_EPARSE, 400,
         "\"instances\" is required: a list of rows, each an object of column values "
         "({\"instances\": [{\"column\": value, ...}]})"},
        {"{\"instances\": [], \"inputs\": []}", KEEL_EPARSE, 400,
         "give \"instances\" or \"inputs\", not both"},
        {"{\"instances\": [], \"instances\": []}", KEEL_EPARSE, 400, "instances: given twice"},
        {"{\"instances\": {\"a\": [1]}}", KEEL_EPARSE, 400,
         "instances: expected a list of rows ([{\"column\": value, ...}]), got an object"},
        {"{\"inputs\": 3}", KEEL_EPARSE, 400,
         "inputs: expected a list of rows ([{\"column\": value, ...}]) or an object of columns "
         "({\"column\": [values]}), got 3"},
        {"{\"instances\": [[1, 2]]}", KEEL_EPARSE, 400,
         "instances[0]: expected an object of column values ({\"column\": value, ...}), got an "
         "array: rows given as lists carry no column names"},
        {"{\"instances\": [{\"a\": 1}, \"x\"]}", KEEL_EPARSE, 400,
         "instances[1]: expected an object of column values ({\"column\": value, ...}), got "
         "\"x\""},
        {"{\"instances\": [{\"a\": 1}, {\"a\": [1]}]}", KEEL_EPARSE, 400,
         "instances[1].a: expected a number, string, boolean or null, got an array"},
        {"{\"instances\": [{\"a b\": {}}]}", KEEL_EPARSE, 400,
         "instances[0][\"a b\"]: expected a number, string, boolean or null, got an object"},
        {"{\"instances\": [{\"a\": 1, \"a\": 2}]}", KEEL_EPARSE, 400,
         "instances[0].a: given twice in one row"},
        {"{\"instances\": [{\"\": 1}]}", KEEL_EPARSE, 400,
         "instances[0][\"\"]: a column name must not be empty"},
        {"{\"instances\": [{\"a\": \"x\\u0000\"}]}", KEEL_EPARSE, 400,
         "instances[0].a: a string must not contain a NUL character"},
        {"{\"instances\": [{\"a\": 1}, {\"a\": 1e999}]}", KEEL_EPARSE, 400,
         "instances[1].a: the number 1e999 is out of range"},
        {"{\"inputs\": {\"a\": [1, 2], \"b\": [1]}}", KEEL_EPARSE, 400,
         "inputs.b: 1 values, but column \"a\" has 2: every column needs one value per row"},
        {"{\"inputs\": {\"a\": 1}}", KEEL_EPARSE, 400,
         "inputs.a: expected a list of values (one per row), got 1"},
        {"{\"inputs\": {\"a\": [1], \"a\": [2]}}", KEEL_EPARSE, 400,
         "inputs.a: column given twice"},
        {"{\"inputs\": {\"a\": [[1]]}}", KEEL_EPARSE, 400,
         "inputs.a[0]: expected a number, string, boolean or null, got an array"},
    };
    check_refusals(V1, cases, KEEL_ARRAY_LEN(cases));
}

TEST(proto_v1_limits)
{
    keel_buf body;
    keel_buf_init(&body);
    serve_batch b;
    serve_error err;
    /* 100001 rows. */
    keel_buf_puts(&body, "{\"instances\": [");
    for (int i = 0; i <= SERVE_MAX_ROWS; i++)
        keel_buf_puts(&body, i ? ",{}" : "{}");
    keel_buf_puts(&body, "]}");
    CHECK_EQ_INT(serve_parse_v1(body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_EQ_INT(err.status, 400);
    CHECK_STR(err.msg, "instances: at most 100000 rows per request");
    /* 4097 columns in one row. */
    keel_buf_reset(&body);
    keel_buf_puts(&body, "{\"instances\": [{");
    for (int i = 0; i <= SERVE_MAX_COLS; i++)
        keel_buf_printf(&body, "%s\"c%d\":1", i ? "," : "", i);
    keel_buf_puts(&body, "}]}");
    CHECK_EQ_INT(serve_parse_v1(body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_STR(err.msg, "instances[0].c4096: at most 4096 columns per request");
    /* Many empty rows and one wide row: a short body that would need rows x columns memory. */
    keel_buf_reset(&body);
    keel_buf_puts(&body, "{\"instances\": [{");
    for (int i = 0; i < 4096; i++)
        keel_buf_printf(&body, "%s\"c%d\":1", i ? "," : "", i);
    keel_buf_puts(&body, "}");
    for (int i = 1; i < 5000; i++)
        keel_buf_puts(&body, ",{}");
    keel_buf_puts(&body, "]}");
    CHECK_EQ_INT(serve_parse_v1(body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_STR(err.msg, "instances: at most 317009 values (rows x columns) in a body of 54865 "
                       "bytes; this one has 5000 rows and 4096 columns (rows that leave keys "
                       "out still hold a value for each: send fewer rows per request)");
    CHECK(b.arena == NULL);
    keel_buf_free(&body);
}

/* Rows x columns is bounded by the body's size too: under MAX_CELLS, 4096 keys in one row and
 * a hundred {} rows are 40 KB of JSON that would be 400,000 values (3.7 MB). */
TEST(proto_v1_cells_bounded_by_body)
{
    keel_buf body;
    keel_buf_init(&body);
    serve_batch b;
    serve_error err;
    keel_buf_puts(&body, "{\"instances\": [{");
    for (int i = 0; i < 4096; i++)
        keel_buf_printf(&body, "%s\"c%d\":1", i ? "," : "", i);
    keel_buf_puts(&body, "}");
    for (int i = 1; i < 100; i++)
        keel_buf_puts(&body, ",{}");
    keel_buf_puts(&body, "]}");
    CHECK_EQ_INT(serve_parse_v1(body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_STR(err.msg, "instances: at most 302309 values (rows x columns) in a body of 40165 "
                       "bytes; this one has 100 rows and 4096 columns (rows that leave keys out "
                       "still hold a value for each: send fewer rows per request)");
    CHECK(b.arena == NULL);
    /* The same columns with every value given: each costs body bytes, so it is accepted. */
    keel_buf_reset(&body);
    keel_buf_puts(&body, "{\"inputs\": {");
    for (int i = 0; i < 4096; i++) {
        keel_buf_printf(&body, "%s\"c%d\":[", i ? "," : "", i);
        for (int r = 0; r < 100; r++)
            keel_buf_puts(&body, r ? ",1" : "1");
        keel_buf_puts(&body, "]");
    }
    keel_buf_puts(&body, "}}");
    CHECK_EQ_INT(serve_parse_v1(body.data, body.len, &b, &err), KEEL_OK);
    CHECK_EQ_INT((long long)b.n_rows, 100);
    CHECK_EQ_INT((long long)b.n_cols, 4096);
    serve_batch_free(&b);
    /* MLflow CSV: a wide header over short lines is the same amplification. */
    keel_buf_reset(&body);
    for (int i = 0; i < 4096; i++)
        keel_buf_printf(&body, "%sc%d", i ? "," : "", i);
    keel_buf_puts(&body, "\n");
    for (int r = 0; r < 100; r++)
        keel_buf_puts(&body, "1\n");
    CHECK_EQ_INT(serve_parse_mlflow("text/csv", body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK(strstr(err.msg, "values (rows x columns) in a body of") != NULL);
    keel_buf_free(&body);
}

/* ---- MLflow ----------------------------------------------------------------------------- */

TEST(proto_mlflow_json_formats_agree)
{
    static const char *bodies[] = {
        "{\"dataframe_split\": {\"columns\": [\"a\", \"b\", \"c\"],"
        " \"data\": [[1, \"x\", true], [2.5, null, false]]}}",
        "{\"dataframe_split\": {\"index\": [10, 11], \"columns\": [\"a\", \"b\", \"c\"],"
        " \"data\": [[1, \"x\", true], [2.5, null, false]]}, \"params\": {\"k\": 1}}",
        "{\"dataframe_records\": [{\"a\": 1, \"b\": \"x\", \"c\": true},"
        " {\"a\": 2.5, \"c\": false}]}",
        "{\"instances\": [{\"a\": 1, \"b\": \"x\", \"c\": true}, {\"a\": 2.5, \"b\": null, \"c\": "
        "false}]}",
        "{\"inputs\": [{\"a\": 1, \"b\": \"x\", \"c\": true}, {\"a\": 2.5, \"c\": false}]}",
        "{\"inputs\": {\"a\": [1, 2.5], \"b\": [\"x\", null], \"c\": [true, false]}}",
    };
    serve_batch first;
    serve_error err;
    REQUIRE(serve_parse_mlflow(NULL, bodies[0], strlen(bodies[0]), &first, &err) == KEEL_OK);
    CHECK_EQ_INT(first.n_rows, 2);
    REQUIRE(first.n_cols == 3);
    CHECK_EQ_INT(first.cols[0].type, KEEL_COL_F64);
    CHECK_EQ_INT(first.cols[1].type, KEEL_COL_TEXT);
    CHECK_EQ_INT(first.cols[2].type, KEEL_COL_BOOL);
    CHECK(is_missing(&first.cols[1], 1) && text_at(&first.cols[1], 1) == NULL);
    for (size_t i = 1; i < KEEL_ARRAY_LEN(bodies); i++) {
        serve_batch b;
        const char *ct = i % 2 ? "application/json; charset=utf-8" : "Application/JSON";
        int rc = serve_parse_mlflow(ct, bodies[i], strlen(bodies[i]), &b, &err);
        if (rc) fprintf(stderr, "body %zu: %s\n", i, err.msg);
        REQUIRE(rc == KEEL_OK);
        if (!same_batch(&first, &b)) fprintf(stderr, "body %zu differs\n", i);
        CHECK(same_batch(&first, &b));
        serve_batch_free(&b);
    }
    serve_batch_free(&first);
}

TEST(proto_mlflow_refusals)
{
    static const refusal cases[] = {
        {"[{\"a\": 1}]", KEEL_EPARSE, 400,
         "the body must be a JSON object with exactly one of \"dataframe_split\", "
         "\"dataframe_records\", \"instances\" or \"inputs\"; got a list"},
        {"{\"columns\": [\"a\"], \"data\": [[1]]}", KEEL_EPARSE, 400,
         "the body must be a JSON object with exactly one of \"dataframe_split\", "
         "\"dataframe_records\", \"instances\" or \"inputs\"; got keys [\"columns\", \"data\"]"},
        {"{\"instances\": [], \"inputs\": []}", KEEL_EPARSE, 400,
         "the body must be a JSON object with exactly one of \"dataframe_split\", "
         "\"dataframe_records\", \"instances\" or \"inputs\"; got keys [\"instances\", "
         "\"inputs\"]"},
        {"{}", KEEL_EPARSE, 400,
         "the body must be a JSON object with exactly one of \"dataframe_split\", "
         "\"dataframe_records\", \"instances\" or \"inputs\"; got keys []"},
        {"{\"instances\": [[1, 2]]}", KEEL_EPARSE, 400,
         "instances[0]: expected an object of column values ({\"column\": value, ...}), got an "
         "array: rows given as lists carry no column names (send records, or dataframe_split "
         "with \"columns\")"},
        {"{\"dataframe_split\": [[1]]}", KEEL_EPARSE, 400,
         "dataframe_split: expected an object ({\"columns\": [...], \"data\": [[...], ...]}), got "
         "an array"},
        {"{\"dataframe_split\": {\"data\": [[1]]}}", KEEL_EPARSE, 400,
         "dataframe_split: \"columns\" is required: the list of column names"},
        {"{\"dataframe_split\": {\"columns\": [\"a\"]}}", KEEL_EPARSE, 400,
         "dataframe_split: \"data\" is required: a list of rows, each a list of values"},
        {"{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [], \"dtypes\": {}}}", KEEL_EPARSE,
         400,
         "dataframe_split.dtypes: unexpected key (dataframe_split has \"columns\", \"data\" and "
         "optionally \"index\")"},
        {"{\"dataframe_split\": {\"columns\": [\"a\", 2], \"data\": []}}", KEEL_EPARSE, 400,
         "dataframe_split.columns[1]: expected a column name (a string), got 2"},
        {"{\"dataframe_split\": {\"columns\": [\"a\", \"a\"], \"data\": []}}", KEEL_EPARSE, 400,
         "dataframe_split.columns[1]: column \"a\" given twice"},
        {"{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2], [3]]}}",
         KEEL_EPARSE, 400, "dataframe_split.data[1]: 1 values, but there are 2 columns"},
        {"{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [1]}}", KEEL_EPARSE, 400,
         "dataframe_split.data[0]: expected a row (a list of values, one per column), got 1"},
        {"{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [[{}]]}}", KEEL_EPARSE, 400,
         "dataframe_split.data[0][0]: expected a number, string, boolean or null, got an object"},
        {"{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [[1]], \"index\": [0, 1]}}",
         KEEL_EPARSE, 400, "dataframe_split.index: 2 labels, but \"data\" has 1 rows"},
        {"{\"dataframe_records\": {\"a\": 1}}", KEEL_EPARSE, 400,
         "dataframe_records: expected a list of records ([{\"column\": value, ...}]), got an "
         "object"},
        {"{\"dataframe_records\": [{\"a\": 1}, 5]}", KEEL_EPARSE, 400,
         "dataframe_records[1]: expected an object of column values ({\"column\": value, ...}), "
         "got 5"},
        {"{\"inputs\": {\"a\": [1], \"b\": [1, 2]}}", KEEL_EPARSE, 400,
         "inputs.b: 2 values, but column \"a\" has 1: every column needs one value per row"},
    };
    check_refusals(MLFLOW_JSON, cases, KEEL_ARRAY_LEN(cases));
}

TEST(proto_mlflow_content_types)
{
    static const struct {
        const char *ct;
        int code, status;
        const char *msg;
    } cases[] = {
        {"application/json", KEEL_OK, 0, ""},
        {"  application/json ;charset=UTF-8 ", KEEL_OK, 0, ""},
        {"application/json; charset=\"utf-8\"", KEEL_OK, 0, ""},
        {"application/json;", KEEL_OK, 0, ""},
        {"text/plain", KEEL_EFORMAT, 415,
         "unsupported Content-Type \"text/plain\": /invocations accepts application/json and "
         "text/csv"},
        {"", KEEL_EFORMAT, 415,
         "unsupported Content-Type \"\": /invocations accepts application/json and text/csv"},
        {"application/json; format=pandas-split", KEEL_EFORMAT, 415,
         "unsupported Content-Type parameter \"format\" (only charset=utf-8 is accepted)"},
        {"application/json; charset=latin-1", KEEL_EFORMAT, 415,
         "unsupported charset \"latin-1\": the scoring server reads UTF-8 only"},
        {"text/csv; charset=utf-16", KEEL_EFORMAT, 415,
         "unsupported charset \"utf-16\": the scoring server reads UTF-8 only"},
    };
    const char *body = "{\"instances\": [{\"a\": 1}]}";
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        serve_batch b;
        serve_error err;
        int rc = serve_parse_mlflow(cases[i].ct, body, strlen(body), &b, &err);
        if (rc != cases[i].code) fprintf(stderr, "case %zu: %s\n", i, err.msg);
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK_EQ_INT(err.status, cases[i].status);
        CHECK_STR(err.msg, cases[i].msg);
        serve_batch_free(&b);
    }
}

TEST(proto_mlflow_csv)
{
    const char *body = "\xef\xbb\xbf"
                       "a,\"b c\",d\r\n"
                       "1,\"x, \"\"quoted\"\"\",\r\n"
                       "\n"
                       "2.50,\"two\nlines\",\"\"\r\n"
                       "NA\n";
    serve_batch b;
    serve_error err;
    int rc = serve_parse_mlflow("text/csv; charset=utf-8", body, strlen(body), &b, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    REQUIRE(rc == KEEL_OK);
    CHECK_EQ_INT(b.n_rows, 3);
    REQUIRE(b.n_cols == 3);
    CHECK_STR(b.cols[0].name, "a");
    CHECK_STR(b.cols[1].name, "b c");
    CHECK_STR(b.cols[2].name, "d");
    for (size_t j = 0; j < 3; j++)
        CHECK_EQ_INT(b.cols[j].type, KEEL_COL_TEXT);
    CHECK_STR(text_at(&b.cols[0], 0), "1");
    CHECK_STR(text_at(&b.cols[0], 1), "2.50"); /* text exactly as sent */
    CHECK_STR(text_at(&b.cols[0], 2), "NA");   /* the model's schema decides what NA means */
    CHECK(b.cols[0].missing == NULL);
    CHECK_STR(text_at(&b.cols[1], 0), "x, \"quoted\"");
    CHECK_STR(text_at(&b.cols[1], 1), "two\nlines");
    CHECK(text_at(&b.cols[1], 2) == NULL && is_missing(&b.cols[1], 2)); /* short row */
    CHECK(text_at(&b.cols[2], 0) == NULL && is_missing(&b.cols[2], 0)); /* empty: missing */
    CHECK_STR(text_at(&b.cols[2], 1), "");                              /* "": empty text */
    CHECK(!is_missing(&b.cols[2], 1));
    serve_batch_free(&b);

    /* A header alone is an empty batch. */
    REQUIRE(serve_parse_mlflow("text/csv", "x,y\n", 4, &b, &err) == KEEL_OK);
    CHECK(b.n_rows == 0 && b.n_cols == 2);
    serve_batch_free(&b);
}

TEST(proto_mlflow_csv_refusals)
{
    static const refusal cases[] = {
        {"", KEEL_EPARSE, 400, "text/csv: the body is empty; the first line must name the columns"},
        {"\n\n", KEEL_EPARSE, 400,
         "text/csv: the body is empty; the first line must name the columns"},
        {"a,,c\n1,2,3\n", KEEL_EPARSE, 400, "line 1: column 2 of the header has no name"},
        {"a,b,a\n", KEEL_EPARSE, 400, "line 1: column \"a\" is named twice in the header"},
        {"a,b\n1,2,3\n", KEEL_EPARSE, 400, "line 2: 3 fields, but the header names 2 columns"},
        {"a,b\n1,\"2\n", KEEL_EPARSE, 400, "line 2, column 3: a quoted field never ends"},
        {"a,b\n1,\"2\"x\n", KEEL_EPARSE, 400,
         "line 2, column 6: text after a closing quote (write a quote inside a quoted field as "
         "\"\")"},
        {"a,b\n1,\xff\n", KEEL_EPARSE, 400,
         "line 2, column 3: field 2 holds bytes that are not UTF-8"},
        {"a\xc3,b\n", KEEL_EPARSE, 400, "line 1, column 1: field 1 holds bytes that are not UTF-8"},
    };
    check_refusals(MLFLOW_CSV, cases, KEEL_ARRAY_LEN(cases));
    /* A NUL byte (strlen-based cases cannot hold one). */
    serve_batch b;
    serve_error err;
    CHECK_EQ_INT(serve_parse_mlflow("text/csv", "a,b\n1,x\0y\n", 10, &b, &err), KEEL_EPARSE);
    CHECK_STR(err.msg, "line 2, column 3: field 2 holds a NUL byte");
}

TEST(proto_mlflow_csv_limits)
{
    keel_buf body;
    keel_buf_init(&body);
    keel_buf_puts(&body, "a\n");
    for (int i = 0; i <= SERVE_MAX_ROWS; i++)
        keel_buf_puts(&body, "1\n");
    serve_batch b;
    serve_error err;
    CHECK_EQ_INT(serve_parse_mlflow("text/csv", body.data, body.len, &b, &err), KEEL_ELIMIT);
    CHECK_STR(err.msg, "at most 100000 rows per request");
    body.len -= 2; /* exactly the limit */
    REQUIRE(serve_parse_mlflow("text/csv", body.data, body.len, &b, &err) == KEEL_OK);
    CHECK_EQ_INT(b.n_rows, SERVE_MAX_ROWS);
    CHECK_STR(text_at(&b.cols[0], SERVE_MAX_ROWS - 1), "1");
    serve_batch_free(&b);
    keel_buf_free(&body);
}

/* ---- out of memory ------------------------------------------------------------------------ */

/* Fails each allocation of one parse in turn: every failure is KEEL_ENOMEM with status 500,
 * leaves the batch zeroed and leaks nothing; in the end the parse succeeds. */
static void parse_under_oom(int proto, const char *body)
{
    long live = test_alloc_live();
    int failures = 0;
    for (long n = 1;; n++) {
        serve_batch b;
        serve_error err;
        test_fail_alloc_after(n);
        int rc = parse(proto, body, &b, &err);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK(b.n_rows > 0);
            serve_batch_free(&b);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        failures++;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT(err.status, 500);
        CHECK(b.arena == NULL && b.cols == NULL);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc != KEEL_ENOMEM || n > 10000) break;
    }
    CHECK(failures >= 2);
}

TEST(proto_parsers_survive_oom)
{
    /* Enough columns and rows that tables, arrays and arena blocks all grow. */
    keel_buf v1, v2, split, csv;
    keel_buf_init(&v1);
    keel_buf_init(&v2);
    keel_buf_init(&split);
    keel_buf_init(&csv);
    keel_buf_puts(&v1, "{\"instances\": [");
    keel_buf_puts(&split, "{\"dataframe_split\": {\"columns\": [");
    for (int j = 0; j < 40; j++)
        keel_buf_printf(&split, "%s\"c%d\"", j ? "," : "", j);
    keel_buf_puts(&split, "], \"data\": [");
    keel_buf_puts(&csv, "c0");
    for (int j = 1; j < 40; j++)
        keel_buf_printf(&csv, ",c%d", j);
    keel_buf_puts(&csv, "\n");
    for (int r = 0; r < 300; r++) {
        keel_buf_puts(&v1, r ? ",{" : "{");
        keel_buf_puts(&split, r ? ",[" : "[");
        for (int j = 0; j < 40; j++) {
            keel_buf_printf(&v1, "%s\"c%d\":%s", j ? "," : "", j,
                            j % 3 == 0   ? "1.5"
                            : j % 3 == 1 ? "\"t\""
                                         : "null");
            keel_buf_printf(&split, "%s%s", j ? "," : "", j % 2 ? "true" : "\"s\"");
            keel_buf_printf(&csv, "%s%s", j ? "," : "", j % 2 ? "\"q,\"\"\"" : "");
        }
        keel_buf_puts(&v1, "}");
        keel_buf_puts(&split, "]");
        keel_buf_puts(&csv, "\n");
    }
    keel_buf_puts(&v1, "]}");
    keel_buf_puts(&split, "]}}");
    keel_buf_puts(&v2, "{\"id\": \"x\", \"inputs\": [");
    for (int j = 0; j < 40; j++)
        keel_buf_printf(&v2,
                        "%s{\"name\": \"c%d\", \"shape\": [3, 1], \"datatype\": \"%s\", "
                        "\"data\": [1, null, 0]}",
                        j ? "," : "", j, j % 2 ? "INT64" : "FP32");
    keel_buf_puts(&v2, "]}");
    test_alloc_reset();
    parse_under_oom(V2_SLOW, v2.data); /* serve_parse_v2 falls back when the fast path fails */
    parse_under_oom(V1, v1.data);
    parse_under_oom(V1, "{\"inputs\": {\"a\": [1, 2], \"b\": [\"x\", null]}}");
    parse_under_oom(MLFLOW_JSON, split.data);
    parse_under_oom(MLFLOW_JSON, "{\"dataframe_records\": [{\"a\": 1}, {\"b\": false}]}");
    parse_under_oom(MLFLOW_CSV, csv.data);
    keel_buf_free(&v1);
    keel_buf_free(&v2);
    keel_buf_free(&split);
    keel_buf_free(&csv);
}

/* ---- responses ------------------------------------------------------------------------------ */

typedef struct trained {
    keel_model *m;
    keel_frame *f;
    keel_schema *s;
} trained;

/* A small model on tests/data/kinds.csv predicting target: "label" (binary: churned,
 * stayed), "plan" (multiclass: basic, pro, team) or "amount" (regression). Only its inputs,
 * task and class names matter here: the writers are given the predictions. */
static trained train_kinds(const char *target)
{
    trained t = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/kinds.csv", test_root());
    keel_infer_options io;
    keel_infer_options_init(&io);
    io.target = target;
    keel_error e;
    if (keel_infer_file(path, &io, &t.s, &e)) return t;
    keel_schema_move_to_end(t.s, (size_t)keel_schema_find(t.s, target));
    keel_validate_result vr;
    if (keel_frame_load(t.s, path, NULL, &t.f, &vr, &e)) return t;
    keel_validate_result_free(&vr);
    keel_train_options o = {.target = target};
    keel_hparams_init(&o.hp);
    o.hp.hidden[0] = o.hp.hidden[1] = 4;
    o.hp.max_epochs = 1;
    o.hp.seed = 1;
    keel_train_result r;
    if (keel_train(t.f, NULL, 0, &o, &t.m, &r, &e)) fprintf(stderr, "train: %s\n", e.msg);
    return t;
}

static void trained_free(trained *t)
{
    keel_model_free(t->m);
    keel_frame_free(t->f);
    keel_schema_free(t->s);
}

TEST(proto_write_classification)
{
    trained t = train_kinds("label");
    REQUIRE(t.m);
    REQUIRE(keel_model_n_outputs(t.m) == 2);
    CHECK_STR(keel_model_output_name(t.m, 0), "churned");
    CHECK_STR(keel_model_output_name(t.m, 1), "stayed");
    const float pred[] = {0.25f, 0.75f, 0.9f, 0.1f, 0.5f, 0.5f};
    keel_buf out;
    keel_buf_init(&out);
    REQUIRE(serve_write_v2(&out, "churn", "3", "req-1", t.m, pred, 3) == KEEL_OK);
    CHECK_STR(out.data,
              "{\"model_name\":\"churn\",\"model_version\":\"3\",\"id\":\"req-1\",\"outputs\":["
              "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[3],"
              "\"data\":[\"stayed\",\"churned\",\"churned\"]},"
              "{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[3,2],"
              "\"data\":[0.25,0.75,0.9,0.1,0.5,0.5]}]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_v2(&out, "churn", "1", NULL, t.m, pred, 0) == KEEL_OK);
    CHECK_STR(out.data,
              "{\"model_name\":\"churn\",\"model_version\":\"1\",\"outputs\":["
              "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[0],\"data\":[]},"
              "{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[0,2],\"data\":[]}]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_v1(&out, t.m, pred, 2) == KEEL_OK);
    const char *v1 = "{\"predictions\":["
                     "{\"label\":\"stayed\",\"probabilities\":{\"churned\":0.25,\"stayed\":0.75}},"
                     "{\"label\":\"churned\",\"probabilities\":{\"churned\":0.9,\"stayed\":0.1}}"
                     "]}";
    CHECK_STR(out.data, v1);
    keel_buf_reset(&out);
    REQUIRE(serve_write_mlflow(&out, t.m, pred, 2) == KEEL_OK);
    CHECK_STR(out.data, v1);
    keel_buf_reset(&out);
    const char *versions[] = {"1", "3"};
    REQUIRE(serve_write_v2_metadata(&out, "churn", versions, 2, t.m) == KEEL_OK);
    CHECK_STR(out.data,
              "{\"name\":\"churn\",\"versions\":[\"1\",\"3\"],\"platform\":\"keel\",\"inputs\":["
              "{\"name\":\"amount\",\"datatype\":\"FP64\",\"shape\":[-1]},"
              "{\"name\":\"plan\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
              "{\"name\":\"active\",\"datatype\":\"BOOL\",\"shape\":[-1]},"
              "{\"name\":\"note\",\"datatype\":\"BYTES\",\"shape\":[-1]}],\"outputs\":["
              "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
              "{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[-1,2],"
              "\"parameters\":{\"classes\":[\"churned\",\"stayed\"]}}]}");
    keel_buf_free(&out);
    trained_free(&t);
}

TEST(proto_write_multiclass_and_regression)
{
    trained t = train_kinds("plan");
    REQUIRE(t.m);
    REQUIRE(keel_model_n_outputs(t.m) == 3);
    const float pred[] = {0.2f, 0.3f, 0.5f};
    keel_buf out;
    keel_buf_init(&out);
    REQUIRE(serve_write_v1(&out, t.m, pred, 1) == KEEL_OK);
    CHECK_STR(out.data, "{\"predictions\":[{\"label\":\"team\",\"probabilities\":"
                        "{\"basic\":0.2,\"pro\":0.3,\"team\":0.5}}]}");
    trained_free(&t);

    t = train_kinds("amount");
    REQUIRE(t.m);
    CHECK_STR(keel_model_task(t.m), "regression");
    const float values[] = {12.5f, -3.25f, 1e-7f, NAN};
    keel_buf_reset(&out);
    REQUIRE(serve_write_v2(&out, "spend", "1", NULL, t.m, values, 4) == KEEL_OK);
    CHECK_STR(out.data, "{\"model_name\":\"spend\",\"model_version\":\"1\",\"outputs\":["
                        "{\"name\":\"prediction\",\"datatype\":\"FP64\",\"shape\":[4],"
                        "\"data\":[12.5,-3.25,1e-07,null]}]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_v1(&out, t.m, values, 3) == KEEL_OK);
    CHECK_STR(out.data, "{\"predictions\":[12.5,-3.25,1e-07]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_mlflow(&out, t.m, values, 1) == KEEL_OK);
    CHECK_STR(out.data, "{\"predictions\":[12.5]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_v2_metadata(&out, "spend", NULL, 0, t.m) == KEEL_OK);
    CHECK(strstr(out.data, "\"versions\":[],\"platform\":\"keel\"") != NULL);
    CHECK(strstr(out.data, "\"outputs\":[{\"name\":\"prediction\",\"datatype\":\"FP64\","
                           "\"shape\":[-1]}]}") != NULL);
    CHECK(strstr(out.data, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]}") != NULL);
    keel_buf_free(&out);
    trained_free(&t);
}

TEST(proto_write_error_escapes)
{
    keel_buf out;
    keel_buf_init(&out);
    REQUIRE(serve_write_error(&out, "inputs[0].name: \"a\" is given twice\n") == KEEL_OK);
    CHECK_STR(out.data, "{\"error\":\"inputs[0].name: \\\"a\\\" is given twice\\n\"}");
    keel_buf_free(&out);
}

TEST(proto_writers_survive_oom)
{
    trained t = train_kinds("label");
    REQUIRE(t.m);
    const float pred[] = {0.25f, 0.75f, 0.9f, 0.1f};
    const char *versions[] = {"1"};
    for (int w = 0; w < 5; w++) {
        keel_buf out;
        keel_buf_init(&out);
        keel_buf_puts(&out, "kept");
        long live = test_alloc_live();
        int failures = 0;
        for (long n = 1;; n++) {
            test_fail_alloc_after(n);
            int rc = w == 0   ? serve_write_v2(&out, "m", "1", "id", t.m, pred, 2)
                     : w == 1 ? serve_write_v1(&out, t.m, pred, 2)
                     : w == 2 ? serve_write_mlflow(&out, t.m, pred, 2)
                     : w == 3 ? serve_write_v2_metadata(&out, "m", versions, 1, t.m)
                              : serve_write_error(&out, "no");
            test_fail_alloc_after(0);
            if (rc == KEEL_OK) break;
            failures++;
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK_STR(out.data, "kept"); /* cut back to where it began */
            CHECK_EQ_INT(test_alloc_live(), live);
            if (n > 1000) break;
        }
        CHECK(strncmp(out.data, "kept{", 5) == 0);
        CHECK(failures >= 1 || w == 4); /* the error body fits in the first block */
        keel_buf_free(&out);
    }
    trained_free(&t);
}
