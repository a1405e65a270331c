/*
 * Fuzz target for the streaming CSV reader.
 *
 * Besides crashes and leaks it checks two properties: the records do not depend on the read
 * chunk size (the input is read whole and in tiny chunks, and every field, line, offset and
 * problem must agree), and every record's raw bytes are exactly the file's bytes at its offset.
 * The first input byte picks the delimiter and encoding so that all modes get exercised.
 * Then the same bytes go through the CSV record reader (the same records by blocks and one at
 * a time, whatever the read size) and are validated as a CSV file against a schema with every
 * column type (header "n,i,c,b,t,x,id" prepended half of the time, so conversions get
 * reached).
 */
#include "data/csv.h"
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static keel_buf describe(const uint8_t *data, size_t n, size_t chunk, char delim, keel_encoding enc,
                         size_t max_record)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_csv_options o;
    keel_csv_options_init(&o);
    o.chunk_bytes = chunk;
    o.delimiter = delim;
    o.encoding = enc;
    o.max_record_bytes = max_record;
    keel_csv *r;
    keel_error e;
    if (keel_csv_open_mem(data, n, &o, &r, &e)) abort();
    keel_record rec;
    int rc;
    while ((rc = keel_csv_next(r, &rec)) == 1) {
        if (rec.offset + rec.raw_len > n) abort();
        if (rec.problem != KEEL_RECORD_TOO_LONG && memcmp(rec.raw, data + rec.offset, rec.raw_len))
            abort(); /* raw must be the file's bytes */
        keel_buf_printf(&b, "%llu:%llu:%d:%zu", (unsigned long long)rec.line,
                        (unsigned long long)rec.offset, (int)rec.problem, rec.n_fields);
        for (size_t i = 0; i < rec.n_fields; i++) {
            keel_buf_putc(&b, '|');
            keel_buf_append(&b, rec.fields[i].p, rec.fields[i].len);
        }
        keel_buf_putc(&b, '\n');
    }
    if (rc < 0) abort(); /* memory input cannot fail */
    keel_csv_close(r);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n == 0) return 0;
    static const char delims[] = {',', ';', '\t', '|'};
    char delim = delims[data[0] & 3];
    keel_encoding enc = (data[0] & 4) ? KEEL_ENC_LATIN1 : KEEL_ENC_UTF8;
    size_t max_record = (data[0] & 8) ? 64 : (size_t)1 << 20;
    data++;
    n--;
    keel_buf whole = describe(data, n, 1 << 16, delim, enc, max_record);
    keel_buf small = describe(data, n, 16, delim, enc, max_record);
    if (whole.len != small.len || (whole.len && memcmp(whole.data, small.data, whole.len)))
        abort(); /* chunk boundaries changed the result */
    keel_buf_free(&whole);
    keel_buf_free(&small);

    static keel_schema *s;
    if (!s) s = fuzz_schema(KEEL_FORMAT_CSV);
    s->delimiter = delim;
    s->encoding = enc;
    if (data[-1] & 16) {
        static const char header[] = "n,i,c,b,t,x,id\n";
        uint8_t *with = malloc(n + sizeof header);
        if (!with) return 0;
        memcpy(with, header, sizeof header - 1);
        for (size_t i = 0; i < sizeof header - 1; i++)
            if (with[i] == ',') with[i] = (uint8_t)delim;
        memcpy(with + sizeof header - 1, data, n);
        fuzz_read(s, with, n + sizeof header - 1, max_record);
        fuzz_validate(s, with, n + sizeof header - 1, max_record);
        free(with);
    } else {
        fuzz_read(s, data, n, max_record);
        fuzz_validate(s, data, n, max_record);
    }
    return 0;
}
