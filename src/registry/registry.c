/*
 * registry.c — opening a KEEL_HOME, identities and roles, the access checks and the write
 * pattern shared by every mutation (registry_impl.h), and the JSON rendering of query rows.
 *
 * Access control is enforced here, in the library, not in the CLI, so every front end (the
 * CLI, the server, a pipeline) obeys the same rules and every refusal lands in the audit
 * trail. With the embedded SQLite store the identity is the one the caller asserts (KEEL_USER
 * or the config file): it separates duties among people who follow the process, and the audit
 * trail records who claimed what. It is not authentication against someone who can edit the
 * database file directly; that is what the hash chain and the signed checkpoints are for.
 */
#include "registry/registry_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

static const char *const role_names[] = {"viewer",   "developer", "approver",
                                         "operator", "auditor",   "admin"};

int keel_roles_parse(const char *text, unsigned *mask)
{
    unsigned m = 0;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ", ");
        bool found = false;
        for (size_t i = 0; i < KEEL_ARRAY_LEN(role_names); i++)
            if (n == strlen(role_names[i]) && !strncmp(p, role_names[i], n)) {
                m |= 1u << i;
                found = true;
            }
        if (n && !found) return KEEL_EINVAL;
        p += n;
        p += strspn(p, ", ");
    }
    *mask = m;
    return KEEL_OK;
}

void keel_roles_format(unsigned mask, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap) buf[0] = '\0';
    for (size_t i = 0; i < KEEL_ARRAY_LEN(role_names); i++)
        if (mask & (1u << i)) {
            int w = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", role_names[i]);
            if (w < 0 || (size_t)w >= cap - len) return;
            len += (size_t)w;
        }
}

int reg_fail(keel_registry *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int reg_store_fail(keel_registry *r, int code)
{
    snprintf(r->errmsg, sizeof r->errmsg, "registry: %s", keel_store_errmsg(r->store));
    return code;
}

int reg_jstr(keel_buf *b, const char *key, const char *v)
{
    int rc = KEEL_OK;
    if (b->len && b->data[b->len - 1] != '{') rc |= keel_buf_putc(b, ',');
    rc |= keel_buf_json_str(b, key, strlen(key));
    rc |= keel_buf_putc(b, ':');
    rc |= v ? keel_buf_json_str(b, v, strlen(v)) : keel_buf_puts(b, "null");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int reg_jint(keel_buf *b, const char *key, int64_t v)
{
    int rc = KEEL_OK;
    if (b->len && b->data[b->len - 1] != '{') rc |= keel_buf_putc(b, ',');
    rc |= keel_buf_json_str(b, key, strlen(key));
    rc |= keel_buf_printf(b, ":%lld", (long long)v);
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int reg_audit(keel_registry *r, const char *action, const char *object, const char *details)
{
    int rc = keel_audit_append(r->store, 0, r->actor, action, object, details, NULL);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    r->appended = true;
    return KEEL_OK;
}

/* Records a refusal in a transaction of its own (any open one is rolled back first: what was
 * refused must not half-happen) and returns KEEL_EPERM with r's message set to why. */
static int deny(keel_registry *r, const char *object, const char *why)
{
    char msg[sizeof r->errmsg];
    snprintf(msg, sizeof msg, "%s", why);
    keel_store_rollback(r->store);
    keel_buf d;
    keel_buf_init(&d);
    char roles[96];
    keel_roles_format(r->roles, roles, sizeof roles);
    int rc = keel_buf_putc(&d, '{') | reg_jstr(&d, "reason", msg) | reg_jstr(&d, "roles", roles) |
             keel_buf_putc(&d, '}');
    if (rc == KEEL_OK && keel_store_begin(r->store) == KEEL_OK) {
        if (reg_audit(r, "access.denied", object, d.data) == KEEL_OK) keel_store_commit(r->store);
        keel_store_rollback(r->store);
    }
    keel_buf_free(&d);
    snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
    return KEEL_EPERM;
}

int reg_require(keel_registry *r, unsigned mask, const char *what, const char *object)
{
    if (r->roles & (mask | KEEL_ACCESS_ADMIN)) return KEEL_OK;
    char need[96], why[400];
    /* Reading is open to every role; naming them all would only confuse. */
    keel_roles_format((mask & KEEL_ACCESS_VIEWER) ? KEEL_ACCESS_VIEWER : mask, need, sizeof need);
    if (!r->roles)
        snprintf(why, sizeof why,
                 "permission denied: '%s' is not an identity of this registry, so cannot %s "
                 "(an admin can add it: keel user add %s --role %s)",
                 r->actor, what, r->actor, need);
    else {
        char has[96];
        keel_roles_format(r->roles, has, sizeof has);
        snprintf(why, sizeof why, "permission denied: '%s' (%s) may not %s: that needs %s %s",
                 r->actor, has, what, strchr(need, ',') ? "one of the roles" : "the role", need);
    }
    return deny(r, object, why);
}

int reg_deny(keel_registry *r, const char *object, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return deny(r, object, why);
}

int reg_write_begin(keel_registry *r, unsigned mask, const char *what, const char *object)
{
    int rc = reg_require(r, mask, what, object);
    if (rc != KEEL_OK) return rc;
    rc = keel_store_begin(r->store);
    return rc == KEEL_OK ? KEEL_OK : reg_store_fail(r, rc);
}

int reg_write_end(keel_registry *r, int rc)
{
    if (rc == KEEL_OK) {
        rc = keel_store_commit(r->store);
        if (rc != KEEL_OK) reg_store_fail(r, rc);
    }
    if (rc != KEEL_OK) keel_store_rollback(r->store);
    return rc;
}

bool reg_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || *s == '.' || *s == '-' || *s == '_') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ---- rows as JSON ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int row_json(keel_stmt *st, keel_buf *out)
{
    int rc = keel_buf_putc(out, '{');
    int n = keel_stmt_count(st);
    for (int c = 0; c < n && rc == KEEL_OK; c++) {
        const char *name = keel_stmt_name(st, c);
        int type = keel_stmt_type(st, c);
        if (c) rc |= keel_buf_putc(out, ',');
        bool is_json = ends_with(name, "_json");
        size_t name_len = strlen(name) - (is_json ? 5 : 0);
        rc |= keel_buf_json_str(out, name, name_len);
        rc |= keel_buf_putc(out, ':');
        if (type == KEEL_STORE_NULL) {
            rc |= keel_buf_puts(out, "null");
        } else if ((ends_with(name, "_at") || !strcmp(name, "time") || !strcmp(name, "at")) &&
                   type == KEEL_STORE_INT) {
            char iso[40];
            keel_format_timestamp(keel_stmt_int(st, c), iso);
            rc |= keel_buf_json_str(out, iso, strlen(iso));
        } else if (type == KEEL_STORE_INT) {
            rc |= keel_buf_printf(out, "%lld", (long long)keel_stmt_int(st, c));
        } else if (type == KEEL_STORE_FLOAT) {
            rc |= keel_buf_json_num(out, keel_stmt_double(st, c));
        } else {
            const char *t = keel_stmt_text(st, c);
            /* JSON columns are written by keel itself; still, text edited behind keel's back
             * must not break the output, so anything not starting like a JSON value is
             * quoted. */
            if (is_json && t && (t[0] == '{' || t[0] == '['))
                rc |= keel_buf_puts(out, t);
            else
                rc |= keel_buf_json_str(out, t ? t : "", t ? strlen(t) : 0);
        }
    }
    rc |= keel_buf_putc(out, '}');
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int reg_json_rows(keel_registry *r, keel_buf *out, bool one_row, const char *sql, const char *types,
                  ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = reg_json_rowsv(r, out, one_row, sql, types, ap);
    va_end(ap);
    return rc;
}

int reg_json_rowsv(keel_registry *r, keel_buf *out, bool one_row, const char *sql,
                   const char *types, va_list ap)
{
    keel_stmt *st;
    int rc = keel_store_queryv(r->store, &st, sql, types, ap);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    if (!one_row && keel_buf_putc(out, '[')) rc = KEEL_ENOMEM;
    int n = 0;
    while (rc == KEEL_OK) {
        int step = keel_stmt_step(st);
        if (step == KEEL_STORE_DONE) break;
        if (step < 0) {
            rc = reg_store_fail(r, step);
            break;
        }
        if (n++ && keel_buf_putc(out, ',')) rc = KEEL_ENOMEM;
        if (rc == KEEL_OK) rc = row_json(st, out);
        if (one_row) break;
    }
    if (rc == KEEL_ENOMEM) reg_fail(r, rc, "out of memory");
    keel_stmt_finalize(st);
    if (rc == KEEL_OK && !one_row && keel_buf_putc(out, ']')) rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && one_row && n == 0) rc = reg_fail(r, KEEL_ENOENT, "not found");
    return rc;
}

int reg_version_author(keel_registry *r, const char *model, int64_t version, char **author)
{
    *author = NULL;
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT author FROM model_versions WHERE model = ? AND version = ?",
                              "si", model, version);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        *author = keel_strdup(keel_stmt_text(st, 0));
        rc = *author ? KEEL_OK : KEEL_ENOMEM;
    } else if (rc == KEEL_STORE_DONE) {
        rc = reg_fail(r, KEEL_ENOENT, "model '%s' has no version %lld", model, (long long)version);
    } else {
        reg_store_fail(r, rc);
    }
    keel_stmt_finalize(st);
    return rc;
}

/* ---- open and close ---- */

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = keel_malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* mkdir -p for one level at a time of path (modes as given); KEEL_OK when it exists. */
static int make_dirs(const char *path, mode_t mode, keel_error *e)
{
    char *p = keel_strdup(path);
    if (!p) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            int err = errno;
            keel_free(p);
            return keel_error_set(e, KEEL_EIO, "cannot create the directory %s: %s", path,
                                  strerror(err));
        }
        *q = c;
        if (!c) break;
    }
    keel_free(p);
    return KEEL_OK;
}

static int load_roles(keel_registry *r)
{
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st, "SELECT roles FROM identities WHERE name = ?", "s",
                              r->actor);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    r->roles = 0;
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        unsigned m = 0;
        if (keel_roles_parse(keel_stmt_text(st, 0), &m) == KEEL_OK) r->roles = m;
        rc = KEEL_OK;
    } else if (rc == KEEL_STORE_DONE) {
        rc = KEEL_OK;
    } else {
        reg_store_fail(r, rc);
    }
    keel_stmt_finalize(st);
    return rc;
}

/* The first actor of a new registry becomes its admin. Checked inside the write transaction
 * so that two processes creating the registry at once make exactly one admin. */
static int bootstrap(keel_registry *r)
{
    int64_t known = 0;
    if (keel_store_int(r->store, &known, "SELECT count(*) FROM identities", NULL) == KEEL_OK &&
        known > 0)
        return KEEL_OK; /* the usual case, answered without the write lock */
    int rc = keel_store_begin(r->store);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    int64_t n = 0;
    rc = keel_store_int(r->store, &n, "SELECT count(*) FROM identities", NULL);
    if (rc == KEEL_OK && n == 0) {
        rc = keel_store_run(r->store,
                            "INSERT INTO identities(name, roles, created_at, created_by) "
                            "VALUES (?, 'admin', ?, ?)",
                            "sis", r->actor, keel_wall_micros(), r->actor);
        if (rc != KEEL_OK) reg_store_fail(r, rc);
        keel_buf d;
        keel_buf_init(&d);
        if (rc == KEEL_OK) {
            rc = keel_buf_putc(&d, '{') | reg_jstr(&d, "home", r->home) |
                 reg_jint(&d, "schema_version", keel_store_schema_version()) |
                 reg_jstr(&d, "keel_version", keel_version()) | keel_buf_putc(&d, '}');
            if (rc) rc = KEEL_ENOMEM;
        }
        if (rc == KEEL_OK) rc = reg_audit(r, "registry.create", "registry", d.data);
        if (rc == KEEL_OK) {
            char obj[200];
            snprintf(obj, sizeof obj, "identity:%s", r->actor);
            rc = reg_audit(r, "identity.set", obj, "{\"roles\":\"admin\"}");
        }
        keel_buf_free(&d);
    } else if (rc != KEEL_OK) {
        reg_store_fail(r, rc);
    }
    return reg_write_end(r, rc);
}

static bool valid_actor(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !keel_utf8_valid(s, n)) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ',') return false;
    return true;
}

int keel_registry_open(const char *home, const char *actor, const char *host, keel_registry **out,
                       keel_error *e)
{
    *out = NULL;
    if (!actor || !valid_actor(actor))
        return keel_error_set(e, KEEL_EINVAL,
                              "no valid identity: set KEEL_USER or 'user:' in the config file "
                              "(1-128 printable characters, no comma)");
    keel_registry *r = keel_calloc(1, sizeof *r);
    if (!r) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = KEEL_ENOMEM;
    r->home = keel_strdup(home);
    r->actor = keel_strdup(actor);
    r->host = host ? keel_strdup(host) : NULL;
    r->db_path = join(home, "registry.db");
    r->keys_dir = join(home, "keys");
    r->head_file = join(home, "audit-head.json");
    char *artifacts = join(home, "artifacts/sha256");
    if (!r->home || !r->actor || (host && !r->host) || !r->db_path || !r->keys_dir ||
        !r->head_file || !artifacts) {
        keel_error_set(e, rc, "out of memory");
        goto fail;
    }
    if ((rc = make_dirs(home, 0755, e)) != KEEL_OK) goto fail;
    if ((rc = make_dirs(artifacts, 0755, e)) != KEEL_OK) goto fail;
    if ((rc = keel_store_open(&keel_store_sqlite, r->db_path, &r->store, e)) != KEEL_OK) goto fail;
    if ((rc = keel_store_migrate(r->store, NULL)) != KEEL_OK) {
        keel_error_set(e, rc, "registry %s: %s", r->db_path, keel_store_errmsg(r->store));
        goto fail;
    }
    if ((rc = keel_audit_key_load(r->keys_dir, 1, &r->key, e)) != KEEL_OK) goto fail;
    if ((rc = bootstrap(r)) != KEEL_OK || (rc = load_roles(r)) != KEEL_OK) {
        keel_error_set(e, rc, "%s", r->errmsg);
        goto fail;
    }
    keel_free(artifacts);
    *out = r;
    return KEEL_OK;
fail:
    keel_free(artifacts);
    r->appended = false;
    keel_registry_close(r);
    return rc;
}

void keel_registry_close(keel_registry *r)
{
    if (!r) return;
    if (r->store && r->appended && r->key.has_secret)
        keel_audit_checkpoint_now(r->store, &r->key, r->head_file, NULL, NULL);
    keel_store_close(r->store);
    keel_free(r->home);
    keel_free(r->actor);
    keel_free(r->host);
    keel_free(r->db_path);
    keel_free(r->keys_dir);
    keel_free(r->head_file);
    keel_free(r);
}

const char *keel_registry_errmsg(const keel_registry *r)
{
    return r->errmsg;
}

const char *keel_registry_home(const keel_registry *r)
{
    return r->home;
}

const char *keel_registry_actor(const keel_registry *r)
{
    return r->actor;
}

unsigned keel_registry_roles(keel_registry *r)
{
    return r->roles;
}

keel_store *keel_registry_store(keel_registry *r)
{
    return r->store;
}

/* ---- identities ---- */

static int admins_left(keel_registry *r, int64_t *n)
{
    int rc = keel_store_int(r->store, n,
                            "SELECT count(*) FROM identities WHERE ',' || roles || ',' "
                            "LIKE '%,admin,%'",
                            NULL);
    return rc == KEEL_OK ? rc : reg_store_fail(r, rc);
}

int keel_registry_user_set(keel_registry *r, const char *name, unsigned roles)
{
    char obj[200], text[96];
    snprintf(obj, sizeof obj, "identity:%s", name);
    if (!valid_actor(name))
        return reg_fail(r, KEEL_EINVAL, "'%s' is not a valid identity name", name);
    if (!roles) return reg_fail(r, KEEL_EINVAL, "an identity needs at least one role");
    int rc = reg_write_begin(r, KEEL_ACCESS_ADMIN, "manage identities", obj);
    if (rc != KEEL_OK) return rc;
    keel_roles_format(roles, text, sizeof text);
    rc =
        keel_store_run(r->store,
                       "INSERT INTO identities(name, roles, created_at, created_by) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET roles = excluded.roles",
                       "ssis", name, text, keel_wall_micros(), r->actor);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    int64_t n = 1;
    if (rc == KEEL_OK) rc = admins_left(r, &n);
    if (rc == KEEL_OK && n == 0)
        rc = reg_fail(r, KEEL_ESTATE, "refused: that would leave the registry without an admin");
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK &&
        (keel_buf_putc(&d, '{') | reg_jstr(&d, "roles", text) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "identity.set", obj, d.data);
    keel_buf_free(&d);
    rc = reg_write_end(r, rc);
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = load_roles(r);
    return rc;
}

int keel_registry_user_remove(keel_registry *r, const char *name)
{
    char obj[200];
    snprintf(obj, sizeof obj, "identity:%s", name);
    int rc = reg_write_begin(r, KEEL_ACCESS_ADMIN, "manage identities", obj);
    if (rc != KEEL_OK) return rc;
    rc = keel_store_run(r->store, "DELETE FROM identities WHERE name = ?", "s", name);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK && keel_store_changes(r->store) == 0)
        rc = reg_fail(r, KEEL_ENOENT, "no identity '%s'", name);
    int64_t n = 1;
    if (rc == KEEL_OK) rc = admins_left(r, &n);
    if (rc == KEEL_OK && n == 0)
        rc = reg_fail(r, KEEL_ESTATE, "refused: that would leave the registry without an admin");
    if (rc == KEEL_OK) rc = reg_audit(r, "identity.remove", obj, "{}");
    rc = reg_write_end(r, rc);
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = load_roles(r);
    return rc;
}

int keel_registry_user_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "list identities", "identities");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows(r, out, false,
                         "SELECT name, roles, created_at, created_by FROM identities "
                         "ORDER BY name",
                         NULL);
}

/* ---- the audit trail ---- */

int keel_registry_audit_verify(keel_registry *r, const keel_audit_checkpoint *external,
                               keel_progress_fn progress, void *ud, keel_audit_verify_result *res)
{
    int rc = reg_require(r, KEEL_ACCESS_AUDITOR, "verify the audit trail", "audit");
    if (rc != KEEL_OK) return rc;
    keel_audit_verify_options o = {
        .public_key = r->key.pk,
        .head_file = r->head_file,
        .external = external,
        .progress = progress,
        .progress_ud = ud,
    };
    keel_error e = {0};
    rc = keel_audit_verify(r->store, &o, res, &e);
    return rc == KEEL_OK ? rc : reg_fail(r, rc, "%s", e.msg);
}

int keel_registry_audit_export(keel_registry *r, int64_t since, int format, keel_write_fn write,
                               void *ud, int64_t *n)
{
    int rc = reg_require(r, KEEL_ACCESS_AUDITOR, "export the audit trail", "audit");
    if (rc != KEEL_OK) return rc;
    keel_error e = {0};
    rc = keel_audit_export(r->store, since, format, write, ud, n, &e);
    return rc == KEEL_OK ? rc : reg_fail(r, rc, "%s", e.msg);
}

int keel_registry_audit_checkpoint(keel_registry *r, keel_audit_checkpoint *out)
{
    int rc = reg_require(r, KEEL_ACCESS_AUDITOR | KEEL_ACCESS_OPERATOR, "sign an audit checkpoint",
                         "audit");
    if (rc != KEEL_OK) return rc;
    if (!r->key.has_secret)
        return reg_fail(r, KEEL_EPERM, "the signing key's secret half is not in %s", r->keys_dir);
    keel_error e = {0};
    rc = keel_audit_checkpoint_now(r->store, &r->key, r->head_file, out, &e);
    return rc == KEEL_OK ? rc : reg_fail(r, rc, "%s", e.msg);
}
