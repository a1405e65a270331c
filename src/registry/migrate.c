/*
 * migrate.c — the registry's schema and its versioned migrations.
 *
 * Each migration is one step from version N-1 to N, run in its own write transaction
 * together with the row that records it in keel_schema_version, so a crash leaves the store
 * at N-1 or at N, never between. Migrations are append-only: a released step is never edited;
 * a change is a new step. Each step has SQL per dialect where the dialects differ.
 *
 * Conventions of the schema: times are integers, microseconds since 1970-01-01 UTC; hashes
 * are lowercase hex; JSON documents are text. The lineage is held by the foreign keys:
 * run_inputs (dataset -> run), model_versions.run_id (run -> version), aliases and
 * deployments (version -> alias, deployment).
 */
#include "registry/store.h"

#include <string.h>

typedef struct migration {
    int version;
    const char *sqlite;
} migration;

static const migration migrations[] = {
    {1, "CREATE TABLE identities ("
        "  name TEXT PRIMARY KEY,"
        "  roles TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  created_by TEXT NOT NULL);"
        "CREATE TABLE datasets ("
        "  id INTEGER PRIMARY KEY,"
        "  sha256 TEXT NOT NULL UNIQUE,"
        "  name TEXT NOT NULL,"
        "  source TEXT NOT NULL,"
        "  n_rows INTEGER, n_accepted INTEGER, n_rejected INTEGER, n_columns INTEGER,"
        "  schema_json TEXT, profile_json TEXT,"
        "  created_at INTEGER NOT NULL,"
        "  created_by TEXT NOT NULL);"
        "CREATE TABLE runs ("
        "  id INTEGER PRIMARY KEY,"
        "  kind TEXT NOT NULL,"
        "  status TEXT NOT NULL"
        "    CHECK (status IN ('running', 'finished', 'failed', 'cancelled')),"
        "  params_json TEXT, metrics_json TEXT, seed INTEGER,"
        "  keel_version TEXT NOT NULL, host TEXT, user TEXT NOT NULL,"
        "  started_at INTEGER NOT NULL, ended_at INTEGER,"
        "  log TEXT, error TEXT);"
        "CREATE TABLE run_inputs ("
        "  run_id INTEGER NOT NULL REFERENCES runs(id),"
        "  dataset_id INTEGER NOT NULL REFERENCES datasets(id),"
        "  role TEXT NOT NULL,"
        "  PRIMARY KEY (run_id, dataset_id, role));"
        "CREATE INDEX run_inputs_dataset ON run_inputs(dataset_id);"
        "CREATE TABLE models ("
        "  name TEXT PRIMARY KEY,"
        "  created_at INTEGER NOT NULL,"
        "  created_by TEXT NOT NULL,"
        "  description TEXT);"
        "CREATE TABLE model_versions ("
        "  id INTEGER PRIMARY KEY,"
        "  model TEXT NOT NULL REFERENCES models(name),"
        "  version INTEGER NOT NULL,"
        "  artifact_sha256 TEXT NOT NULL,"
        "  artifact_size INTEGER NOT NULL,"
        "  run_id INTEGER REFERENCES runs(id),"
        "  task TEXT, metrics_json TEXT,"
        "  author TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  UNIQUE (model, version));"
        "CREATE INDEX model_versions_run ON model_versions(run_id);"
        "CREATE TABLE approvals ("
        "  id INTEGER PRIMARY KEY,"
        "  model TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),"
        "  requested_by TEXT NOT NULL,"
        "  requested_at INTEGER NOT NULL,"
        "  reviewer TEXT, decided_at INTEGER, comment TEXT,"
        "  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
        "CREATE TABLE aliases ("
        "  model TEXT NOT NULL,"
        "  alias TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  set_at INTEGER NOT NULL,"
        "  set_by TEXT NOT NULL,"
        "  PRIMARY KEY (model, alias),"
        "  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
        "CREATE TABLE alias_history ("
        "  id INTEGER PRIMARY KEY,"
        "  model TEXT NOT NULL,"
        "  alias TEXT NOT NULL,"
        "  version INTEGER,"
        "  previous_version INTEGER,"
        "  at INTEGER NOT NULL,"
        "  actor TEXT NOT NULL,"
        "  approval_id INTEGER REFERENCES approvals(id),"
        "  comment TEXT);"
        "CREATE TABLE tags ("
        "  kind TEXT NOT NULL,"
        "  object TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  value TEXT NOT NULL,"
        "  set_at INTEGER NOT NULL,"
        "  set_by TEXT NOT NULL,"
        "  PRIMARY KEY (kind, object, key));"
        "CREATE TABLE deployments ("
        "  id INTEGER PRIMARY KEY,"
        "  model TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  target TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  at INTEGER NOT NULL,"
        "  actor TEXT NOT NULL,"
        "  FOREIGN KEY (model, version) REFERENCES model_versions(model, version));"
        /* The audit chain. The triggers stop accidental edits through keel's own connection
         * and casual ones through the sqlite3 tool; they are not the protection (anyone with
         * the file can drop them): the hash chain and the signed checkpoints are. */
        "CREATE TABLE audit_events ("
        "  seq INTEGER PRIMARY KEY,"
        "  time INTEGER NOT NULL,"
        "  actor TEXT NOT NULL,"
        "  action TEXT NOT NULL,"
        "  object TEXT NOT NULL,"
        "  details TEXT NOT NULL,"
        "  prev_hash TEXT NOT NULL,"
        "  hash TEXT NOT NULL);"
        "CREATE INDEX audit_events_time ON audit_events(time);"
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
        "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
        "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
        "CREATE TABLE audit_checkpoints ("
        "  seq INTEGER PRIMARY KEY,"
        "  hash TEXT NOT NULL,"
        "  time INTEGER NOT NULL,"
        "  public_key TEXT NOT NULL,"
        "  signature TEXT NOT NULL);"},
};

int keel_store_schema_version(void)
{
    return migrations[KEEL_ARRAY_LEN(migrations) - 1].version;
}

static int current_version(keel_store *s, int64_t *v)
{
    int rc =
        keel_store_int(s, v, "SELECT coalesce(max(version), 0) FROM keel_schema_version", NULL);
    return rc == KEEL_ENOENT ? (*v = 0, KEEL_OK) : rc;
}

int keel_store_migrate(keel_store *s, int *version_out)
{
    /* The common case, an up-to-date store, is answered by a read: no write lock, so opening
     * a registry to read never waits behind a writer. */
    int64_t v0 = 0;
    if (current_version(s, &v0) == KEEL_OK && v0 == keel_store_schema_version()) {
        if (version_out) *version_out = (int)v0;
        return KEEL_OK;
    }
    int rc = keel_store_exec(s, "CREATE TABLE IF NOT EXISTS keel_schema_version ("
                                "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    if (rc != KEEL_OK) return rc;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(migrations); i++) {
        const migration *m = &migrations[i];
        /* Read the version inside the write transaction: two processes opening a new
         * registry at once must not both run step 1. */
        if ((rc = keel_store_begin(s)) != KEEL_OK) return rc;
        int64_t v = 0;
        if ((rc = current_version(s, &v)) != KEEL_OK) goto fail;
        if (v > keel_store_schema_version()) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "the registry has schema version %lld, newer than this keel knows (%d); "
                     "use a newer keel",
                     (long long)v, keel_store_schema_version());
            rc = KEEL_EFORMAT;
            goto fail;
        }
        if (v < m->version) {
            const char *sql = strcmp(keel_store_dialect(s), "sqlite") == 0 ? m->sqlite : NULL;
            if (!sql) {
                snprintf(s->errmsg, sizeof s->errmsg, "no migrations for the %s dialect yet",
                         keel_store_dialect(s));
                rc = KEEL_EINVAL;
                goto fail;
            }
            if ((rc = keel_store_exec(s, sql)) != KEEL_OK) goto fail;
            if ((rc = keel_store_run(s,
                                     "INSERT INTO keel_schema_version(version, applied_at) "
                                     "VALUES (?, ?)",
                                     "ii", (int64_t)m->version, keel_wall_micros())) != KEEL_OK)
                goto fail;
        }
        if ((rc = keel_store_commit(s)) != KEEL_OK) goto fail;
    }
    if (version_out) *version_out = keel_store_schema_version();
    return KEEL_OK;
fail:
    keel_store_rollback(s);
    return rc;
}
