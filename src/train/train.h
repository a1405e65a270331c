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

#endif
