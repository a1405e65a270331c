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

/* What the gradient hook is told about the step whose gradients it sees. */
typedef struct keel_step_info {
    uint64_t step; /* 0-based, over the whole run (the learning-rate schedule's clock) */
    int epoch;     /* 0-based: the epoch being run */
    size_t rows;   /* rows in this batch (this process's share, when distributed) */
} keel_step_info;

typedef struct keel_train_options {
    keel_hparams hp;
    const char *target;          /* the target column's name */
    const char *checkpoint_path; /* written after every epoch; NULL: none */
    bool resume;                 /* continue from checkpoint_path when it exists */
    const char *data_sha256;     /* the training data's identity: a checkpoint must match it */
    const volatile int *cancel;  /* non-zero: stop after the current batch, keep the best */
    int fold;                    /* passed through to the epoch reports (cross-validation) */
    void (*on_epoch)(void *ud, const keel_epoch_report *r);
    /* Called once per step when the batch's gradient of the loss is complete (grad, n_params
     * floats, the mean over the batch's weighted rows) and before the optimiser reads it; it
     * may change grad in place. This is the seam for an all-reduce of the gradients across
     * processes (data-parallel training) and for DP-SGD's clipping and noise. Weights the
     * network holds at zero get their gradient zeroed after the hook, so no hook can move
     * them. A negative return stops training with that code (its message, if any, in the
     * keel_error the hook was given through ud). NULL: none (the default). */
    int (*on_gradients)(void *ud, float *grad, size_t n_params, const keel_step_info *s);
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

/* ---- the pieces keel_train is made of --------------------------------------------------
 *
 * keel_train is keel_trainer_new (prepare: the data, the model, the weights, a resumed
 * checkpoint), then keel_trainer_epoch until keel_trainer_done, then keel_trainer_finish.
 * An epoch is its steps (keel_trainer_step over the shuffled batches), then the judgement of
 * the averaged weights on the validation rows. Every figure that decides anything is
 * computed from parts that add up — sums over rows, and for the ranking metrics the
 * validation logits and labels themselves — so that processes holding shards of the
 * batches or of the validation rows can agree on them by summing (or gathering) parts and
 * calling the same functions on the totals. */
typedef struct keel_trainer keel_trainer;

/* The loss over training batches, as sums that add up across batches and processes. */
typedef struct keel_loss_parts {
    double loss_rows; /* Σ over batches of the batch's loss (its weighted mean) × its rows */
    size_t rows;      /* Σ rows: the training loss reported per epoch is loss_rows / rows */
    double wloss;     /* Σ over rows of weight × loss (summed over the loss's columns) */
    double weight;    /* Σ over rows of weight (× the loss's columns): wloss / weight is the
                       * weighted mean loss (keel_exec_loss_parts) */
} keel_loss_parts;

/* The validation rows' figures as parts: sums over rows, which add up across shards. */
typedef struct keel_val_parts {
    double loss; /* Σ per-row unweighted loss: log loss, or squared error in standardised units */
    size_t rows;
} keel_val_parts;

/* Early stopping's state: the best validation loss so far and when it was seen. */
typedef struct keel_train_stop {
    double best_loss; /* INFINITY before the first epoch */
    int best_epoch, bad_epochs;
} keel_train_stop;

/* Prepares training as keel_train does (same arguments, same errors) up to the first epoch:
 * *out owns everything, res is filled as training goes and must outlive *out. Free with
 * keel_trainer_free (NULL-safe), which also frees a model never handed over. */
int keel_trainer_new(const keel_frame *f, const size_t *rows, size_t n, const keel_train_options *o,
                     keel_train_result *res, keel_trainer **out, keel_error *e);
void keel_trainer_free(keel_trainer *t);
/* True when no epoch is left to run: the budget is spent, patience ran out, or a cancel. */
bool keel_trainer_done(const keel_trainer *t);
/* The model being trained (borrowed, until keel_trainer_finish hands it over); its graph's
 * params are the live weights between steps. */
keel_model *keel_trainer_model(const keel_trainer *t);

/* One step on the training rows at positions pos[0..n) (n <= the batch size) of the
 * prepared data: forward and backward through the loss, the on_gradients hook, AdamW at the
 * schedule's learning rate, the weights' moving average. The batch's loss parts are added
 * to *parts. Errors set e. */
int keel_trainer_step(keel_trainer *t, const size_t *pos, size_t n, keel_loss_parts *parts);
/* One epoch: the shuffle drawn from (seed, epoch), keel_trainer_step over each batch, then
 * the averaged weights judged on the validation rows (keel_trainer_validate,
 * keel_train_figures, keel_train_judge), the best kept, the checkpoint written and on_epoch
 * told. A cancel ends it early without judging (keel_trainer_done is then true). */
int keel_trainer_epoch(keel_trainer *t);

/* Runs the weights now in the graph on validation rows first..first+n (of n_val, the
 * trainer's validation rows in a fixed order): their logits go to val_logits + first * K
 * (K outputs per row; keel_trainer_val_logits) and their loss is added to *parts. */
int keel_trainer_validate(keel_trainer *t, size_t first, size_t n, keel_val_parts *parts);
/* The validation rows' logits (n_val * K) and class labels (n_val; classification only). */
const float *keel_trainer_val_logits(const keel_trainer *t, size_t *n_val);
const int32_t *keel_trainer_val_labels(const keel_trainer *t);
/* The figures from the whole validation set's parts: *loss = parts->loss / parts->rows;
 * *metric is RMSE in the target's units for regression (from the loss), else ROC AUC
 * (binary) or accuracy (multiclass) of the uncalibrated probabilities of all n logits
 * (n * m->n_out, labels n). KEEL_ENOMEM. */
int keel_train_figures(const keel_model *m, const keel_val_parts *parts, const float *logits,
                       const int32_t *labels, size_t n, double *loss, double *metric);
/* Early stopping's decision on epoch's validation loss: improved (returned) when it beats
 * the best by more than 1e-7, and then it is the best; otherwise one more bad epoch, and
 * *stop once there have been patience of them in a row. */
bool keel_train_judge(keel_train_stop *s, int epoch, double val_loss, int patience, bool *stop);

/* Ends training: the best weights back, rounded to bfloat16 when asked, calibration and the
 * validation metrics, the explanations' background sample; hands the model over (*out) and
 * completes res. Call once, after the last epoch. */
int keel_trainer_finish(keel_trainer *t, keel_model **out);

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
