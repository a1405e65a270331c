/*
 * Fuzz target for the profile report: parses the input as JSON and renders it as HTML.
 * Besides crashes and leaks, it fails when the page could run code (a "<script") or carries
 * a non-finite number into an SVG attribute. Written by the report's author as a throwaway
 * harness and kept: profiles are files anyone can edit.
 */
#include <stdlib.h>
#include "base/json.h"
#include "report/report.h"
#include <string.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    keel_json_doc *d = keel_json_doc_new();
    if (!d) return 0;
    keel_error e;
    if (keel_json_parse(d, (const char *)data, n, &e) == KEEL_OK) {
        keel_buf out;
        keel_buf_init(&out);
        int rc = keel_report_profile_html(keel_json_root(d), &out, &e);
        if (rc == KEEL_OK && (!out.data || strstr(out.data, "<script") ||
                              strstr(out.data, "=\"nan") || strstr(out.data, "=\"-nan") ||
                              strstr(out.data, "=\"inf") || strstr(out.data, "=\"-inf")))
            abort();
        keel_buf_free(&out);
    }
    keel_json_doc_free(d);
    return 0;
}
