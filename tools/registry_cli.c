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
 * read from $KEEL_CONFIG, else $XDG_CONFIG_HOME/keel/config.yaml, else
 * ~/.config/keel/config.yaml. The environment wins over the file.
 */
#include "tools/registry_cli.h"

#include "pipeline/train_job.h"

#include "base/json.h"
#include "data/schema.h"
#include "data/validate.h"
#include "model/model.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char config_user[256], config_home[4096], config_registry[4096];
static int config_loaded;

static int config_pair(void *ud, const char *key, const char *value)
{
    (void)ud;
    if (!strcmp(key, "user")) snprintf(config_user, sizeof config_user, "%s", value);
    if (!strcmp(key, "home")) snprintf(config_home, sizeof config_home, "%s", value);
    if (!strcmp(key, "registry")) snprintf(config_registry, sizeof config_registry, "%s", value);
    return KEEL_OK; /* other keys belong to later features: ignored, not an error */
}

static void load_config(void)
{
    if (config_loaded) return;
    config_loaded = 1;
    char path[4096];
    const char *p = getenv("KEEL_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (p && *p)
        snprintf(path, sizeof path, "%s", p);
    else if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/keel/config.yaml", xdg);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.config/keel/config.yaml", home);
    else
        return;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (p && *p) cli_error("warning: cannot read the config file %s (KEEL_CONFIG)", path);
        return;
    }
    char text[65536];
    size_t n = fread(text, 1, sizeof text, f);
    bool too_long = n == sizeof text;
    fclose(f);
    keel_error e = {0};
    if (too_long)
        cli_error("warning: the config file %s is over 64 KiB; ignored", path);
    else if (keel_config_parse(text, n, config_pair, NULL, &e) != KEEL_OK)
        cli_error("warning: the config file %s: %s; ignored from there on", path, e.msg);
}

const char *cli_keel_home(void)
{
    const char *h = getenv("KEEL_HOME");
    if (h && *h) return h;
    load_config();
    return config_home[0] ? config_home : ".keel";
}

const char *cli_registry_location(void)
{
    const char *l = getenv("KEEL_REGISTRY");
    if (l && *l) return l;
    load_config();
    return config_registry[0] ? config_registry : NULL;
}

const char *cli_user(void)
{
    const char *u = getenv("KEEL_USER");
    if (u && *u) return u;
    load_config();
    if (config_user[0]) return config_user;
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
    u = getenv("USER");
    return u && *u ? u : NULL;
}

keel_registry *cli_registry_open_flags(unsigned flags)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *user = cli_user();
    keel_registry_options o = {
        .home = cli_keel_home(),
        .location = cli_registry_location(),
        .actor = user ? user : "",
        .host = host,
        .flags = flags,
    };
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

/* ---- JSON for people ---- */

/* A value as people read it: strings bare, null as "-", the rest as compact JSON. */
static void value_text(keel_buf *b, const keel_json *v)
{
    if (!v || v->type == KEEL_JSON_NULL)
        keel_buf_puts(b, "-");
    else if (v->type == KEEL_JSON_STRING)
        keel_buf_append(b, v->u.string.s, v->u.string.len);
    else
        keel_json_write(v, b);
}

/* In a table, "2026-11-24T10:00:00.123456Z" reads better to the second. */
static void shorten_time(keel_buf *cell)
{
    if (cell->len == 27 && cell->data[10] == 'T' && cell->data[19] == '.' &&
        cell->data[26] == 'Z') {
        cell->data[19] = 'Z';
        cell->data[20] = '\0';
        cell->len = 20;
    }
}

/* Appends the table of n_rows rows of cols to b: column widths from the widest cell, long
 * cells cut at 40 characters, times to the second. */
static void table(keel_buf *b, const cli_column *cols, size_t n_rows, cli_cell_fn cell_of, void *ud)
{
    size_t n_cols = 0;
    while (cols[n_cols].key)
        n_cols++;
    size_t width[32] = {0};
    keel_buf cell;
    keel_buf_init(&cell);
    for (size_t c = 0; c < n_cols && c < 32; c++) {
        width[c] = strlen(cols[c].header);
        for (size_t i = 0; i < n_rows; i++) {
            keel_buf_reset(&cell);
            cell_of(ud, i, &cols[c], &cell);
            shorten_time(&cell);
            size_t w = cell.len > 40 ? 40 : cell.len;
            if (w > width[c]) width[c] = w;
        }
    }
    for (size_t c = 0; c < n_cols && c < 32; c++)
        keel_buf_printf(b, "%-*s%s", c + 1 < n_cols ? (int)width[c] : 0, cols[c].header,
                        c + 1 < n_cols ? "  " : "\n");
    for (size_t i = 0; i < n_rows; i++)
        for (size_t c = 0; c < n_cols && c < 32; c++) {
            keel_buf_reset(&cell);
            cell_of(ud, i, &cols[c], &cell);
            shorten_time(&cell);
            if (cell.len > 40) {
                cell.len = 37;
                keel_buf_puts(&cell, "...");
            }
            keel_buf_printf(b, "%-*s%s", c + 1 < n_cols ? (int)width[c] : 0,
                            cell.data ? cell.data : "", c + 1 < n_cols ? "  " : "\n");
        }
    if (n_rows == 0) keel_buf_puts(b, "(none)\n");
    keel_buf_free(&cell);
}

void cli_print_table(const cli_column *cols, size_t n_rows, cli_cell_fn cell, void *ud)
{
    keel_buf b;
    keel_buf_init(&b);
    table(&b, cols, n_rows, cell, ud);
    if (b.data) fputs(b.data, stdout);
    keel_buf_free(&b);
}

/* A cell of a JSON array's table: row i's member col->key. */
static void json_cell(void *ud, size_t row, const cli_column *col, keel_buf *cell)
{
    value_text(cell, keel_json_get(keel_json_at(ud, row), col->key));
}

int cli_print_json(const keel_buf *json, bool as_json, const cli_column *cols)
{
    if (as_json) {
        fputs(json->data ? json->data : "null", stdout);
        fputc('\n', stdout);
        return EXIT_OK;
    }
    keel_json_doc *d = keel_json_doc_new();
    keel_error e = {0};
    if (!d || keel_json_parse(d, json->data, json->len, &e) != KEEL_OK) {
        cli_error("cannot render the registry's answer: %s", e.msg);
        keel_json_doc_free(d);
        return EXIT_FAIL;
    }
    const keel_json *root = keel_json_root(d);
    keel_buf b;
    keel_buf_init(&b);
    if (root->type == KEEL_JSON_ARRAY && cols) {
        table(&b, cols, keel_json_len(root), json_cell, (void *)root);
    } else if (root->type == KEEL_JSON_OBJECT) {
        for (size_t i = 0; i < root->u.object.n; i++) {
            const keel_json_member *m = &root->u.object.members[i];
            keel_buf_printf(&b, "%s: ", m->key);
            value_text(&b, &m->value);
            keel_buf_putc(&b, '\n');
        }
    } else {
        keel_json_write(root, &b);
        keel_buf_putc(&b, '\n');
    }
    if (b.data) fputs(b.data, stdout);
    keel_buf_free(&b);
    keel_json_doc_free(d);
    return EXIT_OK;
}

int cli_load_model(const char *path, keel_model **m, keel_model_version **version)
{
    keel_error e;
    keel_model_version *stored = NULL;
    *m = NULL;
    if (version) *version = NULL;
    if (access(path, F_OK) != 0 && !strchr(path, '/') && !strstr(path, ".keel")) {
        keel_registry *r = cli_registry_open();
        if (!r) return EXIT_FAIL;
        int rc = keel_registry_version_resolve(r, path, &stored);
        int status = rc == KEEL_OK ? EXIT_OK : cli_registry_fail(r, rc);
        keel_registry_close(r);
        if (status != EXIT_OK) return status == EXIT_USAGE ? EXIT_USAGE : EXIT_FAIL;
    }
    int rc = keel_model_load(stored ? stored->path : path, m, &e);
    if (rc) cli_error("%s: %s", path, e.msg);
    if (version && !rc)
        *version = stored;
    else
        keel_model_version_free(stored);
    return rc ? EXIT_FAIL : EXIT_OK;
}
