/*
 * card_build.h — the model card's document ("keel_card": 1, docs/card.md), gathered from a
 * model, its held-out data and the registry.
 *
 * The builder computes every number the card shows and writes them into one JSON document;
 * the renderers (report/card.h) turn that document, and only it, into HTML and Markdown. It
 * never prints, never exits and never reads the environment or the clock: the caller loads
 * the model and the held-out data, opens the registry, chooses the card's date (keel card
 * honours SOURCE_DATE_EPOCH) and reports progress as it likes. The registry is read through
 * its API only (registry/registry.h), so its role checks apply, and never written: a read
 * the actor's roles would refuse is not attempted (a refusal is audited), the card says what
 * it left out instead.
 */
#ifndef KEEL_REPORT_CARD_BUILD_H
#define KEEL_REPORT_CARD_BUILD_H

#include "base/base.h"
#include "data/validate.h"
#include "model/model.h"
#include "registry/registry.h"

/* Called with a short phrase ("bootstrap intervals") before each long step. */
typedef void (*keel_card_progress_fn)(void *ud, const char *what);

/* What a card is built from. Everything is borrowed for the duration of the call. */
typedef struct keel_card_inputs {
    keel_model *model;     /* the model (required); its explainer may be built on first use */
    const char *model_ref; /* MODEL as the user named it: a .keel path or a registry reference */
    const keel_frame *holdout; /* the held-out data, loaded with the model's schema (required) */
    const keel_validate_result *holdout_result; /* what loading it found (required) */
    const char *holdout_path;                   /* the held-out file as named, for the card */
    const char *quarantine_path;    /* where its rejected records went; NULL when not written */
    uint64_t seed;                  /* seeds the bootstrap, the permutations and the row samples */
    int64_t generated_us;           /* the card's date: microseconds since the Unix epoch */
    keel_registry *registry;        /* an opened registry, or NULL (a plain .keel file) */
    const char *registry_model;     /* the registered name of this model, or NULL */
    int64_t registry_version;       /* its version (with registry_model) */
    const char *registry_note;      /* why the registry has nothing to say, or NULL */
    keel_card_progress_fn progress; /* may be NULL */
    void *progress_ud;
} keel_card_inputs;

/* Builds the card's JSON document from in and appends it to json_out (one line, no newline).
 * Everything random is seeded by in->seed, so the same inputs give the same document.
 *
 * The registry section is written when in->registry and in->registry_model are both given:
 * the version's record, approvals and lineage (any role), and its audit events when the actor
 * is an auditor or admin (else a note on who can grant that). Otherwise in->registry_note,
 * when given, says why there is none.
 *
 * Errors: KEEL_EINVAL when a required input is missing; KEEL_EEMPTY when no held-out row has
 * a usable target ("nothing to score"); the model's error when it cannot score the rows;
 * KEEL_ENOMEM. e (if not NULL) then holds the sentence keel card prints, and json_out is
 * restored to its previous length. */
int keel_card_build(const keel_card_inputs *in, keel_buf *json_out, keel_error *e);

/* For a model loaded from a file: the newest version in registry r whose artifact has the
 * SHA-256 sha256 (keel_registry_version_find_sha256: one indexed read). On a
 * match *name_out (the caller frees it) and *version_out are set; otherwise *name_out is NULL
 * and note (cap bytes) says why, for keel_card_inputs.registry_note. An actor who is not an
 * identity of the registry may read nothing, so nothing is asked. home is the registry's
 * location as the user knows it, for the note. Returns KEEL_OK, or KEEL_EINVAL when an
 * argument is NULL. */
int keel_card_find_version(keel_registry *r, const char *home, const char *sha256, char **name_out,
                           int64_t *version_out, char *note, size_t cap);
/* The same for a registry that may not be there: it is opened with o only when it exists
 * already (a card never creates one). *r gets it (the caller closes it), or NULL with note
 * saying why (no registry at the location, or it could not be opened). Returns KEEL_OK. */
int keel_card_find_registered(const keel_registry_options *o, const char *sha256, keel_registry **r,
                              char **name_out, int64_t *version_out, char *note, size_t cap);

#endif /* KEEL_REPORT_CARD_BUILD_H */
