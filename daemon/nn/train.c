/* train.c — plain SGD on softmax cross-entropy, for the examples and tests.
 *
 * One step: forward to the logits keeping the trace, the loss gradient
 * (softmax(z) - onehot(y)) / n at the logits, then a backward walk that
 * accumulates each dense/conv layer's weight gradient from its stored input
 * before passing the gradient down. Weights are updated after the walk, so
 * every gradient is taken at the same weights.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* Loss gradient at the logits into g; returns the mean loss. */
static double xent_grad(const float *z, const int32_t *y, size_t n, size_t k, float *g) {
    double loss = 0;
    for (size_t s = 0; s < n; s++) {
        loss += xd_nn_softmax_row(z + s * k, k, g + s * k) - z[s * k + (size_t)y[s]];
        g[s * k + (size_t)y[s]] -= 1.0f;
        for (size_t j = 0; j < k; j++) g[s * k + j] /= (float)n;
    }
    return loss / (double)n;
}

/* Walks down from the logits, filling dw/db (one block per weighted layer). */
static xai_status walk(xai_nn *net, const xd_nn_trace *t, float *g0, float *g1, float **dw,
                       xai_error *err) {
    for (size_t l = t->top; l-- > 0;) {
        xd_nn_layer *L = &net->layers[l];
        xai_status st = XAI_OK;
        if (L->nw) {
            st = xd_nn_linear_wgrad(net, L, t->act[l], g0, t->n, dw[l], dw[l] + L->nw, err);
            if (st == XAI_OK && l > 0) st = xd_nn_linear_bwd(net, L, L->w, g0, t->n, g1, err);
        } else if (l > 0) {
            xd_nn_simple_bwd(L, XD_NN_GRAD, t->act[l], t->act[l + 1], g0, t->n, g1);
        }
        if (st != XAI_OK) return st;
        float *tmp = g0;
        g0 = g1;
        g1 = tmp;
    }
    return XAI_OK;
}

xai_status xai_nn_sgd_step(xai_nn *net, const float *x, const int32_t *labels, size_t n, float lr,
                           double *loss, xai_error *err) {
    size_t ll = xai_nn_logit_layer(net);
    if (ll == (size_t)-1 || n == 0)
        return xd_err(err, XAI_ERR_INVALID, "sgd: empty network or batch");
    if (!xd_nn_is_chain(net))
        return xd_err(err, XAI_ERR_INVALID, "sgd: trains chains only (this network has branches)");
    size_t k = xd_nn_act_size(net, ll + 1), maxsz = 0;
    for (size_t s = 0; s < n; s++)
        if (labels[s] < 0 || (size_t)labels[s] >= k)
            return xd_err(err, XAI_ERR_INVALID, "sgd: label %d of sample %zu not in [0, %zu)",
                          labels[s], s, k);
    for (size_t l = 0; l <= ll + 1; l++) maxsz = XD_MAX(maxsz, xd_nn_act_size(net, l));
    xd_nn_trace t;
    float **dw = xd_calloc(net->n, sizeof *dw);
    float *g0 = xd_try_malloc(xd_mul(xd_mul(n, maxsz), sizeof *g0));
    float *g1 = xd_try_malloc(xd_mul(xd_mul(n, maxsz), sizeof *g1));
    xai_status st = xd_nn_trace_run(net, x, n, ll + 1, &t, err);
    if (st == XAI_OK && (g0 == NULL || g1 == NULL))
        st = xd_err(err, XAI_ERR_NOMEM, "sgd: %zu samples", n);
    for (size_t l = 0; st == XAI_OK && l <= ll; l++)
        if (net->layers[l].nw)
            dw[l] = xd_calloc(net->layers[l].nw + net->layers[l].nb, sizeof(float));
    if (st != XAI_OK) goto cleanup;
    double lv = xent_grad(t.act[ll + 1], labels, n, k, g0);
    if (loss) *loss = lv;
    st = walk(net, &t, g0, g1, dw, err);
    for (size_t l = 0; st == XAI_OK && l <= ll; l++) {
        xd_nn_layer *L = &net->layers[l];
        for (size_t i = 0; dw[l] && i < L->nw; i++) L->w[i] -= lr * dw[l][i];
        for (size_t i = 0; dw[l] && i < L->nb; i++) L->b[i] -= lr * dw[l][L->nw + i];
    }
cleanup:
    for (size_t l = 0; l < net->n; l++) xd_free(dw[l]);
    xd_free(dw);
    xd_free(g0);
    xd_free(g1);
    xd_nn_trace_free(&t);
    return st;
}
