/*
 * metrics.c — the server's counters and latency histogram, rendered in the Prometheus text
 * exposition format (0.0.4).
 *
 * The hot path is serve_metrics_request, called once per answered request: at 100k+ requests
 * a second it must cost a hash and a few relaxed atomic adds, never a lock, and never a write
 * to a cache line that another core writes too (moving a line between cores costs about
 * 60 ns here, and a request made several such moves). Two fixed tables hold the label sets
 * seen so far:
 *
 *   request sets    (protocol, model, version, code) -> requests counter, and a pointer to
 *   latency sets    (protocol, model)                -> histogram buckets, sum, rows counter
 *
 * Each table is an array of entries (append-only: an entry, once published, is never moved or
 * freed before serve_metrics_free) and an open-addressing index of 2 * capacity slots probed
 * linearly. A slot holds 0 (empty) or entry number + 1. Readers probe without a lock; a writer
 * fills an entry completely, then publishes it with a release store into its slot, so a reader
 * that sees the slot (acquire) sees the whole entry. Only adding a label set takes the mutex,
 * which makes adding race-free (the adder probes again under the lock, so two threads seeing
 * the same new set add it once).
 *
 * Bounds. A label set is a client's choice (model names come from URLs), so the tables are
 * bounded: METRICS_MAX_SETS request sets and as many latency sets, each label value cut to
 * METRICS_MAX_LABEL bytes. Once a table is full, or an entry cannot be allocated, a request
 * is counted in that table's overflow set, whose labels are all "(other)"; totals stay exact
 * while the series count stays bounded. Checking "full" reads an atomic count, so traffic
 * with ever-new names never reaches the mutex once the table is full.
 *
 * The counts themselves live in shards, one per thread slot (keel_thread_slot() modulo
 * METRICS_SHARDS), each an array indexed by entry number, so that each server thread adds to
 * lines of its own; rendering sums the shards. A shard is allocated when its slot first
 * counts (it is mostly untouched zero pages); shard 0 exists from the start and takes the
 * counts of a slot whose shard cannot be allocated.
 *
 * Latencies are kept per bucket (not cumulative) as integers, the sum as integer nanoseconds
 * (an atomic double add would need a CAS loop); rendering accumulates the buckets, derives
 * _count from them (so _count always equals the +Inf bucket) and prints the sum in seconds.
 * Model loads are rare, so they live in a small array under the mutex, like rendering.
 *
 * Label values are escaped as the format requires (backslash, double quote, newline), and
 * bytes that are not valid UTF-8 become U+FFFD, since the format is UTF-8 and promtool
 * rejects anything else.
 */
#include "serve/serve.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* 50us .. 2.5s: a fast tabular model answers in well under a millisecond, a large batch or a
 * cold start in seconds. */
/* clang-format off */
const double serve_latency_bounds[SERVE_LATENCY_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    2.5,
};
/* clang-format on */

#define METRICS_MAX_SETS  1024 /* request sets, and latency sets, before overflow */
#define METRICS_SLOTS     (2 * METRICS_MAX_SETS) /* index size: load factor at most 1/2 */
#define METRICS_MAX_LABEL 256  /* bytes of a label value kept; longer values are cut */
#define METRICS_MAX_LOADS 1024 /* (model, version) pairs whose load time is kept */
#define OTHER             "(other)"
#define METRICS_SHARDS    16 /* counter shards, by thread slot */

/* A latency set's counters in a shard: the buckets (the last is +Inf), the sum, the rows. */
#define LAT_SUM    (SERVE_LATENCY_BUCKETS + 1)
#define LAT_ROWS   (SERVE_LATENCY_BUCKETS + 2)
#define LAT_FIELDS (SERVE_LATENCY_BUCKETS + 3)

/* One thread slot's counters, by entry number; number METRICS_MAX_SETS is the overflow set. */
typedef struct shard {
    _Atomic uint64_t req[METRICS_MAX_SETS + 1];
    _Atomic uint64_t lat[METRICS_MAX_SETS + 1][LAT_FIELDS];
    _Atomic int64_t in_flight;
} shard;

/* One (protocol, model) pair: the latency histogram and the rows predicted (in the shards). */
typedef struct lat_set {
    uint64_t hash;
    const char *protocol, *model; /* in one allocation, owned (OTHER for the overflow set) */
    size_t n_protocol, n_model;
    uint32_t id; /* entry number: its counters' index in a shard */
} lat_set;

/* One (protocol, model, version, code) set. */
typedef struct req_set {
    uint64_t hash;
    const char *protocol, *model, *version; /* one allocation, owned; OTHER for overflow */
    size_t n_protocol, n_model, n_version;
    int code; /* -1 in the overflow set */
    lat_set *lat;
    uint32_t id; /* entry number: its counter's index in a shard */
} req_set;

typedef struct load_rec {
    char *model, *version; /* one allocation */
    double seconds;        /* the latest load's duration */
    uint64_t loads;        /* of this model, kept on the model's first record */
} load_rec;

struct serve_metrics {
    pthread_mutex_t lock; /* adding a set, the loads array, rendering */
    req_set *req;         /* METRICS_MAX_SETS entries */
    lat_set *lat;
    _Atomic uint32_t *req_slots; /* METRICS_SLOTS each */
    _Atomic uint32_t *lat_slots;
    _Atomic uint32_t n_req, n_lat; /* entries published */
    req_set req_other;
    lat_set lat_other;
    load_rec *loads;
    size_t n_loads;
    _Atomic(shard *) shards[METRICS_SHARDS];
    _Atomic uint64_t shed;
    _Atomic uint64_t log_dropped;
    double start_time; /* wall clock, seconds since the epoch */
};

serve_metrics *serve_metrics_new(void)
{
    serve_metrics *m = keel_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->req = keel_calloc(METRICS_MAX_SETS, sizeof *m->req);
    m->lat = keel_calloc(METRICS_MAX_SETS, sizeof *m->lat);
    m->req_slots = keel_calloc(METRICS_SLOTS, sizeof *m->req_slots);
    m->lat_slots = keel_calloc(METRICS_SLOTS, sizeof *m->lat_slots);
    m->loads = keel_calloc(METRICS_MAX_LOADS, sizeof *m->loads);
    shard *first = keel_calloc(1, sizeof(shard));
    atomic_init(&m->shards[0], first);
    if (!m->req || !m->lat || !m->req_slots || !m->lat_slots || !m->loads || !first) goto fail;
    if (pthread_mutex_init(&m->lock, NULL) != 0) goto fail;
    /* calloc's zero bytes are valid initial values of the atomics on every platform keel
     * builds for; the overflow sets only need their labels. */
    m->lat_other.protocol = m->lat_other.model = OTHER;
    m->lat_other.n_protocol = m->lat_other.n_model = strlen(OTHER);
    m->req_other.protocol = m->req_other.model = m->req_other.version = OTHER;
    m->req_other.n_protocol = m->req_other.n_model = m->req_other.n_version = strlen(OTHER);
    m->req_other.code = -1;
    m->req_other.lat = &m->lat_other;
    m->req_other.id = m->lat_other.id = METRICS_MAX_SETS;
    m->start_time = (double)keel_wall_micros() / 1e6;
    return m;
fail:
    keel_free(first);
    keel_free(m->req);
    keel_free(m->lat);
    keel_free((void *)m->req_slots);
    keel_free((void *)m->lat_slots);
    keel_free(m->loads);
    keel_free(m);
    return NULL;
}

void serve_metrics_free(serve_metrics *m)
{
    if (!m) return;
    uint32_t n = atomic_load(&m->n_req);
    for (uint32_t i = 0; i < n; i++)
        keel_free((void *)m->req[i].protocol);
    n = atomic_load(&m->n_lat);
    for (uint32_t i = 0; i < n; i++)
        keel_free((void *)m->lat[i].protocol);
    for (size_t i = 0; i < m->n_loads; i++)
        keel_free(m->loads[i].model);
    for (size_t i = 0; i < METRICS_SHARDS; i++)
        keel_free(atomic_load(&m->shards[i]));
    pthread_mutex_destroy(&m->lock);
    keel_free(m->req);
    keel_free(m->lat);
    keel_free((void *)m->req_slots);
    keel_free((void *)m->lat_slots);
    keel_free(m->loads);
    keel_free(m);
}

/* ---- label-set tables ------------------------------------------------------------------- */

/* A label value as the tables key it: NULL is "", and at most METRICS_MAX_LABEL bytes. */
typedef struct label {
    const char *s;
    size_t n;
} label;

static label label_of(const char *s)
{
    if (!s) return (label){"", 0};
    return (label){s, strnlen(s, METRICS_MAX_LABEL)};
}

static bool label_eq(const char *s, size_t n, label l)
{
    return n == l.n && memcmp(s, l.s, n) == 0;
}

/* Copies the labels into one allocation: each value followed by a NUL. */
static char *labels_dup(const label *ls, size_t n_ls, const char **out)
{
    size_t total = 0;
    for (size_t i = 0; i < n_ls; i++)
        total += ls[i].n + 1; /* each n <= METRICS_MAX_LABEL: no overflow */
    char *p = keel_malloc(total);
    if (!p) return NULL;
    char *q = p;
    for (size_t i = 0; i < n_ls; i++) {
        memcpy(q, ls[i].s, ls[i].n);
        q[ls[i].n] = '\0';
        out[i] = q;
        q += ls[i].n + 1;
    }
    return p;
}

/* The tables' hash: one pass over the labels joined with NULs (which a label value, a C
 * string, cannot contain), so that ("ab", "c") and ("a", "bc") differ; one call over a short
 * key is about half the cost of chaining a call per label on this, the hot path. */
static uint64_t labels_hash(const label *ls, size_t n_ls, uint64_t seed)
{
    char key[3 * (METRICS_MAX_LABEL + 1)];
    size_t n = 0;
    for (size_t i = 0; i < n_ls; i++) {
        memcpy(key + n, ls[i].s, ls[i].n);
        n += ls[i].n;
        key[n++] = '\0';
    }
    return keel_hash64(key, n, seed);
}

static uint64_t lat_hash(label protocol, label model)
{
    label ls[2] = {protocol, model};
    return labels_hash(ls, 2, 0x6b65656c6c6174ULL);
}

static uint64_t req_hash(label protocol, label model, label version, int code)
{
    label ls[3] = {protocol, model, version};
    return labels_hash(ls, 3, 0x6b65656c726571ULL ^ (uint64_t)(uint32_t)code);
}

/* Probes the latency index for (protocol, model). Returns the entry, or NULL with *slot set
 * to the empty slot where the search ended. Lock-free; see the design note. */
static lat_set *lat_find(serve_metrics *m, uint64_t h, label protocol, label model, uint32_t *slot)
{
    for (uint32_t i = (uint32_t)h & (METRICS_SLOTS - 1);; i = (i + 1) & (METRICS_SLOTS - 1)) {
        uint32_t s = atomic_load_explicit(&m->lat_slots[i], memory_order_acquire);
        if (s == 0) {
            *slot = i;
            return NULL;
        }
        lat_set *e = &m->lat[s - 1];
        if (e->hash == h && label_eq(e->protocol, e->n_protocol, protocol) &&
            label_eq(e->model, e->n_model, model))
            return e;
    }
    /* The loop ends: at most METRICS_MAX_SETS of METRICS_SLOTS slots are ever full. */
}

static req_set *req_find(serve_metrics *m, uint64_t h, label protocol, label model, label version,
                         int code, uint32_t *slot)
{
    for (uint32_t i = (uint32_t)h & (METRICS_SLOTS - 1);; i = (i + 1) & (METRICS_SLOTS - 1)) {
        uint32_t s = atomic_load_explicit(&m->req_slots[i], memory_order_acquire);
        if (s == 0) {
            *slot = i;
            return NULL;
        }
        req_set *e = &m->req[s - 1];
        if (e->hash == h && e->code == code && label_eq(e->protocol, e->n_protocol, protocol) &&
            label_eq(e->model, e->n_model, model) && label_eq(e->version, e->n_version, version))
            return e;
    }
}

/* Finds or adds the latency set; called with the lock held. Never NULL. */
static lat_set *lat_get_locked(serve_metrics *m, label protocol, label model)
{
    uint64_t h = lat_hash(protocol, model);
    uint32_t slot;
    lat_set *e = lat_find(m, h, protocol, model, &slot);
    if (e) return e;
    uint32_t n = atomic_load_explicit(&m->n_lat, memory_order_relaxed);
    if (n >= METRICS_MAX_SETS) return &m->lat_other;
    e = &m->lat[n];
    label ls[2] = {protocol, model};
    const char *strs[2];
    if (!labels_dup(ls, 2, strs)) return &m->lat_other;
    e->hash = h;
    e->protocol = strs[0];
    e->model = strs[1];
    e->n_protocol = protocol.n;
    e->n_model = model.n;
    e->id = n;
    /* Count first, then the slot: render walks entries [0, n_lat), and lookups the slots. */
    atomic_store_explicit(&m->n_lat, n + 1, memory_order_release);
    atomic_store_explicit(&m->lat_slots[slot], n + 1, memory_order_release);
    return e;
}

/* Finds or adds the request set, taking the lock only to add. Never NULL. */
static req_set *req_get(serve_metrics *m, label protocol, label model, label version, int code)
{
    uint64_t h = req_hash(protocol, model, version, code);
    uint32_t slot;
    req_set *e = req_find(m, h, protocol, model, version, code, &slot);
    if (KEEL_LIKELY(e != NULL)) return e;
    if (atomic_load_explicit(&m->n_req, memory_order_relaxed) >= METRICS_MAX_SETS)
        return &m->req_other;

    pthread_mutex_lock(&m->lock);
    e = req_find(m, h, protocol, model, version, code, &slot); /* added meanwhile? */
    if (e) goto done;
    uint32_t n = atomic_load_explicit(&m->n_req, memory_order_relaxed);
    if (n >= METRICS_MAX_SETS) {
        e = &m->req_other;
        goto done;
    }
    label ls[3] = {protocol, model, version};
    const char *strs[3];
    if (!labels_dup(ls, 3, strs)) {
        e = &m->req_other;
        goto done;
    }
    e = &m->req[n];
    e->hash = h;
    e->protocol = strs[0];
    e->model = strs[1];
    e->version = strs[2];
    e->n_protocol = protocol.n;
    e->n_model = model.n;
    e->n_version = version.n;
    e->code = code;
    e->id = n;
    e->lat = lat_get_locked(m, protocol, model);
    atomic_store_explicit(&m->n_req, n + 1, memory_order_release);
    atomic_store_explicit(&m->req_slots[slot], n + 1, memory_order_release);
done:
    pthread_mutex_unlock(&m->lock);
    return e;
}

/* ---- recording ------------------------------------------------------------------------- */

/* This thread's shard, allocated on its first count; shard 0 when that fails. */
static shard *my_shard(serve_metrics *m)
{
    _Atomic(shard *) *slot = &m->shards[keel_thread_slot() % METRICS_SHARDS];
    shard *sh = atomic_load_explicit(slot, memory_order_acquire);
    if (KEEL_LIKELY(sh != NULL)) return sh;
    shard *fresh = keel_calloc(1, sizeof *fresh), *none = NULL;
    if (!fresh) return atomic_load_explicit(&m->shards[0], memory_order_relaxed);
    if (atomic_compare_exchange_strong(slot, &none, fresh)) return fresh;
    keel_free(fresh); /* another thread of the slot was first */
    return none;
}

/* The sum of one counter over the shards. */
static uint64_t summed(serve_metrics *m, size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i < METRICS_SHARDS; i++) {
        shard *sh = atomic_load_explicit(&m->shards[i], memory_order_acquire);
        if (sh)
            total += atomic_load_explicit((_Atomic uint64_t *)((char *)sh + offset),
                                          memory_order_relaxed);
    }
    return total;
}

static uint64_t req_count(serve_metrics *m, const req_set *r)
{
    return summed(m, offsetof(shard, req) + r->id * sizeof(uint64_t));
}

static uint64_t lat_field(serve_metrics *m, const lat_set *l, size_t field)
{
    return summed(m, offsetof(shard, lat) + (l->id * LAT_FIELDS + field) * sizeof(uint64_t));
}

void serve_metrics_request(serve_metrics *m, const char *protocol, const char *model,
                           const char *version, int status, size_t rows, double seconds)
{
    if (!m) return;
    req_set *r = req_get(m, label_of(protocol), label_of(model), label_of(version), status);
    shard *sh = my_shard(m);
    atomic_fetch_add_explicit(&sh->req[r->id], 1, memory_order_relaxed);

    /* NaN and negative durations (a clock gone backwards) count as 0; a day caps the sum's
     * increment so that the conversion to integer nanoseconds is defined. */
    if (!(seconds > 0)) seconds = 0;
    if (seconds > 86400) seconds = 86400;
    size_t b = 0;
    while (b < SERVE_LATENCY_BUCKETS && seconds > serve_latency_bounds[b])
        b++; /* le: a value equal to a bound falls in that bound's bucket */
    _Atomic uint64_t *l = sh->lat[r->lat->id];
    atomic_fetch_add_explicit(&l[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l[LAT_SUM], (uint64_t)(seconds * 1e9 + 0.5), memory_order_relaxed);
    if (rows) atomic_fetch_add_explicit(&l[LAT_ROWS], (uint64_t)rows, memory_order_relaxed);
}

void serve_metrics_in_flight(serve_metrics *m, int delta)
{
    /* A request may end on another thread than it began: a shard's count may go below 0,
     * the sum is what counts. */
    if (m) atomic_fetch_add_explicit(&my_shard(m)->in_flight, delta, memory_order_relaxed);
}

int64_t serve_metrics_in_flight_now(serve_metrics *m)
{
    int64_t total = 0;
    for (size_t i = 0; m && i < METRICS_SHARDS; i++) {
        shard *sh = atomic_load_explicit(&m->shards[i], memory_order_acquire);
        if (sh) total += atomic_load_explicit(&sh->in_flight, memory_order_relaxed);
    }
    return total;
}

void serve_metrics_shed(serve_metrics *m)
{
    if (m) atomic_fetch_add_explicit(&m->shed, 1, memory_order_relaxed);
}

void serve_metrics_log_dropped(serve_metrics *m, uint64_t total)
{
    if (m) atomic_store_explicit(&m->log_dropped, total, memory_order_relaxed);
}

void serve_metrics_model_loaded(serve_metrics *m, const char *model, const char *version,
                                double load_seconds)
{
    if (!m) return;
    label lm = label_of(model), lv = label_of(version);
    if (!(load_seconds >= 0) || isinf(load_seconds)) load_seconds = 0;
    pthread_mutex_lock(&m->lock);
    load_rec *first = NULL, *same = NULL;
    for (size_t i = 0; i < m->n_loads; i++) {
        load_rec *r = &m->loads[i];
        if (!label_eq(r->model, strlen(r->model), lm)) continue;
        if (!first) first = r;
        if (label_eq(r->version, strlen(r->version), lv)) same = r;
    }
    if (first) first->loads++;
    if (!same && m->n_loads < METRICS_MAX_LOADS) {
        label ls[2] = {lm, lv};
        const char *strs[2];
        char *p = labels_dup(ls, 2, strs);
        if (p) {
            same = &m->loads[m->n_loads++];
            same->model = p;
            same->version = p + lm.n + 1;
            same->loads = first ? 0 : 1;
        }
    }
    if (same) same->seconds = load_seconds; /* else the array is full: not recorded */
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ------------------------------------------------------------------------- */

/* Appends s[0..n) as the inside of a quoted label value. */
static int put_label_value(keel_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] != '\\' && s[run] != '"' && s[run] != '\n' &&
               (unsigned char)s[run] < 0x80)
            run++;
        if (run > i && keel_buf_append(out, s + i, run - i)) return KEEL_ENOMEM;
        i = run;
        if (i == n) break;
        int rc;
        if (s[i] == '\\')
            rc = keel_buf_puts(out, "\\\\"), i++;
        else if (s[i] == '"')
            rc = keel_buf_puts(out, "\\\""), i++;
        else if (s[i] == '\n')
            rc = keel_buf_puts(out, "\\n"), i++;
        else {
            /* A non-ASCII run: copy its valid UTF-8 prefix, replace one bad byte. */
            size_t end = i;
            while (end < n && (unsigned char)s[end] >= 0x80)
                end++;
            size_t ok = keel_utf8_valid_prefix(s + i, end - i);
            if (ok) {
                rc = keel_buf_append(out, s + i, ok);
                i += ok;
            } else {
                rc = keel_buf_puts(out, "\xef\xbf\xbd");
                i++;
            }
        }
        if (rc) return KEEL_ENOMEM;
    }
    return KEEL_OK;
}

static int put_label(keel_buf *out, bool first, const char *name, const char *s, size_t n)
{
    if (keel_buf_printf(out, "%s%s=\"", first ? "" : ",", name)) return KEEL_ENOMEM;
    if (put_label_value(out, s, n)) return KEEL_ENOMEM;
    return keel_buf_putc(out, '"');
}

static int put_header(keel_buf *out, const char *name, const char *type, const char *help)
{
    return keel_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sample values: integers exactly, others in the shortest form that reads back the same. */
static int put_value(keel_buf *out, double v)
{
    if (keel_buf_putc(out, ' ')) return KEEL_ENOMEM;
    if (keel_buf_json_num(out, v)) return KEEL_ENOMEM;
    return keel_buf_putc(out, '\n');
}

static int put_u64(keel_buf *out, uint64_t v)
{
    return keel_buf_printf(out, " %llu\n", (unsigned long long)v);
}

static int put_code(keel_buf *out, int code)
{
    if (code < 0) return put_label(out, false, "code", OTHER, strlen(OTHER));
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "%d", code);
    return put_label(out, false, "code", tmp, (size_t)n);
}

static bool lat_used(serve_metrics *m, const lat_set *l)
{
    for (size_t b = 0; b <= SERVE_LATENCY_BUCKETS; b++)
        if (lat_field(m, l, b)) return true;
    return false;
}

static int render_requests(serve_metrics *m, keel_buf *out, uint32_t n_req)
{
    if (put_header(out, "keel_requests_total", "counter",
                   "Requests answered, by protocol, model, version and HTTP status code."))
        return KEEL_ENOMEM;
    for (uint32_t i = 0; i <= n_req; i++) {
        req_set *r = i < n_req ? &m->req[i] : &m->req_other;
        uint64_t count = req_count(m, r);
        if (i == n_req && !count) break; /* overflow set only once used */
        if (keel_buf_puts(out, "keel_requests_total{") ||
            put_label(out, true, "protocol", r->protocol, r->n_protocol) ||
            put_label(out, false, "model", r->model, r->n_model) ||
            put_label(out, false, "version", r->version, r->n_version) || put_code(out, r->code) ||
            keel_buf_putc(out, '}') || put_u64(out, count))
            return KEEL_ENOMEM;
    }
    return KEEL_OK;
}

static int put_lat_labels(keel_buf *out, const char *metric, const lat_set *l)
{
    if (keel_buf_printf(out, "%s{", metric)) return KEEL_ENOMEM;
    if (put_label(out, true, "protocol", l->protocol, l->n_protocol)) return KEEL_ENOMEM;
    return put_label(out, false, "model", l->model, l->n_model);
}

static int render_latency(serve_metrics *m, keel_buf *out, uint32_t n_lat)
{
    if (put_header(out, "keel_request_duration_seconds", "histogram",
                   "Time from receiving a request to its answer, by protocol and model."))
        return KEEL_ENOMEM;
    for (uint32_t i = 0; i <= n_lat; i++) {
        lat_set *l = i < n_lat ? &m->lat[i] : &m->lat_other;
        if (i == n_lat && !lat_used(m, l)) break;
        uint64_t cum = 0;
        for (size_t b = 0; b <= SERVE_LATENCY_BUCKETS; b++) {
            cum += lat_field(m, l, b);
            if (put_lat_labels(out, "keel_request_duration_seconds_bucket", l) ||
                keel_buf_puts(out, ",le=\""))
                return KEEL_ENOMEM;
            int rc = b < SERVE_LATENCY_BUCKETS ? keel_buf_json_num(out, serve_latency_bounds[b])
                                               : keel_buf_puts(out, "+Inf");
            if (rc || keel_buf_puts(out, "\"}") || put_u64(out, cum)) return KEEL_ENOMEM;
        }
        double sum = (double)lat_field(m, l, LAT_SUM) / 1e9;
        if (put_lat_labels(out, "keel_request_duration_seconds_sum", l) ||
            keel_buf_putc(out, '}') || put_value(out, sum) ||
            put_lat_labels(out, "keel_request_duration_seconds_count", l) ||
            keel_buf_putc(out, '}') || put_u64(out, cum))
            return KEEL_ENOMEM;
    }
    if (put_header(out, "keel_rows_total", "counter", "Rows predicted, by protocol and model."))
        return KEEL_ENOMEM;
    for (uint32_t i = 0; i <= n_lat; i++) {
        lat_set *l = i < n_lat ? &m->lat[i] : &m->lat_other;
        if (i == n_lat && !lat_used(m, l)) break;
        if (put_lat_labels(out, "keel_rows_total", l) || keel_buf_putc(out, '}') ||
            put_u64(out, lat_field(m, l, LAT_ROWS)))
            return KEEL_ENOMEM;
    }
    return KEEL_OK;
}

static int render_loads(serve_metrics *m, keel_buf *out)
{
    if (put_header(out, "keel_model_load_seconds", "gauge",
                   "Seconds the latest load of each model version took."))
        return KEEL_ENOMEM;
    for (size_t i = 0; i < m->n_loads; i++) {
        load_rec *r = &m->loads[i];
        if (keel_buf_puts(out, "keel_model_load_seconds{") ||
            put_label(out, true, "model", r->model, strlen(r->model)) ||
            put_label(out, false, "version", r->version, strlen(r->version)) ||
            keel_buf_putc(out, '}') || put_value(out, r->seconds))
            return KEEL_ENOMEM;
    }
    if (put_header(out, "keel_model_swaps_total", "counter",
                   "Times a model was loaded again after its first load (hot swaps)."))
        return KEEL_ENOMEM;
    for (size_t i = 0; i < m->n_loads; i++) {
        load_rec *r = &m->loads[i];
        if (r->loads == 0) continue; /* not the model's first record */
        if (keel_buf_puts(out, "keel_model_swaps_total{") ||
            put_label(out, true, "model", r->model, strlen(r->model)) || keel_buf_putc(out, '}') ||
            put_u64(out, r->loads - 1))
            return KEEL_ENOMEM;
    }
    return KEEL_OK;
}

static int render_locked(serve_metrics *m, keel_buf *out)
{
    uint32_t n_req = atomic_load_explicit(&m->n_req, memory_order_acquire);
    uint32_t n_lat = atomic_load_explicit(&m->n_lat, memory_order_acquire);
    if (render_requests(m, out, n_req) || render_latency(m, out, n_lat) || render_loads(m, out))
        return KEEL_ENOMEM;
    int64_t in_flight = serve_metrics_in_flight_now(m);
    if (put_header(out, "keel_requests_in_flight", "gauge",
                   "Requests received and not yet answered.") ||
        keel_buf_printf(out, "keel_requests_in_flight %lld\n", (long long)in_flight) ||
        put_header(out, "keel_requests_shed_total", "counter",
                   "Requests refused with 503 because the server was overloaded.") ||
        keel_buf_puts(out, "keel_requests_shed_total") ||
        put_u64(out, atomic_load_explicit(&m->shed, memory_order_relaxed)) ||
        put_header(out, "keel_prediction_log_dropped_total", "counter",
                   "Prediction log lines dropped because the log could not keep up or "
                   "could not write.") ||
        keel_buf_puts(out, "keel_prediction_log_dropped_total") ||
        put_u64(out, atomic_load_explicit(&m->log_dropped, memory_order_relaxed)) ||
        put_header(out, "keel_build_info", "gauge", "The keel version serving, as a label.") ||
        keel_buf_puts(out, "keel_build_info{") ||
        put_label(out, true, "version", keel_version(), strlen(keel_version())) ||
        keel_buf_puts(out, "} 1\n") ||
        put_header(out, "keel_start_time_seconds", "gauge",
                   "When the metrics began, in seconds since 1970-01-01 UTC.") ||
        keel_buf_puts(out, "keel_start_time_seconds") || put_value(out, m->start_time) ||
        put_header(out, "keel_up", "gauge", "1 while the server is up.") ||
        keel_buf_puts(out, "keel_up 1\n"))
        return KEEL_ENOMEM;
    return KEEL_OK;
}

int serve_metrics_render(serve_metrics *m, keel_buf *out)
{
    keel_buf_mark start = keel_buf_begin(out);
    pthread_mutex_lock(&m->lock);
    int rc = render_locked(m, out);
    pthread_mutex_unlock(&m->lock);
    return keel_buf_end_rc(out, start, rc); /* no half exposition */
}
