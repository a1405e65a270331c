/*
 * registry_impl.h — what the registry's source files share: the connection, its checks and
 * the pattern every mutation follows:
 *
 *     if ((rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "register a dataset")) != KEEL_OK)
 *         return rc;
 *     ... SQL ...
 *     rc = reg_audit(r, "dataset.register", object, details);
 *     return reg_write_end(r, rc);
 *
 * reg_write_begin checks that the schema is current (an older one refuses every change, see
 * registry.h), then the role (a refusal is audited in a transaction of its own and returns
 * KEEL_EPERM), then opens the write transaction; reg_write_end commits when rc is KEEL_OK and
 * rolls back otherwise, keeping the first error's message. Code that opens a write
 * transaction by other means uses reg_begin, which makes the same schema check.
 */
#ifndef KEEL_REGISTRY_IMPL_H
#define KEEL_REGISTRY_IMPL_H

#include "base/json.h"
#include "registry/registry.h"

/* Reading needs any role at all (viewer is the least). */
#define REG_ANY_ROLE                                                                               \
    (KEEL_ACCESS_VIEWER | KEEL_ACCESS_DEVELOPER | KEEL_ACCESS_APPROVER | KEEL_ACCESS_OPERATOR |    \
     KEEL_ACCESS_AUDITOR | KEEL_ACCESS_ADMIN)

struct keel_registry {
    keel_store *store;
    char *home;
    char *location; /* for messages: as given or the default, any password masked */
    char *actor;
    char *host;
    int schema;     /* the store's schema version (older than keel's until migrated) */
    char *key_file; /* the audit signing key's secret half, and its public half */
    char *pub_file;
    char *head_file;
    char *witness;      /* NULL: none */
    char *identity_key; /* the actor's identity key file; NULL: none */
    unsigned roles;     /* the actor's, read at open and after identity changes */
    int64_t tx_first;   /* the first event appended in the open transaction (0: none yet) */
    keel_audit_key key; /* checkpoint signing key */
    keel_buf state;     /* images of the rows the open transaction wrote (state.c) */
    /* The actor's key (identity.c): keyed when the identity is bound to a public key, proven
     * when this process holds the matching secret key (ident), else unproven_why says why. */
    bool keyed, proven;
    keel_audit_key ident;
    char unproven_why[400];
    bool state_reset; /* the next event says the state is exactly its images */
    char errmsg[512];
};

/* Sets r's message and returns code. */
int reg_fail(keel_registry *r, int code, const char *fmt, ...) KEEL_PRINTF(3, 4);
/* Copies the store's message to r and returns code (for store errors). */
int reg_store_fail(keel_registry *r, int code);
/* KEEL_OK when the actor has any of the roles in mask (admin has all); else audits the
 * refusal and returns KEEL_EPERM with a message saying what `what` needed. */
int reg_require(keel_registry *r, unsigned mask, const char *what, const char *object);
/* Audits a refusal by policy (rolling back any open transaction) and returns KEEL_EPERM with
 * the formatted reason as r's message. */
int reg_deny(keel_registry *r, const char *object, const char *fmt, ...) KEEL_PRINTF(3, 4);
int reg_write_begin(keel_registry *r, unsigned mask, const char *what, const char *object);
/* KEEL_OK when this keel may write to the store; KEEL_ESTATE, with the message to run
 * `keel registry migrate`, while its schema is older than this keel's. */
int reg_writable(keel_registry *r);
/* Opens a write transaction, after reg_writable's check. */
int reg_begin(keel_registry *r);
/* Commits when rc is KEEL_OK, else rolls back. A transaction that appended events signs a
 * checkpoint of its head before it commits (refusing, and rolling back, when the head it
 * built on is not anchored: anchor.c), and publishes it to the head file and the witness
 * after. */
int reg_write_end(keel_registry *r, int rc);
/* Appends an audit event by the actor inside the open transaction. */
int reg_audit(keel_registry *r, const char *action, const char *object, const char *details);

/* Appends to out the rows of a query as a JSON array of objects (one_row: the first row as
 * an object; KEEL_ENOENT when there is none). Column conventions: a name ending in "_json"
 * holds JSON text, emitted as a value under the name without the suffix; a name ending in
 * "_at" or equal to "time" or "at" holds µs since the epoch, emitted as an ISO 8601 string. */
int reg_json_rows(keel_registry *r, keel_buf *out, bool one_row, const char *sql, const char *types,
                  ...);
int reg_json_rowsv(keel_registry *r, keel_buf *out, bool one_row, const char *sql,
                   const char *types, va_list ap);
/* Computed columns: values built in C (from sub-queries) where SQLite's JSON functions used to
 * build them in SQL, which other databases spell differently. The query names such a column
 * with a placeholder in its place ("NULL AS aliases_json"); for every column, fn is asked
 * first, with the name as it will be written (the "_json" suffix dropped): it appends the
 * value and returns 1, or returns 0 to have the column written as usual, or a negative
 * KEEL_E* code (message set on r, except KEEL_ENOMEM). It may run queries of its own. */
typedef int (*reg_column_fn)(keel_registry *r, keel_stmt *st, const char *key, keel_buf *out,
                             void *ud);
int reg_json_rows_fn(keel_registry *r, keel_buf *out, bool one_row, reg_column_fn fn, void *ud,
                     const char *sql, const char *types, ...);
/* Appends the current row of st as a JSON object with the conventions above. */
int reg_json_row(keel_registry *r, keel_stmt *st, keel_buf *out, reg_column_fn fn, void *ud);
/* Small JSON object builders for audit details: each appends ',"key":value' (no comma after
 * '{'). Return KEEL_OK or KEEL_ENOMEM. */
int reg_jstr(keel_buf *b, const char *key, const char *v); /* NULL gives null */
int reg_jint(keel_buf *b, const char *key, int64_t v);

/* ---- the state the chain covers (state.c) ----
 * After each statement that writes a covered table, reg_state_row records the row's image
 * (as it now is, or null when it is gone); reg_audit moves the pending images into the event
 * it appends; reg_write_end refuses a transaction that left images no event took. */
int reg_state_row(keel_registry *r, const char *table, const char *types, ...);
/* Every row of every covered table, as the images of a baseline ("state_reset"). */
int reg_state_all(keel_registry *r);
/* details (a JSON object) with the pending images added, into out; clears them. */
int reg_state_attach(keel_registry *r, const char *details, keel_buf *out);
/* Rebuilds the tables from the events and compares them with the tables: res->state*. */
int reg_state_verify(keel_registry *r, keel_registry_verify_result *res);

/* ---- identities bound to keys (identity.c) ---- */
/* Reads whether the actor is bound to a key and, if so, loads key_file to prove it. */
int reg_identity_load(keel_registry *r, const char *key_file);
/* details (a JSON object; the state attached) signed with the actor's key, into out. */
int reg_identity_sign(keel_registry *r, const char *action, const char *object, const char *details,
                      keel_buf *out);
/* The identities' keys as verification replays the chain. */
typedef struct reg_key_entry {
    char *name;
    unsigned char pk[32];
    bool keyed, valid;
} reg_key_entry;
typedef struct reg_keyring {
    reg_key_entry *v;
    size_t n, cap;
} reg_keyring;
void reg_keyring_clear(reg_keyring *k);
void reg_keyring_free(reg_keyring *k);
/* Follows an identities image (other tables' images are ignored). */
int reg_keyring_apply(reg_keyring *k, const keel_json *image);
/* Checks one event's signature against its actor's key as the keyring has it before the
 * event: counted in res->signed_events or res->signature_failures. */
void reg_identity_check(const reg_keyring *k, keel_registry_verify_result *res, int64_t seq,
                        const char *prev, const char *actor, const char *action, const char *object,
                        const char *details, bool changes_state);

/* Looks up a version's author; KEEL_ENOENT (with a message) when there is no such version. */
int reg_version_author(keel_registry *r, const char *model, int64_t version, char **author);

#endif
