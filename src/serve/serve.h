/*
 * serve.h — the inference server's parts, each usable and testable without HTTP:
 *
 *   proto_*.c  request bodies of the three protocols -> a columnar batch (serve_batch), and
 *              predictions -> response bodies; model metadata documents (proto_impl.h lists
 *              the files)
 *   metrics.c  counters and a latency histogram, rendered in Prometheus text format
 *   predlog.c  the prediction log: a bounded queue drained by a writer thread into rotating,
 *              zstd-compressed JSON Lines files; never blocks a request, counts what it drops
 *   predlog_record.c  one line of that log: its writer and its reader (predlog_record.h,
 *              which needs nothing of this header, so that monitoring can read the log)
 *   server.c   HTTP (libmicrohttpd), routing, limits, load shedding, hot swap, draining
 *   http_guard.c  the whole-request deadline (slowloris) and the strict request head
 *   tls.c      HTTPS: the certificate and key files, checked and handed to libmicrohttpd
 *   auth.c     bearer tokens (--require-token): the registry's live set, checked per request
 *
 * Protocols (docs/serve.md has the shapes):
 *   Open Inference Protocol v2  POST /v2/models/{m}[/versions/{v}]/infer
 *   KServe v1 / TF-Serving      POST /v1/models/{m}:predict  {"instances": [{col: value}, ...]}
 *   MLflow scoring              POST /invocations  dataframe_split | dataframe_records |
 *                               instances | inputs, or text/csv
 * Explanations (the "explain" extension, issue 6): the v2 and v1 request bodies above at
 *   POST /v2/models/{m}[/versions/{v}]/explain and POST /v1/models/{m}:explain.
 */
#ifndef KEEL_SERVE_H
#define KEEL_SERVE_H

#include "base/base.h"
#include "explain/explain.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- a parsed request: named columns of one batch --------------------------------------- */

/* Everything a request parser produces. Column names and data point into memory the batch
 * owns; serve_batch_free releases it all. n_rows may be 0 (an empty batch is valid). */
typedef struct serve_batch {
    char *id; /* OIP v2 request "id", echoed in the response; NULL when absent */
    size_t n_rows;
    size_t n_cols;
    keel_input_column *cols; /* keel.h: name, type, data, missing */
    void *arena;             /* private: the parser's allocations */
} serve_batch;

void serve_batch_free(serve_batch *b); /* NULL-safe; leaves b zeroed */

/* A protocol error: the HTTP status to answer (400, 404, 413, 415, 422) and a message that
 * names the problem ("inputs[2].shape [3] does not match 4 rows"). */
typedef struct serve_error {
    int status;
    char msg[400];
} serve_error;

/* Request parsers. Each returns KEEL_OK and fills *b, or an error code with err set (status
 * 400 for malformed bodies, 415 for an unsupported content type). They check everything:
 * JSON syntax, types, shapes, sizes (no more than SERVE_MAX_ROWS rows or SERVE_MAX_COLS
 * columns), duplicate names. They do not check column names against a model: that is
 * keel_model_predict_columns's job. */
#define SERVE_MAX_ROWS 100000
#define SERVE_MAX_COLS 4096
int serve_parse_v2(const char *body, size_t n, serve_batch *b, serve_error *err);
/* The three tiers of serve_parse_v2, for its tests and fuzz target; servers call
 * serve_parse_v2. serve_parse_v2_fast reads the common shape of request in one pass: it
 * returns true with *b filled and err cleared, exactly as serve_parse_v2_slow would fill
 * them, or false with *b zeroed (err untouched) whenever it is not sure, including on any
 * error and out of memory. When it takes a body (without top-level "parameters", within
 * small bounds) it also remembers the body's shape for the calling thread: its bytes with
 * the values cut out. serve_parse_v2_shaped takes, with the same promises, a body that is
 * that shape with other values: the same bytes around the values, so the same keys, names,
 * datatypes and shapes, as clients built from one piece of code send them. It only compares
 * bytes and reads values, so it costs a third of the fast path. serve_parse_v2_slow parses
 * any body, with every check and message. b must not be NULL. Thread-safe: the shapes are
 * per thread, nothing is shared. */
bool serve_parse_v2_shaped(const char *body, size_t n, serve_batch *b, serve_error *err);
bool serve_parse_v2_fast(const char *body, size_t n, serve_batch *b, serve_error *err);
int serve_parse_v2_slow(const char *body, size_t n, serve_batch *b, serve_error *err);
int serve_parse_v1(const char *body, size_t n, serve_batch *b, serve_error *err);
/* content_type: the request's Content-Type header value (NULL: application/json). */
int serve_parse_mlflow(const char *content_type, const char *body, size_t n, serve_batch *b,
                       serve_error *err);

/* Response writers: append the body for predictions out (n_rows * keel_model_n_outputs
 * floats) of model m, whose name and version (registry version, or "1" for a file) are given
 * as served. Classification: the predicted label and one probability per class; regression:
 * the value. Shapes in docs/serve.md. Return KEEL_OK or KEEL_ENOMEM. */
int serve_write_v2(keel_buf *out, const char *model, const char *version, const char *id,
                   const keel_model *m, const float *pred, size_t n_rows);
int serve_write_v1(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows);
int serve_write_mlflow(keel_buf *out, const keel_model *m, const float *pred, size_t n_rows);
/* {"error": "..."} */
int serve_write_error(keel_buf *out, const char *msg);
/* OIP v2 model metadata: {"name", "versions", "platform": "keel", "inputs": [{"name",
 * "datatype", "shape": [-1]}], "outputs": [...]} */
int serve_write_v2_metadata(keel_buf *out, const char *model, const char *const *versions,
                            size_t n_versions, const keel_model *m);

/* ---- explanations (issue 6) ------------------------------------------------------------ */

/* Rows one explain request may ask for, by method: an Integrated Gradients row costs tens of
 * forward passes, a Shapley row (exact up to 12 columns: 4,096 subsets, each over the
 * background rows) far more. More rows are a 413. */
#define SERVE_EXPLAIN_MAX_ROWS_IG      1000
#define SERVE_EXPLAIN_MAX_ROWS_SHAPLEY 16

/* The optional top-level "parameters" of an explain request, as given: {"method": "ig" |
 * "integrated_gradients" | "shapley" (the names keel_explain_method_from_name knows),
 * "scale": "log_odds" | "probability" | "value" | "default", "top_k":
 * 0..KEEL_EXPLAIN_MAX_REASONS (0: the model's default), "class": a class label (a string, or
 * a number read as its text)}. Any other key is refused. */
typedef struct serve_explain_params {
    int method;              /* keel_explain_method, or -1 when not given */
    int scale;               /* keel_explain_scale; KEEL_SCALE_DEFAULT when not given */
    long top_k;              /* -1 when not given */
    const char *class_label; /* NULL when not given; points into the batch's memory */
} serve_explain_params;

/* Reads "parameters" from the body that b was parsed from (b from serve_parse_v1 or
 * serve_parse_v2: the batch keeps the parsed document). Checks the JSON types, the names and
 * the range of top_k; does not need the model. Returns KEEL_OK, or KEEL_EPARSE with err set
 * (status 400, a message naming the parameter: "parameters.method: unknown method \"x\" (use
 * \"ig\" or \"shapley\")"). p is valid only while b is. Thread-safe (reads b only). */
int serve_parse_explain_params(const serve_batch *b, serve_explain_params *p, serve_error *err);

/* Turns p into options for keel_explain_fields on model m (o is initialised here with
 * keel_explain_options_init) and checks what needs the model: the scale against the task
 * (log_odds and probability for classification, value for regression), the class against
 * its labels (a regression model has none), and n_rows against the method's row limit
 * (SERVE_EXPLAIN_MAX_ROWS_*, status 413). Returns KEEL_OK, or KEEL_EPARSE / KEEL_ELIMIT with
 * err set. Does not allocate; thread-safe. */
int serve_explain_options(const serve_explain_params *p, const keel_model *m, size_t n_rows,
                          keel_explain_options *o, serve_error *err);

/* Bytes of scratch per column for serve_batch_row_fields. */
#define SERVE_FIELD_TEXT 48

/* Row r (< b->n_rows) of b as the named fields keel_explain_fields and
 * keel_model_predict_fields read, so that an explained row reaches the model exactly as
 * keel_model_predict_columns would give it: fields[j] is column j; text columns give their
 * text (NULL when missing), numbers their value (NaN when missing), booleans the text "1" or
 * "0" (which boolean, numeric and categorical inputs read as predict does), FP32 values
 * their shortest text where the input m has under that name is not numeric, integers of
 * 10^15 or more in magnitude their exact text. fields holds b->n_cols entries; scratch
 * b->n_cols * SERVE_FIELD_TEXT bytes, which the fields may point into. Names and texts point
 * into b. Cannot fail; thread-safe (reads b and m only). */
void serve_batch_row_fields(const serve_batch *b, const keel_model *m, size_t r,
                            keel_named_value *fields, char *scratch);

/* The explain responses, written around the explanations (keel_explanation_to_json, joined
 * by commas by the caller):
 *   v1   {"explanations":[ ... ]}
 *   v2   {"model_name":M,"model_version":V,"id":ID,"explanations":[ ... ]}  (id when given)
 * The head opens the list; serve_write_explain_tail closes it. KEEL_OK or KEEL_ENOMEM (the
 * buffer as it was). */
int serve_write_explain_v1_head(keel_buf *out);
int serve_write_explain_v2_head(keel_buf *out, const char *model, const char *version,
                                const char *id);
int serve_write_explain_tail(keel_buf *out);

/* ---- metrics (metrics.c) --------------------------------------------------------------- */

/* Latency histogram buckets, seconds (Prometheus "le" labels), plus +Inf. */
#define SERVE_LATENCY_BUCKETS 14
extern const double serve_latency_bounds[SERVE_LATENCY_BUCKETS];

/* Label sets are bounded: after 1024 distinct (protocol, model, version, code) sets, and 1024
 * (protocol, model) pairs, new ones are counted in one set labelled "(other)"; label values
 * are cut to 256 bytes. */
typedef struct serve_metrics serve_metrics;
serve_metrics *serve_metrics_new(void);    /* NULL when out of memory */
void serve_metrics_free(serve_metrics *m); /* NULL-safe; no other call may be running */
/* Records one finished request: protocol ("v2", "v1", "mlflow", "v2-explain", "v1-explain",
 * "other"), model and version ("" when none), HTTP status, rows predicted (or explained),
 * seconds taken. Thread-safe, lock-free for known label sets after the first request (a
 * mutex guards adding a new label set). */
void serve_metrics_request(serve_metrics *m, const char *protocol, const char *model,
                           const char *version, int status, size_t rows, double seconds);
void serve_metrics_in_flight(serve_metrics *m, int delta);
int64_t serve_metrics_in_flight_now(serve_metrics *m); /* requests being answered now */
void serve_metrics_shed(serve_metrics *m);             /* a 503 for overload */
void serve_metrics_model_loaded(serve_metrics *m, const char *model, const char *version,
                                double load_seconds);             /* also counts swaps */
void serve_metrics_log_dropped(serve_metrics *m, uint64_t total); /* the log's drop count */
/* Appends the Prometheus text exposition (format 0.0.4): keel_requests_total{protocol,model,
 * version,code}, keel_request_duration_seconds histogram{protocol,model}, keel_rows_total,
 * keel_requests_in_flight, keel_requests_shed_total, keel_model_load_seconds{model,version},
 * keel_model_swaps_total{model}, keel_prediction_log_dropped_total, keel_build_info{version},
 * keel_start_time_seconds, keel_up. Must pass `promtool check metrics`. Returns KEEL_OK, or
 * KEEL_ENOMEM with out as it was. Thread-safe. */
int serve_metrics_render(serve_metrics *m, keel_buf *out);

/* ---- the prediction log (predlog.c) ----------------------------------------------------- */

typedef struct serve_predlog serve_predlog;

/* Zero fields take the defaults in parentheses. */
typedef struct serve_predlog_options {
    const char *dir;        /* KEEL_HOME/logs; created if missing */
    size_t queue_bytes;     /* bound on what waits to be written (default 64 MiB); a line
                             * longer than half of it is always dropped */
    size_t rotate_bytes;    /* start a new file after this many uncompressed bytes (256 MiB) */
    int64_t rotate_seconds; /* ... or after this long (3600; negative: never by age) */
    int zstd_level;         /* default 3 */
    /* Test only; leave NULL. Called instead of write(2) for every write to a log file, so
     * that tests can make the disk slow or full; returns what write(2) would (-1 and errno
     * on failure). It runs on the writer thread. */
    long (*test_write)(void *ud, int fd, const void *p, size_t n);
    void *test_write_ud;
} serve_predlog_options;

/* Starts the writer thread. Files: DIR/predictions-YYYYMMDDTHHMMSSZ-PID-N.jsonl.zst, each a
 * complete zstd frame once closed (a file being written is named ....jsonl.zst.part; one
 * abandoned after a write error keeps that name and holds exactly the lines counted written).
 * Fails, with *out NULL and e set, when DIR cannot be created or written (KEEL_EIO), or with
 * KEEL_ENOMEM. Write errors later are not returned: their lines are counted as dropped and
 * the writer tries a new file after a back-off (0.25 s, doubling to 30 s). */
int serve_predlog_open(const serve_predlog_options *o, serve_predlog **out, keel_error *e);
/* Queues one line (a JSON object without the newline: a raw newline in it, which valid JSON
 * can only have as whitespace, is written as a space); never blocks: when the queue is full
 * the line is dropped and counted. Copies the line. Thread-safe; not after close. Returns
 * false when dropped. */
bool serve_predlog_append(serve_predlog *l, const char *line, size_t n);
/* Counts so far (thread-safe): every appended line ends up in exactly one of them, once the
 * log is closed. Written means handed to the file system. */
uint64_t serve_predlog_dropped(const serve_predlog *l);
uint64_t serve_predlog_written(const serve_predlog *l);
/* Flushes what is queued, closes the current file (renaming .part away) and stops the
 * thread. NULL-safe. No append may run at the same time or after. */
void serve_predlog_close(serve_predlog *l);

/* ---- the server (server.c) ------------------------------------------------------------ */

/* One model to serve: a registry reference ("churn@champion", "churn:3", "churn") or the path
 * of a .keel file (served under its base name: churn.keel -> churn). */
typedef struct serve_model_spec {
    const char *ref;
    bool is_path;
} serve_model_spec;

typedef struct serve_options {
    const char *host;                 /* listen address, default 127.0.0.1 */
    int port;                         /* default 8080; 0 picks a free port (serve_server_port) */
    int threads;                      /* HTTP worker threads, default: the number of cores */
    size_t max_body;                  /* bytes, default 1 MiB; larger bodies get 413 */
    size_t max_header;                /* bytes of request line + headers per connection, 16 KiB */
    unsigned max_connections;         /* default 1024 */
    unsigned shed_connections;        /* above this many open connections, answer 503 (768) */
    unsigned timeout_seconds;         /* idle connection timeout, default 30 */
    unsigned request_timeout_seconds; /* a request's head and body must arrive within this
                                       * of its start (default 10); http_guard.c */
    unsigned max_per_client;          /* open connections per client address (256; 0: any) */
    double poll_seconds;              /* how often registry aliases are checked, default 2 */
    /* The registry the server follows and reads models and tokens from, and as whom: home
     * (KEEL_HOME, default ".keel"; it also holds logs/), location (NULL: in home), actor, and
     * the audit and identity keys. */
    keel_registry_options registry;
    bool no_log;               /* no prediction log */
    const char *tls_cert;      /* HTTPS: the certificate (chain) PEM file, with ... */
    const char *tls_key;       /* ... its private key's (mode 600); NULL: plain HTTP */
    const char *tls_client_ca; /* with TLS: clients need a certificate this CA file's
                                * certificates signed (403 otherwise); NULL: none */
    bool require_token;        /* every endpoint but the health checks needs a bearer
                                * token of the registry's (auth.h); 401 / 403 */
    const serve_model_spec *models;
    size_t n_models;
    keel_log_fn log; /* where the server's own messages go (stderr in the CLI) */
    void *log_ud;
} serve_options;

void serve_options_init(serve_options *o);

typedef struct serve_server serve_server;

/* Loads every model (all must load), opens the prediction log, and starts listening. On
 * failure *out is NULL and e says why (a model that does not resolve or load, a port in
 * use). */
int serve_server_start(const serve_options *o, serve_server **out, keel_error *e);
/* The port actually listened on. */
int serve_server_port(const serve_server *s);
/* Asks the watcher to check every model now (what SIGHUP does). Async-signal-safe. */
void serve_server_reload(serve_server *s);
/* Stops accepting, lets requests in flight finish (up to drain_seconds), flushes the log,
 * frees everything. NULL-safe. */
void serve_server_stop(serve_server *s, double drain_seconds);

#endif /* KEEL_SERVE_H */
