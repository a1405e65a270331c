/*
 * artifact.c — writing and checking .keel artifact files (layout: docs/artifact.md).
 *
 * Reading. The whole file is read into one 64-byte-aligned heap buffer, never mapped: a mapping of
 * a file that another process truncates faults (SIGBUS) on the first read past the new end, and a
 * server re-reading a model must not die because someone ran `truncate` or a copy tool rewrote the
 * file in place; a copy can only be short, which the checks below report ("shrank while being
 * read", "truncated", "checksum mismatch"). Models copy their parameters out and close the
 * artifact at once, so the copy costs one read of the file and lives for the load only. Every
 * field is decoded byte by byte through a bounded cursor, so no structure is ever overlaid on file
 * bytes and no read can leave the buffer. The checks run in file order and each names what it
 * found: first the fixed header (magic, version, flags), then the declared regions — header,
 * manifest, each tensor — against the caps and the file size, so that a short file says "truncated
 * at byte N" rather than "checksum mismatch", then the zero padding between regions (every byte of
 * a valid file is accounted for), names, and only then the SHA-256 digest stored in the last 32
 * bytes. The digest and the whole-file hash (the artifact's identity) come from one pass: the hash
 * state over the prefix is copied, one copy is finished as the digest to compare, the other
 * absorbs the last 32 bytes. An open artifact holds one heap block (the tensor descriptors with
 * their NUL-terminated names, and an index sorted by name for keel_artifact_find) besides the file
 * bytes, and never changes after open, so threads may share it.
 *
 * Writing. The layout is computed from the inputs before anything touches the disk (every
 * size overflow-checked), then the bytes stream through a 64 KiB staging buffer into a
 * temporary file created with O_EXCL beside the target, hashed on the way. The file is
 * fsync'ed, renamed over the target and the directory fsync'ed, which is the POSIX recipe
 * for a replacement that survives a crash whole or not at all. Any failure unlinks the
 * temporary file. The output is a pure function of the inputs (no timestamps, zero padding).
 */
#include "model/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor data is handed out as pointers into the little-endian file. A big-endian port needs
 * a byte-swapping copy at open and at write; until then, refuse to build rather than return
 * silently wrong numbers. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "keel artifacts store tensors little-endian; artifact.c needs byte swapping on this host"
#endif

/* 0x89 catches 7-bit transfers, "\r\n" a CRLF-to-LF conversion, the lone "\n" the reverse. */
static const unsigned char MAGIC[8] = {0x89, 'K', 'E', 'E', 'L', '\r', '\n', '\n'};

enum {
    VERSION = 1,
    FIXED_HEADER = 48, /* magic, version, flags, header_len, manifest offset/len, count */
    DIGEST_LEN = 32,
    MIN_SIZE = FIXED_HEADER + DIGEST_LEN,
    ENTRY_MIN = 4 + 1 + 4 + 4 + 8 + 8, /* name_len, a 1-byte name, dtype, rank, offset, nbytes */
    STAGE = 64 * 1024,
};

_Static_assert(KEEL_ARTIFACT_ALIGN == 64, "docs/artifact.md specifies 64-byte alignment");

/* ---- dtypes ------------------------------------------------------------------------------ */

const char *keel_dtype_name(keel_dtype t)
{
    static const char *const names[KEEL_DTYPE_COUNT] = {"f32", "f64", "i32", "i64", "u8"};
    return (unsigned)t < KEEL_DTYPE_COUNT ? names[t] : "?";
}

size_t keel_dtype_size(keel_dtype t)
{
    static const unsigned char sizes[KEEL_DTYPE_COUNT] = {4, 8, 4, 8, 1};
    return (unsigned)t < KEEL_DTYPE_COUNT ? sizes[t] : 0;
}

/* ---- checks shared by reader and writer ------------------------------------------------- */

/* Returns the first byte of name[0..len) that is not printable ASCII, or -1 if all are. */
static int bad_name_byte(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c > 0x7e) return c;
    }
    return -1;
}

/* Elements times element size of a shape; false if the product overflows 64 bits. */
static bool shape_bytes(const uint64_t *shape, size_t rank, keel_dtype dtype, uint64_t *out)
{
    uint64_t n = keel_dtype_size(dtype);
    for (size_t i = 0; i < rank; i++)
        if (__builtin_mul_overflow(n, shape[i], &n)) return false;
    *out = n;
    return true;
}

/* Writes "[2, 3, 4]" into buf (at most 4 dims of 20 digits: under 100 bytes). */
static const char *shape_str(const uint64_t *shape, size_t rank, char buf[100])
{
    size_t k = 0;
    buf[k++] = '[';
    for (size_t i = 0; i < rank; i++)
        k += (size_t)snprintf(buf + k, 100 - k, "%s%" PRIu64, i ? ", " : "", shape[i]);
    buf[k++] = ']';
    buf[k] = '\0';
    return buf;
}

static uint64_t align_up(uint64_t x)
{
    return (x + (KEEL_ARTIFACT_ALIGN - 1)) & ~(uint64_t)(KEEL_ARTIFACT_ALIGN - 1);
}

/* ---- the open artifact ------------------------------------------------------------------ */

typedef struct entry {
    keel_artifact_tensor t;
    char name[KEEL_ARTIFACT_MAX_NAME + 1];
} entry;

struct keel_artifact {
    const unsigned char *bytes; /* the whole file */
    size_t size;
    void *owned; /* the block holding bytes (keel_artifact_open), else NULL */
    const char *manifest;
    size_t manifest_len;
    size_t n_tensors;
    entry *tensors;        /* file order; lives in the same block as the struct */
    const entry **by_name; /* sorted by name; same block */
    char sha256[65];
};

void keel_artifact_close(keel_artifact *a)
{
    if (!a) return;
    keel_free(a->owned);
    keel_free(a);
}

const char *keel_artifact_manifest(const keel_artifact *a, size_t *len)
{
    if (len) *len = a->manifest_len;
    return a->manifest;
}

size_t keel_artifact_n_tensors(const keel_artifact *a)
{
    return a->n_tensors;
}

const keel_artifact_tensor *keel_artifact_tensor_at(const keel_artifact *a, size_t i)
{
    return i < a->n_tensors ? &a->tensors[i].t : NULL;
}

static int by_name_cmp(const void *x, const void *y)
{
    const entry *const *p = x, *const *q = y;
    return strcmp((*p)->name, (*q)->name);
}

const keel_artifact_tensor *keel_artifact_find(const keel_artifact *a, const char *name)
{
    if (!name) return NULL;
    size_t lo = 0, hi = a->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a->by_name[mid]->name, name);
        if (c == 0) return &a->by_name[mid]->t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *keel_artifact_sha256(const keel_artifact *a)
{
    return a->sha256;
}

/* ---- reading ------------------------------------------------------------------------------ */

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A read position inside the tensor table: [pos, end) may be read. */
typedef struct cursor {
    const unsigned char *b;
    size_t pos, end;
} cursor;

static const unsigned char *take(cursor *c, size_t n)
{
    if (c->end - c->pos < n) return NULL;
    const unsigned char *p = c->b + c->pos;
    c->pos += n;
    return p;
}

static int fmt_err(keel_error *e, const char *fmt, ...) KEEL_PRINTF(2, 3);
static int fmt_err(keel_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_error_setv(e, KEEL_EFORMAT, fmt, ap);
    va_end(ap);
    return KEEL_EFORMAT;
}

/* A region that does not fit before the digest: the usual sign of a cut-short file. */
static int truncated(keel_error *e, size_t n, const char *what, uint64_t end)
{
    return fmt_err(e,
                   "truncated at byte %zu: %s ends at byte %" PRIu64
                   ", past the end of the data (byte %zu; the last 32 bytes are the digest)",
                   n, what, end, n - DIGEST_LEN);
}

/* Every byte in [from, to) must be zero padding. */
static int check_padding(const unsigned char *b, uint64_t from, uint64_t to, keel_error *e)
{
    for (uint64_t i = from; i < to; i++)
        if (b[i]) return fmt_err(e, "padding byte %" PRIu64 " is 0x%02x, not zero", i, b[i]);
    return KEEL_OK;
}

/* Decodes and checks entry i of the tensor table into *en. prev_end is the end of the last
 * region (manifest or tensor) so far and is advanced past this tensor. */
static int read_entry(cursor *c, size_t i, const unsigned char *b, size_t n, uint64_t *prev_end,
                      const char *prev_name, entry *en, keel_error *e)
{
    const unsigned char *p;
    if (!(p = take(c, 4))) goto short_table;
    uint32_t name_len = get32(p);
    if (name_len < 1 || name_len > KEEL_ARTIFACT_MAX_NAME)
        return fmt_err(e, "tensor %zu: name length %" PRIu32 " is not in 1..%d", i, name_len,
                       KEEL_ARTIFACT_MAX_NAME);
    if (!(p = take(c, name_len))) goto short_table;
    int bad = bad_name_byte((const char *)p, name_len);
    if (bad >= 0)
        return fmt_err(e, "tensor %zu: name contains byte 0x%02x, which is not printable ASCII", i,
                       bad);
    memcpy(en->name, p, name_len);
    en->name[name_len] = '\0';
    en->t.name = en->name;
    const char *nm = en->name;

    if (!(p = take(c, 8))) goto short_table;
    uint32_t dtype = get32(p), rank = get32(p + 4);
    if (dtype >= KEEL_DTYPE_COUNT)
        return fmt_err(e, "tensor '%s': unknown dtype %" PRIu32 " (known: 0..%d)", nm, dtype,
                       KEEL_DTYPE_COUNT - 1);
    if (rank > KEEL_ARTIFACT_MAX_RANK)
        return fmt_err(e, "tensor '%s': rank %" PRIu32 " is more than %d", nm, rank,
                       KEEL_ARTIFACT_MAX_RANK);
    en->t.dtype = (keel_dtype)dtype;
    en->t.rank = rank;
    for (uint32_t k = 0; k < rank; k++) {
        if (!(p = take(c, 8))) goto short_table;
        en->t.shape[k] = get64(p);
    }
    if (!(p = take(c, 16))) goto short_table;
    uint64_t off = get64(p), nbytes = get64(p + 8);
    en->t.nbytes = nbytes;

    char sb[100];
    uint64_t want;
    if (!shape_bytes(en->t.shape, rank, en->t.dtype, &want))
        return fmt_err(e, "tensor '%s': shape %s of %s overflows 64 bits", nm,
                       shape_str(en->t.shape, rank, sb), keel_dtype_name(en->t.dtype));
    if (nbytes != want)
        return fmt_err(
            e, "tensor '%s': size is %" PRIu64 " bytes but shape %s of %s needs %" PRIu64, nm,
            nbytes, shape_str(en->t.shape, rank, sb), keel_dtype_name(en->t.dtype), want);
    if (off % KEEL_ARTIFACT_ALIGN)
        return fmt_err(e, "tensor '%s': data offset %" PRIu64 " is not a multiple of %d", nm, off,
                       KEEL_ARTIFACT_ALIGN);
    uint64_t end;
    if (__builtin_add_overflow(off, nbytes, &end))
        return fmt_err(e, "tensor '%s': data offset %" PRIu64 " plus size %" PRIu64 " overflows",
                       nm, off, nbytes);
    if (off < *prev_end) {
        if (prev_name)
            return fmt_err(e,
                           "tensor '%s': data at byte %" PRIu64 " overlaps or precedes tensor '%s'"
                           " (which ends at byte %" PRIu64 "); data must be in table order",
                           nm, off, prev_name, *prev_end);
        return fmt_err(e,
                       "tensor '%s': data at byte %" PRIu64 " is inside the header or manifest "
                       "(which end at byte %" PRIu64 ")",
                       nm, off, *prev_end);
    }
    if (end > n - DIGEST_LEN) {
        char what[100];
        snprintf(what, sizeof what, "tensor '%s'", nm);
        return truncated(e, n, what, end);
    }
    int rc = check_padding(b, *prev_end, off, e);
    if (rc) return rc;
    en->t.data = b + off;
    *prev_end = end;
    return KEEL_OK;

short_table:
    return fmt_err(e, "tensor %zu: its table entry runs past the end of the header (byte %zu)", i,
                   c->end);
}

static int parse(const unsigned char *b, size_t n, bool check_digest, keel_artifact **out,
                 keel_error *e)
{
    *out = NULL;
    keel_artifact *a = NULL;
    int rc;

    if (n < MIN_SIZE) {
        if (memcmp(b ? (const void *)b : (const void *)MAGIC, MAGIC, KEEL_MIN(n, sizeof MAGIC)))
            return fmt_err(e, "not a keel artifact: the file does not start with the magic bytes");
        if (n == 0) return fmt_err(e, "truncated at byte 0: the file is empty");
        return fmt_err(e, "truncated at byte %zu: an artifact is at least %d bytes", n, MIN_SIZE);
    }
    if (memcmp(b, MAGIC, sizeof MAGIC)) {
        if (memcmp(b + 1, "KEEL", 4) == 0)
            return fmt_err(e, "not a keel artifact: the magic bytes are damaged (was the file "
                              "copied in text mode?)");
        return fmt_err(e, "not a keel artifact: the file does not start with the magic bytes");
    }
    uint32_t version = get32(b + 8), flags = get32(b + 12);
    if (version > VERSION)
        return fmt_err(e,
                       "artifact format version %" PRIu32 " is newer than this keel supports (%d)",
                       version, VERSION);
    if (version != VERSION)
        return fmt_err(e, "artifact format version %" PRIu32 " is not valid", version);
    if (flags)
        return fmt_err(e, "unknown header flags 0x%08" PRIx32 " (version 1 defines none)", flags);

    uint64_t header_len = get64(b + 16), m_off = get64(b + 24), m_len = get64(b + 32);
    uint64_t count = get64(b + 40);
    if (header_len < FIXED_HEADER)
        return fmt_err(e, "header length %" PRIu64 " is less than the fixed header (%d bytes)",
                       header_len, FIXED_HEADER);
    if (header_len > n - DIGEST_LEN) return truncated(e, n, "the header", header_len);
    if (count > KEEL_ARTIFACT_MAX_TENSORS)
        return fmt_err(e, "too many tensors: %" PRIu64 " (at most %d)", count,
                       KEEL_ARTIFACT_MAX_TENSORS);
    if (count > (header_len - FIXED_HEADER) / ENTRY_MIN)
        return fmt_err(e,
                       "the tensor table claims %" PRIu64 " tensors, more than fit in a %" PRIu64
                       "-byte header",
                       count, header_len);
    if (m_len > KEEL_ARTIFACT_MAX_MANIFEST)
        return fmt_err(e, "manifest length %" PRIu64 " is over the limit of %u bytes", m_len,
                       KEEL_ARTIFACT_MAX_MANIFEST);
    if (m_off < header_len)
        return fmt_err(
            e, "manifest at byte %" PRIu64 " is inside the header (which ends at byte %" PRIu64 ")",
            m_off, header_len);
    uint64_t m_end;
    if (__builtin_add_overflow(m_off, m_len, &m_end))
        return fmt_err(e, "manifest offset %" PRIu64 " plus length %" PRIu64 " overflows", m_off,
                       m_len);
    if (m_end > n - DIGEST_LEN) return truncated(e, n, "the manifest", m_end);
    if ((rc = check_padding(b, header_len, m_off, e))) return rc;
    size_t valid = keel_utf8_valid_prefix((const char *)b + m_off, (size_t)m_len);
    if (valid != m_len)
        return fmt_err(e, "the manifest is not valid UTF-8 (at byte %zu of it)", valid);

    /* One block: the struct, the entries, the name index. count <= 4096 bounds it. */
    size_t n_t = (size_t)count;
    size_t size = sizeof *a + n_t * sizeof(entry) + n_t * sizeof(entry *);
    a = keel_calloc(1, size);
    if (!a) return keel_error_set(e, KEEL_ENOMEM, "out of memory opening an artifact");
    a->bytes = b;
    a->size = n;
    a->manifest = (const char *)b + m_off;
    a->manifest_len = (size_t)m_len;
    a->n_tensors = n_t;
    a->tensors = (entry *)(void *)(a + 1);
    a->by_name = (const entry **)(void *)(a->tensors + n_t);

    cursor c = {b, FIXED_HEADER, (size_t)header_len};
    uint64_t prev_end = m_end;
    for (size_t i = 0; i < n_t; i++) {
        rc = read_entry(&c, i, b, n, &prev_end, i ? a->tensors[i - 1].name : NULL, &a->tensors[i],
                        e);
        if (rc) goto fail;
        a->by_name[i] = &a->tensors[i];
    }
    if (c.pos != header_len) {
        rc = fmt_err(e,
                     "header length %" PRIu64 " does not match the tensor table, which ends at "
                     "byte %zu",
                     header_len, c.pos);
        goto fail;
    }
    if ((rc = check_padding(b, prev_end, n - DIGEST_LEN, e))) goto fail;
    qsort(a->by_name, n_t, sizeof *a->by_name, by_name_cmp);
    for (size_t i = 1; i < n_t; i++)
        if (strcmp(a->by_name[i - 1]->name, a->by_name[i]->name) == 0) {
            rc = fmt_err(e, "duplicate tensor name '%s'", a->by_name[i]->name);
            goto fail;
        }

    keel_sha256 whole, prefix;
    unsigned char d_prefix[32], d_whole[32];
    keel_sha256_init(&whole);
    keel_sha256_update(&whole, b, n - DIGEST_LEN);
    prefix = whole;
    keel_sha256_final(&prefix, d_prefix);
    keel_sha256_update(&whole, b + n - DIGEST_LEN, DIGEST_LEN);
    keel_sha256_final(&whole, d_whole);
    if (check_digest && memcmp(d_prefix, b + n - DIGEST_LEN, DIGEST_LEN)) {
        rc = fmt_err(e, "checksum mismatch: the file is corrupt or was modified");
        goto fail;
    }
    keel_sha256_hex(d_whole, a->sha256);
    *out = a;
    return KEEL_OK;

fail:
    keel_free(a);
    return rc;
}

int keel_artifact_open_mem(const void *data, size_t n, keel_artifact **out, keel_error *e)
{
    return parse(data, n, true, out, e);
}

int keel_artifact_open_mem_unchecked_digest(const void *data, size_t n, keel_artifact **out,
                                            keel_error *e)
{
    return parse(data, n, false, out, e);
}

/* An operating-system failure: ENOENT becomes KEEL_ENOENT, anything else KEEL_EIO. */
static int sys_err(keel_error *e, int err, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int sys_err(keel_error *e, int err, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return keel_error_set(e, err == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s: %s", what, strerror(err));
}

/* Opens path and checks that it is a regular file; *size receives its length. */
static int open_regular(const char *path, int *fd_out, size_t *size, keel_error *e)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_err(e, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sys_err(e, err, "cannot stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return keel_error_set(e, KEEL_EIO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return keel_error_set(e, KEEL_EIO, "'%s' is too large to open on this machine", path);
    }
    *size = (size_t)st.st_size;
    *fd_out = fd;
    return KEEL_OK;
}

/* Reads size bytes of fd into a fresh 64-byte-aligned buffer: *owned is the block to free,
 * *bytes the aligned start. */
static int read_all(int fd, const char *path, size_t size, void **owned,
                    const unsigned char **bytes, keel_error *e)
{
    *owned = NULL;
    size_t cap;
    if (!keel_size_add(size, KEEL_ARTIFACT_ALIGN, &cap))
        return keel_error_set(e, KEEL_ENOMEM, "'%s' is too large to read into memory", path);
    unsigned char *block = keel_malloc(cap);
    if (!block) return keel_error_set(e, KEEL_ENOMEM, "out of memory reading '%s'", path);
    unsigned char *p = (unsigned char *)(((uintptr_t)block + KEEL_ARTIFACT_ALIGN - 1) &
                                         ~(uintptr_t)(KEEL_ARTIFACT_ALIGN - 1));
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, p + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = r < 0 ? errno : EIO;
            keel_free(block);
            if (r == 0)
                return keel_error_set(
                    e, KEEL_EIO,
                    "'%s' shrank while being read: another process is changing it "
                    "(replace model files by rename, never in place)",
                    path);
            return sys_err(e, err, "cannot read '%s'", path);
        }
        got += (size_t)r;
    }
    *owned = block;
    *bytes = p;
    return KEEL_OK;
}

int keel_artifact_open(const char *path, keel_artifact **out, keel_error *e)
{
    *out = NULL;
    int fd;
    size_t size = 0;
    void *owned = NULL;
    const unsigned char *bytes = NULL;
    int rc = open_regular(path, &fd, &size, e);
    if (rc) return rc;
    rc = size > 0 ? read_all(fd, path, size, &owned, &bytes, e) : KEEL_OK;
    close(fd);
    if (rc) return rc;
    keel_error pe;
    rc = parse(bytes, size, true, out, &pe);
    if (rc) {
        if (rc == KEEL_EFORMAT)
            keel_error_set(e, rc, "%s: %s", path, pe.msg);
        else if (e)
            *e = pe;
        keel_free(owned);
        return rc;
    }
    (*out)->owned = owned;
    return KEEL_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* The output stream: a staging buffer in front of a file descriptor, hashing as it goes. */
typedef struct writer {
    int fd;
    unsigned char *stage;
    size_t len;
    uint64_t written; /* bytes put so far: the offset of the next one */
    keel_sha256 h;
    int err; /* errno of the first failure, 0 while all is well */
} writer;

static void write_fd(writer *w, const unsigned char *p, size_t n)
{
    while (n && !w->err) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0) {
            if (errno != EINTR) w->err = errno;
            continue;
        }
        if (r == 0) {
            w->err = EIO;
            continue;
        }
        p += r;
        n -= (size_t)r;
    }
}

static void flush(writer *w)
{
    write_fd(w, w->stage, w->len);
    w->len = 0;
}

static void put(writer *w, const void *p, size_t n)
{
    if (w->err || n == 0) return;
    keel_sha256_update(&w->h, p, n);
    w->written += n;
    if (w->len + n > STAGE) flush(w);
    if (n >= STAGE) {
        write_fd(w, p, n); /* large tensor data bypasses the buffer */
        return;
    }
    memcpy(w->stage + w->len, p, n);
    w->len += n;
}

static void put32(writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(w, b, 4);
}

static void put64(writer *w, uint64_t v)
{
    put32(w, (uint32_t)v);
    put32(w, (uint32_t)(v >> 32));
}

static void pad_to(writer *w, uint64_t off)
{
    static const unsigned char zeros[KEEL_ARTIFACT_ALIGN];
    while (w->written < off)
        put(w, zeros, (size_t)KEEL_MIN(off - w->written, sizeof zeros));
}

static int name_cmp(const void *x, const void *y)
{
    const char *const *p = x, *const *q = y;
    return strcmp(*p, *q);
}

/* Checks every input, as the reader will; sets *header_len and *data_end (the offset of the
 * digest). */
static int check_inputs(const char *manifest, size_t manifest_len, const keel_artifact_tensor *t,
                        size_t n_t, uint64_t *header_len, uint64_t *data_end, keel_error *e)
{
    if (manifest_len > KEEL_ARTIFACT_MAX_MANIFEST)
        return keel_error_set(e, KEEL_ELIMIT, "manifest is %zu bytes, over the limit of %u",
                              manifest_len, KEEL_ARTIFACT_MAX_MANIFEST);
    if (manifest_len && !manifest)
        return keel_error_set(e, KEEL_EINVAL, "manifest is NULL but its length is %zu",
                              manifest_len);
    size_t valid = manifest_len ? keel_utf8_valid_prefix(manifest, manifest_len) : 0;
    if (valid != manifest_len)
        return keel_error_set(e, KEEL_EINVAL, "manifest is not valid UTF-8 (at byte %zu)", valid);
    if (n_t > KEEL_ARTIFACT_MAX_TENSORS)
        return keel_error_set(e, KEEL_ELIMIT, "too many tensors: %zu (at most %d)", n_t,
                              KEEL_ARTIFACT_MAX_TENSORS);
    if (n_t && !t)
        return keel_error_set(e, KEEL_EINVAL, "tensors is NULL but n_tensors is %zu", n_t);

    /* Bounded sums: <= 48 + 4096 * (28 + 63 + 32) for the header and the manifest cap on top;
     * tensor sizes are checked one by one. */
    uint64_t hl = FIXED_HEADER, pos;
    for (size_t i = 0; i < n_t; i++) {
        const char *nm = t[i].name;
        size_t len = nm ? strnlen(nm, KEEL_ARTIFACT_MAX_NAME + 1) : 0;
        if (len < 1 || len > KEEL_ARTIFACT_MAX_NAME)
            return keel_error_set(e, KEEL_EINVAL, "tensor %zu: name must be 1..%d bytes", i,
                                  KEEL_ARTIFACT_MAX_NAME);
        int bad = bad_name_byte(nm, len);
        if (bad >= 0)
            return keel_error_set(e, KEEL_EINVAL,
                                  "tensor %zu: name contains byte 0x%02x, which is not "
                                  "printable ASCII",
                                  i, bad);
        if ((unsigned)t[i].dtype >= KEEL_DTYPE_COUNT)
            return keel_error_set(e, KEEL_EINVAL, "tensor '%s': unknown dtype %d", nm,
                                  (int)t[i].dtype);
        if (t[i].rank > KEEL_ARTIFACT_MAX_RANK)
            return keel_error_set(e, KEEL_EINVAL, "tensor '%s': rank %zu is more than %d", nm,
                                  t[i].rank, KEEL_ARTIFACT_MAX_RANK);
        char sb[100];
        uint64_t want;
        if (!shape_bytes(t[i].shape, t[i].rank, t[i].dtype, &want))
            return keel_error_set(e, KEEL_EINVAL, "tensor '%s': shape %s overflows 64 bits", nm,
                                  shape_str(t[i].shape, t[i].rank, sb));
        if (t[i].nbytes != want)
            return keel_error_set(e, KEEL_EINVAL,
                                  "tensor '%s': nbytes is %" PRIu64
                                  " but shape %s of %s needs %" PRIu64,
                                  nm, t[i].nbytes, shape_str(t[i].shape, t[i].rank, sb),
                                  keel_dtype_name(t[i].dtype), want);
        if (want && !t[i].data)
            return keel_error_set(e, KEEL_EINVAL, "tensor '%s': data is NULL", nm);
        hl += 4 + len + 8 + 8 * t[i].rank + 16;
    }
    pos = hl + manifest_len;
    for (size_t i = 0; i < n_t; i++) {
        pos = align_up(pos);
        if (__builtin_add_overflow(pos, t[i].nbytes, &pos) || pos > UINT64_MAX - 128)
            return keel_error_set(e, KEEL_ELIMIT, "the tensors add up to more than 2^64 bytes");
    }

    /* Duplicate names: sort a copy of the name pointers. */
    if (n_t > 1) {
        const char **names = keel_calloc(n_t, sizeof *names);
        if (!names) return keel_error_set(e, KEEL_ENOMEM, "out of memory writing an artifact");
        for (size_t i = 0; i < n_t; i++)
            names[i] = t[i].name;
        qsort(names, n_t, sizeof *names, name_cmp);
        for (size_t i = 1; i < n_t; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                keel_error_set(e, KEEL_EINVAL, "duplicate tensor name '%s'", names[i]);
                keel_free(names);
                return KEEL_EINVAL;
            }
        keel_free(names);
    }
    *header_len = hl;
    *data_end = pos;
    return KEEL_OK;
}

/* Creates a fresh temporary file beside path; *tmp receives its name, *dir the directory. */
static int create_temp(const char *path, keel_buf *tmp, keel_buf *dir, int *fd_out, keel_error *e)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int rc = slash ? keel_buf_append(dir, path, slash == path ? 1 : (size_t)(slash - path))
                   : keel_buf_puts(dir, ".");
    if (rc) return keel_error_set(e, rc, "out of memory writing an artifact");
    /* O_EXCL makes a name clash an error instead of sharing a file; retry with the next. */
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        keel_buf_reset(tmp);
        rc = keel_buf_printf(tmp, "%.*s.%s.tmp-%ld-%u", (int)(base - path), path, base,
                             (long)getpid(), k);
        if (rc) return keel_error_set(e, rc, "out of memory writing an artifact");
        int fd = open(tmp->data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *fd_out = fd;
            return KEEL_OK;
        }
        if (errno != EEXIST)
            return sys_err(e, errno, "cannot create a temporary file in '%s' for '%s'", dir->data,
                           base);
    }
    return keel_error_set(e, KEEL_EIO, "cannot create a temporary file in '%s': too many clashes",
                          dir->data);
}

int keel_artifact_write(const char *path, const char *manifest, size_t manifest_len,
                        const keel_artifact_tensor *tensors, size_t n_tensors,
                        unsigned char digest[32], keel_error *e)
{
    uint64_t header_len = 0, data_end = 0;
    keel_buf tmp, dir;
    keel_buf_init(&tmp);
    keel_buf_init(&dir);
    writer w = {.fd = -1};
    bool created = false;
    int rc;

    if (!path || !*path) return keel_error_set(e, KEEL_EINVAL, "no path to write the artifact to");
    rc = check_inputs(manifest, manifest_len, tensors, n_tensors, &header_len, &data_end, e);
    if (rc) return rc;
    w.stage = keel_malloc(STAGE);
    if (!w.stage) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory writing an artifact");
        goto fail;
    }
    if ((rc = create_temp(path, &tmp, &dir, &w.fd, e))) goto fail;
    created = true;

    keel_sha256_init(&w.h);
    put(&w, MAGIC, sizeof MAGIC);
    put32(&w, VERSION);
    put32(&w, 0); /* flags */
    put64(&w, header_len);
    put64(&w, header_len); /* the manifest follows the header directly */
    put64(&w, manifest_len);
    put64(&w, n_tensors);
    uint64_t off = header_len + manifest_len;
    for (size_t i = 0; i < n_tensors; i++) {
        const keel_artifact_tensor *t = &tensors[i];
        size_t len = strlen(t->name);
        put32(&w, (uint32_t)len);
        put(&w, t->name, len);
        put32(&w, (uint32_t)t->dtype);
        put32(&w, (uint32_t)t->rank);
        for (size_t k = 0; k < t->rank; k++)
            put64(&w, t->shape[k]);
        off = align_up(off);
        put64(&w, off);
        put64(&w, t->nbytes);
        off += t->nbytes;
    }
    put(&w, manifest, manifest_len);
    for (size_t i = 0; i < n_tensors; i++) {
        pad_to(&w, align_up(w.written));
        put(&w, tensors[i].data, (size_t)tensors[i].nbytes);
    }
    /* The stored digest covers everything before it; the file's identity covers it too. */
    keel_sha256 prefix = w.h;
    unsigned char d[32];
    keel_sha256_final(&prefix, d);
    put(&w, d, sizeof d);
    flush(&w);
    if (w.err) {
        rc = sys_err(e, w.err, "cannot write '%s'", tmp.data);
        goto fail;
    }
    if (w.written != data_end + DIGEST_LEN) { /* a bug in this file, not bad input */
        rc =
            keel_error_set(e, KEEL_EIO, "internal error: wrote %" PRIu64 " bytes, planned %" PRIu64,
                           w.written, data_end + DIGEST_LEN);
        goto fail;
    }
    if (fsync(w.fd) != 0) {
        rc = sys_err(e, errno, "cannot sync '%s'", tmp.data);
        goto fail;
    }
    int fd = w.fd;
    w.fd = -1;
    if (close(fd) != 0) {
        rc = sys_err(e, errno, "cannot close '%s'", tmp.data);
        goto fail;
    }
    if (rename(tmp.data, path) != 0) {
        rc = sys_err(e, errno, "cannot rename the temporary file to '%s'", path);
        goto fail;
    }
    created = false;
    /* Make the rename itself durable. Some filesystems cannot sync a directory (EINVAL);
     * there is nothing more to do on those. */
    int dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int r = fsync(dfd), err = errno;
        close(dfd);
        if (r != 0 && err != EINVAL && err != ENOTSUP) {
            rc = sys_err(e, err, "cannot sync directory '%s'", dir.data);
            goto fail;
        }
    }
    keel_sha256_final(&w.h, d);
    if (digest) memcpy(digest, d, 32);
    keel_free(w.stage);
    keel_buf_free(&tmp);
    keel_buf_free(&dir);
    return KEEL_OK;

fail:
    if (w.fd >= 0) close(w.fd);
    if (created) unlink(tmp.data);
    keel_free(w.stage);
    keel_buf_free(&tmp);
    keel_buf_free(&dir);
    return rc;
}
