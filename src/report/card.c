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
 * available", and every list is capped (MAX_* below), so the output is bounded by the input
 * and no input can crash the renderer (fuzz/card.c). Strings are escaped with the rules of
 * the data-profile report (src/report/profile_html.c): the five HTML metacharacters, C0
 * controls shown as their Control Pictures symbol, C1 controls, bidirectional formatting
 * characters and invalid UTF-8 as U+FFFD, and a display-width cut with an ellipsis. Markdown
 * additionally escapes its own syntax characters, including the table pipe.
 *
 * Writing goes through a sticky-error writer: after the first failed append every later
 * write is a no-op, and one check at the end restores the caller's buffer. Scratch space is
 * on the stack; the only allocation is the output buffer's.
 *
 * Numbers are written for people: four significant digits (integer digits never rounded
 * away), thousands separators, counts exact, shares as percentages with one decimal.
 */
#include "report/card.h"
#include "report/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_ROWS = 500,  /* rows of any one table */
    MAX_BARS = 30,   /* bars of the importance chart */
    MAX_CURVES = 8,  /* partial-dependence plots */
    MAX_POINTS = 64, /* points of one partial-dependence curve */
    MAX_BINS = 50,   /* calibration bins drawn */
    MAX_SLICES = 50, /* sensitive columns */
    MAX_HP = 60,     /* hyper-parameters listed */
    W_NAME = 60,     /* display width kept of a column name or label */
    W_LABEL = 24,    /* ... of a label written beside a bar or under an axis */
    W_VALUE = 160,   /* ... of a value in a table cell */
    W_PROSE = 4000,  /* ... of intended use, limitations and comments */
    FMT = 48         /* buffer size for one formatted number */
};

/* ---- sticky-error writer ------------------------------------------------------------- */

typedef struct wr {
    keel_buf *b;
    int err;   /* KEEL_OK until the first failed append */
    bool md;   /* Markdown instead of HTML */
    bool code; /* inside a Markdown code span: only invisible characters are replaced */
    int cell;  /* Markdown: cells written in the current table row */
} wr;

static void putn(wr *w, const char *s, size_t n)
{
    if (!w->err && keel_buf_append(w->b, s, n) != KEEL_OK) w->err = KEEL_ENOMEM;
}

static void put(wr *w, const char *s)
{
    putn(w, s, strlen(s));
}

static void putf(wr *w, const char *fmt, ...) KEEL_PRINTF(2, 3);
static void putf(wr *w, const char *fmt, ...)
{
    if (w->err) return;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || keel_buf_reserve(w->b, (size_t)n) != KEEL_OK) {
        w->err = KEEL_ENOMEM;
    } else {
        vsnprintf(w->b->data + w->b->len, (size_t)n + 1, fmt, ap2);
        w->b->len += (size_t)n;
    }
    va_end(ap2);
}

/* Literal markup: written in HTML mode only. */
static void html(wr *w, const char *s)
{
    if (!w->md) put(w, s);
}

/* ---- escaping -------------------------------------------------------------------------- */

/* The replacement of code point cp in the current mode, or NULL to copy it. pic has room
 * for a 3-byte Control Pictures symbol. first: cp starts the string, where Markdown would
 * read '-', '+', '=' and '#' as a list, a heading or an underline. */
static const char *escape_cp(const wr *w, uint32_t cp, bool ok, bool first, char pic[4])
{
    if (!ok || report_cp_hidden(cp)) return "\xef\xbf\xbd";
    if (cp < 0x20 || cp == 0x7f) {
        uint32_t q = cp == 0x7f ? 0x2421 : 0x2400 + cp;
        pic[0] = (char)(0xe0 | (q >> 12));
        pic[1] = (char)(0x80 | ((q >> 6) & 0x3f));
        pic[2] = (char)(0x80 | (q & 0x3f));
        pic[3] = '\0';
        return pic;
    }
    if (w->code) return NULL; /* a code span shows everything else literally */
    switch (cp) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return w->md ? NULL : "&quot;";
    case '\'':
        return w->md ? NULL : "&#39;";
    }
    if (!w->md) return NULL;
    switch (cp) { /* Markdown syntax: table pipes, emphasis, code, links, headings, lists */
    case '|':
        return "\\|";
    case '\\':
        return "\\\\";
    case '*':
        return "\\*";
    case '_':
        return "\\_";
    case '`':
        return "\\`";
    case '[':
        return "\\[";
    case ']':
        return "\\]";
    case '~':
        return "\\~";
    }
    if (first && (cp == '#' || cp == '+' || cp == '-' || cp == '=')) {
        static const char *const at_start[] = {"\\#", "\\+", "\\-", "\\="};
        return at_start[cp == '#' ? 0 : cp == '+' ? 1 : cp == '-' ? 2 : 3];
    }
    return NULL;
}

/* Writes s[0..n) escaped, cut at max_w display columns (0: no cut). */
static void text(wr *w, const char *s, size_t n, size_t max_w)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, width = 0, run = 0; /* run: start of bytes not yet written verbatim */
    while (i < n) {
        size_t len = report_utf8_seq_len(p[i]);
        bool ok = len && i + len <= n && keel_utf8_valid(s + i, len);
        uint32_t cp = ok ? report_utf8_decode(p + i, len) : 0xfffd;
        int cw = report_cp_width(cp);
        if (max_w && width + (size_t)cw > max_w) {
            putn(w, s + run, i - run);
            put(w, "\xe2\x80\xa6"); /* … */
            return;
        }
        width += (size_t)cw;
        char pic[4];
        const char *rep = escape_cp(w, cp, ok, i == 0, pic);
        size_t adv = ok ? len : 1;
        if (rep) {
            putn(w, s + run, i - run);
            put(w, rep);
            run = i + adv;
        }
        i += adv;
    }
    putn(w, s + run, n - run);
}

static void textz(wr *w, const char *s, size_t max_w)
{
    text(w, s, strlen(s), max_w);
}

/* ---- JSON access (every helper accepts NULL and wrong types) ------------------------- */

static const keel_json *jget(const keel_json *obj, const char *key, keel_json_type type)
{
    const keel_json *v = obj && obj->type == KEEL_JSON_OBJECT ? keel_json_get(obj, key) : NULL;
    return v && v->type == type ? v : NULL;
}

static const keel_json *jobj(const keel_json *obj, const char *key)
{
    return jget(obj, key, KEEL_JSON_OBJECT);
}

static const keel_json *jarr(const keel_json *obj, const char *key)
{
    return jget(obj, key, KEEL_JSON_ARRAY);
}

static const keel_json *jstr(const keel_json *obj, const char *key)
{
    const keel_json *s = jget(obj, key, KEEL_JSON_STRING);
    return s && s->u.string.len ? s : NULL;
}

static bool jnum(const keel_json *obj, const char *key, double *out)
{
    const keel_json *v = jget(obj, key, KEEL_JSON_NUMBER);
    if (!v || !isfinite(v->u.number.value)) return false;
    *out = v->u.number.value;
    return true;
}

static double jnumd(const keel_json *obj, const char *key)
{
    double v;
    return jnum(obj, key, &v) ? v : NAN;
}

static bool jtrue(const keel_json *obj, const char *key)
{
    const keel_json *v = jget(obj, key, KEEL_JSON_BOOL);
    return v && v->u.boolean;
}

/* Array item i, when it is an object (else NULL). */
static const keel_json *item(const keel_json *arr, size_t i)
{
    const keel_json *v = keel_json_at(arr, i);
    return v && v->type == KEEL_JSON_OBJECT ? v : NULL;
}

static bool jstr_is(const keel_json *s, const char *lit)
{
    size_t n = strlen(lit);
    return s && s->type == KEEL_JSON_STRING && s->u.string.len == n &&
           memcmp(s->u.string.s, lit, n) == 0;
}

/* A string value escaped, or the fallback (escaped too) when absent. */
static void jtext(wr *w, const keel_json *s, size_t max_w, const char *fallback)
{
    if (s && s->type == KEEL_JSON_STRING && s->u.string.len)
        text(w, s->u.string.s, s->u.string.len, max_w);
    else
        textz(w, fallback, 0);
}

/* A column's name for people: display_name, else name. */
static const keel_json *display(const keel_json *o)
{
    const keel_json *d = jstr(o, "display_name");
    return d ? d : jstr(o, "column") ? jstr(o, "column") : jstr(o, "name");
}

/* ---- numbers for people --------------------------------------------------------------- */

/* Four significant digits, integer digits never rounded away; "—" when not finite. */
static void fmt_stat(double v, char out[FMT])
{
    double a = fabs(v);
    if (!isfinite(v)) {
        snprintf(out, FMT, "\xe2\x80\x94");
    } else if (a == 0) {
        snprintf(out, FMT, "0");
    } else if (a >= 1e15 || a < 1e-4) {
        snprintf(out, FMT, "%.3e", v);
        char *ex = strchr(out, 'e');
        if (ex) { /* 1.235e+15 -> 1.235e15 */
            char mant[16], *d = ex + 1;
            *ex = '\0';
            snprintf(mant, sizeof mant, "%.15s", out);
            report_trim_zeros(mant);
            bool neg = *d == '-';
            if (*d == '+' || *d == '-') d++;
            while (*d == '0' && d[1])
                d++;
            char exp[8];
            snprintf(exp, sizeof exp, "%.5s", d);
            snprintf(out, FMT, "%se%s%s", mant, neg ? "-" : "", exp);
        }
    } else if (a >= 999.5) {
        report_fmt_int(round(v), out);
    } else {
        int decimals = 3 - (int)floor(log10(a));
        if (decimals < 0) decimals = 0;
        snprintf(out, FMT, "%.*f", decimals, v);
        if (fabs(strtod(out, NULL)) >= 1000) {
            report_fmt_int(round(v), out);
            return;
        }
        report_trim_zeros(out);
        if (!strcmp(out, "-0")) snprintf(out, FMT, "0");
    }
}

static void fmt_count(double v, char out[FMT])
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e18)
        report_fmt_int(v, out);
    else
        fmt_stat(v, out);
}

static void fmt_pct(double share, char out[FMT])
{
    if (!isfinite(share)) {
        snprintf(out, FMT, "\xe2\x80\x94");
        return;
    }
    double p = 100 * share;
    if (p > 0 && p < 0.05)
        snprintf(out, FMT, "<0.1%%");
    else if (p < 100 && p >= 99.95)
        snprintf(out, FMT, ">99.9%%");
    else if (fabs(p) < 1e6)
        snprintf(out, FMT, "%.1f%%", p);
    else
        snprintf(out, FMT, "\xe2\x80\x94");
}

/* Numbers are written through the escaper too ("<0.1%" has a '<'; "-1.5" a Markdown '-'
 * that is harmless in a cell but escaped anyway for uniformity). */
static void put_stat(wr *w, double v)
{
    char s[FMT];
    fmt_stat(v, s);
    textz(w, s, 0);
}

static void put_count(wr *w, double v)
{
    char s[FMT];
    fmt_count(v, s);
    textz(w, s, 0);
}

static void put_pct(wr *w, double share)
{
    char s[FMT];
    fmt_pct(share, s);
    textz(w, s, 0);
}

static void put_jcount(wr *w, const keel_json *o, const char *key)
{
    put_count(w, jnumd(o, key));
}

/* "12.3 (11.1 – 13.4)": an estimate with its interval when both ends are known. */
static void put_ci(wr *w, double v, double lo, double hi)
{
    put_stat(w, v);
    if (isfinite(lo) && isfinite(hi)) {
        char a[FMT], b[FMT];
        fmt_stat(lo, a);
        fmt_stat(hi, b);
        put(w, w->md ? " (" : " <span class=\"ci\">(");
        textz(w, a, 0);
        put(w, " \xe2\x80\x93 ");
        textz(w, b, 0);
        put(w, w->md ? ")" : ")</span>");
    }
}

static double nice_step(double span, int target)
{
    if (!(span > 0) || !isfinite(span)) return 0;
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    return isfinite(step) && step > 0 ? step : 0;
}

/* ---- structure: headings, paragraphs, notices, tables --------------------------------- */

static void heading(wr *w, int level, const char *id, const char *title)
{
    if (w->md) {
        putf(w, "\n%.*s %s\n\n", level, "######", title);
    } else {
        putf(w, "<h%d id=\"%s\">%s</h%d>\n", level, id, title, level);
    }
}

static void para_begin(wr *w, const char *cls)
{
    if (w->md) return;
    if (cls)
        putf(w, "<p class=\"%s\">", cls);
    else
        put(w, "<p>");
}

static void para_end(wr *w)
{
    put(w, w->md ? "\n\n" : "</p>\n");
}

/* A notice: kind "warn" (something a reviewer must act on) or "info". */
static void notice_begin(wr *w, const char *kind)
{
    if (w->md)
        putf(w, "> **%s** ", !strcmp(kind, "warn") ? "Attention:" : "Note:");
    else
        putf(w, "<div class=\"callout %s\">", kind);
}

static void notice_end(wr *w)
{
    put(w, w->md ? "\n\n" : "</div>\n");
}

static void notice(wr *w, const char *kind, const char *msg)
{
    notice_begin(w, kind);
    put(w, msg);
    notice_end(w);
}

/* Code (a command) inside prose. */
static void code(wr *w, const keel_json *s)
{
    if (!s) return;
    if (w->md) {
        /* A backtick would end the span, and markup characters inside one would reach an
         * HTML renderer that does not treat spans as literal: such a command is shown as
         * escaped text instead. */
        bool plain = true;
        for (size_t i = 0; i < s->u.string.len && plain; i++)
            plain = !strchr("`<>&\n\r", s->u.string.s[i]) || !s->u.string.s[i];
        if (!plain) {
            text(w, s->u.string.s, s->u.string.len, W_PROSE);
            return;
        }
        put(w, "`");
        /* In a code span nothing is markup, not even HTML: only invisible characters are
         * replaced (commands are never in tables, so a pipe cannot end a cell). */
        w->code = true;
        text(w, s->u.string.s, s->u.string.len, W_PROSE);
        w->code = false;
        put(w, "`");
    } else {
        put(w, "<code>");
        text(w, s->u.string.s, s->u.string.len, W_PROSE);
        put(w, "</code>");
    }
}

/* Tables: headers are literal (trusted) text; cells are written between cell() calls. */
static void table_begin(wr *w, const char *cls, const char *const *headers, size_t n)
{
    if (w->md) {
        put(w, "|");
        for (size_t i = 0; i < n; i++)
            putf(w, " %s |", headers[i]);
        put(w, "\n|");
        for (size_t i = 0; i < n; i++)
            put(w, "---|");
        put(w, "\n");
    } else {
        putf(w, "<table class=\"%s\"><thead><tr>", cls ? cls : "t");
        for (size_t i = 0; i < n; i++)
            putf(w, "<th>%s</th>", headers[i]);
        put(w, "</tr></thead><tbody>\n");
    }
}

static void row_begin(wr *w, const char *cls)
{
    w->cell = 0;
    if (w->md)
        put(w, "|");
    else if (cls)
        putf(w, "<tr class=\"%s\">", cls);
    else
        put(w, "<tr>");
}

static void cell(wr *w, const char *cls)
{
    if (w->md) {
        put(w, w->cell ? " | " : " ");
    } else {
        if (w->cell) put(w, "</td>");
        if (cls)
            putf(w, "<td class=\"%s\">", cls);
        else
            put(w, "<td>");
    }
    w->cell++;
}

static void row_end(wr *w)
{
    put(w, w->md ? " |\n" : (w->cell ? "</td></tr>\n" : "</tr>\n"));
}

static void table_end(wr *w)
{
    put(w, w->md ? "\n" : "</tbody></table>\n");
}

/* A two-column facts table row: "key | value" with the value a JSON string or number. */
static void fact_begin(wr *w, const char *key)
{
    row_begin(w, NULL);
    cell(w, "k");
    put(w, key);
    cell(w, NULL);
}

static void fact_str(wr *w, const char *key, const keel_json *v, size_t max_w)
{
    if (!v) return;
    fact_begin(w, key);
    jtext(w, v, max_w, "");
    row_end(w);
}

static void fact_count(wr *w, const char *key, const keel_json *o, const char *field)
{
    double v;
    if (!jnum(o, field, &v)) return;
    fact_begin(w, key);
    put_count(w, v);
    row_end(w);
}

static void facts_begin(wr *w)
{
    static const char *const h[] = {"", ""};
    if (w->md) {
        table_begin(w, NULL, h, 2);
    } else {
        put(w, "<table class=\"facts\"><tbody>\n");
    }
}

static void mono(wr *w, const keel_json *s, size_t max_w)
{
    html(w, "<span class=\"mono\">");
    jtext(w, s, max_w, "\xe2\x80\x94");
    html(w, "</span>");
}

/* ---- measure names ------------------------------------------------------------------- */

static const struct measure {
    const char *key, *label;
    bool lower_better;
} measures[] = {
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

static const struct measure *measure_of(const keel_json *name)
{
    for (size_t i = 0; i < KEEL_ARRAY_LEN(measures); i++)
        if (jstr_is(name, measures[i].key)) return &measures[i];
    return NULL;
}

/* A measure's name for people (trusted label, or the escaped raw name). */
static void measure_label(wr *w, const keel_json *name)
{
    const struct measure *m = measure_of(name);
    if (m)
        put(w, m->label);
    else
        jtext(w, name, W_NAME, "?");
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
static void model_title(wr *w, const keel_json *card)
{
    const keel_json *model = jobj(card, "model"), *reg = jobj(card, "registry");
    const keel_json *name = jstr(reg, "model");
    double version;
    if (name && jnum(reg, "version", &version)) {
        jtext(w, name, W_NAME, "");
        putf(w, " version %.0f", fmin(fmax(version, -1e15), 1e15));
    } else {
        jtext(w, jstr(model, "name"), W_NAME, "unnamed model");
    }
}

static void page_top(wr *w, const keel_json *card)
{
    const keel_json *model = jobj(card, "model");
    if (w->md) {
        put(w, "# Model card: ");
        model_title(w, card);
        put(w, "\n\n");
    } else {
        put(w, "<div class=\"top\"><div class=\"wrap\"><div class=\"kicker\">keel \xc2\xb7 "
               "model card</div><h1>");
        model_title(w, card);
        put(w, "</h1><div class=\"sub\">");
    }
    put(w, "Generated ");
    jtext(w, jstr(card, "generated"), W_NAME, "at an unrecorded time");
    put(w, " by keel ");
    jtext(w, jstr(card, "keel_version"), 20, "(version not recorded)");
    if (jstr(model, "sha256")) {
        put(w, w->md ? " \xc2\xb7 artifact SHA-256 "
                     : " \xc2\xb7 artifact SHA-256 <span class=\"mono\">");
        jtext(w, jstr(model, "sha256"), 64, "");
        html(w, "</span>");
    }
    if (w->md) {
        put(w, "\n\n");
    } else {
        put(w, "</div><nav><a href=\"#use\">Intended use</a><a href=\"#model\">Model</a>"
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
    const keel_json *apps = jarr(jobj(card, "registry"), "approvals");
    const char *state = NULL;
    for (size_t i = 0; i < keel_json_len(apps) && i < MAX_ROWS; i++) {
        const keel_json *s = jstr(item(apps, i), "status");
        if (jstr_is(s, "approved"))
            state = "approved";
        else if (jstr_is(s, "rejected"))
            state = "rejected";
        else if (jstr_is(s, "pending") && !state)
            state = "pending";
    }
    return state;
}

/* The first listed measure with its interval. */
static void glance(wr *w, const keel_json *card)
{
    const keel_json *model = jobj(card, "model"), *holdout = jobj(card, "holdout");
    const keel_json *items = jarr(jobj(card, "metrics"), "items");
    if (w->md) {
        put(w, "| Task | Target | Held-out rows | Headline measure | Approval |\n"
               "|---|---|---|---|---|\n| ");
    } else {
        put(w, "<div class=\"glance\"><div><span class=\"k\">Task</span><span class=\"v\">");
    }
    jtext(w, jstr(model, "task"), W_NAME, "not recorded");
    put(w, w->md ? " | " : "</span></div><div><span class=\"k\">Target</span><span class=\"v\">");
    jtext(w, jstr(model, "target_display") ? jstr(model, "target_display") : jstr(model, "target"),
          W_NAME, "not recorded");
    put(w, w->md ? " | "
                 : "</span></div><div><span class=\"k\">Held-out rows scored</span><span "
                   "class=\"v\">");
    put_jcount(w, holdout, "scored");
    put(w, w->md ? " | " : "</span></div><div><span class=\"k\">");
    const keel_json *first = item(items, 0);
    if (!w->md) {
        if (first)
            measure_label(w, jstr(first, "name"));
        else
            put(w, "Headline measure");
        put(w, " (95% CI)</span><span class=\"v\">");
    } else if (first) {
        measure_label(w, jstr(first, "name"));
        put(w, " ");
    }
    if (first)
        put_ci(w, jnumd(first, "value"), jnumd(first, "low"), jnumd(first, "high"));
    else
        put(w, "not available");
    put(w, w->md ? " | " : "</span></div><div><span class=\"k\">Approval</span><span class=\"v\">");
    const char *state = approval_state(card);
    if (!w->md)
        putf(w, "<span class=\"badge %s\">%s</span>",
             state && !strcmp(state, "approved") ? "ok" : "bad",
             state ? state : "no approval on record");
    else
        put(w, state ? state : "no approval on record");
    put(w, w->md ? " |\n\n" : "</span></div></div>\n");
}

/* ---- sections --------------------------------------------------------------------------- */

static void section_begin(wr *w, const char *id, const char *title)
{
    if (!w->md) put(w, "<section>");
    heading(w, 2, id, title);
}

static void section_end(wr *w)
{
    html(w, "</section>\n");
}

/* One of intended use / limitations / owner: the text, or a prominent notice with the
 * command that sets it. */
static void use_field(wr *w, const keel_json *use, const char *key, const char *title,
                      bool required)
{
    heading(w, 3, key, title);
    const keel_json *v = jstr(use, key);
    if (v) {
        para_begin(w, "prose");
        text(w, v->u.string.s, v->u.string.len, W_PROSE);
        para_end(w);
        return;
    }
    notice_begin(w, required ? "warn" : "info");
    putf(w, "%s has not been set for this model.", title);
    const keel_json *cmd = jstr(jobj(jobj(use, "commands"), key), "command");
    if (!cmd) cmd = jstr(jobj(use, "commands"), key);
    if (cmd) {
        put(w, " Set it with ");
        code(w, cmd);
        put(w, " and write the card again.");
    } else {
        put(w, " It is kept as the registry tag ");
        put(w, w->md ? "`" : "<code>");
        put(w, key);
        put(w, w->md ? "`" : "</code>");
        put(w, " of the model version (keel model tag NAME:VERSION KEY=VALUE).");
    }
    const keel_json *why = jstr(use, "note");
    if (why) {
        put(w, " ");
        text(w, why->u.string.s, why->u.string.len, W_PROSE);
    }
    notice_end(w);
}

static void sec_use(wr *w, const keel_json *card)
{
    const keel_json *use = jobj(card, "use");
    section_begin(w, "use", "Intended use and limitations");
    use_field(w, use, "intended_use", "Intended use", true);
    use_field(w, use, "limitations", "Limitations", true);
    use_field(w, use, "owner", "Owner", false);
    section_end(w);
}

static void sec_model(wr *w, const keel_json *card)
{
    const keel_json *model = jobj(card, "model");
    section_begin(w, "model", "The model");
    if (!model) {
        notice(w, "warn", "The model's details are not available in this card.");
        section_end(w);
        return;
    }
    facts_begin(w);
    fact_str(w, "Name", jstr(model, "name"), W_NAME);
    fact_str(w, "Loaded from", jstr(model, "reference"), W_VALUE);
    fact_str(w, "Task", jstr(model, "task"), W_NAME);
    fact_str(w, "Target column", jstr(model, "target"), W_NAME);
    const keel_json *classes = jarr(model, "classes");
    if (keel_json_len(classes)) {
        fact_begin(w, "Classes");
        for (size_t i = 0; i < keel_json_len(classes) && i < 100; i++) {
            if (i) put(w, ", ");
            jtext(w, keel_json_at(classes, i), W_LABEL, "?");
        }
        if (keel_json_len(classes) > 100) put(w, ", \xe2\x80\xa6");
        row_end(w);
    }
    fact_str(w, "Explained class", jstr(model, "explained_class"), W_NAME);
    fact_str(w, "Calibration", jstr(model, "calibration"), W_NAME);
    fact_count(w, "Model inputs", model, "inputs");
    if (jstr(model, "sha256")) {
        fact_begin(w, "Artifact SHA-256");
        mono(w, jstr(model, "sha256"), 64);
        row_end(w);
    }
    table_end(w);
    const keel_json *hp = jobj(model, "hyper_parameters");
    if (keel_json_len(hp)) {
        heading(w, 3, "hp", "Hyper-parameters");
        facts_begin(w);
        for (size_t i = 0; i < hp->u.object.n && i < MAX_HP; i++) {
            const keel_json_member *mb = &hp->u.object.members[i];
            row_begin(w, NULL);
            cell(w, "k");
            text(w, mb->key, mb->key_len, W_NAME);
            cell(w, NULL);
            const keel_json *v = &mb->value;
            if (v->type == KEEL_JSON_NUMBER) {
                put_stat(w, v->u.number.value);
            } else if (v->type == KEEL_JSON_STRING) {
                text(w, v->u.string.s, v->u.string.len, W_VALUE);
            } else if (v->type == KEEL_JSON_BOOL) {
                put(w, v->u.boolean ? "true" : "false");
            } else if (v->type == KEEL_JSON_ARRAY) {
                for (size_t j = 0; j < v->u.array.n && j < 16; j++) {
                    if (j) put(w, ", ");
                    const keel_json *x = &v->u.array.items[j];
                    if (x->type == KEEL_JSON_NUMBER)
                        put_stat(w, x->u.number.value);
                    else
                        jtext(w, x, W_LABEL, "?");
                }
            } else {
                put(w, "\xe2\x80\x94");
            }
            row_end(w);
        }
        table_end(w);
    }
    section_end(w);
}

/* The schema's columns with what the training profile says of each. */
static void columns_table(wr *w, const keel_json *card)
{
    const keel_json *cols = jarr(card, "columns");
    heading(w, 3, "columns", "Columns");
    if (!keel_json_len(cols)) {
        notice(w, "info", "The model's columns are not available in this card.");
        return;
    }
    static const char *const h[] = {"Column", "Name in the data",    "Type",
                                    "Role",   "Missing in training", "Training data"};
    table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    size_t n = keel_json_len(cols);
    for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
        const keel_json *c = item(cols, i);
        if (!c) continue;
        row_begin(w, NULL);
        cell(w, NULL);
        jtext(w, display(c), W_NAME, "?");
        if (jtrue(c, "sensitive"))
            put(w, w->md ? " (sensitive)" : "<span class=\"badge sens\">sensitive</span>");
        const keel_json *pii = jstr(c, "pii");
        if (pii && !jstr_is(pii, "none")) {
            put(w, w->md ? " (personal data: " : "<span class=\"badge\">personal data: ");
            jtext(w, pii, W_LABEL, "");
            put(w, w->md ? ")" : "</span>");
        }
        cell(w, "mono");
        jtext(w, jstr(c, "name"), W_NAME, "?");
        cell(w, NULL);
        jtext(w, jstr(c, "type"), W_LABEL, "\xe2\x80\x94");
        cell(w, NULL);
        jtext(w, jstr(c, "role"), W_LABEL, "\xe2\x80\x94");
        cell(w, "n");
        double count, missing;
        if (jnum(c, "count", &count) && jnum(c, "missing", &missing) && count > 0)
            put_pct(w, missing / count);
        else
            put(w, "\xe2\x80\x94");
        cell(w, NULL);
        jtext(w, jstr(c, "summary"), W_VALUE, "\xe2\x80\x94");
        row_end(w);
    }
    table_end(w);
    if (n > MAX_ROWS) {
        para_begin(w, NULL);
        putf(w, "(%zu more columns are not listed.)", n - MAX_ROWS);
        para_end(w);
    }
}

/* A metrics object ({"accuracy": x, ...}) as a facts table. */
static void metrics_object(wr *w, const keel_json *m)
{
    facts_begin(w);
    for (size_t i = 0; i < keel_json_len(m) && i < 40; i++) {
        const keel_json_member *mb = &m->u.object.members[i];
        if (mb->value.type != KEEL_JSON_NUMBER) continue;
        keel_json key = {.type = KEEL_JSON_STRING};
        key.u.string.s = mb->key;
        key.u.string.len = mb->key_len;
        row_begin(w, NULL);
        cell(w, "k");
        if (mb->key_len == 1 && mb->key[0] == 'n')
            put(w, "Rows");
        else
            measure_label(w, &key);
        cell(w, "n");
        put_stat(w, mb->value.u.number.value);
        row_end(w);
    }
    table_end(w);
}

static void sec_training(wr *w, const keel_json *card)
{
    const keel_json *t = jobj(card, "training");
    section_begin(w, "training", "Training data and lineage");
    if (!t) {
        notice(w, "warn", "The artifact records nothing about its training data.");
    } else {
        facts_begin(w);
        fact_str(w, "Source file", jstr(t, "source"), W_VALUE);
        if (jstr(t, "sha256")) {
            fact_begin(w, "Its SHA-256");
            mono(w, jstr(t, "sha256"), 64);
            row_end(w);
        }
        fact_count(w, "Records read", t, "records");
        fact_count(w, "Accepted by the schema", t, "accepted");
        fact_count(w, "Quarantined", t, "quarantined");
        fact_count(w, "Rows trained on", t, "train_rows");
        fact_count(w, "Rows for early stopping and calibration", t, "validation_rows");
        fact_count(w, "Rows without a target", t, "unlabeled_rows");
        fact_count(w, "Epochs", t, "epochs");
        fact_count(w, "Best epoch", t, "best_epoch");
        fact_str(w, "Stopped by", jstr(t, "stopped_by"), W_NAME);
        fact_count(w, "Seed", t, "seed");
        fact_str(w, "Trained", jstr(t, "created"), W_NAME);
        fact_str(w, "Trained by", jstr(t, "user"), W_NAME);
        fact_str(w, "keel version", jstr(t, "keel_version"), W_NAME);
        table_end(w);
        double q, r;
        if (jnum(t, "quarantined", &q) && q > 0 && jnum(t, "records", &r) && r > 0) {
            notice_begin(w, "info");
            put_count(w, q);
            put(w, " training records (");
            put_pct(w, q / r);
            put(w, ") broke the schema and were not trained on.");
            notice_end(w);
        }
        const keel_json *vm = jobj(t, "validation_metrics");
        if (keel_json_len(vm)) {
            heading(w, 3, "validation", "Measures on the validation rows during training");
            para_begin(w, NULL);
            put(w, "These rows also chose when to stop and fitted the calibration, so these "
                   "figures are optimistic; the held-out figures below are the ones to judge.");
            para_end(w);
            metrics_object(w, vm);
        }
    }
    const keel_json *lin = jobj(jobj(card, "registry"), "lineage");
    const keel_json *ds = jarr(lin, "datasets");
    if (keel_json_len(ds)) {
        heading(w, 3, "lineage", "Lineage in the registry");
        static const char *const h[] = {"Dataset", "Role", "Name", "Rows", "SHA-256", "Registered"};
        table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(ds) && i < MAX_ROWS; i++) {
            const keel_json *d = item(ds, i);
            if (!d) continue;
            row_begin(w, NULL);
            cell(w, "mono");
            jtext(w, jstr(d, "id"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(d, "role"), W_LABEL, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(d, "name"), W_NAME, "\xe2\x80\x94");
            cell(w, "n");
            put_jcount(w, d, "rows");
            cell(w, "mono");
            jtext(w, jstr(d, "sha256"), 64, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(d, "created"), W_NAME, "\xe2\x80\x94");
            row_end(w);
        }
        table_end(w);
        const keel_json *run = jobj(lin, "run");
        if (run) {
            para_begin(w, NULL);
            put(w, "Produced by training run ");
            jtext(w, jstr(run, "id"), W_NAME, "?");
            put(w, " (status ");
            jtext(w, jstr(run, "status"), W_NAME, "unknown");
            put(w, ", by ");
            jtext(w, jstr(run, "user"), W_NAME, "unknown");
            put(w, " on ");
            jtext(w, jstr(run, "host"), W_NAME, "an unrecorded host");
            put(w, ", started ");
            jtext(w, jstr(run, "started"), W_NAME, "at an unrecorded time");
            put(w, ").");
            para_end(w);
        }
    }
    columns_table(w, card);
    section_end(w);
}

static void sec_quality(wr *w, const keel_json *card)
{
    const keel_json *h = jobj(card, "holdout"), *m = jobj(card, "metrics");
    section_begin(w, "quality", "Quality on held-out data");
    if (h) {
        facts_begin(w);
        fact_str(w, "Held-out file", jstr(h, "file"), W_VALUE);
        if (jstr(h, "sha256")) {
            fact_begin(w, "Its SHA-256");
            mono(w, jstr(h, "sha256"), 64);
            row_end(w);
        }
        fact_count(w, "Records read", h, "records");
        fact_count(w, "Quarantined (broke the schema)", h, "quarantined");
        fact_count(w, "Without a usable target", h, "unlabeled");
        fact_count(w, "Scored", h, "scored");
        fact_str(w, "Quarantine file", jstr(h, "quarantine"), W_VALUE);
        table_end(w);
        double q;
        if (jnum(h, "quarantined", &q) && q > 0) {
            notice_begin(w, "warn");
            put_count(w, q);
            put(w, " held-out records broke the model's schema and were not scored; the figures "
                   "below leave them out. Inspect the quarantine file before relying on them.");
            notice_end(w);
        }
        if (jtrue(h, "same_as_training"))
            notice(w, "bad",
                   "The held-out file is the training file itself (same SHA-256): the figures "
                   "below are not an honest test of the model.");
    } else {
        notice(w, "warn", "No held-out data is described in this card.");
    }
    const keel_json *items = jarr(m, "items");
    if (!keel_json_len(items)) {
        notice(w, "warn", "Held-out measures are not available.");
        section_end(w);
        return;
    }
    para_begin(w, NULL);
    put(w, "Each measure is computed on the scored held-out rows. The interval is a 95% "
           "percentile bootstrap interval (");
    put_count(w, jnumd(m, "resamples"));
    put(w, " resamples of the rows with replacement, seed ");
    put_count(w, jnumd(m, "seed"));
    put(w, "): the range the measure would plausibly take on another sample of the same size "
           "from the same population.");
    para_end(w);
    static const char *const hd[] = {"Measure", "Value", "95% interval", "Better"};
    table_begin(w, NULL, hd, KEEL_ARRAY_LEN(hd));
    for (size_t i = 0; i < keel_json_len(items) && i < 40; i++) {
        const keel_json *it = item(items, i);
        if (!it) continue;
        const struct measure *ms = measure_of(jstr(it, "name"));
        row_begin(w, NULL);
        cell(w, NULL);
        measure_label(w, jstr(it, "name"));
        cell(w, "n");
        put_stat(w, jnumd(it, "value"));
        cell(w, "n");
        double lo = jnumd(it, "low"), hi = jnumd(it, "high");
        if (isfinite(lo) && isfinite(hi)) {
            put_stat(w, lo);
            put(w, " \xe2\x80\x93 ");
            put_stat(w, hi);
        } else {
            put(w, "\xe2\x80\x94");
        }
        cell(w, NULL);
        put(w, !ms ? "" : ms->lower_better ? "lower" : "higher");
        row_end(w);
    }
    table_end(w);
    section_end(w);
}

static void sec_groups(wr *w, const keel_json *card)
{
    const keel_json *slices = jarr(card, "slices");
    section_begin(w, "groups", "Quality per group of sensitive columns");
    if (!jget(card, "slices", KEEL_JSON_ARRAY)) {
        notice(w, "warn", "Per-group measures are not available in this card.");
        section_end(w);
        return;
    }
    if (!keel_json_len(slices)) {
        notice(w, "warn",
               "The model's schema marks no column as sensitive, so no per-group measures were "
               "computed. Mark the columns that define groups to compare (age band, sex, "
               "region, ...) with sensitive: true in the schema (docs/schema.md) and train "
               "again.");
        section_end(w);
        return;
    }
    para_begin(w, NULL);
    put(w, "The held-out rows split by each column the schema marks as sensitive. Compare each "
           "group with the others: a large gap means the model serves that group worse. Groups "
           "under 30 rows are marked; their figures are too uncertain to compare.");
    para_end(w);
    for (size_t s = 0; s < keel_json_len(slices) && s < MAX_SLICES; s++) {
        const keel_json *sl = item(slices, s);
        if (!sl) continue;
        if (!w->md)
            put(w, "<h3>");
        else
            put(w, "\n### ");
        jtext(w, display(sl), W_NAME, "?");
        if (jstr(sl, "binning")) {
            put(w, " (");
            jtext(w, jstr(sl, "binning"), W_NAME, "");
            put(w, ")");
        }
        put(w, w->md ? "\n\n" : "</h3>\n");
        const keel_json *note = jstr(sl, "note");
        if (note) {
            notice_begin(w, "info");
            text(w, note->u.string.s, note->u.string.len, W_PROSE);
            notice_end(w);
        }
        const keel_json *cols = jarr(sl, "measures"), *groups = jarr(sl, "groups");
        size_t nc = KEEL_MIN(keel_json_len(cols), (size_t)10);
        if (!keel_json_len(groups)) {
            notice(w, "info", "No groups.");
            continue;
        }
        /* Header: fixed columns, then one per measure (labels are trusted strings only). */
        const char *hd[14] = {"Group", "Rows", "Share"};
        size_t nh = 3;
        for (size_t j = 0; j < nc; j++) {
            const struct measure *ms = measure_of(keel_json_at(cols, j));
            hd[nh++] = ms ? ms->label : "?";
        }
        hd[nh++] = "";
        table_begin(w, NULL, hd, nh);
        double total = 0;
        for (size_t g = 0; g < keel_json_len(groups) && g < MAX_ROWS; g++) {
            double n;
            if (jnum(item(groups, g), "n", &n) && n > 0) total += fmin(n, 1e300);
        }
        for (size_t g = 0; g < keel_json_len(groups) && g < MAX_ROWS; g++) {
            const keel_json *gr = item(groups, g);
            if (!gr) continue;
            bool small = jtrue(gr, "small");
            row_begin(w, small ? "small" : NULL);
            cell(w, NULL);
            jtext(w, jstr(gr, "label"), W_NAME, "?");
            cell(w, "n");
            put_jcount(w, gr, "n");
            cell(w, "n");
            double n;
            put_pct(w, jnum(gr, "n", &n) && total > 0 ? n / total : NAN);
            const keel_json *mv = jobj(gr, "metrics");
            for (size_t j = 0; j < nc; j++) {
                cell(w, "n");
                const keel_json *key = keel_json_at(cols, j);
                double v = key && key->type == KEEL_JSON_STRING ? jnumd(mv, key->u.string.s) : NAN;
                put_stat(w, v);
            }
            cell(w, NULL);
            if (small)
                put(w, w->md ? "small group" : "<span class=\"badge bad\">small group</span>");
            row_end(w);
        }
        table_end(w);
    }
    para_begin(w, NULL);
    put(w, "\xe2\x80\x94 means the measure is undefined for the group (for example ROC AUC when "
           "the group holds only one class).");
    para_end(w);
    section_end(w);
}

/* ---- charts ---------------------------------------------------------------------------- */

static void svg_text_begin(wr *w, double x, double y, const char *anchor, const char *cls)
{
    putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
}

/* Ticks of a linear axis over [lo, hi]: about target of them. */
static void axis_ticks_x(wr *w, double lo, double hi, double x0, double x1, double y0, double y1,
                         int target)
{
    double step = nice_step(hi - lo, target);
    if (!(step > 0)) return;
    double first = ceil(lo / step - 1e-9) * step;
    for (int k = 0; k < 40; k++) {
        double v = first + k * step;
        if (v > hi + step * 1e-6) break;
        double x = x0 + (x1 - x0) * ((v - lo) / (hi - lo));
        if (fabs(v) < step * 1e-9) v = 0;
        putf(w, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x, y0,
             y1);
        svg_text_begin(w, x, y1 + 14, "middle", "tick");
        put_stat(w, v);
        put(w, "</text>");
    }
}

static void axis_ticks_y(wr *w, double lo, double hi, double y0, double y1, double x0, double x1,
                         int target)
{
    double step = nice_step(hi - lo, target);
    if (!(step > 0)) return;
    double first = ceil(lo / step - 1e-9) * step;
    for (int k = 0; k < 40; k++) {
        double v = first + k * step;
        if (v > hi + step * 1e-6) break;
        double y = y1 - (y1 - y0) * ((v - lo) / (hi - lo));
        if (fabs(v) < step * 1e-9) v = 0;
        putf(w, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x0, x1, y,
             y);
        svg_text_begin(w, x0 - 5, y + 3.5, "end", "tick");
        put_stat(w, v);
        put(w, "</text>");
    }
}

/* Expands [lo, hi] to a non-empty, finite range. */
static void fix_range(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi - *lo <= fabs(*hi) * 1e-9 || !(*hi > *lo)) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= pad;
        *hi += pad;
    }
    if (!isfinite(*hi - *lo)) { /* the span overflows: halve both ends */
        *lo /= 4;
        *hi /= 4;
    }
}

/* Horizontal bars of permutation importance with 95% whiskers. */
static void importance_chart(wr *w, const keel_json *items)
{
    size_t n = KEEL_MIN(keel_json_len(items), (size_t)MAX_BARS);
    double lo = 0, hi = 0;
    size_t drawn = 0;
    for (size_t i = 0; i < n; i++) {
        const keel_json *it = item(items, i);
        double d;
        if (!jnum(it, "drop", &d)) continue;
        drawn++;
        lo = fmin(lo, d);
        hi = fmax(hi, d);
        double a, b;
        if (jnum(it, "low", &a) && jnum(it, "high", &b)) {
            lo = fmin(lo, a);
            hi = fmax(hi, b);
        }
    }
    if (!drawn) return;
    fix_range(&lo, &hi);
    const double L = 200, R = 660, T = 10, row = 22;
    double H = T + row * (double)n + 34;
    putf(w,
         "<figure><svg viewBox=\"0 0 700 %.0f\" role=\"img\" aria-label=\"Permutation "
         "importance\">",
         H);
    double yb = T + row * (double)n;
    axis_ticks_x(w, lo, hi, L, R, T, yb, 6);
    double x0 = L + (R - L) * ((0 - lo) / (hi - lo));
    for (size_t i = 0; i < n; i++) {
        const keel_json *it = item(items, i);
        double d;
        double y = T + row * (double)i;
        svg_text_begin(w, L - 8, y + 15, "end", "label");
        jtext(w, display(it), W_LABEL, "?");
        put(w, "</text>");
        if (!jnum(it, "drop", &d)) continue;
        double x = L + (R - L) * ((d - lo) / (hi - lo));
        putf(w, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\">",
             d >= 0 ? "bar" : "neg", fmin(x, x0), y + 4, fabs(x - x0));
        put(w, "<title>");
        jtext(w, display(it), W_VALUE, "?");
        put(w, ": ");
        put_ci(w, d, jnumd(it, "low"), jnumd(it, "high"));
        put(w, "</title></rect>");
        double a, b;
        if (jnum(it, "low", &a) && jnum(it, "high", &b)) {
            double xa = L + (R - L) * ((a - lo) / (hi - lo)),
                   xb = L + (R - L) * ((b - lo) / (hi - lo));
            putf(w,
                 "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                 "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                 "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                 xa, xb, y + 11, y + 11, xa, xa, y + 7, y + 15, xb, xb, y + 7, y + 15);
        }
    }
    putf(w, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x0, x0, T,
         yb);
    putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"axis-title\">", (L + R) / 2,
         H - 2);
    put(w, "drop of the measure when the column is shuffled</text></svg>");
    put(w, "<figcaption>Bars: mean drop over the repeats; whiskers: its 95% interval. A bar "
           "whose whisker crosses zero is not distinguishable from no effect.</figcaption>"
           "</figure>\n");
}

static void sec_importance(wr *w, const keel_json *card)
{
    const keel_json *imp = jobj(card, "importance");
    section_begin(w, "importance", "What drives the model");
    const keel_json *items = jarr(imp, "items");
    if (!keel_json_len(items)) {
        notice(w, "warn", "Importance is not available in this card.");
        const keel_json *err = jstr(imp, "error");
        if (err) {
            para_begin(w, NULL);
            text(w, err->u.string.s, err->u.string.len, W_PROSE);
            para_end(w);
        }
        section_end(w);
        return;
    }
    para_begin(w, NULL);
    put(w, "Permutation importance: how much the held-out ");
    measure_label(w, jstr(imp, "metric"));
    put(w, " (");
    put_stat(w, jnumd(imp, "base"));
    put(w, " on the rows as they are) gets worse when one column's values are shuffled among ");
    put_count(w, jnumd(imp, "rows"));
    put(w, " rows, ");
    put_count(w, jnumd(imp, "repeats"));
    put(w, " times. Mean |attribution|: the average size of the column's Integrated Gradients "
           "attribution over ");
    put_count(w, jnumd(imp, "attribution_rows"));
    put(w, " held-out rows, on the ");
    jtext(w, jstr(imp, "attribution_scale"), W_NAME, "model's");
    put(w, " scale. Importance shows what the model relies on, not what causes the outcome.");
    para_end(w);
    const keel_json *aerr = jstr(imp, "attribution_error");
    if (aerr) {
        notice_begin(w, "info");
        put(w, "Attributions are not available: ");
        text(w, aerr->u.string.s, aerr->u.string.len, W_PROSE);
        notice_end(w);
    }
    if (!w->md) importance_chart(w, items);
    static const char *const h[] = {"Column", "Drop", "95% interval", "Mean |attribution|"};
    table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    for (size_t i = 0; i < keel_json_len(items) && i < MAX_ROWS; i++) {
        const keel_json *it = item(items, i);
        if (!it) continue;
        row_begin(w, NULL);
        cell(w, NULL);
        jtext(w, display(it), W_NAME, "?");
        cell(w, "n");
        put_stat(w, jnumd(it, "drop"));
        cell(w, "n");
        double lo = jnumd(it, "low"), hi = jnumd(it, "high");
        if (isfinite(lo) && isfinite(hi)) {
            put_stat(w, lo);
            put(w, " \xe2\x80\x93 ");
            put_stat(w, hi);
        } else {
            put(w, "\xe2\x80\x94");
        }
        cell(w, "n");
        put_stat(w, jnumd(it, "mean_abs_attribution"));
        row_end(w);
    }
    table_end(w);
    section_end(w);
}

/* The reliability diagram: predicted probability (x) against observed frequency (y). */
static void calibration_chart(wr *w, const keel_json *bins)
{
    const double L = 50, T = 12, S = 300; /* plot square */
    double maxn = 0;
    size_t n = KEEL_MIN(keel_json_len(bins), (size_t)MAX_BINS);
    for (size_t i = 0; i < n; i++)
        maxn = fmax(maxn, fmax(0, jnumd(item(bins, i), "n")));
    put(w, "<figure style=\"max-width:420px\"><svg viewBox=\"0 0 380 360\" role=\"img\" "
           "aria-label=\"Calibration\">");
    axis_ticks_x(w, 0, 1, L, L + S, T, T + S, 5);
    axis_ticks_y(w, 0, 1, T, T + S, L, L + S, 5);
    putf(w,
         "<line class=\"diag\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
         "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
         "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
         L, T + S, L + S, T, L, T + S, L + S, T + S, L, T, L, T + S);
    for (size_t i = 0; i < n; i++) {
        const keel_json *b = item(bins, i);
        double p, o, c;
        if (!jnum(b, "predicted", &p) || !jnum(b, "observed", &o) || !jnum(b, "n", &c) || c <= 0)
            continue;
        p = fmin(fmax(p, 0), 1);
        o = fmin(fmax(o, 0), 1);
        double r = maxn > 0 ? 3 + 9 * sqrt(c / maxn) : 4;
        putf(w, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"><title>", L + S * p,
             T + S - S * o, r);
        put(w, "predicted ");
        put_stat(w, p);
        put(w, ", observed ");
        put_stat(w, o);
        put(w, ", ");
        put_count(w, c);
        put(w, " rows</title></circle>");
    }
    putf(w,
         "<text x=\"%.1f\" y=\"350\" text-anchor=\"middle\" class=\"axis-title\">mean predicted "
         "probability</text><text class=\"axis-title\" text-anchor=\"middle\" "
         "transform=\"translate(14 %.1f) rotate(-90)\">observed frequency</text></svg>",
         L + S / 2, T + S / 2);
    put(w, "<figcaption>Each point is a bin of predicted probability; its area is proportional "
           "to the rows in it. Points on the dashed diagonal mean the probabilities can be "
           "taken at face value.</figcaption></figure>\n");
}

static void sec_calibration(wr *w, const keel_json *card)
{
    const keel_json *cal = jobj(card, "calibration");
    section_begin(w, "calibration", "Calibration");
    const keel_json *bins = jarr(cal, "bins");
    if (!keel_json_len(bins)) {
        const keel_json *why = jstr(cal, "note");
        if (why) {
            notice_begin(w, "info");
            text(w, why->u.string.s, why->u.string.len, W_PROSE);
            notice_end(w);
        } else {
            notice(w, "info", "A calibration diagram is not available in this card.");
        }
        section_end(w);
        return;
    }
    para_begin(w, NULL);
    put(w, "Whether the predicted probability of ");
    put(w, w->md ? "\"" : "&ldquo;");
    jtext(w, jstr(cal, "class"), W_NAME, "the explained class");
    put(w, w->md ? "\"" : "&rdquo;");
    put(w, " matches how often it happens in the held-out rows.");
    para_end(w);
    if (!w->md) calibration_chart(w, bins);
    static const char *const h[] = {"Predicted probability", "Rows", "Mean predicted",
                                    "Observed frequency"};
    table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    for (size_t i = 0; i < keel_json_len(bins) && i < MAX_BINS; i++) {
        const keel_json *b = item(bins, i);
        if (!b) continue;
        row_begin(w, NULL);
        cell(w, NULL);
        put_stat(w, jnumd(b, "lo"));
        put(w, " \xe2\x80\x93 ");
        put_stat(w, jnumd(b, "hi"));
        cell(w, "n");
        put_jcount(w, b, "n");
        cell(w, "n");
        put_stat(w, jnumd(b, "predicted"));
        cell(w, "n");
        put_stat(w, jnumd(b, "observed"));
        row_end(w);
    }
    table_end(w);
    section_end(w);
}

/* One partial-dependence plot; ylo..yhi is shared by all plots so they compare. */
static void pd_chart(wr *w, const keel_json *c, double ylo, double yhi)
{
    const keel_json *pts = jarr(c, "points");
    size_t n = KEEL_MIN(keel_json_len(pts), (size_t)MAX_POINTS);
    /* Numeric x when every point has a finite x, increasing; else categories evenly. */
    bool numeric = jtrue(c, "numeric") && n >= 2;
    double xlo = INFINITY, xhi = -INFINITY, prev = -INFINITY;
    for (size_t i = 0; i < n && numeric; i++) {
        double x = 0;
        if (!jnum(item(pts, i), "x", &x) || x < prev) {
            numeric = false;
            break;
        }
        prev = x;
        xlo = fmin(xlo, x);
        xhi = fmax(xhi, x);
    }
    if (numeric && !(xhi > xlo && isfinite(xhi - xlo))) numeric = false;
    const double L = 52, R = 310, T = 24, B = 176;
    put(w, "<figure><svg viewBox=\"0 0 330 216\" role=\"img\">");
    svg_text_begin(w, L, 14, "start", "title");
    jtext(w, display(c), 40, "?");
    put(w, "</text>");
    axis_ticks_y(w, ylo, yhi, T, B, L, R, 4);
    if (numeric) axis_ticks_x(w, xlo, xhi, L, R, T, B, 4);
    putf(w,
         "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
         "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
         L, B, R, B, L, T, L, B);
    if (!w->err && n) {
        put(w, "<polyline class=\"line\" points=\"");
        for (size_t i = 0; i < n; i++) {
            const keel_json *p = item(pts, i);
            double y, x = 0;
            if (!jnum(p, "y", &y)) continue;
            if (numeric) jnum(p, "x", &x);
            double px = numeric ? L + (R - L) * ((x - xlo) / (xhi - xlo))
                                : L + (R - L) * ((double)i + 0.5) / (double)n;
            double py = B - (B - T) * ((y - ylo) / (yhi - ylo));
            putf(w, "%s%.1f,%.1f", i ? " " : "", px, fmin(fmax(py, T - 20), B + 20));
        }
        put(w, "\"/>");
    }
    size_t every = n > 8 ? (n + 7) / 8 : 1; /* category labels: at most 8 */
    for (size_t i = 0; i < n; i++) {
        const keel_json *p = item(pts, i);
        double y, x = 0;
        if (!jnum(p, "y", &y)) continue;
        if (numeric) jnum(p, "x", &x);
        double px = numeric ? L + (R - L) * ((x - xlo) / (xhi - xlo))
                            : L + (R - L) * ((double)i + 0.5) / (double)n;
        double py = fmin(fmax(B - (B - T) * ((y - ylo) / (yhi - ylo)), T - 20), B + 20);
        putf(w, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>", px, py);
        jtext(w, jstr(p, "label"), W_VALUE, "?");
        put(w, ": ");
        put_stat(w, y);
        put(w, "</title></circle>");
        if (!numeric && i % every == 0) {
            svg_text_begin(w, px, B + 14, "middle", "tick");
            jtext(w, jstr(p, "label"), 10, "?");
            put(w, "</text>");
        }
    }
    put(w, "</svg></figure>\n");
}

static void sec_pd(wr *w, const keel_json *card)
{
    const keel_json *pd = jobj(card, "partial_dependence");
    section_begin(w, "pd", "Partial dependence");
    const keel_json *curves = jarr(pd, "curves");
    if (!keel_json_len(curves)) {
        notice(w, "info", "Partial-dependence curves are not available in this card.");
        const keel_json *err = jstr(pd, "error");
        if (err) {
            para_begin(w, NULL);
            text(w, err->u.string.s, err->u.string.len, W_PROSE);
            para_end(w);
        }
        section_end(w);
        return;
    }
    para_begin(w, NULL);
    put(w, "For the most important columns: the model's mean prediction (");
    jtext(w, jstr(pd, "scale"), W_NAME, "on its own scale");
    put(w, ") over ");
    put_count(w, jnumd(pd, "rows"));
    put(w, " held-out rows when the column is set to each value and everything else is left "
           "as it is. The curves share one vertical scale. They show what the model does, "
           "averaged over rows; where columns are related, some combinations are unrealistic.");
    para_end(w);
    size_t nc = KEEL_MIN(keel_json_len(curves), (size_t)MAX_CURVES);
    double ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < nc; i++) {
        const keel_json *pts = jarr(item(curves, i), "points");
        for (size_t j = 0; j < keel_json_len(pts) && j < MAX_POINTS; j++) {
            double y;
            if (jnum(item(pts, j), "y", &y)) {
                ylo = fmin(ylo, y);
                yhi = fmax(yhi, y);
            }
        }
    }
    fix_range(&ylo, &yhi);
    if (!w->md) {
        put(w, "<div class=\"multiples\">");
        for (size_t i = 0; i < nc; i++)
            if (item(curves, i)) pd_chart(w, item(curves, i), ylo, yhi);
        put(w, "</div>\n");
    }
    for (size_t i = 0; i < nc; i++) {
        const keel_json *c = item(curves, i);
        if (!c) continue;
        if (w->md) {
            put(w, "\n**");
            jtext(w, display(c), W_NAME, "?");
            put(w, "**\n\n");
            static const char *const h[] = {"Value", "Mean prediction"};
            table_begin(w, NULL, h, 2);
            const keel_json *pts = jarr(c, "points");
            for (size_t j = 0; j < keel_json_len(pts) && j < MAX_POINTS; j++) {
                const keel_json *p = item(pts, j);
                if (!p) continue;
                row_begin(w, NULL);
                cell(w, NULL);
                jtext(w, jstr(p, "label"), W_VALUE, "?");
                cell(w, NULL);
                put_stat(w, jnumd(p, "y"));
                row_end(w);
            }
            table_end(w);
        }
    }
    section_end(w);
}

static void sec_governance(wr *w, const keel_json *card)
{
    const keel_json *reg = jobj(card, "registry");
    section_begin(w, "governance", "Approvals and audit trail");
    if (!reg) {
        notice(w, "warn",
               "This model was not found in the registry: it has no recorded approvals, "
               "aliases or audit events. Register it (keel train registers automatically) "
               "before relying on it.");
        const keel_json *why = jstr(card, "registry_note");
        if (why) {
            para_begin(w, NULL);
            text(w, why->u.string.s, why->u.string.len, W_PROSE);
            para_end(w);
        }
        section_end(w);
        return;
    }
    facts_begin(w);
    fact_str(w, "Registry model", jstr(reg, "model"), W_NAME);
    double v;
    if (jnum(reg, "version", &v)) {
        fact_begin(w, "Version");
        put_count(w, v);
        row_end(w);
    }
    fact_str(w, "Author", jstr(reg, "author"), W_NAME);
    fact_str(w, "Registered", jstr(reg, "created"), W_NAME);
    fact_str(w, "Registry", jstr(reg, "home"), W_VALUE);
    const keel_json *aliases = jarr(reg, "aliases");
    fact_begin(w, "Aliases");
    if (!keel_json_len(aliases)) put(w, "none");
    for (size_t i = 0; i < keel_json_len(aliases) && i < 50; i++) {
        if (i) put(w, ", ");
        jtext(w, keel_json_at(aliases, i), W_LABEL, "?");
    }
    row_end(w);
    table_end(w);

    heading(w, 3, "approvals", "Approvals");
    const keel_json *apps = jarr(reg, "approvals"), *app_note = jstr(reg, "approvals_note");
    if (!keel_json_len(apps) && app_note) {
        notice_begin(w, "warn");
        text(w, app_note->u.string.s, app_note->u.string.len, W_PROSE);
        notice_end(w);
    } else if (!keel_json_len(apps)) {
        notice(w, "warn",
               "This version has no approval on record. Under keel's four-eyes rule an "
               "approver other than its author must approve it (keel model approve) before it "
               "can become champion.");
    } else {
        static const char *const h[] = {"Decision",     "Reviewer",  "Decided",
                                        "Requested by", "Requested", "Comment"};
        table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(apps) && i < MAX_ROWS; i++) {
            const keel_json *a = item(apps, i);
            if (!a) continue;
            row_begin(w, NULL);
            cell(w, NULL);
            const keel_json *st = jstr(a, "status");
            if (!w->md)
                putf(w, "<span class=\"badge %s\">", jstr_is(st, "approved") ? "ok" : "bad");
            jtext(w, st, W_LABEL, "?");
            html(w, "</span>");
            cell(w, NULL);
            jtext(w, jstr(a, "reviewer"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(a, "decided"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(a, "requested_by"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(a, "requested"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(a, "comment"), W_PROSE, "");
            row_end(w);
        }
        table_end(w);
    }

    heading(w, 3, "audit", "Audit references");
    const keel_json *ev = jarr(reg, "audit"), *audit_note = jstr(reg, "audit_note");
    if (!keel_json_len(ev) && audit_note) {
        notice_begin(w, "info");
        text(w, audit_note->u.string.s, audit_note->u.string.len, W_PROSE);
        notice_end(w);
    } else if (!keel_json_len(ev)) {
        notice(w, "info", "No audit events are listed.");
    } else {
        para_begin(w, NULL);
        put(w, "The events of the registry's hash-chained audit trail that concern this "
               "version. An auditor can check each against the chain with keel audit verify "
               "and keel audit export (docs/registry.md).");
        para_end(w);
        static const char *const h[] = {"Event",  "Time",   "Actor",
                                        "Action", "Object", "Hash (SHA-256)"};
        table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(ev) && i < MAX_ROWS; i++) {
            const keel_json *a = item(ev, i);
            if (!a) continue;
            row_begin(w, NULL);
            cell(w, "n");
            put_jcount(w, a, "seq");
            cell(w, "nw");
            jtext(w, jstr(a, "time"), W_NAME, "\xe2\x80\x94");
            cell(w, NULL);
            jtext(w, jstr(a, "actor"), W_NAME, "\xe2\x80\x94");
            cell(w, "nw");
            jtext(w, jstr(a, "action"), W_NAME, "\xe2\x80\x94");
            cell(w, "mono");
            jtext(w, jstr(a, "object"), W_NAME, "\xe2\x80\x94");
            cell(w, "mono");
            jtext(w, jstr(a, "hash"), 64, "\xe2\x80\x94");
            row_end(w);
        }
        table_end(w);
    }
    section_end(w);
}

static void sec_warnings(wr *w, const keel_json *card)
{
    const keel_json *ws = jarr(card, "warnings");
    if (!keel_json_len(ws)) return;
    section_begin(w, "warnings", "Warnings");
    for (size_t i = 0; i < keel_json_len(ws) && i < 100; i++) {
        const keel_json *s = keel_json_at(ws, i);
        if (!s || s->type != KEEL_JSON_STRING) continue;
        notice_begin(w, "warn");
        text(w, s->u.string.s, s->u.string.len, W_PROSE);
        notice_end(w);
    }
    section_end(w);
}

static void sec_reading(wr *w)
{
    if (w->md) {
        put(w, "\n## How to read this card\n\n"
               "- **Held-out data** is data the model never saw in training. Every figure in "
               "the quality, groups, calibration, importance and partial-dependence sections is "
               "computed on it.\n"
               "- **95% interval**: a percentile bootstrap interval; a wide interval means the "
               "held-out data is too small to pin the figure down.\n"
               "- **Sensitive columns** are those the schema marks `sensitive: true`.\n"
               "- **Attributions** are on the model's scale (log-odds for classifiers unless "
               "stated); they explain the model, not the world.\n\n"
               "Rendered by keel from the card's JSON document alone (docs/card.md).\n");
        return;
    }
    put(w, "<footer><strong>How to read this card</strong><dl>"
           "<dt>Held-out data</dt><dd>Data the model never saw in training. Every figure in the "
           "quality, groups, calibration, importance and partial-dependence sections is "
           "computed on it.</dd>"
           "<dt>95% interval</dt><dd>A percentile bootstrap interval; a wide interval means "
           "the held-out data is too small to pin the figure down.</dd>"
           "<dt>Sensitive columns</dt><dd>Those the schema marks <code>sensitive: true</code>."
           "</dd><dt>Attributions</dt><dd>On the model's scale (log-odds for classifiers unless "
           "stated); they explain the model, not the world.</dd></dl>"
           "Rendered by keel " KEEL_VERSION_STRING
           " from the card's JSON document alone (docs/card.md); the page runs no scripts and "
           "loads nothing.</footer>");
}

/* ---- entry points ----------------------------------------------------------------------- */

static int render(const keel_json *card, keel_buf *out, bool md, keel_error *e)
{
    if (!out) return keel_error_set(e, KEEL_EINVAL, "model card: no output buffer");
    if (!card || card->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "model card: the top level is not a JSON object");
    size_t start = out->len;
    wr w = {out, KEEL_OK, md, false, 0};
    if (!md) {
        put(&w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
                "base-uri 'none'\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                "<meta name=\"generator\" content=\"keel " KEEL_VERSION_STRING "\">"
                "<title>Model card: ");
        model_title(&w, card);
        put(&w, "</title><style>");
        put(&w, CSS);
        put(&w, "</style></head><body>\n");
    }
    page_top(&w, card);
    double version;
    if (jnum(card, "keel_card", &version) && version != 1)
        notice(&w, "info",
               "This card's document is in a format newer than this renderer knows; members "
               "it does not know are not shown.");
    glance(&w, card);
    sec_warnings(&w, card);
    sec_use(&w, card);
    sec_model(&w, card);
    sec_training(&w, card);
    sec_quality(&w, card);
    sec_groups(&w, card);
    sec_calibration(&w, card);
    sec_importance(&w, card);
    sec_pd(&w, card);
    sec_governance(&w, card);
    sec_reading(&w);
    if (!md) put(&w, "</main></body></html>\n");
    if (w.err) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return keel_error_set(e, w.err, "model card: out of memory");
    }
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
