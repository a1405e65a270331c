/*
 * card_charts.c — the model card's sections with charts: calibration (a reliability diagram),
 * permutation importance (bars with 95% whiskers) and partial dependence (small multiples on
 * one shared y range, so curves compare at a glance). Charts are inline SVG and exist only in
 * the HTML; the Markdown gives the same numbers as tables. Every coordinate is computed from
 * ranges first made finite and non-empty (fix_range), and lists are capped (MAX_BARS,
 * MAX_CURVES, MAX_POINTS, MAX_BINS), so no document draws an unbounded or broken chart.
 */
#include "report/card_impl.h"

#include <math.h>
#include <string.h>

/* ---- charts ---------------------------------------------------------------------------- */

static void svg_text_begin(doc_writer *w, double x, double y, const char *anchor, const char *cls)
{
    doc_putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
}

/* Ticks of a linear axis over [lo, hi]: about target of them. */
static void axis_ticks_x(doc_writer *w, double lo, double hi, double x0, double x1, double y0,
                         double y1, int target)
{
    double step = doc_nice_step(hi - lo, target);
    if (!(step > 0)) return;
    double first = ceil(lo / step - 1e-9) * step;
    for (int k = 0; k < 40; k++) {
        double v = first + k * step;
        if (v > hi + step * 1e-6) break;
        double x = x0 + (x1 - x0) * ((v - lo) / (hi - lo));
        if (fabs(v) < step * 1e-9) v = 0;
        doc_putf(w, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x,
                 y0, y1);
        svg_text_begin(w, x, y1 + 14, "middle", "tick");
        doc_put_stat(w, v);
        doc_put(w, "</text>");
    }
}

static void axis_ticks_y(doc_writer *w, double lo, double hi, double y0, double y1, double x0,
                         double x1, int target)
{
    double step = doc_nice_step(hi - lo, target);
    if (!(step > 0)) return;
    double first = ceil(lo / step - 1e-9) * step;
    for (int k = 0; k < 40; k++) {
        double v = first + k * step;
        if (v > hi + step * 1e-6) break;
        double y = y1 - (y1 - y0) * ((v - lo) / (hi - lo));
        if (fabs(v) < step * 1e-9) v = 0;
        doc_putf(w, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x0,
                 x1, y, y);
        svg_text_begin(w, x0 - 5, y + 3.5, "end", "tick");
        doc_put_stat(w, v);
        doc_put(w, "</text>");
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
static void importance_chart(doc_writer *w, const keel_json *items)
{
    size_t n = KEEL_MIN(keel_json_len(items), (size_t)MAX_BARS);
    double lo = 0, hi = 0;
    size_t drawn = 0;
    for (size_t i = 0; i < n; i++) {
        const keel_json *it = doc_item(items, i);
        double d;
        if (!doc_jnum_member(it, "drop", &d)) continue;
        drawn++;
        lo = fmin(lo, d);
        hi = fmax(hi, d);
        double a, b;
        if (doc_jnum_member(it, "low", &a) && doc_jnum_member(it, "high", &b)) {
            lo = fmin(lo, a);
            hi = fmax(hi, b);
        }
    }
    if (!drawn) return;
    fix_range(&lo, &hi);
    const double L = 200, R = 660, T = 10, row = 22;
    double H = T + row * (double)n + 34;
    doc_putf(w,
             "<figure><svg viewBox=\"0 0 700 %.0f\" role=\"img\" aria-label=\"Permutation "
             "importance\">",
             H);
    double yb = T + row * (double)n;
    axis_ticks_x(w, lo, hi, L, R, T, yb, 6);
    double x0 = L + (R - L) * ((0 - lo) / (hi - lo));
    for (size_t i = 0; i < n; i++) {
        const keel_json *it = doc_item(items, i);
        double d;
        double y = T + row * (double)i;
        svg_text_begin(w, L - 8, y + 15, "end", "label");
        doc_jtext_nonempty(w, card_display(it), W_LABEL, "?");
        doc_put(w, "</text>");
        if (!doc_jnum_member(it, "drop", &d)) continue;
        double x = L + (R - L) * ((d - lo) / (hi - lo));
        doc_putf(w, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\">",
                 d >= 0 ? "bar" : "neg", fmin(x, x0), y + 4, fabs(x - x0));
        doc_put(w, "<title>");
        doc_jtext_nonempty(w, card_display(it), W_VALUE, "?");
        doc_put(w, ": ");
        doc_put_ci(w, d, doc_jnumd(it, "low"), doc_jnumd(it, "high"));
        doc_put(w, "</title></rect>");
        double a, b;
        if (doc_jnum_member(it, "low", &a) && doc_jnum_member(it, "high", &b)) {
            double xa = L + (R - L) * ((a - lo) / (hi - lo)),
                   xb = L + (R - L) * ((b - lo) / (hi - lo));
            doc_putf(w,
                     "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                     "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                     "<line class=\"whisk\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                     xa, xb, y + 11, y + 11, xa, xa, y + 7, y + 15, xb, xb, y + 7, y + 15);
        }
    }
    doc_putf(w, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x0, x0, T,
             yb);
    doc_putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"axis-title\">",
             (L + R) / 2, H - 2);
    doc_put(w, "drop of the measure when the column is shuffled</text></svg>");
    doc_put(w, "<figcaption>Bars: mean drop over the repeats; whiskers: its 95% interval. A bar "
               "whose whisker crosses zero is not distinguishable from no effect.</figcaption>"
               "</figure>\n");
}

void card_sec_importance(doc_writer *w, const keel_json *card)
{
    const keel_json *imp = doc_jobj(card, "importance");
    card_section_begin(w, "importance", "What drives the model");
    const keel_json *items = doc_jarr(imp, "items");
    if (!keel_json_len(items)) {
        doc_notice(w, "warn", "Importance is not available in this card.");
        const keel_json *err = doc_jstr_nonempty(imp, "error");
        if (err) {
            doc_para_begin(w, NULL);
            doc_text(w, err->u.string.s, err->u.string.len, W_PROSE);
            doc_para_end(w);
        }
        card_section_end(w);
        return;
    }
    doc_para_begin(w, NULL);
    doc_put(w, "Permutation importance: how much the held-out ");
    card_measure_label(w, doc_jstr_nonempty(imp, "metric"));
    doc_put(w, " (");
    doc_put_stat(w, doc_jnumd(imp, "base"));
    doc_put(w, " on the rows as they are) gets worse when one column's values are shuffled among ");
    doc_put_count(w, doc_jnumd(imp, "rows"));
    doc_put(w, " rows, ");
    doc_put_count(w, doc_jnumd(imp, "repeats"));
    doc_put(w, " times. Mean |attribution|: the average size of the column's Integrated Gradients "
               "attribution over ");
    doc_put_count(w, doc_jnumd(imp, "attribution_rows"));
    doc_put(w, " held-out rows, on the ");
    doc_jtext_nonempty(w, doc_jstr_nonempty(imp, "attribution_scale"), W_NAME, "model's");
    doc_put(w, " scale. Importance shows what the model relies on, not what causes the outcome.");
    doc_para_end(w);
    const keel_json *aerr = doc_jstr_nonempty(imp, "attribution_error");
    if (aerr) {
        doc_notice_begin(w, "info");
        doc_put(w, "Attributions are not available: ");
        doc_text(w, aerr->u.string.s, aerr->u.string.len, W_PROSE);
        doc_notice_end(w);
    }
    if (!w->md) importance_chart(w, items);
    static const char *const h[] = {"Column", "Drop", "95% interval", "Mean |attribution|"};
    doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    for (size_t i = 0; i < keel_json_len(items) && i < MAX_ROWS; i++) {
        const keel_json *it = doc_item(items, i);
        if (!it) continue;
        doc_row_begin(w, NULL);
        doc_cell(w, NULL);
        doc_jtext_nonempty(w, card_display(it), W_NAME, "?");
        doc_cell(w, "n");
        doc_put_stat(w, doc_jnumd(it, "drop"));
        doc_cell(w, "n");
        double lo = doc_jnumd(it, "low"), hi = doc_jnumd(it, "high");
        if (isfinite(lo) && isfinite(hi)) {
            doc_put_stat(w, lo);
            doc_put(w, " \xe2\x80\x93 ");
            doc_put_stat(w, hi);
        } else {
            doc_put(w, "\xe2\x80\x94");
        }
        doc_cell(w, "n");
        doc_put_stat(w, doc_jnumd(it, "mean_abs_attribution"));
        doc_row_end(w);
    }
    doc_table_end(w);
    card_section_end(w);
}

/* The reliability diagram: predicted probability (x) against observed frequency (y). */
static void calibration_chart(doc_writer *w, const keel_json *bins)
{
    const double L = 50, T = 12, S = 300; /* plot square */
    double maxn = 0;
    size_t n = KEEL_MIN(keel_json_len(bins), (size_t)MAX_BINS);
    for (size_t i = 0; i < n; i++)
        maxn = fmax(maxn, fmax(0, doc_jnumd(doc_item(bins, i), "n")));
    doc_put(w, "<figure style=\"max-width:420px\"><svg viewBox=\"0 0 380 360\" role=\"img\" "
               "aria-label=\"Calibration\">");
    axis_ticks_x(w, 0, 1, L, L + S, T, T + S, 5);
    axis_ticks_y(w, 0, 1, T, T + S, L, L + S, 5);
    doc_putf(w,
             "<line class=\"diag\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
             "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
             "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
             L, T + S, L + S, T, L, T + S, L + S, T + S, L, T, L, T + S);
    for (size_t i = 0; i < n; i++) {
        const keel_json *b = doc_item(bins, i);
        double p, o, c;
        if (!doc_jnum_member(b, "predicted", &p) || !doc_jnum_member(b, "observed", &o) ||
            !doc_jnum_member(b, "n", &c) || c <= 0)
            continue;
        p = fmin(fmax(p, 0), 1);
        o = fmin(fmax(o, 0), 1);
        double r = maxn > 0 ? 3 + 9 * sqrt(c / maxn) : 4;
        doc_putf(w, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"><title>", L + S * p,
                 T + S - S * o, r);
        doc_put(w, "predicted ");
        doc_put_stat(w, p);
        doc_put(w, ", observed ");
        doc_put_stat(w, o);
        doc_put(w, ", ");
        doc_put_count(w, c);
        doc_put(w, " rows</title></circle>");
    }
    doc_putf(
        w,
        "<text x=\"%.1f\" y=\"350\" text-anchor=\"middle\" class=\"axis-title\">mean predicted "
        "probability</text><text class=\"axis-title\" text-anchor=\"middle\" "
        "transform=\"translate(14 %.1f) rotate(-90)\">observed frequency</text></svg>",
        L + S / 2, T + S / 2);
    doc_put(w, "<figcaption>Each point is a bin of predicted probability; its area is proportional "
               "to the rows in it. Points on the dashed diagonal mean the probabilities can be "
               "taken at face value.</figcaption></figure>\n");
}

void card_sec_calibration(doc_writer *w, const keel_json *card)
{
    const keel_json *cal = doc_jobj(card, "calibration");
    card_section_begin(w, "calibration", "Calibration");
    const keel_json *bins = doc_jarr(cal, "bins");
    if (!keel_json_len(bins)) {
        const keel_json *why = doc_jstr_nonempty(cal, "note");
        if (why) {
            doc_notice_begin(w, "info");
            doc_text(w, why->u.string.s, why->u.string.len, W_PROSE);
            doc_notice_end(w);
        } else {
            doc_notice(w, "info", "A calibration diagram is not available in this card.");
        }
        card_section_end(w);
        return;
    }
    doc_para_begin(w, NULL);
    doc_put(w, "Whether the predicted probability of ");
    doc_put(w, w->md ? "\"" : "&ldquo;");
    doc_jtext_nonempty(w, doc_jstr_nonempty(cal, "class"), W_NAME, "the explained class");
    doc_put(w, w->md ? "\"" : "&rdquo;");
    doc_put(w, " matches how often it happens in the held-out rows.");
    doc_para_end(w);
    if (!w->md) calibration_chart(w, bins);
    static const char *const h[] = {"Predicted probability", "Rows", "Mean predicted",
                                    "Observed frequency"};
    doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    for (size_t i = 0; i < keel_json_len(bins) && i < MAX_BINS; i++) {
        const keel_json *b = doc_item(bins, i);
        if (!b) continue;
        doc_row_begin(w, NULL);
        doc_cell(w, NULL);
        doc_put_stat(w, doc_jnumd(b, "lo"));
        doc_put(w, " \xe2\x80\x93 ");
        doc_put_stat(w, doc_jnumd(b, "hi"));
        doc_cell(w, "n");
        doc_put_jcount(w, keel_json_get(b, "n"));
        doc_cell(w, "n");
        doc_put_stat(w, doc_jnumd(b, "predicted"));
        doc_cell(w, "n");
        doc_put_stat(w, doc_jnumd(b, "observed"));
        doc_row_end(w);
    }
    doc_table_end(w);
    card_section_end(w);
}

/* One partial-dependence plot; ylo..yhi is shared by all plots so they compare. */
static void pd_chart(doc_writer *w, const keel_json *c, double ylo, double yhi)
{
    const keel_json *pts = doc_jarr(c, "points");
    size_t n = KEEL_MIN(keel_json_len(pts), (size_t)MAX_POINTS);
    /* Numeric x when every point has a finite x, increasing; else categories evenly. */
    bool numeric = doc_jtrue(c, "numeric") && n >= 2;
    double xlo = INFINITY, xhi = -INFINITY, prev = -INFINITY;
    for (size_t i = 0; i < n && numeric; i++) {
        double x = 0;
        if (!doc_jnum_member(doc_item(pts, i), "x", &x) || x < prev) {
            numeric = false;
            break;
        }
        prev = x;
        xlo = fmin(xlo, x);
        xhi = fmax(xhi, x);
    }
    if (numeric && !(xhi > xlo && isfinite(xhi - xlo))) numeric = false;
    const double L = 52, R = 310, T = 24, B = 176;
    doc_put(w, "<figure><svg viewBox=\"0 0 330 216\" role=\"img\">");
    svg_text_begin(w, L, 14, "start", "title");
    doc_jtext_nonempty(w, card_display(c), 40, "?");
    doc_put(w, "</text>");
    axis_ticks_y(w, ylo, yhi, T, B, L, R, 4);
    if (numeric) axis_ticks_x(w, xlo, xhi, L, R, T, B, 4);
    doc_putf(w,
             "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
             "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
             L, B, R, B, L, T, L, B);
    if (!w->err && n) {
        doc_put(w, "<polyline class=\"line\" points=\"");
        for (size_t i = 0; i < n; i++) {
            const keel_json *p = doc_item(pts, i);
            double y, x = 0;
            if (!doc_jnum_member(p, "y", &y)) continue;
            if (numeric) doc_jnum_member(p, "x", &x);
            double px = numeric ? L + (R - L) * ((x - xlo) / (xhi - xlo))
                                : L + (R - L) * ((double)i + 0.5) / (double)n;
            double py = B - (B - T) * ((y - ylo) / (yhi - ylo));
            doc_putf(w, "%s%.1f,%.1f", i ? " " : "", px, fmin(fmax(py, T - 20), B + 20));
        }
        doc_put(w, "\"/>");
    }
    size_t every = n > 8 ? (n + 7) / 8 : 1; /* category labels: at most 8 */
    for (size_t i = 0; i < n; i++) {
        const keel_json *p = doc_item(pts, i);
        double y, x = 0;
        if (!doc_jnum_member(p, "y", &y)) continue;
        if (numeric) doc_jnum_member(p, "x", &x);
        double px = numeric ? L + (R - L) * ((x - xlo) / (xhi - xlo))
                            : L + (R - L) * ((double)i + 0.5) / (double)n;
        double py = fmin(fmax(B - (B - T) * ((y - ylo) / (yhi - ylo)), T - 20), B + 20);
        doc_putf(w, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>", px, py);
        doc_jtext_nonempty(w, doc_jstr_nonempty(p, "label"), W_VALUE, "?");
        doc_put(w, ": ");
        doc_put_stat(w, y);
        doc_put(w, "</title></circle>");
        if (!numeric && i % every == 0) {
            svg_text_begin(w, px, B + 14, "middle", "tick");
            doc_jtext_nonempty(w, doc_jstr_nonempty(p, "label"), 10, "?");
            doc_put(w, "</text>");
        }
    }
    doc_put(w, "</svg></figure>\n");
}

void card_sec_pd(doc_writer *w, const keel_json *card)
{
    const keel_json *pd = doc_jobj(card, "partial_dependence");
    card_section_begin(w, "pd", "Partial dependence");
    const keel_json *curves = doc_jarr(pd, "curves");
    if (!keel_json_len(curves)) {
        doc_notice(w, "info", "Partial-dependence curves are not available in this card.");
        const keel_json *err = doc_jstr_nonempty(pd, "error");
        if (err) {
            doc_para_begin(w, NULL);
            doc_text(w, err->u.string.s, err->u.string.len, W_PROSE);
            doc_para_end(w);
        }
        card_section_end(w);
        return;
    }
    doc_para_begin(w, NULL);
    doc_put(w, "For the most important columns: the model's mean prediction (");
    doc_jtext_nonempty(w, doc_jstr_nonempty(pd, "scale"), W_NAME, "on its own scale");
    doc_put(w, ") over ");
    doc_put_count(w, doc_jnumd(pd, "rows"));
    doc_put(w, " held-out rows when the column is set to each value and everything else is left "
               "as it is. The curves share one vertical scale. They show what the model does, "
               "averaged over rows; where columns are related, some combinations are unrealistic.");
    doc_para_end(w);
    size_t nc = KEEL_MIN(keel_json_len(curves), (size_t)MAX_CURVES);
    double ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < nc; i++) {
        const keel_json *pts = doc_jarr(doc_item(curves, i), "points");
        for (size_t j = 0; j < keel_json_len(pts) && j < MAX_POINTS; j++) {
            double y;
            if (doc_jnum_member(doc_item(pts, j), "y", &y)) {
                ylo = fmin(ylo, y);
                yhi = fmax(yhi, y);
            }
        }
    }
    fix_range(&ylo, &yhi);
    if (!w->md) {
        doc_put(w, "<div class=\"multiples\">");
        for (size_t i = 0; i < nc; i++)
            if (doc_item(curves, i)) pd_chart(w, doc_item(curves, i), ylo, yhi);
        doc_put(w, "</div>\n");
    }
    for (size_t i = 0; i < nc; i++) {
        const keel_json *c = doc_item(curves, i);
        if (!c) continue;
        if (w->md) {
            doc_put(w, "\n**");
            doc_jtext_nonempty(w, card_display(c), W_NAME, "?");
            doc_put(w, "**\n\n");
            static const char *const h[] = {"Value", "Mean prediction"};
            doc_table_begin(w, NULL, h, 2);
            const keel_json *pts = doc_jarr(c, "points");
            for (size_t j = 0; j < keel_json_len(pts) && j < MAX_POINTS; j++) {
                const keel_json *p = doc_item(pts, j);
                if (!p) continue;
                doc_row_begin(w, NULL);
                doc_cell(w, NULL);
                doc_jtext_nonempty(w, doc_jstr_nonempty(p, "label"), W_VALUE, "?");
                doc_cell(w, NULL);
                doc_put_stat(w, doc_jnumd(p, "y"));
                doc_row_end(w);
            }
            doc_table_end(w);
        }
    }
    card_section_end(w);
}