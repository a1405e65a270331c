/*
 * card_record.c — what the model card copies from the record: the artifact's own (the
 * schema's columns with the training profile's summary of each, the training data's lineage,
 * rows and epochs) and the registry's (the version, its tags, approvals, lineage and audit
 * references), and the "use" object built from the tags.
 *
 * The registry is used read-only and only through its API (registry/registry.h), so its role
 * checks apply: the approvals need any role (as `keel model show`), the audit references the
 * auditor role (as `keel audit export`). The card asks for what the actor's roles allow and
 * says plainly what it left out and who can grant the rest, instead of failing or asking
 * anyway: a refused read is audited (access.denied), and a card must not change the record it
 * reports.
 */
#include "report/card_build_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The profile's column object called name, or NULL. */
const keel_json *card_profile_column(const keel_json *profile, const char *name)
{
    const keel_json *cols = keel_json_get(profile, "columns");
    for (size_t i = 0; i < keel_json_len(cols); i++) {
        const keel_json *c = keel_json_at(cols, i);
        const char *nm = keel_json_str(keel_json_get(c, "name"));
        if (nm && !strcmp(nm, name)) return c;
    }
    return NULL;
}
void card_fmt_num(char *out, size_t cap, double v)
{
    snprintf(out, cap, "%.4g", v);
}

/* ---- the artifact's own record ------------------------------------------------------------- */

/* One line on a column's training data, from its profile entry. */
static void profile_summary(const keel_json *pc, char *out, size_t cap)
{
    out[0] = '\0';
    const keel_json *num = keel_json_get(pc, "numeric");
    const keel_json *top = keel_json_get(pc, "top");
    if (num) {
        char a[32], b[32], c[32];
        card_fmt_num(a, sizeof a, keel_json_num(keel_json_get(num, "mean"), NAN));
        card_fmt_num(b, sizeof b, keel_json_num(keel_json_get(num, "min"), NAN));
        card_fmt_num(c, sizeof c, keel_json_num(keel_json_get(num, "max"), NAN));
        snprintf(out, cap, "mean %s, range %s to %s", a, b, c);
    } else if (keel_json_len(top)) {
        double count = keel_json_num(keel_json_get(pc, "count"), NAN);
        double missing = keel_json_num(keel_json_get(pc, "missing"), 0);
        const keel_json *t0 = keel_json_at(top, 0);
        const char *v = keel_json_str(keel_json_get(t0, "value"));
        double n0 = keel_json_num(keel_json_get(t0, "count"), NAN);
        double present = count - missing;
        if (v && present > 0)
            snprintf(out, cap, "most frequent: %.60s (%.1f%%)", v, 100 * n0 / present);
    } else if (keel_json_get(pc, "timestamp")) {
        const keel_json *ts = keel_json_get(pc, "timestamp");
        const char *lo = keel_json_str(keel_json_get(ts, "min"));
        const char *hi = keel_json_str(keel_json_get(ts, "max"));
        if (lo && hi) snprintf(out, cap, "from %.30s to %.30s", lo, hi);
    }
}

void card_write_columns(card_jb *j, const keel_model *m, const keel_json *profile)
{
    card_jb_open(j, "columns", '[');
    for (size_t i = 0; i < m->schema->n_columns; i++) {
        const keel_schema_column *c = &m->schema->columns[i];
        card_jb_open(j, NULL, '{');
        card_jb_str(j, "name", c->name);
        card_jb_str(j, "display_name", c->display_name);
        card_jb_str(j, "description", c->description);
        card_jb_str(j, "type", keel_type_name(c->type));
        card_jb_str(j, "role", keel_role_name(c->role));
        card_jb_bool(j, "sensitive", c->sensitive);
        card_jb_str(j, "pii", keel_pii_name(c->pii));
        const keel_json *pc = card_profile_column(profile, c->name);
        if (pc) {
            card_jb_num(j, "count", keel_json_num(keel_json_get(pc, "count"), NAN));
            card_jb_num(j, "missing", keel_json_num(keel_json_get(pc, "missing"), NAN));
            char sum[200];
            profile_summary(pc, sum, sizeof sum);
            if (sum[0]) card_jb_str(j, "summary", sum);
        }
        card_jb_close(j, '}');
    }
    card_jb_close(j, ']');
}

void card_copy_member(card_jb *j, const char *key, const keel_json *obj, const char *member)
{
    const keel_json *v = keel_json_get(obj, member);
    if (v && v->type != KEEL_JSON_NULL) card_jb_value(j, key, v);
}

void card_write_training(card_jb *j, const keel_model *m, const keel_json *lineage,
                         const keel_json *training, const keel_json *metrics)
{
    card_jb_open(j, "training", '{');
    card_copy_member(j, "source", lineage, "data_source");
    card_copy_member(j, "sha256", lineage, "data_sha256");
    card_copy_member(j, "records", lineage, "records");
    card_copy_member(j, "accepted", lineage, "accepted");
    card_copy_member(j, "quarantined", lineage, "quarantined");
    card_copy_member(j, "seed", lineage, "seed");
    card_copy_member(j, "created", lineage, "created");
    card_copy_member(j, "user", lineage, "user");
    card_copy_member(j, "keel_version", lineage, "keel_version");
    const keel_json *rows = keel_json_get(training, "rows");
    card_copy_member(j, "train_rows", rows, "train");
    card_copy_member(j, "validation_rows", rows, "validation");
    card_copy_member(j, "unlabeled_rows", rows, "unlabeled");
    card_copy_member(j, "epochs", training, "epochs");
    card_copy_member(j, "best_epoch", training, "best_epoch");
    card_copy_member(j, "stopped_by", training, "stopped_by");
    const keel_json *val = keel_json_get(metrics, "validation");
    if (val && val->type == KEEL_JSON_OBJECT) card_jb_value(j, "validation_metrics", val);
    (void)m;
    card_jb_close(j, '}');
}

const char *card_calibration_name(int kind)
{
    return kind == 1   ? "Platt scaling (fitted on the validation rows)"
           : kind == 2 ? "temperature scaling (fitted on the validation rows)"
                       : "none";
}

/* ---- the registry's record --------------------------------------------------------------- */

/* Why a registry read gave nothing, for the card: the registry's message, or "out of
 * memory" when its answer could not be parsed. */
static void read_failed(char *note, size_t cap, const char *what, keel_registry *r, int rc)
{
    snprintf(note, cap, "%s could not be read from the registry: %.300s", what,
             rc == KEEL_OK ? "out of memory" : keel_registry_errmsg(r));
}

/* The model list, then each model's versions (one read per model: a card is made rarely,
 * and registries hold models by the hundred, not the million). An actor who is not an
 * identity of the registry may read nothing, so nothing is asked: that would only put a
 * refusal on the record. */
int keel_card_find_version(keel_registry *r, const char *home, const char *sha256, char **name_out,
                           int64_t *version_out, char *note, size_t cap)
{
    if (!r || !home || !sha256 || !name_out || !version_out || !note || !cap) return KEEL_EINVAL;
    *name_out = NULL;
    *version_out = 0;
    note[0] = '\0';
    const char *actor = keel_registry_actor(r);
    if (!keel_registry_roles(r)) {
        snprintf(note, cap,
                 "'%.40s' is not an identity of the registry at %.120s, so the card cannot read "
                 "it; an admin can add it: keel user add %.40s --role viewer",
                 actor, home, actor);
        return KEEL_OK;
    }
    keel_model_version *v = NULL;
    int rc = keel_registry_version_find_sha256(r, sha256, &v);
    if (rc == KEEL_OK) {
        *name_out = keel_strdup(v->model);
        *version_out = *name_out ? v->version : 0;
    } else if (rc == KEEL_ENOENT) {
        snprintf(note, cap, "No version in the registry at %.200s has this artifact's SHA-256.",
                 home);
    } else {
        read_failed(note, cap, "The lookup by SHA-256", r, rc);
    }
    keel_model_version_free(v);
    return KEEL_OK;
}

int keel_card_find_registered(const keel_registry_options *o, const char *sha256, keel_registry **r,
                              char **name_out, int64_t *version_out, char *note, size_t cap)
{
    *r = NULL;
    *name_out = NULL;
    *version_out = 0;
    keel_error e = {0};
    bool exists = false;
    const char *where = o->location ? o->location : o->home;
    if (keel_registry_exists(o, &exists, &e) != KEEL_OK || !exists) {
        snprintf(note, cap, "There is no registry at %.200s (%s).", where,
                 o->location ? "KEEL_REGISTRY" : "KEEL_HOME");
        return KEEL_OK;
    }
    if (keel_registry_open_with(o, r, &e) != KEEL_OK) {
        snprintf(note, cap, "The registry could not be opened: %.200s", e.msg);
        *r = NULL;
        return KEEL_OK;
    }
    return keel_card_find_version(*r, o->home, sha256, name_out, version_out, note, cap);
}

void card_write_registry(card_jb *j, card_reg_ref *rr, const keel_json **tags_out,
                         keel_json_doc **show_doc)
{
    keel_registry *r = rr->r;
    keel_buf b;
    keel_buf_init(&b);
    *tags_out = NULL;
    card_jb_open(j, "registry", '{');
    card_jb_str(j, "home", keel_registry_home(r));
    card_jb_str(j, "model", rr->name);
    card_jb_num(j, "version", (double)rr->version);
    int64_t run = 0;
    if (keel_registry_model_show(r, rr->name, rr->version, &b) == KEEL_OK &&
        (*show_doc = card_parse_doc(b.data, b.len))) {
        const keel_json *v = keel_json_root(*show_doc);
        card_copy_member(j, "author", v, "author");
        card_copy_member(j, "created", v, "created_at");
        card_copy_member(j, "artifact_sha256", v, "artifact_sha256");
        const keel_json *al = keel_json_get(v, "aliases");
        if (al && al->type == KEEL_JSON_ARRAY) card_jb_value(j, "aliases", al);
        const keel_json *tags = keel_json_get(v, "tags");
        if (tags && tags->type == KEEL_JSON_OBJECT) {
            card_jb_value(j, "tags", tags);
            *tags_out = tags;
        }
        run = (int64_t)keel_json_num(keel_json_get(v, "run_id"), 0);
    }
    /* Approvals with their times; readable by every role that could read the version. */
    card_jb_open(j, "approvals", '[');
    keel_buf_reset(&b);
    keel_json_doc *ad = NULL;
    int rc = keel_registry_approval_list(r, rr->name, rr->version, &b);
    if (rc == KEEL_OK && (ad = card_parse_doc(b.data, b.len))) {
        const keel_json *apps = keel_json_root(ad);
        for (size_t i = 0; i < keel_json_len(apps); i++) {
            const keel_json *a = keel_json_at(apps, i);
            card_jb_open(j, NULL, '{');
            card_jb_value(j, "id", keel_json_get(a, "id"));
            card_jb_value(j, "status", keel_json_get(a, "status"));
            card_jb_value(j, "requested_by", keel_json_get(a, "requested_by"));
            card_jb_value(j, "requested", keel_json_get(a, "requested_at"));
            card_jb_value(j, "reviewer", keel_json_get(a, "reviewer"));
            card_jb_value(j, "decided", keel_json_get(a, "decided_at"));
            card_jb_value(j, "comment", keel_json_get(a, "comment"));
            card_jb_close(j, '}');
        }
    } else {
        read_failed(rr->approvals_note, sizeof rr->approvals_note, "The approvals", r, rc);
    }
    keel_json_doc_free(ad);
    card_jb_close(j, ']');
    if (rr->approvals_note[0]) card_jb_str(j, "approvals_note", rr->approvals_note);
    /* What a reviewer's name is worth: a claim, unless identities are bound to keys. */
    keel_buf_reset(&b);
    keel_json_doc *ud = NULL;
    if (keel_registry_roles(r) && keel_registry_user_list(r, &b) == KEEL_OK &&
        (ud = card_parse_doc(b.data, b.len))) {
        const keel_json *users = keel_json_root(ud);
        size_t claimed = 0, n = keel_json_len(users);
        for (size_t i = 0; i < n; i++) {
            const keel_json *pk = keel_json_get(keel_json_at(users, i), "public_key");
            claimed += !pk || pk->type == KEEL_JSON_NULL;
        }
        char note[400];
        if (claimed)
            snprintf(note, sizeof note,
                     "Unauthenticated names: %zu of the registry's %zu identities act under a "
                     "claimed name, so a reviewer shown here is who the reviewer's process said "
                     "it was. Bound to keys (keel user key create; keel user add NAME "
                     "--public-key), every decision is signed and checked by keel audit verify.",
                     claimed, n);
        else
            snprintf(note, sizeof note,
                     "Every identity of the registry is bound to an Ed25519 key: each decision "
                     "shown here is signed by its reviewer and checked by keel audit verify.");
        card_jb_str(j, "identities_note", note);
        card_jb_str(j, "identities", claimed ? "unauthenticated" : "keys");
    }
    keel_json_doc_free(ud);
    /* Lineage: the datasets the run read, in their roles, and the run. */
    keel_buf_reset(&b);
    char ref[200];
    snprintf(ref, sizeof ref, "%s:%lld", rr->name, (long long)rr->version);
    keel_json_doc *ld = NULL;
    if (keel_registry_lineage_model(r, ref, &b) == KEEL_OK &&
        (ld = card_parse_doc(b.data, b.len))) {
        const keel_json *root = keel_json_root(ld);
        const keel_json *nodes = keel_json_get(root, "nodes"),
                        *edges = keel_json_get(root, "edges");
        card_jb_open(j, "lineage", '{');
        card_jb_open(j, "datasets", '[');
        for (size_t i = 0; i < keel_json_len(nodes); i++) {
            const keel_json *nd = keel_json_at(nodes, i), *d = keel_json_get(nd, "data");
            const char *kind = keel_json_str(keel_json_get(nd, "kind"));
            const char *id = keel_json_str(keel_json_get(nd, "id"));
            if (!kind || strcmp(kind, "dataset") || !id) continue;
            const char *role = NULL;
            for (size_t k = 0; k < keel_json_len(edges); k++) {
                const keel_json *ed = keel_json_at(edges, k);
                const char *from = keel_json_str(keel_json_get(ed, "from"));
                if (from && !strcmp(from, id)) role = keel_json_str(keel_json_get(ed, "relation"));
            }
            card_jb_open(j, NULL, '{');
            card_jb_str(j, "id", id);
            card_jb_str(j, "role", role);
            card_copy_member(j, "name", d, "name");
            card_copy_member(j, "source", d, "source");
            card_copy_member(j, "sha256", d, "sha256");
            card_copy_member(j, "rows", d, "n_rows");
            card_copy_member(j, "created", d, "created_at");
            card_jb_close(j, '}');
        }
        card_jb_close(j, ']');
        for (size_t i = 0; i < keel_json_len(nodes); i++) {
            const keel_json *nd = keel_json_at(nodes, i), *d = keel_json_get(nd, "data");
            const char *kind = keel_json_str(keel_json_get(nd, "kind"));
            if (!kind || strcmp(kind, "run")) continue;
            card_jb_open(j, "run", '{');
            card_copy_member(j, "id", nd, "id");
            card_copy_member(j, "kind", d, "kind");
            card_copy_member(j, "status", d, "status");
            card_copy_member(j, "user", d, "user");
            card_copy_member(j, "host", d, "host");
            card_copy_member(j, "seed", d, "seed");
            card_copy_member(j, "started", d, "started_at");
            card_copy_member(j, "ended", d, "ended_at");
            card_jb_close(j, '}');
            break;
        }
        card_jb_close(j, '}');
    }
    keel_json_doc_free(ld);
    (void)run;
    /* Audit references: the events of the trail that concern the version. They need the
     * auditor role; without it the card says so and who can grant it, and does not ask (a
     * refused read would be audited, and the card would have changed the record). */
    card_jb_open(j, "audit", '[');
    unsigned roles = keel_registry_roles(r);
    if (roles & (KEEL_ACCESS_AUDITOR | KEEL_ACCESS_ADMIN)) {
        keel_buf_reset(&b);
        keel_json_doc *ev = NULL;
        rc = keel_registry_audit_events(r, rr->name, rr->version, MAX_AUDIT, &b);
        if (rc == KEEL_OK && (ev = card_parse_doc(b.data, b.len))) {
            const keel_json *events = keel_json_root(ev);
            for (size_t i = 0; i < keel_json_len(events); i++) {
                const keel_json *a = keel_json_at(events, i);
                card_jb_open(j, NULL, '{');
                card_jb_value(j, "seq", keel_json_get(a, "seq"));
                card_jb_value(j, "time", keel_json_get(a, "time"));
                card_jb_value(j, "actor", keel_json_get(a, "actor"));
                card_jb_value(j, "action", keel_json_get(a, "action"));
                card_jb_value(j, "object", keel_json_get(a, "object"));
                card_jb_value(j, "hash", keel_json_get(a, "hash"));
                card_jb_close(j, '}');
            }
        } else {
            read_failed(rr->audit_note, sizeof rr->audit_note, "The audit references", r, rc);
        }
        keel_json_doc_free(ev);
    } else {
        const char *actor = keel_registry_actor(r);
        char has[96], grant[96];
        keel_roles_format(roles, has, sizeof has);
        keel_roles_format(roles | KEEL_ACCESS_AUDITOR, grant, sizeof grant);
        snprintf(rr->audit_note, sizeof rr->audit_note,
                 "The audit references are not listed: reading the audit trail needs the "
                 "auditor role, and '%.60s' has %.90s. An admin can grant it: keel user add "
                 "%.60s --role %.90s",
                 actor, has[0] ? has : "no role", actor, grant);
    }
    card_jb_close(j, ']');
    if (rr->audit_note[0]) card_jb_str(j, "audit_note", rr->audit_note);
    card_jb_close(j, '}');
    keel_buf_free(&b);
}

void card_write_use(card_jb *j, const card_reg_ref *rr, const keel_json *tags)
{
    static const char *const keys[] = {"intended_use", "limitations", "owner"};
    static const char *const hints[] = {
        "what the model is for, who uses it, for which decisions",
        "where it must not be used, known weaknesses, populations it was not tested on",
        "the person or team accountable for it"};
    card_jb_open(j, "use", '{');
    for (size_t i = 0; i < KEEL_ARRAY_LEN(keys); i++) {
        const keel_json *v = keel_json_get(tags, keys[i]);
        if (v && v->type == KEEL_JSON_STRING && v->u.string.len)
            card_jb_strn(j, keys[i], v->u.string.s, v->u.string.len);
        else
            card_jb_str(j, keys[i], NULL);
    }
    if (rr->name) {
        card_jb_open(j, "commands", '{');
        for (size_t i = 0; i < KEEL_ARRAY_LEN(keys); i++) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "keel model tag %s:%lld %s=\"%s\"", rr->name,
                     (long long)rr->version, keys[i], hints[i]);
            card_jb_str(j, keys[i], cmd);
        }
        card_jb_close(j, '}');
    } else {
        card_jb_str(j, "note",
                    "This model is not a registered version, so there is nowhere to "
                    "record them yet: register it (keel train registers what it trains), "
                    "then keel model tag NAME:VERSION intended_use=\"...\".");
    }
    card_jb_close(j, '}');
}
