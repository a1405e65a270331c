/*
 * csv.c — the streaming CSV tokenizer.
 *
 * The reader keeps one buffer holding [start, end) of unconsumed input. keel_csv_next scans
 * one record from start. If the record is not complete before end (and the input is not
 * exhausted), it moves the partial record to the front, reads more (growing the buffer up to
 * the record limit) and scans the record again from its beginning. Rescanning keeps the scanner
 * a plain function of the bytes, and costs at most one extra pass over the one record that
 * straddles each read.
 *
 * Fields point into the buffer (zero copy) unless they need rewriting — "" escapes or a
 * Latin-1 conversion — in which case they are written into a per-record scratch buffer that
 * is reserved to the worst case before any field is placed, so pointers never move.
 *
 * The buffer has KEEL_CSV_PAD bytes more than its capacity, so that a caller scanning the
 * region keel_csv_peek_lines hands out may load whole vectors across its end.
 *
 * A record longer than max_record_bytes switches the reader into skip mode: it keeps the
 * first bytes for the quarantine report, then follows quotes and line ends through the rest
 * without storing it, so a 2 GB field costs no memory.
 */
#include "data/csv.h"

#include <errno.h>
#include <fcntl.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEPT_PREFIX 4096 /* bytes of an over-long record kept for its report */

struct keel_csv {
    keel_csv_options o;
    int fd; /* -1 when reading from memory */
    bool own_fd;
    const char *mem; /* memory input */
    size_t mem_len, mem_pos;
    char *buf;
    size_t cap, start, end;
    bool eof;
    bool first;             /* nothing returned yet: check for a BOM */
    size_t quoted_newlines; /* newlines inside quoted fields of the record being scanned */
    size_t last_nl;         /* buffer index just past the last '\n' in it; 0 = not known */
    uint64_t offset;        /* file offset of buf[start] */
    uint64_t line;          /* physical line of buf[start] */
    uint64_t size;
    uint64_t blank;
    keel_field *fields;
    size_t n_fields, cap_fields;
    keel_buf scratch;
    keel_buf kept; /* prefix of an over-long record */
    char errmsg[256];
    char why[96];         /* the problem of an over-long record, in words */
    uint8_t special[256]; /* bytes that end an unquoted field: delimiter, \n, \r */
};

void keel_csv_options_init(keel_csv_options *o)
{
    o->delimiter = ',';
    o->quote = '"';
    o->encoding = KEEL_ENC_UTF8;
    o->max_record_bytes = (size_t)64 << 20;
    o->chunk_bytes = (size_t)1 << 20;
    o->sha256 = NULL;
}

static int reader_new(const keel_csv_options *o, keel_csv **out)
{
    keel_csv *r = keel_calloc(1, sizeof *r);
    if (!r) return KEEL_ENOMEM;
    if (o)
        r->o = *o;
    else
        keel_csv_options_init(&r->o);
    if (r->o.chunk_bytes < 16) r->o.chunk_bytes = 16;
    if (r->o.max_record_bytes < 16) r->o.max_record_bytes = 16;
    r->fd = -1;
    r->line = 1;
    r->first = true;
    keel_buf_init(&r->scratch);
    keel_buf_init(&r->kept);
    r->special[(unsigned char)r->o.delimiter] = 1;
    r->special['\n'] = 1;
    r->special['\r'] = 1;
    r->cap = r->o.chunk_bytes;
    r->buf = keel_malloc(r->cap + KEEL_CSV_PAD);
    if (!r->buf) {
        keel_free(r);
        return KEEL_ENOMEM;
    }
    memset(r->buf + r->cap, 0, KEEL_CSV_PAD);
    *out = r;
    return KEEL_OK;
}

int keel_csv_open(const char *path, const keel_csv_options *o, keel_csv **out, keel_error *e)
{
    *out = NULL;
    keel_csv *r;
    if (reader_new(o, &r)) return keel_error_set(e, KEEL_ENOMEM, "out of memory opening %s", path);
    if (!strcmp(path, "-")) {
        r->fd = 0;
    } else {
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            int err = errno;
            keel_csv_close(r);
            return keel_error_set(e, err == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s: %s", path,
                                  strerror(err));
        }
        r->own_fd = true;
        struct stat st;
        if (fstat(r->fd, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                keel_csv_close(r);
                return keel_error_set(e, KEEL_EIO, "%s: is a directory", path);
            }
            if (S_ISREG(st.st_mode)) r->size = (uint64_t)st.st_size;
        }
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    *out = r;
    return KEEL_OK;
}

int keel_csv_open_mem(const void *data, size_t n, const keel_csv_options *o, keel_csv **out,
                      keel_error *e)
{
    *out = NULL;
    keel_csv *r;
    if (reader_new(o, &r)) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    r->mem = data;
    r->mem_len = n;
    r->size = n;
    *out = r;
    return KEEL_OK;
}

void keel_csv_close(keel_csv *r)
{
    if (!r) return;
    if (r->own_fd && r->fd >= 0) close(r->fd);
    keel_free(r->buf);
    keel_free(r->fields);
    keel_buf_free(&r->scratch);
    keel_buf_free(&r->kept);
    keel_free(r);
}

const char *keel_csv_errmsg(const keel_csv *r)
{
    return r->errmsg;
}

uint64_t keel_csv_bytes_read(const keel_csv *r)
{
    return r->offset;
}

uint64_t keel_csv_size(const keel_csv *r)
{
    return r->size;
}

uint64_t keel_csv_blank_lines(const keel_csv *r)
{
    return r->blank;
}

uint64_t keel_csv_line(const keel_csv *r)
{
    return r->line;
}

/* Reads more input after end, growing the buffer if it is full. Returns the number of bytes
 * added (0 at end of input) or a negative code. */
static long fill(keel_csv *r)
{
    r->last_nl = 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t cap = r->cap * 2;
        char *b = keel_realloc(r->buf, cap + KEEL_CSV_PAD);
        if (!b) {
            snprintf(r->errmsg, sizeof r->errmsg, "out of memory growing the read buffer");
            return KEEL_ENOMEM;
        }
        r->buf = b;
        r->cap = cap;
        memset(r->buf + r->cap, 0, KEEL_CSV_PAD);
    }
    size_t want = KEEL_MIN(r->cap - r->end, r->o.chunk_bytes);
    if (r->mem) {
        size_t n = KEEL_MIN(want, r->mem_len - r->mem_pos);
        memcpy(r->buf + r->end, r->mem + r->mem_pos, n);
        if (r->o.sha256) keel_sha256_update(r->o.sha256, r->buf + r->end, n);
        r->mem_pos += n;
        r->end += n;
        if (n == 0) r->eof = true;
        return (long)n;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(r->errmsg, sizeof r->errmsg, "read error: %s", strerror(errno));
            return KEEL_EIO;
        }
        if (n == 0) r->eof = true;
        if (r->o.sha256) keel_sha256_update(r->o.sha256, r->buf + r->end, (size_t)n);
        r->end += (size_t)n;
        return (long)n;
    }
}

static int grow_fields(keel_csv *r)
{
    {
        size_t cap = r->cap_fields ? r->cap_fields * 2 : 64;
        keel_field *f = keel_reallocarray(r->fields, cap, sizeof *f);
        if (!f) {
            snprintf(r->errmsg, sizeof r->errmsg, "out of memory for %zu fields", cap);
            return KEEL_ENOMEM;
        }
        r->fields = f;
        r->cap_fields = cap;
    }
    return KEEL_OK;
}

static inline int push_field(keel_csv *r, const char *p, size_t len, size_t raw_off, bool quoted)
{
    if (KEEL_UNLIKELY(r->n_fields == r->cap_fields) && grow_fields(r)) return KEEL_ENOMEM;
    r->fields[r->n_fields++] = (keel_field){p, len, raw_off, quoted, KEEL_FIELD_TEXT};
    return KEEL_OK;
}

enum scan_result { SCAN_DONE, SCAN_MORE, SCAN_TOO_LONG };

/* Finds the first byte at or after p that ends an unquoted field (delimiter, \n, \r).
 * Sixteen bytes at a time with SSE2, which every x86-64 has: most fields are a few bytes
 * long, so one compare usually finds the end. */
static inline size_t find_special(const keel_csv *r, const char *b, size_t p, size_t end)
{
#if defined(__SSE2__)
    const __m128i d = _mm_set1_epi8(r->o.delimiter), nl = _mm_set1_epi8('\n'),
                  cr = _mm_set1_epi8('\r');
    while (p + 16 <= end) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, d), _mm_cmpeq_epi8(x, nl)),
                                   _mm_cmpeq_epi8(x, cr));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask) return p + (size_t)__builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end && !r->special[(unsigned char)b[p]])
        p++;
    return p;
}

static size_t count_newlines(const char *p, size_t n);

/* Finds the next quote in [p, end), adding the newlines passed to *newlines. Most quoted
 * fields are short codes ("KS", "yes"), for which a plain loop beats a memchr call; long
 * ones fall through to memchr. */
static inline const char *find_quote(const char *p, const char *end, char q, size_t *newlines)
{
    const char *stop = end - p > 16 ? p + 16 : end;
    size_t nl = 0; /* a local: stores through *newlines would alias the char data */
    for (; p < stop; p++) {
        if (*p == q) {
            *newlines += nl;
            return p;
        }
        nl += *p == '\n';
    }
    *newlines += nl;
    if (p == end) return NULL;
    const char *hit = memchr(p, q, (size_t)(end - p));
    *newlines += count_newlines(p, (size_t)((hit ? hit : end) - p));
    return hit;
}

/* Scans one record starting at buf[start]. On SCAN_DONE, *rec_end is the end of the record's
 * content and *next the start of the following record. Field pointers point into buf (for
 * quoted fields, at the content inside the quotes, with escapes still doubled). */
static int scan(keel_csv *r, size_t *rec_end, size_t *next, keel_record_problem *problem,
                size_t *problem_off, bool *needs_rewrite)
{
    const char *b = r->buf;
    size_t p = r->start, end = r->end;
    const char q = r->o.quote, d = r->o.delimiter;
    const uint8_t *special = r->special;
    r->n_fields = 0;
    r->quoted_newlines = 0;
    *problem = KEEL_RECORD_OK;
    *needs_rewrite = false;
    size_t limit = r->start + r->o.max_record_bytes;
    for (;;) {
        size_t fstart = p;
        if (p < end && b[p] == q && q) {
            /* Quoted field: find the closing quote; "" is an escaped quote. */
            size_t c = p + 1;
            for (;;) {
                const char *hit = find_quote(b + c, b + end, q, &r->quoted_newlines);
                if (!hit) {
                    if (end > limit) return SCAN_TOO_LONG;
                    if (!r->eof) return SCAN_MORE;
                    *problem = KEEL_RECORD_UNTERMINATED_QUOTE;
                    *problem_off = fstart - r->start;
                    if (push_field(r, b + fstart + 1, end - fstart - 1, fstart - r->start, true))
                        return KEEL_ENOMEM;
                    *rec_end = *next = end;
                    return SCAN_DONE;
                }
                c = (size_t)(hit - b);
                if (c + 1 >= end && !r->eof) return end > limit ? SCAN_TOO_LONG : SCAN_MORE;
                if (c + 1 < end && b[c + 1] == q) {
                    *needs_rewrite = true;
                    c += 2;
                    continue;
                }
                break;
            }
            if (push_field(r, b + fstart + 1, c - fstart - 1, fstart - r->start, true))
                return KEEL_ENOMEM;
            p = c + 1;
            if (p < end && !special[(unsigned char)b[p]]) {
                /* Text after the closing quote: note it, then resync at the next separator. */
                if (*problem == KEEL_RECORD_OK) {
                    *problem = KEEL_RECORD_BAD_QUOTE;
                    *problem_off = p - r->start;
                }
                while (p < end && !special[(unsigned char)b[p]])
                    p++;
                if (p == end && !r->eof) return end > limit ? SCAN_TOO_LONG : SCAN_MORE;
            }
        } else {
            /* Unquoted field: runs to the delimiter or the line end. */
            p = find_special(r, b, p, end);
            if (p == end && !r->eof) return end > limit ? SCAN_TOO_LONG : SCAN_MORE;
            if (push_field(r, b + fstart, p - fstart, fstart - r->start, false)) return KEEL_ENOMEM;
        }
        if (p - r->start > r->o.max_record_bytes) return SCAN_TOO_LONG;
        if (p == end) {
            *rec_end = *next = p;
            return SCAN_DONE;
        }
        if (b[p] == d) {
            p++;
            continue;
        }
        /* A line end: \n, \r\n or a lone \r. A \r at the very end of the buffer may be the
         * first half of \r\n; ask for more so that the pair is consumed together. */
        *rec_end = p;
        if (b[p] == '\r') {
            if (p + 1 == end && !r->eof) return SCAN_MORE;
            p++;
            if (p < end && b[p] == '\n') p++;
        } else {
            p++;
        }
        *next = p;
        return SCAN_DONE;
    }
}

static size_t count_newlines(const char *p, size_t n)
{
    size_t k = 0;
    const char *end = p + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* Skips the rest of an over-long record without holding it. The scanner state is just
 * "inside quotes or not"; a quote toggles it, and "" toggles twice, which is the same. */
static int skip_long_record(keel_csv *r, keel_record *rec)
{
    keel_buf_reset(&r->kept);
    size_t keep = KEEL_MIN(r->end - r->start, (size_t)KEPT_PREFIX);
    if (keel_buf_append(&r->kept, r->buf + r->start, keep)) return KEEL_ENOMEM;
    rec->line = r->line;
    rec->offset = r->offset;
    bool in_quotes = false, at_field_start = true;
    uint64_t total = 0, lines = 0;
    const char q = r->o.quote;
    for (;;) {
        size_t p = r->start;
        for (; p < r->end; p++) {
            char c = r->buf[p];
            if (in_quotes) {
                if (c == q)
                    in_quotes = false;
                else if (c == '\n')
                    lines++;
            } else if (c == q && q && at_field_start) {
                in_quotes = true;
            } else if (c == '\n' || c == '\r') {
                break;
            }
            at_field_start = !in_quotes && c == r->o.delimiter;
        }
        total += p - r->start;
        r->offset += p - r->start;
        r->start = p;
        if (p < r->end || r->eof) break;
        r->start = r->end = 0; /* nothing of this record needs keeping */
        long n = fill(r);
        if (n < 0) return (int)n;
    }
    /* Consume the line end. */
    if (r->start < r->end && r->buf[r->start] == '\r') {
        r->start++;
        r->offset++;
        if (r->start == r->end && !r->eof && fill(r) < 0) return KEEL_EIO;
    }
    if (r->start < r->end && r->buf[r->start] == '\n') {
        r->start++;
        r->offset++;
        lines++;
    }
    r->line += lines;
    rec->raw = r->kept.data;
    rec->raw_len = r->kept.len;
    rec->raw_total = total;
    rec->n_fields = 0;
    rec->fields = r->fields;
    rec->problem = KEEL_RECORD_TOO_LONG;
    rec->problem_off = 0;
    snprintf(r->why, sizeof r->why, "record of %llu bytes exceeds the limit of %zu bytes",
             (unsigned long long)total, r->o.max_record_bytes);
    rec->why = r->why;
    return 1;
}

/* Rewrites fields that need it (escaped quotes, Latin-1) into scratch. */
static int rewrite_fields(keel_csv *r, const char *raw, size_t raw_len, bool escapes)
{
    bool latin1 = r->o.encoding == KEEL_ENC_LATIN1;
    keel_buf_reset(&r->scratch);
    size_t worst;
    if (!keel_size_mul(raw_len, 2, &worst) || keel_buf_reserve(&r->scratch, worst))
        return KEEL_ENOMEM;
    for (size_t i = 0; i < r->n_fields; i++) {
        keel_field *f = &r->fields[i];
        bool high = false;
        if (latin1)
            for (size_t k = 0; k < f->len && !high; k++)
                high = (unsigned char)f->p[k] >= 0x80;
        bool esc = escapes && f->quoted && memchr(f->p, r->o.quote, f->len);
        if (!high && !esc) continue;
        char *o = r->scratch.data + r->scratch.len, *start = o;
        for (size_t k = 0; k < f->len; k++) {
            unsigned char c = (unsigned char)f->p[k];
            if (esc && c == (unsigned char)r->o.quote) k++; /* "" -> " : skip the second quote */
            if (latin1 && c >= 0x80) {
                *o++ = (char)(0xC0 | (c >> 6));
                *o++ = (char)(0x80 | (c & 0x3F));
            } else {
                *o++ = (char)c;
            }
        }
        f->p = start;
        f->len = (size_t)(o - start);
        r->scratch.len += f->len;
    }
    (void)raw;
    return KEEL_OK;
}

int keel_csv_next(keel_csv *r, keel_record *rec)
{
    for (;;) {
        if (r->start == r->end && !r->eof) {
            long n = fill(r);
            if (n < 0) return (int)n;
        }
        if (r->first && (r->end - r->start >= 3 || r->eof)) {
            r->first = false;
            if (r->end - r->start >= 3 && !memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3)) {
                r->start += 3;
                r->offset += 3;
            }
        } else if (r->first) {
            long n = fill(r);
            if (n < 0) return (int)n;
            continue;
        }
        if (r->start == r->end && r->eof) return 0;
        size_t rec_end, next, problem_off = 0;
        keel_record_problem problem;
        bool rewrite;
        int s = scan(r, &rec_end, &next, &problem, &problem_off, &rewrite);
        if (s < 0) {
            return s;
        }
        if (s == SCAN_MORE) {
            long n = fill(r);
            if (n < 0) return (int)n;
            continue;
        }
        if (s == SCAN_TOO_LONG) return skip_long_record(r, rec);
        const char *raw = r->buf + r->start;
        size_t raw_len = rec_end - r->start;
        if (raw_len == 0 && r->n_fields == 1 && !r->fields[0].quoted) {
            /* A blank line is not a record. */
            r->blank++;
            r->line += count_newlines(raw, next - r->start);
            r->offset += next - r->start;
            r->start = next;
            continue;
        }
        if (rewrite || r->o.encoding == KEEL_ENC_LATIN1) {
            if (rewrite_fields(r, raw, raw_len, rewrite)) {
                snprintf(r->errmsg, sizeof r->errmsg, "out of memory");
                return KEEL_ENOMEM;
            }
        }
        rec->raw = raw;
        rec->raw_len = raw_len;
        rec->raw_total = raw_len;
        rec->line = r->line;
        rec->offset = r->offset;
        rec->n_fields = r->n_fields;
        rec->fields = r->fields;
        rec->problem = problem;
        rec->problem_off = problem_off;
        rec->why = problem == KEEL_RECORD_UNTERMINATED_QUOTE
                       ? "quoted field never closed before the end of the file"
                   : problem == KEEL_RECORD_BAD_QUOTE ? "characters after a closing quote"
                                                      : "";
        /* Only quoted fields can hold newlines; the line end adds one unless it is a lone \r. */
        size_t consumed = next - r->start;
        r->line += r->quoted_newlines;
        if (consumed > raw_len && raw[consumed - 1] == '\n') r->line++;
        r->offset += consumed;
        r->start = next;
        return 1;
    }
}

int keel_csv_peek_lines(keel_csv *r, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (r->first) return 0; /* the byte-order mark is the plain reader's business */
    for (int tries = 0; tries < 2; tries++) {
        if (!r->last_nl || r->last_nl <= r->start) {
            const char *nl =
                r->end > r->start ? memrchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
            r->last_nl = nl ? (size_t)(nl - r->buf) + 1 : 0;
        }
        if (r->last_nl > r->start) {
            *p = r->buf + r->start;
            *n = r->last_nl - r->start;
            return 1;
        }
        if (r->eof || tries) return 0;
        long got = fill(r);
        if (got < 0) return (int)got;
    }
    return 0;
}

void keel_csv_consume(keel_csv *r, size_t n, uint64_t lines)
{
    r->start += n;
    r->offset += n;
    r->line += lines;
}
