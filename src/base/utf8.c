/*
 * utf8.c — UTF-8 validation and Latin-1 conversion.
 *
 * Validation follows RFC 3629's table of well-formed byte sequences: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF. Runs of ASCII are skipped eight
 * bytes at a time because most enterprise data is ASCII.
 */
#include "base/base.h"

#include <stdio.h>

#include <string.h>

size_t keel_utf8_valid_prefix(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0; /* no overlong */
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
        } else {
            return i;
        }
        if (i + len > n) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return n;
}

int keel_buf_latin1(keel_buf *b, const char *p, size_t n)
{
    size_t worst;
    if (!keel_size_mul(n, 2, &worst) || keel_buf_reserve(b, worst) != KEEL_OK) return KEEL_ENOMEM;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            *o++ = (char)c;
        } else {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return KEEL_OK;
}

void keel_quote_into(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    size_t k = strlen(dst);
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* do not split a multi-byte character */
    }
    if (k + 1 < cap) dst[k++] = '"';
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            dst[k++] = '\\';
            dst[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(dst + k, cap - k, "\\u%04x", ch);
        } else {
            dst[k++] = (char)ch;
        }
    }
    if (cut && k + 4 < cap) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    if (k + 1 < cap) dst[k++] = '"';
    dst[k < cap ? k : cap - 1] = '\0';
}
