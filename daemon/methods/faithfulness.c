/* faithfulness.c — the "faithfulness" method: scores a given attribution
 * instead of computing one, by pixel flipping (Samek et al. 2017) on the
 * job's model.
 *
 * Parameters: `attr` (d numbers, required: the attribution under test, as a
 * flat array or a 1 x d matrix), `step` (features removed or added per step,
 * default 1) and `mode` ("deletion", "insertion" or "both", default "both").
 * The features are ranked by decreasing attr and the curves come from
 * xai_faithfulness_run on the job's evaluator, so any model and any space
 * work and the evaluator's cache is shared with other jobs.
 *
 * Result: values = attr unchanged (the map being tested); base_value = the
 * score with every feature removed (the deletion curve's end, which is also
 * the insertion curve's start); extra = {mode, step, n_steps, aopc,
 * deletion, deletion_area} and/or {insertion, insertion_area}. AOPC is
 * defined on the deletion curve and is reported in every mode. Both curves
 * are always evaluated (the library call computes them together); `mode`
 * only selects what is reported.
 */
#include <string.h>
#include "../core/core.h"
#include "method.h"
#include "xai/nn.h"

static const xai_param_info params[] = {
    {"attr", "array", "required", "d finite numbers", "the attribution to test"},
    {"step", "int", "1", "[1, 2^24]", "features removed (or put back) per step"},
    {"mode", "string", "both", "deletion|insertion|both", "which curves the result carries"},
    {NULL, NULL, NULL, NULL, NULL}};

typedef struct {
    double *attr;
    size_t step;
    bool deletion, insertion;
} opts;

static xai_status read_attr(const xd_method_ctx *mc, opts *o, xai_error *err) {
    const xai_value *v = xai_value_get(mc->params, "attr");
    if (v == NULL || xai_value_type(v) == XAI_V_NIL)
        return xd_err(err, XAI_ERR_INVALID,
                      "faithfulness: parameter 'attr' (the %zu attributions to test) is required",
                      mc->d);
    size_t rows = 0, cols = 0;
    xai_status st = xai_value_to_matrix(v, true, true, &o->attr, &rows, &cols, err);
    if (st != XAI_OK) return st;
    if (xd_mul(rows, cols) != mc->d)
        return xd_err(err, XAI_ERR_INVALID,
                      "faithfulness: 'attr' has %zu numbers, the model has %zu features",
                      rows * cols, mc->d);
    return XAI_OK;
}

static xai_status read_opts(const xd_method_ctx *mc, opts *o, xai_error *err) {
    int64_t step;
    const char *mode;
    xai_status st = xai_opt_int(mc->params, "step", 1, 1, 1 << 24, &step, err);
    if (st == XAI_OK) st = xai_opt_str(mc->params, "mode", "both", &mode, err);
    if (st != XAI_OK) return st;
    o->step = (size_t)step;
    o->deletion = strcmp(mode, "deletion") == 0 || strcmp(mode, "both") == 0;
    o->insertion = strcmp(mode, "insertion") == 0 || strcmp(mode, "both") == 0;
    if (!o->deletion && !o->insertion)
        return xd_err(err, XAI_ERR_INVALID,
                      "faithfulness: mode '%s' is not deletion, insertion or both", mode);
    return read_attr(mc, o, err);
}

/* One curve and its area into extra. */
static xai_status put_curve(xai_value *extra, const char *name, const char *area_name,
                            const double *c, size_t n, double area) {
    xai_value *arr = xai_value_float_array(c, n);
    if (arr == NULL) return XAI_ERR_NOMEM;
    xai_status st = xai_value_set(extra, name, arr);
    return st == XAI_OK ? xai_value_set_float(extra, area_name, area) : st;
}

static xai_status set_extra(xai_result *r, const opts *o, const xai_faithfulness *f) {
    r->extra = xai_value_map();
    if (r->extra == NULL) return XAI_ERR_NOMEM;
    const char *mode = !o->insertion ? "deletion" : !o->deletion ? "insertion" : "both";
    xai_status st = xai_value_set_str(r->extra, "mode", mode);
    if (st == XAI_OK) st = xai_value_set_int(r->extra, "step", (int64_t)o->step);
    if (st == XAI_OK) st = xai_value_set_int(r->extra, "n_steps", (int64_t)f->n_steps);
    if (st == XAI_OK) st = xai_value_set_float(r->extra, "aopc", f->aopc);
    if (st == XAI_OK && o->deletion)
        st = put_curve(r->extra, "deletion", "deletion_area", f->deletion, f->n_steps + 1,
                       f->deletion_area);
    if (st == XAI_OK && o->insertion)
        st = put_curve(r->extra, "insertion", "insertion_area", f->insertion, f->n_steps + 1,
                       f->insertion_area);
    return st;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    *out = NULL;
    opts o = {0};
    xai_faithfulness f = {0};
    xai_result *r = NULL;
    xai_status st = read_opts(mc, &o, err);
    if (st == XAI_OK) st = xai_faithfulness_run(mc->ev, o.attr, mc->target, o.step, &f, err);
    if (st != XAI_OK) goto cleanup;
    xai_eval_set_progress(mc->ev, 1.0);
    r = xai_result_new("faithfulness", mc->d);
    if (r == NULL || set_extra(r, &o, &f) != XAI_OK) {
        st = xd_err(err, XAI_ERR_NOMEM, "faithfulness: result");
        goto cleanup;
    }
    memcpy(r->values, o.attr, mc->d * sizeof *r->values);
    r->base_value = f.deletion[f.n_steps];
    *out = r;
    r = NULL;
cleanup:
    xai_result_free(r);
    xai_faithfulness_clear(&f);
    xai_free(o.attr);
    return st;
}

const xd_method xd_method_faithfulness = {"faithfulness", run, params, false};
