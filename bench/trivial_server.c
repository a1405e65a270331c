/*
 * trivial_server.c — the ceiling for bench/serve_bench.sh: an HTTP server on the same
 * library as `keel serve` (libmicrohttpd) that does no work of its own.
 *
 * Build: cc -std=c17 -O2 -D_GNU_SOURCE bench/trivial_server.c -lmicrohttpd -o build/trivial_server
 * Usage: build/trivial_server [-p PORT] [--threads N] [--body FILE]
 *
 * It starts the daemon with exactly the flags and options src/serve/server.c gives it:
 * epoll, internal polling thread, turbo, inter-thread channel, a pool of N worker threads (N
 * defaults to the number of cores, as keel's does), the same connection limit, idle timeout,
 * per-connection memory limit and listen backlog, completion, connection and error-log
 * callbacks. It reads each request's body the way keel does (libmicrohttpd hands it over in
 * chunks and the callback consumes them; here they are dropped) and answers every request
 * 200 with one fixed JSON body. serve_bench.sh passes keel's own answer to the benchmark's
 * request as that body (--body), so both servers send the same bytes and the difference
 * between them is exactly keel's per-request work: routing, parsing the OIP v2 JSON, the
 * schema's rules and transforms, the forward pass, writing the answer, metrics and the
 * prediction log.
 *
 * Like `keel serve -p 0` it prints "listening on http://127.0.0.1:PORT" once it accepts
 * connections, and stops on SIGTERM or SIGINT.
 */
#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* keel's answer to bench/serve_bench.sh's single-row request (216 bytes). */
static const char default_body[] =
    "{\"model_name\":\"churn\",\"model_version\":\"c33295755025\",\"outputs\":[{\"name\":\"label\","
    "\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"no\"]},{\"name\":\"probabilities\","
    "\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[0.98739815,0.012601828]}]}";

static const char *body = default_body;
static size_t body_len = sizeof default_body - 1;
static atomic_int open_connections; /* kept as keel keeps it, so both pay the same */
static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

/* Called once when the headers are in (*con_cls is NULL), once per body chunk, and once more
 * to answer: the same protocol keel's on_request follows. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    static int marker;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* consumed */
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body_len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    atomic_fetch_add(&open_connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    vfprintf(stderr, fmt, ap);
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    *n = len;
    return buf;
}

int main(int argc, char **argv)
{
    int port = 0;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads <= 0) threads = 2;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--port")) && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--body") && i + 1 < argc) {
            char *b = read_file(argv[++i], &body_len);
            if (!b) {
                fprintf(stderr, "trivial_server: cannot read %s\n", argv[i]);
                return 2;
            }
            body = b;
        } else {
            fprintf(stderr, "usage: trivial_server [-p PORT] [--threads N] [--body FILE]\n");
            return 2;
        }
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 256) {
        fprintf(stderr, "trivial_server: bad port or thread count\n");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* The same flags and options as serve_server_start (src/serve/server.c), with keel's
     * defaults: 1024 connections, 30 s idle timeout, 16 KiB per connection, backlog 1024. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TURBO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 << 10), MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "trivial_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("trivial_server: listening on http://127.0.0.1:%d (%ld threads)\n",
           info ? (int)info->port : port, threads);
    fflush(stdout);
    while (!got_term)
        usleep(50 * 1000);
    MHD_stop_daemon(d);
    return 0;
}
