/*
 * registry_cli.c — what every registry command shares: where KEEL_HOME and the store are
 * (KEEL_HOME, KEEL_REGISTRY), who the user is (KEEL_USER, else the config file, else the login
 * name), and printing the registry's answers for people (tables for lists, "key: value" lines
 * for records). The library reads no environment; this file does, and passes what it found.
 *
 * The config file is a flat YAML mapping of "key: value" lines ('#' starts a comment):
 *     user: alice
 *     home: /srv/keel
 *     registry: sqlite:///srv/keel/registry.db
 *     audit_key: /secure/keel/audit.key        (KEEL_AUDIT_KEY)
 *     audit_witness: /mnt/witness/keel.jsonl   (KEEL_AUDIT_WITNESS)
 *     identity_key: /home/alice/keel.key       (KEEL_IDENTITY_KEY)
 * read from $KEEL_CONFIG, else $XDG_CONFIG_HOME/keel/config.yaml, else
 * ~/.config/keel/config.yaml. The environment wins over the file. The identity key's default
 * is identity.key beside the config file.
 */
#include "tools/registry_cli.h"

#include "pipeline/model_load.h"
#include "pipeline/train_job.h"

#include "data/schema.h"
#include "data/validate.h"
#include "model/model.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The settings: each from its environment variable, else the config file's key. */
enum {
    SET_USER,
    SET_HOME,
    SET_REGISTRY,
    SET_AUDIT_KEY,
    SET_AUDIT_WITNESS,
    SET_IDENTITY_KEY,
    N_SETTINGS
};
static const struct {
    const char *key, *env;
} settings[N_SETTINGS] = {{"user", "KEEL_USER"},
                          {"home", "KEEL_HOME"},
                          {"registry", "KEEL_REGISTRY"},
                          {"audit_key", "KEEL_AUDIT_KEY"},
                          {"audit_witness", "KEEL_AUDIT_WITNESS"},
                          {"identity_key", "KEEL_IDENTITY_KEY"}};
static char config_value[N_SETTINGS][KEEL_CONFIG_VALUE_MAX + 1];
static int config_loaded;

static int config_pair(void *ud, const char *key, const char *value)
{
    (void)ud;
    for (int k = 0; k < N_SETTINGS; k++)
        if (!strcmp(key, settings[k].key))
            snprintf(config_value[k], sizeof config_value[k], "%s", value);
    return KEEL_OK; /* other keys belong to later features: ignored, not an error */
}

/* $XDG_CONFIG_HOME/keel/NAME, else ~/.config/keel/NAME, into path; false when neither is set. */
static bool config_path(char *path, size_t cap, const char *name)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) return snprintf(path, cap, "%s/keel/%s", xdg, name) > 0;
    return home && *home && snprintf(path, cap, "%s/.config/keel/%s", home, name) > 0;
}

static void load_config(void)
{
    if (config_loaded) return;
    config_loaded = 1;
    char path[4096];
    const char *p = getenv("KEEL_CONFIG");
    if (p && *p)
        snprintf(path, sizeof path, "%s", p);
    else if (!config_path(path, sizeof path, "config.yaml"))
        return;
    keel_error e = {0};
    int rc = keel_config_load(path, config_pair, NULL, &e);
    /* No file is the usual case, unless KEEL_CONFIG named one. */
    if (rc == KEEL_ENOENT && !(p && *p)) return;
    if (rc == KEEL_ENOENT || rc == KEEL_EIO)
        cli_error("warning: %s (KEEL_CONFIG)", e.msg);
    else if (rc != KEEL_OK)
        cli_error("warning: the config file %s; ignored%s", e.msg,
                  rc == KEEL_ELIMIT ? "" : " from there on");
}

/* The environment's value, else the config file's, else NULL. */
static const char *setting(int k)
{
    const char *v = getenv(settings[k].env);
    if (v && *v) return v;
    load_config();
    return config_value[k][0] ? config_value[k] : NULL;
}

const char *cli_keel_home(void)
{
    const char *h = setting(SET_HOME);
    return h ? h : ".keel";
}

const char *cli_registry_location(void)
{
    return setting(SET_REGISTRY);
}

const char *cli_audit_key(void)
{
    return setting(SET_AUDIT_KEY);
}

const char *cli_audit_witness(void)
{
    return setting(SET_AUDIT_WITNESS);
}

const char *cli_identity_key(void)
{
    static char path[4096];
    const char *k = setting(SET_IDENTITY_KEY);
    return k ? k : config_path(path, sizeof path, "identity.key") ? path : NULL;
}

const char *cli_user(void)
{
    const char *u = setting(SET_USER);
    if (u) return u;
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
    u = getenv("USER");
    return u && *u ? u : NULL;
}

void cli_registry_options(keel_registry_options *o, unsigned flags)
{
    static char host[256];
    gethostname(host, sizeof host - 1);
    const char *user = cli_user();
    *o = (keel_registry_options){
        .home = cli_keel_home(),
        .location = cli_registry_location(),
        .actor = user ? user : "",
        .host = host,
        .flags = flags,
        .audit_key = cli_audit_key(),
        .audit_witness = cli_audit_witness(),
        .identity_key = cli_identity_key(),
    };
}

keel_registry *cli_registry_open_flags(unsigned flags)
{
    keel_registry_options o;
    cli_registry_options(&o, flags);
    keel_registry *r = NULL;
    keel_error e = {0};
    if (keel_registry_open_with(&o, &r, &e) != KEEL_OK) {
        /* Say where a location no backend opens came from: the user may not know it is set. */
        const char *env = getenv("KEEL_REGISTRY");
        if (o.location && !keel_store_backend(o.location))
            cli_error("%s: %s", env && *env ? "KEEL_REGISTRY" : "the config file's registry",
                      e.msg);
        else
            cli_error("%s", e.msg);
        return NULL;
    }
    return r;
}

keel_registry *cli_registry_open(void)
{
    return cli_registry_open_flags(0);
}

int cli_registry_fail(keel_registry *r, int rc)
{
    cli_error("%s", keel_registry_errmsg(r)[0] ? keel_registry_errmsg(r) : keel_strerror(rc));
    return rc == KEEL_EINVAL ? EXIT_USAGE : EXIT_FAIL;
}

int cli_register_dataset(keel_registry *r, const char *file, const keel_schema *s,
                         const keel_validate_result *res, const char *profile_json, int64_t *id)
{
    keel_error e;
    if (keel_job_register_dataset(r, file, s, res, profile_json, id, &e) == KEEL_OK) return EXIT_OK;
    cli_error("%s", e.msg);
    cli_error("(--no-registry skips the registry)");
    return EXIT_FAIL;
}

/* ---- answers for people ---- */

void cli_print_table(const keel_text_column *cols, size_t n_rows, keel_text_cell_fn cell, void *ud)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_text_table(cols, n_rows, cell, ud, &b) == KEEL_OK)
        fputs(b.data, stdout);
    else
        cli_error("out of memory");
    keel_buf_free(&b);
}

int cli_print_json(const keel_buf *json, bool as_json, const keel_text_column *cols)
{
    if (as_json) {
        fputs(json->data ? json->data : "null", stdout);
        fputc('\n', stdout);
        return EXIT_OK;
    }
    keel_buf b;
    keel_buf_init(&b);
    keel_error e;
    int rc = keel_text_json(json->data, json->len, cols, &b, &e);
    if (rc == KEEL_OK)
        fputs(b.data, stdout);
    else
        cli_error("cannot render the registry's answer: %s", e.msg);
    keel_buf_free(&b);
    return rc == KEEL_OK ? EXIT_OK : EXIT_FAIL;
}

int cli_load_model(const char *path, keel_model **m, keel_model_version **version)
{
    keel_error e;
    *m = NULL;
    if (version) *version = NULL;
    if (access(path, F_OK) == 0 || strchr(path, '/') || strstr(path, ".keel")) {
        int rc = keel_model_load(path, m, &e);
        if (rc) cli_error("%s: %s", path, e.msg);
        return rc ? EXIT_FAIL : EXIT_OK;
    }
    /* A registry reference: the stored artifact is loaded and checked against the version's
     * recorded SHA-256 in one step (keel_registry_version_load), so a file swapped in the
     * artifact store is refused, and the registry stays open to audit the refusal. */
    keel_registry *r = cli_registry_open();
    if (!r) return EXIT_FAIL;
    keel_model_version *stored = NULL;
    int rc = keel_registry_version_resolve(r, path, &stored);
    int status = rc == KEEL_OK ? EXIT_OK : cli_registry_fail(r, rc);
    if (status == EXIT_OK && keel_registry_version_load(r, stored, m, &e) != KEEL_OK) {
        /* A mismatch names the version itself ("churn:1: ..."): not "churn:1: churn:1: ...". */
        size_t n = strlen(path);
        if (!strncmp(e.msg, path, n) && e.msg[n] == ':')
            cli_error("%s", e.msg);
        else
            cli_error("%s: %s", path, e.msg);
        status = EXIT_FAIL;
    }
    keel_registry_close(r);
    if (status == EXIT_OK && version)
        *version = stored;
    else
        keel_model_version_free(stored);
    return status == EXIT_OK ? EXIT_OK : status == EXIT_USAGE ? EXIT_USAGE : EXIT_FAIL;
}
