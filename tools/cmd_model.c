/*
 * cmd_model.c — `keel train`, `keel evaluate`, `keel predict` and `keel cv`.
 *
 * The defaults are the product: `keel train data.csv --target y` infers the schema, validates
 * the data (quarantining bad rows), trains with early stopping and calibration, and writes
 * NAME.keel. A schema inferred here is loosened into a prediction contract (observed ranges,
 * "whole number" and "no missing" are facts about the training file, not rules for new data;
 * an unseen category is scored as missing rather than rejected; a timestamp column becomes
 * calendar features); a schema given with --schema is kept exactly.
 */
#include "data/infer.h"
#include "data/profile.h"
#include "data/validate.h"
#include "model/model.h"
#include "model/score_file.h"
#include "tensor/tensor.h"
#include "tools/cli_help.h"
#include "tools/registry_cli.h"
#include "pipeline/reports.h"
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ctype.h>
#include <unistd.h>

/* ---- shared options ---- */

typedef struct train_args {
    const char *file, *target, *schema, *output, *quarantine, *checkpoint;
    bool no_quarantine, json, quiet, resume, no_registry, no_calibration;
    bool csv_raw;     /* predict: text cells as they are (keel_buf_csv_text) */
    const char *name; /* the model's name in the registry */
    int folds;
    keel_hparams hp;
    cli_option opts[24]; /* the training options, pointing into this struct */
} train_args;

/* --hidden W1,W2,...: the hidden layers' widths. */
static int parse_hidden(const char *s, void *out)
{
    keel_hparams *hp = out;
    hp->n_hidden = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 65536 || hp->n_hidden == KEEL_MAX_HIDDEN) return -1;
        hp->hidden[hp->n_hidden++] = (size_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return 0;
}

static int parse_activation(const char *v, void *out)
{
    int op = keel_op_from_name(v);
    if (op != KEEL_OP_RELU && op != KEEL_OP_GELU && op != KEEL_OP_SILU) return -1;
    *(keel_op *)out = (keel_op)op;
    return 0;
}

static int parse_precision(const char *v, void *out)
{
    if (strcmp(v, "bf16") && strcmp(v, "fp32")) return -1;
    *(bool *)out = !strcmp(v, "bf16");
    return 0;
}

static const char *const tasks[] = {"binary", "multiclass", "regression", NULL}; /* keel_task */
static const char *const class_weights[] = {"auto", "none", "balanced", NULL};

/* Fills a->opts with the training options, shared by train and cv (and, for the quarantine,
 * --json, -q and --threads, by evaluate and predict). */
static void train_options(train_args *a)
{
    keel_hparams *hp = &a->hp;
    const cli_option opts[] = {CLI_OPT_TEXT("--target", "-t", &a->target),
                               CLI_OPT_TEXT("--schema", "-s", &a->schema),
                               CLI_OPT_TEXT("--quarantine", NULL, &a->quarantine),
                               CLI_OPT_NUM("--seed", CLI_U64, &hp->seed, 0, 1e18),
                               CLI_OPT_NUM("--threads", CLI_INT, &hp->threads, 1, 256),
                               CLI_OPT_NUM("--epochs", CLI_INT, &hp->max_epochs, 1, 100000),
                               CLI_OPT_NUM("--patience", CLI_INT, &hp->patience, 1, 100000),
                               CLI_OPT_NUM("--batch-size", CLI_SIZE, &hp->batch_size, 1, 1 << 20),
                               CLI_OPT_NUM("--lr", CLI_FLOAT, &hp->lr, 1e-7, 10),
                               CLI_OPT_NUM("--weight-decay", CLI_FLOAT, &hp->weight_decay, 0, 10),
                               CLI_OPT_NUM("--dropout", CLI_FLOAT, &hp->dropout, 0, 0.95),
                               CLI_OPT_NUM("--validation", CLI_FLOAT, &hp->val_fraction, 0.02, 0.5),
                               CLI_OPT_NUM("--bins", CLI_SIZE, &hp->bins, 0, 256),
                               CLI_OPT_NUM("--feature-dim", CLI_SIZE, &hp->feature_dim, 0, 256),
                               CLI_OPT_CHOICE("--task", &hp->task, tasks),
                               CLI_OPT_CHOICE("--class-weight", &hp->class_weight, class_weights),
                               CLI_OPT_PARSE("--hidden", NULL, hp, parse_hidden,
                                             "takes widths from 1 to 65536, e.g. 128,128"),
                               CLI_OPT_PARSE("--activation", NULL, &hp->activation,
                                             parse_activation, "is relu, gelu or silu"),
                               CLI_OPT_PARSE("--weight-precision", NULL, &hp->bf16_weights,
                                             parse_precision, "is bf16 or fp32"),
                               CLI_OPT_FLAG("--no-calibration", NULL, &a->no_calibration),
                               CLI_OPT_FLAG("--no-quarantine", NULL, &a->no_quarantine),
                               CLI_OPT_FLAG("--json", NULL, &a->json),
                               CLI_OPT_FLAG("--quiet", "-q", &a->quiet),
                               CLI_OPT_END};
    _Static_assert(sizeof opts <= sizeof a->opts, "train_args.opts holds the training options");
    memcpy(a->opts, opts, sizeof opts);
}

/* ---- progress of training ---- */

typedef struct epoch_ui {
    FILE *tty;              /* draw a line here when a terminal */
    bool lines;             /* JSON lines on stderr otherwise */
    int fold;               /* cv: 1-based fold, else 0 */
    bool quiet;             /* no notes on stderr */
    keel_progress_bar *bar; /* reading the data: finished once the data is read */
} epoch_ui;

/* Parses `keel train|cv FILE --target COLUMN [options]`: -1 to go on, else the exit status. */
static int parse_training(const char *name, const char *usage, const cli_option *opts,
                          train_args *a, int argc, char **argv)
{
    const cli_command cmd = {.name = name,
                             .usage = usage,
                             .opts = opts,
                             .args = &a->file,
                             .arg_names = (const char *const[]){"FILE", NULL},
                             .min_args = 1,
                             .max_args = 1};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (!a->target) return cli_usage_error(&cmd, "--target COLUMN is required");
    if (a->no_calibration) a->hp.calibrate = false;
    return -1;
}

/* The training job's word once its data is read (ud: an epoch_ui, whose progress bar, if
 * any, is finished first). */
static void on_loaded(void *ud, const char *file, const keel_validate_result *res, const char *q)
{
    struct epoch_ui *ui = ud;
    keel_progress_bar_finish(ui->bar);
    if (!ui->quiet) cli_note_quarantined(file, res, q);
}

/* Loads every accepted row of file through validation, with a progress bar on a terminal;
 * *qpath gets where the rejected ones went. */
static int load_data(const char *file, const keel_schema *s, const train_args *a, keel_frame **f,
                     keel_validate_result *res, char **qpath)
{
    if (cli_quarantine_path(file, a->quarantine, a->no_quarantine, qpath)) return EXIT_FAIL;
    return cli_load_frame(file, s, *qpath, a->quiet, f, res) ? EXIT_FAIL : EXIT_OK;
}

static void on_epoch(void *ud, const keel_epoch_report *r)
{
    epoch_ui *ui = ud;
    if (ui->tty && ui->fold && r->fold != ui->fold) fputc('\n', ui->tty); /* next fold */
    ui->fold = r->fold;
    keel_buf b;
    keel_buf_init(&b);
    if (ui->tty && !keel_epoch_report_text(r, &b)) {
        fprintf(ui->tty, "\r\033[K%s", b.data);
        fflush(ui->tty);
    } else if (ui->lines && !keel_epoch_report_json(r, &b)) {
        fputs(b.data, stderr);
    }
    keel_buf_free(&b);
}

static void epoch_ui_done(epoch_ui *ui)
{
    if (ui->tty) fputc('\n', ui->tty);
}

/* ---- train ---- */

static void train_args_init(train_args *a)
{
    memset(a, 0, sizeof *a);
    keel_hparams_init(&a->hp);
    a->folds = 5;
    train_options(a);
}

/* --population WORDS: 1 to 63 bytes of text. */
static int parse_population(const char *v, void *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 63 || !keel_utf8_valid(v, n)) return -1;
    *(const char **)out = v;
    return 0;
}

/* Prints what the training job did (the summary, as text or JSON) or why it failed, and
 * returns the exit status: a bad setting is a usage error, a cancel a failure. */
static int print_train_result(const train_args *a, const keel_train_job_result *res, int rc,
                              const keel_error *e)
{
    if (rc) {
        cli_error("%s", e->msg);
        if (res->failed_at == KEEL_JOB_REGISTRY_DATASET)
            cli_error("(--no-registry skips the registry)");
        else if (res->failed_at == KEEL_JOB_REGISTRY_RUN)
            cli_error("(--no-registry trains without the registry)");
        bool usage = res->failed_at == KEEL_JOB_SETTINGS ||
                     (res->failed_at == KEEL_JOB_REGISTER && rc == KEEL_EINVAL);
        return usage ? EXIT_USAGE : EXIT_FAIL;
    }
    const keel_train_result *tr = &res->train;
    if (tr->resumed_from && !a->quiet)
        fprintf(stderr, "keel: resumed from the checkpoint after epoch %d\n", tr->resumed_from);
    keel_buf b;
    keel_buf_init(&b);
    if (keel_train_job_summary(res, a->json, cli_keel_home(), &b)) cli_error("out of memory");
    if (b.data) fputs(b.data, stdout);
    keel_buf_free(&b);
    if (tr->canceled) {
        cli_error("interrupted: the best model so far is in %s; --resume continues from %s",
                  res->output, res->checkpoint);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    train_args_init(&a);
    keel_job_explain_settings xa = {0};
    /* 16: KEEL_EXPLAIN_MAX_REASONS (explain.h, which this file does not include) */
    const cli_option opts[] = {CLI_OPT_TABLE(a.opts),
                               CLI_OPT_TEXT("--output", "-o", &a.output),
                               CLI_OPT_TEXT("--checkpoint", NULL, &a.checkpoint),
                               CLI_OPT_TEXT("--name", NULL, &a.name),
                               CLI_OPT_FLAG("--resume", NULL, &a.resume),
                               CLI_OPT_FLAG("--no-registry", NULL, &a.no_registry),
                               CLI_OPT_TEXT("--adverse-class", NULL, &xa.adverse_class),
                               CLI_OPT_NUM_HINT("--reasons", CLI_INT, &xa.reasons, 1, 16,
                                                "must be a whole number from 1 to 16"),
                               CLI_OPT_FLAG("--lower-is-adverse", NULL, &xa.lower_is_adverse),
                               CLI_OPT_PARSE("--population", NULL, &xa.population, parse_population,
                                             "must be 1 to 63 bytes of text"),
                               CLI_OPT_END};
    int status = parse_training("train", cli_help_train, opts, &a, argc, argv);
    if (status >= 0) return status;
    keel_registry *reg = NULL;
    if (!a.no_registry) {
        if (a.name && !keel_registry_name_valid(a.name)) {
            cli_error("'%s' is not a valid model name (1-64 of A-Z a-z 0-9 . _ -, starting "
                      "with a letter or digit)",
                      a.name);
            return EXIT_USAGE;
        }
        if (!(reg = cli_registry_open())) {
            cli_error("(--no-registry trains without the registry)");
            return EXIT_FAIL;
        }
    }
    cli_catch_interrupts();
    keel_progress_bar *bar = a.quiet ? NULL : cli_progress();
    epoch_ui ui = {
        .tty = bar ? stderr : NULL, .lines = !a.quiet && !bar, .quiet = a.quiet, .bar = bar};
    keel_train_job job = {.file = a.file,
                          .target = a.target,
                          .schema_path = a.schema,
                          .output = a.output,
                          .quarantine_path = a.quarantine,
                          .no_quarantine = a.no_quarantine,
                          .checkpoint_path = a.checkpoint,
                          .resume = a.resume,
                          .name = a.name,
                          .hp = a.hp,
                          .explain = xa,
                          .created = cli_source_date_micros(),
                          .user = cli_user(), /* the registry's actor: one identity in both */
                          .registry = reg,
                          .cancel = (const volatile int *)&cli_interrupted,
                          .progress = bar ? keel_progress_bar_update : NULL,
                          .progress_ud = bar,
                          .on_loaded = on_loaded,
                          .on_epoch = on_epoch,
                          .ud = &ui};
    keel_train_job_result res;
    keel_error e;
    int rc = keel_train_job_run(&job, &res, &e);
    keel_progress_bar_finish(bar);
    if (res.failed_at == KEEL_JOB_NONE || res.failed_at >= KEEL_JOB_TRAIN) epoch_ui_done(&ui);
    status = print_train_result(&a, &res, rc, &e);
    keel_train_job_result_free(&res);
    keel_registry_close(reg);
    return status;
}

/* ---- evaluate ---- */

/* Parses `keel CMD MODEL FILE [options]`: keel train's options that apply (quarantine,
 * --json, -q, --threads), and -o when output is allowed. Returns -1 when the command should
 * go on, else the exit status. */
static int parse_model_args(int argc, char **argv, const char *name, const char *usage, bool output,
                            train_args *a, const char **model_path)
{
    const cli_option opts[] = {CLI_OPT_TABLE(a->opts), CLI_OPT_TEXT("--output", "-o", &a->output),
                               CLI_OPT_FLAG("--csv-raw", NULL, &a->csv_raw), CLI_OPT_END};
    const cli_option no_output[] = {CLI_OPT_TABLE(a->opts), CLI_OPT_END};
    const char *args[2] = {NULL, NULL};
    const cli_command cmd = {.name = name,
                             .usage = usage,
                             .opts = output ? opts : no_output,
                             .args = args,
                             .arg_names = (const char *const[]){"MODEL", "FILE", NULL},
                             .min_args = 2,
                             .max_args = 2};
    int status = cli_parse(&cmd, argc, argv);
    *model_path = args[0];
    a->file = args[1];
    if (a->hp.threads > 64) a->hp.threads = 64;
    return status;
}

int cmd_evaluate(int argc, char **argv)
{
    train_args a;
    train_args_init(&a);
    const char *model_path = NULL;
    int status =
        parse_model_args(argc, argv, "evaluate", cli_help_evaluate, false, &a, &model_path);
    if (status >= 0) return status;
    keel_model *m;
    status = cli_load_model(model_path, &m, NULL);
    if (status) return status;
    cli_catch_interrupts();
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    char *q = NULL;
    status = load_data(a.file, m->schema, &a, &f, &vr, &q);
    if (status == EXIT_OK) {
        keel_metrics mt;
        int rc = keel_model_evaluate(m, f, NULL, f->n_rows, &mt);
        if (rc) {
            cli_error("cannot evaluate: %s",
                      rc == KEEL_ENONFINITE ? "the model computed a value that is not a finite "
                                              "number (NaN or infinity): its weights overflow "
                                              "(retrain the model)"
                                            : keel_strerror(rc));
            status = EXIT_FAIL;
        } else {
            keel_buf b;
            keel_buf_init(&b);
            if (keel_evaluation_summary(model_path, a.file, &vr, &mt, a.json, &b))
                cli_error("out of memory");
            if (b.data) fputs(b.data, stdout);
            keel_buf_free(&b);
            if (mt.n == 0) {
                cli_error("no record of %s could be scored", a.file);
                status = EXIT_FAIL;
            }
        }
    }
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_free(q);
    keel_model_free(m);
    return status;
}

/* ---- predict ---- */

int cmd_predict(int argc, char **argv)
{
    train_args a;
    train_args_init(&a);
    a.hp.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (a.hp.threads < 1) a.hp.threads = 1;
    const char *model_path = NULL;
    int status = parse_model_args(argc, argv, "predict", cli_help_predict, true, &a, &model_path);
    if (status >= 0) return status;
    if (a.hp.threads > 64) a.hp.threads = 64;
    keel_model *m;
    status = cli_load_model(model_path, &m, NULL);
    if (status) return status;
    keel_tensor_set_threads(1); /* parallel over rows instead */
    cli_catch_interrupts();
    char *q = NULL;
    cli_output out;
    if (cli_quarantine_path(a.file, a.quarantine, a.no_quarantine, &q) ||
        cli_output_open(&out, a.output)) {
        keel_free(q);
        keel_model_free(m);
        return EXIT_FAIL;
    }
    bool to_file = out.tmp != NULL; /* then the summary goes to stdout */
    keel_progress_bar *bar = a.quiet ? NULL : cli_progress();
    keel_predict_file_options o = {.threads = a.hp.threads,
                                   .csv_raw = a.csv_raw,
                                   .quarantine_path = q,
                                   .cancel = (const volatile int *)&cli_interrupted,
                                   .progress = bar ? keel_progress_bar_update : NULL,
                                   .progress_ud = bar};
    keel_predict_file_result pr;
    keel_error e;
    double t0 = keel_now_seconds();
    int rc = keel_predict_file(m, a.file, &o, out.f, &pr, &e);
    keel_progress_bar_finish(bar);
    if (rc) cli_error("%s", e.msg);
    status = cli_output_close(&out, rc == KEEL_OK);
    if (status == EXIT_OK && (a.json || !a.quiet)) {
        keel_scoring_summary sum = {.model_sha256 = m->sha256,
                                    .done_name = "predicted",
                                    .data = &pr.data,
                                    .done = pr.predicted,
                                    .quarantine = q,
                                    .seconds = keel_now_seconds() - t0};
        cli_print_summary(&sum, a.json, to_file ? stdout : stderr);
    }
    keel_free(q);
    keel_validate_result_free(&pr.data);
    keel_model_free(m);
    return status;
}

/* ---- cv ---- */

int cmd_cv(int argc, char **argv)
{
    train_args a;
    train_args_init(&a);
    const cli_option opts[] = {CLI_OPT_TABLE(a.opts),
                               CLI_OPT_NUM_HINT("--folds", CLI_INT, &a.folds, 2, 100,
                                                "must be a whole number from 2 to 100"),
                               CLI_OPT_END};
    int status = parse_training("cv", cli_help_cv, opts, &a, argc, argv);
    if (status >= 0) return status;
    keel_schema *s = NULL;
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    char *q = NULL;
    keel_cv_fold *per = NULL;
    cli_catch_interrupts();
    keel_error e;
    if (keel_job_training_schema(a.file, a.target, a.schema, &s, &e)) {
        cli_error("%s", e.msg);
        status = EXIT_FAIL;
        goto done;
    }
    if ((status = load_data(a.file, s, &a, &f, &vr, &q))) goto done;
    if (!(per = keel_calloc((size_t)a.folds, sizeof *per))) {
        cli_error("out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    keel_tensor_set_threads(a.hp.threads);
    epoch_ui ui = {.tty = a.quiet ? NULL : cli_progress() ? stderr : NULL};
    keel_train_options to = {.hp = a.hp,
                             .target = a.target,
                             .cancel = (const volatile int *)&cli_interrupted,
                             .on_epoch = on_epoch,
                             .ud = &ui};
    int rc = keel_cross_validate(f, &to, a.folds, per, &e);
    epoch_ui_done(&ui);
    if (rc) {
        cli_error("%s", e.msg);
        status = EXIT_FAIL;
        goto done;
    }
    keel_buf b;
    keel_buf_init(&b);
    if (keel_cv_summary(a.file, a.target, per, a.folds, a.json, &b)) {
        cli_error("out of memory");
        status = EXIT_FAIL;
    }
    if (b.data) fputs(b.data, stdout);
    keel_buf_free(&b);
done:
    keel_free(per);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_schema_free(s);
    keel_free(q);
    return status;
}
