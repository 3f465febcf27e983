/* gradients.c — the gradient family on a network: gradient (plain, guided,
 * deconvnet), saliency, gradient x input, integrated gradients, and the
 * method switch xai_nn_attribute.
 *
 * Integrated gradients puts every quadrature node of a chunk of samples into
 * one batch (samples x nodes rows), so the network sees large GEMMs; the
 * weighted sum over nodes is taken in double. Targets are fixed at the
 * unscaled input (the predicted class of x, not of each path point).
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* Rows per batch of path points (bounded so activations stay moderate). */
#define IG_MAX_ROWS 512

xai_status xai_nn_gradient(const xai_nn *net, xai_nn_backprop mode, const float *x, size_t n,
                           const int64_t *targets, float *out, float *logits, xai_error *err) {
    xd_nn_bwd b = {.mode = XD_NN_GRAD, .stop = 0};
    if (mode == XAI_NN_BP_GUIDED)
        b.mode = XD_NN_GUIDED;
    else if (mode == XAI_NN_BP_DECONV)
        b.mode = XD_NN_DECONV;
    else if (mode != XAI_NN_BP_GRADIENT)
        return xd_err(err, XAI_ERR_INVALID, "unknown backprop mode %d", (int)mode);
    return xd_nn_explain_pass(net, &b, x, n, targets, out, logits, NULL, err);
}

xai_status xai_nn_saliency(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                           bool absolute, float *out, xai_error *err) {
    xai_status st = xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x, n, targets, out, NULL, err);
    if (st == XAI_OK && absolute)
        for (size_t i = 0; i < n * xai_nn_input_size(net); i++) out[i] = fabsf(out[i]);
    return st;
}

xai_status xai_nn_grad_x_input(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                               float *out, xai_error *err) {
    xai_status st = xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x, n, targets, out, NULL, err);
    if (st == XAI_OK)
        for (size_t i = 0; i < n * xai_nn_input_size(net); i++) out[i] *= x[i];
    return st;
}

/* Gauss–Legendre nodes and weights on (0, 1) by Newton's method on P_m. */
static void gauss_legendre(size_t m, double *a, double *w) {
    for (size_t i = 0; i < m; i++) {
        double t = cos(M_PI * ((double)i + 0.75) / ((double)m + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = t;
            for (size_t k = 2; k <= m; k++) {
                double p2 = ((2.0 * (double)k - 1) * t * p1 - ((double)k - 1) * p0) / (double)k;
                p0 = p1, p1 = p2;
            }
            if (m == 1) p1 = t, p0 = 1;
            dp = (double)m * (t * p1 - p0) / (t * t - 1);
            double dt = p1 / dp;
            t -= dt;
            if (fabs(dt) < 1e-15) break;
        }
        a[i] = (1 - t) / 2;
        w[i] = 1.0 / ((1 - t * t) * dp * dp);
    }
}

/* Nodes a[0..m) in [0, 1] and weights w summing to 1 for `rule`. */
static xai_status ig_nodes(xai_nn_ig_rule rule, size_t m, double *a, double *w, xai_error *err) {
    if (rule == XAI_NN_IG_GAUSS_LEGENDRE) {
        gauss_legendre(m, a, w);
        return XAI_OK;
    }
    if (rule == XAI_NN_IG_TRAPEZOID) {
        if (m < 2)
            return xd_err(err, XAI_ERR_INVALID, "integrated gradients: trapezoid needs >= 2 steps");
        for (size_t i = 0; i < m; i++) {
            a[i] = (double)i / (double)(m - 1);
            w[i] = (i == 0 || i == m - 1 ? 0.5 : 1.0) / (double)(m - 1);
        }
        return XAI_OK;
    }
    if (rule != XAI_NN_IG_RIEMANN_RIGHT)
        return xd_err(err, XAI_ERR_INVALID, "integrated gradients: unknown rule %d", (int)rule);
    for (size_t i = 0; i < m; i++) a[i] = (double)(i + 1) / (double)m, w[i] = 1.0 / (double)m;
    return XAI_OK;
}

/* IG for samples [0, ns) of x whose targets are tg: rows hold every node. */
static xai_status ig_chunk(const xai_nn *net, const float *x, size_t ns, const int64_t *tg,
                           const float *base, const double *a, const double *w, size_t m,
                           float *rows, int64_t *rt, float *g, float *out, xai_error *err) {
    size_t d = xai_nn_input_size(net);
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < m; i++) {
            float *r = rows + (s * m + i) * d;
            for (size_t j = 0; j < d; j++) r[j] = base[j] + (float)a[i] * (x[s * d + j] - base[j]);
            rt[s * m + i] = tg[s];
        }
    xai_status st = xai_nn_gradient(net, XAI_NN_BP_GRADIENT, rows, ns * m, rt, g, NULL, err);
    if (st != XAI_OK) return st;
    for (size_t s = 0; s < ns; s++)
        for (size_t j = 0; j < d; j++) {
            double acc = 0;
            for (size_t i = 0; i < m; i++) acc += w[i] * g[(s * m + i) * d + j];
            out[s * d + j] = (float)(acc * (x[s * d + j] - base[j]));
        }
    return XAI_OK;
}

/* Targets (argmax where not given) and f_t(x) for n samples. */
static xai_status targets_and_scores(const xai_nn *net, const float *x, size_t n,
                                     const int64_t *targets, int64_t *tg, double *fx,
                                     xai_error *err) {
    size_t k = xai_nn_n_logits(net);
    float *z = xd_try_malloc(xd_mul(xd_mul(n, k), sizeof *z));
    size_t *t = xd_try_malloc(xd_mul(n, sizeof *t));
    xai_status st = z && t ? xai_nn_logits(net, x, n, z, err)
                           : xd_err(err, XAI_ERR_NOMEM, "logits of %zu samples", n);
    if (st == XAI_OK) st = xd_nn_targets(targets, z, n, k, t, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++) {
        tg[s] = (int64_t)t[s];
        if (fx) fx[s] = z[s * k + t[s]];
    }
    xd_free(z);
    xd_free(t);
    return st;
}

/* delta[s] = sum attr - (f_t(x) - f_t(baseline)). */
static xai_status ig_delta(const xai_nn *net, const float *base, size_t n, const int64_t *tg,
                           const double *fx, const float *attr, double *delta, xai_error *err) {
    size_t k = xai_nn_n_logits(net), d = xai_nn_input_size(net);
    float *zb = xd_try_malloc(xd_mul(k, sizeof *zb));
    if (zb == NULL) return xd_err(err, XAI_ERR_NOMEM, "integrated gradients: logits");
    xai_status st = xai_nn_logits(net, base, 1, zb, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++) {
        double sum = 0;
        for (size_t j = 0; j < d; j++) sum += attr[s * d + j];
        delta[s] = sum - (fx[s] - zb[tg[s]]);
    }
    xd_free(zb);
    return st;
}

xai_status xai_nn_integrated_gradients(const xai_nn *net, const float *x, size_t n,
                                       const int64_t *targets, const xai_nn_ig_opts *opts,
                                       float *out, double *delta, xai_error *err) {
    size_t m = opts && opts->steps ? opts->steps : 50, d = xai_nn_input_size(net);
    if (m > 100000) return xd_err(err, XAI_ERR_LIMIT, "integrated gradients: %zu steps", m);
    if (n == 0) return XAI_OK;
    size_t per = XD_MAX((size_t)1, IG_MAX_ROWS / m);
    per = XD_MIN(per, n);
    double *a = xd_try_malloc(xd_mul(m, 2 * sizeof *a)), *fx = xd_try_malloc(xd_mul(n, sizeof *fx));
    float *base = xd_try_calloc(d, sizeof *base);
    int64_t *tg = xd_try_malloc(xd_mul(n, sizeof *tg)),
            *rt = xd_try_malloc(xd_mul(per * m, sizeof *rt));
    float *rows = xd_try_malloc(xd_mul(xd_mul(per * m, d), sizeof *rows));
    float *g = xd_try_malloc(xd_mul(xd_mul(per * m, d), sizeof *g));
    xai_status st = XAI_OK;
    if (!a || !fx || !base || !tg || !rt || !rows || !g) {
        st = xd_err(err, XAI_ERR_NOMEM, "integrated gradients: %zu samples x %zu steps", n, m);
        goto cleanup;
    }
    if (opts && opts->baseline) memcpy(base, opts->baseline, d * sizeof *base);
    st = ig_nodes(opts ? opts->rule : XAI_NN_IG_RIEMANN_RIGHT, m, a, a + m, err);
    if (st == XAI_OK) st = targets_and_scores(net, x, n, targets, tg, fx, err);
    for (size_t s0 = 0; st == XAI_OK && s0 < n; s0 += per) {
        size_t ns = XD_MIN(per, n - s0);
        st = ig_chunk(net, x + s0 * d, ns, tg + s0, base, a, a + m, m, rows, rt, g, out + s0 * d,
                      err);
    }
    if (st == XAI_OK && delta) st = ig_delta(net, base, n, tg, fx, out, delta, err);
cleanup:
    xd_free(a), xd_free(fx), xd_free(base), xd_free(tg), xd_free(rt), xd_free(rows), xd_free(g);
    return st;
}

xai_status xai_nn_attribute(const xai_nn *net, xai_nn_method method, const float *x, size_t n,
                            const int64_t *targets, const xai_nn_attr_opts *opts, float *out,
                            xai_error *err) {
    xai_nn_attr_opts def;
    if (opts == NULL) {
        memset(&def, 0, sizeof def);
        xai_nn_lrp_opts_init(&def.lrp);
        opts = &def;
    }
    switch (method) {
    case XAI_NN_SALIENCY:
        return xai_nn_saliency(net, x, n, targets, opts->absolute, out, err);
    case XAI_NN_GRAD_X_INPUT:
        return xai_nn_grad_x_input(net, x, n, targets, out, err);
    case XAI_NN_INTEGRATED_GRADIENTS:
        return xai_nn_integrated_gradients(net, x, n, targets, &opts->ig, out, NULL, err);
    case XAI_NN_GUIDED_BACKPROP:
        return xai_nn_gradient(net, XAI_NN_BP_GUIDED, x, n, targets, out, NULL, err);
    case XAI_NN_DECONVNET:
        return xai_nn_gradient(net, XAI_NN_BP_DECONV, x, n, targets, out, NULL, err);
    case XAI_NN_LRP:
        return xai_nn_lrp(net, x, n, targets, &opts->lrp, out, err);
    }
    return xd_err(err, XAI_ERR_INVALID, "unknown native method %d", (int)method);
}
