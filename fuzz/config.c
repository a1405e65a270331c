/*
 * fuzz/config.c — keel_config_parse on arbitrary bytes.
 *
 * Besides not crashing: every pair handed out has a non-empty key of key characters and a
 * value that is valid UTF-8 without control characters; and the parse is all-or-error, so a
 * text that parsed gives the same pairs when parsed again from a copy.
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

typedef struct seen {
    unsigned long count;
    uint64_t digest;
} seen;

static int on_pair(void *ud, const char *key, const char *value)
{
    seen *s = ud;
    size_t kn = strlen(key), vn = strlen(value);
    if (kn == 0 || kn > 64 || vn > KEEL_CONFIG_VALUE_MAX || !keel_utf8_valid(value, vn)) abort();
    for (size_t i = 0; i < vn; i++)
        if ((unsigned char)value[i] < 0x20) abort();
    s->count++;
    s->digest = keel_hash64(key, kn, s->digest) ^ keel_hash64(value, vn, s->digest + 1);
    return KEEL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    seen a = {0}, b = {0};
    keel_error e;
    int rc = keel_config_parse((const char *)data, n, on_pair, &a, &e);
    if (rc != KEEL_OK && !e.msg[0]) abort();
    char *copy = malloc(n ? n : 1);
    if (!copy) return 0;
    memcpy(copy, data, n);
    int rc2 = keel_config_parse(copy, n, on_pair, &b, &e);
    free(copy);
    if (rc != rc2 || a.count != b.count || a.digest != b.digest) abort();
    return 0;
}
