/*
 * api.c — keel_explain of the public C API (include/keel.h) over src/explain.
 *
 * The options come as one string ("method=shapley,scale=probability,top=3") so that the
 * ABI stays one function whatever options are added later, and so that a COBOL or shell
 * caller can pass them without building a struct.
 */
#include "explain/explain_impl.h"

#include <stdlib.h>
#include <string.h>

/* Parses "key=value,key=value" into o. */
static int parse_options(const keel_model *m, const char *s, keel_explain_options *o, keel_error *e)
{
    while (s && *s) {
        const char *end = strchr(s, ','), *eq = strchr(s, '=');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (!eq || eq >= s + len)
            return keel_error_set(e, KEEL_EINVAL, "keel_explain: option '%.*s' is not key=value",
                                  (int)KEEL_MIN(len, (size_t)64), s);
        size_t kl = (size_t)(eq - s), vl = len - kl - 1;
        char val[128];
        if (vl >= sizeof val)
            return keel_error_set(e, KEEL_EINVAL, "keel_explain: option too long");
        memcpy(val, eq + 1, vl);
        val[vl] = '\0';
        char *tail;
#define KEY(k) (kl == strlen(k) && !memcmp(s, k, kl))
        if (KEY("method")) {
            int v = keel_explain_method_from_name(val);
            if (v < 0)
                return keel_error_set(e, KEEL_EINVAL, "keel_explain: unknown method '%s'", val);
            o->method = (keel_explain_method)v;
        } else if (KEY("scale")) {
            int v = keel_explain_scale_from_name(val);
            if (v < 0)
                return keel_error_set(e, KEEL_EINVAL, "keel_explain: unknown scale '%s'", val);
            o->scale = (keel_explain_scale)v;
        } else if (KEY("class")) {
            long c = keel_strlist_find(&m->target.classes, val, vl);
            if (c < 0) return keel_error_set(e, KEEL_EINVAL, "keel_explain: no class '%s'", val);
            o->class_index = c;
        } else if (KEY("top")) {
            long v = strtol(val, &tail, 10);
            if (*tail || v < 0 || v > KEEL_EXPLAIN_REASONS)
                return keel_error_set(e, KEEL_EINVAL, "keel_explain: top must be 0..%d",
                                      KEEL_EXPLAIN_REASONS);
            o->top_k = (size_t)v;
        } else if (KEY("steps")) {
            long v = strtol(val, &tail, 10);
            if (*tail || v < 1 || v > 1024)
                return keel_error_set(e, KEEL_EINVAL, "keel_explain: steps must be 1..1024");
            o->steps = (int)v;
        } else {
            return keel_error_set(e, KEEL_EINVAL, "keel_explain: unknown option '%.*s'",
                                  (int)KEEL_MIN(kl, (size_t)64), s);
        }
#undef KEY
        s = end ? end + 1 : NULL;
    }
    return KEEL_OK;
}

int keel_explain(keel_model *m, const keel_named_value *fields, size_t n_fields,
                 const char *options, double *attributions, keel_explain_info *info, keel_error *e)
{
    if (!m || (n_fields && !fields) || !attributions)
        return keel_error_set(e, KEEL_EINVAL,
                              "keel_explain: model, fields and attributions are required");
    keel_explain_options o;
    keel_explain_options_init(&o);
    int rc = parse_options(m, options, &o, e);
    if (rc) return rc;
    keel_explainer *x;
    if ((rc = keel_explainer_get(m, &x, e))) return rc;
    size_t k = o.top_k ? o.top_k : KEEL_MIN(x->settings.reasons, (size_t)KEEL_EXPLAIN_REASONS);
    o.top_k = k;
    keel_explanation ex = {.attributions = attributions};
    if ((rc = keel_explain_fields(m, fields, n_fields, &o, &ex, e))) return rc;
    if (info) {
        memset(info, 0, sizeof *info);
        info->prediction = ex.prediction;
        info->baseline_prediction = ex.baseline_prediction;
        info->completeness_error = ex.completeness_error;
        info->scale = keel_explain_scale_name(ex.scale);
        info->method = keel_explain_method_name(ex.method);
        info->class_index = ex.class_index;
        info->n_reasons = KEEL_MIN(ex.n_reasons, (size_t)KEEL_EXPLAIN_REASONS);
        for (size_t j = 0; j < info->n_reasons; j++) {
            info->reason_input[j] = ex.reasons[j].input;
            memcpy(info->reason_text[j], ex.reasons[j].text, sizeof info->reason_text[j]);
        }
    }
    return KEEL_OK;
}
