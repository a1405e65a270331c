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
 */
#include "registry/registry_impl.h"

#include <errno.h>
#include <fcntl.h>
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
        /* Known content: fill in what an earlier registration did not know, nothing else. */
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
        /* GLOB with a literal prefix can use the sha256 index; LIKE (case-insensitive) cannot. */
        int64_t count = 0;
        char pattern[72];
        snprintf(pattern, sizeof pattern, "%s*", ref);
        rc = keel_store_int(r->store, &count, "SELECT count(*) FROM datasets WHERE sha256 GLOB ?",
                            "s", pattern);
        if (rc == KEEL_OK && count > 1)
            return reg_fail(r, KEEL_EINVAL,
                            "'%s' is the start of %lld datasets' SHA-256; give more", ref,
                            (long long)count);
        if (rc == KEEL_OK)
            rc = keel_store_int(r->store, id, "SELECT id FROM datasets WHERE sha256 GLOB ?", "s",
                                pattern);
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
                        " user, started_at) VALUES (?, 'running', ?, ?, ?, ?, ?, ?) "
                        "RETURNING id",
                        "ssisssi", run->kind ? run->kind : "train", run->params_json, run->seed,
                        run->keel_version ? run->keel_version : keel_version(), r->host, r->actor,
                        keel_wall_micros());
    if (rc != KEEL_OK) return reg_write_end(r, reg_store_fail(r, rc < 0 ? rc : KEEL_EIO));
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

int keel_registry_run_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "runs");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows(r, out, false,
                         "SELECT id, kind, status, user, host, seed, started_at, ended_at, "
                         "(SELECT group_concat(dataset_id) FROM run_inputs WHERE run_id = runs.id)"
                         " AS datasets, metrics_json FROM runs ORDER BY id",
                         NULL);
}

int keel_registry_run_show(keel_registry *r, int64_t id, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "run");
    if (rc != KEEL_OK) return rc;
    rc = reg_json_rows(r, out, true,
                       "SELECT id, kind, status, user, host, seed, keel_version, started_at, "
                       "ended_at, params_json, metrics_json, "
                       "(SELECT json_group_array(json_object('dataset', dataset_id, 'role', role))"
                       " FROM run_inputs WHERE run_id = runs.id) AS inputs_json, "
                       "(SELECT json_group_array(json_object('model', model, 'version', version))"
                       " FROM model_versions WHERE run_id = runs.id) AS outputs_json, "
                       "error, log FROM runs WHERE id = ?",
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
    if (!reg_valid_name(model))
        return reg_fail(r, KEEL_EINVAL,
                        "'%s' is not a valid model name (1-64 of A-Z a-z 0-9 . _ -, "
                        "starting with a letter or digit)",
                        model);
    char obj[120];
    snprintf(obj, sizeof obj, "model:%s", model);
    int rc = reg_require(r, KEEL_ACCESS_DEVELOPER, "register a model version", obj);
    if (rc != KEEL_OK) return rc;
    char sha[65];
    int64_t size = 0;
    if ((rc = store_artifact(r, path, sha, &size)) != KEEL_OK) return rc;
    if ((rc = keel_store_begin(r->store)) != KEEL_OK) return reg_store_fail(r, rc);
    int64_t exists = 0;
    rc =
        keel_store_int(r->store, &exists, "SELECT count(*) FROM models WHERE name = ?", "s", model);
    if (rc == KEEL_OK && !exists) {
        rc = keel_store_run(r->store,
                            "INSERT INTO models(name, created_at, created_by) VALUES (?, ?, ?)",
                            "sis", model, keel_wall_micros(), r->actor);
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

int keel_registry_model_resolve(keel_registry *r, const char *ref, char **model, int64_t *version,
                                char **path)
{
    if (model) *model = NULL;
    if (path) *path = NULL;
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    size_t n = strcspn(ref, ":@");
    char name[128];
    if (n == 0 || n >= sizeof name)
        return reg_fail(r, KEEL_EINVAL, "bad model reference '%s'", ref);
    memcpy(name, ref, n);
    name[n] = '\0';
    int64_t v = 0;
    if (ref[n] == ':') {
        char *end;
        long long x = strtoll(ref + n + 1, &end, 10);
        if (*end || x <= 0)
            return reg_fail(r, KEEL_EINVAL, "bad version in '%s' (want NAME:NUMBER)", ref);
        rc = keel_store_int(r->store, &v,
                            "SELECT version FROM model_versions WHERE model = ? AND version = ?",
                            "si", name, (int64_t)x);
    } else if (ref[n] == '@') {
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
    if (path) {
        keel_stmt *st;
        rc = keel_store_query(r->store, &st,
                              "SELECT artifact_sha256 FROM model_versions WHERE model = ? AND "
                              "version = ?",
                              "si", name, v);
        if (rc != KEEL_OK) return reg_store_fail(r, rc);
        keel_buf p;
        keel_buf_init(&p);
        rc = keel_stmt_step(st);
        if (rc == KEEL_STORE_ROW) {
            const char *sha = keel_stmt_text(st, 0);
            rc = sha && strlen(sha) == 64 ? KEEL_OK : KEEL_EFORMAT;
            if (rc == KEEL_OK &&
                keel_buf_printf(&p, "%s/artifacts/sha256/%.2s/%s", r->home, sha, sha + 2))
                rc = KEEL_ENOMEM;
            if (rc == KEEL_EFORMAT) reg_fail(r, rc, "the registry's record of %s is damaged", ref);
        } else {
            rc = reg_store_fail(r, rc < 0 ? rc : KEEL_EIO);
        }
        keel_stmt_finalize(st);
        if (rc != KEEL_OK) {
            keel_buf_free(&p);
            return rc;
        }
        *path = p.data;
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

int keel_registry_model_list(keel_registry *r, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "models");
    if (rc != KEEL_OK) return rc;
    return reg_json_rows(
        r, out, false,
        "SELECT m.name, (SELECT max(version) FROM model_versions v WHERE v.model = m.name) "
        "AS latest, (SELECT json_group_object(alias, version) FROM aliases a WHERE a.model = "
        "m.name) AS aliases_json, m.created_at, m.created_by FROM models m ORDER BY m.name",
        NULL);
}

int keel_registry_model_show(keel_registry *r, const char *model, int64_t version, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "model");
    if (rc != KEEL_OK) return rc;
    static const char version_sql[] =
        "SELECT v.model, v.version, v.artifact_sha256, v.artifact_size, v.run_id, v.task, "
        "v.author, v.created_at, v.metrics_json, "
        "(SELECT json_group_array(alias) FROM aliases a WHERE a.model = v.model AND a.version = "
        "v.version) AS aliases_json, "
        "(SELECT json_group_array(json_object('id', id, 'status', status, 'requested_by', "
        "requested_by, 'reviewer', reviewer, 'comment', comment)) FROM approvals p WHERE "
        "p.model = v.model AND p.version = v.version) AS approvals_json, "
        "(SELECT json_group_object(key, value) FROM tags t WHERE t.kind = 'model' AND t.object = "
        "v.model || ':' || v.version) AS tags_json "
        "FROM model_versions v WHERE v.model = ?";
    if (version > 0) {
        char sql[sizeof version_sql + 32];
        snprintf(sql, sizeof sql, "%s AND v.version = ?", version_sql);
        rc = reg_json_rows(r, out, true, sql, "si", model, version);
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
    rc = reg_json_rows(r, out, false, sql, "s", model);
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
        ") ORDER BY time, kind, seq",
        "sssss", model, model, model, model, model);
}

/* ---- aliases ---- */

int keel_registry_alias_set(keel_registry *r, const char *model, const char *alias, int64_t version,
                            const char *comment)
{
    char obj[200];
    snprintf(obj, sizeof obj, "alias:%s@%s", model, alias);
    if (!reg_valid_name(alias))
        return reg_fail(r, KEEL_EINVAL, "'%s' is not a valid alias name", alias);
    bool champion = !strcmp(alias, "champion");
    int rc = champion ? reg_require(r, KEEL_ACCESS_OPERATOR, "set the champion alias", obj)
                      : reg_require(r, KEEL_ACCESS_DEVELOPER | KEEL_ACCESS_OPERATOR,
                                    "change an alias", obj);
    if (rc != KEEL_OK) return rc;
    if ((rc = keel_store_begin(r->store)) != KEEL_OK) return reg_store_fail(r, rc);
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
    if (rc == KEEL_OK)
        rc = keel_store_run(r->store,
                            "INSERT INTO alias_history(model, alias, version, previous_version, "
                            "at, actor, approval_id, comment) VALUES (?, ?, nullif(?, 0), "
                            "nullif(?, 0), ?, ?, nullif(?, 0), ?)",
                            "ssiiisis", model, alias, version, previous, keel_wall_micros(),
                            r->actor, approval, comment);
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
    keel_buf d;
    keel_buf_init(&d);
    if (keel_buf_putc(&d, '{') | reg_jint(&d, "approval", *id) | reg_jstr(&d, "comment", comment) |
        keel_buf_putc(&d, '}'))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_OK) rc = reg_audit(r, "model.approval.request", obj, d.data);
    keel_buf_free(&d);
    return reg_write_end(r, rc);
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
     * details (keel_registry_alias_set writes "version" and "previous_version"). Model names
     * cannot hold '@', so the prefix cannot match another model's aliases. INT64_MAX rather
     * than SQLite's LIMIT -1 stands for "all", which PostgreSQL would refuse. */
    return reg_json_rows(r, out, false,
                         "SELECT seq, time, actor, action, object, details AS details_json, hash "
                         "FROM audit_events WHERE object = ? OR (substr(object, 1, length(?)) = ? "
                         "AND (json_extract(details, '$.version') = ? OR "
                         "json_extract(details, '$.previous_version') = ?)) ORDER BY seq LIMIT ?",
                         "sssiii", obj, alias_prefix, alias_prefix, version, version,
                         limit > 0 ? limit : INT64_MAX);
}
