/*
 * schema.c — the in-memory schema: construction, lookup, checks and the names of enums.
 *
 * Reading and writing YAML lives in schema_yaml.c; this file has no YAML in it, so that
 * libkeel can carry a schema inside a model artifact without linking a YAML parser.
 */
#include "data/schema.h"

#include <math.h>
#include <string.h>

static const char *const type_names[KEEL_TYPE_COUNT] = {"numeric", "categorical", "boolean",
                                                        "text",    "timestamp",   "id"};
static const char *const role_names[KEEL_ROLE_COUNT] = {"feature", "target", "id",
                                                        "time",    "weight", "ignore"};
static const char *const on_invalid_names[KEEL_ON_INVALID_COUNT] = {"reject", "missing", "clip"};
static const char *const pii_names[KEEL_PII_COUNT] = {
    "none",        "email", "phone",   "iban",       "card",
    "national_id", "name",  "address", "birth_date", "other"};

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

const char *keel_type_name(keel_type t)
{
    return (unsigned)t < KEEL_TYPE_COUNT ? type_names[t] : "?";
}
const char *keel_role_name(keel_role r)
{
    return (unsigned)r < KEEL_ROLE_COUNT ? role_names[r] : "?";
}
const char *keel_on_invalid_name(keel_on_invalid p)
{
    return (unsigned)p < KEEL_ON_INVALID_COUNT ? on_invalid_names[p] : "?";
}
const char *keel_pii_name(keel_pii p)
{
    return (unsigned)p < KEEL_PII_COUNT ? pii_names[p] : "?";
}
int keel_type_from_name(const char *s)
{
    return find_name(type_names, KEEL_TYPE_COUNT, s);
}
int keel_role_from_name(const char *s)
{
    return find_name(role_names, KEEL_ROLE_COUNT, s);
}
int keel_on_invalid_from_name(const char *s)
{
    return find_name(on_invalid_names, KEEL_ON_INVALID_COUNT, s);
}
int keel_pii_from_name(const char *s)
{
    return find_name(pii_names, KEEL_PII_COUNT, s);
}

int keel_strlist_add(keel_strlist *l, const char *s, size_t len)
{
    char *copy = keel_strndup(s, len);
    if (!copy) return KEEL_ENOMEM;
    char **items = keel_reallocarray(l->items, l->n + 1, sizeof *items);
    if (!items) {
        keel_free(copy);
        return KEEL_ENOMEM;
    }
    items[l->n++] = copy;
    l->items = items;
    return KEEL_OK;
}

void keel_strlist_clear(keel_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        keel_free(l->items[i]);
    keel_free(l->items);
    l->items = NULL;
    l->n = 0;
}

long keel_strlist_find(const keel_strlist *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->items[i]) == len && !memcmp(l->items[i], s, len)) return (long)i;
    return -1;
}

int keel_strset_init(keel_strset *t, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    t->slots = keel_calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    return t->slots ? KEEL_OK : KEEL_ENOMEM;
}

long keel_strset_add(keel_strset *t, const char *s, uint32_t tag)
{
    size_t i = (size_t)keel_hash64(s, strlen(s), 0) & t->mask;
    for (; t->slots[i].s; i = (i + 1) & t->mask)
        if (!strcmp(t->slots[i].s, s)) return t->slots[i].tag;
    t->slots[i].s = s;
    t->slots[i].tag = tag;
    return -1;
}

long keel_strset_find(const keel_strset *t, const char *p, size_t len)
{
    size_t i = (size_t)keel_hash64(p, len, 0) & t->mask;
    /* Lengths first: p may hold NUL bytes, which would stop a string compare early. */
    for (; t->slots[i].s; i = (i + 1) & t->mask)
        if (strlen(t->slots[i].s) == len && !memcmp(t->slots[i].s, p, len)) return t->slots[i].tag;
    return -1;
}

void keel_strset_free(keel_strset *t)
{
    keel_free(t->slots);
    t->slots = NULL;
}

static const char *const default_missing[] = {"", "NA", "N/A", "null", "NULL", "NaN", "?"};

keel_schema *keel_schema_new(void)
{
    keel_schema *s = keel_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->version = 1;
    s->format = KEEL_FORMAT_CSV;
    s->delimiter = ',';
    s->quote = '"';
    s->decimal = '.';
    s->header = true;
    s->encoding = KEEL_ENC_UTF8;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(default_missing); i++) {
        if (keel_strlist_add(&s->missing, default_missing[i], strlen(default_missing[i]))) {
            keel_schema_free(s);
            return NULL;
        }
    }
    return s;
}

static void column_free(keel_schema_column *c)
{
    keel_free(c->name);
    keel_free(c->display_name);
    keel_free(c->description);
    keel_free(c->time_format);
    keel_free(c->note);
    keel_strlist_clear(&c->categories);
    keel_strlist_clear(&c->true_values);
    keel_strlist_clear(&c->false_values);
    keel_strlist_clear(&c->missing);
}

void keel_schema_free(keel_schema *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_columns; i++)
        column_free(&s->columns[i]);
    keel_free(s->columns);
    keel_free(s->source);
    keel_strlist_clear(&s->missing);
    keel_free(s);
}

void keel_schema_remove_column(keel_schema *s, size_t i)
{
    if (i >= s->n_columns) return;
    column_free(&s->columns[i]);
    memmove(&s->columns[i], &s->columns[i + 1], (s->n_columns - i - 1) * sizeof *s->columns);
    s->n_columns--;
}

void keel_schema_move_to_end(keel_schema *s, size_t i)
{
    if (i >= s->n_columns) return;
    keel_schema_column c = s->columns[i];
    memmove(&s->columns[i], &s->columns[i + 1], (s->n_columns - i - 1) * sizeof *s->columns);
    s->columns[s->n_columns - 1] = c;
}

int keel_schema_add_column(keel_schema *s, const char *name, keel_schema_column **out)
{
    *out = NULL;
    char *copy = keel_strdup(name);
    if (!copy) return KEEL_ENOMEM;
    if (s->n_columns == s->cap_columns) {
        size_t cap = s->cap_columns ? s->cap_columns * 2 : 16;
        keel_schema_column *cols = keel_reallocarray(s->columns, cap, sizeof *cols);
        if (!cols) {
            keel_free(copy);
            return KEEL_ENOMEM;
        }
        s->columns = cols;
        s->cap_columns = cap;
    }
    keel_schema_column *cols = s->columns;
    keel_schema_column *c = &cols[s->n_columns++];
    memset(c, 0, sizeof *c);
    c->name = copy;
    c->type = KEEL_TYPE_NUMERIC;
    c->role = KEEL_ROLE_FEATURE;
    c->nullable = true;
    c->on_invalid = KEEL_ON_INVALID_REJECT;
    *out = c;
    return KEEL_OK;
}

long keel_schema_find(const keel_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_columns; i++)
        if (!strcmp(s->columns[i].name, name)) return (long)i;
    return -1;
}

/* Checks one column; names and cats are scratch sets (names accumulates across columns). */
static int check_column(const keel_schema_column *c, size_t i, keel_strset *names,
                        keel_strset *cats, int *targets, keel_error *e)
{
    if (!c->name || !c->name[0])
        return keel_error_set(e, KEEL_ESCHEMA, "column %zu has an empty name", i + 1);
    if (keel_strset_add(names, c->name, (uint32_t)i) >= 0)
        return keel_error_set(e, KEEL_ESCHEMA, "column '%s' appears twice", c->name);
    if ((unsigned)c->type >= KEEL_TYPE_COUNT || (unsigned)c->role >= KEEL_ROLE_COUNT ||
        (unsigned)c->on_invalid >= KEEL_ON_INVALID_COUNT || (unsigned)c->pii >= KEEL_PII_COUNT)
        return keel_error_set(e, KEEL_ESCHEMA, "column '%s': invalid enum value", c->name);
    if ((c->has_min && isnan(c->min)) || (c->has_max && isnan(c->max)))
        return keel_error_set(e, KEEL_ESCHEMA, "column '%s': min/max is not a number", c->name);
    if (c->has_min && c->has_max && c->min > c->max)
        return keel_error_set(e, KEEL_ESCHEMA, "column '%s': min %g is above max %g", c->name,
                              c->min, c->max);
    if (c->type == KEEL_TYPE_CATEGORICAL && c->categories.n == 0)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "column '%s': a categorical column needs its categories", c->name);
    if (c->categories.n) {
        keel_strset_free(cats);
        if (keel_strset_init(cats, c->categories.n))
            return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        for (size_t k = 0; k < c->categories.n; k++)
            if (keel_strset_add(cats, c->categories.items[k], (uint32_t)k) >= 0)
                return keel_error_set(e, KEEL_ESCHEMA, "column '%s': category '%s' is listed twice",
                                      c->name, c->categories.items[k]);
    }
    if (c->on_invalid == KEEL_ON_INVALID_CLIP &&
        (c->type != KEEL_TYPE_NUMERIC && c->type != KEEL_TYPE_TIMESTAMP))
        return keel_error_set(e, KEEL_ESCHEMA,
                              "column '%s': on_invalid: clip needs a numeric or timestamp "
                              "column",
                              c->name);
    if (c->on_invalid == KEEL_ON_INVALID_CLIP && !c->has_min && !c->has_max)
        return keel_error_set(e, KEEL_ESCHEMA, "column '%s': on_invalid: clip needs min or max",
                              c->name);
    if (c->role == KEEL_ROLE_TARGET && ++*targets > 1)
        return keel_error_set(e, KEEL_ESCHEMA, "more than one column has role target");
    return KEEL_OK;
}

int keel_schema_check(const keel_schema *s, keel_error *e)
{
    if (s->version != 1)
        return keel_error_set(e, KEEL_ESCHEMA, "unsupported schema version %d (expected 1)",
                              s->version);
    if (s->format == KEEL_FORMAT_CSV) {
        if (s->delimiter == '\0' || s->delimiter == '\n' || s->delimiter == '\r' ||
            s->delimiter == s->quote)
            return keel_error_set(e, KEEL_ESCHEMA, "invalid delimiter");
        if (s->quote == '\n' || s->quote == '\r')
            return keel_error_set(e, KEEL_ESCHEMA, "invalid quote character");
        if (s->decimal == s->delimiter)
            return keel_error_set(e, KEEL_ESCHEMA, "the decimal mark cannot also be the delimiter");
    }
    if (s->decimal != '.' && s->decimal != ',')
        return keel_error_set(e, KEEL_ESCHEMA, "decimal must be '.' or ','");
    if (s->n_columns == 0) return keel_error_set(e, KEEL_ESCHEMA, "the schema has no columns");
    int targets = 0, rc = KEEL_OK;
    keel_strset names, cats;
    names.slots = cats.slots = NULL;
    if (keel_strset_init(&names, s->n_columns))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_columns && rc == KEEL_OK; i++) {
        const keel_schema_column *c = &s->columns[i];
        rc = check_column(c, i, &names, &cats, &targets, e);
    }
    keel_strset_free(&names);
    keel_strset_free(&cats);
    return rc;
}

int keel_format_of_path(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/')) return -1; /* no extension, or a dot in a directory's name */
    if (!strcmp(dot, ".jsonl") || !strcmp(dot, ".ndjson") || !strcmp(dot, ".json"))
        return KEEL_FORMAT_JSONL;
    if (!strcmp(dot, ".csv") || !strcmp(dot, ".tsv")) return KEEL_FORMAT_CSV;
    return -1;
}
