/*
 * api_latency.c — the public C API's single-row cost (include/keel.h), start to finish, on
 * one thread: keel_model_predict_tensor (raw network inputs: workspace from the pool,
 * forward, calibrated probabilities; only for models whose inputs are all numeric),
 * keel_model_predict_row (text values: parsing, the schema's rules, the fitted transforms,
 * then the same) and keel_model_predict_fields (the same row as named values, numbers for
 * the numeric inputs); then keel_explain on the same fields: Integrated Gradients with the
 * defaults (issue 6's goal: at most 40 times a prediction and at most 50 µs) and Shapley
 * values (sampled when the model has more than 12 inputs; timed over calls / 500 calls).
 *
 * The row: the first record of ROW.csv when given (a CSV file with a header naming the
 * model's inputs; quotes are stripped, no embedded commas), else a made-up one (0.25 or -1.5
 * for every input, which suits all-numeric models).
 *
 * Build and run from the repository root:
 *   gcc -std=c17 -O2 -Iinclude bench/api_latency.c build/libkeel.a \
 *       -lsodium -ldnnl -lgomp -lm -lpthread -o build/api_latency
 *   build/keel train data/mlc_churn.csv --target churn -o /tmp/churn.keel --no-registry
 *   build/api_latency /tmp/churn.keel data/mlc_churn.csv [RUNS [CALLS]]
 * Prints one JSON object per measurement: the median over RUNS runs (default 5) of each
 * run's median over CALLS calls (default 200000) after 20000 warm-up calls, in nanoseconds,
 * with every run's median.
 */
#define _POSIX_C_SOURCE 200809L
#include "keel.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

/* Splits line in place at commas, stripping quotes; returns the number of fields. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < max;) {
        char *end = strchr(p, ',');
        if (end) *end = 0;
        size_t len = strlen(p);
        if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
            p[len - 1] = 0;
            p++;
        }
        f[n++] = p;
        if (!end) break;
        p = end + 1;
    }
    return n;
}

enum { MODE_TENSOR, MODE_ROW, MODE_FIELDS, MODE_IG, MODE_SHAPLEY };

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: api_latency MODEL.keel [ROW.csv [RUNS [CALLS]]]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    long calls = argc > 4 ? atol(argv[4]) : 200000;
    if (runs < 1 || calls < 10) return 2;
    keel_model *m;
    keel_error e;
    if (keel_model_open(argv[1], &m, &e)) {
        fprintf(stderr, "api_latency: %s\n", e.msg);
        return 1;
    }
    size_t nf = keel_model_n_features(m), ni = keel_model_n_inputs(m);
    float *x = calloc(nf + 1, sizeof *x), out[256];
    const char **row = calloc(ni + 1, sizeof *row);
    keel_named_value *fields = calloc(ni + 1, sizeof *fields);
    double *t = malloc((size_t)calls * sizeof *t), *med = malloc((size_t)runs * sizeof *med);
    static char header[65536], line[65536];
    char *hf[4096], *lf[4096];
    if (!x || !row || !fields || !t || !med || keel_model_n_outputs(m) > 256) return 1;
    for (size_t i = 0; i < nf; i++)
        x[i] = (float)((int)(i * 37 % 17) - 8) / 8.0f;
    for (size_t i = 0; i < ni; i++)
        row[i] = i % 3 ? "0.25" : "-1.5";
    if (argc > 2) {
        FILE *f = fopen(argv[2], "r");
        if (!f || !fgets(header, sizeof header, f) || !fgets(line, sizeof line, f)) {
            fprintf(stderr, "api_latency: cannot read a header and a record from %s\n", argv[2]);
            return 1;
        }
        fclose(f);
        size_t nh = split(header, hf, 4096), nl = split(line, lf, 4096);
        for (size_t i = 0; i < ni; i++) {
            row[i] = NULL;
            for (size_t j = 0; j < nh && j < nl; j++)
                if (!strcmp(hf[j], keel_model_input_name(m, i))) row[i] = lf[j];
        }
    }
    for (size_t i = 0; i < ni; i++) {
        bool numeric = !strcmp(keel_model_input_type(m, i), "numeric");
        fields[i].name = keel_model_input_name(m, i);
        fields[i].text = numeric ? NULL : row[i];
        fields[i].number = numeric && row[i] ? strtod(row[i], NULL) : NAN;
    }
    static const char *names[] = {"api_predict_tensor_b1", "api_predict_row_b1",
                                  "api_predict_fields_b1", "api_explain_ig_b1",
                                  "api_explain_shapley_b1"};
    double *attr = calloc(ni + 1, sizeof *attr), fields_ns = NAN;
    keel_explain_info info;
    if (!attr) return 1;
    long all_calls = calls;
    for (int mode = 0; mode < 5; mode++) {
        int rc = KEEL_OK;
        calls = mode == MODE_SHAPLEY ? (all_calls / 500 > 10 ? all_calls / 500 : 10) : all_calls;
        long warm = mode == MODE_SHAPLEY ? 10 : 20000;
        for (int run = 0; run < runs && !rc; run++) {
            for (long i = -warm; i < calls && !rc; i++) {
                double t0 = bench_now();
                switch (mode) {
                case MODE_TENSOR:
                    rc = keel_model_predict_tensor(m, x, 1, nf, out, &e);
                    break;
                case MODE_ROW:
                    rc = keel_model_predict_row(m, row, out, &e);
                    break;
                case MODE_FIELDS:
                    rc = keel_model_predict_fields(m, fields, ni, out, &e);
                    break;
                default:
                    rc = keel_explain(m, fields, ni, mode == MODE_SHAPLEY ? "method=shapley" : NULL,
                                      attr, &info, &e);
                    out[0] = (float)info.completeness_error;
                }
                double dt = bench_now() - t0;
                if (i >= 0) t[i] = dt;
            }
            qsort(t, (size_t)calls, sizeof *t, bench_cmp_double);
            med[run] = t[calls / 2];
        }
        if (rc) { /* e.g. the tensor path of a model with categorical inputs */
            printf("{\"bench\":\"%s\",\"impl\":\"keel\",\"skipped\":\"%s\"}\n", names[mode], e.msg);
            continue;
        }
        double all[64];
        int nr = runs < 64 ? runs : 64;
        memcpy(all, med, (size_t)nr * sizeof *all);
        qsort(med, (size_t)runs, sizeof *med, bench_cmp_double);
        printf("{\"bench\":\"%s\",\"impl\":\"keel\",\"threads\":1,\"value\":%.0f,\"unit\":\"ns\","
               "\"features\":%zu,\"inputs\":%zu,\"calls\":%ld,\"runs_ns\":[",
               names[mode], med[runs / 2] * 1e9, nf, ni, calls);
        for (int r = 0; r < nr; r++)
            printf("%s%.0f", r ? "," : "", all[r] * 1e9);
        if (mode == MODE_FIELDS) fields_ns = med[runs / 2] * 1e9;
        if (mode >= MODE_IG)
            printf("],\"completeness_error\":%.3g,\"scale\":\"%s\",\"times_predict_fields\":"
                   "%.2f}\n",
                   (double)out[0], info.scale, med[runs / 2] * 1e9 / fields_ns);
        else
            printf("],\"p_first\":%.6g}\n", (double)out[0]);
    }
    free(attr);
    keel_model_close(m);
    free(x);
    free(row);
    free(fields);
    free(t);
    free(med);
    return 0;
}
