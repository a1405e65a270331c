/* Tests of the streaming CSV reader. */
#include "harness.h"

#include "data/csv.h"

#include <stdlib.h>

/* Reads all records of text with the given chunk size into a flat description:
 * "line:offset:problem|f1|f2\n" per record, so two reads can be compared as strings. */
static char *describe(const char *text, size_t n, size_t chunk, size_t max_record, char delim,
                      keel_encoding enc)
{
    keel_csv_options o;
    keel_csv_options_init(&o);
    o.chunk_bytes = chunk;
    if (max_record) o.max_record_bytes = max_record;
    o.delimiter = delim;
    o.encoding = enc;
    keel_csv *r;
    keel_error e;
    if (keel_csv_open_mem(text, n, &o, &r, &e)) return NULL;
    keel_buf b;
    keel_buf_init(&b);
    keel_record rec;
    int rc;
    while ((rc = keel_csv_next(r, &rec)) == 1) {
        keel_buf_printf(&b, "%llu:%llu:%d", (unsigned long long)rec.line,
                        (unsigned long long)rec.offset, (int)rec.problem);
        for (size_t i = 0; i < rec.n_fields; i++) {
            keel_buf_putc(&b, '|');
            keel_buf_append(&b, rec.fields[i].p, rec.fields[i].len);
        }
        keel_buf_putc(&b, '\n');
    }
    if (rc < 0) keel_buf_puts(&b, "ERROR\n");
    keel_csv_close(r);
    if (!b.data) keel_buf_puts(&b, "");
    return b.data;
}

static void expect(const char *text, const char *want)
{
    for (size_t chunk = 16; chunk <= 1 << 20; chunk *= 64) {
        char *got = describe(text, strlen(text), chunk, 0, ',', KEEL_ENC_UTF8);
        if (!got || strcmp(got, want) != 0)
            harness_fail(__FILE__, __LINE__, "chunk %zu:\n  input: %s\n  got:\n%s  want:\n%s",
                         chunk, text, got ? got : "(null)", want);
        keel_free(got);
    }
}

TEST(csv_basic_records_and_fields)
{
    expect("a,b,c\n1,2,3\n", "1:0:0|a|b|c\n2:6:0|1|2|3\n");
    expect("a,b\n1,2", "1:0:0|a|b\n2:4:0|1|2\n");                 /* no final newline */
    expect("a,,c,\n", "1:0:0|a||c|\n");                           /* empty fields */
    expect("x\r\ny\r\n", "1:0:0|x\n2:3:0|y\n");                   /* CRLF */
    expect("x\ry\r", "1:0:0|x\n1:2:0|y\n");                       /* lone CR ends a record */
    expect("\xEF\xBB\xBFid,v\n1,2\n", "1:3:0|id|v\n2:8:0|1|2\n"); /* BOM skipped */
    expect("a\n\n\nb\n", "1:0:0|a\n4:4:0|b\n");                   /* blank lines skipped */
    expect("", "");
}

TEST(csv_quotes)
{
    expect("\"a,b\",c\n", "1:0:0|a,b|c\n");
    expect("\"say \"\"hi\"\"\",x\n", "1:0:0|say \"hi\"|x\n");
    expect("\"multi\nline\",2\nnext,3\n", "1:0:0|multi\nline|2\n3:15:0|next|3\n");
    expect("\"\",x\n", "1:0:0||x\n");
    expect("5'11\",x\n", "1:0:0|5'11\"|x\n");  /* a quote inside an unquoted field is literal */
    expect("\"abc\"def,x\n", "1:0:2|abc|x\n"); /* text after closing quote */
    expect("a,\"open\nnever closed\n", "1:0:1|a|open\nnever closed\n\n");
    expect("\"\"\"\"\n", "1:0:0|\"\n");
}

TEST(csv_chunk_size_never_changes_the_result)
{
    keel_rng rng;
    keel_rng_seed(&rng, 42);
    static const char alphabet[] = "ab,\"\n\r \xc3\xa9";
    for (int round = 0; round < 300; round++) {
        char text[300];
        size_t n = keel_rng_next(&rng) % sizeof text;
        for (size_t i = 0; i < n; i++)
            text[i] = alphabet[keel_rng_next(&rng) % (sizeof alphabet - 1)];
        char *whole = describe(text, n, 1 << 20, 0, ',', KEEL_ENC_UTF8);
        for (size_t chunk = 16; chunk < 64; chunk += 7) {
            char *part = describe(text, n, chunk, 0, ',', KEEL_ENC_UTF8);
            if (!whole || !part || strcmp(whole, part)) {
                harness_fail(__FILE__, __LINE__, "round %d chunk %zu differs", round, chunk);
                keel_free(part);
                keel_free(whole);
                return;
            }
            keel_free(part);
        }
        keel_free(whole);
    }
}

TEST(csv_overlong_record_is_skipped_not_held)
{
    /* A 1 MB field with a 64 KiB limit: reported as too long, the next record intact. */
    size_t big = 1 << 20;
    char *text = malloc(big + 64);
    REQUIRE(text);
    strcpy(text, "h\n\"");
    memset(text + 3, 'x', big);
    strcpy(text + 3 + big, "\nmore\"\nok\n");
    keel_csv_options o;
    keel_csv_options_init(&o);
    o.max_record_bytes = 1 << 16;
    o.chunk_bytes = 4096;
    keel_csv *r;
    keel_error e;
    REQUIRE(keel_csv_open_mem(text, strlen(text), &o, &r, &e) == KEEL_OK);
    keel_record rec;
    CHECK_EQ_INT(keel_csv_next(r, &rec), 1);
    CHECK_EQ_INT(keel_csv_next(r, &rec), 1);
    CHECK_EQ_INT(rec.problem, KEEL_RECORD_TOO_LONG);
    CHECK_EQ_INT(rec.line, 2);
    CHECK_EQ_INT(rec.raw_total, big + 7);
    CHECK(rec.raw_len <= 4096);
    CHECK_EQ_INT(keel_csv_next(r, &rec), 1);
    CHECK_EQ_INT(rec.line, 4);
    CHECK_EQ_INT(rec.n_fields, 1);
    CHECK(rec.n_fields == 1 && rec.fields[0].len == 2 && !memcmp(rec.fields[0].p, "ok", 2));
    CHECK_EQ_INT(keel_csv_next(r, &rec), 0);
    keel_csv_close(r);
    free(text);
}

TEST(csv_hundred_thousand_fields)
{
    size_t n = 100000;
    char *text = malloc(n * 2 + 1);
    REQUIRE(text);
    for (size_t i = 0; i < n; i++) {
        text[2 * i] = 'v';
        text[2 * i + 1] = i + 1 < n ? ',' : '\n';
    }
    text[2 * n] = '\0';
    keel_csv *r;
    keel_error e;
    REQUIRE(keel_csv_open_mem(text, 2 * n, NULL, &r, &e) == KEEL_OK);
    keel_record rec;
    CHECK_EQ_INT(keel_csv_next(r, &rec), 1);
    CHECK_EQ_INT(rec.n_fields, n);
    keel_csv_close(r);
    free(text);
}

TEST(csv_latin1_and_delimiters)
{
    char *got = describe("nom;ville\nJos\xe9;K\xf6ln\n", 19, 1 << 20, 0, ';', KEEL_ENC_LATIN1);
    CHECK_STR(got, "1:0:0|nom|ville\n2:10:0|Jos\xc3\xa9|K\xc3\xb6ln\n");
    keel_free(got);
    got = describe("a\tb\n1\t2\n", 8, 1 << 20, 0, '\t', KEEL_ENC_UTF8);
    CHECK_STR(got, "1:0:0|a|b\n2:4:0|1|2\n");
    keel_free(got);
}

TEST(csv_position_of_a_field)
{
    keel_csv *r;
    keel_error e;
    const char *t = "h1,h2\n\"two\nlines\",bad\n";
    REQUIRE(keel_csv_open_mem(t, strlen(t), NULL, &r, &e) == KEEL_OK);
    keel_record rec;
    keel_csv_next(r, &rec);
    keel_csv_next(r, &rec);
    uint64_t line, col;
    keel_record_position(&rec, rec.fields[1].raw_off, &line, &col);
    CHECK_EQ_INT(line, 3);
    CHECK_EQ_INT(col, 8);
    keel_csv_close(r);
}

TEST(csv_missing_file_and_oom)
{
    keel_csv *r = (keel_csv *)1;
    keel_error e;
    CHECK_EQ_INT(keel_csv_open("/nonexistent/file.csv", NULL, &r, &e), KEEL_ENOENT);
    CHECK(r == NULL);
    CHECK(strstr(e.msg, "/nonexistent/file.csv") != NULL);
    const char *t = "a,\"b\"\"c\",d\n1,2,3\n";
    for (long n = 1; n < 50; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        int rc = keel_csv_open_mem(t, strlen(t), NULL, &r, &e);
        keel_record rec;
        int got = 0;
        if (rc == KEEL_OK) {
            while ((rc = keel_csv_next(r, &rec)) == 1)
                got++;
            keel_csv_close(r);
        }
        test_fail_alloc_after(0);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc == 0 && got == 2) break;
        CHECK(rc == KEEL_ENOMEM);
    }
}
