/*
 * cmd_card.c — `keel card MODEL --data HOLDOUT`: the model card.
 *
 * The command's side only: it reads the options, loads the model (a file, or a registry
 * reference through the registry), opens the registry when one exists to find the file's
 * registered version, loads the held-out file through the model's schema (quarantining what
 * breaks it, with a progress bar), dates the card (SOURCE_DATE_EPOCH, for reproducible
 * cards, else the clock), and hands all of it to the library: keel_card_build
 * (src/report/card_build.h) gathers every number into the card's JSON document, and
 * keel_card_html / keel_card_markdown (src/report/card.h) render that document, and only
 * that document, so a card can be re-rendered and checked from its JSON alone. Then it
 * writes the files, each under a temporary name first, and says where they are.
 *
 * The registry is opened only when one exists already (a card never creates one), and the
 * library reads it only through its API, so its role checks apply (see card_record.c).
 */
#include "data/validate.h"
#include "model/model.h"
#include "report/card.h"
#include "report/card_build.h"
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct card_args {
    const char *model, *data, *html, *md, *json, *quarantine;
    bool no_quarantine, quiet;
    uint64_t seed;
} card_args;

/* The registry's side of the card, as the command found it. */
typedef struct reg_ref {
    keel_registry *r;
    char *name;
    int64_t version;
    char note[400]; /* why the registry has nothing, for the card */
} reg_ref;

/* Progress lines go to a terminal only, and never with --quiet. */
static void progress(void *ud, const char *what)
{
    const card_args *a = ud;
    if (!a->quiet && isatty(STDERR_FILENO)) fprintf(stderr, "keel: card: %s\xe2\x80\xa6\n", what);
}

/* A model loaded from a file: is its artifact a registered version? (The library opens the
 * registry only when one exists already: a card never creates one.) */
static void find_registered(const keel_model *m, reg_ref *rr)
{
    keel_registry_options o;
    cli_registry_options(&o, 0);
    keel_card_find_registered(&o, m->sha256, &rr->r, &rr->name, &rr->version, rr->note,
                              sizeof rr->note);
}

int cmd_card(int argc, char **argv)
{
    card_args a = {.seed = 42};
    const cli_option opts[] = {
        CLI_OPT_TEXT("--data", NULL, &a.data),
        CLI_OPT_TEXT("--output", "-o", &a.html),
        CLI_OPT_TEXT("--markdown", NULL, &a.md),
        CLI_OPT_TEXT("--json", NULL, &a.json),
        CLI_OPT_TEXT("--quarantine", NULL, &a.quarantine),
        CLI_OPT_NUM_HINT("--seed", CLI_U64, &a.seed, 0, 1.8e19, "must be a whole number"),
        CLI_OPT_FLAG("--no-quarantine", NULL, &a.no_quarantine),
        CLI_OPT_FLAG("--quiet", "-q", &a.quiet),
        CLI_OPT_END};
    const cli_command cmd = {.name = "card",
                             .usage = cli_help_card,
                             .opts = opts,
                             .args = &a.model,
                             .arg_names = (const char *const[]){"MODEL", NULL},
                             .min_args = 1,
                             .max_args = 1};
    int status = cli_parse(&cmd, argc, argv);
    if (status >= 0) return status;
    if (!a.data) return cli_usage_error(&cmd, "--data FILE (held-out data) is required");
    cli_catch_interrupts();
    keel_model *m = NULL;
    keel_frame *f = NULL;
    keel_validate_result vr = {0};
    char *qpath = NULL;
    reg_ref rr = {0};
    keel_buf json, html, md;
    keel_buf_init(&json);
    keel_buf_init(&html);
    keel_buf_init(&md);
    keel_json_doc *doc = NULL;
    char *html_path = NULL, *md_path = NULL;
    keel_model_version *v = NULL;
    if ((status = cli_load_model(a.model, &m, &v)) != EXIT_OK) goto done;
    if (v) { /* a registry reference: the registry exists */
        rr.name = keel_strdup(v->model);
        rr.version = v->version;
        keel_model_version_free(v);
        if (!rr.name || !(rr.r = cli_registry_open())) {
            status = EXIT_FAIL;
            goto done;
        }
    } else {
        find_registered(m, &rr);
    }
    if ((status = cli_quarantine_path(a.data, a.quarantine, a.no_quarantine, &qpath)) ||
        (status = cli_load_frame(a.data, m->schema, qpath, a.quiet, &f, &vr) ? EXIT_FAIL : 0))
        goto done;
    keel_card_inputs in = {.model = m,
                           .model_ref = a.model,
                           .holdout = f,
                           .holdout_result = &vr,
                           .holdout_path = a.data,
                           .quarantine_path = qpath,
                           .seed = a.seed,
                           .generated_us = cli_source_date_micros(),
                           .registry = rr.r,
                           .registry_model = rr.name,
                           .registry_version = rr.version,
                           .registry_note = rr.note[0] ? rr.note : NULL,
                           .progress = progress,
                           .progress_ud = &a};
    keel_error e;
    if (keel_card_build(&in, &json, &e) != KEEL_OK) {
        cli_error("%s", e.msg);
        status = EXIT_FAIL;
        goto done;
    }
    /* Render from the document itself, as anyone re-rendering the JSON would. */
    if (!(doc = keel_json_doc_new()) || keel_json_parse(doc, json.data, json.len, &e) ||
        keel_card_html(keel_json_root(doc), &html, &e) ||
        keel_card_markdown(keel_json_root(doc), &md, &e)) {
        cli_error("cannot render the card: %s", doc ? e.msg : "out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    const char *name = rr.name ? rr.name : keel_path_base(a.model);
    char stem[160];
    size_t n = KEEL_MIN(keel_path_stem_len(name, ".keel"), (size_t)120);
    snprintf(stem, sizeof stem, "%.*s", (int)n, name);
    if (!(html_path = keel_malloc(strlen(stem) + 16)) ||
        !(md_path = keel_malloc(strlen(stem) + 16))) {
        cli_error("out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    sprintf(html_path, "%s.card.html", stem);
    sprintf(md_path, "%s.card.md", stem);
    const char *hp = a.html ? a.html : html_path, *mp = a.md ? a.md : md_path;
    keel_buf_putc(&json, '\n');
    if ((status = cli_write_file(hp, html.data, html.len)) ||
        (status = cli_write_file(mp, md.data, md.len)) ||
        (a.json && (status = cli_write_file(a.json, json.data, json.len))))
        goto done;
    if (!a.quiet) {
        printf("card: %s\nmarkdown: %s\n", hp, mp);
        if (a.json) printf("json: %s\n", a.json);
    }
    status = EXIT_OK;
done:
    keel_json_doc_free(doc);
    keel_buf_free(&json);
    keel_buf_free(&html);
    keel_buf_free(&md);
    keel_free(html_path);
    keel_free(md_path);
    keel_frame_free(f);
    keel_validate_result_free(&vr);
    keel_free(qpath);
    keel_model_free(m);
    keel_free(rr.name);
    keel_registry_close(rr.r);
    return status;
}
