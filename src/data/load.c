/*
 * load.c — a whole file into one frame, through validation.
 *
 * Training and evaluation need every accepted row at once; this appends each validated chunk
 * to one frame, so memory is the data's typed size (about 8 bytes a numeric value), not its
 * text. Quarantine, progress and cancel work as in keel_validate_file.
 */
#include "data/validate.h"

typedef struct loader {
    keel_frame *f;
} loader;

static int append_chunk(void *ud, const keel_frame *chunk)
{
    loader *l = ud;
    return keel_frame_append(l->f, chunk);
}

int keel_frame_load(const keel_schema *s, const char *path, const keel_validate_options *o,
                    keel_frame **out, keel_validate_result *res, keel_error *e)
{
    *out = NULL;
    keel_validate_options opt;
    if (o)
        opt = *o;
    else
        keel_validate_options_init(&opt);
    loader l = {keel_frame_new(s)};
    if (!l.f) return keel_error_set(e, KEEL_ENOMEM, "out of memory");
    opt.on_chunk = append_chunk;
    opt.chunk_ud = &l;
    int rc = keel_validate_file(s, path, &opt, res, e);
    if (rc) {
        if (rc == KEEL_ENOMEM) keel_error_set(e, rc, "out of memory loading %s", path);
        keel_frame_free(l.f);
        return rc;
    }
    *out = l.f;
    return KEEL_OK;
}
