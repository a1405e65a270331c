/*
 * reader.h — record readers: one interface over the formats a data file comes in.
 *
 * Validation, and through it profiling, training and prediction, reads a file as a stream of
 * records (record.h) whose fields are addressed by schema column: field i of a record is the
 * value of the schema's column i, wherever and however the format keeps it. A CSV reader maps
 * the header's names to the columns; a JSON Lines reader looks each object's keys up; a
 * fixed-width reader would cut a record at a copybook's offsets. The format is chosen once,
 * when the reader is opened (keel_reader_open), and nothing after that branches on it.
 *
 * Formats today: CSV (reader_csv.c) and JSON Lines (reader_jsonl.c). A new one implements
 * the operations in reader_impl.h and adds a line to the table in reader.c.
 *
 * Two ways to read. keel_reader_next hands over one record per call. keel_reader_next_block
 * hands over a block of them per call, which is how a reader with a fast scanner for its
 * common case (the CSV reader's plain lines) gets to run it without a call per record; a
 * reader without one gives blocks of one record. Both see the same records, field for field:
 * the fuzz targets check it.
 *
 * Errors: opening fails with KEEL_ENOENT, KEEL_EIO or KEEL_ENOMEM (message in e). A read
 * returns a negative code when it cannot go on (KEEL_EIO, KEEL_ENOMEM; KEEL_EEMPTY for a CSV
 * file without even a header line; KEEL_EMISMATCH when its header lacks a schema column or is
 * malformed), with the whole message, file name and line included, in keel_reader_errmsg.
 * Every later read returns the same error. A bad record is not an error: it comes back with
 * its problem set.
 *
 * Memory: bounded by the longest record (up to max_record_bytes) and one block. A reader is
 * not thread-safe; separate readers are independent.
 */
#ifndef KEEL_DATA_READER_H
#define KEEL_DATA_READER_H

#include "data/record.h"
#include "data/schema.h"

typedef struct keel_reader keel_reader;

typedef struct keel_reader_options {
    const char *display_name;    /* the file's name in messages (copied); NULL: the path, or
                                    "(memory)" */
    int format;                  /* a keel_format, or -1 (the default): keel_reader_format_of */
    size_t max_record_bytes;     /* default 64 MiB; longer records come back as TOO_LONG */
    size_t chunk_bytes;          /* read size, default 1 MiB (tests use tiny ones) */
    keel_sha256 *sha256;         /* when set, every byte read is fed to it */
    keel_strlist *extra_columns; /* when set, gets the names of the file's columns that the
                                    schema does not have (a CSV header's), in file order */
} keel_reader_options;

/* Fills o with the defaults. */
void keel_reader_options_init(keel_reader_options *o);

/* The format a file is read in: the one its name says when it names one (.csv, .tsv; .jsonl,
 * .ndjson, .json), so that a model trained on CSV scores a JSON Lines file and the other way
 * round; otherwise the schema's. path may be NULL (memory). */
keel_format keel_reader_format_of(const keel_schema *s, const char *path);

/* Opens path ("-": standard input) for reading records of schema s, which must outlive the
 * reader. The schema gives the columns, and for CSV the delimiter, quote, encoding and
 * whether there is a header. Nothing is read yet (a header is read by the first read). On
 * failure *out is NULL and e says why. o may be NULL for the defaults. */
int keel_reader_open(const keel_schema *s, const char *path, const keel_reader_options *o,
                     keel_reader **out, keel_error *e);
/* The same over a memory block (not copied: it must outlive the reader). */
int keel_reader_open_mem(const keel_schema *s, const void *data, size_t n,
                         const keel_reader_options *o, keel_reader **out, keel_error *e);
/* Closes r and frees everything it holds. Does nothing for NULL. */
void keel_reader_close(keel_reader *r);

/* Reads the next record into *rec. Returns 1 for a record, 0 at the end of the input, or a
 * negative code (see the top). A record without a problem has one field per schema column,
 * in the schema's order (n_fields == s->n_columns); a record with a problem has none. */
int keel_reader_next(keel_reader *r, keel_record *rec);

/* Reads the next records, at least one, into a block: *recs points at the reader's array of
 * them. Returns how many (> 0), 0 at the end of the input, or a negative code. Everything in
 * the block stays valid until the next call on the reader. Reading by blocks and by
 * keel_reader_next can be mixed. */
int keel_reader_next_block(keel_reader *r, const keel_record **recs);

/* The message of the last error; "" when there was none. */
const char *keel_reader_errmsg(const keel_reader *r);
/* The name of the reader's format: "csv", "jsonl". */
const char *keel_reader_format_name(const keel_reader *r);
uint64_t keel_reader_bytes_read(const keel_reader *r);  /* bytes consumed so far */
uint64_t keel_reader_size(const keel_reader *r);        /* total size, 0 when unknown (a pipe) */
uint64_t keel_reader_blank_lines(const keel_reader *r); /* skipped, not records */

#endif /* KEEL_DATA_READER_H */
