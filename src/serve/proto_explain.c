/*
 * proto_explain.c — the explain extension's requests (POST .../explain, issue 6): their
 * "parameters", the options they give for a model, and a parsed row as the named fields
 * that keel_explain_fields reads. The envelopes of the answers are proto_answer.c's.
 *
 * Design. An explain request is a predict request (same parsers, same batch) plus optional
 * "parameters". They are read from the document the batch keeps, so a body is parsed once.
 * What needs no model is checked here (fuzzed with the parsers); what needs one (the task,
 * the class labels) is checked in serve_explain_options. A row reaches the explainer exactly
 * as keel_model_predict_columns would give it to the model (serve_batch_row_fields).
 */
#include "serve/proto_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { PARAM_METHOD = 1, PARAM_SCALE = 2, PARAM_TOP_K = 4, PARAM_CLASS = 8 };

static bool key_is(const keel_json_member *m, const char *key)
{
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

/* A string parameter's value (no NUL inside); *s NULL with an error otherwise. */
static int param_string(ctx *c, const keel_json *v, const char *expected, const char **s)
{
    *s = NULL;
    if (v->type != KEEL_JSON_STRING)
        return proto_bad(c, "expected %s, got %s", expected, keel_json_describe(v).s);
    if (memchr(v->u.string.s, '\0', v->u.string.len))
        return proto_bad(c, "must not contain a NUL character");
    *s = v->u.string.s;
    return KEEL_OK;
}

int serve_parse_explain_params(const serve_batch *b, serve_explain_params *p, serve_error *err)
{
    serve_error dummy;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err ? err : &dummy;
    c.err->status = 0;
    c.err->msg[0] = '\0';
    p->method = -1;
    p->scale = KEEL_SCALE_DEFAULT;
    p->top_k = -1;
    p->class_label = NULL;
    const arena *a = b ? b->arena : NULL;
    const keel_json *root = a && a->doc ? keel_json_root(a->doc) : NULL, *params = NULL;
    if (!root || root->type != KEEL_JSON_OBJECT) return KEEL_OK; /* CSV, or no batch */
    int rc = proto_member(&c, root, "parameters", &params);
    if (rc != KEEL_OK || !params) return rc;
    proto_path_key(&c, "parameters", 10);
    if (params->type != KEEL_JSON_OBJECT)
        return proto_bad(&c, "expected an object such as {\"method\": \"ig\"}, got %s",
                         keel_json_describe(params).s);
    unsigned seen = 0;
    for (size_t i = 0; i < params->u.object.n; i++) {
        const keel_json_member *m = &params->u.object.members[i];
        const keel_json *v = &m->value;
        unsigned which = key_is(m, "method")  ? PARAM_METHOD
                         : key_is(m, "scale") ? PARAM_SCALE
                         : key_is(m, "top_k") ? PARAM_TOP_K
                         : key_is(m, "class") ? PARAM_CLASS
                                              : 0;
        size_t at = proto_path_key(&c, m->key, m->key_len);
        if (!which)
            return proto_bad(&c, "unknown parameter (an explanation takes \"method\", \"scale\", "
                                 "\"top_k\" and \"class\")");
        if (seen & which) return proto_bad(&c, "given twice");
        seen |= which;
        const char *s;
        switch (which) {
        case PARAM_METHOD:
            if ((rc = param_string(&c, v, "\"ig\" or \"shapley\"", &s)) != KEEL_OK) return rc;
            if ((p->method = keel_explain_method_from_name(s)) < 0)
                return proto_bad(&c,
                                 "unknown method %s (use \"ig\", \"integrated_gradients\" or "
                                 "\"shapley\")",
                                 keel_json_describe(v).s);
            break;
        case PARAM_SCALE: {
            if ((rc = param_string(&c, v, "\"log_odds\", \"probability\" or \"value\"", &s)))
                return rc;
            int k = keel_explain_scale_from_name(s);
            if (k < KEEL_SCALE_DEFAULT || k > KEEL_SCALE_VALUE)
                return proto_bad(&c,
                                 "unknown scale %s (use \"log_odds\" or \"probability\" for a "
                                 "classifier, \"value\" for a regression model)",
                                 keel_json_describe(v).s);
            p->scale = k;
            break;
        }
        case PARAM_TOP_K: {
            if (v->type != KEEL_JSON_NUMBER)
                return proto_bad(&c, "expected a number of reasons (0 to %d), got %s",
                                 KEEL_EXPLAIN_MAX_REASONS, keel_json_describe(v).s);
            int64_t k;
            if ((rc = proto_read_int(&c, v, "top_k", 0, KEEL_EXPLAIN_MAX_REASONS, &k)) != KEEL_OK)
                return rc;
            p->top_k = (long)k;
            break;
        }
        default: /* PARAM_CLASS: a label; a number stands for the label written the same */
            if (v->type == KEEL_JSON_NUMBER) {
                p->class_label = v->u.number.text;
                break;
            }
            if ((rc = param_string(&c, v, "a class label (a string)", &s)) != KEEL_OK) return rc;
            p->class_label = s;
            break;
        }
        path_pop(&c, at);
    }
    return KEEL_OK;
}

int serve_explain_options(const serve_explain_params *p, const keel_model *m, size_t n_rows,
                          keel_explain_options *o, serve_error *err)
{
    serve_error dummy;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err ? err : &dummy;
    c.err->status = 0;
    c.err->msg[0] = '\0';
    keel_explain_options_init(o);
    bool reg = is_regression(m);
    if (p->method >= 0) o->method = (keel_explain_method)p->method;
    if (p->top_k >= 0) o->top_k = (size_t)p->top_k;
    if (p->scale != KEEL_SCALE_DEFAULT) {
        proto_path_key(&c, "parameters", 10);
        proto_path_key(&c, "scale", 5);
        if (reg && p->scale != KEEL_SCALE_VALUE)
            return proto_bad(&c,
                             "\"%s\" is for classifiers; a regression model is explained on the "
                             "\"value\" scale",
                             keel_explain_scale_name((keel_explain_scale)p->scale));
        if (!reg && p->scale == KEEL_SCALE_VALUE)
            return proto_bad(&c, "\"value\" is for regression models; a classifier is explained as "
                                 "\"log_odds\" or \"probability\"");
        o->scale = (keel_explain_scale)p->scale;
        path_pop(&c, 0);
    }
    if (p->class_label) {
        proto_path_key(&c, "parameters", 10);
        proto_path_key(&c, "class", 5);
        if (reg) return proto_bad(&c, "a regression model has no classes");
        size_t k = keel_model_n_outputs(m), j;
        for (j = 0; j < k; j++)
            if (strcmp(keel_model_output_name(m, j), p->class_label) == 0) break;
        if (j == k) {
            char shown[96] = "", labels[200] = "";
            keel_quote_into(shown, sizeof shown, p->class_label, strlen(p->class_label), 40);
            for (size_t i = 0; i < k && strlen(labels) + 50 < sizeof labels; i++) {
                const char *l = keel_model_output_name(m, i);
                if (i) append(labels, sizeof labels, ", ");
                keel_quote_into(labels, sizeof labels, l, strlen(l), 30);
                if (i + 1 < k && strlen(labels) + 50 >= sizeof labels)
                    append(labels, sizeof labels, ", ...");
            }
            return proto_bad(&c, "unknown class %s (the model's classes are %s)", shown, labels);
        }
        o->class_index = (long)j;
        path_pop(&c, 0);
    }
    size_t limit = o->method == KEEL_EXPLAIN_SHAPLEY ? SERVE_EXPLAIN_MAX_ROWS_SHAPLEY
                                                     : SERVE_EXPLAIN_MAX_ROWS_IG;
    if (n_rows > limit) {
        snprintf(c.err->msg, sizeof c.err->msg,
                 "%zu rows; an explain request with method %s takes at most %zu (send the rows "
                 "in several requests)",
                 n_rows, keel_explain_method_name(o->method), limit);
        c.err->status = 413;
        return KEEL_ELIMIT;
    }
    return KEEL_OK;
}

/* A float's text as keel_model_predict_columns writes it for a non-numeric input: whole
 * numbers below 10^7 as integers, else the shortest of %.6g .. %.9g that reads back. */
static void float_text(float x, char *buf)
{
    if (fabsf(x) < 1e7f && x == (float)(int64_t)x) {
        snprintf(buf, SERVE_FIELD_TEXT, "%lld", (long long)x);
        return;
    }
    _Static_assert(SERVE_FIELD_TEXT >= KEEL_FLOAT_TEXT, "a float's text fits a field");
    keel_float_text(x, buf);
}

static bool numeric_input(const keel_model *m, const char *name)
{
    long i = keel_model_input_index(m, name, strlen(name));
    const char *type = i >= 0 ? keel_model_input_type(m, (size_t)i) : NULL;
    return !type || strcmp(type, "numeric") == 0; /* not an input: refused later anyway */
}

void serve_batch_row_fields(const serve_batch *b, const keel_model *m, size_t r,
                            keel_named_value *fields, char *scratch)
{
    for (size_t j = 0; j < b->n_cols; j++) {
        const keel_input_column *col = &b->cols[j];
        keel_named_value *f = &fields[j];
        char *t = scratch + j * SERVE_FIELD_TEXT;
        f->name = col->name;
        f->text = NULL;
        f->number = NAN;
        if (col->missing && col->missing[r]) continue;
        switch (col->type) {
        case KEEL_COL_TEXT:
            f->text = ((const char *const *)col->data)[r];
            break;
        case KEEL_COL_F64:
            f->number = ((const double *)col->data)[r];
            break;
        case KEEL_COL_F32: {
            float v = ((const float *)col->data)[r];
            if (isfinite(v) && !numeric_input(m, col->name)) {
                float_text(v, t);
                f->text = t;
            } else {
                f->number = v;
            }
            break;
        }
        case KEEL_COL_I64: {
            /* Whole doubles below 10^15 are written as integers: exact below that. */
            int64_t v = ((const int64_t *)col->data)[r];
            if (v > -1000000000000000 && v < 1000000000000000) {
                f->number = (double)v;
            } else {
                snprintf(t, SERVE_FIELD_TEXT, "%lld", (long long)v);
                f->text = t;
            }
            break;
        }
        case KEEL_COL_I32:
            f->number = ((const int32_t *)col->data)[r];
            break;
        default: /* KEEL_COL_BOOL */
            f->text = ((const unsigned char *)col->data)[r] ? "1" : "0";
            break;
        }
    }
}
