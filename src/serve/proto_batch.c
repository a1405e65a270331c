/*
 * proto_batch.c — the batch builder that every request parser of the protocol layer uses: the
 * batch's arena, the parse context with its locations and error messages, the table of
 * column names. The parsers themselves are in proto_rows.c (KServe v1, MLflow), proto_v2.c
 * and proto_v2_fast.c (OIP v2); proto_impl.h lists the files.
 *
 * Design. A parser checks the whole request and builds a serve_batch whose memory all lives
 * in one arena owned by the batch: a list of blocks from keel_malloc, plus the parsed JSON
 * document, which stays alive so that column names, strings and the exact text of numbers
 * are borrowed, not copied. Nothing is handed back until everything has been checked; on any
 * error the arena goes at once and *b stays zeroed, so a caller never sees half a batch.
 *
 * Errors name the place with a JSON-path-like location ("inputs[1].data[3]: ..."), built in
 * a fixed buffer as the walk goes down and up, so that reporting an error never allocates.
 * Keys and values quoted in messages are escaped and cut short.
 *
 * Columns are found by name in a small open-addressing hash table that lives in the arena;
 * it finds repeated names and keeps the columns in order of first appearance.
 */
#include "serve/proto_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the batch's arena ------------------------------------------------------------------ */

#define ARENA_ALIGN 16
#define ARENA_BLOCK ((size_t)32 << 10)
#define ARENA_HDR   ((sizeof(arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

/* n bytes aligned for any type; NULL when out of memory. Requests over a quarter of a block
 * get a block of their own, linked behind the current one so its free space is not lost. */
void *proto_arena_alloc(arena *a, size_t n)
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

static void path_put(ctx *c, const char *s, size_t n)
{
    size_t room = sizeof c->path - 1 - c->path_len;
    if (n > room) n = room;
    memcpy(c->path + c->path_len, s, n);
    c->path_len += n;
    c->path[c->path_len] = '\0';
}

/* Each push returns the length to give path_pop to go back up. */
size_t proto_path_index(ctx *c, size_t i)
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
size_t proto_path_key(ctx *c, const char *key, size_t n)
{
    size_t old = c->path_len;
    char t[96] = "";
    if (is_identifier(key, n)) {
        if (c->path_len) path_put(c, ".", 1);
        path_put(c, key, n);
        return old;
    }
    keel_quote_into(t, sizeof t, key, n, 40);
    path_put(c, "[", 1);
    path_put(c, t, strlen(t));
    path_put(c, "]", 1);
    return old;
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

int proto_bad(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_EPARSE, 400, fmt, ap);
    va_end(ap);
    return rc;
}

int proto_too_many(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_ELIMIT, 400, fmt, ap);
    va_end(ap);
    return rc;
}

int proto_unsupported(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, KEEL_EFORMAT, 415, fmt, ap);
    va_end(ap);
    return rc;
}

int proto_oom(ctx *c)
{
    path_pop(c, 0);
    snprintf(c->err->msg, sizeof c->err->msg, "out of memory while reading the request");
    c->err->status = 500;
    return KEEL_ENOMEM;
}

/* Starts a parse: *b zeroed, err cleared, a fresh batch with its arena in *nb. */
int proto_begin(ctx *c, serve_batch *b, serve_batch *nb, serve_error *err)
{
    if (b) memset(b, 0, sizeof *b);
    memset(nb, 0, sizeof *nb);
    c->err = err;
    c->err->status = 0;
    c->err->msg[0] = '\0';
    c->path_len = 0;
    c->path[0] = '\0';
    c->mlflow = false;
    c->body_len = 0;
    c->a = keel_calloc(1, sizeof(arena));
    if (!c->a) return proto_oom(c);
    nb->arena = c->a;
    return KEEL_OK;
}

int proto_parse_json(ctx *c, const char *body, size_t n, const keel_json **root)
{
    *root = NULL;
    c->body_len = n;
    c->a->doc = keel_json_doc_new();
    if (!c->a->doc) return proto_oom(c);
    keel_error e;
    int rc = keel_json_parse(c->a->doc, body ? body : "", body ? n : 0, &e);
    if (rc == KEEL_ENOMEM) return proto_oom(c);
    if (rc != KEEL_OK) return proto_bad(c, "malformed JSON: %s", e.msg);
    *root = keel_json_root(c->a->doc);
    return KEEL_OK;
}

/* The member key of object obj (found once at most: a key given twice is an error). */
int proto_member(ctx *c, const keel_json *obj, const char *key, const keel_json **out)
{
    *out = NULL;
    size_t kn = strlen(key);
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        if (m->key_len != kn || memcmp(m->key, key, kn) != 0) continue;
        if (*out) {
            size_t at = proto_path_key(c, key, kn);
            int rc = proto_bad(c, "given twice");
            path_pop(c, at);
            return rc;
        }
        *out = &m->value;
    }
    return KEEL_OK;
}

/* ---- the table of column names ---------------------------------------------------------- */

uint32_t *proto_table_slot(const table *t, const char *name, size_t len)
{
    size_t mask = t->n_slots - 1, i = (size_t)keel_hash64(name, len, 0x5eed) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];
        if (s == 0) return &t->slots[i];
        const colb *col = &t->cols[s - 1];
        if (col->name_len == len && memcmp(col->name, name, len) == 0) return &t->slots[i];
    }
}

/* Adds a new column named name (the caller has checked that it is absent). The name is
 * borrowed: it must live as long as the batch. */
int proto_table_add(ctx *c, table *t, const char *name, size_t len, size_t *idx)
{
    if (t->n >= SERVE_MAX_COLS)
        return proto_too_many(c, "at most %d columns per request", SERVE_MAX_COLS);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        colb *cols = arena_zalloc(c->a, cap, sizeof *cols);
        if (!cols) return proto_oom(c);
        if (t->n) memcpy(cols, t->cols, t->n * sizeof *cols);
        t->cols = cols; /* the old array stays in the arena: at most as much again */
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->n_slots) {
        size_t n_slots = t->n_slots ? t->n_slots * 2 : 32;
        uint32_t *slots = arena_zalloc(c->a, n_slots, sizeof *slots);
        if (!slots) return proto_oom(c);
        t->slots = slots;
        t->n_slots = n_slots;
        for (size_t i = 0; i < t->n; i++)
            *proto_table_slot(t, t->cols[i].name, t->cols[i].name_len) = (uint32_t)(i + 1);
    }
    colb *col = &t->cols[t->n];
    memset(col, 0, sizeof *col);
    col->name = name;
    col->name_len = len;
    *proto_table_slot(t, name, len) = (uint32_t)(t->n + 1);
    *idx = t->n++;
    return KEEL_OK;
}
