/*
 * cmd_registry.c — `keel model …`, `keel run …`, `keel dataset …`, `keel lineage`,
 * `keel user …`, `keel token …`, `keel registry migrate`: the registry's commands. Each parses its
 * arguments, makes one registry call and prints the answer (JSON with --json, else for people).
 */
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Options every registry command understands (and --dry-run, registry migrate's alone: `keel
 * model tag … --dry-run` must not pass and then really tag); positional arguments are
 * collected. */
typedef struct reg_args {
    const char *pos[4];
    int n_pos;
    bool json, dot, remove, retire, dry_run;
    const char *comment, *role, *target, *dataset, *name, *public_key, *model, *expires;
} reg_args;

/* Returns -1 to go on, else an exit code (help printed, or a usage error). */
static int parse_args(int argc, char **argv, const char *name, const char *usage, reg_args *a)
{
    memset(a, 0, sizeof *a);
    const cli_option opts[] = {CLI_OPT_FLAG("--json", NULL, &a->json),
                               CLI_OPT_FLAG("--dot", NULL, &a->dot),
                               CLI_OPT_FLAG("--remove", NULL, &a->remove),
                               CLI_OPT_FLAG("--retire", NULL, &a->retire),
                               CLI_OPT_TEXT("--comment", "-m", &a->comment),
                               CLI_OPT_TEXT("--role", NULL, &a->role),
                               CLI_OPT_TEXT("--target", NULL, &a->target),
                               CLI_OPT_TEXT("--dataset", NULL, &a->dataset),
                               CLI_OPT_TEXT("--name", NULL, &a->name),
                               CLI_OPT_TEXT("--model", NULL, &a->model),
                               CLI_OPT_TEXT("--expires", NULL, &a->expires),
                               CLI_OPT_TEXT("--public-key", NULL, &a->public_key),
                               CLI_OPT_END};
    const cli_option migrate_opts[] = {CLI_OPT_TABLE(opts),
                                       CLI_OPT_FLAG("--dry-run", NULL, &a->dry_run), CLI_OPT_END};
    const cli_command cmd = {.name = name,
                             .usage = usage,
                             .opts = strcmp(name, "registry") ? opts : migrate_opts,
                             .args = a->pos,
                             .max_args = 4,
                             .n_args = &a->n_pos};
    return cli_parse(&cmd, argc, argv);
}

static int need_pos(const reg_args *a, int n, const char *usage)
{
    if (a->n_pos == n) return -1;
    cli_error(a->n_pos < n ? "missing argument" : "too many arguments");
    fputs(usage, stderr);
    return EXIT_USAGE;
}

/* -1 when the call succeeded, else the exit status after saying why the registry refused. */
static int refused(keel_registry *r, int rc)
{
    return rc == KEEL_OK ? -1 : cli_registry_fail(r, rc);
}

/* Prints a call's JSON answer, or its error. Frees nothing: the caller owns b. */
static int answer(keel_registry *r, int rc, keel_buf *b, bool json, const keel_text_column *cols)
{
    if (rc != KEEL_OK) return cli_registry_fail(r, rc);
    return cli_print_json(b, json, cols);
}

/* ---- keel model ---- */

static int model_show(keel_registry *r, const reg_args *a)
{
    keel_buf b;
    keel_buf_init(&b);
    const char *ref = a->pos[1];
    int rc, status;
    if (!strpbrk(ref, ":@") && !a->json) {
        /* every version of the model, as a table */
        keel_model_versions *l = NULL;
        rc = keel_registry_version_list(r, ref, &l);
        if (rc != KEEL_OK) return cli_registry_fail(r, rc);
        printf("model: %s\n", ref);
        cli_print_table(keel_text_cols_versions, l->n, keel_text_version_cell, l);
        keel_model_versions_free(l);
        return EXIT_OK;
    }
    if (!strpbrk(ref, ":@")) {
        rc = keel_registry_model_show(r, ref, 0, &b);
    } else {
        keel_model_version *v = NULL;
        rc = keel_registry_version_resolve(r, ref, &v);
        if (rc == KEEL_OK) rc = keel_registry_model_show(r, v->model, v->version, &b);
        keel_model_version_free(v);
    }
    status = answer(r, rc, &b, a->json, NULL);
    keel_buf_free(&b);
    return status;
}

/* Resolves NAME:VERSION or NAME@ALIAS for the verbs that act on one version. */
static int version_ref(keel_registry *r, const char *ref, char **model, int64_t *v)
{
    if (!strpbrk(ref, ":@")) {
        cli_error("name the version: %s:VERSION (or %s@ALIAS)", ref, ref);
        return EXIT_USAGE;
    }
    keel_model_version *mv = NULL;
    int rc = keel_registry_version_resolve(r, ref, &mv);
    if (rc != KEEL_OK) return cli_registry_fail(r, rc);
    *v = mv->version;
    *model = keel_strdup(mv->model);
    keel_model_version_free(mv);
    if (!*model) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    return -1;
}

static int print_done(bool json, const char *json_text, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int print_done(bool json, const char *json_text, const char *fmt, ...)
{
    if (json) {
        puts(json_text);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
    }
    return EXIT_OK;
}

static int model_verb(keel_registry *r, const char *verb, const reg_args *a)
{
    keel_buf b;
    keel_buf_init(&b);
    int status, rc;
    char *model = NULL;
    int64_t v = 0, id = 0;
    char js[512];
    if (!strcmp(verb, "list")) {
        rc = keel_registry_model_list(r, &b);
        status = answer(r, rc, &b, a->json, keel_text_cols_models);
    } else if (!strcmp(verb, "show")) {
        status = (status = need_pos(a, 2, cli_help_model)) >= 0 ? status : model_show(r, a);
    } else if (!strcmp(verb, "history")) {
        if ((status = need_pos(a, 2, cli_help_model)) >= 0) goto done;
        rc = keel_registry_model_history(r, a->pos[1], &b);
        status = answer(r, rc, &b, a->json, keel_text_cols_history);
    } else if (!strcmp(verb, "register")) {
        if ((status = need_pos(a, 2, cli_help_model)) >= 0) goto done;
        if (!a->name) {
            cli_error("--name NAME is required");
            status = EXIT_USAGE;
            goto done;
        }
        keel_model *m = NULL;
        keel_error e;
        if (keel_model_open(a->pos[1], &m, &e) != KEEL_OK) {
            cli_error("%s: %s", a->pos[1], e.msg);
            status = EXIT_FAIL;
            goto done;
        }
        keel_model_close(m);
        rc = keel_registry_model_register(r, a->name, a->pos[1], 0, NULL, NULL, &v);
        if ((status = refused(r, rc)) >= 0) goto done;
        snprintf(js, sizeof js, "{\"model\":\"%s\",\"version\":%lld}", a->name, (long long)v);
        status = print_done(a->json, js, "registered %s:%lld", a->name, (long long)v);
    } else if (!strcmp(verb, "request") || !strcmp(verb, "approve") || !strcmp(verb, "reject")) {
        if ((status = need_pos(a, 2, cli_help_model)) >= 0) goto done;
        if ((status = version_ref(r, a->pos[1], &model, &v)) >= 0) goto done;
        rc = !strcmp(verb, "request") ? keel_registry_approval_request(r, model, v, a->comment, &id)
                                      : keel_registry_approval_decide(
                                            r, model, v, !strcmp(verb, "approve"), a->comment, &id);
        if ((status = refused(r, rc)) >= 0) goto done;
        const char *what = !strcmp(verb, "request")   ? "review requested"
                           : !strcmp(verb, "approve") ? "approved"
                                                      : "rejected";
        snprintf(js, sizeof js,
                 "{\"model\":\"%s\",\"version\":%lld,\"approval\":%lld,"
                 "\"status\":\"%s\"}",
                 model, (long long)v, (long long)id, !strcmp(verb, "request") ? "pending" : what);
        status = print_done(a->json, js, "%s:%lld %s (approval %lld) by %s", model, (long long)v,
                            what, (long long)id, keel_registry_actor(r));
    } else if (!strcmp(verb, "alias")) {
        if ((status = need_pos(a, a->remove ? 3 : 4, cli_help_model)) >= 0) goto done;
        if (!a->remove) {
            char *end;
            v = strtoll(a->pos[3], &end, 10);
            if (*end || v <= 0) {
                cli_error("VERSION must be a version number, not '%s'", a->pos[3]);
                status = EXIT_USAGE;
                goto done;
            }
        }
        rc = keel_registry_alias_set(r, a->pos[1], a->pos[2], a->remove ? 0 : v, a->comment);
        if ((status = refused(r, rc)) >= 0) goto done;
        snprintf(js, sizeof js, "{\"model\":\"%s\",\"alias\":\"%s\",\"version\":%lld}", a->pos[1],
                 a->pos[2], (long long)(a->remove ? 0 : v));
        status = a->remove ? print_done(a->json, js, "%s@%s removed", a->pos[1], a->pos[2])
                           : print_done(a->json, js, "%s@%s -> version %lld", a->pos[1], a->pos[2],
                                        (long long)v);
    } else if (!strcmp(verb, "tag")) {
        if ((status = need_pos(a, 3, cli_help_model)) >= 0) goto done;
        if ((status = version_ref(r, a->pos[1], &model, &v)) >= 0) goto done;
        char key[256], object[200];
        const char *eq = strchr(a->pos[2], '=');
        if (!eq && !a->remove) {
            cli_error("a tag is KEY=VALUE");
            status = EXIT_USAGE;
            goto done;
        }
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - a->pos[2]) : (int)strlen(a->pos[2]),
                 a->pos[2]);
        snprintf(object, sizeof object, "model:%s:%lld", model, (long long)v);
        rc = keel_registry_tag_set(r, object, key, a->remove ? NULL : eq + 1);
        if ((status = refused(r, rc)) >= 0) goto done;
        status = print_done(a->json, "{\"ok\":true}", "%s %s on %s", a->remove ? "removed" : "set",
                            key, object);
    } else if (!strcmp(verb, "deploy")) {
        if ((status = need_pos(a, 2, cli_help_model)) >= 0) goto done;
        if ((status = version_ref(r, a->pos[1], &model, &v)) >= 0) goto done;
        if (!a->target) {
            cli_error("--target is required (where the model runs, e.g. serve:host:8080)");
            status = EXIT_USAGE;
            goto done;
        }
        rc = keel_registry_deployment_record(r, model, v, a->target,
                                             a->retire ? "retired" : "active", &id);
        if ((status = refused(r, rc)) >= 0) goto done;
        snprintf(js, sizeof js, "{\"deployment\":%lld}", (long long)id);
        status = print_done(a->json, js, "deployment %lld: %s:%lld %s %s", (long long)id, model,
                            (long long)v, a->retire ? "retired from" : "active on", a->target);
    } else {
        cli_error("unknown verb 'model %s'", verb);
        fputs(cli_help_model, stderr);
        status = EXIT_USAGE;
    }
done:
    keel_free(model);
    keel_buf_free(&b);
    return status;
}

int cmd_model(int argc, char **argv)
{
    reg_args a;
    int status = parse_args(argc, argv, "model", cli_help_model, &a);
    if (status >= 0) return status;
    if (a.n_pos < 1) {
        fputs(cli_help_model, stderr);
        return EXIT_USAGE;
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    status = model_verb(r, a.pos[0], &a);
    keel_registry_close(r);
    return status;
}

/* ---- keel run, keel dataset ---- */

static int list_show(int argc, char **argv, const char *usage, bool datasets)
{
    reg_args a;
    int status = parse_args(argc, argv, datasets ? "dataset" : "run", usage, &a);
    if (status >= 0) return status;
    bool list = a.n_pos == 1 && !strcmp(a.pos[0], "list");
    bool show = a.n_pos == 2 && !strcmp(a.pos[0], "show");
    if (!list && !show) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    keel_buf b;
    keel_buf_init(&b);
    int rc;
    int64_t id = 0;
    if (list) {
        rc = datasets ? keel_registry_dataset_list(r, &b) : keel_registry_run_list(r, &b);
    } else if (datasets) {
        rc = keel_registry_dataset_find(r, a.pos[1], &id);
        if (rc == KEEL_OK) rc = keel_registry_dataset_show(r, id, &b);
    } else {
        char *end;
        id = strtoll(a.pos[1], &end, 10);
        rc = *end || id <= 0 ? KEEL_EINVAL : keel_registry_run_show(r, id, &b);
        if (rc == KEEL_EINVAL) {
            cli_error("a run is named by its number, not '%s'", a.pos[1]);
            keel_buf_free(&b);
            keel_registry_close(r);
            return EXIT_USAGE;
        }
    }
    status = answer(r, rc, &b, a.json,
                    list ? (datasets ? keel_text_cols_datasets : keel_text_cols_runs) : NULL);
    keel_buf_free(&b);
    keel_registry_close(r);
    return status;
}

int cmd_run(int argc, char **argv)
{
    return list_show(argc, argv, cli_help_run, false);
}

int cmd_dataset(int argc, char **argv)
{
    return list_show(argc, argv, cli_help_dataset, true);
}

/* ---- keel lineage ---- */

int cmd_lineage(int argc, char **argv)
{
    reg_args a;
    int status = parse_args(argc, argv, "lineage", cli_help_lineage, &a);
    if (status >= 0) return status;
    if ((a.dataset ? 0 : 1) != a.n_pos || (a.json && a.dot)) {
        fputs(cli_help_lineage, stderr);
        return EXIT_USAGE;
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    keel_buf b;
    keel_buf_init(&b);
    int rc;
    if (a.dataset) {
        int64_t id = 0;
        rc = keel_registry_dataset_find(r, a.dataset, &id);
        if (rc == KEEL_OK) rc = keel_registry_lineage_dataset(r, id, &b);
    } else {
        rc = keel_registry_lineage_model(r, a.pos[0], &b);
    }
    if (rc != KEEL_OK) {
        status = cli_registry_fail(r, rc);
    } else if (a.json) {
        status = cli_print_json(&b, true, NULL);
    } else {
        keel_buf text;
        keel_buf_init(&text);
        if (keel_lineage_render(b.data, b.len, a.dot, &text) == KEEL_OK) {
            fputs(text.data, stdout);
            status = EXIT_OK;
        } else {
            cli_error("cannot render the lineage");
            status = EXIT_FAIL;
        }
        keel_buf_free(&text);
    }
    keel_buf_free(&b);
    keel_registry_close(r);
    return status;
}

/* ---- keel user ---- */

/* `keel user key create|show`: the person's own key file, no registry involved. */
static int user_key(const char *verb)
{
    char pk[65];
    keel_error e = {0};
    const char *file = cli_identity_key();
    int rc = !strcmp(verb, "create") ? keel_identity_key_create(file, pk, &e)
                                     : keel_identity_key_show(file, pk, &e);
    if (rc != KEEL_OK) return cli_error("%s", e.msg), EXIT_FAIL;
    printf("%s\n", pk);
    fprintf(stderr, "keel: key %s; an admin binds it: keel user add NAME --public-key %s\n", file,
            pk);
    return EXIT_OK;
}

int cmd_user(int argc, char **argv)
{
    reg_args a;
    int status = parse_args(argc, argv, "user", cli_help_user, &a);
    if (status >= 0) return status;
    const char *verb = a.n_pos ? a.pos[0] : "";
    if (!strcmp(verb, "key") && a.n_pos == 2 &&
        (!strcmp(a.pos[1], "create") || !strcmp(a.pos[1], "show")))
        return user_key(a.pos[1]);
    int want = !strcmp(verb, "list") || !strcmp(verb, "whoami")  ? 1
               : !strcmp(verb, "add") || !strcmp(verb, "remove") ? 2
                                                                 : 0;
    if (!want || a.n_pos != want || (!strcmp(verb, "add") && !a.role)) {
        if (!strcmp(verb, "add") && !a.role) cli_error("--role is required");
        fputs(cli_help_user, stderr);
        return EXIT_USAGE;
    }
    unsigned roles = 0;
    if (a.role && (keel_roles_parse(a.role, &roles) != KEEL_OK || !roles)) {
        cli_error("unknown role in '%s' (viewer, developer, approver, operator, auditor, admin)",
                  a.role);
        return EXIT_USAGE;
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    keel_buf b;
    keel_buf_init(&b);
    int rc;
    char text[96];
    if (!strcmp(verb, "list")) {
        rc = keel_registry_user_list(r, &b);
        status = answer(r, rc, &b, a.json, keel_text_cols_users);
    } else if (!strcmp(verb, "whoami")) {
        status = keel_registry_whoami(r, &b) ? EXIT_FAIL : 0;
        if (!status) status = cli_print_json(&b, a.json, NULL);
    } else if (!strcmp(verb, "add")) {
        rc = keel_registry_user_set(r, a.pos[1], roles);
        if (rc == KEEL_OK && a.public_key)
            rc = keel_registry_user_key_set(r, a.pos[1],
                                            strcmp(a.public_key, "none") ? a.public_key : NULL);
        keel_roles_format(roles, text, sizeof text);
        status = rc != KEEL_OK ? cli_registry_fail(r, rc)
                               : print_done(a.json, "{\"ok\":true}", "%s: %s", a.pos[1], text);
    } else {
        rc = keel_registry_user_remove(r, a.pos[1]);
        status = rc != KEEL_OK ? cli_registry_fail(r, rc)
                               : print_done(a.json, "{\"ok\":true}", "removed %s", a.pos[1]);
    }
    keel_buf_free(&b);
    keel_registry_close(r);
    return status;
}

/* ---- keel token ---- */

int cmd_token(int argc, char **argv)
{
    reg_args a;
    int status = parse_args(argc, argv, "token", cli_help_token, &a);
    if (status >= 0) return status;
    const char *verb = a.n_pos ? a.pos[0] : "";
    bool create = !strcmp(verb, "create") && a.n_pos == 1 && a.model && a.role;
    bool list = !strcmp(verb, "list") && a.n_pos == 1;
    int64_t expires = 0, id = 0;
    if (create && a.expires && !keel_token_expiry_parse(a.expires, keel_wall_micros(), &expires)) {
        cli_error("--expires takes 30d, 12h, 90m, 3600s or a future time, not '%s'", a.expires);
        return EXIT_USAGE;
    }
    if (!create && !list && (strcmp(verb, "revoke") || a.n_pos != 2)) {
        fputs(cli_help_token, stderr);
        return EXIT_USAGE;
    }
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    keel_buf b;
    keel_buf_init(&b);
    char token[KEEL_TOKEN_SIZE];
    int rc = create
                 ? keel_registry_token_create(r, a.name, a.model, a.role, expires, token, &id, &b)
             : list ? keel_registry_token_list(r, &b)
                    : keel_registry_token_revoke(r, a.pos[1], &b);
    if (create && rc == KEEL_OK && !a.json)
        fputs("keel: the token is shown this once; the registry keeps only its hash\n", stderr);
    status = answer(r, rc, &b, a.json, list ? keel_text_cols_tokens : NULL);
    keel_buf_free(&b);
    keel_registry_close(r);
    return status;
}

/* ---- keel registry ---- */

int cmd_registry(int argc, char **argv)
{
    reg_args a;
    int status = parse_args(argc, argv, "registry", cli_help_registry, &a);
    if (status >= 0) return status;
    bool dry_run = a.dry_run;
    if (a.n_pos != 1 || strcmp(a.pos[0], "migrate")) {
        if (a.n_pos) cli_error("unknown verb 'registry %s'", a.pos[0]);
        fputs(cli_help_registry, stderr);
        return EXIT_USAGE;
    }
    /* Opened even when this keel cannot read the old schema: migrating is what it is for. */
    keel_registry *r = cli_registry_open_flags(KEEL_REGISTRY_OPEN_STALE);
    if (!r) return EXIT_FAIL;
    int from = 0, to = 0;
    int rc = keel_registry_migrate(r, dry_run, &from, &to);
    if (rc != KEEL_OK && !(to > from)) { /* nothing applied: just the error */
        status = cli_registry_fail(r, rc);
        keel_registry_close(r);
        return status;
    }
    keel_buf b;
    keel_buf_init(&b);
    if (keel_registry_migrate_report(r, from, to, dry_run, a.json, &b) == KEEL_OK)
        fputs(b.data, stdout);
    else
        cli_error("out of memory");
    keel_buf_free(&b);
    status = rc == KEEL_OK ? EXIT_OK : cli_registry_fail(r, rc);
    keel_registry_close(r);
    return status;
}
