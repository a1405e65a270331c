/*
 * Fuzz target for the model card's renderers (src/report/card.c): parses the input as JSON
 * and renders it as HTML and as Markdown. Besides crashes and leaks, it fails when the page
 * could run code (a "<script" in either form) or carries a non-finite number into an SVG
 * attribute: a card's JSON is a file, and files get edited.
 */
#include "base/json.h"
#include "report/card.h"

#include <stdlib.h>
#include <string.h>

/* Whether a polyline's points="..." list holds a letter (nan, inf): quotes in text are
 * escaped, so every points=" in the page is one the renderer wrote. */
static int bad_points(const char *h)
{
    for (const char *p = strstr(h, "points=\""); p; p = strstr(p + 1, "points=\"")) {
        for (const char *q = p + 8; *q && *q != '"'; q++)
            if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return 0;
    keel_error e;
    if (keel_json_parse(d, (const char *)data, n, &e) == KEEL_OK) {
        keel_buf html, md;
        keel_buf_init(&html);
        keel_buf_init(&md);
        int rc = keel_card_html(keel_json_root(d), &html, &e);
        if (rc == KEEL_OK &&
            (!html.data || strstr(html.data, "<script") || strstr(html.data, "=\"nan") ||
             strstr(html.data, "=\"-nan") || strstr(html.data, "=\"inf") ||
             strstr(html.data, "=\"-inf") || bad_points(html.data)))
            abort();
        int rc2 = keel_card_markdown(keel_json_root(d), &md, &e);
        if (rc2 == KEEL_OK && (!md.data || strstr(md.data, "<script"))) abort();
        if ((rc == KEEL_OK) != (rc2 == KEEL_OK)) abort(); /* both accept the same documents */
        keel_buf_free(&html);
        keel_buf_free(&md);
    }
    keel_json_doc_free(d);
    return 0;
}
