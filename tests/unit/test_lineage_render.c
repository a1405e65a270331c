/*
 * test_lineage_render.c — a lineage graph as text and as Graphviz dot (keel lineage),
 * quotes and line breaks escaped in dot, broken JSON refused with the buffer left as it was.
 */
#include "harness.h"

#include "registry/registry.h"

static const char graph[] =
    "{\"root\":\"model:m:1\",\"nodes\":["
    "{\"id\":\"dataset:1\",\"kind\":\"dataset\",\"label\":\"a \\\"b\\\".csv\","
    "\"data\":{\"sha256\":\"0123456789abcdef0123\",\"n_rows\":12,\"created_by\":\"ann\"}},"
    "{\"id\":\"model:m:1\",\"kind\":\"model_version\",\"label\":\"m v1\",\"data\":"
    "{\"artifact_sha256\":\"fedcba9876543210ff\",\"author\":\"bo\",\"created_at\":\"T\"}}],"
    "\"edges\":[{\"from\":\"dataset:1\",\"to\":\"model:m:1\",\"relation\":\"train\"}]}";

TEST(lineage_render_text_and_dot)
{
    keel_buf b;
    keel_buf_init(&b);
    CHECK_EQ_INT(keel_lineage_render(graph, sizeof graph - 1, false, &b), KEEL_OK);
    CHECK(b.data && strstr(b.data, "lineage of model:m:1\n") == b.data);
    CHECK(b.data && strstr(b.data, "sha256 0123456789abcdef…  12 rows  by ann") != NULL);
    CHECK(b.data && strstr(b.data, "edges\n  dataset:1 --train--> model:m:1\n") != NULL);
    keel_buf_reset(&b);
    CHECK_EQ_INT(keel_lineage_render(graph, sizeof graph - 1, true, &b), KEEL_OK);
    CHECK(b.data && strstr(b.data, "digraph lineage {") == b.data);
    CHECK(b.data && strstr(b.data, "label=\"dataset:1\\na \\\"b\\\".csv\"") != NULL);
    CHECK(b.data && strstr(b.data, "\"dataset:1\" -> \"model:m:1\" [label=\"train\"];") != NULL);
    keel_buf_reset(&b);
    keel_buf_puts(&b, "kept");
    CHECK(keel_lineage_render("{\"nodes\":[", 10, false, &b) != KEEL_OK);
    CHECK_STR(b.data, "kept");
    keel_buf_free(&b);
}
