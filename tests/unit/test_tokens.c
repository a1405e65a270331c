/*
 * Tests of the registry's bearer tokens (src/registry/tokens.c): what create returns and
 * keeps (the hash, never the token), list, revoke by id and by name, the live set the server
 * loads (revoked and expired tokens left out), the roles a call needs, refusals of bad
 * arguments, expiry parsing, and an old schema; then the server's side (src/serve/auth.c):
 * the header check, what a token allows, the open health paths. Over HTTP with curl:
 * tests/e2e/serve_tokens.sh.
 */
#include "harness.h"

#include "registry/registry.h"
#include "serve/auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static char *home(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/home", test_tmpdir());
    return p;
}

static keel_registry *open_as(const char *actor)
{
    keel_registry *r = NULL;
    keel_error e = {0};
    int rc = keel_registry_open(home(), actor, "test-host", &r, &e);
    if (rc != KEEL_OK) harness_fail(__FILE__, __LINE__, "open as %s: %s", actor, e.msg);
    return r;
}

static int64_t count(keel_registry *r, const char *sql, const char *arg)
{
    int64_t n = -1;
    keel_store_int(keel_registry_store(r), &n, sql, arg ? "s" : NULL, arg);
    return n;
}

/* The SHA-256 hex of text. */
static void sha_of(const char *text, char hex[65])
{
    keel_sha256 h;
    unsigned char d[32];
    keel_sha256_init(&h);
    keel_sha256_update(&h, text, strlen(text));
    keel_sha256_final(&h, d);
    keel_sha256_hex(d, hex);
}

/* Whether digest is among the n live tokens. */
static bool is_live(const keel_live_token *v, size_t n, const char *token)
{
    keel_sha256 h;
    unsigned char d[32];
    keel_sha256_init(&h);
    keel_sha256_update(&h, token, strlen(token));
    keel_sha256_final(&h, d);
    for (size_t i = 0; i < n; i++)
        if (!memcmp(v[i].sha256, d, 32)) return true;
    return false;
}

TEST(token_roles_and_expiry_parse)
{
    CHECK_EQ_INT(keel_token_role_parse("read"), KEEL_TOKEN_READ);
    CHECK_EQ_INT(keel_token_role_parse("invoke"), KEEL_TOKEN_INVOKE);
    CHECK_EQ_INT(keel_token_role_parse("explain"), KEEL_TOKEN_EXPLAIN);
    CHECK_EQ_INT(keel_token_role_parse("admin"), 0);
    CHECK_EQ_INT(keel_token_role_parse(NULL), 0);
    CHECK_STR(keel_token_role_name(KEEL_TOKEN_INVOKE), "invoke");
    CHECK_STR(keel_token_role_name(9), "?");

    int64_t now = 1700000000000000, at = 0;
    CHECK(keel_token_expiry_parse("30d", now, &at));
    CHECK_EQ_INT(at, now + 30LL * 86400 * 1000000);
    CHECK(keel_token_expiry_parse("12h", now, &at));
    CHECK_EQ_INT(at, now + 12LL * 3600 * 1000000);
    CHECK(keel_token_expiry_parse("90m", now, &at));
    CHECK_EQ_INT(at, now + 90LL * 60 * 1000000);
    CHECK(keel_token_expiry_parse("5s", now, &at));
    CHECK_EQ_INT(at, now + 5000000);
    CHECK(keel_token_expiry_parse("2031-01-02", now, &at));
    CHECK(keel_token_expiry_parse("2031-01-02T03:04:05Z", now, &at));
    at = 7;
    CHECK(!keel_token_expiry_parse("2001-01-01", now, &at)); /* in the past */
    CHECK(!keel_token_expiry_parse("0d", now, &at));         /* now is not after now */
    CHECK(!keel_token_expiry_parse("-3d", now, &at));
    CHECK(!keel_token_expiry_parse("3w", now, &at));
    CHECK(!keel_token_expiry_parse("3dd", now, &at));
    CHECK(!keel_token_expiry_parse("d", now, &at));
    CHECK(!keel_token_expiry_parse("99999999999999999d", now, &at));
    CHECK_EQ_INT(at, 7); /* left alone on failure */
}

TEST(token_create_keeps_only_the_hash)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    char token[KEEL_TOKEN_SIZE], sha[65];
    int64_t id = 0;
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_token_create(r, "churn-app", "churn", "invoke", 0, token, &id, &b),
                 KEEL_OK);
    CHECK(id > 0);
    CHECK_EQ_INT(strlen(token), KEEL_TOKEN_SIZE - 1);
    CHECK(!strncmp(token, "keel_", 5));
    /* the answer to the creator shows the token once */
    REQUIRE(b.data);
    CHECK(strstr(b.data, token) != NULL);
    CHECK(strstr(b.data, "\"name\":\"churn-app\"") != NULL);
    CHECK(strstr(b.data, "\"expires_at\":null") != NULL);
    sha_of(token, sha);
    /* the store has its hash and no trace of it; the audit trail neither */
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM tokens WHERE sha256 = ?", sha), 1);
    CHECK_EQ_INT(
        count(r, "SELECT count(*) FROM tokens WHERE instr(sha256 || name || model, ?)", token + 5),
        0);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE instr(details, ?)", token + 5),
                 0);
    char tail[20];
    snprintf(tail, sizeof tail, "%.16s", sha + 8); /* past the 8 digits the trail may show */
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE instr(details, ?)", tail), 0);
    CHECK_EQ_INT(count(r,
                       "SELECT count(*) FROM audit_events WHERE action = 'token.create' AND "
                       "object = 'token:1' AND instr(details, '\"role\":\"invoke\"')",
                       NULL),
                 1);

    /* two tokens differ; the default name is token-<id> */
    char other[KEEL_TOKEN_SIZE];
    int64_t id2 = 0;
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "*", "read", 0, other, &id2, NULL), KEEL_OK);
    CHECK(strcmp(token, other) != 0);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM tokens WHERE name = ?", "token-2"), 1);
    keel_registry_close(r);
    keel_buf_free(&b);
}

TEST(token_list_revoke_and_live)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    char a[KEEL_TOKEN_SIZE], b[KEEL_TOKEN_SIZE], c[KEEL_TOKEN_SIZE];
    int64_t ia = 0, ib = 0, ic = 0;
    int64_t soon = keel_wall_micros() + 2000000;
    CHECK_EQ_INT(keel_registry_token_create(r, "a", "churn", "invoke", 0, a, &ia, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_create(r, "b", "churn", "explain", 0, b, &ib, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_create(r, "c", "*", "read", soon, c, &ic, NULL), KEEL_OK);

    keel_live_token *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(keel_registry_token_live(r, keel_wall_micros(), &v, &n), KEEL_OK);
    CHECK_EQ_INT(n, 3);
    CHECK(is_live(v, n, a) && is_live(v, n, b) && is_live(v, n, c));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].model, "*")) {
            CHECK_EQ_INT(v[i].role, KEEL_TOKEN_READ);
            CHECK_EQ_INT(v[i].expires_at, soon);
        }
    keel_free(v);

    /* a name is unique among tokens not revoked */
    char d[KEEL_TOKEN_SIZE];
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_token_create(r, "a", "churn", "read", 0, d, &id, NULL), KEEL_ESTATE);
    CHECK(strstr(keel_registry_errmsg(r), "exists already") != NULL);
    CHECK_EQ_INT(d[0], 0);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM tokens", NULL), 3);

    /* revoke by name and by id */
    keel_buf out;
    keel_buf_init(&out);
    CHECK_EQ_INT(keel_registry_token_revoke(r, "a", &out), KEEL_OK);
    REQUIRE(out.data);
    CHECK(strstr(out.data, "\"revoked_at\":\"") != NULL);
    char ref[24];
    snprintf(ref, sizeof ref, "%lld", (long long)ib);
    CHECK_EQ_INT(keel_registry_token_revoke(r, ref, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_revoke(r, ref, NULL), KEEL_ENOENT); /* once */
    CHECK_EQ_INT(keel_registry_token_revoke(r, "nobody", NULL), KEEL_ENOENT);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'token.revoke'", NULL),
                 2);
    /* the name of a revoked token may be used again */
    CHECK_EQ_INT(keel_registry_token_create(r, "a", "churn", "read", 0, d, &id, NULL), KEEL_OK);

    /* live: revoked ones left out now, the expired one once its time has passed */
    CHECK_EQ_INT(keel_registry_token_live(r, keel_wall_micros(), &v, &n), KEEL_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(!is_live(v, n, a) && !is_live(v, n, b) && is_live(v, n, c) && is_live(v, n, d));
    keel_free(v);
    CHECK_EQ_INT(keel_registry_token_live(r, soon, &v, &n), KEEL_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(is_live(v, n, d));
    keel_free(v);

    /* list: every token, newest first, with its state, never the token or its hash */
    keel_buf_free(&out);
    keel_buf_init(&out);
    CHECK_EQ_INT(keel_registry_token_list(r, &out), KEEL_OK);
    REQUIRE(out.data);
    CHECK(!strncmp(out.data, "[{\"id\":4,\"name\":\"a\"", 19));
    CHECK(strstr(out.data, "\"status\":\"revoked\"") != NULL);
    CHECK(strstr(out.data, "\"revoked_by\":\"alice\"") != NULL);
    CHECK(strstr(out.data, "\"status\":\"live\"") != NULL);
    CHECK(strstr(out.data, "sha256") == NULL);
    CHECK(strstr(out.data, a + 5) == NULL && strstr(out.data, c + 5) == NULL);
    keel_buf_free(&out);
    keel_registry_close(r);
}

TEST(token_refusals)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    char t[KEEL_TOKEN_SIZE];
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "no/such", "invoke", 0, t, &id, NULL),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, NULL, "invoke", 0, t, &id, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "admin", 0, t, &id, NULL),
                 KEEL_EINVAL);
    CHECK(strstr(keel_registry_errmsg(r), "read, invoke or explain") != NULL);
    CHECK_EQ_INT(keel_registry_token_create(r, "42", "churn", "read", 0, t, &id, NULL),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_token_create(r, "-x", "churn", "read", 0, t, &id, NULL),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 1, t, &id, NULL),
                 KEEL_EINVAL); /* expired before it was made */
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM tokens", NULL), 0);
    CHECK_EQ_INT(keel_registry_token_create(r, "x", "churn", "read", 0, t, &id, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "vic", KEEL_ACCESS_VIEWER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "dev", KEEL_ACCESS_DEVELOPER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "ops", KEEL_ACCESS_OPERATOR), KEEL_OK);
    keel_registry_close(r);

    /* a viewer lists and reads the live set, but creates and revokes nothing (audited) */
    r = open_as("vic");
    REQUIRE(r);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_token_list(r, &b), KEEL_OK);
    keel_live_token *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(keel_registry_token_live(r, keel_wall_micros(), &v, &n), KEEL_OK);
    CHECK_EQ_INT(n, 1);
    keel_free(v);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, NULL), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(r), "operator") != NULL);
    CHECK_EQ_INT(t[0], 0);
    CHECK_EQ_INT(keel_registry_token_revoke(r, "x", NULL), KEEL_EPERM);
    CHECK_EQ_INT(count(r,
                       "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND "
                       "actor = 'vic'",
                       NULL),
                 2);
    keel_registry_close(r);
    r = open_as("dev");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, NULL), KEEL_EPERM);
    keel_registry_close(r);
    /* an operator may; somebody unknown may not even read */
    r = open_as("ops");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_revoke(r, "x", NULL), KEEL_OK);
    keel_registry_close(r);
    r = open_as("mallory");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_token_live(r, keel_wall_micros(), &v, &n), KEEL_EPERM);
    CHECK(v == NULL && n == 0);
    keel_buf_free(&b);
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_token_list(r, &b), KEEL_EPERM);
    keel_buf_free(&b);
    keel_registry_close(r);
}

TEST(token_old_schema_says_migrate)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_registry_close(r);
    char p[1100];
    snprintf(p, sizeof p, "%s/registry.db", home());
    keel_store *s = NULL;
    keel_error e = {0};
    REQUIRE(keel_store_open(&keel_store_sqlite, p, &s, &e) == KEEL_OK);
    REQUIRE(keel_store_exec(s, "DROP TABLE tokens; ALTER TABLE identities DROP COLUMN public_key; "
                               "DELETE FROM keel_schema_version WHERE version >= 3") == KEEL_OK);
    keel_store_close(s);

    r = open_as("alice");
    REQUIRE(r);
    char t[KEEL_TOKEN_SIZE];
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, NULL),
                 KEEL_ESTATE);
    CHECK(strstr(keel_registry_errmsg(r), "keel registry migrate") != NULL);
    CHECK_EQ_INT(keel_registry_token_revoke(r, "1", NULL), KEEL_ESTATE);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_token_list(r, &b), KEEL_ESTATE);
    CHECK(strstr(keel_registry_errmsg(r), "keel registry migrate") != NULL);
    keel_buf_free(&b);
    keel_live_token *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(keel_registry_token_live(r, keel_wall_micros(), &v, &n), KEEL_ESTATE);
    CHECK(strstr(keel_registry_errmsg(r), "schema version 2") != NULL);
    /* after the migration tokens work */
    int from = 0, to = 0;
    CHECK_EQ_INT(keel_registry_migrate(r, false, &from, &to), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, NULL), KEEL_OK);
    keel_registry_close(r);
}

TEST(token_out_of_memory)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    char t[KEEL_TOKEN_SIZE];
    int64_t id = 0;
    /* each allocation in turn: a failure leaves no token behind, and nothing leaks */
    for (long k = 1; k < 400; k++) {
        keel_buf b;
        keel_buf_init(&b);
        int64_t before = count(r, "SELECT count(*) FROM tokens", NULL);
        long live = test_alloc_live();
        test_fail_alloc_after(k);
        int rc = keel_registry_token_create(r, NULL, "churn", "read", 0, t, &id, &b);
        test_fail_alloc_after(0);
        bool made = count(r, "SELECT count(*) FROM tokens", NULL) > before;
        /* made and failed: committed, only the checkpoint's publication failed; then the
         * creator is shown the token all the same */
        CHECK(made ? t[0] == 'k' && id > 0 && b.data && strstr(b.data, t)
                   : t[0] == 0 && id == 0 && !b.len);
        keel_buf_free(&b);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc == KEEL_OK) break;
        CHECK(rc == KEEL_ENOMEM || rc == KEEL_EIO);
    }
    keel_live_token *v = NULL;
    size_t n = 0;
    test_fail_alloc_after(1);
    int rc = keel_registry_token_live(r, keel_wall_micros(), &v, &n);
    test_fail_alloc_after(0);
    CHECK(rc == KEEL_ENOMEM || rc == KEEL_EIO);
    CHECK(v == NULL && n == 0);
    keel_registry_close(r);
}

/* ---- the server's side (src/serve/auth.c) ---- */

static keel_live_token live_of(const char *token, const char *model, int role, int64_t expires)
{
    keel_live_token t;
    memset(&t, 0, sizeof t);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, token, strlen(token));
    keel_sha256_final(&h, t.sha256);
    snprintf(t.model, sizeof t.model, "%s", model);
    t.role = role;
    t.expires_at = expires;
    return t;
}

TEST(token_serve_check_and_allows)
{
    serve_auth *a = serve_auth_new();
    REQUIRE(a);
    char good[80], other[80], msg[300];
    snprintf(good, sizeof good, "keel_%064d", 1);
    snprintf(other, sizeof other, "keel_%064d", 2);
    serve_caller who;
    char header[120];
    snprintf(header, sizeof header, "Bearer %s", good);
    /* an empty set refuses everybody */
    CHECK_EQ_INT(serve_auth_check(a, header, 10, &who, msg, sizeof msg), 401);
    /* many tokens, so that the search has something to search */
    keel_live_token set[200];
    for (int i = 0; i < 198; i++) {
        char t[80];
        snprintf(t, sizeof t, "keel_%064d", 1000 + i);
        set[i] = live_of(t, "m", KEEL_TOKEN_READ, 0);
    }
    set[198] = live_of(good, "churn", KEEL_TOKEN_INVOKE, 0);
    set[199] = live_of(other, "*", KEEL_TOKEN_READ, 100);
    CHECK_EQ_INT(serve_auth_set(a, set, 200), KEEL_OK);
    CHECK_EQ_INT(serve_auth_count(a), 200);

    CHECK_EQ_INT(serve_auth_check(a, header, 10, &who, msg, sizeof msg), 0);
    CHECK_STR(who.model, "churn");
    CHECK_EQ_INT(who.role, KEEL_TOKEN_INVOKE);
    snprintf(header, sizeof header, "bEARER   %s  ", good);
    CHECK_EQ_INT(serve_auth_check(a, header, 10, &who, msg, sizeof msg), 0);
    snprintf(header, sizeof header, "Bearer %s", other);
    CHECK_EQ_INT(serve_auth_check(a, header, 99, &who, msg, sizeof msg), 0);
    CHECK_EQ_INT(serve_auth_check(a, header, 100, &who, msg, sizeof msg), 401); /* expired */
    CHECK(strstr(msg, "not valid") != NULL);
    /* missing, malformed, unknown */
    CHECK_EQ_INT(serve_auth_check(a, NULL, 10, &who, msg, sizeof msg), 401);
    CHECK(strstr(msg, "needs a bearer token") != NULL);
    const char *bad[] = {
        "",
        "Bearer",
        "Bearer ",
        "Bear",
        "Basic abc",
        "Bearer keel_",
        "Bearerkeel_x",
        "Bearer KEEL_0000000000000000000000000000000000000000000000000000000000000001"};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(serve_auth_check(a, bad[i], 10, &who, msg, sizeof msg), 401);
        CHECK(strstr(msg, "malformed") != NULL);
    }
    snprintf(header, sizeof header, "Bearer keel_%064d", 3);
    CHECK_EQ_INT(serve_auth_check(a, header, 10, &who, msg, sizeof msg), 401);
    CHECK(strstr(msg, "not valid") != NULL);

    /* what a caller may do */
    serve_caller inv = {"churn", KEEL_TOKEN_INVOKE}, all = {"*", KEEL_TOKEN_READ};
    CHECK_EQ_INT(serve_auth_allows(&inv, "churn", KEEL_TOKEN_READ, msg, sizeof msg), 0);
    CHECK_EQ_INT(serve_auth_allows(&inv, "churn", KEEL_TOKEN_INVOKE, msg, sizeof msg), 0);
    CHECK_EQ_INT(serve_auth_allows(&inv, "churn", KEEL_TOKEN_EXPLAIN, msg, sizeof msg), 403);
    CHECK(strstr(msg, "needs the role explain") != NULL);
    CHECK_EQ_INT(serve_auth_allows(&inv, "other", KEEL_TOKEN_READ, msg, sizeof msg), 403);
    CHECK(strstr(msg, "for model churn, not other") != NULL);
    CHECK_EQ_INT(serve_auth_allows(&inv, NULL, KEEL_TOKEN_READ, msg, sizeof msg), 403);
    CHECK_EQ_INT(serve_auth_allows(&all, NULL, KEEL_TOKEN_READ, msg, sizeof msg), 0);
    CHECK_EQ_INT(serve_auth_allows(&all, "any", KEEL_TOKEN_READ, msg, sizeof msg), 0);
    CHECK_EQ_INT(serve_auth_allows(&all, "any", KEEL_TOKEN_INVOKE, msg, sizeof msg), 403);

    /* a new set replaces the old: the revoked token is gone */
    CHECK_EQ_INT(serve_auth_set(a, set + 199, 1), KEEL_OK);
    snprintf(header, sizeof header, "Bearer %s", good);
    CHECK_EQ_INT(serve_auth_check(a, header, 10, &who, msg, sizeof msg), 401);
    serve_auth_free(a);
    serve_auth_free(NULL);
}

TEST(token_serve_open_paths)
{
    const char *open[] = {
        "/v2/health/live", "/v2/health/ready",       "/health",
        "/ping",           "/v2/models/churn/ready", "/v2/models/churn/versions/3/ready",
        "/v1/models/churn"};
    const char *closed[] = {"/v2",
                            "/metrics",
                            "/v2/models/churn",
                            "/v2/models/ready",
                            "/v2/models//ready",
                            "/v2/models/churn/infer",
                            "/v2/models/churn/versions//ready",
                            "/v2/models/a/b/ready",
                            "/v1/models/churn:predict",
                            "/v1/models/",
                            "/v1/models/a/b",
                            "/invocations",
                            "/v2/health/live/x",
                            "/pings"};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(open); i++)
        if (!serve_auth_open_path(open[i])) harness_fail(__FILE__, __LINE__, "%s: closed", open[i]);
    for (size_t i = 0; i < KEEL_ARRAY_LEN(closed); i++)
        if (serve_auth_open_path(closed[i]))
            harness_fail(__FILE__, __LINE__, "%s: open", closed[i]);
}

typedef struct checker {
    serve_auth *a;
    const char *header;
    atomic_bool *stop;
    atomic_long ok, refused;
} checker;

static void *check_loop(void *arg)
{
    checker *c = arg;
    serve_caller who;
    char msg[300];
    while (!atomic_load(c->stop)) {
        if (serve_auth_check(c->a, c->header, 10, &who, msg, sizeof msg) == 0 &&
            !strcmp(who.model, "churn"))
            atomic_fetch_add(&c->ok, 1);
        else
            atomic_fetch_add(&c->refused, 1);
    }
    return NULL;
}

TEST(token_serve_swaps_under_checks)
{
    /* Checks on two threads while the set is replaced a thousand times, alternately with and
     * without their token: every check sees one whole set or the other, never freed memory
     * (the address sanitizer run would see that), and both answers occur. */
    serve_auth *a = serve_auth_new();
    REQUIRE(a);
    char good[80], header[100];
    snprintf(good, sizeof good, "keel_%064d", 5);
    snprintf(header, sizeof header, "Bearer %s", good);
    keel_live_token with[3] = {live_of("keel_x", "m", KEEL_TOKEN_READ, 0),
                               live_of(good, "churn", KEEL_TOKEN_INVOKE, 0),
                               live_of("keel_y", "m", KEEL_TOKEN_READ, 0)};
    atomic_bool stop = false;
    checker c[2] = {{.a = a, .header = header, .stop = &stop},
                    {.a = a, .header = header, .stop = &stop}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, check_loop, &c[i]) == 0);
    /* a thousand swaps, and on until both answers were seen (threads start late) or 10 s */
    double until = keel_now_seconds() + 10;
    for (int k = 0; k < 1000 || ((!atomic_load(&c[0].ok) || !atomic_load(&c[0].refused)) &&
                                 keel_now_seconds() < until);
         k++)
        CHECK_EQ_INT(serve_auth_set(a, k % 2 ? with : with + 2, k % 2 ? 3 : 1), KEEL_OK);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&c[0].ok) + atomic_load(&c[1].ok) > 0);
    CHECK(atomic_load(&c[0].refused) + atomic_load(&c[1].refused) > 0);
    serve_auth_free(a);
}

TEST(token_rows_are_in_the_chains_state)
{
    /* Create and revoke record the token's row for the chain, so that a token un-revoked (or
     * made) behind keel's back shows in verification; the image keeps the hash only as a
     * digest of it. */
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    char t[KEEL_TOKEN_SIZE], sha[65];
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_token_create(r, "a", "churn", "invoke", 0, t, &id, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_token_revoke(r, "a", NULL), KEEL_OK);
    sha_of(t, sha);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE instr(details, ?)", sha), 0);
    keel_registry_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    CHECK_EQ_INT(res.state_differences, 0);
    CHECK_EQ_INT(
        keel_store_run(keel_registry_store(r), "UPDATE tokens SET revoked_at = NULL", NULL),
        KEEL_OK);
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(!res.ok);
    CHECK_EQ_INT(res.state_differences, 1);
    CHECK(strstr(res.state_shown[0], "tokens") != NULL);
    keel_registry_close(r);
}
