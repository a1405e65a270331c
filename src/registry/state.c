/*
 * state.c — the registry's tables as the audit chain records them, and the check that they
 * still hold what the chain says.
 *
 * The chain proves the order and content of events; on its own it says nothing about the
 * tables beside it, which anyone with the file can edit (an admin inserted into identities,
 * champion re-pointed, an approval made up). So every change records, in the event that
 * audits it, an image of each row it wrote: the row as it is after the change, or null for a
 * row it deleted. Verification replays the images of every event in order and compares what
 * it rebuilt with every row of every table, naming table, key and field of any difference.
 *
 * An image is {"table":T,"key":[...],"row":{column: value, ...}} in the event's details,
 * under "state" (a list). Values: null, integers, numbers, strings; a text longer than
 * STATE_INLINE bytes (a profile, a log) is kept as {"sha256": hex} so events stay small.
 * "state_reset": true in an event's details means "the state is exactly the images from this
 * event on": the first event of a new registry (registry.create) and the baseline an existing
 * registry gets when it is migrated to schema 3 (registry.migrate, with an image of every
 * row) carry it. Events before the last reset say nothing about the state.
 *
 * Capture is explicit (reg_state_row after each statement that writes a covered table) rather
 * than by triggers or a database's change log, so it is the same SQL on every backend; a
 * transaction that captured images no event took is refused (reg_write_end), which keeps a
 * forgotten reg_audit from going unnoticed.
 */
#include "registry/registry_impl.h"

#include "base/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Texts longer than this are kept by their SHA-256 in an image. */
#define STATE_INLINE 256
/* How many differences verification spells out (it counts them all). */
#define STATE_SHOWN KEEL_STATE_SHOWN

typedef struct state_table {
    const char *name;
    const char *key[3]; /* the key columns, NULL after the last */
    int since;          /* the schema version that made the table */
} state_table;

/* Every table the chain covers. The audit tables themselves are the chain; the schema
 * version table is the store's, not the registry's. */
static const state_table tables[] = {
    {"identities", {"name"}, 1},  {"datasets", {"id"}, 1},
    {"runs", {"id"}, 1},          {"run_inputs", {"run_id", "dataset_id", "role"}, 1},
    {"models", {"name"}, 1},      {"model_versions", {"model", "version"}, 1},
    {"approvals", {"id"}, 1},     {"aliases", {"model", "alias"}, 1},
    {"alias_history", {"id"}, 1}, {"tags", {"kind", "object", "key"}, 1},
    {"deployments", {"id"}, 1},   {"tokens", {"id"}, 3},
};

static const state_table *table_named(const char *name)
{
    for (size_t i = 0; i < KEEL_ARRAY_LEN(tables); i++)
        if (!strcmp(tables[i].name, name)) return &tables[i];
    return NULL;
}

static int n_keys(const state_table *t)
{
    int n = 0;
    while (n < 3 && t->key[n])
        n++;
    return n;
}

/* "SELECT * FROM t WHERE k1 = ? AND k2 = ?" (where) or "... ORDER BY k1, k2" (every row). */
static int table_sql(const state_table *t, bool where, keel_buf *b)
{
    int rc = keel_buf_printf(b, "SELECT * FROM %s %s ", t->name, where ? "WHERE" : "ORDER BY");
    for (int k = 0; k < n_keys(t); k++)
        rc |= keel_buf_printf(b, "%s%s%s", k ? (where ? " AND " : ", ") : "", t->key[k],
                              where ? " = ?" : "");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* ---- rendering a row ------------------------------------------------------------------ */

static int put_value(keel_stmt *st, int c, bool by_hash, keel_buf *b)
{
    int type = keel_stmt_type(st, c);
    if (type == KEEL_STORE_NULL) return keel_buf_puts(b, "null");
    if (type == KEEL_STORE_INT) return keel_buf_printf(b, "%lld", (long long)keel_stmt_int(st, c));
    if (type == KEEL_STORE_FLOAT) return keel_buf_json_num(b, keel_stmt_double(st, c));
    const void *p;
    size_t n = 0;
    if (type == KEEL_STORE_BLOB) {
        p = keel_stmt_blob(st, c, &n);
    } else {
        p = keel_stmt_text(st, c);
        n = p ? strlen(p) : 0;
    }
    /* A blob, or text that is not UTF-8 (written behind keel's back), is kept by its hash
     * like a long text: JSON cannot hold it as it is. */
    if (!by_hash && type == KEEL_STORE_TEXT && n <= STATE_INLINE && keel_utf8_valid(p, n))
        return keel_buf_json_str(b, p ? p : "", n);
    unsigned char digest[32];
    char hex[65];
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, p, n);
    keel_sha256_final(&h, digest);
    keel_sha256_hex(digest, hex);
    return keel_buf_printf(b, "{\"sha256\":\"%s\"}", hex);
}

/* The key of st's current row, as a JSON array of its key columns' values. */
static int put_row_key(const state_table *t, keel_stmt *st, keel_buf *b)
{
    int rc = keel_buf_putc(b, '[');
    int n = keel_stmt_count(st);
    for (int k = 0; k < n_keys(t); k++) {
        int c = 0;
        while (c < n && strcmp(keel_stmt_name(st, c), t->key[k]))
            c++;
        if (k) rc |= keel_buf_putc(b, ',');
        rc |= c < n ? put_value(st, c, false, b) : keel_buf_puts(b, "null");
    }
    return rc | keel_buf_putc(b, ']') ? KEEL_ENOMEM : KEEL_OK;
}

/* A column kept by its SHA-256 however short: a bearer token's hash (tokens.c), of which the
 * trail keeps no more than 8 hex digits anywhere. */
static bool secret_column(const state_table *t, const char *name)
{
    return !strcmp(t->name, "tokens") && !strcmp(name, "sha256");
}

static int put_row(const state_table *t, keel_stmt *st, keel_buf *b)
{
    int rc = keel_buf_putc(b, '{');
    for (int c = 0; c < keel_stmt_count(st); c++) {
        const char *name = keel_stmt_name(st, c);
        bool by_hash = secret_column(t, name);
        if (c) rc |= keel_buf_putc(b, ',');
        rc |= keel_buf_json_str(b, name, strlen(name)) | keel_buf_putc(b, ':') |
              put_value(st, c, by_hash, b);
    }
    return rc | keel_buf_putc(b, '}') ? KEEL_ENOMEM : KEEL_OK;
}

static int put_image_head(keel_registry *r, const state_table *t)
{
    keel_buf *b = &r->state;
    int rc = (b->len ? keel_buf_putc(b, ',') : 0) | keel_buf_puts(b, "{\"table\":") |
             keel_buf_json_str(b, t->name, strlen(t->name)) | keel_buf_puts(b, ",\"key\":");
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

/* ---- capture ---------------------------------------------------------------------------- */

int reg_state_row(keel_registry *r, const char *table, const char *types, ...)
{
    const state_table *t = table_named(table);
    if (!t || (int)strlen(types) != n_keys(t))
        return reg_fail(r, KEEL_EINVAL, "internal error: no state table '%s' keyed by '%s'", table,
                        types);
    keel_buf sql;
    keel_buf_init(&sql);
    int rc = table_sql(t, true, &sql);
    keel_stmt *st = NULL;
    va_list ap, copy;
    va_start(ap, types);
    va_copy(copy, ap);
    if (rc == KEEL_OK) rc = keel_store_queryv(r->store, &st, sql.data, types, ap);
    va_end(ap);
    keel_buf_free(&sql);
    if (rc != KEEL_OK) {
        va_end(copy);
        return reg_store_fail(r, rc);
    }
    int step = keel_stmt_step(st);
    keel_buf *b = &r->state;
    rc = put_image_head(r, t);
    if (rc == KEEL_OK && step == KEEL_STORE_ROW) {
        rc = put_row_key(t, st, b);
        if (rc == KEEL_OK) rc = keel_buf_puts(b, ",\"row\":") | put_row(t, st, b);
    } else if (rc == KEEL_OK && step == KEEL_STORE_DONE) {
        /* Deleted: the key from the arguments, written as put_value writes a column. */
        rc = keel_buf_putc(b, '[');
        for (const char *p = types; *p; p++) {
            if (p != types) rc |= keel_buf_putc(b, ',');
            if (*p == 'i') {
                rc |= keel_buf_printf(b, "%lld", (long long)va_arg(copy, int64_t));
            } else {
                const char *s = va_arg(copy, const char *);
                rc |= keel_buf_json_str(b, s, strlen(s));
            }
        }
        rc |= keel_buf_puts(b, "],\"row\":null");
    }
    va_end(copy);
    if (rc == KEEL_OK) rc = keel_buf_putc(b, '}');
    keel_stmt_finalize(st);
    if (step < 0) return reg_store_fail(r, step);
    return rc ? reg_fail(r, KEEL_ENOMEM, "out of memory") : KEEL_OK;
}

int reg_state_all(keel_registry *r)
{
    r->state.len = 0;
    r->state_reset = true;
    for (size_t i = 0; i < KEEL_ARRAY_LEN(tables); i++) {
        const state_table *t = &tables[i];
        if (t->since > r->schema) continue;
        keel_buf sql;
        keel_buf_init(&sql);
        keel_stmt *st = NULL;
        int rc = table_sql(t, false, &sql);
        if (rc == KEEL_OK) rc = keel_store_query(r->store, &st, sql.data, NULL);
        keel_buf_free(&sql);
        if (rc != KEEL_OK) return reg_store_fail(r, rc);
        int step;
        while (rc == KEEL_OK && (step = keel_stmt_step(st)) == KEEL_STORE_ROW) {
            rc = put_image_head(r, t) | put_row_key(t, st, &r->state) |
                 keel_buf_puts(&r->state, ",\"row\":") | put_row(t, st, &r->state) |
                 keel_buf_putc(&r->state, '}');
            if (rc) rc = KEEL_ENOMEM;
        }
        keel_stmt_finalize(st);
        if (rc != KEEL_OK) return reg_fail(r, rc, "out of memory");
        if (step < 0) return reg_store_fail(r, step);
    }
    return KEEL_OK;
}

int reg_state_attach(keel_registry *r, const char *details, keel_buf *out)
{
    size_t n = strlen(details);
    if (n < 2 || details[0] != '{' || details[n - 1] != '}')
        return reg_fail(r, KEEL_EINVAL, "internal error: audit details are not a JSON object");
    bool empty = n == 2;
    int rc = keel_buf_append(out, details, n - 1);
    if (r->state_reset)
        rc |= keel_buf_puts(out, empty ? "\"state_reset\":true" : ",\"state_reset\":true");
    empty = empty && !r->state_reset;
    rc |= keel_buf_puts(out, empty ? "\"state\":[" : ",\"state\":[") |
          keel_buf_append(out, r->state.data, r->state.len) | keel_buf_puts(out, "]}");
    r->state.len = 0;
    r->state_reset = false;
    return rc ? reg_fail(r, KEEL_ENOMEM, "out of memory") : KEEL_OK;
}

/* ---- verification ----------------------------------------------------------------------- */

/* One row, by "table\x1fkey": from the chain (seq: the event whose image it is) or from the
 * tables (seq 0). row NULL: deleted. */
typedef struct state_entry {
    char *id;
    char *row;
    int64_t seq;
} state_entry;

typedef struct state_list {
    state_entry *v;
    size_t n, cap;
} state_list;

static void list_clear(state_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        keel_free(l->v[i].id);
        keel_free(l->v[i].row);
    }
    l->n = 0;
}

static int list_add(state_list *l, keel_buf *id, keel_buf *row, int64_t seq)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        state_entry *v = keel_realloc(l->v, cap * sizeof *v);
        if (!v) return KEEL_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    state_entry *e = &l->v[l->n];
    e->id = keel_strdup(id->data);
    e->row = row ? keel_strdup(row->data) : NULL;
    e->seq = seq;
    if (!e->id || (row && !e->row)) {
        keel_free(e->id);
        keel_free(e->row);
        return KEEL_ENOMEM;
    }
    l->n++;
    return KEEL_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    const state_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts by id and keeps the newest entry of each id (dropping deleted rows). */
static void list_settle(state_list *l)
{
    if (l->n) qsort(l->v, l->n, sizeof *l->v, entry_cmp);
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool newest = i + 1 == l->n || strcmp(l->v[i].id, l->v[i + 1].id);
        if (newest && l->v[i].row) {
            l->v[out++] = l->v[i];
        } else {
            keel_free(l->v[i].id);
            keel_free(l->v[i].row);
        }
    }
    l->n = out;
}

/* Parses text and writes it back compactly, so that both sides of a comparison are spelled
 * by the same writer. */
static int canonical(keel_json_doc *d, const char *text, size_t n, keel_buf *out)
{
    keel_error e = {0};
    out->len = 0;
    int rc = keel_json_parse(d, text, n, &e);
    if (rc != KEEL_OK) return rc;
    if (keel_json_write(keel_json_root(d), out) | keel_buf_putc(out, '\0')) return KEEL_ENOMEM;
    out->len--; /* NUL-terminated, the terminator not counted */
    return KEEL_OK;
}

/* The id of an image: table, a unit separator, the key as JSON. */
static int image_id(const keel_json *img, keel_buf *id)
{
    const char *table = keel_json_str(keel_json_get(img, "table"));
    const keel_json *key = keel_json_get(img, "key");
    if (!table || !key || key->type != KEEL_JSON_ARRAY) return KEEL_EFORMAT;
    id->len = 0;
    if (keel_buf_puts(id, table) | keel_buf_putc(id, '\x1f') | keel_json_write(key, id) |
        keel_buf_putc(id, '\0'))
        return KEEL_ENOMEM;
    id->len--;
    return KEEL_OK;
}

typedef struct replay {
    keel_registry *r;
    keel_registry_verify_result *res;
    keel_buf id, row;
} replay;

static void finding(keel_registry_verify_result *res, const char *fmt, ...) KEEL_PRINTF(2, 3);
static void finding(keel_registry_verify_result *res, const char *fmt, ...)
{
    if (res->state_differences < STATE_SHOWN) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res->state_shown[res->state_differences], sizeof res->state_shown[0], fmt, ap);
        va_end(ap);
    }
    res->state_differences++;
}

/* The events' images, in order, into l; *reset gets the seq of the last reset (0: none).
 * On the way, each event's signature is checked against its actor's key as the images so far
 * have it (identity.c). */
static int replay_chain(replay *p, state_list *l, keel_json_doc *d, int64_t *reset)
{
    keel_stmt *st;
    /* Only events whose details carry a state or a signature are parsed: refusals and the
     * like carry neither. */
    int rc = keel_store_query(p->r->store, &st,
                              "SELECT seq, prev_hash, actor, action, object, details FROM "
                              "audit_events WHERE details LIKE '%\"state%' OR details LIKE "
                              "'%\"signature\"%' ORDER BY seq",
                              NULL);
    if (rc != KEEL_OK) return reg_store_fail(p->r, rc);
    reg_keyring keys = {0};
    int step;
    while (rc == KEEL_OK && (step = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        int64_t seq = keel_stmt_int(st, 0);
        const char *text[5];
        for (int c = 0; c < 5; c++)
            text[c] = keel_stmt_text(st, c + 1);
        const char *details = text[4];
        keel_error e = {0};
        if (!text[0] || !text[1] || !text[2] || !text[3] || !details ||
            keel_json_parse(d, details, strlen(details), &e) != KEEL_OK)
            continue; /* the chain's check names a damaged event */
        const keel_json *root = keel_json_root(d);
        bool is_reset = keel_json_bool(keel_json_get(root, "state_reset"), false);
        const keel_json *images = keel_json_get(root, "state");
        reg_identity_check(&keys, p->res, seq, text[0], text[1], text[2], text[3], details,
                           is_reset || keel_json_len(images) > 0);
        if (is_reset) {
            list_clear(l);
            reg_keyring_clear(&keys);
            *reset = seq;
        }
        for (size_t i = 0; rc == KEEL_OK && i < keel_json_len(images); i++) {
            const keel_json *img = keel_json_at(images, i);
            const keel_json *row = keel_json_get(img, "row");
            if (image_id(img, &p->id) != KEEL_OK || !row) {
                finding(p->res, "event %lld: a state image without a table, key or row",
                        (long long)seq);
                continue;
            }
            p->row.len = 0;
            bool deleted = row->type == KEEL_JSON_NULL;
            if (!deleted && (keel_json_write(row, &p->row) | keel_buf_putc(&p->row, '\0')))
                rc = KEEL_ENOMEM;
            if (rc == KEEL_OK) rc = list_add(l, &p->id, deleted ? NULL : &p->row, seq);
            if (rc == KEEL_OK) rc = reg_keyring_apply(&keys, img);
        }
    }
    keel_stmt_finalize(st);
    reg_keyring_free(&keys);
    if (rc != KEEL_OK) return reg_fail(p->r, rc, "out of memory");
    return step < 0 ? reg_store_fail(p->r, step) : KEEL_OK;
}

/* Every row of every covered table into l, spelled as the images are. */
static int read_tables(replay *p, state_list *l, keel_json_doc *d)
{
    keel_buf raw;
    keel_buf_init(&raw);
    int rc = KEEL_OK;
    for (size_t i = 0; rc == KEEL_OK && i < KEEL_ARRAY_LEN(tables); i++) {
        const state_table *t = &tables[i];
        if (t->since > p->r->schema) continue;
        keel_stmt *st = NULL;
        raw.len = 0;
        rc = table_sql(t, false, &raw);
        if (rc == KEEL_OK && (rc = keel_store_query(p->r->store, &st, raw.data, NULL)) != KEEL_OK)
            rc = reg_store_fail(p->r, rc);
        int step = KEEL_STORE_DONE;
        while (rc == KEEL_OK && (step = keel_stmt_step(st)) == KEEL_STORE_ROW) {
            p->id.len = raw.len = 0;
            rc = keel_buf_puts(&p->id, t->name) | keel_buf_putc(&p->id, '\x1f') |
                 put_row_key(t, st, &p->id) | keel_buf_putc(&p->id, '\0') | put_row(t, st, &raw);
            if (rc) {
                rc = KEEL_ENOMEM;
                break;
            }
            p->id.len--;
            rc = canonical(d, raw.data, raw.len, &p->row);
            if (rc == KEEL_OK) rc = list_add(l, &p->id, &p->row, 0);
        }
        keel_stmt_finalize(st);
        if (rc == KEEL_OK && step < 0) rc = reg_store_fail(p->r, step);
    }
    keel_buf_free(&raw);
    return rc == KEEL_ENOMEM ? reg_fail(p->r, rc, "out of memory") : rc;
}

/* "table key" for messages: the id with its separator as a space. */
static const char *where(const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", id);
    char *sep = strchr(buf, '\x1f');
    if (sep) *sep = ' ';
    return buf;
}

/* Names each field of two rows that differs. */
static void compare_rows(replay *p, const state_entry *want, const state_entry *have)
{
    keel_json_doc *a = keel_json_doc_new(), *b = keel_json_doc_new();
    keel_error e = {0};
    char at[200];
    where(want->id, at, sizeof at);
    if (!a || !b || keel_json_parse(a, want->row, strlen(want->row), &e) != KEEL_OK ||
        keel_json_parse(b, have->row, strlen(have->row), &e) != KEEL_OK) {
        finding(p->res, "%s: the row differs from the audit trail (event %lld)", at,
                (long long)want->seq);
        goto done;
    }
    const keel_json *x = keel_json_root(a), *y = keel_json_root(b);
    keel_buf vx, vy;
    keel_buf_init(&vx);
    keel_buf_init(&vy);
    /* Fields in the trail's row, then fields only the table has. */
    for (int pass = 0; pass < 2; pass++) {
        const keel_json *from = pass ? y : x, *other = pass ? x : y;
        for (size_t i = 0; i < from->u.object.n; i++) {
            const keel_json_member *m = &from->u.object.members[i];
            const keel_json *o = keel_json_get(other, m->key);
            if (pass && o) continue; /* compared in the first pass */
            vx.len = vy.len = 0;
            keel_json_write(&m->value, &vx);
            keel_json_write(o, &vy);
            keel_buf_putc(&vx, '\0');
            keel_buf_putc(&vy, '\0');
            if (o && !strcmp(vx.data, vy.data)) continue;
            finding(p->res,
                    "%s: field %s is %.70s in the table, the audit trail says %.70s (event %lld)",
                    at, m->key, pass ? vx.data : vy.data, pass ? vy.data : vx.data,
                    (long long)want->seq);
        }
    }
    keel_buf_free(&vx);
    keel_buf_free(&vy);
done:
    keel_json_doc_free(a);
    keel_json_doc_free(b);
}

int reg_state_verify(keel_registry *r, keel_registry_verify_result *res)
{
    replay p = {.r = r, .res = res};
    keel_buf_init(&p.id);
    keel_buf_init(&p.row);
    state_list want = {0}, have = {0};
    keel_json_doc *d = keel_json_doc_new();
    int64_t reset = 0;
    int rc = d ? replay_chain(&p, &want, d, &reset) : reg_fail(r, KEEL_ENOMEM, "out of memory");
    if (rc == KEEL_OK && reset == 0) {
        /* A registry made before schema 3 is covered from its migration on; one that claims
         * schema 3 without a baseline lost it (or the schema table was edited). */
        res->state = r->schema >= 3 ? KEEL_STATE_NO_BASELINE : KEEL_STATE_NOT_COVERED;
        goto done;
    }
    if (rc == KEEL_OK) rc = read_tables(&p, &have, d);
    if (rc != KEEL_OK) goto done;
    res->state = KEEL_STATE_CHECKED;
    res->state_baseline = reset;
    list_settle(&want);
    list_settle(&have);
    res->state_rows = (int64_t)have.n;
    size_t i = 0, j = 0;
    char at[200];
    while (i < want.n || j < have.n) {
        int c = i == want.n ? 1 : j == have.n ? -1 : strcmp(want.v[i].id, have.v[j].id);
        if (c < 0) {
            finding(res, "%s: row missing; the audit trail says it was written (event %lld)",
                    where(want.v[i].id, at, sizeof at), (long long)want.v[i].seq);
            i++;
        } else if (c > 0) {
            finding(res, "%s: row not in the audit trail (written outside keel)",
                    where(have.v[j].id, at, sizeof at));
            j++;
        } else {
            if (strcmp(want.v[i].row, have.v[j].row)) compare_rows(&p, &want.v[i], &have.v[j]);
            i++;
            j++;
        }
    }
done:
    list_clear(&want);
    list_clear(&have);
    keel_free(want.v);
    keel_free(have.v);
    keel_json_doc_free(d);
    keel_buf_free(&p.id);
    keel_buf_free(&p.row);
    return rc;
}
