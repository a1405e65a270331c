/*
 * test_api.c — libkeel's named and columnar prediction (keel_model_predict_fields,
 * keel_model_predict_columns, keel_model_predicted_class) and what makes one row fast: the
 * row plan (src/model/model.c), the exact SiLU and block-sparse kernels, and the transform's
 * shortcut for bins away from the value. Every fast path is compared bit for bit with the
 * path it stands in for.
 *
 * Two models: "churn" is trained as `keel train` would (inferred schema, default network with
 * the per-column embedding, a few epochs) on data/mlc_churn.csv, so it has a row plan with
 * blocks; "typed" is a small hand-made schema with every column type and rule (ranges, whole
 * numbers, clipping, a non-nullable column, numeric-looking categories, text, an id), whose
 * text column makes it a model without a row plan.
 */
#include "data/infer.h"
#include "data/transform.h"
#include "data/validate.h"
#include "model/model.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- models ------------------------------------------------------------------------------ */

/* Data loaded for training, kept for comparisons: the frame borrows the schema. */
typedef struct data {
    keel_schema *s;
    keel_frame *f;
} data;

static void data_free(data *d)
{
    keel_frame_free(d->f);
    keel_schema_free(d->s);
}

/* Trains on the CSV at path with schema s (target last; taken over), saves the model under
 * name in the test's directory and opens it as an embedding program would. The data go to
 * *dp when dp is not NULL. */
static keel_model *train_open(keel_schema *s, const char *path, const char *target,
                              const keel_hparams *hp, const char *name, data *dp)
{
    keel_frame *f = NULL;
    keel_validate_result vr;
    keel_error e;
    keel_model *m = NULL, *p = NULL;
    if (keel_frame_load(s, path, NULL, &f, &vr, &e)) {
        fprintf(stderr, "load: %s\n", e.msg);
        goto done;
    }
    keel_validate_result_free(&vr);
    keel_train_options o = {.target = target, .hp = *hp};
    keel_train_result r;
    if (keel_train(f, NULL, 0, &o, &m, &r, &e)) {
        fprintf(stderr, "train: %s\n", e.msg);
        goto done;
    }
    char out[1024];
    snprintf(out, sizeof out, "%s/%s", test_tmpdir(), name);
    if (keel_model_save(m, out, &e) || keel_model_open(out, &p, &e)) {
        fprintf(stderr, "save/open: %s\n", e.msg);
        goto done;
    }
done:
    keel_model_free(m);
    if (dp && p) {
        *dp = (data){s, f};
    } else {
        keel_frame_free(f);
        keel_schema_free(s);
    }
    return p;
}

static char *churn_path(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/mlc_churn.csv", test_root());
    return path;
}

/* The churn model, trained as `keel train data/mlc_churn.csv --target churn` would be but for
 * fewer epochs. *dp gets the data (schema with the target) when dp is not NULL. */
static keel_model *churn_model(data *dp)
{
    keel_infer_options io;
    keel_infer_options_init(&io);
    io.target = "churn";
    keel_schema *s;
    keel_error e;
    if (keel_infer_file(churn_path(), &io, &s, &e)) return NULL;
    for (size_t i = 0; i < s->n_columns; i++) { /* the CLI's prediction contract */
        keel_schema_column *c = &s->columns[i];
        if (c->role != KEEL_ROLE_FEATURE) continue;
        c->has_min = c->has_max = c->integer = false;
        c->nullable = true;
        if (c->type == KEEL_TYPE_CATEGORICAL || c->type == KEEL_TYPE_BOOLEAN)
            c->on_invalid = KEEL_ON_INVALID_MISSING;
    }
    long t = keel_schema_find(s, "churn");
    s->columns[t].nullable = true;
    keel_schema_move_to_end(s, (size_t)t);
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.max_epochs = 2;
    return train_open(s, churn_path(), "churn", &hp, "churn.keel", dp);
}

/* Columns of the typed model, in order (y, the target, last). */
enum { T_AMOUNT, T_COUNT, T_CODE, T_FLAG, T_NOTE, T_CLIP, T_ID, T_Y, T_NCOLS };

static keel_schema *typed_schema(void)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    if (!s) return NULL;
    keel_schema_add_column(s, "amount", &c); /* numeric in [0, 1000] */
    c->has_min = c->has_max = true;
    c->min = 0;
    c->max = 1000;
    keel_schema_add_column(s, "count", &c); /* whole numbers, never missing */
    c->integer = true;
    c->nullable = false;
    keel_schema_add_column(s, "code", &c); /* categories that look like numbers */
    c->type = KEEL_TYPE_CATEGORICAL;
    const char *cats[] = {"1", "2", "3", "10", "2.5"};
    for (size_t i = 0; i < 5; i++)
        keel_strlist_add(&c->categories, cats[i], strlen(cats[i]));
    keel_schema_add_column(s, "flag", &c);
    c->type = KEEL_TYPE_BOOLEAN;
    keel_schema_add_column(s, "note", &c);
    c->type = KEEL_TYPE_TEXT;
    keel_schema_add_column(s, "clip", &c); /* clipped to [-1, 1] */
    c->has_min = c->has_max = true;
    c->min = -1;
    c->max = 1;
    c->on_invalid = KEEL_ON_INVALID_CLIP;
    keel_schema_add_column(s, "id", &c); /* an id that may not be missing: never an input */
    c->type = KEEL_TYPE_ID;
    c->role = KEEL_ROLE_ID;
    c->nullable = false;
    keel_schema_add_column(s, "y", &c);
    c->role = KEEL_ROLE_TARGET;
    return s;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The typed model, trained on 400 made-up rows. */
static keel_model *typed_model(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/typed.csv", test_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, "amount,count,code,flag,note,clip,id,y\n");
    const char *codes[] = {"1", "2", "3", "10", "2.5"}, *words[] = {"red fox", "blue", "", "NA"};
    for (int i = 0; i < 400; i++) {
        double amount = (double)(next_rand() % 100000) / 100;
        int count = (int)(next_rand() % 9), code = (int)(next_rand() % 5);
        int flag = (int)(next_rand() % 3); /* 2: missing */
        double clip = (double)(next_rand() % 200) / 100 - 1;
        int y = (amount > 500) ^ (code == 3) ^ (count > 6);
        fprintf(f, "%.2f,%d,%s,%s,%s,%.2f,r%d,%d\n", amount, count, codes[code],
                flag == 2 ? ""
                : flag    ? "yes"
                          : "no",
                words[next_rand() % 4], clip, i, y);
    }
    fclose(f);
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.hidden[0] = hp.hidden[1] = 16;
    hp.max_epochs = 3;
    return train_open(typed_schema(), path, "y", &hp, "typed.keel", NULL);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static bool same(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Splits the n-th data line of data/mlc_churn.csv (from 0) into its fields, quotes removed;
 * returns the number of fields. */
static size_t churn_line(size_t n, char *line, size_t cap, char **fields, size_t max)
{
    FILE *f = fopen(churn_path(), "r");
    if (!f) return 0;
    for (size_t i = 0; i <= n + 1; i++)
        if (!fgets(line, (int)cap, f)) {
            fclose(f);
            return 0;
        }
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    size_t k = 0;
    for (char *p = line; k < max;) {
        char *end = strchr(p, ',');
        if (end) *end = 0;
        if (*p == '"') {
            p++;
            p[strlen(p) - 1] = 0;
        }
        fields[k++] = p;
        if (!end) break;
        p = end + 1;
    }
    return k;
}

/* ---- the row plan ------------------------------------------------------------------------ */

/* keel_model_predict_tensor with one row goes through the row plan, which multiplies
 * bfloat16 weights as 16 bits: the same bits as the graph executor gives. */
TEST(api_tensor_row_plan_equals_graph_executor)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.hidden[0] = hp.hidden[1] = 80; /* wide enough for the bfloat16 kernel */
    hp.max_epochs = 2;
    keel_frame *f;
    keel_schema *s;
    keel_model *m = test_train_pima(&hp, &f, &s);
    REQUIRE(m);
    keel_model *p = test_save_open(m, "pima_tensor.keel");
    REQUIRE(p && p->plan != NULL);
    keel_error e;
    size_t nf = keel_model_n_features(p), k = keel_model_n_outputs(p);
    float *dense = malloc(50 * nf * sizeof *dense);
    REQUIRE(dense && keel_transform_apply(&p->tf, f, NULL, 0, 50, dense, NULL, NULL) == KEEL_OK);
    struct keel_rowplan *plan = p->plan;
    for (int simd = 1; simd >= 0; simd--) {
        keel_tensor_set_simd(simd);
        size_t bad = 0;
        for (size_t r = 0; r < 50; r++) {
            float fast[4], slow[4];
            p->plan = plan;
            REQUIRE(keel_model_predict_tensor(p, dense + r * nf, 1, nf, fast, &e) == KEEL_OK);
            p->plan = NULL;
            REQUIRE(keel_model_predict_tensor(p, dense + r * nf, 1, nf, slow, &e) == KEEL_OK);
            bad += !same(fast, slow, k);
        }
        CHECK_EQ_INT(bad, 0);
    }
    keel_tensor_set_simd(true);
    p->plan = plan;
    free(dense);
    keel_model_close(p);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(api_row_plan_equals_graph_executor)
{
    data d = {0};
    keel_model *m = churn_model(&d);
    REQUIRE(m && d.f);
    keel_frame *f = d.f;
    REQUIRE(m->plan != NULL); /* the default network is one the plan runs */
    size_t k = keel_model_n_outputs(m);
    struct keel_rowplan *plan = m->plan;
    for (int simd = 1; simd >= 0; simd--) {
        keel_tensor_set_simd(simd);
        for (size_t r = 0; r < 300; r++) {
            float fast[8], slow[8];
            m->plan = plan;
            REQUIRE(keel_model_predict_frame(m, f, NULL, r, 1, fast) == KEEL_OK);
            m->plan = NULL;
            REQUIRE(keel_model_predict_frame(m, f, NULL, r, 1, slow) == KEEL_OK);
            if (!same(fast, slow, k)) {
                CHECK(same(fast, slow, k));
                fprintf(stderr, "row %zu simd %d: %.9g vs %.9g\n", r, simd, fast[1], slow[1]);
                break;
            }
        }
    }
    keel_tensor_set_simd(true);
    m->plan = plan;
    keel_model_close(m);
    data_free(&d);
}

TEST(api_silu_kernel_is_exact)
{
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof *x), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    REQUIRE(x && a && b);
    const float special[] = {0.0f,      -0.0f,    INFINITY, -INFINITY, NAN,     1e-45f,
                             -1e-45f,   1e-38f,   -1e-38f,  700.0f,    -700.0f, 700.0001f,
                             -700.001f, 88.7f,    -88.7f,   -103.9f,   -110.0f, 36.7f,
                             3.4e38f,   -3.4e38f, 1.0f,     -1.0f,     0.5f,    -0.5f};
    size_t ns = sizeof special / sizeof *special;
    memcpy(x, special, sizeof special);
    for (size_t i = ns; i < N; i++) {
        uint32_t u = (uint32_t)next_rand();
        if (i % 2) u = (u & 0x807FFFFFu) | ((uint32_t)(100 + u % 60) << 23); /* |x| ~ 2^-27..2^32 */
        memcpy(&x[i], &u, 4);
    }
    keel_k_silu_c(N, x, a);
    if (keel_k_cpu_avx512()) {
        keel_k_silu_avx512(N - 5, x, b); /* a tail */
        keel_k_silu_avx512(5, x + N - 5, b + N - 5);
        size_t bad = 0;
        for (size_t i = 0; i < N; i++)
            if (memcmp(&a[i], &b[i], 4)) {
                if (bad++ < 5) fprintf(stderr, "silu(%a): %a, want %a\n", x[i], b[i], a[i]);
            }
        CHECK_EQ_INT(bad, 0);
    }
    /* and the C version is the op's formula, z / (1 + e^-z), within 4 units in the last
     * place (relative to the result's magnitude, or absolute below the normal floats) */
    size_t far = 0;
    for (size_t i = 0; i < N; i++) {
        double v = x[i];
        if (isnan(v)) {
            CHECK(isnan(a[i]));
            continue;
        }
        double s = v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
        double want = v * s, ulp = fmax(fabs(want), 0x1p-126) * 0x1p-23;
        if (isinf(want) ? a[i] != want : fabs(a[i] - want) > 4 * ulp) {
            if (far++ < 5) fprintf(stderr, "silu(%a) = %a, formula %a\n", x[i], a[i], want);
        }
    }
    CHECK_EQ_INT(far, 0);
    free(x);
    free(a);
    free(b);
}

TEST(api_block_kernel_equals_gemv)
{
    if (!keel_k_cpu_avx512()) return;
    /* A block-diagonal 70 x 130 weight (blocks of 1 .. 16 columns over 0 .. 9 rows), inputs
     * with zeros among them, a bias: the blocks give exactly the dense product. */
    size_t k = 70, n = 130;
    float *w = calloc(k * n, sizeof *w), x[70], bias[130], y1[130], y2[130];
    keel_k_block blocks[130];
    size_t nb = 0, row = 0;
    REQUIRE(w);
    for (size_t col = 0; col < n;) {
        uint32_t width = (uint32_t)KEEL_MIN(n - col, 1 + next_rand() % 16);
        uint32_t rows = (uint32_t)KEEL_MIN(k - row, next_rand() % 10);
        for (size_t i = row; i < row + rows; i++)
            for (size_t j = col; j < col + width; j++)
                w[i * n + j] = (float)((int)(next_rand() % 2001) - 1000) / 997.0f;
        blocks[nb++] = (keel_k_block){(uint32_t)col, width, (uint32_t)row, rows};
        col += width;
        row += rows;
    }
    for (size_t i = 0; i < k; i++)
        x[i] = i % 3 ? (float)((int)(next_rand() % 2001) - 1000) / 313.0f : 0.0f;
    for (size_t j = 0; j < n; j++)
        bias[j] = (float)j / 50.0f - 1.0f;
    keel_k_blockpack packed;
    REQUIRE(keel_k_pack_blocks(w, n, blocks, nb, &packed) == KEEL_OK);
    CHECK_EQ_INT(packed.n_groups, (nb + KEEL_K_BLOCK_GROUP - 1) / KEEL_K_BLOCK_GROUP);
    for (size_t g = 1; g < packed.n_groups; g++) /* fewest rows last */
        CHECK(packed.rows[g] <= packed.rows[g - 1]);
    keel_k_gemv_avx512(n, k, x, w, bias, y1, NULL);
    keel_k_gemv_blocks_avx512(x, &packed, bias, y2);
    CHECK(same(y1, y2, n));
    keel_k_gemv_avx512(n, k, x, w, NULL, y1, NULL);
    keel_k_gemv_blocks_avx512(x, &packed, NULL, y2);
    CHECK(same(y1, y2, n));
    keel_k_blockpack_free(&packed);
    free(w);
}

TEST(api_transform_bins_shortcut_is_exact)
{
    /* Fit on a spread of values, then apply to values at, between and beyond the edges and
     * compare every bin with the division the shortcut stands in for. */
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    REQUIRE(s && keel_schema_add_column(s, "x", &c) == KEEL_OK);
    keel_frame *f = keel_frame_new(s);
    REQUIRE(f && keel_frame_reserve(f, 2000) == KEEL_OK);
    for (size_t i = 0; i < 1000; i++)
        f->cols[0].num[i] = i % 50 == 0 ? NAN : (double)(next_rand() % 100000) / 37.0 - 900;
    f->n_rows = 1000;
    keel_transform t;
    keel_error e;
    REQUIRE(keel_transform_fit(&t, f, NULL, 0, NULL, NULL, &e) == KEEL_OK);
    const keel_feature *ft = &t.features[0];
    REQUIRE(ft->n_bins > 1);
    const double *ed = ft->edges;
    size_t n = 0;
    for (size_t b = 0; b <= ft->n_bins; b++) { /* edges, their neighbours, the middles */
        f->cols[0].num[n++] = ed[b];
        f->cols[0].num[n++] = nextafter(ed[b], -INFINITY);
        f->cols[0].num[n++] = nextafter(ed[b], INFINITY);
        if (b < ft->n_bins) f->cols[0].num[n++] = (ed[b] + ed[b + 1]) / 2;
    }
    f->cols[0].num[n++] = NAN;
    f->cols[0].num[n++] = -1e300;
    f->cols[0].num[n++] = 1e300;
    while (n < 2000)
        f->cols[0].num[n++] = (double)(next_rand() % 200000) / 37.0 - 2000;
    f->n_rows = n;
    float *dense = calloc(n * t.n_dense, sizeof *dense);
    REQUIRE(dense);
    REQUIRE(keel_transform_apply(&t, f, NULL, 0, n, dense, NULL, NULL) == KEEL_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double x = f->cols[0].num[i];
        for (size_t b = 0; b < ft->n_bins; b++) {
            double v = (x - ed[b]) / (ed[b + 1] - ed[b]);
            float want = v >= 1 ? 1.0f : v > 0 ? (float)v : 0.0f;
            float got = dense[i * t.n_dense + ft->dense_offset + 1 + b];
            if (memcmp(&want, &got, 4) && bad++ < 5)
                fprintf(stderr, "x %a bin %zu: %a, want %a\n", x, b, got, want);
        }
    }
    CHECK_EQ_INT(bad, 0);
    free(dense);
    keel_transform_free(&t);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* ---- named fields ------------------------------------------------------------------------ */

TEST(api_fields_equal_predict_row)
{
    keel_model *m = churn_model(NULL);
    REQUIRE(m);
    size_t ni = keel_model_n_inputs(m), k = keel_model_n_outputs(m);
    REQUIRE(ni == 19);
    keel_error e;
    for (size_t line = 0; line < 60; line++) {
        char buf[1024], *fld[32];
        REQUIRE(churn_line(line * 37, buf, sizeof buf, fld, 32) == 20);
        /* The file's columns are the inputs in order, then churn. */
        float by_row[4], by_text[4], by_num[4], shuffled[4];
        REQUIRE(keel_model_predict_row(m, (const char *const *)fld, by_row, &e) == KEEL_OK);
        keel_named_value text[19], num[19], rev[19];
        for (size_t i = 0; i < ni; i++) {
            const char *name = keel_model_input_name(m, i);
            text[i] = (keel_named_value){name, fld[i], 0};
            bool numeric = !strcmp(keel_model_input_type(m, i), "numeric");
            num[i] = (keel_named_value){name, numeric ? NULL : fld[i], strtod(fld[i], NULL)};
            rev[ni - 1 - i] = num[i];
        }
        REQUIRE(keel_model_predict_fields(m, text, ni, by_text, &e) == KEEL_OK);
        REQUIRE(keel_model_predict_fields(m, num, ni, by_num, &e) == KEEL_OK);
        REQUIRE(keel_model_predict_fields(m, rev, ni, shuffled, &e) == KEEL_OK);
        CHECK(same(by_row, by_text, k));
        CHECK(same(by_row, by_num, k));
        CHECK(same(by_row, shuffled, k));
        size_t cls = keel_model_predicted_class(m, by_row);
        CHECK(cls == (by_row[1] > by_row[0] ? 1u : 0u));
    }
    /* Inputs left out are missing, as NULL values are. */
    const char *nulls[19] = {0};
    nulls[1] = "100";
    float a[4], b[4];
    REQUIRE(keel_model_predict_row(m, nulls, a, &e) == KEEL_OK);
    keel_named_value one = {"account_length", NULL, 100};
    REQUIRE(keel_model_predict_fields(m, &one, 1, b, &e) == KEEL_OK);
    CHECK(same(a, b, k));
    one.number = NAN; /* NaN is missing */
    REQUIRE(keel_model_predict_fields(m, &one, 1, b, &e) == KEEL_OK);
    REQUIRE(keel_model_predict_fields(m, NULL, 0, a, &e) == KEEL_OK);
    CHECK(same(a, b, k));
    keel_model_close(m);
}

TEST(api_names_are_checked)
{
    keel_model *m = typed_model();
    REQUIRE(m);
    keel_error e;
    float out[4] = {-7, -7, -7, -7};
    keel_named_value f1[] = {{"amount", NULL, 1}, {"colour", "red", 0}};
    CHECK_EQ_INT(keel_model_predict_fields(m, f1, 2, out, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "'colour' is not an input") != NULL);
    keel_named_value f2[] = {{"amount", NULL, 1}, {"count", NULL, 2}, {"amount", "3", 0}};
    CHECK_EQ_INT(keel_model_predict_fields(m, f2, 3, out, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "'amount' is given twice") != NULL);
    keel_named_value f3[] = {{"y", "1", 0}}; /* the target and the id are not inputs */
    CHECK_EQ_INT(keel_model_predict_fields(m, f3, 1, out, &e), KEEL_EINVAL);
    keel_named_value f4[] = {{"id", "r1", 0}};
    CHECK_EQ_INT(keel_model_predict_fields(m, f4, 1, out, &e), KEEL_EINVAL);
    keel_named_value f5[] = {{NULL, "r1", 0}};
    CHECK_EQ_INT(keel_model_predict_fields(m, f5, 1, out, &e), KEEL_EINVAL);
    CHECK(out[0] == -7 && out[1] == -7); /* nothing written */

    double amount[2] = {1, 2};
    int64_t count[2] = {1, 2};
    keel_input_column c1[] = {{"amount", KEEL_COL_F64, amount, NULL},
                              {"nope", KEEL_COL_I64, count, NULL}};
    CHECK_EQ_INT(keel_model_predict_columns(m, c1, 2, 2, out, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "'nope'") != NULL);
    keel_input_column c2[] = {{"count", KEEL_COL_I64, count, NULL},
                              {"count", KEEL_COL_F64, amount, NULL}};
    CHECK_EQ_INT(keel_model_predict_columns(m, c2, 2, 2, out, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "given twice") != NULL);
    keel_input_column c3[] = {{"count", 99, count, NULL}};
    CHECK_EQ_INT(keel_model_predict_columns(m, c3, 1, 2, out, &e), KEEL_EINVAL);
    keel_input_column c4[] = {{"count", KEEL_COL_I64, NULL, NULL}};
    CHECK_EQ_INT(keel_model_predict_columns(m, c4, 1, 2, out, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_model_predict_columns(m, c4, 1, 0, out, &e), KEEL_OK); /* no rows */
    CHECK_EQ_INT(keel_model_predict_columns(NULL, c1, 1, 1, out, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_model_predict_columns(m, NULL, 1, 1, out, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_model_predict_fields(NULL, f1, 1, out, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_model_predict_fields(m, f1, 1, NULL, &e), KEEL_EINVAL);
    CHECK(out[0] == -7 && out[1] == -7);
    keel_model_close(m);
}

/* ---- columns of every type --------------------------------------------------------------- */

/* One row of the typed model as text (inputs: amount count code flag note clip). */
typedef struct typed_row {
    const char *v[6];
} typed_row;

static void predict_text_row(keel_model *m, const typed_row *r, float *out)
{
    keel_error e;
    if (keel_model_predict_row(m, r->v, out, &e)) {
        fprintf(stderr, "predict_row: %s\n", e.msg);
        out[0] = out[1] = NAN;
    }
}

TEST(api_columns_every_type_equals_text)
{
    keel_model *m = typed_model();
    REQUIRE(m);
    REQUIRE(m->plan == NULL); /* a text column: the executor's path */
    REQUIRE(keel_model_n_inputs(m) == 6);
    keel_error e;
    float want[2], got[2];
    typed_row base = {{"250.5", "4", "10", "yes", "red fox", "0.25"}};
    predict_text_row(m, &base, want);
    REQUIRE(!isnan(want[0]));
    /* Each input given as each type that can carry its value equals the text. */
    double f64[] = {250.5, 4, 10, 1, 0.25};
    float f32[] = {250.5f, 4, 10, 1, 0.25f};
    int64_t i64[] = {4, 10, 1};
    int32_t i32[] = {4, 10, 1};
    unsigned char yes = 1;
    const char *note = "red fox";
    const char *texts[] = {"250.5", "4", "10", "yes", "red fox", "0.25"};
    keel_input_column cols[6];
    const char *names[] = {"amount", "count", "code", "flag", "note", "clip"};
    for (int variant = 0; variant < 5; variant++) {
        for (int i = 0; i < 6; i++)
            cols[i] = (keel_input_column){names[i], KEEL_COL_TEXT, &texts[i], NULL};
        switch (variant) {
        case 0: /* doubles for every number, a bool for the flag */
            cols[0] = (keel_input_column){"amount", KEEL_COL_F64, &f64[0], NULL};
            cols[1] = (keel_input_column){"count", KEEL_COL_F64, &f64[1], NULL};
            cols[2] = (keel_input_column){"code", KEEL_COL_F64, &f64[2], NULL};
            cols[3] = (keel_input_column){"flag", KEEL_COL_BOOL, &yes, NULL};
            cols[5] = (keel_input_column){"clip", KEEL_COL_F64, &f64[4], NULL};
            break;
        case 1: /* floats (exact here), the flag as the number 1 */
            cols[0] = (keel_input_column){"amount", KEEL_COL_F32, &f32[0], NULL};
            cols[1] = (keel_input_column){"count", KEEL_COL_F32, &f32[1], NULL};
            cols[2] = (keel_input_column){"code", KEEL_COL_F32, &f32[2], NULL};
            cols[3] = (keel_input_column){"flag", KEEL_COL_F64, &f64[3], NULL};
            cols[5] = (keel_input_column){"clip", KEEL_COL_F32, &f32[4], NULL};
            break;
        case 2: /* 64-bit integers */
            cols[1] = (keel_input_column){"count", KEEL_COL_I64, &i64[0], NULL};
            cols[2] = (keel_input_column){"code", KEEL_COL_I64, &i64[1], NULL};
            cols[3] = (keel_input_column){"flag", KEEL_COL_I64, &i64[2], NULL};
            break;
        case 3: /* 32-bit integers */
            cols[1] = (keel_input_column){"count", KEEL_COL_I32, &i32[0], NULL};
            cols[2] = (keel_input_column){"code", KEEL_COL_I32, &i32[1], NULL};
            cols[3] = (keel_input_column){"flag", KEEL_COL_I32, &i32[2], NULL};
            break;
        default: /* all text, in another order */
            for (int i = 0; i < 6; i++)
                cols[i] = (keel_input_column){names[5 - i], KEEL_COL_TEXT, &texts[5 - i], NULL};
            cols[1].data = &note;
            break;
        }
        REQUIRE(keel_model_predict_columns(m, cols, 6, 1, got, &e) == KEEL_OK);
        if (!same(got, want, 2))
            fprintf(stderr, "variant %d: %.9g vs %.9g\n", variant, got[1], want[1]);
        CHECK(same(got, want, 2));
    }
    /* A fractional number for a categorical column is its shortest text: 2.5 -> "2.5". */
    typed_row frac = base;
    frac.v[2] = "2.5";
    predict_text_row(m, &frac, want);
    double two_and_half = 2.5;
    float two_and_half_f = 2.5f;
    keel_named_value nv[] = {{"amount", NULL, 250.5},      {"count", NULL, 4},
                             {"code", NULL, two_and_half}, {"flag", "yes", 0},
                             {"note", "red fox", 0},       {"clip", NULL, 0.25}};
    REQUIRE(keel_model_predict_fields(m, nv, 6, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    keel_input_column fc[] = {
        {"code", KEEL_COL_F32, &two_and_half_f, NULL}, {"amount", KEEL_COL_TEXT, &texts[0], NULL},
        {"count", KEEL_COL_TEXT, &texts[1], NULL},     {"flag", KEEL_COL_TEXT, &texts[3], NULL},
        {"note", KEEL_COL_TEXT, &texts[4], NULL},      {"clip", KEEL_COL_TEXT, &texts[5], NULL}};
    REQUIRE(keel_model_predict_columns(m, fc, 6, 1, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    keel_model_close(m);
}

TEST(api_columns_batch_equals_rows_and_frame)
{
    data d = {0};
    keel_model *m = churn_model(&d);
    REQUIRE(m && d.f);
    keel_frame *f = d.f;
    size_t ni = keel_model_n_inputs(m), k = keel_model_n_outputs(m), n = 600;
    /* The data's columns as the API takes them: numbers as doubles, the rest as text. */
    keel_input_column cols[19];
    double *num[19] = {0};
    const char **txt[19] = {0};
    for (size_t i = 0; i < ni; i++) {
        const keel_column *c = &f->cols[m->inputs[i]];
        cols[i].name = keel_model_input_name(m, i);
        cols[i].missing = NULL;
        if (c->type == KEEL_TYPE_NUMERIC) {
            num[i] = malloc(n * sizeof **num);
            for (size_t r = 0; r < n; r++)
                num[i][r] = c->num[r];
            cols[i].type = KEEL_COL_F64;
            cols[i].data = num[i];
        } else {
            txt[i] = malloc(n * sizeof **txt);
            for (size_t r = 0; r < n; r++) {
                if (c->type == KEEL_TYPE_CATEGORICAL)
                    txt[i][r] = c->cat[r] < 0 ? NULL : c->def->categories.items[c->cat[r]];
                else
                    txt[i][r] = c->boolean[r] < 0 ? NULL : c->boolean[r] ? "yes" : "no";
            }
            cols[i].type = KEEL_COL_TEXT;
            cols[i].data = txt[i];
        }
    }
    float *got = malloc(n * k * sizeof *got), *ref = malloc(n * k * sizeof *ref);
    REQUIRE(got && ref);
    keel_error e;
    /* In chunks of 256 rows, as predict_frame does: the same numbers, bit for bit. */
    REQUIRE(keel_model_predict_columns(m, cols, ni, n, got, &e) == KEEL_OK);
    REQUIRE(keel_model_predict_frame(m, f, NULL, 0, n, ref) == KEEL_OK);
    CHECK(same(got, ref, n * k));
    /* Row by row (one-row products) agree to float precision; one row alone is exact. */
    size_t far = 0;
    for (size_t r = 0; r < n; r += 7) {
        float one[4];
        REQUIRE(keel_model_predict_frame(m, f, NULL, r, 1, one) == KEEL_OK);
        for (size_t j = 0; j < k; j++)
            far += fabsf(one[j] - got[r * k + j]) > 1e-5f;
    }
    CHECK_EQ_INT(far, 0);
    keel_input_column single[19];
    for (size_t i = 0; i < ni; i++) {
        single[i] = cols[i];
        single[i].data =
            cols[i].type == KEEL_COL_F64 ? (const void *)(num[i] + 5) : (const void *)(txt[i] + 5);
    }
    float one[4];
    REQUIRE(keel_model_predict_columns(m, single, ni, 1, one, &e) == KEEL_OK);
    REQUIRE(keel_model_predict_frame(m, f, NULL, 5, 1, ref) == KEEL_OK);
    CHECK(same(one, ref, k));
    for (size_t i = 0; i < ni; i++) {
        free(num[i]);
        free(txt[i]);
    }
    free(got);
    free(ref);
    keel_model_close(m);
    data_free(&d);
}

TEST(api_missing_values)
{
    keel_model *m = typed_model();
    REQUIRE(m);
    keel_error e;
    float want[2], got[2];
    typed_row r = {{NULL, "4", NULL, NULL, NULL, NULL}};
    predict_text_row(m, &r, want);
    REQUIRE(!isnan(want[0]));
    /* NaN, a missing flag, NULL text, a missing token, an input not given: all missing. */
    double nan = NAN, one = 1;
    int64_t four = 4;
    unsigned char miss = 1;
    const char *null_text = NULL, *na = "NA";
    float nanf = NAN;
    keel_input_column cols[] = {
        {"amount", KEEL_COL_F64, &nan, NULL},      {"count", KEEL_COL_I64, &four, NULL},
        {"code", KEEL_COL_TEXT, &na, NULL},        {"flag", KEEL_COL_BOOL, &miss, &miss},
        {"note", KEEL_COL_TEXT, &null_text, NULL}, {"clip", KEEL_COL_F32, &nanf, NULL}};
    REQUIRE(keel_model_predict_columns(m, cols, 6, 1, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    REQUIRE(keel_model_predict_columns(m, cols + 1, 1, 1, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    cols[0] = (keel_input_column){"amount", KEEL_COL_F64, &one, &miss}; /* the flag wins */
    REQUIRE(keel_model_predict_columns(m, cols, 6, 1, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    keel_named_value nv[] = {{"count", NULL, 4}, {"amount", NULL, NAN}, {"code", "", 0}};
    REQUIRE(keel_model_predict_fields(m, nv, 3, got, &e) == KEEL_OK);
    CHECK(same(got, want, 2));
    /* count may not be missing: refused, naming the row and the column */
    keel_named_value nc[] = {{"count", NULL, NAN}};
    CHECK_EQ_INT(keel_model_predict_fields(m, nc, 1, got, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "row 0, column 'count'") != NULL);
    CHECK(strstr(e.msg, "missing_value") != NULL);
    CHECK_EQ_INT(keel_model_predict_columns(m, cols, 0, 1, got, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "column 'count'") != NULL);
    keel_model_close(m);
}

/* Predicts one row of the typed model with one input replaced; returns the status. */
static int typed_with(keel_model *m, keel_input_column c, float *out, keel_error *e)
{
    static const char *texts[] = {"250.5", "4", "10", "yes", "red fox", "0.25"};
    static const char *names[] = {"amount", "count", "code", "flag", "note", "clip"};
    keel_input_column cols[6];
    for (int i = 0; i < 6; i++)
        cols[i] = !strcmp(names[i], c.name)
                      ? c
                      : (keel_input_column){names[i], KEEL_COL_TEXT, &texts[i], NULL};
    return keel_model_predict_columns(m, cols, 6, 1, out, e);
}

TEST(api_schema_rules_apply_to_numbers)
{
    keel_model *m = typed_model();
    REQUIRE(m);
    keel_error e;
    float out[2];
    struct {
        const char *column, *text, *reason;
        double number;
    } cases[] = {
        {"amount", "1500", "out_of_range", 1500}, {"amount", "-0.5", "out_of_range", -0.5},
        {"count", "2.5", "not_integer", 2.5},     {"amount", "inf", "bad_number", INFINITY},
        {"code", "7", "unknown_category", 7},     {"flag", "2", "bad_boolean", 2},
        {"count", NULL, "missing_value", NAN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* the text path's verdict */
        typed_row r = {{"250.5", "4", "10", "yes", "red fox", "0.25"}};
        int col = !strcmp(cases[i].column, "amount")  ? 0
                  : !strcmp(cases[i].column, "count") ? 1
                  : !strcmp(cases[i].column, "code")  ? 2
                                                      : 3;
        r.v[col] = cases[i].text;
        CHECK_EQ_INT(keel_model_predict_row(m, r.v, out, &e), KEEL_EMISMATCH);
        CHECK(strstr(e.msg, cases[i].reason) != NULL);
        /* the same verdict for the number */
        keel_input_column c = {cases[i].column, KEEL_COL_F64, &cases[i].number, NULL};
        CHECK_EQ_INT(typed_with(m, c, out, &e), KEEL_EMISMATCH);
        if (!strstr(e.msg, cases[i].reason)) fprintf(stderr, "case %zu: %s\n", i, e.msg);
        CHECK(strstr(e.msg, cases[i].reason) != NULL);
        CHECK(strstr(e.msg, cases[i].column) != NULL);
    }
    /* Clipping repairs a number as it repairs text. */
    float want[2];
    typed_row r = {{"250.5", "4", "10", "yes", "red fox", "7"}};
    predict_text_row(m, &r, want);
    double seven = 7;
    REQUIRE(typed_with(m, (keel_input_column){"clip", KEEL_COL_F64, &seven, NULL}, out, &e) ==
            KEEL_OK);
    CHECK(same(out, want, 2));

    /* In a batch the error names the row, and out is left alone even when earlier chunks
     * were fine. */
    enum { N = 600 };
    double *amount = malloc(N * sizeof *amount);
    float *res = malloc(N * 2 * sizeof *res);
    REQUIRE(amount && res);
    for (size_t i = 0; i < N; i++)
        amount[i] = (double)i;
    amount[555] = 1e6;
    for (size_t i = 0; i < 2 * N; i++)
        res[i] = -7;
    keel_input_column bc[] = {{"amount", KEEL_COL_F64, amount, NULL},
                              {"count", KEEL_COL_F64, amount, NULL}};
    CHECK_EQ_INT(keel_model_predict_columns(m, bc, 2, N, res, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "row 555, column 'amount'") != NULL);
    CHECK(strstr(e.msg, "'1000000' rejected (out_of_range)") != NULL);
    size_t touched = 0;
    for (size_t i = 0; i < 2 * N; i++)
        touched += res[i] != -7;
    CHECK_EQ_INT(touched, 0);
    amount[555] = 5;
    CHECK_EQ_INT(keel_model_predict_columns(m, bc, 2, N, res, &e), KEEL_OK);
    CHECK(res[2 * 555] >= 0 && res[2 * 555] <= 1);
    free(amount);
    free(res);
    keel_model_close(m);
}

TEST(api_predicted_class)
{
    keel_model *m = typed_model();
    REQUIRE(m);
    float a[2] = {0.2f, 0.8f}, b[2] = {0.9f, 0.1f}, c[2] = {0.5f, 0.5f};
    CHECK_EQ_INT(keel_model_predicted_class(m, a), 1);
    CHECK_EQ_INT(keel_model_predicted_class(m, b), 0);
    CHECK_EQ_INT(keel_model_predicted_class(m, c), 0); /* ties: the first, as keel predict */
    CHECK_STR(keel_model_output_name(m, keel_model_predicted_class(m, a)), "1");
    CHECK_EQ_INT(keel_model_predicted_class(NULL, a), 0);
    keel_model_close(m);
}

/* ---- threads ----------------------------------------------------------------------------- */

typedef struct racer {
    keel_model *m;
    keel_named_value fields[19];
    float want[2], want_batch[6];
    keel_input_column cols[2];
    int bad;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 300; i++) {
        float out[2], batch[6];
        keel_error e;
        if (keel_model_predict_fields(r->m, r->fields, 19, out, &e) || !same(out, r->want, 2))
            r->bad++;
        if (keel_model_predict_columns(r->m, r->cols, 2, 3, batch, &e) ||
            !same(batch, r->want_batch, 6))
            r->bad++;
    }
    return NULL;
}

/* More threads than the model keeps workspaces for one by one (KEEL_WS_SLOTS), so that
 * threads share slots, and calls of one row and of three, so that a slot's workspace is
 * sometimes too small. */
#define RACERS 20

TEST(api_threads_predict_at_once)
{
    keel_model *m = churn_model(NULL);
    REQUIRE(m);
    static const double minutes[3] = {120.5, 300, 10};
    static const char *states[3] = {"KS", "NY", NULL};
    racer r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        char buf[1024], *fld[32];
        REQUIRE(churn_line((size_t)(i % 4) * 11, buf, sizeof buf, fld, 32) == 20);
        r[i].m = m;
        r[i].bad = 0;
        for (size_t j = 0; j < 19; j++) {
            bool numeric = !strcmp(keel_model_input_type(m, j), "numeric");
            /* fld points into buf: keep numbers only, and categories by their schema copy */
            r[i].fields[j] = (keel_named_value){keel_model_input_name(m, j), NULL,
                                                numeric ? strtod(fld[j], NULL) : NAN};
        }
        r[i].cols[0] = (keel_input_column){"total_day_minutes", KEEL_COL_F64, minutes, NULL};
        r[i].cols[1] = (keel_input_column){"state", KEEL_COL_TEXT, states, NULL};
        keel_error e;
        REQUIRE(keel_model_predict_fields(m, r[i].fields, 19, r[i].want, &e) == KEEL_OK);
        REQUIRE(keel_model_predict_columns(m, r[i].cols, 2, 3, r[i].want_batch, &e) == KEEL_OK);
    }
    for (int i = 0; i < RACERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, race, &r[i]) == 0);
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(r[i].bad, 0);
    }
    keel_model_close(m);
}
#undef RACERS

/* ---- out of memory ----------------------------------------------------------------------- */

TEST(api_out_of_memory)
{
    /* Open the churn model (row plan and blocks included) and predict from a fresh model,
     * failing each allocation in turn: ENOMEM, no leak, until everything succeeds. */
    keel_model *src = churn_model(NULL);
    REQUIRE(src);
    keel_model_close(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/churn.keel", test_tmpdir());
    double minutes[300];
    for (int i = 0; i < 300; i++)
        minutes[i] = i;
    keel_input_column cols[] = {{"total_day_minutes", KEEL_COL_F64, minutes, NULL}};
    keel_named_value fv[] = {{"state", "KS", 0}, {"account_length", NULL, 90}};
    for (int what = 0; what < 3; what++) {
        int rc = KEEL_ENOMEM;
        long n;
        for (n = 1; n < 100000 && rc == KEEL_ENOMEM; n++) {
            long live = test_alloc_live();
            keel_model *m = NULL;
            keel_error e;
            float out[600];
            if (what == 0) {
                test_fail_alloc_after(n);
                rc = keel_model_open(path, &m, &e);
                test_fail_alloc_after(0);
                if (rc) CHECK(m == NULL);
            } else {
                REQUIRE(keel_model_open(path, &m, &e) == KEEL_OK);
                test_fail_alloc_after(n);
                rc = what == 1 ? keel_model_predict_fields(m, fv, 2, out, &e)
                               : keel_model_predict_columns(m, cols, 1, 300, out, &e);
                test_fail_alloc_after(0);
            }
            if (rc != KEEL_OK && rc != KEEL_ENOMEM) fprintf(stderr, "n %ld: %s\n", n, e.msg);
            if (rc != KEEL_OK) CHECK_EQ_INT(rc, KEEL_ENOMEM);
            keel_model_close(m);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
        CHECK_EQ_INT(rc, KEEL_OK);
        CHECK(n > 2);
    }
}
