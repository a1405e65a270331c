/*
 * store.h — the registry's storage interface: a small SQL connection behind a versioned table
 * of function pointers, in the manner of SQLite's VFS.
 *
 * The registry and the audit chain speak SQL through this interface only, so a PostgreSQL
 * backend (libpq) can be added as a second keel_store_ops without touching them. What callers
 * may rely on, whatever the backend:
 *   - placeholders are `?`, numbered left to right from 1 (a PostgreSQL backend rewrites them
 *     to $1, $2, ...);
 *   - INSERT ... RETURNING works;
 *   - keel_store_begin starts a write transaction that waits for other writers (SQLite:
 *     BEGIN IMMEDIATE with a busy handler) rather than failing with "database is locked";
 *   - a committed transaction is durable when keel_store_commit returns (SQLite: WAL with
 *     synchronous=FULL, an fsync on every commit);
 *   - integers are 64-bit, text is UTF-8, blobs are bytes.
 * Differences in DDL live in the migrations, which are chosen by keel_store_dialect().
 *
 * A keel_store is one connection: use it from one thread at a time. Statements belong to
 * their store and must be finalized before it is closed.
 */
#ifndef KEEL_REGISTRY_STORE_H
#define KEEL_REGISTRY_STORE_H

#include "base/base.h"

typedef struct keel_store keel_store;
typedef struct keel_stmt keel_stmt;

/* keel_store_step's results besides errors. */
enum { KEEL_STORE_DONE = 0, KEEL_STORE_ROW = 1 };

/* Column types as reported by keel_stmt_type. */
enum { KEEL_STORE_NULL = 0, KEEL_STORE_INT, KEEL_STORE_FLOAT, KEEL_STORE_TEXT, KEEL_STORE_BLOB };

/* A backend. Every function returns KEEL_OK or a negative KEEL_E* code and leaves the detail
 * in the store's message (keel_store_errmsg). */
typedef struct keel_store_ops {
    int version;         /* 1 */
    const char *dialect; /* "sqlite" or "postgres" */
    int (*open)(const char *location, keel_store **out, keel_error *e);
    void (*close)(keel_store *s);
    int (*exec)(keel_store *s, const char *sql); /* one or more statements, no parameters */
    int (*begin)(keel_store *s);
    int (*commit)(keel_store *s);
    int (*rollback)(keel_store *s);
    int (*prepare)(keel_store *s, const char *sql, keel_stmt **out);
    int (*bind_int)(keel_stmt *st, int i, int64_t v);
    int (*bind_double)(keel_stmt *st, int i, double v);
    int (*bind_text)(keel_stmt *st, int i, const char *v); /* NULL binds SQL NULL */
    int (*bind_blob)(keel_stmt *st, int i, const void *p, size_t n);
    int (*step)(keel_stmt *st); /* KEEL_STORE_ROW, KEEL_STORE_DONE or an error */
    int (*reset)(keel_stmt *st);
    void (*finalize)(keel_stmt *st);
    int (*column_type)(keel_stmt *st, int col);
    int64_t (*column_int)(keel_stmt *st, int col);
    double (*column_double)(keel_stmt *st, int col);
    const char *(*column_text)(keel_stmt *st, int col); /* NULL for SQL NULL */
    const void *(*column_blob)(keel_stmt *st, int col, size_t *n);
    int64_t (*changes)(keel_store *s); /* rows changed by the last statement */
    int (*column_count)(keel_stmt *st);
    const char *(*column_name)(keel_stmt *st, int col);
} keel_store_ops;

/* The part every backend's connection starts with. */
struct keel_store {
    const keel_store_ops *ops;
    char errmsg[512];
    int in_transaction;
};
struct keel_stmt {
    keel_store *store;
};

/* The SQLite backend (store_sqlite.c). location is a file path. The file is created when
 * missing; journal_mode=WAL, synchronous=FULL, foreign_keys=ON; a writer waits up to 60 s for
 * another. */
extern const keel_store_ops keel_store_sqlite;

/* ---- thin dispatchers, so callers read like plain SQL code ---------------------------- */

int keel_store_open(const keel_store_ops *ops, const char *location, keel_store **out,
                    keel_error *e);
void keel_store_close(keel_store *s); /* NULL does nothing */
const char *keel_store_errmsg(const keel_store *s);
const char *keel_store_dialect(const keel_store *s);
int keel_store_exec(keel_store *s, const char *sql);
/* Write transactions. Nested begin is a programmer error (asserted). */
int keel_store_begin(keel_store *s);
int keel_store_commit(keel_store *s);
int keel_store_rollback(keel_store *s); /* safe to call when no transaction is open */

int keel_store_prepare(keel_store *s, const char *sql, keel_stmt **out);
void keel_stmt_finalize(keel_stmt *st); /* NULL does nothing */
int keel_stmt_reset(keel_stmt *st);
int keel_stmt_step(keel_stmt *st);
int keel_stmt_bind_int(keel_stmt *st, int i, int64_t v);
int keel_stmt_bind_double(keel_stmt *st, int i, double v);
int keel_stmt_bind_text(keel_stmt *st, int i, const char *v);
int keel_stmt_bind_blob(keel_stmt *st, int i, const void *p, size_t n);
int keel_stmt_type(keel_stmt *st, int col);
int64_t keel_stmt_int(keel_stmt *st, int col);
double keel_stmt_double(keel_stmt *st, int col);
const char *keel_stmt_text(keel_stmt *st, int col);
const void *keel_stmt_blob(keel_stmt *st, int col, size_t *n);
int64_t keel_store_changes(keel_store *s);
int keel_stmt_count(keel_stmt *st);
const char *keel_stmt_name(keel_stmt *st, int col);

/* Convenience: prepares sql, binds the arguments described by types ('i' int64_t, 'd'
 * double, 's' const char * or NULL; pass integers as int64_t, a plain int is undefined), runs it to
 * completion and finalizes it. For statements that return no rows or whose rows are not needed. */
int keel_store_run(keel_store *s, const char *sql, const char *types, ...);
/* Convenience: like keel_store_run, but returns the first column of the first row as an
 * integer in *out (KEEL_ENOENT when there is no row; *out is left alone then). */
int keel_store_int(keel_store *s, int64_t *out, const char *sql, const char *types, ...);
/* Prepares sql and binds the arguments as keel_store_run does; the caller steps and
 * finalizes the statement. */
int keel_store_query(keel_store *s, keel_stmt **out, const char *sql, const char *types, ...);
int keel_store_queryv(keel_store *s, keel_stmt **out, const char *sql, const char *types,
                      va_list ap);

/* ---- migrations (migrate.c) -----------------------------------------------------------
 * Brings the store's schema to the newest version, one transaction per step, recording the
 * version in the table keel_schema_version. Refuses (KEEL_EFORMAT) a store whose version is
 * newer than this keel knows. *version_out, if not NULL, gets the version after the call. */
int keel_store_migrate(keel_store *s, int *version_out);
/* The newest schema version this keel knows. */
int keel_store_schema_version(void);

#endif /* KEEL_REGISTRY_STORE_H */
