/* occlusion.c — perturbation analysis: what the target output loses when a
 * feature (or a window of consecutive features) is removed.
 *
 * With window w and stride s, the windows are the runs of w consecutive
 * features starting at 0, s, 2s, ... plus, when those stop short of the end,
 * one run ending at the last feature, so every feature is covered (s <= w is
 * required for the same reason). Each window W gets
 *
 *   R_W = f_t(x) - f_t(x without W),
 *
 * and a feature's score is the mean of R_W over the windows that contain it.
 * w = s = 1 (the default) is leave-one-out: R_i = f_t(x) - f_t(x without i).
 * For text spaces the features are token positions (or distinct words with
 * bag of words), so windows are n-grams; for tabular spaces they are runs of
 * columns. base_value is f_t(all removed). All window masks and the all-zeros
 * mask go to the evaluator in one call, which batches and caches them.
 * Several targets read their columns of the same outputs.
 */
#include <string.h>
#include "../core/core.h"
#include "method.h"

static const xai_param_info params[] = {
    {"window", "int", "1", "[1, 2^20]", "features removed together (clamped to d)"},
    {"stride", "int", "1", "[1, window]", "step between window starts"},
    {NULL, NULL, NULL, NULL, NULL}};

/* Start of window j (see the header comment): the extra last window is the
 * one that would run past the end, moved back to end at feature d - 1. */
static size_t window_start(size_t j, size_t d, size_t w, size_t stride) {
    size_t s = j * stride;
    return s + w > d ? d - w : s;
}

static size_t count_windows(size_t d, size_t w, size_t stride) {
    size_t n = (d - w) / stride + 1;
    if ((n - 1) * stride + w < d) n++;   /* a last window aligned to the end */
    return n;
}

/* Fills the scores from the window outputs y[0..n_win) of a target whose
 * output on x is fx. */
static void average(size_t d, double fx, const double *y, size_t n_win, size_t w,
                    size_t stride, double *values, double *count) {
    memset(values, 0, d * sizeof *values);
    memset(count, 0, d * sizeof *count);
    for (size_t j = 0; j < n_win; j++) {
        size_t s = window_start(j, d, w, stride);
        for (size_t i = s; i < s + w; i++) {
            values[i] += fx - y[j];
            count[i] += 1.0;
        }
    }
    for (size_t i = 0; i < d; i++) values[i] /= count[i];
}

static xai_status read_opts(const xd_method_ctx *mc, size_t *w, size_t *stride, xai_error *err) {
    int64_t win, str;
    xai_status st = xai_opt_int(mc->params, "window", 1, 1, 1 << 20, &win, err);
    if (st == XAI_OK) st = xai_opt_int(mc->params, "stride", 1, 1, 1 << 20, &str, err);
    if (st != XAI_OK) return st;
    if (str > win)
        return xd_err(err, XAI_ERR_INVALID, "occlusion: stride %lld is larger than window %lld, "
                      "which would leave features out", (long long)str, (long long)win);
    *w = XD_MIN((size_t)win, mc->d);
    *stride = (size_t)str;
    return XAI_OK;
}

static xai_status set_extra(xai_result *r, size_t w, size_t stride, size_t n_win) {
    r->extra = xai_value_map();
    if (r->extra == NULL) return XAI_ERR_NOMEM;
    xai_status st = xai_value_set_int(r->extra, "window", (int64_t)w);
    if (st == XAI_OK) st = xai_value_set_int(r->extra, "stride", (int64_t)stride);
    if (st == XAI_OK) st = xai_value_set_int(r->extra, "windows", (int64_t)n_win);
    return st;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    *out = NULL;
    size_t d = mc->d, w = 1, stride = 1;
    xai_status st = read_opts(mc, &w, &stride, err);
    if (st != XAI_OK) return st;
    size_t n_win = d ? count_windows(d, w, stride) : 0;
    uint8_t *masks = xd_try_malloc(xd_mul(n_win + 1, d ? d : 1));
    size_t ld = n_win + 1, kt = mc->n_targets;
    double *y = xd_try_malloc(xd_mul(xd_mul(ld, kt), sizeof *y));
    double *count = xd_try_malloc(xd_mul(d ? d : 1, sizeof *count));
    xai_result *r = xd_method_result_new(mc, "occlusion");
    if (masks == NULL || y == NULL || count == NULL || r == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "occlusion: %zu windows of %zu features", n_win, d);
        goto cleanup;
    }
    memset(masks, 1, n_win * d);
    memset(masks + n_win * d, 0, d);                /* last: everything removed */
    for (size_t j = 0; j < n_win; j++)
        memset(masks + j * d + window_start(j, d, w, stride), 0, w);
    st = xd_method_eval_targets(mc, masks, n_win + 1, y, 1, ld, err);
    if (st != XAI_OK) goto cleanup;
    xai_eval_set_progress(mc->ev, 1.0);
    for (size_t t = 0; t < kt; t++) {
        average(d, mc->fx_all[mc->targets[t]], y + t * ld, n_win, w, stride, r->values + t * d,
                count);
        xd_method_set_base(r, t, y[t * ld + n_win]);
    }
    if (set_extra(r, w, stride, n_win) != XAI_OK) {
        st = xd_err(err, XAI_ERR_NOMEM, "occlusion: result");
        goto cleanup;
    }
    *out = r;
    r = NULL;
cleanup:
    xai_result_free(r);
    xd_free(count);
    xd_free(y);
    xd_free(masks);
    return st;
}

const xd_method xd_method_occlusion = {"occlusion", run, params, true};
