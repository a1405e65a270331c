/*
 * frame.h — a columnar in-memory table with typed columns.
 *
 * One array per column, sized to the data: numeric and timestamp columns hold 8 bytes a row,
 * categorical 4 (a code into the schema's categories), boolean 1, text and id their bytes
 * plus an 8-byte offset. Missing values are marked inside the column's own representation:
 *   numeric     NaN                          (data never yields NaN: "nan" is not a number)
 *   categorical -1
 *   boolean     -1
 *   timestamp   KEEL_TS_MISSING (INT64_MIN)
 *   text, id    missing[row] = 1
 * A frame borrows its schema (names, types, categories): the schema must outlive it.
 * Validation fills frames a chunk at a time; training will read a whole file into one.
 * Not thread-safe to modify; safe to read from several threads.
 */
#ifndef KEEL_DATA_FRAME_H
#define KEEL_DATA_FRAME_H

#include "data/schema.h"

#define KEEL_TS_MISSING INT64_MIN

typedef struct keel_column {
    const keel_schema_column *def; /* borrowed from the schema */
    keel_type type;
    double *num;      /* numeric */
    int32_t *cat;     /* categorical */
    int8_t *boolean;  /* boolean */
    int64_t *ts;      /* timestamp, microseconds since the epoch, UTC */
    uint64_t *off;    /* text/id: value i is bytes [off[i], off[i+1]) of text */
    uint8_t *missing; /* text/id */
    keel_buf text;    /* text/id bytes */
} keel_column;

typedef struct keel_frame {
    const keel_schema *schema;
    size_t n_rows, cap_rows;
    size_t n_cols; /* = schema->n_columns */
    keel_column *cols;
    /* In a chunk from keel_validate_file: the 1-based line of the file on which each row's
     * record starts (so that results can name the record); NULL elsewhere. Not owned. */
    const uint64_t *line;
} keel_frame;

/* Creates an empty frame with one column per schema column. NULL when out of memory. */
keel_frame *keel_frame_new(const keel_schema *s);
void keel_frame_free(keel_frame *f);
/* Makes room for at least rows rows in total. KEEL_OK or KEEL_ENOMEM. */
int keel_frame_reserve(keel_frame *f, size_t rows);
/* Drops every row, keeping the memory for reuse. */
void keel_frame_clear(keel_frame *f);
/* Appends every row of src to dst; both must have the same schema layout. KEEL_ENOMEM (dst
 * keeps its rows), KEEL_EINVAL when the layouts differ. */
int keel_frame_append(keel_frame *dst, const keel_frame *src);

/* Text of row r of a text/id column (not NUL-terminated); *len gets its length. */
static inline const char *keel_column_text(const keel_column *c, size_t r, size_t *len)
{
    *len = (size_t)(c->off[r + 1] - c->off[r]);
    return c->text.data ? c->text.data + c->off[r] : ""; /* no bytes yet: no buffer */
}

#endif
