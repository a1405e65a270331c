/*
 * buf.c — a growable NUL-terminated byte buffer, and the JSON and base64 encoders that
 * write into it.
 *
 * Growth doubles the capacity, so n appends cost O(n) amortised. A failed append leaves
 * the old content intact, so a caller can report KEEL_ENOMEM and still free cleanly.
 */
#include "base/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void keel_buf_init(keel_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void keel_buf_free(keel_buf *b)
{
    keel_free(b->data);
    keel_buf_init(b);
}

void keel_buf_reset(keel_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

int keel_buf_reserve(keel_buf *b, size_t extra)
{
    size_t need;
    if (!keel_size_add(b->len, extra, &need) || !keel_size_add(need, 1, &need)) return KEEL_ENOMEM;
    if (need <= b->cap) return KEEL_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = keel_realloc(b->data, cap);
    if (!p) return KEEL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return KEEL_OK;
}

int keel_buf_append(keel_buf *b, const void *p, size_t n)
{
    if (keel_buf_reserve(b, n) != KEEL_OK) return KEEL_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KEEL_OK;
}

int keel_buf_puts(keel_buf *b, const char *s)
{
    return keel_buf_append(b, s, strlen(s));
}

int keel_buf_putc(keel_buf *b, char c)
{
    return keel_buf_append(b, &c, 1);
}

/* Formats into the room the buffer already has, and only when the text does not fit grows
 * it and formats again: one pass instead of two for the short texts that are most calls. */
int keel_buf_printf(keel_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0; /* counts the NUL */
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room) {
        va_end(ap2);
        b->len += (size_t)n;
        return KEEL_OK;
    }
    if (n < 0 || keel_buf_reserve(b, (size_t)n) != KEEL_OK) {
        if (b->data) b->data[b->len] = '\0'; /* the failed try may have written into the room */
        va_end(ap2);
        return KEEL_ENOMEM;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return KEEL_OK;
}

int keel_buf_put_u64(keel_buf *b, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return keel_buf_append(b, digits + sizeof digits - n, n);
}

int keel_buf_json_str(keel_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX (6 bytes) or U+FFFD (3 bytes). */
    size_t worst;
    if (!keel_size_mul(n, 6, &worst) || keel_buf_reserve(b, worst + 2) != KEEL_OK)
        return KEEL_ENOMEM;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t ok = keel_utf8_valid_prefix(s + i, n - i);
            if (ok == 0) {
                /* Invalid byte: replace it so that the output stays valid JSON. */
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
                i++;
                continue;
            }
            /* Copy the valid run up to the next ASCII byte that may need escaping. */
            size_t j = i;
            while (j < i + ok && (unsigned char)s[j] >= 0x80)
                j++;
            memcpy(o, s + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        } else {
            *o++ = (char)c;
        }
        i++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return KEEL_OK;
}

int keel_buf_json_num(keel_buf *b, double v)
{
    if (!isfinite(v)) return keel_buf_puts(b, "null");
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) /* range first: the cast is UB above 2^63 */
        return keel_buf_printf(b, "%lld", (long long)v);
    /* Shortest of %.15g..%.17g that reads back as the same double. */
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    return keel_buf_puts(b, tmp);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int keel_buf_base64(keel_buf *b, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t out = (n + 2) / 3 * 4;
    if (keel_buf_reserve(b, out) != KEEL_OK) return KEEL_ENOMEM;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return KEEL_OK;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long keel_base64_decode(const char *s, size_t n, void *out, size_t cap)
{
    unsigned char *o = out;
    size_t len = 0;
    if (n % 4 != 0) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) return -1;
                v[k] = b64_value(s[i + k]);
                if (v[k] < 0) return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        int bytes = 3 - pad;
        if (len + (size_t)bytes > cap) return -1;
        for (int k = 0; k < bytes; k++)
            o[len++] = (unsigned char)(w >> (16 - 8 * k));
    }
    return (long)len;
}
