/* aggregate.c — what drives the model: an audit's results lines turned into
 * per-class and overall statistics per token (text) or feature (tabular),
 * label agreement, a binned value-vs-attribution view, and SP-LIME's pick.
 * The one implementation: the CLI, `merge`, and Python all read its output.
 *
 * Units. An explanation row is one target's d scores for one document: a
 * single-target result has one row, a multi-target result (targets, values
 * as k' x d) has k'. Class c's table aggregates every row whose target is
 * c: with the default target (the predicted class) that is the documents
 * predicted as c; with `--target all` every document's row for c. The
 * overall table takes one row per document: its predicted class's row (the
 * first row when the prediction is not known). An occurrence is one feature
 * of one row; a token's key is the feature's name (ASCII case-folded with
 * casefold).
 *
 * Per key: count (occurrences), docs (distinct documents), mean |value| and
 * mean value over the occurrences, each with its standard error
 * s / sqrt(count) (s the sample standard deviation; null when count < 2).
 * Means run by Welford's update in input order (lines are sorted by
 * position before they come here), so the same results give the same bytes
 * whatever order the jobs ended in. Ranking: mean |value| descending among
 * keys with count >= min_count, ties by key.
 *
 * SP-LIME (Ribeiro et al. 2016, section 4): W[i][j] = sum of |value| of key
 * j in document i's overall row, I_j = sqrt(sum_i W[i][j]); greedily add the
 * document with the largest coverage gain sum_j I_j [W[i][j] > 0, j not yet
 * covered], ties to the earlier document, B times.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"

typedef struct entry {
    char *key;
    size_t count, docs, last_doc;
    double mean, m2, amean, am2;    /* Welford: signed and absolute */
} entry;

typedef struct table {
    json_t *index;          /* key -> position in e */
    entry *e;
    size_t n, cap, rows;
} table;

typedef struct xy {
    double x, v;
} xy;

/* One explanation row of a result. */
typedef struct row {
    int64_t target;
    const char *name;
    const json_t *values, *stderrs;
} row;

static void table_init(table *t) {
    memset(t, 0, sizeof *t);
    t->index = json_object();
}

static void table_free(table *t) {
    for (size_t i = 0; i < t->n; i++) free(t->e[i].key);
    free(t->e);
    json_decref(t->index);
}

static entry *table_get(table *t, const char *key) {
    json_t *at = json_object_get(t->index, key);
    if (at) return &t->e[json_integer_value(at)];
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->e = realloc(t->e, t->cap * sizeof *t->e);
    }
    entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    e->key = strdup(key);
    e->last_doc = (size_t)-1;
    json_object_set_new(t->index, key, json_integer((json_int_t)t->n++));
    return e;
}

static void welford(double *mean, double *m2, size_t n, double x) {
    double d = x - *mean;
    *mean += d / (double)n;
    *m2 += d * (x - *mean);
}

static void table_add(table *t, const char *key, size_t doc, double v) {
    entry *e = table_get(t, key);
    e->count++;
    if (e->last_doc != doc) {
        e->docs++;
        e->last_doc = doc;
    }
    welford(&e->mean, &e->m2, e->count, v);
    welford(&e->amean, &e->am2, e->count, fabs(v));
}

static json_t *se_json(double m2, size_t n) {
    return n < 2 ? json_null() : json_real(sqrt(m2 / (double)(n - 1) / (double)n));
}

static json_t *entry_json(const entry *e) {
    return json_pack("{s:s, s:I, s:I, s:f, s:o, s:f, s:o}", "name", e->key, "count",
                     (json_int_t)e->count, "docs", (json_int_t)e->docs, "mean_abs", e->amean,
                     "se_abs", se_json(e->am2, e->count), "mean", e->mean, "se",
                     se_json(e->m2, e->count));
}

static int cmp_rank(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->amean != y->amean) return x->amean > y->amean ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The top entries of t as a JSON array (ranked, count >= min_count). */
static json_t *table_top(const table *t, const xa_agg_opts *o) {
    const entry **v = malloc((t->n ? t->n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].count >= o->min_count) v[m++] = &t->e[i];
    qsort(v, m, sizeof *v, cmp_rank);
    json_t *a = json_array();
    for (size_t i = 0; i < m && i < o->top; i++) json_array_append_new(a, entry_json(v[i]));
    free(v);
    return a;
}

/* ---- reading a results line --------------------------------------------- */

/* The explanation rows of a result (k' of them); 0 when malformed. */
static size_t result_rows(const json_t *r, row *out, size_t max) {
    const json_t *values = json_object_get(r, "values"), *targets = json_object_get(r, "targets");
    const json_t *se = json_object_get(r, "stderrs");
    if (!json_is_array(values)) return 0;
    if (!json_is_array(targets)) {
        const json_t *name = json_object_get(r, "target_name");
        out[0] = (row){json_integer_value(json_object_get(r, "target")),
                       json_is_string(name) ? json_string_value(name) : NULL, values,
                       json_is_array(se) ? se : NULL};
        return max > 0;
    }
    const json_t *names = json_object_get(r, "target_names");
    size_t k = json_array_size(targets);
    if (k > max || json_array_size(values) != k) return 0;
    for (size_t t = 0; t < k; t++) {
        const json_t *name = json_array_get(names, t);
        const json_t *s = json_is_array(se) ? json_array_get(se, t) : NULL;
        out[t] = (row){json_integer_value(json_array_get(targets, t)),
                       json_is_string(name) ? json_string_value(name) : NULL,
                       json_array_get(values, t), json_is_array(s) ? s : NULL};
        if (!json_is_array(out[t].values)) return 0;
    }
    return k;
}

json_t *xa_faithfulness_summary(const json_t *lines) {
    size_t n = 0, bad = 0, i;
    double mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const json_t *a = json_object_get(l, "aopc");
        if (!json_is_number(a)) {
            bad++;
            continue;
        }
        double x = json_number_value(a);
        welford(&mean, &m2, ++n, x);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    if (n == 0) return json_pack("{s:I, s:I}", "n", (json_int_t)0, "n_errors", (json_int_t)bad);
    return json_pack("{s:I, s:I, s:f, s:o, s:o, s:f, s:f}", "n", (json_int_t)n, "n_errors",
                     (json_int_t)bad, "mean", mean, "sd",
                     n < 2 ? json_null() : json_real(sqrt(m2 / (double)(n - 1))), "se",
                     se_json(m2, n), "min", lo, "max", hi);
}

int64_t xa_line_predicted(const json_t *line) {
    const json_t *p = json_object_get(line, "predicted");
    return json_is_integer(p) ? json_integer_value(p) : -1;
}

/* The row of the document's predicted class, else row 0. */
static size_t overall_row(const row *rows, size_t k, int64_t predicted) {
    for (size_t t = 0; t < k; t++)
        if (rows[t].target == predicted) return t;
    return 0;
}

static void key_of(const json_t *features, size_t i, bool fold, char *buf, size_t len) {
    const char *s = json_string_value(json_array_get(features, i));
    snprintf(buf, len, "%s", s ? s : "");
    if (fold)
        for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
}

static void add_row(table *t, const json_t *features, const row *r, size_t doc, bool fold) {
    char key[512];
    t->rows++;
    size_t d = json_array_size(r->values);
    for (size_t i = 0; i < d; i++) {
        key_of(features, i, fold, key, sizeof key);
        table_add(t, key, doc, json_number_value(json_array_get(r->values, i)));
    }
}

/* ---- classes ------------------------------------------------------------- */

typedef struct classes {
    json_t *names;          /* object: decimal index -> name (or null) */
    table *tables;          /* per class index, grown as targets appear */
    size_t n;               /* tables in use: max index + 1 */
} classes;

static table *class_table(classes *c, int64_t idx, const char *name) {
    if (idx < 0 || idx > 1 << 20) return NULL;
    while ((size_t)idx >= c->n) {
        c->tables = realloc(c->tables, (c->n + 1) * sizeof *c->tables);
        table_init(&c->tables[c->n++]);
    }
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)idx);
    if (name && !json_is_string(json_object_get(c->names, k)))
        json_object_set_new(c->names, k, json_string(name));
    return &c->tables[idx];
}

/* The class's name, else its index as a string (static buffer per call). */
static const char *class_name(const classes *c, int64_t idx, char *buf, size_t len) {
    char k[32];
    snprintf(k, sizeof k, "%lld", (long long)idx);
    const json_t *n = json_object_get(c->names, k);
    snprintf(buf, len, "%s", json_is_string(n) ? json_string_value(n) : k);
    return buf;
}

/* ---- labels -------------------------------------------------------------- */

typedef struct labels {
    json_t *order;          /* array of class names, in class-index order then first seen */
    json_t *pairs;          /* array of [true, predicted] names, per labelled document */
    json_t *missed;         /* ids of misclassified documents */
    table missed_tokens;
} labels;

static size_t name_pos(json_t *order, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(order, i, v) if (strcmp(json_string_value(v), name) == 0) return i;
    json_array_append_new(order, json_string(name));
    return json_array_size(order) - 1;
}

/* A label as a class name: the name itself, or the name of class `label`
 * when it is an index. */
static const char *label_name(const classes *c, const char *label, char *buf, size_t len) {
    char *end;
    long long k = strtoll(label, &end, 10);
    if (*label && *end == '\0' && k >= 0) {
        char key[32];
        snprintf(key, sizeof key, "%lld", k);
        if (json_is_string(json_object_get(c->names, key))) return class_name(c, k, buf, len);
    }
    snprintf(buf, len, "%s", label);
    return buf;
}

static json_t *labels_json(labels *l, const classes *c, const xa_agg_opts *o) {
    size_t n = json_array_size(l->pairs);
    if (n == 0) return json_null();
    for (size_t k = 0; k < c->n; k++) {       /* class-index order first */
        char buf[256];
        if (c->tables[k].rows) name_pos(l->order, class_name(c, (int64_t)k, buf, sizeof buf));
    }
    size_t correct = 0, i;
    json_t *p;
    json_array_foreach(l->pairs, i, p) {
        name_pos(l->order, json_string_value(json_array_get(p, 0)));
        name_pos(l->order, json_string_value(json_array_get(p, 1)));
    }
    size_t m = json_array_size(l->order);
    size_t *cm = calloc(m * m, sizeof *cm);
    json_array_foreach(l->pairs, i, p) {
        size_t a = name_pos(l->order, json_string_value(json_array_get(p, 0)));
        size_t b = name_pos(l->order, json_string_value(json_array_get(p, 1)));
        cm[a * m + b]++;
        correct += a == b;
    }
    json_t *conf = json_array();
    for (size_t a = 0; a < m; a++) {
        json_t *r = json_array();
        for (size_t b = 0; b < m; b++) json_array_append_new(r, json_integer((json_int_t)cm[a * m + b]));
        json_array_append_new(conf, r);
    }
    free(cm);
    return json_pack("{s:I, s:I, s:f, s:O, s:o, s:O, s:o}", "n_labelled", (json_int_t)n,
                     "n_correct", (json_int_t)correct, "accuracy", (double)correct / (double)n,
                     "classes", l->order, "confusion", conf, "misclassified", l->missed,
                     "top_misclassified", table_top(&l->missed_tokens, o));
}

/* ---- tabular: value vs attribution --------------------------------------- */

static int cmp_xy(const void *a, const void *b) {
    const xy *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x ? 1 : (p->v < q->v ? -1 : p->v > q->v);
}

/* Equal-count bins of the (input value, attribution) pairs of feature j of
 * the overall rows: per bin its x range, count and mean attribution. */
static json_t *bins_json(const json_t *lines, const json_t *docs_rows, size_t j, size_t bins) {
    size_t n = json_array_size(lines), m = 0;
    xy *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(json_object_get(json_array_get(lines, i), "row"), j);
        const json_t *v = json_array_get(json_array_get(docs_rows, i), j);
        if (json_is_number(x) && json_is_number(v))
            p[m++] = (xy){json_number_value(x), json_number_value(v)};
    }
    qsort(p, m, sizeof *p, cmp_xy);
    json_t *a = json_array();
    size_t b_n = m < bins ? m : bins;
    for (size_t b = 0; b < b_n; b++) {
        size_t lo = b * m / b_n, hi = (b + 1) * m / b_n;
        double mean = 0, m2 = 0;
        for (size_t i = lo; i < hi; i++) welford(&mean, &m2, i - lo + 1, p[i].v);
        json_array_append_new(a, json_pack("{s:f, s:f, s:I, s:f, s:o}", "x_lo", p[lo].x, "x_hi",
                                           p[hi - 1].x, "count", (json_int_t)(hi - lo), "mean",
                                           mean, "se", se_json(m2, hi - lo)));
    }
    free(p);
    return a;
}

/* ---- SP-LIME ------------------------------------------------------------- */

/* docs_w: per document an object key -> W[i][key]. */
static json_t *sp_lime(const json_t *lines, const json_t *docs_w, size_t budget) {
    json_t *imp = json_object();
    size_t i, n = json_array_size(docs_w);
    json_t *w;
    json_array_foreach(docs_w, i, w) {
        const char *k;
        json_t *x;
        json_object_foreach(w, k, x) {
            json_t *s = json_object_get(imp, k);
            double prev = s ? json_real_value(s) : 0;
            json_object_set_new(imp, k, json_real(prev + json_real_value(x)));
        }
    }
    const char *k;
    json_t *x;
    json_object_foreach(imp, k, x) json_real_set(x, sqrt(json_real_value(x)));
    json_t *covered = json_object(), *picked = json_array();
    bool *used = calloc(n ? n : 1, sizeof *used);
    for (size_t b = 0; b < budget && b < n; b++) {
        double best = -1;
        size_t at = 0;
        for (i = 0; i < n; i++) {
            if (used[i]) continue;
            double gain = 0;
            json_object_foreach(json_array_get(docs_w, i), k, x)
                if (json_real_value(x) > 0 && !json_object_get(covered, k))
                    gain += json_real_value(json_object_get(imp, k));
            if (gain > best) best = gain, at = i;
        }
        used[at] = true;
        json_object_foreach(json_array_get(docs_w, at), k, x)
            if (json_real_value(x) > 0) json_object_set_new(covered, k, json_true());
        const json_t *line = json_array_get(lines, at);
        json_array_append_new(picked, json_pack("{s:O, s:O, s:f}", "id", json_object_get(line, "id"),
                                                "n", json_object_get(line, "n"), "gain", best));
    }
    free(used);
    json_decref(covered);
    json_decref(imp);
    return picked;
}

/* ---- the summary --------------------------------------------------------- */

typedef struct agg {
    const xa_agg_opts *o;
    classes cls;
    table overall;
    labels lab;
    json_t *errors;         /* code -> count */
    json_t *ok_lines;       /* the lines with a result, in order */
    json_t *docs_rows;      /* per ok line: its overall row's values */
    json_t *docs_w;         /* per ok line: key -> sum |value| */
    size_t n_done, n_errors;
    bool text;
} agg;

static void add_error(agg *a, const json_t *line) {
    a->n_errors++;
    const char *code = json_string_value(json_object_get(json_object_get(line, "error"), "code"));
    if (code == NULL) code = "internal_error";
    json_t *c = json_object_get(a->errors, code);
    json_object_set_new(a->errors, code, json_integer(c ? json_integer_value(c) + 1 : 1));
}

static void add_labels(agg *a, const json_t *line, const json_t *features, const row *r,
                       size_t doc) {
    const char *label = json_string_value(json_object_get(line, "label"));
    int64_t pred = xa_line_predicted(line);
    if (label == NULL || pred < 0) return;
    char tb[256], pb[256];
    const char *t = label_name(&a->cls, label, tb, sizeof tb);
    const char *p = class_name(&a->cls, pred, pb, sizeof pb);
    json_array_append_new(a->lab.pairs, json_pack("[s, s]", t, p));
    if (strcmp(t, p) == 0) return;
    json_array_append(a->lab.missed, json_object_get(line, "id"));
    add_row(&a->lab.missed_tokens, features, r, doc, a->o->casefold);
}

static void add_line(agg *a, const json_t *line, size_t doc) {
    const json_t *res = json_object_get(line, "result");
    row rows[256];
    size_t k = json_is_object(res) ? result_rows(res, rows, 256) : 0;
    if (k == 0) {
        if (json_object_get(line, "error")) add_error(a, line);
        return;
    }
    a->n_done++;
    const json_t *features = json_object_get(res, "features");
    if (json_object_get(res, "tokens")) a->text = true;
    for (size_t t = 0; t < k; t++) {          /* names first: labels may need them */
        table *ct = class_table(&a->cls, rows[t].target, rows[t].name);
        if (ct) add_row(ct, features, &rows[t], doc, a->o->casefold);
    }
    const row *r = &rows[overall_row(rows, k, xa_line_predicted(line))];
    add_row(&a->overall, features, r, doc, a->o->casefold);
    add_labels(a, line, features, r, doc);
    json_array_append(a->ok_lines, (json_t *)line);
    json_array_append(a->docs_rows, (json_t *)r->values);
    json_t *w = json_object();
    char key[512];
    for (size_t i = 0; i < json_array_size(r->values); i++) {
        key_of(features, i, a->o->casefold, key, sizeof key);
        json_t *s = json_object_get(w, key);
        double v = fabs(json_number_value(json_array_get(r->values, i)));
        json_object_set_new(w, key, json_real((s ? json_real_value(s) : 0) + v));
    }
    json_array_append_new(a->docs_w, w);
}

static json_t *classes_json(agg *a) {
    json_t *arr = json_array();
    for (size_t k = 0; k < a->cls.n; k++) {
        if (a->cls.tables[k].rows == 0) continue;
        char buf[256];
        json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:o}", "index", (json_int_t)k,
                                             "name", class_name(&a->cls, (int64_t)k, buf, sizeof buf),
                                             "n_rows", (json_int_t)a->cls.tables[k].rows, "top",
                                             table_top(&a->cls.tables[k], a->o)));
    }
    return arr;
}

/* The overall table; tabular adds the bins of each top feature. */
static json_t *overall_json(agg *a) {
    json_t *top = table_top(&a->overall, a->o);
    if (!a->text) {
        size_t i;
        json_t *e;
        json_array_foreach(top, i, e) {
            json_t *at = json_object_get(a->overall.index, json_string_value(json_object_get(e, "name")));
            size_t j = (size_t)json_integer_value(at);   /* tabular: key order = column order */
            json_object_set_new(e, "bins", bins_json(a->ok_lines, a->docs_rows, j, a->o->bins));
        }
    }
    return json_pack("{s:I, s:o}", "n_rows", (json_int_t)a->overall.rows, "top", top);
}

json_t *xa_aggregate(const json_t *lines, size_t n_inputs, const xa_agg_opts *opts) {
    xa_agg_opts o = *opts;
    if (o.top == 0) o.top = 20;
    if (o.min_count == 0) o.min_count = 1;
    if (o.bins == 0) o.bins = 5;
    agg a = {.o = &o, .errors = json_object(), .ok_lines = json_array(), .docs_rows = json_array(),
             .docs_w = json_array()};
    a.cls.names = json_object();
    table_init(&a.overall);
    a.lab = (labels){json_array(), json_array(), json_array(), {0}};
    table_init(&a.lab.missed_tokens);
    for (size_t i = 0; i < json_array_size(lines); i++) add_line(&a, json_array_get(lines, i), i);
    json_t *s = json_pack("{s:I, s:I, s:I, s:O, s:s, s:o, s:o}", "n_inputs", (json_int_t)n_inputs,
                          "n_done", (json_int_t)a.n_done, "n_errors", (json_int_t)a.n_errors,
                          "errors", a.errors, "kind", a.text ? "text" : "tabular", "classes",
                          classes_json(&a), "overall", overall_json(&a));
    json_object_set_new(s, "labels", labels_json(&a.lab, &a.cls, &o));
    json_object_set_new(s, "pick", o.pick ? sp_lime(a.ok_lines, a.docs_w, o.pick) : json_array());
    json_object_set_new(s, "options", json_pack("{s:I, s:I, s:b, s:I}", "top", (json_int_t)o.top,
                                                "min_count", (json_int_t)o.min_count, "casefold",
                                                o.casefold, "pick", (json_int_t)o.pick));
    for (size_t k = 0; k < a.cls.n; k++) table_free(&a.cls.tables[k]);
    free(a.cls.tables);
    json_decref(a.cls.names);
    table_free(&a.overall);
    table_free(&a.lab.missed_tokens);
    json_decref(a.lab.order);
    json_decref(a.lab.pairs);
    json_decref(a.lab.missed);
    json_decref(a.errors);
    json_decref(a.ok_lines);
    json_decref(a.docs_rows);
    json_decref(a.docs_w);
    return s;
}
