/*
 * verify.c — `keel audit verify` as one call: the chain and its anchors (audit.c, anchor.c),
 * the state the events describe against the tables (state.c), the signatures of identities
 * bound to keys (identity.c), and the report of what was checked.
 */
#include "registry/registry_impl.h"

#include <string.h>

int keel_registry_audit_verify(keel_registry *r, const keel_audit_checkpoint *external,
                               keel_progress_fn progress, void *ud,
                               keel_registry_verify_result *res)
{
    memset(res, 0, sizeof *res);
    int rc = reg_require(r, KEEL_ACCESS_AUDITOR, "verify the audit trail", "audit");
    if (rc != KEEL_OK) return rc;
    keel_audit_verify_options o = {
        .public_key = r->key.pk,
        .head_file = r->head_file,
        .external = external,
        .witness = r->witness,
        .require_anchor = true,
        .progress = progress,
        .progress_ud = ud,
    };
    keel_error e = {0};
    if ((rc = keel_audit_verify(r->store, &o, &res->chain, &e)) != KEEL_OK)
        return reg_fail(r, rc, "%s", e.msg);
    res->witness = r->witness != NULL;
    /* The events and the tables are read in one snapshot: a writer committing between the two
     * reads would otherwise look like a row written outside keel. */
    if ((rc = keel_store_snapshot_begin(r->store)) != KEEL_OK) return reg_store_fail(r, rc);
    rc = reg_state_verify(r, res);
    keel_store_snapshot_end(r->store);
    if (rc != KEEL_OK) return rc;
    if (r->schema >= 3) {
        rc = keel_store_int(r->store, &res->identities, "SELECT count(*) FROM identities", NULL);
        if (rc == KEEL_OK)
            rc = keel_store_int(r->store, &res->identities_keyed,
                                "SELECT count(*) FROM identities WHERE public_key IS NOT NULL",
                                NULL);
        if (rc != KEEL_OK) return reg_store_fail(r, rc);
    } else if ((rc = keel_store_int(r->store, &res->identities, "SELECT count(*) FROM identities",
                                    NULL)) != KEEL_OK) {
        return reg_store_fail(r, rc);
    }
    res->ok = res->chain.ok && res->state != KEEL_STATE_NO_BASELINE &&
              res->state_differences == 0 && res->signature_failures == 0;
    return KEEL_OK;
}

static const char *state_word(int state)
{
    switch (state) {
    case KEEL_STATE_CHECKED:
        return "checked";
    case KEEL_STATE_NOT_COVERED:
        return "not covered";
    default:
        return "no baseline";
    }
}

static int report_json(const keel_registry_verify_result *v, keel_buf *b)
{
    /* The chain's figures stay at the top level, where they were before the state and the
     * signatures were checked, so scripts reading them go on working. */
    const keel_audit_verify_result *c = &v->chain;
    keel_audit_verify_result top = *c;
    top.ok = v->ok;
    if (keel_audit_verify_result_json(&top, b) != KEEL_OK) return KEEL_ENOMEM;
    b->len--; /* reopen the object */
    keel_buf_printf(b,
                    ",\"chain_ok\":%s,\"witness\":%s,\"state\":{\"checked\":%s,\"coverage\":\"%s\","
                    "\"baseline\":%lld,\"rows\":%lld,\"differences\":%lld,\"shown\":[",
                    c->ok ? "true" : "false", v->witness ? "true" : "false",
                    v->state == KEEL_STATE_CHECKED ? "true" : "false", state_word(v->state),
                    (long long)v->state_baseline, (long long)v->state_rows,
                    (long long)v->state_differences);
    for (int64_t i = 0; i < v->state_differences && i < KEEL_STATE_SHOWN; i++) {
        if (i) keel_buf_putc(b, ',');
        keel_buf_json_str(b, v->state_shown[i], strlen(v->state_shown[i]));
    }
    keel_buf_printf(b,
                    "]},\"identities\":{\"total\":%lld,\"keyed\":%lld,\"unauthenticated\":%lld},"
                    "\"signatures\":{\"checked\":%lld,\"failures\":%lld,\"reason\":",
                    (long long)v->identities, (long long)v->identities_keyed,
                    (long long)(v->identities - v->identities_keyed), (long long)v->signed_events,
                    (long long)v->signature_failures);
    keel_buf_json_str(b, v->signature_reason, strlen(v->signature_reason));
    return keel_buf_puts(b, "}}\n");
}

static void report_text(const keel_registry_verify_result *v, keel_buf *b)
{
    const keel_audit_verify_result *c = &v->chain;
    keel_buf_printf(b, "audit trail %s\n", v->ok ? "verified" : "BROKEN");
    if (c->ok)
        keel_buf_printf(b,
                        "  events       %lld, head %lld: every hash recomputed, no gap\n"
                        "  checkpoints  %lld checked (table, head file%s), newest signed at "
                        "%lld\n",
                        (long long)c->n_events, (long long)c->head_seq, (long long)c->n_checkpoints,
                        v->witness ? ", witness" : "", (long long)c->checkpoint_seq);
    else
        keel_buf_printf(b, "  events       BROKEN at event %lld: %s\n", (long long)c->first_bad,
                        c->reason);
    if (!v->witness) keel_buf_puts(b, "  witness      none configured (KEEL_AUDIT_WITNESS)\n");
    if (v->state == KEEL_STATE_CHECKED && v->state_differences == 0)
        keel_buf_printf(b,
                        "  state        every table rebuilt from the events: %lld rows match "
                        "(covered from event %lld)\n",
                        (long long)v->state_rows, (long long)v->state_baseline);
    else if (v->state == KEEL_STATE_CHECKED)
        keel_buf_printf(b, "  state        %lld difference%s between the tables and the events:\n",
                        (long long)v->state_differences, v->state_differences == 1 ? "" : "s");
    else if (v->state == KEEL_STATE_NOT_COVERED)
        keel_buf_puts(b, "  state        not checked: the registry's schema predates state "
                         "coverage; an admin runs `keel registry migrate` to record a baseline\n");
    else
        keel_buf_puts(b, "  state        NO BASELINE: the chain has no event the state can be "
                         "rebuilt from, yet the schema says it should (edited?)\n");
    for (int64_t i = 0; i < v->state_differences && i < KEEL_STATE_SHOWN; i++)
        keel_buf_printf(b, "    %s\n", v->state_shown[i]);
    if (v->state_differences > KEEL_STATE_SHOWN)
        keel_buf_printf(b, "    ... and %lld more\n",
                        (long long)(v->state_differences - KEEL_STATE_SHOWN));
    keel_buf_printf(b, "  signatures   %lld event%s signed by identities bound to keys: ",
                    (long long)v->signed_events, v->signed_events == 1 ? "" : "s");
    if (v->signature_failures)
        keel_buf_printf(b, "%lld FAIL; first: %s\n", (long long)v->signature_failures,
                        v->signature_reason);
    else
        keel_buf_puts(b, "all valid\n");
    int64_t claimed = v->identities - v->identities_keyed;
    keel_buf_printf(b, "  identities   %lld, %lld bound to keys", (long long)v->identities,
                    (long long)v->identities_keyed);
    if (claimed)
        keel_buf_printf(b, "; %lld %s (unauthenticated: KEEL_USER is believed)\n",
                        (long long)claimed,
                        claimed == 1 ? "acts under a claimed name" : "act under claimed names");
    else
        keel_buf_puts(b, "\n");
}

int keel_registry_verify_report(const keel_registry_verify_result *res, bool json, keel_buf *b)
{
    keel_buf_mark m = keel_buf_begin(b);
    int rc = KEEL_OK;
    if (json)
        rc = report_json(res, b);
    else
        report_text(res, b);
    return keel_buf_end_rc(b, m, rc);
}
