/*
 * card_sections.c — the model card's sections of tables and prose: intended use, the model,
 * its training data, quality on held-out data, quality per group, approvals and audit, the
 * warnings and how to read the card. Each reads its part of the card's document through the
 * toolkit's tolerant helpers (a member may be absent or of the wrong type: the section then
 * says what is not available) and keeps the bounds of card_impl.h. Design notes for the
 * whole card are atop card.c.
 */
#include "report/card_impl.h"

#include <math.h>
#include <string.h>

/* One of intended use / limitations / owner: the text, or a prominent notice with the
 * command that sets it. */
static void use_field(doc_writer *w, const keel_json *use, const char *key, const char *title,
                      bool required)
{
    doc_heading(w, 3, key, title);
    const keel_json *v = doc_jstr_nonempty(use, key);
    if (v) {
        doc_para_begin(w, "prose");
        doc_text(w, v->u.string.s, v->u.string.len, W_PROSE);
        doc_para_end(w);
        return;
    }
    doc_notice_begin(w, required ? "warn" : "info");
    doc_putf(w, "%s has not been set for this model.", title);
    const keel_json *cmd = doc_jstr_nonempty(doc_jobj(doc_jobj(use, "commands"), key), "command");
    if (!cmd) cmd = doc_jstr_nonempty(doc_jobj(use, "commands"), key);
    if (cmd) {
        doc_put(w, " Set it with ");
        doc_code(w, cmd, W_PROSE);
        doc_put(w, " and write the card again.");
    } else {
        doc_put(w, " It is kept as the registry tag ");
        doc_put(w, w->md ? "`" : "<code>");
        doc_put(w, key);
        doc_put(w, w->md ? "`" : "</code>");
        doc_put(w, " of the model version (keel model tag NAME:VERSION KEY=VALUE).");
    }
    const keel_json *why = doc_jstr_nonempty(use, "note");
    if (why) {
        doc_put(w, " ");
        doc_text(w, why->u.string.s, why->u.string.len, W_PROSE);
    }
    doc_notice_end(w);
}

void card_sec_use(doc_writer *w, const keel_json *card)
{
    const keel_json *use = doc_jobj(card, "use");
    card_section_begin(w, "use", "Intended use and limitations");
    use_field(w, use, "intended_use", "Intended use", true);
    use_field(w, use, "limitations", "Limitations", true);
    use_field(w, use, "owner", "Owner", false);
    card_section_end(w);
}

void card_sec_model(doc_writer *w, const keel_json *card)
{
    const keel_json *model = doc_jobj(card, "model");
    card_section_begin(w, "model", "The model");
    if (!model) {
        doc_notice(w, "warn", "The model's details are not available in this card.");
        card_section_end(w);
        return;
    }
    doc_facts_begin(w);
    doc_fact_str(w, "Name", doc_jstr_nonempty(model, "name"), W_NAME);
    doc_fact_str(w, "Loaded from", doc_jstr_nonempty(model, "reference"), W_VALUE);
    doc_fact_str(w, "Task", doc_jstr_nonempty(model, "task"), W_NAME);
    doc_fact_str(w, "Target column", doc_jstr_nonempty(model, "target"), W_NAME);
    const keel_json *classes = doc_jarr(model, "classes");
    if (keel_json_len(classes)) {
        doc_fact_begin(w, "Classes");
        for (size_t i = 0; i < keel_json_len(classes) && i < 100; i++) {
            if (i) doc_put(w, ", ");
            doc_jtext_nonempty(w, keel_json_at(classes, i), W_LABEL, "?");
        }
        if (keel_json_len(classes) > 100) doc_put(w, ", \xe2\x80\xa6");
        doc_row_end(w);
    }
    doc_fact_str(w, "Explained class", doc_jstr_nonempty(model, "explained_class"), W_NAME);
    doc_fact_str(w, "Calibration", doc_jstr_nonempty(model, "calibration"), W_NAME);
    doc_fact_count(w, "Model inputs", model, "inputs");
    if (doc_jstr_nonempty(model, "sha256")) {
        doc_fact_begin(w, "Artifact SHA-256");
        doc_mono(w, doc_jstr_nonempty(model, "sha256"), 64);
        doc_row_end(w);
    }
    doc_table_end(w);
    const keel_json *hp = doc_jobj(model, "hyper_parameters");
    if (keel_json_len(hp)) {
        doc_heading(w, 3, "hp", "Hyper-parameters");
        doc_facts_begin(w);
        for (size_t i = 0; i < hp->u.object.n && i < MAX_HP; i++) {
            const keel_json_member *mb = &hp->u.object.members[i];
            doc_row_begin(w, NULL);
            doc_cell(w, "k");
            doc_text(w, mb->key, mb->key_len, W_NAME);
            doc_cell(w, NULL);
            const keel_json *v = &mb->value;
            if (v->type == KEEL_JSON_NUMBER) {
                doc_put_stat(w, v->u.number.value);
            } else if (v->type == KEEL_JSON_STRING) {
                doc_text(w, v->u.string.s, v->u.string.len, W_VALUE);
            } else if (v->type == KEEL_JSON_BOOL) {
                doc_put(w, v->u.boolean ? "true" : "false");
            } else if (v->type == KEEL_JSON_ARRAY) {
                for (size_t j = 0; j < v->u.array.n && j < 16; j++) {
                    if (j) doc_put(w, ", ");
                    const keel_json *x = &v->u.array.items[j];
                    if (x->type == KEEL_JSON_NUMBER)
                        doc_put_stat(w, x->u.number.value);
                    else
                        doc_jtext_nonempty(w, x, W_LABEL, "?");
                }
            } else {
                doc_put(w, "\xe2\x80\x94");
            }
            doc_row_end(w);
        }
        doc_table_end(w);
    }
    card_section_end(w);
}

/* The schema's columns with what the training profile says of each. */
static void columns_table(doc_writer *w, const keel_json *card)
{
    const keel_json *cols = doc_jarr(card, "columns");
    doc_heading(w, 3, "columns", "Columns");
    if (!keel_json_len(cols)) {
        doc_notice(w, "info", "The model's columns are not available in this card.");
        return;
    }
    static const char *const h[] = {"Column", "Name in the data",    "Type",
                                    "Role",   "Missing in training", "Training data"};
    doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
    size_t n = keel_json_len(cols);
    for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
        const keel_json *c = doc_item(cols, i);
        if (!c) continue;
        doc_row_begin(w, NULL);
        doc_cell(w, NULL);
        doc_jtext_nonempty(w, card_display(c), W_NAME, "?");
        if (doc_jtrue(c, "sensitive"))
            doc_put(w, w->md ? " (sensitive)" : "<span class=\"badge sens\">sensitive</span>");
        const keel_json *pii = doc_jstr_nonempty(c, "pii");
        if (pii && !doc_jstr_is(pii, "none")) {
            doc_put(w, w->md ? " (personal data: " : "<span class=\"badge\">personal data: ");
            doc_jtext_nonempty(w, pii, W_LABEL, "");
            doc_put(w, w->md ? ")" : "</span>");
        }
        doc_cell(w, "mono");
        doc_jtext_nonempty(w, doc_jstr_nonempty(c, "name"), W_NAME, "?");
        doc_cell(w, NULL);
        doc_jtext_nonempty(w, doc_jstr_nonempty(c, "type"), W_LABEL, "\xe2\x80\x94");
        doc_cell(w, NULL);
        doc_jtext_nonempty(w, doc_jstr_nonempty(c, "role"), W_LABEL, "\xe2\x80\x94");
        doc_cell(w, "n");
        double count, missing;
        if (doc_jnum_member(c, "count", &count) && doc_jnum_member(c, "missing", &missing) &&
            count > 0)
            doc_put_share(w, missing / count);
        else
            doc_put(w, "\xe2\x80\x94");
        doc_cell(w, NULL);
        doc_jtext_nonempty(w, doc_jstr_nonempty(c, "summary"), W_VALUE, "\xe2\x80\x94");
        doc_row_end(w);
    }
    doc_table_end(w);
    if (n > MAX_ROWS) {
        doc_para_begin(w, NULL);
        doc_putf(w, "(%zu more columns are not listed.)", n - MAX_ROWS);
        doc_para_end(w);
    }
}

/* A metrics object ({"accuracy": x, ...}) as a facts table. */
static void metrics_object(doc_writer *w, const keel_json *m)
{
    doc_facts_begin(w);
    for (size_t i = 0; i < keel_json_len(m) && i < 40; i++) {
        const keel_json_member *mb = &m->u.object.members[i];
        if (mb->value.type != KEEL_JSON_NUMBER) continue;
        keel_json key = {.type = KEEL_JSON_STRING};
        key.u.string.s = mb->key;
        key.u.string.len = mb->key_len;
        doc_row_begin(w, NULL);
        doc_cell(w, "k");
        if (mb->key_len == 1 && mb->key[0] == 'n')
            doc_put(w, "Rows");
        else
            card_measure_label(w, &key);
        doc_cell(w, "n");
        doc_put_stat(w, mb->value.u.number.value);
        doc_row_end(w);
    }
    doc_table_end(w);
}

void card_sec_training(doc_writer *w, const keel_json *card)
{
    const keel_json *t = doc_jobj(card, "training");
    card_section_begin(w, "training", "Training data and lineage");
    if (!t) {
        doc_notice(w, "warn", "The artifact records nothing about its training data.");
    } else {
        doc_facts_begin(w);
        doc_fact_str(w, "Source file", doc_jstr_nonempty(t, "source"), W_VALUE);
        if (doc_jstr_nonempty(t, "sha256")) {
            doc_fact_begin(w, "Its SHA-256");
            doc_mono(w, doc_jstr_nonempty(t, "sha256"), 64);
            doc_row_end(w);
        }
        doc_fact_count(w, "Records read", t, "records");
        doc_fact_count(w, "Accepted by the schema", t, "accepted");
        doc_fact_count(w, "Quarantined", t, "quarantined");
        doc_fact_count(w, "Rows trained on", t, "train_rows");
        doc_fact_count(w, "Rows for early stopping and calibration", t, "validation_rows");
        doc_fact_count(w, "Rows without a target", t, "unlabeled_rows");
        doc_fact_count(w, "Epochs", t, "epochs");
        doc_fact_count(w, "Best epoch", t, "best_epoch");
        doc_fact_str(w, "Stopped by", doc_jstr_nonempty(t, "stopped_by"), W_NAME);
        doc_fact_count(w, "Seed", t, "seed");
        doc_fact_str(w, "Trained", doc_jstr_nonempty(t, "created"), W_NAME);
        doc_fact_str(w, "Trained by", doc_jstr_nonempty(t, "user"), W_NAME);
        doc_fact_str(w, "keel version", doc_jstr_nonempty(t, "keel_version"), W_NAME);
        doc_table_end(w);
        double q, r;
        if (doc_jnum_member(t, "quarantined", &q) && q > 0 && doc_jnum_member(t, "records", &r) &&
            r > 0) {
            doc_notice_begin(w, "info");
            doc_put_count(w, q);
            doc_put(w, " training records (");
            doc_put_share(w, q / r);
            doc_put(w, ") broke the schema and were not trained on.");
            doc_notice_end(w);
        }
        const keel_json *vm = doc_jobj(t, "validation_metrics");
        if (keel_json_len(vm)) {
            doc_heading(w, 3, "validation", "Measures on the validation rows during training");
            doc_para_begin(w, NULL);
            doc_put(w, "These rows also chose when to stop and fitted the calibration, so these "
                       "figures are optimistic; the held-out figures below are the ones to judge.");
            doc_para_end(w);
            metrics_object(w, vm);
        }
    }
    const keel_json *lin = doc_jobj(doc_jobj(card, "registry"), "lineage");
    const keel_json *ds = doc_jarr(lin, "datasets");
    if (keel_json_len(ds)) {
        doc_heading(w, 3, "lineage", "Lineage in the registry");
        static const char *const h[] = {"Dataset", "Role", "Name", "Rows", "SHA-256", "Registered"};
        doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(ds) && i < MAX_ROWS; i++) {
            const keel_json *d = doc_item(ds, i);
            if (!d) continue;
            doc_row_begin(w, NULL);
            doc_cell(w, "mono");
            doc_jtext_nonempty(w, doc_jstr_nonempty(d, "id"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(d, "role"), W_LABEL, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(d, "name"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, "n");
            doc_put_jcount(w, keel_json_get(d, "rows"));
            doc_cell(w, "mono");
            doc_jtext_nonempty(w, doc_jstr_nonempty(d, "sha256"), 64, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(d, "created"), W_NAME, "\xe2\x80\x94");
            doc_row_end(w);
        }
        doc_table_end(w);
        const keel_json *run = doc_jobj(lin, "run");
        if (run) {
            doc_para_begin(w, NULL);
            doc_put(w, "Produced by training run ");
            doc_jtext_nonempty(w, doc_jstr_nonempty(run, "id"), W_NAME, "?");
            doc_put(w, " (status ");
            doc_jtext_nonempty(w, doc_jstr_nonempty(run, "status"), W_NAME, "unknown");
            doc_put(w, ", by ");
            doc_jtext_nonempty(w, doc_jstr_nonempty(run, "user"), W_NAME, "unknown");
            doc_put(w, " on ");
            doc_jtext_nonempty(w, doc_jstr_nonempty(run, "host"), W_NAME, "an unrecorded host");
            doc_put(w, ", started ");
            doc_jtext_nonempty(w, doc_jstr_nonempty(run, "started"), W_NAME,
                               "at an unrecorded time");
            doc_put(w, ").");
            doc_para_end(w);
        }
    }
    columns_table(w, card);
    card_section_end(w);
}

void card_sec_quality(doc_writer *w, const keel_json *card)
{
    const keel_json *h = doc_jobj(card, "holdout"), *m = doc_jobj(card, "metrics");
    card_section_begin(w, "quality", "Quality on held-out data");
    if (h) {
        doc_facts_begin(w);
        doc_fact_str(w, "Held-out file", doc_jstr_nonempty(h, "file"), W_VALUE);
        if (doc_jstr_nonempty(h, "sha256")) {
            doc_fact_begin(w, "Its SHA-256");
            doc_mono(w, doc_jstr_nonempty(h, "sha256"), 64);
            doc_row_end(w);
        }
        doc_fact_count(w, "Records read", h, "records");
        doc_fact_count(w, "Quarantined (broke the schema)", h, "quarantined");
        doc_fact_count(w, "Without a usable target", h, "unlabeled");
        doc_fact_count(w, "Scored", h, "scored");
        doc_fact_str(w, "Quarantine file", doc_jstr_nonempty(h, "quarantine"), W_VALUE);
        doc_table_end(w);
        double q;
        if (doc_jnum_member(h, "quarantined", &q) && q > 0) {
            doc_notice_begin(w, "warn");
            doc_put_count(w, q);
            doc_put(w,
                    " held-out records broke the model's schema and were not scored; the figures "
                    "below leave them out. Inspect the quarantine file before relying on them.");
            doc_notice_end(w);
        }
        if (doc_jtrue(h, "same_as_training"))
            doc_notice(w, "bad",
                       "The held-out file is the training file itself (same SHA-256): the figures "
                       "below are not an honest test of the model.");
    } else {
        doc_notice(w, "warn", "No held-out data is described in this card.");
    }
    const keel_json *items = doc_jarr(m, "items");
    if (!keel_json_len(items)) {
        doc_notice(w, "warn", "Held-out measures are not available.");
        card_section_end(w);
        return;
    }
    doc_para_begin(w, NULL);
    doc_put(w, "Each measure is computed on the scored held-out rows. The interval is a 95% "
               "percentile bootstrap interval (");
    doc_put_count(w, doc_jnumd(m, "resamples"));
    doc_put(w, " resamples of the rows with replacement, seed ");
    doc_put_count(w, doc_jnumd(m, "seed"));
    doc_put(w, "): the range the measure would plausibly take on another sample of the same size "
               "from the same population.");
    doc_para_end(w);
    static const char *const hd[] = {"Measure", "Value", "95% interval", "Better"};
    doc_table_begin(w, NULL, hd, KEEL_ARRAY_LEN(hd));
    for (size_t i = 0; i < keel_json_len(items) && i < 40; i++) {
        const keel_json *it = doc_item(items, i);
        if (!it) continue;
        const struct card_measure *ms = card_measure_of(doc_jstr_nonempty(it, "name"));
        doc_row_begin(w, NULL);
        doc_cell(w, NULL);
        card_measure_label(w, doc_jstr_nonempty(it, "name"));
        doc_cell(w, "n");
        doc_put_stat(w, doc_jnumd(it, "value"));
        doc_cell(w, "n");
        double lo = doc_jnumd(it, "low"), hi = doc_jnumd(it, "high");
        if (isfinite(lo) && isfinite(hi)) {
            doc_put_stat(w, lo);
            doc_put(w, " \xe2\x80\x93 ");
            doc_put_stat(w, hi);
        } else {
            doc_put(w, "\xe2\x80\x94");
        }
        doc_cell(w, NULL);
        doc_put(w, !ms ? "" : ms->lower_better ? "lower" : "higher");
        doc_row_end(w);
    }
    doc_table_end(w);
    card_section_end(w);
}

void card_sec_groups(doc_writer *w, const keel_json *card)
{
    const keel_json *slices = doc_jarr(card, "slices");
    card_section_begin(w, "groups", "Quality per group of sensitive columns");
    if (!doc_jget(card, "slices", KEEL_JSON_ARRAY)) {
        doc_notice(w, "warn", "Per-group measures are not available in this card.");
        card_section_end(w);
        return;
    }
    if (!keel_json_len(slices)) {
        doc_notice(w, "warn",
                   "The model's schema marks no column as sensitive, so no per-group measures were "
                   "computed. Mark the columns that define groups to compare (age band, sex, "
                   "region, ...) with sensitive: true in the schema (docs/schema.md) and train "
                   "again.");
        card_section_end(w);
        return;
    }
    doc_para_begin(w, NULL);
    doc_put(w, "The held-out rows split by each column the schema marks as sensitive. Compare each "
               "group with the others: a large gap means the model serves that group worse. Groups "
               "under 30 rows are marked; their figures are too uncertain to compare.");
    doc_para_end(w);
    for (size_t s = 0; s < keel_json_len(slices) && s < MAX_SLICES; s++) {
        const keel_json *sl = doc_item(slices, s);
        if (!sl) continue;
        if (!w->md)
            doc_put(w, "<h3>");
        else
            doc_put(w, "\n### ");
        doc_jtext_nonempty(w, card_display(sl), W_NAME, "?");
        if (doc_jstr_nonempty(sl, "binning")) {
            doc_put(w, " (");
            doc_jtext_nonempty(w, doc_jstr_nonempty(sl, "binning"), W_NAME, "");
            doc_put(w, ")");
        }
        doc_put(w, w->md ? "\n\n" : "</h3>\n");
        const keel_json *note = doc_jstr_nonempty(sl, "note");
        if (note) {
            doc_notice_begin(w, "info");
            doc_text(w, note->u.string.s, note->u.string.len, W_PROSE);
            doc_notice_end(w);
        }
        const keel_json *cols = doc_jarr(sl, "measures"), *groups = doc_jarr(sl, "groups");
        size_t nc = KEEL_MIN(keel_json_len(cols), (size_t)10);
        if (!keel_json_len(groups)) {
            doc_notice(w, "info", "No groups.");
            continue;
        }
        /* Header: fixed columns, then one per measure (labels are trusted strings only). */
        const char *hd[14] = {"Group", "Rows", "Share"};
        size_t nh = 3;
        for (size_t j = 0; j < nc; j++) {
            const struct card_measure *ms = card_measure_of(keel_json_at(cols, j));
            hd[nh++] = ms ? ms->label : "?";
        }
        hd[nh++] = "";
        doc_table_begin(w, NULL, hd, nh);
        double total = 0;
        for (size_t g = 0; g < keel_json_len(groups) && g < MAX_ROWS; g++) {
            double n;
            if (doc_jnum_member(doc_item(groups, g), "n", &n) && n > 0) total += fmin(n, 1e300);
        }
        for (size_t g = 0; g < keel_json_len(groups) && g < MAX_ROWS; g++) {
            const keel_json *gr = doc_item(groups, g);
            if (!gr) continue;
            bool small = doc_jtrue(gr, "small");
            doc_row_begin(w, small ? "small" : NULL);
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(gr, "label"), W_NAME, "?");
            doc_cell(w, "n");
            doc_put_jcount(w, keel_json_get(gr, "n"));
            doc_cell(w, "n");
            double n;
            doc_put_share(w, doc_jnum_member(gr, "n", &n) && total > 0 ? n / total : NAN);
            const keel_json *mv = doc_jobj(gr, "metrics");
            for (size_t j = 0; j < nc; j++) {
                doc_cell(w, "n");
                const keel_json *key = keel_json_at(cols, j);
                double v =
                    key && key->type == KEEL_JSON_STRING ? doc_jnumd(mv, key->u.string.s) : NAN;
                doc_put_stat(w, v);
            }
            doc_cell(w, NULL);
            if (small)
                doc_put(w, w->md ? "small group" : "<span class=\"badge bad\">small group</span>");
            doc_row_end(w);
        }
        doc_table_end(w);
    }
    doc_para_begin(w, NULL);
    doc_put(w,
            "\xe2\x80\x94 means the measure is undefined for the group (for example ROC AUC when "
            "the group holds only one class).");
    doc_para_end(w);
    card_section_end(w);
}

void card_sec_governance(doc_writer *w, const keel_json *card)
{
    const keel_json *reg = doc_jobj(card, "registry");
    card_section_begin(w, "governance", "Approvals and audit trail");
    if (!reg) {
        doc_notice(w, "warn",
                   "This model was not found in the registry: it has no recorded approvals, "
                   "aliases or audit events. Register it (keel train registers automatically) "
                   "before relying on it.");
        const keel_json *why = doc_jstr_nonempty(card, "registry_note");
        if (why) {
            doc_para_begin(w, NULL);
            doc_text(w, why->u.string.s, why->u.string.len, W_PROSE);
            doc_para_end(w);
        }
        card_section_end(w);
        return;
    }
    doc_facts_begin(w);
    doc_fact_str(w, "Registry model", doc_jstr_nonempty(reg, "model"), W_NAME);
    double v;
    if (doc_jnum_member(reg, "version", &v)) {
        doc_fact_begin(w, "Version");
        doc_put_count(w, v);
        doc_row_end(w);
    }
    doc_fact_str(w, "Author", doc_jstr_nonempty(reg, "author"), W_NAME);
    doc_fact_str(w, "Registered", doc_jstr_nonempty(reg, "created"), W_NAME);
    doc_fact_str(w, "Registry", doc_jstr_nonempty(reg, "home"), W_VALUE);
    const keel_json *aliases = doc_jarr(reg, "aliases");
    doc_fact_begin(w, "Aliases");
    if (!keel_json_len(aliases)) doc_put(w, "none");
    for (size_t i = 0; i < keel_json_len(aliases) && i < 50; i++) {
        if (i) doc_put(w, ", ");
        doc_jtext_nonempty(w, keel_json_at(aliases, i), W_LABEL, "?");
    }
    doc_row_end(w);
    doc_table_end(w);

    doc_heading(w, 3, "approvals", "Approvals");
    const keel_json *apps = doc_jarr(reg, "approvals"),
                    *app_note = doc_jstr_nonempty(reg, "approvals_note");
    if (!keel_json_len(apps) && app_note) {
        doc_notice_begin(w, "warn");
        doc_text(w, app_note->u.string.s, app_note->u.string.len, W_PROSE);
        doc_notice_end(w);
    } else if (!keel_json_len(apps)) {
        doc_notice(w, "warn",
                   "This version has no approval on record. Under keel's four-eyes rule an "
                   "approver other than its author must approve it (keel model approve) before it "
                   "can become champion.");
    } else {
        static const char *const h[] = {"Decision",     "Reviewer",  "Decided",
                                        "Requested by", "Requested", "Comment"};
        doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(apps) && i < MAX_ROWS; i++) {
            const keel_json *a = doc_item(apps, i);
            if (!a) continue;
            doc_row_begin(w, NULL);
            doc_cell(w, NULL);
            const keel_json *st = doc_jstr_nonempty(a, "status");
            if (!w->md)
                doc_putf(w, "<span class=\"badge %s\">",
                         doc_jstr_is(st, "approved") ? "ok" : "bad");
            doc_jtext_nonempty(w, st, W_LABEL, "?");
            doc_html(w, "</span>");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "reviewer"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "decided"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "requested_by"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "requested"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "comment"), W_PROSE, "");
            doc_row_end(w);
        }
        doc_table_end(w);
    }
    const keel_json *who = doc_jstr_nonempty(reg, "identities_note");
    if (who) {
        doc_notice_begin(w, doc_jstr_is(doc_jstr_nonempty(reg, "identities"), "keys") ? "info"
                                                                                      : "warn");
        doc_text(w, who->u.string.s, who->u.string.len, W_PROSE);
        doc_notice_end(w);
    }

    doc_heading(w, 3, "audit", "Audit references");
    const keel_json *ev = doc_jarr(reg, "audit"),
                    *audit_note = doc_jstr_nonempty(reg, "audit_note");
    if (!keel_json_len(ev) && audit_note) {
        doc_notice_begin(w, "info");
        doc_text(w, audit_note->u.string.s, audit_note->u.string.len, W_PROSE);
        doc_notice_end(w);
    } else if (!keel_json_len(ev)) {
        doc_notice(w, "info", "No audit events are listed.");
    } else {
        doc_para_begin(w, NULL);
        doc_put(w, "The events of the registry's hash-chained audit trail that concern this "
                   "version. An auditor can check each against the chain with keel audit verify "
                   "and keel audit export (docs/registry.md).");
        doc_para_end(w);
        static const char *const h[] = {"Event",  "Time",   "Actor",
                                        "Action", "Object", "Hash (SHA-256)"};
        doc_table_begin(w, NULL, h, KEEL_ARRAY_LEN(h));
        for (size_t i = 0; i < keel_json_len(ev) && i < MAX_ROWS; i++) {
            const keel_json *a = doc_item(ev, i);
            if (!a) continue;
            doc_row_begin(w, NULL);
            doc_cell(w, "n");
            doc_put_jcount(w, keel_json_get(a, "seq"));
            doc_cell(w, "nw");
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "time"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, NULL);
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "actor"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, "nw");
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "action"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, "mono");
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "object"), W_NAME, "\xe2\x80\x94");
            doc_cell(w, "mono");
            doc_jtext_nonempty(w, doc_jstr_nonempty(a, "hash"), 64, "\xe2\x80\x94");
            doc_row_end(w);
        }
        doc_table_end(w);
    }
    card_section_end(w);
}

void card_sec_warnings(doc_writer *w, const keel_json *card)
{
    const keel_json *ws = doc_jarr(card, "warnings");
    if (!keel_json_len(ws)) return;
    card_section_begin(w, "warnings", "Warnings");
    for (size_t i = 0; i < keel_json_len(ws) && i < 100; i++) {
        const keel_json *s = keel_json_at(ws, i);
        if (!s || s->type != KEEL_JSON_STRING) continue;
        doc_notice_begin(w, "warn");
        doc_text(w, s->u.string.s, s->u.string.len, W_PROSE);
        doc_notice_end(w);
    }
    card_section_end(w);
}

void card_sec_reading(doc_writer *w)
{
    if (w->md) {
        doc_put(w,
                "\n## How to read this card\n\n"
                "- **Held-out data** is data the model never saw in training. Every figure in "
                "the quality, groups, calibration, importance and partial-dependence sections is "
                "computed on it.\n"
                "- **95% interval**: a percentile bootstrap interval; a wide interval means the "
                "held-out data is too small to pin the figure down.\n"
                "- **Sensitive columns** are those the schema marks `sensitive: true`.\n"
                "- **Attributions** are on the model's scale (log-odds for classifiers unless "
                "stated); they explain the model, not the world.\n\n"
                "Rendered by keel from the card's JSON document alone (docs/card.md).\n");
        return;
    }
    doc_put(w,
            "<footer><strong>How to read this card</strong><dl>"
            "<dt>Held-out data</dt><dd>Data the model never saw in training. Every figure in the "
            "quality, groups, calibration, importance and partial-dependence sections is "
            "computed on it.</dd>"
            "<dt>95% interval</dt><dd>A percentile bootstrap interval; a wide interval means "
            "the held-out data is too small to pin the figure down.</dd>"
            "<dt>Sensitive columns</dt><dd>Those the schema marks <code>sensitive: true</code>."
            "</dd><dt>Attributions</dt><dd>On the model's scale (log-odds for classifiers unless "
            "stated); they explain the model, not the world.</dd></dl>"
            "Rendered by keel " KEEL_VERSION_STRING
            " from the card's JSON document alone (docs/card.md); the page runs no scripts and "
            "loads nothing.</footer>");
}
