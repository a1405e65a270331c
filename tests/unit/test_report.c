/* Tests of the profile HTML report: content, escaping, bounded size, hostile files, OOM. */
#include "harness.h"

#include "base/json.h"
#include "report/report.h"
#include "report/text.h"

#include <stdlib.h>

/* Reads a whole file into a keel_buf; false on failure. */
static bool read_file(const char *path, keel_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char chunk[4096];
    size_t n;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = ok && keel_buf_append(b, chunk, n) == KEEL_OK;
    fclose(f);
    return ok && b->len > 0;
}

/* Parses text and renders it; returns the renderer's code, the page in out. */
static int render_text(const char *text, keel_buf *out, keel_error *e)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return KEEL_ENOMEM;
    int rc = keel_json_parse(d, text, strlen(text), e);
    if (rc == KEEL_OK) rc = keel_report_profile_html(keel_json_root(d), out, e);
    keel_json_doc_free(d);
    return rc;
}

static keel_json_doc *load_example(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/profile_example.json", test_root());
    keel_buf text;
    keel_buf_init(&text);
    keel_json_doc *d = NULL;
    if (read_file(path, &text)) {
        d = keel_json_doc_new();
        keel_error e;
        if (d && keel_json_parse(d, text.data, text.len, &e) != KEEL_OK) {
            fprintf(stderr, "    %s: %s\n", path, e.msg);
            keel_json_doc_free(d);
            d = NULL;
        }
    }
    keel_buf_free(&text);
    return d;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Whether an SVG attribute got a NaN or an infinity (drawn nowhere, or not at all). */
static bool has_bad_number(const char *page)
{
    return strstr(page, "=\"nan") || strstr(page, "=\"-nan") || strstr(page, "=\"inf") ||
           strstr(page, "=\"-inf");
}

TEST(report_renders_example_profile)
{
    keel_json_doc *d = load_example();
    REQUIRE(d != NULL);
    const keel_json *root = keel_json_root(d);
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    CHECK_EQ_INT(keel_report_profile_html(root, &out, &e), KEEL_OK);
    REQUIRE(out.data != NULL);
    CHECK(strncmp(out.data, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(out.data, "</html>\n") == out.data + out.len - 8);
    const keel_json *cols = keel_json_get(root, "columns");
    CHECK(keel_json_len(cols) >= 6);
    for (size_t i = 0; i < keel_json_len(cols); i++) {
        const char *name = keel_json_str(keel_json_get(keel_json_at(cols, i), "name"));
        REQUIRE(name != NULL);
        if (!strstr(out.data, name))
            harness_fail(__FILE__, __LINE__, "column %s not in the page", name);
    }
    CHECK(strstr(out.data, "<svg") != NULL);
    CHECK(strstr(out.data, "<script") == NULL);
    CHECK(!has_bad_number(out.data));
    CHECK(strstr(out.data, "src=") == NULL && strstr(out.data, "url(") == NULL);
    CHECK(strstr(out.data, "http:") == NULL && strstr(out.data, "https:") == NULL);
    /* One card per column, each with a chart (every example column has a distribution). */
    CHECK_EQ_INT(count_of(out.data, "<section class=\"card\""), keel_json_len(cols));
    CHECK_EQ_INT(count_of(out.data, "<svg class=\"chart\""), keel_json_len(cols));
    /* Provenance and the quarantine rate (12 of 780). */
    CHECK(strstr(out.data, "pima2.csv") != NULL);
    CHECK(strstr(out.data, keel_json_str(keel_json_get(root, "source_sha256"))) != NULL);
    CHECK(strstr(out.data, "12 of 780 records (1.5%) were quarantined") != NULL);
    CHECK(strstr(out.data, "personal data: email") != NULL);
    CHECK(strstr(out.data, "<title>") != NULL); /* counts on hover */
    keel_buf_free(&out);
    keel_json_doc_free(d);
}

TEST(report_escapes_hostile_text)
{
    const char *text =
        "{\"keel_profile\":1,\"source\":\"<img src=x onerror=alert(1)>.csv\","
        "\"created\":\"</title><script>alert(2)</script>\",\"columns\":["
        "{\"name\":\"<script>alert(3)</script>\\\"&'\",\"type\":\"<b>numeric\","
        "\"display_name\":\"a\\nb\\u202egnp.exe\",\"pii\":\"<i>email\","
        "\"numeric\":{\"min\":1,\"max\":2,\"histogram\":{\"edges\":[1,2],\"counts\":[3]}}},"
        "{\"name\":\"v\",\"type\":\"categorical\",\"top\":[{\"value\":\"</text><script>x"
        "</script>\",\"count\":2},{\"value\":\"\\u0000\\u007f\\u0085\",\"count\":1}]}]}";
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    CHECK_EQ_INT(render_text(text, &out, &e), KEEL_OK);
    REQUIRE(out.data != NULL);
    CHECK(strstr(out.data, "<script") == NULL);
    CHECK(strstr(out.data, "<img") == NULL);
    CHECK(strstr(out.data, "<b>") == NULL && strstr(out.data, "<i>email") == NULL);
    CHECK(strstr(out.data, "&lt;script&gt;alert(3)&lt;/script&gt;&quot;&amp;&#39;") != NULL);
    CHECK(strstr(out.data, "&lt;/text&gt;&lt;script&gt;x") != NULL);
    CHECK(strstr(out.data, "personal data: &lt;i&gt;email") != NULL);
    /* Controls are shown as symbols (a␊b, ␀, ␡); bidi overrides and C1 controls replaced. */
    CHECK(strstr(out.data, "a\xe2\x90\x8a"
                           "b") != NULL);
    CHECK(strstr(out.data, "\xe2\x90\x80\xe2\x90\xa1\xef\xbf\xbd") != NULL);
    CHECK(strstr(out.data, "\xe2\x80\xae") == NULL);
    CHECK(strstr(out.data, "\xc2\x85") == NULL);
    keel_buf_free(&out);
}

/* A profile of three columns whose counts are all scaled by scale. */
static void scaled_profile(keel_buf *b, double scale)
{
    keel_buf_printf(b,
                    "{\"keel_profile\":1,\"source\":\"s.csv\",\"records\":%.0f,"
                    "\"accepted\":%.0f,\"quarantined\":%.0f,\"columns\":[",
                    1000 * scale, 990 * scale, 10 * scale);
    keel_buf_printf(b,
                    "{\"name\":\"x\",\"type\":\"numeric\",\"count\":%.0f,\"missing\":%.0f,"
                    "\"repaired\":%.0f,\"distinct\":%.0f,\"numeric\":{\"min\":0,\"max\":20,"
                    "\"mean\":9.5,\"std\":3.2,\"zeros\":%.0f,\"quantiles\":{\"p50\":9.5},"
                    "\"histogram\":{\"edges\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,"
                    "18,19,20],\"counts\":[",
                    990 * scale, 9 * scale, 3 * scale, 500 * scale, 7 * scale);
    for (int i = 0; i < 20; i++)
        keel_buf_printf(b, "%s%.0f", i ? "," : "", (double)(10 + i * 3) * scale);
    keel_buf_printf(b,
                    "]}}},{\"name\":\"c\",\"type\":\"categorical\",\"count\":%.0f,"
                    "\"missing\":0,\"distinct\":3,\"top\":[{\"value\":\"a\",\"count\":%.0f},"
                    "{\"value\":\"b\",\"count\":%.0f}],\"other_count\":%.0f},",
                    990 * scale, 600 * scale, 300 * scale, 90 * scale);
    keel_buf_printf(b,
                    "{\"name\":\"t\",\"type\":\"timestamp\",\"count\":%.0f,\"missing\":0,"
                    "\"timestamp\":{\"min\":\"2020-01-01T00:00:00Z\",\"max\":"
                    "\"2020-01-03T00:00:00Z\",\"histogram\":{\"edges\":[\"2020-01-01T00:00:00Z"
                    "\",\"2020-01-02T00:00:00Z\",\"2020-01-03T00:00:00Z\"],\"counts\":[%.0f,"
                    "%.0f]}}}]}",
                    990 * scale, 490 * scale, 500 * scale);
}

TEST(report_size_does_not_grow_with_rows)
{
    keel_buf small, huge, page_small, page_huge;
    keel_buf_init(&small);
    keel_buf_init(&huge);
    keel_buf_init(&page_small);
    keel_buf_init(&page_huge);
    scaled_profile(&small, 1);
    scaled_profile(&huge, 1e9); /* 1e12 records */
    keel_error e;
    CHECK_EQ_INT(render_text(small.data, &page_small, &e), KEEL_OK);
    CHECK_EQ_INT(render_text(huge.data, &page_huge, &e), KEEL_OK);
    REQUIRE(page_small.len > 0 && page_huge.len > 0);
    CHECK(strstr(page_huge.data, "1,000,000,000,000") != NULL);
    /* Only the digits of the counts differ: a few hundred bytes on a page of tens of KB. */
    size_t diff = page_huge.len > page_small.len ? page_huge.len - page_small.len
                                                 : page_small.len - page_huge.len;
    if (diff > page_small.len / 20)
        harness_fail(__FILE__, __LINE__, "page grew from %zu to %zu bytes", page_small.len,
                     page_huge.len);
    keel_buf_free(&small);
    keel_buf_free(&huge);
    keel_buf_free(&page_small);
    keel_buf_free(&page_huge);
}

TEST(report_regroups_fine_histograms)
{
    keel_buf text, out;
    keel_buf_init(&text);
    keel_buf_init(&out);
    keel_buf_puts(&text, "{\"columns\":[{\"name\":\"x\",\"numeric\":{\"histogram\":{\"edges\":[");
    for (int i = 0; i <= 1000; i++)
        keel_buf_printf(&text, "%s%d", i ? "," : "", i);
    keel_buf_puts(&text, "],\"counts\":[");
    for (int i = 0; i < 1000; i++)
        keel_buf_printf(&text, "%s%d", i ? "," : "", i % 7);
    keel_buf_puts(&text, "]}}}]}");
    keel_error e;
    CHECK_EQ_INT(render_text(text.data, &out, &e), KEEL_OK);
    REQUIRE(out.data != NULL);
    CHECK(strstr(out.data, "200 bins (the profile's 1000 bins regrouped)") != NULL);
    /* 200 bars in the card, at most 40 in the overview sparkline. */
    CHECK(count_of(out.data, "<rect class=\"bar\"") <= 240);
    keel_buf_free(&text);
    keel_buf_free(&out);
}

TEST(report_formats_numbers_for_people)
{
    const char *text =
        "{\"records\":1234567,\"accepted\":1234567,\"quarantined\":0,\"columns\":["
        "{\"name\":\"x\",\"count\":100000,\"missing\":1,\"repaired\":99999,\"distinct\":12345,"
        "\"numeric\":{\"min\":-0.000012345,\"max\":1.5e20,\"mean\":121690.5,\"std\":30.5449,"
        "\"quantiles\":{\"p50\":999.96,\"p25\":0.012345}}}]}";
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    CHECK_EQ_INT(render_text(text, &out, &e), KEEL_OK);
    REQUIRE(out.data != NULL);
    CHECK(strstr(out.data, ">1,234,567<") != NULL); /* counts exact with separators */
    CHECK(strstr(out.data, ">121,691<") != NULL);   /* integer digits are kept */
    CHECK(strstr(out.data, ">30.54<") != NULL);     /* four significant digits */
    CHECK(strstr(out.data, ">1,000<") != NULL);     /* 999.96 rounds up cleanly */
    CHECK(strstr(out.data, ">0.01235<") != NULL || strstr(out.data, ">0.01234<") != NULL);
    CHECK(strstr(out.data, ">-1.234e-5<") != NULL || strstr(out.data, ">-1.235e-5<") != NULL);
    CHECK(strstr(out.data, ">1.5e20<") != NULL);
    CHECK(strstr(out.data, "&lt;0.1%") != NULL);  /* 1 in 100,000 is not 0.0% */
    CHECK(strstr(out.data, "&gt;99.9%") != NULL); /* 99,999 in 100,000 is not 100.0% */
    CHECK(strstr(out.data, "\xe2\x89\x88"
                           "12,345") != NULL);
    keel_buf_free(&out);
}

TEST(report_survives_hostile_shapes)
{
    static const char *const cases[] = {
        "{\"columns\":[]}",
        "{\"columns\":[null,1,\"x\",[],{},true]}",
        "{\"keel_profile\":99,\"source\":7,\"records\":\"many\",\"columns\":[{\"name\":null,"
        "\"type\":null,\"numeric\":null,\"top\":null,\"timestamp\":null,\"pii\":true}]}",
        "{\"keel_profile\":null,\"records\":10,\"accepted\":3,\"quarantined\":4,\"columns\":[{"
        "\"name\":\"\",\"pii\":null,\"count\":0,\"numeric\":{\"histogram\":{\"edges\":\"x\","
        "\"counts\":[1,\"a\",-3,null,1e308]}}}]}",
        "{\"columns\":[{\"name\":\"a\",\"numeric\":{\"histogram\":{\"edges\":[3,2,1],"
        "\"counts\":[1,2]},\"quantiles\":{\"p50\":\"mid\"}}},{\"name\":\"b\",\"numeric\":{"
        "\"histogram\":{\"edges\":[5,5,5],\"counts\":[4,0]}}},{\"name\":\"c\",\"numeric\":{"
        "\"histogram\":{\"edges\":[-1e308,0,1e308],\"counts\":[1,1]}}},{\"name\":\"d\","
        "\"numeric\":{\"histogram\":{\"edges\":[0,0,1,10],\"counts\":[5,1,1]},"
        "\"quantiles\":{\"p50\":-5}}},{\"name\":\"e\",\"numeric\":{\"histogram\":{"
        "\"edges\":[0,1],\"counts\":[0]}}}]}",
        "{\"columns\":[{\"name\":\"wide\",\"numeric\":{\"histogram\":{\"edges\":[-1e-08,0,"
        "1e308],\"counts\":[1,1]}}}]}", /* found by fuzzing: width overflowed to inf */
        "{\"columns\":[{\"name\":\"s\",\"count\":1e308,\"top\":[{\"value\":\"a\",\"count\":"
        "1e308},{\"value\":\"b\",\"count\":1e308}],\"other_count\":1e308}]}",
        "{\"columns\":[{\"name\":\"big\",\"numeric\":{\"histogram\":{\"edges\":[0,1e-320,"
        "2e-320],\"counts\":[1e308,1e308]}}},{\"name\":\"tiny\",\"numeric\":{\"histogram\":"
        "{\"edges\":[1e300,1e300,1.0000000001e300],\"counts\":[1e-320,0]}}}]}",
        "{\"columns\":[{\"name\":\"t\",\"timestamp\":{\"min\":5,\"histogram\":{\"edges\":[1,"
        "\"\",\"x\"],\"counts\":[1,2]}}},{\"name\":\"u\",\"timestamp\":{\"histogram\":{"
        "\"edges\":[\"2020-01-01T00:00:00Z\"],\"counts\":[1,2,3]}}}]}",
        "{\"columns\":[{\"name\":\"c\",\"count\":-5,\"missing\":1e300,\"distinct\":-1,\"top\":"
        "[null,{},{\"value\":null,\"count\":null},{\"value\":1.5,\"count\":-2},{\"value\":"
        "true,\"count\":1e300},{\"value\":\"\",\"count\":0}],\"other_count\":\"x\","
        "\"length\":{\"min\":null},\"categories\":[]}]}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_buf out;
        keel_buf_init(&out);
        keel_error e;
        int rc = render_text(cases[i], &out, &e);
        if (rc != KEEL_OK)
            harness_fail(__FILE__, __LINE__, "case %zu: %s", i, e.msg);
        else
            CHECK(strstr(out.data, "</html>") != NULL && !has_bad_number(out.data));
        keel_buf_free(&out);
    }
}

/* Renders root; every JSON node visited by walk() is nulled (and every object key hidden)
 * in turn. The tree is the doc's own writable arena, so the casts are sound. */
static long renders, failures;

static void render_now(const keel_json *root)
{
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    int rc = keel_report_profile_html(root, &out, &e);
    renders++;
    /* Only nulling the root or "columns" may be refused. */
    if (rc != KEEL_OK && rc != KEEL_EFORMAT) failures++;
    keel_buf_free(&out);
}

static void walk(const keel_json *root, keel_json *v)
{
    keel_json_type t = v->type;
    v->type = KEEL_JSON_NULL;
    render_now(root);
    v->type = t;
    if (t == KEEL_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.array.n; i++)
            walk(root, &v->u.array.items[i]);
    } else if (t == KEEL_JSON_OBJECT) {
        for (size_t i = 0; i < v->u.object.n; i++) {
            keel_json_member *m = &v->u.object.members[i];
            /* Same length, different first byte: no lookup can match it. */
            char hidden[256];
            const char *key = m->key;
            if (m->key_len >= sizeof hidden) continue;
            memcpy(hidden, key, m->key_len + 1);
            hidden[0] = '\001';
            m->key = hidden;
            render_now(root);
            m->key = key;
            walk(root, &m->value);
        }
    }
}

TEST(report_survives_any_field_null_or_absent)
{
    keel_json_doc *d = load_example();
    REQUIRE(d != NULL);
    keel_json *root = (keel_json *)keel_json_root(d);
    renders = failures = 0;
    walk(root, root);
    CHECK(renders > 500);
    CHECK_EQ_INT(failures, 0);
    keel_json_doc_free(d);
}

TEST(report_rejects_what_is_not_a_profile)
{
    static const char *const cases[] = {"[1,2]",     "\"profile\"",      "null",
                                        "{\"x\":1}", "{\"columns\":{}}", "{\"columns\":null}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_buf out;
        keel_buf_init(&out);
        keel_buf_puts(&out, "kept");
        keel_error e;
        CHECK_EQ_INT(render_text(cases[i], &out, &e), KEEL_EFORMAT);
        CHECK(e.msg[0] != '\0');
        CHECK_STR(out.data, "kept"); /* the caller's buffer is left as it was */
        keel_buf_free(&out);
    }
    keel_error e;
    CHECK_EQ_INT(keel_report_profile_html(NULL, NULL, &e), KEEL_EINVAL);
    keel_buf out;
    keel_buf_init(&out);
    CHECK_EQ_INT(keel_report_profile_html(NULL, &out, NULL), KEEL_EFORMAT);
    CHECK(out.len == 0);
}

TEST(report_out_of_memory_fails_cleanly)
{
    keel_json_doc *d = load_example();
    REQUIRE(d != NULL);
    long live = test_alloc_live();
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 1; n < 1000 && rc == KEEL_ENOMEM; n++) {
        keel_buf out;
        keel_buf_init(&out);
        keel_buf_puts(&out, "prefix");
        keel_error e;
        test_fail_alloc_after(n);
        rc = keel_report_profile_html(keel_json_root(d), &out, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_ENOMEM) {
            CHECK_STR(out.data, "prefix");
            CHECK_EQ_INT(e.code, KEEL_ENOMEM);
        } else {
            CHECK_EQ_INT(rc, KEEL_OK);
        }
        keel_buf_free(&out);
        CHECK_EQ_INT(test_alloc_live(), live);
    }
    CHECK(n > 2); /* at least one allocation was failed on purpose */
    CHECK_EQ_INT(rc, KEEL_OK);
    keel_json_doc_free(d);
}

/* ---- answers for people (report/text.c) ---- */

static const keel_text_column people_cols[] = {
    {"name", "NAME"}, {"when", "WHEN"}, {"note", "NOTE"}, {NULL, NULL}};

TEST(text_json_renders_arrays_as_tables_and_objects_as_lines)
{
    const char *rows = "[{\"name\":\"churn\",\"when\":\"2026-11-24T10:00:00.123456Z\","
                       "\"note\":null},{\"name\":\"a-much-longer-name\",\"when\":7,"
                       "\"note\":\"0123456789012345678901234567890123456789xyz\"}]";
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    CHECK_EQ_INT(keel_text_json(rows, strlen(rows), people_cols, &b, &e), KEEL_OK);
    CHECK_STR(b.data, "NAME                WHEN                  NOTE\n"
                      "churn               2026-11-24T10:00:00Z  -\n"
                      "a-much-longer-name  7                     "
                      "0123456789012345678901234567890123456...\n");
    keel_buf_reset(&b);
    const char *obj = "{\"user\":\"alice\",\"roles\":[\"admin\"],\"home\":null}";
    CHECK_EQ_INT(keel_text_json(obj, strlen(obj), NULL, &b, &e), KEEL_OK);
    CHECK_STR(b.data, "user: alice\nroles: [\"admin\"]\nhome: -\n");
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_text_json("[]", 2, people_cols, &b, &e), KEEL_OK);
    CHECK_STR(b.data, "NAME  WHEN  NOTE\n(none)\n");
    /* a broken answer is an error and leaves the buffer as it was */
    keel_buf_reset(&b);
    keel_buf_puts(&b, "kept");
    CHECK_EQ_INT(keel_text_json("[{", 2, people_cols, &b, &e), KEEL_EPARSE);
    CHECK_STR(b.data, "kept");
    /* out of memory at any allocation: an error, and the buffer as it was */
    for (long k = 1; k < 40; k++) {
        test_fail_alloc_after(k);
        int rc = keel_text_json(rows, strlen(rows), people_cols, &b, &e);
        test_fail_alloc_after(0);
        CHECK(rc == KEEL_OK || rc == KEEL_ENOMEM);
        if (rc != KEEL_OK) CHECK_STR(b.data, "kept");
        keel_buf_reset(&b);
        keel_buf_puts(&b, "kept");
    }
    keel_buf_free(&b);
}
