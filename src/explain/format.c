/*
 * format.c — one explanation as a JSON object (the shape is in explain.h). The same text is
 * written by `keel explain` (JSON Lines), the server's explain endpoints and the C API, so
 * every consumer sees one format. Non-finite numbers are written as null. Numbers carry 9
 * significant digits: the attributions come from float arithmetic, so more digits would be
 * noise, and the shortest-round-trip form costs several times as much to print.
 */
#include "explain/explain_impl.h"

#include <math.h>
#include <string.h>

static int num(keel_buf *b, double v)
{
    return isfinite(v) ? keel_buf_printf(b, "%.9g", v) : keel_buf_puts(b, "null");
}

static int str(keel_buf *b, const char *s)
{
    return keel_buf_json_str(b, s, strlen(s));
}

int keel_explanation_to_json(const keel_model *m, const keel_explanation *x, keel_buf *b)
{
    size_t n = m->n_inputs;
    int rc = keel_buf_puts(b, "{\"prediction\":");
    rc |= num(b, x->prediction);
    rc |= keel_buf_puts(b, ",\"baseline_prediction\":");
    rc |= num(b, x->baseline_prediction);
    rc |= keel_buf_puts(b, ",\"scale\":");
    rc |= str(b, keel_explain_scale_name(x->scale));
    rc |= keel_buf_puts(b, ",\"class\":");
    if (m->target.task == KEEL_TASK_REGRESSION || x->class_index >= m->target.classes.n)
        rc |= keel_buf_puts(b, "null");
    else
        rc |= str(b, m->target.classes.items[x->class_index]);
    rc |= keel_buf_puts(b, ",\"method\":");
    rc |= str(b, keel_explain_method_name(x->method));
    rc |= keel_buf_puts(b, ",\"attributions\":{");
    for (size_t i = 0; i < n; i++) {
        if (i) rc |= keel_buf_putc(b, ',');
        rc |= str(b, keel_model_input_name(m, i));
        rc |= keel_buf_putc(b, ':');
        rc |= num(b, x->attributions[i]);
    }
    rc |= keel_buf_putc(b, '}');
    if (x->method == KEEL_EXPLAIN_SHAPLEY) {
        rc |= keel_buf_printf(b, ",\"exact\":%s", x->exact ? "true" : "false");
        if (x->std_errors && !x->exact) {
            rc |= keel_buf_puts(b, ",\"std_errors\":{");
            for (size_t i = 0; i < n; i++) {
                if (i) rc |= keel_buf_putc(b, ',');
                rc |= str(b, keel_model_input_name(m, i));
                rc |= keel_buf_putc(b, ':');
                rc |= num(b, x->std_errors[i]);
            }
            rc |= keel_buf_putc(b, '}');
        }
    }
    rc |= keel_buf_puts(b, ",\"completeness_error\":");
    rc |= num(b, x->completeness_error);
    rc |= keel_buf_printf(b, ",\"steps\":%d,\"reasons\":[", x->steps);
    for (size_t j = 0; j < x->n_reasons && j < KEEL_EXPLAIN_MAX_REASONS; j++) {
        const keel_reason_code *r = &x->reasons[j];
        rc |= keel_buf_puts(b, j ? ",{\"column\":" : "{\"column\":");
        rc |= str(b, keel_model_input_name(m, r->input));
        rc |= keel_buf_puts(b, ",\"attribution\":");
        rc |= num(b, r->attribution);
        rc |= keel_buf_puts(b, ",\"text\":");
        rc |= str(b, r->text);
        rc |= keel_buf_putc(b, '}');
    }
    rc |= keel_buf_puts(b, "]}");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}
