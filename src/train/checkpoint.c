/*
 * checkpoint.c — saving training's state after every epoch and resuming from it.
 *
 * A checkpoint (the artifact container, kind "keel-checkpoint") holds the weights, the best
 * weights, Adam's moments, the weights' moving average, batch-norm state and the counters,
 * with the data's SHA-256 and the settings as canonical text: a checkpoint made on other data
 * or with other settings is refused, not silently used. Epoch e's shuffle and dropout draw
 * from generators seeded by (seed, e), so resuming reproduces the uninterrupted run bit for
 * bit.
 */
#include "model/artifact.h"
#include "train/train_impl.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

int train_checkpoint_save(keel_trainer *t)
{
    keel_buf b;
    keel_buf_init(&b);
    const keel_train_options *o = t->o;
    int rc = keel_buf_printf(&b,
                             "{\"kind\":\"keel-checkpoint\",\"epoch\":%d,\"step\":%llu,"
                             "\"best_epoch\":%d,\"bad_epochs\":%d,\"n_params\":%zu,\"best_loss\":",
                             t->epoch, (unsigned long long)t->step, t->stop.best_epoch,
                             t->stop.bad_epochs, t->g->n_params);
    rc |= keel_buf_json_num(&b, t->stop.best_loss);
    rc |= keel_buf_puts(&b, ",\"data_sha256\":");
    const char *sha = o->data_sha256 ? o->data_sha256 : "";
    rc |= keel_buf_json_str(&b, sha, strlen(sha));
    /* The settings, as canonical text: a resumed run must use exactly the same. */
    keel_buf hp;
    keel_buf_init(&hp);
    rc |= keel_hparams_to_json(&o->hp, &hp);
    rc |= keel_buf_puts(&b, ",\"settings\":");
    rc |= hp.data ? keel_buf_json_str(&b, hp.data, hp.len) : KEEL_ENOMEM;
    keel_buf_free(&hp);
    rc |= keel_buf_putc(&b, '}');
    if (rc) {
        keel_buf_free(&b);
        return keel_error_set(t->e, KEEL_ENOMEM, "out of memory");
    }
    size_t np = t->g->n_params, ns = t->g->n_state;
#define T(nm, p, n)                                                                                \
    {.name = nm,                                                                                   \
     .dtype = KEEL_DTYPE_F32,                                                                      \
     .rank = 1,                                                                                    \
     .shape = {n},                                                                                 \
     .data = p,                                                                                    \
     .nbytes = (n) * sizeof(float)}
    keel_artifact_tensor ts[] = {
        T("params", t->g->params, np),      T("best", t->best, np),
        T("adam_m", t->opt.m, np),          T("ema", t->ema, np),
        T("adam_v", t->opt.v, np),          T("state", t->g->state, ns),
        T("best_state", t->best_state, ns),
    };
#undef T
    rc = keel_artifact_write(o->checkpoint_path, b.data, b.len, ts, KEEL_ARRAY_LEN(ts), NULL, t->e);
    keel_buf_free(&b);
    return rc;
}

int train_checkpoint_load(keel_trainer *t)
{
    const keel_train_options *o = t->o;
    if (access(o->checkpoint_path, F_OK) != 0) return KEEL_OK;
    keel_artifact *a;
    keel_json_doc *d = keel_json_doc_new();
    keel_buf hp;
    keel_buf_init(&hp);
    int rc = d ? keel_artifact_open(o->checkpoint_path, &a, t->e) : KEEL_ENOMEM;
    if (rc) {
        keel_json_doc_free(d);
        return rc;
    }
    size_t len;
    const char *text = keel_artifact_manifest(a, &len);
    if ((rc = keel_json_parse(d, text, len, t->e))) goto done;
    const keel_json *r = keel_json_root(d);
    const char *sha = keel_json_str(keel_json_get(r, "data_sha256"));
    const char *kind = keel_json_str(keel_json_get(r, "kind"));
    const char *settings = keel_json_str(keel_json_get(r, "settings"));
    if ((rc = keel_hparams_to_json(&o->hp, &hp))) goto done;
    size_t np = t->g->n_params, ns = t->g->n_state;
    const char *names[] = {"params", "best", "adam_m", "adam_v", "ema", "state", "best_state"};
    float *dst[] = {t->g->params, t->best, t->opt.m, t->opt.v, t->ema, t->g->state, t->best_state};
    size_t sizes[] = {np, np, np, np, np, ns, ns};
    if (!kind || strcmp(kind, "keel-checkpoint")) {
        rc =
            keel_error_set(t->e, KEEL_EMISMATCH, "%s is not a keel checkpoint", o->checkpoint_path);
        goto done;
    }
    if (!sha || strcmp(sha, o->data_sha256 ? o->data_sha256 : "")) {
        rc = keel_error_set(t->e, KEEL_EMISMATCH,
                            "checkpoint %s was made on other data; remove it or train without "
                            "--resume",
                            o->checkpoint_path);
        goto done;
    }
    if (keel_json_num(keel_json_get(r, "n_params"), -1) != (double)np) {
        rc = keel_error_set(t->e, KEEL_EMISMATCH,
                            "checkpoint %s has a different network; remove it or train without "
                            "--resume",
                            o->checkpoint_path);
        goto done;
    }
    if (!settings || strcmp(settings, hp.data)) {
        rc = keel_error_set(t->e, KEEL_EMISMATCH,
                            "checkpoint %s was made with other settings; remove it or train "
                            "without --resume",
                            o->checkpoint_path);
        goto done;
    }
    for (size_t i = 0; i < KEEL_ARRAY_LEN(names); i++) {
        const keel_artifact_tensor *ten = keel_artifact_find(a, names[i]);
        if (!ten || ten->dtype != KEEL_DTYPE_F32 || ten->nbytes != sizes[i] * sizeof(float)) {
            rc =
                keel_error_set(t->e, KEEL_EFORMAT, "checkpoint %s: tensor '%s' is missing or wrong",
                               o->checkpoint_path, names[i]);
            goto done;
        }
        if (sizes[i]) memcpy(dst[i], ten->data, ten->nbytes);
    }
    double ep = keel_json_num(keel_json_get(r, "epoch"), -1);
    double st = keel_json_num(keel_json_get(r, "step"), -1);
    double be = keel_json_num(keel_json_get(r, "best_epoch"), -1);
    double bad = keel_json_num(keel_json_get(r, "bad_epochs"), -1);
    double bl = keel_json_num(keel_json_get(r, "best_loss"), NAN);
    if (ep < 0 || ep > 1e6 || st < 0 || be < 0 || bad < 0 || isnan(bl)) {
        rc = keel_error_set(t->e, KEEL_EFORMAT, "checkpoint %s: bad counters", o->checkpoint_path);
        goto done;
    }
    t->epoch = (int)ep;
    t->stop.best_epoch = (int)be;
    t->stop.bad_epochs = (int)bad;
    t->stop.best_loss = bl;
    t->opt.step = (uint64_t)st;
    t->step = (uint64_t)st;
    rc = KEEL_OK;
done:
    keel_buf_free(&hp);
    keel_json_doc_free(d);
    keel_artifact_close(a);
    return rc;
}
