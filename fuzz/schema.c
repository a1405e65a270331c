/*
 * fuzz/schema.c — keel_schema_parse on arbitrary bytes.
 *
 * Besides not crashing or leaking, the reader and the writer must agree: whatever parses
 * is written, the text must parse again to an equal schema, and writing that must give
 * the same text byte for byte. A failed parse must leave *out NULL and give a message
 * that starts with the file name.
 */
#include "data/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int opt_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int list_eq(const keel_strlist *a, const keel_strlist *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i])) return 0;
    return 1;
}

static int column_eq(const keel_schema_column *x, const keel_schema_column *y)
{
    return !strcmp(x->name, y->name) && opt_eq(x->display_name, y->display_name) &&
           opt_eq(x->description, y->description) && x->type == y->type && x->role == y->role &&
           x->nullable == y->nullable && x->on_invalid == y->on_invalid &&
           x->has_min == y->has_min && x->has_max == y->has_max &&
           (!x->has_min || x->min == y->min) && (!x->has_max || x->max == y->max) &&
           x->integer == y->integer && list_eq(&x->categories, &y->categories) &&
           list_eq(&x->true_values, &y->true_values) &&
           list_eq(&x->false_values, &y->false_values) && opt_eq(x->time_format, y->time_format) &&
           x->has_missing == y->has_missing && list_eq(&x->missing, &y->missing) &&
           x->pii == y->pii;
}

static int schema_eq(const keel_schema *a, const keel_schema *b)
{
    if (a->version != b->version || !opt_eq(a->source, b->source) || a->format != b->format ||
        a->delimiter != b->delimiter || a->quote != b->quote || a->header != b->header ||
        a->decimal != b->decimal || a->encoding != b->encoding ||
        !list_eq(&a->missing, &b->missing) || a->n_columns != b->n_columns)
        return 0;
    for (size_t i = 0; i < a->n_columns; i++)
        if (!column_eq(&a->columns[i], &b->columns[i])) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_schema *s1 = NULL, *s2 = NULL;
    keel_error e = {0};
    keel_buf w1, w2;
    keel_buf_init(&w1);
    keel_buf_init(&w2);
    if (keel_schema_parse((const char *)data, n, "fuzz.yaml", &s1, &e) != KEEL_OK) {
        if (s1 || strncmp(e.msg, "fuzz.yaml", 9) != 0) {
            fprintf(stderr, "bad failure report: %s\n", e.msg);
            abort();
        }
        return 0;
    }
    if (keel_schema_write(s1, &w1) != KEEL_OK) abort();
    if (keel_schema_parse(w1.data, w1.len, "written.yaml", &s2, &e) != KEEL_OK) {
        fprintf(stderr, "written schema does not parse: %s\n%s", e.msg, w1.data);
        abort();
    }
    if (!schema_eq(s1, s2)) {
        fprintf(stderr, "round trip changed the schema:\n%s", w1.data);
        abort();
    }
    if (keel_schema_write(s2, &w2) != KEEL_OK) abort();
    if (w1.len != w2.len || memcmp(w1.data, w2.data, w1.len)) {
        fprintf(stderr, "second write differs:\n%s\n----\n%s", w1.data, w2.data);
        abort();
    }
    keel_schema_free(s1);
    keel_schema_free(s2);
    keel_buf_free(&w1);
    keel_buf_free(&w2);
    return 0;
}
