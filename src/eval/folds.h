/*
 * folds.h — stratified assignment of rows to folds (cross-validation, the validation split).
 *
 * Thread-safety: works only on its arguments. Nothing here prints or keeps state.
 */
#ifndef KEEL_EVAL_FOLDS_H
#define KEEL_EVAL_FOLDS_H

#include "base/base.h"

/* Assigns each of n rows a fold in [0, k), written to fold[0..n) (caller-owned).
 * Classification (y != NULL, labels >= 0) keeps each class's share in every fold, as
 * sklearn's StratifiedKFold(shuffle=True) does (same guarantees, not the same assignment): each
 * class's rows are shuffled (Fisher-Yates with keel_rng seeded by seed) and dealt round-robin, the
 * dealing position carrying on from one class to the next (from a random start). Rows with y < 0,
 * and every row when y == NULL (regression), are shuffled and dealt last in the same way, so they
 * are spread at random. Guarantees: overall fold sizes differ by at most 1, and so do each class's
 * counts per fold. Deterministic for a given (y, n, k, seed) on every machine. k > n leaves some
 * folds empty. Errors: KEEL_EINVAL for k < 1 or fold == NULL with n > 0; KEEL_ENOMEM (fold is then
 * unspecified). O(n log n) time, O(n) memory. */
int keel_folds_stratified(const int32_t *y, size_t n, int k, uint64_t seed, int32_t *fold);

#endif
