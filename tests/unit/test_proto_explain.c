/*
 * test_proto_explain.c — the explain extension's protocol layer (src/serve/proto_*.c), without
 * HTTP: the "parameters" of an explain request and every refusal with its exact message, the
 * options they give on a model (scale and class checked against the task, the row limits),
 * a parsed row turned into named fields that reach the model exactly as predict's columns
 * do, and the response heads.
 */
#include "data/infer.h"
#include "data/validate.h"
#include "explain/explain.h"
#include "model/model.h"
#include "serve/serve.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>

/* Parses body (v2 when v2, else v1) and its parameters; returns the parameters' code. */
static int params_of(bool v2, const char *body, serve_batch *b, serve_explain_params *p,
                     serve_error *err)
{
    size_t n = strlen(body);
    int rc = v2 ? serve_parse_v2(body, n, b, err) : serve_parse_v1(body, n, b, err);
    if (rc != KEEL_OK) return 1000 + rc; /* the body itself was refused */
    return serve_parse_explain_params(b, p, err);
}

#define ROW1 "{\"instances\":[{\"a\":1}]"

/* The parameters of a v1 body ROW1 + tail refused with message msg. */
static void refused(const char *tail, const char *msg)
{
    char body[512];
    snprintf(body, sizeof body, "%s%s", ROW1, tail);
    serve_batch b;
    serve_explain_params p;
    serve_error err;
    CHECK_EQ_INT(params_of(false, body, &b, &p, &err), KEEL_EPARSE);
    CHECK_EQ_INT(err.status, 400);
    CHECK_STR(err.msg, msg);
    serve_batch_free(&b);
}

TEST(explain_params_defaults_and_values)
{
    serve_batch b;
    serve_explain_params p;
    serve_error err;
    REQUIRE(params_of(false, ROW1 "}", &b, &p, &err) == KEEL_OK);
    CHECK_EQ_INT(p.method, -1);
    CHECK_EQ_INT(p.scale, KEEL_SCALE_DEFAULT);
    CHECK_EQ_INT(p.top_k, -1);
    CHECK(p.class_label == NULL);
    serve_batch_free(&b);

    REQUIRE(params_of(false,
                      ROW1 ",\"parameters\":{\"method\":\"shapley\",\"scale\":\"probability\","
                           "\"top_k\":3,\"class\":\"stayed\"}}",
                      &b, &p, &err) == KEEL_OK);
    CHECK_EQ_INT(p.method, KEEL_EXPLAIN_SHAPLEY);
    CHECK_EQ_INT(p.scale, KEEL_SCALE_PROBABILITY);
    CHECK_EQ_INT(p.top_k, 3);
    CHECK_STR(p.class_label, "stayed");
    serve_batch_free(&b);

    /* OIP v2: the same "parameters", beside "id" and "inputs"; "ig", a class given as a
     * number (its text), top_k 0 (the model's default). */
    REQUIRE(params_of(true,
                      "{\"id\":\"x\",\"parameters\":{\"method\":\"ig\",\"top_k\":0,\"class\":1,"
                      "\"scale\":\"log_odds\"},\"inputs\":[{\"name\":\"a\",\"shape\":[1],"
                      "\"datatype\":\"FP64\",\"data\":[1]}]}",
                      &b, &p, &err) == KEEL_OK);
    CHECK_EQ_INT(p.method, KEEL_EXPLAIN_IG);
    CHECK_EQ_INT(p.scale, KEEL_SCALE_LOG_ODDS);
    CHECK_EQ_INT(p.top_k, 0);
    CHECK_STR(p.class_label, "1");
    serve_batch_free(&b);

    /* Empty parameters, and a CSV batch (no document), are the defaults. */
    REQUIRE(params_of(false, ROW1 ",\"parameters\":{}}", &b, &p, &err) == KEEL_OK);
    CHECK_EQ_INT(p.method, -1);
    serve_batch_free(&b);
    REQUIRE(serve_parse_mlflow("text/csv", "a\n1\n", 4, &b, &err) == KEEL_OK);
    CHECK_EQ_INT(serve_parse_explain_params(&b, &p, &err), KEEL_OK);
    CHECK_EQ_INT(p.top_k, -1);
    serve_batch_free(&b);
    CHECK_EQ_INT(serve_parse_explain_params(NULL, &p, NULL), KEEL_OK);
}

TEST(explain_params_refusals)
{
    refused(",\"parameters\":3}",
            "parameters: expected an object such as {\"method\": \"ig\"}, got 3");
    refused(",\"parameters\":{\"method\":\"lime\"}}",
            "parameters.method: unknown method \"lime\" (use \"ig\", \"integrated_gradients\" "
            "or \"shapley\")");
    refused(",\"parameters\":{\"method\":7}}",
            "parameters.method: expected \"ig\" or \"shapley\", got 7");
    refused(",\"parameters\":{\"method\":\"ig\\u0000\"}}",
            "parameters.method: must not contain a NUL character");
    refused(",\"parameters\":{\"scale\":\"odds\"}}",
            "parameters.scale: unknown scale \"odds\" (use \"log_odds\" or \"probability\" for a "
            "classifier, \"value\" for a regression model)");
    refused(",\"parameters\":{\"scale\":null}}",
            "parameters.scale: expected \"log_odds\", \"probability\" or \"value\", got null");
    refused(",\"parameters\":{\"top_k\":17}}",
            "parameters.top_k: 17 is out of range for top_k (0 to 16)");
    refused(",\"parameters\":{\"top_k\":-1}}",
            "parameters.top_k: -1 is out of range for top_k (0 to 16)");
    refused(",\"parameters\":{\"top_k\":2.5}}",
            "parameters.top_k: expected an integer for top_k, got 2.5");
    refused(",\"parameters\":{\"top_k\":\"3\"}}",
            "parameters.top_k: expected a number of reasons (0 to 16), got \"3\"");
    refused(",\"parameters\":{\"class\":[\"a\"]}}",
            "parameters.class: expected a class label (a string), got an array");
    refused(",\"parameters\":{\"steps\":64}}",
            "parameters.steps: unknown parameter (an explanation takes \"method\", \"scale\", "
            "\"top_k\" and \"class\")");
    refused(",\"parameters\":{\"top_k\":1,\"top_k\":2}}", "parameters.top_k: given twice");
    refused(",\"parameters\":{},\"parameters\":{}}", "parameters: given twice");
}

/* ---- with a model ---------------------------------------------------------------------------- */

typedef struct trained {
    keel_model *m;
    keel_frame *f;
    keel_schema *s;
} trained;

/* A small model on tests/data/kinds.csv (amount numeric, plan categorical, active boolean,
 * note text, ...) predicting target: "label" (binary: churned, stayed) or "amount"
 * (regression). */
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

static serve_explain_params no_params(void)
{
    return (serve_explain_params){.method = -1, .scale = KEEL_SCALE_DEFAULT, .top_k = -1};
}

TEST(explain_options_checked_against_the_model)
{
    trained t = train_kinds("label"), r = train_kinds("amount");
    REQUIRE(t.m && r.m);
    keel_explain_options o;
    serve_error err;
    serve_explain_params p = no_params();
    REQUIRE(serve_explain_options(&p, t.m, 3, &o, &err) == KEEL_OK);
    CHECK_EQ_INT(o.method, KEEL_EXPLAIN_IG);
    CHECK_EQ_INT(o.scale, KEEL_SCALE_DEFAULT);
    CHECK_EQ_INT(o.class_index, -1);
    CHECK_EQ_INT(o.top_k, 0);

    p = (serve_explain_params){KEEL_EXPLAIN_SHAPLEY, KEEL_SCALE_PROBABILITY, 2, "churned"};
    REQUIRE(serve_explain_options(&p, t.m, 16, &o, &err) == KEEL_OK);
    CHECK_EQ_INT(o.method, KEEL_EXPLAIN_SHAPLEY);
    CHECK_EQ_INT(o.scale, KEEL_SCALE_PROBABILITY);
    CHECK_EQ_INT(o.class_index, 0);
    CHECK_EQ_INT(o.top_k, 2);

    /* Row limits: 16 with Shapley values, 1,000 with Integrated Gradients; 413. */
    CHECK_EQ_INT(serve_explain_options(&p, t.m, 17, &o, &err), KEEL_ELIMIT);
    CHECK_EQ_INT(err.status, 413);
    CHECK_STR(err.msg, "17 rows; an explain request with method shapley takes at most 16 (send "
                       "the rows in several requests)");
    p = no_params();
    CHECK_EQ_INT(serve_explain_options(&p, t.m, 1000, &o, &err), KEEL_OK);
    CHECK_EQ_INT(serve_explain_options(&p, t.m, 1001, &o, &err), KEEL_ELIMIT);
    CHECK_EQ_INT(err.status, 413);
    CHECK_STR(err.msg, "1001 rows; an explain request with method integrated_gradients takes at "
                       "most 1000 (send the rows in several requests)");

    p.class_label = "maybe";
    CHECK_EQ_INT(serve_explain_options(&p, t.m, 1, &o, &err), KEEL_EPARSE);
    CHECK_EQ_INT(err.status, 400);
    CHECK_STR(err.msg, "parameters.class: unknown class \"maybe\" (the model's classes are "
                       "\"churned\", \"stayed\")");
    p = no_params();
    p.scale = KEEL_SCALE_VALUE;
    CHECK_EQ_INT(serve_explain_options(&p, t.m, 1, &o, &err), KEEL_EPARSE);
    CHECK_STR(err.msg, "parameters.scale: \"value\" is for regression models; a classifier is "
                       "explained as \"log_odds\" or \"probability\"");

    /* Regression: value only, no classes. */
    CHECK_EQ_INT(serve_explain_options(&p, r.m, 1, &o, &err), KEEL_OK);
    CHECK_EQ_INT(o.scale, KEEL_SCALE_VALUE);
    p.scale = KEEL_SCALE_LOG_ODDS;
    CHECK_EQ_INT(serve_explain_options(&p, r.m, 1, &o, &err), KEEL_EPARSE);
    CHECK_STR(err.msg, "parameters.scale: \"log_odds\" is for classifiers; a regression model is "
                       "explained on the \"value\" scale");
    p = no_params();
    p.class_label = "churned";
    CHECK_EQ_INT(serve_explain_options(&p, r.m, 1, &o, &err), KEEL_EPARSE);
    CHECK_STR(err.msg, "parameters.class: a regression model has no classes");
    trained_free(&t);
    trained_free(&r);
}

/* Rows of every datatype, as fields: the explained prediction (probability scale) must be
 * what predict_columns gives for the same batch, row by row. */
TEST(explain_row_fields_reach_the_model_as_predict)
{
    trained t = train_kinds("label");
    REQUIRE(t.m);
    const char *body =
        "{\"inputs\":["
        "{\"name\":\"amount\",\"shape\":[4],\"datatype\":\"FP32\",\"data\":[7.49,45.2,null,120.5]},"
        "{\"name\":\"plan\",\"shape\":[4],\"datatype\":\"BYTES\",\"data\":[\"pro\",\"team\","
        "null,\"basic\"]},"
        "{\"name\":\"active\",\"shape\":[4],\"datatype\":\"BOOL\",\"data\":[true,false,null,"
        "true]},"
        "{\"name\":\"note\",\"shape\":[4],\"datatype\":\"BYTES\",\"data\":[\"late refund\","
        "\"\",null,\"happy\"]}]}";
    serve_batch b;
    serve_error err;
    REQUIRE(serve_parse_v2(body, strlen(body), &b, &err) == KEEL_OK);
    keel_named_value fields[4];
    char scratch[4 * SERVE_FIELD_TEXT];
    serve_batch_row_fields(&b, t.m, 0, fields, scratch);
    CHECK_STR(fields[0].name, "amount");
    CHECK(fields[0].text == NULL);
    CHECK_NEAR(fields[0].number, 7.49f, 0);
    CHECK_STR(fields[1].text, "pro");
    CHECK_STR(fields[2].text, "1");
    CHECK_STR(fields[3].text, "late refund");
    serve_batch_row_fields(&b, t.m, 2, fields, scratch);
    CHECK(fields[0].text == NULL && isnan(fields[0].number));
    CHECK(fields[1].text == NULL && isnan(fields[1].number));
    CHECK(fields[2].text == NULL && isnan(fields[2].number));

    float pred[8];
    keel_error e;
    int prc = keel_model_predict_columns(t.m, b.cols, b.n_cols, b.n_rows, pred, &e);
    if (prc) fprintf(stderr, "%s\n", e.msg);
    REQUIRE(prc == KEEL_OK);
    size_t n_in = keel_model_n_inputs(t.m);
    double *attr = calloc(n_in, sizeof *attr);
    REQUIRE(attr);
    keel_explain_options o;
    keel_explain_options_init(&o);
    o.scale = KEEL_SCALE_PROBABILITY;
    o.class_index = 1;
    for (size_t r = 0; r < b.n_rows; r++) {
        keel_explanation x;
        memset(&x, 0, sizeof x);
        x.attributions = attr;
        serve_batch_row_fields(&b, t.m, r, fields, scratch);
        int rc = keel_explain_fields(t.m, fields, b.n_cols, &o, &x, &e);
        CHECK_EQ_INT(rc, KEEL_OK);
        if (rc == KEEL_OK) CHECK_NEAR(x.prediction, pred[r * 2 + 1], 1e-5);
    }
    free(attr);
    serve_batch_free(&b);

    /* Numbers for a categorical input: FP32 and huge INT64 values as their exact text. */
    const char *odd = "{\"inputs\":["
                      "{\"name\":\"plan\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[0.1,"
                      "1000000]},"
                      "{\"name\":\"amount\",\"shape\":[2],\"datatype\":\"INT64\","
                      "\"data\":[3,9007199254740993]}]}";
    REQUIRE(serve_parse_v2(odd, strlen(odd), &b, &err) == KEEL_OK);
    serve_batch_row_fields(&b, t.m, 0, fields, scratch);
    CHECK_STR(fields[0].text, "0.1");
    CHECK(fields[1].text == NULL);
    CHECK_NEAR(fields[1].number, 3, 0);
    serve_batch_row_fields(&b, t.m, 1, fields, scratch);
    CHECK_STR(fields[0].text, "1000000");
    CHECK_STR(fields[1].text, "9007199254740993");
    serve_batch_free(&b);
    trained_free(&t);
}

TEST(explain_response_heads)
{
    keel_buf out;
    keel_buf_init(&out);
    REQUIRE(serve_write_explain_v2_head(&out, "churn", "3", "why-1") == KEEL_OK);
    REQUIRE(keel_buf_puts(&out, "{}") == KEEL_OK);
    REQUIRE(serve_write_explain_tail(&out) == KEEL_OK);
    CHECK_STR(out.data, "{\"model_name\":\"churn\",\"model_version\":\"3\",\"id\":\"why-1\","
                        "\"explanations\":[{}]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_explain_v2_head(&out, "a\"b", NULL, NULL) == KEEL_OK);
    REQUIRE(serve_write_explain_tail(&out) == KEEL_OK);
    CHECK_STR(out.data, "{\"model_name\":\"a\\\"b\",\"explanations\":[]}");
    keel_buf_reset(&out);
    REQUIRE(serve_write_explain_v1_head(&out) == KEEL_OK);
    REQUIRE(serve_write_explain_tail(&out) == KEEL_OK);
    CHECK_STR(out.data, "{\"explanations\":[]}");
    keel_buf_free(&out);

    /* Out of memory at every allocation: an error, the buffer as it was, nothing leaked. */
    for (long n = 1;; n++) {
        long live = test_alloc_live();
        keel_buf b;
        keel_buf_init(&b);
        test_fail_alloc_after(n);
        int rc = serve_write_explain_v2_head(&b, "churn", "3", "why-1");
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            CHECK_STR(b.data, "{\"model_name\":\"churn\",\"model_version\":\"3\",\"id\":\"why-1\","
                              "\"explanations\":[");
            keel_buf_free(&b);
            break;
        }
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK(b.len == 0);
        keel_buf_free(&b);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (n > 50) break;
    }
}
