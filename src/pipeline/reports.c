/*
 * reports.c — the jobs' summaries (reports.h). Each writer appends with sticky errors and
 * ends with keel_buf_end, so a summary is written whole or not at all.
 */
#include "pipeline/reports.h"

#include <math.h>
#include <string.h>

/* keel_metrics_to_json writes an object; its members, spliced after a comma, into ours. */
static void metrics_members(keel_buf *b, const keel_metrics *mt)
{
    keel_buf tmp;
    keel_buf_init(&tmp);
    if (keel_metrics_to_json(mt, &tmp))
        b->failed = true;
    else if (tmp.len > 2) {
        keel_buf_putc(b, ',');
        keel_buf_append(b, tmp.data + 1, tmp.len - 2);
    }
    keel_buf_free(&tmp);
}

int keel_train_job_summary(const keel_train_job_result *res, bool json, const char *home,
                           keel_buf *b)
{
    const keel_train_result *tr = &res->train;
    const keel_validate_result *vr = &res->data;
    const keel_model *model = res->model;
    const char *task = keel_task_name(model->target.task), *out = res->output;
    keel_buf_mark start = keel_buf_begin(b);
    if (json) {
        keel_buf_puts(b, "{\"model\":");
        keel_buf_json_str(b, out, strlen(out));
        keel_buf_printf(b,
                        ",\"sha256\":\"%s\",\"task\":\"%s\",\"records\":%llu,\"quarantined\":%llu,"
                        "\"train_rows\":%zu,\"validation_rows\":%zu,\"unlabeled_rows\":%zu,"
                        "\"epochs\":%d,\"best_epoch\":%d,\"canceled\":%s,\"seconds\":%.3f,"
                        "\"validation\":{\"n\":%llu",
                        model->sha256, task, (unsigned long long)vr->records,
                        (unsigned long long)vr->quarantined, tr->n_train, tr->n_val,
                        tr->n_unlabeled, tr->epochs, tr->best_epoch,
                        tr->canceled ? "true" : "false", tr->seconds,
                        (unsigned long long)tr->val.n);
        metrics_members(b, &tr->val);
        keel_buf_putc(b, '}');
        if (res->version) {
            keel_buf_puts(b, ",\"registry\":{\"model\":");
            keel_buf_json_str(b, res->name, strlen(res->name));
            keel_buf_printf(b, ",\"version\":%lld,\"run\":%lld,\"dataset\":%lld}",
                            (long long)res->version, (long long)res->run, (long long)res->dataset);
        }
        keel_buf_puts(b, "}\n");
        return keel_buf_end(b, start);
    }
    keel_buf_printf(b, "model: %s\nsha256: %s\ntask: %s", out, model->sha256, task);
    if (model->target.task != KEEL_TASK_REGRESSION) {
        keel_buf_printf(b, " (%zu classes:", model->target.classes.n);
        for (size_t i = 0; i < model->target.classes.n && i < 10; i++)
            keel_buf_printf(b, " %s", model->target.classes.items[i]);
        keel_buf_puts(b, model->target.classes.n > 10 ? " ...)" : ")");
    }
    keel_buf_printf(b,
                    "\nrows: %zu train, %zu validation, %zu without a target, %llu "
                    "quarantined\nepochs: %d (best %d)%s, %.1f s\nvalidation:\n",
                    tr->n_train, tr->n_val, tr->n_unlabeled, (unsigned long long)vr->quarantined,
                    tr->epochs, tr->best_epoch,
                    tr->canceled        ? ", stopped by the user"
                    : tr->early_stopped ? ", early stopping"
                                        : "",
                    tr->seconds);
    if (keel_metrics_to_text(&tr->val, b)) b->failed = true; /* its failure undone: ours */
    if (res->version)
        keel_buf_printf(b, "registered: %s:%lld (run %lld, dataset %lld) in %s\n", res->name,
                        (long long)res->version, (long long)res->run, (long long)res->dataset,
                        home);
    return keel_buf_end(b, start);
}

static const char *const metric_names[] = {
    "accuracy", "roc_auc", "average_precision", "log_loss", "f1", "brier", "ece", "rmse",
    "mae",      "r2"};

static double metric_at(const keel_metrics *m, size_t j)
{
    const double v[] = {m->accuracy, m->roc_auc, m->average_precision,
                        m->log_loss, m->f1,      m->brier,
                        m->ece,      m->rmse,    m->mae,
                        m->r2};
    return j < KEEL_ARRAY_LEN(v) ? v[j] : NAN;
}

int keel_cv_summary(const char *file, const char *target, const keel_cv_fold *per, int folds,
                    bool json, keel_buf *b)
{
    keel_metrics *each = keel_calloc((size_t)folds + 1, sizeof *each), mean, sd;
    if (!each) return KEEL_ENOMEM;
    for (int k = 0; k < folds; k++)
        each[k] = per[k].m;
    keel_metrics_mean_std(each, (size_t)folds, &mean, &sd);
    keel_free(each);
    keel_buf_mark start = keel_buf_begin(b);
    if (json) {
        keel_buf_printf(b, "{\"folds\":%d,\"per_fold\":[", folds);
        for (int k = 0; k < folds; k++) {
            keel_buf_printf(b, "%s{\"fold\":%d,\"epochs\":%d", k ? "," : "", k + 1, per[k].epochs);
            metrics_members(b, &per[k].m);
            keel_buf_putc(b, '}');
        }
        keel_buf_puts(b, "],\"mean\":");
        if (keel_metrics_to_json(&mean, b)) b->failed = true; /* its failure undone: ours */
        keel_buf_puts(b, ",\"std\":");
        if (keel_metrics_to_json(&sd, b)) b->failed = true;
        keel_buf_puts(b, "}\n");
    } else {
        keel_buf_printf(b, "%d-fold cross-validation of %s (target %s)\n%-18s %10s %10s\n", folds,
                        file, target, "measure", "mean", "std");
        for (size_t j = 0; j < KEEL_ARRAY_LEN(metric_names); j++)
            if (!isnan(metric_at(&mean, j)))
                keel_buf_printf(b, "%-18s %10.4f %10.4f\n", metric_names[j], metric_at(&mean, j),
                                metric_at(&sd, j));
    }
    return keel_buf_end(b, start);
}

int keel_evaluation_summary(const char *model, const char *file, const keel_validate_result *vr,
                            const keel_metrics *mt, bool json, keel_buf *b)
{
    keel_buf_mark start = keel_buf_begin(b);
    if (json) {
        keel_buf_puts(b, "{\"model\":");
        keel_buf_json_str(b, model, strlen(model));
        keel_buf_puts(b, ",\"file\":");
        keel_buf_json_str(b, file, strlen(file));
        keel_buf_printf(b, ",\"records\":%llu,\"quarantined\":%llu,\"scored\":%llu",
                        (unsigned long long)vr->records, (unsigned long long)vr->quarantined,
                        (unsigned long long)mt->n);
        metrics_members(b, mt);
        keel_buf_puts(b, "}\n");
    } else {
        keel_buf_printf(b, "model: %s\nfile: %s (%llu records, %llu quarantined, %llu scored)\n",
                        model, file, (unsigned long long)vr->records,
                        (unsigned long long)vr->quarantined, (unsigned long long)mt->n);
        if (keel_metrics_to_text(mt, b)) b->failed = true;
    }
    return keel_buf_end(b, start);
}

int keel_scoring_summary_write(const keel_scoring_summary *s, bool json, keel_buf *out)
{
    keel_buf_mark mark = keel_buf_begin(out);
    unsigned long long records = s->data->records, quarantined = s->data->quarantined;
    if (json) {
        keel_buf_printf(out, "{\"model\":\"%s\",\"records\":%llu,\"%s\":%llu,\"quarantined\":%llu",
                        s->model_sha256, records, s->done_name, (unsigned long long)s->done,
                        quarantined);
        if (s->method)
            keel_buf_printf(out, ",\"method\":\"%s\",\"limit_reached\":%s", s->method,
                            s->limit_hit ? "true" : "false");
        keel_buf_printf(out, ",\"seconds\":%.3f}\n", s->seconds);
    } else {
        bool see = quarantined && s->quarantine;
        keel_buf_printf(out, "%llu records%s, %llu %s, %llu quarantined%s%s (%.2f s)\n", records,
                        s->limit_hit ? " read" : "", (unsigned long long)s->done, s->done_name,
                        quarantined, see ? ", see " : "", see ? s->quarantine : "", s->seconds);
    }
    return keel_buf_end(out, mark);
}
