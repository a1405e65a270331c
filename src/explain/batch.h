/*
 * batch.h — explaining many rows: a whole file streamed row by row (keel explain FILE), and
 * the model as a whole over a loaded frame (keel explain --global), both split over threads.
 *
 * These are the library halves of `keel explain`; the CLI keeps only its arguments, its
 * output file and what it prints. Neither prints or reads the environment: progress and
 * phases go out through callbacks, the caller's cancel flag comes in.
 */
#ifndef KEEL_EXPLAIN_BATCH_H
#define KEEL_EXPLAIN_BATCH_H

#include "data/validate.h"
#include "explain/explain.h"

#include <stdio.h>

/* ---- per row, a file ------------------------------------------------------------------ */

typedef struct keel_explain_file_options {
    keel_explain_options opt; /* method, scale, class, reasons (top_k), steps, seed */
    bool csv;                 /* CSV rows (with a header) instead of JSON Lines */
    bool csv_raw;   /* CSV text cells as they are: no quote before a leading = + - @ TAB CR
                     * (keel_buf_csv_text); for programs that read the CSV, not spreadsheets */
    int threads;    /* rows explained in parallel, 1 to KEEL_PARALLEL_MAX */
    uint64_t limit; /* explain the first limit accepted records; 0: all */
    const char *quarantine_path; /* rejected records with their reasons; NULL: counted only */
    const volatile int *cancel;  /* non-zero: stop after the current row (KEEL_ECANCELED) */
    void (*on_rows)(void *ud, uint64_t explained); /* after each chunk; may be NULL */
    void *ud;
} keel_explain_file_options;

typedef struct keel_explain_file_result {
    keel_validate_result data; /* the file's validation: records, quarantined, ... */
    uint64_t explained;        /* rows written */
    bool limit_hit;            /* stopped at o->limit */
} keel_explain_file_result;

/* Explains every accepted record of the file at path (validated against m's input schema),
 * writing one line per row to out in file order whatever the number of threads: JSON Lines
 * ({"row":N,"line":L,"ids":{...},...explanation}) or CSV (docs/explain.md). Rows are
 * numbered from 1 in the order they were accepted; the schema's id columns are copied so
 * that rows join back. Free res->data with keel_validate_result_free in every case.
 * Errors: validation's (unreadable file, header), a row's (its explanation), KEEL_EIO for
 * out, KEEL_ECANCELED, KEEL_ENOMEM. */
int keel_explain_file(keel_explainer *x, keel_model *m, const char *path,
                      const keel_explain_file_options *o, FILE *out, keel_explain_file_result *res,
                      keel_error *e);

/* The reason-code columns a CSV holds: o->top_k, else the model's setting, else 4. */
size_t keel_explain_reason_columns(keel_explainer *x, const keel_explain_options *o);

/* ---- the model as a whole ------------------------------------------------------------- */

#define KEEL_GLOBAL_SAMPLE     2000 /* most rows attributions and partial dependence use */
#define KEEL_GLOBAL_PD_COLUMNS 3    /* partial-dependence curves: the most important columns */

typedef struct keel_global_options {
    keel_explain_options opt; /* scale, class, seed */
    int threads;              /* 1 to KEEL_PARALLEL_MAX */
    int repeats;              /* shuffles per column (0: 5) */
    size_t pd_points;         /* grid points per curve (0: 10) */
    const volatile int *cancel;
    void (*on_phase)(void *ud, const char *what); /* a step starts; NULL: the end */
    void *ud;
} keel_global_options;

typedef struct keel_global_report {
    const char *metric; /* the importance's metric (static) and its value on the rows */
    double base;
    keel_importance *importance; /* n_inputs, most important first */
    keel_pd_curve pd[KEEL_GLOBAL_PD_COLUMNS];
    size_t n_pd;
    size_t n_rows, n_sample; /* rows used; rows of the attribution and PD sample */
    long class_index;        /* the class explained, -1: regression or each row's predicted */
    keel_explain_scale scale;
    int repeats;
} keel_global_report;

/* Computes the global explanations on rows [0, n) of f (a frame of m->schema, with the
 * target): permutation importance on every row, mean |attribution| and partial dependence
 * of the top KEEL_GLOBAL_PD_COLUMNS columns (not text) on an evenly spaced sample of at most
 * KEEL_GLOBAL_SAMPLE rows. Errors name the step ("permutation importance: ..."). Free r with
 * keel_global_report_free in every case. Sets the GEMM threads (keel_tensor_set_threads) to
 * o->threads for the importance and back to 1 after. */
int keel_explain_global(keel_explainer *x, keel_model *m, const keel_frame *f, size_t n,
                        const keel_global_options *o, keel_global_report *r, keel_error *e);
void keel_global_report_free(keel_global_report *r);

/* Appends the report: JSON (model and file as given, the seed) or text for people. */
int keel_global_report_write(const keel_global_report *r, const keel_model *m, const char *model,
                             const char *file, uint64_t quarantined, uint64_t seed, bool json,
                             keel_buf *out);

#endif
