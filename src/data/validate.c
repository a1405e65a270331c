/*
 * validate.c — streaming validation: records in, typed rows and quarantine entries out.
 *
 * For each record the validator writes every column's value at row index n_rows of the
 * current chunk frame; only when all columns are fine does n_rows advance. A record with
 * any rejected value is written to the quarantine with all of its reasons (not just the
 * first), so one look at the quarantine shows everything wrong with a record.
 *
 * Per-field work is the hot path. Each column gets a precomputed state: its missing tokens
 * behind a filter on length and first byte (a numeric field "42" never reaches a string
 * compare), its categories in an open-addressing hash table, and its parse function chosen
 * by type. Messages are only formatted for records that are quarantined.
 *
 * Two paths feed the frame. Plain CSV records (the vast majority) are scanned and converted
 * in one pass straight from the read buffer (fast_records); every other record — JSON Lines,
 * odd quoting, CR line ends, a wrong field count, any rejected value — goes through
 * keel_csv_next and check_record. Both end in the same frame and the same quarantine; the
 * csv fuzz target requires them to agree on every count, reason, repair and value.
 */
#include "data/validate.h"

#include "data/convert.h"
#include "base/json.h"
#include "data/csv.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const reason_names[KEEL_REASON_COUNT] = {
#define KEEL_REASON_NAME(name, text) text,
    KEEL_REASON_TABLE(KEEL_REASON_NAME)
#undef KEEL_REASON_NAME
};

const char *keel_reason_name(keel_reason r)
{
    return (unsigned)r < KEEL_REASON_COUNT ? reason_names[r] : "?";
}

void keel_validate_options_init(keel_validate_options *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_rows = 8192;
    o->max_record_bytes = (size_t)64 << 20;
}

void keel_validate_result_free(keel_validate_result *r)
{
    if (!r) return;
    keel_free(r->repaired);
    r->repaired = NULL;
    keel_strlist_clear(&r->extra_columns);
}

/* ---- per-column state ---- */

/* a[0..n) == b[0..n), inline: categories are short, and a call to memcmp costs more. */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

typedef struct colstate {
    const keel_schema_column *def;
    long field; /* index of the column's field in a record */
    const keel_strlist *missing;
    uint64_t miss_len_mask; /* bit L set: some token has length L (tokens up to 63 bytes) */
    uint8_t miss_first[256];
    bool miss_long;   /* some token is 64+ bytes long */
    size_t *miss_len; /* length of each missing token */
    uint32_t *slots;  /* categorical: hash table of category index + 1; 0 = empty */
    uint32_t mask;
    size_t *cat_len; /* categorical: length of each category */
} colstate;

/* A cheap hash of a short string for category lookup: its first and last eight bytes and
 * its length, mixed. Collisions only cost a compare; keys are the schema's categories. */
static inline uint32_t cat_hash(const char *p, size_t len)
{
    uint64_t a = 0, b = 0;
    if (len >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + len - 8, 8);
    } else {
        for (size_t i = 0; i < len; i++) /* not memcpy: a variable length is a call */
            a |= (uint64_t)(unsigned char)p[i] << (8 * i);
    }
    return (uint32_t)(keel_mix64(a ^ (b * 0x9E3779B97F4A7C15ULL) ^ len) >> 32);
}

/* One rejected value of the record being checked. */
typedef struct problem {
    keel_reason reason;
    long column;    /* schema column, -1 for the whole record */
    size_t raw_off; /* where in the raw record */
} problem;

typedef struct validator {
    const keel_schema *s;
    const keel_validate_options *o;
    const char *name;
    colstate *cols;
    long n_fields; /* fields expected per record */
    keel_frame *frame;
    keel_validate_result *res;
    FILE *quarantine;
    keel_buf line; /* quarantine line being built */
    problem *problems;
    size_t n_problems, cap_problems;
    keel_error *e;
    keel_strset names;  /* schema column names -> index */
    long *field_col;    /* per field of a record: the schema column it feeds, or -1 */
    size_t *repair_log; /* columns repaired in the record being converted */
    size_t n_repair_log;
    size_t chunk_rows; /* rows per chunk handed to on_chunk */
    uint64_t *lines;   /* per row of the chunk: the line its record starts on (frame->line) */
    /* JSON Lines */
    keel_json_doc *doc;
    const keel_json **cells; /* per schema column: its value in the current record, or NULL */
    char json_error[sizeof(keel_error){0}.msg]; /* why the current line is not JSON */
} validator;

static inline __attribute__((always_inline)) bool is_missing(const colstate *c, const char *p,
                                                             size_t len)
{
    if (len < 64) {
        if (!(c->miss_len_mask >> len & 1)) return false;
        if (len && !c->miss_first[(unsigned char)p[0]]) return false;
    } else if (!c->miss_long) {
        return false;
    }
    for (size_t i = 0; i < c->missing->n; i++)
        if (c->miss_len[i] == len && same_bytes(c->missing->items[i], p, len)) return true;
    return false;
}

static void colstates_free(colstate *cols, size_t n)
{
    for (size_t i = 0; cols && i < n; i++) {
        keel_free(cols[i].slots);
        keel_free(cols[i].cat_len);
        keel_free(cols[i].miss_len);
    }
    keel_free(cols);
}

static int colstate_init(colstate *c, const keel_schema *s, const keel_schema_column *def)
{
    c->def = def;
    c->field = -1;
    c->missing = def->has_missing ? &def->missing : &s->missing;
    c->miss_len = keel_calloc(c->missing->n + 1, sizeof *c->miss_len);
    if (!c->miss_len) return KEEL_ENOMEM;
    for (size_t i = 0; i < c->missing->n; i++) {
        size_t len = c->miss_len[i] = strlen(c->missing->items[i]);
        if (len < 64)
            c->miss_len_mask |= 1ULL << len;
        else
            c->miss_long = true;
        if (len) c->miss_first[(unsigned char)c->missing->items[i][0]] = 1;
    }
    if (def->type == KEEL_TYPE_CATEGORICAL) {
        uint32_t size = 16;
        while (size < def->categories.n * 2 + 2)
            size *= 2;
        c->slots = keel_calloc(size, sizeof *c->slots);
        if (!c->slots) return KEEL_ENOMEM;
        c->mask = size - 1;
        c->cat_len = keel_calloc(def->categories.n + 1, sizeof *c->cat_len);
        if (!c->cat_len) return KEEL_ENOMEM;
        for (size_t i = 0; i < def->categories.n; i++) {
            const char *cat = def->categories.items[i];
            c->cat_len[i] = strlen(cat);
            uint32_t h = cat_hash(cat, c->cat_len[i]) & c->mask;
            while (c->slots[h])
                h = (h + 1) & c->mask;
            c->slots[h] = (uint32_t)i + 1;
        }
    }
    return KEEL_OK;
}

static inline __attribute__((always_inline)) int32_t category_code(const colstate *c, const char *p,
                                                                   size_t len)
{
    const keel_strlist *cats = &c->def->categories;
    if (cats->n <= 8) {
        /* A handful of categories: comparing lengths first beats hashing. */
        for (size_t i = 0; i < cats->n; i++)
            if (c->cat_len[i] == len && same_bytes(cats->items[i], p, len)) return (int32_t)i;
        return -1;
    }
    uint32_t h = cat_hash(p, len) & c->mask;
    while (c->slots[h]) {
        uint32_t i = c->slots[h] - 1;
        if (c->cat_len[i] == len && same_bytes(cats->items[i], p, len)) /* NUL bytes are fine */
            return (int32_t)i;
        h = (h + 1) & c->mask;
    }
    return -1;
}

static int add_problem(validator *v, keel_reason reason, long column, size_t raw_off)
{
    if (v->n_problems == v->cap_problems) {
        size_t cap = v->cap_problems ? v->cap_problems * 2 : 16;
        problem *p = keel_reallocarray(v->problems, cap, sizeof *p);
        if (!p) return KEEL_ENOMEM;
        v->problems = p;
        v->cap_problems = cap;
    }
    v->problems[v->n_problems++] = (problem){reason, column, raw_off};
    return KEEL_OK;
}

/* ---- converting one field into the frame ---- */

/* Outcome of a value that breaks a rule, given the column's policy. */
enum { KEEP, SET_MISSING, CLIP, REJECT };

static int policy(const keel_schema_column *def, bool range_problem)
{
    switch (def->on_invalid) {
    case KEEL_ON_INVALID_MISSING:
        return def->nullable ? SET_MISSING : REJECT;
    case KEEL_ON_INVALID_CLIP:
        return range_problem ? CLIP : REJECT;
    default:
        return REJECT;
    }
}

/* The rules for a number x of a numeric column once read (parsed: whether its text was a
 * number at all; whole as keel_parse_number_ex sets it): whole numbers, range, then the
 * column's policy, which may clip x. Returns the outcome; *why gets the reason. */
static inline __attribute__((always_inline)) int
number_rules(const keel_schema_column *def, bool parsed, int whole, double *x, keel_reason *why)
{
    if (!parsed) {
        *why = KEEL_REASON_BAD_NUMBER;
        return policy(def, false);
    }
    if (def->integer && whole != 1 && *x != floor(*x)) {
        *why = KEEL_REASON_NOT_INTEGER;
        return policy(def, false);
    }
    if ((def->has_min && *x < def->min) || (def->has_max && *x > def->max)) {
        *why = KEEL_REASON_OUT_OF_RANGE;
        int outcome = policy(def, true);
        if (outcome == CLIP) *x = def->has_min && *x < def->min ? def->min : def->max;
        return outcome;
    }
    return KEEP;
}

/* The end of a conversion: a reason + 1 to reject, else 0, counting a repair. */
static inline __attribute__((always_inline)) int outcome_result(validator *v, size_t ci,
                                                                int outcome, keel_reason why)
{
    if (outcome == REJECT) return (int)why + 1;
    if (outcome == SET_MISSING || outcome == CLIP) {
        v->res->repaired[ci]++;
        v->repair_log[v->n_repair_log++] = ci; /* so that a record handed over can undo it */
    }
    return 0;
}

/* How a value arrived: CSV fields and JSON strings are text (missing tokens apply); a JSON
 * number's text always uses '.'; JSON null or an absent key is missing. */
enum value_kind { VALUE_TEXT, VALUE_JSON_NUMBER, VALUE_MISSING };

/* Writes value (p, len) of column ci into row r. Returns a reason code + 1 when the value
 * must reject the record, 0 when it was stored (possibly repaired), <0 on out of memory. */
static inline __attribute__((always_inline)) int convert(validator *v, size_t ci, const char *p,
                                                         size_t len, size_t r, int kind)
{
    colstate *c = &v->cols[ci];
    const keel_schema_column *def = c->def;
    keel_column *col = &v->frame->cols[ci];
    bool missing = kind == VALUE_MISSING || (kind == VALUE_TEXT && is_missing(c, p, len));
    if (missing && !def->nullable) return KEEL_REASON_MISSING_VALUE + 1;
    int outcome = KEEP;
    keel_reason why = 0;
    switch (def->type) {
    case KEEL_TYPE_NUMERIC: {
        if (missing) {
            col->num[r] = NAN;
            return 0;
        }
        double x = 0;
        int whole;
        char decimal = kind == VALUE_JSON_NUMBER ? '.' : v->s->decimal;
        bool parsed = keel_parse_number_ex(p, len, decimal, &x, &whole) == KEEL_OK;
        outcome = number_rules(def, parsed, whole, &x, &why);
        col->num[r] = outcome == SET_MISSING ? NAN : x;
        break;
    }
    case KEEL_TYPE_CATEGORICAL: {
        if (missing) {
            col->cat[r] = -1;
            return 0;
        }
        int32_t code = category_code(c, p, len);
        if (code < 0) {
            why = keel_utf8_valid(p, len) ? KEEL_REASON_UNKNOWN_CATEGORY : KEEL_REASON_INVALID_UTF8;
            outcome = policy(def, false);
        }
        col->cat[r] = code;
        break;
    }
    case KEEL_TYPE_BOOLEAN: {
        if (missing) {
            col->boolean[r] = -1;
            return 0;
        }
        int b;
        if (def->true_values.n || def->false_values.n)
            b = keel_strlist_find(&def->true_values, p, len) >= 0    ? 1
                : keel_strlist_find(&def->false_values, p, len) >= 0 ? 0
                                                                     : -1;
        else
            b = keel_parse_bool(p, len);
        if (b < 0) {
            why = KEEL_REASON_BAD_BOOLEAN;
            outcome = policy(def, false);
        }
        col->boolean[r] = (int8_t)b;
        break;
    }
    case KEEL_TYPE_TIMESTAMP: {
        if (missing) {
            col->ts[r] = KEEL_TS_MISSING;
            return 0;
        }
        int64_t t = 0;
        if (keel_parse_timestamp(p, len, def->time_format, &t) != KEEL_OK) {
            why = KEEL_REASON_BAD_TIMESTAMP;
            outcome = policy(def, false);
        } else if ((def->has_min && (double)t < def->min) ||
                   (def->has_max && (double)t > def->max)) {
            why = KEEL_REASON_OUT_OF_RANGE;
            outcome = policy(def, true);
            if (outcome == CLIP)
                t = (int64_t)(def->has_min && (double)t < def->min ? def->min : def->max);
        }
        col->ts[r] = outcome == SET_MISSING ? KEEL_TS_MISSING : t;
        break;
    }
    default: { /* text, id */
        if (!missing && !keel_utf8_valid(p, len)) {
            why = KEEL_REASON_INVALID_UTF8;
            outcome = policy(def, false);
            missing = true;
        }
        col->missing[r] = missing;
        if (!missing && keel_buf_append(&col->text, p, len)) return KEEL_ENOMEM;
        col->off[r + 1] = col->text.len;
        break;
    }
    }
    return outcome_result(v, ci, outcome, why);
}

/* ---- one value at a time (prediction from values given one by one) ---- */

struct keel_converter {
    validator v; /* only s, cols, frame, res and repair_log are used */
    keel_validate_result res;
};

int keel_converter_new(const keel_schema *s, keel_converter **out)
{
    *out = NULL;
    keel_converter *c = keel_calloc(1, sizeof *c);
    if (!c) return KEEL_ENOMEM;
    size_t n = s->n_columns ? s->n_columns : 1;
    c->v.s = s;
    c->v.res = &c->res;
    c->res.n_columns = s->n_columns;
    c->res.repaired = keel_calloc(n, sizeof *c->res.repaired);
    c->v.repair_log = keel_calloc(n + 1, sizeof *c->v.repair_log);
    c->v.cols = keel_calloc(n, sizeof *c->v.cols);
    int rc = c->res.repaired && c->v.repair_log && c->v.cols ? KEEL_OK : KEEL_ENOMEM;
    for (size_t i = 0; i < s->n_columns && !rc; i++)
        rc = colstate_init(&c->v.cols[i], s, &s->columns[i]);
    if (rc) {
        keel_converter_free(c);
        return rc;
    }
    *out = c;
    return KEEL_OK;
}

void keel_converter_free(keel_converter *c)
{
    if (!c) return;
    colstates_free(c->v.cols, c->v.s->n_columns);
    keel_free(c->v.repair_log);
    keel_free(c->res.repaired);
    keel_free(c);
}

int keel_converter_set(keel_converter *c, keel_frame *f, size_t ci, size_t r, const char *p,
                       size_t len)
{
    c->v.frame = f;
    c->v.n_repair_log = 0;
    return convert(&c->v, ci, p ? p : "", p ? len : 0, r, p ? VALUE_TEXT : VALUE_MISSING);
}

int keel_converter_set_number(keel_converter *c, keel_frame *f, size_t ci, size_t r, double x)
{
    const keel_schema_column *def = c->v.cols[ci].def;
    if (def->type != KEEL_TYPE_NUMERIC) return KEEL_EINVAL;
    c->v.n_repair_log = 0;
    double *num = &f->cols[ci].num[r];
    if (isnan(x)) {
        if (!def->nullable) return KEEL_REASON_MISSING_VALUE + 1;
        *num = NAN;
        return 0;
    }
    keel_reason why = 0;
    /* An infinity is what no text parses to: a bad number, as "inf" in a file would be. */
    int outcome = number_rules(def, isfinite(x), -1, &x, &why);
    *num = outcome == SET_MISSING ? NAN : x;
    return outcome_result(&c->v, ci, outcome, why);
}

/* ---- quarantine ---- */

static void value_excerpt(keel_buf *b, const char *p, size_t len)
{
    size_t n = KEEL_MIN(len, (size_t)60);
    keel_buf_putc(b, '\'');
    keel_buf_append(b, p, n);
    if (n < len) keel_buf_puts(b, "...");
    keel_buf_putc(b, '\'');
}

static void describe_problem(validator *v, const keel_record *rec, const problem *pr, keel_buf *msg)
{
    const keel_schema_column *def = pr->column >= 0 ? v->cols[pr->column].def : NULL;
    keel_field json_value = {"", 0, 0, false};
    const keel_field *f = NULL;
    if (def && v->doc) {
        /* JSON Lines: quote the value from the parsed line. */
        const keel_json *j = v->cells[pr->column];
        if (j && j->type == KEEL_JSON_STRING)
            json_value = (keel_field){j->u.string.s, j->u.string.len, 0, false};
        else if (j && j->type == KEEL_JSON_NUMBER)
            json_value = (keel_field){j->u.number.text, j->u.number.len, 0, false};
        else if (j && j->type == KEEL_JSON_BOOL)
            json_value =
                (keel_field){j->u.boolean ? "true" : "false", j->u.boolean ? 4 : 5, 0, false};
        f = &json_value;
    } else if (def && v->cols[pr->column].field < (long)rec->n_fields) {
        f = &rec->fields[v->cols[pr->column].field];
    } else {
        f = &json_value;
    }
    uint64_t line, col;
    keel_record_position(rec, pr->raw_off, &line, &col);
    keel_buf_printf(msg, "%s:%llu:%llu: ", v->name, (unsigned long long)line,
                    (unsigned long long)col);
    if (def) keel_buf_printf(msg, "column '%s': ", def->name);
    switch (pr->reason) {
    case KEEL_REASON_FIELD_COUNT:
        keel_buf_printf(msg, "expected %ld fields, found %zu", v->n_fields, rec->n_fields);
        break;
    case KEEL_REASON_UNTERMINATED_QUOTE:
        keel_buf_puts(msg, "quoted field never closed before the end of the file");
        break;
    case KEEL_REASON_BAD_QUOTE:
        keel_buf_puts(msg, "characters after a closing quote");
        break;
    case KEEL_REASON_RECORD_TOO_LONG:
        keel_buf_printf(msg, "record of %llu bytes exceeds the limit of %zu bytes",
                        (unsigned long long)rec->raw_total, v->o->max_record_bytes);
        break;
    case KEEL_REASON_INVALID_UTF8:
        keel_buf_puts(msg, "invalid UTF-8");
        break;
    case KEEL_REASON_MISSING_VALUE:
        keel_buf_puts(msg, "value missing, column is not nullable");
        break;
    case KEEL_REASON_BAD_NUMBER:
        value_excerpt(msg, f->p, f->len);
        keel_buf_puts(msg, " is not a number");
        break;
    case KEEL_REASON_NOT_INTEGER:
        value_excerpt(msg, f->p, f->len);
        keel_buf_puts(msg, " is not a whole number");
        break;
    case KEEL_REASON_OUT_OF_RANGE:
        value_excerpt(msg, f->p, f->len);
        keel_buf_puts(msg, " is outside the range");
        if (def->has_min && def->type == KEEL_TYPE_NUMERIC)
            keel_buf_printf(msg, " min %g", def->min);
        if (def->has_max && def->type == KEEL_TYPE_NUMERIC)
            keel_buf_printf(msg, " max %g", def->max);
        break;
    case KEEL_REASON_UNKNOWN_CATEGORY:
        value_excerpt(msg, f->p, f->len);
        keel_buf_printf(msg, " is not one of the %zu categories", def->categories.n);
        break;
    case KEEL_REASON_BAD_BOOLEAN:
        value_excerpt(msg, f->p, f->len);
        keel_buf_puts(msg, " is not a boolean");
        break;
    case KEEL_REASON_BAD_TIMESTAMP:
        value_excerpt(msg, f->p, f->len);
        keel_buf_printf(msg, " is not a timestamp (%s)",
                        def->time_format ? def->time_format : "ISO 8601");
        break;
    case KEEL_REASON_BAD_JSON:
        keel_buf_printf(msg, "not valid JSON: %s", v->json_error);
        break;
    case KEEL_REASON_NOT_OBJECT:
        keel_buf_puts(msg, "the line is not a JSON object");
        break;
    case KEEL_REASON_WRONG_TYPE:
        keel_buf_puts(msg, "an object or array where a single value belongs");
        break;
    default:
        keel_buf_puts(msg, keel_reason_name(pr->reason));
        break;
    }
}

static int quarantine(validator *v, const keel_record *rec)
{
    v->res->quarantined++;
    bool seen[KEEL_REASON_COUNT] = {0};
    for (size_t i = 0; i < v->n_problems; i++) {
        if (!seen[v->problems[i].reason]) v->res->reasons[v->problems[i].reason]++;
        seen[v->problems[i].reason] = true;
    }
    if (!v->quarantine) return KEEL_OK;
    keel_buf *b = &v->line;
    keel_buf_reset(b);
    keel_buf msg;
    keel_buf_init(&msg);
    keel_buf_printf(b, "{\"line\":%llu,\"offset\":%llu,\"record\":", (unsigned long long)rec->line,
                    (unsigned long long)rec->offset);
    bool latin1 = v->s->encoding == KEEL_ENC_LATIN1;
    bool exact = !latin1 && keel_utf8_valid(rec->raw, rec->raw_len);
    if (latin1) {
        keel_buf_latin1(&msg, rec->raw, rec->raw_len);
        keel_buf_json_str(b, msg.data ? msg.data : "", msg.len);
        keel_buf_reset(&msg);
    } else {
        keel_buf_json_str(b, rec->raw, rec->raw_len);
    }
    if (!exact) {
        /* The JSON string could not hold the bytes as they are: keep them exactly too. */
        keel_buf_puts(b, ",\"record_base64\":\"");
        keel_buf_base64(b, rec->raw, rec->raw_len);
        keel_buf_putc(b, '"');
    }
    if (rec->raw_total > rec->raw_len)
        keel_buf_printf(b, ",\"record_bytes\":%llu,\"record_truncated\":true",
                        (unsigned long long)rec->raw_total);
    keel_buf_puts(b, ",\"reasons\":[");
    for (size_t i = 0; i < v->n_problems; i++) {
        const problem *pr = &v->problems[i];
        uint64_t line, col;
        keel_record_position(rec, pr->raw_off, &line, &col);
        keel_buf_printf(b, "%s{\"code\":\"%s\"", i ? "," : "", keel_reason_name(pr->reason));
        if (pr->column >= 0) {
            keel_buf_puts(b, ",\"column\":");
            const char *cn = v->cols[pr->column].def->name;
            keel_buf_json_str(b, cn, strlen(cn));
        }
        keel_buf_printf(b, ",\"line\":%llu,\"column_number\":%llu,\"message\":",
                        (unsigned long long)line, (unsigned long long)col);
        keel_buf_reset(&msg);
        describe_problem(v, rec, pr, &msg);
        keel_buf_json_str(b, msg.data ? msg.data : "", msg.len);
        keel_buf_putc(b, '}');
    }
    keel_buf_puts(b, "]}\n");
    keel_buf_free(&msg);
    if (!b->data) return KEEL_ENOMEM;
    if (fwrite(b->data, 1, b->len, v->quarantine) != b->len)
        return keel_error_set(v->e, KEEL_EIO, "%s: cannot write: %s", v->o->quarantine_path,
                              strerror(errno));
    return KEEL_OK;
}

/* ---- the record loop ---- */

static int flush_chunk(validator *v)
{
    if (v->frame->n_rows == 0) return KEEL_OK;
    int rc = KEEL_OK;
    if (v->o->on_chunk) rc = v->o->on_chunk(v->o->chunk_ud, v->frame);
    keel_frame_clear(v->frame);
    return rc;
}

static void abandon_row(keel_frame *f, size_t r)
{
    for (size_t ci = 0; ci < f->n_cols; ci++)
        if (f->cols[ci].off) {
            f->cols[ci].text.len = f->cols[ci].off[r];
            f->cols[ci].off[r + 1] = f->cols[ci].off[r];
        }
}

static int check_record(validator *v, const keel_record *rec)
{
    v->n_problems = 0;
    v->n_repair_log = 0;
    v->res->records++;
    if (rec->problem != KEEL_CSV_OK) {
        static const keel_reason map[] = {0, KEEL_REASON_UNTERMINATED_QUOTE, KEEL_REASON_BAD_QUOTE,
                                          KEEL_REASON_RECORD_TOO_LONG};
        if (add_problem(v, map[rec->problem], -1, rec->problem_off)) return KEEL_ENOMEM;
        return quarantine(v, rec);
    }
    if ((long)rec->n_fields != v->n_fields) {
        if (add_problem(v, KEEL_REASON_FIELD_COUNT, -1, 0)) return KEEL_ENOMEM;
        return quarantine(v, rec);
    }
    keel_frame *f = v->frame;
    size_t r = f->n_rows;
    for (size_t ci = 0; ci < v->s->n_columns; ci++) {
        const keel_field *fld = &rec->fields[v->cols[ci].field];
        int rc = convert(v, ci, fld->p, fld->len, r, VALUE_TEXT);
        if (rc < 0) return rc;
        if (rc > 0 && add_problem(v, (keel_reason)(rc - 1), (long)ci, fld->raw_off))
            return KEEL_ENOMEM;
    }
    if (v->n_problems) {
        abandon_row(f, r); /* cut text columns back to where the row began */
        return quarantine(v, rec);
    }
    v->lines[r] = rec->line;
    f->n_rows++;
    v->res->accepted++;
    if (f->n_rows >= v->chunk_rows) return flush_chunk(v);
    return KEEL_OK;
}

/* One JSON Lines record: a JSON object whose keys name the schema's columns. Keys the schema
 * doesn't know are ignored; a column whose key is absent or null is missing. */
static int check_json_record(validator *v, const keel_record *rec)
{
    v->n_problems = 0;
    v->n_repair_log = 0;
    v->res->records++;
    if (rec->problem == KEEL_CSV_TOO_LONG) {
        if (add_problem(v, KEEL_REASON_RECORD_TOO_LONG, -1, 0)) return KEEL_ENOMEM;
        return quarantine(v, rec);
    }
    keel_error je;
    int rc = rec->n_fields == 1
                 ? keel_json_parse(v->doc, rec->fields[0].p, rec->fields[0].len, &je)
                 : (keel_error_set(&je, KEEL_EPARSE, "a NUL byte in the line"), KEEL_EPARSE);
    if (rc == KEEL_ENOMEM) return rc;
    const keel_json *root = rc == KEEL_OK ? keel_json_root(v->doc) : NULL;
    if (rc != KEEL_OK || !root || root->type != KEEL_JSON_OBJECT) {
        snprintf(v->json_error, sizeof v->json_error, "%s", rc == KEEL_OK ? "" : je.msg);
        if (add_problem(v, rc == KEEL_OK ? KEEL_REASON_NOT_OBJECT : KEEL_REASON_BAD_JSON, -1, 0))
            return KEEL_ENOMEM;
        return quarantine(v, rec);
    }
    const keel_schema *s = v->s;
    for (size_t ci = 0; ci < s->n_columns; ci++)
        v->cells[ci] = NULL;
    for (size_t m = 0; m < root->u.object.n; m++) {
        const keel_json_member *mem = &root->u.object.members[m];
        long ci = keel_strset_find(&v->names, mem->key, mem->key_len);
        if (ci >= 0 && !v->cells[ci])
            v->cells[ci] = &mem->value; /* a repeated key: the first one counts */
    }
    keel_frame *f = v->frame;
    size_t r = f->n_rows;
    for (size_t ci = 0; ci < s->n_columns; ci++) {
        const keel_json *j = v->cells[ci];
        int out;
        if (!j || j->type == KEEL_JSON_NULL)
            out = convert(v, ci, "", 0, r, VALUE_MISSING);
        else if (j->type == KEEL_JSON_STRING)
            out = convert(v, ci, j->u.string.s, j->u.string.len, r, VALUE_TEXT);
        else if (j->type == KEEL_JSON_NUMBER)
            out =
                convert(v, ci, j->u.number.text, j->u.number.len, r,
                        s->columns[ci].type == KEEL_TYPE_NUMERIC ? VALUE_JSON_NUMBER : VALUE_TEXT);
        else if (j->type == KEEL_JSON_BOOL)
            out = convert(v, ci, j->u.boolean ? "true" : "false", j->u.boolean ? 4 : 5, r,
                          VALUE_TEXT);
        else if (s->columns[ci].role == KEEL_ROLE_IGNORE)
            out = convert(v, ci, "", 0, r, VALUE_MISSING); /* nested, but nobody uses it */
        else
            out = KEEL_REASON_WRONG_TYPE + 1;
        if (out < 0) return out;
        if (out > 0 && add_problem(v, (keel_reason)(out - 1), (long)ci, 0)) return KEEL_ENOMEM;
    }
    if (v->n_problems) {
        abandon_row(f, r);
        return quarantine(v, rec);
    }
    v->lines[r] = rec->line;
    f->n_rows++;
    v->res->accepted++;
    if (f->n_rows >= v->chunk_rows) return flush_chunk(v);
    return KEEL_OK;
}

/* ---- the fast path for plain CSV records ----
 * Most records of most files are plain: LF-terminated, fields either unquoted or quoted
 * without "" escapes or line breaks, every value valid. For those, scanning and converting
 * happen in one pass over the bytes, field by field into the frame, with no field array in
 * between. Anything else — a blank line, a quote where it should not be, CR, a wrong field
 * count, a value the column rejects — stops the fast path before that record, which then
 * goes through keel_csv_next and check_record like every record used to: the quarantine,
 * its messages and positions have one implementation. */

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* First byte at or after q that is the delimiter, a line feed, a carriage return or a quote.
 * The region ends with a line feed, so the plain loop needs no bound. */
static inline const char *scan_plain(const char *q, const char *end, char d, char qc)
{
#if defined(__SSE2__)
    const __m128i vd = _mm_set1_epi8(d), vn = _mm_set1_epi8('\n'), vr = _mm_set1_epi8('\r'),
                  vq = _mm_set1_epi8(qc);
    while (q + 16 <= end) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, vd), _mm_cmpeq_epi8(x, vn)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, vr), _mm_cmpeq_epi8(x, vq)));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) return q + __builtin_ctz(m);
        q += 16;
    }
#else
    (void)end;
#endif
    while (*q != d && *q != '\n' && *q != '\r' && *q != qc)
        q++;
    return q;
}

/* Converts the plain records at the start of [p, p + n) (which ends with a line feed; its
 * first record starts on line `line`, and a plain record is one line). Returns the bytes
 * used; *records gets how many records they were. Stops before the first record that is not
 * plain. *err is set on a failure that must stop validation. */
static size_t fast_records(validator *v, const char *p, size_t n, uint64_t line, uint64_t *records,
                           int *err)
{
    const char *q = p, *end = p + n;
    const char d = v->s->delimiter, qc = v->s->quote;
    keel_frame *f = v->frame;
    uint64_t done = 0;
    const char *consumed = p; /* just past the last record handled here */
    /* The reader's limit on a record's length (csv.c: the option, at least 16 bytes; its
     * default when the option is 0): a longer record is the reader's to quarantine. */
    size_t limit =
        v->o->max_record_bytes ? KEEL_MAX(v->o->max_record_bytes, (size_t)16) : (size_t)64 << 20;
    while (q < end) {
        const char *rs = q;
        size_t r = f->n_rows;
        long fi = 0;
        bool plain = *q != '\n'; /* a blank line is the plain reader's to skip */
        v->n_repair_log = 0;
        while (plain) {
            const char *fs, *fe;
            if (*q == qc) {
                fs = ++q;
                while (*q != qc && *q != '\n')
                    q++;
                if (*q != qc) {
                    plain = false; /* a line break inside quotes */
                    break;
                }
                fe = q++;
                if (*q != d && *q != '\n') {
                    plain = false; /* "" or text after the closing quote, or CR */
                    break;
                }
            } else {
                fs = q;
                q = scan_plain(q, end, d, qc);
                if (*q == '\r' || *q == qc) {
                    plain = false;
                    break;
                }
                fe = q;
            }
            if (fi >= v->n_fields) {
                plain = false;
                break;
            }
            long ci = v->field_col[fi++];
            if (ci >= 0) {
                int rc = convert(v, (size_t)ci, fs, (size_t)(fe - fs), r, VALUE_TEXT);
                if (rc != 0) {
                    if (rc < 0) *err = rc;
                    plain = false;
                    break;
                }
            }
            if (*q == '\n') break;
            q++;
        }
        if (plain && (size_t)(q - rs) > limit) plain = false;
        if (!plain || fi != v->n_fields) {
            /* Hand this record over untouched: undo its partial row and its repairs. */
            abandon_row(f, r);
            for (size_t k = 0; k < v->n_repair_log; k++)
                v->res->repaired[v->repair_log[k]]--;
            break;
        }
        q++; /* the line feed */
        v->lines[r] = line + done;
        f->n_rows++;
        v->res->records++;
        v->res->accepted++;
        done++;
        consumed = q;
        if (f->n_rows >= v->chunk_rows && (*err = flush_chunk(v)) != KEEL_OK) break;
    }
    *records = done;
    return (size_t)(consumed - p);
}

/* Matches the header record to the schema's columns. */
static int map_header(validator *v, const keel_record *rec)
{
    const keel_schema *s = v->s;
    if (!s->header) {
        v->n_fields = (long)s->n_columns;
        for (size_t i = 0; i < s->n_columns; i++)
            v->cols[i].field = (long)i;
        return KEEL_OK;
    }
    if (rec->problem != KEEL_CSV_OK)
        return keel_error_set(v->e, KEEL_EMISMATCH, "%s:%llu: the header line is malformed",
                              v->name, (unsigned long long)rec->line);
    v->n_fields = (long)rec->n_fields;
    for (size_t i = 0; i < rec->n_fields; i++) {
        const keel_field *f = &rec->fields[i];
        long ci = keel_strset_find(&v->names, f->p, f->len);
        if (ci < 0) {
            if (keel_strlist_add(&v->res->extra_columns, f->p, f->len)) return KEEL_ENOMEM;
        } else if (v->cols[ci].field < 0) {
            v->cols[ci].field = (long)i;
        }
    }
    for (size_t k = 0; k < s->n_columns; k++)
        if (v->cols[k].field < 0)
            return keel_error_set(v->e, KEEL_EMISMATCH,
                                  "%s:%llu: column '%s' of the schema is not in the header",
                                  v->name, (unsigned long long)rec->line, s->columns[k].name);
    return KEEL_OK;
}

/* Validates from a file (path) or from memory (path NULL). */
static int validate(const keel_schema *s, const char *path, const void *mem, size_t mem_len,
                    const keel_validate_options *opt, keel_validate_result *res, keel_error *e)
{
    keel_validate_options defaults;
    if (!opt) {
        keel_validate_options_init(&defaults);
        opt = &defaults;
    }
    memset(res, 0, sizeof *res);
    validator v = {.s = s, .o = opt, .res = res, .e = e};
    v.name = opt->display_name ? opt->display_name : path ? path : "(memory)";
    /* The file's name decides its format when it names one (a model trained on CSV scores
     * a JSON Lines file, and the other way round); otherwise the schema does. */
    int named = keel_format_of_path(path);
    bool jsonl = (named >= 0 ? (keel_format)named : s->format) == KEEL_FORMAT_JSONL;
    keel_buf_init(&v.line);
    keel_csv *reader = NULL;
    keel_sha256 hash;
    double t0 = keel_now_seconds();
    int rc;
    res->n_columns = s->n_columns;
    res->repaired = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *res->repaired);
    v.cols = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *v.cols);
    v.frame = keel_frame_new(s);
    v.repair_log = keel_calloc(s->n_columns + 1, sizeof *v.repair_log);
    if (jsonl) {
        v.doc = keel_json_doc_new();
        v.cells = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *v.cells);
    }
    if (!res->repaired || !v.cols || !v.frame || !v.repair_log || (jsonl && (!v.doc || !v.cells))) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = keel_strset_init(&v.names, s->n_columns)) != KEEL_OK) {
        keel_error_set(e, rc, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->n_columns; i++) {
        if ((rc = colstate_init(&v.cols[i], s, &s->columns[i])) != KEEL_OK) {
            keel_error_set(e, rc, "out of memory");
            goto done;
        }
        keel_strset_add(&v.names, s->columns[i].name, (uint32_t)i);
    }
    /* A chunk holds at most about 2 million values, so memory stays bounded however wide the
     * file is (100,000 columns get chunks of 20 rows). */
    size_t chunk = opt->chunk_rows ? opt->chunk_rows : 8192;
    size_t max_rows = ((size_t)1 << 21) / (s->n_columns ? s->n_columns : 1);
    chunk = KEEL_MAX((size_t)1, KEEL_MIN(chunk, KEEL_MAX(max_rows, (size_t)16)));
    v.chunk_rows = chunk;
    if ((rc = keel_frame_reserve(v.frame, chunk + 1)) != KEEL_OK ||
        !(v.lines = keel_calloc(chunk + 1, sizeof *v.lines))) {
        rc = KEEL_ENOMEM;
        keel_error_set(e, rc, "out of memory for a chunk of %zu rows", chunk);
        goto done;
    }
    v.frame->line = v.lines;
    keel_csv_options co;
    keel_csv_options_init(&co);
    co.delimiter = s->delimiter;
    co.quote = s->quote;
    co.encoding = s->encoding;
    if (jsonl) {
        /* One record per line: no quoting (JSON strings cannot hold a raw newline), and NUL
         * as the "delimiter", which valid JSON never contains. */
        co.delimiter = '\0';
        co.quote = '\0';
    }
    if (opt->max_record_bytes) co.max_record_bytes = opt->max_record_bytes;
    if (opt->sha256) {
        keel_sha256_init(&hash);
        co.sha256 = &hash;
    }
    rc = path ? keel_csv_open(path, &co, &reader, e)
              : keel_csv_open_mem(mem, mem_len, &co, &reader, e);
    if (rc != KEEL_OK) goto done;
    if (opt->quarantine_path) {
        v.quarantine = fopen(opt->quarantine_path, "w");
        if (!v.quarantine) {
            rc = keel_error_set(e, KEEL_EIO, "%s: cannot create: %s", opt->quarantine_path,
                                strerror(errno));
            goto done;
        }
    }
    keel_record rec;
    bool header = s->header && !jsonl;
    int got = header ? keel_csv_next(reader, &rec) : 1;
    if (got == 0) {
        rc = keel_error_set(e, KEEL_EEMPTY, "%s: the file is empty (no header line)", v.name);
        goto done;
    }
    if (got < 0) {
        rc = keel_error_set(e, got, "%s: %s", v.name, keel_csv_errmsg(reader));
        goto done;
    }
    if (!jsonl && (rc = map_header(&v, &rec)) != KEEL_OK) goto done;
    /* The fast path needs plain UTF-8 CSV with a quote character, and each field's column. */
    bool fast = !jsonl && !opt->plain && s->quote && s->encoding == KEEL_ENC_UTF8 &&
                s->delimiter != '\n' && s->delimiter != '\r';
    if (fast) {
        v.field_col = keel_malloc((size_t)(v.n_fields ? v.n_fields : 1) * sizeof *v.field_col);
        if (!v.field_col) {
            rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
            goto done;
        }
        for (long i = 0; i < v.n_fields; i++)
            v.field_col[i] = -1;
        for (size_t ci = 0; ci < s->n_columns; ci++)
            v.field_col[v.cols[ci].field] = (long)ci;
    }
    uint64_t n = 0, next_report = 65536;
    for (;;) {
        if (fast) {
            const char *region;
            size_t len;
            int pk = keel_csv_peek_lines(reader, &region, &len);
            if (pk < 0) {
                got = pk;
                break;
            }
            if (pk == 1) {
                uint64_t recs = 0;
                int err = KEEL_OK;
                size_t used = fast_records(&v, region, len, keel_csv_line(reader), &recs, &err);
                keel_csv_consume(reader, used, recs);
                n += recs;
                if (err != KEEL_OK) {
                    rc = err == KEEL_ENOMEM ? keel_error_set(e, err, "out of memory in %s", v.name)
                                            : err;
                    goto done;
                }
                if (n >= next_report) {
                    next_report = n + 65536;
                    if (opt->progress)
                        opt->progress(opt->progress_ud, keel_csv_bytes_read(reader),
                                      keel_csv_size(reader), "validating");
                    if (opt->cancel && *opt->cancel) {
                        rc = keel_error_set(e, KEEL_ECANCELED, "canceled in %s after %llu records",
                                            v.name, (unsigned long long)n);
                        goto done;
                    }
                }
                if (used == len) continue; /* all plain: look at the next stretch */
            }
        }
        /* The record the fast path handed over (or every record, without it). */
        if ((got = keel_csv_next(reader, &rec)) != 1) break;
        rc = jsonl ? check_json_record(&v, &rec) : check_record(&v, &rec);
        if (rc != KEEL_OK) {
            if (rc == KEEL_ENOMEM)
                keel_error_set(e, rc, "out of memory at %s:%llu", v.name,
                               (unsigned long long)rec.line);
            else if (e && e->code != rc)
                keel_error_set(e, rc, "stopped at %s:%llu", v.name, (unsigned long long)rec.line);
            goto done;
        }
        if (++n >= next_report) {
            next_report = n + 65536;
            if (opt->progress)
                opt->progress(opt->progress_ud, keel_csv_bytes_read(reader), keel_csv_size(reader),
                              "validating");
            if (opt->cancel && *opt->cancel) {
                rc = keel_error_set(e, KEEL_ECANCELED, "canceled at %s:%llu", v.name,
                                    (unsigned long long)rec.line);
                goto done;
            }
        }
    }
    if (got < 0) {
        rc = keel_error_set(e, got, "%s: %s", v.name, keel_csv_errmsg(reader));
        goto done;
    }
    if ((rc = flush_chunk(&v)) != KEEL_OK) {
        if (e && e->code != rc) keel_error_set(e, rc, "processing the last chunk failed");
        goto done;
    }
    if (opt->progress)
        opt->progress(opt->progress_ud, keel_csv_bytes_read(reader), keel_csv_size(reader),
                      "validating");
    if (opt->sha256) {
        unsigned char d[32];
        keel_sha256_final(&hash, d);
        keel_sha256_hex(d, res->sha256);
    }
    rc = KEEL_OK;
done:
    if (reader) {
        res->bytes = keel_csv_bytes_read(reader);
        res->blank_lines = keel_csv_blank_lines(reader);
    }
    if (v.quarantine && fclose(v.quarantine) != 0 && rc == KEEL_OK)
        rc = keel_error_set(e, KEEL_EIO, "%s: cannot write: %s", opt->quarantine_path,
                            strerror(errno));
    keel_csv_close(reader);
    colstates_free(v.cols, s->n_columns);
    keel_free(v.problems);
    keel_buf_free(&v.line);
    keel_frame_free(v.frame);
    keel_free(v.lines);
    keel_json_doc_free(v.doc);
    keel_free(v.cells);
    keel_free(v.field_col);
    keel_free(v.repair_log);
    keel_strset_free(&v.names);
    res->seconds = keel_now_seconds() - t0;
    return rc;
}

int keel_validate_file(const keel_schema *s, const char *path, const keel_validate_options *o,
                       keel_validate_result *res, keel_error *e)
{
    return validate(s, path, NULL, 0, o, res, e);
}

int keel_validate_mem(const keel_schema *s, const void *data, size_t n,
                      const keel_validate_options *o, keel_validate_result *res, keel_error *e)
{
    return validate(s, NULL, data, n, o, res, e);
}
