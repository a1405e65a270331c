/*
 * Fuzz target for reading profiles (the drift baseline files people keep and edit): parse
 * the input as JSON, read it as a profile, and if that works write it, read it back, and
 * require the same text; then merge it with itself. Besides crashes and leaks, a profile
 * that reads but whose own output does not is a failure.
 */
#include "base/json.h"
#include "data/profile.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static keel_profile *read_text(keel_json_doc *d, const char *text, size_t n)
{
    keel_error e;
    keel_profile *p = NULL;
    if (keel_json_parse(d, text, n, &e) != KEEL_OK) return NULL;
    if (keel_profile_read_json(keel_json_root(d), &p, &e) != KEEL_OK) {
        if (p || !e.msg[0]) abort(); /* a failure leaves nothing behind and says why */
        return NULL;
    }
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return 0;
    keel_profile *p = read_text(d, (const char *)data, n);
    if (p) {
        keel_buf a, b;
        keel_buf_init(&a);
        keel_buf_init(&b);
        if (keel_profile_write_json(p, &a) != KEEL_OK) abort();
        keel_profile *q = read_text(d, a.data, a.len);
        if (!q) abort(); /* our own output must read back */
        if (keel_profile_write_json(q, &b) != KEEL_OK || a.len != b.len ||
            memcmp(a.data, b.data, a.len))
            abort(); /* and write the same text again */
        keel_error e;
        int rc = keel_profile_merge(p, q, &e);
        if (rc != KEEL_OK && rc != KEEL_ELIMIT) abort();
        keel_profile_free(q);
        keel_buf_free(&a);
        keel_buf_free(&b);
        keel_profile_free(p);
    }
    keel_json_doc_free(d);
    return 0;
}
