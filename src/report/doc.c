/*
 * doc.c — the report toolkit (src/report/doc.h): everything the data profile and the model
 * card write through.
 *
 * Characters first: UTF-8 is decoded a sequence at a time; C1 controls and the bidirectional
 * formatting characters (which can make "gnp.exe" read as "exe.png") are hidden as U+FFFD,
 * and East Asian wide characters and emoji count two columns, so both reports escape and cut
 * text the same way. Then a writer with a sticky error: after the first failed append every
 * later write is a no-op, and the renderer checks once at the end and restores the caller's
 * buffer, so no section needs an error path. The writer carries its mode (HTML or Markdown):
 * the structure functions (headings, notices, tables) speak in those terms and spell them in
 * the mode, which lets the card write both forms in one walk. Numbers are written for people:
 * four significant digits with integer digits never rounded away, thousands separators,
 * counts exact, shares as percentages with one decimal.
 *
 * The two reports' copies of this code had drifted before they were merged here; where they
 * still differ the difference is a named choice (doc_sci, doc_jtext_nonempty, doc_fmt_share
 * against doc_fmt_pct_of) so that each report keeps writing the bytes it always wrote.
 * Nothing here allocates but the output buffer; scratch space is on the stack.
 */
#include "report/doc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t doc_utf8_seq_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

uint32_t doc_utf8_decode(const unsigned char *p, size_t len)
{
    if (len == 1) return p[0];
    uint32_t cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    return cp;
}

bool doc_cp_hidden(uint32_t c)
{
    return (c >= 0x80 && c < 0xa0) || c == 0x061c || c == 0x200e || c == 0x200f ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

int doc_cp_width(uint32_t c)
{
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1faff) ||
        (c >= 0x20000 && c <= 0x3fffd))
        return 2;
    return 1;
}

void doc_fmt_int(double v, char *out)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)fabs(v));
    char *o = out;
    if (v < 0 && nd > 0 && digits[0] != '0') *o++ = '-';
    for (int i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) *o++ = ',';
        *o++ = digits[i];
    }
    *o = '\0';
}

void doc_trim_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot) return;
    char *end = s + strlen(s);
    while (end > dot + 1 && end[-1] == '0')
        *--end = '\0';
    if (end == dot + 1) *dot = '\0';
}

/* ---- the writer -------------------------------------------------------------------------- */

void doc_putn(doc_writer *w, const char *s, size_t n)
{
    if (!w->err && keel_buf_append(w->b, s, n) != KEEL_OK) w->err = KEEL_ENOMEM;
}

void doc_put(doc_writer *w, const char *s)
{
    doc_putn(w, s, strlen(s));
}

/* keel_buf_printf with the sticky error (base.h has no va_list form to wrap). */
void doc_putf(doc_writer *w, const char *fmt, ...)
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

void doc_html(doc_writer *w, const char *s)
{
    if (!w->md) doc_put(w, s);
}

/* ---- escaping ---------------------------------------------------------------------------- */

/* The replacement of code point cp in the current mode, or NULL to copy it. pic has room
 * for a 3-byte Control Pictures symbol. first: cp starts the string, where Markdown would
 * read '-', '+', '=' and '#' as a list, a heading or an underline. */
static const char *escape_cp(const doc_writer *w, uint32_t cp, bool ok, bool first, char pic[4])
{
    if (!ok || doc_cp_hidden(cp)) return "\xef\xbf\xbd";
    if (cp < 0x20 || cp == 0x7f) {
        uint32_t q = cp == 0x7f ? 0x2421 : 0x2400 + cp; /* U+2400..U+2421, 3 bytes */
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

void doc_text(doc_writer *w, const char *s, size_t n, size_t max_w)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, width = 0, run = 0; /* run: start of bytes not yet written verbatim */
    while (i < n) {
        size_t len = doc_utf8_seq_len(p[i]);
        bool ok = len && i + len <= n && keel_utf8_valid(s + i, len);
        uint32_t cp = ok ? doc_utf8_decode(p + i, len) : 0xfffd;
        int cw = doc_cp_width(cp);
        if (max_w && width + (size_t)cw > max_w) {
            doc_putn(w, s + run, i - run);
            doc_put(w, "\xe2\x80\xa6"); /* … */
            return;
        }
        width += (size_t)cw;
        char pic[4];
        const char *rep = escape_cp(w, cp, ok, i == 0, pic);
        size_t adv = ok ? len : 1;
        if (rep) {
            doc_putn(w, s + run, i - run);
            doc_put(w, rep);
            run = i + adv;
        }
        i += adv;
    }
    doc_putn(w, s + run, n - run);
}

void doc_textz(doc_writer *w, const char *s, size_t max_w)
{
    doc_text(w, s, strlen(s), max_w);
}

/* ---- JSON access ------------------------------------------------------------------------- */

const keel_json *doc_jget(const keel_json *obj, const char *key, keel_json_type type)
{
    const keel_json *v = keel_json_get(obj, key); /* NULL for a NULL or non-object obj */
    return v && v->type == type ? v : NULL;
}

const keel_json *doc_jobj(const keel_json *obj, const char *key)
{
    return doc_jget(obj, key, KEEL_JSON_OBJECT);
}

const keel_json *doc_jarr(const keel_json *obj, const char *key)
{
    return doc_jget(obj, key, KEEL_JSON_ARRAY);
}

const keel_json *doc_jstr(const keel_json *obj, const char *key)
{
    return doc_jget(obj, key, KEEL_JSON_STRING);
}

const keel_json *doc_jstr_nonempty(const keel_json *obj, const char *key)
{
    const keel_json *s = doc_jget(obj, key, KEEL_JSON_STRING);
    return s && s->u.string.len ? s : NULL;
}

bool doc_jnum(const keel_json *v, double *out)
{
    if (!v || v->type != KEEL_JSON_NUMBER || !isfinite(v->u.number.value)) return false;
    *out = v->u.number.value;
    return true;
}

bool doc_jnum_member(const keel_json *obj, const char *key, double *out)
{
    return doc_jnum(keel_json_get(obj, key), out);
}

double doc_jnumd(const keel_json *obj, const char *key)
{
    double v;
    return doc_jnum_member(obj, key, &v) ? v : NAN;
}

bool doc_jtrue(const keel_json *obj, const char *key)
{
    const keel_json *v = doc_jget(obj, key, KEEL_JSON_BOOL);
    return v && v->u.boolean;
}

const keel_json *doc_item(const keel_json *arr, size_t i)
{
    const keel_json *v = keel_json_at(arr, i);
    return v && v->type == KEEL_JSON_OBJECT ? v : NULL;
}

bool doc_jstr_is(const keel_json *s, const char *lit)
{
    size_t n = strlen(lit);
    return s && s->type == KEEL_JSON_STRING && s->u.string.len == n &&
           memcmp(s->u.string.s, lit, n) == 0;
}

void doc_jtext(doc_writer *w, const keel_json *s, size_t max_w, const char *fallback)
{
    if (s && s->type == KEEL_JSON_STRING)
        doc_text(w, s->u.string.s, s->u.string.len, max_w);
    else
        doc_textz(w, fallback, 0);
}

void doc_jtext_nonempty(doc_writer *w, const keel_json *s, size_t max_w, const char *fallback)
{
    if (s && s->type == KEEL_JSON_STRING && s->u.string.len)
        doc_text(w, s->u.string.s, s->u.string.len, max_w);
    else
        doc_textz(w, fallback, 0);
}

/* ---- numbers for people ------------------------------------------------------------------- */

void doc_fmt_stat(double v, char out[DOC_FMT], doc_sci sci)
{
    double a = fabs(v);
    if (!isfinite(v)) {
        snprintf(out, DOC_FMT, "\xe2\x80\x94");
    } else if (a == 0) {
        snprintf(out, DOC_FMT, "0");
    } else if (a >= 1e15 || a < 1e-4) {
        char tmp[24];
        if (sci == DOC_SCI_E)
            snprintf(tmp, sizeof tmp, "%.3e", v);
        else
            snprintf(tmp, sizeof tmp, "%.4g", v);
        /* 1.235e+15 -> 1.235e15, 1.2e-05 -> 1.2e-5: shorter and still unambiguous. */
        char *ex = strchr(tmp, 'e');
        if (ex) {
            *ex = '\0';
            doc_trim_zeros(tmp);
            const char *d = ex + 1;
            bool neg = *d == '-';
            if (*d == '+' || *d == '-') d++;
            while (*d == '0' && d[1])
                d++;
            snprintf(out, DOC_FMT, "%se%s%s", tmp, neg ? "-" : "", d);
        } else {
            snprintf(out, DOC_FMT, "%s", tmp);
        }
    } else if (a >= 999.5) {
        doc_fmt_int(round(v), out);
    } else {
        int decimals = 3 - (int)floor(log10(a));
        if (decimals < 0) decimals = 0;
        snprintf(out, DOC_FMT, "%.*f", decimals, v);
        if (fabs(strtod(out, NULL)) >= 1000) { /* 999.96 rounded up to 1000.0 */
            doc_fmt_int(round(v), out);
            return;
        }
        doc_trim_zeros(out);
        if (strcmp(out, "-0") == 0) snprintf(out, DOC_FMT, "0");
    }
}

void doc_fmt_count(double v, char out[DOC_FMT], doc_sci sci)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e18)
        doc_fmt_int(v, out);
    else
        doc_fmt_stat(v, out, sci);
}

void doc_fmt_share(double share, char out[DOC_FMT])
{
    if (!isfinite(share)) {
        snprintf(out, DOC_FMT, "\xe2\x80\x94");
        return;
    }
    double p = 100 * share;
    if (p > 0 && p < 0.05)
        snprintf(out, DOC_FMT, "<0.1%%");
    else if (p < 100 && p >= 99.95)
        snprintf(out, DOC_FMT, ">99.9%%");
    else if (fabs(p) < 1e6)
        snprintf(out, DOC_FMT, "%.1f%%", p);
    else
        snprintf(out, DOC_FMT, "\xe2\x80\x94");
}

void doc_fmt_pct_of(double part, double whole, char out[DOC_FMT])
{
    if (!(whole > 0) || !isfinite(part) || !isfinite(whole)) {
        snprintf(out, DOC_FMT, "\xe2\x80\x94");
        return;
    }
    double p = 100.0 * (part / whole);
    if (!isfinite(p)) {
        snprintf(out, DOC_FMT, "\xe2\x80\x94");
    } else if (!(fabs(p) < 1000)) { /* part > whole: inconsistent, but show it as it is */
        char v[DOC_FMT];
        doc_fmt_stat(p, v, DOC_SCI_G);
        snprintf(out, DOC_FMT, "%.40s%%", v);
    } else if (part > 0 && p < 0.05)
        snprintf(out, DOC_FMT, "&lt;0.1%%");
    else if (part < whole && p >= 99.95 && p < 100)
        snprintf(out, DOC_FMT, "&gt;99.9%%");
    else
        snprintf(out, DOC_FMT, "%.1f%%", p);
}

void doc_fmt_axis(double v, char out[DOC_FMT], doc_sci sci)
{
    static const struct {
        double div;
        const char *suffix;
    } units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}};
    double a = fabs(v);
    if (a >= 1e4 && a < 1e15) {
        for (size_t i = 0; i < KEEL_ARRAY_LEN(units); i++) {
            if (a >= units[i].div) {
                char tmp[DOC_FMT];
                snprintf(tmp, sizeof tmp, "%.3g", v / units[i].div);
                snprintf(out, DOC_FMT, "%s%s", tmp, units[i].suffix);
                return;
            }
        }
    }
    doc_fmt_stat(v, out, sci);
}

double doc_nice_step(double span, int target)
{
    if (!(span > 0) || !isfinite(span)) return 0;
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    return isfinite(step) && step > 0 ? step : 0;
}

void doc_put_stat(doc_writer *w, double v)
{
    char s[DOC_FMT];
    doc_fmt_stat(v, s, w->sci);
    doc_textz(w, s, 0);
}

void doc_put_count(doc_writer *w, double v)
{
    char s[DOC_FMT];
    doc_fmt_count(v, s, w->sci);
    doc_textz(w, s, 0);
}

void doc_put_share(doc_writer *w, double share)
{
    char s[DOC_FMT];
    doc_fmt_share(share, s);
    doc_textz(w, s, 0);
}

void doc_put_jcount(doc_writer *w, const keel_json *v)
{
    double x;
    doc_put_count(w, doc_jnum(v, &x) ? x : NAN); /* NaN is written "—" */
}

void doc_put_ci(doc_writer *w, double v, double lo, double hi)
{
    doc_put_stat(w, v);
    if (isfinite(lo) && isfinite(hi)) {
        char a[DOC_FMT], b[DOC_FMT];
        doc_fmt_stat(lo, a, w->sci);
        doc_fmt_stat(hi, b, w->sci);
        doc_put(w, w->md ? " (" : " <span class=\"ci\">(");
        doc_textz(w, a, 0);
        doc_put(w, " \xe2\x80\x93 ");
        doc_textz(w, b, 0);
        doc_put(w, w->md ? ")" : ")</span>");
    }
}

/* ---- structure ----------------------------------------------------------------------------- */

void doc_heading(doc_writer *w, int level, const char *id, const char *title)
{
    if (w->md)
        doc_putf(w, "\n%.*s %s\n\n", level, "######", title);
    else
        doc_putf(w, "<h%d id=\"%s\">%s</h%d>\n", level, id, title, level);
}

void doc_para_begin(doc_writer *w, const char *cls)
{
    if (w->md) return;
    if (cls)
        doc_putf(w, "<p class=\"%s\">", cls);
    else
        doc_put(w, "<p>");
}

void doc_para_end(doc_writer *w)
{
    doc_put(w, w->md ? "\n\n" : "</p>\n");
}

void doc_notice_begin(doc_writer *w, const char *kind)
{
    if (w->md)
        doc_putf(w, "> **%s** ", !strcmp(kind, "warn") ? "Attention:" : "Note:");
    else
        doc_putf(w, "<div class=\"callout %s\">", kind);
}

void doc_notice_end(doc_writer *w)
{
    doc_put(w, w->md ? "\n\n" : "</div>\n");
}

void doc_notice(doc_writer *w, const char *kind, const char *msg)
{
    doc_notice_begin(w, kind);
    doc_put(w, msg);
    doc_notice_end(w);
}

void doc_code(doc_writer *w, const keel_json *s, size_t max_w)
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
            doc_text(w, s->u.string.s, s->u.string.len, max_w);
            return;
        }
        doc_put(w, "`");
        /* In a code span nothing is markup, not even HTML: only invisible characters are
         * replaced (commands are never in tables, so a pipe cannot end a cell). */
        w->code = true;
        doc_text(w, s->u.string.s, s->u.string.len, max_w);
        w->code = false;
        doc_put(w, "`");
    } else {
        doc_put(w, "<code>");
        doc_text(w, s->u.string.s, s->u.string.len, max_w);
        doc_put(w, "</code>");
    }
}

void doc_table_begin(doc_writer *w, const char *cls, const char *const *headers, size_t n)
{
    if (w->md) {
        doc_put(w, "|");
        for (size_t i = 0; i < n; i++)
            doc_putf(w, " %s |", headers[i]);
        doc_put(w, "\n|");
        for (size_t i = 0; i < n; i++)
            doc_put(w, "---|");
        doc_put(w, "\n");
    } else {
        doc_putf(w, "<table class=\"%s\"><thead><tr>", cls ? cls : "t");
        for (size_t i = 0; i < n; i++)
            doc_putf(w, "<th>%s</th>", headers[i]);
        doc_put(w, "</tr></thead><tbody>\n");
    }
}

void doc_row_begin(doc_writer *w, const char *cls)
{
    w->cell = 0;
    if (w->md)
        doc_put(w, "|");
    else if (cls)
        doc_putf(w, "<tr class=\"%s\">", cls);
    else
        doc_put(w, "<tr>");
}

void doc_cell(doc_writer *w, const char *cls)
{
    if (w->md) {
        doc_put(w, w->cell ? " | " : " ");
    } else {
        if (w->cell) doc_put(w, "</td>");
        if (cls)
            doc_putf(w, "<td class=\"%s\">", cls);
        else
            doc_put(w, "<td>");
    }
    w->cell++;
}

void doc_row_end(doc_writer *w)
{
    doc_put(w, w->md ? " |\n" : (w->cell ? "</td></tr>\n" : "</tr>\n"));
}

void doc_table_end(doc_writer *w)
{
    doc_put(w, w->md ? "\n" : "</tbody></table>\n");
}

void doc_facts_begin(doc_writer *w)
{
    static const char *const h[] = {"", ""};
    if (w->md)
        doc_table_begin(w, NULL, h, 2);
    else
        doc_put(w, "<table class=\"facts\"><tbody>\n");
}

void doc_fact_begin(doc_writer *w, const char *key)
{
    doc_row_begin(w, NULL);
    doc_cell(w, "k");
    doc_put(w, key);
    doc_cell(w, NULL);
}

void doc_fact_str(doc_writer *w, const char *key, const keel_json *v, size_t max_w)
{
    if (!v) return;
    doc_fact_begin(w, key);
    doc_jtext_nonempty(w, v, max_w, "");
    doc_row_end(w);
}

void doc_fact_count(doc_writer *w, const char *key, const keel_json *o, const char *field)
{
    double v;
    if (!doc_jnum_member(o, field, &v)) return;
    doc_fact_begin(w, key);
    doc_put_count(w, v);
    doc_row_end(w);
}

void doc_mono(doc_writer *w, const keel_json *s, size_t max_w)
{
    doc_html(w, "<span class=\"mono\">");
    doc_jtext_nonempty(w, s, max_w, "\xe2\x80\x94");
    doc_html(w, "</span>");
}
