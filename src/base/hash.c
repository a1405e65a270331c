/*
 * hash.c — stable 64-bit hashing and a small deterministic PRNG.
 *
 * keel_hash64 reads eight bytes at a time and folds each word through a multiply-xorshift
 * mix; the tail is read with memcpy so unaligned input is fine. It is not cryptographic: it
 * spreads keys for hash tables and HyperLogLog. Its output is part of the profile file
 * format (HLL registers), so changing it changes stored sketches: don't.
 */
#include "base/base.h"

#include <string.h>

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xC2B2AE3D27D4EB4FULL

uint64_t keel_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ (n * K1);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ keel_mix64(w * K2)) * K1;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ keel_mix64((w ^ n) * K2)) * K1;
    }
    return keel_mix64(h);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += K1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void keel_rng_seed(keel_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t keel_rng_next(keel_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double keel_rng_uniform(keel_rng *r)
{
    return (double)(keel_rng_next(r) >> 11) * 0x1.0p-53;
}
