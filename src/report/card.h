/*
 * card.h — the model card: one model's intended use, training data, quality on held-out data
 * (with confidence intervals, per sensitive group, calibration), explanations and approvals,
 * rendered for a model-risk committee, auditors and regulators.
 *
 * keel_card_build (card_build.h) gathers every number into one JSON document (its format is
 * in docs/card.md, "keel_card": 1); the renderers here turn that document into a
 * self-contained HTML page or a Markdown file, and read nothing else, so the card can be
 * re-rendered from its JSON alone and the renderers can be tested without a model.
 */
#ifndef KEEL_REPORT_CARD_H
#define KEEL_REPORT_CARD_H

#include "base/base.h"
#include "base/json.h"

/* Appends the card as one HTML page: inline CSS and inline SVG charts (permutation
 * importance with confidence whiskers, the calibration diagram, partial-dependence small
 * multiples), no scripts and no external resources (its Content-Security-Policy forbids
 * both); a print stylesheet keeps sections and tables whole on paper.
 *
 * The document is untrusted: every string is HTML-escaped (control characters shown as
 * visible symbols, bidirectional overrides and invalid UTF-8 replaced by U+FFFD, long strings
 * cut with an ellipsis), any member may be absent, null or of the wrong type (its section then
 * says "not available"), and lists are capped, so the page's size is bounded by the size of
 * the document. Missing intended use or limitations are shown prominently, with the command
 * that sets them when the document gives one.
 *
 * out is the caller's, initialised buffer. Errors: KEEL_EINVAL when out is NULL; KEEL_EFORMAT
 * when card is NULL or not an object; KEEL_ENOMEM. On failure out is restored to its previous
 * length and e (if not NULL) says why. Reentrant: distinct calls share no state.
 */
int keel_card_html(const keel_json *card, keel_buf *out, keel_error *e);

/* Appends the same card as Markdown (GitHub tables; the charts' numbers as tables). Text from
 * the document is escaped for Markdown (table pipes, emphasis and link characters, HTML
 * metacharacters) with the same replacement of invisible characters as the HTML. Errors and
 * guarantees as keel_card_html. */
int keel_card_markdown(const keel_json *card, keel_buf *out, keel_error *e);

#endif /* KEEL_REPORT_CARD_H */
