/*
 * Fuzz target for the .keel artifact reader (src/model/artifact.c) on hostile bytes.
 *
 * Each input is opened twice: with the digest check, as keel loads models, and without it
 * (keel_artifact_open_mem_unchecked_digest), because a random mutation almost always breaks
 * the digest and would otherwise never reach the structure parser. Whatever opens is walked:
 * every byte of the manifest and of every tensor is read (AddressSanitizer catches a pointer
 * outside the input) and the invariants the header promises are checked. The two opens must
 * agree: the checked one may only add "checksum mismatch".
 *
 * This target covers the container only; the manifest's contents belong to the model layer,
 * whose fuzzing lives elsewhere.
 */
#include "model/artifact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void die(const char *m)
{
    fprintf(stderr, "artifact fuzz: %s\n", m);
    abort();
}

/* Reads every byte of a, checks its invariants, and returns a digest of what it saw. */
static uint64_t walk(const keel_artifact *a, const uint8_t *data, size_t n)
{
    uint64_t h = 0;
    size_t mlen;
    const char *m = keel_artifact_manifest(a, &mlen);
    if ((const uint8_t *)m < data || mlen > n || (const uint8_t *)m + mlen > data + n)
        die("manifest outside the input");
    if (!keel_utf8_valid(m, mlen)) die("manifest is not UTF-8");
    h = keel_hash64(m, mlen, h);
    size_t count = keel_artifact_n_tensors(a);
    if (count > KEEL_ARTIFACT_MAX_TENSORS) die("too many tensors");
    const uint8_t *prev_end = (const uint8_t *)m + mlen;
    for (size_t i = 0; i < count; i++) {
        const keel_artifact_tensor *t = keel_artifact_tensor_at(a, i);
        if (!t || !t->name || !t->data) die("tensor_at");
        size_t len = strlen(t->name);
        if (len < 1 || len > KEEL_ARTIFACT_MAX_NAME) die("name length");
        for (size_t k = 0; k < len; k++)
            if (t->name[k] < 0x20 || t->name[k] > 0x7e) die("name not printable");
        if (keel_artifact_find(a, t->name) != t) die("find does not return the tensor");
        if ((unsigned)t->dtype >= KEEL_DTYPE_COUNT || t->rank > KEEL_ARTIFACT_MAX_RANK)
            die("dtype or rank");
        uint64_t want = keel_dtype_size(t->dtype);
        for (size_t k = 0; k < t->rank; k++)
            if (__builtin_mul_overflow(want, t->shape[k], &want)) die("shape overflows");
        if (want != t->nbytes) die("nbytes does not match the shape");
        const uint8_t *p = t->data;
        if (p < prev_end || (size_t)(p - data) % KEEL_ARTIFACT_ALIGN) die("offset");
        if (p > data + n - 32 || t->nbytes > (uint64_t)(data + n - 32 - p))
            die("data outside the input");
        prev_end = p + t->nbytes;
        h = keel_hash64(p, (size_t)t->nbytes, h ^ i);
    }
    if (keel_artifact_tensor_at(a, count)) die("tensor_at past the end");
    if (strlen(keel_artifact_sha256(a)) != 64) die("sha256");
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_artifact *checked = NULL, *loose = NULL;
    keel_error e1, e2;
    int r1 = keel_artifact_open_mem(data, n, &checked, &e1);
    int r2 = keel_artifact_open_mem_unchecked_digest(data, n, &loose, &e2);
    if ((r1 != KEEL_OK) != (checked == NULL) || (r2 != KEEL_OK) != (loose == NULL))
        die("out set wrongly");
    if (r1 != KEEL_OK && (r1 != KEEL_EFORMAT || !e1.msg[0])) die("checked: bad error");
    if (r2 != KEEL_OK && (r2 != KEEL_EFORMAT || !e2.msg[0])) die("unchecked: bad error");
    if (r1 == KEEL_OK && r2 != KEEL_OK) die("digest check accepted what structure refused");
    if (r2 != KEEL_OK && strcmp(e1.msg, e2.msg) != 0) die("the two disagree on the error");
    if (r2 == KEEL_OK && r1 != KEEL_OK &&
        strcmp(e1.msg, "checksum mismatch: the file is corrupt or was modified") != 0)
        die("checked refused for another reason than the digest");
    if (loose) {
        uint64_t h = walk(loose, data, n);
        if (checked && walk(checked, data, n) != h) die("the two opens see different bytes");
        if (checked && strcmp(keel_artifact_sha256(checked), keel_artifact_sha256(loose)) != 0)
            die("sha256 differs");
    }
    keel_artifact_close(checked);
    keel_artifact_close(loose);
    return 0;
}
