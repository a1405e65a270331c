/*
 * api.c — the public prediction API of include/keel.h over the model layer.
 *
 * Thin on purpose: the model does the work (model.c); this maps "input i" to schema columns
 * (the feature columns of the prediction schema, in schema order), checks arguments and
 * turns failures into messages. Every call takes its scratch memory from the model's
 * workspace pool, so concurrent calls on one model never share buffers.
 *
 * Named and columnar input (predict_fields, predict_columns) fill the workspace's frame of
 * the prediction schema and predict from it, as predict_row does, so the schema's rules and
 * the fitted transforms apply identically; only how a value gets into the frame differs:
 *   text                       the validator's converter, as a CSV field
 *   a number, numeric column   straight in (keel_converter_set_number: the same rules and
 *                              policies, no text round trip); a float is widened exactly
 *   a number, other columns    its text: integers exactly, other doubles and floats in the
 *                              shortest form that reads back as the same value (12 -> "12",
 *                              2.5 -> "2.5"); an infinity as "inf" or "-inf"
 *   a bool                     the value itself for a boolean column, else the number 0 or 1
 *   NaN, a missing flag, NULL text, an input not given: missing
 * Names are resolved first (the model's name table, after trying "field i is input i"),
 * so an unknown or repeated name is reported before any value; values are then converted
 * input by input in the model's order, so the first rejected value reported is the same
 * whatever order the caller names them in. A batch goes through the frame 256 rows at a
 * time; when it takes more than one chunk the outputs are collected aside and copied to out
 * only once every row was accepted.
 */
#include "data/validate.h"
#include "model/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int keel_model_open(const char *path, keel_model **out, keel_error *e)
{
    if (!path || !out) {
        if (out) *out = NULL;
        return keel_error_set(e, KEEL_EINVAL, "keel_model_open: path and out are required");
    }
    return keel_model_load(path, out, e);
}

void keel_model_close(keel_model *m)
{
    keel_model_free(m);
}

const char *keel_model_task(const keel_model *m)
{
    return keel_task_name(m->target.task);
}

const char *keel_model_sha256(const keel_model *m)
{
    return m->sha256;
}

size_t keel_model_n_inputs(const keel_model *m)
{
    return m->n_inputs;
}

const char *keel_model_input_name(const keel_model *m, size_t i)
{
    return i < m->n_inputs ? m->input_schema->columns[m->inputs[i]].name : NULL;
}

const char *keel_model_input_type(const keel_model *m, size_t i)
{
    return i < m->n_inputs ? keel_type_name(m->input_schema->columns[m->inputs[i]].type) : NULL;
}

const char *keel_model_output_name(const keel_model *m, size_t j)
{
    if (m->target.task == KEEL_TASK_REGRESSION) return j == 0 ? "prediction" : NULL;
    return j < m->target.classes.n ? m->target.classes.items[j] : NULL;
}

/* Spreads the caller's input values over all columns of the prediction schema (columns that
 * are not inputs, such as ids, are missing). */
static int predict_one(keel_model *m, const char *const *values, const char **cols, float *out,
                       keel_error *e)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        cols[m->inputs[i]] = values[i];
    return keel_model_predict_strings(m, cols, out, e);
}

int keel_model_predict_batch(keel_model *m, const char *const *values, size_t n_rows, float *out,
                             keel_error *e)
{
    if (!m || (!values && n_rows) || (!out && n_rows))
        return keel_error_set(e, KEEL_EINVAL,
                              "keel_model_predict: model, values and out are required");
    size_t n_cols = m->input_schema->n_columns;
    const char *stack[64], **cols = stack;
    if (n_cols > KEEL_ARRAY_LEN(stack) && !(cols = keel_calloc(n_cols, sizeof *cols)))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    memset(cols, 0, KEEL_MIN(n_cols, KEEL_ARRAY_LEN(stack)) * sizeof *cols);
    size_t k = keel_model_n_outputs(m);
    int rc = KEEL_OK;
    for (size_t r = 0; r < n_rows && !rc; r++) {
        rc = predict_one(m, values + r * m->n_inputs, cols, out + r * k, e);
        if (rc && n_rows > 1 && e) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            keel_error_set(e, rc, "row %zu: %s", r, msg);
        }
    }
    if (cols != stack) keel_free(cols);
    return rc;
}

int keel_model_predict_row(keel_model *m, const char *const *values, float *out, keel_error *e)
{
    return keel_model_predict_batch(m, values, 1, out, e);
}

size_t keel_model_n_features(const keel_model *m)
{
    return m->tf.n_dense;
}

#define TENSOR_CHUNK 256

int keel_model_predict_tensor(keel_model *m, const float *x, size_t n_rows, size_t n_cols,
                              float *out, keel_error *e)
{
    if (!m || (n_rows && (!x || !out)))
        return keel_error_set(e, KEEL_EINVAL, "keel_model_predict_tensor: arguments missing");
    if (m->tf.n_index || m->tf.n_bags || m->node_dense < 0)
        return keel_error_set(
            e, KEEL_EINVAL, "the model has categorical or text inputs: use keel_model_predict_row");
    if (n_cols != m->tf.n_dense)
        return keel_error_set(e, KEEL_EINVAL, "the model takes %zu features per row, not %zu",
                              m->tf.n_dense, n_cols);
    size_t chunk = KEEL_MIN(n_rows ? n_rows : 1, (size_t)TENSOR_CHUNK);
    keel_workspace *ws = keel_model_ws_take(m, chunk);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    size_t k = keel_model_n_outputs(m);
    int rc = KEEL_OK;
    for (size_t i = 0; i < n_rows && !rc; i += chunk) {
        size_t c = KEEL_MIN(chunk, n_rows - i);
        rc = keel_model_logits_dense(m, ws, x + i * n_cols, c, ws->logits);
        if (rc) {
            keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
            break;
        }
        keel_model_finish(m, ws->logits, c, out + i * k);
        size_t bad = keel_model_first_nonfinite(m, out + i * k, c);
        if (bad < c) rc = keel_model_nonfinite_error(e, i + bad, true);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

/* ---- named and columnar input ---- */

#define COLUMNS_CHUNK 256

/* A double's text: whole numbers below 1e15 as integers, others in the shortest of %.15g ..
 * %.17g that reads back as the same double (keel_buf_json_num's rule). */
static const char *double_text(double x, char buf[48])
{
    if (fabs(x) < 1e15 && x == (double)(int64_t)x) {
        snprintf(buf, 48, "%" PRId64, (int64_t)x);
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 48, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

/* A float's text: the shortest of %.6g .. %.9g that reads back as the same float. */
static const char *float_text(float x, char buf[48])
{
    if (fabsf(x) < 1e7f && x == (float)(int64_t)x) {
        snprintf(buf, 48, "%" PRId64, (int64_t)x);
        return buf;
    }
    keel_float_text(x, buf);
    return buf;
}

/* Value r of a column of the given type as text for a message (NULL: missing). */
static const char *shown(int type, const void *data, size_t r, char buf[48])
{
    switch (type) {
    case KEEL_COL_TEXT:
        return ((const char *const *)data)[r];
    case KEEL_COL_F64: {
        double x = ((const double *)data)[r];
        return isnan(x) ? NULL : isinf(x) ? (x > 0 ? "inf" : "-inf") : double_text(x, buf);
    }
    case KEEL_COL_F32: {
        float x = ((const float *)data)[r];
        return isnan(x) ? NULL : isinf(x) ? (x > 0 ? "inf" : "-inf") : float_text(x, buf);
    }
    case KEEL_COL_I64:
        snprintf(buf, 48, "%" PRId64, ((const int64_t *)data)[r]);
        return buf;
    case KEEL_COL_I32:
        snprintf(buf, 48, "%" PRId32, ((const int32_t *)data)[r]);
        return buf;
    default:
        return ((const unsigned char *)data)[r] ? "true" : "false";
    }
}

/* Writes value r of a column of the given type into row fr of input-schema column ci of the
 * workspace's frame. Returns as keel_converter_set: 0, a keel_reason + 1, or KEEL_ENOMEM. */
static int put_value(keel_workspace *ws, size_t ci, int type, const void *data, size_t r, size_t fr)
{
    keel_frame *f = ws->row;
    keel_type want = f->cols[ci].type;
    char buf[48];
    const char *text = NULL;
    double x;
    switch (type) {
    case KEEL_COL_TEXT: {
        const char *p = ((const char *const *)data)[r];
        return keel_converter_set(ws->conv, f, ci, fr, p, p ? strlen(p) : 0);
    }
    case KEEL_COL_F64:
        x = ((const double *)data)[r];
        if (want != KEEL_TYPE_NUMERIC && !isnan(x)) text = double_text(x, buf);
        break;
    case KEEL_COL_F32: {
        float v = ((const float *)data)[r];
        x = v;
        if (want != KEEL_TYPE_NUMERIC && !isnan(v)) text = float_text(v, buf);
        break;
    }
    case KEEL_COL_I64: {
        int64_t v = ((const int64_t *)data)[r];
        x = (double)v;
        if (want != KEEL_TYPE_NUMERIC) {
            snprintf(buf, sizeof buf, "%" PRId64, v);
            text = buf;
        }
        break;
    }
    case KEEL_COL_I32: {
        int32_t v = ((const int32_t *)data)[r];
        x = v;
        if (want != KEEL_TYPE_NUMERIC) {
            snprintf(buf, sizeof buf, "%" PRId32, v);
            text = buf;
        }
        break;
    }
    default: { /* KEEL_COL_BOOL */
        bool v = ((const unsigned char *)data)[r] != 0;
        if (want == KEEL_TYPE_BOOLEAN) {
            f->cols[ci].boolean[fr] = (int8_t)v;
            return 0;
        }
        x = v;
        text = v ? "1" : "0";
        break;
    }
    }
    if (want == KEEL_TYPE_NUMERIC) return keel_converter_set_number(ws->conv, f, ci, fr, x);
    /* An infinity has no text a column other than a numeric one accepts: "inf" it is. */
    if (!text && !isnan(x)) text = x > 0 ? "inf" : "-inf";
    return keel_converter_set(ws->conv, f, ci, fr, text, text ? strlen(text) : 0);
}

/* Fills e for a value that put_value refused (why > 0) or out of memory (why < 0). */
static int value_error(const keel_model *m, size_t input, size_t row, int why, const char *v,
                       keel_error *e)
{
    if (why < 0) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    return keel_error_set(e, KEEL_EMISMATCH, "row %zu, column '%s': %s%.40s%s rejected (%s)", row,
                          keel_model_input_name(m, input), v ? "'" : "", v ? v : "a missing value",
                          v ? "'" : "", keel_reason_name((keel_reason)(why - 1)));
}

/* Records that the caller's item `item` gives the input called name; KEEL_EINVAL when that
 * is no input or one given already. guess: the input to try first. */
static int resolve(const keel_model *m, keel_workspace *ws, const char *name, size_t item,
                   size_t guess, keel_error *e)
{
    if (!name) return keel_error_set(e, KEEL_EINVAL, "input %zu of the call has no name", item);
    long i;
    if (guess < m->n_inputs && !strcmp(name, keel_model_input_name(m, guess)))
        i = (long)guess;
    else if ((i = keel_model_input_index(m, name, strlen(name))) < 0)
        return keel_error_set(e, KEEL_EINVAL, "'%.200s' is not an input of the model", name);
    if (ws->given[i]) return keel_error_set(e, KEEL_EINVAL, "input '%.200s' is given twice", name);
    ws->given[i] = (uint32_t)item + 1;
    return KEEL_OK;
}

int keel_model_predict_columns(keel_model *m, const keel_input_column *cols, size_t n_cols,
                               size_t n_rows, float *out, keel_error *e)
{
    if (!m || (n_cols && !cols) || (n_rows && !out))
        return keel_error_set(e, KEEL_EINVAL,
                              "keel_model_predict_columns: model, columns and out are required");
    for (size_t c = 0; c < n_cols; c++) {
        if (cols[c].type < KEEL_COL_TEXT || cols[c].type > KEEL_COL_BOOL)
            return keel_error_set(e, KEEL_EINVAL, "column %zu has an unknown type (%d)", c,
                                  cols[c].type);
        if (n_rows && !cols[c].data)
            return keel_error_set(e, KEEL_EINVAL, "column %zu has no data", c);
    }
    size_t k = keel_model_n_outputs(m), chunk = KEEL_MIN(n_rows ? n_rows : 1, COLUMNS_CHUNK);
    size_t total;
    if (!keel_size_mul(n_rows, k, &total) || total > SIZE_MAX / sizeof(float))
        return keel_error_set(e, KEEL_ELIMIT, "too many rows");
    keel_workspace *ws = keel_model_ws_take(m, chunk);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    memset(ws->given, 0, m->n_inputs * sizeof *ws->given);
    int rc = KEEL_OK;
    float *dst = out, *aside = NULL;
    for (size_t c = 0; c < n_cols && !rc; c++)
        rc = resolve(m, ws, cols[c].name, c, c, e);
    if (!rc && n_rows > chunk) {
        if (!(dst = aside = keel_malloc(total * sizeof *aside)))
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    for (size_t r0 = 0; r0 < n_rows && !rc; r0 += chunk) {
        size_t n = KEEL_MIN(chunk, n_rows - r0);
        keel_frame_clear(ws->row);
        for (size_t i = 0; i < m->n_inputs && !rc; i++) {
            size_t ci = m->inputs[i];
            const keel_input_column *col = ws->given[i] ? &cols[ws->given[i] - 1] : NULL;
            for (size_t r = 0; r < n; r++) {
                int why;
                if (!col || (col->missing && col->missing[r0 + r]))
                    why = keel_converter_set(ws->conv, ws->row, ci, r, NULL, 0);
                else
                    why = put_value(ws, ci, col->type, col->data, r0 + r, r);
                if (why) {
                    char buf[48];
                    bool has = col && !(col->missing && col->missing[r0 + r]);
                    rc = value_error(m, i, r0 + r, why,
                                     has ? shown(col->type, col->data, r0 + r, buf) : NULL, e);
                    break;
                }
            }
        }
        if (rc) break;
        ws->row->n_rows = n;
        if ((rc = keel_model_logits(m, ws, ws->row, NULL, 0, n, ws->logits))) {
            keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
            break;
        }
        keel_model_finish(m, ws->logits, n, dst + r0 * k);
        size_t bad = keel_model_first_nonfinite(m, dst + r0 * k, n);
        if (bad < n) rc = keel_model_nonfinite_error(e, r0 + bad, true);
    }
    if (!rc && aside) memcpy(out, aside, total * sizeof *out);
    keel_free(aside);
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_model_fill_fields(keel_model *m, keel_workspace *ws, const keel_named_value *fields,
                           size_t n_fields, keel_error *e)
{
    memset(ws->given, 0, m->n_inputs * sizeof *ws->given);
    int rc = KEEL_OK;
    for (size_t f = 0; f < n_fields && !rc; f++)
        rc = resolve(m, ws, fields[f].name, f, f, e);
    if (!rc) keel_frame_clear(ws->row);
    for (size_t i = 0; i < m->n_inputs && !rc; i++) {
        size_t ci = m->inputs[i];
        const keel_named_value *fv = ws->given[i] ? &fields[ws->given[i] - 1] : NULL;
        int why, type = fv && fv->text ? KEEL_COL_TEXT : KEEL_COL_F64;
        const void *data = fv ? (fv->text ? (const void *)&fv->text : &fv->number) : NULL;
        if (!fv)
            why = keel_converter_set(ws->conv, ws->row, ci, 0, NULL, 0);
        else
            why = put_value(ws, ci, type, data, 0, 0);
        if (why) {
            char buf[48];
            rc = value_error(m, i, 0, why, fv ? shown(type, data, 0, buf) : NULL, e);
        }
    }
    if (!rc) ws->row->n_rows = 1;
    return rc;
}

int keel_model_predict_fields(keel_model *m, const keel_named_value *fields, size_t n_fields,
                              float *out, keel_error *e)
{
    if (!m || (n_fields && !fields) || !out)
        return keel_error_set(e, KEEL_EINVAL,
                              "keel_model_predict_fields: model, fields and out are required");
    keel_workspace *ws = keel_model_ws_take(m, 1);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = keel_model_fill_fields(m, ws, fields, n_fields, e);
    if (!rc) {
        if ((rc = keel_model_logits(m, ws, ws->row, NULL, 0, 1, ws->logits)))
            keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
        else
            keel_model_finish(m, ws->logits, 1, out);
        if (!rc && keel_model_first_nonfinite(m, out, 1) == 0)
            rc = keel_model_nonfinite_error(e, 0, false);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

size_t keel_model_predicted_class(const keel_model *m, const float *row_out)
{
    if (!m || !row_out || m->target.task == KEEL_TASK_REGRESSION) return 0;
    size_t k = keel_model_n_outputs(m), best = 0;
    for (size_t j = 1; j < k; j++) /* the first of equal maxima, as keel predict */
        if (row_out[j] > row_out[best]) best = j;
    return best;
}
