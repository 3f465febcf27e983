/* kernelshap.c — the "kernelshap" method: options, the oracle on the
 * evaluator, and the result. The estimator is in kernelshap_core.c, the
 * background summarization in kernelshap_kmeans.c; docs/METHODS.md has the
 * math and the extra fields.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

static const xai_param_info params[] = {
    {"nsamples", "int", "0 = 2d + 2048, capped at 2^d - 2", ">= 0",
     "coalitions besides empty and full"},
    {"schedule", "string", "improved", "improved|shap", "the sampling schedule"},
    {"interactions", "bool", "true", "true|false", "improved schedule: fit screened three-way terms"},
    {"max_interactions", "int", "512", "[1, 512]", "at most this many three-way terms"},
    {"tol", "number", "0 (off)", "[0, 1e9]", "stop when max se / (max phi - min phi) < tol"},
    {"batch_size", "int", "0 = max(64, nsamples / 16)", ">= 0",
     "new coalitions per batch when tol > 0"},
    {"link", "string", "identity", "identity|logit", "the values are additive in link space"},
    {"background_kmeans", "int", "0 (off)", "[0, 2^20]", "summarize a tabular background to k rows"},
    {NULL, NULL, NULL, NULL, NULL}};

static xai_status read_opts(const xai_value *pm, xd_kshap_opts *o, int64_t *kmeans,
                            xai_error *err) {
    int64_t n, max_triples;
    const char *sched, *link;
    bool interactions;
    memset(o, 0, sizeof *o);
    xai_status st = xai_opt_int(pm, "nsamples", 0, 0, INT32_MAX, &n, err);
    if (st == XAI_OK) st = xai_opt_str(pm, "schedule", "improved", &sched, err);
    if (st == XAI_OK) st = xai_opt_bool(pm, "interactions", true, &interactions, err);
    if (st == XAI_OK) st = xai_opt_int(pm, "max_interactions", 512, 1, 512, &max_triples, err);
    if (st == XAI_OK) st = xai_opt_str(pm, "link", "identity", &link, err);
    if (st == XAI_OK) st = xd_shap_read_stopping(pm, &o->tol, &o->batch, err);
    if (st == XAI_OK) st = xai_opt_int(pm, "background_kmeans", 0, 0, 1 << 20, kmeans, err);
    if (st != XAI_OK) return st;
    o->nsamples = (size_t)n;
    if (strcmp(sched, "improved") != 0 && strcmp(sched, "shap") != 0)
        return xd_err(err, XAI_ERR_INVALID, "option 'schedule' must be \"improved\" or \"shap\"");
    o->shap_schedule = strcmp(sched, "shap") == 0;
    o->additive_only = !interactions;
    o->max_triples = (size_t)max_triples;
    if (strcmp(link, "identity") != 0 && strcmp(link, "logit") != 0)
        return xd_err(err, XAI_ERR_INVALID, "option 'link' must be \"identity\" or \"logit\"");
    o->link = strcmp(link, "logit") == 0 ? XD_LINK_LOGIT : XD_LINK_IDENTITY;
    return XAI_OK;
}

/* What the estimator reports besides the values (per target: k entries
 * of fx_link and triples, k the run's targets). */
typedef struct run_arg {
    const xd_kshap_opts *o;
    xd_kshap_info info;
    double fx_link;
    size_t k;
    double *fx_links;
} run_arg;

static xai_status estimate(const xd_oracle *o, size_t dv, void *arg, xd_shap_out *out,
                           xai_error *err) {
    run_arg *a = arg;
    a->k = xd_shap_k(out);
    a->fx_links = xd_try_calloc(a->k, sizeof *a->fx_links);
    a->info.triples_by_target = xd_try_calloc(a->k, sizeof *a->info.triples_by_target);
    if (a->fx_links == NULL || a->info.triples_by_target == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu targets", a->k);
    xai_status st = xd_kernelshap(o, dv, a->o, out, &a->info, err);
    a->fx_link = out->full;
    for (size_t t = 0; t < a->k; t++) a->fx_links[t] = a->k > 1 ? out->fulls[t] : out->full;
    return st;
}

/* Several targets: extra "by_target", one map per target with what differs
 * between them (fx_link, n_triples). */
static xai_status add_by_target(xai_value *m, const run_arg *a) {
    xai_value *list = xai_value_array();
    for (size_t t = 0; list && t < a->k; t++) {
        xai_value *e = xai_value_map();
        if (e == NULL || xai_value_set_float(e, "fx_link", a->fx_links[t]) ||
            xai_value_set_int(e, "n_triples", (int64_t)a->info.triples_by_target[t]) ||
            xai_value_push(list, e)) {
            xai_value_free(list);
            return XAI_ERR_NOMEM;
        }
    }
    return list ? xai_value_set(m, "by_target", list) : XAI_ERR_NOMEM;
}

static xai_status add_extra(xai_value *m, const run_arg *a) {
    const xd_kshap_opts *o = a->o;
    xai_status st = xai_value_set_str(m, "link", o->link == XD_LINK_LOGIT ? "logit" : "identity");
    if (st == XAI_OK) st = xai_value_set_str(m, "schedule", o->shap_schedule ? "shap" : "improved");
    if (st == XAI_OK) st = xai_value_set_str(m, "stderr_method", "sandwich");
    if (st == XAI_OK) st = xai_value_set_float(m, "fx_link", a->fx_link);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_full_sizes", (int64_t)a->info.n_full_sizes);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_sampled", (int64_t)a->info.n_sampled);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_draws", (int64_t)a->info.n_draws);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_triples", (int64_t)a->info.n_triples);
    if (st == XAI_OK && a->k > 1) st = add_by_target(m, a);
    if (st == XAI_OK && a->info.stderr_reason)
        st = xai_value_set_str(m, "stderr_reason", a->info.stderr_reason);
    if (st == XAI_OK && isfinite(a->info.stderr_df))
        st = xai_value_set_float(m, "stderr_df", a->info.stderr_df);
    return st;
}

/* Runs the estimator on the evaluator of `mc` and builds the result. */
static xai_status run_on(const xd_method_ctx *mc, const xd_kshap_opts *o, xai_result **out,
                         xai_error *err) {
    run_arg a = {.o = o};
    xai_status st = xd_shap_run(mc, "kernelshap", estimate, &a, out, err);
    if (st == XAI_OK && a.info.stderr_reason) {    /* no honest error: stderrs nil */
        xd_free((*out)->stderrs);
        (*out)->stderrs = NULL;
    }
    if (st == XAI_OK && add_extra((*out)->extra, &a) != XAI_OK) {
        xai_result_free(*out);
        *out = NULL;
        st = xd_err(err, XAI_ERR_NOMEM, "kernelshap: result");
    }
    xd_free(a.fx_links);
    xd_free(a.info.triples_by_target);
    return st;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    xd_kshap_opts o;
    int64_t kmeans;
    *out = NULL;
    xai_status st = read_opts(mc->params, &o, &kmeans, err);
    if (st != XAI_OK) return st;
    o.seed = mc->seed;
    if (kmeans > 0) return xd_kernelshap_run_kmeans(mc, &o, (size_t)kmeans, run_on, out, err);
    return run_on(mc, &o, out, err);
}

const xd_method xd_method_kernelshap = {"kernelshap", run, params, true};
