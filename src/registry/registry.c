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
 *
 * Opening checks the store's schema version once (two small reads, no write lock): a new store
 * gets the newest schema in one transaction, a newer one is refused, an older one is kept as it
 * is and every write path refuses it (reg_write_begin, reg_begin) until keel_registry_migrate
 * has moved it forward, one audited step at a time.
 */
#include "registry/registry_impl.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* KEEL_ENOMEM may come from keel's own statement wrapper, which leaves no message. */
    if (code == KEEL_ENOMEM) return reg_fail(r, code, "out of memory");
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
    keel_buf d, signed_d;
    keel_buf_init(&d);
    keel_buf_init(&signed_d);
    int rc = KEEL_OK;
    if ((r->state.len || r->state_reset) && (rc = reg_state_attach(r, details, &d)) == KEEL_OK)
        details = d.data;
    /* An identity bound to a key signs what it does (identity.c). */
    if (rc == KEEL_OK && r->proven &&
        (rc = reg_identity_sign(r, action, object, details, &signed_d)) == KEEL_OK)
        details = signed_d.data;
    int64_t seq = 0;
    if (rc == KEEL_OK) rc = keel_audit_append(r->store, 0, r->actor, action, object, details, &seq);
    keel_buf_free(&d);
    keel_buf_free(&signed_d);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    if (r->tx_first == 0) r->tx_first = seq;
    return KEEL_OK;
}

/* Forgets the images of a transaction that is about to end. */
static void state_forget(keel_registry *r)
{
    r->state.len = 0;
    r->state_reset = false;
}

static bool stale(const keel_registry *r)
{
    return r->schema < keel_store_schema_version();
}

/* The refusal of every change while the schema is older than this keel's. */
static int stale_fail(keel_registry *r)
{
    return reg_fail(r, KEEL_ESTATE,
                    "the registry %.200s has schema version %d and this keel uses version %d, so "
                    "it refuses changes until the schema is migrated: an admin runs `keel "
                    "registry migrate` (`--dry-run` lists the steps)",
                    r->location, r->schema, keel_store_schema_version());
}

/* Records a refusal in a transaction of its own (any open one is rolled back first: what was
 * refused must not half-happen) and returns KEEL_EPERM with r's message set to why. Nothing is
 * recorded while the schema is stale: this keel writes nothing to an older schema. */
static int deny(keel_registry *r, const char *object, const char *why)
{
    char msg[sizeof r->errmsg];
    snprintf(msg, sizeof msg, "%s", why);
    keel_store_rollback(r->store);
    state_forget(r);
    keel_buf d;
    keel_buf_init(&d);
    char roles[96];
    keel_roles_format(r->roles, roles, sizeof roles);
    int rc = keel_buf_putc(&d, '{') | reg_jstr(&d, "reason", msg) | reg_jstr(&d, "roles", roles) |
             keel_buf_putc(&d, '}');
    if (rc == KEEL_OK && !stale(r) && keel_store_begin(r->store) == KEEL_OK) {
        r->tx_first = 0;
        reg_write_end(r, reg_audit(r, "access.denied", object, d.data));
    }
    keel_buf_free(&d);
    snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
    return KEEL_EPERM;
}

int reg_require(keel_registry *r, unsigned mask, const char *what, const char *object)
{
    /* A name bound to a key is only as good as the key: without it, no role at all. */
    if (r->keyed && !r->proven) return deny(r, object, r->unproven_why);
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
    char why[sizeof r->errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return deny(r, object, why);
}

int reg_writable(keel_registry *r)
{
    return stale(r) ? stale_fail(r) : KEEL_OK;
}

int reg_begin(keel_registry *r)
{
    if (stale(r)) return stale_fail(r);
    int rc = keel_store_begin(r->store);
    r->tx_first = 0;
    state_forget(r);
    return rc == KEEL_OK ? KEEL_OK : reg_store_fail(r, rc);
}

int reg_write_begin(keel_registry *r, unsigned mask, const char *what, const char *object)
{
    if (stale(r)) return stale_fail(r);
    int rc = reg_require(r, mask, what, object);
    if (rc != KEEL_OK) return rc;
    return reg_begin(r);
}

/* reg_write_end, and with adopt the end of keel_registry_audit_adopt: the head is signed
 * without asking whether what it builds on was anchored. */
static int write_end(keel_registry *r, int rc, bool adopt)
{
    keel_audit_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    keel_error e = {0};
    /* A change whose images no event took would leave the tables ahead of the chain, and
     * verification would call it tampering: refuse it here, where the bug is. */
    if (rc == KEEL_OK && (r->state.len || r->state_reset))
        rc = reg_fail(r, KEEL_ESTATE, "internal error: a change to the registry was not audited");
    state_forget(r);
    if (rc == KEEL_OK && r->tx_first > 0) {
        rc = keel_audit_anchor(r->store, &r->key, r->head_file, r->tx_first, adopt, &cp, &e);
        if (rc != KEEL_OK) reg_fail(r, rc, "%s", e.msg);
    }
    r->tx_first = 0;
    if (rc == KEEL_OK) {
        rc = keel_store_commit(r->store);
        if (rc != KEEL_OK) reg_store_fail(r, rc);
    }
    if (rc != KEEL_OK) {
        keel_store_rollback(r->store);
        return rc;
    }
    /* Committed: the checkpoint row covers the events whatever happens to the files now. */
    rc = keel_audit_publish(&cp, r->head_file, r->witness, &e);
    if (rc != KEEL_OK) return reg_fail(r, rc, "the change is committed and signed, but %s", e.msg);
    return KEEL_OK;
}

int reg_write_end(keel_registry *r, int rc)
{
    return write_end(r, rc, false);
}

bool keel_registry_name_valid(const char *s)
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

/* The aliases the approval policy protects. Only champion today; a name added here is
 * protected everywhere (setting, rejecting, resolving). */
static const char *const protected_aliases[] = {"champion"};

/* a == b, ASCII letters compared without regard to case (not strcasecmp: the locale must not
 * decide what is protected). */
static bool same_ascii_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y) return false;
        if (!x) return true;
    }
}

const char *keel_registry_alias_protected(const char *alias)
{
    /* Compared without regard to case: otherwise "Champion" would be an ordinary alias that
     * any developer could point at any version, and a reader that lower-cases (a person, a
     * case-insensitive database collation) would take it for the champion. */
    for (size_t i = 0; i < KEEL_ARRAY_LEN(protected_aliases); i++)
        if (same_ascii_nocase(alias, protected_aliases[i])) return protected_aliases[i];
    return NULL;
}

/* ---- rows as JSON ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int reg_json_row(keel_registry *r, keel_stmt *st, keel_buf *out, reg_column_fn fn, void *ud)
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
        if (rc) break;
        if (fn) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)name_len, name);
            int done = fn(r, st, key, out, ud);
            if (done < 0) return done;
            if (done) continue;
        }
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
    if (rc == KEEL_OK) rc |= keel_buf_putc(out, '}');
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

static int json_rows(keel_registry *r, keel_buf *out, bool one_row, reg_column_fn fn, void *ud,
                     const char *sql, const char *types, va_list ap)
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
        if (rc == KEEL_OK) rc = reg_json_row(r, st, out, fn, ud);
        if (one_row) break;
    }
    if (rc == KEEL_ENOMEM) reg_fail(r, rc, "out of memory");
    keel_stmt_finalize(st);
    if (rc == KEEL_OK && !one_row && keel_buf_putc(out, ']')) rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && one_row && n == 0) rc = reg_fail(r, KEEL_ENOENT, "not found");
    return rc;
}

int reg_json_rows(keel_registry *r, keel_buf *out, bool one_row, const char *sql, const char *types,
                  ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = json_rows(r, out, one_row, NULL, NULL, sql, types, ap);
    va_end(ap);
    return rc;
}

int reg_json_rowsv(keel_registry *r, keel_buf *out, bool one_row, const char *sql,
                   const char *types, va_list ap)
{
    return json_rows(r, out, one_row, NULL, NULL, sql, types, ap);
}

int reg_json_rows_fn(keel_registry *r, keel_buf *out, bool one_row, reg_column_fn fn, void *ud,
                     const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = json_rows(r, out, one_row, fn, ud, sql, types, ap);
    va_end(ap);
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

/* a followed by suffix, in a new string (NULL when out of memory). */
static char *join_suffix(const char *a, const char *suffix)
{
    size_t n = strlen(a), m = strlen(suffix);
    char *p = keel_malloc(n + m + 1);
    if (p) {
        memcpy(p, a, n);
        memcpy(p + n, suffix, m + 1);
    }
    return p;
}

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
    int rc = reg_begin(r);
    if (rc != KEEL_OK) return rc;
    int64_t n = 0;
    rc = keel_store_int(r->store, &n, "SELECT count(*) FROM identities", NULL);
    if (rc == KEEL_OK && n == 0) {
        rc = keel_store_run(r->store,
                            "INSERT INTO identities(name, roles, created_at, created_by) "
                            "VALUES (?, 'admin', ?, ?)",
                            "sis", r->actor, keel_wall_micros(), r->actor);
        if (rc != KEEL_OK) reg_store_fail(r, rc);
        /* The first event says what the state is from here on: this identity, nothing else. */
        if (rc == KEEL_OK) rc = reg_state_all(r);
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

/* A step the store lacks that this keel's reads depend on makes the store unreadable. */
static bool readable(int version)
{
    size_t n;
    const keel_schema_step *steps = keel_store_schema_steps(&n);
    for (size_t i = (size_t)version; i < n; i++)
        if (!steps[i].read_compatible) return false;
    return true;
}

/* Reads the store's schema version into r->schema, giving a new store the newest schema, and
 * refuses a newer one (or an older one this keel cannot read, unless flags allow it). */
static int check_schema(keel_registry *r, unsigned flags, keel_error *e)
{
    int v = 0;
    int rc = keel_store_schema_read(r->store, &v);
    if (rc == KEEL_OK && v == 0) rc = keel_store_schema_create(r->store, &v);
    if (rc != KEEL_OK)
        return keel_error_set(e, rc, "registry %s: %s", r->location, keel_store_errmsg(r->store));
    r->schema = v;
    int newest = keel_store_schema_version();
    if (v > newest)
        return keel_error_set(e, KEEL_EFORMAT,
                              "registry %s: its schema version %d is newer than this keel knows "
                              "(%d); use a newer keel",
                              r->location, v, newest);
    if (v < newest && !readable(v) && !(flags & KEEL_REGISTRY_OPEN_STALE))
        return keel_error_set(e, KEEL_ESTATE,
                              "registry %s: its schema version %d is older than this keel's (%d) "
                              "and cannot be read until it is migrated: an admin runs `keel "
                              "registry migrate`",
                              r->location, v, newest);
    return KEEL_OK;
}

/* o's location, or the default sqlite://HOME/registry.db, into b. */
static int location_of(const keel_registry_options *o, keel_buf *b)
{
    return o->location ? keel_buf_puts(b, o->location)
                       : keel_buf_printf(b, "sqlite://%s/registry.db", o->home ? o->home : ".");
}

int keel_registry_exists(const keel_registry_options *o, bool *exists, keel_error *e)
{
    *exists = false;
    keel_buf location;
    keel_buf_init(&location);
    int rc = location_of(o, &location) != KEEL_OK ? keel_error_set(e, KEEL_ENOMEM, "out of memory")
                                                  : keel_store_exists(location.data, exists, e);
    keel_buf_free(&location);
    return rc;
}

int keel_registry_open_with(const keel_registry_options *o, keel_registry **out, keel_error *e)
{
    *out = NULL;
    if (!o->actor || !valid_actor(o->actor))
        return keel_error_set(e, KEEL_EINVAL,
                              "no valid identity: set KEEL_USER or 'user:' in the config file "
                              "(1-128 printable characters, no comma)");
    if (!o->home || !*o->home)
        return keel_error_set(e, KEEL_EINVAL, "no registry home directory (KEEL_HOME) given");
    keel_registry *r = keel_calloc(1, sizeof *r);
    if (!r) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    keel_buf_init(&r->state);
    keel_buf location;
    keel_buf_init(&location);
    int rc = location_of(o, &location);
    r->home = keel_strdup(o->home);
    r->actor = keel_strdup(o->actor);
    r->host = o->host ? keel_strdup(o->host) : NULL;
    r->key_file = o->audit_key ? keel_strdup(o->audit_key) : join(o->home, "keys/audit.key");
    r->pub_file =
        o->audit_key ? join_suffix(o->audit_key, ".pub") : join(o->home, "keys/audit.pub");
    r->head_file = join(o->home, "audit-head.json");
    r->witness = o->audit_witness ? keel_strdup(o->audit_witness) : NULL;
    r->identity_key = o->identity_key ? keel_strdup(o->identity_key) : NULL;
    char *artifacts = join(o->home, "artifacts/sha256");
    /* The masked form is at most "***" longer than the location. */
    r->location = rc == KEEL_OK ? keel_malloc(location.len + 4) : NULL;
    if (!r->location || !r->home || !r->actor || (o->host && !r->host) || !r->key_file ||
        !r->pub_file || !r->head_file || (o->audit_witness && !r->witness) || !artifacts ||
        (o->identity_key && !r->identity_key)) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    keel_store_location_display(location.data, r->location, location.len + 4);
    if ((rc = make_dirs(o->home, 0755, e)) != KEEL_OK) goto fail;
    if ((rc = make_dirs(artifacts, 0755, e)) != KEEL_OK) goto fail;
    if ((rc = keel_store_open_location(location.data, &r->store, e)) != KEEL_OK) goto fail;
    if ((rc = check_schema(r, o->flags, e)) != KEEL_OK) goto fail;
    if ((rc = keel_audit_key_load_file(r->key_file, r->pub_file, 1, &r->key, e)) != KEEL_OK)
        goto fail;
    if ((rc = bootstrap(r)) != KEEL_OK || (rc = load_roles(r)) != KEEL_OK ||
        (rc = reg_identity_load(r, o->identity_key)) != KEEL_OK) {
        keel_error_set(e, rc, "%s", r->errmsg);
        goto fail;
    }
    keel_free(artifacts);
    keel_buf_free(&location);
    *out = r;
    return KEEL_OK;
fail:
    keel_free(artifacts);
    keel_buf_free(&location);
    keel_registry_close(r);
    return rc;
}

int keel_registry_open(const char *home, const char *actor, const char *host, keel_registry **out,
                       keel_error *e)
{
    keel_registry_options o = {.home = home, .actor = actor, .host = host};
    return keel_registry_open_with(&o, out, e);
}

void keel_registry_close(keel_registry *r)
{
    if (!r) return;
    keel_store_close(r->store);
    keel_free(r->home);
    keel_free(r->location);
    keel_free(r->actor);
    keel_free(r->host);
    keel_free(r->key_file);
    keel_free(r->pub_file);
    keel_free(r->head_file);
    keel_free(r->witness);
    keel_buf_free(&r->state);
    keel_free(r->identity_key);
    sodium_memzero(&r->ident, sizeof r->ident);
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

const char *keel_registry_location(const keel_registry *r)
{
    return r->location;
}

const char *keel_registry_actor(const keel_registry *r)
{
    return r->actor;
}

unsigned keel_registry_roles(keel_registry *r)
{
    return r->roles;
}

int keel_registry_whoami(keel_registry *r, keel_buf *b)
{
    keel_buf_mark mark = keel_buf_begin(b);
    char roles[96];
    keel_roles_format(r->roles, roles, sizeof roles);
    keel_buf_puts(b, "{\"user\":");
    keel_buf_json_str(b, r->actor, strlen(r->actor));
    keel_buf_printf(b, ",\"roles\":\"%s\",\"home\":", roles);
    keel_buf_json_str(b, r->home, strlen(r->home));
    keel_buf_putc(b, '}');
    return keel_buf_end(b, mark);
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
    if (rc == KEEL_OK) rc = reg_state_row(r, "identities", "s", name);
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
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = reg_identity_load(r, r->identity_key);
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
    if (rc == KEEL_OK) rc = reg_state_row(r, "identities", "s", name);
    int64_t n = 1;
    if (rc == KEEL_OK) rc = admins_left(r, &n);
    if (rc == KEEL_OK && n == 0)
        rc = reg_fail(r, KEEL_ESTATE, "refused: that would leave the registry without an admin");
    if (rc == KEEL_OK) rc = reg_audit(r, "identity.remove", obj, "{}");
    rc = reg_write_end(r, rc);
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = load_roles(r);
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = reg_identity_load(r, r->identity_key);
    return rc;
}

int keel_registry_user_key_set(keel_registry *r, const char *name, const char *public_key)
{
    char obj[200];
    snprintf(obj, sizeof obj, "identity:%s", name);
    unsigned char pk[32];
    if (public_key && !keel_hex_decode(public_key, strlen(public_key), pk, 32))
        return reg_fail(r, KEEL_EINVAL,
                        "'%.80s' is not an Ed25519 public key: 64 hex digits, as `keel user key "
                        "create` prints them",
                        public_key);
    char hex[65] = "";
    if (public_key) keel_hex_encode(pk, 32, hex); /* stored in one spelling */
    int rc = reg_write_begin(r, KEEL_ACCESS_ADMIN, "bind identities to keys", obj);
    if (rc != KEEL_OK) return rc;
    rc = keel_store_run(r->store, "UPDATE identities SET public_key = ? WHERE name = ?", "ss",
                        public_key ? hex : NULL, name);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK && keel_store_changes(r->store) == 0)
        rc = reg_fail(r, KEEL_ENOENT,
                      "no identity '%s' (add it first: keel user add %s --role "
                      "ROLE)",
                      name, name);
    if (rc == KEEL_OK) rc = reg_state_row(r, "identities", "s", name);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK &&
        (keel_buf_putc(&d, '{') | reg_jstr(&d, "public_key", public_key ? hex : NULL) |
         keel_buf_putc(&d, '}')))
        rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
    if (rc == KEEL_OK)
        rc = reg_audit(r, public_key ? "identity.key.set" : "identity.key.remove", obj, d.data);
    keel_buf_free(&d);
    rc = reg_write_end(r, rc);
    if (rc == KEEL_OK && !strcmp(name, r->actor)) rc = reg_identity_load(r, r->identity_key);
    return rc;
}

int keel_registry_user_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "list identities", "identities");
    if (rc != KEEL_OK) return rc;
    /* "authenticated" says what a name is worth: a key's fingerprint, or only a claim. */
    if (r->schema >= 3)
        return reg_json_rows(r, out, false,
                             "SELECT name, roles, CASE WHEN public_key IS NULL THEN 'no: a "
                             "claimed name' ELSE 'ed25519:' || substr(public_key, 1, 16) END "
                             "AS authenticated, public_key, created_at, created_by FROM "
                             "identities ORDER BY name",
                             NULL);
    return reg_json_rows(r, out, false,
                         "SELECT name, roles, 'no: a claimed name' AS authenticated, NULL AS "
                         "public_key, created_at, created_by FROM identities ORDER BY name",
                         NULL);
}

/* ---- the schema ---- */

void keel_registry_schema(const keel_registry *r, int *version, int *newest)
{
    *version = r->schema;
    *newest = keel_store_schema_version();
}

int keel_registry_migrate(keel_registry *r, bool dry_run, int *from, int *to)
{
    *from = *to = r->schema;
    int rc = dry_run
                 ? reg_require(r, REG_ANY_ROLE, "read the registry", "registry")
                 : reg_require(r, KEEL_ACCESS_ADMIN, "migrate the registry's schema", "registry");
    if (rc != KEEL_OK) return rc;
    if (dry_run) {
        *to = keel_store_schema_version();
        return KEEL_OK;
    }
    size_t n;
    const keel_schema_step *steps = keel_store_schema_steps(&n);
    for (int v = r->schema + 1; v <= keel_store_schema_version(); v++) {
        if ((rc = keel_store_begin(r->store)) != KEEL_OK) return reg_store_fail(r, rc);
        r->tx_first = 0;
        bool applied = false;
        rc = keel_store_migrate_step(r->store, v, &applied);
        if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
        keel_buf d;
        keel_buf_init(&d);
        if (rc == KEEL_OK && applied) {
            if (keel_buf_putc(&d, '{') | reg_jint(&d, "from", v - 1) | reg_jint(&d, "to", v) |
                reg_jstr(&d, "step", steps[v - 1].description) |
                reg_jstr(&d, "keel_version", keel_version()) | keel_buf_putc(&d, '}'))
                rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
            /* Schema 3 is where the chain starts covering the tables: its event carries an
             * image of every row, the baseline the later events' images build on. */
            r->schema = v;
            if (rc == KEEL_OK && v == 3) rc = reg_state_all(r);
            r->schema = v - 1;
            if (rc == KEEL_OK) rc = reg_audit(r, "registry.migrate", "registry", d.data);
        }
        keel_buf_free(&d);
        if ((rc = reg_write_end(r, rc)) != KEEL_OK) return rc;
        r->schema = v;
        *to = v;
    }
    return KEEL_OK;
}

int keel_registry_migrate_report(keel_registry *r, int from, int to, bool dry_run, bool json,
                                 keel_buf *b)
{
    keel_buf_mark mark = keel_buf_begin(b);
    size_t n;
    const keel_schema_step *steps = keel_store_schema_steps(&n);
    const char *where = keel_registry_location(r);
    if (to > (int)n) to = (int)n; /* never past the steps this keel knows */
    if (json) {
        keel_buf_puts(b, "{\"location\":");
        keel_buf_json_str(b, where, strlen(where));
        keel_buf_printf(b, ",\"from\":%d,\"to\":%d,\"newest\":%d,\"dry_run\":%s,\"steps\":[", from,
                        to, keel_store_schema_version(), dry_run ? "true" : "false");
        for (int v = from + 1; v <= to; v++) {
            keel_buf_printf(b, "%s{\"version\":%d,\"description\":", v > from + 1 ? "," : "", v);
            keel_buf_json_str(b, steps[v - 1].description, strlen(steps[v - 1].description));
            keel_buf_printf(b, ",\"read_compatible\":%s}",
                            steps[v - 1].read_compatible ? "true" : "false");
        }
        keel_buf_puts(b, "]}\n");
        return keel_buf_end(b, mark);
    }
    if (from == to) {
        keel_buf_printf(b,
                        "registry %s: schema version %d, the newest this keel knows; nothing to "
                        "migrate\n",
                        where, from);
        return keel_buf_end(b, mark);
    }
    if (dry_run)
        keel_buf_printf(b, "registry %s: schema version %d; this keel uses %d\npending steps:\n",
                        where, from, to);
    else
        keel_buf_printf(b, "registry %s: schema version %d -> %d\napplied:\n", where, from, to);
    for (int v = from + 1; v <= to; v++)
        keel_buf_printf(b, "  %d  %s\n", v, steps[v - 1].description);
    if (dry_run)
        keel_buf_puts(b, "dry run: nothing changed; `keel registry migrate` applies them\n");
    return keel_buf_end(b, mark);
}

/* ---- the audit trail ---- */

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
        return reg_fail(r, KEEL_EPERM, "the signing key's secret half is not in %s", r->key_file);
    if (stale(r)) return stale_fail(r);
    /* Every write signs its head, so the head is signed already unless something is wrong;
     * never sign over events that no valid checkpoint covers (keel_registry_audit_adopt is
     * the deliberate way). */
    int64_t head;
    char hash[65];
    keel_error e = {0};
    if ((rc = keel_audit_head(r->store, &head, hash)) != KEEL_OK) return reg_store_fail(r, rc);
    if ((rc = keel_audit_anchored(r->store, r->key.pk, r->head_file, head, &e)) != KEEL_OK)
        return reg_fail(r, rc, "%s", e.msg);
    rc = keel_audit_checkpoint_now(r->store, &r->key, r->head_file, out, &e);
    return rc == KEEL_OK ? rc : reg_fail(r, rc, "%s", e.msg);
}

int keel_registry_audit_adopt(keel_registry *r, int64_t *from, int64_t *to)
{
    *from = *to = 0;
    int rc =
        reg_write_begin(r, KEEL_ACCESS_ADMIN, "adopt the audit trail's unsigned events", "audit");
    if (rc != KEEL_OK) return rc;
    /* The chain itself must hold: adopting vouches for events no checkpoint covers, never
     * for a broken link, an edited event or a cut tail. */
    keel_audit_verify_options o = {
        .public_key = r->key.pk, .head_file = r->head_file, .witness = r->witness};
    keel_audit_verify_result res;
    keel_error e = {0};
    rc = keel_audit_verify(r->store, &o, &res, &e);
    if (rc != KEEL_OK) return reg_write_end(r, reg_fail(r, rc, "%s", e.msg));
    if (!res.ok)
        return reg_write_end(r, reg_fail(r, KEEL_ESTATE,
                                         "refused: the audit trail is broken at event %lld (%s); "
                                         "restore the registry from a backup",
                                         (long long)res.first_bad, res.reason));
    bool head_file = access(r->head_file, F_OK) == 0;
    if (res.head_seq == 0 || (res.checkpoint_seq == res.head_seq && head_file))
        return reg_write_end(r, reg_fail(r, KEEL_ESTATE,
                                         "nothing to adopt: every event is covered by a signed "
                                         "checkpoint and the head file is there"));
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jint(&d, "from", res.checkpoint_seq + 1) |
        reg_jint(&d, "to", res.head_seq) |
        reg_jstr(&d, "head_file", head_file ? "present" : "missing") | keel_buf_putc(&d, '}'))
        rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
    if (rc == KEEL_OK) rc = reg_audit(r, "audit.adopt", "audit", d.data);
    keel_buf_free(&d);
    if ((rc = write_end(r, rc, true)) != KEEL_OK) return rc;
    *from = res.checkpoint_seq + 1;
    *to = res.head_seq;
    return KEEL_OK;
}
