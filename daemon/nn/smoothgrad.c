/* smoothgrad.c — SmoothGrad over any native method: the method on noisy
 * copies of one input, combined by mean, mean of squares or variance.
 *
 * The noise is N(0, (sigma (max x - min x))^2) per value, drawn from xai_rng
 * stream 0 of the seed in sample-major order, so a seed fixes the result.
 * All copies go through the method as one batch; the target is fixed by the
 * clean input so every copy explains the same logit.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "xai/rng.h"
#include "nn_impl.h"

/* Combines m attributions (m x d) into out (d) by kind, in double. */
static void combine(const float *attr, size_t m, size_t d, xai_nn_smooth_kind kind, float *out) {
    for (size_t j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < m; i++) {
            double v = attr[i * d + j];
            s += v;
            s2 += v * v;
        }
        double mean = s / (double)m, msq = s2 / (double)m;
        double var = msq - mean * mean;
        out[j] = (float)(kind == XAI_NN_SMOOTH_SQUARED   ? msq
                         : kind == XAI_NN_SMOOTH_VARGRAD ? (var > 0 ? var : 0)
                                                         : mean);
    }
}

/* The target of x (target < 0: its predicted class). */
static xai_status fix_target(const xai_nn *net, const float *x, int64_t target, int64_t *out,
                             xai_error *err) {
    size_t k = xai_nn_n_logits(net), t;
    float *z = xd_try_malloc(xd_mul(k, sizeof *z));
    if (z == NULL) return xd_err(err, XAI_ERR_NOMEM, "smoothgrad: logits");
    xai_status st = xai_nn_logits(net, x, 1, z, err);
    if (st == XAI_OK) st = xd_nn_targets(target < 0 ? NULL : &target, z, 1, k, &t, err);
    if (st == XAI_OK) *out = (int64_t)t;
    xd_free(z);
    return st;
}

xai_status xai_nn_smoothgrad(const xai_nn *net, xai_nn_method method, const float *x,
                             int64_t target, const xai_nn_attr_opts *attr,
                             const xai_nn_smooth_opts *opts, float *out, xai_error *err) {
    size_t m = opts && opts->n_samples ? opts->n_samples : 50, d = xai_nn_input_size(net);
    double sigma = opts && opts->sigma >= 0 ? opts->sigma : 0.15;
    if (m > 100000) return xd_err(err, XAI_ERR_LIMIT, "smoothgrad: %zu samples", m);
    if (x == NULL || out == NULL) return xd_err(err, XAI_ERR_INVALID, "smoothgrad: NULL buffer");
    float *rows = xd_try_malloc(xd_mul(xd_mul(m, d), sizeof *rows));
    float *res = xd_try_malloc(xd_mul(xd_mul(m, d), sizeof *res));
    int64_t *tg = xd_try_malloc(xd_mul(m, sizeof *tg));
    xai_status st = XAI_OK;
    if (!rows || !res || !tg) {
        st = xd_err(err, XAI_ERR_NOMEM, "smoothgrad: %zu samples", m);
        goto cleanup;
    }
    float mn = x[0], mx = x[0];
    for (size_t j = 1; j < d; j++) mn = x[j] < mn ? x[j] : mn, mx = x[j] > mx ? x[j] : mx;
    double sd = sigma * (double)(mx - mn);
    xai_rng r;
    xai_rng_seed(&r, opts ? opts->seed : 0, 0);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++) rows[i * d + j] = x[j] + (float)(sd * xai_rng_normal(&r));
    int64_t t = 0;
    st = fix_target(net, x, target, &t, err);
    if (st != XAI_OK) goto cleanup;
    for (size_t i = 0; i < m; i++) tg[i] = t;
    st = xai_nn_attribute(net, method, rows, m, tg, attr, res, err);
    if (st == XAI_OK) combine(res, m, d, opts ? opts->kind : XAI_NN_SMOOTH_PLAIN, out);
cleanup:
    xd_free(rows);
    xd_free(res);
    xd_free(tg);
    return st;
}
