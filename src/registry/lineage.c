/*
 * lineage.c — the lineage graph around a model version or a dataset.
 *
 * The edges are not stored separately: they are the foreign keys (run_inputs: dataset -> run;
 * model_versions.run_id: run -> version; aliases and deployments: version -> alias,
 * deployment). This file walks them and writes {"root", "nodes", "edges"} JSON, each node
 * carrying its record under "data", so every front end (text, --json, --dot) renders the same
 * graph. Graphs are small (a version has one run, a run a few datasets), so nodes are
 * de-duplicated with a linear search.
 */
#include "registry/registry_impl.h"

#include <stdarg.h>
#include <string.h>

typedef struct graph {
    keel_registry *r;
    keel_buf nodes, edges;
    char **ids;
    size_t n_ids;
    int rc;
} graph;

static bool seen(graph *g, const char *id)
{
    for (size_t i = 0; i < g->n_ids; i++)
        if (!strcmp(g->ids[i], id)) return true;
    char **grown = keel_reallocarray(g->ids, g->n_ids + 1, sizeof *grown);
    char *copy = keel_strdup(id);
    if (!grown || !copy) {
        if (grown) g->ids = grown;
        keel_free(copy);
        g->rc = KEEL_ENOMEM;
        return true;
    }
    g->ids = grown;
    g->ids[g->n_ids++] = copy;
    return false;
}

/* Adds a node once: {"id", "kind", "label", "data": <the row the query returns>}. */
static void node(graph *g, const char *id, const char *kind, const char *label, const char *sql,
                 const char *types, ...)
{
    if (g->rc != KEEL_OK || seen(g, id)) return;
    keel_buf *b = &g->nodes;
    if ((b->len > 1 && keel_buf_putc(b, ',')) || keel_buf_putc(b, '{') || reg_jstr(b, "id", id) ||
        reg_jstr(b, "kind", kind) || reg_jstr(b, "label", label) ||
        keel_buf_puts(b, ",\"data\":")) {
        g->rc = KEEL_ENOMEM;
        return;
    }
    va_list ap;
    va_start(ap, types);
    g->rc = reg_json_rowsv(g->r, b, true, sql, types, ap);
    va_end(ap);
    if (g->rc == KEEL_OK && keel_buf_putc(b, '}')) g->rc = KEEL_ENOMEM;
}

static void edge(graph *g, const char *from, const char *to, const char *relation)
{
    if (g->rc != KEEL_OK) return;
    keel_buf *b = &g->edges;
    if ((b->len > 1 && keel_buf_putc(b, ',')) || keel_buf_putc(b, '{') ||
        reg_jstr(b, "from", from) || reg_jstr(b, "to", to) || reg_jstr(b, "relation", relation) ||
        keel_buf_putc(b, '}'))
        g->rc = KEEL_ENOMEM;
}

static void dataset_node(graph *g, int64_t id, char *node_id, size_t cap)
{
    snprintf(node_id, cap, "dataset:%lld", (long long)id);
    char label[160] = "dataset";
    keel_stmt *st;
    if (keel_store_query(g->r->store, &st, "SELECT name FROM datasets WHERE id = ?", "i", id) ==
        KEEL_OK) {
        if (keel_stmt_step(st) == KEEL_STORE_ROW && keel_stmt_text(st, 0))
            snprintf(label, sizeof label, "%s", keel_stmt_text(st, 0));
        keel_stmt_finalize(st);
    }
    node(g, node_id, "dataset", label,
         "SELECT id, name, sha256, source, n_rows, n_accepted, n_rejected, created_at, "
         "created_by FROM datasets WHERE id = ?",
         "i", id);
}

static void run_node(graph *g, int64_t run, char *node_id, size_t cap)
{
    snprintf(node_id, cap, "run:%lld", (long long)run);
    char label[64];
    snprintf(label, sizeof label, "run %lld", (long long)run);
    node(g, node_id, "run", label,
         "SELECT id, kind, status, \"user\", host, seed, started_at, ended_at, metrics_json "
         "FROM runs WHERE id = ?",
         "i", run);
}

/* The version, its aliases and its active deployments (downstream). */
static void version_down(graph *g, const char *model, int64_t version, char *node_id, size_t cap)
{
    snprintf(node_id, cap, "model:%s:%lld", model, (long long)version);
    char label[160];
    snprintf(label, sizeof label, "%s v%lld", model, (long long)version);
    node(g, node_id, "model_version", label,
         "SELECT model, version, artifact_sha256, author, created_at, task, metrics_json "
         "FROM model_versions WHERE model = ? AND version = ?",
         "si", model, version);
    keel_stmt *st;
    if (g->rc == KEEL_OK &&
        (g->rc = keel_store_query(g->r->store, &st,
                                  "SELECT alias FROM aliases WHERE model = ? AND version = ? "
                                  "ORDER BY alias",
                                  "si", model, version)) == KEEL_OK) {
        while (g->rc == KEEL_OK && keel_stmt_step(st) == KEEL_STORE_ROW) {
            char id[200], alias_label[160];
            const char *alias = keel_stmt_text(st, 0);
            snprintf(id, sizeof id, "alias:%s@%s", model, alias);
            snprintf(alias_label, sizeof alias_label, "%s@%s", model, alias);
            node(g, id, "alias", alias_label,
                 "SELECT model, alias, version, set_at, set_by FROM aliases WHERE model = ? AND "
                 "alias = ?",
                 "ss", model, alias);
            edge(g, node_id, id, "alias");
        }
        keel_stmt_finalize(st);
    }
    /* A deployment is current when it is the newest record for its target and active. */
    if (g->rc == KEEL_OK &&
        (g->rc = keel_store_query(g->r->store, &st,
                                  "SELECT d.id, d.target FROM deployments d WHERE d.model = ? "
                                  "AND d.version = ? AND d.status = 'active' AND d.id = (SELECT "
                                  "max(id) FROM deployments e WHERE e.target = d.target) "
                                  "ORDER BY d.id",
                                  "si", model, version)) == KEEL_OK) {
        while (g->rc == KEEL_OK && keel_stmt_step(st) == KEEL_STORE_ROW) {
            char id[64];
            int64_t dep = keel_stmt_int(st, 0);
            snprintf(id, sizeof id, "deployment:%lld", (long long)dep);
            node(g, id, "deployment", keel_stmt_text(st, 1),
                 "SELECT id, target, status, at, actor FROM deployments WHERE id = ?", "i", dep);
            edge(g, node_id, id, "deployed");
        }
        keel_stmt_finalize(st);
    }
}

/* The run that produced a version and the datasets the run read (upstream). */
static void run_up(graph *g, int64_t run, const char *to)
{
    char run_id[64];
    run_node(g, run, run_id, sizeof run_id);
    edge(g, run_id, to, "produced");
    keel_stmt *st;
    if (g->rc != KEEL_OK ||
        (g->rc = keel_store_query(g->r->store, &st,
                                  "SELECT dataset_id, role FROM run_inputs WHERE run_id = ? "
                                  "ORDER BY role DESC, dataset_id",
                                  "i", run)) != KEEL_OK)
        return;
    while (g->rc == KEEL_OK && keel_stmt_step(st) == KEEL_STORE_ROW) {
        char ds[64], role[32];
        snprintf(role, sizeof role, "%s", keel_stmt_text(st, 1));
        dataset_node(g, keel_stmt_int(st, 0), ds, sizeof ds);
        edge(g, ds, run_id, role);
    }
    keel_stmt_finalize(st);
}

static int finish(graph *g, const char *root, keel_buf *out)
{
    int rc = g->rc;
    if (rc == KEEL_OK &&
        (keel_buf_putc(out, '{') | reg_jstr(out, "root", root) | keel_buf_puts(out, ",\"nodes\":") |
         keel_buf_puts(out, g->nodes.data) | keel_buf_puts(out, "],\"edges\":") |
         keel_buf_puts(out, g->edges.data) | keel_buf_puts(out, "]}")))
        rc = KEEL_ENOMEM;
    if (rc == KEEL_ENOMEM) reg_fail(g->r, rc, "out of memory");
    keel_buf_free(&g->nodes);
    keel_buf_free(&g->edges);
    for (size_t i = 0; i < g->n_ids; i++)
        keel_free(g->ids[i]);
    keel_free(g->ids);
    return rc;
}

static void graph_init(graph *g, keel_registry *r)
{
    memset(g, 0, sizeof *g);
    g->r = r;
    keel_buf_init(&g->nodes);
    keel_buf_init(&g->edges);
    if (keel_buf_putc(&g->nodes, '[') || keel_buf_putc(&g->edges, '[')) g->rc = KEEL_ENOMEM;
}

int keel_registry_lineage_model(keel_registry *r, const char *ref, keel_buf *out)
{
    keel_model_version *v = NULL;
    int rc = keel_registry_version_resolve(r, ref, &v);
    if (rc != KEEL_OK) return rc;
    graph g;
    graph_init(&g, r);
    char root[200];
    version_down(&g, v->model, v->version, root, sizeof root);
    if (g.rc == KEEL_OK && v->run) run_up(&g, v->run, root);
    keel_model_version_free(v);
    return finish(&g, root, out);
}

int keel_registry_lineage_dataset(keel_registry *r, int64_t dataset, keel_buf *out)
{
    int rc = reg_require(r, REG_ANY_ROLE, "read the registry", "dataset");
    if (rc != KEEL_OK) return rc;
    graph g;
    graph_init(&g, r);
    char root[64];
    dataset_node(&g, dataset, root, sizeof root);
    if (g.rc == KEEL_ENOENT) {
        finish(&g, root, out);
        return reg_fail(r, KEEL_ENOENT, "no dataset %lld", (long long)dataset);
    }
    /* Every run that read the dataset, and every version those runs produced. */
    keel_stmt *st;
    if (g.rc == KEEL_OK &&
        (g.rc = keel_store_query(r->store, &st,
                                 "SELECT i.run_id, i.role, v.model, v.version FROM run_inputs i "
                                 "LEFT JOIN model_versions v ON v.run_id = i.run_id "
                                 "WHERE i.dataset_id = ? ORDER BY i.run_id, v.model, v.version",
                                 "i", dataset)) == KEEL_OK) {
        /* Collect first: the walk below runs queries of its own on the same connection. */
        typedef struct hit {
            int64_t run, version;
            char role[32], model[72];
        } hit;
        hit *hits = NULL;
        size_t n = 0;
        while (g.rc == KEEL_OK && keel_stmt_step(st) == KEEL_STORE_ROW) {
            hit *grown = keel_reallocarray(hits, n + 1, sizeof *hits);
            if (!grown) {
                g.rc = KEEL_ENOMEM;
                break;
            }
            hits = grown;
            hit *h = &hits[n++];
            h->run = keel_stmt_int(st, 0);
            snprintf(h->role, sizeof h->role, "%s", keel_stmt_text(st, 1));
            const char *m = keel_stmt_text(st, 2);
            snprintf(h->model, sizeof h->model, "%s", m ? m : "");
            h->version = m ? keel_stmt_int(st, 3) : 0;
        }
        keel_stmt_finalize(st);
        for (size_t i = 0; i < n && g.rc == KEEL_OK; i++) {
            char run_id[64], v_id[200];
            bool new_run = !(i > 0 && hits[i - 1].run == hits[i].run);
            run_node(&g, hits[i].run, run_id, sizeof run_id);
            if (new_run) edge(&g, root, run_id, hits[i].role);
            if (hits[i].version) {
                version_down(&g, hits[i].model, hits[i].version, v_id, sizeof v_id);
                edge(&g, run_id, v_id, "produced");
            }
        }
        keel_free(hits);
    }
    return finish(&g, root, out);
}
