/* Tests of the audit trail: the hash against an independent computation, append and verify,
 * every kind of tampering through raw SQL (edit, delete, swap, insert, renumber, truncate,
 * forged and foreign checkpoints, a cut tail caught by the head file), keys, checkpoint
 * files, export, and out-of-memory paths. */
#include "harness.h"

#include "base/json.h"
#include "registry/audit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------------------- */

static keel_store *open_store(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    keel_store *s = NULL;
    keel_error e;
    if (keel_store_open(&keel_store_sqlite, path, &s, &e) != KEEL_OK) return NULL;
    if (keel_store_migrate(s, NULL) != KEEL_OK) {
        keel_store_close(s);
        return NULL;
    }
    return s;
}

/* Appends n events numbered from the current head, one transaction each. */
static int append_n(keel_store *s, int n)
{
    for (int i = 0; i < n; i++) {
        char obj[64], details[96];
        int64_t seq = 0;
        snprintf(obj, sizeof obj, "model:churn:%d", i + 1);
        snprintf(details, sizeof details, "{\"version\":%d,\"note\":\"a, \\\"b\\\"\"}", i + 1);
        int rc = keel_store_begin(s);
        if (rc == KEEL_OK)
            rc = keel_audit_append(s, 1700000000000000 + i * 1000000, "alice",
                                   "model.version.register", obj, details, &seq);
        if (rc == KEEL_OK) rc = keel_store_commit(s);
        if (rc != KEEL_OK) {
            keel_store_rollback(s);
            return rc;
        }
    }
    return KEEL_OK;
}

static keel_audit_verify_result verify(keel_store *s, const keel_audit_verify_options *o)
{
    keel_audit_verify_result r;
    keel_error e;
    int rc = keel_audit_verify(s, o, &r, &e);
    if (rc != KEEL_OK) {
        fprintf(stderr, "    verify failed to run: %s\n", e.msg);
        r.ok = false;
        r.first_bad = -1;
    }
    return r;
}

static bool has(const char *s, const char *word)
{
    return s && strstr(s, word) != NULL;
}

#define CHECK_BAD(r, seq, word)                                                                    \
    do {                                                                                           \
        CHECK(!(r).ok);                                                                            \
        CHECK_EQ_INT((r).first_bad, (seq));                                                        \
        if (!has((r).reason, (word)))                                                              \
            harness_fail(__FILE__, __LINE__, "reason \"%s\" lacks \"%s\"", (r).reason, (word));    \
    } while (0)

static keel_audit_key make_key(const char *sub)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), sub);
    keel_audit_key k;
    keel_error e;
    if (keel_audit_key_load(dir, 1, &k, &e) != KEEL_OK) memset(&k, 0, sizeof k);
    return k;
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
}

/* ---- the hash ------------------------------------------------------------------------- */

TEST(audit_hash_matches_independent_sha256)
{
    /* Expected values from Python's hashlib over the encoding documented in audit.h:
     * sha256(bytes.fromhex(prev) + pack('>Q', seq) + pack('>q', time) + lp(actor) +
     * lp(action) + lp(object) + lp(details)), lp(s) = pack('>I', len(s)) + s. */
    char h1[65], h2[65];
    CHECK_EQ_INT(keel_audit_hash("0000000000000000000000000000000000000000000000000000000000000000",
                                 1, 1700000000000000, "alice", "model.alias.set", "model:churn:3",
                                 "{\"alias\":\"prod\",\"version\":3}", h1),
                 KEEL_OK);
    CHECK_STR(h1, "efb7d1ce346d631896d2438589400714f99a320868f84801ade5df058872e713");
    /* A negative time (two's complement), UTF-8 and NULL details ("{}"). */
    CHECK_EQ_INT(keel_audit_hash(h1, 2, -5, "zo\xc3\xab", "registry.create", "registry", NULL, h2),
                 KEEL_OK);
    CHECK_STR(h2, "0a333c5b92a42c56412288d726f73eccdff4f72c6f16a68c0f4a78e7351c680e");
    /* Upper-case prev_hash decodes to the same bytes. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(h1[i] >= 'a' && h1[i] <= 'f' ? h1[i] - 32 : h1[i]);
    CHECK_EQ_INT(
        keel_audit_hash(upper, 2, -5, "zo\xc3\xab", "registry.create", "registry", "{}", h2),
        KEEL_OK);
    CHECK_STR(h2, "0a333c5b92a42c56412288d726f73eccdff4f72c6f16a68c0f4a78e7351c680e");
    CHECK_EQ_INT(keel_audit_hash("00", 1, 0, "a", "b", "c", "{}", h2), KEEL_EINVAL);
    CHECK_EQ_INT(keel_audit_hash("g000000000000000000000000000000000000000000000000000000000000000",
                                 1, 0, "a", "b", "c", "{}", h2),
                 KEEL_EINVAL);
    CHECK_EQ_INT(keel_audit_hash(h1, 1, 0, NULL, "b", "c", "{}", h2), KEEL_EINVAL);
}

/* ---- append and verify ---------------------------------------------------------------- */

TEST(audit_append_then_verify)
{
    keel_store *s = open_store("a.db");
    REQUIRE(s);
    int64_t seq = -1;
    char hash[65];
    CHECK_EQ_INT(keel_audit_head(s, &seq, hash), KEEL_OK);
    CHECK_EQ_INT(seq, 0);
    CHECK_STR(hash, "0000000000000000000000000000000000000000000000000000000000000000");
    keel_audit_verify_result r = verify(s, NULL);
    CHECK(r.ok);
    CHECK_EQ_INT(r.n_events, 0);

    /* Outside a transaction: refused, nothing written. */
    CHECK_EQ_INT(keel_audit_append(s, 0, "a", "b", "c", NULL, &seq), KEEL_ESTATE);
    CHECK_EQ_INT(seq, 0);
    CHECK(has(keel_store_errmsg(s), "transaction"));

    CHECK_EQ_INT(append_n(s, 10), KEEL_OK);
    /* A rolled-back append leaves no trace. */
    CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
    CHECK_EQ_INT(keel_audit_append(s, 0, "bob", "x", "y", NULL, &seq), KEEL_OK);
    CHECK_EQ_INT(seq, 11);
    CHECK_EQ_INT(keel_store_rollback(s), KEEL_OK);
    /* time 0 means now; details NULL is stored as {}. */
    int64_t before = keel_wall_micros();
    CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
    CHECK_EQ_INT(keel_audit_append(s, 0, "bob", "registry.create", "registry", NULL, &seq),
                 KEEL_OK);
    CHECK_EQ_INT(keel_store_commit(s), KEEL_OK);
    CHECK_EQ_INT(seq, 11);
    int64_t t = 0;
    CHECK_EQ_INT(keel_store_int(s, &t, "SELECT time FROM audit_events WHERE seq = 11", NULL),
                 KEEL_OK);
    CHECK(t >= before && t <= keel_wall_micros());
    keel_stmt *st;
    CHECK_EQ_INT(keel_store_query(s, &st,
                                  "SELECT details, prev_hash, hash FROM audit_events "
                                  "WHERE seq = 11",
                                  NULL),
                 KEEL_OK);
    CHECK_EQ_INT(keel_stmt_step(st), KEEL_STORE_ROW);
    CHECK_STR(keel_stmt_text(st, 0), "{}");
    char prev[65];
    int64_t head = 0;
    keel_stmt *st10;
    CHECK_EQ_INT(keel_store_query(s, &st10, "SELECT hash FROM audit_events WHERE seq = 10", NULL),
                 KEEL_OK);
    CHECK_EQ_INT(keel_stmt_step(st10), KEEL_STORE_ROW);
    snprintf(prev, sizeof prev, "%s", keel_stmt_text(st10, 0));
    keel_stmt_finalize(st10);
    CHECK_STR(keel_stmt_text(st, 1), prev);
    char want[65];
    CHECK_EQ_INT(keel_audit_hash(prev, 11, t, "bob", "registry.create", "registry", "{}", want),
                 KEEL_OK);
    CHECK_STR(keel_stmt_text(st, 2), want);
    CHECK_EQ_INT(keel_audit_head(s, &head, hash), KEEL_OK);
    CHECK_EQ_INT(head, 11);
    CHECK_STR(hash, want);
    keel_stmt_finalize(st);

    r = verify(s, NULL);
    CHECK(r.ok);
    CHECK_EQ_INT(r.n_events, 11);
    CHECK_EQ_INT(r.head_seq, 11);
    CHECK_EQ_INT(r.first_bad, 0);
    CHECK_STR(r.reason, "");
    /* The triggers stop edits through keel's own connection. */
    CHECK(keel_store_exec(s, "UPDATE audit_events SET actor = 'eve' WHERE seq = 2") != KEEL_OK);
    CHECK(keel_store_exec(s, "DELETE FROM audit_events WHERE seq = 2") != KEEL_OK);
    keel_store_close(s);
}

static uint64_t progress_done;
static void on_progress(void *ud, uint64_t done, uint64_t total, const char *what)
{
    (void)ud;
    (void)what;
    if (done <= total) progress_done = done;
}

TEST(audit_verify_reports_progress)
{
    keel_store *s = open_store("p.db");
    REQUIRE(s);
    CHECK_EQ_INT(append_n(s, 5), KEEL_OK);
    keel_audit_verify_options o = {0};
    o.progress = on_progress;
    keel_audit_verify_result r = verify(s, &o);
    CHECK(r.ok);
    CHECK_EQ_INT(progress_done, 5);
    keel_store_close(s);
}

/* ---- tampering ------------------------------------------------------------------------ */

TEST(audit_detects_edited_event)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET details = '{\"version\":99}' "
                                    "WHERE seq = 4"),
                 KEEL_OK);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 4, "edited");
    CHECK_EQ_INT(r.n_events, 10);
    CHECK_EQ_INT(r.head_seq, 10);
    /* A damaged hash at the head: appending refuses to chain onto it. */
    CHECK_EQ_INT(keel_store_exec(s, "UPDATE audit_events SET hash = 'zz' WHERE seq = 10"), KEEL_OK);
    int64_t seq;
    char hash[65];
    CHECK_EQ_INT(keel_audit_head(s, &seq, hash), KEEL_EFORMAT);
    CHECK_EQ_INT(seq, 0);
    CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
    CHECK_EQ_INT(keel_audit_append(s, 0, "a", "b", "c", NULL, &seq), KEEL_EFORMAT);
    CHECK(has(keel_store_errmsg(s), "damaged"));
    keel_store_rollback(s);
    keel_store_close(s);
}

TEST(audit_detects_edited_type_and_nul)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    /* The same text as a blob with a NUL and more after it: C sees the same string, so the
     * column type and length are checked, not only the hash. */
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET actor = CAST(actor || x'00' || "
                                    "'evil' AS BLOB) WHERE seq = 6"),
                 KEEL_OK);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 6, "malformed");
    CHECK_EQ_INT(keel_store_exec(s, "UPDATE audit_events SET time = 'soon' WHERE seq = 3"),
                 KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 3, "time");
    keel_store_close(s);
}

TEST(audit_detects_deleted_event)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                                    "DELETE FROM audit_events WHERE seq = 5"),
                 KEEL_OK);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 5, "deleted");
    CHECK(has(r.reason, "event 5 is missing"));
    CHECK_EQ_INT(r.n_events, 9);
    /* Several in a row, and the very first. */
    CHECK_EQ_INT(keel_store_exec(s, "DELETE FROM audit_events WHERE seq IN (1, 2)"), KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 1, "events 1 to 2 are missing");
    keel_store_close(s);
}

TEST(audit_detects_swapped_events)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(
                     s, "DROP TRIGGER audit_events_no_update;"
                        "CREATE TEMP TABLE t AS SELECT * FROM audit_events WHERE seq IN (3, 6);"
                        "UPDATE audit_events SET (time, actor, action, object, details, prev_hash,"
                        " hash) = (SELECT time, actor, action, object, details, prev_hash, hash "
                        "FROM t WHERE t.seq = 9 - audit_events.seq) WHERE seq IN (3, 6)"),
                 KEEL_OK);
    int64_t v = 0;
    CHECK_EQ_INT(keel_store_int(s, &v,
                                "SELECT count(*) FROM audit_events WHERE seq = 3 AND "
                                "object = 'model:churn:6'",
                                NULL),
                 KEEL_OK);
    CHECK_EQ_INT(v, 1);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 3, "reordered");
    keel_store_close(s);
}

/* Renumbers events from seq `from` up by one (through negative numbers, so that the primary
 * key never collides mid-statement) and inserts a forged event at `from`. When chained is
 * true the forger computes prev_hash and hash correctly. */
static void insert_forged(keel_store *s, int64_t from, bool chained)
{
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER IF EXISTS audit_events_no_update"), KEEL_OK);
    CHECK_EQ_INT(keel_store_run(s, "UPDATE audit_events SET seq = -seq WHERE seq >= ?", "i", from),
                 KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(s, "UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0"),
                 KEEL_OK);
    keel_stmt *st;
    char prev[65] = "", hash[65];
    CHECK_EQ_INT(
        keel_store_query(s, &st, "SELECT hash FROM audit_events WHERE seq = ?", "i", from - 1),
        KEEL_OK);
    if (keel_stmt_step(st) == KEEL_STORE_ROW)
        snprintf(prev, sizeof prev, "%s", keel_stmt_text(st, 0));
    keel_stmt_finalize(st);
    if (!chained) memset(prev, 'a', 64);
    int64_t t = 1700000000000000;
    CHECK_EQ_INT(
        keel_audit_hash(prev, from, t, "mallory", "model.alias.set", "model:churn:1", "{}", hash),
        KEEL_OK);
    CHECK_EQ_INT(keel_store_run(s,
                                "INSERT INTO audit_events(seq, time, actor, action, object, "
                                "details, prev_hash, hash) VALUES (?, ?, 'mallory', "
                                "'model.alias.set', 'model:churn:1', '{}', ?, ?)",
                                "iiss", from, t, (const char *)prev, (const char *)hash),
                 KEEL_OK);
}

TEST(audit_detects_inserted_event)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    /* A forger who chains the new event correctly to event 5: event 6 itself is consistent,
     * so the first event that betrays it is the old event 6, now numbered 7. */
    insert_forged(s, 6, true);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 7, "inserted");
    CHECK_EQ_INT(r.n_events, 11);
    keel_store_close(s);

    s = open_store("u.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    insert_forged(s, 6, false); /* a careless forger: caught at the forged event itself */
    r = verify(s, NULL);
    CHECK_BAD(r, 6, "inserted");
    keel_store_close(s);
}

TEST(audit_detects_changed_seq)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET seq = 50 WHERE seq = 5"),
                 KEEL_OK);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 5, "missing");
    CHECK_EQ_INT(r.head_seq, 50);
    /* Moved into its own gap's place the other way: the last event renumbered to fill a
     * hole it cannot fill (its hash covers its seq). */
    CHECK_EQ_INT(keel_store_exec(s, "UPDATE audit_events SET seq = 5 WHERE seq = 50;"
                                    "UPDATE audit_events SET seq = 11 WHERE seq = 10"),
                 KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 10, "missing");
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                                    "DELETE FROM audit_events WHERE seq = 9;"
                                    "UPDATE audit_events SET seq = 9 WHERE seq = 11"),
                 KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 9, "reordered");
    keel_store_close(s);
}

TEST(audit_detects_truncation_by_checkpoint)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    REQUIRE(k.has_secret);
    keel_audit_checkpoint cp;
    keel_error e;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &cp, &e), KEEL_OK);
    CHECK_EQ_INT(cp.seq, 10);
    keel_audit_verify_options o = {0};
    o.public_key = k.pk;
    keel_audit_verify_result r = verify(s, &o);
    CHECK(r.ok);
    CHECK_EQ_INT(r.n_checkpoints, 1);
    CHECK_EQ_INT(r.checkpoint_seq, 10);
    /* Cut the last three events: what is left is a valid chain, but the checkpoint names 10. */
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                                    "DELETE FROM audit_events WHERE seq > 7"),
                 KEEL_OK);
    r = verify(s, &o);
    CHECK_BAD(r, 8, "truncated");
    CHECK_EQ_INT(r.head_seq, 7);
    CHECK_EQ_INT(r.checkpoint_seq, 0);
    /* A new checkpoint would legitimise the cut: refused. */
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &cp, &e), KEEL_ESTATE);
    CHECK(has(e.msg, "removed"));
    /* All of it gone: still truncated, first_bad 1. */
    CHECK_EQ_INT(keel_store_exec(s, "DELETE FROM audit_events"), KEEL_OK);
    r = verify(s, &o);
    CHECK_BAD(r, 1, "truncated");
    keel_store_close(s);
}

TEST(audit_detects_rewritten_chain_under_checkpoint)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    keel_error e;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, NULL, &e), KEEL_OK);
    /* Edit event 4 and rehash 4..10 consistently: the chain is valid again, but event 10
     * no longer has the hash the checkpoint signed. */
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET actor = 'eve' WHERE seq = 4"),
                 KEEL_OK);
    for (int64_t seq = 4; seq <= 10; seq++) {
        keel_stmt *st;
        char prev[65], hash[65];
        CHECK_EQ_INT(keel_store_query(s, &st,
                                      "SELECT (SELECT hash FROM audit_events WHERE seq = a.seq - "
                                      "1), time, actor, action, object, details FROM "
                                      "audit_events a WHERE seq = ?",
                                      "i", seq),
                     KEEL_OK);
        REQUIRE(keel_stmt_step(st) == KEEL_STORE_ROW);
        snprintf(prev, sizeof prev, "%s", keel_stmt_text(st, 0));
        CHECK_EQ_INT(keel_audit_hash(prev, seq, keel_stmt_int(st, 1), keel_stmt_text(st, 2),
                                     keel_stmt_text(st, 3), keel_stmt_text(st, 4),
                                     keel_stmt_text(st, 5), hash),
                     KEEL_OK);
        keel_stmt_finalize(st);
        CHECK_EQ_INT(keel_store_run(s,
                                    "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE "
                                    "seq = ?",
                                    "ssi", (const char *)prev, (const char *)hash, seq),
                     KEEL_OK);
    }
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 10, "signed");
    /* Without the checkpoint the rewrite would pass: this is what checkpoints are for. */
    CHECK_EQ_INT(keel_store_exec(s, "DELETE FROM audit_checkpoints"), KEEL_OK);
    r = verify(s, NULL);
    CHECK(r.ok);
    keel_store_close(s);
}

TEST(audit_detects_forged_checkpoint_signature)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    keel_error e;
    keel_audit_checkpoint cp;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &cp, &e), KEEL_OK);
    /* Flip one signature digit. */
    char sig[129];
    memcpy(sig, cp.signature, sizeof sig);
    sig[10] = sig[10] == '0' ? '1' : '0';
    CHECK_EQ_INT(
        keel_store_run(s, "UPDATE audit_checkpoints SET signature = ?", "s", (const char *)sig),
        KEEL_OK);
    keel_audit_verify_result r = verify(s, NULL);
    CHECK_BAD(r, 10, "invalid signature");
    /* A checkpoint whose time was moved: the signature covers it too. */
    CHECK_EQ_INT(keel_store_run(s, "UPDATE audit_checkpoints SET signature = ?, time = time + 1",
                                "s", (const char *)cp.signature),
                 KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 10, "invalid signature");
    /* A malformed row. */
    CHECK_EQ_INT(keel_store_exec(s, "UPDATE audit_checkpoints SET hash = 'xyz'"), KEEL_OK);
    r = verify(s, NULL);
    CHECK_BAD(r, 10, "malformed");
    keel_store_close(s);
}

TEST(audit_detects_checkpoint_by_another_key)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key mine = make_key("mine"), theirs = make_key("theirs");
    REQUIRE(mine.has_secret && theirs.has_secret);
    CHECK(memcmp(mine.pk, theirs.pk, 32) != 0);
    keel_error e;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &theirs, NULL, NULL, &e), KEEL_OK);
    keel_audit_verify_options o = {0};
    o.public_key = mine.pk;
    keel_audit_verify_result r = verify(s, &o);
    CHECK_BAD(r, 10, "another key");
    o.public_key = NULL; /* checked against its own key only: fine */
    r = verify(s, &o);
    CHECK(r.ok);
    o.public_key = theirs.pk;
    r = verify(s, &o);
    CHECK(r.ok);
    keel_store_close(s);
}

TEST(audit_head_file_catches_truncation)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    char head[512];
    tmp_path(head, sizeof head, "audit-head.json");
    keel_error e;
    keel_audit_checkpoint cp, back;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head, &cp, &e), KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &back, &e), KEEL_OK);
    CHECK_EQ_INT(back.seq, 10);
    CHECK_STR(back.hash, cp.hash);
    CHECK_STR(back.signature, cp.signature);
    CHECK_EQ_INT(back.time, cp.time);
    keel_audit_verify_options o = {0};
    o.public_key = k.pk;
    o.head_file = head;
    keel_audit_verify_result r = verify(s, &o);
    CHECK(r.ok);
    CHECK_EQ_INT(r.n_checkpoints, 2);
    /* Cut the tail and every checkpoint row: the head file outside the database remains. */
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                                    "DELETE FROM audit_events WHERE seq > 7;"
                                    "DELETE FROM audit_checkpoints"),
                 KEEL_OK);
    r = verify(s, &o);
    CHECK_BAD(r, 8, "truncated");
    CHECK(has(r.reason, "head file"));
    o.head_file = NULL;
    r = verify(s, &o); /* without it the cut cannot be seen */
    CHECK(r.ok);
    /* The head file never moves backwards, and a checkpoint is not signed over the cut. */
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head, &cp, &e), KEEL_ESTATE);
    CHECK(has(e.msg, "removed"));
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &back, &e), KEEL_OK);
    CHECK_EQ_INT(back.seq, 10);
    /* A missing head file is no error (nothing checkpointed there yet); a damaged one is. */
    o.head_file = head;
    FILE *f = fopen(head, "w");
    REQUIRE(f);
    fputs("{\"seq\":", f);
    fclose(f);
    keel_audit_verify_result rr;
    CHECK_EQ_INT(keel_audit_verify(s, &o, &rr, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, head));
    unlink(head);
    r = verify(s, &o);
    CHECK(r.ok);
    keel_store_close(s);
}

TEST(audit_external_checkpoint)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    keel_error e;
    keel_audit_checkpoint kept;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &kept, &e), KEEL_OK);
    REQUIRE(append_n(s, 5) == KEEL_OK);
    keel_audit_verify_options o = {0};
    o.external = &kept;
    keel_audit_verify_result r = verify(s, &o);
    CHECK(r.ok);
    CHECK_EQ_INT(r.checkpoint_seq, 10);
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_delete;"
                                    "DELETE FROM audit_events WHERE seq > 6;"
                                    "DELETE FROM audit_checkpoints"),
                 KEEL_OK);
    r = verify(s, &o);
    CHECK_BAD(r, 7, "truncated");
    CHECK(has(r.reason, "external"));
    keel_audit_checkpoint bad = kept;
    bad.hash[0] = 'X';
    CHECK_EQ_INT(keel_audit_verify(s, &(keel_audit_verify_options){.external = &bad}, &r, &e),
                 KEEL_EINVAL);
    keel_store_close(s);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

TEST(audit_concurrent_writers_and_checkpoints)
{
    /* Processes appending and checkpointing into one registry at once: every append chains
     * onto the true head, and the head file only ever moves forward. */
    keel_store *s = open_store("c.db");
    REQUIRE(s);
    keel_audit_key k = make_key("keys");
    REQUIRE(k.has_secret);
    char db[512], head[512];
    tmp_path(db, sizeof db, "c.db");
    tmp_path(head, sizeof head, "head.json");
    enum { N = 4, EACH = 15 };
    pid_t pid[N];
    for (int i = 0; i < N; i++) {
        pid[i] = fork();
        REQUIRE(pid[i] >= 0);
        if (pid[i] == 0) {
            keel_store *cs;
            keel_error e;
            int ok = keel_store_open(&keel_store_sqlite, db, &cs, &e) == KEEL_OK;
            for (int j = 0; ok && j < EACH; j++) {
                ok = keel_store_begin(cs) == KEEL_OK &&
                     keel_audit_append(cs, 0, "w", "x", "y", NULL, NULL) == KEEL_OK &&
                     keel_store_commit(cs) == KEEL_OK &&
                     keel_audit_checkpoint_now(cs, &k, head, NULL, &e) == KEEL_OK;
                keel_audit_checkpoint hf;
                if (ok && keel_audit_checkpoint_read(head, &hf, &e) != KEEL_OK) ok = 0;
            }
            if (ok) keel_store_close(cs);
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(pid[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    keel_audit_verify_options o = {0};
    o.public_key = k.pk;
    o.head_file = head;
    keel_audit_verify_result r = verify(s, &o);
    CHECK(r.ok);
    CHECK_EQ_INT(r.n_events, N * EACH);
    CHECK_EQ_INT(r.checkpoint_seq, N * EACH);
    keel_audit_checkpoint hf;
    keel_error e;
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &hf, &e), KEEL_OK);
    CHECK_EQ_INT(hf.seq, N * EACH);
    keel_store_close(s);
}

TEST(audit_checkpoint_now_is_idempotent_and_forward_only)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    keel_audit_key k = make_key("keys");
    char head[512];
    tmp_path(head, sizeof head, "head.json");
    keel_error e;
    keel_audit_checkpoint cp, cp2;
    /* Empty chain: nothing signed, no file. */
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head, &cp, &e), KEEL_OK);
    CHECK_EQ_INT(cp.seq, 0);
    CHECK(access(head, F_OK) != 0);
    REQUIRE(append_n(s, 5) == KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &cp, &e), KEEL_OK);
    CHECK_EQ_INT(cp.seq, 5);
    /* Again with no new events: the same checkpoint, and now the file catches up. */
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head, &cp2, &e), KEEL_OK);
    CHECK_EQ_INT(cp2.seq, 5);
    CHECK_STR(cp2.signature, cp.signature);
    int64_t n = 0;
    CHECK_EQ_INT(keel_store_int(s, &n, "SELECT count(*) FROM audit_checkpoints", NULL), KEEL_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &cp2, &e), KEEL_OK);
    CHECK_EQ_INT(cp2.seq, 5);
    REQUIRE(append_n(s, 3) == KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head, &cp, &e), KEEL_OK);
    CHECK_EQ_INT(cp.seq, 8);
    CHECK_EQ_INT(keel_audit_checkpoint_read(head, &cp2, &e), KEEL_OK);
    CHECK_EQ_INT(cp2.seq, 8);
    /* A head file ahead of this chain (another registry's, say) is never replaced. */
    keel_store *other = open_store("o.db");
    REQUIRE(other);
    REQUIRE(append_n(other, 20) == KEEL_OK);
    char head2[512];
    tmp_path(head2, sizeof head2, "head2.json");
    CHECK_EQ_INT(keel_audit_checkpoint_now(other, &k, head2, NULL, &e), KEEL_OK);
    REQUIRE(append_n(s, 1) == KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, head2, &cp, &e), KEEL_ESTATE);
    CHECK_EQ_INT(keel_audit_checkpoint_read(head2, &cp2, &e), KEEL_OK);
    CHECK_EQ_INT(cp2.seq, 20);
    /* A transaction open: refused. Public key only: refused. */
    CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, &cp, &e), KEEL_ESTATE);
    keel_store_rollback(s);
    keel_audit_key pub = k;
    pub.has_secret = false;
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &pub, NULL, &cp, &e), KEEL_EINVAL);
    keel_store_close(other);
    keel_store_close(s);
}

TEST(audit_checkpoint_refuses_broken_chain)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    keel_audit_key k = make_key("keys");
    keel_error e;
    REQUIRE(append_n(s, 6) == KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, NULL, &e), KEEL_OK);
    REQUIRE(append_n(s, 4) == KEEL_OK);
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET details = '{}' WHERE seq = 8"),
                 KEEL_OK);
    CHECK_EQ_INT(keel_audit_checkpoint_now(s, &k, NULL, NULL, &e), KEEL_ESTATE);
    CHECK(has(e.msg, "event 8"));
    keel_store_close(s);
}

TEST(audit_checkpoint_json_reads_back)
{
    keel_audit_checkpoint cp = {.seq = 9, .time = 1764000000123456}, back;
    memset(cp.hash, 'a', 64);
    memset(cp.public_key, 'b', 64);
    memset(cp.signature, 'c', 128);
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_audit_checkpoint_json(&cp, &b), KEEL_OK);
    CHECK(has(b.data, "\"time_iso\":\"2025-11-24T16:00:00.123456Z\""));
    keel_error e;
    CHECK_EQ_INT(keel_audit_checkpoint_parse(b.data, b.len, &back, &e), KEEL_OK);
    CHECK_EQ_INT(back.seq, 9);
    CHECK_EQ_INT(back.time, cp.time);
    CHECK_STR(back.hash, cp.hash);
    CHECK_STR(back.signature, cp.signature);
    keel_audit_verify_result r = {.ok = false, .n_events = 3, .first_bad = 2};
    snprintf(r.reason, sizeof r.reason, "hash \"x\" edited");
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_audit_verify_result_json(&r, &b), KEEL_OK);
    CHECK(has(b.data, "\"ok\":false,\"events\":3,"));
    CHECK(has(b.data, "\"reason\":\"hash \\\"x\\\" edited\"}"));
    keel_buf_free(&b);
}

TEST(audit_checkpoint_parse_accepts_only_checkpoints)
{
    keel_audit_checkpoint cp;
    keel_error e;
    const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char text[1024];
    snprintf(text, sizeof text,
             " {\"seq\":12,\"time\":1700000000000001,\"hash\":\"%s\",\"public_key\":\"%s\","
             "\"signature\":\"%s%s\",\"note\":\"ignored\"}\n",
             h, h, h, h);
    CHECK_EQ_INT(keel_audit_checkpoint_parse(text, strlen(text), &cp, &e), KEEL_OK);
    CHECK_EQ_INT(cp.seq, 12);
    CHECK_EQ_INT(cp.time, 1700000000000001);
    CHECK_STR(cp.hash, h);
    CHECK_EQ_INT(strlen(cp.signature), 128);
    const char *bad[] = {
        "",
        "[]",
        "{\"seq\":0}",
        "{\"seq\":1.0}",
        "{\"seq\":1e3}",
        "{\"seq\":99999999999999999999}",
        "{\"seq\":-1}",
        "{\"seq\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(keel_audit_checkpoint_parse(bad[i], strlen(bad[i]), &cp, &e), KEEL_EFORMAT);
        CHECK_EQ_INT(cp.seq, 0);
    }
    /* Upper-case hex, a short signature, a missing field. */
    char t2[1024];
    snprintf(t2, sizeof t2,
             "{\"seq\":1,\"time\":1,\"hash\":\"%.63sA\",\"public_key\":\"%s\","
             "\"signature\":\"%s%s\"}",
             h, h, h, h);
    CHECK_EQ_INT(keel_audit_checkpoint_parse(t2, strlen(t2), &cp, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, "hash"));
    snprintf(t2, sizeof t2,
             "{\"seq\":1,\"time\":1,\"hash\":\"%s\",\"public_key\":\"%s\","
             "\"signature\":\"%s\"}",
             h, h, h);
    CHECK_EQ_INT(keel_audit_checkpoint_parse(t2, strlen(t2), &cp, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, "signature"));
    snprintf(t2, sizeof t2, "{\"seq\":1,\"hash\":\"%s\"}", h);
    CHECK_EQ_INT(keel_audit_checkpoint_parse(t2, strlen(t2), &cp, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, "time"));
    char path[512];
    tmp_path(path, sizeof path, "none.json");
    CHECK_EQ_INT(keel_audit_checkpoint_read(path, &cp, &e), KEEL_ENOENT);
}

/* ---- keys ----------------------------------------------------------------------------- */

TEST(audit_keys_create_load_and_check)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/home/keys", test_tmpdir());
    keel_audit_key k, k2;
    keel_error e;
    CHECK_EQ_INT(keel_audit_key_load(dir, 0, &k, &e), KEEL_ENOENT);
    CHECK_EQ_INT(keel_audit_key_load(dir, 1, &k, &e), KEEL_OK);
    CHECK(k.has_secret);
    struct stat st;
    CHECK_EQ_INT(stat(dir, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/audit.key", dir);
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(st.st_size, 129);
    CHECK_EQ_INT(keel_audit_key_load(dir, 0, &k2, &e), KEEL_OK);
    CHECK(k2.has_secret);
    CHECK(memcmp(k.pk, k2.pk, 32) == 0 && memcmp(k.sk, k2.sk, 64) == 0);
    /* The public key alone (an auditor's copy). */
    unlink(path);
    CHECK_EQ_INT(keel_audit_key_load(dir, 1, &k2, &e), KEEL_OK);
    CHECK(!k2.has_secret);
    CHECK(memcmp(k.pk, k2.pk, 32) == 0);
    /* Damaged files. */
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("not hex\n", f);
    fclose(f);
    chmod(path, 0600); /* (a key others may read is refused before it is read) */
    CHECK_EQ_INT(keel_audit_key_load(dir, 1, &k2, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, "audit.key"));
    CHECK(!k2.has_secret);
    /* A secret key whose halves disagree. */
    char hex[130];
    for (int i = 0; i < 128; i++)
        hex[i] = "0123456789abcdef"[i % 16];
    hex[128] = '\n';
    hex[129] = '\0';
    f = fopen(path, "w");
    fputs(hex, f);
    fclose(f);
    chmod(path, 0600);
    CHECK_EQ_INT(keel_audit_key_load(dir, 0, &k2, &e), KEEL_EFORMAT);
    /* A public key that does not belong to the secret one. */
    char dir2[512];
    snprintf(dir2, sizeof dir2, "%s/k2", test_tmpdir());
    CHECK_EQ_INT(keel_audit_key_load(dir2, 1, &k2, &e), KEEL_OK);
    char pub2[600];
    snprintf(pub2, sizeof pub2, "%s/audit.pub", dir2);
    snprintf(path, sizeof path, "%s/audit.pub", dir);
    CHECK_EQ_INT(rename(path, pub2), 0);
    snprintf(path, sizeof path, "%s/audit.key", dir);
    unlink(path);
    CHECK_EQ_INT(keel_audit_key_load(dir2, 0, &k2, &e), KEEL_EFORMAT);
    CHECK(has(e.msg, "does not match"));
}

TEST(audit_keys_concurrent_create_agree)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/race/keys", test_tmpdir());
    enum { N = 6 };
    int fds[N][2];
    pid_t pid[N];
    for (int i = 0; i < N; i++) {
        REQUIRE(pipe(fds[i]) == 0);
        pid[i] = fork();
        REQUIRE(pid[i] >= 0);
        if (pid[i] == 0) {
            keel_audit_key k;
            keel_error e;
            unsigned char out[33] = {0};
            if (keel_audit_key_load(dir, 1, &k, &e) == KEEL_OK && k.has_secret) {
                out[0] = 1;
                memcpy(out + 1, k.pk, 32);
            }
            ssize_t w = write(fds[i][1], out, sizeof out);
            _exit(w == (ssize_t)sizeof out ? 0 : 1);
        }
        close(fds[i][1]);
    }
    unsigned char first[33];
    for (int i = 0; i < N; i++) {
        unsigned char got[33] = {0};
        CHECK_EQ_INT(read(fds[i][0], got, sizeof got), (long)sizeof got);
        close(fds[i][0]);
        int status;
        waitpid(pid[i], &status, 0);
        CHECK_EQ_INT(got[0], 1);
        if (i == 0) memcpy(first, got, sizeof got);
        CHECK(memcmp(first, got, sizeof got) == 0);
    }
    keel_audit_key k;
    keel_error e;
    CHECK_EQ_INT(keel_audit_key_load(dir, 0, &k, &e), KEEL_OK);
    CHECK(memcmp(k.pk, first + 1, 32) == 0);
}

/* ---- export --------------------------------------------------------------------------- */

static int to_buf(void *ud, const char *p, size_t n)
{
    return keel_buf_append(ud, p, n);
}

static void add_event(keel_store *s, int64_t t, const char *actor, const char *details)
{
    CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
    CHECK_EQ_INT(keel_audit_append(s, t, actor, "model.alias.set", "model:churn:3", details, NULL),
                 KEEL_OK);
    CHECK_EQ_INT(keel_store_commit(s), KEEL_OK);
}

TEST(audit_export_jsonl)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    add_event(s, 1700000000000000, "alice", "{\"alias\":\"prod\",\n \"version\":3}");
    add_event(s, 1700000000500000, "bob \"the, builder\"\n", "{}");
    add_event(s, 1700000001000000, "carol", "{\"x\":[1,2]}");
    /* Tamper details into invalid JSON: the export must still be valid JSON. */
    CHECK_EQ_INT(keel_store_exec(s, "DROP TRIGGER audit_events_no_update;"
                                    "UPDATE audit_events SET details = '{broken' WHERE seq = 3"),
                 KEEL_OK);
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    int64_t n = 0;
    CHECK_EQ_INT(keel_audit_export(s, 0, KEEL_AUDIT_JSONL, to_buf, &b, &n, &e), KEEL_OK);
    CHECK_EQ_INT(n, 3);
    keel_json_doc *d = keel_json_doc_new();
    const char *line = b.data;
    for (int i = 1; i <= 3; i++) {
        const char *nl = strchr(line, '\n');
        REQUIRE(nl);
        REQUIRE(keel_json_parse(d, line, (size_t)(nl - line), &e) == KEEL_OK);
        const keel_json *r = keel_json_root(d);
        CHECK_EQ_INT(keel_json_num(keel_json_get(r, "seq"), 0), i);
        CHECK_STR(keel_json_str(keel_json_get(r, "action")), "model.alias.set");
        CHECK_EQ_INT(strlen(keel_json_str(keel_json_get(r, "hash"))), 64);
        CHECK_EQ_INT(strlen(keel_json_str(keel_json_get(r, "prev_hash"))), 64);
        const keel_json *det = keel_json_get(r, "details");
        if (i == 1) {
            CHECK_STR(keel_json_str(keel_json_get(r, "time")), "2023-11-14T22:13:20Z");
            CHECK_EQ_INT(keel_json_num(keel_json_get(r, "time_us"), 0), 1700000000000000);
            CHECK_STR(keel_json_str(keel_json_get(r, "actor")), "alice");
            CHECK_STR(keel_json_str(keel_json_get(det, "alias")), "prod");
            CHECK_EQ_INT(keel_json_num(keel_json_get(det, "version"), 0), 3);
            CHECK_STR(keel_json_str(keel_json_get(r, "prev_hash")),
                      "0000000000000000000000000000000000000000000000000000000000000000");
        } else if (i == 2) {
            CHECK_STR(keel_json_str(keel_json_get(r, "time")), "2023-11-14T22:13:20.500000Z");
            CHECK_STR(keel_json_str(keel_json_get(r, "actor")), "bob \"the, builder\"\n");
            CHECK(det && det->type == KEEL_JSON_OBJECT);
        } else {
            CHECK_STR(keel_json_str(det), "{broken");
        }
        line = nl + 1;
    }
    CHECK_EQ_INT(*line, '\0');
    /* since: events at or after the time. */
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_audit_export(s, 1700000000500000, KEEL_AUDIT_JSONL, to_buf, &b, &n, &e),
                 KEEL_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(strncmp(b.data, "{\"seq\":2,", 9) == 0);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_audit_export(s, 1800000000000000, KEEL_AUDIT_JSONL, to_buf, &b, &n, &e),
                 KEEL_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(b.len, 0);
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_store_close(s);
}

static int fail_second(void *ud, const char *p, size_t n)
{
    (void)p;
    (void)n;
    return ++*(int *)ud >= 2;
}

TEST(audit_export_csv)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    add_event(s, 1700000000000000, "alice", "{\"a\":1}");
    add_event(s, 1700000000000001, "bob, \"jr\"\nline2", "{}");
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    int64_t n = 0;
    CHECK_EQ_INT(keel_audit_export(s, 0, KEEL_AUDIT_CSV, to_buf, &b, &n, &e), KEEL_OK);
    CHECK_EQ_INT(n, 2);
    int64_t head;
    char h2[65], h1[65];
    keel_audit_head(s, &head, h2);
    keel_stmt *st;
    keel_store_query(s, &st, "SELECT hash FROM audit_events WHERE seq = 1", NULL);
    keel_stmt_step(st);
    snprintf(h1, sizeof h1, "%s", keel_stmt_text(st, 0));
    keel_stmt_finalize(st);
    char want[2048];
    snprintf(want, sizeof want,
             "seq,time,time_us,actor,action,object,details,prev_hash,hash\r\n"
             "1,2023-11-14T22:13:20Z,1700000000000000,alice,model.alias.set,model:churn:3,"
             "\"{\"\"a\"\":1}\",0000000000000000000000000000000000000000000000000000000000000000,"
             "%s\r\n"
             "2,2023-11-14T22:13:20.000001Z,1700000000000001,\"bob, \"\"jr\"\"\nline2\","
             "model.alias.set,model:churn:3,{},%s,%s\r\n",
             h1, h1, h2);
    CHECK_STR(b.data, want);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_audit_export(s, 1700000000000001, KEEL_AUDIT_CSV, to_buf, &b, &n, &e),
                 KEEL_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(strncmp(b.data, "seq,", 4) == 0 && strstr(b.data, "\r\n2,") != NULL);
    /* A failing writer stops the export. */
    int calls = 0;
    CHECK_EQ_INT(keel_audit_export(s, 0, KEEL_AUDIT_CSV, fail_second, &calls, &n, &e), KEEL_EIO);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(keel_audit_export(s, 0, 7, to_buf, &b, &n, &e), KEEL_EINVAL);
    keel_buf_free(&b);
    keel_store_close(s);
}

/* ---- out of memory -------------------------------------------------------------------- */

TEST(audit_out_of_memory_paths)
{
    keel_store *s = open_store("t.db");
    REQUIRE(s);
    REQUIRE(append_n(s, 10) == KEEL_OK);
    keel_audit_key k = make_key("keys");
    char head[512];
    tmp_path(head, sizeof head, "head.json");
    keel_error e;
    long start = test_alloc_live();

    /* keel_audit_hash allocates nothing. */
    long count = test_alloc_count();
    char h[65];
    CHECK_EQ_INT(keel_audit_hash("0000000000000000000000000000000000000000000000000000000000000000",
                                 1, 1, "a", "b", "c", "{}", h),
                 KEEL_OK);
    CHECK_EQ_INT(test_alloc_count(), count);

    int done = 0;
    for (long n = 1; n < 200 && !done; n++) { /* append */
        CHECK_EQ_INT(keel_store_begin(s), KEEL_OK);
        test_fail_alloc_after(n);
        int rc = keel_audit_append(s, 0, "a", "b", "c", "{}", NULL);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            done = 1;
            CHECK_EQ_INT(keel_store_commit(s), KEEL_OK);
        } else {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(has(keel_store_errmsg(s), "out of memory"));
            keel_store_rollback(s);
        }
        CHECK_EQ_INT(test_alloc_live(), start);
    }
    CHECK(done);

    done = 0;
    for (long n = 1; n < 200 && !done; n++) { /* checkpoint with head file */
        keel_audit_checkpoint cp;
        test_fail_alloc_after(n);
        int rc = keel_audit_checkpoint_now(s, &k, head, &cp, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            done = 1;
            CHECK_EQ_INT(cp.seq, 11);
        } else {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(has(e.msg, "out of memory"));
            CHECK(!s->in_transaction);
        }
        CHECK_EQ_INT(test_alloc_live(), start);
    }
    CHECK(done);

    keel_audit_verify_options o = {0};
    o.public_key = k.pk;
    o.head_file = head;
    done = 0;
    for (long n = 1; n < 200 && !done; n++) { /* verify */
        keel_audit_verify_result r;
        test_fail_alloc_after(n);
        int rc = keel_audit_verify(s, &o, &r, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) {
            done = 1;
            CHECK(r.ok);
            CHECK_EQ_INT(r.n_checkpoints, 2);
        } else {
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
            CHECK(has(e.msg, "out of memory"));
        }
        CHECK_EQ_INT(test_alloc_live(), start);
    }
    CHECK(done);

    for (int format = 0; format < 2; format++) {
        done = 0;
        for (long n = 1; n < 500 && !done; n++) { /* export */
            keel_buf b;
            keel_buf_init(&b);
            int64_t got;
            test_fail_alloc_after(n);
            int rc = keel_audit_export(s, 0, format, to_buf, &b, &got, &e);
            test_fail_alloc_after(0);
            keel_buf_free(&b);
            if (rc == KEEL_OK) {
                done = 1;
                CHECK_EQ_INT(got, 11);
            } else {
                /* the writer's own allocation failing reads as a failed write */
                CHECK(rc == KEEL_ENOMEM || rc == KEEL_EIO);
            }
            CHECK_EQ_INT(test_alloc_live(), start);
        }
        CHECK(done);
    }

    done = 0;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/oomkeys", test_tmpdir());
    for (long n = 1; n < 100 && !done; n++) { /* key load */
        keel_audit_key kk;
        test_fail_alloc_after(n);
        int rc = keel_audit_key_load(dir, 1, &kk, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK)
            done = 1;
        else
            CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK_EQ_INT(test_alloc_live(), start);
    }
    CHECK(done);
    keel_store_close(s);
}
