/* Tests of schema YAML (schema_yaml.c): parsing, every error with its position, writing,
 * round trips, out-of-memory and loading. */
#include "harness.h"

#include "base/json.h"
#include "data/schema.h"

#include <stdbool.h>
#include <stdlib.h>

static const char full_example[] =
    "# keel schema\n"
    "version: 1\n"
    "source: pima2.csv            # informational\n"
    "format: csv\n"
    "csv:\n"
    "  delimiter: \";\"\n"
    "  quote: \"'\"\n"
    "  header: false\n"
    "decimal: \",\"\n"
    "encoding: latin-1\n"
    "missing: [\"\", NA, \"?\"]\n"
    "columns:\n"
    "  # review: plasma glucose after 2 hours\n"
    "  - name: glucose\n"
    "    type: numeric\n"
    "    role: feature\n"
    "    display_name: Plasma glucose\n"
    "    description: \"2-hour oral glucose tolerance test, mg/dl\"\n"
    "    nullable: false\n"
    "    on_invalid: clip\n"
    "    min: 44\n"
    "    max: 199.5\n"
    "    integer: true\n"
    "    missing: [\"\", \"-\"]\n"
    "  - name: class\n"
    "    type: categorical\n"
    "    role: target\n"
    "    categories: [neg, pos, \"yes\", null, \"\"]\n"
    "  - name: smoker\n"
    "    type: boolean\n"
    "    true_values: [\"yes\", Y]\n"
    "    false_values:\n"
    "      - \"no\"\n"
    "      - N\n"
    "  - name: seen\n"
    "    type: timestamp\n"
    "    role: time\n"
    "    time_format: \"%d/%m/%Y\"\n"
    "    min: \"2020-01-01\"\n"
    "    max: \"2024-12-31T23:59:59.5Z\"\n"
    "    on_invalid: missing\n"
    "  - name: email\n"
    "    type: text\n"
    "    role: ignore\n"
    "    pii: email\n"
    "  - name: patient\n"
    "    type: id\n"
    "    role: id\n"
    "    pii: national_id\n";

static keel_schema *parse_ok(const char *yaml)
{
    keel_schema *s = NULL;
    keel_error e = {0};
    int rc = keel_schema_parse(yaml, strlen(yaml), "schema.yaml", &s, &e);
    if (rc != KEEL_OK)
        harness_fail(__FILE__, __LINE__, "parse failed: %s (%s)", keel_errname(rc), e.msg);
    return s;
}

TEST(schema_parse_full_example)
{
    keel_schema *s = parse_ok(full_example);
    REQUIRE(s);
    CHECK_EQ_INT(s->version, 1);
    CHECK_STR(s->source, "pima2.csv");
    CHECK_EQ_INT(s->format, KEEL_FORMAT_CSV);
    CHECK_EQ_INT(s->delimiter, ';');
    CHECK_EQ_INT(s->quote, '\'');
    CHECK(!s->header);
    CHECK_EQ_INT(s->decimal, ',');
    CHECK_EQ_INT(s->encoding, KEEL_ENC_LATIN1);
    REQUIRE(s->missing.n == 3);
    CHECK_STR(s->missing.items[0], "");
    CHECK_STR(s->missing.items[1], "NA");
    CHECK_STR(s->missing.items[2], "?");
    REQUIRE(s->n_columns == 6);

    const keel_schema_column *g = &s->columns[0];
    CHECK_STR(g->name, "glucose");
    CHECK_EQ_INT(g->type, KEEL_TYPE_NUMERIC);
    CHECK_EQ_INT(g->role, KEEL_ROLE_FEATURE);
    CHECK_STR(g->display_name, "Plasma glucose");
    CHECK_STR(g->description, "2-hour oral glucose tolerance test, mg/dl");
    CHECK(!g->nullable);
    CHECK_EQ_INT(g->on_invalid, KEEL_ON_INVALID_CLIP);
    CHECK(g->has_min && g->has_max);
    CHECK_NEAR(g->min, 44, 0);
    CHECK_NEAR(g->max, 199.5, 0);
    CHECK(g->integer);
    CHECK(g->has_missing);
    REQUIRE(g->missing.n == 2);
    CHECK_STR(g->missing.items[1], "-");
    CHECK(g->note == NULL); /* comments are not read back */
    CHECK_EQ_INT(g->pii, KEEL_PII_NONE);

    const keel_schema_column *c = &s->columns[1];
    CHECK_EQ_INT(c->type, KEEL_TYPE_CATEGORICAL);
    CHECK_EQ_INT(c->role, KEEL_ROLE_TARGET);
    CHECK(c->nullable);
    CHECK(!c->has_missing);
    REQUIRE(c->categories.n == 5);
    CHECK_STR(c->categories.items[2], "yes");
    CHECK_STR(c->categories.items[3], "null"); /* literal text, not YAML's null */
    CHECK_STR(c->categories.items[4], "");

    const keel_schema_column *b = &s->columns[2];
    CHECK_EQ_INT(b->type, KEEL_TYPE_BOOLEAN);
    REQUIRE(b->true_values.n == 2 && b->false_values.n == 2);
    CHECK_STR(b->true_values.items[1], "Y");
    CHECK_STR(b->false_values.items[0], "no");

    const keel_schema_column *t = &s->columns[3];
    CHECK_EQ_INT(t->type, KEEL_TYPE_TIMESTAMP);
    CHECK_EQ_INT(t->role, KEEL_ROLE_TIME);
    CHECK_STR(t->time_format, "%d/%m/%Y");
    CHECK_NEAR(t->min, 1577836800e6, 0);
    CHECK_NEAR(t->max, 1735689599.5e6, 0);
    CHECK_EQ_INT(t->on_invalid, KEEL_ON_INVALID_MISSING);

    CHECK_EQ_INT(s->columns[4].pii, KEEL_PII_EMAIL);
    CHECK_EQ_INT(s->columns[4].role, KEEL_ROLE_IGNORE);
    CHECK_EQ_INT(s->columns[5].type, KEEL_TYPE_ID);
    CHECK_EQ_INT(s->columns[5].pii, KEEL_PII_NATIONAL_ID);
    keel_schema_free(s);
}

TEST(schema_parse_defaults)
{
    keel_schema *s = parse_ok("version: 1\ncolumns:\n  - {name: x, type: numeric}\n"
                              "  - name: y\n    type: text\n    display_name:\n");
    REQUIRE(s);
    CHECK(s->source == NULL);
    CHECK_EQ_INT(s->format, KEEL_FORMAT_CSV);
    CHECK_EQ_INT(s->delimiter, ',');
    CHECK_EQ_INT(s->quote, '"');
    CHECK(s->header);
    CHECK_EQ_INT(s->decimal, '.');
    CHECK_EQ_INT(s->encoding, KEEL_ENC_UTF8);
    CHECK_EQ_INT(s->missing.n, 7);
    REQUIRE(s->n_columns == 2);
    const keel_schema_column *c = &s->columns[0];
    CHECK_EQ_INT(c->role, KEEL_ROLE_FEATURE);
    CHECK(c->nullable);
    CHECK_EQ_INT(c->on_invalid, KEEL_ON_INVALID_REJECT);
    CHECK(!c->has_min && !c->has_max && !c->integer && !c->has_missing);
    CHECK(c->display_name == NULL && c->description == NULL && c->time_format == NULL);
    CHECK(s->columns[1].display_name == NULL); /* an empty value means "not set" */
    keel_schema_free(s);
}

TEST(format_of_path_reads_the_extension)
{
    CHECK_EQ_INT(keel_format_of_path("a/b.jsonl"), KEEL_FORMAT_JSONL);
    CHECK_EQ_INT(keel_format_of_path("b.ndjson"), KEEL_FORMAT_JSONL);
    CHECK_EQ_INT(keel_format_of_path("b.json"), KEEL_FORMAT_JSONL);
    CHECK_EQ_INT(keel_format_of_path("b.csv"), KEEL_FORMAT_CSV);
    CHECK_EQ_INT(keel_format_of_path("b.tsv"), KEEL_FORMAT_CSV);
    CHECK_EQ_INT(keel_format_of_path("b.txt"), -1);
    CHECK_EQ_INT(keel_format_of_path("data.jsonl/records"), -1); /* a directory's dot */
    CHECK_EQ_INT(keel_format_of_path("-"), -1);
    CHECK_EQ_INT(keel_format_of_path(NULL), -1);
}

TEST(schema_tab_delimiter_and_jsonl)
{
    keel_schema *s = parse_ok("version: 1\ncsv: {delimiter: \"\\t\"}\ncolumns: [{name: a, "
                              "type: text}]\n");
    REQUIRE(s);
    CHECK_EQ_INT(s->delimiter, '\t');
    keel_schema_free(s);
    s = parse_ok("version: 1\ncsv: {delimiter: '\\t'}\ncolumns: [{name: a, type: text}]\n");
    REQUIRE(s);
    CHECK_EQ_INT(s->delimiter, '\t');
    keel_schema_free(s);
    s = parse_ok("version: 1\nformat: jsonl\nencoding: UTF8\ncolumns: [{name: a, type: id}]\n");
    REQUIRE(s);
    CHECK_EQ_INT(s->format, KEEL_FORMAT_JSONL);
    keel_schema_free(s);
}

/* Parses yaml expecting failure with code and a message that starts with want. */
static void expect_error(int line, const char *yaml, size_t n, int code, const char *want)
{
    keel_schema *s = (keel_schema *)&s; /* must come back NULL */
    keel_error e = {0};
    int rc = keel_schema_parse(yaml, n, "schema.yaml", &s, &e);
    if (rc != code)
        harness_fail(__FILE__, line, "code %s, want %s (%s)", keel_errname(rc), keel_errname(code),
                     e.msg);
    if (s != NULL) harness_fail(__FILE__, line, "*out not NULL on failure");
    keel_schema_free(rc == KEEL_OK ? s : NULL);
    /* want is a prefix of the message, or all of it when it ends in '$' */
    size_t wn = strlen(want);
    bool exact = wn && want[wn - 1] == '$';
    if (strncmp(e.msg, want, wn - exact) != 0 || (exact && strlen(e.msg) != wn - 1))
        harness_fail(__FILE__, line, "message\n    got:  %s\n    want: %s...", e.msg, want);
}
#define EXPECT_ERROR(yaml, code, want) expect_error(__LINE__, yaml, strlen(yaml), code, want)

#define HEAD "version: 1\ncolumns:\n" /* columns start on line 3 */

TEST(schema_errors_yaml_structure)
{
    EXPECT_ERROR("version: 1\ncolumns: [\n", KEEL_EPARSE, "schema.yaml:3:1: YAML syntax: ");
    EXPECT_ERROR("version: 1\n  bad: indent\n", KEEL_EPARSE, "schema.yaml:2:6: YAML syntax: ");
    EXPECT_ERROR("version: 1\nsource: \"\xff\"\n", KEEL_EPARSE,
                 "schema.yaml:2:10: invalid leading UTF-8 octet");
    EXPECT_ERROR(HEAD "  - &a {name: x, type: text}\n", KEEL_EPARSE,
                 "schema.yaml:3:5: anchors (&name) are not allowed");
    EXPECT_ERROR("version: 1\nmissing: &m [a]\ncolumns:\n  - {name: x, type: text, missing: *m}\n",
                 KEEL_EPARSE, "schema.yaml:2:10: anchors");
    EXPECT_ERROR("a: &x [1]\nb: *x\n", KEEL_EPARSE, "schema.yaml:1:4: anchors");
    EXPECT_ERROR("version: 1\ncolumns: []\n---\nversion: 1\n", KEEL_EPARSE,
                 "schema.yaml:3:1: a schema file holds one YAML document");
    EXPECT_ERROR("version: 1\ncolumns: [[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]\n", KEEL_ELIMIT,
                 "schema.yaml:2:25: nested more than 16 levels deep");
    EXPECT_ERROR("", KEEL_ESCHEMA, "schema.yaml: the file is empty");
    EXPECT_ERROR("# only a comment\n", KEEL_ESCHEMA, "schema.yaml: the file is empty");
    EXPECT_ERROR("- a\n- b\n", KEEL_ESCHEMA, "schema.yaml:1:1: a schema is a mapping");
    expect_error(__LINE__, "version: 1\nsource: \"a\\0b\"\n", 25, KEEL_EPARSE,
                 "schema.yaml:2:9: text may not contain NUL characters");
    EXPECT_ERROR("version: 1\n[a]: b\n", KEEL_ESCHEMA, "schema.yaml:2:1: a key must be a plain");
}

TEST(schema_errors_keys)
{
    EXPECT_ERROR("version: 1\ncolums: []\n", KEEL_ESCHEMA,
                 "schema.yaml:2:1: unknown key 'colums' (did you mean 'columns'?)");
    EXPECT_ERROR("version: 1\nflavour: x\n", KEEL_ESCHEMA,
                 "schema.yaml:2:1: unknown key 'flavour'");
    EXPECT_ERROR(HEAD "  - name: x\n    type: numeric\n  - name: glucose\n    tpye: numeric\n",
                 KEEL_ESCHEMA,
                 "schema.yaml:6:5: unknown key 'tpye' in column 'glucose' (did you mean 'type'?)");
    /* the column is named even when its name comes after the mistake */
    EXPECT_ERROR(HEAD "  - tpye: numeric\n    name: glucose\n", KEEL_ESCHEMA,
                 "schema.yaml:3:5: unknown key 'tpye' in column 'glucose'");
    /* no far-fetched suggestion ('note' is two letters from 'name') */
    EXPECT_ERROR(HEAD "  - note: hi\n", KEEL_ESCHEMA,
                 "schema.yaml:3:5: unknown key 'note' in column 1$");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, mni: 1}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:30: unknown key 'mni' in column 'a' (did you mean 'min'?)$");
    EXPECT_ERROR("version: 1\ncsv:\n  delimeter: \";\"\n", KEEL_ESCHEMA,
                 "schema.yaml:3:3: unknown key 'delimeter' in csv (did you mean 'delimiter'?)");
    EXPECT_ERROR("version: 1\nversion: 1\n", KEEL_ESCHEMA,
                 "schema.yaml:2:1: key 'version' appears twice (first at line 1)");
    EXPECT_ERROR(HEAD "  - name: a\n    type: text\n    type: id\n", KEEL_ESCHEMA,
                 "schema.yaml:5:5: key 'type' appears twice in column 'a' (first at line 4)");
    EXPECT_ERROR("columns: []\n", KEEL_ESCHEMA, "schema.yaml:1:1: missing required key 'version'");
    EXPECT_ERROR("version: 1\nsource: x\n", KEEL_ESCHEMA,
                 "schema.yaml:1:1: missing required key 'columns'");
    EXPECT_ERROR(HEAD "  - type: text\n", KEEL_ESCHEMA,
                 "schema.yaml:3:5: missing required key 'name' in column 1");
    EXPECT_ERROR(HEAD "  - name: a\n    type: text\n  - name: b\n", KEEL_ESCHEMA,
                 "schema.yaml:5:5: missing required key 'type' in column 'b'");
    EXPECT_ERROR(HEAD "  - name: age\n    type: numeric\n    categories: [a]\n", KEEL_ESCHEMA,
                 "schema.yaml:5:5: column 'age': 'categories' applies only to categorical "
                 "columns, and this column is numeric");
    EXPECT_ERROR(HEAD "  - name: t\n    type: text\n    min: 3\n", KEEL_ESCHEMA,
                 "schema.yaml:5:5: column 't': 'min' applies only to numeric and timestamp");
    EXPECT_ERROR(HEAD "  - {name: t, type: timestamp, integer: true}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:32: column 't': 'integer' applies only to numeric columns");
    EXPECT_ERROR(HEAD "  - {name: t, type: numeric, time_format: \"%Y\"}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:30: column 't': 'time_format' applies only to timestamp");
    EXPECT_ERROR(HEAD "  - {name: t, type: text, true_values: [a]}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:27: column 't': 'true_values' applies only to boolean");
    EXPECT_ERROR("version: 1\nformat: jsonl\ncsv: {header: false}\ncolumns: []\n", KEEL_ESCHEMA,
                 "schema.yaml:3:1: 'csv' settings apply only to format: csv");
}

TEST(schema_errors_values)
{
    EXPECT_ERROR("version: 2\ncolumns: []\n", KEEL_ESCHEMA,
                 "schema.yaml:1:10: unsupported schema version '2' (this keel reads version 1)");
    EXPECT_ERROR("version: [1]\n", KEEL_ESCHEMA,
                 "schema.yaml:1:10: version must be a single value, not a list");
    EXPECT_ERROR("version: 1\nformat: xml\n", KEEL_ESCHEMA,
                 "schema.yaml:2:9: unknown format 'xml' (expected csv or jsonl)");
    EXPECT_ERROR("version: 1\nencoding: ascii\n", KEEL_ESCHEMA,
                 "schema.yaml:2:11: unknown encoding 'ascii' (expected utf-8 or latin-1)");
    EXPECT_ERROR("version: 1\ncsv: {delimiter: \";;\"}\n", KEEL_ESCHEMA,
                 "schema.yaml:2:18: delimiter must be a single character such as \",\" or \"\\t\", "
                 "not ';;'");
    EXPECT_ERROR("version: 1\ncsv: [a]\n", KEEL_ESCHEMA, "schema.yaml:2:6: csv must be a mapping");
    EXPECT_ERROR("version: 1\ncsv:\n  header: yes\n", KEEL_ESCHEMA,
                 "schema.yaml:3:11: header must be true or false, not 'yes'");
    EXPECT_ERROR("version: 1\ndecimal: \";\"\n", KEEL_ESCHEMA,
                 "schema.yaml:2:10: decimal must be \".\" or \",\"");
    EXPECT_ERROR("version: 1\nmissing: NA\n", KEEL_ESCHEMA,
                 "schema.yaml:2:10: missing must be a list such as [a, b], not a single value");
    EXPECT_ERROR("version: 1\nmissing: [a, [b]]\n", KEEL_ESCHEMA,
                 "schema.yaml:2:14: missing: each item must be a single value");
    EXPECT_ERROR("version: 1\ncolumns: {a: b}\n", KEEL_ESCHEMA,
                 "schema.yaml:2:10: columns must be a list (- name: ...), not a mapping");
    EXPECT_ERROR(HEAD "  - glucose\n", KEEL_ESCHEMA,
                 "schema.yaml:3:5: column 1 must be a mapping (name: ..., type: ...), not a "
                 "single value");
    EXPECT_ERROR(HEAD "  - {name: \"\", type: text}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:12: a column name cannot be empty");
    EXPECT_ERROR(HEAD "  - {name: [a], type: text}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:12: column 1: name must be a single value, not a list");
    EXPECT_ERROR(HEAD "  - {name: a, type: numbr}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:21: column 'a': unknown type 'numbr' (expected numeric, "
                 "categorical, boolean, text, timestamp or id)");
    EXPECT_ERROR(HEAD "  - {name: a, type: text, role: label}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:33: column 'a': unknown role 'label' (expected feature, target");
    EXPECT_ERROR(HEAD "  - {name: a, type: text, on_invalid: drop}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:39: column 'a': unknown on_invalid 'drop'");
    EXPECT_ERROR(HEAD "  - {name: a, type: text, pii: ssn}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:32: column 'a': unknown pii 'ssn'");
    EXPECT_ERROR(HEAD "  - {name: a, type: text, nullable: no}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:37: column 'a': nullable must be true or false, not 'no'");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, min: 12abc}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:35: column 'a': min must be a number, not '12abc'");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, max: nan}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:35: column 'a': max must be a number, not 'nan'");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, max: .inf}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:35: column 'a': max must be a number, not '.inf'");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, max: 1e999}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:35: column 'a': max must be a number, not '1e999'");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, max: 0x10}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:35: column 'a': max must be a number");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, min: 5, max: 3}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:43: column 'a': max is below min");
    EXPECT_ERROR(HEAD "  - {name: a, type: timestamp, min: 2020-13-01}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:37: column 'a': min must be an ISO 8601 time");
    EXPECT_ERROR(HEAD "  - {name: a, type: timestamp, min: \"0000-01-01T00:00+01:00\"}\n",
                 KEEL_ESCHEMA, "schema.yaml:3:37: column 'a': min must be an ISO 8601 time");
    EXPECT_ERROR(HEAD "  - {name: a, type: timestamp, time_format: \"%Y-%q\"}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:45: column 'a': time_format '%Y-%q': unknown directive '%q'");
    EXPECT_ERROR(HEAD "  - {name: a, type: timestamp, time_format: \"%Y%\"}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:45: column 'a': time_format '%Y%': unknown directive '%'");
    EXPECT_ERROR(HEAD "  - {name: a, type: timestamp, time_format: \"\"}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:45: column 'a': time_format is empty");
    EXPECT_ERROR(HEAD "  - {name: a, type: categorical}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:5: column 'a': a categorical column needs its categories");
    EXPECT_ERROR(HEAD "  - {name: a, type: categorical, categories: []}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:46: column 'a': a categorical column needs its categories");
    EXPECT_ERROR(HEAD "  - name: a\n    type: categorical\n    categories:\n      - x\n"
                      "      - y\n      - x\n",
                 KEEL_ESCHEMA,
                 "schema.yaml:8:9: column 'a': category 'x' is listed twice "
                 "(first at line 6, column 9)");
    EXPECT_ERROR(HEAD "  - {name: a, type: boolean, true_values: [j], false_values: [n, j]}\n",
                 KEEL_ESCHEMA,
                 "schema.yaml:3:62: column 'a': 'j' is in both true_values and false_values");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, on_invalid: clip}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:42: column 'a': on_invalid: clip needs min or max");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric}\n  - {name: b, type: text}\n"
                      "  - {name: a, type: text}\n",
                 KEEL_ESCHEMA, "schema.yaml:5:12: column 'a' appears twice (first at line 3)");
    EXPECT_ERROR(HEAD "  - {name: a, type: numeric, role: target}\n"
                      "  - {name: b, type: text, role: target}\n",
                 KEEL_ESCHEMA,
                 "schema.yaml:4:5: column 'b': a second column with role target (the first is "
                 "'a')");
}

TEST(schema_errors_limits)
{
    /* more than 100,000 columns */
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "version: 1\ncolumns: [");
    for (int i = 0; i <= 100000; i++)
        keel_buf_puts(&b, "a,");
    keel_buf_puts(&b, "a]\n");
    expect_error(__LINE__, b.data, b.len, KEEL_ELIMIT,
                 "schema.yaml:2:10: 100002 columns; keel reads at most 100000");
    keel_buf_free(&b);
    /* more than 16 MiB of text */
    size_t n = ((size_t)16 << 20) + 1;
    char *big = malloc(n);
    REQUIRE(big);
    memset(big, '#', n);
    expect_error(__LINE__, big, n, KEEL_ELIMIT, "schema.yaml: 16777217 bytes; a schema may be");
    free(big);
}

TEST(schema_check_failures_surface)
{
    /* rules left to keel_schema_check come back prefixed with the file name */
    EXPECT_ERROR("version: 1\ncsv: {delimiter: \"'\", quote: \"'\"}\ncolumns: [{name: a, type: "
                 "text}]\n",
                 KEEL_ESCHEMA, "schema.yaml: invalid delimiter");
    EXPECT_ERROR("version: 1\ndecimal: \",\"\ncolumns: [{name: a, type: text}]\n", KEEL_ESCHEMA,
                 "schema.yaml: the decimal mark cannot also be the delimiter");
    EXPECT_ERROR("version: 1\ncolumns: []\n", KEEL_ESCHEMA,
                 "schema.yaml: the schema has no columns");
    EXPECT_ERROR("version: 1\ncolumns: [{name: a, type: text, on_invalid: clip}]\n", KEEL_ESCHEMA,
                 "schema.yaml:2:45: column 'a': on_invalid: clip needs min or max");
}

/* Field-by-field equality of two schemas; notes are comments and do not come back. */
static int strlist_eq(const keel_strlist *a, const keel_strlist *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i])) return 0;
    return 1;
}
static int opt_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}
static int schema_eq(const keel_schema *a, const keel_schema *b)
{
    if (a->version != b->version || !opt_eq(a->source, b->source) || a->format != b->format ||
        a->decimal != b->decimal || a->encoding != b->encoding ||
        !strlist_eq(&a->missing, &b->missing) || a->n_columns != b->n_columns)
        return 0;
    if (a->format == KEEL_FORMAT_CSV &&
        (a->delimiter != b->delimiter || a->quote != b->quote || a->header != b->header))
        return 0;
    for (size_t i = 0; i < a->n_columns; i++) {
        const keel_schema_column *x = &a->columns[i], *y = &b->columns[i];
        if (strcmp(x->name, y->name) || !opt_eq(x->display_name, y->display_name) ||
            !opt_eq(x->description, y->description) || x->type != y->type || x->role != y->role ||
            x->nullable != y->nullable || x->on_invalid != y->on_invalid ||
            x->has_min != y->has_min || x->has_max != y->has_max ||
            (x->has_min && x->min != y->min) || (x->has_max && x->max != y->max) ||
            x->integer != y->integer || !strlist_eq(&x->categories, &y->categories) ||
            !strlist_eq(&x->true_values, &y->true_values) ||
            !strlist_eq(&x->false_values, &y->false_values) ||
            !opt_eq(x->time_format, y->time_format) || x->has_missing != y->has_missing ||
            !strlist_eq(&x->missing, &y->missing) || x->pii != y->pii ||
            x->sensitive != y->sensitive)
            return 0;
    }
    return 1;
}

/* write(s) parses back to an equal schema, and writing that gives the same text. */
static void check_round_trip(int line, const keel_schema *s)
{
    keel_buf w1, w2;
    keel_buf_init(&w1);
    keel_buf_init(&w2);
    keel_schema *back = NULL;
    keel_error e = {0};
    if (keel_schema_write(s, &w1) != KEEL_OK) {
        harness_fail(__FILE__, line, "write failed");
        goto done;
    }
    if (keel_schema_parse(w1.data, w1.len, "written.yaml", &back, &e) != KEEL_OK) {
        harness_fail(__FILE__, line, "written schema does not parse: %s\n%s", e.msg, w1.data);
        goto done;
    }
    if (!schema_eq(s, back))
        harness_fail(__FILE__, line, "round trip changed the schema:\n%s", w1.data);
    keel_schema_write(back, &w2);
    /* notes are comments, so the second text is the first without its note lines */
    size_t kept = 0;
    for (size_t i = 0; i < w1.len;) {
        const char *nl = strchr(w1.data + i, '\n');
        size_t len = nl ? (size_t)(nl - (w1.data + i)) + 1 : w1.len - i;
        if (strncmp(w1.data + i, "  # ", 4) != 0) {
            memmove(w1.data + kept, w1.data + i, len);
            kept += len;
        }
        i += len;
    }
    w1.len = kept;
    w1.data[kept] = '\0';
    if (w1.len != w2.len || memcmp(w1.data, w2.data, w1.len))
        harness_fail(__FILE__, line, "second write differs:\n%s\n----\n%s", w1.data, w2.data);
done:
    keel_schema_free(back);
    keel_buf_free(&w1);
    keel_buf_free(&w2);
}

TEST(schema_round_trip_parsed)
{
    keel_schema *s = parse_ok(full_example);
    REQUIRE(s);
    check_round_trip(__LINE__, s);
    s->format = KEEL_FORMAT_JSONL;
    check_round_trip(__LINE__, s);
    keel_schema_free(s);
}

static keel_schema_column *add(keel_schema *s, const char *name, keel_type t)
{
    keel_schema_column *c = NULL;
    keel_schema_add_column(s, name, &c);
    if (c) c->type = t;
    return c;
}

static void add_all(keel_strlist *l, const char *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        keel_strlist_add(l, items[i], strlen(items[i]));
}

TEST(schema_round_trip_strange_strings)
{
    static const char *const strange[] = {"",
                                          "yes",
                                          "No",
                                          "null",
                                          "~",
                                          "true",
                                          "off",
                                          "NaN",
                                          ".inf",
                                          "-1",
                                          "1e5",
                                          "0x1F",
                                          "007",
                                          "2024-01-31",
                                          "a: b",
                                          "a #b",
                                          "#x",
                                          "'q'",
                                          "\"dq\"",
                                          "back\\slash",
                                          " lead",
                                          "trail ",
                                          "two  sp",
                                          "-",
                                          "- x",
                                          "?",
                                          ":",
                                          "[a, b]",
                                          "{a}",
                                          "&a",
                                          "*a",
                                          "!tag",
                                          "|",
                                          ">",
                                          "%Y",
                                          "@x",
                                          "`x`",
                                          "a,b",
                                          "tab\there",
                                          "nl\nhere",
                                          "cr\rhere",
                                          "\x01\x1f\x7f",
                                          "caf\xc3\xa9",
                                          "\xe6\x97\xa5\xe6\x9c\xac",
                                          "nbsp\xc2\xa0x",
                                          "nel\xc2\x85x",
                                          "ls\xe2\x80\xa8x",
                                          "bom\xef\xbb\xbfx",
                                          "zw\xe2\x80\x8bx",
                                          "emoji \xf0\x9f\x98\x80",
                                          "\xc2\x80",
                                          "---",
                                          "...",
                                          "Y",
                                          "=",
                                          "<<",
                                          "a/b",
                                          "_x",
                                          "x.y-z",
                                          "\xef\xbf\xbe"};
    keel_schema *s = keel_schema_new();
    REQUIRE(s);
    s->source = keel_strdup("data/\"odd\" file #1.csv");
    s->delimiter = '\t';
    s->quote = '\\';
    keel_strlist_clear(&s->missing);
    add_all(&s->missing, strange, 12);
    for (size_t i = 0; i < KEEL_ARRAY_LEN(strange); i++) {
        if (!strange[i][0]) continue;
        keel_schema_column *c = add(s, strange[i], KEEL_TYPE_TEXT);
        REQUIRE(c);
        c->display_name = keel_strdup(strange[(i + 1) % KEEL_ARRAY_LEN(strange)]);
        c->description = keel_strdup(strange[(i + 2) % KEEL_ARRAY_LEN(strange)]);
        c->note = keel_strdup(strange[i]);
    }
    keel_schema_column *c = add(s, "cat", KEEL_TYPE_CATEGORICAL);
    add_all(&c->categories, strange, KEEL_ARRAY_LEN(strange));
    c->role = KEEL_ROLE_TARGET;
    c = add(s, "flag", KEEL_TYPE_BOOLEAN);
    add_all(&c->true_values, strange + 1, 3);
    add_all(&c->false_values, strange + 4, 3);
    c->has_missing = true; /* an empty list: nothing counts as missing */
    c = add(s, "when", KEEL_TYPE_TIMESTAMP);
    c->time_format = keel_strdup("%d/%m/%Y %H:%M:%S.%f%z %%");
    c->has_min = c->has_max = true;
    c->min = -62167219200e6;      /* 0000-01-01 */
    c->max = 253402300799999999.; /* 9999-12-31T23:59:59.999999, rounded to a double */
    c->on_invalid = KEEL_ON_INVALID_CLIP;
    c->pii = KEEL_PII_BIRTH_DATE;
    c->note = keel_strdup("line one\nline two\r\nbad \xff byte\n");
    c = add(s, "x", KEEL_TYPE_NUMERIC);
    c->has_min = c->has_max = true;
    c->min = -1e-300;
    c->max = 0.1 + 0.2;
    c->integer = true;
    c->nullable = false;
    c->on_invalid = KEEL_ON_INVALID_MISSING;
    c->has_missing = true;
    add_all(&c->missing, strange, KEEL_ARRAY_LEN(strange));
    keel_error e;
    CHECK_EQ_INT(keel_schema_check(s, &e), KEEL_OK);
    check_round_trip(__LINE__, s);
    keel_schema_free(s);
}

TEST(schema_write_format)
{
    keel_schema *s = keel_schema_new();
    REQUIRE(s);
    s->source = keel_strdup("pima2.csv");
    keel_schema_column *c = add(s, "glucose", KEEL_TYPE_NUMERIC);
    c->has_min = true;
    c->min = 44;
    c->has_max = true;
    c->max = 199.5;
    c->integer = true;
    c->note = keel_strdup("review: 2% look odd\nsecond line");
    c = add(s, "class", KEEL_TYPE_CATEGORICAL);
    c->role = KEEL_ROLE_TARGET;
    add_all(&c->categories, (const char *const[]){"neg", "pos", "yes", ""}, 4);
    c->display_name = keel_strdup("Diabetes class");
    c = add(s, "email", KEEL_TYPE_TEXT);
    c->pii = KEEL_PII_EMAIL;
    c->nullable = false;
    c->has_missing = true;
    keel_strlist_add(&c->missing, "-", 1);
    c = add(s, "long", KEEL_TYPE_CATEGORICAL);
    for (int i = 0; i < 21; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        keel_strlist_add(&c->categories, name, strlen(name));
    }
    keel_buf b;
    keel_buf_init(&b);
    keel_buf_puts(&b, "kept|");
    REQUIRE(keel_schema_write(s, &b) == KEEL_OK);
    const char *body = strstr(b.data, "version: 1\n");
    REQUIRE(body);
    CHECK(strncmp(b.data, "kept|# keel schema", 18) == 0); /* appends */
    CHECK_STR(body, "version: 1\n"
                    "source: pima2.csv\n"
                    "format: csv\n"
                    "csv:\n"
                    "  delimiter: \",\"\n"
                    "  quote: \"\\\"\"\n"
                    "  header: true\n"
                    "decimal: \".\"\n"
                    "encoding: utf-8\n"
                    "missing: [\"\", NA, N/A, \"null\", \"NULL\", \"NaN\", \"?\"]\n"
                    "columns:\n"
                    "  # review: 2% look odd\n"
                    "  # second line\n"
                    "  - name: glucose\n"
                    "    type: numeric\n"
                    "    role: feature\n"
                    "    min: 44\n"
                    "    max: 199.5\n"
                    "    integer: true\n"
                    "\n"
                    "  - name: class\n"
                    "    display_name: Diabetes class\n"
                    "    type: categorical\n"
                    "    role: target\n"
                    "    categories: [neg, pos, \"yes\", \"\"]\n"
                    "\n"
                    "  - name: email\n"
                    "    type: text\n"
                    "    role: feature\n"
                    "    nullable: false\n"
                    "    missing: [\"-\"]\n"
                    "    pii: email\n"
                    "\n"
                    "  - name: long\n"
                    "    type: categorical\n"
                    "    role: feature\n"
                    "    categories:\n"
                    "      - c0\n"
                    "      - c1\n"
                    "      - c2\n"
                    "      - c3\n"
                    "      - c4\n"
                    "      - c5\n"
                    "      - c6\n"
                    "      - c7\n"
                    "      - c8\n"
                    "      - c9\n"
                    "      - c10\n"
                    "      - c11\n"
                    "      - c12\n"
                    "      - c13\n"
                    "      - c14\n"
                    "      - c15\n"
                    "      - c16\n"
                    "      - c17\n"
                    "      - c18\n"
                    "      - c19\n"
                    "      - c20\n");
    keel_buf_free(&b);
    keel_schema_free(s);
}

TEST(schema_write_quoting)
{
    keel_schema *s = keel_schema_new();
    REQUIRE(s);
    keel_schema_column *c = add(s, "q", KEEL_TYPE_CATEGORICAL);
    add_all(&c->categories,
            (const char *const[]){"a b", "x\"y", "tab\t", "\x01", "caf\xc3\xa9", "l\xe2\x80\xa8",
                                  "\xc2\x85", "1.5", "on", "k: v"},
            10);
    keel_buf b;
    keel_buf_init(&b);
    REQUIRE(keel_schema_write(s, &b) == KEEL_OK);
    CHECK(strstr(b.data, "    categories: [a b, \"x\\\"y\", \"tab\\t\", \"\\x01\", caf\xc3\xa9, "
                         "\"l\\u2028\", \"\\x85\", \"1.5\", \"on\", \"k: v\"]\n") != NULL);
    keel_buf_free(&b);
    keel_schema_free(s);
}

TEST(schema_literal_scalars)
{
    keel_schema *s = parse_ok(HEAD "  - name: 1.5\n    type: categorical\n"
                                   "    categories: [yes, no, ~, 1, 1.0, true, Off, a|b]\n"
                                   "    description: |\n      two\n      lines\n");
    REQUIRE(s);
    const keel_schema_column *c = &s->columns[0];
    CHECK_STR(c->name, "1.5");
    REQUIRE(c->categories.n == 8);
    static const char *const want[] = {"yes", "no", "~", "1", "1.0", "true", "Off", "a|b"};
    for (size_t i = 0; i < 8; i++)
        CHECK_STR(c->categories.items[i], want[i]);
    CHECK_STR(c->description, "two\nlines\n");
    keel_schema_free(s);
}

TEST(schema_parse_oom)
{
    long base = test_alloc_live();
    int rc = KEEL_ENOMEM;
    long n;
    for (n = 1; n < 100000 && rc == KEEL_ENOMEM; n++) {
        keel_schema *s = (keel_schema *)&rc;
        keel_error e = {0};
        test_fail_alloc_after(n);
        rc = keel_schema_parse(full_example, strlen(full_example), "schema.yaml", &s, &e);
        test_fail_alloc_after(0);
        if (rc == KEEL_ENOMEM) {
            CHECK(s == NULL);
            CHECK(strstr(e.msg, "out of memory") != NULL);
            if (test_alloc_live() != base)
                harness_fail(__FILE__, __LINE__, "leak after failing allocation %ld", n);
        } else {
            CHECK_EQ_INT(rc, KEEL_OK);
            keel_schema_free(s);
        }
    }
    CHECK(n > 50); /* the loop really went through the allocations */
    CHECK_EQ_INT(test_alloc_live(), base);
}

TEST(schema_write_oom)
{
    keel_schema *s = parse_ok(full_example);
    REQUIRE(s);
    int rc = KEEL_ENOMEM;
    for (long n = 1; n < 10000 && rc == KEEL_ENOMEM; n++) {
        keel_buf b;
        keel_buf_init(&b);
        keel_buf_puts(&b, "before");
        test_fail_alloc_after(n);
        rc = keel_schema_write(s, &b);
        test_fail_alloc_after(0);
        if (rc == KEEL_ENOMEM)
            CHECK_STR(b.data, "before"); /* a failed write leaves the buffer as it was */
        else
            CHECK_EQ_INT(rc, KEEL_OK);
        keel_buf_free(&b);
    }
    CHECK_EQ_INT(rc, KEEL_OK);
    keel_schema_free(s);
}

TEST(schema_load_files)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nope.yaml", test_tmpdir());
    keel_schema *s = (keel_schema *)&s;
    keel_error e = {0};
    CHECK_EQ_INT(keel_schema_load(path, &s, &e), KEEL_ENOENT);
    CHECK(s == NULL);
    CHECK(strstr(e.msg, path) != NULL);

    snprintf(path, sizeof path, "%s/ok.yaml", test_tmpdir());
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(full_example, f);
    fclose(f);
    CHECK_EQ_INT(keel_schema_load(path, &s, &e), KEEL_OK);
    REQUIRE(s);
    CHECK_EQ_INT(s->n_columns, 6);
    keel_schema_free(s);

    /* errors name the file as given */
    snprintf(path, sizeof path, "%s/bad.yaml", test_tmpdir());
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("version: 1\ncolumns:\n  - name: x\n    tpye: numeric\n", f);
    fclose(f);
    CHECK_EQ_INT(keel_schema_load(path, &s, &e), KEEL_ESCHEMA);
    char want[600];
    snprintf(want, sizeof want, "%s:4:5: unknown key 'tpye' in column 'x'", path);
    CHECK(strncmp(e.msg, want, strlen(want)) == 0);

    CHECK_EQ_INT(keel_schema_load(test_tmpdir(), &s, &e), KEEL_EIO); /* a directory */
}

/* ---- JSON form (schema_json.c), as carried by model artifacts ---- */

static const char rich_yaml[] = "version: 1\n"
                                "format: csv\n"
                                "csv:\n"
                                "  delimiter: ';'\n"
                                "decimal: ','\n"
                                "missing: [\"\", NA]\n"
                                "columns:\n"
                                "  - name: age\n"
                                "    type: numeric\n"
                                "    min: 0\n"
                                "    max: 120\n"
                                "    integer: true\n"
                                "    display_name: Age in years\n"
                                "  - name: plan\n"
                                "    type: categorical\n"
                                "    categories: [basic, \"pro \\\"x\\\"\"]\n"
                                "    on_invalid: missing\n"
                                "  - name: active\n"
                                "    type: boolean\n"
                                "    true_values: [Y]\n"
                                "    false_values: [N]\n"
                                "  - name: seen\n"
                                "    type: timestamp\n"
                                "    time_format: \"%d/%m/%Y\"\n"
                                "    missing: [\"-\"]\n"
                                "  - name: email\n"
                                "    type: text\n"
                                "    pii: email\n"
                                "  - name: y\n"
                                "    type: categorical\n"
                                "    role: target\n"
                                "    categories: [a, b]\n"
                                "    nullable: false\n";

TEST(schema_json_round_trip)
{
    keel_schema *s, *t;
    keel_error e;
    int prc = keel_schema_parse(rich_yaml, sizeof rich_yaml - 1, "rich.yaml", &s, &e);
    if (prc) fprintf(stderr, "%s\n", e.msg);
    REQUIRE(prc == KEEL_OK);
    keel_buf a, b;
    keel_buf_init(&a);
    keel_buf_init(&b);
    REQUIRE(keel_schema_to_json(s, &a) == KEEL_OK);
    REQUIRE(keel_schema_dup(s, &t, &e) == KEEL_OK);
    REQUIRE(keel_schema_to_json(t, &b) == KEEL_OK);
    CHECK_STR(a.data, b.data);
    CHECK_EQ_INT(t->delimiter, ';');
    CHECK_EQ_INT(t->decimal, ',');
    CHECK_STR(t->columns[1].categories.items[1], "pro \"x\"");
    CHECK_EQ_INT(t->columns[1].on_invalid, KEEL_ON_INVALID_MISSING);
    CHECK_STR(t->columns[3].time_format, "%d/%m/%Y");
    CHECK(t->columns[3].has_missing);
    CHECK_EQ_INT(t->columns[4].pii, KEEL_PII_EMAIL);
    CHECK_EQ_INT(t->columns[5].role, KEEL_ROLE_TARGET);
    CHECK(!t->columns[5].nullable);
    CHECK(t->columns[0].integer && t->columns[0].has_max && t->columns[0].max == 120);
    /* Moving and removing columns keep the others intact. */
    keel_schema_move_to_end(t, 0);
    CHECK_STR(t->columns[5].name, "age");
    keel_schema_remove_column(t, 5);
    CHECK_EQ_INT(t->n_columns, 5);
    CHECK_STR(t->columns[4].name, "y");
    keel_buf_free(&a);
    keel_buf_free(&b);
    keel_schema_free(s);
    keel_schema_free(t);
}

TEST(schema_json_refuses_bad_input)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[]", "object"},
        {"{\"version\":2,\"columns\":[{\"name\":\"a\"}]}", "version"},
        {"{\"version\":1,\"columns\":[]}", "columns"},
        {"{\"version\":1,\"columns\":[{\"name\":\"\"}]}", "name"},
        {"{\"version\":1,\"columns\":[{\"name\":\"a\",\"type\":\"blob\"}]}", "type"},
        {"{\"version\":1,\"columns\":[{\"name\":\"a\",\"min\":\"0\"}]}", "min"},
        {"{\"version\":1,\"delimiter\":\",,\",\"columns\":[{\"name\":\"a\"}]}", "delimiter"},
        {"{\"version\":1,\"columns\":[{\"name\":\"a\",\"type\":\"categorical\","
         "\"categories\":[1]}]}",
         "categories"},
        {"{\"version\":1,\"columns\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", "a"},
        {"{\"version\":1,\"columns\":[{\"name\":\"a\",\"min\":5,\"max\":1}]}", "a"},
    };
    for (size_t i = 0; i < KEEL_ARRAY_LEN(cases); i++) {
        keel_json_doc *d = keel_json_doc_new();
        keel_error e;
        REQUIRE(keel_json_parse(d, cases[i].json, strlen(cases[i].json), &e) == KEEL_OK);
        keel_schema *s = (keel_schema *)1;
        CHECK_EQ_INT(keel_schema_from_json(keel_json_root(d), &s, &e), KEEL_EFORMAT);
        CHECK(s == NULL);
        if (!strstr(e.msg, cases[i].msg)) fprintf(stderr, "case %zu: %s\n", i, e.msg);
        CHECK(strstr(e.msg, cases[i].msg) != NULL);
        keel_json_doc_free(d);
    }
}

/* ---- the `sensitive` flag ---- */

static const char sensitive_yaml[] = HEAD "  - name: region\n"
                                          "    type: categorical\n"
                                          "    categories: [north, south]\n"
                                          "    sensitive: true\n"
                                          "  - name: age\n"
                                          "    type: numeric\n"
                                          "    sensitive: false\n"
                                          "  - name: senior\n"
                                          "    type: boolean\n"
                                          "    role: ignore\n"
                                          "    sensitive: true\n";

TEST(schema_sensitive_yaml_round_trip)
{
    keel_schema *s = parse_ok(sensitive_yaml);
    REQUIRE(s != NULL);
    CHECK(s->columns[0].sensitive);
    CHECK(!s->columns[1].sensitive);
    CHECK(s->columns[2].sensitive);
    check_round_trip(__LINE__, s);
    /* Written only when set, as every other key at its default. */
    keel_buf w;
    keel_buf_init(&w);
    REQUIRE(keel_schema_write(s, &w) == KEEL_OK);
    const char *first = strstr(w.data, "sensitive: true");
    CHECK(first != NULL);
    CHECK(first && strstr(first + 1, "sensitive: true") != NULL);
    CHECK(strstr(w.data, "sensitive: false") == NULL);
    keel_buf_free(&w);
    keel_schema_free(s);
}

TEST(schema_sensitive_json_round_trip)
{
    keel_schema *s = parse_ok(sensitive_yaml), *t = NULL;
    REQUIRE(s != NULL);
    keel_error e;
    keel_buf a;
    keel_buf_init(&a);
    REQUIRE(keel_schema_to_json(s, &a) == KEEL_OK);
    CHECK(strstr(a.data, "\"sensitive\":true") != NULL);
    REQUIRE(keel_schema_dup(s, &t, &e) == KEEL_OK);
    CHECK(t->columns[0].sensitive);
    CHECK(!t->columns[1].sensitive);
    CHECK(t->columns[2].sensitive);
    CHECK(schema_eq(s, t));
    keel_buf_free(&a);
    keel_schema_free(s);
    keel_schema_free(t);
}

/* Artifacts written before the flag existed have no "sensitive" key: they load as false. */
TEST(schema_sensitive_json_absent_is_false)
{
    static const char json[] = "{\"version\":1,\"columns\":[{\"name\":\"a\",\"type\":"
                               "\"numeric\",\"role\":\"feature\",\"nullable\":true}]}";
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d != NULL);
    keel_error e;
    REQUIRE(keel_json_parse(d, json, sizeof json - 1, &e) == KEEL_OK);
    keel_schema *s = NULL;
    CHECK_EQ_INT(keel_schema_from_json(keel_json_root(d), &s, &e), KEEL_OK);
    CHECK(s && !s->columns[0].sensitive);
    keel_schema_free(s);
    keel_json_doc_free(d);
}

TEST(schema_sensitive_broken_value)
{
    EXPECT_ERROR(HEAD "  - {name: a, type: text, sensitive: yes}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:38: column 'a': sensitive must be true or false, not 'yes'");
    EXPECT_ERROR(HEAD "  - {name: a, type: text, sensitive: [true]}\n", KEEL_ESCHEMA,
                 "schema.yaml:3:38: column 'a': sensitive must be a single value");
    static const char json[] =
        "{\"version\":1,\"columns\":[{\"name\":\"a\",\"sensitive\":\"true\"}]}";
    keel_json_doc *d = keel_json_doc_new();
    REQUIRE(d != NULL);
    keel_error e;
    REQUIRE(keel_json_parse(d, json, sizeof json - 1, &e) == KEEL_OK);
    keel_schema *s = (keel_schema *)1;
    CHECK_EQ_INT(keel_schema_from_json(keel_json_root(d), &s, &e), KEEL_EFORMAT);
    CHECK(s == NULL);
    CHECK(strstr(e.msg, "sensitive") != NULL);
    keel_json_doc_free(d);
}
