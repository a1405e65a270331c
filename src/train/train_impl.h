/*
 * train_impl.h — the trainer's state, shared by the files of src/train/ that make up the
 * loop: prepare.c (the data and the workspaces), checkpoint.c (saving and resuming),
 * train.c (steps, epochs, judging and finishing). Not for other modules: they use train.h.
 */
#ifndef KEEL_TRAIN_TRAIN_IMPL_H
#define KEEL_TRAIN_TRAIN_IMPL_H

#include "train/optim.h"
#include "train/train.h"

/* Every labelled row, transformed once. */
typedef struct train_dataset {
    size_t n;
    float *dense;   /* n * n_dense */
    int32_t *index; /* n * n_index */
    keel_bags bags; /* n rows */
    int32_t *cls;   /* classification labels */
    float *y;       /* regression targets (standardised) or 0/1 for binary */
    float *w;       /* per-row weights */
} train_dataset;

struct keel_trainer {
    const keel_train_options *o;
    const keel_frame *f; /* borrowed: the background sample is drawn from it at the end */
    keel_train_result *res;
    keel_model *m;
    keel_graph *g;
    train_dataset d;
    size_t *train_pos, n_train, *val_pos, n_val; /* positions in d */
    size_t *train_rows; /* the frame rows of train_pos (for the background sample) */
    keel_exec *tx, *vx; /* training workspace, evaluation workspace */
    size_t batch, eval_rows;
    float *grad, *best, *best_state, *val_logits, *ema, *live;
    int32_t *val_cls; /* the validation rows' class labels, in val_pos order */
    uint8_t *decay;
    keel_adamw opt;
    uint32_t *bag_off; /* gathered bags of one batch */
    int32_t *bag_ids;
    size_t cap_ids;
    size_t *order; /* the epoch's shuffle of train_pos */
    uint64_t step, warmup, total_steps;
    int epoch, max_epochs;
    keel_train_stop stop;
    bool done; /* stopped early, canceled or out of epochs */
    double started;
    keel_error *e;
};

/* prepare.c: fits the target, splits, fits the transforms and builds the model, transforms
 * every labelled row (train_prepare); then sizes the batches, initialises the weights and
 * allocates every buffer the loop uses (train_setup). Errors are set in t->e. */
int train_prepare(keel_trainer *t, const keel_frame *f, const size_t *rows, size_t n);
int train_setup(keel_trainer *t);
/* Copies the rows at positions pos[0..n) into exec x's inputs (and labels when asked). */
int train_gather(keel_trainer *t, keel_exec *x, const size_t *pos, size_t n, bool labels);
void train_dataset_free(train_dataset *d);

/* checkpoint.c: writes t's state after an epoch; reads it back when the file exists (else
 * leaves t as it is). */
int train_checkpoint_save(keel_trainer *t);
int train_checkpoint_load(keel_trainer *t);

#endif
