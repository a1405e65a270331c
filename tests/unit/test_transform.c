/* Tests of feature transforms and targets: fitted on real data (data/ *.csv) and on small
 * hand-made frames, applied, written to JSON and read back bit-identically, and the reader
 * fed hostile manifests. */
#include "harness.h"

#include "base/json.h"
#include "data/infer.h"
#include "data/transform.h"
#include "data/validate.h"

#include <math.h>
#include <stdlib.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/* Appends a validation chunk to the frame in ud (same schema). */
static int append_chunk(void *ud, const keel_frame *chunk)
{
    keel_frame *f = ud;
    size_t base = f->n_rows, n = chunk->n_rows;
    if (keel_frame_reserve(f, base + n)) return KEEL_ENOMEM;
    for (size_t c = 0; c < f->n_cols; c++) {
        keel_column *d = &f->cols[c];
        const keel_column *s = &chunk->cols[c];
        switch (d->type) {
        case KEEL_TYPE_NUMERIC:
            memcpy(d->num + base, s->num, n * sizeof *d->num);
            break;
        case KEEL_TYPE_CATEGORICAL:
            memcpy(d->cat + base, s->cat, n * sizeof *d->cat);
            break;
        case KEEL_TYPE_BOOLEAN:
            memcpy(d->boolean + base, s->boolean, n);
            break;
        case KEEL_TYPE_TIMESTAMP:
            memcpy(d->ts + base, s->ts, n * sizeof *d->ts);
            break;
        default:
            for (size_t r = 0; r < n; r++) {
                size_t len;
                const char *t = keel_column_text(s, r, &len);
                if (keel_buf_append(&d->text, t, len)) return KEEL_ENOMEM;
                d->off[base + r + 1] = d->text.len;
                d->missing[base + r] = s->missing[r];
            }
        }
    }
    f->n_rows += n;
    return 0;
}

/* Validates text (or the file at path when text is NULL) into one new frame. */
static keel_frame *load(const keel_schema *s, const char *path, const char *text)
{
    keel_frame *f = keel_frame_new(s);
    if (!f) return NULL;
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.on_chunk = append_chunk;
    o.chunk_ud = f;
    o.chunk_rows = 1000; /* several chunks for the real files */
    keel_validate_result res;
    keel_error e;
    int rc = path ? keel_validate_file(s, path, &o, &res, &e)
                  : keel_validate_mem(s, text, strlen(text), &o, &res, &e);
    keel_validate_result_free(&res);
    if (rc) {
        printf("validate: %s\n", e.msg);
        keel_frame_free(f);
        return NULL;
    }
    return f;
}

/* Infers a schema for data/NAME with the given target and loads it. */
static keel_frame *load_data(const char *name, const char *target, keel_schema **s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/%s", test_root(), name);
    keel_infer_options o;
    keel_infer_options_init(&o);
    o.target = target;
    keel_error e;
    if (keel_infer_file(path, &o, s, &e)) {
        printf("infer: %s\n", e.msg);
        return NULL;
    }
    return load(*s, path, NULL);
}

static const keel_feature *feature(const keel_transform *t, const char *column)
{
    for (size_t i = 0; i < t->n_features; i++)
        if (strcmp(t->features[i].column, column) == 0) return &t->features[i];
    return NULL;
}

/* num, flag, color, note, when, id, y (target) */
static keel_schema *mixed_schema(void)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(s, "num", &c);
    keel_schema_add_column(s, "flag", &c);
    c->type = KEEL_TYPE_BOOLEAN;
    keel_schema_add_column(s, "color", &c);
    c->type = KEEL_TYPE_CATEGORICAL;
    const char *cats[] = {"red", "green", "blue", "purple"};
    for (int i = 0; i < 4; i++)
        keel_strlist_add(&c->categories, cats[i], strlen(cats[i]));
    keel_schema_add_column(s, "note", &c);
    c->type = KEEL_TYPE_TEXT;
    keel_schema_add_column(s, "when", &c);
    c->type = KEEL_TYPE_TIMESTAMP;
    keel_schema_add_column(s, "id", &c);
    c->type = KEEL_TYPE_ID;
    c->role = KEEL_ROLE_ID;
    keel_schema_add_column(s, "y", &c);
    c->role = KEEL_ROLE_TARGET;
    return s;
}

static const char mixed_header[] = "num,flag,color,note,when,id,y\n";

/* 200 training rows: num 0..199 (every 50th missing), red x100, green x60, blue x3 (rare),
 * purple never, the rest missing; dates through 2020-2023. */
static char *mixed_training(void)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, mixed_header);
    for (int i = 0; i < 200; i++) {
        const char *color = i < 100 ? "red" : i < 160 ? "green" : i < 163 ? "blue" : "NA";
        char num[16] = "NA";
        if (i % 50 != 7) snprintf(num, sizeof num, "%d", i);
        keel_buf_printf(&b, "%s,%s,%s,%s,%04d-%02d-%02dT%02d:30:00Z,id%d,%d.5\n", num,
                        i % 3   ? "yes"
                        : i % 7 ? "no"
                                : "NA",
                        color, i % 4 ? "the quick brown fox" : "NA", 2020 + i % 4, 1 + i % 12,
                        1 + i % 28, i % 24, i, i % 17);
    }
    return b.data;
}

/* ---- the inverse normal CDF --------------------------------------------------------------- */

/* The layout these tests check by offset: no piecewise-linear bins (tested on their own). */
static const keel_transform_options flat = {
    .max_knots = 64, .bins = 0, .min_count = 5, .text_buckets = 1 << 14, .text_dim = 16};

TEST(normal_quantile_known_values)
{
    CHECK_NEAR(keel_normal_quantile(0.5), 0, 1e-15);
    CHECK_NEAR(keel_normal_quantile(0.975), 1.959963984540054, 1e-14);
    CHECK_NEAR(keel_normal_quantile(0.025), -1.959963984540054, 1e-14);
    CHECK_NEAR(keel_normal_quantile(0.8413447460685429), 1.0, 1e-13);
    CHECK_NEAR(keel_normal_quantile(0.001), -3.090232306167813, 1e-13);
    CHECK_NEAR(keel_normal_quantile(0.02425), -1.9729610513118845, 1e-14); /* region edge */
    CHECK_NEAR(keel_normal_quantile(1e-6), -4.753424308822899, 1e-12);
    CHECK_NEAR(keel_normal_quantile(1e-10), -6.361340902404056, 1e-11);
    CHECK_NEAR(keel_normal_quantile(1 - 1e-6), 4.753424308822899, 1e-8); /* 1-p inexact */
    CHECK(isinf(keel_normal_quantile(0)) && keel_normal_quantile(0) < 0);
    CHECK(isinf(keel_normal_quantile(1)) && keel_normal_quantile(1) > 0);
    CHECK(isnan(keel_normal_quantile(-0.1)) && isnan(keel_normal_quantile(NAN)));
    CHECK(isfinite(keel_normal_quantile(4.9e-324)));
    /* Φ(Φ⁻¹(p)) = p across the range */
    for (double p = 1e-12; p < 1; p = p < 0.01 ? p * 3 : p + 0.01) {
        double x = keel_normal_quantile(p);
        CHECK_NEAR(0.5 * erfc(-x / sqrt(2.0)), p, 1e-15 + 1e-12 * p);
    }
}

/* ---- real data: mlc_churn --------------------------------------------------------------- */

TEST(transform_churn_numeric_quantiles)
{
    keel_schema *s;
    keel_frame *f = load_data("mlc_churn.csv", "churn", &s);
    REQUIRE(f && f->n_rows == 5000);
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, "churn", &flat, &e) == KEEL_OK);
    CHECK_EQ_INT(t.n_features, 19);
    CHECK(feature(&t, "churn") == NULL);
    CHECK_EQ_INT(t.n_index, 2); /* state, area_code */
    CHECK_EQ_INT(t.n_bags, 0);
    CHECK_EQ_INT(feature(&t, "state")->kind, KEEL_FEAT_CATEGORICAL);
    CHECK_EQ_INT(feature(&t, "international_plan")->kind, KEEL_FEAT_BOOLEAN);

    const keel_feature *ft = feature(&t, "total_day_minutes");
    REQUIRE(ft && ft->kind == KEEL_FEAT_NUMERIC);
    CHECK_EQ_INT(ft->n_knots, 64);
    CHECK(ft->indicator); /* nullable by default */
    CHECK_EQ_INT(ft->n_dense_out, 2);
    for (size_t i = 1; i < ft->n_knots; i++) {
        CHECK(ft->knots[i] > ft->knots[i - 1]);
        CHECK(ft->scores[i] > ft->scores[i - 1]);
    }
    CHECK_NEAR(ft->knots[0], 0, 0);      /* the minimum */
    CHECK_NEAR(ft->knots[63], 351.5, 0); /* the maximum */
    CHECK(fabs(ft->fill) < 0.05);        /* the median's score is about 0 */
    CHECK(ft->scores[0] < -3 && ft->scores[63] > 3);

    /* Applied to every row, scores are monotone in the raw value. */
    float *dense = calloc(f->n_rows * t.n_dense, sizeof *dense);
    int32_t *index = calloc(f->n_rows * t.n_index, sizeof *index);
    REQUIRE(dense && index);
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, f->n_rows, dense, index, NULL) == KEEL_OK);
    const double *raw = f->cols[ft->col].num;
    size_t bad = 0, near0 = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        float zi = dense[i * t.n_dense + ft->dense_offset];
        CHECK(isfinite(zi));
        CHECK(dense[i * t.n_dense + ft->dense_offset + 1] == 0); /* no missing values */
        for (size_t j = i + 1; j < i + 50 && j < f->n_rows; j++) {
            float zj = dense[j * t.n_dense + ft->dense_offset];
            if ((raw[i] < raw[j] && zi > zj) || (raw[i] == raw[j] && zi != zj)) bad++;
        }
        near0 += fabsf(zi) < 0.1f;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(near0 > 300); /* about 8% of a normal lies within ±0.1 */
    /* About normal: the mean is near 0 and the sd near 1. */
    double sum = 0, sq = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        double z = dense[i * t.n_dense + ft->dense_offset];
        sum += z;
        sq += z * z;
    }
    CHECK_NEAR(sum / 5000, 0, 0.02);
    CHECK_NEAR(sqrt(sq / 5000), 1, 0.05);

    /* Categorical indexes are in range; all states frequent (~100 rows each). */
    const keel_feature *st = feature(&t, "state");
    CHECK_EQ_INT(st->vocab, 2 + 51);
    CHECK_EQ_INT(st->embed_dim, 15); /* round(1.6 * 53^0.56) = round(14.8) */
    CHECK_EQ_INT(feature(&t, "area_code")->vocab, 5);
    CHECK_EQ_INT(feature(&t, "area_code")->embed_dim, 4); /* round(1.6 * 5^0.56) = 4 */
    for (size_t i = 0; i < f->n_rows; i++) {
        CHECK(index[i * 2] >= 2 && index[i * 2] < 53);
        CHECK_EQ_INT(index[i * 2], f->cols[0].cat[i] + 2);
    }

    /* Outliers clamp to the end scores; missing takes the fill and the indicator. */
    keel_frame *g = keel_frame_new(s);
    REQUIRE(g);
    for (size_t c = 0; c < g->n_cols; c++) {
        for (size_t r = 0; r < 3; r++) {
            if (g->cols[c].num) g->cols[c].num[r] = 100;
            if (g->cols[c].cat) g->cols[c].cat[r] = 0;
            if (g->cols[c].boolean) g->cols[c].boolean[r] = 1;
        }
    }
    g->cols[ft->col].num[0] = 1e9;
    g->cols[ft->col].num[1] = -1e9;
    g->cols[ft->col].num[2] = NAN;
    g->n_rows = 3;
    float d3[3 * 64];
    REQUIRE(t.n_dense <= 64);
    REQUIRE(keel_transform_apply(&t, g, NULL, 0, 3, d3, index, NULL) == KEEL_OK);
    CHECK(d3[ft->dense_offset] == (float)ft->scores[63]);
    CHECK(d3[t.n_dense + ft->dense_offset] == (float)ft->scores[0]);
    CHECK(d3[2 * t.n_dense + ft->dense_offset] == (float)ft->fill);
    CHECK(d3[2 * t.n_dense + ft->dense_offset + 1] == 1);
    CHECK(d3[ft->dense_offset + 1] == 0);

    keel_frame_free(g);
    free(dense);
    free(index);
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(transform_churn_rare_categories_and_row_subsets)
{
    keel_schema *s;
    keel_frame *f = load_data("mlc_churn.csv", "churn", &s);
    REQUIRE(f);
    /* Fit on the first 1000 rows with min_count 25: states seen fewer times are rare. */
    size_t rows[1000];
    for (size_t i = 0; i < 1000; i++)
        rows[i] = i;
    keel_transform_options o;
    keel_transform_options_init(&o);
    o.min_count = 25;
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, rows, 1000, "churn", &o, &e) == KEEL_OK);
    const keel_feature *st = feature(&t, "state");
    size_t count[64] = {0};
    for (size_t i = 0; i < 1000; i++)
        count[f->cols[st->col].cat[i]]++;
    size_t frequent = 0;
    for (size_t k = 0; k < st->n_codes; k++) {
        if (count[k] >= 25) {
            CHECK_EQ_INT(st->code_map[k], 2 + frequent);
            frequent++;
        } else {
            CHECK_EQ_INT(st->code_map[k], 0);
        }
    }
    CHECK(frequent > 0 && frequent < 51);
    CHECK_EQ_INT(st->vocab, 2 + frequent);

    /* Rows given as a list equal the same rows given as a range. */
    size_t pick[100];
    for (size_t i = 0; i < 100; i++)
        pick[i] = 2000 + i;
    float *a = calloc(100 * t.n_dense, sizeof *a), *b = calloc(100 * t.n_dense, sizeof *b);
    int32_t ia[200], ib[200];
    REQUIRE(a && b);
    REQUIRE(keel_transform_apply(&t, f, pick, 0, 100, a, ia, NULL) == KEEL_OK);
    REQUIRE(keel_transform_apply(&t, f, NULL, 2000, 100, b, ib, NULL) == KEEL_OK);
    CHECK(memcmp(a, b, 100 * t.n_dense * sizeof *a) == 0);
    CHECK(memcmp(ia, ib, sizeof ia) == 0);
    for (size_t i = 0; i < 100; i++) {
        int32_t code = f->cols[st->col].cat[2000 + i];
        CHECK_EQ_INT(ia[i * 2], st->code_map[code]);
    }
    free(a);
    free(b);
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* ---- real data: income (all categorical, with NA) --------------------------------------- */

TEST(transform_income_missing_categories)
{
    keel_schema *s;
    keel_frame *f = load_data("income.csv", "INCOME", &s);
    REQUIRE(f && f->n_rows > 6000);
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, "INCOME", NULL, &e) == KEEL_OK);
    CHECK_EQ_INT(t.n_features, 13);
    CHECK_EQ_INT(t.n_dense, 0);
    CHECK_EQ_INT(t.n_index, 13);
    int32_t *index = calloc(f->n_rows * t.n_index, sizeof *index);
    REQUIRE(index);
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, f->n_rows, NULL, index, NULL) == KEEL_OK);
    size_t missing = 0;
    for (size_t fi = 0; fi < t.n_features; fi++) {
        const keel_feature *ft = &t.features[fi];
        CHECK_EQ_INT(ft->index_slot, (int)fi);
        for (size_t r = 0; r < f->n_rows; r++) {
            int32_t code = f->cols[ft->col].cat[r], got = index[r * t.n_index + fi];
            if (code < 0) {
                CHECK_EQ_INT(got, 1);
                missing++;
            } else {
                CHECK_EQ_INT(got, ft->code_map[code]);
            }
            CHECK(got >= 0 && (size_t)got < ft->vocab);
        }
    }
    CHECK(missing > 100); /* the file has NA in several columns */
    free(index);
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* ---- the mixed frame: boolean, rare/unknown categories, text, timestamps ---------------- */

TEST(transform_mixed_all_kinds)
{
    keel_schema *s = mixed_schema();
    char *train = mixed_training();
    keel_frame *f = load(s, NULL, train);
    REQUIRE(f && f->n_rows == 200);
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, NULL, &flat, &e) == KEEL_OK);
    /* y is the target (role), id is an id: five features */
    REQUIRE(t.n_features == 5);
    CHECK_EQ_INT(t.n_dense, 2 + 2 + 8);
    CHECK_EQ_INT(t.n_index, 1);
    CHECK_EQ_INT(t.n_bags, 1);
    const keel_feature *num = &t.features[0], *color = &t.features[2], *note = &t.features[3],
                       *when = &t.features[4];
    CHECK_EQ_INT(num->n_knots, 64);
    CHECK(fabs(num->fill) < 0.05);
    CHECK_EQ_INT(color->vocab, 4); /* red, green: blue is rare, purple unseen */
    CHECK_EQ_INT(color->code_map[0], 2);
    CHECK_EQ_INT(color->code_map[1], 3);
    CHECK_EQ_INT(color->code_map[2], 0);
    CHECK_EQ_INT(color->code_map[3], 0);
    CHECK_EQ_INT(color->embed_dim, 3); /* round(1.6 * 4^0.56) = round(3.42) */
    CHECK_EQ_INT(note->vocab, 16384);
    CHECK_EQ_INT(note->embed_dim, 16);
    CHECK_EQ_INT(when->dense_offset, 4);
    CHECK_EQ_INT(when->n_dense_out, 8);
    CHECK_NEAR(when->year_mean, 2021.9, 0.2);
    CHECK_NEAR(when->year_scale, 1.15, 0.15);

    const char *probe = "num,flag,color,note,when,id,y\n"
                        "99.5,yes,blue,\"Hello, World!\",2024-03-15T13:00:00Z,a,1\n"
                        "1e9,no,purple,NA,NA,b,NA\n"
                        "NA,NA,NA,café au LAIT,1969-12-31T23:59:59Z,c,2\n";
    keel_frame *g = load(s, NULL, probe);
    REQUIRE(g && g->n_rows == 3);
    float d[3 * 12];
    int32_t idx[3];
    keel_bags bags = {0};
    REQUIRE(keel_transform_apply(&t, g, NULL, 0, 3, d, idx, &bags) == KEEL_OK);
    /* numeric: the median's value maps near 0; an outlier clamps; missing → fill + 1 */
    CHECK(fabsf(d[0]) < 0.05f);
    CHECK(d[1] == 0);
    CHECK(d[12] == (float)num->scores[63]);
    CHECK(d[24] == (float)num->fill && d[25] == 1);
    /* boolean: 1, 0, 0.5 with its indicator */
    CHECK(d[2] == 1 && d[3] == 0);
    CHECK(d[14] == 0 && d[15] == 0);
    CHECK(d[26] == 0.5f && d[27] == 1);
    /* categorical: rare → 0, unknown → 0, missing → 1 */
    CHECK_EQ_INT(idx[0], 0);
    CHECK_EQ_INT(idx[1], 0);
    CHECK_EQ_INT(idx[2], 1);
    /* timestamp: 2024-03-15T13:00Z is a Friday in March at 13 h */
    const float *ts = d + 4;
    const double tau = 2 * 3.14159265358979323846;
    CHECK_NEAR(ts[0], (2024.2 - when->year_mean) / when->year_scale, 0.01);
    CHECK_NEAR(ts[1], sin(tau * 2 / 12), 1e-7);
    CHECK_NEAR(ts[2], cos(tau * 2 / 12), 1e-7);
    CHECK_NEAR(ts[3], sin(tau * 4 / 7), 1e-7);
    CHECK_NEAR(ts[4], cos(tau * 4 / 7), 1e-7);
    CHECK_NEAR(ts[5], sin(tau * 13 / 24), 1e-7);
    CHECK_NEAR(ts[6], cos(tau * 13 / 24), 1e-7);
    CHECK(ts[7] == 0);
    for (int k = 0; k < 7; k++)
        CHECK(d[12 + 4 + k] == 0);
    CHECK(d[12 + 4 + 7] == 1);
    /* 1969-12-31T23:59:59Z: a Wednesday in December at 23 h (before the epoch) */
    CHECK_NEAR(d[24 + 5], sin(tau * 11 / 12), 1e-7);
    CHECK_NEAR(d[24 + 6], cos(tau * 11 / 12), 1e-7);
    CHECK_NEAR(d[24 + 7], sin(tau * 2 / 7), 1e-7);
    CHECK_NEAR(d[24 + 9], sin(tau * 23 / 24), 1e-7);
    CHECK_NEAR(d[24 + 4], -10, 0); /* year 1970 is far below the 2020s: clamped */
    /* text: "Hello, World!" → hello, world, "hello world"; missing → empty bag */
    REQUIRE(bags.n_slots == 1);
    const struct keel_bag *bag = &bags.slot[0];
    CHECK_EQ_INT(bag->off[0], 0);
    CHECK_EQ_INT(bag->off[1], 3);
    CHECK_EQ_INT(bag->off[2], 3);
    CHECK_EQ_INT(bag->off[3], 3 + 5); /* café, au, café au, lait, au lait */
    CHECK_EQ_INT(bag->ids[0], (int32_t)(keel_hash64("hello", 5, KEEL_TEXT_SEED) % 16384));
    CHECK_EQ_INT(bag->ids[1], (int32_t)(keel_hash64("world", 5, KEEL_TEXT_SEED) % 16384));
    CHECK_EQ_INT(bag->ids[2], (int32_t)(keel_hash64("hello world", 11, KEEL_TEXT_SEED) % 16384));
    CHECK_EQ_INT(bag->ids[3], (int32_t)(keel_hash64("café", 5, KEEL_TEXT_SEED) % 16384));
    CHECK_EQ_INT(bag->ids[7], (int32_t)(keel_hash64("au lait", 7, KEEL_TEXT_SEED) % 16384));

    keel_bags_free(&bags);
    keel_bags_free(NULL);
    keel_frame_free(g);
    keel_transform_free(&t);
    keel_transform_free(NULL);
    keel_frame_free(f);
    free(train);
    keel_schema_free(s);
}

/* Every month, weekday and hour against libm (the tables are constants). */
TEST(transform_timestamp_tables)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(s, "t", &c);
    c->type = KEEL_TYPE_TIMESTAMP;
    c->nullable = false;
    keel_frame *f = keel_frame_new(s);
    REQUIRE(f);
    /* 2023-01-02 (a Monday) + k days + k hours, for 400 days */
    int64_t base = keel_days_from_civil(2023, 1, 2) * 86400000000LL;
    for (int k = 0; k < 400; k++)
        f->cols[0].ts[k] = base + (int64_t)k * 86400000000LL + (int64_t)(k % 24) * 3600000000LL;
    f->n_rows = 400;
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, NULL, &flat, &e) == KEEL_OK);
    CHECK_EQ_INT(t.n_dense, 7); /* not nullable, nothing missing: no indicator */
    float d[400 * 7];
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, 400, d, NULL, NULL) == KEEL_OK);
    const double tau = 2 * 3.14159265358979323846;
    for (int k = 0; k < 400; k++) {
        int64_t days = keel_days_from_civil(2023, 1, 2) + k;
        unsigned month = 0;
        for (unsigned m = 1; m <= 12; m++) /* the month whose first day is <= days */
            for (int64_t y = 2023; y <= 2024; y++)
                if (keel_days_from_civil(y, m, 1) <= days &&
                    (m == 12 ? keel_days_from_civil(y + 1, 1, 1)
                             : keel_days_from_civil(y, m + 1, 1)) > days)
                    month = m;
        CHECK_NEAR(d[k * 7 + 1], sin(tau * (month - 1) / 12), 1e-7);
        CHECK_NEAR(d[k * 7 + 2], cos(tau * (month - 1) / 12), 1e-7);
        CHECK_NEAR(d[k * 7 + 3], sin(tau * (k % 7) / 7), 1e-7);
        CHECK_NEAR(d[k * 7 + 4], cos(tau * (k % 7) / 7), 1e-7);
        CHECK_NEAR(d[k * 7 + 5], sin(tau * (k % 24) / 24), 1e-7);
        CHECK_NEAR(d[k * 7 + 6], cos(tau * (k % 24) / 24), 1e-7);
    }
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(transform_constant_and_empty_columns)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(s, "k", &c);
    keel_schema_add_column(s, "none", &c);
    keel_schema_add_column(s, "w", &c);
    c->role = KEEL_ROLE_WEIGHT;
    keel_frame *f = load(s, NULL, "k,none,w\n3,NA,1\n3,NA,1\n3,,1\n");
    REQUIRE(f && f->n_rows == 3);
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, NULL, &flat, &e) == KEEL_OK);
    CHECK_EQ_INT(t.n_features, 2);
    CHECK_EQ_INT(t.features[0].n_knots, 1);
    CHECK_EQ_INT(t.features[1].n_knots, 0);
    f->cols[0].num[1] = 1e6;
    float d[3 * 4];
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, 3, d, NULL, NULL) == KEEL_OK);
    for (int r = 0; r < 3; r++) {
        CHECK(d[r * 4] == 0 && d[r * 4 + 1] == 0); /* a constant column: constant 0 */
        CHECK(d[r * 4 + 2] == 0 && d[r * 4 + 3] == 1);
    }
    keel_transform_free(&t);
    /* Nothing to fit on: no features */
    s->columns[0].role = KEEL_ROLE_IGNORE;
    s->columns[1].role = KEEL_ROLE_IGNORE;
    CHECK_EQ_INT(keel_transform_fit(&t, f, NULL, 0, NULL, &flat, &e), KEEL_EEMPTY);
    CHECK_EQ_INT(t.n_features, 0);
    s->columns[0].role = KEEL_ROLE_FEATURE;
    keel_transform_options o;
    keel_transform_options_init(&o);
    o.max_knots = 1;
    CHECK_EQ_INT(keel_transform_fit(&t, f, NULL, 0, NULL, &o, &e), KEEL_EINVAL);
    o.max_knots = 64;
    o.text_buckets = 0;
    CHECK_EQ_INT(keel_transform_fit(&t, f, NULL, 0, NULL, &o, &e), KEEL_EINVAL);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* ---- text hashing ------------------------------------------------------------------------ */

/* The documented rule, written out plainly: keel_hash64 over 64-byte chunks of the
 * (already lower-case) text, each chunk's hash seeding the next. */
static uint64_t spec_hash(const char *p, size_t n)
{
    uint64_t h = KEEL_TEXT_SEED;
    while (n > 64) {
        h = keel_hash64(p, 64, h);
        p += 64;
        n -= 64;
    }
    return keel_hash64(p, n, h);
}

TEST(text_hash_ids_rules)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    const size_t B = 1000;
    REQUIRE(keel_text_hash_ids("  The CAT--sat. ", 16, B, &ids, &n, &cap) == KEEL_OK);
    REQUIRE(n == 5);
    CHECK_EQ_INT(ids[0], keel_hash64("the", 3, KEEL_TEXT_SEED) % B);
    CHECK_EQ_INT(ids[1], keel_hash64("cat", 3, KEEL_TEXT_SEED) % B);
    CHECK_EQ_INT(ids[2], keel_hash64("the cat", 7, KEEL_TEXT_SEED) % B);
    CHECK_EQ_INT(ids[3], keel_hash64("sat", 3, KEEL_TEXT_SEED) % B);
    CHECK_EQ_INT(ids[4], keel_hash64("cat sat", 7, KEEL_TEXT_SEED) % B);
    /* appends; separators only → nothing */
    REQUIRE(keel_text_hash_ids(" ,.;!", 5, B, &ids, &n, &cap) == KEEL_OK);
    CHECK_EQ_INT(n, 5);
    REQUIRE(keel_text_hash_ids("", 0, B, &ids, &n, &cap) == KEEL_OK);
    CHECK_EQ_INT(n, 5);
    /* digits are word characters, so are UTF-8 bytes; case folding is ASCII only */
    n = 0;
    REQUIRE(keel_text_hash_ids("R2D2 ÉCOLE", 11, B, &ids, &n, &cap) == KEEL_OK);
    REQUIRE(n == 3);
    CHECK_EQ_INT(ids[0], keel_hash64("r2d2", 4, KEEL_TEXT_SEED) % B);
    CHECK_EQ_INT(ids[1], keel_hash64("\xc3\x89"
                                     "cole",
                                     6, KEEL_TEXT_SEED) %
                             B);
    /* A token of exactly 64 bytes hashes whole; a longer one in 64-byte chunks. */
    char w[200];
    for (int i = 0; i < 200; i++)
        w[i] = (char)('a' + i % 26);
    n = 0;
    REQUIRE(keel_text_hash_ids(w, 64, B, &ids, &n, &cap) == KEEL_OK);
    CHECK_EQ_INT(ids[0], keel_hash64(w, 64, KEEL_TEXT_SEED) % B);
    n = 0;
    REQUIRE(keel_text_hash_ids(w, 150, B, &ids, &n, &cap) == KEEL_OK);
    uint64_t h = keel_hash64(w, 64, KEEL_TEXT_SEED);
    h = keel_hash64(w + 64, 64, h);
    h = keel_hash64(w + 128, 22, h);
    CHECK_EQ_INT(ids[0], h % B);
    n = 0;
    REQUIRE(keel_text_hash_ids(w, 128, B, &ids, &n, &cap) == KEEL_OK);
    h = keel_hash64(w + 64, 64, keel_hash64(w, 64, KEEL_TEXT_SEED));
    CHECK_EQ_INT(ids[0], h % B);
    /* Bigrams with long words on either side, and back to short words after them. */
    char text[400], low[400];
    snprintf(text, sizeof text, "Short %.100s tiny %.64s %.64s next", w, w + 1, w + 2);
    n = 0;
    REQUIRE(keel_text_hash_ids(text, strlen(text), B, &ids, &n, &cap) == KEEL_OK);
    const char *words[] = {"short", NULL, "tiny", NULL, NULL, "next"};
    char longw[3][128];
    snprintf(longw[0], sizeof longw[0], "%.100s", w);
    snprintf(longw[1], sizeof longw[1], "%.64s", w + 1);
    snprintf(longw[2], sizeof longw[2], "%.64s", w + 2);
    words[1] = longw[0];
    words[3] = longw[1];
    words[4] = longw[2];
    REQUIRE(n == 11);
    for (int k = 0; k < 6; k++) {
        CHECK_EQ_INT(ids[k ? 2 * k - 1 : 0], spec_hash(words[k], strlen(words[k])) % B);
        if (k) {
            snprintf(low, sizeof low, "%s %s", words[k - 1], words[k]);
            CHECK_EQ_INT(ids[2 * k], spec_hash(low, strlen(low)) % B);
        }
    }
    /* a bucket count that is not a power of two takes the remainder */
    n = 0;
    REQUIRE(keel_text_hash_ids("Hello", 5, 1000003, &ids, &n, &cap) == KEEL_OK);
    CHECK_EQ_INT(ids[0], keel_hash64("hello", 5, KEEL_TEXT_SEED) % 1000003);
    CHECK_EQ_INT(keel_text_hash_ids("x", 1, 0, &ids, &n, &cap), KEEL_EINVAL);
    keel_free(ids);

    /* growth fails cleanly */
    ids = NULL;
    n = cap = 0;
    long live = test_alloc_live();
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_text_hash_ids("a b", 3, B, &ids, &n, &cap), KEEL_ENOMEM);
    test_fail_alloc_after(0);
    CHECK(ids == NULL && n == 0 && cap == 0);
    CHECK_EQ_INT(test_alloc_live(), live);
}

/* ---- JSON round trip ---------------------------------------------------------------------- */

static keel_json_doc *parse(const char *text)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    if (d && keel_json_parse(d, text, strlen(text), &e) != KEEL_OK) {
        printf("parse: %s\n", e.msg);
        keel_json_doc_free(d);
        return NULL;
    }
    return d;
}

/* Applies a and b to all rows of f and checks the outputs are the same bits. */
static void check_same_outputs(const keel_transform *a, const keel_transform *b,
                               const keel_frame *f)
{
    CHECK_EQ_INT(a->n_dense, b->n_dense);
    CHECK_EQ_INT(a->n_index, b->n_index);
    CHECK_EQ_INT(a->n_bags, b->n_bags);
    size_t n = f->n_rows;
    float *da = calloc(n * a->n_dense + 1, sizeof *da), *db = calloc(n * a->n_dense + 1, 4);
    int32_t *ia = calloc(n * a->n_index + 1, 4), *ib = calloc(n * a->n_index + 1, 4);
    keel_bags ba = {0}, bb = {0};
    if (!da || !db || !ia || !ib) abort();
    CHECK(keel_transform_apply(a, f, NULL, 0, n, da, ia, &ba) == KEEL_OK);
    CHECK(keel_transform_apply(b, f, NULL, 0, n, db, ib, &bb) == KEEL_OK);
    CHECK(memcmp(da, db, n * a->n_dense * sizeof *da) == 0);
    CHECK(memcmp(ia, ib, n * a->n_index * sizeof *ia) == 0);
    for (size_t s = 0; s < a->n_bags; s++) {
        CHECK(memcmp(ba.slot[s].off, bb.slot[s].off, (n + 1) * sizeof(uint32_t)) == 0);
        CHECK(memcmp(ba.slot[s].ids, bb.slot[s].ids, ba.slot[s].off[n] * sizeof(int32_t)) == 0);
    }
    keel_bags_free(&ba);
    keel_bags_free(&bb);
    free(da);
    free(db);
    free(ia);
    free(ib);
}

static void round_trip(const keel_frame *f, const char *target)
{
    keel_transform t, u;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, target, NULL, &e) == KEEL_OK);
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_transform_to_json(&t, &b) == KEEL_OK);
    keel_json_doc *d = parse(b.data);
    REQUIRE(d);
    int rc = keel_transform_from_json(&u, keel_json_root(d), f->schema, &e);
    if (rc) printf("from_json: %s\n", e.msg);
    REQUIRE(rc == KEEL_OK);
    REQUIRE(u.n_features == t.n_features);
    for (size_t i = 0; i < t.n_features; i++) {
        CHECK_EQ_INT(u.features[i].dense_offset, t.features[i].dense_offset);
        CHECK_EQ_INT(u.features[i].index_slot, t.features[i].index_slot);
        CHECK_EQ_INT(u.features[i].bag_slot, t.features[i].bag_slot);
        CHECK_EQ_INT(u.features[i].col, t.features[i].col);
    }
    check_same_outputs(&t, &u, f);
    /* writing the loaded one gives the same text */
    keel_buf b2;
    keel_buf_init(&b2);
    REQUIRE(keel_transform_to_json(&u, &b2) == KEEL_OK);
    CHECK_STR(b2.data, b.data);
    keel_buf_free(&b2);
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_transform_free(&t);
    keel_transform_free(&u);
}

TEST(transform_json_round_trip_is_bit_identical)
{
    keel_schema *s;
    keel_frame *f = load_data("mlc_churn.csv", "churn", &s);
    REQUIRE(f);
    round_trip(f, "churn");
    keel_frame_free(f);
    keel_schema_free(s);
    f = load_data("income.csv", "INCOME", &s);
    REQUIRE(f);
    round_trip(f, "INCOME");
    keel_frame_free(f);
    keel_schema_free(s);
    s = mixed_schema();
    char *train = mixed_training();
    f = load(s, NULL, train);
    REQUIRE(f);
    round_trip(f, NULL);
    keel_frame_free(f);
    free(train);
    keel_schema_free(s);
}

/* ---- hostile manifests -------------------------------------------------------------------- */

typedef struct reject_case {
    const char *json;
    int code;
    const char *msg; /* a substring of the message */
} reject_case;

TEST(transform_from_json_rejects)
{
    keel_schema *s = mixed_schema();
    static const reject_case cases[] = {
        {"{}", KEEL_EFORMAT, "expected an array"},
        {"[]", KEEL_EFORMAT, "no features"},
        {"[1]", KEEL_EFORMAT, "feature 0: not an object"},
        {"[{\"kind\":\"numeric\"}]", KEEL_EFORMAT, "column"},
        {"[{\"column\":\"num\",\"kind\":\"numbers\"}]", KEEL_EFORMAT, "kind: must be one of"},
        {"[{\"column\":\"nope\",\"kind\":\"boolean\",\"indicator\":true}]", KEEL_ESCHEMA,
         "'nope'): column: not in the schema"},
        {"[{\"column\":\"num\",\"kind\":\"boolean\",\"indicator\":true}]", KEEL_ESCHEMA,
         "is numeric in the schema, not boolean"},
        {"[{\"column\":\"id\",\"kind\":\"text\",\"buckets\":8,\"dim\":2}]", KEEL_ESCHEMA,
         "is id in the schema"},
        {"[{\"column\":\"flag\",\"kind\":\"boolean\",\"indicator\":true},"
         "{\"column\":\"flag\",\"kind\":\"boolean\",\"indicator\":true}]",
         KEEL_ESCHEMA, "feature 1 ('flag'): column: used by two features"},
        {"[{\"column\":\"flag\",\"kind\":\"boolean\",\"indicator\":1}]", KEEL_EFORMAT,
         "indicator: must be true or false"},
        {"[{\"column\":\"flag\",\"kind\":\"boolean\",\"indicator\":true,\"x\":1}]", KEEL_EFORMAT,
         "unknown field 'x'"},
        {"[{\"column\":\"flag\",\"kind\":\"boolean\",\"indicator\":true,\"indicator\":false}]",
         KEEL_EFORMAT, "indicator: appears twice"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[1,1],\"scores\":[0,1]}]",
         KEEL_EFORMAT, "knots: must be strictly increasing"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[1,2],\"scores\":[1,0]}]",
         KEEL_EFORMAT, "scores: must be non-decreasing"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[1,2],\"scores\":[0]}]",
         KEEL_EFORMAT, "scores: must have one per knot"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[1,1e999],\"scores\":[0,1]}]",
         KEEL_EFORMAT, "knots: values must be finite"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[1,2],\"scores\":[0,6]}]",
         KEEL_EFORMAT, "scores: values must be finite"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":\"0\","
         "\"knots\":[],\"scores\":[]}]",
         KEEL_EFORMAT, "fill: must be a number"},
        {"[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":0,"
         "\"knots\":[\"1\"],\"scores\":[0]}]",
         KEEL_EFORMAT, "knots"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":3,"
         "\"code_map\":[2,0,3]}]",
         KEEL_ESCHEMA, "code_map: has 3 entries but the schema has 4 categories"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":3,"
         "\"code_map\":[2,0,4,0]}]",
         KEEL_EFORMAT, "code_map: values must be 0 or whole numbers in [2, vocab)"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":3,"
         "\"code_map\":[2,1,3,0]}]",
         KEEL_EFORMAT, "code_map"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":3,"
         "\"code_map\":[2,-1,3,0]}]",
         KEEL_EFORMAT, "code_map"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":3,"
         "\"code_map\":[2,0.5,3,0]}]",
         KEEL_EFORMAT, "code_map"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":16777217,\"dim\":3,"
         "\"code_map\":[2,0,3,0]}]",
         KEEL_EFORMAT, "vocab: must be a whole number in [2, 16777216]"},
        {"[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,\"dim\":1025,"
         "\"code_map\":[2,0,3,0]}]",
         KEEL_EFORMAT, "dim: must be a whole number in [1, 1024]"},
        {"[{\"column\":\"note\",\"kind\":\"text\",\"buckets\":0,\"dim\":16}]", KEEL_EFORMAT,
         "buckets"},
        {"[{\"column\":\"note\",\"kind\":\"text\",\"buckets\":1.5,\"dim\":16}]", KEEL_EFORMAT,
         "buckets"},
        {"[{\"column\":\"note\",\"kind\":\"text\",\"dim\":16}]", KEEL_EFORMAT, "buckets: missing"},
        {"[{\"column\":\"when\",\"kind\":\"timestamp\",\"indicator\":true,\"year_mean\":2020,"
         "\"year_scale\":0}]",
         KEEL_EFORMAT, "year_scale: must be positive"},
        {"[{\"column\":\"when\",\"kind\":\"timestamp\",\"indicator\":true,\"year_mean\":null,"
         "\"year_scale\":1}]",
         KEEL_EFORMAT, "year_mean: must be a number"},
        {"[{\"column\":\"n\\u0000um\",\"kind\":\"numeric\"}]", KEEL_EFORMAT, "column"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        keel_json_doc *d = parse(cases[i].json);
        REQUIRE(d);
        keel_transform t;
        keel_error e;
        int rc = keel_transform_from_json(&t, keel_json_root(d), s, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].msg))
            printf("case %zu: rc %d, message: %s\n", i, rc, e.msg);
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK(strstr(e.msg, cases[i].msg) != NULL);
        CHECK(t.features == NULL && t.n_features == 0);
        keel_json_doc_free(d);
    }
    /* and a valid one, by hand */
    keel_json_doc *d = parse("[{\"column\":\"color\",\"kind\":\"categorical\",\"vocab\":4,"
                             "\"dim\":3,\"code_map\":[2,0,3,0]},{\"column\":\"num\",\"kind\":"
                             "\"numeric\",\"indicator\":false,\"fill\":0,\"knots\":[],"
                             "\"scores\":[]}]");
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_from_json(&t, keel_json_root(d), s, &e) == KEEL_OK);
    CHECK_EQ_INT(t.n_index, 1);
    CHECK_EQ_INT(t.n_dense, 1);
    CHECK_EQ_INT(t.features[1].dense_offset, 0);
    keel_transform_free(&t);
    keel_json_doc_free(d);
    keel_schema_free(s);
}

/* Found by fuzzing: knots one subnormal apart made the halved interpolation divide 0 by 0,
 * and a fill of -0.0 (written as 0) broke the bit-identical round trip. */
TEST(transform_numeric_extreme_knots_and_negative_zero)
{
    keel_schema *s = mixed_schema();
    const double M = 1.7976931348623157e308;
    static const char *const json[] = {
        "[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":-1e-999,"
        "\"knots\":[-1.7976931348623157e308,0,4.9e-324,1e-300,1.7976931348623157e308],"
        "\"scores\":[-2,-1,0,1,2]}]",
        "[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":true,\"fill\":-0.0,"
        "\"knots\":[-1.7976931348623157e308,1.7976931348623157e308],\"scores\":[-1,1]}]"};
    const double x[] = {0, 4.9e-324, 5e-301, 1e308, -1e308, NAN, M};
    const double want[2][7] = {{-1, 0, 0.5, 1 + 1e308 / M, -2 + (M - 1e308) / M, 0, 2},
                               {0, 0, 0, 1e308 / M, -1e308 / M, 0, 1}};
    for (int k = 0; k < 2; k++) {
        keel_json_doc *d = parse(json[k]);
        REQUIRE(d);
        keel_transform t;
        keel_error e;
        REQUIRE(keel_transform_from_json(&t, keel_json_root(d), s, &e) == KEEL_OK);
        CHECK(!signbit(t.features[0].fill));
        keel_frame *f = keel_frame_new(s);
        REQUIRE(f);
        for (int r = 0; r < 7; r++)
            f->cols[0].num[r] = x[r];
        f->n_rows = 7;
        float out[7 * 2];
        REQUIRE(keel_transform_apply(&t, f, NULL, 0, 7, out, NULL, NULL) == KEEL_OK);
        for (int r = 0; r < 7; r++)
            CHECK_NEAR(out[2 * r], want[k][r], 1e-6);
        CHECK(!signbit(out[10]) && out[11] == 1);
        keel_frame_free(f);
        keel_transform_free(&t);
        keel_json_doc_free(d);
    }
    keel_schema_free(s);
}

/* The numeric encoding, computed the slow way: the score interpolated between the last knot
 * <= x (found by a linear scan) and the next; each bin clamp((x - e_b) / (e_b+1 - e_b), 0, 1)
 * from its definition. The library's searches and its shortcut for the bins must give
 * exactly these bits. */
static void numeric_by_definition(const keel_feature *ft, double x, float *out)
{
    size_t n = ft->n_knots;
    const double *k = ft->knots, *sc = ft->scores;
    double score;
    if (!(x > k[0])) {
        score = sc[0];
    } else if (x >= k[n - 1]) {
        score = sc[n - 1];
    } else {
        size_t lo = 0;
        while (k[lo + 1] <= x)
            lo++;
        double num = x - k[lo], den = k[lo + 1] - k[lo];
        if (isinf(den)) {
            num = x * 0.5 - k[lo] * 0.5;
            den = k[lo + 1] * 0.5 - k[lo] * 0.5;
        }
        score = sc[lo] + num / den * (sc[lo + 1] - sc[lo]);
    }
    out[0] = (float)score;
    for (size_t b = 0; b < ft->n_bins; b++) {
        double v = (x - ft->edges[b]) / (ft->edges[b + 1] - ft->edges[b]);
        out[1 + b] = v >= 1 ? 1.0f : v > 0 ? (float)v : 0.0f;
    }
}

TEST(transform_numeric_encoding_equals_its_definition)
{
    keel_schema *s = mixed_schema();
    static const size_t counts[] = {3, 4, 9, 16, 17, 64, 65, 127, 128, 129, 300};
    keel_rng r;
    keel_rng_seed(&r, 11);
    for (size_t ci = 0; ci < KEEL_ARRAY_LEN(counts) * 2; ci++) {
        size_t n = counts[ci % KEEL_ARRAY_LEN(counts)];
        bool huge = ci >= KEEL_ARRAY_LEN(counts); /* knots beyond ±1e308: a width overflows */
        keel_buf j;
        keel_buf_init(&j);
        keel_buf_printf(&j,
                        "[{\"column\":\"num\",\"kind\":\"numeric\",\"indicator\":false,"
                        "\"fill\":0,\"bins\":%zu,\"knots\":[",
                        n - 1 < 16 ? n - 1 : 16);
        double *knots = malloc(n * sizeof *knots);
        REQUIRE(knots);
        for (size_t i = 0; i < n; i++) {
            knots[i] = (double)i * 1.5 + (double)(keel_rng_next(&r) % 1000) * 1e-3;
            if (huge) /* half below -1e308, half above 1e308 */
                knots[i] = i < n / 2 ? -1e308 * (1 + (double)(n / 2 - i) * 1e-3)
                                     : 1e308 * (1 + (double)(i - n / 2) * 1e-3);
            keel_buf_printf(&j, "%s%.17g", i ? "," : "", knots[i]);
        }
        keel_buf_puts(&j, "],\"scores\":[");
        for (size_t i = 0; i < n; i++)
            keel_buf_printf(&j, "%s%.17g", i ? "," : "", -4.0 + 8.0 * (double)i / (double)n);
        keel_buf_puts(&j, "]}]");
        keel_json_doc *d = parse(j.data);
        REQUIRE(d);
        keel_transform t;
        keel_error e;
        int rc = keel_transform_from_json(&t, keel_json_root(d), s, &e);
        if (rc) fprintf(stderr, "%s\n", e.msg);
        REQUIRE(rc == KEEL_OK);
        const keel_feature *ft = &t.features[0];
        /* every knot, just beside each, between, outside, the infinities */
        size_t nx = 4 * n + 6, bad = 0;
        keel_frame *f = keel_frame_new(s);
        REQUIRE(f && keel_frame_reserve(f, nx) == KEEL_OK);
        double *x = f->cols[0].num;
        for (size_t i = 0; i < n; i++) {
            x[4 * i] = knots[i];
            x[4 * i + 1] = nextafter(knots[i], -INFINITY);
            x[4 * i + 2] = nextafter(knots[i], INFINITY);
            x[4 * i + 3] = i + 1 < n ? knots[i] * 0.5 + knots[i + 1] * 0.5 : knots[i] + 1;
        }
        double ends[] = {-INFINITY, INFINITY, -1e300, 1e300, knots[0] - 1, -0.0};
        memcpy(x + 4 * n, ends, sizeof ends);
        f->n_rows = nx;
        size_t w = ft->n_dense_out;
        float *out = malloc(nx * w * sizeof *out), want[1 + 16];
        REQUIRE(out && keel_transform_apply(&t, f, NULL, 0, nx, out, NULL, NULL) == KEEL_OK);
        for (size_t i = 0; i < nx; i++) {
            numeric_by_definition(ft, x[i], want);
            if (memcmp(out + i * w, want, w * sizeof *want)) {
                if (bad++ < 3) fprintf(stderr, "n=%zu huge=%d x=%.17g differs\n", n, huge, x[i]);
            }
            /* one row at a time (serving) gives the same */
            float one[1 + 16];
            REQUIRE(keel_transform_apply(&t, f, NULL, i, 1, one, NULL, NULL) == KEEL_OK);
            if (memcmp(one, out + i * w, w * sizeof *one)) bad++;
        }
        CHECK_EQ_INT(bad, 0);
        free(out);
        free(knots);
        keel_frame_free(f);
        keel_transform_free(&t);
        keel_json_doc_free(d);
        keel_buf_free(&j);
    }
    keel_schema_free(s);
}

/* ---- out of memory ----------------------------------------------------------------------- */

TEST(transform_out_of_memory_is_clean)
{
    keel_schema *s = mixed_schema();
    char *train = mixed_training();
    keel_frame *f = load(s, NULL, train);
    REQUIRE(f);
    keel_transform t;
    keel_error e;
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 1; n < 1000 && rc; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        rc = keel_transform_fit(&t, f, NULL, 0, NULL, &flat, &e);
        test_fail_alloc_after(0);
        if (rc) {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK_EQ_INT(test_alloc_live(), live);
            CHECK(t.features == NULL);
        }
    }
    REQUIRE(rc == KEEL_OK);
    CHECK(n > 5);
    CHECK_EQ_INT(t.n_features, 5); /* a failure late in the fit must not pass for success */

    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "prefix");
    for (n = 1, rc = KEEL_ENOMEM; n < 1000 && rc; n++) {
        test_fail_alloc_after(n);
        rc = keel_transform_to_json(&t, &b);
        test_fail_alloc_after(0);
        if (rc) CHECK_STR(b.data, "prefix");
    }
    REQUIRE(rc == KEEL_OK);
    keel_json_doc *d = parse(b.data + 6);
    REQUIRE(d);
    keel_transform u;
    for (n = 1, rc = KEEL_ENOMEM; n < 1000 && rc; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        rc = keel_transform_from_json(&u, keel_json_root(d), s, &e);
        test_fail_alloc_after(0);
        if (rc) {
            if (rc != KEEL_ENOMEM) printf("n=%ld: %s\n", n, e.msg);
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
    }
    REQUIRE(rc == KEEL_OK);

    /* apply grows bags; a failure leaves them freeable */
    float dense[200 * 12];
    int32_t index[200];
    for (n = 1, rc = KEEL_ENOMEM; n < 1000 && rc; n++) {
        keel_bags bags = {0};
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        rc = keel_transform_apply(&u, f, NULL, 0, 200, dense, index, &bags);
        test_fail_alloc_after(0);
        if (rc) CHECK_EQ_INT(rc, KEEL_ENOMEM);
        keel_bags_free(&bags);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    REQUIRE(rc == KEEL_OK);
    keel_transform_free(&u);
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_transform_free(&t);
    keel_frame_free(f);
    free(train);
    keel_schema_free(s);
}

/* ---- targets ---------------------------------------------------------------------------- */

static void target_round_trip(const keel_target *t, const keel_frame *f)
{
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_target_to_json(t, &b) == KEEL_OK);
    keel_json_doc *d = parse(b.data);
    REQUIRE(d);
    keel_target u;
    keel_error e;
    int rc = keel_target_from_json(&u, keel_json_root(d), f->schema, &e);
    if (rc) printf("target_from_json: %s (%s)\n", e.msg, b.data);
    REQUIRE(rc == KEEL_OK);
    CHECK_EQ_INT(u.task, t->task);
    CHECK_EQ_INT(u.classes.n, t->classes.n);
    for (size_t r = 0; r < f->n_rows; r++) {
        int32_t c1 = -7, c2 = -7;
        float y1 = 7, y2 = 7;
        keel_target_label(t, f, r, &c1, &y1);
        keel_target_label(&u, f, r, &c2, &y2);
        CHECK_EQ_INT(c1, c2);
        CHECK(memcmp(&y1, &y2, sizeof y1) == 0);
    }
    keel_target_free(&u);
    keel_json_doc_free(d);
    keel_buf_free(&b);
}

TEST(target_churn_is_binary)
{
    keel_schema *s;
    keel_frame *f = load_data("mlc_churn.csv", "churn", &s);
    REQUIRE(f);
    keel_target t;
    keel_error e;
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "churn", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_BINARY);
    CHECK_STR(keel_task_name(t.task), "binary");
    REQUIRE(t.classes.n == 2);
    CHECK_STR(t.classes.items[0], "no");
    CHECK_STR(t.classes.items[1], "yes");
    size_t yes = 0;
    for (size_t r = 0; r < f->n_rows; r++) {
        int32_t c = -7;
        keel_target_label(&t, f, r, &c, NULL);
        CHECK(c == 0 || c == 1);
        yes += c == 1;
    }
    CHECK_EQ_INT(yes, 707); /* the churners in mlc_churn */
    target_round_trip(&t, f);
    keel_target_free(&t);
    /* the schema's target role is used when no column is named */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, NULL, -1, &e) == KEEL_OK);
    CHECK_STR(t.column, "churn");
    keel_target_free(&t);
    /* a regression target from the same file */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "total_day_minutes", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_REGRESSION);
    CHECK_NEAR(t.mean, 180.3, 0.5);
    CHECK_NEAR(t.scale, 53.9, 0.5);
    double sum = 0, sq = 0;
    for (size_t r = 0; r < f->n_rows; r++) {
        float y = NAN;
        keel_target_label(&t, f, r, NULL, &y);
        sum += y;
        sq += (double)y * y;
    }
    CHECK_NEAR(sum / 5000, 0, 1e-4);
    CHECK_NEAR(sq / 5000, 1, 1e-4);
    target_round_trip(&t, f);
    keel_target_free(&t);
    /* whole numbers with few values are classes: customer service calls, 0..9 */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "number_customer_service_calls", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_MULTICLASS);
    CHECK_EQ_INT(t.classes.n, 10);
    CHECK_STR(t.classes.items[9], "9");
    for (size_t r = 0; r < f->n_rows; r++) {
        int32_t c = -7;
        keel_target_label(&t, f, r, &c, NULL);
        CHECK_EQ_INT(c, (int32_t)f->cols[t.col].num[r]);
    }
    target_round_trip(&t, f);
    keel_target_free(&t);
    /* ...unless regression is asked for */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "number_customer_service_calls", KEEL_TASK_REGRESSION,
                            &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_REGRESSION);
    keel_target_free(&t);
    /* refusals */
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "total_day_minutes", KEEL_TASK_BINARY, &e),
                 KEEL_ESCHEMA);
    CHECK(strstr(e.msg, "fractional") != NULL);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "state", KEEL_TASK_BINARY, &e), KEEL_ESCHEMA);
    CHECK(strstr(e.msg, "51 classes") != NULL);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "state", KEEL_TASK_REGRESSION, &e), KEEL_ESCHEMA);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "nope", -1, &e), KEEL_ESCHEMA);
    CHECK(strstr(e.msg, "'nope'") != NULL);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "churn", 7, &e), KEEL_EINVAL);
    size_t first[3] = {0, 1, 2}; /* three non-churners: one class */
    CHECK_EQ_INT(keel_target_fit(&t, f, first, 3, "churn", -1, &e), KEEL_ESCHEMA);
    CHECK(strstr(e.msg, "single class ('no')") != NULL);
    CHECK(t.column == NULL && t.classes.n == 0);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(target_digits_is_multiclass)
{
    keel_schema *s;
    keel_frame *f = load_data("digits.csv", "digit", &s);
    REQUIRE(f && f->n_rows == 1797);
    keel_target t;
    keel_error e;
    CHECK_EQ_INT(s->columns[64].type, KEEL_TYPE_CATEGORICAL); /* infer makes it categorical */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "digit", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_MULTICLASS);
    REQUIRE(t.classes.n == 10);
    for (int k = 0; k < 10; k++) {
        char label[16];
        snprintf(label, sizeof label, "%d", k);
        CHECK_STR(t.classes.items[k], label);
    }
    for (size_t r = 0; r < f->n_rows; r++) {
        int32_t c = -7;
        keel_target_label(&t, f, r, &c, NULL);
        CHECK_EQ_INT(c, f->cols[t.col].cat[r]); /* categories "0".."9" */
    }
    target_round_trip(&t, f);
    keel_target_free(&t);
    keel_transform tr;
    REQUIRE(keel_transform_fit(&tr, f, NULL, 0, "digit", NULL, &e) == KEEL_OK);
    CHECK_EQ_INT(tr.n_features, 64);
    keel_transform_free(&tr);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(target_boolean_and_unusable_columns)
{
    keel_schema *s = mixed_schema();
    char *train = mixed_training();
    keel_frame *f = load(s, NULL, train);
    REQUIRE(f);
    keel_target t;
    keel_error e;
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "flag", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_BINARY);
    CHECK_STR(t.classes.items[0], "false");
    CHECK_STR(t.classes.items[1], "true");
    for (size_t r = 0; r < f->n_rows; r++) {
        int32_t c = -7;
        keel_target_label(&t, f, r, &c, NULL);
        CHECK_EQ_INT(c, f->cols[1].boolean[r] < 0 ? -1 : f->cols[1].boolean[r]);
    }
    target_round_trip(&t, f);
    keel_target_free(&t);
    /* categorical: only the categories that occur (blue yes, purple no), schema order */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "color", -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_MULTICLASS);
    REQUIRE(t.classes.n == 3);
    CHECK_STR(t.classes.items[2], "blue");
    target_round_trip(&t, f);
    keel_target_free(&t);
    /* y = 0.5 .. 16.5: fractional, so regression */
    REQUIRE(keel_target_fit(&t, f, NULL, 0, NULL, -1, &e) == KEEL_OK);
    CHECK_EQ_INT(t.task, KEEL_TASK_REGRESSION);
    keel_target_free(&t);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "note", -1, &e), KEEL_ESCHEMA);
    CHECK(strstr(e.msg, "text column") != NULL);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "when", -1, &e), KEEL_ESCHEMA);
    CHECK_EQ_INT(keel_target_fit(&t, f, NULL, 0, "id", -1, &e), KEEL_ESCHEMA);
    keel_target_free(NULL);

    /* a missing label is -1 (classification) or NaN (regression); unseen classes -1 */
    keel_frame *g = load(s, NULL, "num,flag,color,note,when,id,y\n1,yes,purple,,,a,NA\n");
    REQUIRE(g);
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "color", -1, &e) == KEEL_OK);
    int32_t c = 7;
    keel_target_label(&t, g, 0, &c, NULL);
    CHECK_EQ_INT(c, -1);
    keel_target_free(&t);
    REQUIRE(keel_target_fit(&t, f, NULL, 0, "y", -1, &e) == KEEL_OK);
    float y = 0;
    keel_target_label(&t, g, 0, NULL, &y);
    CHECK(isnan(y));
    keel_target_free(&t);
    keel_frame_free(g);

    /* hostile target manifests */
    static const reject_case cases[] = {
        {"[]", KEEL_EFORMAT, "expected an object"},
        {"{\"column\":\"y\",\"task\":\"ranking\"}", KEEL_EFORMAT, "task must be"},
        {"{\"column\":\"y\",\"task\":\"regression\",\"mean\":0}", KEEL_EFORMAT, "scale"},
        {"{\"column\":\"y\",\"task\":\"regression\",\"mean\":0,\"scale\":-1}", KEEL_EFORMAT,
         "scale a positive"},
        {"{\"column\":\"y\",\"task\":\"regression\",\"mean\":0,\"scale\":1,\"classes\":[]}",
         KEEL_EFORMAT, "unknown field 'classes'"},
        {"{\"column\":\"zz\",\"task\":\"regression\",\"mean\":0,\"scale\":1}", KEEL_ESCHEMA,
         "not in the schema"},
        {"{\"column\":\"color\",\"task\":\"regression\",\"mean\":0,\"scale\":1}", KEEL_ESCHEMA,
         "unusable"},
        {"{\"column\":\"note\",\"task\":\"binary\",\"classes\":[\"a\",\"b\"]}", KEEL_ESCHEMA,
         "unusable"},
        {"{\"column\":\"color\",\"task\":\"binary\",\"classes\":[\"red\"]}", KEEL_EFORMAT,
         "1 classes for a binary task"},
        {"{\"column\":\"color\",\"task\":\"binary\",\"classes\":[\"red\",\"blue\",\"green\"]}",
         KEEL_EFORMAT, "3 classes"},
        {"{\"column\":\"color\",\"task\":\"binary\",\"classes\":[\"blue\",\"red\"]}", KEEL_ESCHEMA,
         "out of schema order"},
        {"{\"column\":\"color\",\"task\":\"binary\",\"classes\":[\"red\",\"pink\"]}", KEEL_ESCHEMA,
         "'pink' is not a category"},
        {"{\"column\":\"color\",\"task\":\"binary\",\"classes\":[\"red\",\"red\"]}", KEEL_ESCHEMA,
         "'red'"},
        {"{\"column\":\"flag\",\"task\":\"binary\",\"classes\":[\"no\",\"yes\"]}", KEEL_EFORMAT,
         "\"false\", \"true\""},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"1\",\"0\"]}", KEEL_EFORMAT,
         "classes[1]"},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"0\",\"01\"]}", KEEL_EFORMAT,
         "classes[1]"},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"-0\",\"1\"]}", KEEL_EFORMAT,
         "classes[0]"},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"0\",\"1.5\"]}", KEEL_EFORMAT,
         "classes[1]"},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"0\",\"99999999999999999\"]}",
         KEEL_EFORMAT, "classes[1]"},
        {"{\"column\":\"y\",\"task\":\"binary\",\"classes\":[0,1]}", KEEL_EFORMAT, "not a string"},
        {"{\"column\":\"y\",\"column\":\"y\",\"task\":\"binary\",\"classes\":[\"0\",\"1\"]}",
         KEEL_EFORMAT, "appears twice"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        keel_json_doc *d = parse(cases[i].json);
        REQUIRE(d);
        int rc = keel_target_from_json(&t, keel_json_root(d), s, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].msg))
            printf("case %zu: rc %d, message: %s\n", i, rc, e.msg);
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK(strstr(e.msg, cases[i].msg) != NULL);
        CHECK(t.column == NULL && t.classes.n == 0 && t.class_values == NULL);
        keel_json_doc_free(d);
    }
    keel_frame_free(f);
    free(train);
    keel_schema_free(s);
}

TEST(target_out_of_memory_is_clean)
{
    keel_schema *s = mixed_schema();
    char *train = mixed_training();
    keel_frame *f = load(s, NULL, train);
    REQUIRE(f);
    static const char *const columns[] = {"color", "flag", "y", "num"};
    for (size_t k = 0; k < 4; k++) {
        keel_target t;
        keel_error e;
        int rc = KEEL_ENOMEM;
        for (long n = 1; n < 1000 && rc; n++) {
            long live = test_alloc_live();
            test_fail_alloc_after(n);
            rc =
                keel_target_fit(&t, f, NULL, 0, columns[k], k == 3 ? KEEL_TASK_MULTICLASS : -1, &e);
            test_fail_alloc_after(0);
            if (rc) {
                CHECK_EQ_INT(rc, KEEL_ENOMEM);
                CHECK_EQ_INT(test_alloc_live(), live);
            }
        }
        REQUIRE(rc == KEEL_OK);
        keel_buf b;
        keel_buf_init(&b);
        REQUIRE(keel_target_to_json(&t, &b) == KEEL_OK);
        keel_json_doc *d = parse(b.data);
        REQUIRE(d);
        keel_target u;
        rc = KEEL_ENOMEM;
        for (long n = 1; n < 1000 && rc; n++) {
            long live = test_alloc_live();
            test_fail_alloc_after(n);
            rc = keel_target_from_json(&u, keel_json_root(d), s, &e);
            test_fail_alloc_after(0);
            if (rc) {
                CHECK_EQ_INT(rc, KEEL_ENOMEM);
                CHECK_EQ_INT(test_alloc_live(), live);
            }
        }
        REQUIRE(rc == KEEL_OK);
        keel_target_free(&u);
        keel_json_doc_free(d);
        keel_buf_free(&b);
        keel_target_free(&t);
    }
    keel_frame_free(f);
    free(train);
    keel_schema_free(s);
}

TEST(transform_piecewise_linear_bins)
{
    keel_schema *s;
    keel_frame *f = load_data("mlc_churn.csv", "churn", &s);
    REQUIRE(f);
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, "churn", NULL, &e) == KEEL_OK); /* defaults */
    const keel_feature *ft = feature(&t, "total_day_minutes");
    REQUIRE(ft && ft->n_bins == 16);
    CHECK_EQ_INT(ft->n_dense_out, 1 + 16 + 1);
    CHECK_NEAR(ft->edges[0], ft->knots[0], 0);
    CHECK_NEAR(ft->edges[16], ft->knots[63], 0);
    /* A column with few values gets fewer bins: customer service calls has 10 values. */
    CHECK_EQ_INT(feature(&t, "number_customer_service_calls")->n_bins, 9);
    float *dense = calloc(f->n_rows * t.n_dense, sizeof *dense);
    int32_t *index = calloc(f->n_rows * t.n_index + 1, sizeof *index);
    REQUIRE(dense && index);
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, f->n_rows, dense, index, NULL) == KEEL_OK);
    const double *raw = f->cols[ft->col].num;
    size_t bad = 0;
    for (size_t i = 0; i < f->n_rows; i++) {
        const float *b = dense + i * t.n_dense + ft->dense_offset + 1;
        /* Bins are a thermometer: 1 ... 1, one fraction, 0 ... 0; and they sum back to the
         * value: x = e_0 + sum_b (e_{b+1} - e_b) bin_b inside the edges. */
        double back = ft->edges[0];
        for (int k = 0; k < 16; k++) {
            if (b[k] < 0 || b[k] > 1 || (k && b[k] > b[k - 1])) bad++;
            back += (ft->edges[k + 1] - ft->edges[k]) * b[k];
        }
        if (fabs(back - raw[i]) > 1e-3) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* The bins survive the JSON round trip and a missing value gives all zeros. */
    keel_buf j;
    keel_buf_init(&j);
    REQUIRE(keel_transform_to_json(&t, &j) == KEEL_OK);
    CHECK(strstr(j.data, "\"bins\":16") != NULL);
    keel_json_doc *d = parse(j.data);
    REQUIRE(d);
    keel_transform u;
    REQUIRE(keel_transform_from_json(&u, keel_json_root(d), s, &e) == KEEL_OK);
    CHECK_EQ_INT(u.n_dense, t.n_dense);
    f->cols[ft->col].num[0] = NAN;
    float *d2 = calloc(t.n_dense, sizeof *d2);
    REQUIRE(d2 && keel_transform_apply(&u, f, NULL, 0, 1, d2, index, NULL) == KEEL_OK);
    for (int k = 0; k < 16; k++)
        CHECK(d2[ft->dense_offset + 1 + k] == 0);
    CHECK(d2[ft->dense_offset + 17] == 1);
    free(d2);
    keel_json_doc_free(d);
    keel_transform_free(&u);
    keel_buf_free(&j);
    free(dense);
    free(index);
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}
