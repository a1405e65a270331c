/*
 * migrate.c — the registry's schema versions: the list of steps, reading a store's version,
 * creating the schema in a new store, and applying one step.
 *
 * Each step is one move from version N-1 to N, run in a write transaction together with the
 * row that records it in keel_schema_version, so a crash leaves the store at N-1 or at N,
 * never between. Steps are append-only: a released step is never edited; a change is a new
 * step, described here and written in every backend's dialect (keel_store_sql.steps).
 *
 * A new store gets every step in one transaction (keel_store_schema_create): another process
 * opening it at the same moment sees no schema, or the newest, never a version in between
 * that it would take for an old registry. An existing store is moved forward only when asked
 * (keel_store_migrate_step, which keel_registry_migrate calls with an audit event per step):
 * a newer keel does not change an older registry's schema by surprise.
 */
#include "registry/store.h"

#include <string.h>

/* What each step does. The SQL of step N is keel_store_sql.steps[N - 1] in every dialect. */
static const keel_schema_step steps[] = {
    {1,
     "the registry's tables: identities, datasets, runs and their inputs, models, versions, "
     "approvals, aliases and their history, tags, deployments, the audit chain and its "
     "checkpoints",
     false},
    {2,
     "an index on model_versions(artifact_sha256), so that a version is found by its "
     "artifact's SHA-256 without reading every version",
     true},
    {3,
     "identities' public keys (approvals, rejections and alias moves signed by the person who "
     "makes them), the server's bearer tokens (kept as SHA-256 only), and an audited baseline "
     "of every table, from which the audit chain covers the registry's state",
     true},
};

const keel_schema_step *keel_store_schema_steps(size_t *n)
{
    *n = KEEL_ARRAY_LEN(steps);
    return steps;
}

int keel_store_schema_version(void)
{
    return steps[KEEL_ARRAY_LEN(steps) - 1].version;
}

static int fail(keel_store *s, int code, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int fail(keel_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* A store call failed with rc: the backend left its message, except for KEEL_ENOMEM from
 * keel's own allocation (the statement wrapper), which leaves none. */
static int store_msg(keel_store *s, int rc)
{
    return rc == KEEL_ENOMEM ? fail(s, rc, "out of memory") : rc;
}

/* The backend's dialect, checked to hold every step this keel knows. */
static int dialect(keel_store *s, const keel_store_sql **out)
{
    const keel_store_sql *sql = s->ops->version >= 2 ? s->ops->sql : NULL;
    *out = sql;
    if (!sql || sql->n_steps < KEEL_ARRAY_LEN(steps))
        return fail(s, KEEL_EINVAL, "the %s backend has no SQL for schema version %d",
                    keel_store_dialect(s), keel_store_schema_version());
    return KEEL_OK;
}

int keel_store_schema_read(keel_store *s, int *version)
{
    *version = 0;
    const keel_store_sql *sql;
    int rc = dialect(s, &sql);
    if (rc != KEEL_OK) return rc;
    int64_t exists = 0, v = 0;
    rc = keel_store_int(s, &exists, sql->table_exists, "s", "keel_schema_version");
    if (rc != KEEL_OK) return store_msg(s, rc);
    if (!exists) return KEEL_OK;
    rc = keel_store_int(s, &v, "SELECT coalesce(max(version), 0) FROM keel_schema_version", NULL);
    if (rc != KEEL_OK) return store_msg(s, rc);
    if (v < 0 || v > INT32_MAX)
        return fail(s, KEEL_EFORMAT, "the registry records schema version %lld, which is not one",
                    (long long)v);
    *version = (int)v;
    return KEEL_OK;
}

/* Runs step `version`'s SQL and records it; inside an open transaction. */
static int apply(keel_store *s, const keel_store_sql *sql, int version)
{
    int rc = keel_store_exec(s, sql->steps[version - 1]);
    if (rc == KEEL_OK)
        rc = keel_store_run(s, "INSERT INTO keel_schema_version(version, applied_at) VALUES (?, ?)",
                            "ii", (int64_t)version, keel_wall_micros());
    return store_msg(s, rc);
}

int keel_store_schema_create(keel_store *s, int *version)
{
    const keel_store_sql *sql;
    int rc = dialect(s, &sql);
    if (rc != KEEL_OK) return rc;
    /* Read inside the write transaction: two processes opening a new registry at once must
     * not both create it. */
    if ((rc = keel_store_begin(s)) != KEEL_OK) return store_msg(s, rc);
    int v = 0;
    if ((rc = keel_store_schema_read(s, &v)) != KEEL_OK) goto fail;
    if (v == 0) {
        if ((rc = keel_store_exec(s, sql->version_table)) != KEEL_OK) {
            rc = store_msg(s, rc);
            goto fail;
        }
        for (int step = 1; step <= keel_store_schema_version(); step++)
            if ((rc = apply(s, sql, step)) != KEEL_OK) goto fail;
        v = keel_store_schema_version();
    }
    if ((rc = keel_store_commit(s)) != KEEL_OK) {
        rc = store_msg(s, rc);
        goto fail;
    }
    if (version) *version = v;
    return KEEL_OK;
fail:
    keel_store_rollback(s);
    return rc;
}

int keel_store_migrate_step(keel_store *s, int version, bool *applied)
{
    *applied = false;
    const keel_store_sql *sql;
    int rc = dialect(s, &sql);
    if (rc != KEEL_OK) return rc;
    if (version < 1 || version > keel_store_schema_version())
        return fail(s, KEEL_EINVAL, "this keel has no schema step %d", version);
    if (!s->in_transaction)
        return fail(s, KEEL_ESTATE, "a schema step needs an open write transaction");
    int v = 0;
    if ((rc = keel_store_schema_read(s, &v)) != KEEL_OK) return rc;
    if (v >= version) return KEEL_OK; /* applied already, by another process */
    if (v != version - 1)
        return fail(s, KEEL_ESTATE, "the registry has schema version %d; step %d needs %d first", v,
                    version, version - 1);
    if ((rc = apply(s, sql, version)) != KEEL_OK) return rc;
    *applied = true;
    return KEEL_OK;
}

int keel_store_migrate(keel_store *s, int *version_out)
{
    int v = 0;
    int rc = keel_store_schema_read(s, &v);
    if (rc == KEEL_OK && v == 0) rc = keel_store_schema_create(s, &v);
    if (rc != KEEL_OK) return rc;
    if (v > keel_store_schema_version())
        return fail(s, KEEL_EFORMAT,
                    "the registry has schema version %d, newer than this keel knows (%d); use a "
                    "newer keel",
                    v, keel_store_schema_version());
    for (int step = v + 1; step <= keel_store_schema_version(); step++) {
        bool applied;
        if ((rc = keel_store_begin(s)) != KEEL_OK) return store_msg(s, rc);
        if ((rc = keel_store_migrate_step(s, step, &applied)) != KEEL_OK ||
            (rc = keel_store_commit(s)) != KEEL_OK) {
            rc = store_msg(s, rc);
            keel_store_rollback(s);
            return rc;
        }
    }
    if (version_out) *version_out = keel_store_schema_version();
    return KEEL_OK;
}
