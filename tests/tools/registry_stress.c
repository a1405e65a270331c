/*
 * registry_stress.c — drives the registry through its public API for the crash-safety and
 * concurrency tests (tests/e2e/registry_crash.sh). Not installed; linked like any program
 * that embeds keel.
 *
 *     registry_stress HOME ACTOR N [--prefix P] [--at MS]
 *         opens the registry in HOME as ACTOR, prints "opened", registers N datasets named
 *         P-0 ... P-(N-1), printing "ack P-i" after each, and at the end
 *         "done N max_ms T" (T: the slowest registration, waiting for the lock included)
 *     registry_stress HOME ACTOR --open [--at MS]
 *         opens the registry, prints "opened" and "roles R" (R: the actor's roles, "none"
 *         when it is no identity), closes it
 *     registry_stress HOME ACTOR --check FILE...
 *         every "ack KEY" line of the FILEs (the stdout of writers) names a dataset that is in
 *         the registry; prints "checked N, missing M" and a line per missing key
 * --at MS waits until the wall clock reads MS (ms since the epoch) before opening, spinning
 * for the last millisecond, so that processes given the same instant start within
 * microseconds of each other — far closer than a shell can start them.
 *
 * The contract under test is the durability of an acknowledgement: "ack KEY" is printed only
 * after keel_registry_dataset_put returned KEEL_OK, i.e. after its transaction committed (and,
 * with synchronous=FULL, was fsync'ed), so whatever was acked must survive a kill -9 of this
 * process at any instant. stdout is flushed after every line, so an acked line is in the file
 * before the next write begins. A kill can cut the last line of a file short; --check ignores
 * a last line without its newline (it was never acknowledged) and refuses anything else it
 * does not know, so a broken test cannot pass as a clean run.
 *
 * Each key names a distinct dataset: its sha256 is SHA-256("keel-stress\n" KEY), so every put
 * adds one row and exactly one audit event ("dataset.register"), and --check finds a dataset
 * again from its key alone.
 *
 * Any error prints the registry's message to stderr and exits 1: a "database is locked" that
 * reached a caller would show there. Exit status 2 is a usage error.
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] = "usage: registry_stress HOME ACTOR N [--prefix P] [--at MS]\n"
                            "       registry_stress HOME ACTOR --open [--at MS]\n"
                            "       registry_stress HOME ACTOR --check FILE...\n";

/* Keys are short: a prefix (at most PREFIX_MAX bytes), '-', a decimal counter. */
#define PREFIX_MAX 64
#define KEY_MAX    96

static void key_sha256(const char *key, char hex[65])
{
    keel_sha256 h;
    unsigned char digest[32];
    keel_sha256_init(&h);
    keel_sha256_update(&h, "keel-stress\n", 12);
    keel_sha256_update(&h, key, strlen(key));
    keel_sha256_final(&h, digest);
    keel_sha256_hex(digest, hex);
}

static long long now_us(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Sleeps until the wall clock reads at_ms, spinning for the last millisecond. */
static void wait_until(long long at_ms)
{
    for (;;) {
        long long left = at_ms * 1000 - now_us(CLOCK_REALTIME);
        if (left <= 0) return;
        if (left > 1500) {
            left = KEEL_MIN(left - 1000, 1000000LL);
            struct timespec pause = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
            nanosleep(&pause, NULL);
        }
    }
}

static keel_registry *open_registry(const char *home, const char *actor)
{
    keel_registry *r = NULL;
    keel_error e = {0};
    int rc = keel_registry_open(home, actor, "stress-host", &r, &e);
    if (rc != KEEL_OK) {
        fprintf(stderr, "registry_stress: open %s as %s: %s (%s)\n", home, actor, e.msg,
                keel_strerror(rc));
        return NULL;
    }
    return r;
}

static int put_many(keel_registry *r, long n, const char *prefix)
{
    char source[256];
    snprintf(source, sizeof source, "stress:%s", keel_registry_actor(r));
    long long slowest = 0;
    for (long i = 0; i < n; i++) {
        char key[KEY_MAX], sha[65];
        snprintf(key, sizeof key, "%s-%ld", prefix, i);
        key_sha256(key, sha);
        keel_dataset_info d = {
            .sha256 = sha,
            .name = key,
            .source = source,
            .n_rows = i,
            .n_accepted = i,
            .n_rejected = 0,
            .n_columns = -1,
        };
        int64_t id = 0;
        long long t0 = now_us(CLOCK_MONOTONIC);
        int rc = keel_registry_dataset_put(r, &d, &id);
        slowest = KEEL_MAX(slowest, now_us(CLOCK_MONOTONIC) - t0);
        if (rc != KEEL_OK) {
            fprintf(stderr, "registry_stress: put %s: %s (%s)\n", key, keel_registry_errmsg(r),
                    keel_strerror(rc));
            return 1;
        }
        printf("ack %s\n", key);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "registry_stress: stdout: %s\n", strerror(errno));
            return 1;
        }
    }
    printf("done %ld max_ms %lld\n", n, slowest / 1000);
    return 0;
}

/* Checks one acknowledged key: a dataset with the key's sha256 and the key as its name is
 * there. Returns 0 (present), 1 (missing: printed) or -1 (the registry failed: printed).
 * It looks the sha256 up with "=" rather than through keel_registry_dataset_find, whose
 * prefix match scans the table: a check of every key would be quadratic. */
static int check_key(keel_registry *r, const char *key)
{
    char sha[65];
    key_sha256(key, sha);
    keel_stmt *st = NULL;
    int rc = keel_store_query(keel_registry_store(r), &st,
                              "SELECT name FROM datasets WHERE sha256 = ?", "s", (const char *)sha);
    if (rc == KEEL_OK) rc = keel_stmt_step(st);
    int found = -1;
    if (rc == KEEL_STORE_ROW) {
        const char *name = keel_stmt_text(st, 0);
        found = name && !strcmp(name, key) ? 0 : 1;
        if (found) printf("wrong %s (its dataset is named '%s')\n", key, name ? name : "");
    } else if (rc == KEEL_STORE_DONE) {
        printf("missing %s\n", key);
        found = 1;
    } else {
        fprintf(stderr, "registry_stress: find %s: %s (%s)\n", key,
                keel_store_errmsg(keel_registry_store(r)), keel_strerror(rc));
    }
    keel_stmt_finalize(st);
    return found;
}

/* Checks every "ack KEY" line of the writer output in file; adds to *checked and *missing.
 * Returns 0, or -1 when the file is unreadable or has a line a writer does not print. */
static int check_file(keel_registry *r, const char *file, long *checked, long *missing)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "registry_stress: %s: %s\n", file, strerror(errno));
        return -1;
    }
    char line[KEY_MAX + 32];
    long lineno = 0;
    int status = 0;
    while (status == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            /* fgets stopped short of a full buffer without a newline: the end of the file,
             * i.e. a last line cut short by the kill. A full buffer is a line too long. */
            if (len > 0 && len + 1 < sizeof line) break;
        } else if (!strncmp(line, "ack ", 4) && len > 5) {
            line[len - 1] = '\0';
            int found = check_key(r, line + 4);
            if (found < 0) {
                status = -1;
                break;
            }
            *missing += found;
            *checked += 1;
            continue;
        } else if (!strcmp(line, "opened\n") || !strncmp(line, "done ", 5)) {
            continue;
        }
        fprintf(stderr, "registry_stress: %s:%ld: not a line a writer prints\n", file, lineno);
        status = -1;
    }
    if (status == 0 && ferror(f)) {
        fprintf(stderr, "registry_stress: %s: read error\n", file);
        status = -1;
    }
    fclose(f);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs(usage, stderr);
        return 2;
    }
    const char *home = argv[1], *actor = argv[2], *prefix = "s";
    bool open_only = false, check = false, bad = false;
    long n = -1;
    long long at_ms = 0;
    int first_file = argc;
    for (int i = 3; i < argc && !bad; i++) {
        const char *a = argv[i];
        char *end;
        errno = 0;
        if (!strcmp(a, "--open")) {
            open_only = true;
        } else if (!strcmp(a, "--check") && i + 1 < argc) {
            check = true;
            first_file = i + 1;
            break;
        } else if (!strcmp(a, "--prefix") && i + 1 < argc) {
            prefix = argv[++i];
        } else if (!strcmp(a, "--at") && i + 1 < argc) {
            at_ms = strtoll(argv[++i], &end, 10);
            bad = errno || *end || at_ms <= 0;
        } else if (n < 0 && a[0] >= '0' && a[0] <= '9') {
            n = strtol(a, &end, 10);
            bad = errno || *end;
        } else {
            bad = true;
        }
    }
    if (bad || (n >= 0) + open_only + check != 1 || strlen(prefix) > PREFIX_MAX ||
        (check && at_ms)) {
        fputs(usage, stderr);
        return 2;
    }
    if (at_ms) wait_until(at_ms);
    keel_registry *r = open_registry(home, actor);
    if (!r) return 1;
    int status = 0;
    if (check) {
        long checked = 0, missing = 0;
        for (int i = first_file; i < argc && status == 0; i++)
            if (check_file(r, argv[i], &checked, &missing) != 0) status = 1;
        if (status == 0) printf("checked %ld, missing %ld\n", checked, missing);
        if (missing) status = 1;
    } else {
        printf("opened\n");
        if (open_only) {
            char roles[96];
            keel_roles_format(keel_registry_roles(r), roles, sizeof roles);
            printf("roles %s\n", roles[0] ? roles : "none");
        } else {
            fflush(stdout);
            status = put_many(r, n, prefix);
        }
    }
    keel_registry_close(r);
    if (fflush(stdout) != 0) status = 1;
    return status;
}
