/*
 * lineage_render.c — a lineage graph (keel_registry_lineage_model's JSON) for people: text,
 * one line per node and per edge, or Graphviz dot (keel lineage --dot | dot -Tsvg).
 */
#include "base/json.h"
#include "registry/registry.h"

#include <string.h>

/* Text form: one line per edge, grouped under the root, e.g.
 *   dataset:1 (churn.csv) --train--> run:1 (run 1) --produced--> model:churn:1 (churn v1) */
static void lineage_text(keel_buf *o, const keel_json *g)
{
    const keel_json *nodes = keel_json_get(g, "nodes"), *edges = keel_json_get(g, "edges");
    keel_buf_printf(o, "lineage of %s\n", keel_json_str(keel_json_get(g, "root")));
    for (size_t i = 0; i < keel_json_len(nodes); i++) {
        const keel_json *n = keel_json_at(nodes, i), *d = keel_json_get(n, "data");
        const char *kind = keel_json_str(keel_json_get(n, "kind"));
        keel_buf_printf(o, "  %-26s %s", keel_json_str(keel_json_get(n, "id")),
                        keel_json_str(keel_json_get(n, "label")));
        if (!strcmp(kind, "dataset"))
            keel_buf_printf(
                o, "  sha256 %.16s…  %s rows  by %s", keel_json_str(keel_json_get(d, "sha256")),
                keel_json_get(d, "n_rows") ? keel_json_get(d, "n_rows")->u.number.text : "?",
                keel_json_str(keel_json_get(d, "created_by")));
        else if (!strcmp(kind, "run"))
            keel_buf_printf(o, "  %s by %s at %s", keel_json_str(keel_json_get(d, "status")),
                            keel_json_str(keel_json_get(d, "user")),
                            keel_json_str(keel_json_get(d, "started_at")));
        else if (!strcmp(kind, "model_version"))
            keel_buf_printf(o, "  sha256 %.16s…  by %s at %s",
                            keel_json_str(keel_json_get(d, "artifact_sha256")),
                            keel_json_str(keel_json_get(d, "author")),
                            keel_json_str(keel_json_get(d, "created_at")));
        else if (!strcmp(kind, "alias"))
            keel_buf_printf(o, "  set by %s at %s", keel_json_str(keel_json_get(d, "set_by")),
                            keel_json_str(keel_json_get(d, "set_at")));
        else if (!strcmp(kind, "deployment"))
            keel_buf_printf(o, "  by %s at %s", keel_json_str(keel_json_get(d, "actor")),
                            keel_json_str(keel_json_get(d, "at")));
        keel_buf_putc(o, '\n');
    }
    keel_buf_puts(o, "edges\n");
    for (size_t i = 0; i < keel_json_len(edges); i++) {
        const keel_json *e = keel_json_at(edges, i);
        keel_buf_printf(o, "  %s --%s--> %s\n", keel_json_str(keel_json_get(e, "from")),
                        keel_json_str(keel_json_get(e, "relation")),
                        keel_json_str(keel_json_get(e, "to")));
    }
}

static void dot_string(keel_buf *o, const char *s)
{
    keel_buf_putc(o, '"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') keel_buf_putc(o, '\\');
        if (*s == '\n') {
            keel_buf_puts(o, "\\n");
            continue;
        }
        keel_buf_putc(o, *s);
    }
    keel_buf_putc(o, '"');
}

static void lineage_dot(keel_buf *o, const keel_json *g)
{
    const keel_json *nodes = keel_json_get(g, "nodes"), *edges = keel_json_get(g, "edges");
    keel_buf_printf(o, "digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for (size_t i = 0; i < keel_json_len(nodes); i++) {
        const keel_json *n = keel_json_at(nodes, i);
        const char *kind = keel_json_str(keel_json_get(n, "kind"));
        const char *shape = !strcmp(kind, "dataset")         ? "cylinder"
                            : !strcmp(kind, "run")           ? "box"
                            : !strcmp(kind, "model_version") ? "component"
                            : !strcmp(kind, "alias")         ? "tag"
                                                             : "box3d";
        char label[400];
        snprintf(label, sizeof label, "%s\n%s", keel_json_str(keel_json_get(n, "id")),
                 keel_json_str(keel_json_get(n, "label")));
        keel_buf_puts(o, "  ");
        dot_string(o, keel_json_str(keel_json_get(n, "id")));
        keel_buf_printf(o, " [shape=%s, label=", shape);
        dot_string(o, label);
        keel_buf_puts(o, "];\n");
    }
    for (size_t i = 0; i < keel_json_len(edges); i++) {
        const keel_json *e = keel_json_at(edges, i);
        keel_buf_puts(o, "  ");
        dot_string(o, keel_json_str(keel_json_get(e, "from")));
        keel_buf_puts(o, " -> ");
        dot_string(o, keel_json_str(keel_json_get(e, "to")));
        keel_buf_puts(o, " [label=");
        dot_string(o, keel_json_str(keel_json_get(e, "relation")));
        keel_buf_puts(o, "];\n");
    }
    keel_buf_puts(o, "}\n");
}

int keel_lineage_render(const char *graph, size_t n, bool dot, keel_buf *out)
{
    keel_json_doc *d = keel_json_doc_new();
    keel_error e;
    if (!d) return KEEL_ENOMEM;
    int rc = keel_json_parse(d, graph, n, &e);
    if (rc == KEEL_OK) {
        keel_buf_mark start = keel_buf_begin(out);
        if (dot)
            lineage_dot(out, keel_json_root(d));
        else
            lineage_text(out, keel_json_root(d));
        rc = keel_buf_end(out, start);
    }
    keel_json_doc_free(d);
    return rc;
}
