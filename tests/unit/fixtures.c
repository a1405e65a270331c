/*
 * fixtures.c — data and models several unit tests share (tests/unit/fixtures.h).
 */
#include "tests/unit/fixtures.h"

#include "data/infer.h"
#include "data/validate.h"
#include "tests/unit/harness.h"
#include "train/train.h"

keel_model *test_train_pima(const keel_hparams *hp, keel_frame **fp, keel_schema **sp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    keel_infer_options io;
    keel_infer_options_init(&io);
    io.target = "diabetes";
    keel_schema *s;
    keel_error e;
    if (keel_infer_file(path, &io, &s, &e)) {
        fprintf(stderr, "infer: %s\n", e.msg);
        return NULL;
    }
    keel_schema_move_to_end(s, (size_t)keel_schema_find(s, "diabetes"));
    for (size_t i = 0; i < s->n_columns; i++) /* a prediction contract, as keel train makes it */
        if (s->columns[i].role == KEEL_ROLE_FEATURE) {
            s->columns[i].has_min = s->columns[i].has_max = s->columns[i].integer = false;
            s->columns[i].nullable = true;
        }
    keel_frame *f;
    keel_validate_result vr;
    if (keel_frame_load(s, path, NULL, &f, &vr, &e)) {
        fprintf(stderr, "load: %s\n", e.msg);
        keel_schema_free(s);
        return NULL;
    }
    keel_validate_result_free(&vr);
    keel_train_options o = {.target = "diabetes", .hp = *hp};
    keel_model *m = NULL;
    keel_train_result r;
    if (keel_train(f, NULL, 0, &o, &m, &r, &e)) {
        fprintf(stderr, "train: %s\n", e.msg);
        keel_frame_free(f);
        keel_schema_free(s);
        return NULL;
    }
    *fp = f;
    *sp = s;
    return m;
}

keel_model *test_save_open(keel_model *m, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    keel_error e;
    keel_model *p = NULL;
    if (keel_model_save(m, path, &e) || keel_model_open(path, &p, &e)) {
        fprintf(stderr, "save and open %s: %s\n", path, e.msg);
        return NULL;
    }
    return p;
}
