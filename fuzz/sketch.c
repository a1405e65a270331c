/*
 * Fuzz target for the sketch readers (HyperLogLog, KLL, top-k) on hostile JSON, then round
 * trips, adds and merges of whatever they accept.
 */
#include "data/sketch.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *m)
{
    fprintf(stderr, "%s\n", m);
    abort();
}

static void kll_check(const keel_json *v)
{
    keel_kll *s = NULL;
    keel_error e;
    if (keel_kll_read(v, &s, &e) != KEEL_OK) {
        if (s) die("kll: out set on failure");
        if (!e.msg[0]) die("kll: no message");
        return;
    }
    for (int i = 0; i <= 10; i++) {
        double q = keel_kll_quantile(s, i / 10.0);
        if (keel_kll_count(s) && (q < keel_kll_min(s) || q > keel_kll_max(s)))
            die("kll: quantile out of range");
        double r = keel_kll_rank(s, q);
        if (keel_kll_count(s) && !(r >= 0 && r <= 1)) die("kll: rank out of range");
    }
    keel_buf a, b;
    keel_buf_init(&a);
    keel_buf_init(&b);
    if (keel_kll_write(s, &a) != KEEL_OK) die("kll write");
    keel_json_doc *d = keel_json_doc_new();
    if (keel_json_parse(d, a.data, a.len, &e) != KEEL_OK) die("kll: own output does not parse");
    keel_kll *t = NULL;
    if (keel_kll_read(keel_json_root(d), &t, &e) != KEEL_OK) {
        fprintf(stderr, "%s\n%s\n", e.msg, a.data);
        die("kll: own output refused");
    }
    if (keel_kll_write(t, &b) != KEEL_OK || strcmp(a.data, b.data) != 0)
        die("kll: round trip differs");
    if (keel_kll_count(s) < (1ull << 62)) {
        for (int i = 0; i < 100; i++)
            if (keel_kll_add(s, i * 0.37 - 5) != KEEL_OK) die("kll add");
        int rc = keel_kll_merge(s, t);
        if (rc != KEEL_OK && rc != KEEL_ELIMIT) die("kll merge");
        rc = keel_kll_merge(s, s);
        if (rc != KEEL_OK && rc != KEEL_ELIMIT) die("kll self merge");
        keel_buf_reset(&a);
        if (keel_kll_write(s, &a) != KEEL_OK) die("kll write 2");
        if (keel_json_parse(d, a.data, a.len, &e) != KEEL_OK)
            die("kll: own output 2 does not parse");
        keel_kll *u = NULL;
        if (keel_kll_read(keel_json_root(d), &u, &e) != KEEL_OK) {
            fprintf(stderr, "%s\n%s\n", e.msg, a.data);
            die("kll: own output 2 refused");
        }
        keel_kll_free(u);
    }
    keel_json_doc_free(d);
    keel_buf_free(&a);
    keel_buf_free(&b);
    keel_kll_free(s);
    keel_kll_free(t);
}

static void topk_check(const keel_json *v)
{
    keel_topk *s = NULL;
    keel_error e;
    if (keel_topk_read(v, &s, &e) != KEEL_OK) {
        if (s) die("topk: out set on failure");
        if (!e.msg[0]) die("topk: no message");
        return;
    }
    keel_topk_item items[16];
    size_t n = keel_topk_items(s, items, 16);
    for (size_t i = 1; i < n; i++)
        if (items[i].count > items[i - 1].count) die("topk order");
    keel_buf a, b;
    keel_buf_init(&a);
    keel_buf_init(&b);
    if (keel_topk_write(s, &a) != KEEL_OK) die("topk write");
    keel_json_doc *d = keel_json_doc_new();
    if (keel_json_parse(d, a.data, a.len, &e) != KEEL_OK) die("topk: own output does not parse");
    keel_topk *t = NULL;
    if (keel_topk_read(keel_json_root(d), &t, &e) != KEEL_OK) {
        fprintf(stderr, "%s\n%s\n", e.msg, a.data);
        die("topk: own output refused");
    }
    if (keel_topk_write(t, &b) != KEEL_OK || strcmp(a.data, b.data) != 0)
        die("topk: round trip differs");
    if (keel_topk_total(s) < (1ull << 62)) {
        for (int i = 0; i < 200; i++) {
            char k[16];
            int len = snprintf(k, sizeof k, "k%d", i % 37);
            if (keel_topk_add(s, k, (size_t)len, 1 + (unsigned)i % 3) != KEEL_OK) die("topk add");
        }
        if (keel_topk_merge(s, t) != KEEL_OK) die("topk merge");
        if (keel_topk_merge(s, s) != KEEL_OK) die("topk self merge");
        keel_buf_reset(&a);
        if (keel_topk_write(s, &a) != KEEL_OK) die("topk write 2");
        if (keel_json_parse(d, a.data, a.len, &e) != KEEL_OK)
            die("topk: own output 2 does not parse");
        keel_topk *u = NULL;
        if (keel_topk_read(keel_json_root(d), &u, &e) != KEEL_OK) {
            fprintf(stderr, "%s\n%s\n", e.msg, a.data);
            die("topk: own output 2 refused");
        }
        keel_topk_free(u);
    }
    keel_json_doc_free(d);
    keel_buf_free(&a);
    keel_buf_free(&b);
    keel_topk_free(s);
    keel_topk_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    if (!d) return 0;
    if (keel_json_parse(d, (const char *)data, n, &e) == KEEL_OK) {
        const keel_json *root = keel_json_root(d);
        kll_check(root);
        topk_check(root);
        keel_hll h;
        keel_hll_init(&h);
        if (keel_hll_read(&h, root, &e) == KEEL_OK) {
            double est = keel_hll_estimate(&h);
            if (!(est >= 0)) die("hll estimate");
        }
        for (size_t i = 0; i < keel_json_len(root) && root->type == KEEL_JSON_OBJECT; i++) {
            kll_check(&root->u.object.members[i].value);
            topk_check(&root->u.object.members[i].value);
        }
    }
    keel_json_doc_free(d);
    return 0;
}
