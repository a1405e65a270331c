/*
 * profile.c — streaming, mergeable column statistics.
 *
 * Each chunk of accepted rows is folded in column by column (a tight loop over one typed
 * array at a time). Mean and variance use the chunk's own two-pass mean and sum of squared
 * deviations, combined with the running totals by Chan et al.'s update, which is exact up to
 * rounding and is the same formula that merges two whole profiles. Quantiles and the
 * histogram come from a KLL sketch; the histogram's bins are equal-width between the exact
 * min and max, with counts estimated from the sketch's ranks, so it is mergeable too and
 * its size never depends on the number of rows.
 */
#include "data/profile.h"

#include "data/sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KLL_K         200
#define TOPK_CAPACITY 64
#define TOP_SHOWN     20
#define HIST_BINS     20

static const double quantile_levels[] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
static const char *const quantile_names[] = {"p01", "p05", "p25", "p50", "p75", "p95", "p99"};

typedef struct pcol {
    char *name;
    char *display_name;
    keel_type type;
    keel_role role;
    keel_pii pii;
    uint64_t count, missing, repaired;
    keel_hll hll;
    /* numeric, timestamp */
    uint64_t n;
    double mean, m2, min, max;
    uint64_t zeros;
    keel_kll *kll;
    /* categorical (one count per category) and boolean (false, true) */
    keel_strlist cats;
    uint64_t *cat_counts;
    /* text, id */
    keel_topk *top;
    uint64_t len_min, len_max;
    double len_sum;
} pcol;

struct keel_profile {
    char *source;
    char sha256[65];
    char created[40]; /* ISO 8601, "" when not recorded */
    uint64_t records, accepted, quarantined;
    pcol *cols;
    size_t n_cols;
};

static bool has_moments(keel_type t)
{
    return t == KEEL_TYPE_NUMERIC || t == KEEL_TYPE_TIMESTAMP;
}

static bool has_topk(keel_type t)
{
    return t == KEEL_TYPE_TEXT || t == KEEL_TYPE_ID;
}

static void pcol_free(pcol *c)
{
    keel_free(c->name);
    keel_free(c->display_name);
    keel_kll_free(c->kll);
    keel_strlist_clear(&c->cats);
    keel_free(c->cat_counts);
    keel_topk_free(c->top);
}

void keel_profile_free(keel_profile *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_cols; i++)
        pcol_free(&p->cols[i]);
    keel_free(p->cols);
    keel_free(p->source);
    keel_free(p);
}

/* Sets up column c's sketches for its type; names already set. */
static int pcol_init(pcol *c, size_t n_cats)
{
    keel_hll_init(&c->hll);
    c->min = INFINITY;
    c->max = -INFINITY;
    c->len_min = UINT64_MAX;
    if (has_moments(c->type) && !(c->kll = keel_kll_new(KLL_K, 0x6b65656c))) return KEEL_ENOMEM;
    if (c->type == KEEL_TYPE_CATEGORICAL || c->type == KEEL_TYPE_BOOLEAN) {
        size_t n = c->type == KEEL_TYPE_BOOLEAN ? 2 : n_cats;
        if (!(c->cat_counts = keel_calloc(n ? n : 1, sizeof *c->cat_counts))) return KEEL_ENOMEM;
    }
    if (has_topk(c->type) && !(c->top = keel_topk_new(TOPK_CAPACITY))) return KEEL_ENOMEM;
    return KEEL_OK;
}

static keel_profile *profile_alloc(size_t n_cols)
{
    keel_profile *p = keel_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cols = keel_calloc(n_cols ? n_cols : 1, sizeof *p->cols);
    if (!p->cols) {
        keel_free(p);
        return NULL;
    }
    p->n_cols = n_cols;
    return p;
}

keel_profile *keel_profile_new(const keel_schema *s)
{
    keel_profile *p = profile_alloc(s->n_columns);
    if (!p) return NULL;
    for (size_t i = 0; i < s->n_columns; i++) {
        const keel_schema_column *sc = &s->columns[i];
        pcol *c = &p->cols[i];
        c->type = sc->type;
        c->role = sc->role;
        c->pii = sc->pii;
        if (!(c->name = keel_strdup(sc->name)) ||
            (sc->display_name && !(c->display_name = keel_strdup(sc->display_name))))
            goto fail;
        for (size_t k = 0; k < sc->categories.n; k++)
            if (keel_strlist_add(&c->cats, sc->categories.items[k],
                                 strlen(sc->categories.items[k])))
                goto fail;
        if (pcol_init(c, sc->categories.n)) goto fail;
    }
    return p;
fail:
    keel_profile_free(p);
    return NULL;
}

/* Chan et al.: combines (n, mean, m2) of two disjoint sets. */
static void combine_moments(uint64_t *n, double *mean, double *m2, uint64_t nb, double mean_b,
                            double m2_b)
{
    if (nb == 0) return;
    if (*n == 0) {
        *n = nb;
        *mean = mean_b;
        *m2 = m2_b;
        return;
    }
    double na = (double)*n, nbd = (double)nb, total = na + nbd;
    double delta = mean_b - *mean;
    *mean += delta * nbd / total;
    *m2 += m2_b + delta * delta * na * nbd / total;
    *n += nb;
}

static int add_values(pcol *c, const double *x, size_t n_rows)
{
    /* First pass: count, sum, min, max, sketches. */
    uint64_t n = 0, zeros = 0;
    double sum = 0, mn = c->min, mx = c->max;
    for (size_t r = 0; r < n_rows; r++) {
        double v = x[r];
        if (isnan(v)) continue;
        n++;
        sum += v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        if (v == 0) {
            zeros++;
            v = 0.0; /* -0 and 0 are one distinct value */
        }
        uint64_t bits;
        memcpy(&bits, &v, 8);
        keel_hll_add(&c->hll, keel_mix64(bits));
    }
    /* Quantiles: the whole array at once (missing values are skipped by the sketch). */
    if (keel_kll_add_many(c->kll, x, n_rows)) return KEEL_ENOMEM;
    c->missing += n_rows - n;
    c->zeros += zeros;
    c->min = mn;
    c->max = mx;
    if (n == 0) return KEEL_OK;
    /* Second pass: squared deviations from the chunk's mean (numerically stable). */
    double mean = sum / (double)n, m2 = 0;
    for (size_t r = 0; r < n_rows; r++) {
        double d = x[r] - mean;
        if (!isnan(d)) m2 += d * d;
    }
    combine_moments(&c->n, &c->mean, &c->m2, n, mean, m2);
    return KEEL_OK;
}

int keel_profile_add_frame(void *ud, const keel_frame *f)
{
    keel_profile *p = ud;
    double tmp[1024];
    for (size_t i = 0; i < p->n_cols && i < f->n_cols; i++) {
        pcol *c = &p->cols[i];
        const keel_column *col = &f->cols[i];
        c->count += f->n_rows;
        switch (c->type) {
        case KEEL_TYPE_NUMERIC:
            if (add_values(c, col->num, f->n_rows)) return KEEL_ENOMEM;
            break;
        case KEEL_TYPE_TIMESTAMP:
            for (size_t r0 = 0; r0 < f->n_rows; r0 += 1024) {
                size_t n = KEEL_MIN((size_t)1024, f->n_rows - r0);
                for (size_t r = 0; r < n; r++)
                    tmp[r] = col->ts[r0 + r] == KEEL_TS_MISSING ? NAN : (double)col->ts[r0 + r];
                if (add_values(c, tmp, n)) return KEEL_ENOMEM;
            }
            break;
        case KEEL_TYPE_CATEGORICAL:
            for (size_t r = 0; r < f->n_rows; r++) {
                int32_t k = col->cat[r];
                if (k < 0 || (size_t)k >= c->cats.n)
                    c->missing++;
                else
                    c->cat_counts[k]++;
            }
            break;
        case KEEL_TYPE_BOOLEAN:
            for (size_t r = 0; r < f->n_rows; r++) {
                int8_t b = col->boolean[r];
                if (b < 0)
                    c->missing++;
                else
                    c->cat_counts[b ? 1 : 0]++;
            }
            break;
        default:
            for (size_t r = 0; r < f->n_rows; r++) {
                if (col->missing[r]) {
                    c->missing++;
                    continue;
                }
                size_t len;
                const char *t = keel_column_text(col, r, &len);
                keel_hll_add(&c->hll, keel_hash64(t, len, 0));
                if (keel_topk_add(c->top, t, len, 1)) return KEEL_ENOMEM;
                c->len_min = KEEL_MIN(c->len_min, (uint64_t)len);
                c->len_max = KEEL_MAX(c->len_max, (uint64_t)len);
                c->len_sum += (double)len;
            }
        }
    }
    return KEEL_OK;
}

void keel_profile_set_created(keel_profile *p, int64_t micros)
{
    keel_format_timestamp(micros - micros % 1000000, p->created);
}

int keel_profile_set_source(keel_profile *p, const char *source, const char *sha256,
                            uint64_t records, uint64_t accepted, uint64_t quarantined,
                            const uint64_t *repaired)
{
    keel_free(p->source);
    p->source = NULL;
    if (source && !(p->source = keel_strdup(source))) return KEEL_ENOMEM;
    p->sha256[0] = '\0';
    if (sha256 && strlen(sha256) == 64) memcpy(p->sha256, sha256, 65);
    p->records = records;
    p->accepted = accepted;
    p->quarantined = quarantined;
    if (repaired)
        for (size_t i = 0; i < p->n_cols; i++)
            p->cols[i].repaired = repaired[i];
    return KEEL_OK;
}

/* ---- derived statistics ---- */

size_t keel_profile_n_columns(const keel_profile *p)
{
    return p->n_cols;
}

uint64_t keel_profile_records(const keel_profile *p)
{
    return p->records;
}

double keel_profile_mean(const keel_profile *p, size_t i)
{
    return i < p->n_cols && p->cols[i].n ? p->cols[i].mean : NAN;
}

double keel_profile_std(const keel_profile *p, size_t i)
{
    /* The sample standard deviation (n - 1), as pandas' describe() reports it. */
    return i < p->n_cols && p->cols[i].n > 1 ? sqrt(p->cols[i].m2 / (double)(p->cols[i].n - 1))
                                             : NAN;
}

double keel_profile_quantile(const keel_profile *p, size_t i, double q)
{
    return i < p->n_cols && p->cols[i].kll ? keel_kll_quantile(p->cols[i].kll, q) : NAN;
}

uint64_t keel_profile_missing(const keel_profile *p, size_t i)
{
    return i < p->n_cols ? p->cols[i].missing : 0;
}

uint64_t keel_profile_count(const keel_profile *p, size_t i)
{
    return i < p->n_cols ? p->cols[i].count : 0;
}

long keel_profile_find(const keel_profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_cols; i++)
        if (p->cols[i].name && !strcmp(p->cols[i].name, name)) return (long)i;
    return -1;
}

double keel_profile_rank(const keel_profile *p, size_t i, double x)
{
    return i < p->n_cols && p->cols[i].kll ? keel_kll_rank(p->cols[i].kll, x) : NAN;
}

static const char *const bool_names[] = {"false", "true"};

uint64_t keel_profile_category_count(const keel_profile *p, size_t i, const char *label)
{
    if (i >= p->n_cols || !p->cols[i].cat_counts || !label) return 0;
    const pcol *c = &p->cols[i];
    if (c->type == KEEL_TYPE_BOOLEAN)
        return !strcmp(label, "true")    ? c->cat_counts[1]
               : !strcmp(label, "false") ? c->cat_counts[0]
                                         : 0;
    long k = keel_strlist_find(&c->cats, label, strlen(label));
    return k < 0 ? 0 : c->cat_counts[k];
}

const char *keel_profile_mode(const keel_profile *p, size_t i)
{
    if (i >= p->n_cols || !p->cols[i].cat_counts) return NULL;
    const pcol *c = &p->cols[i];
    size_t n = c->type == KEEL_TYPE_BOOLEAN ? 2 : c->cats.n, best = 0;
    if (n == 0) return NULL;
    for (size_t k = 1; k < n; k++)
        if (c->cat_counts[k] > c->cat_counts[best]) best = k;
    if (c->cat_counts[best] == 0) return NULL;
    return c->type == KEEL_TYPE_BOOLEAN ? bool_names[best] : c->cats.items[best];
}

double keel_profile_distinct(const keel_profile *p, size_t i)
{
    if (i >= p->n_cols) return NAN;
    const pcol *c = &p->cols[i];
    if (c->cat_counts) {
        size_t n = c->type == KEEL_TYPE_BOOLEAN ? 2 : c->cats.n, d = 0;
        for (size_t k = 0; k < n; k++)
            d += c->cat_counts[k] > 0;
        return (double)d;
    }
    if (c->count == c->missing) return 0;
    double est = keel_hll_estimate(&c->hll);
    /* An estimate above the number of values is impossible; cap it. */
    double present = (double)(c->count - c->missing);
    return est > present ? present : est;
}

/* ---- JSON ---- */

static void put_key(keel_buf *b, const char *k)
{
    keel_buf_json_str(b, k, strlen(k));
    keel_buf_putc(b, ':');
}

static void put_str(keel_buf *b, const char *k, const char *v)
{
    put_key(b, k);
    if (v)
        keel_buf_json_str(b, v, strlen(v));
    else
        keel_buf_puts(b, "null");
}

static void put_num(keel_buf *b, const char *k, double v)
{
    put_key(b, k);
    keel_buf_json_num(b, v);
}

/* A value of a numeric or timestamp column: a number, or an ISO string for timestamps. */
static void put_value(keel_buf *b, keel_type t, double v)
{
    if (t == KEEL_TYPE_TIMESTAMP && isfinite(v)) {
        char iso[40];
        keel_format_timestamp((int64_t)llround(v), iso);
        keel_buf_json_str(b, iso, strlen(iso));
    } else {
        keel_buf_json_num(b, v);
    }
}

static void write_distribution(keel_buf *b, const pcol *c)
{
    bool ts = c->type == KEEL_TYPE_TIMESTAMP;
    put_key(b, ts ? "timestamp" : "numeric");
    keel_buf_putc(b, '{');
    bool any = c->n > 0;
    put_key(b, "min");
    put_value(b, c->type, any ? c->min : NAN);
    keel_buf_putc(b, ',');
    put_key(b, "max");
    put_value(b, c->type, any ? c->max : NAN);
    keel_buf_putc(b, ',');
    put_key(b, "mean");
    put_value(b, c->type, any ? c->mean : NAN);
    keel_buf_putc(b, ',');
    put_num(b, ts ? "std_seconds" : "std",
            c->n > 1 ? sqrt(c->m2 / (double)(c->n - 1)) / (ts ? 1e6 : 1) : NAN);
    if (!ts) {
        keel_buf_putc(b, ',');
        put_num(b, "zeros", (double)c->zeros);
    }
    keel_buf_puts(b, ",\"quantiles\":{");
    for (size_t q = 0; q < KEEL_ARRAY_LEN(quantile_levels); q++) {
        if (q) keel_buf_putc(b, ',');
        put_key(b, quantile_names[q]);
        put_value(b, c->type, any ? keel_kll_quantile(c->kll, quantile_levels[q]) : NAN);
    }
    keel_buf_puts(b, "},\"histogram\":{\"edges\":[");
    int bins = any && c->max > c->min ? HIST_BINS : 1;
    double lo = any ? c->min : 0, hi = any ? c->max : 0;
    for (int k = 0; k <= bins; k++) {
        if (k) keel_buf_putc(b, ',');
        double edge = k == bins ? hi : lo + (hi - lo) * k / bins;
        put_value(b, c->type, edge);
    }
    keel_buf_puts(b, "],\"counts\":[");
    uint64_t used = 0;
    double prev = 0;
    for (int k = 1; k <= bins; k++) {
        double edge = k == bins ? hi : lo + (hi - lo) * k / bins;
        double rank = k == bins ? 1.0 : (any ? keel_kll_rank(c->kll, edge) : 0);
        uint64_t cnt = k == bins ? c->n - used : (uint64_t)llround((rank - prev) * (double)c->n);
        if (used + cnt > c->n) cnt = c->n - used;
        used += cnt;
        prev = rank;
        keel_buf_printf(b, "%s%llu", k > 1 ? "," : "", (unsigned long long)cnt);
    }
    keel_buf_puts(b, "]}}");
}

typedef struct shown {
    const char *s;
    size_t len;
    uint64_t count;
} shown;

static int cmp_shown(const void *a, const void *b)
{
    const shown *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    int c = memcmp(x->s, y->s, KEEL_MIN(x->len, y->len));
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void write_top(keel_buf *b, const pcol *c)
{
    shown items[TOPK_CAPACITY > 2 ? TOPK_CAPACITY : 2];
    size_t n = 0;
    uint64_t present = c->count - c->missing, listed = 0;
    if (c->type == KEEL_TYPE_BOOLEAN) {
        items[n++] = (shown){"true", 4, c->cat_counts[1]};
        items[n++] = (shown){"false", 5, c->cat_counts[0]};
    } else if (c->type == KEEL_TYPE_CATEGORICAL) {
        /* All categories sorted by count; only the first TOP_SHOWN are listed. */
        shown *all = keel_calloc(c->cats.n ? c->cats.n : 1, sizeof *all);
        if (all) {
            for (size_t k = 0; k < c->cats.n; k++)
                all[k] = (shown){c->cats.items[k], strlen(c->cats.items[k]), c->cat_counts[k]};
            qsort(all, c->cats.n, sizeof *all, cmp_shown);
            for (size_t k = 0; k < c->cats.n && n < TOP_SHOWN; k++)
                if (all[k].count) items[n++] = all[k];
            keel_free(all);
        }
    } else {
        keel_topk_item ti[TOP_SHOWN];
        size_t got = keel_topk_items(c->top, ti, TOP_SHOWN);
        for (size_t k = 0; k < got; k++)
            items[n++] = (shown){ti[k].s, ti[k].len, ti[k].count};
    }
    keel_buf_puts(b, ",\"top\":[");
    for (size_t k = 0; k < n; k++) {
        keel_buf_puts(b, k ? ",{\"value\":" : "{\"value\":");
        keel_buf_json_str(b, items[k].s, items[k].len);
        keel_buf_printf(b, ",\"count\":%llu}", (unsigned long long)items[k].count);
        listed += items[k].count;
    }
    keel_buf_printf(b, "],\"other_count\":%llu",
                    (unsigned long long)(present > listed ? present - listed : 0));
}

static void write_sketch(keel_buf *b, const pcol *c)
{
    keel_buf_puts(b, ",\"sketch\":{\"hll\":");
    keel_hll_write(&c->hll, b);
    if (has_moments(c->type)) {
        keel_buf_puts(b, ",\"moments\":{");
        put_num(b, "n", (double)c->n);
        keel_buf_putc(b, ',');
        put_num(b, "mean", c->mean);
        keel_buf_putc(b, ',');
        put_num(b, "m2", c->m2);
        keel_buf_putc(b, ',');
        put_num(b, "min", c->n ? c->min : NAN);
        keel_buf_putc(b, ',');
        put_num(b, "max", c->n ? c->max : NAN);
        keel_buf_putc(b, ',');
        put_num(b, "zeros", (double)c->zeros);
        keel_buf_puts(b, "},\"kll\":");
        keel_kll_write(c->kll, b);
    }
    if (c->cat_counts) {
        keel_buf_puts(b, ",\"counts\":[");
        size_t n = c->type == KEEL_TYPE_BOOLEAN ? 2 : c->cats.n;
        for (size_t k = 0; k < n; k++)
            keel_buf_printf(b, "%s%llu", k ? "," : "", (unsigned long long)c->cat_counts[k]);
        keel_buf_putc(b, ']');
        if (c->type == KEEL_TYPE_CATEGORICAL) {
            keel_buf_puts(b, ",\"categories\":[");
            for (size_t k = 0; k < c->cats.n; k++) {
                if (k) keel_buf_putc(b, ',');
                keel_buf_json_str(b, c->cats.items[k], strlen(c->cats.items[k]));
            }
            keel_buf_putc(b, ']');
        }
    }
    if (c->top) {
        keel_buf_puts(b, ",\"topk\":");
        keel_topk_write(c->top, b);
        keel_buf_printf(b, ",\"length\":{\"min\":%llu,\"max\":%llu,\"sum\":",
                        (unsigned long long)(c->len_min == UINT64_MAX ? 0 : c->len_min),
                        (unsigned long long)c->len_max);
        keel_buf_json_num(b, c->len_sum);
        keel_buf_putc(b, '}');
    }
    keel_buf_putc(b, '}');
}

int keel_profile_write_json(const keel_profile *p, keel_buf *b)
{
    keel_buf_puts(b, "{\"keel_profile\":1,");
    put_str(b, "source", p->source);
    keel_buf_putc(b, ',');
    put_str(b, "source_sha256", p->sha256[0] ? p->sha256 : NULL);
    keel_buf_putc(b, ',');
    put_str(b, "created", p->created[0] ? p->created : NULL);
    keel_buf_putc(b, ',');
    put_str(b, "keel_version", keel_version());
    keel_buf_printf(b, ",\"records\":%llu,\"accepted\":%llu,\"quarantined\":%llu,\"columns\":[",
                    (unsigned long long)p->records, (unsigned long long)p->accepted,
                    (unsigned long long)p->quarantined);
    for (size_t i = 0; i < p->n_cols; i++) {
        const pcol *c = &p->cols[i];
        keel_buf_puts(b, i ? ",\n{" : "\n{");
        put_str(b, "name", c->name);
        keel_buf_putc(b, ',');
        put_str(b, "type", keel_type_name(c->type));
        keel_buf_putc(b, ',');
        put_str(b, "role", keel_role_name(c->role));
        if (c->display_name) {
            keel_buf_putc(b, ',');
            put_str(b, "display_name", c->display_name);
        }
        keel_buf_putc(b, ',');
        put_str(b, "pii", keel_pii_name(c->pii));
        keel_buf_printf(b, ",\"count\":%llu,\"missing\":%llu,\"repaired\":%llu,",
                        (unsigned long long)c->count, (unsigned long long)c->missing,
                        (unsigned long long)c->repaired);
        put_num(b, "distinct", round(keel_profile_distinct(p, i)));
        /* Categorical and boolean columns count every value; the others estimate. */
        keel_buf_printf(b, ",\"distinct_exact\":%s", c->cat_counts ? "true" : "false");
        if (has_moments(c->type)) {
            keel_buf_putc(b, ',');
            write_distribution(b, c);
        } else {
            if (c->type == KEEL_TYPE_CATEGORICAL)
                keel_buf_printf(b, ",\"categories\":%zu", c->cats.n);
            if (has_topk(c->type)) {
                uint64_t present = c->count - c->missing;
                keel_buf_printf(b, ",\"length\":{\"min\":%llu,\"max\":%llu,\"mean\":",
                                (unsigned long long)(present ? c->len_min : 0),
                                (unsigned long long)c->len_max);
                keel_buf_json_num(b, present ? c->len_sum / (double)present : NAN);
                keel_buf_putc(b, '}');
            }
            write_top(b, c);
        }
        write_sketch(b, c);
        keel_buf_putc(b, '}');
    }
    keel_buf_puts(b, "\n]}\n");
    return b->data ? KEEL_OK : KEEL_ENOMEM;
}

/* ---- reading back ---- */

static int bad(keel_error *e, size_t col, const char *what)
{
    return keel_error_set(e, KEEL_EFORMAT, "profile column %zu: %s", col + 1, what);
}

static bool get_count(const keel_json *v, uint64_t *out)
{
    double d = keel_json_num(v, -1);
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

static int read_column(pcol *c, const keel_json *j, size_t i, keel_error *e)
{
    const char *name = keel_json_str(keel_json_get(j, "name"));
    const char *type = keel_json_str(keel_json_get(j, "type"));
    const char *role = keel_json_str(keel_json_get(j, "role"));
    if (!name || !type || keel_type_from_name(type) < 0)
        return bad(e, i, "needs a name and a known type");
    c->type = (keel_type)keel_type_from_name(type);
    c->role = role && keel_role_from_name(role) >= 0 ? (keel_role)keel_role_from_name(role)
                                                     : KEEL_ROLE_FEATURE;
    const char *pii = keel_json_str(keel_json_get(j, "pii"));
    c->pii =
        pii && keel_pii_from_name(pii) >= 0 ? (keel_pii)keel_pii_from_name(pii) : KEEL_PII_NONE;
    const char *dn = keel_json_str(keel_json_get(j, "display_name"));
    if (!(c->name = keel_strdup(name)) || (dn && !(c->display_name = keel_strdup(dn))))
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if (!get_count(keel_json_get(j, "count"), &c->count) ||
        !get_count(keel_json_get(j, "missing"), &c->missing) ||
        !get_count(keel_json_get(j, "repaired"), &c->repaired) || c->missing > c->count)
        return bad(e, i, "bad count, missing or repaired");
    const keel_json *sk = keel_json_get(j, "sketch");
    const keel_json *cats = keel_json_get(sk, "categories");
    if (c->type == KEEL_TYPE_CATEGORICAL) {
        for (size_t k = 0; k < keel_json_len(cats); k++) {
            const keel_json *cv = keel_json_at(cats, k);
            if (!keel_json_str(cv)) return bad(e, i, "categories must be strings");
            if (keel_strlist_add(&c->cats, cv->u.string.s, cv->u.string.len))
                return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        }
    }
    if (pcol_init(c, c->cats.n)) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = keel_hll_read(&c->hll, keel_json_get(sk, "hll"), e);
    if (rc) return rc;
    if (has_moments(c->type)) {
        const keel_json *m = keel_json_get(sk, "moments");
        if (!get_count(keel_json_get(m, "n"), &c->n) ||
            !get_count(keel_json_get(m, "zeros"), &c->zeros) || c->n > c->count)
            return bad(e, i, "bad moments");
        c->mean = keel_json_num(keel_json_get(m, "mean"), NAN);
        c->m2 = keel_json_num(keel_json_get(m, "m2"), NAN);
        if (c->n) {
            c->min = keel_json_num(keel_json_get(m, "min"), NAN);
            c->max = keel_json_num(keel_json_get(m, "max"), NAN);
        }
        if (c->n && !(isfinite(c->mean) && isfinite(c->m2) && c->m2 >= 0 && c->min <= c->max))
            return bad(e, i, "moments are not finite");
        keel_kll_free(c->kll);
        c->kll = NULL;
        if ((rc = keel_kll_read(keel_json_get(sk, "kll"), &c->kll, e))) return rc;
    }
    if (c->cat_counts) {
        const keel_json *counts = keel_json_get(sk, "counts");
        size_t n = c->type == KEEL_TYPE_BOOLEAN ? 2 : c->cats.n;
        if (keel_json_len(counts) != n || (counts && counts->type != KEEL_JSON_ARRAY))
            return bad(e, i, "counts do not match the categories");
        for (size_t k = 0; k < n; k++)
            if (!get_count(keel_json_at(counts, k), &c->cat_counts[k]))
                return bad(e, i, "bad category count");
    }
    if (c->top) {
        keel_topk_free(c->top);
        c->top = NULL;
        if ((rc = keel_topk_read(keel_json_get(sk, "topk"), &c->top, e))) return rc;
        const keel_json *len = keel_json_get(sk, "length");
        uint64_t mn, mx;
        if (!get_count(keel_json_get(len, "min"), &mn) ||
            !get_count(keel_json_get(len, "max"), &mx))
            return bad(e, i, "bad length");
        c->len_min = c->count > c->missing ? mn : UINT64_MAX;
        c->len_max = mx;
        c->len_sum = keel_json_num(keel_json_get(len, "sum"), 0);
    }
    return KEEL_OK;
}

int keel_profile_read_json(const keel_json *root, keel_profile **out, keel_error *e)
{
    *out = NULL;
    if (!root || root->type != KEEL_JSON_OBJECT ||
        keel_json_num(keel_json_get(root, "keel_profile"), 0) != 1)
        return keel_error_set(e, KEEL_EFORMAT, "not a keel profile (version 1)");
    const keel_json *cols = keel_json_get(root, "columns");
    if (!cols || cols->type != KEEL_JSON_ARRAY)
        return keel_error_set(e, KEEL_EFORMAT, "profile has no columns array");
    keel_profile *p = profile_alloc(keel_json_len(cols));
    if (!p) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc;
    const char *src = keel_json_str(keel_json_get(root, "source"));
    const char *sha = keel_json_str(keel_json_get(root, "source_sha256"));
    uint64_t records, accepted, quarantined;
    if (!get_count(keel_json_get(root, "records"), &records) ||
        !get_count(keel_json_get(root, "accepted"), &accepted) ||
        !get_count(keel_json_get(root, "quarantined"), &quarantined)) {
        rc = keel_error_set(e, KEEL_EFORMAT, "profile has bad record counts");
        goto fail;
    }
    const char *created = keel_json_str(keel_json_get(root, "created"));
    if (created) snprintf(p->created, sizeof p->created, "%s", created);
    if ((rc = keel_profile_set_source(p, src, sha, records, accepted, quarantined, NULL))) {
        keel_error_set(e, rc, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->n_cols; i++)
        if ((rc = read_column(&p->cols[i], keel_json_at(cols, i), i, e))) goto fail;
    *out = p;
    return KEEL_OK;
fail:
    keel_profile_free(p);
    return rc;
}

int keel_profile_merge(keel_profile *dst, const keel_profile *src, keel_error *e)
{
    if (dst->n_cols != src->n_cols)
        return keel_error_set(e, KEEL_EMISMATCH, "the profiles have %zu and %zu columns",
                              dst->n_cols, src->n_cols);
    for (size_t i = 0; i < dst->n_cols; i++) {
        pcol *a = &dst->cols[i];
        const pcol *b = &src->cols[i];
        if (strcmp(a->name, b->name) || a->type != b->type)
            return keel_error_set(e, KEEL_EMISMATCH, "column %zu differs: '%s' (%s) and '%s' (%s)",
                                  i + 1, a->name, keel_type_name(a->type), b->name,
                                  keel_type_name(b->type));
        if (a->type == KEEL_TYPE_CATEGORICAL) {
            if (a->cats.n != b->cats.n)
                return keel_error_set(e, KEEL_EMISMATCH, "column '%s': different categories",
                                      a->name);
            for (size_t k = 0; k < a->cats.n; k++)
                if (strcmp(a->cats.items[k], b->cats.items[k]))
                    return keel_error_set(e, KEEL_EMISMATCH, "column '%s': different categories",
                                          a->name);
        }
    }
    for (size_t i = 0; i < dst->n_cols; i++) {
        pcol *a = &dst->cols[i];
        const pcol *b = &src->cols[i];
        a->count += b->count;
        a->missing += b->missing;
        a->repaired += b->repaired;
        keel_hll_merge(&a->hll, &b->hll);
        if (has_moments(a->type)) {
            if (b->n) {
                a->min = KEEL_MIN(a->min, b->min);
                a->max = KEEL_MAX(a->max, b->max);
            }
            a->zeros += b->zeros;
            combine_moments(&a->n, &a->mean, &a->m2, b->n, b->mean, b->m2);
            if (keel_kll_merge(a->kll, b->kll))
                return keel_error_set(e, KEEL_ENOMEM, "out of memory");
        }
        if (a->cat_counts) {
            size_t n = a->type == KEEL_TYPE_BOOLEAN ? 2 : a->cats.n;
            for (size_t k = 0; k < n; k++)
                a->cat_counts[k] += b->cat_counts[k];
        }
        if (a->top) {
            if (keel_topk_merge(a->top, b->top))
                return keel_error_set(e, KEEL_ENOMEM, "out of memory");
            a->len_min = KEEL_MIN(a->len_min, b->len_min);
            a->len_max = KEEL_MAX(a->len_max, b->len_max);
            a->len_sum += b->len_sum;
        }
    }
    dst->records += src->records;
    dst->accepted += src->accepted;
    dst->quarantined += src->quarantined;
    if (!dst->source || !src->source || strcmp(dst->source, src->source)) {
        keel_free(dst->source);
        dst->source = NULL; /* a merge of different sources has no single source */
    }
    dst->sha256[0] = '\0';
    return KEEL_OK;
}

int keel_profile_read_file(const char *path, keel_profile **out, keel_error *e)
{
    *out = NULL;
    keel_buf b;
    keel_buf_init(&b);
    keel_json_doc *doc = keel_json_doc_new();
    int rc = doc ? keel_file_read(path, KEEL_PROFILE_FILE_MAX, &b, e)
                 : keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if (rc == KEEL_OK && ((rc = keel_json_parse(doc, b.data, b.len, e)) != KEEL_OK ||
                          (rc = keel_profile_read_json(keel_json_root(doc), out, e)) != KEEL_OK)) {
        keel_error pe = e ? *e : (keel_error){0};
        keel_error_set(e, rc, "%s: %s", path, pe.msg);
    }
    keel_json_doc_free(doc);
    keel_buf_free(&b);
    return rc;
}

int keel_profile_merge_files(const char *const *paths, size_t n, keel_profile **out, keel_error *e)
{
    *out = NULL;
    if (n == 0) return keel_error_set(e, KEEL_EINVAL, "no profile to merge");
    keel_profile *acc = NULL;
    int rc = keel_profile_read_file(paths[0], &acc, e);
    for (size_t i = 1; i < n && rc == KEEL_OK; i++) {
        keel_profile *next = NULL;
        if ((rc = keel_profile_read_file(paths[i], &next, e)) != KEEL_OK) break;
        if ((rc = keel_profile_merge(acc, next, e)) != KEEL_OK) {
            keel_error me = e ? *e : (keel_error){0};
            keel_error_set(e, rc, "%s and %s: %s", paths[0], paths[i], me.msg);
        }
        keel_profile_free(next);
    }
    if (rc == KEEL_OK)
        *out = acc;
    else
        keel_profile_free(acc);
    return rc;
}
