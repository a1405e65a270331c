/*
 * predlog.c — the prediction log: request threads queue JSON lines, one writer thread
 * compresses them into rotating zstd files. What a line holds is predlog_record.c's; this
 * file moves lines, and looks inside one only to keep it on one line.
 *
 * The queue is two buffers of queue_bytes / 2 each. Request threads append to the "fill"
 * buffer under a mutex held only for one memcpy; the writer, every 100 ms or when woken
 * because the fill buffer is half full, swaps the two (under the mutex, a few pointer moves)
 * and then compresses and writes the buffer it took with no lock held. So an append never
 * waits on I/O: at worst it waits for another append's memcpy. When the fill buffer has no
 * room the line is dropped and counted, which is what happens when the disk is slower than
 * the traffic; the bound on memory is queue_bytes, whatever the disk does.
 *
 * Lines are stored newline-terminated, so a taken buffer is exactly the bytes of the file
 * and goes to zstd in large pieces. Appending replaces a raw newline inside a line with a
 * space: JSON allows a raw newline only as whitespace between tokens, where a space means the
 * same, and a line split in two would break the file's one-object-per-line shape.
 *
 * Files. The writer opens DIR/predictions-<UTC>-<pid>-<n>.jsonl.zst.part when it has lines to
 * write, with O_EXCL so that it never overwrites anything. Each file is one zstd frame; each
 * batch is compressed with ZSTD_e_flush, so everything handed over reaches the file system at
 * once and a crash loses at most the last 100 ms (a streaming decoder reads a .part file up
 * to its last flush). A batch is cut only between lines: when the file's uncompressed size
 * reaches rotate_bytes (checked at the line that crosses it), or when the file is older than
 * rotate_seconds, the writer ends the frame, fsyncs, renames the file to .jsonl.zst and
 * fsyncs the directory. serve_predlog_close does the same after draining the queue.
 *
 * Accounting. A line is "written" once the flush that carries it has been written without
 * error, and "dropped" when the queue is full or when an error loses it; every line ends up
 * in exactly one of the two. On a write error (disk full) the writer truncates the file back
 * to its last good flush, so the abandoned .part file holds exactly the lines counted
 * written, counts the lines of the failed batch as dropped, and leaves the queue alone for a
 * back-off (0.25 s doubling to 30 s) before it tries a new file. Meanwhile appends fill the
 * queue and then drop: memory stays bounded and the server keeps answering.
 *
 * Allocation happens at open only, zstd's included (its allocator is pointed at keel's, and
 * a warm-up call makes it allocate its workspace there), so out-of-memory is an open error
 * and the writer thread allocates nothing.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: zstd allocating through keel */
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define DEFAULT_QUEUE_BYTES  ((size_t)64 << 20)
#define DEFAULT_ROTATE_BYTES ((size_t)256 << 20)
#define DEFAULT_ROTATE_SECS  3600
#define DEFAULT_LEVEL        3
#define TICK_SECONDS         0.1
#define BACKOFF_FIRST        0.25
#define BACKOFF_MAX          30.0

struct serve_predlog {
    /* Set at open, read-only afterwards. */
    char *dir;
    size_t half; /* capacity of each queue buffer */
    uint64_t rotate_bytes;
    double rotate_seconds; /* <= 0: never by age */
    long (*write_fn)(void *ud, int fd, const void *p, size_t n);
    void *write_ud;

    /* The queue: fill and its length under lock; the writer owns spare between swaps. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *fill;
    size_t fill_len;
    bool kicked; /* the writer has been signalled since its last swap */
    bool stop;
    char *spare;

    _Atomic uint64_t dropped;
    _Atomic uint64_t written;

    /* The writer thread's state. */
    pthread_t thread;
    ZSTD_CCtx *cctx;
    char *zout;
    size_t zout_cap;
    int dir_fd;
    int fd; /* -1: no file open */
    char part[PATH_MAX];
    uint64_t file_bytes; /* uncompressed bytes written to the current file */
    uint64_t file_size;  /* compressed bytes written to it */
    uint64_t file_good;  /* ... up to its last good flush */
    double file_opened;  /* keel_now_seconds() at open */
    unsigned seq;        /* n in the file names */
    double retry_at;     /* no new file before this time, after an error */
    double backoff;
};

/* ---- files --------------------------------------------------------------------------- */

static long sys_write(void *ud, int fd, const void *p, size_t n)
{
    (void)ud;
    return (long)write(fd, p, n);
}

static int write_all(serve_predlog *l, const char *p, size_t n)
{
    while (n > 0) {
        long w = l->write_fn(l->write_ud, l->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return KEEL_EIO;
        p += w;
        n -= (size_t)w;
        l->file_size += (uint64_t)w;
    }
    return KEEL_OK;
}

/* Feeds p[0..n) to the compressor and writes what comes out; mode ZSTD_e_flush or
 * ZSTD_e_end makes it return only once everything has been written. */
static int compress_write(serve_predlog *l, const char *p, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {l->zout, l->zout_cap, 0};
        size_t left = ZSTD_compressStream2(l->cctx, &out, &in, mode);
        if (ZSTD_isError(left)) return KEEL_EIO; /* out of memory, in practice: none */
        if (out.pos && write_all(l, l->zout, out.pos) != KEEL_OK) return KEEL_EIO;
        if (left == 0 && in.pos == in.size) return KEEL_OK;
    }
}

/* The final name: the .part name without its suffix. */
static void final_name(const serve_predlog *l, char *out)
{
    size_t n = strlen(l->part) - strlen(".part");
    memcpy(out, l->part, n);
    out[n] = '\0';
}

static int open_file(serve_predlog *l)
{
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int attempt = 0; attempt < 100; attempt++) {
        char final[PATH_MAX];
        int n = snprintf(l->part, sizeof l->part, "%s/predictions-%s-%ld-%u.jsonl.zst.part", l->dir,
                         stamp, (long)getpid(), l->seq++);
        if (n < 0 || (size_t)n >= sizeof l->part) return KEEL_EIO; /* checked at open */
        final_name(l, final);
        if (access(final, F_OK) == 0) continue; /* a finished file of that name: next n */
        l->fd = open(l->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (l->fd < 0 && errno == EEXIST) continue;
        if (l->fd < 0) return KEEL_EIO;
        ZSTD_CCtx_reset(l->cctx, ZSTD_reset_session_only);
        l->file_bytes = 0;
        l->file_size = 0;
        l->file_good = 0;
        l->file_opened = keel_now_seconds();
        return KEEL_OK;
    }
    return KEEL_EIO;
}

/* Ends the frame and publishes the file. A failure leaves it as .part (its lines were
 * counted written when their flush succeeded: they are there, before the missing end). */
static void close_file(serve_predlog *l)
{
    if (l->fd < 0) return;
    bool ok = compress_write(l, NULL, 0, ZSTD_e_end) == KEEL_OK && fsync(l->fd) == 0;
    ok = close(l->fd) == 0 && ok;
    l->fd = -1;
    if (ok) {
        char final[PATH_MAX];
        final_name(l, final);
        if (rename(l->part, final) == 0) fsync(l->dir_fd);
    }
}

/* After a write error: cut the file back to its last good flush, so that it holds exactly the
 * lines counted written, and give it up (removing it when that leaves it empty). */
static void abandon_file(serve_predlog *l)
{
    if (l->fd < 0) return;
    int cut = ftruncate(l->fd, (off_t)l->file_good);
    close(l->fd);
    l->fd = -1;
    if (cut == 0 && l->file_good == 0) unlink(l->part);
}

static void fail_and_back_off(serve_predlog *l)
{
    l->retry_at = keel_now_seconds() + l->backoff;
    l->backoff = KEEL_MIN(l->backoff * 2, BACKOFF_MAX);
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* Writes a taken buffer (whole lines) across as many files as rotation asks. */
static void write_batch(serve_predlog *l, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (l->fd < 0 && open_file(l) != KEEL_OK) goto fail;
        /* This file's share: all of it, or up to the end of the line that crosses
         * rotate_bytes (at least one line, so tiny limits still make progress). */
        uint64_t room = l->rotate_bytes > l->file_bytes ? l->rotate_bytes - l->file_bytes : 0;
        size_t end = len;
        if (len - off > room) {
            const char *nl =
                memchr(buf + off + (room ? room - 1 : 0), '\n', len - off - (room ? room - 1 : 0));
            end = (size_t)(nl - buf) + 1; /* the buffer ends with '\n': nl is found */
        }
        if (compress_write(l, buf + off, end - off, ZSTD_e_flush) != KEEL_OK) {
            abandon_file(l);
            goto fail;
        }
        atomic_fetch_add_explicit(&l->written, count_lines(buf + off, end - off),
                                  memory_order_relaxed);
        l->file_bytes += end - off;
        l->file_good = l->file_size;
        off = end;
        if (l->file_bytes >= l->rotate_bytes) close_file(l);
    }
    l->backoff = BACKOFF_FIRST;
    return;
fail:
    atomic_fetch_add_explicit(&l->dropped, count_lines(buf + off, len - off), memory_order_relaxed);
    fail_and_back_off(l);
}

/* ---- the writer thread ------------------------------------------------------------------ */

static void deadline_in(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    long ns = ts->tv_nsec + (long)(seconds * 1e9);
    ts->tv_sec += ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

static void *writer_main(void *arg)
{
    serve_predlog *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        /* During a back-off the queue is left to fill (and then drop), and a kick is left
         * pending, so that appends do not signal again: the writer just ticks. */
        bool backing_off = keel_now_seconds() < l->retry_at;
        if (!l->stop && (!l->kicked || backing_off)) {
            struct timespec ts;
            deadline_in(&ts, TICK_SECONDS);
            pthread_cond_timedwait(&l->wake, &l->lock, &ts);
        }
        bool stopping = l->stop;
        /* Closing tries at once, back-off or not: there is no later. */
        bool may_write = stopping || keel_now_seconds() >= l->retry_at;
        char *batch = NULL;
        size_t n = 0;
        if (may_write && l->fill_len > 0) {
            batch = l->fill;
            n = l->fill_len;
            l->fill = l->spare;
            l->fill_len = 0;
            l->spare = batch;
            l->kicked = false;
        }
        pthread_mutex_unlock(&l->lock);

        if (n) write_batch(l, batch, n);
        if (l->fd >= 0 && l->rotate_seconds > 0 &&
            keel_now_seconds() - l->file_opened >= l->rotate_seconds)
            close_file(l);
        if (stopping && n == 0) break; /* drained: appends have stopped before close */
    }
    close_file(l);
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------- */

static void *zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return keel_malloc(size);
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    keel_free(p);
}

/* mkdir -p, mode 0755 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Creates and removes a file: the one sure test that the writer will be able to write (access()
 * says yes to root on a read-only mount's neighbours, and knows nothing of quotas). */
static int probe_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.predictions-probe-%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    close(fd);
    unlink(path);
    return 0;
}

static void predlog_free(serve_predlog *l)
{
    if (!l) return;
    if (l->dir_fd >= 0) close(l->dir_fd);
    ZSTD_freeCCtx(l->cctx);
    keel_free(l->zout);
    keel_free(l->fill);
    keel_free(l->spare);
    keel_free(l->dir);
    keel_free(l);
}

int serve_predlog_open(const serve_predlog_options *o, serve_predlog **out, keel_error *e)
{
    *out = NULL;
    if (!o || !o->dir || !*o->dir)
        return keel_error_set(e, KEEL_EINVAL, "prediction log: no directory given");
    /* Room for the longest file name below the directory. */
    if (strlen(o->dir) > PATH_MAX - 128)
        return keel_error_set(e, KEEL_EINVAL, "prediction log directory name too long");
    if (make_dirs(o->dir) != 0)
        return keel_error_set(e, KEEL_EIO, "cannot create the prediction log directory %s: %s",
                              o->dir, strerror(errno));
    if (probe_dir(o->dir) != 0)
        return keel_error_set(e, KEEL_EIO, "cannot write in the prediction log directory %s: %s",
                              o->dir, strerror(errno));

    int rc = KEEL_ENOMEM;
    bool have_lock = false, have_cond = false;
    serve_predlog *l = keel_calloc(1, sizeof *l);
    if (!l) goto fail;
    l->dir_fd = -1;
    l->fd = -1;
    size_t queue = o->queue_bytes ? o->queue_bytes : DEFAULT_QUEUE_BYTES;
    l->half = KEEL_MAX(queue / 2, 1);
    l->rotate_bytes = o->rotate_bytes ? o->rotate_bytes : DEFAULT_ROTATE_BYTES;
    l->rotate_seconds = o->rotate_seconds ? (double)o->rotate_seconds : DEFAULT_ROTATE_SECS;
    l->write_fn = o->test_write ? o->test_write : sys_write;
    l->write_ud = o->test_write_ud;
    l->backoff = BACKOFF_FIRST;
    l->dir = keel_strdup(o->dir);
    l->fill = keel_malloc(l->half);
    l->spare = keel_malloc(l->half);
    l->zout_cap = ZSTD_CStreamOutSize();
    l->zout = keel_malloc(l->zout_cap);
    l->cctx = ZSTD_createCCtx_advanced((ZSTD_customMem){zstd_alloc, zstd_free, NULL});
    if (!l->dir || !l->fill || !l->spare || !l->zout || !l->cctx) goto fail;

    int level = o->zstd_level ? o->zstd_level : DEFAULT_LEVEL;
    level = KEEL_MAX(ZSTD_minCLevel(), KEEL_MIN(level, ZSTD_maxCLevel()));
    if (ZSTD_isError(ZSTD_CCtx_setParameter(l->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(l->cctx, ZSTD_c_checksumFlag, 1)))
        goto fail;
    /* Warm-up: a flush of nothing, size unknown as in real use, makes zstd allocate its
     * workspace now; the writer's frames then reuse it. */
    {
        ZSTD_inBuffer in = {NULL, 0, 0};
        ZSTD_outBuffer zo = {l->zout, l->zout_cap, 0};
        if (ZSTD_isError(ZSTD_compressStream2(l->cctx, &zo, &in, ZSTD_e_flush))) goto fail;
        ZSTD_CCtx_reset(l->cctx, ZSTD_reset_session_only);
    }

    rc = KEEL_EIO;
    l->dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->dir_fd < 0) {
        keel_error_set(e, rc, "cannot open the prediction log directory %s: %s", o->dir,
                       strerror(errno));
        goto fail_quiet;
    }
    rc = KEEL_ENOMEM;
    if (pthread_mutex_init(&l->lock, NULL) != 0) goto fail;
    have_lock = true;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) goto fail;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int crc = pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (crc != 0) goto fail;
    have_cond = true;
    /* The writer runs with every signal blocked, so that the server's handlers (SIGTERM
     * starts draining) run on its own threads, never on this one mid-write. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int trc = pthread_create(&l->thread, NULL, writer_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (trc != 0) {
        keel_error_set(e, KEEL_ENOMEM, "cannot start the prediction log writer thread");
        goto fail_quiet;
    }
    *out = l;
    return KEEL_OK;
fail:
    keel_error_set(e, rc, "out of memory opening the prediction log");
fail_quiet:
    if (have_cond) pthread_cond_destroy(&l->wake);
    if (have_lock) pthread_mutex_destroy(&l->lock);
    predlog_free(l);
    return rc;
}

bool serve_predlog_append(serve_predlog *l, const char *line, size_t n)
{
    /* Outside the lock: the scan for raw newlines (rare), the size check. */
    bool has_nl = memchr(line, '\n', n) != NULL;
    if (KEEL_UNLIKELY(n >= l->half)) goto drop;
    pthread_mutex_lock(&l->lock);
    if (l->half - l->fill_len < n + 1) {
        pthread_mutex_unlock(&l->lock);
        goto drop;
    }
    char *dst = l->fill + l->fill_len;
    memcpy(dst, line, n);
    if (KEEL_UNLIKELY(has_nl))
        for (size_t i = 0; i < n; i++)
            if (dst[i] == '\n') dst[i] = ' ';
    dst[n] = '\n';
    l->fill_len += n + 1;
    /* Wake the writer early once half the buffer is used, once per swap: under load this
     * keeps the other buffer drained well before this one fills. */
    bool kick = !l->kicked && l->fill_len >= l->half / 2;
    if (kick) l->kicked = true;
    pthread_mutex_unlock(&l->lock);
    if (kick) pthread_cond_signal(&l->wake);
    return true;
drop:
    atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
    return false;
}

uint64_t serve_predlog_dropped(const serve_predlog *l)
{
    return atomic_load_explicit(&((serve_predlog *)l)->dropped, memory_order_relaxed);
}

uint64_t serve_predlog_written(const serve_predlog *l)
{
    return atomic_load_explicit(&((serve_predlog *)l)->written, memory_order_relaxed);
}

void serve_predlog_close(serve_predlog *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    pthread_cond_signal(&l->wake);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    predlog_free(l);
}
