/*
 * tls.c — the certificate and key files of `keel serve --tls-cert FILE --tls-key FILE`
 * (tls.h).
 *
 * keel reads both files itself and gives libmicrohttpd their text (MHD_OPTION_HTTPS_MEM_CERT
 * and _KEY) rather than their paths, so that every refusal names the file and the fix: a key
 * others can read is refused before a byte of it is read, as keel's audit signing key is
 * (registry/audit.c), and a certificate and key given the wrong way round are told apart by
 * their PEM headers. What only GnuTLS can judge (an encrypted or damaged key, a key that is
 * not the certificate's) surfaces when the daemon starts, in GnuTLS's words (server.c).
 *
 * Client certificates (--tls-client-ca): libmicrohttpd 0.9.75, given trusted CAs
 * (MHD_OPTION_HTTPS_MEM_TRUST), asks every client for a certificate but neither requires nor
 * checks it; serve_tls_client_verified does both, with GnuTLS, when a request's head is in,
 * and the server answers 403 without reading the body when it fails.
 *
 * The key's text lives in one buffer read in one piece (a key file is far below the 64 KiB
 * keel_file_read first reserves, so no copy is left behind by a growing buffer) and is wiped
 * when the server stops.
 */
#include "serve/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

/* A private key others can read is no secret: refused before it is read, whoever owns it. */
static int check_key_file(const char *path, keel_error *e)
{
    return keel_file_check_private(path, "the TLS private key", e);
}

static int read_pem(keel_buf *b, const char *what, const char *path, keel_error *e)
{
    keel_error fe = {0};
    int rc = keel_file_read(path, SERVE_TLS_FILE_MAX, b, &fe);
    if (rc != KEEL_OK) return keel_error_set(e, rc, "the TLS %s %s", what, fe.msg); /* names path */
    return KEEL_OK;
}

int serve_tls_load(serve_tls *t, const char *cert_path, const char *key_path, keel_error *e)
{
    keel_buf_init(&t->cert);
    keel_buf_init(&t->key);
    int rc = read_pem(&t->cert, "certificate", cert_path, e);
    if (rc != KEEL_OK) goto fail;
    if (!t->cert.data || !strstr(t->cert.data, "-----BEGIN CERTIFICATE-----")) {
        rc = keel_error_set(e, KEEL_EPARSE,
                            "the TLS certificate %s holds no PEM certificate (-----BEGIN "
                            "CERTIFICATE-----)%s",
                            cert_path,
                            t->cert.data && strstr(t->cert.data, "PRIVATE KEY-----")
                                ? ": it is a private key; are --tls-cert and --tls-key swapped?"
                                : "");
        goto fail;
    }
    if ((rc = check_key_file(key_path, e)) != KEEL_OK) goto fail;
    if ((rc = read_pem(&t->key, "key", key_path, e)) != KEEL_OK) goto fail;
    if (!t->key.data || !strstr(t->key.data, "PRIVATE KEY-----")) {
        rc = keel_error_set(e, KEEL_EPARSE,
                            "the TLS key %s holds no PEM private key (-----BEGIN ... PRIVATE "
                            "KEY-----)%s",
                            key_path,
                            t->key.data && strstr(t->key.data, "-----BEGIN CERTIFICATE-----")
                                ? ": it is a certificate; are --tls-cert and --tls-key swapped?"
                                : "");
        goto fail;
    }
    return KEEL_OK;
fail:
    serve_tls_free(t);
    return rc;
}

int serve_tls_load_client_ca(serve_tls *t, const char *ca_path, keel_error *e)
{
    int rc = read_pem(&t->client_ca, "client CA", ca_path, e);
    if (rc == KEEL_OK && !strstr(t->client_ca.data, "-----BEGIN CERTIFICATE-----"))
        rc = keel_error_set(e, KEEL_EPARSE,
                            "the TLS client CA %s holds no PEM certificate (-----BEGIN "
                            "CERTIFICATE-----)",
                            ca_path);
    if (rc != KEEL_OK) keel_buf_free(&t->client_ca);
    return rc;
}

void serve_tls_mhd_options(const serve_tls *t, struct MHD_OptionItem *items)
{
    size_t n = 0;
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert.data};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key.data};
    if (t->client_ca.len)
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->client_ca.data};
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

bool serve_tls_client_verified(struct MHD_Connection *c, char *msg, size_t cap)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = info ? (gnutls_session_t)info->tls_session : NULL;
    unsigned status = 0;
    int rc = session ? gnutls_certificate_verify_peers2(session, &status) : GNUTLS_E_INTERNAL_ERROR;
    if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND) {
        snprintf(msg, cap,
                 "a client certificate is required: this server takes one signed by "
                 "its --tls-client-ca");
        return false;
    }
    if (rc != GNUTLS_E_SUCCESS) {
        snprintf(msg, cap, "the client certificate cannot be checked: %s", gnutls_strerror(rc));
        return false;
    }
    if (status != 0) {
        gnutls_datum_t why = {NULL, 0};
        bool said = gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why,
                                                                 0) == GNUTLS_E_SUCCESS;
        int n = snprintf(msg, cap, "the client certificate is refused: %s",
                         said && why.data ? (const char *)why.data : "it does not verify");
        gnutls_free(why.data);
        size_t len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
        while (len && msg[len - 1] == ' ') /* GnuTLS ends each sentence with a space */
            msg[--len] = '\0';
        return false;
    }
    return true;
}

void serve_tls_free(serve_tls *t)
{
    if (!t) return;
    if (t->key.data) sodium_memzero(t->key.data, t->key.cap);
    keel_buf_free(&t->key);
    keel_buf_free(&t->cert);
    keel_buf_free(&t->client_ca);
}
