/*
 * fuzz_common.h — a schema with one column of every type and policy, shared by the fuzz
 * targets that run whole validations, and the invariants they all check: of the record
 * reader (fuzz_read) and of validation (fuzz_validate).
 */
#ifndef KEEL_FUZZ_COMMON_H
#define KEEL_FUZZ_COMMON_H

#include "data/reader.h"
#include "data/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#include <stdlib.h>
#include <string.h>

static keel_schema *fuzz_schema(keel_format format)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    if (!s) abort();
    s->format = format;
    keel_schema_add_column(s, "n", &c);
    c->has_min = c->has_max = true;
    c->min = -100;
    c->max = 100;
    c->on_invalid = KEEL_ON_INVALID_CLIP;
    keel_schema_add_column(s, "i", &c);
    c->integer = true;
    c->on_invalid = KEEL_ON_INVALID_MISSING;
    keel_schema_add_column(s, "c", &c);
    c->type = KEEL_TYPE_CATEGORICAL;
    const char *cats[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", ""};
    for (size_t k = 0; k < sizeof cats / sizeof *cats; k++)
        keel_strlist_add(&c->categories, cats[k], strlen(cats[k]));
    keel_schema_add_column(s, "b", &c);
    c->type = KEEL_TYPE_BOOLEAN;
    c->nullable = false;
    keel_schema_add_column(s, "t", &c);
    c->type = KEEL_TYPE_TIMESTAMP;
    keel_schema_add_column(s, "x", &c);
    c->type = KEEL_TYPE_TEXT;
    keel_schema_add_column(s, "id", &c);
    c->type = KEEL_TYPE_ID;
    return s;
}

/* Every record of data through the reader for s (its format: CSV or JSON Lines), one at a
 * time or by blocks, with the given read size, as text. Aborts unless each record's raw bytes
 * are the input's at its offset and a record without a problem has one field per column. */
static keel_buf fuzz_describe(const keel_schema *s, const uint8_t *data, size_t n, bool blocks,
                              size_t chunk, size_t max_record)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_reader_options o;
    keel_reader_options_init(&o);
    o.chunk_bytes = chunk;
    o.max_record_bytes = max_record;
    keel_reader *r;
    keel_error e;
    if (keel_reader_open_mem(s, data, n, &o, &r, &e)) abort();
    keel_record one;
    const keel_record *recs = &one;
    int got;
    while ((got = blocks ? keel_reader_next_block(r, &recs) : keel_reader_next(r, &one)) > 0) {
        for (int i = 0; i < got; i++) {
            const keel_record *rec = &recs[i];
            if (rec->offset + rec->raw_len > n) abort();
            if (rec->problem != KEEL_RECORD_TOO_LONG &&
                memcmp(rec->raw, data + rec->offset, rec->raw_len))
                abort(); /* raw must be the file's bytes */
            if (rec->problem == KEEL_RECORD_OK && rec->n_fields != s->n_columns) abort();
            keel_buf_printf(&b, "%llu:%llu:%d:%zu:%s", (unsigned long long)rec->line,
                            (unsigned long long)rec->offset, (int)rec->problem, rec->problem_off,
                            rec->why);
            for (size_t k = 0; k < rec->n_fields; k++) {
                const keel_field *f = &rec->fields[k];
                if (f->raw_off > rec->raw_len) abort();
                keel_buf_printf(&b, "|%d:%zu:", f->kind, f->raw_off);
                keel_buf_append(&b, f->p, f->len);
            }
            keel_buf_putc(&b, '\n');
        }
    }
    /* Memory input fails only for a missing or malformed header. */
    if (got < 0 && got != KEEL_EEMPTY && got != KEEL_EMISMATCH) abort();
    keel_buf_printf(&b, "end %d %llu %llu\n", got, (unsigned long long)keel_reader_bytes_read(r),
                    (unsigned long long)keel_reader_blank_lines(r));
    keel_reader_close(r);
    return b;
}

/* The reader gives the same records, field for field, whether read one at a time or by
 * blocks, and whatever the read size. */
static void fuzz_read(const keel_schema *s, const uint8_t *data, size_t n, size_t max_record)
{
    keel_buf ref = fuzz_describe(s, data, n, false, 1 << 16, max_record);
    for (int k = 0; k < 3; k++) {
        keel_buf b = fuzz_describe(s, data, n, k != 0, k == 1 ? 1 << 16 : 16, max_record);
        if (b.len != ref.len || (b.len && memcmp(b.data, ref.data, b.len)))
            abort(); /* blocks or chunk boundaries changed the records */
        keel_buf_free(&b);
    }
    keel_buf_free(&ref);
}

typedef struct fuzz_count {
    uint64_t rows;
    uint64_t digest; /* of every accepted value, in order */
} fuzz_count;

static uint64_t fuzz_mix(uint64_t h, uint64_t x)
{
    return keel_mix64(h ^ x) + 0x9E3779B97F4A7C15ULL;
}

static int fuzz_on_chunk(void *ud, const keel_frame *f)
{
    fuzz_count *c = ud;
    c->rows += f->n_rows;
    for (size_t ci = 0; ci < f->n_cols; ci++) {
        const keel_column *col = &f->cols[ci];
        for (size_t r = 0; r < f->n_rows; r++) {
            uint64_t x = 0;
            switch (col->type) {
            case KEEL_TYPE_NUMERIC:
                memcpy(&x, &col->num[r], 8);
                break;
            case KEEL_TYPE_CATEGORICAL:
                x = (uint64_t)(int64_t)col->cat[r];
                break;
            case KEEL_TYPE_BOOLEAN:
                x = (uint64_t)(int64_t)col->boolean[r];
                break;
            case KEEL_TYPE_TIMESTAMP:
                x = (uint64_t)col->ts[r];
                break;
            default: {
                size_t len;
                const char *t = keel_column_text(col, r, &len);
                x = col->missing[r] ? 0xFFFF : keel_hash64(t, len, 0);
            }
            }
            c->digest = fuzz_mix(c->digest, x);
        }
    }
    return 0;
}

/* One validation; returns its status and fills res and count. */
static int fuzz_run(const keel_schema *s, const uint8_t *data, size_t n, size_t max_record,
                    bool plain, keel_validate_result *res, fuzz_count *count)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = "/dev/null";
    o.chunk_rows = 3;
    o.max_record_bytes = max_record;
    o.plain = plain;
    o.on_chunk = fuzz_on_chunk;
    o.chunk_ud = count;
    keel_error e;
    return keel_validate_mem(s, data, n, &o, res, &e);
}

/* Validates data with s, with and without the fast path for plain records. Aborts if the
 * counts do not reconcile, or if the two disagree on anything: counts, reasons, repairs or
 * a single accepted value. */
static void fuzz_validate(const keel_schema *s, const uint8_t *data, size_t n, size_t max_record)
{
    keel_validate_result a, b;
    fuzz_count ca = {0, 0}, cb = {0, 0};
    int ra = fuzz_run(s, data, n, max_record, false, &a, &ca);
    int rb = fuzz_run(s, data, n, max_record, true, &b, &cb);
    if (ra != rb) abort();
    if (ra == KEEL_OK) {
        if (a.records != a.accepted + a.quarantined || ca.rows != a.accepted) abort();
        if (a.records != b.records || a.accepted != b.accepted || a.quarantined != b.quarantined ||
            a.blank_lines != b.blank_lines || ca.digest != cb.digest ||
            memcmp(a.reasons, b.reasons, sizeof a.reasons) ||
            memcmp(a.repaired, b.repaired, a.n_columns * sizeof *a.repaired))
            abort(); /* the fast path changed the outcome */
    }
    if (ra != KEEL_OK && ra != KEEL_EEMPTY && ra != KEEL_EMISMATCH)
        abort(); /* memory input: only "empty" or "header lacks a column" can stop it */
    keel_validate_result_free(&a);
    keel_validate_result_free(&b);
}

#endif
