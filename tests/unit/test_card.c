/* Tests of the model-card renderers (src/report/card.c): sections, charts, numbers, escaping
 * of hostile strings in HTML and Markdown, missing sections, non-objects, out of memory; and
 * of its builder (src/report/card_build.c) on a model trained in-process, with and without a
 * registry. */
#include "harness.h"

#include "base/json.h"
#include "report/card.h"
#include "report/card_build.h"
#include "tests/unit/fixtures.h"

#include <math.h>
#include <stdlib.h>

/* A small card in the format keel card writes (docs/card.md). */
static const char small_card[] =
    "{\"keel_card\":1,\"generated\":\"2026-11-24T10:00:00Z\",\"keel_version\":\"0.1.0\","
    "\"model\":{\"name\":\"churn\",\"reference\":\"churn@champion\",\"sha256\":"
    "\"b831a287902db91d71c17b0255d09c7ddce40dc8256f4ca2de88b0c74d4d0b02\",\"task\":\"binary\","
    "\"target\":\"churn\",\"classes\":[\"no\",\"yes\"],\"explained_class\":\"yes\","
    "\"calibration\":\"Platt scaling\",\"inputs\":19,\"hyper_parameters\":{\"hidden\":[32,32],"
    "\"lr\":0.001,\"calibrate\":true}},"
    "\"registry\":{\"model\":\"churn\",\"version\":3,\"author\":\"analyst\",\"created\":"
    "\"2026-11-24T09:00:00Z\",\"aliases\":[\"champion\"],\"approvals\":[{\"id\":1,\"status\":"
    "\"approved\",\"reviewer\":\"reviewer\",\"decided\":\"2026-11-24T09:30:00Z\",\"comment\":"
    "\"AUC checked\"}],\"lineage\":{\"datasets\":[{\"id\":\"dataset:1\",\"role\":\"train\","
    "\"name\":\"train.csv\",\"rows\":3000,\"sha256\":\"e86f\"}],\"run\":{\"id\":\"run:1\","
    "\"status\":\"finished\",\"user\":\"analyst\",\"host\":\"vm\"}},\"audit\":[{\"seq\":8,"
    "\"time\":\"2026-11-24T09:00:00Z\",\"actor\":\"analyst\",\"action\":"
    "\"model.version.register\",\"object\":\"model:churn:3\",\"hash\":\"4026e42c\"}]},"
    "\"use\":{\"intended_use\":\"Rank customers by churn risk.\",\"limitations\":null,"
    "\"owner\":null,\"commands\":{\"limitations\":\"keel model tag churn:3 "
    "limitations=\\\"<where not>\\\"\",\"owner\":\"keel model tag churn:3 owner=x\"}},"
    "\"columns\":[{\"name\":\"intl\",\"display_name\":\"International plan\",\"type\":"
    "\"boolean\",\"role\":\"feature\",\"sensitive\":true,\"pii\":\"none\",\"count\":3000,"
    "\"missing\":0,\"summary\":\"most frequent: false (90.1%)\"}],"
    "\"training\":{\"source\":\"train.csv\",\"records\":3000,\"accepted\":3000,\"quarantined\":0,"
    "\"validation_metrics\":{\"roc_auc\":0.91,\"n\":428}},"
    "\"holdout\":{\"file\":\"holdout.csv\",\"records\":1234567,\"quarantined\":3,\"scored\":"
    "1234564},"
    "\"metrics\":{\"resamples\":500,\"seed\":42,\"items\":[{\"name\":\"roc_auc\",\"value\":"
    "0.9156061509909194,\"low\":0.8886549545981793,\"high\":0.9418485246545417},{\"name\":"
    "\"log_loss\",\"value\":0.22,\"low\":0.19,\"high\":0.25}]},"
    "\"slices\":[{\"column\":\"intl\",\"display_name\":\"International plan\",\"binning\":"
    "\"true and false\",\"measures\":[\"accuracy\",\"roc_auc\"],\"groups\":[{\"label\":\"true\","
    "\"n\":12,\"small\":true,\"metrics\":{\"accuracy\":0.63,\"roc_auc\":null}},{\"label\":"
    "\"false\",\"n\":905,\"small\":false,\"metrics\":{\"accuracy\":0.9459,\"roc_auc\":0.93}}]}],"
    "\"calibration\":{\"class\":\"yes\",\"bins\":[{\"lo\":0,\"hi\":0.1,\"n\":695,\"predicted\":"
    "0.034,\"observed\":0.023},{\"lo\":0.9,\"hi\":1,\"n\":31,\"predicted\":0.96,\"observed\":1}]},"
    "\"importance\":{\"metric\":\"roc_auc\",\"base\":0.9156,\"repeats\":5,\"rows\":997,"
    "\"attribution_rows\":500,\"attribution_scale\":\"log-odds\",\"items\":[{\"column\":"
    "\"calls\",\"display_name\":\"Service calls\",\"drop\":0.12,\"low\":0.1,\"high\":0.14,"
    "\"mean_abs_attribution\":0.56},{\"column\":\"state\",\"drop\":-0.004,\"low\":-0.0066,"
    "\"high\":-0.0013,\"mean_abs_attribution\":0.33}]},"
    "\"partial_dependence\":{\"scale\":\"probability\",\"rows\":500,\"curves\":[{\"column\":"
    "\"calls\",\"display_name\":\"Service calls\",\"numeric\":true,\"points\":[{\"x\":0,"
    "\"label\":\"0\",\"y\":0.1},{\"x\":5,\"label\":\"5\",\"y\":0.57}]},{\"column\":\"intl\","
    "\"numeric\":false,\"points\":[{\"label\":\"false\",\"y\":0.12},{\"label\":\"true\","
    "\"y\":0.27}]}]},"
    "\"warnings\":[\"3 of 1234567 held-out records broke the model's schema.\"]}";

/* Parses text and renders it as HTML (md false) or Markdown. */
static int render(const char *text, bool md, keel_buf *out, keel_error *e)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return KEEL_ENOMEM;
    int rc = keel_json_parse(d, text, strlen(text), e);
    if (rc == KEEL_OK)
        rc = md ? keel_card_markdown(keel_json_root(d), out, e)
                : keel_card_html(keel_json_root(d), out, e);
    keel_json_doc_free(d);
    return rc;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

#define HAS(hay, needle)                                                                           \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            harness_fail(__FILE__, __LINE__, "'%s' not in the output", (needle));                  \
    } while (0)
#define HAS_NOT(hay, needle)                                                                       \
    do {                                                                                           \
        if (strstr((hay), (needle)))                                                               \
            harness_fail(__FILE__, __LINE__, "'%s' is in the output", (needle));                   \
    } while (0)

TEST(card_html_has_every_section_and_chart)
{
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    REQUIRE(render(small_card, false, &out, &e) == KEEL_OK);
    const char *h = out.data;
    HAS(h, "<!DOCTYPE html>");
    HAS(h, "Content-Security-Policy\" content=\"default-src 'none';");
    HAS_NOT(h, "<script");
    HAS_NOT(h, "http://");
    HAS_NOT(h, "https://");
    static const char *const ids[] = {"use",        "model",  "training",
                                      "quality",    "groups", "calibration",
                                      "importance", "pd",     "governance"};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(ids); i++) {
        char want[64];
        snprintf(want, sizeof want, "<h2 id=\"%s\">", ids[i]);
        HAS(h, want);
    }
    HAS(h, "<title>Model card: churn version 3</title>");
    HAS(h, "Rank customers by churn risk.");
    /* Limitations are missing: a warning with the exact command. */
    HAS(h, "Limitations has not been set for this model. Set it with <code>keel model tag "
           "churn:3 limitations=&quot;&lt;where not&gt;&quot;</code>");
    /* Three charts: importance, calibration, two partial-dependence plots. */
    CHECK_EQ_INT(count_of(h, "<svg"), 4);
    HAS(h, "aria-label=\"Permutation importance\"");
    HAS(h, "aria-label=\"Calibration\"");
    HAS(h, "class=\"diag\"");
    HAS(h, "class=\"whisk\"");
    HAS(h, "<polyline class=\"line\"");
    /* Numbers for people: separators, four significant digits, the interval. */
    HAS(h, "1,234,567");
    HAS(h, "0.9156 <span class=\"ci\">(0.8887 \xe2\x80\x93 0.9418)</span>");
    /* The small group is flagged and its undefined AUC shows as a dash. */
    HAS(h, "<tr class=\"small\">");
    HAS(h, "small group");
    HAS(h, "International plan<span class=\"badge sens\">");
    HAS(h, "<span class=\"badge sens\">sensitive</span>");
    HAS(h, "<span class=\"badge ok\">approved</span>");
    HAS(h, "4026e42c");
    HAS(h, "model.version.register");
    keel_buf_free(&out);
}

TEST(card_markdown_has_every_section)
{
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    REQUIRE(render(small_card, true, &out, &e) == KEEL_OK);
    const char *m = out.data;
    HAS(m, "# Model card: churn version 3\n");
    HAS(m, "\n## Intended use and limitations\n");
    HAS(m, "\n## Quality on held-out data\n");
    HAS(m, "\n## Quality per group of sensitive columns\n");
    HAS(m, "\n## Calibration\n");
    HAS(m, "\n## What drives the model\n");
    HAS(m, "\n## Partial dependence\n");
    HAS(m, "\n## Approvals and audit trail\n");
    HAS(m, "| Measure | Value | 95% interval | Better |\n|---|---|---|---|\n");
    HAS(m, "| ROC AUC | 0.9156 | 0.8887 \xe2\x80\x93 0.9418 | higher |");
    /* A command with markup characters is escaped text, not a code span. */
    HAS(m, "Set it with keel model tag churn:3 limitations=\"&lt;where not&gt;\" and");
    HAS(m, "Set it with `keel model tag churn:3 owner=x` and");
    HAS_NOT(m, "<svg");
    HAS_NOT(m, "<div");
    keel_buf_free(&out);
}

TEST(card_escapes_hostile_strings)
{
    static const char hostile[] =
        "{\"model\":{\"name\":\"<script>alert(1)</script>\",\"task\":\"a|b\"},"
        "\"use\":{\"intended_use\":\"x <img src=x onerror=alert(1)> \\u202egnp.exe\\n"
        "| pipe *bold* [link](http://evil) `tick`\",\"commands\":{\"owner\":\"a`b <i>\"}},"
        "\"columns\":[{\"name\":\"c\\u0000d\\u0007\",\"display_name\":\"\\\"quoted\\\" 'x' & y\","
        "\"sensitive\":true,\"pii\":\"<b>\"}],"
        "\"importance\":{\"items\":[{\"column\":\"</text><script>\",\"drop\":1,\"low\":0,"
        "\"high\":2}]},"
        "\"partial_dependence\":{\"curves\":[{\"column\":\"]]>\",\"points\":[{\"label\":"
        "\"</title>\",\"y\":1}]}]},"
        "\"slices\":[{\"column\":\"s\",\"measures\":[\"<x>\",\"accuracy\"],\"groups\":[{\"label\":"
        "\"<g>\",\"n\":1,\"metrics\":{\"<x>\":1}}]}]}";
    keel_buf out;
    keel_buf_init(&out);
    keel_error e;
    REQUIRE(render(hostile, false, &out, &e) == KEEL_OK);
    const char *h = out.data;
    HAS_NOT(h, "<script");
    HAS_NOT(h, "<img");
    HAS_NOT(h, "<b>");
    HAS_NOT(h, "<i>");
    HAS_NOT(h, "<g>");
    HAS_NOT(h, "</title>\",");
    HAS_NOT(h, "\xe2\x80\xae"); /* the right-to-left override is replaced */
    HAS(h, "&lt;script&gt;alert(1)&lt;/script&gt;");
    HAS(h, "\xef\xbf\xbdgnp.exe");
    HAS(h, "\xe2\x90\x8a"); /* the line feed as a visible symbol */
    HAS(h, "c\xe2\x90\x80"
           "d\xe2\x90\x87");
    HAS(h, "&quot;quoted&quot; &#39;x&#39; &amp; y");
    CHECK_EQ_INT(count_of(h, "</title>"), 1 + 1 + 1); /* page, bar tooltip, pd point tooltip */
    keel_buf_reset(&out);
    REQUIRE(render(hostile, true, &out, &e) == KEEL_OK);
    const char *m = out.data;
    HAS_NOT(m, "<script");
    HAS_NOT(m, "<img");
    HAS(m, "\\| pipe \\*bold\\* \\[link\\](http://evil) \\`tick\\`");
    HAS(m, "&lt;script&gt;");
    /* A command with a backtick cannot be a code span: it is escaped text instead. */
    HAS(m, "a\\`b &lt;i&gt;");
    /* No table row is broken by a pipe from the data. */
    HAS(m, "| a\\|b |");
    keel_buf_free(&out);
}

TEST(card_missing_sections_say_so)
{
    static const char *const docs[] = {
        "{}",
        "{\"model\":null,\"metrics\":{\"items\":\"x\"},\"slices\":{},\"importance\":[],"
        "\"registry\":7,\"use\":{\"intended_use\":\"\"}}",
        "{\"metrics\":{\"items\":[{\"name\":\"accuracy\"},{\"value\":1e308,\"low\":-1e308,"
        "\"high\":1e308},7,null]},\"calibration\":{\"bins\":[{\"n\":-5,\"predicted\":2,"
        "\"observed\":-1},{\"n\":1e300,\"predicted\":0.5,\"observed\":0.5}]},"
        "\"partial_dependence\":{\"curves\":[{\"numeric\":true,\"points\":[{\"x\":1e308,\"y\":"
        "-1e308},{\"x\":-1e308,\"y\":1e308}]},{\"points\":[]},3]},\"importance\":{\"items\":"
        "[{\"drop\":1e308,\"low\":-1e308,\"high\":1e308},{\"drop\":0}]}}",
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(docs); i++) {
        for (int md = 0; md < 2; md++) {
            keel_buf out;
            keel_buf_init(&out);
            keel_error e;
            REQUIRE(render(docs[i], md, &out, &e) == KEEL_OK);
            HAS(out.data, "Intended use has not been set for this model.");
            if (i == 0) {
                HAS(out.data, "Held-out measures are not available.");
                HAS(out.data, "Per-group measures are not available in this card.");
                HAS(out.data, "Importance is not available in this card.");
                HAS(out.data, "This model was not found in the registry");
                HAS(out.data, "no approval on record");
            }
            /* No number is ever printed as C's nan or inf. */
            HAS_NOT(out.data, ">nan");
            HAS_NOT(out.data, ">inf");
            HAS_NOT(out.data, ">-inf");
            HAS_NOT(out.data, "| nan");
            HAS_NOT(out.data, "| inf");
            HAS_NOT(out.data, "\"nan");
            HAS_NOT(out.data, "\"inf");
            keel_buf_free(&out);
        }
    }
}

TEST(card_rejects_what_is_not_an_object)
{
    keel_buf out;
    keel_buf_init(&out);
    keel_buf_puts(&out, "keep");
    keel_error e;
    CHECK_EQ_INT(render("[]", false, &out, &e), KEEL_EFORMAT);
    CHECK_EQ_INT(render("\"card\"", true, &out, &e), KEEL_EFORMAT);
    CHECK_STR(out.data, "keep");
    CHECK_EQ_INT(keel_card_html(NULL, &out, &e), KEEL_EFORMAT);
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d && keel_json_parse(d, "{}", 2, &e) == KEEL_OK);
    CHECK_EQ_INT(keel_card_markdown(keel_json_root(d), NULL, &e), KEEL_EINVAL);
    keel_json_doc_free(d);
    keel_buf_free(&out);
}

TEST(card_out_of_memory_fails_cleanly)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    REQUIRE(d && keel_json_parse(d, small_card, strlen(small_card), &e) == KEEL_OK);
    for (int md = 0; md < 2; md++) {
        long live = test_alloc_live();
        int rc = KEEL_ENOMEM;
        long n;
        for (n = 1; n < 1000 && rc == KEEL_ENOMEM; n++) {
            keel_buf out;
            keel_buf_init(&out);
            keel_buf_puts(&out, "prefix");
            test_fail_alloc_after(n);
            rc = md ? keel_card_markdown(keel_json_root(d), &out, &e)
                    : keel_card_html(keel_json_root(d), &out, &e);
            test_fail_alloc_after(0);
            if (rc == KEEL_ENOMEM)
                CHECK_STR(out.data, "prefix");
            else
                CHECK_EQ_INT(rc, KEEL_OK);
            keel_buf_free(&out);
            CHECK_EQ_INT(test_alloc_live(), live);
        }
        CHECK(n > 2);
        CHECK_EQ_INT(rc, KEEL_OK);
    }
    keel_json_doc_free(d);
}

/* ---- the builder (src/report/card_build.c), without the CLI -------------------------------- */

/* A small model trained on data/pima2.csv in-process, saved and opened again as keel card
 * would load it (the artifact's profile, lineage and SHA-256 included), with its held-out
 * frame: the same file loaded through the model's schema. NULL on failure. */
static keel_model *pima_card_model(keel_frame **hf, keel_validate_result *vr)
{
    keel_hparams hp;
    keel_hparams_init(&hp);
    hp.n_hidden = 1;
    hp.hidden[0] = 8;
    hp.max_epochs = 4;
    keel_frame *f = NULL;
    keel_schema *s = NULL;
    keel_model *trained = test_train_pima(&hp, &f, &s);
    if (!trained) return NULL;
    keel_model *m = test_save_open(trained, "pima.keel");
    keel_model_free(trained);
    keel_frame_free(f);
    keel_schema_free(s);
    if (!m) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/pima2.csv", test_root());
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.sha256 = true;
    keel_error e;
    if (keel_frame_load(m->schema, path, &o, hf, vr, &e) != KEEL_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        keel_model_free(m);
        return NULL;
    }
    return m;
}

static keel_card_inputs pima_inputs(keel_model *m, const keel_frame *f,
                                    const keel_validate_result *vr)
{
    keel_card_inputs in = {.model = m,
                           .model_ref = "models/pima.keel",
                           .holdout = f,
                           .holdout_result = vr,
                           .holdout_path = "data/pima2.csv",
                           .seed = 7,
                           .generated_us = 1764583200000000, /* 2025-12-01T10:00:00Z */
                           .registry_note = "There is no registry here."};
    return in;
}

static void count_progress(void *ud, const char *what)
{
    ++*(int *)ud;
    (void)what;
}

static const keel_json *member(const keel_json *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        o = keel_json_get(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

TEST(card_build_gathers_the_document_without_the_cli)
{
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    keel_model *m = pima_card_model(&f, &vr);
    REQUIRE(m);
    int steps = 0;
    keel_card_inputs in = pima_inputs(m, f, &vr);
    in.progress = count_progress;
    in.progress_ud = &steps;
    keel_buf b;
    keel_buf_init(&b);
    keel_error e = {0};
    CHECK_EQ_INT(keel_buf_append(&b, "x", 1), KEEL_OK); /* appended after what is there */
    REQUIRE(keel_card_build(&in, &b, &e) == KEEL_OK);
    CHECK(b.data[0] == 'x');
    CHECK(steps >= 3); /* bootstrap, permutation importance, attributions, partial dependence */
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d && keel_json_parse(d, b.data + 1, b.len - 1, &e) == KEEL_OK);
    const keel_json *c = keel_json_root(d);
    CHECK_NEAR(keel_json_num(member(c, "keel_card"), 0), 1, 0);
    CHECK_STR(keel_json_str(member(c, "generated")), "2025-12-01T10:00:00Z");
    CHECK_STR(keel_json_str(member(c, "model.name")), "pima");
    CHECK_STR(keel_json_str(member(c, "model.reference")), "models/pima.keel");
    CHECK_STR(keel_json_str(member(c, "model.sha256")), m->sha256);
    CHECK_STR(keel_json_str(member(c, "model.task")), "binary");
    CHECK_STR(keel_json_str(member(c, "registry_note")), "There is no registry here.");
    CHECK(member(c, "registry") == NULL);
    CHECK(keel_json_str(member(c, "use.note")) != NULL); /* not registered: nowhere to tag */
    CHECK_STR(keel_json_str(member(c, "holdout.file")), "data/pima2.csv");
    CHECK_NEAR(keel_json_num(member(c, "holdout.records"), 0), (double)vr.records, 0);
    CHECK_NEAR(keel_json_num(member(c, "holdout.scored"), 0), (double)f->n_rows, 0);
    CHECK_NEAR(keel_json_num(member(c, "metrics.resamples"), 0), 500, 0);
    CHECK_NEAR(keel_json_num(member(c, "metrics.seed"), 0), 7, 0);
    const keel_json *items = member(c, "metrics.items");
    CHECK(keel_json_len(items) >= 5);
    for (size_t i = 0; i < keel_json_len(items); i++) {
        const keel_json *it = keel_json_at(items, i);
        double v = keel_json_num(keel_json_get(it, "value"), NAN);
        double lo = keel_json_num(keel_json_get(it, "low"), NAN);
        double hi = keel_json_num(keel_json_get(it, "high"), NAN);
        CHECK(isfinite(v));
        if (isfinite(lo) && isfinite(hi)) CHECK(lo <= hi);
    }
    CHECK_EQ_INT(keel_json_len(member(c, "calibration.bins")), 10);
    CHECK_EQ_INT(keel_json_len(member(c, "importance.items")), keel_model_n_inputs(m));
    CHECK(keel_json_len(member(c, "partial_dependence.curves")) >= 1);
    CHECK_EQ_INT(keel_json_len(member(c, "slices")), 0);
    /* No sensitive column: the card says so. */
    bool said = false;
    const keel_json *ws = member(c, "warnings");
    for (size_t i = 0; i < keel_json_len(ws); i++)
        said |= strstr(keel_json_str(keel_json_at(ws, i)), "marked sensitive") != NULL;
    CHECK(said);
    /* The same inputs give the same bytes; the document renders. */
    keel_buf again, html;
    keel_buf_init(&again);
    keel_buf_init(&html);
    CHECK_EQ_INT(keel_card_build(&in, &again, &e), KEEL_OK);
    CHECK(again.len == b.len - 1 && memcmp(again.data, b.data + 1, again.len) == 0);
    CHECK_EQ_INT(keel_card_html(c, &html, &e), KEEL_OK);
    HAS(html.data, "There is no registry here.");
    keel_buf_free(&html);
    keel_buf_free(&again);
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_model_free(m);
}

TEST(card_build_measures_groups_of_sensitive_columns)
{
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    keel_model *m = pima_card_model(&f, &vr);
    REQUIRE(m);
    long age = keel_schema_find(m->schema, "age");
    REQUIRE(age >= 0);
    m->schema->columns[age].sensitive = true;
    keel_card_inputs in = pima_inputs(m, f, &vr);
    keel_buf b;
    keel_buf_init(&b);
    keel_error e = {0};
    REQUIRE(keel_card_build(&in, &b, &e) == KEEL_OK);
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d && keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
    const keel_json *sl = keel_json_at(member(keel_json_root(d), "slices"), 0);
    CHECK_STR(keel_json_str(keel_json_get(sl, "column")), "age");
    const keel_json *groups = keel_json_get(sl, "groups");
    CHECK(keel_json_len(groups) >= 2); /* quartiles of the training data */
    double total = 0;
    for (size_t i = 0; i < keel_json_len(groups); i++)
        total += keel_json_num(keel_json_get(keel_json_at(groups, i), "n"), 0);
    CHECK_NEAR(total, (double)f->n_rows, 0); /* every scored row in one group */
    keel_json_doc_free(d);
    keel_buf_free(&b);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_model_free(m);
}

TEST(card_build_reads_the_registry_through_its_api)
{
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    keel_model *m = pima_card_model(&f, &vr);
    REQUIRE(m);
    char home[1024], art[1024], note[400];
    snprintf(home, sizeof home, "%s/home", test_tmpdir());
    snprintf(art, sizeof art, "%s/pima.keel", test_tmpdir());
    keel_registry *r = NULL;
    keel_error e = {0};
    REQUIRE(keel_registry_open(home, "alice", "test-host", &r, &e) == KEEL_OK);
    char *name = NULL;
    int64_t version = 0;
    /* Nothing registered yet: the note says so. */
    CHECK_EQ_INT(keel_card_find_version(r, home, m->sha256, &name, &version, note, sizeof note),
                 KEEL_OK);
    CHECK(name == NULL);
    CHECK(strstr(note, "has this artifact's SHA-256") != NULL);
    int64_t v = 0;
    REQUIRE(keel_registry_model_register(r, "pima", art, 0, NULL, NULL, &v) == KEEL_OK);
    CHECK_EQ_INT(keel_card_find_version(r, home, m->sha256, &name, &version, note, sizeof note),
                 KEEL_OK);
    CHECK_STR(name, "pima");
    CHECK_EQ_INT(version, v);
    keel_card_inputs in = pima_inputs(m, f, &vr);
    in.registry = r;
    in.registry_model = name;
    in.registry_version = version;
    in.registry_note = NULL;
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_card_build(&in, &b, &e) == KEEL_OK);
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d && keel_json_parse(d, b.data, b.len, &e) == KEEL_OK);
    const keel_json *c = keel_json_root(d);
    CHECK_STR(keel_json_str(member(c, "registry.model")), "pima");
    CHECK_NEAR(keel_json_num(member(c, "registry.version"), 0), (double)v, 0);
    CHECK_STR(keel_json_str(member(c, "registry.author")), "alice");
    CHECK_EQ_INT(keel_json_len(member(c, "registry.approvals")), 0);
    CHECK(keel_json_len(member(c, "registry.audit")) >= 1); /* alice administers: she may read */
    CHECK(strstr(keel_json_str(member(c, "use.commands.intended_use")), "keel model tag pima:") !=
          NULL);
    keel_json_doc_free(d);
    keel_registry_close(r);
    /* An actor the registry does not know reads nothing, and the note says who can fix it. */
    REQUIRE(keel_registry_open(home, "mallory", "test-host", &r, &e) == KEEL_OK);
    keel_free(name);
    name = NULL;
    CHECK_EQ_INT(keel_card_find_version(r, home, m->sha256, &name, &version, note, sizeof note),
                 KEEL_OK);
    CHECK(name == NULL);
    CHECK(strstr(note, "'mallory' is not an identity") != NULL);
    keel_registry_close(r);
    keel_buf_free(&b);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_model_free(m);
}

TEST(card_build_refuses_what_it_cannot_build_from)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_error e = {0};
    keel_card_inputs in = {0};
    CHECK_EQ_INT(keel_card_build(NULL, &b, &e), KEEL_EINVAL);
    CHECK_EQ_INT(keel_card_build(&in, &b, &e), KEEL_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    char note[64];
    char *name = NULL;
    int64_t v;
    CHECK_EQ_INT(keel_card_find_version(NULL, "h", "s", &name, &v, note, sizeof note), KEEL_EINVAL);
    keel_buf_free(&b);
}
