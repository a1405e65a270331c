/*
 * train_job.h — the training job: from a data file to a saved, registered model.
 *
 * `keel train` is this job with its arguments parsed; a pipeline's training stage will run the
 * same job with its own inputs. The job owns every decision between the file and the model:
 * the schema (given, or inferred and loosened into a prediction contract), validation with
 * its quarantine, the registry's record of the run (dataset, parameters, epochs' log, status),
 * training, the explanation settings the artifact carries, the lineage and the training
 * data's profile written into the artifact, saving, and registering the model as the next
 * version of its name.
 *
 * Like the rest of the library it never prints, exits or reads the environment: who trains,
 * when the model is said to be created and where the registry is come in through the job;
 * what happened goes out through callbacks, the result and a keel_error.
 */
#ifndef KEEL_PIPELINE_TRAIN_JOB_H
#define KEEL_PIPELINE_TRAIN_JOB_H

#include "data/validate.h"
#include "registry/registry.h"
#include "train/train.h"

/* What the artifact tells `keel explain` (src/explain; the explainer reads them back as
 * keel_explain_settings): only the settings given are written,
 * so that the explainer's defaults stay the defaults. */
typedef struct keel_job_explain_settings {
    const char *adverse_class; /* a class label of the target; NULL: not set */
    const char *population;    /* who the data describes, in reason codes; NULL: not set */
    int reasons;               /* reason codes per explained row; 0: not set */
    bool lower_is_adverse;     /* regression: low values are adverse */
} keel_job_explain_settings;

typedef struct keel_train_job {
    const char *file;            /* the data: CSV or JSON Lines */
    const char *target;          /* the column to predict */
    const char *schema_path;     /* the reviewed schema (YAML); NULL: inferred from file */
    const char *output;          /* the model; NULL: file's base name + ".keel" here */
    const char *quarantine_path; /* NULL: file's base name + ".quarantine.jsonl" here */
    bool no_quarantine;          /* count rejected records without writing them */
    const char *checkpoint_path; /* NULL: output + ".ckpt" */
    bool resume;                 /* continue from the checkpoint */
    const char *name;            /* the model's registry name; NULL: from output */
    keel_hparams hp;
    keel_job_explain_settings explain;
    int64_t created;         /* the model's creation time, µs since 1970 (lineage) */
    const char *user;        /* who trains, as the lineage names them */
    keel_registry *registry; /* where the run is recorded; NULL: nowhere */
    const volatile int *cancel;
    keel_progress_fn progress; /* reading the data; may be NULL */
    void *progress_ud;
    /* Called once the data is read, before training: the validation's counts and where the
     * quarantine went (NULL: not written). May be NULL. */
    void (*on_loaded)(void *ud, const char *file, const keel_validate_result *vr,
                      const char *quarantine);
    void (*on_epoch)(void *ud, const keel_epoch_report *r); /* may be NULL */
    void *ud;
} keel_train_job;

/* The steps a job can fail at, so that a caller can say what to do about it. */
typedef enum keel_train_job_step {
    KEEL_JOB_NONE = 0,
    KEEL_JOB_SETUP,            /* out of memory, a bad name */
    KEEL_JOB_SCHEMA,           /* reading or inferring the schema */
    KEEL_JOB_DATA,             /* reading and validating the data */
    KEEL_JOB_REGISTRY_DATASET, /* the registry refused the dataset */
    KEEL_JOB_REGISTRY_RUN,     /* the registry refused the run */
    KEEL_JOB_TRAIN,            /* training */
    KEEL_JOB_SETTINGS,         /* the explanation settings do not fit the model */
    KEEL_JOB_SAVE,             /* writing the artifact */
    KEEL_JOB_REGISTER          /* ending the run or registering the model */
} keel_train_job_step;

typedef struct keel_train_job_result {
    char *output, *name;           /* the model's path and registry name (owned) */
    char *quarantine;              /* where rejected records went, or NULL (owned) */
    char *checkpoint;              /* the checkpoint's path (owned) */
    keel_model *model;             /* the trained model (owned), NULL on failure */
    keel_validate_result data;     /* the data's validation */
    keel_train_result train;       /* epochs, rows, validation measures */
    int64_t dataset, run, version; /* registry ids; 0 when not recorded */
    keel_train_job_step failed_at;
} keel_train_job_result;

/* Runs the job. On success the model is saved to res->output (and registered when
 * job->registry is set), the checkpoint removed unless training was cancelled; a cancel is
 * not an error (res->train.canceled: the best model so far was saved and the run recorded
 * as cancelled). On failure res->failed_at names the step, e the reason (the registry's own
 * message for its refusals), and a run already started is recorded as failed. Free res with
 * keel_train_job_result_free in every case. Not thread-safe for one registry. */
int keel_train_job_run(const keel_train_job *job, keel_train_job_result *res, keel_error *e);
void keel_train_job_result_free(keel_train_job_result *res);

/* The schema to train with: read from schema_path, or inferred from file and loosened into a
 * prediction contract (observed ranges, "whole number" and "no missing" are facts about the
 * training file, not rules for new data; an unseen category is scored as missing; a
 * timestamp becomes calendar features). The target becomes the one target column, moved
 * last and allowed missing (unlabelled rows are counted and skipped). */
int keel_job_training_schema(const char *file, const char *target, const char *schema_path,
                             keel_schema **out, keel_error *e);

/* Reads every accepted row of file through validation (SHA-256 computed), the rejected ones
 * to quarantine (NULL: counted only). */
int keel_job_load_data(const char *file, const keel_schema *s, const char *quarantine,
                       const volatile int *cancel, keel_progress_fn progress, void *progress_ud,
                       keel_frame **f, keel_validate_result *res, keel_error *e);

/* Registers a validated file as a dataset. source is the path as given ("-" is recorded as
 * "stdin"); profile_json may be NULL. The registry's message goes to e on refusal. */
int keel_job_register_dataset(keel_registry *r, const char *file, const keel_schema *s,
                              const keel_validate_result *res, const char *profile_json,
                              int64_t *id, keel_error *e);

/* Appends one epoch's report as a JSON line ({"event":"epoch",...}\n): the line the CLI
 * prints when stderr is not a terminal and the run's log in the registry. */
int keel_epoch_report_json(const keel_epoch_report *r, keel_buf *out);
/* Appends one epoch's report as a line for a person watching a terminal ("epoch 3/200  loss
 * 0.4123  val loss 0.4301  auc 0.8712  best 3  1.2s  ETA ≤78s"; "fold 2  " first in cv),
 * without a newline. */
int keel_epoch_report_text(const keel_epoch_report *r, keel_buf *out);

#endif
