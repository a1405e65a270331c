/*
 * folds.c — stratified fold assignment for cross-validation and the validation split.
 *
 * Folds. Rows are grouped by label (a sort on (label, row), so the grouping and hence the
 * result are the same on every machine), each group is shuffled with Fisher-Yates, and the
 * groups are dealt one after the other onto folds round-robin, the dealing position carrying
 * on from group to group from a random start. Dealing consecutive positions is what gives
 * both guarantees at once: any run of consecutive positions (one class) lands on the folds
 * with counts differing by at most 1, and so does the whole sequence (all rows). Unlabelled
 * rows (y < 0, or no y) form the last group, which makes them a plain shuffled K-fold.
 */
#include "eval/folds.h"

#include <stdlib.h>

/* ---- folds ------------------------------------------------------------------------------- */

typedef struct labelled {
    int32_t label; /* -1 for a row without a label */
    size_t row;
} labelled;

static int by_label_row(const void *pa, const void *pb)
{
    const labelled *a = pa, *b = pb;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

/* Uniform in [0, bound): rejects the partial block at the bottom of the 64-bit range, so
 * every residue is equally likely (a plain % would favour the small ones). bound >= 1. */
static uint64_t rng_below(keel_rng *r, uint64_t bound)
{
    uint64_t limit = (0 - bound) % bound; /* 2^64 mod bound */
    uint64_t x;
    do {
        x = keel_rng_next(r);
    } while (x < limit);
    return x % bound;
}

int keel_folds_stratified(const int32_t *y, size_t n, int k, uint64_t seed, int32_t *fold)
{
    if (k < 1) return KEEL_EINVAL;
    if (n == 0) return KEEL_OK;
    if (!fold) return KEEL_EINVAL;
    labelled *v = keel_reallocarray(NULL, n, sizeof *v);
    if (!v) return KEEL_ENOMEM;

    /* Labelled rows first (to be sorted into classes), then the unlabelled ones. */
    size_t n_labelled = 0;
    for (size_t i = 0; i < n; i++)
        if (y && y[i] >= 0) v[n_labelled++] = (labelled){y[i], i};
    size_t at = n_labelled;
    for (size_t i = 0; i < n; i++)
        if (!y || y[i] < 0) v[at++] = (labelled){-1, i};
    qsort(v, n_labelled, sizeof *v, by_label_row);

    keel_rng r;
    keel_rng_seed(&r, seed);
    uint64_t folds = (uint64_t)k;
    uint64_t pos = rng_below(&r, folds); /* which folds get the extra rows is random too */
    for (size_t i = 0; i < n;) {
        size_t end = i + 1;
        if (i < n_labelled)
            while (end < n_labelled && v[end].label == v[i].label)
                end++;
        else
            end = n;
        for (size_t j = end - 1; j > i; j--) { /* Fisher-Yates over v[i..end) */
            size_t pick = i + (size_t)rng_below(&r, (uint64_t)(j - i + 1));
            labelled t = v[j];
            v[j] = v[pick];
            v[pick] = t;
        }
        for (size_t j = i; j < end; j++)
            fold[v[j].row] = (int32_t)(pos++ % folds);
        i = end;
    }
    keel_free(v);
    return KEEL_OK;
}
