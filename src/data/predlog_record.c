/*
 * predlog_record.c — the prediction log's record: written for each predicted row by the
 * server, read back by whatever monitors the log (predlog_record.h has the format).
 *
 * Design. Writing is on the request path of every logged prediction, so it uses the buffer's
 * own number writers rather than printf, and splits the record in two: the part every row of
 * a request shares (time, protocol, model, version, SHA-256) is written once per request
 * into a head that each row's line copies, and only the row number, the inputs, the outputs
 * and the latency are written per row.
 *
 * Reading is the other way round from the hot path: a log is read once, line by line, by a
 * program that has time to check everything. Each line is parsed by keel's strict JSON parser
 * (base/json.c) into a document the reader keeps and reuses, so the record's strings are
 * borrowed from it and a file is read without an allocation per line once the reader's
 * arrays have grown to the widest row. The reader checks every field's type and form, refuses
 * a key given twice (at the top or among a row's inputs or outputs: a monitor could not say
 * which value counts), and skips keys it does not know, so that it reads what a later server
 * might add. Errors name the field ("inputs[\"age\"]: ...") and quote at most about 40 bytes
 * of any value, so a hostile line cannot make a long message.
 *
 * Bounds: a line's size is the caller's (the log's writer drops lines over half its queue);
 * the parser bounds nesting; the name table is twice the widest row's columns.
 */
#include "data/predlog_record.h"

#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---------------------------------------------------------------------------- */

#define PUT(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != KEEL_OK) goto fail;                                                      \
    } while (0)

static int put_str(keel_buf *b, const char *s)
{
    return keel_buf_json_str(b, s, strlen(s));
}

/* Value r of col as JSON: text as a string, numbers as numbers, booleans, null if missing. */
static int put_value(keel_buf *b, const keel_input_column *col, size_t row)
{
    if (col->missing && col->missing[row]) return keel_buf_puts(b, "null");
    switch (col->type) {
    case KEEL_COL_TEXT: {
        const char *t = ((const char *const *)col->data)[row];
        return t ? keel_buf_json_str(b, t, strlen(t)) : keel_buf_puts(b, "null");
    }
    case KEEL_COL_F64:
        return keel_buf_json_num(b, ((const double *)col->data)[row]);
    case KEEL_COL_F32:
        return keel_buf_json_float(b, ((const float *)col->data)[row]);
    case KEEL_COL_I64:
        return keel_buf_put_i64(b, ((const int64_t *)col->data)[row]);
    case KEEL_COL_I32:
        return keel_buf_put_i64(b, ((const int32_t *)col->data)[row]);
    case KEEL_COL_BOOL:
        return keel_buf_puts(b, ((const unsigned char *)col->data)[row] ? "true" : "false");
    }
    return KEEL_OK; /* not a column type: nothing (keel_model_predict_columns refuses it) */
}

int keel_predlog_record_head(keel_buf *head, const keel_predlog_request *q)
{
    char when[40];
    int rc;
    keel_format_timestamp(q->time_micros, when);
    keel_buf_reset(head);
    PUT(keel_buf_puts(head, ",\"time\":"));
    PUT(put_str(head, when));
    PUT(keel_buf_puts(head, ",\"protocol\":"));
    PUT(put_str(head, q->protocol));
    PUT(keel_buf_puts(head, ",\"model\":"));
    PUT(put_str(head, q->model));
    PUT(keel_buf_puts(head, ",\"version\":"));
    PUT(put_str(head, q->version));
    PUT(keel_buf_puts(head, ",\"sha256\":"));
    PUT(put_str(head, q->sha256));
    PUT(keel_buf_puts(head, ",\"inputs\":{"));
    return KEEL_OK;
fail:
    keel_buf_reset(head);
    return rc;
}

int keel_predlog_record_write(keel_buf *line, const keel_predlog_request *q, const keel_buf *head,
                              size_t r)
{
    size_t k = q->n_outputs;
    /* Tenths of a microsecond, rounded as %.1f rounds (to nearest). */
    double tenths = q->latency_seconds > 0 ? floor(q->latency_seconds * 1e7 + 0.5) : 0;
    uint64_t lat = tenths < 1e18 ? (uint64_t)tenths : 0;
    int rc;
    keel_buf_reset(line);
    PUT(keel_buf_puts(line, "{\"request_id\":"));
    PUT(put_str(line, q->request_id));
    PUT(keel_buf_puts(line, ",\"row\":"));
    PUT(keel_buf_put_u64(line, r));
    PUT(keel_buf_append(line, head->data, head->len));
    for (size_t c = 0; c < q->n_cols; c++) {
        if (c) PUT(keel_buf_putc(line, ','));
        PUT(put_str(line, q->cols[c].name));
        PUT(keel_buf_putc(line, ':'));
        PUT(put_value(line, &q->cols[c], r));
    }
    PUT(keel_buf_puts(line, "},\"outputs\":{"));
    for (size_t j = 0; j < k; j++) {
        if (j) PUT(keel_buf_putc(line, ','));
        PUT(put_str(line, q->output_names[j]));
        PUT(keel_buf_putc(line, ':'));
        PUT(keel_buf_json_float(line, q->outputs[r * k + j]));
    }
    PUT(keel_buf_puts(line, "},\"latency_us\":"));
    PUT(keel_buf_put_u64(line, lat / 10));
    PUT(keel_buf_putc(line, '.'));
    PUT(keel_buf_putc(line, (char)('0' + lat % 10)));
    PUT(keel_buf_putc(line, '}'));
    return KEEL_OK;
fail:
    keel_buf_reset(line);
    return rc;
}

/* ---- reading: messages ------------------------------------------------------------------ */

/* Where a problem is: "\"row\"", or "inputs[\"age\"]" for a member of inputs or outputs. */
typedef struct place {
    char s[120];
} place;

static place field(const char *key)
{
    place p = {""};
    keel_quote_into(p.s, sizeof p.s, key, strlen(key), 40);
    return p;
}

static place member_of(const char *object, const keel_json_member *m)
{
    place p = {""};
    snprintf(p.s, sizeof p.s, "%s[", object);
    keel_quote_into(p.s, sizeof p.s, m->key, m->key_len, 40);
    size_t k = strlen(p.s);
    if (k + 1 < sizeof p.s) p.s[k] = ']', p.s[k + 1] = '\0';
    return p;
}

static int bad(keel_error *e, const place *at, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int bad(keel_error *e, const place *at, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    keel_error_set(e, KEEL_EPARSE, "%s%s%s", at ? at->s : "", at ? ": " : "", text);
    if (e) e->msg[keel_utf8_valid_prefix(e->msg, strlen(e->msg))] = '\0'; /* a cut character */
    return KEEL_EPARSE;
}

/* ---- reading: fields -------------------------------------------------------------------- */

struct keel_predlog_reader {
    keel_json_doc *doc;
    keel_predlog_value *inputs;
    size_t cap_inputs;
    keel_predlog_output *outputs;
    size_t cap_outputs;
    uint32_t *slots; /* names seen in the object being read: member index + 1; 0 = empty */
    size_t n_slots;  /* a power of two */
};

keel_predlog_reader *keel_predlog_reader_new(void)
{
    keel_predlog_reader *rd = keel_calloc(1, sizeof *rd);
    if (!rd) return NULL;
    if (!(rd->doc = keel_json_doc_new())) {
        keel_free(rd);
        return NULL;
    }
    return rd;
}

void keel_predlog_reader_free(keel_predlog_reader *rd)
{
    if (!rd) return;
    keel_json_doc_free(rd->doc);
    keel_free(rd->inputs);
    keel_free(rd->outputs);
    keel_free(rd->slots);
    keel_free(rd);
}

/* The top-level keys, in the order the writer writes them. */
enum {
    F_REQUEST_ID,
    F_ROW,
    F_TIME,
    F_PROTOCOL,
    F_MODEL,
    F_VERSION,
    F_SHA256,
    F_INPUTS,
    F_OUTPUTS,
    F_LATENCY,
    N_FIELDS
};
static const char *const field_names[N_FIELDS] = {"request_id", "row",       "time",   "protocol",
                                                  "model",      "version",   "sha256", "inputs",
                                                  "outputs",    "latency_us"};

static bool has_nul(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* A string field without NUL bytes. */
static int string_field(const keel_json *v, int f, const char **out, keel_error *e)
{
    place at = field(field_names[f]);
    if (v->type != KEEL_JSON_STRING)
        return bad(e, &at, "expected a string, got %s", keel_json_describe(v).s);
    if (has_nul(v->u.string.s, v->u.string.len))
        return bad(e, &at, "must not contain a NUL character");
    *out = v->u.string.s;
    return KEEL_OK;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z", as keel_format_timestamp writes it (years 0 to 9999), to
 * microseconds since 1970-01-01 UTC; false when s is not such a time. */
static bool parse_time(const char *s, size_t n, int64_t *micros)
{
    unsigned y, mo, d, h, mi, sec, frac = 0;
    if (n != 20 && n != 27) return false;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z' || (n == 27 && s[19] != '.'))
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec) ||
        (n == 27 && !digits(s + 20, 6, &frac)))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t days = keel_days_from_civil(y, mo, d);
    *micros = (((days * 24 + h) * 60 + mi) * 60 + sec) * INT64_C(1000000) + frac;
    return true;
}

static bool is_sha256(const char *s, size_t n)
{
    if (n != 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Makes room for n names in the table and empties it. */
static int names_reset(keel_predlog_reader *rd, size_t n, keel_error *e)
{
    size_t want = 16;
    while (want < 2 * n)
        want *= 2; /* n <= members of one object, which the line's size bounds */
    if (want > rd->n_slots) {
        uint32_t *slots = keel_reallocarray(rd->slots, want, sizeof *slots);
        if (!slots) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        rd->slots = slots;
        rd->n_slots = want;
    }
    memset(rd->slots, 0, rd->n_slots * sizeof *rd->slots);
    return KEEL_OK;
}

/* Adds member i of obj to the table; false when its name is there already. */
static bool names_add(keel_predlog_reader *rd, const keel_json *obj, size_t i)
{
    const keel_json_member *m = &obj->u.object.members[i];
    size_t mask = rd->n_slots - 1, at = (size_t)keel_hash64(m->key, m->key_len, 0x5eed) & mask;
    for (;; at = (at + 1) & mask) {
        uint32_t s = rd->slots[at];
        if (s == 0) {
            rd->slots[at] = (uint32_t)(i + 1);
            return true;
        }
        const keel_json_member *o = &obj->u.object.members[s - 1];
        if (o->key_len == m->key_len && memcmp(o->key, m->key, m->key_len) == 0) return false;
    }
}

/* Checks the object v of field f (inputs or outputs) and its names: unique, no NUL. */
static int named_object(keel_predlog_reader *rd, const keel_json *v, int f, keel_error *e)
{
    place at = field(field_names[f]);
    if (v->type != KEEL_JSON_OBJECT)
        return bad(e, &at, "expected an object of values by name, got %s", keel_json_describe(v).s);
    if (v->u.object.n > UINT32_MAX - 1) return bad(e, &at, "too many members");
    int rc = names_reset(rd, v->u.object.n, e);
    if (rc != KEEL_OK) return rc;
    for (size_t i = 0; i < v->u.object.n; i++) {
        const keel_json_member *m = &v->u.object.members[i];
        place mat = member_of(field_names[f], m);
        if (has_nul(m->key, m->key_len))
            return bad(e, &mat, "a name must not contain a NUL character");
        if (!names_add(rd, v, i)) return bad(e, &mat, "given twice");
    }
    return KEEL_OK;
}

static int read_inputs(keel_predlog_reader *rd, const keel_json *v, keel_predlog_record *rec,
                       keel_error *e)
{
    int rc = named_object(rd, v, F_INPUTS, e);
    if (rc != KEEL_OK) return rc;
    size_t n = v->u.object.n;
    if (n > rd->cap_inputs) {
        keel_predlog_value *grown = keel_reallocarray(rd->inputs, n, sizeof *grown);
        if (!grown) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        rd->inputs = grown;
        rd->cap_inputs = n;
    }
    for (size_t i = 0; i < n; i++) {
        const keel_json_member *m = &v->u.object.members[i];
        const keel_json *x = &m->value;
        keel_predlog_value *o = &rd->inputs[i];
        *o = (keel_predlog_value){.name = m->key, .number = NAN};
        place at = member_of("inputs", m);
        switch (x->type) {
        case KEEL_JSON_NULL:
            o->kind = KEEL_PREDLOG_NULL;
            break;
        case KEEL_JSON_NUMBER:
            if (!isfinite(x->u.number.value))
                return bad(e, &at, "the number %s is out of range", keel_json_describe(x).s);
            o->kind = KEEL_PREDLOG_NUMBER;
            o->number = x->u.number.value;
            o->text = x->u.number.text;
            o->len = x->u.number.len;
            break;
        case KEEL_JSON_STRING:
            if (has_nul(x->u.string.s, x->u.string.len))
                return bad(e, &at, "must not contain a NUL character");
            o->kind = KEEL_PREDLOG_TEXT;
            o->text = x->u.string.s;
            o->len = x->u.string.len;
            break;
        case KEEL_JSON_BOOL:
            o->kind = KEEL_PREDLOG_BOOL;
            o->boolean = x->u.boolean;
            break;
        default:
            return bad(e, &at, "expected a number, string, boolean or null, got %s",
                       keel_json_describe(x).s);
        }
    }
    rec->inputs = rd->inputs;
    rec->n_inputs = n;
    return KEEL_OK;
}

static int read_outputs(keel_predlog_reader *rd, const keel_json *v, keel_predlog_record *rec,
                        keel_error *e)
{
    int rc = named_object(rd, v, F_OUTPUTS, e);
    if (rc != KEEL_OK) return rc;
    size_t n = v->u.object.n;
    if (n > rd->cap_outputs) {
        keel_predlog_output *grown = keel_reallocarray(rd->outputs, n, sizeof *grown);
        if (!grown) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        rd->outputs = grown;
        rd->cap_outputs = n;
    }
    for (size_t i = 0; i < n; i++) {
        const keel_json_member *m = &v->u.object.members[i];
        const keel_json *x = &m->value;
        place at = member_of("outputs", m);
        rd->outputs[i] = (keel_predlog_output){m->key, NAN};
        if (x->type == KEEL_JSON_NULL) continue;
        if (x->type != KEEL_JSON_NUMBER)
            return bad(e, &at, "expected a number or null, got %s", keel_json_describe(x).s);
        if (!isfinite((float)x->u.number.value))
            return bad(e, &at, "%s is out of range for a float", keel_json_describe(x).s);
        rd->outputs[i].value = x->u.number.value;
    }
    rec->outputs = rd->outputs;
    rec->n_outputs = n;
    return KEEL_OK;
}

static int read_record(keel_predlog_reader *rd, const char *line, size_t n,
                       keel_predlog_record *rec, keel_error *e)
{
    keel_error je;
    int rc = keel_json_parse(rd->doc, line ? line : "", line ? n : 0, &je);
    if (rc == KEEL_ENOMEM) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if (rc != KEEL_OK) return bad(e, NULL, "not JSON: %s", je.msg);
    const keel_json *root = keel_json_root(rd->doc), *f[N_FIELDS] = {0};
    if (root->type != KEEL_JSON_OBJECT)
        return bad(e, NULL, "expected a record (a JSON object), got %s",
                   keel_json_describe(root).s);
    for (size_t i = 0; i < root->u.object.n; i++) {
        const keel_json_member *m = &root->u.object.members[i];
        for (int k = 0; k < N_FIELDS; k++) {
            if (m->key_len != strlen(field_names[k]) || memcmp(m->key, field_names[k], m->key_len))
                continue;
            place at = field(field_names[k]);
            if (f[k]) return bad(e, &at, "given twice");
            f[k] = &m->value;
            break;
        }
    }
    for (int k = 0; k < N_FIELDS; k++)
        if (!f[k]) return bad(e, NULL, "the record has no \"%s\"", field_names[k]);

    if ((rc = string_field(f[F_REQUEST_ID], F_REQUEST_ID, &rec->request_id, e)) ||
        (rc = string_field(f[F_TIME], F_TIME, &rec->time, e)) ||
        (rc = string_field(f[F_PROTOCOL], F_PROTOCOL, &rec->protocol, e)) ||
        (rc = string_field(f[F_MODEL], F_MODEL, &rec->model, e)) ||
        (rc = string_field(f[F_VERSION], F_VERSION, &rec->version, e)) ||
        (rc = string_field(f[F_SHA256], F_SHA256, &rec->sha256, e)))
        return rc;

    const keel_json *v = f[F_ROW];
    place at = field("row");
    if (v->type != KEEL_JSON_NUMBER)
        return bad(e, &at, "expected a row number, got %s", keel_json_describe(v).s);
    const char *t = v->u.number.text;
    char *end;
    errno = 0;
    unsigned long long row = strtoull(t, &end, 10);
    if (t[0] == '-' || *end != '\0' || errno == ERANGE)
        return bad(e, &at, "expected a whole number from 0, got %s", keel_json_describe(v).s);
    rec->row = row;

    at = field("time");
    if (!parse_time(rec->time, f[F_TIME]->u.string.len, &rec->time_micros))
        return bad(e, &at, "expected a UTC time such as \"2026-11-24T10:00:00.123456Z\", got %s",
                   keel_json_describe(f[F_TIME]).s);
    at = field("sha256");
    if (!is_sha256(rec->sha256, f[F_SHA256]->u.string.len))
        return bad(e, &at, "expected 64 lowercase hex digits, got %s",
                   keel_json_describe(f[F_SHA256]).s);

    v = f[F_LATENCY];
    at = field("latency_us");
    if (v->type != KEEL_JSON_NUMBER || !isfinite(v->u.number.value) || v->u.number.value < 0)
        return bad(e, &at, "expected microseconds (a number from 0), got %s",
                   keel_json_describe(v).s);
    rec->latency_us = v->u.number.value;

    if ((rc = read_inputs(rd, f[F_INPUTS], rec, e)) != KEEL_OK) return rc;
    return read_outputs(rd, f[F_OUTPUTS], rec, e);
}

int keel_predlog_record_read(keel_predlog_reader *rd, const char *line, size_t n,
                             keel_predlog_record *rec, keel_error *e)
{
    memset(rec, 0, sizeof *rec);
    keel_error_clear(e);
    int rc = read_record(rd, line, n, rec, e);
    if (rc != KEEL_OK) memset(rec, 0, sizeof *rec);
    return rc;
}
