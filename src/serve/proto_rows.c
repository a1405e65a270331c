/*
 * proto_rows.c — the row-oriented request formats: KServe v1 / TF-Serving ({"instances":
 * [{column: value}, ...]} or "inputs") and the MLflow scoring server (dataframe_split,
 * dataframe_records, instances, inputs, or a text/csv body). JSON bodies are parsed by keel's
 * strict parser (base/json.c) into one document, kept in the batch's arena; a CSV body is
 * read by keel's CSV reader (data/csv.c) from memory. The batch, its arena and the error
 * messages are proto_batch.c's.
 *
 * Two passes. These formats learn a column's type from its values: all numbers give F64, all
 * booleans BOOL, anything else TEXT, where a number keeps the text it was written with. The
 * first pass finds the columns (the name table), checks every value's JSON type and counts
 * them; then each column's arrays are allocated once, at their final size; the second pass
 * copies.
 *
 * Bounds: SERVE_MAX_ROWS rows and SERVE_MAX_COLS columns per request, and rows x columns at
 * most max_cells (CELLS_FREE plus one per byte of body, and never over MAX_CELLS), which
 * matters here: a short body (many {} rows plus one row with many keys) would otherwise ask
 * for rows x columns memory, thousands of times its size. The HTTP layer bounds the body's size,
 * which bounds everything else (JSON nesting is bounded by the parser).
 */
#include "serve/proto_impl.h"

#include "data/csv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- columns under construction: the two passes ----------------------------------------- */

/* First pass: v may be a scalar (or null) only; notes its kind. */
static int cell_check(ctx *c, colb *col, const keel_json *v)
{
    switch (v->type) {
    case KEEL_JSON_NULL:
        return KEEL_OK;
    case KEEL_JSON_BOOL:
        col->seen |= SEEN_BOOL;
        break;
    case KEEL_JSON_NUMBER:
        col->seen |= SEEN_NUMBER;
        break;
    case KEEL_JSON_STRING:
        if (memchr(v->u.string.s, '\0', v->u.string.len))
            return proto_bad(c, "a string must not contain a NUL character");
        col->seen |= SEEN_STRING;
        break;
    default:
        return proto_bad(c, "expected a number, string, boolean or null, got %s",
                         keel_json_describe(v).s);
    }
    col->present++;
    return KEEL_OK;
}

/* Between the passes: each column's type and arrays for n rows. */
static int columns_alloc(ctx *c, table *t, size_t n)
{
    size_t most = max_cells(c);
    if (n && t->n > most / n)
        return proto_too_many(c,
                              "at most %zu values (rows x columns) in a body of %zu bytes; this "
                              "one has %zu rows and %zu columns (rows that leave keys out still "
                              "hold a value for each: send fewer rows per request)",
                              most, c->body_len, n, t->n);
    for (size_t j = 0; j < t->n; j++) {
        colb *col = &t->cols[j];
        size_t size;
        if (col->seen == SEEN_NUMBER)
            col->type = KEEL_COL_F64, size = sizeof(double);
        else if (col->seen == SEEN_BOOL)
            col->type = KEEL_COL_BOOL, size = 1;
        else
            col->type = KEEL_COL_TEXT, size = sizeof(const char *);
        col->data = arena_zalloc(c->a, n, size); /* NULL strings, false */
        if (!col->data) return proto_oom(c);
        if (col->type == KEEL_COL_F64)
            for (size_t r = 0; r < n; r++)
                ((double *)col->data)[r] = NAN;
        if (col->present < n) {
            col->missing = proto_arena_alloc(c->a, n);
            if (!col->missing) return proto_oom(c);
            memset(col->missing, 1, n);
        }
    }
    return KEEL_OK;
}

/* Second pass: stores v (checked by cell_check) as row r of col. */
static int cell_fill(ctx *c, colb *col, size_t r, const keel_json *v)
{
    if (v->type == KEEL_JSON_NULL) return KEEL_OK; /* missing: set so by columns_alloc */
    switch (col->type) {
    case KEEL_COL_F64:
        if (!isfinite(v->u.number.value))
            return proto_bad(c, "the number %s is out of range", keel_json_describe(v).s);
        ((double *)col->data)[r] = v->u.number.value;
        break;
    case KEEL_COL_BOOL:
        ((unsigned char *)col->data)[r] = v->u.boolean;
        break;
    default: {
        const char *s = v->type == KEEL_JSON_STRING   ? v->u.string.s
                        : v->type == KEEL_JSON_NUMBER ? v->u.number.text /* as written */
                        : v->u.boolean                ? "true"
                                                      : "false";
        ((const char **)col->data)[r] = s;
    }
    }
    if (col->missing) col->missing[r] = 0;
    return KEEL_OK;
}

/* The finished columns become the batch's. */
static int columns_finish(ctx *c, table *t, size_t n, serve_batch *nb)
{
    nb->cols = arena_zalloc(c->a, t->n, sizeof *nb->cols);
    if (!nb->cols) return proto_oom(c);
    for (size_t j = 0; j < t->n; j++)
        nb->cols[j] = (keel_input_column){t->cols[j].name, t->cols[j].type, t->cols[j].data,
                                          t->cols[j].missing};
    nb->n_cols = t->n;
    nb->n_rows = n;
    return KEEL_OK;
}

/* ---- row formats: records, split, columnar ---------------------------------------------- */

static int not_a_record(ctx *c, const keel_json *row)
{
    if (row->type == KEEL_JSON_ARRAY)
        return proto_bad(c,
                         "expected an object of column values ({\"column\": value, ...}), got an "
                         "array: rows given as lists carry no column names%s",
                         c->mlflow ? " (send records, or dataframe_split with \"columns\")" : "");
    return proto_bad(c, "expected an object of column values ({\"column\": value, ...}), got %s",
                     keel_json_describe(row).s);
}

/* rows (at the current path) is an array of objects, one per row; a key a row lacks is
 * missing there. */
static int build_records(ctx *c, const keel_json *rows, serve_batch *nb)
{
    size_t n = rows->u.array.n;
    if (n > SERVE_MAX_ROWS) return proto_too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
    table t = {0};
    int rc;
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &rows->u.array.items[r];
        size_t at = proto_path_index(c, r);
        if (row->type != KEEL_JSON_OBJECT) return not_a_record(c, row);
        for (size_t i = 0; i < row->u.object.n; i++) {
            const keel_json_member *m = &row->u.object.members[i];
            size_t at2 = proto_path_key(c, m->key, m->key_len);
            size_t j = table_find(&t, m->key, m->key_len);
            if (j == SIZE_MAX) {
                if ((rc = check_name(c, m->key, m->key_len)) != KEEL_OK) return rc;
                if ((rc = proto_table_add(c, &t, m->key, m->key_len, &j)) != KEEL_OK) return rc;
            }
            colb *col = &t.cols[j];
            if (col->last_row == r + 1) return proto_bad(c, "given twice in one row");
            col->last_row = r + 1;
            if ((rc = cell_check(c, col, &m->value)) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &rows->u.array.items[r];
        size_t at = proto_path_index(c, r);
        for (size_t i = 0; i < row->u.object.n; i++) {
            const keel_json_member *m = &row->u.object.members[i];
            size_t at2 = proto_path_key(c, m->key, m->key_len);
            colb *col = &t.cols[table_find(&t, m->key, m->key_len)];
            if ((rc = cell_fill(c, col, r, &m->value)) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    return columns_finish(c, &t, n, nb);
}

/* obj (at the current path) maps each column name to a list of its values, one per row. */
static int build_columnar(ctx *c, const keel_json *obj, serve_batch *nb)
{
    table t = {0};
    size_t n = 0;
    int rc;
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        size_t at = proto_path_key(c, m->key, m->key_len);
        if ((rc = check_name(c, m->key, m->key_len)) != KEEL_OK) return rc;
        size_t j = table_find(&t, m->key, m->key_len);
        if (j != SIZE_MAX) return proto_bad(c, "column given twice");
        if ((rc = proto_table_add(c, &t, m->key, m->key_len, &j)) != KEEL_OK) return rc;
        const keel_json *vals = &m->value;
        if (vals->type != KEEL_JSON_ARRAY)
            return proto_bad(c, "expected a list of values (one per row), got %s",
                             keel_json_describe(vals).s);
        if (i == 0) {
            n = vals->u.array.n;
            if (n > SERVE_MAX_ROWS)
                return proto_too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
        } else if (vals->u.array.n != n) {
            char first[96] = "";
            keel_quote_into(first, sizeof first, obj->u.object.members[0].key,
                            obj->u.object.members[0].key_len, 40);
            return proto_bad(c,
                             "%zu values, but column %s has %zu: every column needs one value per "
                             "row",
                             vals->u.array.n, first, n);
        }
        for (size_t r = 0; r < n; r++) {
            size_t at2 = proto_path_index(c, r);
            if ((rc = cell_check(c, &t.cols[j], &vals->u.array.items[r])) != KEEL_OK) return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    for (size_t j = 0; j < t.n; j++) {
        const keel_json_member *m = &obj->u.object.members[j];
        size_t at = proto_path_key(c, m->key, m->key_len);
        for (size_t r = 0; r < n; r++) {
            size_t at2 = proto_path_index(c, r);
            if ((rc = cell_fill(c, &t.cols[j], r, &m->value.u.array.items[r])) != KEEL_OK)
                return rc;
            path_pop(c, at2);
        }
        path_pop(c, at);
    }
    return columns_finish(c, &t, n, nb);
}

/* MLflow's dataframe_split (pandas orient="split"): {"columns": [...], "data": [[...]],
 * "index": [...]?}; obj at the current path. */
static int build_split(ctx *c, const keel_json *obj, serve_batch *nb)
{
    const keel_json *cols = NULL, *data = NULL, *index = NULL;
    int rc;
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const keel_json_member *m = &obj->u.object.members[i];
        const keel_json **slot = strcmp(m->key, "columns") == 0 ? &cols
                                 : strcmp(m->key, "data") == 0  ? &data
                                 : strcmp(m->key, "index") == 0 ? &index
                                                                : NULL;
        size_t at = proto_path_key(c, m->key, m->key_len);
        if (!slot || m->key_len != strlen(m->key))
            return proto_bad(c, "unexpected key (dataframe_split has \"columns\", \"data\" and "
                                "optionally \"index\")");
        if (*slot) return proto_bad(c, "given twice");
        *slot = &m->value;
        path_pop(c, at);
    }
    if (!cols) return proto_bad(c, "\"columns\" is required: the list of column names");
    if (!data) return proto_bad(c, "\"data\" is required: a list of rows, each a list of values");
    size_t at = proto_path_key(c, "columns", 7);
    if (cols->type != KEEL_JSON_ARRAY)
        return proto_bad(c, "expected a list of column names, got %s", keel_json_describe(cols).s);
    table t = {0};
    for (size_t j = 0; j < cols->u.array.n; j++) {
        const keel_json *name = &cols->u.array.items[j];
        size_t at2 = proto_path_index(c, j);
        if (name->type != KEEL_JSON_STRING)
            return proto_bad(c, "expected a column name (a string), got %s",
                             keel_json_describe(name).s);
        if ((rc = check_name(c, name->u.string.s, name->u.string.len)) != KEEL_OK) return rc;
        size_t k = table_find(&t, name->u.string.s, name->u.string.len);
        if (k != SIZE_MAX) return proto_bad(c, "column %s given twice", keel_json_describe(name).s);
        if ((rc = proto_table_add(c, &t, name->u.string.s, name->u.string.len, &k)) != KEEL_OK)
            return rc;
        path_pop(c, at2);
    }
    path_pop(c, at);
    at = proto_path_key(c, "data", 4);
    if (data->type != KEEL_JSON_ARRAY)
        return proto_bad(c, "expected a list of rows, got %s", keel_json_describe(data).s);
    size_t n = data->u.array.n;
    if (n > SERVE_MAX_ROWS) return proto_too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &data->u.array.items[r];
        size_t at2 = proto_path_index(c, r);
        if (row->type != KEEL_JSON_ARRAY)
            return proto_bad(c, "expected a row (a list of values, one per column), got %s",
                             keel_json_describe(row).s);
        if (row->u.array.n != t.n)
            return proto_bad(c, "%zu values, but there are %zu columns", row->u.array.n, t.n);
        for (size_t j = 0; j < t.n; j++) {
            size_t at3 = proto_path_index(c, j);
            if ((rc = cell_check(c, &t.cols[j], &row->u.array.items[j])) != KEEL_OK) return rc;
            path_pop(c, at3);
        }
        path_pop(c, at2);
    }
    path_pop(c, at);
    if (index) {
        at = proto_path_key(c, "index", 5);
        if (index->type != KEEL_JSON_ARRAY)
            return proto_bad(c, "expected a list of row labels, got %s",
                             keel_json_describe(index).s);
        if (index->u.array.n != n)
            return proto_bad(c, "%zu labels, but \"data\" has %zu rows", index->u.array.n, n);
        path_pop(c, at);
    }
    if ((rc = columns_alloc(c, &t, n)) != KEEL_OK) return rc;
    at = proto_path_key(c, "data", 4);
    for (size_t r = 0; r < n; r++) {
        const keel_json *row = &data->u.array.items[r];
        size_t at2 = proto_path_index(c, r);
        for (size_t j = 0; j < t.n; j++) {
            size_t at3 = proto_path_index(c, j);
            if ((rc = cell_fill(c, &t.cols[j], r, &row->u.array.items[j])) != KEEL_OK) return rc;
            path_pop(c, at3);
        }
        path_pop(c, at2);
    }
    path_pop(c, at);
    return columns_finish(c, &t, n, nb);
}

/* ---- KServe v1 / TF-Serving ------------------------------------------------------------- */

/* "instances" or "inputs" (key, at the current path): records, or for "inputs" also a map
 * of column -> values. */
static int build_rows(ctx *c, const char *key, const keel_json *v, serve_batch *nb)
{
    size_t at = proto_path_key(c, key, strlen(key));
    int rc;
    if (v->type == KEEL_JSON_ARRAY)
        rc = build_records(c, v, nb);
    else if (v->type == KEEL_JSON_OBJECT && strcmp(key, "inputs") == 0)
        rc = build_columnar(c, v, nb);
    else if (strcmp(key, "inputs") == 0)
        rc = proto_bad(
            c,
            "expected a list of rows ([{\"column\": value, ...}]) or an object of columns "
            "({\"column\": [values]}), got %s",
            keel_json_describe(v).s);
    else
        rc = proto_bad(c, "expected a list of rows ([{\"column\": value, ...}]), got %s",
                       keel_json_describe(v).s);
    if (rc == KEEL_OK) path_pop(c, at);
    return rc;
}

int serve_parse_v1(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    int rc = proto_begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root, *instances, *inputs;
    if (rc || (rc = proto_parse_json(&c, body, n, &root))) goto fail;
    if (root->type != KEEL_JSON_OBJECT) {
        rc = proto_bad(&c, "the body must be a JSON object ({\"instances\": [...]}), got %s",
                       keel_json_describe(root).s);
        goto fail;
    }
    if ((rc = proto_member(&c, root, "instances", &instances)) ||
        (rc = proto_member(&c, root, "inputs", &inputs)))
        goto fail;
    if (instances && inputs) {
        rc = proto_bad(&c, "give \"instances\" or \"inputs\", not both");
        goto fail;
    }
    if (!instances && !inputs) {
        rc = proto_bad(&c,
                       "\"instances\" is required: a list of rows, each an object of column values "
                       "({\"instances\": [{\"column\": value, ...}]})");
        goto fail;
    }
    rc = instances ? build_rows(&c, "instances", instances, &nb)
                   : build_rows(&c, "inputs", inputs, &nb);
    if (rc) goto fail;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}

/* ---- MLflow scoring server -------------------------------------------------------------- */

static bool token_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t'))
        (*p)++, (*n)--;
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* Content-Type: application/json or text/csv (case-insensitive), parameters charset=utf-8
 * only, as MLflow's scoring server accepts. *csv tells which. */
static int content_type(ctx *c, const char *ct, bool *csv)
{
    *csv = false;
    if (!ct) return KEEL_OK;
    const char *semi = strchr(ct, ';'), *p = ct;
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    trim(&p, &n);
    char shown[96] = "";
    if (token_is(p, n, "text/csv"))
        *csv = true;
    else if (!token_is(p, n, "application/json")) {
        keel_quote_into(shown, sizeof shown, ct, strlen(ct), 60);
        return proto_unsupported(c,
                                 "unsupported Content-Type %s: /invocations accepts "
                                 "application/json and text/csv",
                                 shown);
    }
    while (semi) {
        p = semi + 1;
        semi = strchr(p, ';');
        n = semi ? (size_t)(semi - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        const char *name = p, *val = eq ? eq + 1 : p + n;
        size_t nn = eq ? (size_t)(eq - p) : n, vn = (size_t)(p + n - val);
        trim(&name, &nn);
        trim(&val, &vn);
        if (nn == 0 && vn == 0) continue; /* "application/json;" */
        if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') val++, vn -= 2;
        if (!token_is(name, nn, "charset")) {
            keel_quote_into(shown, sizeof shown, name, nn, 40);
            return proto_unsupported(c,
                                     "unsupported Content-Type parameter %s (only charset=utf-8 is "
                                     "accepted)",
                                     shown);
        }
        if (!token_is(val, vn, "utf-8")) {
            keel_quote_into(shown, sizeof shown, val, vn, 40);
            return proto_unsupported(
                c, "unsupported charset %s: the scoring server reads UTF-8 only", shown);
        }
    }
    return KEEL_OK;
}

/* CSV field k of rec: no NUL bytes, valid UTF-8. */
static int csv_field_ok(ctx *c, const keel_record *rec, size_t k)
{
    const keel_field *f = &rec->fields[k];
    const char *why = memchr(f->p, '\0', f->len)       ? "a NUL byte"
                      : !keel_utf8_valid(f->p, f->len) ? "bytes that are not UTF-8"
                                                       : NULL;
    if (!why) return KEEL_OK;
    uint64_t line, col;
    keel_record_position(rec, f->raw_off, &line, &col);
    return proto_bad(c, "line %llu, column %llu: field %zu holds %s", (unsigned long long)line,
                     (unsigned long long)col, k + 1, why);
}

static int csv_record_ok(ctx *c, const keel_record *rec)
{
    if (rec->problem == KEEL_RECORD_OK) return KEEL_OK;
    uint64_t line, col;
    keel_record_position(rec, rec->problem_off, &line, &col);
    const char *why = rec->problem == KEEL_RECORD_UNTERMINATED_QUOTE ? "a quoted field never ends"
                      : rec->problem == KEEL_RECORD_BAD_QUOTE
                          ? "text after a closing quote (write a quote inside a quoted field as "
                            "\"\")"
                          : "the record is too long";
    return proto_bad(c, "line %llu, column %llu: %s", (unsigned long long)line,
                     (unsigned long long)col, why);
}

/* text/csv: a header row naming the columns, then one row per record (RFC 4180). Values are
 * text; an empty unquoted field is missing, "" is the empty string. A row may have fewer
 * fields than the header (the rest are missing), not more. */
static int parse_csv(ctx *c, const char *body, size_t n, serve_batch *nb)
{
    keel_csv_options o;
    keel_csv_options_init(&o);
    o.max_record_bytes = KEEL_MAX(o.max_record_bytes, n + 16);
    keel_csv *r = NULL;
    keel_error e;
    const char **cells = NULL; /* row-major; keel_malloc'd scratch */
    size_t n_cells = 0, cap_cells = 0, rows = 0;
    table t = {0};
    keel_record rec;
    c->body_len = n;
    int rc = keel_csv_open_mem(body ? body : "", body ? n : 0, &o, &r, &e);
    if (rc) {
        rc = rc == KEEL_ENOMEM ? proto_oom(c) : proto_bad(c, "text/csv: %s", e.msg);
        goto done;
    }
    int got = keel_csv_next(r, &rec);
    if (got < 0) {
        rc = got == KEEL_ENOMEM ? proto_oom(c) : proto_bad(c, "text/csv: %s", keel_csv_errmsg(r));
        goto done;
    }
    if (got == 0) {
        rc = proto_bad(c, "text/csv: the body is empty; the first line must name the columns");
        goto done;
    }
    if ((rc = csv_record_ok(c, &rec)) != KEEL_OK) goto done;
    for (size_t k = 0; k < rec.n_fields; k++) {
        const keel_field *f = &rec.fields[k];
        if ((rc = csv_field_ok(c, &rec, k)) != KEEL_OK) goto done;
        char shown[96] = "";
        keel_quote_into(shown, sizeof shown, f->p, f->len, 40);
        if (f->len == 0) {
            rc = proto_bad(c, "line %llu: column %zu of the header has no name",
                           (unsigned long long)rec.line, k + 1);
            goto done;
        }
        if (table_find(&t, f->p, f->len) != SIZE_MAX) {
            rc = proto_bad(c, "line %llu: column %s is named twice in the header",
                           (unsigned long long)rec.line, shown);
            goto done;
        }
        char *name = arena_strndup(c->a, f->p, f->len);
        size_t j;
        if (!name) {
            rc = proto_oom(c);
            goto done;
        }
        if ((rc = proto_table_add(c, &t, name, f->len, &j)) != KEEL_OK) goto done;
    }
    while ((got = keel_csv_next(r, &rec)) == 1) {
        if ((rc = csv_record_ok(c, &rec)) != KEEL_OK) goto done;
        if (rec.n_fields > t.n) {
            rc = proto_bad(c, "line %llu: %zu fields, but the header names %zu columns",
                           (unsigned long long)rec.line, rec.n_fields, t.n);
            goto done;
        }
        if (rows == SERVE_MAX_ROWS) {
            rc = proto_too_many(c, "at most %d rows per request", SERVE_MAX_ROWS);
            goto done;
        }
        if (n_cells + t.n > max_cells(c)) {
            rc = proto_too_many(c, "at most %zu values (rows x columns) in a body of %zu bytes",
                                max_cells(c), c->body_len);
            goto done;
        }
        if (n_cells + t.n > cap_cells) {
            size_t cap = KEEL_MAX(cap_cells * 2, KEEL_MAX(t.n, 64));
            const char **grown = keel_reallocarray(cells, cap, sizeof *cells);
            if (!grown) {
                rc = proto_oom(c);
                goto done;
            }
            cells = grown;
            cap_cells = cap;
        }
        for (size_t k = 0; k < t.n; k++) {
            const keel_field *f = k < rec.n_fields ? &rec.fields[k] : NULL;
            const char *v = NULL;
            if (f && (f->len || f->quoted)) {
                if ((rc = csv_field_ok(c, &rec, k)) != KEEL_OK) goto done;
                if (!(v = arena_strndup(c->a, f->p, f->len))) {
                    rc = proto_oom(c);
                    goto done;
                }
            }
            cells[n_cells + k] = v;
            t.cols[k].present += v != NULL;
        }
        n_cells += t.n;
        rows++;
    }
    if (got < 0) {
        rc = got == KEEL_ENOMEM ? proto_oom(c) : proto_bad(c, "text/csv: %s", keel_csv_errmsg(r));
        goto done;
    }
    /* Columns from the row-major cells. */
    for (size_t k = 0; k < t.n; k++) {
        colb *col = &t.cols[k];
        bool any_missing = col->present < rows;
        col->type = KEEL_COL_TEXT;
        const char **vals = arena_zalloc(c->a, rows, sizeof *vals);
        if (!vals || (any_missing && !(col->missing = arena_zalloc(c->a, rows, 1)))) {
            rc = proto_oom(c);
            goto done;
        }
        for (size_t i = 0; i < rows; i++) {
            vals[i] = cells[i * t.n + k];
            if (!vals[i]) col->missing[i] = 1;
        }
        col->data = vals;
    }
    rc = columns_finish(c, &t, rows, nb);
done:
    keel_free(cells);
    keel_csv_close(r);
    return rc;
}

int serve_parse_mlflow(const char *content_type_value, const char *body, size_t n, serve_batch *b,
                       serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    bool csv;
    int rc = proto_begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root;
    c.mlflow = true;
    if (rc || (rc = content_type(&c, content_type_value, &csv))) goto fail;
    if (csv) {
        if ((rc = parse_csv(&c, body, n, &nb)) != KEEL_OK) goto fail;
        *b = nb;
        return KEEL_OK;
    }
    if ((rc = proto_parse_json(&c, body, n, &root)) != KEEL_OK) goto fail;
    static const char *const formats[] = {"dataframe_split", "dataframe_records", "instances",
                                          "inputs"};
    static const char need[] = "the body must be a JSON object with exactly one of "
                               "\"dataframe_split\", \"dataframe_records\", \"instances\" or "
                               "\"inputs\"";
    if (root->type != KEEL_JSON_OBJECT) {
        rc = proto_bad(&c, "%s; got %s", need,
                       root->type == KEEL_JSON_ARRAY ? "a list" : keel_json_describe(root).s);
        goto fail;
    }
    const keel_json *found = NULL, *v;
    const char *format = NULL;
    size_t n_found = 0;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(formats); i++) {
        if ((rc = proto_member(&c, root, formats[i], &v)) != KEEL_OK) goto fail;
        if (v) found = v, format = formats[i], n_found++;
    }
    if (n_found != 1) {
        char keys[200] = "";
        size_t shown = 0;
        for (size_t i = 0; i < root->u.object.n && strlen(keys) + 60 < sizeof keys; i++, shown++) {
            const keel_json_member *m = &root->u.object.members[i];
            if (i) append(keys, sizeof keys, ", ");
            keel_quote_into(keys, sizeof keys, m->key, m->key_len, 30);
        }
        if (shown < root->u.object.n) append(keys, sizeof keys, ", ...");
        rc = proto_bad(&c, "%s; got keys [%s]", need, keys);
        goto fail;
    }
    if (strcmp(format, "dataframe_split") == 0) {
        proto_path_key(&c, format, strlen(format));
        if (found->type != KEEL_JSON_OBJECT) {
            rc = proto_bad(&c,
                           "expected an object ({\"columns\": [...], \"data\": [[...], ...]}), got "
                           "%s",
                           keel_json_describe(found).s);
            goto fail;
        }
        rc = build_split(&c, found, &nb);
    } else if (strcmp(format, "dataframe_records") == 0) {
        proto_path_key(&c, format, strlen(format));
        if (found->type != KEEL_JSON_ARRAY) {
            rc = proto_bad(&c, "expected a list of records ([{\"column\": value, ...}]), got %s",
                           keel_json_describe(found).s);
            goto fail;
        }
        rc = build_records(&c, found, &nb);
    } else {
        rc = build_rows(&c, format, found, &nb);
    }
    if (rc) goto fail;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}
