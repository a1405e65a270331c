/*
 * registry.h — keel's one source of truth: datasets, runs, model versions, aliases with their
 * history, tags, approvals, deployments, identities with roles, and the lineage between them,
 * every change recorded in the hash-chained audit trail (audit.h) in the same transaction.
 *
 * A registry is a store and a KEEL_HOME directory:
 *     the store                   a location (store.h), by default sqlite://HOME/registry.db
 *                                 (SQLite, WAL)
 *     artifacts/sha256/ab/cdef…   model artifacts, content-addressed and read-only
 *     keys/audit.key, audit.pub   the checkpoint signing key pair (0600)
 *     audit-head.json             the newest signed checkpoint of the audit chain
 * The library never reads the environment: the caller passes the directory, the location and
 * the actor (the CLI takes them from KEEL_HOME / KEEL_REGISTRY / KEEL_USER / the config
 * file).
 *
 * Schema versions. A store without keel's schema (a new file) is given the newest schema when
 * it is first opened. A store whose schema is older than this keel's is not changed by
 * surprise: it is opened, reads work when every pending step is read-compatible (else the
 * open is refused unless KEEL_REGISTRY_OPEN_STALE is given), and every change is refused with
 * KEEL_ESTATE and a message saying to run `keel registry migrate` (keel_registry_migrate,
 * admin only, one audited transaction per step). While the schema is stale nothing at all is
 * written, so refusals of reads are not audited until it is migrated. A store newer than this
 * keel is refused at open (KEEL_EFORMAT, "use a newer keel").
 *
 * Identities and roles. The first actor to open a new registry becomes its admin. Roles:
 *   viewer     read everything
 *   developer  register datasets, runs and model versions; tag; request approvals;
 *              set aliases other than champion
 *   approver   approve or reject model versions
 *   operator   set any alias (champion included, under the approval policy); deployments
 *   auditor    verify and export the audit trail
 *   admin      all of the above, and manage identities and the schema
 * Policy (four-eyes): the `champion` alias may point only at a version with an approval in
 * state approved, and an approval's reviewer may never be the version's author. This holds
 * at every step: rejecting the version a protected alias points at is refused (move or
 * remove the alias first), and protected names are compared without regard to case, their
 * other spellings ("Champion") refused. A refusal
 * returns KEEL_EPERM with a message naming the rule, and is itself audited
 * ("access.denied"), so attempts are on the record too.
 *
 * Objects are named in the audit trail and lineage as "dataset:<id>", "run:<id>",
 * "model:<name>", "model:<name>:<version>", "alias:<name>@<alias>", "approval:<id>",
 * "deployment:<id>", "identity:<name>", "token:<id>".
 *
 * Reads come in two forms. The typed ones (keel_registry_version_get, _find_sha256, _list,
 * _resolve) return records for programs to use. The others return JSON documents (in a
 * keel_buf the caller owns), which the CLI prints as they are for --json or renders for
 * people; a program should not parse them back for a field a typed read gives.
 *
 * A keel_registry is one connection; use it from one thread at a time. Several processes may
 * use the same registry at once: writers queue (no "database is locked").
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

enum {
    /* Open a registry whose schema is older than this keel's even when this keel cannot read
     * it, for keel_registry_migrate (and keel_registry_schema); other calls may fail on it. */
    KEEL_REGISTRY_OPEN_STALE = 1 << 0,
};

/* What keel_registry_open_with needs. */
typedef struct keel_registry_options {
    const char *home;          /* KEEL_HOME: artifacts, keys, the head file; created when missing */
    const char *location;      /* the store (store.h), e.g. "sqlite:///srv/keel/registry.db";
                                  NULL: sqlite://HOME/registry.db */
    const char *actor;         /* who acts: 1-128 printable characters, no comma */
    const char *host;          /* recorded on runs; may be NULL */
    unsigned flags;            /* KEEL_REGISTRY_OPEN_* */
    const char *audit_key;     /* the audit signing key's file (its public half beside it, with
                                  ".pub" added), e.g. on a volume apart from KEEL_HOME; NULL:
                                  HOME/keys/audit.key. Created when neither file exists. */
    const char *audit_witness; /* a file every checkpoint is appended to as one JSON line
                                  (keel_audit_publish), checked by verification; NULL: none */
    const char *identity_key;  /* the actor's own Ed25519 key file (mode 0600, its public half
                                  beside it with ".pub"): needed when the actor is bound to a
                                  public key, and then signs every event it appends; NULL:
                                  none */
} keel_registry_options;

/* Opens (creating on first use) the registry at o->location with o->home for o->actor.
 * Creates home and its subdirectories, gives a new store the newest schema, creates the
 * signing key, and makes the actor the admin of a registry that has no identities yet. An
 * older schema is left as it is (see "Schema versions" above).
 * Errors: KEEL_EIO / KEEL_ENOENT (the directory or store cannot be made or opened),
 * KEEL_EINVAL (a location no backend built in opens, an empty actor name), KEEL_EFORMAT (the
 * store is not a database, or is from a newer keel), KEEL_ESTATE (an older schema this keel
 * cannot read before it is migrated). On failure *out is NULL and e says why. */
int keel_registry_open_with(const keel_registry_options *o, keel_registry **out, keel_error *e);
/* Whether the registry's store is there already (o->location, or the default in o->home),
 * without opening or creating anything: for callers that must not create one (a report asks
 * before opening). Only home and location are read. KEEL_EINVAL for a location no backend
 * built in opens. */
int keel_registry_exists(const keel_registry_options *o, bool *exists, keel_error *e);
/* keel_registry_open_with at the default location sqlite://HOME/registry.db. */
int keel_registry_open(const char *home, const char *actor, const char *host, keel_registry **out,
                       keel_error *e);
/* Closes. NULL does nothing. (Every write signed its checkpoint when it committed.) */
void keel_registry_close(keel_registry *r);
/* The message of the last failed call on r. */
const char *keel_registry_errmsg(const keel_registry *r);
const char *keel_registry_home(const keel_registry *r);
/* The store's location as given (or the default), with any password masked. */
const char *keel_registry_location(const keel_registry *r);
const char *keel_registry_actor(const keel_registry *r);
/* The actor's roles (0 for an unknown identity). */
unsigned keel_registry_roles(keel_registry *r);
/* Who the registry takes the caller for, as one JSON object: user, roles ("approver,admin"),
 * home. Needs no role. KEEL_ENOMEM leaves b as it was. */
int keel_registry_whoami(keel_registry *r, keel_buf *b);
/* The underlying store, for the audit functions and tests. Borrowed. */
keel_store *keel_registry_store(keel_registry *r);

/* ---- schema ------------------------------------------------------------------------------
 * The store's schema version and the newest this keel knows (keel_store_schema_steps says
 * what each step does). Needs no role. */
void keel_registry_schema(const keel_registry *r, int *version, int *newest);
/* Applies the pending schema steps, oldest first, each in a write transaction of its own with
 * an audit event "registry.migrate" on object "registry" (details: from, to, step, the keel
 * version), so the trail says when and by whom the schema changed. A step another process
 * applied meanwhile is skipped and not audited twice. Requires admin. *from and *to get the
 * versions before and after (equal when nothing was pending); the steps between are
 * keel_store_schema_steps()[from .. to - 1]. With dry_run nothing is written and any role
 * will do: *to is the version the steps would reach. Errors: KEEL_EPERM, the store's codes;
 * steps applied before a failure stay applied (*to says how far it got). */
int keel_registry_migrate(keel_registry *r, bool dry_run, int *from, int *to);
/* What keel_registry_migrate did (or, with dry_run, would do) from version `from` to `to`,
 * for people (the store, the versions, each step's description) or as one JSON object
 * (location, from, to, newest, dry_run, steps: [{version, description, read_compatible}]).
 * KEEL_ENOMEM leaves b as it was. */
int keel_registry_migrate_report(keel_registry *r, int from, int to, bool dry_run, bool json,
                                 keel_buf *b);

/* ---- identities (admin) ---------------------------------------------------------------- */
/* Adds an identity or replaces its roles. KEEL_EPERM unless the actor is admin; KEEL_ESTATE
 * when it would leave the registry without an admin. */
int keel_registry_user_set(keel_registry *r, const char *name, unsigned roles);
int keel_registry_user_remove(keel_registry *r, const char *name);
int keel_registry_user_list(keel_registry *r, keel_buf *out); /* JSON array */
/* Binds an identity to an Ed25519 public key (64 hex digits), or unbinds it (NULL: back to a
 * claimed name, for a lost key). Requires admin; audited as identity.key.set / .remove. From
 * then on a process claiming that identity must hold the secret half
 * (keel_registry_options.identity_key) for any call that needs a role, and signs every event
 * it appends (identity.c). KEEL_ENOENT: no such identity; KEEL_EINVAL: not a key. */
int keel_registry_user_key_set(keel_registry *r, const char *name, const char *public_key);
/* The person's own key file: created (mode 0600, its public half beside it with ".pub";
 * KEEL_ESTATE when it exists: keel never replaces a key) or read; pk_hex gets the public
 * key as 64 lowercase hex digits. No registry involved. */
int keel_identity_key_create(const char *key_file, char pk_hex[65], keel_error *e);
int keel_identity_key_show(const char *key_file, char pk_hex[65], keel_error *e);

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
 * caller keel_free's it). KEEL_ENOENT when there is no such model, version or alias.
 * keel_registry_version_resolve answers the same with the whole record. No keel program
 * calls this one any more: a path alone invites loading the file unchecked; to load a model
 * use keel_registry_model_load (pipeline/model_load.h), which checks the artifact against
 * the registry (keel_registry_artifact_verify). */
int keel_registry_model_resolve(keel_registry *r, const char *ref, char **model, int64_t *version,
                                char **path);

/* ---- typed reads of versions -------------------------------------------------------------
 * A version's review state: the newest decision on it (approved or rejected; what the
 * champion policy counts), else pending while a request is open, else none. */
enum keel_review {
    KEEL_REVIEW_NONE = 0,
    KEEL_REVIEW_PENDING,
    KEEL_REVIEW_APPROVED,
    KEEL_REVIEW_REJECTED,
};
/* "none", "pending", "approved", "rejected" ("?" for another value). */
const char *keel_review_name(int review);

typedef struct keel_registry_tag {
    char *key;
    char *value;
} keel_registry_tag;

/* One model version, owned by the caller: free it with keel_model_version_free. */
typedef struct keel_model_version {
    char *model;
    int64_t version;
    char sha256[65];    /* the artifact's SHA-256, lowercase hex */
    int64_t size;       /* the artifact's size in bytes */
    char *path;         /* the stored artifact, HOME/artifacts/sha256/ab/cdef… */
    char *author;       /* who registered it */
    int64_t created;    /* when, µs since the epoch, UTC */
    int64_t run;        /* the run that produced it; 0 for none */
    char *task;         /* "binary", ...; NULL when not recorded */
    char *metrics_json; /* the metrics as registered (JSON text); NULL when none */
    int status;         /* enum keel_review */
    char **aliases;     /* the aliases pointing at it, in name order */
    size_t n_aliases;
    keel_registry_tag *tags; /* its tags, in key order */
    size_t n_tags;
} keel_model_version;
void keel_model_version_free(keel_model_version *v); /* NULL does nothing */

/* The versions of one model, oldest first; free with keel_model_versions_free. */
typedef struct keel_model_versions {
    keel_model_version **v;
    size_t n;
} keel_model_versions;
void keel_model_versions_free(keel_model_versions *l); /* NULL does nothing */

/* All four need any role (refusals audited as access.denied) and set *out to NULL on failure.
 * Errors: KEEL_EPERM, KEEL_ENOENT (with a message naming what is missing), KEEL_EINVAL (a
 * malformed reference or hash), KEEL_ENOMEM, the store's codes. */
/* One version of a model. */
int keel_registry_version_get(keel_registry *r, const char *model, int64_t version,
                              keel_model_version **out);
/* The newest version (by registration time) whose artifact has this SHA-256 (64 hex digits,
 * either case): an indexed lookup, whatever the number of models. */
int keel_registry_version_find_sha256(keel_registry *r, const char *sha256,
                                      keel_model_version **out);
/* Every version of a model, oldest first (KEEL_ENOENT when there is no such model). */
int keel_registry_version_list(keel_registry *r, const char *model, keel_model_versions **out);
/* The version a reference names: "name:VERSION", "name@ALIAS", or "name" (the newest). */
int keel_registry_version_resolve(keel_registry *r, const char *ref, keel_model_version **out);

/* Checks that the artifact a caller loaded for version v (from keel_registry_version_get or
 * _resolve) is the one registered: found_sha256 is the SHA-256 of the bytes the caller read
 * and built its model from (keel_model_sha256), never of a second read of the file. KEEL_OK
 * when it equals v->sha256. Otherwise the artifact store was changed behind the registry's
 * back: the mismatch is recorded in the audit trail ("artifact.mismatch" on
 * "model:<name>:<version>", details {expected, found, path}) in a transaction of its own,
 * whatever the actor's roles (nothing is written while the schema is stale), and the call
 * returns KEEL_EFORMAT with a message naming the version, both hashes and the file; the
 * caller must not use the model. keel_registry_model_load (pipeline/model_load.h) loads and
 * checks in one call. */
int keel_registry_artifact_verify(keel_registry *r, const keel_model_version *v,
                                  const char *found_sha256);

/* Whether s may name a model or an alias: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with
 * . _ or -. The registry refuses other names; a caller may ask first (keel train does, before
 * training for minutes). */
bool keel_registry_name_valid(const char *s);

/* The protected alias (the name as the registry spells it, "champion") that alias names in
 * any case, or NULL for an ordinary alias. A protected alias may point only at an approved
 * version (see the policy above); only the lowercase spelling may be set, and a reference
 * with another spelling ("churn@Champion") is refused rather than read as an ordinary alias. */
const char *keel_registry_alias_protected(const char *alias);

/* ---- lineage for people (lineage_render.c) ---------------------------------------------- */
/* Appends the lineage graph graph[0..n) (the JSON of keel_registry_lineage_model or
 * keel_registry_lineage_dataset) as text, or as Graphviz dot. KEEL_EPARSE for JSON that is
 * not such a graph's, KEEL_ENOMEM (out as it was). */
int keel_lineage_render(const char *graph, size_t n, bool dot, keel_buf *out);

/* ---- models as JSON ---------------------------------------------------------------------- */
int keel_registry_model_list(keel_registry *r, keel_buf *out);
/* One version's record (or the model and all its versions when version is 0). */
int keel_registry_model_show(keel_registry *r, const char *model, int64_t version, keel_buf *out);
/* Everything that happened to a model, oldest first: versions registered, alias changes,
 * approvals, deployments, tags. Answers "which version was in production when". */
int keel_registry_model_history(keel_registry *r, const char *model, keel_buf *out);

/* Points alias at version (or removes it when version is 0). champion needs an approved
 * approval of that version (KEEL_EPERM otherwise; the message says what to do). Requires
 * developer for other aliases, operator for champion. Another spelling of a protected alias
 * ("Champion") is refused when set (KEEL_EPERM, audited) and may only be removed, by an
 * operator. */
int keel_registry_alias_set(keel_registry *r, const char *model, const char *alias, int64_t version,
                            const char *comment);

/* ---- approvals ---------------------------------------------------------------------------- */
/* Requests a review of a version (pending); requires developer. *id gets its id; an open
 * request for the same version is returned instead of a second one. */
int keel_registry_approval_request(keel_registry *r, const char *model, int64_t version,
                                   const char *comment, int64_t *id);
/* Approves (approve != 0) or rejects a version: decides its pending request, or records a
 * decided one when none is pending. Requires approver; the reviewer may not be the version's
 * author (KEEL_EPERM). Rejecting a version a protected alias points at is refused
 * (KEEL_EPERM, audited; the message names the alias): move or remove the alias first. */
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

/* ---- bearer tokens of keel serve (tokens.c) ------------------------------------------------
 * A token lets an HTTP client call `keel serve --require-token` for one model (or every model:
 * "*") in one role. Roles, each allowing what the roles before it allow:
 *   read     the model's metadata, and the server's (/v2); with model "*" also /metrics
 *   invoke   predictions: OIP v2 infer, KServe v1 :predict, MLflow /invocations
 *   explain  explanations: OIP v2 explain, KServe v1 :explain
 * The token is "keel_" and 64 hex digits (32 random bytes from libsodium), shown once when it
 * is created; the registry keeps only the SHA-256 of that text (64 hex digits), so neither the
 * store nor the audit trail ever holds it. A hash is not a secret worth stealing: finding a
 * token from it means guessing 256 random bits. Every call needs schema version 3: on an older
 * schema each returns KEEL_ESTATE with a message to run `keel registry migrate`. Objects are
 * named "token:<id>" in the audit trail; events token.create and token.revoke carry the id,
 * name, model, role, expiry and at most the first 8 hex digits of the hash. */
#define KEEL_TOKEN_PREFIX "keel_"
#define KEEL_TOKEN_SIZE   70 /* "keel_", 64 hex digits and the NUL */

enum keel_token_role { KEEL_TOKEN_READ = 1, KEEL_TOKEN_INVOKE = 2, KEEL_TOKEN_EXPLAIN = 3 };

/* "read", "invoke" or "explain" as enum keel_token_role; 0 for another word or NULL. */
int keel_token_role_parse(const char *s);
/* The role's name; "?" for another value. */
const char *keel_token_role_name(int role);
/* Reads an expiry a person types: a duration from now ("30d", "12h", "90m", "3600s": a whole
 * number and one of d h m s) or a time keel_parse_time reads. True with *at (µs since the
 * epoch) set; false when s is neither or the time is not after now. */
bool keel_token_expiry_parse(const char *s, int64_t now, int64_t *at);

/* Creates a token for model (a name keel_registry_name_valid accepts, or "*"; it need not be
 * registered: a served file is named by its base name) in role ("read", "invoke",
 * "explain"). name: 1-64 of the characters of a model name, not all digits (they would read
 * as an id), unique among tokens not revoked; NULL gives "token-<id>". expires_at: µs since
 * the epoch, after now; 0 for never. Requires operator (admin has it). token gets the secret
 * (KEEL_TOKEN_SIZE bytes: the one time it exists outside the client); *id the token's id;
 * out, when not NULL, the record as one JSON object {id, name, model, role, expires_at, token}
 * to show its creator. Errors: KEEL_EINVAL (a bad model, role, name or expiry), KEEL_ESTATE
 * (the name is taken; an old schema), KEEL_EPERM, the store's. Nothing is kept on failure,
 * and token is then all zero, except when the change committed and only publishing its
 * checkpoint failed (the message says "committed"): then the token exists, and token, *id
 * and out are set as on success. */
int keel_registry_token_create(keel_registry *r, const char *name, const char *model,
                               const char *role, int64_t expires_at, char token[KEEL_TOKEN_SIZE],
                               int64_t *id, keel_buf *out);
/* Appends the tokens, newest first, as a JSON array of {id, name, model, role, status ("live",
 * "expired" or "revoked"), created_at, created_by, expires_at, revoked_at, revoked_by}: never
 * the token, nor its hash. Requires any role. */
int keel_registry_token_list(keel_registry *r, keel_buf *out);
/* Revokes the token ref names: its id, or the name of a token not revoked. Requires operator.
 * out, when not NULL, gets {id, name, model, role, revoked_at}. KEEL_ENOENT when no token
 * not yet revoked has that id or name. */
int keel_registry_token_revoke(keel_registry *r, const char *ref, keel_buf *out);

/* A token the server accepts now, as keel_registry_token_live returns it. */
typedef struct keel_live_token {
    unsigned char sha256[32]; /* the SHA-256 of the token's text */
    char model[72];           /* a model name or "*" */
    int role;                 /* enum keel_token_role */
    int64_t expires_at;       /* µs since the epoch; 0: never */
} keel_live_token;

/* The tokens neither revoked nor expired at now (µs since the epoch), for the server:
 * *out (keel_free; NULL when there are none) gets *n of them, in no particular order. Requires
 * any role. On failure *out is NULL and *n 0. */
int keel_registry_token_live(keel_registry *r, int64_t now, keel_live_token **out, size_t *n);

/* ---- lineage ------------------------------------------------------------------------------
 * The graph around an object as JSON: {"root": NODE_ID, "nodes": [{"id", "kind", "label",
 * ...}], "edges": [{"from", "to", "relation"}]}. For a model reference ("churn@champion",
 * "churn:3", "churn") it walks upstream (datasets -> run -> version) and downstream (aliases,
 * deployments); for a dataset (keel_registry_lineage_dataset) it walks downstream to every
 * run and model version trained on it. */
int keel_registry_lineage_model(keel_registry *r, const char *ref, keel_buf *out);
int keel_registry_lineage_dataset(keel_registry *r, int64_t dataset, keel_buf *out);

/* ---- the audit trail through the registry ------------------------------------------------ */
/* What keel_registry_audit_verify checked and found. */
enum {
    KEEL_STATE_CHECKED = 1,     /* the tables were rebuilt from the events and compared */
    KEEL_STATE_NOT_COVERED = 2, /* schema older than 3: the events carry no state yet (an admin
                                   runs `keel registry migrate`, which records a baseline) */
    KEEL_STATE_NO_BASELINE = 3, /* schema 3 and no baseline in the chain: a finding */
};
#define KEEL_STATE_SHOWN 8 /* differences spelled out; all are counted */
typedef struct keel_registry_verify_result {
    keel_audit_verify_result chain; /* the events, checkpoints, head file and witness */
    bool witness;                   /* a witness is configured (and was checked) */
    /* The state: every row of every table against the events' images (state.c). */
    int state;              /* KEEL_STATE_* */
    int64_t state_baseline; /* the event from which the chain covers the state */
    int64_t state_rows;     /* rows in the tables */
    int64_t state_differences;
    char state_shown[KEEL_STATE_SHOWN][256];
    /* Identities and their signatures (identity.c). */
    int64_t identities;       /* identities in the registry */
    int64_t identities_keyed; /* of which bound to a public key */
    int64_t signed_events;    /* events whose signature was checked and holds */
    int64_t signature_failures;
    char signature_reason[256]; /* the first failure */
    bool ok;                    /* the chain, the state and the signatures all hold */
} keel_registry_verify_result;

/* Verifies the chain with the registry's public key, head file and witness (audit.h), then
 * the state (the tables rebuilt from the events' images and compared row by row, field by
 * field) and the signatures of every event made by an identity bound to a key. Requires
 * auditor. Returns KEEL_OK when verification ran, whatever it found (res->ok says). */
int keel_registry_audit_verify(keel_registry *r, const keel_audit_checkpoint *external,
                               keel_progress_fn progress, void *ud,
                               keel_registry_verify_result *res);
/* What verification found, for a person (text) or a program (json: {"ok", "chain": {...},
 * "witness", "state": {"checked", "baseline", "rows", "differences", "shown"}, "identities":
 * {"total", "keyed", "unauthenticated"}, "signatures": {"checked", "failures", "reason"}}),
 * appended to b. */
int keel_registry_verify_report(const keel_registry_verify_result *res, bool json, keel_buf *b);
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
/* The signed checkpoint of the head (every write signs its head in its own transaction; this
 * also brings a lagging head file forward). Refuses (KEEL_ESTATE) a head that no valid
 * checkpoint covers rather than sign over it. Requires auditor or operator. */
int keel_registry_audit_checkpoint(keel_registry *r, keel_audit_checkpoint *out);
/* The deliberate way past that refusal, for an admin who has checked the events after the
 * newest valid checkpoint (events written by an older keel that crashed before it signed,
 * or a registry whose first write crashed before the head file was written): when the chain
 * itself verifies (links, hashes, checkpoints, head file, witness), appends an audit.adopt
 * event (details: from, to, head_file) and signs the new head. [*from, *to]: the events
 * adopted. KEEL_ESTATE when the chain is broken (restore a backup) or nothing needs adopting. */
int keel_registry_audit_adopt(keel_registry *r, int64_t *from, int64_t *to);

#endif /* KEEL_REGISTRY_REGISTRY_H */
