/*
 * card_build_impl.h — what the card builder's two files share (private to src/report):
 * card_build.c computes the measures, groups, calibration and explanations from the held-out
 * data and assembles the document; card_record.c copies in what the artifact and the
 * registry record. Both write through one small JSON builder.
 */
#ifndef KEEL_REPORT_CARD_BUILD_IMPL_H
#define KEEL_REPORT_CARD_BUILD_IMPL_H

#include "base/json.h"
#include "report/card_build.h"

enum {
    RESAMPLES = 500,   /* bootstrap resamples for the intervals */
    PERM_ROWS = 5000,  /* most rows permutation importance runs on */
    ATTR_ROWS = 500,   /* most rows for attributions and partial dependence */
    PD_COLUMNS = 4,    /* partial-dependence curves drawn */
    PD_POINTS = 20,    /* grid points per curve */
    SMALL_GROUP = 30,  /* a group with fewer rows is flagged */
    AUC_MIN_CLASS = 5, /* a group's AUC needs this many rows of each class */
    CAL_BINS = 10,     /* calibration bins */
    MAX_AUDIT = 200    /* audit events listed */
};

/* ---- a JSON builder with a sticky error (card_build.c) ---------------------------------- */

typedef struct card_jb {
    keel_buf b;
    int err;
    int depth;
    bool first[64]; /* per open container: nothing written in it yet */
} card_jb;

/* Opens an object ('{') or array ('[') as member key (NULL inside arrays), closes it. */
void card_jb_open(card_jb *j, const char *key, char c);
void card_jb_close(card_jb *j, char c);
/* A string member (s NULL: null). */
void card_jb_strn(card_jb *j, const char *key, const char *s, size_t n);
void card_jb_str(card_jb *j, const char *key, const char *s);
/* A number member; NaN and infinities become null. */
void card_jb_num(card_jb *j, const char *key, double v);
void card_jb_bool(card_jb *j, const char *key, bool v);
/* A parsed JSON value copied in (v NULL: null). */
void card_jb_value(card_jb *j, const char *key, const keel_json *v);
/* A JSON text parsed into a doc of its own (NULL when empty or not JSON). */
keel_json_doc *card_parse_doc(const char *text, size_t n);

/* ---- the artifact's and the registry's record (card_record.c) ---------------------------- */

/* The registry's side of the card: the version, and why parts of its record are missing. */
typedef struct card_reg_ref {
    keel_registry *r;
    const char *name;
    int64_t version;
    char note[400];           /* why the registry has nothing, for the card */
    char approvals_note[600]; /* why the approvals are missing, when they are */
    char audit_note[600];     /* why the audit references are missing, when they are */
} card_reg_ref;

/* The profile's column object called name, or NULL. */
const keel_json *card_profile_column(const keel_json *profile, const char *name);
/* A number in four significant digits ("%.4g"), as group labels and summaries show them. */
void card_fmt_num(char *out, size_t cap, double v);
/* Member key from obj's member, when present and not null. */
void card_copy_member(card_jb *j, const char *key, const keel_json *obj, const char *member);
/* "columns": the schema's columns with what the training profile says of each. */
void card_write_columns(card_jb *j, const keel_model *m, const keel_json *profile);
/* "training": the lineage, rows and epochs the artifact records. */
void card_write_training(card_jb *j, const keel_model *m, const keel_json *lineage,
                         const keel_json *training, const keel_json *metrics);
/* The name of a calibration kind for people. */
const char *card_calibration_name(int kind);
/* "registry": the version's record, approvals, lineage and audit references. *tags_out is the
 * version's tags (borrowed from *show_doc, which the caller frees). */
void card_write_registry(card_jb *j, card_reg_ref *rr, const keel_json **tags_out,
                         keel_json_doc **show_doc);
/* "use": the tags, and the commands that set the missing ones. */
void card_write_use(card_jb *j, const card_reg_ref *rr, const keel_json *tags);

#endif
