/*
 * convert.h — turning field text into typed values: numbers, timestamps, booleans.
 *
 * These run once per field of every record, so they are written for speed: no allocation,
 * no locale, and a fast exact path for the decimals that make up almost all real data.
 * All take (pointer, length) text that need not be NUL-terminated. Thread-safe.
 */
#ifndef KEEL_DATA_CONVERT_H
#define KEEL_DATA_CONVERT_H

#include "base/base.h"

/* Parses a decimal number: optional spaces, sign, digits with an optional decimal mark
 * (decimal is '.' or ','), optional exponent, optional spaces. Rejects everything else,
 * including NaN, infinities, hex and thousands separators. Results are correctly rounded.
 * Returns KEEL_OK, KEEL_EPARSE (not a number) or KEEL_ELIMIT (overflows a double). */
int keel_parse_number_general(const char *s, size_t n, char decimal, double *out);

extern const double keel_pow10_exact[23]; /* 1e0 .. 1e22, each exactly representable */

/* The common shape inline — optional '-', at most 15 digits with an optional decimal mark,
 * nothing else — where the mantissa is exact and one division by an exact power of ten
 * rounds correctly (no division at all for whole numbers, which are most data). *whole is
 * set to 1 when the text has no fraction digits, 0 when it has some, -1 when unknown (the
 * general parser ran). Everything else goes to the general parser. */
static inline int keel_parse_number_ex(const char *s, size_t n, char decimal, double *out,
                                       int *whole)
{
    const char *p = s, *end = s + n;
    bool neg = p < end && *p == '-';
    p += neg;
    const char *digits = p;
    uint64_t m = 0;
    while (p < end && (unsigned)(*p - '0') < 10)
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t int_digits = (size_t)(p - digits), frac_digits = 0;
    if (p < end && *p == decimal) {
        const char *f = ++p;
        while (p < end && (unsigned)(*p - '0') < 10)
            m = m * 10 + (uint64_t)(*p++ - '0');
        frac_digits = (size_t)(p - f);
    }
    if (p == end && int_digits + frac_digits - 1 < 15) {
        double v = (double)m;
        if (frac_digits) v /= keel_pow10_exact[frac_digits];
        *out = neg ? -v : v;
        *whole = frac_digits == 0;
        return KEEL_OK;
    }
    *whole = -1;
    return keel_parse_number_general(s, n, decimal, out);
}

static inline int keel_parse_number(const char *s, size_t n, char decimal, double *out)
{
    int whole;
    return keel_parse_number_ex(s, n, decimal, out, &whole);
}

/* Parses a timestamp to microseconds since 1970-01-01T00:00:00Z.
 * format NULL: ISO 8601 — YYYY-MM-DD, optionally followed by 'T' or ' ' and
 * HH:MM[:SS[.fraction]], optionally followed by 'Z' or an offset ±HH[:MM]. No offset = UTC.
 * Otherwise format is a pattern of %Y %m %d %H %M %S %f (fraction) %z (Z or ±HH[:MM]) %%
 * and literal characters, e.g. "%d/%m/%Y". Fields are range-checked (no 31 February).
 * Returns KEEL_OK or KEEL_EPARSE. */
int keel_parse_timestamp(const char *s, size_t n, const char *format, int64_t *micros);

/* Recognises the default boolean spellings, case-insensitively: true/false, t/f, yes/no,
 * y/n, 1/0. Returns 1 for true, 0 for false, -1 for neither. */
int keel_parse_bool(const char *s, size_t n);

#endif
