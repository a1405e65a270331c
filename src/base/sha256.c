/*
 * sha256.c — SHA-256 through libsodium, which is audited and constant-time.
 *
 * The state is kept in an opaque byte array in keel_sha256 so that base.h does not leak
 * sodium.h into every file; a static assertion checks that it is large enough.
 */
#include "base/base.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((keel_sha256 *)0)->state),
               "keel_sha256 state too small");

void keel_sha256_init(keel_sha256 *h)
{
    crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)h->state);
}

void keel_sha256_update(keel_sha256 *h, const void *p, size_t n)
{
    crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)h->state, p, n);
}

void keel_sha256_final(keel_sha256 *h, unsigned char out[32])
{
    crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)h->state, out);
}

void keel_sha256_hex(const unsigned char digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
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
