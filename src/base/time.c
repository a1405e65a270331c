/*
 * time.c — clocks and calendar arithmetic (proleptic Gregorian, UTC, no time zone data).
 */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double keel_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Days since 1970-01-01. Years are counted from March so that the leap day falls at the
 * end of the year; an era is 400 years = 146097 days. */
int64_t keel_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The inverse of keel_days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* v in exactly width decimal digits, zero-padded (v < 10^width). */
static char *put_digits(char *o, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + width;
}

void keel_format_timestamp(int64_t micros, char out[40])
{
    int64_t secs = micros / 1000000, frac = micros % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    if (y >= 0 && y <= 9999) { /* by hand: the server writes one per logged request */
        char *o = out;
        o = put_digits(o, (unsigned)y, 4);
        *o++ = '-';
        o = put_digits(o, m, 2);
        *o++ = '-';
        o = put_digits(o, d, 2);
        *o++ = 'T';
        o = put_digits(o, (unsigned)hh, 2);
        *o++ = ':';
        o = put_digits(o, (unsigned)mm, 2);
        *o++ = ':';
        o = put_digits(o, (unsigned)ss, 2);
        if (frac) {
            *o++ = '.';
            o = put_digits(o, (unsigned)frac, 6);
        }
        *o++ = 'Z';
        *o = '\0';
        return;
    }
    if (frac)
        snprintf(out, 40, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", (long long)y, m, d, hh, mm, ss,
                 (long long)frac);
    else
        snprintf(out, 40, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm, ss);
}

int64_t keel_wall_micros(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool keel_parse_time(const char *s, int64_t *micros)
{
    char *end;
    errno = 0;
    long long secs = strtoll(s, &end, 10);
    if (!*end && !errno && end != s && strlen(s) > 8) {
        *micros = (int64_t)secs * 1000000;
        return true;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return false;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2) return false;
        p += 1 + m2;
        if (*p == ':') {
            int m3 = 0;
            if (sscanf(p + 1, "%2d%n", &sec, &m3) != 1) return false;
            p += 1 + m3;
        }
    }
    if (*p == 'Z') p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 60)
        return false;
    int64_t days = keel_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *micros = ((days * 24 + h) * 60 + mi) * 60 * 1000000LL + sec * 1000000LL;
    return true;
}
