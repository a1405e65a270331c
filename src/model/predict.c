/*
 * predict.c — predicting with a model, and the representation rows get in its network.
 *
 * A model is read-only once built or loaded, so any number of threads predict on it at once,
 * each with a workspace (the executor, the transformed rows, the plan's scratch). A thread
 * keeps one of its own in a slot chosen by its thread number, so a server's workers never
 * contend; other calls take one from a pool under the model's lock and give it back. One row
 * goes through the row plan (rowplan.c) when the model has one, several through the graph
 * executor; both give the same bits. Logits become outputs through the calibration and the
 * target's inverse scaling (keel_model_finish), shared by every path that predicts.
 *
 * The representation (keel_model_represent) is the value of the node model.c chose: the input
 * of the network's dense head, which the explanations' background sample is drawn in.
 */
#include "model/model_impl.h"
#include "data/validate.h"

#include <math.h>
#include <string.h>

/* ---- workspaces ---- */

void model_ws_free(keel_workspace *ws)
{
    if (!ws) return;
    keel_exec_free(ws->exec);
    keel_free(ws->dense);
    keel_free(ws->index);
    keel_bags_free(&ws->bags);
    keel_free(ws->logits);
    keel_frame_free(ws->row);
    keel_converter_free(ws->conv);
    keel_free(ws->scratch);
    keel_free(ws->val);
    keel_free(ws->given);
    keel_free(ws);
}

/* This thread's workspace slot: up to KEEL_WS_SLOTS threads (a server's workers) each have
 * one of their own. */
static size_t ws_slot(void)
{
    return keel_thread_slot() % KEEL_WS_SLOTS;
}

keel_workspace *keel_model_ws_take(keel_model *m, size_t max_rows)
{
    if (max_rows == 0) max_rows = 1;
    keel_workspace *mine = atomic_exchange(&m->ws_slots[ws_slot()].ws, NULL);
    if (mine && mine->max_rows >= max_rows) return mine;
    pthread_mutex_lock(&m->lock);
    if (mine) { /* too small for this call: to the list */
        mine->next = m->free_ws;
        m->free_ws = mine;
    }
    keel_workspace **pp = &m->free_ws, *ws = NULL;
    while (*pp && (*pp)->max_rows < max_rows)
        pp = &(*pp)->next;
    if (*pp) {
        ws = *pp;
        *pp = ws->next;
    }
    pthread_mutex_unlock(&m->lock);
    if (ws) return ws;
    ws = keel_calloc(1, sizeof *ws);
    if (!ws) return NULL;
    ws->max_rows = max_rows;
    ws->exec = keel_exec_new(m->graph, max_rows, false);
    ws->dense = keel_calloc(max_rows * m->tf.n_dense + 1, sizeof(float));
    ws->index = keel_calloc(max_rows * m->tf.n_index + 1, sizeof(int32_t));
    ws->logits = keel_calloc(max_rows * m->n_out + 1, sizeof(float));
    ws->row = keel_frame_new(m->input_schema);
    if (keel_converter_new(m->input_schema, &ws->conv)) ws->conv = NULL;
    ws->given = keel_calloc(m->n_inputs + 1, sizeof *ws->given);
    bool plan_ok = true;
    if (m->plan) {
        ws->scratch = keel_calloc(model_rowplan_scratch(m->plan) + 16, sizeof(float));
        ws->val = keel_calloc((size_t)m->graph->n_nodes + 1, sizeof *ws->val);
        plan_ok = ws->scratch && ws->val;
    }
    if (!ws->exec || !ws->dense || !ws->index || !ws->logits || !ws->row || !ws->conv ||
        !ws->given || !plan_ok) {
        model_ws_free(ws);
        return NULL;
    }
    return ws;
}

void keel_model_ws_give(keel_model *m, keel_workspace *ws)
{
    if (!ws) return;
    keel_workspace *empty = NULL;
    if (atomic_compare_exchange_strong(&m->ws_slots[ws_slot()].ws, &empty, ws)) return;
    pthread_mutex_lock(&m->lock);
    ws->next = m->free_ws;
    m->free_ws = ws;
    pthread_mutex_unlock(&m->lock);
}

int keel_model_logits(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                      size_t first, size_t n, float *logits)
{
    if (n > ws->max_rows) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    int rc = keel_transform_apply(&m->tf, f, rows, first, n, ws->dense, ws->index, &ws->bags);
    if (rc) return rc;
    if (n == 1 && m->plan && ws->scratch) return model_rowplan_run(m, ws, ws->dense, logits);
    if (m->node_dense >= 0)
        memcpy(keel_exec_data(ws->exec, m->node_dense), ws->dense,
               n * m->tf.n_dense * sizeof(float));
    if (m->node_index >= 0)
        memcpy(keel_exec_index(ws->exec, m->node_index), ws->index,
               n * m->tf.n_index * sizeof(int32_t));
    /* A bag that never held an id has no ids array yet; the executor wants one all the
     * same (every offset is 0, so nothing is read from it). */
    static const int32_t no_ids[1] = {0};
    for (size_t b = 0; b < m->tf.n_bags; b++)
        keel_exec_bag(ws->exec, m->node_bag[b], ws->bags.slot[b].off,
                      ws->bags.slot[b].ids ? ws->bags.slot[b].ids : no_ids);
    if ((rc = keel_exec_forward(ws->exec, m->node_logits, n, false))) return rc;
    memcpy(logits, keel_exec_value(ws->exec, m->node_logits), n * m->n_out * sizeof(float));
    return KEEL_OK;
}

int keel_model_logits_dense(keel_model *m, keel_workspace *ws, const float *dense, size_t n,
                            float *logits)
{
    if (n > ws->max_rows || m->node_dense < 0) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    if (n == 1 && m->plan && ws->scratch) return model_rowplan_run(m, ws, dense, logits);
    memcpy(keel_exec_data(ws->exec, m->node_dense), dense, n * m->tf.n_dense * sizeof(float));
    int rc = keel_exec_forward(ws->exec, m->node_logits, n, false);
    if (!rc)
        memcpy(logits, keel_exec_value(ws->exec, m->node_logits), n * m->n_out * sizeof(float));
    return rc;
}

void keel_model_finish(const keel_model *m, const float *logits, size_t n, float *out)
{
    if (m->target.task == KEEL_TASK_REGRESSION) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(logits[i] * m->target.scale + m->target.mean);
        return;
    }
    keel_calibration_apply(&m->cal, logits, n, m->n_out, out);
}

size_t keel_model_first_nonfinite(const keel_model *m, const float *out, size_t n)
{
    size_t k = keel_model_n_outputs(m);
    for (size_t i = 0; i < n * k; i++)
        if (!isfinite(out[i])) return i / k;
    return n;
}

int keel_model_nonfinite_error(keel_error *e, size_t row, bool with_row)
{
    char where[32] = "";
    if (with_row) snprintf(where, sizeof where, "row %zu: ", row);
    return keel_error_set(e, KEEL_ENONFINITE,
                          "%sthe model computed a value that is not a finite number (NaN or "
                          "infinity), so there is no prediction for this row: its weights "
                          "overflow (retrain the model)",
                          where);
}

#define PREDICT_CHUNK 256

int keel_model_predict_frame(keel_model *m, const keel_frame *f, const size_t *rows, size_t first,
                             size_t n, float *out)
{
    keel_workspace *ws = keel_model_ws_take(m, PREDICT_CHUNK);
    if (!ws) return KEEL_ENOMEM;
    size_t k = keel_model_n_outputs(m);
    int rc = KEEL_OK;
    for (size_t i = 0; i < n && !rc; i += PREDICT_CHUNK) {
        size_t c = KEEL_MIN((size_t)PREDICT_CHUNK, n - i);
        rc = keel_model_logits(m, ws, f, rows ? rows + i : NULL, first + i, c, ws->logits);
        if (!rc) keel_model_finish(m, ws->logits, c, out + i * k);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_model_predict_strings(keel_model *m, const char *const *values, float *out, keel_error *e)
{
    keel_workspace *ws = keel_model_ws_take(m, 1);
    if (!ws) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    const keel_schema *s = m->input_schema;
    int rc = KEEL_OK;
    keel_frame_clear(ws->row);
    /* The same conversion as validation: missing tokens, types, categories, policies. Only
     * features are read (the transforms read nothing else): an id column that may not be
     * missing must not refuse every row. */
    for (size_t i = 0; i < s->n_columns && !rc; i++) {
        if (s->columns[i].role != KEEL_ROLE_FEATURE) continue;
        const char *v = values[i];
        int why = keel_converter_set(ws->conv, ws->row, i, 0, v, v ? strlen(v) : 0);
        if (why < 0)
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        else if (why > 0)
            rc = keel_error_set(e, KEEL_EMISMATCH, "column '%s': %s%.40s%s rejected (%s)",
                                s->columns[i].name, v ? "'" : "", v ? v : "a missing value",
                                v ? "'" : "", keel_reason_name((keel_reason)(why - 1)));
    }
    if (!rc) {
        ws->row->n_rows = 1;
        rc = keel_model_logits(m, ws, ws->row, NULL, 0, 1, ws->logits);
        if (rc)
            keel_error_set(e, rc, "prediction failed: %s", keel_strerror(rc));
        else
            keel_model_finish(m, ws->logits, 1, out);
        if (!rc && keel_model_first_nonfinite(m, out, 1) == 0)
            rc = keel_model_nonfinite_error(e, 0, false);
    }
    keel_model_ws_give(m, ws);
    return rc;
}

int keel_model_evaluate(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                        keel_metrics *out)
{
    keel_metrics_clear(out);
    size_t k = keel_model_n_outputs(m);
    float *pred = keel_calloc(n * k + 1, sizeof *pred);
    int32_t *cls = keel_calloc(n + 1, sizeof *cls);
    double *y = keel_calloc(n + 1, sizeof *y), *p = keel_calloc(n + 1, sizeof *p);
    size_t *keep = keel_calloc(n + 1, sizeof *keep);
    int rc = KEEL_ENOMEM;
    if (!pred || !cls || !y || !p || !keep) goto done;
    /* Rows with a missing target (or a class never seen in training) cannot be scored. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        int32_t c;
        float v;
        keel_target_label(&m->target, f, r, &c, &v);
        if (m->target.task == KEEL_TASK_REGRESSION ? isnan(v) : c < 0) continue;
        cls[kept] = c;
        y[kept] = v * m->target.scale + m->target.mean;
        keep[kept++] = r;
    }
    if ((rc = keel_model_predict_frame(m, f, keep, 0, kept, pred))) goto done;
    /* Measures of NaN predictions would be NaN, or worse, plausible numbers. */
    if (keel_model_first_nonfinite(m, pred, kept) < kept) {
        rc = KEEL_ENONFINITE;
        goto done;
    }
    if (m->target.task == KEEL_TASK_REGRESSION) {
        for (size_t i = 0; i < kept; i++)
            p[i] = pred[i];
        rc = keel_metrics_regression(y, p, kept, out);
    } else {
        rc = keel_metrics_classification(cls, pred, kept, k, out);
    }
done:
    keel_free(pred);
    keel_free(cls);
    keel_free(y);
    keel_free(p);
    keel_free(keep);
    return rc;
}

/* ---- the representation ---- */

int keel_model_represent(keel_model *m, keel_workspace *ws, const keel_frame *f, const size_t *rows,
                         size_t first, size_t n, float *repr)
{
    if (m->node_repr < 0) return KEEL_ENOTSUP;
    if (n > ws->max_rows) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    size_t d = keel_model_repr_dim(m);
    int rc = keel_transform_apply(&m->tf, f, rows, first, n, ws->dense, ws->index, &ws->bags);
    if (rc) return rc;
    if (n == 1 && m->plan && ws->scratch) {
        if ((rc = model_rowplan_run_to(m, ws, ws->dense, m->node_repr))) return rc;
        memcpy(repr, ws->val[m->node_repr], d * sizeof *repr);
        return KEEL_OK;
    }
    if (m->node_dense >= 0)
        memcpy(keel_exec_data(ws->exec, m->node_dense), ws->dense,
               n * m->tf.n_dense * sizeof(float));
    if (m->node_index >= 0)
        memcpy(keel_exec_index(ws->exec, m->node_index), ws->index,
               n * m->tf.n_index * sizeof(int32_t));
    static const int32_t no_ids[1] = {0};
    for (size_t b = 0; b < m->tf.n_bags; b++)
        keel_exec_bag(ws->exec, m->node_bag[b], ws->bags.slot[b].off,
                      ws->bags.slot[b].ids ? ws->bags.slot[b].ids : no_ids);
    if ((rc = keel_exec_forward(ws->exec, m->node_repr, n, false))) return rc;
    memcpy(repr, keel_exec_value(ws->exec, m->node_repr), n * d * sizeof *repr);
    return KEEL_OK;
}

int keel_model_set_background(keel_model *m, const keel_frame *f, const size_t *rows, size_t n,
                              size_t k, uint64_t seed)
{
    /* Found again on the final weights: whether the first layer keeps columns apart is read
     * from them, and a network built but not yet trained has all-zero weights, which keep
     * every column apart. Loading finds it from the saved weights the same way. */
    model_find_repr(m);
    size_t d = keel_model_repr_dim(m);
    if (!rows) n = f->n_rows;
    if (k > n) k = n;
    keel_free(m->background);
    m->background = NULL;
    m->n_background = 0;
    if (!d || !k) return KEEL_OK;
    size_t *pick = keel_malloc(n * sizeof *pick);
    float *bg = keel_malloc(k * d * sizeof *bg);
    keel_workspace *ws = keel_model_ws_take(m, 64);
    int rc = KEEL_ENOMEM;
    if (!pick || !bg || !ws) goto done;
    /* The first k of a Fisher-Yates shuffle, sorted back into row order. */
    keel_rng rng;
    keel_rng_seed(&rng, seed ^ 0x6267726f756e64ULL);
    for (size_t i = 0; i < n; i++)
        pick[i] = rows ? rows[i] : i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(keel_rng_uniform(&rng) * (double)(n - i));
        if (j >= n) j = n - 1;
        size_t t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
    }
    rc = KEEL_OK;
    for (size_t i = 0; i < k && !rc; i += 64) {
        size_t c = KEEL_MIN((size_t)64, k - i);
        rc = keel_model_represent(m, ws, f, pick + i, 0, c, bg + i * d);
    }
    for (size_t i = 0; i < k * d && !rc; i++)
        if (!isfinite(bg[i])) rc = KEEL_EINVAL;
    if (!rc) {
        m->background = bg;
        m->n_background = k;
        bg = NULL;
    }
done:
    if (ws) keel_model_ws_give(m, ws);
    keel_free(pick);
    keel_free(bg);
    return rc;
}
