/*
 * sketch.h — mergeable streaming sketches for data profiles: distinct counts (HyperLogLog),
 * quantiles (KLL) and heavy hitters (space-saving).
 *
 * `keel data profile` feeds every value of a column through these in one pass over files
 * larger than memory, in bounded space. Each sketch is mergeable: the sketches of two chunks
 * merge into the sketch of both, whatever the order, which is how profiles of chunks (or of
 * last month and this month) combine, and why they can become the drift baseline. Each can
 * be written into a profile JSON file and read back from one; the readers treat the file as
 * hostile and check every field before trusting it.
 *
 * Errors: KEEL_ENOMEM when an allocation fails (the sketch is left as it was), KEEL_EFORMAT
 * with a message in e->msg when a stored sketch is malformed, KEEL_ELIMIT when a count would
 * overflow 64 bits. Writers append to a keel_buf and leave it as it was on failure.
 * Thread-safety: a sketch is not thread-safe to modify; queries (const functions) may run
 * from several threads at once. Different sketches are independent.
 */
#ifndef KEEL_DATA_SKETCH_H
#define KEEL_DATA_SKETCH_H

#include "base/base.h"
#include "base/json.h"

/* ---- HyperLogLog -----------------------------------------------------------------------
 * HyperLogLog, 2^12 registers (~1.6% standard error). Feed it well-mixed 64-bit hashes
 * (keel_hash64 for strings; keel_mix64 of a double's bits for numbers). A plain struct of
 * 4 KiB: embed it, copy it, no allocation. Registers hold 0..53 (64 - KEEL_HLL_P + 1). */
#define KEEL_HLL_P 12
typedef struct keel_hll {
    uint8_t reg[1u << KEEL_HLL_P];
} keel_hll;

/* Empties h (all registers zero). */
void keel_hll_init(keel_hll *h);

/* Adds one hashed value. The top KEEL_HLL_P bits of hash pick a register, which keeps the
 * largest "position of the first 1 bit" seen among the remaining bits. Inline: this is the
 * per-value hot path. Adding the same hash twice changes nothing. */
static inline void keel_hll_add(keel_hll *h, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> (64 - KEEL_HLL_P));
    /* The guard bit caps the count of leading zeros at 64 - P, so rho <= 64 - P + 1. */
    uint64_t w = (hash << KEEL_HLL_P) | (1ull << (KEEL_HLL_P - 1));
    uint8_t rho = (uint8_t)(__builtin_clzll(w) + 1);
    if (rho > h->reg[idx]) h->reg[idx] = rho;
}

/* dst becomes the sketch of the union of both streams (register-wise maximum). */
void keel_hll_merge(keel_hll *dst, const keel_hll *src);

/* Estimated number of distinct hashes added. Uses Ertl's improved estimator (2017), which
 * has the small-range (linear counting) correction built in: unbiased across the whole
 * range, 0 for an empty sketch, exact after rounding up to about 10 values and within 2 of
 * the truth for ~99% of sets of up to 100 (two values landing in one register, chance about
 * n^2/8192, cannot be seen). */
double keel_hll_estimate(const keel_hll *h);

/* Appends a JSON string holding the base64 of the 4096 registers. KEEL_OK or KEEL_ENOMEM. */
int keel_hll_write(const keel_hll *h, keel_buf *out);

/* Restores h from v as written by keel_hll_write. KEEL_EFORMAT (h untouched, e->msg says
 * why) when v is not such a string or a register is out of range. */
int keel_hll_read(keel_hll *h, const keel_json *v, keel_error *e);

/* ---- KLL quantiles ---------------------------------------------------------------------
 * KLL quantile sketch (Karnin, Lang, Liberty 2016), mergeable, deterministic for a given
 * seed. With k = 200 the worst rank error over the percentiles is typically about 0.5% and
 * below 2% with high probability, for any distribution, merged or not. It keeps about 5k
 * values however long the stream (about 1000 for k = 200: some 11 KB in a profile file,
 * 17 KB in memory). min and max are exact. -0.0 is stored as 0.0; NaN is ignored;
 * infinities are values like any other. */
typedef struct keel_kll keel_kll;

/* Creates an empty sketch. k (clamped to [8, 65535]) sets accuracy and size; k = 200 is
 * keel's default. seed drives the coin flips of compaction: the same seed and the same
 * sequence of calls give the same sketch, on every machine. Quantiles are exact while at
 * most 2k values have been added. Returns NULL when out of memory. Free with
 * keel_kll_free. */
keel_kll *keel_kll_new(uint32_t k, uint64_t seed);
void keel_kll_free(keel_kll *s);

/* Adds a value; NaN is ignored. Amortised O(1) and allocation-free except when the sketch
 * grows a level (about log2(n / k) times in all). KEEL_OK, KEEL_ENOMEM (value not added,
 * sketch unchanged) or KEEL_ELIMIT (2^64 values). */
int keel_kll_add(keel_kll *s, double x);

/* dst becomes the sketch of both streams; src is unchanged (src may equal dst). dst keeps
 * its own k and seed stream. KEEL_OK, KEEL_ENOMEM or KEEL_ELIMIT (dst unchanged). */
int keel_kll_merge(keel_kll *dst, const keel_kll *src);
/* Adds n values (NaN ignored), faster than n calls of keel_kll_add: runs of KEEL_KLL_GROUP
 * values are sorted and compacted as a group. Once the sketch holds KEEL_KLL_EXACT values,
 * each block of 8 values of a group is represented by one of them drawn at random, at
 * weight 8 (deterministic for the seed). That sampling is unbiased and adds a rank error
 * with a standard deviation of at most sqrt(2/n) (0.14% at a million values), small beside
 * the sketch's own ~1%,
 * and it makes the sketch cost a few nanoseconds a value. Feed whole groups for the speed;
 * any tail is added value by value. KEEL_OK, KEEL_ENOMEM or KEEL_ELIMIT. */
#define KEEL_KLL_GROUP 2048
#define KEEL_KLL_EXACT 65536
int keel_kll_add_many(keel_kll *s, const double *x, size_t n);

/* Number of (non-NaN) values added, merges included. */
uint64_t keel_kll_count(const keel_kll *s);

/* Exact smallest and largest value added; NaN when empty. */
double keel_kll_min(const keel_kll *s), keel_kll_max(const keel_kll *s);

/* Estimated q-quantile: the smallest retained value v such that the estimated number of
 * values <= v is at least q * count (no interpolation). q is clamped to [0, 1]; q = 0 and 1
 * give the exact min and max. NaN when empty or q is NaN. No allocation; O(retained * 64). */
double keel_kll_quantile(const keel_kll *s, double q);

/* Estimated fraction of the values that are <= x, in [0, 1]. NaN when empty or x is NaN. */
double keel_kll_rank(const keel_kll *s, double x);

/* Appends a JSON object with everything needed to restore the sketch exactly (including
 * the coin-flip state, so a restored sketch goes on as the original would):
 *   {"type":"kll","version":1,"k":200,"n":..,"min":..,"max":..,"rng":"<64 hex digits>",
 *    "levels":[sizes, level 0 first],"items":"<base64 of little-endian doubles>"}
 * min and max are JSON numbers, null when empty, "Infinity"/"-Infinity" for infinities.
 * KEEL_OK or KEEL_ENOMEM (out unchanged). */
int keel_kll_write(const keel_kll *s, keel_buf *out);

/* Restores a sketch written by keel_kll_write into a new object (*out, caller frees; NULL
 * on failure). Checks everything: types, k's range, that the level sizes add up to n with
 * their weights and fit the capacity, that the items decode, are not NaN, lie within
 * [min, max] and are sorted above level 0. KEEL_EFORMAT with e->msg, or KEEL_ENOMEM. */
int keel_kll_read(const keel_json *v, keel_kll **out, keel_error *e);

/* ---- space-saving heavy hitters ---------------------------------------------------------
 * Space-saving heavy hitters over strings (Metwally et al. 2005), mergeable (by the rule of
 * Agarwal et al. 2012). It monitors up to `capacity` strings. Each reported count is an
 * upper bound on the string's true count, and count - error a lower bound; every string not
 * reported occurred at most `floor` times, where floor is the largest count ever evicted.
 * While no more than capacity distinct strings have been seen, counts are exact (error 0).
 * Strings are arbitrary bytes (NUL and invalid UTF-8 included). */
typedef struct keel_topk keel_topk;
typedef struct keel_topk_item {
    const char *s; /* borrowed; NUL-terminated after len bytes */
    size_t len;
    uint64_t count; /* upper bound on the true count */
    uint64_t error; /* count - error is a lower bound */
} keel_topk_item;

/* Creates an empty summary monitoring up to capacity strings (clamped to [1, 65536]; 64 is
 * keel's default). NULL when out of memory. Free with keel_topk_free. */
keel_topk *keel_topk_new(uint32_t capacity);
void keel_topk_free(keel_topk *t);

/* Counts weight occurrences of s[0..len). weight 0 does nothing. O(log capacity) plus
 * hashing s; allocates only when a string longer than its slot's buffer comes in.
 * KEEL_OK, KEEL_ENOMEM (unchanged) or KEEL_ELIMIT (the total would pass 2^64 - 1). */
int keel_topk_add(keel_topk *t, const char *s, size_t len, uint64_t weight);

/* dst becomes the summary of both streams; src is unchanged (src may equal dst). dst keeps
 * its capacity. KEEL_OK, KEEL_ENOMEM or KEEL_ELIMIT (dst unchanged). */
int keel_topk_merge(keel_topk *dst, const keel_topk *src);

/* Sum of all weights added, merges included. */
uint64_t keel_topk_total(const keel_topk *t);

/* Fills out[0..max) with the items by count, descending (ties by string); returns how many.
 * Strings are borrowed from t and valid until the next add/merge/free. No allocation. */
size_t keel_topk_items(const keel_topk *t, keel_topk_item *out, size_t max);

/* Appends a JSON object that restores the summary exactly:
 *   {"type":"topk","version":1,"capacity":64,"total":..,"floor":..,
 *    "items":[{"value":"a","count":10,"error":0}, ...]}
 * items in keel_topk_items order; a string that is not valid UTF-8 is written as
 * "base64":"..." instead of "value". KEEL_OK or KEEL_ENOMEM (out unchanged). */
int keel_topk_write(const keel_topk *t, keel_buf *out);

/* Restores a summary written by keel_topk_write into a new object (*out, caller frees;
 * NULL on failure). Checks types, ranges, duplicates and that the counts are consistent
 * with total and floor. KEEL_EFORMAT with e->msg, or KEEL_ENOMEM. */
int keel_topk_read(const keel_json *v, keel_topk **out, keel_error *e);

#endif /* KEEL_DATA_SKETCH_H */
