/*
 * text.h — character rules shared by the HTML/Markdown reports (private to src/report).
 */
#ifndef KEEL_REPORT_TEXT_H
#define KEEL_REPORT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the UTF-8 sequence a lead byte starts (1..4), or 0 for a byte that cannot lead
 * one. The caller checks the continuation bytes. */
size_t report_utf8_seq_len(unsigned char c);
/* The code point of a checked sequence of len bytes. */
uint32_t report_utf8_decode(const unsigned char *p, size_t len);
/* C1 controls and the bidirectional formatting characters: shown as U+FFFD. */
bool report_cp_hidden(uint32_t c);
/* Display width: 2 for East Asian wide characters and emoji, else 1. */
int report_cp_width(uint32_t c);

/* An integer-valued v with |v| < 1e18, with thousands separators ("-1,234,567"); out needs
 * 32 bytes. */
void report_fmt_int(double v, char *out);
/* Drops trailing zeros after a decimal point, and the point itself if nothing is left. */
void report_trim_zeros(char *s);

#endif
