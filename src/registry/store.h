/*
 * store.h — the registry's storage interface: a small SQL connection behind a versioned table
 * of function pointers, in the manner of SQLite's VFS.
 *
 * The registry and the audit chain speak SQL through this interface only, so a PostgreSQL
 * backend (libpq) can be added as a second keel_store_ops without touching them. What callers
 * may rely on, whatever the backend:
 *   - placeholders are `?`, numbered left to right from 1 (a PostgreSQL backend rewrites them
 *     to $1, $2, ...);
 *   - INSERT ... RETURNING, ON CONFLICT ... DO NOTHING / DO UPDATE SET x = excluded.x,
 *     IS DISTINCT FROM, coalesce, nullif, substr, || and LIMIT ? work;
 *   - keel_store_begin starts a write transaction that waits for other writers (SQLite:
 *     BEGIN IMMEDIATE with a busy handler) rather than failing with "database is locked";
 *   - a committed transaction is durable when keel_store_commit returns (SQLite: WAL with
 *     synchronous=FULL, an fsync on every commit);
 *   - several statements of one store may be stepped in turn (a query run inside another's
 *     loop): SQLite does this natively; a backend whose protocol cannot (libpq) fetches a
 *     result whole before returning its first row;
 *   - integers are 64-bit, text is UTF-8, blobs are bytes.
 * The SQL the registry runs is written in that common subset; identifiers that are reserved
 * words somewhere ("user") are double-quoted, and JSON is built in C from plain rows, never
 * with a database's JSON functions. What has to differ between databases (the DDL of each
 * schema step, questions to the catalog) is in the backend's keel_store_sql table, never
 * inline in the registry's files.
 *
 * Locations. A store is named by a location "SCHEME:...", and keel_store_open_location picks
 * the backend built in for SCHEME:
 *     sqlite:///abs/path/registry.db   sqlite://PATH and sqlite:PATH: a file; a PATH that
 *     sqlite:relative/path             does not start with '/' is relative to the working
 *                                      directory (there is no host part)
 * A PostgreSQL backend will answer to postgresql:// (not built yet).
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

/* The SQL that differs between databases, as one backend's dialect writes it. A statement
 * that must differ gets a member here, written by every backend, rather than a branch on the
 * dialect in the registry's files. */
typedef struct keel_store_sql {
    /* The DDL of each schema step (keel_store_schema_steps), indexed by version - 1: one or
     * more statements, run inside the step's transaction. Every backend has every step. */
    const char *const *steps;
    size_t n_steps;
    /* Creates the table of applied steps:
     *     keel_schema_version(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL). */
    const char *version_table;
    /* One parameter, a table name; one row whose one column is 1 when that table exists in
     * the store (in the schema keel uses), else 0. */
    const char *table_exists;
    /* Starts a read-only transaction whose reads all see one snapshot of the store, while
     * writers go on (SQLite in WAL mode: a deferred BEGIN; PostgreSQL: REPEATABLE READ). */
    const char *snapshot_begin;
} keel_store_sql;

/* A backend. Every function returns KEEL_OK or a negative KEEL_E* code and leaves the detail
 * in the store's message (keel_store_errmsg). Version 2 added schemes, sql and exists. */
typedef struct keel_store_ops {
    int version;         /* 2 */
    const char *dialect; /* "sqlite" or "postgres" */
    /* location: what keel_store_open_location was given ("sqlite:///x.db"); a backend may
     * also accept its own plainer form (SQLite: a file path). */
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
    /* ---- version 2 ---- */
    const char *const *schemes; /* the location schemes it opens, NULL-terminated */
    const keel_store_sql *sql;  /* its dialect's statements */
    /* Whether a store is at location already (SQLite: the file exists), without creating
     * one: for callers that must not (a report). */
    int (*exists)(const char *location, bool *out, keel_error *e);
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

/* The SQLite backend (store_sqlite.c, its SQL in sql_sqlite.c). location is sqlite:PATH,
 * sqlite://PATH or a plain file path. The file is created when missing; journal_mode=WAL,
 * synchronous=FULL, foreign_keys=ON; a writer waits up to 60 s for another. */
extern const keel_store_ops keel_store_sqlite;
extern const keel_store_sql keel_sql_sqlite;

/* ---- locations ------------------------------------------------------------------------ */

/* The backends built in, NULL-terminated (store.c). */
extern const keel_store_ops *const keel_store_backends[];
/* The backend whose schemes include location's scheme (the text before the first ':',
 * compared without regard to case); NULL when there is none or location has no scheme. */
const keel_store_ops *keel_store_backend(const char *location);
/* Opens the store at location with keel_store_backend(location). KEEL_EINVAL when no backend
 * built in opens it: the message names the scheme and the schemes built in, and never repeats
 * the rest of the location (it may hold a password). Otherwise as the backend's open. */
int keel_store_open_location(const char *location, keel_store **out, keel_error *e);
/* Whether a store is at location already, asked of keel_store_backend(location) without
 * opening or creating anything. KEEL_EINVAL as keel_store_open_location for a location no
 * backend built in opens. */
int keel_store_exists(const char *location, bool *exists, keel_error *e);
/* Writes location into buf for messages, with the password of a "scheme://user:password@host"
 * location replaced by "***". Always NUL-terminates (cap > 0); cut to fit. */
void keel_store_location_display(const char *location, char *buf, size_t cap);

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
/* A read snapshot (keel_store_sql.snapshot_begin): every read until keel_store_snapshot_end
 * sees the store as it was at the first of them, so that reading two tables cannot straddle
 * another process's commit. Outside a write transaction; nothing may be written in it. */
int keel_store_snapshot_begin(keel_store *s);
int keel_store_snapshot_end(keel_store *s);

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

/* ---- schema and migrations (migrate.c) ------------------------------------------------
 * The schema is a list of steps; step N brings it from version N-1 to N. The store records
 * each step applied in keel_schema_version. Steps are append-only: a released step is never
 * edited; a change is a new step. Their descriptions are here, their SQL per dialect in the
 * backends (keel_store_sql.steps). */
typedef struct keel_schema_step {
    int version;             /* the version the step brings the schema to */
    const char *description; /* what it changes, one sentence for people */
    /* A keel that knows this step can still read a store that lacks it (the step adds an
     * index, say): reads may proceed before `keel registry migrate`, writes may not. */
    bool read_compatible;
} keel_schema_step;

/* Every step, oldest first: steps[i].version == i + 1. *n gets the count. Static data. */
const keel_schema_step *keel_store_schema_steps(size_t *n);
/* The newest schema version this keel knows. */
int keel_store_schema_version(void);
/* The store's schema version in *version: 0 for a store without keel's schema (a new, empty
 * one). A version above keel_store_schema_version() is reported, not refused: callers say
 * what to do about it. */
int keel_store_schema_read(keel_store *s, int *version);
/* Creates keel's schema at the newest version in a store without one, in a single write
 * transaction, so that another process sees no schema or all of it, never a part. When the
 * store has a schema by the time the transaction starts (another process made it first),
 * nothing is done. *version, if not NULL, gets the store's version after the call. Must be
 * called outside a transaction. */
int keel_store_schema_create(keel_store *s, int *version);
/* Applies step `version` inside the caller's open write transaction, recording it in
 * keel_schema_version; *applied says whether it ran. Nothing is done (*applied false) when the
 * store is at `version` or later already (another process migrated first). KEEL_ESTATE when
 * there is no open transaction or the store is below version - 1; KEEL_EINVAL for a step this
 * keel does not know or one the backend's dialect lacks. */
int keel_store_migrate_step(keel_store *s, int version, bool *applied);
/* Brings the store to the newest version: creates the schema in a new store, else applies the
 * pending steps, one transaction each. Records nothing but keel_schema_version, so it is for
 * stores used without a registry (tests, benchmarks); a registry migrates with
 * keel_registry_migrate, which audits each step. Refuses (KEEL_EFORMAT) a store whose version
 * is newer than this keel knows. *version_out, if not NULL, gets the version after the call. */
int keel_store_migrate(keel_store *s, int *version_out);

#endif /* KEEL_REGISTRY_STORE_H */
