/*
 * proto_impl.h — what the files of the protocol layer share (private to them).
 *
 *   proto_batch.c    the batch builder: the batch's arena, the parse context with its
 *                    locations and error messages, the table of column names
 *   proto_rows.c     the row-oriented formats (types learned from values, two passes): KServe
 *                    v1 / TF-Serving and the MLflow scoring server, JSON and text/csv
 *   proto_v2.c       Open Inference Protocol v2: datatypes, tensors, the slow path
 *   proto_v2_fast.c  OIP v2: the single-pass fast path, the shaped tier, serve_parse_v2
 *   proto_answer.c   the response writers: predictions, errors, metadata, explain envelopes
 *   proto_explain.c  explain requests: "parameters", options for a model, a row as fields
 *
 * A helper the compiler inlined when the layer was one file, and that more than one file now
 * calls, is defined here as static inline, so that each file compiles it as before; the rest
 * are ordinary functions, prefixed proto_, defined in the file named above them.
 */
#ifndef KEEL_SERVE_PROTO_IMPL_H
#define KEEL_SERVE_PROTO_IMPL_H

#include "serve/serve.h"

#include "base/json.h"

#include <string.h>

/* Most values (rows x columns) in one request: 16.7 million, about 150 MB of columns. */
#define MAX_CELLS ((size_t)1 << 24)

/* Below MAX_CELLS, a request's rows x columns may not exceed CELLS_FREE plus one per byte of
 * its body. Rows given as objects may leave keys out, and each left-out key still costs a
 * value in the columns (9 bytes: the value and its missing flag): 4,095 keys in one row and
 * 4,096 rows of {} are 52 KB of JSON but 16 million values, 150 MB. Every value given costs
 * at least two bytes of body ("1,"), so a request that gives its values, or most of them,
 * never meets this bound; the columns then stay under 9 x the body + 2.4 MB. */
#define CELLS_FREE ((size_t)1 << 18)

/* ---- the batch's arena (proto_batch.c) -------------------------------------------------- */

typedef struct arena_block {
    struct arena_block *next;
    size_t cap;  /* payload bytes */
    size_t used; /* payload bytes handed out */
} arena_block;

/* What serve_batch.arena points to: every allocation of one batch, freed as a whole by
 * serve_batch_free. */
typedef struct arena {
    arena_block *head;  /* the block being filled; large blocks sit behind it */
    keel_json_doc *doc; /* the parsed body, borrowed from by the batch; NULL for CSV */
} arena;

/* n bytes aligned for any type; NULL when out of memory. Requests over a quarter of a block
 * get a block of their own, linked behind the current one so its free space is not lost. */
void *proto_arena_alloc(arena *a, size_t n);

static inline void *arena_zalloc(arena *a, size_t count, size_t size)
{
    size_t n;
    if (!keel_size_mul(count, size, &n)) return NULL;
    void *p = proto_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

static inline char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = n < SIZE_MAX ? proto_arena_alloc(a, n + 1) : NULL;
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- parse context, locations and errors (proto_batch.c) -------------------------------- */

typedef struct ctx {
    arena *a;
    serve_error *err;
    bool mlflow;     /* which hints suit the messages */
    size_t body_len; /* bytes of the body: bounds the values (see CELLS_FREE) */
    size_t path_len; /* bytes in path */
    char path[200];  /* where the walk is: "inputs[1].data[3]" */
} ctx;

/* The most values (rows x columns) c's request may hold: see CELLS_FREE. */
static inline size_t max_cells(const ctx *c)
{
    return c->body_len < MAX_CELLS - CELLS_FREE ? CELLS_FREE + c->body_len : MAX_CELLS;
}

/* strcat that stops at the capacity. */
static inline void append(char *dst, size_t cap, const char *s)
{
    size_t k = strlen(dst), n = KEEL_MIN(strlen(s), cap - 1 - k);
    memcpy(dst + k, s, n);
    dst[k + n] = '\0';
}

/* Going down the path: "[i]", or ".key" for plain names and ["odd key"] for the rest (a
 * leading key has no dot). Each returns the length to give path_pop to go back up. */
size_t proto_path_index(ctx *c, size_t i);
size_t proto_path_key(ctx *c, const char *key, size_t n);

static inline void path_pop(ctx *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

/* Each fills err with "<path>: <message>" (cut, if it must be, at a UTF-8 boundary) and
 * returns its code: a malformed request (KEEL_EPARSE, 400), one over a limit (KEEL_ELIMIT,
 * 400), an unsupported content type (KEEL_EFORMAT, 415), out of memory (KEEL_ENOMEM, 500,
 * without the path). */
int proto_bad(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
int proto_too_many(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
int proto_unsupported(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
int proto_oom(ctx *c);

/* Starts a parse: *b zeroed, err cleared, a fresh batch with its arena in *nb. */
int proto_begin(ctx *c, serve_batch *b, serve_batch *nb, serve_error *err);
/* Parses body into a document that the arena keeps; *root is its root. */
int proto_parse_json(ctx *c, const char *body, size_t n, const keel_json **root);
/* The member key of object obj (found once at most: a key given twice is an error). */
int proto_member(ctx *c, const keel_json *obj, const char *key, const keel_json **out);

/* A column name from JSON: not empty, no NUL inside (names are C strings). */
static inline int check_name(ctx *c, const char *s, size_t n)
{
    if (n == 0) return proto_bad(c, "a column name must not be empty");
    if (memchr(s, '\0', n)) return proto_bad(c, "a column name must not contain a NUL character");
    return KEEL_OK;
}

/* ---- columns under construction (proto_batch.c) ----------------------------------------- */

enum { SEEN_NUMBER = 1, SEEN_BOOL = 2, SEEN_STRING = 4 };

typedef struct colb {
    const char *name;
    size_t name_len;
    unsigned seen;   /* SEEN_* of its non-null values */
    size_t present;  /* rows with a non-null value */
    size_t last_row; /* 1 + the row that last gave it a value: a key twice in a row */
    int type;        /* enum keel_input_type, once decided */
    void *data;
    unsigned char *missing;
} colb;

/* Columns in order of first appearance, with an open-addressing index by name. */
typedef struct table {
    colb *cols;
    size_t n, cap;
    uint32_t *slots; /* column index + 1; 0 = empty */
    size_t n_slots;  /* a power of two, at least twice n */
} table;

/* The slot that holds name, or the empty slot where it would go. */
uint32_t *proto_table_slot(const table *t, const char *name, size_t len);

/* Finds name; *idx is its column, or SIZE_MAX when absent. */
static inline size_t table_find(const table *t, const char *name, size_t len)
{
    if (!t->n_slots) return SIZE_MAX;
    uint32_t s = *proto_table_slot(t, name, len);
    return s ? s - 1 : SIZE_MAX;
}

/* Adds a new column named name (the caller has checked that it is absent). The name is
 * borrowed: it must live as long as the batch. */
int proto_table_add(ctx *c, table *t, const char *name, size_t len, size_t *idx);

/* ---- OIP v2 datatypes and tensors (proto_v2.c) ------------------------------------------ */

typedef enum { K_BYTES, K_BOOL, K_INT, K_FP32, K_FP64 } dkind;

typedef struct dtype {
    const char *name;
    size_t len; /* strlen(name) */
    dkind kind;
    int col;        /* enum keel_input_type */
    int64_t lo, hi; /* K_INT: the accepted range */
} dtype;

/* The datatype named s[0..n) ("FP64"), or NULL. */
const dtype *proto_find_dtype(const char *s, size_t n);

/* Reads an integral JSON number. Plain integer literals go through strtoll, so that every
 * int64 is exact; other spellings (1.0, 1e3) are accepted when their value is integral. */
int proto_read_int(ctx *c, const keel_json *v, const char *what, int64_t lo, int64_t hi,
                   int64_t *out);

/* Bytes per value of each column type. */
static const size_t col_size[] = {
    [KEEL_COL_TEXT] = sizeof(const char *), [KEEL_COL_F64] = sizeof(double),
    [KEEL_COL_F32] = sizeof(float),         [KEEL_COL_I64] = sizeof(int64_t),
    [KEEL_COL_I32] = sizeof(int32_t),       [KEEL_COL_BOOL] = 1,
};

typedef struct tensor {
    const dtype *t;
    void *data;
    unsigned char *missing;
    size_t k; /* elements stored so far */
} tensor;

/* ---- models (proto_answer.c, proto_explain.c) ------------------------------------------- */

static inline bool is_regression(const keel_model *m)
{
    return strcmp(keel_model_task(m), "regression") == 0;
}

#endif /* KEEL_SERVE_PROTO_IMPL_H */
