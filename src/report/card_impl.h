/*
 * card_impl.h — what the model card's renderer files share (private to src/report): the
 * bounds every section keeps, the measure names, and the sections themselves. card.c writes
 * the page around them, card_sections.c the tables and prose, card_charts.c the sections
 * with charts; all write through the report toolkit (report/doc.h).
 */
#ifndef KEEL_REPORT_CARD_IMPL_H
#define KEEL_REPORT_CARD_IMPL_H

#include "report/doc.h"

enum {
    /* Bounds, so the output is bounded by the input (MAX_*: items listed or drawn). */
    MAX_ROWS = 500,  /* rows of any one table */
    MAX_BARS = 30,   /* bars of the importance chart */
    MAX_CURVES = 8,  /* partial-dependence plots */
    MAX_POINTS = 64, /* points of one partial-dependence curve */
    MAX_BINS = 50,   /* calibration bins drawn */
    MAX_SLICES = 50, /* sensitive columns */
    MAX_HP = 60,     /* hyper-parameters listed */
    W_NAME = 60,     /* display width kept of a column name or label */
    W_LABEL = 24,    /* ... of a label written beside a bar or under an axis */
    W_VALUE = 160,   /* ... of a value in a table cell */
    W_PROSE = 4000,  /* ... of intended use, limitations and comments */
};

/* A measure the card knows: its key in the document, its name for people, and which way is
 * better. */
struct card_measure {
    const char *key, *label;
    bool lower_better;
};

/* The measure called name (a JSON string), or NULL when the card does not know it. */
const struct card_measure *card_measure_of(const keel_json *name);
/* A measure's name for people (trusted label, or the escaped raw name). */
void card_measure_label(doc_writer *w, const keel_json *name);
/* A column's name for people: display_name, else column, else name. */
const keel_json *card_display(const keel_json *o);

/* A section: a <section> box in HTML, a level-2 heading in both forms. */
void card_section_begin(doc_writer *w, const char *id, const char *title);
void card_section_end(doc_writer *w);

/* The sections, in the order the page shows them (card.c, render). card_sections.c: */
void card_sec_warnings(doc_writer *w, const keel_json *card);
void card_sec_use(doc_writer *w, const keel_json *card);
void card_sec_model(doc_writer *w, const keel_json *card);
void card_sec_training(doc_writer *w, const keel_json *card);
void card_sec_quality(doc_writer *w, const keel_json *card);
void card_sec_groups(doc_writer *w, const keel_json *card);
/* card_charts.c: */
void card_sec_calibration(doc_writer *w, const keel_json *card);
void card_sec_importance(doc_writer *w, const keel_json *card);
void card_sec_pd(doc_writer *w, const keel_json *card);
/* card_sections.c: */
void card_sec_governance(doc_writer *w, const keel_json *card);
void card_sec_reading(doc_writer *w);

#endif
