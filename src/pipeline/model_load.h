/*
 * model_load.h — loading a model by its registry reference, checked against the registry.
 *
 * The registry names each version's artifact by the SHA-256 it had when it was registered;
 * the file in the artifact store is only a copy that anyone with write access to KEEL_HOME
 * could replace. These calls load the stored artifact once (read whole into memory, hashed
 * and parsed from that one buffer) and compare the hash of what was read with the registry's:
 * a replaced artifact is refused and recorded in the audit trail (artifact.mismatch,
 * keel_registry_artifact_verify), never served under the version's name and approvals.
 *
 * They live in pipeline because they need both the model layer and the registry; the server,
 * which may not include pipeline, makes the same two calls itself (src/serve/server.c).
 */
#ifndef KEEL_PIPELINE_MODEL_LOAD_H
#define KEEL_PIPELINE_MODEL_LOAD_H

#include "model/model.h"
#include "registry/registry.h"

/* Loads the stored artifact of version v (from keel_registry_version_get or _resolve) and
 * checks it is the one registered. On success *model is the model (keel_model_free it), and
 * keel_model_sha256(*model) equals v->sha256. On failure *model is NULL and e says why:
 * KEEL_EFORMAT for an artifact that is not the registered one (audited, the message names
 * the version, both hashes and the file, as keel_registry_artifact_verify writes it) or is
 * corrupt, KEEL_ENOENT / KEEL_EIO when it cannot be read, KEEL_ENOMEM. */
int keel_registry_version_load(keel_registry *r, const keel_model_version *v, keel_model **model,
                               keel_error *e);

/* Resolves ref ("name", "name:VERSION", "name@ALIAS"; keel_registry_version_resolve) and
 * loads it as keel_registry_version_load does. On success *model is set and, when version is
 * not NULL, *version is the registry's record of what was loaded (keel_model_version_free
 * it). On failure both are NULL and e says why: the registry's codes and message when the
 * reference does not resolve (KEEL_ENOENT, KEEL_EINVAL, KEEL_EPERM), else as above. */
int keel_registry_model_load(keel_registry *r, const char *ref, keel_model **model,
                             keel_model_version **version, keel_error *e);

#endif
