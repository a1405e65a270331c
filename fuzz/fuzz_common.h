/*
 * fuzz_common.h — a schema with one column of every type and policy, shared by the fuzz
 * targets that run whole validations, and the invariant they all check.
 */
#ifndef KEEL_FUZZ_COMMON_H
#define KEEL_FUZZ_COMMON_H

#include "data/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

#include <stdlib.h>
#include <string.h>

static keel_schema *fuzz_schema(keel_format format)
{
    keel_schema *s = keel_schema_new();
    keel_schema_column *c;
    if (!s) abort();
    s->format = format;
    keel_schema_add_column(s, "n", &c);
    c->has_min = c->has_max = true;
    c->min = -100;
    c->max = 100;
    c->on_invalid = KEEL_ON_INVALID_CLIP;
    keel_schema_add_column(s, "i", &c);
    c->integer = true;
    c->on_invalid = KEEL_ON_INVALID_MISSING;
    keel_schema_add_column(s, "c", &c);
    c->type = KEEL_TYPE_CATEGORICAL;
    const char *cats[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", ""};
    for (size_t k = 0; k < sizeof cats / sizeof *cats; k++)
        keel_strlist_add(&c->categories, cats[k], strlen(cats[k]));
    keel_schema_add_column(s, "b", &c);
    c->type = KEEL_TYPE_BOOLEAN;
    c->nullable = false;
    keel_schema_add_column(s, "t", &c);
    c->type = KEEL_TYPE_TIMESTAMP;
    keel_schema_add_column(s, "x", &c);
    c->type = KEEL_TYPE_TEXT;
    keel_schema_add_column(s, "id", &c);
    c->type = KEEL_TYPE_ID;
    return s;
}

typedef struct fuzz_count {
    uint64_t rows;
} fuzz_count;

static int fuzz_on_chunk(void *ud, const keel_frame *f)
{
    ((fuzz_count *)ud)->rows += f->n_rows;
    return 0;
}

/* Validates data with s; aborts if the counts do not reconcile. */
static void fuzz_validate(const keel_schema *s, const uint8_t *data, size_t n, size_t max_record)
{
    keel_validate_options o;
    keel_validate_options_init(&o);
    o.quarantine_path = "/dev/null";
    o.chunk_rows = 3;
    o.max_record_bytes = max_record;
    fuzz_count count = {0};
    o.on_chunk = fuzz_on_chunk;
    o.chunk_ud = &count;
    keel_validate_result res;
    keel_error e;
    int rc = keel_validate_mem(s, data, n, &o, &res, &e);
    if (rc == KEEL_OK &&
        (res.records != res.accepted + res.quarantined || count.rows != res.accepted))
        abort();
    if (rc != KEEL_OK && rc != KEEL_EEMPTY && rc != KEEL_EMISMATCH)
        abort(); /* memory input: only "empty" or "header lacks a column" can stop it */
    keel_validate_result_free(&res);
}

#endif
