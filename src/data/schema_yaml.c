/*
 * schema_yaml.c — reading and writing schema YAML (the format is docs/schema.md).
 *
 * Reading is two passes. The first drives libyaml's event parser and copies the document
 * into a small tree: one flat array of nodes in document order (a container's first child
 * is the next node, and each node records where its subtree ends, so siblings are found by
 * skipping) plus one arena holding every scalar's text. The second pass walks the tree and
 * fills a keel_schema. The tree is there because keys come in any order: a column's `min`
 * may come before its `type`, which decides how `min` reads, and before its `name`, which
 * every error message about the column wants to show.
 *
 * A schema is edited by hand, so the reader is strict and says exactly where it stopped:
 * every message starts "file:line:column:" (libyaml's marks are 0-based, ours 1-based),
 * unknown and duplicate keys are errors (with a "did you mean" for near misses), keys that
 * do not apply to a column's type are errors, and scalars are taken literally as text, so
 * a category spelt `no` or `null` stays the string "no" or "null" (none of YAML 1.1's
 * yes/no/null guessing). Codes: KEEL_EPARSE for YAML syntax and structure keel refuses,
 * KEEL_ESCHEMA for content, KEEL_ELIMIT for the limits below, KEEL_ENOMEM.
 *
 * Limits, because a schema may come from anywhere: at most 16 MiB of text, nesting 16 deep
 * (a valid schema needs 4), 8M nodes, 100,000 columns. Anchors and aliases are refused
 * outright: nothing in a schema needs them, and aliases are the billion-laughs attack.
 * libyaml allocates with the C library, not through keel's hook; everything the reader
 * keeps is keel's.
 *
 * Writing is plain string building. A string is written bare when YAML cannot misread it
 * (letters, digits, '_', '-', '.', '/', inner spaces, no keyword like yes/null, nothing
 * number-like) and double-quoted with escapes otherwise. Invisible characters (controls,
 * line separators, zero-width and odd spaces, the BOM) are always escaped, so a reviewer
 * sees them. Lists go on one line when short, one item per line otherwise. For every
 * schema the reader produces, reading the writer's output gives an equal schema again
 * (fuzz/schema.c checks this on every input it finds).
 */
#include "data/convert.h"
#include "data/schema.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_TEXT    ((size_t)16 << 20)
#define MAX_DEPTH   16
#define MAX_NODES   ((size_t)8 << 20)
#define MAX_COLUMNS 100000

/* ---- the tree -------------------------------------------------------------------------- */

enum { N_SCALAR, N_SEQ, N_MAP };

typedef struct node {
    uint8_t kind;
    uint8_t plain;      /* scalar written without quotes; an empty plain value means "unset" */
    uint32_t line, col; /* 1-based position of the node's first character */
    uint32_t n;         /* containers: number of children (a map has key, value, key, ...) */
    uint32_t end;       /* index one past the last node of this subtree */
    uint32_t off, len;  /* scalars: text in the arena, NUL-terminated there */
} node;

typedef struct reader {
    const char *name; /* file name for messages */
    keel_error *e;
    node *nodes;
    size_t n_nodes, cap_nodes;
    keel_buf text;
    char ctx[96]; /* "column 'age': " while reading a column, else "" (prefixes value errors) */
    char in[96];  /* " in column 'age'", " in csv" or "" (ends key errors) */
} reader;

static int fail_at(reader *r, const node *at, int code, const char *fmt, ...) KEEL_PRINTF(4, 5);

static int fail_at(reader *r, const node *at, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at) return keel_error_set(r->e, code, "%s:%u:%u: %s", r->name, at->line, at->col, msg);
    return keel_error_set(r->e, code, "%s: %s", r->name, msg);
}

/* A shortened copy of s for messages: at most 40 bytes, cut on a character boundary. */
static const char *clip(const char *s, char buf[48])
{
    size_t n = strlen(s);
    if (n <= 40) return s;
    n = 37;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
}

static const char *str(const reader *r, uint32_t i)
{
    return r->text.data + r->nodes[i].off;
}

static int add_node(reader *r, int kind, const yaml_mark_t *mark, uint32_t *out)
{
    if (r->n_nodes >= MAX_NODES)
        return fail_at(r, NULL, KEEL_ELIMIT, "more than %zu values; this is not a schema",
                       MAX_NODES);
    if (r->n_nodes == r->cap_nodes) {
        size_t cap = r->cap_nodes ? r->cap_nodes * 2 : 64;
        node *nodes = keel_reallocarray(r->nodes, cap, sizeof *nodes);
        if (!nodes) return keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
        r->nodes = nodes;
        r->cap_nodes = cap;
    }
    uint32_t i = (uint32_t)r->n_nodes++;
    node *nd = &r->nodes[i];
    memset(nd, 0, sizeof *nd);
    nd->kind = (uint8_t)kind;
    nd->line = (uint32_t)mark->line + 1;
    nd->col = (uint32_t)mark->column + 1;
    nd->end = i + 1;
    *out = i;
    return KEEL_OK;
}

static int yaml_failure(reader *r, const yaml_parser_t *yp, const char *text, size_t n)
{
    if (yp->error == YAML_MEMORY_ERROR) return keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
    const char *problem = yp->problem ? yp->problem : "malformed YAML";
    node at = {.line = (uint32_t)yp->problem_mark.line + 1,
               .col = (uint32_t)yp->problem_mark.column + 1};
    if (yp->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset; turn it into a line and a (byte) column. */
        at.line = at.col = 1;
        for (size_t i = 0; i < yp->problem_offset && i < n; i++, at.col++)
            if (text[i] == '\n') {
                at.line++;
                at.col = 0;
            }
        return fail_at(r, &at, KEEL_EPARSE, "%s (a schema must be UTF-8 text)", problem);
    }
    if (yp->context)
        return fail_at(r, &at, KEEL_EPARSE, "YAML syntax: %s (%s at line %zu)", problem,
                       yp->context, yp->context_mark.line + 1);
    return fail_at(r, &at, KEEL_EPARSE, "YAML syntax: %s", problem);
}

/* Handles one event; the caller deletes it. */
static int take_event(reader *r, const yaml_event_t *ev, uint32_t *stack, int *depth, int *docs)
{
    node at = {.line = (uint32_t)ev->start_mark.line + 1,
               .col = (uint32_t)ev->start_mark.column + 1};
    const yaml_char_t *anchor = NULL;
    int kind = -1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return fail_at(r, &at, KEEL_EPARSE,
                           "a schema file holds one YAML document; found a second one");
        return KEEL_OK;
    case YAML_ALIAS_EVENT:
        return fail_at(r, &at, KEEL_EPARSE, "aliases (*name) are not allowed in a schema");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        kind = N_SCALAR;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        kind = N_SEQ;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        kind = N_MAP;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        --*depth;
        r->nodes[stack[*depth]].end = (uint32_t)r->n_nodes;
        return KEEL_OK;
    default:
        return KEEL_OK;
    }
    if (anchor) return fail_at(r, &at, KEEL_EPARSE, "anchors (&name) are not allowed in a schema");
    if (kind != N_SCALAR && *depth >= MAX_DEPTH)
        return fail_at(r, &at, KEEL_ELIMIT, "nested more than %d levels deep", MAX_DEPTH);
    uint32_t i = 0;
    int rc = add_node(r, kind, &ev->start_mark, &i);
    if (rc) return rc;
    if (*depth > 0) r->nodes[stack[*depth - 1]].n++;
    if (kind != N_SCALAR) {
        stack[(*depth)++] = i;
        return KEEL_OK;
    }
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(v, '\0', len))
        return fail_at(r, &at, KEEL_EPARSE, "text may not contain NUL characters");
    size_t off = r->text.len;
    if (keel_buf_append(&r->text, v, len) || keel_buf_putc(&r->text, '\0'))
        return keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
    r->nodes[i].off = (uint32_t)off;
    r->nodes[i].len = (uint32_t)len;
    r->nodes[i].plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return KEEL_OK;
}

static int build_tree(reader *r, const char *text, size_t n)
{
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, n);
    uint32_t stack[MAX_DEPTH];
    int depth = 0, docs = 0, rc = KEEL_OK;
    for (bool done = false; !done && rc == KEEL_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = yaml_failure(r, &yp, text, n);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = take_event(r, &ev, stack, &depth, &docs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    return rc;
}

/* ---- small helpers for reading ---------------------------------------------------------- */

/* Edit distance of two short strings (insert, delete, substitute, swap two neighbours), for
 * "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 32 || nb > 32) return 99;
    size_t d[33][33];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            best = KEEL_MIN(best, d[i - 1][j] + 1);
            best = KEEL_MIN(best, d[i][j - 1] + 1);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = KEEL_MIN(best, d[i - 2][j - 2] + 1);
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

/* Pairs the keys of map node m with the names in keys: vals[k] and key_nodes[k] receive
 * the value and key nodes of keys[k], 0 where absent (node 0 is the root, never a value).
 * Unknown, repeated and non-text keys are errors. */
static int collect(reader *r, uint32_t m, const char *const *keys, size_t n_keys, uint32_t *vals,
                   uint32_t *key_nodes)
{
    memset(vals, 0, n_keys * sizeof *vals);
    memset(key_nodes, 0, n_keys * sizeof *key_nodes);
    char b1[48];
    /* Children alternate key, value (libyaml gives an empty scalar for a missing value). */
    for (uint32_t k = m + 1, v; k < r->nodes[m].end; k = r->nodes[v].end) {
        v = r->nodes[k].end;
        if (r->nodes[k].kind != N_SCALAR)
            return fail_at(r, &r->nodes[k], KEEL_ESCHEMA, "a key must be a plain name%s", r->in);
        const char *ks = str(r, k);
        size_t idx = 0;
        while (idx < n_keys && strcmp(keys[idx], ks))
            idx++;
        if (idx == n_keys) {
            /* a near miss: one slip in a short key, two in a longer one */
            size_t best = strlen(ks) <= 4 ? 2 : 3, which = 0, limit = best;
            for (size_t j = 0; j < n_keys; j++) {
                size_t d = edit_distance(ks, keys[j]);
                if (d < best) {
                    best = d;
                    which = j;
                }
            }
            if (best < limit)
                return fail_at(r, &r->nodes[k], KEEL_ESCHEMA,
                               "unknown key '%s'%s (did you mean '%s'?)", clip(ks, b1), r->in,
                               keys[which]);
            return fail_at(r, &r->nodes[k], KEEL_ESCHEMA, "unknown key '%s'%s", clip(ks, b1),
                           r->in);
        }
        if (vals[idx])
            return fail_at(r, &r->nodes[k], KEEL_ESCHEMA,
                           "key '%s' appears twice%s (first at line %u)", keys[idx], r->in,
                           r->nodes[key_nodes[idx]].line);
        vals[idx] = v;
        key_nodes[idx] = k;
    }
    return KEEL_OK;
}

static const char *kind_name(int kind)
{
    return kind == N_SEQ ? "a list" : kind == N_MAP ? "a mapping" : "a single value";
}

/* The text of scalar node v, the value of key. */
static int scalar(reader *r, uint32_t v, const char *key, const char **out)
{
    if (r->nodes[v].kind != N_SCALAR)
        return fail_at(r, &r->nodes[v], KEEL_ESCHEMA, "%s%s must be a single value, not %s", r->ctx,
                       key, kind_name(r->nodes[v].kind));
    *out = str(r, v);
    return KEEL_OK;
}

/* An optional text value: a copy into *dst, or NULL for an empty unquoted value. */
static int get_text(reader *r, uint32_t v, const char *key, char **dst)
{
    const char *s = "";
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    if (r->nodes[v].plain && r->nodes[v].len == 0) return KEEL_OK;
    *dst = keel_strndup(s, r->nodes[v].len);
    return *dst ? KEEL_OK : keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
}

static int get_bool(reader *r, uint32_t v, const char *key, bool *out)
{
    const char *s = "";
    char b1[48];
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        *out = s[0] == 't';
        return KEEL_OK;
    }
    return fail_at(r, &r->nodes[v], KEEL_ESCHEMA, "%s%s must be true or false, not '%s'", r->ctx,
                   key, clip(s, b1));
}

/* A finite decimal number, the whole scalar (strtod alone would take "12abc" and "nan"). */
static int get_number(reader *r, uint32_t v, const char *key, double *out)
{
    const char *s = "";
    char b1[48];
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    size_t n = r->nodes[v].len;
    if (n > 0 && strspn(s, "0123456789+-.eE") == n) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s + n && isfinite(d)) {
            *out = d;
            return KEEL_OK;
        }
    }
    return fail_at(r, &r->nodes[v], KEEL_ESCHEMA, "%s%s must be a number, not '%s'", r->ctx, key,
                   clip(s, b1));
}

/* One byte; the two characters \t also mean a tab (a common slip in single quotes). */
static int get_char(reader *r, uint32_t v, const char *key, char *out)
{
    const char *s = "";
    char b1[48];
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    if (r->nodes[v].len == 1) {
        *out = s[0];
        return KEEL_OK;
    }
    if (!strcmp(s, "\\t")) {
        *out = '\t';
        return KEEL_OK;
    }
    return fail_at(r, &r->nodes[v], KEEL_ESCHEMA,
                   "%s must be a single character such as \",\" or \"\\t\", not '%s'", key,
                   clip(s, b1));
}

/* The schema's enums, by number: 0 type, 1 role, 2 on_invalid, 3 pii. */
static const char *enum_name(int which, int i)
{
    switch (which) {
    case 0:
        return keel_type_name((keel_type)i);
    case 1:
        return keel_role_name((keel_role)i);
    case 2:
        return keel_on_invalid_name((keel_on_invalid)i);
    default:
        return keel_pii_name((keel_pii)i);
    }
}
static const int enum_count[4] = {KEEL_TYPE_COUNT, KEEL_ROLE_COUNT, KEEL_ON_INVALID_COUNT,
                                  KEEL_PII_COUNT};

static int get_enum(reader *r, uint32_t v, const char *key, int which, int *out)
{
    const char *s = "";
    char b1[48];
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    for (int i = 0; i < enum_count[which]; i++) {
        if (!strcmp(s, enum_name(which, i))) {
            *out = i;
            return KEEL_OK;
        }
    }
    char choices[200] = "";
    size_t used = 0;
    for (int i = 0; i < enum_count[which] && used < sizeof choices; i++)
        used += (size_t)snprintf(choices + used, sizeof choices - used, "%s%s",
                                 i == 0                       ? ""
                                 : i + 1 == enum_count[which] ? " or "
                                                              : ", ",
                                 enum_name(which, i));
    return fail_at(r, &r->nodes[v], KEEL_ESCHEMA, "%sunknown %s '%s' (expected %s)", r->ctx, key,
                   clip(s, b1), choices);
}

/* A list of text values into l (which must be empty). With dups set, a repeated item is an
 * error naming what (e.g. "category"). */
static int get_list(reader *r, uint32_t v, const char *key, keel_strlist *l, const char *dups)
{
    const node *nd = &r->nodes[v];
    char b1[48];
    if (nd->kind != N_SEQ)
        return fail_at(r, nd, KEEL_ESCHEMA, "%s%s must be a list such as [a, b], not %s", r->ctx,
                       key, nd->kind == N_SCALAR ? "a single value" : "a mapping");
    keel_strset seen = {0};
    int rc = KEEL_OK;
    if (nd->n > 0) {
        l->items = keel_calloc(nd->n, sizeof *l->items);
        if (!l->items || (dups && keel_strset_init(&seen, nd->n))) goto oom;
    }
    for (uint32_t c = v + 1; c < nd->end; c = r->nodes[c].end) {
        if (r->nodes[c].kind != N_SCALAR) {
            rc = fail_at(r, &r->nodes[c], KEEL_ESCHEMA, "%s%s: each item must be a single value",
                         r->ctx, key);
            goto done;
        }
        char *item = keel_strndup(str(r, c), r->nodes[c].len);
        if (!item) goto oom;
        l->items[l->n++] = item;
        long first = dups ? keel_strset_add(&seen, item, c) : -1;
        if (first >= 0) {
            rc = fail_at(r, &r->nodes[c], KEEL_ESCHEMA,
                         "%s%s '%s' is listed twice (first at line %u, column %u)", r->ctx, dups,
                         clip(item, b1), r->nodes[first].line, r->nodes[first].col);
            goto done;
        }
    }
    goto done;
oom:
    rc = keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
done:
    keel_free(seen.slots);
    return rc;
}

/* Timestamps in a schema are limited to years 0000..9999 in UTC, the range that
 * keel_format_timestamp writes and keel_parse_timestamp reads back. */
#define TS_LOW  (-62167219200LL * 1000000)          /* 0000-01-01T00:00:00Z */
#define TS_HIGH (253402300799LL * 1000000 + 999999) /* 9999-12-31T23:59:59.999999Z */

static int get_timestamp(reader *r, uint32_t v, const char *key, double *out)
{
    const char *s = "";
    char b1[48];
    int rc = scalar(r, v, key, &s);
    if (rc) return rc;
    int64_t us;
    if (keel_parse_timestamp(s, r->nodes[v].len, NULL, &us) != KEEL_OK || us < TS_LOW ||
        us > TS_HIGH)
        return fail_at(r, &r->nodes[v], KEEL_ESCHEMA,
                       "%s%s must be an ISO 8601 time such as \"2024-01-31\" or "
                       "\"2024-01-31T12:00:00Z\", not '%s'",
                       r->ctx, key, clip(s, b1));
    *out = (double)us;
    return KEEL_OK;
}

/* Checks a time_format against the directives keel_parse_timestamp knows (convert.h), so a
 * typo shows here and not as every value failing later. */
static int check_time_format(reader *r, uint32_t v, const char *f)
{
    char b1[48];
    if (!*f)
        return fail_at(r, &r->nodes[v], KEEL_ESCHEMA,
                       "%stime_format is empty (leave it out for ISO 8601)", r->ctx);
    for (const char *p = f; *p; p++) {
        if (*p != '%') continue;
        if (!p[1] || !strchr("YmdHMSfz%", p[1]))
            return fail_at(r, &r->nodes[v], KEEL_ESCHEMA,
                           "%stime_format '%s': unknown directive '%%%.1s' (known: %%Y %%m %%d "
                           "%%H %%M %%S %%f %%z %%%%)",
                           r->ctx, clip(f, b1), p + 1);
        p++;
    }
    return KEEL_OK;
}

/* ---- the schema ------------------------------------------------------------------------- */

enum {
    C_NAME,
    C_DISPLAY,
    C_DESCRIPTION,
    C_TYPE,
    C_ROLE,
    C_NULLABLE,
    C_ON_INVALID,
    C_MIN,
    C_MAX,
    C_INTEGER,
    C_CATEGORIES,
    C_TRUE,
    C_FALSE,
    C_TIME_FORMAT,
    C_MISSING,
    C_PII,
    C_SENSITIVE,
    C_COUNT
};
static const char *const column_keys[C_COUNT] = {
    "name",         "display_name", "description", "type",    "role",       "nullable",
    "on_invalid",   "min",          "max",         "integer", "categories", "true_values",
    "false_values", "time_format",  "missing",     "pii",     "sensitive"};

#define T(x) (1u << KEEL_TYPE_##x)
/* The column types a key may appear in (a bit per keel_type); keys not listed: all. */
static unsigned key_types(int k)
{
    switch (k) {
    case C_MIN:
    case C_MAX:
        return T(NUMERIC) | T(TIMESTAMP);
    case C_INTEGER:
        return T(NUMERIC);
    case C_CATEGORIES:
        return T(CATEGORICAL);
    case C_TRUE:
    case C_FALSE:
        return T(BOOLEAN);
    case C_TIME_FORMAT:
        return T(TIMESTAMP);
    default:
        return ~0u;
    }
}
#undef T

static const char *key_types_text(int k)
{
    switch (k) {
    case C_MIN:
    case C_MAX:
        return "numeric and timestamp columns";
    case C_INTEGER:
        return "numeric columns";
    case C_CATEGORIES:
        return "categorical columns";
    case C_TRUE:
    case C_FALSE:
        return "boolean columns";
    default:
        return "timestamp columns";
    }
}

/* Reads the column at node m (the index-th, 0-based) into a new column of s. */
static int read_column(reader *r, keel_schema *s, uint32_t m, size_t index, uint32_t *name_node)
{
    const node *nd = &r->nodes[m];
    char b1[48];
    if (nd->kind != N_MAP)
        return fail_at(r, nd, KEEL_ESCHEMA,
                       "column %zu must be a mapping (name: ..., type: ...), not %s", index + 1,
                       kind_name(nd->kind));
    /* The name first, so that every message below can show it. */
    const char *name = NULL;
    for (uint32_t k = m + 1; k < nd->end; k = r->nodes[r->nodes[k].end].end)
        if (r->nodes[k].kind == N_SCALAR && !strcmp(str(r, k), "name") &&
            r->nodes[r->nodes[k].end].kind == N_SCALAR)
            name = str(r, r->nodes[k].end);
    if (name && *name) {
        snprintf(r->ctx, sizeof r->ctx, "column '%s': ", clip(name, b1));
        snprintf(r->in, sizeof r->in, " in column '%s'", clip(name, b1));
    } else {
        snprintf(r->ctx, sizeof r->ctx, "column %zu: ", index + 1);
        snprintf(r->in, sizeof r->in, " in column %zu", index + 1);
    }

    uint32_t v[C_COUNT], k[C_COUNT];
    int rc = collect(r, m, column_keys, C_COUNT, v, k);
    if (rc) return rc;
    if (!v[C_NAME]) return fail_at(r, nd, KEEL_ESCHEMA, "missing required key 'name'%s", r->in);
    if (!v[C_TYPE]) return fail_at(r, nd, KEEL_ESCHEMA, "missing required key 'type'%s", r->in);
    if ((rc = scalar(r, v[C_NAME], "name", &name))) return rc;
    if (!*name)
        return fail_at(r, &r->nodes[v[C_NAME]], KEEL_ESCHEMA, "a column name cannot be empty");
    *name_node = v[C_NAME];
    keel_schema_column *c;
    if ((rc = keel_schema_add_column(s, name, &c)))
        return keel_error_set(r->e, rc, "out of memory");

    int t = 0, role = 0, oi = 0, pii = 0;
    if ((rc = get_enum(r, v[C_TYPE], "type", 0, &t))) return rc;
    c->type = (keel_type)t;
    if (v[C_ROLE] && (rc = get_enum(r, v[C_ROLE], "role", 1, &role))) return rc;
    c->role = (keel_role)role;
    if (v[C_ON_INVALID] && (rc = get_enum(r, v[C_ON_INVALID], "on_invalid", 2, &oi))) return rc;
    c->on_invalid = (keel_on_invalid)oi;
    if (v[C_PII] && (rc = get_enum(r, v[C_PII], "pii", 3, &pii))) return rc;
    c->pii = (keel_pii)pii;

    for (int key = 0; key < C_COUNT; key++)
        if (v[key] && !(key_types(key) & (1u << c->type)))
            return fail_at(r, &r->nodes[k[key]], KEEL_ESCHEMA,
                           "%s'%s' applies only to %s, and this column is %s", r->ctx,
                           column_keys[key], key_types_text(key), keel_type_name(c->type));

    if ((v[C_DISPLAY] && (rc = get_text(r, v[C_DISPLAY], "display_name", &c->display_name))) ||
        (v[C_DESCRIPTION] &&
         (rc = get_text(r, v[C_DESCRIPTION], "description", &c->description))) ||
        (v[C_NULLABLE] && (rc = get_bool(r, v[C_NULLABLE], "nullable", &c->nullable))) ||
        (v[C_INTEGER] && (rc = get_bool(r, v[C_INTEGER], "integer", &c->integer))) ||
        (v[C_SENSITIVE] && (rc = get_bool(r, v[C_SENSITIVE], "sensitive", &c->sensitive))))
        return rc;

    for (int key = C_MIN; key <= C_MAX; key++) {
        if (!v[key]) continue;
        double *dst = key == C_MIN ? &c->min : &c->max;
        rc = c->type == KEEL_TYPE_TIMESTAMP ? get_timestamp(r, v[key], column_keys[key], dst)
                                            : get_number(r, v[key], column_keys[key], dst);
        if (rc) return rc;
        *(key == C_MIN ? &c->has_min : &c->has_max) = true;
    }
    if (c->has_min && c->has_max && c->min > c->max)
        return fail_at(r, &r->nodes[v[C_MAX]], KEEL_ESCHEMA, "%smax is below min", r->ctx);

    if (v[C_CATEGORIES] &&
        (rc = get_list(r, v[C_CATEGORIES], "categories", &c->categories, "category")))
        return rc;
    if (c->type == KEEL_TYPE_CATEGORICAL && c->categories.n == 0)
        return fail_at(r, v[C_CATEGORIES] ? &r->nodes[v[C_CATEGORIES]] : nd, KEEL_ESCHEMA,
                       "%sa categorical column needs its categories: categories: [a, b, ...]",
                       r->ctx);
    if ((v[C_TRUE] && (rc = get_list(r, v[C_TRUE], "true_values", &c->true_values, NULL))) ||
        (v[C_FALSE] && (rc = get_list(r, v[C_FALSE], "false_values", &c->false_values, NULL))))
        return rc;
    for (size_t i = 0; i < c->false_values.n; i++)
        if (keel_strlist_find(&c->true_values, c->false_values.items[i],
                              strlen(c->false_values.items[i])) >= 0)
            return fail_at(r, &r->nodes[v[C_FALSE]], KEEL_ESCHEMA,
                           "%s'%s' is in both true_values and false_values", r->ctx,
                           clip(c->false_values.items[i], b1));
    if (v[C_TIME_FORMAT]) {
        if ((rc = get_text(r, v[C_TIME_FORMAT], "time_format", &c->time_format))) return rc;
        if ((rc = check_time_format(r, v[C_TIME_FORMAT], c->time_format ? c->time_format : "")))
            return rc;
    }
    if (v[C_MISSING]) {
        if ((rc = get_list(r, v[C_MISSING], "missing", &c->missing, NULL))) return rc;
        c->has_missing = true;
    }
    if (c->on_invalid == KEEL_ON_INVALID_CLIP && !c->has_min && !c->has_max)
        return fail_at(r, &r->nodes[v[C_ON_INVALID]], KEEL_ESCHEMA,
                       "%son_invalid: clip needs min or max (or both)", r->ctx);
    if (c->on_invalid == KEEL_ON_INVALID_CLIP && c->type != KEEL_TYPE_NUMERIC &&
        c->type != KEEL_TYPE_TIMESTAMP)
        return fail_at(r, &r->nodes[v[C_ON_INVALID]], KEEL_ESCHEMA,
                       "%son_invalid: clip applies only to numeric and timestamp columns", r->ctx);
    return KEEL_OK;
}

enum { R_VERSION, R_SOURCE, R_FORMAT, R_CSV, R_DECIMAL, R_ENCODING, R_MISSING, R_COLUMNS, R_COUNT };
static const char *const root_keys[R_COUNT] = {"version", "source",   "format",  "csv",
                                               "decimal", "encoding", "missing", "columns"};
enum { CSV_DELIMITER, CSV_QUOTE, CSV_HEADER, CSV_COUNT };
static const char *const csv_keys[CSV_COUNT] = {"delimiter", "quote", "header"};

static int read_columns(reader *r, keel_schema *s, uint32_t v)
{
    const node *nd = &r->nodes[v];
    if (nd->kind != N_SEQ)
        return fail_at(r, nd, KEEL_ESCHEMA, "columns must be a list (- name: ...), not %s",
                       kind_name(nd->kind));
    if (nd->n > MAX_COLUMNS)
        return fail_at(r, nd, KEEL_ELIMIT, "%u columns; keel reads at most %d", nd->n, MAX_COLUMNS);
    keel_strset names = {0};
    uint32_t *name_nodes = keel_calloc(nd->n ? nd->n : 1, sizeof *name_nodes);
    int rc = KEEL_OK;
    if (!name_nodes || keel_strset_init(&names, nd->n)) {
        rc = keel_error_set(r->e, KEEL_ENOMEM, "out of memory");
        goto done;
    }
    size_t i = 0, target = SIZE_MAX;
    char b1[48];
    for (uint32_t c = v + 1; c < nd->end; c = r->nodes[c].end, i++) {
        if ((rc = read_column(r, s, c, i, &name_nodes[i]))) goto done;
        const keel_schema_column *col = &s->columns[i];
        long first = keel_strset_add(&names, col->name, name_nodes[i]);
        if (first >= 0) {
            rc = fail_at(r, &r->nodes[name_nodes[i]], KEEL_ESCHEMA,
                         "column '%s' appears twice (first at line %u)", clip(col->name, b1),
                         r->nodes[first].line);
            goto done;
        }
        if (col->role == KEEL_ROLE_TARGET) {
            if (target != SIZE_MAX) {
                rc = fail_at(r, &r->nodes[c], KEEL_ESCHEMA,
                             "%sa second column with role target (the first is '%s'); a "
                             "schema has at most one",
                             r->ctx, clip(s->columns[target].name, b1));
                goto done;
            }
            target = i;
        }
    }
done:
    keel_free(names.slots);
    keel_free(name_nodes);
    return rc;
}

static int read_schema(reader *r, keel_schema *s)
{
    if (r->n_nodes == 0)
        return keel_error_set(r->e, KEEL_ESCHEMA,
                              "%s: the file is empty (a schema starts with 'version: 1')", r->name);
    if (r->nodes[0].kind != N_MAP)
        return fail_at(r, &r->nodes[0], KEEL_ESCHEMA,
                       "a schema is a mapping (version: 1, columns: ...), not %s",
                       kind_name(r->nodes[0].kind));
    uint32_t v[R_COUNT], k[R_COUNT];
    const char *t = "";
    char b1[48];
    int rc = collect(r, 0, root_keys, R_COUNT, v, k);
    if (rc) return rc;
    if (!v[R_VERSION])
        return fail_at(r, &r->nodes[0], KEEL_ESCHEMA, "missing required key 'version'");
    if ((rc = scalar(r, v[R_VERSION], "version", &t))) return rc;
    if (strcmp(t, "1"))
        return fail_at(r, &r->nodes[v[R_VERSION]], KEEL_ESCHEMA,
                       "unsupported schema version '%s' (this keel reads version 1)", clip(t, b1));
    if (v[R_SOURCE] && (rc = get_text(r, v[R_SOURCE], "source", &s->source))) return rc;
    if (v[R_FORMAT]) {
        if ((rc = scalar(r, v[R_FORMAT], "format", &t))) return rc;
        if (!strcmp(t, "csv"))
            s->format = KEEL_FORMAT_CSV;
        else if (!strcmp(t, "jsonl"))
            s->format = KEEL_FORMAT_JSONL;
        else
            return fail_at(r, &r->nodes[v[R_FORMAT]], KEEL_ESCHEMA,
                           "unknown format '%s' (expected csv or jsonl)", clip(t, b1));
    }
    if (v[R_CSV]) {
        uint32_t cv[CSV_COUNT], ck[CSV_COUNT];
        if (s->format != KEEL_FORMAT_CSV)
            return fail_at(r, &r->nodes[k[R_CSV]], KEEL_ESCHEMA,
                           "'csv' settings apply only to format: csv");
        if (r->nodes[v[R_CSV]].kind != N_MAP)
            return fail_at(r, &r->nodes[v[R_CSV]], KEEL_ESCHEMA,
                           "csv must be a mapping (delimiter: ..., quote: ..., header: ...), "
                           "not %s",
                           kind_name(r->nodes[v[R_CSV]].kind));
        strcpy(r->in, " in csv");
        if ((rc = collect(r, v[R_CSV], csv_keys, CSV_COUNT, cv, ck))) return rc;
        r->in[0] = '\0';
        if ((cv[CSV_DELIMITER] &&
             (rc = get_char(r, cv[CSV_DELIMITER], "delimiter", &s->delimiter))) ||
            (cv[CSV_QUOTE] && (rc = get_char(r, cv[CSV_QUOTE], "quote", &s->quote))) ||
            (cv[CSV_HEADER] && (rc = get_bool(r, cv[CSV_HEADER], "header", &s->header))))
            return rc;
    }
    if (v[R_DECIMAL]) {
        if ((rc = get_char(r, v[R_DECIMAL], "decimal", &s->decimal))) return rc;
        if (s->decimal != '.' && s->decimal != ',')
            return fail_at(r, &r->nodes[v[R_DECIMAL]], KEEL_ESCHEMA,
                           "decimal must be \".\" or \",\"");
    }
    if (v[R_ENCODING]) {
        if ((rc = scalar(r, v[R_ENCODING], "encoding", &t))) return rc;
        if (!strcasecmp(t, "utf-8") || !strcasecmp(t, "utf8"))
            s->encoding = KEEL_ENC_UTF8;
        else if (!strcasecmp(t, "latin-1") || !strcasecmp(t, "latin1") ||
                 !strcasecmp(t, "iso-8859-1"))
            s->encoding = KEEL_ENC_LATIN1;
        else
            return fail_at(r, &r->nodes[v[R_ENCODING]], KEEL_ESCHEMA,
                           "unknown encoding '%s' (expected utf-8 or latin-1)", clip(t, b1));
    }
    if (v[R_MISSING]) {
        keel_strlist_clear(&s->missing);
        if ((rc = get_list(r, v[R_MISSING], "missing", &s->missing, NULL))) return rc;
    }
    if (!v[R_COLUMNS])
        return fail_at(r, &r->nodes[0], KEEL_ESCHEMA, "missing required key 'columns'");
    return read_columns(r, s, v[R_COLUMNS]);
}

int keel_schema_parse(const char *text, size_t n, const char *name, keel_schema **out,
                      keel_error *e)
{
    *out = NULL;
    reader r = {.name = name ? name : "schema", .e = e};
    keel_buf_init(&r.text);
    keel_schema *s = NULL;
    int rc;
    if (n > MAX_TEXT) {
        rc = keel_error_set(e, KEEL_ELIMIT, "%s: %zu bytes; a schema may be at most 16 MiB", r.name,
                            n);
        goto fail;
    }
    if ((rc = build_tree(&r, text, n))) goto fail;
    s = keel_schema_new();
    if (!s) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = read_schema(&r, s))) goto fail;
    /* The reader has checked most rules already, with positions; this catches the rest
     * (e.g. a delimiter equal to the quote) and any rule added to schema.c later. */
    keel_error ce;
    if ((rc = keel_schema_check(s, &ce))) {
        keel_error_set(e, rc, "%s: %s", r.name, ce.msg);
        goto fail;
    }
    keel_free(r.nodes);
    keel_buf_free(&r.text);
    *out = s;
    return KEEL_OK;
fail:
    keel_schema_free(s);
    keel_free(r.nodes);
    keel_buf_free(&r.text);
    return rc;
}

int keel_schema_load(const char *path, keel_schema **out, keel_error *e)
{
    *out = NULL;
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_file_read(path, MAX_TEXT, &b, e);
    if (rc == KEEL_ELIMIT)
        keel_error_set(e, rc, "%s: larger than %zu MiB; not a schema", path, MAX_TEXT >> 20);
    else if (rc == KEEL_OK)
        rc = keel_schema_parse(b.data, b.len, path, out, e);
    keel_buf_free(&b);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Decodes one UTF-8 character at s (n bytes left): its length, or 0 if the bytes are not
 * valid UTF-8. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
    if (len > n || !keel_utf8_valid((const char *)s, len)) return 0;
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t v = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        v = v << 6 | (s[i] & 0x3F);
    *cp = v;
    return len;
}

/* Characters a reviewer could not see or that YAML treats specially: always escaped. This
 * includes everything libyaml refuses unescaped (C0/C1 controls, U+FFFE, U+FFFF) and the
 * characters it reads as line breaks (U+0085, U+2028, U+2029). */
static bool invisible(uint32_t c)
{
    return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0) || c == 0xAD ||
           (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
           (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
           (c >= 0xFFF0 && c <= 0xFFFC) || c == 0xFFFE || c == 0xFFFF;
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether s can be written without quotes and read back as the same text by any YAML
 * reader, in block and in flow context. */
static bool plain_safe(const char *s, size_t n)
{
    static const char *const keywords[] = {"y",  "n",   "yes",  "no",  "true", "false",
                                           "on", "off", "null", "nan", "inf",  "infinity"};
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0 || !(is_alpha(u[0]) || u[0] == '_' || u[0] == '/' || u[0] >= 0x80) ||
        u[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(keywords); i++)
        if (strlen(keywords[i]) == n && !strncasecmp(s, keywords[i], n)) return false;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c < 0x80) {
            if (!(is_alpha(c) || (c >= '0' && c <= '9') || strchr("_-./ ", c)) || c == '\0')
                return false;
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_char(u + i, n - i, &cp);
        if (!len || invisible(cp)) return false;
        i += len;
    }
    return true;
}

/* Appends s as a double-quoted YAML scalar. Bytes that are not UTF-8 (possible only in a
 * schema built in memory; the reader never makes them) become U+FFFD. */
static int put_quoted(keel_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int rc = keel_buf_putc(b, '"');
    for (size_t i = 0; i < n && rc == KEEL_OK;) {
        unsigned char c = u[i];
        uint32_t cp;
        size_t len = utf8_char(u + i, n - i, &cp);
        if (!len) {
            rc = keel_buf_puts(b, "\\uFFFD");
            i++;
            continue;
        }
        if (c == '"' || c == '\\')
            rc = keel_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = keel_buf_puts(b, "\\n");
        else if (c == '\t')
            rc = keel_buf_puts(b, "\\t");
        else if (c == '\r')
            rc = keel_buf_puts(b, "\\r");
        else if (invisible(cp))
            rc = cp <= 0xFF ? keel_buf_printf(b, "\\x%02X", (unsigned)cp)
                            : keel_buf_printf(b, "\\u%04X", (unsigned)cp);
        else
            rc = keel_buf_append(b, s + i, len);
        i += len;
    }
    return rc ? rc : keel_buf_putc(b, '"');
}

static int put_scalar(keel_buf *b, const char *s)
{
    size_t n = strlen(s);
    return plain_safe(s, n) ? keel_buf_append(b, s, n) : put_quoted(b, s, n);
}

/* "key: value\n" at an indent; value as put_scalar writes it. */
static int put_kv(keel_buf *b, int indent, const char *key, const char *value)
{
    int rc = keel_buf_printf(b, "%*s%s: ", indent, "", key);
    if (!rc) rc = put_scalar(b, value);
    return rc ? rc : keel_buf_putc(b, '\n');
}

static int put_char_kv(keel_buf *b, int indent, const char *key, char c)
{
    char s[2] = {c, '\0'};
    int rc = keel_buf_printf(b, "%*s%s: ", indent, "", key);
    if (!rc) rc = put_quoted(b, s, 1);
    return rc ? rc : keel_buf_putc(b, '\n');
}

/* A list on one line ([a, b]) when it has at most 20 items, each short, and the whole
 * fits in about a line; otherwise one "- item" per line. */
static int put_list(keel_buf *b, int indent, const char *key, const keel_strlist *l)
{
    keel_buf flow;
    keel_buf_init(&flow);
    bool one_line = l->n <= 20;
    int rc = keel_buf_putc(&flow, '[');
    for (size_t i = 0; i < l->n && one_line && rc == KEEL_OK; i++) {
        size_t before = flow.len;
        if (i) rc = keel_buf_puts(&flow, ", ");
        if (!rc) rc = put_scalar(&flow, l->items[i]);
        one_line = flow.len - before <= 34 && flow.len <= 100;
    }
    if (!rc) rc = keel_buf_putc(&flow, ']');
    if (rc) goto done;
    if (one_line) {
        rc = keel_buf_printf(b, "%*s%s: %s\n", indent, "", key, flow.data);
        goto done;
    }
    rc = keel_buf_printf(b, "%*s%s:\n", indent, "", key);
    for (size_t i = 0; i < l->n && rc == KEEL_OK; i++) {
        rc = keel_buf_printf(b, "%*s  - ", indent, "");
        if (!rc) rc = put_scalar(b, l->items[i]);
        if (!rc) rc = keel_buf_putc(b, '\n');
    }
done:
    keel_buf_free(&flow);
    return rc;
}

/* A column's note as comment lines. Comments cannot hold escapes, so what libyaml would
 * refuse or read as a line break, and bytes that are not UTF-8, become '?'. */
static int put_note(keel_buf *b, const char *note)
{
    const unsigned char *u = (const unsigned char *)note;
    size_t n = strlen(note);
    int rc = keel_buf_puts(b, "  # ");
    for (size_t i = 0; i < n && rc == KEEL_OK;) {
        uint32_t cp;
        size_t len = utf8_char(u + i, n - i, &cp);
        if (len && (cp == '\n' || cp == '\r')) {
            /* \r\n is one break; a trailing break adds no empty comment line */
            if (cp == '\r' && i + 1 < n && u[i + 1] == '\n') len++;
            if (i + len < n) rc = keel_buf_puts(b, "\n  # ");
        } else if (!len || (invisible(cp) && cp != '\t')) {
            rc = keel_buf_putc(b, '?');
            len = len ? len : 1;
        } else {
            rc = keel_buf_append(b, note + i, len);
        }
        i += len;
    }
    return rc ? rc : keel_buf_putc(b, '\n');
}

static int put_bound(keel_buf *b, const char *key, keel_type t, double v)
{
    if (!isfinite(v)) return KEEL_OK; /* an infinite bound is no bound */
    int rc = keel_buf_printf(b, "    %s: ", key);
    if (!rc && t == KEEL_TYPE_TIMESTAMP) {
        /* Clamped in integers: (double)TS_HIGH rounds up into the year 10000. */
        char ts[40];
        int64_t us = v >= (double)TS_HIGH ? TS_HIGH : v <= (double)TS_LOW ? TS_LOW : (int64_t)v;
        keel_format_timestamp(us, ts);
        rc = keel_buf_printf(b, "\"%s\"", ts);
    } else if (!rc) {
        rc = keel_buf_json_num(b, v);
    }
    return rc ? rc : keel_buf_putc(b, '\n');
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

static int put_column(keel_buf *b, const keel_schema_column *c)
{
    if (c->note) TRY(put_note(b, c->note));
    TRY(keel_buf_puts(b, "  - name: "));
    TRY(put_scalar(b, c->name ? c->name : ""));
    TRY(keel_buf_putc(b, '\n'));
    if (c->display_name) TRY(put_kv(b, 4, "display_name", c->display_name));
    if (c->description) TRY(put_kv(b, 4, "description", c->description));
    TRY(put_kv(b, 4, "type", keel_type_name(c->type)));
    TRY(put_kv(b, 4, "role", keel_role_name(c->role)));
    if (!c->nullable) TRY(keel_buf_puts(b, "    nullable: false\n"));
    if (c->on_invalid != KEEL_ON_INVALID_REJECT)
        TRY(put_kv(b, 4, "on_invalid", keel_on_invalid_name(c->on_invalid)));
    bool ranged = c->type == KEEL_TYPE_NUMERIC || c->type == KEEL_TYPE_TIMESTAMP;
    if (ranged && c->has_min) TRY(put_bound(b, "min", c->type, c->min));
    if (ranged && c->has_max) TRY(put_bound(b, "max", c->type, c->max));
    if (c->type == KEEL_TYPE_NUMERIC && c->integer) TRY(keel_buf_puts(b, "    integer: true\n"));
    if (c->type == KEEL_TYPE_CATEGORICAL) TRY(put_list(b, 4, "categories", &c->categories));
    if (c->type == KEEL_TYPE_BOOLEAN && c->true_values.n)
        TRY(put_list(b, 4, "true_values", &c->true_values));
    if (c->type == KEEL_TYPE_BOOLEAN && c->false_values.n)
        TRY(put_list(b, 4, "false_values", &c->false_values));
    if (c->type == KEEL_TYPE_TIMESTAMP && c->time_format && c->time_format[0])
        TRY(put_kv(b, 4, "time_format", c->time_format));
    if (c->has_missing) TRY(put_list(b, 4, "missing", &c->missing));
    if (c->pii != KEEL_PII_NONE) TRY(put_kv(b, 4, "pii", keel_pii_name(c->pii)));
    if (c->sensitive) TRY(keel_buf_puts(b, "    sensitive: true\n"));
    return KEEL_OK;
}

/* "# key: a | b | c" for the file's header, so the choices are in front of the reviewer. */
static int put_choices(keel_buf *b, const char *key, int which)
{
    TRY(keel_buf_printf(b, "#   %s:", key));
    for (int i = 0; i < enum_count[which]; i++)
        TRY(keel_buf_printf(b, "%s %s", i ? " |" : "", enum_name(which, i)));
    return keel_buf_putc(b, '\n');
}

static int write_schema(const keel_schema *s, keel_buf *b)
{
    TRY(keel_buf_puts(b, "# keel schema \xe2\x80\x94 review every column, then: "
                         "keel data validate FILE --schema THIS_FILE\n"
                         "# Reference: docs/schema.md. Keys keel does not know are errors.\n"
                         "# Column settings:\n"));
    TRY(put_choices(b, "type", 0));
    TRY(put_choices(b, "role", 1));
    TRY(put_choices(b, "on_invalid", 2));
    TRY(put_choices(b, "pii", 3));
    TRY(keel_buf_printf(b, "version: %d\n", s->version));
    if (s->source) TRY(put_kv(b, 0, "source", s->source));
    TRY(keel_buf_printf(b, "format: %s\n", s->format == KEEL_FORMAT_JSONL ? "jsonl" : "csv"));
    if (s->format == KEEL_FORMAT_CSV) {
        TRY(keel_buf_puts(b, "csv:\n"));
        TRY(put_char_kv(b, 2, "delimiter", s->delimiter));
        TRY(put_char_kv(b, 2, "quote", s->quote));
        TRY(keel_buf_printf(b, "  header: %s\n", s->header ? "true" : "false"));
    }
    TRY(put_char_kv(b, 0, "decimal", s->decimal));
    TRY(keel_buf_printf(b, "encoding: %s\n", s->encoding == KEEL_ENC_LATIN1 ? "latin-1" : "utf-8"));
    TRY(put_list(b, 0, "missing", &s->missing));
    TRY(keel_buf_puts(b, s->n_columns ? "columns:\n" : "columns: []\n"));
    for (size_t i = 0; i < s->n_columns; i++) {
        if (i) TRY(keel_buf_putc(b, '\n'));
        TRY(put_column(b, &s->columns[i]));
    }
    return KEEL_OK;
}

int keel_schema_write(const keel_schema *s, keel_buf *out)
{
    keel_buf_mark start = keel_buf_begin(out);
    return keel_buf_end_rc(out, start, write_schema(s, out));
}
