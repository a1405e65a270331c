/*
 * validate_summary.c — what `keel data validate` and `keel data profile` say about a file
 * they read: the counts, the reasons records were quarantined, what the schema's policies
 * repaired, where the quarantine went — as JSON (docs/quarantine.md) or as text for people.
 * A pipeline's data step will report the same object, so it is written here once.
 */
#include "data/validate.h"

#include <string.h>

static void summary_json(keel_buf *b, const char *file, const keel_schema *s,
                         const keel_validate_result *res, const char *quarantine, double rate,
                         const char *extra_json)
{
    keel_buf_puts(b, "{\"file\":");
    keel_buf_json_str(b, file, strlen(file));
    keel_buf_printf(b,
                    ",\"records\":%llu,\"accepted\":%llu,\"quarantined\":%llu,"
                    "\"quarantine_rate\":%.6g,\"blank_lines\":%llu,\"bytes\":%llu,"
                    "\"seconds\":%.3f,\"reasons\":{",
                    (unsigned long long)res->records, (unsigned long long)res->accepted,
                    (unsigned long long)res->quarantined, rate,
                    (unsigned long long)res->blank_lines, (unsigned long long)res->bytes,
                    res->seconds);
    const char *sep = "";
    for (int k = 0; k < KEEL_REASON_COUNT; k++)
        if (res->reasons[k]) {
            keel_buf_printf(b, "%s\"%s\":%llu", sep, keel_reason_name((keel_reason)k),
                            (unsigned long long)res->reasons[k]);
            sep = ",";
        }
    keel_buf_puts(b, "},\"repaired\":{");
    sep = "";
    for (size_t i = 0; i < res->n_columns; i++)
        if (res->repaired[i]) {
            keel_buf_puts(b, sep);
            keel_buf_json_str(b, s->columns[i].name, strlen(s->columns[i].name));
            keel_buf_printf(b, ":%llu", (unsigned long long)res->repaired[i]);
            sep = ",";
        }
    keel_buf_puts(b, "},\"quarantine\":");
    if (quarantine)
        keel_buf_json_str(b, quarantine, strlen(quarantine));
    else
        keel_buf_puts(b, "null");
    if (res->sha256[0]) keel_buf_printf(b, ",\"sha256\":\"%s\"", res->sha256);
    keel_buf_printf(b, "%s}\n", extra_json ? extra_json : "");
}

static void summary_text(keel_buf *b, const char *file, const keel_schema *s,
                         const keel_validate_result *res, const char *quarantine, double rate)
{
    keel_buf_printf(b, "%s: %llu records: %llu accepted, %llu quarantined (%.2f%%)\n", file,
                    (unsigned long long)res->records, (unsigned long long)res->accepted,
                    (unsigned long long)res->quarantined, 100 * rate);
    for (int k = 0; k < KEEL_REASON_COUNT; k++)
        if (res->reasons[k])
            keel_buf_printf(b, "  %-20s %llu\n", keel_reason_name((keel_reason)k),
                            (unsigned long long)res->reasons[k]);
    for (size_t i = 0; i < res->n_columns; i++)
        if (res->repaired[i])
            keel_buf_printf(b, "  repaired by policy (%s) in '%s': %llu\n",
                            keel_on_invalid_name(s->columns[i].on_invalid), s->columns[i].name,
                            (unsigned long long)res->repaired[i]);
    if (res->blank_lines)
        keel_buf_printf(b, "  blank lines skipped: %llu\n", (unsigned long long)res->blank_lines);
    if (res->extra_columns.n) {
        keel_buf_puts(b, "  columns not in the schema, ignored:");
        for (size_t i = 0; i < res->extra_columns.n; i++)
            keel_buf_printf(b, " %s", res->extra_columns.items[i]);
        keel_buf_putc(b, '\n');
    }
    if (quarantine && res->quarantined) keel_buf_printf(b, "quarantine: %s\n", quarantine);
    if (res->sha256[0]) keel_buf_printf(b, "sha256: %s\n", res->sha256);
}

int keel_validate_summary(const char *file, const keel_schema *s, const keel_validate_result *res,
                          const char *quarantine, bool json, const char *extra_json, keel_buf *out)
{
    double rate = res->records ? (double)res->quarantined / (double)res->records : 0;
    keel_buf_mark start = keel_buf_begin(out);
    if (json)
        summary_json(out, file, s, res, quarantine, rate, extra_json);
    else
        summary_text(out, file, s, res, quarantine, rate);
    return keel_buf_end(out, start);
}
