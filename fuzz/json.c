/*
 * fuzz/json.c — the JSON parser against arbitrary bytes.
 *
 * Every input is parsed; a failure must come with a located message and must repeat
 * exactly when the same doc parses it again. A success is walked in full (every string and
 * number byte read, so a bad pointer shows up under ASan) and checked for the parser's
 * promises: strings NUL-terminated and valid UTF-8, number text NUL-terminated and its value
 * equal to strtod's. The tree is then written back out with keel_buf_json_str and the exact
 * number text, and the result must parse again into an identical tree; so must the original
 * input parsed a second time by a doc that was used before. keel_buf_json_num's output for
 * each value must also be accepted. Any broken promise calls abort().
 */
#include "base/json.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static keel_json_doc *num_doc; /* checks keel_buf_json_num output; reused across calls */

static void check_num_writer(double v)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_buf_json_num(&b, v) == KEEL_OK) {
        if (!num_doc) num_doc = keel_json_doc_new();
        if (num_doc) {
            int rc = keel_json_parse(num_doc, b.data, b.len, NULL);
            ASSERT(rc == KEEL_OK || rc == KEEL_ENOMEM);
            const keel_json *r = keel_json_root(num_doc);
            if (r) ASSERT(r->type == KEEL_JSON_NUMBER || r->type == KEEL_JSON_NULL);
        }
    }
    keel_buf_free(&b);
}

/* Reads every byte of the tree, checks its invariants, returns a checksum (kept live). */
static unsigned walk(const keel_json *v)
{
    unsigned sum = (unsigned)v->type;
    switch (v->type) {
    case KEEL_JSON_NULL:
        break;
    case KEEL_JSON_BOOL:
        sum += v->u.boolean;
        break;
    case KEEL_JSON_NUMBER: {
        const char *t = v->u.number.text;
        ASSERT(t && v->u.number.len > 0 && t[v->u.number.len] == '\0');
        ASSERT(strlen(t) == v->u.number.len);
        double s = strtod(t, NULL);
        ASSERT(memcmp(&s, &v->u.number.value, sizeof s) == 0);
        check_num_writer(s);
        for (size_t i = 0; i < v->u.number.len; i++)
            sum += (unsigned char)t[i];
        break;
    }
    case KEEL_JSON_STRING:
        ASSERT(v->u.string.s && v->u.string.s[v->u.string.len] == '\0');
        ASSERT(keel_utf8_valid(v->u.string.s, v->u.string.len));
        for (size_t i = 0; i < v->u.string.len; i++)
            sum += (unsigned char)v->u.string.s[i];
        break;
    case KEEL_JSON_ARRAY:
        ASSERT(v->u.array.n == 0 || v->u.array.items);
        for (size_t i = 0; i < v->u.array.n; i++)
            sum += walk(&v->u.array.items[i]);
        ASSERT(keel_json_at(v, v->u.array.n) == NULL);
        break;
    case KEEL_JSON_OBJECT:
        ASSERT(v->u.object.n == 0 || v->u.object.members);
        for (size_t i = 0; i < v->u.object.n; i++) {
            const keel_json_member *m = &v->u.object.members[i];
            ASSERT(m->key && m->key[m->key_len] == '\0');
            ASSERT(keel_utf8_valid(m->key, m->key_len));
            for (size_t k = 0; k < m->key_len; k++)
                sum += (unsigned char)m->key[k];
            /* keel_json_get finds this key or an earlier one with the same name. */
            if (strlen(m->key) == m->key_len) {
                const keel_json *g = keel_json_get(v, m->key);
                ASSERT(g && g <= &m->value);
            }
            sum += walk(&m->value);
        }
        break;
    default:
        abort();
    }
    return sum;
}

/* Writes v as JSON (numbers exactly as they were written). */
static int write_json(keel_buf *b, const keel_json *v)
{
    int rc = KEEL_OK;
    switch (v->type) {
    case KEEL_JSON_NULL:
        return keel_buf_puts(b, "null");
    case KEEL_JSON_BOOL:
        return keel_buf_puts(b, v->u.boolean ? "true" : "false");
    case KEEL_JSON_NUMBER:
        return keel_buf_append(b, v->u.number.text, v->u.number.len);
    case KEEL_JSON_STRING:
        return keel_buf_json_str(b, v->u.string.s, v->u.string.len);
    case KEEL_JSON_ARRAY:
        rc = keel_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.array.n && !rc; i++) {
            if (i) rc = keel_buf_putc(b, ',');
            if (!rc) rc = write_json(b, &v->u.array.items[i]);
        }
        return rc ? rc : keel_buf_putc(b, ']');
    case KEEL_JSON_OBJECT:
        rc = keel_buf_putc(b, '{');
        for (size_t i = 0; i < v->u.object.n && !rc; i++) {
            const keel_json_member *m = &v->u.object.members[i];
            if (i) rc = keel_buf_putc(b, ',');
            if (!rc) rc = keel_buf_json_str(b, m->key, m->key_len);
            if (!rc) rc = keel_buf_putc(b, ':');
            if (!rc) rc = write_json(b, &m->value);
        }
        return rc ? rc : keel_buf_putc(b, '}');
    }
    abort();
}

static bool same(const keel_json *a, const keel_json *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case KEEL_JSON_NULL:
        return true;
    case KEEL_JSON_BOOL:
        return a->u.boolean == b->u.boolean;
    case KEEL_JSON_NUMBER:
        return a->u.number.len == b->u.number.len &&
               memcmp(a->u.number.text, b->u.number.text, a->u.number.len) == 0 &&
               memcmp(&a->u.number.value, &b->u.number.value, sizeof(double)) == 0;
    case KEEL_JSON_STRING:
        return a->u.string.len == b->u.string.len &&
               memcmp(a->u.string.s, b->u.string.s, a->u.string.len) == 0;
    case KEEL_JSON_ARRAY:
        if (a->u.array.n != b->u.array.n) return false;
        for (size_t i = 0; i < a->u.array.n; i++)
            if (!same(&a->u.array.items[i], &b->u.array.items[i])) return false;
        return true;
    case KEEL_JSON_OBJECT:
        if (a->u.object.n != b->u.object.n) return false;
        for (size_t i = 0; i < a->u.object.n; i++) {
            const keel_json_member *x = &a->u.object.members[i], *y = &b->u.object.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !same(&x->value, &y->value))
                return false;
        }
        return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *text = (const char *)data;
    keel_json_doc *d = keel_json_doc_new(), *d2 = keel_json_doc_new();
    keel_buf out;
    keel_buf_init(&out);
    if (!d || !d2) goto done;
    keel_error e;
    int rc = keel_json_parse(d, text, n, &e);
    if (rc != KEEL_OK) {
        ASSERT(rc == KEEL_EPARSE || rc == KEEL_ELIMIT);
        ASSERT(keel_json_root(d) == NULL && strncmp(e.msg, "line ", 5) == 0);
        keel_error e2;
        ASSERT(keel_json_parse(d, text, n, &e2) == rc && strcmp(e.msg, e2.msg) == 0);
        goto done;
    }
    const keel_json *root = keel_json_root(d);
    ASSERT(root != NULL);
    volatile unsigned sum = walk(root);
    (void)sum;

    if (write_json(&out, root) != KEEL_OK) goto done;
    rc = keel_json_parse(d2, out.data, out.len, &e);
    ASSERT(rc == KEEL_OK);
    ASSERT(same(root, keel_json_root(d2)));
    /* The same doc, used once already, must give the same tree for the original text. */
    ASSERT(keel_json_parse(d2, text, n, &e) == KEEL_OK);
    ASSERT(same(root, keel_json_root(d2)));

done:
    keel_buf_free(&out);
    keel_json_doc_free(d);
    keel_json_doc_free(d2);
    return 0;
}
