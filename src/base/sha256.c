/*
 * sha256.c — SHA-256 (FIPS 180-4), with the CPU's SHA extensions when it has them.
 *
 * Hashing sits on the data path: `keel data validate` hashes every byte it reads, and with
 * libsodium's portable code that was half of validation's time (0.3 s of 0.6 s on the 1M-row
 * churn file). x86 CPUs since Goldmont and Zen (Intel's SHA-NI) compute four rounds in two
 * instructions; the block function here uses them when CPUID says they are there, and a plain
 * C one otherwise. Both are checked against libsodium's SHA-256 in the unit tests
 * (tests/unit/test_base.c), on every length up to a few blocks and at every split point.
 *
 * The state is kept in the opaque byte array of keel_sha256 (base.h), so that callers see no
 * layout; a static assertion checks that it fits.
 */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_BUILD 1
#endif

typedef struct sha_state {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    size_t fill;    /* bytes waiting in buf */
    uint8_t buf[64];
} sha_state;

_Static_assert(sizeof(sha_state) <= sizeof(((keel_sha256 *)0)->state), "keel_sha256 too small");

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* ---- the block function, plain C ------------------------------------------------------- */

static inline uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void blocks_plain(uint32_t s[8], const uint8_t *p, size_t n)
{
    for (; n; n--, p += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++)
            w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
                   (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 =
                h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
            uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        s[0] += a, s[1] += b, s[2] += c, s[3] += d, s[4] += e, s[5] += f, s[6] += g, s[7] += h;
    }
}

/* ---- the block function, SHA extensions ---------------------------------------------------
 * sha256rnds2 runs two rounds on the state held as two vectors, (A, B, E, F) and (C, D, G, H),
 * taking the two rounds' W[t] + K[t] from the low half of its third operand; sha256msg1 and
 * sha256msg2 compute the message schedule four words at a time. With X[i] = W[4i .. 4i+3]:
 *   X[i] = msg2(msg1(X[i-4], X[i-3]) + (X[i-2][1..3], X[i-1][0]), X[i-1])
 * which is W[t-16] + sigma0(W[t-15]) + W[t-7] + sigma1(W[t-2]) for each of the four. */
#ifdef HAVE_SHANI_BUILD
__attribute__((target("sha,sse4.1"))) static void blocks_shani(uint32_t s[8], const uint8_t *p,
                                                               size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&s[0]); /* lanes: a b c d */
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&s[4]); /* lanes: e f g h */
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);    /* lanes: f e b a */
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0); /* lanes: h g d c */
    for (; n; n--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh, x[4];
        for (int i = 0; i < 16; i++) {
            __m128i w;
            if (i < 4) {
                w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else {
                __m128i prev = x[(i - 1) & 3];
                w = _mm_sha256msg1_epu32(x[i & 3], x[(i + 1) & 3]);
                w = _mm_add_epi32(w, _mm_alignr_epi8(prev, x[(i - 2) & 3], 4));
                w = _mm_sha256msg2_epu32(w, prev);
            }
            x[i & 3] = w;
            __m128i wk = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&s[0], _mm_blend_epi16(feba, dchg, 0xF0)); /* a b c d */
    _mm_storeu_si128((__m128i *)&s[4], _mm_alignr_epi8(dchg, feba, 8));    /* e f g h */
}

static bool cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 29))) return false; /* SHA */
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19));                       /* SSE4.1 */
}
#endif

typedef void (*blocks_fn)(uint32_t s[8], const uint8_t *p, size_t n);

static blocks_fn chosen; /* NULL until the first use */

static blocks_fn detect(bool plain)
{
#ifdef HAVE_SHANI_BUILD
    if (!plain && cpu_has_sha()) return blocks_shani;
#endif
    (void)plain;
    return blocks_plain;
}

/* The block function this CPU runs, found on first use. */
static blocks_fn blocks_impl(void)
{
    blocks_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = detect(false);
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    return f;
}

void keel_sha256_use_plain(bool plain)
{
    __atomic_store_n(&chosen, detect(plain), __ATOMIC_RELEASE);
}

const char *keel_sha256_kernel(void)
{
    return blocks_impl() == blocks_plain ? "plain C" : "SHA extensions";
}

/* ---- the streaming interface ------------------------------------------------------------ */

void keel_sha256_init(keel_sha256 *h)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    sha_state *s = (sha_state *)(void *)h->state;
    memcpy(s->h, iv, sizeof iv);
    s->bytes = 0;
    s->fill = 0;
}

void keel_sha256_update(keel_sha256 *h, const void *data, size_t n)
{
    sha_state *s = (sha_state *)(void *)h->state;
    const uint8_t *p = data;
    blocks_fn blocks = blocks_impl();
    s->bytes += n;
    if (s->fill) {
        size_t take = KEEL_MIN(n, 64 - s->fill);
        memcpy(s->buf + s->fill, p, take);
        s->fill += take, p += take, n -= take;
        if (s->fill < 64) return;
        blocks(s->h, s->buf, 1);
        s->fill = 0;
    }
    if (n >= 64) {
        blocks(s->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    memcpy(s->buf, p, n);
    s->fill = n;
}

void keel_sha256_final(keel_sha256 *h, unsigned char out[32])
{
    sha_state *s = (sha_state *)(void *)h->state;
    uint64_t bits = s->bytes * 8;
    uint8_t pad[72] = {0x80};
    size_t npad = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++)
        pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    keel_sha256_update(h, pad, npad + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
    memset(s, 0, sizeof *s);
}

void keel_sha256_hex(const unsigned char digest[32], char hex[65])
{
    keel_hex_encode(digest, 32, hex);
}

/* Each hex digit's value plus one, 0 for any other byte: a table, because the audit verifier
 * decodes a prev_hash for every event and a chain of branches per character showed up in
 * profiles. */
static const signed char hex_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

bool keel_hex_decode(const char *hex, size_t len, unsigned char *out, size_t n)
{
    if (!hex || len != 2 * n) return false;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value[(unsigned char)hex[2 * i]],
            lo = hex_value[(unsigned char)hex[2 * i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i] = (unsigned char)(((unsigned)(hi - 1) & 15) << 4 | ((unsigned)(lo - 1) & 15));
    }
    return !bad;
}

void keel_hex_encode(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int keel_sha256_file(const char *path, unsigned char out[32], keel_error *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return keel_error_set(e, errno == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s: %s", path,
                              strerror(errno));
    keel_sha256 h;
    keel_sha256_init(&h);
    unsigned char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        keel_sha256_update(&h, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) return keel_error_set(e, KEEL_EIO, "%s: read error", path);
    keel_sha256_final(&h, out);
    return KEEL_OK;
}
