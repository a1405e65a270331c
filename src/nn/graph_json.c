/*
 * graph_json.c — a graph's structure as JSON, and back.
 *
 * Design. The JSON is the node list exactly as built (op name, inputs, rows, cols, attr,
 * iattr, name) plus the layout sizes; parameter values travel separately (the artifact's
 * tensors). Reading treats the text as untrusted: every member is type- and range-checked
 * here (integers must be integral and within their caps, attr a finite float, names short
 * and NUL-free, no unknown or repeated keys), and then every node goes through
 * keel_graph_add_node, the same shape rules a program building a graph meets, whose message
 * names the node and what does not fit. The declared n_params/n_state must equal what the
 * nodes lay out, and they are compared before anything that size is allocated.
 * Floats are written in their shortest form that reads back to the same float.
 */
#include "nn/nn.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------------------- */

/* Appends f as the shortest decimal that reads back (as a float) to f; f is finite. */
static int put_float(keel_buf *b, float f)
{
    char s[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, (double)f);
        if (strtof(s, NULL) == f) break;
    }
    return keel_buf_puts(b, s);
}

int keel_graph_to_json(const keel_graph *g, keel_buf *out)
{
    if (!g || !out) return KEEL_EINVAL;
    if (!g->finalised) return KEEL_ESTATE;
    keel_buf_mark start = keel_buf_begin(out);
    int rc = keel_buf_puts(out, "{\"nodes\":[");
    for (int i = 0; i < g->n_nodes && rc == KEEL_OK; i++) {
        const keel_node *nd = &g->nodes[i];
        rc = keel_buf_printf(out, "%s{\"op\":\"%s\",\"inputs\":[", i ? "," : "",
                             keel_op_name(nd->op));
        for (int j = 0; j < nd->n_inputs && rc == KEEL_OK; j++)
            rc = keel_buf_printf(out, "%s%d", j ? "," : "", nd->inputs[j]);
        if (rc == KEEL_OK)
            rc = keel_buf_printf(out, "],\"rows\":%zu,\"cols\":%zu,\"attr\":", nd->rows, nd->cols);
        if (rc == KEEL_OK) rc = put_float(out, nd->attr);
        if (rc == KEEL_OK) rc = keel_buf_printf(out, ",\"iattr\":%d,\"name\":", nd->iattr);
        if (rc == KEEL_OK) rc = keel_buf_json_str(out, nd->name, strlen(nd->name));
        if (rc == KEEL_OK) rc = keel_buf_putc(out, '}');
    }
    if (rc == KEEL_OK)
        rc = keel_buf_printf(out, "],\"n_params\":%zu,\"n_state\":%zu}", g->n_params, g->n_state);
    return keel_buf_end_rc(out, start, rc); /* a failure leaves the buffer as it was */
}

/* ---- reading ------------------------------------------------------------------------- */

/* Reads an integral JSON number in [lo, hi] into *out. Returns KEEL_OK, KEEL_EFORMAT (not an
 * integer) or KEEL_ELIMIT (an integer out of range), with e naming what. */
static int get_int(const keel_json *v, double lo, double hi, const char *what, long long node,
                   long long *out, keel_error *e)
{
    char where[48] = "graph";
    if (node >= 0) snprintf(where, sizeof where, "node %lld", node);
    if (!v || v->type != KEEL_JSON_NUMBER || !isfinite(v->u.number.value) ||
        floor(v->u.number.value) != v->u.number.value)
        return keel_error_set(e, KEEL_EFORMAT, "%s: \"%s\" must be an integer", where, what);
    double d = v->u.number.value;
    if (d < lo || d > hi)
        return keel_error_set(e, d < lo && lo == 0 ? KEEL_EFORMAT : KEEL_ELIMIT,
                              "%s: \"%s\" is %.17g, outside [%.17g, %.17g]", where, what, d, lo,
                              hi);
    *out = (long long)d;
    return KEEL_OK;
}

/* Fails on keys other than the allowed ones and on repeated keys. */
static int check_keys(const keel_json *obj, const char *const *allowed, size_t n_allowed,
                      long long node, keel_error *e)
{
    char where[48] = "graph";
    if (node >= 0) snprintf(where, sizeof where, "node %lld", node);
    unsigned seen = 0;
    for (size_t i = 0; i < obj->u.object.n; i++) {
        const char *k = obj->u.object.members[i].key;
        size_t a = 0;
        while (a < n_allowed && strcmp(k, allowed[a]) != 0)
            a++;
        if (a == n_allowed || strlen(k) != obj->u.object.members[i].key_len)
            return keel_error_set(e, KEEL_EFORMAT, "%s: unknown key \"%.40s\"", where, k);
        if (seen & (1u << a))
            return keel_error_set(e, KEEL_EFORMAT, "%s: key \"%s\" given twice", where, k);
        seen |= 1u << a;
    }
    return KEEL_OK;
}

static int read_node(const keel_json *v, long long i, keel_node *nd, keel_error *e)
{
    static const char *const keys[] = {"op", "inputs", "rows", "cols", "attr", "iattr", "name"};
    memset(nd, 0, sizeof *nd);
    if (!v || v->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "node %lld: expected an object", i);
    int rc = check_keys(v, keys, KEEL_ARRAY_LEN(keys), i, e);
    if (rc != KEEL_OK) return rc;

    const char *op = keel_json_str(keel_json_get(v, "op"));
    if (!op) return keel_error_set(e, KEEL_EFORMAT, "node %lld: \"op\" must be a string", i);
    int o = keel_op_from_name(op);
    if (o < 0) return keel_error_set(e, KEEL_EFORMAT, "node %lld: unknown op \"%.40s\"", i, op);
    nd->op = (keel_op)o;

    const keel_json *in = keel_json_get(v, "inputs");
    if (!in || in->type != KEEL_JSON_ARRAY)
        return keel_error_set(e, KEEL_EFORMAT, "node %lld: \"inputs\" must be an array", i);
    if (in->u.array.n > KEEL_NN_MAX_INPUTS)
        return keel_error_set(e, KEEL_ELIMIT, "node %lld: %zu inputs (at most %d)", i,
                              in->u.array.n, KEEL_NN_MAX_INPUTS);
    nd->n_inputs = (int)in->u.array.n;
    for (int j = 0; j < nd->n_inputs; j++) {
        long long id;
        rc = get_int(&in->u.array.items[j], 0, (double)KEEL_NN_MAX_NODES, "inputs", i, &id, e);
        if (rc != KEEL_OK) return rc == KEEL_ELIMIT ? KEEL_EFORMAT : rc;
        if (id >= i)
            return keel_error_set(e, KEEL_EFORMAT,
                                  "node %lld: input %d refers to node %lld, which is not earlier",
                                  i, j, id);
        nd->inputs[j] = (int)id;
    }

    long long r, c, ia = 0;
    if ((rc = get_int(keel_json_get(v, "rows"), 0, (double)KEEL_NN_MAX_DIM, "rows", i, &r, e)) ||
        (rc = get_int(keel_json_get(v, "cols"), 0, (double)KEEL_NN_MAX_DIM, "cols", i, &c, e)))
        return rc;
    nd->rows = (size_t)r;
    nd->cols = (size_t)c;
    const keel_json *iv = keel_json_get(v, "iattr");
    if (iv && (rc = get_int(iv, -2147483648.0, 2147483647.0, "iattr", i, &ia, e))) return rc;
    nd->iattr = (int)ia;
    const keel_json *av = keel_json_get(v, "attr");
    if (av) {
        if (av->type != KEEL_JSON_NUMBER || !isfinite(av->u.number.value) ||
            fabs(av->u.number.value) > FLT_MAX)
            return keel_error_set(e, KEEL_EFORMAT, "node %lld: \"attr\" must be a finite number",
                                  i);
        nd->attr = (float)av->u.number.value;
    }
    const keel_json *nv = keel_json_get(v, "name");
    if (nv) {
        if (nv->type != KEEL_JSON_STRING)
            return keel_error_set(e, KEEL_EFORMAT, "node %lld: \"name\" must be a string", i);
        if (nv->u.string.len >= sizeof nd->name || strlen(nv->u.string.s) != nv->u.string.len)
            return keel_error_set(e, KEEL_EFORMAT,
                                  "node %lld: \"name\" must be under %zu bytes, without NUL", i,
                                  sizeof nd->name);
        memcpy(nd->name, nv->u.string.s, nv->u.string.len);
    }
    return KEEL_OK;
}

int keel_graph_from_json(const keel_json *v, keel_graph **out, keel_error *e)
{
    static const char *const keys[] = {"nodes", "n_params", "n_state"};
    keel_graph *g = NULL;
    int rc;
    if (out) *out = NULL;
    if (!out) return keel_error_set(e, KEEL_EINVAL, "graph: no output");
    if (!v || v->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "graph: expected an object");
    if ((rc = check_keys(v, keys, KEEL_ARRAY_LEN(keys), -1, e))) return rc;
    const keel_json *nodes = keel_json_get(v, "nodes");
    if (!nodes || nodes->type != KEEL_JSON_ARRAY)
        return keel_error_set(e, KEEL_EFORMAT, "graph: \"nodes\" must be an array");
    if (nodes->u.array.n > KEEL_NN_MAX_NODES)
        return keel_error_set(e, KEEL_ELIMIT, "graph: %zu nodes (at most %d)", nodes->u.array.n,
                              KEEL_NN_MAX_NODES);
    long long np, ns;
    if ((rc = get_int(keel_json_get(v, "n_params"), 0, (double)KEEL_NN_MAX_PARAMS, "n_params", -1,
                      &np, e)) ||
        (rc = get_int(keel_json_get(v, "n_state"), 0, (double)KEEL_NN_MAX_PARAMS, "n_state", -1,
                      &ns, e)))
        return rc;

    g = keel_graph_new();
    if (!g) goto nomem;
    if (nodes->u.array.n) {
        g->nodes = keel_reallocarray(NULL, nodes->u.array.n, sizeof *g->nodes);
        if (!g->nodes) goto nomem;
        g->cap_nodes = (int)nodes->u.array.n;
    }
    for (size_t i = 0; i < nodes->u.array.n; i++) {
        keel_node nd;
        if ((rc = read_node(&nodes->u.array.items[i], (long long)i, &nd, e))) goto fail;
        rc = keel_graph_add_node(g, &nd, e);
        if (rc < 0) {
            if (rc == KEEL_EINVAL) rc = e ? (e->code = KEEL_EFORMAT) : KEEL_EFORMAT;
            goto fail;
        }
    }
    size_t want_p, want_s;
    if ((rc = keel_graph_sizes(g, &want_p, &want_s)) != KEEL_OK) {
        keel_error_set(e, rc, "graph: more than %zu parameters", KEEL_NN_MAX_PARAMS);
        goto fail;
    }
    if (want_p != (size_t)np || want_s != (size_t)ns) {
        rc = keel_error_set(e, KEEL_EFORMAT,
                            "graph: n_params/n_state are %lld/%lld but the nodes lay out %zu/%zu",
                            np, ns, want_p, want_s);
        goto fail;
    }
    rc = keel_graph_finalise(g);
    if (rc == KEEL_ENOMEM) goto nomem;
    if (rc != KEEL_OK) {
        keel_error_set(e, rc, "graph: cannot finalise");
        goto fail;
    }
    *out = g;
    return KEEL_OK;
nomem:
    rc = keel_error_set(e, KEEL_ENOMEM, "graph: out of memory");
fail:
    keel_graph_free(g);
    return rc;
}
