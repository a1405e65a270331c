/*
 * config.c — the CLI's configuration file: a flat YAML mapping of "key: value" lines.
 *
 *     # comments start with '#', anywhere on a line
 *     user: alice
 *     home: "/srv/keel"     # values may be quoted with ' or "
 *
 * Deliberately a small subset of YAML (no nesting, no lists, no multi-line values), parsed
 * here rather than through libyaml so that every byte's fate is obvious: a line that is not
 * blank, a comment or "key: value" is an error naming the line, not silently ignored. Keys
 * are [A-Za-z0-9_-]; values are at most KEEL_CONFIG_VALUE_MAX bytes of valid UTF-8 without
 * control characters.
 */
#include "base/base.h"

#include <string.h>

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int keel_config_parse(const char *text, size_t n, keel_config_fn fn, void *ud, keel_error *e)
{
    size_t line_no = 0;
    for (size_t pos = 0; pos < n;) {
        line_no++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - line) : n - pos;
        pos += len + (nl != NULL);
        /* strip the comment (a '#' outside quotes) and surrounding blanks */
        size_t end = 0;
        char quote = 0;
        for (; end < len; end++) {
            char c = line[end];
            if (quote) {
                if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#') {
                break;
            }
        }
        while (end && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
            end--;
        size_t start = 0;
        while (start < end && (line[start] == ' ' || line[start] == '\t'))
            start++;
        if (start == end) continue;
        if (start != 0)
            return keel_error_set(e, KEEL_EPARSE,
                                  "line %zu: indented lines are not supported (the config is a "
                                  "flat list of 'key: value' lines)",
                                  line_no);
        size_t k = 0;
        while (k < end && key_char(line[k]))
            k++;
        if (k == 0 || k > 64 || k >= end || line[k] != ':')
            return keel_error_set(e, KEEL_EPARSE, "line %zu: expected 'key: value'", line_no);
        size_t v = k + 1;
        while (v < end && (line[v] == ' ' || line[v] == '\t'))
            v++;
        size_t v_end = end;
        if (v < v_end && (line[v] == '"' || line[v] == '\'')) {
            if (v_end - v < 2 || line[v_end - 1] != line[v])
                return keel_error_set(e, KEEL_EPARSE, "line %zu: unterminated quoted value",
                                      line_no);
            v++;
            v_end--;
        }
        if (v_end - v > KEEL_CONFIG_VALUE_MAX)
            return keel_error_set(e, KEEL_ELIMIT, "line %zu: value longer than %d bytes", line_no,
                                  KEEL_CONFIG_VALUE_MAX);
        char key[65], value[KEEL_CONFIG_VALUE_MAX + 1];
        memcpy(key, line, k);
        key[k] = '\0';
        memcpy(value, line + v, v_end - v);
        value[v_end - v] = '\0';
        for (size_t i = 0; i < v_end - v; i++)
            if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                return keel_error_set(e, KEEL_EPARSE, "line %zu: control character in value",
                                      line_no);
        if (!keel_utf8_valid(value, v_end - v))
            return keel_error_set(e, KEEL_EPARSE, "line %zu: value is not valid UTF-8", line_no);
        int rc = fn(ud, key, value);
        if (rc != KEEL_OK)
            return keel_error_set(e, rc, "line %zu: bad value for '%s'", line_no, key);
    }
    return KEEL_OK;
}

int keel_config_load(const char *path, keel_config_fn fn, void *ud, keel_error *e)
{
    keel_buf b;
    keel_buf_init(&b);
    int rc = keel_file_read(path, KEEL_CONFIG_FILE_MAX, &b, e);
    if (rc == KEEL_OK && (rc = keel_config_parse(b.data, b.len, fn, ud, e)) != KEEL_OK) {
        keel_error pe = e ? *e : (keel_error){0};
        keel_error_set(e, rc, "%s: %s", path, pe.msg);
    }
    keel_buf_free(&b);
    return rc;
}
