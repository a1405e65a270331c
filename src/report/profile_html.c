/*
 * profile_html.c — a data profile (docs/profile.md) rendered as one HTML page.
 *
 * The reader is an auditor or a domain expert, so the page leads with provenance (source,
 * its SHA-256, when, how many records were quarantined), then an overview table of every
 * column, then one card per column with a statistics table and a chart: a histogram for
 * numeric and timestamp columns, a horizontal bar chart of the most frequent values for
 * the others. Charts are inline SVG; tooltips are SVG <title> elements, so the page needs
 * no script and carries a Content-Security-Policy that forbids scripts and fetches. A
 * print stylesheet keeps cards whole and colours on paper.
 *
 * The renderer is driven by what the profile contains, not by the declared type: a column
 * with a "numeric" object gets numeric statistics whatever its "type" says, so an unknown
 * future type still renders sensibly. Every field may be absent, null or of the wrong
 * type (old or hostile files); a missing value shows as "—". Only a root that is not an
 * object, or has no "columns" array, is refused.
 *
 * Output size is bounded per column: histograms are regrouped to at most MAX_BINS bars,
 * top-value lists are cut at MAX_TOP entries, and every string from the file is cut at a
 * fixed display width, so the page grows with the number of columns and never with the
 * number of rows (only the digits of the counts do).
 *
 * Writing, escaping, reading tolerant JSON and formatting numbers go through the report
 * toolkit (doc.c) the model card uses too: a sticky-error writer (after the first failed
 * append every later write is a no-op, and the one check at the end restores the caller's
 * buffer), so the only memory used is the output buffer itself; all scratch space is on the
 * stack. The profile keeps the toolkit's profile forms where the two reports differ:
 * DOC_SCI_G for tiny numbers, doc_jtext (an empty string shows as empty), doc_fmt_pct_of.
 *
 * Numbers are written for people: counts exactly with thousands separators, statistics
 * with four significant digits (but never rounding away integer digits: 121,690.5 shows
 * as 121,691, not 121,700), percentages with one decimal, where a share that is not zero
 * never shows as 0.0% (it shows as <0.1%).
 */
#include "report/report.h"
#include "report/doc.h"

#include "data/profile.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_BINS = 200,  /* most histogram bars drawn; finer histograms are regrouped */
    SPARK_BINS = 40, /* most bars in an overview sparkline */
    MAX_TOP = 20,    /* most top values listed in a card; the rest join "other" */
    SPARK_TOP = 6,   /* most segments in an overview stacked bar */
    W_NAME = 120,    /* display width (columns) kept of a column name */
    W_VALUE = 160,   /* ... of a value in a table cell or tooltip */
    W_LABEL = 26,    /* ... of a value written beside a bar */
    W_HEAD = 200     /* ... of header strings (source, created, version) */
};

/* Histogram chart geometry (SVG user units). */
#define CW 600.0
#define CH 236.0
#define ML 58.0
#define MR 18.0
#define MT 16.0
#define MB 46.0
#define PW (CW - ML - MR)
#define PH (CH - MT - MB)

/* ---- histograms ----------------------------------------------------------------------- */

typedef struct hist {
    size_t n;                             /* bars; 0 when there is no usable histogram */
    size_t n_raw;                         /* bins in the file (n < n_raw when regrouped) */
    double count[MAX_BINS];               /* per bar, negative or non-numbers read as 0 */
    double edge[MAX_BINS + 1];            /* numeric edges, when has_edges */
    const keel_json *label[MAX_BINS + 1]; /* timestamp edges (strings) or NULL */
    bool has_edges;                       /* n + 1 finite, non-decreasing numeric edges */
    bool linear;                          /* bars placed on a linear value axis */
    bool uniform;                         /* equal widths: bar height is the count */
    bool bad_counts;                      /* some counts were not non-negative numbers */
    double total, max;
} hist;

/* Reads {"edges": [...], "counts": [...]}; numeric edges when numeric, else ISO strings. */
static void hist_load(hist *hs, const keel_json *obj, bool numeric)
{
    memset(hs, 0, sizeof *hs);
    const keel_json *counts = doc_jget(obj, "counts", KEEL_JSON_ARRAY);
    const keel_json *edges = doc_jget(obj, "edges", KEEL_JSON_ARRAY);
    size_t n_raw = keel_json_len(counts);
    if (n_raw == 0) return;
    size_t group = (n_raw + MAX_BINS - 1) / MAX_BINS; /* raw bins per bar */
    hs->n_raw = n_raw;
    hs->n = (n_raw + group - 1) / group;
    for (size_t i = 0; i < n_raw; i++) {
        double c;
        if (!doc_jnum(keel_json_at(counts, i), &c) || c < 0) {
            hs->bad_counts = true;
            c = 0;
        }
        c = fmin(c, 1e300); /* keeps every sum below finite-double overflow */
        hs->count[i / group] += c;
        hs->total += c;
    }
    for (size_t j = 0; j < hs->n; j++)
        hs->max = KEEL_MAX(hs->max, hs->count[j]);
    if (keel_json_len(edges) != n_raw + 1) return;
    if (!numeric) {
        for (size_t j = 0; j <= hs->n; j++) {
            const keel_json *s = keel_json_at(edges, j < hs->n ? j * group : n_raw);
            hs->label[j] = s && s->type == KEEL_JSON_STRING && s->u.string.len ? s : NULL;
        }
        return;
    }
    double prev = -INFINITY;
    for (size_t i = 0; i <= n_raw; i++) {
        double x;
        if (!doc_jnum(keel_json_at(edges, i), &x) || x < prev) return;
        prev = x;
    }
    for (size_t j = 0; j < hs->n; j++)
        doc_jnum(keel_json_at(edges, j * group), &hs->edge[j]);
    doc_jnum(keel_json_at(edges, n_raw), &hs->edge[hs->n]);
    hs->has_edges = true;
    double lo = hs->edge[0], hi = hs->edge[hs->n], span = hi - lo;
    if (!(span > 0) || !isfinite(span)) return;
    hs->linear = true;
    hs->uniform = true;
    for (size_t j = 0; j < hs->n; j++) {
        double w = hs->edge[j + 1] - hs->edge[j];
        if (fabs(w - span / (double)hs->n) > 1e-6 * span) hs->uniform = false;
        if (hs->count[j] > 0 && (w <= 0 || !isfinite(hs->count[j] / w)))
            hs->linear = false; /* a point mass on a value axis has no drawable density */
    }
}

/* Height of bar j relative to the tallest: counts for equal widths, else densities. */
static double hist_height(const hist *hs, size_t j, double *ref)
{
    if (!hs->linear || hs->uniform) {
        *ref = hs->max;
        return hs->count[j];
    }
    double top = 0;
    for (size_t k = 0; k < hs->n; k++) {
        double w = hs->edge[k + 1] - hs->edge[k];
        if (w > 0) top = KEEL_MAX(top, hs->count[k] / w);
    }
    *ref = top;
    double w = hs->edge[j + 1] - hs->edge[j];
    return w > 0 ? hs->count[j] / w : 0;
}

/* Whether s looks like an ISO timestamp to the minute at least: "YYYY-MM-DDTHH:MM...". */
static bool ts_iso(const keel_json *s)
{
    return s && s->type == KEEL_JSON_STRING && s->u.string.len >= 16 && s->u.string.s[4] == '-' &&
           s->u.string.s[10] == 'T';
}

/* An ISO timestamp as an axis label: the date alone when every tick falls on its own day,
 * else the time to the minute as well (with the year only at the two ends). */
static void ts_tick(doc_writer *h, const keel_json *s, bool dates_only, bool end)
{
    const char *p = s->u.string.s;
    if (!ts_iso(s)) {
        doc_text(h, p, s->u.string.len, 12);
    } else if (dates_only) {
        doc_text(h, p, 10, 0);
    } else {
        doc_text(h, end ? p : p + 5, end ? 10 : 5, 0);
        doc_put(h, " ");
        doc_text(h, p + 11, 5, 0);
    }
}

static double px_of(const hist *hs, double v)
{
    /* Divide first: PW * (v - lo) alone can overflow near the largest doubles. */
    return ML + PW * ((v - hs->edge[0]) / (hs->edge[hs->n] - hs->edge[0]));
}

/* x of bar boundary j: by value on a linear axis, else evenly spaced. */
static double px_edge(const hist *hs, size_t j)
{
    return hs->linear ? px_of(hs, hs->edge[j]) : ML + PW * (double)j / (double)hs->n;
}

/* The text of bin j's range for a tooltip. */
static void bin_range(doc_writer *h, const hist *hs, size_t j, bool numeric)
{
    if (numeric && hs->has_edges) {
        char a[DOC_FMT], b[DOC_FMT];
        doc_fmt_stat(hs->edge[j], a, DOC_SCI_G);
        doc_fmt_stat(hs->edge[j + 1], b, DOC_SCI_G);
        doc_putf(h, "[%s, %s%s", a, b, j + 1 == hs->n ? "]" : ")");
    } else if (!numeric && hs->label[j] && hs->label[j + 1]) {
        doc_jtext(h, hs->label[j], 40, "");
        doc_put(h, " \xe2\x80\x93 ");
        doc_jtext(h, hs->label[j + 1], 40, "");
    } else {
        doc_putf(h, "bin %zu of %zu", j + 1, hs->n);
    }
}

static void tick_label(doc_writer *h, double x, double y, const char *anchor, const char *cls)
{
    doc_putf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
}

/* The histogram card chart. whole is the denominator for the tooltip percentages; median
 * (NAN when unknown) is marked with a dashed line. */
static void hist_chart(doc_writer *h, const hist *hs, bool numeric, double whole, double median)
{
    double ref;
    doc_putf(h, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", CW, CH);
    bool counts_axis = !hs->linear || hs->uniform;
    double ymax = 0;
    (void)hist_height(hs, 0, &ref);
    double ystep = counts_axis && hs->max > 0 ? doc_nice_step(hs->max, 4) : 0;
    if (ystep > 0) {
        double step = ystep;
        ymax = ceil(hs->max / step) * step;
        for (int k = 0; k <= 8; k++) {
            double v = k * step;
            if (v > ymax * (1 + 1e-9)) break;
            double y = MT + PH - PH * (v / ymax);
            char s[DOC_FMT];
            doc_fmt_axis(v, s, DOC_SCI_G);
            if (k > 0)
                doc_putf(h,
                         "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                         ML, ML + PW, y, y);
            tick_label(h, ML - 6, y + 4, "end", "tick");
            doc_putf(h, "%s</text>", s);
        }
        doc_putf(h,
                 "<text class=\"axis-title\" transform=\"translate(14 %.1f) rotate(-90)\" "
                 "text-anchor=\"middle\">count</text>",
                 MT + PH / 2);
    } else if (counts_axis) {
        ymax = hs->max; /* no ticks, but bars keep their proportions */
    } else {
        doc_putf(h,
                 "<text class=\"axis-title\" transform=\"translate(14 %.1f) rotate(-90)\" "
                 "text-anchor=\"middle\">density</text>",
                 MT + PH / 2);
    }
    if (hs->total <= 0)
        doc_putf(h,
                 "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no values"
                 "</text>",
                 ML + PW / 2, MT + PH / 2);
    for (size_t j = 0; j < hs->n; j++) {
        double v = hist_height(hs, j, &ref);
        double x0 = px_edge(hs, j), x1 = px_edge(hs, j + 1);
        if (x1 - x0 > 3) {
            x0 += 0.5;
            x1 -= 0.5;
        }
        double bh = ref > 0 ? PH * (v / (counts_axis ? ymax : ref * 1.05)) : 0;
        if (hs->count[j] > 0 && bh < 1) bh = 1; /* a single outlier must stay visible */
        char c[DOC_FMT], p[DOC_FMT];
        doc_fmt_count(hs->count[j], c, DOC_SCI_G);
        doc_fmt_pct_of(hs->count[j], whole, p);
        doc_putf(h, "<rect class=\"bar%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\">",
                 numeric ? "" : " ts", x0, MT + PH - bh, KEEL_MAX(x1 - x0, 0.5), bh);
        doc_put(h, "<title>");
        bin_range(h, hs, j, numeric);
        doc_putf(h, ": %s (%s)</title></rect>", c, p);
    }
    double base = MT + PH;
    doc_putf(h, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", ML,
             ML + PW, base, base);

    /* x axis: the two ends in bold (the minimum and maximum), nice ticks between them. */
    double ly = base + 16;
    if (numeric && hs->has_edges) {
        char s[DOC_FMT];
        doc_fmt_stat(hs->edge[0], s, DOC_SCI_G);
        tick_label(h, ML, ly, "start", "tick end");
        doc_putf(h, "%s</text>", s);
        doc_fmt_stat(hs->edge[hs->n], s, DOC_SCI_G);
        tick_label(h, ML + PW, ly, "end", "tick end");
        doc_putf(h, "%s</text>", s);
        if (hs->linear) {
            double lo = hs->edge[0], hi = hs->edge[hs->n];
            double step = doc_nice_step(hi - lo, 6);
            double first = ceil(lo / step) * step;
            for (int k = 0; k < 16 && step > 0; k++) {
                double v = first + k * step;
                if (v > hi) break;
                double x = px_of(hs, v);
                doc_putf(h,
                         "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                         x, x, base, base + 4);
                if (x - ML < 44 || ML + PW - x < 44)
                    continue; /* would collide with the bold end labels */
                doc_fmt_axis(fabs(v) < step * 1e-9 ? 0 : v, s, DOC_SCI_G);
                tick_label(h, x, ly, "middle", "tick");
                doc_putf(h, "%s</text>", s);
            }
            if (isfinite(median) && median >= lo && median <= hi) {
                double x = px_of(hs, median);
                doc_putf(h,
                         "<line class=\"median\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\">"
                         "<title>median ",
                         x, x, MT - 4, base);
                doc_put_stat(h, median);
                doc_putf(h,
                         "</title></line><text class=\"median-label\" x=\"%.1f\" y=\"%.1f\" "
                         "text-anchor=\"%s\">median</text>",
                         x + (x > ML + PW - 60 ? -4 : 4), MT + 6,
                         x > ML + PW - 60 ? "end" : "start");
            }
        }
    } else if (!numeric) {
        /* Ticks at about six evenly spaced bin edges; fewer when the labels carry times. */
        size_t n_ticks = KEEL_MIN(hs->n, (size_t)5), idx[6];
        bool dates_only = true;
        for (size_t k = 0; k <= n_ticks; k++) {
            idx[k] = (k * hs->n + n_ticks / 2) / n_ticks;
            const keel_json *a = hs->label[idx[k]], *b = k ? hs->label[idx[k - 1]] : NULL;
            if (a && b && (!ts_iso(a) || !ts_iso(b) || !memcmp(a->u.string.s, b->u.string.s, 10)))
                dates_only = false;
        }
        if (!dates_only && n_ticks > 3) {
            n_ticks = 3;
            for (size_t k = 0; k <= n_ticks; k++)
                idx[k] = (k * hs->n + n_ticks / 2) / n_ticks;
        }
        for (size_t k = 0; k <= n_ticks; k++) {
            size_t j = idx[k];
            if (!hs->label[j]) continue;
            bool end = k == 0 || k == n_ticks;
            double x = px_edge(hs, j);
            doc_putf(h, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x,
                     x, base, base + 4);
            tick_label(h, x, ly,
                       k == 0         ? "start"
                       : k == n_ticks ? "end"
                                      : "middle",
                       end ? "tick end" : "tick");
            ts_tick(h, hs->label[j], dates_only, end);
            doc_put(h, "</text>");
        }
    }
    doc_putf(h, "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
             ML + PW / 2, CH - 6, numeric ? "value" : "time (UTC)");
    doc_put(h, "</svg>");
}

/* A tiny histogram for the overview table. */
static void hist_spark(doc_writer *h, const hist *hs, bool numeric)
{
    const double w = 96, ht = 22;
    size_t group = (hs->n + SPARK_BINS - 1) / SPARK_BINS;
    size_t n = (hs->n + group - 1) / group;
    double c[SPARK_BINS] = {0}, max = 0;
    for (size_t j = 0; j < hs->n; j++)
        c[j / group] += hs->count[j];
    for (size_t j = 0; j < n; j++)
        max = KEEL_MAX(max, c[j]);
    doc_putf(h, "<svg class=\"spark\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">", w,
             ht, w, ht);
    doc_putf(h, "<line class=\"axis\" x1=\"0\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>", w, ht - 0.5,
             ht - 0.5);
    for (size_t j = 0; j < n && max > 0; j++) {
        double bh = (ht - 1) * (c[j] / max);
        if (c[j] > 0 && bh < 1) bh = 1;
        double bw = w / (double)n;
        doc_putf(h, "<rect class=\"bar%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                 numeric ? "" : " ts", bw * (double)j + (bw > 3 ? 0.5 : 0), ht - 1 - bh,
                 bw > 3 ? bw - 1 : bw, bh);
    }
    doc_put(h, "</svg>");
}

/* ---- top values ----------------------------------------------------------------------- */

/* A top-value entry's value: a string, a number's text, or a placeholder. */
static void top_value(doc_writer *h, const keel_json *v, size_t max_w)
{
    if (v && v->type == KEEL_JSON_STRING && v->u.string.len == 0)
        doc_put(h, "<tspan class=\"ph\">(empty)</tspan>");
    else if (v && v->type == KEEL_JSON_STRING)
        doc_text(h, v->u.string.s, v->u.string.len, max_w);
    else if (v && v->type == KEEL_JSON_NUMBER)
        doc_text(h, v->u.number.text, v->u.number.len, max_w);
    else if (v && v->type == KEEL_JSON_BOOL)
        doc_put(h, v->u.boolean ? "true" : "false");
    else
        doc_put(h, "<tspan class=\"ph\">(no value)</tspan>");
}

/* Sums what the card does not list: other_count plus the entries beyond MAX_TOP. */
static double top_rest(const keel_json *top, const keel_json *col, size_t *n_more)
{
    double rest = 0, x;
    if (doc_jnum(keel_json_get(col, "other_count"), &x) && x > 0) rest += x;
    *n_more = 0;
    for (size_t i = MAX_TOP; i < keel_json_len(top); i++) {
        if (doc_jnum(keel_json_get(keel_json_at(top, i), "count"), &x) && x > 0) rest += x;
        (*n_more)++;
    }
    return rest;
}

static double top_count(const keel_json *entry)
{
    double c;
    return doc_jnum(keel_json_get(entry, "count"), &c) && c > 0 ? c : 0;
}

static void top_chart(doc_writer *h, const keel_json *top, const keel_json *col, double whole)
{
    const double row = 24, lw = 214, bw = 290;
    size_t n = KEEL_MIN(keel_json_len(top), (size_t)MAX_TOP), n_more;
    double rest = top_rest(top, col, &n_more), max = rest;
    for (size_t i = 0; i < n; i++)
        max = KEEL_MAX(max, top_count(keel_json_at(top, i)));
    size_t rows = n + (rest > 0 ? 1 : 0);
    double height = row * (double)rows + 8;
    doc_putf(h, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">", CW, height);
    doc_putf(h, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"2\" y2=\"%.1f\"/>", lw, lw,
             height - 4);
    for (size_t i = 0; i < rows; i++) {
        bool other = i == n;
        const keel_json *entry = other ? NULL : keel_json_at(top, i);
        double c = other ? rest : top_count(entry);
        double y = 4 + row * (double)i;
        double len = max > 0 ? bw * (c / max) : 0;
        if (c > 0 && len < 1) len = 1;
        char cs[DOC_FMT], ps[DOC_FMT];
        doc_fmt_count(c, cs, DOC_SCI_G);
        doc_fmt_pct_of(c, whole, ps);
        doc_put(h, "<g><title>");
        if (other) {
            doc_put(h, "all other values");
        } else {
            top_value(h, keel_json_get(entry, "value"), W_VALUE);
        }
        doc_putf(h, ": %s (%s)</title>", cs, ps);
        doc_putf(h, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                 other ? "label other" : "label", lw - 8, y + 15);
        if (other && n_more)
            doc_putf(h, "other (+%zu listed)", n_more);
        else if (other)
            doc_put(h, "other");
        else
            top_value(h, keel_json_get(entry, "value"), W_LABEL);
        doc_putf(h,
                 "</text><rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" "
                 "height=\"%.1f\"/>",
                 other ? " other" : "", lw + 1, y + 3, len, row - 7);
        doc_putf(h,
                 "<text class=\"val\" x=\"%.1f\" y=\"%.1f\">%s <tspan class=\"pct\">%s</tspan>"
                 "</text></g>",
                 lw + 1 + len + 6, y + 15, cs, ps);
    }
    doc_put(h, "</svg>");
}

/* A stacked bar of the leading values' shares for the overview table. */
static void top_spark(doc_writer *h, const keel_json *top, const keel_json *col, double whole)
{
    const double w = 96, ht = 12;
    size_t n = KEEL_MIN(keel_json_len(top), (size_t)SPARK_TOP), n_more;
    double rest = top_rest(top, col, &n_more), sum = rest;
    for (size_t i = 0; i < keel_json_len(top) && i < MAX_TOP; i++)
        sum += top_count(keel_json_at(top, i));
    for (size_t i = n; i < keel_json_len(top) && i < MAX_TOP; i++)
        rest += top_count(keel_json_at(top, i));
    double denom = KEEL_MAX(whole, sum);
    doc_putf(h,
             "<svg class=\"spark\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">"
             "<rect class=\"track\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\"/>",
             w, ht, w, ht, w, ht);
    double x = 0;
    for (size_t i = 0; i <= n && denom > 0; i++) {
        const keel_json *entry = i < n ? keel_json_at(top, i) : NULL;
        double c = i < n ? top_count(entry) : rest;
        double sw = w * (c / denom);
        if (sw <= 0) continue;
        doc_putf(h, "<rect class=\"seg%s\" x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"%.0f\">",
                 i < n ? (i % 2 ? " s1" : " s0") : " other", x, sw, ht);
        doc_put(h, "<title>");
        if (entry)
            top_value(h, keel_json_get(entry, "value"), W_LABEL);
        else
            doc_put(h, "other");
        char ps[DOC_FMT];
        doc_fmt_pct_of(c, whole, ps);
        doc_putf(h, ": %s</title></rect>", ps);
        x += sw;
    }
    doc_put(h, "</svg>");
}

/* ---- the page -------------------------------------------------------------------------- */

static const char CSS[] =
    ":root{--ink:#1a2332;--muted:#5d6b7c;--line:#d8dee6;--soft:#f3f5f8;--navy:#16324f;"
    "--bar:#3a6ea5;--ts:#2c7a74;--other:#a3acb7;--warn:#9a3412;--warnbg:#fff4e5;"
    "--warnline:#f0b46a;--pii:#7a1f5c;--piibg:#fbeef6}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{margin:0;background:var(--soft);color:var(--ink);"
    "font:14px/1.45 \"Segoe UI\",\"Helvetica Neue\",Helvetica,Arial,sans-serif}\n"
    ".top{background:var(--navy);color:#fff;padding:26px 0 22px}\n"
    ".wrap{max-width:1180px;margin:0 auto;padding:0 32px}\n"
    ".kicker{text-transform:uppercase;letter-spacing:.12em;font-size:11px;opacity:.75}\n"
    "h1{font-size:26px;font-weight:600;margin:4px 0 2px;overflow-wrap:anywhere}\n"
    ".sub{opacity:.8;font-size:13px}\n"
    "h2{font-size:17px;font-weight:600;margin:30px 0 10px;color:var(--navy)}\n"
    ".panel{background:#fff;border:1px solid var(--line);border-radius:6px;padding:18px 22px;"
    "margin-top:22px}\n"
    ".kpis{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:14px}\n"
    ".kpi{flex:1 1 120px;border:1px solid var(--line);border-radius:5px;padding:10px 14px}\n"
    ".kpi .k{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}\n"
    ".kpi .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}\n"
    ".kpi .v small{font-size:13px;font-weight:500;color:var(--muted);margin-left:6px}\n"
    ".kpi.alert{border-color:var(--warnline);background:var(--warnbg)}\n"
    ".kpi.alert .v,.kpi.alert .v small{color:var(--warn)}\n"
    ".meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}\n"
    ".meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}\n"
    ".mono{font-family:\"SFMono-Regular\",Consolas,\"Liberation Mono\",Menlo,monospace;"
    "font-size:12.5px}\n"
    ".callout{border:1px solid var(--warnline);border-left:5px solid var(--warn);"
    "background:var(--warnbg);color:var(--warn);border-radius:5px;padding:10px 14px;"
    "margin:0 0 14px;font-weight:500}\n"
    ".note{color:var(--muted);font-size:12.5px}\n"
    "table{border-collapse:collapse}\n"
    ".ov{width:100%;background:#fff;border:1px solid var(--line)}\n"
    ".ov th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted);font-weight:600;background:var(--soft);padding:8px 10px;"
    "border-bottom:1px solid var(--line)}\n"
    ".ov td{padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:middle}\n"
    ".ov tr:last-child td{border-bottom:0}\n"
    ".ov a{color:var(--navy);font-weight:600;text-decoration:none;overflow-wrap:anywhere}\n"
    ".ov .dn{color:var(--muted);font-size:12px}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".txt{text-align:right}\n"
    ".ov th.num{text-align:right}\n"
    ".mbar{display:inline-block;width:56px;height:6px;background:#e6eaef;border-radius:3px;"
    "vertical-align:middle;margin-left:8px;overflow:hidden}\n"
    ".mbar span{display:block;height:100%;background:#c2410c}\n"
    ".badge{display:inline-block;font-size:11px;line-height:16px;padding:0 7px;"
    "border-radius:9px;border:1px solid var(--line);color:var(--muted);background:#fff;"
    "white-space:nowrap;font-weight:500;vertical-align:middle}\n"
    ".badge.target{border-color:#1f5f99;color:#1f5f99;background:#eaf2fb}\n"
    ".badge.pii{border-color:var(--pii);color:var(--pii);background:var(--piibg);"
    "font-weight:600}\n"
    ".badge.warn{border-color:var(--warnline);color:var(--warn);background:var(--warnbg)}\n"
    ".card{background:#fff;border:1px solid var(--line);border-radius:6px;margin:16px 0;"
    "padding:16px 20px 14px;break-inside:avoid;page-break-inside:avoid}\n"
    ".card h3{margin:0;font-size:17px;font-weight:600;display:flex;flex-wrap:wrap;"
    "align-items:center;gap:8px}\n"
    ".card h3 .idx{color:var(--muted);font-weight:500;font-size:13px;min-width:22px}\n"
    ".card h3 .name{overflow-wrap:anywhere}\n"
    ".card .dn{color:var(--muted);margin:2px 0 0 30px}\n"
    ".facts{display:flex;flex-wrap:wrap;gap:6px 34px;margin:12px 0 0;padding:8px 0;"
    "border-top:1px solid #edf0f3;border-bottom:1px solid #edf0f3}\n"
    ".facts .k{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted)}\n"
    ".facts .v{font-size:16px;font-weight:600;font-variant-numeric:tabular-nums}\n"
    ".facts small{font-size:12px;font-weight:400;color:var(--muted);margin-left:6px}\n"
    ".body{display:grid;grid-template-columns:minmax(0,300px) minmax(0,1fr);gap:8px 40px;"
    "margin-top:14px;align-items:start}\n"
    ".body.solo{grid-template-columns:minmax(0,1fr)}\n"
    ".stats table{font-size:13px;width:100%}\n"
    ".stats caption{text-align:left;font-size:11px;text-transform:uppercase;"
    "letter-spacing:.06em;color:var(--muted);font-weight:600;padding-bottom:4px}\n"
    ".stats th{text-align:left;font-weight:400;color:var(--muted);padding:3px 14px 3px 0;"
    "white-space:nowrap;border-bottom:1px solid #edf0f3}\n"
    ".stats td{padding:3px 0;border-bottom:1px solid #edf0f3;max-width:240px;"
    "overflow-wrap:anywhere}\n"
    ".stats tr:last-child td,.stats tr:last-child th{border-bottom:0}\n"
    "figure{margin:0;min-width:0;max-width:680px}\n"
    "figcaption{font-size:12px;color:var(--muted);margin-top:2px}\n"
    "svg{display:block;overflow:visible}\n"
    "svg.chart{width:100%;height:auto;font-family:inherit}\n"
    "svg.spark{display:inline-block;vertical-align:middle}\n"
    "svg .bar{fill:var(--bar)}svg .bar.ts{fill:var(--ts)}svg .bar.other{fill:var(--other)}\n"
    "svg rect:hover{opacity:.75}\n"
    "svg .track{fill:#eef1f4}svg .seg.s0{fill:var(--bar)}svg .seg.s1{fill:#7fa6cf}"
    "svg .seg.other{fill:var(--other)}\n"
    "svg .axis{stroke:#8a96a3;stroke-width:1}svg .grid{stroke:#e6eaef;stroke-width:1}\n"
    "svg .median{stroke:#c2410c;stroke-width:1.2;stroke-dasharray:4 3}\n"
    "svg .median-label{fill:#c2410c;font-size:10.5px}\n"
    "svg text{fill:var(--ink);font-size:11.5px}\n"
    "svg .tick{fill:var(--muted);font-size:11px;font-variant-numeric:tabular-nums}\n"
    "svg .tick.end{fill:var(--ink);font-weight:600}\n"
    "svg .axis-title{fill:var(--muted);font-size:10.5px;letter-spacing:.04em}\n"
    "svg .empty{fill:var(--muted);font-style:italic}\n"
    "svg .label{font-size:12px}svg .label.other,svg .ph{fill:var(--muted);font-style:italic}\n"
    "svg .val{font-size:11.5px;font-variant-numeric:tabular-nums}"
    "svg .pct{fill:var(--muted)}\n"
    "footer{margin:34px 0 40px;color:var(--muted);font-size:12.5px;border-top:1px solid "
    "var(--line);padding-top:14px}\n"
    "footer dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:8px 0}\n"
    "footer dt{font-weight:600;color:var(--ink)}footer dd{margin:0}\n"
    "@media (max-width:900px){.body{grid-template-columns:minmax(0,1fr)}}\n"
    "@media print{body{background:#fff;font-size:11.5px}.top{padding:14px 0}"
    ".body{grid-template-columns:minmax(0,235px) minmax(0,1fr);gap:6px 22px}"
    "svg text,svg .label,svg .val{font-size:15px}svg .tick{font-size:14.5px}"
    "svg .axis-title,svg .median-label{font-size:14px}"
    ".card{padding:10px 14px}.card h3{font-size:14.5px}.facts{margin-top:6px;padding:4px 0}"
    ".facts .v{font-size:13px}.stats table{font-size:11px}"
    ".stats th,.stats td{padding:1px 10px 1px 0}.body{margin-top:8px}"
    ".wrap{max-width:none;padding:0 8px}.panel,.card{border-color:#bbb}"
    ".ov{page-break-inside:auto}.ov tr{break-inside:avoid}h2{break-after:avoid}"
    ".card{margin:10px 0}}\n";

/* The record counts and provenance at the top of the page. */

/* "<small>12.3%</small>": part as a share of whole, when both are known. */
static void put_share(doc_writer *h, double part, double whole)
{
    if (isfinite(part) && whole > 0) {
        char pct[DOC_FMT];
        doc_fmt_pct_of(part, whole, pct);
        doc_putf(h, "<small>%s</small>", pct);
    }
}
static void page_header(doc_writer *h, const keel_json *p, size_t n_cols)
{
    const keel_json *source = doc_jstr(p, "source");
    double records = NAN, accepted = NAN, quarantined = NAN, version;
    doc_jnum(keel_json_get(p, "records"), &records);
    doc_jnum(keel_json_get(p, "accepted"), &accepted);
    doc_jnum(keel_json_get(p, "quarantined"), &quarantined);

    doc_put(h, "<div class=\"top\"><div class=\"wrap\"><div class=\"kicker\">keel \xc2\xb7 data "
               "profile</div><h1>");
    doc_jtext(h, source, W_HEAD, "Unnamed source");
    doc_put(h, "</h1><div class=\"sub\">Profiled ");
    doc_jtext(h, doc_jstr(p, "created"), W_HEAD, "at an unrecorded time");
    doc_putf(h, " \xc2\xb7 %zu column%s</div></div></div>\n<main class=\"wrap\">", n_cols,
             n_cols == 1 ? "" : "s");

    doc_put(h, "<section class=\"panel\">");
    if (!doc_jnum(keel_json_get(p, "keel_profile"), &version))
        doc_put(h, "<p class=\"callout\">This file does not say which profile format it uses "
                   "(no &quot;keel_profile&quot; field); it is shown as format 1.</p>");
    else if (version != 1)
        doc_putf(h,
                 "<p class=\"callout\">This profile is in format %g; this report knows format 1, "
                 "so fields it does not know are not shown.</p>",
                 version);
    if (quarantined > 0) {
        char q[DOC_FMT], r[DOC_FMT], pct[DOC_FMT];
        doc_fmt_count(quarantined, q, DOC_SCI_G);
        doc_fmt_count(records, r, DOC_SCI_G);
        doc_fmt_pct_of(quarantined, records, pct);
        doc_putf(h,
                 "<p class=\"callout\">%s of %s records (%s) were quarantined: they failed the "
                 "schema and are not included in any statistic below.</p>",
                 q, isfinite(records) ? r : "\xe2\x80\x94", pct);
    }
    if (isfinite(records) && isfinite(accepted) && isfinite(quarantined) &&
        accepted + quarantined != records)
        doc_put(h, "<p class=\"callout\">The record counts are inconsistent: accepted plus "
                   "quarantined does not equal records.</p>");

    doc_put(h, "<div class=\"kpis\"><div class=\"kpi\"><div class=\"k\">Records read</div>"
               "<div class=\"v\">");
    doc_put_jcount(h, keel_json_get(p, "records"));
    doc_put(h, "</div></div><div class=\"kpi\"><div class=\"k\">Accepted</div><div class=\"v\">");
    doc_put_jcount(h, keel_json_get(p, "accepted"));
    put_share(h, accepted, records);
    doc_putf(h,
             "</div></div><div class=\"kpi%s\"><div class=\"k\">Quarantined</div>"
             "<div class=\"v\">",
             quarantined > 0 ? " alert" : "");
    doc_put_jcount(h, keel_json_get(p, "quarantined"));
    put_share(h, quarantined, records);
    doc_putf(h,
             "</div></div><div class=\"kpi\"><div class=\"k\">Columns</div><div class=\"v\">%zu"
             "</div></div></div>",
             n_cols);

    doc_put(h, "<dl class=\"meta\"><dt>Source</dt><dd class=\"mono\">");
    doc_jtext(h, source, W_HEAD, "\xe2\x80\x94");
    doc_put(h, "</dd><dt>SHA-256</dt><dd class=\"mono\">");
    doc_jtext(h, doc_jstr(p, "source_sha256"), 80, "not recorded");
    doc_put(h, "</dd><dt>Profiled at</dt><dd>");
    doc_jtext(h, doc_jstr(p, "created"), W_HEAD, "not recorded");
    doc_put(h, "</dd><dt>Produced by</dt><dd>");
    const keel_json *kv = doc_jstr(p, "keel_version");
    if (kv) {
        doc_put(h, "keel ");
        doc_jtext(h, kv, W_HEAD, "");
    } else {
        doc_put(h, "not recorded");
    }
    doc_put(h, "</dd></dl></section>\n");
}

/* Column i's record count: its own "count", else the file's accepted records. */
static double col_whole(const keel_json *col, const keel_json *p)
{
    double c;
    if (doc_jnum(keel_json_get(col, "count"), &c) && c >= 0) return c;
    if (doc_jnum(keel_json_get(p, "accepted"), &c) && c >= 0) return c;
    return NAN;
}

static void col_name(doc_writer *h, const keel_json *col, size_t i)
{
    const keel_json *name = doc_jstr(col, "name");
    if (name && name->u.string.len)
        doc_text(h, name->u.string.s, name->u.string.len, W_NAME);
    else
        doc_putf(h, "<i>column %zu (unnamed)</i>", i + 1);
}

/* Badges after a name: role (highlighted for the target) and personal data. */
static void col_badges(doc_writer *h, const keel_json *col, bool with_role)
{
    const keel_json *role = doc_jstr(col, "role");
    if (with_role && role && role->u.string.len) {
        doc_put(h, doc_jstr_is(role, "target") ? " <span class=\"badge target\">"
                                               : " <span class=\"badge\">");
        doc_text(h, role->u.string.s, role->u.string.len, 24);
        doc_put(h, "</span>");
    }
    const keel_json *pii = keel_json_get(col, "pii");
    if (pii && pii->type != KEEL_JSON_NULL && !doc_jstr_is(pii, "none") && !doc_jstr_is(pii, "") &&
        !(pii->type == KEEL_JSON_BOOL && !pii->u.boolean)) {
        doc_put(h, " <span class=\"badge pii\">personal data: ");
        if (pii->type == KEEL_JSON_STRING)
            doc_text(h, pii->u.string.s, pii->u.string.len, 32);
        else
            doc_put(h, "unspecified");
        doc_put(h, "</span>");
    }
}

static void overview(doc_writer *h, const keel_json *p, const keel_json *cols)
{
    doc_put(h, "<h2>Columns</h2><table class=\"ov\"><thead><tr><th class=\"num\">#</th>"
               "<th>Column</th><th>Type</th><th>Role</th><th class=\"num\">Missing</th>"
               "<th class=\"num\">Distinct</th><th>Distribution</th></tr></thead><tbody>");
    hist hs;
    for (size_t i = 0; i < keel_json_len(cols); i++) {
        const keel_json *col = keel_json_at(cols, i);
        double whole = col_whole(col, p), missing;
        doc_putf(h, "<tr><td class=\"num\">%zu</td><td><a href=\"#col-%zu\">", i + 1, i + 1);
        col_name(h, col, i);
        doc_put(h, "</a>");
        col_badges(h, col, false);
        const keel_json *dn = doc_jstr(col, "display_name");
        if (dn && dn->u.string.len) {
            doc_put(h, "<div class=\"dn\">");
            doc_text(h, dn->u.string.s, dn->u.string.len, W_NAME);
            doc_put(h, "</div>");
        }
        doc_put(h, "</td><td>");
        doc_jtext(h, doc_jstr(col, "type"), 24, "\xe2\x80\x94");
        doc_put(h, "</td><td>");
        const keel_json *role = doc_jstr(col, "role");
        if (doc_jstr_is(role, "target"))
            doc_put(h, "<span class=\"badge target\">target</span>");
        else
            doc_jtext(h, role, 24, "\xe2\x80\x94");
        doc_put(h, "</td><td class=\"num\">");
        if (doc_jnum(keel_json_get(col, "missing"), &missing)) {
            char pct[DOC_FMT];
            doc_fmt_pct_of(missing, whole, pct);
            double w = whole > 0 ? KEEL_MIN(KEEL_MAX(100.0 * missing / whole, 0.0), 100.0) : 0;
            doc_putf(h, "%s<span class=\"mbar\"><span style=\"width:%.1f%%\"></span></span>", pct,
                     missing > 0 && w < 2 ? 2.0 : w);
        } else {
            doc_put(h, "\xe2\x80\x94");
        }
        doc_put(h, "</td><td class=\"num\">");
        double distinct;
        if (doc_jnum(keel_json_get(col, "distinct"), &distinct)) {
            if (!keel_json_bool(keel_json_get(col, "distinct_exact"), false))
                doc_put(h, "\xe2\x89\x88"); /* estimated: mark it */
            doc_put_count(h, distinct);
        } else {
            doc_put(h, "\xe2\x80\x94");
        }
        doc_put(h, "</td><td>");
        const keel_json *num = doc_jget(col, "numeric", KEEL_JSON_OBJECT);
        const keel_json *ts = doc_jget(col, "timestamp", KEEL_JSON_OBJECT);
        const keel_json *top = doc_jget(col, "top", KEEL_JSON_ARRAY);
        if (num || ts) hist_load(&hs, keel_json_get(num ? num : ts, "histogram"), num != NULL);
        if ((num || ts) && hs.n)
            hist_spark(h, &hs, num != NULL);
        else if (top && keel_json_len(top))
            top_spark(h, top, col, whole);
        doc_put(h, "</td></tr>\n");
    }
    doc_put(h, "</tbody></table>\n");
}

/* One row of a statistics table; value is HTML already. */
static void stat_row(doc_writer *h, const char *label, const char *value)
{
    doc_putf(h, "<tr><th>%s</th><td class=\"num\">%s</td></tr>", label, value);
}

static void stat_jnum(doc_writer *h, const char *label, const keel_json *v, bool count)
{
    double x;
    char s[DOC_FMT];
    if (doc_jnum(v, &x))
        (count ? doc_fmt_count : doc_fmt_stat)(x, s, DOC_SCI_G);
    else
        snprintf(s, sizeof s, "\xe2\x80\x94");
    stat_row(h, label, s);
}

/* "n (p%)" of whole, for missing, repaired and zeros. */
static void stat_share(doc_writer *h, const char *label, const keel_json *v, double whole)
{
    double x;
    char s[2 * DOC_FMT + 40];
    if (doc_jnum(v, &x)) {
        char c[DOC_FMT], p[DOC_FMT];
        doc_fmt_count(x, c, DOC_SCI_G);
        doc_fmt_pct_of(x, whole, p);
        snprintf(s, sizeof s, "%s <span class=\"note\">(%s)</span>", c, p);
    } else {
        snprintf(s, sizeof s, "\xe2\x80\x94");
    }
    stat_row(h, label, s);
}

static const char *const QUANTILES[][2] = {{"p01", "1st percentile"},  {"p05", "5th percentile"},
                                           {"p25", "25th percentile"}, {"p50", "median"},
                                           {"p75", "75th percentile"}, {"p95", "95th percentile"},
                                           {"p99", "99th percentile"}};

static void stats_numeric(doc_writer *h, const keel_json *num, double whole)
{
    const keel_json *q = doc_jget(num, "quantiles", KEEL_JSON_OBJECT);
    doc_put(h, "<table><caption>Distribution</caption>");
    stat_jnum(h, "minimum", keel_json_get(num, "min"), false);
    for (size_t k = 0; k < KEEL_ARRAY_LEN(QUANTILES); k++)
        stat_jnum(h, QUANTILES[k][1], keel_json_get(q, QUANTILES[k][0]), false);
    stat_jnum(h, "maximum", keel_json_get(num, "max"), false);
    stat_jnum(h, "mean", keel_json_get(num, "mean"), false);
    stat_jnum(h, "standard deviation", keel_json_get(num, "std"), false);
    stat_share(h, "zeros", keel_json_get(num, "zeros"), whole);
    doc_put(h, "</table>");
}

static void ts_row(doc_writer *h, const char *label, const keel_json *v)
{
    bool ok = v && v->type == KEEL_JSON_STRING;
    doc_putf(h, "<tr><th>%s</th><td class=\"num%s\">", label, ok ? " mono" : "");
    doc_jtext(h, ok ? v : NULL, 40, "\xe2\x80\x94");
    doc_put(h, "</td></tr>");
}

static void stats_timestamp(doc_writer *h, const keel_json *ts)
{
    const keel_json *q = doc_jget(ts, "quantiles", KEEL_JSON_OBJECT);
    doc_put(h, "<table><caption>Distribution (UTC)</caption>");
    ts_row(h, "earliest", keel_json_get(ts, "min"));
    for (size_t k = 0; k < KEEL_ARRAY_LEN(QUANTILES); k++)
        ts_row(h, QUANTILES[k][1], keel_json_get(q, QUANTILES[k][0]));
    ts_row(h, "latest", keel_json_get(ts, "max"));
    doc_put(h, "</table>");
}

static void stats_values(doc_writer *h, const keel_json *col, double whole)
{
    const keel_json *len = doc_jget(col, "length", KEEL_JSON_OBJECT);
    const keel_json *top = doc_jget(col, "top", KEEL_JSON_ARRAY);
    doc_put(h, "<table><caption>Values</caption>");
    if (keel_json_get(col, "categories"))
        stat_jnum(h, "categories", keel_json_get(col, "categories"), true);
    if (top && keel_json_len(top)) {
        const keel_json *first = keel_json_at(top, 0);
        doc_put(h, "<tr><th>most frequent</th><td class=\"txt\">");
        const keel_json *v = keel_json_get(first, "value");
        if (v && v->type == KEEL_JSON_STRING && v->u.string.len)
            doc_text(h, v->u.string.s, v->u.string.len, 32);
        else if (v && v->type == KEEL_JSON_NUMBER)
            doc_text(h, v->u.number.text, v->u.number.len, 32);
        else
            doc_put(h, "<i>(empty)</i>");
        doc_put(h, "</td></tr>");
        stat_share(h, "its share", keel_json_get(first, "count"), whole);
    }
    if (keel_json_get(col, "other_count"))
        stat_share(h, "not listed", keel_json_get(col, "other_count"), whole);
    if (len) {
        stat_jnum(h, "shortest (bytes)", keel_json_get(len, "min"), true);
        stat_jnum(h, "mean length", keel_json_get(len, "mean"), false);
        stat_jnum(h, "longest (bytes)", keel_json_get(len, "max"), true);
    }
    doc_put(h, "</table>");
}

/* One fact of the strip: a count, with its share of whole when whole is a number. */
static void fact(doc_writer *h, const char *label, const keel_json *v, double whole, bool approx)
{
    double x;
    doc_putf(h, "<div><span class=\"k\">%s</span><span class=\"v\">", label);
    if (doc_jnum(v, &x)) {
        if (approx) doc_put(h, "\xe2\x89\x88");
        doc_put_count(h, x);
        if (!isnan(whole)) {
            char pct[DOC_FMT];
            doc_fmt_pct_of(x, whole, pct);
            doc_putf(h, "<small>%s</small>", pct);
        }
    } else {
        doc_put(h, "\xe2\x80\x94");
    }
    doc_put(h, "</span></div>");
}

static void card(doc_writer *h, const keel_json *p, const keel_json *col, size_t i)
{
    double whole = col_whole(col, p), x;
    doc_putf(h,
             "<section class=\"card\" id=\"col-%zu\"><h3><span class=\"idx\">%zu</span>"
             "<span class=\"name\">",
             i + 1, i + 1);
    col_name(h, col, i);
    doc_put(h, "</span> <span class=\"badge\">");
    doc_jtext(h, doc_jstr(col, "type"), 24, "type unknown");
    doc_put(h, "</span>");
    col_badges(h, col, true);
    if (doc_jnum(keel_json_get(col, "repaired"), &x) && x > 0)
        doc_put(h, " <span class=\"badge warn\">values repaired</span>");
    doc_put(h, "</h3>");
    const keel_json *dn = doc_jstr(col, "display_name");
    if (dn && dn->u.string.len) {
        doc_put(h, "<div class=\"dn\">");
        doc_text(h, dn->u.string.s, dn->u.string.len, W_NAME);
        doc_put(h, "</div>");
    }
    if (!col || col->type != KEEL_JSON_OBJECT) {
        doc_put(h, "<p class=\"note\">This entry of the profile is not an object; nothing to show."
                   "</p></section>\n");
        return;
    }

    /* The record counts every column has, as a strip of facts under the name. */
    doc_put(h, "<div class=\"facts\">");
    fact(h, "count", keel_json_get(col, "count"), NAN, false);
    fact(h, "missing", keel_json_get(col, "missing"), whole, false);
    fact(h, "repaired", keel_json_get(col, "repaired"), whole, false);
    bool exact = keel_json_bool(keel_json_get(col, "distinct_exact"), false);
    fact(h, exact ? "distinct" : "distinct (estimated)", keel_json_get(col, "distinct"), NAN,
         !exact);
    doc_put(h, "</div>");

    const keel_json *num = doc_jget(col, "numeric", KEEL_JSON_OBJECT);
    const keel_json *ts = doc_jget(col, "timestamp", KEEL_JSON_OBJECT);
    const keel_json *top = doc_jget(col, "top", KEEL_JSON_ARRAY);
    bool values =
        !num && !ts &&
        (top || doc_jget(col, "length", KEEL_JSON_OBJECT) || keel_json_get(col, "categories"));
    doc_put(h, num || ts || values ? "<div class=\"body\"><div class=\"stats\">"
                                   : "<div class=\"body solo\"><div class=\"stats\">");
    if (num)
        stats_numeric(h, num, whole);
    else if (ts)
        stats_timestamp(h, ts);
    else if (values)
        stats_values(h, col, whole);
    doc_put(h, "</div><figure>");

    hist hs;
    if (num || ts) hist_load(&hs, keel_json_get(num ? num : ts, "histogram"), num != NULL);
    if ((num || ts) && hs.n) {
        double median = NAN;
        doc_jnum(keel_json_get(doc_jget(num, "quantiles", KEEL_JSON_OBJECT), "p50"), &median);
        hist_chart(h, &hs, num != NULL, whole, median);
        doc_putf(h, "<figcaption>Histogram of present values, %zu bin%s", hs.n,
                 hs.n == 1 ? "" : "s");
        if (hs.n < hs.n_raw) doc_putf(h, " (the profile's %zu bins regrouped)", hs.n_raw);
        if (num && !hs.has_edges)
            doc_put(h, "; bin edges missing or malformed, bins drawn evenly");
        else if (num && hs.linear && !hs.uniform)
            doc_put(h, "; unequal bins, heights show density");
        else if (!num)
            doc_put(h, "; bins drawn evenly, labelled with their edges");
        if (hs.bad_counts) doc_put(h, "; some counts were not valid and are shown as 0");
        doc_put(h, ". Hover a bar for its count.</figcaption>");
    } else if (top && keel_json_len(top)) {
        size_t n = keel_json_len(top);
        top_chart(h, top, col, whole);
        doc_putf(h,
                 "<figcaption>Most frequent values%s; share of all %s records. Hover a bar for "
                 "the full value.</figcaption>",
                 n > MAX_TOP ? " (first 20 listed)" : "", isfinite(whole) ? "" : "accepted");
    } else {
        doc_put(h, "<p class=\"note\">The profile holds no distribution for this column.</p>");
    }
    doc_put(h, "</figure></div></section>\n");
}

static void footer(doc_writer *h)
{
    doc_put(h, "<footer><strong>How to read this report</strong><dl>"
               "<dt>Records read</dt><dd>Records in the source file. Those that failed the schema "
               "are quarantined; the rest are accepted, and every statistic is computed over the "
               "accepted records only.</dd>"
               "<dt>Missing</dt><dd>Accepted records without a value for the column. Percentages "
               "are of the column's count of accepted records.</dd>"
               "<dt>Repaired</dt><dd>Values the schema's on_invalid policy changed (set missing or "
               "clipped to the allowed range).</dd>"
               "<dt>Distinct</dt><dd>An estimate of the number of different present values, "
               "computed from a sketch; it can differ slightly from the exact number.</dd>"
               "<dt>Percentiles</dt><dd>Of the present values; for large files they may be "
               "estimates.</dd>"
               "<dt>Personal data</dt><dd>Columns the schema marks as holding personal "
               "data carry a badge naming its kind.</dd></dl>"
               "Rendered by keel " KEEL_VERSION_STRING
               " from the profile file alone; the page runs no scripts and loads nothing."
               "</footer>");
}

int keel_report_profile_html(const keel_json *profile, keel_buf *out, keel_error *e)
{
    if (!out) return keel_error_set(e, KEEL_EINVAL, "profile report: no output buffer");
    if (!profile || profile->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "profile: the top level is not a JSON object");
    const keel_json *cols = doc_jget(profile, "columns", KEEL_JSON_ARRAY);
    if (!cols)
        return keel_error_set(e, KEEL_EFORMAT,
                              "profile: no \"columns\" array; is this a keel profile file?");

    keel_buf_mark start = keel_buf_begin(out);
    doc_writer h = {out, KEEL_OK, false, false, 0, DOC_SCI_G};
    const keel_json *source = doc_jstr(profile, "source");
    doc_put(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; img-src data:\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                "<meta name=\"generator\" content=\"keel " KEEL_VERSION_STRING "\">"
                "<title>Data profile: ");
    doc_jtext(&h, source, W_HEAD, "unnamed source");
    doc_put(&h, "</title><style>");
    doc_put(&h, CSS);
    doc_put(&h, "</style></head><body>\n");
    page_header(&h, profile, keel_json_len(cols));
    overview(&h, profile, cols);
    doc_put(&h, "<h2>Column details</h2>\n");
    for (size_t i = 0; i < keel_json_len(cols); i++)
        card(&h, profile, keel_json_at(cols, i), i);
    footer(&h);
    doc_put(&h, "</main></body></html>\n");

    if (keel_buf_end_rc(out, start, h.err))
        return keel_error_set(e, h.err ? h.err : KEEL_ENOMEM, "profile report: out of memory");
    return KEEL_OK;
}

int keel_report_profile_pages(const keel_profile *p, keel_buf *json, keel_buf *html, keel_error *e)
{
    keel_buf_mark jm = keel_buf_begin(json), hm = keel_buf_begin(html);
    size_t start = json->len;
    keel_json_doc *doc = keel_json_doc_new();
    int rc = !doc || keel_profile_write_json(p, json) != KEEL_OK
                 ? keel_error_set(e, KEEL_ENOMEM, "out of memory")
                 : keel_json_parse(doc, json->data + start, json->len - start, e);
    if (rc == KEEL_OK) rc = keel_report_profile_html(keel_json_root(doc), html, e);
    keel_json_doc_free(doc);
    keel_buf_end_rc(html, hm, rc);
    return keel_buf_end_rc(json, jm, rc);
}
