/*
 * cmd_data.c — `keel data infer|validate|profile`.
 *
 * Each command parses its options, calls the data library and prints a summary for people,
 * or JSON with --json. Exit status: 0 done, 1 the work failed or a threshold was crossed,
 * 2 usage error. Ctrl-C stops validation between records; what was written so far (the
 * quarantine) stays on disk.
 */
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include "base/json.h"
#include "data/infer.h"
#include "data/profile.h"
#include "data/validate.h"
#include "report/report.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int load_schema(const char *path, keel_schema **s)
{
    keel_error e;
    if (!path) {
        cli_error("--schema FILE is required (make one with: keel data infer FILE -o schema.yaml)");
        return EXIT_USAGE;
    }
    if (keel_schema_load(path, s, &e) != KEEL_OK) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- infer ---- */

/* --delimiter C: one character, or "tab". */
static int parse_delimiter(const char *v, void *out)
{
    if (!strcmp(v, "\\t") || !strcmp(v, "tab") || !strcmp(v, "TAB")) v = "\t";
    if (strlen(v) != 1) return -1;
    *(char *)out = v[0];
    return 0;
}

static int cmd_infer(int argc, char **argv)
{
    keel_infer_options o;
    keel_infer_options_init(&o);
    const char *file = NULL, *output = NULL;
    bool json = false;
    int encoding = -1;
    const cli_option opts[] = {
        CLI_OPT_TEXT("--output", "-o", &output),
        CLI_OPT_TEXT("--target", NULL, &o.target),
        CLI_OPT_NUM_HINT("--max-rows", CLI_U64, &o.max_rows, 1, 1e18, "needs a positive number"),
        CLI_OPT_NUM_HINT("--max-categories", CLI_SIZE, &o.max_categories, 1, 1e9,
                         "needs a positive number"),
        CLI_OPT_NUM_HINT("--max-columns", CLI_SIZE, &o.max_columns, 1, 1e6, "needs 1 to 1000000"),
        CLI_OPT_PARSE("--delimiter", NULL, &o.delimiter, parse_delimiter, "needs one character"),
        CLI_OPT_CHOICE("--encoding", &encoding,
                       ((const char *const[]){"utf-8|utf8", "latin-1|latin1|iso-8859-1", NULL})),
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_END};
    const cli_command cmd = {.name = "data infer",
                             .usage = cli_help_data_infer,
                             .opts = opts,
                             .args = &file,
                             .arg_names = (const char *const[]){"FILE", NULL},
                             .min_args = 1,
                             .max_args = 1};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (encoding >= 0) o.encoding = encoding == 0 ? KEEL_ENC_UTF8 : KEEL_ENC_LATIN1;
    if (json && !output) {
        cli_error("--json prints the summary on standard output: give the schema a file with -o");
        return EXIT_USAGE;
    }
    keel_progress_bar *bar = cli_progress();
    if (bar) {
        o.progress = keel_progress_bar_update;
        o.progress_ud = bar;
    }
    keel_schema *s;
    keel_error e;
    int rc = keel_infer_file(file, &o, &s, &e);
    keel_progress_bar_finish(bar);
    if (rc) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    keel_buf yaml;
    keel_buf_init(&yaml);
    if (keel_schema_write(s, &yaml) != KEEL_OK) {
        cli_error("out of memory");
        keel_schema_free(s);
        return EXIT_FAIL;
    }
    status = cli_write_file(output ? output : "-", yaml.data, yaml.len);
    keel_buf_free(&yaml);
    if (status == EXIT_OK) { /* the summary goes to stderr when the schema is on stdout */
        keel_buf b;
        keel_buf_init(&b);
        if (keel_infer_summary(file, output, s, json, &b) == KEEL_OK)
            fputs(b.data, json || output ? stdout : stderr);
        keel_buf_free(&b);
    }
    keel_schema_free(s);
    return status;
}

/* ---- validate and profile share their options ---- */

typedef struct run_opts {
    const char *file, *schema, *quarantine, *output, *html;
    double max_rate;
    bool json, sha256, no_quarantine, no_registry;
    size_t max_record_bytes;
    const char *merge[64];
    int n_merge;
} run_opts;

/* Parses the options shared by validate and profile; returns -1 to go on, else an exit code. */
static int parse_run(int argc, char **argv, run_opts *r, const char *usage, bool profile)
{
    r->max_rate = -1;
    bool merge = false;
    const cli_option opts[] = {
        CLI_OPT_TEXT("--schema", "-s", &r->schema),
        CLI_OPT_TEXT("--quarantine", NULL, &r->quarantine),
        CLI_OPT_NUM_HINT("--max-quarantine-rate", CLI_DOUBLE, &r->max_rate, 0, 1,
                         "needs a fraction between 0 and 1 (0.01 = 1%)"),
        CLI_OPT_NUM_HINT("--max-record-bytes", CLI_SIZE, &r->max_record_bytes, 16, 1e15,
                         "needs a number of at least 16"),
        CLI_OPT_FLAG("--no-quarantine", NULL, &r->no_quarantine),
        CLI_OPT_FLAG("--json", NULL, &r->json),
        CLI_OPT_FLAG("--sha256", NULL, &r->sha256),
        CLI_OPT_FLAG("--no-registry", NULL, &r->no_registry),
        CLI_OPT_END};
    const cli_option profile_opts[] = {
        CLI_OPT_TABLE(opts), CLI_OPT_TEXT("--output", "-o", &r->output),
        CLI_OPT_TEXT("--html", NULL, &r->html), CLI_OPT_FLAG("--merge", NULL, &merge), CLI_OPT_END};
    const cli_command cmd = {.name = profile ? "data profile" : "data validate",
                             .usage = usage,
                             .opts = profile ? profile_opts : opts,
                             .args = r->merge,
                             .arg_names = (const char *const[]){"FILE", NULL},
                             .min_args = 1,
                             .max_args = profile ? 64 : 1,
                             .n_args = &r->n_merge};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (merge) return -1; /* the arguments are the profiles to merge */
    if (r->n_merge > 1) {
        cli_error("one file at a time (got '%s' and '%s')", r->merge[0], r->merge[1]);
        return EXIT_USAGE;
    }
    r->file = r->merge[0];
    r->n_merge = 0;
    return -1;
}

static void print_summary(const char *file, const keel_schema *s, const keel_validate_result *res,
                          const char *quarantine, bool json, const char *extra_json)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_validate_summary(file, s, res, quarantine, json, extra_json, &b))
        cli_error("out of memory");
    else
        fputs(b.data, stdout);
    keel_buf_free(&b);
}

static int run_validation(const run_opts *r, const keel_schema *s, keel_profile *profile,
                          keel_validate_result *res, char **quarantine_out)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    char *q = NULL;
    if (cli_quarantine_path(r->file, r->quarantine, r->no_quarantine, &q)) return EXIT_FAIL;
    o.quarantine_path = q;
    o.sha256 = r->sha256 || !r->no_registry; /* the registry knows data by its SHA-256 */
    if (r->max_record_bytes) o.max_record_bytes = r->max_record_bytes;
    o.cancel = (const volatile int *)&cli_interrupted;
    keel_progress_bar *bar = cli_progress();
    if (bar) {
        o.progress = keel_progress_bar_update;
        o.progress_ud = bar;
    }
    if (profile) {
        o.on_chunk = keel_profile_add_frame;
        o.chunk_ud = profile;
    }
    cli_catch_interrupts();
    keel_error e;
    int rc = keel_validate_file(s, r->file, &o, res, &e);
    keel_progress_bar_finish(bar);
    *quarantine_out = q;
    if (rc != KEEL_OK) {
        cli_error("%s", e.msg);
        if (rc == KEEL_ECANCELED && q) cli_error("interrupted; the quarantine so far is in %s", q);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int threshold(const run_opts *r, const keel_validate_result *res)
{
    if (r->max_rate < 0 || res->records == 0) return EXIT_OK;
    double rate = (double)res->quarantined / (double)res->records;
    if (rate > r->max_rate) {
        cli_error("quarantine rate %.4f%% is above --max-quarantine-rate %.4f%%", 100 * rate,
                  100 * r->max_rate);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_validate(int argc, char **argv)
{
    run_opts r = {0};
    int status = parse_run(argc, argv, &r, cli_help_data_validate, false);
    if (status >= 0) return status;
    keel_schema *s;
    if ((status = load_schema(r.schema, &s)) != EXIT_OK) return status;
    keel_validate_result res;
    char *q = NULL;
    keel_registry *reg = NULL;
    if (!r.no_registry && !(reg = cli_registry_open())) {
        cli_error("(--no-registry skips the registry)");
        keel_schema_free(s);
        return EXIT_FAIL;
    }
    status = run_validation(&r, s, NULL, &res, &q);
    int64_t id = 0;
    if (status == EXIT_OK && reg) status = cli_register_dataset(reg, r.file, s, &res, NULL, &id);
    if (status == EXIT_OK) {
        char extra[64];
        snprintf(extra, sizeof extra, ",\"dataset_id\":%lld", (long long)id);
        print_summary(r.file, s, &res, q, r.json, reg ? extra : NULL);
        if (reg && !r.json) printf("dataset: %lld in %s\n", (long long)id, cli_keel_home());
        status = threshold(&r, &res);
    }
    keel_validate_result_free(&res);
    keel_free(q);
    keel_schema_free(s);
    keel_registry_close(reg);
    return status;
}

/* ---- profile ---- */

/* Writes the profile's JSON and its HTML report, each through a temporary file. */
static int write_outputs(const keel_profile *p, const char *json_path, const char *html_path)
{
    keel_buf json, html;
    keel_buf_init(&json);
    keel_buf_init(&html);
    keel_error e;
    int status = EXIT_FAIL;
    if (keel_report_profile_pages(p, &json, &html, &e) != KEEL_OK)
        cli_error("cannot write the profile: %s", e.msg);
    else if ((status = cli_write_file(json_path, json.data, json.len)) == EXIT_OK)
        status = cli_write_file(html_path, html.data, html.len);
    keel_buf_free(&json);
    keel_buf_free(&html);
    return status;
}

static int cmd_merge(const run_opts *r)
{
    if (r->n_merge < 2 || !r->output) {
        cli_error("--merge needs at least two profiles and -o OUTPUT.json");
        return EXIT_USAGE;
    }
    keel_profile *acc = NULL;
    keel_error e;
    if (keel_profile_merge_files(r->merge, (size_t)r->n_merge, &acc, &e) != KEEL_OK) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    char *html = r->html ? NULL : keel_path_derived(r->output, ".html");
    int status = write_outputs(acc, r->output, r->html ? r->html : html);
    if (status == EXIT_OK && !r->json)
        printf("merged %d profiles (%llu records) -> %s, %s\n", r->n_merge,
               (unsigned long long)keel_profile_records(acc), r->output, r->html ? r->html : html);
    else if (status == EXIT_OK)
        printf("{\"merged\":%d,\"records\":%llu}\n", r->n_merge,
               (unsigned long long)keel_profile_records(acc));
    keel_free(html);
    keel_profile_free(acc);
    return status;
}

static int cmd_profile(int argc, char **argv)
{
    run_opts r = {0};
    int status = parse_run(argc, argv, &r, cli_help_data_profile, true);
    if (status >= 0) return status;
    if (r.n_merge) return cmd_merge(&r);
    keel_schema *s;
    if ((status = load_schema(r.schema, &s)) != EXIT_OK) return status;
    keel_profile *p = keel_profile_new(s);
    char *json_path = r.output ? keel_strdup(r.output) : keel_path_derived(r.file, ".profile.json");
    char *html_path = r.html ? keel_strdup(r.html) : keel_path_derived(r.file, ".profile.html");
    keel_validate_result res;
    memset(&res, 0, sizeof res);
    char *q = NULL;
    keel_registry *reg = NULL;
    if (!p || !json_path || !html_path) {
        cli_error("out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    if (!r.no_registry && !(reg = cli_registry_open())) {
        cli_error("(--no-registry skips the registry)");
        status = EXIT_FAIL;
        goto done;
    }
    status = run_validation(&r, s, p, &res, &q);
    if (status != EXIT_OK) goto done;
    keel_profile_set_source(p, strcmp(r.file, "-") ? keel_path_base(r.file) : "stdin", res.sha256,
                            res.records, res.accepted, res.quarantined, res.repaired);
    keel_profile_set_created(p, (int64_t)time(NULL) * 1000000);
    if ((status = write_outputs(p, json_path, html_path)) != EXIT_OK) goto done;
    if (reg) {
        keel_buf pj;
        keel_buf_init(&pj);
        int64_t id = 0;
        status = keel_profile_write_json(p, &pj) == KEEL_OK
                     ? cli_register_dataset(reg, r.file, s, &res, pj.data, &id)
                     : EXIT_FAIL;
        keel_buf_free(&pj);
        if (status != EXIT_OK) goto done;
    }
    if (r.json) {
        keel_buf extra;
        keel_buf_init(&extra);
        keel_buf_puts(&extra, ",\"profile\":");
        keel_buf_json_str(&extra, json_path, strlen(json_path));
        keel_buf_puts(&extra, ",\"report\":");
        keel_buf_json_str(&extra, html_path, strlen(html_path));
        print_summary(r.file, s, &res, q, true, extra.data);
        keel_buf_free(&extra);
    } else {
        print_summary(r.file, s, &res, q, false, NULL);
        printf("profile: %s\nreport:  %s\n", json_path, html_path);
    }
    status = threshold(&r, &res);
done:
    keel_validate_result_free(&res);
    keel_free(q);
    keel_free(json_path);
    keel_free(html_path);
    keel_profile_free(p);
    keel_schema_free(s);
    keel_registry_close(reg);
    return status;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2) {
        fputs(cli_help_data, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(cli_help_data, stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "infer")) return cmd_infer(argc - 1, argv + 1);
    if (!strcmp(argv[1], "validate")) return cmd_validate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "profile")) return cmd_profile(argc - 1, argv + 1);
    cli_error("unknown command 'data %s'\n\n%s", argv[1], cli_help_data);
    return EXIT_USAGE;
}
