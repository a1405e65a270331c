/*
 * sketch.c — what the three sketches share: the checks their readers make on stored JSON.
 *
 * The sketches themselves live one to a file, each independent of the others:
 *   hll.c   HyperLogLog distinct counts
 *   kll.c   KLL quantiles
 *   topk.c  space-saving heavy hitters
 * sketch.h is their one public header; sketch_impl.h declares what is here.
 */
#include "data/sketch_impl.h"

#include <string.h>

bool sketch_json_plain_u64(const keel_json *v, uint64_t *out)
{
    if (!v || v->type != KEEL_JSON_NUMBER || v->u.number.len == 0) return false;
    const char *p = v->u.number.text;
    uint64_t x = 0;
    for (size_t i = 0; i < v->u.number.len; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

int sketch_json_u64(const keel_json *obj, const char *what, const char *key, uint64_t max,
                    uint64_t *out, keel_error *e)
{
    uint64_t x;
    if (!sketch_json_plain_u64(keel_json_get(obj, key), &x))
        return keel_error_set(e, KEEL_EFORMAT, "%s: \"%s\" must be an integer in [0, 2^64)", what,
                              key);
    if (x > max)
        return keel_error_set(e, KEEL_EFORMAT, "%s: \"%s\" is out of range (%llu > %llu)", what,
                              key, (unsigned long long)x, (unsigned long long)max);
    *out = x;
    return KEEL_OK;
}

int sketch_json_header(const keel_json *v, const char *type, keel_error *e)
{
    if (!v || v->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "%s sketch: expected a JSON object", type);
    const char *t = keel_json_str(keel_json_get(v, "type"));
    if (!t || strcmp(t, type) != 0)
        return keel_error_set(e, KEEL_EFORMAT, "%s sketch: \"type\" must be \"%s\"", type, type);
    uint64_t version;
    int rc = sketch_json_u64(v, type, "version", UINT64_MAX, &version, e);
    if (rc != KEEL_OK) return rc;
    if (version != 1)
        return keel_error_set(e, KEEL_EFORMAT, "%s sketch: unsupported version %llu", type,
                              (unsigned long long)version);
    return KEEL_OK;
}
