/*
 * cmd_audit.c — `keel audit verify|export|checkpoint|adopt`: what an auditor runs.
 *
 * verify exits 0 when the chain and every checkpoint hold, 1 when anything is wrong (naming
 * the first bad sequence number), so it can gate a pipeline or a cron job.
 */
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <string.h>

static int parse_time(const char *v, void *out)
{
    return keel_parse_time(v, out) ? 0 : -1;
}

static int write_file(void *ud, const char *p, size_t n)
{
    return fwrite(p, 1, n, (FILE *)ud) == n ? 0 : -1;
}

static int verify(keel_registry *r, const char *checkpoint, bool json)
{
    keel_audit_checkpoint external;
    keel_error e;
    if (checkpoint && keel_audit_checkpoint_read(checkpoint, &external, &e) != KEEL_OK) {
        cli_error("%s", e.msg);
        return EXIT_FAIL;
    }
    keel_registry_verify_result res;
    keel_progress_bar *bar = cli_progress();
    int rc = keel_registry_audit_verify(r, checkpoint ? &external : NULL,
                                        bar ? keel_progress_bar_update : NULL, bar, &res);
    keel_progress_bar_finish(bar);
    if (rc != KEEL_OK) return cli_registry_fail(r, rc);
    keel_buf b;
    keel_buf_init(&b);
    if (keel_registry_verify_report(&res, json, &b) == KEEL_OK) fputs(b.data, stdout);
    keel_buf_free(&b);
    return res.ok ? EXIT_OK : EXIT_FAIL;
}

static int export(keel_registry *r, int64_t since, int format, const char *output)
{
    cli_output out;
    if (cli_output_open(&out, output)) return EXIT_FAIL;
    int64_t n = 0;
    int rc = keel_registry_audit_export(r, since, format, write_file, out.f, &n);
    int status = rc != KEEL_OK ? cli_registry_fail(r, rc) : EXIT_OK;
    if (cli_output_close(&out, rc == KEEL_OK) != EXIT_OK) return EXIT_FAIL;
    if (status == EXIT_OK && output)
        fprintf(stderr, "keel: %lld events written to %s\n", (long long)n, output);
    return status;
}

static int checkpoint(keel_registry *r, const char *output, bool json)
{
    keel_audit_checkpoint c;
    int rc = keel_registry_audit_checkpoint(r, &c);
    if (rc != KEEL_OK) return cli_registry_fail(r, rc);
    keel_buf b;
    keel_buf_init(&b);
    int status = keel_audit_checkpoint_json(&c, &b) || keel_buf_putc(&b, '\n')
                     ? EXIT_FAIL
                     : cli_write_file(output, b.data, b.len);
    if (status == EXIT_OK && output && !json)
        printf("checkpoint of event %lld written to %s\n", (long long)c.seq, output);
    keel_buf_free(&b);
    return status;
}

static int adopt(keel_registry *r, bool json)
{
    int64_t from, to;
    int rc = keel_registry_audit_adopt(r, &from, &to);
    if (rc != KEEL_OK) return cli_registry_fail(r, rc);
    if (json)
        printf("{\"from\":%lld,\"to\":%lld}\n", (long long)from, (long long)to);
    else
        printf("adopted events %lld to %lld: recorded as audit.adopt and signed\n", (long long)from,
               (long long)to);
    return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
    bool json = false;
    const char *verb = NULL, *output = NULL, *checkpoint_file = NULL;
    int64_t since = 0;
    int format = KEEL_AUDIT_JSONL;
    const cli_option opts[] = {
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_TEXT("--output", "-o", &output),
        CLI_OPT_TEXT("--checkpoint", NULL, &checkpoint_file),
        CLI_OPT_PARSE("--since", NULL, &since, parse_time,
                      "wants a date (2026-11-24), a UTC time (2026-11-24T10:00:00Z) or seconds "
                      "since the epoch"),
        CLI_OPT_CHOICE("--format", &format, ((const char *const[]){"jsonl", "csv", NULL})),
        CLI_OPT_END};
    const cli_command cmd = {
        .name = "audit",
        .usage = cli_help_audit,
        .opts = opts,
        .args = &verb,
        .arg_names = (const char *const[]){"a verb (verify, export, checkpoint or adopt)", NULL},
        .min_args = 1,
        .max_args = 1};
    if (argc > 1 && !strcmp(argv[1], "help")) return fputs(cli_help_audit, stdout), EXIT_OK;
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    bool is_verify = !strcmp(verb, "verify"), is_export = !strcmp(verb, "export"),
         is_adopt = !strcmp(verb, "adopt");
    if (!is_verify && !is_export && !is_adopt && strcmp(verb, "checkpoint"))
        return cli_usage_error(&cmd, "unknown verb 'audit %s'", verb);
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    status = is_verify   ? verify(r, checkpoint_file, json)
             : is_export ? export(r, since, format, output)
             : is_adopt  ? adopt(r, json)
                         : checkpoint(r, output, json);
    keel_registry_close(r);
    return status;
}
