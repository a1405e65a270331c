/*
 * model_impl.h — what the files of src/model/ share and no other module sees: model.c
 * (building), model_io.c (saving and loading), rowplan.c (the one-row plan) and predict.c
 * (predicting, workspaces, the representation).
 */
#ifndef KEEL_MODEL_MODEL_IMPL_H
#define KEEL_MODEL_MODEL_IMPL_H

#include "model/model.h"

/* model.c: the input schema (the schema less its target) and the inputs indexed by name;
 * KEEL_ENOMEM. The representation node (m->node_repr, -1 for none), read from the graph and
 * the current weights (whether the first layer keeps columns apart). */
int model_make_input_schema(keel_model *m, keel_error *e);
void model_find_repr(keel_model *m);

/* rowplan.c: builds m->plan, or leaves it NULL when the network needs an op the plan does
 * not run (KEEL_ENOMEM only); frees one (NULL-safe). */
int model_rowplan_build(keel_model *m);
void model_rowplan_free(struct keel_rowplan *p);
/* Floats of scratch a workspace needs to run plan p. */
size_t model_rowplan_scratch(const struct keel_rowplan *p);
/* Runs the plan for one row whose dense input is dense (the transform's output or the
 * caller's tensor) and whose category codes are in ws->index, up to node `stop`, whose value
 * is then ws->val[stop]; or to the logits, copied into logits (n_out floats). KEEL_EINVAL
 * for a category code out of range. */
int model_rowplan_run_to(const keel_model *m, keel_workspace *ws, const float *dense, int stop);
int model_rowplan_run(const keel_model *m, keel_workspace *ws, const float *dense, float *logits);

/* predict.c: frees a workspace (NULL-safe). */
void model_ws_free(keel_workspace *ws);

#endif
