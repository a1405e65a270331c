/*
 * card.c — the model card (docs/card.md) rendered from its JSON document as HTML or Markdown.
 *
 * One walk over the document writes either form: a small writer carries the mode, and the
 * section functions speak in headings, paragraphs, notices and tables, which the writer spells
 * as HTML or as Markdown. Charts (inline SVG) exist only in the HTML; the Markdown gives the
 * same numbers as tables. The order of the sections is the order a reviewer asks questions
 * in: what is it for and what must it not be used for; what was it trained on; how good is it
 * on data it never saw, and how sure are we; is it equally good for every group; are its
 * probabilities honest; what drives it; who approved it and where is that on the record.
 *
 * The document is untrusted (it is a file; people edit files). Every member is read through
 * helpers that accept NULL and wrong types, a section whose data is missing says "not
 * available", and every list is capped (MAX_* in card_impl.h), so the output is bounded by the
 * input and no input can crash the renderer (fuzz/card.c). Strings are escaped by the toolkit the
 * data-profile report (src/report/profile_html.c) uses too: the five HTML metacharacters, C0
 * controls shown as their Control Pictures symbol, C1 controls, bidirectional formatting
 * characters and invalid UTF-8 as U+FFFD, and a display-width cut with an ellipsis. Markdown
 * additionally escapes its own syntax characters, including the table pipe.
 *
 * The renderer is three files: this one writes the page around the sections (head, style,
 * title, the summary at a glance) and holds what the sections share; card_sections.c writes
 * the sections of tables and prose, card_charts.c those with charts. All of them write
 * through the report toolkit (doc.c), which the data-profile report uses too.
 *
 * Writing goes through a sticky-error writer: after the first failed append every later
 * write is a no-op, and one check at the end restores the caller's buffer. Scratch space is
 * on the stack; the only allocation is the output buffer's.
 *
 * Numbers are written for people: four significant digits (integer digits never rounded
 * away), thousands separators, counts exact, shares as percentages with one decimal.
 */
#include "report/card.h"
#include "report/card_impl.h"

#include <math.h>
#include <string.h>

/* A column's name for people: display_name, else name. */
const keel_json *card_display(const keel_json *o)
{
    const keel_json *d = doc_jstr_nonempty(o, "display_name");
    return d                                ? d
           : doc_jstr_nonempty(o, "column") ? doc_jstr_nonempty(o, "column")
                                            : doc_jstr_nonempty(o, "name");
}

/* ---- measure names ------------------------------------------------------------------- */

static const struct card_measure measures[] = {
    {"accuracy", "Accuracy", false},
    {"roc_auc", "ROC AUC", false},
    {"average_precision", "Average precision", false},
    {"log_loss", "Log loss", true},
    {"f1", "F1", false},
    {"brier", "Brier score", true},
    {"ece", "Expected calibration error", true},
    {"rmse", "RMSE", true},
    {"mae", "MAE", true},
    {"r2", "R\xc2\xb2", false},
    {"observed_rate", "Observed rate", false},
    {"mean_predicted", "Mean predicted", false},
    {"mean_actual", "Mean actual", false},
};

const struct card_measure *card_measure_of(const keel_json *name)
{
    for (size_t i = 0; i < KEEL_ARRAY_LEN(measures); i++)
        if (doc_jstr_is(name, measures[i].key)) return &measures[i];
    return NULL;
}

void card_measure_label(doc_writer *w, const keel_json *name)
{
    const struct card_measure *m = card_measure_of(name);
    if (m)
        doc_put(w, m->label);
    else
        doc_jtext_nonempty(w, name, W_NAME, "?");
}

/* ---- the page's head and its summary ---------------------------------------------------- */

static const char CSS[] =
    ":root{--ink:#1d2733;--muted:#5b6876;--line:#d6dce3;--bg:#f6f7f9;--accent:#2f5f8f;"
    "--bar:#3f73a8;--warn:#8a4b00;--warnbg:#fff5e6;--warnline:#f0b45a;--bad:#9b1c1c;"
    "--badbg:#fdecec;--ok:#1f6b3a;--okbg:#e9f6ee}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\n"
    ".top{background:#fff;border-bottom:1px solid var(--line);padding:22px 0 16px}\n"
    ".wrap{max-width:1100px;margin:0 auto;padding:0 24px}\n"
    ".kicker{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted)}\n"
    "h1{margin:4px 0 2px;font-size:26px;overflow-wrap:anywhere}\n"
    ".sub{color:var(--muted)}\n"
    "h2{font-size:19px;margin:30px 0 8px;padding-bottom:4px;border-bottom:2px solid "
    "var(--line)}\n"
    "h3{font-size:15.5px;margin:18px 0 6px}\n"
    "section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:4px 20px "
    "14px;margin:16px 0;break-inside:avoid-page}\n"
    "nav{font-size:13px;margin:12px 0 0}nav a{color:var(--accent);margin-right:14px;"
    "text-decoration:none;white-space:nowrap}\n"
    "table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}\n"
    "th{text-align:left;font-weight:600;color:var(--muted);border-bottom:1px solid var(--line);"
    "padding:4px 14px 4px 0;white-space:nowrap}\n"
    "td{padding:3px 14px 3px 0;border-bottom:1px solid #edf0f3;vertical-align:top;"
    "overflow-wrap:anywhere;font-variant-numeric:tabular-nums}\n"
    "table.facts td.k{color:var(--muted);white-space:nowrap}\n"
    "td.n{text-align:right}td.nw{white-space:nowrap}tr.small td{color:var(--warn)}\n"
    ".mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;"
    "overflow-wrap:anywhere}\n"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;"
    "background:#f0f2f5;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}\n"
    ".ci{color:var(--muted)}\n"
    ".callout{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:4px;"
    "padding:8px 12px;margin:10px 0;background:#f4f7fb}\n"
    ".callout.warn{border-color:var(--warnline);border-left-color:var(--warn);"
    "background:var(--warnbg)}\n"
    ".callout.bad{border-color:#e8a0a0;border-left-color:var(--bad);background:var(--badbg)}\n"
    ".prose{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0 10px}\n"
    ".badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:9px;border:1px solid "
    "var(--line);color:var(--muted);margin-left:4px;white-space:nowrap}\n"
    ".badge.sens{border-color:var(--warnline);color:var(--warn);background:var(--warnbg)}\n"
    ".badge.ok{border-color:#8cc7a1;color:var(--ok);background:var(--okbg)}\n"
    ".badge.bad{border-color:#e8a0a0;color:var(--bad);background:var(--badbg)}\n"
    ".glance{display:flex;flex-wrap:wrap;gap:8px 36px;margin:12px 0 4px}\n"
    ".glance .k{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted)}.glance .v{font-size:17px;font-weight:600}\n"
    "figure{margin:8px 0 12px;max-width:760px}figcaption{font-size:12px;color:var(--muted)}\n"
    ".multiples{display:flex;flex-wrap:wrap;gap:10px 24px}.multiples figure{width:330px;"
    "margin:0}\n"
    "svg{display:block;overflow:visible;width:100%;height:auto;font-family:inherit}\n"
    "svg text{fill:var(--ink);font-size:11.5px}svg .tick{fill:var(--muted);font-size:10.5px}\n"
    "svg .axis{stroke:#8a96a3;stroke-width:1}svg .grid{stroke:#e6eaef;stroke-width:1}\n"
    "svg .bar{fill:var(--bar)}svg .neg{fill:#b0b8c1}svg .whisk{stroke:var(--ink);"
    "stroke-width:1.3}\n"
    "svg .diag{stroke:#9aa5b1;stroke-dasharray:4 3}svg .pt{fill:var(--bar);fill-opacity:.75;"
    "stroke:#fff}\n"
    "svg .line{fill:none;stroke:var(--bar);stroke-width:2}svg .dot{fill:var(--bar)}\n"
    "svg .title{font-size:12.5px;font-weight:600}svg .axis-title{fill:var(--muted);"
    "font-size:10.5px}\n"
    "footer{margin:30px 0 40px;color:var(--muted);font-size:12.5px;border-top:1px solid "
    "var(--line);padding-top:12px}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:8px 0}"
    "dt{font-weight:600;color:var(--ink)}dd{margin:0}\n"
    "@media print{body{background:#fff;font-size:11px}.top{padding:8px 0}nav{display:none}"
    "section{border-color:#bbb;padding:2px 10px 8px}.wrap{max-width:none;padding:0 6px}"
    "table{font-size:10.5px}tr{break-inside:avoid}h2,h3{break-after:avoid}"
    "figure,.multiples figure{break-inside:avoid}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

/* The model's name for titles: registry name and version, else the model name, else "". */
static void model_title(doc_writer *w, const keel_json *card)
{
    const keel_json *model = doc_jobj(card, "model"), *reg = doc_jobj(card, "registry");
    const keel_json *name = doc_jstr_nonempty(reg, "model");
    double version;
    if (name && doc_jnum_member(reg, "version", &version)) {
        doc_jtext_nonempty(w, name, W_NAME, "");
        doc_putf(w, " version %.0f", fmin(fmax(version, -1e15), 1e15));
    } else {
        doc_jtext_nonempty(w, doc_jstr_nonempty(model, "name"), W_NAME, "unnamed model");
    }
}

static void page_top(doc_writer *w, const keel_json *card)
{
    const keel_json *model = doc_jobj(card, "model");
    if (w->md) {
        doc_put(w, "# Model card: ");
        model_title(w, card);
        doc_put(w, "\n\n");
    } else {
        doc_put(w, "<div class=\"top\"><div class=\"wrap\"><div class=\"kicker\">keel \xc2\xb7 "
                   "model card</div><h1>");
        model_title(w, card);
        doc_put(w, "</h1><div class=\"sub\">");
    }
    doc_put(w, "Generated ");
    doc_jtext_nonempty(w, doc_jstr_nonempty(card, "generated"), W_NAME, "at an unrecorded time");
    doc_put(w, " by keel ");
    doc_jtext_nonempty(w, doc_jstr_nonempty(card, "keel_version"), 20, "(version not recorded)");
    if (doc_jstr_nonempty(model, "sha256")) {
        doc_put(w, w->md ? " \xc2\xb7 artifact SHA-256 "
                         : " \xc2\xb7 artifact SHA-256 <span class=\"mono\">");
        doc_jtext_nonempty(w, doc_jstr_nonempty(model, "sha256"), 64, "");
        doc_html(w, "</span>");
    }
    if (w->md) {
        doc_put(w, "\n\n");
    } else {
        doc_put(w, "</div><nav><a href=\"#use\">Intended use</a><a href=\"#model\">Model</a>"
                   "<a href=\"#training\">Training data</a><a href=\"#quality\">Quality</a>"
                   "<a href=\"#groups\">Groups</a><a href=\"#calibration\">Calibration</a>"
                   "<a href=\"#importance\">Importance</a><a href=\"#pd\">Partial dependence</a>"
                   "<a href=\"#governance\">Approvals &amp; audit</a></nav></div></div>\n"
                   "<main class=\"wrap\">\n");
    }
}

/* The approval state of the version: "approved", "rejected", "pending" or NULL (none). */
static const char *approval_state(const keel_json *card)
{
    const keel_json *apps = doc_jarr(doc_jobj(card, "registry"), "approvals");
    const char *state = NULL;
    for (size_t i = 0; i < keel_json_len(apps) && i < MAX_ROWS; i++) {
        const keel_json *s = doc_jstr_nonempty(doc_item(apps, i), "status");
        if (doc_jstr_is(s, "approved"))
            state = "approved";
        else if (doc_jstr_is(s, "rejected"))
            state = "rejected";
        else if (doc_jstr_is(s, "pending") && !state)
            state = "pending";
    }
    return state;
}

/* The first listed measure with its interval. */
static void glance(doc_writer *w, const keel_json *card)
{
    const keel_json *model = doc_jobj(card, "model"), *holdout = doc_jobj(card, "holdout");
    const keel_json *items = doc_jarr(doc_jobj(card, "metrics"), "items");
    if (w->md) {
        doc_put(w, "| Task | Target | Held-out rows | Headline measure | Approval |\n"
                   "|---|---|---|---|---|\n| ");
    } else {
        doc_put(w, "<div class=\"glance\"><div><span class=\"k\">Task</span><span class=\"v\">");
    }
    doc_jtext_nonempty(w, doc_jstr_nonempty(model, "task"), W_NAME, "not recorded");
    doc_put(w,
            w->md ? " | " : "</span></div><div><span class=\"k\">Target</span><span class=\"v\">");
    doc_jtext_nonempty(w,
                       doc_jstr_nonempty(model, "target_display")
                           ? doc_jstr_nonempty(model, "target_display")
                           : doc_jstr_nonempty(model, "target"),
                       W_NAME, "not recorded");
    doc_put(w, w->md ? " | "
                     : "</span></div><div><span class=\"k\">Held-out rows scored</span><span "
                       "class=\"v\">");
    doc_put_jcount(w, keel_json_get(holdout, "scored"));
    doc_put(w, w->md ? " | " : "</span></div><div><span class=\"k\">");
    const keel_json *first = doc_item(items, 0);
    if (!w->md) {
        if (first)
            card_measure_label(w, doc_jstr_nonempty(first, "name"));
        else
            doc_put(w, "Headline measure");
        doc_put(w, " (95% CI)</span><span class=\"v\">");
    } else if (first) {
        card_measure_label(w, doc_jstr_nonempty(first, "name"));
        doc_put(w, " ");
    }
    if (first)
        doc_put_ci(w, doc_jnumd(first, "value"), doc_jnumd(first, "low"), doc_jnumd(first, "high"));
    else
        doc_put(w, "not available");
    doc_put(w, w->md ? " | "
                     : "</span></div><div><span class=\"k\">Approval</span><span class=\"v\">");
    const char *state = approval_state(card);
    if (!w->md)
        doc_putf(w, "<span class=\"badge %s\">%s</span>",
                 state && !strcmp(state, "approved") ? "ok" : "bad",
                 state ? state : "no approval on record");
    else
        doc_put(w, state ? state : "no approval on record");
    doc_put(w, w->md ? " |\n\n" : "</span></div></div>\n");
}

/* ---- sections --------------------------------------------------------------------------- */

void card_section_begin(doc_writer *w, const char *id, const char *title)
{
    if (!w->md) doc_put(w, "<section>");
    doc_heading(w, 2, id, title);
}

void card_section_end(doc_writer *w)
{
    doc_html(w, "</section>\n");
}
/* ---- entry points ----------------------------------------------------------------------- */

static int render(const keel_json *card, keel_buf *out, bool md, keel_error *e)
{
    if (!out) return keel_error_set(e, KEEL_EINVAL, "model card: no output buffer");
    if (!card || card->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "model card: the top level is not a JSON object");
    keel_buf_mark start = keel_buf_begin(out);
    doc_writer w = {out, KEEL_OK, md, false, 0, DOC_SCI_E};
    if (!md) {
        doc_put(&w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                    "style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
                    "base-uri 'none'\">"
                    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                    "<meta name=\"generator\" content=\"keel " KEEL_VERSION_STRING "\">"
                    "<title>Model card: ");
        model_title(&w, card);
        doc_put(&w, "</title><style>");
        doc_put(&w, CSS);
        doc_put(&w, "</style></head><body>\n");
    }
    page_top(&w, card);
    double version;
    if (doc_jnum_member(card, "keel_card", &version) && version != 1)
        doc_notice(&w, "info",
                   "This card's document is in a format newer than this renderer knows; members "
                   "it does not know are not shown.");
    glance(&w, card);
    card_sec_warnings(&w, card);
    card_sec_use(&w, card);
    card_sec_model(&w, card);
    card_sec_training(&w, card);
    card_sec_quality(&w, card);
    card_sec_groups(&w, card);
    card_sec_calibration(&w, card);
    card_sec_importance(&w, card);
    card_sec_pd(&w, card);
    card_sec_governance(&w, card);
    card_sec_reading(&w);
    if (!md) doc_put(&w, "</main></body></html>\n");
    if (keel_buf_end_rc(out, start, w.err))
        return keel_error_set(e, w.err ? w.err : KEEL_ENOMEM, "model card: out of memory");
    return KEEL_OK;
}

int keel_card_html(const keel_json *card, keel_buf *out, keel_error *e)
{
    return render(card, out, false, e);
}

int keel_card_markdown(const keel_json *card, keel_buf *out, keel_error *e)
{
    return render(card, out, true, e);
}
