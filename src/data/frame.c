/*
 * frame.c — allocation and growth of columnar frames.
 *
 * Rows are added by writing at index n_rows in every column and then incrementing n_rows
 * (see validate.c), so a row that turns out bad half-way is abandoned by not incrementing.
 * Text columns append bytes as they go; an abandoned row's bytes are cut off again by
 * resetting text.len to off[n_rows].
 */
#include "data/frame.h"

#include <string.h>

keel_frame *keel_frame_new(const keel_schema *s)
{
    keel_frame *f = keel_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->schema = s;
    f->n_cols = s->n_columns;
    f->cols = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *f->cols);
    if (!f->cols) {
        keel_free(f);
        return NULL;
    }
    for (size_t i = 0; i < s->n_columns; i++) {
        f->cols[i].def = &s->columns[i];
        f->cols[i].type = s->columns[i].type;
        keel_buf_init(&f->cols[i].text);
    }
    if (keel_frame_reserve(f, 1024)) {
        keel_frame_free(f);
        return NULL;
    }
    return f;
}

void keel_frame_free(keel_frame *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_cols; i++) {
        keel_column *c = &f->cols[i];
        keel_free(c->num);
        keel_free(c->cat);
        keel_free(c->boolean);
        keel_free(c->ts);
        keel_free(c->off);
        keel_free(c->missing);
        keel_buf_free(&c->text);
    }
    keel_free(f->cols);
    keel_free(f);
}

static int grow(void **p, size_t n, size_t size)
{
    void *q = keel_reallocarray(*p, n, size);
    if (!q) return KEEL_ENOMEM;
    *p = q;
    return KEEL_OK;
}

int keel_frame_reserve(keel_frame *f, size_t rows)
{
    if (rows <= f->cap_rows) return KEEL_OK;
    size_t cap = f->cap_rows ? f->cap_rows : 1024;
    while (cap < rows)
        cap *= 2;
    for (size_t i = 0; i < f->n_cols; i++) {
        keel_column *c = &f->cols[i];
        int rc = KEEL_OK;
        switch (c->type) {
        case KEEL_TYPE_NUMERIC:
            rc = grow((void **)&c->num, cap, sizeof *c->num);
            break;
        case KEEL_TYPE_CATEGORICAL:
            rc = grow((void **)&c->cat, cap, sizeof *c->cat);
            break;
        case KEEL_TYPE_BOOLEAN:
            rc = grow((void **)&c->boolean, cap, 1);
            break;
        case KEEL_TYPE_TIMESTAMP:
            rc = grow((void **)&c->ts, cap, sizeof *c->ts);
            break;
        default:
            rc = grow((void **)&c->off, cap + 1, sizeof *c->off);
            if (!rc) rc = grow((void **)&c->missing, cap, 1);
            if (!rc && f->cap_rows == 0) c->off[0] = 0;
        }
        if (rc) return rc; /* columns grown so far keep their larger arrays: harmless */
    }
    f->cap_rows = cap;
    return KEEL_OK;
}

void keel_frame_clear(keel_frame *f)
{
    f->n_rows = 0;
    for (size_t i = 0; i < f->n_cols; i++)
        if (f->cols[i].off) {
            f->cols[i].off[0] = 0;
            keel_buf_reset(&f->cols[i].text);
        }
}

int keel_frame_append(keel_frame *dst, const keel_frame *src)
{
    size_t n = src->n_rows, at = dst->n_rows, total;
    if (src->n_cols != dst->n_cols || !keel_size_add(at, n, &total)) return KEEL_EINVAL;
    if (keel_frame_reserve(dst, total)) return KEEL_ENOMEM;
    for (size_t i = 0; i < dst->n_cols; i++) {
        keel_column *d = &dst->cols[i];
        const keel_column *s = &src->cols[i];
        if (d->type != s->type) return KEEL_EINVAL;
        switch (d->type) {
        case KEEL_TYPE_NUMERIC:
            memcpy(d->num + at, s->num, n * sizeof *d->num);
            break;
        case KEEL_TYPE_CATEGORICAL:
            memcpy(d->cat + at, s->cat, n * sizeof *d->cat);
            break;
        case KEEL_TYPE_BOOLEAN:
            memcpy(d->boolean + at, s->boolean, n);
            break;
        case KEEL_TYPE_TIMESTAMP:
            memcpy(d->ts + at, s->ts, n * sizeof *d->ts);
            break;
        default: {
            uint64_t base = d->text.len, first = s->off[0], bytes = s->off[n] - first;
            if (bytes && keel_buf_append(&d->text, s->text.data + first, bytes))
                return KEEL_ENOMEM; /* earlier columns got their rows; n_rows not moved yet */
            for (size_t r = 0; r < n; r++)
                d->off[at + r + 1] = base + (s->off[r + 1] - first);
            memcpy(d->missing + at, s->missing, n);
        }
        }
    }
    dst->n_rows = total;
    return KEEL_OK;
}
