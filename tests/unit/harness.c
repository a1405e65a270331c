/*
 * harness.c — runs the registered tests, one forked process each, and prints
 * "N passed, N failed". Usage: unit [substring-filter]
 *
 * The allocator hook installed here counts allocations and can fail the Nth one, which is
 * how tests prove that out-of-memory paths clean up and report KEEL_ENOMEM.
 */
#include "harness.h"

#include "keel.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 1024

static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int failures; /* in the child: checks failed in the running test */
static char tmpdir[256];
static char root[512];

void harness_register(const char *name, test_fn fn)
{
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

const char *test_tmpdir(void)
{
    return tmpdir;
}

const char *test_root(void)
{
    return root;
}

/* ---- counting, failing allocator ---- */
static long alloc_count, alloc_live, fail_at;

static void *t_malloc(size_t n, void *ud)
{
    (void)ud;
    alloc_count++;
    if (fail_at > 0 && --fail_at == 0) return NULL;
    void *p = malloc(n);
    if (p) alloc_live++;
    return p;
}

static void *t_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    alloc_count++;
    if (fail_at > 0 && --fail_at == 0) return NULL;
    void *q = realloc(p, n);
    if (q && !p) alloc_live++;
    return q;
}

static void t_free(void *p, void *ud)
{
    (void)ud;
    alloc_live--;
    free(p);
}

void test_fail_alloc_after(long n)
{
    fail_at = n;
}

long test_alloc_count(void)
{
    return alloc_count;
}

long test_alloc_live(void)
{
    return alloc_live;
}

void test_alloc_reset(void)
{
    alloc_count = 0;
    alloc_live = 0;
    fail_at = 0;
}

/* Seconds a test may run (under the sanitizers the slowest take about a minute). */
#define TEST_SECONDS 300

static int run_one(int i)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", tmpdir, tmpdir);
        if (system(cmd) != 0) _exit(2);
        keel_allocator a = {t_malloc, t_realloc, t_free, NULL};
        keel_set_allocator(&a);
        /* A test that loops forever fails instead of hanging the run (and CI with it). */
        const char *limit = getenv("KEEL_TEST_TIMEOUT");
        alarm(limit && atoi(limit) > 0 ? (unsigned)atoi(limit) : TEST_SECONDS);
        tests[i].fn();
        fflush(stdout);
        _exit(failures ? 1 : 0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) == SIGALRM)
            fprintf(stderr,
                    "    still running after its time limit (KEEL_TEST_TIMEOUT, default %d s)\n",
                    TEST_SECONDS);
        else
            fprintf(stderr, "    killed by signal %d\n", WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status) != 0;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *r = getenv("KEEL_TEST_ROOT");
    snprintf(root, sizeof root, "%s", r ? r : ".");
    snprintf(tmpdir, sizeof tmpdir, "%s/keel-unit-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        double t0 = 0;
        (void)t0;
        int bad = run_one(i);
        printf("%s %s\n", bad ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (bad)
            failed++;
        else
            passed++;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
