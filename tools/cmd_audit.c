/*
 * cmd_audit.c — `keel audit verify|export|checkpoint`: what an auditor runs.
 *
 * verify exits 0 when the chain and every checkpoint hold, 1 when anything is wrong (naming
 * the first bad sequence number), so it can gate a pipeline or a cron job.
 */
#include "tools/registry_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char audit_usage[] =
    "usage: keel audit verify [--checkpoint FILE] [--json]\n"
    "       keel audit export [--since TIME] [--format jsonl|csv] [-o FILE]\n"
    "       keel audit checkpoint [-o FILE] [--json]\n"
    "\n"
    "verify      re-hash the whole audit chain and check every signed checkpoint; exit 1\n"
    "            and name the first bad event when anything was edited, deleted, reordered,\n"
    "            inserted or cut off. --checkpoint FILE also checks a checkpoint you kept\n"
    "            elsewhere (the output of `keel audit checkpoint -o FILE`).\n"
    "export      the events (all, or those at or after TIME: 2026-11-24, 2026-11-24T10:00:00Z\n"
    "            or seconds since the epoch) as JSON Lines (default) or CSV, on stdout or -o.\n"
    "checkpoint  sign the chain's head now and print it (or write it to FILE) to keep apart.\n"
    "\n"
    "Needs the auditor role (checkpoint: auditor or operator). The chain's format is in\n"
    "docs/registry.md, so it can be re-checked with any SHA-256 tool.\n";

/* Parses TIME as YYYY-MM-DD[THH:MM[:SS]][Z] (UTC) or seconds since the epoch. */
static bool parse_time(const char *s, int64_t *micros)
{
    char *end;
    errno = 0;
    long long secs = strtoll(s, &end, 10);
    if (!*end && !errno && end != s && strlen(s) > 8) {
        *micros = (int64_t)secs * 1000000;
        return true;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return false;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2) return false;
        p += 1 + m2;
        if (*p == ':') {
            int m3 = 0;
            if (sscanf(p + 1, "%2d%n", &sec, &m3) != 1) return false;
            p += 1 + m3;
        }
    }
    if (*p == 'Z') p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    int64_t days = keel_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *micros = ((days * 24 + h) * 60 + mi) * 60 * 1000000LL + sec * 1000000LL;
    return true;
}

static int write_file(void *ud, const char *p, size_t n)
{
    return fwrite(p, 1, n, (FILE *)ud) == n ? 0 : -1;
}

static void checkpoint_json(keel_buf *b, const keel_audit_checkpoint *c)
{
    char when[40];
    keel_format_timestamp(c->time, when);
    keel_buf_printf(b,
                    "{\"seq\":%lld,\"time\":%lld,\"time_iso\":\"%s\",\"hash\":\"%s\","
                    "\"public_key\":\"%s\",\"signature\":\"%s\"}",
                    (long long)c->seq, (long long)c->time, when, c->hash, c->public_key,
                    c->signature);
}

int cmd_audit(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) {
        fputs(audit_usage, stdout);
        return EXIT_OK;
    }
    bool json = false;
    const char *since = NULL, *format = "jsonl", *output = NULL, *checkpoint = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int m;
        if (opt_flag("-h", argv[i]) || opt_flag("--help", argv[i])) {
            fputs(audit_usage, stdout);
            return EXIT_OK;
        } else if (opt_flag("--json", argv[i])) {
            json = true;
        } else if ((m = opt_value("--since", argc, argv, &i, &v))) {
            if (m < 0) return EXIT_USAGE;
            since = v;
        } else if ((m = opt_value("--format", argc, argv, &i, &v))) {
            if (m < 0) return EXIT_USAGE;
            format = v;
        } else if ((m = opt_value("--checkpoint", argc, argv, &i, &v))) {
            if (m < 0) return EXIT_USAGE;
            checkpoint = v;
        } else if ((m = opt_value("-o", argc, argv, &i, &v)) ||
                   (m = opt_value("--output", argc, argv, &i, &v))) {
            if (m < 0) return EXIT_USAGE;
            output = v;
        } else {
            cli_error("unexpected argument '%s'", argv[i]);
            fputs(audit_usage, stderr);
            return EXIT_USAGE;
        }
    }
    bool is_verify = !strcmp(verb, "verify"), is_export = !strcmp(verb, "export"),
         is_checkpoint = !strcmp(verb, "checkpoint");
    if (!is_verify && !is_export && !is_checkpoint) {
        fputs(audit_usage, stderr);
        return EXIT_USAGE;
    }
    int64_t since_us = 0;
    if (since && !parse_time(since, &since_us)) {
        cli_error("--since wants a date (2026-11-24), a UTC time (2026-11-24T10:00:00Z) or "
                  "seconds since the epoch, not '%s'",
                  since);
        return EXIT_USAGE;
    }
    int fmt = !strcmp(format, "jsonl") ? KEEL_AUDIT_JSONL
              : !strcmp(format, "csv") ? KEEL_AUDIT_CSV
                                       : -1;
    if (fmt < 0) {
        cli_error("--format is jsonl or csv, not '%s'", format);
        return EXIT_USAGE;
    }
    keel_audit_checkpoint external;
    if (checkpoint) {
        keel_error e;
        if (keel_audit_checkpoint_read(checkpoint, &external, &e) != KEEL_OK) {
            cli_error("%s", e.msg);
            return EXIT_FAIL;
        }
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    int status = EXIT_OK, rc;
    if (is_verify) {
        keel_audit_verify_result res;
        rc = keel_registry_audit_verify(r, checkpoint ? &external : NULL,
                                        cli_progress() ? keel_progress_bar_update : NULL,
                                        cli_progress(), &res);
        if (cli_progress()) keel_progress_bar_finish(cli_progress());
        if (rc != KEEL_OK) {
            status = cli_registry_fail(r, rc);
        } else if (json) {
            keel_buf b;
            keel_buf_init(&b);
            keel_buf_printf(&b,
                            "{\"ok\":%s,\"events\":%lld,\"head_seq\":%lld,\"first_bad\":%lld,"
                            "\"checkpoints\":%lld,\"checkpoint_seq\":%lld,\"reason\":",
                            res.ok ? "true" : "false", (long long)res.n_events,
                            (long long)res.head_seq, (long long)res.first_bad,
                            (long long)res.n_checkpoints, (long long)res.checkpoint_seq);
            keel_buf_json_str(&b, res.reason, strlen(res.reason));
            keel_buf_puts(&b, "}\n");
            fputs(b.data, stdout);
            keel_buf_free(&b);
            status = res.ok ? EXIT_OK : EXIT_FAIL;
        } else if (res.ok) {
            printf("audit trail verified: %lld events, head %lld; %lld checkpoints checked, "
                   "newest signed at %lld\n",
                   (long long)res.n_events, (long long)res.head_seq, (long long)res.n_checkpoints,
                   (long long)res.checkpoint_seq);
        } else {
            printf("audit trail BROKEN at event %lld: %s\n", (long long)res.first_bad, res.reason);
            status = EXIT_FAIL;
        }
    } else if (is_export) {
        FILE *out = output ? fopen(output, "w") : stdout;
        if (!out) {
            cli_error("cannot write %s: %s", output, strerror(errno));
            keel_registry_close(r);
            return EXIT_FAIL;
        }
        int64_t n = 0;
        rc = keel_registry_audit_export(r, since_us, fmt, write_file, out, &n);
        if (output && fclose(out) != 0 && rc == KEEL_OK) {
            cli_error("cannot write %s: %s", output, strerror(errno));
            status = EXIT_FAIL;
        }
        if (rc != KEEL_OK)
            status = cli_registry_fail(r, rc);
        else if (output)
            fprintf(stderr, "keel: %lld events written to %s\n", (long long)n, output);
    } else {
        keel_audit_checkpoint c;
        rc = keel_registry_audit_checkpoint(r, &c);
        if (rc != KEEL_OK) {
            status = cli_registry_fail(r, rc);
        } else {
            keel_buf b;
            keel_buf_init(&b);
            checkpoint_json(&b, &c);
            keel_buf_putc(&b, '\n');
            FILE *out = output ? fopen(output, "w") : stdout;
            if (!out || fputs(b.data, out) < 0 || (output && fclose(out) != 0)) {
                cli_error("cannot write %s: %s", output ? output : "stdout", strerror(errno));
                status = EXIT_FAIL;
            } else if (output && !json) {
                printf("checkpoint of event %lld written to %s\n", (long long)c.seq, output);
            }
            keel_buf_free(&b);
        }
    }
    keel_registry_close(r);
    return status;
}
