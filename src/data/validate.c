/*
 * validate.c — streaming validation: records in, typed rows and quarantine entries out.
 *
 * For each record the validator writes every column's value at row index n_rows of the
 * current chunk frame; only when all columns are fine does n_rows advance. A record with
 * any rejected value is written to the quarantine with all of its reasons (not just the
 * first), so one look at the quarantine shows everything wrong with a record.
 *
 * Records come from a keel_reader (reader.h), chosen by the file's format when it is opened;
 * nothing here knows CSV from JSON Lines. Field i of a record is schema column i's value,
 * with a kind (text, a typed number, missing, nested) and its offset in the raw record; a
 * record the reader could not cut into fields carries its problem, which becomes the
 * quarantine reason. Records are read a block at a time (one indirect call per block; the
 * CSV reader's blocks are its plain lines, scanned 64 bytes at a time as bit masks); with the
 * `plain` option, one record at a time, which the csv fuzz target compares against blocks:
 * every count, reason, repair and value must agree.
 *
 * Per-field work is the hot path. Each column gets a precomputed state: its missing tokens
 * behind a filter on length and first byte (a numeric field "42" never reaches a string
 * compare), its categories in an open-addressing hash table, and its parse function chosen
 * by type. Messages are only formatted for records that are quarantined.
 */
#include "data/validate.h"

#include "data/convert.h"
#include "data/reader.h"

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
    keel_frame *frame;
    keel_validate_result *res;
    FILE *quarantine;
    keel_buf line; /* quarantine line being built */
    problem *problems;
    size_t n_problems, cap_problems;
    keel_error *e;
    size_t chunk_rows; /* rows per chunk handed to on_chunk */
    uint64_t *lines;   /* per row of the chunk: the line its record starts on (frame->line) */
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
    if (outcome == SET_MISSING || outcome == CLIP) v->res->repaired[ci]++;
    return 0;
}

/* How a value arrived: text (CSV fields, JSON strings: missing tokens apply); a number the
 * format typed, whose text always uses '.' (a JSON number); or missing (JSON null, an absent
 * key, or a value given as missing to a converter). */
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
    validator v; /* only s, cols, frame and res are used */
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
    c->v.cols = keel_calloc(n, sizeof *c->v.cols);
    int rc = c->res.repaired && c->v.cols ? KEEL_OK : KEEL_ENOMEM;
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
    keel_free(c->res.repaired);
    keel_free(c);
}

int keel_converter_set(keel_converter *c, keel_frame *f, size_t ci, size_t r, const char *p,
                       size_t len)
{
    c->v.frame = f;
    return convert(&c->v, ci, p ? p : "", p ? len : 0, r, p ? VALUE_TEXT : VALUE_MISSING);
}

int keel_converter_set_number(keel_converter *c, keel_frame *f, size_t ci, size_t r, double x)
{
    const keel_schema_column *def = c->v.cols[ci].def;
    if (def->type != KEEL_TYPE_NUMERIC) return KEEL_EINVAL;
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

/* The message of one problem: file:line:column, the column's name, what is wrong. A problem
 * of the whole record says what its reader said. */
static void describe_problem(validator *v, const keel_record *rec, const problem *pr, keel_buf *msg)
{
    uint64_t line, col;
    keel_record_position(rec, pr->raw_off, &line, &col);
    keel_buf_printf(msg, "%s:%llu:%llu: ", v->name, (unsigned long long)line,
                    (unsigned long long)col);
    if (pr->column < 0) {
        keel_buf_puts(msg, rec->why ? rec->why : keel_reason_name(pr->reason));
        return;
    }
    const keel_schema_column *def = v->cols[pr->column].def;
    const keel_field *f = &rec->fields[pr->column];
    keel_buf_printf(msg, "column '%s': ", def->name);
    switch (pr->reason) {
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

/* The quarantine reason of each structural problem a reader can report. */
_Static_assert(KEEL_RECORD_PROBLEM_COUNT == 7, "a new record problem needs its reason here");
static const keel_reason problem_reason[KEEL_RECORD_PROBLEM_COUNT] = {
    [KEEL_RECORD_UNTERMINATED_QUOTE] = KEEL_REASON_UNTERMINATED_QUOTE,
    [KEEL_RECORD_BAD_QUOTE] = KEEL_REASON_BAD_QUOTE,
    [KEEL_RECORD_TOO_LONG] = KEEL_REASON_RECORD_TOO_LONG,
    [KEEL_RECORD_FIELD_COUNT] = KEEL_REASON_FIELD_COUNT,
    [KEEL_RECORD_BAD_JSON] = KEEL_REASON_BAD_JSON,
    [KEEL_RECORD_NOT_OBJECT] = KEEL_REASON_NOT_OBJECT,
};

/* A value the format typed: a number (its text uses '.'; as text for a column that is not
 * numeric), missing, or nested (missing for a column nobody uses, else wrong). Out of line:
 * CSV never gets here. */
static __attribute__((noinline)) int convert_typed(validator *v, size_t ci, const keel_field *f,
                                                   size_t r)
{
    const keel_schema_column *def = v->cols[ci].def;
    switch (f->kind) {
    case KEEL_FIELD_NUMBER:
        return convert(v, ci, f->p, f->len, r,
                       def->type == KEEL_TYPE_NUMERIC ? VALUE_JSON_NUMBER : VALUE_TEXT);
    case KEEL_FIELD_MISSING:
        return convert(v, ci, "", 0, r, VALUE_MISSING);
    default: /* KEEL_FIELD_NESTED */
        if (def->role == KEEL_ROLE_IGNORE) return convert(v, ci, "", 0, r, VALUE_MISSING);
        return KEEL_REASON_WRONG_TYPE + 1;
    }
}

/* Checks one record: its row in the frame, or the quarantine. */
static inline int check_record(validator *v, const keel_record *rec)
{
    v->n_problems = 0;
    v->res->records++;
    if (KEEL_UNLIKELY(rec->problem != KEEL_RECORD_OK)) {
        if (add_problem(v, problem_reason[rec->problem], -1, rec->problem_off)) return KEEL_ENOMEM;
        return quarantine(v, rec);
    }
    keel_frame *f = v->frame;
    size_t r = f->n_rows;
    const keel_field *fld = rec->fields;
    for (size_t ci = 0; ci < v->s->n_columns; ci++) {
        int rc = KEEL_LIKELY(fld[ci].kind == KEEL_FIELD_TEXT)
                     ? convert(v, ci, fld[ci].p, fld[ci].len, r, VALUE_TEXT)
                     : convert_typed(v, ci, &fld[ci], r);
        if (KEEL_UNLIKELY(rc != 0)) {
            if (rc < 0) return rc;
            if (add_problem(v, (keel_reason)(rc - 1), (long)ci, fld[ci].raw_off))
                return KEEL_ENOMEM;
        }
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
    keel_buf_init(&v.line);
    keel_reader *reader = NULL;
    keel_sha256 hash;
    double t0 = keel_now_seconds();
    int rc;
    res->n_columns = s->n_columns;
    res->repaired = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *res->repaired);
    v.cols = keel_calloc(s->n_columns ? s->n_columns : 1, sizeof *v.cols);
    v.frame = keel_frame_new(s);
    if (!res->repaired || !v.cols || !v.frame) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->n_columns; i++) {
        if ((rc = colstate_init(&v.cols[i], s, &s->columns[i])) != KEEL_OK) {
            keel_error_set(e, rc, "out of memory");
            goto done;
        }
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
    /* The reader: the file's name picks the format when it names one (a model trained on
     * CSV scores a JSON Lines file, and the other way round); otherwise the schema does. */
    keel_reader_options ro;
    keel_reader_options_init(&ro);
    ro.display_name = v.name;
    if (opt->max_record_bytes) ro.max_record_bytes = opt->max_record_bytes;
    ro.extra_columns = &res->extra_columns;
    if (opt->sha256) {
        keel_sha256_init(&hash);
        ro.sha256 = &hash;
    }
    rc = path ? keel_reader_open(s, path, &ro, &reader, e)
              : keel_reader_open_mem(s, mem, mem_len, &ro, &reader, e);
    if (rc != KEEL_OK) goto done;
    if (opt->quarantine_path) {
        v.quarantine = fopen(opt->quarantine_path, "w");
        if (!v.quarantine) {
            rc = keel_error_set(e, KEEL_EIO, "%s: cannot create: %s", opt->quarantine_path,
                                strerror(errno));
            goto done;
        }
    }
    uint64_t n = 0, next_report = 65536;
    keel_record one;
    int got;
    for (;;) {
        const keel_record *recs = &one;
        got = opt->plain ? keel_reader_next(reader, &one) : keel_reader_next_block(reader, &recs);
        if (got <= 0) break;
        for (int i = 0; i < got; i++) {
            if ((rc = check_record(&v, &recs[i])) != KEEL_OK) {
                if (rc == KEEL_ENOMEM)
                    keel_error_set(e, rc, "out of memory at %s:%llu", v.name,
                                   (unsigned long long)recs[i].line);
                else if (e && e->code != rc)
                    keel_error_set(e, rc, "stopped at %s:%llu", v.name,
                                   (unsigned long long)recs[i].line);
                goto done;
            }
        }
        if ((n += (uint64_t)got) >= next_report) {
            next_report = n + 65536;
            if (opt->progress)
                opt->progress(opt->progress_ud, keel_reader_bytes_read(reader),
                              keel_reader_size(reader), "validating");
            if (opt->cancel && *opt->cancel) {
                rc = keel_error_set(e, KEEL_ECANCELED, "canceled at %s:%llu", v.name,
                                    (unsigned long long)recs[got - 1].line);
                goto done;
            }
        }
    }
    if (got < 0) {
        rc = keel_error_set(e, got, "%s", keel_reader_errmsg(reader));
        goto done;
    }
    if ((rc = flush_chunk(&v)) != KEEL_OK) {
        if (e && e->code != rc) keel_error_set(e, rc, "processing the last chunk failed");
        goto done;
    }
    if (opt->progress)
        opt->progress(opt->progress_ud, keel_reader_bytes_read(reader), keel_reader_size(reader),
                      "validating");
    if (opt->sha256) {
        unsigned char d[32];
        keel_sha256_final(&hash, d);
        keel_sha256_hex(d, res->sha256);
    }
    rc = KEEL_OK;
done:
    if (reader) {
        res->bytes = keel_reader_bytes_read(reader);
        res->blank_lines = keel_reader_blank_lines(reader);
    }
    if (v.quarantine && fclose(v.quarantine) != 0 && rc == KEEL_OK)
        rc = keel_error_set(e, KEEL_EIO, "%s: cannot write: %s", opt->quarantine_path,
                            strerror(errno));
    keel_reader_close(reader);
    colstates_free(v.cols, s->n_columns);
    keel_free(v.problems);
    keel_buf_free(&v.line);
    keel_frame_free(v.frame);
    keel_free(v.lines);
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
