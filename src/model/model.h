/*
 * model.h — a trained model: its prediction contract (schema), fitted transforms, target,
 * network and calibration; saving it as a .keel artifact, loading one, and predicting.
 *
 * The schema a model keeps has the feature, id and other columns first and the target column
 * LAST, so that one fitted transform indexes columns identically in frames that have the
 * target (training, evaluation) and frames that don't (prediction: the same schema with the
 * last column left out, keel_model_input_schema).
 *
 * A loaded model is read-only; predictions take a workspace from a small pool guarded by a
 * mutex, so any number of threads may predict at once (src/model/model.c).
 */
#ifndef KEEL_MODEL_MODEL_H
#define KEEL_MODEL_MODEL_H

#include "data/transform.h"
#include "nn/nn.h"
#include "eval/calibrate.h"
#include "eval/metrics.h"

#include <pthread.h>
#include <stdatomic.h>

#define KEEL_MAX_HIDDEN      8
#define KEEL_BACKGROUND_ROWS 64 /* training rows kept for Shapley values */

/* Hyper-parameters. keel_hparams_init gives the defaults that `keel train` uses. */
typedef struct keel_hparams {
    size_t hidden[KEEL_MAX_HIDDEN]; /* widths of the hidden layers */
    int n_hidden;
    keel_op activation; /* KEEL_OP_RELU, GELU or SILU */
    float dropout;
    float lr, weight_decay;
    size_t batch_size; /* 0: chosen from the training rows */
    int max_epochs;    /* 0: chosen from the training rows */
    int patience;      /* epochs without improvement before stopping */
    float val_fraction;
    size_t bins;        /* piecewise-linear bins per numeric column (transform option) */
    size_t feature_dim; /* per-column embedding of each numeric column's encodings; 0: none */
    uint64_t seed;
    int threads;
    int class_weight; /* 0 auto, 1 none,
                         2 balanced */
    bool calibrate;
    bool bf16_weights; /* the linear layers' weights end at bfloat16 precision: a one-row
                          prediction then reads half the bytes (keel_k_pack_bf16) */
    int task;          /* -1 automatic, else keel_task */
} keel_hparams;

void keel_hparams_init(keel_hparams *h);
int keel_hparams_to_json(const keel_hparams *h, keel_buf *out);

/* Per-row workspace for prediction. */
typedef struct keel_workspace {
    keel_exec *exec;
    size_t max_rows;
    float *dense;
    int32_t *index;
    keel_bags bags;
    float *logits;
    keel_frame *row;             /* frame of input_schema for the API's rows (1024 rows) */
    struct keel_converter *conv; /* converts its values as validation does */
    float *scratch;              /* the row plan's values (when the model has a plan) */
    const float **val;           /* the row plan's value of each node */
    uint32_t *given;             /* per input: which field or column of the call gives it, + 1 */
    struct keel_workspace *next;
} keel_workspace;

/* The network run for one row without the graph executor (model.c): built when an artifact
 * is loaded, if every op the logits need is one it knows; NULL otherwise. */
struct keel_rowplan;

#define KEEL_WS_SLOTS 16

typedef struct keel_model {
    keel_schema *schema;       /* prediction contract, target column last */
    keel_schema *input_schema; /* the same without the target column */
    size_t *inputs, n_inputs;  /* the public API's inputs: feature columns of input_schema */
    keel_transform tf;
    keel_target target;
    keel_graph *graph;
    int node_dense, node_index, node_logits, node_label, node_weight, node_loss;
    int node_bag[64];
    int node_fe_w;   /* the per-column embedding's weight node, or -1 */
    uint8_t *frozen; /* training only: 1 for parameters held at 0 (outside the per-column
                        blocks); NULL when none */
    size_t n_out;    /* logits per row: 1 (binary, regression) or the number of classes */
    keel_calibration cal;
    keel_hparams hp;
    keel_buf metrics_json;  /* {"validation":{...}} or empty */
    keel_buf training_json; /* epochs, rows, ... or empty */
    keel_buf profile_json;  /* the training data's profile or empty */
    keel_buf lineage_json;  /* or empty */
    char sha256[65];        /* of the artifact file, once saved or loaded */
    pthread_mutex_t lock;
    keel_workspace *free_ws; /* under lock */
    /* A workspace kept for each calling thread (by a per-thread number modulo KEEL_WS_SLOTS),
     * each in a cache line of its own: a server thread takes and gives back its own without
     * the lock, and without moving a line that other threads write. */
    struct {
        _Atomic(keel_workspace *) ws;
        char pad[64 - sizeof(void *)]; /* slots 64 bytes apart: never in one line */
    } ws_slots[KEEL_WS_SLOTS];
    struct keel_rowplan *plan; /* one-row fast path of a loaded model, or NULL */
    uint32_t *name_slots;      /* inputs by name: open addressing, input index + 1, 0 empty */
    size_t name_mask;
    /* The representation: the node the hidden layers start from, where every input column
     * has a block of its own (src/explain/explain.h); -1 when the network has no such node. */
    int node_repr;
    float *background; /* n_background representations of training rows [n, repr dim], or NULL */
    size_t n_background;
    keel_buf explain_json; /* the manifest's "explain" settings (src/explain), or empty */
    /* The explainer made on first use (src/explain), freed with the model by explainer_free:
     * the model layer only keeps it. Set under lock. */
    struct keel_explainer *explainer;
    void (*explainer_free)(struct keel_explainer *);
} keel_model;

/* Builds an untrained model around an owned schema (target last), fitted transform and
 * target (taken over: the caller's structs are zeroed). */
int keel_model_build(keel_schema *schema, keel_transform *tf, keel_target *target,
                     const keel_hparams *hp, keel_model **out, keel_error *e);
void keel_model_free(keel_model *m);
/* After the parameters are initialised: makes the per-column embedding block-diagonal and
 * fills m->frozen (training only). KEEL_ENOMEM. */
int keel_model_init_feature_embed(keel_model *m);

/* Number of outputs a prediction writes per row: classification = classes (probabilities),
 * regression = 1 (the value in the target's units). */
size_t keel_model_n_outputs(const keel_model *m);

/* Writes the artifact; m->sha256 gets its digest. */
int keel_model_save(keel_model *m, const char *path, keel_error *e);
/* Reads and checks an artifact. */
int keel_model_load(const char *path, keel_model **out, keel_error *e);
int keel_model_load_mem(const void *data, size_t n, keel_model **out, keel_error *e);
/* The model in an open artifact (which may be closed afterwards: nothing is borrowed). */
struct keel_artifact;
int keel_model_from_artifact(const struct keel_artifact *a, keel_model **out, keel_error *e);

/* Workspaces: take one (from the pool or new) and give it back. */
keel_workspace *keel_model_ws_take(keel_model *m, size_t max_rows);
void keel_model_ws_give(keel_model *m, keel_workspace *ws);

/* The index of the input (keel_model_input_name) called name[0..len), or -1. Thread-safe. */
long keel_model_input_index(const keel_model *m, const char *name, size_t len);

/* Raw logits for rows of f (a frame of m->schema or m->input_schema) into logits
 * [n * n_out]. Uses ws (which must have room for n rows). One row goes through the model's
 * row plan when it has one, which gives the same values as the graph executor. */
int keel_model_logits(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                      size_t first, size_t n, float *logits);
/* The same from the network's dense input itself (n rows of m->tf.n_dense floats; models
 * with no categorical or text input): keel_model_predict_tensor. */
int keel_model_logits_dense(keel_model *m, keel_workspace *ws, const float *dense, size_t n,
                            float *logits);
/* Turns logits into outputs (calibrated probabilities or de-standardised values). */
void keel_model_finish(const keel_model *m, const float *logits, size_t n, float *out);
/* The first of n rows of outputs (n * n_outputs floats) holding a value that is not finite
 * (NaN, an infinity), or n when every value is finite. One isfinite per value: cheap enough
 * for every prediction path, which all check their outputs with it. */
size_t keel_model_first_nonfinite(const keel_model *m, const float *out, size_t n);
/* Sets e for row `row` whose outputs are not finite and returns KEEL_ENONFINITE; the message
 * starts "row N: " when with_row. */
int keel_model_nonfinite_error(keel_error *e, size_t row, bool with_row);
/* Predictions for rows of f into out [n * n_outputs], in chunks through a workspace. They are
 * not checked for finiteness: callers that hand them on do (keel_model_first_nonfinite). */
int keel_model_predict_frame(keel_model *m, const keel_frame *f, const size_t *rows, size_t first,
                             size_t n, float *out);
/* One row given as text per input-schema column (NULL = missing; only feature columns are
 * read); out gets n_outputs floats. A value that breaks the schema is KEEL_EMISMATCH naming
 * the column; outputs that are not finite KEEL_ENONFINITE. Thread-safe. */
int keel_model_predict_strings(keel_model *m, const char *const *values, float *out, keel_error *e);

/* Width of the representation (0 when node_repr < 0). */
size_t keel_model_repr_dim(const keel_model *m);
/* Representations of rows of f into repr [n * repr dim] through ws (room for n rows).
 * KEEL_ENOTSUP when the model has no representation node. */
int keel_model_represent(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                         size_t first, size_t n, float *repr);
/* Keeps the representations of up to k rows of f drawn at random (seed) from rows[0..n) (all
 * rows when rows is NULL) as the model's background sample, saved in the artifact. */
int keel_model_set_background(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                              size_t k, uint64_t seed);

/* Fills ws->row with one row from named fields as keel_model_predict_fields reads them.
 * KEEL_EINVAL for an unknown or repeated name, KEEL_EMISMATCH for a value the schema rejects
 * (e names it). */
int keel_model_fill_fields(keel_model *m, keel_workspace *ws, const keel_named_value *fields,
                           size_t n_fields, keel_error *e);

/* Evaluates predictions against the target of rows of f (a frame of m->schema). KEEL_ENOMEM,
 * or KEEL_ENONFINITE when a prediction is not a finite number (a model whose weights
 * overflow): no measures are made of it. */
int keel_model_evaluate(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                        keel_metrics *out);

#endif
