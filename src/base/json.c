/*
 * json.c — a strict RFC 8259 parser into a read-only tree held in one arena.
 *
 * Parsing is recursive descent over text[0..n); the depth limit (256) bounds the recursion,
 * so a hostile document cannot exhaust the C stack. Nothing is allocated per node:
 *
 *   - Every string, number text and child array lives in the doc's arena, a chain of blocks
 *     that bump-allocate. keel_json_parse rewinds the arena but keeps its blocks, so a doc
 *     that parses one JSON Lines record after another stops calling malloc once it has seen
 *     its largest record. Blocks beyond ARENA_KEEP bytes are given back on the rewind, so one
 *     huge document does not pin its memory for the life of a long-running reader.
 *   - The children of an array or object are collected on a scratch stack shared by all
 *     levels: each child gets the next slot before it is parsed, and a child container's own
 *     children sit above that slot until it closes. When the closing bracket arrives the
 *     children are copied into the arena with exactly their size and popped.
 *
 * Strings are scanned once to find the closing quote (eight bytes at a time while no quote,
 * backslash or control byte is in sight), then validated as UTF-8 only if a byte >= 0x80 was
 * seen, then copied — with memcpy when there are no escapes, else through the unescaper,
 * which can only shrink the text, so reserving the raw length up front is always enough.
 *
 * Numbers are checked against the grammar here; the value comes from strtod on the exact
 * text copied into the arena, except that the common short forms (at most 19 significant
 * digits forming an integer below 2^53, scaled by at most 10^22) are computed directly:
 * both operands are then exact doubles and one IEEE multiply or divide rounds correctly,
 * which is what a correct strtod returns too (Clinger's fast path; the fuzz target checks
 * every number against strtod). strtod honours the locale's decimal point; keel never calls
 * setlocale, so the "C" locale and its '.' apply.
 *
 * Errors are located lazily: only when a parse fails is the text before the error scanned
 * to turn a byte offset into "line L, column C" (1-based, columns in bytes, lines ended by
 * '\n'). A byte-order mark is not JSON text (RFC 8259 §8.1 allows rejecting it), so it is
 * reported like any other unexpected byte.
 */
#include "base/json.h"

#include <stdio.h>

#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

#define ARENA_FIRST ((size_t)4 << 10)  /* first block's payload */
#define ARENA_MAX   ((size_t)64 << 20) /* ordinary blocks grow no larger than this */
#define ARENA_KEEP  ((size_t)8 << 20)  /* blocks kept across parses, in bytes */
#define STACK_KEEP  ((size_t)1 << 16)  /* scratch entries kept across parses */

typedef struct block {
    struct block *next;
    size_t cap;  /* payload bytes */
    size_t used; /* payload bytes handed out since the last rewind */
    unsigned char data[];
} block;

/* Payloads start 8-aligned (malloc aligns at least that much; the header is 3 words), and
 * offsets are rounded to the requested alignment, which is never more than 8. */
static_assert(offsetof(block, data) % 8 == 0, "block payload must be 8-aligned");
static_assert(alignof(keel_json) <= 8 && alignof(keel_json_member) <= 8, "node alignment");

struct keel_json_doc {
    block *head; /* the first block; blocks are reused in list order */
    block *cur;  /* the block being filled; blocks after it are free */
    size_t total;
    keel_json_member *stack; /* scratch: children of the open arrays and objects */
    size_t n_stack, cap_stack;
    keel_json root;
    bool has_root;
};

typedef struct parser {
    const char *start, *p, *end;
    keel_json_doc *d;
    keel_error *e;
    int depth;
} parser;

/* ---- arena ----------------------------------------------------------------------------- */

static void arena_rewind(keel_json_doc *d)
{
    /* Keep blocks from the head while they fit in ARENA_KEEP; free the rest. */
    block **link = &d->head;
    size_t kept = 0;
    while (*link && kept + (*link)->cap <= ARENA_KEEP) {
        kept += (*link)->cap;
        link = &(*link)->next;
    }
    block *rest = *link;
    *link = NULL;
    while (rest) {
        block *next = rest->next;
        keel_free(rest);
        rest = next;
    }
    d->total = kept;
    d->cur = d->head;
    if (d->cur) d->cur->used = 0;
}

/* The slow path of arena_alloc: the current block is full (or there is none). */
static void *arena_alloc_block(keel_json_doc *d, size_t size)
{
    block *b = d->cur;
    /* The next kept block is empty; take it if it is big enough. */
    if (b && b->next && b->next->cap >= size) {
        d->cur = b->next;
        d->cur->used = size;
        return d->cur->data;
    }
    /* A new block, inserted after the current one so that kept blocks stay usable. Growth
     * doubles the total (amortised O(1) mallocs per byte) up to ARENA_MAX per block; a
     * larger single request gets a block of its own size. */
    size_t cap = d->total < ARENA_FIRST ? ARENA_FIRST : KEEL_MIN(d->total, ARENA_MAX);
    if (cap < size) cap = size;
    size_t bytes;
    if (!keel_size_add(cap, sizeof(block), &bytes)) return NULL;
    block *nb = keel_malloc(bytes);
    if (!nb) return NULL;
    nb->cap = cap;
    nb->used = size;
    if (b) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = NULL;
        d->head = nb;
    }
    d->cur = nb;
    d->total += cap;
    return nb->data;
}

/* Returns size bytes aligned to align (a power of two <= 8), or NULL when out of memory. */
static inline void *arena_alloc(keel_json_doc *d, size_t size, size_t align)
{
    block *b = d->cur;
    if (KEEL_LIKELY(b != NULL)) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (KEEL_LIKELY(off <= b->cap && b->cap - off >= size)) {
            b->used = off + size;
            return b->data + off;
        }
    }
    return arena_alloc_block(d, size);
}

/* Gives back the unused tail of the most recent allocation p (old bytes, now keep). */
static void arena_shrink_last(keel_json_doc *d, void *p, size_t old, size_t keep)
{
    block *b = d->cur;
    if ((unsigned char *)p + old == b->data + b->used) b->used -= old - keep;
}

/* ---- errors ---------------------------------------------------------------------------- */

/* Reports code with "line L, column C: <message>" for the byte at (or end of input). */
static int fail_at(const parser *ps, const char *at, int code, const char *fmt, ...)
    KEEL_PRINTF(4, 5);
static int fail_at(const parser *ps, const char *at, int code, const char *fmt, ...)
{
    size_t line = 1;
    const char *bol = ps->start;
    for (const char *q = ps->start; q < at;) {
        const char *nl = memchr(q, '\n', (size_t)(at - q));
        if (!nl) break;
        line++;
        bol = q = nl + 1;
    }
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return keel_error_set(ps->e, code, "line %zu, column %zu: %s", line, (size_t)(at - bol) + 1,
                          what);
}

/* Describes the byte at q for a message: 'x', byte 0xNN, or end of input. */
static const char *describe(const parser *ps, const char *q, char buf[16])
{
    if (q >= ps->end) return "end of input";
    unsigned char c = (unsigned char)*q;
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 16, "'%c'", c);
    else
        snprintf(buf, 16, "byte 0x%02X", c);
    return buf;
}

static int fail_expected(const parser *ps, const char *at, const char *expected)
{
    char buf[16];
    return fail_at(ps, at, KEEL_EPARSE, "expected %s, found %s", expected, describe(ps, at, buf));
}

static int fail_nomem(const parser *ps)
{
    return fail_at(ps, ps->p, KEEL_ENOMEM, "out of memory");
}

/* ---- scanning -------------------------------------------------------------------------- */

static inline void skip_ws(parser *ps)
{
    const char *p = ps->p, *end = ps->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* Nonzero iff one of the eight bytes of w is '"', '\\' or below 0x20. Each term is the
 * classic "has a zero byte" test, exact as a yes/no answer for the word as a whole. */
static inline uint64_t string_stop(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"');
    uint64_t b = w ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGH;
}

/* The memory index of the first flagged byte of a string_stop() word. The flag of the first
 * stop byte is exact (borrows only run towards later bytes), so this finds it. */
static inline unsigned first_flagged_byte(uint64_t stop)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(stop) >> 3;
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (unsigned)__builtin_clzll(stop) >> 3;
#else
    (void)stop;
    return 0; /* unknown byte order: let the byte loop find it */
#endif
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];
        uint32_t x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            x = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | x;
    }
    *out = v;
    return 0;
}

/* Rewrites the escaped body raw[0..n) into o and sets *out_len; returns false with the
 * error reported. The scanner has already checked that every backslash has a successor. */
static bool unescape(const parser *ps, const char *raw, size_t n, char *o, size_t *out_len)
{
    const char *p = raw, *end = raw + n;
    char *o0 = o;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        p = bs + 1;
        switch (*p++) {
        case '"':
            *o++ = '"';
            continue;
        case '\\':
            *o++ = '\\';
            continue;
        case '/':
            *o++ = '/';
            continue;
        case 'b':
            *o++ = '\b';
            continue;
        case 'f':
            *o++ = '\f';
            continue;
        case 'n':
            *o++ = '\n';
            continue;
        case 'r':
            *o++ = '\r';
            continue;
        case 't':
            *o++ = '\t';
            continue;
        case 'u':
            break;
        default: {
            char buf[16];
            fail_at(ps, bs, KEEL_EPARSE, "invalid escape: '\\' followed by %s",
                    describe(ps, bs + 1, buf));
            return false;
        }
        }
        uint32_t cp;
        if (end - p < 4 || hex4(p, &cp) != 0) {
            fail_at(ps, bs, KEEL_EPARSE, "expected 4 hex digits after \\u");
            return false;
        }
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            uint32_t lo;
            if (cp >= 0xDC00 || end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                hex4(p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                fail_at(ps, bs, KEEL_EPARSE, "lone surrogate \\u%04X", (unsigned)cp);
                return false;
            }
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | cp >> 12);
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | cp >> 18);
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *out_len = (size_t)(o - o0);
    return true;
}

/* Parses the string whose opening quote is at ps->p into the arena. */
static int parse_string(parser *ps, const char **out, size_t *out_len)
{
    const char *open = ps->p;
    const char *raw = open + 1, *p = raw, *end = ps->end;
    uint64_t high = 0;
    bool escapes = false;
    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t stop = string_stop(w);
            high |= w; /* may include bytes past the stop: at worst a needless validation */
            if (stop) {
                p += first_flagged_byte(stop);
                break;
            }
            p += 8;
        }
        if (p >= end) return fail_at(ps, open, KEEL_EPARSE, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c == '\\') {
            if (end - p < 2) return fail_at(ps, open, KEEL_EPARSE, "unterminated string");
            escapes = true;
            p += 2;
        } else if (c < 0x20) {
            return fail_at(ps, p, KEEL_EPARSE,
                           "control character 0x%02X in a string (must be escaped)", c);
        } else {
            high |= c;
            p++;
        }
    }
    size_t n = (size_t)(p - raw);
    ps->p = p + 1;
    if (high & HIGH) {
        size_t ok = keel_utf8_valid_prefix(raw, n);
        if (ok != n)
            return fail_at(ps, raw + ok, KEEL_EPARSE, "invalid UTF-8 (byte 0x%02X) in a string",
                           (unsigned char)raw[ok]);
    }
    char *s = arena_alloc(ps->d, n + 1, 1);
    if (!s) return fail_nomem(ps);
    size_t len = n;
    if (!escapes) {
        memcpy(s, raw, n);
    } else {
        if (!unescape(ps, raw, n, s, &len)) return KEEL_EPARSE;
        arena_shrink_last(ps->d, s, n + 1, len + 1);
    }
    s[len] = '\0';
    *out = s;
    *out_len = len;
    return KEEL_OK;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline bool is_digit(const char *p, const char *end)
{
    return p < end && (unsigned char)(*p - '0') < 10;
}

static int parse_number(parser *ps, keel_json *out)
{
    const char *s = ps->p, *p = s, *end = ps->end;
    bool neg = false;
    uint64_t m = 0;    /* the digits as an integer, while it fits */
    bool fits = true;  /* m holds every digit */
    int64_t scale = 0; /* value = m * 10^scale, when fits */
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!is_digit(p, end)) return fail_expected(ps, p, neg ? "a digit after '-'" : "a digit");
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return fail_at(ps, s, KEEL_EPARSE, "leading zeros are not allowed in numbers");
    } else {
        for (; is_digit(p, end); p++) {
            if (m < 1000000000000000000ULL) /* 10^18: one more digit cannot overflow */
                m = m * 10 + (uint64_t)(*p - '0');
            else
                fits = false;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end)) return fail_expected(ps, p, "a digit after '.'");
        for (; is_digit(p, end); p++) {
            if (m < 1000000000000000000ULL) {
                m = m * 10 + (uint64_t)(*p - '0');
                scale--;
            } else {
                fits = false;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (!is_digit(p, end)) return fail_expected(ps, p, "a digit in the exponent");
        int64_t ex = 0;
        for (; is_digit(p, end); p++)
            if (ex < 100000) ex = ex * 10 + (*p - '0');
        scale += eneg ? -ex : ex;
    }
    size_t len = (size_t)(p - s);
    char *text = arena_alloc(ps->d, len + 1, 1);
    if (!text) return fail_nomem(ps);
    memcpy(text, s, len);
    text[len] = '\0';
    double v;
    if (fits && m <= ((uint64_t)1 << 53) && scale >= -22 && scale <= 22) {
        v = scale < 0 ? (double)m / pow10_exact[-scale] : (double)m * pow10_exact[scale];
        if (neg) v = -v;
    } else {
        /* Out-of-range magnitudes give ±HUGE_VAL or a (sub)normal/zero, as strtod says;
         * the exact text is kept either way. */
        v = strtod(text, NULL);
    }
    out->type = KEEL_JSON_NUMBER;
    out->u.number.value = v;
    out->u.number.text = text;
    out->u.number.len = len;
    ps->p = p;
    return KEEL_OK;
}

static int parse_literal(parser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        char what[16];
        snprintf(what, sizeof what, "'%s'", word);
        return fail_expected(ps, ps->p, what);
    }
    ps->p += n;
    return KEEL_OK;
}

/* ---- values ---------------------------------------------------------------------------- */

static int parse_value(parser *ps, keel_json *out);
static int parse_array(parser *ps, keel_json *out);
static int parse_object(parser *ps, keel_json *out);

static int stack_grow(parser *ps)
{
    keel_json_doc *d = ps->d;
    size_t cap = d->cap_stack ? d->cap_stack * 2 : 64;
    keel_json_member *s = keel_reallocarray(d->stack, cap, sizeof *s);
    if (!s) return fail_nomem(ps);
    d->stack = s;
    d->cap_stack = cap;
    return KEEL_OK;
}

/* Reserves the next scratch slot; returns its index, or SIZE_MAX when out of memory. */
static inline size_t stack_reserve(parser *ps)
{
    keel_json_doc *d = ps->d;
    if (KEEL_UNLIKELY(d->n_stack == d->cap_stack) && stack_grow(ps) != KEEL_OK) return SIZE_MAX;
    return d->n_stack++;
}

/* Parses a value into scratch slot idx. Scalars are written in place (building them in a
 * local and copying costs a store-forwarding stall per value); a container is built in a
 * local because its children may move the scratch stack while it is parsed. */
static int parse_child(parser *ps, size_t idx)
{
    skip_ws(ps);
    if (ps->p < ps->end && (*ps->p == '[' || *ps->p == '{')) {
        keel_json tmp;
        int rc = *ps->p == '[' ? parse_array(ps, &tmp) : parse_object(ps, &tmp);
        ps->d->stack[idx].value = tmp;
        return rc;
    }
    return parse_value(ps, &ps->d->stack[idx].value);
}

static int enter(parser *ps)
{
    if (++ps->depth > MAX_DEPTH)
        return fail_at(ps, ps->p, KEEL_ELIMIT, "nesting deeper than %d levels", MAX_DEPTH);
    ps->p++; /* the bracket */
    skip_ws(ps);
    return KEEL_OK;
}

static int parse_array(parser *ps, keel_json *out)
{
    int rc = enter(ps);
    if (rc) return rc;
    keel_json_doc *d = ps->d;
    size_t base = d->n_stack;
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            size_t idx = stack_reserve(ps);
            if (idx == SIZE_MAX) return KEEL_ENOMEM;
            if ((rc = parse_child(ps, idx))) return rc;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ']')
                    return fail_at(ps, ps->p, KEEL_EPARSE,
                                   "expected a value after ',' (no trailing commas)");
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            return fail_expected(ps, ps->p, "',' or ']'");
        }
    }
    size_t n = d->n_stack - base;
    keel_json *items = NULL;
    if (n) {
        /* n * sizeof(keel_json) cannot overflow: n stack entries, each larger, exist. */
        items = arena_alloc(d, n * sizeof *items, alignof(keel_json));
        if (!items) return fail_nomem(ps);
        for (size_t i = 0; i < n; i++)
            items[i] = d->stack[base + i].value;
    }
    d->n_stack = base;
    ps->depth--;
    out->type = KEEL_JSON_ARRAY;
    out->u.array.items = items;
    out->u.array.n = n;
    return KEEL_OK;
}

static int parse_object(parser *ps, keel_json *out)
{
    int rc = enter(ps);
    if (rc) return rc;
    keel_json_doc *d = ps->d;
    size_t base = d->n_stack;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            if (ps->p >= ps->end || *ps->p != '"') return fail_expected(ps, ps->p, "a string key");
            size_t idx = stack_reserve(ps);
            if (idx == SIZE_MAX) return KEEL_ENOMEM;
            keel_json_member *m = &d->stack[idx]; /* valid until the value is parsed */
            if ((rc = parse_string(ps, &m->key, &m->key_len))) return rc;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail_expected(ps, ps->p, "':' after the key");
            ps->p++;
            if ((rc = parse_child(ps, idx))) return rc;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == '}')
                    return fail_at(ps, ps->p, KEEL_EPARSE,
                                   "expected a key after ',' (no trailing commas)");
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            return fail_expected(ps, ps->p, "',' or '}'");
        }
    }
    size_t n = d->n_stack - base;
    keel_json_member *members = NULL;
    if (n) {
        members = arena_alloc(d, n * sizeof *members, alignof(keel_json_member));
        if (!members) return fail_nomem(ps);
        memcpy(members, d->stack + base, n * sizeof *members);
    }
    d->n_stack = base;
    ps->depth--;
    out->type = KEEL_JSON_OBJECT;
    out->u.object.members = members;
    out->u.object.n = n;
    return KEEL_OK;
}

static int parse_value(parser *ps, keel_json *out)
{
    skip_ws(ps);
    if (ps->p >= ps->end) return fail_expected(ps, ps->p, "a value");
    switch (*ps->p) {
    case '{':
        return parse_object(ps, out);
    case '[':
        return parse_array(ps, out);
    case '"':
        out->type = KEEL_JSON_STRING;
        return parse_string(ps, &out->u.string.s, &out->u.string.len);
    case 't':
        out->type = KEEL_JSON_BOOL;
        out->u.boolean = true;
        return parse_literal(ps, "true", 4);
    case 'f':
        out->type = KEEL_JSON_BOOL;
        out->u.boolean = false;
        return parse_literal(ps, "false", 5);
    case 'n':
        out->type = KEEL_JSON_NULL;
        return parse_literal(ps, "null", 4);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps, out);
    default:
        return fail_expected(ps, ps->p, "a value");
    }
}

/* ---- public ---------------------------------------------------------------------------- */

keel_json_doc *keel_json_doc_new(void)
{
    return keel_calloc(1, sizeof(keel_json_doc));
}

void keel_json_doc_free(keel_json_doc *d)
{
    if (!d) return;
    for (block *b = d->head; b;) {
        block *next = b->next;
        keel_free(b);
        b = next;
    }
    keel_free(d->stack);
    keel_free(d);
}

int keel_json_parse(keel_json_doc *d, const char *text, size_t n, keel_error *e)
{
    if (!d) return keel_error_set(e, KEEL_EINVAL, "keel_json_parse: no document");
    d->has_root = false;
    arena_rewind(d);
    d->n_stack = 0;
    if (d->cap_stack > STACK_KEEP) {
        keel_free(d->stack);
        d->stack = NULL;
        d->cap_stack = 0;
    }
    if (!text) { /* NULL is taken as empty text (NULL + 0 is not valid C) */
        text = "";
        n = 0;
    }
    parser ps = {text, text, text + n, d, e, 0};
    int rc = parse_value(&ps, &d->root);
    if (rc) return rc;
    skip_ws(&ps);
    if (ps.p != ps.end) return fail_expected(&ps, ps.p, "end of input after the value");
    d->has_root = true;
    return KEEL_OK;
}

const keel_json *keel_json_root(const keel_json_doc *d)
{
    return d && d->has_root ? &d->root : NULL;
}

const keel_json *keel_json_get(const keel_json *obj, const char *key)
{
    if (!obj || obj->type != KEEL_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    const keel_json_member *m = obj->u.object.members;
    for (size_t i = 0; i < obj->u.object.n; i++)
        if (m[i].key_len == n && memcmp(m[i].key, key, n) == 0) return &m[i].value;
    return NULL;
}

const keel_json *keel_json_at(const keel_json *arr, size_t i)
{
    if (!arr || arr->type != KEEL_JSON_ARRAY || i >= arr->u.array.n) return NULL;
    return &arr->u.array.items[i];
}

size_t keel_json_len(const keel_json *v)
{
    if (!v) return 0;
    if (v->type == KEEL_JSON_ARRAY) return v->u.array.n;
    if (v->type == KEEL_JSON_OBJECT) return v->u.object.n;
    return 0;
}

double keel_json_num(const keel_json *v, double dflt)
{
    return v && v->type == KEEL_JSON_NUMBER ? v->u.number.value : dflt;
}

const char *keel_json_str(const keel_json *v)
{
    return v && v->type == KEEL_JSON_STRING ? v->u.string.s : NULL;
}

bool keel_json_bool(const keel_json *v, bool dflt)
{
    return v && v->type == KEEL_JSON_BOOL ? v->u.boolean : dflt;
}

/* ---- writing a tree back out ------------------------------------------------------------ */

static void write_value(const keel_json *v, keel_buf *out)
{
    switch (v ? v->type : KEEL_JSON_NULL) {
    case KEEL_JSON_NULL:
        keel_buf_puts(out, "null");
        break;
    case KEEL_JSON_BOOL:
        keel_buf_puts(out, v->u.boolean ? "true" : "false");
        break;
    case KEEL_JSON_NUMBER:
        keel_buf_append(out, v->u.number.text, v->u.number.len);
        break;
    case KEEL_JSON_STRING:
        keel_buf_json_str(out, v->u.string.s, v->u.string.len);
        break;
    case KEEL_JSON_ARRAY:
        keel_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.array.n && !out->failed; i++) {
            if (i) keel_buf_putc(out, ',');
            write_value(&v->u.array.items[i], out);
        }
        keel_buf_putc(out, ']');
        break;
    case KEEL_JSON_OBJECT:
        keel_buf_putc(out, '{');
        for (size_t i = 0; i < v->u.object.n && !out->failed; i++) {
            const keel_json_member *m = &v->u.object.members[i];
            if (i) keel_buf_putc(out, ',');
            keel_buf_json_str(out, m->key, m->key_len);
            keel_buf_putc(out, ':');
            write_value(&m->value, out);
        }
        keel_buf_putc(out, '}');
        break;
    }
}

int keel_json_write(const keel_json *v, keel_buf *out)
{
    keel_buf_mark start = keel_buf_begin(out);
    write_value(v, out);
    return keel_buf_end(out, start);
}

keel_json_desc keel_json_describe(const keel_json *v)
{
    keel_json_desc d = {""};
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
        keel_quote_into(d.s, sizeof d.s, v->u.string.s, v->u.string.len, 40);
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
