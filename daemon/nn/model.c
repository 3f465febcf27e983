/* model.c — a native network as an xai_model, so the evaluator and every
 * sampling method (occlusion, KernelSHAP, LIME, ...) can run on it.
 *
 * predict converts rows of doubles to float32 in chunks, runs the forward
 * pass (to the end, or to the logits), and widens the outputs back to
 * double. The cache id is a hash of the network's shapes and weights, so two
 * models over equal networks share cache entries and different ones never
 * collide (up to 2^-64).
 */
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define PREDICT_CHUNK 256

static xai_status predict(const xai_nn *net, bool logits, const xai_batch *batch, double *out,
                          xai_error *err) {
    size_t d = xai_nn_input_size(net), k = logits ? xai_nn_n_logits(net) : xai_nn_output_size(net);
    if (batch->kind != XAI_INPUT_ROWS || batch->cols != d)
        return xd_err(err, XAI_ERR_MODEL, "network takes rows of %zu values, got %zu", d,
                      batch->cols);
    size_t m = XD_MIN(batch->n, (size_t)PREDICT_CHUNK);
    float *x = xd_try_malloc(xd_mul(xd_mul(m ? m : 1, d), sizeof *x));
    float *y = xd_try_malloc(xd_mul(xd_mul(m ? m : 1, k), sizeof *y));
    xai_status st = x && y ? XAI_OK : xd_err(err, XAI_ERR_NOMEM, "network: batch of %zu", m);
    for (size_t s0 = 0; st == XAI_OK && s0 < batch->n; s0 += m) {
        size_t ns = XD_MIN(m, batch->n - s0);
        for (size_t i = 0; i < ns * d; i++) x[i] = (float)batch->rows[s0 * d + i];
        st = logits ? xai_nn_logits(net, x, ns, y, err) : xai_nn_forward(net, x, ns, y, err);
        for (size_t i = 0; st == XAI_OK && i < ns * k; i++) out[s0 * k + i] = y[i];
    }
    xd_free(x);
    xd_free(y);
    return st;
}

static xai_status predict_out(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    return predict(ctx, false, b, out, err);
}

static xai_status predict_logits(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    return predict(ctx, true, b, out, err);
}

static uint64_t net_hash(const xai_nn *net, bool logits) {
    size_t in[3] = {net->in_c, net->in_h, net->in_w};
    uint64_t h = xd_hash64(in, sizeof in, logits ? 0x10 : 0x20);
    for (size_t l = 0; l < net->n; l++) {
        const xd_nn_layer *L = &net->layers[l];
        size_t geo[10] = {(size_t)L->kind, L->out_c, L->kh,    L->kw,           L->stride,
                          L->pad,          L->pad_h, L->src,   L->src2,         (size_t)L->mode ^ L->heads << 8};
        h = xd_hash64(geo, sizeof geo, h);
        if (L->nw) h = xd_hash64(L->w, L->nw * sizeof *L->w, h);
        if (L->nb) h = xd_hash64(L->b, L->nb * sizeof *L->b, h);
    }
    return h;
}

void xai_nn_model(const xai_nn *net, bool logits, const char *name, xai_model *model) {
    memset(model, 0, sizeof *model);
    model->name = name;
    model->cache_id = net_hash(net, logits);
    model->kind = XAI_INPUT_ROWS;
    model->n_outputs = logits ? xai_nn_n_logits(net) : xai_nn_output_size(net);
    model->n_cols = xai_nn_input_size(net);
    model->predict = logits ? predict_logits : predict_out;
    model->ctx = (void *)net; /* predict only reads it */
}
