/*
 * Tests of the .keel artifact container: round trips, the byte layout of docs/artifact.md
 * (checked against an independent encoder below), every truncation, random bit flips, crafted
 * hostile headers, out-of-memory and I/O failures, and the committed fuzz seeds.
 */
#include "harness.h"

#include "model/artifact.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_HAS(s, sub)                                                                          \
    do {                                                                                           \
        const char *s_ = (s), *sub_ = (sub);                                                       \
        if (!strstr(s_, sub_))                                                                     \
            harness_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", s_, sub_);          \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------------ */

static char *path_in_tmp(const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 1024, "%s/%s", test_tmpdir(), name);
    return p;
}

/* Names in dir (not . or ..), written to out as "a,b,"; returns their count. */
static int list_dir(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    size_t len = 0;
    out[0] = '\0';
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        n++;
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s,", de->d_name);
    }
    if (d) closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A copy in a buffer of exactly n bytes, so that AddressSanitizer sees any read past it. */
static unsigned char *exact_copy(const unsigned char *p, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    if (n) memcpy(b, p, n);
    return b;
}

/* A set of tensors covering every dtype, ranks 0..4, an empty tensor and odd sizes. */
typedef struct sample {
    keel_artifact_tensor t[9];
    size_t n;
    float scalar;
    double vec[3];
    int32_t mat[6];
    int64_t cube[6];
    uint8_t hyper[24];
    uint8_t tail[5];
    float *big; /* 300000 floats, over the writer's 64 KiB staging buffer */
    int16_t unused;
} sample;

static void sample_init(sample *s, bool big)
{
    memset(s, 0, sizeof *s);
    s->scalar = 3.25f;
    for (int i = 0; i < 3; i++)
        s->vec[i] = -1.5 * i + 0.1;
    for (int i = 0; i < 6; i++) {
        s->mat[i] = -i * 1000003;
        s->cube[i] = (int64_t)i << 40 | i;
    }
    for (int i = 0; i < 24; i++)
        s->hyper[i] = (uint8_t)(i * 11 + 1);
    for (int i = 0; i < 5; i++)
        s->tail[i] = (uint8_t)(0xA0 + i);
    keel_artifact_tensor *t = s->t;
    t[0] = (keel_artifact_tensor){"scalar", KEEL_DTYPE_F32, 0, {0}, &s->scalar, 4};
    t[1] = (keel_artifact_tensor){"layer.0/bias vec", KEEL_DTYPE_F64, 1, {3}, s->vec, 24};
    t[2] = (keel_artifact_tensor){"mat", KEEL_DTYPE_I32, 2, {2, 3}, s->mat, 24};
    t[3] = (keel_artifact_tensor){"cube", KEEL_DTYPE_I64, 3, {2, 1, 3}, s->cube, 48};
    t[4] = (keel_artifact_tensor){"hyper", KEEL_DTYPE_U8, 4, {2, 2, 2, 3}, s->hyper, 24};
    t[5] = (keel_artifact_tensor){"empty", KEEL_DTYPE_F32, 2, {0, 5}, NULL, 0};
    t[6] = (keel_artifact_tensor){"tail", KEEL_DTYPE_U8, 1, {5}, s->tail, 5};
    s->n = 7;
    if (big) {
        s->big = malloc(300000 * sizeof(float));
        for (int i = 0; i < 300000; i++)
            s->big[i] = (float)i * 0.5f - 7;
        t[7] = (keel_artifact_tensor){"big", KEEL_DTYPE_F32, 1, {300000}, s->big, 1200000};
        t[8] = (keel_artifact_tensor){"after_big", KEEL_DTYPE_U8, 1, {5}, s->tail, 5};
        s->n = 9;
    }
}

static const char MANIFEST[] = "{\"schema\":{\"columns\":[]},\"note\":\"caf\xc3\xa9\"}";

/* Checks that a holds exactly the tensors of s and the manifest. */
static void check_same(const keel_artifact *a, const sample *s, const char *manifest, bool aligned)
{
    size_t mlen;
    const char *m = keel_artifact_manifest(a, &mlen);
    CHECK_EQ_INT(mlen, strlen(manifest));
    CHECK(m && memcmp(m, manifest, mlen) == 0);
    CHECK_EQ_INT(keel_artifact_n_tensors(a), s->n);
    for (size_t i = 0; i < s->n; i++) {
        const keel_artifact_tensor *w = &s->t[i], *r = keel_artifact_tensor_at(a, i);
        REQUIRE(r != NULL);
        CHECK(keel_artifact_find(a, w->name) == r);
        CHECK_STR(r->name, w->name);
        CHECK_EQ_INT(r->dtype, w->dtype);
        CHECK_EQ_INT(r->rank, w->rank);
        for (size_t k = 0; k < KEEL_ARTIFACT_MAX_RANK; k++)
            CHECK_EQ_INT(r->shape[k], k < w->rank ? w->shape[k] : 0);
        CHECK_EQ_INT(r->nbytes, w->nbytes);
        CHECK(r->data != NULL);
        if (w->nbytes) CHECK(memcmp(r->data, w->data, (size_t)w->nbytes) == 0);
        if (aligned) CHECK_EQ_INT((uintptr_t)r->data % 64, 0);
    }
    CHECK(keel_artifact_tensor_at(a, s->n) == NULL);
    CHECK(keel_artifact_find(a, "nope") == NULL);
    CHECK(keel_artifact_find(a, NULL) == NULL);
}

/* ---- an independent encoder of docs/artifact.md, for crafting files --------------------- */

typedef struct ct {
    const char *name;
    uint32_t name_len; /* 0: strlen(name) */
    uint32_t dtype, rank;
    uint64_t shape[6];
    bool set_off, set_nbytes;
    uint64_t off, nbytes;
} ct;

typedef struct cfile {
    uint32_t version; /* 0 means 1; set bad_version for 0 */
    bool bad_version;
    uint32_t flags;
    const char *manifest;
    size_t manifest_len; /* 0: strlen(manifest) */
    const ct *t;
    size_t n;
    bool set_hl, set_moff, set_mlen, set_count;
    uint64_t hl, moff, mlen, count;
    size_t pad_after; /* extra zero bytes before the digest */
} cfile;

static void le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t elem_size(uint32_t dtype)
{
    static const uint64_t s[] = {4, 8, 4, 8, 1};
    return dtype < 5 ? s[dtype] : 1;
}

/* Encodes f with a correct digest; *len receives the size. Caller frees. */
static unsigned char *craft(const cfile *f, size_t *len)
{
    const char *man = f->manifest ? f->manifest : "";
    size_t mlen = f->manifest_len ? f->manifest_len : strlen(man);
    uint64_t hl = 48, off[16], nb[16];
    for (size_t i = 0; i < f->n; i++) {
        size_t nl = f->t[i].name_len ? f->t[i].name_len : strlen(f->t[i].name);
        hl += 4 + nl + 8 + 8 * (uint64_t)f->t[i].rank + 16;
    }
    uint64_t moff = f->set_moff ? f->moff : (f->set_hl ? f->hl : hl);
    uint64_t pos = moff + mlen, end = pos >= moff && pos > hl ? pos : hl;
    for (size_t i = 0; i < f->n; i++) {
        uint64_t n = elem_size(f->t[i].dtype);
        for (uint32_t k = 0; k < f->t[i].rank; k++)
            n *= f->t[i].shape[k];
        nb[i] = f->t[i].set_nbytes ? f->t[i].nbytes : n;
        off[i] = f->t[i].set_off ? f->t[i].off : (pos + 63) / 64 * 64;
        if (off[i] + nb[i] >= off[i] && off[i] + nb[i] < (1u << 24)) {
            pos = off[i] + nb[i];
            if (pos > end) end = pos;
        }
    }
    end += f->pad_after;
    size_t total = (size_t)end + 32;
    unsigned char *b = calloc(1, total);
    memcpy(b, "\x89KEEL\r\n\n", 8);
    le(b + 8, f->bad_version ? f->version : (f->version ? f->version : 1), 4);
    le(b + 12, f->flags, 4);
    le(b + 16, f->set_hl ? f->hl : hl, 8);
    le(b + 24, moff, 8);
    le(b + 32, f->set_mlen ? f->mlen : mlen, 8);
    le(b + 40, f->set_count ? f->count : f->n, 8);
    size_t p = 48;
    for (size_t i = 0; i < f->n; i++) {
        const ct *t = &f->t[i];
        size_t nl = t->name_len ? t->name_len : strlen(t->name);
        le(b + p, nl, 4);
        memcpy(b + p + 4, t->name, nl);
        p += 4 + nl;
        le(b + p, t->dtype, 4);
        le(b + p + 4, t->rank, 4);
        p += 8;
        for (uint32_t k = 0; k < t->rank; k++, p += 8)
            le(b + p, t->shape[k], 8);
        le(b + p, off[i], 8);
        le(b + p + 8, nb[i], 8);
        p += 16;
    }
    if (moff <= end && mlen <= end - moff) memcpy(b + moff, man, mlen);
    for (size_t i = 0; i < f->n; i++)
        if (off[i] >= hl && off[i] >= moff + mlen && off[i] + nb[i] >= off[i] &&
            off[i] + nb[i] <= end) /* never over the header or manifest */
            for (uint64_t k = 0; k < nb[i]; k++)
                b[off[i] + k] = (unsigned char)(0x40 + i * 7 + k);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, b, total - 32);
    keel_sha256_final(&h, b + total - 32);
    *len = total;
    return b;
}

/* Opens b[0..n) both with and without the digest check, expects KEEL_EFORMAT from both with
 * the same message containing want, and no memory left behind. */
static void expect_refused(const unsigned char *b, size_t n, const char *want)
{
    long live = test_alloc_live();
    unsigned char *copy = exact_copy(b, n);
    keel_artifact *a = (keel_artifact *)1;
    keel_error e1, e2;
    CHECK_EQ_INT(keel_artifact_open_mem(copy, n, &a, &e1), KEEL_EFORMAT);
    CHECK(a == NULL);
    a = (keel_artifact *)1;
    CHECK_EQ_INT(keel_artifact_open_mem_unchecked_digest(copy, n, &a, &e2), KEEL_EFORMAT);
    CHECK(a == NULL);
    CHECK_HAS(e1.msg, want);
    CHECK_STR(e1.msg, e2.msg);
    CHECK_EQ_INT(test_alloc_live(), live);
    free(copy);
}

static void craft_refused(const cfile *f, const char *want)
{
    size_t n;
    unsigned char *b = craft(f, &n);
    expect_refused(b, n, want);
    free(b);
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(artifact_dtype_names_and_sizes)
{
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_F32), "f32");
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_F64), "f64");
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_I32), "i32");
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_I64), "i64");
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_U8), "u8");
    CHECK_STR(keel_dtype_name(KEEL_DTYPE_COUNT), "?");
    CHECK_STR(keel_dtype_name((keel_dtype)-1), "?");
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_F32), 4);
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_F64), 8);
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_I32), 4);
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_I64), 8);
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_U8), 1);
    CHECK_EQ_INT(keel_dtype_size(KEEL_DTYPE_COUNT), 0);
    keel_artifact_close(NULL);
}

TEST(artifact_round_trip)
{
    sample s;
    sample_init(&s, true);
    const char *path = path_in_tmp("model.keel");
    unsigned char digest[32];
    keel_error e;
    long live = test_alloc_live();
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, digest, &e) == KEEL_OK);
    CHECK_EQ_INT(test_alloc_live(), live);

    /* The identity is sha256 of the file bytes, and the digest the writer returned. */
    unsigned char fd[32];
    char want[65], got[65];
    REQUIRE(keel_sha256_file(path, fd, &e) == KEEL_OK);
    keel_sha256_hex(fd, want);
    keel_sha256_hex(digest, got);
    CHECK_STR(got, want);

    keel_artifact *a = NULL;
    REQUIRE(keel_artifact_open(path, &a, &e) == KEEL_OK);
    check_same(a, &s, MANIFEST, true);
    CHECK_STR(keel_artifact_sha256(a), want);
    keel_artifact_close(a);

    /* From memory: aligned relative to the buffer, so a 64-aligned buffer gives aligned data. */
    size_t n;
    unsigned char *bytes = read_file(path, &n);
    unsigned char *al = aligned_alloc(64, (n + 63) / 64 * 64);
    memcpy(al, bytes, n);
    REQUIRE(keel_artifact_open_mem(al, n, &a, &e) == KEEL_OK);
    check_same(a, &s, MANIFEST, true);
    CHECK_STR(keel_artifact_sha256(a), want);
    keel_artifact_close(a);
    CHECK_EQ_INT(test_alloc_live(), live);
    free(al);
    free(bytes);
    free(s.big);
}

TEST(artifact_empty_and_manifest_only)
{
    const char *path = path_in_tmp("empty.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, NULL, 0, NULL, 0, NULL, &e) == KEEL_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    CHECK_EQ_INT(n, 80); /* the smallest artifact: fixed header and digest */
    keel_artifact *a;
    REQUIRE(keel_artifact_open(path, &a, &e) == KEEL_OK);
    size_t mlen = 99;
    keel_artifact_manifest(a, &mlen);
    CHECK_EQ_INT(mlen, 0);
    CHECK_EQ_INT(keel_artifact_n_tensors(a), 0);
    CHECK(keel_artifact_find(a, "x") == NULL);
    keel_artifact_close(a);
    free(b);

    REQUIRE(keel_artifact_write(path, "{}", 2, NULL, 0, NULL, &e) == KEEL_OK);
    b = read_file(path, &n);
    CHECK_EQ_INT(n, 82);
    REQUIRE(keel_artifact_open(path, &a, &e) == KEEL_OK);
    CHECK(memcmp(keel_artifact_manifest(a, NULL), "{}", 2) == 0);
    keel_artifact_close(a);
    free(b);
}

/* The writer's bytes equal those of the independent encoder above, which follows the table
 * in docs/artifact.md; spot-check a few fields by offset as well. */
TEST(artifact_layout_matches_the_document)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("layout.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    size_t n, m;
    unsigned char *w = read_file(path, &n);
    ct t[9];
    memset(t, 0, sizeof t);
    for (size_t i = 0; i < s.n; i++) {
        t[i].name = s.t[i].name;
        t[i].dtype = (uint32_t)s.t[i].dtype;
        t[i].rank = (uint32_t)s.t[i].rank;
        memcpy(t[i].shape, s.t[i].shape, sizeof s.t[i].shape);
    }
    cfile f = {.manifest = MANIFEST, .t = t, .n = s.n};
    unsigned char *c = craft(&f, &m);
    /* The encoder fills tensor data with its own pattern; copy the real data over it. */
    keel_artifact *a;
    REQUIRE(keel_artifact_open_mem(w, n, &a, &e) == KEEL_OK);
    for (size_t i = 0; i < s.n; i++) {
        const keel_artifact_tensor *r = keel_artifact_tensor_at(a, i);
        size_t off = (size_t)((const unsigned char *)r->data - w);
        CHECK_EQ_INT(off % 64, 0);
        memcpy(c + off, r->data, (size_t)r->nbytes);
    }
    keel_artifact_close(a);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, c, m - 32);
    keel_sha256_final(&h, c + m - 32);
    CHECK_EQ_INT(n, m);
    CHECK(n == m && memcmp(w, c, n) == 0);

    CHECK(memcmp(w, "\x89KEEL\r\n\n", 8) == 0);
    CHECK_EQ_INT(w[8], 1); /* version, little-endian */
    CHECK_EQ_INT(w[9] | w[10] | w[11], 0);
    CHECK_EQ_INT(w[12] | w[13] | w[14] | w[15], 0); /* flags */
    CHECK_EQ_INT(w[40], s.n);                       /* tensor count */
    CHECK_EQ_INT(w[48], 6);                         /* first name length: "scalar" */
    CHECK(memcmp(w + 52, "scalar", 6) == 0);
    free(w);
    free(c);
}

TEST(artifact_output_is_deterministic_and_overwrites)
{
    sample s;
    sample_init(&s, false);
    const char *p1 = path_in_tmp("a.keel"), *p2 = path_in_tmp("b.keel");
    keel_error e;
    unsigned char d1[32], d2[32];
    REQUIRE(keel_artifact_write(p1, MANIFEST, strlen(MANIFEST), s.t, s.n, d1, &e) == KEEL_OK);
    REQUIRE(keel_artifact_write(p2, "{\"x\":1}", 7, s.t, 2, NULL, &e) == KEEL_OK);
    REQUIRE(keel_artifact_write(p2, MANIFEST, strlen(MANIFEST), s.t, s.n, d2, &e) == KEEL_OK);
    CHECK(memcmp(d1, d2, 32) == 0); /* same inputs, same bytes: the old p2 was replaced */
    char names[256];
    CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 2); /* no temporary files */
    keel_artifact *a;
    REQUIRE(keel_artifact_open(p2, &a, &e) == KEEL_OK);
    check_same(a, &s, MANIFEST, true);
    keel_artifact_close(a);
}

TEST(artifact_every_truncation_is_refused)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("t.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    REQUIRE(b && n > 500);
    for (size_t len = 0; len < n; len++) {
        char want[64];
        snprintf(want, sizeof want, "truncated at byte %zu", len);
        expect_refused(b, len, want);
    }
    /* The same through files for a few lengths; the message names the file. */
    const size_t lens[] = {0, 1, 7, 8, 47, 79, 80, 200, n - 33, n - 32, n - 1};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(lens); i++) {
        const char *tp = path_in_tmp("cut.keel");
        write_bytes(tp, b, lens[i]);
        keel_artifact *a = (keel_artifact *)1;
        long live = test_alloc_live();
        CHECK_EQ_INT(keel_artifact_open(tp, &a, &e), KEEL_EFORMAT);
        CHECK(a == NULL);
        CHECK_HAS(e.msg, tp);
        CHECK_HAS(e.msg, "truncated at byte");
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    free(b);
}

TEST(artifact_random_bit_flips_are_refused)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("f.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    keel_rng rng;
    keel_rng_seed(&rng, 20240611);
    int by_structure = 0, by_digest = 0;
    long live = test_alloc_live();
    for (int i = 0; i < 2000; i++) {
        size_t bit = (size_t)(keel_rng_next(&rng) % (n * 8));
        unsigned char *c = exact_copy(b, n);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        keel_artifact *a = NULL;
        CHECK_EQ_INT(keel_artifact_open_mem(c, n, &a, &e), KEEL_EFORMAT);
        CHECK(a == NULL);
        if (keel_artifact_open_mem_unchecked_digest(c, n, &a, &e) == KEEL_OK) {
            /* Only the digest can catch this one (tensor data, manifest text, the digest). */
            keel_artifact_close(a);
            CHECK_EQ_INT(keel_artifact_open_mem(c, n, &a, &e), KEEL_EFORMAT);
            CHECK_STR(e.msg, "checksum mismatch: the file is corrupt or was modified");
            by_digest++;
        } else {
            by_structure++;
        }
        free(c);
    }
    CHECK_EQ_INT(test_alloc_live(), live);
    CHECK(by_structure > 100);
    CHECK(by_digest > 100);
    free(b);
}

TEST(artifact_digest_check_and_unchecked_variant)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("d.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    b[n - 1] ^= 1;
    keel_artifact *a;
    CHECK_EQ_INT(keel_artifact_open_mem(b, n, &a, &e), KEEL_EFORMAT);
    CHECK_STR(e.msg, "checksum mismatch: the file is corrupt or was modified");
    REQUIRE(keel_artifact_open_mem_unchecked_digest(b, n, &a, &e) == KEEL_OK);
    /* The identity is still the hash of the bytes as they are. */
    unsigned char d[32];
    char hex[65];
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, b, n);
    keel_sha256_final(&h, d);
    keel_sha256_hex(d, hex);
    CHECK_STR(keel_artifact_sha256(a), hex);
    keel_artifact_close(a);
    /* A flip in tensor data passes every structural check and is caught by the digest. */
    b[n - 1] ^= 1;
    REQUIRE(keel_artifact_open_mem(b, n, &a, &e) == KEEL_OK);
    size_t off = (size_t)((const unsigned char *)keel_artifact_find(a, "mat")->data - b);
    keel_artifact_close(a);
    b[off + 5] ^= 0x10;
    write_bytes(path, b, n);
    CHECK_EQ_INT(keel_artifact_open(path, &a, &e), KEEL_EFORMAT);
    CHECK_HAS(e.msg, path);
    CHECK_HAS(e.msg, ": checksum mismatch: the file is corrupt or was modified");
    REQUIRE(keel_artifact_open_mem_unchecked_digest(b, n, &a, &e) == KEEL_OK);
    keel_artifact_close(a);
    free(b);
}

TEST(artifact_crafted_headers_are_refused)
{
    /* A valid crafted file first: the encoder agrees with the reader. */
    ct ok[2] = {{.name = "a", .dtype = 0, .rank = 1, .shape = {4}},
                {.name = "b", .dtype = 4, .rank = 2, .shape = {3, 3}}};
    cfile f = {.manifest = "{}", .t = ok, .n = 2};
    size_t n;
    unsigned char *b = craft(&f, &n);
    keel_artifact *a;
    keel_error e;
    REQUIRE(keel_artifact_open_mem(b, n, &a, &e) == KEEL_OK);
    keel_artifact_close(a);
    free(b);
    /* Trailing zero padding and a gap before the manifest are fine. */
    f.pad_after = 100;
    b = craft(&f, &n);
    CHECK_EQ_INT(keel_artifact_open_mem(b, n, &a, &e), KEEL_OK);
    keel_artifact_close(a);
    free(b);
    f.pad_after = 0;

    craft_refused(&(cfile){.version = 2}, "artifact format version 2 is newer than this keel "
                                          "supports (1)");
    craft_refused(&(cfile){.version = 0, .bad_version = true}, "format version 0 is not valid");
    craft_refused(&(cfile){.flags = 4}, "unknown header flags 0x00000004");
    craft_refused(&(cfile){.set_mlen = true, .mlen = 1ull << 40}, "manifest length 1099511627776 "
                                                                  "is over the limit");
    craft_refused(&(cfile){.set_mlen = true, .mlen = KEEL_ARTIFACT_MAX_MANIFEST},
                  "truncated at byte 80: the manifest ends at byte 67108912");
    craft_refused(&(cfile){.set_moff = true, .moff = 20}, "manifest at byte 20 is inside the "
                                                          "header");
    craft_refused(&(cfile){.set_moff = true, .moff = UINT64_MAX - 1, .manifest = "{}"},
                  "manifest offset 18446744073709551614 plus length 2 overflows");
    craft_refused(&(cfile){.manifest = "{\"a\":\"\xc3\"}"}, "manifest is not valid UTF-8 (at "
                                                            "byte 6");
    craft_refused(&(cfile){.set_hl = true, .hl = 40}, "header length 40 is less than");
    craft_refused(&(cfile){.set_hl = true, .hl = 1000, .set_moff = true, .moff = 48},
                  "truncated at byte 80: the header ends "
                  "at byte 1000");
    craft_refused(&(cfile){.set_count = true, .count = 5000}, "too many tensors: 5000 (at most "
                                                              "4096)");
    craft_refused(&(cfile){.set_count = true, .count = 3}, "claims 3 tensors");
    craft_refused(&(cfile){.set_count = true,
                           .count = 1,
                           .set_hl = true,
                           .hl = 48 + 64,
                           .set_moff = true,
                           .moff = 48 + 64},
                  "tensor 0: name length 0 is not in 1..63");

    /* header_len larger than the table: the table ends early. */
    ct one[1] = {{.name = "w", .dtype = 0, .rank = 1, .shape = {2}}};
    craft_refused(&(cfile){.t = one, .n = 1, .set_hl = true, .hl = 48 + 37 + 8},
                  "header length 93 does not match the tensor table, which ends at byte 85");
    /* One more tensor claimed than written: the entry runs past the header. */
    ct longn[2] = {{.name = "a-rather-long-name-for-a-tensor-0000000", .rank = 0},
                   {.name = "a-rather-long-name-for-a-tensor-0000001", .rank = 0}};
    craft_refused(&(cfile){.t = longn, .n = 2, .set_count = true, .count = 3},
                  "tensor 2: its table entry runs past the end of the header");

    ct t1[1];
#define ONE(...) (t1[0] = (ct){__VA_ARGS__}, &(cfile){.manifest = "{}", .t = t1, .n = 1})
    craft_refused(ONE(.name = "w", .dtype = 5, .rank = 1, .shape = {2}),
                  "tensor 'w': unknown dtype 5");
    craft_refused(ONE(.name = "w", .dtype = 0, .rank = 5, .shape = {1, 1, 1, 1, 1}),
                  "tensor 'w': rank 5 is more than 4");
    craft_refused(ONE(.name = "w", .dtype = 0, .rank = 2, .shape = {1ull << 32, 1ull << 32},
                      .set_nbytes = true, .nbytes = 0),
                  "tensor 'w': shape [4294967296, 4294967296] of f32 overflows 64 bits");
    craft_refused(
        ONE(.name = "w", .dtype = 1, .rank = 1, .shape = {3}, .set_nbytes = true, .nbytes = 12),
        "tensor 'w': size is 12 bytes but shape [3] of f64 needs 24");
    craft_refused(ONE(.name = "a\tb", .dtype = 0, .rank = 0),
                  "tensor 0: name contains byte 0x09, which is not printable ASCII");
    craft_refused(ONE(.name = "a\x7f", .dtype = 0, .rank = 0), "byte 0x7f");
    craft_refused(ONE(.name = "a\xc3\xa9", .dtype = 0, .rank = 0), "byte 0xc3");
    craft_refused(ONE(.name = "0123456789012345678901234567890123456789012345678901234567890123",
                      .dtype = 0, .rank = 0),
                  "tensor 0: name length 64 is not in 1..63");
    craft_refused(
        ONE(.name = "w", .dtype = 0, .rank = 1, .shape = {4}, .set_off = true, .off = 132),
        "tensor 'w': data offset 132 is not a multiple of 64");
    craft_refused(ONE(.name = "w", .dtype = 0, .rank = 1, .shape = {16}, .set_off = true,
                      .off = UINT64_MAX - 63),
                  "tensor 'w': data offset 18446744073709551552 plus size 64 overflows");
    craft_refused(
        ONE(.name = "w", .dtype = 0, .rank = 1, .shape = {16}, .set_off = true, .off = 1ull << 40),
        "tensor 'w' ends at byte 1099511627840, past the end of the data");
    craft_refused(ONE(.name = "w", .dtype = 0, .rank = 1, .shape = {4}, .set_off = true, .off = 64),
                  "tensor 'w': data at byte 64 is inside the header or manifest (which end at "
                  "byte 87)");
#undef ONE

    ct two[2] = {{.name = "a", .dtype = 0, .rank = 1, .shape = {32}},
                 {.name = "b", .dtype = 0, .rank = 1, .shape = {32}, .set_off = true, .off = 192}};
    craft_refused(&(cfile){.t = two, .n = 2}, "tensor 'b': data at byte 192 overlaps or precedes "
                                              "tensor 'a' (which ends at byte 256)");
    two[1].off = 64; /* before 'a' altogether */
    craft_refused(&(cfile){.t = two, .n = 2}, "overlaps or precedes tensor 'a'");
    ct dup[2] = {{.name = "w", .dtype = 0, .rank = 0}, {.name = "w", .dtype = 4, .rank = 0}};
    craft_refused(&(cfile){.t = dup, .n = 2}, "duplicate tensor name 'w'");

    /* Nonzero bytes where padding belongs: after the table, between tensors, before the
     * digest. */
    two[1].set_off = false;
    b = craft(&(cfile){.t = two, .n = 1, .pad_after = 10}, &n);
    b[n - 33] = 7;
    expect_refused(b, n, "padding byte");
    free(b);
    b = craft(&(cfile){.manifest = "{}", .t = two, .n = 2}, &n);
    /* a 122-byte header, the manifest to 124, 'a' from 128 */
    b[124] = 1;
    expect_refused(b, n, "padding byte 124 is 0x01, not zero");
    free(b);
    b = craft(&(cfile){.manifest = "{}", .set_moff = true, .moff = 60}, &n);
    b[50] = 9;
    expect_refused(b, n, "padding byte 50 is 0x09");
    free(b);
}

TEST(artifact_refuses_what_is_not_an_artifact)
{
    const char *text = "this is a plain text file and certainly not a model artifact at all, "
                       "no matter how long it goes on";
    expect_refused((const unsigned char *)text, strlen(text), "not a keel artifact");
    expect_refused((const unsigned char *)"PK\3\4", 4, "not a keel artifact");
    /* A file sent through a CRLF-to-LF conversion. */
    size_t n;
    unsigned char *b = craft(&(cfile){.manifest = "{\"a\":1}"}, &n);
    memmove(b + 5, b + 6, n - 6);
    expect_refused(b, n - 1, "text mode");
    free(b);
}

TEST(artifact_open_errors)
{
    keel_artifact *a = (keel_artifact *)1;
    keel_error e;
    const char *missing = path_in_tmp("missing.keel");
    CHECK_EQ_INT(keel_artifact_open(missing, &a, &e), KEEL_ENOENT);
    CHECK(a == NULL);
    CHECK_HAS(e.msg, missing);
    CHECK_HAS(e.msg, "No such file");
    a = (keel_artifact *)1;
    CHECK_EQ_INT(keel_artifact_open(test_tmpdir(), &a, &e), KEEL_EIO);
    CHECK(a == NULL);
    CHECK_HAS(e.msg, "not a regular file");
    const char *empty = path_in_tmp("empty.keel");
    write_bytes(empty, "", 0);
    CHECK_EQ_INT(keel_artifact_open(empty, &a, &e), KEEL_EFORMAT);
    CHECK_HAS(e.msg, "truncated at byte 0: the file is empty");
    CHECK_EQ_INT(keel_artifact_open_mem(NULL, 0, &a, &e), KEEL_EFORMAT);
}

/* An open artifact is a copy of the file, never a mapping of it: cutting the file short (as
 * `truncate -s 100 m.keel` did under a serving `keel serve`, which died of SIGBUS reading the
 * mapping past the new end) or rewriting it in place changes nothing in what was read. With a
 * mapping this test dies of SIGBUS at the memcmp (the harness reports the signal). */
TEST(artifact_open_copies_the_file)
{
    sample s;
    sample_init(&s, true);
    const char *path = path_in_tmp("cut-under.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    keel_artifact *a = NULL;
    REQUIRE(keel_artifact_open(path, &a, &e) == KEEL_OK);
    REQUIRE(truncate(path, 100) == 0);
    check_same(a, &s, MANIFEST, true);
    write_bytes(path, "overwritten in place", 20);
    check_same(a, &s, MANIFEST, true);
    keel_artifact_close(a);
    free(s.big);
    /* What is there now is refused with the path and why. */
    CHECK_EQ_INT(keel_artifact_open(path, &a, &e), KEEL_EFORMAT);
    CHECK(a == NULL);
    CHECK_HAS(e.msg, path);
    CHECK_HAS(e.msg, "not a keel artifact");
}

TEST(artifact_open_survives_out_of_memory)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("oom.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e) == KEEL_OK);
    size_t n;
    unsigned char *b = read_file(path, &n);
    for (int mode = 0; mode < 2; mode++) {
        long live = test_alloc_live();
        int failures = 0;
        for (long k = 1; k < 100; k++) {
            keel_artifact *a = (keel_artifact *)1;
            test_fail_alloc_after(k);
            int rc =
                mode == 0 ? keel_artifact_open(path, &a, &e) : keel_artifact_open_mem(b, n, &a, &e);
            test_fail_alloc_after(0);
            if (rc == KEEL_ENOMEM) {
                failures++;
                CHECK(a == NULL);
                CHECK_EQ_INT(test_alloc_live(), live);
                continue;
            }
            CHECK_EQ_INT(rc, KEEL_OK);
            if (rc == KEEL_OK) check_same(a, &s, MANIFEST, mode == 0);
            keel_artifact_close(a);
            CHECK_EQ_INT(test_alloc_live(), live);
            break;
        }
        CHECK(failures >= 1);
    }
    free(b);
}

TEST(artifact_write_survives_out_of_memory)
{
    sample s;
    sample_init(&s, false);
    const char *path = path_in_tmp("oom.keel");
    keel_error e;
    long live = test_alloc_live();
    int failures = 0;
    for (long k = 1; k < 100; k++) {
        test_fail_alloc_after(k);
        int rc = keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e);
        test_fail_alloc_after(0);
        char names[512];
        if (rc == KEEL_ENOMEM) {
            failures++;
            CHECK_EQ_INT(test_alloc_live(), live);
            CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 0);
            continue;
        }
        CHECK_EQ_INT(rc, KEEL_OK);
        CHECK_EQ_INT(test_alloc_live(), live);
        CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 1);
        CHECK_STR(names, "oom.keel,");
        break;
    }
    CHECK(failures >= 2);
}

TEST(artifact_write_io_failures_leave_nothing_behind)
{
    keel_error e;
    char names[512];
    /* A directory that does not exist. */
    const char *nodir = path_in_tmp("nope/model.keel");
    CHECK_EQ_INT(keel_artifact_write(nodir, "{}", 2, NULL, 0, NULL, &e), KEEL_ENOENT);
    CHECK_HAS(e.msg, "nope");
    CHECK_HAS(e.msg, "No such file or directory");
    /* A parent that is a file. */
    write_bytes(path_in_tmp("plain"), "x", 1);
    CHECK_EQ_INT(keel_artifact_write(path_in_tmp("plain/model.keel"), "{}", 2, NULL, 0, NULL, &e),
                 KEEL_EIO);
    CHECK_HAS(e.msg, "Not a directory");
    /* The target is a directory: everything works until the rename. */
    const char *target = path_in_tmp("isdir");
    mkdir(target, 0777);
    write_bytes(path_in_tmp("isdir/keep"), "x", 1);
    CHECK_EQ_INT(keel_artifact_write(target, "{}", 2, NULL, 0, NULL, &e), KEEL_EIO);
    CHECK_HAS(e.msg, "cannot rename");
    CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 2); /* plain, isdir */
    /* The disk fills up mid-write (simulated with a file size limit). */
    sample s;
    sample_init(&s, true);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, small = {100000, 0};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    const char *big = path_in_tmp("big.keel");
    long live = test_alloc_live();
    CHECK_EQ_INT(keel_artifact_write(big, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, &e),
                 KEEL_EIO);
    CHECK_HAS(e.msg, "cannot write");
    CHECK_HAS(e.msg, "File too large");
    CHECK_EQ_INT(test_alloc_live(), live);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 2);
    free(s.big);
}

TEST(artifact_write_refuses_bad_input)
{
    keel_error e;
    const char *path = path_in_tmp("bad.keel");
    uint8_t d[8] = {0};
    struct {
        keel_artifact_tensor t[2];
        size_t n;
        int code;
        const char *want;
    } cases[] = {
        {{{"", KEEL_DTYPE_U8, 1, {1}, d, 1}}, 1, KEEL_EINVAL, "name must be 1..63 bytes"},
        {{{NULL, KEEL_DTYPE_U8, 1, {1}, d, 1}}, 1, KEEL_EINVAL, "name must be 1..63 bytes"},
        {{{"0123456789012345678901234567890123456789012345678901234567890123",
           KEEL_DTYPE_U8,
           1,
           {1},
           d,
           1}},
         1,
         KEEL_EINVAL,
         "name must be 1..63 bytes"},
        {{{"new\nline", KEEL_DTYPE_U8, 1, {1}, d, 1}}, 1, KEEL_EINVAL, "byte 0x0a"},
        {{{"w", (keel_dtype)7, 1, {1}, d, 1}}, 1, KEEL_EINVAL, "unknown dtype 7"},
        {{{"w", KEEL_DTYPE_U8, 5, {1, 1, 1, 1}, d, 1}}, 1, KEEL_EINVAL, "rank 5 is more than 4"},
        {{{"w", KEEL_DTYPE_F32, 1, {2}, d, 4}},
         1,
         KEEL_EINVAL,
         "nbytes is 4 but shape [2] of f32 "
         "needs 8"},
        {{{"w", KEEL_DTYPE_F64, 2, {1ull << 62, 4}, d, 0}}, 1, KEEL_EINVAL, "overflows"},
        {{{"w", KEEL_DTYPE_U8, 1, {1}, NULL, 1}}, 1, KEEL_EINVAL, "data is NULL"},
        {{{"w", KEEL_DTYPE_U8, 1, {1}, d, 1}, {"w", KEEL_DTYPE_F32, 0, {0}, d, 4}},
         2,
         KEEL_EINVAL,
         "duplicate tensor name 'w'"},
        {{{"a", KEEL_DTYPE_U8, 1, {1ull << 63}, d, 1ull << 63},
          {"b", KEEL_DTYPE_U8, 1, {1ull << 63}, d, 1ull << 63}},
         2,
         KEEL_ELIMIT,
         "more than 2^64 bytes"},
    };
    long live = test_alloc_live();
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        CHECK_EQ_INT(keel_artifact_write(path, "{}", 2, cases[i].t, cases[i].n, NULL, &e),
                     cases[i].code);
        CHECK_HAS(e.msg, cases[i].want);
    }
    CHECK_EQ_INT(keel_artifact_write(path, "{\"a\":\"\xff\"}", 9, NULL, 0, NULL, &e), KEEL_EINVAL);
    CHECK_HAS(e.msg, "manifest is not valid UTF-8 (at byte 6)");
    CHECK_EQ_INT(
        keel_artifact_write(path, "{}", (size_t)KEEL_ARTIFACT_MAX_MANIFEST + 1, NULL, 0, NULL, &e),
        KEEL_ELIMIT);
    CHECK_HAS(e.msg, "over the limit");
    keel_artifact_tensor *many = calloc(KEEL_ARTIFACT_MAX_TENSORS + 1, sizeof *many);
    CHECK_EQ_INT(keel_artifact_write(path, "{}", 2, many, KEEL_ARTIFACT_MAX_TENSORS + 1, NULL, &e),
                 KEEL_ELIMIT);
    CHECK_HAS(e.msg, "too many tensors: 4097 (at most 4096)");
    free(many);
    CHECK_EQ_INT(keel_artifact_write(path, "{}", 2, NULL, 1, NULL, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_artifact_write("", "{}", 2, NULL, 0, NULL, &e), KEEL_EINVAL);
    CHECK_EQ_INT(test_alloc_live(), live);
    char names[64];
    CHECK_EQ_INT(list_dir(test_tmpdir(), names, sizeof names), 0);
}

TEST(artifact_holds_the_maximum_number_of_tensors)
{
    size_t n = KEEL_ARTIFACT_MAX_TENSORS;
    keel_artifact_tensor *t = calloc(n, sizeof *t);
    char(*names)[16] = calloc(n, sizeof *names);
    uint8_t *vals = malloc(n);
    for (size_t i = 0; i < n; i++) {
        /* Written in an order unlike the sorted one, to exercise the name index. */
        snprintf(names[i], sizeof names[i], "t%zu", (i * 2654435761u) % 100003);
        vals[i] = (uint8_t)i;
        t[i] = (keel_artifact_tensor){names[i], KEEL_DTYPE_U8, 1, {1}, &vals[i], 1};
    }
    const char *path = path_in_tmp("many.keel");
    keel_error e;
    REQUIRE(keel_artifact_write(path, "{}", 2, t, n, NULL, &e) == KEEL_OK);
    keel_artifact *a;
    REQUIRE(keel_artifact_open(path, &a, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_artifact_n_tensors(a), n);
    for (size_t i = 0; i < n; i++) {
        const keel_artifact_tensor *r = keel_artifact_find(a, names[i]);
        REQUIRE(r != NULL);
        CHECK(r == keel_artifact_tensor_at(a, i));
        CHECK_EQ_INT(*(const uint8_t *)r->data, (uint8_t)i);
    }
    keel_artifact_close(a);
    free(t);
    free(names);
    free(vals);
}

/* ---- the fuzz seeds ------------------------------------------------------------------------
 * tests/corpus/artifact/seed-* are written by this generator. The test checks the committed
 * files are what the writer produces today; KEEL_REGEN_CORPUS=1 build/unit artifact_corpus
 * rewrites them after a deliberate format change. */

static int write_seed(int k, const char *path, keel_error *e)
{
    static const float w[6] = {0.5f, -1, 2, 0, 1e-3f, 3};
    static const int64_t ids[3] = {7, -8, 1ll << 40};
    static const uint8_t flags[5] = {1, 0, 1, 1, 0};
    switch (k) {
    case 0:
        return keel_artifact_write(path, NULL, 0, NULL, 0, NULL, e);
    case 1:
        return keel_artifact_write(path, "{\"schema\":{},\"graph\":[]}", 24, NULL, 0, NULL, e);
    case 2: {
        keel_artifact_tensor t[1] = {{"params", KEEL_DTYPE_F32, 2, {2, 3}, w, 24}};
        return keel_artifact_write(path, "{}", 2, t, 1, NULL, e);
    }
    case 3: {
        sample s;
        sample_init(&s, false);
        return keel_artifact_write(path, MANIFEST, strlen(MANIFEST), s.t, s.n, NULL, e);
    }
    default: {
        keel_artifact_tensor t[4] = {{"ids", KEEL_DTYPE_I64, 1, {3}, ids, 24},
                                     {"none", KEEL_DTYPE_I32, 3, {2, 0, 2}, NULL, 0},
                                     {"flags", KEEL_DTYPE_U8, 1, {5}, flags, 5},
                                     {"one", KEEL_DTYPE_F64, 0, {0}, &w[0], 8}};
        /* f64 view of two floats: any 8 bytes will do for a container test */
        return keel_artifact_write(path, "{\"lineage\":{\"seed\":1}}", 22, t, 4, NULL, e);
    }
    }
}

static const char *const SEEDS[] = {"seed-empty", "seed-manifest-only", "seed-one-f32",
                                    "seed-all-dtypes", "seed-zero-size"};

TEST(artifact_corpus_seeds_are_current)
{
    const char *regen = getenv("KEEL_REGEN_CORPUS");
    for (int k = 0; k < (int)KEEL_ARRAY_LEN(SEEDS); k++) {
        keel_error e;
        char committed[1024];
        snprintf(committed, sizeof committed, "%s/tests/corpus/artifact/%s", test_root(), SEEDS[k]);
        if (regen && *regen == '1') {
            CHECK_EQ_INT(write_seed(k, committed, &e), KEEL_OK);
            continue;
        }
        const char *fresh = path_in_tmp(SEEDS[k]);
        REQUIRE(write_seed(k, fresh, &e) == KEEL_OK);
        size_t n1 = 0, n2 = 0;
        unsigned char *a = read_file(fresh, &n1), *b = read_file(committed, &n2);
        if (!b || n1 != n2 || memcmp(a, b, n1))
            harness_fail(__FILE__, __LINE__,
                         "%s differs from the writer's output: run KEEL_REGEN_CORPUS=1 "
                         "build/unit artifact_corpus",
                         committed);
        keel_artifact *art;
        CHECK_EQ_INT(keel_artifact_open(fresh, &art, &e), KEEL_OK);
        keel_artifact_close(art);
        free(a);
        free(b);
    }
}
