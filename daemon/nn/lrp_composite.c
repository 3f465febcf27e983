/* lrp_composite.c — choosing an LRP rule for every layer (composites and
 * per-layer lists) and the public LRP entry points.
 *
 * A composite is a function of the layer's kind and position (first
 * dense/conv layer or not); a per-layer list overrides it entry by entry.
 * z^B needs bounds for every input value of its layer: they come per pixel
 * (low_v/high_v), as constants, or, by default, as each sample's min and max,
 * and are laid out here as n x input_size arrays for the pass.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

void xai_nn_lrp_opts_init(xai_nn_lrp_opts *o) {
    memset(o, 0, sizeof *o);
    o->composite = XAI_NN_COMPOSITE_NONE;
    o->epsilon = 1e-6;
    o->gamma = 0.25;
    o->alpha = 2;
    o->pool_epsilon = 1e-6;
}

/* first: L is the first dense/conv layer; first_conv: the first conv layer
 * (zennit's EpsilonGammaBox puts ZBox on the first convolution only). */
static xai_nn_rule composite_rule(xai_nn_composite c, const xd_nn_layer *L, bool first,
                                  bool first_conv) {
    bool conv = xd_nn_is_conv(L);
    switch (c) {
    case XAI_NN_COMPOSITE_EPSILON_PLUS:
        return conv ? XAI_NN_RULE_ZPLUS : XAI_NN_RULE_EPSILON;
    case XAI_NN_COMPOSITE_EPSILON_PLUS_FLAT:
        return first ? XAI_NN_RULE_FLAT : conv ? XAI_NN_RULE_ZPLUS : XAI_NN_RULE_EPSILON;
    case XAI_NN_COMPOSITE_EPSILON_GAMMA_BOX:
        return first_conv ? XAI_NN_RULE_ZBOX : conv ? XAI_NN_RULE_GAMMA : XAI_NN_RULE_EPSILON;
    case XAI_NN_COMPOSITE_EPSILON_ALPHA2_BETA1:
        return conv ? XAI_NN_RULE_ALPHA_BETA : XAI_NN_RULE_EPSILON;
    default:
        return XAI_NN_RULE_EPSILON;
    }
}

/* n x input_size bounds for z^B, from opts or each sample's range. */
static void fill_bounds(const xai_nn_lrp_opts *o, const float *x, size_t n, size_t d, float *lo,
                        float *hi) {
    for (size_t s = 0; s < n; s++) {
        const float *xs = x + s * d;
        float mn = xs[0], mx = xs[0];
        for (size_t j = 1; j < d; j++) mn = xs[j] < mn ? xs[j] : mn, mx = xs[j] > mx ? xs[j] : mx;
        bool data = o->low == 0 && o->high == 0;
        for (size_t j = 0; j < d; j++) {
            lo[s * d + j] = o->low_v ? o->low_v[j] : data ? mn : o->low;
            hi[s * d + j] = o->high_v ? o->high_v[j] : data ? mx : o->high;
        }
    }
}

/* Resolves one rule per layer into rules[0..n_layers); bounds point into
 * lo/hi (allocated here when some layer uses z^B, freed by the caller). */
static xai_status resolve(const xai_nn *net, const xai_nn_lrp_opts *o, const float *x, size_t n,
                          xd_nn_lrp_rule *rules, float **lo, float **hi, xai_error *err) {
    double alpha = o->alpha >= 1 ? o->alpha : 2;
    size_t d = xai_nn_input_size(net);
    bool first = true, first_conv = true;
    for (size_t l = 0; l < net->n; l++) {
        const xd_nn_layer *L = &net->layers[l];
        xd_nn_lrp_rule *r = &rules[l];
        memset(r, 0, sizeof *r);
        r->eps = (float)(o->epsilon >= 0 ? o->epsilon : 1e-6);
        r->gamma = (float)(o->gamma >= 0 ? o->gamma : 0.25);
        r->alpha = (float)alpha;
        r->beta = (float)(alpha - 1);
        if (L->nw == 0 || xd_nn_is_seq(L)) continue; /* seq layers: attention.c's rule */
        bool conv = xd_nn_is_conv(L);
        r->rule = composite_rule(o->composite, L, first, conv && first_conv);
        first = false;
        first_conv = first_conv && !conv;
        if (o->rules && o->rules[l] != XAI_NN_RULE_DEFAULT) r->rule = o->rules[l];
        if ((unsigned)r->rule > XAI_NN_RULE_ZBOX)
            return xd_err(err, XAI_ERR_INVALID, "layer %zu: unknown LRP rule %d", l, (int)r->rule);
        if (r->rule != XAI_NN_RULE_ZBOX) continue;
        if (L->src != 0 || xd_nn_act_size(net, 0) != d)
            return xd_err(err, XAI_ERR_INVALID,
                          "layer %zu (%s): z^B needs the input's values at the layer's input", l,
                          xai_nn_layer_kind_name(L->kind));
        if (*lo == NULL) {
            *lo = xd_try_malloc(xd_mul(xd_mul(n, d), sizeof(float)));
            *hi = xd_try_malloc(xd_mul(xd_mul(n, d), sizeof(float)));
            if (*lo == NULL || *hi == NULL) return xd_err(err, XAI_ERR_NOMEM, "z^B bounds");
            fill_bounds(o, x, n, d, *lo, *hi);
        }
        r->low = *lo;
        r->high = *hi;
    }
    return XAI_OK;
}

/* Runs LRP down to the input; per_layer may be NULL. */
static xai_status run_lrp(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                          const xai_nn_lrp_opts *opts, float *out, float *const *per_layer,
                          xai_error *err) {
    xai_nn_lrp_opts def;
    if (opts == NULL) {
        xai_nn_lrp_opts_init(&def);
        opts = &def;
    }
    if (n == 0) return XAI_OK;
    if (x == NULL) return xd_err(err, XAI_ERR_INVALID, "lrp: NULL input");
    float *lo = NULL, *hi = NULL;
    xd_nn_lrp_rule *rules = xd_calloc(net->n ? net->n : 1, sizeof *rules);
    xai_status st = resolve(net, opts, x, n, rules, &lo, &hi, err);
    if (st == XAI_OK) {
        xd_nn_bwd b = {.mode = XD_NN_LRP, .rules = rules, .stop = 0, .per_layer = per_layer};
        b.pool_eps = (float)(opts->pool_epsilon >= 0 ? opts->pool_epsilon : 1e-6);
        st = xd_nn_explain_pass(net, &b, x, n, targets, out, NULL, NULL, err);
    }
    xd_free(rules);
    xd_free(lo);
    xd_free(hi);
    return st;
}

xai_status xai_nn_lrp(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                      const xai_nn_lrp_opts *opts, float *out, xai_error *err) {
    return run_lrp(net, x, n, targets, opts, out, NULL, err);
}

xai_status xai_nn_lrp_layers(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                             const xai_nn_lrp_opts *opts, float *const *per_layer, xai_error *err) {
    float *tmp = xd_try_malloc(xd_mul(xd_mul(n, xai_nn_input_size(net)), sizeof(float)));
    if (tmp == NULL) return xd_err(err, XAI_ERR_NOMEM, "lrp: %zu samples", n);
    xai_status st = run_lrp(net, x, n, targets, opts, tmp, per_layer, err);
    xd_free(tmp);
    return st;
}
