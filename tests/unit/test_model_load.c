/*
 * test_model_load.c — loading a model by its registry reference (src/pipeline/model_load.c)
 * and the registry's check behind it (keel_registry_artifact_verify): the registered
 * artifact loads; one swapped in the artifact store for another valid model is refused with
 * a message naming the version and both hashes, and the refusal is audited once per load;
 * the right bytes put back load again.
 */
#include "harness.h"
#include "fixtures.h"

#include "pipeline/model_load.h"

#include <sys/stat.h>
#include <unistd.h>

static const char *path_in(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", test_tmpdir(), name);
    return p[k];
}

static int64_t mismatches(keel_registry *r)
{
    int64_t n = -1;
    keel_store_int(keel_registry_store(r), &n,
                   "SELECT count(*) FROM audit_events WHERE action = 'artifact.mismatch' AND "
                   "object = 'model:m:1'",
                   NULL);
    return n;
}

/* Trains a small model on pima for epochs epochs and saves it at path. */
static bool save_pima(int epochs, const char *path)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.max_epochs = epochs;
    keel_frame *f = NULL;
    keel_schema *s = NULL;
    keel_model *m = test_train_pima(&hp, &f, &s);
    keel_error e = {0};
    bool ok = m && keel_model_save(m, path, &e) == KEEL_OK;
    if (m && !ok) printf("save %s: %s\n", path, e.msg);
    keel_model_free(m);
    keel_frame_free(f);
    keel_schema_free(s);
    return ok;
}

static bool copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = (chmod(to, 0644), fopen(to, "wb"));
    bool ok = in && out;
    char buf[8192];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out)) ok = false;
    return ok;
}

TEST(model_load_refuses_a_swapped_artifact_and_audits_it)
{
    REQUIRE(save_pima(1, path_in("one.keel")) && save_pima(2, path_in("two.keel")));
    keel_registry *r = NULL;
    keel_error e = {0};
    REQUIRE(keel_registry_open(path_in("home"), "ann", "test-host", &r, &e) == KEEL_OK);
    int64_t v = 0;
    REQUIRE(keel_registry_model_register(r, "m", path_in("one.keel"), 0, NULL, NULL, &v) ==
            KEEL_OK);
    REQUIRE(keel_registry_model_register(r, "m", path_in("two.keel"), 0, NULL, NULL, &v) ==
            KEEL_OK);

    /* The registered artifact loads, and is what the registry says it is. */
    keel_model *m = NULL;
    keel_model_version *mv = NULL;
    CHECK_EQ_INT(keel_registry_model_load(r, "m:1", &m, &mv, &e), KEEL_OK);
    REQUIRE(m && mv);
    CHECK_STR(keel_model_sha256(m), mv->sha256);
    CHECK_EQ_INT(mv->version, 1);
    char sha1[65], sha2[65];
    snprintf(sha1, sizeof sha1, "%s", mv->sha256);
    char stored[2048];
    snprintf(stored, sizeof stored, "%s", mv->path);
    keel_model_free(m);
    keel_model_version_free(mv);
    CHECK_EQ_INT(keel_registry_model_load(r, "m:2", &m, NULL, &e), KEEL_OK);
    REQUIRE(m);
    snprintf(sha2, sizeof sha2, "%s", keel_model_sha256(m));
    keel_model_free(m);
    CHECK(strcmp(sha1, sha2) != 0);
    CHECK_EQ_INT(mismatches(r), 0);

    /* Version 2's bytes copied over version 1's stored artifact: a valid model, the wrong
     * one. Refused, nothing handed out, the message names the version and both hashes. */
    REQUIRE(copy_file(path_in("two.keel"), stored));
    m = (keel_model *)1;
    mv = (keel_model_version *)1;
    CHECK_EQ_INT(keel_registry_model_load(r, "m:1", &m, &mv, &e), KEEL_EFORMAT);
    CHECK(m == NULL && mv == NULL);
    CHECK_EQ_INT(e.code, KEEL_EFORMAT);
    CHECK(strstr(e.msg, "m:1: the artifact store was changed") != NULL);
    CHECK(strstr(e.msg, sha1) != NULL);
    CHECK(strstr(e.msg, sha2) != NULL);
    CHECK(strstr(e.msg, "artifact.mismatch") != NULL);
    CHECK_EQ_INT(mismatches(r), 1);
    /* The event says what was expected, what was found, and where. */
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_registry_audit_events(r, "m", 1, 0, &b), KEEL_OK);
    CHECK(b.data && strstr(b.data, "\"action\":\"artifact.mismatch\"") != NULL);
    char want[200];
    snprintf(want, sizeof want, "\"expected\":\"%s\",\"found\":\"%s\"", sha1, sha2);
    CHECK(b.data && strstr(b.data, want) != NULL);
    keel_buf_free(&b);

    /* Every load by version is checked: the same refusal through version_load, audited again;
     * the intact version 2 still loads. */
    CHECK_EQ_INT(keel_registry_version_get(r, "m", 1, &mv), KEEL_OK);
    REQUIRE(mv);
    CHECK_EQ_INT(keel_registry_version_load(r, mv, &m, &e), KEEL_EFORMAT);
    CHECK(m == NULL);
    CHECK_EQ_INT(mismatches(r), 2);
    CHECK_EQ_INT(keel_registry_model_load(r, "m", &m, NULL, &e), KEEL_OK);
    keel_model_free(m);

    /* The check itself: equal hashes pass without a word in the trail. */
    CHECK_EQ_INT(keel_registry_artifact_verify(r, mv, sha1), KEEL_OK);
    CHECK_EQ_INT(keel_registry_artifact_verify(r, mv, sha2), KEEL_EFORMAT);
    CHECK_EQ_INT(mismatches(r), 3);

    /* The right bytes back: it loads again. */
    REQUIRE(copy_file(path_in("one.keel"), stored));
    CHECK_EQ_INT(keel_registry_version_load(r, mv, &m, &e), KEEL_OK);
    CHECK(m && !strcmp(keel_model_sha256(m), sha1));
    keel_model_free(m);
    keel_model_version_free(mv);
    CHECK_EQ_INT(mismatches(r), 3);

    /* A reference the registry does not know: its message, nothing loaded. */
    CHECK_EQ_INT(keel_registry_model_load(r, "nosuch@champion", &m, NULL, &e), KEEL_ENOENT);
    CHECK(m == NULL && strstr(e.msg, "nosuch") != NULL);

    /* A damaged stored artifact is refused by the loader's own digest. */
    FILE *f = fopen(stored, "r+b");
    REQUIRE(f);
    fseek(f, -40, SEEK_END); /* tensor data, just before the digest */
    fputc('X', f);
    fclose(f);
    CHECK_EQ_INT(keel_registry_model_load(r, "m:1", &m, NULL, &e), KEEL_EFORMAT);
    CHECK(m == NULL && strstr(e.msg, "checksum") != NULL);
    keel_registry_close(r);
}
