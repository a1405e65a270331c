/*
 * topk.c — space-saving heavy hitters (declared in sketch.h).
 *
 * Up to `capacity` strings, each with an upper-bound count and an error, in
 * an open-addressing hash table (linear probing at load <= 1/4, backward-shift deletion)
 * and a binary min-heap ordered by count, ties broken by hash, so the string evicted never
 * depends on the heap's layout. The heap is updated lazily (see keel_topk_add), so a hit
 * costs a hash, a probe and an increment. A new string replaces the minimum and inherits
 * its count as error. `floor` bounds the count of every string not monitored; merging adds
 * counts, charging a string missing from one side that side's floor (Agarwal et al. 2012,
 * Mergeable summaries), and keeps the `capacity` largest.
 */
#include "data/sketch_impl.h"

#include <string.h>

#define TOPK_CAP_MAX 65536
__extension__ typedef unsigned __int128 topk_u128; /* GCC and Clang */
#define TOPK_SEED 0x746f706bull /* "topk": any constant; hashes never leave the process */

typedef struct topk_slot {
    char *s; /* owned, NUL-terminated, buffer of size `room` */
    size_t len, room;
    uint64_t hash, count, error;
} topk_slot;

/* A heap entry carries its own copy of the ordering key, so sifting never chases pointers.
 * The copy of count may be stale (lower than the item's): see keel_topk_add. */
typedef struct topk_heap_entry {
    uint64_t count, hash;
    uint32_t idx;
} topk_heap_entry;

struct keel_topk {
    uint32_t capacity, n;
    uint64_t total, floor;
    topk_slot *items;      /* [capacity]; [0, n) in use */
    topk_heap_entry *heap; /* [capacity]; [0, n) in use; root = the next to evict */
    uint64_t *table;       /* [mask + 1]: 0 empty, else hash high 32 bits << 32 | index + 1 */
    uint32_t mask;
};

static int str_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

/* True if heap entry x is evicted before y: smaller count; among equal counts (common:
 * every string seen once) the larger hash, and only for equal hashes the larger string. A
 * total order, so which string is evicted never depends on the heap's layout, and a summary
 * read back from a file evicts exactly as the original would. (count, ~hash) compared as
 * one 128-bit number: heap sifts on random keys would mispredict most branches. */
static inline bool topk_worse(const keel_topk *t, const topk_heap_entry *x,
                              const topk_heap_entry *y)
{
    topk_u128 kx = (topk_u128)x->count << 64 | ~x->hash;
    topk_u128 ky = (topk_u128)y->count << 64 | ~y->hash;
    if (KEEL_UNLIKELY(kx == ky)) {
        const topk_slot *a = &t->items[x->idx], *b = &t->items[y->idx];
        return str_cmp(a->s, a->len, b->s, b->len) > 0;
    }
    return kx < ky;
}

static void topk_sift_up(keel_topk *t, uint32_t pos)
{
    topk_heap_entry x = t->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!topk_worse(t, &x, &t->heap[parent])) break;
        t->heap[pos] = t->heap[parent];
        pos = parent;
    }
    t->heap[pos] = x;
}

/* Restores the heap after the root's key grew. Floyd's way: move the hole at the root down
 * to a leaf along the worse children (a fixed number of steps and a branch-free choice at
 * each), then sift the entry up from there, which is short because an entry whose key
 * grew belongs low in the heap. */
static void topk_sift_down_root(keel_topk *t)
{
    topk_heap_entry x = t->heap[0];
    uint32_t pos = 0, n = t->n;
    /* Only a full 64-bit hash collision between equal counts makes siblings tie on the
     * key, and then either may come up: the heap stays valid for eviction. */
    for (uint32_t c = 1; c < n; c = 2 * pos + 1) {
        if (c + 1 < n) {
            topk_u128 k0 = (topk_u128)t->heap[c].count << 64 | ~t->heap[c].hash;
            topk_u128 k1 = (topk_u128)t->heap[c + 1].count << 64 | ~t->heap[c + 1].hash;
            c += k1 < k0;
        }
        t->heap[pos] = t->heap[c];
        pos = c;
    }
    t->heap[pos] = x;
    topk_sift_up(t, pos);
}

static inline uint64_t topk_tag(uint64_t hash)
{
    return hash >> 32 << 32;
}

/* Finds s in the table: returns its table slot, with *idx the item index or UINT32_MAX
 * (then the slot is the empty one where it would go). The tag (high hash bits) in each
 * entry avoids touching items that cannot match. */
static uint32_t topk_find(const keel_topk *t, const char *s, size_t len, uint64_t hash,
                          uint32_t *idx)
{
    uint64_t tag = topk_tag(hash);
    uint32_t i = (uint32_t)hash & t->mask;
    for (;;) {
        uint64_t v = t->table[i];
        if (v == 0) {
            *idx = UINT32_MAX;
            return i;
        }
        if (topk_tag(v) == tag) {
            const topk_slot *it = &t->items[(uint32_t)v - 1];
            if (it->hash == hash && it->len == len && memcmp(it->s, s, len) == 0) {
                *idx = (uint32_t)v - 1;
                return i;
            }
        }
        i = (i + 1) & t->mask;
    }
}

/* The first empty slot of hash's probe run (for a string known to be absent). */
static uint32_t topk_free_slot(const keel_topk *t, uint64_t hash)
{
    uint32_t i = (uint32_t)hash & t->mask;
    while (t->table[i] != 0)
        i = (i + 1) & t->mask;
    return i;
}

/* Removes item idx from the table, shifting back the entries of its probe run (no
 * tombstones, so probe runs stay short). */
static void topk_table_remove(keel_topk *t, uint32_t idx)
{
    uint32_t i = (uint32_t)t->items[idx].hash & t->mask;
    while ((uint32_t)t->table[i] != idx + 1)
        i = (i + 1) & t->mask;
    t->table[i] = 0;
    for (uint32_t j = i;;) {
        j = (j + 1) & t->mask;
        uint64_t v = t->table[j];
        if (v == 0) return;
        uint32_t home = (uint32_t)t->items[(uint32_t)v - 1].hash & t->mask;
        /* The entry at j may fill the hole at i unless its home lies in (i, j]. */
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->table[i] = v;
            t->table[j] = 0;
            i = j;
        }
    }
}

/* Makes room for a string of len bytes (plus NUL) in slot it; the old bytes may go. */
static int topk_slot_reserve(topk_slot *it, size_t len)
{
    if (len < it->room) return KEEL_OK;
    size_t room;
    if (!keel_size_add(len, 16, &room)) return KEEL_ENOMEM;
    room &= ~(size_t)15;
    char *p = keel_realloc(it->s, room);
    if (!p) return KEEL_ENOMEM;
    it->s = p;
    it->room = room;
    return KEEL_OK;
}

keel_topk *keel_topk_new(uint32_t capacity)
{
    capacity = capacity < 1 ? 1 : capacity > TOPK_CAP_MAX ? TOPK_CAP_MAX : capacity;
    keel_topk *t = keel_calloc(1, sizeof *t);
    if (!t) return NULL;
    uint32_t table = 8;
    while (table < 4 * capacity) /* load factor <= 1/4: short probes */
        table *= 2;
    t->capacity = capacity;
    t->mask = table - 1;
    t->items = keel_calloc(capacity, sizeof *t->items);
    t->heap = keel_calloc(capacity, sizeof *t->heap);
    t->table = keel_calloc(table, sizeof *t->table);
    if (!t->items || !t->heap || !t->table) {
        keel_topk_free(t);
        return NULL;
    }
    return t;
}

void keel_topk_free(keel_topk *t)
{
    if (!t) return;
    if (t->items)
        for (uint32_t i = 0; i < t->capacity; i++)
            keel_free(t->items[i].s);
    keel_free(t->items);
    keel_free(t->heap);
    keel_free(t->table);
    keel_free(t);
}

/* Puts a new string into the (not full) summary at table slot `slot`. */
static int topk_insert(keel_topk *t, uint32_t slot, const char *s, size_t len, uint64_t hash,
                       uint64_t count, uint64_t error)
{
    uint32_t idx = t->n;
    topk_slot *it = &t->items[idx];
    if (topk_slot_reserve(it, len) != KEEL_OK) return KEEL_ENOMEM;
    memcpy(it->s, s, len);
    it->s[len] = '\0';
    it->len = len;
    it->hash = hash;
    it->count = count;
    it->error = error;
    t->table[slot] = topk_tag(hash) | (idx + 1);
    t->heap[idx] = (topk_heap_entry){count, hash, idx};
    t->n++;
    topk_sift_up(t, idx);
    return KEEL_OK;
}

/* Hits only raise an item's count and leave its heap entry alone, so the heap holds
 * lower bounds of the counts (counts never go down). Before evicting, the root is
 * refreshed until its count is current: then it is the true minimum, because every other
 * item's current key is at least its stored key, which is at least the root's. Each hit
 * thus costs O(1), and a refresh O(log capacity) happens only to an item that has drifted
 * to the root. */
int keel_topk_add(keel_topk *t, const char *s, size_t len, uint64_t weight)
{
    if (weight == 0) return KEEL_OK;
    if (t->total > UINT64_MAX - weight) return KEEL_ELIMIT;
    uint64_t hash = keel_hash64(s, len, TOPK_SEED);
    uint32_t idx, slot = topk_find(t, s, len, hash, &idx);
    if (idx != UINT32_MAX) { /* monitored: count it (counts never exceed total) */
        t->items[idx].count += weight;
    } else if (t->n < t->capacity) {
        /* Every earlier occurrence of s was counted or is bounded by floor. */
        if (topk_insert(t, slot, s, len, hash, t->floor + weight, t->floor) != KEEL_OK)
            return KEEL_ENOMEM;
    } else { /* evict the minimum: s inherits its count as error */
        while (t->heap[0].count != t->items[t->heap[0].idx].count) {
            t->heap[0].count = t->items[t->heap[0].idx].count;
            topk_sift_down_root(t);
        }
        uint32_t v = t->heap[0].idx;
        topk_slot *it = &t->items[v];
        if (topk_slot_reserve(it, len) != KEEL_OK) return KEEL_ENOMEM;
        topk_table_remove(t, v);
        uint64_t evicted = it->count;
        t->floor = evicted > t->floor ? evicted : t->floor;
        memcpy(it->s, s, len);
        it->s[len] = '\0';
        it->len = len;
        it->hash = hash;
        it->count = evicted + weight;
        it->error = evicted;
        /* The removal may have shifted entries: probe for the empty slot again. */
        t->table[topk_free_slot(t, hash)] = topk_tag(hash) | (v + 1);
        t->heap[0] = (topk_heap_entry){it->count, hash, v};
        topk_sift_down_root(t);
    }
    t->total += weight;
    return KEEL_OK;
}

uint64_t keel_topk_total(const keel_topk *t)
{
    return t->total;
}

/* True if item x ranks before y in output order: larger count, then smaller string. */
static bool item_before(const keel_topk_item *x, const keel_topk_item *y)
{
    if (x->count != y->count) return x->count > y->count;
    return str_cmp(x->s, x->len, y->s, y->len) < 0;
}

/* Sift-down in a heap whose root is the item ranked last. */
static void item_sift_down(keel_topk_item *a, size_t n, size_t pos)
{
    keel_topk_item x = a[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= n) break;
        if (c + 1 < n && item_before(&a[c], &a[c + 1])) c++;
        if (!item_before(&x, &a[c])) break;
        a[pos] = a[c];
        pos = c;
    }
    a[pos] = x;
}

/* Keeps the best `keep` of a[0..n) (heap selection), sorted best first, in a[0..keep). */
static void items_select_sorted(keel_topk_item *a, size_t n, size_t keep,
                                void (*get)(const void *, size_t, keel_topk_item *),
                                const void *src)
{
    for (size_t i = 0; i < keep; i++)
        get(src, i, &a[i]);
    for (size_t i = keep / 2; i-- > 0;)
        item_sift_down(a, keep, i);
    for (size_t i = keep; i < n; i++) {
        keel_topk_item x;
        get(src, i, &x);
        if (item_before(&x, &a[0])) {
            a[0] = x;
            item_sift_down(a, keep, 0);
        }
    }
    for (size_t i = keep; i-- > 1;) { /* heap sort: the last-ranked goes to the end */
        keel_topk_item x = a[0];
        a[0] = a[i];
        a[i] = x;
        item_sift_down(a, i, 0);
    }
}

static void topk_get(const void *p, size_t i, keel_topk_item *out)
{
    const topk_slot *it = &((const keel_topk *)p)->items[i];
    *out = (keel_topk_item){it->s, it->len, it->count, it->error};
}

size_t keel_topk_items(const keel_topk *t, keel_topk_item *out, size_t max)
{
    size_t keep = KEEL_MIN(max, (size_t)t->n);
    if (keep == 0) return 0;
    items_select_sorted(out, t->n, keep, topk_get, t);
    return keep;
}

/* A merge candidate: a string from either side with its merged count and error. */
typedef struct topk_cand {
    keel_topk_item item;
    uint64_t hash;
} topk_cand;

static void cand_get(const void *p, size_t i, keel_topk_item *out)
{
    *out = ((const topk_cand *)p)[i].item;
}

int keel_topk_merge(keel_topk *dst, const keel_topk *src)
{
    if (src->total == 0) return KEEL_OK; /* nothing was ever added to src */
    if (dst->total > UINT64_MAX - src->total) return KEEL_ELIMIT;
    int rc = KEEL_ENOMEM;
    keel_topk *t = NULL;
    topk_cand *cand = NULL;
    keel_topk_item *best = NULL;
    size_t n_cand = 0;
    /* Counts never exceed their side's total and floors never exceed counts (invariants
     * kept by add and checked by read), so these sums cannot overflow. */
    uint64_t b1 = dst->floor, b2 = src->floor;
    cand = keel_calloc((size_t)dst->n + src->n, sizeof *cand);
    if (!cand && dst->n + src->n > 0) goto fail;
    for (uint32_t i = 0; i < dst->n; i++) {
        const topk_slot *x = &dst->items[i];
        uint32_t j;
        topk_find(src, x->s, x->len, x->hash, &j);
        topk_cand *c = &cand[n_cand++];
        c->item = (keel_topk_item){x->s, x->len, x->count, x->error};
        c->hash = x->hash;
        c->item.count += j != UINT32_MAX ? src->items[j].count : b2;
        c->item.error += j != UINT32_MAX ? src->items[j].error : b2;
    }
    for (uint32_t i = 0; i < src->n; i++) {
        const topk_slot *y = &src->items[i];
        uint32_t j;
        topk_find(dst, y->s, y->len, y->hash, &j);
        if (j != UINT32_MAX) continue;
        topk_cand *c = &cand[n_cand++];
        c->item = (keel_topk_item){y->s, y->len, y->count + b1, y->error + b1};
        c->hash = y->hash;
    }
    /* Keep the capacity largest; anything dropped raises the floor to its count. */
    size_t keep = KEEL_MIN(n_cand, (size_t)dst->capacity);
    uint64_t floor = b1 + b2;
    best = keel_calloc(keep + 1, sizeof *best);
    if (!best) goto fail;
    if (keep < n_cand) {
        items_select_sorted(best, n_cand, keep + 1, cand_get, cand);
        floor = KEEL_MAX(floor, best[keep].count);
    } else if (keep > 0) {
        items_select_sorted(best, n_cand, keep, cand_get, cand);
    }
    t = keel_topk_new(dst->capacity);
    if (!t) goto fail;
    for (size_t i = 0; i < keep; i++) {
        uint64_t hash = keel_hash64(best[i].s, best[i].len, TOPK_SEED);
        uint32_t j, slot = topk_find(t, best[i].s, best[i].len, hash, &j);
        if (topk_insert(t, slot, best[i].s, best[i].len, hash, best[i].count, best[i].error) !=
            KEEL_OK)
            goto fail;
    }
    t->total = dst->total + src->total;
    t->floor = floor;
    /* Swap the new contents into dst; the old ones go with t. */
    keel_topk tmp = *dst;
    *dst = *t;
    *t = tmp;
    rc = KEEL_OK;
fail:
    keel_topk_free(t);
    keel_free(cand);
    keel_free(best);
    return rc;
}

int keel_topk_write(const keel_topk *t, keel_buf *out)
{
    keel_buf_mark len0 = keel_buf_begin(out);
    keel_topk_item *items = NULL;
    if (t->n) {
        items = keel_calloc(t->n, sizeof *items);
        if (!items) return KEEL_ENOMEM;
        keel_topk_items(t, items, t->n);
    }
    int rc =
        keel_buf_printf(out,
                        "{\"type\":\"topk\",\"version\":1,\"capacity\":%u,\"total\":%llu,"
                        "\"floor\":%llu,\"items\":[",
                        t->capacity, (unsigned long long)t->total, (unsigned long long)t->floor);
    for (uint32_t i = 0; i < t->n && !rc; i++) {
        const keel_topk_item *x = &items[i];
        rc = keel_buf_puts(out, i ? ",{" : "{");
        if (keel_utf8_valid(x->s, x->len)) {
            rc = rc ? rc : keel_buf_puts(out, "\"value\":");
            rc = rc ? rc : keel_buf_json_str(out, x->s, x->len);
        } else {
            rc = rc ? rc : keel_buf_puts(out, "\"base64\":\"");
            rc = rc ? rc : keel_buf_base64(out, x->s, x->len);
            rc = rc ? rc : keel_buf_putc(out, '"');
        }
        rc = rc ? rc
                : keel_buf_printf(out, ",\"count\":%llu,\"error\":%llu}",
                                  (unsigned long long)x->count, (unsigned long long)x->error);
    }
    rc = rc ? rc : keel_buf_puts(out, "]}");
    keel_free(items);
    return keel_buf_end_rc(out, len0, rc);
}

int keel_topk_read(const keel_json *v, keel_topk **out, keel_error *e)
{
    *out = NULL;
    keel_topk *t = NULL;
    char *bytes = NULL;
    uint64_t capacity, total, floor, sum = 0;
    int rc = sketch_json_header(v, "topk", e);
    if (rc != KEEL_OK) return rc;
    if ((rc = sketch_json_u64(v, "topk sketch", "capacity", TOPK_CAP_MAX, &capacity, e)) !=
            KEEL_OK ||
        (rc = sketch_json_u64(v, "topk sketch", "total", UINT64_MAX, &total, e)) != KEEL_OK ||
        (rc = sketch_json_u64(v, "topk sketch", "floor", total, &floor, e)) != KEEL_OK)
        return rc;
    if (capacity < 1)
        return keel_error_set(e, KEEL_EFORMAT, "topk sketch: capacity must be at least 1");
    const keel_json *items = keel_json_get(v, "items");
    size_t n = keel_json_len(items);
    if (!items || items->type != KEEL_JSON_ARRAY || n > capacity)
        return keel_error_set(e, KEEL_EFORMAT,
                              "topk sketch: \"items\" must be an array of at most %llu items",
                              (unsigned long long)capacity);
    t = keel_topk_new((uint32_t)capacity);
    if (!t) return KEEL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const keel_json *x = keel_json_at(items, i);
        uint64_t count, error;
        if (!x || x->type != KEEL_JSON_OBJECT) {
            rc = keel_error_set(e, KEEL_EFORMAT, "topk sketch: item %zu is not an object", i);
            goto fail;
        }
        if ((rc = sketch_json_u64(x, "topk sketch item", "count", total, &count, e)) != KEEL_OK ||
            (rc = sketch_json_u64(x, "topk sketch item", "error", count, &error, e)) != KEEL_OK)
            goto fail;
        /* Every monitored count is at least floor, and every error at most floor. */
        if (count < floor || error > floor || count == 0) {
            rc = keel_error_set(e, KEEL_EFORMAT,
                                "topk sketch: item %zu: count %llu, error %llu do not fit "
                                "floor %llu",
                                i, (unsigned long long)count, (unsigned long long)error,
                                (unsigned long long)floor);
            goto fail;
        }
        /* count - error are lower bounds on distinct strings' counts: they fit in total. */
        if (count - error > total - sum) {
            rc = keel_error_set(e, KEEL_EFORMAT, "topk sketch: item counts exceed the total %llu",
                                (unsigned long long)total);
            goto fail;
        }
        sum += count - error;
        const char *s = keel_json_str(keel_json_get(x, "value"));
        size_t len = 0;
        if (s) {
            len = keel_json_get(x, "value")->u.string.len;
        } else {
            const keel_json *jb = keel_json_get(x, "base64");
            const char *b64 = keel_json_str(jb);
            if (!b64) {
                rc = keel_error_set(e, KEEL_EFORMAT,
                                    "topk sketch: item %zu has no \"value\" string", i);
                goto fail;
            }
            keel_free(bytes);
            bytes = keel_malloc(jb->u.string.len / 4 * 3 + 1);
            if (!bytes) {
                rc = KEEL_ENOMEM;
                goto fail;
            }
            long got = keel_base64_decode(b64, jb->u.string.len, bytes, jb->u.string.len / 4 * 3);
            if (got < 0) {
                rc = keel_error_set(e, KEEL_EFORMAT, "topk sketch: item %zu: bad base64", i);
                goto fail;
            }
            s = bytes;
            len = (size_t)got;
        }
        uint64_t hash = keel_hash64(s, len, TOPK_SEED);
        uint32_t j, slot = topk_find(t, s, len, hash, &j);
        if (j != UINT32_MAX) {
            rc = keel_error_set(e, KEEL_EFORMAT, "topk sketch: item %zu is a duplicate", i);
            goto fail;
        }
        if (topk_insert(t, slot, s, len, hash, count, error) != KEEL_OK) {
            rc = KEEL_ENOMEM;
            goto fail;
        }
    }
    /* With floor 0 nothing was ever dropped: the counts are exact and add up to total. */
    if (floor == 0 && sum != total) {
        rc = keel_error_set(e, KEEL_EFORMAT,
                            "topk sketch: exact counts add up to %llu, not the total %llu",
                            (unsigned long long)sum, (unsigned long long)total);
        goto fail;
    }
    t->total = total;
    t->floor = floor;
    keel_free(bytes);
    *out = t;
    return KEEL_OK;
fail:
    keel_free(bytes);
    keel_topk_free(t);
    return rc;
}
