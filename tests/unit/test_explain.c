/*
 * test_explain.c — the correctness of per-row explanations (src/explain), each against an
 * independent computation:
 *   - a model that is exactly linear: Integrated Gradients equal w · (x − baseline);
 *   - exact Shapley values equal a brute-force enumeration of every permutation, over raw
 *     rows mixed column by column and predicted by the model itself (so the
 *     representation-space shortcut is checked too);
 *   - on a trained MLP the completeness error of IG with the default steps is under 1%;
 *   - an input the network cannot see gets exactly 0;
 * and the settings, the JSON form and the out-of-memory paths.
 */
#include "data/infer.h"
#include "data/validate.h"
#include "explain/explain_impl.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* data/pima2.csv (8 numeric inputs with NA, target diabetes; tests/unit/fixtures.h) with
 * n_hidden hidden layers of 16 (0: a linear model, without the per-column embedding). */
static keel_model *train_pima(keel_frame **fp, keel_schema **sp, int n_hidden, bool calibrate)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.n_hidden = n_hidden;
    hp.hidden[0] = hp.hidden[1] = 16;
    if (n_hidden == 0) hp.feature_dim = 0;
    hp.max_epochs = 8;
    hp.calibrate = calibrate;
    return test_train_pima(&hp, fp, sp);
}

TEST(explain_ig_of_a_linear_model_is_w_times_the_difference)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 0, false);
    REQUIRE(m);
    keel_explainer *x;
    keel_error e;
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    REQUIRE(x->n_layers == 1 && x->layers[0].n == 1);
    size_t d = x->d, p = m->n_inputs;
    float *r = malloc(d * sizeof *r);
    double a[16], want[16];
    keel_workspace *ws = keel_model_ws_take(m, 1);
    keel_explain_options o;
    keel_explain_options_init(&o);
    for (size_t row = 0; row < 40; row++) {
        REQUIRE(keel_model_represent(m, ws, f, &row, 0, 1, r) == KEEL_OK);
        keel_explanation ex = {.attributions = a};
        REQUIRE(keel_explain_repr(x, m, r, NULL, &o, &ex, &e) == KEEL_OK);
        memset(want, 0, sizeof want);
        for (size_t k = 0; k < d; k++)
            want[x->owner[k]] += (double)x->layers[0].w[k] * ((double)r[k] - x->base[k]);
        for (size_t i = 0; i < p; i++)
            CHECK_NEAR(a[i], want[i], 2e-6 * (1 + fabs(want[i])));
        CHECK(ex.completeness_error < 1e-5);
        CHECK_STR(keel_explain_scale_name(ex.scale), "log_odds");
    }
    keel_model_ws_give(m, ws);
    free(r);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* Copies cell (src row sr) to (dst row dr) for the column types pima has. */
static void copy_cell(keel_frame *dst, size_t dr, const keel_frame *src, size_t sr, size_t c)
{
    keel_column *d = &dst->cols[c];
    const keel_column *s = &src->cols[c];
    if (d->type == KEEL_TYPE_NUMERIC) d->num[dr] = s->num[sr];
    if (d->type == KEEL_TYPE_CATEGORICAL) d->cat[dr] = s->cat[sr];
    if (d->type == KEEL_TYPE_BOOLEAN) d->boolean[dr] = s->boolean[sr];
}

TEST(explain_exact_shapley_equals_brute_force_over_raw_rows)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 2, true);
    REQUIRE(m);
    /* A background of three known training rows, so the brute force can mix raw rows. */
    size_t bg_rows[3] = {3, 17, 250}, xr = 42;
    REQUIRE(keel_model_set_background(m, f, bg_rows, 3, 3, 1) == KEEL_OK);
    REQUIRE(m->n_background == 3);
    keel_explainer *x;
    keel_error e;
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    size_t p = m->n_inputs, masks = (size_t)1 << p;
    REQUIRE(p == 8);
    /* v(S): the mean over the background of the model's own log-odds for the raw row that
     * takes the columns in S from row xr and the rest from the background row. */
    keel_frame *mix = keel_frame_new(f->schema);
    REQUIRE(mix && keel_frame_reserve(mix, masks * 3) == KEEL_OK);
    for (size_t k = 0; k < 3; k++)
        for (size_t mk = 0; mk < masks; mk++) {
            size_t dr = k * masks + mk;
            for (size_t c = 0; c < f->n_cols; c++)
                copy_cell(mix, dr, f, bg_rows[k], c);
            for (size_t i = 0; i < p; i++)
                if (mk >> i & 1) copy_cell(mix, dr, f, xr, m->inputs[i]);
        }
    mix->n_rows = masks * 3;
    keel_workspace *ws = keel_model_ws_take(m, 1);
    float z;
    double *v = calloc(masks, sizeof *v);
    /* the background pick keeps whichever order; the mean does not care */
    for (size_t q = 0; q < masks * 3; q++) {
        REQUIRE(keel_model_logits(m, ws, mix, &q, 0, 1, &z) == KEEL_OK);
        double lo = m->cal.kind == 1 ? m->cal.a * z + m->cal.b : z;
        v[q % masks] += lo / 3;
    }
    keel_model_ws_give(m, ws);
    /* Shapley values by the permutation definition: all 8! orders. */
    double phi[8] = {0};
    size_t perm[8];
    for (size_t i = 0; i < p; i++)
        perm[i] = i;
    double count = 0;
    for (;;) {
        size_t mk = 0;
        for (size_t t = 0; t < p; t++) {
            phi[perm[t]] += v[mk | (size_t)1 << perm[t]] - v[mk];
            mk |= (size_t)1 << perm[t];
        }
        count++;
        /* next permutation (lexicographic) */
        long i = (long)p - 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0) break;
        long j = (long)p - 1;
        while (perm[j] < perm[i])
            j--;
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (size_t a = (size_t)i + 1, b = p - 1; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
    CHECK_NEAR(count, 40320, 0);
    keel_explain_options o;
    keel_explain_options_init(&o);
    o.method = KEEL_EXPLAIN_SHAPLEY;
    double a[8], se[8];
    keel_explanation ex = {.attributions = a, .std_errors = se};
    REQUIRE(keel_explain_row(x, m, f, xr, &o, &ex, &e) == KEEL_OK);
    CHECK(ex.exact);
    for (size_t i = 0; i < p; i++) {
        CHECK_NEAR(a[i], phi[i] / count, 1e-4);
        CHECK_NEAR(se[i], 0, 0);
    }
    CHECK_NEAR(ex.baseline_prediction, v[0], 1e-4);
    CHECK_NEAR(ex.prediction, v[masks - 1], 1e-4);
    CHECK(ex.completeness_error < 1e-4);
    /* The sampled estimate: within a few standard errors, and efficient. */
    o.exact_max_columns = 0;
    o.pairs = 300;
    REQUIRE(keel_explain_row(x, m, f, xr, &o, &ex, &e) == KEEL_OK);
    CHECK(!ex.exact);
    for (size_t i = 0; i < p; i++)
        CHECK(fabs(a[i] - phi[i] / count) <= 4 * se[i] + 1e-4);
    CHECK(ex.completeness_error < 1e-4); /* 300 pairs use the 3 rows equally */
    free(v);
    keel_frame_free(mix);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(explain_ig_completeness_on_a_trained_mlp_and_a_blind_input)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 2, true);
    REQUIRE(m);
    keel_explainer *x;
    keel_error e;
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    keel_explain_options o;
    keel_explain_options_init(&o);
    double a[8];
    for (int scale = KEEL_SCALE_LOG_ODDS; scale <= KEEL_SCALE_PROBABILITY; scale++) {
        o.scale = (keel_explain_scale)scale;
        for (size_t row = 0; row < 100; row++) {
            keel_explanation ex = {.attributions = a};
            REQUIRE(keel_explain_row(x, m, f, row, &o, &ex, &e) == KEEL_OK);
            double gap = fabs(ex.prediction - ex.baseline_prediction);
            CHECK(ex.completeness_error <= 0.01 * gap + 1e-6);
            /* the explained number is the model's own prediction */
            if (scale == KEEL_SCALE_PROBABILITY) {
                float out[2];
                REQUIRE(keel_model_predict_frame(m, f, &row, 0, 1, out) == KEEL_OK);
                CHECK_NEAR(ex.prediction, out[1], 1e-5);
            }
        }
    }
    /* Blind the network to input 1 (glucose): its first dense layer reads none of its
     * dimensions. Its attribution must then be exactly 0, by both methods. */
    const tail_layer *t = &x->layers[0];
    float *w = (float *)t->w;
    for (size_t k = 0; k < x->d; k++)
        if (x->owner[k] == 1) memset(w + k * t->n, 0, t->n * sizeof *w);
    o.scale = KEEL_SCALE_DEFAULT;
    for (int method = 0; method < 2; method++) {
        o.method = (keel_explain_method)method;
        for (size_t row = 0; row < 20; row++) {
            keel_explanation ex = {.attributions = a};
            REQUIRE(keel_explain_row(x, m, f, row, &o, &ex, &e) == KEEL_OK);
            CHECK(a[1] == 0.0);
            for (size_t j = 0; j < ex.n_reasons; j++)
                CHECK(ex.reasons[j].input != 1);
        }
    }
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(explain_settings_reasons_and_json)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 2, true);
    REQUIRE(m);
    keel_error e;
    keel_explainer *x;
    /* the training profile, as keel train keeps it in the artifact */
    keel_profile *prof = keel_profile_new(s);
    REQUIRE(prof && keel_profile_add_frame(prof, f) == KEEL_OK);
    REQUIRE(keel_profile_write_json(prof, &m->profile_json) == KEEL_OK);
    keel_profile_free(prof);
    /* an adverse class the model does not have is refused */
    keel_buf_puts(&m->explain_json, "{\"adverse_class\":\"maybe\"}");
    CHECK_EQ_INT(keel_explainer_get(m, &x, &e), KEEL_EFORMAT);
    CHECK(strstr(e.msg, "maybe") != NULL);
    keel_buf_reset(&m->explain_json);
    keel_buf_puts(&m->explain_json,
                  "{\"adverse_class\":\"neg\",\"reasons\":2,\"population\":\"patients\"}");
    REQUIRE(keel_explainer_get(m, &x, &e) == KEEL_OK);
    CHECK_EQ_INT((int)keel_explainer_settings(x)->reasons, 2);
    keel_explain_options o;
    keel_explain_options_init(&o);
    double a[8];
    keel_explanation ex = {.attributions = a};
    size_t found = 0;
    for (size_t row = 0; row < 30; row++) {
        REQUIRE(keel_explain_row(x, m, f, row, &o, &ex, &e) == KEEL_OK);
        CHECK_STR(m->target.classes.items[ex.class_index], "neg");
        CHECK(ex.n_reasons <= 2);
        for (size_t j = 0; j < ex.n_reasons; j++) {
            CHECK(ex.reasons[j].attribution > 0);
            CHECK(strstr(ex.reasons[j].text, keel_model_input_name(m, ex.reasons[j].input)));
            found += strstr(ex.reasons[j].text, "patients") != NULL;
        }
        if (ex.n_reasons == 2) CHECK(ex.reasons[0].attribution >= ex.reasons[1].attribution);
    }
    CHECK(found > 0);
    /* a sentence places the value among the training rows */
    double a1[8];
    keel_explanation one = {.attributions = a1};
    o.top_k = 8;
    REQUIRE(keel_explain_row(x, m, f, 0, &o, &one, &e) == KEEL_OK);
    bool placed = false;
    for (size_t j = 0; j < one.n_reasons; j++)
        placed |= strstr(one.reasons[j].text, "% of patients") != NULL ||
                  strstr(one.reasons[j].text, "median of patients") != NULL;
    CHECK(placed || one.n_reasons == 0);
    o.top_k = 0;
    /* JSON: parses, and its attributions add up */
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_explanation_to_json(m, &ex, &b) == KEEL_OK);
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
    const keel_json *root = keel_json_root(d), *attr = keel_json_get(root, "attributions");
    CHECK_EQ_INT((int)keel_json_len(attr), (int)m->n_inputs);
    double sum = 0;
    for (size_t i = 0; i < m->n_inputs; i++)
        sum += keel_json_num(keel_json_get(attr, keel_model_input_name(m, i)), NAN);
    double pred = keel_json_num(keel_json_get(root, "prediction"), NAN),
           base = keel_json_num(keel_json_get(root, "baseline_prediction"), NAN);
    CHECK_NEAR(sum, pred - base, 1e-3 * fabs(pred - base) + 1e-6);
    CHECK_STR(keel_json_str(keel_json_get(root, "method")), "integrated_gradients");
    keel_json_doc_free(d);
    keel_buf_free(&b);
    /* bad options */
    o.scale = KEEL_SCALE_VALUE;
    CHECK_EQ_INT(keel_explain_row(x, m, f, 0, &o, &ex, &e), KEEL_EINVAL);
    o.scale = KEEL_SCALE_DEFAULT;
    o.class_index = 7;
    CHECK_EQ_INT(keel_explain_row(x, m, f, 0, &o, &ex, &e), KEEL_EINVAL);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(explain_out_of_memory_leaks_nothing)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 2, true);
    REQUIRE(m);
    keel_error e;
    keel_explain_options o;
    keel_explain_options_init(&o);
    double a[8];
    keel_named_value fields[2] = {{"glucose", "148", NAN}, {"mass", NULL, 33.6}};
    float out[2];
    /* a one-row workspace in the pool first, as any prediction leaves */
    REQUIRE(keel_model_predict_fields(m, fields, 2, out, &e) == KEEL_OK);
    /* making the explainer: every failure is ENOMEM and frees what it made */
    keel_explainer *x = NULL;
    for (long n = 1; n < 10000; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        int rc = keel_explainer_get(m, &x, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT((int)(test_alloc_live() - live), 0);
    }
    REQUIRE(x && m->explainer == x);
    /* explaining: after one warm-up call IG allocates nothing; Shapley's failures leak nothing */
    for (int method = 0; method < 2; method++) {
        o.method = (keel_explain_method)method;
        keel_explanation ex = {.attributions = a};
        REQUIRE(keel_explain_fields(m, fields, 2, &o, &ex, &e) == KEEL_OK);
        for (long n = 1; n < 10000; n++) {
            long live = test_alloc_live();
            test_fail_alloc_after(n);
            int rc = keel_explain_fields(m, fields, 2, &o, &ex, &e);
            test_fail_alloc_after(0);
            if (rc == KEEL_OK) {
                if (method == 0) CHECK_EQ_INT((int)n, 1);
                break;
            }
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK_EQ_INT((int)(test_alloc_live() - live), 0);
        }
    }
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(explain_public_api)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 2, true);
    REQUIRE(m);
    keel_error e;
    keel_named_value fields[3] = {
        {"glucose", "180", NAN}, {"mass", NULL, 41.0}, {"age", "55", NAN}};
    double a[8], b[8];
    keel_explain_info info;
    REQUIRE(keel_explain(m, fields, 3, NULL, a, &info, &e) == KEEL_OK);
    CHECK_STR(info.scale, "log_odds");
    CHECK_STR(info.method, "integrated_gradients");
    CHECK_STR(keel_model_output_name(m, info.class_index), "pos");
    double sum = 0;
    for (size_t i = 0; i < 8; i++)
        sum += a[i];
    CHECK_NEAR(sum, info.prediction - info.baseline_prediction,
               0.01 * fabs(info.prediction - info.baseline_prediction) + 1e-6);
    CHECK(info.n_reasons >= 1 && info.n_reasons <= 4);
    CHECK(strlen(info.reason_text[0]) > 0);
    /* the probability scale is keel_model_predict_fields' probability */
    float out[2];
    REQUIRE(keel_model_predict_fields(m, fields, 3, out, &e) == KEEL_OK);
    REQUIRE(keel_explain(m, fields, 3, "scale=probability,top=2,method=shapley", b, &info, &e) ==
            KEEL_OK);
    CHECK_NEAR(info.prediction, out[1], 1e-5);
    CHECK_STR(info.method, "shapley");
    CHECK(info.n_reasons <= 2);
    REQUIRE(keel_explain(m, fields, 3, "class=neg", b, &info, &e) == KEEL_OK);
    CHECK_STR(keel_model_output_name(m, info.class_index), "neg");
    for (size_t i = 0; i < 8; i++) /* log-odds of the other class: the opposite numbers */
        CHECK_NEAR(b[i], -a[i], 1e-4 * (1 + fabs(a[i])));
    /* refusals name the problem */
    CHECK_EQ_INT(keel_explain(m, fields, 3, "method=magic", a, &info, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "magic") != NULL);
    CHECK_EQ_INT(keel_explain(m, fields, 3, "steps", a, &info, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_explain(m, fields, 3, "class=maybe", a, &info, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_explain(m, fields, 3, "colour=red", a, &info, &e), KEEL_EINVAL);
    keel_named_value bad[1] = {{"glucose", "sweet", NAN}};
    CHECK_EQ_INT(keel_explain(m, bad, 1, NULL, a, &info, &e), KEEL_EMISMATCH);
    keel_named_value unknown[1] = {{"colour", "red", NAN}};
    CHECK_EQ_INT(keel_explain(m, unknown, 1, NULL, a, &info, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_explain(m, fields, 3, NULL, NULL, &info, &e), KEEL_EINVAL);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(explain_options_fit_the_model)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 0, false);
    CHECK(m != NULL);
    if (!m) return;
    keel_explain_options o;
    keel_explain_options_init(&o);
    keel_error e;
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, NULL, &e), KEEL_OK);
    o.scale = KEEL_SCALE_VALUE; /* a regression scale for a classifier */
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, NULL, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "log_odds or probability") != NULL);
    o.scale = KEEL_SCALE_PROBABILITY;
    const char *label = keel_model_output_name(m, 1);
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, label, &e), KEEL_OK);
    CHECK_EQ_INT(o.class_index, 1);
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, "no-such-class", &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "no-such-class") != NULL && strstr(e.msg, "diabetes") != NULL);
    m->target.task = KEEL_TASK_REGRESSION; /* the same rules seen from a regression model */
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, NULL, &e), KEEL_EINVAL);
    o.scale = KEEL_SCALE_VALUE;
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, NULL, &e), KEEL_OK);
    CHECK_EQ_INT(keel_explain_options_fit(&o, m, label, &e), KEEL_EINVAL);
    m->target.task = KEEL_TASK_BINARY;
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}
