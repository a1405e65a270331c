/* Tests of the record-reader interface: CSV and JSON Lines through one set of calls. */
#include "harness.h"

#include "data/reader.h"

/* age: numeric; plan: categorical; active: boolean; note: text */
static keel_schema *sample_schema(keel_format format)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    s->format = format;
    keel_schema_add_column(s, "age", &c);
    keel_schema_add_column(s, "plan", &c);
    c->type = KEEL_TYPE_CATEGORICAL;
    keel_strlist_add(&c->categories, "basic", 5);
    keel_strlist_add(&c->categories, "gold", 4);
    keel_schema_add_column(s, "active", &c);
    c->type = KEEL_TYPE_BOOLEAN;
    keel_schema_add_column(s, "note", &c);
    c->type = KEEL_TYPE_TEXT;
    return s;
}

/* One record as text: "line:offset" then either "|kind@raw_off=value" per field or
 * " !problem@problem_off why". */
static void put_record(keel_buf *b, const keel_record *rec)
{
    keel_buf_printf(b, "%llu:%llu", (unsigned long long)rec->line, (unsigned long long)rec->offset);
    if (rec->problem != KEEL_RECORD_OK) {
        keel_buf_printf(b, " !%d@%zu %s\n", (int)rec->problem, rec->problem_off, rec->why);
        return;
    }
    for (size_t i = 0; i < rec->n_fields; i++) {
        const keel_field *f = &rec->fields[i];
        keel_buf_printf(b, "|%d@%zu=", f->kind, f->raw_off);
        keel_buf_append(b, f->p, f->len);
    }
    keel_buf_putc(b, '\n');
}

/* Reads every record of data (n bytes) with s, one at a time or by blocks, into text; an
 * error ends the text with "ERROR <name>: <message>". Checks on the way that every record's
 * raw bytes are the input's at its offset. The caller frees the text with keel_free. */
static char *read_all(const keel_schema *s, const char *path, const char *data, size_t n,
                      bool blocks, size_t chunk, size_t max_record)
{
    keel_reader_options o;
    keel_reader_options_init(&o);
    if (chunk) o.chunk_bytes = chunk;
    if (max_record) o.max_record_bytes = max_record;
    keel_reader *r;
    keel_error e;
    keel_buf b;
    keel_buf_init(&b);
    int rc =
        path ? keel_reader_open(s, path, &o, &r, &e) : keel_reader_open_mem(s, data, n, &o, &r, &e);
    if (rc != KEEL_OK) {
        keel_buf_printf(&b, "OPEN %s: %s", keel_errname(rc), e.msg);
        return b.data;
    }
    keel_record one;
    const keel_record *recs;
    int got;
    while ((got = blocks ? keel_reader_next_block(r, &recs) : keel_reader_next(r, &one)) > 0) {
        if (!blocks) recs = &one;
        for (int i = 0; i < got; i++) {
            const keel_record *rec = &recs[i];
            if (data && rec->problem != KEEL_RECORD_TOO_LONG &&
                (rec->offset + rec->raw_len > n ||
                 memcmp(rec->raw, data + rec->offset, rec->raw_len)))
                harness_fail(__FILE__, __LINE__, "record at %llu: raw bytes are not the input's",
                             (unsigned long long)rec->offset);
            put_record(&b, rec);
        }
    }
    if (got < 0) keel_buf_printf(&b, "ERROR %s: %s", keel_errname(got), keel_reader_errmsg(r));
    keel_reader_close(r);
    if (!b.data) keel_buf_puts(&b, "");
    return b.data;
}

/* Reads text with s by records and by blocks, with tiny and large chunks: all four must give
 * want. */
static void expect_records(const keel_schema *s, const char *text, const char *want, int line)
{
    for (int blocks = 0; blocks < 2; blocks++)
        for (size_t chunk = 16; chunk <= 1 << 20; chunk *= 256) {
            char *got = read_all(s, NULL, text, strlen(text), blocks, chunk, 0);
            if (!got || strcmp(got, want) != 0)
                harness_fail(__FILE__, line, "%s, chunk %zu:\n  got:\n%s\n  want:\n%s",
                             blocks ? "blocks" : "records", chunk, got ? got : "(null)", want);
            keel_free(got);
        }
}

TEST(reader_csv_fields_come_in_schema_order)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    /* The header has the columns in another order, and one the schema lacks. */
    expect_records(s,
                   "note,extra,age,plan,active\n"
                   "hi,x,34,gold,yes\n"
                   "\"a,b\",y,7,basic,no\n",
                   "2:27|0@5=34|0@8=gold|0@13=yes|0@0=hi\n"
                   "3:44|0@8=7|0@10=basic|0@16=no|0@0=a,b\n",
                   __LINE__);
    /* Without a header, field i is column i. */
    s->header = false;
    expect_records(s, "1,gold,yes,n\n", "1:0|0@0=1|0@2=gold|0@7=yes|0@11=n\n", __LINE__);
    keel_schema_free(s);
}

TEST(reader_csv_reports_extra_columns_and_format)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    keel_strlist extra = {0};
    keel_reader_options o;
    keel_reader_options_init(&o);
    o.extra_columns = &extra;
    keel_reader *r;
    keel_error e;
    static const char data[] = "age,zip,plan,active,note,city\n1,2,gold,yes,x,y\n";
    REQUIRE(keel_reader_open_mem(s, data, sizeof data - 1, &o, &r, &e) == KEEL_OK);
    CHECK_STR(keel_reader_format_name(r), "csv");
    keel_record rec;
    CHECK_EQ_INT(keel_reader_next(r, &rec), 1);
    CHECK_EQ_INT(rec.n_fields, 4);
    CHECK_EQ_INT(extra.n, 2);
    if (extra.n == 2) {
        CHECK_STR(extra.items[0], "zip");
        CHECK_STR(extra.items[1], "city");
    }
    CHECK_EQ_INT(keel_reader_next(r, &rec), 0);
    CHECK_EQ_INT(keel_reader_bytes_read(r), sizeof data - 1);
    CHECK_EQ_INT(keel_reader_size(r), sizeof data - 1);
    keel_reader_close(r);
    keel_strlist_clear(&extra);
    keel_schema_free(s);
}

/* Every path of the CSV reader, plain lines and the rest mixed: blocks must give exactly
 * the records one-at-a-time reading gives. */
TEST(reader_csv_blocks_agree_with_records)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    static const char text[] = "\xEF\xBB\xBF"
                               "age,plan,active,note\n"
                               "1,gold,yes,plain\n"
                               "2,\"gold\",no,\"quoted\"\n"
                               "\n"
                               "3,basic,yes,\"say \"\"hi\"\"\"\n"
                               "4,basic,no,\"two\nlines\"\n"
                               "5,gold,yes,crlf\r\n"
                               "6,gold\n"
                               "7,gold,yes,a,b\n"
                               "8,gold,yes,\"bad\"x\n"
                               "9,basic,no,last";
    char *records = read_all(s, NULL, text, sizeof text - 1, false, 0, 0);
    for (size_t chunk = 16; chunk <= 1 << 20; chunk *= 4) {
        char *blocks = read_all(s, NULL, text, sizeof text - 1, true, chunk, 0);
        if (!records || !blocks || strcmp(records, blocks) != 0)
            harness_fail(__FILE__, __LINE__, "chunk %zu:\n  records:\n%s\n  blocks:\n%s", chunk,
                         records ? records : "(null)", blocks ? blocks : "(null)");
        keel_free(blocks);
    }
    /* And what they give: */
    CHECK_STR(records, "2:24|0@0=1|0@2=gold|0@7=yes|0@11=plain\n"
                       "3:41|0@0=2|0@2=gold|0@9=no|0@12=quoted\n"
                       "5:63|0@0=3|0@2=basic|0@8=yes|0@12=say \"hi\"\n"
                       "6:88|0@0=4|0@2=basic|0@8=no|0@11=two\nlines\n"
                       "8:111|0@0=5|0@2=gold|0@7=yes|0@11=crlf\n"
                       "9:128 !4@0 expected 4 fields, found 2\n"
                       "10:135 !4@0 expected 4 fields, found 5\n"
                       "11:150 !2@16 characters after a closing quote\n"
                       "12:168|0@0=9|0@2=basic|0@8=no|0@11=last\n");
    keel_free(records);
    keel_schema_free(s);
}

/* Records of every length, whose fields and quotes fall on every side of the block scanner's
 * 64-byte windows, mixed with the shapes it hands to the tokenizer: blocks must still give
 * what one record at a time gives. */
TEST(reader_csv_blocks_agree_across_windows)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    static const char *const odd[] = {"\"a\"\"b\"", "\"x\ry\"", "\"two\nlines\"", "a\"b", "\"q\"z",
                                      "",           "\"\""};
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "plan,note,age,active\n");
    uint64_t x = 88172645463325252ULL; /* xorshift: the same text on every run */
    for (int i = 0; i < 600; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = x % 150, cut = (x >> 8) % 97;
        keel_buf_printf(&b, "%s,", x & 1 ? "gold" : "\"basic\"");
        if ((x >> 20) % 23 == 0) {
            keel_buf_puts(&b, odd[(x >> 30) % 7]);
        } else {
            bool quoted = x >> 40 & 1;
            if (quoted) keel_buf_putc(&b, '"');
            for (size_t k = 0; k < len; k++)
                keel_buf_putc(&b, quoted && k == cut ? ',' : (char)('a' + (k + i) % 26));
            if (quoted) keel_buf_putc(&b, '"');
        }
        keel_buf_printf(&b, ",%d,%s", i, (x >> 50) % 31 ? "yes" : "yes,extra");
        keel_buf_puts(&b, (x >> 56) % 41 ? "\n" : (x >> 56) % 2 ? "\r\n" : "\n\n");
    }
    REQUIRE(b.data != NULL);
    char *records = read_all(s, NULL, b.data, b.len, false, 0, 0);
    for (size_t chunk = 64; chunk <= 1 << 20; chunk *= 32) {
        char *blocks = read_all(s, NULL, b.data, b.len, true, chunk, 0);
        if (!records || !blocks || strcmp(records, blocks) != 0)
            harness_fail(__FILE__, __LINE__, "chunk %zu: blocks differ from records", chunk);
        keel_free(blocks);
    }
    CHECK(records && strstr(records, "ERROR") == NULL);
    keel_free(records);
    keel_buf_free(&b);
    keel_schema_free(s);
}

/* n copies of ch, as a string (n < 128). */
static const char *run_of(char ch, size_t n)
{
    static char buf[4][128];
    static int next;
    char *s = buf[next++ % 4];
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* What the block scanner carries from one 64-byte window to the next, each case placed on
 * the boundary. Offsets count from the second record, where the scanner's region starts: the
 * tokenizer reads the first one (it looks for a byte-order mark). */
TEST(reader_csv_block_scanner_carries_across_windows)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    s->header = false;
    char text[4][300];
    /* A quote opening on byte 2 and closing on byte 63, then text (bad) or a delimiter. */
    snprintf(text[0], sizeof text[0], "0,b,yes,n\n1,\"%s\"z,yes,n\n2,b,yes,n\n", run_of('a', 60));
    snprintf(text[1], sizeof text[1], "0,b,yes,n\n1,\"%s\",yes,n\n2,b,yes,n\n", run_of('a', 60));
    /* A delimiter on byte 63 and a quote opening on byte 64. */
    snprintf(text[2], sizeof text[2], "0,b,yes,n\n1,%s,\"yes\",n\n", run_of('a', 61));
    /* A quoted field across the boundary, with a delimiter inside it on byte 65. */
    snprintf(text[3], sizeof text[3], "0,b,yes,n\n1,\"%s,b\",yes,n\n", run_of('a', 62));
    for (int i = 0; i < 4; i++) {
        char *records = read_all(s, NULL, text[i], strlen(text[i]), false, 0, 0);
        char *blocks = read_all(s, NULL, text[i], strlen(text[i]), true, 0, 0);
        if (!records || !blocks || strcmp(records, blocks) != 0)
            harness_fail(__FILE__, __LINE__, "case %d:\n  records:\n%s\n  blocks:\n%s", i,
                         records ? records : "(null)", blocks ? blocks : "(null)");
        CHECK(records && (strstr(records, "characters after a closing quote") != NULL) == (i == 0));
        keel_free(records);
        keel_free(blocks);
    }
    keel_schema_free(s);
    /* With one column, a blank line after a line feed on byte 63 must still be skipped, not
     * read as a record of one empty field. */
    keel_schema *one = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(one, "note", &c);
    c->type = KEEL_TYPE_TEXT;
    one->header = false;
    char blank[200];
    snprintf(blank, sizeof blank, "y\n%s\n\nb\n", run_of('x', 63));
    for (int blocks = 0; blocks < 2; blocks++) {
        char *got = read_all(one, NULL, blank, strlen(blank), blocks, 0, 0);
        char want[200];
        snprintf(want, sizeof want, "1:0|0@0=y\n2:2|0@0=%s\n4:67|0@0=b\n", run_of('x', 63));
        CHECK_STR(got, want);
        keel_free(got);
    }
    keel_schema_free(one);
}

TEST(reader_jsonl_fields_come_in_schema_order)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_JSONL);
    expect_records(s,
                   "{\"note\":\"hi\",\"age\":34,\"plan\":\"gold\",\"active\":true,\"zip\":1}\n"
                   "\n"
                   "{\"age\":null,\"note\":[1,2],\"active\":false}\n"
                   "{\"age\":\"7\",\"age\":8,\"plan\":{}}\n",
                   /* kinds: 0 text, 1 number, 2 missing, 3 nested */
                   "1:0|1@0=34|0@0=gold|0@0=true|0@0=hi\n"
                   "3:60|2@0=|2@0=|0@0=false|3@0=\n"
                   "4:101|0@0=7|3@0=|2@0=|2@0=\n",
                   __LINE__);
    /* The schema's header flag means nothing to JSON Lines. */
    s->header = false;
    expect_records(s, "{\"age\":1}", "1:0|1@0=1|2@0=|2@0=|2@0=\n", __LINE__);
    keel_schema_free(s);
}

TEST(reader_broken_input_comes_back_as_problems_with_positions)
{
    keel_schema *csv = sample_schema(KEEL_FORMAT_CSV);
    csv->header = false;
    expect_records(csv, "1,gold,yes,ok\n2,gold,yes,\"never closed\n3,x,y,z\n",
                   "1:0|0@0=1|0@2=gold|0@7=yes|0@11=ok\n"
                   "2:14 !1@11 quoted field never closed before the end of the file\n",
                   __LINE__);
    expect_records(csv, "1,gold\n", "1:0 !4@0 expected 4 fields, found 2\n", __LINE__);
    keel_schema *js = sample_schema(KEEL_FORMAT_JSONL);
    expect_records(
        js,
        "{\"age\":1}\n"
        "{\"age\":\n"
        "[1,2]\n"
        "{\"age\":1}x\n",
        "1:0|1@0=1|2@0=|2@0=|2@0=\n"
        "2:10 !5@0 not valid JSON: line 1, column 8: expected a value, found end of input\n"
        "3:18 !6@0 the line is not a JSON object\n"
        "4:24 !5@0 not valid JSON: line 1, column 10: expected end of input after the "
        "value, found 'x'\n",
        __LINE__);
    static const char nul[] = "{\"age\":1}\n{\"a\0\":1}\n";
    char *got = read_all(js, NULL, nul, sizeof nul - 1, true, 0, 0);
    CHECK_STR(got, "1:0|1@0=1|2@0=|2@0=|2@0=\n2:10 !5@0 not valid JSON: a NUL byte in the line\n");
    keel_free(got);
    /* Over-long records are skipped, in both formats, and reading goes on after them. */
    static const char long_csv[] =
        "1,gold,yes,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n2,gold,yes,b\n";
    for (int blocks = 0; blocks < 2; blocks++) {
        got = read_all(csv, NULL, long_csv, sizeof long_csv - 1, blocks, 16, 32);
        CHECK_STR(got, "1:0 !3@0 record of 50 bytes exceeds the limit of 32 bytes\n"
                       "2:51|0@0=2|0@2=gold|0@7=yes|0@11=b\n");
        keel_free(got);
    }
    static const char long_js[] = "{\"note\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n{}\n";
    got = read_all(js, NULL, long_js, sizeof long_js - 1, true, 16, 32);
    CHECK_STR(got, "1:0 !3@0 record of 48 bytes exceeds the limit of 32 bytes\n"
                   "2:49|2@0=|2@0=|2@0=|2@0=\n");
    keel_free(got);
    keel_schema_free(csv);
    keel_schema_free(js);
}

TEST(reader_errors_name_the_file_and_stay)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    char path[600];
    snprintf(path, sizeof path, "%s/none.csv", test_tmpdir());
    keel_reader *r = (keel_reader *)1;
    keel_error e;
    CHECK_EQ_INT(keel_reader_open(s, path, NULL, &r, &e), KEEL_ENOENT);
    CHECK(r == NULL);
    CHECK(strstr(e.msg, "none.csv") != NULL);

    char *got = read_all(s, NULL, "", 0, true, 0, 0);
    CHECK_STR(got, "ERROR EEMPTY: (memory): the file is empty (no header line)");
    keel_free(got);
    got = read_all(s, NULL, "age,plan,note\n1,gold,x\n", 23, false, 0, 0);
    CHECK_STR(got,
              "ERROR EMISMATCH: (memory):1: column 'active' of the schema is not in the header");
    keel_free(got);
    got = read_all(s, NULL, "age,\"plan\"x,active,note\n", 24, true, 0, 0);
    CHECK_STR(got, "ERROR EMISMATCH: (memory):1: the header line is malformed");
    keel_free(got);

    /* Once failed, always failed, with the same message. */
    static const char data[] = "age\n1\n";
    keel_reader_options o;
    keel_reader_options_init(&o);
    o.display_name = "in.csv";
    REQUIRE(keel_reader_open_mem(s, data, sizeof data - 1, &o, &r, &e) == KEEL_OK);
    keel_record rec;
    CHECK_EQ_INT(keel_reader_next(r, &rec), KEEL_EMISMATCH);
    const keel_record *recs;
    CHECK_EQ_INT(keel_reader_next_block(r, &recs), KEEL_EMISMATCH);
    CHECK_STR(keel_reader_errmsg(r), "in.csv:1: column 'plan' of the schema is not in the header");
    keel_reader_close(r);
    keel_reader_close(NULL);
    keel_schema_free(s);
}

TEST(reader_format_comes_from_the_name_else_the_schema)
{
    keel_schema *s = sample_schema(KEEL_FORMAT_CSV);
    CHECK_EQ_INT(keel_reader_format_of(s, "a/b.jsonl"), KEEL_FORMAT_JSONL);
    CHECK_EQ_INT(keel_reader_format_of(s, "b.ndjson"), KEEL_FORMAT_JSONL);
    CHECK_EQ_INT(keel_reader_format_of(s, "b.txt"), KEEL_FORMAT_CSV);
    CHECK_EQ_INT(keel_reader_format_of(s, NULL), KEEL_FORMAT_CSV);
    s->format = KEEL_FORMAT_JSONL;
    CHECK_EQ_INT(keel_reader_format_of(s, "b.tsv"), KEEL_FORMAT_CSV);
    CHECK_EQ_INT(keel_reader_format_of(s, "-"), KEEL_FORMAT_JSONL);

    /* A file named .jsonl is read as JSON Lines whatever the schema says. */
    char path[600];
    snprintf(path, sizeof path, "%s/in.jsonl", test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs("{\"plan\":\"gold\"}\n", f);
    fclose(f);
    s->format = KEEL_FORMAT_CSV;
    char *got = read_all(s, path, NULL, 0, true, 0, 0);
    CHECK_STR(got, "1:0|2@0=|0@0=gold|2@0=|2@0=\n");
    keel_free(got);
    keel_reader_options o;
    keel_reader_options_init(&o);
    o.format = KEEL_FORMAT_JSONL; /* the option overrides both */
    keel_reader *r;
    keel_error e;
    REQUIRE(keel_reader_open_mem(s, "{}", 2, &o, &r, &e) == KEEL_OK);
    CHECK_STR(keel_reader_format_name(r), "jsonl");
    keel_reader_close(r);
    o.format = 7;
    CHECK_EQ_INT(keel_reader_open_mem(s, "{}", 2, &o, &r, &e), KEEL_EINVAL);
    keel_schema_free(s);
}

TEST(reader_out_of_memory_is_reported_and_leak_free)
{
    static const char csv[] = "note,age,plan,active\nx,1,gold,yes\n\"y\"\"\",2,basic,no\n";
    static const char js[] = "{\"age\":1,\"note\":\"x\"}\n[]\n";
    for (int format = 0; format < 2; format++) {
        keel_schema *s = sample_schema(format ? KEEL_FORMAT_JSONL : KEEL_FORMAT_CSV);
        const char *data = format ? js : csv;
        for (long n = 1; n < 100; n++) {
            long live = test_alloc_live();
            test_fail_alloc_after(n);
            char *got = read_all(s, NULL, data, strlen(data), n & 1, 0, 0);
            test_fail_alloc_after(0);
            bool failed = !got || strstr(got, "OPEN") || strstr(got, "ERROR");
            if (got && failed && !strstr(got, "ENOMEM"))
                harness_fail(__FILE__, __LINE__, "allocation %ld: %s", n, got);
            keel_free(got);
            CHECK_EQ_INT(test_alloc_live(), live);
            if (!failed) break;
        }
        keel_schema_free(s);
    }
}

/* JSON Lines records that leave out most of a wide schema's keys: each absent key is a value
 * the caller holds, so the values left out are bounded by the bytes read (1 Mi, then 4 per
 * byte). 300 "{}" lines under 4,000 columns leave out 1.2 million values in 900 bytes. */
TEST(reader_jsonl_bounds_absent_values)
{
    keel_schema *s = keel_schema_new();
    s->format = KEEL_FORMAT_JSONL;
    keel_schema_column *c;
    for (int i = 0; i < 4000; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        keel_schema_add_column(s, name, &c);
    }
    keel_buf text;
    keel_buf_init(&text);
    for (int i = 0; i < 300; i++)
        keel_buf_puts(&text, "{}\n");
    keel_reader *r = NULL;
    keel_error e;
    CHECK_EQ_INT(keel_reader_open_mem(s, text.data, text.len, NULL, &r, &e), KEEL_OK);
    keel_record rec;
    int got, n = 0;
    while ((got = keel_reader_next(r, &rec)) == 1)
        n++;
    CHECK_EQ_INT(got, KEEL_ELIMIT);
    CHECK_EQ_INT(n, 262); /* 263 records leave out 1,052,000 > 1,048,576 + 4 x 789 */
    CHECK_STR(keel_reader_errmsg(r),
              "(memory):263: the records so far leave out 1052000 values of the 4000 columns "
              "(keys that are absent) in 789 bytes; keel holds a value for each, and reads at "
              "most 1048576 plus 4 per byte of JSON Lines");
    keel_reader_close(r);
    /* The same lines naming every column are read to the end. */
    keel_buf_reset(&text);
    for (int i = 0; i < 300; i++) {
        keel_buf_puts(&text, "{");
        for (int k = 0; k < 4000; k++)
            keel_buf_printf(&text, "%s\"c%d\":1", k ? "," : "", k);
        keel_buf_puts(&text, "}\n");
    }
    CHECK_EQ_INT(keel_reader_open_mem(s, text.data, text.len, NULL, &r, &e), KEEL_OK);
    n = 0;
    while ((got = keel_reader_next(r, &rec)) == 1)
        n++;
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(n, 300);
    keel_reader_close(r);
    keel_buf_free(&text);
    keel_schema_free(s);
}
