/*
 * doc.h — the report toolkit (private to src/report): what every human-readable report shares.
 *
 * A document writer with a sticky error, escaping of untrusted text for HTML or Markdown,
 * reading JSON members that may be absent or of the wrong type, numbers written for people,
 * and the structure (headings, paragraphs, notices, tables) spelled in either form. The data
 * profile (profile_html.c) and the model card (card*.c) both write through it, so a string
 * is escaped and a number is written the same way in both, except where a difference is
 * named below (doc_sci, doc_jtext against doc_jtext_nonempty, doc_fmt_share against
 * doc_fmt_pct_of), kept because pages already written with each form must re-render with
 * the same bytes.
 */
#ifndef KEEL_REPORT_DOC_H
#define KEEL_REPORT_DOC_H

#include "base/base.h"
#include "base/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { DOC_FMT = 48 /* buffer size for one formatted number */ };

/* ---- characters -------------------------------------------------------------------------- */

/* Bytes of the UTF-8 sequence a lead byte starts (1..4), or 0 for a byte that cannot lead
 * one. The caller checks the continuation bytes. */
size_t doc_utf8_seq_len(unsigned char c);
/* The code point of a checked sequence of len bytes. */
uint32_t doc_utf8_decode(const unsigned char *p, size_t len);
/* C1 controls and the bidirectional formatting characters: shown as U+FFFD. */
bool doc_cp_hidden(uint32_t c);
/* Display width: 2 for East Asian wide characters and emoji, else 1. */
int doc_cp_width(uint32_t c);

/* ---- the writer -------------------------------------------------------------------------- */

/* How a statistic too large or too small for fixed notation (|v| >= 1e15 or < 1e-4) is
 * written. The two agree everywhere but where rounding to four digits reaches 1e-4
 * (9.9995e-5 <= |v| < 1e-4): DOC_SCI_G ("%.4g", the profile's form) then writes "0.0001",
 * DOC_SCI_E ("%.3e", the card's form) keeps "1e-4". */
typedef enum doc_sci {
    DOC_SCI_G, /* profiles: tiny numbers may round up into fixed notation */
    DOC_SCI_E  /* cards: tiny numbers stay in scientific notation */
} doc_sci;

/* A document being written to b. After the first failed append err is set and every later
 * write is skipped, so a renderer checks once at the end. */
typedef struct doc_writer {
    keel_buf *b;
    int err;     /* KEEL_OK until the first failed append */
    bool md;     /* Markdown instead of HTML */
    bool code;   /* inside a Markdown code span: only invisible characters are replaced */
    int cell;    /* Markdown: cells written in the current table row */
    doc_sci sci; /* the form of scientific notation (doc_fmt_stat) */
} doc_writer;

void doc_putn(doc_writer *w, const char *s, size_t n);
void doc_put(doc_writer *w, const char *s);
void doc_putf(doc_writer *w, const char *fmt, ...) KEEL_PRINTF(2, 3);
/* Literal markup: written in HTML mode only. */
void doc_html(doc_writer *w, const char *s);

/* ---- escaping ---------------------------------------------------------------------------- */

/* Writes s[0..n) escaped for the writer's mode, cut at max_w display columns with an ellipsis
 * (0: no cut). In both modes C0 controls are shown as their Control Pictures symbol
 * (U+2400 + c, so "a\nb" reads "a␊b"), C1 controls, bidirectional formatting characters and
 * invalid UTF-8 become U+FFFD, and & < > are entities; HTML also escapes " and '. Markdown
 * escapes its syntax characters (| \ * _ ` [ ] ~, and # + - = at the start), except inside a
 * code span (w->code), where only the invisible characters are replaced. */
void doc_text(doc_writer *w, const char *s, size_t n, size_t max_w);
void doc_textz(doc_writer *w, const char *s, size_t max_w);

/* ---- JSON access (every helper accepts NULL and wrong types) ---------------------------- */

/* Member key of obj when it has the type, else NULL. */
const keel_json *doc_jget(const keel_json *obj, const char *key, keel_json_type type);
const keel_json *doc_jobj(const keel_json *obj, const char *key);
const keel_json *doc_jarr(const keel_json *obj, const char *key);
/* A string member, the empty string included (the profile shows an empty value as empty). */
const keel_json *doc_jstr(const keel_json *obj, const char *key);
/* A string member that is not empty (the card treats an empty field as one not filled in,
 * so it gets the section's "not set" text instead of a blank). */
const keel_json *doc_jstr_nonempty(const keel_json *obj, const char *key);
/* A finite number v: true and *out set. */
bool doc_jnum(const keel_json *v, double *out);
/* A finite number member of obj: true and *out set. */
bool doc_jnum_member(const keel_json *obj, const char *key, double *out);
/* A finite number member of obj, else NaN. */
double doc_jnumd(const keel_json *obj, const char *key);
/* Whether a boolean member is true. */
bool doc_jtrue(const keel_json *obj, const char *key);
/* Array item i, when it is an object (else NULL). */
const keel_json *doc_item(const keel_json *arr, size_t i);
/* Whether s is the string lit. */
bool doc_jstr_is(const keel_json *s, const char *lit);
/* The string s escaped (an empty one writes nothing), or the fallback (escaped too) when s
 * is absent or not a string. The profile's form. */
void doc_jtext(doc_writer *w, const keel_json *s, size_t max_w, const char *fallback);
/* The same, but an empty string writes the fallback as well. The card's form: its fields are
 * typed by people, and an empty one must read as "not recorded", not vanish. */
void doc_jtext_nonempty(doc_writer *w, const keel_json *s, size_t max_w, const char *fallback);

/* ---- numbers for people ------------------------------------------------------------------- */

/* An integer-valued v with |v| < 1e18, with thousands separators ("-1,234,567"); out needs
 * 32 bytes. */
void doc_fmt_int(double v, char *out);
/* Drops trailing zeros after a decimal point, and the point itself if nothing is left. */
void doc_trim_zeros(char *s);
/* A statistic: four significant digits, integer digits never rounded away (121,690.5 shows
 * as 121,691, not 121,700), "—" when not finite; sci chooses the scientific form. */
void doc_fmt_stat(double v, char out[DOC_FMT], doc_sci sci);
/* A count: exact with separators when it is a whole number, else as a statistic. */
void doc_fmt_count(double v, char out[DOC_FMT], doc_sci sci);
/* A share (0..1) as a percentage with one decimal, as plain text to be escaped: "<0.1%" for
 * a positive share under 0.05%, ">99.9%" just under 100%, "—" when not finite or beyond a
 * million percent. The card's form: its shares arrive already divided. */
void doc_fmt_share(double share, char out[DOC_FMT]);
/* part as a percentage of whole with one decimal, as HTML (it writes "&lt;0.1%" itself, so it
 * is put, not escaped): "—" when whole is not positive; a part larger than whole is shown as
 * it is. The profile's form: it divides counts of its own and must show inconsistent ones. */
void doc_fmt_pct_of(double part, double whole, char out[DOC_FMT]);
/* An axis label: compact (15k, 1.5M) once numbers get long. */
void doc_fmt_axis(double v, char out[DOC_FMT], doc_sci sci);
/* A "step" between about target ticks over span: 1, 2 or 5 times a power of ten; 0 when span
 * is not positive and finite, or too small or too large for one (then no ticks are drawn). */
double doc_nice_step(double span, int target);

/* Numbers written through the escaper ("-1.5" starts with a Markdown '-'; in HTML the digits
 * of a number need no escaping, so there it is the number as formatted). */
void doc_put_stat(doc_writer *w, double v);
void doc_put_count(doc_writer *w, double v);
void doc_put_share(doc_writer *w, double share);
/* A count v, or "—" when v is not a finite number. */
void doc_put_jcount(doc_writer *w, const keel_json *v);
/* "12.3 (11.1 – 13.4)": an estimate with its interval when both ends are known (the interval
 * in a muted span in HTML). */
void doc_put_ci(doc_writer *w, double v, double lo, double hi);

/* ---- structure: headings, paragraphs, notices, tables ------------------------------------ */

void doc_heading(doc_writer *w, int level, const char *id, const char *title);
void doc_para_begin(doc_writer *w, const char *cls);
void doc_para_end(doc_writer *w);
/* A notice: kind "warn" (something a reviewer must act on) or "info". */
void doc_notice_begin(doc_writer *w, const char *kind);
void doc_notice_end(doc_writer *w);
void doc_notice(doc_writer *w, const char *kind, const char *msg);
/* A JSON string shown as code (a command) inside prose, cut at max_w. */
void doc_code(doc_writer *w, const keel_json *s, size_t max_w);
/* Tables: headers are literal (trusted) text; cells are written between doc_cell() calls. */
void doc_table_begin(doc_writer *w, const char *cls, const char *const *headers, size_t n);
void doc_row_begin(doc_writer *w, const char *cls);
void doc_cell(doc_writer *w, const char *cls);
void doc_row_end(doc_writer *w);
void doc_table_end(doc_writer *w);
/* A two-column facts table: doc_facts_begin, then rows "key | value", then doc_table_end. */
void doc_facts_begin(doc_writer *w);
void doc_fact_begin(doc_writer *w, const char *key);
/* A facts row with a JSON string (nothing when v is NULL). */
void doc_fact_str(doc_writer *w, const char *key, const keel_json *v, size_t max_w);
/* A facts row with a count member of o (nothing when it is not a finite number). */
void doc_fact_count(doc_writer *w, const char *key, const keel_json *o, const char *field);
/* A JSON string in a monospace span (HTML), "—" when absent. */
void doc_mono(doc_writer *w, const keel_json *s, size_t max_w);

#endif
