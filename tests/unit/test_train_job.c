/*
 * test_train_job.c — the training job (src/pipeline/train_job.c) without the CLI: a model
 * saved and registered with its run and lineage, the same bytes for the same inputs, and
 * each step's failure named, with the run it started recorded as failed.
 */
#include "harness.h"

#include "pipeline/reports.h"
#include "pipeline/train_job.h"

#include <stdlib.h>
#include <unistd.h>

static const char *path_in(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", test_tmpdir(), name);
    return p[k];
}

static keel_registry *open_registry(void)
{
    keel_registry *r = NULL;
    keel_error e = {0};
    if (keel_registry_open(path_in("home"), "trainer", "test-host", &r, &e))
        harness_fail(__FILE__, __LINE__, "open: %s", e.msg);
    return r;
}

typedef struct seen {
    int loaded, epochs;
} seen;

static void on_loaded(void *ud, const char *file, const keel_validate_result *vr, const char *q)
{
    ((seen *)ud)->loaded++;
}

static void on_epoch(void *ud, const keel_epoch_report *r)
{
    ((seen *)ud)->epochs++;
}

static keel_train_job pima_job(const char *output, seen *s)
{
    static char data[1024];
    snprintf(data, sizeof data, "%s/data/pima2.csv", test_root());
    keel_train_job job = {.file = data,
                          .target = "diabetes",
                          .output = output,
                          .no_quarantine = true,
                          .created = 1700000000LL * 1000000,
                          .user = "trainer",
                          .on_loaded = on_loaded,
                          .on_epoch = on_epoch,
                          .ud = s};
    keel_hparams_init(&job.hp);
    job.hp.max_epochs = 3;
    return job;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

TEST(train_job_saves_registers_and_repeats_bytes)
{
    keel_registry *r = open_registry();
    seen s = {0};
    keel_train_job job = pima_job(path_in("pima.keel"), &s);
    job.registry = r;
    keel_train_job_result res;
    keel_error e = {0};
    CHECK_EQ_INT(keel_train_job_run(&job, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.failed_at, KEEL_JOB_NONE);
    CHECK_EQ_INT(s.loaded, 1);
    CHECK_EQ_INT(s.epochs, 3);
    CHECK(res.model != NULL);
    CHECK_STR(res.name, "pima");
    CHECK_EQ_INT(res.version, 1);
    CHECK(res.run > 0 && res.dataset > 0);
    CHECK_EQ_INT(res.data.records, 768);
    CHECK(strstr(res.model->lineage_json.data, "\"created\":\"2023-11-14T22:13:20Z\"") != NULL);
    CHECK(strstr(res.model->lineage_json.data, "\"user\":\"trainer\"") != NULL);
    CHECK(access(res.checkpoint, F_OK) != 0); /* finished: no checkpoint left */
    keel_buf run;
    keel_buf_init(&run);
    CHECK_EQ_INT(keel_registry_run_show(r, res.run, &run), KEEL_OK);
    CHECK(strstr(run.data, "\"status\":\"finished\"") != NULL);
    CHECK(strstr(run.data, "{\\\"event\\\":\\\"epoch\\\"") ||
          strstr(run.data, "\"event\":\"epoch\""));
    keel_buf_free(&run);
    keel_train_job_result_free(&res);

    /* The same inputs, the same bytes. */
    keel_train_job again = pima_job(path_in("pima2.keel"), &s);
    CHECK_EQ_INT(keel_train_job_run(&again, &res, &e), KEEL_OK);
    CHECK_EQ_INT(res.version, 0); /* no registry: nothing recorded */
    keel_train_job_result_free(&res);
    size_t n1, n2;
    char *a = slurp(path_in("pima.keel"), &n1), *b = slurp(path_in("pima2.keel"), &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a);
    free(b);
    keel_registry_close(r);
}

TEST(train_job_names_the_failing_step)
{
    keel_registry *r = open_registry();
    seen s = {0};
    keel_train_job_result res;
    keel_error e = {0};

    keel_train_job job = pima_job(path_in("x.keel"), &s);
    job.target = "no_such_column";
    CHECK(keel_train_job_run(&job, &res, &e) != KEEL_OK);
    CHECK_EQ_INT(res.failed_at, KEEL_JOB_SCHEMA);
    CHECK(strstr(e.msg, "no_such_column") != NULL);
    keel_train_job_result_free(&res);

    job = pima_job(path_in("x.keel"), &s);
    job.file = path_in("missing.csv");
    CHECK(keel_train_job_run(&job, &res, &e) != KEEL_OK);
    CHECK(res.failed_at == KEEL_JOB_SCHEMA || res.failed_at == KEEL_JOB_DATA);
    keel_train_job_result_free(&res);

    job = pima_job(path_in("x.keel"), &s);
    job.registry = r;
    job.name = "-bad name";
    CHECK_EQ_INT(keel_train_job_run(&job, &res, &e), KEEL_EINVAL);
    CHECK_EQ_INT(res.failed_at, KEEL_JOB_SETUP);
    CHECK_EQ_INT(res.run, 0);
    keel_train_job_result_free(&res);

    /* A setting that does not fit the trained model: the run is recorded as failed. */
    job = pima_job(path_in("x.keel"), &s);
    job.registry = r;
    job.explain.lower_is_adverse = true; /* pima is a classification */
    CHECK_EQ_INT(keel_train_job_run(&job, &res, &e), KEEL_EINVAL);
    CHECK_EQ_INT(res.failed_at, KEEL_JOB_SETTINGS);
    CHECK(strstr(e.msg, "--lower-is-adverse applies to regression") != NULL);
    CHECK(res.run > 0);
    keel_buf run;
    keel_buf_init(&run);
    CHECK_EQ_INT(keel_registry_run_show(r, res.run, &run), KEEL_OK);
    CHECK(strstr(run.data, "\"status\":\"failed\"") != NULL);
    CHECK(strstr(run.data, "bad explanation settings") != NULL);
    keel_buf_free(&run);
    CHECK(access(path_in("x.keel"), F_OK) != 0); /* nothing saved */
    keel_train_job_result_free(&res);
    keel_registry_close(r);
}

TEST(model_names_and_epoch_lines)
{
    CHECK(keel_registry_name_valid("churn-2.v1_a"));
    CHECK(!keel_registry_name_valid(""));
    CHECK(!keel_registry_name_valid("-x"));
    CHECK(!keel_registry_name_valid("a b"));
    char long_name[70];
    memset(long_name, 'a', 65);
    long_name[65] = 0;
    CHECK(!keel_registry_name_valid(long_name));
    keel_epoch_report r = {.fold = 2,
                           .epoch = 3,
                           .max_epochs = 10,
                           .step = 7,
                           .train_loss = 0.5,
                           .val_loss = 0.25,
                           .val_metric = 0.75,
                           .metric_name = "roc_auc",
                           .best_epoch = 3,
                           .seconds = 1.5};
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_epoch_report_json(&r, &b), KEEL_OK);
    CHECK_STR(b.data, "{\"event\":\"epoch\",\"fold\":2,\"epoch\":3,\"max_epochs\":10,\"step\":7,"
                      "\"train_loss\":0.5,\"val_loss\":0.25,\"roc_auc\":0.75,\"best_epoch\":3,"
                      "\"seconds\":1.500}\n");
    keel_buf_free(&b);
}

TEST(scoring_summary_as_json_and_for_people)
{
    keel_validate_result vr = {.records = 12, .quarantined = 1};
    keel_scoring_summary s = {.model_sha256 = "ab12",
                              .done_name = "predicted",
                              .data = &vr,
                              .done = 11,
                              .quarantine = "x.quarantine.jsonl",
                              .seconds = 0.0234};
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_scoring_summary_write(&s, true, &b), KEEL_OK);
    CHECK_STR(b.data, "{\"model\":\"ab12\",\"records\":12,\"predicted\":11,\"quarantined\":1,"
                      "\"seconds\":0.023}\n");
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_scoring_summary_write(&s, false, &b), KEEL_OK);
    CHECK_STR(b.data, "12 records, 11 predicted, 1 quarantined, see x.quarantine.jsonl (0.02 s)\n");
    s.done_name = "explained";
    s.method = "ig";
    s.limit_hit = true;
    s.quarantine = NULL;
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_scoring_summary_write(&s, true, &b), KEEL_OK);
    CHECK_STR(b.data, "{\"model\":\"ab12\",\"records\":12,\"explained\":11,\"quarantined\":1,"
                      "\"method\":\"ig\",\"limit_reached\":true,\"seconds\":0.023}\n");
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_scoring_summary_write(&s, false, &b), KEEL_OK);
    CHECK_STR(b.data, "12 records read, 11 explained, 1 quarantined (0.02 s)\n");
    keel_buf_free(&b);
}
