/*
 * audit_bench.c — how fast the audit trail appends and verifies.
 *
 *   audit_bench [--appends N] [--events M] [--runs R] DIR
 *
 * 1. Append rate: N events (default 5,000), each in its own durable transaction
 *    (keel_store_begin; keel_audit_append; keel_store_commit), into a fresh database in DIR;
 *    R runs (default 3), median reported. Beside it, the rate of bare commits (one small
 *    INSERT into a scratch table per transaction) on the same disk, which bounds it: both pay
 *    one fsync of the WAL per commit.
 * 2. Verify: a chain of M events (default 1,000,000) built with keel_audit_append in
 *    transactions of 100,000, signed with keel_audit_checkpoint_now (which walks the events
 *    since the last checkpoint: here all of them), then keel_audit_verify over it with the
 *    head file and the public key; R runs, median reported.
 * Prints a table and one JSON line ("audit_bench {...}"). The goals: >= 2,000 appends/s and
 * verify of 1,000,000 events in < 10 s.
 */
#include "registry/audit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timing.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "audit_bench: %s: %s\n", what, msg);
    exit(1);
}

static keel_store *fresh_store(const char *dir, const char *name)
{
    char path[4096];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    keel_store *s;
    keel_error e;
    if (keel_store_open(&keel_store_sqlite, path, &s, &e) != KEEL_OK) die(path, e.msg);
    if (keel_store_migrate(s, NULL) != KEEL_OK) die("migrate", keel_store_errmsg(s));
    return s;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* An event like the registry's: an actor, a dotted action, an object, a small JSON object. */
static int append_one(keel_store *s, int64_t i)
{
    char object[64], details[128];
    snprintf(object, sizeof object, "model:churn:%lld", (long long)(i % 97 + 1));
    snprintf(details, sizeof details,
             "{\"alias\":\"production\",\"version\":%lld,\"previous\":%lld,\"approval\":%lld}",
             (long long)(i % 97 + 1), (long long)(i % 97), (long long)i);
    return keel_audit_append(s, 0, "alice@example.com", "model.alias.set", object, details, NULL);
}

static double append_rate(const char *dir, int n)
{
    keel_store *s = fresh_store(dir, "append.db");
    double t0 = keel_now_seconds();
    for (int i = 0; i < n; i++) {
        if (keel_store_begin(s) != KEEL_OK || append_one(s, i) != KEEL_OK ||
            keel_store_commit(s) != KEEL_OK)
            die("append", keel_store_errmsg(s));
    }
    double dt = keel_now_seconds() - t0;
    keel_store_close(s);
    return n / dt;
}

static double bare_commit_rate(const char *dir, int n)
{
    keel_store *s = fresh_store(dir, "bare.db");
    if (keel_store_exec(s, "CREATE TABLE scratch (i INTEGER)") != KEEL_OK)
        die("scratch", keel_store_errmsg(s));
    double t0 = keel_now_seconds();
    for (int i = 0; i < n; i++) {
        if (keel_store_begin(s) != KEEL_OK ||
            keel_store_run(s, "INSERT INTO scratch VALUES (?)", "i", (int64_t)i) != KEEL_OK ||
            keel_store_commit(s) != KEEL_OK)
            die("bare commit", keel_store_errmsg(s));
    }
    double dt = keel_now_seconds() - t0;
    keel_store_close(s);
    return n / dt;
}

int main(int argc, char **argv)
{
    int n_appends = 5000, runs = 3;
    long n_events = 1000000;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--appends") && i + 1 < argc)
            n_appends = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            n_events = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: audit_bench [--appends N] [--events M] [--runs R] DIR\n");
            return 2;
        }
    }
    if (!dir || n_appends < 1 || n_events < 1 || runs < 1 || runs > 99) {
        fprintf(stderr, "usage: audit_bench [--appends N] [--events M] [--runs R] DIR\n");
        return 2;
    }

    double rates[99], bare[99], verify_s[99];
    for (int r = 0; r < runs; r++) {
        bare[r] = bare_commit_rate(dir, n_appends);
        rates[r] = append_rate(dir, n_appends);
        fprintf(stderr, "run %d: %.0f appends/s, %.0f bare commits/s\n", r + 1, rates[r], bare[r]);
    }
    double rate = median(rates, runs), bare_rate = median(bare, runs);

    /* The big chain. */
    keel_store *s = fresh_store(dir, "verify.db");
    double t0 = keel_now_seconds();
    const long batch = 100000;
    for (long i = 0; i < n_events; i += batch) {
        if (keel_store_begin(s) != KEEL_OK) die("begin", keel_store_errmsg(s));
        for (long j = i; j < i + batch && j < n_events; j++)
            if (append_one(s, j) != KEEL_OK) die("append", keel_store_errmsg(s));
        if (keel_store_commit(s) != KEEL_OK) die("commit", keel_store_errmsg(s));
    }
    double build_s = keel_now_seconds() - t0;

    char keys[4096], head[4096];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    snprintf(head, sizeof head, "%s/audit-head.json", dir);
    unlink(head);
    keel_audit_key key;
    keel_error e;
    if (keel_audit_key_load(keys, 1, &key, &e) != KEEL_OK) die("key", e.msg);
    t0 = keel_now_seconds();
    keel_audit_checkpoint cp;
    if (keel_audit_checkpoint_now(s, &key, head, &cp, &e) != KEEL_OK) die("checkpoint", e.msg);
    double checkpoint_s = keel_now_seconds() - t0;

    keel_audit_verify_options o = {0};
    o.public_key = key.pk;
    o.head_file = head;
    keel_audit_verify_result res;
    for (int r = 0; r < runs; r++) {
        t0 = keel_now_seconds();
        if (keel_audit_verify(s, &o, &res, &e) != KEEL_OK) die("verify", e.msg);
        verify_s[r] = keel_now_seconds() - t0;
        if (!res.ok || res.n_events != n_events) die("verify", res.reason);
        fprintf(stderr, "verify run %d: %.3f s\n", r + 1, verify_s[r]);
    }
    double vs = median(verify_s, runs);
    keel_store_close(s);

    printf("audit trail benchmark (%s)\n", dir);
    printf("  %-44s %12.0f /s   (median of %d, %d each)\n", "append, one durable transaction each",
           rate, runs, n_appends);
    printf("  %-44s %12.0f /s   (same disk, for scale)\n", "bare commit, one small INSERT each",
           bare_rate);
    printf("  %-44s %12.2f s    (%ld events, batches of %ld)\n", "build chain", build_s, n_events,
           batch);
    printf("  %-44s %12.2f s    (walks all events once)\n", "first checkpoint_now", checkpoint_s);
    printf("  %-44s %12.2f s    (%.0f events/s, median of %d)\n", "verify", vs, n_events / vs,
           runs);
    printf("audit_bench {\"appends\":%d,\"runs\":%d,\"append_per_s\":%.0f,"
           "\"bare_commit_per_s\":%.0f,\"events\":%ld,\"build_s\":%.3f,\"checkpoint_s\":%.3f,"
           "\"verify_s\":%.3f,\"verify_events_per_s\":%.0f}\n",
           n_appends, runs, rate, bare_rate, n_events, build_s, checkpoint_s, vs, n_events / vs);
    return 0;
}
