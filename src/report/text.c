/*
 * text.c — the character rules every report shares (src/report/text.h): decoding UTF-8 a
 * sequence at a time, which code points are hidden as U+FFFD (C1 controls and the
 * bidirectional formatting characters, which can make "gnp.exe" read as "exe.png"), and how
 * wide a character is on screen (East Asian wide characters and emoji count two), so that
 * the profile report and the model card escape and cut text the same way; and how both
 * write integers and trim decimals for people.
 */
#include "report/text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t report_utf8_seq_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

uint32_t report_utf8_decode(const unsigned char *p, size_t len)
{
    if (len == 1) return p[0];
    uint32_t cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    return cp;
}

bool report_cp_hidden(uint32_t c)
{
    return (c >= 0x80 && c < 0xa0) || c == 0x061c || c == 0x200e || c == 0x200f ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

int report_cp_width(uint32_t c)
{
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1faff) ||
        (c >= 0x20000 && c <= 0x3fffd))
        return 2;
    return 1;
}

void report_fmt_int(double v, char *out)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)fabs(v));
    char *o = out;
    if (v < 0 && nd > 0 && digits[0] != '0') *o++ = '-';
    for (int i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) *o++ = ',';
        *o++ = digits[i];
    }
    *o = '\0';
}

void report_trim_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot) return;
    char *end = s + strlen(s);
    while (end > dot + 1 && end[-1] == '0')
        *--end = '\0';
    if (end == dot + 1) *dot = '\0';
}
