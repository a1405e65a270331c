/*
 * kll.c — KLL quantiles (declared in sketch.h).
 *
 * Values are stored as "keys": the IEEE bits mapped so that unsigned integer order is
 * numeric order (negatives flipped, positives with the sign bit set), which makes sorting a
 * radix sort and comparisons integer compares. Level h holds values of weight 2^h. All
 * levels live in one array, packed against its end: level 0 starts at lev[0] and grows
 * downwards into the free space, so an add is a store and a decrement. Each level has a
 * capacity, k at the top and 2/3 of the one above going down (never below 8); level 0 also
 * gets at least 2k. That costs a little memory, buys a little accuracy, makes the values
 * exact for n <= 2k, and keeps the batches that level 0 sorts a few hundred long, where the
 * radix sort is cheap per value. Compaction is lazy (as in the Apache DataSketches KLL):
 * only when the whole array is full do we compact the lowest level at or over its
 * capacity. Compacting sorts the level (only level 0 is ever unsorted), keeps every other
 * value from a random offset (one coin flip from keel_rng, so the sketch is deterministic
 * for a seed) and merges them into the sorted level above; an odd value out stays behind.
 * Weights are conserved exactly, so the weighted sizes always add up to n, which the
 * reader checks. Queries never allocate: the rank of y is a count over level 0 plus a
 * binary search per sorted level, and a quantile is a binary search over keys for the
 * smallest one whose rank reaches q * n.
 */
#include "data/sketch_impl.h"

#include <math.h>
#include <string.h>

#define KLL_MAX_LEVELS 64 /* level h has weight 2^h, and n < 2^64 */
#define KLL_MIN_CAP    8  /* no level's capacity goes below this */
#define KLL_K_MIN      8
#define KLL_K_MAX      65535
#define KLL_L0_MULT    2  /* level 0 holds at least 2k: see the design note */
#define KLL_SLACK      32 /* spare slots allocated past the capacity, to realloc less often */

struct keel_kll {
    uint32_t k;
    uint32_t n_levels; /* H >= 1 */
    uint32_t space;    /* sum of the level capacities */
    uint32_t alloc;    /* slots in items; the levels fill [lev[0], alloc) */
    uint32_t low;      /* alloc - space: when lev[0] reaches it, the sketch is full */
    uint64_t n;
    double min, max; /* +inf / -inf while empty */
    keel_rng rng;
    uint64_t *items;                  /* alloc keys, then alloc slots of scratch for sorting */
    uint32_t lev[KLL_MAX_LEVELS + 1]; /* level h is items[lev[h] .. lev[h+1]); lev[H] = alloc */
    uint32_t cap[KLL_MAX_LEVELS];     /* capacity of each level for the current H */
};

/* Order-preserving map from doubles (NaN excluded, -0.0 already folded into 0.0) to
 * unsigned integers: flip all bits of negatives, set the sign bit of positives. */
static inline uint64_t kll_key(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b ^ ((uint64_t)((int64_t)b >> 63) | 0x8000000000000000ull);
}

static inline double kll_value(uint64_t key)
{
    uint64_t b = key ^ (((key >> 63) - 1) | 0x8000000000000000ull);
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* Capacity of level h of H: ceil(k (2/3)^depth) by repeated rounding up, at least
 * KLL_MIN_CAP; level 0 at least 2k. Integer arithmetic, so identical on every machine. */
static uint32_t kll_level_cap(uint32_t k, uint32_t n_levels, uint32_t h)
{
    uint32_t c = k;
    for (uint32_t d = h + 1; d < n_levels && c > KLL_MIN_CAP; d++)
        c = (2 * c + 2) / 3;
    if (c < KLL_MIN_CAP) c = KLL_MIN_CAP;
    if (h == 0 && c < KLL_L0_MULT * k) c = KLL_L0_MULT * k;
    return c;
}

static uint32_t kll_space(uint32_t k, uint32_t n_levels)
{
    uint32_t total = 0;
    for (uint32_t h = 0; h < n_levels; h++)
        total += kll_level_cap(k, n_levels, h);
    return total;
}

/* Sets H and the capacities; the caller has made sure alloc >= the new space. */
static void kll_set_levels(keel_kll *s, uint32_t n_levels)
{
    s->n_levels = n_levels;
    s->space = 0;
    for (uint32_t h = 0; h < n_levels; h++) {
        s->cap[h] = kll_level_cap(s->k, n_levels, h);
        s->space += s->cap[h];
    }
    s->low = s->alloc - s->space;
}

static inline uint32_t kll_retained(const keel_kll *s)
{
    return s->alloc - s->lev[0];
}

/* An empty sketch with room for `alloc` values and `n_levels` (empty) levels. */
static keel_kll *kll_create(uint32_t k, uint32_t n_levels, uint32_t alloc)
{
    keel_kll *s = keel_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->items = keel_reallocarray(NULL, alloc, 2 * sizeof(uint64_t));
    if (!s->items) {
        keel_free(s);
        return NULL;
    }
    s->k = k;
    s->alloc = alloc;
    for (uint32_t h = 0; h <= n_levels; h++)
        s->lev[h] = alloc;
    kll_set_levels(s, n_levels);
    s->min = INFINITY;
    s->max = -INFINITY;
    return s;
}

keel_kll *keel_kll_new(uint32_t k, uint64_t seed)
{
    k = k < KLL_K_MIN ? KLL_K_MIN : k > KLL_K_MAX ? KLL_K_MAX : k;
    keel_kll *s = kll_create(k, 1, kll_space(k, 1) + KLL_SLACK);
    if (s) keel_rng_seed(&s->rng, seed);
    return s;
}

void keel_kll_free(keel_kll *s)
{
    if (!s) return;
    keel_free(s->items);
    keel_free(s);
}

/* Insertion sort that gives up once it has moved more than max_moves keys. Returns how many
 * leading keys are sorted: n when it finished. */
static size_t insertion_sort_bounded(uint64_t *a, size_t n, size_t max_moves)
{
    size_t i, moves = 0;
    for (i = 1; i < n && moves <= max_moves; i++) {
        uint64_t x = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > x) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
        moves += i - j;
    }
    return n ? i : 0;
}

static void insertion_sort(uint64_t *a, size_t n)
{
    insertion_sort_bounded(a, n, SIZE_MAX);
}

/* Sorts keys a[0..n) using tmp[0..n) as scratch, for the level-0 compactions (a few
 * hundred keys each, about one sort per value added, so this is the hot loop of KLL).
 *
 * A radix sort on the top 16 bits of (key - min), 8 bits a pass, least significant digit
 * first: two counting passes that sort by those bits, then an insertion sort that settles
 * the keys sharing a 16-bit prefix. Measuring the digits from the range actually present
 * means no pass is spent on bits that never vary (the exponent of data in [0, 1), the
 * high bits of small integers). For real data few keys share a prefix and the insertion
 * sort is one predictable compare per key. When they do (an outlier stretching the range,
 * or clustered values), the insertion sort gives up after 4n moves and each run of keys
 * with a common prefix is sorted by the same method on its own, narrower range: every
 * level of that recursion consumes 16 bits of range, so it is at most 4 deep. */
#define RADIX_BITS   8
#define RADIX_PASSES 2
#define RADIX_SMALL  16 /* below this, insertion sort alone */

static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    if (n <= RADIX_SMALL) {
        insertion_sort(a, n);
        return;
    }
    uint64_t lo = a[0], hi = a[0];
    for (size_t i = 1; i < n; i++) {
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    if (lo == hi) return;
    int bits = 64 - __builtin_clzll(hi - lo);
    int shift = bits > RADIX_PASSES * RADIX_BITS ? bits - RADIX_PASSES * RADIX_BITS : 0;
    const uint64_t mask = (1u << RADIX_BITS) - 1;
    uint32_t cnt[RADIX_PASSES][1u << RADIX_BITS];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (a[i] - lo) >> shift;
        for (int p = 0; p < RADIX_PASSES; p++)
            cnt[p][(d >> (p * RADIX_BITS)) & mask]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < RADIX_PASSES; p++) {
        uint32_t *c = cnt[p];
        int by = p * RADIX_BITS + shift;
        if (c[((src[0] - lo) >> by) & mask] == n) continue; /* this digit is the same everywhere */
        uint32_t sum = 0;
        for (size_t b = 0; b <= mask; b++) {
            uint32_t x = c[b];
            c[b] = sum;
            sum += x;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t x = src[i];
            dst[c[((x - lo) >> by) & mask]++] = x;
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    if (shift == 0) return; /* the 16 bits were the whole key range: sorted */

    size_t i = insertion_sort_bounded(a, n, 4 * n);
    if (i == n) return;
    /* Too many keys share prefixes. a[0..i) is sorted and the whole is still ordered by
     * prefix, so sorting each run of equal prefixes finishes the job. */
    for (i = 0; i < n;) {
        uint64_t prefix = (a[i] - lo) >> shift;
        size_t j = i + 1;
        while (j < n && ((a[j] - lo) >> shift) == prefix)
            j++;
        if (j - i > 1) radix_sort(a + i, tmp + i, j - i);
        i = j;
    }
}

/* Grows the array to new_alloc slots (> alloc), moving the levels to its end. */
static int kll_grow(keel_kll *s, uint32_t new_alloc)
{
    uint64_t *items = keel_reallocarray(NULL, new_alloc, 2 * sizeof(uint64_t));
    if (!items) return KEEL_ENOMEM;
    uint32_t delta = new_alloc - s->alloc;
    memcpy(items + s->lev[0] + delta, s->items + s->lev[0],
           (size_t)kll_retained(s) * sizeof *items);
    keel_free(s->items);
    s->items = items;
    s->alloc = new_alloc;
    for (uint32_t h = 0; h <= s->n_levels; h++)
        s->lev[h] += delta;
    s->low = s->alloc - s->space;
    return KEEL_OK;
}

/* Adds an empty level on top; every level below moves one step deeper, so capacities are
 * recomputed. Allocates only if the new capacity does not fit; on failure nothing changed. */
static int kll_add_level(keel_kll *s)
{
    if (s->n_levels >= KLL_MAX_LEVELS)
        return KEEL_ELIMIT; /* unreachable: it would take more than 2^64 values */
    uint32_t space = kll_space(s->k, s->n_levels + 1);
    if (space > s->alloc) {
        int rc = kll_grow(s, space + KLL_SLACK);
        if (rc != KEEL_OK) return rc;
    }
    s->lev[s->n_levels + 1] = s->lev[s->n_levels];
    kll_set_levels(s, s->n_levels + 1);
    return KEEL_OK;
}

/* Compacts level h (which must be below the top): sorts it if it is level 0, keeps every
 * other key from a random offset, merges them into level h + 1 and closes the gap by
 * moving the lower levels up. Frees floor(size / 2) slots; never allocates. */
/* Merges sorted runs a and b into o until one of them runs out (branch-free selection);
 * *i and *j say how much of each was taken. Returns the end of the output. The callers
 * finish the other run themselves: in a compaction it is already in place. */
static inline uint64_t *merge_runs(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb,
                                   uint64_t *o, uint32_t *i_out, uint32_t *j_out)
{
    uint32_t i = 0, j = 0;
    while (i < na && j < nb) {
        uint64_t x = a[i], y = b[j];
        int take_b = y < x;
        *o++ = take_b ? y : x;
        j += (uint32_t)take_b;
        i += (uint32_t)!take_b;
    }
    *i_out = i;
    *j_out = j;
    return o;
}

static void kll_compact(keel_kll *s, uint32_t h)
{
    uint64_t *it = s->items;
    uint32_t start = s->lev[h], end = s->lev[h + 1], len = end - start;
    if (h == 0) radix_sort(it + start, it + s->alloc, len);
    uint32_t odd = len & 1, half = len / 2;
    uint32_t r = (uint32_t)(keel_rng_next(&s->rng) >> 63);
    uint64_t left = it[start]; /* the odd one out (the smallest), if len is odd */

    /* Keep keys odd + r, odd + r + 2, ... packed at start + odd (reads stay ahead). */
    uint64_t *a = it + start + odd;
    for (uint32_t i = 0; i < half; i++)
        a[i] = a[2 * i + r];

    /* Merge a[0..half) with level h+1 into [end - half, lev[h+2]). The output never
     * overtakes the unread part of level h+1, and a lies wholly below the output. */
    uint64_t *b = it + end, *o = it + end - half;
    uint32_t nb = s->lev[h + 2] - end, i = 0, j = 0;
    o = merge_runs(a, half, b, nb, o, &i, &j);
    while (i < half)
        *o++ = a[i++];
    /* What is left of level h+1 is already in place. */

    /* Close the gap of `half` slots: lower levels (and the odd key) move up. */
    memmove(it + s->lev[0] + half, it + s->lev[0], (size_t)(start - s->lev[0]) * sizeof *it);
    if (odd) it[start + half] = left;
    for (uint32_t l = 0; l <= h; l++)
        s->lev[l] += half;
    s->lev[h + 1] = end - half;
}

/* Compacts the lowest level at or over its capacity, adding a level first if that is the
 * top one. Called when the sketch is full; frees at least 4 slots. */
static int kll_compress_once(keel_kll *s)
{
    uint32_t h = 0;
    while (h + 1 < s->n_levels && s->lev[h + 1] - s->lev[h] < s->cap[h])
        h++;
    if (h + 1 == s->n_levels) {
        int rc = kll_add_level(s);
        if (rc != KEEL_OK) return rc;
    }
    kll_compact(s, h);
    return KEEL_OK;
}

int keel_kll_add(keel_kll *s, double x)
{
    if (x != x) return KEEL_OK;
    x += 0.0; /* -0.0 + 0.0 == +0.0: one key for zero */
    if (KEEL_UNLIKELY(s->n == UINT64_MAX)) return KEEL_ELIMIT;
    if (KEEL_UNLIKELY(s->lev[0] <= s->low)) {
        int rc = kll_compress_once(s);
        if (rc != KEEL_OK) return rc;
    }
    s->items[--s->lev[0]] = kll_key(x);
    s->n++;
    s->min = x < s->min ? x : s->min;
    s->max = x > s->max ? x : s->max;
    return KEEL_OK;
}

/* Adds m keys standing for `count` values at weight 2^level. The keys are sorted once and
 * compacted on their own — halved with a random offset, as a level is, until they would fit
 * a level of the sketch — then merged in as a one-level sketch. Each halving is an ordinary
 * KLL compaction (of a larger buffer than usual, so fewer compactions per value and a
 * smaller error), and the sort is paid once per group instead of once per level-0 fill. */
static int kll_add_group(keel_kll *s, uint64_t *keys, uint64_t *tmp, uint32_t m, uint32_t level,
                         uint64_t count, double mn, double mx)
{
    radix_sort(keys, tmp, m);
    while (m > s->k / 2 && m > 8) {
        uint32_t r = (uint32_t)(keel_rng_next(&s->rng) >> 63);
        m /= 2;
        for (uint32_t i = 0; i < m; i++)
            keys[i] = keys[2 * i + r];
        level++;
    }
    if (level + 1 > KLL_MAX_LEVELS) return KEEL_ELIMIT;
    uint32_t alloc = KEEL_MAX(m, kll_space(s->k, level + 1)) + KLL_SLACK;
    keel_kll *t = kll_create(s->k, level + 1, alloc);
    if (!t) return KEEL_ENOMEM;
    for (uint32_t h = 0; h <= level; h++)
        t->lev[h] = alloc - m;
    memcpy(t->items + alloc - m, keys, m * sizeof *keys);
    t->n = count;
    t->min = mn;
    t->max = mx;
    int rc = keel_kll_merge(s, t);
    keel_kll_free(t);
    return rc;
}

int keel_kll_add_many(keel_kll *s, const double *x, size_t n)
{
    uint64_t *keys = NULL;
    size_t i = 0;
    int rc = KEEL_OK;
    while (i < n && rc == KEEL_OK) {
        if (n - i < KEEL_KLL_GROUP) {
            rc = keel_kll_add(s, x[i++]); /* the tail, one at a time */
            continue;
        }
        if (!keys && !(keys = keel_malloc(2 * KEEL_KLL_GROUP * sizeof *keys))) return KEEL_ENOMEM;
        uint32_t m = 0;
        double mn = INFINITY, mx = -INFINITY;
        size_t start = i;
        if (s->n >= KEEL_KLL_EXACT) {
            /* Past the exact prefix: one value drawn at random from each block of 8, in the
             * order they came, stands for the block at weight 8 (level 3). Only the drawn
             * values become keys; min and max still see every value. */
            size_t end = i + KEEL_KLL_GROUP;
            bool any_nan = false;
            for (size_t j = i; j < end; j++) {
                double v = x[j];
                any_nan |= v != v;
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            if (!any_nan) {
                for (uint32_t b = 0; b < KEEL_KLL_GROUP / 8; b++)
                    keys[b] = kll_key(x[i + 8 * b + (keel_rng_next(&s->rng) >> 61)] + 0.0);
                i = end;
                if (s->n > UINT64_MAX - KEEL_KLL_GROUP) {
                    rc = KEEL_ELIMIT;
                    break;
                }
                rc = kll_add_group(s, keys, keys + KEEL_KLL_GROUP, KEEL_KLL_GROUP / 8, 3,
                                   KEEL_KLL_GROUP, mn + 0.0, mx + 0.0);
                continue;
            }
            mn = INFINITY;
            mx = -INFINITY;
        }
        for (; i < n && m < KEEL_KLL_GROUP; i++) {
            double v = x[i];
            if (v != v) continue;
            v += 0.0;
            keys[m++] = kll_key(v);
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        if (m < KEEL_KLL_GROUP) {
            /* Missing values made the group short: take these one at a time. */
            for (size_t j = start; j < i && rc == KEEL_OK; j++)
                rc = keel_kll_add(s, x[j]);
            continue;
        }
        if (s->n > UINT64_MAX - KEEL_KLL_GROUP) {
            rc = KEEL_ELIMIT;
            break;
        }
        rc = kll_add_group(s, keys, keys + KEEL_KLL_GROUP, m, 0, m, mn, mx);
    }
    keel_free(keys);
    return rc;
}

/* The number of levels and the retained count that compressing sizes[] down to capacity
 * will reach, replaying kll_compress_once on sizes alone (what it does depends only on
 * sizes, not on values or coin flips). */
static uint32_t kll_plan(uint32_t k, uint32_t n_levels, uint64_t *sizes, uint64_t retained)
{
    uint32_t cap[KLL_MAX_LEVELS];
    uint64_t space = 0;
    for (uint32_t h = 0; h < n_levels; h++)
        space += cap[h] = kll_level_cap(k, n_levels, h);
    while (retained > space) {
        uint32_t h = 0;
        while (h + 1 < n_levels && sizes[h] < cap[h])
            h++;
        if (h + 1 == n_levels) {
            if (n_levels == KLL_MAX_LEVELS)
                break; /* unreachable for valid sketches; kll_compress_once says ELIMIT */
            sizes[n_levels++] = 0;
            space = 0;
            for (uint32_t l = 0; l < n_levels; l++)
                space += cap[l] = kll_level_cap(k, n_levels, l);
        }
        uint64_t half = sizes[h] / 2;
        sizes[h] -= 2 * half;
        sizes[h + 1] += half;
        retained -= half;
    }
    return n_levels;
}

int keel_kll_merge(keel_kll *dst, const keel_kll *src)
{
    if (src->n == 0) return KEEL_OK;
    if (dst->n > UINT64_MAX - src->n) return KEEL_ELIMIT;
    uint32_t n_levels = KEEL_MAX(dst->n_levels, src->n_levels);
    uint64_t sizes[KLL_MAX_LEVELS] = {0};
    uint64_t retained = 0;
    for (uint32_t h = 0; h < n_levels; h++) {
        if (h < dst->n_levels) sizes[h] += dst->lev[h + 1] - dst->lev[h];
        if (h < src->n_levels) sizes[h] += src->lev[h + 1] - src->lev[h];
        retained += sizes[h];
    }
    uint64_t plan[KLL_MAX_LEVELS];
    memcpy(plan, sizes, sizeof plan);
    uint32_t final_levels = kll_plan(dst->k, n_levels, plan, retained);
    uint64_t alloc = KEEL_MAX(retained, (uint64_t)kll_space(dst->k, final_levels)) + KLL_SLACK;
    if (alloc > UINT32_MAX / 2) return KEEL_ELIMIT;

    uint64_t *items = keel_reallocarray(NULL, (size_t)alloc, 2 * sizeof(uint64_t));
    if (!items) return KEEL_ENOMEM;
    /* Lay the merged levels out from the top down. src may be dst: read only, until the
     * old array is freed. */
    uint32_t lev[KLL_MAX_LEVELS + 1];
    uint32_t pos = (uint32_t)alloc;
    lev[n_levels] = pos;
    for (uint32_t h = n_levels; h-- > 0;) {
        const uint64_t *x = NULL, *y = NULL;
        uint32_t nx = 0, ny = 0;
        if (h < dst->n_levels) {
            x = dst->items + dst->lev[h];
            nx = dst->lev[h + 1] - dst->lev[h];
        }
        if (h < src->n_levels) {
            y = src->items + src->lev[h];
            ny = src->lev[h + 1] - src->lev[h];
        }
        pos -= nx + ny;
        lev[h] = pos;
        uint64_t *o = items + pos;
        if (h == 0) { /* level 0 is unsorted: concatenate */
            if (nx) memcpy(o, x, nx * sizeof *o);
            if (ny) memcpy(o + nx, y, ny * sizeof *o);
            continue;
        }
        uint32_t i = 0, j = 0;
        o = merge_runs(x, nx, y, ny, o, &i, &j);
        while (i < nx)
            *o++ = x[i++];
        while (j < ny)
            *o++ = y[j++];
    }
    double mn = KEEL_MIN(dst->min, src->min), mx = KEEL_MAX(dst->max, src->max);
    uint64_t n = dst->n + src->n;

    keel_free(dst->items);
    dst->items = items;
    dst->alloc = (uint32_t)alloc;
    memcpy(dst->lev, lev, (n_levels + 1) * sizeof lev[0]);
    kll_set_levels(dst, n_levels);
    dst->n = n;
    dst->min = mn;
    dst->max = mx;
    /* The plan guaranteed that alloc covers every level added here: no allocation. */
    while (kll_retained(dst) > dst->space)
        if (kll_compress_once(dst) != KEEL_OK)
            break; /* unreachable; the sketch stays valid, merely over capacity */
    return KEEL_OK;
}

uint64_t keel_kll_count(const keel_kll *s)
{
    return s->n;
}

double keel_kll_min(const keel_kll *s)
{
    return s->n ? s->min : NAN;
}

double keel_kll_max(const keel_kll *s)
{
    return s->n ? s->max : NAN;
}

/* Weighted count of retained keys <= y: sum over levels of 2^h * #{keys <= y}. */
static uint64_t kll_weight_le(const keel_kll *s, uint64_t y)
{
    const uint64_t *it = s->items;
    uint64_t total = 0;
    for (uint32_t i = s->lev[0]; i < s->lev[1]; i++) /* unsorted: count (vectorises) */
        total += it[i] <= y;
    for (uint32_t h = 1; h < s->n_levels; h++) {
        uint32_t lo = s->lev[h], hi = s->lev[h + 1]; /* first key > y in [lo, hi) */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (it[mid] <= y)
                lo = mid + 1;
            else
                hi = mid;
        }
        total += (uint64_t)(lo - s->lev[h]) << h;
    }
    return total;
}

double keel_kll_quantile(const keel_kll *s, double q)
{
    if (s->n == 0 || q != q) return NAN;
    if (q <= 0.0) return s->min;
    if (q >= 1.0) return s->max;
    double target = q * (double)s->n;
    /* Smallest key y with weight_le(y) >= target; it is a retained key, since the weight
     * only steps up at retained keys. Invariant: weight_le(lo) < target <= weight_le(hi). */
    uint64_t lo = kll_key(s->min), hi = kll_key(s->max);
    if ((double)kll_weight_le(s, lo) >= target) return s->min;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((double)kll_weight_le(s, mid) >= target)
            hi = mid;
        else
            lo = mid;
    }
    return kll_value(hi);
}

double keel_kll_rank(const keel_kll *s, double x)
{
    if (s->n == 0 || x != x) return NAN;
    x += 0.0;
    return (double)kll_weight_le(s, kll_key(x)) / (double)s->n;
}

/* Appends min or max: a JSON number, null when empty, a string for infinities (JSON has no
 * spelling for them). */
static int kll_write_bound(keel_buf *out, double x, bool empty)
{
    if (empty) return keel_buf_puts(out, "null");
    if (isinf(x)) return keel_buf_puts(out, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return keel_buf_json_num(out, x);
}

static void put_le64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

int keel_kll_write(const keel_kll *s, keel_buf *out)
{
    keel_buf_mark len0 = keel_buf_begin(out);
    uint32_t retained = kll_retained(s);
    /* Reserve the base64 up front: 4 chars per 3 bytes. */
    if (keel_buf_reserve(out, 256 + 12 * (size_t)s->n_levels + (size_t)retained * 32 / 3) !=
        KEEL_OK)
        return keel_buf_end_rc(out, len0, KEEL_ENOMEM);
    int rc =
        keel_buf_printf(out, "{\"type\":\"kll\",\"version\":1,\"k\":%u,\"n\":%llu,\"min\":", s->k,
                        (unsigned long long)s->n);
    rc = rc ? rc : kll_write_bound(out, s->min, s->n == 0);
    rc = rc ? rc : keel_buf_puts(out, ",\"max\":");
    rc = rc ? rc : kll_write_bound(out, s->max, s->n == 0);
    rc = rc ? rc : keel_buf_puts(out, ",\"rng\":\"");
    for (int i = 0; i < 4 && !rc; i++)
        rc = keel_buf_printf(out, "%016llx", (unsigned long long)s->rng.s[i]);
    rc = rc ? rc : keel_buf_puts(out, "\",\"levels\":[");
    for (uint32_t h = 0; h < s->n_levels && !rc; h++)
        rc = keel_buf_printf(out, "%s%u", h ? "," : "", s->lev[h + 1] - s->lev[h]);
    rc = rc ? rc : keel_buf_puts(out, "],\"items\":\"");
    /* Chunks of 384 values = 3072 bytes, a multiple of 3, so the base64 of the chunks
     * concatenates into the base64 of the whole. */
    unsigned char chunk[384 * 8];
    for (uint32_t i = 0; i < retained && !rc;) {
        uint32_t m = KEEL_MIN(retained - i, 384u);
        for (uint32_t j = 0; j < m; j++) {
            double x = kll_value(s->items[s->lev[0] + i + j]);
            uint64_t b;
            memcpy(&b, &x, sizeof b);
            put_le64(chunk + 8 * j, b);
        }
        rc = keel_buf_base64(out, chunk, (size_t)m * 8);
        i += m;
    }
    rc = rc ? rc : keel_buf_puts(out, "\"}");
    return keel_buf_end_rc(out, len0, rc);
}

/* Reads min or max as written by kll_write_bound (not null: the caller checked). */
static int kll_read_bound(const keel_json *v, const char *key, double *out, keel_error *e)
{
    const keel_json *x = keel_json_get(v, key);
    if (x && x->type == KEEL_JSON_NUMBER) {
        *out = x->u.number.value + 0.0;
        return KEEL_OK;
    }
    const char *str = keel_json_str(x);
    if (str && strcmp(str, "Infinity") == 0) {
        *out = INFINITY;
        return KEEL_OK;
    }
    if (str && strcmp(str, "-Infinity") == 0) {
        *out = -INFINITY;
        return KEEL_OK;
    }
    return keel_error_set(e, KEEL_EFORMAT, "kll sketch: \"%s\" must be a number", key);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int keel_kll_read(const keel_json *v, keel_kll **out, keel_error *e)
{
    *out = NULL;
    keel_kll *s = NULL;
    uint64_t k, n, sizes[KLL_MAX_LEVELS];
    int rc = sketch_json_header(v, "kll", e);
    if (rc != KEEL_OK) return rc;
    if ((rc = sketch_json_u64(v, "kll sketch", "k", KLL_K_MAX, &k, e)) != KEEL_OK ||
        (rc = sketch_json_u64(v, "kll sketch", "n", UINT64_MAX, &n, e)) != KEEL_OK)
        return rc;
    if (k < KLL_K_MIN)
        return keel_error_set(e, KEEL_EFORMAT, "kll sketch: k = %llu is below %d",
                              (unsigned long long)k, KLL_K_MIN);

    /* Levels: sizes that fit the capacity and add up to n with weights 2^h. */
    const keel_json *levels = keel_json_get(v, "levels");
    size_t n_levels = keel_json_len(levels);
    if (!levels || levels->type != KEEL_JSON_ARRAY || n_levels < 1 || n_levels > KLL_MAX_LEVELS)
        return keel_error_set(e, KEEL_EFORMAT,
                              "kll sketch: \"levels\" must be an array of 1 to %d sizes",
                              KLL_MAX_LEVELS);
    uint32_t space = kll_space((uint32_t)k, (uint32_t)n_levels);
    uint64_t retained = 0, weight = 0;
    for (size_t h = 0; h < n_levels; h++) {
        const keel_json *x = keel_json_at(levels, h);
        uint64_t sz;
        if (!sketch_json_plain_u64(x, &sz) || sz > space)
            return keel_error_set(e, KEEL_EFORMAT,
                                  "kll sketch: level %zu size must be an integer in [0, %u]", h,
                                  space);
        sizes[h] = sz;
        retained += sz;
        if (sz && (sz > (UINT64_MAX >> h) || (sz << h) > UINT64_MAX - weight))
            return keel_error_set(e, KEEL_EFORMAT, "kll sketch: level weights overflow");
        weight += sz << h;
    }
    if (retained > space)
        return keel_error_set(e, KEEL_EFORMAT,
                              "kll sketch: %llu values exceed the capacity %u of %zu levels",
                              (unsigned long long)retained, space, n_levels);
    if (weight != n)
        return keel_error_set(e, KEEL_EFORMAT, "kll sketch: levels weigh %llu values but n is %llu",
                              (unsigned long long)weight, (unsigned long long)n);

    /* min and max: null exactly when empty, ordered otherwise. */
    double mn = INFINITY, mx = -INFINITY;
    const keel_json *jmin = keel_json_get(v, "min"), *jmax = keel_json_get(v, "max");
    if (n == 0) {
        if (!jmin || jmin->type != KEEL_JSON_NULL || !jmax || jmax->type != KEEL_JSON_NULL)
            return keel_error_set(e, KEEL_EFORMAT,
                                  "kll sketch: \"min\" and \"max\" must be null when empty");
    } else {
        if ((rc = kll_read_bound(v, "min", &mn, e)) != KEEL_OK ||
            (rc = kll_read_bound(v, "max", &mx, e)) != KEEL_OK)
            return rc;
        if (!(mn <= mx))
            return keel_error_set(e, KEEL_EFORMAT, "kll sketch: min %g is above max %g", mn, mx);
    }

    /* rng: 4 words of 16 hex digits; all zero would stick xoshiro at zero. */
    keel_rng rng = {{0}};
    const keel_json *jrng = keel_json_get(v, "rng");
    const char *hex = keel_json_str(jrng);
    if (!hex || jrng->u.string.len != 64)
        return keel_error_set(e, KEEL_EFORMAT, "kll sketch: \"rng\" must be 64 hex digits");
    for (int i = 0; i < 64; i++) {
        int d = hex_digit(hex[i]);
        if (d < 0)
            return keel_error_set(e, KEEL_EFORMAT, "kll sketch: \"rng\" must be 64 hex digits");
        rng.s[i / 16] = rng.s[i / 16] << 4 | (uint64_t)d;
    }
    if ((rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]) == 0)
        return keel_error_set(e, KEEL_EFORMAT, "kll sketch: \"rng\" state is all zero");

    /* Items: base64 of exactly `retained` little-endian doubles. */
    const keel_json *jitems = keel_json_get(v, "items");
    const char *b64 = keel_json_str(jitems);
    size_t n_bytes = (size_t)retained * 8;
    if (!b64 || jitems->u.string.len != (n_bytes + 2) / 3 * 4)
        return keel_error_set(e, KEEL_EFORMAT,
                              "kll sketch: \"items\" must be the base64 of %llu doubles",
                              (unsigned long long)retained);

    s = kll_create((uint32_t)k, (uint32_t)n_levels, space + KLL_SLACK);
    if (!s) return KEEL_ENOMEM;
    uint32_t pos = s->alloc - (uint32_t)retained;
    for (size_t h = 0; h < n_levels; h++) {
        s->lev[h] = pos;
        pos += (uint32_t)sizes[h];
    }
    /* Decode into the scratch half (as bytes), then convert into place. */
    unsigned char *bytes = (unsigned char *)(s->items + s->alloc);
    if (keel_base64_decode(b64, jitems->u.string.len, bytes, n_bytes) != (long)n_bytes) {
        rc = keel_error_set(e, KEEL_EFORMAT, "kll sketch: \"items\" is not valid base64");
        goto fail;
    }
    for (uint32_t h = 0, i = 0; h < n_levels; h++) {
        for (uint32_t j = s->lev[h]; j < s->lev[h + 1]; j++, i++) {
            uint64_t b = get_le64(bytes + 8 * (size_t)i);
            double x;
            memcpy(&x, &b, sizeof x);
            if (x != x || x < mn || x > mx) {
                rc = keel_error_set(e, KEEL_EFORMAT,
                                    "kll sketch: item %u (level %u) is %g, outside [%g, %g]", i, h,
                                    x, mn, mx);
                goto fail;
            }
            uint64_t key = kll_key(x + 0.0);
            if (h > 0 && j > s->lev[h] && key < s->items[j - 1]) {
                rc = keel_error_set(e, KEEL_EFORMAT, "kll sketch: level %u is not sorted", h);
                goto fail;
            }
            s->items[j] = key;
        }
    }
    s->n = n;
    s->min = mn;
    s->max = mx;
    s->rng = rng;
    *out = s;
    return KEEL_OK;
fail:
    keel_kll_free(s);
    return rc;
}
