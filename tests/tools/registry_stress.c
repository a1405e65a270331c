/*
 * registry_stress.c — drives the registry through its public API for the crash-safety and
 * concurrency tests (tests/e2e/registry_crash.sh). Not installed; linked like any program
 * that embeds keel.
 *
 *     registry_stress HOME ACTOR N [--prefix P] [--wait FILE]
 *         opens the registry in HOME as ACTOR and registers N datasets, named P-0 ... P-(N-1);
 *         after each registration has returned KEEL_OK it prints "ack P-i" and flushes
 *     registry_stress HOME ACTOR --open [--wait FILE]
 *         opens the registry, prints "roles R" (the actor's roles, "none" for no identity)
 *     registry_stress HOME ACTOR --check FILE
 *         every "ack KEY" line of FILE names a dataset that is in the registry
 *
 * The contract under test is durability of an acknowledgement: a line "ack KEY" is written
 * only after keel_registry_dataset_put returned, i.e. after the transaction committed (and,
 * with synchronous=FULL, was fsync'ed), so whatever was acked must survive a kill -9 of this
 * process at any instant. stdout is flushed after every line so that the line reaches the
 * file before the next write begins; a kill can still cut the last line short, which is why
 * the test keeps only complete lines.
 *
 * Each key maps to a distinct dataset: its sha256 is SHA-256("keel-stress\n" KEY), so every
 * put is a new row plus exactly one audit event ("dataset.register"), and --check can find a
 * dataset again from its key alone. "opened" is printed once the registry is open, so the
 * test can tell a kill during the open (and the migrations of a new registry) from a later
 * one. --wait FILE spins until FILE exists before opening: it lines up the start of several
 * processes far more closely than starting them one after the other from a shell.
 *
 * Any error prints the registry's message to stderr and exits 1: a "database is locked" that
 * reached a caller would show up there. Exit status 2 is a usage error.
 */
#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] = "usage: registry_stress HOME ACTOR N [--prefix P] [--wait FILE]\n"
                            "       registry_stress HOME ACTOR --open [--wait FILE]\n"
                            "       registry_stress HOME ACTOR --check FILE\n";

/* Keys are short: a prefix, '-', a decimal counter. */
#define KEY_MAX 128

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

/* Waits (polling every 100 µs, for at most a minute) until path exists. */
static int wait_for(const char *path)
{
    struct timespec pause = {0, 100000};
    for (long i = 0; i < 600000; i++) {
        if (access(path, F_OK) == 0) return 0;
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "registry_stress: %s did not appear within a minute\n", path);
    return -1;
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
        int rc = keel_registry_dataset_put(r, &d, &id);
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
    return 0;
}

/* Checks that every acknowledged key of file is a dataset of r with the key's sha256 and the
 * key as its name. Lines must all be "ack KEY\n": anything else is a broken test, not a
 * missing write. */
static int check_acks(keel_registry *r, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "registry_stress: %s: %s\n", file, strerror(errno));
        return 1;
    }
    char line[KEY_MAX + 16];
    long n_checked = 0, n_missing = 0, lineno = 0;
    int status = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len < 6 || line[len - 1] != '\n' || strncmp(line, "ack ", 4) != 0) {
            fprintf(stderr, "registry_stress: %s:%ld: not an \"ack KEY\" line\n", file, lineno);
            status = 1;
            break;
        }
        line[len - 1] = '\0';
        const char *key = line + 4;
        char sha[65];
        key_sha256(key, sha);
        int64_t id = 0, same = 0;
        int rc = keel_registry_dataset_find(r, sha, &id);
        if (rc == KEEL_ENOENT) {
            printf("missing %s\n", key);
            n_missing++;
            continue;
        }
        if (rc == KEEL_OK)
            rc = keel_store_int(keel_registry_store(r), &same,
                                "SELECT count(*) FROM datasets WHERE id = ? AND sha256 = ? AND "
                                "name = ?",
                                "iss", id, (const char *)sha, key);
        if (rc != KEEL_OK) {
            fprintf(stderr, "registry_stress: find %s: %s (%s)\n", key, keel_registry_errmsg(r),
                    keel_strerror(rc));
            status = 1;
            break;
        }
        if (same != 1) {
            printf("wrong %s (dataset %lld has another name)\n", key, (long long)id);
            n_missing++;
            continue;
        }
        n_checked++;
    }
    if (status == 0 && ferror(f)) {
        fprintf(stderr, "registry_stress: %s: read error\n", file);
        status = 1;
    }
    fclose(f);
    if (status == 0) printf("checked %ld, missing %ld\n", n_checked, n_missing);
    return status ? status : n_missing ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs(usage, stderr);
        return 2;
    }
    const char *home = argv[1], *actor = argv[2];
    const char *prefix = "s", *wait_file = NULL, *check_file = NULL;
    bool open_only = false;
    long n = -1;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--open")) {
            open_only = true;
        } else if (i + 1 < argc && !strcmp(a, "--prefix")) {
            prefix = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--wait")) {
            wait_file = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--check")) {
            check_file = argv[++i];
        } else if (n < 0 && a[0] >= '0' && a[0] <= '9') {
            char *end;
            errno = 0;
            n = strtol(a, &end, 10);
            if (errno || *end) n = -2;
        } else {
            n = -2;
        }
        if (n == -2) break;
    }
    int modes = (n >= 0) + open_only + (check_file != NULL);
    if (modes != 1 || n == -2 || strlen(prefix) > KEY_MAX - 24 || (check_file && wait_file)) {
        fputs(usage, stderr);
        return 2;
    }
    if (wait_file && wait_for(wait_file) != 0) return 1;
    keel_registry *r = open_registry(home, actor);
    if (!r) return 1;
    int status = 0;
    if (check_file) {
        status = check_acks(r, check_file);
    } else {
        printf("opened\n");
        fflush(stdout);
        if (open_only) {
            char roles[96];
            keel_roles_format(keel_registry_roles(r), roles, sizeof roles);
            printf("roles %s\n", roles[0] ? roles : "none");
        } else {
            status = put_many(r, n, prefix);
        }
    }
    keel_registry_close(r);
    if (fflush(stdout) != 0) status = 1;
    return status;
}
