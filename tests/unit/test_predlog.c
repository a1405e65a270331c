/* Tests of the prediction log (src/serve/predlog.c): every line lands exactly once, intact,
 * in complete zstd files; rotation; a slow or full disk makes appends drop and count, never
 * wait; open errors; out-of-memory at open. Files are decoded with libzstd. */
#include "harness.h"

#include "serve/serve.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* ---- reading the log back ---- */

typedef struct decoded {
    keel_buf text;   /* all lines of all files read, in file order */
    int n_files;     /* .jsonl.zst files */
    int n_parts;     /* .part files */
    int n_bad;       /* files that did not decode as complete frames (.part: allowed) */
    int n_short_end; /* files whose text does not end with a newline */
} decoded;

/* Decodes one file into d->text; returns true when it held complete frames. */
static bool decode_file(const char *path, decoded *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize();
    char *in = malloc(in_cap), *out = malloc(out_cap);
    size_t last = 0, start = d->text.len;
    bool ok = true, any = false;
    size_t got;
    while ((got = fread(in, 1, in_cap, f)) > 0) {
        any = true;
        ZSTD_inBuffer ib = {in, got, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {out, out_cap, 0};
            last = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(last)) {
                ok = false;
                break;
            }
            keel_buf_append(&d->text, out, ob.pos);
        }
        if (!ok) break;
    }
    /* Drain what the decoder still holds. */
    for (int i = 0; ok && last != 0 && i < 100; i++) {
        ZSTD_inBuffer ib = {in, 0, 0};
        ZSTD_outBuffer ob = {out, out_cap, 0};
        last = ZSTD_decompressStream(dc, &ob, &ib);
        if (ZSTD_isError(last) || ob.pos == 0) break;
        keel_buf_append(&d->text, out, ob.pos);
    }
    if (last != 0 || !any) ok = false;
    if (d->text.len > start && d->text.data[d->text.len - 1] != '\n') d->n_short_end++;
    free(in);
    free(out);
    ZSTD_freeDCtx(dc);
    fclose(f);
    return ok;
}

static size_t ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void decode_dir(const char *dir, decoded *d)
{
    memset(d, 0, sizeof *d);
    keel_buf_init(&d->text);
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (strncmp(de->d_name, "predictions-", 12) != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        bool part = ends_with(de->d_name, ".jsonl.zst.part");
        if (!part && !ends_with(de->d_name, ".jsonl.zst")) {
            d->n_bad++;
            continue;
        }
        part ? d->n_parts++ : d->n_files++;
        if (!decode_file(path, d) && !part) d->n_bad++;
    }
    closedir(dh);
}

/* ---- lines that check themselves ---- */

/* Line (t, i): {"t":T,"i":I,"pad":"xxx..."} with a pad whose length and letter follow from
 * (t, i), so a line can be checked intact on its own. */
static int make_line(char *buf, size_t cap, int t, int i)
{
    int pad = (int)(((long)t * 7919 + (long)i * 104729) % 400);
    char c = (char)('a' + (t + i) % 26);
    int n = snprintf(buf, cap, "{\"t\":%d,\"i\":%d,\"pad\":\"", t, i);
    for (int k = 0; k < pad; k++)
        buf[n++] = c;
    n += snprintf(buf + n, cap - (size_t)n, "\"}");
    return n;
}

/* Reads T and I from the start of a line (sscanf would measure the whole remaining text
 * each call: quadratic over a long log). */
static bool parse_ids(const char *p, const char *end, int *t, int *i)
{
    char head[64];
    size_t n = KEEL_MIN((size_t)(end - p), sizeof head - 1);
    memcpy(head, p, n);
    head[n] = '\0';
    return sscanf(head, "{\"t\":%d,\"i\":%d,", t, i) == 2;
}

/* Checks every line in text: intact, and each (t, i) at most once; returns the count seen
 * and records each in seen[t * per + i] (a bad or repeated line fails the test). */
static long check_lines(const char *text, size_t len, int n_threads, int per, unsigned char *seen)
{
    long count = 0, bad = 0, dup = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            bad++;
            break;
        }
        int t, i;
        char want[1024];
        if (!parse_ids(p, nl, &t, &i) || t < 0 || t >= n_threads || i < 0 || i >= per) {
            bad++;
        } else {
            int n = make_line(want, sizeof want, t, i);
            if (n != nl - p || memcmp(want, p, (size_t)n) != 0)
                bad++;
            else if (seen[(size_t)t * per + i]++)
                dup++;
        }
        count++;
        p = nl + 1;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(dup, 0);
    return count;
}

static char *log_dir(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    return path;
}

/* ---- concurrent appends ---- */

typedef struct appender {
    serve_predlog *log;
    int t, per;
    long accepted, refused;
    double max_seconds; /* the longest single append */
    long over_1ms;
} appender;

static void *append_lines(void *arg)
{
    appender *a = arg;
    char line[1024];
    for (int i = 0; i < a->per; i++) {
        int n = make_line(line, sizeof line, a->t, i);
        double t0 = keel_now_seconds();
        bool ok = serve_predlog_append(a->log, line, (size_t)n);
        double dt = keel_now_seconds() - t0;
        if (dt > a->max_seconds) a->max_seconds = dt;
        if (dt > 1e-3) a->over_1ms++;
        ok ? a->accepted++ : a->refused++;
    }
    return NULL;
}

/* Runs n_threads appenders of per lines each; returns lines accepted. */
static long run_appenders(serve_predlog *log, int n_threads, int per, appender *a)
{
    pthread_t th[16];
    long accepted = 0;
    for (int t = 0; t < n_threads; t++) {
        a[t] = (appender){.log = log, .t = t, .per = per};
        if (pthread_create(&th[t], NULL, append_lines, &a[t]) != 0) return -1;
    }
    for (int t = 0; t < n_threads; t++) {
        pthread_join(th[t], NULL);
        accepted += a[t].accepted;
    }
    return accepted;
}

TEST(predlog_every_line_exactly_once)
{
    enum { T = 4, PER = 25000 };
    serve_predlog_options o = {.dir = log_dir("logs")};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    appender a[T];
    long accepted = run_appenders(log, T, PER, a);
    serve_predlog_close(log); /* the counters are read below from the appenders' tallies */

    decoded d;
    decode_dir(o.dir, &d);
    unsigned char *seen = calloc((size_t)T * PER, 1);
    long found = check_lines(d.text.data ? d.text.data : "", d.text.len, T, PER, seen);
    /* The default queue (64 MiB) holds all of it: nothing may drop. */
    CHECK_EQ_INT(accepted, (long)T * PER);
    CHECK_EQ_INT(found, (long)T * PER);
    CHECK_EQ_INT(d.n_files, 1);
    CHECK_EQ_INT(d.n_parts, 0);
    CHECK_EQ_INT(d.n_bad, 0);
    CHECK_EQ_INT(d.n_short_end, 0);
    free(seen);
    keel_buf_free(&d.text);
}

TEST(predlog_counts_add_up_when_dropping)
{
    enum { T = 4, PER = 20000 };
    /* A queue of 64 KiB against 4 threads flat out: many lines drop; the sums must hold. */
    serve_predlog_options o = {.dir = log_dir("logs"), .queue_bytes = 64 << 10};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    appender a[T];
    long accepted = run_appenders(log, T, PER, a);
    long refused = 0;
    for (int t = 0; t < T; t++)
        refused += a[t].refused;
    /* Read the counters before close too: never more than what was appended. */
    CHECK(serve_predlog_written(log) + serve_predlog_dropped(log) <= (uint64_t)T * PER);
    serve_predlog_close(log);
    log = NULL;

    decoded d;
    decode_dir(o.dir, &d);
    unsigned char *seen = calloc((size_t)T * PER, 1);
    long found = check_lines(d.text.data ? d.text.data : "", d.text.len, T, PER, seen);
    CHECK_EQ_INT(accepted + refused, (long)T * PER);
    CHECK_EQ_INT(found, accepted); /* accepted lines are all written: the disk is fine */
    CHECK_EQ_INT(d.n_bad, 0);
    CHECK_EQ_INT(d.n_parts, 0);
    free(seen);
    keel_buf_free(&d.text);
}

/* The counters, read just before close (close frees the log): callers first wait for the
 * writer to settle, so close has nothing left to change. */
typedef struct tally {
    uint64_t written, dropped;
} tally;

static tally close_and_count(serve_predlog *log)
{
    tally t = {serve_predlog_written(log), serve_predlog_dropped(log)};
    return t;
}

/* Waits until the writer has caught up (written + dropped == n) or the timeout passes. */
static bool wait_settled(serve_predlog *log, uint64_t n, double timeout)
{
    double t0 = keel_now_seconds();
    while (keel_now_seconds() - t0 < timeout) {
        if (serve_predlog_written(log) + serve_predlog_dropped(log) == n) return true;
        usleep(5000);
    }
    return false;
}

TEST(predlog_written_plus_dropped_is_appended)
{
    enum { T = 2, PER = 30000 };
    serve_predlog_options o = {.dir = log_dir("logs"), .queue_bytes = 32 << 10};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    appender a[T];
    run_appenders(log, T, PER, a);
    CHECK(wait_settled(log, (uint64_t)T * PER, 10.0));
    tally t = close_and_count(log);
    serve_predlog_close(log);
    CHECK_EQ_INT(t.written + t.dropped, (long)T * PER);
    decoded d;
    decode_dir(o.dir, &d);
    unsigned char *seen = calloc((size_t)T * PER, 1);
    CHECK_EQ_INT(check_lines(d.text.data ? d.text.data : "", d.text.len, T, PER, seen),
                 (long)t.written);
    free(seen);
    keel_buf_free(&d.text);
}

TEST(predlog_rotates_by_size_between_lines)
{
    enum { T = 2, PER = 5000 };
    serve_predlog_options o = {.dir = log_dir("logs"), .rotate_bytes = 64 << 10};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    appender a[T];
    long accepted = run_appenders(log, T, PER, a);
    serve_predlog_close(log);
    CHECK_EQ_INT(accepted, (long)T * PER);

    /* Each file alone: complete, whole lines, at least rotate_bytes unless it is the last,
     * less than rotate_bytes plus one line. */
    DIR *dh = opendir(o.dir);
    REQUIRE(dh);
    struct dirent *de;
    int n_files = 0, n_small = 0;
    long lines = 0;
    unsigned char *seen = calloc((size_t)T * PER, 1);
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.') continue;
        CHECK(ends_with(de->d_name, ".jsonl.zst"));
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", o.dir, de->d_name);
        decoded one;
        memset(&one, 0, sizeof one);
        keel_buf_init(&one.text);
        CHECK(decode_file(path, &one));
        CHECK_EQ_INT(one.n_short_end, 0);
        CHECK(one.text.len < (64 << 10) + 1024);
        if (one.text.len < (64 << 10)) n_small++;
        lines += check_lines(one.text.data ? one.text.data : "", one.text.len, T, PER, seen);
        keel_buf_free(&one.text);
        n_files++;
    }
    closedir(dh);
    CHECK(n_files >= 10); /* about 2 MiB of lines in 64 KiB files */
    CHECK(n_small <= 1);
    CHECK_EQ_INT(lines, (long)T * PER);
    free(seen);
}

TEST(predlog_rotates_by_age)
{
    serve_predlog_options o = {.dir = log_dir("logs"), .rotate_seconds = 1};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    char line[1024];
    int n = make_line(line, sizeof line, 0, 0);
    CHECK(serve_predlog_append(log, line, (size_t)n));
    usleep(1400 * 1000); /* the first file is closed by age while idle */
    decoded d;
    decode_dir(o.dir, &d);
    CHECK_EQ_INT(d.n_files, 1);
    CHECK_EQ_INT(d.n_parts, 0);
    keel_buf_free(&d.text);
    n = make_line(line, sizeof line, 0, 1);
    CHECK(serve_predlog_append(log, line, (size_t)n));
    serve_predlog_close(log);
    decode_dir(o.dir, &d);
    CHECK_EQ_INT(d.n_files, 2);
    CHECK_EQ_INT(d.n_bad, 0);
    unsigned char seen[2] = {0};
    CHECK_EQ_INT(check_lines(d.text.data, d.text.len, 1, 2, seen), 2);
    keel_buf_free(&d.text);
}

TEST(predlog_newlines_inside_a_line_become_spaces)
{
    serve_predlog_options o = {.dir = log_dir("logs")};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    const char *s = "{\"a\":\n1}";
    CHECK(serve_predlog_append(log, s, strlen(s)));
    CHECK(serve_predlog_append(log, "", 0)); /* an empty line is still a line */
    serve_predlog_close(log);
    decoded d;
    decode_dir(o.dir, &d);
    CHECK_STR(d.text.data, "{\"a\": 1}\n\n");
    keel_buf_free(&d.text);
}

TEST(predlog_drops_oversized_lines)
{
    serve_predlog_options o = {.dir = log_dir("logs"), .queue_bytes = 4096};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    char big[3000];
    memset(big, 'x', sizeof big);
    CHECK(!serve_predlog_append(log, big, sizeof big)); /* more than half the queue */
    CHECK(serve_predlog_append(log, big, 2000));
    CHECK_EQ_INT(serve_predlog_dropped(log), 1);
    serve_predlog_close(log);
}

/* ---- a slow disk, a full disk ---- */

typedef struct disk {
    _Atomic int delay_us; /* sleep before each write */
    _Atomic int full;     /* fail writes with ENOSPC */
    _Atomic long n_writes, n_failed;
} disk;

static long fake_write(void *ud, int fd, const void *p, size_t n)
{
    disk *dk = ud;
    atomic_fetch_add(&dk->n_writes, 1);
    int us = atomic_load(&dk->delay_us);
    if (us) usleep((useconds_t)us);
    if (atomic_load(&dk->full)) {
        atomic_fetch_add(&dk->n_failed, 1);
        /* Sometimes half a write gets through first, as on a real disk filling up. */
        if (n > 1 && atomic_load(&dk->n_failed) % 2) return (long)write(fd, p, n / 2);
        errno = ENOSPC;
        return -1;
    }
    return (long)write(fd, p, n);
}

TEST(predlog_slow_disk_drops_instead_of_blocking)
{
    enum { T = 2, PER = 20000 };
    disk dk = {0};
    atomic_store(&dk.delay_us, 200000); /* 200 ms a write */
    serve_predlog_options o = {.dir = log_dir("logs"),
                               .queue_bytes = 64 << 10,
                               .test_write = fake_write,
                               .test_write_ud = &dk};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    appender a[T];
    double t0 = keel_now_seconds();
    long accepted = run_appenders(log, T, PER, a);
    double took = keel_now_seconds() - t0;
    double worst = 0;
    long over = 0, refused = 0;
    for (int t = 0; t < T; t++) {
        worst = KEEL_MAX(worst, a[t].max_seconds);
        over += a[t].over_1ms;
        refused += a[t].refused;
    }
    /* A blocking append would wait for a 200 ms write; these take microseconds. The worst
     * single one is allowed a scheduler hiccup on a busy machine, not a write. */
    fprintf(stderr,
            "    slow disk: %ld appends in %.3f s, worst %.3f ms, %ld over 1 ms, "
            "%ld dropped\n",
            (long)T * PER, took, worst * 1e3, over, refused);
    CHECK(worst < 0.1);
    CHECK(over <= 20);
    CHECK(refused > 0);
    CHECK(took < 1.0);
    CHECK_EQ_INT(serve_predlog_dropped(log), refused);
    atomic_store(&dk.delay_us, 0);
    CHECK(wait_settled(log, (uint64_t)T * PER, 10.0));
    tally t = close_and_count(log);
    serve_predlog_close(log);
    CHECK_EQ_INT(t.written, accepted);
    CHECK_EQ_INT(t.dropped, refused);
}

TEST(predlog_full_disk_counts_losses_and_recovers)
{
    enum { PER = 3000 };
    disk dk = {0};
    serve_predlog_options o = {
        .dir = log_dir("logs"), .test_write = fake_write, .test_write_ud = &dk};
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    char line[1024];
    /* Phase 1: lines reach the file. */
    for (int i = 0; i < PER; i++)
        serve_predlog_append(log, line, (size_t)make_line(line, sizeof line, 0, i));
    CHECK(wait_settled(log, PER, 5.0));
    CHECK_EQ_INT(serve_predlog_written(log), PER);
    /* Phase 2: the disk fills; the batch is lost and counted, the file cut back. */
    atomic_store(&dk.full, 1);
    for (int i = 0; i < PER; i++)
        serve_predlog_append(log, line, (size_t)make_line(line, sizeof line, 1, i));
    CHECK(wait_settled(log, 2 * PER, 5.0));
    CHECK(serve_predlog_dropped(log) > 0);
    CHECK(atomic_load(&dk.n_failed) > 0);
    /* Phase 3: space again; after the back-off a new file takes the lines. */
    atomic_store(&dk.full, 0);
    for (int i = 0; i < PER; i++)
        serve_predlog_append(log, line, (size_t)make_line(line, sizeof line, 2, i));
    CHECK(wait_settled(log, 3 * PER, 10.0));
    tally t = close_and_count(log);
    serve_predlog_close(log);
    CHECK_EQ_INT(t.written + t.dropped, 3 * PER);
    CHECK(t.written >= 2 * PER);

    decoded d;
    decode_dir(o.dir, &d);
    unsigned char *seen = calloc(3 * PER, 1);
    /* The abandoned file is a .part holding exactly its written lines (an unfinished frame);
     * every complete file decodes. */
    CHECK_EQ_INT(check_lines(d.text.data ? d.text.data : "", d.text.len, 3, PER, seen),
                 (long)t.written);
    CHECK_EQ_INT(d.n_parts, 1);
    CHECK_EQ_INT(d.n_bad, 0);
    for (int i = 0; i < PER; i++) {
        CHECK(seen[i] == 1);           /* phase 1: all there */
        CHECK(seen[2 * PER + i] == 1); /* phase 3: all there */
    }
    free(seen);
    keel_buf_free(&d.text);
}

TEST(predlog_open_refuses_unusable_dirs)
{
    serve_predlog *log = (serve_predlog *)1;
    keel_error e;
    /* A path through a regular file. */
    char file[600], dir[700];
    snprintf(file, sizeof file, "%s/plain", test_tmpdir());
    FILE *f = fopen(file, "w");
    REQUIRE(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/logs", file);
    serve_predlog_options o = {.dir = dir};
    CHECK_EQ_INT(serve_predlog_open(&o, &log, &e), KEEL_EIO);
    CHECK(log == NULL);
    CHECK(strstr(e.msg, "cannot create the prediction log directory") != NULL);
    CHECK(strstr(e.msg, dir) != NULL);
    /* The directory is a file. */
    o.dir = file;
    CHECK_EQ_INT(serve_predlog_open(&o, &log, &e), KEEL_EIO);
    CHECK(strstr(e.msg, "Not a directory") != NULL);
    /* A directory nobody may write: /proc (root too). */
    o.dir = "/proc";
    CHECK_EQ_INT(serve_predlog_open(&o, &log, &e), KEEL_EIO);
    CHECK(strstr(e.msg, "cannot write in the prediction log directory /proc") != NULL);
    /* Without root, plain permissions too. */
    if (geteuid() != 0) {
        snprintf(dir, sizeof dir, "%s/locked", test_tmpdir());
        mkdir(dir, 0500);
        o.dir = dir;
        CHECK_EQ_INT(serve_predlog_open(&o, &log, &e), KEEL_EIO);
        chmod(dir, 0700);
    }
    o.dir = "";
    CHECK_EQ_INT(serve_predlog_open(&o, &log, &e), KEEL_EINVAL);
    /* Creating nested directories works. */
    snprintf(dir, sizeof dir, "%s/a/b/c", test_tmpdir());
    o.dir = dir;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    serve_predlog_close(log);
    serve_predlog_close(NULL);
}

TEST(predlog_open_survives_allocation_failures)
{
    serve_predlog_options o = {.dir = log_dir("logs"), .queue_bytes = 1 << 20};
    test_alloc_reset();
    long base = test_alloc_live();
    serve_predlog *log = NULL;
    keel_error e;
    long n;
    for (n = 1; n < 1000; n++) {
        test_fail_alloc_after(n);
        int rc = serve_predlog_open(&o, &log, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
        CHECK(log == NULL);
        CHECK_EQ_INT(test_alloc_live(), base);
    }
    REQUIRE(log);
    CHECK(n > 4); /* the struct, the directory name, two buffers, zstd's output, zstd... */
    /* The writer allocates nothing: the count stays put while it works. */
    long count = test_alloc_count();
    char line[1024];
    for (int i = 0; i < 2000; i++)
        serve_predlog_append(log, line, (size_t)make_line(line, sizeof line, 0, i));
    CHECK(wait_settled(log, 2000, 5.0));
    CHECK_EQ_INT(test_alloc_count(), count);
    serve_predlog_close(log);
    CHECK_EQ_INT(test_alloc_live(), base);
}

/* ---- a benchmark, printed for the record ---- */

/* A realistic line: ids, a time, the artifact's SHA-256, ten inputs, two outputs. */
static int real_line(char *buf, size_t cap, keel_rng *r, long k)
{
    static const char *plans[] = {"basic", "pro", "enterprise"};
    return snprintf(
        buf, cap,
        "{\"id\":\"req-%016llx\",\"time\":\"2025-06-01T12:%02ld:%02ld.%06ldZ\",\"model\":"
        "\"churn\",\"version\":\"9f2c1e7a4b8d3f60a1c5e9d2b7f4a8c3e6d1b0f9a2c7e4d8b3f6a1c5e9d2b7f4"
        "\",\"inputs\":{\"age\":%d,\"plan\":\"%s\",\"tenure\":%.1f,\"monthly\":%.2f,\"tickets\":%d,"
        "\"region\":\"eu-%d\",\"seats\":%d},\"outputs\":{\"label\":\"%s\",\"p\":[%.4f,%.4f]},"
        "\"latency_us\":%d}",
        (unsigned long long)keel_rng_next(r), k / 60000 % 60, k / 1000 % 60, k % 1000 * 1000,
        18 + (int)(keel_rng_next(r) % 60), plans[keel_rng_next(r) % 3],
        (double)(keel_rng_next(r) % 1200) / 10, (double)(keel_rng_next(r) % 50000) / 100,
        (int)(keel_rng_next(r) % 9), (int)(keel_rng_next(r) % 4), 1 + (int)(keel_rng_next(r) % 500),
        keel_rng_next(r) % 2 ? "yes" : "no", keel_rng_uniform(r), keel_rng_uniform(r),
        150 + (int)(keel_rng_next(r) % 900));
}

/* Distinct lines per thread: 64Ki of them span about 21 MB, well beyond zstd's window at
 * level 3 (a few MB), so reuse cannot flatter the compression. */
#define POOL 65536

typedef struct bench_arg {
    serve_predlog *log;
    int per, seed;
    char *lines; /* pre-made, 512 bytes apart: POOL of them */
    int *lens;
} bench_arg;

static void *bench_append(void *arg)
{
    bench_arg *b = arg;
    for (int i = 0; i < b->per; i++)
        serve_predlog_append(b->log, b->lines + (size_t)(i % POOL) * 512,
                             (size_t)b->lens[i % POOL]);
    return NULL;
}

TEST(predlog_throughput)
{
    long per = 250000;
    const char *env = getenv("KEEL_PREDLOG_BENCH_LINES"); /* total lines, e.g. 1000000 */
    if (env) per = atol(env) / 2;
    serve_predlog_options o = {.dir = log_dir("logs")};
    env = getenv("KEEL_PREDLOG_BENCH_QUEUE_MB"); /* a queue that holds it all: the writer's rate */
    if (env) o.queue_bytes = (size_t)atol(env) << 20;
    serve_predlog *log;
    keel_error e;
    REQUIRE(serve_predlog_open(&o, &log, &e) == KEEL_OK);
    bench_arg b[2];
    pthread_t th[2];
    size_t bytes = 0;
    for (int t = 0; t < 2; t++) {
        keel_rng r;
        keel_rng_seed(&r, (uint64_t)t + 1);
        b[t] = (bench_arg){.log = log, .per = (int)per, .seed = t};
        b[t].lines = malloc((size_t)POOL * 512);
        b[t].lens = malloc(POOL * sizeof(int));
        for (int i = 0; i < POOL; i++) {
            b[t].lens[i] = real_line(b[t].lines + (size_t)i * 512, 512, &r, i + t * POOL);
            bytes += (size_t)b[t].lens[i];
        }
    }
    double t0 = keel_now_seconds();
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, bench_append, &b[t]);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    double appended = keel_now_seconds() - t0;
    CHECK(wait_settled(log, (uint64_t)(2 * per), 60.0));
    double drained = keel_now_seconds() - t0;
    tally tl = close_and_count(log);
    serve_predlog_close(log);
    /* Compressed size of what was written. */
    long long zbytes = 0;
    DIR *dh = opendir(o.dir);
    struct dirent *de;
    while (dh && (de = readdir(dh)) != NULL) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", o.dir, de->d_name);
        if (de->d_name[0] != '.' && stat(path, &st) == 0) zbytes += st.st_size;
    }
    if (dh) closedir(dh);
    fprintf(stderr,
            "    predlog: 2 threads x %ld lines (%.0f bytes avg): %.2f M appends/s, all written "
            "after %.2f s (%.2f M lines/s); %llu dropped; %.1f compressed bytes/line\n",
            per, (double)bytes / (2 * POOL), 2.0 * per / appended / 1e6, drained,
            2.0 * per / drained / 1e6, (unsigned long long)tl.dropped,
            tl.written ? (double)zbytes / (double)tl.written : 0.0);
    CHECK_EQ_INT(tl.written + tl.dropped, 2 * per);
    for (int t = 0; t < 2; t++) {
        free(b[t].lines);
        free(b[t].lens);
    }
}
