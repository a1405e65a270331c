/*
 * reader_csv.c — the CSV record reader: the tokenizer's records, addressed by column.
 *
 * The first read takes the header line (when the schema says there is one) and binds its
 * names to the schema's columns; without a header, field i is column i. Every record must
 * then have as many fields as the header (or the schema): one that does not comes back with
 * the FIELD_COUNT problem. A record's fields are gathered into column order unless the file's
 * order already is the schema's, in which case the tokenizer's array passes through as is.
 *
 * Blocks. Most records of most files are plain: one LF-terminated line whose fields are
 * unquoted, or quoted without "" escapes or line breaks. For those, keel_reader_next_block
 * scans the tokenizer's buffer directly (scan_block), 64 bytes at a time as bit masks, writing
 * each field straight into its column's slot of the block, up to a block of records per call.
 * Anything else — a blank line, a quote inside a field, CR, a wrong field count, a record over
 * the limit, a byte-order mark, Latin-1 — ends the block before that record, which then goes
 * through keel_csv_next as a block of one. A plain record's fields are exactly what
 * keel_csv_next would give (the fuzz targets compare the two), so validation never needs to
 * know which path a record took.
 */
#include "data/reader_impl.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* A block holds up to this many fields (and at most BLOCK_RECORDS records, at least one):
 * 4096 fields of 32 bytes stay in the L2 cache between the scan and their use. */
#define BLOCK_FIELDS  4096
#define BLOCK_RECORDS 256

typedef struct csv_reader {
    keel_reader base;
    keel_csv *t;   /* the tokenizer */
    bool started;  /* the header has been read (or there is none) */
    bool identity; /* field i is column i: records pass through without a copy */
    bool fast;     /* plain lines may be scanned in blocks */
    char delim, quote;
    size_t limit;             /* the tokenizer's limit on a record's length */
    size_t n_expected;        /* fields per record: the header's, else the schema's columns */
    long *field_of_col;       /* [n_columns]: the field holding each column */
    long *col_of_field;       /* [n_expected]: the column each field feeds, or -1 */
    keel_field *cols;         /* [n_columns]: one record's fields in column order */
    keel_record *block;       /* [block_cap] */
    keel_field *block_fields; /* [block_cap * n_columns] */
    size_t block_cap;
    char why[96]; /* a FIELD_COUNT record's problem in words */
} csv_reader;

static int csv_open(keel_reader *r, const reader_source *src, const keel_reader_options *o,
                    keel_error *e)
{
    csv_reader *c = (csv_reader *)r;
    const keel_schema *s = r->s;
    keel_csv_options co;
    keel_csv_options_init(&co);
    co.delimiter = s->delimiter;
    co.quote = s->quote;
    co.encoding = s->encoding;
    if (o->max_record_bytes) co.max_record_bytes = o->max_record_bytes;
    if (o->chunk_bytes) co.chunk_bytes = o->chunk_bytes;
    co.sha256 = o->sha256;
    c->delim = s->delimiter;
    c->quote = s->quote;
    c->limit = KEEL_MAX(co.max_record_bytes, (size_t)16); /* as the tokenizer clamps it */
    /* Blocks need a quote character (the tokenizer's plain shape), UTF-8 (no conversion) and a
     * delimiter that is neither a line end nor the quote. */
    c->fast = s->quote && s->encoding == KEEL_ENC_UTF8 && s->delimiter != '\n' &&
              s->delimiter != '\r' && s->delimiter != s->quote;
    size_t nc = s->n_columns ? s->n_columns : 1;
    c->field_of_col = keel_calloc(nc, sizeof *c->field_of_col);
    c->cols = keel_calloc(nc, sizeof *c->cols);
    if (!c->field_of_col || !c->cols) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = reader_open_tokenizer(src, &co, &c->t, e);
    if (rc == KEEL_OK) reader_sync(r, c->t);
    return rc;
}

static void csv_close(keel_reader *r)
{
    csv_reader *c = (csv_reader *)r;
    keel_csv_close(c->t);
    keel_free(c->field_of_col);
    keel_free(c->col_of_field);
    keel_free(c->cols);
    keel_free(c->block);
    keel_free(c->block_fields);
}

static int io_error(csv_reader *c, int code)
{
    return reader_fail(&c->base, code, "%s: %s", c->base.name, keel_csv_errmsg(c->t));
}

/* Reads the header (if any), binds the columns and sets up blocks. */
static int start(csv_reader *c)
{
    keel_reader *r = &c->base;
    const keel_schema *s = r->s;
    c->started = true;
    if (s->header) {
        keel_record h;
        int got = keel_csv_next(c->t, &h);
        reader_sync(r, c->t);
        if (got == 0)
            return reader_fail(r, KEEL_EEMPTY, "%s: the file is empty (no header line)", r->name);
        if (got < 0) return io_error(c, got);
        if (h.problem != KEEL_RECORD_OK)
            return reader_fail(r, KEEL_EMISMATCH, "%s:%llu: the header line is malformed", r->name,
                               (unsigned long long)h.line);
        c->n_expected = h.n_fields;
        int rc = reader_bind(r, h.fields, h.n_fields, h.line, "the header", c->field_of_col);
        if (rc != KEEL_OK) return rc;
    } else {
        c->n_expected = s->n_columns;
        for (size_t i = 0; i < s->n_columns; i++)
            c->field_of_col[i] = (long)i;
    }
    c->identity = c->n_expected == s->n_columns;
    for (size_t i = 0; i < s->n_columns; i++)
        c->identity &= c->field_of_col[i] == (long)i;
    if (!c->fast) return KEEL_OK;
    size_t nc = s->n_columns ? s->n_columns : 1;
    c->block_cap = KEEL_MAX((size_t)1, KEEL_MIN((size_t)BLOCK_RECORDS, BLOCK_FIELDS / nc));
    c->col_of_field = keel_malloc((c->n_expected ? c->n_expected : 1) * sizeof *c->col_of_field);
    c->block = keel_calloc(c->block_cap, sizeof *c->block);
    c->block_fields = keel_calloc(c->block_cap * nc, sizeof *c->block_fields);
    if (!c->col_of_field || !c->block || !c->block_fields)
        return reader_fail(r, KEEL_ENOMEM, "%s: out of memory", r->name);
    for (size_t i = 0; i < c->n_expected; i++)
        c->col_of_field[i] = -1;
    for (size_t ci = 0; ci < s->n_columns; ci++)
        c->col_of_field[c->field_of_col[ci]] = (long)ci;
    return KEEL_OK;
}

/* Turns the tokenizer's record into the reader's: a wrong field count becomes a problem,
 * and fields go into column order. */
static int shape(csv_reader *c, keel_record *rec)
{
    if (rec->problem != KEEL_RECORD_OK) {
        rec->n_fields = 0;
        return 1;
    }
    if (rec->n_fields != c->n_expected) {
        snprintf(c->why, sizeof c->why, "expected %zu fields, found %zu", c->n_expected,
                 rec->n_fields);
        rec->problem = KEEL_RECORD_FIELD_COUNT;
        rec->problem_off = 0;
        rec->why = c->why;
        rec->n_fields = 0;
        return 1;
    }
    if (!c->identity) {
        size_t nc = c->base.s->n_columns;
        for (size_t ci = 0; ci < nc; ci++)
            c->cols[ci] = rec->fields[c->field_of_col[ci]];
        rec->fields = c->cols;
        rec->n_fields = nc;
    }
    return 1;
}

static int csv_next(keel_reader *r, keel_record *rec)
{
    csv_reader *c = (csv_reader *)r;
    int rc;
    if (!c->started && (rc = start(c)) != KEEL_OK) return rc;
    int got = keel_csv_next(c->t, rec);
    reader_sync(r, c->t);
    if (got < 0) return io_error(c, got);
    return got == 1 ? shape(c, rec) : 0;
}

/* The bytes of interest in a 64-byte window of the region, one bit per byte (bit i: w[i]). */
typedef struct window {
    uint64_t d;  /* the delimiter */
    uint64_t n;  /* a line feed */
    uint64_t cr; /* a carriage return */
    uint64_t q;  /* a quote */
} window;

typedef struct needles {
#if defined(__SSE2__)
    __m128i d, n, r, q;
#else
    char d, q;
#endif
} needles;

/* The masks of [w, w + 64). Bytes at or past end (up to KEEL_CSV_PAD of them are readable)
 * count as none of them. */
static inline void load_window(window *x, const needles *k, const char *w, const char *end)
{
    uint64_t d = 0, n = 0, cr = 0, q = 0;
#if defined(__SSE2__)
    for (int i = 0; i < 4; i++) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(w + 16 * i));
        d |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, k->d)) << (16 * i);
        n |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, k->n)) << (16 * i);
        cr |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, k->r)) << (16 * i);
        q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, k->q)) << (16 * i);
    }
#else
    for (int i = 0; i < 64; i++) {
        uint64_t bit = 1ULL << i;
        d |= w[i] == k->d ? bit : 0;
        n |= w[i] == '\n' ? bit : 0;
        cr |= w[i] == '\r' ? bit : 0;
        q |= w[i] == k->q ? bit : 0;
    }
#endif
    uint64_t valid = end - w < 64 ? (1ULL << (end - w)) - 1 : ~0ULL;
    x->d = d & valid;
    x->n = n & valid;
    x->cr = cr & valid;
    x->q = q & valid;
}

/* Bit i of the result: the XOR of bits 0..i of x (so a quote and the bytes up to the next
 * one are "inside"). */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* Scans the plain records at the start of [p, p + n), which ends with a line feed and
 * starts where the tokenizer stands, into the block; stops before the first record that is
 * not plain, or when the block is full. Consumes what it scanned; returns how many records.
 *
 * The region goes by in windows of 64 bytes, each turned into bit masks first: which bytes
 * are inside quotes (a prefix XOR of the quotes), which separate fields (a delimiter or line
 * feed outside quotes), and which break the plain shape: a CR outside quotes, a line feed
 * inside them, a quote that opens anywhere but at a field's start, a closing quote not
 * followed by a separator ("" escapes among them), a blank line. The fields are then read off
 * the separators' bits, a count of trailing zeros each, with no byte-by-byte loop and no
 * chain of dependent loads from one field to the next: the scan runs on its own, apart from
 * the conversions, and has to be cheap by itself. The first record holding a bad bit, with
 * the wrong number of fields or over the length limit, ends the block before it. */
static size_t scan_block(csv_reader *c, const char *p, size_t n)
{
    const char *const end = p + n;
    const char qc = c->quote;
    const long *col_of_field = c->col_of_field;
    const size_t n_expected = c->n_expected, nc = c->base.s->n_columns;
    const uint64_t line = keel_csv_line(c->t), offset = keel_csv_bytes_read(c->t);
    needles k;
#if defined(__SSE2__)
    k.d = _mm_set1_epi8(c->delim);
    k.n = _mm_set1_epi8('\n');
    k.r = _mm_set1_epi8('\r');
    k.q = _mm_set1_epi8(qc);
#else
    k.d = c->delim;
    k.q = qc;
#endif
    /* Carried from one window to the next: inside quotes at its end (all ones or zero), its
     * last byte a separator, a line feed, a closing quote. The region starts a record. */
    uint64_t in_quotes = 0, prev_sep = 1, prev_nl = 1, prev_close = 0;
    const char *first_bad = end; /* the first byte seen that breaks the plain shape */
    const char *rs = p, *fs = p; /* the current record's and field's first bytes */
    keel_field *out = c->block_fields;
    size_t fi = 0, got = 0;
    for (const char *w = p; w < end; w += 64) {
        window x;
        load_window(&x, &k, w, end);
        uint64_t inside = prefix_xor(x.q) ^ in_quotes;
        in_quotes = (uint64_t)((int64_t)inside >> 63);
        uint64_t sep = (x.d | x.n) & ~inside;
        uint64_t opens = x.q & inside, closes = x.q & ~inside;
        uint64_t bad = (x.cr & ~inside) | (x.n & inside) | (opens & ~(sep << 1 | prev_sep)) |
                       ((closes << 1 | prev_close) & ~sep) | (x.n & (x.n << 1 | prev_nl));
        prev_sep = sep >> 63;
        prev_nl = x.n >> 63;
        prev_close = closes >> 63;
        if (bad && first_bad == end) first_bad = w + __builtin_ctzll(bad);
        for (uint64_t s = sep; s; s &= s - 1) {
            unsigned bit = (unsigned)__builtin_ctzll(s);
            const char *fe = w + bit;
            if (fi < n_expected) {
                long ci = col_of_field[fi];
                bool quoted = *fs == qc; /* in a plain record, a quoted field */
                if (ci >= 0)
                    out[ci] = (keel_field){fs + quoted, (size_t)(fe - fs) - 2 * quoted,
                                           (size_t)(fs - rs), quoted, KEEL_FIELD_TEXT};
            }
            fi++;
            fs = fe + 1;
            if (!(x.n >> bit & 1)) continue;
            /* The record ends at fe. */
            size_t len = (size_t)(fe - rs);
            if (first_bad <= fe || fi != n_expected || len > c->limit) goto done;
            c->block[got] = (keel_record){
                .raw = rs,
                .raw_len = len,
                .raw_total = len,
                .line = line + got,
                .offset = offset + (uint64_t)(rs - p),
                .n_fields = nc,
                .fields = out,
                .problem = KEEL_RECORD_OK,
                .why = "",
            };
            rs = fs;
            fi = 0;
            out += nc;
            if (++got == c->block_cap) goto done;
        }
    }
done:
    keel_csv_consume(c->t, (size_t)(rs - p), got);
    return got;
}

static int csv_next_block(keel_reader *r, const keel_record **recs)
{
    csv_reader *c = (csv_reader *)r;
    int rc;
    if (!c->started && (rc = start(c)) != KEEL_OK) return rc;
    if (c->fast) {
        const char *region;
        size_t len;
        int pk = keel_csv_peek_lines(c->t, &region, &len);
        if (pk < 0) return io_error(c, pk);
        if (pk == 1) {
            size_t k = scan_block(c, region, len);
            if (k) {
                reader_sync(r, c->t);
                *recs = c->block;
                return (int)k;
            }
        }
    }
    /* The record that is not plain, through the tokenizer. */
    int got = csv_next(r, &r->one);
    if (got == 1) *recs = &r->one;
    return got;
}

const keel_reader_ops reader_csv_ops = {
    .version = KEEL_READER_OPS_VERSION,
    .name = "csv",
    .size = sizeof(csv_reader),
    .open = csv_open,
    .next = csv_next,
    .next_block = csv_next_block,
    .close = csv_close,
};
