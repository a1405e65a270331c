/*
 * test_explain_batch.c — explaining many rows (src/explain/batch.c): a file row by row gives
 * the same bytes on any number of threads, stops at a limit, writes CSV with its header,
 * stops when cancelled; the global report is the same on one thread and on several.
 */
#include "harness.h"

#include "explain/batch.h"
#include "tests/unit/fixtures.h"

#include <stdlib.h>

static keel_model *pima(keel_frame **f, keel_schema **s)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.max_epochs = 2;
    return test_train_pima(&hp, f, s);
}

/* Explains data/pima2.csv into a string (malloc'd) with o; NULL on failure. */
static char *explain_to_string(keel_model *m, keel_explainer *x, keel_explain_file_options *o,
                               keel_explain_file_result *res, int *rc, keel_error *e)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    *rc = keel_explain_file(x, m, path, o, out, res, e);
    fclose(out);
    keel_validate_result_free(&res->data);
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

TEST(explain_file_same_bytes_on_any_threads)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = pima(&f, &s);
    REQUIRE(m);
    keel_explainer *x;
    keel_error e;
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    keel_explain_file_options o = {.threads = 1, .limit = 100};
    keel_explain_options_init(&o.opt);
    keel_explain_file_result res;
    int rc;
    char *one = explain_to_string(m, x, &o, &res, &rc, &e);
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK_EQ_INT(res.explained, 100);
    CHECK(res.limit_hit);
    CHECK_EQ_INT(count_lines(one), 100);
    CHECK(one && !strncmp(one, "{\"row\":1,\"line\":2,", 18));
    o.threads = 3;
    char *three = explain_to_string(m, x, &o, &res, &rc, &e);
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK(one && three && !strcmp(one, three));
    /* CSV: a header, then a row per record. */
    o.csv = true;
    char *csv = explain_to_string(m, x, &o, &res, &rc, &e);
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK_EQ_INT(count_lines(csv), 101);
    CHECK(csv && !strncmp(csv, "row,line,prediction,baseline_prediction,scale,class,", 51));
    /* Cancelled before the first row. */
    volatile int stop = 1;
    o.csv = false;
    o.cancel = &stop;
    char *none = explain_to_string(m, x, &o, &res, &rc, &e);
    CHECK_EQ_INT(rc, KEEL_ECANCELED);
    CHECK_STR(e.msg, "interrupted");
    free(one);
    free(three);
    free(csv);
    free(none);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* The report is the same bytes for the same threads; across thread counts the mean
 * |attribution| is summed in other parts, so only its last bits may differ. */
TEST(explain_global_repeatable_and_thread_independent)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = pima(&f, &s);
    REQUIRE(m);
    keel_explainer *x;
    keel_error e;
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    keel_global_options o = {.threads = 1, .repeats = 2, .pd_points = 5};
    keel_explain_options_init(&o.opt);
    o.opt.seed = 42;
    keel_buf a, b;
    keel_buf_init(&a);
    keel_buf_init(&b);
    keel_global_report r;
    CHECK_EQ_INT(keel_explain_global(x, m, f, f->n_rows, &o, &r, &e), KEEL_OK);
    CHECK_EQ_INT(r.n_pd, KEEL_GLOBAL_PD_COLUMNS);
    CHECK_EQ_INT(r.n_rows, f->n_rows);
    CHECK_EQ_INT(r.class_index, 1);
    for (size_t i = 1; i < m->n_inputs; i++) /* most important first */
        CHECK(r.importance[i - 1].drop >= r.importance[i].drop);
    keel_importance one[64];
    REQUIRE(m->n_inputs <= 64);
    memcpy(one, r.importance, m->n_inputs * sizeof *one);
    keel_global_report_free(&r);
    o.threads = 4;
    CHECK_EQ_INT(keel_explain_global(x, m, f, f->n_rows, &o, &r, &e), KEEL_OK);
    for (size_t i = 0; i < m->n_inputs; i++) {
        CHECK_EQ_INT(r.importance[i].input, one[i].input);
        CHECK(r.importance[i].drop == one[i].drop);
        CHECK_NEAR(r.importance[i].mean_abs_attribution, one[i].mean_abs_attribution, 1e-12);
    }
    CHECK_EQ_INT(keel_global_report_write(&r, m, "pima.keel", "pima2.csv", 0, 42, true, &a),
                 KEEL_OK);
    keel_global_report_free(&r);
    CHECK_EQ_INT(keel_explain_global(x, m, f, f->n_rows, &o, &r, &e), KEEL_OK);
    CHECK_EQ_INT(keel_global_report_write(&r, m, "pima.keel", "pima2.csv", 0, 42, true, &b),
                 KEEL_OK);
    CHECK(a.data && b.data && !strcmp(a.data, b.data));
    CHECK(a.data && strstr(a.data, "\"metric\":\"roc_auc\"") != NULL);
    /* Out of memory while writing: the buffer is left as it was. */
    keel_buf c;
    keel_buf_init(&c);
    keel_buf_puts(&c, "before");
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_global_report_write(&r, m, "pima.keel", "pima2.csv", 0, 42, false, &c),
                 KEEL_ENOMEM);
    test_fail_alloc_after(0);
    CHECK_STR(c.data, "before");
    CHECK(!c.failed);
    keel_global_report_free(&r);
    volatile int stop = 1;
    o.cancel = &stop;
    CHECK_EQ_INT(keel_explain_global(x, m, f, f->n_rows, &o, &r, &e), KEEL_ECANCELED);
    keel_global_report_free(&r);
    keel_buf_free(&a);
    keel_buf_free(&b);
    keel_buf_free(&c);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}
