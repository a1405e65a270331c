/*
 * cli_data.c — what the commands that read a data file share: where its rejected records go,
 * and loading its accepted records with a progress bar and a word on what was quarantined.
 */
#include "tools/cli.h"

#include "data/validate.h"
#include "pipeline/reports.h"

int cli_quarantine_path(const char *file, const char *given, bool none, char **out)
{
    *out = NULL;
    if (none) return EXIT_OK;
    *out = given ? keel_strdup(given) : keel_path_derived(file, ".quarantine.jsonl");
    if (*out) return EXIT_OK;
    cli_error("out of memory");
    return EXIT_FAIL;
}

void cli_note_quarantined(const char *file, const keel_validate_result *vr, const char *quarantine)
{
    if (vr->quarantined)
        fprintf(stderr, "keel: %s: %llu of %llu records quarantined%s%s\n", file,
                (unsigned long long)vr->quarantined, (unsigned long long)vr->records,
                quarantine ? ", see " : "", quarantine ? quarantine : "");
}

int cli_load_frame(const char *file, const keel_schema *s, const char *quarantine, bool quiet,
                   keel_frame **f, keel_validate_result *vr)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = quarantine;
    o.sha256 = true;
    o.cancel = (const volatile int *)&cli_interrupted;
    keel_progress_bar *bar = quiet ? NULL : cli_progress();
    if (bar) {
        o.progress = keel_progress_bar_update;
        o.progress_ud = bar;
    }
    keel_error e;
    int rc = keel_frame_load(s, file, &o, f, vr, &e);
    keel_progress_bar_finish(bar);
    if (rc != KEEL_OK)
        cli_error("%s", e.msg);
    else if (!quiet)
        cli_note_quarantined(file, vr, quarantine);
    return rc;
}

void cli_print_summary(const keel_scoring_summary *s, bool json, FILE *to)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_scoring_summary_write(s, json, &b) != KEEL_OK)
        cli_error("out of memory");
    else
        fprintf(to, "%s%s", json ? "" : "keel: ", b.data);
    keel_buf_free(&b);
}
