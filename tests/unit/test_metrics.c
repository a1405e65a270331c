/* Tests of src/eval/metrics.c, calibrate.c and folds.c: every measure against scikit-learn's value
 * on fixed data (metrics_expected.h, written by metrics_expected.py), the edge cases metrics.h
 * promises, the JSON and text forms, the fold guarantees on skewed labels, calibration on
 * data whose over-confidence is known, and out-of-memory paths. */
#include "harness.h"

#include "eval/calibrate.h"
#include "eval/folds.h"
#include "eval/metrics.h"

#include "metrics_expected.h"

#include <stdlib.h>

/* Relative agreement to 1e-9 (absolute 1e-15 around 0). */
#define CHECK_REL(a, b) CHECK_NEAR((a), (b), 1e-9 * fabs((double)(b)) + 1e-15)
/* The same, naming the data set when it fails. */
#define CASE_REL(name, a, b)                                                                       \
    do {                                                                                           \
        if (!(fabs((a) - (b)) <= 1e-9 * fabs(b) + 1e-15)) printf("    in data set %s\n", name);    \
        CHECK_REL(a, b);                                                                           \
    } while (0)

static double normal(keel_rng *r)
{
    /* Box-Muller; 1 − u keeps the log argument in (0, 1]. */
    double u = 1.0 - keel_rng_uniform(r), v = keel_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* ---- against scikit-learn ------------------------------------------------------------------ */

TEST(metrics_match_sklearn_classification)
{
    for (size_t c = 0; c < KEEL_ARRAY_LEN(mx_cases); c++) {
        const mx_case *e = &mx_cases[c];
        keel_metrics m;
        REQUIRE(keel_metrics_classification(e->y, e->proba, e->n, e->k, &m) == KEEL_OK);
        CHECK_EQ_INT(m.n, e->n);
        CASE_REL(e->name, m.accuracy, e->accuracy);
        CASE_REL(e->name, m.roc_auc, e->roc_auc);
        CASE_REL(e->name, m.average_precision, e->average_precision);
        CASE_REL(e->name, m.log_loss, e->log_loss);
        CASE_REL(e->name, m.f1, e->f1);
        CASE_REL(e->name, m.brier, e->brier);
        CASE_REL(e->name, m.ece, e->ece);
        CHECK(isnan(m.rmse) && isnan(m.mae) && isnan(m.r2));
    }
}

TEST(metrics_match_sklearn_regression)
{
    keel_metrics m;
    REQUIRE(keel_metrics_regression(mx_reg_y, mx_reg_pred, MX_REG_N, &m) == KEEL_OK);
    CHECK_EQ_INT(m.n, MX_REG_N);
    CHECK_REL(m.rmse, mx_reg_rmse);
    CHECK_REL(m.mae, mx_reg_mae);
    CHECK_REL(m.r2, mx_reg_r2);
    CHECK(isnan(m.accuracy) && isnan(m.roc_auc) && isnan(m.log_loss) && isnan(m.ece));
}

/* ---- hand-checked values and edge cases ---------------------------------------------------- */

TEST(metrics_ranking_small_cases)
{
    /* sklearn's documentation example: AUC 0.75, AP 0.8333... */
    int32_t y[] = {0, 0, 1, 1};
    float p[] = {0.9f, 0.1f, 0.6f, 0.4f, 0.65f, 0.35f, 0.2f, 0.8f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y, p, 4, 2, &m) == KEEL_OK);
    CHECK_REL(m.roc_auc, 0.75);
    CHECK_REL(m.average_precision, (1.0 + 2.0 / 3.0) / 2.0);

    /* All scores tied: AUC one half, AP the positive share. */
    int32_t yt[] = {0, 1, 1, 0, 0};
    float pt[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    REQUIRE(keel_metrics_classification(yt, pt, 5, 2, &m) == KEEL_OK);
    CHECK_REL(m.roc_auc, 0.5);
    CHECK_REL(m.average_precision, 0.4);
    CHECK_REL(m.accuracy, 0.6); /* ties go to class 0 */
    CHECK_REL(m.f1, 0.0);       /* nothing predicted positive: 0/0 counts as 0 */
}

TEST(metrics_ranking_matches_brute_force)
{
    /* Random small sets with many ties: AUC against the O(n²) pair count, AP against the
     * definition evaluated threshold by threshold. */
    keel_rng r;
    keel_rng_seed(&r, 3);
    int32_t y[40];
    float p[80];
    for (int trial = 0; trial < 300; trial++) {
        size_t n = 2 + (size_t)(keel_rng_uniform(&r) * 38);
        for (size_t i = 0; i < n; i++) {
            y[i] = keel_rng_uniform(&r) < 0.4;
            p[2 * i + 1] = (float)(int)(keel_rng_uniform(&r) * 6) / 5.0f; /* 6 levels */
            p[2 * i] = 1.0f - p[2 * i + 1];
        }
        double pairs = 0, wins = 0, n_pos = 0;
        for (size_t i = 0; i < n; i++) {
            n_pos += y[i];
            for (size_t j = 0; j < n; j++) {
                if (!y[i] || y[j]) continue;
                pairs += 1;
                wins += p[2 * i + 1] > p[2 * j + 1] ? 1.0 : p[2 * i + 1] == p[2 * j + 1] ? 0.5 : 0;
            }
        }
        double ap = 0, last_recall = 0;
        for (int level = 5; level >= 0; level--) {
            float t = (float)level / 5.0f;
            double tp = 0, count = 0;
            for (size_t i = 0; i < n; i++)
                if (p[2 * i + 1] >= t) tp += y[i], count += 1;
            if (count == 0 || n_pos == 0) continue;
            ap += (tp / n_pos - last_recall) * (tp / count);
            last_recall = tp / n_pos;
        }
        keel_metrics m;
        REQUIRE(keel_metrics_classification(y, p, n, 2, &m) == KEEL_OK);
        if (pairs > 0)
            CHECK_REL(m.roc_auc, wins / pairs);
        else
            CHECK(isnan(m.roc_auc));
        if (n_pos > 0)
            CHECK_REL(m.average_precision, ap);
        else
            CHECK(isnan(m.average_precision));
    }
}

TEST(metrics_one_class_auc_is_nan)
{
    int32_t y0[] = {0, 0, 0};
    int32_t y1[] = {1, 1, 1};
    float p[] = {0.8f, 0.2f, 0.3f, 0.7f, 0.5f, 0.5f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y0, p, 3, 2, &m) == KEEL_OK);
    CHECK(isnan(m.roc_auc));
    CHECK(isnan(m.average_precision)); /* no positive row: undefined (sklearn says 0) */
    CHECK_REL(m.accuracy, 2.0 / 3.0);
    CHECK(!isnan(m.log_loss) && !isnan(m.brier) && !isnan(m.ece) && !isnan(m.f1));
    REQUIRE(keel_metrics_classification(y1, p, 3, 2, &m) == KEEL_OK);
    CHECK(isnan(m.roc_auc));
    CHECK_REL(m.average_precision, 1.0);

    /* Multiclass: a class absent from y is left out of the macro means. Class 2 never occurs;
     * class 0 vs rest and class 1 vs rest are both perfectly ranked. */
    int32_t y3[] = {0, 1, 0, 1};
    float p3[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.6f, 0.3f, 0.5f, 0.1f, 0.4f, 0.2f, 0.5f, 0.3f};
    REQUIRE(keel_metrics_classification(y3, p3, 4, 3, &m) == KEEL_OK);
    CHECK_REL(m.roc_auc, 1.0);
    CHECK_REL(m.average_precision, 1.0);
    CHECK_REL(m.accuracy, 1.0);
    CHECK_REL(m.f1, 1.0); /* class 2 is neither a label nor a prediction: not averaged */
}

TEST(metrics_empty_is_all_nan)
{
    keel_metrics m;
    m.accuracy = 1.0;
    m.n = 7;
    CHECK_EQ_INT(keel_metrics_classification(NULL, NULL, 0, 2, &m), KEEL_OK);
    CHECK(isnan(m.accuracy) && isnan(m.roc_auc) && isnan(m.f1) && isnan(m.ece));
    CHECK_EQ_INT(m.n, 0);
    CHECK_EQ_INT(keel_metrics_regression(NULL, NULL, 0, &m), KEEL_OK);
    CHECK(isnan(m.rmse) && isnan(m.r2));
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_metrics_to_json(&m, &b), KEEL_OK);
    CHECK_STR(b.data, "{\"n\":0}");
    keel_buf_free(&b);
}

TEST(metrics_bad_input_is_einval)
{
    int32_t y[] = {0, 1, 2};
    float p[] = {0.5f, 0.5f, 0.1f, 0.9f, 0.3f, 0.7f};
    keel_metrics m;
    CHECK_EQ_INT(keel_metrics_classification(y, p, 3, 2, &m), KEEL_EINVAL); /* label 2, k 2 */
    CHECK(isnan(m.accuracy));
    CHECK_EQ_INT(m.n, 0);
    int32_t yneg[] = {0, -1, 1};
    CHECK_EQ_INT(keel_metrics_classification(yneg, p, 3, 2, &m), KEEL_EINVAL);
    int32_t ok[] = {0, 1, 1};
    CHECK_EQ_INT(keel_metrics_classification(ok, p, 3, 1, &m), KEEL_EINVAL); /* k < 2 */
    CHECK_EQ_INT(keel_metrics_classification(ok, p, 3, 2, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_metrics_classification(ok, NULL, 3, 2, &m), KEEL_EINVAL);
    CHECK_EQ_INT(keel_metrics_classification(ok, p, SIZE_MAX / 2, 3, &m), KEEL_EINVAL);
    float pnan[] = {0.5f, 0.5f, NAN, 0.9f, 0.3f, 0.7f};
    CHECK_EQ_INT(keel_metrics_classification(ok, pnan, 3, 2, &m), KEEL_EINVAL);
    CHECK_EQ_INT(keel_metrics_classification(ok, p, 3, 2, &m), KEEL_OK);

    double ry[] = {1.0, 2.0}, rp[] = {1.0, INFINITY};
    CHECK_EQ_INT(keel_metrics_regression(ry, rp, 2, &m), KEEL_EINVAL);
    CHECK_EQ_INT(keel_metrics_regression(ry, NULL, 2, &m), KEEL_EINVAL);
    CHECK(isnan(m.rmse));
}

TEST(metrics_probabilities_zero_and_one)
{
    /* Confident and right: log loss is the clip floor; confident and wrong: −log(1e-15). */
    int32_t y[] = {1, 0};
    float right[] = {0.0f, 1.0f, 1.0f, 0.0f};
    float wrong[] = {1.0f, 0.0f, 0.0f, 1.0f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y, right, 2, 2, &m) == KEEL_OK);
    CHECK(m.log_loss > 0 && m.log_loss < 1e-14);
    CHECK_REL(m.accuracy, 1.0);
    CHECK_REL(m.brier, 0.0);
    CHECK_REL(m.ece, 0.0);
    CHECK_REL(m.roc_auc, 1.0);
    CHECK_REL(m.f1, 1.0);
    REQUIRE(keel_metrics_classification(y, wrong, 2, 2, &m) == KEEL_OK);
    CHECK_REL(m.log_loss, -log(1e-15 / ((1.0 - 1e-15) + 1e-15)));
    CHECK(isfinite(m.log_loss));
    CHECK_REL(m.brier, 1.0);
    CHECK_REL(m.ece, 1.0);
    CHECK_REL(m.roc_auc, 0.0);
    CHECK_REL(m.f1, 0.0);
}

TEST(metrics_ece_first_bin_holds_zero)
{
    /* Unnormalised rows: confidence 0 (right) and 0.05 (wrong) share bin 0 = [0, 1/15]:
     * |1/2 − 0.025| = 0.475. A separate bin for 0 would give 0.5 + 0.025. */
    int32_t y[] = {0, 1};
    float p[] = {0.0f, 0.0f, 0.05f, 0.0f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y, p, 2, 2, &m) == KEEL_OK);
    CHECK_REL(m.ece, fabs(0.5 - (0.0 + (double)0.05f) / 2));
    /* Two rows in different bins: each contributes half its own gap. */
    int32_t y2[] = {1, 1};
    float p2[] = {0.2f, 0.8f, 0.7f, 0.3f};
    REQUIRE(keel_metrics_classification(y2, p2, 2, 2, &m) == KEEL_OK);
    CHECK_REL(m.ece, 0.5 * (1.0 - (double)0.8f) + 0.5 * (double)0.7f);
}

TEST(metrics_macro_f1_counts_predicted_only_classes)
{
    /* Class 2 is predicted once and never a label: it is in sklearn's label set with F1 0.
     * sklearn.metrics.f1_score([0, 0, 1], [0, 2, 1], average="macro") == 0.5555555555555555 */
    int32_t y[] = {0, 0, 1};
    float p[] = {0.6f, 0.3f, 0.1f, 0.2f, 0.3f, 0.5f, 0.1f, 0.8f, 0.1f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y, p, 3, 3, &m) == KEEL_OK);
    CHECK_REL(m.f1, 0.5555555555555555);
}

TEST(metrics_multiclass_brier_definition)
{
    int32_t y[] = {0, 2};
    float p[] = {0.5f, 0.25f, 0.25f, 0.0f, 0.0f, 1.0f};
    keel_metrics m;
    REQUIRE(keel_metrics_classification(y, p, 2, 3, &m) == KEEL_OK);
    CHECK_REL(m.brier, (0.25 + 0.0625 + 0.0625 + 0.0) / 2);
}

TEST(metrics_regression_edges)
{
    keel_metrics m;
    double c[] = {0.1, 0.1, 0.1}, same[] = {0.1, 0.1, 0.1}, off[] = {0.1, 0.1, 0.2};
    REQUIRE(keel_metrics_regression(c, same, 3, &m) == KEEL_OK);
    CHECK_REL(m.r2, 1.0); /* constant y, perfect: sklearn's force_finite gives 1 */
    CHECK_REL(m.rmse, 0.0);
    REQUIRE(keel_metrics_regression(c, off, 3, &m) == KEEL_OK);
    CHECK_REL(m.r2, 0.0); /* constant y, imperfect: 0 */
    CHECK_REL(m.mae, (0.2 - 0.1) / 3);
    double one[] = {2.0}, onep[] = {3.0};
    REQUIRE(keel_metrics_regression(one, onep, 1, &m) == KEEL_OK);
    CHECK(isnan(m.r2));
    CHECK_REL(m.rmse, 1.0);
    CHECK_EQ_INT(m.n, 1);
}

TEST(metrics_many_ties_are_not_quadratic)
{
    /* 200k rows with one score: a quadratic tie loop would take minutes. */
    size_t n = 200000;
    int32_t *y = malloc(n * sizeof *y);
    float *p = malloc(2 * n * sizeof *p);
    REQUIRE(y && p);
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 3 == 0);
        p[2 * i] = 0.25f;
        p[2 * i + 1] = 0.75f;
    }
    keel_metrics m;
    double t0 = keel_now_seconds();
    REQUIRE(keel_metrics_classification(y, p, n, 2, &m) == KEEL_OK);
    CHECK(keel_now_seconds() - t0 < 10.0);
    CHECK_REL(m.roc_auc, 0.5);
    CHECK_REL(m.average_precision, (double)((n + 2) / 3) / (double)n);
    free(y);
    free(p);
}

TEST(metrics_classification_out_of_memory)
{
    const mx_case *e = &mx_cases[2];
    keel_metrics m;
    long live = test_alloc_live();
    int rc = KEEL_ENOMEM;
    for (long fail = 1; fail < 20 && rc == KEEL_ENOMEM; fail++) {
        test_fail_alloc_after(fail);
        rc = keel_metrics_classification(e->y, e->proba, e->n, e->k, &m);
        test_fail_alloc_after(0);
        if (rc == KEEL_ENOMEM) CHECK(isnan(m.accuracy) && m.n == 0);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    CHECK_REL(m.roc_auc, e->roc_auc);
}

/* ---- output -------------------------------------------------------------------------------- */

TEST(metrics_json_and_text)
{
    keel_metrics m;
    keel_metrics_clear(&m);
    m.accuracy = 0.5;
    m.log_loss = 0.25;
    m.ece = 0.125;
    m.r2 = -1.5;
    m.n = 1234;
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_buf_puts(&b, "x=") == KEEL_OK);
    CHECK_EQ_INT(keel_metrics_to_json(&m, &b), KEEL_OK);
    CHECK_STR(b.data,
              "x={\"accuracy\":0.5,\"log_loss\":0.25,\"ece\":0.125,\"r2\":-1.5,\"n\":1234}");

    /* All keys, in order. */
    m.roc_auc = 0.75, m.average_precision = 0.5, m.f1 = 0.5, m.brier = 0.0625;
    m.rmse = 2, m.mae = 1;
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_metrics_to_json(&m, &b), KEEL_OK);
    CHECK_STR(b.data, "{\"accuracy\":0.5,\"roc_auc\":0.75,\"average_precision\":0.5,"
                      "\"log_loss\":0.25,\"f1\":0.5,\"brier\":0.0625,\"ece\":0.125,\"rmse\":2,"
                      "\"mae\":1,\"r2\":-1.5,\"n\":1234}");

    keel_metrics_clear(&m);
    m.accuracy = 0.9235;
    m.average_precision = 0.5;
    m.n = 200;
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_metrics_to_text(&m, &b), KEEL_OK);
    CHECK_STR(b.data, "accuracy           0.9235\n"
                      "average_precision  0.5\n"
                      "n                  200\n");
    CHECK_EQ_INT(keel_metrics_to_json(NULL, &b), KEEL_EINVAL);
    keel_buf_free(&b);
}

TEST(metrics_json_out_of_memory_keeps_buffer)
{
    keel_metrics m;
    REQUIRE(keel_metrics_regression(mx_reg_y, mx_reg_pred, MX_REG_N, &m) == KEEL_OK);
    for (int text = 0; text < 2; text++) {
        int rc = KEEL_ENOMEM;
        for (long fail = 1; fail < 50 && rc == KEEL_ENOMEM; fail++) {
            keel_buf b;
            keel_buf_init(&b);
            long live = test_alloc_live();
            test_fail_alloc_after(fail);
            rc = text ? keel_metrics_to_text(&m, &b) : keel_metrics_to_json(&m, &b);
            test_fail_alloc_after(0);
            if (rc == KEEL_ENOMEM) CHECK_EQ_INT(b.len, 0);
            keel_buf_free(&b);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
        CHECK_EQ_INT(rc, KEEL_OK);
    }
}

/* ---- folds --------------------------------------------------------------------------------- */

/* Checks overall and per-class balance (labels 0..n_labels-1; others only overall). */
static void check_balance(const int32_t *y, size_t n, int k, const int32_t *fold, int32_t n_labels)
{
    long *count = calloc((size_t)k * (size_t)(n_labels + 1), sizeof *count);
    REQUIRE(count);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(fold[i] >= 0 && fold[i] < k);
        count[fold[i]]++;
        if (y && y[i] >= 0 && y[i] < n_labels) count[(size_t)(y[i] + 1) * k + fold[i]]++;
    }
    for (int32_t c = -1; c < n_labels; c++) {
        long lo = count[(size_t)(c + 1) * k], hi = lo;
        for (int f = 1; f < k; f++) {
            long v = count[(size_t)(c + 1) * k + f];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (hi - lo > 1) printf("  class %d: fold counts from %ld to %ld\n", (int)c, lo, hi);
        CHECK(hi - lo <= 1);
    }
    free(count);
}

TEST(folds_stratified_skewed_labels)
{
    size_t n = 10000;
    int32_t *y = malloc(n * sizeof *y), *fold = malloc(n * sizeof *fold),
            *again = malloc(n * sizeof *again);
    REQUIRE(y && fold && again);
    keel_rng r;
    keel_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++)
        y[i] = keel_rng_uniform(&r) < 0.01 ? 1 : 0; /* about 1% positive */
    for (int k = 2; k <= 10; k += 3) {
        CHECK_EQ_INT(keel_folds_stratified(y, n, k, 42, fold), KEEL_OK);
        check_balance(y, n, k, fold, 2);
    }

    /* Deterministic for a seed; another seed deals differently. */
    CHECK_EQ_INT(keel_folds_stratified(y, n, 5, 42, fold), KEEL_OK);
    CHECK_EQ_INT(keel_folds_stratified(y, n, 5, 42, again), KEEL_OK);
    CHECK(memcmp(fold, again, n * sizeof *fold) == 0);
    CHECK_EQ_INT(keel_folds_stratified(y, n, 5, 43, again), KEEL_OK);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += fold[i] != again[i];
    CHECK(differ > n / 2); /* about 4/5 of rows move */

    /* Not dealt in row order: the positives' folds are not simply 0,1,2,3,4,... */
    int in_order = 1, seen = 0, last = -1;
    for (size_t i = 0; i < n && seen < 20; i++) {
        if (y[i] != 1) continue;
        if (last >= 0 && fold[i] != (last + 1) % 5) in_order = 0;
        last = fold[i];
        seen++;
    }
    CHECK(!in_order);

    /* Unlabelled rows mixed in, and large label values. */
    for (size_t i = 0; i < n; i++)
        y[i] = i % 7 == 0 ? -1 : (i % 3 == 0 ? 1000000 : y[i]);
    CHECK_EQ_INT(keel_folds_stratified(y, n, 4, 1, fold), KEEL_OK);
    check_balance(y, n, 4, fold, 2);
    long big[4] = {0};
    for (size_t i = 0; i < n; i++)
        if (y[i] == 1000000) big[fold[i]]++;
    for (int f = 1; f < 4; f++)
        CHECK(labs(big[f] - big[0]) <= 1);

    /* Random shapes: several classes, unlabelled rows, k from 1 to 12. */
    keel_rng_seed(&r, 99);
    for (int trial = 0; trial < 200; trial++) {
        size_t m = 1 + (size_t)(keel_rng_uniform(&r) * 500);
        int k = 1 + (int)(keel_rng_uniform(&r) * 12);
        for (size_t i = 0; i < m; i++)
            y[i] = (int32_t)(keel_rng_uniform(&r) * 7) - 1; /* -1 .. 5 */
        CHECK_EQ_INT(keel_folds_stratified(y, m, k, (uint64_t)trial, fold), KEEL_OK);
        check_balance(y, m, k, fold, 6);
    }

    /* Regression: no labels at all. */
    CHECK_EQ_INT(keel_folds_stratified(NULL, n, 3, 5, fold), KEEL_OK);
    check_balance(NULL, n, 3, fold, 0);
    free(y);
    free(fold);
    free(again);
}

TEST(folds_edges)
{
    int32_t y[] = {0, 1, 0, 1, 1};
    int32_t fold[5];
    CHECK_EQ_INT(keel_folds_stratified(y, 5, 0, 1, fold), KEEL_EINVAL);
    CHECK_EQ_INT(keel_folds_stratified(y, 5, 2, 1, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_folds_stratified(y, 0, 2, 1, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_folds_stratified(y, 5, 1, 1, fold), KEEL_OK);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(fold[i], 0);
    CHECK_EQ_INT(keel_folds_stratified(y, 5, 8, 1, fold), KEEL_OK); /* k > n: distinct folds */
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++)
            CHECK(fold[i] != fold[j]);
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_folds_stratified(y, 5, 2, 1, fold), KEEL_ENOMEM);
    test_fail_alloc_after(0);
}

/* ---- calibration --------------------------------------------------------------------------- */

/* Mean log loss of probabilities from keel_calibration_apply. */
static double calibrated_loss(const keel_calibration *c, const float *z, const int32_t *y, size_t n,
                              size_t k)
{
    size_t cols = k == 1 ? 2 : k;
    float *p = malloc(n * cols * sizeof *p);
    keel_metrics m;
    keel_calibration_apply(c, z, n, k, p);
    int rc = keel_metrics_classification(y, p, n, cols, &m);
    free(p);
    return rc == KEEL_OK ? m.log_loss : NAN;
}

TEST(calibration_platt_recovers_overconfidence)
{
    size_t n = 20000;
    float *z = malloc(n * sizeof *z);
    int32_t *y = malloc(n * sizeof *y);
    REQUIRE(z && y);
    keel_rng r;
    keel_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++) {
        double zt = 1.5 * normal(&r);
        y[i] = keel_rng_uniform(&r) < sigmoid(zt);
        z[i] = (float)(3.0 * zt); /* three times too confident */
    }
    keel_calibration c;
    REQUIRE(keel_calibration_fit(&c, z, y, n, 1) == KEEL_OK);
    CHECK_EQ_INT(c.kind, 1);
    CHECK_NEAR(c.a, 1.0 / 3.0, 0.03);
    CHECK_NEAR(c.b, 0.0, 0.05);
    double before = calibrated_loss(NULL, z, y, n, 1), after = calibrated_loss(&c, z, y, n, 1);
    if (!(after < before - 0.05)) printf("    log loss %.4f -> %.4f\n", before, after);
    CHECK(after < before - 0.05);
    free(z);
    free(y);
}

TEST(calibration_platt_separable_stays_finite)
{
    float z[] = {-3.0f, -2.0f, -1.0f, -0.5f, 0.5f, 1.0f, 2.0f, 3.0f};
    int32_t y[] = {0, 0, 0, 0, 1, 1, 1, 1};
    keel_calibration c;
    REQUIRE(keel_calibration_fit(&c, z, y, 8, 1) == KEEL_OK);
    CHECK(isfinite(c.a) && isfinite(c.b));
    CHECK(c.a > 1.0 && c.a < 1e4);
    float p[16];
    keel_calibration_apply(&c, z, 8, 1, p);
    for (int i = 0; i < 8; i++) {
        CHECK(isfinite(p[2 * i]) && isfinite(p[2 * i + 1]));
        if (i) CHECK(p[2 * i + 1] >= p[2 * i - 1]);
    }
    CHECK(p[15] > 0.99f && p[1] < 0.01f);

    int32_t all1[] = {1, 1, 1, 1, 1, 1, 1, 1}; /* one class only */
    REQUIRE(keel_calibration_fit(&c, z, all1, 8, 1) == KEEL_OK);
    CHECK(isfinite(c.a) && isfinite(c.b));
    CHECK(c.b > 1.0);
    float big[] = {-30000.0f, 30000.0f}; /* huge logits, separable */
    int32_t yb[] = {0, 1};
    REQUIRE(keel_calibration_fit(&c, big, yb, 2, 1) == KEEL_OK);
    CHECK(isfinite(c.a) && isfinite(c.b));
}

TEST(calibration_temperature_recovers_overconfidence)
{
    size_t n = 20000, k = 4;
    float *z = malloc(n * k * sizeof *z);
    int32_t *y = malloc(n * sizeof *y);
    REQUIRE(z && y);
    keel_rng r;
    keel_rng_seed(&r, 12);
    for (size_t i = 0; i < n; i++) {
        double zt[4], sum = 0.0;
        for (size_t c = 0; c < k; c++) {
            zt[c] = 1.5 * normal(&r);
            sum += exp(zt[c]);
        }
        double u = keel_rng_uniform(&r) * sum, acc = 0.0;
        y[i] = (int32_t)k - 1;
        for (size_t c = 0; c < k; c++) {
            acc += exp(zt[c]);
            if (u < acc) {
                y[i] = (int32_t)c;
                break;
            }
        }
        for (size_t c = 0; c < k; c++)
            z[i * k + c] = (float)(3.0 * zt[c]);
    }
    keel_calibration c;
    REQUIRE(keel_calibration_fit(&c, z, y, n, k) == KEEL_OK);
    CHECK_EQ_INT(c.kind, 2);
    CHECK_NEAR(1.0 / c.t, 1.0 / 3.0, 0.03);
    double before = calibrated_loss(NULL, z, y, n, k), after = calibrated_loss(&c, z, y, n, k);
    if (!(after < before - 0.05)) printf("    log loss %.4f -> %.4f\n", before, after);
    CHECK(after < before - 0.05);

    /* Separable: the loss keeps falling as T shrinks; T stops at its lower bound. */
    float zs[] = {2.0f, 0.0f, 0.0f, 0.0f, 2.0f, 0.0f};
    int32_t ys[] = {0, 1};
    REQUIRE(keel_calibration_fit(&c, zs, ys, 2, 3) == KEEL_OK);
    CHECK(c.t >= 0.05 && c.t < 0.051);
    free(z);
    free(y);
}

TEST(calibration_apply_is_stable)
{
    float z1[] = {0.0f, 100.0f, -100.0f, 1e30f};
    float p[8];
    keel_calibration_apply(NULL, z1, 4, 1, p);
    CHECK_REL(p[0], 0.5);
    CHECK_REL(p[1], 0.5);
    CHECK(p[2] > 0.0f && p[2] < 1e-40f && p[3] == 1.0f); /* σ(−100) kept, not 1 − 1 */
    CHECK(p[5] > 0.0f && p[5] < 1e-40f && p[4] == 1.0f);
    CHECK(p[6] == 0.0f && p[7] == 1.0f);
    keel_calibration platt = {1, 2.0, -1.0, 1.0};
    keel_calibration_apply(&platt, z1, 1, 1, p);
    CHECK_NEAR(p[1], sigmoid(-1.0), 1e-7);

    float z3[] = {1000.0f, 0.0f, -1000.0f, 1.0f, 2.0f, 3.0f};
    float q[6];
    keel_calibration none = {0, 1.0, 0.0, 1.0};
    keel_calibration_apply(&none, z3, 2, 3, q);
    CHECK(q[0] == 1.0f && q[1] == 0.0f && q[2] == 0.0f);
    double e1 = exp(1.0), e2 = exp(2.0), e3 = exp(3.0);
    CHECK_NEAR(q[3], e1 / (e1 + e2 + e3), 1e-7);
    CHECK_NEAR(q[5], e3 / (e1 + e2 + e3), 1e-7);
    keel_calibration temp = {2, 1.0, 0.0, 2.0};
    keel_calibration_apply(&temp, z3 + 3, 1, 3, q);
    double h1 = exp(0.5), h2 = exp(1.0), h3 = exp(1.5);
    CHECK_NEAR(q[0], h1 / (h1 + h2 + h3), 1e-7);
    CHECK_NEAR(q[0] + q[1] + q[2], 1.0, 1e-6);
}

TEST(calibration_fit_rejects_bad_input)
{
    float z[] = {0.5f, -0.5f, NAN};
    int32_t y[] = {1, 2, 0};
    keel_calibration c = {1, 5.0, 5.0, 5.0};
    CHECK_EQ_INT(keel_calibration_fit(&c, z, y, 2, 1), KEEL_EINVAL); /* label 2 with k 1 */
    CHECK_EQ_INT(c.kind, 0);
    CHECK(c.a == 1.0 && c.b == 0.0 && c.t == 1.0);
    int32_t ok[] = {1, 0, 0};
    CHECK_EQ_INT(keel_calibration_fit(&c, z, ok, 3, 1), KEEL_EINVAL); /* NaN logit */
    CHECK_EQ_INT(keel_calibration_fit(&c, z, ok, 0, 1), KEEL_EEMPTY);
    CHECK_EQ_INT(keel_calibration_fit(&c, z, ok, 2, 0), KEEL_EINVAL);
    CHECK_EQ_INT(keel_calibration_fit(NULL, z, ok, 2, 1), KEEL_EINVAL);
    CHECK_EQ_INT(keel_calibration_fit(&c, z, ok, 2, 1), KEEL_OK);
}
