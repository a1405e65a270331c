/*
 * test_explain_global.c — global explanations (src/explain/global.c): permutation importance,
 * mean |attribution| and partial dependence on small models trained on synthetic data whose
 * answer is known: y depends on x1 only (rising with it), x2 is noise.
 */
#include "data/infer.h"
#include "data/profile.h"
#include "data/validate.h"
#include "explain/explain.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <stdlib.h>

enum { SYN_ROWS = 600 };

/* Writes the synthetic file: x1, x2 uniform on [-3, 3), colour in {red, green, blue} (noise),
 * flag boolean (noise), y: binary "yes" when x1 + small noise > 0; multiclass "lo"/"mid"/"hi"
 * by x1's tercile; regression 2 x1 + noise. */
static int write_synthetic(const char *path, int task)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return -1;
    keel_rng r;
    keel_rng_seed(&r, 7);
    static const char *const colours[] = {"red", "green", "blue"};
    fputs("x1,x2,colour,flag,y\n", fp);
    for (int i = 0; i < SYN_ROWS; i++) {
        double x1 = keel_rng_uniform(&r) * 6 - 3, x2 = keel_rng_uniform(&r) * 6 - 3;
        double noise = keel_rng_uniform(&r) - 0.5;
        const char *c = colours[keel_rng_next(&r) % 3];
        const char *flag = keel_rng_next(&r) % 2 ? "true" : "false";
        fprintf(fp, "%.4f,%.4f,%s,%s,", x1, x2, c, flag);
        if (task == KEEL_TASK_BINARY)
            fputs(x1 + 0.3 * noise > 0 ? "yes\n" : "no\n", fp);
        else if (task == KEEL_TASK_MULTICLASS)
            fputs(x1 < -1 ? "lo\n" : x1 < 1 ? "mid\n" : "hi\n", fp);
        else
            fprintf(fp, "%.4f\n", 2 * x1 + noise);
    }
    return fclose(fp);
}

typedef struct fixture {
    keel_schema *s;
    keel_frame *f;
    keel_model *m;
} fixture;

static void fixture_free(fixture *x)
{
    keel_model_free(x->m);
    keel_frame_free(x->f);
    keel_schema_free(x->s);
}

static bool train_synthetic(fixture *x, int task)
{
    memset(x, 0, sizeof *x);
    char path[1024];
    snprintf(path, sizeof path, "%s/syn%d.csv", test_tmpdir(), task);
    if (write_synthetic(path, task)) return false;
    keel_infer_options io;
    keel_infer_options_init(&io);
    io.target = "y";
    keel_error e;
    if (keel_infer_file(path, &io, &x->s, &e)) return false;
    keel_schema_move_to_end(x->s, (size_t)keel_schema_find(x->s, "y"));
    for (size_t i = 0; i < x->s->n_columns; i++)
        if (x->s->columns[i].role == KEEL_ROLE_FEATURE) {
            x->s->columns[i].has_min = x->s->columns[i].has_max = false;
            x->s->columns[i].integer = false;
            x->s->columns[i].nullable = true;
        }
    keel_validate_result vr;
    if (keel_frame_load(x->s, path, NULL, &x->f, &vr, &e)) return false;
    keel_validate_result_free(&vr);
    keel_train_options o = {.target = "y"};
    keel_hparams_init(&o.hp);
    o.hp.hidden[0] = o.hp.hidden[1] = 16;
    o.hp.max_epochs = 40;
    o.hp.seed = 3;
    o.hp.task = task;
    keel_train_result tr;
    if (keel_train(x->f, NULL, 0, &o, &x->m, &tr, &e)) {
        fprintf(stderr, "train: %s\n", e.msg);
        return false;
    }
    return true;
}

static size_t input_of(const keel_model *m, const char *name)
{
    long i = keel_model_input_index(m, name, strlen(name));
    return i < 0 ? (size_t)-1 : (size_t)i;
}

/* ---- permutation importance ---- */

TEST(importance_finds_the_signal_and_is_deterministic)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    size_t k = x.m->n_inputs, i1 = input_of(x.m, "x1"), i2 = input_of(x.m, "x2");
    REQUIRE(k == 4 && i1 < k && i2 < k);
    keel_importance a[4], b[4];
    const char *metric = NULL;
    double base = 0, base2 = 0;
    keel_error e;
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, x.f->n_rows, 0, 11, a, &metric,
                                                &base, &e) == KEEL_OK);
    CHECK_STR(metric, "roc_auc");
    CHECK(base > 0.95);
    CHECK(a[i1].drop > 0.2);
    CHECK(a[i1].ci_low > 0 && a[i1].ci_low <= a[i1].drop && a[i1].drop <= a[i1].ci_high);
    CHECK(fabs(a[i2].drop) < 0.05);
    for (size_t j = 0; j < k; j++) {
        CHECK_EQ_INT(a[j].input, j);
        CHECK(isnan(a[j].mean_abs_attribution));
        if (j != i1) CHECK(a[j].drop < a[i1].drop);
    }
    /* The same seed gives the same numbers, bit for bit. */
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, x.f->n_rows, 0, 11, b, &metric,
                                                &base2, &e) == KEEL_OK);
    CHECK(base == base2);
    for (size_t j = 0; j < k; j++) {
        CHECK(a[j].drop == b[j].drop);
        CHECK(a[j].ci_low == b[j].ci_low);
        CHECK(a[j].ci_high == b[j].ci_high);
    }
    /* One repeat: the interval is the point. A row subset works. */
    size_t rows[200];
    for (size_t r = 0; r < 200; r++)
        rows[r] = 2 * r + 1;
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, rows, 200, 1, 5, b, &metric, &base2,
                                                &e) == KEEL_OK);
    CHECK(b[i1].drop > 0.2);
    CHECK(b[i1].ci_low == b[i1].drop && b[i1].ci_high == b[i1].drop);
    fixture_free(&x);
}

TEST(importance_of_a_column_without_variation_is_zero)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    size_t i2 = input_of(x.m, "x2"), c2 = x.m->inputs[i2];
    for (size_t r = 0; r < x.f->n_rows; r++) /* permuting it changes nothing the model sees */
        x.f->cols[c2].num[r] = 0.25;
    keel_importance a[4];
    const char *metric;
    double base;
    keel_error e;
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, x.f->n_rows, 7, 1, a, &metric,
                                                &base, &e) == KEEL_OK);
    CHECK(a[i2].drop == 0);
    CHECK(a[i2].ci_low <= 0 && a[i2].ci_high >= 0);
    fixture_free(&x);
}

TEST(importance_of_regression_and_multiclass)
{
    fixture x;
    keel_importance a[4];
    const char *metric;
    double base;
    keel_error e;
    REQUIRE(train_synthetic(&x, KEEL_TASK_REGRESSION));
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, x.f->n_rows, 3, 1, a, &metric,
                                                &base, &e) == KEEL_OK);
    CHECK_STR(metric, "rmse");
    CHECK(base < 1.0);
    CHECK(a[input_of(x.m, "x1")].drop > 1.0); /* the RMSE rises by more than 1 */
    CHECK(fabs(a[input_of(x.m, "x2")].drop) < 0.3);
    fixture_free(&x);

    REQUIRE(train_synthetic(&x, KEEL_TASK_MULTICLASS));
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, x.f->n_rows, 3, 1, a, &metric,
                                                &base, &e) == KEEL_OK);
    CHECK_STR(metric, "accuracy");
    CHECK(base > 0.8);
    CHECK(a[input_of(x.m, "x1")].drop > 0.3);
    fixture_free(&x);
}

TEST(importance_refuses_bad_requests)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_importance a[4];
    const char *metric;
    double base;
    keel_error e;
    CHECK_EQ_INT(
        keel_explain_permutation_importance(x.m, x.f, NULL, 10, -1, 1, a, &metric, &base, &e),
        KEEL_EINVAL);
    size_t far[1] = {x.f->n_rows};
    CHECK_EQ_INT(keel_explain_permutation_importance(x.m, x.f, far, 1, 1, 1, a, &metric, &base, &e),
                 KEEL_EINVAL);
    CHECK_EQ_INT(
        keel_explain_permutation_importance(x.m, x.f, NULL, 0, 1, 1, a, &metric, &base, &e),
        KEEL_EEMPTY);
    /* Rows of one class: the AUC is undefined. */
    size_t one[20], n1 = 0;
    for (size_t r = 0; r < x.f->n_rows && n1 < 20; r++) {
        int32_t c;
        keel_target_label(&x.m->target, x.f, r, &c, NULL);
        if (c == 1) one[n1++] = r;
    }
    REQUIRE(n1 == 20);
    CHECK_EQ_INT(
        keel_explain_permutation_importance(x.m, x.f, one, 20, 1, 1, a, &metric, &base, &e),
        KEEL_EINVAL);
    CHECK(strstr(e.msg, "roc_auc") != NULL);
    fixture_free(&x);
}

TEST(importance_out_of_memory)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_importance a[4], ref[4];
    const char *metric;
    double base;
    keel_error e;
    /* A first call fills the model's workspace pool, which lives as long as the model. */
    REQUIRE(keel_explain_permutation_importance(x.m, x.f, NULL, 100, 2, 1, ref, &metric, &base,
                                                &e) == KEEL_OK);
    long live = test_alloc_live();
    int rc = KEEL_ENOMEM;
    for (long n = 1; rc == KEEL_ENOMEM && n < 100000; n++) {
        test_fail_alloc_after(n);
        rc = keel_explain_permutation_importance(x.m, x.f, NULL, 100, 2, 1, a, &metric, &base, &e);
        test_fail_alloc_after(0);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc != KEEL_OK) CHECK_EQ_INT(rc, KEEL_ENOMEM);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK(a[0].drop == ref[0].drop);
    fixture_free(&x);
}

/* ---- partial dependence and mean |attribution| ---- */

TEST(partial_dependence_follows_the_signal)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_explainer *xp;
    keel_error e;
    REQUIRE(keel_explainer_get(x.m, &xp, &e) == KEEL_OK);
    size_t i1 = input_of(x.m, "x1");
    keel_pd_curve c;
    /* No training profile in the model: the grid comes from the rows. */
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 300, i1, 12, NULL, &c, &e) ==
            KEEL_OK);
    CHECK_EQ_INT(c.input, i1);
    REQUIRE(c.n >= 10 && c.n <= 12 && c.x && c.labels && c.y);
    size_t up = 0;
    for (size_t g = 1; g < c.n; g++) {
        CHECK(c.x[g] > c.x[g - 1]);
        up += c.y[g] >= c.y[g - 1] - 0.05;
    }
    CHECK(up >= (c.n - 1) * 8 / 10);
    CHECK(c.y[c.n - 1] > c.y[0] + 2); /* log-odds: from clearly "no" to clearly "yes" */
    CHECK(c.x[0] > -3 && c.x[0] < -2 && c.x[c.n - 1] > 2 && c.x[c.n - 1] < 3);
    char want[64];
    snprintf(want, sizeof want, "%.6g", c.x[0]);
    CHECK_STR(c.labels[0], want);
    keel_pd_curve_free(&c);
    CHECK(c.n == 0 && c.x == NULL && c.y == NULL);
    keel_pd_curve_free(&c);
    keel_pd_curve_free(NULL);

    /* Probabilities stay in [0, 1] and rise too. */
    keel_explain_options o;
    keel_explain_options_init(&o);
    o.scale = KEEL_SCALE_PROBABILITY;
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 200, i1, 5, &o, &c, &e) == KEEL_OK);
    REQUIRE(c.n == 5);
    for (size_t g = 0; g < c.n; g++)
        CHECK(c.y[g] >= 0 && c.y[g] <= 1);
    CHECK(c.y[4] > c.y[0] + 0.5);
    keel_pd_curve_free(&c);

    /* With the training profile in the artifact, the grid is its quantiles: on the same
     * data, close to the rows' own. */
    keel_profile *p = keel_profile_new(x.f->schema);
    REQUIRE(p);
    REQUIRE(keel_profile_add_frame(p, x.f) == KEEL_OK);
    REQUIRE(keel_profile_write_json(p, &x.m->profile_json) == KEEL_OK);
    keel_profile_free(p);
    keel_pd_curve c2;
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 300, i1, 4, NULL, &c2, &e) ==
            KEEL_OK);
    REQUIRE(c2.n == 4);
    CHECK_NEAR(c2.x[0], -2.25, 0.3); /* the 12.5th percentile of U(-3, 3) */
    CHECK_NEAR(c2.x[3], 2.25, 0.3);
    keel_pd_curve_free(&c2);
    fixture_free(&x);
}

TEST(partial_dependence_of_categories_and_booleans)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_explainer *xp;
    keel_error e;
    REQUIRE(keel_explainer_get(x.m, &xp, &e) == KEEL_OK);
    keel_pd_curve c;
    size_t ic = input_of(x.m, "colour"), ib = input_of(x.m, "flag");
    REQUIRE(ic < 4 && ib < 4);
    const char *type = keel_model_input_type(x.m, ic);
    REQUIRE(type && !strcmp(type, "categorical"));
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 100, ic, 2, NULL, &c, &e) ==
            KEEL_OK);
    CHECK_EQ_INT(c.n, 2); /* at most `points`, the most frequent */
    CHECK(c.x == NULL);
    for (size_t g = 0; g < c.n; g++) {
        CHECK(!strcmp(c.labels[g], "red") || !strcmp(c.labels[g], "green") ||
              !strcmp(c.labels[g], "blue"));
        CHECK(isfinite(c.y[g]));
    }
    keel_pd_curve_free(&c);
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 100, ic, 0, NULL, &c, &e) ==
            KEEL_OK);
    CHECK_EQ_INT(c.n, 3);
    keel_pd_curve_free(&c);
    type = keel_model_input_type(x.m, ib);
    REQUIRE(type && !strcmp(type, "boolean"));
    REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 100, ib, 10, NULL, &c, &e) ==
            KEEL_OK);
    REQUIRE(c.n == 2);
    CHECK_STR(c.labels[0], "false");
    CHECK_STR(c.labels[1], "true");
    keel_pd_curve_free(&c);

    CHECK_EQ_INT(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 100, 4, 10, NULL, &c, &e),
                 KEEL_EINVAL);
    CHECK(c.n == 0 && c.y == NULL);
    CHECK_EQ_INT(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 0, ib, 10, NULL, &c, &e),
                 KEEL_EEMPTY);
    fixture_free(&x);
}

TEST(partial_dependence_out_of_memory)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_explainer *xp;
    keel_error e;
    REQUIRE(keel_explainer_get(x.m, &xp, &e) == KEEL_OK);
    keel_profile *p = keel_profile_new(x.f->schema);
    REQUIRE(p);
    REQUIRE(keel_profile_add_frame(p, x.f) == KEEL_OK);
    REQUIRE(keel_profile_write_json(p, &x.m->profile_json) == KEEL_OK);
    keel_profile_free(p);
    for (size_t in = 0; in < x.m->n_inputs; in++) {
        keel_pd_curve c, ref;
        REQUIRE(keel_explain_partial_dependence(xp, x.m, x.f, NULL, 300, in, 6, NULL, &ref, &e) ==
                KEEL_OK);
        long live = test_alloc_live();
        int rc = KEEL_ENOMEM;
        for (long n = 1; rc == KEEL_ENOMEM && n < 100000; n++) {
            test_fail_alloc_after(n);
            rc = keel_explain_partial_dependence(xp, x.m, x.f, NULL, 300, in, 6, NULL, &c, &e);
            test_fail_alloc_after(0);
            if (rc != KEEL_OK) {
                CHECK_EQ_INT(rc, KEEL_ENOMEM);
                CHECK(c.n == 0 && c.labels == NULL);
                CHECK_EQ_INT(test_alloc_live(), live);
            }
        }
        REQUIRE(rc == KEEL_OK);
        REQUIRE(c.n == ref.n);
        for (size_t g = 0; g < c.n; g++)
            CHECK(c.y[g] == ref.y[g]);
        keel_pd_curve_free(&c);
        keel_pd_curve_free(&ref);
    }
    fixture_free(&x);
}

TEST(mean_abs_attribution_ranks_the_signal_first)
{
    fixture x;
    REQUIRE(train_synthetic(&x, KEEL_TASK_BINARY));
    keel_explainer *xp;
    keel_error e;
    REQUIRE(keel_explainer_get(x.m, &xp, &e) == KEEL_OK);
    size_t i1 = input_of(x.m, "x1");
    double a[4], b[4];
    size_t rows[50];
    for (size_t r = 0; r < 50; r++)
        rows[r] = 3 * r;
    REQUIRE(keel_explain_mean_abs_attribution(xp, x.m, x.f, rows, 50, NULL, a, &e) == KEEL_OK);
    for (size_t j = 0; j < 4; j++) {
        CHECK(isfinite(a[j]) && a[j] >= 0);
        if (j != i1) CHECK(a[j] < a[i1]);
    }
    CHECK(a[i1] > 1);
    /* Options are taken (the scale here), but the method is always Integrated Gradients. */
    keel_explain_options o;
    keel_explain_options_init(&o);
    o.method = KEEL_EXPLAIN_SHAPLEY;
    o.scale = KEEL_SCALE_PROBABILITY;
    REQUIRE(keel_explain_mean_abs_attribution(xp, x.m, x.f, rows, 50, &o, b, &e) == KEEL_OK);
    CHECK(b[i1] < a[i1] && b[i1] > 0 && b[i1] < 1);

    long live = test_alloc_live();
    int rc = KEEL_ENOMEM;
    for (long n = 1; rc == KEEL_ENOMEM && n < 100000; n++) {
        test_fail_alloc_after(n);
        rc = keel_explain_mean_abs_attribution(xp, x.m, x.f, rows, 5, NULL, b, &e);
        test_fail_alloc_after(0);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc != KEEL_OK) CHECK_EQ_INT(rc, KEEL_ENOMEM);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    fixture_free(&x);
}
