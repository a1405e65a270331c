/*
 * anchor.c — no unanchored chain: every transaction that appends audit events signs a
 * checkpoint of its new head before it commits, and nobody builds on a head that no valid
 * checkpoint covers; after the commit the checkpoint goes to the head file and to a witness.
 *
 * Why in the same transaction: the events and the signature that vouches for them commit
 * together or not at all, so "an event no valid checkpoint covers" has exactly one meaning —
 * it was not written by keel (or its checkpoint was removed) — and verification can call it
 * tampering instead of guessing whether a command crashed before it signed. A crash can
 * still fall between the commit and the two files written after it; they then lag by one
 * checkpoint, which is allowed (the checkpoint row covers the events), and the next writer
 * moves them forward.
 *
 * Before a writer signs, keel_audit_anchored checks the head it built on: the newest
 * checkpoint row is at that event, signed by this registry's key, and the event still hashes
 * to what was signed; the head file is there (unless the registry has had only its first
 * transaction) and names no event beyond that head. Its cost is bounded: two indexed reads, a
 * small file, one signature verification and one SHA-256 of one event, whatever the length
 * of the chain; deeper damage is what `keel audit verify` finds.
 *
 * The head file can only lag, never lead, so a rolled-back copy of it (or one an attacker
 * writes from a checkpoint row) looks like a lagging one: it catches removal and a tail cut
 * without touching it, not an attacker who rewrites KEEL_HOME consistently. The witness is
 * for that: an append-only file on another volume, one JSON line per checkpoint, which the
 * attacker of KEEL_HOME cannot shorten.
 */
#include "registry/audit_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFUSE "refusing to extend the audit trail: "
#define ADVICE "; run `keel audit verify`"

static int store_err(keel_store *s, keel_error *e, int rc, const char *what)
{
    if (rc == KEEL_ENOMEM) return keel_error_set(e, rc, "out of memory while %s", what);
    return keel_error_set(e, rc < 0 ? rc : KEEL_EIO, "audit trail: %s: %s", what,
                          keel_store_errmsg(s));
}

/* Checks that event seq is there, hashes to its stored hash, and that hash is want. */
static int event_matches(keel_store *s, int64_t seq, const char *want, const char *what,
                         keel_error *e)
{
    keel_stmt *st;
    int rc = keel_store_query(s, &st,
                              "SELECT time, actor, action, object, details, prev_hash, hash "
                              "FROM audit_events WHERE seq = ?",
                              "i", seq);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading an event");
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_DONE) {
        rc = keel_error_set(e, KEEL_ESTATE, REFUSE "event %lld, named by the %s, is missing" ADVICE,
                            (long long)seq, what);
    } else if (rc == KEEL_STORE_ROW) {
        const char *f[6];
        for (int c = 0; c < 6; c++)
            f[c] = keel_stmt_text(st, 1 + c);
        char hash[65] = "";
        bool ok = f[0] && f[1] && f[2] && f[3] && f[4] && f[5] &&
                  keel_stmt_type(st, 0) == KEEL_STORE_INT &&
                  keel_audit_hash(f[4], seq, keel_stmt_int(st, 0), f[0], f[1], f[2], f[3], hash) ==
                      KEEL_OK &&
                  strcmp(hash, f[5]) == 0;
        if (!ok)
            rc =
                keel_error_set(e, KEEL_ESTATE,
                               REFUSE "event %lld does not hash to its stored hash (edited)" ADVICE,
                               (long long)seq);
        else if (strcmp(hash, want) != 0)
            rc = keel_error_set(e, KEEL_ESTATE,
                                REFUSE "event %lld does not have the hash the %s signed (edited or "
                                       "replaced)" ADVICE,
                                (long long)seq, what);
        else
            rc = KEEL_OK;
    } else {
        rc = store_err(s, e, rc, "reading an event");
    }
    keel_stmt_finalize(st);
    return rc;
}

/* The newest checkpoint row into *cp (*found false when the table is empty), and how many
 * rows there are, up to 2. */
static int newest_checkpoint(keel_store *s, keel_audit_checkpoint *cp, bool *found, int64_t *n,
                             keel_error *e)
{
    *found = false;
    /* Whether there are more than one, not how many: count(*) would read every row. */
    int rc = keel_store_int(s, n, "SELECT count(*) FROM (SELECT 1 FROM audit_checkpoints LIMIT 2)",
                            NULL);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the checkpoints");
    keel_stmt *st;
    rc = keel_store_prepare(s,
                            "SELECT seq, hash, time, public_key, signature FROM audit_checkpoints "
                            "ORDER BY seq DESC LIMIT 1",
                            &st);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the checkpoints");
    rc = keel_stmt_step(st);
    if (rc == KEEL_STORE_ROW) {
        *found = true;
        rc = audit_checkpoint_row(st, cp);
        if (rc != KEEL_OK)
            rc = keel_error_set(e, KEEL_ESTATE,
                                REFUSE "the newest checkpoint row (seq %lld) is damaged" ADVICE,
                                (long long)keel_stmt_int(st, 0));
    } else if (rc == KEEL_STORE_DONE) {
        rc = KEEL_OK;
    } else {
        rc = store_err(s, e, rc, "reading the checkpoints");
    }
    keel_stmt_finalize(st);
    return rc;
}

int keel_audit_anchored(keel_store *s, const unsigned char pk[32], const char *head_file,
                        int64_t upto, keel_error *e)
{
    keel_audit_checkpoint cp;
    bool found;
    int64_t n_cp = 0;
    int rc = newest_checkpoint(s, &cp, &found, &n_cp, e);
    if (rc != KEEL_OK) return rc;
    if (found && cp.seq > upto)
        return keel_error_set(e, KEEL_ESTATE,
                              REFUSE "a checkpoint names event %lld but the audit trail ends at "
                                     "event %lld (events removed?)" ADVICE,
                              (long long)cp.seq, (long long)upto);
    if (upto > 0) {
        if (!found)
            return keel_error_set(e, KEEL_ESTATE,
                                  REFUSE "events 1 to %lld are not covered by any signed "
                                         "checkpoint (appended outside keel, or the checkpoints "
                                         "deleted)" ADVICE,
                                  (long long)upto);
        if (cp.seq < upto)
            return keel_error_set(e, KEEL_ESTATE,
                                  REFUSE "events %lld to %lld are not covered by a signed "
                                         "checkpoint (appended outside keel?)" ADVICE,
                                  (long long)(cp.seq + 1), (long long)upto);
        if (!audit_checkpoint_valid(&cp, pk))
            return keel_error_set(e, KEEL_ESTATE,
                                  REFUSE "the checkpoint of event %lld is not signed by this "
                                         "registry's key (forged, or made with another key)" ADVICE,
                                  (long long)cp.seq);
        if ((rc = event_matches(s, upto, cp.hash, "newest checkpoint", e)) != KEEL_OK) return rc;
    }
    if (!head_file) return KEEL_OK;
    keel_audit_checkpoint hf;
    keel_error fe = {0};
    rc = keel_audit_checkpoint_read(head_file, &hf, &fe);
    if (rc == KEEL_ENOENT) {
        /* Only the registry's first transaction can have committed without its head file
         * being written (a crash right after); any later one found the file there. */
        if (n_cp <= 1) return KEEL_OK;
        return keel_error_set(e, KEEL_ESTATE,
                              REFUSE "%s is missing while the registry has signed more than one "
                                     "checkpoint (the newest events may have been cut off with "
                                     "it)" ADVICE,
                              head_file);
    }
    if (rc == KEEL_EFORMAT) return keel_error_set(e, KEEL_ESTATE, REFUSE "%s" ADVICE, fe.msg);
    if (rc != KEEL_OK) return keel_error_set(e, rc, "%s", fe.msg);
    if (hf.seq > upto)
        return keel_error_set(e, KEEL_ESTATE,
                              REFUSE "%s names event %lld beyond the end of the audit trail "
                                     "(%lld; events removed?)" ADVICE,
                              head_file, (long long)hf.seq, (long long)upto);
    return event_matches(s, hf.seq, hf.hash, "head file", e);
}

int keel_audit_anchor(keel_store *s, const keel_audit_key *key, const char *head_file,
                      int64_t first, bool adopt, keel_audit_checkpoint *out, keel_error *e)
{
    memset(out, 0, sizeof *out);
    if (!s->in_transaction)
        return keel_error_set(e, KEEL_ESTATE, "keel_audit_anchor needs the open write transaction");
    if (!key || !key->has_secret)
        return keel_error_set(e, KEEL_EPERM,
                              "changing the registry needs the audit signing key's secret half, "
                              "which is not there");
    int64_t head;
    char hash[65];
    int rc = keel_audit_head(s, &head, hash);
    if (rc != KEEL_OK) return store_err(s, e, rc, "reading the head");
    if (head == 0) return KEEL_OK;
    if (!adopt && first > 0 && (rc = keel_audit_anchored(s, key->pk, head_file, first - 1, e)))
        return rc;
    keel_audit_checkpoint cp;
    audit_checkpoint_sign(&cp, head, hash, key);
    rc = keel_store_run(s,
                        "INSERT INTO audit_checkpoints(seq, hash, time, public_key, signature) "
                        "VALUES (?, ?, ?, ?, ?)",
                        "isiss", cp.seq, (const char *)cp.hash, cp.time,
                        (const char *)cp.public_key, (const char *)cp.signature);
    if (rc != KEEL_OK) return store_err(s, e, rc, "storing the checkpoint");
    *out = cp;
    return KEEL_OK;
}

/* The directory holding path, opened for flock. */
static int open_parent(const char *path, keel_error *e)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return keel_error_set(e, KEEL_EINVAL, "%s: path too long", path);
    memcpy(dir, !slash ? "." : path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return keel_error_set(e, KEEL_EIO, "%s: %s", dir, strerror(errno));
    return fd;
}

static int append_witness(const char *witness, const keel_audit_checkpoint *cp, keel_error *e)
{
    keel_buf b;
    keel_buf_init(&b);
    if (keel_audit_checkpoint_json(cp, &b) != KEEL_OK || keel_buf_putc(&b, '\n') != KEEL_OK) {
        keel_buf_free(&b);
        return keel_error_set(e, KEEL_ENOMEM, "out of memory writing the witness");
    }
    bool existed = access(witness, F_OK) == 0;
    int rc = KEEL_OK;
    int fd = open(witness, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    /* One write() of one line: O_APPEND puts it at the end whole, whoever else appends. */
    if (fd < 0 || audit_write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0)
        rc = keel_error_set(e, KEEL_EIO, "the audit witness %s: %s", witness, strerror(errno));
    if (fd >= 0) close(fd);
    if (rc == KEEL_OK && !existed) rc = audit_fsync_parent(witness, e);
    keel_buf_free(&b);
    return rc;
}

int keel_audit_publish(const keel_audit_checkpoint *cp, const char *head_file, const char *witness,
                       keel_error *e)
{
    if (cp->seq == 0 || (!head_file && !witness)) return KEEL_OK;
    /* Publishers run after their commits, so without the lock two of them could write the
     * head file in the opposite order of their checkpoints. */
    int lock = open_parent(head_file ? head_file : witness, e);
    if (lock < 0) return lock;
    int rc = KEEL_OK;
    while (flock(lock, LOCK_EX) != 0)
        if (errno != EINTR) {
            rc = keel_error_set(e, KEEL_EIO, "locking the audit head: %s", strerror(errno));
            goto done;
        }
    if (head_file) {
        keel_audit_checkpoint hf;
        keel_error fe = {0};
        int r = keel_audit_checkpoint_read(head_file, &hf, &fe);
        if (r == KEEL_ENOMEM || r == KEEL_EIO) {
            rc = keel_error_set(e, r, "%s", fe.msg);
            goto done;
        }
        /* The rename is made durable only when it creates the file: a rename lost to a power
         * failure leaves the previous head file, which only lags, as after a crash; an fsync
         * of the directory on every write would double the cost of a write for nothing. */
        if ((r != KEEL_OK || hf.seq < cp->seq) &&
            (rc = audit_head_file_write(head_file, cp, r == KEEL_ENOENT, e)) != KEEL_OK)
            goto done;
    }
    if (witness) rc = append_witness(witness, cp, e);
done:
    close(lock); /* releases the lock */
    return rc;
}

int keel_audit_witness_each(const char *path, keel_audit_witness_fn fn, void *ud, keel_error *e)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return keel_error_set(e, KEEL_ENOENT, "the audit witness %s is missing", path);
        return keel_error_set(e, KEEL_EIO, "the audit witness %s: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t no = 0;
    int rc = KEEL_OK;
    while (rc == KEEL_OK && (n = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[n - 1] != '\n') break; /* the last line, torn by a crash: not written yet */
        keel_audit_checkpoint cp;
        keel_error pe;
        bool ok = keel_audit_checkpoint_parse(line, (size_t)n - 1, &cp, &pe) == KEEL_OK;
        rc = fn(ud, &cp, ok, no);
    }
    if (rc == KEEL_OK && ferror(f))
        rc = keel_error_set(e, KEEL_EIO, "the audit witness %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}
