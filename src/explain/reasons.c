/*
 * reasons.c — per-model explanation settings, the profile baseline, and reason codes.
 *
 * Settings come from the artifact's "explain" object (written by keel train):
 *   {"adverse_class":"yes","reasons":4,"population":"customers","lower_is_adverse":false}
 * Every key is optional; an unknown class label is refused when the explainer is made, so a
 * model never explains toward a class it does not have.
 *
 * The baseline is one typical row built from the training profile the artifact keeps, then
 * encoded by the model's own transforms: numeric and timestamp columns at their median,
 * categorical and boolean columns at their most frequent value, text and everything the
 * profile does not describe missing (which the transforms impute as they would for any row).
 *
 * A reason's sentence says where the row's value stands among the training rows, so that a
 * reader can check it: for numbers, the share of training values below (or above) it, from
 * the profile's quantile sketch (about 1% rank error); for categories, how common the value
 * was. Display names come from the schema; the population noun from the settings.
 */
#include "explain/explain_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int explain_settings_read(keel_explainer *x, const keel_model *m, keel_error *e)
{
    keel_explain_settings *s = &x->settings;
    s->adverse_class = -1;
    s->reasons = 4;
    snprintf(s->population, sizeof s->population, "training records");
    if (!m->explain_json.len) return KEEL_OK;
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = keel_json_parse(d, m->explain_json.data, m->explain_json.len, e);
    const keel_json *root = rc ? NULL : keel_json_root(d);
    if (!rc && root->type != KEEL_JSON_OBJECT)
        rc = keel_error_set(e, KEEL_EFORMAT, "the model's explain settings are not an object");
    if (!rc) {
        const char *adverse = keel_json_str(keel_json_get(root, "adverse_class"));
        if (adverse) {
            long c = keel_strlist_find(&m->target.classes, adverse, strlen(adverse));
            if (c < 0 || m->target.task == KEEL_TASK_REGRESSION)
                rc = keel_error_set(e, KEEL_EFORMAT,
                                    "the model's adverse class '%.100s' is not one of its classes",
                                    adverse);
            s->adverse_class = c;
        }
        double k = keel_json_num(keel_json_get(root, "reasons"), 4);
        if (!(k >= 0 && k <= KEEL_EXPLAIN_MAX_REASONS))
            rc = keel_error_set(e, KEEL_EFORMAT, "the model's reason count is out of range");
        else
            s->reasons = (size_t)k;
        const char *pop = keel_json_str(keel_json_get(root, "population"));
        if (pop && *pop) snprintf(s->population, sizeof s->population, "%s", pop);
        s->lower_is_adverse = keel_json_bool(keel_json_get(root, "lower_is_adverse"), false);
    }
    keel_json_doc_free(d);
    return rc;
}

int explain_reasons_init(keel_explainer *x, const keel_model *m)
{
    if (!(x->profile_col = keel_malloc((x->n_inputs + 1) * sizeof *x->profile_col)))
        return KEEL_ENOMEM;
    for (size_t i = 0; i < x->n_inputs; i++)
        x->profile_col[i] = -1;
    if (!m->profile_json.len) return KEEL_OK;
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return KEEL_ENOMEM;
    keel_error e;
    /* A profile that does not read back only costs the sentences their percentages. */
    if (!keel_json_parse(d, m->profile_json.data, m->profile_json.len, &e) &&
        keel_profile_read_json(keel_json_root(d), &x->profile, &e) == KEEL_ENOMEM) {
        keel_json_doc_free(d);
        return KEEL_ENOMEM;
    }
    keel_json_doc_free(d);
    if (x->profile)
        for (size_t i = 0; i < x->n_inputs; i++)
            x->profile_col[i] =
                keel_profile_find(x->profile, m->input_schema->columns[m->inputs[i]].name);
    return KEEL_OK;
}

void explain_reasons_free(keel_explainer *x)
{
    keel_profile_free(x->profile);
    keel_free(x->profile_col);
}

/* ---- the baseline ---- */

/* Sets row 0 of column c of fr to the column's typical value, or missing. */
static void typical(const keel_explainer *x, keel_column *c, long pc)
{
    const keel_schema_column *def = c->def;
    const keel_profile *p = x->profile;
    switch (c->type) {
    case KEEL_TYPE_NUMERIC:
        c->num[0] = pc >= 0 ? keel_profile_quantile(p, (size_t)pc, 0.5) : NAN;
        break;
    case KEEL_TYPE_TIMESTAMP: {
        double q = pc >= 0 ? keel_profile_quantile(p, (size_t)pc, 0.5) : NAN;
        c->ts[0] = isfinite(q) ? (int64_t)q : KEEL_TS_MISSING;
        break;
    }
    case KEEL_TYPE_CATEGORICAL: {
        const char *mode = pc >= 0 ? keel_profile_mode(p, (size_t)pc) : NULL;
        c->cat[0] = mode ? (int32_t)keel_strlist_find(&def->categories, mode, strlen(mode)) : -1;
        break;
    }
    case KEEL_TYPE_BOOLEAN: {
        const char *mode = pc >= 0 ? keel_profile_mode(p, (size_t)pc) : NULL;
        c->boolean[0] = (int8_t)(mode ? !strcmp(mode, "true") : -1);
        break;
    }
    default:
        c->off[0] = c->off[1] = 0;
        c->missing[0] = 1;
    }
}

int explain_baseline(keel_explainer *x, keel_model *m, keel_error *e)
{
    keel_frame *fr = keel_frame_new(m->input_schema);
    keel_workspace *ws = keel_model_ws_take(m, 1);
    x->base = keel_malloc(x->d * sizeof *x->base);
    x->base_pre = keel_malloc(x->layers[0].n * sizeof *x->base_pre);
    int rc = KEEL_ENOMEM;
    if (!fr || !ws || !x->base || !x->base_pre || keel_frame_reserve(fr, 1)) goto done;
    for (size_t c = 0; c < fr->n_cols; c++) {
        long pc = -1;
        for (size_t i = 0; i < x->n_inputs; i++)
            if (m->inputs[i] == c) pc = x->profile_col[i];
        typical(x, &fr->cols[c], pc);
    }
    fr->n_rows = 1;
    if ((rc = keel_model_represent(m, ws, fr, NULL, 0, 1, x->base))) goto done;
    explain_first_layer(x, x->base, 1, x->base_pre);
done:
    if (ws) keel_model_ws_give(m, ws);
    keel_frame_free(fr);
    if (rc) keel_error_set(e, rc, "cannot build the baseline row: %s", keel_strerror(rc));
    return rc;
}

/* ---- reason codes ---- */

/* A number for people: up to 6 significant digits, no exponent for everyday magnitudes. */
static void number_text(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.6g", v);
}

static void percent_text(double share, char *buf, size_t n)
{
    double pct = share * 100;
    if (pct > 0 && pct < 1)
        snprintf(buf, n, "less than 1%%");
    else if (pct < 100 && pct > 99)
        snprintf(buf, n, "more than 99%%");
    else
        snprintf(buf, n, "%.0f%%", pct);
}

/* The sentence of input i for row `row` of f. */
static void sentence(const keel_explainer *x, const keel_model *m, const keel_frame *f, size_t row,
                     size_t i, char *out, size_t n)
{
    const keel_schema_column *def = &m->input_schema->columns[m->inputs[i]];
    const keel_column *c = &f->cols[m->inputs[i]];
    const char *name = def->display_name ? def->display_name : def->name;
    const char *pop = x->settings.population;
    long pc = x->profile_col[i];
    const keel_profile *p = x->profile;
    char v[80], pct[32];
    double share;
    switch (c->type) {
    case KEEL_TYPE_NUMERIC:
    case KEEL_TYPE_TIMESTAMP: {
        bool missing =
            c->type == KEEL_TYPE_NUMERIC ? isnan(c->num[row]) : c->ts[row] == KEEL_TS_MISSING;
        if (missing) break;
        double val = c->type == KEEL_TYPE_NUMERIC ? c->num[row] : (double)c->ts[row];
        if (c->type == KEEL_TYPE_NUMERIC) {
            number_text(val, v, sizeof v);
        } else {
            char ts[40];
            keel_format_timestamp(c->ts[row], ts);
            snprintf(v, sizeof v, "%.10s", ts);
        }
        double below = pc >= 0 ? keel_profile_rank(p, (size_t)pc, nextafter(val, -INFINITY)) : NAN;
        double above = pc >= 0 ? 1 - keel_profile_rank(p, (size_t)pc, val) : NAN;
        const char *more = c->type == KEEL_TYPE_NUMERIC ? "higher" : "later";
        const char *less = c->type == KEEL_TYPE_NUMERIC ? "lower" : "earlier";
        if (isnan(below) || isnan(above)) {
            snprintf(out, n, "%s is %s", name, v);
        } else if (below >= above && below >= 0.5) {
            percent_text(below, pct, sizeof pct);
            if (below > 0.99)
                snprintf(out, n, "%s %s is among the %s 1%% of %s", name, v,
                         c->type == KEEL_TYPE_NUMERIC ? "highest" : "latest", pop);
            else
                snprintf(out, n, "%s %s is %s than %s of %s", name, v, more, pct, pop);
        } else if (above > below && above >= 0.5) {
            percent_text(above, pct, sizeof pct);
            if (above > 0.99)
                snprintf(out, n, "%s %s is among the %s 1%% of %s", name, v,
                         c->type == KEEL_TYPE_NUMERIC ? "lowest" : "earliest", pop);
            else
                snprintf(out, n, "%s %s is %s than %s of %s", name, v, less, pct, pop);
        } else {
            char med[40];
            number_text(keel_profile_quantile(p, (size_t)pc, 0.5), med, sizeof med);
            if (c->type == KEEL_TYPE_NUMERIC)
                snprintf(out, n, "%s %s is close to the median of %s (%s)", name, v, pop, med);
            else
                snprintf(out, n, "%s %s is close to the middle of %s", name, v, pop);
        }
        return;
    }
    case KEEL_TYPE_CATEGORICAL:
    case KEEL_TYPE_BOOLEAN: {
        const char *label;
        if (c->type == KEEL_TYPE_CATEGORICAL) {
            int32_t k = c->cat[row];
            if (k < 0 || (size_t)k >= def->categories.n) break;
            label = def->categories.items[k];
        } else {
            if (c->boolean[row] < 0) break;
            label = c->boolean[row] ? "true" : "false";
        }
        uint64_t total = pc >= 0 ? keel_profile_count(p, (size_t)pc) : 0;
        uint64_t cnt = pc >= 0 ? keel_profile_category_count(p, (size_t)pc, label) : 0;
        const char *shown = c->type == KEEL_TYPE_BOOLEAN ? (c->boolean[row] ? "yes" : "no") : label;
        if (total == 0) {
            snprintf(out, n, "%s is \"%.80s\"", name, shown);
        } else if (cnt == 0) {
            snprintf(out, n, "%s is \"%.80s\", a value not seen among %s", name, shown, pop);
        } else {
            share = (double)cnt / (double)total;
            percent_text(share, pct, sizeof pct);
            snprintf(out, n, "%s is \"%.80s\", as for %s of %s", name, shown, pct, pop);
        }
        return;
    }
    default: {
        if (c->missing[row]) break;
        size_t len;
        const char *t = keel_column_text(c, row, &len);
        /* Cut at a UTF-8 boundary. */
        size_t cut = len > 60 ? 60 : len;
        while (cut > 0 && cut < len && ((unsigned char)t[cut] & 0xC0) == 0x80)
            cut--;
        snprintf(out, n, "the wording of %s (\"%.*s%s\")", name, (int)cut, t, cut < len ? "…" : "");
        return;
    }
    }
    /* missing */
    uint64_t total = pc >= 0 ? keel_profile_count(p, (size_t)pc) : 0;
    if (total) {
        share = (double)keel_profile_missing(p, (size_t)pc) / (double)total;
        percent_text(share, pct, sizeof pct);
        snprintf(out, n, "%s is missing (as for %s of %s)", name, pct, pop);
    } else {
        snprintf(out, n, "%s is missing", name);
    }
}

int keel_explain_reasons(keel_explainer *x, keel_model *m, const keel_frame *f, size_t row,
                         size_t k, keel_explanation *out)
{
    if (k == 0) k = x->settings.reasons;
    if (k > KEEL_EXPLAIN_MAX_REASONS) k = KEEL_EXPLAIN_MAX_REASONS;
    /* Regression models whose adverse direction is down: reasons push the value down. */
    double sign = m->target.task == KEEL_TASK_REGRESSION && x->settings.lower_is_adverse ? -1 : 1;
    out->n_reasons = 0;
    while (out->n_reasons < k) {
        long best = -1;
        for (size_t i = 0; i < x->n_inputs; i++) {
            double a = sign * out->attributions[i];
            if (!(a > 0)) continue;
            bool taken = false;
            for (size_t j = 0; j < out->n_reasons; j++)
                taken |= out->reasons[j].input == i;
            if (!taken && (best < 0 || a > sign * out->attributions[best])) best = (long)i;
        }
        if (best < 0) break;
        keel_reason_code *r = &out->reasons[out->n_reasons++];
        r->input = (size_t)best;
        r->attribution = out->attributions[best];
        sentence(x, m, f, row, (size_t)best, r->text, sizeof r->text);
    }
    return KEEL_OK;
}
