/* Tests of the anchored audit chain (src/registry/anchor.c): a write signs its head in its own
 * transaction and refuses to build on a head no valid checkpoint covers; verification with
 * require_anchor fails unsigned events and a missing head file, accepts a lagging one; the
 * witness file; the signing key's file mode. The attacks end to end: tests/e2e/tamper_chain.sh. */
#include "harness.h"

#include "registry/audit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static keel_store *open_store(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.db", test_tmpdir());
    keel_store *s = NULL;
    keel_error e;
    if (keel_store_open(&keel_store_sqlite, path, &s, &e) != KEEL_OK) return NULL;
    if (keel_store_migrate(s, NULL) != KEEL_OK) {
        keel_store_close(s);
        return NULL;
    }
    return s;
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
}

static keel_audit_key make_key(void)
{
    char dir[512];
    tmp_path(dir, sizeof dir, "keys");
    keel_audit_key k;
    keel_error e;
    if (keel_audit_key_load(dir, 1, &k, &e) != KEEL_OK) memset(&k, 0, sizeof k);
    return k;
}

/* One write as the registry makes it: n events, the anchor, the commit, the publication.
 * Returns what keel_audit_anchor returned (the transaction is rolled back when it refuses). */
static int write_tx(keel_store *s, const keel_audit_key *k, const char *head, const char *witness,
                    int n, keel_error *e)
{
    int64_t first = 0, seq = 0;
    int rc = keel_store_begin(s);
    for (int i = 0; i < n && rc == KEEL_OK; i++) {
        rc = keel_audit_append(s, 0, "alice", "tag.set", "model:churn:1", "{}", &seq);
        if (!first) first = seq;
    }
    keel_audit_checkpoint cp;
    if (rc == KEEL_OK) rc = keel_audit_anchor(s, k, head, first, false, &cp, e);
    if (rc == KEEL_OK) rc = keel_store_commit(s);
    if (rc != KEEL_OK) {
        keel_store_rollback(s);
        return rc;
    }
    return keel_audit_publish(&cp, head, witness, e);
}

static keel_audit_verify_result verify(keel_store *s, const keel_audit_key *k, const char *head,
                                       const char *witness)
{
    keel_audit_verify_options o = {
        .public_key = k->pk, .head_file = head, .witness = witness, .require_anchor = true};
    keel_audit_verify_result r;
    keel_error e = {0};
    if (keel_audit_verify(s, &o, &r, &e) != KEEL_OK) {
        fprintf(stderr, "    verify failed to run: %s\n", e.msg);
        r.ok = false;
        r.first_bad = -1;
    }
    return r;
}

static int64_t count(keel_store *s, const char *sql)
{
    int64_t n = -1;
    keel_store_int(s, &n, sql, NULL);
    return n;
}

#define CHECK_HAS(text, word)                                                                      \
    do {                                                                                           \
        if (!strstr((text), (word)))                                                               \
            harness_fail(__FILE__, __LINE__, "\"%s\" lacks \"%s\"", (text), (word));               \
    } while (0)

TEST(anchor_every_write_signs_its_head_in_its_transaction)
{
    keel_store *s = open_store();
    REQUIRE(s);
    keel_audit_key k = make_key();
    REQUIRE(k.has_secret);
    char head[512];
    tmp_path(head, sizeof head, "audit-head.json");
    keel_error e = {0};
    for (int i = 1; i <= 4; i++)
        CHECK_EQ_INT(write_tx(s, &k, head, NULL, i, &e), KEEL_OK);
    CHECK_EQ_INT(count(s, "SELECT count(*) FROM audit_events"), 10);
    CHECK_EQ_INT(count(s, "SELECT count(*) FROM audit_checkpoints"), 4);
    CHECK_EQ_INT(count(s, "SELECT max(seq) FROM audit_checkpoints"), 10);
    keel_audit_checkpoint hf;
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &hf, &e), KEEL_OK);
    CHECK_EQ_INT(hf.seq, 10);
    keel_audit_verify_result r = verify(s, &k, head, NULL);
    CHECK(r.ok);
    CHECK_EQ_INT(r.checkpoint_seq, 10);
    CHECK_EQ_INT(keel_audit_anchored(s, k.pk, head, 10, &e), KEEL_OK);
    keel_store_close(s);
}

TEST(anchor_refuses_to_sign_over_an_appended_event)
{
    keel_store *s = open_store();
    REQUIRE(s);
    keel_audit_key k = make_key();
    char head[512];
    tmp_path(head, sizeof head, "audit-head.json");
    keel_error e = {0};
    REQUIRE(write_tx(s, &k, head, NULL, 2, &e) == KEEL_OK);
    REQUIRE(write_tx(s, &k, head, NULL, 1, &e) == KEEL_OK);
    /* A correctly hashed event appended without a checkpoint (what the sqlite3 tool can do). */
    REQUIRE(keel_store_begin(s) == KEEL_OK);
    REQUIRE(keel_audit_append(s, 0, "mallory", "tag.set", "model:churn:1", "{}", NULL) == KEEL_OK);
    REQUIRE(keel_store_commit(s) == KEEL_OK);
    keel_audit_verify_result r = verify(s, &k, head, NULL);
    CHECK(!r.ok);
    CHECK_EQ_INT(r.first_bad, 4);
    CHECK_HAS(r.reason, "events 4 to 4 are not covered by a signed checkpoint");
    /* The next write refuses, and leaves nothing behind. */
    CHECK_EQ_INT(write_tx(s, &k, head, NULL, 1, &e), KEEL_ESTATE);
    CHECK_HAS(e.msg, "not covered by a signed checkpoint");
    CHECK_HAS(e.msg, "keel audit verify");
    CHECK_EQ_INT(count(s, "SELECT count(*) FROM audit_events"), 4);
    CHECK_EQ_INT(count(s, "SELECT count(*) FROM audit_checkpoints"), 2);
    /* A checkpoint row forged to cover it is no better: its signature is not the key's. */
    keel_audit_key other;
    char dir[512];
    tmp_path(dir, sizeof dir, "other-keys");
    REQUIRE(keel_audit_key_load(dir, 1, &other, &e) == KEEL_OK);
    REQUIRE(keel_store_begin(s) == KEEL_OK);
    keel_audit_checkpoint forged;
    REQUIRE(keel_audit_anchor(s, &other, NULL, 0, true, &forged, &e) == KEEL_OK);
    REQUIRE(keel_store_commit(s) == KEEL_OK);
    CHECK_EQ_INT(write_tx(s, &k, head, NULL, 1, &e), KEEL_ESTATE);
    CHECK_HAS(e.msg, "not signed by this registry's key");
    /* Adopting (an admin vouches for the head) signs over it, on the record. */
    REQUIRE(keel_store_begin(s) == KEEL_OK);
    int64_t seq;
    REQUIRE(keel_audit_append(s, 0, "root", "audit.adopt", "audit", "{}", &seq) == KEEL_OK);
    keel_audit_checkpoint cp;
    CHECK_EQ_INT(keel_audit_anchor(s, &k, head, seq, true, &cp, &e), KEEL_OK);
    REQUIRE(keel_store_commit(s) == KEEL_OK);
    CHECK_EQ_INT(cp.seq, 5);
    CHECK_EQ_INT(keel_audit_publish(&cp, head, NULL, &e), KEEL_OK);
    CHECK_EQ_INT(write_tx(s, &k, head, NULL, 1, &e), KEEL_OK);
    /* The forged row is still there for verify to report. */
    r = verify(s, &k, head, NULL);
    CHECK(!r.ok);
    CHECK_HAS(r.reason, "another key");
    keel_store_close(s);
}

TEST(anchor_head_file_missing_fails_lagging_passes)
{
    keel_store *s = open_store();
    REQUIRE(s);
    keel_audit_key k = make_key();
    char head[512], copy[512];
    tmp_path(head, sizeof head, "audit-head.json");
    tmp_path(copy, sizeof copy, "head.copy");
    keel_error e = {0};
    REQUIRE(write_tx(s, &k, head, NULL, 2, &e) == KEEL_OK);
    /* The first transaction's head file lost to a crash: nothing to tell it from. */
    unlink(head);
    CHECK(verify(s, &k, head, NULL).ok);
    CHECK_EQ_INT(keel_audit_anchored(s, k.pk, head, 2, &e), KEEL_OK);
    REQUIRE(write_tx(s, &k, head, NULL, 1, &e) == KEEL_OK);
    REQUIRE(rename(head, copy) == 0);
    REQUIRE(write_tx(s, &k, NULL, NULL, 1, &e) == KEEL_OK); /* its head file never written */
    REQUIRE(rename(copy, head) == 0);
    keel_audit_verify_result r = verify(s, &k, head, NULL);
    CHECK(r.ok); /* a head file one write behind: a crash after the commit */
    CHECK_EQ_INT(write_tx(s, &k, head, NULL, 1, &e), KEEL_OK);
    keel_audit_checkpoint hf;
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &hf, &e), KEEL_OK);
    CHECK_EQ_INT(hf.seq, 5); /* moved forward */
    /* Removed once there is more than one checkpoint: a finding, and writes refuse. */
    unlink(head);
    r = verify(s, &k, head, NULL);
    CHECK(!r.ok);
    CHECK_EQ_INT(r.first_bad, 6);
    CHECK_HAS(r.reason, "audit-head.json is missing");
    CHECK_EQ_INT(write_tx(s, &k, head, NULL, 1, &e), KEEL_ESTATE);
    CHECK_HAS(e.msg, "audit-head.json is missing");
    CHECK(access(head, F_OK) != 0);
    keel_store_close(s);
}

TEST(anchor_witness_catches_a_rollback)
{
    keel_store *s = open_store();
    REQUIRE(s);
    keel_audit_key k = make_key();
    char head[512], witness[512];
    tmp_path(head, sizeof head, "audit-head.json");
    tmp_path(witness, sizeof witness, "witness.jsonl");
    keel_error e = {0};
    for (int i = 0; i < 3; i++)
        REQUIRE(write_tx(s, &k, head, witness, 2, &e) == KEEL_OK);
    CHECK(verify(s, &k, head, witness).ok);
    /* Cut the tail and its checkpoints' rows; write the head file from the row left. */
    REQUIRE(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                               "DELETE FROM audit_events WHERE seq > 2;"
                               "DELETE FROM audit_checkpoints WHERE seq > 2") == KEEL_OK);
    keel_stmt *st;
    REQUIRE(keel_store_prepare(s,
                               "SELECT seq, hash, time, public_key, signature FROM "
                               "audit_checkpoints",
                               &st) == KEEL_OK);
    REQUIRE(keel_stmt_step(st) == KEEL_STORE_ROW);
    FILE *f = fopen(head, "w");
    REQUIRE(f);
    fprintf(
        f,
        "{\"seq\":%lld,\"time\":%lld,\"hash\":\"%s\",\"public_key\":\"%s\",\"signature\":\"%s\"}\n",
        (long long)keel_stmt_int(st, 0), (long long)keel_stmt_int(st, 2), keel_stmt_text(st, 1),
        keel_stmt_text(st, 3), keel_stmt_text(st, 4));
    fclose(f);
    keel_stmt_finalize(st);
    CHECK(verify(s, &k, head, NULL).ok); /* KEEL_HOME alone is consistent again */
    keel_audit_verify_result r = verify(s, &k, head, witness);
    CHECK(!r.ok);
    CHECK_EQ_INT(r.first_bad, 3);
    CHECK_HAS(r.reason, "truncated: the witness names event 6");
    /* A damaged line is a finding; a torn last line (no newline) is not written yet. */
    keel_store_close(s);
    unlink(witness);
    char db[512];
    tmp_path(db, sizeof db, "a.db");
    unlink(db);
    unlink(head);
    s = open_store();
    REQUIRE(s);
    REQUIRE(write_tx(s, &k, head, witness, 1, &e) == KEEL_OK);
    f = fopen(witness, "a");
    fputs("{\"seq\":1,\"ti", f);
    fclose(f);
    CHECK(verify(s, &k, head, witness).ok);
    f = fopen(witness, "a");
    fputs("\n", f);
    fclose(f);
    r = verify(s, &k, head, witness);
    CHECK(!r.ok);
    CHECK_HAS(r.reason, "witness's line 2 is not a checkpoint");
    unlink(witness);
    r = verify(s, &k, head, witness);
    CHECK(!r.ok);
    CHECK_HAS(r.reason, "witness.jsonl is missing");
    keel_store_close(s);
}

TEST(anchor_key_file_mode_and_path)
{
    char key[512], pub[512];
    tmp_path(key, sizeof key, "secure/audit.key");
    tmp_path(pub, sizeof pub, "secure/audit.key.pub");
    keel_audit_key k, k2;
    keel_error e = {0};
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 0, &k, &e), KEEL_ENOENT);
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 1, &k, &e), KEEL_OK);
    CHECK(k.has_secret);
    struct stat st;
    REQUIRE(stat(key, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 0, &k2, &e), KEEL_OK);
    CHECK(memcmp(k.pk, k2.pk, 32) == 0);
    chmod(key, 0644);
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 1, &k2, &e), KEEL_EPERM);
    CHECK_HAS(e.msg, "chmod 600");
    CHECK_HAS(e.msg, key);
    CHECK(!k2.has_secret);
    chmod(key, 0604); /* others alone */
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 0, &k2, &e), KEEL_EPERM);
    chmod(key, 0600);
    CHECK_EQ_INT(keel_audit_key_load_file(key, pub, 0, &k2, &e), KEEL_OK);
}
