/*
 * proto_v2.c — the Open Inference Protocol v2 request ({"id", "parameters", "outputs",
 * "inputs": [{"name", "shape", "datatype", "data", "parameters"}]}, one tensor per column):
 * its datatypes and the slow path, serve_parse_v2_slow, which parses any body with every
 * check and message. serve_parse_v2 (in proto_v2_fast.c) tries two faster tiers first and
 * comes here for whatever they are not sure of, every error included.
 *
 * Design. The body is parsed by keel's strict parser (base/json.c) into one document that
 * the batch's arena keeps (proto_batch.c), and the walk over it builds the batch. Tensors
 * declare their type, so the first pass over a tensor's data only counts its elements (and
 * nulls) against the shape; its column is then allocated once, at its final size, and the
 * second pass checks each value against the datatype and stores it. Errors name the place:
 * "inputs[1].data[3]: expected an integer for datatype INT64, got 1.5".
 */
#include "serve/proto_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Open Inference Protocol v2 --------------------------------------------------------- */

/* UINT64 stops at INT64_MAX: keel's widest integer column is int64_t. */
static const dtype dtypes[] = {
    {"BOOL", 4, K_BOOL, KEEL_COL_BOOL, 0, 0},
    {"UINT8", 5, K_INT, KEEL_COL_I32, 0, UINT8_MAX},
    {"UINT16", 6, K_INT, KEEL_COL_I32, 0, UINT16_MAX},
    {"UINT32", 6, K_INT, KEEL_COL_I64, 0, UINT32_MAX},
    {"UINT64", 6, K_INT, KEEL_COL_I64, 0, INT64_MAX},
    {"INT8", 4, K_INT, KEEL_COL_I32, INT8_MIN, INT8_MAX},
    {"INT16", 5, K_INT, KEEL_COL_I32, INT16_MIN, INT16_MAX},
    {"INT32", 5, K_INT, KEEL_COL_I32, INT32_MIN, INT32_MAX},
    {"INT64", 5, K_INT, KEEL_COL_I64, INT64_MIN, INT64_MAX},
    {"FP32", 4, K_FP32, KEEL_COL_F32, 0, 0},
    {"FP64", 4, K_FP64, KEEL_COL_F64, 0, 0},
    {"BYTES", 5, K_BYTES, KEEL_COL_TEXT, 0, 0},
};

int proto_read_int(ctx *c, const keel_json *v, const char *what, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const char *s = v->u.number.text;
    bool plain = true;
    for (const char *p = s + (*s == '-'); *p; p++)
        if (*p < '0' || *p > '9') plain = false;
    int64_t x;
    bool range = true;
    if (plain) {
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        range = errno != ERANGE;
        x = ll;
    } else {
        double d = v->u.number.value;
        if (isfinite(d) && d != floor(d))
            return proto_bad(c, "expected an integer for %s, got %s", what,
                             keel_json_describe(v).s);
        range = isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
        x = range ? (int64_t)d : 0;
    }
    if (!range || x < lo || x > hi)
        return proto_bad(c, "%s is out of range for %s (%lld to %lld)", keel_json_describe(v).s,
                         what, (long long)lo, (long long)hi);
    *out = x;
    return KEEL_OK;
}

/* memcmp(a, b, n) == 0 for the few bytes of a datatype's name, without a library call. */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

const dtype *proto_find_dtype(const char *s, size_t n)
{
    for (size_t i = 0; i < KEEL_ARRAY_LEN(dtypes); i++) /* lengths first: it is hot */
        if (dtypes[i].len == n && same_bytes(dtypes[i].name, s, n)) return &dtypes[i];
    return NULL;
}

/* First pass over a tensor's data: counts elements and nulls; arrays may nest (row-major). */
static int tensor_count(ctx *c, const keel_json *v, size_t *count, size_t *nulls)
{
    if (v->type == KEEL_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.array.n; i++) {
            size_t at = proto_path_index(c, i);
            int rc = tensor_count(c, &v->u.array.items[i], count, nulls);
            if (rc != KEEL_OK) return rc;
            path_pop(c, at);
        }
        return KEEL_OK;
    }
    if (v->type == KEEL_JSON_OBJECT)
        return proto_bad(c, "expected a value or a list, got an object");
    (*count)++;
    *nulls += v->type == KEEL_JSON_NULL;
    return KEEL_OK;
}

/* Second pass: checks each element against the datatype and stores it. */
static int tensor_fill(ctx *c, const keel_json *v, tensor *x)
{
    if (v->type == KEEL_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.array.n; i++) {
            size_t at = proto_path_index(c, i);
            int rc = tensor_fill(c, &v->u.array.items[i], x);
            if (rc != KEEL_OK) return rc;
            path_pop(c, at);
        }
        return KEEL_OK;
    }
    size_t r = x->k++;
    const dtype *t = x->t;
    if (v->type == KEEL_JSON_NULL) {
        if (t->col == KEEL_COL_F64) ((double *)x->data)[r] = NAN;
        if (t->col == KEEL_COL_F32) ((float *)x->data)[r] = NAN;
        x->missing[r] = 1; /* text NULL, integers and booleans 0: zeroed by the allocation */
        return KEEL_OK;
    }
    /* "datatype INT64" for messages; built with memcpy, as this runs for every value. */
    char what[32] = "datatype ";
    size_t wn = strlen(t->name);
    memcpy(what + 9, t->name, KEEL_MIN(wn, sizeof what - 10));
    what[9 + KEEL_MIN(wn, sizeof what - 10)] = '\0';
    switch (t->kind) {
    case K_BYTES:
        if (v->type != KEEL_JSON_STRING)
            return proto_bad(c, "expected a string for %s, got %s", what, keel_json_describe(v).s);
        if (memchr(v->u.string.s, '\0', v->u.string.len))
            return proto_bad(c, "a string must not contain a NUL character");
        ((const char **)x->data)[r] = v->u.string.s;
        break;
    case K_BOOL:
        if (v->type != KEEL_JSON_BOOL)
            return proto_bad(c, "expected true or false for %s, got %s", what,
                             keel_json_describe(v).s);
        ((unsigned char *)x->data)[r] = v->u.boolean;
        break;
    case K_INT: {
        if (v->type != KEEL_JSON_NUMBER)
            return proto_bad(c, "expected an integer for %s, got %s", what,
                             keel_json_describe(v).s);
        int64_t i;
        int rc = proto_read_int(c, v, what, t->lo, t->hi, &i);
        if (rc != KEEL_OK) return rc;
        if (t->col == KEEL_COL_I32)
            ((int32_t *)x->data)[r] = (int32_t)i;
        else
            ((int64_t *)x->data)[r] = i;
        break;
    }
    case K_FP32:
    case K_FP64: {
        if (v->type != KEEL_JSON_NUMBER)
            return proto_bad(c, "expected a number for %s, got %s", what, keel_json_describe(v).s);
        double d = v->u.number.value;
        float f = (float)d;
        if (!isfinite(d) || (t->kind == K_FP32 && !isfinite(f)))
            return proto_bad(c, "%s is out of range for %s", keel_json_describe(v).s, what);
        if (t->kind == K_FP32)
            ((float *)x->data)[r] = f;
        else
            ((double *)x->data)[r] = d;
        break;
    }
    }
    return KEEL_OK;
}

/* "shape": [n] or [n, 1], n a row count; *rows gets n. */
static int read_shape(ctx *c, const keel_json *shape, size_t *rows)
{
    if (shape->type != KEEL_JSON_ARRAY)
        return proto_bad(c, "expected a list of dimensions such as [3], got %s",
                         keel_json_describe(shape).s);
    size_t nd = shape->u.array.n;
    int64_t dims[2] = {0, 0};
    for (size_t i = 0; i < nd && i < 2; i++) {
        const keel_json *d = &shape->u.array.items[i];
        size_t at = proto_path_index(c, i);
        if (d->type != KEEL_JSON_NUMBER)
            return proto_bad(c, "expected a dimension (an integer), got %s",
                             keel_json_describe(d).s);
        int rc = proto_read_int(c, d, "a dimension", 0, INT64_MAX, &dims[i]);
        if (rc != KEEL_OK) return rc;
        path_pop(c, at);
    }
    if (nd == 0 || nd > 2 || (nd == 2 && dims[1] != 1)) {
        char got[200] = "[";
        for (size_t i = 0; i < nd && i < 4; i++) {
            if (i) append(got, sizeof got, ", ");
            append(got, sizeof got, keel_json_describe(&shape->u.array.items[i]).s);
        }
        append(got, sizeof got, nd > 4 ? ", ...]" : "]");
        return proto_bad(c, "expected [n] or [n, 1] (one tensor per column, n rows), got %s", got);
    }
    if (dims[0] > SERVE_MAX_ROWS)
        return proto_too_many(c, "at most %d rows per request, got %lld", SERVE_MAX_ROWS,
                              (long long)dims[0]);
    *rows = (size_t)dims[0];
    return KEEL_OK;
}

static int required(ctx *c, const keel_json *obj, const char *key, const keel_json **out)
{
    int rc = proto_member(c, obj, key, out);
    if (rc == KEEL_OK && !*out) rc = proto_bad(c, "\"%s\" is required", key);
    return rc;
}

/* One entry of "inputs" (at the current path) into column i of the batch. */
static int read_tensor(ctx *c, const keel_json *in, size_t i, table *names, size_t *rows,
                       serve_batch *nb)
{
    if (in->type != KEEL_JSON_OBJECT)
        return proto_bad(
            c, "expected a tensor ({\"name\", \"shape\", \"datatype\", \"data\"}), got %s",
            keel_json_describe(in).s);
    const keel_json *name, *shape, *datatype, *data, *params;
    int rc;
    if ((rc = required(c, in, "name", &name)) || (rc = required(c, in, "shape", &shape)) ||
        (rc = required(c, in, "datatype", &datatype)) || (rc = required(c, in, "data", &data)) ||
        (rc = proto_member(c, in, "parameters", &params)))
        return rc;

    size_t at = proto_path_key(c, "name", 4);
    if (name->type != KEEL_JSON_STRING)
        return proto_bad(c, "expected a string, got %s", keel_json_describe(name).s);
    if ((rc = check_name(c, name->u.string.s, name->u.string.len)) != KEEL_OK) return rc;
    size_t j = table_find(names, name->u.string.s, name->u.string.len);
    if (j != SIZE_MAX)
        return proto_bad(c, "%s is given twice (also inputs[%zu])", keel_json_describe(name).s, j);
    if ((rc = proto_table_add(c, names, name->u.string.s, name->u.string.len, &j)) != KEEL_OK)
        return rc;
    path_pop(c, at);

    at = proto_path_key(c, "datatype", 8);
    if (datatype->type != KEEL_JSON_STRING)
        return proto_bad(c, "expected a string such as \"FP64\", got %s",
                         keel_json_describe(datatype).s);
    const dtype *t = proto_find_dtype(datatype->u.string.s, datatype->u.string.len);
    if (!t) {
        const char *s = datatype->u.string.s;
        if (strcmp(s, "FP16") == 0 || strcmp(s, "BF16") == 0)
            return proto_bad(c, "datatype %s is not supported: send FP32 or FP64", s);
        return proto_bad(
            c,
            "unknown datatype %s (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, "
            "INT8, INT16, INT32, INT64, FP32, FP64, BYTES)",
            keel_json_describe(datatype).s);
    }
    path_pop(c, at);

    size_t n = 0;
    at = proto_path_key(c, "shape", 5);
    if ((rc = read_shape(c, shape, &n)) != KEEL_OK) return rc;
    if (i > 0 && n != *rows)
        return proto_bad(c, "%zu rows, but inputs[0] has %zu: every tensor needs one value per row",
                         n, *rows);
    *rows = n;
    path_pop(c, at);

    if (params && params->type != KEEL_JSON_OBJECT) {
        at = proto_path_key(c, "parameters", 10);
        return proto_bad(c, "expected an object, got %s", keel_json_describe(params).s);
    }

    at = proto_path_key(c, "data", 4);
    if (data->type != KEEL_JSON_ARRAY)
        return proto_bad(c,
                         "expected a list of values, got %s (binary tensor data is not supported)",
                         keel_json_describe(data).s);
    size_t count = 0, nulls = 0;
    if ((rc = tensor_count(c, data, &count, &nulls)) != KEEL_OK) return rc;
    if (count != n)
        return proto_bad(c, "%zu values, but shape [%zu%s] needs %zu", count, n,
                         shape->u.array.n == 2 ? ", 1" : "", n);
    tensor x = {t, arena_zalloc(c->a, n, col_size[t->col]), NULL, 0};
    if (!x.data) return proto_oom(c);
    if (nulls && !(x.missing = arena_zalloc(c->a, n, 1))) return proto_oom(c);
    if ((rc = tensor_fill(c, data, &x)) != KEEL_OK) return rc;
    path_pop(c, at);
    nb->cols[i] = (keel_input_column){name->u.string.s, t->col, x.data, x.missing};
    return KEEL_OK;
}

int serve_parse_v2_slow(const char *body, size_t n, serve_batch *b, serve_error *err)
{
    ctx c;
    serve_batch nb;
    serve_error dummy;
    int rc = proto_begin(&c, b, &nb, err ? err : &dummy);
    const keel_json *root, *id, *params, *inputs, *outputs;
    if (rc || (rc = proto_parse_json(&c, body, n, &root))) goto fail;
    if (root->type != KEEL_JSON_OBJECT) {
        rc = proto_bad(&c, "the body must be a JSON object (an inference request), got %s",
                       keel_json_describe(root).s);
        goto fail;
    }
    if ((rc = proto_member(&c, root, "id", &id)) ||
        (rc = proto_member(&c, root, "parameters", &params)) ||
        (rc = proto_member(&c, root, "outputs", &outputs)) ||
        (rc = proto_member(&c, root, "inputs", &inputs)))
        goto fail;
    if (!inputs) {
        rc = proto_bad(&c, "\"inputs\" is required: a list of tensors, one per column");
        goto fail;
    }
    if (id) {
        proto_path_key(&c, "id", 2);
        if (id->type != KEEL_JSON_STRING) {
            rc = proto_bad(&c, "expected a string, got %s", keel_json_describe(id).s);
            goto fail;
        }
        if (memchr(id->u.string.s, '\0', id->u.string.len)) {
            rc = proto_bad(&c, "must not contain a NUL character");
            goto fail;
        }
        nb.id = (char *)id->u.string.s; /* in the document, which the arena keeps */
        path_pop(&c, 0);
    }
    if (params && params->type != KEEL_JSON_OBJECT) {
        proto_path_key(&c, "parameters", 10);
        rc = proto_bad(&c, "expected an object, got %s", keel_json_describe(params).s);
        goto fail;
    }
    if (outputs) {
        /* Checked but not used: the response always carries every output. */
        size_t at = proto_path_key(&c, "outputs", 7);
        if (outputs->type != KEEL_JSON_ARRAY) {
            rc = proto_bad(&c, "expected a list of requested outputs, got %s",
                           keel_json_describe(outputs).s);
            goto fail;
        }
        for (size_t i = 0; i < outputs->u.array.n; i++) {
            const keel_json *o = &outputs->u.array.items[i], *name;
            size_t at2 = proto_path_index(&c, i);
            if (o->type != KEEL_JSON_OBJECT) {
                rc = proto_bad(&c, "expected an object ({\"name\": ...}), got %s",
                               keel_json_describe(o).s);
                goto fail;
            }
            if ((rc = required(&c, o, "name", &name)) != KEEL_OK) goto fail;
            if (name->type != KEEL_JSON_STRING) {
                proto_path_key(&c, "name", 4);
                rc = proto_bad(&c, "expected a string, got %s", keel_json_describe(name).s);
                goto fail;
            }
            path_pop(&c, at2);
        }
        path_pop(&c, at);
    }
    proto_path_key(&c, "inputs", 6);
    if (inputs->type != KEEL_JSON_ARRAY) {
        rc = proto_bad(&c, "expected a list of tensors, got %s", keel_json_describe(inputs).s);
        goto fail;
    }
    size_t n_in = inputs->u.array.n;
    if (n_in == 0) {
        rc = proto_bad(&c, "expected at least one tensor");
        goto fail;
    }
    if (n_in > SERVE_MAX_COLS) {
        rc = proto_too_many(&c, "at most %d tensors (columns) per request, got %zu", SERVE_MAX_COLS,
                            n_in);
        goto fail;
    }
    nb.cols = arena_zalloc(c.a, n_in, sizeof *nb.cols);
    if (!nb.cols) {
        rc = proto_oom(&c);
        goto fail;
    }
    table names = {0};
    size_t rows = 0;
    for (size_t i = 0; i < n_in; i++) {
        size_t at = proto_path_index(&c, i);
        if ((rc = read_tensor(&c, &inputs->u.array.items[i], i, &names, &rows, &nb)) != KEEL_OK)
            goto fail;
        path_pop(&c, at);
    }
    nb.n_cols = n_in;
    nb.n_rows = rows;
    *b = nb;
    return KEEL_OK;
fail:
    serve_batch_free(&nb);
    return rc;
}
