/*
 * tokens.c — the bearer tokens of `keel serve --require-token`: created, listed and revoked
 * here, read by the server (keel_registry_token_live) at start and at every poll.
 *
 * A token's secret exists in one place only: the answer to its creator. The store keeps the
 * SHA-256 of the token's text, which is all the server needs (it hashes what a client
 * presents and looks the hash up), and the audit trail keeps at most its first 8 hex digits,
 * enough to tell two tokens apart in a report and far too little to find either. The secret
 * is 32 bytes from libsodium's randombytes_buf (the kernel's generator), so the hash cannot be
 * reversed by guessing; no salt or slow hash is needed, as it would be for a password a
 * person chose.
 *
 * Each change also records the token's row as the chain's state image (state.c), whose hash
 * column is kept there only as a digest of itself, so the trail holds nothing that matches a
 * token's hash either.
 *
 * Create and revoke follow the mutation pattern of registry_impl.h and need the operator role,
 * as deployments do: a token decides who may call a deployed model. The reads need any role.
 * The tokens table arrived with schema step 3; on an older schema every call here says to
 * migrate (KEEL_ESTATE) rather than fail on a missing table.
 */
#include "registry/registry_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_SCHEMA 3 /* the schema step that made the tokens table */

static const char *const role_names[] = {NULL, "read", "invoke", "explain"};

int keel_token_role_parse(const char *s)
{
    for (int i = KEEL_TOKEN_READ; s && i <= KEEL_TOKEN_EXPLAIN; i++)
        if (!strcmp(s, role_names[i])) return i;
    return 0;
}

const char *keel_token_role_name(int role)
{
    return role >= KEEL_TOKEN_READ && role <= KEEL_TOKEN_EXPLAIN ? role_names[role] : "?";
}

bool keel_token_expiry_parse(const char *s, int64_t now, int64_t *at)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    int64_t t = 0;
    static const char units[] = "smhd";
    static const int64_t seconds[] = {1, 60, 3600, 86400};
    const char *u = *end ? strchr(units, *end) : NULL;
    if (end != s && *s >= '0' && *s <= '9' && u && !end[1]) {
        int64_t k = seconds[u - units];
        if (n > (INT64_MAX - now) / 1000000 / k) return false; /* beyond the calendar */
        t = now + (int64_t)n * k * 1000000;
    } else if (!keel_parse_time(s, &t)) {
        return false;
    }
    if (t <= now) return false;
    *at = t;
    return true;
}

/* Reads and lists need the tokens table; writes are refused on any older schema anyway. */
static int need_schema(keel_registry *r)
{
    if (r->schema >= TOKENS_SCHEMA) return KEEL_OK;
    return reg_fail(r, KEEL_ESTATE,
                    "the registry %.200s has schema version %d and tokens need version %d: an "
                    "admin runs `keel registry migrate` (`--dry-run` lists the steps)",
                    r->location, r->schema, TOKENS_SCHEMA);
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Appends {"id", "name", "model", "role", ...} to b, open: the caller closes it. */
static int record_head(keel_buf *b, int64_t id, const char *name, const char *model,
                       const char *role)
{
    return keel_buf_putc(b, '{') | reg_jint(b, "id", id) | reg_jstr(b, "name", name) |
           reg_jstr(b, "model", model) | reg_jstr(b, "role", role);
}

/* ',"key":"ISO time"', or null for 0. */
static int jtime(keel_buf *b, const char *key, int64_t micros)
{
    char iso[40];
    if (micros) keel_format_timestamp(micros, iso);
    return reg_jstr(b, key, micros ? iso : NULL);
}

int keel_registry_token_create(keel_registry *r, const char *name, const char *model,
                               const char *role, int64_t expires_at, char token[KEEL_TOKEN_SIZE],
                               int64_t *id, keel_buf *out)
{
    memset(token, 0, KEEL_TOKEN_SIZE);
    *id = 0;
    int64_t now = keel_wall_micros();
    if (!model || (strcmp(model, "*") && !keel_registry_name_valid(model)))
        return reg_fail(r, KEEL_EINVAL, "'%.100s' is not a model name (or * for every model)",
                        model ? model : "");
    if (!keel_token_role_parse(role))
        return reg_fail(r, KEEL_EINVAL, "unknown token role '%.40s' (read, invoke or explain)",
                        role ? role : "");
    if (name && (!keel_registry_name_valid(name) || all_digits(name)))
        return reg_fail(r, KEEL_EINVAL,
                        "'%.100s' is not a token name (1-64 of A-Z a-z 0-9 . _ -, not all "
                        "digits)",
                        name);
    if (expires_at && expires_at <= now)
        return reg_fail(r, KEEL_EINVAL, "a token's expiry must be in the future");
    /* sodium_init is idempotent and thread-safe; randombytes_buf needs it first. */
    if (sodium_init() < 0) return reg_fail(r, KEEL_EIO, "libsodium failed to initialise");
    int rc = reg_write_begin(r, KEEL_ACCESS_OPERATOR, "create tokens", "tokens");
    if (rc != KEEL_OK) return rc;
    unsigned char raw[32], digest[32];
    char hex[65], sha[65], object[40], given[80];
    randombytes_buf(raw, sizeof raw);
    keel_sha256_hex(raw, hex);
    sodium_memzero(raw, sizeof raw);
    snprintf(token, KEEL_TOKEN_SIZE, "%s%s", KEEL_TOKEN_PREFIX, hex);
    sodium_memzero(hex, sizeof hex);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, token, strlen(token));
    keel_sha256_final(&h, digest);
    keel_sha256_hex(digest, sha);
    rc = keel_store_int(r->store, id,
                        "INSERT INTO tokens(name, sha256, model, role, created_at, created_by, "
                        "expires_at) VALUES (?, ?, ?, ?, ?, ?, NULLIF(?, 0)) RETURNING id",
                        "ssssisi", name ? name : "", sha, model, role, now, r->actor, expires_at);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc < 0 ? rc : KEEL_EIO);
    if (rc == KEEL_OK && !name) {
        snprintf(given, sizeof given, "token-%lld", (long long)*id);
        name = given;
        rc = keel_store_run(r->store, "UPDATE tokens SET name = ? WHERE id = ?", "si", name, *id);
        if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    }
    /* the row's image for the chain (state.c; its hash kept only as a digest of it) */
    if (rc == KEEL_OK) rc = reg_state_row(r, "tokens", "i", *id);
    int64_t same = 0;
    if (rc == KEEL_OK &&
        (rc = keel_store_int(r->store, &same,
                             "SELECT count(*) FROM tokens WHERE name = ? AND revoked_at IS NULL",
                             "s", name)) != KEEL_OK)
        rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK && same > 1)
        rc = reg_fail(r, KEEL_ESTATE,
                      "a token named '%s' exists already (revoke it first, or choose another "
                      "--name)",
                      name);
    keel_buf d;
    keel_buf_init(&d);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", sha);
    if (rc == KEEL_OK &&
        (record_head(&d, *id, name, model, role) | jtime(&d, "expires_at", expires_at) |
         reg_jstr(&d, "sha256_prefix", prefix) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    snprintf(object, sizeof object, "token:%lld", (long long)*id);
    if (rc == KEEL_OK) rc = reg_audit(r, "token.create", object, d.data);
    keel_buf_free(&d);
    /* The answer is written before the commit: a token nobody was shown must not exist. */
    keel_buf_mark mark = keel_buf_begin(out ? out : &d);
    if (rc == KEEL_OK && out) {
        record_head(out, *id, name, model, role);
        jtime(out, "expires_at", expires_at);
        reg_jstr(out, "token", token);
        keel_buf_putc(out, '}');
        rc = keel_buf_end(out, mark);
    }
    rc = reg_write_end(r, rc);
    int64_t kept = 0;
    if (rc != KEEL_OK && *id)
        /* Committed, and only publishing the checkpoint failed (the message says so): the
         * token exists, so its creator must still be shown it. */
        keel_store_int(r->store, &kept, "SELECT count(*) FROM tokens WHERE id = ?", "i", *id);
    if (rc != KEEL_OK && !kept) {
        if (out) keel_buf_end_rc(out, mark, rc);
        sodium_memzero(token, KEEL_TOKEN_SIZE);
        *id = 0;
    }
    return rc;
}

int keel_registry_token_list(keel_registry *r, keel_buf *out)
{
    int rc = need_schema(r);
    if (rc == KEEL_OK) rc = reg_require(r, REG_ANY_ROLE, "list tokens", "tokens");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows(r, out, false,
                         "SELECT id, name, model, role, CASE WHEN revoked_at IS NOT NULL THEN "
                         "'revoked' WHEN expires_at IS NOT NULL AND expires_at <= ? THEN "
                         "'expired' ELSE 'live' END AS status, created_at, created_by, "
                         "expires_at, revoked_at, revoked_by FROM tokens ORDER BY id DESC",
                         "i", keel_wall_micros());
}

/* Finds the token ref names among those not revoked: its id (all digits) or its name. */
static int find_live(keel_registry *r, const char *ref, keel_stmt **st)
{
    static const char cols[] = "SELECT id, name, model, role, sha256 FROM tokens WHERE "
                               "revoked_at IS NULL AND ";
    char sql[160];
    bool by_id = all_digits(ref);
    snprintf(sql, sizeof sql, "%s%s", cols, by_id ? "id = ?" : "name = ?");
    int rc = by_id ? keel_store_query(r->store, st, sql, "i", (int64_t)strtoll(ref, NULL, 10))
                   : keel_store_query(r->store, st, sql, "s", ref);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    rc = keel_stmt_step(*st);
    if (rc == KEEL_STORE_ROW) return KEEL_OK;
    if (rc < 0) return reg_store_fail(r, rc);
    return reg_fail(r, KEEL_ENOENT, "no token %s '%.100s' that is not revoked already",
                    by_id ? "with id" : "named", ref);
}

int keel_registry_token_revoke(keel_registry *r, const char *ref, keel_buf *out)
{
    int rc = reg_write_begin(r, KEEL_ACCESS_OPERATOR, "revoke tokens", "tokens");
    if (rc != KEEL_OK) return rc;
    keel_stmt *st = NULL;
    if ((rc = find_live(r, ref, &st)) != KEEL_OK) {
        keel_stmt_finalize(st);
        return reg_write_end(r, rc);
    }
    int64_t id = keel_stmt_int(st, 0), now = keel_wall_micros();
    char name[80], model[80], role[16], prefix[9], object[40];
    snprintf(name, sizeof name, "%s", keel_stmt_text(st, 1) ? keel_stmt_text(st, 1) : "");
    snprintf(model, sizeof model, "%s", keel_stmt_text(st, 2) ? keel_stmt_text(st, 2) : "");
    snprintf(role, sizeof role, "%s", keel_stmt_text(st, 3) ? keel_stmt_text(st, 3) : "");
    snprintf(prefix, sizeof prefix, "%.8s", keel_stmt_text(st, 4) ? keel_stmt_text(st, 4) : "");
    keel_stmt_finalize(st);
    rc = keel_store_run(r->store, "UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                        "isi", now, r->actor, id);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK) rc = reg_state_row(r, "tokens", "i", id);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK && (record_head(&d, id, name, model, role) |
                          reg_jstr(&d, "sha256_prefix", prefix) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    snprintf(object, sizeof object, "token:%lld", (long long)id);
    if (rc == KEEL_OK) rc = reg_audit(r, "token.revoke", object, d.data);
    keel_buf_free(&d);
    keel_buf_mark mark = keel_buf_begin(out ? out : &d);
    if (rc == KEEL_OK && out) {
        record_head(out, id, name, model, role);
        jtime(out, "revoked_at", now);
        keel_buf_putc(out, '}');
        rc = keel_buf_end(out, mark);
    }
    rc = reg_write_end(r, rc);
    if (rc != KEEL_OK && out) keel_buf_end_rc(out, mark, rc);
    return rc;
}

/* A stored digest: 64 hex digits -> 32 bytes; false for anything else. */
static bool hex_digest_of(const char *s, unsigned char out[32])
{
    return s && keel_hex_decode(s, strlen(s), out, 32);
}

int keel_registry_token_live(keel_registry *r, int64_t now, keel_live_token **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc = need_schema(r);
    if (rc == KEEL_OK) rc = reg_require(r, REG_ANY_ROLE, "read tokens", "tokens");
    if (rc != KEEL_OK) return rc;
    keel_stmt *st = NULL;
    rc = keel_store_query(r->store, &st,
                          "SELECT sha256, model, role, coalesce(expires_at, 0) FROM tokens "
                          "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                          "i", now);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    keel_live_token *v = NULL;
    size_t k = 0, cap = 0;
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 16;
            keel_live_token *grown = keel_realloc(v, cap * sizeof *v);
            if (!grown) {
                rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
                break;
            }
            v = grown;
        }
        keel_live_token *t = &v[k];
        const char *model = keel_stmt_text(st, 1);
        t->role = keel_token_role_parse(keel_stmt_text(st, 2));
        t->expires_at = keel_stmt_int(st, 3);
        /* A row edited behind keel's back into something unreadable lets nobody in. */
        if (!hex_digest_of(keel_stmt_text(st, 0), t->sha256) || !t->role || !model ||
            strlen(model) >= sizeof t->model)
            continue;
        memcpy(t->model, model, strlen(model) + 1);
        k++;
    }
    keel_stmt_finalize(st);
    if (rc < 0) {
        if (rc != KEEL_ENOMEM) reg_store_fail(r, rc);
        keel_free(v);
        return rc;
    }
    if (!k) {
        keel_free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return KEEL_OK;
}
