/*
 * predict.c — embedding libkeel: a small program that scores a CSV file with a .keel model
 * through the public C API (include/keel.h) only.
 *
 *   cc -o predict predict.c $(pkg-config --cflags --libs keel)
 *   ./predict MODEL.keel DATA.csv > predictions.csv
 *
 * What it shows:
 *   1. keel_model_open, then the model's task, identity and inputs (names and types);
 *   2. the whole file as one columnar batch (keel_model_predict_columns): numeric inputs as
 *      doubles, everything else as text, columns the model does not take left out; written
 *      to standard output in the format of `keel predict` (prediction, then one probability
 *      per class), so the two can be compared line for line;
 *   3. every row again as named values (keel_model_predict_fields), checked against the
 *      batch;
 *   4. why: the last row explained (keel_explain): the probability, the typical customer's,
 *      and the principal reasons in words;
 *   5. what an error looks like: an unknown input name and a value the schema refuses.
 * Everything but the predictions goes to standard error.
 *
 * The CSV reader here is deliberately tiny: a header line, then records of comma-separated
 * fields; a field may be in double quotes but may not contain commas, quotes or line breaks.
 * An empty field is missing. (keel's own reader is in the CLI, not in libkeel.)
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <keel.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 1024

/* Splits line in place into fields (quotes stripped); returns how many. */
static size_t split(char *line, char **fields)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < MAX_FIELDS;) {
        char *end = strchr(p, ',');
        if (end) *end = 0;
        size_t len = strlen(p);
        if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
            p[len - 1] = 0;
            p++;
        }
        fields[n++] = p;
        if (!end) break;
        p = end + 1;
    }
    return n;
}

/* The file: its header and its records' fields, row-major (all strings point into lines). */
typedef struct table {
    char *head; /* the header line */
    char *header[MAX_FIELDS];
    size_t n_cols, n_rows;
    char **cells; /* n_rows * n_cols */
    char **lines;
} table;

static int read_table(const char *path, table *t)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t cap = 0;
    memset(t, 0, sizeof *t);
    if (!fgets(buf, sizeof buf, f)) {
        fclose(f);
        return -1;
    }
    t->head = strdup(buf);
    t->n_cols = split(t->head, t->header);
    while (fgets(buf, sizeof buf, f)) {
        if (buf[strspn(buf, "\r\n")] == 0) continue; /* blank line */
        if (t->n_rows == cap) {
            cap = cap ? 2 * cap : 64;
            t->lines = realloc(t->lines, cap * sizeof *t->lines);
            t->cells = realloc(t->cells, cap * t->n_cols * sizeof *t->cells);
        }
        char *line = t->lines[t->n_rows] = strdup(buf), *fields[MAX_FIELDS];
        size_t n = split(line, fields);
        for (size_t c = 0; c < t->n_cols; c++)
            t->cells[t->n_rows * t->n_cols + c] = c < n && fields[c][0] ? fields[c] : NULL;
        t->n_rows++;
    }
    fclose(f);
    return 0;
}

/* Whether every value of column c is a number (or missing). */
static int all_numbers(const table *t, size_t c)
{
    for (size_t r = 0; r < t->n_rows; r++) {
        const char *v = t->cells[r * t->n_cols + c];
        char *end;
        if (v && (strtod(v, &end), *end != 0 || end == v)) return 0;
    }
    return 1;
}

/* One output row as `keel predict` writes it: the class and its probabilities, or the
 * predicted value (whole numbers as such, others in the shortest form that reads back). */
static void print_row(const keel_model *m, const float *p)
{
    size_t k = keel_model_n_outputs(m);
    if (!strcmp(keel_model_task(m), "regression")) {
        double v = p[0];
        char tmp[40];
        if (fabs(v) < 1e15 && v == (double)(long long)v) {
            printf("%lld\n", (long long)v);
            return;
        }
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v) break;
        }
        printf("%s\n", tmp);
        return;
    }
    printf("%s", keel_model_output_name(m, keel_model_predicted_class(m, p)));
    for (size_t j = 0; j < k; j++)
        printf(",%.6g", (double)p[j]);
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: predict MODEL.keel DATA.csv\n");
        return 2;
    }
    fprintf(stderr, "libkeel %s\n", keel_version());

    /* 1. Open the model and list what it takes. */
    keel_model *m;
    keel_error e;
    if (keel_model_open(argv[1], &m, &e)) {
        fprintf(stderr, "cannot open %s: %s (%s)\n", argv[1], e.msg, keel_errname(e.code));
        return 1;
    }
    size_t ni = keel_model_n_inputs(m), k = keel_model_n_outputs(m);
    fprintf(stderr, "model %.12s: %s, %zu inputs:", keel_model_sha256(m), keel_model_task(m), ni);
    for (size_t i = 0; i < ni; i++)
        fprintf(stderr, " %s (%s)", keel_model_input_name(m, i), keel_model_input_type(m, i));
    fprintf(stderr, "\n");

    table t;
    if (read_table(argv[2], &t)) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        keel_model_close(m);
        return 1;
    }

    /* 2. The whole file as columns: the file's columns that are inputs, each as doubles when
     * the input is numeric and every value is a number, else as text (the model then reads
     * it as a CSV field: missing tokens, categories, its rules). */
    keel_input_column *cols = calloc(t.n_cols, sizeof *cols);
    double **nums = calloc(t.n_cols, sizeof *nums);
    const char ***texts = calloc(t.n_cols, sizeof *texts);
    size_t nc = 0;
    for (size_t c = 0; c < t.n_cols; c++) {
        long input = -1;
        for (size_t i = 0; i < ni; i++)
            if (!strcmp(t.header[c], keel_model_input_name(m, i))) input = (long)i;
        if (input < 0) continue; /* the target, an id, ...: not taken */
        keel_input_column *col = &cols[nc++];
        col->name = t.header[c];
        if (!strcmp(keel_model_input_type(m, (size_t)input), "numeric") && all_numbers(&t, c)) {
            nums[c] = malloc((t.n_rows + 1) * sizeof **nums);
            for (size_t r = 0; r < t.n_rows; r++) {
                const char *v = t.cells[r * t.n_cols + c];
                nums[c][r] = v ? strtod(v, NULL) : NAN;
            }
            col->type = KEEL_COL_F64;
            col->data = nums[c];
        } else {
            texts[c] = malloc((t.n_rows + 1) * sizeof **texts);
            for (size_t r = 0; r < t.n_rows; r++)
                texts[c][r] = t.cells[r * t.n_cols + c];
            col->type = KEEL_COL_TEXT;
            col->data = texts[c];
        }
    }
    float *out = malloc((t.n_rows * k + 1) * sizeof *out);
    int status = 0;
    if (keel_model_predict_columns(m, cols, nc, t.n_rows, out, &e)) {
        fprintf(stderr, "batch: %s\n", e.msg);
        status = 1;
    } else {
        printf("prediction");
        if (strcmp(keel_model_task(m), "regression"))
            for (size_t j = 0; j < k; j++)
                printf(",p_%s", keel_model_output_name(m, j));
        printf("\n");
        for (size_t r = 0; r < t.n_rows; r++)
            print_row(m, out + r * k);
    }

    /* 3. Row by row, as named values: the same predictions (one row at a time takes another
     * route through the matrix products, so the last bits may differ). */
    keel_named_value *fields = calloc(nc + 1, sizeof *fields);
    size_t agree = 0;
    for (size_t r = 0; r < t.n_rows && !status; r++) {
        for (size_t c = 0, f = 0; c < t.n_cols; c++) {
            if (!nums[c] && !texts[c]) continue;
            const char *v = t.cells[r * t.n_cols + c];
            /* text when there is some; else the number, NaN being missing */
            fields[f++] = nums[c] ? (keel_named_value){t.header[c], NULL, nums[c][r]}
                                  : (keel_named_value){t.header[c], v, NAN};
        }
        float one[256];
        if (k > 256 || keel_model_predict_fields(m, fields, nc, one, &e)) {
            fprintf(stderr, "row %zu: %s\n", r, e.msg);
            status = 1;
            break;
        }
        size_t same = 1;
        for (size_t j = 0; j < k; j++)
            same &= fabsf(one[j] - out[r * k + j]) <= 1e-5f * (1 + fabsf(one[j]));
        agree += same;
    }
    if (!status)
        fprintf(stderr, "row by row: %zu of %zu rows agree with the batch\n", agree, t.n_rows);

    /* 4. Why the model predicts what it does for the last row (the fields left from 3):
     * attributions per input that add up to prediction - baseline, and the reasons. */
    if (!status && t.n_rows) {
        double *attr = calloc(ni + 1, sizeof *attr);
        keel_explain_info info;
        if (attr && keel_explain(m, fields, nc, "scale=probability", attr, &info, &e) == KEEL_OK) {
            fprintf(stderr, "why: %s of '%s' %.3f against %.3f for a typical row (%s)\n",
                    info.scale, keel_model_output_name(m, info.class_index), info.prediction,
                    info.baseline_prediction, info.method);
            for (size_t j = 0; j < info.n_reasons; j++)
                fprintf(stderr, "  reason %zu: %s\n", j + 1, info.reason_text[j]);
        } else if (attr) {
            fprintf(stderr, "explain: %s\n", e.msg);
        }
        free(attr);
    }

    /* 5. Errors: an input that does not exist, and text that is not a number for the first
     * numeric input (a model trained by `keel train` refuses it; a categorical input would
     * take an unknown value as missing). The message names the row and the column. */
    keel_named_value bad_name = {"no_such_input", "1", 0};
    int rc = keel_model_predict_fields(m, &bad_name, 1, out, &e);
    fprintf(stderr, "unknown input: %s: %s\n", keel_errname(rc), e.msg);
    for (size_t i = 0; i < ni; i++)
        if (!strcmp(keel_model_input_type(m, i), "numeric")) {
            keel_named_value bad_value = {keel_model_input_name(m, i), "not a value", 0};
            rc = keel_model_predict_fields(m, &bad_value, 1, out, &e);
            fprintf(stderr, "bad value: %s%s%s\n", keel_errname(rc), rc ? ": " : "",
                    rc ? e.msg : "");
            break;
        }

    for (size_t c = 0; c < t.n_cols; c++) {
        free(nums[c]);
        free(texts[c]);
    }
    for (size_t r = 0; r < t.n_rows; r++)
        free(t.lines[r]);
    free(t.lines);
    free(t.cells);
    free(t.head);
    free(cols);
    free(nums);
    free(texts);
    free(fields);
    free(out);
    keel_model_close(m);
    return status;
}
