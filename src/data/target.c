/*
 * target.c — the column a model predicts: deciding the task, fitting classes or scaling,
 * labelling rows, and the target's manifest JSON.
 *
 * Classes are kept as text labels (what a prediction reports back), and alongside them a
 * lookup built from the schema on fit and on load so that labelling a row is O(1) for
 * categorical and boolean targets and a binary search for numeric classes. Regression
 * targets are standardised with the training mean and (population) standard deviation.
 * A target that cannot be learnt — one class, or a constant — is refused at fit time
 * (KEEL_ESCHEMA) rather than producing a model that always says the same thing.
 *
 * Manifest JSON (copied into docs/artifact.md), one object; every field listed is required
 * and no other is allowed:
 *   {"column": "churn", "task": "binary", "classes": ["no", "yes"]}
 *   {"column": "digit", "task": "multiclass", "classes": ["0", "1", ..., "9"]}
 *   {"column": "price", "task": "regression", "mean": 212.5, "scale": 48.25}
 * task: "binary" (exactly 2 classes), "multiclass" (2 .. 65536), "regression" (numeric
 * column; mean finite, scale finite and > 0). Classes, by the column's schema type:
 * categorical — categories of the column, in schema order (a subset); boolean — exactly
 * "false", "true"; numeric — whole numbers below 2^53 in magnitude written as plain
 * integers ("-3", "0", "12"), strictly increasing. Class i is output i of the model.
 */
#include "data/transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AUTO_MAX_CLASSES 20                 /* automatic detection: numeric classification limit */
#define WHOLE_LIMIT      9007199254740992.0 /* 2^53: whole numbers exact in a double */

static const char *const task_names[] = {"binary", "multiclass", "regression"};

const char *keel_task_name(keel_task t)
{
    return (unsigned)t < KEEL_ARRAY_LEN(task_names) ? task_names[t] : "?";
}

void keel_target_free(keel_target *t)
{
    if (!t) return;
    keel_free(t->column);
    keel_strlist_clear(&t->classes);
    keel_free(t->class_of_code);
    keel_free(t->class_values);
    memset(t, 0, sizeof *t);
}

/* Sets the task from the number of classes found (task < 0: automatic), refusing a single
 * class and a binary task with more than two. */
static int settle_classes(keel_target *t, int task, keel_error *e)
{
    size_t n = t->classes.n;
    if (n == 0)
        return keel_error_set(e, KEEL_ESCHEMA, "target '%.64s' has no values in the training rows",
                              t->column);
    if (n == 1)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "target '%.64s' has a single class ('%.64s') in the training rows: "
                              "there is nothing to learn",
                              t->column, t->classes.items[0]);
    if (task == KEEL_TASK_BINARY && n != 2)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "target '%.64s' has %zu classes; a binary task needs exactly 2",
                              t->column, n);
    t->task = task < 0 ? (n == 2 ? KEEL_TASK_BINARY : KEEL_TASK_MULTICLASS) : (keel_task)task;
    return KEEL_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define ROW(i) (rows ? rows[i] : (i))

static int fit_categorical(keel_target *t, const keel_column *c, const keel_schema_column *def,
                           const size_t *rows, size_t n_rows, int task, keel_error *e)
{
    size_t nc = def->categories.n;
    bool *seen = keel_calloc(nc ? nc : 1, sizeof *seen);
    t->n_codes = nc;
    t->class_of_code = keel_reallocarray(NULL, (nc ? nc : 1), sizeof *t->class_of_code);
    if (!seen || !t->class_of_code) goto oom;
    for (size_t i = 0; i < n_rows; i++) {
        int32_t code = c->cat[ROW(i)];
        if (code >= 0 && (size_t)code < nc) seen[code] = true;
    }
    for (size_t k = 0; k < nc; k++) {
        t->class_of_code[k] = seen[k] ? (int32_t)t->classes.n : -1;
        if (seen[k]) {
            const char *cat = def->categories.items[k];
            if (keel_strlist_add(&t->classes, cat, strlen(cat))) goto oom;
        }
    }
    keel_free(seen);
    return settle_classes(t, task, e);
oom:
    keel_free(seen);
    return keel_error_set(e, KEEL_ENOMEM, "fitting the target: out of memory");
}

static int fit_boolean(keel_target *t, const keel_column *c, const size_t *rows, size_t n_rows,
                       int task, keel_error *e)
{
    bool seen[2] = {false, false};
    for (size_t i = 0; i < n_rows; i++) {
        int8_t b = c->boolean[ROW(i)];
        if (b >= 0) seen[b != 0] = true;
    }
    static const char *const names[] = {"false", "true"};
    for (int k = 0; k < 2; k++)
        if (seen[k] && keel_strlist_add(&t->classes, names[k], strlen(names[k])))
            return keel_error_set(e, KEEL_ENOMEM, "fitting the target: out of memory");
    return settle_classes(t, task, e);
}

static int fit_numeric(keel_target *t, const keel_column *c, const size_t *rows, size_t n_rows,
                       int task, keel_error *e)
{
    int rc = KEEL_OK;
    double *v = keel_reallocarray(NULL, (n_rows ? n_rows : 1), sizeof *v);
    if (!v) goto oom;
    size_t n = 0, distinct = 0;
    bool whole = true;
    for (size_t i = 0; i < n_rows; i++) {
        double x = c->num[ROW(i)];
        if (isnan(x)) continue;
        v[n++] = x;
        whole = whole && x == floor(x) && fabs(x) < WHOLE_LIMIT;
    }
    if (n == 0) {
        rc = keel_error_set(e, KEEL_ESCHEMA, "target '%.64s' has no values in the training rows",
                            t->column);
        goto done;
    }
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i] != v[distinct - 1]) v[distinct++] = v[i] + 0.0;
    bool classify = task < 0 ? whole && distinct <= AUTO_MAX_CLASSES : task != KEEL_TASK_REGRESSION;
    if (classify) {
        if (!whole) {
            rc = keel_error_set(e, KEEL_ESCHEMA,
                                "target '%.64s' has fractional values: classification needs "
                                "whole numbers",
                                t->column);
            goto done;
        }
        if (distinct > KEEL_TARGET_MAX_CLASSES) {
            rc = keel_error_set(e, KEEL_ESCHEMA, "target '%.64s' has %zu classes, more than %d",
                                t->column, distinct, KEEL_TARGET_MAX_CLASSES);
            goto done;
        }
        for (size_t i = 0; i < distinct; i++) {
            char label[32];
            int len = snprintf(label, sizeof label, "%lld", (long long)v[i]);
            if (keel_strlist_add(&t->classes, label, (size_t)len)) goto oom;
        }
        t->class_values = v; /* the first `distinct` entries, ascending */
        v = NULL;
        rc = settle_classes(t, task, e);
        goto done;
    }
    if (distinct == 1) {
        rc = keel_error_set(e, KEEL_ESCHEMA,
                            "target '%.64s' has a single value in the training rows: there is "
                            "nothing to learn",
                            t->column);
        goto done;
    }
    /* Welford's running mean and variance; overflow only for values near DBL_MAX. */
    double mean = 0, m2 = 0;
    n = 0;
    for (size_t i = 0; i < n_rows; i++) {
        double x = c->num[ROW(i)];
        if (isnan(x)) continue;
        double d = x - mean;
        mean += d / (double)++n;
        m2 += d * (x - mean);
    }
    double sd = sqrt(m2 / (double)n);
    if (!isfinite(mean) || !isfinite(sd) || !(sd > 0)) {
        rc = keel_error_set(e, KEEL_ESCHEMA, "target '%.64s': values too large to standardise",
                            t->column);
        goto done;
    }
    t->task = KEEL_TASK_REGRESSION;
    t->mean = mean + 0.0;
    t->scale = sd;
done:
    keel_free(v);
    return rc;
oom:
    keel_free(v);
    return keel_error_set(e, KEEL_ENOMEM, "fitting the target: out of memory");
}

#undef ROW

int keel_target_fit(keel_target *t, const keel_frame *f, const size_t *rows, size_t n_rows,
                    const char *column, int task, keel_error *e)
{
    memset(t, 0, sizeof *t);
    if (task > KEEL_TASK_REGRESSION) return keel_error_set(e, KEEL_EINVAL, "unknown task %d", task);
    const keel_schema *s = f->schema;
    long ci = -1;
    if (column) {
        ci = keel_schema_find(s, column);
        if (ci < 0)
            return keel_error_set(e, KEEL_ESCHEMA, "target column '%.64s' is not in the schema",
                                  column);
    } else {
        for (size_t i = 0; i < s->n_columns && ci < 0; i++)
            if (s->columns[i].role == KEEL_ROLE_TARGET) ci = (long)i;
        if (ci < 0) return keel_error_set(e, KEEL_ESCHEMA, "the schema has no target column");
    }
    const keel_schema_column *def = &s->columns[ci];
    if (def->type != KEEL_TYPE_NUMERIC && def->type != KEEL_TYPE_CATEGORICAL &&
        def->type != KEEL_TYPE_BOOLEAN)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "target '%.64s' is a %s column; a target must be numeric, "
                              "categorical or boolean",
                              def->name, keel_type_name(def->type));
    if (task == KEEL_TASK_REGRESSION && def->type != KEEL_TYPE_NUMERIC)
        return keel_error_set(e, KEEL_ESCHEMA,
                              "target '%.64s' is %s: regression needs a numeric column", def->name,
                              keel_type_name(def->type));
    if (!rows) n_rows = f->n_rows;
    t->col = (size_t)ci;
    t->type = def->type;
    if (!(t->column = keel_strdup(def->name)))
        return keel_error_set(e, KEEL_ENOMEM, "fitting the target: out of memory");
    const keel_column *c = &f->cols[ci];
    int rc;
    if (def->type == KEEL_TYPE_CATEGORICAL)
        rc = fit_categorical(t, c, def, rows, n_rows, task, e);
    else if (def->type == KEEL_TYPE_BOOLEAN)
        rc = fit_boolean(t, c, rows, n_rows, task, e);
    else
        rc = fit_numeric(t, c, rows, n_rows, task, e);
    if (rc) keel_target_free(t);
    return rc;
}

void keel_target_label(const keel_target *t, const keel_frame *f, size_t r, int32_t *cls, float *y)
{
    const keel_column *c = &f->cols[t->col];
    if (t->task == KEEL_TASK_REGRESSION) {
        double v = c->num[r];
        *y = isnan(v) ? NAN : (float)((v - t->mean) / t->scale);
        return;
    }
    int32_t k = -1;
    if (t->type == KEEL_TYPE_CATEGORICAL) {
        int32_t code = c->cat[r];
        if (code >= 0 && (size_t)code < t->n_codes) k = t->class_of_code[code];
    } else if (t->type == KEEL_TYPE_BOOLEAN) {
        int8_t b = c->boolean[r];
        if (b >= 0) k = b != 0;
    } else {
        double v = c->num[r];
        size_t lo = 0, hi = t->classes.n;
        while (lo < hi) { /* first class value >= v */
            size_t mid = lo + (hi - lo) / 2;
            if (t->class_values[mid] < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < t->classes.n && t->class_values[lo] == v) k = (int32_t)lo;
    }
    *cls = k;
}

int keel_target_to_json(const keel_target *t, keel_buf *out)
{
    keel_buf_mark start = keel_buf_begin(out);
    keel_buf_puts(out, "{\"column\":");
    keel_buf_json_str(out, t->column, strlen(t->column));
    keel_buf_printf(out, ",\"task\":\"%s\"", keel_task_name(t->task));
    if (t->task == KEEL_TASK_REGRESSION) {
        keel_buf_puts(out, ",\"mean\":");
        keel_buf_json_num(out, t->mean);
        keel_buf_puts(out, ",\"scale\":");
        keel_buf_json_num(out, t->scale);
    } else {
        keel_buf_puts(out, ",\"classes\":[");
        for (size_t i = 0; i < t->classes.n; i++) {
            if (i) keel_buf_putc(out, ',');
            keel_buf_json_str(out, t->classes.items[i], strlen(t->classes.items[i]));
        }
        keel_buf_putc(out, ']');
    }
    keel_buf_putc(out, '}');
    return keel_buf_end(out, start);
}

/* ---- reading -------------------------------------------------------------------------- */

/* Parses a class label written as a plain integer ("0", "-12"; no '+', no leading zeros,
 * no "-0"), below 2^53 in magnitude. */
static bool parse_int_label(const char *s, size_t len, double *out)
{
    size_t i = s[0] == '-';
    if (len == i || len - i > 16 || (s[i] == '0' && len - i > 1) || (i && s[i] == '0'))
        return false;
    int64_t v = 0;
    for (size_t k = i; k < len; k++) {
        if (s[k] < '0' || s[k] > '9') return false;
        v = v * 10 + (s[k] - '0');
    }
    if ((double)v >= WHOLE_LIMIT) return false;
    *out = i ? -(double)v : (double)v;
    return true;
}

static int read_classes(keel_target *t, const keel_json *arr, const keel_schema_column *def,
                        keel_error *e)
{
    size_t n = arr->u.array.n;
    if (n < 2 || n > KEEL_TARGET_MAX_CLASSES || (t->task == KEEL_TASK_BINARY && n != 2))
        return keel_error_set(e, KEEL_EFORMAT, "target: classes: %zu classes for a %s task", n,
                              keel_task_name(t->task));
    if (def->type == KEEL_TYPE_CATEGORICAL) {
        t->n_codes = def->categories.n;
        t->class_of_code =
            keel_reallocarray(NULL, (t->n_codes ? t->n_codes : 1), sizeof *t->class_of_code);
        if (!t->class_of_code) goto oom;
        for (size_t k = 0; k < t->n_codes; k++)
            t->class_of_code[k] = -1;
    } else if (def->type == KEEL_TYPE_NUMERIC) {
        if (!(t->class_values = keel_reallocarray(NULL, n, sizeof *t->class_values))) goto oom;
    }
    size_t pos = 0; /* categorical: classes follow schema order, so one forward scan */
    for (size_t i = 0; i < n; i++) {
        const keel_json *v = &arr->u.array.items[i];
        if (v->type != KEEL_JSON_STRING)
            return keel_error_set(e, KEEL_EFORMAT, "target: classes[%zu] is not a string", i);
        const char *s = v->u.string.s;
        size_t len = v->u.string.len;
        if (def->type == KEEL_TYPE_CATEGORICAL) {
            while (pos < t->n_codes && !(strlen(def->categories.items[pos]) == len &&
                                         memcmp(def->categories.items[pos], s, len) == 0))
                pos++;
            if (pos == t->n_codes)
                return keel_error_set(e, KEEL_ESCHEMA,
                                      "target: class '%.64s' is not a category of '%.64s' (or "
                                      "is out of schema order)",
                                      s, def->name);
            t->class_of_code[pos++] = (int32_t)i;
        } else if (def->type == KEEL_TYPE_BOOLEAN) {
            const char *want = i == 0 ? "false" : "true";
            if (strlen(want) != len || memcmp(want, s, len) != 0)
                return keel_error_set(e, KEEL_EFORMAT,
                                      "target: a boolean target's classes are \"false\", \"true\"");
        } else {
            double x;
            if (!parse_int_label(s, len, &x) || (i && !(x > t->class_values[i - 1])))
                return keel_error_set(e, KEEL_EFORMAT,
                                      "target: classes[%zu] must be an integer label greater "
                                      "than the one before",
                                      i);
            t->class_values[i] = x;
        }
        if (keel_strlist_add(&t->classes, s, len)) goto oom;
    }
    return KEEL_OK;
oom:
    return keel_error_set(e, KEEL_ENOMEM, "target: out of memory");
}

static int read_target(keel_target *t, const keel_json *v, const keel_schema *s, keel_error *e)
{
    if (!v || v->type != KEEL_JSON_OBJECT)
        return keel_error_set(e, KEEL_EFORMAT, "target: expected an object");
    const char *task = keel_json_str(keel_json_get(v, "task"));
    size_t k = 0;
    while (task && k < KEEL_ARRAY_LEN(task_names) && strcmp(task, task_names[k]) != 0)
        k++;
    if (!task || k == KEEL_ARRAY_LEN(task_names))
        return keel_error_set(e, KEEL_EFORMAT,
                              "target: task must be binary, multiclass or regression");
    t->task = (keel_task)k;
    bool regression = t->task == KEEL_TASK_REGRESSION;
    for (size_t i = 0; i < v->u.object.n; i++) {
        const char *key = v->u.object.members[i].key;
        bool ok =
            !strcmp(key, "column") || !strcmp(key, "task") ||
            (regression ? !strcmp(key, "mean") || !strcmp(key, "scale") : !strcmp(key, "classes"));
        if (!ok || strlen(key) != v->u.object.members[i].key_len)
            return keel_error_set(e, KEEL_EFORMAT, "target: unknown field '%.48s'", key);
        if (keel_json_get(v, key) != &v->u.object.members[i].value)
            return keel_error_set(e, KEEL_EFORMAT, "target: field '%.48s' appears twice", key);
    }
    const keel_json *col = keel_json_get(v, "column");
    if (!col || col->type != KEEL_JSON_STRING || strlen(col->u.string.s) != col->u.string.len)
        return keel_error_set(e, KEEL_EFORMAT, "target: column must be a column name");
    long ci = keel_schema_find(s, col->u.string.s);
    if (ci < 0)
        return keel_error_set(e, KEEL_ESCHEMA, "target: column '%.64s' is not in the schema",
                              col->u.string.s);
    const keel_schema_column *def = &s->columns[ci];
    if (def->type != KEEL_TYPE_NUMERIC &&
        (regression || (def->type != KEEL_TYPE_CATEGORICAL && def->type != KEEL_TYPE_BOOLEAN)))
        return keel_error_set(e, KEEL_ESCHEMA, "target: column '%.64s' is %s, unusable for %s",
                              def->name, keel_type_name(def->type), keel_task_name(t->task));
    t->col = (size_t)ci;
    t->type = def->type;
    if (!(t->column = keel_strdup(def->name)))
        return keel_error_set(e, KEEL_ENOMEM, "target: out of memory");
    if (regression) {
        const keel_json *mean = keel_json_get(v, "mean"), *scale = keel_json_get(v, "scale");
        if (!mean || mean->type != KEEL_JSON_NUMBER || !isfinite(mean->u.number.value) || !scale ||
            scale->type != KEEL_JSON_NUMBER || !isfinite(scale->u.number.value) ||
            !(scale->u.number.value > 0))
            return keel_error_set(e, KEEL_EFORMAT,
                                  "target: mean must be a finite number and scale a positive one");
        t->mean = mean->u.number.value;
        t->scale = scale->u.number.value;
        return KEEL_OK;
    }
    const keel_json *classes = keel_json_get(v, "classes");
    if (!classes || classes->type != KEEL_JSON_ARRAY)
        return keel_error_set(e, KEEL_EFORMAT, "target: classes must be an array of strings");
    return read_classes(t, classes, def, e);
}

int keel_target_from_json(keel_target *t, const keel_json *v, const keel_schema *s, keel_error *e)
{
    memset(t, 0, sizeof *t);
    int rc = read_target(t, v, s, e);
    if (rc) keel_target_free(t);
    return rc;
}
