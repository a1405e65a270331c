/*
 * audit.h — the hash-chained audit trail: append, verify, signed checkpoints, export.
 *
 * Every mutating registry action appends one event in the same transaction as the change,
 * so the trail and the data can never disagree. An event is
 *     seq (1, 2, 3, ... with no gaps), time (µs since the epoch, UTC), actor, action
 *     (e.g. "model.alias.set"), object (e.g. "model:churn:3"), details (a JSON object),
 *     prev_hash (the previous event's hash; 64 zeros for seq 1), hash
 * and its hash is SHA-256 over prev_hash's 32 bytes followed by the canonical encoding
 *     u64be(seq) i64be(time) lp(actor) lp(action) lp(object) lp(details)
 * where lp(s) is u32be(byte length of s) followed by the bytes of s. Hashes are stored as
 * lowercase hex. docs/registry.md states the same, so an auditor can re-check the chain with
 * any SHA-256 tool.
 *
 * The chain alone shows any edited, deleted, reordered or inserted event, but not a cut-off
 * tail (drop the last k events and what is left is a valid chain). Signed checkpoints close
 * that gap: a checkpoint is (seq, hash of event seq, time) signed with Ed25519. Checkpoints
 * are kept in the table audit_checkpoints and the newest is also written to a file outside
 * the database (KEEL_HOME/audit-head.json), so cutting the tail of the database is caught
 * unless the attacker also holds the signing key or rolls back that file too; for the
 * strongest guarantee an auditor keeps a checkpoint elsewhere and verifies against it.
 *
 * Functions take a keel_store the registry opened; none opens transactions except where
 * said. Not thread-safe beyond the store's own rule (one thread per store).
 */
#ifndef KEEL_REGISTRY_AUDIT_H
#define KEEL_REGISTRY_AUDIT_H

#include "registry/store.h"

/* One event as read back (strings borrowed from the reader, valid until the next event). */
typedef struct keel_audit_event {
    int64_t seq;
    int64_t time; /* µs since the epoch, UTC */
    const char *actor;
    const char *action;
    const char *object;
    const char *details; /* JSON object text */
    const char *prev_hash;
    const char *hash;
} keel_audit_event;

/* Computes an event's hash (hex) from prev_hash (hex) and its fields, as described above.
 * Returns KEEL_EINVAL if prev_hash is not 64 hex digits. */
int keel_audit_hash(const char *prev_hash_hex, int64_t seq, int64_t time, const char *actor,
                    const char *action, const char *object, const char *details, char hash_hex[65]);

/* Appends an event. Must be called inside a write transaction (keel_store_begin) of the
 * store, so the event commits or rolls back with the change it records. details may be NULL
 * (stored as "{}"); it must otherwise be a JSON object (not checked here). time 0 means now.
 * *seq_out, if not NULL, gets the event's sequence number. Errors: the store's codes; the
 * message is on the store. */
int keel_audit_append(keel_store *s, int64_t time, const char *actor, const char *action,
                      const char *object, const char *details, int64_t *seq_out);

/* The head of the chain: the last seq (0 when empty) and its hash (64 zeros when empty). */
int keel_audit_head(keel_store *s, int64_t *seq, char hash_hex[65]);

/* ---- signing keys ---------------------------------------------------------------------
 * An Ed25519 key pair: 32-byte public key, 64-byte secret key (libsodium's layout). */
typedef struct keel_audit_key {
    unsigned char pk[32];
    unsigned char sk[64];
    bool has_secret;
} keel_audit_key;

/* Loads the key pair from dir (KEEL_HOME/keys: audit.key, mode 0600, and audit.pub), or
 * creates it there when neither file exists (create != 0). A public key alone is enough for
 * verifying (has_secret false). KEEL_ENOENT when missing and create is 0; KEEL_EFORMAT when
 * a file is damaged; KEEL_EIO with the path when it cannot be read or written. */
int keel_audit_key_load(const char *dir, int create, keel_audit_key *key, keel_error *e);
/* The same from the files key_path (the secret key) and pub_path (its public half), for a key
 * kept outside KEEL_HOME; creates them (and missing directories, mode 0700) when neither
 * exists and create != 0. Both functions refuse a secret key file that group or others may
 * access (mode & 077) with KEEL_EPERM and a message saying to `chmod 600` it. */
int keel_audit_key_load_file(const char *key_path, const char *pub_path, int create,
                             keel_audit_key *key, keel_error *e);

/* ---- checkpoints ---------------------------------------------------------------------- */
typedef struct keel_audit_checkpoint {
    int64_t seq;
    int64_t time;
    char hash[65];       /* hex hash of event seq */
    char public_key[65]; /* hex */
    char signature[129]; /* hex Ed25519 signature over the message below */
} keel_audit_checkpoint;
/* The signed message is the text "keel-audit-checkpoint-v1\n<seq>\n<hash>\n<time>\n". */

/* Signs the current head (nothing when the chain is empty or the head is already the newest
 * checkpoint), stores it in audit_checkpoints and, when head_file is not NULL, writes it there
 * as one JSON object (write to a temporary file, fsync, rename). Opens and commits its own
 * write transaction, so it must be called outside one. *out, if not NULL, gets the
 * checkpoint (seq 0 when the chain is empty). */
int keel_audit_checkpoint_now(keel_store *s, const keel_audit_key *key, const char *head_file,
                              keel_audit_checkpoint *out, keel_error *e);

/* Reads a checkpoint written by keel_audit_checkpoint_now (or exported by an auditor) from
 * a JSON file. KEEL_ENOENT when missing, KEEL_EFORMAT when not a checkpoint. */
int keel_audit_checkpoint_read(const char *path, keel_audit_checkpoint *out, keel_error *e);
/* The same from text[0..n) in memory (need not be NUL-terminated). Checks the form only
 * (seq >= 1, integer time, lowercase hex of the right lengths; unknown keys are ignored),
 * not the signature. KEEL_EFORMAT when not a checkpoint, KEEL_ENOMEM; *out zeroed on
 * failure. Thread-safe. */
int keel_audit_checkpoint_parse(const char *text, size_t n, keel_audit_checkpoint *out,
                                keel_error *e);

/* A checkpoint as one JSON object, for an auditor to keep apart (keel_audit_checkpoint_read
 * reads it back): seq, time (µs), time_iso, hash, public_key, signature. */
int keel_audit_checkpoint_json(const keel_audit_checkpoint *c, keel_buf *b);

/* ---- verification ----------------------------------------------------------------------- */
typedef struct keel_audit_verify_options {
    const unsigned char *public_key;       /* 32 bytes: checkpoints must be signed by it; NULL:
                                              checkpoints are checked against their own key only */
    const char *head_file;                 /* KEEL_HOME/audit-head.json, or NULL */
    const keel_audit_checkpoint *external; /* a checkpoint the auditor kept, or NULL */
    const char *witness;                   /* a witness file (keel_audit_publish), or NULL */
    bool require_anchor; /* every event must be covered by a checkpoint signed by public_key,
                            and head_file must exist while there are events (see anchor.c) */
    keel_progress_fn progress;
    void *progress_ud;
} keel_audit_verify_options;

typedef struct keel_audit_verify_result {
    bool ok;
    int64_t n_events;       /* events read */
    int64_t head_seq;       /* last seq read */
    int64_t first_bad;      /* first bad sequence number, 0 when ok */
    int64_t n_checkpoints;  /* checkpoints checked (table, head file, external) */
    int64_t checkpoint_seq; /* newest checkpoint seq that verified, 0 if none */
    char reason[256];       /* why first_bad is bad, e.g. "hash does not match the event's
                               contents (edited?)"; "" when ok */
} keel_audit_verify_result;

/* Walks the whole chain in seq order and checks, for every event: seq is previous + 1
 * (missing -> "deleted", out of order -> "inserted or reordered"), prev_hash equals the
 * previous event's hash, hash recomputes from the contents. Then every checkpoint: its
 * signature is valid (and made by options->public_key when given), and the chain has event
 * seq with exactly the signed hash — a checkpoint beyond the head means the tail was cut off
 * (first_bad = head_seq + 1, "truncated ..."). Returns KEEL_OK when verification ran, whatever
 * it found (res->ok says); an error code only when it could not run (store error, bad
 * head file). */
int keel_audit_verify(keel_store *s, const keel_audit_verify_options *opt,
                      keel_audit_verify_result *res, keel_error *e);
/* With require_anchor, also: the newest valid checkpoint is at the head (events after it
 * were appended without keel's signature: "not covered by a signed checkpoint"), and the
 * head file exists once there are events, unless the registry has had only one transaction
 * (a crash between its commit and the head file's first write). A witness: every complete
 * line is a checkpoint checked like the others (a line beyond the head means the tail was
 * cut off, a line with another hash that events were rewritten); a missing witness file is
 * a finding while there are events; a last line without its newline (a write torn by a
 * crash) is skipped. */

/* What verification found, as one JSON object: ok, events, head_seq, first_bad, checkpoints,
 * checkpoint_seq, reason. */
int keel_audit_verify_result_json(const keel_audit_verify_result *r, keel_buf *b);

/* ---- anchoring (anchor.c) ----------------------------------------------------------------
 * Every transaction that appends events also signs a checkpoint of its new head, in the same
 * transaction, so that an event no valid checkpoint covers was not written by keel. A writer
 * builds only on an anchored head. */

/* Whether the chain up to event upto (0: empty) is anchored: the newest checkpoint is at upto,
 * signed by pk, and event upto still has the signed hash and hashes to it; and head_file (when
 * not NULL) exists, unless the table holds at most one checkpoint, and names an event at or
 * before upto with the hash that event has. KEEL_ESTATE with the reason and the advice to run
 * `keel audit verify` when it is not; a store error otherwise. Inside or outside a
 * transaction. */
int keel_audit_anchored(keel_store *s, const unsigned char pk[32], const char *head_file,
                        int64_t upto, keel_error *e);

/* Inside the write transaction that appended events from seq first on: checks that the chain
 * before first is anchored (keel_audit_anchored, skipped when adopt: an auditor vouches for
 * the head as it is), then signs the head and stores the checkpoint. *out gets it. After the
 * commit, the caller hands it to keel_audit_publish. */
int keel_audit_anchor(keel_store *s, const keel_audit_key *key, const char *head_file,
                      int64_t first, bool adopt, keel_audit_checkpoint *out, keel_error *e);

/* After the commit: moves head_file forward to cp (never backwards) and appends cp as one
 * JSON line to witness (opened O_APPEND, created 0644 when missing, fsync'ed); either may be
 * NULL. A lock on head_file's directory keeps concurrent publishers in turn. A crash before
 * this leaves the head file and the witness one checkpoint behind, which verification
 * accepts: the checkpoint row committed with the events covers them. */
int keel_audit_publish(const keel_audit_checkpoint *cp, const char *head_file, const char *witness,
                       keel_error *e);

/* Calls fn for every complete line of the witness file at path, in file order, with the
 * checkpoint it holds (ok true) or a zeroed one (ok false: not a checkpoint) and its line
 * number; fn returns KEEL_OK to go on. KEEL_ENOENT when the file is missing, KEEL_EIO. */
typedef int (*keel_audit_witness_fn)(void *ud, const keel_audit_checkpoint *cp, bool ok,
                                     int64_t line);
int keel_audit_witness_each(const char *path, keel_audit_witness_fn fn, void *ud, keel_error *e);

/* ---- export ------------------------------------------------------------------------------
 * Writes the events with time >= since (µs; 0 for all) in seq order, through write (which
 * returns 0 on success; nonzero stops the export with KEEL_EIO). JSON Lines: one object per
 * event with seq, time (ISO 8601 UTC), time_us, actor, action, object, details (as a JSON
 * value), prev_hash, hash. CSV (RFC 4180, header row, details as JSON text). */
enum { KEEL_AUDIT_JSONL = 0, KEEL_AUDIT_CSV = 1 };
typedef int (*keel_write_fn)(void *ud, const char *p, size_t n);
int keel_audit_export(keel_store *s, int64_t since, int format, keel_write_fn write, void *ud,
                      int64_t *n_out, keel_error *e);

#endif /* KEEL_REGISTRY_AUDIT_H */
