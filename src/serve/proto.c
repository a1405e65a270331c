/*
 * proto.c — the server's three request protocols as pure functions: a request body in, a
 * columnar batch out; predictions in, a response body out. No HTTP here (server.c does that).
 *
 * Design. A JSON body is parsed by keel's strict parser (base/json.c) into one document; a
 * CSV body is read by keel's CSV reader (data/csv.c) from memory. The parser then checks the
 * whole request and builds a serve_batch whose memory all lives in one arena owned by the
 * batch: a list of blocks from keel_malloc, plus the JSON document itself, which stays alive
 * so that column names, strings and the exact text of numbers are borrowed, not copied.
 * Nothing is handed back until everything has been checked; on any error the arena goes at
 * once and *b stays zeroed, so a caller never sees half a batch. OIP v2 bodies first try a
 * single-pass scanner that fills the batch straight from the bytes and hands anything
 * unusual, every error included, to the parser described here (see "the single-pass fast
 * path" below). Before that, a body shaped like the last one that scanner took on this
 * thread (the same bytes around other values, as one client's requests are) is read by
 * comparing those bytes and reading only the values ("a request shaped like the thread's
 * last one").
 *
 * Two passes. The row-oriented formats (v1 instances, MLflow records, split and columnar
 * inputs) learn a column's type from its values: all numbers give F64, all booleans BOOL,
 * anything else TEXT, where a number keeps the text it was written with. The first pass
 * finds the columns (a small hash table of names), checks every value's JSON type and
 * counts them; then each column's arrays are allocated once, at their final size; the
 * second pass copies. OIP v2 tensors declare their type, so there the first pass only
 * counts elements against the shape.
 *
 * Errors name the place with a JSON-path-like location ("inputs[1].data[3]: ..."), built in
 * a fixed buffer as the walk goes down and up, so that reporting an error never allocates.
 * Keys and values quoted in messages are escaped and cut short.
 *
 * Bounds: SERVE_MAX_ROWS rows and SERVE_MAX_COLS columns per request, and MAX_CELLS rows x
 * columns, which matters for row formats: there a short body (many {} rows plus one row
 * with many keys) would otherwise ask for rows x columns memory. The HTTP layer bounds the
 * body's size, which bounds everything else (JSON nesting is bounded by the parser).
 */
#include "serve/serve.h"

#include "base/json.h"
#include "data/csv.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Most values (rows x columns) in one request: 16.7 million, about 150 MB of columns. */
#define MAX_CELLS ((size_t)1 << 24)

/* ---- the batch's arena ------------------------------------------------------------------ */

typedef struct arena_block {
    struct arena_block *next;
    size_t cap;  /* payload bytes */
    size_t used; /* payload bytes handed out */
} arena_block;

typedef struct arena {
    arena_block *head;  /* the block being filled; large blocks sit behind it */
    keel_json_doc *doc; /* the parsed body, borrowed from by the batch; NULL for CSV */
} arena;

#define ARENA_ALIGN 16
#define ARENA_BLOCK ((size_t)32 << 10)
#define ARENA_HDR   ((sizeof(arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

/* n bytes aligned for any type; NULL when out of memory. Requests over a quarter of a block
 * get a block of their own, linked behind the current one so its free space is not lost. */
static void *arena_alloc(arena *a, size_t n)
{
    if (n == 0) n = 1;
    if (n > SIZE_MAX - ARENA_HDR - ARENA_ALIGN) return NULL;
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    arena_block *h = a->head;
    if (h && h->cap - h->used >= n) {
        void *p = (char *)h + ARENA_HDR + h->used;
        h->used += n;
        return p;
    }
    bool big = n > ARENA_BLOCK / 4;
    size_t cap = big ? n : ARENA_BLOCK;
    arena_block *blk = keel_malloc(ARENA_HDR + cap);
    if (!blk) return NULL;
    blk->cap = cap;
    blk->used = n;
    if (big && h) {
        blk->next = h->next;
        h->next = blk;
    } else {
        blk->next = h;
        a->head = blk;
    }
    return (char *)blk + ARENA_HDR;
}

static void *arena_zalloc(arena *a, size_t count, size_t size)
{
    size_t n;
    if (!keel_size_mul(count, size, &n)) return NULL;
    void *p = arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

static char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = n < SIZE_MAX ? arena_alloc(a, n + 1) : NULL;
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void serve_batch_free(serve_batch *b)
{
    if (!b) return;
    arena *a = b->arena;
    if (a) {
        for (arena_block *blk = a->head, *next; blk; blk = next) {
            next = blk->next;
            keel_free(blk);
        }
        keel_json_doc_free(a->doc);
        keel_free(a);
    }
    memset(b, 0, sizeof *b);
}

/* ---- parse context, locations and errors ------------------------------------------------ */

typedef struct ctx {
    arena *a;
    serve_error *err;
    bool mlflow;     /* which hints suit the messages */
    size_t path_len; /* bytes in path */
    char path[200];  /* where the walk is: "inputs[1].data[3]" */
} ctx;

/* Appends s[0..n) as a double-quoted, escaped string of at most about max input bytes
 * (cut at a UTF-8 boundary, "..." marking the cut) to dst (capacity cap, always
 * NUL-terminated). Never allocates. */
static void quote_into(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    size_t k = strlen(dst);
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* do not split a multi-byte character */
    }
    if (k + 1 < cap) dst[k++] = '"';
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            dst[k++] = '\\';
            dst[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(dst + k, cap - k, "\\u%04x", ch);
        } else {
            dst[k++] = (char)ch;
        }
    }
    if (cut && k + 4 < cap) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    if (k + 1 < cap) dst[k++] = '"';
    dst[k < cap ? k : cap - 1] = '\0';
}

/* strcat that stops at the capacity. */
static void append(char *dst, size_t cap, const char *s)
{
    size_t k = strlen(dst), n = KEEL_MIN(strlen(s), cap - 1 - k);
    memcpy(dst + k, s, n);
    dst[k + n] = '\0';
}

static void path_put(ctx *c, const char *s, size_t n)
{
    size_t room = sizeof c->path - 1 - c->path_len;
    if (n > room) n = room;
    memcpy(c->path + c->path_len, s, n);
    c->path_len += n;
    c->path[c->path_len] = '\0';
}

/* Each push returns the length to give path_pop to go back up. */
static size_t path_index(ctx *c, size_t i)
{
    /* Runs for every array element of every request, so no snprintf: digits by hand. */
    size_t old = c->path_len;
    char t[32];
    size_t k = sizeof t;
    t[--k] = ']';
    do {
        t[--k] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    t[--k] = '[';
    path_put(c, t + k, sizeof t - k);
    return old;
}

static bool is_identifier(const char *s, size_t n)
{
    if (n == 0 || n > 48) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    return true;
}

/* .key for plain names, ["odd key"] for the rest (a leading key has no dot). */
static size_t path_key(ctx *c, const char *key, size_t n)
{
    size_t old = c->path_len;
    char t[96] = "";
    if (is_identifier(key, n)) {
        if (c->path_len) path_put(c, ".", 1);
        path_put(c, key, n);
        return old;
    }
    quote_into(t, sizeof t, key, n, 40);
    path_put(c, "[", 1);
    path_put(c, t, strlen(t));
    path_put(c, "]", 1);
    return old;
}

static void path_pop(ctx *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

/* Fills err with "<path>: <message>" and returns code. The message is cut, if it must be,
 * at a UTF-8 boundary. */
static int failv(ctx *c, int code, int status, const char *fmt, va_list ap)
{
    char text[sizeof c->err->msg];
    vsnprintf(text, sizeof text, fmt, ap);
    char *m = c->err->msg;
    size_t cap = sizeof c->err->msg, k = 0;
    if (c->path_len) {
        size_t n = KEEL_MIN(c->path_len, cap - 3);
        memcpy(m, c->path, n);
        memcpy(m + n, ": ", 2);
        k = n + 2;
    }
    size_t tn = KEEL_MIN(strlen(text), cap - 1 - k);
    memcpy(m + k, text, tn);
    k += tn;
    m[keel_utf8_valid_prefix(m, k)] = '\0';
    c->err->status = status;
    return code;
}

static int bad(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
static int bad(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_EPARSE, 400, fmt, ap);
    va_end(ap);
    return rc;
}

static int too_many(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
static int too_many(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_ELIMIT, 400, fmt, ap);
    va_end(ap);
    return rc;
}

static int unsupported(ctx *c, const char *fmt, ...) KEEL_PRINTF(2, 3);
static int unsupported(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_EFORMAT, 415, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(ctx *c)
{
    path_pop(c, 0);
    snprintf(c->err->msg, sizeof c->err->msg, "out of memory while reading the request");
    c->err->status = 500;
    return KEEL_ENOMEM;
}

/* A short description of a value for "got ..." in messages. */
typedef struct desc {
    char s[80];
} desc;

static desc describe(const keel_json *v)
{
    desc d = {""};
    switch (v->type) {
    case KEEL_JSON_NULL:
        strcpy(d.s, "null");
        break;
    case KEEL_JSON_BOOL:
        strcpy(d.s, v->u.boolean ? "true" : "false");
        break;
    case KEEL_JSON_NUMBER:
        if (v->u.number.len <= 40)
            memcpy(d.s, v->u.number.text, v->u.number.len + 1);
        else
            snprintf(d.s, sizeof d.s, "%.32s...", v->u.number.text);
        break;
    case KEEL_JSON_STRING:
        quote_into(d.s, sizeof d.s, v->u.string.s, v->u.string.len, 40);
        break;
    case KEEL_JSON_ARRAY:
        strcpy(d.s, "an array");
        break;
    case KEEL_JSON_OBJECT:
        strcpy(d.s, "an object");
        break;
    }
    return d;
}

/* Starts a parse: *b zeroed, err cleared, a fresh batch with its arena in *nb. */
static int begin(ctx *c, serve_batch *b, serve_batch *nb, serve_error *err)
{
    if (b) memset(b, 0, sizeof *b);
    memset(nb, 0, sizeof *nb);
    c->err = err;
    c->err->status = 0;
    c->err->msg[0] = '\0';
    c->path_len = 0;
    c->path[0] = '\0';
    c->mlflow = false;
    c->a = keel_calloc(1, sizeof(arena));
    if (!c->a) return oom(c);
    nb->arena = c->a;
    return KEEL_OK;
}

static int parse_json(ctx *c, const char *body, size_t n, const keel_json **root)
{
    *root = NULL;
    c->a->doc = keel_json_doc_new();
    if (!c->a->doc) return oom(c);
    keel_error e;
    int rc = keel_json_parse(c->a->doc, body ? body : "", body ? n : 0, &e);
    if (rc == KEEL_ENOMEM) return oom(c);
    if (rc != KEEL_OK) return bad(c, "malformed JSON: %s", e.msg);
    *root = keel_json_root(c->a->doc);
    return KEEL_OK;
}

/* The member key of object obj (found once at most: a key given twice is an error). */
static int member(ctx *c, const keel_json *obj, const char *key, const keel_json **out)
{
    *out = NULL;
    size_t kn = strlen(key);
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        if (m->key_len != kn || memcmp(m->key, key, kn) != 0) continue;
        if (*out) {
            size_t at = path_key(c, key, kn);
            int rc = bad(c, "given twice");
            path_pop(c, at);
            return rc;
        }
        *out = &m->value;
    }
    return KEEL_OK;
}

/* A column name from JSON: not empty, no NUL inside (names are C strings). */
static int check_name(ctx *c, const char *s, size_t n)
{
    if (n == 0) return bad(c, "a column name must not be empty");
    if (memchr(s, '\0', n)) return bad(c, "a column name must not contain a NUL character");
    return KEEL_OK;
}

/* ---- columns under construction --------------------------------------------------------- */

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

static uint32_t *table_slot(const table *t, const char *name, size_t len)
{
    size_t mask = t->n_slots - 1, i = (size_t)keel_hash64(name, len, 0x5eed) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];
        if (s == 0) return &t->slots[i];
        const colb *col = &t->cols[s - 1];
        if (col->name_len == len && memcmp(col->name, name, len) == 0) return &t->slots[i];
    }
}

/* Finds name; *idx is its column, or SIZE_MAX when absent. */
static size_t table_find(const table *t, const char *name, size_t len)
{
    if (!t->n_slots) return SIZE_MAX;
    uint32_t s = *table_slot(t, name, len);
    return s ? s - 1 : SIZE_MAX;
}

/* Adds a new column named name (the caller has checked that it is absent). The name is
 * borrowed: it must live as long as the batch. */
static int table_add(ctx *c, table *t, const char *name, size_t len, size_t *idx)
{
    if (t->n >= SERVE_MAX_COLS)
        return too_many(c, "at most %d columns per request", SERVE_MAX_COLS);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        colb *cols = arena_zalloc(c->a, cap, sizeof *cols);
        if (!cols) return oom(c);
        if (t->n) memcpy(cols, t->cols, t->n * sizeof *cols);
        t->cols = cols; /* the old array stays in the arena: at most as much again */
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->n_slots) {
        size_t n_slots = t->n_slots ? t->n_slots * 2 : 32;
        uint32_t *slots = arena_zalloc(c->a, n_slots, sizeof *slots);
        if (!slots) return oom(c);
        t->slots = slots;
        t->n_slots = n_slots;
        for (size_t i = 0; i < t->n; i++)
            *table_slot(t, t->cols[i].name, t->cols[i].name_len) = (uint32_t)(i + 1);
    }
    colb *col = &t->cols[t->n];
    memset(col, 0, sizeof *col);
    col->name = name;
    col->name_len = len;
    *table_slot(t, name, len) = (uint32_t)(t->n + 1);
    *idx = t->n++;
    return KEEL_OK;
}

/* First pass: v may be a scalar (or null) only; notes its kind. */
static int cell_check(ctx *c, colb *col, const keel_json *v)
{
    switch (v->type) {
    case KEEL_JSON_NULL:
        return KEEL_OK;
    case KEEL_JSON_BOOL:
        col->seen |= SEEN_BOOL;
        break;
    case KEEL_JSON_NUMBER:
        col->seen |= SEEN_NUMBER;
        break;
    case KEEL_JSON_STRING:
        if (memchr(v->u.string.s, '\0', v->u.string.len))
            return bad(c, "a string must not contain a NUL character");
        col->seen |= SEEN_STRING;
        break;
    default:
        return bad(c, "expected a number, string, boolean or null, got %s", describe(v).s);
    }
    col->present++;
    return KEEL_OK;
}

/* Between the passes: each column's type and arrays for n rows. */
static int columns_alloc(ctx *c, table *t, size_t n)
{
    if (n && t->n > MAX_CELLS / n)
        return too_many(c,
                        "at most %zu values (rows x columns) per request; this one has %zu "
                        "rows and %zu columns",
                        MAX_CELLS, n, t->n);
    for (size_t j = 0; j < t->n; j++) {
        colb *col = &t->cols[j];
        size_t size;
        if (col->seen == SEEN_NUMBER)
            col->type = KEEL_COL_F64, size = sizeof(double);
        else if (col->seen == SEEN_BOOL)
            col->type = KEEL_COL_BOOL, size = 1;
        else
            col->type = KEEL_COL_TEXT, size = sizeof(const char *);
        col->data = arena_zalloc(c->a, n, size); /* NULL strings, false */
        if (!col->data) return oom(c);
        if (col->type == KEEL_COL_F64)
            for (size_t r = 0; r < n; r++)
                ((double *)col->data)[r] = NAN;
        if (col->present < n) {
            col->missing = arena_alloc(c->a, n);
            if (!col->missing) return oom(c);
            memset(col->missing, 1, n);
        }
    }
    return KEEL_OK;
}

/* Second pass: stores v (checked by cell_check) as row r of col. */
static int cell_fill(ctx *c, colb *col, size_t r, const keel_json *v)
{
    if (v->type == KEEL_JSON_NULL) return KEEL_OK; /* missing: set so by columns_alloc */
    switch (col->type) {
    case KEEL_COL_F64:
        if (!isfinite(v->u.number.value))
            return bad(c, "the number %s is out of range", describe(v).s);
        ((double *)col->data)[r] = v->u.number.value;
        break;
    case KEEL_COL_BOOL:
        ((unsigned char *)col->data)[r] = v->u.boolean;
        break;
    default: {
        const char *s = v->type == KEEL_JSON_STRING   ? v->u.string.s
                        : v->type == KEEL_JSON_NUMBER ? v->u.number.text /* as written */
                        : v->u.boolean                ? "true"
                                                      : "false";
        ((const char **)col->data)[r] = s;
    }
    }
    if (col->missing) col->missing[r] = 0;
    return KEEL_OK;
}

/* The finished columns become the batch's. */
static int columns_finish(ctx *c, table *t, size_t n, serve_batch *nb)
{
    nb->cols = arena_zalloc(c->a, t->n, sizeof *nb->cols);
    if (!nb->cols) return oom(c);
    for (size_t j = 0; j < t->n; j++)
        nb->cols[j] = (keel_input_column){t->cols[j].name, t->cols[j].type, t->cols[j].data,
                                          t->cols[j].missing};
    nb->n_cols = t->n;
    nb->n_rows = n;
    return KEEL_OK;
}

/* ---- row formats: records, split, columnar ----------------------------------------------- */

static int not_a_record(ctx *c, const keel_json *row)
{
    if (row->type == KEEL_JSON_ARRAY)
        return bad(c,
                   "expected an object of column values ({\"column\": value, ...}), got an "
                   "array: rows given as lists carry no column names%s",
                   c->mlflow ? " (send records, or dataframe_split with \"columns\")" : "");
    return bad(c, "expected an object of column values ({\"column\": value, ...}), got %s",
               describe(row).s);
}

/* rows (at the current path) is an array of objects, one per row; a key a row lacks is
 * missing there. */
static int build_records(ctx *c, const keel_json *rows, serve_batch *nb)
{
    size_t n = rows->u.array.n;
    if (n > SERVE_MAX_ROWS) return too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
    table t = {0};
    int rc;
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &rows->u.array.items[r];
        size_t at = path_index(c, r);
        if (row->type != KEEL_JSON_OBJECT) return not_a_record(c, row);
        for (size_t i = 0; i < row->u.object.n; i++) {
            const keel_json_member *m = &row->u.object.members[i];
            size_t at2 = path_key(c, m->key, m->key_len);
            size_t j = table_find(&t, m->key, m->key_len);
            if (j == SIZE_MAX) {
                if ((rc = check_name(c, m->key, m->key_len)) != KEEL_OK) return rc;
                if ((rc = table_add(c, &t, m->key, m->key_len, &j)) != KEEL_OK) return rc;
            }
            colb *col = &t.cols[j];
            if (col->last_row == r + 1) return bad(c, "given twice in one row");
            col->last_row = r + 1;
            if ((rc = cell_check(c, col, &m->value)) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &rows->u.array.items[r];
        size_t at = path_index(c, r);
        for (size_t i = 0; i < row->u.object.n; i++) {
            const keel_json_member *m = &row->u.object.members[i];
            size_t at2 = path_key(c, m->key, m->key_len);
            colb *col = &t.cols[table_find(&t, m->key, m->key_len)];
            if ((rc = cell_fill(c, col, r, &m->value)) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    return columns_finish(c, &t, n, nb);
}

/* obj (at the current path) maps each column name to a list of its values, one per row. */
static int build_columnar(ctx *c, const keel_json *obj, serve_batch *nb)
{
    table t = {0};
    size_t n = 0;
    int rc;
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        size_t at = path_key(c, m->key, m->key_len);
        if ((rc = check_name(c, m->key, m->key_len)) != KEEL_OK) return rc;
        size_t j = table_find(&t, m->key, m->key_len);
        if (j != SIZE_MAX) return bad(c, "column given twice");
        if ((rc = table_add(c, &t, m->key, m->key_len, &j)) != KEEL_OK) return rc;
        const keel_json *vals = &m->value;
        if (vals->type != KEEL_JSON_ARRAY)
            return bad(c, "expected a list of values (one per row), got %s", describe(vals).s);
        if (i == 0) {
            n = vals->u.array.n;
            if (n > SERVE_MAX_ROWS)
                return too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
        } else if (vals->u.array.n != n) {
            char first[96] = "";
            quote_into(first, sizeof first, obj->u.object.members[0].key,
                       obj->u.object.members[0].key_len, 40);
            return bad(c,
                       "%zu values, but column %s has %zu: every column needs one value per "
                       "row",
                       vals->u.array.n, first, n);
        }
        for (size_t r = 0; r < n; r++) {
            size_t at2 = path_index(c, r);
            if ((rc = cell_check(c, &t.cols[j], &vals->u.array.items[r])) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    for (size_t j = 0; j < t.n; j++) {
        const keel_json_member *m = &obj->u.object.members[j];
        size_t at = path_key(c, m->key, m->key_len);
        for (size_t r = 0; r < n; r++) {
            size_t at2 = path_index(c, r);
            if ((rc = cell_fill(c, &t.cols[j], r, &m->value.u.array.items[r])) != KEEL_OK)
                return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    return columns_finish(c, &t, n, nb);
}

/* MLflow's dataframe_split (pandas orient="split"): {"columns": [...], "data": [[...]],
 * "index": [...]?}; obj at the current path. */
static int build_split(ctx *c, const keel_json *obj, serve_batch *nb)
{
    const keel_json *cols = NULL, *data = NULL, *index = NULL;
    int rc;
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        const keel_json **slot = strcmp(m->key, "columns") == 0 ? &cols
                                 : strcmp(m->key, "data") == 0  ? &data
                                 : strcmp(m->key, "index") == 0 ? &index
                                                                : NULL;
        size_t at = path_key(c, m->key, m->key_len);
        if (!slot || m->key_len != strlen(m->key))
            return bad(c, "unexpected key (dataframe_split has \"columns\", \"data\" and "
                          "optionally \"index\")");
        if (*slot) return bad(c, "given twice");
        *slot = &m->value;
        path_pop(c, at);
    }
    if (!cols) return bad(c, "\"columns\" is required: the list of column names");
    if (!data) return bad(c, "\"data\" is required: a list of rows, each a list of values");
    size_t at = path_key(c, "columns", 7);
    if (cols->type != KEEL_JSON_ARRAY)
        return bad(c, "expected a list of column names, got %s", describe(cols).s);
    table t = {0};
    for (size_t j = 0; j < cols->u.array.n; j++) {
        const keel_json *name = &cols->u.array.items[j];
        size_t at2 = path_index(c, j);
        if (name->type != KEEL_JSON_STRING)
            return bad(c, "expected a column name (a string), got %s", describe(name).s);
        if ((rc = check_name(c, name->u.string.s, name->u.string.len)) != KEEL_OK) return rc;
        size_t k = table_find(&t, name->u.string.s, name->u.string.len);
        if (k != SIZE_MAX) return bad(c, "column %s given twice", describe(name).s);
        if ((rc = table_add(c, &t, name->u.string.s, name->u.string.len, &k)) != KEEL_OK) return rc;
        path_pop(c, at2);
    }
    path_pop(c, at);
    at = path_key(c, "data", 4);
    if (data->type != KEEL_JSON_ARRAY)
        return bad(c, "expected a list of rows, got %s", describe(data).s);
    size_t n = data->u.array.n;
    if (n > SERVE_MAX_ROWS) return too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &data->u.array.items[r];
        size_t at2 = path_index(c, r);
        if (row->type != KEEL_JSON_ARRAY)
            return bad(c, "expected a row (a list of values, one per column), got %s",
                       describe(row).s);
        if (row->u.array.n != t.n)
            return bad(c, "%zu values, but there are %zu columns", row->u.array.n, t.n);
        for (size_t j = 0; j < t.n; j++) {
            size_t at3 = path_index(c, j);
            if ((rc = cell_check(c, &t.cols[j], &row->u.array.items[j])) != KEEL_OK) return rc;
            path_pop(c, at3);
        }
        path_pop(c, at2);
    }
    path_pop(c, at);
    if (index) {
        at = path_key(c, "index", 5);
        if (index->type != KEEL_JSON_ARRAY)
            return bad(c, "expected a list of row labels, got %s", describe(index).s);
        if (index->u.array.n != n)
            return bad(c, "%zu labels, but \"data\" has %zu rows", index->u.array.n, n);
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    at = path_key(c, "data", 4);
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &data->u.array.items[r];
        size_t at2 = path_index(c, r);
        for (size_t j = 0; j < t.n; j++) {
            size_t at3 = path_index(c, j);
            if ((rc = cell_fill(c, &t.cols[j], r, &row->u.array.items[j])) != KEEL_OK) return rc;
            path_pop(c, at3);
        }
        path_pop(c, at2);
    }
    path_pop(c, at);
    return columns_finish(c, &t, n, nb);
}

/* ---- Open Inference Protocol v2 ---------------------------------------------------------- */

typedef enum { K_BYTES, K_BOOL, K_INT, K_FP32, K_FP64 } dkind;

typedef struct dtype {
    const char *name;
    size_t len; /* strlen(name) */
    dkind kind;
    int col;        /* enum keel_input_type */
    int64_t lo, hi; /* K_INT: the accepted range */
} dtype;

/* UINT64 stops at INT64_MAX: keel's widest integer column is int64_t. */
static const dtype dtypes[] = {
    {"BOOL", 4, K_BOOL, KEEL_COL_BOOL, 0, 0},
    {"UINT8", 5, K_INT, KEEL_COL_I32, 0, UINT8_MAX},
    {"UINT16", 6, K_INT, KEEL_COL_I32, 0, UINT16_MAX},
    {"UINT32", 6, K_INT, KEEL_COL_I64, 0, UINT32_MAX},
    {"UINT64", 6, K_INT, KEEL_COL_I64, 0, INT64_MAX},
    {"INT8", 4, K_INT, KEEL_COL_I32, INT8_MIN, INT8_MAX},
    {"INT16", 5, K_INT, KEEL_COL_I32, INT16_MIN, INT16_MAX},
    {"INT32", 5, K_INT, KEEL_COL_I32, INT32_MIN, INT32_MAX},
    {"INT64", 5, K_INT, KEEL_COL_I64, INT64_MIN, INT64_MAX},
    {"FP32", 4, K_FP32, KEEL_COL_F32, 0, 0},
    {"FP64", 4, K_FP64, KEEL_COL_F64, 0, 0},
    {"BYTES", 5, K_BYTES, KEEL_COL_TEXT, 0, 0},
};

/* Reads an integral JSON number. Plain integer literals go through strtoll, so that every
 * int64 is exact; other spellings (1.0, 1e3) are accepted when their value is integral. */
static int read_int(ctx *c, const keel_json *v, const char *what, int64_t lo, int64_t hi,
                    int64_t *out)
{
    const char *s = v->u.number.text;
    bool plain = true;
    for (const char *p = s + (*s == '-'); *p; p++)
        if (*p < '0' || *p > '9') plain = false;
    int64_t x;
    bool range = true;
    if (plain) {
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        range = errno != ERANGE;
        x = ll;
    } else {
        double d = v->u.number.value;
        if (isfinite(d) && d != floor(d))
            return bad(c, "expected an integer for %s, got %s", what, describe(v).s);
        range = isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
        x = range ? (int64_t)d : 0;
    }
    if (!range || x < lo || x > hi)
        return bad(c, "%s is out of range for %s (%lld to %lld)", describe(v).s, what,
                   (long long)lo, (long long)hi);
    *out = x;
    return KEEL_OK;
}

/* memcmp(a, b, n) == 0 for the few bytes of a datatype's name, without a library call. */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static const dtype *find_dtype(const char *s, size_t n)
{
    for (size_t i = 0; i < KEEL_ARRAY_LEN(dtypes); i++) /* lengths first: it is hot */
        if (dtypes[i].len == n && same_bytes(dtypes[i].name, s, n)) return &dtypes[i];
    return NULL;
}

/* First pass over a tensor's data: counts elements and nulls; arrays may nest (row-major). */
static int tensor_count(ctx *c, const keel_json *v, size_t *count, size_t *nulls)
{
    if (v->type == KEEL_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.array.n; i++) {
            size_t at = path_index(c, i);
            int rc = tensor_count(c, &v->u.array.items[i], count, nulls);
            if (rc != KEEL_OK) return rc;
            path_pop(c, at);
        }
        return KEEL_OK;
    }
    if (v->type == KEEL_JSON_OBJECT) return bad(c, "expected a value or a list, got an object");
    (*count)++;
    *nulls += v->type == KEEL_JSON_NULL;
    return KEEL_OK;
}

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

/* Second pass: checks each element against the datatype and stores it. */
static int tensor_fill(ctx *c, const keel_json *v, tensor *x)
{
    if (v->type == KEEL_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.array.n; i++) {
            size_t at = path_index(c, i);
            int rc = tensor_fill(c, &v->u.array.items[i], x);
            if (rc != KEEL_OK) return rc;
            path_pop(c, at);
        }
        return KEEL_OK;
    }
    size_t r = x->k++;
    const dtype *t = x->t;
    if (v->type == KEEL_JSON_NULL) {
        if (t->col == KEEL_COL_F64) ((double *)x->data)[r] = NAN;
        if (t->col == KEEL_COL_F32) ((float *)x->data)[r] = NAN;
        x->missing[r] = 1; /* text NULL, integers and booleans 0: zeroed by the allocation */
        return KEEL_OK;
    }
    /* "datatype INT64" for messages; built with memcpy, as this runs for every value. */
    char what[32] = "datatype ";
    size_t wn = strlen(t->name);
    memcpy(what + 9, t->name, KEEL_MIN(wn, sizeof what - 10));
    what[9 + KEEL_MIN(wn, sizeof what - 10)] = '\0';
    switch (t->kind) {
    case K_BYTES:
        if (v->type != KEEL_JSON_STRING)
            return bad(c, "expected a string for %s, got %s", what, describe(v).s);
        if (memchr(v->u.string.s, '\0', v->u.string.len))
            return bad(c, "a string must not contain a NUL character");
        ((const char **)x->data)[r] = v->u.string.s;
        break;
    case K_BOOL:
        if (v->type != KEEL_JSON_BOOL)
            return bad(c, "expected true or false for %s, got %s", what, describe(v).s);
        ((unsigned char *)x->data)[r] = v->u.boolean;
        break;
    case K_INT: {
        if (v->type != KEEL_JSON_NUMBER)
            return bad(c, "expected an integer for %s, got %s", what, describe(v).s);
        int64_t i;
        int rc = read_int(c, v, what, t->lo, t->hi, &i);
        if (rc != KEEL_OK) return rc;
        if (t->col == KEEL_COL_I32)
            ((int32_t *)x->data)[r] = (int32_t)i;
        else
            ((int64_t *)x->data)[r] = i;
        break;
    }
    case K_FP32:
    case K_FP64: {
        if (v->type != KEEL_JSON_NUMBER)
            return bad(c, "expected a number for %s, got %s", what, describe(v).s);
        double d = v->u.number.value;
        float f = (float)d;
        if (!isfinite(d) || (t->kind == K_FP32 && !isfinite(f)))
            return bad(c, "%s is out of range for %s", describe(v).s, what);
        if (t->kind == K_FP32)
            ((float *)x->data)[r] = f;
        else
            ((double *)x->data)[r] = d;
        break;
    }
    }
    return KEEL_OK;
}

/* "shape": [n] or [n, 1], n a row count; *rows gets n. */
static int read_shape(ctx *c, const keel_json *shape, size_t *rows)
{
    if (shape->type != KEEL_JSON_ARRAY)
        return bad(c, "expected a list of dimensions such as [3], got %s", describe(shape).s);
    size_t nd = shape->u.array.n;
    int64_t dims[2] = {0, 0};
    for (size_t i = 0; i < nd && i < 2; i++) {
        const keel_json *d = &shape->u.array.items[i];
        size_t at = path_index(c, i);
        if (d->type != KEEL_JSON_NUMBER)
            return bad(c, "expected a dimension (an integer), got %s", describe(d).s);
        int rc = read_int(c, d, "a dimension", 0, INT64_MAX, &dims[i]);
        if (rc != KEEL_OK) return rc;
        path_pop(c, at);
    }
    if (nd == 0 || nd > 2 || (nd == 2 && dims[1] != 1)) {
        char got[200] = "[";
        for (size_t i = 0; i < nd && i < 4; i++) {
            if (i) append(got, sizeof got, ", ");
            append(got, sizeof got, describe(&shape->u.array.items[i]).s);
        }
        append(got, sizeof got, nd > 4 ? ", ...]" : "]");
        return bad(c, "expected [n] or [n, 1] (one tensor per column, n rows), got %s", got);
    }
    if (dims[0] > SERVE_MAX_ROWS)
        return too_many(c, "at most %d rows per request, got %lld", SERVE_MAX_ROWS,
                        (long long)dims[0]);
    *rows = (size_t)dims[0];
    return KEEL_OK;
}

static int required(ctx *c, const keel_json *obj, const char *key, const keel_json **out)
{
    int rc = member(c, obj, key, out);
    if (rc == KEEL_OK && !*out) rc = bad(c, "\"%s\" is required", key);
    return rc;
}

/* One entry of "inputs" (at the current path) into column i of the batch. */
static int read_tensor(ctx *c, const keel_json *in, size_t i, table *names, size_t *rows,
                       serve_batch *nb)
{
    if (in->type != KEEL_JSON_OBJECT)
        return bad(c, "expected a tensor ({\"name\", \"shape\", \"datatype\", \"data\"}), got %s",
                   describe(in).s);
    const keel_json *name, *shape, *datatype, *data, *params;
    int rc;
    if ((rc = required(c, in, "name", &name)) || (rc = required(c, in, "shape", &shape)) ||
        (rc = required(c, in, "datatype", &datatype)) || (rc = required(c, in, "data", &data)) ||
        (rc = member(c, in, "parameters", &params)))
        return rc;

    size_t at = path_key(c, "name", 4);
    if (name->type != KEEL_JSON_STRING)
        return bad(c, "expected a string, got %s", describe(name).s);
    if ((rc = check_name(c, name->u.string.s, name->u.string.len)) != KEEL_OK) return rc;
    size_t j = table_find(names, name->u.string.s, name->u.string.len);
    if (j != SIZE_MAX) return bad(c, "%s is given twice (also inputs[%zu])", describe(name).s, j);
    if ((rc = table_add(c, names, name->u.string.s, name->u.string.len, &j)) != KEEL_OK) return rc;
    path_pop(c, at);

    at = path_key(c, "datatype", 8);
    if (datatype->type != KEEL_JSON_STRING)
        return bad(c, "expected a string such as \"FP64\", got %s", describe(datatype).s);
    const dtype *t = find_dtype(datatype->u.string.s, datatype->u.string.len);
    if (!t) {
        const char *s = datatype->u.string.s;
        if (strcmp(s, "FP16") == 0 || strcmp(s, "BF16") == 0)
            return bad(c, "datatype %s is not supported: send FP32 or FP64", s);
        return bad(c,
                   "unknown datatype %s (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, "
                   "INT8, INT16, INT32, INT64, FP32, FP64, BYTES)",
                   describe(datatype).s);
    }
    path_pop(c, at);

    size_t n = 0;
    at = path_key(c, "shape", 5);
    if ((rc = read_shape(c, shape, &n)) != KEEL_OK) return rc;
    if (i > 0 && n != *rows)
        return bad(c, "%zu rows, but inputs[0] has %zu: every tensor needs one value per row", n,
                   *rows);
    *rows = n;
    path_pop(c, at);

    if (params && params->type != KEEL_JSON_OBJECT) {
        at = path_key(c, "parameters", 10);
        return bad(c, "expected an object, got %s", describe(params).s);
    }

    at = path_key(c, "data", 4);
    if (data->type != KEEL_JSON_ARRAY)
        return bad(c, "expected a list of values, got %s (binary tensor data is not supported)",
                   describe(data).s);
    size_t count = 0, nulls = 0;
    if ((rc = tensor_count(c, data, &count, &nulls)) != KEEL_OK) return rc;
    if (count != n)
        return bad(c, "%zu values, but shape [%zu%s] needs %zu", count, n,
                   shape->u.array.n == 2 ? ", 1" : "", n);
    tensor x = {t, arena_zalloc(c->a, n, col_size[t->col]), NULL, 0};
    if (!x.data) return oom(c);
    if (nulls && !(x.missing = arena_zalloc(c->a, n, 1))) return oom(c);
    if ((rc = tensor_fill(c, data, &x)) != KEEL_OK) return rc;
    path_pop(c, at);
    nb->cols[i] = (keel_input_column){name->u.string.s, t->col, x.data, x.missing};
    return KEEL_OK;
}

int serve_parse_v2_slow(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    int rc = begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root, *id, *params, *inputs, *outputs;
    if (rc || (rc = parse_json(&c, body, n, &root))) goto fail;
    if (root->type != KEEL_JSON_OBJECT) {
        rc = bad(&c, "the body must be a JSON object (an inference request), got %s",
                 describe(root).s);
        goto fail;
    }
    if ((rc = member(&c, root, "id", &id)) || (rc = member(&c, root, "parameters", &params)) ||
        (rc = member(&c, root, "outputs", &outputs)) || (rc = member(&c, root, "inputs", &inputs)))
        goto fail;
    if (!inputs) {
        rc = bad(&c, "\"inputs\" is required: a list of tensors, one per column");
        goto fail;
    }
    if (id) {
        path_key(&c, "id", 2);
        if (id->type != KEEL_JSON_STRING) {
            rc = bad(&c, "expected a string, got %s", describe(id).s);
            goto fail;
        }
        if (memchr(id->u.string.s, '\0', id->u.string.len)) {
            rc = bad(&c, "must not contain a NUL character");
            goto fail;
        }
        nb.id = (char *)id->u.string.s; /* in the document, which the arena keeps */
        path_pop(&c, 0);
    }
    if (params && params->type != KEEL_JSON_OBJECT) {
        path_key(&c, "parameters", 10);
        rc = bad(&c, "expected an object, got %s", describe(params).s);
        goto fail;
    }
    if (outputs) {
        /* Checked but not used: the response always carries every output. */
        size_t at = path_key(&c, "outputs", 7);
        if (outputs->type != KEEL_JSON_ARRAY) {
            rc = bad(&c, "expected a list of requested outputs, got %s", describe(outputs).s);
            goto fail;
        }
        for (size_t i = 0; i < outputs->u.array.n; i++) {
            const keel_json *o = &outputs->u.array.items[i], *name;
            size_t at2 = path_index(&c, i);
            if (o->type != KEEL_JSON_OBJECT) {
                rc = bad(&c, "expected an object ({\"name\": ...}), got %s", describe(o).s);
                goto fail;
            }
            if ((rc = required(&c, o, "name", &name)) != KEEL_OK) goto fail;
            if (name->type != KEEL_JSON_STRING) {
                path_key(&c, "name", 4);
                rc = bad(&c, "expected a string, got %s", describe(name).s);
                goto fail;
            }
            path_pop(&c, at2);
        }
        path_pop(&c, at);
    }
    path_key(&c, "inputs", 6);
    if (inputs->type != KEEL_JSON_ARRAY) {
        rc = bad(&c, "expected a list of tensors, got %s", describe(inputs).s);
        goto fail;
    }
    size_t n_in = inputs->u.array.n;
    if (n_in == 0) {
        rc = bad(&c, "expected at least one tensor");
        goto fail;
    }
    if (n_in > SERVE_MAX_COLS) {
        rc =
            too_many(&c, "at most %d tensors (columns) per request, got %zu", SERVE_MAX_COLS, n_in);
        goto fail;
    }
    nb.cols = arena_zalloc(c.a, n_in, sizeof *nb.cols);
    if (!nb.cols) {
        rc = oom(&c);
        goto fail;
    }
    table names = {0};
    size_t rows = 0;
    for (size_t i = 0; i < n_in; i++) {
        size_t at = path_index(&c, i);
        if ((rc = read_tensor(&c, &inputs->u.array.items[i], i, &names, &rows, &nb)) != KEEL_OK)
            goto fail;
        path_pop(&c, at);
    }
    nb.n_cols = n_in;
    nb.n_rows = rows;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}

/* ---- Open Inference Protocol v2: the single-pass fast path -------------------------------
 *
 * Design. The slow path above builds base/json.c's generic tree and then walks it, so every
 * value is visited twice and gets a node of its own. Nearly every real request has one
 * shape, an object whose "inputs" are tensor objects with a plain name, shape, datatype and
 * flat or nested data, so serve_parse_v2 first tries this scanner: it reads the body once,
 * left to right, and writes each value straight into its column in the batch's arena.
 *
 * It is an optimisation, never a second source of truth. It accepts a subset of what the
 * slow path accepts and builds the very same batch; the moment it meets anything it is not
 * sure of (any error at all, a \u escape, an escaped or repeated key, a number spelled
 * otherwise than as a plain integer where an integer is wanted, nesting deeper than
 * FAST_DEPTH) it declines: what it built is freed and the slow path parses the body from the
 * start. So every error message and every edge case is the slow path's, and the fast path
 * needs no error reporting at all: its functions return false to decline.
 *
 * What it does read, it checks as strictly as json.c (whitespace, literals, the number
 * grammar, UTF-8 and control bytes in strings, no trailing commas or trailing bytes),
 * including the values it only skips (unknown keys, "outputs" entries, tensor "parameters"),
 * because the slow path refuses a body with a syntax error anywhere. Numbers get the value
 * json.c gives them: the same exact short path, else strtod on the text. Strings are copied
 * into the arena, as the body belongs to the caller. A "data" list met before its tensor's
 * "shape" and "datatype" is skipped and read again once the tensor's object has closed.
 *
 * The explain endpoints read the top-level "parameters" from the document in the batch's
 * arena (serve_parse_explain_params). The fast path builds no document for the body; when
 * "parameters" is present it has json.c parse just that value, as {"parameters": VALUE},
 * which gives serve_parse_explain_params exactly what the whole body's document would.
 *
 * fuzz/proto.c runs both paths on every input and aborts when the fast path takes a body
 * that the slow path refuses, or builds a batch (or explain parameters) that differ.
 */

/* Nesting the fast path follows within one value; deeper bodies go to the slow path (json.c
 * allows 256 levels in all, and the fast path's values sit at most 4 levels down). */
#define FAST_DEPTH 32

/* ---- a request shaped like the thread's last one (see serve_parse_v2_shaped) ------------ */

/* Bounds of a remembered shape: bodies beyond them are simply not remembered. */
#define SHAPE_SLOTS 256  /* values (rows x columns, plus the id) */
#define SHAPE_COLS  128  /* tensors */
#define SHAPE_TEXT  4096 /* bytes of the body outside its values */
#define SHAPE_NAMES 2048 /* bytes of the tensors' names, each NUL-terminated */
#define SHAPE_ID    (-1) /* a slot that holds the request id, not a tensor's value */

/* What the fast path saw of one body: where each value it stored began and ended, in order,
 * the column it went to, and each column's datatype. broken: the body cannot be remembered
 * (values read out of order, top-level parameters, too many values). */
typedef struct shape_rec {
    const char *base;
    bool broken;
    size_t n;
    struct {
        uint32_t at, end; /* offsets in the body (a value past 4 GiB: broken) */
        int32_t col;      /* column index or SHAPE_ID */
    } v[SHAPE_SLOTS];
    const dtype *type[SHAPE_COLS];
} shape_rec;

static void shape_note(shape_rec *r, const char *at, const char *end, int col)
{
    if (r->broken) return;
    if (r->n == SHAPE_SLOTS || (r->n && at < r->base + r->v[r->n - 1].end) ||
        (size_t)(end - r->base) > UINT32_MAX) {
        r->broken = true;
        return;
    }
    r->v[r->n].at = (uint32_t)(at - r->base);
    r->v[r->n].end = (uint32_t)(end - r->base);
    r->v[r->n].col = col;
    r->n++;
}

typedef struct scan {
    const char *p, *end;
    arena *a;
    shape_rec *rec; /* NULL: values are not noted */
    int col;        /* the column whose values are being read */
} scan;

static inline void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Is ch next, after whitespace? */
static inline bool peek(scan *s, char ch)
{
    ws(s);
    return s->p < s->end && *s->p == ch;
}

/* Consumes ch if it is next, after whitespace. */
static inline bool eat(scan *s, char ch)
{
    if (!peek(s, ch)) return false;
    s->p++;
    return true;
}

static bool word(scan *s, const char *w, size_t n)
{
    ws(s);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return false;
    s->p += n;
    return true;
}

/* A string: *raw and *n its bytes between the quotes, *esc whether it has escapes. Only the
 * one-letter escapes are taken (\u, with its surrogates and NULs, is the slow path's); the
 * bytes must be UTF-8 without control bytes, as json.c demands. */
static inline bool str_raw(scan *s, const char **raw, size_t *n, bool *esc)
{
    if (!eat(s, '"')) return false;
    const char *p = s->p, *end = s->end;
    bool high = false;
    *esc = false;
    for (;;) {
        /* Eight bytes at a time, jumping to the first that needs a look. */
        for (uint64_t w; end - p >= 8;) {
            memcpy(&w, p, 8);
            uint64_t flags = keel_json_special_bytes(w);
            if (flags) {
                p += (unsigned)__builtin_ctzll(flags) / 8; /* little-endian: byte order */
                break;
            }
            p += 8;
        }
        if (p >= end) return false;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') break;
        if (ch < 0x20) return false;
        if (ch >= 0x80) {
            high = true;
        } else if (ch == '\\') {
            if (end - p < 2 || p[1] == '\0' || !strchr("\"\\/bfnrt", p[1])) return false;
            *esc = true;
            p++;
        }
        p++;
    }
    *raw = s->p;
    *n = (size_t)(p - s->p);
    s->p = p + 1;
    return !high || keel_utf8_valid(*raw, *n);
}

/* A string value, unescaped into the arena (NUL-terminated); NULL to decline. */
static char *str_copy(scan *s, size_t *len)
{
    const char *raw;
    size_t n;
    bool esc;
    if (!str_raw(s, &raw, &n, &esc)) return NULL;
    char *o = arena_alloc(s->a, n + 1); /* n < the body's size: no overflow */
    if (!o) return NULL;
    if (!esc) {
        memcpy(o, raw, n);
        o[n] = '\0';
        *len = n;
        return o;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = raw[i];
        if (ch == '\\') {
            ch = raw[++i];
            ch = ch == 'b'   ? '\b'
                 : ch == 'f' ? '\f'
                 : ch == 'n' ? '\n'
                 : ch == 'r' ? '\r'
                 : ch == 't' ? '\t'
                             : ch; /* '"', '\\', '/' */
        }
        o[k++] = ch;
    }
    o[k] = '\0';
    *len = k;
    return o;
}

/* An object key (no escapes: an escaped key could spell a known one) and its colon. */
static bool key(scan *s, const char **k, size_t *n)
{
    bool esc;
    return str_raw(s, k, n, &esc) && !esc && eat(s, ':');
}

/* Is the key k[0..n) the literal w? (A macro, so that the length is a constant.) */
#define key_eq(k, n, w) ((n) == sizeof(w) - 1 && memcmp(k, w, sizeof(w) - 1) == 0)

/* A number as json.c reads it: value = m * 10^scale while m holds every digit. */
typedef struct num {
    const char *s;
    size_t len;
    bool neg, fits, plain; /* plain: an integer literal (no '.', no exponent) */
    uint64_t m;
    int64_t scale;
} num;

static bool is_dig(const char *p, const char *end)
{
    return p < end && (unsigned char)(*p - '0') < 10;
}

static bool number(scan *s, num *x)
{
    ws(s);
    const char *p = s->p, *end = s->end;
    *x = (num){.s = p, .fits = true, .plain = true};
    if (p < end && *p == '-') x->neg = true, p++;
    if (!is_dig(p, end)) return false;
    if (*p == '0') {
        if (is_dig(++p, end)) return false; /* leading zero */
    }
    for (; is_dig(p, end); p++) {
        if (x->m < 1000000000000000000ULL)
            x->m = x->m * 10 + (uint64_t)(*p - '0');
        else
            x->fits = false;
    }
    if (p < end && *p == '.') {
        x->plain = false;
        if (!is_dig(++p, end)) return false;
        for (; is_dig(p, end); p++) {
            if (x->m < 1000000000000000000ULL) {
                x->m = x->m * 10 + (uint64_t)(*p - '0');
                x->scale--;
            } else {
                x->fits = false;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        x->plain = false;
        bool eneg = false;
        if (++p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (!is_dig(p, end)) return false;
        int64_t ex = 0;
        for (; is_dig(p, end); p++)
            if (ex < 100000) ex = ex * 10 + (*p - '0');
        x->scale += eneg ? -ex : ex;
    }
    x->len = (size_t)(p - x->s);
    s->p = p;
    return true;
}

/* The double json.c gives x: exact when both operands are (Clinger), else strtod. */
static bool num_double(const num *x, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (x->fits && x->m <= ((uint64_t)1 << 53) && x->scale >= -22 && x->scale <= 22) {
        double v = x->scale < 0 ? (double)x->m / pow10[-x->scale] : (double)x->m * pow10[x->scale];
        *out = x->neg ? -v : v;
        return true;
    }
    char t[64];
    if (x->len >= sizeof t) return false;
    memcpy(t, x->s, x->len);
    t[x->len] = '\0';
    *out = strtod(t, NULL);
    return true;
}

/* A plain integer literal in [lo, hi] (read_int's strtoll case; others decline). */
static bool num_int(const num *x, int64_t lo, int64_t hi, int64_t *out)
{
    /* number() kept every digit in m while they fit (19 digits at most; no leading zeros),
     * so a plain literal that fits is m exactly. */
    if (!x->plain || !x->fits) return false;
    uint64_t u = x->m;
    if (u > (uint64_t)INT64_MAX + x->neg) return false;
    int64_t v = x->neg ? (u ? -(int64_t)(u - 1) - 1 : 0) : (int64_t)u;
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Checks and skips one value of any kind; depth counts the containers it opens. */
static bool skip(scan *s, int depth)
{
    const char *k;
    size_t n;
    bool esc;
    num x;
    ws(s);
    if (s->p >= s->end) return false;
    switch (*s->p) {
    case '"':
        return str_raw(s, &k, &n, &esc);
    case '{':
        if (depth >= FAST_DEPTH) return false;
        s->p++;
        if (eat(s, '}')) return true;
        do {
            if (!str_raw(s, &k, &n, &esc) || !eat(s, ':') || !skip(s, depth + 1)) return false;
        } while (eat(s, ','));
        return eat(s, '}');
    case '[':
        if (depth >= FAST_DEPTH) return false;
        s->p++;
        if (eat(s, ']')) return true;
        do {
            if (!skip(s, depth + 1)) return false;
        } while (eat(s, ','));
        return eat(s, ']');
    case 't':
        return word(s, "true", 4);
    case 'f':
        return word(s, "false", 5);
    case 'n':
        return word(s, "null", 4);
    default:
        return number(s, &x);
    }
}

/* One element of a tensor's data into row x->k of n (tensor_fill's rules). */
static bool value_into(scan *s, tensor *x, size_t n)
{
    if (x->k >= n) return false;
    size_t r = x->k++;
    const dtype *t = x->t;
    if (peek(s, 'n')) {
        if (!word(s, "null", 4)) return false;
        if (!x->missing && !(x->missing = arena_zalloc(s->a, n, 1))) return false;
        x->missing[r] = 1;
        if (t->col == KEEL_COL_F64) ((double *)x->data)[r] = NAN;
        if (t->col == KEEL_COL_F32) ((float *)x->data)[r] = NAN;
        return true;
    }
    num v;
    switch (t->kind) {
    case K_BYTES: {
        size_t len;
        char *str = str_copy(s, &len);
        ((const char **)x->data)[r] = str;
        return str != NULL;
    }
    case K_BOOL:
        if (word(s, "true", 4))
            ((unsigned char *)x->data)[r] = 1;
        else if (!word(s, "false", 5))
            return false;
        return true;
    case K_INT: {
        int64_t i;
        if (!number(s, &v) || !num_int(&v, t->lo, t->hi, &i)) return false;
        if (t->col == KEEL_COL_I32)
            ((int32_t *)x->data)[r] = (int32_t)i;
        else
            ((int64_t *)x->data)[r] = i;
        return true;
    }
    default: { /* K_FP32, K_FP64 */
        double d;
        if (!number(s, &v) || !num_double(&v, &d) || !isfinite(d)) return false;
        if (t->kind == K_FP64) {
            ((double *)x->data)[r] = d;
            return true;
        }
        float f = (float)d;
        ((float *)x->data)[r] = f;
        return isfinite(f);
    }
    }
}

/* value_into, noting where the value lay when a shape is being recorded. */
static bool fast_value(scan *s, tensor *x, size_t n)
{
    ws(s);
    const char *at = s->p;
    if (!value_into(s, x, n)) return false;
    if (s->rec) shape_note(s->rec, at, s->p, s->col);
    return true;
}

/* A (nested) list of values, row-major. */
static bool fast_list(scan *s, tensor *x, size_t n, int depth)
{
    if (depth >= FAST_DEPTH || !eat(s, '[')) return false;
    if (eat(s, ']')) return true;
    do {
        if (!(peek(s, '[') ? fast_list(s, x, n, depth + 1) : fast_value(s, x, n))) return false;
    } while (eat(s, ','));
    return eat(s, ']');
}

/* "data" of a tensor of n rows of type t, into a new column x. */
static bool fast_data(scan *s, const dtype *t, size_t n, tensor *x)
{
    *x = (tensor){t, arena_zalloc(s->a, n, col_size[t->col]), NULL, 0};
    return x->data && fast_list(s, x, n, 0) && x->k == n;
}

/* "shape": [n] or [n, 1]. */
static bool fast_shape(scan *s, size_t *rows)
{
    num x;
    int64_t d0, d1;
    if (!eat(s, '[') || !number(s, &x) || !num_int(&x, 0, SERVE_MAX_ROWS, &d0)) return false;
    if (eat(s, ',') && (!number(s, &x) || !num_int(&x, 1, 1, &d1))) return false;
    *rows = (size_t)d0;
    return eat(s, ']');
}

enum { T_NAME = 1, T_SHAPE = 2, T_DATATYPE = 4, T_DATA = 8, T_PARAMS = 16 };

/* The four keys every tensor has, as clients write them: quoted, no space before the colon.
 * Matched as bytes, which is what key() and key_eq would conclude on these spellings; any
 * other spelling (spaces, escapes, other keys) returns 0 and goes through key(). */
static inline unsigned tensor_key_as_sent(scan *s)
{
#define AS_SENT(text, which)                                                                       \
    if (memcmp(s->p, text, sizeof text - 1) == 0) {                                                \
        s->p += sizeof text - 1;                                                                   \
        return which;                                                                              \
    }
    ws(s);
    if (s->end - s->p < 12 || s->p[0] != '"') return 0;
    switch (s->p[1]) {
    case 'n':
        AS_SENT("\"name\":", T_NAME);
        break;
    case 's':
        AS_SENT("\"shape\":", T_SHAPE);
        break;
    case 'd':
        AS_SENT("\"data\":", T_DATA);
        AS_SENT("\"datatype\":", T_DATATYPE);
        break;
    }
    return 0;
#undef AS_SENT
}

/* One tensor object into *col; its row count must be *rows unless it is the first. */
static bool fast_tensor(scan *s, keel_input_column *col, size_t *name_len, size_t *rows, bool first)
{
    unsigned seen = 0;
    char *name = NULL;
    const char *data_at = NULL;
    const dtype *t = NULL;
    size_t n = 0;
    tensor x = {0};
    if (!eat(s, '{') || eat(s, '}')) return false;
    do {
        const char *k, *v;
        size_t kn, vn;
        bool esc, ok;
        unsigned which = tensor_key_as_sent(s);
        if (!which) {
            if (!key(s, &k, &kn)) return false;
            which = key_eq(k, kn, "name")         ? T_NAME
                    : key_eq(k, kn, "shape")      ? T_SHAPE
                    : key_eq(k, kn, "datatype")   ? T_DATATYPE
                    : key_eq(k, kn, "data")       ? T_DATA
                    : key_eq(k, kn, "parameters") ? T_PARAMS
                                                  : 0;
        }
        if (seen & which) return false;
        seen |= which;
        switch (which) {
        case T_NAME:
            ok = (name = str_copy(s, name_len)) != NULL && *name_len > 0;
            break;
        case T_SHAPE:
            ok = fast_shape(s, &n);
            break;
        case T_DATATYPE: /* raw: no datatype's name has a backslash */
            ok = str_raw(s, &v, &vn, &esc) && (t = find_dtype(v, vn)) != NULL;
            break;
        case T_DATA:
            if (!peek(s, '[')) return false;
            if (t && (seen & T_SHAPE)) {
                ok = fast_data(s, t, n, &x);
            } else {
                data_at = s->p; /* read below, once the shape and datatype are known */
                ok = skip(s, 3);
                if (s->rec) s->rec->broken = true; /* its values come out of order */
            }
            break;
        case T_PARAMS:
            ok = peek(s, '{') && skip(s, 3);
            break;
        default:
            ok = skip(s, 3);
        }
        if (!ok) return false;
    } while (eat(s, ','));
    unsigned need = T_NAME | T_SHAPE | T_DATATYPE | T_DATA;
    if (!eat(s, '}') || (seen & need) != need || (!first && n != *rows)) return false;
    *rows = n;
    if (data_at) {
        scan again = {data_at, s->end, s->a, NULL, 0};
        if (!fast_data(&again, t, n, &x)) return false;
    }
    *col = (keel_input_column){name, t->col, x.data, x.missing};
    if (s->rec && s->col < SHAPE_COLS) s->rec->type[s->col] = t;
    return true;
}

/* Up to this many columns, names are checked for repeats by comparing them with each other
 * (a fingerprint and the length first), which costs less than hashing them; after that, by
 * the slow path's hash table. */
#define FAST_LINEAR_COLS 64

/* A name's fingerprint: its first and last eight bytes (all of them when shorter) and its
 * length. Equal names have equal fingerprints; names that differ mostly differ in it. */
static uint64_t name_print(const char *s, size_t n)
{
    uint64_t head = 0, tail = 0;
    if (n >= 8) {
        memcpy(&head, s, 8);
        memcpy(&tail, s + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            head |= (uint64_t)(unsigned char)s[i] << (8 * i);
    }
    return head ^ (tail * 0x9e3779b97f4a7c15ULL) ^ n;
}

/* "inputs": the batch's columns, with unique names. */
static bool fast_inputs(scan *s, serve_batch *nb)
{
    serve_error scratch; /* table_add's messages are not wanted: any error declines */
    ctx c = {.a = s->a, .err = &scratch};
    table names = {0};
    size_t cap = 0, rows = 0, lens[FAST_LINEAR_COLS];
    uint64_t prints[FAST_LINEAR_COLS];
    if (!eat(s, '[')) return false;
    do {
        if (nb->n_cols == cap) {
            cap = cap ? cap * 2 : 32;
            keel_input_column *cols = arena_zalloc(s->a, cap, sizeof *cols);
            if (!cols) return false;
            if (nb->n_cols) memcpy(cols, nb->cols, nb->n_cols * sizeof *cols);
            nb->cols = cols;
        }
        size_t i = nb->n_cols, len, idx;
        keel_input_column *col = &nb->cols[i];
        s->col = (int)i;
        if (!fast_tensor(s, col, &len, &rows, i == 0)) return false;
        if (i < FAST_LINEAR_COLS) {
            uint64_t print = name_print(col->name, len);
            for (size_t j = 0; j < i; j++)
                if (prints[j] == print && lens[j] == len &&
                    memcmp(nb->cols[j].name, col->name, len) == 0)
                    return false;
            lens[i] = len;
            prints[i] = print;
        } else {
            for (size_t j = names.n; j < i; j++) /* the first time here: the columns so far */
                if (table_add(&c, &names, nb->cols[j].name, lens[j], &idx) != KEEL_OK) return false;
            if (table_find(&names, col->name, len) != SIZE_MAX ||
                table_add(&c, &names, col->name, len, &idx) != KEEL_OK) /* SERVE_MAX_COLS */
                return false;
        }
        nb->n_cols++;
    } while (eat(s, ','));
    nb->n_rows = rows;
    return eat(s, ']');
}

/* "outputs": a list of objects, each with one string "name"; checked, not used. */
static bool fast_outputs(scan *s)
{
    if (!eat(s, '[')) return false;
    if (eat(s, ']')) return true;
    do {
        bool named = false;
        if (!eat(s, '{')) return false;
        if (!eat(s, '}')) {
            do {
                const char *k, *v;
                size_t kn, vn;
                bool esc;
                if (!key(s, &k, &kn)) return false;
                if (!key_eq(k, kn, "name")) {
                    if (!skip(s, 3)) return false;
                } else if (named || !str_raw(s, &v, &vn, &esc)) {
                    return false;
                } else {
                    named = true;
                }
            } while (eat(s, ','));
            if (!eat(s, '}')) return false;
        }
        if (!named) return false;
    } while (eat(s, ','));
    return eat(s, ']');
}

/* The top-level "parameters" value v[0..n), as the document {"parameters": v} in the arena,
 * for serve_parse_explain_params. */
static bool fast_params(arena *a, const char *v, size_t n)
{
    static const char head[] = "{\"parameters\":";
    size_t len = sizeof head - 1 + n + 1;
    char *text = arena_alloc(a, len); /* n < the body's size: no overflow */
    if (!text) return false;
    memcpy(text, head, sizeof head - 1);
    memcpy(text + sizeof head - 1, v, n);
    text[len - 1] = '}';
    keel_error e;
    return (a->doc = keel_json_doc_new()) != NULL && keel_json_parse(a->doc, text, len, &e) == 0;
}

enum { R_ID = 1, R_PARAMS = 2, R_OUTPUTS = 4, R_INPUTS = 8 };

static bool fast_v2(const char *body, size_t n, serve_batch *nb, shape_rec *rec)
{
    scan s = {body, body + n, nb->arena, rec, 0};
    const char *params = NULL, *params_end = NULL;
    unsigned seen = 0;
    if (!eat(&s, '{') || eat(&s, '}')) return false;
    do {
        const char *k;
        size_t kn, len;
        bool ok;
        if (!key(&s, &k, &kn)) return false;
        unsigned which = key_eq(k, kn, "id")           ? R_ID
                         : key_eq(k, kn, "parameters") ? R_PARAMS
                         : key_eq(k, kn, "outputs")    ? R_OUTPUTS
                         : key_eq(k, kn, "inputs")     ? R_INPUTS
                                                       : 0;
        if (seen & which) return false;
        seen |= which;
        switch (which) {
        case R_ID: {
            ws(&s);
            const char *at = s.p;
            ok = (nb->id = str_copy(&s, &len)) != NULL;
            if (ok) shape_note(rec, at, s.p, SHAPE_ID);
            break;
        }
        case R_PARAMS:
            rec->broken = true; /* explain parameters are parsed as a document of their own */
            ok = peek(&s, '{');
            params = s.p;
            ok = ok && skip(&s, 1);
            params_end = s.p;
            break;
        case R_OUTPUTS:
            ok = fast_outputs(&s);
            break;
        case R_INPUTS:
            ok = fast_inputs(&s, nb);
            break;
        default:
            ok = skip(&s, 1);
        }
        if (!ok) return false;
    } while (eat(&s, ','));
    if (!eat(&s, '}') || !(seen & R_INPUTS)) return false;
    ws(&s);
    if (s.p != s.end) return false;
    return !params || fast_params(nb->arena, params, (size_t)(params_end - params));
}

/* The calling thread's remembered shape: the last body the fast path took, with its values
 * cut out. text holds the body's bytes outside its values, back to back; value i of the body
 * follows text[0..lit_end[i]) and goes to column slot_col[i] (or is the id). Only keys,
 * names, datatypes, shapes and punctuation are kept, never a value: no request's data
 * outlives it. A fixed block per thread (about 8 KiB), so nothing is left to free when a
 * thread ends. */
typedef struct v2_shape {
    bool valid;
    uint16_t n_slots, n_cols;
    size_t n_rows, text_len, names_len;
    uint16_t lit_end[SHAPE_SLOTS];
    int16_t slot_col[SHAPE_SLOTS];
    const dtype *col_type[SHAPE_COLS];
    uint16_t name_at[SHAPE_COLS]; /* column j is named names + name_at[j] */
    char text[SHAPE_TEXT];
    char names[SHAPE_NAMES];
} v2_shape;

static _Thread_local v2_shape thread_shape;

/* Remembers the body the fast path just took as this thread's shape, when it fits. */
static void shape_keep(const shape_rec *r, const char *body, size_t n, const serve_batch *nb)
{
    v2_shape *t = &thread_shape;
    t->valid = false;
    if (r->broken || nb->n_cols > SHAPE_COLS) return;
    size_t len = 0, from = 0;
    for (size_t i = 0; i <= r->n; i++) {
        size_t to = i < r->n ? r->v[i].at : n;
        if (to - from > SHAPE_TEXT - len) return;
        memcpy(t->text + len, body + from, to - from);
        len += to - from;
        if (i == r->n) break;
        t->lit_end[i] = (uint16_t)len;
        t->slot_col[i] = (int16_t)r->v[i].col;
        from = r->v[i].end;
    }
    size_t names = 0;
    for (size_t j = 0; j < nb->n_cols; j++) {
        size_t size = strlen(nb->cols[j].name) + 1;
        if (size > SHAPE_NAMES - names) return;
        memcpy(t->names + names, nb->cols[j].name, size);
        t->name_at[j] = (uint16_t)names;
        t->col_type[j] = r->type[j];
        names += size;
    }
    t->n_slots = (uint16_t)r->n;
    t->n_cols = (uint16_t)nb->n_cols;
    t->n_rows = nb->n_rows;
    t->text_len = len;
    t->names_len = names;
    t->valid = true;
}

/* The end of a first tier: hands nb over to *b with err cleared when it took the body
 * (took), else frees it; returns took. */
static bool tier_done(bool took, serve_batch *nb, serve_batch *b, serve_error *err)
{
    if (!took) {
        serve_batch_free(nb);
        return false;
    }
    if (err) {
        err->status = 0;
        err->msg[0] = '\0';
    }
    *b = *nb;
    return true;
}

bool serve_parse_v2_fast(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    serve_batch nb = {0};
    shape_rec rec; /* not zeroed (4 KiB on every request): only its first n entries are read */
    rec.base = body;
    rec.broken = false;
    rec.n = 0;
    memset(b, 0, sizeof *b);
    bool took =
        body && (nb.arena = keel_calloc(1, sizeof(arena))) != NULL && fast_v2(body, n, &nb, &rec);
    if (took) shape_keep(&rec, body, n, &nb);
    return tier_done(took, &nb, b, err);
}

/* The body against thread shape t: each stretch between values must be t's bytes exactly,
 * and each value is read by the fast path's own reader for its column's datatype. Since the
 * bytes around the values are those of a body the fast path took, the structure (keys,
 * names, datatypes, shapes, nesting) is that body's, already checked; only the values are
 * new, and they get the same checks as there. */
static bool shaped_v2(const char *body, size_t n, const v2_shape *t, serve_batch *nb)
{
    arena *a = nb->arena;
    size_t rows = t->n_rows;
    tensor x[SHAPE_COLS];
    keel_input_column *cols = arena_alloc(a, t->n_cols * sizeof *cols);
    char *names = arena_alloc(a, t->names_len);
    if (!cols || !names) return false;
    memcpy(names, t->names, t->names_len);
    for (size_t j = 0; j < t->n_cols; j++) {
        const dtype *type = t->col_type[j];
        x[j] = (tensor){type, arena_zalloc(a, rows, col_size[type->col]), NULL, 0};
        if (!x[j].data) return false;
    }
    scan s = {body, body + n, a, NULL, 0};
    size_t lit = 0;
    for (size_t i = 0; i < t->n_slots; i++) {
        size_t len = t->lit_end[i] - lit;
        if ((size_t)(s.end - s.p) < len || memcmp(s.p, t->text + lit, len) != 0) return false;
        s.p += len;
        lit = t->lit_end[i];
        int col = t->slot_col[i];
        size_t id_len;
        if (col == SHAPE_ID ? !(nb->id = str_copy(&s, &id_len)) : !value_into(&s, &x[col], rows))
            return false;
    }
    size_t len = t->text_len - lit;
    if ((size_t)(s.end - s.p) != len || memcmp(s.p, t->text + lit, len) != 0) return false;
    for (size_t j = 0; j < t->n_cols; j++)
        cols[j] = (keel_input_column){names + t->name_at[j], x[j].t->col, x[j].data, x[j].missing};
    nb->cols = cols;
    nb->n_cols = t->n_cols;
    nb->n_rows = rows;
    return true;
}

bool serve_parse_v2_shaped(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    const v2_shape *t = &thread_shape;
    serve_batch nb = {0};
    memset(b, 0, sizeof *b);
    if (!body || !t->valid || n < t->text_len) return false;
    size_t head = t->n_slots ? t->lit_end[0] : t->text_len; /* most other bodies differ here */
    if (memcmp(body, t->text, head) != 0) return false;
    bool took = (nb.arena = keel_calloc(1, sizeof(arena))) != NULL && shaped_v2(body, n, t, &nb);
    return tier_done(took, &nb, b, err);
}

int serve_parse_v2(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    if (serve_parse_v2_shaped(body, n, b, err)) return KEEL_OK;
    if (serve_parse_v2_fast(body, n, b, err)) return KEEL_OK;
    return serve_parse_v2_slow(body, n, b, err);
}

/* ---- KServe v1 / TF-Serving -------------------------------------------------------------- */

/* "instances" or "inputs" (key, at the current path): records, or for "inputs" also a map
 * of column -> values. */
static int build_rows(ctx *c, const char *key, const keel_json *v, serve_batch *nb)
{
    size_t at = path_key(c, key, strlen(key));
    int rc;
    if (v->type == KEEL_JSON_ARRAY)
        rc = build_records(c, v, nb);
    else if (v->type == KEEL_JSON_OBJECT && strcmp(key, "inputs") == 0)
        rc = build_columnar(c, v, nb);
    else if (strcmp(key, "inputs") == 0)
        rc = bad(c,
                 "expected a list of rows ([{\"column\": value, ...}]) or an object of columns "
                 "({\"column\": [values]}), got %s",
                 describe(v).s);
    else
        rc = bad(c, "expected a list of rows ([{\"column\": value, ...}]), got %s", describe(v).s);
    if (rc == KEEL_OK) path_pop(c, at);
    return rc;
}

int serve_parse_v1(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    int rc = begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root, *instances, *inputs;
    if (rc || (rc = parse_json(&c, body, n, &root))) goto fail;
    if (root->type != KEEL_JSON_OBJECT) {
        rc = bad(&c, "the body must be a JSON object ({\"instances\": [...]}), got %s",
                 describe(root).s);
        goto fail;
    }
    if ((rc = member(&c, root, "instances", &instances)) ||
        (rc = member(&c, root, "inputs", &inputs)))
        goto fail;
    if (instances && inputs) {
        rc = bad(&c, "give \"instances\" or \"inputs\", not both");
        goto fail;
    }
    if (!instances && !inputs) {
        rc = bad(&c, "\"instances\" is required: a list of rows, each an object of column values "
                     "({\"instances\": [{\"column\": value, ...}]})");
        goto fail;
    }
    rc = instances ? build_rows(&c, "instances", instances, &nb)
                   : build_rows(&c, "inputs", inputs, &nb);
    if (rc) goto fail;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}

/* ---- MLflow scoring server ---------------------------------------------------------------- */

static bool token_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t'))
        (*p)++, (*n)--;
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* Content-Type: application/json or text/csv (case-insensitive), parameters charset=utf-8
 * only, as MLflow's scoring server accepts. *csv tells which. */
static int content_type(ctx *c, const char *ct, bool *csv)
{
    *csv = false;
    if (!ct) return KEEL_OK;
    const char *semi = strchr(ct, ';'), *p = ct;
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    trim(&p, &n);
    char shown[96] = "";
    if (token_is(p, n, "text/csv"))
        *csv = true;
    else if (!token_is(p, n, "application/json")) {
        quote_into(shown, sizeof shown, ct, strlen(ct), 60);
        return unsupported(c,
                           "unsupported Content-Type %s: /invocations accepts "
                           "application/json and text/csv",
                           shown);
    }
    while (semi) {
        p = semi + 1;
        semi = strchr(p, ';');
        n = semi ? (size_t)(semi - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        const char *name = p, *val = eq ? eq + 1 : p + n;
        size_t nn = eq ? (size_t)(eq - p) : n, vn = (size_t)(p + n - val);
        trim(&name, &nn);
        trim(&val, &vn);
        if (nn == 0 && vn == 0) continue; /* "application/json;" */
        if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') val++, vn -= 2;
        if (!token_is(name, nn, "charset")) {
            quote_into(shown, sizeof shown, name, nn, 40);
            return unsupported(c,
                               "unsupported Content-Type parameter %s (only charset=utf-8 is "
                               "accepted)",
                               shown);
        }
        if (!token_is(val, vn, "utf-8")) {
            quote_into(shown, sizeof shown, val, vn, 40);
            return unsupported(c, "unsupported charset %s: the scoring server reads UTF-8 only",
                               shown);
        }
    }
    return KEEL_OK;
}

/* CSV field k of rec: no NUL bytes, valid UTF-8. */
static int csv_field_ok(ctx *c, const keel_record *rec, size_t k)
{
    const keel_field *f = &rec->fields[k];
    const char *why = memchr(f->p, '\0', f->len)       ? "a NUL byte"
                      : !keel_utf8_valid(f->p, f->len) ? "bytes that are not UTF-8"
                                                       : NULL;
    if (!why) return KEEL_OK;
    uint64_t line, col;
    keel_record_position(rec, f->raw_off, &line, &col);
    return bad(c, "line %llu, column %llu: field %zu holds %s", (unsigned long long)line,
               (unsigned long long)col, k + 1, why);
}

static int csv_record_ok(ctx *c, const keel_record *rec)
{
    if (rec->problem == KEEL_RECORD_OK) return KEEL_OK;
    uint64_t line, col;
    keel_record_position(rec, rec->problem_off, &line, &col);
    const char *why = rec->problem == KEEL_RECORD_UNTERMINATED_QUOTE ? "a quoted field never ends"
                      : rec->problem == KEEL_RECORD_BAD_QUOTE
                          ? "text after a closing quote (write a quote inside a quoted field as "
                            "\"\")"
                          : "the record is too long";
    return bad(c, "line %llu, column %llu: %s", (unsigned long long)line, (unsigned long long)col,
               why);
}

/* text/csv: a header row naming the columns, then one row per record (RFC 4180). Values are
 * text; an empty unquoted field is missing, "" is the empty string. A row may have fewer
 * fields than the header (the rest are missing), not more. */
static int parse_csv(ctx *c, const char *body, size_t n, serve_batch *nb)
{
    keel_csv_options o;
    keel_csv_options_init(&o);
    o.max_record_bytes = KEEL_MAX(o.max_record_bytes, n + 16);
    keel_csv *r = NULL;
    keel_error e;
    const char **cells = NULL; /* row-major; keel_malloc'd scratch */
    size_t n_cells = 0, cap_cells = 0, rows = 0;
    table t = {0};
    keel_record rec;
    int rc = keel_csv_open_mem(body ? body : "", body ? n : 0, &o, &r, &e);
    if (rc) {
        rc = rc == KEEL_ENOMEM ? oom(c) : bad(c, "text/csv: %s", e.msg);
        goto done;
    }
    int got = keel_csv_next(r, &rec);
    if (got < 0) {
        rc = got == KEEL_ENOMEM ? oom(c) : bad(c, "text/csv: %s", keel_csv_errmsg(r));
        goto done;
    }
    if (got == 0) {
        rc = bad(c, "text/csv: the body is empty; the first line must name the columns");
        goto done;
    }
    if ((rc = csv_record_ok(c, &rec)) != KEEL_OK) goto done;
    for (size_t k = 0; k < rec.n_fields; k++) {
        const keel_field *f = &rec.fields[k];
        if ((rc = csv_field_ok(c, &rec, k)) != KEEL_OK) goto done;
        char shown[96] = "";
        quote_into(shown, sizeof shown, f->p, f->len, 40);
        if (f->len == 0) {
            rc = bad(c, "line %llu: column %zu of the header has no name",
                     (unsigned long long)rec.line, k + 1);
            goto done;
        }
        if (table_find(&t, f->p, f->len) != SIZE_MAX) {
            rc = bad(c, "line %llu: column %s is named twice in the header",
                     (unsigned long long)rec.line, shown);
            goto done;
        }
        char *name = arena_strndup(c->a, f->p, f->len);
        size_t j;
        if (!name) {
            rc = oom(c);
            goto done;
        }
        if ((rc = table_add(c, &t, name, f->len, &j)) != KEEL_OK) goto done;
    }
    while ((got = keel_csv_next(r, &rec)) == 1) {
        if ((rc = csv_record_ok(c, &rec)) != KEEL_OK) goto done;
        if (rec.n_fields > t.n) {
            rc = bad(c, "line %llu: %zu fields, but the header names %zu columns",
                     (unsigned long long)rec.line, rec.n_fields, t.n);
            goto done;
        }
        if (rows == SERVE_MAX_ROWS) {
            rc = too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
            goto done;
        }
        if (n_cells + t.n > MAX_CELLS) {
            rc = too_many(c, "at most %zu values (rows x columns) per request", MAX_CELLS);
            goto done;
        }
        if (n_cells + t.n > cap_cells) {
            size_t cap = KEEL_MAX(cap_cells * 2, KEEL_MAX(t.n, 64));
            const char **grown = keel_reallocarray(cells, cap, sizeof *cells);
            if (!grown) {
                rc = oom(c);
                goto done;
            }
            cells = grown;
            cap_cells = cap;
        }
        for (size_t k = 0; k < t.n; k++) {
            const keel_field *f = k < rec.n_fields ? &rec.fields[k] : NULL;
            const char *v = NULL;
            if (f && (f->len || f->quoted)) {
                if ((rc = csv_field_ok(c, &rec, k)) != KEEL_OK) goto done;
                if (!(v = arena_strndup(c->a, f->p, f->len))) {
                    rc = oom(c);
                    goto done;
                }
            }
            cells[n_cells + k] = v;
            t.cols[k].present += v != NULL;
        }
        n_cells += t.n;
        rows++;
    }
    if (got < 0) {
        rc = got == KEEL_ENOMEM ? oom(c) : bad(c, "text/csv: %s", keel_csv_errmsg(r));
        goto done;
    }
    /* Columns from the row-major cells. */
    for (size_t k = 0; k < t.n; k++) {
        colb *col = &t.cols[k];
        bool any_missing = col->present < rows;
        col->type = KEEL_COL_TEXT;
        const char **vals = arena_zalloc(c->a, rows, sizeof *vals);
        if (!vals || (any_missing && !(col->missing = arena_zalloc(c->a, rows, 1)))) {
            rc = oom(c);
            goto done;
        }
        for (size_t i = 0; i < rows; i++) {
            vals[i] = cells[i * t.n + k];
            if (!vals[i]) col->missing[i] = 1;
        }
        col->data = vals;
    }
    rc = columns_finish(c, &t, rows, nb);
done:
    keel_free(cells);
    keel_csv_close(r);
    return rc;
}

int serve_parse_mlflow(const char *content_type_value, const char *body, size_t n, serve_batch *b,
                       serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    bool csv;
    int rc = begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root;
    c.mlflow = true;
    if (rc || (rc = content_type(&c, content_type_value, &csv))) goto fail;
    if (csv) {
        if ((rc = parse_csv(&c, body, n, &nb)) != KEEL_OK) goto fail;
        *b = nb;
        return KEEL_OK;
    }
    if ((rc = parse_json(&c, body, n, &root)) != KEEL_OK) goto fail;
    static const char *const formats[] = {"dataframe_split", "dataframe_records", "instances",
                                          "inputs"};
    static const char need[] = "the body must be a JSON object with exactly one of "
                               "\"dataframe_split\", \"dataframe_records\", \"instances\" or "
                               "\"inputs\"";
    if (root->type != KEEL_JSON_OBJECT) {
        rc = bad(&c, "%s; got %s", need,
                 root->type == KEEL_JSON_ARRAY ? "a list" : describe(root).s);
        goto fail;
    }
    const keel_json *found = NULL, *v;
    const char *format = NULL;
    size_t n_found = 0;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(formats); i++) {
        if ((rc = member(&c, root, formats[i], &v)) != KEEL_OK) goto fail;
        if (v) found = v, format = formats[i], n_found++;
    }
    if (n_found != 1) {
        char keys[200] = "";
        size_t shown = 0;
        for (size_t i = 0; i < root->u.object.n && strlen(keys) + 60 < sizeof keys; i++, shown++) {
            const keel_json_member *m = &root->u.object.members[i];
            if (i) append(keys, sizeof keys, ", ");
            quote_into(keys, sizeof keys, m->key, m->key_len, 30);
        }
        if (shown < root->u.object.n) append(keys, sizeof keys, ", ...");
        rc = bad(&c, "%s; got keys [%s]", need, keys);
        goto fail;
    }
    if (strcmp(format, "dataframe_split") == 0) {
        path_key(&c, format, strlen(format));
        if (found->type != KEEL_JSON_OBJECT) {
            rc = bad(&c,
                     "expected an object ({\"columns\": [...], \"data\": [[...], ...]}), got "
                     "%s",
                     describe(found).s);
            goto fail;
        }
        rc = build_split(&c, found, &nb);
    } else if (strcmp(format, "dataframe_records") == 0) {
        path_key(&c, format, strlen(format));
        if (found->type != KEEL_JSON_ARRAY) {
            rc = bad(&c, "expected a list of records ([{\"column\": value, ...}]), got %s",
                     describe(found).s);
            goto fail;
        }
        rc = build_records(&c, found, &nb);
    } else {
        rc = build_rows(&c, format, found, &nb);
    }
    if (rc) goto fail;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}

/* ---- responses -------------------------------------------------------------------------- */

#define PUT(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != KEEL_OK) goto fail;                                                      \
    } while (0)

/* The shortest of %.6g .. %.9g that reads back as the same float (9 digits always do): 0.3
 * for 0.3f, not 0.30000001192092896 as the double would print. */
static int put_str(keel_buf *o, const char *s)
{
    if (!s) s = "";
    return keel_buf_json_str(o, s, strlen(s));
}

static bool is_regression(const keel_model *m)
{
    return strcmp(keel_model_task(m), "regression") == 0;
}

/* On failure the buffer is cut back to where the writer began. */
static int undo(keel_buf *out, size_t len, int rc)
{
    if (rc != KEEL_OK && out->data) {
        out->len = len;
        out->data[len] = '\0';
    }
    return rc;
}

int serve_write_v2(keel_buf *out, const char *model, const char *version, const char *id,
                   const keel_model *m, const float *pred, size_t n_rows)
{
    size_t start = out->len, k = keel_model_n_outputs(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"model_name\":"));
    PUT(put_str(out, model));
    if (version) {
        PUT(keel_buf_puts(out, ",\"model_version\":"));
        PUT(put_str(out, version));
    }
    if (id) {
        PUT(keel_buf_puts(out, ",\"id\":"));
        PUT(put_str(out, id));
    }
    if (is_regression(m)) {
        PUT(keel_buf_puts(out, ",\"outputs\":[{\"name\":\"prediction\",\"datatype\":\"FP64\","
                               "\"shape\":["));
        PUT(keel_buf_put_u64(out, n_rows));
        PUT(keel_buf_puts(out, "],\"data\":["));
        for (size_t r = 0; r < n_rows; r++) {
            if (r) PUT(keel_buf_putc(out, ','));
            PUT(keel_buf_json_float(out, pred[r * k]));
        }
        PUT(keel_buf_puts(out, "]}]}"));
        return KEEL_OK;
    }
    PUT(keel_buf_puts(out, ",\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\","
                           "\"shape\":["));
    PUT(keel_buf_put_u64(out, n_rows));
    PUT(keel_buf_puts(out, "],\"data\":["));
    for (size_t r = 0; r < n_rows; r++) {
        if (r) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, keel_model_output_name(m, keel_model_predicted_class(m, pred + r * k))));
    }
    PUT(keel_buf_puts(out, "]},{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":["));
    PUT(keel_buf_put_u64(out, n_rows));
    PUT(keel_buf_putc(out, ','));
    PUT(keel_buf_put_u64(out, k));
    PUT(keel_buf_puts(out, "],\"data\":["));
    for (size_t i = 0; i < n_rows * k; i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(keel_buf_json_float(out, pred[i]));
    }
    PUT(keel_buf_puts(out, "]}]}"));
    return KEEL_OK;
fail:
    return undo(out, start, rc);
}

/* {"predictions": [...]}: for v1 and MLflow alike. */
static int write_predictions(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    size_t start = out->len, k = keel_model_n_outputs(m);
    bool reg = is_regression(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"predictions\":["));
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = pred + r * k;
        if (r) PUT(keel_buf_putc(out, ','));
        if (reg) {
            PUT(keel_buf_json_float(out, row[0]));
            continue;
        }
        PUT(keel_buf_puts(out, "{\"label\":"));
        PUT(put_str(out, keel_model_output_name(m, keel_model_predicted_class(m, row))));
        PUT(keel_buf_puts(out, ",\"probabilities\":{"));
        for (size_t j = 0; j < k; j++) {
            if (j) PUT(keel_buf_putc(out, ','));
            PUT(put_str(out, keel_model_output_name(m, j)));
            PUT(keel_buf_putc(out, ':'));
            PUT(keel_buf_json_float(out, row[j]));
        }
        PUT(keel_buf_puts(out, "}}"));
    }
    PUT(keel_buf_puts(out, "]}"));
    return KEEL_OK;
fail:
    return undo(out, start, rc);
}

int serve_write_v1(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    return write_predictions(out, m, pred, n_rows);
}

int serve_write_mlflow(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    return write_predictions(out, m, pred, n_rows);
}

int serve_write_error(keel_buf *out, const char *msg)
{
    size_t start = out->len;
    int rc;
    PUT(keel_buf_puts(out, "{\"error\":"));
    PUT(put_str(out, msg));
    PUT(keel_buf_putc(out, '}'));
    return KEEL_OK;
fail:
    return undo(out, start, rc);
}

/* OIP datatype of a model input: numbers as FP64, booleans as BOOL, the rest as BYTES. */
static const char *input_datatype(const char *type)
{
    if (type && strcmp(type, "numeric") == 0) return "FP64";
    if (type && strcmp(type, "boolean") == 0) return "BOOL";
    return "BYTES";
}

int serve_write_v2_metadata(keel_buf *out, const char *model, const char *const *versions,
                            size_t n_versions, const keel_model *m)
{
    size_t start = out->len, k = keel_model_n_outputs(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"name\":"));
    PUT(put_str(out, model));
    PUT(keel_buf_puts(out, ",\"versions\":["));
    for (size_t i = 0; i < n_versions; i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, versions[i]));
    }
    PUT(keel_buf_puts(out, "],\"platform\":\"keel\",\"inputs\":["));
    for (size_t i = 0; i < keel_model_n_inputs(m); i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(keel_buf_puts(out, "{\"name\":"));
        PUT(put_str(out, keel_model_input_name(m, i)));
        PUT(keel_buf_printf(out, ",\"datatype\":\"%s\",\"shape\":[-1]}",
                            input_datatype(keel_model_input_type(m, i))));
    }
    if (is_regression(m)) {
        PUT(keel_buf_puts(out, "],\"outputs\":[{\"name\":\"prediction\",\"datatype\":\"FP64\","
                               "\"shape\":[-1]}]}"));
        return KEEL_OK;
    }
    PUT(keel_buf_printf(out,
                        "],\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\","
                        "\"shape\":[-1]},{\"name\":\"probabilities\",\"datatype\":\"FP32\","
                        "\"shape\":[-1,%zu],\"parameters\":{\"classes\":[",
                        k));
    for (size_t j = 0; j < k; j++) {
        if (j) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, keel_model_output_name(m, j)));
    }
    PUT(keel_buf_puts(out, "]}}]}"));
    return KEEL_OK;
fail:
    return undo(out, start, rc);
}

/* ---- explain requests --------------------------------------------------------------------- */

/* An explain request is a predict request (same parsers, same batch) plus optional
 * "parameters". They are read from the document the batch keeps, so a body is parsed once.
 * What needs no model is checked here (fuzzed with the parsers); what needs one (the task,
 * the class labels) is checked in serve_explain_options. */

enum { PARAM_METHOD = 1, PARAM_SCALE = 2, PARAM_TOP_K = 4, PARAM_CLASS = 8 };

static bool key_is(const keel_json_member *m, const char *key)
{
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

/* A string parameter's value (no NUL inside); *s NULL with an error otherwise. */
static int param_string(ctx *c, const keel_json *v, const char *expected, const char **s)
{
    *s = NULL;
    if (v->type != KEEL_JSON_STRING) return bad(c, "expected %s, got %s", expected, describe(v).s);
    if (memchr(v->u.string.s, '\0', v->u.string.len))
        return bad(c, "must not contain a NUL character");
    *s = v->u.string.s;
    return KEEL_OK;
}

int serve_parse_explain_params(const serve_batch *b, serve_explain_params *p, serve_error *err)
{
    serve_error dummy;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err ? err : &dummy;
    c.err->status = 0;
    c.err->msg[0] = '\0';
    p->method = -1;
    p->scale = KEEL_SCALE_DEFAULT;
    p->top_k = -1;
    p->class_label = NULL;
    const arena *a = b ? b->arena : NULL;
    const keel_json *root = a && a->doc ? keel_json_root(a->doc) : NULL, *params = NULL;
    if (!root || root->type != KEEL_JSON_OBJECT) return KEEL_OK; /* CSV, or no batch */
    int rc = member(&c, root, "parameters", &params);
    if (rc != KEEL_OK || !params) return rc;
    path_key(&c, "parameters", 10);
    if (params->type != KEEL_JSON_OBJECT)
        return bad(&c, "expected an object such as {\"method\": \"ig\"}, got %s",
                   describe(params).s);
    unsigned seen = 0;
    for (size_t i = 0; i < params->u.object.n; i++) {
        const keel_json_member *m = &params->u.object.members[i];
        const keel_json *v = &m->value;
        unsigned which = key_is(m, "method")  ? PARAM_METHOD
                         : key_is(m, "scale") ? PARAM_SCALE
                         : key_is(m, "top_k") ? PARAM_TOP_K
                         : key_is(m, "class") ? PARAM_CLASS
                                              : 0;
        size_t at = path_key(&c, m->key, m->key_len);
        if (!which)
            return bad(&c, "unknown parameter (an explanation takes \"method\", \"scale\", "
                           "\"top_k\" and \"class\")");
        if (seen & which) return bad(&c, "given twice");
        seen |= which;
        const char *s;
        switch (which) {
        case PARAM_METHOD:
            if ((rc = param_string(&c, v, "\"ig\" or \"shapley\"", &s)) != KEEL_OK) return rc;
            if ((p->method = keel_explain_method_from_name(s)) < 0)
                return bad(&c,
                           "unknown method %s (use \"ig\", \"integrated_gradients\" or "
                           "\"shapley\")",
                           describe(v).s);
            break;
        case PARAM_SCALE: {
            if ((rc = param_string(&c, v, "\"log_odds\", \"probability\" or \"value\"", &s)))
                return rc;
            int k = keel_explain_scale_from_name(s);
            if (k < KEEL_SCALE_DEFAULT || k > KEEL_SCALE_VALUE)
                return bad(&c,
                           "unknown scale %s (use \"log_odds\" or \"probability\" for a "
                           "classifier, \"value\" for a regression model)",
                           describe(v).s);
            p->scale = k;
            break;
        }
        case PARAM_TOP_K: {
            if (v->type != KEEL_JSON_NUMBER)
                return bad(&c, "expected a number of reasons (0 to %d), got %s",
                           KEEL_EXPLAIN_MAX_REASONS, describe(v).s);
            int64_t k;
            if ((rc = read_int(&c, v, "top_k", 0, KEEL_EXPLAIN_MAX_REASONS, &k)) != KEEL_OK)
                return rc;
            p->top_k = (long)k;
            break;
        }
        default: /* PARAM_CLASS: a label; a number stands for the label written the same */
            if (v->type == KEEL_JSON_NUMBER) {
                p->class_label = v->u.number.text;
                break;
            }
            if ((rc = param_string(&c, v, "a class label (a string)", &s)) != KEEL_OK) return rc;
            p->class_label = s;
            break;
        }
        path_pop(&c, at);
    }
    return KEEL_OK;
}

int serve_explain_options(const serve_explain_params *p, const keel_model *m, size_t n_rows,
                          keel_explain_options *o, serve_error *err)
{
    serve_error dummy;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err ? err : &dummy;
    c.err->status = 0;
    c.err->msg[0] = '\0';
    keel_explain_options_init(o);
    bool reg = is_regression(m);
    if (p->method >= 0) o->method = (keel_explain_method)p->method;
    if (p->top_k >= 0) o->top_k = (size_t)p->top_k;
    if (p->scale != KEEL_SCALE_DEFAULT) {
        path_key(&c, "parameters", 10);
        path_key(&c, "scale", 5);
        if (reg && p->scale != KEEL_SCALE_VALUE)
            return bad(&c,
                       "\"%s\" is for classifiers; a regression model is explained on the "
                       "\"value\" scale",
                       keel_explain_scale_name((keel_explain_scale)p->scale));
        if (!reg && p->scale == KEEL_SCALE_VALUE)
            return bad(&c, "\"value\" is for regression models; a classifier is explained as "
                           "\"log_odds\" or \"probability\"");
        o->scale = (keel_explain_scale)p->scale;
        path_pop(&c, 0);
    }
    if (p->class_label) {
        path_key(&c, "parameters", 10);
        path_key(&c, "class", 5);
        if (reg) return bad(&c, "a regression model has no classes");
        size_t k = keel_model_n_outputs(m), j;
        for (j = 0; j < k; j++)
            if (strcmp(keel_model_output_name(m, j), p->class_label) == 0) break;
        if (j == k) {
            char shown[96] = "", labels[200] = "";
            quote_into(shown, sizeof shown, p->class_label, strlen(p->class_label), 40);
            for (size_t i = 0; i < k && strlen(labels) + 50 < sizeof labels; i++) {
                const char *l = keel_model_output_name(m, i);
                if (i) append(labels, sizeof labels, ", ");
                quote_into(labels, sizeof labels, l, strlen(l), 30);
                if (i + 1 < k && strlen(labels) + 50 >= sizeof labels)
                    append(labels, sizeof labels, ", ...");
            }
            return bad(&c, "unknown class %s (the model's classes are %s)", shown, labels);
        }
        o->class_index = (long)j;
        path_pop(&c, 0);
    }
    size_t limit = o->method == KEEL_EXPLAIN_SHAPLEY ? SERVE_EXPLAIN_MAX_ROWS_SHAPLEY
                                                     : SERVE_EXPLAIN_MAX_ROWS_IG;
    if (n_rows > limit) {
        snprintf(c.err->msg, sizeof c.err->msg,
                 "%zu rows; an explain request with method %s takes at most %zu (send the rows "
                 "in several requests)",
                 n_rows, keel_explain_method_name(o->method), limit);
        c.err->status = 413;
        return KEEL_ELIMIT;
    }
    return KEEL_OK;
}

/* A float's text as keel_model_predict_columns writes it for a non-numeric input: whole
 * numbers below 10^7 as integers, else the shortest of %.6g .. %.9g that reads back. */
static void float_text(float x, char *buf)
{
    if (fabsf(x) < 1e7f && x == (float)(int64_t)x) {
        snprintf(buf, SERVE_FIELD_TEXT, "%lld", (long long)x);
        return;
    }
    _Static_assert(SERVE_FIELD_TEXT >= KEEL_FLOAT_TEXT, "a float's text fits a field");
    keel_float_text(x, buf);
}

static bool numeric_input(const keel_model *m, const char *name)
{
    long i = keel_model_input_index(m, name, strlen(name));
    const char *type = i >= 0 ? keel_model_input_type(m, (size_t)i) : NULL;
    return !type || strcmp(type, "numeric") == 0; /* not an input: refused later anyway */
}

void serve_batch_row_fields(const serve_batch *b, const keel_model *m, size_t r,
                            keel_named_value *fields, char *scratch)
{
    for (size_t j = 0; j < b->n_cols; j++) {
        const keel_input_column *col = &b->cols[j];
        keel_named_value *f = &fields[j];
        char *t = scratch + j * SERVE_FIELD_TEXT;
        f->name = col->name;
        f->text = NULL;
        f->number = NAN;
        if (col->missing && col->missing[r]) continue;
        switch (col->type) {
        case KEEL_COL_TEXT:
            f->text = ((const char *const *)col->data)[r];
            break;
        case KEEL_COL_F64:
            f->number = ((const double *)col->data)[r];
            break;
        case KEEL_COL_F32: {
            float v = ((const float *)col->data)[r];
            if (isfinite(v) && !numeric_input(m, col->name)) {
                float_text(v, t);
                f->text = t;
            } else {
                f->number = v;
            }
            break;
        }
        case KEEL_COL_I64: {
            /* Whole doubles below 10^15 are written as integers: exact below that. */
            int64_t v = ((const int64_t *)col->data)[r];
            if (v > -1000000000000000 && v < 1000000000000000) {
                f->number = (double)v;
            } else {
                snprintf(t, SERVE_FIELD_TEXT, "%lld", (long long)v);
                f->text = t;
            }
            break;
        }
        case KEEL_COL_I32:
            f->number = ((const int32_t *)col->data)[r];
            break;
        default: /* KEEL_COL_BOOL */
            f->text = ((const unsigned char *)col->data)[r] ? "1" : "0";
            break;
        }
    }
}

int serve_write_explain_v1_head(keel_buf *out)
{
    return keel_buf_puts(out, "{\"explanations\":[");
}

int serve_write_explain_v2_head(keel_buf *out, const char *model, const char *version,
                                const char *id)
{
    size_t start = out->len;
    int rc;
    PUT(keel_buf_puts(out, "{\"model_name\":"));
    PUT(put_str(out, model));
    if (version) {
        PUT(keel_buf_puts(out, ",\"model_version\":"));
        PUT(put_str(out, version));
    }
    if (id) {
        PUT(keel_buf_puts(out, ",\"id\":"));
        PUT(put_str(out, id));
    }
    PUT(keel_buf_puts(out, ",\"explanations\":["));
    return KEEL_OK;
fail:
    return undo(out, start, rc);
}

int serve_write_explain_tail(keel_buf *out)
{
    return keel_buf_puts(out, "]}");
}
