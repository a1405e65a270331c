/*
 * csv.h — a streaming CSV reader (RFC 4180 and the dirt found in real exports).
 *
 * Reads a file (or a memory block) in chunks with bounded memory and hands back one record
 * at a time: its fields, its raw bytes exactly as in the file, its physical line and byte
 * offset, and any structural problem (an unterminated quote, text after a closing quote, a
 * record over the size limit). Problems are reported on the record, never by stopping, so
 * that validation can quarantine the record and carry on.
 *
 * Accepted: quoted fields with embedded delimiters, quotes ("") and newlines; LF, CRLF and
 * lone CR line ends; a UTF-8 byte-order mark; any one-byte delimiter; Latin-1 input
 * (fields are converted to UTF-8, raw bytes and offsets stay those of the file). Blank lines
 * are skipped and counted. A quote inside an unquoted field is kept as a literal character.
 *
 * Memory: the buffer grows to hold the longest record, up to max_record_bytes; a longer
 * record is skipped through without being held (its first bytes are kept for the report).
 * A reader is not thread-safe; separate readers are independent.
 */
#ifndef KEEL_DATA_CSV_H
#define KEEL_DATA_CSV_H

#include "data/schema.h"

/* Structural problems a record can have (set in keel_record.problem). */
typedef enum keel_csv_problem {
    KEEL_CSV_OK = 0,
    KEEL_CSV_UNTERMINATED_QUOTE, /* the file ended inside a quoted field */
    KEEL_CSV_BAD_QUOTE,          /* characters between a closing quote and the delimiter */
    KEEL_CSV_TOO_LONG,           /* the record exceeds max_record_bytes */
} keel_csv_problem;

typedef struct keel_field {
    const char *p; /* field content (quotes removed, "" unescaped, UTF-8); not NUL-terminated */
    size_t len;
    size_t raw_off; /* offset of the field's first byte within the raw record */
    bool quoted;
} keel_field;

typedef struct keel_record {
    const char *raw;    /* the record's bytes as in the file, without its line end */
    size_t raw_len;     /* may be shorter than the record when problem == KEEL_CSV_TOO_LONG */
    uint64_t raw_total; /* the record's full length in bytes */
    uint64_t line;      /* 1-based physical line on which the record starts */
    uint64_t offset;    /* byte offset of the record's first byte in the file */
    size_t n_fields;
    const keel_field *fields; /* valid until the next call on the reader */
    keel_csv_problem problem;
    size_t problem_off; /* byte offset within raw where the problem was seen */
} keel_record;

typedef struct keel_csv_options {
    char delimiter;          /* default ',' */
    char quote;              /* default '"'; '\0' disables quoting */
    keel_encoding encoding;  /* default UTF-8 */
    size_t max_record_bytes; /* default 64 MiB */
    size_t chunk_bytes;      /* read size, default 1 MiB (tests use tiny ones) */
    keel_sha256 *sha256;     /* when set, every byte read is fed to it */
} keel_csv_options;

/* Fills o with the defaults. */
void keel_csv_options_init(keel_csv_options *o);

typedef struct keel_csv keel_csv;

/* Opens path for reading. "-" reads standard input. On failure *out is NULL and e says why
 * (KEEL_ENOENT, KEEL_EIO, KEEL_ENOMEM). o may be NULL for the defaults. */
int keel_csv_open(const char *path, const keel_csv_options *o, keel_csv **out, keel_error *e);
/* Reads from a memory block (not copied: it must outlive the reader). */
int keel_csv_open_mem(const void *data, size_t n, const keel_csv_options *o, keel_csv **out,
                      keel_error *e);
void keel_csv_close(keel_csv *r);

/* Reads the next record into *rec. Returns 1 for a record, 0 at the end of the input, or a
 * negative code on an I/O or memory failure (message in keel_csv_errmsg). */
int keel_csv_next(keel_csv *r, keel_record *rec);

/* For callers with a scanner of their own for plain records: returns in (*p, *n) the
 * unread input up to and including its last line feed, reading more first if none is there.
 * Returns 1, 0 when there is no such line (the caller uses keel_csv_next), or a negative code.
 * The region stays valid until the next call on the reader. */
int keel_csv_peek_lines(keel_csv *r, const char **p, size_t *n);
/* Moves past n bytes of that region, holding `lines` line feeds, that the caller handled. */
void keel_csv_consume(keel_csv *r, size_t n, uint64_t lines);

const char *keel_csv_errmsg(const keel_csv *r);
uint64_t keel_csv_bytes_read(const keel_csv *r); /* bytes consumed so far */
uint64_t keel_csv_size(const keel_csv *r);       /* total size, 0 when unknown (a pipe) */
uint64_t keel_csv_blank_lines(const keel_csv *r);
uint64_t keel_csv_line(const keel_csv *r); /* the 1-based line the next record starts on */

/* Finds the line and column (1-based, column in bytes) of byte off of a record. */
void keel_record_position(const keel_record *rec, size_t off, uint64_t *line, uint64_t *col);

#endif
