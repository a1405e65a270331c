/*
 * prepare.c — everything training needs before its first step: the labelled rows, the split,
 * the fitted transforms and the model, every row transformed once, the class weights, the
 * initial weights and every buffer the loop will use.
 *
 * The steps: fit the target on the rows, drop rows without a label (counted), split off a
 * stratified validation share, fit the transforms on the training share only, transform every
 * row once into dense/index/bag arrays (so epochs only gather, train_gather), weight the
 * classes. Then train_setup sizes the batches, draws the initial weights from the seed and
 * allocates the workspaces, the optimiser's moments, the best and averaged weights: the loop
 * itself (train.c) never allocates but for a text batch's ids.
 */
#include "eval/folds.h"
#include "train/train_impl.h"

#include <math.h>
#include <string.h>

void train_dataset_free(train_dataset *d)
{
    keel_free(d->dense);
    keel_free(d->index);
    keel_bags_free(&d->bags);
    keel_free(d->cls);
    keel_free(d->y);
    keel_free(d->w);
}

/* ---- preparing the data ---- */

int train_prepare(keel_trainer *t, const keel_frame *f, const size_t *rows, size_t n)
{
    keel_train_result *res = t->res;
    const keel_train_options *o = t->o;
    keel_error *e = t->e;
    keel_target tg = {0};
    keel_transform tf = {0};
    keel_schema *schema = NULL;
    size_t *labelled = NULL;
    int32_t *cls = NULL, *fold = NULL;
    float *y = NULL;
    int rc;
    if ((rc = keel_target_fit(&tg, f, rows, n, o->target, o->hp.task, e))) goto fail;
    rc = KEEL_ENOMEM;
    labelled = keel_calloc(n + 1, sizeof *labelled);
    cls = keel_calloc(n + 1, sizeof *cls);
    y = keel_calloc(n + 1, sizeof *y);
    fold = keel_calloc(n + 1, sizeof *fold);
    if (!labelled || !cls || !y || !fold) goto oom;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        int32_t c;
        float v;
        keel_target_label(&tg, f, r, &c, &v);
        if (tg.task == KEEL_TASK_REGRESSION ? isnan(v) : c < 0) continue;
        labelled[used] = r;
        cls[used] = c;
        y[used++] = tg.task == KEEL_TASK_BINARY ? (float)c : v;
    }
    res->n_unlabeled = n - used;
    if (used < 10) {
        rc = keel_error_set(e, KEEL_EEMPTY, "only %zu rows have a target value: too few to train",
                            used);
        goto fail;
    }
    /* The validation share: one fold of round(1 / val_fraction), stratified. */
    float vf = o->hp.val_fraction > 0 && o->hp.val_fraction < 0.9f ? o->hp.val_fraction : 0.15f;
    int k = (int)lrintf(1.0f / vf);
    if (k < 2) k = 2;
    if ((rc = keel_folds_stratified(tg.task == KEEL_TASK_REGRESSION ? NULL : cls, used, k,
                                    o->hp.seed, fold)))
        goto fail;
    t->train_pos = keel_calloc(used, sizeof *t->train_pos);
    t->val_pos = keel_calloc(used, sizeof *t->val_pos);
    size_t *train_rows = t->train_rows = keel_calloc(used, sizeof *train_rows);
    if (!t->train_pos || !t->val_pos || !train_rows) goto oom;
    for (size_t i = 0; i < used; i++)
        if (fold[i] == 0)
            t->val_pos[t->n_val++] = i;
        else
            train_rows[t->n_train] = labelled[i], t->train_pos[t->n_train++] = i;
    keel_transform_options to;
    keel_transform_options_init(&to);
    to.bins = o->hp.bins;
    rc = keel_transform_fit(&tf, f, train_rows, t->n_train, o->target, &to, e);
    if (rc) goto fail;
    if ((rc = keel_schema_dup(f->schema, &schema, e))) goto fail;
    if ((rc = keel_model_build(schema, &tf, &tg, &o->hp, &t->m, e))) {
        schema = NULL; /* owned by the model build, freed by it on failure */
        goto fail;
    }
    schema = NULL;
    keel_model *m = t->m;
    /* Transform every labelled row once. */
    train_dataset *d = &t->d;
    d->n = used;
    d->dense = keel_calloc(used * m->tf.n_dense + 1, sizeof(float));
    d->index = keel_calloc(used * m->tf.n_index + 1, sizeof(int32_t));
    d->w = keel_calloc(used, sizeof(float));
    if (!d->dense || !d->index || !d->w) goto oom;
    if ((rc = keel_transform_apply(&m->tf, f, labelled, 0, used, d->dense, d->index, &d->bags)))
        goto oom;
    d->cls = cls;
    d->y = y;
    cls = NULL;
    y = NULL;
    /* Class weights: balanced (n / (K n_c), from the training share) when asked, or by
     * default for a binary target whose rarer class is under 10% of the rows, as in fraud
     * data. Not by default for several classes: there it trades accuracy for recall of the
     * rare ones, which is a choice for the user (--class-weight balanced). */
    for (size_t i = 0; i < used; i++)
        d->w[i] = 1;
    if (m->target.task != KEEL_TASK_REGRESSION && o->hp.class_weight != 1) {
        size_t K = m->target.classes.n, *count = keel_calloc(K, sizeof *count), rarest = SIZE_MAX;
        if (!count) goto oom;
        for (size_t i = 0; i < t->n_train; i++)
            count[d->cls[t->train_pos[i]]]++;
        for (size_t c = 0; c < K; c++)
            if (count[c] && count[c] < rarest) rarest = count[c];
        if (o->hp.class_weight == 2 || (K == 2 && (double)rarest < 0.1 * (double)t->n_train))
            for (size_t i = 0; i < used; i++) {
                size_t c = (size_t)d->cls[i];
                d->w[i] = count[c] ? (float)((double)t->n_train / ((double)K * count[c])) : 1;
            }
        keel_free(count);
    }
    keel_free(labelled);
    keel_free(fold);
    res->n_train = t->n_train;
    res->n_val = t->n_val;
    return KEEL_OK;
oom:
    rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
fail:
    keel_target_free(&tg);
    keel_transform_free(&tf);
    keel_schema_free(schema);
    keel_free(labelled);
    keel_free(cls);
    keel_free(y);
    keel_free(fold);
    return rc;
}

/* ---- one batch ---- */

int train_gather(keel_trainer *t, keel_exec *x, const size_t *pos, size_t n, bool labels)
{
    const keel_model *m = t->m;
    const train_dataset *d = &t->d;
    size_t nd = m->tf.n_dense, ni = m->tf.n_index;
    if (nd) {
        float *dst = keel_exec_data(x, m->node_dense);
        for (size_t i = 0; i < n; i++)
            memcpy(dst + i * nd, d->dense + pos[i] * nd, nd * sizeof(float));
    }
    if (ni) {
        int32_t *dst = keel_exec_index(x, m->node_index);
        for (size_t i = 0; i < n; i++)
            memcpy(dst + i * ni, d->index + pos[i] * ni, ni * sizeof(int32_t));
    }
    /* Bags: one contiguous list per slot for the batch (slots are laid out one after the
     * other in bag_off / bag_ids). */
    size_t total = 0;
    for (size_t s = 0; s < m->tf.n_bags; s++)
        for (size_t i = 0; i < n; i++)
            total += d->bags.slot[s].off[pos[i] + 1] - d->bags.slot[s].off[pos[i]];
    if (total > t->cap_ids) {
        int32_t *ids = keel_reallocarray(t->bag_ids, total, sizeof *ids);
        if (!ids) return KEEL_ENOMEM;
        t->bag_ids = ids;
        t->cap_ids = total;
    }
    size_t at = 0;
    for (size_t s = 0; s < m->tf.n_bags; s++) {
        const struct keel_bag *b = &d->bags.slot[s];
        uint32_t *off = t->bag_off + s * (t->eval_rows + 1);
        int32_t *ids = t->bag_ids + at;
        size_t k = 0;
        off[0] = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t lo = b->off[pos[i]], hi = b->off[pos[i] + 1];
            memcpy(ids + k, b->ids + lo, (hi - lo) * sizeof *ids);
            k += hi - lo;
            off[i + 1] = (uint32_t)k;
        }
        keel_exec_bag(x, m->node_bag[s], off, ids);
        at += k;
    }
    if (labels) {
        if (m->target.task == KEEL_TASK_MULTICLASS) {
            int32_t *lab = keel_exec_index(x, m->node_label);
            for (size_t i = 0; i < n; i++)
                lab[i] = d->cls[pos[i]];
        } else {
            float *lab = keel_exec_data(x, m->node_label);
            for (size_t i = 0; i < n; i++)
                lab[i] = d->y[pos[i]];
        }
        float *w = keel_exec_data(x, m->node_weight);
        for (size_t i = 0; i < n; i++)
            w[i] = d->w[pos[i]];
    }
    return KEEL_OK;
}

static size_t auto_batch(size_t n_train)
{
    size_t b = 32;
    while (b < 256 && b * 64 < n_train)
        b *= 2;
    return b;
}

int train_setup(keel_trainer *t)
{
    keel_model *m = t->m;
    keel_graph *g = t->g = m->graph;
    const keel_hparams *hp = &t->o->hp;
    t->batch = hp->batch_size ? hp->batch_size : auto_batch(t->n_train);
    t->eval_rows = KEEL_MAX(t->batch, (size_t)1024);
    t->max_epochs = hp->max_epochs > 0 ? hp->max_epochs : 200;
    t->stop.best_loss = INFINITY;
    keel_rng rng;
    keel_rng_seed(&rng, hp->seed);
    keel_graph_init_params(g, &rng);
    if (keel_model_init_feature_embed(m)) return keel_error_set(t->e, KEEL_ENOMEM, "out of memory");
    t->tx = keel_exec_new(g, t->batch, true);
    t->vx = keel_exec_new(g, t->eval_rows, false);
    t->grad = keel_calloc(g->n_params + 1, sizeof(float));
    t->best = keel_calloc(g->n_params + 1, sizeof(float));
    t->best_state = keel_calloc(g->n_state + 1, sizeof(float));
    t->val_logits = keel_calloc(t->n_val * m->n_out + 1, sizeof(float));
    t->decay = keel_calloc(g->n_params + 1, 1);
    t->bag_off = keel_calloc((m->tf.n_bags + 1) * (t->eval_rows + 1), sizeof(uint32_t));
    if (!t->tx || !t->vx || !t->grad || !t->best || !t->best_state || !t->val_logits || !t->decay ||
        !t->bag_off || keel_adamw_init(&t->opt, g->n_params))
        return keel_error_set(t->e, KEEL_ENOMEM, "out of memory");
    /* Weight decay on the weight matrices of linear layers only (not on weights held at
     * zero). */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KEEL_OP_LINEAR) {
            const keel_node *w = &g->nodes[g->nodes[i].inputs[1]];
            memset(t->decay + w->offset, 1, w->rows * w->cols);
        }
    if (m->frozen)
        for (size_t q = 0; q < g->n_params; q++)
            if (m->frozen[q]) t->decay[q] = 0;
    t->opt.decay = t->decay;
    t->opt.weight_decay = hp->weight_decay;
    memcpy(t->best, g->params, g->n_params * sizeof(float));
    if (g->n_state) memcpy(t->best_state, g->state, g->n_state * sizeof(float));
    /* The exponential moving average of the weights is what gets judged and kept. */
    t->ema = keel_calloc(g->n_params + 1, sizeof(float));
    t->live = keel_calloc(g->n_params + 1, sizeof(float));
    t->order = keel_calloc(t->n_train + 1, sizeof *t->order);
    t->val_cls = keel_calloc(t->n_val + 1, sizeof *t->val_cls);
    if (!t->ema || !t->live || !t->order || !t->val_cls)
        return keel_error_set(t->e, KEEL_ENOMEM, "out of memory");
    memcpy(t->ema, g->params, g->n_params * sizeof(float));
    for (size_t i = 0; i < t->n_val; i++)
        t->val_cls[i] = t->d.cls[t->val_pos[i]];
    /* The schedule: linear warm-up over two epochs (at most a tenth of the run), then
     * cosine decay over the epoch budget. */
    uint64_t steps_per_epoch = (t->n_train + t->batch - 1) / t->batch;
    t->total_steps = steps_per_epoch * (uint64_t)t->max_epochs;
    t->warmup = KEEL_MIN(steps_per_epoch * 2, t->total_steps / 10 + 1);
    return KEEL_OK;
}
