/*
 * Tests of the registry library (src/registry): roles, the first user becoming admin, the
 * write pattern (refusals audited, nothing half-done), model versions and their resolution,
 * the champion policy, lineage, and out-of-memory paths. The CLI and tampering are covered
 * end to end in tests/e2e/registry.sh, crashes and concurrency in tests/e2e/registry_crash.sh.
 */
#include "harness.h"

#include "base/json.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <sys/stat.h>

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
    keel_audit_verify_result res;
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
    keel_audit_verify_result res;
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
    keel_audit_verify_result res;
    CHECK_EQ_INT(keel_registry_audit_verify(r, NULL, NULL, NULL, &res), KEEL_OK);
    CHECK(res.ok);
    CHECK_EQ_INT(count(r, "SELECT count(*) FROM identities"), 1);
    keel_registry_close(r);
}
