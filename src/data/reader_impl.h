/*
 * reader_impl.h — what a record reader implements, and the helpers the readers share
 * (private to src/data).
 *
 *   reader.c        opening by format, the calls every caller makes, shared helpers
 *   reader_csv.c    CSV, with a block scanner for plain lines
 *   reader_jsonl.c  JSON Lines
 *
 * A reader is a struct that starts with a keel_reader, and a keel_reader_ops table of its
 * operations, versioned like SQLite's VFS so that the table can grow. keel_reader_open
 * allocates ops->size zeroed bytes, fills the keel_reader at their start and calls ops->open.
 * Adding a format (say fixed-width records described by a COBOL copybook, in EBCDIC): a
 * keel_format value in schema.h, a file with its ops, and its line in reader.c's table. Its
 * next() fills a keel_record per record: raw bytes, line (or record number) and byte offset,
 * and one keel_field per schema column (p and len the decoded value, raw_off where the value
 * sits in raw), or a problem with its text when the record cannot be cut into fields. Names
 * the file gives its fields (a CSV header, a copybook's items) are matched to the schema's
 * columns by reader_bind. Raw bytes stay as in the file: the quarantine keeps bytes that are
 * not UTF-8 exactly, in base64.
 */
#ifndef KEEL_DATA_READER_IMPL_H
#define KEEL_DATA_READER_IMPL_H

#include "data/csv.h"
#include "data/reader.h"

#define KEEL_READER_OPS_VERSION 1

/* Where the bytes come from: a file (path; "-" is standard input) or memory (path NULL). */
typedef struct reader_source {
    const char *path;
    const void *mem;
    size_t mem_len;
} reader_source;

typedef struct keel_reader_ops {
    int version;      /* KEEL_READER_OPS_VERSION */
    const char *name; /* the format's name: "csv" */
    size_t size;      /* bytes of the implementation's struct, which starts with a keel_reader */
    /* Sets up the implementation's part of r (r->s, r->name and r->columns are ready).
     * KEEL_OK, or a code with e set. */
    int (*open)(keel_reader *r, const reader_source *src, const keel_reader_options *o,
                keel_error *e);
    /* keel_reader_next. Must keep r's counters current; on a failure, return reader_fail. */
    int (*next)(keel_reader *r, keel_record *rec);
    /* keel_reader_next_block, or NULL: keel_reader_next_block makes blocks of one record. */
    int (*next_block)(keel_reader *r, const keel_record **recs);
    /* Frees what open allocated (keel_reader_close frees r itself). Also called when open
     * failed or never ran, on a part that is zeroed where open did not get to. */
    void (*close)(keel_reader *r);
} keel_reader_ops;

/* The part of every reader that the interface owns. */
struct keel_reader {
    const keel_reader_ops *ops;
    const keel_schema *s;
    char *name;          /* the file's name in messages (owned) */
    keel_strset columns; /* the schema's column names -> column index */
    keel_strlist *extra; /* the options' extra_columns, or NULL */
    uint64_t bytes_read; /* counters the implementation keeps current */
    uint64_t size;
    uint64_t blank_lines;
    int failed;      /* after a failure, the code every read returns */
    keel_record one; /* the block of one record, for readers without next_block */
    char errmsg[sizeof(keel_error){0}.msg];
};

extern const keel_reader_ops reader_csv_ops;
extern const keel_reader_ops reader_jsonl_ops;

/* Sets r's message (a whole sentence, starting with the file's name) and marks r failed with
 * code, which it returns. */
int reader_fail(keel_reader *r, int code, const char *fmt, ...) KEEL_PRINTF(3, 4);

/* Opens src with the CSV tokenizer, which also splits lines for the other text formats. */
int reader_open_tokenizer(const reader_source *src, const keel_csv_options *co, keel_csv **out,
                          keel_error *e);

/* Copies the tokenizer's counters into r. */
static inline void reader_sync(keel_reader *r, const keel_csv *t)
{
    r->bytes_read = keel_csv_bytes_read(t);
    r->size = keel_csv_size(t);
    r->blank_lines = keel_csv_blank_lines(t);
}

/* Maps a file's own column names (a CSV header: names[0..n) from the record starting on
 * `line`) to the schema: field_of_col[c] gets the index of the first name equal to column
 * c's. Names the schema lacks go to r->extra. KEEL_EMISMATCH (through reader_fail) when a
 * column has no name, saying it is not in `where` ("the header"); KEEL_ENOMEM. */
int reader_bind(keel_reader *r, const keel_field *names, size_t n, uint64_t line, const char *where,
                long *field_of_col);

#endif /* KEEL_DATA_READER_IMPL_H */
