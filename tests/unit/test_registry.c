/*
 * Tests of the registry library (src/registry): roles, the first user becoming admin, the
 * write pattern (refusals audited, nothing half-done), model versions and their resolution,
 * the champion policy, lineage, and out-of-memory paths. The CLI and tampering are covered
 * end to end in tests/e2e/registry.sh, crashes and concurrency in tests/e2e/registry_crash.sh.
 */
#include "harness.h"

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
