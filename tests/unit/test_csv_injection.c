/*
 * test_csv_injection.c — CSV formula injection (OWASP): keel_buf_csv_text puts a ' before a
 * text cell a spreadsheet would run as a formula and leaves numbers alone; keel predict's and
 * keel explain's CSV writers (src/model/score_file.c, src/explain/batch.c) use it for every
 * text cell, and write the cells as they are when asked for raw CSV.
 */
#include "harness.h"

#include "base/base.h"
#include "explain/batch.h"
#include "model/score_file.h"
#include "tests/unit/fixtures.h"

#include <stdlib.h>

/* The cell keel_buf_csv_text writes for s (static buffer). */
static const char *cell(const char *s, bool raw)
{
    static char out[256];
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_buf_csv_text(&b, s, strlen(s), raw);
    snprintf(out, sizeof out, "%s", rc == KEEL_OK && b.data ? b.data : "(failed)");
    keel_buf_free(&b);
    return out;
}

TEST(csv_text_neutralises_every_trigger)
{
    /* every character OWASP names, first in the cell */
    CHECK_STR(cell("=1+1", false), "'=1+1");
    CHECK_STR(cell("+1+1", false), "'+1+1");
    CHECK_STR(cell("-1+1", false), "'-1+1");
    CHECK_STR(cell("@SUM(A1:A2)", false), "'@SUM(A1:A2)");
    CHECK_STR(cell("\tx", false), "'\tx");
    CHECK_STR(cell("=HYPERLINK(\"http://x\")", false), "\"'=HYPERLINK(\"\"http://x\"\")\"");
    /* a cell that needs quotes: the ' goes inside them, as part of the text */
    CHECK_STR(cell("\r=1", false), "\"'\r=1\"");
    CHECK_STR(cell("=a,b", false), "\"'=a,b\"");
    /* only the first character counts; other text is as keel_buf_csv_field writes it */
    CHECK_STR(cell("a=1", false), "a=1");
    CHECK_STR(cell(" =1", false), " =1");
    CHECK_STR(cell("ok", false), "ok");
    CHECK_STR(cell("", false), "");
    CHECK_STR(cell("a,b", false), "\"a,b\"");
    CHECK_STR(cell("'=1", false), "'=1"); /* already quoted text: nothing to add */
    /* things that look numeric but are not a number are text */
    CHECK_STR(cell("-", false), "'-");
    CHECK_STR(cell("+", false), "'+");
    CHECK_STR(cell("-.", false), "'-.");
    CHECK_STR(cell("-1e", false), "'-1e");
    CHECK_STR(cell("-1e+", false), "'-1e+");
    CHECK_STR(cell("-inf", false), "'-inf");
    CHECK_STR(cell("-nan", false), "'-nan");
    CHECK_STR(cell("-0x10", false), "'-0x10");
    CHECK_STR(cell("-1-1", false), "'-1-1");
    CHECK_STR(cell("-1 ", false), "'-1 ");
    CHECK_STR(cell("+1.5.2", false), "'+1.5.2");
}

TEST(csv_text_leaves_numbers_alone)
{
    static const char *const numbers[] = {"-1.5", "+3",  "-2e-3", "-0",    "+0.0",
                                          "-.5",  "-5.", "-1E10", "+1e+2", "-12345678901234567890",
                                          "1",    "0.25"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        CHECK_STR(cell(numbers[i], false), numbers[i]);
}

TEST(csv_text_raw_writes_cells_as_they_are)
{
    CHECK_STR(cell("=1+1", true), "=1+1");
    CHECK_STR(cell("@x", true), "@x");
    CHECK_STR(cell("-x", true), "-x");
    CHECK_STR(cell("=a,b", true), "\"=a,b\"");
    CHECK_STR(cell("-1.5", true), "-1.5");
}

TEST(csv_text_out_of_memory_leaves_an_error)
{
    keel_buf b;
    keel_buf_init(&b);
    test_fail_alloc_after(1);
    int rc = keel_buf_csv_text(&b, "=a,b", 4, false);
    test_fail_alloc_after(0);
    CHECK_EQ_INT(rc, KEEL_ENOMEM);
    keel_buf_free(&b);
}

/* A pima model whose positive class is called "=1+1" (a label someone could put in the
 * training data), trained briefly. */
static keel_model *formula_model(void)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.max_epochs = 1;
    keel_frame *f = NULL;
    keel_schema *s = NULL;
    keel_model *m = test_train_pima(&hp, &f, &s);
    keel_frame_free(f);
    keel_schema_free(s);
    if (!m || m->target.classes.n != 2) return m;
    keel_free(m->target.classes.items[1]);
    m->target.classes.items[1] = keel_strdup("=1+1");
    return m;
}

static char *predict_csv(keel_model *m, bool raw)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    keel_predict_file_options o = {.threads = 2, .csv_raw = raw};
    keel_predict_file_result res;
    keel_error e;
    int rc = keel_predict_file(m, path, &o, out, &res, &e);
    fclose(out);
    keel_validate_result_free(&res.data);
    if (rc != KEEL_OK) harness_fail(__FILE__, __LINE__, "predict: %s", e.msg);
    return text;
}

TEST(csv_predict_file_neutralises_labels_unless_raw)
{
    keel_model *m = formula_model();
    REQUIRE(m && m->target.classes.n == 2);
    char *safe = predict_csv(m, false), *raw = predict_csv(m, true);
    REQUIRE(safe && raw);
    /* the header's p_ column starts with p: nothing to do there */
    CHECK(strstr(safe, ",prediction,p_neg,p_=1+1\n") != NULL);
    /* some rows predict the class: its cell is text in a spreadsheet, and only in safe */
    CHECK(strstr(safe, ",'=1+1,") != NULL);
    CHECK(strstr(safe, ",=1+1,") == NULL);
    CHECK(strstr(raw, ",=1+1,") != NULL);
    CHECK(strstr(raw, "'") == NULL);
    keel_model_free(m);
    free(safe);
    free(raw);
}

static char *explain_csv(keel_model *m, bool raw)
{
    keel_explainer *x;
    keel_error e;
    if (keel_explainer_get(m, &x, &e) != KEEL_OK) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    keel_explain_file_options o = {.threads = 1, .limit = 20, .csv = true, .csv_raw = raw};
    keel_explain_options_init(&o.opt);
    o.opt.class_index = 1; /* "=1+1" */
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    keel_explain_file_result res;
    int rc = keel_explain_file(x, m, path, &o, out, &res, &e);
    fclose(out);
    keel_validate_result_free(&res.data);
    if (rc != KEEL_OK) harness_fail(__FILE__, __LINE__, "explain: %s", e.msg);
    return text;
}

TEST(csv_explain_file_neutralises_the_class_unless_raw)
{
    keel_model *m = formula_model();
    REQUIRE(m && m->target.classes.n == 2);
    char *safe = explain_csv(m, false), *raw = explain_csv(m, true);
    REQUIRE(safe && raw);
    /* every row explains the class "=1+1": its cell gets the ', numbers stay numbers */
    CHECK(strstr(safe, ",log_odds,'=1+1,") != NULL);
    CHECK(strstr(safe, ",log_odds,=1+1,") == NULL);
    CHECK(strstr(raw, ",log_odds,=1+1,") != NULL);
    CHECK(strstr(raw, "'=1+1") == NULL);
    keel_model_free(m);
    free(safe);
    free(raw);
}
