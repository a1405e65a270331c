/*
 * serve_path.c — the server's own work for one request, without HTTP: what `keel serve` does
 * between libmicrohttpd handing it a body and handing back the answer, step by step on one
 * thread (bench/serve_bench.sh measures the whole server under wrk; this shows where keel's
 * share goes):
 *
 *   parse    serve_parse_v2 on the body: as in the server, after the first call the body
 *            is shaped like the thread's last one, so it is read by the shaped tier
 *   parse-fast  serve_parse_v2_fast alone (the single-pass fast path), for comparison
 *   predict  keel_model_predict_columns on the parsed batch (the schema's rules, the
 *            transforms, the network, calibration)
 *   answer   serve_write_v2 (the response body)
 *   all      the three in a row, with the allocations the server makes around them
 *   token    what --require-token adds (src/serve/auth.c): serve_auth_check of a request's
 *            "Bearer keel_..." against a set of 100 live tokens (a SHA-256 and a binary
 *            search), then serve_auth_allows
 *
 * Build and run from the repository root:
 *   make build/serve_path
 *   build/serve_path bench/out/churn.keel bench/out/serve_v2.json [RUNS [CALLS]]
 * (bench/serve_bench.sh writes both files.) Prints one JSON object per step: the median over
 * RUNS runs (default 5) of each run's mean over CALLS calls (default 100000), in nanoseconds.
 * A mean, not a per-call median: each call is a few microseconds and timing calls one by one
 * would add the clock's own cost to each. SERVE_PATH_STEP=parse|parse-fast|predict|answer|all|token
 * runs that step alone (for perf).
 */
#define _POSIX_C_SOURCE 200809L
#include "serve/auth.h"
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL) {
            *n = fread(buf, 1, (size_t)len, f);
            buf[*n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

enum { STEP_PARSE, STEP_PARSE_FAST, STEP_PREDICT, STEP_ANSWER, STEP_ALL, STEP_TOKEN, N_STEPS };
static const char *const step_names[N_STEPS] = {"parse",  "parse-fast", "predict",
                                                "answer", "all",        "token"};

typedef struct job {
    keel_model *m;
    const char *body;
    size_t len;
    serve_batch b; /* parsed once, for the predict and answer steps */
    float *pred;
    serve_auth *auth; /* 100 live tokens, one of them in header */
    char header[100];
} job;

/* One call of step; returns false (with a message) on any error. */
static bool call(job *j, int step)
{
    serve_error err = {0};
    keel_error e = {0};
    serve_batch b;
    keel_buf out;
    keel_buf_init(&out);
    bool ok = true;
    switch (step) {
    case STEP_PARSE:
        ok = serve_parse_v2(j->body, j->len, &b, &err) == KEEL_OK;
        serve_batch_free(&b);
        break;
    case STEP_PARSE_FAST:
        ok = serve_parse_v2_fast(j->body, j->len, &b, &err);
        serve_batch_free(&b);
        break;
    case STEP_PREDICT:
        ok = keel_model_predict_columns(j->m, j->b.cols, j->b.n_cols, j->b.n_rows, j->pred, &e) ==
             KEEL_OK;
        break;
    case STEP_ANSWER:
        ok = serve_write_v2(&out, "churn", "1", j->b.id, j->m, j->pred, j->b.n_rows) == KEEL_OK;
        break;
    case STEP_TOKEN: {
        serve_caller who;
        char msg[300];
        ok = serve_auth_check(j->auth, j->header, keel_wall_micros(), &who, msg, sizeof msg) == 0 &&
             serve_auth_allows(&who, "churn", KEEL_TOKEN_INVOKE, msg, sizeof msg) == 0;
        break;
    }
    default: {
        ok = serve_parse_v2(j->body, j->len, &b, &err) == KEEL_OK;
        size_t k = keel_model_n_outputs(j->m);
        float *pred = ok ? keel_calloc(b.n_rows * k + 1, sizeof *pred) : NULL;
        ok = pred &&
             keel_model_predict_columns(j->m, b.cols, b.n_cols, b.n_rows, pred, &e) == KEEL_OK;
        ok = ok && serve_write_v2(&out, "churn", "1", b.id, j->m, pred, b.n_rows) == KEEL_OK;
        keel_free(pred);
        serve_batch_free(&b);
    }
    }
    keel_buf_free(&out);
    if (!ok) fprintf(stderr, "serve_path: %s failed: %s%s\n", step_names[step], err.msg, e.msg);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: serve_path MODEL.keel BODY.json [RUNS [CALLS]]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    long calls = argc > 4 ? atol(argv[4]) : 100000;
    if (runs < 1 || runs > 100 || calls < 1) {
        fprintf(stderr, "serve_path: RUNS must be 1..100 and CALLS at least 1\n");
        return 2;
    }
    job j = {0};
    keel_error e = {0};
    if (keel_model_open(argv[1], &j.m, &e) != KEEL_OK) {
        fprintf(stderr, "serve_path: %s\n", e.msg);
        return 1;
    }
    if (!(j.body = slurp(argv[2], &j.len))) {
        fprintf(stderr, "serve_path: cannot read %s\n", argv[2]);
        return 1;
    }
    serve_error err = {0};
    if (serve_parse_v2(j.body, j.len, &j.b, &err) != KEEL_OK) {
        fprintf(stderr, "serve_path: %s: %s\n", argv[2], err.msg);
        return 1;
    }
    j.pred = calloc(j.b.n_rows * keel_model_n_outputs(j.m) + 1, sizeof *j.pred);
    /* The answer step writes the request's real predictions (zeros would take the float
     * formatter's slow path, which real probabilities do not). */
    if (!j.pred || keel_model_predict_columns(j.m, j.b.cols, j.b.n_cols, j.b.n_rows, j.pred, &e)) {
        fprintf(stderr, "serve_path: cannot predict %s: %s\n", argv[2], e.msg);
        return 1;
    }
    /* 100 live tokens (as keel token create makes them: keel_ and 64 hex digits) */
    keel_live_token live[100];
    for (int i = 0; i < 100; i++) {
        char t[80];
        snprintf(t, sizeof t, "keel_%032x%032x", i * 2654435761u, i + 17);
        keel_sha256 h;
        keel_sha256_init(&h);
        keel_sha256_update(&h, t, strlen(t));
        keel_sha256_final(&h, live[i].sha256);
        snprintf(live[i].model, sizeof live[i].model, "%s", i == 42 ? "churn" : "other");
        live[i].role = KEEL_TOKEN_INVOKE;
        live[i].expires_at = 0;
        if (i == 42) snprintf(j.header, sizeof j.header, "Bearer %s", t);
    }
    if (!(j.auth = serve_auth_new()) || serve_auth_set(j.auth, live, 100) != KEEL_OK) {
        fprintf(stderr, "serve_path: out of memory\n");
        return 1;
    }
    double per_run[100];
    const char *only = getenv("SERVE_PATH_STEP");
    for (int step = 0; step < N_STEPS; step++) {
        if (only && strcmp(only, step_names[step])) continue;
        for (long i = 0; i < calls / 5; i++) /* warm-up */
            if (!call(&j, step)) return 1;
        for (int r = 0; r < runs; r++) {
            double t0 = bench_now();
            for (long i = 0; i < calls; i++)
                if (!call(&j, step)) return 1;
            per_run[r] = (bench_now() - t0) / (double)calls * 1e9;
        }
        double sorted[100];
        memcpy(sorted, per_run, sizeof per_run[0] * (size_t)runs);
        qsort(sorted, (size_t)runs, sizeof *sorted, bench_cmp_double);
        printf("{\"step\": \"%s\", \"ns\": %.0f, \"runs\": [", step_names[step], sorted[runs / 2]);
        for (int r = 0; r < runs; r++)
            printf("%s%.0f", r ? ", " : "", per_run[r]);
        printf("]}\n");
    }
    serve_auth_free(j.auth);
    serve_batch_free(&j.b);
    free(j.pred);
    free((void *)j.body);
    keel_model_close(j.m);
    return 0;
}
