/*
 * text.h — answers for people on a terminal: a table of records, and a JSON answer (an array
 * as a table, an object as "key: value" lines). The registry's commands print their answers
 * through it; a monitor's or a pipeline's listings will too.
 */
#ifndef KEEL_REPORT_TEXT_H
#define KEEL_REPORT_TEXT_H

#include "base/base.h"

#include <stddef.h>

/* A column of a table: the JSON key of its cells and its header. Arrays end with {NULL, NULL}. */
typedef struct keel_text_column {
    const char *key;
    const char *header;
} keel_text_column;

/* Writes the text of row `row`'s cell in column col into cell (empty on entry); nothing
 * written shows as nothing. */
typedef void (*keel_text_cell_fn)(void *ud, size_t row, const keel_text_column *col,
                                  keel_buf *cell);

/* Appends a table of n_rows rows of cols (at most 32 columns): a header line, then one line
 * per row, each column as wide as its widest cell, a cell over 40 characters cut to 37 and
 * "...", a timestamp "YYYY-MM-DDTHH:MM:SS.ffffffZ" shown to the second; "(none)" when there
 * are no rows. KEEL_ENOMEM leaves b as it was. */
int keel_text_table(const keel_text_column *cols, size_t n_rows, keel_text_cell_fn cell, void *ud,
                    keel_buf *b);

/* Appends json[0..n) for people: an array as the table of cols (when cols is not NULL), an
 * object as "key: value" lines, anything else as compact JSON; in cells and values a string
 * shows bare, null as "-", anything else as compact JSON. KEEL_EFORMAT when json does not
 * parse, KEEL_ENOMEM; b is then as it was. */
int keel_text_json(const char *json, size_t n, const keel_text_column *cols, keel_buf *b,
                   keel_error *e);

/* The columns the registry's listings show people: keel model list (models), keel model show
 * NAME (versions), keel model history, keel run list, keel dataset list, keel user list,
 * keel token list; keys as the registry's JSON answers name them. */
extern const keel_text_column keel_text_cols_models[], keel_text_cols_versions[],
    keel_text_cols_history[], keel_text_cols_runs[], keel_text_cols_datasets[],
    keel_text_cols_users[], keel_text_cols_tokens[];
/* The cells of keel_text_cols_versions from the typed records of a keel_model_versions (ud),
 * each as the JSON answer would render it (a keel_text_cell_fn). */
void keel_text_version_cell(void *ud, size_t row, const keel_text_column *col, keel_buf *cell);

#endif
