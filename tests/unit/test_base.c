/* Tests of the base module: errors, allocation hook, buffers, UTF-8, hashing, SHA-256. */
#include "harness.h"

#include "base/base.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

TEST(error_table_names_every_code)
{
    CHECK_STR(keel_strerror(KEEL_OK), "success");
    CHECK_STR(keel_strerror(KEEL_ENOMEM), "out of memory");
    CHECK_STR(keel_errname(KEEL_EPARSE), "EPARSE");
    CHECK_STR(keel_strerror(-9999), "unknown error");
    keel_error e;
    CHECK_EQ_INT(keel_error_set(&e, KEEL_EINVAL, "bad %s %d", "thing", 3), KEEL_EINVAL);
    CHECK_STR(e.msg, "bad thing 3");
    CHECK_EQ_INT(keel_error_set(NULL, KEEL_EIO, "ignored"), KEEL_EIO);
}

TEST(alloc_hook_fails_nth_allocation)
{
    test_alloc_reset();
    test_fail_alloc_after(2);
    void *a = keel_malloc(10);
    void *b = keel_malloc(10);
    void *c = keel_malloc(10);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    keel_free(a);
    keel_free(c);
    CHECK_EQ_INT(test_alloc_live(), 0);
    CHECK(keel_calloc(SIZE_MAX / 2, 4) == NULL); /* overflow is refused, not wrapped */
}

TEST(buf_grows_and_survives_oom)
{
    keel_buf b;
    keel_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(keel_buf_printf(&b, "%d,", i), KEEL_OK);
    CHECK(b.len > 2000);
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    size_t len = b.len;
    test_fail_alloc_after(1);
    char big[100000];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(keel_buf_append(&b, big, sizeof big), KEEL_ENOMEM);
    CHECK_EQ_INT(b.len, len); /* old content intact */
    keel_buf_free(&b);
}

/* keel_buf_printf formats into the room it has and grows only when the text does not fit:
 * texts of every length around the capacity come out whole, and a failed growth leaves the
 * old content as it was, NUL included. keel_buf_put_u64 writes what %llu writes. */
TEST(buf_printf_at_every_fill_and_u64)
{
    keel_buf b, want;
    keel_buf_init(&b);
    keel_buf_init(&want);
    for (size_t fill = 0; fill < 140; fill++) {
        for (int width = 0; width < 80; width += 7) {
            keel_buf_reset(&b);
            for (size_t i = 0; i < fill; i++)
                keel_buf_putc(&b, (char)('a' + i % 26));
            size_t before = b.len;
            CHECK_EQ_INT(keel_buf_printf(&b, "<%*d>", width, width), KEEL_OK);
            char text[100];
            int n = snprintf(text, sizeof text, "<%*d>", width, width);
            CHECK_EQ_INT(b.len, before + (size_t)n);
            CHECK(memcmp(b.data + before, text, (size_t)n) == 0 && b.data[b.len] == '\0');
        }
    }
    keel_buf_reset(&b);
    keel_buf_puts(&b, "kept");
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_buf_printf(&b, "%0500d", 1), KEEL_ENOMEM);
    test_fail_alloc_after(0);
    CHECK_STR(b.data, "kept");
    CHECK_EQ_INT(b.len, 4);
    static const uint64_t values[] = {0, 1, 9, 10, 99, 100, 4294967295u, 18446744073709551615u};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        keel_buf_reset(&b);
        keel_buf_reset(&want);
        CHECK_EQ_INT(keel_buf_put_u64(&b, values[i]), KEEL_OK);
        keel_buf_printf(&want, "%llu", (unsigned long long)values[i]);
        CHECK_STR(b.data, want.data);
    }
    keel_buf_free(&b);
    keel_buf_free(&want);
}

TEST(json_string_escapes_and_repairs_utf8)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff", 10);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
    keel_buf_reset(&b);
    keel_buf_json_num(&b, 0.1);
    keel_buf_putc(&b, ' ');
    keel_buf_json_num(&b, 42);
    keel_buf_putc(&b, ' ');
    keel_buf_json_num(&b, 1.0 / 3.0);
    keel_buf_putc(&b, ' ');
    keel_buf_json_num(&b, NAN);
    CHECK_STR(b.data, "0.1 42 0.3333333333333333 null");
    keel_buf_free(&b);
}

/* What keel_buf_json_num wrote before its integer fast path, and must still write. */
static void json_num_reference(double v, char *out, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(out, cap, "null");
        return;
    }
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        snprintf(out, cap, "%lld", (long long)v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) break;
    }
}

static bool json_num_is_reference(keel_buf *b, double v)
{
    char want[64];
    json_num_reference(v, want, sizeof want);
    keel_buf_reset(b);
    keel_buf_json_num(b, v);
    if (strcmp(b->data, want) == 0) return true;
    fprintf(stderr, "json_num(%.17g): %s, want %s\n", v, b->data, want);
    return false;
}

/* The fixed-notation fast path of keel_buf_json_num gives the text of the %.15g..%.17g loop
 * byte for byte: on decimals of 1 to 17 digits at every scale (what JSON inputs are), on
 * random bit patterns, and on the edges of its range. */
TEST(json_num_fast_path_equals_printf)
{
    keel_buf b;
    keel_buf_init(&b);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int bad = 0;
    for (int i = 0; i < 300000 && bad < 5; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t r = seed >> 11;
        int digits = 1 + (int)(r % 17), scale = (int)((r >> 5) % 40) - 20;
        uint64_t m = (r >> 11) % 100000000000000000ULL;
        for (int d = 17; d > digits; d--)
            m /= 10;
        char text[64];
        snprintf(text, sizeof text, "%s%llue%d", (r >> 60) & 1 ? "-" : "", (unsigned long long)m,
                 scale);
        double v = strtod(text, NULL), bits;
        uint64_t raw = seed ^ (seed << 17);
        memcpy(&bits, &raw, sizeof bits);
        bad += !json_num_is_reference(&b, v) + !json_num_is_reference(&b, bits);
    }
    static const double edges[] = {1e-4,
                                   -1e-4,
                                   9.999999999999999e-5,
                                   1.0000000000000002e-4,
                                   1e15,
                                   -1e15,
                                   999999999999999.9,
                                   999999999999999.5,
                                   0.1,
                                   0.5,
                                   265.1,
                                   123456789012345.6,
                                   1e-5,
                                   0.3,
                                   2.0 / 3.0,
                                   -0.0,
                                   5e-324,
                                   1.7976931348623157e308};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        bad += !json_num_is_reference(&b, edges[i]);
    CHECK_EQ_INT(bad, 0);
    /* put_i64 writes what %lld writes */
    static const int64_t ints[] = {0, -1, 7, -9223372036854775807 - 1, 9223372036854775807};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)ints[i]);
        keel_buf_reset(&b);
        keel_buf_put_i64(&b, ints[i]);
        CHECK_STR(b.data, want);
    }
    keel_buf_free(&b);
}

/* keel_buf_json_str copies plain runs eight bytes at a time: an escape or a byte >= 0x80 at
 * every offset of a long string gives what the byte-by-byte rules give. */
TEST(json_str_special_byte_at_every_offset)
{
    static const char *const specials[] = {"\"", "\\", "\n", "\x01", "\xc3\xa9", "\xff", "\x7f"};
    static const char *const escaped[] = {"\\\"",     "\\\\",         "\\n", "\\u0001",
                                          "\xc3\xa9", "\xef\xbf\xbd", "\x7f"};
    keel_buf b;
    keel_buf_init(&b);
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        for (int at = 0; at < 20; at++) {
            char in[64], want[80];
            snprintf(in, sizeof in, "%.*s%s%s", at, "abcdefghijklmnopqrstuvwxyz", specials[k],
                     "0123456789");
            snprintf(want, sizeof want, "\"%.*s%s%s\"", at, "abcdefghijklmnopqrstuvwxyz",
                     escaped[k], "0123456789");
            keel_buf_reset(&b);
            keel_buf_json_str(&b, in, strlen(in));
            CHECK_STR(b.data, want);
        }
    }
    keel_buf_free(&b);
}

TEST(base64_round_trip)
{
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        keel_buf b;
        keel_buf_init(&b);
        keel_buf_base64(&b, cases[i], strlen(cases[i]));
        CHECK_STR(b.len ? b.data : "", want[i]);
        char out[16];
        long n = keel_base64_decode(want[i], strlen(want[i]), out, sizeof out);
        CHECK_EQ_INT(n, (long)strlen(cases[i]));
        CHECK(n >= 0 && memcmp(out, cases[i], (size_t)n) == 0);
        keel_buf_free(&b);
    }
    char out[8];
    CHECK_EQ_INT(keel_base64_decode("Zm9v!", 5, out, sizeof out), -1);
    CHECK_EQ_INT(keel_base64_decode("Zg=v", 4, out, sizeof out), -1);
}

TEST(utf8_validation_follows_rfc3629)
{
    CHECK(keel_utf8_valid("plain ascii text, long enough", 29));
    CHECK(keel_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9)); /* é € 😀 */
    CHECK_EQ_INT(keel_utf8_valid_prefix("ab\xc0\xaf", 4), 2);          /* overlong '/' */
    CHECK_EQ_INT(keel_utf8_valid_prefix("\xed\xa0\x80", 3), 0);        /* surrogate */
    CHECK_EQ_INT(keel_utf8_valid_prefix("\xf4\x90\x80\x80", 4), 0);    /* > U+10FFFF */
    CHECK_EQ_INT(keel_utf8_valid_prefix("x\xe2\x82", 3), 1);           /* truncated */
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_latin1(&b, "caf\xe9 M\xfcller", 11);
    CHECK_STR(b.data, "caf\xc3\xa9 M\xc3\xbcller");
    keel_buf_free(&b);
}

TEST(hash_is_stable)
{
    /* These values are part of the profile format: a change here breaks stored sketches. */
    CHECK(keel_hash64("abc", 3, 0) == keel_hash64("abc", 3, 0));
    CHECK(keel_hash64("abc", 3, 0) != keel_hash64("abd", 3, 0));
    CHECK(keel_hash64("abc", 3, 0) != keel_hash64("abc", 3, 1));
    CHECK(keel_hash64("abcdefgh1", 9, 0) != keel_hash64("abcdefgh2", 9, 0));
    keel_rng r1, r2;
    keel_rng_seed(&r1, 7);
    keel_rng_seed(&r2, 7);
    for (int i = 0; i < 100; i++)
        CHECK(keel_rng_next(&r1) == keel_rng_next(&r2));
    double u = keel_rng_uniform(&r1);
    CHECK(u >= 0 && u < 1);
}

TEST(sha256_known_vectors)
{
    unsigned char d[32];
    char hex[65];
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, "abc", 3);
    keel_sha256_final(&h, d);
    keel_sha256_hex(d, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[600];
    snprintf(path, sizeof path, "%s/empty", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fclose(f);
    keel_error e;
    CHECK_EQ_INT(keel_sha256_file(path, d, &e), KEEL_OK);
    keel_sha256_hex(d, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_EQ_INT(keel_sha256_file("/nonexistent/x", d, &e), KEEL_ENOENT);
    CHECK(strstr(e.msg, "/nonexistent/x") != NULL);
}

/* keel's SHA-256 (either block function) against libsodium's, an independent implementation:
 * every length up to four blocks and more, each fed whole and split at every point (one and
 * two splits), and 1 MB in uneven pieces. */
static bool same_as_sodium(const unsigned char *p, size_t n, size_t cut1, size_t cut2)
{
    unsigned char want[32], got[32];
    crypto_hash_sha256(want, p, n);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, p, cut1);
    keel_sha256_update(&h, p + cut1, cut2 - cut1);
    keel_sha256_update(&h, p + cut2, n - cut2);
    keel_sha256_final(&h, got);
    return !memcmp(want, got, 32);
}

TEST(sha256_both_kernels_agree_with_libsodium)
{
    REQUIRE(sodium_init() >= 0);
    size_t big = 1 << 20;
    unsigned char *p = malloc(big);
    REQUIRE(p);
    keel_rng r;
    keel_rng_seed(&r, 11);
    for (size_t i = 0; i < big; i++)
        p[i] = (unsigned char)keel_rng_next(&r);
    for (int plain = 0; plain < 2; plain++) {
        keel_sha256_use_plain(plain);
        int bad = 0;
        for (size_t n = 0; n <= 300 && !bad; n++)
            for (size_t cut = 0; cut <= n && !bad; cut++)
                bad += !same_as_sodium(p, n, cut, cut + (n - cut) / 2);
        CHECK_EQ_INT(bad, 0);
        for (size_t cut = 1; cut < big; cut = cut * 3 + 7)
            CHECK(same_as_sodium(p, big, cut / 2, cut));
        if (plain) CHECK_STR(keel_sha256_kernel(), "plain C");
    }
    keel_sha256_use_plain(false);
    free(p);
}

TEST(civil_dates_round_trip)
{
    CHECK_EQ_INT(keel_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(keel_days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_INT(keel_days_from_civil(1969, 12, 31), -1);
    char out[40];
    keel_format_timestamp((int64_t)keel_days_from_civil(2024, 2, 29) * 86400000000LL + 1500000,
                          out);
    CHECK_STR(out, "2024-02-29T00:00:01.500000Z");
    keel_format_timestamp(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999999Z");
    /* written by hand for years 0..9999: the same text as the printf format around it */
    static const int ymd[][3] = {{1970, 1, 1},  {0, 1, 1},      {9999, 12, 31}, {10000, 1, 1},
                                 {2000, 2, 29}, {2026, 11, 24}, {1969, 12, 31}};
    static const int64_t parts[] = {0, 1, 999999, 86399999999LL, 43200000007LL};
    for (size_t i = 0; i < sizeof ymd / sizeof *ymd; i++) {
        for (size_t j = 0; j < sizeof parts / sizeof *parts; j++) {
            int64_t days =
                keel_days_from_civil(ymd[i][0], (unsigned)ymd[i][1], (unsigned)ymd[i][2]);
            keel_format_timestamp(days * 86400000000LL + parts[j], out);
            int64_t secs = parts[j] / 1000000, frac = parts[j] % 1000000;
            char want[64];
            snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", ymd[i][0], ymd[i][1],
                     ymd[i][2], (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
            if (frac) snprintf(want + strlen(want), 16, ".%06lld", (long long)frac);
            strcat(want, "Z");
            CHECK_STR(out, want);
        }
    }
}

TEST(parse_time_reads_dates_times_and_epoch_seconds)
{
    int64_t t = -1, day = keel_days_from_civil(2026, 11, 24) * 86400000000LL;
    CHECK(keel_parse_time("2026-11-24", &t));
    CHECK_EQ_INT(t, day);
    CHECK(keel_parse_time("2026-11-24T10:00Z", &t));
    CHECK_EQ_INT(t, day + 36000000000LL);
    CHECK(keel_parse_time("2026-11-24 10:00:07", &t));
    CHECK_EQ_INT(t, day + 36007000000LL);
    CHECK(keel_parse_time("1764000000", &t));
    CHECK_EQ_INT(t, 1764000000000000LL);
    /* a short number is not read as seconds (20261124 would be a date typed without dashes) */
    const char *bad[] = {"",
                         "20261124",
                         "2026-13-01",
                         "2026-11-32",
                         "2026-11-24T",
                         "2026-11-24T25:00",
                         "2026-11-24T10:61",
                         "2026-11-24X",
                         "yesterday",
                         "2026-11-24T10:00:00+01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        t = 7;
        CHECK(!keel_parse_time(bad[i], &t));
        CHECK_EQ_INT(t, 7);
    }
}

/* Collects "key=value;" pairs. */
static int config_pairs(void *ud, const char *key, const char *value)
{
    keel_buf_printf(ud, "%s=%s;", key, value);
    return KEEL_OK;
}

static void write_text(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ_INT(fwrite(text, 1, n, f), n);
    fclose(f);
}

TEST(file_read_appends_whole_files_within_a_limit)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/f.txt", test_tmpdir());
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "head:");
    keel_error e;
    CHECK_EQ_INT(keel_file_read(path, 100, &b, &e), KEEL_ENOENT);
    CHECK(strstr(e.msg, path) != NULL);
    CHECK_STR(b.data, "head:");
    write_text(path, "", 0);
    CHECK_EQ_INT(keel_file_read(path, 100, &b, &e), KEEL_OK);
    CHECK_STR(b.data, "head:");
    /* across several reads: 200,000 bytes */
    size_t n = 200000;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + i % 26);
    write_text(path, text, n);
    CHECK_EQ_INT(keel_file_read(path, n, &b, &e), KEEL_OK);
    CHECK_EQ_INT(b.len, 5 + n);
    CHECK(memcmp(b.data + 5, text, n) == 0 && b.data[b.len] == '\0');
    /* one byte over the limit: refused, the buffer as it was */
    keel_buf_reset(&b);
    keel_buf_puts(&b, "head:");
    CHECK_EQ_INT(keel_file_read(path, n - 1, &b, &e), KEEL_ELIMIT);
    CHECK_STR(b.data, "head:");
    CHECK_EQ_INT(keel_file_read(test_tmpdir(), 100, &b, &e), KEEL_EIO); /* a directory */
    CHECK_STR(b.data, "head:");
    free(text);
    keel_buf_free(&b);
}

TEST(config_file_reads_pairs_and_names_the_file_it_refuses)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.yaml", test_tmpdir());
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    CHECK_EQ_INT(keel_config_load(path, config_pairs, &b, &e), KEEL_ENOENT);
    CHECK(strstr(e.msg, path) != NULL);
    const char *good = "# who\nuser: alice   # a comment\nhome: \"/srv/keel\"\n\n";
    write_text(path, good, strlen(good));
    CHECK_EQ_INT(keel_config_load(path, config_pairs, &b, &e), KEEL_OK);
    CHECK_STR(b.data, "user=alice;home=/srv/keel;");
    const char *bad = "user: alice\nthis is not a pair\n";
    write_text(path, bad, strlen(bad));
    keel_buf_reset(&b);
    CHECK(keel_config_load(path, config_pairs, &b, &e) != KEEL_OK);
    CHECK(strstr(e.msg, path) != NULL && strstr(e.msg, "line 2") != NULL);
    /* one byte over the limit is refused whole */
    size_t n = KEEL_CONFIG_FILE_MAX + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    write_text(path, big, n);
    free(big);
    CHECK_EQ_INT(keel_config_load(path, config_pairs, &b, &e), KEEL_ELIMIT);
    CHECK(strstr(e.msg, "larger than") != NULL);
    /* out of memory says so */
    write_text(path, good, strlen(good));
    test_fail_alloc_after(1);
    CHECK_EQ_INT(keel_config_load(path, config_pairs, &b, &e), KEEL_ENOMEM);
    test_fail_alloc_after(0);
    keel_buf_free(&b);
}

/* keel_float_text against the snprintf + strtof loop it replaces, byte for byte: every float
 * of some whole ranges (around probabilities' usual values and the ends of the fast path's
 * range), a million random bit patterns, and values that round up across a power of ten. */
static size_t float_text_differs(float f)
{
    char a[KEEL_FLOAT_TEXT], b[KEEL_FLOAT_TEXT];
    size_t na = keel_float_text(f, a), nb = keel_float_text_libc(f, b);
    if (na == nb && strcmp(a, b) == 0 && strlen(a) == na) return 0;
    fprintf(stderr, "float %a: '%s' (%zu), want '%s' (%zu)\n", (double)f, a, na, b, nb);
    return 1;
}

TEST(float_text_equals_the_c_library)
{
    size_t bad = 0;
    const float starts[] = {0.98f, 0.0126f, 1e-4f, 9.9e-5f, 0.5f, 999990.0f, 1.0f, 3.0f};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(starts); i++) {
        float f = starts[i];
        for (int k = 0; k < 200000 && bad < 5; k++, f = nextafterf(f, INFINITY))
            bad += float_text_differs(f) + float_text_differs(-f);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < 1000000 && bad < 5; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint32_t u = (uint32_t)(x >> 32);
        if (k % 2) u = (u & 0x807fffffu) | ((uint32_t)(113 + (x & 31)) << 23); /* ~1e-4..1e6 */
        float f;
        memcpy(&f, &u, sizeof f);
        bad += float_text_differs(f);
    }
    const float carries[] = {9.9999995f, 0.099999994f, 99999.99f, 0.00099999993f, 999999.94f,
                             1e-4f,      1e6f,         0.0f,      -0.0f,          1e-45f,
                             INFINITY,   -INFINITY,    NAN,       3.4e38f,        1e-5f};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(carries); i++)
        bad += float_text_differs(carries[i]);
    CHECK_EQ_INT(bad, 0);
}

/* ---- the parallel-for ---- */

typedef struct pf_state {
    int calls[300];
    pthread_t who[300];
} pf_state;

static void pf_mark(void *ud, size_t i)
{
    pf_state *s = ud;
    __atomic_add_fetch(&s->calls[i], 1, __ATOMIC_RELAXED);
    s->who[i] = pthread_self();
}

TEST(parallel_for_runs_each_call_once)
{
    for (size_t n = 0; n <= 9; n++) {
        for (int par = 0; par <= 1; par++) {
            pf_state s;
            memset(&s, 0, sizeof s);
            keel_parallel_for(n, par, pf_mark, &s);
            for (size_t i = 0; i < 12; i++)
                CHECK_EQ_INT(s.calls[i], i < n ? 1 : 0);
            /* The last call always runs on the calling thread; all of them do without parallel. */
            if (n) CHECK(pthread_equal(s.who[n - 1], pthread_self()));
            for (size_t i = 0; i + 1 < n; i++)
                CHECK(par ? !pthread_equal(s.who[i], pthread_self())
                          : pthread_equal(s.who[i], pthread_self()));
        }
    }
    /* More than the bound: the bound's calls run, never more threads. */
    pf_state s;
    memset(&s, 0, sizeof s);
    keel_parallel_for(KEEL_PARALLEL_MAX + 20, false, pf_mark, &s);
    CHECK_EQ_INT(s.calls[KEEL_PARALLEL_MAX - 1], 1);
    CHECK_EQ_INT(s.calls[KEEL_PARALLEL_MAX], 0);
}

TEST(part_range_covers_in_order)
{
    size_t ns[] = {0, 1, 7, 64, 65, 1000};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t T = 1; T <= 9; T++) {
            size_t next = 0;
            for (size_t t = 0; t < T; t++) {
                size_t lo, hi;
                keel_part_range(ns[a], T, t, &lo, &hi);
                CHECK_EQ_INT(lo, next);
                CHECK(hi >= lo && hi - lo <= (ns[a] + T - 1) / T);
                next = hi;
            }
            CHECK_EQ_INT(next, ns[a]);
        }
}

TEST(buf_errors_are_sticky_and_end_cuts_back)
{
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_buf_puts(&b, "kept "), KEEL_OK);
    keel_buf_mark mark = keel_buf_begin(&b);
    keel_buf_puts(&b, "one ");
    test_fail_alloc_after(1);
    keel_buf_printf(&b, "%0500d", 7); /* needs to grow: fails */
    test_fail_alloc_after(0);
    CHECK(b.failed);
    keel_buf_puts(&b, "two"); /* fits or not, the buffer stays failed */
    CHECK(b.failed);
    CHECK_EQ_INT(keel_buf_end(&b, mark), KEEL_ENOMEM);
    CHECK_STR(b.data, "kept ");
    CHECK(!b.failed); /* as it was where the writer began: usable again */
    /* A failure before the writer began stays: the writer fails too, and leaves it. */
    test_fail_alloc_after(1);
    keel_buf_printf(&b, "%0900d", 7);
    test_fail_alloc_after(0);
    mark = keel_buf_begin(&b);
    CHECK_EQ_INT(keel_buf_end(&b, mark), KEEL_ENOMEM);
    CHECK(b.failed);
    keel_buf_reset(&b);
    CHECK(!b.failed);
    mark = keel_buf_begin(&b);
    keel_buf_puts(&b, "fine");
    CHECK_EQ_INT(keel_buf_end(&b, mark), KEEL_OK);
    CHECK_STR(b.data, "fine");
    keel_buf_free(&b);
}

TEST(paths_base_derived_suffix_and_stem)
{
    CHECK_STR(keel_path_base("dir/sub/pima2.csv"), "pima2.csv");
    CHECK_STR(keel_path_base("pima2.csv"), "pima2.csv");
    char *d = keel_path_derived("dir/pima2.csv", ".quarantine.jsonl");
    CHECK_STR(d, "pima2.quarantine.jsonl");
    keel_free(d);
    d = keel_path_derived("-", ".profile.json");
    CHECK_STR(d, "stdin.profile.json");
    keel_free(d);
    CHECK(keel_path_has_suffix("out.csv", ".csv"));
    CHECK(keel_path_has_suffix(".csv", ".csv"));
    CHECK(!keel_path_has_suffix("out.csv.gz", ".csv"));
    CHECK(!keel_path_has_suffix("csv", ".csv"));
    CHECK_EQ_INT(keel_path_stem_len("churn.keel", ".keel"), 5);
    CHECK_EQ_INT(keel_path_stem_len(".keel", ".keel"), 5); /* nothing would be left: kept whole */
    CHECK_EQ_INT(keel_path_stem_len("churn-2.v1", ".keel"), 10);
}

TEST(file_check_private_refuses_what_others_may_read)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", test_tmpdir());
    keel_error e;
    CHECK_EQ_INT(keel_file_check_private(path, "the key", &e), KEEL_ENOENT);
    CHECK(strstr(e.msg, "the key") != NULL);
    write_text(path, "k", 1);
    CHECK_EQ_INT(chmod(path, 0600), 0);
    CHECK_EQ_INT(keel_file_check_private(path, "the key", &e), KEEL_OK);
    CHECK_EQ_INT(chmod(path, 0640), 0);
    CHECK_EQ_INT(keel_file_check_private(path, "the key", &e), KEEL_EPERM);
    CHECK(strstr(e.msg, "chmod 600") != NULL && strstr(e.msg, "0640") != NULL);
    CHECK_EQ_INT(keel_file_check_private(test_tmpdir(), "the key", &e), KEEL_EPERM);
    CHECK(strstr(e.msg, "not a regular file") != NULL);
}
