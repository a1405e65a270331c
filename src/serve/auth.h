/*
 * auth.h — bearer tokens on keel serve (`--require-token`): the set of tokens the registry
 * holds live, each request's Authorization header checked against it, and what a token's
 * model and role allow (registry.h lists the roles).
 *
 * Used by server.c only. Without --require-token nothing here runs.
 */
#ifndef KEEL_SERVE_AUTH_H
#define KEEL_SERVE_AUTH_H

#include "registry/registry.h"

typedef struct serve_auth serve_auth;

/* Who a request's token says the caller is: what its token allows. */
typedef struct serve_caller {
    char model[72]; /* a model name, or "*" for every model */
    int role;       /* enum keel_token_role */
} serve_caller;

/* An empty set (every token refused); NULL when out of memory. */
serve_auth *serve_auth_new(void);
/* NULL does nothing; no check may be running. */
void serve_auth_free(serve_auth *a);
/* Replaces the set with tokens[0..n) (copied; tokens stays the caller's). Checks running
 * meanwhile finish against the old set, which is freed once none can be using it. One thread
 * at a time (the server's watcher); returns KEEL_OK, or KEEL_ENOMEM with the old set kept. */
int serve_auth_set(serve_auth *a, const keel_live_token *tokens, size_t n);
/* How many tokens the set holds now. */
size_t serve_auth_count(serve_auth *a);

/* Whether url is one of the endpoints open without a token: the health checks
 * (/v2/health/live, /v2/health/ready, /health, /ping) and a model's readiness
 * (/v2/models/M[/versions/V]/ready, KServe v1's /v1/models/M), which probes call without
 * credentials. */
bool serve_auth_open_path(const char *url);

/* Checks the value of a request's Authorization header (NULL: none) at now (µs since the
 * epoch): returns 0 with *who set when it is "Bearer TOKEN" with a token of the set that has
 * not expired, else 401 with msg (cap bytes) saying which of missing, malformed or not valid
 * (an unknown, revoked and expired token are told apart to nobody). The cost is one SHA-256
 * of the token and a binary search; the digest is compared in constant time. Thread-safe. */
int serve_auth_check(serve_auth *a, const char *header, int64_t now, serve_caller *who, char *msg,
                     size_t cap);

/* Whether who may call an endpoint that needs role on model (NULL: the whole server, which
 * needs a token for "*"): 0, or 403 with msg (cap bytes) saying what the token lacks. */
int serve_auth_allows(const serve_caller *who, const char *model, int role, char *msg, size_t cap);

#endif /* KEEL_SERVE_AUTH_H */
