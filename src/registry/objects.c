/*
 * objects.c — the registry's objects: datasets, runs, model versions and their artifacts,
 * aliases with their history, approvals, tags and deployments.
 *
 * Every mutation follows the pattern of registry_impl.h: check the role, open a write
 * transaction, change the rows, append the audit event, commit. Policy checks that depend on
 * the data (four-eyes, champion needs an approval) run inside the transaction, so what they
 * read cannot change before the write commits.
 *
 * Artifacts are copied into KEEL_HOME/artifacts/sha256/ab/cdef… before the transaction: a
 * copy is written to a temporary name, fsync'ed, made read-only and renamed into place, so the
 * store never names an artifact that is not completely on disk. A crash between the copy and
 * the commit leaves an unreferenced file, which is harmless (content-addressed, identical on
 * the next attempt).
 *
 * The SQL is the portable subset of store.h. Nested values in the JSON answers (a version's
 * aliases, approvals and tags, a run's inputs) are built here from plain rows by computed
 * columns (reg_json_rows_fn) rather than by a database's JSON functions, and in the order those
 * functions gave them, so the answers keep their bytes. The typed reads at the end return the
 * same facts as records.
 */
#include "registry/registry_impl.h"

#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- datasets ---- */

static int put_counts(keel_buf *d, const keel_dataset_info *ds)
{
    return reg_jstr(d, "sha256", ds->sha256) | reg_jstr(d, "name", ds->name) |
           reg_jstr(d, "source", ds->source) | reg_jint(d, "rows", ds->n_rows) |
           reg_jint(d, "accepted", ds->n_accepted) | reg_jint(d, "rejected", ds->n_rejected);
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

int keel_registry_dataset_put(keel_registry *r, const keel_dataset_info *ds, int64_t *id)
{
    if (!ds->sha256 || strlen(ds->sha256) != 64 || !is_hex(ds->sha256, 64))
        return reg_fail(r, KEEL_EINVAL, "a dataset needs the hex SHA-256 of its content");
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "register a dataset", "dataset");
    if (rc != KEEL_OK) return rc;
    int64_t found = 0;
    rc = keel_store_int(r->store, &found, "SELECT id FROM datasets WHERE sha256 = ?", "s",
                        ds->sha256);
    if (rc == KEEL_OK) {
        /* Known content: fill in what an earlier registration did not know, nothing else.
         * Audited only when that changed the row (registering the same data again is the
         * usual case, and says nothing new). */
        keel_buf before;
        keel_buf_init(&before);
        rc = reg_state_row(r, "datasets", "i", found);
        if (rc == KEEL_OK && keel_buf_append(&before, r->state.data, r->state.len))
            rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
        r->state.len = 0;
        if (rc == KEEL_OK)
            rc = keel_store_run(r->store,
                                "UPDATE datasets SET schema_json = coalesce(schema_json, ?), "
                                "profile_json = coalesce(profile_json, ?), "
                                "n_rows = coalesce(n_rows, nullif(?, -1)), "
                                "n_accepted = coalesce(n_accepted, nullif(?, -1)), "
                                "n_rejected = coalesce(n_rejected, nullif(?, -1)), "
                                "n_columns = coalesce(n_columns, nullif(?, -1)) WHERE id = ?",
                                "ssiiiii", ds->schema_json, ds->profile_json, ds->n_rows,
                                ds->n_accepted, ds->n_rejected, ds->n_columns, found);
        if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
        if (rc == KEEL_OK) rc = reg_state_row(r, "datasets", "i", found);
        bool same = rc == KEEL_OK && r->state.len == before.len &&
                    !memcmp(r->state.data, before.data, before.len);
        keel_buf_free(&before);
        char obj[40];
        snprintf(obj, sizeof obj, "dataset:%lld", (long long)found);
        if (same)
            r->state.len = 0;
        else if (rc == KEEL_OK)
            rc = reg_audit(r, "dataset.update", obj, "{}");
        *id = found;
        return reg_write_end(r, rc);
    }
    if (rc != KEEL_ENOENT) return reg_write_end(r, reg_store_fail(r, rc));
    rc = keel_store_int(r->store, id, /* INSERT ... RETURNING id */
                        "INSERT INTO datasets(sha256, name, source, n_rows, n_accepted, "
                        "n_rejected, n_columns, schema_json, profile_json, created_at, "
                        "created_by) VALUES (?, ?, ?, nullif(?, -1), nullif(?, -1), "
                        "nullif(?, -1), nullif(?, -1), ?, ?, ?, ?) RETURNING id",
                        "sssiiiissis", ds->sha256, ds->name ? ds->name : "",
                        ds->source ? ds->source : "", ds->n_rows, ds->n_accepted, ds->n_rejected,
                        ds->n_columns, ds->schema_json, ds->profile_json, keel_wall_micros(),
                        r->actor);
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
    if ((rc = reg_state_row(r, "datasets", "i", *id)) != KEEL_OK) return reg_write_end(r, rc);
    char obj[40];
    snprintf(obj, sizeof obj, "dataset:%lld", (long long)*id);
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | put_counts(&d, ds) | keel_buf_putc(&d, '}')) rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "dataset.register", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

int keel_registry_dataset_find(keel_registry *r, const char *ref, int64_t *id)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "dataset");
    if (rc != KEEL_OK) return rc;
    size_t n = strlen(ref);
    char *end;
    long long v = strtoll(ref, &end, 10);
    if (n && n < 19 && *end == '\0' && v > 0)
        rc = keel_store_int(r->store, id, "SELECT id FROM datasets WHERE id = ?", "i", (int64_t)v);
    else if (n == 64 && is_hex(ref, n))
        rc = keel_store_int(r->store, id, "SELECT id FROM datasets WHERE sha256 = ?", "s", ref);
    else if (n >= 8 && n < 64 && is_hex(ref, n)) {
        /* A hash starts with the lowercase hex prefix p when p <= hash < p || 'g' ('g' sorts
         * after every hex digit in any collation a database would use for them): a range,
         * which the sha256 index answers in every database, with nothing to escape. */
        int64_t count = 0;
        char past[72];
        snprintf(past, sizeof past, "%sg", ref);
        rc = keel_store_int(r->store, &count,
                            "SELECT count(*) FROM datasets WHERE sha256 >= ? AND sha256 < ?", "ss",
                            ref, past);
        if (rc == KEEL_OK && count > 1)
            return reg_fail(r, KEEL_EINVAL,
                            "'%s' is the start of %lld datasets' SHA-256; give more", ref,
                            (long long)count);
        if (rc == KEEL_OK)
            rc = keel_store_int(r->store, id,
                                "SELECT id FROM datasets WHERE sha256 >= ? AND sha256 < ?", "ss",
                                ref, past);
    } else {
        rc = keel_store_int(r->store, id,
                            "SELECT id FROM datasets WHERE name = ? OR source = ? "
                            "ORDER BY id DESC LIMIT 1",
                            "ss", ref, ref);
    }
    if (rc == KEEL_ENOENT) return reg_fail(r, rc, "no dataset '%s' in the registry", ref);
    return rc == KEEL_OK ? rc : reg_store_fail(r, rc);
}

int keel_registry_dataset_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "datasets");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows(r, out, false,
                         "SELECT id, name, sha256, source, n_rows, n_accepted, n_rejected, "
                         "n_columns, created_at, created_by FROM datasets ORDER BY id",
                         NULL);
}

int keel_registry_dataset_show(keel_registry *r, int64_t id, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "dataset");
    if (rc != KEEL_OK) return rc;
    rc = reg_json_rows(r, out, true,
                       "SELECT id, name, sha256, source, n_rows, n_accepted, n_rejected, "
                       "n_columns, created_at, created_by, schema_json, profile_json FROM datasets"
                       " WHERE id = ?",
                       "i", id);
    if (rc == KEEL_ENOENT) reg_fail(r, rc, "no dataset %lld", (long long)id);
    return rc;
}

/* ---- runs ---- */

int keel_registry_run_start(keel_registry *r, const keel_run_info *run, int64_t *id)
{
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "record a run", "run");
    if (rc != KEEL_OK) return rc;
    rc = keel_store_int(r->store, id, /* INSERT ... RETURNING id */
                        "INSERT INTO runs(kind, status, params_json, seed, keel_version, host,"
                        " \"user\", started_at) VALUES (?, 'running', ?, ?, ?, ?, ?, ?) "
                        "RETURNING id",
                        "ssisssi", run->kind ? run->kind : "train", run->params_json, run->seed,
                        run->keel_version ? run->keel_version : keel_version(), r->host, r->actor,
                        keel_wall_micros());
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
    if ((rc = reg_state_row(r, "runs", "i", *id)) != KEEL_OK) return reg_write_end(r, rc);
    char obj[40];
    snprintf(obj, sizeof obj, "run:%lld", (long long)*id);
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jstr(&d, "kind", run->kind ? run->kind : "train") |
        reg_jint(&d, "seed", run->seed) | reg_jstr(&d, "host", r->host) | keel_buf_putc(&d, '}'))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "run.start", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

int keel_registry_run_input(keel_registry *r, int64_t run, int64_t dataset, const char *role)
{
    char obj[40];
    snprintf(obj, sizeof obj, "run:%lld", (long long)run);
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "record a run", obj);
    if (rc != KEEL_OK) return rc;
    rc = keel_store_run(r->store,
                        "INSERT INTO run_inputs(run_id, dataset_id, role) "
                        "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        "iis", run, dataset, role);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK) rc = reg_state_row(r, "run_inputs", "iis", run, dataset, role);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK && (keel_buf_putc(&d, '{') | reg_jint(&d, "dataset", dataset) |
                          reg_jstr(&d, "role", role) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "run.input", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

int keel_registry_run_end(keel_registry *r, int64_t run, const char *status,
                          const char *metrics_json, const char *log, const char *error)
{
    char obj[40];
    snprintf(obj, sizeof obj, "run:%lld", (long long)run);
    if (strcmp(status, "finished") && strcmp(status, "failed") && strcmp(status, "cancelled"))
        return reg_fail(r, KEEL_EINVAL, "a run ends as finished, failed or cancelled, not '%s'",
                        status);
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "record a run", obj);
    if (rc != KEEL_OK) return rc;
    rc = keel_store_run(r->store,
                        "UPDATE runs SET status = ?, metrics_json = ?, log = ?, error = ?, "
                        "ended_at = ? WHERE id = ? AND status = 'running'",
                        "ssssii", status, metrics_json, log, error, keel_wall_micros(), run);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK && keel_store_changes(r->store) != 1)
        rc = reg_fail(r, KEEL_ESTATE, "run %lld is not running", (long long)run);
    if (rc == KEEL_OK) rc = reg_state_row(r, "runs", "i", run);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK &&
        (keel_buf_putc(&d, '{') | reg_jstr(&d, "status", status) | reg_jstr(&d, "error", error)))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && metrics_json && metrics_json[0] == '{' &&
        (keel_buf_puts(&d, ",\"metrics\":") | keel_buf_puts(&d, metrics_json)))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && keel_buf_putc(&d, '}')) rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "run.end", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

/* ---- nested values, built from plain rows ---- */

/* The shapes a sub-query's rows take in an answer. */
enum {
    SUB_OBJECTS, /* [{"col": value, ...}, ...]: each row an object keyed by column name */
    SUB_VALUES,  /* [value, ...]: each row's first column */
    SUB_PAIRS,   /* {"first column": second column, ...} */
    SUB_LIST,    /* "v1,v2": the first columns as text joined by commas; null for no rows */
};

/* Appends column c as a plain JSON value: null, an integer, a number or a string. */
static int plain_value(keel_stmt *st, int c, keel_buf *out)
{
    switch (keel_stmt_type(st, c)) {
    case KEEL_STORE_NULL:
        return keel_buf_puts(out, "null");
    case KEEL_STORE_INT:
        return keel_buf_printf(out, "%lld", (long long)keel_stmt_int(st, c));
    case KEEL_STORE_FLOAT:
        return keel_buf_json_num(out, keel_stmt_double(st, c));
    default: {
        const char *t = keel_stmt_text(st, c);
        return keel_buf_json_str(out, t ? t : "", t ? strlen(t) : 0);
    }
    }
}

/* Appends the rows of a query as one JSON value of the given shape (empty: [] or {}). */
static int sub_json(keel_registry *r, keel_buf *out, int shape, const char *sql, const char *types,
                    ...)
{
    keel_stmt *st;
    va_list ap;
    va_start(ap, types);
    int rc = keel_store_queryv(r->store, &st, sql, types, ap);
    va_end(ap);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    keel_buf list;
    keel_buf_init(&list);
    if (shape != SUB_LIST) rc = keel_buf_putc(out, shape == SUB_PAIRS ? '{' : '[');
    int n = 0, step = KEEL_STORE_DONE;
    while (rc == KEEL_OK && (step = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        if (shape == SUB_LIST) {
            const char *t = keel_stmt_text(st, 0);
            rc = keel_buf_printf(&list, "%s%s", n++ ? "," : "", t ? t : "");
            continue;
        }
        if (n++) rc |= keel_buf_putc(out, ',');
        if (shape == SUB_VALUES) {
            rc |= plain_value(st, 0, out);
        } else if (shape == SUB_PAIRS) {
            const char *k = keel_stmt_text(st, 0);
            rc |= keel_buf_json_str(out, k ? k : "", k ? strlen(k) : 0);
            rc |= keel_buf_putc(out, ':');
            rc |= plain_value(st, 1, out);
        } else {
            rc |= keel_buf_putc(out, '{');
            for (int c = 0; c < keel_stmt_count(st); c++) {
                const char *name = keel_stmt_name(st, c);
                if (c) rc |= keel_buf_putc(out, ',');
                rc |= keel_buf_json_str(out, name, strlen(name));
                rc |= keel_buf_putc(out, ':');
                rc |= plain_value(st, c, out);
            }
            rc |= keel_buf_putc(out, '}');
        }
        if (rc) rc = KEEL_ENOMEM;
    }
    if (rc == KEEL_OK && step < 0) rc = reg_store_fail(r, step);
    keel_stmt_finalize(st);
    if (rc == KEEL_OK && shape == SUB_LIST)
        rc = n ? keel_buf_json_str(out, list.data, list.len) : keel_buf_puts(out, "null");
    else if (rc == KEEL_OK)
        rc = keel_buf_putc(out, shape == SUB_PAIRS ? '}' : ']');
    keel_buf_free(&list);
    if (rc == KEEL_ENOMEM) reg_fail(r, rc, "out of memory");
    return rc;
}

/* A computed column's answer: 1 when written, else the error. */
static int computed(int rc)
{
    return rc == KEEL_OK ? 1 : rc;
}

/* A run's datasets (run list) and inputs and outputs (run show); column 0 is the run's id.
 * The orders are those SQLite's group_concat and json_group_array gave, through the indexes
 * (run_inputs' key, model_versions_run). */
static int run_columns(keel_registry *r, keel_stmt *st, const char *key, keel_buf *out, void *ud)
{
    (void)ud;
    int64_t run = keel_stmt_int(st, 0);
    if (!strcmp(key, "datasets"))
        return computed(sub_json(r, out, SUB_LIST,
                                 "SELECT dataset_id FROM run_inputs WHERE run_id = ? "
                                 "ORDER BY dataset_id, role",
                                 "i", run));
    if (!strcmp(key, "inputs"))
        return computed(sub_json(r, out, SUB_OBJECTS,
                                 "SELECT dataset_id AS dataset, role FROM run_inputs "
                                 "WHERE run_id = ? ORDER BY dataset_id, role",
                                 "i", run));
    if (!strcmp(key, "outputs"))
        return computed(sub_json(r, out, SUB_OBJECTS,
                                 "SELECT model, version FROM model_versions WHERE run_id = ? "
                                 "ORDER BY id",
                                 "i", run));
    return 0;
}

int keel_registry_run_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "runs");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows_fn(r, out, false, run_columns, NULL,
                            "SELECT id, kind, status, \"user\", host, seed, started_at, ended_at, "
                            "NULL AS datasets, metrics_json FROM runs ORDER BY id",
                            NULL);
}

int keel_registry_run_show(keel_registry *r, int64_t id, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "run");
    if (rc != KEEL_OK) return rc;
    rc = reg_json_rows_fn(r, out, true, run_columns, NULL,
                          "SELECT id, kind, status, \"user\", host, seed, keel_version, "
                          "started_at, ended_at, params_json, metrics_json, NULL AS inputs_json, "
                          "NULL AS outputs_json, error, log FROM runs WHERE id = ?",
                          "i", id);
    if (rc == KEEL_ENOENT) reg_fail(r, rc, "no run %lld", (long long)id);
    return rc;
}

/* ---- artifacts ---- */

/* Copies path into the content-addressed store; sha256 gets its hex digest, *size its size. */
static int store_artifact(keel_registry *r, const char *path, char sha256[65], int64_t *size)
{
    unsigned char digest[32];
    keel_error e = {0};
    int rc = keel_sha256_file(path, digest, &e);
    if (rc != KEEL_OK) return reg_fail(r, rc, "%s", e.msg);
    keel_sha256_hex(digest, sha256);
    keel_buf dest, tmp;
    keel_buf_init(&dest);
    keel_buf_init(&tmp);
    int in = -1, out = -1;
    rc = KEEL_ENOMEM;
    if (keel_buf_printf(&dest, "%s/artifacts/sha256/%.2s", r->home, sha256)) goto done;
    if (mkdir(dest.data, 0755) != 0 && errno != EEXIST) {
        rc = reg_fail(r, KEEL_EIO, "cannot create %s: %s", dest.data, strerror(errno));
        goto done;
    }
    if (keel_buf_printf(&dest, "/%s", sha256 + 2)) goto done;
    struct stat sb;
    if (stat(dest.data, &sb) == 0) { /* already stored: same content by its name */
        *size = (int64_t)sb.st_size;
        rc = KEEL_OK;
        goto done;
    }
    if (keel_buf_printf(&tmp, "%s.tmp.%ld", dest.data, (long)getpid())) goto done;
    in = open(path, O_RDONLY | O_CLOEXEC);
    out = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (in < 0 || out < 0) {
        rc = reg_fail(r, KEEL_EIO, "cannot copy %s into the registry: %s", path, strerror(errno));
        goto done;
    }
    char buf[1 << 16];
    int64_t total = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = reg_fail(r, KEEL_EIO, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = reg_fail(r, KEEL_EIO, "cannot write %s: %s", tmp.data, strerror(errno));
                goto done;
            }
            off += w;
        }
        total += n;
    }
    if (fsync(out) != 0 || close(out) != 0) {
        out = -1;
        rc = reg_fail(r, KEEL_EIO, "cannot write %s: %s", tmp.data, strerror(errno));
        goto done;
    }
    out = -1;
    if (rename(tmp.data, dest.data) != 0) {
        rc = reg_fail(r, KEEL_EIO, "cannot store %s: %s", dest.data, strerror(errno));
        goto done;
    }
    *size = total;
    rc = KEEL_OK;
done:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (rc != KEEL_OK && tmp.data) unlink(tmp.data);
    keel_buf_free(&dest);
    keel_buf_free(&tmp);
    return rc;
}

/* ---- model versions ---- */

int keel_registry_model_register(keel_registry *r, const char *model, const char *path, int64_t run,
                                 const char *task, const char *metrics_json, int64_t *version)
{
    if (!keel_registry_name_valid(model))
        return reg_fail(r, KEEL_EINVAL,
                        "'%s' is not a valid model name (1-64 of A-Z a-z 0-9 . _ -, "
                        "starting with a letter or digit)",
                        model);
    char obj[120];
    snprintf(obj, sizeof obj, "model:%s", model);
    int rc = reg_writable(r);
    if (rc == KEEL_OK) rc = reg_require(r, KEEL_ACCESS_DEVELOPER, "register a model version", obj);
    if (rc != KEEL_OK) return rc;
    char sha[65];
    int64_t size = 0;
    if ((rc = store_artifact(r, path, sha, &size)) != KEEL_OK) return rc;
    if ((rc = reg_begin(r)) != KEEL_OK) return rc;
    int64_t exists = 0;
    rc =
        keel_store_int(r->store, &exists, "SELECT count(*) FROM models WHERE name = ?", "s", model);
    if (rc == KEEL_OK && !exists) {
        rc = keel_store_run(r->store,
                            "INSERT INTO models(name, created_at, created_by) VALUES (?, ?, ?)",
                            "sis", model, keel_wall_micros(), r->actor);
        if (rc == KEEL_OK) rc = reg_state_row(r, "models", "s", model);
        if (rc == KEEL_OK) rc = reg_audit(r, "model.create", obj, "{}");
    }
    int64_t v = 0;
    if (rc == KEEL_OK)
        rc = keel_store_int(r->store, &v,
                            "SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                            "WHERE model = ?",
                            "s", model);
    if (rc == KEEL_OK)
        rc = keel_store_run(r->store,
                            "INSERT INTO model_versions(model, version, artifact_sha256, "
                            "artifact_size, run_id, task, metrics_json, author, created_at) "
                            "VALUES (?, ?, ?, ?, nullif(?, 0), ?, ?, ?, ?)",
                            "sisiisssi", model, v, sha, size, run, task, metrics_json, r->actor,
                            keel_wall_micros());
    if (rc == KEEL_OK) rc = reg_state_row(r, "model_versions", "si", model, v);
    if (rc != KEEL_OK) reg_store_fail(r, rc);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK && (keel_buf_putc(&d, '{') | reg_jstr(&d, "artifact_sha256", sha) |
                          reg_jint(&d, "artifact_size", size) | reg_jint(&d, "run", run) |
                          reg_jstr(&d, "task", task)))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && metrics_json && metrics_json[0] == '{' &&
        (keel_buf_puts(&d, ",\"metrics\":") | keel_buf_puts(&d, metrics_json)))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK && keel_buf_putc(&d, '}')) rc = KEEL_ENOMEM;
    snprintf(obj, sizeof obj, "model:%s:%lld", model, (long long)v);
    if (rc == KEEL_OK) rc = reg_audit(r, "model.version.register", obj, d.data);
    keel_buf_free(&d);
    if (rc == KEEL_OK) *version = v;
    return reg_write_end(r, rc);
}

/* Resolves "name", "name:VERSION" or "name@ALIAS" to the model's name (in name[128]) and the
 * version it names, with a message on failure. No role check: the callers make it. */
static int resolve_ref(keel_registry *r, const char *ref, char name[128], int64_t *version)
{
    size_t n = strcspn(ref, ":@");
    if (n == 0 || n >= 128) return reg_fail(r, KEEL_EINVAL, "bad model reference '%s'", ref);
    memcpy(name, ref, n);
    name[n] = '\0';
    int64_t v = 0;
    int rc;
    if (ref[n] == ':') {
        char *end;
        long long x = strtoll(ref + n + 1, &end, 10);
        if (*end || x <= 0)
            return reg_fail(r, KEEL_EINVAL, "bad version in '%s' (want NAME:NUMBER)", ref);
        rc = keel_store_int(r->store, &v,
                            "SELECT version FROM model_versions WHERE model = ? AND version = ?",
                            "si", name, (int64_t)x);
    } else if (ref[n] == '@') {
        /* "churn@Champion" is not the champion, and not an ordinary alias either (a registry
         * from before the rule may hold one, set without an approval). */
        const char *guarded = keel_registry_alias_protected(ref + n + 1);
        if (guarded && strcmp(ref + n + 1, guarded))
            return reg_fail(r, KEEL_EINVAL,
                            "'%s' is another spelling of the protected alias '%s'; protected "
                            "alias names are lowercase only: %s@%s",
                            ref + n + 1, guarded, name, guarded);
        rc = keel_store_int(r->store, &v,
                            "SELECT version FROM aliases WHERE model = ? AND alias = ?", "ss", name,
                            ref + n + 1);
    } else {
        rc = keel_store_int(r->store, &v,
                            "SELECT max(version) FROM model_versions WHERE model = ? "
                            "HAVING count(*) > 0",
                            "s", name);
    }
    if (rc == KEEL_ENOENT) {
        int64_t known = 0;
        keel_store_int(r->store, &known, "SELECT count(*) FROM models WHERE name = ?", "s", name);
        if (!known) return reg_fail(r, rc, "no model '%s' in the registry", name);
        return reg_fail(r, rc, "model '%s' has no %s '%s'", name,
                        ref[n] == '@' ? "alias" : "version", ref + n + 1);
    }
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    *version = v;
    return KEEL_OK;
}

/* HOME/artifacts/sha256/ab/cdef… for a hash, as a new string; NULL when out of memory. */
static char *artifact_path(keel_registry *r, const char *sha)
{
    keel_buf p;
    keel_buf_init(&p);
    if (keel_buf_printf(&p, "%s/artifacts/sha256/%.2s/%s", r->home, sha, sha + 2)) {
        keel_buf_free(&p);
        return NULL;
    }
    return p.data;
}

int keel_registry_model_resolve(keel_registry *r, const char *ref, char **model, int64_t *version,
                                char **path)
{
    if (model) *model = NULL;
    if (path) *path = NULL;
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    char name[128];
    int64_t v = 0;
    if ((rc = resolve_ref(r, ref, name, &v)) != KEEL_OK) return rc;
    *version = v;
    if (path) {
        keel_stmt *st;
        rc = keel_store_query(r->store, &st,
                              "SELECT artifact_sha256 FROM model_versions WHERE model = ? AND "
                              "version = ?",
                              "si", name, v);
        if (rc != KEEL_OK) return reg_store_fail(r, rc);
        rc = keel_stmt_step(st);
        if (rc == KEEL_STORE_ROW) {
            const char *sha = keel_stmt_text(st, 0);
            rc = sha && strlen(sha) == 64 ? KEEL_OK : KEEL_EFORMAT;
            if (rc == KEEL_OK && !(*path = artifact_path(r, sha)))
                rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
            if (rc == KEEL_EFORMAT) reg_fail(r, rc, "the registry's record of %s is damaged", ref);
        } else {
            rc = reg_store_fail(r, rc < 0 ? rc : KEEL_EIO);
        }
        keel_stmt_finalize(st);
        if (rc != KEEL_OK) return rc;
    }
    if (model && !(*model = keel_strdup(name))) {
        if (path) {
            keel_free(*path);
            *path = NULL;
        }
        return reg_fail(r, KEEL_ENOMEM, "out of memory");
    }
    return KEEL_OK;
}

/* A model's aliases (model list); column 0 is the model's name. The order is that of SQLite's
 * json_group_object over the aliases' key: by alias. */
static int list_columns(keel_registry *r, keel_stmt *st, const char *key, keel_buf *out, void *ud)
{
    (void)ud;
    if (strcmp(key, "aliases")) return 0;
    char model[128];
    const char *m = keel_stmt_text(st, 0);
    snprintf(model, sizeof model, "%s", m ? m : "");
    return computed(sub_json(r, out, SUB_PAIRS,
                             "SELECT alias, version FROM aliases WHERE model = ? ORDER BY alias",
                             "s", model));
}

/* A version's aliases, approvals and tags (model show); columns 0 and 1 are the model's name
 * and the version. The orders are those SQLite's JSON aggregates gave: the aliases' and the
 * tags' keys, the approvals' ids. */
static int version_columns(keel_registry *r, keel_stmt *st, const char *key, keel_buf *out,
                           void *ud)
{
    (void)ud;
    char model[128];
    const char *m = keel_stmt_text(st, 0);
    snprintf(model, sizeof model, "%s", m ? m : "");
    int64_t version = keel_stmt_int(st, 1);
    if (!strcmp(key, "aliases"))
        return computed(sub_json(r, out, SUB_VALUES,
                                 "SELECT alias FROM aliases WHERE model = ? AND version = ? "
                                 "ORDER BY alias",
                                 "si", model, version));
    if (!strcmp(key, "approvals"))
        return computed(sub_json(r, out, SUB_OBJECTS,
                                 "SELECT id, status, requested_by, reviewer, comment FROM "
                                 "approvals WHERE model = ? AND version = ? ORDER BY id",
                                 "si", model, version));
    if (!strcmp(key, "tags")) {
        char object[160];
        snprintf(object, sizeof object, "%s:%lld", model, (long long)version);
        return computed(sub_json(r, out, SUB_PAIRS,
                                 "SELECT key, value FROM tags WHERE kind = 'model' AND "
                                 "object = ? ORDER BY key",
                                 "s", object));
    }
    return 0;
}

int keel_registry_model_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "models");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows_fn(
        r, out, false, list_columns, NULL,
        "SELECT m.name, (SELECT max(version) FROM model_versions v WHERE v.model = m.name) "
        "AS latest, NULL AS aliases_json, m.created_at, m.created_by FROM models m "
        "ORDER BY m.name",
        NULL);
}

int keel_registry_model_show(keel_registry *r, const char *model, int64_t version, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    static const char version_sql[] =
        "SELECT v.model, v.version, v.artifact_sha256, v.artifact_size, v.run_id, v.task, "
        "v.author, v.created_at, v.metrics_json, NULL AS aliases_json, NULL AS approvals_json, "
        "NULL AS tags_json FROM model_versions v WHERE v.model = ?";
    if (version > 0) {
        char sql[sizeof version_sql + 32];
        snprintf(sql, sizeof sql, "%s AND v.version = ?", version_sql);
        rc = reg_json_rows_fn(r, out, true, version_columns, NULL, sql, "si", model, version);
        if (rc == KEEL_ENOENT)
            reg_fail(r, rc, "model '%s' has no version %lld", model, (long long)version);
        return rc;
    }
    int64_t known = 0;
    keel_store_int(r->store, &known, "SELECT count(*) FROM models WHERE name = ?", "s", model);
    if (!known) return reg_fail(r, KEEL_ENOENT, "no model '%s' in the registry", model);
    char sql[sizeof version_sql + 32];
    snprintf(sql, sizeof sql, "%s ORDER BY v.version", version_sql);
    if (keel_buf_puts(out, "{\"model\":") || keel_buf_json_str(out, model, strlen(model)) ||
        keel_buf_puts(out, ",\"versions\":"))
        return reg_fail(r, KEEL_ENOMEM, "out of memory");
    rc = reg_json_rows_fn(r, out, false, version_columns, NULL, sql, "s", model);
    if (rc == KEEL_OK && keel_buf_putc(out, '}')) rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
    return rc;
}

int keel_registry_model_history(keel_registry *r, const char *model, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    int64_t known = 0;
    keel_store_int(r->store, &known, "SELECT count(*) FROM models WHERE name = ?", "s", model);
    if (!known) return reg_fail(r, KEEL_ENOENT, "no model '%s' in the registry", model);
    /* One row per thing that happened, oldest first; seq breaks ties in the order the rows
     * were written. */
    return reg_json_rows(
        r, out, false,
        "SELECT time, event, version, actor, alias, target, comment FROM ("
        " SELECT created_at AS time, 'version.registered' AS event, version, author AS actor,"
        "  NULL AS alias, NULL AS target, artifact_sha256 AS comment, 1 AS kind, id AS seq"
        "  FROM model_versions WHERE model = ?"
        " UNION ALL SELECT at, CASE WHEN version IS NULL THEN 'alias.removed' ELSE 'alias.set'"
        "  END, coalesce(version, previous_version), actor, alias, NULL, comment, 2, id"
        "  FROM alias_history WHERE model = ?"
        /* a decision made without a request has no separate request row to show */
        " UNION ALL SELECT requested_at, 'approval.requested', version, requested_by, NULL,"
        "  NULL, NULL, 3, id FROM approvals WHERE model = ? AND (status = 'pending' OR"
        "  reviewer IS DISTINCT FROM requested_by OR decided_at != requested_at)"
        " UNION ALL SELECT decided_at, 'approval.' || status, version, reviewer, NULL, NULL,"
        "  comment, 4, id FROM approvals WHERE model = ? AND status != 'pending'"
        " UNION ALL SELECT at, 'deployment.' || status, version, actor, NULL, target, NULL, 5,"
        "  id FROM deployments WHERE model = ?"
        ") AS h ORDER BY time, kind, seq",
        "sssss", model, model, model, model, model);
}

/* ---- aliases ---- */

int keel_registry_alias_set(keel_registry *r, const char *model, const char *alias, int64_t version,
                            const char *comment)
{
    char obj[200];
    snprintf(obj, sizeof obj, "alias:%s@%s", model, alias);
    if (!keel_registry_name_valid(alias))
        return reg_fail(r, KEEL_EINVAL, "'%s' is not a valid alias name", alias);
    const char *guarded = keel_registry_alias_protected(alias);
    bool champion = guarded != NULL;
    int rc = reg_writable(r);
    if (rc != KEEL_OK) return rc;
    /* Another spelling of a protected name is refused, not taken for it: one name, one
     * meaning, in the trail too. Removing one is allowed (with the protected alias's role),
     * so that a registry written before this rule can be cleaned up. */
    if (champion && version > 0 && strcmp(alias, guarded))
        return reg_deny(r, obj,
                        "permission denied: '%s' is another spelling of the protected alias "
                        "'%s'; protected alias names are lowercase only: keel model alias %s "
                        "%s %lld",
                        alias, guarded, model, guarded, (long long)version);
    rc = champion
             ? reg_require(r, KEEL_ACCESS_OPERATOR, "set the champion alias", obj)
             : reg_require(r, KEEL_ACCESS_DEVELOPER | KEEL_ACCESS_OPERATOR, "change an alias", obj);
    if (rc != KEEL_OK) return rc;
    if ((rc = reg_begin(r)) != KEEL_OK) return rc;
    char *author = NULL;
    int64_t approval = 0;
    if (version > 0 && (rc = reg_version_author(r, model, version, &author)) != KEEL_OK)
        return reg_write_end(r, rc);
    if (champion && version > 0) {
        /* The newest decision on this version counts: a later rejection revokes an earlier
         * approval. The reviewer was checked against the author when deciding; checked again
         * here because identities and rows may have changed since. */
        keel_stmt *st;
        rc = keel_store_query(r->store, &st,
                              "SELECT id, status, reviewer FROM approvals WHERE model = ? AND "
                              "version = ? AND status != 'pending' ORDER BY id DESC LIMIT 1",
                              "si", model, version);
        const char *why = "it has no approval";
        if (rc == KEEL_OK && (rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
            const char *status = keel_stmt_text(st, 1), *reviewer = keel_stmt_text(st, 2);
            if (status && !strcmp(status, "approved") && reviewer && strcmp(reviewer, author))
                approval = keel_stmt_int(st, 0);
            else
                why = status && !strcmp(status, "rejected") ? "its latest review rejected it"
                                                            : "its approval is not valid";
        }
        keel_stmt_finalize(st);
        if (rc < 0) return reg_write_end(r, reg_store_fail(r, rc));
        if (!approval) {
            rc = reg_deny(r, obj,
                          "permission denied: %s:%lld cannot become champion because %s; an "
                          "approver other than its author (%s) must approve it first: keel "
                          "model approve %s:%lld",
                          model, (long long)version, why, author, model, (long long)version);
            keel_free(author);
            return rc;
        }
    }
    keel_free(author);
    int64_t previous = 0;
    rc = keel_store_int(r->store, &previous,
                        "SELECT version FROM aliases WHERE model = ? AND alias = ?", "ss", model,
                        alias);
    if (rc == KEEL_ENOENT) {
        previous = 0;
        rc = KEEL_OK;
    }
    if (rc == KEEL_OK && version == 0 && previous == 0)
        return reg_write_end(
            r, reg_fail(r, KEEL_ENOENT, "model '%s' has no alias '%s'", model, alias));
    if (rc == KEEL_OK)
        rc = version > 0
                 ? keel_store_run(r->store,
                                  "INSERT INTO aliases(model, alias, version, set_at, set_by) "
                                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT(model, alias) DO UPDATE "
                                  "SET version = excluded.version, set_at = excluded.set_at, "
                                  "set_by = excluded.set_by",
                                  "ssiis", model, alias, version, keel_wall_micros(), r->actor)
                 : keel_store_run(r->store, "DELETE FROM aliases WHERE model = ? AND alias = ?",
                                  "ss", model, alias);
    if (rc == KEEL_OK) rc = reg_state_row(r, "aliases", "ss", model, alias);
    int64_t entry = 0;
    if (rc == KEEL_OK)
        rc = keel_store_int(r->store, &entry, /* INSERT ... RETURNING id */
                            "INSERT INTO alias_history(model, alias, version, previous_version, "
                            "at, actor, approval_id, comment) VALUES (?, ?, nullif(?, 0), "
                            "nullif(?, 0), ?, ?, nullif(?, 0), ?) RETURNING id",
                            "ssiiisis", model, alias, version, previous, keel_wall_micros(),
                            r->actor, approval, comment);
    if (rc == KEEL_OK) rc = reg_state_row(r, "alias_history", "i", entry);
    if (rc != KEEL_OK) reg_store_fail(r, rc);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK &&
        (keel_buf_putc(&d, '{') | reg_jint(&d, "version", version) |
         reg_jint(&d, "previous_version", previous) | reg_jint(&d, "approval", approval) |
         reg_jstr(&d, "comment", comment) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK)
        rc = reg_audit(r, version > 0 ? "model.alias.set" : "model.alias.remove", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

/* ---- approvals ---- */

int keel_registry_approval_request(keel_registry *r, const char *model, int64_t version,
                                   const char *comment, int64_t *id)
{
    char obj[160];
    snprintf(obj, sizeof obj, "model:%s:%lld", model, (long long)version);
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "request an approval", obj);
    if (rc != KEEL_OK) return rc;
    char *author = NULL;
    if ((rc = reg_version_author(r, model, version, &author)) != KEEL_OK)
        return reg_write_end(r, rc);
    keel_free(author);
    rc = keel_store_int(r->store, id,
                        "SELECT id FROM approvals WHERE model = ? AND version = ? AND "
                        "status = 'pending'",
                        "si", model, version);
    if (rc == KEEL_OK) return reg_write_end(r, KEEL_OK); /* already open */
    rc = keel_store_int(r->store, id,                    /* INSERT ... RETURNING id */
                        "INSERT INTO approvals(model, version, status, requested_by, "
                        "requested_at, comment) VALUES (?, ?, 'pending', ?, ?, ?) RETURNING id",
                        "sisis", model, version, r->actor, keel_wall_micros(), comment);
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
    if ((rc = reg_state_row(r, "approvals", "i", *id)) != KEEL_OK) return reg_write_end(r, rc);
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jint(&d, "approval", *id) | reg_jstr(&d, "comment", comment) |
        keel_buf_putc(&d, '}'))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "model.approval.request", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

/* KEEL_OK when no protected alias points at model:version; else the refusal (audited, the
 * transaction rolled back) naming the alias. A rejection is refused rather than allowed to
 * move or drop the alias by itself: which version serves instead is the operator's decision,
 * not a side effect of a review. Any spelling counts, for aliases set before the rule. */
static int check_not_protected(keel_registry *r, const char *model, int64_t version,
                               const char *obj)
{
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT alias FROM aliases WHERE model = ? AND version = ? "
                              "ORDER BY alias",
                              "si", model, version);
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc));
    char alias[80] = "";
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        const char *a = keel_stmt_text(st, 0);
        if (a && keel_registry_alias_protected(a)) {
            snprintf(alias, sizeof alias, "%s", a);
            break;
        }
    }
    keel_stmt_finalize(st);
    if (rc < 0) return reg_write_end(r, reg_store_fail(r, rc));
    if (!*alias) return KEEL_OK;
    return reg_deny(r, obj,
                    "permission denied: %s@%s points at %s:%lld, and a protected alias may only "
                    "point at an approved version, so it cannot be rejected now; first move "
                    "the alias to another approved version (keel model alias %s %s VERSION) or "
                    "remove it (keel model alias %s %s --remove)",
                    model, alias, model, (long long)version, model, alias, model, alias);
}

int keel_registry_approval_decide(keel_registry *r, const char *model, int64_t version, int approve,
                                  const char *comment, int64_t *id)
{
    char obj[160];
    snprintf(obj, sizeof obj, "model:%s:%lld", model, (long long)version);
    int rc = reg_write_begin(r, KEEL_ACCESS_APPROVER,
                             approve ? "approve a model version" : "reject a model version", obj);
    if (rc != KEEL_OK) return rc;
    char *author = NULL;
    if ((rc = reg_version_author(r, model, version, &author)) != KEEL_OK)
        return reg_write_end(r, rc);
    if (!strcmp(author, r->actor)) {
        rc = reg_deny(r, obj,
                      "permission denied: %s is the author of %s:%lld and may not review it "
                      "(four-eyes: another approver must)",
                      r->actor, model, (long long)version);
        keel_free(author);
        return rc;
    }
    keel_free(author);
    if (!approve && (rc = check_not_protected(r, model, version, obj)) != KEEL_OK) return rc;
    const char *status = approve ? "approved" : "rejected";
    int64_t pending = 0;
    rc = keel_store_int(r->store, &pending,
                        "SELECT id FROM approvals WHERE model = ? AND version = ? AND "
                        "status = 'pending' ORDER BY id LIMIT 1",
                        "si", model, version);
    int64_t now = keel_wall_micros();
    if (rc == KEEL_OK) {
        rc = keel_store_run(r->store,
                            "UPDATE approvals SET status = ?, reviewer = ?, decided_at = ?, "
                            "comment = coalesce(?, comment) WHERE id = ?",
                            "ssisi", status, r->actor, now, comment, pending);
        *id = pending;
    } else if (rc == KEEL_ENOENT) {
        rc = keel_store_int(r->store, id, /* INSERT ... RETURNING id */
                            "INSERT INTO approvals(model, version, status, requested_by, "
                            "requested_at, reviewer, decided_at, comment) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                            "sissisis", model, version, status, r->actor, now, r->actor, now,
                            comment);
    }
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
    if ((rc = reg_state_row(r, "approvals", "i", *id)) != KEEL_OK) return reg_write_end(r, rc);
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jint(&d, "approval", *id) | reg_jstr(&d, "status", status) |
        reg_jstr(&d, "comment", comment) | keel_buf_putc(&d, '}'))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK)
        rc =
            reg_audit(r, approve ? "model.approval.approve" : "model.approval.reject", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

/* KEEL_OK when model has this version, else KEEL_ENOENT with a message (reads need it to
 * tell "no such version" from "nothing recorded yet"). */
static int version_exists(keel_registry *r, const char *model, int64_t version)
{
    int64_t n = 0;
    int rc = keel_store_int(r->store, &n,
                            "SELECT count(*) FROM model_versions WHERE model = ? AND version = ?",
                            "si", model, version);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    if (!n)
        return reg_fail(r, KEEL_ENOENT, "model '%s' has no version %lld", model,
                        (long long)version);
    return KEEL_OK;
}

int keel_registry_approval_list(keel_registry *r, const char *model, int64_t version, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    if ((rc = version_exists(r, model, version)) != KEEL_OK) return rc;
    return reg_json_rows(r, out, false,
                         "SELECT id, status, requested_by, requested_at, reviewer, decided_at, "
                         "comment FROM approvals WHERE model = ? AND version = ? ORDER BY id",
                         "si", model, version);
}

/* ---- tags and deployments ---- */

int keel_registry_tag_set(keel_registry *r, const char *object, const char *key, const char *value)
{
    const char *colon = strchr(object, ':');
    if (!colon || colon == object || !colon[1] || !*key)
        return reg_fail(r, KEEL_EINVAL, "tag what? name the object as KIND:ID (model:churn:3)");
    int rc = reg_write_begin(r, KEEL_ACCESS_DEVELOPER, "tag objects", object);
    if (rc != KEEL_OK) return rc;
    char kind[32];
    snprintf(kind, sizeof kind, "%.*s", (int)(colon - object), object);
    rc = value ? keel_store_run(r->store,
                                "INSERT INTO tags(kind, object, key, value, set_at, set_by) "
                                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(kind, object, key) DO "
                                "UPDATE SET value = excluded.value, set_at = excluded.set_at, "
                                "set_by = excluded.set_by",
                                "ssssis", kind, colon + 1, key, value, keel_wall_micros(), r->actor)
               : keel_store_run(r->store,
                                "DELETE FROM tags WHERE kind = ? AND object = ? AND key = ?", "sss",
                                kind, colon + 1, key);
    if (rc != KEEL_OK) rc = reg_store_fail(r, rc);
    if (rc == KEEL_OK) rc = reg_state_row(r, "tags", "sss", kind, colon + 1, key);
    keel_buf d;
    keel_buf_init(&d);
    if (rc == KEEL_OK && (keel_buf_putc(&d, '{') | reg_jstr(&d, "key", key) |
                          reg_jstr(&d, "value", value) | keel_buf_putc(&d, '}')))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, value ? "tag.set" : "tag.remove", object, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

int keel_registry_deployment_record(keel_registry *r, const char *model, int64_t version,
                                    const char *target, const char *status, int64_t *id)
{
    char obj[160];
    snprintf(obj, sizeof obj, "model:%s:%lld", model, (long long)version);
    if (!target || !*target) return reg_fail(r, KEEL_EINVAL, "a deployment needs a target");
    if (strcmp(status, "active") && strcmp(status, "retired"))
        return reg_fail(r, KEEL_EINVAL, "a deployment is active or retired, not '%s'", status);
    int rc = reg_write_begin(r, KEEL_ACCESS_OPERATOR, "record a deployment", obj);
    if (rc != KEEL_OK) return rc;
    char *author = NULL;
    if ((rc = reg_version_author(r, model, version, &author)) != KEEL_OK)
        return reg_write_end(r, rc);
    keel_free(author);
    rc = keel_store_int(r->store, id, /* INSERT ... RETURNING id */
                        "INSERT INTO deployments(model, version, target, status, at, actor) "
                        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        "sissis", model, version, target, status, keel_wall_micros(), r->actor);
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
    if ((rc = reg_state_row(r, "deployments", "i", *id)) != KEEL_OK) return reg_write_end(r, rc);
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jint(&d, "deployment", *id) | reg_jstr(&d, "target", target) |
        reg_jstr(&d, "status", status) | keel_buf_putc(&d, '}'))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "model.deploy", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
}

/* ---- the audit events of a version ---- */

/* Whether an alias event's details set the alias to version or moved it away from it
 * ({"version": V, "previous_version": P, ...}, as keel_registry_alias_set writes them).
 * Details that are not JSON (edited behind keel's back) concern nothing. */
static int alias_concerns(keel_json_doc *d, const char *details, int64_t version, bool *yes)
{
    *yes = false;
    if (!details) return KEEL_OK;
    int rc = keel_json_parse(d, details, strlen(details), NULL);
    if (rc == KEEL_ENOMEM) return rc;
    if (rc != KEEL_OK) return KEEL_OK;
    const keel_json *root = keel_json_root(d);
    double v = keel_json_num(keel_json_get(root, "version"), NAN),
           p = keel_json_num(keel_json_get(root, "previous_version"), NAN);
    *yes = v == (double)version || p == (double)version;
    return KEEL_OK;
}

int keel_registry_audit_events(keel_registry *r, const char *model, int64_t version, int64_t limit,
                               keel_buf *out)
{
    char what[200];
    snprintf(what, sizeof what, "read the audit events of %s:%lld", model, (long long)version);
    int rc = reg_require(r, KEEL_ACCESS_AUDITOR, what, "audit");
    if (rc != KEEL_OK) return rc;
    if ((rc = version_exists(r, model, version)) != KEEL_OK) return rc;
    char obj[160], alias_prefix[160];
    snprintf(obj, sizeof obj, "model:%s:%lld", model, (long long)version);
    snprintf(alias_prefix, sizeof alias_prefix, "alias:%s@", model);
    /* Alias events name the alias, not the version: which version they concern is in their
     * details, read here in C (a database's JSON operators differ). Model names cannot hold
     * '@', so the prefix cannot match another model's aliases; its length is bound as a
     * number, which every database types without help. */
    keel_stmt *st;
    rc = keel_store_query(r->store, &st,
                          "SELECT seq, time, actor, action, object, details AS details_json, hash "
                          "FROM audit_events WHERE object = ? OR substr(object, 1, ?) = ? "
                          "ORDER BY seq",
                          "sis", obj, (int64_t)strlen(alias_prefix), alias_prefix);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    keel_json_doc *d = keel_json_doc_new();
    rc = d && !keel_buf_putc(out, '[') ? KEEL_OK : KEEL_ENOMEM;
    int64_t n = 0;
    int step = KEEL_STORE_DONE;
    while (rc == KEEL_OK && (limit <= 0 || n < limit) &&
           (step = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        const char *object = keel_stmt_text(st, 4);
        bool keep = object && !strcmp(object, obj);
        if (!keep) rc = alias_concerns(d, keel_stmt_text(st, 5), version, &keep);
        if (rc != KEEL_OK || !keep) continue;
        if (n++ && keel_buf_putc(out, ',')) rc = KEEL_ENOMEM;
        if (rc == KEEL_OK) rc = reg_json_row(r, st, out, NULL, NULL);
    }
    if (rc == KEEL_OK && step < 0) rc = reg_store_fail(r, step);
    if (rc == KEEL_OK && keel_buf_putc(out, ']')) rc = KEEL_ENOMEM;
    if (rc == KEEL_ENOMEM) reg_fail(r, rc, "out of memory");
    keel_stmt_finalize(st);
    keel_json_doc_free(d);
    return rc;
}

/* ---- typed reads ---- */

const char *keel_review_name(int review)
{
    switch (review) {
    case KEEL_REVIEW_NONE:
        return "none";
    case KEEL_REVIEW_PENDING:
        return "pending";
    case KEEL_REVIEW_APPROVED:
        return "approved";
    case KEEL_REVIEW_REJECTED:
        return "rejected";
    default:
        return "?";
    }
}

void keel_model_version_free(keel_model_version *v)
{
    if (!v) return;
    keel_free(v->model);
    keel_free(v->path);
    keel_free(v->author);
    keel_free(v->task);
    keel_free(v->metrics_json);
    for (size_t i = 0; i < v->n_aliases; i++)
        keel_free(v->aliases[i]);
    keel_free(v->aliases);
    for (size_t i = 0; i < v->n_tags; i++) {
        keel_free(v->tags[i].key);
        keel_free(v->tags[i].value);
    }
    keel_free(v->tags);
    keel_free(v);
}

void keel_model_versions_free(keel_model_versions *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        keel_model_version_free(l->v[i]);
    keel_free(l->v);
    keel_free(l);
}

/* *out = a copy of s (NULL for NULL); false only when out of memory. */
static bool dup_text(const char *s, char **out)
{
    *out = s ? keel_strdup(s) : NULL;
    return !s || *out;
}

/* The aliases pointing at v, in name order. */
static int read_aliases(keel_registry *r, keel_model_version *v)
{
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT alias FROM aliases WHERE model = ? AND version = ? "
                              "ORDER BY alias",
                              "si", v->model, v->version);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        char **grown = keel_reallocarray(v->aliases, v->n_aliases + 1, sizeof *grown);
        if (grown) v->aliases = grown;
        if (!grown || !dup_text(keel_stmt_text(st, 0), &v->aliases[v->n_aliases])) {
            rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
            break;
        }
        v->n_aliases++;
    }
    keel_stmt_finalize(st);
    return rc < 0 ? reg_store_fail(r, rc) : KEEL_OK; /* keeps "out of memory" */
}

/* The tags of v ("model" tags on NAME:VERSION), in key order. */
static int read_tags(keel_registry *r, keel_model_version *v)
{
    char object[160];
    snprintf(object, sizeof object, "%s:%lld", v->model, (long long)v->version);
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT key, value FROM tags WHERE kind = 'model' AND object = ? "
                              "ORDER BY key",
                              "s", object);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        keel_registry_tag *grown = keel_reallocarray(v->tags, v->n_tags + 1, sizeof *grown);
        if (grown) v->tags = grown;
        keel_registry_tag *t = grown ? &v->tags[v->n_tags] : NULL;
        if (t) t->key = t->value = NULL;
        if (!t || !dup_text(keel_stmt_text(st, 0), &t->key) ||
            !dup_text(keel_stmt_text(st, 1), &t->value)) {
            if (t) {
                keel_free(t->key);
                keel_free(t->value);
            }
            rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
            break;
        }
        v->n_tags++;
    }
    keel_stmt_finalize(st);
    return rc < 0 ? reg_store_fail(r, rc) : KEEL_OK; /* keeps "out of memory" */
}

/* v's review state: the newest decision, else pending while a request is open (the champion
 * policy of keel_registry_alias_set counts the same newest decision). */
static int read_status(keel_registry *r, keel_model_version *v)
{
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT status FROM approvals WHERE model = ? AND version = ? "
                              "ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END DESC, "
                              "id DESC LIMIT 1",
                              "si", v->model, v->version);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    v->status = KEEL_REVIEW_NONE;
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        const char *status = keel_stmt_text(st, 0);
        v->status = !status                       ? KEEL_REVIEW_NONE
                    : !strcmp(status, "approved") ? KEEL_REVIEW_APPROVED
                    : !strcmp(status, "rejected") ? KEEL_REVIEW_REJECTED
                    : !strcmp(status, "pending")  ? KEEL_REVIEW_PENDING
                                                  : KEEL_REVIEW_NONE;
    }
    keel_stmt_finalize(st);
    return rc < 0 ? reg_store_fail(r, rc) : KEEL_OK;
}

/* One version's record; no role check (the callers make it). */
static int version_read(keel_registry *r, const char *model, int64_t version,
                        keel_model_version **out)
{
    *out = NULL;
    keel_model_version *v = keel_calloc(1, sizeof *v);
    if (!v) return reg_fail(r, KEEL_ENOMEM, "out of memory");
    keel_stmt *st;
    int rc = keel_store_query(r->store, &st,
                              "SELECT model, version, artifact_sha256, artifact_size, run_id, "
                              "task, author, created_at, metrics_json FROM model_versions "
                              "WHERE model = ? AND version = ?",
                              "si", model, version);
    if (rc != KEEL_OK) {
        keel_model_version_free(v);
        return reg_store_fail(r, rc);
    }
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_DONE) {
        rc = reg_fail(r, KEEL_ENOENT, "model '%s' has no version %lld", model, (long long)version);
    } else if (rc < 0) {
        rc = reg_store_fail(r, rc);
    } else {
        const char *sha = keel_stmt_text(st, 2);
        rc = KEEL_OK;
        if (!sha || strlen(sha) != 64 || !is_hex(sha, 64))
            rc = reg_fail(r, KEEL_EFORMAT, "the registry's record of %s:%lld is damaged", model,
                          (long long)version);
        else
            memcpy(v->sha256, sha, 65);
        v->version = keel_stmt_int(st, 1);
        v->size = keel_stmt_int(st, 3);
        v->run = keel_stmt_type(st, 4) == KEEL_STORE_NULL ? 0 : keel_stmt_int(st, 4);
        v->created = keel_stmt_int(st, 7);
        if (rc == KEEL_OK && (!dup_text(keel_stmt_text(st, 0), &v->model) ||
                              !dup_text(keel_stmt_text(st, 5), &v->task) ||
                              !dup_text(keel_stmt_text(st, 6), &v->author) ||
                              !dup_text(keel_stmt_text(st, 8), &v->metrics_json) ||
                              !(v->path = artifact_path(r, v->sha256))))
            rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
        if (rc == KEEL_OK && (!v->model || !v->author))
            rc = reg_fail(r, KEEL_EFORMAT, "the registry's record of %s:%lld is damaged", model,
                          (long long)version);
    }
    keel_stmt_finalize(st); /* the reads below run statements of their own */
    if (rc == KEEL_OK) rc = read_aliases(r, v);
    if (rc == KEEL_OK) rc = read_status(r, v);
    if (rc == KEEL_OK) rc = read_tags(r, v);
    if (rc != KEEL_OK) {
        keel_model_version_free(v);
        return rc;
    }
    *out = v;
    return KEEL_OK;
}

int keel_registry_version_get(keel_registry *r, const char *model, int64_t version,
                              keel_model_version **out)
{
    *out = NULL;
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    return rc == KEEL_OK ? version_read(r, model, version, out) : rc;
}

int keel_registry_version_resolve(keel_registry *r, const char *ref, keel_model_version **out)
{
    *out = NULL;
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    char name[128];
    int64_t v = 0;
    if ((rc = resolve_ref(r, ref, name, &v)) != KEEL_OK) return rc;
    return version_read(r, name, v, out);
}

int keel_registry_version_find_sha256(keel_registry *r, const char *sha256,
                                      keel_model_version **out)
{
    *out = NULL;
    char sha[65];
    size_t n = sha256 ? strlen(sha256) : 0;
    for (size_t i = 0; i < n && i < 64; i++)
        sha[i] = (char)(sha256[i] >= 'A' && sha256[i] <= 'F' ? sha256[i] - 'A' + 'a' : sha256[i]);
    if (n != 64 || !is_hex(sha, 64))
        return reg_fail(r, KEEL_EINVAL, "'%.80s' is not a SHA-256 (64 hex digits)",
                        sha256 ? sha256 : "");
    sha[64] = '\0';
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    /* model_versions_artifact (schema step 2) answers the WHERE; the sort is over the few
     * versions that share one artifact. */
    keel_stmt *st;
    rc = keel_store_query(r->store, &st,
                          "SELECT model, version FROM model_versions WHERE artifact_sha256 = ? "
                          "ORDER BY created_at DESC, id DESC LIMIT 1",
                          "s", sha);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    char model[128] = "";
    int64_t version = 0;
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        const char *m = keel_stmt_text(st, 0);
        snprintf(model, sizeof model, "%s", m ? m : "");
        version = keel_stmt_int(st, 1);
        rc = KEEL_OK;
    } else if (rc == KEEL_STORE_DONE) {
        rc = reg_fail(r, KEEL_ENOENT, "no model version in the registry has the artifact %s", sha);
    } else {
        rc = reg_store_fail(r, rc);
    }
    keel_stmt_finalize(st);
    return rc == KEEL_OK ? version_read(r, model, version, out) : rc;
}

int keel_registry_version_list(keel_registry *r, const char *model, keel_model_versions **out)
{
    *out = NULL;
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    int64_t known = 0;
    rc = keel_store_int(r->store, &known, "SELECT count(*) FROM models WHERE name = ?", "s", model);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    if (!known) return reg_fail(r, KEEL_ENOENT, "no model '%s' in the registry", model);
    /* The version numbers first: each record is read with statements of its own. */
    keel_stmt *st;
    rc = keel_store_query(r->store, &st,
                          "SELECT version FROM model_versions WHERE model = ? ORDER BY version",
                          "s", model);
    if (rc != KEEL_OK) return reg_store_fail(r, rc);
    int64_t *numbers = NULL;
    size_t n = 0;
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        int64_t *grown = keel_reallocarray(numbers, n + 1, sizeof *grown);
        if (!grown) {
            rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
            break;
        }
        numbers = grown;
        numbers[n++] = keel_stmt_int(st, 0);
    }
    keel_stmt_finalize(st);
    if (rc < 0 && rc != KEEL_ENOMEM) rc = reg_store_fail(r, rc);
    keel_model_versions *l = rc < 0 ? NULL : keel_calloc(1, sizeof *l);
    if (rc >= 0 && (!l || (n && !(l->v = keel_calloc(n, sizeof *l->v)))))
        rc = reg_fail(r, KEEL_ENOMEM, "out of memory");
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        rc = version_read(r, model, numbers[i], &l->v[i]);
        if (rc == KEEL_OK) l->n++;
    }
    keel_free(numbers);
    if (rc < 0) {
        keel_model_versions_free(l);
        return rc;
    }
    *out = l;
    return KEEL_OK;
}
