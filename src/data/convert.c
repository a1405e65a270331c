/*
 * convert.c — number, timestamp and boolean parsing.
 *
 * Numbers: the digits are gathered into a 64-bit integer mantissa m and a decimal exponent
 * e. When m < 2^53 and |e| <= 22, both m and 10^|e| are exact doubles, so one IEEE multiply
 * or divide gives the correctly rounded result (Clinger's fast path). That covers nearly all
 * real data; anything else (20+ significant digits, huge exponents) goes to strtod on a
 * NUL-terminated copy, which is correctly rounded in glibc. keel never calls setlocale, so
 * strtod sees the "C" locale and '.' as its decimal mark.
 */
#include "data/convert.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const double keel_pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int slow_path(const char *s, size_t n, char decimal, double *out)
{
    char tmp[512];
    if (n >= sizeof tmp)
        return KEEL_EPARSE; /* grammar already checked: a 500-digit number is not data */
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (decimal != '.') {
        char *d = memchr(tmp, decimal, n);
        if (d) *d = '.';
    }
    errno = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (errno == ERANGE && isinf(v)) return KEEL_ELIMIT;
    /* Underflow to 0 or a denormal is a fine answer for data. */
    *out = v;
    return KEEL_OK;
}

int keel_parse_number_general(const char *s, size_t n, char decimal, double *out)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;
    int digits = 0;  /* significant digits gathered into m */
    int dropped = 0; /* integer digits beyond 19, which scale by 10 */
    int frac = 0;    /* fraction digits gathered into m */
    bool any = false, lost = false;
    while (p < end && (unsigned)(*p - '0') < 10) {
        if (digits < 19) {
            m = m * 10 + (uint64_t)(*p - '0');
            if (m) digits++;
        } else {
            dropped++;
            lost |= *p != '0';
        }
        any = true;
        p++;
    }
    if (p < end && *p == decimal) {
        p++;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                if (m) digits++;
                frac++;
            } else {
                lost |= *p != '0';
            }
            any = true;
            p++;
        }
    }
    if (!any) return KEEL_EPARSE;
    int exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '-' || *p == '+')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= end || (unsigned)(*p - '0') >= 10) return KEEL_EPARSE;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg) exp10 = -exp10;
    }
    if (p != end) return KEEL_EPARSE;
    int e = exp10 + dropped - frac;
    if (!lost && m < (1ULL << 53) && e >= -22 && e <= 22) {
        double v = (double)m;
        v = e < 0 ? v / keel_pow10_exact[-e] : v * keel_pow10_exact[e];
        *out = neg ? -v : v;
        return KEEL_OK;
    }
    if (m == 0 && !lost) {
        *out = neg ? -0.0 : 0.0;
        return KEEL_OK;
    }
    return slow_path(s, n, decimal, out);
}

/* ---- timestamps ---- */

static int read_digits(const char **p, const char *end, int min, int max, int *out)
{
    int v = 0, k = 0;
    while (*p < end && k < max && (unsigned)(**p - '0') < 10) {
        v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k < min) return -1;
    *out = v;
    return k;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : dm[m - 1];
}

typedef struct civil {
    int y, mo, d, h, mi, s;
    int64_t micros; /* fraction of the second */
    int offset_min; /* east of UTC */
} civil;

static int read_fraction(const char **p, const char *end, int64_t *micros)
{
    int64_t v = 0;
    int k = 0;
    while (*p < end && (unsigned)(**p - '0') < 10) {
        if (k < 6) v = v * 10 + (**p - '0');
        (*p)++;
        k++;
    }
    if (k == 0) return -1;
    for (int i = k; i < 6; i++)
        v *= 10;
    *micros = v;
    return 0;
}

static int read_offset(const char **p, const char *end, int *offset_min)
{
    if (*p < end && **p == 'Z') {
        (*p)++;
        *offset_min = 0;
        return 0;
    }
    if (*p >= end || (**p != '+' && **p != '-')) return -1;
    int sign = **p == '-' ? -1 : 1;
    (*p)++;
    int hh, mm = 0;
    if (read_digits(p, end, 2, 2, &hh) < 0 || hh > 23) return -1;
    if (*p < end && **p == ':') (*p)++;
    if (*p < end && (unsigned)(**p - '0') < 10 && (read_digits(p, end, 2, 2, &mm) < 0 || mm > 59))
        return -1;
    *offset_min = sign * (hh * 60 + mm);
    return 0;
}

static int parse_iso(const char *p, const char *end, civil *c)
{
    if (read_digits(&p, end, 4, 4, &c->y) < 0 || p >= end || *p++ != '-' ||
        read_digits(&p, end, 2, 2, &c->mo) < 0 || p >= end || *p++ != '-' ||
        read_digits(&p, end, 2, 2, &c->d) < 0)
        return -1;
    if (p == end) return 0;
    if (*p != 'T' && *p != ' ') return -1;
    p++;
    if (read_digits(&p, end, 2, 2, &c->h) < 0 || p >= end || *p++ != ':' ||
        read_digits(&p, end, 2, 2, &c->mi) < 0)
        return -1;
    if (p < end && *p == ':') {
        p++;
        if (read_digits(&p, end, 2, 2, &c->s) < 0) return -1;
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            if (read_fraction(&p, end, &c->micros) < 0) return -1;
        }
    }
    if (p < end && read_offset(&p, end, &c->offset_min) < 0) return -1;
    return p == end ? 0 : -1;
}

static int parse_format(const char *p, const char *end, const char *f, civil *c)
{
    for (; *f; f++) {
        if (*f != '%') {
            if (p >= end || *p != *f) return -1;
            p++;
            continue;
        }
        f++;
        int r = 0;
        switch (*f) {
        case 'Y':
            r = read_digits(&p, end, 4, 4, &c->y);
            break;
        case 'm':
            r = read_digits(&p, end, 1, 2, &c->mo);
            break;
        case 'd':
            r = read_digits(&p, end, 1, 2, &c->d);
            break;
        case 'H':
            r = read_digits(&p, end, 1, 2, &c->h);
            break;
        case 'M':
            r = read_digits(&p, end, 1, 2, &c->mi);
            break;
        case 'S':
            r = read_digits(&p, end, 1, 2, &c->s);
            break;
        case 'f':
            r = read_fraction(&p, end, &c->micros);
            break;
        case 'z':
            r = read_offset(&p, end, &c->offset_min);
            break;
        case '%':
            if (p >= end || *p != '%') return -1;
            p++;
            break;
        default:
            return -1; /* unknown directive, or a lone % at the end */
        }
        if (r < 0) return -1;
    }
    return p == end ? 0 : -1;
}

int keel_parse_timestamp(const char *s, size_t n, const char *format, int64_t *micros)
{
    while (n && *s == ' ') {
        s++;
        n--;
    }
    while (n && s[n - 1] == ' ')
        n--;
    civil c = {.y = 1970, .mo = 1, .d = 1};
    int r = format ? parse_format(s, s + n, format, &c) : parse_iso(s, s + n, &c);
    if (r < 0 || c.mo < 1 || c.mo > 12 || c.d < 1 || c.d > days_in_month(c.y, c.mo) || c.h > 23 ||
        c.mi > 59 || c.s > 60)
        return KEEL_EPARSE;
    int64_t days = keel_days_from_civil(c.y, (unsigned)c.mo, (unsigned)c.d);
    int64_t secs = days * 86400 + c.h * 3600 + c.mi * 60 + c.s - (int64_t)c.offset_min * 60;
    *micros = secs * 1000000 + c.micros;
    return KEEL_OK;
}

/* Case-insensitive compare of s[0..n) with a lower-case literal of the same length. */
static bool same_ci(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != lower[i]) return false;
    }
    return true;
}

int keel_parse_bool(const char *s, size_t n)
{
    /* Dispatch on length: this runs for every value of a boolean column. */
    switch (n) {
    case 1: {
        char c = s[0];
        if (c == '1' || c == 't' || c == 'T' || c == 'y' || c == 'Y') return 1;
        if (c == '0' || c == 'f' || c == 'F' || c == 'n' || c == 'N') return 0;
        return -1;
    }
    case 2:
        return same_ci(s, "no", 2) ? 0 : -1;
    case 3:
        return same_ci(s, "yes", 3) ? 1 : -1;
    case 4:
        return same_ci(s, "true", 4) ? 1 : -1;
    case 5:
        return same_ci(s, "false", 5) ? 0 : -1;
    }
    return -1;
}
