/*
 * sketch_impl.h — what the sketch files share (private to them).
 *
 *   sketch.c  the checks every sketch reader makes on stored JSON
 *   hll.c     HyperLogLog
 *   kll.c     KLL quantiles
 *   topk.c    space-saving heavy hitters
 *
 * Callers include sketch.h, the one public header of all three.
 */
#ifndef KEEL_DATA_SKETCH_IMPL_H
#define KEEL_DATA_SKETCH_IMPL_H

#include "data/sketch.h"

/* Reads v as an integer: plain digits only ("1e3" and "2.0" are refused; our writers
 * never produce them, and values must be exact beyond 2^53). False if v is anything else
 * or does not fit 64 bits. */
bool sketch_json_plain_u64(const keel_json *v, uint64_t *out);

/* Reads obj[key] as an integer in [0, max] into *out. KEEL_EFORMAT with e->msg naming `what`
 * and the key otherwise. */
int sketch_json_u64(const keel_json *obj, const char *what, const char *key, uint64_t max,
                    uint64_t *out, keel_error *e);

/* Checks that v is an object with "type": type and "version": 1. KEEL_EFORMAT otherwise. */
int sketch_json_header(const keel_json *v, const char *type, keel_error *e);

#endif /* KEEL_DATA_SKETCH_IMPL_H */
