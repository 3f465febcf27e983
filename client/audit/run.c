/* run.c — the `xai audit` command: explain every document of an input file
 * through xaid and write DIR/results.jsonl, DIR/summary.json and
 * DIR/report.html (docs/AUDIT.md).
 *
 *   xai audit --model M [--method K] --input FILE --out DIR [--format F]
 *       [--id-col C] [--text-col C] [--label-col C] [--feature-cols A,B,...]
 *       [--target T|T1,T2,...|all] [--seed S] [--param k=v]... [--space k=v]...
 *       [--shard i/n] [--shard-by id|line] [--window N] [--retries N]
 *       [--retry-errors] [--job-timeout-ms N] [--top N] [--min-count N]
 *       [--casefold] [--pick B] [--faithfulness] [--quiet]
 *   xai audit merge --out DIR SHARD_DIR...
 *
 * The steps: ask the daemon for the model's kind and classes; read the
 * input; keep this shard's slice (FNV-1a of the id mod n, or with
 * --shard-by line the line number's); skip every id already in
 * DIR/results.jsonl (but its error lines with --retry-errors); record malformed documents as errors; run
 * the rest through xai_client_explain_many (the window, busy back-off and
 * model_unavailable retries live there), appending one line per id as its
 * job ends; then aggregate the whole file.
 *
 * --faithfulness adds a second pass (faith.c): a deletion score of every
 * explanation on the same model, into DIR/faithfulness.jsonl.
 *
 * Determinism: document i is explained with seed = the first draw of
 * xai_rng stream hash(id) of the audit's seed, so its result depends on
 * the audit seed and its id only, never on the window or the order jobs end.
 *
 * Ctrl-C (window.c): the first SIGINT stops submitting, cancels the jobs in flight in
 * the daemon and exits 130 with DIR resumable (every finished line is in
 * results.jsonl; no summary is written). A SIGKILL loses the jobs in flight
 * only (their daemon jobs run on and their results are dropped).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "audit.h"
#include "xai/rng.h"
#include "../cli/cli.h"

typedef struct audit_args {
    const char *model, *method, *input, *out, *target, *shard;
    xa_reader_opts rd;
    xai_value *params, *space;
    xai_value *target_map;    /* {"target": --target as explain parses it}, or NULL */
    uint64_t seed;
    long window, retries, job_timeout_ms;
    xa_agg_opts agg;
    bool quiet, faithfulness;
    bool retry_errors;        /* redo ids whose line is an error (not bad_format) */
    bool shard_by_line;       /* --shard-by line: slice by position, not by id */
} audit_args;

typedef struct run_ctx {
    const audit_args *a;
    xa_docs *docs;
    size_t *doc_of;           /* request index -> document index */
    xa_results *res;
    size_t before, total;     /* done in earlier runs; the shard's inputs */
    bool write_failed;
    char msg[512];
} run_ctx;

static void usage(FILE *f) {
    fputs("usage: xai audit --model M [--method occlusion] --input FILE --out DIR\n"
          "         [--format jsonl|csv|tsv|text] [--id-col C] [--text-col C] [--label-col C]\n"
          "         [--feature-cols A,B,...] [--target T|T1,T2,...|all] [--seed S] [--param k=v]...\n"
          "         [--space k=v]... [--shard i/n] [--shard-by id|line] [--window N]\n"
          "         [--retries N] [--retry-errors] [--job-timeout-ms N] [--top N]\n"
          "         [--min-count N] [--casefold] [--pick B] [--faithfulness] [--quiet]\n"
          "       xai audit merge --out DIR SHARD_DIR...\n",
          f);
}

static int usage_error(const char *m) {
    fprintf(stderr, "xai audit: %s\n", m);
    usage(stderr);
    return CLI_USAGE;
}

static bool parse_size(const char *s, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0) return false;
    *out = v;
    return true;
}

static bool set_format(audit_args *a, const char *v) {
    static const char *const names[] = {"jsonl", "csv", "tsv", "text"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            a->rd.format = (xa_format)(i + 1);
            return true;
        }
    return false;
}

/* A string-valued option: stores v and returns true when o is one. */
static bool string_option(audit_args *a, const char *o, const char *v) {
    const char **str[] = {&a->model, &a->method, &a->input, &a->out, &a->shard,
                          &a->rd.id_col, &a->rd.text_col, &a->rd.label_col, &a->rd.feature_cols};
    static const char *const str_names[] = {"--model", "--method", "--input", "--out", "--shard",
                                            "--id-col", "--text-col", "--label-col",
                                            "--feature-cols"};
    for (size_t k = 0; k < sizeof str / sizeof *str; k++)
        if (strcmp(o, str_names[k]) == 0) {
            *str[k] = v;
            return true;
        }
    return false;
}

/* A non-negative integer option; false with msg when v is not one or o is
 * no such option. */
static bool number_option(audit_args *a, const char *o, const char *v, char *msg, size_t len) {
    long n = 0;
    if (!parse_size(v, &n)) {
        snprintf(msg, len, "%s needs a non-negative integer, got \"%s\"", o, v);
        return false;
    }
    if (strcmp(o, "--seed") == 0) a->seed = (uint64_t)n;
    else if (strcmp(o, "--window") == 0) a->window = n;
    else if (strcmp(o, "--retries") == 0) a->retries = n;
    else if (strcmp(o, "--job-timeout-ms") == 0) a->job_timeout_ms = n;
    else if (strcmp(o, "--top") == 0) a->agg.top = (size_t)n;
    else if (strcmp(o, "--min-count") == 0) a->agg.min_count = (size_t)n;
    else if (strcmp(o, "--pick") == 0) a->agg.pick = (size_t)n;
    else {
        snprintf(msg, len, "unknown option %s", o);
        return false;
    }
    return true;
}

/* An option whose value is parsed: --target, --param, --space, --shard-by,
 * --format, else a number. false with msg. */
static bool value_option(audit_args *a, const char *o, const char *v, char *msg, size_t len) {
    if (strcmp(o, "--target") == 0) {
        a->target = v;
        return cli_add_target(&a->target_map, v, msg, len);
    }
    if (strcmp(o, "--param") == 0) return cli_add_option(&a->params, v, msg, len);
    if (strcmp(o, "--space") == 0) return cli_add_option(&a->space, v, msg, len);
    if (strcmp(o, "--shard-by") == 0) {
        a->shard_by_line = strcmp(v, "line") == 0;
        if (a->shard_by_line || strcmp(v, "id") == 0) return true;
        snprintf(msg, len, "--shard-by: id or line, not \"%s\"", v);
        return false;
    }
    if (strcmp(o, "--format") == 0) {
        if (set_format(a, v)) return true;
        snprintf(msg, len, "--format: jsonl, csv, tsv or text, not \"%s\"", v);
        return false;
    }
    return number_option(a, o, v, msg, len);
}

/* One option at argv[*i] (advancing *i past its value); false with msg. */
static bool audit_option(audit_args *a, int argc, char **argv, int *i, char *msg, size_t len) {
    const char *o = argv[*i];
    if (strcmp(o, "--casefold") == 0) return a->agg.casefold = true;
    if (strcmp(o, "--quiet") == 0) return a->quiet = true;
    if (strcmp(o, "--faithfulness") == 0) return a->faithfulness = true;
    if (strcmp(o, "--retry-errors") == 0) return a->retry_errors = true;
    if (*i + 1 >= argc) {
        snprintf(msg, len, "%s needs a value", o);
        return false;
    }
    const char *v = argv[++*i];
    return string_option(a, o, v) || value_option(a, o, v, msg, len);
}

/* "i/n" with 0 <= i < n. */
static bool parse_shard(const char *s, unsigned long *i, unsigned long *n) {
    char *end;
    *i = strtoul(s, &end, 10);
    if (end == s || *end != '/') return false;
    const char *p = end + 1;
    *n = strtoul(p, &end, 10);
    return end != p && *end == '\0' && *n > 0 && *i < *n;
}

/* Whether document d is in shard si of sn: FNV-1a(id) mod sn, or with
 * --shard-by line its position: (n - 1) mod sn. */
static bool doc_in_shard(const audit_args *a, const xa_doc *d, unsigned long si, unsigned long sn) {
    uint64_t h = a->shard_by_line ? (uint64_t)(d->n - 1) : xa_hash(d->key);
    return h % sn == si;
}

/* ---- the model ----------------------------------------------------------- */

/* The daemon's entry for the model (kind, classes), new reference. */
static json_t *model_info(xai_client *c, const char *name, char *msg, size_t len) {
    xai_value *r = NULL;
    xai_error e;
    if (xai_client_models(c, &r, &e) != XAI_OK) {
        snprintf(msg, len, "%s: %s", xai_errcode(e.code), e.message);
        return NULL;
    }
    char *js = xai_value_to_json(r, false);
    xai_value_free(r);
    json_t *all = js ? json_loads(js, 0, NULL) : NULL;
    xai_free(js);
    json_t *found = NULL, *m;
    size_t i;
    json_array_foreach(json_object_get(all, "models"), i, m) {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && strcmp(n, name) == 0) found = json_incref(m);
    }
    json_decref(all);
    if (found == NULL) snprintf(msg, len, "unknown_model: xaid has no model \"%s\"", name);
    return found;
}

/* ---- settings: DIR/audit.json --------------------------------------------- */

static json_t *value_json(const xai_value *v) {
    if (v == NULL) return json_object();
    char *js = xai_value_to_json(v, false);
    json_t *j = js ? json_loads(js, 0, NULL) : NULL;
    xai_free(js);
    return j ? j : json_object();
}

static json_t *make_meta(const audit_args *a, const json_t *model, size_t n_inputs) {
    const char *kind = json_string_value(json_object_get(model, "kind"));
    json_t *m = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o, s:s, s:o, s:I, s:s}", "model", a->model,
                          "method", a->method, "params", value_json(a->params), "space",
                          value_json(a->space), "seed", (json_int_t)a->seed, "target",
                          a->target ? json_string(a->target) : json_null(), "input", a->input,
                          "shard", a->shard ? json_string(a->shard) : json_null(), "n_inputs",
                          (json_int_t)n_inputs, "kind", kind ? kind : "text");
    json_object_set_new(m, "shard_by", a->shard ? json_string(a->shard_by_line ? "line" : "id")
                                                : json_null());
    json_t *cl = json_object_get(model, "classes");
    json_object_set_new(m, "classes", cl ? json_incref(cl) : json_null());
    json_object_set_new(m, "aggregate",
                        json_pack("{s:I, s:I, s:b, s:I}", "top", (json_int_t)a->agg.top,
                                  "min_count", (json_int_t)a->agg.min_count, "casefold",
                                  a->agg.casefold, "pick", (json_int_t)a->agg.pick));
    return m;
}

/* A resumed DIR must hold the same audit: same model, method, options,
 * seed, target, shard and input. */
static bool same_audit(const json_t *old, const json_t *now, char *msg, size_t len) {
    static const char *const keys[] = {"model", "method", "params", "space", "seed", "target",
                                       "shard", "shard_by", "input"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (!json_equal(json_object_get(old, keys[k]), json_object_get(now, keys[k])) &&
            !(json_is_null(json_object_get(old, keys[k])) && json_is_null(json_object_get(now, keys[k])))) {
            snprintf(msg, len, "the output directory holds an audit with another `%s`; use a new --out",
                     keys[k]);
            return false;
        }
    return true;
}

/* ---- lines ---------------------------------------------------------------- */

static json_t *line_head(const xa_doc *d) {
    json_t *l = json_pack("{s:O, s:I}", "id", d->id, "n", (json_int_t)d->n);
    if (d->label) json_object_set_new(l, "label", json_string(d->label));
    if (d->row) {
        json_t *r = json_array();
        for (size_t j = 0; j < d->n_cols; j++) json_array_append_new(r, json_real(d->row[j]));
        json_object_set_new(l, "row", r);
    }
    return l;
}

static json_t *error_line(const xa_doc *d, const char *code, const char *message) {
    json_t *l = line_head(d);
    json_object_set_new(l, "error", json_pack("{s:s, s:s}", "code", code, "message", message));
    return l;
}

/* The predicted class: the default target is it; with "all", argmax fx. */
static void set_predicted(json_t *line, const json_t *res, const char *target) {
    const json_t *t = NULL, *name = NULL;
    if (target == NULL) {
        t = json_object_get(res, "target");
        name = json_object_get(res, "target_name");
    } else if (strcmp(target, "all") == 0 && json_is_array(json_object_get(res, "targets"))) {
        const json_t *fx = json_object_get(res, "fx");
        size_t best = 0;
        for (size_t k = 1; k < json_array_size(fx); k++)
            if (json_number_value(json_array_get(fx, k)) > json_number_value(json_array_get(fx, best)))
                best = k;
        t = json_array_get(json_object_get(res, "targets"), best);
        name = json_array_get(json_object_get(res, "target_names"), best);
    }
    if (json_is_integer(t)) json_object_set(line, "predicted", (json_t *)t);
    if (json_is_string(name)) json_object_set(line, "predicted_name", (json_t *)name);
}

static json_t *result_line(const xa_doc *d, const xai_value *result, const char *target) {
    char *js = xai_value_to_json(result, false);
    json_t *res = js ? json_loads(js, 0, NULL) : NULL;
    xai_free(js);
    if (res == NULL) return error_line(d, "out_of_memory", "result could not be stored");
    json_t *l = line_head(d);
    set_predicted(l, res, target);
    json_object_set_new(l, "result", res);
    return l;
}

static int on_done(void *ctx, size_t i, xai_status st, const xai_value *result, const xai_error *e) {
    run_ctx *r = ctx;
    const xa_doc *d = &r->docs->v[r->doc_of[i]];
    json_t *l = st == XAI_OK ? result_line(d, result, r->a->target)
                             : error_line(d, xai_errcode(st), e ? e->message : "");
    bool ok = xa_results_append(r->res, l, r->msg, sizeof r->msg);
    json_decref(l);
    if (!ok) r->write_failed = true;
    return ok ? 0 : 1;
}

/* ---- the run --------------------------------------------------------------- */

static uint64_t doc_seed(uint64_t seed, const char *key) {
    xai_rng g;
    xai_rng_seed(&g, seed, xa_hash(key));
    return xai_rng_next(&g) >> 1;       /* the wire's seed is a non-negative int */
}

/* One request per document still to do; params carry its seed and target. */
static size_t build_requests(const audit_args *a, xa_docs *docs, const bool *todo,
                             xai_job_request *rq, xai_value **params, size_t *doc_of) {
    size_t m = 0;
    for (size_t i = 0; i < docs->n; i++) {
        if (!todo[i]) continue;
        const xa_doc *d = &docs->v[i];
        xai_value *p = a->params ? xai_value_clone(a->params) : xai_value_map();
        xai_value_set_int(p, "seed", (int64_t)doc_seed(a->seed, d->key));
        if (a->target_map)
            xai_value_set(p, "target", xai_value_clone(xai_value_get(a->target_map, "target")));
        params[m] = p;
        rq[m] = (xai_job_request){.model = a->model, .method = a->method, .text = d->text,
                                  .text_len = d->text_len, .row = d->row, .n_cols = d->n_cols,
                                  .params = p, .space = a->space};
        if (d->text && d->text_len == 0) rq[m].text = "";
        doc_of[m++] = i;
    }
    return m;
}

/* Marks this shard's documents not yet in results.jsonl; writes the
 * malformed ones' error lines. Returns how many need a job. */
static size_t plan(run_ctx *r, unsigned long si, unsigned long sn, bool *todo, size_t *in_shard,
                   size_t *before) {
    size_t jobs = 0;
    *in_shard = *before = 0;
    for (size_t i = 0; i < r->docs->n; i++) {
        const xa_doc *d = &r->docs->v[i];
        todo[i] = false;
        if (!doc_in_shard(r->a, d, si, sn)) continue;
        (*in_shard)++;
        if (xa_results_done(r->res, d->key, r->a->retry_errors)) {
            (*before)++;
            continue;
        }
        if (d->error) {
            json_t *l = error_line(d, "bad_format", d->error);
            r->write_failed |= !xa_results_append(r->res, l, r->msg, sizeof r->msg);
            json_decref(l);
            (*before)++;
            continue;
        }
        todo[i] = true;
        jobs++;
    }
    return jobs;
}

static bool prepare_dir(const audit_args *a, json_t *meta, char *msg, size_t len) {
    if (mkdir(a->out, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, len, "cannot create %s: %s", a->out, strerror(errno));
        return false;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.json", a->out);
    if (access(path, F_OK) == 0) {
        json_t *old = xa_meta_load(a->out, msg, len);
        bool same = old && same_audit(old, meta, msg, len);
        json_decref(old);
        if (!same) return false;
    }
    return xa_write_json(a->out, "audit.json", meta, msg, len);
}

static xa_many many_opts(const audit_args *a) {
    /* --retries 0 means none; not given (-1): libxaiclient's default */
    int retries = a->retries < 0 ? 0 : a->retries == 0 ? -1 : (int)a->retries;
    return (xa_many){.window = (size_t)a->window, .retries = retries,
                     .job_timeout_ms = (int)a->job_timeout_ms, .quiet = a->quiet,
                     .retry_errors = a->retry_errors};
}

/* Runs the jobs and appends their lines; the exit code. */
static int run_jobs(xai_client *c, run_ctx *r, bool *todo, size_t jobs) {
    xai_job_request *rq = calloc(jobs ? jobs : 1, sizeof *rq);
    xai_value **params = calloc(jobs ? jobs : 1, sizeof *params);
    r->doc_of = calloc(jobs ? jobs : 1, sizeof *r->doc_of);
    size_t m = build_requests(r->a, r->docs, todo, rq, params, r->doc_of);
    xa_many mo = many_opts(r->a);
    xai_error e = {XAI_OK, ""};
    bool stopped = false;
    xai_status st = xa_run_many(c, rq, m, &mo, r->before, r->total, on_done, r, &stopped, &e);
    for (size_t k = 0; k < m; k++) xai_value_free(params[k]);
    free(params);
    free(rq);
    if (r->write_failed) return fprintf(stderr, "xai audit: %s\n", r->msg), CLI_FAIL;
    if (st == XAI_ERR_CANCELLED && stopped) {
        fprintf(stderr, "xai audit: interrupted; jobs in flight cancelled; re-run the same command "
                        "to resume (%s/results.jsonl)\n", r->a->out);
        return 130;
    }
    if (st != XAI_OK) return fprintf(stderr, "xai audit: %s: %s\n", xai_errcode(st), e.message), CLI_FAIL;
    return CLI_OK;
}

static void print_top(const json_t *summary) {
    size_t i, j;
    json_t *c, *t;
    json_array_foreach(json_object_get(summary, "classes"), i, c) {
        printf("class %s (%lld rows):", json_string_value(json_object_get(c, "name")),
               (long long)json_integer_value(json_object_get(c, "n_rows")));
        json_array_foreach(json_object_get(c, "top"), j, t) {
            if (j >= 8) break;
            printf(" %s(%.3g)", json_string_value(json_object_get(t, "name")),
                   json_number_value(json_object_get(t, "mean")));
        }
        printf("\n");
    }
}

/* What the command prints: the top tokens per class, accuracy,
 * faithfulness, the counts and where the report is. */
static void print_summary(const json_t *summary, const char *out) {
    print_top(summary);
    const json_t *lab = json_object_get(summary, "labels");
    if (json_is_object(lab))
        printf("labels: accuracy %.4f (%lld of %lld)\n",
               json_number_value(json_object_get(lab, "accuracy")),
               (long long)json_integer_value(json_object_get(lab, "n_correct")),
               (long long)json_integer_value(json_object_get(lab, "n_labelled")));
    const json_t *fa = json_object_get(summary, "faithfulness");
    if (fa)
        printf("faithfulness: deletion AOPC mean %.4g (sd %.3g) over %lld documents\n",
               json_number_value(json_object_get(fa, "mean")),
               json_number_value(json_object_get(fa, "sd")),
               (long long)json_integer_value(json_object_get(fa, "n")));
    printf("%lld of %lld done, %lld errors; report: %s/report.html\n",
           (long long)json_integer_value(json_object_get(summary, "n_done")),
           (long long)json_integer_value(json_object_get(summary, "n_inputs")),
           (long long)json_integer_value(json_object_get(summary, "n_errors")), out);
}

/* The model's entry (new reference) and the input's documents, texts or
 * rows by the model's kind; NULL with msg on failure. */
static json_t *read_docs(xai_client *c, audit_args *a, xa_docs *docs, char *msg, size_t len) {
    json_t *model = model_info(c, a->model, msg, len);
    if (model == NULL) return NULL;
    const char *kind = json_string_value(json_object_get(model, "kind"));
    a->rd.tabular = kind && strcmp(kind, "text") != 0;
    if (xa_read_input(a->input, &a->rd, docs, msg, len)) return model;
    json_decref(model);
    return NULL;
}

/* Runs this shard's documents still to do (then the faithfulness pass) and
 * writes the summary and the report; the exit code, *summary on success. */
static int run_audit(xai_client *c, const audit_args *a, xa_docs *docs, const json_t *meta,
                     unsigned long si, unsigned long sn, json_t **summary, char *msg, size_t len) {
    xa_results res = {.fd = -1};
    if (!xa_results_open(a->out, "results.jsonl", &res, msg, len)) return CLI_FAIL;
    bool *todo = calloc(docs->n ? docs->n : 1, sizeof *todo);
    double t0 = xa_now();
    run_ctx r = {.a = a, .docs = docs, .res = &res};
    size_t in_shard = 0, before = 0, jobs = plan(&r, si, sn, todo, &in_shard, &before);
    r.before = before;
    r.total = in_shard;
    int rc = CLI_FAIL;
    if (r.write_failed) snprintf(msg, len, "%s", r.msg);   /* an error line of plan() */
    else rc = run_jobs(c, &r, todo, jobs);
    free(r.doc_of);
    free(todo);
    xa_results_close(&res);
    if (rc == CLI_OK && a->faithfulness) {
        xa_many mo = many_opts(a);
        rc = xa_faithfulness(c, a->model, a->out, a->space, &mo);
    }
    if (rc != CLI_OK) return rc;
    json_t *run = json_pack("{s:f, s:I, s:I}", "seconds", xa_now() - t0, "jobs", (json_int_t)jobs,
                            "resumed_from", (json_int_t)before);
    bool ok = xa_finish(a->out, meta, &a->agg, run, summary, msg, len);
    json_decref(run);
    return ok ? CLI_OK : CLI_FAIL;
}

static int audit(const char *endpoint, audit_args *a) {
    char msg[1024] = "";
    unsigned long si = 0, sn = 1;
    if (a->shard && !parse_shard(a->shard, &si, &sn)) return usage_error("--shard needs i/n with i < n");
    xai_client *c = NULL;
    xai_error e;
    if (xai_client_connect(endpoint, &c, &e) != XAI_OK) return fprintf(stderr, "xai audit: %s\n", e.message), CLI_FAIL;
    int rc = CLI_FAIL;
    xa_docs docs = {0};
    json_t *meta = NULL, *summary = NULL, *model = read_docs(c, a, &docs, msg, sizeof msg);
    if (model == NULL) goto cleanup;
    size_t in_shard = 0;
    for (size_t i = 0; i < docs.n; i++) in_shard += doc_in_shard(a, &docs.v[i], si, sn);
    meta = make_meta(a, model, in_shard);
    if (!prepare_dir(a, meta, msg, sizeof msg)) goto cleanup;
    rc = run_audit(c, a, &docs, meta, si, sn, &summary, msg, sizeof msg);
    if (rc == CLI_OK && !a->quiet) print_summary(summary, a->out);
cleanup:
    if (rc == CLI_FAIL && msg[0]) fprintf(stderr, "xai audit: %s\n", msg);
    json_decref(summary);
    json_decref(meta);
    json_decref(model);
    xa_docs_free(&docs);
    xai_client_close(c);
    return rc;
}

int xa_cmd_audit(const char *endpoint, int argc, char **argv) {
    if (argc > 0 && strcmp(argv[0], "merge") == 0) return xa_cmd_merge(argc - 1, argv + 1);
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        usage(stdout);
        return CLI_OK;
    }
    audit_args a = {.method = "occlusion", .retries = -1,
                    .agg = {.top = 20, .min_count = 1, .bins = 5}};
    char msg[512] = "";
    int rc = CLI_USAGE;
    for (int i = 0; i < argc; i++)
        if (!audit_option(&a, argc, argv, &i, msg, sizeof msg)) goto done;
    if (!a.model || !a.input || !a.out) {
        snprintf(msg, sizeof msg, "--model, --input and --out are required");
        goto done;
    }
    if (xai_value_get(a.params, "seed") || xai_value_get(a.params, "target")) {
        snprintf(msg, sizeof msg, "give the seed and target with --seed and --target");
        goto done;
    }
    rc = audit(endpoint, &a);
done:
    if (rc == CLI_USAGE) usage_error(msg);
    xai_value_free(a.params);
    xai_value_free(a.space);
    xai_value_free(a.target_map);
    return rc;
}
