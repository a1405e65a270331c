/*
 * reader_jsonl.c — the JSON Lines record reader: one JSON object per line, keys naming
 * columns.
 *
 * Lines come from the CSV tokenizer with quoting off and NUL as the "delimiter", which valid
 * JSON never contains, so a line is one field, blank lines are skipped and counted, an
 * over-long line is skipped without being held, and raw bytes, lines and offsets are exactly
 * as for CSV. Each line is parsed into one reused document; each member's key is looked up in
 * the schema's column names and its value becomes that column's field: a string as TEXT, a
 * number as NUMBER (its text as written), true and false as the TEXT "true" and "false",
 * null as MISSING, an object or array as NESTED. A column whose key is absent is MISSING;
 * keys the schema doesn't know are ignored; a repeated key: the first one counts.
 *
 * JSON keeps no offsets of values, so every field's raw_off is 0: a problem with a value is
 * reported at the start of its line.
 *
 * A key costs a record nothing where it is absent, but whoever keeps the records (a frame for
 * training) holds a value for it: 2 MB of "{}" lines under a schema of 4,096 columns would be
 * 3 billion values. So the values the records leave out, counted over the whole file, are
 * bounded by ABSENT_FREE plus ABSENT_PER_BYTE per byte read; past that the read fails with a
 * message saying so. Real exports leave out far fewer (a record that names 10 of 200
 * columns in 100 bytes leaves out 1.9 per byte), so they never meet the bound.
 */
#include "data/reader_impl.h"

#include "base/json.h"

#include <string.h>

#define ABSENT_FREE     ((uint64_t)1 << 20) /* values left out before the bound applies */
#define ABSENT_PER_BYTE 4                   /* and then per byte of the file read */

typedef struct jsonl_reader {
    keel_reader base;
    keel_csv *t; /* the line splitter */
    keel_json_doc *doc;
    keel_field *cols; /* [n_columns]: the current record's fields */
    uint8_t *seen;    /* [n_columns]: the column's key has come up in this line */
    uint64_t absent;  /* values the records so far left out (keys absent) */
    char why[sizeof(keel_error){0}.msg + 32];
} jsonl_reader;

static int jsonl_open(keel_reader *r, const reader_source *src, const keel_reader_options *o,
                      keel_error *e)
{
    jsonl_reader *j = (jsonl_reader *)r;
    keel_csv_options co;
    keel_csv_options_init(&co);
    co.delimiter = '\0';
    co.quote = '\0'; /* JSON strings cannot hold a raw newline: one record per line */
    co.encoding = KEEL_ENC_UTF8;
    if (o->max_record_bytes) co.max_record_bytes = o->max_record_bytes;
    if (o->chunk_bytes) co.chunk_bytes = o->chunk_bytes;
    co.sha256 = o->sha256;
    size_t nc = r->s->n_columns ? r->s->n_columns : 1;
    j->doc = keel_json_doc_new();
    j->cols = keel_calloc(nc, sizeof *j->cols);
    j->seen = keel_calloc(nc, sizeof *j->seen);
    if (!j->doc || !j->cols || !j->seen) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    int rc = reader_open_tokenizer(src, &co, &j->t, e);
    if (rc == KEEL_OK) reader_sync(r, j->t);
    return rc;
}

static void jsonl_close(keel_reader *r)
{
    jsonl_reader *j = (jsonl_reader *)r;
    keel_csv_close(j->t);
    keel_json_doc_free(j->doc);
    keel_free(j->cols);
    keel_free(j->seen);
}

static int problem(keel_record *rec, keel_record_problem p, const char *why)
{
    rec->problem = p;
    rec->problem_off = 0;
    rec->why = why;
    rec->n_fields = 0;
    return 1;
}

static keel_field field_of(const keel_json *v)
{
    switch (v->type) {
    case KEEL_JSON_STRING:
        return (keel_field){v->u.string.s, v->u.string.len, 0, false, KEEL_FIELD_TEXT};
    case KEEL_JSON_NUMBER:
        return (keel_field){v->u.number.text, v->u.number.len, 0, false, KEEL_FIELD_NUMBER};
    case KEEL_JSON_BOOL:
        return (keel_field){v->u.boolean ? "true" : "false", v->u.boolean ? 4 : 5, 0, false,
                            KEEL_FIELD_TEXT};
    case KEEL_JSON_NULL:
        return (keel_field){"", 0, 0, false, KEEL_FIELD_MISSING};
    default:
        return (keel_field){"", 0, 0, false, KEEL_FIELD_NESTED};
    }
}

static int jsonl_next(keel_reader *r, keel_record *rec)
{
    jsonl_reader *j = (jsonl_reader *)r;
    int got = keel_csv_next(j->t, rec);
    reader_sync(r, j->t);
    if (got < 0) return reader_fail(r, got, "%s: %s", r->name, keel_csv_errmsg(j->t));
    if (got == 0) return 0;
    if (rec->problem != KEEL_RECORD_OK) { /* too long: the tokenizer says so */
        rec->n_fields = 0;
        return 1;
    }
    if (rec->n_fields != 1)
        return problem(rec, KEEL_RECORD_BAD_JSON, "not valid JSON: a NUL byte in the line");
    keel_error je;
    int rc = keel_json_parse(j->doc, rec->fields[0].p, rec->fields[0].len, &je);
    if (rc == KEEL_ENOMEM)
        return reader_fail(r, rc, "out of memory at %s:%llu", r->name,
                           (unsigned long long)rec->line);
    if (rc != KEEL_OK) {
        snprintf(j->why, sizeof j->why, "not valid JSON: %s", je.msg);
        return problem(rec, KEEL_RECORD_BAD_JSON, j->why);
    }
    const keel_json *root = keel_json_root(j->doc);
    if (!root || root->type != KEEL_JSON_OBJECT)
        return problem(rec, KEEL_RECORD_NOT_OBJECT, "the line is not a JSON object");
    size_t nc = r->s->n_columns, named = 0;
    memset(j->seen, 0, nc);
    for (size_t m = 0; m < root->u.object.n; m++) {
        const keel_json_member *mem = &root->u.object.members[m];
        long ci = keel_strset_find(&r->columns, mem->key, mem->key_len);
        if (ci >= 0 && !j->seen[ci]) {
            j->seen[ci] = 1;
            j->cols[ci] = field_of(&mem->value);
            named++;
        }
    }
    j->absent += nc - named;
    if (j->absent > ABSENT_FREE + ABSENT_PER_BYTE * r->bytes_read)
        return reader_fail(r, KEEL_ELIMIT,
                           "%s:%llu: the records so far leave out %llu values of the %zu columns "
                           "(keys that are absent) in %llu bytes; keel holds a value for each, "
                           "and reads at most %llu plus %d per byte of JSON Lines",
                           r->name, (unsigned long long)rec->line, (unsigned long long)j->absent,
                           nc, (unsigned long long)r->bytes_read, (unsigned long long)ABSENT_FREE,
                           ABSENT_PER_BYTE);
    for (size_t ci = 0; ci < nc; ci++)
        if (!j->seen[ci]) j->cols[ci] = (keel_field){"", 0, 0, false, KEEL_FIELD_MISSING};
    rec->fields = j->cols;
    rec->n_fields = nc;
    return 1;
}

const keel_reader_ops reader_jsonl_ops = {
    .version = KEEL_READER_OPS_VERSION,
    .name = "jsonl",
    .size = sizeof(jsonl_reader),
    .open = jsonl_open,
    .next = jsonl_next,
    .next_block = NULL, /* parsing dominates: blocks of one record */
    .close = jsonl_close,
};
