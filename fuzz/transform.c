/*
 * fuzz/transform.c — transform and target manifests against arbitrary bytes.
 *
 * The input is parsed as JSON; the root (and, when the root is an object, its members
 * "transform" and "target") is read with keel_transform_from_json and keel_target_from_json
 * against a fixed schema with a column of every type. A rejection must come with a
 * message. Whatever is accepted is applied to a small fixed frame full of edge values
 * (extreme and missing numbers, instants far before and after the epoch, long and UTF-8
 * text) and must give finite dense outputs, indexes inside [0, vocab), bag ids inside
 * [0, buckets) with consistent offsets, and labels inside the class range; written back
 * to JSON it must load again and apply to exactly the same bits. Any broken promise calls
 * abort().
 */
#include "base/json.h"
#include "data/transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define ROWS 8

static keel_schema *schema;
static keel_frame *frame;

static void add_cats(keel_schema_column *c, const char *const *cats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT(keel_strlist_add(&c->categories, cats[i], strlen(cats[i])) == KEEL_OK);
}

/* Columns: n (numeric), i (integer), c (categorical a..e), b (boolean), t (timestamp),
 * x (text), id (id), k (categorical 0..2), y (numeric target). */
static void build(void)
{
    keel_schema_column *c;
    schema = keel_schema_new();
    ASSERT(schema);
    ASSERT(keel_schema_add_column(schema, "n", &c) == KEEL_OK);
    ASSERT(keel_schema_add_column(schema, "i", &c) == KEEL_OK);
    c->integer = true;
    ASSERT(keel_schema_add_column(schema, "c", &c) == KEEL_OK);
    c->type = KEEL_TYPE_CATEGORICAL;
    static const char *const abc[] = {"a", "b", "c", "d", "e"};
    add_cats(c, abc, 5);
    ASSERT(keel_schema_add_column(schema, "b", &c) == KEEL_OK);
    c->type = KEEL_TYPE_BOOLEAN;
    ASSERT(keel_schema_add_column(schema, "t", &c) == KEEL_OK);
    c->type = KEEL_TYPE_TIMESTAMP;
    ASSERT(keel_schema_add_column(schema, "x", &c) == KEEL_OK);
    c->type = KEEL_TYPE_TEXT;
    ASSERT(keel_schema_add_column(schema, "id", &c) == KEEL_OK);
    c->type = KEEL_TYPE_ID;
    c->role = KEEL_ROLE_ID;
    ASSERT(keel_schema_add_column(schema, "k", &c) == KEEL_OK);
    c->type = KEEL_TYPE_CATEGORICAL;
    static const char *const k012[] = {"0", "1", "2"};
    add_cats(c, k012, 3);
    ASSERT(keel_schema_add_column(schema, "y", &c) == KEEL_OK);
    c->role = KEEL_ROLE_TARGET;

    frame = keel_frame_new(schema);
    ASSERT(frame && keel_frame_reserve(frame, ROWS) == KEEL_OK);
    static const double num[ROWS] = {
        0, -1.7976931348623157e308, 1.7976931348623157e308, NAN, 4.9e-324, 42.5, -3, 1e-300};
    static const double whole[ROWS] = {0, 1, 2, NAN, -5, 9007199254740991.0, 7, 1};
    static const int32_t cat[ROWS] = {0, 1, 4, -1, 2, 3, 0, 1};
    static const int8_t boolean[ROWS] = {0, 1, -1, 1, 0, 0, 1, -1};
    static const int64_t ts[ROWS] = {0,
                                     INT64_MIN + 1,
                                     INT64_MAX,
                                     KEEL_TS_MISSING,
                                     -1,
                                     1710507600000000LL,
                                     -62135596800000000LL,
                                     253402300799000000LL};
    static const char *const text[ROWS] = {"Hello, World!",          "",   NULL, "a b c d e f g",
                                           "café au LAIT — ünïcödé", NULL, "x",  "R2D2 C3PO"};
    static const int32_t k[ROWS] = {0, 1, 2, -1, 0, 1, 2, 0};
    for (size_t r = 0; r < ROWS; r++) {
        frame->cols[0].num[r] = num[r];
        frame->cols[1].num[r] = whole[r];
        frame->cols[2].cat[r] = cat[r];
        frame->cols[3].boolean[r] = boolean[r];
        frame->cols[4].ts[r] = ts[r];
        for (int tc = 5; tc <= 6; tc++) {
            keel_column *col = &frame->cols[tc];
            const char *s = text[r];
            char longer[300];
            if (tc == 5 && r == 6) { /* a word longer than a hash chunk */
                memset(longer, 'Q', sizeof longer - 1);
                longer[sizeof longer - 1] = '\0';
                s = longer;
            }
            col->missing[r] = s == NULL;
            if (s) ASSERT(keel_buf_append(&col->text, s, strlen(s)) == KEEL_OK);
            col->off[r + 1] = col->text.len;
        }
        frame->cols[7].cat[r] = k[r];
        frame->cols[8].num[r] = r == 3 ? NAN : (double)r * 1.5;
    }
    frame->n_rows = ROWS;
}

typedef struct outputs {
    float dense[ROWS * 64];
    int32_t index[ROWS * 16];
    keel_bags bags;
} outputs;

/* Applies t to the frame (all rows, in reverse order through a row list) and checks every
 * output; fills o. */
static void apply_checked(const keel_transform *t, outputs *o)
{
    static const size_t rev[ROWS] = {7, 6, 5, 4, 3, 2, 1, 0};
    /* from_json caps features at the schema's columns; the dense width is bounded too */
    ASSERT(t->n_dense <= 64 && t->n_index <= 16);
    memset(o->dense, 0, sizeof o->dense);
    int rc = keel_transform_apply(t, frame, rev, 0, ROWS, o->dense, o->index, &o->bags);
    if (rc) {
        ASSERT(rc == KEEL_ENOMEM);
        return;
    }
    rc = keel_transform_apply(t, frame, NULL, 0, ROWS, o->dense, o->index, &o->bags);
    if (rc) {
        ASSERT(rc == KEEL_ENOMEM);
        return;
    }
    for (size_t i = 0; i < ROWS * t->n_dense; i++)
        ASSERT(isfinite(o->dense[i]));
    for (size_t f = 0; f < t->n_features; f++) {
        const keel_feature *ft = &t->features[f];
        ASSERT(ft->dense_offset + ft->n_dense_out <= t->n_dense);
        if (ft->kind == KEEL_FEAT_CATEGORICAL)
            for (size_t r = 0; r < ROWS; r++) {
                int32_t v = o->index[r * t->n_index + (size_t)ft->index_slot];
                ASSERT(v >= 0 && (size_t)v < ft->vocab);
            }
        if (ft->kind == KEEL_FEAT_TEXT) {
            const struct keel_bag *bag = &o->bags.slot[ft->bag_slot];
            ASSERT(bag->off[0] == 0);
            for (size_t r = 0; r < ROWS; r++)
                ASSERT(bag->off[r + 1] >= bag->off[r]);
            for (uint32_t j = 0; j < bag->off[ROWS]; j++)
                ASSERT(bag->ids[j] >= 0 && (size_t)bag->ids[j] < ft->vocab);
        }
    }
}

static void check_transform(const keel_json *v)
{
    keel_transform t, u;
    keel_error e;
    int rc = keel_transform_from_json(&t, v, schema, &e);
    if (rc) {
        ASSERT(rc == KEEL_EFORMAT || rc == KEEL_ESCHEMA || rc == KEEL_ENOMEM);
        ASSERT(e.msg[0] != '\0' && t.features == NULL && t.n_features == 0);
        return;
    }
    static outputs a, b;
    apply_checked(&t, &a);

    /* written and read back: the same outputs, bit for bit */
    keel_buf buf;
    keel_buf_init(&buf);
    keel_json_doc *d = keel_json_doc_new();
    if (d && keel_transform_to_json(&t, &buf) == KEEL_OK) {
        rc = keel_json_parse(d, buf.data, buf.len, &e);
        ASSERT(rc == KEEL_OK || rc == KEEL_ENOMEM);
        if (rc == KEEL_OK) {
            rc = keel_transform_from_json(&u, keel_json_root(d), schema, &e);
            ASSERT(rc == KEEL_OK || rc == KEEL_ENOMEM);
            if (rc == KEEL_OK) {
                apply_checked(&u, &b);
                ASSERT(memcmp(a.dense, b.dense, ROWS * t.n_dense * sizeof(float)) == 0);
                ASSERT(memcmp(a.index, b.index, ROWS * t.n_index * sizeof(int32_t)) == 0);
                for (size_t s = 0; s < t.n_bags; s++)
                    ASSERT(memcmp(a.bags.slot[s].ids, b.bags.slot[s].ids,
                                  a.bags.slot[s].off[ROWS] * sizeof(int32_t)) == 0);
                keel_transform_free(&u);
            }
        }
    }
    keel_json_doc_free(d);
    keel_buf_free(&buf);
    keel_bags_free(&a.bags);
    keel_bags_free(&b.bags);
    keel_transform_free(&t);
}

static void check_target(const keel_json *v)
{
    keel_target t;
    keel_error e;
    int rc = keel_target_from_json(&t, v, schema, &e);
    if (rc) {
        ASSERT(rc == KEEL_EFORMAT || rc == KEEL_ESCHEMA || rc == KEEL_ENOMEM);
        ASSERT(e.msg[0] != '\0' && t.column == NULL && t.classes.n == 0);
        return;
    }
    ASSERT(t.task == KEEL_TASK_REGRESSION || t.classes.n >= 2);
    for (size_t r = 0; r < ROWS; r++) {
        int32_t cls = -7;
        float y = 7;
        keel_target_label(&t, frame, r, &cls, &y);
        if (t.task == KEEL_TASK_REGRESSION) {
            ASSERT(cls == -7);
            ASSERT(isnan(frame->cols[t.col].num[r]) ? isnan(y) : !isnan(y));
        } else {
            ASSERT(y == 7 && cls >= -1 && cls < (int32_t)t.classes.n);
        }
    }
    keel_buf buf;
    keel_buf_init(&buf);
    ASSERT(keel_target_to_json(&t, &buf) == KEEL_OK || buf.len == 0);
    keel_buf_free(&buf);
    keel_target_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (!schema) build();
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return 0;
    if (keel_json_parse(d, (const char *)data, n, NULL) == KEEL_OK) {
        const keel_json *root = keel_json_root(d);
        check_transform(root);
        check_target(root);
        const keel_json *tr = keel_json_get(root, "transform");
        const keel_json *tg = keel_json_get(root, "target");
        if (tr) check_transform(tr);
        if (tg) check_target(tg);
    }
    keel_json_doc_free(d);
    return 0;
}
