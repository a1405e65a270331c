/*
 * schema_json.c — the schema as JSON, for model artifacts.
 *
 * An artifact carries the schema its model was trained with (the prediction contract), and
 * libkeel must read it without a YAML library, so the manifest holds it as JSON. The fields
 * and names are those of the YAML form (docs/schema.md), one object per column:
 *   {"version":1,"format":"csv","delimiter":",","quote":"\"","decimal":".","header":true,
 *    "encoding":"utf-8","missing":["","NA",...],
 *    "columns":[{"name":"age","type":"numeric","role":"feature","nullable":true,
 *                "on_invalid":"reject","min":0,"max":120,"integer":true,"pii":"none",
 *                "display_name":..,"description":..,"categories":[..],"true_values":[..],
 *                "false_values":[..],"time_format":..,"column_missing":[..],"sensitive":true}]}
 * Optional fields are left out when unset (artifacts written before a field existed still
 * load: "sensitive" absent means false). Reading checks every field's type, resolves names
 * against the closed lists, caps sizes, and finishes with keel_schema_check, because an
 * artifact is untrusted input.
 */
#include "data/schema.h"
#include "base/json.h"

#include <math.h>
#include <string.h>

static int put_key(keel_buf *b, const char *key)
{
    int rc = keel_buf_putc(b, ',');
    rc |= keel_buf_json_str(b, key, strlen(key));
    rc |= keel_buf_putc(b, ':');
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

static int put_str(keel_buf *b, const char *key, const char *v)
{
    if (!v) return KEEL_OK;
    return put_key(b, key) || keel_buf_json_str(b, v, strlen(v)) ? KEEL_ENOMEM : KEEL_OK;
}

static int put_list(keel_buf *b, const char *key, const keel_strlist *l)
{
    if (put_key(b, key) || keel_buf_putc(b, '[')) return KEEL_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if ((i && keel_buf_putc(b, ',')) || keel_buf_json_str(b, l->items[i], strlen(l->items[i])))
            return KEEL_ENOMEM;
    return keel_buf_putc(b, ']') ? KEEL_ENOMEM : KEEL_OK;
}

static int put_num(keel_buf *b, const char *key, double v)
{
    return put_key(b, key) || keel_buf_json_num(b, v) ? KEEL_ENOMEM : KEEL_OK;
}

int keel_schema_to_json(const keel_schema *s, keel_buf *b)
{
    char ch[2] = {0, 0};
    int rc = keel_buf_printf(b, "{\"version\":%d", s->version);
    rc |= put_str(b, "format", s->format == KEEL_FORMAT_JSONL ? "jsonl" : "csv");
    ch[0] = s->delimiter;
    rc |= put_str(b, "delimiter", ch);
    ch[0] = s->quote;
    rc |= put_str(b, "quote", ch);
    ch[0] = s->decimal;
    rc |= put_str(b, "decimal", ch);
    rc |= put_key(b, "header") || keel_buf_puts(b, s->header ? "true" : "false");
    rc |= put_str(b, "encoding", s->encoding == KEEL_ENC_LATIN1 ? "latin-1" : "utf-8");
    rc |= put_list(b, "missing", &s->missing);
    rc |= put_key(b, "columns") || keel_buf_putc(b, '[');
    for (size_t i = 0; i < s->n_columns && !rc; i++) {
        const keel_schema_column *c = &s->columns[i];
        rc |= keel_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= keel_buf_json_str(b, c->name, strlen(c->name));
        rc |= put_str(b, "type", keel_type_name(c->type));
        rc |= put_str(b, "role", keel_role_name(c->role));
        rc |= put_key(b, "nullable") || keel_buf_puts(b, c->nullable ? "true" : "false");
        rc |= put_str(b, "on_invalid", keel_on_invalid_name(c->on_invalid));
        rc |= put_str(b, "pii", keel_pii_name(c->pii));
        rc |= put_str(b, "display_name", c->display_name);
        rc |= put_str(b, "description", c->description);
        if (c->has_min) rc |= put_num(b, "min", c->min);
        if (c->has_max) rc |= put_num(b, "max", c->max);
        if (c->integer) rc |= put_key(b, "integer") || keel_buf_puts(b, "true");
        if (c->type == KEEL_TYPE_CATEGORICAL) rc |= put_list(b, "categories", &c->categories);
        if (c->true_values.n) rc |= put_list(b, "true_values", &c->true_values);
        if (c->false_values.n) rc |= put_list(b, "false_values", &c->false_values);
        rc |= put_str(b, "time_format", c->time_format);
        if (c->has_missing) rc |= put_list(b, "column_missing", &c->missing);
        if (c->sensitive) rc |= put_key(b, "sensitive") || keel_buf_puts(b, "true");
        rc |= keel_buf_putc(b, '}');
    }
    rc |= keel_buf_puts(b, "]}");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* ---- reading ---- */

#define MAX_COLUMNS 100000
#define MAX_LIST    1000000

static int bad(keel_error *e, const char *where, const char *field, const char *what)
{
    return keel_error_set(e, KEEL_EFORMAT, "schema: %s%s'%s' %s", where ? where : "",
                          where ? ": " : "", field, what);
}

static int get_list(const keel_json *v, keel_strlist *l, const char *where, const char *field,
                    keel_error *e)
{
    if (v->type != KEEL_JSON_ARRAY) return bad(e, where, field, "must be an array of strings");
    if (v->u.array.n > MAX_LIST) return bad(e, where, field, "has too many entries");
    for (size_t i = 0; i < v->u.array.n; i++) {
        const keel_json *it = &v->u.array.items[i];
        if (it->type != KEEL_JSON_STRING)
            return bad(e, where, field, "must be an array of strings");
        if (keel_strlist_add(l, it->u.string.s, it->u.string.len))
            return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    return KEEL_OK;
}

/* A string field that must be one character ("" or absent leaves *out alone). */
static int get_char(const keel_json *obj, const char *field, char *out, keel_error *e)
{
    const keel_json *v = keel_json_get(obj, field);
    if (!v) return KEEL_OK;
    if (v->type != KEEL_JSON_STRING || v->u.string.len != 1)
        return bad(e, NULL, field, "must be a one-character string");
    *out = v->u.string.s[0];
    return KEEL_OK;
}

static int get_bool(const keel_json *obj, const char *field, bool *out, const char *where,
                    keel_error *e)
{
    const keel_json *v = keel_json_get(obj, field);
    if (!v) return KEEL_OK;
    if (v->type != KEEL_JSON_BOOL) return bad(e, where, field, "must be true or false");
    *out = v->u.boolean;
    return KEEL_OK;
}

static int get_dup(const keel_json *obj, const char *field, char **out, const char *where,
                   keel_error *e)
{
    const keel_json *v = keel_json_get(obj, field);
    if (!v || v->type == KEEL_JSON_NULL) return KEEL_OK;
    if (v->type != KEEL_JSON_STRING) return bad(e, where, field, "must be a string");
    if (!(*out = keel_strndup(v->u.string.s, v->u.string.len)))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    return KEEL_OK;
}

static int get_enum(const keel_json *obj, const char *field, int (*from)(const char *), int *out,
                    const char *where, keel_error *e)
{
    const keel_json *v = keel_json_get(obj, field);
    if (!v) return KEEL_OK;
    int x = v->type == KEEL_JSON_STRING ? from(v->u.string.s) : -1;
    if (x < 0) return bad(e, where, field, "has an unknown value");
    *out = x;
    return KEEL_OK;
}

static int read_column(keel_schema *s, const keel_json *o, keel_error *e)
{
    const char *name = keel_json_str(keel_json_get(o, "name"));
    if (o->type != KEEL_JSON_OBJECT || !name || !*name)
        return keel_error_set(e, KEEL_EFORMAT, "schema: every column needs a non-empty name");
    keel_schema_column *c;
    if (keel_schema_add_column(s, name, &c)) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int t = c->type, r = c->role, p = c->on_invalid, pii = c->pii, rc;
    if ((rc = get_enum(o, "type", keel_type_from_name, &t, name, e)) ||
        (rc = get_enum(o, "role", keel_role_from_name, &r, name, e)) ||
        (rc = get_enum(o, "on_invalid", keel_on_invalid_from_name, &p, name, e)) ||
        (rc = get_enum(o, "pii", keel_pii_from_name, &pii, name, e)) ||
        (rc = get_bool(o, "nullable", &c->nullable, name, e)) ||
        (rc = get_bool(o, "integer", &c->integer, name, e)) ||
        (rc = get_bool(o, "sensitive", &c->sensitive, name, e)) ||
        (rc = get_dup(o, "display_name", &c->display_name, name, e)) ||
        (rc = get_dup(o, "description", &c->description, name, e)) ||
        (rc = get_dup(o, "time_format", &c->time_format, name, e)))
        return rc;
    c->type = (keel_type)t;
    c->role = (keel_role)r;
    c->on_invalid = (keel_on_invalid)p;
    c->pii = (keel_pii)pii;
    const keel_json *v;
    if ((v = keel_json_get(o, "min"))) {
        if (v->type != KEEL_JSON_NUMBER) return bad(e, name, "min", "must be a number");
        c->has_min = true, c->min = v->u.number.value;
    }
    if ((v = keel_json_get(o, "max"))) {
        if (v->type != KEEL_JSON_NUMBER) return bad(e, name, "max", "must be a number");
        c->has_max = true, c->max = v->u.number.value;
    }
    if ((v = keel_json_get(o, "categories")) &&
        (rc = get_list(v, &c->categories, name, "categories", e)))
        return rc;
    if ((v = keel_json_get(o, "true_values")) &&
        (rc = get_list(v, &c->true_values, name, "true_values", e)))
        return rc;
    if ((v = keel_json_get(o, "false_values")) &&
        (rc = get_list(v, &c->false_values, name, "false_values", e)))
        return rc;
    if ((v = keel_json_get(o, "column_missing"))) {
        c->has_missing = true;
        if ((rc = get_list(v, &c->missing, name, "column_missing", e))) return rc;
    }
    return KEEL_OK;
}

int keel_schema_from_json(const keel_json *root, keel_schema **out, keel_error *e)
{
    *out = NULL;
    if (!root || root->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "schema: must be a JSON object");
    keel_schema *s = keel_schema_new();
    if (!s) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc;
    const keel_json *v = keel_json_get(root, "version");
    if (!v || v->type != KEEL_JSON_NUMBER || v->u.number.value != 1) {
        rc = keel_error_set(e, KEEL_EFORMAT, "schema: 'version' must be 1");
        goto fail;
    }
    const char *fmt = keel_json_str(keel_json_get(root, "format"));
    if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "jsonl")) {
        rc = bad(e, NULL, "format", "must be \"csv\" or \"jsonl\"");
        goto fail;
    }
    s->format = fmt && !strcmp(fmt, "jsonl") ? KEEL_FORMAT_JSONL : KEEL_FORMAT_CSV;
    const char *enc = keel_json_str(keel_json_get(root, "encoding"));
    if (enc && strcmp(enc, "utf-8") && strcmp(enc, "latin-1")) {
        rc = bad(e, NULL, "encoding", "must be \"utf-8\" or \"latin-1\"");
        goto fail;
    }
    s->encoding = enc && !strcmp(enc, "latin-1") ? KEEL_ENC_LATIN1 : KEEL_ENC_UTF8;
    if ((rc = get_char(root, "delimiter", &s->delimiter, e)) ||
        (rc = get_char(root, "quote", &s->quote, e)) ||
        (rc = get_char(root, "decimal", &s->decimal, e)) ||
        (rc = get_bool(root, "header", &s->header, NULL, e)))
        goto fail;
    if ((v = keel_json_get(root, "missing"))) {
        keel_strlist_clear(&s->missing);
        if ((rc = get_list(v, &s->missing, NULL, "missing", e))) goto fail;
    }
    v = keel_json_get(root, "columns");
    if (!v || v->type != KEEL_JSON_ARRAY || v->u.array.n == 0 || v->u.array.n > MAX_COLUMNS) {
        rc = bad(e, NULL, "columns", "must be a non-empty array of column objects");
        goto fail;
    }
    for (size_t i = 0; i < v->u.array.n; i++)
        if ((rc = read_column(s, &v->u.array.items[i], e))) goto fail;
    if ((rc = keel_schema_check(s, e))) {
        if (rc != KEEL_ENOMEM) rc = KEEL_EFORMAT; /* out of memory is not a damaged file */
        goto fail;
    }
    *out = s;
    return KEEL_OK;
fail:
    keel_schema_free(s);
    return rc;
}

int keel_schema_dup(const keel_schema *s, keel_schema **out, keel_error *e)
{
    *out = NULL;
    keel_buf b;
    keel_buf_init(&b);
    keel_json_doc *d = keel_json_doc_new();
    int rc = d ? keel_schema_to_json(s, &b) : KEEL_ENOMEM;
    if (rc) {
        keel_error_set(e, rc, "out of memory");
        goto done;
    }
    if ((rc = keel_json_parse(d, b.data, b.len, e))) goto done;
    rc = keel_schema_from_json(keel_json_root(d), out, e);
done:
    keel_json_doc_free(d);
    keel_buf_free(&b);
    return rc;
}
