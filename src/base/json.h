/*
 * json.h — a small, strict JSON (RFC 8259) parser into a read-only tree.
 *
 * Used for JSON Lines records, profile files, and later model manifests and HTTP bodies.
 * The whole tree lives in one arena owned by a keel_json_doc and is freed with it; a doc can
 * be reused for the next text without giving its memory back (one doc per JSON Lines
 * reader, not one per line). Writing JSON is done with keel_buf_json_str/_num (base.h), and
 * a parsed value is written back out, compactly, with keel_json_write.
 *
 * Strict: no comments, no trailing commas, no NaN/Infinity, no leading zeros, strings must
 * be valid UTF-8 and \u escapes valid (lone surrogates rejected). Limits: nesting depth 256.
 * Duplicate object keys are kept in order; keel_json_get returns the first.
 * A doc is not thread-safe; different docs may be used from different threads.
 */
#ifndef KEEL_BASE_JSON_H
#define KEEL_BASE_JSON_H

#include "base/base.h"

typedef enum keel_json_type {
    KEEL_JSON_NULL = 0,
    KEEL_JSON_BOOL,
    KEEL_JSON_NUMBER,
    KEEL_JSON_STRING,
    KEEL_JSON_ARRAY,
    KEEL_JSON_OBJECT
} keel_json_type;

typedef struct keel_json keel_json;
typedef struct keel_json_member keel_json_member;

struct keel_json {
    keel_json_type type;
    union {
        bool boolean;
        struct {
            double value;     /* nearest double */
            const char *text; /* the number exactly as written (NUL-terminated copy) */
            size_t len;
        } number;
        struct {
            const char *s; /* unescaped UTF-8, NUL-terminated; may contain "\0" bytes */
            size_t len;
        } string;
        struct {
            keel_json *items;
            size_t n;
        } array;
        struct {
            keel_json_member *members;
            size_t n;
        } object;
    } u;
};

struct keel_json_member {
    const char *key; /* unescaped, NUL-terminated */
    size_t key_len;
    keel_json value;
};

typedef struct keel_json_doc keel_json_doc;

/* Creates an empty document (no tree yet). NULL when out of memory. */
keel_json_doc *keel_json_doc_new(void);
void keel_json_doc_free(keel_json_doc *d);

/* Parses text[0..n) (exactly one JSON value, surrounded by optional whitespace) into d,
 * replacing whatever d held before. On failure returns KEEL_EPARSE (or KEEL_ENOMEM,
 * KEEL_ELIMIT for depth) and e->msg says where: "line 3, column 14: expected ',' or '}'". */
int keel_json_parse(keel_json_doc *d, const char *text, size_t n, keel_error *e);

/* The root value of the last successful parse; NULL if none. Borrowed from d. */
const keel_json *keel_json_root(const keel_json_doc *d);

/* Lookup helpers. Each is NULL-safe: a NULL or wrong-typed v gives NULL / the default. */
const keel_json *keel_json_get(const keel_json *obj, const char *key); /* first match */
const keel_json *keel_json_at(const keel_json *arr, size_t i);
size_t keel_json_len(const keel_json *v); /* array items or object members; else 0 */
double keel_json_num(const keel_json *v, double dflt);
const char *keel_json_str(const keel_json *v); /* NULL unless a string */
bool keel_json_bool(const keel_json *v, bool dflt);

/* A short description of a value for "got ..." in error messages: null, true, the number as
 * written (cut past 40 characters), a quoted string cut at about 40 bytes, "an array", "an
 * object". By value: no allocation. */
typedef struct keel_json_desc {
    char s[80];
} keel_json_desc;
keel_json_desc keel_json_describe(const keel_json *v);

/* Appends v as compact JSON text (NULL as null): numbers exactly as they were written,
 * strings re-escaped, members in their order. KEEL_ENOMEM leaves out as it was. */
int keel_json_write(const keel_json *v, keel_buf *out);

#endif
