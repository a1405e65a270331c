/*
 * identity.c — identities bound to keys, and the signatures that prove who made a change.
 *
 * A name in KEEL_USER is a claim anyone can make. An identity becomes more than a claim when
 * an admin binds it to an Ed25519 public key (`keel user add bob --public-key HEX`); bob
 * keeps the secret half in his own config (`keel user key create`, mode 0600), which the
 * registry and whoever holds its files never see. From then on:
 *   - a process claiming bob must hold bob's secret key: every call that needs a role is
 *     refused (and the refusal audited) otherwise;
 *   - every event bob's process appends carries bob's signature in its details, over the
 *     position it was appended at (the previous event's hash) and everything it says, state
 *     images included; so approvals, rejections and alias moves are signed by the person
 *     who made them;
 *   - verification checks, replaying the chain, that every event that changed the state by
 *     an identity bound to a key at that moment carries a valid signature by that key. A
 *     forged approval (a row, or an event appended and even checkpointed with the registry's
 *     own key) is found unless the forger holds bob's key.
 * Identities without a key act under claimed names; `keel user list`, verification and the
 * model card say so.
 *
 * The signed message: "keel-event-v1", prev_hash, actor, action, object and the details
 * without the signature, each followed by a NUL byte. The signature is the last member of
 * the details: ...,"signature":"<128 hex digits>"}.
 */
#include "registry/registry_impl.h"

#include "base/json.h"

#include <sodium.h>
#include <string.h>
#include <unistd.h>

#define SIGNATURE_MEMBER "\"signature\":\""
/* The member's name, quotes, 128 hex digits, the closing quote and brace. */
#define SIGNATURE_TAIL (sizeof SIGNATURE_MEMBER - 1 + 128 + 2)

/* hex (NUL-terminated) as exactly n bytes. */
static bool hex_to(const char *hex, unsigned char *out, size_t n)
{
    return hex && keel_hex_decode(hex, strlen(hex), out, n);
}

/* ---- the person's key file ------------------------------------------------------------ */

static int pub_path(const char *key_file, char *out, size_t cap, keel_error *e)
{
    if ((size_t)snprintf(out, cap, "%s.pub", key_file) >= cap)
        return keel_error_set(e, KEEL_EINVAL, "%s: path too long", key_file);
    return KEEL_OK;
}

/* Loads key_file (and its .pub), refusing a file others may read with a message about this
 * key, not the audit key the loader is shared with. */
static int load_key(const char *key_file, keel_audit_key *key, int create, keel_error *e)
{
    char pub[4096];
    int rc = pub_path(key_file, pub, sizeof pub, e);
    if (rc != KEEL_OK) return rc;
    if (!create && access(key_file, F_OK) != 0)
        return keel_error_set(e, KEEL_ENOENT,
                              "there is no key file %s (`keel user key create` "
                              "makes one)",
                              key_file);
    keel_error pe = {0};
    rc = keel_file_check_private(key_file, "the identity key", &pe);
    if (rc != KEEL_OK && rc != KEEL_ENOENT) {
        *e = pe;
        return rc;
    }
    return keel_audit_key_load_file(key_file, pub, create, key, e);
}

/* Where the person's key goes, when nothing says. */
static int no_place(keel_error *e)
{
    return keel_error_set(e, KEEL_EINVAL,
                          "no place for the identity key: set KEEL_IDENTITY_KEY "
                          "(or HOME, for ~/.config/keel/identity.key)");
}

int keel_identity_key_create(const char *key_file, char pk_hex[65], keel_error *e)
{
    if (!key_file) return no_place(e);
    if (access(key_file, F_OK) == 0)
        return keel_error_set(e, KEEL_ESTATE,
                              "%s exists already; keel never replaces a key (its public half: "
                              "keel user key show)",
                              key_file);
    keel_audit_key key;
    int rc = load_key(key_file, &key, 1, e);
    if (rc == KEEL_OK) keel_hex_encode(key.pk, 32, pk_hex);
    sodium_memzero(&key, sizeof key);
    return rc;
}

int keel_identity_key_show(const char *key_file, char pk_hex[65], keel_error *e)
{
    if (!key_file) return no_place(e);
    keel_audit_key key;
    int rc = load_key(key_file, &key, 0, e);
    if (rc == KEEL_OK && !key.has_secret)
        rc = keel_error_set(e, KEEL_ENOENT, "%s: only the public half is there", key_file);
    if (rc == KEEL_OK) keel_hex_encode(key.pk, 32, pk_hex);
    sodium_memzero(&key, sizeof key);
    return rc;
}

/* ---- the actor's proof ---------------------------------------------------------------- */

int reg_identity_load(keel_registry *r, const char *key_file)
{
    r->keyed = false;
    r->proven = false;
    r->unproven_why[0] = '\0';
    if (r->schema < 3) return KEEL_OK; /* no keys before schema 3 */
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st, "SELECT public_key FROM identities WHERE name = ?",
                              "s", r->actor);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    unsigned char pk[32];
    int step = keel_stmt_step(st);
    const char *hex = step == KEEL_STORE_ROW ? keel_stmt_text(st, 0) : NULL;
    bool keyed = hex != NULL;
    bool valid = keyed && hex_to(hex, pk, 32);
    char shown[17] = "";
    if (hex) snprintf(shown, sizeof shown, "%.16s", hex);
    keel_stmt_finalize(st);
    if (step < 0) return reg_store_fail(r, step);
    if (!keyed) return KEEL_OK;
    r->keyed = true;
    if (!valid) {
        snprintf(r->unproven_why, sizeof r->unproven_why,
                 "permission denied: the public key recorded for '%s' is damaged; run `keel "
                 "audit verify`",
                 r->actor);
        return KEEL_OK;
    }
    keel_error e = {0};
    rc = key_file ? load_key(key_file, &r->ident, 0, &e)
                  : keel_error_set(&e, KEEL_ENOENT, "no identity key file is configured");
    if (rc == KEEL_OK && (!r->ident.has_secret || sodium_memcmp(r->ident.pk, pk, 32) != 0))
        rc = keel_error_set(&e, KEEL_EPERM, "%s is not %s's key (it holds %s)", key_file, r->actor,
                            r->ident.has_secret ? "another key" : "no secret half");
    if (rc != KEEL_OK) {
        sodium_memzero(&r->ident, sizeof r->ident);
        snprintf(r->unproven_why, sizeof r->unproven_why,
                 "permission denied: '%s' is bound to the key ed25519:%s… and this process "
                 "does not hold it (%.200s); point KEEL_IDENTITY_KEY at %s's own key file",
                 r->actor, shown, e.msg, r->actor);
        return KEEL_OK;
    }
    r->proven = true;
    return KEEL_OK;
}

/* The message an event's signature covers (see the top of this file). */
static int signed_message(keel_buf *m, const char *prev, const char *actor, const char *action,
                          const char *object, const char *core, size_t core_len)
{
    const char *parts[] = {"keel-event-v1", prev, actor, action, object};
    int rc = 0;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(parts); i++)
        rc |= keel_buf_puts(m, parts[i]) | keel_buf_putc(m, '\0');
    rc |= keel_buf_append(m, core, core_len) | keel_buf_putc(m, '\0');
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int reg_identity_sign(keel_registry *r, const char *action, const char *object, const char *details,
                      keel_buf *out)
{
    int64_t seq;
    char prev[65];
    int rc = keel_audit_head(r->store, &seq, prev);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    keel_buf m;
    keel_buf_init(&m);
    size_t n = strlen(details);
    rc = signed_message(&m, prev, r->actor, action, object, details, n);
    unsigned char sig[64];
    char hex[129];
    if (rc == KEEL_OK) {
        crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)m.data, m.len, r->ident.sk);
        keel_hex_encode(sig, 64, hex);
        /* details is a JSON object: the signature becomes its last member. */
        rc = keel_buf_append(out, details, n - 1) |
             keel_buf_puts(out, n > 2 ? "," SIGNATURE_MEMBER : SIGNATURE_MEMBER) |
             keel_buf_puts(out, hex) | keel_buf_puts(out, "\"}");
    }
    keel_buf_free(&m);
    return rc ? reg_fail(r, KEEL_ENOMEM, "out of memory") : KEEL_OK;
}

/* ---- verification ------------------------------------------------------------------------ */

void reg_keyring_clear(reg_keyring *k)
{
    for (size_t i = 0; i < k->n; i++)
        keel_free(k->v[i].name);
    k->n = 0;
}

void reg_keyring_free(reg_keyring *k)
{
    reg_keyring_clear(k);
    keel_free(k->v);
    k->v = NULL;
    k->cap = 0;
}

static reg_key_entry *keyring_find(const reg_keyring *k, const char *name)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->v[i].name, name)) return &k->v[i];
    return NULL;
}

int reg_keyring_apply(reg_keyring *k, const keel_json *image)
{
    const char *table = keel_json_str(keel_json_get(image, "table"));
    if (!table || strcmp(table, "identities")) return KEEL_OK;
    const char *name = keel_json_str(keel_json_at(keel_json_get(image, "key"), 0));
    if (!name) return KEEL_OK;
    const keel_json *row = keel_json_get(image, "row");
    const char *hex = keel_json_str(keel_json_get(row, "public_key"));
    reg_key_entry *e = keyring_find(k, name);
    if (!e) {
        if (!hex) return KEEL_OK;
        if (k->n == k->cap) {
            size_t cap = k->cap ? 2 * k->cap : 8;
            reg_key_entry *v = keel_realloc(k->v, cap * sizeof *v);
            if (!v) return KEEL_ENOMEM;
            k->v = v;
            k->cap = cap;
        }
        e = &k->v[k->n];
        if (!(e->name = keel_strdup(name))) return KEEL_ENOMEM;
        k->n++;
    }
    e->keyed = hex != NULL;
    e->valid = hex && hex_to(hex, e->pk, 32);
    return KEEL_OK;
}

void reg_identity_check(const reg_keyring *k, keel_registry_verify_result *res, int64_t seq,
                        const char *prev, const char *actor, const char *action, const char *object,
                        const char *details, bool changes_state)
{
    const reg_key_entry *e = keyring_find(k, actor);
    if (!e || !e->keyed) return; /* a claimed name: nothing to check (verify says so) */
    size_t n = strlen(details);
    const char *sig = n > SIGNATURE_TAIL ? details + n - SIGNATURE_TAIL : NULL;
    const char *why = NULL;
    if (!sig || strncmp(sig, SIGNATURE_MEMBER, sizeof SIGNATURE_MEMBER - 1)) {
        if (!changes_state) return; /* a refusal or a read: recorded, not a decision */
        why = "carries no signature";
    } else if (!e->valid) {
        why = "cannot be checked: the identity's recorded public key is damaged";
    } else {
        unsigned char s[64];
        /* The details as signed: without the member, its comma and the closing brace. */
        size_t core = (size_t)(sig - details);
        if (core > 1 && details[core - 1] == ',') core--;
        keel_buf m, c;
        keel_buf_init(&m);
        keel_buf_init(&c);
        bool ok =
            keel_hex_decode(sig + sizeof SIGNATURE_MEMBER - 1, 128, s, 64) &&
            keel_buf_append(&c, details, core) == KEEL_OK && keel_buf_putc(&c, '}') == KEEL_OK &&
            signed_message(&m, prev, actor, action, object, c.data, c.len) == KEEL_OK &&
            crypto_sign_ed25519_verify_detached(s, (const unsigned char *)m.data, m.len, e->pk) ==
                0;
        keel_buf_free(&m);
        keel_buf_free(&c);
        if (ok) {
            res->signed_events++;
            return;
        }
        why = "has a signature that does not verify with the identity's key";
    }
    if (res->signature_failures++ == 0)
        snprintf(res->signature_reason, sizeof res->signature_reason,
                 "event %lld (%.40s on %.60s by %.40s, who is bound to a key) %s", (long long)seq,
                 action, object, actor, why);
}
