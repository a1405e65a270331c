/*
 * fuzz/predlog_record.c — the prediction log's record reader (src/data/predlog_record.c)
 * against arbitrary lines.
 *
 * A failure must be KEEL_EPARSE (or KEEL_ENOMEM) with a non-empty UTF-8 message, a zeroed
 * record, and repeat exactly when the same line is read again. A success must keep the
 * reader's promises: every string NUL-terminated UTF-8 without NUL bytes inside, the
 * SHA-256 64 lowercase hex digits, the time the one its microseconds format to or a
 * fraction of zeros more, numbers finite, outputs within a float's range, latency >= 0.
 * The record is then written back by the writer, from a request whose columns are its
 * inputs (numbers as FP64, text, booleans, nulls as missing), and read again: the second
 * record must equal the first field by field (numbers by value, outputs as floats, the
 * latency to the tenth of a microsecond the writer keeps). Any broken promise calls abort().
 */
#include "data/predlog_record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static void check_string(const char *s)
{
    ASSERT(s != NULL);
    ASSERT(keel_utf8_valid(s, strlen(s)));
}

static void check_record(const keel_predlog_record *r)
{
    check_string(r->request_id);
    check_string(r->protocol);
    check_string(r->model);
    check_string(r->version);
    check_string(r->sha256);
    ASSERT(strlen(r->sha256) == 64 && strspn(r->sha256, "0123456789abcdef") == 64);
    char t[40];
    keel_format_timestamp(r->time_micros, t);
    ASSERT(strcmp(r->time, t) == 0 || (strlen(t) == 20 && strncmp(r->time, t, 19) == 0 &&
                                       strcmp(r->time + 19, ".000000Z") == 0));
    ASSERT(isfinite(r->latency_us) && r->latency_us >= 0);
    for (size_t i = 0; i < r->n_inputs; i++) {
        const keel_predlog_value *v = &r->inputs[i];
        check_string(v->name);
        switch (v->kind) {
        case KEEL_PREDLOG_NULL:
        case KEEL_PREDLOG_BOOL:
            ASSERT(v->text == NULL && v->len == 0 && isnan(v->number));
            break;
        case KEEL_PREDLOG_NUMBER:
            ASSERT(isfinite(v->number));
            check_string(v->text);
            ASSERT(strlen(v->text) == v->len);
            break;
        case KEEL_PREDLOG_TEXT:
            check_string(v->text);
            ASSERT(strlen(v->text) == v->len && isnan(v->number));
            break;
        default:
            abort();
        }
    }
    for (size_t j = 0; j < r->n_outputs; j++) {
        check_string(r->outputs[j].name);
        ASSERT(isnan(r->outputs[j].value) || isfinite((float)r->outputs[j].value));
    }
}

static bool same_float(double a, double b)
{
    return (isnan(a) && isnan(b)) || (float)a == (float)b;
}

/* Writes r back with the writer and reads it again with rd (a reader r does not borrow
 * from). The request has r->row + 1 rows (one, written as row 0, when that is large), the
 * last being r's. */
static void round_trip(const keel_predlog_record *r, keel_predlog_reader *rd)
{
    size_t n_in = r->n_inputs, n_out = r->n_outputs, rows = r->row < 64 ? (size_t)r->row + 1 : 1;
    size_t at = rows - 1, cells = (n_in ? n_in : 1) * rows;
    keel_input_column *cols = calloc(n_in ? n_in : 1, sizeof *cols);
    double *nums = calloc(cells, sizeof *nums);
    const char **texts = calloc(cells, sizeof *texts);
    unsigned char *flags = calloc(cells, 1), *missing = calloc(cells, 1);
    const char **names = calloc(n_out ? n_out : 1, sizeof *names);
    float *outs = calloc((n_out ? n_out : 1) * rows, sizeof *outs);
    ASSERT(cols && nums && texts && flags && missing && names && outs);
    for (size_t i = 0; i < n_in; i++) {
        const keel_predlog_value *v = &r->inputs[i];
        size_t k = i * rows + at;
        cols[i].name = v->name;
        missing[k] = v->kind == KEEL_PREDLOG_NULL;
        cols[i].missing = &missing[i * rows];
        if (v->kind == KEEL_PREDLOG_TEXT) {
            texts[k] = v->text;
            cols[i].type = KEEL_COL_TEXT;
            cols[i].data = &texts[i * rows];
        } else if (v->kind == KEEL_PREDLOG_BOOL) {
            flags[k] = v->boolean;
            cols[i].type = KEEL_COL_BOOL;
            cols[i].data = &flags[i * rows];
        } else {
            nums[k] = v->number;
            cols[i].type = KEEL_COL_F64;
            cols[i].data = &nums[i * rows];
        }
    }
    for (size_t j = 0; j < n_out; j++) {
        names[j] = r->outputs[j].name;
        outs[at * n_out + j] = (float)r->outputs[j].value;
    }
    keel_predlog_request q = {.request_id = r->request_id,
                              .time_micros = r->time_micros,
                              .protocol = r->protocol,
                              .model = r->model,
                              .version = r->version,
                              .sha256 = r->sha256,
                              .latency_seconds = r->latency_us / 1e6,
                              .cols = cols,
                              .n_cols = n_in,
                              .n_rows = rows,
                              .output_names = names,
                              .n_outputs = n_out,
                              .outputs = outs};
    keel_buf head, line;
    keel_buf_init(&head);
    keel_buf_init(&line);
    if (keel_predlog_record_head(&head, &q) == KEEL_OK &&
        keel_predlog_record_write(&line, &q, &head, at) == KEEL_OK) {
        keel_predlog_record s;
        keel_error e;
        int rc = keel_predlog_record_read(rd, line.data, line.len, &s, &e);
        ASSERT(rc == KEEL_OK || rc == KEEL_ENOMEM);
        if (rc == KEEL_OK) {
            ASSERT(strcmp(s.request_id, r->request_id) == 0 && s.row == at);
            if (rows > 1 || r->row == 0) ASSERT(s.row == r->row);
            ASSERT(s.time_micros == r->time_micros && strcmp(s.protocol, r->protocol) == 0);
            ASSERT(strcmp(s.model, r->model) == 0 && strcmp(s.version, r->version) == 0);
            ASSERT(strcmp(s.sha256, r->sha256) == 0);
            /* The writer keeps tenths of a microsecond (and writes 0 from 10^17 us). */
            if (r->latency_us < 1e15) ASSERT(fabs(s.latency_us - r->latency_us) <= 0.0501);
            ASSERT(s.n_inputs == n_in && s.n_outputs == n_out);
            for (size_t i = 0; i < n_in; i++) {
                const keel_predlog_value *a = &r->inputs[i], *b = &s.inputs[i];
                ASSERT(strcmp(a->name, b->name) == 0 && a->kind == b->kind);
                if (a->kind == KEEL_PREDLOG_TEXT) ASSERT(strcmp(a->text, b->text) == 0);
                if (a->kind == KEEL_PREDLOG_BOOL) ASSERT(a->boolean == b->boolean);
                if (a->kind == KEEL_PREDLOG_NUMBER) ASSERT(a->number == b->number);
            }
            for (size_t j = 0; j < n_out; j++) {
                ASSERT(strcmp(r->outputs[j].name, s.outputs[j].name) == 0);
                ASSERT(same_float(r->outputs[j].value, s.outputs[j].value));
            }
        }
    }
    keel_buf_free(&head);
    keel_buf_free(&line);
    free(cols);
    free(nums);
    free(texts);
    free(flags);
    free(missing);
    free(names);
    free(outs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    static keel_predlog_reader *rd, *rd2;
    if (!rd) rd = keel_predlog_reader_new();
    if (!rd2) rd2 = keel_predlog_reader_new();
    if (!rd || !rd2) return 0;
    const char *line = (const char *)data;
    keel_predlog_record r;
    keel_error e;
    int rc = keel_predlog_record_read(rd, line, n, &r, &e);
    if (rc != KEEL_OK) {
        ASSERT(rc == KEEL_EPARSE || rc == KEEL_ENOMEM);
        ASSERT(e.code == rc && e.msg[0] != '\0' && keel_utf8_valid(e.msg, strlen(e.msg)));
        ASSERT(r.request_id == NULL && r.inputs == NULL && r.n_inputs == 0 && r.n_outputs == 0);
        keel_error e2;
        keel_predlog_record r2;
        ASSERT(keel_predlog_record_read(rd, line, n, &r2, &e2) == rc);
        ASSERT(strcmp(e.msg, e2.msg) == 0);
        return 0;
    }
    check_record(&r);
    round_trip(&r, rd2);
    return 0;
}
