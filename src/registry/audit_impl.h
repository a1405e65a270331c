/*
 * audit_impl.h — what audit.c shares with anchor.c (signing in the writer's transaction, the
 * head file and the witness): the checkpoint helpers, and the file writers, so that both
 * write files the same way.
 */
#ifndef KEEL_REGISTRY_AUDIT_IMPL_H
#define KEEL_REGISTRY_AUDIT_IMPL_H

#include "registry/audit.h"

/* True when cp is well formed, made by the key pk and its signature verifies. */
bool audit_checkpoint_valid(const keel_audit_checkpoint *cp, const unsigned char pk[32]);
/* Fills cp with a checkpoint of event seq (hash) signed now by key (which has its secret). */
void audit_checkpoint_sign(keel_audit_checkpoint *cp, int64_t seq, const char hash[65],
                           const keel_audit_key *key);
/* Reads st's current row (seq, hash, time, public_key, signature) into cp: KEEL_OK, or
 * KEEL_EFORMAT when the row is not a well-formed checkpoint. */
int audit_checkpoint_row(keel_stmt *st, keel_audit_checkpoint *cp);
/* Replaces the head file at path with cp (temporary file, fsync, rename, and when durable an
 * fsync of the directory). */
int audit_head_file_write(const char *path, const keel_audit_checkpoint *cp, bool durable,
                          keel_error *e);
/* write(2) until all of p is written; -1 with errno on failure. */
int audit_write_all(int fd, const char *p, size_t n);
/* fsyncs the directory holding path. */
int audit_fsync_parent(const char *path, keel_error *e);

#endif
