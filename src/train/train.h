/*
 * train.h — the training loop: validation split, AdamW with warm-up and cosine decay, early
 * stopping with the best weights restored, class weighting, calibration, checkpoints.
 *
 * Deterministic: the split, the initial weights, every epoch's shuffle and dropout masks are
 * drawn from generators seeded by (seed, epoch), so the same seed and thread count give the
 * same bytes, and a run resumed from a checkpoint continues exactly as if never stopped.
 */
#ifndef KEEL_TRAIN_TRAIN_H
#define KEEL_TRAIN_TRAIN_H

#include "model/model.h"

typedef struct keel_epoch_report {
    int fold;  /* cross-validation: 1-based fold; else 0 */
    int epoch; /* 1-based */
    int max_epochs;
    uint64_t step;
    double train_loss, val_loss; /* the loss being minimised, on the training and validation rows */
    double val_metric;           /* roc_auc (binary), accuracy (multiclass), rmse (regression) */
    const char *metric_name;
    int best_epoch;
    bool improved;
    double seconds; /* since training started */
} keel_epoch_report;

typedef struct keel_train_options {
    keel_hparams hp;
    const char *target;          /* the target column's name */
    const char *checkpoint_path; /* written after every epoch; NULL: none */
    bool resume;                 /* continue from checkpoint_path when it exists */
    const char *data_sha256;     /* the training data's identity: a checkpoint must match it */
    const volatile int *cancel;  /* non-zero: stop after the current batch, keep the best */
    int fold;                    /* passed through to the epoch reports (cross-validation) */
    void (*on_epoch)(void *ud, const keel_epoch_report *r);
    void *ud;
} keel_train_options;

typedef struct keel_train_result {
    int epochs, best_epoch, resumed_from; /* resumed_from: the epoch a checkpoint had, or 0 */
    bool canceled, early_stopped;
    size_t n_train, n_val, n_unlabeled;
    size_t batch_size;
    keel_metrics val; /* of the final (best, calibrated) model on the validation rows */
    double seconds;
} keel_train_result;

/* Trains a model on rows rows[0..n) (all rows when rows is NULL) of f, whose schema must
 * have the target as its last column. The model copies the schema. KEEL_ESCHEMA for an
 * unusable target, KEEL_EEMPTY for too few labelled rows, KEEL_EMISMATCH when a checkpoint
 * belongs to other data or settings, KEEL_ENOMEM; a cancel is not an error (res->canceled):
 * the best model so far is returned. */
int keel_train(const keel_frame *f, const size_t *rows, size_t n, const keel_train_options *o,
               keel_model **out, keel_train_result *res, keel_error *e);

/* Stratified k-fold cross-validation of training with options o on every row of f (whose
 * schema has the target last): fold j's model is trained on the other folds and scored on
 * fold j into folds[j] (k entries). o->on_epoch sees each fold's epochs with .fold set.
 * Errors name the fold; a cancel is KEEL_ECANCELED. */
typedef struct keel_cv_fold {
    keel_metrics m;
    int epochs;
} keel_cv_fold;
int keel_cross_validate(const keel_frame *f, const keel_train_options *o, int k,
                        keel_cv_fold *folds, keel_error *e);

/* Mean and sample standard deviation of each measure over n sets (NaN ones left out);
 * n of both is the total rows scored. */
void keel_metrics_mean_std(const keel_metrics *per, size_t n, keel_metrics *mean,
                           keel_metrics *std);

#endif
