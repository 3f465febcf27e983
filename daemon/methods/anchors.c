/* anchors.c — the "anchors" method (Ribeiro, Singh & Guestrin, AAAI 2018):
 * the shortest rule under which the model keeps its prediction with
 * precision >= threshold at confidence 1 - delta, and its coverage.
 *
 * This file reads the options (with the presets), picks the sampler for the
 * space (anchors_text.c, anchors_tabular.c), runs the search
 * (anchors_beam.c) and writes the result: values[i] = 1 for the features of
 * the anchor (for tabular, the columns its predicates test), 0 otherwise;
 * the rule, its precision bounds, coverage, counts and examples go in
 * `extra` (docs/METHODS.md, "anchors"). Everything in `extra` is a function
 * of the seed, the input and the model's answers: timings and cache
 * counters are in the result's stats only.
 *
 * The prediction that must hold is the target class: a perturbed sample
 * counts as "held" when the argmax of the model's outputs is the target
 * (by default the argmax of f(x)). A model with one output holds when
 * f >= 0.5 agrees with f(x) >= 0.5.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "../core/core.h"
#include "anchors_impl.h"

static const xai_param_info params[] = {
    {"preset", "string", "default", "default|alibi|reference", "the set of defaults"},
    {"threshold", "number", "0.95", "[0, 1]", "precision to reach"},
    {"delta", "number", "0.1", "(0, 1)", "1 - confidence"},
    {"tau", "number", "0.15", "[0, 1]", "KL-LUCB tolerance (epsilon)"},
    {"epsilon_stop", "number", "0.05", "[0, 1]", "tolerance of the precision test"},
    {"accept", "string", "lower_bound", "lower_bound|epsilon_stop",
     "a candidate is valid when lb >= threshold, or (the references) lb > threshold - epsilon_stop"},
    {"fresh_samples", "int", "1000", "[1, 10^7]",
     "samples of the returned rule drawn after the search: precision, bounds, success"},
    {"batch_size", "int", "100", "[1, 10^6]", "draws per candidate per round (the most, when adaptive)"},
    {"min_batch", "int", "10", "[1, 10^6]", "smallest adaptive draw"},
    {"adaptive_batch", "bool", "true", "true|false", "a round draws what the bound needs"},
    {"beam_size", "int", "1", "[1, 1000]", "candidates kept per size"},
    {"warmup_samples", "int", "100", "[1, 10^6]", "draws of the empty anchor first"},
    {"coverage_samples", "int", "10000", "[1, 10^7]", "tabular coverage samples"},
    {"max_anchor_size", "int", "0 (= d)", ">= 0", "largest anchor tried"},
    {"stop_on_first", "bool", "true", "true|false", "stop at the first size with a valid anchor"},
    {"expand_hopeless", "bool", "true", "true|false",
     "keep every candidate of a size that cannot hold an anchor"},
    {"max_expand", "int", "5000", "[0, 10^7]", "the most children an expanded size may have"},
    {"max_samples", "int", "1000000", ">= 1", "budget of sampled rows"},
    {"n_examples", "int", "5", "[0, 1000]", "examples returned per kind"},
    {"p_remove", "number", "0.5", "(0, 1]", "text: probability a non-anchored token is removed"},
    {"bin_edges", "array", "quartiles", "d arrays (or nulls)", "tabular: increasing edges per column"},
    {"categorical", "array", "[]", "column indices", "tabular: columns whose predicate is =="},
    {NULL, NULL, NULL, NULL, NULL}};

/* Preset defaults: "default" = alibi's statistics with adaptive batches and
 * expansion of hopeless levels, and a valid anchor's lower bound at the
 * threshold; "alibi" = alibi's search exactly, "reference" =
 * marcotcr/anchor's AnchorText.explain_instance defaults (threshold 0.95,
 * delta 0.1, tau 0.15, batch 10, beam 4, stop_on_first, min_samples_start
 * 0 = one warm-up draw), both with their validity rule lb > threshold -
 * epsilon_stop. */
static xai_status preset(const xai_value *pv, xd_anchor_params *p, xai_error *err) {
    const char *name;
    xai_status st = xai_opt_str(pv, "preset", "default", &name, err);
    if (st != XAI_OK) return st;
    *p = (xd_anchor_params){.threshold = 0.95, .delta = 0.1, .epsilon = 0.15,
                            .epsilon_stop = 0.05, .accept_epsilon_stop = false,
                            .fresh_samples = 1000, .batch = 100, .min_batch = 10,
                            .adaptive = true, .beam = 1, .warmup = 100,
                            .coverage_samples = 10000, .max_size = 0, .stop_on_first = true,
                            .expand_hopeless = true, .max_expand = 5000,
                            .max_samples = 1000000, .n_examples = 5};
    if (strcmp(name, "default") == 0) return XAI_OK;
    p->adaptive = false;
    p->expand_hopeless = false;
    p->accept_epsilon_stop = true;
    if (strcmp(name, "alibi") == 0) return XAI_OK;
    if (strcmp(name, "reference") == 0) {
        p->batch = 10;
        p->beam = 4;
        p->warmup = 1;
        return XAI_OK;
    }
    return xd_err(err, XAI_ERR_INVALID,
                  "anchors: preset '%s' is not one of default, alibi, reference", name);
}

static xai_status opt_size(const xai_value *pv, const char *key, size_t def, int64_t lo,
                           int64_t hi, size_t *out, xai_error *err) {
    int64_t v;
    xai_status st = xai_opt_int(pv, key, (int64_t)def, lo, hi, &v, err);
    if (st == XAI_OK) *out = (size_t)v;
    return st;
}

/* "accept": "lower_bound" (valid when lb >= threshold) or "epsilon_stop"
 * (the references' lb > threshold - epsilon_stop); the preset decides when
 * absent. */
static xai_status read_accept(const xai_value *pv, xd_anchor_params *p, xai_error *err) {
    const char *acc;
    xai_status st = xai_opt_str(pv, "accept", p->accept_epsilon_stop ? "epsilon_stop" : "lower_bound",
                                &acc, err);
    if (st != XAI_OK) return st;
    if (strcmp(acc, "lower_bound") == 0) p->accept_epsilon_stop = false;
    else if (strcmp(acc, "epsilon_stop") == 0) p->accept_epsilon_stop = true;
    else
        return xd_err(err, XAI_ERR_INVALID,
                      "anchors: accept '%s' is not one of lower_bound, epsilon_stop", acc);
    return XAI_OK;
}

static xai_status read_params(const xai_value *pv, xd_anchor_params *p, xai_error *err) {
    xai_status st = preset(pv, p, err);
    if (st == XAI_OK) st = xai_opt_float(pv, "threshold", p->threshold, 0.0, 1.0, &p->threshold, err);
    if (st == XAI_OK) st = xai_opt_float(pv, "delta", p->delta, 1e-12, 0.999, &p->delta, err);
    if (st == XAI_OK) st = xai_opt_float(pv, "tau", p->epsilon, 0.0, 1.0, &p->epsilon, err);
    if (st == XAI_OK)
        st = xai_opt_float(pv, "epsilon_stop", p->epsilon_stop, 0.0, 1.0, &p->epsilon_stop, err);
    if (st == XAI_OK) st = read_accept(pv, p, err);
    if (st == XAI_OK)
        st = opt_size(pv, "fresh_samples", p->fresh_samples, 1, 10000000, &p->fresh_samples, err);
    if (st == XAI_OK) st = opt_size(pv, "batch_size", p->batch, 1, 1000000, &p->batch, err);
    if (st == XAI_OK) st = opt_size(pv, "min_batch", p->min_batch, 1, 1000000, &p->min_batch, err);
    if (st == XAI_OK) st = xai_opt_bool(pv, "adaptive_batch", p->adaptive, &p->adaptive, err);
    if (st == XAI_OK) st = opt_size(pv, "beam_size", p->beam, 1, 1000, &p->beam, err);
    if (st == XAI_OK) st = opt_size(pv, "warmup_samples", p->warmup, 1, 1000000, &p->warmup, err);
    if (st == XAI_OK)
        st = opt_size(pv, "coverage_samples", p->coverage_samples, 1, 10000000,
                      &p->coverage_samples, err);
    if (st == XAI_OK) st = opt_size(pv, "max_anchor_size", p->max_size, 0, INT64_MAX, &p->max_size, err);
    if (st == XAI_OK) st = xai_opt_bool(pv, "stop_on_first", p->stop_on_first, &p->stop_on_first, err);
    if (st == XAI_OK)
        st = xai_opt_bool(pv, "expand_hopeless", p->expand_hopeless, &p->expand_hopeless, err);
    if (st == XAI_OK) st = opt_size(pv, "max_expand", p->max_expand, 0, 10000000, &p->max_expand, err);
    if (st == XAI_OK)
        st = opt_size(pv, "max_samples", p->max_samples, 1, INT64_MAX, &p->max_samples, err);
    if (st == XAI_OK) st = opt_size(pv, "n_examples", p->n_examples, 0, 1000, &p->n_examples, err);
    return st;
}

/* The sampler for the evaluator's space, refusing options of the other kind. */
static xai_status make_sampler(const xd_method_ctx *mc, xd_anchor_sampler **smp, bool *text,
                               xai_error *err) {
    *text = xai_space_input_kind(xai_eval_space(mc->ev)) == XAI_INPUT_TEXT;
    if (*text) {
        if (xai_value_get(mc->params, "bin_edges") || xai_value_get(mc->params, "categorical"))
            return xd_err(err, XAI_ERR_INVALID,
                          "anchors: bin_edges and categorical apply to tabular inputs only");
        double p_remove;
        xai_status st = xai_opt_float(mc->params, "p_remove", 0.5, 1e-9, 1.0, &p_remove, err);
        if (st != XAI_OK) return st;
        return xd_anchor_text_sampler(mc, p_remove, smp, err);
    }
    if (xai_value_get(mc->params, "p_remove"))
        return xd_err(err, XAI_ERR_INVALID, "anchors: p_remove applies to text inputs only");
    if (xai_space_tabular_x(xai_eval_space(mc->ev)) == NULL)
        return xd_err(err, XAI_ERR_UNSUPPORTED, "anchors: needs a text or a tabular space");
    return xd_anchor_tabular_sampler(mc, mc->params, smp, err);
}

/* Token indices of text feature f, as an array. */
static xai_value *positions(const xai_space *s, size_t f) {
    xai_value *a = xai_value_array();
    const xai_tokens *toks = xai_space_text_tokens(s);
    for (size_t j = 0; a && toks && j < toks->n; j++)
        if (xai_space_text_token_feature(s, j) == f &&
            xai_value_push(a, xai_value_int((int64_t)j)) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* One rule item: the feature, its name, where it is (text) or what it
 * tests (tabular). Sets *column to the space feature it marks. */
static xai_value *rule_item(const xai_space *s, const xd_anchor_sampler *smp, bool text,
                            size_t f, size_t *column) {
    xai_value *it = xai_value_map();
    if (it == NULL) return NULL;
    bool ok = xai_value_set_int(it, "feature", (int64_t)f) == XAI_OK;
    if (text) {
        *column = f;
        const char *name = xai_space_feature_name(s, f);
        ok = ok && xai_value_set_str(it, "name", name ? name : "") == XAI_OK;
        ok = ok && xai_value_set(it, "positions", positions(s, f)) == XAI_OK;
    } else {
        const char *op;
        double value;
        const char *name = xd_anchor_tabular_name(smp, f, column, &op, &value);
        ok = ok && xai_value_set_str(it, "name", name) == XAI_OK;
        ok = ok && xai_value_set_int(it, "column", (int64_t)*column) == XAI_OK;
        ok = ok && xai_value_set_str(it, "op", op) == XAI_OK;
        ok = ok && xai_value_set_float(it, "value", value) == XAI_OK;
    }
    if (ok) return it;
    xai_value_free(it);
    return NULL;
}

/* The rule as items and as names; marks values[] of its features. */
static bool put_rule(xai_value *extra, const xd_anchor_found *f, const xai_space *s,
                     const xd_anchor_sampler *smp, bool text, double *values) {
    xai_value *items = xai_value_array(), *names = xai_value_array();
    bool ok = items && names;
    for (size_t j = 0; ok && j < f->size; j++) {
        size_t column = 0;
        xai_value *it = rule_item(s, smp, text, f->order[j], &column);
        ok = it != NULL;
        if (ok) ok = xai_value_push(names, xai_value_clone(xai_value_get(it, "name"))) == XAI_OK;
        if (ok) ok = xai_value_push(items, it) == XAI_OK;
        if (ok) values[column] = 1.0;
    }
    ok = ok && xai_value_set(extra, "anchor", items) == XAI_OK;
    items = NULL;
    ok = ok && xai_value_set(extra, "names", names) == XAI_OK;
    names = NULL;
    xai_value_free(items);
    xai_value_free(names);
    return ok;
}

/* Why success is false, for people. */
static void failure_message(const xd_anchor_found *f, const xd_anchor_params *p, char *msg,
                            size_t cap) {
    if (f->valid)
        snprintf(msg, cap, "the search's anchor did not reach precision %.3g with confidence "
                 "%.3g on %zu fresh samples (%zu held)", p->threshold, 1.0 - p->delta,
                 f->fresh_n, f->fresh_pos);
    else
        snprintf(msg, cap, "no anchor reached precision %.3g with confidence %.3g; this is the "
                 "candidate with the highest precision", p->threshold, 1.0 - p->delta);
}

/* The numbers; all deterministic (no timings, no cache counters). */
static bool put_numbers(xai_value *x, const xd_anchor_found *f, const xai_eval_stats *es,
                        const xd_anchor_params *p) {
    bool ok = xai_value_set_float(x, "precision", f->precision) == XAI_OK;
    ok = ok && xai_value_set_float(x, "precision_lower", f->lower) == XAI_OK;
    ok = ok && xai_value_set_float(x, "precision_upper", f->upper) == XAI_OK;
    ok = ok && xai_value_set_int(x, "fresh_samples", (int64_t)f->fresh_n) == XAI_OK;
    ok = ok && xai_value_set_float(x, "coverage", f->coverage) == XAI_OK;
    ok = ok && xai_value_set_int(x, "coverage_samples", (int64_t)f->coverage_n) == XAI_OK;
    ok = ok && xai_value_set_bool(x, "success", f->success) == XAI_OK;
    if (!f->success) {
        char msg[300];
        failure_message(f, p, msg, sizeof msg);
        ok = ok && xai_value_set_str(x, "message", msg) == XAI_OK;
    }
    ok = ok && xai_value_set_str(x, "accept", p->accept_epsilon_stop ? "epsilon_stop"
                                                                     : "lower_bound") == XAI_OK;
    ok = ok && xai_value_set_int(x, "size", (int64_t)f->size) == XAI_OK;
    ok = ok && xai_value_set_int(x, "anchor_samples", (int64_t)f->n) == XAI_OK;
    ok = ok && xai_value_set_float(x, "search_precision", f->n > 0 ? f->pos / f->n : 0.0) == XAI_OK;
    ok = ok && xai_value_set_int(x, "samples", (int64_t)f->total_samples) == XAI_OK;
    ok = ok && xai_value_set_int(x, "lucb_rounds", (int64_t)f->lucb_rounds) == XAI_OK;
    ok = ok && xai_value_set_int(x, "rounds", (int64_t)f->rounds) == XAI_OK;
    ok = ok && xai_value_set_int(x, "rows_asked", (int64_t)es->masks_asked) == XAI_OK;
    return ok;
}

static xai_status build_extra(const xd_method_ctx *mc, xd_anchor_found *f,
                              const xd_anchor_sampler *smp, bool text,
                              const xd_anchor_params *p, xai_result *r, xai_error *err) {
    xai_value *x = xai_value_map(), *ex = xai_value_map();
    bool ok = x && ex && put_rule(x, f, xai_eval_space(mc->ev), smp, text, r->values);
    ok = ok && put_numbers(x, f, xai_eval_get_stats(mc->ev), p);
    ok = ok && xai_value_set(ex, "held", f->held) == XAI_OK;
    f->held = NULL;
    ok = ok && xai_value_set(ex, "not_held", f->not_held) == XAI_OK;
    f->not_held = NULL;
    ok = ok && xai_value_set(x, "examples", ex) == XAI_OK;
    ex = NULL;
    const char *pre = NULL;
    xai_opt_str(mc->params, "preset", "default", &pre, NULL);
    ok = ok && xai_value_set_str(x, "preset", pre) == XAI_OK;
    xai_value_free(ex);
    if (!ok) {
        xai_value_free(x);
        return xd_err(err, XAI_ERR_NOMEM, "anchors: building the result");
    }
    r->extra = x;
    return XAI_OK;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    *out = NULL;
    xd_anchor_params p;
    xd_anchor_sampler *smp = NULL;
    xd_anchor_found found;
    memset(&found, 0, sizeof found);
    xai_result *r = NULL;
    bool text = false;
    xai_status st = read_params(mc->params, &p, err);
    if (st == XAI_OK) st = make_sampler(mc, &smp, &text, err);
    if (st == XAI_OK) st = xd_anchor_search(&p, smp, &found, err);
    if (st != XAI_OK) goto cleanup;
    r = xai_result_new("anchors", mc->d);
    if (r == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "anchors: result of %zu features", mc->d);
        goto cleanup;
    }
    st = build_extra(mc, &found, smp, text, &p, r, err);
    if (st != XAI_OK) goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    xai_result_free(r);
    xd_anchor_found_release(&found);
    xd_anchor_sampler_free(smp);
    return st;
}

const xd_method xd_method_anchors = {"anchors", run, params, false};
