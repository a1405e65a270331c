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
 * reg_write_begin checks the role first (a refusal is audited in a transaction of its own
 * and returns KEEL_EPERM), then opens the write transaction; reg_write_end commits when rc
 * is KEEL_OK and rolls back otherwise, keeping the first error's message.
 */
#ifndef KEEL_REGISTRY_IMPL_H
#define KEEL_REGISTRY_IMPL_H

#include "registry/registry.h"

/* Reading needs any role at all (viewer is the least). */
#define REG_ANY_ROLE                                                                               \
    (KEEL_ACCESS_VIEWER | KEEL_ACCESS_DEVELOPER | KEEL_ACCESS_APPROVER | KEEL_ACCESS_OPERATOR |    \
     KEEL_ACCESS_AUDITOR | KEEL_ACCESS_ADMIN)

struct keel_registry {
    keel_store *store;
    char *home;
    char *actor;
    char *host;
    char *db_path;
    char *keys_dir;
    char *head_file;
    unsigned roles;     /* the actor's, read at open and after identity changes */
    bool appended;      /* events were appended: checkpoint at close */
    keel_audit_key key; /* checkpoint signing key */
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
/* Small JSON object builders for audit details: each appends ',"key":value' (no comma after
 * '{'). Return KEEL_OK or KEEL_ENOMEM. */
int reg_jstr(keel_buf *b, const char *key, const char *v); /* NULL gives null */
int reg_jint(keel_buf *b, const char *key, int64_t v);

/* Model name and alias rules: 1-64 of [A-Za-z0-9._-], first a letter or digit. */
bool reg_valid_name(const char *s);
/* Looks up a version's author; KEEL_ENOENT (with a message) when there is no such version. */
int reg_version_author(keel_registry *r, const char *model, int64_t version, char **author);

#endif
