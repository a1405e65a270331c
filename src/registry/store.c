/*
 * store.c — the backend-neutral half of the store interface: dispatch through the backend's
 * table, transaction bookkeeping, and the small conveniences (keel_store_run, _int, _query)
 * that bind a list of arguments described by a type string, so registry code stays short.
 */
#include "registry/store.h"

#include <assert.h>
#include <string.h>

int keel_store_open(const keel_store_ops *ops, const char *location, keel_store **out,
                    keel_error *e)
{
    assert(ops && ops->version >= 1);
    return ops->open(location, out, e);
}

void keel_store_close(keel_store *s)
{
    if (!s) return;
    if (s->in_transaction) keel_store_rollback(s);
    s->ops->close(s);
}

const char *keel_store_errmsg(const keel_store *s)
{
    return s->errmsg;
}

const char *keel_store_dialect(const keel_store *s)
{
    return s->ops->dialect;
}

int keel_store_exec(keel_store *s, const char *sql)
{
    return s->ops->exec(s, sql);
}

int keel_store_begin(keel_store *s)
{
    assert(!s->in_transaction && "nested keel_store_begin");
    int rc = s->ops->begin(s);
    if (rc == KEEL_OK) s->in_transaction = 1;
    return rc;
}

int keel_store_commit(keel_store *s)
{
    assert(s->in_transaction);
    int rc = s->ops->commit(s);
    if (rc == KEEL_OK) s->in_transaction = 0;
    return rc;
}

int keel_store_rollback(keel_store *s)
{
    if (!s->in_transaction) return KEEL_OK;
    s->in_transaction = 0;
    return s->ops->rollback(s);
}

int keel_store_prepare(keel_store *s, const char *sql, keel_stmt **out)
{
    return s->ops->prepare(s, sql, out);
}

void keel_stmt_finalize(keel_stmt *st)
{
    if (st) st->store->ops->finalize(st);
}

int keel_stmt_reset(keel_stmt *st)
{
    return st->store->ops->reset(st);
}

int keel_stmt_step(keel_stmt *st)
{
    return st->store->ops->step(st);
}

int keel_stmt_bind_int(keel_stmt *st, int i, int64_t v)
{
    return st->store->ops->bind_int(st, i, v);
}

int keel_stmt_bind_double(keel_stmt *st, int i, double v)
{
    return st->store->ops->bind_double(st, i, v);
}

int keel_stmt_bind_text(keel_stmt *st, int i, const char *v)
{
    return st->store->ops->bind_text(st, i, v);
}

int keel_stmt_bind_blob(keel_stmt *st, int i, const void *p, size_t n)
{
    return st->store->ops->bind_blob(st, i, p, n);
}

int keel_stmt_type(keel_stmt *st, int col)
{
    return st->store->ops->column_type(st, col);
}

int64_t keel_stmt_int(keel_stmt *st, int col)
{
    return st->store->ops->column_int(st, col);
}

double keel_stmt_double(keel_stmt *st, int col)
{
    return st->store->ops->column_double(st, col);
}

const char *keel_stmt_text(keel_stmt *st, int col)
{
    return st->store->ops->column_text(st, col);
}

const void *keel_stmt_blob(keel_stmt *st, int col, size_t *n)
{
    return st->store->ops->column_blob(st, col, n);
}

int64_t keel_store_changes(keel_store *s)
{
    return s->ops->changes(s);
}

int keel_stmt_count(keel_stmt *st)
{
    return st->store->ops->column_count(st);
}

const char *keel_stmt_name(keel_stmt *st, int col)
{
    return st->store->ops->column_name(st, col);
}

/* Binds the arguments named by types from ap: 'i' int64_t, 'd' double, 's' string. */
static int bind_list(keel_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types && types[i]; i++) {
        int rc;
        switch (types[i]) {
        case 'i':
            rc = keel_stmt_bind_int(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = keel_stmt_bind_double(st, i + 1, va_arg(ap, double));
            break;
        case 's':
            rc = keel_stmt_bind_text(st, i + 1, va_arg(ap, const char *));
            break;
        default:
            assert(!"bad type letter in keel_store_* argument list");
            return KEEL_EINVAL;
        }
        if (rc != KEEL_OK) return rc;
    }
    return KEEL_OK;
}

int keel_store_queryv(keel_store *s, keel_stmt **out, const char *sql, const char *types,
                      va_list ap)
{
    *out = NULL;
    keel_stmt *st;
    int rc = keel_store_prepare(s, sql, &st);
    if (rc != KEEL_OK) return rc;
    rc = bind_list(st, types, ap);
    if (rc != KEEL_OK) {
        keel_stmt_finalize(st);
        return rc;
    }
    *out = st;
    return KEEL_OK;
}

int keel_store_query(keel_store *s, keel_stmt **out, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = keel_store_queryv(s, out, sql, types, ap);
    va_end(ap);
    return rc;
}

int keel_store_run(keel_store *s, const char *sql, const char *types, ...)
{
    keel_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = keel_store_queryv(s, &st, sql, types, ap);
    va_end(ap);
    if (rc != KEEL_OK) return rc;
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
    }
    keel_stmt_finalize(st);
    return rc < 0 ? rc : KEEL_OK;
}

int keel_store_int(keel_store *s, int64_t *out, const char *sql, const char *types, ...)
{
    keel_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = keel_store_queryv(s, &st, sql, types, ap);
    va_end(ap);
    if (rc != KEEL_OK) return rc;
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        *out = keel_stmt_int(st, 0);
        rc = KEEL_OK;
    } else if (rc == KEEL_STORE_DONE) {
        rc = KEEL_ENOENT;
    }
    keel_stmt_finalize(st);
    return rc;
}
