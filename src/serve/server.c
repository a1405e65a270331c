/*
 * server.c — keel serve: HTTP/1.1 with libmicrohttpd (epoll, a pool of worker threads),
 * routing to the three protocols and the explain extension, limits and load shedding, hot
 * swap, draining.
 *
 * Request life: libmicrohttpd calls on_request first when the headers are in (we check the
 * framing and the shedding rule there, before reading a byte of body), then once per body
 * chunk (appended to a buffer, never beyond max_body), then a last time to answer. Prediction
 * runs synchronously on the worker thread: a single-row prediction costs microseconds, far
 * less than handing work to another thread would.
 *
 * Models and hot swap: each served model holds a pointer to its current version, guarded by
 * a mutex that is held only to take or drop a reference. A request takes a reference for its
 * whole life, so a swap (the watcher thread replacing the pointer) never frees a model a
 * request is using: the old version is freed by whoever drops the last reference. A new
 * version is opened — and so fully checked, SHA-256 included — before it is swapped in; one
 * that fails to load is refused and the old one keeps serving. A registry model's artifact
 * must moreover be the one the registry recorded for the version (keel_registry_artifact_verify
 * on the hash of the bytes read): one swapped in the artifact store is refused at start and at
 * every reload, and audited as artifact.mismatch.
 *
 * Overload: with a few worker threads, work cannot pile up inside the server, but connections
 * can; above shed_connections open connections a new request is answered at once with 503 and
 * Retry-After, and above max_connections libmicrohttpd refuses the connection. Idle
 * connections are closed after timeout_seconds; connections that keep sending but never
 * finish a request, after request_timeout_seconds (http_guard.c), and one client address
 * holds at most max_per_client. Before a request is routed, http_guard.c checks its head for
 * what a proxy might read otherwise (duplicate framing headers, NUL bytes, obs-fold, bad
 * escapes): such requests are refused as they are.
 *
 * Bearer tokens (--require-token, auth.c): a request to anything but a health check must
 * carry a live token; a missing or unknown one is answered 401 when the headers are in,
 * before any body is read, and what the token allows (its model and role) is checked where
 * the route knows the endpoint (403). The watcher reloads the set from the registry at every
 * poll, so a revoked token stops working within one.
 */
#include "serve/serve.h"
#include "serve/auth.h"
#include "serve/http_guard.h"
#include "serve/tls.h"

#include "registry/registry.h"
#include "data/predlog_record.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- models -------------------------------------------------------------------------- */

typedef struct served_version {
    keel_model *model;
    const char **output_names; /* the model's, for the log (keel_model_output_name) */
    char version[32];          /* registry version, or the artifact's SHA-256 prefix for a file */
    char sha256[65];
    time_t mtime; /* file models: the file's modification time when loaded */
    off_t size;
} served_version;

/* Request-handling threads count themselves here by keel_thread_slot() modulo this. */
#define READER_SLOTS 64

/* A model and the version it serves. Requests do not lock anything to use the version: each
 * counts itself in its thread's slot, then reads current (model_acquire). The watcher, the one
 * thread that changes current, stores the new version, then waits until it has seen every
 * slot at zero before closing the old one (version_retire). Both sides' atomics are
 * sequentially consistent, so a request that counted itself after the watcher looked at its
 * slot reads the new version: no request can still hold the old one. Each slot's count is 64
 * bytes from the next, so threads on different cores never write one cache line (a lock or a
 * shared reference count moved a line between the cores twice a request). */
typedef struct served_model {
    _Atomic(served_version *) current; /* NULL until loaded */
    char name[80];
    char ref[1024];
    bool is_path;
    /* "VERSION:SHA256" of the swapped artifact last refused (artifact.mismatch), so that the
     * watcher audits and logs it once, not every poll; "" when none. Watcher only. */
    char refused[96];
    struct {
        atomic_int n;
        char pad[64 - sizeof(atomic_int)];
    } readers[READER_SLOTS];
} served_model;

struct serve_server {
    serve_options o;
    struct MHD_Daemon *d;
    int port;
    served_model *models;
    size_t n_models;
    serve_metrics *metrics;
    serve_predlog *log;
    serve_guard *guard; /* the whole-request deadline's reaper, the connections' records */
    atomic_int open_connections;
    atomic_uint_fast64_t seq; /* request ids for the log when the client gives none */
    atomic_bool reload, stop;
    pthread_t watcher;
    bool watcher_running;
    /* HTTPS (tls.c): the PEM texts the daemon was given, which must outlive it. */
    bool tls_on, client_ca_on;
    serve_tls tls;
    serve_auth *auth;  /* the tokens accepted; NULL without --require-token */
    int tokens_failed; /* the last reload's error (KEEL_OK: it worked); watcher only */
    /* libmicrohttpd's first complaint on the thread starting the daemon, while it does (GnuTLS
     * refusing the key), for the error serve_server_start returns; said as a warning if the
     * start succeeds. Only that thread reads and writes them (starting aside). */
    atomic_bool starting;
    pthread_t starter;
    bool start_msg_taken;
    char start_msg[256];
    char home_buf[4096], actor_buf[256], host_buf[256], registry_buf[4096];
};

static void say(const serve_server *s, int level, const char *fmt, ...) KEEL_PRINTF(3, 4);
static void say(const serve_server *s, int level, const char *fmt, ...)
{
    if (!s->o.log) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->o.log(level, msg, s->o.log_ud);
}

static void version_free(served_version *v)
{
    if (!v) return;
    keel_model_close(v->model);
    keel_free(v->output_names);
    keel_free(v);
}

/* The version to answer a request with (NULL when none is loaded), held until model_release
 * with the same slot. */
static served_version *model_acquire(served_model *m, size_t *slot)
{
    *slot = keel_thread_slot() % READER_SLOTS;
    atomic_fetch_add(&m->readers[*slot].n, 1);
    return atomic_load(&m->current);
}

static void model_release(served_model *m, size_t slot)
{
    atomic_fetch_sub(&m->readers[slot].n, 1);
}

/* Closes old, no longer m's current, once no request can be using it. A request holds a
 * version for the computing part of one call (never while waiting on the network), so each
 * slot is soon seen empty. Called by the watcher only. */
static void version_retire(served_model *m, served_version *old)
{
    if (!old) return;
    for (size_t i = 0; i < READER_SLOTS; i++)
        while (atomic_load(&m->readers[i].n) != 0)
            usleep(200);
    version_free(old);
}

/* Opens the registry the server follows, as its actor. */
static int open_registry(const serve_server *s, keel_registry **r, keel_error *e)
{
    return keel_registry_open_with(&s->o.registry, r, e);
}

/* Opens the model file and, for a registry model, checks that what was read is the artifact
 * the registry recorded for the version: the hash compared is the one computed over the bytes
 * the model was parsed from, so a file swapped between the check and the use cannot be
 * served. A mismatch is audited once per version and content (the watcher would otherwise
 * record it every poll); *repeated says it was already reported, so the caller need not log
 * it again either. */
static int open_checked(served_model *m, keel_registry *r, const keel_model_version *mv,
                        keel_model **out, bool *repeated, keel_error *e)
{
    *out = NULL;
    keel_model *model = NULL;
    int rc = keel_model_open(mv ? mv->path : m->ref, &model, e);
    if (rc != KEEL_OK || !mv) {
        *out = model;
        return rc;
    }
    const char *found = keel_model_sha256(model);
    char key[sizeof m->refused];
    snprintf(key, sizeof key, "%lld:%s", (long long)mv->version, found);
    if (strcmp(mv->sha256, found) && !strcmp(key, m->refused)) {
        *repeated = true;
        rc = keel_error_set(e, KEEL_EFORMAT, "%s:%lld: the stored artifact still has sha256 %s",
                            mv->model, (long long)mv->version, found);
    } else if ((rc = keel_registry_artifact_verify(r, mv, found)) != KEEL_OK) {
        keel_error_set(e, rc, "%s", keel_registry_errmsg(r));
        snprintf(m->refused, sizeof m->refused, "%s", key);
    }
    if (rc != KEEL_OK) {
        keel_model_close(model);
        return rc;
    }
    m->refused[0] = '\0'; /* a later swap is reported again */
    *out = model;
    return KEEL_OK;
}

/* Resolves and opens what m->ref names now. For a registry reference the registry is opened
 * for the call (cheap: no write lock when up to date) and closed again. */
static int load_version(serve_server *s, served_model *m, served_version **out, bool *repeated,
                        keel_error *e)
{
    *out = NULL;
    *repeated = false;
    keel_registry *r = NULL;
    keel_model_version *mv = NULL;
    if (!m->is_path) {
        int rc = open_registry(s, &r, e);
        if (rc != KEEL_OK) return rc;
        rc = keel_registry_version_resolve(r, m->ref, &mv);
        if (rc != KEEL_OK) {
            keel_error_set(e, rc, "%s", keel_registry_errmsg(r));
            keel_registry_close(r);
            return rc;
        }
    }
    const char *file = mv ? mv->path : m->ref;
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    stat(file, &sb);
    keel_model *model = NULL;
    int rc = open_checked(m, r, mv, &model, repeated, e);
    char version[32] = "";
    if (mv) snprintf(version, sizeof version, "%lld", (long long)mv->version);
    keel_model_version_free(mv);
    keel_registry_close(r);
    if (rc != KEEL_OK) return rc;
    served_version *v = keel_calloc(1, sizeof *v);
    size_t k = keel_model_n_outputs(model);
    if (!v || !(v->output_names = keel_calloc(k ? k : 1, sizeof *v->output_names))) {
        keel_free(v);
        keel_model_close(model);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    }
    v->model = model;
    for (size_t j = 0; j < k; j++)
        v->output_names[j] = keel_model_output_name(model, j);
    snprintf(v->sha256, sizeof v->sha256, "%s", keel_model_sha256(model));
    if (version[0])
        snprintf(v->version, sizeof v->version, "%s", version);
    else
        snprintf(v->version, sizeof v->version, "%.12s", v->sha256);
    v->mtime = sb.st_mtime;
    v->size = sb.st_size;
    *out = v;
    return KEEL_OK;
}

/* Records in the registry that a version of a registry model went live on (or left) this
 * server, so lineage and history show what served when. Needs the operator role; without it
 * the server says so once per event and serves on: the registry is not in the request path. */
static void record_deployment(serve_server *s, const served_model *m, const char *version,
                              const char *status)
{
    if (m->is_path || !s->port) return;
    keel_registry *r = NULL;
    keel_error e = {0};
    if (open_registry(s, &r, &e) != KEEL_OK) {
        say(s, KEEL_LOG_WARN, "model %s: deployment not recorded: %s", m->name, e.msg);
        return;
    }
    char target[300];
    snprintf(target, sizeof target, "serve:%s:%d", s->o.host, s->port);
    int64_t id = 0;
    if (keel_registry_deployment_record(r, m->name, strtoll(version, NULL, 10), target, status,
                                        &id) != KEEL_OK)
        say(s, KEEL_LOG_WARN, "model %s: deployment of version %s not recorded: %s", m->name,
            version, keel_registry_errmsg(r));
    keel_registry_close(r);
}

/* Checks one model and swaps in a new version when its content changed. Runs on the watcher,
 * the only thread that changes m->current, so it reads current without holding it. */
static void check_model(serve_server *s, served_model *m, bool forced)
{
    served_version *cur = atomic_load(&m->current);
    if (m->is_path && !forced && cur) {
        struct stat sb;
        if (stat(m->ref, &sb) == 0 && sb.st_mtime == cur->mtime && sb.st_size == cur->size)
            return; /* unchanged file: not worth re-hashing */
    }
    double t0 = keel_now_seconds();
    served_version *v = NULL;
    keel_error e = {0};
    bool repeated = false;
    int rc = load_version(s, m, &v, &repeated, &e);
    if (rc != KEEL_OK) {
        if (repeated) return; /* said (and audited) at the first poll that found it */
        say(s, KEEL_LOG_ERROR, "model %s: cannot load %s, %s keeps serving: %s", m->name, m->ref,
            cur ? cur->version : "nothing", e.msg);
        return;
    }
    if (cur && !strcmp(cur->sha256, v->sha256) && !strcmp(cur->version, v->version)) {
        cur->mtime = v->mtime; /* touched, not changed (requests read neither) */
        cur->size = v->size;
        version_free(v);
        return;
    }
    served_version *old = atomic_exchange(&m->current, v);
    serve_metrics_model_loaded(s->metrics, m->name, v->version, keel_now_seconds() - t0);
    say(s, KEEL_LOG_INFO, "model %s: now serving version %s (sha256 %.16s…)%s%s", m->name,
        v->version, v->sha256, old ? ", replacing " : "", old ? old->version : "");
    if (old && strcmp(old->version, v->version)) record_deployment(s, m, old->version, "retired");
    record_deployment(s, m, v->version, "active");
    version_retire(m, old); /* once the requests using it have finished */
}

/* Replaces the tokens the server accepts with the registry's live set. On failure the set
 * loaded before stays (said once per kind of failure, not every poll): an unreadable
 * registry must neither open the server to everybody nor shut every client out. */
static int load_tokens(serve_server *s, keel_error *e)
{
    keel_registry *r = NULL;
    int rc = open_registry(s, &r, e);
    if (rc != KEEL_OK) return rc;
    keel_live_token *v = NULL;
    size_t n = 0;
    rc = keel_registry_token_live(r, keel_wall_micros(), &v, &n);
    if (rc != KEEL_OK)
        keel_error_set(e, rc, "%s", keel_registry_errmsg(r));
    else if ((rc = serve_auth_set(s->auth, v, n)) != KEEL_OK)
        keel_error_set(e, rc, "out of memory");
    keel_free(v);
    keel_registry_close(r);
    return rc;
}

static void refresh_tokens(serve_server *s)
{
    keel_error e = {0};
    int rc = load_tokens(s, &e);
    if (rc != KEEL_OK && rc != s->tokens_failed)
        say(s, KEEL_LOG_ERROR, "tokens: cannot reload them, the %zu loaded before stay: %s",
            serve_auth_count(s->auth), e.msg);
    s->tokens_failed = rc;
}

static void *watch(void *arg)
{
    serve_server *s = arg;
    double next = keel_now_seconds() + s->o.poll_seconds;
    while (!atomic_load(&s->stop)) {
        usleep(50 * 1000);
        bool forced = atomic_exchange(&s->reload, false);
        if (!forced && keel_now_seconds() < next) continue;
        for (size_t i = 0; i < s->n_models && !atomic_load(&s->stop); i++)
            check_model(s, &s->models[i], forced);
        if (s->auth && !atomic_load(&s->stop)) refresh_tokens(s);
        next = keel_now_seconds() + s->o.poll_seconds;
    }
    return NULL;
}

/* ---- responses ------------------------------------------------------------------------ */

typedef struct request {
    keel_buf body;
    double t0;
    int early_status; /* set at the headers stage: answer this without reading the body */
    char early_msg[300];
    bool too_large;
    bool counted;     /* in_flight was incremented */
    serve_caller who; /* with --require-token: what the request's token allows */
} request;

static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *type,
                               keel_buf *body)
{
    size_t n = body->len;
    char *data = body->data;
    body->data = NULL; /* the response owns it now */
    body->len = body->cap = 0;
    struct MHD_Response *r;
    if (data) {
        /* Handed over without a copy; libmicrohttpd calls keel_free (keel_malloc may be a
         * custom allocator) once the response is sent, or here if it cannot be made. */
        r = MHD_create_response_from_buffer_with_free_callback(n, data, keel_free);
        if (!r) keel_free(data);
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"keel\"");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, int status, const char *fmt, ...)
    KEEL_PRINTF(3, 4);
static enum MHD_Result respond_error(struct MHD_Connection *c, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    keel_buf b;
    keel_buf_init(&b);
    serve_write_error(&b, msg);
    enum MHD_Result ok = respond(c, status, "application/json", &b);
    keel_buf_free(&b);
    return ok;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, int status, const char *text)
{
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, text);
    enum MHD_Result ok = respond(c, status, "application/json", &b);
    keel_buf_free(&b);
    return ok;
}

/* ---- the prediction log ---------------------------------------------------------------- */

/* One line per predicted row, in the format of predlog_record.h: what monitoring needs to
 * recompute drift and, once labels arrive, performance. The part every row shares is written
 * once; a line that cannot be written (out of memory) is left out. */
static void log_rows(serve_server *s, const char *protocol, const char *model,
                     const served_version *v, const char *id, const serve_batch *b,
                     const float *pred, double seconds)
{
    if (!s->log) return;
    keel_predlog_request q = {.request_id = id,
                              .time_micros = keel_wall_micros(),
                              .protocol = protocol,
                              .model = model,
                              .version = v->version,
                              .sha256 = v->sha256,
                              .latency_seconds = seconds,
                              .cols = b->cols,
                              .n_cols = b->n_cols,
                              .n_rows = b->n_rows,
                              .output_names = v->output_names,
                              .n_outputs = keel_model_n_outputs(v->model),
                              .outputs = pred};
    keel_buf head, line;
    keel_buf_init(&head);
    keel_buf_init(&line);
    if (keel_predlog_record_head(&head, &q) == KEEL_OK)
        for (size_t r = 0; r < b->n_rows; r++)
            if (keel_predlog_record_write(&line, &q, &head, r) == KEEL_OK)
                serve_predlog_append(s->log, line.data, line.len);
    keel_buf_free(&line);
    keel_buf_free(&head);
}

/* ---- routing --------------------------------------------------------------------------- */

static served_model *find_model(serve_server *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->n_models; i++)
        if (strlen(s->models[i].name) == n && !strncmp(s->models[i].name, name, n))
            return &s->models[i];
    return NULL;
}

enum { P_V2, P_V1, P_MLFLOW };
static const char *const protocol_names[] = {"v2", "v1", "mlflow"};

/* Answers 503 when no version of m is loaded, 404 when the request names another version
 * than the one being served; returns that status (ok gets MHD's result), or 0 to go on. */
static int version_refused(struct MHD_Connection *c, const served_model *m, const served_version *v,
                           const char *version_wanted, enum MHD_Result *ok)
{
    if (!v) {
        *ok = respond_error(c, 503, "model %s is not loaded", m->name);
        return 503;
    }
    if (version_wanted && strcmp(version_wanted, v->version)) {
        *ok = respond_error(c, 404, "model %s has no version %s being served (serving %s)", m->name,
                            version_wanted, v->version);
        return 404;
    }
    return 0;
}

/* Parses, predicts, answers, logs, counts. version_wanted may be NULL. */
static enum MHD_Result predict(serve_server *s, struct MHD_Connection *c, request *rq,
                               served_model *m, const char *version_wanted, int protocol)
{
    size_t slot;
    served_version *v = model_acquire(m, &slot);
    int status = 200;
    enum MHD_Result ok;
    serve_batch b;
    memset(&b, 0, sizeof b);
    float *pred = NULL, pred_small[64];
    keel_buf out;
    keel_buf_init(&out);
    int refused = version_refused(c, m, v, version_wanted, &ok);
    if (refused) {
        status = refused;
        goto done;
    }
    serve_error err = {0};
    int rc;
    const char *body = rq->body.data ? rq->body.data : "";
    if (protocol == P_V2)
        rc = serve_parse_v2(body, rq->body.len, &b, &err);
    else if (protocol == P_V1)
        rc = serve_parse_v1(body, rq->body.len, &b, &err);
    else
        rc = serve_parse_mlflow(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), body,
            rq->body.len, &b, &err);
    if (rc != KEEL_OK) {
        status = err.status ? err.status : 400;
        ok = respond_error(c, status, "%s", err.msg[0] ? err.msg : keel_strerror(rc));
        goto done;
    }
    size_t k = keel_model_n_outputs(v->model);
    /* Most requests are a row or a few: their outputs fit on the stack. */
    if (b.n_rows * k <= KEEL_ARRAY_LEN(pred_small))
        pred = pred_small;
    else
        pred = keel_calloc(b.n_rows * k, sizeof *pred); /* n_rows <= SERVE_MAX_ROWS */
    if (!pred) {
        status = 500;
        ok = respond_error(c, status, "out of memory");
        goto done;
    }
    keel_error e = {0};
    rc = keel_model_predict_columns(v->model, b.cols, b.n_cols, b.n_rows, pred, &e);
    if (rc != KEEL_OK) {
        /* A non-finite output is the model's failure, not the client's: 500, so that it
         * counts among the errors operators alert on, never a 200 carrying null or NaN. */
        status = rc == KEEL_ENOMEM || rc == KEEL_ENONFINITE ? 500 : 400;
        ok = respond_error(c, status, "%s", e.msg[0] ? e.msg : keel_strerror(rc));
        goto done;
    }
    /* One allocation for a typical answer instead of three doublings from 64 bytes. */
    rc = keel_buf_reserve(&out, 512);
    if (rc == KEEL_OK && protocol == P_V2)
        rc = serve_write_v2(&out, m->name, v->version, b.id, v->model, pred, b.n_rows);
    else if (rc == KEEL_OK && protocol == P_V1)
        rc = serve_write_v1(&out, v->model, pred, b.n_rows);
    else if (rc == KEEL_OK)
        rc = serve_write_mlflow(&out, v->model, pred, b.n_rows);
    if (rc != KEEL_OK) {
        status = 500;
        ok = respond_error(c, status, "out of memory");
        goto done;
    }
    if (s->log) {
        /* The log's request id: the client's, else a number of the server's (taken only
         * here, where it is needed: a counter all threads add to costs a cache-line move). */
        char id_buf[32];
        const char *id = b.id;
        if (!id) {
            snprintf(id_buf, sizeof id_buf, "%llu",
                     (unsigned long long)atomic_fetch_add(&s->seq, 1) + 1);
            id = id_buf;
        }
        log_rows(s, protocol_names[protocol], m->name, v, id, &b, pred,
                 keel_now_seconds() - rq->t0);
    }
    ok = respond(c, 200, "application/json", &out);
done:
    serve_metrics_request(s->metrics, protocol_names[protocol], m->name, v ? v->version : "",
                          status, status == 200 ? b.n_rows : 0, keel_now_seconds() - rq->t0);
    keel_buf_free(&out);
    if (pred != pred_small) keel_free(pred);
    serve_batch_free(&b);
    model_release(m, slot);
    return ok;
}

/* Parses, explains row by row, answers, counts (protocol "v2-explain" / "v1-explain" in the
 * metrics). Explanations are not written to the prediction log: the log is what monitoring
 * reads for drift and performance, and an explanation is usually asked about a row already
 * predicted (and logged); logging it again would count that row twice. */
static enum MHD_Result explain(serve_server *s, struct MHD_Connection *c, request *rq,
                               served_model *m, const char *version_wanted, int protocol)
{
    const char *label = protocol == P_V2 ? "v2-explain" : "v1-explain";
    size_t slot;
    served_version *v = model_acquire(m, &slot);
    int status = 200;
    enum MHD_Result ok;
    serve_batch b;
    memset(&b, 0, sizeof b);
    void *scratch = NULL;
    keel_buf out;
    keel_buf_init(&out);
    int refused = version_refused(c, m, v, version_wanted, &ok);
    if (refused) {
        status = refused;
        goto done;
    }
    serve_error err = {0};
    const char *body = rq->body.data ? rq->body.data : "";
    int rc = protocol == P_V2 ? serve_parse_v2(body, rq->body.len, &b, &err)
                              : serve_parse_v1(body, rq->body.len, &b, &err);
    serve_explain_params params;
    keel_explain_options o;
    if (rc == KEEL_OK) rc = serve_parse_explain_params(&b, &params, &err);
    if (rc == KEEL_OK) rc = serve_explain_options(&params, v->model, b.n_rows, &o, &err);
    if (rc != KEEL_OK) {
        status = err.status ? err.status : 400;
        ok = respond_error(c, status, "%s", err.msg[0] ? err.msg : keel_strerror(rc));
        goto done;
    }
    /* One block per request: the row's fields, their text scratch, attributions and
     * standard errors. Sizes are bounded by SERVE_MAX_COLS and the model's inputs. */
    size_t n_in = keel_model_n_inputs(v->model);
    size_t n_fields = b.n_cols ? b.n_cols : 1;
    size_t doubles = 2 * (n_in ? n_in : 1);
    scratch = keel_malloc(doubles * sizeof(double) + n_fields * sizeof(keel_named_value) +
                          n_fields * SERVE_FIELD_TEXT);
    if (!scratch) {
        status = 500;
        ok = respond_error(c, status, "out of memory");
        goto done;
    }
    double *attr = scratch;
    keel_named_value *fields = (keel_named_value *)(attr + doubles);
    char *text = (char *)(fields + n_fields);
    keel_explanation x;
    memset(&x, 0, sizeof x);
    x.attributions = attr;
    x.std_errors = attr + doubles / 2;
    rc = protocol == P_V2 ? serve_write_explain_v2_head(&out, m->name, v->version, b.id)
                          : serve_write_explain_v1_head(&out);
    for (size_t r = 0; r < b.n_rows && rc == KEEL_OK; r++) {
        keel_error e = {0};
        serve_batch_row_fields(&b, v->model, r, fields, text);
        rc = keel_explain_fields(v->model, fields, b.n_cols, &o, &x, &e);
        if (rc != KEEL_OK) {
            /* The library explains one row, which it calls row 0: name the request's. */
            const char *msg = e.msg[0] ? e.msg : keel_strerror(rc);
            if (!strncmp(msg, "row 0, ", 7)) msg += 7;
            status = rc == KEEL_ENOMEM || rc == KEEL_ENONFINITE ? 500
                     : rc == KEEL_ENOTSUP                       ? 501
                                                                : 400;
            if (status == 501)
                ok = respond_error(c, status, "model %s cannot be explained: %s", m->name, msg);
            else
                ok = respond_error(c, status,
                                   protocol == P_V2 ? "row %zu: %s" : "instances[%zu]: %s", r, msg);
            goto done;
        }
        if (r) rc = keel_buf_putc(&out, ',');
        if (rc == KEEL_OK) rc = keel_explanation_to_json(v->model, &x, &out);
    }
    if (rc == KEEL_OK) rc = serve_write_explain_tail(&out);
    if (rc != KEEL_OK) {
        status = 500;
        ok = respond_error(c, status, "out of memory");
        goto done;
    }
    ok = respond(c, 200, "application/json", &out);
done:
    serve_metrics_request(s->metrics, label, m->name, v ? v->version : "", status,
                          status == 200 ? b.n_rows : 0, keel_now_seconds() - rq->t0);
    keel_buf_free(&out);
    keel_free(scratch);
    serve_batch_free(&b);
    model_release(m, slot);
    return ok;
}

static enum MHD_Result model_metadata(serve_server *s, struct MHD_Connection *c, served_model *m,
                                      const char *version_wanted, bool ready_only)
{
    size_t slot;
    served_version *v = model_acquire(m, &slot);
    enum MHD_Result ok;
    if (!v) {
        ok = respond_error(c, 503, "model %s is not loaded", m->name);
    } else if (version_wanted && strcmp(version_wanted, v->version)) {
        ok = respond_error(c, 404, "model %s has no version %s being served (serving %s)", m->name,
                           version_wanted, v->version);
    } else if (ready_only) {
        keel_buf b;
        keel_buf_init(&b);
        keel_buf_puts(&b, "{\"name\":");
        keel_buf_json_str(&b, m->name, strlen(m->name));
        keel_buf_puts(&b, ",\"ready\":true}");
        ok = respond(c, 200, "application/json", &b);
        keel_buf_free(&b);
    } else {
        keel_buf b;
        keel_buf_init(&b);
        const char *versions[1] = {v->version};
        if (serve_write_v2_metadata(&b, m->name, versions, 1, v->model) != KEEL_OK)
            ok = respond_error(c, 500, "out of memory");
        else
            ok = respond(c, 200, "application/json", &b);
        keel_buf_free(&b);
    }
    model_release(m, slot);
    return ok;
}

static bool all_ready(serve_server *s)
{
    for (size_t i = 0; i < s->n_models; i++)
        if (!s->models[i].current) return false;
    return true;
}

/* Splits "/v2/models/NAME[/versions/V][/TAIL]": returns the model, sets *version (into vbuf)
 * and *tail ("" / "ready" / "infer" / "explain"); NULL when the path does not have that form. */
static served_model *parse_v2_path(serve_server *s, const char *rest, char *vbuf, size_t vcap,
                                   const char **version, const char **tail)
{
    size_t n = strcspn(rest, "/");
    served_model *m = find_model(s, rest, n);
    if (!m) return NULL;
    const char *p = rest + n;
    *version = NULL;
    *tail = "";
    if (!strncmp(p, "/versions/", 10)) {
        size_t vn = strcspn(p + 10, "/");
        if (vn == 0 || vn >= vcap) return NULL;
        memcpy(vbuf, p + 10, vn);
        vbuf[vn] = '\0';
        *version = vbuf;
        p += 10 + vn;
    }
    if (*p == '/')
        *tail = p + 1;
    else if (*p)
        return NULL;
    return m;
}

/* With --require-token: whether the request's token may not call an endpoint of protocol
 * (its label in the metrics) that needs role on model (NULL: the whole server); when it may
 * not, answers 403 (ok gets MHD's result) and counts it. */
static bool denied(serve_server *s, struct MHD_Connection *c, const request *rq,
                   const char *protocol, const char *model, int role, enum MHD_Result *ok)
{
    char msg[300];
    if (!s->auth || !serve_auth_allows(&rq->who, model, role, msg, sizeof msg)) return false;
    serve_metrics_request(s->metrics, protocol, model ? model : "", "", 403, 0,
                          keel_now_seconds() - rq->t0);
    *ok = respond_error(c, 403, "%s", msg);
    return true;
}

static enum MHD_Result route(serve_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, request *rq)
{
    enum MHD_Result ok;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    char vbuf[64];
    const char *version, *tail;
    if (!strcmp(url, "/metrics")) {
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        if (denied(s, c, rq, "other", NULL, KEEL_TOKEN_READ, &ok)) return ok;
        keel_buf b;
        keel_buf_init(&b);
        if (s->log) serve_metrics_log_dropped(s->metrics, serve_predlog_dropped(s->log));
        serve_metrics_render(s->metrics, &b);
        ok = respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
        keel_buf_free(&b);
        return ok;
    }
    if (!strcmp(url, "/v2/health/live") || !strcmp(url, "/ping") || !strcmp(url, "/health")) {
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        return respond_json(c, 200, url[1] == 'v' ? "{\"live\":true}" : "{\"status\":\"ok\"}");
    }
    if (!strcmp(url, "/v2/health/ready")) {
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        return all_ready(s) ? respond_json(c, 200, "{\"ready\":true}")
                            : respond_json(c, 503, "{\"ready\":false}");
    }
    if (!strcmp(url, "/v2")) {
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        keel_buf b;
        keel_buf_init(&b);
        keel_buf_printf(&b, "{\"name\":\"keel\",\"version\":\"%s\",\"extensions\":[\"explain\"]}",
                        keel_version());
        ok = respond(c, 200, "application/json", &b);
        keel_buf_free(&b);
        return ok;
    }
    if (!strncmp(url, "/v2/models/", 11)) {
        served_model *m = parse_v2_path(s, url + 11, vbuf, sizeof vbuf, &version, &tail);
        if (!m) {
            size_t n = strcspn(url + 11, "/");
            return respond_error(c, 404, "no model '%.*s' is served here", (int)(n > 200 ? 200 : n),
                                 url + 11);
        }
        if (!strcmp(tail, "infer")) {
            if (!post) return respond_error(c, 405, "use POST for %s", url);
            if (denied(s, c, rq, "v2", m->name, KEEL_TOKEN_INVOKE, &ok)) return ok;
            return predict(s, c, rq, m, version, P_V2);
        }
        if (!strcmp(tail, "explain")) {
            if (!post) return respond_error(c, 405, "use POST for %s", url);
            if (denied(s, c, rq, "v2-explain", m->name, KEEL_TOKEN_EXPLAIN, &ok)) return ok;
            return explain(s, c, rq, m, version, P_V2);
        }
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        if (!*tail && denied(s, c, rq, "other", m->name, KEEL_TOKEN_READ, &ok)) return ok;
        if (!*tail || !strcmp(tail, "ready"))
            return model_metadata(s, c, m, version, *tail != '\0');
        return respond_error(c, 404, "no such endpoint: %.200s", url);
    }
    if (!strncmp(url, "/v1/models/", 11)) {
        const char *name = url + 11;
        const char *colon = strrchr(name, ':');
        size_t n = colon ? (size_t)(colon - name) : strlen(name);
        served_model *m = find_model(s, name, n);
        if (!m)
            return respond_error(c, 404, "no model '%.*s' is served here", (int)(n > 200 ? 200 : n),
                                 name);
        if (colon && !strcmp(colon, ":predict")) {
            if (!post) return respond_error(c, 405, "use POST for %s", url);
            if (denied(s, c, rq, "v1", m->name, KEEL_TOKEN_INVOKE, &ok)) return ok;
            return predict(s, c, rq, m, NULL, P_V1);
        }
        if (colon && !strcmp(colon, ":explain")) {
            if (!post) return respond_error(c, 405, "use POST for %s", url);
            if (denied(s, c, rq, "v1-explain", m->name, KEEL_TOKEN_EXPLAIN, &ok)) return ok;
            return explain(s, c, rq, m, NULL, P_V1);
        }
        if (colon)
            return respond_error(c, 404, "no such verb '%.100s' (use :predict or :explain)", colon);
        if (!get) return respond_error(c, 405, "use GET for %s", url);
        return model_metadata(s, c, m, NULL, true); /* its readiness: open (auth.c) */
    }
    if (!strcmp(url, "/invocations")) {
        if (!post) return respond_error(c, 405, "use POST for %s", url);
        if (denied(s, c, rq, "mlflow", s->models[0].name, KEEL_TOKEN_INVOKE, &ok)) return ok;
        return predict(s, c, rq, &s->models[0], NULL, P_MLFLOW);
    }
    return respond_error(c, 404, "no such endpoint: %.200s", url);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    serve_server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        /* Headers are in; no body has been read yet. */
        rq = keel_calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        rq->t0 = keel_now_seconds();
        keel_buf_init(&rq->body);
        rq->counted = true;
        serve_metrics_in_flight(s->metrics, 1);
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (atomic_load(&s->open_connections) > (int)s->o.shed_connections ||
            atomic_load(&s->stop)) {
            rq->early_status = 503;
            snprintf(rq->early_msg, sizeof rq->early_msg,
                     "the server is overloaded; retry after a second");
            serve_metrics_shed(s->metrics);
        } else if ((rq->early_status =
                        serve_guard_check_head(serve_guard_conn_of(c), c, method, version,
                                               rq->early_msg, sizeof rq->early_msg))) {
            /* a head a proxy might read otherwise (http_guard.c): refused as it is */
        } else if (s->client_ca_on &&
                   !serve_tls_client_verified(c, rq->early_msg, sizeof rq->early_msg)) {
            rq->early_status = 403; /* no client certificate, or not one of the CA's */
        } else if (s->auth && !serve_auth_open_path(url) &&
                   (rq->early_status = serve_auth_check(
                        s->auth,
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION),
                        keel_wall_micros(), &rq->who, rq->early_msg, sizeof rq->early_msg))) {
            /* no token, or not a live one: refused before a byte of body is read */
        } else if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*end || end == cl) {
                rq->early_status = 400;
                snprintf(rq->early_msg, sizeof rq->early_msg, "bad Content-Length");
            } else if (n > s->o.max_body) {
                rq->early_status = 413;
                snprintf(rq->early_msg, sizeof rq->early_msg,
                         "the body is %llu bytes; at most %zu are accepted", n, s->o.max_body);
            }
        }
        if (rq->early_status) {
            /* Answer before reading the body; libmicrohttpd then closes the connection. */
            serve_metrics_request(s->metrics, "other", "", "", rq->early_status, 0,
                                  keel_now_seconds() - rq->t0);
            return respond_error(c, rq->early_status, "%s", rq->early_msg);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->early_status && !rq->too_large) {
            if (rq->body.len + *upload_size > s->o.max_body)
                rq->too_large = true; /* chunked bodies are only known to be large here */
            else if (keel_buf_append(&rq->body, upload_data, *upload_size) != KEEL_OK)
                rq->too_large = true;
        }
        *upload_size = 0; /* consumed (or discarded) */
        return MHD_YES;
    }
    serve_guard_request_read(serve_guard_conn_of(c)); /* read whole: its deadline is met */
    if (rq->early_status) return MHD_YES;             /* answered already; the body is discarded */
    if (rq->too_large) {
        serve_metrics_request(s->metrics, "other", "", "", 413, 0, keel_now_seconds() - rq->t0);
        return respond_error(c, 413, "the body is larger than the %zu bytes accepted",
                             s->o.max_body);
    }
    return route(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)why;
    serve_server *s = cls;
    serve_guard_request_done(s->guard, serve_guard_conn_of(c));
    request *rq = *con_cls;
    if (!rq) return;
    if (rq->counted) {
        serve_metrics_in_flight(s->metrics, -1);
    }
    keel_buf_free(&rq->body);
    keel_free(rq);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    serve_server *s = cls;
    serve_guard_on_connection(s->guard, c, socket_context, code);
    atomic_fetch_add(&s->open_connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    serve_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (atomic_load(&s->starting) && pthread_equal(pthread_self(), s->starter) &&
        !s->start_msg_taken) {
        size_t k = KEEL_MIN(n, sizeof s->start_msg - 1); /* cut to fit, never overflow */
        memcpy(s->start_msg, msg, k);
        s->start_msg[k] = '\0';
        s->start_msg_taken = true;
        return;
    }
    say(s, KEEL_LOG_WARN, "http: %s", msg);
}

/* ---- start and stop ---------------------------------------------------------------------- */

void serve_options_init(serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cores > 0 ? (int)cores : 2;
    o->max_body = 1 << 20;
    o->max_header = 16 << 10;
    o->max_connections = 1024;
    o->shed_connections = 768;
    o->timeout_seconds = 30;
    o->request_timeout_seconds = 10;
    o->max_per_client = 256;
    o->poll_seconds = 2;
    o->registry.home = ".keel";
}

static void model_name_of(const serve_model_spec *spec, char *out, size_t cap)
{
    if (spec->is_path) {
        const char *b = strrchr(spec->ref, '/');
        b = b ? b + 1 : spec->ref;
        snprintf(out, cap, "%.*s", (int)keel_path_stem_len(b, ".keel"), b);
    } else {
        snprintf(out, cap, "%.*s", (int)strcspn(spec->ref, ":@"), spec->ref);
    }
}

int serve_server_port(const serve_server *s)
{
    return s->port;
}

void serve_server_reload(serve_server *s)
{
    atomic_store(&s->reload, true);
}

/* --require-token: the tokens come from the registry, which must be there already (the
 * server would otherwise create an empty one, and answer 401 to everybody). */
static int start_tokens(serve_server *s, keel_error *e)
{
    bool exists = false;
    int rc = keel_registry_exists(&s->o.registry, &exists, e);
    if (rc != KEEL_OK) return rc;
    if (!exists)
        return keel_error_set(e, KEEL_ENOENT,
                              "--require-token needs a registry that holds the tokens, and there "
                              "is none at %s: create tokens with keel token create",
                              s->o.registry.location ? s->o.registry.location : s->o.registry.home);
    if (!(s->auth = serve_auth_new())) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    if ((rc = load_tokens(s, e)) != KEEL_OK) {
        char why[sizeof e->msg];
        snprintf(why, sizeof why, "%s", e->msg);
        return keel_error_set(e, rc, "--require-token: cannot read the tokens: %s", why);
    }
    if (serve_auth_count(s->auth) == 0)
        say(s, KEEL_LOG_WARN,
            "--require-token: the registry holds no live token, so every "
            "request but the health checks is refused until one is created "
            "(keel token create)");
    return KEEL_OK;
}

int serve_server_start(const serve_options *o, serve_server **out, keel_error *e)
{
    *out = NULL;
    if (o->n_models == 0) return keel_error_set(e, KEEL_EINVAL, "no model to serve (--model)");
    serve_server *s = keel_calloc(1, sizeof *s);
    if (!s) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    s->o = *o;
    const keel_registry_options *ro = &o->registry;
    snprintf(s->home_buf, sizeof s->home_buf, "%s", ro->home ? ro->home : ".keel");
    snprintf(s->actor_buf, sizeof s->actor_buf, "%s", ro->actor ? ro->actor : "");
    snprintf(s->host_buf, sizeof s->host_buf, "%s", o->host ? o->host : "127.0.0.1");
    s->o.registry.home = s->home_buf;
    snprintf(s->registry_buf, sizeof s->registry_buf, "%s", ro->location ? ro->location : "");
    s->o.registry.location = ro->location ? s->registry_buf : NULL;
    s->o.registry.actor = s->actor_buf;
    s->o.host = s->host_buf;
    s->o.models = NULL;
    int rc = KEEL_ENOMEM;
    /* TLS first: a key with the wrong mode is refused before models take seconds to load. */
    if (o->tls_cert || o->tls_key) {
        if (!o->tls_cert || !o->tls_key) {
            rc = keel_error_set(e, KEEL_EINVAL,
                                "HTTPS needs both a certificate (--tls-cert) "
                                "and its private key (--tls-key)");
            goto fail;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            rc = keel_error_set(e, KEEL_ENOTSUP,
                                "this libmicrohttpd was built without TLS support: HTTPS needs "
                                "one built with GnuTLS (Debian's libmicrohttpd12 is)");
            goto fail;
        }
        if ((rc = serve_tls_load(&s->tls, o->tls_cert, o->tls_key, e)) != KEEL_OK) goto fail;
        s->tls_on = true;
        if (o->tls_client_ca) {
            if ((rc = serve_tls_load_client_ca(&s->tls, o->tls_client_ca, e)) != KEEL_OK) goto fail;
            s->client_ca_on = true;
        }
    } else if (o->tls_client_ca) {
        rc = keel_error_set(e, KEEL_EINVAL,
                            "client certificates (--tls-client-ca) need HTTPS "
                            "(--tls-cert and --tls-key)");
        goto fail;
    }
    s->o.tls_cert = s->o.tls_key = s->o.tls_client_ca = NULL; /* only s->tls is kept */
    if (o->require_token && (rc = start_tokens(s, e)) != KEEL_OK) goto fail;
    s->metrics = serve_metrics_new();
    s->models = keel_calloc(o->n_models, sizeof *s->models);
    if (!s->metrics || !s->models) {
        keel_error_set(e, rc, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->n_models; i++) {
        served_model *m = &s->models[i];
        s->n_models = i + 1;
        m->is_path = o->models[i].is_path;
        snprintf(m->ref, sizeof m->ref, "%s", o->models[i].ref);
        model_name_of(&o->models[i], m->name, sizeof m->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->models[j].name, m->name)) {
                rc = keel_error_set(e, KEEL_EINVAL, "two models would both be served as '%s'",
                                    m->name);
                goto fail;
            }
        double t0 = keel_now_seconds();
        served_version *v = NULL;
        bool repeated = false;
        if ((rc = load_version(s, m, &v, &repeated, e)) != KEEL_OK) goto fail;
        atomic_store(&m->current, v);
        serve_metrics_model_loaded(s->metrics, m->name, v->version, keel_now_seconds() - t0);
    }
    if (!o->no_log) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/logs", s->o.registry.home);
        serve_predlog_options lo = {.dir = dir};
        if ((rc = serve_predlog_open(&lo, &s->log, e)) != KEEL_OK) goto fail;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, s->o.host, &addr.sin_addr) != 1) {
        rc = keel_error_set(e, KEEL_EINVAL, "'%s' is not an IPv4 address to listen on", s->o.host);
        goto fail;
    }
    s->guard = serve_guard_new(o->request_timeout_seconds, o->timeout_seconds);
    if (!s->guard) {
        rc = keel_error_set(e, KEEL_ENOMEM, "cannot start the request deadline's thread");
        goto fail;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TURBO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    /* HTTPS options only when asked: libmicrohttpd refuses them without MHD_USE_TLS. */
    struct MHD_OptionItem tls_items[SERVE_TLS_MHD_ITEMS] = {{MHD_OPTION_END, 0, NULL}};
    if (s->tls_on) {
        flags |= MHD_USE_TLS;
        serve_tls_mhd_options(&s->tls, tls_items);
    }
    s->starter = pthread_self();
    atomic_store(&s->starting, true);
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(o->threads > 0 ? o->threads : 1), MHD_OPTION_CONNECTION_LIMIT,
        o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        o->max_per_client, MHD_OPTION_URI_LOG_CALLBACK, serve_guard_on_uri, s->guard,
        MHD_OPTION_UNESCAPE_CALLBACK, serve_guard_unescape, NULL, MHD_OPTION_ARRAY, tls_items,
        MHD_OPTION_END);
    atomic_store(&s->starting, false);
    if (!s->d) {
        /* libmicrohttpd says why (a port in use, GnuTLS refusing the certificate or key). */
        if (!s->start_msg_taken)
            rc = keel_error_set(e, KEEL_EIO, "cannot listen on %s:%d (in use, or not allowed?)",
                                s->o.host, o->port);
        else if (s->tls_on)
            rc = keel_error_set(e, KEEL_EIO,
                                "cannot serve HTTPS on %s:%d: %s (--tls-cert %s, "
                                "--tls-key %s)",
                                s->o.host, o->port, s->start_msg, o->tls_cert, o->tls_key);
        else if (strstr(s->start_msg, "already in use"))
            /* libmicrohttpd's own words name port 0 (it binds the address keel gives it). */
            rc = keel_error_set(e, KEEL_EIO,
                                "cannot listen on %s:%d: another process is using that port; "
                                "stop it, or choose another (--port N, or --port 0 for any free "
                                "one)",
                                s->o.host, o->port);
        else
            rc = keel_error_set(e, KEEL_EIO, "cannot listen on %s:%d: %s", s->o.host, o->port,
                                s->start_msg);
        goto fail;
    }
    if (s->start_msg_taken) say(s, KEEL_LOG_WARN, "http: %s", s->start_msg);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    for (size_t i = 0; i < s->n_models; i++)
        record_deployment(s, &s->models[i], s->models[i].current->version, "active");
    if (pthread_create(&s->watcher, NULL, watch, s) != 0) {
        rc = keel_error_set(e, KEEL_EIO, "cannot start the model watcher thread");
        goto fail;
    }
    s->watcher_running = true;
    *out = s;
    return KEEL_OK;
fail:
    serve_server_stop(s, 0);
    return rc;
}

void serve_server_stop(serve_server *s, double drain_seconds)
{
    if (!s) return;
    atomic_store(&s->stop, true);
    if (s->d) {
        /* Stop accepting; requests already read finish; then close everything. */
        MHD_quiesce_daemon(s->d);
        double until = keel_now_seconds() + drain_seconds;
        while (serve_metrics_in_flight_now(s->metrics) > 0 && keel_now_seconds() < until)
            usleep(5000);
        MHD_stop_daemon(s->d);
    }
    serve_tls_free(&s->tls);    /* after the daemon, which reads it */
    serve_guard_free(s->guard); /* after the daemon: no connection is left */
    if (s->watcher_running) pthread_join(s->watcher, NULL);
    serve_auth_free(s->auth); /* after the daemon and the watcher, its readers */
    serve_predlog_close(s->log);
    for (size_t i = 0; i < s->n_models; i++)
        if (s->models[i].current)
            record_deployment(s, &s->models[i], s->models[i].current->version, "retired");
    for (size_t i = 0; i < s->n_models; i++) {
        version_free(atomic_load(&s->models[i].current));
    }
    keel_free(s->models);
    serve_metrics_free(s->metrics);
    keel_free(s);
}
