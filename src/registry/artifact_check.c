/*
 * artifact_check.c — is the artifact a caller loaded the one the registry approved?
 *
 * The artifact store (HOME/artifacts/sha256/ab/cdef…) is plain files: anyone who can write to
 * the directory can copy another valid model over a stored artifact, and every loader that
 * trusted the path would then serve it under the old version's name, alias and approvals.
 * The registry recorded each version's SHA-256 when it was registered, so the check is a
 * comparison: the caller hashes the bytes it actually read and parsed (keel_model_sha256, the
 * SHA-256 of the whole file as read into memory) and hands that hash here. Because the hash
 * is of the very buffer the model was built from, there is no window between checking and
 * using: a file swapped after the read cannot change the model in memory.
 *
 * The registry does not read the artifact itself: it has no model layer below it, and reading
 * the file a second time would check a different read from the one that is used.
 *
 * A mismatch is refused and recorded in the audit trail ("artifact.mismatch" on the version,
 * details: expected, found, path) in a transaction of its own, whatever the actor's roles: it
 * is evidence that the store was tampered with, as access.denied is evidence of an attempt.
 * While the schema is stale nothing is written (as for every other event), but the refusal
 * stands.
 */
#include "registry/registry_impl.h"

#include <string.h>

int keel_registry_artifact_verify(keel_registry *r, const keel_model_version *v,
                                  const char *found_sha256)
{
    const char *found = found_sha256 ? found_sha256 : "";
    if (!strcmp(v->sha256, found)) return KEEL_OK;

    char object[200];
    snprintf(object, sizeof object, "model:%.64s:%lld", v->model, (long long)v->version);
    keel_buf d;
    keel_buf_init(&d);
    int rc = keel_buf_putc(&d, '{') | reg_jstr(&d, "expected", v->sha256) |
             reg_jstr(&d, "found", found) | reg_jstr(&d, "path", v->path) | keel_buf_putc(&d, '}');
    bool audited = false;
    char why[200] = "";
    if (rc != KEEL_OK) {
        snprintf(why, sizeof why, "out of memory");
    } else if ((rc = reg_begin(r)) == KEEL_OK) {
        rc = reg_write_end(r, reg_audit(r, "artifact.mismatch", object, d.data));
        audited = rc == KEEL_OK;
    }
    if (!audited && !why[0]) snprintf(why, sizeof why, "%.190s", r->errmsg);
    keel_buf_free(&d);
    return reg_fail(r, KEEL_EFORMAT,
                    "%.64s:%lld: the artifact store was changed: the registry recorded sha256 "
                    "%.64s for this version, but its stored artifact %.200s has sha256 %.64s; "
                    "refusing to load it (%s%s)",
                    v->model, (long long)v->version, v->sha256, v->path ? v->path : "?", found,
                    audited ? "recorded in the audit trail as artifact.mismatch"
                            : "NOT recorded in the audit trail: ",
                    why);
}
