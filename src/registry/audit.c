/*
 * audit.c — the hash-chained audit trail: append, verify, signed checkpoints, export.
 *
 * Appending reads the head (the event with the highest seq), hashes the new event onto it and
 * inserts it, all inside the caller's write transaction: the store's write lock serialises
 * appenders, so two processes can never both extend the same head. Nothing is cached on the
 * store; both statements are prepared per call, which costs a few microseconds against the
 * fsync of the commit that follows.
 *
 * Verification is one pass in seq order (one SELECT; seq is the table's rowid, so this is a
 * scan, not a sort) that recomputes every hash. It reads the checkpoints (the external one,
 * the head file, the table) before the events and looks each one's event up at once. Without
 * a read snapshot this order is what keeps a concurrent writer from causing a false alarm:
 * the events a checkpoint names were committed before the checkpoint was, and the chain only
 * grows, so a checkpoint read earlier can never name an event beyond the head read later.
 * Findings from the chain and from the checkpoints are kept apart; the smallest seq wins, the
 * chain's reason on a tie (it says more: "edited" rather than "does not match").
 *
 * Checkpoints are signed with Ed25519 (libsodium). keel_audit_checkpoint_now refuses to sign
 * a head it has reason to doubt: a checkpoint (table or head file) beyond the head, one at the
 * head with another hash, or a break in the events since the previous checkpoint (it walks
 * them, so its cost is proportional to the events since the last checkpoint). The head file
 * never moves backwards: a file naming a later or equal seq is left as it is.
 *
 * Key files, in KEEL_HOME/keys (created with mode 0700):
 *   audit.key  mode 0600: the 64-byte libsodium secret key (32-byte seed, then the 32-byte
 *              public key) as 128 lowercase hex digits and a newline;
 *   audit.pub  the 32-byte public key as 64 lowercase hex digits and a newline.
 * Reading accepts either case and trailing whitespace. audit.key is written to a temporary
 * file opened with O_CREAT|O_EXCL, mode 0600, fsync'ed, then hard-linked to its name: link()
 * fails if the name exists, so when two processes create a key at once exactly one wins and
 * the other, which never sees a half-written file, loads the winner's key.
 */
#include "registry/audit_impl.h"

#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char zero_hash[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

#define EVENT_COLUMNS      "seq, time, actor, action, object, details, prev_hash, hash"
#define CHECKPOINT_COLUMNS "seq, hash, time, public_key, signature"
#define CHECKPOINT_MAGIC   "keel-audit-checkpoint-v1"
/* Checkpoint files are one small JSON object; anything far larger is not one. */
#define CHECKPOINT_FILE_MAX 65536
/* Progress is reported every this many events. */
#define PROGRESS_EVERY 65536

/* ---- small helpers ------------------------------------------------------------------- */

/* True when s is exactly n lowercase hex digits, as keel writes hashes, keys and
 * signatures. */
static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[n] == '\0';
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static int set_msg(keel_store *s, int code, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int set_msg(keel_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* A store call failed with rc: the backend left its message on the store, except for
 * KEEL_ENOMEM from keel's own allocation (the statement wrapper), which leaves none. */
static int store_msg(keel_store *s, int rc)
{
    if (rc == KEEL_ENOMEM) set_msg(s, rc, "out of memory");
    return rc;
}

/* The same, reported through a keel_error for the functions that take one. */
static int store_err(keel_store *s, keel_error *e, int rc, const char *what)
{
    if (rc == KEEL_ENOMEM) return keel_error_set(e, rc, "out of memory while %s", what);
    return keel_error_set(e, rc, "audit trail: %s: %s", what, keel_store_errmsg(s));
}

static int crypto_ready(keel_error *e)
{
    /* sodium_init is idempotent and thread-safe; it returns 1 when already initialised. */
    if (sodium_init() < 0) return keel_error_set(e, KEEL_EIO, "libsodium failed to initialise");
    return KEEL_OK;
}

/* ---- hashing ------------------------------------------------------------------------- */

/* hash = SHA-256(prev || u64be(seq) || i64be(time) || lp(actor) lp(action) lp(object)
 * lp(details)), lp(s) = u32be(len) || s. The caller has checked that each length fits in
 * 32 bits. */
static void event_hash(const unsigned char prev[32], int64_t seq, int64_t time,
                       const char *const field[4], const size_t len[4], char out[65])
{
    unsigned char head[16], lp[4], digest[32];
    put_be(head, (uint64_t)seq, 8);
    put_be(head + 8, (uint64_t)time, 8);
    keel_sha256 h;
    keel_sha256_init(&h);
    keel_sha256_update(&h, prev, 32);
    keel_sha256_update(&h, head, sizeof head);
    for (int i = 0; i < 4; i++) {
        put_be(lp, (uint64_t)len[i], 4);
        keel_sha256_update(&h, lp, sizeof lp);
        keel_sha256_update(&h, field[i], len[i]);
    }
    keel_sha256_final(&h, digest);
    keel_sha256_hex(digest, out);
}

int keel_audit_hash(const char *prev_hash_hex, int64_t seq, int64_t time, const char *actor,
                    const char *action, const char *object, const char *details, char hash_hex[65])
{
    hash_hex[0] = '\0';
    unsigned char prev[32];
    if (!prev_hash_hex || !keel_hex_decode(prev_hash_hex, strlen(prev_hash_hex), prev, 32))
        return KEEL_EINVAL;
    if (!actor || !action || !object) return KEEL_EINVAL;
    const char *field[4] = {actor, action, object, details ? details : "{}"};
    size_t len[4];
    for (int i = 0; i < 4; i++) {
        len[i] = strlen(field[i]);
        if (len[i] > UINT32_MAX) return KEEL_EINVAL;
    }
    event_hash(prev, seq, time, field, len, hash_hex);
    return KEEL_OK;
}

/* ---- append and head ------------------------------------------------------------------ */

static int read_head(keel_store *s, int64_t *seq, char hash[65])
{
    keel_stmt *st;
    int rc =
        keel_store_prepare(s, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", &st);
    if (rc != KEEL_OK) return store_msg(s, rc);
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        *seq = keel_stmt_int(st, 0);
        const char *h = keel_stmt_text(st, 1);
        if (h && is_lower_hex(h, 64)) {
            memcpy(hash, h, 65);
            rc = KEEL_OK;
        } else {
            rc = set_msg(s, KEEL_EFORMAT,
                         "the audit trail's last event (seq %lld) has a damaged hash; run "
                         "`keel audit verify`",
                         (long long)*seq);
        }
    } else if (rc == KEEL_STORE_DONE) {
        *seq = 0;
        memcpy(hash, zero_hash, 65);
        rc = KEEL_OK;
    }
    keel_stmt_finalize(st);
    return rc;
}

int keel_audit_head(keel_store *s, int64_t *seq, char hash_hex[65])
{
    int rc = read_head(s, seq, hash_hex);
    if (rc != KEEL_OK) {
        *seq = 0;
        hash_hex[0] = '\0';
    }
    return rc;
}

int keel_audit_append(keel_store *s, int64_t time, const char *actor, const char *action,
                      const char *object, const char *details, int64_t *seq_out)
{
    if (seq_out) *seq_out = 0;
    if (!s->in_transaction)
        return set_msg(s, KEEL_ESTATE, "keel_audit_append needs an open write transaction");
    if (!actor || !action || !object)
        return set_msg(s, KEEL_EINVAL, "an audit event needs an actor, an action and an object");
    if (!details) details = "{}";
    if (time == 0) time = keel_wall_micros();
    int64_t head;
    char prev[65], hash[65];
    int rc = read_head(s, &head, prev);
    if (rc != KEEL_OK) return rc;
    if (head == INT64_MAX) return set_msg(s, KEEL_ELIMIT, "the audit trail is full");
    int64_t seq = head + 1;
    if (keel_audit_hash(prev, seq, time, actor, action, object, details, hash) != KEEL_OK)
        return set_msg(s, KEEL_EINVAL, "an audit event field is longer than 4 GiB");
    rc = keel_store_run(
        s, "INSERT INTO audit_events(" EVENT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "iissssss", seq, time, actor, action, object, details, (const char *)prev,
        (const char *)hash);
    if (rc != KEEL_OK) return store_msg(s, rc);
    if (seq_out) *seq_out = seq;
    return KEEL_OK;
}

/* ---- files --------------------------------------------------------------------------- */

int audit_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* fsyncs the directory holding path, so that a rename or link in it is durable. */
int audit_fsync_parent(const char *path, keel_error *e)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir) return keel_error_set(e, KEEL_EINVAL, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return keel_error_set(e, KEEL_EIO, "%s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return keel_error_set(e, KEEL_EIO, "%s: fsync: %s", dir, strerror(errno));
    return KEEL_OK;
}

/* Writes text to a new file tmp (O_EXCL when exclusive, else replacing a stale one), with
 * mode, and fsyncs it. On failure tmp is removed. */
static int write_tmp(const char *tmp, const char *text, size_t n, mode_t mode, bool exclusive,
                     keel_error *e)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    int fd = open(tmp, flags, mode);
    if (fd < 0) return keel_error_set(e, KEEL_EIO, "%s: %s", tmp, strerror(errno));
    if (audit_write_all(fd, text, n) != 0 || fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return keel_error_set(e, KEEL_EIO, "%s: %s", tmp, strerror(err));
    }
    if (close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return keel_error_set(e, KEEL_EIO, "%s: %s", tmp, strerror(err));
    }
    return KEEL_OK;
}

/* path + suffix + ".tmp.<pid>" into out. */
static int tmp_name(char *out, size_t cap, const char *path, keel_error *e)
{
    int n = snprintf(out, cap, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= cap) return keel_error_set(e, KEEL_EINVAL, "%s: path too long", path);
    return KEEL_OK;
}

/* Replaces path with text atomically: temporary file, fsync, rename, fsync of the
 * directory. A reader sees the old content or the new, never a mix. */
static int replace_file(const char *path, const char *text, size_t n, mode_t mode, bool durable,
                        keel_error *e)
{
    char tmp[PATH_MAX];
    int rc = tmp_name(tmp, sizeof tmp, path, e);
    if (rc != KEEL_OK) return rc;
    if ((rc = write_tmp(tmp, text, n, mode, false, e)) != KEEL_OK) return rc;
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return keel_error_set(e, KEEL_EIO, "%s: %s", path, strerror(err));
    }
    return durable ? audit_fsync_parent(path, e) : KEEL_OK;
}

/* ---- keys ---------------------------------------------------------------------------- */

/* Reads a file of 2n hex digits (and trailing whitespace) into out. */
static int read_hex_file(const char *path, unsigned char *out, size_t n, keel_error *e)
{
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_file_read(path, 4096, &b, e);
    if (rc == KEEL_OK) {
        size_t len = b.len;
        while (len > 0 && (b.data[len - 1] == '\n' || b.data[len - 1] == '\r' ||
                           b.data[len - 1] == ' ' || b.data[len - 1] == '\t'))
            len--;
        if (!b.data || !keel_hex_decode(b.data, len, out, n))
            rc = keel_error_set(e, KEEL_EFORMAT, "%s is damaged: expected %zu hex digits", path,
                                2 * n);
    } else if (rc == KEEL_ELIMIT) {
        rc = keel_error_set(e, KEEL_EFORMAT, "%s is damaged: too large", path);
    }
    if (b.data) sodium_memzero(b.data, b.cap);
    keel_buf_free(&b);
    return rc;
}

/* Creates dir and its missing parents, the new ones with mode 0700. */
static int make_dirs(const char *dir, keel_error *e)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return keel_error_set(e, KEEL_EINVAL, "bad key directory");
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return keel_error_set(e, KEEL_EIO, "cannot create %s: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return keel_error_set(e, KEEL_EIO, "%s is not a directory", dir);
    return KEEL_OK;
}

static int write_pub(const char *path, const unsigned char pk[32], keel_error *e)
{
    char text[66];
    keel_hex_encode(pk, 32, text);
    text[64] = '\n';
    text[65] = '\0';
    return replace_file(path, text, 65, 0644, true, e);
}

/* Generates a key pair and publishes it as key_path, unless another process got there first
 * (then nothing is written and the caller loads that process's key). */
static int create_key(const char *key_path, keel_error *e)
{
    unsigned char pk[32], sk[64];
    char text[130], tmp[PATH_MAX];
    int rc = tmp_name(tmp, sizeof tmp, key_path, e);
    if (rc != KEEL_OK) return rc;
    crypto_sign_ed25519_keypair(pk, sk);
    keel_hex_encode(sk, 64, text);
    text[128] = '\n';
    text[129] = '\0';
    unlink(tmp); /* a stale one from a crashed process with our pid */
    rc = write_tmp(tmp, text, 129, 0600, true, e);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(text, sizeof text);
    if (rc != KEEL_OK) return rc;
    if (link(tmp, key_path) != 0) {
        int err = errno;
        unlink(tmp);
        if (err == EEXIST) return KEEL_OK;
        return keel_error_set(e, KEEL_EIO, "%s: %s", key_path, strerror(err));
    }
    unlink(tmp);
    return audit_fsync_parent(key_path, e);
}

int keel_audit_key_load(const char *dir, int create, keel_audit_key *key, keel_error *e)
{
    memset(key, 0, sizeof *key);
    char key_path[PATH_MAX], pub_path[PATH_MAX];
    int a = snprintf(key_path, sizeof key_path, "%s/audit.key", dir);
    int b = snprintf(pub_path, sizeof pub_path, "%s/audit.pub", dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof key_path || (size_t)b >= sizeof pub_path)
        return keel_error_set(e, KEEL_EINVAL, "%s: path too long", dir);
    return keel_audit_key_load_file(key_path, pub_path, create, key, e);
}

/* The signing key must be private (keel_file_check_private); KEEL_ENOENT, without a message,
 * when it is not there: the caller may create it. */
static int check_key_mode(const char *path, keel_error *e)
{
    keel_error ce = {0};
    int rc = keel_file_check_private(path, "the audit signing key", &ce);
    if (rc != KEEL_OK && rc != KEEL_ENOENT && e) *e = ce;
    return rc;
}

int keel_audit_key_load_file(const char *key_path, const char *pub_path, int create,
                             keel_audit_key *key, keel_error *e)
{
    memset(key, 0, sizeof *key);
    int rc = crypto_ready(e);
    if (rc != KEEL_OK) return rc;
    char dir[PATH_MAX];
    const char *slash = strrchr(key_path, '/');
    size_t dn = slash ? (size_t)(slash - key_path) : 1;
    if (dn >= sizeof dir) return keel_error_set(e, KEEL_EINVAL, "%s: path too long", key_path);
    memcpy(dir, slash ? key_path : ".", dn);
    dir[dn] = '\0';
    if (dn == 0) strcpy(dir, "/");
    /* A few rounds at most: after creating the key (or losing the race to create it) the
     * next round loads the key that is in place. */
    for (int round = 0; round < 3; round++) {
        unsigned char sk[64], pk[32], seed_pk[32], seed_sk[64];
        rc = check_key_mode(key_path, e);
        if (rc == KEEL_OK) rc = read_hex_file(key_path, sk, 64, e);
        if (rc == KEEL_OK) {
            /* The secret key is seed || public key; rederive both to detect damage. */
            crypto_sign_ed25519_seed_keypair(seed_pk, seed_sk, sk);
            bool intact = sodium_memcmp(seed_sk, sk, 64) == 0;
            sodium_memzero(seed_sk, sizeof seed_sk);
            if (!intact) {
                sodium_memzero(sk, sizeof sk);
                return keel_error_set(e, KEEL_EFORMAT,
                                      "%s is damaged: its public half does not match its seed",
                                      key_path);
            }
            rc = read_hex_file(pub_path, pk, 32, e);
            if (rc == KEEL_OK && memcmp(pk, seed_pk, 32) != 0)
                rc = keel_error_set(e, KEEL_EFORMAT, "%s does not match %s", pub_path, key_path);
            else if (rc == KEEL_ENOENT)
                rc = create ? write_pub(pub_path, seed_pk, e) : KEEL_OK;
            if (rc != KEEL_OK) {
                sodium_memzero(sk, sizeof sk);
                return rc;
            }
            memcpy(key->sk, sk, 64);
            memcpy(key->pk, seed_pk, 32);
            key->has_secret = true;
            sodium_memzero(sk, sizeof sk);
            return KEEL_OK;
        }
        if (rc != KEEL_ENOENT) return rc;
        rc = read_hex_file(pub_path, pk, 32, e);
        if (rc == KEEL_OK && create && access(key_path, F_OK) == 0)
            continue; /* another process created both since we looked: load its key */
        if (rc == KEEL_OK) {
            memcpy(key->pk, pk, 32); /* verification only */
            return KEEL_OK;
        }
        if (rc != KEEL_ENOENT) return rc;
        if (!create)
            return keel_error_set(e, KEEL_ENOENT, "no audit signing key: neither %s nor %s exists",
                                  key_path, pub_path);
        if ((rc = make_dirs(dir, e)) != KEEL_OK) return rc;
        if ((rc = create_key(key_path, e)) != KEEL_OK) return rc;
    }
    return keel_error_set(e, KEEL_EIO, "%s: the key could not be created", key_path);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

static bool checkpoint_well_formed(const keel_audit_checkpoint *cp)
{
    return cp->seq >= 1 && is_lower_hex(cp->hash, 64) && is_lower_hex(cp->public_key, 64) &&
           is_lower_hex(cp->signature, 128);
}

static size_t checkpoint_message(const keel_audit_checkpoint *cp, char *msg, size_t cap)
{
    int n = snprintf(msg, cap, CHECKPOINT_MAGIC "\n%lld\n%s\n%lld\n", (long long)cp->seq, cp->hash,
                     (long long)cp->time);
    return n < 0 ? 0 : KEEL_MIN((size_t)n, cap - 1);
}

/* True when cp's signature is valid under its own public key. cp is well formed. */
static bool checkpoint_signed(const keel_audit_checkpoint *cp)
{
    unsigned char pk[32], sig[64];
    char msg[160];
    if (!keel_hex_decode(cp->public_key, 64, pk, 32) ||
        !keel_hex_decode(cp->signature, 128, sig, 64))
        return false;
    size_t n = checkpoint_message(cp, msg, sizeof msg);
    return crypto_sign_ed25519_verify_detached(sig, (const unsigned char *)msg, n, pk) == 0;
}

bool audit_checkpoint_valid(const keel_audit_checkpoint *cp, const unsigned char pk[32])
{
    char want[65];
    keel_hex_encode(pk, 32, want);
    return checkpoint_well_formed(cp) && strcmp(cp->public_key, want) == 0 && checkpoint_signed(cp);
}

void audit_checkpoint_sign(keel_audit_checkpoint *cp, int64_t seq, const char hash[65],
                           const keel_audit_key *key)
{
    unsigned char sig[64];
    char msg[160];
    memset(cp, 0, sizeof *cp);
    cp->seq = seq;
    cp->time = keel_wall_micros();
    memcpy(cp->hash, hash, 65);
    keel_hex_encode(key->pk, 32, cp->public_key);
    size_t n = checkpoint_message(cp, msg, sizeof msg);
    crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)msg, n, key->sk);
    keel_hex_encode(sig, 64, cp->signature);
}

/* Reads an exact decimal integer from a JSON number's text (no fraction, no exponent). */
static bool json_int(const keel_json *v, int64_t *out)
{
    if (!v || v->type != KEEL_JSON_NUMBER) return false;
    const char *t = v->u.number.text;
    if (!t || (*t != '-' && (*t < '0' || *t > '9'))) return false;
    for (const char *p = t + (*t == '-'); *p; p++)
        if (*p < '0' || *p > '9') return false;
    errno = 0;
    char *end;
    long long x = strtoll(t, &end, 10);
    if (errno == ERANGE || *end != '\0') return false;
    *out = x;
    return true;
}

static bool json_hex(const keel_json *obj, const char *key, char *out, size_t n)
{
    const keel_json *v = keel_json_get(obj, key);
    if (!v || v->type != KEEL_JSON_STRING || v->u.string.len != n) return false;
    memcpy(out, v->u.string.s, n + 1);
    return is_lower_hex(out, n);
}

int keel_audit_checkpoint_parse(const char *text, size_t n, keel_audit_checkpoint *out,
                                keel_error *e)
{
    memset(out, 0, sizeof *out);
    keel_audit_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return keel_error_set(e, KEEL_ENOMEM, "out of memory reading a checkpoint");
    keel_error pe = {0};
    int rc = keel_json_parse(d, text, n, &pe);
    if (rc == KEEL_ENOMEM) {
        rc = keel_error_set(e, rc, "out of memory reading a checkpoint");
        goto done;
    }
    if (rc != KEEL_OK) {
        rc = keel_error_set(e, KEEL_EFORMAT, "not an audit checkpoint: %s", pe.msg);
        goto done;
    }
    const keel_json *root = keel_json_root(d);
    const char *bad = NULL;
    if (!root || root->type != KEEL_JSON_OBJECT)
        bad = "not a JSON object";
    else if (!json_int(keel_json_get(root, "seq"), &cp.seq) || cp.seq < 1)
        bad = "\"seq\" is not a positive integer";
    else if (!json_int(keel_json_get(root, "time"), &cp.time))
        bad = "\"time\" is not an integer";
    else if (!json_hex(root, "hash", cp.hash, 64))
        bad = "\"hash\" is not 64 lowercase hex digits";
    else if (!json_hex(root, "public_key", cp.public_key, 64))
        bad = "\"public_key\" is not 64 lowercase hex digits";
    else if (!json_hex(root, "signature", cp.signature, 128))
        bad = "\"signature\" is not 128 lowercase hex digits";
    if (bad) {
        rc = keel_error_set(e, KEEL_EFORMAT, "not an audit checkpoint: %s", bad);
        goto done;
    }
    memcpy(out, &cp, sizeof cp); /* every byte, padding included, is defined */
    rc = KEEL_OK;
done:
    keel_json_doc_free(d);
    return rc;
}

int keel_audit_checkpoint_read(const char *path, keel_audit_checkpoint *out, keel_error *e)
{
    memset(out, 0, sizeof *out);
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_file_read(path, CHECKPOINT_FILE_MAX, &b, e);
    if (rc == KEEL_OK) {
        rc = keel_audit_checkpoint_parse(b.data, b.len, out, e);
        if (rc == KEEL_EFORMAT) {
            keel_error pe = e ? *e : (keel_error){0};
            keel_error_set(e, rc, "%s: %s", path, pe.msg);
        }
    } else if (rc == KEEL_ELIMIT) {
        rc = keel_error_set(e, KEEL_EFORMAT, "%s is not an audit checkpoint: larger than %d bytes",
                            path, CHECKPOINT_FILE_MAX);
    }
    keel_buf_free(&b);
    return rc;
}

int audit_head_file_write(const char *path, const keel_audit_checkpoint *cp, bool durable,
                          keel_error *e)
{
    char text[512];
    int n =
        snprintf(text, sizeof text,
                 "{\"seq\":%lld,\"time\":%lld,\"hash\":\"%s\",\"public_key\":\"%s\","
                 "\"signature\":\"%s\"}\n",
                 (long long)cp->seq, (long long)cp->time, cp->hash, cp->public_key, cp->signature);
    return replace_file(path, text, (size_t)n, 0644, durable, e);
}

int keel_audit_checkpoint_json(const keel_audit_checkpoint *c, keel_buf *b)
{
    keel_buf_mark m = keel_buf_begin(b);
    char when[40];
    keel_format_timestamp(c->time, when);
    keel_buf_printf(b,
                    "{\"seq\":%lld,\"time\":%lld,\"time_iso\":\"%s\",\"hash\":\"%s\","
                    "\"public_key\":\"%s\",\"signature\":\"%s\"}",
                    (long long)c->seq, (long long)c->time, when, c->hash, c->public_key,
                    c->signature);
    return keel_buf_end(b, m);
}

/* ---- walking the chain ---------------------------------------------------------------- */

/* The first problem found, by smallest seq. */
typedef struct finding {
    int64_t seq; /* 0: none */
    char reason[256];
} finding;

static void note(finding *f, int64_t seq, const char *fmt, ...) KEEL_PRINTF(3, 4);
static void note(finding *f, int64_t seq, const char *fmt, ...)
{
    if (seq < 1) seq = 1;
    if (f->seq != 0 && f->seq <= seq) return;
    f->seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
}

typedef struct walk {
    int64_t n_events;
    int64_t head_seq;
    finding bad;
} walk;

/* Reads column col as text of *n bytes; false unless it is plain text (not NULL, not a blob,
 * no NUL byte inside), which is all keel ever writes. */
static bool text_col(keel_stmt *st, int col, const char **p, size_t *n)
{
    if (keel_stmt_type(st, col) != KEEL_STORE_TEXT) return false;
    const char *t = keel_stmt_text(st, col);
    keel_stmt_blob(st, col, n); /* the byte count; the text pointer stays valid */
    if (!t || strlen(t) != *n || *n > UINT32_MAX) return false;
    *p = t;
    return true;
}

/* Checks the events with seq >= from in seq order: consecutive seqs, each prev_hash the hash
 * before it, each hash recomputed from the contents. From 1 the first prev_hash must be 64
 * zeros; from a checkpoint (anchor != NULL) the first event must be event `from` with hash
 * anchor, and its own prev_hash is not checked. Stops checking (but keeps counting) at the
 * first problem. */
static int walk_chain(keel_store *s, int64_t from, const char *anchor, int64_t total,
                      const keel_audit_verify_options *opt, walk *w, keel_error *e)
{
    static const char *const names[] = {"actor",   "action",    "object",
                                        "details", "prev_hash", "hash"};
    memset(w, 0, sizeof *w);
    keel_stmt *st;
    int rc = keel_store_query(s, &st,
                              "SELECT " EVENT_COLUMNS " FROM audit_events WHERE seq >= ? "
                              "ORDER BY seq",
                              "i", from);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the events");
    char last[65], hash[65];
    memcpy(last, zero_hash, 65);
    int64_t prev_seq = from - 1;
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        int64_t seq = keel_stmt_int(st, 0);
        w->n_events++;
        w->head_seq = seq;
        if (opt && opt->progress && w->n_events % PROGRESS_EVERY == 0)
            opt->progress(opt->progress_ud, (uint64_t)w->n_events, (uint64_t)total,
                          "verifying the audit trail");
        if (w->bad.seq) continue;
        bool first = w->n_events == 1;
        if (seq <= prev_seq) {
            note(&w->bad, seq,
                 "event %lld comes after event %lld: the sequence is out of order (inserted or "
                 "reordered)",
                 (long long)seq, (long long)prev_seq);
            continue;
        }
        if (seq > prev_seq + 1) {
            /* Events prev_seq + 1 .. seq - 1 are not there. */
            char what[64], where[96];
            if (seq == prev_seq + 2)
                snprintf(what, sizeof what, "event %lld is", (long long)(prev_seq + 1));
            else
                snprintf(what, sizeof what, "events %lld to %lld are", (long long)(prev_seq + 1),
                         (long long)(seq - 1));
            if (prev_seq == 0)
                snprintf(where, sizeof where, "the audit trail starts at event %lld",
                         (long long)seq);
            else
                snprintf(where, sizeof where, "the sequence goes from %lld to %lld",
                         (long long)prev_seq, (long long)seq);
            note(&w->bad, prev_seq + 1, "%s missing (deleted): %s", what, where);
            continue;
        }
        prev_seq = seq;
        const char *f[6];
        size_t len[6];
        int bad_col = -1;
        for (int c = 0; c < 6 && bad_col < 0; c++)
            if (!text_col(st, 2 + c, &f[c], &len[c])) bad_col = c;
        if (bad_col >= 0 || keel_stmt_type(st, 1) != KEEL_STORE_INT) {
            note(&w->bad, seq, "event %lld is malformed: its %s is not %s (edited)", (long long)seq,
                 bad_col >= 0 ? names[bad_col] : "time",
                 bad_col >= 0 ? "plain text" : "an integer");
            continue;
        }
        unsigned char prev[32];
        if (!(anchor && first) && strcmp(f[4], last) != 0) {
            if (seq == 1)
                note(&w->bad, seq,
                     "event 1's prev_hash is not 64 zeros (events inserted or reordered "
                     "before it?)");
            else
                note(&w->bad, seq,
                     "event %lld's prev_hash does not match the hash of event %lld (inserted or "
                     "reordered)",
                     (long long)seq, (long long)(seq - 1));
            continue;
        }
        if (!keel_hex_decode(f[4], len[4], prev, 32)) {
            note(&w->bad, seq, "event %lld is malformed: its prev_hash is not 64 hex digits",
                 (long long)seq);
            continue;
        }
        event_hash(prev, seq, keel_stmt_int(st, 1), f, len, hash);
        if (strcmp(hash, f[5]) != 0) {
            note(&w->bad, seq, "event %lld's hash does not match its contents (edited)",
                 (long long)seq);
            continue;
        }
        if (anchor && first && strcmp(hash, anchor) != 0) {
            note(&w->bad, seq, "event %lld does not match its checkpoint (edited)", (long long)seq);
            continue;
        }
        memcpy(last, hash, 65);
    }
    keel_stmt_finalize(st);
    if (rc < 0) return store_err(s, e, rc, "reading the events");
    if (anchor && w->n_events == 0)
        note(&w->bad, from, "event %lld, named by a checkpoint, is missing (deleted)",
             (long long)from);
    return KEEL_OK;
}

/* ---- checkpoint_now ------------------------------------------------------------------- */

/* Reads st's current row (CHECKPOINT_COLUMNS, in that order) into cp: KEEL_OK, or
 * KEEL_EFORMAT when the row is not a well-formed checkpoint. */
int audit_checkpoint_row(keel_stmt *st, keel_audit_checkpoint *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->seq = keel_stmt_int(st, 0);
    cp->time = keel_stmt_int(st, 2);
    struct {
        int col;
        char *out;
        size_t n;
    } f[3] = {{1, cp->hash, 64}, {3, cp->public_key, 64}, {4, cp->signature, 128}};
    for (int i = 0; i < 3; i++) {
        const char *t;
        size_t len;
        if (!text_col(st, f[i].col, &t, &len) || len != f[i].n) return KEEL_EFORMAT;
        memcpy(f[i].out, t, len + 1);
    }
    if (keel_stmt_type(st, 0) != KEEL_STORE_INT || keel_stmt_type(st, 2) != KEEL_STORE_INT)
        return KEEL_EFORMAT;
    return checkpoint_well_formed(cp) ? KEEL_OK : KEEL_EFORMAT;
}

/* Inside the write transaction: decides what to sign at head (seq, hash). *cp gets an
 * existing checkpoint at the head (*exists true) or nothing. */
static int checkpoint_prepare(keel_store *s, int64_t seq, const char *hash,
                              keel_audit_checkpoint *cp, bool *exists, keel_error *e)
{
    *exists = false;
    int64_t max = 0;
    int rc = keel_store_int(s, &max, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints", NULL);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the checkpoints");
    if (max > seq)
        return keel_error_set(e, KEEL_ESTATE,
                              "refusing to sign a checkpoint: the audit trail ends at event %lld "
                              "but a checkpoint names event %lld (events removed?); run `keel "
                              "audit verify`",
                              (long long)seq, (long long)max);
    keel_stmt *st;
    rc = keel_store_query(s, &st,
                          "SELECT " CHECKPOINT_COLUMNS " FROM audit_checkpoints WHERE seq <= ? "
                          "ORDER BY seq DESC LIMIT 1",
                          "i", seq);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the checkpoints");
    rc = keel_stmt_step(st);
    int64_t from = 1;
    char anchor[65] = "";
    if (rc == KEEL_STORE_ROW) {
        if (audit_checkpoint_row(st, cp) != KEEL_OK) {
            rc = keel_error_set(e, KEEL_ESTATE,
                                "refusing to sign a checkpoint: the checkpoint row at seq %lld is "
                                "damaged; run `keel audit verify`",
                                (long long)keel_stmt_int(st, 0));
        } else if (cp->seq == seq && strcmp(cp->hash, hash) != 0) {
            rc = keel_error_set(e, KEEL_ESTATE,
                                "refusing to sign a checkpoint: event %lld no longer has the hash "
                                "its checkpoint signed (edited?); run `keel audit verify`",
                                (long long)seq);
        } else {
            *exists = cp->seq == seq;
            from = cp->seq;
            memcpy(anchor, cp->hash, 65);
            rc = KEEL_OK;
        }
    } else if (rc == KEEL_STORE_DONE) {
        rc = KEEL_OK;
    } else {
        rc = store_err(s, e, rc, "reading the checkpoints");
    }
    keel_stmt_finalize(st);
    if (rc != KEEL_OK || *exists) return rc;
    memset(cp, 0, sizeof *cp);
    /* Check the events since the previous checkpoint, so that a signature never vouches for
     * a chain that is already broken. */
    walk w;
    if ((rc = walk_chain(s, from, anchor[0] ? anchor : NULL, seq, NULL, &w, e)) != KEEL_OK)
        return rc;
    if (w.bad.seq)
        return keel_error_set(e, KEEL_ESTATE,
                              "refusing to sign a checkpoint: the audit trail is broken at event "
                              "%lld: %s; run `keel audit verify`",
                              (long long)w.bad.seq, w.bad.reason);
    return KEEL_OK;
}

int keel_audit_checkpoint_now(keel_store *s, const keel_audit_key *key, const char *head_file,
                              keel_audit_checkpoint *out, keel_error *e)
{
    keel_audit_checkpoint cp, hf;
    memset(&cp, 0, sizeof cp);
    if (out) memset(out, 0, sizeof *out);
    if (!key || !key->has_secret)
        return keel_error_set(e, KEEL_EINVAL, "signing a checkpoint needs the secret key");
    if (memcmp(key->sk + 32, key->pk, 32) != 0)
        return keel_error_set(e, KEEL_EINVAL, "the audit key's public and secret halves differ");
    if (s->in_transaction)
        return keel_error_set(e, KEEL_ESTATE,
                              "keel_audit_checkpoint_now must be called outside a transaction");
    int rc = crypto_ready(e);
    if (rc != KEEL_OK) return rc;
    if ((rc = keel_store_begin(s)) != KEEL_OK) return store_err(s, e, rc, "starting a checkpoint");
    int64_t seq;
    char hash[65];
    if ((rc = read_head(s, &seq, hash)) != KEEL_OK) {
        rc = store_err(s, e, rc, "reading the head");
        goto fail;
    }
    if (seq == 0) { /* nothing to sign */
        keel_store_rollback(s);
        return KEEL_OK;
    }
    /* The head file: a later checkpoint there means events were removed since; an equal
     * one is kept as it is (never moved backwards or replaced). */
    bool write_file = head_file != NULL;
    if (head_file) {
        keel_error fe;
        rc = keel_audit_checkpoint_read(head_file, &hf, &fe);
        if (rc == KEEL_OK) {
            if (hf.seq > seq || (hf.seq == seq && strcmp(hf.hash, hash) != 0)) {
                rc = keel_error_set(e, KEEL_ESTATE,
                                    "refusing to sign a checkpoint: %s names event %lld %s; run "
                                    "`keel audit verify`",
                                    head_file, (long long)hf.seq,
                                    hf.seq > seq ? "beyond the end of the audit trail (events "
                                                   "removed?)"
                                                 : "with another hash (edited?)");
                goto fail;
            }
            write_file = hf.seq < seq;
        } else if (rc == KEEL_ENOMEM || rc == KEEL_EIO) {
            keel_error_set(e, rc, "%s", fe.msg);
            goto fail;
        } /* missing or damaged: write a fresh one */
    }
    bool exists;
    if ((rc = checkpoint_prepare(s, seq, hash, &cp, &exists, e)) != KEEL_OK) goto fail;
    if (!exists) {
        audit_checkpoint_sign(&cp, seq, hash, key);
        rc = keel_store_run(
            s, "INSERT INTO audit_checkpoints(" CHECKPOINT_COLUMNS ") VALUES (?, ?, ?, ?, ?)",
            "isiss", cp.seq, (const char *)cp.hash, cp.time, (const char *)cp.public_key,
            (const char *)cp.signature);
        if (rc != KEEL_OK) {
            rc = store_err(s, e, rc, "storing the checkpoint");
            goto fail;
        }
    }
    /* Written while the write lock is held, so concurrent checkpointers take turns. */
    if (write_file && (rc = audit_head_file_write(head_file, &cp, true, e)) != KEEL_OK) goto fail;
    if ((rc = keel_store_commit(s)) != KEEL_OK) {
        rc = store_err(s, e, rc, "committing the checkpoint");
        goto fail;
    }
    if (out) *out = cp;
    return KEEL_OK;
fail:
    keel_store_rollback(s);
    return rc;
}

/* ---- verification ---------------------------------------------------------------------- */

typedef struct cp_check {
    const keel_audit_verify_options *opt;
    char want_pk[65];  /* hex of opt->public_key, or "" */
    keel_stmt *lookup; /* SELECT hash FROM audit_events WHERE seq = ? */
    finding bad;
    int64_t n;
    int64_t best;        /* newest checkpoint that verified */
    int64_t missing_min; /* checkpoints whose event is not there (0: none) */
    int64_t missing_max;
    char missing_src[32];
    int64_t table_seq; /* the highest seq read from the table */
} cp_check;

/* Checks one checkpoint from source ("checkpoint table", "head file", "external
 * checkpoint"): well formed, signed (by the wanted key), and its event has the signed hash. */
static int check_checkpoint(keel_store *s, cp_check *c, const keel_audit_checkpoint *cp,
                            const char *source, keel_error *e)
{
    c->n++;
    if (!checkpoint_well_formed(cp)) {
        note(&c->bad, cp->seq, "the %s's checkpoint at seq %lld is malformed", source,
             (long long)cp->seq);
        return KEEL_OK;
    }
    if (c->want_pk[0] && strcmp(cp->public_key, c->want_pk) != 0) {
        note(&c->bad, cp->seq,
             "the %s's checkpoint at seq %lld is signed by another key (%.16s..., expected "
             "%.16s...)",
             source, (long long)cp->seq, cp->public_key, c->want_pk);
        return KEEL_OK;
    }
    if (!checkpoint_signed(cp)) {
        note(&c->bad, cp->seq,
             "the %s's checkpoint at seq %lld has an invalid signature (forged or damaged)", source,
             (long long)cp->seq);
        return KEEL_OK;
    }
    int rc = keel_stmt_reset(c->lookup);
    if (rc == KEEL_OK) rc = keel_stmt_bind_int(c->lookup, 1, cp->seq);
    if (rc == KEEL_OK) rc = keel_stmt_step(c->lookup);
    if (rc == KEEL_STORE_ROW) {
        const char *h = keel_stmt_text(c->lookup, 0);
        if (h && strcmp(h, cp->hash) == 0) {
            c->best = KEEL_MAX(c->best, cp->seq);
        } else {
            note(&c->bad, cp->seq,
                 "event %lld does not have the hash its checkpoint (%s) signed (edited or "
                 "replaced)",
                 (long long)cp->seq, source);
        }
    } else if (rc == KEEL_STORE_DONE) {
        if (c->missing_min == 0 || cp->seq < c->missing_min) c->missing_min = cp->seq;
        if (cp->seq > c->missing_max) {
            c->missing_max = cp->seq;
            snprintf(c->missing_src, sizeof c->missing_src, "%s", source);
        }
    } else {
        return store_err(s, e, rc, "looking up a checkpoint's event");
    }
    keel_stmt_reset(c->lookup);
    return KEEL_OK;
}

/* Checks the table's checkpoints with from < seq <= to. */
static int check_table(keel_store *s, cp_check *c, int64_t from, int64_t to, keel_error *e)
{
    keel_stmt *st;
    int rc = keel_store_query(s, &st,
                              "SELECT " CHECKPOINT_COLUMNS " FROM audit_checkpoints "
                              "WHERE seq > ? AND seq <= ? ORDER BY seq",
                              "ii", from, to);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the checkpoints");
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        keel_audit_checkpoint cp;
        c->table_seq = KEEL_MAX(c->table_seq, keel_stmt_int(st, 0));
        if (audit_checkpoint_row(st, &cp) != KEEL_OK) {
            c->n++;
            note(&c->bad, keel_stmt_int(st, 0),
                 "the checkpoint table's row at seq %lld is malformed",
                 (long long)keel_stmt_int(st, 0));
            continue;
        }
        if ((rc = check_checkpoint(s, c, &cp, "checkpoint table", e)) != KEEL_OK) goto done;
    }
    rc = rc < 0 ? store_err(s, e, rc, "reading the checkpoints") : KEEL_OK;
done:
    keel_stmt_finalize(st);
    return rc;
}

typedef struct witness_check {
    keel_store *s;
    cp_check *c;
    keel_error *e;
} witness_check;

static int check_witness_line(void *ud, const keel_audit_checkpoint *cp, bool ok, int64_t line)
{
    witness_check *w = ud;
    if (!ok) {
        w->c->n++;
        /* No seq to name: it sorts after every event, so it is reported at head + 1 unless
         * something earlier is wrong. */
        note(&w->c->bad, INT64_MAX, "the witness's line %lld is not a checkpoint (damaged)",
             (long long)line);
        return KEEL_OK;
    }
    return check_checkpoint(w->s, w->c, cp, "witness", w->e);
}

int keel_audit_verify(keel_store *s, const keel_audit_verify_options *opt,
                      keel_audit_verify_result *res, keel_error *e)
{
    memset(res, 0, sizeof *res);
    keel_audit_verify_options none;
    memset(&none, 0, sizeof none);
    if (!opt) opt = &none;
    int rc = crypto_ready(e);
    if (rc != KEEL_OK) return rc;
    if (opt->external && !checkpoint_well_formed(opt->external))
        return keel_error_set(e, KEEL_EINVAL, "the external checkpoint is malformed");
    keel_audit_checkpoint head_cp;
    bool have_head = false;
    if (opt->head_file) {
        rc = keel_audit_checkpoint_read(opt->head_file, &head_cp, e);
        if (rc == KEEL_OK)
            have_head = true;
        else if (rc != KEEL_ENOENT) /* no head file yet: nothing was ever checkpointed there */
            return rc;
    }

    cp_check c;
    memset(&c, 0, sizeof c);
    c.opt = opt;
    if (opt->public_key) keel_hex_encode(opt->public_key, 32, c.want_pk);
    rc = keel_store_prepare(s, "SELECT hash FROM audit_events WHERE seq = ?", &c.lookup);
    if (rc != KEEL_OK) return store_err(s, e, rc, "preparing the verification");
    /* Checkpoints first, the chain after: see the note at the top of the file. */
    if (opt->external && (rc = check_checkpoint(s, &c, opt->external, "external checkpoint", e)))
        goto done;
    if (have_head && (rc = check_checkpoint(s, &c, &head_cp, "head file", e))) goto done;
    bool witness_missing = false;
    if (opt->witness) {
        witness_check wc = {s, &c, e};
        keel_error we = {0};
        rc = keel_audit_witness_each(opt->witness, check_witness_line, &wc, &we);
        if (rc == KEEL_ENOENT) {
            witness_missing = true;
        } else if (rc != KEEL_OK) {
            if (we.msg[0]) keel_error_set(e, rc, "%s", we.msg);
            goto done;
        }
    }
    if ((rc = check_table(s, &c, 0, INT64_MAX, e)) != KEEL_OK) goto done;

    int64_t total = 0;
    rc = keel_store_int(s, &total, "SELECT coalesce(max(seq), 0) FROM audit_events", NULL);
    if (rc != KEEL_OK) {
        rc = store_err(s, e, rc, "reading the events");
        goto done;
    }
    walk w;
    if ((rc = walk_chain(s, 1, NULL, total, opt, &w, e)) != KEEL_OK) goto done;
    if (opt->progress)
        opt->progress(opt->progress_ud, (uint64_t)w.n_events, (uint64_t)w.n_events,
                      "verifying the audit trail");

    if (c.missing_min) {
        if (c.missing_min <= w.head_seq)
            note(&c.bad, c.missing_min, "event %lld, named by a checkpoint, is missing (deleted)",
                 (long long)c.missing_min);
        else if (w.head_seq > 0)
            note(&c.bad, w.head_seq + 1,
                 "truncated: the %s names event %lld but the audit trail ends at event %lld "
                 "(the last events were removed)",
                 c.missing_src, (long long)c.missing_max, (long long)w.head_seq);
        else
            note(&c.bad, 1,
                 "truncated: the %s names event %lld but the audit trail is empty (every event "
                 "was removed)",
                 c.missing_src, (long long)c.missing_max);
    }
    if (opt->require_anchor && w.head_seq > 0) {
        /* The checkpoints were read before the events: a writer may have committed more of
         * both since, and its checkpoints are in the table by now (same transaction). */
        if (c.best < w.head_seq && c.table_seq < w.head_seq &&
            (rc = check_table(s, &c, c.table_seq, w.head_seq, e)) != KEEL_OK)
            goto done;
        /* The least specific finding: said only when nothing more precise was. */
        if (c.best < w.head_seq && !c.bad.seq && !c.missing_min && !w.bad.seq)
            note(&c.bad, c.best + 1,
                 "events %lld to %lld are not covered by a signed checkpoint (appended outside "
                 "keel, or their checkpoints deleted)",
                 (long long)(c.best + 1), (long long)w.head_seq);
        int64_t n_table = 0;
        if (opt->head_file && !have_head &&
            (rc = keel_store_int(s, &n_table, "SELECT count(*) FROM audit_checkpoints", NULL)) !=
                KEEL_OK) {
            rc = store_err(s, e, rc, "reading the checkpoints");
            goto done;
        }
        if (opt->head_file && !have_head && n_table > 1)
            note(&c.bad, w.head_seq + 1,
                 "the head file %s is missing while the registry has %lld checkpoints: the "
                 "newest events may have been cut off with it",
                 opt->head_file, (long long)n_table);
    }
    if (witness_missing && w.head_seq > 0)
        note(&c.bad, w.head_seq + 1, "the witness %s is missing", opt->witness);
    const finding *f = NULL;
    if (w.bad.seq && (!c.bad.seq || w.bad.seq <= c.bad.seq))
        f = &w.bad;
    else if (c.bad.seq)
        f = &c.bad;
    res->n_events = w.n_events;
    res->head_seq = w.head_seq;
    res->n_checkpoints = c.n;
    res->checkpoint_seq = c.best;
    res->ok = f == NULL;
    if (f) {
        res->first_bad = KEEL_MIN(f->seq, w.head_seq + 1);
        snprintf(res->reason, sizeof res->reason, "%s", f->reason);
    }
    rc = KEEL_OK;
done:
    keel_stmt_finalize(c.lookup);
    return rc;
}

/* ---- export -------------------------------------------------------------------------- */

/* RFC 4180: a field with a comma, a quote, CR or LF is quoted, its quotes doubled. */
static int csv_field(keel_buf *b, const char *s, size_t n, bool last)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    int rc = KEEL_OK;
    if (!quote) {
        rc = keel_buf_append(b, s, n);
    } else {
        rc = keel_buf_putc(b, '"');
        for (size_t i = 0; i < n && rc == KEEL_OK; i++) {
            size_t j = i;
            while (j < n && s[j] != '"')
                j++;
            rc = keel_buf_append(b, s + i, j - i);
            if (rc == KEEL_OK && j < n) rc = keel_buf_append(b, "\"\"", 2);
            i = j;
        }
        if (rc == KEEL_OK) rc = keel_buf_putc(b, '"');
    }
    if (rc == KEEL_OK) rc = last ? keel_buf_append(b, "\r\n", 2) : keel_buf_putc(b, ',');
    return rc;
}

/* details as a JSON value: the stored text itself when it is valid JSON (keel wrote it), with
 * any CR or LF turned into spaces (outside strings they are whitespace, and inside a valid
 * string they cannot occur raw), so that the record stays on one line; otherwise, when the
 * text was tampered with, as a JSON string, so that the output stays valid JSON. */
static int json_details(keel_buf *b, keel_json_doc *d, const char *s, size_t n)
{
    int rc = keel_json_parse(d, s, n, NULL);
    if (rc == KEEL_ENOMEM) return rc;
    if (rc != KEEL_OK) return keel_buf_json_str(b, s, n);
    size_t at = b->len;
    if ((rc = keel_buf_append(b, s, n)) != KEEL_OK) return rc;
    for (size_t i = at; i < b->len; i++)
        if (b->data[i] == '\n' || b->data[i] == '\r') b->data[i] = ' ';
    return KEEL_OK;
}

static int format_event(keel_buf *b, keel_json_doc *d, int format, keel_stmt *st)
{
    static const char *const keys[] = {"actor", "action", "object", "details", "prev_hash", "hash"};
    int64_t seq = keel_stmt_int(st, 0), us = keel_stmt_int(st, 1);
    char when[40];
    keel_format_timestamp(us, when);
    const char *f[6];
    size_t len[6];
    for (int c = 0; c < 6; c++) {
        f[c] = keel_stmt_text(st, 2 + c);
        keel_stmt_blob(st, 2 + c, &len[c]);
        if (!f[c]) f[c] = "", len[c] = 0;
    }
    keel_buf_reset(b);
    int rc;
    if (format == KEEL_AUDIT_CSV) {
        rc = keel_buf_printf(b, "%lld,%s,%lld,", (long long)seq, when, (long long)us);
        for (int c = 0; c < 6 && rc == KEEL_OK; c++)
            rc = csv_field(b, f[c], len[c], c == 5);
        return rc;
    }
    rc = keel_buf_printf(b, "{\"seq\":%lld,\"time\":\"%s\",\"time_us\":%lld", (long long)seq, when,
                         (long long)us);
    for (int c = 0; c < 6 && rc == KEEL_OK; c++) {
        rc = keel_buf_printf(b, ",\"%s\":", keys[c]);
        if (rc != KEEL_OK) break;
        rc = c == 3 ? json_details(b, d, f[c], len[c]) : keel_buf_json_str(b, f[c], len[c]);
    }
    if (rc == KEEL_OK) rc = keel_buf_append(b, "}\n", 2);
    return rc;
}

int keel_audit_export(keel_store *s, int64_t since, int format, keel_write_fn write, void *ud,
                      int64_t *n_out, keel_error *e)
{
    if (n_out) *n_out = 0;
    if ((format != KEEL_AUDIT_JSONL && format != KEEL_AUDIT_CSV) || !write)
        return keel_error_set(e, KEEL_EINVAL, "audit export: bad format or no writer");
    keel_buf b;
    keel_buf_init(&b);
    keel_json_doc *d = NULL;
    keel_stmt *st = NULL;
    int64_t n = 0;
    int rc;
    if (format == KEEL_AUDIT_JSONL && !(d = keel_json_doc_new())) {
        rc = keel_error_set(e, KEEL_ENOMEM, "out of memory exporting the audit trail");
        goto done;
    }
    if (since != 0)
        rc = keel_store_query(s, &st,
                              "SELECT " EVENT_COLUMNS " FROM audit_events WHERE time >= ? "
                              "ORDER BY seq",
                              "i", since);
    else
        rc = keel_store_prepare(s, "SELECT " EVENT_COLUMNS " FROM audit_events ORDER BY seq", &st);
    if (rc != KEEL_OK) {
        rc = store_err(s, e, rc, "exporting");
        goto done;
    }
    if (format == KEEL_AUDIT_CSV) {
        static const char header[] =
            "seq,time,time_us,actor,action,object,details,prev_hash,hash\r\n";
        if (write(ud, header, sizeof header - 1) != 0) {
            rc = keel_error_set(e, KEEL_EIO, "audit export: the writer failed");
            goto done;
        }
    }
    while ((rc = keel_stmt_step(st)) == KEEL_STORE_ROW) {
        if ((rc = format_event(&b, d, format, st)) != KEEL_OK) {
            rc = keel_error_set(e, rc, "out of memory exporting the audit trail");
            goto done;
        }
        if (write(ud, b.data, b.len) != 0) {
            rc = keel_error_set(e, KEEL_EIO, "audit export: the writer failed at event %lld",
                                (long long)keel_stmt_int(st, 0));
            goto done;
        }
        n++;
    }
    if (rc < 0) {
        rc = store_err(s, e, rc, "exporting");
        goto done;
    }
    rc = KEEL_OK;
    if (n_out) *n_out = n;
done:
    keel_stmt_finalize(st);
    keel_json_doc_free(d);
    keel_buf_free(&b);
    return rc;
}

int keel_audit_verify_result_json(const keel_audit_verify_result *r, keel_buf *b)
{
    keel_buf_mark m = keel_buf_begin(b);
    keel_buf_printf(b,
                    "{\"ok\":%s,\"events\":%lld,\"head_seq\":%lld,\"first_bad\":%lld,"
                    "\"checkpoints\":%lld,\"checkpoint_seq\":%lld,\"reason\":",
                    r->ok ? "true" : "false", (long long)r->n_events, (long long)r->head_seq,
                    (long long)r->first_bad, (long long)r->n_checkpoints,
                    (long long)r->checkpoint_seq);
    keel_buf_json_str(b, r->reason, strlen(r->reason));
    keel_buf_putc(b, '}');
    return keel_buf_end(b, m);
}
