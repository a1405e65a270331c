/*
 * http_guard.h — keel serve's defences against hostile clients, beside libmicrohttpd:
 *
 *   a whole-request deadline  every connection is tracked from libmicrohttpd's connection
 *                             callback; a request must arrive whole (head and body) within
 *                             the deadline, or a reaper thread shuts the socket down. The
 *                             idle timeout alone never fires against a client that trickles
 *                             a byte at a time (slowloris).
 *   a strict request head     what libmicrohttpd 0.9.75 accepts but a proxy in front may read
 *                             otherwise (request smuggling): duplicate Content-Length, a
 *                             Transfer-Encoding other than chunked, a missing or repeated
 *                             Host, NUL bytes, folded header lines, bad percent-escapes,
 *                             too many headers or query parameters.
 *
 * Used by server.c only. The guard owns one record per open connection (libmicrohttpd's
 * socket context); everything else is per request and costs O(header count).
 */
#ifndef KEEL_SERVE_HTTP_GUARD_H
#define KEEL_SERVE_HTTP_GUARD_H

#include "base/base.h"

#include <microhttpd.h>

/* Requests may hold at most this many headers (431 above) and query parameters (400 above:
 * no keel endpoint takes any, and libmicrohttpd 0.9.75 never answers a request whose
 * parameters overflow its per-connection memory). */
#define SERVE_MAX_HEADERS      100
#define SERVE_MAX_QUERY_PARAMS 32

typedef struct serve_guard serve_guard;
typedef struct serve_guard_conn serve_guard_conn;

/* Starts the reaper thread. request_seconds: the whole-request deadline; idle_seconds: how
 * long a kept-alive connection may wait before its next request begins. Returns NULL when
 * out of memory or no thread can be started. */
serve_guard *serve_guard_new(double request_seconds, double idle_seconds);
/* Stops the reaper. Call after the HTTP daemon has stopped (every connection closed). */
void serve_guard_free(serve_guard *g);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION, with the guard as its closure. */
void serve_guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                               enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_URI_LOG_CALLBACK: the request line is in; notes the raw URI and starts the
 * request's clock. Returns NULL (the request's context stays server.c's to make). */
void *serve_guard_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
/* MHD_OPTION_UNESCAPE_CALLBACK: decodes %XX in place like libmicrohttpd's own, and marks
 * the request bad when an escape is malformed or decodes to NUL. */
size_t serve_guard_unescape(void *cls, struct MHD_Connection *c, char *s);

/* The connection's record (NULL if the guard is not in use). */
serve_guard_conn *serve_guard_conn_of(struct MHD_Connection *c);
/* The request has been read whole: stop its clock. */
void serve_guard_request_read(serve_guard_conn *k);
/* Its answer has been sent: a kept-alive connection now waits for the next request. */
void serve_guard_request_done(serve_guard *g, serve_guard_conn *k);

/* Checks the request head when libmicrohttpd first hands the request over (headers in, no
 * body read). method and version are the access handler's arguments. Returns 0 when it is
 * well-formed, else the status to answer (400, 431, 501) with msg set. */
int serve_guard_check_head(serve_guard_conn *k, struct MHD_Connection *c, const char *method,
                           const char *version, char *msg, size_t cap);

#endif /* KEEL_SERVE_HTTP_GUARD_H */
