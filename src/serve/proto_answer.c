/*
 * proto_answer.c — the response bodies of the protocol layer: predictions in OIP v2, KServe
 * v1 and MLflow shapes, {"error": ...}, OIP v2 model metadata, and the envelopes that
 * explanations are written into. Shapes in docs/serve.md.
 *
 * Design. Each writer appends to a keel_buf with the buffer's own string and number writers
 * (floats as the shortest text that reads back as the same float, keel_buf_json_float)
 * rather than printf. Every append is checked; on failure (out of memory) the buffer is cut
 * back to where the writer began, so a caller never sends half an answer.
 */
#include "serve/proto_impl.h"

#include <string.h>

#define PUT(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != KEEL_OK) goto fail;                                                      \
    } while (0)

/* s as a JSON string; NULL as "". */
static int put_str(keel_buf *o, const char *s)
{
    if (!s) s = "";
    return keel_buf_json_str(o, s, strlen(s));
}

int serve_write_v2(keel_buf *out, const char *model, const char *version, const char *id,
                   const keel_model *m, const float *pred, size_t n_rows)
{
    keel_buf_mark start = keel_buf_begin(out);
    size_t k = keel_model_n_outputs(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"model_name\":"));
    PUT(put_str(out, model));
    if (version) {
        PUT(keel_buf_puts(out, ",\"model_version\":"));
        PUT(put_str(out, version));
    }
    if (id) {
        PUT(keel_buf_puts(out, ",\"id\":"));
        PUT(put_str(out, id));
    }
    if (is_regression(m)) {
        PUT(keel_buf_puts(out, ",\"outputs\":[{\"name\":\"prediction\",\"datatype\":\"FP64\","
                               "\"shape\":["));
        PUT(keel_buf_put_u64(out, n_rows));
        PUT(keel_buf_puts(out, "],\"data\":["));
        for (size_t r = 0; r < n_rows; r++) {
            if (r) PUT(keel_buf_putc(out, ','));
            PUT(keel_buf_json_float(out, pred[r * k]));
        }
        PUT(keel_buf_puts(out, "]}]}"));
        return KEEL_OK;
    }
    PUT(keel_buf_puts(out, ",\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\","
                           "\"shape\":["));
    PUT(keel_buf_put_u64(out, n_rows));
    PUT(keel_buf_puts(out, "],\"data\":["));
    for (size_t r = 0; r < n_rows; r++) {
        if (r) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, keel_model_output_name(m, keel_model_predicted_class(m, pred + r * k))));
    }
    PUT(keel_buf_puts(out, "]},{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":["));
    PUT(keel_buf_put_u64(out, n_rows));
    PUT(keel_buf_putc(out, ','));
    PUT(keel_buf_put_u64(out, k));
    PUT(keel_buf_puts(out, "],\"data\":["));
    for (size_t i = 0; i < n_rows * k; i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(keel_buf_json_float(out, pred[i]));
    }
    PUT(keel_buf_puts(out, "]}]}"));
    return KEEL_OK;
fail:
    return keel_buf_end_rc(out, start, rc); /* a failure: cut back */
}

/* {"predictions": [...]}: for v1 and MLflow alike. */
static int write_predictions(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    keel_buf_mark start = keel_buf_begin(out);
    size_t k = keel_model_n_outputs(m);
    bool reg = is_regression(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"predictions\":["));
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = pred + r * k;
        if (r) PUT(keel_buf_putc(out, ','));
        if (reg) {
            PUT(keel_buf_json_float(out, row[0]));
            continue;
        }
        PUT(keel_buf_puts(out, "{\"label\":"));
        PUT(put_str(out, keel_model_output_name(m, keel_model_predicted_class(m, row))));
        PUT(keel_buf_puts(out, ",\"probabilities\":{"));
        for (size_t j = 0; j < k; j++) {
            if (j) PUT(keel_buf_putc(out, ','));
            PUT(put_str(out, keel_model_output_name(m, j)));
            PUT(keel_buf_putc(out, ':'));
            PUT(keel_buf_json_float(out, row[j]));
        }
        PUT(keel_buf_puts(out, "}}"));
    }
    PUT(keel_buf_puts(out, "]}"));
    return KEEL_OK;
fail:
    return keel_buf_end_rc(out, start, rc); /* a failure: cut back */
}

int serve_write_v1(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    return write_predictions(out, m, pred, n_rows);
}

int serve_write_mlflow(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows)
{
    return write_predictions(out, m, pred, n_rows);
}

int serve_write_error(keel_buf *out, const char *msg)
{
    keel_buf_mark start = keel_buf_begin(out);
    int rc;
    PUT(keel_buf_puts(out, "{\"error\":"));
    PUT(put_str(out, msg));
    PUT(keel_buf_putc(out, '}'));
    return KEEL_OK;
fail:
    return keel_buf_end_rc(out, start, rc); /* a failure: cut back */
}

/* OIP datatype of a model input: numbers as FP64, booleans as BOOL, the rest as BYTES. */
static const char *input_datatype(const char *type)
{
    if (type && strcmp(type, "numeric") == 0) return "FP64";
    if (type && strcmp(type, "boolean") == 0) return "BOOL";
    return "BYTES";
}

int serve_write_v2_metadata(keel_buf *out, const char *model, const char *const *versions,
                            size_t n_versions, const keel_model *m)
{
    keel_buf_mark start = keel_buf_begin(out);
    size_t k = keel_model_n_outputs(m);
    int rc;
    PUT(keel_buf_puts(out, "{\"name\":"));
    PUT(put_str(out, model));
    PUT(keel_buf_puts(out, ",\"versions\":["));
    for (size_t i = 0; i < n_versions; i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, versions[i]));
    }
    PUT(keel_buf_puts(out, "],\"platform\":\"keel\",\"inputs\":["));
    for (size_t i = 0; i < keel_model_n_inputs(m); i++) {
        if (i) PUT(keel_buf_putc(out, ','));
        PUT(keel_buf_puts(out, "{\"name\":"));
        PUT(put_str(out, keel_model_input_name(m, i)));
        PUT(keel_buf_printf(out, ",\"datatype\":\"%s\",\"shape\":[-1]}",
                            input_datatype(keel_model_input_type(m, i))));
    }
    if (is_regression(m)) {
        PUT(keel_buf_puts(out, "],\"outputs\":[{\"name\":\"prediction\",\"datatype\":\"FP64\","
                               "\"shape\":[-1]}]}"));
        return KEEL_OK;
    }
    PUT(keel_buf_printf(out,
                        "],\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\","
                        "\"shape\":[-1]},{\"name\":\"probabilities\",\"datatype\":\"FP32\","
                        "\"shape\":[-1,%zu],\"parameters\":{\"classes\":[",
                        k));
    for (size_t j = 0; j < k; j++) {
        if (j) PUT(keel_buf_putc(out, ','));
        PUT(put_str(out, keel_model_output_name(m, j)));
    }
    PUT(keel_buf_puts(out, "]}}]}"));
    return KEEL_OK;
fail:
    return keel_buf_end_rc(out, start, rc); /* a failure: cut back */
}

/* ---- explain responses ------------------------------------------------------------------ */

int serve_write_explain_v1_head(keel_buf *out)
{
    return keel_buf_puts(out, "{\"explanations\":[");
}

int serve_write_explain_v2_head(keel_buf *out, const char *model, const char *version,
                                const char *id)
{
    keel_buf_mark start = keel_buf_begin(out);
    int rc;
    PUT(keel_buf_puts(out, "{\"model_name\":"));
    PUT(put_str(out, model));
    if (version) {
        PUT(keel_buf_puts(out, ",\"model_version\":"));
        PUT(put_str(out, version));
    }
    if (id) {
        PUT(keel_buf_puts(out, ",\"id\":"));
        PUT(put_str(out, id));
    }
    PUT(keel_buf_puts(out, ",\"explanations\":["));
    return KEEL_OK;
fail:
    return keel_buf_end_rc(out, start, rc); /* a failure: cut back */
}

int serve_write_explain_tail(keel_buf *out)
{
    return keel_buf_puts(out, "]}");
}
