/*
 * model_load.c — a registry model loaded and checked in one call (model_load.h).
 *
 * The order matters for the check to mean anything: the registry is asked first for what the
 * version must be, then the file is read once, and the hash compared is the one computed over
 * the bytes the model was parsed from (keel_artifact_open reads the whole file into one
 * buffer, hashes it and parses it). Checking the file and then opening it again would leave a
 * window in which it could be swapped.
 */
#include "pipeline/model_load.h"

int keel_registry_version_load(keel_registry *r, const keel_model_version *v, keel_model **model,
                               keel_error *e)
{
    *model = NULL;
    keel_model *m = NULL;
    int rc = keel_model_load(v->path, &m, e);
    if (rc != KEEL_OK) return rc;
    rc = keel_registry_artifact_verify(r, v, keel_model_sha256(m));
    if (rc != KEEL_OK) {
        keel_model_free(m);
        return keel_error_set(e, rc, "%s", keel_registry_errmsg(r));
    }
    *model = m;
    return KEEL_OK;
}

int keel_registry_model_load(keel_registry *r, const char *ref, keel_model **model,
                             keel_model_version **version, keel_error *e)
{
    *model = NULL;
    if (version) *version = NULL;
    keel_model_version *v = NULL;
    int rc = keel_registry_version_resolve(r, ref, &v);
    if (rc != KEEL_OK) return keel_error_set(e, rc, "%s", keel_registry_errmsg(r));
    rc = keel_registry_version_load(r, v, model, e);
    if (rc == KEEL_OK && version)
        *version = v;
    else
        keel_model_version_free(v);
    return rc;
}
