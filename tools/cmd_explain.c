/*
 * cmd_explain.c — `keel explain MODEL FILE`: why the model predicted what it did, per row
 * (attributions in the user's columns and reason codes) or for the model as a whole
 * (--global: permutation importance, mean |attribution|, partial dependence).
 *
 * Per row, the file is streamed through validation against the model's input schema as
 * `keel predict` does: rejected records go to the quarantine file with their reasons, the
 * accepted ones arrive a chunk at a time and each chunk is cut into one contiguous part per
 * thread. Each thread formats its rows' lines into a buffer of its own (the explainer is
 * read-only, so threads share it), and the buffers are written in part order, so the output
 * is the same whatever the number of threads. Rows are numbered from 1 in the order they
 * were accepted (validation hands over no record numbers; with nothing quarantined the two
 * agree), and the schema's id columns are copied so that rows can be joined back.
 *
 * --global needs the target: the whole file is loaded against the model's full schema, and
 * the three global explanations of src/explain/global.c are computed on its rows (the
 * attribution and partial-dependence parts on an evenly spaced sample of at most
 * GLOBAL_SAMPLE rows, which bounds their cost; permutation importance uses every row).
 */
#include "data/validate.h"
#include "explain/explain.h"
#include "tensor/tensor.h"
#include "tools/registry_cli.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS   64
#define CHUNK_ROWS    1024 /* rows per validation chunk: output appears steadily */
#define GLOBAL_SAMPLE 2000
#define PD_COLUMNS    3
#define STOP_AT_LIMIT 1 /* a chunk callback's "stop here", not an error */

static const char usage[] =
    "usage: keel explain MODEL FILE [-o OUT] [options]\n"
    "\n"
    "Explains the model's prediction for every record of FILE: how much each input column\n"
    "pushed it up or down from a typical record's (attributions that add up to the\n"
    "difference), and the top reasons in words. MODEL is a .keel file or NAME, NAME:VERSION\n"
    "or NAME@ALIAS from the registry. Records that break the model's schema are quarantined\n"
    "with their reasons, never explained. See docs/explain.md.\n"
    "\n"
    "  -o, --output PATH            where to write (default: standard output)\n"
    "  --format F                   jsonl (one JSON object per row; the default) or csv\n"
    "                               (default csv when PATH ends in .csv)\n"
    "  --method M                   ig (Integrated Gradients, the default) or shapley\n"
    "  --scale S                    log_odds (classifiers' default), probability or value\n"
    "                               (regression)\n"
    "  --class LABEL                the class explained (default: the model's adverse class,\n"
    "                               else the second of two, else the predicted one)\n"
    "  --top K                      reason codes per row (1-16; default: the model's, 4)\n"
    "  --steps N                    Integrated Gradients points (default: adaptive, up to 256)\n"
    "  --seed N                     random seed of Shapley sampling and --global (default 42)\n"
    "  --limit N                    explain the first N accepted records only\n"
    "  --threads N                  rows explained in parallel (default: the number of cores)\n"
    "  --quarantine PATH            where rejected records go (default NAME.quarantine.jsonl)\n"
    "  --no-quarantine              count rejected records without writing them\n"
    "  --json                       a JSON summary (on stdout with -o, else on stderr); with\n"
    "                               --global, the report as JSON\n"
    "  -q, --quiet                  no progress or summary\n"
    "\n"
    "  --global                     explain the model instead of each row: permutation\n"
    "                               importance with 95% confidence intervals, mean\n"
    "                               |attribution| and partial dependence of the top 3 columns\n"
    "                               (FILE must then have the target column)\n"
    "  --repeats R                  shuffles per column for the importance (default 5)\n"
    "  --pd-points P                grid points of each partial-dependence curve (default 10)\n"
    "  -h, --help                   this text\n"
    "\n"
    "Exit status: 0 done, 1 the work failed (unreadable model or file, nothing explained),\n"
    "2 usage error.\n";

typedef struct args {
    const char *model, *file, *output, *quarantine, *format, *class_label;
    bool no_quarantine, json, quiet, global, csv;
    int threads, repeats;
    uint64_t limit; /* 0: all rows */
    size_t pd_points;
    keel_explain_options opt;
} args;

static bool parse_count(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi) || v != floor(v)) return false;
    *out = v;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Returns -1 when the command should go on, else the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    keel_explain_options_init(&a->opt);
    a->opt.seed = 42;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *arg = argv[i];
        double x;
        int m;
#define VALUE(name) ((m = opt_value(name, argc, argv, &i, &v)) != 0)
        if (opt_flag("-h", arg) || opt_flag("--help", arg)) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (VALUE("--output") || VALUE("-o")) {
            if (m < 0) return EXIT_USAGE;
            a->output = v;
        } else if (VALUE("--format")) {
            if (m < 0) return EXIT_USAGE;
            if (strcmp(v, "jsonl") && strcmp(v, "csv")) goto bad;
            a->format = v;
        } else if (VALUE("--method")) {
            if (m < 0) return EXIT_USAGE;
            int k = keel_explain_method_from_name(v);
            if (k < 0) goto bad;
            a->opt.method = (keel_explain_method)k;
        } else if (VALUE("--scale")) {
            if (m < 0) return EXIT_USAGE;
            int k = keel_explain_scale_from_name(v);
            if (k < 0) goto bad;
            a->opt.scale = (keel_explain_scale)k;
        } else if (VALUE("--class")) {
            if (m < 0) return EXIT_USAGE;
            a->class_label = v;
        } else if (VALUE("--top")) {
            if (m < 0 || !parse_count(v, 1, KEEL_EXPLAIN_MAX_REASONS, &x)) goto bad;
            a->opt.top_k = (size_t)x;
        } else if (VALUE("--steps")) {
            if (m < 0 || !parse_count(v, 1, 4096, &x)) goto bad;
            a->opt.steps = (int)x;
        } else if (VALUE("--seed")) {
            if (m < 0 || !parse_count(v, 0, 1e18, &x)) goto bad;
            a->opt.seed = (uint64_t)x;
        } else if (VALUE("--limit")) {
            if (m < 0 || !parse_count(v, 1, 1e15, &x)) goto bad;
            a->limit = (uint64_t)x;
        } else if (VALUE("--threads")) {
            if (m < 0 || !parse_count(v, 1, 256, &x)) goto bad;
            a->threads = x > MAX_THREADS ? MAX_THREADS : (int)x;
        } else if (VALUE("--quarantine")) {
            if (m < 0) return EXIT_USAGE;
            a->quarantine = v;
        } else if (VALUE("--repeats")) {
            if (m < 0 || !parse_count(v, 1, 1000, &x)) goto bad;
            a->repeats = (int)x;
        } else if (VALUE("--pd-points")) {
            if (m < 0 || !parse_count(v, 2, 256, &x)) goto bad;
            a->pd_points = (size_t)x;
        } else if (opt_flag("--no-quarantine", arg)) {
            a->no_quarantine = true;
        } else if (opt_flag("--json", arg)) {
            a->json = true;
        } else if (opt_flag("--quiet", arg) || opt_flag("-q", arg)) {
            a->quiet = true;
        } else if (opt_flag("--global", arg)) {
            a->global = true;
        } else if (arg[0] == '-' && arg[1]) {
            cli_error("unknown option '%s' (see keel explain --help)", arg);
            return EXIT_USAGE;
        } else if (!a->model) {
            a->model = arg;
        } else if (!a->file) {
            a->file = arg;
        } else {
            cli_error("too many arguments ('%s')", arg);
            return EXIT_USAGE;
        }
        continue;
#undef VALUE
    bad:
        cli_error("bad value for %.*s: '%s' (see keel explain --help)", (int)strcspn(arg, "="), arg,
                  v ? v : "");
        return EXIT_USAGE;
    }
    if (!a->model || !a->file) {
        cli_error("%s", !a->model ? "no model given" : "no data file given");
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (a->global && a->format) {
        cli_error("--format applies to the per-row output, not to --global (use --json)");
        return EXIT_USAGE;
    }
    a->csv = a->format ? !strcmp(a->format, "csv") : a->output && ends_with(a->output, ".csv");
    return -1;
}

/* Checks the options against the model (exit 2 when they do not fit it). */
static int check_options(args *a, const keel_model *m)
{
    bool regression = m->target.task == KEEL_TASK_REGRESSION;
    keel_explain_scale s = a->opt.scale;
    if (regression && (s == KEEL_SCALE_LOG_ODDS || s == KEEL_SCALE_PROBABILITY)) {
        cli_error("--scale %s applies to classifiers; this model does regression (scale value)",
                  keel_explain_scale_name(s));
        return EXIT_USAGE;
    }
    if (!regression && s == KEEL_SCALE_VALUE) {
        cli_error("--scale value applies to regression; a classifier is explained in log_odds "
                  "or probability");
        return EXIT_USAGE;
    }
    if (a->class_label) {
        if (regression) {
            cli_error("--class applies to classifiers; this model does regression");
            return EXIT_USAGE;
        }
        long k = keel_strlist_find(&m->target.classes, a->class_label, strlen(a->class_label));
        if (k < 0) {
            cli_error("--class '%s' is not a class of the model's target '%s'", a->class_label,
                      m->target.column);
            return EXIT_USAGE;
        }
        a->opt.class_index = k;
    }
    return -1;
}

/* A number as the JSON Lines output writes it (src/explain/format.c): 9 significant digits,
 * empty when not finite. */
static void csv_num(keel_buf *b, double v)
{
    if (isfinite(v)) keel_buf_printf(b, "%.9g", v);
}

static void csv_str(keel_buf *b, const char *s)
{
    keel_buf_csv_field(b, s, strlen(s));
}

/* Appends the value of row r of an id column: as a CSV field, or as a JSON value. */
static void id_value(keel_buf *b, const keel_column *c, size_t r, bool json)
{
    switch (c->type) {
    case KEEL_TYPE_TEXT:
    case KEEL_TYPE_ID: {
        size_t len;
        const char *p = keel_column_text(c, r, &len);
        if (c->missing[r])
            keel_buf_puts(b, json ? "null" : "");
        else if (json)
            keel_buf_json_str(b, p, len);
        else
            keel_buf_csv_field(b, p, len);
        break;
    }
    case KEEL_TYPE_NUMERIC:
        if (isnan(c->num[r]))
            keel_buf_puts(b, json ? "null" : "");
        else
            keel_buf_json_num(b, c->num[r]);
        break;
    case KEEL_TYPE_CATEGORICAL: {
        const char *s = c->cat[r] >= 0 ? c->def->categories.items[c->cat[r]] : NULL;
        if (!s)
            keel_buf_puts(b, json ? "null" : "");
        else if (json)
            keel_buf_json_str(b, s, strlen(s));
        else
            csv_str(b, s);
        break;
    }
    case KEEL_TYPE_BOOLEAN:
        keel_buf_puts(b, c->boolean[r] < 0 ? json ? "null" : "" : c->boolean[r] ? "true" : "false");
        break;
    default: {
        char t[40];
        if (c->ts[r] == KEEL_TS_MISSING) {
            keel_buf_puts(b, json ? "null" : "");
        } else {
            keel_format_timestamp(c->ts[r], t);
            if (json)
                keel_buf_json_str(b, t, strlen(t));
            else
                keel_buf_puts(b, t);
        }
    }
    }
}

/* ---- per-row output ---- */

typedef struct writer writer;

typedef struct part {
    writer *w;
    const keel_frame *f;
    size_t lo, hi;
    uint64_t first_row; /* the 1-based number of row lo */
    keel_buf out, tmp;
    double *attr, *se;
    int rc;
    keel_error e;
} part;

struct writer {
    keel_model *m;
    keel_explainer *x;
    const args *a;
    size_t n_reasons; /* CSV reason columns */
    FILE *out;
    uint64_t done;
    bool limit_hit;
    bool tty;       /* draw progress on stderr (a terminal) */
    double started; /* keel_now_seconds() at the start */
    keel_error e;   /* why a chunk failed */
    part parts[MAX_THREADS];
};

static void format_row(part *p, size_t r, uint64_t row_no, const keel_explanation *ex)
{
    const writer *w = p->w;
    const keel_model *m = w->m;
    const keel_schema *s = m->input_schema;
    keel_buf *b = &p->out;
    uint64_t line = p->f->line ? p->f->line[r] : 0; /* 0: not known */
    if (!w->a->csv) {
        keel_buf_printf(b, "{\"row\":%llu,\"line\":%llu,", (unsigned long long)row_no,
                        (unsigned long long)line);
        bool any = false;
        for (size_t c = 0; c < s->n_columns; c++) {
            if (s->columns[c].role != KEEL_ROLE_ID) continue;
            keel_buf_puts(b, any ? "," : "\"ids\":{");
            keel_buf_json_str(b, s->columns[c].name, strlen(s->columns[c].name));
            keel_buf_putc(b, ':');
            id_value(b, &p->f->cols[c], r, true);
            any = true;
        }
        if (any) keel_buf_puts(b, "},");
        keel_buf_reset(&p->tmp);
        if (keel_explanation_to_json(m, ex, &p->tmp) || p->tmp.len < 2) {
            p->rc = KEEL_ENOMEM;
            return;
        }
        keel_buf_append(b, p->tmp.data + 1, p->tmp.len - 1); /* after its '{' */
        keel_buf_putc(b, '\n');
        return;
    }
    keel_buf_printf(b, "%llu,%llu", (unsigned long long)row_no, (unsigned long long)line);
    for (size_t c = 0; c < s->n_columns; c++)
        if (s->columns[c].role == KEEL_ROLE_ID) {
            keel_buf_putc(b, ',');
            id_value(b, &p->f->cols[c], r, false);
        }
    keel_buf_putc(b, ',');
    csv_num(b, ex->prediction);
    keel_buf_putc(b, ',');
    csv_num(b, ex->baseline_prediction);
    keel_buf_printf(b, ",%s", keel_explain_scale_name(ex->scale));
    if (m->target.task != KEEL_TASK_REGRESSION) {
        keel_buf_putc(b, ',');
        csv_str(b, m->target.classes.items[ex->class_index]);
    }
    keel_buf_putc(b, ',');
    csv_num(b, ex->completeness_error);
    for (size_t i = 0; i < m->n_inputs; i++) {
        keel_buf_putc(b, ',');
        csv_num(b, ex->attributions[i]);
    }
    if (w->a->opt.method == KEEL_EXPLAIN_SHAPLEY)
        for (size_t i = 0; i < m->n_inputs; i++) {
            keel_buf_putc(b, ',');
            csv_num(b, ex->std_errors[i]);
        }
    for (size_t k = 0; k < w->n_reasons; k++) {
        keel_buf_putc(b, ',');
        if (k < ex->n_reasons) csv_str(b, ex->reasons[k].text);
    }
    keel_buf_putc(b, '\n');
}

static void *explain_part(void *arg)
{
    part *p = arg;
    writer *w = p->w;
    for (size_t r = p->lo; r < p->hi && !p->rc; r++) {
        keel_explanation ex;
        memset(&ex, 0, sizeof ex);
        ex.attributions = p->attr;
        ex.std_errors = p->se;
        p->rc = keel_explain_row(w->x, w->m, p->f, r, &w->a->opt, &ex, &p->e);
        if (!p->rc && (p->rc = keel_explain_reasons(w->x, w->m, p->f, r, w->a->opt.top_k, &ex)))
            keel_error_set(&p->e, p->rc, "cannot build the reason codes: %s", keel_strerror(p->rc));
        if (p->rc) break;
        size_t before = p->out.len;
        format_row(p, r, p->first_row + (r - p->lo), &ex);
        /* A line that did not get its end lost some of its text: out of memory. */
        if (!p->rc && (p->out.len == before || p->out.data[p->out.len - 1] != '\n'))
            p->rc = KEEL_ENOMEM;
        if (!p->rc && cli_interrupted) p->rc = KEEL_ECANCELED;
    }
    if (p->rc == KEEL_ENOMEM) keel_error_set(&p->e, p->rc, "out of memory");
    if (p->rc == KEEL_ECANCELED) keel_error_set(&p->e, p->rc, "interrupted");
    return NULL;
}

static int explain_chunk(void *ud, const keel_frame *f)
{
    writer *w = ud;
    size_t n = f->n_rows;
    if (w->a->limit && w->done + n >= w->a->limit) {
        n = (size_t)(w->a->limit - w->done);
        w->limit_hit = true;
    }
    int T = w->a->threads;
    if ((size_t)T > n / 4 + 1) T = (int)(n / 4 + 1); /* a few rows per thread at least */
    size_t per = (n + (size_t)T - 1) / (size_t)T;
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int t = 0; t < T; t++) {
        part *p = &w->parts[t];
        keel_buf_reset(&p->out);
        p->f = f;
        p->lo = KEEL_MIN(n, (size_t)t * per);
        p->hi = KEEL_MIN(n, p->lo + per);
        p->first_row = w->done + 1 + p->lo;
        p->rc = KEEL_OK;
        /* The last part (or one whose thread could not start) runs here. */
        started[t] = t < T - 1 && !pthread_create(&tid[t], NULL, explain_part, p);
        if (!started[t]) explain_part(p);
    }
    for (int t = 0; t < T; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    for (int t = 0; t < T; t++) {
        part *p = &w->parts[t];
        if (p->rc) {
            w->e = p->e;
            return p->rc;
        }
        if (p->out.len && fwrite(p->out.data, 1, p->out.len, w->out) != p->out.len) {
            keel_error_set(&w->e, KEEL_EIO, "cannot write the explanations: %s", strerror(errno));
            return KEEL_EIO;
        }
    }
    w->done += n;
    if (w->tty) {
        double secs = keel_now_seconds() - w->started;
        fprintf(stderr, "\rexplained %llu rows (%.0f rows/s)\033[K", (unsigned long long)w->done,
                secs > 0 ? (double)w->done / secs : 0.0);
        fflush(stderr);
    }
    return w->limit_hit ? STOP_AT_LIMIT : KEEL_OK;
}

static int write_csv_header(FILE *out, const keel_model *m, const args *a, size_t n_reasons)
{
    keel_buf b;
    keel_buf_init(&b);
    const keel_schema *s = m->input_schema;
    keel_buf_puts(&b, "row,line");
    for (size_t c = 0; c < s->n_columns; c++)
        if (s->columns[c].role == KEEL_ROLE_ID) {
            keel_buf_putc(&b, ',');
            csv_str(&b, s->columns[c].name);
        }
    keel_buf_puts(&b, ",prediction,baseline_prediction,scale");
    if (m->target.task != KEEL_TASK_REGRESSION) keel_buf_puts(&b, ",class");
    keel_buf_puts(&b, ",completeness_error");
    for (int pass = 0; pass < (a->opt.method == KEEL_EXPLAIN_SHAPLEY ? 2 : 1); pass++)
        for (size_t i = 0; i < m->n_inputs; i++) {
            keel_buf name;
            keel_buf_init(&name);
            keel_buf_printf(&name, "%s_%s", pass ? "se" : "attr", s->columns[m->inputs[i]].name);
            keel_buf_putc(&b, ',');
            if (name.data) keel_buf_csv_field(&b, name.data, name.len);
            keel_buf_free(&name);
        }
    for (size_t k = 0; k < n_reasons; k++)
        keel_buf_printf(&b, ",reason_%zu", k + 1);
    int rc = keel_buf_putc(&b, '\n') || fwrite(b.data, 1, b.len, out) != b.len;
    keel_buf_free(&b);
    return rc ? KEEL_EIO : KEEL_OK;
}

static char *quarantine_path(const args *a)
{
    if (a->no_quarantine) return NULL;
    return a->quarantine ? keel_strdup(a->quarantine)
                         : cli_derived_name(a->file, ".quarantine.jsonl");
}

/* Opens the output: a temporary name beside OUT, renamed at the end (never a half file). */
static FILE *open_output(const args *a, char **tmp)
{
    *tmp = NULL;
    if (!a->output) return stdout;
    if (!(*tmp = keel_malloc(strlen(a->output) + 32))) {
        cli_error("out of memory");
        return NULL;
    }
    sprintf(*tmp, "%s.tmp.%d", a->output, (int)getpid());
    FILE *out = fopen(*tmp, "wb");
    if (!out) {
        cli_error("%s: %s", a->output, strerror(errno));
        keel_free(*tmp);
        *tmp = NULL;
    }
    return out;
}

/* Closes the output and moves it into place; returns an exit status. */
static int close_output(const args *a, FILE *out, char *tmp, bool ok)
{
    int closed = out == stdout ? fflush(stdout) : fclose(out);
    if (!tmp) {
        if (closed && ok) cli_error("cannot write the output: %s", strerror(errno));
        return closed ? EXIT_FAIL : EXIT_OK;
    }
    if (!ok || closed) {
        if (closed && ok) cli_error("%s: %s", a->output, strerror(errno));
        unlink(tmp);
        return EXIT_FAIL;
    }
    if (rename(tmp, a->output)) {
        cli_error("%s: %s", a->output, strerror(errno));
        unlink(tmp);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int explain_rows(const args *a, keel_model *m, keel_explainer *x)
{
    writer w = {.m = m, .x = x, .a = a};
    const keel_explain_settings *st = keel_explainer_settings(x);
    w.n_reasons = a->opt.top_k ? a->opt.top_k : st && st->reasons ? st->reasons : 4;
    if (w.n_reasons > KEEL_EXPLAIN_MAX_REASONS) w.n_reasons = KEEL_EXPLAIN_MAX_REASONS;
    int status = EXIT_OK;
    char *tmp = NULL, *q = quarantine_path(a);
    if (!a->no_quarantine && !q) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    for (int t = 0; t < MAX_THREADS; t++) {
        part *p = &w.parts[t];
        p->w = &w;
        keel_buf_init(&p->out);
        keel_buf_init(&p->tmp);
    }
    for (int t = 0; t < a->threads; t++) {
        part *p = &w.parts[t];
        p->attr = keel_calloc(m->n_inputs + 1, sizeof *p->attr);
        p->se = keel_calloc(m->n_inputs + 1, sizeof *p->se);
        if (!p->attr || !p->se) {
            cli_error("out of memory");
            status = EXIT_FAIL;
            goto done;
        }
    }
    if (!(w.out = open_output(a, &tmp))) {
        status = EXIT_FAIL;
        goto done;
    }
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = q;
    o.chunk_rows = a->limit && a->limit < CHUNK_ROWS ? (size_t)a->limit : CHUNK_ROWS;
    o.on_chunk = explain_chunk;
    o.chunk_ud = &w;
    o.cancel = (const volatile int *)&cli_interrupted;
    /* Progress in rows explained (validation's own, in bytes, comes every 65,536 records:
     * too seldom for work this slow). */
    w.tty = !a->quiet && cli_progress();
    keel_validate_result vr = {0};
    keel_error e;
    keel_error_clear(&e);
    double t0 = keel_now_seconds();
    w.started = t0;
    int rc = a->csv ? write_csv_header(w.out, m, a, w.n_reasons) : KEEL_OK;
    if (rc)
        keel_error_set(&e, rc, "cannot write the explanations");
    else if ((rc = keel_validate_file(m->input_schema, a->file, &o, &vr, &e)) == STOP_AT_LIMIT)
        rc = KEEL_OK;
    else if (rc && w.e.code) /* a chunk's failure: its message, not validation's */
        e = w.e;
    if (w.tty) fputs("\r\033[K", stderr);
    if (rc) cli_error("%s", e.msg);
    status = close_output(a, w.out, tmp, rc == KEEL_OK);
    if (rc) status = EXIT_FAIL;
    if (status == EXIT_OK) {
        double secs = keel_now_seconds() - t0;
        FILE *info = tmp ? stdout : stderr;
        if (a->json)
            fprintf(info,
                    "{\"model\":\"%s\",\"records\":%llu,\"explained\":%llu,\"quarantined\":%llu,"
                    "\"method\":\"%s\",\"limit_reached\":%s,\"seconds\":%.3f}\n",
                    m->sha256, (unsigned long long)vr.records, (unsigned long long)w.done,
                    (unsigned long long)vr.quarantined, keel_explain_method_name(a->opt.method),
                    w.limit_hit ? "true" : "false", secs);
        else if (!a->quiet)
            fprintf(info, "keel: %llu records%s, %llu explained, %llu quarantined%s%s (%.2f s)\n",
                    (unsigned long long)vr.records, w.limit_hit ? " read" : "",
                    (unsigned long long)w.done, (unsigned long long)vr.quarantined,
                    vr.quarantined && q ? ", see " : "", vr.quarantined && q ? q : "", secs);
        if (w.done == 0 && vr.records > 0) {
            cli_error("no record of %s could be explained", a->file);
            status = EXIT_FAIL;
        }
    }
    keel_validate_result_free(&vr);
done:
    for (int t = 0; t < MAX_THREADS; t++) {
        keel_buf_free(&w.parts[t].out);
        keel_buf_free(&w.parts[t].tmp);
        keel_free(w.parts[t].attr);
        keel_free(w.parts[t].se);
    }
    if (status != EXIT_OK && tmp) unlink(tmp);
    keel_free(tmp);
    keel_free(q);
    return status;
}

/* ---- --global ---- */

typedef struct mabs_job {
    keel_explainer *x;
    keel_model *m;
    const keel_frame *f;
    const size_t *rows;
    size_t n;
    const keel_explain_options *o;
    double *out;
    int rc;
    keel_error e;
} mabs_job;

static void *mabs_run(void *arg)
{
    mabs_job *j = arg;
    j->rc = j->n ? keel_explain_mean_abs_attribution(j->x, j->m, j->f, j->rows, j->n, j->o, j->out,
                                                     &j->e)
                 : KEEL_OK;
    return NULL;
}

typedef struct pd_job {
    keel_explainer *x;
    keel_model *m;
    const keel_frame *f;
    const size_t *rows;
    size_t n, input, points;
    const keel_explain_options *o;
    keel_pd_curve c;
    int rc;
    keel_error e;
} pd_job;

static void *pd_run(void *arg)
{
    pd_job *j = arg;
    j->rc = keel_explain_partial_dependence(j->x, j->m, j->f, j->rows, j->n, j->input, j->points,
                                            j->o, &j->c, &j->e);
    return NULL;
}

/* Mean |attribution| per input over rows, split across threads (weighted back together). */
static int mean_abs_threads(const args *a, keel_model *m, keel_explainer *x, const keel_frame *f,
                            const size_t *rows, size_t n, double *out, keel_error *e)
{
    size_t k = m->n_inputs;
    int T = a->threads;
    if ((size_t)T > n / 8 + 1) T = (int)(n / 8 + 1);
    mabs_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    double *parts = keel_calloc((size_t)T * k + 1, sizeof *parts);
    if (!parts) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    size_t per = (n + (size_t)T - 1) / (size_t)T;
    for (int t = 0; t < T; t++) {
        size_t lo = KEEL_MIN(n, (size_t)t * per), hi = KEEL_MIN(n, lo + per);
        jobs[t] = (mabs_job){x, m, f, rows + lo, hi - lo, &a->opt, parts + (size_t)t * k, 0, {0}};
        started[t] = t < T - 1 && !pthread_create(&tid[t], NULL, mabs_run, &jobs[t]);
        if (!started[t]) mabs_run(&jobs[t]);
    }
    int rc = KEEL_OK;
    for (int t = 0; t < T; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    for (size_t i = 0; i < k; i++)
        out[i] = 0;
    for (int t = 0; t < T; t++) {
        if (jobs[t].rc && !rc) {
            rc = jobs[t].rc;
            *e = jobs[t].e;
        }
        for (size_t i = 0; i < k && jobs[t].n; i++)
            out[i] += parts[(size_t)t * k + i] * (double)jobs[t].n / (double)n;
    }
    keel_free(parts);
    return rc;
}

static const char *input_name(const keel_model *m, size_t i)
{
    return m->input_schema->columns[m->inputs[i]].name;
}

/* The class whose number is explained, or -1 (regression, or each row's predicted class). */
static long explained_class(const keel_model *m, keel_explainer *x, const keel_explain_options *o)
{
    if (m->target.task == KEEL_TASK_REGRESSION) return -1;
    if (o->class_index >= 0) return o->class_index;
    const keel_explain_settings *st = keel_explainer_settings(x);
    if (st && st->adverse_class >= 0) return st->adverse_class;
    return m->target.task == KEEL_TASK_BINARY ? 1 : -1;
}

static int cmp_importance(const void *pa, const void *pb)
{
    const keel_importance *a = pa, *b = pb;
    if (a->drop != b->drop) return a->drop < b->drop ? 1 : -1;
    return (a->input > b->input) - (a->input < b->input);
}

static void json_num_array(keel_buf *b, const char *key, const double *v, size_t n)
{
    keel_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i) keel_buf_putc(b, ',');
        keel_buf_json_num(b, v[i]);
    }
    keel_buf_putc(b, ']');
}

static void write_global(keel_buf *b, const args *a, const keel_model *m, const char *metric,
                         double base, const keel_importance *imp, const pd_job *pd, size_t n_pd,
                         size_t n_rows, size_t n_sample, uint64_t quarantined, long cls,
                         const char *scale)
{
    size_t k = m->n_inputs;
    int repeats = a->repeats ? a->repeats : 5;
    const char *cname = cls >= 0 ? m->target.classes.items[cls] : NULL;
    if (a->json) {
        keel_buf_puts(b, "{\"model\":");
        keel_buf_json_str(b, a->model, strlen(a->model));
        keel_buf_printf(b, ",\"sha256\":\"%s\",\"file\":", m->sha256);
        keel_buf_json_str(b, a->file, strlen(a->file));
        keel_buf_printf(b,
                        ",\"rows\":%zu,\"quarantined\":%llu,\"attribution_rows\":%zu,"
                        "\"scale\":\"%s\",\"class\":",
                        n_rows, (unsigned long long)quarantined, n_sample, scale);
        if (cname)
            keel_buf_json_str(b, cname, strlen(cname));
        else
            keel_buf_puts(b, "null");
        keel_buf_printf(b, ",\"metric\":\"%s\",\"base\":", metric);
        keel_buf_json_num(b, base);
        keel_buf_printf(b, ",\"repeats\":%d,\"seed\":%llu,\"importance\":[", repeats,
                        (unsigned long long)a->opt.seed);
        for (size_t i = 0; i < k; i++) {
            const char *name = input_name(m, imp[i].input);
            keel_buf_puts(b, i ? ",{\"column\":" : "{\"column\":");
            keel_buf_json_str(b, name, strlen(name));
            keel_buf_puts(b, ",\"drop\":");
            keel_buf_json_num(b, imp[i].drop);
            keel_buf_puts(b, ",\"ci_low\":");
            keel_buf_json_num(b, imp[i].ci_low);
            keel_buf_puts(b, ",\"ci_high\":");
            keel_buf_json_num(b, imp[i].ci_high);
            keel_buf_puts(b, ",\"mean_abs_attribution\":");
            keel_buf_json_num(b, imp[i].mean_abs_attribution);
            keel_buf_putc(b, '}');
        }
        keel_buf_puts(b, "],\"partial_dependence\":[");
        for (size_t j = 0; j < n_pd; j++) {
            const keel_pd_curve *c = &pd[j].c;
            const char *name = input_name(m, c->input);
            keel_buf_puts(b, j ? ",{\"column\":" : "{\"column\":");
            keel_buf_json_str(b, name, strlen(name));
            if (c->x) json_num_array(b, "x", c->x, c->n);
            keel_buf_puts(b, ",\"labels\":[");
            for (size_t g = 0; g < c->n; g++) {
                if (g) keel_buf_putc(b, ',');
                keel_buf_json_str(b, c->labels[g], strlen(c->labels[g]));
            }
            keel_buf_putc(b, ']');
            json_num_array(b, "y", c->y, c->n);
            keel_buf_putc(b, '}');
        }
        keel_buf_puts(b, "]}\n");
        return;
    }
    keel_buf_printf(b, "model: %s\nfile: %s (%zu rows, %llu quarantined)\n", a->model, a->file,
                    n_rows, (unsigned long long)quarantined);
    keel_buf_printf(b, "explained: %s", scale);
    if (cname)
        keel_buf_printf(b, " of class '%s'", cname);
    else if (m->target.task != KEEL_TASK_REGRESSION)
        keel_buf_puts(b, " of each row's predicted class");
    keel_buf_printf(b,
                    "\n\nPermutation importance: the fall of %s (%.4g on the rows as they "
                    "are) when a column's values\nare shuffled among the rows; mean of %d "
                    "shuffles with its 95%% confidence interval.\n",
                    metric, base, repeats);
    keel_buf_printf(b, "Mean |attribution|: Integrated Gradients, %s, over %zu rows.\n\n", scale,
                    n_sample);
    int wide = 6; /* the longest name, within reason */
    for (size_t i = 0; i < k; i++)
        wide = KEEL_MAX(wide, (int)KEEL_MIN(strlen(input_name(m, i)), (size_t)40));
    keel_buf_printf(b, "%-*s %10s  %-23s %12s\n", wide, "column", "drop", "95% CI", "mean |attr|");
    for (size_t i = 0; i < k; i++) {
        char ci[64];
        snprintf(ci, sizeof ci, "[%.4f, %.4f]", imp[i].ci_low, imp[i].ci_high);
        keel_buf_printf(b, "%-*.*s %10.4f  %-23s %12.4f\n", wide, wide, input_name(m, imp[i].input),
                        imp[i].drop, ci, imp[i].mean_abs_attribution);
    }
    for (size_t j = 0; j < n_pd; j++) {
        const keel_pd_curve *c = &pd[j].c;
        keel_buf_printf(b, "\nPartial dependence on %s: mean %s over %zu rows\n",
                        input_name(m, c->input), scale, n_sample);
        int lw = 6;
        for (size_t g = 0; g < c->n; g++)
            lw = KEEL_MAX(lw, (int)KEEL_MIN(strlen(c->labels[g]), (size_t)40));
        for (size_t g = 0; g < c->n; g++)
            keel_buf_printf(b, "  %-*.*s %10.4f\n", lw, lw, c->labels[g], c->y[g]);
    }
}

static void load_progress(void *ud, uint64_t done, uint64_t total, const char *what)
{
    keel_progress_bar_update(ud, done, total, what);
}

/* Names the step under way on stderr when it is a terminal; NULL clears the line. */
static void phase(const args *a, const char *what)
{
    if (a->quiet || !cli_progress()) return;
    if (what)
        fprintf(stderr, "\r%s...\033[K", what);
    else
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int explain_global(const args *a, keel_model *m, keel_explainer *x)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    char *q = quarantine_path(a), *tmp = NULL;
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    keel_importance *imp = NULL;
    double *mabs = NULL;
    size_t *sample = NULL, n_pd = 0;
    pd_job pd[PD_COLUMNS];
    memset(pd, 0, sizeof pd);
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    int status = EXIT_FAIL, rc;
    if (!a->no_quarantine && !q) goto oom;
    o.quarantine_path = q;
    o.cancel = (const volatile int *)&cli_interrupted;
    keel_progress_bar *bar = a->quiet ? NULL : cli_progress();
    if (bar) {
        o.progress = load_progress;
        o.progress_ud = bar;
    }
    rc = keel_frame_load(m->schema, a->file, &o, &f, &vr, &e);
    keel_progress_bar_finish(bar);
    if (rc) {
        cli_error("%s", e.msg);
        if (rc == KEEL_EMISMATCH)
            cli_error("--global needs the model's columns and its target '%s'", m->target.column);
        goto done;
    }
    if (vr.quarantined && !a->quiet)
        fprintf(stderr, "keel: %s: %llu of %llu records quarantined%s%s\n", a->file,
                (unsigned long long)vr.quarantined, (unsigned long long)vr.records,
                q ? ", see " : "", q ? q : "");
    size_t n = f->n_rows, k = m->n_inputs;
    if (a->limit && a->limit < n) n = (size_t)a->limit;
    if (n == 0) {
        cli_error("no record of %s could be used", a->file);
        goto done;
    }
    size_t ns = KEEL_MIN(n, (size_t)GLOBAL_SAMPLE);
    imp = keel_calloc(k + 1, sizeof *imp);
    mabs = keel_calloc(k + 1, sizeof *mabs);
    sample = keel_calloc(ns + 1, sizeof *sample);
    if (!imp || !mabs || !sample) goto oom;
    for (size_t i = 0; i < ns; i++) /* evenly spaced */
        sample[i] = (size_t)((double)i * (double)n / (double)ns);
    const char *metric;
    double base;
    phase(a, "permutation importance");
    keel_tensor_set_threads(a->threads); /* the importance's predictions are batched */
    rc = keel_explain_permutation_importance(m, f, NULL, n, a->repeats, a->opt.seed, imp, &metric,
                                             &base, &e);
    keel_tensor_set_threads(1); /* parallel over rows from here */
    if (rc) {
        phase(a, NULL);
        cli_error("permutation importance: %s", e.msg);
        goto done;
    }
    if (cli_interrupted) goto interrupted;
    phase(a, "attributions");
    if ((rc = mean_abs_threads(a, m, x, f, sample, ns, mabs, &e))) {
        phase(a, NULL);
        cli_error("attributions: %s", e.msg);
        goto done;
    }
    for (size_t i = 0; i < k; i++)
        imp[i].mean_abs_attribution = mabs[imp[i].input];
    qsort(imp, k, sizeof *imp, cmp_importance);
    if (cli_interrupted) goto interrupted;
    /* Partial dependence of the most important columns that have one (not text). */
    pthread_t tid[PD_COLUMNS];
    bool started[PD_COLUMNS] = {false};
    for (size_t i = 0; i < k && n_pd < PD_COLUMNS; i++) {
        keel_type t = m->input_schema->columns[m->inputs[imp[i].input]].type;
        if (t == KEEL_TYPE_TEXT || t == KEEL_TYPE_ID) continue;
        pd[n_pd] = (pd_job){.x = x,
                            .m = m,
                            .f = f,
                            .rows = sample,
                            .n = ns,
                            .input = imp[i].input,
                            .points = a->pd_points ? a->pd_points : 10,
                            .o = &a->opt};
        n_pd++;
    }
    phase(a, "partial dependence");
    for (size_t j = 0; j < n_pd; j++) {
        started[j] =
            a->threads > 1 && j + 1 < n_pd && !pthread_create(&tid[j], NULL, pd_run, &pd[j]);
        if (!started[j]) pd_run(&pd[j]);
    }
    for (size_t j = 0; j < n_pd; j++)
        if (started[j]) pthread_join(tid[j], NULL);
    for (size_t j = 0; j < n_pd; j++)
        if (pd[j].rc) {
            phase(a, NULL);
            cli_error("partial dependence on %s: %s", input_name(m, pd[j].input), pd[j].e.msg);
            goto done;
        }
    phase(a, NULL);
    long cls = explained_class(m, x, &a->opt);
    keel_explain_scale sc = a->opt.scale;
    if (sc == KEEL_SCALE_DEFAULT)
        sc = m->target.task == KEEL_TASK_REGRESSION ? KEEL_SCALE_VALUE : KEEL_SCALE_LOG_ODDS;
    write_global(&b, a, m, metric, base, imp, pd, n_pd, n, ns, vr.quarantined, cls,
                 keel_explain_scale_name(sc));
    if (!b.data) goto oom;
    FILE *out = open_output(a, &tmp);
    if (!out) goto done;
    bool ok = fwrite(b.data, 1, b.len, out) == b.len;
    status = close_output(a, out, tmp, ok);
    if (!ok) cli_error("cannot write the report");
    goto done;
interrupted:
    phase(a, NULL);
    cli_error("interrupted");
    goto done;
oom:
    cli_error("out of memory");
    status = EXIT_FAIL;
done:
    for (size_t j = 0; j < PD_COLUMNS; j++)
        keel_pd_curve_free(&pd[j].c);
    keel_buf_free(&b);
    keel_free(tmp);
    keel_free(imp);
    keel_free(mabs);
    keel_free(sample);
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
    if ((status = cli_load_model(a.model, &m))) return status;
    if ((status = check_options(&a, m)) >= 0) {
        keel_model_free(m);
        return status;
    }
    keel_explainer *x;
    keel_error e;
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
