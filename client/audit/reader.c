/* reader.c — an audit's input file as documents: JSON Lines (libjansson),
 * CSV and TSV as RFC 4180 with a header (libcsv: quoted fields may hold
 * delimiters, quotes and newlines), or plain text, one document a line.
 *
 * Every document gets a position n (1-based line number; CSV: record number
 * after the header) and an id: the one it gives, else n. A line or record
 * that cannot be read (bad JSON, a wrong field count, a non-number in a
 * feature column, no text) is not a failure of the read: the document
 * carries `error` and the audit records it under its id and goes on. Blank
 * lines are skipped (they still count for n).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <csv.h>
#include "audit.h"
#include "../cli/cli.h"

uint64_t xa_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *fmt(const char *f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return strdup(buf);
}

static xa_doc *add_doc(xa_docs *d, size_t *cap, size_t n) {
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        xa_doc *v = realloc(d->v, *cap * sizeof *v);
        if (v == NULL) return NULL;
        d->v = v;
    }
    xa_doc *doc = &d->v[d->n++];
    memset(doc, 0, sizeof *doc);
    doc->n = n;
    return doc;
}

/* Sets the id (a string or an integer value, or n when absent) and its key. */
static void set_id(xa_doc *doc, json_t *id) {
    if (id == NULL || !(json_is_string(id) || json_is_integer(id))) {
        if (id != NULL && !doc->error) doc->error = strdup("`id` must be a string or an integer");
        id = json_integer((json_int_t)doc->n);
    } else {
        json_incref(id);
    }
    doc->id = id;
    doc->key = json_is_string(id) ? strdup(json_string_value(id))
                                  : fmt("%lld", (long long)json_integer_value(id));
}

/* ---- JSON Lines ---------------------------------------------------------- */

static char *label_string(const json_t *l) {
    if (json_is_string(l)) return strdup(json_string_value(l));
    if (json_is_integer(l)) return fmt("%lld", (long long)json_integer_value(l));
    return NULL;
}

static void jsonl_payload(xa_doc *doc, json_t *o, bool tabular) {
    json_t *text = json_object_get(o, "text"), *row = json_object_get(o, "row");
    if (!tabular && json_is_string(text)) {
        doc->text_len = json_string_length(text);
        doc->text = dup_n(json_string_value(text), doc->text_len);
    } else if (tabular && json_is_array(row) && json_array_size(row) > 0) {
        doc->n_cols = json_array_size(row);
        doc->row = malloc(doc->n_cols * sizeof *doc->row);
        for (size_t j = 0; j < doc->n_cols; j++) {
            json_t *x = json_array_get(row, j);
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                doc->error = fmt("`row[%zu]` is not a finite number", j);
                return;
            }
            doc->row[j] = json_number_value(x);
        }
    } else {
        doc->error = strdup(tabular ? "no `row` (a non-empty array of numbers)"
                                    : "no `text` (a string)");
    }
}

/* The next line of buf at *at (without its "\n" or "\r\n"); false at
 * the end. */
static bool next_line(const char *buf, size_t len, size_t *at, const char **line, size_t *l) {
    if (*at >= len) return false;
    const char *nl = memchr(buf + *at, '\n', len - *at);
    size_t end = nl ? (size_t)(nl - buf) : len;
    *line = buf + *at;
    *l = end - *at;
    *at = end + 1;
    if (*l && (*line)[*l - 1] == '\r') (*l)--;
    return true;
}

static bool read_jsonl(const char *buf, size_t len, bool tabular, xa_docs *d) {
    size_t cap = 0, n = 0, at = 0, l;
    const char *line;
    while (next_line(buf, len, &at, &line, &l)) {
        n++;
        size_t blank = 0;
        while (blank < l && isspace((unsigned char)line[blank])) blank++;
        if (blank == l) continue;
        xa_doc *doc = add_doc(d, &cap, n);
        if (doc == NULL) return false;
        json_error_t je;
        json_t *o = json_loadb(line, l, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
            doc->error = o ? strdup("the line is not a JSON object")
                           : fmt("bad JSON at column %d: %s", je.column, je.text);
            set_id(doc, NULL);
        } else {
            set_id(doc, json_object_get(o, "id"));
            if (!doc->error) jsonl_payload(doc, o, tabular);
            doc->label = label_string(json_object_get(o, "label"));
        }
        json_decref(o);
    }
    return true;
}

/* ---- CSV / TSV ----------------------------------------------------------- */

typedef struct csv_ctx {
    char **f;               /* fields of the record being parsed */
    size_t nf, cap;
    char **head;            /* the header */
    size_t n_head;
    size_t records;
    xa_docs *d;
    size_t doc_cap;
    const xa_reader_opts *o;
    int id, text, label;    /* column indexes, -1 absent */
    int *feat;              /* tabular: feature column indexes */
    size_t n_feat;
    char msg[256];          /* a header problem: the whole read fails */
} csv_ctx;

static void on_field(void *s, size_t len, void *data) {
    csv_ctx *c = data;
    if (c->nf == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->f = realloc(c->f, c->cap * sizeof *c->f);
    }
    c->f[c->nf++] = dup_n(s ? s : "", s ? len : 0);
}

static int column(const csv_ctx *c, const char *name) {
    for (size_t j = 0; j < c->n_head; j++)
        if (strcmp(c->head[j], name) == 0) return (int)j;
    return -1;
}

/* Resolves the named columns; a column the user named must exist. */
static bool resolve_columns(csv_ctx *c) {
    const xa_reader_opts *o = c->o;
    c->id = column(c, o->id_col ? o->id_col : "id");
    c->text = column(c, o->text_col ? o->text_col : "text");
    c->label = column(c, o->label_col ? o->label_col : "label");
    const char *missing = o->id_col && c->id < 0 ? o->id_col
                          : o->text_col && c->text < 0 ? o->text_col
                          : o->label_col && c->label < 0 ? o->label_col : NULL;
    if (missing) {
        snprintf(c->msg, sizeof c->msg, "the header has no column \"%s\"", missing);
        return false;
    }
    if (!o->tabular && c->text < 0) {
        snprintf(c->msg, sizeof c->msg, "no text column (name it with --text-col)");
        return false;
    }
    if (!o->tabular) return true;
    c->feat = calloc(c->n_head, sizeof *c->feat);
    for (size_t j = 0; j < c->n_head; j++) {
        bool named = false;
        if (o->feature_cols) {
            const char *p = o->feature_cols;
            size_t l = strlen(c->head[j]);
            while (*p && !named) {
                size_t k = strcspn(p, ",");
                named = k == l && strncmp(p, c->head[j], l) == 0;
                p += k + (p[k] == ',');
            }
        } else {
            named = (int)j != c->id && (int)j != c->label && (int)j != c->text;
        }
        if (named) c->feat[c->n_feat++] = (int)j;
    }
    if (c->n_feat == 0) snprintf(c->msg, sizeof c->msg, "no feature columns");
    c->d->columns = calloc(c->n_feat ? c->n_feat : 1, sizeof *c->d->columns);
    for (size_t k = 0; k < c->n_feat; k++) c->d->columns[k] = strdup(c->head[c->feat[k]]);
    c->d->n_columns = c->n_feat;
    return c->n_feat > 0;
}

static void csv_payload(csv_ctx *c, xa_doc *doc) {
    if (!c->o->tabular) {
        doc->text = strdup(c->f[c->text]);
        doc->text_len = strlen(doc->text);
        return;
    }
    doc->n_cols = c->n_feat;
    doc->row = malloc(c->n_feat * sizeof *doc->row);
    for (size_t k = 0; k < c->n_feat; k++) {
        const char *s = c->f[c->feat[k]];
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        while (*end == ' ') end++;
        if (end == s || *end || errno || !isfinite(x)) {
            doc->error = fmt("column \"%s\": \"%.40s\" is not a number", c->head[c->feat[k]], s);
            return;
        }
        doc->row[k] = x;
    }
}

static void on_record(int term, void *data) {
    (void)term;
    csv_ctx *c = data;
    if (c->head == NULL) {
        c->head = c->f;
        c->n_head = c->nf;
        c->f = NULL;
        c->nf = c->cap = 0;
        if (!resolve_columns(c) && !c->msg[0]) snprintf(c->msg, sizeof c->msg, "bad header");
        return;
    }
    c->records++;
    bool blank = c->nf == 1 && c->f[0][0] == '\0';
    xa_doc *doc = blank || c->msg[0] ? NULL : add_doc(c->d, &c->doc_cap, c->records);
    if (doc) {
        bool whole = c->nf == c->n_head;
        if (whole && c->id >= 0 && c->f[c->id][0]) {
            json_t *id = json_string(c->f[c->id]);
            set_id(doc, id);
            json_decref(id);
        } else {
            set_id(doc, NULL);
        }
        if (!whole) doc->error = fmt("%zu fields, the header has %zu", c->nf, c->n_head);
        else csv_payload(c, doc);
        if (whole && c->label >= 0 && c->f[c->label][0]) doc->label = strdup(c->f[c->label]);
    }
    for (size_t j = 0; j < c->nf; j++) free(c->f[j]);
    c->nf = 0;
}

static bool read_csv(const char *buf, size_t len, unsigned char delim, const xa_reader_opts *o,
                     xa_docs *d, char *msg, size_t msg_len) {
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        snprintf(msg, msg_len, "out of memory");
        return false;
    }
    csv_set_delim(&p, delim);
    csv_ctx c = {.d = d, .o = o, .id = -1, .text = -1, .label = -1};
    bool ok = csv_parse(&p, buf, len, on_field, on_record, &c) == len &&
              csv_fini(&p, on_field, on_record, &c) == 0;
    if (!ok) snprintf(msg, msg_len, "CSV: %s", csv_strerror(csv_error(&p)));
    else if (c.head == NULL) snprintf(msg, msg_len, "no header line");
    else if (c.msg[0]) snprintf(msg, msg_len, "%s", c.msg);
    ok = ok && c.head != NULL && !c.msg[0];
    csv_free(&p);
    for (size_t j = 0; j < c.nf; j++) free(c.f[j]);
    for (size_t j = 0; j < c.n_head; j++) free(c.head[j]);
    free(c.f);
    free(c.head);
    free(c.feat);
    return ok;
}

/* ---- plain text ---------------------------------------------------------- */

static bool read_lines(const char *buf, size_t len, xa_docs *d) {
    size_t cap = 0, n = 0, at = 0, l;
    const char *line;
    while (next_line(buf, len, &at, &line, &l)) {
        n++;
        if (l == 0) continue;
        xa_doc *doc = add_doc(d, &cap, n);
        if (doc == NULL) return false;
        set_id(doc, NULL);
        doc->text = dup_n(line, l);
        doc->text_len = l;
    }
    return true;
}

/* ---- the file ------------------------------------------------------------ */

static xa_format format_of(const char *path) {
    const char *dot = strrchr(path, '.');
    if (dot == NULL) return XA_FMT_TEXT;
    if (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".json") == 0 || strcmp(dot, ".ndjson") == 0)
        return XA_FMT_JSONL;
    if (strcmp(dot, ".csv") == 0) return XA_FMT_CSV;
    if (strcmp(dot, ".tsv") == 0) return XA_FMT_TSV;
    return XA_FMT_TEXT;
}

/* Marks every repeated id as an error of its later document. */
static void mark_duplicates(xa_docs *d) {
    json_t *seen = json_object();
    for (size_t i = 0; i < d->n; i++) {
        xa_doc *doc = &d->v[i];
        if (json_object_get(seen, doc->key)) {
            if (!doc->error) doc->error = fmt("id \"%.100s\" repeats an earlier one", doc->key);
            /* the error line needs an id of its own: the position */
            free(doc->key);
            json_decref(doc->id);
            doc->key = fmt("%s#%zu", "dup", doc->n);
            doc->id = json_string(doc->key);
        }
        json_object_set_new(seen, doc->key, json_true());
    }
    json_decref(seen);
}

bool xa_read_input(const char *path, const xa_reader_opts *o, xa_docs *out, char *msg,
                   size_t msg_len) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *buf = cli_read_file(path, &len, msg, msg_len);
    if (buf == NULL) return false;
    xa_format f = o->format == XA_FMT_AUTO ? format_of(path) : o->format;
    bool ok;
    if (f == XA_FMT_JSONL) ok = read_jsonl(buf, len, o->tabular, out);
    else if (f == XA_FMT_CSV || f == XA_FMT_TSV)
        ok = read_csv(buf, len, f == XA_FMT_TSV ? '\t' : ',', o, out, msg, msg_len);
    else if (o->tabular) {
        snprintf(msg, msg_len, "a tabular model needs JSON Lines or CSV/TSV input");
        ok = false;
    } else ok = read_lines(buf, len, out);
    free(buf);
    if (ok) mark_duplicates(out);
    else xa_docs_free(out);
    return ok;
}

void xa_docs_free(xa_docs *d) {
    for (size_t i = 0; i < d->n; i++) {
        xa_doc *doc = &d->v[i];
        json_decref(doc->id);
        free(doc->key);
        free(doc->text);
        free(doc->row);
        free(doc->label);
        free(doc->error);
    }
    for (size_t k = 0; k < d->n_columns; k++) free(d->columns[k]);
    free(d->columns);
    free(d->v);
    memset(d, 0, sizeof *d);
}
