/*
 * tls.h — keel serve over HTTPS: the certificate and private key files, read and checked by
 * keel, then handed to libmicrohttpd (which does TLS through GnuTLS) in memory.
 *
 * Used by server.c only. With TLS off nothing here runs: the daemon is started without
 * MHD_USE_TLS and a request costs exactly what it cost before.
 */
#ifndef KEEL_SERVE_TLS_H
#define KEEL_SERVE_TLS_H

#include "base/base.h"

#include <microhttpd.h>

/* Certificate and key files are small; a larger file is a mistake (a disk image, a device). */
#define SERVE_TLS_FILE_MAX (1 << 20)

/* The PEM texts libmicrohttpd gets. The key is wiped from memory when freed. */
typedef struct serve_tls {
    keel_buf cert;      /* the server's certificate chain, PEM */
    keel_buf key;       /* its private key, PEM, unencrypted */
    keel_buf client_ca; /* the CA certificates clients' certificates must chain to; empty:
                         * no client certificate asked for */
} serve_tls;

/* Reads cert_path and key_path into t (initialised here). Refuses, with e naming the file and
 * the fix: a file that is missing or unreadable (KEEL_ENOENT, KEEL_EIO) or larger than
 * SERVE_TLS_FILE_MAX (KEEL_ELIMIT); a key file that its group or others may read, or that is
 * not a regular file (KEEL_EPERM: "chmod 600"); a certificate without a PEM certificate or a
 * key without a PEM private key in it (KEEL_EPARSE: two files given the wrong way round, or a
 * DER file). Whether GnuTLS takes them (their encoding, the key matching the certificate) is
 * only known when the daemon starts: serve_server_start reports its refusal. On failure t
 * holds nothing. */
int serve_tls_load(serve_tls *t, const char *cert_path, const char *key_path, keel_error *e);
/* Reads the CA certificates (PEM) that clients' certificates must be signed by into t, which
 * serve_tls_load filled. The same refusals as for the certificate; on failure t->client_ca
 * is empty (the rest of t as it was). */
int serve_tls_load_client_ca(serve_tls *t, const char *ca_path, keel_error *e);

/* Fills items (at least SERVE_TLS_MHD_ITEMS) with the options libmicrohttpd's daemon takes
 * for t, ending with MHD_OPTION_END, for MHD_OPTION_ARRAY. t must outlive the daemon. */
#define SERVE_TLS_MHD_ITEMS 4
void serve_tls_mhd_options(const serve_tls *t, struct MHD_OptionItem *items);

/* With a client CA: whether connection c's client sent a certificate that chains to it and
 * is valid now. When not, msg (cap bytes) says why, for the 403. libmicrohttpd only asks for
 * the certificate (GnuTLS's GNUTLS_CERT_REQUEST); checking it is keel's. It is checked on
 * every request, since a connection's peer is only known once its handshake is done. */
bool serve_tls_client_verified(struct MHD_Connection *c, char *msg, size_t cap);

/* Wipes the key and frees both texts. NULL-safe; leaves t as serve_tls_load's failure does. */
void serve_tls_free(serve_tls *t);

#endif /* KEEL_SERVE_TLS_H */
