/*
 * fuzz/model.c — the model loader on hostile artifacts.
 *
 * The input is a whole artifact. It is opened with the digest check skipped, so that the
 * fuzzer's mutations of the manifest (schema, target, transforms, graph, io nodes,
 * calibration, background sample, explanation settings) reach the model loader instead of
 * stopping at the checksum. Whatever loads must then predict and explain without crashing:
 * one row of missing values, and one of odd text (Shapley values only for small models, to
 * keep each input fast).
 */
#include "model/artifact.h"
#include "model/model.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_artifact *a;
    keel_error e;
    if (keel_artifact_open_mem_unchecked_digest(data, n, &a, &e) != KEEL_OK) return 0;
    keel_model *m;
    int rc = keel_model_from_artifact(a, &m, &e);
    keel_artifact_close(a);
    if (rc != KEEL_OK) return 0;
    size_t ni = keel_model_n_inputs(m), k = keel_model_n_outputs(m);
    const char **row = calloc(ni + 1, sizeof *row);
    float *out = calloc(k + 1, sizeof *out);
    if (row && out) {
        (void)keel_model_predict_row(m, row, out, &e); /* all missing */
        for (size_t i = 0; i < ni; i++)
            row[i] = i % 2 ? "1" : "x y z";
        (void)keel_model_predict_row(m, row, out, &e);
        double *attr = calloc(ni + 1, sizeof *attr);
        keel_explain_info info;
        if (attr) {
            (void)keel_explain(m, NULL, 0, NULL, attr, &info, &e);
            if (ni <= 6) (void)keel_explain(m, NULL, 0, "method=shapley", attr, &info, &e);
        }
        free(attr);
    }
    free(row);
    free(out);
    keel_model_free(m);
    return 0;
}
