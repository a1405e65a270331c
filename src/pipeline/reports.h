/*
 * reports.h — what a job says when it is done: the summaries `keel train`, `keel cv` and
 * `keel evaluate` print, as JSON (for programs) or as text (for people). A pipeline's run
 * report will carry the same objects, so they are written here once.
 */
#ifndef KEEL_PIPELINE_REPORTS_H
#define KEEL_PIPELINE_REPORTS_H

#include "pipeline/train_job.h"

/* The training job's summary: the model, its SHA-256, task and classes, rows, epochs, the
 * validation measures and, when registered, the version (home: the registry's folder, named
 * in the text). Errors: KEEL_ENOMEM, out as it was. */
int keel_train_job_summary(const keel_train_job_result *res, bool json, const char *home,
                           keel_buf *out);

/* Cross-validation's summary: per fold (JSON) and every measure's mean and standard
 * deviation over the folds. */
int keel_cv_summary(const char *file, const char *target, const keel_cv_fold *per, int folds,
                    bool json, keel_buf *out);

/* An evaluation's summary: records, quarantined, scored and the measures. */
int keel_evaluation_summary(const char *model, const char *file, const keel_validate_result *vr,
                            const keel_metrics *mt, bool json, keel_buf *out);

/* What a scoring run did (keel predict, keel explain): the model, the records read, those
 * scored and those quarantined (and where), the time; for explanations also the method and
 * whether --limit stopped it. */
typedef struct keel_scoring_summary {
    const char *model_sha256;
    const char *done_name;            /* "predicted", "explained": the JSON key and the word */
    const keel_validate_result *data; /* the file's validation */
    uint64_t done;                    /* rows written */
    const char *quarantine;           /* where rejected records went, or NULL */
    double seconds;
    const char *method; /* explanations: the method's name (then limit_reached is written too);
                         * NULL for predictions */
    bool limit_hit;
} keel_scoring_summary;
/* Appends the summary as one JSON line, or as one line for people ("12 records, 11
 * predicted, 1 quarantined, see Q (0.02 s)"). KEEL_ENOMEM leaves out as it was. */
int keel_scoring_summary_write(const keel_scoring_summary *s, bool json, keel_buf *out);

#endif
