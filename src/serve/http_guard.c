/*
 * http_guard.c — the whole-request deadline and the strict request head (http_guard.h).
 *
 * Deadline. libmicrohttpd's connection timeout is an idle timeout: every byte received
 * resets it, so 1,100 clients each sending a header byte every half second hold every
 * connection slot forever. Here each connection gets a record when it opens (the connection
 * callback) carrying a deadline, an atomic number of milliseconds on the monotonic clock:
 *
 *   opened                 deadline = now + request   (the first request must arrive whole)
 *   request line in        deadline = min(deadline, now + request)
 *   request read whole     deadline = 0               (being answered: no deadline)
 *   answer sent            deadline = now + idle + request   (kept alive: it may wait idle
 *                                                      for its next request, as long as
 *                                                      --timeout allows, then send it)
 *
 * A reaper thread looks at every record ten times a second and shuts down (shutdown(2), not
 * close: the descriptor stays libmicrohttpd's) the socket of each connection past its
 * deadline; libmicrohttpd then sees the end of the stream and closes the connection as if
 * the client had gone. The records are in one list under a mutex taken when a connection
 * opens or closes and by the reaper, never per request: a request costs two or three atomic
 * stores. libmicrohttpd announces a connection's end before it closes the descriptor, so
 * the reaper never shuts down a descriptor number that has been reused.
 *
 * Strict head. libmicrohttpd 0.9.75 takes the first of two Content-Length headers, treats
 * any Transfer-Encoding as a body of unknown length, cuts names and values at a NUL byte,
 * glues folded lines on, and decodes %00 into a NUL that truncates the path. A proxy in front
 * of keel may read the same bytes otherwise, which is how requests are smuggled. So when the
 * head is in, serve_guard_check_head refuses, with a reason:
 *   - a head that is not one contiguous run of lines: libmicrohttpd parses the head in place
 *     in its read buffer, replacing each separator (the space after the method and before
 *     the version, each colon, each CR and LF) with a zero byte; the request line's and every
 *     header's pieces must follow each other with only those zeros and optional whitespace
 *     between, and end exactly where libmicrohttpd says the head ends. A NUL byte inside a
 *     line leaves bytes that none of the parsed pieces account for; a folded line makes
 *     libmicrohttpd copy the header elsewhere. Both break the chain.
 *   - header names that are not tokens, values with control characters;
 *   - two Content-Length, or Content-Length with Transfer-Encoding, or two Host headers, or
 *     HTTP/1.1 without Host (RFC 9112 3.2, 6.3); a Transfer-Encoding other than chunked (501);
 *     two Authorization headers;
 *   - a malformed %-escape, or %00, anywhere in the URL (the unescape callback marks it);
 *   - more than SERVE_MAX_HEADERS headers (431) or SERVE_MAX_QUERY_PARAMS query parameters.
 * The checks walk the header list once, reading the bytes between the pieces (a few per
 * header), and the names and values once each.
 */
#include "serve/http_guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct serve_guard_conn {
    serve_guard_conn *prev, *next; /* the guard's list, under its lock */
    int fd;
    bool shut;                /* the reaper has shut it down (under the lock) */
    _Atomic int64_t deadline; /* ms on the monotonic clock; 0: none */
    /* The current request, written and read by the connection's own thread only. */
    const char *raw_uri; /* as received, before decoding (libmicrohttpd's buffer) */
    size_t raw_uri_len;  /* its length up to the first NUL byte */
    bool bad_escape;     /* a malformed %-escape or %00 */
    bool many_params;    /* more than SERVE_MAX_QUERY_PARAMS query parameters */
};

struct serve_guard {
    pthread_mutex_t lock;
    serve_guard_conn *head;
    int64_t request_ms, idle_ms;
    atomic_bool stop;
    pthread_t reaper;
};

static int64_t now_ms(void)
{
    return (int64_t)(keel_now_seconds() * 1000.0);
}

static void *reap(void *arg)
{
    serve_guard *g = arg;
    while (!atomic_load(&g->stop)) {
        usleep(100 * 1000);
        int64_t now = now_ms();
        pthread_mutex_lock(&g->lock);
        for (serve_guard_conn *k = g->head; k; k = k->next) {
            int64_t d = atomic_load(&k->deadline);
            if (d && now >= d && !k->shut) {
                shutdown(k->fd, SHUT_RDWR);
                k->shut = true;
            }
        }
        pthread_mutex_unlock(&g->lock);
    }
    return NULL;
}

serve_guard *serve_guard_new(double request_seconds, double idle_seconds)
{
    serve_guard *g = keel_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->request_ms = (int64_t)(request_seconds * 1000.0);
    g->idle_ms = (int64_t)(idle_seconds * 1000.0);
    pthread_mutex_init(&g->lock, NULL);
    if (pthread_create(&g->reaper, NULL, reap, g) != 0) {
        pthread_mutex_destroy(&g->lock);
        keel_free(g);
        return NULL;
    }
    return g;
}

void serve_guard_free(serve_guard *g)
{
    if (!g) return;
    atomic_store(&g->stop, true);
    pthread_join(g->reaper, NULL);
    /* The daemon has stopped, so every connection has been announced closed; this frees any
     * record left only if it did not. */
    while (g->head) {
        serve_guard_conn *k = g->head;
        g->head = k->next;
        keel_free(k);
    }
    pthread_mutex_destroy(&g->lock);
    keel_free(g);
}

void serve_guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                               enum MHD_ConnectionNotificationCode code)
{
    serve_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        serve_guard_conn *k = fd ? keel_calloc(1, sizeof *k) : NULL;
        *socket_context = k;
        if (!k) return; /* out of memory: this connection goes without a deadline */
        k->fd = fd->connect_fd;
        atomic_store(&k->deadline, now_ms() + g->request_ms);
        pthread_mutex_lock(&g->lock);
        k->next = g->head;
        if (g->head) g->head->prev = k;
        g->head = k;
        pthread_mutex_unlock(&g->lock);
        return;
    }
    serve_guard_conn *k = *socket_context;
    if (!k) return;
    pthread_mutex_lock(&g->lock);
    if (k->prev)
        k->prev->next = k->next;
    else
        g->head = k->next;
    if (k->next) k->next->prev = k->prev;
    pthread_mutex_unlock(&g->lock);
    keel_free(k);
    *socket_context = NULL;
}

serve_guard_conn *serve_guard_conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

void *serve_guard_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    serve_guard *g = cls;
    serve_guard_conn *k = serve_guard_conn_of(c);
    if (!k) return NULL;
    int64_t d = atomic_load(&k->deadline), nd = now_ms() + g->request_ms;
    if (!d || nd < d) atomic_store(&k->deadline, nd);
    k->raw_uri = uri;
    k->raw_uri_len = uri ? strlen(uri) : 0;
    k->bad_escape = k->many_params = false;
    const char *q = uri ? memchr(uri, '?', k->raw_uri_len) : NULL;
    if (q) {
        size_t n = 1;
        for (const char *p = q + 1; *p; p++)
            n += *p == '&';
        if (n > SERVE_MAX_QUERY_PARAMS) {
            /* libmicrohttpd 0.9.75 parses the parameters next, into the connection's fixed
             * memory; when they do not fit it queues an error and then loses track of the
             * request, which hangs until the idle timeout. The request is refused (400) in
             * any case, so its parameters are cut off here, in libmicrohttpd's own buffer
             * (writable: the request line is parsed in place), before they are parsed. */
            ((char *)q)[1] = '\0';
            k->many_params = true;
        }
    }
    return NULL;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t serve_guard_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    char *w = s;
    bool bad = false;
    for (const char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = hex(r[1]), lo = hi < 0 ? -1 : hex(r[2]);
        if (lo < 0 || (hi == 0 && lo == 0)) {
            bad = true; /* kept as received; the request is refused anyway */
            *w++ = *r;
            continue;
        }
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    if (bad) {
        serve_guard_conn *k = serve_guard_conn_of(c);
        if (k) k->bad_escape = true;
    }
    return (size_t)(w - s);
}

void serve_guard_request_read(serve_guard_conn *k)
{
    if (k) atomic_store(&k->deadline, 0);
}

void serve_guard_request_done(serve_guard *g, serve_guard_conn *k)
{
    if (k) atomic_store(&k->deadline, now_ms() + g->idle_ms + g->request_ms);
}

/* ---- the head ------------------------------------------------------------------------- */

/* What one pass over the headers finds. */
typedef struct head_scan {
    uintptr_t end; /* where the last piece seen ends (0: the chain is not being checked) */
    bool broken;   /* the pieces do not follow each other */
    size_t n;
    int n_length, n_encoding, n_host, n_authorization;
    const char *encoding;
    const char *bad_name, *bad_value; /* the first name that is not a token, value with CTL */
} head_scan;

/* Whether the bytes from a (inclusive) to b (exclusive) are between lo and hi in number and
 * all zero: a line end libmicrohttpd overwrote (CRLF or LF) or, at the head's end, two. */
static bool zeros_between(uintptr_t a, uintptr_t b, size_t lo, size_t hi)
{
    if (b < a + lo || b > a + hi) return false;
    for (const char *p = (const char *)a; (uintptr_t)p < b; p++)
        if (*p) return false;
    return true;
}

/* Whether a starts a zero byte followed by at most 256 spaces or tabs, then b. */
static bool separator_between(uintptr_t a, uintptr_t b)
{
    if (b <= a || b > a + 257 || *(const char *)a) return false;
    for (const char *p = (const char *)a + 1; (uintptr_t)p < b; p++)
        if (*p != ' ' && *p != '\t') return false;
    return true;
}

/* RFC 9110 5.6.2: tchar. */
static bool is_token(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            continue;
        if (!ch || !strchr("!#$%&'*+-.^_`|~", ch)) return false;
    }
    return true;
}

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return true;
    }
    return false;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    head_scan *h = cls;
    h->n++;
    if (!value) value = "";
    if (h->end && !h->broken) {
        uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
        if (!zeros_between(h->end, k, 1, 2) || !separator_between(k + key_size, v))
            h->broken = true;
        h->end = v + value_size;
    }
    if (!h->bad_name && !is_token(key, key_size)) h->bad_name = key;
    if (!h->bad_value && has_control(value, value_size)) h->bad_value = key;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        h->n_length++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        h->n_encoding++;
        h->encoding = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_HOST))
        h->n_host++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION))
        h->n_authorization++;
    return MHD_YES;
}

/* Whether the request line is one run: METHOD, a zero and spaces, the URI as received, a
 * zero, the version; sets *end to where the version ends. */
static bool request_line_whole(const serve_guard_conn *k, const char *method, const char *version,
                               uintptr_t *end)
{
    if (!k->raw_uri || !version[0]) return false;
    uintptr_t m = (uintptr_t)method, u = (uintptr_t)k->raw_uri, v = (uintptr_t)version;
    if (!separator_between(m + strlen(method), u)) return false;
    if (u + k->raw_uri_len + 1 != v || *(const char *)(v - 1)) return false;
    *end = v + strlen(version);
    return true;
}

int serve_guard_check_head(serve_guard_conn *k, struct MHD_Connection *c, const char *method,
                           const char *version, char *msg, size_t cap)
{
    head_scan h;
    memset(&h, 0, sizeof h);
    bool whole = true;
    const union MHD_ConnectionInfo *size =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (k && size) {
        whole = request_line_whole(k, method, version, &h.end);
        if (!whole) h.end = 0;
    }
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &h);
    if (h.end && (h.broken || !zeros_between(h.end, (uintptr_t)method + size->header_size, 2, 4)))
        whole = false;
    if (!whole) {
        snprintf(msg, cap,
                 "malformed request head: a NUL byte, or a header line folded onto "
                 "the next (obs-fold); send each header on one line");
        return 400;
    }
    if (k && k->bad_escape) {
        snprintf(msg, cap, "malformed URL: a %% not followed by two hex digits, or %%00");
        return 400;
    }
    if (k && k->many_params) {
        snprintf(msg, cap, "more than %d query parameters", SERVE_MAX_QUERY_PARAMS);
        return 400;
    }
    if (h.n > SERVE_MAX_HEADERS) {
        snprintf(msg, cap, "%zu headers; at most %d are accepted", h.n, SERVE_MAX_HEADERS);
        return 431;
    }
    if (h.bad_name) {
        snprintf(msg, cap, "header name \"%.60s\" is not a token (RFC 9110 5.1)", h.bad_name);
        return 400;
    }
    if (h.bad_value) {
        snprintf(msg, cap, "header %.60s: a control character in its value", h.bad_value);
        return 400;
    }
    if (h.n_length > 1) {
        snprintf(msg, cap, "Content-Length given %d times; send it once", h.n_length);
        return 400;
    }
    if (h.n_encoding > 1) {
        snprintf(msg, cap, "Transfer-Encoding given %d times; send it once", h.n_encoding);
        return 400;
    }
    if (h.n_length && h.n_encoding) {
        /* RFC 9112 6.3: a request with both is a smuggling attempt or a broken proxy. */
        snprintf(msg, cap, "both Content-Length and Transfer-Encoding given; send one");
        return 400;
    }
    if (h.n_encoding && strcasecmp(h.encoding, "chunked")) {
        snprintf(msg, cap,
                 "Transfer-Encoding \"%.60s\" is not supported: send the body with "
                 "Content-Length or Transfer-Encoding: chunked",
                 h.encoding);
        return 501;
    }
    if (h.n_host > 1) {
        snprintf(msg, cap, "Host given %d times; send it once", h.n_host);
        return 400;
    }
    /* Two credentials: which one a proxy checked and which one keel would is anybody's guess. */
    if (h.n_authorization > 1) {
        snprintf(msg, cap, "Authorization given %d times; send it once", h.n_authorization);
        return 400;
    }
    if (!h.n_host && !strcmp(version, MHD_HTTP_VERSION_1_1)) {
        snprintf(msg, cap, "an HTTP/1.1 request must have a Host header");
        return 400;
    }
    return 0;
}
