/*
 * fuzz/auth.c — keel serve's bearer-token check (serve_auth_check) on an arbitrary
 * Authorization header, and the open-path test (serve_auth_open_path) on the same bytes as a
 * URL.
 *
 * Besides not crashing: the check answers 0 or 401, a 401 always says why, and a 0 only for
 * "Bearer " followed by exactly one of the set's tokens (known here), whose model and role
 * it then reports; what a caller may do (serve_auth_allows) is 0 or 403, with a reason.
 */
#include "serve/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Two live tokens, for churn (invoke) and for every model (read), and one expired. */
static const char *const tokens[] = {
    "keel_0000000000000000000000000000000000000000000000000000000000000001",
    "keel_00000000000000000000000000000000000000000000000000000000000000ff",
    "keel_abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0000",
};

static serve_auth *set(void)
{
    static serve_auth *a;
    if (a) return a;
    keel_live_token t[3] = {{.role = KEEL_TOKEN_INVOKE},
                            {.role = KEEL_TOKEN_READ},
                            {.role = KEEL_TOKEN_EXPLAIN, .expires_at = 1}};
    strcpy(t[0].model, "churn");
    strcpy(t[1].model, "*");
    strcpy(t[2].model, "churn");
    for (int i = 0; i < 3; i++) {
        keel_sha256 h;
        keel_sha256_init(&h);
        keel_sha256_update(&h, tokens[i], strlen(tokens[i]));
        keel_sha256_final(&h, t[i].sha256);
    }
    if (!(a = serve_auth_new()) || serve_auth_set(a, t, 3) != KEEL_OK) abort();
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, data, n);
    text[n] = '\0';
    serve_caller who;
    char msg[256] = "";
    int rc = serve_auth_check(set(), text, 2, &who, msg, sizeof msg);
    if (rc != 0 && rc != 401) abort();
    if (rc == 401 && !msg[0]) abort();
    if (rc == 0) {
        /* Only a live token, after the scheme and one space, gets in. */
        if (strncasecmp(text, "Bearer ", 7)) abort(); /* the scheme ignores case (RFC 9110) */
        const char *tok = text + 7;
        while (*tok == ' ')
            tok++;
        bool known = !strncmp(tok, tokens[0], 69) || !strncmp(tok, tokens[1], 69);
        if (!known || strcmp(who.model, !strncmp(tok, tokens[0], 69) ? "churn" : "*")) abort();
        for (int role = KEEL_TOKEN_READ; role <= KEEL_TOKEN_EXPLAIN; role++) {
            msg[0] = '\0';
            int ok = serve_auth_allows(&who, n % 2 ? "churn" : NULL, role, msg, sizeof msg);
            if ((ok != 0 && ok != 403) || (ok == 403 && !msg[0])) abort();
        }
    }
    (void)serve_auth_open_path(text);
    free(text);
    return 0;
}
