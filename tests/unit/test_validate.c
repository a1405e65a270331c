/* Tests of streaming validation: every record accepted or quarantined, with reasons. */
#include "harness.h"

#include "data/validate.h"

#include <math.h>
#include <stdlib.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* age: numeric 0..120 integer; plan: categorical basic|gold; active: boolean; note: text */
static keel_schema *sample_schema(void)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(s, "age", &c);
    c->integer = true;
    c->has_min = c->has_max = true;
    c->min = 0;
    c->max = 120;
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

typedef struct collected {
    size_t rows;
    double age_sum;
    int gold;
    char notes[256];
} collected;

static int collect(void *ud, const keel_frame *f)
{
    collected *c = ud;
    for (size_t r = 0; r < f->n_rows; r++) {
        c->rows++;
        if (!isnan(f->cols[0].num[r])) c->age_sum += f->cols[0].num[r];
        c->gold += f->cols[1].cat[r] == 1;
        size_t len;
        const char *t = keel_column_text(&f->cols[3], r, &len);
        strncat(c->notes, t, len);
        strcat(c->notes, "|");
    }
    return 0;
}

/* Collects each accepted row's line (frame->line) into a text like "2 3 5 ". */
static int collect_lines(void *ud, const keel_frame *f)
{
    char *out = ud;
    if (!f->line) return KEEL_EINVAL;
    for (size_t r = 0; r < f->n_rows; r++) {
        size_t n = strlen(out);
        snprintf(out + n, 512 - n, "%llu ", (unsigned long long)f->line[r]);
    }
    return 0;
}

/* The accepted rows' lines when validating path in chunks of chunk rows (0: the default),
 * with the plain-record fast path or without it. */
static const char *lines_of(const keel_schema *s, const char *path, size_t chunk, bool plain)
{
    static char lines[512];
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.on_chunk = collect_lines;
    o.chunk_ud = lines;
    if (chunk) o.chunk_rows = chunk;
    o.plain = plain;
    keel_validate_result res;
    keel_error e;
    lines[0] = '\0';
    if (keel_validate_file(s, path, &o, &res, &e) != KEEL_OK)
        snprintf(lines, sizeof lines, "%s", e.msg);
    keel_validate_result_free(&res);
    return lines;
}

/* Every accepted row names the line its record starts on, through the plain-record fast
 * path, the record-by-record path (quotes, a record over two lines, a blank line, a
 * rejected record between), across chunks, and in JSON Lines. */
TEST(validate_rows_name_their_lines)
{
    char in[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    write_file(in, "age,plan,active,note\n"
                   "34,gold,yes,plain\n"          /* 2 */
                   "35,basic,no,plain\n"          /* 3 */
                   "abc,gold,no,rejected\n"       /* 4 */
                   "36,gold,yes,\"two\nlines\"\n" /* 5-6 */
                   "\n"                           /* 7: blank */
                   "37,basic,yes,\"quoted\"\n"    /* 8 */
                   "38,gold,no,plain\n"           /* 9 */
                   "39,gold,no,plain\n");         /* 10 */
    keel_schema *s = sample_schema();
    for (int plain = 0; plain < 2; plain++) {
        CHECK_STR(lines_of(s, in, 1, plain), "2 3 5 8 9 10 ");
        CHECK_STR(lines_of(s, in, 0, plain), "2 3 5 8 9 10 ");
    }
    s->format = KEEL_FORMAT_JSONL;
    snprintf(in, sizeof in, "%s/in.jsonl", test_tmpdir());
    write_file(in, "{\"age\": 34, \"plan\": \"gold\", \"active\": true, \"note\": \"a\"}\n"
                   "{\"age\": \"x\"}\n"
                   "\n"
                   "{\"age\": 35, \"plan\": \"basic\", \"active\": false, \"note\": \"b\"}\n");
    CHECK_STR(lines_of(s, in, 0, false), "1 4 ");
    keel_schema_free(s);
}

TEST(validate_accepts_and_quarantines_with_reasons)
{
    char in[600], q[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    snprintf(q, sizeof q, "%s/q.jsonl", test_tmpdir());
    write_file(in, "age,plan,active,note\n"
                   "34,gold,yes,first\n"
                   "abc,gold,no,bad number\n"
                   "200,silver,maybe,three problems\n"
                   "NA,basic,,missing is fine\n"
                   "1,2\n"
                   "12.5,basic,true,not whole\n"
                   "40,basic,false,\"quoted, with comma\"\n");
    keel_schema *s = sample_schema();
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = q;
    o.display_name = "in.csv";
    collected got = {0};
    o.on_chunk = collect;
    o.chunk_ud = &got;
    o.chunk_rows = 2; /* several chunks */
    keel_validate_result res;
    keel_error e;
    CHECK_EQ_INT(keel_validate_file(s, in, &o, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.records, 7);
    CHECK_EQ_INT(res.accepted, 3);
    CHECK_EQ_INT(res.quarantined, 4);
    CHECK_EQ_INT(res.records, res.accepted + res.quarantined);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_BAD_NUMBER], 1);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_OUT_OF_RANGE], 1);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_UNKNOWN_CATEGORY], 1);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_BAD_BOOLEAN], 1);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_FIELD_COUNT], 1);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_NOT_INTEGER], 1);
    CHECK_EQ_INT(got.rows, 3);
    CHECK_NEAR(got.age_sum, 74, 0);
    CHECK_EQ_INT(got.gold, 1);
    CHECK_STR(got.notes, "first|missing is fine|quoted, with comma|");
    const char *qt = read_all(q);
    REQUIRE(qt);
    CHECK(strstr(qt, "{\"line\":3,\"offset\":39,\"record\":\"abc,gold,no,bad number\","
                     "\"reasons\":[{\"code\":\"bad_number\",\"column\":\"age\",\"line\":3,"
                     "\"column_number\":1,\"message\":\"in.csv:3:1: column 'age': 'abc' is not a "
                     "number\"}]}") != NULL);
    CHECK(strstr(qt, "in.csv:4:5: column 'plan': 'silver' is not one of the 2 categories"));
    CHECK(strstr(qt, "\"code\":\"field_count\""));
    CHECK(strstr(qt, "expected 4 fields, found 2"));
    keel_validate_result_free(&res);
    keel_schema_free(s);
}

TEST(validate_policies_repair_instead_of_reject)
{
    char in[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    write_file(in, "age,plan,active,note\n500,silver,yes,x\n-3,gold,no,y\n");
    keel_schema *s = sample_schema();
    s->columns[0].on_invalid = KEEL_ON_INVALID_CLIP;
    s->columns[1].on_invalid = KEEL_ON_INVALID_MISSING;
    collected got = {0};
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.on_chunk = collect;
    o.chunk_ud = &got;
    keel_validate_result res;
    keel_error e;
    CHECK_EQ_INT(keel_validate_file(s, in, &o, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.accepted, 2);
    CHECK_NEAR(got.age_sum, 120, 0); /* 500 clipped to 120, -3 to 0 */
    CHECK_EQ_INT(res.repaired[0], 2);
    CHECK_EQ_INT(res.repaired[1], 1);
    keel_validate_result_free(&res);
    keel_schema_free(s);
}

TEST(validate_header_must_hold_schema_columns)
{
    char in[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    write_file(in, "age,plan,extra,note\n1,gold,x,y\n");
    keel_schema *s = sample_schema();
    keel_validate_result res;
    keel_error e;
    CHECK_EQ_INT(keel_validate_file(s, in, NULL, &res, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "column 'active' of the schema is not in the header") != NULL);
    keel_validate_result_free(&res);
    write_file(in, "");
    CHECK_EQ_INT(keel_validate_file(s, in, NULL, &res, &e), KEEL_EEMPTY);
    keel_validate_result_free(&res);
    write_file(in, "note,active,plan,age,spare\n"); /* header only, other order: fine */
    CHECK_EQ_INT(keel_validate_file(s, in, NULL, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.records, 0);
    CHECK_EQ_INT(res.extra_columns.n, 1);
    keel_validate_result_free(&res);
    keel_schema_free(s);
}

TEST(validate_invalid_utf8_keeps_exact_bytes)
{
    char in[600], q[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    snprintf(q, sizeof q, "%s/q.jsonl", test_tmpdir());
    write_file(in, "age,plan,active,note\n1,gold,yes,caf\xe9\n");
    keel_schema *s = sample_schema();
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = q;
    keel_validate_result res;
    keel_error e;
    CHECK_EQ_INT(keel_validate_file(s, in, &o, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.reasons[KEEL_REASON_INVALID_UTF8], 1);
    const char *qt = read_all(q);
    CHECK(qt && strstr(qt, "\"record_base64\":\"MSxnb2xkLHllcyxjYWbp\""));
    keel_validate_result_free(&res);
    keel_schema_free(s);
}

TEST(validate_out_of_memory_is_reported_and_leak_free)
{
    char in[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    write_file(in, "age,plan,active,note\n34,gold,yes,a\nx,gold,no,b\n");
    keel_schema *s = sample_schema();
    for (long n = 1; n < 200; n++) {
        long live = test_alloc_live();
        test_fail_alloc_after(n);
        keel_validate_result res;
        keel_error e;
        int rc = keel_validate_file(s, in, NULL, &res, &e);
        keel_validate_result_free(&res);
        test_fail_alloc_after(0);
        CHECK_EQ_INT(test_alloc_live(), live);
        if (rc == KEEL_OK) break;
        CHECK_EQ_INT(rc, KEEL_ENOMEM);
    }
    keel_schema_free(s);
}

/* Found by fuzzing: a header field with a NUL byte in it made the name lookup read past the
 * end of a shorter column name. */
TEST(validate_header_with_nul_byte)
{
    keel_schema *s = sample_schema();
    static const char data[] = "age\0x,plan,active,note\n1,gold,yes,x\n"; /* "age" + NUL */
    keel_validate_result res;
    keel_error e;
    CHECK_EQ_INT(keel_validate_mem(s, data, sizeof data - 1, NULL, &res, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "'age'") != NULL);
    keel_validate_result_free(&res);
    keel_schema_free(s);
}

/* The same bug at its source: a nearly full string set makes every probe pass "a", which a
 * key "a\0zz" matched up to its NUL byte before the lengths were compared. */
TEST(strset_find_compares_lengths_first)
{
    keel_strset t;
    REQUIRE(keel_strset_init(&t, 1) == KEEL_OK); /* 16 slots */
    static const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h",
                                  "i", "j", "k", "l", "m", "n", "o"};
    for (uint32_t i = 0; i < 15; i++)
        CHECK_EQ_INT(keel_strset_add(&t, names[i], i), -1);
    CHECK_EQ_INT(keel_strset_find(&t, "a\0zz", 4), -1);
    CHECK_EQ_INT(keel_strset_find(&t, "a", 1), 0);
    CHECK_EQ_INT(keel_strset_find(&t, "o", 1), 14);
    keel_strset_free(&t);
}

/* Found by the differential fuzz target: a record whose early value is repaired and a later
 * value rejected leaves the fast path for the record path; its repairs must count once. */
TEST(validate_fast_path_agrees_with_record_path)
{
    char in[600];
    snprintf(in, sizeof in, "%s/in.csv", test_tmpdir());
    write_file(in, "age,plan,active,note\n"
                   "500,gold,yes,fine\n"               /* repaired, accepted */
                   "500,silver,maybe,bad\n"            /* repaired twice, then rejected */
                   "7,basic,no,\"quoted\"\n"           /* plain */
                   "8,basic,no,\"say \"\"hi\"\"\"\n"); /* escaped quotes: record path */
    keel_schema *s = sample_schema();
    s->columns[0].on_invalid = KEEL_ON_INVALID_CLIP;
    s->columns[1].on_invalid = KEEL_ON_INVALID_MISSING;
    keel_validate_result fast, plain;
    keel_validate_options o;
    keel_validate_options_init(&o);
    keel_error e;
    CHECK_EQ_INT(keel_validate_file(s, in, &o, &fast, &e), KEEL_OK);
    o.plain = true;
    CHECK_EQ_INT(keel_validate_file(s, in, &o, &plain, &e), KEEL_OK);
    CHECK_EQ_INT(fast.accepted, 3);
    CHECK_EQ_INT(fast.quarantined, 1);
    CHECK_EQ_INT(fast.accepted, plain.accepted);
    CHECK_EQ_INT(fast.repaired[0], plain.repaired[0]);
    CHECK_EQ_INT(fast.repaired[1], plain.repaired[1]);
    CHECK_EQ_INT(fast.repaired[0], 2);
    CHECK_EQ_INT(fast.repaired[1], 1);
    keel_validate_result_free(&fast);
    keel_validate_result_free(&plain);
    keel_schema_free(s);
}
