/*
 * Tests of the registry library (src/registry): roles, the first user becoming admin, the
 * write pattern (refusals audited, nothing half-done), model versions and their resolution,
 * the champion policy, lineage, locations, schema versions and their migration, the typed
 * reads, and out-of-memory paths. The CLI and tampering are covered
 * end to end in tests/e2e/registry.sh, crashes and concurrency in tests/e2e/registry_crash.sh.
 */
#include "harness.h"

#include "base/json.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

static const char *artifact(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/model.keel", test_tmpdir());
    FILE *f = fopen(p, "wb");
    fputs("pretend this is a model artifact", f);
    fclose(f);
    return p;
}

static int64_t count(keel_registry *r, const char *sql)
{
    int64_t n = -1;
    keel_store_int(keel_registry_store(r), &n, sql, NULL);
    return n;
}

TEST(registry_roles_parse_and_format)
{
    unsigned m = 0;
    CHECK_EQ_INT(keel_roles_parse("approver, viewer", &m), KEEL_OK);
    CHECK_EQ_INT(m, KEEL_ACCESS_APPROVER | KEEL_ACCESS_VIEWER);
    char buf[96];
    keel_roles_format(m, buf, sizeof buf);
    CHECK_STR(buf, "viewer,approver");
    CHECK_EQ_INT(keel_roles_parse("viewer,king", &m), KEEL_EINVAL);
    CHECK_EQ_INT(keel_roles_parse("", &m), KEEL_OK);
    CHECK_EQ_INT(m, 0);
    keel_roles_format(KEEL_ACCESS_ADMIN | KEEL_ACCESS_AUDITOR, buf, 8); /* too small: cut */
    CHECK(strlen(buf) < 8);
}

TEST(registry_first_user_is_admin_and_layout)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_roles(r), KEEL_ACCESS_ADMIN);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM identities"), 1);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'registry.create'"), 1);
    keel_registry_close(r);
    /* a second user of an existing registry is nobody until added */
    r = open_as("bob");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_roles(r), 0);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_model_list(r, &b), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(r), "keel user add bob") != NULL);
    keel_buf_free(&b);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND "
                          "actor = 'bob'"),
                 1);
    keel_registry_close(r);
    struct stat sb;
    char p[1100];
    snprintf(p, sizeof p, "%s/keys/audit.key", home());
    CHECK_EQ_INT(stat(p, &sb), 0);
    CHECK_EQ_INT(sb.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/audit-head.json", home());
    CHECK_EQ_INT(stat(p, &sb), 0);
}

TEST(registry_bad_actor_and_home)
{
    keel_registry *r = (keel_registry *)1;
    keel_error e = {0};
    CHECK_EQ_INT(keel_registry_open(home(), "", NULL, &r, &e), KEEL_EINVAL);
    CHECK(r == NULL);
    CHECK_EQ_INT(keel_registry_open(home(), "a,b", NULL, &r, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_open(home(), "tab\there", NULL, &r, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_open("/proc/keel-cannot-be-here", "a", NULL, &r, &e), KEEL_EIO);
    CHECK(strstr(e.msg, "/proc/keel-cannot-be-here") != NULL);
}

TEST(registry_versions_resolve_and_champion_policy)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_user_set(r, "bob", KEEL_ACCESS_APPROVER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "dora", KEEL_ACCESS_DEVELOPER), KEEL_OK);
    int64_t v = 0, v2 = 0;
    CHECK_EQ_INT(keel_registry_model_register(r, "bad name", artifact(), 0, NULL, NULL, &v),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, "binary", "{\"auc\":0.9}", &v),
                 KEEL_OK);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, NULL, NULL, &v2), KEEL_OK);
    CHECK_EQ_INT(v2, 2);
    char *model = NULL, *path = NULL;
    int64_t got = 0;
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m", &model, &got, &path), KEEL_OK);
    CHECK_EQ_INT(got, 2);
    CHECK_STR(model, "m");
    REQUIRE(path);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) fclose(f);
    keel_free(model);
    keel_free(path);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m:1", NULL, &got, NULL), KEEL_OK);
    CHECK_EQ_INT(got, 1);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m:9", NULL, &got, NULL), KEEL_ENOENT);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m@champion", NULL, &got, NULL), KEEL_ENOENT);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "nope", NULL, &got, NULL), KEEL_ENOENT);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m:x", NULL, &got, NULL), KEEL_EINVAL);

    /* champion without an approval: refused, nothing changed, the refusal audited */
    int64_t before = count(r, "SELECT count(*) FROM audit_events");
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 1, NULL), KEEL_EPERM);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM aliases"), 0);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events"), before + 1);
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 1, 1, NULL, &id), KEEL_EPERM); /* author */
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "challenger", 2, "try it"), KEEL_OK);
    keel_registry_close(r);

    r = open_as("bob");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 1, 1, "ok", &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 7, 1, "ok", &id), KEEL_ENOENT);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 1, NULL), KEEL_EPERM); /* role */
    keel_registry_close(r);

    r = open_as("dora"); /* a developer may not set champion even when approved */
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 1, NULL), KEEL_EPERM);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "staging", 1, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "eve", KEEL_ACCESS_ADMIN), KEEL_EPERM);
    keel_registry_close(r);

    r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 1, "live"), KEEL_OK);
    CHECK_EQ_INT(keel_registry_model_resolve(r, "m@champion", NULL, &got, NULL), KEEL_OK);
    CHECK_EQ_INT(got, 1);
    CHECK_EQ_INT(count(r, "SELECT approval_id FROM alias_history WHERE alias = 'champion'"), id);
    CHECK_EQ_INT(keel_registry_user_remove(r, "alice"), KEEL_ESTATE); /* the last admin */
    CHECK_EQ_INT(keel_registry_user_remove(r, "nobody"), KEEL_ENOENT);
    keel_registry_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    keel_registry_close(r);
}

TEST(registry_runs_datasets_and_lineage)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_dataset_info d = {.sha256 = "bad"};
    int64_t ds = 0, ds2 = 0, run = 0, v = 0;
    CHECK_EQ_INT(keel_registry_dataset_put(r, &d, &ds), KEEL_EINVAL);
    d = (keel_dataset_info){
        .sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .name = "train.csv",
        .source = "/data/train.csv",
        .n_rows = 10,
        .n_accepted = 9,
        .n_rejected = 1,
        .n_columns = 3,
    };
    CHECK_EQ_INT(keel_registry_dataset_put(r, &d, &ds), KEEL_OK);
    d.profile_json = "{\"columns\":[]}";
    CHECK_EQ_INT(keel_registry_dataset_put(r, &d, &ds2), KEEL_OK);
    CHECK_EQ_INT(ds2, ds); /* same content, same dataset; the profile filled in */
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM datasets WHERE profile_json IS NOT NULL"), 1);
    int64_t found = 0;
    CHECK_EQ_INT(keel_registry_dataset_find(r, "0123456789ab", &found), KEEL_OK);
    CHECK_EQ_INT(found, ds);
    CHECK_EQ_INT(keel_registry_dataset_find(r, "train.csv", &found), KEEL_OK);
    CHECK_EQ_INT(keel_registry_dataset_find(r, "ffffffffff", &found), KEEL_ENOENT);
    keel_run_info info = {.kind = "train", .params_json = "{\"lr\":0.001}", .seed = 42};
    CHECK_EQ_INT(keel_registry_run_start(r, &info, &run), KEEL_OK);
    CHECK_EQ_INT(keel_registry_run_input(r, run, ds, "train"), KEEL_OK);
    CHECK_EQ_INT(keel_registry_run_input(r, run, ds, "train"), KEEL_OK);      /* idempotent */
    CHECK_EQ_INT(keel_registry_run_input(r, run, 999, "train"), KEEL_ESTATE); /* no dataset */
    CHECK_EQ_INT(keel_registry_run_end(r, run, "done", NULL, NULL, NULL), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_run_end(r, run, "finished", "{\"auc\":0.8}", "log", NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_run_end(r, run, "finished", NULL, NULL, NULL), KEEL_ESTATE);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), run, "binary", NULL, &v),
                 KEEL_OK);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_lineage_model(r, "m:1", &b), KEEL_OK);
    CHECK(strstr(b.data, "\"from\":\"dataset:1\",\"to\":\"run:1\",\"relation\":\"train\"") != NULL);
    CHECK(strstr(b.data, "\"from\":\"run:1\",\"to\":\"model:m:1\",\"relation\":\"produced\"") !=
          NULL);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_lineage_dataset(r, ds, &b), KEEL_OK);
    CHECK(strstr(b.data, "\"id\":\"model:m:1\"") != NULL);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_lineage_dataset(r, 999, &b), KEEL_ENOENT);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_run_show(r, run, &b), KEEL_OK);
    CHECK(strstr(b.data, "\"status\":\"finished\"") != NULL);
    CHECK(strstr(b.data, "\"params\":{\"lr\":0.001}") != NULL);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_run_show(r, 999, &b), KEEL_ENOENT);
    keel_buf_free(&b);
    keel_registry_close(r);
}

/* Parses a registry answer; NULL (and a failed check) when it is not JSON. */
static keel_json_doc *parse(const keel_buf *b)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e = {0};
    if (!d || keel_json_parse(d, b->data ? b->data : "", b->len, &e) != KEEL_OK) {
        harness_fail(__FILE__, __LINE__, "not JSON (%s): %.200s", e.msg, b->data ? b->data : "");
        keel_json_doc_free(d);
        return NULL;
    }
    return d;
}

static const char *field(const keel_json *arr, size_t i, const char *key)
{
    return keel_json_str(keel_json_get(keel_json_at(arr, i), key));
}

/* The actions in an audit_events answer, joined by spaces (in order). */
static void actions(const keel_json *events, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < keel_json_len(events); i++) {
        const char *a = field(events, i, "action");
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? " " : "", a ? a : "?");
    }
}

/* A scene for the read functions: m:1 and m:2 by alice (admin); bob (approver) approved m:1
 * after alice's request; staging went 1 -> 2; champion is 1; m:1 is tagged and deployed.
 * carol is a viewer, dave an auditor. */
static void approvals_scene(void)
{
    keel_registry *r = open_as("alice");
    if (!r) return;
    int64_t v = 0, id = 0;
    CHECK_EQ_INT(keel_registry_user_set(r, "bob", KEEL_ACCESS_APPROVER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "carol", KEEL_ACCESS_VIEWER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_set(r, "dave", KEEL_ACCESS_AUDITOR), KEEL_OK);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, NULL, NULL, &v), KEEL_OK);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, NULL, NULL, &v), KEEL_OK);
    CHECK_EQ_INT(keel_registry_approval_request(r, "m", 1, "please", &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "staging", 1, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "staging", 2, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_tag_set(r, "model:m:1", "owner", "risk team"), KEEL_OK);
    keel_registry_close(r);
    r = open_as("bob");
    if (!r) return;
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 1, 1, "checked", &id), KEEL_OK);
    keel_registry_close(r);
    r = open_as("alice");
    if (!r) return;
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 1, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_deployment_record(r, "m", 1, "serve:local", "active", &id), KEEL_OK);
    keel_registry_close(r);
}

TEST(registry_approval_list)
{
    approvals_scene();
    keel_registry *r = open_as("carol"); /* a viewer may read approvals */
    REQUIRE(r);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_approval_list(r, "m", 1, &b), KEEL_OK);
    keel_json_doc *d = parse(&b);
    const keel_json *a = d ? keel_json_root(d) : NULL;
    CHECK_EQ_INT(keel_json_len(a), 1);
    CHECK_EQ_INT((int64_t)keel_json_num(keel_json_get(keel_json_at(a, 0), "id"), 0), 1);
    CHECK_STR(field(a, 0, "status"), "approved");
    CHECK_STR(field(a, 0, "requested_by"), "alice");
    CHECK_STR(field(a, 0, "reviewer"), "bob");
    CHECK_STR(field(a, 0, "comment"), "checked");
    const char *req = field(a, 0, "requested_at"), *dec = field(a, 0, "decided_at");
    CHECK(req && strlen(req) > 20 && req[4] == '-' && req[strlen(req) - 1] == 'Z');
    CHECK(dec && req && strcmp(dec, req) >= 0); /* decided after it was requested */
    keel_json_doc_free(d);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_approval_list(r, "m", 2, &b), KEEL_OK);
    CHECK_STR(b.data, "[]");
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_approval_list(r, "m", 9, &b), KEEL_ENOENT);
    CHECK(strstr(keel_registry_errmsg(r), "no version 9") != NULL);
    CHECK_EQ_INT(keel_registry_approval_list(r, "nope", 1, &b), KEEL_ENOENT);
    keel_registry_close(r);

    /* A pending request: no reviewer, no decision time yet. */
    r = open_as("alice");
    REQUIRE(r);
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_approval_request(r, "m", 2, NULL, &id), KEEL_OK);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_approval_list(r, "m", 2, &b), KEEL_OK);
    CHECK(strstr(b.data, "\"status\":\"pending\"") != NULL);
    CHECK(strstr(b.data, "\"reviewer\":null") != NULL);
    CHECK(strstr(b.data, "\"decided_at\":null") != NULL);
    keel_registry_close(r);

    /* Nobody may read nothing: refused and on the record. */
    r = open_as("zed");
    REQUIRE(r);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_approval_list(r, "m", 1, &b), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(r), "keel user add zed") != NULL);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND "
                          "actor = 'zed'"),
                 1);
    keel_buf_free(&b);
    keel_registry_close(r);
}

TEST(registry_audit_events)
{
    approvals_scene();
    keel_buf b;
    keel_buf_init(&b);

    /* A viewer is refused before anything is read; the refusal is audited. */
    keel_registry *r = open_as("carol");
    REQUIRE(r);
    int64_t before = count(r, "SELECT count(*) FROM audit_events");
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 1, 0, &b), KEEL_EPERM);
    CHECK_EQ_INT(b.len, 0);
    CHECK(strstr(keel_registry_errmsg(r), "auditor") != NULL);
    CHECK(strstr(keel_registry_errmsg(r), "m:1") != NULL);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events"), before + 1);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND "
                          "actor = 'carol' AND object = 'audit'"),
                 1);
    keel_registry_close(r);
    r = open_as("bob"); /* an approver is not an auditor either */
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 1, 0, &b), KEEL_EPERM);
    keel_registry_close(r);

    r = open_as("dave");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 1, 0, &b), KEEL_OK);
    keel_json_doc *d = parse(&b);
    const keel_json *ev = d ? keel_json_root(d) : NULL;
    char got[512];
    actions(ev, got, sizeof got);
    /* staging 1 -> 2 concerns version 1 (it left it); the refusal of bob above was on
     * "audit", not on the version */
    CHECK_STR(got, "model.version.register model.approval.request model.alias.set "
                   "model.alias.set tag.set model.approval.approve model.alias.set model.deploy");
    int64_t last = 0;
    for (size_t i = 0; i < keel_json_len(ev); i++) {
        const keel_json *e = keel_json_at(ev, i);
        int64_t seq = (int64_t)keel_json_num(keel_json_get(e, "seq"), 0);
        CHECK(seq > last); /* chain order */
        last = seq;
        const char *hash = field(ev, i, "hash"), *obj = field(ev, i, "object");
        REQUIRE(hash && obj);
        CHECK_EQ_INT(strlen(hash), 64);
        /* the hash is the chain's */
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM audit_events WHERE seq = %lld AND hash = '%s'",
                 (long long)seq, hash);
        CHECK_EQ_INT(count(r, sql), 1);
        CHECK(!strcmp(obj, "model:m:1") || !strncmp(obj, "alias:m@", 8));
        CHECK(keel_json_get(e, "details") && keel_json_get(e, "details")->type == KEEL_JSON_OBJECT);
        const char *t = field(ev, i, "time");
        CHECK(t && t[strlen(t) - 1] == 'Z');
    }
    keel_json_doc_free(d);

    keel_buf_reset(&b); /* version 2: its registration and staging moving to it, nothing else */
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 2, 0, &b), KEEL_OK);
    d = parse(&b);
    actions(d ? keel_json_root(d) : NULL, got, sizeof got);
    CHECK_STR(got, "model.version.register model.alias.set");
    keel_json_doc_free(d);

    keel_buf_reset(&b); /* a limit keeps the oldest */
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 1, 2, &b), KEEL_OK);
    d = parse(&b);
    actions(d ? keel_json_root(d) : NULL, got, sizeof got);
    CHECK_STR(got, "model.version.register model.approval.request");
    keel_json_doc_free(d);

    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 3, 0, &b), KEEL_ENOENT);
    keel_registry_close(r);

    r = open_as("alice"); /* admin has every role */
    REQUIRE(r);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 2, 0, &b), KEEL_OK);
    keel_registry_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    keel_registry_close(r);
    keel_buf_free(&b);
}

/* Out of memory in either read: a clean KEEL_ENOMEM, nothing leaked, then the same answer. */
TEST(registry_reads_out_of_memory)
{
    approvals_scene();
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    for (int which = 0; which < 2; which++) {
        keel_buf want;
        keel_buf_init(&want);
        int rc = which ? keel_registry_audit_events(r, "m", 1, 0, &want)
                       : keel_registry_approval_list(r, "m", 1, &want);
        CHECK_EQ_INT(rc, KEEL_OK);
        for (long k = 1; k < 200; k++) {
            keel_buf b;
            keel_buf_init(&b);
            long live = test_alloc_live();
            test_fail_alloc_after(k);
            rc = which ? keel_registry_audit_events(r, "m", 1, 0, &b)
                       : keel_registry_approval_list(r, "m", 1, &b);
            test_fail_alloc_after(0);
            if (rc == KEEL_OK) {
                CHECK_STR(b.data, want.data);
                keel_buf_free(&b);
                break;
            }
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            keel_buf_free(&b);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
        keel_buf_free(&want);
    }
    keel_registry_close(r);
}

/* Fails each allocation in turn while opening a new registry and registering a version: every
 * failure is a clean error (no crash, no leak), and the store stays consistent. */
TEST(registry_out_of_memory)
{
    const char *art = artifact();
    for (long k = 1; k < 400; k++) {
        long live = test_alloc_live();
        test_fail_alloc_after(k);
        keel_registry *r = NULL;
        keel_error e = {0};
        int rc = keel_registry_open(home(), "alice", "h", &r, &e);
        int64_t v = 0;
        if (rc == KEEL_OK) rc = keel_registry_model_register(r, "m", art, 0, NULL, NULL, &v);
        test_fail_alloc_after(0);
        keel_registry_close(r);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc == KEEL_OK) break;
        CHECK(rc == KEEL_ENOMEM || rc == KEEL_EIO);
    }
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_registry_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM identities"), 1);
    keel_registry_close(r);
}

/* ---- locations ----------------------------------------------------------------------- */

TEST(registry_location_schemes)
{
    CHECK(keel_store_backend("sqlite:///abs/registry.db") == &keel_store_sqlite);
    CHECK(keel_store_backend("SQLite:rel.db") == &keel_store_sqlite); /* schemes ignore case */
    CHECK(keel_store_backend("postgresql://keel@db/keel") == NULL);
    CHECK(keel_store_backend("/abs/registry.db") == NULL); /* no scheme */
    CHECK(keel_store_backend("sqlite") == NULL);
    CHECK(keel_store_backend("1sqlite:x") == NULL); /* a scheme starts with a letter */

    keel_store *s = (keel_store *)1;
    keel_error e = {0};
    CHECK_EQ_INT(keel_store_open_location("postgresql://keel:s3cret@db.example/keel", &s, &e),
                 KEEL_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(e.msg, "'postgresql'") != NULL);
    CHECK(strstr(e.msg, "sqlite") != NULL); /* the schemes built in are named */
    CHECK(strstr(e.msg, "s3cret") == NULL); /* the rest of the location is not repeated */
    CHECK(strstr(e.msg, "db.example") == NULL);
    CHECK_EQ_INT(keel_store_open_location("/abs/registry.db", &s, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "scheme") != NULL);
    CHECK_EQ_INT(keel_store_open_location("sqlite:", &s, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_store_open_location("sqlite://", &s, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "names no file") != NULL);

    char buf[128];
    keel_store_location_display("postgresql://keel:s3cret@db.example:5432/keel", buf, sizeof buf);
    CHECK_STR(buf, "postgresql://keel:***@db.example:5432/keel");
    keel_store_location_display("postgresql://keel@db.example/keel", buf, sizeof buf);
    CHECK_STR(buf, "postgresql://keel@db.example/keel");
    keel_store_location_display("sqlite:///tmp/a:b@c/registry.db", buf, sizeof buf);
    CHECK_STR(buf, "sqlite:///tmp/a:b@c/registry.db"); /* no authority: a path, left alone */
    keel_store_location_display("sqlite:///tmp/registry.db", buf, 8);
    CHECK_STR(buf, "sqlite:"); /* cut to fit, terminated */
}

static keel_registry *open_at(const char *location, const char *actor, unsigned flags,
                              keel_error *e)
{
    keel_registry_options o = {
        .home = home(), .location = location, .actor = actor, .host = "h", .flags = flags};
    keel_registry *r = NULL;
    int rc = keel_registry_open_with(&o, &r, e);
    return rc == KEEL_OK ? r : NULL;
}

TEST(registry_open_at_a_location)
{
    char location[1200], file[1100], p[1100];
    snprintf(file, sizeof file, "%s/elsewhere.db", test_tmpdir());
    snprintf(location, sizeof location, "sqlite://%s", file); /* sqlite:///tmp/... */
    keel_error e = {0};
    keel_registry *r = open_at(location, "alice", 0, &e);
    REQUIRE(r);
    CHECK_STR(keel_registry_location(r), location);
    int64_t v = 0;
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, NULL, NULL, &v), KEEL_OK);
    keel_registry_close(r);
    struct stat sb;
    CHECK_EQ_INT(stat(file, &sb), 0);
    snprintf(p, sizeof p, "%s/registry.db", home());
    CHECK(stat(p, &sb) != 0); /* not in KEEL_HOME */
    snprintf(p, sizeof p, "%s/keys/audit.key", home());
    CHECK_EQ_INT(stat(p, &sb), 0); /* keys and artifacts are */

    /* The same store again, and relative to the working directory. */
    r = open_at(location, "alice", 0, &e);
    REQUIRE(r);
    keel_model_version *mv = NULL;
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &mv), KEEL_OK);
    keel_model_version_free(mv);
    keel_registry_close(r);
    REQUIRE(chdir(test_tmpdir()) == 0);
    r = open_at("sqlite:elsewhere.db", "alice", 0, &e);
    REQUIRE(r);
    CHECK_STR(keel_registry_location(r), "sqlite:elsewhere.db");
    CHECK_EQ_INT(keel_registry_roles(r), KEEL_ACCESS_ADMIN); /* the same identities */
    keel_registry_close(r);

    /* A password is not kept in the location r reports. */
    r = open_at("postgresql://u:pw@h/db", "alice", 0, &e);
    CHECK(r == NULL);
    CHECK(strstr(e.msg, "pw") == NULL);
}

/* ---- schema versions ------------------------------------------------------------------ */

/* Undoes steps 3 and 2 in an open store, as a keel of schema version 1 left it. */
#define UNDO_TO_V1                                                                                 \
    "DROP TABLE tokens; ALTER TABLE identities DROP COLUMN public_key; "                           \
    "DROP INDEX model_versions_artifact; DELETE FROM keel_schema_version WHERE version >= 2"

/* Rewinds the registry in home() to schema version 1, as the previous keel left it. */
static int rewind_to_v1(void)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/registry.db", home());
    keel_store *s = NULL;
    keel_error e = {0};
    int rc = keel_store_open(&keel_store_sqlite, p, &s, &e);
    if (rc == KEEL_OK) rc = keel_store_exec(s, UNDO_TO_V1);
    keel_store_close(s);
    return rc;
}

TEST(registry_new_store_has_the_newest_schema)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    int v = 0, newest = 0;
    keel_registry_schema(r, &v, &newest);
    CHECK_EQ_INT(v, keel_store_schema_version());
    CHECK_EQ_INT(newest, keel_store_schema_version());
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM keel_schema_version"), keel_store_schema_version());
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                          "name = 'model_versions_artifact'"),
                 1);
    /* nothing to migrate, and nothing audited for it */
    int from = 0, to = 0;
    CHECK_EQ_INT(keel_registry_migrate(r, false, &from, &to), KEEL_OK);
    CHECK_EQ_INT(from, newest);
    CHECK_EQ_INT(to, newest);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'registry.migrate'"),
                 0);
    keel_registry_close(r);

    size_t n = 0;
    const keel_schema_step *steps = keel_store_schema_steps(&n);
    CHECK_EQ_INT(n, keel_store_schema_version());
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(steps[i].version, (int)i + 1);
        CHECK(steps[i].description && *steps[i].description);
    }
    CHECK(keel_sql_sqlite.n_steps == n); /* the dialect has every step */
}

TEST(registry_old_schema_reads_but_refuses_writes_until_migrated)
{
    approvals_scene();
    REQUIRE(rewind_to_v1() == KEEL_OK);
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    int v = 0, newest = 0;
    keel_registry_schema(r, &v, &newest);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(newest, 3);
    int64_t events = count(r, "SELECT count(*) FROM audit_events");

    /* Reads work: steps 2 and 3 are read-compatible. */
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_model_list(r, &b), KEEL_OK);
    keel_buf_free(&b);
    keel_model_version *mv = NULL;
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &mv), KEEL_OK);
    keel_model_version_free(mv);
    char sha[65];
    unsigned char digest[32];
    keel_error e = {0};
    REQUIRE(keel_sha256_file(artifact(), digest, &e) == KEEL_OK);
    keel_sha256_hex(digest, sha);
    CHECK_EQ_INT(keel_registry_version_find_sha256(r, sha, &mv), KEEL_OK); /* a scan, still */
    keel_model_version_free(mv);

    /* Every kind of write is refused, saying what to do; nothing is written. */
    int64_t id = 0, ver = 0;
    CHECK_EQ_INT(keel_registry_tag_set(r, "model:m:1", "k", "v"), KEEL_ESTATE);
    CHECK(strstr(keel_registry_errmsg(r), "keel registry migrate") != NULL);
    CHECK(strstr(keel_registry_errmsg(r), "schema version 1") != NULL);
    CHECK_EQ_INT(keel_registry_model_register(r, "m", artifact(), 0, NULL, NULL, &ver),
                 KEEL_ESTATE);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "staging", 1, NULL), KEEL_ESTATE);
    CHECK_EQ_INT(keel_registry_user_set(r, "erin", KEEL_ACCESS_VIEWER), KEEL_ESTATE);
    CHECK_EQ_INT(keel_registry_approval_request(r, "m", 2, NULL, &id), KEEL_ESTATE);
    keel_run_info info = {.kind = "train"};
    CHECK_EQ_INT(keel_registry_run_start(r, &info, &id), KEEL_ESTATE);
    keel_audit_checkpoint cp;
    CHECK_EQ_INT(keel_registry_audit_checkpoint(r, &cp), KEEL_ESTATE);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events"), events);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM tags WHERE key = 'k'"), 0);
    keel_registry_close(r);

    /* A refused read is not recorded either (nothing is written to an old schema). */
    r = open_as("zed");
    REQUIRE(r);
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_model_list(r, &b), KEEL_EPERM);
    keel_buf_free(&b);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events"), events);
    int from = 0, to = 0;
    CHECK_EQ_INT(keel_registry_migrate(r, true, &from, &to), KEEL_EPERM); /* even a dry run */
    keel_registry_close(r);

    /* Only an admin migrates; a dry run is any identity's and changes nothing. */
    r = open_as("carol");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_migrate(r, false, &from, &to), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(r), "admin") != NULL);
    CHECK_EQ_INT(keel_registry_migrate(r, true, &from, &to), KEEL_OK);
    CHECK_EQ_INT(from, 1);
    CHECK_EQ_INT(to, 3);
    keel_registry_schema(r, &v, &newest);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(count(r, "SELECT coalesce(max(version), 0) FROM keel_schema_version"), 1);
    keel_registry_close(r);

    r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_migrate(r, false, &from, &to), KEEL_OK);
    CHECK_EQ_INT(from, 1);
    CHECK_EQ_INT(to, 3);
    keel_registry_schema(r, &v, &newest);
    CHECK_EQ_INT(v, 3);
    CHECK_EQ_INT(count(r, "SELECT coalesce(max(version), 0) FROM keel_schema_version"), 3);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                          "name = 'model_versions_artifact'"),
                 1);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'registry.migrate' "
                          "AND actor = 'alice' AND object = 'registry' AND "
                          "details LIKE '{\"from\":1,\"to\":2,\"step\":\"an index %'"),
                 1);
    CHECK_EQ_INT(keel_registry_tag_set(r, "model:m:1", "k", "v"), KEEL_OK); /* writes again */
    CHECK_EQ_INT(keel_registry_migrate(r, false, &from, &to), KEEL_OK);     /* nothing left */
    CHECK_EQ_INT(from, 3);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'registry.migrate'"),
                 2);
    keel_registry_close(r);
    r = open_as("dave");
    REQUIRE(r);
    keel_registry_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    CHECK_EQ_INT(res.state, KEEL_STATE_CHECKED); /* the migration to 3 recorded a baseline */
    CHECK_EQ_INT(res.state_differences, 0);
    CHECK_EQ_INT(res.chain.checkpoint_seq,
                 res.chain.head_seq); /* the migration's close signed the head */
    keel_registry_close(r);
}

TEST(registry_newer_schema_is_refused)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_store_run(keel_registry_store(r), "INSERT INTO keel_schema_version VALUES (?, 0)", "i",
                   (int64_t)keel_store_schema_version() + 1);
    keel_registry_close(r);
    keel_error e = {0};
    r = open_at(NULL, "alice", KEEL_REGISTRY_OPEN_STALE, &e);
    CHECK(r == NULL);
    CHECK(strstr(e.msg, "newer keel") != NULL);
    CHECK(strstr(e.msg, "registry.db") != NULL);
}

TEST(registry_store_steps_in_order)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/s.db", test_tmpdir());
    keel_store *s = NULL;
    keel_error e = {0};
    REQUIRE(keel_store_open(&keel_store_sqlite, p, &s, &e) == KEEL_OK);
    int v = -1;
    CHECK_EQ_INT(keel_store_schema_read(s, &v), KEEL_OK);
    CHECK_EQ_INT(v, 0); /* an empty store */
    bool applied = true;
    CHECK_EQ_INT(keel_store_migrate_step(s, 1, &applied), KEEL_ESTATE); /* no transaction */
    CHECK(!applied);
    REQUIRE(keel_store_begin(s) == KEEL_OK);
    CHECK_EQ_INT(keel_store_migrate_step(s, 2, &applied), KEEL_ESTATE); /* step 1 first */
    keel_store_rollback(s);
    CHECK_EQ_INT(keel_store_schema_create(s, &v), KEEL_OK);
    CHECK_EQ_INT(v, keel_store_schema_version());
    CHECK_EQ_INT(keel_store_schema_create(s, &v), KEEL_OK); /* made already: nothing done */
    CHECK_EQ_INT(v, keel_store_schema_version());
    /* back to 1: step 2 is applied once, a step out of order refused */
    REQUIRE(keel_store_exec(s, UNDO_TO_V1) == KEEL_OK);
    REQUIRE(keel_store_begin(s) == KEEL_OK);
    CHECK_EQ_INT(keel_store_migrate_step(s, 99, &applied), KEEL_EINVAL);
    CHECK_EQ_INT(keel_store_migrate_step(s, 2, &applied), KEEL_OK);
    CHECK(applied);
    CHECK_EQ_INT(keel_store_migrate_step(s, 2, &applied), KEEL_OK);
    CHECK(!applied);
    CHECK_EQ_INT(keel_store_commit(s), KEEL_OK);
    CHECK_EQ_INT(keel_store_schema_read(s, &v), KEEL_OK);
    CHECK_EQ_INT(v, 2);
    CHECK_EQ_INT(keel_store_migrate_step(s, 3, &applied), KEEL_ESTATE); /* no transaction */
    /* keel_store_migrate (tests, benchmarks) brings an old store forward too */
    REQUIRE(keel_store_exec(s, "DROP INDEX model_versions_artifact; "
                               "DELETE FROM keel_schema_version WHERE version = 2") == KEEL_OK);
    CHECK_EQ_INT(keel_store_migrate(s, &v), KEEL_OK);
    CHECK_EQ_INT(v, 3);
    keel_store_close(s);
}

/* ---- typed reads ---------------------------------------------------------------------- */

static void check_sha_of_artifact(const keel_model_version *v)
{
    unsigned char digest[32];
    char sha[65];
    keel_error e = {0};
    if (keel_sha256_file(artifact(), digest, &e) != KEEL_OK) return;
    keel_sha256_hex(digest, sha);
    CHECK_STR(v->sha256, sha);
    FILE *f = fopen(v->path, "rb"); /* the stored copy */
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(strstr(v->path, sha + 2) != NULL);
}

TEST(registry_typed_version_reads)
{
    approvals_scene();
    keel_registry *r = open_as("carol"); /* a viewer reads */
    REQUIRE(r);
    keel_model_version *v = NULL;
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &v), KEEL_OK);
    REQUIRE(v);
    CHECK_STR(v->model, "m");
    CHECK_EQ_INT(v->version, 1);
    CHECK_STR(v->author, "alice");
    CHECK(v->created > 1600000000000000);
    CHECK_EQ_INT(v->size, (int64_t)strlen("pretend this is a model artifact"));
    CHECK_EQ_INT(v->run, 0);
    CHECK(v->task == NULL);
    CHECK(v->metrics_json == NULL);
    CHECK_EQ_INT(v->status, KEEL_REVIEW_APPROVED);
    CHECK_STR(keel_review_name(v->status), "approved");
    REQUIRE(v->n_aliases == 1); /* staging moved to 2 */
    CHECK_STR(v->aliases[0], "champion");
    REQUIRE(v->n_tags == 1);
    CHECK_STR(v->tags[0].key, "owner");
    CHECK_STR(v->tags[0].value, "risk team");
    check_sha_of_artifact(v);
    keel_model_version_free(v);

    CHECK_EQ_INT(keel_registry_version_get(r, "m", 2, &v), KEEL_OK);
    REQUIRE(v);
    CHECK_EQ_INT(v->status, KEEL_REVIEW_NONE);
    REQUIRE(v->n_aliases == 1);
    CHECK_STR(v->aliases[0], "staging");
    CHECK_EQ_INT(v->n_tags, 0);
    keel_model_version_free(v);
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 9, &v), KEEL_ENOENT);
    CHECK(v == NULL);
    CHECK(strstr(keel_registry_errmsg(r), "no version 9") != NULL);

    /* Both versions hold the same artifact: the newest is found. */
    unsigned char digest[32];
    char sha[65];
    keel_error e = {0};
    REQUIRE(keel_sha256_file(artifact(), digest, &e) == KEEL_OK);
    keel_sha256_hex(digest, sha);
    CHECK_EQ_INT(keel_registry_version_find_sha256(r, sha, &v), KEEL_OK);
    REQUIRE(v);
    CHECK_STR(v->model, "m");
    CHECK_EQ_INT(v->version, 2);
    keel_model_version_free(v);
    for (char *c = sha; *c; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A');
    CHECK_EQ_INT(keel_registry_version_find_sha256(r, sha, &v), KEEL_OK); /* either case */
    keel_model_version_free(v);
    CHECK_EQ_INT(keel_registry_version_find_sha256(r, "abc", &v), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_version_find_sha256(r, NULL, &v), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_version_find_sha256(
                     r, "0000000000000000000000000000000000000000000000000000000000000000", &v),
                 KEEL_ENOENT);
    CHECK(v == NULL);

    keel_model_versions *l = NULL;
    CHECK_EQ_INT(keel_registry_version_list(r, "m", &l), KEEL_OK);
    REQUIRE(l && l->n == 2);
    CHECK_EQ_INT(l->v[0]->version, 1);
    CHECK_EQ_INT(l->v[1]->version, 2);
    CHECK_STR(l->v[1]->aliases[0], "staging");
    keel_model_versions_free(l);
    CHECK_EQ_INT(keel_registry_version_list(r, "nope", &l), KEEL_ENOENT);
    CHECK(l == NULL);
    CHECK(strstr(keel_registry_errmsg(r), "no model 'nope'") != NULL);

    CHECK_EQ_INT(keel_registry_version_resolve(r, "m@champion", &v), KEEL_OK);
    REQUIRE(v);
    CHECK_EQ_INT(v->version, 1);
    keel_model_version_free(v);
    CHECK_EQ_INT(keel_registry_version_resolve(r, "m", &v), KEEL_OK);
    REQUIRE(v);
    CHECK_EQ_INT(v->version, 2); /* the newest */
    keel_model_version_free(v);
    CHECK_EQ_INT(keel_registry_version_resolve(r, "m:1", &v), KEEL_OK);
    keel_model_version_free(v);
    CHECK_EQ_INT(keel_registry_version_resolve(r, "m@nope", &v), KEEL_ENOENT);
    CHECK(strstr(keel_registry_errmsg(r), "no alias 'nope'") != NULL);
    CHECK_EQ_INT(keel_registry_version_resolve(r, "m:x", &v), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_version_resolve(r, "nope@x", &v), KEEL_ENOENT);
    keel_registry_close(r);

    /* The review state follows the newest decision; a pending request alone is pending. */
    r = open_as("alice");
    REQUIRE(r);
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_approval_request(r, "m", 2, NULL, &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 2, &v), KEEL_OK);
    CHECK_EQ_INT(v ? v->status : -1, KEEL_REVIEW_PENDING);
    keel_model_version_free(v);
    keel_registry_close(r);
    r = open_as("bob");
    REQUIRE(r);
    /* 1 is the champion: rejecting it waits until the alias is gone (test_alias_policy.c) */
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 1, 0, "no", &id), KEEL_EPERM);
    keel_registry_close(r);
    r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_alias_set(r, "m", "champion", 0, NULL), KEEL_OK);
    keel_registry_close(r);
    r = open_as("bob");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_approval_decide(r, "m", 1, 0, "no", &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &v), KEEL_OK);
    CHECK_EQ_INT(v ? v->status : -1, KEEL_REVIEW_REJECTED);
    keel_model_version_free(v);
    keel_registry_close(r);

    /* Nobody reads nothing. */
    r = open_as("zed");
    REQUIRE(r);
    v = (keel_model_version *)1;
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &v), KEEL_EPERM);
    CHECK(v == NULL);
    l = (keel_model_versions *)1;
    CHECK_EQ_INT(keel_registry_version_list(r, "m", &l), KEEL_EPERM);
    CHECK(l == NULL);
    keel_registry_close(r);
    keel_model_version_free(NULL);
    keel_model_versions_free(NULL);
}

/* The lookup by artifact is an index search, not a scan (schema step 2). */
TEST(registry_find_by_artifact_uses_the_index)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_stmt *st = NULL;
    REQUIRE(keel_store_query(keel_registry_store(r), &st,
                             "EXPLAIN QUERY PLAN SELECT model, version FROM model_versions WHERE "
                             "artifact_sha256 = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                             "s", "00") == KEEL_OK);
    bool indexed = false;
    while (keel_stmt_step(st) == KEEL_STORE_ROW) {
        const char *detail = keel_stmt_text(st, 3);
        if (detail && strstr(detail, "USING INDEX model_versions_artifact")) indexed = true;
    }
    keel_stmt_finalize(st);
    CHECK(indexed);
    keel_registry_close(r);
}

/* Out of memory in the typed reads: a clean KEEL_ENOMEM, *out NULL, nothing leaked. */
TEST(registry_typed_reads_out_of_memory)
{
    approvals_scene();
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    unsigned char digest[32];
    char sha[65];
    keel_error e = {0};
    REQUIRE(keel_sha256_file(artifact(), digest, &e) == KEEL_OK);
    keel_sha256_hex(digest, sha);
    for (int which = 0; which < 4; which++) {
        bool done = false;
        for (long k = 1; k < 300 && !done; k++) {
            long live = test_alloc_live();
            keel_model_version *v = (keel_model_version *)1;
            keel_model_versions *l = (keel_model_versions *)1;
            test_fail_alloc_after(k);
            int rc = which == 0   ? keel_registry_version_get(r, "m", 1, &v)
                     : which == 1 ? keel_registry_version_find_sha256(r, sha, &v)
                     : which == 2 ? keel_registry_version_resolve(r, "m@champion", &v)
                                  : keel_registry_version_list(r, "m", &l);
            test_fail_alloc_after(0);
            if (rc == KEEL_OK) {
                done = true;
                if (which == 3) {
                    CHECK_EQ_INT(l->n, 2);
                    CHECK_EQ_INT(l->v[0]->n_tags, 1);
                    keel_model_versions_free(l);
                } else {
                    CHECK_EQ_INT(v->n_aliases, 1);
                    CHECK_EQ_INT(v->n_tags, which == 1 ? 0 : 1); /* the sha finds m:2 */
                    keel_model_version_free(v);
                }
                continue;
            }
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(which == 3 ? l == NULL : v == NULL);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
        CHECK(done);
    }
    keel_registry_close(r);
}

TEST(registry_exists_without_creating)
{
    keel_registry_options o = {.home = home(), .actor = "alice"};
    bool exists = true;
    keel_error e = {0};
    CHECK_EQ_INT(keel_registry_exists(&o, &exists, &e), KEEL_OK);
    CHECK(!exists);
    struct stat sb;
    CHECK(stat(home(), &sb) != 0); /* nothing made */
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_registry_close(r);
    CHECK_EQ_INT(keel_registry_exists(&o, &exists, &e), KEEL_OK);
    CHECK(exists);
    char location[1200];
    snprintf(location, sizeof location, "sqlite://%s/other.db", test_tmpdir());
    o.location = location;
    CHECK_EQ_INT(keel_registry_exists(&o, &exists, &e), KEEL_OK);
    CHECK(!exists); /* the location counts, not KEEL_HOME */
    o.location = "postgresql://h/db";
    CHECK_EQ_INT(keel_registry_exists(&o, &exists, &e), KEEL_EINVAL);
    CHECK(strstr(e.msg, "sqlite") != NULL);
}

/* ---- the state the chain covers, identities bound to keys -------------------------------- */

static bool verify_clean(keel_registry *r, keel_registry_verify_result *res)
{
    return keel_registry_audit_verify(r, NULL, NULL, NULL, res) == KEEL_OK && res->ok &&
           res->state == KEEL_STATE_CHECKED && res->state_differences == 0;
}

TEST(registry_state_follows_every_change)
{
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    keel_registry_verify_result res;
    CHECK(verify_clean(r, &res));
    CHECK_EQ_INT(res.state_baseline, 1); /* registry.create */
    CHECK_EQ_INT(res.state_rows, 1);     /* alice */
    /* A deleted row is an image of null; a re-registered dataset with nothing new writes no
     * event, one that fills in what was missing writes dataset.update. */
    CHECK_EQ_INT(keel_registry_user_set(r, "bob", KEEL_ACCESS_VIEWER), KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_remove(r, "bob"), KEEL_OK);
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    keel_dataset_info ds = {.sha256 = sha,
                            .name = "d",
                            .n_rows = -1,
                            .n_accepted = -1,
                            .n_rejected = -1,
                            .n_columns = -1};
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_dataset_put(r, &ds, &id), KEEL_OK);
    int64_t events = count(r, "SELECT count(*) FROM audit_events");
    CHECK_EQ_INT(keel_registry_dataset_put(r, &ds, &id), KEEL_OK);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events"), events);
    ds.n_rows = 7;
    CHECK_EQ_INT(keel_registry_dataset_put(r, &ds, &id), KEEL_OK);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE action = 'dataset.update'"), 1);
    CHECK(verify_clean(r, &res));
    CHECK_EQ_INT(res.state_rows, 2); /* alice, the dataset */
    /* An edit behind keel's back is named with its table, key and field. */
    REQUIRE(keel_store_exec(keel_registry_store(r), "UPDATE datasets SET n_rows = 8") == KEEL_OK);
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(!res.ok);
    CHECK(res.chain.ok); /* the chain itself is intact */
    CHECK_EQ_INT(res.state_differences, 1);
    CHECK(strstr(res.state_shown[0], "datasets [1]: field n_rows is 8 in the table, the audit "
                                     "trail says 7") != NULL);
    keel_registry_close(r);
}

TEST(registry_identity_bound_to_a_key_signs_and_must_prove_itself)
{
    char key[1100], pk[65];
    snprintf(key, sizeof key, "%s/bob.key", test_tmpdir());
    keel_error e = {0};
    REQUIRE(keel_identity_key_create(key, pk, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_identity_key_create(key, pk, &e), KEEL_ESTATE); /* never replaced */
    char again[65];
    CHECK_EQ_INT(keel_identity_key_show(key, again, &e), KEEL_OK);
    CHECK(!strcmp(pk, again));
    keel_registry *r = open_as("alice");
    REQUIRE(r);
    CHECK_EQ_INT(keel_registry_user_set(r, "bob", KEEL_ACCESS_VIEWER | KEEL_ACCESS_DEVELOPER),
                 KEEL_OK);
    CHECK_EQ_INT(keel_registry_user_key_set(r, "bob", "12"), KEEL_EINVAL);
    CHECK_EQ_INT(keel_registry_user_key_set(r, "nobody", pk), KEEL_ENOENT);
    CHECK_EQ_INT(keel_registry_user_key_set(r, "bob", pk), KEEL_OK);
    keel_registry_close(r);

    /* Claiming bob without his key: no role at all, the refusal audited. */
    keel_registry_options o = {.home = home(), .actor = "bob"};
    REQUIRE(keel_registry_open_with(&o, &r, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_registry_tag_set(r, "model:m:1", "k", "v"), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(r), "bound to the key") != NULL);
    keel_registry_close(r);
    /* With it: the change is made and signed. */
    o.identity_key = key;
    REQUIRE(keel_registry_open_with(&o, &r, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_registry_tag_set(r, "model:m:1", "k", "v"), KEEL_OK);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM audit_events WHERE actor = 'bob' AND action = "
                          "'tag.set' AND details LIKE '%\"signature\":\"%'"),
                 1);
    keel_registry_close(r);
    r = open_as("alice");
    REQUIRE(r);
    keel_registry_verify_result res;
    CHECK(verify_clean(r, &res));
    CHECK_EQ_INT(res.signed_events, 1);
    CHECK_EQ_INT(res.identities, 2);
    CHECK_EQ_INT(res.identities_keyed, 1);
    keel_registry_close(r);
}
