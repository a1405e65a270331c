/*
 * buf.c — a growable NUL-terminated byte buffer, and the JSON and base64 encoders that
 * write into it.
 *
 * Growth doubles the capacity, so n appends cost O(n) amortised. A failed append leaves
 * the old content intact, so a caller can report KEEL_ENOMEM and still free cleanly, and
 * marks the buffer failed (every append fails only through keel_buf_reserve or a format
 * error), which keel_buf_end reads: one check for a whole document instead of one per piece.
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
    b->failed = false;
}

void keel_buf_free(keel_buf *b)
{
    keel_free(b->data);
    keel_buf_init(b);
}

void keel_buf_reset(keel_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = '\0';
}

int keel_buf_reserve(keel_buf *b, size_t extra)
{
    size_t need;
    if (!keel_size_add(b->len, extra, &need) || !keel_size_add(need, 1, &need)) {
        b->failed = true;
        return KEEL_ENOMEM;
    }
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
    if (!p) {
        b->failed = true;
        return KEEL_ENOMEM;
    }
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
        b->failed = true;
        va_end(ap2);
        return KEEL_ENOMEM;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return KEEL_OK;
}

int keel_buf_put_i64(keel_buf *b, int64_t v)
{
    if (v >= 0) return keel_buf_put_u64(b, (uint64_t)v);
    if (keel_buf_putc(b, '-') != KEEL_OK) return KEEL_ENOMEM;
    return keel_buf_put_u64(b, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
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
    if (!keel_size_mul(n, 6, &worst)) {
        b->failed = true;
        return KEEL_ENOMEM;
    }
    if (keel_buf_reserve(b, worst + 2) != KEEL_OK) return KEEL_ENOMEM;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        /* Eight bytes at a time while none needs a look. */
        for (uint64_t w; n - i >= 8; i += 8, o += 8) {
            memcpy(&w, s + i, 8);
            if (keel_json_special_bytes(w)) break;
            memcpy(o, &w, 8);
        }
        if (i >= n) break;
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

/* %.15g's text of v by integer arithmetic, when v = m / 10^k for integers m < 10^15 and
 * 0 < k <= 15 and 1e-4 <= |v| < 1e15 (most numbers people write); 0 otherwise. For the
 * smallest such k, m = round(v * 10^k) exactly (the product is within 0.25 of m), m / 10^k
 * is v exactly when the division of the two exact doubles rounds to v, and then the
 * 15-digit decimal nearest v is m * 10^-k (decimals of at most 15 digits lie further apart
 * than v's rounding interval is wide), which %.15g prints in fixed notation for this range,
 * trailing zeros dropped: m's last digit is not 0, or a smaller k would have done. */
static size_t fixed_text(double v, char out[40])
{
    static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    for (int k = 1; k <= 15; k++) {
        double x = a * p10[k];
        if (x >= 1e15) return 0;
        uint64_t m = (uint64_t)(x + 0.5);
        if ((double)m / p10[k] != a) continue;
        char digits[20];
        int nd = 0;
        for (uint64_t t = m; t; t /= 10)
            digits[nd++] = (char)('0' + t % 10); /* least significant first */
        size_t len = 0;
        if (v < 0) out[len++] = '-';
        if (nd <= k) {
            out[len++] = '0';
        } else {
            for (int i = nd - 1; i >= k; i--)
                out[len++] = digits[i];
        }
        out[len++] = '.';
        for (int i = k - 1; i >= 0; i--)
            out[len++] = i < nd ? digits[i] : '0';
        out[len] = '\0';
        return len;
    }
    return 0;
}

int keel_buf_json_num(keel_buf *b, double v)
{
    if (!isfinite(v)) return keel_buf_puts(b, "null");
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) /* range first: the cast is UB above 2^63 */
        return keel_buf_put_i64(b, (int64_t)v);
    char tmp[40];
    size_t n = fixed_text(v, tmp);
    if (n) return keel_buf_append(b, tmp, n);
    /* Shortest of %.15g..%.17g that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    return keel_buf_puts(b, tmp);
}

int keel_buf_json_float(keel_buf *b, float f)
{
    if (!isfinite(f)) return keel_buf_puts(b, "null");
    char t[KEEL_FLOAT_TEXT];
    size_t n = keel_float_text(f, t);
    return keel_buf_append(b, t, n);
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

/* p[0..n) as one CSV field, after the byte prefix when it is not 0 (inside the quotes, when
 * the field needs them: the prefix is part of the cell's text). */
static int csv_field(keel_buf *b, char prefix, const char *p, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
    int rc = KEEL_OK;
    if (quote) rc |= keel_buf_putc(b, '"');
    if (prefix) rc |= keel_buf_putc(b, prefix);
    if (!quote) {
        rc |= keel_buf_append(b, p, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '"') rc |= keel_buf_putc(b, '"');
            rc |= keel_buf_putc(b, p[i]);
        }
        rc |= keel_buf_putc(b, '"');
    }
    return rc ? KEEL_ENOMEM : KEEL_OK;
}

int keel_buf_csv_field(keel_buf *b, const char *p, size_t n)
{
    return csv_field(b, 0, p, n);
}

/* Whether p[0..n) is a decimal number and nothing else: [+-] digits [. digits] [e [+-]
 * digits], with digits on at least one side of the point ("-1.5", "+3", "-2e-3", ".5"). A
 * spreadsheet reads such a cell as the number, never as a formula. */
static bool csv_is_number(const char *p, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        digits++;
    if (i < n && p[i] == '.')
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    if (!digits) return false;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t exp = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            exp++;
        if (!exp) return false;
    }
    return i == n;
}

int keel_buf_csv_text(keel_buf *b, const char *p, size_t n, bool raw)
{
    /* OWASP's list for CSV injection: = + - @ start a formula in Excel, LibreOffice and
     * Google Sheets, and a leading tab or carriage return can hide one. A single quote makes
     * the cell text there; readers that are not spreadsheets see it as part of the value,
     * which is why numbers (a regression's -1.5) are left alone and raw turns it all off. */
    bool formula = n > 0 && (p[0] == '=' || p[0] == '+' || p[0] == '-' || p[0] == '@' ||
                             p[0] == '\t' || p[0] == '\r');
    return csv_field(b, !raw && formula && !csv_is_number(p, n) ? '\'' : 0, p, n);
}

const char *keel_path_base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

char *keel_path_derived(const char *path, const char *suffix)
{
    const char *b = strcmp(path, "-") ? keel_path_base(path) : "stdin";
    const char *dot = strrchr(b, '.');
    size_t stem = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *out = keel_malloc(stem + strlen(suffix) + 1);
    if (out) {
        memcpy(out, b, stem);
        strcpy(out + stem, suffix);
    }
    return out;
}

bool keel_path_has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && !strcmp(path + n - k, suffix);
}

size_t keel_path_stem_len(const char *name, const char *ext)
{
    size_t n = strlen(name), k = strlen(ext);
    return n > k && !strcmp(name + n - k, ext) ? n - k : n;
}
