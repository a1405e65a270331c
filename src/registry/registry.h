/*
 * registry.h — keel's one source of truth: datasets, runs, model versions, aliases with their
 * history, tags, approvals, deployments, identities with roles, and the lineage between them,
 * every change recorded in the hash-chained audit trail (audit.h) in the same transaction.
 *
 * A registry lives in a KEEL_HOME directory:
 *     registry.db                 the store (SQLite, WAL)
 *     artifacts/sha256/ab/cdef…   model artifacts, content-addressed and read-only
 *     keys/audit.key, audit.pub   the checkpoint signing key pair (0600)
 *     audit-head.json             the newest signed checkpoint of the audit chain
 * The library never reads the environment: the caller passes the directory and the actor
 * (the CLI takes them from KEEL_HOME / KEEL_USER / the config file).
 *
 * Identities and roles. The first actor to open a new registry becomes its admin. Roles:
 *   viewer     read everything
 *   developer  register datasets, runs and model versions; tag; request approvals;
 *              set aliases other than champion
 *   approver   approve or reject model versions
 *   operator   set any alias (champion included, under the approval policy); deployments
 *   auditor    verify and export the audit trail
 *   admin      all of the above, and manage identities
 * Policy (four-eyes): the `champion` alias may point only at a version with an approval in
 * state approved, and an approval's reviewer may never be the version's author. A refusal
 * returns KEEL_EPERM with a message naming the rule, and is itself audited
 * ("access.denied"), so attempts are on the record too.
 *
 * Objects are named in the audit trail and lineage as "dataset:<id>", "run:<id>",
 * "model:<name>", "model:<name>:<version>", "alias:<name>@<alias>", "approval:<id>",
 * "deployment:<id>", "identity:<name>".
 *
 * Reads return JSON documents (in a keel_buf the caller owns), which the CLI prints as they
 * are for --json or renders for people.
 *
 * A keel_registry is one connection; use it from one thread at a time. Several processes may
 * use the same KEEL_HOME at once: writers queue (no "database is locked").
 */
#ifndef KEEL_REGISTRY_REGISTRY_H
#define KEEL_REGISTRY_REGISTRY_H

#include "registry/audit.h"
#include "registry/store.h"

typedef struct keel_registry keel_registry;

enum keel_access {
    KEEL_ACCESS_VIEWER = 1 << 0,
    KEEL_ACCESS_DEVELOPER = 1 << 1,
    KEEL_ACCESS_APPROVER = 1 << 2,
    KEEL_ACCESS_OPERATOR = 1 << 3,
    KEEL_ACCESS_AUDITOR = 1 << 4,
    KEEL_ACCESS_ADMIN = 1 << 5,
};

/* Parses "viewer,approver" into a role mask; KEEL_EINVAL for an unknown name. */
int keel_roles_parse(const char *text, unsigned *mask);
/* Writes the mask as "approver,viewer" (in the order of enum keel_access) into buf. */
void keel_roles_format(unsigned mask, char *buf, size_t cap);

/* Opens (creating on first use) the registry in home for actor. Creates home and its
 * subdirectories, runs schema migrations, creates the signing key, and makes actor the admin
 * of a registry that has no identities yet. host may be NULL; it is recorded on runs.
 * Errors: KEEL_EIO / KEEL_ENOENT (the directory or database cannot be made or opened),
 * KEEL_EFORMAT (registry.db is not a database, or is from a newer keel), KEEL_EINVAL (an
 * empty actor name). On failure *out is NULL and e says why. */
int keel_registry_open(const char *home, const char *actor, const char *host, keel_registry **out,
                       keel_error *e);
/* Writes a signed checkpoint of the audit chain if this connection appended events, then
 * closes. NULL does nothing. */
void keel_registry_close(keel_registry *r);
/* The message of the last failed call on r. */
const char *keel_registry_errmsg(const keel_registry *r);
const char *keel_registry_home(const keel_registry *r);
const char *keel_registry_actor(const keel_registry *r);
/* The actor's roles (0 for an unknown identity). */
unsigned keel_registry_roles(keel_registry *r);
/* The underlying store, for the audit functions and tests. Borrowed. */
keel_store *keel_registry_store(keel_registry *r);

/* ---- identities (admin) ---------------------------------------------------------------- */
/* Adds an identity or replaces its roles. KEEL_EPERM unless the actor is admin; KEEL_ESTATE
 * when it would leave the registry without an admin. */
int keel_registry_user_set(keel_registry *r, const char *name, unsigned roles);
int keel_registry_user_remove(keel_registry *r, const char *name);
int keel_registry_user_list(keel_registry *r, keel_buf *out); /* JSON array */

/* ---- datasets ---------------------------------------------------------------------------- */
typedef struct keel_dataset_info {
    const char *sha256;       /* hex SHA-256 of the content: the dataset's identity */
    const char *name;         /* short name, e.g. the file's base name */
    const char *source;       /* where it came from (path, URL) */
    int64_t n_rows;           /* records read; -1 unknown */
    int64_t n_accepted;       /* -1 unknown */
    int64_t n_rejected;       /* -1 unknown */
    int64_t n_columns;        /* -1 unknown */
    const char *schema_json;  /* may be NULL */
    const char *profile_json; /* may be NULL */
} keel_dataset_info;

/* Registers a dataset, or finds it when its sha256 is already registered (then nothing is
 * written, except that missing schema/profile/counts are filled in). *id gets its id.
 * Requires developer. */
int keel_registry_dataset_put(keel_registry *r, const keel_dataset_info *d, int64_t *id);
/* ref: an id, a full or unique-prefix (>= 8 hex digits) sha256, or a name (the newest). */
int keel_registry_dataset_find(keel_registry *r, const char *ref, int64_t *id);
int keel_registry_dataset_list(keel_registry *r, keel_buf *out); /* JSON array */
int keel_registry_dataset_show(keel_registry *r, int64_t id, keel_buf *out);

/* ---- runs ------------------------------------------------------------------------------- */
typedef struct keel_run_info {
    const char *kind;        /* "train", "cv", ... */
    const char *params_json; /* hyper-parameters, may be NULL */
    int64_t seed;
    const char *keel_version;
} keel_run_info;

/* Starts a run (status running) by the actor on the registry's host. Requires developer. */
int keel_registry_run_start(keel_registry *r, const keel_run_info *run, int64_t *id);
/* Records that the run read a dataset, in a role such as "train" or "validation". */
int keel_registry_run_input(keel_registry *r, int64_t run, int64_t dataset, const char *role);
/* Ends a run: status "finished", "failed" or "cancelled"; metrics_json, log and error may be
 * NULL. KEEL_ESTATE when the run already ended. */
int keel_registry_run_end(keel_registry *r, int64_t run, const char *status,
                          const char *metrics_json, const char *log, const char *error);
int keel_registry_run_list(keel_registry *r, keel_buf *out);
int keel_registry_run_show(keel_registry *r, int64_t id, keel_buf *out);

/* ---- models, versions, aliases ----------------------------------------------------------- */
/* Registers the artifact at path as the next version of model (created on first use): copies
 * it into artifacts/ under its SHA-256 (once; read-only), records its run (0 for none), task
 * and metrics. *version gets the new version number. Requires developer. Model names are
 * 1-64 characters of [A-Za-z0-9._-], starting with a letter or digit. */
int keel_registry_model_register(keel_registry *r, const char *model, const char *path, int64_t run,
                                 const char *task, const char *metrics_json, int64_t *version);

/* Resolves "name", "name:VERSION" or "name@ALIAS" (plain name = the newest version) to the
 * version number and, if path is not NULL, the stored artifact's path (new string, the
 * caller keel_free's it). KEEL_ENOENT when there is no such model, version or alias. */
int keel_registry_model_resolve(keel_registry *r, const char *ref, char **model, int64_t *version,
                                char **path);
int keel_registry_model_list(keel_registry *r, keel_buf *out);
/* One version's record (or the model and all its versions when version is 0). */
int keel_registry_model_show(keel_registry *r, const char *model, int64_t version, keel_buf *out);
/* Everything that happened to a model, oldest first: versions registered, alias changes,
 * approvals, deployments, tags. Answers "which version was in production when". */
int keel_registry_model_history(keel_registry *r, const char *model, keel_buf *out);

/* Points alias at version (or removes it when version is 0). champion needs an approved
 * approval of that version (KEEL_EPERM otherwise; the message says what to do). Requires
 * developer for other aliases, operator for champion. */
int keel_registry_alias_set(keel_registry *r, const char *model, const char *alias, int64_t version,
                            const char *comment);

/* ---- approvals ---------------------------------------------------------------------------- */
/* Requests a review of a version (pending); requires developer. *id gets its id; an open
 * request for the same version is returned instead of a second one. */
int keel_registry_approval_request(keel_registry *r, const char *model, int64_t version,
                                   const char *comment, int64_t *id);
/* Approves (approve != 0) or rejects a version: decides its pending request, or records a
 * decided one when none is pending. Requires approver; the reviewer may not be the version's
 * author (KEEL_EPERM). */
int keel_registry_approval_decide(keel_registry *r, const char *model, int64_t version, int approve,
                                  const char *comment, int64_t *id);
/* Appends to out (the caller's buffer; it owns it) the approvals of one version, oldest
 * first, as a JSON array of {"id", "status" ("pending", "approved" or "rejected"),
 * "requested_by", "requested_at", "reviewer", "decided_at", "comment"}; times are ISO 8601
 * UTC strings, and reviewer, decided_at and comment are null while they are unknown (a
 * pending request). An empty array when the version has none. Requires any role (the same
 * check as keel_registry_model_show). Errors: KEEL_EPERM (refused and audited as
 * access.denied), KEEL_ENOENT (no such version), KEEL_ENOMEM, KEEL_EIO; on error out may
 * hold a partial answer, which the caller discards. */
int keel_registry_approval_list(keel_registry *r, const char *model, int64_t version,
                                keel_buf *out);

/* ---- tags and deployments ------------------------------------------------------------ */
/* Sets (value != NULL) or removes a tag on an object named as above ("model:churn:3").
 * Requires developer. */
int keel_registry_tag_set(keel_registry *r, const char *object, const char *key, const char *value);
/* Records that a version was deployed to (status "active") or removed from ("retired") a
 * target such as "serve:127.0.0.1:8080". Requires operator. */
int keel_registry_deployment_record(keel_registry *r, const char *model, int64_t version,
                                    const char *target, const char *status, int64_t *id);

/* ---- lineage ------------------------------------------------------------------------------
 * The graph around an object as JSON: {"root": NODE_ID, "nodes": [{"id", "kind", "label",
 * ...}], "edges": [{"from", "to", "relation"}]}. For a model reference ("churn@champion",
 * "churn:3", "churn") it walks upstream (datasets -> run -> version) and downstream (aliases,
 * deployments); for a dataset (keel_registry_lineage_dataset) it walks downstream to every
 * run and model version trained on it. */
int keel_registry_lineage_model(keel_registry *r, const char *ref, keel_buf *out);
int keel_registry_lineage_dataset(keel_registry *r, int64_t dataset, keel_buf *out);

/* ---- the audit trail through the registry ------------------------------------------------ */
/* Verifies the chain with the registry's public key and head file (audit.h). Requires
 * auditor. */
int keel_registry_audit_verify(keel_registry *r, const keel_audit_checkpoint *external,
                               keel_progress_fn progress, void *ud, keel_audit_verify_result *res);
int keel_registry_audit_export(keel_registry *r, int64_t since, int format, keel_write_fn write,
                               void *ud, int64_t *n);
/* Appends to out (the caller's buffer; it owns it) the audit events that concern one version,
 * in chain order (oldest first), as a JSON array of {"seq", "time", "actor", "action",
 * "object", "details", "hash"}: time is an ISO 8601 UTC string, details the event's JSON
 * object, hash its chain hash (64 lowercase hex digits), so each can be checked against
 * keel_registry_audit_verify and the export. "Concern" means: the object is the version
 * ("model:NAME:VERSION": its registration, tags, approval requests and decisions,
 * deployments, refusals), or an alias of the model ("alias:NAME@ALIAS") whose change set it
 * to or moved it away from this version. At most limit events when limit > 0 (the oldest);
 * all when limit <= 0. Requires auditor (as the export does; admin has it). Errors:
 * KEEL_EPERM (refused and audited as access.denied, before anything is read), KEEL_ENOENT
 * (no such version), KEEL_ENOMEM, KEEL_EIO; on error out may hold a partial answer. */
int keel_registry_audit_events(keel_registry *r, const char *model, int64_t version, int64_t limit,
                               keel_buf *out);
/* Signs the head now (normally done by keel_registry_close). Requires auditor or operator. */
int keel_registry_audit_checkpoint(keel_registry *r, keel_audit_checkpoint *out);

#endif /* KEEL_REGISTRY_REGISTRY_H */
