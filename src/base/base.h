/*
 * base.h — keel's private foundation: allocation through the hook, overflow-checked sizes,
 * error reports, growable byte buffers, hashing, SHA-256, logging and progress.
 *
 * Every other module includes this; it includes nothing of keel's but keel.h.
 */
#ifndef KEEL_BASE_H
#define KEEL_BASE_H

#include "keel.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define KEEL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KEEL_LIKELY(x)    __builtin_expect(!!(x), 1)
#define KEEL_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#else
#define KEEL_PRINTF(a, b)
#define KEEL_LIKELY(x)   (x)
#define KEEL_UNLIKELY(x) (x)
#endif

#define KEEL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KEEL_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define KEEL_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* ---- allocation (alloc.c) ---------------------------------------------------------------
 * All keel memory comes from here. Each returns NULL on failure (or on a size overflow);
 * keel_free(NULL) does nothing. */
void *keel_malloc(size_t size);
void *keel_calloc(size_t n, size_t size); /* zeroed; NULL if n * size overflows */
void *keel_realloc(void *ptr, size_t size);
void *keel_reallocarray(void *ptr, size_t n, size_t size); /* NULL if n * size overflows */
void keel_free(void *ptr);
char *keel_strdup(const char *s);
char *keel_strndup(const char *s, size_t n);

/* Overflow-checked size arithmetic: return false (and leave *out alone) on overflow. */
static inline bool keel_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool keel_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ---- errors (error.c) ------------------------------------------------------------------ */

/* Fills e (if not NULL) with code and a printf-formatted message; returns code, so that
 * callers can write `return keel_error_set(e, KEEL_EINVAL, "...")`. */
int keel_error_set(keel_error *e, int code, const char *fmt, ...) KEEL_PRINTF(3, 4);
int keel_error_setv(keel_error *e, int code, const char *fmt, va_list ap);
void keel_error_clear(keel_error *e);

/* ---- growable byte buffer (buf.c) ------------------------------------------------------
 * A NUL-terminated, growable string. len excludes the terminator. Functions return KEEL_OK
 * or KEEL_ENOMEM; after a failure the buffer keeps its previous content.
 *
 * Errors are sticky: an append that fails marks the buffer failed until keel_buf_reset (or
 * _init, _free, or the keel_buf_end of the writer it happened in). A writer of several pieces
 * may therefore append without checking each one and close with keel_buf_end, which puts
 * the buffer back as it was where the writer began (keel_buf_begin) when any append failed,
 * so no caller sees half a document and the buffer can be used again. */
typedef struct keel_buf {
    char *data; /* NULL until the first append; always NUL-terminated after it */
    size_t len;
    size_t cap;
    bool failed; /* an append ran out of memory since the last reset */
} keel_buf;

void keel_buf_init(keel_buf *b);
void keel_buf_free(keel_buf *b);
void keel_buf_reset(keel_buf *b); /* len = 0, keeps the memory */
int keel_buf_reserve(keel_buf *b, size_t extra);
/* Where a writer begins: what keel_buf_end restores when one of the writer's appends failed. */
typedef struct keel_buf_mark {
    size_t len;
    bool failed;
} keel_buf_mark;
static inline keel_buf_mark keel_buf_begin(const keel_buf *b)
{
    return (keel_buf_mark){b->len, b->failed};
}
/* Ends a writer that began at mark and whose own result is rc (KEEL_OK when it only appended):
 * when rc is an error or an append failed since mark, the buffer is put back as it was at
 * mark (its content cut back, its failed mark as it was) and the error returned (rc, else
 * KEEL_ENOMEM); else KEEL_OK. A writer that calls another writer of this kind checks what
 * that one returns: the inner writer's failure is undone, not left on the buffer. Inline:
 * the server's answer writers end with it on every request. */
static inline int keel_buf_end_rc(keel_buf *b, keel_buf_mark mark, int rc)
{
    if (rc == KEEL_OK && !b->failed) return KEEL_OK;
    if (b->data && mark.len <= b->len) {
        b->len = mark.len;
        b->data[mark.len] = '\0';
    }
    b->failed = mark.failed;
    return rc != KEEL_OK ? rc : KEEL_ENOMEM;
}
/* keel_buf_end_rc for a writer that only appends. */
static inline int keel_buf_end(keel_buf *b, keel_buf_mark mark)
{
    return keel_buf_end_rc(b, mark, KEEL_OK);
}
int keel_buf_append(keel_buf *b, const void *p, size_t n);
int keel_buf_puts(keel_buf *b, const char *s);
int keel_buf_putc(keel_buf *b, char c);
int keel_buf_printf(keel_buf *b, const char *fmt, ...) KEEL_PRINTF(2, 3);
int keel_buf_put_u64(keel_buf *b, uint64_t v); /* decimal, as %llu writes it */
int keel_buf_put_i64(keel_buf *b, int64_t v);  /* decimal, as %lld writes it */
/* Appends s as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD,
 * so the output is always valid JSON. */
int keel_buf_json_str(keel_buf *b, const char *s, size_t n);
/* Appends p[0..n) as one CSV field (RFC 4180): as it is, or quoted with its quotes doubled
 * when it holds a comma, a quote or a line break. */
int keel_buf_csv_field(keel_buf *b, const char *p, size_t n);
/* Appends p[0..n) as one CSV field holding text (a label, an id, a reason, a column name)
 * that a spreadsheet may open: unless raw, text starting with = + - @ TAB or CR gets a
 * leading single quote (OWASP's advice against CSV formula injection), so "=1+1" is written
 * '=1+1 and shown as text instead of run as a formula. A cell that is entirely a decimal
 * number ("-1.5", "+3", "-2e-3") stays as it is. Quoted as keel_buf_csv_field does. */
int keel_buf_csv_text(keel_buf *b, const char *p, size_t n, bool raw);
/* Of 8 bytes of text read little-endian into w, those a JSON string cannot hold as they are
 * ('"', '\\', control bytes) or that need a closer look (>= 0x80: UTF-8): each one's high bit
 * set in the result, 0 when there are none. Each term is the classic has-a-zero-byte test:
 * a term can flag a byte wrongly only above one it flags rightly (the borrow runs upwards),
 * so the lowest flag is exact and __builtin_ctzll(flags) / 8 is that byte's index. */
static inline uint64_t keel_json_special_bytes(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & (ones * 0x80);
}
/* Appends a double as JSON: shortest round-tripping form; NaN and infinities as null. */
int keel_buf_json_num(keel_buf *b, double v);
/* Appends a float as JSON: keel_float_text's shortest form; NaN and infinities as null. */
int keel_buf_json_float(keel_buf *b, float f);

/* A float as text: the shortest of %.6g .. %.9g that reads back as the same float (what a
 * float prints as in JSON answers and messages). Exactly what that loop over snprintf and
 * strtof gives (keel_float_text_libc), several times faster for 1e-4 <= |f| < 1e6.
 * Returns the length; out is NUL-terminated. */
#define KEEL_FLOAT_TEXT 32
size_t keel_float_text(float f, char out[KEEL_FLOAT_TEXT]);
size_t keel_float_text_libc(float f, char out[KEEL_FLOAT_TEXT]);
/* Appends bytes as standard base64 (with padding). */
int keel_buf_base64(keel_buf *b, const void *p, size_t n);
/* Decodes standard base64 into out (capacity cap); returns the byte count or -1 if the
 * text is not valid base64 or does not fit. */
long keel_base64_decode(const char *s, size_t n, void *out, size_t cap);

/* ---- UTF-8 (utf8.c) -------------------------------------------------------------------- */

/* Returns the length of the longest valid UTF-8 prefix of p[0..n) (n when all valid).
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
size_t keel_utf8_valid_prefix(const char *p, size_t n);
/* Appends s[0..n) to dst (capacity cap, always NUL-terminated) quoted as a JSON-style string
 * of at most about max bytes of s, cut at a UTF-8 boundary with "..." marking the cut: how
 * error messages show a value they refuse. Never allocates. */
void keel_quote_into(char *dst, size_t cap, const char *s, size_t n, size_t max);
static inline bool keel_utf8_valid(const char *p, size_t n)
{
    return keel_utf8_valid_prefix(p, n) == n;
}
/* Appends Latin-1 (ISO-8859-1) bytes to b converted to UTF-8. */
int keel_buf_latin1(keel_buf *b, const char *p, size_t n);

/* ---- hashing (hash.c) ------------------------------------------------------------------
 * Fast non-cryptographic 64-bit hashing for hash tables and sketches. Stable across runs
 * and machines (sketches are stored in files and merged later). */
uint64_t keel_hash64(const void *p, size_t n, uint64_t seed);
static inline uint64_t keel_mix64(uint64_t x)
{
    /* The murmur3 / splitmix64 finaliser: a bijection with full avalanche. */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* A small deterministic PRNG (xoshiro256**), seeded with splitmix64. */
typedef struct keel_rng {
    uint64_t s[4];
} keel_rng;
void keel_rng_seed(keel_rng *r, uint64_t seed);
uint64_t keel_rng_next(keel_rng *r);
double keel_rng_uniform(keel_rng *r); /* [0, 1) */

/* ---- SHA-256 (sha256.c: the CPU's SHA extensions when it has them) ----------------------- */
typedef struct keel_sha256 {
    unsigned char state[128]; /* large enough for crypto_hash_sha256_state; opaque */
} keel_sha256;

void keel_sha256_init(keel_sha256 *h);
void keel_sha256_update(keel_sha256 *h, const void *p, size_t n);
void keel_sha256_final(keel_sha256 *h, unsigned char out[32]);
/* Writes the 64 lowercase hex digits and a NUL into hex. */
void keel_sha256_hex(const unsigned char digest[32], char hex[65]);
/* Hex, as keel writes hashes, keys and signatures: keel_hex_encode writes 2n lowercase
 * digits and a NUL into out; keel_hex_decode reads exactly 2n digits (either case) from
 * hex[0..len) into out[n], false when hex is not that (out is then unspecified). */
void keel_hex_encode(const void *p, size_t n, char *out);
bool keel_hex_decode(const char *hex, size_t len, unsigned char *out, size_t n);
/* Hashes a whole file; on failure fills e and returns a negative code. */
int keel_sha256_file(const char *path, unsigned char out[32], keel_error *e);
/* Which block function hashes: "SHA extensions" (the CPU's SHA-NI, found with CPUID) or
 * "plain C". keel_sha256_use_plain(true) makes it the plain one, false finds it again: for
 * tests and measurements, never while another thread hashes. */
const char *keel_sha256_kernel(void);
void keel_sha256_use_plain(bool plain);

/* ---- logging (log.c) ------------------------------------------------------------------- */
void keel_log(int level, const char *fmt, ...) KEEL_PRINTF(2, 3);

/* ---- paths (time.c has the clock; these two are plain string work, in buf.c) ----------- */
/* The last component of a path ("dir/pima2.csv" -> "pima2.csv"); a pointer into path. */
const char *keel_path_base(const char *path);
/* The base name of path with its last extension replaced by suffix ("dir/pima2.csv" +
 * ".quarantine.jsonl" -> "pima2.quarantine.jsonl"); "-" counts as "stdin". New string
 * (keel_free), NULL when out of memory. */
char *keel_path_derived(const char *path, const char *suffix);
/* Whether path ends with suffix (".csv"). */
bool keel_path_has_suffix(const char *path, const char *suffix);
/* The length of name without ext at its end ("churn.keel", ".keel" -> 5), when something is
 * left of it; else strlen(name). */
size_t keel_path_stem_len(const char *name, const char *ext);

/* ---- time (time.c) --------------------------------------------------------------------- */
double keel_now_seconds(void);  /* monotonic clock, seconds */
int64_t keel_wall_micros(void); /* wall clock, microseconds since 1970-01-01 UTC */
/* Converts a civil date (proleptic Gregorian) to days since 1970-01-01. */
int64_t keel_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Formats microseconds since the epoch (UTC) as ISO 8601 "YYYY-MM-DDTHH:MM:SS[.ffffff]Z". */
void keel_format_timestamp(int64_t micros, char out[40]);
/* Reads a time a person types: YYYY-MM-DD[THH:MM[:SS]][Z] (UTC; a space may stand for the
 * T) or seconds since the epoch (more than 8 digits, so that a date is never read as one).
 * True with *micros set; false when s is neither. */
bool keel_parse_time(const char *s, int64_t *micros);

/* ---- threads (thread.c) ------------------------------------------------------------------ */
/* This thread's number: 0, 1, 2, ... in the order threads first ask, fixed for the thread's
 * life. Tables of per-thread state (counters, workspaces) index by it modulo their size, so
 * that threads on different cores write different cache lines. */
size_t keel_thread_slot(void);

/* Runs fn(ud, i) for every i in [0, n) and returns when all have returned. With parallel,
 * each call but the last runs on a thread of its own and the last on the calling thread; a
 * call whose thread cannot be started runs on the calling thread, in its turn, so the work is
 * always done (only more slowly). Without parallel, every call runs on the calling thread in
 * order. n is at most KEEL_PARALLEL_MAX. fn must be safe to run concurrently for distinct i;
 * results go through ud (each call writing its own slot). The one fan-out of the library and
 * the CLI: prediction, explanation and partial dependence split their work with it. */
#define KEEL_PARALLEL_MAX 256
void keel_parallel_for(size_t n, bool parallel, void (*fn)(void *ud, size_t i), void *ud);

/* Part t of T near-equal parts of [0, n): [*lo, *hi). The parts cover [0, n) in order; the
 * first ones take ceil(n / T) items, so trailing parts may be short or empty. T >= 1. */
void keel_part_range(size_t n, size_t T, size_t t, size_t *lo, size_t *hi);

/* ---- files (file.c) ----------------------------------------------------------------------
 * Appends the whole file at path to b when it holds at most max bytes. KEEL_ENOENT or
 * KEEL_EIO when it cannot be read, KEEL_ELIMIT when it is larger, KEEL_ENOMEM; e names the
 * file, and b is then as it was. b->data is NUL-terminated after a success (an empty file
 * gives ""). */
int keel_file_read(const char *path, size_t max, keel_buf *b, keel_error *e);
/* Checks that the secret file at path (what: "the audit signing key") is a regular file that
 * only its owner may read or write (mode & 077 == 0): a secret others can read is refused
 * before it is read, with a message saying `chmod 600`. KEEL_ENOENT (e set) when it is not
 * there, KEEL_EIO, KEEL_EPERM. It guards against a key copied with the wrong mode, not
 * against an attacker who can write the file (that one has the key already). */
int keel_file_check_private(const char *path, const char *what, keel_error *e);

/* ---- configuration files (config.c) ----------------------------------------------------
 * Parses text[0..n) as flat "key: value" lines ('#' comments, optional quotes), calling fn
 * for each pair in order (key and value are NUL-terminated, valid until fn returns). Stops at
 * the first malformed line (KEEL_EPARSE, e names the line) or the first nonzero fn result. */
#define KEEL_CONFIG_VALUE_MAX 4095
typedef int (*keel_config_fn)(void *ud, const char *key, const char *value);
int keel_config_parse(const char *text, size_t n, keel_config_fn fn, void *ud, keel_error *e);
/* keel_config_parse over the file at path, which may hold at most KEEL_CONFIG_FILE_MAX
 * bytes. keel_file_read's errors (KEEL_ELIMIT when it is larger), or keel_config_parse's;
 * e names the file. */
#define KEEL_CONFIG_FILE_MAX 65535
int keel_config_load(const char *path, keel_config_fn fn, void *ud, keel_error *e);

/* ---- progress (progress.c) --------------------------------------------------------------
 * Long work reports progress through a callback; keel_progress_bar is a ready-made callback
 * that draws a one-line bar on a FILE * (the CLI passes stderr when it is a terminal).
 * The library never draws unless the caller asks for it. */
typedef void (*keel_progress_fn)(void *ud, uint64_t done, uint64_t total, const char *what);

typedef struct keel_progress_bar {
    FILE *out;        /* where to draw; the CLI passes stderr only when isatty() */
    double started;   /* keel_now_seconds() at the first call */
    double last_draw; /* throttles drawing to about 10 times a second */
    int drawn;        /* whether a line is on screen and needs finishing */
} keel_progress_bar;

void keel_progress_bar_init(keel_progress_bar *bar, FILE *out);
void keel_progress_bar_update(void *bar, uint64_t done, uint64_t total, const char *what);
void keel_progress_bar_finish(keel_progress_bar *bar);

#endif /* KEEL_BASE_H */
