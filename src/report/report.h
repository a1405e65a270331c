/*
 * report.h — human-readable HTML reports rendered from keel's JSON documents.
 *
 * Reports are for people who read rather than run things: auditors, model-risk reviewers,
 * domain experts. Each renderer takes an already parsed JSON tree (base/json.h) and appends
 * one self-contained HTML page to a buffer: inline CSS and inline SVG charts, no scripts,
 * no external resources (a Content-Security-Policy in the page forbids both), so the file
 * can be mailed, archived and printed as it is.
 */
#ifndef KEEL_REPORT_H
#define KEEL_REPORT_H

#include "base/base.h"
#include "base/json.h"

/* Renders a profile (the parsed JSON of a keel profile file, format in docs/profile.md) as
 * one self-contained HTML page: inline CSS and inline SVG charts, no scripts, no external
 * resources. Its size depends on the number of columns, never on the number of rows:
 * histograms are drawn with at most 200 bars and at most 20 top values are listed per
 * column (the rest are folded into the "other" bar).
 *
 * Every string taken from the profile is HTML-escaped; control characters are shown as
 * visible symbols and bidirectional-override characters are replaced, so a hostile column
 * name cannot inject markup or disguise itself. Any field other than "columns" may be
 * absent, null or of the wrong type: what is there is rendered, the rest shows as "—".
 *
 * The page is appended to out (which the caller owns and has initialised).
 * Errors: KEEL_EINVAL when out is NULL; KEEL_EFORMAT when profile is NULL, not an object,
 * or has no "columns" array; KEEL_ENOMEM. On failure out is restored to its previous
 * length and e (if not NULL) says why. Reentrant: distinct calls share no state.
 */
int keel_report_profile_html(const keel_json *profile, keel_buf *out, keel_error *e);

struct keel_profile;
/* A profile's two files: its JSON (docs/profile.md) appended to json, and the HTML report
 * rendered from that very JSON, so the page shows exactly what was saved, appended to html.
 * KEEL_ENOMEM or the renderer's error; both buffers are then as they were. */
int keel_report_profile_pages(const struct keel_profile *p, keel_buf *json, keel_buf *html,
                              keel_error *e);

#endif /* KEEL_REPORT_H */
