/*
 * proto_v2_fast.c — serve_parse_v2, and the two tiers it tries before the slow path
 * (proto_v2.c): a body shaped like the last one the fast path took on this thread
 * (serve_parse_v2_shaped: the same bytes around other values, as one client's requests are,
 * read by comparing those bytes and reading only the values), then the single-pass fast path
 * (serve_parse_v2_fast). Both are the hot code of the server's commonest request; they live
 * in one file so that the compiler sees the scanner's small functions together.
 *
 * Design. The slow path (proto_v2.c) builds base/json.c's generic tree and then walks it,
 * so every value is visited twice and gets a node of its own. Nearly every real request has
 * one shape, an object whose "inputs" are tensor objects with a plain name, shape, datatype
 * and flat or nested data, so serve_parse_v2 first tries this scanner: it reads the body
 * once, left to right, and writes each value straight into its column in the batch's arena.
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
#include "serve/proto_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    char *o = proto_arena_alloc(s->a, n + 1); /* n < the body's size: no overflow */
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
            ok = str_raw(s, &v, &vn, &esc) && (t = proto_find_dtype(v, vn)) != NULL;
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
                if (proto_table_add(&c, &names, nb->cols[j].name, lens[j], &idx) != KEEL_OK)
                    return false;
            if (table_find(&names, col->name, len) != SIZE_MAX ||
                proto_table_add(&c, &names, col->name, len, &idx) != KEEL_OK) /* SERVE_MAX_COLS */
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
    char *text = proto_arena_alloc(a, len); /* n < the body's size: no overflow */
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
    keel_input_column *cols = proto_arena_alloc(a, t->n_cols * sizeof *cols);
    char *names = proto_arena_alloc(a, t->names_len);
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
