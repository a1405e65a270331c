/*
 * predlog_record.h — one record of the prediction log: the line `keel serve` writes for each
 * predicted row, and a reader that parses such a line back into a typed record.
 *
 * The format lives here, in one place, for both sides: the server writes records with
 * keel_predlog_record_head and keel_predlog_record_write (predlog.c queues and compresses
 * the lines); whatever reads the log (drift and performance monitoring) reads each line of a
 * decompressed file with keel_predlog_record_read. It lives in the data layer, below both the
 * server (which writes) and the monitor (which reads): the log is a data source like any
 * file. This header includes nothing of keel's but base/base.h (and keel.h through it, for
 * keel_input_column), and predlog_record.c only base/ besides, so a reader of the log needs
 * neither the HTTP server nor the protocols.
 *
 * A record is one JSON object on one line (docs/serve.md, "The prediction log"):
 *
 *   {"request_id":"req-42","row":0,"time":"2026-11-24T10:00:00.123456Z","protocol":"v2",
 *    "model":"churn","version":"3","sha256":"<64 hex digits>","inputs":{"state":"KS",...},
 *    "outputs":{"no":0.93,"yes":0.07},"latency_us":41.2}
 *
 * in that order of keys, without spaces. inputs holds the row's request columns as sent
 * (after parsing): text as a string, numbers as numbers (integers exactly, FP32 values as the
 * shortest text that reads back as the same float, FP64 as the shortest that reads back as
 * the same double), booleans as true/false, a missing value as null. outputs holds the
 * model's outputs for the row by name: one probability per class, or the one predicted value
 * of a regression model ("prediction"), as floats (null for NaN). latency_us is the whole
 * request's time in microseconds, to a tenth.
 */
#ifndef KEEL_DATA_PREDLOG_RECORD_H
#define KEEL_DATA_PREDLOG_RECORD_H

#include "base/base.h"

/* ---- writing --------------------------------------------------------------------------- */

/* One predicted request, as the log records it: one record per row, all sharing everything
 * but the row's number, inputs and outputs. Everything is borrowed. */
typedef struct keel_predlog_request {
    const char *request_id;        /* the client's request id, or one the server gave it */
    int64_t time_micros;           /* when it was answered: microseconds since 1970-01-01 UTC */
    const char *protocol;          /* "v2", "v1" or "mlflow" */
    const char *model;             /* the name the model is served under */
    const char *version;           /* the version served: registry version, or the SHA-256 prefix */
    const char *sha256;            /* the artifact's SHA-256, 64 lowercase hex digits */
    double latency_seconds;        /* the request's time */
    const keel_input_column *cols; /* the request's columns (keel.h), n_rows values each */
    size_t n_cols;
    size_t n_rows;
    const char *const *output_names; /* n_outputs names (keel_model_output_name) */
    size_t n_outputs;
    const float *outputs; /* n_rows * n_outputs predictions, row-major */
} keel_predlog_request;

/* Writes into head (emptied first) the part of the record that every row of q shares, for
 * keel_predlog_record_write: written once per request, as it is the same for every row.
 * Returns KEEL_OK or KEEL_ENOMEM. */
int keel_predlog_record_head(keel_buf *head, const keel_predlog_request *q);

/* Writes into line (emptied first) the record of row r (< q->n_rows) of q: one JSON object,
 * without a newline, ready for serve_predlog_append. head is what keel_predlog_record_head
 * wrote for q. Returns KEEL_OK, or KEEL_ENOMEM with line holding no usable record. Cannot
 * fail otherwise; thread-safe (reads q, writes line). */
int keel_predlog_record_write(keel_buf *line, const keel_predlog_request *q, const keel_buf *head,
                              size_t r);

/* ---- reading --------------------------------------------------------------------------- */

/* What an input value of a record is. */
typedef enum keel_predlog_kind {
    KEEL_PREDLOG_NULL = 0, /* missing */
    KEEL_PREDLOG_NUMBER,
    KEEL_PREDLOG_TEXT,
    KEEL_PREDLOG_BOOL
} keel_predlog_kind;

/* One input of the record's row. */
typedef struct keel_predlog_value {
    const char *name; /* the column's name */
    keel_predlog_kind kind;
    double number;    /* NUMBER: its value, finite; NaN otherwise */
    const char *text; /* TEXT: the string; NUMBER: the number exactly as written (integers
                       * beyond 2^53 keep every digit here); NULL otherwise */
    size_t len;       /* strlen(text); 0 when text is NULL */
    bool boolean;     /* BOOL: its value */
} keel_predlog_value;

/* One output of the record's row. */
typedef struct keel_predlog_output {
    const char *name; /* a class label, or "prediction" */
    double value;     /* as written (it reads back as a float: (float)value is what the model
                       * gave); NaN where the line has null */
} keel_predlog_output;

/* One record, read. Every string is NUL-terminated UTF-8 without NUL bytes inside, and
 * points into the reader that read it: valid until its next read, or its free. */
typedef struct keel_predlog_record {
    const char *request_id;
    uint64_t row;        /* the row's place in its request, from 0 */
    const char *time;    /* as written: "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" */
    int64_t time_micros; /* the same, as microseconds since 1970-01-01 UTC */
    const char *protocol;
    const char *model;
    const char *version;
    const char *sha256;               /* 64 lowercase hex digits */
    const keel_predlog_value *inputs; /* in the order of the line */
    size_t n_inputs;
    const keel_predlog_output *outputs; /* in the order of the line */
    size_t n_outputs;
    double latency_us; /* finite, >= 0 */
} keel_predlog_record;

/* Reads records; keeps the memory of the last one (and reuses it for the next), so one reader
 * reads a whole file without an allocation per line once it has grown. Not thread-safe; use
 * one per thread. */
typedef struct keel_predlog_reader keel_predlog_reader;

keel_predlog_reader *keel_predlog_reader_new(void);     /* NULL when out of memory */
void keel_predlog_reader_free(keel_predlog_reader *rd); /* NULL-safe */

/* Parses line[0..n) — one line of a decompressed log, with or without its newline — into
 * *rec. Every key above is required, once, with its type: strings (the time in the format
 * above, the SHA-256 as 64 lowercase hex digits), row a whole number, inputs an object of
 * numbers, strings, booleans and nulls, outputs an object of numbers (within a float's
 * range) and nulls, latency_us a number >= 0. Keys the reader does not know are skipped, so
 * that a reader still reads the lines of a later server that logs more. Returns KEEL_OK, or
 * KEEL_EPARSE with e naming the problem ("\"sha256\": expected 64 lowercase hex digits, got
 * \"abc\"", "inputs[\"age\"]: expected a number, string, boolean or null, got an array",
 * "not JSON: line 1, column 9: ..."), or KEEL_ENOMEM; on failure *rec is zeroed. */
int keel_predlog_record_read(keel_predlog_reader *rd, const char *line, size_t n,
                             keel_predlog_record *rec, keel_error *e);

#endif /* KEEL_DATA_PREDLOG_RECORD_H */
