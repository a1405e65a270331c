/* Tests of profiles: statistics, JSON round trip, and merging. */
#include "harness.h"

#include "data/profile.h"
#include "data/validate.h"
#include "report/report.h"

#include <math.h>

static keel_schema *schema(void)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    keel_schema_add_column(s, "x", &c);
    keel_schema_add_column(s, "k", &c);
    c->type = KEEL_TYPE_CATEGORICAL;
    keel_strlist_add(&c->categories, "a", 1);
    keel_strlist_add(&c->categories, "b", 1);
    keel_schema_add_column(s, "t", &c);
    c->type = KEEL_TYPE_TEXT;
    return s;
}

/* Profiles rows [from, to) of x = i, k = a|b alternating, t = "v<i%7>". */
static keel_profile *profile_rows(const keel_schema *s, int from, int to)
{
    keel_buf csv;
    keel_buf_init(&csv);
    keel_buf_puts(&csv, "x,k,t\n");
    for (int i = from; i < to; i++) {
        if (i % 10 == 0)
            keel_buf_printf(&csv, "NA,%s,v%d\n", i % 2 ? "b" : "a", i % 7);
        else
            keel_buf_printf(&csv, "%d,%s,v%d\n", i, i % 2 ? "b" : "a", i % 7);
    }
    keel_profile *p = keel_profile_new(s);
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.on_chunk = keel_profile_add_frame;
    o.chunk_ud = p;
    o.chunk_rows = 100;
    keel_validate_result res;
    keel_error e;
    if (keel_validate_mem(s, csv.data, csv.len, &o, &res, &e) != KEEL_OK) {
        harness_fail(__FILE__, __LINE__, "validate: %s", e.msg);
    }
    keel_profile_set_source(p, "rows", NULL, res.records, res.accepted, res.quarantined,
                            res.repaired);
    keel_validate_result_free(&res);
    keel_buf_free(&csv);
    return p;
}

TEST(profile_statistics_are_right)
{
    keel_schema *s = schema();
    keel_profile *p = profile_rows(s, 0, 1000);
    /* x = 1..999 without multiples of 10: 900 values */
    double sum = 0, sq = 0;
    int n = 0;
    for (int i = 0; i < 1000; i++)
        if (i % 10) {
            sum += i;
            n++;
        }
    double mean = sum / n;
    for (int i = 0; i < 1000; i++)
        if (i % 10) sq += (i - mean) * (i - mean);
    CHECK_NEAR(keel_profile_mean(p, 0), mean, 1e-9);
    CHECK_NEAR(keel_profile_std(p, 0), sqrt(sq / (n - 1)), 1e-9);
    CHECK_EQ_INT(keel_profile_missing(p, 0), 100);
    CHECK_NEAR(keel_profile_quantile(p, 0, 0.5), 500, 15);
    CHECK_NEAR(keel_profile_quantile(p, 0, 0), 1, 0);
    CHECK_NEAR(keel_profile_quantile(p, 0, 1), 999, 0);
    CHECK_NEAR(keel_profile_distinct(p, 0), 900, 900 * 0.05);
    CHECK_NEAR(keel_profile_distinct(p, 1), 2, 0);
    CHECK_NEAR(keel_profile_distinct(p, 2), 7, 0.5);
    keel_profile_free(p);
    keel_schema_free(s);
}

static keel_profile *round_trip(const keel_profile *p, keel_buf *text)
{
    keel_buf_reset(text);
    keel_profile_write_json(p, text);
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    keel_profile *back = NULL;
    if (keel_json_parse(d, text->data, text->len, &e) != KEEL_OK ||
        keel_profile_read_json(keel_json_root(d), &back, &e) != KEEL_OK)
        harness_fail(__FILE__, __LINE__, "round trip: %s", e.msg);
    keel_json_doc_free(d);
    return back;
}

TEST(profile_json_round_trip_and_merge_equals_whole)
{
    keel_schema *s = schema();
    keel_profile *whole = profile_rows(s, 0, 3000);
    keel_profile *a = profile_rows(s, 0, 1700);
    keel_profile *b = profile_rows(s, 1700, 3000);
    keel_buf t1, t2;
    keel_buf_init(&t1);
    keel_buf_init(&t2);
    keel_profile *a2 = round_trip(a, &t1);
    keel_profile *b2 = round_trip(b, &t2);
    REQUIRE(a2 && b2);
    keel_error e;
    CHECK_EQ_INT(keel_profile_merge(a2, b2, &e), KEEL_OK);
    CHECK_EQ_INT(keel_profile_records(a2), 3000);
    CHECK_NEAR(keel_profile_mean(a2, 0), keel_profile_mean(whole, 0), 1e-9);
    CHECK_NEAR(keel_profile_std(a2, 0), keel_profile_std(whole, 0), 1e-9);
    CHECK_EQ_INT(keel_profile_missing(a2, 0), keel_profile_missing(whole, 0));
    CHECK_NEAR(keel_profile_distinct(a2, 0), keel_profile_distinct(whole, 0), 1e-9);
    CHECK_NEAR(keel_profile_quantile(a2, 0, 0.5), keel_profile_quantile(whole, 0, 0.5), 60);
    CHECK_NEAR(keel_profile_distinct(a2, 2), 7, 0.5);
    keel_profile_free(a);
    keel_profile_free(b);
    keel_profile_free(a2);
    keel_profile_free(b2);
    keel_profile_free(whole);
    keel_buf_free(&t1);
    keel_buf_free(&t2);
    keel_schema_free(s);
}

TEST(profile_refuses_hostile_json)
{
    const char *bad[] = {
        "[]",
        "{\"keel_profile\":2,\"columns\":[]}",
        "{\"keel_profile\":1}",
        "{\"keel_profile\":1,\"records\":1,\"accepted\":1,\"quarantined\":0,\"columns\":[{}]}",
        "{\"keel_profile\":1,\"records\":1,\"accepted\":1,\"quarantined\":0,\"columns\":[{\"name\":"
        "\"x\",\"type\":\"numeric\",\"count\":1,\"missing\":5,\"repaired\":0}]}",
        "{\"keel_profile\":1,\"records\":-1,\"accepted\":1,\"quarantined\":0,\"columns\":[]}",
        "{\"keel_profile\":1,\"records\":1,\"accepted\":1,\"quarantined\":0,\"columns\":[{\"name\":"
        "\"x\",\"type\":\"numeric\",\"count\":1,\"missing\":0,\"repaired\":0,\"sketch\":{}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        keel_json_doc *d = keel_json_doc_new();
        keel_error e;
        REQUIRE(keel_json_parse(d, bad[i], strlen(bad[i]), &e) == KEEL_OK);
        keel_profile *p = (keel_profile *)1;
        int rc = keel_profile_read_json(keel_json_root(d), &p, &e);
        if (rc != KEEL_EFORMAT)
            harness_fail(__FILE__, __LINE__, "case %zu accepted (rc %d)", i, rc);
        CHECK(p == NULL);
        keel_json_doc_free(d);
    }
}

TEST(profile_merge_refuses_different_columns)
{
    keel_schema *s = schema();
    keel_schema *s2 = schema();
    s2->columns[1].type = KEEL_TYPE_TEXT;
    keel_profile *a = keel_profile_new(s), *b = keel_profile_new(s2);
    keel_error e;
    CHECK_EQ_INT(keel_profile_merge(a, b, &e), KEEL_EMISMATCH);
    CHECK(strstr(e.msg, "'k'") != NULL);
    keel_profile_free(a);
    keel_profile_free(b);
    keel_schema_free(s);
    keel_schema_free(s2);
}

/* Writes p's JSON (and checks its page) to dir/name; returns the path (static, one of two). */
static const char *write_profile(const keel_profile *p, const char *name)
{
    static char paths[2][1024];
    static int k;
    char *path = paths[k++ % 2];
    snprintf(path, sizeof paths[0], "%s/%s", test_tmpdir(), name);
    keel_buf json, html;
    keel_buf_init(&json);
    keel_buf_init(&html);
    keel_error e;
    CHECK_EQ_INT(keel_report_profile_pages(p, &json, &html, &e), KEEL_OK);
    CHECK(html.data && strstr(html.data, "<html") != NULL);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(json.data, 1, json.len, f);
        fclose(f);
    }
    keel_buf_free(&json);
    keel_buf_free(&html);
    return path;
}

TEST(profile_files_merge_and_pages_render_what_is_saved)
{
    keel_schema *s = schema();
    keel_profile *a = profile_rows(s, 0, 1700), *b = profile_rows(s, 1700, 3000);
    const char *paths[3] = {write_profile(a, "a.json"), write_profile(b, "b.json"), NULL};
    keel_profile *m = NULL;
    keel_error e;
    CHECK_EQ_INT(keel_profile_merge_files(paths, 2, &m, &e), KEEL_OK);
    CHECK(m && keel_profile_records(m) == 3000);
    keel_profile_free(m);
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/none.json", test_tmpdir());
    paths[1] = missing;
    CHECK_EQ_INT(keel_profile_merge_files(paths, 2, &m, &e), KEEL_ENOENT);
    CHECK(m == NULL && strstr(e.msg, "none.json") != NULL);
    CHECK_EQ_INT(keel_profile_merge_files(paths, 0, &m, &e), KEEL_EINVAL);
    /* out of memory anywhere in rendering: an error, and both buffers as they were */
    keel_buf json, html;
    keel_buf_init(&json);
    keel_buf_init(&html);
    for (long k = 1; k < 200; k += 7) {
        test_fail_alloc_after(k);
        int rc = keel_report_profile_pages(a, &json, &html, &e);
        test_fail_alloc_after(0);
        if (rc != KEEL_OK) CHECK(json.len == 0 && html.len == 0);
        keel_buf_reset(&json);
        keel_buf_reset(&html);
    }
    keel_buf_free(&json);
    keel_buf_free(&html);
    keel_profile_free(a);
    keel_profile_free(b);
    keel_schema_free(s);
}
