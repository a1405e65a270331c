/*
 * train_job.c — the training job: schema, validation, the registry's run, training, lineage,
 * saving and registering, in that order (train_job.h).
 *
 * The order is the record's: the dataset and the run are written to the registry before
 * training starts, so that a crash or a refusal mid-way leaves a run marked failed (or still
 * running, which `keel run list` shows) rather than nothing; the model is registered only
 * after its file is saved and the run ended as finished. Every failure after the run started
 * ends it as failed with the reason, exactly once (job.run_ended).
 *
 * The artifact's bytes depend only on the data, the schema, the options and job->created
 * and job->user: the wall clock never reaches them, so the same inputs give the same file.
 */
#include "pipeline/train_job.h"

#include "data/infer.h"
#include "data/profile.h"
#include "tensor/tensor.h"

#include <ctype.h>
#include <string.h>
#include <unistd.h>

/* ---- names and paths ------------------------------------------------------------------- */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* The registry name of a model written to out: given, else out's base name without ".keel",
 * with characters a name may not have replaced by '-'. New string. */
static char *model_name(const char *given, const char *out)
{
    if (given) return keel_strdup(given);
    const char *b = keel_path_base(out);
    size_t n = KEEL_MIN(keel_path_stem_len(b, ".keel"), (size_t)64);
    char *s = keel_strndup(b, n);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) s[i] = '-';
    if (!n || !isalnum((unsigned char)s[0])) {
        keel_free(s);
        return keel_strdup("model");
    }
    return s;
}

/* ---- the schema and the data ------------------------------------------------------------ */

static void loosen_inferred(keel_schema *s)
{
    for (size_t i = 0; i < s->n_columns; i++) {
        keel_schema_column *c = &s->columns[i];
        /* A timestamp column becomes calendar features (month, weekday, hour, year). */
        if (c->role == KEEL_ROLE_TIME && c->type == KEEL_TYPE_TIMESTAMP)
            c->role = KEEL_ROLE_FEATURE;
        if (c->role != KEEL_ROLE_FEATURE) continue;
        c->has_min = c->has_max = false;
        c->integer = false;
        c->nullable = true;
        if (c->type == KEEL_TYPE_CATEGORICAL || c->type == KEEL_TYPE_BOOLEAN)
            c->on_invalid = KEEL_ON_INVALID_MISSING;
    }
}

int keel_job_training_schema(const char *file, const char *target, const char *schema_path,
                             keel_schema **out, keel_error *e)
{
    keel_schema *s = NULL;
    int rc;
    *out = NULL;
    if (schema_path) {
        if ((rc = keel_schema_load(schema_path, &s, e))) return rc;
    } else {
        keel_infer_options io;
        keel_infer_options_init(&io);
        io.target = target;
        if ((rc = keel_infer_file(file, &io, &s, e))) return rc;
        loosen_inferred(s);
    }
    long t = keel_schema_find(s, target);
    if (t < 0) {
        keel_error_set(e, KEEL_ESCHEMA, "%s has no column '%s' (the --target)",
                       schema_path ? schema_path : file, target);
        keel_schema_free(s);
        return KEEL_ESCHEMA;
    }
    for (size_t i = 0; i < s->n_columns; i++) /* one target only: the one asked for */
        if (s->columns[i].role == KEEL_ROLE_TARGET) s->columns[i].role = KEEL_ROLE_IGNORE;
    s->columns[t].role = KEEL_ROLE_TARGET;
    s->columns[t].nullable = true; /* unlabelled rows are counted and skipped, not quarantined */
    keel_schema_move_to_end(s, (size_t)t);
    *out = s;
    return KEEL_OK;
}

int keel_job_load_data(const char *file, const keel_schema *s, const char *quarantine,
                       const volatile int *cancel, keel_progress_fn progress, void *progress_ud,
                       keel_frame **f, keel_validate_result *res, keel_error *e)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = quarantine;
    o.sha256 = true;
    o.cancel = cancel;
    o.progress = progress;
    o.progress_ud = progress_ud;
    return keel_frame_load(s, file, &o, f, res, e);
}

/* ---- the registry's record -------------------------------------------------------------- */

/* The registry's message for a refused call, as e. */
static int registry_error(keel_registry *r, int rc, keel_error *e)
{
    const char *msg = keel_registry_errmsg(r);
    return keel_error_set(e, rc, "%s", msg[0] ? msg : keel_strerror(rc));
}

int keel_job_register_dataset(keel_registry *r, const char *file, const keel_schema *s,
                              const keel_validate_result *res, const char *profile_json,
                              int64_t *id, keel_error *e)
{
    keel_buf schema;
    keel_buf_init(&schema);
    if (keel_schema_to_json(s, &schema) != KEEL_OK) {
        keel_buf_free(&schema);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    bool is_stdin = !strcmp(file, "-");
    keel_dataset_info d = {
        .sha256 = res->sha256,
        .name = is_stdin ? "stdin" : keel_path_base(file),
        .source = is_stdin ? "stdin" : file,
        .n_rows = (int64_t)res->records,
        .n_accepted = (int64_t)res->accepted,
        .n_rejected = (int64_t)res->quarantined,
        .n_columns = (int64_t)s->n_columns,
        .schema_json = schema.data,
        .profile_json = profile_json,
    };
    int rc = keel_registry_dataset_put(r, &d, id);
    keel_buf_free(&schema);
    return rc == KEEL_OK ? KEEL_OK : registry_error(r, rc, e);
}

int keel_epoch_report_json(const keel_epoch_report *r, keel_buf *b)
{
    int rc = keel_buf_printf(b,
                             "{\"event\":\"epoch\",%s%.0d%s\"epoch\":%d,\"max_epochs\":%d,"
                             "\"step\":%llu,\"train_loss\":",
                             r->fold ? "\"fold\":" : "", r->fold, r->fold ? "," : "", r->epoch,
                             r->max_epochs, (unsigned long long)r->step);
    rc |= keel_buf_json_num(b, r->train_loss);
    rc |= keel_buf_puts(b, ",\"val_loss\":");
    rc |= keel_buf_json_num(b, r->val_loss);
    rc |= keel_buf_printf(b, ",\"%s\":", r->metric_name);
    rc |= keel_buf_json_num(b, r->val_metric);
    rc |= keel_buf_printf(b, ",\"best_epoch\":%d,\"seconds\":%.3f}\n", r->best_epoch, r->seconds);
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int keel_epoch_report_text(const keel_epoch_report *r, keel_buf *b)
{
    double per = r->epoch > 0 ? r->seconds / r->epoch : 0;
    int rc = keel_buf_printf(
        b, "%s%.0d%sepoch %d/%d  loss %.4f  val loss %.4f  %s %.4f  best %d  %.1fs  ETA ≤%.0fs",
        r->fold ? "fold " : "", r->fold, r->fold ? "  " : "", r->epoch, r->max_epochs,
        r->train_loss, r->val_loss, r->metric_name, r->val_metric, r->best_epoch, r->seconds,
        per * (r->max_epochs - r->epoch));
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* ---- the job ----------------------------------------------------------------------------- */

typedef struct job_state {
    const keel_train_job *job;
    keel_train_job_result *res;
    keel_buf log;   /* the epochs' JSON lines: the run's log in the registry */
    bool run_ended; /* the run's status is written (once) */
} job_state;

static void on_epoch(void *ud, const keel_epoch_report *r)
{
    job_state *st = ud;
    if (st->job->registry) keel_epoch_report_json(r, &st->log);
    if (st->job->on_epoch) st->job->on_epoch(st->job->ud, r);
}

static int run_end(job_state *st, const char *status, const char *metrics, const char *log,
                   const char *error, keel_error *e)
{
    keel_registry *reg = st->job->registry;
    st->run_ended = true;
    int rc = keel_registry_run_end(reg, st->res->run, status, metrics, log, error);
    return rc == KEEL_OK ? KEEL_OK : registry_error(reg, rc, e);
}

/* Fails the job at step with e already set. A run that training failed in is ended as
 * failed with the reason (why, else e's message) and the epochs' log; one that failed
 * around training (set-up, the registry) is ended at the job's end as "see the log". */
static int fail(job_state *st, keel_train_job_step step, int rc, const char *why, keel_error *e)
{
    st->res->failed_at = step;
    bool training_step =
        step == KEEL_JOB_TRAIN || step == KEEL_JOB_SETTINGS || step == KEEL_JOB_SAVE;
    if (st->job->registry && st->res->run && !st->run_ended && training_step) {
        keel_error ignored;
        run_end(st, "failed", NULL, st->log.data, why ? why : e->msg, &ignored);
    }
    return rc;
}

static int run_start(job_state *st, const keel_schema *s, keel_error *e)
{
    const keel_train_job *job = st->job;
    keel_train_job_result *res = st->res;
    int rc =
        keel_job_register_dataset(job->registry, job->file, s, &res->data, NULL, &res->dataset, e);
    if (rc) return fail(st, KEEL_JOB_REGISTRY_DATASET, rc, NULL, e);
    keel_buf params;
    keel_buf_init(&params);
    if (keel_hparams_to_json(&job->hp, &params) != KEEL_OK) {
        keel_buf_free(&params);
        return fail(st, KEEL_JOB_SETUP, keel_error_set(e, KEEL_ENOMEM, "out of memory"), NULL, e);
    }
    keel_run_info info = {.kind = "train",
                          .params_json = params.data,
                          .seed = (int64_t)job->hp.seed,
                          .keel_version = keel_version()};
    rc = keel_registry_run_start(job->registry, &info, &res->run);
    keel_buf_free(&params);
    if (rc == KEEL_OK) rc = keel_registry_run_input(job->registry, res->run, res->dataset, "train");
    if (rc) return fail(st, KEEL_JOB_REGISTRY_RUN, registry_error(job->registry, rc, e), NULL, e);
    return KEEL_OK;
}

/* Checks the explanation settings against the trained model and writes them to
 * m->explain_json. */
static int set_explain_settings(keel_model *m, const keel_job_explain_settings *x, keel_error *e)
{
    bool regression = m->target.task == KEEL_TASK_REGRESSION;
    if (x->adverse_class && regression)
        return keel_error_set(e, KEEL_EINVAL,
                              "--adverse-class applies to classification; this model does "
                              "regression (--lower-is-adverse says which way is adverse)");
    if (x->lower_is_adverse && !regression)
        return keel_error_set(e, KEEL_EINVAL,
                              "--lower-is-adverse applies to regression; this model does "
                              "classification (use --adverse-class LABEL)");
    if (x->adverse_class &&
        keel_strlist_find(&m->target.classes, x->adverse_class, strlen(x->adverse_class)) < 0) {
        keel_buf b;
        keel_buf_init(&b);
        for (size_t i = 0; i < m->target.classes.n && i < 20; i++)
            keel_buf_printf(&b, "%s'%s'", i ? ", " : "", m->target.classes.items[i]);
        keel_error_set(
            e, KEEL_EINVAL, "--adverse-class '%s' is not a class of the target (classes: %s%s)",
            x->adverse_class, b.data ? b.data : "", m->target.classes.n > 20 ? ", ..." : "");
        keel_buf_free(&b);
        return KEEL_EINVAL;
    }
    keel_buf *b = &m->explain_json;
    keel_buf_reset(b);
    if (!x->adverse_class && !x->reasons && !x->population && !x->lower_is_adverse) return KEEL_OK;
    int rc = keel_buf_putc(b, '{');
    const char *sep = "";
    if (x->adverse_class) {
        rc |= keel_buf_puts(b, "\"adverse_class\":");
        rc |= keel_buf_json_str(b, x->adverse_class, strlen(x->adverse_class));
        sep = ",";
    }
    if (x->reasons) {
        rc |= keel_buf_printf(b, "%s\"reasons\":%d", sep, x->reasons);
        sep = ",";
    }
    if (x->population) {
        rc |= keel_buf_printf(b, "%s\"population\":", sep);
        rc |= keel_buf_json_str(b, x->population, strlen(x->population));
        sep = ",";
    }
    if (x->lower_is_adverse) rc |= keel_buf_printf(b, "%s\"lower_is_adverse\":true", sep);
    rc |= keel_buf_putc(b, '}');
    if (rc) {
        keel_buf_reset(b);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    return KEEL_OK;
}

/* The lineage and the training data's profile (the drift baseline) into the artifact. */
static int add_lineage(keel_model *m, const keel_train_job *job, const keel_validate_result *vr,
                       const keel_frame *f)
{
    char when[40];
    keel_format_timestamp(job->created, when);
    keel_buf *b = &m->lineage_json;
    keel_buf_reset(b);
    const char *src = keel_path_base(job->file), *user = job->user ? job->user : "unknown";
    int rc = keel_buf_printf(b, "{\"data_sha256\":\"%s\",\"data_source\":", vr->sha256);
    rc |= keel_buf_json_str(b, src, strlen(src));
    rc |= keel_buf_printf(b,
                          ",\"records\":%llu,\"accepted\":%llu,\"quarantined\":%llu,\"seed\":%llu,"
                          "\"threads\":%d,\"keel_version\":\"%s\",\"created\":\"%s\",\"user\":",
                          (unsigned long long)vr->records, (unsigned long long)vr->accepted,
                          (unsigned long long)vr->quarantined, (unsigned long long)job->hp.seed,
                          job->hp.threads, keel_version(), when);
    rc |= keel_buf_json_str(b, user, strlen(user));
    rc |= keel_buf_putc(b, '}');
    keel_profile *p = keel_profile_new(f->schema);
    if (!p) return KEEL_ENOMEM;
    rc |= keel_profile_add_frame(p, f);
    rc |= keel_profile_set_source(p, src, vr->sha256, vr->records, vr->accepted, vr->quarantined,
                                  vr->repaired);
    keel_profile_set_created(p, job->created);
    keel_buf_reset(&m->profile_json);
    rc |= keel_profile_write_json(p, &m->profile_json);
    keel_profile_free(p);
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* Ends the run as finished (or cancelled) and registers the model. */
static int record_model(job_state *st, const keel_schema *s, keel_error *e)
{
    const keel_train_job *job = st->job;
    keel_train_job_result *res = st->res;
    keel_buf mj;
    keel_buf_init(&mj);
    keel_metrics_to_json(&res->train.val, &mj);
    int rc;
    if (res->train.canceled) {
        keel_error ignored;
        run_end(st, "cancelled", mj.data, st->log.data, "stopped by the user", &ignored);
        rc = KEEL_OK;
    } else if ((rc = run_end(st, "finished", mj.data, st->log.data, NULL, e)) == KEEL_OK) {
        /* The training data's profile is known only now; the dataset's record gets it. */
        rc = keel_job_register_dataset(job->registry, job->file, s, &res->data,
                                       res->model->profile_json.data, &res->dataset, e);
        if (rc) {
            res->failed_at = KEEL_JOB_REGISTRY_DATASET;
        } else if ((rc = keel_registry_model_register(
                        job->registry, res->name, res->output, res->run,
                        keel_task_name(res->model->target.task), mj.data, &res->version))) {
            registry_error(job->registry, rc, e);
            res->failed_at = KEEL_JOB_REGISTER;
        }
    } else {
        res->failed_at = KEEL_JOB_REGISTER;
    }
    keel_buf_free(&mj);
    return rc;
}

int keel_train_job_run(const keel_train_job *job, keel_train_job_result *res, keel_error *e)
{
    memset(res, 0, sizeof *res);
    job_state st = {.job = job, .res = res};
    keel_buf_init(&st.log);
    keel_schema *s = NULL;
    keel_frame *f = NULL;
    int rc;
    res->output = job->output ? keel_strdup(job->output) : keel_path_derived(job->file, ".keel");
    if (!res->output || !(res->name = model_name(job->name, res->output))) goto oom;
    if (job->registry && job->name && !keel_registry_name_valid(job->name)) {
        rc = keel_error_set(e, KEEL_EINVAL,
                            "'%s' is not a valid model name (1-64 of A-Z a-z 0-9 . _ -, "
                            "starting with a letter or digit)",
                            job->name);
        rc = fail(&st, KEEL_JOB_SETUP, rc, NULL, e);
        goto done;
    }
    if ((rc = keel_job_training_schema(job->file, job->target, job->schema_path, &s, e))) {
        rc = fail(&st, KEEL_JOB_SCHEMA, rc, NULL, e);
        goto done;
    }
    if (!job->no_quarantine) {
        res->quarantine = job->quarantine_path ? keel_strdup(job->quarantine_path)
                                               : keel_path_derived(job->file, ".quarantine.jsonl");
        if (!res->quarantine) goto oom;
    }
    if ((rc = keel_job_load_data(job->file, s, res->quarantine, job->cancel, job->progress,
                                 job->progress_ud, &f, &res->data, e))) {
        rc = fail(&st, KEEL_JOB_DATA, rc, NULL, e);
        goto done;
    }
    if (job->on_loaded) job->on_loaded(job->ud, job->file, &res->data, res->quarantine);
    if (job->registry && (rc = run_start(&st, s, e))) goto done;
    if (job->checkpoint_path)
        res->checkpoint = keel_strdup(job->checkpoint_path);
    else if ((res->checkpoint = keel_malloc(strlen(res->output) + 6)))
        sprintf(res->checkpoint, "%s.ckpt", res->output);
    if (!res->checkpoint) goto oom;
    keel_tensor_set_threads(job->hp.threads);
    keel_train_options to = {.hp = job->hp,
                             .target = job->target,
                             .checkpoint_path = res->checkpoint,
                             .resume = job->resume,
                             .data_sha256 = res->data.sha256,
                             .cancel = job->cancel,
                             .on_epoch = on_epoch,
                             .ud = &st};
    if ((rc = keel_train(f, NULL, f->n_rows, &to, &res->model, &res->train, e))) {
        rc = fail(&st, KEEL_JOB_TRAIN, rc, NULL, e);
        goto done;
    }
    if ((rc = set_explain_settings(res->model, &job->explain, e))) {
        rc = fail(&st, KEEL_JOB_SETTINGS, rc, "bad explanation settings", e);
        goto done;
    }
    if (add_lineage(res->model, job, &res->data, f)) goto oom;
    if ((rc = keel_model_save(res->model, res->output, e))) {
        rc = fail(&st, KEEL_JOB_SAVE, rc, NULL, e);
        goto done;
    }
    if (!res->train.canceled) unlink(res->checkpoint); /* finished: its job is done */
    if (job->registry) rc = record_model(&st, s, e);
    goto done;
oom:
    rc = fail(&st, KEEL_JOB_SETUP, keel_error_set(e, KEEL_ENOMEM, "out of memory"), NULL, e);
done:
    /* A run still "running" here failed around training (the registry, out of memory). */
    if (job->registry && res->run && !st.run_ended) {
        keel_error ignored;
        run_end(&st, "failed", NULL, NULL, "see the log", &ignored);
    }
    keel_frame_free(f);
    keel_schema_free(s);
    keel_buf_free(&st.log);
    return rc;
}

void keel_train_job_result_free(keel_train_job_result *res)
{
    if (!res) return;
    keel_free(res->output);
    keel_free(res->name);
    keel_free(res->quarantine);
    keel_free(res->checkpoint);
    keel_model_free(res->model);
    keel_validate_result_free(&res->data);
    memset(res, 0, sizeof *res);
}
