/*
 * test_model.c — training a small model on real data, the artifact round trip, the public
 * prediction API (include/keel.h) and the loader's refusal of damaged or hostile artifacts.
 */
#include "data/infer.h"
#include "data/validate.h"
#include "model/artifact.h"
#include "model/model.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/harness.h"
#include "train/train.h"

#include <pthread.h>
#include <stdlib.h>

/* A small network on data/pima2.csv (tests/unit/fixtures.h). */
static keel_model *train_pima(keel_frame **fp, keel_schema **sp, uint64_t seed, int epochs)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.hidden[0] = hp.hidden[1] = 16;
    hp.max_epochs = epochs;
    hp.seed = seed;
    return test_train_pima(&hp, fp, sp);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc(*n + 1);
    if (p && fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

TEST(model_train_save_open_predict)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 8);
    REQUIRE(m);
    keel_model *p = test_save_open(m, "pima.keel");
    REQUIRE(p);
    keel_error e;
    CHECK_STR(keel_model_task(p), "binary");
    CHECK_EQ_INT(keel_model_n_inputs(p), 8);
    CHECK_STR(keel_model_input_name(p, 0), "pregnant");
    CHECK_STR(keel_model_input_type(p, 1), "numeric");
    CHECK(keel_model_input_name(p, 8) == NULL);
    CHECK_EQ_INT(keel_model_n_outputs(p), 2);
    CHECK_STR(keel_model_output_name(p, 0), "neg");
    CHECK_STR(keel_model_output_name(p, 1), "pos");
    CHECK_STR(keel_model_sha256(p), m->sha256);

    /* One row through the public API equals the same row through the frame path. */
    const char *row[8] = {"6", "148", "72", "35", NULL, "33.6", "0.627", "50"};
    float out[2], ref[2];
    REQUIRE(keel_model_predict_row(p, row, out, &e) == KEEL_OK);
    CHECK_NEAR(out[0] + out[1], 1.0, 1e-6);
    REQUIRE(keel_model_predict_frame(m, f, NULL, 0, 1, ref) == KEEL_OK); /* file row 1 */
    CHECK_NEAR(out[1], ref[1], 1e-6);

    /* Missing tokens of the schema work like NULL. */
    const char *row_na[8] = {"6", "148", "72", "35", "NA", "33.6", "0.627", "50"};
    float out2[2];
    REQUIRE(keel_model_predict_row(p, row_na, out2, &e) == KEEL_OK);
    CHECK_NEAR(out2[1], out[1], 0);

    /* A bad value is refused, naming the column. */
    const char *bad[8] = {"6", "lots", "72", "35", NULL, "33.6", "0.627", "50"};
    CHECK_EQ_INT(keel_model_predict_row(p, bad, out, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "glucose") != NULL);
    CHECK(strstr(e.msg, "bad_number") != NULL); /* the reason validation would give */

    /* A batch equals rows one by one. */
    const char *batch[16];
    memcpy(batch, row, sizeof row);
    memcpy(batch + 8, row_na, sizeof row_na);
    float bo[4];
    REQUIRE(keel_model_predict_batch(p, batch, 2, bo, &e) == KEEL_OK);
    CHECK_NEAR(bo[1], out2[1], 0);
    CHECK_NEAR(bo[3], out2[1], 0);

    /* The tensor path: this model's inputs are all numeric. */
    CHECK(keel_model_n_features(p) > 0);
    keel_workspace *ws = keel_model_ws_take(p, 1);
    REQUIRE(ws);
    keel_frame *one = f;
    REQUIRE(keel_transform_apply(&p->tf, one, NULL, 0, 1, ws->dense, ws->index, &ws->bags) == 0);
    float tout[2];
    REQUIRE(keel_model_predict_tensor(p, ws->dense, 1, keel_model_n_features(p), tout, &e) == 0);
    CHECK_NEAR(tout[1], ref[1], 1e-6);
    CHECK_EQ_INT(keel_model_predict_tensor(p, ws->dense, 1, 3, tout, &e), KEEL_EINVAL);
    keel_model_ws_give(p, ws);

    keel_model_close(p);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(model_training_is_deterministic)
{
    keel_frame *f1, *f2, *f3;
    keel_schema *s1, *s2, *s3;
    keel_model *a = train_pima(&f1, &s1, 7, 4), *b = train_pima(&f2, &s2, 7, 4),
               *c = train_pima(&f3, &s3, 8, 4);
    REQUIRE(a && b && c);
    REQUIRE(a->graph->n_params == b->graph->n_params);
    CHECK(memcmp(a->graph->params, b->graph->params, a->graph->n_params * sizeof(float)) == 0);
    /* Another seed draws another split, so even the network's size may differ. */
    CHECK(a->graph->n_params != c->graph->n_params ||
          memcmp(a->graph->params, c->graph->params, a->graph->n_params * sizeof(float)) != 0);
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/a.keel", test_tmpdir());
    snprintf(pb, sizeof pb, "%s/b.keel", test_tmpdir());
    keel_error e;
    REQUIRE(keel_model_save(a, pa, &e) == 0 && keel_model_save(b, pb, &e) == 0);
    CHECK_STR(a->sha256, b->sha256);
    keel_model_free(a);
    keel_model_free(b);
    keel_model_free(c);
    keel_frame_free(f1);
    keel_frame_free(f2);
    keel_frame_free(f3);
    keel_schema_free(s1);
    keel_schema_free(s2);
    keel_schema_free(s3);
}

typedef struct race {
    keel_model *m;
    float want;
    int bad;
} race;

static void *predict_many(void *arg)
{
    race *r = arg;
    const char *row[8] = {"6", "148", "72", "35", NULL, "33.6", "0.627", "50"};
    for (int i = 0; i < 2000; i++) {
        float out[2];
        keel_error e;
        if (keel_model_predict_row(r->m, row, out, &e) || out[1] != r->want) r->bad++;
    }
    return NULL;
}

TEST(model_predict_is_thread_safe)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 2);
    REQUIRE(m);
    const char *row[8] = {"6", "148", "72", "35", NULL, "33.6", "0.627", "50"};
    float out[2];
    keel_error e;
    REQUIRE(keel_model_predict_row(m, row, out, &e) == 0);
    race r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (race){m, out[1], 0};
        pthread_create(&t[i], NULL, predict_many, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(r[i].bad, 0);
    }
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* Rewrites an artifact with an edited manifest (and a valid digest), so that the model
 * loader's own checks are what must refuse it. */
static int load_edited(const char *src, const char *from, const char *to, keel_error *e)
{
    keel_artifact *a;
    if (keel_artifact_open(src, &a, e)) return -100;
    size_t len;
    const char *man = keel_artifact_manifest(a, &len);
    char *text = malloc(len + strlen(to) + 1);
    const char *hit = memmem(man, len, from, strlen(from));
    if (!text || !hit) {
        free(text);
        keel_artifact_close(a);
        return -101;
    }
    size_t pre = (size_t)(hit - man);
    memcpy(text, man, pre);
    strcpy(text + pre, to);
    size_t tail = len - pre - strlen(from);
    memcpy(text + pre + strlen(to), hit + strlen(from), tail);
    size_t n = pre + strlen(to) + tail;
    size_t nt = keel_artifact_n_tensors(a);
    keel_artifact_tensor ts[8];
    for (size_t i = 0; i < nt && i < 8; i++)
        ts[i] = *keel_artifact_tensor_at(a, i);
    char out[1024];
    snprintf(out, sizeof out, "%s/edited.keel", test_tmpdir());
    int rc = keel_artifact_write(out, text, n, ts, nt, NULL, e);
    keel_artifact_close(a);
    free(text);
    if (rc) return -102;
    keel_model *m;
    rc = keel_model_load(out, &m, e);
    keel_model_free(m);
    return rc;
}

TEST(model_loader_refuses_hostile_manifests)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 1);
    REQUIRE(m);
    char path[1024];
    snprintf(path, sizeof path, "%s/pima.keel", test_tmpdir());
    keel_error e;
    REQUIRE(keel_model_save(m, path, &e) == 0);
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"\"format\":\"keel-model\"", "\"format\":\"keel-modem\"", "format"},
        {"\"format_version\":1", "\"format_version\":2", "format_version"},
        {"\"op\":\"silu\"", "\"op\":\"system\"", ""},
        {"\"kind\":\"platt\"", "\"kind\":\"magic\"", "calibration"},
        {"\"task\":\"binary\"", "\"task\":\"binary\",\"x\":1", NULL}, /* extra keys are fine */
        {"\"type\":\"numeric\"", "\"type\":\"numerical\"", "type"},
        {"\"logits\":", "\"logits\":9999,\"was\":", "logits"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        int rc = load_edited(path, cases[i].from, cases[i].to, &e);
        if (cases[i].msg == NULL) {
            CHECK_EQ_INT(rc, KEEL_OK);
            continue;
        }
        if (rc != KEEL_EFORMAT) fprintf(stderr, "case %zu: rc %d: %s\n", i, rc, e.msg);
        CHECK_EQ_INT(rc, KEEL_EFORMAT);
        CHECK(strstr(e.msg, cases[i].msg) != NULL);
    }
    /* Every truncation and a sample of bit flips of the whole file are refused. */
    size_t n;
    char *bytes = read_all(path, &n);
    REQUIRE(bytes);
    int accepted = 0;
    for (size_t cut = 0; cut < n; cut += 1 + cut / 64) {
        keel_model *x;
        if (keel_model_load_mem(bytes, cut, &x, &e) == KEEL_OK) accepted++, keel_model_free(x);
    }
    keel_rng rng;
    keel_rng_seed(&rng, 1);
    for (int i = 0; i < 300; i++) {
        size_t at = keel_rng_next(&rng) % n;
        char bit = (char)(1u << (keel_rng_next(&rng) % 8));
        bytes[at] ^= bit;
        keel_model *x;
        if (keel_model_load_mem(bytes, n, &x, &e) == KEEL_OK) accepted++, keel_model_free(x);
        bytes[at] ^= bit; /* back to the good file */
    }
    CHECK_EQ_INT(accepted, 0);
    free(bytes);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* A model whose weights overflow computes NaN; every public predict function must say so
 * (KEEL_ENONFINITE, naming the row) instead of returning NaN as a prediction. Its weights
 * are all finite (±2^126, bfloat16 values), so the loader accepts it; a label was once
 * predicted from the NaN probabilities. */
TEST(model_nonfinite_outputs_are_errors)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 1);
    REQUIRE(m);
    keel_error e;
    const char *row[8] = {"6", "148", "72", "35", NULL, "33.6", "0.627", "50"};
    float out[2 * 300];
    keel_model *good = test_save_open(m, "good.keel");
    REQUIRE(good);
    CHECK_EQ_INT(keel_model_predict_row(good, row, out, &e), KEEL_OK); /* the row is fine */
    keel_model_close(good);
    /* Every weight 2^126 makes the last hidden layer infinite whatever the row; the output
     * layer's weights of alternating sign then add +inf and -inf, which is NaN. */
    for (size_t i = 0; i < m->graph->n_params; i++)
        m->graph->params[i] = 0x1p126f;
    const keel_node *last = &m->graph->nodes[m->node_logits];
    REQUIRE(last->op == KEEL_OP_LINEAR);
    const keel_node *w = &m->graph->nodes[last->inputs[1]];
    for (size_t q = 0; q < w->rows * w->cols; q++)
        m->graph->params[w->offset + q] = q % 2 ? -0x1p126f : 0x1p126f;
    /* Which node holds the representation is read from the first layer's weights, so the
     * background sample drawn for the old weights no longer fits: leave it out. */
    keel_free(m->background);
    m->background = NULL;
    m->n_background = 0;
    keel_model *p = test_save_open(m, "overflow.keel");
    REQUIRE(p);

    CHECK_EQ_INT(keel_model_predict_row(p, row, out, &e), KEEL_ENONFINITE);
    CHECK(strstr(e.msg, "not a finite number") != NULL);
    CHECK(strncmp(e.msg, "row ", 4) != 0); /* one row: no row number */
    const char *batch[16];
    memcpy(batch, row, sizeof row);
    memcpy(batch + 8, row, sizeof row);
    CHECK_EQ_INT(keel_model_predict_batch(p, batch, 2, out, &e), KEEL_ENONFINITE);
    CHECK(strncmp(e.msg, "row 0: ", 7) == 0);

    keel_named_value fields[2] = {{"glucose", NULL, 148}, {"age", "50", 0}};
    CHECK_EQ_INT(keel_model_predict_fields(p, fields, 2, out, &e), KEEL_ENONFINITE);
    CHECK(strstr(e.msg, "not a finite number") != NULL);

    /* Columns: within one chunk and over several (the outputs collected aside). */
    double glucose[300];
    for (size_t i = 0; i < 300; i++)
        glucose[i] = 100 + (double)i;
    keel_input_column col = {"glucose", KEEL_COL_F64, glucose, NULL};
    CHECK_EQ_INT(keel_model_predict_columns(p, &col, 1, 3, out, &e), KEEL_ENONFINITE);
    CHECK(strncmp(e.msg, "row 0: ", 7) == 0);
    CHECK_EQ_INT(keel_model_predict_columns(p, &col, 1, 300, out, &e), KEEL_ENONFINITE);
    CHECK(strncmp(e.msg, "row 0: ", 7) == 0);

    keel_workspace *ws = keel_model_ws_take(p, 1);
    REQUIRE(ws);
    REQUIRE(keel_transform_apply(&p->tf, f, NULL, 0, 1, ws->dense, ws->index, &ws->bags) == 0);
    CHECK_EQ_INT(keel_model_predict_tensor(p, ws->dense, 1, keel_model_n_features(p), out, &e),
                 KEEL_ENONFINITE);
    keel_model_ws_give(p, ws);
    CHECK_STR(keel_errname(KEEL_ENONFINITE), "ENONFINITE");

    /* The check itself: the first row holding NaN or an infinity. */
    float rows[8] = {0.5f, 0.5f, 1, 0, 0.25f, NAN, INFINITY, 0};
    CHECK_EQ_INT(keel_model_first_nonfinite(p, rows, 2), 2);
    CHECK_EQ_INT(keel_model_first_nonfinite(p, rows, 3), 2);
    CHECK_EQ_INT(keel_model_first_nonfinite(p, rows + 6, 1), 0);
    CHECK_EQ_INT(keel_model_first_nonfinite(p, rows, 0), 0);

    keel_model_close(p);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

/* A graph with nodes that feed nothing is refused on load (30,000 of them once made 100 rows
 * take 2.8 s); a network keel itself builds has none. */
TEST(model_loader_refuses_dead_graph_nodes)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 1);
    REQUIRE(m);
    int first;
    size_t n_dead;
    REQUIRE(keel_graph_dead_nodes(m->graph, m->node_loss, &first, &n_dead) == KEEL_OK);
    CHECK_EQ_INT(n_dead, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/pima.keel", test_tmpdir());
    keel_error e;
    REQUIRE(keel_model_save(m, path, &e) == 0);
    int n = m->graph->n_nodes;

    /* 30,000 dead nodes after the loss: each reads the first hidden activation. */
    const char *end = "],\"n_params\":";
    const char *dead = ",{\"op\":\"silu\",\"inputs\":[3],\"rows\":0,\"cols\":64,\"attr\":0,"
                       "\"iattr\":0,\"name\":\"dead\"}";
    size_t len = strlen(dead);
    char *to = malloc(30000 * len + strlen(end) + 1);
    REQUIRE(to);
    for (size_t i = 0; i < 30000; i++)
        memcpy(to + i * len, dead, len);
    strcpy(to + 30000 * len, end);
    double t0 = keel_now_seconds();
    CHECK_EQ_INT(load_edited(path, end, to, &e), KEEL_EFORMAT);
    CHECK(keel_now_seconds() - t0 < 2.0);
    char want[160];
    snprintf(want, sizeof want,
             "30000 graph nodes, the first node %d (silu dead), contribute nothing", n);
    if (!strstr(e.msg, want)) fprintf(stderr, "got: %s\nwant: %s\n", e.msg, want);
    CHECK(strstr(e.msg, want) != NULL);
    CHECK(strstr(e.msg, "retrain the model") != NULL);

    /* Just one. */
    strcpy(to, dead);
    strcat(to, end);
    CHECK_EQ_INT(load_edited(path, end, to, &e), KEEL_EFORMAT);
    snprintf(want, sizeof want, "graph node %d (silu dead) contributes nothing", n);
    CHECK(strstr(e.msg, want) != NULL);
    /* One in the middle: the first hidden layer made to read the linear layer before it
     * instead of that layer's activation (node 4), which nothing reads any more. */
    CHECK_EQ_INT(load_edited(path, "\"op\":\"linear\",\"inputs\":[4,",
                             "\"op\":\"linear\",\"inputs\":[3,", &e),
                 KEEL_EFORMAT);
    CHECK(strstr(e.msg, "graph node 4 (silu) contributes nothing") != NULL);
    free(to);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(model_open_reports_errors)
{
    keel_model *m = (keel_model *)1;
    keel_error e;
    CHECK_EQ_INT(keel_model_open("/nonexistent/x.keel", &m, &e), KEEL_ENOENT);
    CHECK(m == NULL);
    CHECK(strstr(e.msg, "/nonexistent/x.keel") != NULL);
    CHECK_EQ_INT(keel_model_open(NULL, &m, &e), KEEL_EINVAL);
}

/* Share of the linear layers' nonzero weights with low 16 bits set (not bfloat16 values). */
static double share_not_bf16(const keel_model *m)
{
    const keel_graph *g = m->graph;
    size_t all = 0, other = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op != KEEL_OP_LINEAR) continue;
        const keel_node *wn = &g->nodes[g->nodes[i].inputs[1]];
        for (size_t q = 0; q < wn->rows * wn->cols; q++) {
            uint32_t u;
            memcpy(&u, &g->params[wn->offset + q], sizeof u);
            all += (u << 1) != 0;
            other += (u & 0xffffu) != 0;
        }
    }
    return all ? (double)other / (double)all : 1.0;
}

/* Networks without the per-column embedding (--feature-dim 0, or --bins 0 which leaves no
 * numeric column to embed): the first hidden layer mixes every input, so the representation
 * explanations use is the dense input itself, found the same on saving and on loading. */
TEST(model_without_per_column_embedding_saves_and_loads)
{
    for (int variant = 0; variant < 2; variant++) {
        keel_hparams hp;
        keel_hparams_init(&hp);
        hp.hidden[0] = hp.hidden[1] = 32;
        hp.max_epochs = 2;
        if (variant == 0)
            hp.feature_dim = 0;
        else
            hp.bins = 0;
        keel_frame *f;
        keel_schema *s;
        keel_model *m = test_train_pima(&hp, &f, &s);
        REQUIRE(m);
        CHECK(m->node_repr == m->node_dense);
        keel_model *p = test_save_open(m, variant ? "pima_nobins.keel" : "pima_nofe.keel");
        CHECK(p != NULL); /* the bug: saved, then refused on opening */
        if (p) {
            CHECK_EQ_INT(keel_model_repr_dim(p), keel_model_repr_dim(m));
            CHECK_EQ_INT(p->n_background, m->n_background);
        }
        keel_model_close(p);
        keel_model_free(m);
        keel_frame_free(f);
        keel_schema_free(s);
    }
}

TEST(model_weights_end_at_bfloat16_precision)
{
    for (int bf16 = 1; bf16 >= 0; bf16--) {
        keel_hparams hp;
        keel_hparams_init(&hp);
        CHECK(hp.bf16_weights); /* the default */
        hp.hidden[0] = hp.hidden[1] = 80;
        hp.max_epochs = 3;
        hp.bf16_weights = bf16;
        keel_frame *f;
        keel_schema *s;
        keel_model *m = test_train_pima(&hp, &f, &s);
        REQUIRE(m);
        if (bf16)
            CHECK(share_not_bf16(m) == 0.0);
        else
            CHECK(share_not_bf16(m) > 0.9);
        keel_buf b;
        keel_buf_init(&b);
        REQUIRE(keel_hparams_to_json(&m->hp, &b) == KEEL_OK);
        CHECK(strstr(b.data, bf16 ? "\"weight_precision\":\"bf16\""
                                  : "\"weight_precision\":\"fp32\"") != NULL);
        keel_buf_free(&b);
        keel_model_free(m);
        keel_frame_free(f);
        keel_schema_free(s);
    }
}

TEST(model_per_column_embedding_stays_block_diagonal)
{
    keel_frame *f;
    keel_schema *s;
    keel_model *m = train_pima(&f, &s, 42, 3);
    REQUIRE(m);
    REQUIRE(m->node_fe_w >= 0 && m->frozen);
    const keel_node *w = &m->graph->nodes[m->node_fe_w];
    /* pima2 has 8 numeric columns: each maps its encodings to its own feature_dim outputs. */
    size_t dim = m->hp.feature_dim;
    REQUIRE(dim > 0);
    CHECK_EQ_INT(w->rows, m->tf.n_dense);
    CHECK_EQ_INT(w->cols, 8 * dim);
    size_t off_block = 0, nonzero_off = 0, nonzero_in = 0;
    for (size_t q = 0; q < w->rows * w->cols; q++) {
        float v = m->graph->params[w->offset + q];
        if (m->frozen[w->offset + q])
            off_block++, nonzero_off += v != 0;
        else
            nonzero_in += v != 0;
    }
    /* Rows of column c feed only outputs dim c .. dim (c + 1) - 1. */
    size_t want_in = 0;
    for (size_t i = 0; i < m->tf.n_features; i++)
        want_in += m->tf.features[i].n_dense_out * dim;
    CHECK_EQ_INT(w->rows * w->cols - off_block, want_in);
    CHECK_EQ_INT(nonzero_off, 0);         /* held at zero through training */
    CHECK(nonzero_in > want_in * 9 / 10); /* and the blocks are trained */
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
}

TEST(metrics_mean_std_over_folds)
{
    keel_metrics per[3], mean, sd;
    for (int i = 0; i < 3; i++) {
        keel_metrics_clear(&per[i]);
        per[i].roc_auc = 0.8 + 0.1 * i; /* 0.8, 0.9, 1.0 */
        per[i].n = 10;
    }
    per[1].accuracy = 0.5; /* defined in one fold only */
    keel_metrics_mean_std(per, 3, &mean, &sd);
    CHECK_NEAR(mean.roc_auc, 0.9, 1e-12);
    CHECK_NEAR(sd.roc_auc, 0.1, 1e-12); /* sample standard deviation */
    CHECK_NEAR(mean.accuracy, 0.5, 0);
    CHECK_NEAR(sd.accuracy, 0, 0);
    CHECK(isnan(mean.rmse) && isnan(sd.rmse));
    CHECK_EQ_INT(mean.n, 30);
}
