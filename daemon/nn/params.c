/* params.c — the one description of the native methods' parameters: a
 * table per family (name, type, default, range, one line), read off what
 * explain.c and text_explain.c parse, with the defaults they use.
 *
 * explain.c derives its lists of accepted keys from these tables
 * (xai_nn_check_params and the run-time checks), and xai_nn_method_param
 * exposes them, so `xai methods`, the daemon's `methods` op and
 * docs/METHODS.md (checked by tests/registry_test.cc) read the same data.
 */
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define XD_NN_END {NULL, NULL, NULL, NULL, NULL}

const xai_param_info xd_nn_params_common[] = {
    {"seed", "int", "0", ">= 0", "every method takes it; only smoothgrad and activation_max draw noise"},
    {"target", "int", "argmax", "[0, logits - 1]",
     "the explained logit; default: the highest at x"},
    XD_NN_END};
const xai_param_info xd_nn_params_saliency[] = {
    {"abs", "bool", "false", "true|false", "the gradient's absolute value"}, XD_NN_END};
const xai_param_info xd_nn_params_ig[] = {
    {"steps", "int", "50", "[1, 100000]", "points of the path integral"},
    {"rule", "string", "riemann_right", "riemann_right|trapezoid|gauss_legendre",
     "the quadrature rule"},
    {"baseline", "array", "zeros", "C*H*W numbers", "x', the start of the path"},
    XD_NN_END};
const xai_param_info xd_nn_params_lrp[] = {
    {"composite", "string", "none",
     "none|epsilon_plus|epsilon_plus_flat|epsilon_gamma_box|epsilon_alpha2_beta1",
     "rules by layer kind and position"},
    {"rules", "array", "the composite's", "one rule name per layer",
     "default|zero|epsilon|gamma|zplus|alpha_beta|flat|wsquare|zbox, overriding the composite"},
    {"epsilon", "number", "1e-6", "[0, 1e6]", "the epsilon rule's stabiliser"},
    {"gamma", "number", "0.25", "[0, 1e6]", "the gamma rule's weight on positive parts"},
    {"alpha", "number", "2", "[1, 1e6]", "alpha_beta's alpha; beta = alpha - 1"},
    {"low", "number", "0 = the sample's min (with high 0)", "any", "z^B lower bound"},
    {"high", "number", "0 = the sample's max (with low 0)", "any", "z^B upper bound"},
    {"pool_epsilon", "number", "1e-6", "[0, 1e6]", "stabiliser of average pooling"},
    XD_NN_END};
const xai_param_info xd_nn_params_smooth[] = {
    {"base", "string", "saliency",
     "saliency|grad_x_input|integrated_gradients|guided_backprop|deconvnet|lrp",
     "the method run on each noisy copy; its parameters apply too"},
    {"n_samples", "int", "50", "[1, 100000]", "noisy copies of x"},
    {"sigma", "number", "0.15", "[0, 1e6]", "noise standard deviation"},
    {"kind", "string", "plain", "plain|squared|vargrad", "mean, mean of squares, or variance"},
    XD_NN_END};
const xai_param_info xd_nn_params_gradcam[] = {
    {"layer", "int", "the last conv layer", "[0, logit layer]", "the layer whose output is weighed"},
    XD_NN_END};  /* then cam's */
const xai_param_info xd_nn_params_cam[] = {
    {"relu", "bool", "true", "true|false", "keep the positive part of the map"},
    {"upsample", "bool", "true", "true|false", "bilinear to the input's h x w"},
    XD_NN_END};
const xai_param_info xd_nn_params_guided_gradcam[] = {
    {"layer", "int", "the last conv layer", "[0, layers - 1]", "Grad-CAM's layer"}, XD_NN_END};
const xai_param_info xd_nn_params_activations[] = {
    {"layer", "int", "required", "[0, layers - 1]", "the layer whose output is returned"},
    XD_NN_END};
const xai_param_info xd_nn_params_actmax[] = {
    {"layer", "int", "-1 = the logits", "[-1, layers - 1]", "the layer of the unit"},
    {"unit", "int", "0", ">= 0", "the unit (or channel) maximised"},
    {"channel", "bool", "false", "true|false", "maximise a channel's mean instead of one unit"},
    {"steps", "int", "100", "[0, 100000]", "gradient ascent steps"},
    {"lr", "number", "0.1", "[1e-12, 1e6]", "step size"},
    {"l2", "number", "0", "[0, 1e6]", "L2 decay"},
    {"jitter", "int", "0", "[0, 64]", "random shift in pixels per step"},
    {"blur_every", "int", "0", "[0, 100000]", "blur every k steps; 0 = never"},
    {"low", "number", "0 = no bound (with high 0)", "any", "clip the input from below"},
    {"high", "number", "0 = no bound (with low 0)", "any", "clip the input from above"},
    {"norm_bound", "number", "0 = none", ">= 0", "scale into ||x|| <= norm_bound"},
    {"start", "bool", "false", "true|false", "start from x instead of seeded noise"},
    XD_NN_END};
/* Text networks only (text_explain.c). */
const xai_param_info xd_nn_params_text_attention[] = {
    {"attention", "bool", "false", "true|false",
     "text networks: extra.attention, every head's weights"},
    XD_NN_END};
const xai_param_info xd_nn_params_text_length[] = {
    {"length", "int", "8", "[1, max_len]", "text networks: tokens of the input found"},
    XD_NN_END};

/* The families of each method after the common one, in the order of
 * xai_nn_method_names(). Text networks take "attention" on every method
 * but gradcam (refused there) and activation_max (which takes "length"). */
#define XD_NN_ATTN xd_nn_params_text_attention
static const xai_param_info *const families[][3] = {
    {xd_nn_params_saliency, XD_NN_ATTN},
    {XD_NN_ATTN},
    {xd_nn_params_ig, XD_NN_ATTN},
    {XD_NN_ATTN},
    {XD_NN_ATTN},
    {xd_nn_params_lrp, XD_NN_ATTN},
    {xd_nn_params_smooth, XD_NN_ATTN},
    {xd_nn_params_gradcam, xd_nn_params_cam},
    {xd_nn_params_cam, XD_NN_ATTN},
    {xd_nn_params_guided_gradcam, XD_NN_ATTN},
    {xd_nn_params_activations, XD_NN_ATTN},
    {xd_nn_params_actmax, xd_nn_params_text_length},
};

/* One line per method, in the same order. */
static const char *const docs[] = {
    "d f_t / dx, or its absolute value",
    "x * d f_t / dx",
    "(x - x') times the mean gradient on the path from x' to x",
    "gradient through ReLUs that pass only positive input and gradient",
    "gradient through ReLUs that pass max(g, 0)",
    "layer-wise relevance propagation (lrp_* names: lrp with that composite)",
    "a base method over noisy copies of x",
    "Grad-CAM at a layer's output",
    "class activation map before a global average pool",
    "guided backprop times Grad-CAM",
    "a layer's output at x",
    "the input that maximises a unit, by gradient ascent",
};

static size_t table_len(const xai_param_info *t) {
    size_t n = 0;
    while (t && t[n].name) n++;
    return n;
}

/* The tables of `method` in order (common first); the count, 0 for an
 * unknown method. */
static size_t tables_of(const char *method, const xai_param_info *out[4]) {
    const char *const *names = xai_nn_method_names();
    for (size_t m = 0; method && names[m]; m++) {
        if (strcmp(names[m], method) != 0 || m >= XD_ARRAY_LEN(families)) continue;
        size_t n = 0;
        out[n++] = xd_nn_params_common;
        for (size_t f = 0; f < XD_ARRAY_LEN(families[m]) && families[m][f]; f++)
            out[n++] = families[m][f];
        return n;
    }
    return 0;
}

const char *xai_nn_method_doc(const char *method) {
    const char *const *names = xai_nn_method_names();
    for (size_t m = 0; method && names[m] && m < XD_ARRAY_LEN(docs); m++)
        if (strcmp(names[m], method) == 0) return docs[m];
    return NULL;
}

size_t xai_nn_method_n_params(const char *method) {
    const xai_param_info *t[4];
    size_t n = tables_of(method, t), total = 0;
    for (size_t i = 0; i < n; i++) total += table_len(t[i]);
    return total;
}

const xai_param_info *xai_nn_method_param(const char *method, size_t i) {
    const xai_param_info *t[4];
    size_t n = tables_of(method, t);
    for (size_t k = 0; k < n; k++) {
        size_t len = table_len(t[k]);
        if (i < len) return &t[k][i];
        i -= len;
    }
    return NULL;
}

bool xd_nn_method_takes(const char *method, const char *key) {
    const xai_param_info *p;
    for (size_t i = 0; (p = xai_nn_method_param(method, i)) != NULL; i++)
        if (strcmp(p->name, key) == 0) return true;
    return false;
}
