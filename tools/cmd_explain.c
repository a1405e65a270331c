/*
 * cmd_explain.c — `keel explain MODEL FILE`: why the model predicted what it did, per row
 * (attributions in the user's columns and reason codes) or for the model as a whole
 * (--global: permutation importance, mean |attribution|, partial dependence).
 *
 * The work is the library's (src/explain/batch.c): this file parses the arguments, checks
 * them against the model, loads the frame for --global (against the model's full schema,
 * with the target), writes the output through a temporary file renamed at the end (never a
 * half file) and prints the summary.
 */
#include "data/validate.h"
#include "explain/batch.h"
#include "pipeline/reports.h"
#include "tensor/tensor.h"
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct args {
    const char *model, *file, *output, *quarantine, *class_label;
    bool no_quarantine, json, quiet, global, csv, csv_raw;
    int threads, repeats;
    uint64_t limit; /* 0: all rows */
    size_t pd_points;
    keel_explain_options opt;
} args;

static int parse_method(const char *v, void *out)
{
    int k = keel_explain_method_from_name(v);
    if (k >= 0) *(keel_explain_method *)out = (keel_explain_method)k;
    return k >= 0 ? 0 : -1;
}

static int parse_scale(const char *v, void *out)
{
    int k = keel_explain_scale_from_name(v);
    if (k >= 0) *(keel_explain_scale *)out = (keel_explain_scale)k;
    return k >= 0 ? 0 : -1;
}

/* Returns -1 when the command should go on, else the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    keel_explain_options_init(&a->opt);
    a->opt.seed = 42;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    int format = -1;
    const cli_option opts[] = {
        CLI_OPT_TEXT("--output", "-o", &a->output),
        CLI_OPT_TEXT("--class", NULL, &a->class_label),
        CLI_OPT_TEXT("--quarantine", NULL, &a->quarantine),
        CLI_OPT_CHOICE("--format", &format, ((const char *const[]){"jsonl", "csv", NULL})),
        CLI_OPT_PARSE("--method", NULL, &a->opt.method, parse_method, "is ig or shapley"),
        CLI_OPT_PARSE("--scale", NULL, &a->opt.scale, parse_scale,
                      "is log_odds, probability or value"),
        CLI_OPT_NUM("--top", CLI_SIZE, &a->opt.top_k, 1, KEEL_EXPLAIN_MAX_REASONS),
        CLI_OPT_NUM("--steps", CLI_INT, &a->opt.steps, 1, 4096),
        CLI_OPT_NUM("--seed", CLI_U64, &a->opt.seed, 0, 1e18),
        CLI_OPT_NUM("--limit", CLI_U64, &a->limit, 1, 1e15),
        CLI_OPT_NUM("--threads", CLI_INT, &a->threads, 1, 256),
        CLI_OPT_NUM("--repeats", CLI_INT, &a->repeats, 1, 1000),
        CLI_OPT_NUM("--pd-points", CLI_SIZE, &a->pd_points, 2, 256),
        CLI_OPT_FLAG("--no-quarantine", NULL, &a->no_quarantine),
        CLI_OPT_FLAG("--json", NULL, &a->json),
        CLI_OPT_FLAG("--quiet", "-q", &a->quiet),
        CLI_OPT_FLAG("--global", NULL, &a->global),
        CLI_OPT_FLAG("--csv-raw", NULL, &a->csv_raw),
        CLI_OPT_END};
    const char *pos[2] = {NULL, NULL};
    const cli_command cmd = {.name = "explain",
                             .usage = cli_help_explain,
                             .opts = opts,
                             .args = pos,
                             .arg_names = (const char *const[]){"MODEL", "FILE", NULL},
                             .min_args = 2,
                             .max_args = 2};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    a->model = pos[0];
    a->file = pos[1];
    if (a->threads > MAX_THREADS) a->threads = MAX_THREADS;
    if (a->global && format >= 0) {
        cli_error("--format applies to the per-row output, not to --global (use --json)");
        return EXIT_USAGE;
    }
    a->csv = format >= 0 ? format == 1 : a->output && keel_path_has_suffix(a->output, ".csv");
    if (a->csv_raw && (a->global || !a->csv)) {
        cli_error("--csv-raw applies to the per-row CSV output (--format csv or -o FILE.csv)");
        return EXIT_USAGE;
    }
    return -1;
}

/* Progress in rows explained, on a terminal (validation's own, in bytes, comes every 65,536
 * records: too seldom for work this slow). */
typedef struct rows_ui {
    double started;
} rows_ui;

static void on_rows(void *ud, uint64_t done)
{
    rows_ui *ui = ud;
    double secs = keel_now_seconds() - ui->started;
    fprintf(stderr, "\rexplained %llu rows (%.0f rows/s)\033[K", (unsigned long long)done,
            secs > 0 ? (double)done / secs : 0.0);
    fflush(stderr);
}

static int explain_rows(const args *a, keel_model *m, keel_explainer *x)
{
    char *q = NULL;
    cli_output out;
    if (cli_quarantine_path(a->file, a->quarantine, a->no_quarantine, &q) ||
        cli_output_open(&out, a->output)) {
        keel_free(q);
        return EXIT_FAIL;
    }
    bool to_file = out.tmp != NULL; /* then the summary goes to stdout */
    bool tty = !a->quiet && cli_progress();
    rows_ui ui = {.started = keel_now_seconds()};
    keel_explain_file_options o = {.opt = a->opt,
                                   .csv = a->csv,
                                   .csv_raw = a->csv_raw,
                                   .threads = a->threads,
                                   .limit = a->limit,
                                   .quarantine_path = q,
                                   .cancel = (const volatile int *)&cli_interrupted,
                                   .on_rows = tty ? on_rows : NULL,
                                   .ud = &ui};
    keel_explain_file_result res;
    keel_error e;
    int rc = keel_explain_file(x, m, a->file, &o, out.f, &res, &e);
    if (tty) fputs("\r\033[K", stderr);
    if (rc) cli_error("%s", e.msg);
    int status = cli_output_close(&out, rc == KEEL_OK);
    const keel_validate_result *vr = &res.data;
    if (status == EXIT_OK) {
        keel_scoring_summary sum = {.model_sha256 = m->sha256,
                                    .done_name = "explained",
                                    .data = vr,
                                    .done = res.explained,
                                    .quarantine = q,
                                    .seconds = keel_now_seconds() - ui.started,
                                    .method = keel_explain_method_name(a->opt.method),
                                    .limit_hit = res.limit_hit};
        if (a->json || !a->quiet) cli_print_summary(&sum, a->json, to_file ? stdout : stderr);
        if (res.explained == 0 && vr->records > 0) {
            cli_error("no record of %s could be explained", a->file);
            status = EXIT_FAIL;
        }
    }
    keel_validate_result_free(&res.data);
    keel_free(q);
    return status;
}

/* ---- --global ---- */

/* Names the step under way on stderr when it is a terminal; NULL clears the line (ud: the
 * args). */
static void on_phase(void *ud, const char *what)
{
    const args *a = ud;
    if (a->quiet || !cli_progress()) return;
    if (what)
        fprintf(stderr, "\r%s...\033[K", what);
    else
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int explain_global(const args *a, keel_model *m, keel_explainer *x)
{
    char *q = NULL;
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    keel_global_report r = {0};
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    int status = EXIT_FAIL, rc;
    if (cli_quarantine_path(a->file, a->quarantine, a->no_quarantine, &q)) goto done;
    if ((rc = cli_load_frame(a->file, m->schema, q, a->quiet, &f, &vr))) {
        if (rc == KEEL_EMISMATCH)
            cli_error("--global needs the model's columns and its target '%s'", m->target.column);
        goto done;
    }
    size_t n = f->n_rows;
    if (a->limit && a->limit < n) n = (size_t)a->limit;
    if (n == 0) {
        cli_error("no record of %s could be used", a->file);
        goto done;
    }
    keel_global_options go = {.opt = a->opt,
                              .threads = a->threads,
                              .repeats = a->repeats,
                              .pd_points = a->pd_points,
                              .cancel = (const volatile int *)&cli_interrupted,
                              .on_phase = on_phase,
                              .ud = (void *)a};
    if ((rc = keel_explain_global(x, m, f, n, &go, &r, &e))) {
        cli_error("%s", e.msg);
        goto done;
    }
    if (keel_global_report_write(&r, m, a->model, a->file, vr.quarantined, a->opt.seed, a->json,
                                 &b))
        goto oom;
    status = cli_write_file(a->output, b.data, b.len);
    goto done;
oom:
    cli_error("out of memory");
    status = EXIT_FAIL;
done:
    keel_global_report_free(&r);
    keel_buf_free(&b);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_free(q);
    return status;
}

int cmd_explain(int argc, char **argv)
{
    args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0) return status;
    keel_model *m;
    if ((status = cli_load_model(a.model, &m, NULL))) return status;
    keel_error e;
    if (keel_explain_options_fit(&a.opt, m, a.class_label, &e) != KEEL_OK) {
        cli_error("%s (see keel explain --help)", e.msg);
        keel_model_free(m);
        return EXIT_USAGE;
    }
    keel_explainer *x;
    if (keel_explainer_get(m, &x, &e)) {
        cli_error("%s: cannot explain this model: %s", a.model, e.msg);
        keel_model_free(m);
        return EXIT_FAIL;
    }
    keel_tensor_set_threads(1); /* parallel over rows instead */
    cli_catch_interrupts();
    status = a.global ? explain_global(&a, m, x) : explain_rows(&a, m, x);
    keel_model_free(m);
    return status;
}
