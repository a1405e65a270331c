/*
 * Fuzz target for JSON Lines: every line through the record reader (the JSON parser and the
 * key mapping), then through validation and the conversions of every column type, with
 * quarantine written to /dev/null. Checks that nothing crashes or leaks, that the reader
 * gives the same records by blocks and one at a time and whatever its read size, and that
 * records = accepted + quarantined.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    static keel_schema *s;
    if (!s) s = fuzz_schema(KEEL_FORMAT_JSONL);
    fuzz_read(s, data, n, 256);
    fuzz_validate(s, data, n, 256);
    return 0;
}
