/*
 * score_file.h — predictions for every record of a file, as CSV (keel predict).
 */
#ifndef KEEL_MODEL_SCORE_FILE_H
#define KEEL_MODEL_SCORE_FILE_H

#include "data/validate.h"
#include "model/model.h"

#include <stdio.h>

typedef struct keel_predict_file_options {
    int threads;                 /* rows predicted in parallel (1 to KEEL_PARALLEL_MAX) */
    const char *quarantine_path; /* rejected records with their reasons; NULL: counted only */
    const volatile int *cancel;  /* non-zero: stop (KEEL_ECANCELED from validation) */
    keel_progress_fn progress;   /* reading the file; may be NULL */
    void *progress_ud;
    bool csv_raw; /* write text cells as they are: no quote before a leading = + - @ TAB CR
                   * (keel_buf_csv_text); for programs that read the CSV, not spreadsheets */
} keel_predict_file_options;

typedef struct keel_predict_file_result {
    keel_validate_result data; /* the file's validation: records, quarantined, ... */
    uint64_t predicted;        /* rows written */
    uint64_t nonfinite;        /* rows left out: an output was not finite (KEEL_ENONFINITE) */
} keel_predict_file_result;

/* Scores every accepted record of the file at path (validated against m's input schema) and
 * writes the CSV (header: line, the id columns, prediction, p_CLASS...) to out, its text cells
 * made safe for spreadsheets unless o->csv_raw (keel_buf_csv_text), in file order
 * whatever the number of threads. The target column, when present, is ignored. Free
 * res->data with keel_validate_result_free in every case. Errors: validation's, a
 * prediction's, KEEL_EIO for out ("cannot write the predictions"), KEEL_ENOMEM, and
 * KEEL_ENONFINITE once the whole file is scored when some rows got an output that is not a
 * finite number: those rows are not written (res->nonfinite counts them), the others are. */
int keel_predict_file(keel_model *m, const char *path, const keel_predict_file_options *o,
                      FILE *out, keel_predict_file_result *res, keel_error *e);

#endif
