/*
 * api.c — the public prediction API of include/keel.h over the model layer.
 *
 * Thin on purpose: the model does the work (model.c); this maps "input i" to schema columns
 * (the feature columns of the prediction schema, in schema order), checks arguments and
 * turns failures into messages. Every call takes its scratch memory from the model's
 * workspace pool, so concurrent calls on one model never share buffers.
 */
#include "model/model.h"

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
    float *in = keel_exec_data(ws->exec, m->node_dense);
    for (size_t i = 0; i < n_rows && !rc; i += chunk) {
        size_t c = KEEL_MIN(chunk, n_rows - i);
        memcpy(in, x + i * n_cols, c * n_cols * sizeof(float));
        rc = keel_exec_forward(ws->exec, m->node_logits, c, false);
        if (!rc) keel_model_finish(m, keel_exec_value(ws->exec, m->node_logits), c, out + i * k);
    }
    keel_model_ws_give(m, ws);
    if (rc) keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
    return rc;
}
