/*
 * fuzz/explain.c — keel_explain's option string and named fields from hostile input.
 *
 * The input's first line is the option string; every further line is one field, NAME=VALUE
 * given as text, or NAME:VALUE given as a number (strtod of the text; anything else is
 * NaN, i.e. missing). The model is the seed artifact tests/corpus/model/pima_explain.keel
 * (8 numeric inputs, a background sample, explain settings), found under KEEL_TEST_ROOT or
 * the working directory, loaded once. Whatever the input, keel_explain must return a code
 * and, when it succeeds, finite attributions whose reported completeness error is the true
 * one (with steps=N the caller may ask for too few points: the error is then large, but
 * must be reported as it is).
 */
#include "keel.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static keel_model *model(void)
{
    static keel_model *m;
    static int tried;
    if (!tried) {
        tried = 1;
        const char *root = getenv("KEEL_TEST_ROOT");
        char path[4096];
        snprintf(path, sizeof path, "%s%stests/corpus/model/pima_explain.keel", root ? root : "",
                 root ? "/" : "");
        keel_error e;
        if (keel_model_open(path, &m, &e) != KEEL_OK) {
            fprintf(stderr, "fuzz/explain: cannot open %s: %s\n", path, e.msg);
            abort();
        }
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_model *m = model();
    if (n > 4096) return 0;
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, data, n);
    text[n] = '\0';
    keel_named_value fields[32];
    size_t nf = 0;
    char *line = strchr(text, '\n');
    if (line) *line++ = '\0';
    while (line && nf < 32) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *eq = strpbrk(line, "=:");
        if (eq) {
            bool number = *eq == ':';
            *eq = '\0';
            fields[nf].name = line;
            fields[nf].text = number ? NULL : eq + 1;
            char *end;
            double v = strtod(eq + 1, &end);
            fields[nf].number = number && *end == '\0' ? v : NAN;
            nf++;
        }
        line = next;
    }
    size_t ni = keel_model_n_inputs(m);
    double attr[64];
    keel_explain_info info;
    keel_error e;
    if (ni <= 64 && keel_explain(m, fields, nf, text, attr, &info, &e) == KEEL_OK) {
        double sum = 0;
        for (size_t i = 0; i < ni; i++) {
            if (!isfinite(attr[i])) abort();
            sum += attr[i];
        }
        double gap = info.prediction - info.baseline_prediction;
        if (!(fabs(fabs(sum - gap) - info.completeness_error) <= 1e-6 * (1 + fabs(gap)))) abort();
        if (info.n_reasons > KEEL_EXPLAIN_REASONS) abort();
    }
    free(text);
    return 0;
}
