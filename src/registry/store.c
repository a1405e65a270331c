/*
 * store.c — the backend-neutral half of the store interface: the backends built in and the
 * choice among them by a location's scheme, dispatch through the backend's table,
 * transaction bookkeeping, and the small conveniences (keel_store_run, _int, _query) that
 * bind a list of arguments described by a type string, so registry code stays short.
 */
#include "registry/store.h"

#include <assert.h>
#include <strings.h>
#include <string.h>

/* A second backend joins this list (and the Makefile its library); nothing else changes. */
const keel_store_ops *const keel_store_backends[] = {&keel_store_sqlite, NULL};

/* The length of location's scheme ([A-Za-z][A-Za-z0-9+.-]* before a ':'), 0 when it has
 * none. */
static size_t scheme_len(const char *location)
{
    size_t n = 0;
    if (!location) return 0;
    while (location[n] && location[n] != ':') {
        char c = location[n];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool other = (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
        if (!alpha && !(n > 0 && other)) return 0;
        n++;
    }
    return location[n] == ':' ? n : 0;
}

const keel_store_ops *keel_store_backend(const char *location)
{
    size_t n = scheme_len(location);
    if (!n) return NULL;
    for (size_t b = 0; keel_store_backends[b]; b++) {
        const keel_store_ops *ops = keel_store_backends[b];
        for (size_t k = 0; ops->version >= 2 && ops->schemes && ops->schemes[k]; k++)
            if (strlen(ops->schemes[k]) == n && !strncasecmp(ops->schemes[k], location, n))
                return ops;
    }
    return NULL;
}

/* "sqlite (sqlite:///ABS/PATH, sqlite:REL/PATH)": every scheme built in, for messages. */
static void schemes_built_in(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t b = 0; keel_store_backends[b]; b++) {
        const keel_store_ops *ops = keel_store_backends[b];
        for (size_t k = 0; ops->version >= 2 && ops->schemes && ops->schemes[k]; k++) {
            int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", ops->schemes[k]);
            if (w < 0 || (size_t)w >= cap - len) return;
            len += (size_t)w;
        }
    }
}

/* The refusal of a location no backend built in opens. */
static int no_backend(const char *location, keel_error *e)
{
    char built_in[200];
    schemes_built_in(built_in, sizeof built_in);
    size_t n = scheme_len(location);
    if (!n)
        return keel_error_set(e, KEEL_EINVAL,
                              "the registry location must start with a scheme, as in "
                              "sqlite:///abs/path/registry.db or sqlite:relative/path "
                              "(schemes built in: %s)",
                              built_in);
    return keel_error_set(e, KEEL_EINVAL,
                          "the registry location has the scheme '%.*s', which this keel does "
                          "not have; the schemes built in: %s (e.g. "
                          "sqlite:///abs/path/registry.db or sqlite:relative/path)",
                          (int)KEEL_MIN(n, 40), location, built_in);
}

int keel_store_open_location(const char *location, keel_store **out, keel_error *e)
{
    *out = NULL;
    const keel_store_ops *ops = keel_store_backend(location);
    return ops ? keel_store_open(ops, location, out, e) : no_backend(location, e);
}

int keel_store_exists(const char *location, bool *exists, keel_error *e)
{
    *exists = false;
    const keel_store_ops *ops = keel_store_backend(location);
    return ops ? ops->exists(location, exists, e) : no_backend(location, e);
}

void keel_store_location_display(const char *location, char *buf, size_t cap)
{
    if (!cap) return;
    const char *auth = strstr(location, "://");
    const char *at = NULL, *colon = NULL;
    if (auth && scheme_len(location) == (size_t)(auth - location)) {
        auth += 3;
        size_t end = strcspn(auth, "/?#");
        for (size_t i = 0; i < end; i++)
            if (auth[i] == '@') at = auth + i; /* the last '@' ends the user information */
        if (at) colon = memchr(auth, ':', (size_t)(at - auth));
    }
    if (!colon) {
        snprintf(buf, cap, "%s", location);
        return;
    }
    snprintf(buf, cap, "%.*s:***%s", (int)(colon - location), location, at);
}

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

int keel_store_snapshot_begin(keel_store *s)
{
    assert(!s->in_transaction && "a snapshot inside a write transaction");
    return s->ops->exec(s, s->ops->sql->snapshot_begin);
}

int keel_store_snapshot_end(keel_store *s)
{
    return s->ops->exec(s, "ROLLBACK"); /* it wrote nothing: ending it either way is the same */
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
