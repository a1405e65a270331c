/*
 * infer.c — schema inference.
 *
 * One streaming pass keeps, per column, what every value could still be: a number (and a
 * whole number), a boolean, a timestamp; the distinct values up to a cap (the categorical
 * domain); a HyperLogLog of all values (is it unique, like an id?); which missing-value
 * tokens occur; and how many of the first values look like personal data. The decision is
 * made at the end, in this order: all missing → text (ignored); target → categorical or
 * numeric by its values; boolean spellings; numbers; timestamps; a small domain →
 * categorical; unique code-like strings → id; otherwise text.
 *
 * Before the pass, the first 64 KiB decide the delimiter (the candidate that splits the
 * first lines into the same number of fields most often) and the encoding (Latin-1 when the
 * bytes are not UTF-8).
 */
#include "data/infer.h"

#include "base/json.h"
#include "data/convert.h"
#include "data/csv.h"
#include "data/sketch.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PII_SAMPLE 10000 /* values per column checked for personal data */

/* Tokens that mean missing wherever they occur, and tokens that mean missing only where
 * every other value is a number, boolean or timestamp ("-" may be a real category). */
static const char *const strong_missing[] = {"",     "NA",   "N/A",  "n/a",  "NaN", "nan",
                                             "null", "NULL", "None", "#N/A", "?"};
static const char *const weak_missing[] = {"-", ".", "--", "missing"};
#define N_STRONG KEEL_ARRAY_LEN(strong_missing)
#define N_WEAK   KEEL_ARRAY_LEN(weak_missing)

enum { PII_EMAIL, PII_PHONE, PII_IBAN, PII_CARD, PII_NATID, N_PII_CHECKS };

typedef struct colinfer {
    char *name;
    uint64_t present; /* values that are not a missing token */
    uint64_t strong[N_STRONG], weak[N_WEAK];
    bool num_ok, int_ok, num_comma_ok, bool_ok, ts_ok;
    double min, max;
    int64_t ts_min, ts_max;
    char bool_true[8], bool_false[8]; /* spellings seen, lower case */
    /* distinct values, up to a cap, in an open-addressing set */
    char **vals;
    uint64_t *counts;
    size_t n_vals, cap_vals;
    bool vals_overflow;
    keel_hll hll;
    bool has_space;
    uint64_t len_sum;
    uint64_t pii_checked, pii_hits[N_PII_CHECKS];
    uint64_t seen;   /* JSON Lines: records in which the key appears */
    uint64_t nested; /* JSON Lines: objects or arrays as values */
} colinfer;

void keel_infer_options_init(keel_infer_options *o)
{
    memset(o, 0, sizeof *o);
    o->encoding = -1;
    o->max_categories = 1000;
}

/* ---- personal data ---- */

bool keel_looks_like_email(const char *p, size_t n)
{
    const char *at = memchr(p, '@', n);
    if (!at || at == p || n > 254) return false;
    size_t local = (size_t)(at - p), dom = n - local - 1;
    if (dom < 4 || memchr(at + 1, '@', dom)) return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ' ' || p[i] == ',' || (unsigned char)p[i] < 0x21) return false;
    const char *dot = NULL;
    for (const char *q = at + 1; q < p + n; q++)
        if (*q == '.') dot = q;
    if (!dot || dot == at + 1 || p + n - dot - 1 < 2) return false;
    for (const char *q = dot + 1; q < p + n; q++)
        if (!isalpha((unsigned char)*q)) return false;
    return true;
}

bool keel_looks_like_card(const char *p, size_t n)
{
    int digits[24], k = 0;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)p[i])) {
            if (k == 24) return false;
            digits[k++] = p[i] - '0';
        } else if (p[i] != ' ' && p[i] != '-') {
            return false;
        }
    }
    if (k < 13 || k > 19) return false;
    /* Luhn: double every second digit from the right. */
    int sum = 0;
    for (int i = k - 1, alt = 0; i >= 0; i--, alt ^= 1) {
        int d = digits[i];
        if (alt) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

bool keel_looks_like_iban(const char *p, size_t n)
{
    char s[40];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') continue;
        if (k == sizeof s || !isalnum((unsigned char)p[i])) return false;
        s[k++] = (char)toupper((unsigned char)p[i]);
    }
    if (k < 15 || k > 34 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || !isdigit((unsigned char)s[3]))
        return false;
    /* Move the first four characters to the end, letters to 10..35, then mod 97 == 1. */
    unsigned rem = 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[(i + 4) % k];
        if (isdigit((unsigned char)c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    return rem == 1;
}

bool keel_looks_like_phone(const char *p, size_t n)
{
    /* A plain decimal number ("0.006399") is a measurement, not a phone number. */
    double ignored;
    if (n && p[0] != '+' && keel_parse_number(p, n, '.', &ignored) == KEEL_OK) return false;
    int digits = 0, seps = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (isdigit((unsigned char)c))
            digits++;
        else if (c == '+' && i == 0)
            seps++;
        else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
            seps++;
        else
            return false;
    }
    /* Plain digit runs are more often amounts or codes: ask for some phone punctuation. */
    return digits >= 7 && digits <= 15 && seps > 0;
}

bool keel_looks_like_national_id(const char *p, size_t n)
{
    /* US SSN: AAA-GG-SSSS, area not 000, 666 or 9xx. */
    if (n == 11 && p[3] == '-' && p[6] == '-') {
        for (size_t i = 0; i < 11; i++)
            if (i != 3 && i != 6 && !isdigit((unsigned char)p[i])) return false;
        return memcmp(p, "000", 3) && memcmp(p, "666", 3) && p[0] != '9';
    }
    /* UK National Insurance number: two letters, six digits, A-D. */
    if (n == 9 && isalpha((unsigned char)p[0]) && isalpha((unsigned char)p[1]) &&
        strchr("ABCDabcd", p[8])) {
        for (size_t i = 2; i < 8; i++)
            if (!isdigit((unsigned char)p[i])) return false;
        return true;
    }
    return false;
}

/* Personal data a column's name suggests, or KEEL_PII_NONE. */
static keel_pii pii_from_name(const char *name)
{
    char low[128];
    size_t n = strlen(name);
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[n] = '\0';
    static const struct {
        const char *word;
        keel_pii pii;
    } hints[] = {{"email", KEEL_PII_EMAIL},
                 {"e-mail", KEEL_PII_EMAIL},
                 {"phone", KEEL_PII_PHONE},
                 {"mobile", KEEL_PII_PHONE},
                 {"iban", KEEL_PII_IBAN},
                 {"card_number", KEEL_PII_CARD},
                 {"ssn", KEEL_PII_NATIONAL_ID},
                 {"passport", KEEL_PII_NATIONAL_ID},
                 {"national_id", KEEL_PII_NATIONAL_ID},
                 {"first_name", KEEL_PII_NAME},
                 {"last_name", KEEL_PII_NAME},
                 {"surname", KEEL_PII_NAME},
                 {"full_name", KEEL_PII_NAME},
                 {"address", KEEL_PII_ADDRESS},
                 {"street", KEEL_PII_ADDRESS},
                 {"postcode", KEEL_PII_ADDRESS},
                 {"zip", KEEL_PII_ADDRESS},
                 {"birth", KEEL_PII_BIRTH_DATE},
                 {"dob", KEEL_PII_BIRTH_DATE}};
    for (size_t i = 0; i < KEEL_ARRAY_LEN(hints); i++)
        if (strstr(low, hints[i].word)) return hints[i].pii;
    if (!strcmp(low, "name")) return KEEL_PII_NAME;
    return KEEL_PII_NONE;
}

/* ---- accumulation ---- */

static long token_index(const char *const *list, size_t n_list, const char *p, size_t len)
{
    for (size_t i = 0; i < n_list; i++)
        if (strlen(list[i]) == len && !memcmp(list[i], p, len)) return (long)i;
    return -1;
}

static int remember_value(colinfer *c, const char *p, size_t len, size_t cap_limit)
{
    if (c->vals_overflow) return KEEL_OK;
    if (c->n_vals * 2 >= c->cap_vals) {
        size_t cap = c->cap_vals ? c->cap_vals * 2 : 64;
        char **vals = keel_calloc(cap, sizeof *vals);
        uint64_t *counts = keel_calloc(cap, sizeof *counts);
        if (!vals || !counts) {
            keel_free(vals);
            keel_free(counts);
            return KEEL_ENOMEM;
        }
        for (size_t i = 0; i < c->cap_vals; i++) {
            if (!c->vals[i]) continue;
            size_t h = keel_hash64(c->vals[i], strlen(c->vals[i]), 1) & (cap - 1);
            while (vals[h])
                h = (h + 1) & (cap - 1);
            vals[h] = c->vals[i];
            counts[h] = c->counts[i];
        }
        keel_free(c->vals);
        keel_free(c->counts);
        c->vals = vals;
        c->counts = counts;
        c->cap_vals = cap;
    }
    size_t h = keel_hash64(p, len, 1) & (c->cap_vals - 1);
    while (c->vals[h]) {
        if (strlen(c->vals[h]) == len && !memcmp(c->vals[h], p, len)) {
            c->counts[h]++;
            return KEEL_OK;
        }
        h = (h + 1) & (c->cap_vals - 1);
    }
    if (c->n_vals >= cap_limit || memchr(p, '\0', len)) {
        c->vals_overflow = true;
        return KEEL_OK;
    }
    if (!(c->vals[h] = keel_strndup(p, len))) return KEEL_ENOMEM;
    c->counts[h] = 1;
    c->n_vals++;
    return KEEL_OK;
}

static void check_bool(colinfer *c, const char *p, size_t len)
{
    int b = keel_parse_bool(p, len);
    /* 0/1 stay numbers: they are as useful to a model and keep their meaning. */
    if (b < 0 || (len == 1 && (p[0] == '0' || p[0] == '1'))) {
        c->bool_ok = false;
        return;
    }
    char low[8];
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)p[i]);
    low[len] = '\0';
    char *slot = b ? c->bool_true : c->bool_false;
    if (!slot[0])
        memcpy(slot, low, len + 1);
    else if (strcmp(slot, low))
        c->bool_ok = false; /* mixed spellings (yes and true): not one boolean convention */
}

/* Takes in one present (non-missing) value. */
static int observe_value(colinfer *c, const char *p, size_t len, size_t max_categories)
{
    c->present++;
    if (c->num_ok || c->num_comma_ok) {
        double x;
        bool dot = c->num_ok && keel_parse_number(p, len, '.', &x) == KEEL_OK;
        if (!dot) c->num_ok = false;
        if (c->num_comma_ok && (dot || keel_parse_number(p, len, ',', &x) != KEEL_OK))
            c->num_comma_ok = false; /* comma-decimal only if '.' fails somewhere */
        if (dot || c->num_comma_ok) {
            if (x != floor(x)) c->int_ok = false;
            if (c->present == 1 || x < c->min) c->min = x;
            if (c->present == 1 || x > c->max) c->max = x;
        }
    }
    if (c->bool_ok) check_bool(c, p, len);
    if (c->ts_ok) {
        int64_t ts;
        if (len < 10 || keel_parse_timestamp(p, len, NULL, &ts) != KEEL_OK) {
            c->ts_ok = false;
        } else {
            if (c->ts_min > ts || c->present == 1) c->ts_min = ts;
            if (c->ts_max < ts || c->present == 1) c->ts_max = ts;
        }
    }
    keel_hll_add(&c->hll, keel_hash64(p, len, 0));
    if (!c->has_space && memchr(p, ' ', len)) c->has_space = true;
    c->len_sum += len;
    if (c->pii_checked < PII_SAMPLE) {
        c->pii_checked++;
        c->pii_hits[PII_EMAIL] += keel_looks_like_email(p, len);
        c->pii_hits[PII_PHONE] += keel_looks_like_phone(p, len);
        c->pii_hits[PII_IBAN] += keel_looks_like_iban(p, len);
        c->pii_hits[PII_CARD] += keel_looks_like_card(p, len);
        c->pii_hits[PII_NATID] += keel_looks_like_national_id(p, len);
    }
    return remember_value(c, p, len, max_categories);
}

static int observe(colinfer *c, const char *p, size_t len, size_t max_categories)
{
    long t = token_index(strong_missing, N_STRONG, p, len);
    if (t >= 0) {
        c->strong[t]++;
        return KEEL_OK;
    }
    t = token_index(weak_missing, N_WEAK, p, len);
    if (t >= 0) {
        c->weak[t]++;
        return KEEL_OK;
    }
    return observe_value(c, p, len, max_categories);
}

/* Appends a column named (p, len) to *cols (growing it). */
static int add_colinfer(colinfer **cols, size_t *n, size_t *cap, const char *p, size_t len,
                        bool comma_ok)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        colinfer *grown = keel_reallocarray(*cols, c, sizeof *grown);
        if (!grown) return KEEL_ENOMEM;
        *cols = grown;
        *cap = c;
    }
    colinfer *c = &(*cols)[*n];
    memset(c, 0, sizeof *c);
    char fallback[32];
    bool usable = len && !memchr(p, '\0', len);
    snprintf(fallback, sizeof fallback, "column_%zu", *n + 1);
    c->name = usable ? keel_strndup(p, len) : keel_strdup(fallback);
    if (!c->name) return KEEL_ENOMEM;
    c->num_ok = c->int_ok = c->bool_ok = c->ts_ok = true;
    c->num_comma_ok = comma_ok;
    keel_hll_init(&c->hll);
    (*n)++;
    return KEEL_OK;
}

/* Reads JSON Lines records: each key becomes a column the first time it is seen, up to
 * max_columns. Keys are found through a hash set (a linear search made a line of thousands of
 * keys cost millions of compares). A key that is empty or holds a NUL byte cannot name a
 * column (names are C strings; the reader would never match it) and is passed over. */
static int observe_jsonl(keel_csv *r, colinfer **cols, size_t *n_cols, size_t *cap, uint64_t *rows,
                         const keel_infer_options *opt, size_t max_cat, const char *name,
                         keel_error *e)
{
    size_t max_cols = opt->max_columns ? opt->max_columns : KEEL_INFER_MAX_COLUMNS;
    keel_json_doc *doc = keel_json_doc_new();
    keel_strset keys = {0};
    if (!doc || keel_strset_init(&keys, max_cols)) {
        keel_json_doc_free(doc);
        return keel_error_set(e, KEEL_ENOMEM, "%s: out of memory", name);
    }
    keel_record rec;
    int got, rc = KEEL_OK;
    while ((got = keel_csv_next(r, &rec)) == 1) {
        keel_error je;
        if (rec.problem != KEEL_RECORD_OK || rec.n_fields != 1) continue;
        rc = keel_json_parse(doc, rec.fields[0].p, rec.fields[0].len, &je);
        if (rc == KEEL_ENOMEM) break;
        rc = KEEL_OK;
        const keel_json *root = keel_json_root(doc);
        if (!root || root->type != KEEL_JSON_OBJECT) continue; /* validation will quarantine it */
        for (size_t m = 0; m < root->u.object.n && !rc; m++) {
            const keel_json_member *mem = &root->u.object.members[m];
            if (!mem->key_len || memchr(mem->key, '\0', mem->key_len)) continue;
            long found = keel_strset_find(&keys, mem->key, mem->key_len);
            size_t ci = found >= 0 ? (size_t)found : *n_cols;
            if (found < 0) {
                if (*n_cols == max_cols) {
                    rc = keel_error_set(
                        e, KEEL_ELIMIT,
                        "%s:%llu: the key '%.60s' would be column %zu; keel infers at most %zu "
                        "columns from JSON Lines, as every record holds a value for each "
                        "(keel data infer --max-columns N allows more)",
                        name, (unsigned long long)rec.line, mem->key, max_cols + 1, max_cols);
                    break;
                }
                if ((rc = add_colinfer(cols, n_cols, cap, mem->key, mem->key_len, false))) break;
                keel_strset_add(&keys, (*cols)[ci].name, (uint32_t)ci);
            }
            colinfer *c = &(*cols)[ci];
            if (c->seen > *rows) continue; /* a repeated key: the first one counts */
            c->seen++;
            const keel_json *j = &mem->value;
            switch (j->type) {
            case KEEL_JSON_NULL:
                c->strong[0]++;
                break;
            case KEEL_JSON_STRING:
                rc = observe(c, j->u.string.s, j->u.string.len, max_cat);
                break;
            case KEEL_JSON_NUMBER:
                rc = observe_value(c, j->u.number.text, j->u.number.len, max_cat);
                break;
            case KEEL_JSON_BOOL:
                rc = observe_value(c, j->u.boolean ? "true" : "false", j->u.boolean ? 4 : 5,
                                   max_cat);
                break;
            default:
                c->nested++;
                break;
            }
        }
        if (rc) break;
        if (++*rows == opt->max_rows) break;
        if ((*rows & 0xFFFF) == 0 && opt->progress)
            opt->progress(opt->progress_ud, keel_csv_bytes_read(r), keel_csv_size(r), "inferring");
    }
    keel_strset_free(&keys);
    keel_json_doc_free(doc);
    if (got < 0) return got;
    /* A key absent from a record is a missing value there. */
    for (size_t i = 0; i < *n_cols; i++)
        (*cols)[i].strong[0] += *rows - (*cols)[i].seen - (*cols)[i].nested;
    return rc;
}

static bool looks_like_jsonl(const char *path, const char *head, size_t n)
{
    if (keel_format_of_path(path) == KEEL_FORMAT_JSONL) return true;
    size_t i = 0;
    if (n >= 3 && !memcmp(head, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
        i++;
    return i < n && head[i] == '{';
}

/* ---- decisions ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool name_says_id(const char *name)
{
    size_t n = strlen(name);
    char low[128];
    if (n >= sizeof low) return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    if (!strcmp(low, "id") || !strcmp(low, "uuid") || !strcmp(low, "key")) return true;
    /* customer_id, CustomerID, customer-id */
    return n > 2 && !strcmp(low + n - 2, "id") &&
           (name[n - 3] == '_' || name[n - 3] == '-' || name[n - 3] == ' ' ||
            (islower((unsigned char)name[n - 3]) && name[n - 2] == 'I'));
}

static int set_note(keel_schema_column *col, const char *fmt, ...) KEEL_PRINTF(2, 3);
static int set_note(keel_schema_column *col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col->note) {
        size_t a = strlen(col->note), b = strlen(msg);
        char *joined = keel_malloc(a + b + 2);
        if (!joined) return KEEL_ENOMEM;
        memcpy(joined, col->note, a);
        joined[a] = '\n';
        memcpy(joined + a + 1, msg, b + 1);
        keel_free(col->note);
        col->note = joined;
        return KEEL_OK;
    }
    col->note = keel_strdup(msg);
    return col->note ? KEEL_OK : KEEL_ENOMEM;
}

static int set_categories(keel_schema_column *col, colinfer *c)
{
    char **sorted = keel_calloc(c->n_vals ? c->n_vals : 1, sizeof *sorted);
    if (!sorted) return KEEL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->cap_vals; i++)
        if (c->vals[i]) sorted[k++] = c->vals[i];
    qsort(sorted, k, sizeof *sorted, cmp_str);
    int rc = KEEL_OK;
    for (size_t i = 0; i < k && !rc; i++)
        rc = keel_strlist_add(&col->categories, sorted[i], strlen(sorted[i]));
    keel_free(sorted);
    return rc;
}

static int decide(keel_schema *s, keel_schema_column *col, colinfer *c, bool is_target,
                  size_t max_categories, bool *comma_decimal)
{
    uint64_t missing = 0;
    for (size_t i = 0; i < N_STRONG; i++)
        missing += c->strong[i];
    uint64_t weak = 0;
    for (size_t i = 0; i < N_WEAK; i++)
        weak += c->weak[i];
    uint64_t total = c->present + missing + weak;
    bool typed = c->present && (c->num_ok || c->num_comma_ok || c->bool_ok || c->ts_ok);
    if (!typed && weak) {
        /* In a string column the weak tokens are values after all. */
        return KEEL_EINVAL; /* caller re-runs this column with weak tokens as values */
    }
    double distinct = c->vals_overflow ? keel_hll_estimate(&c->hll) : (double)c->n_vals;
    bool unique = c->present > 1 && distinct >= 0.97 * (double)c->present;
    int rc = KEEL_OK;
    col->role = is_target ? KEEL_ROLE_TARGET : KEEL_ROLE_FEATURE;
    if (c->present == 0) {
        col->type = KEEL_TYPE_TEXT;
        col->role = is_target ? KEEL_ROLE_TARGET : KEEL_ROLE_IGNORE;
        if (c->nested) return KEEL_OK; /* the caller notes the nested values */
        return set_note(col, "review: every one of %llu values is missing; ignored",
                        (unsigned long long)total);
    }
    bool numeric = c->num_ok || c->num_comma_ok;
    if (is_target) {
        if (numeric && !(c->int_ok && !c->vals_overflow && c->n_vals <= 20)) {
            col->type = KEEL_TYPE_NUMERIC;
        } else if (c->vals_overflow) {
            col->type = KEEL_TYPE_TEXT;
            rc = set_note(col, "review: the target has more than %zu distinct values",
                          max_categories);
        } else {
            col->type = KEEL_TYPE_CATEGORICAL;
            rc = set_categories(col, c);
        }
        if (col->type == KEEL_TYPE_NUMERIC) {
            col->has_min = col->has_max = true;
            col->min = c->min;
            col->max = c->max;
            col->integer = c->int_ok;
        }
        col->nullable = missing + weak > 0;
        return rc;
    }
    if (c->bool_ok && c->bool_true[0] && c->bool_false[0]) {
        col->type = KEEL_TYPE_BOOLEAN;
        /* Record the spellings seen, in the case they were seen, only if not the defaults. */
        return KEEL_OK;
    }
    if (numeric) {
        if (c->num_comma_ok && !c->num_ok) *comma_decimal = true;
        if (c->int_ok && unique && name_says_id(col->name)) {
            col->type = KEEL_TYPE_ID;
            col->role = KEEL_ROLE_ID;
            return KEEL_OK;
        }
        col->type = KEEL_TYPE_NUMERIC;
        col->integer = c->int_ok;
        col->has_min = col->has_max = true;
        col->min = c->min;
        col->max = c->max;
        return set_note(col, "observed range %g to %g; widen min/max to the valid domain", c->min,
                        c->max);
    }
    if (c->ts_ok) {
        col->type = KEEL_TYPE_TIMESTAMP;
        col->role = KEEL_ROLE_TIME;
        char a[40], b[40];
        keel_format_timestamp(c->ts_min, a);
        keel_format_timestamp(c->ts_max, b);
        return set_note(col, "observed %s to %s", a, b);
    }
    bool few =
        !c->vals_overflow && (c->n_vals <= 100 || (double)c->n_vals <= (double)c->present / 20);
    if (unique && (name_says_id(col->name) || (!c->has_space && c->len_sum / c->present <= 64))) {
        col->type = KEEL_TYPE_ID;
        col->role = KEEL_ROLE_ID;
        return KEEL_OK;
    }
    if (few) {
        col->type = KEEL_TYPE_CATEGORICAL;
        return set_categories(col, c);
    }
    col->type = KEEL_TYPE_TEXT;
    (void)s;
    return set_note(col, "about %.0f distinct values: free text", distinct);
}

static void flag_pii(keel_schema_column *col, const colinfer *c)
{
    static const keel_pii kinds[N_PII_CHECKS] = {KEEL_PII_EMAIL, KEEL_PII_PHONE, KEEL_PII_IBAN,
                                                 KEEL_PII_CARD, KEEL_PII_NATIONAL_ID};
    static const char *const what[N_PII_CHECKS] = {"e-mail addresses", "phone numbers", "IBANs",
                                                   "payment card numbers (Luhn)",
                                                   "national ID numbers"};
    int best = -1;
    for (int k = 0; k < N_PII_CHECKS; k++)
        if (c->pii_checked && c->pii_hits[k] * 2 >= c->pii_checked &&
            (best < 0 || c->pii_hits[k] > c->pii_hits[best]))
            best = k;
    if (best >= 0) {
        col->pii = kinds[best];
        set_note(col, "review: personal data? %.0f%% of %llu values look like %s",
                 100.0 * (double)c->pii_hits[best] / (double)c->pii_checked,
                 (unsigned long long)c->pii_checked, what[best]);
        return;
    }
    /* A name hint only counts where the values are strings: "email" in a table of word
     * frequencies is a number. */
    bool strings = col->type == KEEL_TYPE_TEXT || col->type == KEEL_TYPE_CATEGORICAL ||
                   col->type == KEEL_TYPE_ID;
    keel_pii by_name = strings ? pii_from_name(col->name) : KEEL_PII_NONE;
    if (by_name != KEEL_PII_NONE) {
        col->pii = by_name;
        set_note(col, "review: personal data? the column's name suggests %s",
                 keel_pii_name(by_name));
    }
}

/* ---- sniffing ---- */

static char sniff_delimiter(const char *p, size_t n)
{
    static const char cands[] = {',', ';', '\t', '|'};
    char best = ',';
    long best_score = -1;
    for (size_t k = 0; k < sizeof cands; k++) {
        /* Count the delimiter per line (outside quotes) on up to 20 lines; the score is the
         * count on the first line if most lines agree with it. */
        long first = -1, agree = 0, lines = 0, count = 0;
        bool in_q = false;
        for (size_t i = 0; i < n && lines < 20; i++) {
            char c = p[i];
            if (c == '"')
                in_q = !in_q;
            else if (!in_q && c == cands[k])
                count++;
            else if (!in_q && c == '\n') {
                if (first < 0)
                    first = count;
                else if (count == first)
                    agree++;
                lines++;
                count = 0;
            }
        }
        if (first < 0) first = count;
        long score = first > 0 && agree * 2 >= lines - 1 ? first : 0;
        if (score > best_score) {
            best_score = score;
            best = cands[k];
        }
    }
    return best;
}

int keel_infer_file(const char *path, const keel_infer_options *opt, keel_schema **out,
                    keel_error *e)
{
    keel_infer_options defaults;
    if (!opt) {
        keel_infer_options_init(&defaults);
        opt = &defaults;
    }
    *out = NULL;
    const char *name = opt->display_name ? opt->display_name : path;
    size_t max_cat = opt->max_categories ? opt->max_categories : 1000;
    keel_schema *s = NULL;
    keel_csv *r = NULL;
    colinfer *cols = NULL;
    size_t n_cols = 0;
    int rc;
    char head[65536];
    size_t head_len = 0;
    if (strcmp(path, "-") != 0) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return keel_error_set(e, errno == ENOENT ? KEEL_ENOENT : KEEL_EIO, "%s: %s", path,
                                  strerror(errno));
        head_len = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    if (!(s = keel_schema_new())) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    s->delimiter = opt->delimiter ? opt->delimiter : sniff_delimiter(head, head_len);
    if (opt->encoding >= 0) {
        s->encoding = (keel_encoding)opt->encoding;
    } else {
        /* Latin-1 if the start is not UTF-8 (allowing a multi-byte character cut off at the
         * end of the sample). */
        size_t ok = keel_utf8_valid_prefix(head, head_len);
        s->encoding = ok + 4 < head_len ? KEEL_ENC_LATIN1 : KEEL_ENC_UTF8;
    }
    const char *base = strrchr(name, '/');
    if (!(s->source = keel_strdup(base ? base + 1 : name))) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory");
        goto fail;
    }
    keel_csv_options co;
    keel_csv_options_init(&co);
    co.delimiter = s->delimiter;
    co.encoding = s->encoding;
    size_t cap_cols = 0;
    uint64_t rows = 0;
    if (looks_like_jsonl(path, head, head_len)) {
        s->format = KEEL_FORMAT_JSONL;
        s->delimiter = ',';
        s->encoding = KEEL_ENC_UTF8; /* JSON text is UTF-8 (RFC 8259) */
        co.delimiter = co.quote = '\0';
        co.encoding = KEEL_ENC_UTF8;
        if ((rc = keel_csv_open(path, &co, &r, e)) != KEEL_OK) goto fail;
        rc = observe_jsonl(r, &cols, &n_cols, &cap_cols, &rows, opt, max_cat, name, e);
        if (rc) {
            if (rc != KEEL_ELIMIT) /* the limit's message is set, with its line */
                keel_error_set(e, rc, "%s: %s", name,
                               rc == KEEL_ENOMEM ? "out of memory" : "read error");
            goto fail;
        }
        if (n_cols == 0) {
            rc = keel_error_set(e, KEEL_EEMPTY, "%s: no JSON object with any key", name);
            goto fail;
        }
    } else {
        if ((rc = keel_csv_open(path, &co, &r, e)) != KEEL_OK) goto fail;
        keel_record rec;
        int got = keel_csv_next(r, &rec);
        if (got <= 0) {
            rc = keel_error_set(
                e, got < 0 ? got : KEEL_EEMPTY,
                got < 0 ? "%s: read error" : "%s: the file is empty (no header line)", name);
            goto fail;
        }
        for (size_t i = 0; i < rec.n_fields; i++)
            if ((rc = add_colinfer(&cols, &n_cols, &cap_cols, rec.fields[i].p, rec.fields[i].len,
                                   s->delimiter != ','))) {
                keel_error_set(e, rc, "out of memory");
                goto fail;
            }
        while ((got = keel_csv_next(r, &rec)) == 1) {
            if (rec.problem != KEEL_RECORD_OK || rec.n_fields != n_cols)
                continue; /* validation will quarantine it; infer looks at good records */
            for (size_t i = 0; i < n_cols; i++)
                if ((rc = observe(&cols[i], rec.fields[i].p, rec.fields[i].len, max_cat))) {
                    keel_error_set(e, rc, "out of memory");
                    goto fail;
                }
            if (++rows == opt->max_rows) break;
            if ((rows & 0xFFFF) == 0 && opt->progress)
                opt->progress(opt->progress_ud, keel_csv_bytes_read(r), keel_csv_size(r),
                              "inferring");
        }
        if (got < 0) {
            rc = keel_error_set(e, got, "%s: %s", name, keel_csv_errmsg(r));
            goto fail;
        }
    }
    bool comma_decimal = false, target_found = !opt->target;
    keel_strset used; /* names given to columns so far: header names may repeat */
    if ((rc = keel_strset_init(&used, n_cols * 2)) != KEEL_OK) {
        keel_error_set(e, rc, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_cols; i++) {
        colinfer *c = &cols[i];
        keel_schema_column *col;
        /* Duplicate header names get a suffix so that the schema stays unambiguous. */
        char unique_name[300];
        snprintf(unique_name, sizeof unique_name, "%s", c->name);
        for (int k = 2; keel_strset_find(&used, unique_name, strlen(unique_name)) >= 0; k++)
            snprintf(unique_name, sizeof unique_name, "%s_%d", c->name, k);
        if ((rc = keel_schema_add_column(s, unique_name, &col))) {
            keel_strset_free(&used);
            keel_error_set(e, rc, "out of memory");
            goto fail;
        }
        keel_strset_add(&used, col->name, (uint32_t)i);
        bool is_target = opt->target && !strcmp(opt->target, c->name);
        target_found |= is_target;
        rc = decide(s, col, c, is_target, max_cat, &comma_decimal);
        if (rc == KEEL_EINVAL) {
            /* A string column with "-" or "." in it: those are values here. Fold them in and
             * decide again. */
            for (size_t w = 0; w < N_WEAK; w++)
                for (uint64_t k = 0; k < c->weak[w]; k++)
                    if ((rc = observe_value(c, weak_missing[w], strlen(weak_missing[w]), max_cat)))
                        break;
            memset(c->weak, 0, sizeof c->weak);
            if (!rc) rc = decide(s, col, c, is_target, max_cat, &comma_decimal);
        }
        if (rc) {
            keel_strset_free(&used);
            keel_error_set(e, rc, "out of memory");
            goto fail;
        }
        if (strcmp(unique_name, c->name))
            set_note(col, "review: the header repeats the name '%s'", c->name);
        flag_pii(col, c);
        if (c->nested) {
            col->type = KEEL_TYPE_TEXT;
            col->role = KEEL_ROLE_IGNORE;
            set_note(col, "review: %llu values are JSON objects or arrays; ignored",
                     (unsigned long long)c->nested);
        }
    }
    keel_strset_free(&used);
    if (!target_found) {
        rc = keel_error_set(e, KEEL_EINVAL, "%s: no column named '%s' (the target)", name,
                            opt->target);
        goto fail;
    }
    if (comma_decimal) s->decimal = ',';
    /* Weak tokens seen in typed columns join the schema-wide missing list. */
    for (size_t w = 0; w < N_WEAK; w++) {
        bool seen = false;
        for (size_t i = 0; i < n_cols; i++)
            seen |= cols[i].weak[w] > 0;
        if (seen && keel_strlist_find(&s->missing, weak_missing[w], strlen(weak_missing[w])) < 0 &&
            (rc = keel_strlist_add(&s->missing, weak_missing[w], strlen(weak_missing[w])))) {
            keel_error_set(e, rc, "out of memory");
            goto fail;
        }
    }
    for (size_t t = 0; t < N_STRONG; t++) {
        bool seen = false;
        for (size_t i = 0; i < n_cols; i++)
            seen |= cols[i].strong[t] > 0;
        if (seen &&
            keel_strlist_find(&s->missing, strong_missing[t], strlen(strong_missing[t])) < 0 &&
            (rc = keel_strlist_add(&s->missing, strong_missing[t], strlen(strong_missing[t])))) {
            keel_error_set(e, rc, "out of memory");
            goto fail;
        }
    }
    rc = KEEL_OK;
    *out = s;
    s = NULL;
fail:
    if (cols)
        for (size_t i = 0; i < n_cols; i++) {
            for (size_t k = 0; k < cols[i].cap_vals; k++)
                keel_free(cols[i].vals[k]);
            keel_free(cols[i].vals);
            keel_free(cols[i].counts);
            keel_free(cols[i].name);
        }
    keel_free(cols);
    keel_csv_close(r);
    keel_schema_free(s);
    return rc;
}

int keel_infer_summary(const char *file, const char *output, const keel_schema *s, bool json,
                       keel_buf *out)
{
    keel_buf_mark mark = keel_buf_begin(out);
    size_t by_type[KEEL_TYPE_COUNT] = {0}, pii = 0;
    for (size_t i = 0; i < s->n_columns; i++) {
        by_type[s->columns[i].type]++;
        pii += s->columns[i].pii != KEEL_PII_NONE;
    }
    if (json) {
        keel_buf_puts(out, "{\"file\":");
        keel_buf_json_str(out, file, strlen(file));
        keel_buf_puts(out, ",\"schema\":");
        if (output)
            keel_buf_json_str(out, output, strlen(output));
        else
            keel_buf_puts(out, "null");
        keel_buf_printf(out, ",\"columns\":%zu,\"types\":{", s->n_columns);
        for (int t = 0; t < KEEL_TYPE_COUNT; t++)
            keel_buf_printf(out, "%s\"%s\":%zu", t ? "," : "", keel_type_name((keel_type)t),
                            by_type[t]);
        keel_buf_printf(out, "},\"pii_flagged\":%zu}\n", pii);
        return keel_buf_end(out, mark);
    }
    keel_buf_printf(out, "%s: %zu columns (", file, s->n_columns);
    const char *sep = "";
    for (int t = 0; t < KEEL_TYPE_COUNT; t++)
        if (by_type[t]) {
            keel_buf_printf(out, "%s%zu %s", sep, by_type[t], keel_type_name((keel_type)t));
            sep = ", ";
        }
    keel_buf_printf(out, ")%s%s\n", output ? " -> " : "", output ? output : "");
    if (pii)
        keel_buf_printf(out, "%zu column%s flagged as possible personal data: review the schema\n",
                        pii, pii == 1 ? "" : "s");
    return keel_buf_end(out, mark);
}
