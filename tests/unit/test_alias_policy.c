/*
 * The alias policy as a state machine: a protected alias (champion) points only at an
 * approved version, after every step of every sequence of operations, whoever makes them.
 *
 * The exhaustive test walks every sequence of up to four operations over two versions and
 * three identities (the author, two approvers; all three may move aliases) and checks after
 * each step that (1) the registry answered what a small reference model of the policy says it
 * should (so a registry that refused everything would fail too), (2) no alias spelled like a
 * protected one, in any case, points at a version whose newest decision is not an approval by
 * someone other than its author, read with SQL of its own rather than through the library,
 * and (3) the champion is where the model says it is. There is no separate "revoke": a
 * rejection after an approval is what takes the approval away.
 *
 * To stay fast (seconds for ~90,000 operations), one registry serves every sequence: the walk
 * is depth first, and after a subtree it restores the rows the operations can change
 * (approvals and alias history only grow, as no operation here opens a request, so cutting
 * them back at the ids they had restores them; the aliases are copied and put back). The
 * audit trail keeps growing, which the policy does not read. The test turns off the store's
 * fsync on its own connections: durability is not what it checks.
 */
#include "harness.h"

#include "registry/registry.h"

#include <stdlib.h>

#define AUTHOR 0 /* ann: developer, operator; registered both versions */
#define N_WHO  3 /* ann, bob, cat (bob and cat: approver, operator) */
/* Every sequence of up to four operations in the plain build (the README's test command).
 * Under AddressSanitizer, where each signed write costs several times as much, up to three
 * (5,219 steps rather than 88,740): the policy's code is the same, and the plain run
 * covers the longer ones. */
#if defined(__SANITIZE_ADDRESS__)
#define MAX_STEPS 3
#else
#define MAX_STEPS 4
#endif

static const char *const who_name[N_WHO] = {"ann", "bob", "cat"};

enum op_kind { APPROVE, REJECT, SET, SET_OTHER_SPELLING, REMOVE };

typedef struct op {
    enum op_kind kind;
    int64_t version; /* 1 or 2; 0 for REMOVE */
    int who;
} op;

/* The reference model: each version's newest decision, and where the champion is. */
enum { NONE, APPROVED, REJECTED };
typedef struct state {
    int decision[3]; /* by version, [0] unused */
    int64_t champion;
} state;

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
    if (keel_registry_open(home(), actor, "test-host", &r, &e) != KEEL_OK)
        harness_fail(__FILE__, __LINE__, "open as %s: %s", actor, e.msg);
    return r;
}

/* A registry with model m at versions 1 and 2 by ann; bob and cat approve. The first
 * identity (root, the admin) only sets it up, so that nobody below has every role. */
static bool make_registry(void)
{
    char art[1100];
    snprintf(art, sizeof art, "%s/model.keel", test_tmpdir());
    FILE *f = fopen(art, "wb");
    if (!f) return false;
    fputs("pretend this is a model artifact", f);
    fclose(f);
    keel_registry *r = open_as("root");
    if (!r) return false;
    int rc = keel_registry_user_set(r, "ann", KEEL_ACCESS_DEVELOPER | KEEL_ACCESS_OPERATOR) |
             keel_registry_user_set(r, "bob", KEEL_ACCESS_APPROVER | KEEL_ACCESS_OPERATOR) |
             keel_registry_user_set(r, "cat", KEEL_ACCESS_APPROVER | KEEL_ACCESS_OPERATOR);
    keel_registry_close(r);
    if (rc != KEEL_OK || !(r = open_as("ann"))) return false;
    int64_t v1 = 0, v2 = 0;
    rc = keel_registry_model_register(r, "m", art, 0, NULL, NULL, &v1) |
         keel_registry_model_register(r, "m", art, 0, NULL, NULL, &v2);
    keel_registry_close(r);
    return rc == KEEL_OK && v1 == 1 && v2 == 2;
}

static int run_op(keel_registry *const *as, op o)
{
    keel_registry *r = as[o.who];
    int64_t id = 0;
    switch (o.kind) {
    case APPROVE:
        return keel_registry_approval_decide(r, "m", o.version, 1, NULL, &id);
    case REJECT:
        return keel_registry_approval_decide(r, "m", o.version, 0, NULL, &id);
    case SET:
        return keel_registry_alias_set(r, "m", "champion", o.version, NULL);
    case SET_OTHER_SPELLING:
        return keel_registry_alias_set(r, "m", "Champion", o.version, NULL);
    case REMOVE:
        return keel_registry_alias_set(r, "m", "champion", 0, NULL);
    }
    return KEEL_EINVAL;
}

/* What the policy says op does to s: the code it returns, and s changed when it succeeds. */
static int expect(state *s, op o)
{
    switch (o.kind) {
    case APPROVE:
        if (o.who == AUTHOR) return KEEL_EPERM; /* four-eyes */
        s->decision[o.version] = APPROVED;
        return KEEL_OK;
    case REJECT:
        if (o.who == AUTHOR) return KEEL_EPERM;
        if (s->champion == o.version) return KEEL_EPERM; /* move or remove the alias first */
        s->decision[o.version] = REJECTED;
        return KEEL_OK;
    case SET:
        if (s->decision[o.version] != APPROVED) return KEEL_EPERM;
        s->champion = o.version;
        return KEEL_OK;
    case SET_OTHER_SPELLING:
        return KEEL_EPERM;
    case REMOVE:
        if (!s->champion) return KEEL_ENOENT;
        s->champion = 0;
        return KEEL_OK;
    }
    return KEEL_EINVAL;
}

static void describe(char *buf, size_t cap, const op *seq, int n)
{
    static const char *const kind[] = {"approves", "rejects", "sets champion to",
                                       "sets Champion to", "removes champion"};
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s", i ? "; " : "",
                                who_name[seq[i].who], kind[seq[i].kind]);
        if (seq[i].version && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, " m:%lld", (long long)seq[i].version);
    }
}

/* After a step: the aliases of any spelling of champion that point at a version whose newest
 * decision is not an approval by someone other than its author (the invariant: none), where
 * the champion points (0: nowhere) and how many aliases there are. Plain SQL: it does not
 * trust the library's reading of the policy. */
static const char check_sql[] =
    "SELECT (SELECT count(*) FROM aliases a WHERE lower(a.alias) = 'champion' AND coalesce(("
    "  SELECT p.status = 'approved' AND p.reviewer != v.author"
    "  FROM approvals p JOIN model_versions v ON v.model = p.model AND v.version = p.version"
    "  WHERE p.model = a.model AND p.version = a.version AND p.status != 'pending'"
    "  ORDER BY p.id DESC LIMIT 1), 0) = 0),"
    " coalesce((SELECT version FROM aliases WHERE alias = 'champion'), 0),"
    " (SELECT count(*) FROM aliases),"
    " (SELECT coalesce(max(id), 0) FROM approvals),"
    " (SELECT coalesce(max(id), 0) FROM alias_history)";

typedef struct walk {
    keel_registry *as[N_WHO];
    keel_store *db;
    keel_stmt *check; /* check_sql, prepared once (parsing it each time would double the cost) */
    op alphabet[32];
    int n_alphabet;
    op seq[MAX_STEPS];
    long steps, refused, failures;
} walk;

/* The rows the operations change, to put back after a subtree. */
typedef struct saved {
    int64_t approvals, history; /* the largest ids */
    int n_aliases;
    char alias[4][16];
    int64_t version[4];
} saved;

static bool save(walk *w, saved *sv)
{
    memset(sv, 0, sizeof *sv);
    keel_stmt *st;
    /* one row per alias, and one more with the largest ids */
    if (keel_store_query(w->db, &st,
                         "SELECT alias, version, NULL FROM aliases UNION ALL "
                         "SELECT NULL, (SELECT coalesce(max(id), 0) FROM approvals), "
                         "(SELECT coalesce(max(id), 0) FROM alias_history)",
                         NULL))
        return false;
    int rc;
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        const char *a = keel_stmt_text(st, 0);
        if (!a) {
            sv->approvals = keel_stmt_int(st, 1);
            sv->history = keel_stmt_int(st, 2);
        } else if (sv->n_aliases < 4) {
            snprintf(sv->alias[sv->n_aliases], sizeof sv->alias[0], "%s", a);
            sv->version[sv->n_aliases++] = keel_stmt_int(st, 1);
        }
    }
    keel_stmt_finalize(st);
    return rc >= 0;
}

static bool restore(walk *w, const saved *sv)
{
    int rc = keel_store_begin(w->db);
    /* history first: its rows refer to approvals */
    rc |= keel_store_run(w->db, "DELETE FROM alias_history WHERE id > ?", "i", sv->history);
    rc |= keel_store_run(w->db, "DELETE FROM approvals WHERE id > ?", "i", sv->approvals);
    rc |= keel_store_run(w->db, "DELETE FROM aliases", NULL);
    for (int i = 0; i < sv->n_aliases; i++)
        rc |= keel_store_run(w->db,
                             "INSERT INTO aliases(model, alias, version, set_at, set_by) "
                             "VALUES ('m', ?, ?, 0, 'test')",
                             "si", sv->alias[i], sv->version[i]);
    if (rc == KEEL_OK) return keel_store_commit(w->db) == KEEL_OK;
    keel_store_rollback(w->db);
    return false;
}

static void step(walk *w, const state *before, int depth)
{
    if (depth == MAX_STEPS || w->failures >= 5) return;
    saved sv;
    if (!save(w, &sv)) {
        harness_fail(__FILE__, __LINE__, "cannot save the rows at depth %d", depth);
        w->failures++;
        return;
    }
    for (int k = 0; k < w->n_alphabet && w->failures < 5; k++) {
        op o = w->alphabet[k];
        w->seq[depth] = o;
        state s = *before;
        int want = expect(&s, o);
        int got = run_op(w->as, o);
        w->steps++;
        w->refused += got != KEEL_OK;
        int64_t bad = -1, champion = -1, n_aliases = -1, approvals = -1, history = -1;
        keel_stmt *st = w->check;
        if (keel_stmt_step(st) == KEEL_STORE_ROW) {
            bad = keel_stmt_int(st, 0);
            champion = keel_stmt_int(st, 1);
            n_aliases = keel_stmt_int(st, 2);
            approvals = keel_stmt_int(st, 3);
            history = keel_stmt_int(st, 4);
        }
        keel_stmt_reset(st);
        if (got != want || bad != 0 || champion != s.champion ||
            n_aliases != (s.champion ? 1 : 0)) {
            char what[400];
            describe(what, sizeof what, w->seq, depth + 1);
            harness_fail(__FILE__, __LINE__,
                         "after %s: returned %d (want %d; %s), %lld aliases on a version not "
                         "approved, champion at %lld (want %lld), %lld aliases",
                         what, got, want,
                         got != KEEL_OK ? keel_registry_errmsg(w->as[o.who]) : "it succeeded",
                         (long long)bad, (long long)champion, (long long)s.champion,
                         (long long)n_aliases);
            w->failures++;
        }
        step(w, &s, depth + 1);
        /* Nothing to put back after a refusal that wrote no row (most of them): the same
         * approvals and history, and the one alias where it was. */
        bool unchanged =
            approvals == sv.approvals && history == sv.history && n_aliases == sv.n_aliases &&
            (n_aliases == 0 ||
             (n_aliases == 1 && !strcmp(sv.alias[0], "champion") && sv.version[0] == champion));
        if (!unchanged && !restore(w, &sv)) {
            harness_fail(__FILE__, __LINE__, "cannot restore the rows at depth %d", depth);
            w->failures++;
            return;
        }
    }
}

TEST(alias_policy_holds_after_every_step_of_every_sequence)
{
    REQUIRE(make_registry());
    walk *w = calloc(1, sizeof *w);
    REQUIRE(w);
    for (int i = 0; i < N_WHO; i++) {
        w->as[i] = open_as(who_name[i]);
        REQUIRE(w->as[i]);
        CHECK_EQ_INT(keel_store_exec(keel_registry_store(w->as[i]), "PRAGMA synchronous=OFF"),
                     KEEL_OK);
    }
    w->db = keel_registry_store(w->as[0]);
    REQUIRE(keel_store_prepare(w->db, check_sql, &w->check) == KEEL_OK);
    for (int64_t v = 1; v <= 2; v++) {
        for (int who = 0; who < N_WHO; who++) {
            w->alphabet[w->n_alphabet++] = (op){APPROVE, v, who};
            w->alphabet[w->n_alphabet++] = (op){REJECT, v, who};
        }
        /* the author sets the champion (an operator too), after someone else approved */
        w->alphabet[w->n_alphabet++] = (op){SET, v, AUTHOR};
        /* another spelling, by an approver who is an operator: never allowed */
        w->alphabet[w->n_alphabet++] = (op){SET_OTHER_SPELLING, v, 1};
    }
    w->alphabet[w->n_alphabet++] = (op){REMOVE, 0, 2};
    state start = {{NONE, NONE, NONE}, 0};
    step(w, &start, 0);
    /* 17 operations: 17 + 17^2 + ... + 17^MAX_STEPS steps */
    CHECK_EQ_INT(w->n_alphabet, 17);
    long want = 0, power = 1;
    for (int d = 1; d <= MAX_STEPS; d++)
        want += power *= 17;
    if (!w->failures) CHECK_EQ_INT(w->steps, want);
    /* both outcomes happened: the walk did exercise the policy, not just its refusals */
    CHECK(w->refused > 0 && w->refused < w->steps);
    keel_stmt_finalize(w->check);
    for (int i = 0; i < N_WHO; i++)
        keel_registry_close(w->as[i]);
    free(w);
}

static int64_t count(keel_registry *r, const char *sql)
{
    int64_t n = -1;
    keel_store_int(keel_registry_store(r), &n, sql, NULL);
    return n;
}

TEST(alias_policy_rejecting_the_champion_is_refused_and_audited)
{
    REQUIRE(make_registry());
    keel_registry *bob = open_as("bob"), *ann = open_as("ann");
    REQUIRE(bob && ann);
    int64_t id = 0;
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 1, "fine", &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "champion", 1, NULL), KEEL_OK);
    int64_t events = count(bob, "SELECT count(*) FROM audit_events");
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 0, "on second thoughts", &id),
                 KEEL_EPERM);
    const char *msg = keel_registry_errmsg(bob);
    CHECK(strstr(msg, "m@champion points at m:1") != NULL);
    CHECK(strstr(msg, "keel model alias m champion --remove") != NULL);
    /* the refusal is on the record, and nothing else changed */
    CHECK_EQ_INT(count(bob, "SELECT count(*) FROM audit_events"), events + 1);
    CHECK_EQ_INT(count(bob, "SELECT count(*) FROM audit_events WHERE action = 'access.denied' "
                            "AND object = 'model:m:1' AND actor = 'bob' AND details LIKE "
                            "'%m@champion points at%'"),
                 1);
    CHECK_EQ_INT(count(bob, "SELECT count(*) FROM approvals WHERE status = 'rejected'"), 0);
    /* approving it again is fine; another version can be rejected */
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 1, NULL, &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 2, 0, NULL, &id), KEEL_OK);
    /* once the alias is removed, the rejection goes through */
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "champion", 0, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 0, NULL, &id), KEEL_OK);
    /* ordinary aliases do not stop a rejection */
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "staging", 2, NULL), KEEL_OK);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 2, 0, NULL, &id), KEEL_OK);
    keel_registry_close(ann);
    keel_registry_close(bob);
}

TEST(alias_policy_protected_names_ignore_case)
{
    REQUIRE(make_registry());
    keel_registry *bob = open_as("bob"), *ann = open_as("ann");
    REQUIRE(bob && ann);
    CHECK_STR(keel_registry_alias_protected("champion"), "champion");
    CHECK_STR(keel_registry_alias_protected("CHAMPION"), "champion");
    CHECK_STR(keel_registry_alias_protected("cHaMpIoN"), "champion");
    CHECK(keel_registry_alias_protected("champions") == NULL);
    CHECK(keel_registry_alias_protected("champ") == NULL);
    CHECK(keel_registry_alias_protected("challenger") == NULL);
    int64_t id = 0;
    /* refused on an unapproved version, and on an approved one too: one spelling only */
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "CHAMPION", 1, NULL), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(ann), "keel model alias m champion 1") != NULL);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 1, NULL, &id), KEEL_OK);
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "Champion", 1, NULL), KEEL_EPERM);
    CHECK_EQ_INT(count(ann, "SELECT count(*) FROM aliases"), 0);
    CHECK_EQ_INT(count(ann, "SELECT count(*) FROM audit_events WHERE action = 'access.denied' "
                            "AND object LIKE 'alias:m@%hampion'"),
                 2);
    /* a developer who is no operator may not set it in any spelling */
    keel_registry *root = open_as("root");
    REQUIRE(root);
    CHECK_EQ_INT(keel_registry_user_set(root, "dev", KEEL_ACCESS_DEVELOPER), KEEL_OK);
    keel_registry_close(root);
    keel_registry *dev = open_as("dev");
    REQUIRE(dev);
    CHECK_EQ_INT(keel_registry_alias_set(dev, "m", "ChampioN", 1, NULL), KEEL_EPERM);
    CHECK_EQ_INT(keel_registry_alias_set(dev, "m", "champion", 1, NULL), KEEL_EPERM);

    /* A registry from before the rule may hold another spelling, set without an approval:
     * it cannot be resolved, it blocks a rejection like the champion does, and an operator
     * (not a developer) can remove it. */
    CHECK_EQ_INT(keel_store_run(keel_registry_store(ann),
                                "INSERT INTO aliases(model, alias, version, set_at, set_by) "
                                "VALUES ('m', 'Champion', 1, 0, 'old')",
                                NULL),
                 KEEL_OK);
    int64_t got = 0;
    CHECK_EQ_INT(keel_registry_model_resolve(ann, "m@Champion", NULL, &got, NULL), KEEL_EINVAL);
    CHECK(strstr(keel_registry_errmsg(ann), "m@champion") != NULL);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 0, NULL, &id), KEEL_EPERM);
    CHECK(strstr(keel_registry_errmsg(bob), "m@Champion points at m:1") != NULL);
    CHECK_EQ_INT(keel_registry_alias_set(dev, "m", "Champion", 0, NULL), KEEL_EPERM);
    CHECK_EQ_INT(keel_registry_alias_set(ann, "m", "Champion", 0, NULL), KEEL_OK);
    CHECK_EQ_INT(count(ann, "SELECT count(*) FROM aliases"), 0);
    CHECK_EQ_INT(keel_registry_approval_decide(bob, "m", 1, 0, NULL, &id), KEEL_OK);
    keel_registry_close(dev);
    keel_registry_close(ann);
    keel_registry_close(bob);
}
