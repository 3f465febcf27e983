/* explain.c — native methods by name with an options map: the entry point a
 * daemon (or any caller holding an xai_value of parameters) uses to run a
 * gradient or LRP method on one input and get an xai_result.
 *
 * Parameters are read with the xai_opt_* helpers, so errors name the key;
 * unknown keys are refused per method. The target is resolved once, on the
 * clean input (an index, or the argmax of the logits), and passed explicitly
 * to the method, so fx in the result is exactly the explained logit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

static const char *const method_names[] = {
    "saliency",        "grad_x_input", "integrated_gradients",
    "guided_backprop", "deconvnet",    "lrp",
    "smoothgrad",      "gradcam",      "cam",
    "guided_gradcam",  "activations",  "activation_max",
    NULL,
};

const char *const *xai_nn_method_names(void) {
    return method_names;
}

/* The accepted keys per method family are the names in the tables of
 * params.c (xd_nn_params_*), the one description of each parameter. */

/* Appends the names of table t to allowed[*n] (room for cap - 1 names). */
static void add_keys(const xai_param_info *t, const char **allowed, size_t *n, size_t cap) {
    for (; t && t->name && *n + 1 < cap; t++) allowed[(*n)++] = t->name;
}

/* Looks a string up in a NULL-terminated list; -1 when absent. */
static int lookup(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0) return i;
    return -1;
}

static xai_status opt_enum(const xai_value *p, const char *key, const char *const *names, int def,
                           int *out, xai_error *err) {
    const char *s = NULL;
    xai_status st = xai_opt_str(p, key, NULL, &s, err);
    if (st != XAI_OK) return st;
    *out = s ? lookup(s, names) : def;
    if (*out < 0) return xd_err(err, XAI_ERR_INVALID, "option %s: unknown value '%s'", key, s);
    return XAI_OK;
}

static xai_nn_method method_of(const char *name) {
    static const xai_nn_method m[] = {
        XAI_NN_SALIENCY,        XAI_NN_GRAD_X_INPUT, XAI_NN_INTEGRATED_GRADIENTS,
        XAI_NN_GUIDED_BACKPROP, XAI_NN_DECONVNET,    XAI_NN_LRP};
    int i = lookup(name, method_names);
    return i >= 0 && i < 6 ? m[i] : (xai_nn_method)0;
}

/* Checks keys against common + the families that apply to `m`. */
static xai_status check_keys(const xai_value *p, xai_nn_method m, bool smooth, bool cam,
                             xai_error *err, const char *what) {
    const char *allowed[48];
    size_t n = 0;
    const xai_param_info *const fam[] = {xd_nn_params_common,
                                         m == XAI_NN_SALIENCY ? xd_nn_params_saliency : NULL,
                                         m == XAI_NN_INTEGRATED_GRADIENTS ? xd_nn_params_ig : NULL,
                                         m == XAI_NN_LRP ? xd_nn_params_lrp : NULL,
                                         smooth ? xd_nn_params_smooth : NULL,
                                         cam ? xd_nn_params_gradcam : NULL,
                                         cam ? xd_nn_params_cam : NULL};
    for (size_t f = 0; f < XD_ARRAY_LEN(fam); f++) add_keys(fam[f], allowed, &n, XD_ARRAY_LEN(allowed));
    allowed[n] = NULL;
    return xai_opt_check_keys(p, allowed, what, err);
}

static xai_status check_own(const xai_value *p, const xai_param_info *own, const char *what,
                            xai_error *err) {
    const char *allowed[24];
    size_t n = 0;
    add_keys(xd_nn_params_common, allowed, &n, XD_ARRAY_LEN(allowed));
    add_keys(own, allowed, &n, XD_ARRAY_LEN(allowed));
    allowed[n] = NULL;
    return xai_opt_check_keys(p, allowed, what, err);
}

xai_status xai_nn_check_params(const char *method, const xai_value *p, xai_error *err) {
    if (method == NULL || lookup(method, method_names) < 0)
        return xd_err(err, XAI_ERR_UNKNOWN_METHOD, "unknown native method '%s'", method ? method : "");
    if (p == NULL || xai_value_type(p) == XAI_V_NIL) return XAI_OK;
    /* Text networks' own keys (text_explain.c), where the method's table
     * lists them ("attention", activation_max's "length"); checked for the
     * net at run. */
    const char *const text_keys[] = {xd_nn_params_text_attention[0].name,
                                     xd_nn_params_text_length[0].name};
    const char *text_key = NULL;
    for (size_t i = 0; i < XD_ARRAY_LEN(text_keys) && !text_key; i++)
        if (xai_value_get(p, text_keys[i]) && xd_nn_method_takes(method, text_keys[i]))
            text_key = text_keys[i];
    if (text_key) {
        xai_value *own = xai_value_map();
        for (size_t i = 0; own && i < xai_value_len(p); i++)
            if (strcmp(xai_value_key_at(p, i), text_key) != 0)
                xai_value_set(own, xai_value_key_at(p, i), xai_value_clone(xai_value_val_at(p, i)));
        xai_status st = own ? xai_nn_check_params(method, own, err)
                            : xd_err(err, XAI_ERR_NOMEM, "%s: parameters", method);
        xai_value_free(own);
        return st;
    }
    if (strcmp(method, "activation_max") == 0) return check_own(p, xd_nn_params_actmax, method, err);
    if (strcmp(method, "cam") == 0) return check_own(p, xd_nn_params_cam, method, err);
    if (strcmp(method, "guided_gradcam") == 0)
        return check_own(p, xd_nn_params_guided_gradcam, method, err);
    if (strcmp(method, "activations") == 0) return check_own(p, xd_nn_params_activations, method, err);
    if (strcmp(method, "gradcam") == 0) return check_keys(p, (xai_nn_method)0, false, true, err, method);
    if (strcmp(method, "smoothgrad") != 0) return check_keys(p, method_of(method), false, false, err, method);
    const char *base = xai_value_get_str(xai_value_get(p, "base"), NULL);
    xai_nn_method m = method_of(base ? base : "saliency");
    return m == 0 ? XAI_OK : check_keys(p, m, true, false, err, "smoothgrad");  /* a bad base: at run */
}

static xai_status parse_ig(const xai_nn *net, const xai_value *p, xai_nn_ig_opts *o, float **base,
                           xai_error *err) {
    static const char *const rules[] = {"riemann_right", "trapezoid", "gauss_legendre", NULL};
    int64_t steps;
    int rule;
    xai_status st = xai_opt_int(p, "steps", 50, 1, 100000, &steps, err);
    if (st == XAI_OK) st = opt_enum(p, "rule", rules, 0, &rule, err);
    if (st != XAI_OK) return st;
    o->steps = (size_t)steps;
    o->rule = (xai_nn_ig_rule)rule;
    const xai_value *b = xai_value_get(p, "baseline");
    if (b == NULL || xai_value_type(b) == XAI_V_NIL) return XAI_OK;
    double *m = NULL;
    size_t rows, cols, d = xai_nn_input_size(net);
    st = xai_value_to_matrix(b, true, true, &m, &rows, &cols, err);
    if (st == XAI_OK && rows * cols != d)
        st = xd_err(err, XAI_ERR_INVALID, "option baseline: %zu values, the input has %zu",
                    rows * cols, d);
    if (st == XAI_OK && (*base = xd_try_malloc(d * sizeof **base)) == NULL)
        st = xd_err(err, XAI_ERR_NOMEM, "baseline");
    for (size_t i = 0; st == XAI_OK && i < d; i++) (*base)[i] = (float)m[i];
    o->baseline = *base;
    xai_free(m);
    return st == XAI_ERR_BAD_REQUEST ? (err ? (err->code = XAI_ERR_INVALID) : XAI_ERR_INVALID) : st;
}

static xai_status parse_rules(const xai_nn *net, const xai_value *arr, xai_nn_rule **rules,
                              xai_error *err) {
    static const char *const names[] = {"default",    "zero", "epsilon", "gamma", "zplus",
                                        "alpha_beta", "flat", "wsquare", "zbox",  NULL};
    if (xai_value_type(arr) != XAI_V_ARRAY || xai_value_len(arr) != net->n)
        return xd_err(err, XAI_ERR_INVALID,
                      "option rules: an array of %zu rule names (one per layer)", net->n);
    *rules = xd_calloc(net->n, sizeof **rules);
    for (size_t l = 0; l < net->n; l++) {
        const char *s = xai_value_get_str(xai_value_at(arr, l), NULL);
        int i = s ? lookup(s, names) : -1;
        if (i < 0)
            return xd_err(err, XAI_ERR_INVALID, "option rules: entry %zu is not a rule name", l);
        (*rules)[l] = (xai_nn_rule)i;
    }
    return XAI_OK;
}

static xai_status parse_lrp(const xai_nn *net, const xai_value *p, xai_nn_lrp_opts *o,
                            xai_nn_rule **rules, xai_error *err) {
    static const char *const comps[] = {
        "none", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "epsilon_alpha2_beta1",
        NULL};
    xai_nn_lrp_opts_init(o);
    int c;
    double lo, hi;
    xai_status st = opt_enum(p, "composite", comps, 0, &c, err);
    if (st == XAI_OK) st = xai_opt_float(p, "epsilon", 1e-6, 0, 1e6, &o->epsilon, err);
    if (st == XAI_OK) st = xai_opt_float(p, "pool_epsilon", 1e-6, 0, 1e6, &o->pool_epsilon, err);
    if (st == XAI_OK) st = xai_opt_float(p, "gamma", 0.25, 0, 1e6, &o->gamma, err);
    if (st == XAI_OK) st = xai_opt_float(p, "alpha", 2, 1, 1e6, &o->alpha, err);
    if (st == XAI_OK) st = xai_opt_float(p, "low", 0, -1e30, 1e30, &lo, err);
    if (st == XAI_OK) st = xai_opt_float(p, "high", 0, -1e30, 1e30, &hi, err);
    if (st != XAI_OK) return st;
    o->composite = (xai_nn_composite)c;
    o->low = (float)lo;
    o->high = (float)hi;
    const xai_value *r = xai_value_get(p, "rules");
    if (r != NULL && xai_value_type(r) != XAI_V_NIL) {
        st = parse_rules(net, r, rules, err);
        o->rules = *rules;
    }
    return st;
}

/* Everything a method may need, parsed; freed by opts_release. */
typedef struct parsed {
    xai_nn_attr_opts attr;
    float *baseline;
    xai_nn_rule *rules;
} parsed;

static xai_status parse_attr(const xai_nn *net, xai_nn_method m, const xai_value *p, parsed *o,
                             xai_error *err) {
    memset(o, 0, sizeof *o);
    xai_nn_lrp_opts_init(&o->attr.lrp);
    if (m == XAI_NN_SALIENCY) return xai_opt_bool(p, "abs", false, &o->attr.absolute, err);
    if (m == XAI_NN_INTEGRATED_GRADIENTS) return parse_ig(net, p, &o->attr.ig, &o->baseline, err);
    if (m == XAI_NN_LRP) return parse_lrp(net, p, &o->attr.lrp, &o->rules, err);
    return XAI_OK;
}

static void parsed_release(parsed *o) {
    xd_free(o->baseline);
    xd_free(o->rules);
}

/* The target (given, or the argmax of the logits) and its logit at x. */
static xai_status resolve_target(const xai_nn *net, const float *x, const xai_value *p, int64_t *t,
                                 double *fx, xai_error *err) {
    size_t k = xai_nn_n_logits(net), tg;
    int64_t want;
    xai_status st = xai_opt_int(p, "target", -1, -1, (int64_t)k - 1, &want, err);
    if (st != XAI_OK) return st;
    float *z = xd_try_malloc(xd_mul(k, sizeof *z));
    if (z == NULL) return xd_err(err, XAI_ERR_NOMEM, "logits");
    st = xai_nn_logits(net, x, 1, z, err);
    if (st == XAI_OK) st = xd_nn_targets(want < 0 ? NULL : &want, z, 1, k, &tg, err);
    if (st == XAI_OK) {
        *t = (int64_t)tg;
        *fx = z[tg];
    }
    xd_free(z);
    return st;
}

/* A result over a c x h x w map (rank 3), or h x w when c == 0 (rank 2). */
static xai_result *map_result(const char *method, size_t c, size_t h, size_t w, const float *v) {
    size_t cc = c ? c : 1, d = cc * h * w;
    xai_result *r = xai_result_new(method, d);
    if (r == NULL) return NULL;
    r->rank = c ? 3 : 2;
    size_t dims[3] = {c, h, w};
    for (size_t i = 0; i < r->rank; i++) r->shape[i] = dims[i + (c ? 0 : 1)];
    for (size_t i = 0; i < d; i++) {
        char name[64];
        size_t ch = i / (h * w), y = i / w % h, x = i % w;
        if (c)
            snprintf(name, sizeof name, "%zu,%zu,%zu", ch, y, x);
        else
            snprintf(name, sizeof name, "%zu,%zu", y, x);
        r->feature_names[i] = xd_strdup(name);
        r->values[i] = v[i];
    }
    return r;
}

static xai_status run_smooth(const xai_nn *net, const float *x, const xai_value *p, int64_t t,
                             float *out, xai_error *err) {
    static const char *const kinds[] = {"plain", "squared", "vargrad", NULL};
    const char *base = NULL;
    int64_t n, seed;
    double sigma;
    int kind;
    xai_status st = xai_opt_str(p, "base", "saliency", &base, err);
    xai_nn_method m = base ? method_of(base) : (xai_nn_method)0;
    if (st == XAI_OK && m == 0)
        return xd_err(err, XAI_ERR_INVALID, "option base: '%s' is not a method smoothgrad can run",
                      base);
    if (st == XAI_OK) st = check_keys(p, m, true, false, err, "smoothgrad");
    if (st == XAI_OK) st = xai_opt_int(p, "n_samples", 50, 1, 100000, &n, err);
    if (st == XAI_OK) st = xai_opt_float(p, "sigma", 0.15, 0, 1e6, &sigma, err);
    if (st == XAI_OK) st = opt_enum(p, "kind", kinds, 0, &kind, err);
    if (st == XAI_OK) st = xai_opt_int(p, "seed", 0, 0, INT64_MAX, &seed, err);
    if (st != XAI_OK) return st;
    parsed o;
    st = parse_attr(net, m, p, &o, err);
    xai_nn_smooth_opts so = {(size_t)n, sigma, (xai_nn_smooth_kind)kind, (uint64_t)seed};
    if (st == XAI_OK) st = xai_nn_smoothgrad(net, m, x, t, &o.attr, &so, out, err);
    parsed_release(&o);
    return st;
}

/* Grad-CAM; *h, *w get the map's size. */
static xai_status run_cam(const xai_nn *net, const float *x, const xai_value *p, int64_t t,
                          size_t *h, size_t *w, float **out, xai_error *err) {
    size_t ll = xai_nn_logit_layer(net), def = (size_t)-1;
    for (size_t l = 0; l <= ll && l < net->n; l++)
        if (net->layers[l].kind == XAI_NN_CONV2D) def = l;
    int64_t layer;
    bool relu, up;
    xai_status st =
        xai_opt_int(p, "layer", def == (size_t)-1 ? -1 : (int64_t)def, 0, (int64_t)ll, &layer, err);
    if (st == XAI_OK && layer < 0)
        st = xd_err(err, XAI_ERR_INVALID, "gradcam: the network has no conv layer; give \"layer\"");
    if (st == XAI_OK) st = xai_opt_bool(p, "relu", true, &relu, err);
    if (st == XAI_OK) st = xai_opt_bool(p, "upsample", true, &up, err);
    if (st != XAI_OK) return st;
    const xd_nn_layer *L = &net->layers[layer];
    *h = up ? net->in_h : L->out_h;
    *w = up ? net->in_w : L->out_w;
    *out = xd_try_malloc(xd_mul(*h * *w, sizeof **out));
    if (*out == NULL) return xd_err(err, XAI_ERR_NOMEM, "gradcam map");
    return xai_nn_gradcam(net, (size_t)layer, x, 1, &t, relu, up, *out, err);
}

/* Runs a gradient or LRP method (with extra = IG's delta). */
static xai_status run_attr(const xai_nn *net, xai_nn_method m, const float *x, const xai_value *p,
                           int64_t t, float *out, double *delta, xai_error *err) {
    parsed o;
    xai_status st = parse_attr(net, m, p, &o, err);
    if (st == XAI_OK && m == XAI_NN_INTEGRATED_GRADIENTS)
        st = xai_nn_integrated_gradients(net, x, 1, &t, &o.attr.ig, out, delta, err);
    else if (st == XAI_OK)
        st = xai_nn_attribute(net, m, x, 1, &t, &o.attr, out, err);
    parsed_release(&o);
    return st;
}


/* The default layer of Grad-CAM and guided Grad-CAM: the last conv layer
 * below the logits, or -1. */
static int64_t last_conv(const xai_nn *net) {
    size_t ll = xai_nn_logit_layer(net);
    int64_t def = -1;
    for (size_t l = 0; l <= ll && l < net->n; l++)
        if (xd_nn_is_conv(&net->layers[l])) def = (int64_t)l;
    return def;
}

/* cam, guided_gradcam, activations: *h, *w (cam: the map's size) or *c, *h,
 * *w (activations: the layer's shape) get the map's layout. */
static xai_status run_maps(const xai_nn *net, const char *method, const float *x,
                           const xai_value *p, int64_t t, size_t *c, size_t *h, size_t *w,
                           float **map, xai_error *err) {
    bool cam = strcmp(method, "cam") == 0, act = strcmp(method, "activations") == 0;
    int64_t layer = -1;
    bool relu = true, up = true;
    xai_status st = check_own(p, cam   ? xd_nn_params_cam
                                 : act ? xd_nn_params_activations
                                       : xd_nn_params_guided_gradcam, method, err);
    if (st == XAI_OK && cam) st = xai_opt_bool(p, "relu", true, &relu, err);
    if (st == XAI_OK && cam) st = xai_opt_bool(p, "upsample", true, &up, err);
    if (st == XAI_OK && !cam)
        st = xai_opt_int(p, "layer", act ? -1 : last_conv(net), -1, (int64_t)net->n - 1, &layer, err);
    if (st == XAI_OK && !cam && layer < 0)
        st = xd_err(err, XAI_ERR_INVALID, "%s: give \"layer\"%s", method,
                    act ? "" : " (the network has no conv layer)");
    if (st != XAI_OK) return st;
    const xd_nn_layer *L = cam ? NULL : &net->layers[layer];
    size_t pool = (size_t)-1;
    if (cam) { /* the map is the pooled layer's input */
        for (size_t l = 0; l < net->n; l++)
            if (net->layers[l].kind == XAI_NN_GLOBAL_AVGPOOL || net->layers[l].kind == XAI_NN_TOKEN_POOL)
                pool = l;
        if (pool == (size_t)-1)
            return xd_err(err, XAI_ERR_INVALID, "cam: the network has no global average pool");
    }
    *c = act ? L->out_c : 0;
    *h = act ? L->out_h : cam && !up ? net->layers[pool].in_h : net->in_h;
    *w = act ? L->out_w : cam && !up ? net->layers[pool].in_w : net->in_w;
    size_t sz = act ? L->out_c * L->out_h * L->out_w : cam ? *h * *w : xai_nn_input_size(net);
    if (!act && !cam) *c = net->in_c;
    if ((*map = xd_try_malloc(xd_mul(sz, sizeof **map))) == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "%s map", method);
    if (cam) return xai_nn_cam(net, x, 1, &t, relu, up, *map, err);
    if (act) return xai_nn_activations(net, (size_t)layer, x, 1, *map, err);
    return xai_nn_guided_gradcam(net, (size_t)layer, x, 1, &t, *map, err);
}

/* Activation maximization by name; the result's values are the input found. */
static xai_status run_actmax(const xai_nn *net, const float *x, const xai_value *p,
                             xai_result **out, xai_error *err) {
    xai_nn_actmax_opts o;
    xai_nn_actmax_opts_init(&o);
    int64_t layer, unit, steps, jitter, blur, seed;
    bool start = false;
    xai_status st = check_own(p, xd_nn_params_actmax, "activation_max", err);
    if (!st) st = xai_opt_int(p, "layer", -1, -1, (int64_t)net->n - 1, &layer, err);
    if (!st) st = xai_opt_int(p, "unit", 0, 0, INT64_MAX, &unit, err);
    if (!st) st = xai_opt_bool(p, "channel", false, &o.channel, err);
    if (!st) st = xai_opt_int(p, "steps", 100, 0, 100000, &steps, err);
    if (!st) st = xai_opt_float(p, "lr", 0.1, 1e-12, 1e6, &o.lr, err);
    if (!st) st = xai_opt_float(p, "l2", 0, 0, 1e6, &o.l2, err);
    if (!st) st = xai_opt_int(p, "jitter", 0, 0, 64, &jitter, err);
    if (!st) st = xai_opt_int(p, "blur_every", 0, 0, 100000, &blur, err);
    if (!st) st = xai_opt_float(p, "low", 0, -1e30, 1e30, &o.low, err);
    if (!st) st = xai_opt_float(p, "high", 0, -1e30, 1e30, &o.high, err);
    if (!st) st = xai_opt_float(p, "norm_bound", 0, 0, 1e30, &o.norm_bound, err);
    if (!st) st = xai_opt_bool(p, "start", false, &start, err);
    if (!st) st = xai_opt_int(p, "seed", 0, 0, INT64_MAX, &seed, err);
    if (st != XAI_OK) return st;
    if (start && x == NULL)
        return xd_err(err, XAI_ERR_INVALID, "activation_max: \"start\" needs an input");
    o.layer = layer < 0 ? (size_t)-1 : (size_t)layer;
    o.unit = (size_t)unit, o.steps = (size_t)steps, o.jitter = (size_t)jitter;
    o.blur_every = (size_t)blur, o.seed = (uint64_t)seed, o.start = start ? x : NULL;
    float *found = xd_try_malloc(xd_mul(xai_nn_input_size(net), sizeof *found));
    double *acts = xd_try_malloc(xd_mul(o.steps + 1, sizeof *acts));
    if (found == NULL || acts == NULL) st = xd_err(err, XAI_ERR_NOMEM, "activation_max");
    if (st == XAI_OK) st = xai_nn_activation_max(net, &o, found, acts, err);
    xai_result *r = st == XAI_OK ? map_result("activation_max", net->in_c, net->in_h, net->in_w, found)
                                 : NULL;
    if (st == XAI_OK && r == NULL) st = xd_err(err, XAI_ERR_NOMEM, "activation_max: result");
    if (r != NULL) {
        size_t ll = xai_nn_logit_layer(net);
        r->target = o.layer == (size_t)-1 ? (int64_t)o.unit : -1;
        r->fx = acts[o.steps];
        r->seed = o.seed;
        r->extra = xai_value_map();
        xai_value_set(r->extra, "activations", xai_value_float_array(acts, o.steps + 1));
        xai_value_set_int(r->extra, "layer", (int64_t)(o.layer == (size_t)-1 ? ll : o.layer));
        xai_value_set_int(r->extra, "unit", (int64_t)o.unit);
        xai_value_set_bool(r->extra, "channel", o.channel);
    }
    *out = r;
    xd_free(found);
    xd_free(acts);
    return st;
}

/* Runs the named method into a float map; *rank2 for Grad-CAM's h x w. */
static xai_status run_named(const xai_nn *net, const char *method, const float *x,
                            const xai_value *p, int64_t t, float **map, size_t *h, size_t *w,
                            double *delta, xai_error *err) {
    size_t d = xai_nn_input_size(net);
    if (strcmp(method, "gradcam") == 0) {
        xai_status st = check_keys(p, (xai_nn_method)0, false, true, err, method);
        return st == XAI_OK ? run_cam(net, x, p, t, h, w, map, err) : st;
    }
    *map = xd_try_malloc(xd_mul(d, sizeof **map));
    if (*map == NULL) return xd_err(err, XAI_ERR_NOMEM, "attribution of %zu values", d);
    if (strcmp(method, "smoothgrad") == 0) return run_smooth(net, x, p, t, *map, err);
    xai_nn_method m = method_of(method);
    xai_status st = check_keys(p, m, false, false, err, method);
    return st == XAI_OK ? run_attr(net, m, x, p, t, *map, delta, err) : st;
}

xai_status xai_nn_explain(const xai_nn *net, const char *method, const float *x,
                          const xai_value *params, xai_result **out, xai_error *err) {
    *out = NULL;
    double t0 = xd_now(), fx = 0, delta = NAN;
    if (method == NULL || lookup(method, method_names) < 0)
        return xd_err(err, XAI_ERR_UNKNOWN_METHOD, "unknown native method '%s'",
                      method ? method : "");
    if (params != NULL && xai_value_type(params) != XAI_V_MAP)
        return xd_err(err, XAI_ERR_INVALID, "%s: parameters must be a map", method);
    if (strcmp(method, "activation_max") == 0) {
        xai_status st = run_actmax(net, x, params, out, err);
        if (st == XAI_OK) (*out)->seconds = xd_now() - t0;
        return st;
    }
    if (x == NULL) return xd_err(err, XAI_ERR_INVALID, "%s: no input", method);
    int64_t t = 0;
    float *map = NULL;
    size_t h = 0, w = 0;
    int64_t seed = 0; /* every method takes it; only smoothgrad draws noise */
    xai_status st = xai_opt_int(params, "seed", 0, 0, INT64_MAX, &seed, err);
    if (st == XAI_OK) st = resolve_target(net, x, params, &t, &fx, err);
    size_t c = 0;
    bool maps = lookup(method, method_names) >= 8; /* cam, guided_gradcam, activations */
    if (st == XAI_OK)
        st = maps ? run_maps(net, method, x, params, t, &c, &h, &w, &map, err)
                  : run_named(net, method, x, params, t, &map, &h, &w, &delta, err);
    if (st != XAI_OK) goto cleanup;
    xai_result *r = maps ? map_result(method, c, h, w, map)
                  : h    ? map_result(method, 0, h, w, map)
                         : map_result(method, net->in_c, net->in_h, net->in_w, map);
    if (r == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "%s: result", method);
        goto cleanup;
    }
    r->target = t;
    r->fx = fx;
    r->seed = (uint64_t)seed;
    if (!isnan(delta) && (r->extra = xai_value_map()) != NULL)
        xai_value_set_float(r->extra, "delta", delta);
    r->seconds = xd_now() - t0;
    *out = r;
cleanup:
    xd_free(map);
    return st;
}
