/*
 * auth.c — the bearer tokens keel serve accepts with --require-token.
 *
 * The set is a sorted array of the live tokens' SHA-256 digests, built by the watcher thread
 * from the registry (keel_registry_token_live) at start and at every poll, and swapped in
 * whole. A request hashes the token it presents and searches the array by the digest's
 * first 8 bytes; only a candidate with the same prefix is
 * compared, all 32 bytes, with sodium_memcmp, whose time does not depend on where the bytes
 * differ. The search itself compares prefixes of the digest of what the client sent, which
 * tells it nothing about any token it does not have: finding a token from its digest's
 * prefix means guessing 256 random bits. So the secret never meets a comparison that leaks
 * through timing, and the registry never held it.
 *
 * Readers take no lock, as the models in server.c: a check counts itself in its thread's
 * slot, reads the current array, and uncounts itself; the watcher, after swapping in a new
 * array, waits until it has seen every slot at zero before freeing the old one. Each slot's
 * counter has its own cache line, so requests on different cores never write a shared one.
 *
 * The hash is GnuTLS's (linked already for HTTPS), which uses the CPU's SHA extensions where
 * it has them: 0.1 µs for a token where libsodium's portable SHA-256 (keel_sha256) takes 0.45
 * µs, against some 3 µs of keel's own work for a single-row prediction (bench/serve_path.c,
 * step "token"). keel_sha256 remains the fallback should GnuTLS refuse.
 *
 * Expiry is checked at each request against the clock, so a token stops working at its time
 * exactly; a revocation reaches the server at its next poll (--poll, 2 s by default).
 */
#include "serve/auth.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUTH_SLOTS 64

typedef struct entry {
    uint64_t key; /* the digest's first 8 bytes, big-endian: the sort key */
    keel_live_token t;
} entry;

typedef struct table {
    size_t n;
    entry e[]; /* sorted by key */
} table;

struct serve_auth {
    _Atomic(table *) current;
    struct {
        atomic_int n;
        char pad[64 - sizeof(atomic_int)];
    } readers[AUTH_SLOTS];
};

static uint64_t key_of(const unsigned char d[32])
{
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | d[i];
    return k;
}

static int by_key(const void *a, const void *b)
{
    uint64_t x = ((const entry *)a)->key, y = ((const entry *)b)->key;
    return x < y ? -1 : x > y;
}

static table *table_new(const keel_live_token *tokens, size_t n)
{
    table *t = keel_malloc(sizeof *t + n * sizeof t->e[0]);
    if (!t) return NULL;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        t->e[i].t = tokens[i];
        t->e[i].key = key_of(tokens[i].sha256);
    }
    qsort(t->e, n, sizeof t->e[0], by_key);
    return t;
}

serve_auth *serve_auth_new(void)
{
    serve_auth *a = keel_calloc(1, sizeof *a);
    table *t = table_new(NULL, 0);
    if (!a || !t) {
        keel_free(a);
        keel_free(t);
        return NULL;
    }
    atomic_store(&a->current, t);
    return a;
}

void serve_auth_free(serve_auth *a)
{
    if (!a) return;
    keel_free(atomic_load(&a->current));
    keel_free(a);
}

int serve_auth_set(serve_auth *a, const keel_live_token *tokens, size_t n)
{
    table *t = table_new(tokens, n);
    if (!t) return KEEL_ENOMEM;
    table *old = atomic_exchange(&a->current, t);
    /* A check holds the array for a binary search: each slot is soon seen empty. */
    for (size_t i = 0; i < AUTH_SLOTS; i++)
        while (atomic_load(&a->readers[i].n) != 0)
            usleep(100);
    keel_free(old);
    return KEEL_OK;
}

size_t serve_auth_count(serve_auth *a)
{
    size_t slot = keel_thread_slot() % AUTH_SLOTS;
    atomic_fetch_add(&a->readers[slot].n, 1);
    size_t n = atomic_load(&a->current)->n;
    atomic_fetch_sub(&a->readers[slot].n, 1);
    return n;
}

bool serve_auth_open_path(const char *url)
{
    if (!strcmp(url, "/v2/health/live") || !strcmp(url, "/v2/health/ready") ||
        !strcmp(url, "/health") || !strcmp(url, "/ping"))
        return true;
    /* KServe v1's model status, /v1/models/M (without a verb), is its readiness check */
    if (!strncmp(url, "/v1/models/", 11)) return url[11] && !strpbrk(url + 11, ":/");
    /* /v2/models/M/ready or /v2/models/M/versions/V/ready: M at least one character */
    size_t n = strlen(url);
    if (strncmp(url, "/v2/models/", 11) || n < 11 + 1 + 6 || strcmp(url + n - 6, "/ready"))
        return false;
    const char *m = url + 11, *slash = strchr(m, '/');
    if (slash == m) return false;
    if (slash == url + n - 6) return true; /* /v2/models/M/ready */
    if (strncmp(slash, "/versions/", 10)) return false;
    const char *v = slash + 10, *end = strchr(v, '/');
    return end != v && end == url + n - 6;
}

/* Whether s[0..n) are lowercase hex digits: a table and no branch per character, since a
 * loop of comparisons was a fifth of a check's time. */
static bool is_lower_hex(const char *s, size_t n)
{
    static const unsigned char hex[256] = {
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
        ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1};
    unsigned all = 1;
    for (size_t i = 0; i < n; i++)
        all &= hex[(unsigned char)s[i]];
    return all;
}

/* "Bearer", in any case (RFC 9110 says the scheme is case-insensitive), without the locale. */
static bool is_bearer(const char *s)
{
    static const char word[] = "bearer";
    for (size_t i = 0; i < 6; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (c != word[i]) return false;
    }
    return s[6] == ' ';
}

int serve_auth_check(serve_auth *a, const char *header, int64_t now, serve_caller *who, char *msg,
                     size_t cap)
{
    if (!header) {
        snprintf(msg, cap,
                 "this server needs a bearer token: send \"Authorization: Bearer "
                 "TOKEN\" with a token from keel token create");
        return 401;
    }
    const char *tok = header;
    size_t n = 0;
    if (is_bearer(header)) {
        tok = header + 7;
        while (*tok == ' ')
            tok++;
        n = strlen(tok);
        while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            n--;
    }
    size_t prefix = strlen(KEEL_TOKEN_PREFIX);
    if (n != KEEL_TOKEN_SIZE - 1 || strncmp(tok, KEEL_TOKEN_PREFIX, prefix) ||
        !is_lower_hex(tok + prefix, n - prefix)) {
        snprintf(msg, cap,
                 "malformed Authorization header: it must be \"Bearer %s\" and 64 "
                 "hex digits, a token from keel token create",
                 KEEL_TOKEN_PREFIX);
        return 401;
    }
    unsigned char d[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, tok, n, d) < 0) {
        keel_sha256 h;
        keel_sha256_init(&h);
        keel_sha256_update(&h, tok, n);
        keel_sha256_final(&h, d);
    }
    uint64_t key = key_of(d);
    bool found = false;
    size_t slot = keel_thread_slot() % AUTH_SLOTS;
    atomic_fetch_add(&a->readers[slot].n, 1);
    const table *t = atomic_load(&a->current);
    size_t lo = 0, hi = t->n; /* the first entry whose key is >= key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->e[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < t->n && t->e[i].key == key && !found; i++) {
        const keel_live_token *e = &t->e[i].t;
        if (sodium_memcmp(e->sha256, d, 32) == 0 && (!e->expires_at || e->expires_at > now)) {
            found = true;
            memcpy(who->model, e->model, sizeof who->model);
            who->role = e->role;
        }
    }
    atomic_fetch_sub(&a->readers[slot].n, 1);
    if (found) return 0;
    snprintf(msg, cap, "the bearer token is not valid (unknown, revoked or expired)");
    return 401;
}

int serve_auth_allows(const serve_caller *who, const char *model, int role, char *msg, size_t cap)
{
    bool every = !strcmp(who->model, "*");
    if (!model && !every) {
        snprintf(msg, cap,
                 "this endpoint needs a token for every model (*); this one is for "
                 "model %s",
                 who->model);
        return 403;
    }
    if (model && !every && strcmp(who->model, model)) {
        snprintf(msg, cap, "the token is for model %s, not %.100s", who->model, model);
        return 403;
    }
    if (who->role < role) {
        snprintf(msg, cap, "the token's role %s does not allow this: it needs the role %s",
                 keel_token_role_name(who->role), keel_token_role_name(role));
        return 403;
    }
    return 0;
}
