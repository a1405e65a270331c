/*
 * cv.c — stratified k-fold cross-validation.
 *
 * The folds come from the target's labels over all rows (keel_folds_stratified: each class's
 * share is kept in every fold; regression folds are random). For each fold a model is trained
 * on the other folds exactly as `keel train` would (its own validation split, transforms and
 * early stopping inside the training folds only) and scored on the held-out fold, so no
 * held-out row ever influences the model that scores it.
 */
#include "train/train.h"
#include "eval/folds.h"

#include <math.h>
#include <string.h>

int keel_cross_validate(const keel_frame *f, const keel_train_options *o, int k,
                        keel_cv_fold *folds, keel_error *e)
{
    if (k < 2 || (size_t)k > f->n_rows)
        return keel_error_set(e, KEEL_EINVAL, "cross-validation needs 2 to %zu folds, not %d",
                              f->n_rows, k);
    size_t n = f->n_rows;
    int32_t *fold = keel_calloc(n + 1, sizeof *fold), *cls = keel_calloc(n + 1, sizeof *cls);
    size_t *train = keel_calloc(n + 1, sizeof *train), *test = keel_calloc(n + 1, sizeof *test);
    keel_target tg = {0};
    int rc = KEEL_ENOMEM;
    if (!fold || !cls || !train || !test) {
        keel_error_set(e, rc, "out of memory");
        goto done;
    }
    if ((rc = keel_target_fit(&tg, f, NULL, n, o->target, o->hp.task, e))) goto done;
    for (size_t r = 0; r < n; r++) {
        float y;
        keel_target_label(&tg, f, r, &cls[r], &y);
    }
    if ((rc = keel_folds_stratified(tg.task == KEEL_TASK_REGRESSION ? NULL : cls, n, k, o->hp.seed,
                                    fold))) {
        keel_error_set(e, rc, "out of memory");
        goto done;
    }
    for (int j = 0; j < k; j++) {
        size_t ntr = 0, nte = 0;
        for (size_t r = 0; r < n; r++)
            if (fold[r] == j)
                test[nte++] = r;
            else
                train[ntr++] = r;
        keel_train_options fo = *o;
        fo.fold = j + 1;
        fo.checkpoint_path = NULL; /* folds are short; a checkpoint would be per fold */
        fo.resume = false;
        keel_model *m;
        keel_train_result tr;
        if ((rc = keel_train(f, train, ntr, &fo, &m, &tr, e))) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e ? e->msg : "");
            keel_error_set(e, rc, "fold %d: %s", j + 1, msg);
            goto done;
        }
        if (tr.canceled) {
            keel_model_free(m);
            rc = keel_error_set(e, KEEL_ECANCELED, "canceled in fold %d", j + 1);
            goto done;
        }
        folds[j].epochs = tr.epochs;
        rc = keel_model_evaluate(m, f, test, nte, &folds[j].m);
        keel_model_free(m);
        if (rc) {
            keel_error_set(e, rc, "fold %d: cannot score the held-out rows", j + 1);
            goto done;
        }
    }
    rc = KEEL_OK;
done:
    keel_target_free(&tg);
    keel_free(fold);
    keel_free(cls);
    keel_free(train);
    keel_free(test);
    return rc;
}

/* The measures of keel_metrics in order, for loops over them. */
static double *measure(keel_metrics *m, size_t j)
{
    double *v[] = {&m->accuracy, &m->roc_auc, &m->average_precision,
                   &m->log_loss, &m->f1,      &m->brier,
                   &m->ece,      &m->rmse,    &m->mae,
                   &m->r2};
    return j < KEEL_ARRAY_LEN(v) ? v[j] : NULL;
}

void keel_metrics_mean_std(const keel_metrics *per, size_t n, keel_metrics *mean, keel_metrics *std)
{
    keel_metrics_clear(mean);
    keel_metrics_clear(std);
    for (size_t j = 0; measure(mean, j); j++) {
        double sum = 0, sq = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = *measure((keel_metrics *)&per[i], j);
            if (!isnan(v)) sum += v, cnt++;
        }
        if (!cnt) continue;
        double mu = sum / (double)cnt;
        for (size_t i = 0; i < n; i++) {
            double v = *measure((keel_metrics *)&per[i], j);
            if (!isnan(v)) sq += (v - mu) * (v - mu);
        }
        *measure(mean, j) = mu;
        *measure(std, j) = cnt > 1 ? sqrt(sq / (double)(cnt - 1)) : 0; /* sample std */
    }
    for (size_t i = 0; i < n; i++)
        mean->n += per[i].n, std->n += per[i].n;
}
