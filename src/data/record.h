/*
 * record.h — one record of a data file, as the readers hand it over.
 *
 * A record is a sequence of fields. Each field is a value's bytes (decoded: quotes removed,
 * escapes undone, converted to UTF-8) with a kind saying how the format typed it, and the
 * offset of its first byte in the record's raw bytes. The record keeps those raw bytes
 * exactly as in the file, with its line and byte offset, so that a rejected record can be
 * quarantined as it was and its problems pointed at by line and column.
 *
 * A record can also carry one structural problem (a quote never closed, a line that is not
 * JSON, a wrong field count): the reader found something it could not turn into fields.
 * Problems are reported on the record, never by stopping, so that validation quarantines the
 * record and carries on; a failure to read at all is an error code from the reader instead.
 *
 * Fields, raw bytes and the problem's text are borrowed from the reader that filled the
 * record and stay valid until the next call on that reader.
 */
#ifndef KEEL_DATA_RECORD_H
#define KEEL_DATA_RECORD_H

#include "base/base.h"

/* How the format typed a value. Formats without types (CSV, fixed-width text) give TEXT. */
typedef enum keel_field_kind {
    KEEL_FIELD_TEXT = 0, /* text as written: the schema's missing tokens and parsers apply */
    KEEL_FIELD_NUMBER,   /* a number the format typed (a JSON number): '.' as the decimal
                            point, never a missing token */
    KEEL_FIELD_MISSING,  /* no value: JSON null or an absent key; p is "" */
    KEEL_FIELD_NESTED,   /* a value that is not a scalar (a JSON object or array); p is "" */
} keel_field_kind;

typedef struct keel_field {
    const char *p; /* the value's bytes (decoded, UTF-8); not NUL-terminated */
    size_t len;
    size_t raw_off; /* offset of the field's first byte within the raw record */
    bool quoted;    /* CSV: the field was quoted */
    uint8_t kind;   /* a keel_field_kind */
} keel_field;

/* Structural problems a record can have. A reader that finds a new kind of problem adds it
 * here, and validate.c gives it a quarantine reason (KEEL_REASON_TABLE in validate.h). */
typedef enum keel_record_problem {
    KEEL_RECORD_OK = 0,
    KEEL_RECORD_UNTERMINATED_QUOTE, /* CSV: the file ended inside a quoted field */
    KEEL_RECORD_BAD_QUOTE,          /* CSV: characters between a closing quote and the delimiter */
    KEEL_RECORD_TOO_LONG,           /* the record exceeds the reader's max_record_bytes */
    KEEL_RECORD_FIELD_COUNT,        /* not as many fields as the header (or the schema) has */
    KEEL_RECORD_BAD_JSON,           /* JSON Lines: the line is not JSON */
    KEEL_RECORD_NOT_OBJECT,         /* JSON Lines: the line is JSON, but not an object */
    KEEL_RECORD_PROBLEM_COUNT
} keel_record_problem;

typedef struct keel_record {
    const char *raw;    /* the record's bytes as in the file, without its line end */
    size_t raw_len;     /* may be shorter than the record when problem == KEEL_RECORD_TOO_LONG */
    uint64_t raw_total; /* the record's full length in bytes */
    uint64_t line;      /* 1-based physical line on which the record starts */
    uint64_t offset;    /* byte offset of the record's first byte in the file */
    size_t n_fields;
    const keel_field *fields;
    keel_record_problem problem;
    size_t problem_off; /* byte offset within raw where the problem was seen */
    const char *why;    /* the problem in words, for people ("" when there is none) */
} keel_record;

/* Finds the line and column (1-based, column in bytes) of byte off of a record's raw bytes
 * (off is clamped to raw_len). */
void keel_record_position(const keel_record *rec, size_t off, uint64_t *line, uint64_t *col);

#endif /* KEEL_DATA_RECORD_H */
