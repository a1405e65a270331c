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

#endif
