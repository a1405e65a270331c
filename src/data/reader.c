/*
 * reader.c — record readers: choosing one by format, and what all of them share.
 *
 * keel_reader_open picks the format's operations from one table, allocates the reader the
 * size they ask for, sets up the part every reader has (the file's name for messages, the
 * schema's column names in a hash set for readers that find columns by name) and lets the
 * implementation open the rest. From then on each read is one indirect call: per record
 * through keel_reader_next, per block through keel_reader_next_block, never per field.
 *
 * Errors are sticky: once a read has failed, r->failed holds its code and every later read
 * returns it without touching the implementation, so an implementation need not remember
 * that it is in a bad state.
 */
#include "data/reader_impl.h"

#include <stdarg.h>
#include <string.h>

/* The readers, by keel_format. */
static const keel_reader_ops *const formats[] = {
    [KEEL_FORMAT_CSV] = &reader_csv_ops,
    [KEEL_FORMAT_JSONL] = &reader_jsonl_ops,
};

void keel_reader_options_init(keel_reader_options *o)
{
    memset(o, 0, sizeof *o);
    o->format = -1;
    o->max_record_bytes = (size_t)64 << 20;
    o->chunk_bytes = (size_t)1 << 20;
}

keel_format keel_reader_format_of(const keel_schema *s, const char *path)
{
    int named = keel_format_of_path(path);
    return named >= 0 ? (keel_format)named : s->format;
}

static int open_source(const keel_schema *s, const reader_source *src, const keel_reader_options *o,
                       keel_reader **out, keel_error *e)
{
    *out = NULL;
    keel_reader_options defaults;
    if (!o) {
        keel_reader_options_init(&defaults);
        o = &defaults;
    }
    int format = o->format >= 0 ? o->format : (int)keel_reader_format_of(s, src->path);
    if ((size_t)format >= sizeof formats / sizeof *formats || !formats[format])
        return keel_error_set(e, KEEL_EINVAL, "no reader for format %d", format);
    const keel_reader_ops *ops = formats[format];
    keel_reader *r = keel_calloc(1, ops->size);
    if (!r) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    r->ops = ops;
    r->s = s;
    r->extra = o->extra_columns;
    r->one.why = "";
    const char *name = o->display_name ? o->display_name : src->path ? src->path : "(memory)";
    int rc =
        (r->name = keel_strdup(name)) ? keel_strset_init(&r->columns, s->n_columns) : KEEL_ENOMEM;
    if (rc != KEEL_OK) {
        keel_error_set(e, rc, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < s->n_columns; i++)
        keel_strset_add(&r->columns, s->columns[i].name, (uint32_t)i);
    if ((rc = ops->open(r, src, o, e)) != KEEL_OK) goto fail;
    *out = r;
    return KEEL_OK;
fail:
    keel_reader_close(r);
    return rc;
}

int keel_reader_open(const keel_schema *s, const char *path, const keel_reader_options *o,
                     keel_reader **out, keel_error *e)
{
    reader_source src = {path, NULL, 0};
    return open_source(s, &src, o, out, e);
}

int keel_reader_open_mem(const keel_schema *s, const void *data, size_t n,
                         const keel_reader_options *o, keel_reader **out, keel_error *e)
{
    reader_source src = {NULL, data ? data : "", n};
    return open_source(s, &src, o, out, e);
}

void keel_reader_close(keel_reader *r)
{
    if (!r) return;
    r->ops->close(r);
    keel_strset_free(&r->columns);
    keel_free(r->name);
    keel_free(r);
}

int keel_reader_next(keel_reader *r, keel_record *rec)
{
    if (r->failed) return r->failed;
    return r->ops->next(r, rec);
}

int keel_reader_next_block(keel_reader *r, const keel_record **recs)
{
    *recs = NULL;
    if (r->failed) return r->failed;
    if (r->ops->next_block) return r->ops->next_block(r, recs);
    int got = r->ops->next(r, &r->one);
    if (got == 1) *recs = &r->one;
    return got;
}

const char *keel_reader_errmsg(const keel_reader *r)
{
    return r->errmsg;
}

const char *keel_reader_format_name(const keel_reader *r)
{
    return r->ops->name;
}

uint64_t keel_reader_bytes_read(const keel_reader *r)
{
    return r->bytes_read;
}

uint64_t keel_reader_size(const keel_reader *r)
{
    return r->size;
}

uint64_t keel_reader_blank_lines(const keel_reader *r)
{
    return r->blank_lines;
}

/* ---- for the implementations ---- */

int reader_fail(keel_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    r->failed = code;
    return code;
}

int reader_open_tokenizer(const reader_source *src, const keel_csv_options *co, keel_csv **out,
                          keel_error *e)
{
    return src->path ? keel_csv_open(src->path, co, out, e)
                     : keel_csv_open_mem(src->mem, src->mem_len, co, out, e);
}

int reader_bind(keel_reader *r, const keel_field *names, size_t n, uint64_t line, const char *where,
                long *field_of_col)
{
    const keel_schema *s = r->s;
    for (size_t c = 0; c < s->n_columns; c++)
        field_of_col[c] = -1;
    for (size_t i = 0; i < n; i++) {
        long c = keel_strset_find(&r->columns, names[i].p, names[i].len);
        if (c < 0) {
            if (r->extra && keel_strlist_add(r->extra, names[i].p, names[i].len))
                return reader_fail(r, KEEL_ENOMEM, "%s: out of memory", r->name);
        } else if (field_of_col[c] < 0) {
            field_of_col[c] = (long)i;
        }
    }
    for (size_t c = 0; c < s->n_columns; c++)
        if (field_of_col[c] < 0)
            return reader_fail(r, KEEL_EMISMATCH, "%s:%llu: column '%s' of the schema is not in %s",
                               r->name, (unsigned long long)line, s->columns[c].name, where);
    return KEEL_OK;
}

void keel_record_position(const keel_record *rec, size_t off, uint64_t *line, uint64_t *col)
{
    if (off > rec->raw_len) off = rec->raw_len;
    uint64_t l = rec->line;
    size_t line_start = 0;
    for (size_t i = 0; i < off; i++) {
        if (rec->raw[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    }
    *line = l;
    *col = off - line_start + 1;
}
