/*
 * Fuzz target for JSON Lines validation: every line through the JSON parser, the key
 * mapping and the conversions of every column type, with quarantine written to /dev/null.
 * Checks that nothing crashes or leaks and that records = accepted + quarantined.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    static keel_schema *s;
    if (!s) s = fuzz_schema(KEEL_FORMAT_JSONL);
    fuzz_validate(s, data, n, 256);
    return 0;
}
