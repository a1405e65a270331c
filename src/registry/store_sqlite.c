/*
 * store_sqlite.c — the SQLite backend of the store interface (store.h), the embedded default.
 *
 * Durability and concurrency come from SQLite's settings, chosen once here:
 *   - journal_mode=WAL: readers never block the writer and the writer never blocks readers;
 *   - synchronous=FULL: the WAL is fsync'ed at every commit, so an acknowledged write
 *     survives a crash or power loss (NORMAL would only survive a crash of the process);
 *   - a 60-second busy handler plus BEGIN IMMEDIATE for every write transaction: a second
 *     writer waits for the first instead of failing with "database is locked", and a write
 *     transaction never has to be retried because a read turned into a write too late;
 *   - foreign_keys=ON, so the lineage edges (run -> dataset, version -> run, ...) always
 *     point at rows that exist.
 *
 * Its locations are sqlite:PATH and sqlite://PATH (store.h), or a plain file path; the SQL
 * that is SQLite's own (the schema's DDL) is in sql_sqlite.c.
 */
#include "registry/store.h"

#include <assert.h>
#include <sqlite3.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct sqlite_store {
    keel_store base;
    sqlite3 *db;
} sqlite_store;

typedef struct sqlite_stmt {
    keel_stmt base;
    sqlite3_stmt *st;
} sqlite_stmt;

static sqlite3 *db_of(keel_store *s)
{
    return ((sqlite_store *)s)->db;
}

static sqlite3_stmt *st_of(keel_stmt *st)
{
    return ((sqlite_stmt *)st)->st;
}

/* Maps an SQLite result code to a keel code and keeps SQLite's message on the store. */
static int fail(keel_store *s, int rc)
{
    snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(db_of(s)));
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return KEEL_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return KEEL_EFORMAT;
    case SQLITE_CONSTRAINT:
        return KEEL_ESTATE;
    case SQLITE_CANTOPEN:
        return KEEL_ENOENT;
    case SQLITE_ERROR:
        return KEEL_EINVAL;
    default:
        return KEEL_EIO;
    }
}

static int sq_exec(keel_store *s, const char *sql)
{
    int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KEEL_OK : fail(s, rc);
}

static void sq_close(keel_store *s)
{
    /* sqlite3_close_v2 would defer the close while statements are open; a plain close
     * returning SQLITE_BUSY here means a statement leaked, which tests should see. */
    int rc = sqlite3_close(db_of(s));
    assert(rc == SQLITE_OK && "a statement was not finalized before keel_store_close");
    (void)rc;
    keel_free(s);
}

/* The busy handler: how a connection waits for another's write lock. SQLite's own backs off
 * to 100 ms sleeps, so a process that writes continuously can keep a waiting one out for
 * seconds; polling every millisecond for the first second (then every 10 ms) gives the lock
 * to a waiter at the writer's next commit. Gives up after BUSY_TIMEOUT_MS. */
#define BUSY_TIMEOUT_MS 60000
static int on_busy(void *ud, int n)
{
    (void)ud;
    int ms = n < 1000 ? 1 : 10;
    int waited = n < 1000 ? n : 1000 + (n - 1000) * 10;
    if (waited >= BUSY_TIMEOUT_MS) return 0;
    sqlite3_sleep(ms);
    return 1;
}

/* PRAGMA journal_mode=WAL, retried while another connection holds the file (see sq_open);
 * SQLITE_MISMATCH when the database answers with another mode. */
static int set_wal(sqlite3 *db)
{
    for (int waited = 0;; waited++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = mode && !sqlite3_stricmp(mode, "wal") ? SQLITE_OK : SQLITE_MISMATCH;
        }
        sqlite3_finalize(st);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) return rc;
        if (waited >= BUSY_TIMEOUT_MS) return rc;
        sqlite3_sleep(1);
    }
}

/* The file a location names: "sqlite:PATH" and "sqlite://PATH" name PATH (one "//" is
 * dropped, so sqlite:///abs is /abs and sqlite://rel is rel: SQLite has no host); anything
 * else is a path already. NULL for a location that names no file. */
static const char *file_of(const char *location)
{
    if (strncasecmp(location, "sqlite:", 7) != 0) return *location ? location : NULL;
    const char *path = location + 7;
    if (path[0] == '/' && path[1] == '/') path += 2;
    return *path ? path : NULL;
}

static int sq_open(const char *location, keel_store **out, keel_error *e)
{
    *out = NULL;
    const char *where = location;
    location = file_of(location);
    if (!location)
        return keel_error_set(e, KEEL_EINVAL,
                              "the registry location '%s' names no file (write "
                              "sqlite:///abs/path/registry.db or sqlite:relative/path)",
                              where);
    sqlite_store *s = keel_calloc(1, sizeof *s);
    if (!s) return keel_error_set(e, KEEL_ENOMEM, "out of memory opening %s", location);
    s->base.ops = &keel_store_sqlite;
    int rc = sqlite3_open_v2(
        location, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_CANTOPEN ? KEEL_ENOENT : KEEL_EIO;
        keel_error_set(e, code, "cannot open the registry %s: %s", location,
                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_close(s->db);
        keel_free(s);
        return code;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_handler(s->db, on_busy, NULL);
    /* Switching a new file to WAL answers SQLITE_BUSY at once, without the busy handler, while
     * another process is converting the same file; so it is retried here. A file that is not
     * a database fails with SQLITE_NOTADB. */
    const char *step = "journal_mode";
    rc = set_wal(s->db);
    if (rc == SQLITE_OK) {
        step = "settings";
        rc = sqlite3_exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL,
                          NULL);
    }
    if (rc != SQLITE_OK) {
        int code =
            (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? KEEL_EFORMAT : KEEL_EIO;
        keel_error_set(e, code, "cannot open the registry %s (%s): %s", location, step,
                       rc == SQLITE_MISMATCH ? "the database refuses write-ahead logging"
                                             : sqlite3_errmsg(s->db));
        sqlite3_close(s->db);
        keel_free(s);
        return code;
    }
    *out = &s->base;
    return KEEL_OK;
}

static int sq_exists(const char *location, bool *out, keel_error *e)
{
    const char *path = file_of(location);
    if (!path)
        return keel_error_set(e, KEEL_EINVAL, "the registry location '%s' names no file", location);
    *out = access(path, F_OK) == 0;
    return KEEL_OK;
}

static int sq_begin(keel_store *s)
{
    return sq_exec(s, "BEGIN IMMEDIATE");
}

static int sq_commit(keel_store *s)
{
    return sq_exec(s, "COMMIT");
}

static int sq_rollback(keel_store *s)
{
    if (sqlite3_get_autocommit(db_of(s))) return KEEL_OK; /* SQLite already rolled back */
    return sq_exec(s, "ROLLBACK");
}

static int sq_prepare(keel_store *s, const char *sql, keel_stmt **out)
{
    *out = NULL;
    sqlite_stmt *st = keel_calloc(1, sizeof *st);
    if (!st) return KEEL_ENOMEM;
    int rc = sqlite3_prepare_v2(db_of(s), sql, -1, &st->st, NULL);
    if (rc != SQLITE_OK) {
        keel_free(st);
        return fail(s, rc);
    }
    st->base.store = s;
    *out = &st->base;
    return KEEL_OK;
}

static int bound(keel_stmt *st, int rc)
{
    return rc == SQLITE_OK ? KEEL_OK : fail(st->store, rc);
}

static int sq_bind_int(keel_stmt *st, int i, int64_t v)
{
    return bound(st, sqlite3_bind_int64(st_of(st), i, v));
}

static int sq_bind_double(keel_stmt *st, int i, double v)
{
    return bound(st, sqlite3_bind_double(st_of(st), i, v));
}

static int sq_bind_text(keel_stmt *st, int i, const char *v)
{
    if (!v) return bound(st, sqlite3_bind_null(st_of(st), i));
    return bound(st, sqlite3_bind_text(st_of(st), i, v, -1, SQLITE_TRANSIENT));
}

static int sq_bind_blob(keel_stmt *st, int i, const void *p, size_t n)
{
    return bound(st, sqlite3_bind_blob64(st_of(st), i, p, n, SQLITE_TRANSIENT));
}

static int sq_step(keel_stmt *st)
{
    int rc = sqlite3_step(st_of(st));
    if (rc == SQLITE_ROW) return KEEL_STORE_ROW;
    if (rc == SQLITE_DONE) return KEEL_STORE_DONE;
    return fail(st->store, rc);
}

static int sq_reset(keel_stmt *st)
{
    sqlite3_clear_bindings(st_of(st));
    return bound(st, sqlite3_reset(st_of(st)));
}

static void sq_finalize(keel_stmt *st)
{
    sqlite3_finalize(st_of(st));
    keel_free(st);
}

static int sq_column_type(keel_stmt *st, int col)
{
    switch (sqlite3_column_type(st_of(st), col)) {
    case SQLITE_INTEGER:
        return KEEL_STORE_INT;
    case SQLITE_FLOAT:
        return KEEL_STORE_FLOAT;
    case SQLITE_TEXT:
        return KEEL_STORE_TEXT;
    case SQLITE_BLOB:
        return KEEL_STORE_BLOB;
    default:
        return KEEL_STORE_NULL;
    }
}

static int64_t sq_column_int(keel_stmt *st, int col)
{
    return sqlite3_column_int64(st_of(st), col);
}

static double sq_column_double(keel_stmt *st, int col)
{
    return sqlite3_column_double(st_of(st), col);
}

static const char *sq_column_text(keel_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st_of(st), col);
}

static const void *sq_column_blob(keel_stmt *st, int col, size_t *n)
{
    const void *p = sqlite3_column_blob(st_of(st), col);
    *n = (size_t)sqlite3_column_bytes(st_of(st), col);
    return p;
}

static int64_t sq_changes(keel_store *s)
{
    return sqlite3_changes64(db_of(s));
}

static int sq_column_count(keel_stmt *st)
{
    return sqlite3_column_count(st_of(st));
}

static const char *sq_column_name(keel_stmt *st, int col)
{
    return sqlite3_column_name(st_of(st), col);
}

static const char *const sqlite_schemes[] = {"sqlite", NULL};

const keel_store_ops keel_store_sqlite = {
    .version = 2,
    .dialect = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .bind_int = sq_bind_int,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .column_type = sq_column_type,
    .column_int = sq_column_int,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .changes = sq_changes,
    .column_count = sq_column_count,
    .column_name = sq_column_name,
    .schemes = sqlite_schemes,
    .sql = &keel_sql_sqlite,
    .exists = sq_exists,
};
