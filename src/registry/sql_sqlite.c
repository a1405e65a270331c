/*
 * sql_sqlite.c — the SQL that is SQLite's own: the DDL of each schema step and the catalog
 * query, for the backend in store_sqlite.c. The registry's other statements are portable
 * (store.h) and live with the code that runs them.
 *
 * Conventions of the schema: times are integers, microseconds since 1970-01-01 UTC; hashes
 * are lowercase hex; JSON documents are text. The lineage is held by the foreign keys:
 * run_inputs (dataset -> run), model_versions.run_id (run -> version), aliases and
 * deployments (version -> alias, deployment). A PostgreSQL dialect writes the same tables
 * with its own types (BIGINT GENERATED ... AS IDENTITY for the INTEGER PRIMARY KEY ids, a
 * quoted "user" column, a plpgsql trigger for the append-only audit table).
 *
 * Steps are append-only, like their descriptions in migrate.c: a released step's SQL is never
 * edited.
 */
#include "registry/store.h"

/* Step 1: the registry as first released. */
static const char step1[] =
    "CREATE TABLE identities ("
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
    "  signature TEXT NOT NULL);";

/* Step 2: finding a version by its artifact (keel_registry_version_find_sha256) is a lookup,
 * not a scan of every version. */
static const char step2[] =
    "CREATE INDEX model_versions_artifact ON model_versions(artifact_sha256);";

/* Step 3: an identity's public key (its decisions are signed with the private half, which the
 * registry never holds), and the server's bearer tokens, of which only the SHA-256 is kept. */
static const char step3[] = "ALTER TABLE identities ADD COLUMN public_key TEXT;"
                            "CREATE TABLE tokens ("
                            "  id INTEGER PRIMARY KEY,"
                            "  name TEXT NOT NULL,"
                            "  sha256 TEXT NOT NULL UNIQUE,"
                            "  model TEXT NOT NULL,"
                            "  role TEXT NOT NULL,"
                            "  created_at INTEGER NOT NULL,"
                            "  created_by TEXT NOT NULL,"
                            "  expires_at INTEGER,"
                            "  revoked_at INTEGER,"
                            "  revoked_by TEXT);";

static const char *const steps[] = {step1, step2, step3};

const keel_store_sql keel_sql_sqlite = {
    .steps = steps,
    .n_steps = KEEL_ARRAY_LEN(steps),
    .version_table = "CREATE TABLE IF NOT EXISTS keel_schema_version ("
                     "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    .table_exists = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    .snapshot_begin = "BEGIN DEFERRED",
};
