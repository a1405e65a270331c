/*
 * validate.h — every record accepted or quarantined, with reasons.
 *
 * keel_validate_file streams a file through its schema. Each record either becomes a row of
 * typed values (handed to the caller a chunk at a time as a keel_frame) or is written to the
 * quarantine file as one JSON line with its line number, byte offset, raw text and one or
 * more machine-readable reasons. Nothing is dropped: records = accepted + quarantined.
 * The quarantine format is documented in docs/quarantine.md.
 */
#ifndef KEEL_DATA_VALIDATE_H
#define KEEL_DATA_VALIDATE_H

#include "data/frame.h"

/* Machine-readable reasons a record is quarantined (names in keel_reason_name). */
#define KEEL_REASON_TABLE(X)                                                                       \
    X(FIELD_COUNT, "field_count")                                                                  \
    X(UNTERMINATED_QUOTE, "unterminated_quote")                                                    \
    X(BAD_QUOTE, "bad_quote")                                                                      \
    X(RECORD_TOO_LONG, "record_too_long")                                                          \
    X(INVALID_UTF8, "invalid_utf8")                                                                \
    X(MISSING_VALUE, "missing_value")                                                              \
    X(BAD_NUMBER, "bad_number")                                                                    \
    X(NOT_INTEGER, "not_integer")                                                                  \
    X(OUT_OF_RANGE, "out_of_range")                                                                \
    X(UNKNOWN_CATEGORY, "unknown_category")                                                        \
    X(BAD_BOOLEAN, "bad_boolean")                                                                  \
    X(BAD_TIMESTAMP, "bad_timestamp")                                                              \
    X(BAD_JSON, "bad_json")                                                                        \
    X(NOT_OBJECT, "not_object")                                                                    \
    X(WRONG_TYPE, "wrong_type")

typedef enum keel_reason {
#define KEEL_REASON_ENUM(name, text) KEEL_REASON_##name,
    KEEL_REASON_TABLE(KEEL_REASON_ENUM)
#undef KEEL_REASON_ENUM
        KEEL_REASON_COUNT
} keel_reason;

const char *keel_reason_name(keel_reason r);

/* Called with each chunk of accepted rows; the frame is reused after the call returns.
 * A non-zero return stops validation and is returned by keel_validate_file. */
typedef int (*keel_chunk_fn)(void *ud, const keel_frame *chunk);

typedef struct keel_validate_options {
    const char *quarantine_path; /* JSON Lines file to write; NULL: don't write one */
    const char *display_name;    /* the file's name in messages; NULL: the path */
    size_t chunk_rows;           /* rows per chunk, default 8192 */
    size_t max_record_bytes;     /* default 64 MiB */
    keel_chunk_fn on_chunk;
    void *chunk_ud;
    keel_progress_fn progress; /* called now and then with bytes done/total */
    void *progress_ud;
    const volatile int *cancel; /* when *cancel becomes non-zero, stop with KEEL_ECANCELED */
    bool sha256;                /* compute the SHA-256 of the input into the result */
    bool plain;                 /* read record by record, not by blocks (tests compare) */
} keel_validate_options;

void keel_validate_options_init(keel_validate_options *o);

typedef struct keel_validate_result {
    uint64_t records; /* records read (the header is not a record) */
    uint64_t accepted;
    uint64_t quarantined; /* records == accepted + quarantined, always */
    uint64_t blank_lines; /* skipped, not records */
    uint64_t bytes;
    uint64_t reasons[KEEL_REASON_COUNT]; /* quarantined records with each reason */
    uint64_t *repaired; /* per schema column: values set missing or clipped by policy */
    size_t n_columns;
    keel_strlist extra_columns; /* header columns the schema doesn't know (ignored) */
    char sha256[65];            /* hex, when requested; "" otherwise */
    double seconds;
} keel_validate_result;

void keel_validate_result_free(keel_validate_result *r);

/* Appends what a validation of file found (validate_summary.c): as one JSON line (records,
 * accepted, quarantined, quarantine_rate, blank_lines, bytes, seconds, reasons, repaired,
 * quarantine, sha256 when computed, then extra_json's members as given, e.g.
 * ",\"dataset_id\":3"), or as lines for people. quarantine: where rejected records went, or
 * NULL. KEEL_ENOMEM leaves out as it was. */
int keel_validate_summary(const char *file, const keel_schema *s, const keel_validate_result *res,
                          const char *quarantine, bool json, const char *extra_json, keel_buf *out);

/* Validates the file at path ("-" for standard input) against s, read by the record reader of
 * its format (reader.h): as the path's extension says (.jsonl, .ndjson, .json; .csv, .tsv),
 * else as the schema's format says (JSON Lines: one object per line, keys naming columns;
 * keys the schema doesn't know are ignored, an absent key or null is a missing value).
 * Fills *res (free it with keel_validate_result_free, also after a failure). Returns KEEL_OK
 * when the whole file was read — quarantined records are not a failure — or an error for
 * what stops the work: the file cannot be read (KEEL_ENOENT, KEEL_EIO), is empty
 * (KEEL_EEMPTY), its header lacks a schema column (KEEL_EMISMATCH), the quarantine cannot be
 * written (KEEL_EIO), out of memory, or canceled. e's message names file:line:column where
 * there is one. */
int keel_validate_file(const keel_schema *s, const char *path, const keel_validate_options *o,
                       keel_validate_result *res, keel_error *e);

/* The same for data in memory (not copied; not modified). Used by tests, fuzzing and
 * services that validate request bodies. */
int keel_validate_mem(const keel_schema *s, const void *data, size_t n,
                      const keel_validate_options *o, keel_validate_result *res, keel_error *e);

/* Converts values one at a time exactly as validation does (missing tokens, types,
 * categories, ranges, on_invalid policies): for callers that get a row as separate values,
 * such as prediction APIs. Built once per schema (which must outlive it); one per thread. */
typedef struct keel_converter keel_converter;
int keel_converter_new(const keel_schema *s, keel_converter **out); /* KEEL_ENOMEM */
void keel_converter_free(keel_converter *c);
/* Writes the text p[0..len) (p NULL: missing) of column ci into row r of f, a frame of the
 * converter's schema with room for row r; text columns must be filled row by row in order.
 * Returns 0 when stored (possibly repaired by policy), a keel_reason + 1 when the value must
 * reject its record, or KEEL_ENOMEM. */
int keel_converter_set(keel_converter *c, keel_frame *f, size_t ci, size_t r, const char *p,
                       size_t len);
/* The same for a number already read, for a numeric column only (else KEEL_EINVAL): NaN is
 * missing, an infinity is a bad number, and the column's rules (whole numbers, range,
 * policies) apply exactly as to the text of x. */
int keel_converter_set_number(keel_converter *c, keel_frame *f, size_t ci, size_t r, double x);

/* Validates the file at path like keel_validate_file and collects every accepted row into one
 * new frame *out (free with keel_frame_free). o may be NULL (defaults); its on_chunk is not
 * used. Fills *res as keel_validate_file does. */
int keel_frame_load(const keel_schema *s, const char *path, const keel_validate_options *o,
                    keel_frame **out, keel_validate_result *res, keel_error *e);

#endif
