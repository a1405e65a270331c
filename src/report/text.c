/*
 * text.c — answers for people on a terminal (text.h), and how the registry's listings show
 * as tables (their columns, and the cells of a model's versions from the typed records).
 */
#include "report/text.h"

#include "base/json.h"
#include "registry/registry.h"

#include <string.h>

enum { MAX_COLUMNS = 32, MAX_CELL = 40 };

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

/* Row i's cell of column c, as shown. */
static void cell_text(const keel_text_column *c, size_t i, keel_text_cell_fn cell_of, void *ud,
                      keel_buf *cell)
{
    keel_buf_reset(cell);
    cell_of(ud, i, c, cell);
    shorten_time(cell);
}

int keel_text_table(const keel_text_column *cols, size_t n_rows, keel_text_cell_fn cell_of,
                    void *ud, keel_buf *b)
{
    keel_buf_mark mark = keel_buf_begin(b);
    size_t n_cols = 0, width[MAX_COLUMNS] = {0};
    while (cols[n_cols].key && n_cols < MAX_COLUMNS)
        n_cols++;
    keel_buf cell;
    keel_buf_init(&cell);
    for (size_t c = 0; c < n_cols; c++) {
        width[c] = strlen(cols[c].header);
        for (size_t i = 0; i < n_rows; i++) {
            cell_text(&cols[c], i, cell_of, ud, &cell);
            size_t w = KEEL_MIN(cell.len, (size_t)MAX_CELL);
            if (w > width[c]) width[c] = w;
        }
    }
    /* the last column is not padded: no trailing blanks */
    for (size_t c = 0; c < n_cols; c++)
        keel_buf_printf(b, "%-*s%s", c + 1 < n_cols ? (int)width[c] : 0, cols[c].header,
                        c + 1 < n_cols ? "  " : "\n");
    for (size_t i = 0; i < n_rows; i++)
        for (size_t c = 0; c < n_cols; c++) {
            cell_text(&cols[c], i, cell_of, ud, &cell);
            if (cell.len > MAX_CELL) {
                cell.len = MAX_CELL - 3;
                keel_buf_puts(&cell, "...");
            }
            keel_buf_printf(b, "%-*s%s", c + 1 < n_cols ? (int)width[c] : 0,
                            cell.data ? cell.data : "", c + 1 < n_cols ? "  " : "\n");
        }
    if (n_rows == 0) keel_buf_puts(b, "(none)\n");
    bool failed = cell.failed;
    keel_buf_free(&cell);
    return keel_buf_end_rc(b, mark, failed ? KEEL_ENOMEM : KEEL_OK);
}

/* A cell of a JSON array's table: row i's member col->key. */
static void json_cell(void *ud, size_t row, const keel_text_column *col, keel_buf *cell)
{
    value_text(cell, keel_json_get(keel_json_at(ud, row), col->key));
}

int keel_text_json(const char *json, size_t n, const keel_text_column *cols, keel_buf *b,
                   keel_error *e)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = keel_json_parse(d, json ? json : "", n, e);
    if (rc != KEEL_OK) {
        keel_json_doc_free(d);
        return rc;
    }
    keel_buf_mark mark = keel_buf_begin(b);
    const keel_json *root = keel_json_root(d);
    if (root->type == KEEL_JSON_ARRAY && cols) {
        rc = keel_text_table(cols, keel_json_len(root), json_cell, (void *)root, b);
    } else if (root->type == KEEL_JSON_OBJECT) {
        for (size_t i = 0; i < root->u.object.n; i++) {
            const keel_json_member *m = &root->u.object.members[i];
            keel_buf_printf(b, "%s: ", m->key);
            value_text(b, &m->value);
            keel_buf_putc(b, '\n');
        }
    } else {
        keel_json_write(root, b);
        keel_buf_putc(b, '\n');
    }
    keel_json_doc_free(d);
    rc = keel_buf_end_rc(b, mark, rc);
    if (rc == KEEL_ENOMEM) keel_error_set(e, rc, "out of memory");
    return rc;
}

/* ---- the registry's listings ---- */

const keel_text_column keel_text_cols_models[] = {
    {"name", "NAME"},          {"latest", "LATEST"},
    {"aliases", "ALIASES"},    {"created_by", "CREATED BY"},
    {"created_at", "CREATED"}, {NULL, NULL}};
const keel_text_column keel_text_cols_versions[] = {
    {"version", "VERSION"},         {"author", "AUTHOR"}, {"created_at", "CREATED"},
    {"aliases", "ALIASES"},         {"run_id", "RUN"},    {"task", "TASK"},
    {"artifact_sha256", "SHA-256"}, {NULL, NULL}};
const keel_text_column keel_text_cols_history[] = {
    {"time", "TIME"},     {"event", "EVENT"}, {"version", "VERSION"}, {"alias", "ALIAS"},
    {"target", "TARGET"}, {"actor", "BY"},    {"comment", "COMMENT"}, {NULL, NULL}};
const keel_text_column keel_text_cols_runs[] = {{"id", "RUN"},
                                                {"kind", "KIND"},
                                                {"status", "STATUS"},
                                                {"user", "USER"},
                                                {"started_at", "STARTED"},
                                                {"datasets", "DATASETS"},
                                                {"metrics", "METRICS"},
                                                {NULL, NULL}};
const keel_text_column keel_text_cols_datasets[] = {
    {"id", "ID"},          {"name", "NAME"},
    {"n_rows", "ROWS"},    {"n_rejected", "REJECTED"},
    {"created_by", "BY"},  {"created_at", "REGISTERED"},
    {"sha256", "SHA-256"}, {NULL, NULL}};
const keel_text_column keel_text_cols_users[] = {
    {"name", "NAME"},           {"roles", "ROLES"},      {"authenticated", "AUTHENTICATED"},
    {"created_by", "ADDED BY"}, {"created_at", "ADDED"}, {NULL, NULL}};
const keel_text_column keel_text_cols_tokens[] = {
    {"id", "ID"},         {"name", "NAME"},          {"model", "MODEL"},
    {"role", "ROLE"},     {"status", "STATUS"},      {"created_at", "CREATED"},
    {"created_by", "BY"}, {"expires_at", "EXPIRES"}, {"revoked_at", "REVOKED"},
    {NULL, NULL}};

void keel_text_version_cell(void *ud, size_t row, const keel_text_column *col, keel_buf *cell)
{
    const keel_model_version *v = ((const keel_model_versions *)ud)->v[row];
    const char *k = col->key;
    if (!strcmp(k, "version")) {
        keel_buf_printf(cell, "%lld", (long long)v->version);
    } else if (!strcmp(k, "author")) {
        keel_buf_puts(cell, v->author);
    } else if (!strcmp(k, "created_at")) {
        char iso[40];
        keel_format_timestamp(v->created, iso);
        keel_buf_puts(cell, iso);
    } else if (!strcmp(k, "aliases")) {
        keel_buf_putc(cell, '[');
        for (size_t i = 0; i < v->n_aliases; i++) {
            if (i) keel_buf_putc(cell, ',');
            keel_buf_json_str(cell, v->aliases[i], strlen(v->aliases[i]));
        }
        keel_buf_putc(cell, ']');
    } else if (!strcmp(k, "run_id") && v->run) {
        keel_buf_printf(cell, "%lld", (long long)v->run);
    } else if (!strcmp(k, "task") && v->task) {
        keel_buf_puts(cell, v->task);
    } else if (!strcmp(k, "artifact_sha256")) {
        keel_buf_puts(cell, v->sha256);
    } else {
        keel_buf_puts(cell, "-");
    }
}
