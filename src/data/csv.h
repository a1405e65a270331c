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
 *
 * This is the tokenizer under the CSV and JSON Lines record readers (reader.h), which is what
 * validation reads through; it is also used on its own where a caller wants a file's fields
 * in their order (schema inference, CSV request bodies).
 */
#ifndef KEEL_DATA_CSV_H
#define KEEL_DATA_CSV_H

#include "data/record.h"
#include "data/schema.h"

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

/* Reads the next record into *rec: its fields in the file's order, all of kind
 * KEEL_FIELD_TEXT, and possibly a problem (KEEL_RECORD_UNTERMINATED_QUOTE, _BAD_QUOTE or
 * _TOO_LONG, described in rec->why). Returns 1 for a record, 0 at the end of the input, or a
 * negative code on an I/O or memory failure (message in keel_csv_errmsg). */
int keel_csv_next(keel_csv *r, keel_record *rec);

/* For callers with a scanner of their own for plain records: returns in (*p, *n) the
 * unread input up to and including its last line feed, reading more first if none is there.
 * Returns 1, 0 when there is no such line (the caller uses keel_csv_next), or a negative code.
 * The region stays valid until the next call on the reader. At least KEEL_CSV_PAD bytes after
 * it may be read (their values are unspecified), so a scanner can load whole vectors. */
#define KEEL_CSV_PAD 64
int keel_csv_peek_lines(keel_csv *r, const char **p, size_t *n);
/* Moves past n bytes of that region, holding `lines` line feeds, that the caller handled. */
void keel_csv_consume(keel_csv *r, size_t n, uint64_t lines);

const char *keel_csv_errmsg(const keel_csv *r);
uint64_t keel_csv_bytes_read(const keel_csv *r); /* bytes consumed so far */
uint64_t keel_csv_size(const keel_csv *r);       /* total size, 0 when unknown (a pipe) */
uint64_t keel_csv_blank_lines(const keel_csv *r);
uint64_t keel_csv_line(const keel_csv *r); /* the 1-based line the next record starts on */

#endif
