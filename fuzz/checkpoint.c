/*
 * fuzz/checkpoint.c — the audit checkpoint parser (the head file, or one an auditor kept)
 * against arbitrary bytes.
 *
 * A failure must be KEEL_EFORMAT (or KEEL_ENOMEM) with a message, leave the output zeroed,
 * and repeat exactly on a second parse. A success must hold the parser's promises: seq >= 1,
 * hash and public key 64 lowercase hex digits and signature 128, each NUL-terminated in its
 * array. It is then written back in the head file's form and must parse to the identical
 * checkpoint. Any broken promise calls abort().
 */
#include "registry/audit.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static void check_hex(const char *s, size_t n)
{
    ASSERT(strlen(s) == n);
    for (size_t i = 0; i < n; i++)
        ASSERT((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_audit_checkpoint cp, again;
    keel_error e, e2;
    memset(&cp, 0x5a, sizeof cp); /* the parser must overwrite all of it */
    int rc = keel_audit_checkpoint_parse((const char *)data, n, &cp, &e);
    int rc2 = keel_audit_checkpoint_parse((const char *)data, n, &again, &e2);
    ASSERT(rc == rc2);
    if (rc != KEEL_OK) {
        static const keel_audit_checkpoint zero;
        ASSERT(rc == KEEL_EFORMAT || rc == KEEL_ENOMEM);
        ASSERT(e.code == rc && e.msg[0] != '\0' && strcmp(e.msg, e2.msg) == 0);
        ASSERT(memcmp(&cp, &zero, sizeof cp) == 0);
        return 0;
    }
    ASSERT(memcmp(&cp, &again, sizeof cp) == 0);
    ASSERT(cp.seq >= 1);
    check_hex(cp.hash, 64);
    check_hex(cp.public_key, 64);
    check_hex(cp.signature, 128);

    char text[512];
    int len = snprintf(text, sizeof text,
                       "{\"seq\":%lld,\"time\":%lld,\"hash\":\"%s\",\"public_key\":\"%s\","
                       "\"signature\":\"%s\"}\n",
                       (long long)cp.seq, (long long)cp.time, cp.hash, cp.public_key, cp.signature);
    ASSERT(len > 0 && (size_t)len < sizeof text);
    ASSERT(keel_audit_checkpoint_parse(text, (size_t)len, &again, &e) == KEEL_OK);
    ASSERT(memcmp(&cp, &again, sizeof cp) == 0);
    return 0;
}
