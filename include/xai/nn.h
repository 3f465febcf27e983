/* nn.h — native neural networks: build or load a small network, run it on
 * batches, and explain it with gradients and layer-wise relevance propagation.
 *
 * A network is a chain of layers over NCHW float32 tensors: dense, conv2d
 * (kernel, stride, zero padding), maxpool2d, avgpool2d, global average pool,
 * flatten, relu, tanh, sigmoid and softmax (last layer only). Batch norm is
 * not a layer of its own: it is folded into the dense or conv layer right
 * before it when added or loaded. Dense and conv run on OpenBLAS sgemm
 * (convolution through im2col); sums that need it are taken in double.
 *
 * Conventions that hold for every explanation method here:
 *  - The explained output is a class LOGIT: the output of the last layer
 *    before softmax (the last layer itself when there is no softmax), chosen
 *    per sample by index; a NULL targets array means the predicted class
 *    (argmax of the logits).
 *  - Gradient methods differentiate that logit. LRP starts from that logit's
 *    value: the relevance put on the output is logit_t at t and 0 elsewhere,
 *    so the input relevances sum to logit_t when a rule conserves relevance
 *    and absorbs no bias.
 *  - Attributions have the input's shape (n x C x H x W floats).
 *
 * Ownership: a network is created by xai_nn_new() or xai_nn_load() and freed
 * with xai_nn_free(). Every array passed in is copied or only read during the
 * call; arrays filled by the library are the caller's, sized as each function
 * states. A network is immutable once built: the explanation functions only
 * read it and may run on one network from several threads at once. Building
 * (add_*, set_weights, init_random) needs exclusive access.
 */
#ifndef XAI_NN_H
#define XAI_NN_H

#include <stdbool.h>
#include "xai.h"
#include "value.h"
#include "space.h"
#include "eval.h"
#include "result.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_nn xai_nn;

/* Layer kinds. Stable numbers (they are not written to files: files name
 * layers by string, see docs/NN_FORMAT.md). */
typedef enum xai_nn_layer_kind {
    XAI_NN_DENSE = 1,
    XAI_NN_CONV2D = 2,
    XAI_NN_MAXPOOL2D = 3,
    XAI_NN_AVGPOOL2D = 4,
    XAI_NN_GLOBAL_AVGPOOL = 5,
    XAI_NN_FLATTEN = 6,
    XAI_NN_RELU = 7,
    XAI_NN_TANH = 8,
    XAI_NN_SIGMOID = 9,
    XAI_NN_SOFTMAX = 10
} xai_nn_layer_kind;

/* ---- building ------------------------------------------------------- */

/* A network without layers taking inputs of shape c x h x w (a vector of m
 * features is m x 1 x 1). */
xai_status xai_nn_new(size_t c, size_t h, size_t w, xai_nn **out, xai_error *err);
void xai_nn_free(xai_nn *net);

/* Appending layers. Each checks that the layer fits the current output
 * shape and fails with XAI_ERR_INVALID naming the layer ("layer 3 (dense):
 * ...") otherwise. Weights start at zero. Dense takes a vector (c x 1 x 1):
 * put flatten or global_avgpool after a convolution first. Nothing can follow
 * softmax. */
xai_status xai_nn_add_dense(xai_nn *net, size_t out_features, xai_error *err);
xai_status xai_nn_add_conv2d(xai_nn *net, size_t out_channels, size_t kernel_h, size_t kernel_w,
                             size_t stride, size_t padding, xai_error *err);
/* Pooling windows of k x k with the given stride (0 = k), no padding. */
xai_status xai_nn_add_maxpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err);
xai_status xai_nn_add_avgpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err);
xai_status xai_nn_add_global_avgpool(xai_nn *net, xai_error *err);
xai_status xai_nn_add_flatten(xai_nn *net, xai_error *err);
xai_status xai_nn_add_relu(xai_nn *net, xai_error *err);
xai_status xai_nn_add_tanh(xai_nn *net, xai_error *err);
xai_status xai_nn_add_sigmoid(xai_nn *net, xai_error *err);
xai_status xai_nn_add_softmax(xai_nn *net, xai_error *err);
/* Folds batch norm y = gamma (x - mean) / sqrt(var + eps) + beta, one entry
 * per channel (conv) or feature (dense), into the last layer, which must be
 * a dense or conv layer whose weights are already set. Not a layer: the
 * layer count does not change. */
xai_status xai_nn_add_batchnorm(xai_nn *net, const float *gamma, const float *beta,
                                const float *mean, const float *var, float eps,
                                xai_error *err);

/* Sets the weights of dense or conv layer `layer` (0-based). Dense: w is
 * out x in, row-major (torch.nn.Linear's layout). Conv: w is out_c x in_c x
 * kh x kw (torch.nn.Conv2d's). b has out entries, or is NULL for zeros.
 * nw and nb must match exactly. */
xai_status xai_nn_set_weights(xai_nn *net, size_t layer, const float *w, size_t nw,
                              const float *b, size_t nb, xai_error *err);
/* Read access to a layer's weights (pointers into the network; NULL and 0
 * for layers without weights). */
void xai_nn_get_weights(const xai_nn *net, size_t layer, const float **w, size_t *nw,
                        const float **b, size_t *nb);
/* He-uniform weights (U(-sqrt(6/fan_in), +)) and small uniform biases in
 * (-0.1, 0.1) for every dense and conv layer, from `seed`. For tests and
 * training from scratch. */
void xai_nn_init_random(xai_nn *net, uint64_t seed);

/* ---- inspection ------------------------------------------------------ */

size_t xai_nn_n_layers(const xai_nn *net);
/* 0 for an index out of range. */
xai_nn_layer_kind xai_nn_layer_kind_of(const xai_nn *net, size_t layer);
/* "dense", "conv2d", ... (the file format's names); "?" for unknown. */
const char *xai_nn_layer_kind_name(xai_nn_layer_kind kind);
/* Output shape of layer `layer` as c, h, w; layer == (size_t)-1 gives the
 * input shape. Zeros for an index out of range. */
void xai_nn_layer_shape(const xai_nn *net, size_t layer, size_t shape[3]);
/* Window geometry of conv and pooling layers (kernel_h, kernel_w, stride,
 * padding); zeros for other layers. */
void xai_nn_layer_geometry(const xai_nn *net, size_t layer, size_t *kernel_h, size_t *kernel_w,
                           size_t *stride, size_t *padding);
/* Floats per sample of the input, of the logits, and of the final output. */
size_t xai_nn_input_size(const xai_nn *net);
size_t xai_nn_n_logits(const xai_nn *net);
size_t xai_nn_output_size(const xai_nn *net);
/* Index of the layer whose output is the logits (the layer before a final
 * softmax, else the last layer); (size_t)-1 for an empty network. */
size_t xai_nn_logit_layer(const xai_nn *net);

/* ---- running --------------------------------------------------------- */

/* Runs x (n x input_size floats) through every layer; out gets n x
 * output_size floats (probabilities when the network ends in softmax). */
xai_status xai_nn_forward(const xai_nn *net, const float *x, size_t n, float *out,
                          xai_error *err);
/* The same, stopping at the logits: out gets n x n_logits floats. */
xai_status xai_nn_logits(const xai_nn *net, const float *x, size_t n, float *out,
                         xai_error *err);

/* ---- files (docs/NN_FORMAT.md) ---------------------------------------- */

/* Loads a network. A missing file is XAI_ERR_IO; a corrupt, truncated or
 * inconsistent one XAI_ERR_FORMAT with a message saying what is wrong. */
xai_status xai_nn_load(const char *path, xai_nn **out, xai_error *err);
xai_status xai_nn_load_mem(const void *buf, size_t len, xai_nn **out, xai_error *err);
/* Saves a network (batch norms already folded). */
xai_status xai_nn_save(const xai_nn *net, const char *path, xai_error *err);
/* *buf is malloc'd (free with xai_free). */
xai_status xai_nn_save_mem(const xai_nn *net, char **buf, size_t *len, xai_error *err);

/* ---- gradient methods --------------------------------------------------
 * Every function below takes n samples x (n x input_size floats) and
 * targets[i], the logit explained for sample i (NULL: the predicted class),
 * and writes n x input_size floats to `out`. Rows are processed in batches. */

/* How a backward pass treats ReLU: the true gradient; guided backprop
 * (gradient, and only positive gradients pass: g * [x > 0] * [g > 0]);
 * deconvnet (max(g, 0), whatever the input). Other layers always use their
 * true gradient. */
typedef enum xai_nn_backprop {
    XAI_NN_BP_GRADIENT = 0,
    XAI_NN_BP_GUIDED = 1,
    XAI_NN_BP_DECONV = 2
} xai_nn_backprop;

/* d logit_t / dx under `mode`. logits (n x n_logits), when not NULL, gets the
 * forward pass's logits. */
xai_status xai_nn_gradient(const xai_nn *net, xai_nn_backprop mode, const float *x, size_t n,
                           const int64_t *targets, float *out, float *logits, xai_error *err);
/* Saliency: the gradient, or its absolute value. */
xai_status xai_nn_saliency(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                           bool absolute, float *out, xai_error *err);
/* Gradient times input, element-wise. */
xai_status xai_nn_grad_x_input(const xai_nn *net, const float *x, size_t n,
                               const int64_t *targets, float *out, xai_error *err);

/* Integrated gradients, (x - x') * integral_0^1 grad f_t(x' + a (x - x')) da,
 * with the integral taken by a quadrature rule of `steps` nodes:
 *   right Riemann  a_i = i/m, weights 1/m (i = 1..m)
 *   trapezoid      a_i = i/(m-1), end weights halved (i = 0..m-1; m >= 2)
 *   Gauss–Legendre the m Gauss nodes mapped to (0, 1)
 * All nodes of a batch of samples go through the network as one batch. */
typedef enum xai_nn_ig_rule {
    XAI_NN_IG_RIEMANN_RIGHT = 0,
    XAI_NN_IG_TRAPEZOID = 1,
    XAI_NN_IG_GAUSS_LEGENDRE = 2
} xai_nn_ig_rule;

typedef struct xai_nn_ig_opts {
    size_t steps;               /* 0 = 50 */
    xai_nn_ig_rule rule;        /* default right Riemann */
    const float *baseline;      /* input_size floats for every sample; NULL = zeros */
} xai_nn_ig_opts;

/* delta (n doubles, may be NULL) gets the completeness delta per sample,
 * sum_i attr_i - (f_t(x) - f_t(x')). opts may be NULL. */
xai_status xai_nn_integrated_gradients(const xai_nn *net, const float *x, size_t n,
                                       const int64_t *targets, const xai_nn_ig_opts *opts,
                                       float *out, double *delta, xai_error *err);

/* ---- layer-wise relevance propagation ----------------------------------
 * Rules for a dense or conv layer with inputs a_j, weights w_jk, bias b_k,
 * pre-activations z_k = sum_j a_j w_jk + b_k, output relevance R_k; the input
 * relevance is R_j = sum_k q_jk / (sum_j' q_j'k + bias term) R_k with:
 *   LRP-0       q = a_j w_jk;                   bias b_k in the denominator
 *   epsilon     as LRP-0, denominator z_k + eps * sign(z_k) (sign(0) = +1);
 *               bias b_k in the denominator
 *   gamma       q = a_j (w_jk + gamma w_jk^+);  bias b_k + gamma b_k^+ in the
 *               denominator (meant for a_j >= 0, i.e. after ReLU)
 *   z+          q = a_j^+ w_jk^+ + a_j^- w_jk^- (the positive contributions);
 *               bias ignored
 *   alpha-beta  alpha * (positive contributions / their sum)
 *               - beta * (negative contributions / their sum), alpha - beta
 *               = 1; bias ignored
 *   flat        q = 1 for every input in the receptive field; bias ignored
 *   w^2         q = w_jk^2; bias ignored
 *   z^B         q = a_j w_jk - l_j w_jk^+ - h_j w_jk^-, for the input layer
 *               with a_j in [l_j, h_j]; bias ignored
 * A denominator that is exactly 0 sends no relevance. Rules conserve relevance
 * (sum_j R_j = sum_k R_k) except where the bias absorbs some (LRP-0, epsilon,
 * gamma) and, for alpha-beta, at units without positive or without negative
 * contributions.
 * Other layers: max pooling gives each window's relevance to its winner,
 * average pooling (and global average pooling) in proportion to the inputs
 * (LRP-0 on the pooling as a linear map, with epsilon if set), flatten and
 * activation functions pass relevance through unchanged. */
typedef enum xai_nn_rule {
    XAI_NN_RULE_DEFAULT = 0,    /* in a per-layer list: the composite's choice */
    XAI_NN_RULE_ZERO = 1,
    XAI_NN_RULE_EPSILON = 2,
    XAI_NN_RULE_GAMMA = 3,
    XAI_NN_RULE_ZPLUS = 4,
    XAI_NN_RULE_ALPHA_BETA = 5,
    XAI_NN_RULE_FLAT = 6,
    XAI_NN_RULE_WSQUARE = 7,
    XAI_NN_RULE_ZBOX = 8
} xai_nn_rule;

/* Composites name a rule for every dense/conv layer:
 *   NONE              epsilon everywhere (LRP-0 when epsilon = 0)
 *   EPSILON_PLUS      z+ on conv layers, epsilon on dense layers
 *   EPSILON_PLUS_FLAT as EPSILON_PLUS, flat on the first dense/conv layer
 *   EPSILON_GAMMA_BOX z^B on the first layer, gamma on conv, epsilon on dense
 *   EPSILON_ALPHA2_BETA1  alpha=2, beta=1 on conv, epsilon on dense
 * A per-layer list (`rules`) overrides the composite wherever its entry is
 * not XAI_NN_RULE_DEFAULT. */
typedef enum xai_nn_composite {
    XAI_NN_COMPOSITE_NONE = 0,
    XAI_NN_COMPOSITE_EPSILON_PLUS = 1,
    XAI_NN_COMPOSITE_EPSILON_PLUS_FLAT = 2,
    XAI_NN_COMPOSITE_EPSILON_GAMMA_BOX = 3,
    XAI_NN_COMPOSITE_EPSILON_ALPHA2_BETA1 = 4
} xai_nn_composite;

typedef struct xai_nn_lrp_opts {
    xai_nn_composite composite;
    const xai_nn_rule *rules;   /* n_layers entries (entries of layers without
                                   weights are ignored), or NULL */
    double epsilon;             /* epsilon rule and pooling stabilizer; < 0 = 1e-6 */
    double gamma;               /* < 0 = 0.25 */
    double alpha;               /* alpha-beta: alpha, beta = alpha - 1; < 1 = 2 */
    float low, high;            /* z^B bounds when low_v/high_v are NULL;
                                   both 0 = the sample's min and max */
    const float *low_v, *high_v;/* per-pixel bounds (input_size floats), or NULL */
} xai_nn_lrp_opts;

/* Fills opts with the defaults (composite NONE, epsilon 1e-6, gamma 0.25,
 * alpha 2, bounds from the data). */
void xai_nn_lrp_opts_init(xai_nn_lrp_opts *opts);

/* Relevance of every input for targets (see the conventions at the top).
 * opts NULL = defaults. */
xai_status xai_nn_lrp(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                      const xai_nn_lrp_opts *opts, float *out, xai_error *err);
/* The relevance at the input of every layer, for tests and for inspection:
 * per_layer[l] (caller-allocated, n x (size of layer l's input) floats) for
 * l in [0, logit_layer]; a NULL entry is skipped. per_layer[logit_layer + 1]
 * gets the starting relevance at the logits. */
xai_status xai_nn_lrp_layers(const xai_nn *net, const float *x, size_t n,
                             const int64_t *targets, const xai_nn_lrp_opts *opts,
                             float *const *per_layer, xai_error *err);

/* ---- SmoothGrad over any method ---------------------------------------- */

typedef enum xai_nn_method {
    XAI_NN_SALIENCY = 1,        /* the gradient (abs with `absolute`) */
    XAI_NN_GRAD_X_INPUT = 2,
    XAI_NN_INTEGRATED_GRADIENTS = 3,
    XAI_NN_GUIDED_BACKPROP = 4,
    XAI_NN_DECONVNET = 5,
    XAI_NN_LRP = 6
} xai_nn_method;

/* Options of one method run by xai_nn_attribute. */
typedef struct xai_nn_attr_opts {
    bool absolute;              /* saliency */
    xai_nn_ig_opts ig;
    xai_nn_lrp_opts lrp;
} xai_nn_attr_opts;

/* Runs `method` (opts NULL = defaults; then LRP uses xai_nn_lrp_opts_init). */
xai_status xai_nn_attribute(const xai_nn *net, xai_nn_method method, const float *x, size_t n,
                            const int64_t *targets, const xai_nn_attr_opts *opts, float *out,
                            xai_error *err);

typedef enum xai_nn_smooth_kind {
    XAI_NN_SMOOTH_PLAIN = 0,    /* mean of the attributions */
    XAI_NN_SMOOTH_SQUARED = 1,  /* mean of their squares */
    XAI_NN_SMOOTH_VARGRAD = 2   /* their variance (divisor n) */
} xai_nn_smooth_kind;

typedef struct xai_nn_smooth_opts {
    size_t n_samples;           /* 0 = 50 */
    double sigma;               /* noise sd as a fraction of max(x) - min(x); < 0 = 0.15 */
    xai_nn_smooth_kind kind;
    uint64_t seed;              /* noise from xai_rng stream 0 of this seed */
} xai_nn_smooth_opts;

/* SmoothGrad for ONE input x (input_size floats): `method` on n_samples
 * copies of x plus Gaussian noise, combined by kind. The target is fixed
 * (target < 0: the predicted class of x), not re-chosen per noisy copy. */
xai_status xai_nn_smoothgrad(const xai_nn *net, xai_nn_method method, const float *x,
                             int64_t target, const xai_nn_attr_opts *attr,
                             const xai_nn_smooth_opts *opts, float *out, xai_error *err);

/* ---- Grad-CAM ---------------------------------------------------------- */

/* Grad-CAM at the output of layer `layer` (usually a conv layer, before its
 * ReLU): channel weights a_c = mean over positions of d logit_t / dA_c, map =
 * sum_c a_c A_c, then max(map, 0) if `relu`. Without `upsample` out gets n x
 * H' x W' floats (the layer's spatial shape); with it, n x H x W of the
 * input, by bilinear interpolation (align_corners = false, like
 * torch.nn.functional.interpolate). */
xai_status xai_nn_gradcam(const xai_nn *net, size_t layer, const float *x, size_t n,
                          const int64_t *targets, bool relu, bool upsample, float *out,
                          xai_error *err);

/* ---- by name, for the daemon ------------------------------------------- */

/* Runs a native method on ONE input x (input_size floats) and returns an
 * xai_result: values = the attribution map (d = input_size, or H'W' for
 * Grad-CAM without upsampling), rank 3 and shape {C, H, W} (rank 2 for
 * Grad-CAM), feature names "c,y,x", target, fx = the target logit.
 * Methods and their params (all optional; unknown keys are XAI_ERR_INVALID):
 *   every method    "target" int (default: predicted class); "seed" int >= 0
 *                   (0; only smoothgrad draws random numbers; kept in the
 *                   result)
 *   "saliency"      "abs" bool (false)
 *   "grad_x_input"
 *   "integrated_gradients"  "steps" int (50), "rule" "riemann_right" |
 *                   "trapezoid" | "gauss_legendre", "baseline" array of
 *                   input_size numbers (zeros); extra {"delta": completeness}
 *   "guided_backprop", "deconvnet"
 *   "lrp"           "composite" "none" | "epsilon_plus" | "epsilon_plus_flat"
 *                   | "epsilon_gamma_box" | "epsilon_alpha2_beta1";
 *                   "rules" array of n_layers strings ("default", "zero",
 *                   "epsilon", "gamma", "zplus", "alpha_beta", "flat",
 *                   "wsquare", "zbox"); "epsilon", "gamma", "alpha",
 *                   "low", "high" numbers
 *   "smoothgrad"    "base" method name (saliency), "n_samples" (50),
 *                   "sigma" (0.15), "kind" "plain" | "squared" | "vargrad",
 *                   plus the base method's params
 *   "gradcam"       "layer" int (default: the last conv layer), "relu" bool
 *                   (true), "upsample" bool (true)
 * Unknown method: XAI_ERR_UNKNOWN_METHOD. */
xai_status xai_nn_explain(const xai_nn *net, const char *method, const float *x,
                          const xai_value *params, xai_result **out, xai_error *err);
/* NULL-terminated list of the method names xai_nn_explain knows. */
const char *const *xai_nn_method_names(void);
/* Checks that `params` (a map or NULL) holds only parameters native method
 * `method` takes, as xai_nn_explain would, without running it (so a daemon
 * can refuse an unknown one before accepting the job). XAI_ERR_INVALID
 * naming the key; XAI_ERR_UNKNOWN_METHOD for a name not in
 * xai_nn_method_names(). */
xai_status xai_nn_check_params(const char *method, const xai_value *params, xai_error *err);

/* ---- the network as a model for sampling methods ----------------------- */

/* Fills *model so the evaluator can call the network: ROWS input of
 * input_size doubles, n_outputs = output_size; outputs are what
 * xai_nn_forward returns (softmax probabilities when the network ends in
 * softmax), or the logits when `logits` is set. The model borrows `net`
 * (ctx = net), which must outlive it. name may be NULL. */
void xai_nn_model(const xai_nn *net, bool logits, const char *name, xai_model *model);

/* Tensor space over x (c x h x w doubles, copied): features are pixels (all
 * channels of one position) or patch x patch squares (the last ones clipped
 * at the border); a removed feature takes the baseline value (baseline: c x
 * h x w doubles, or NULL for `fill`). Renders ROWS of c*h*w doubles. Names
 * are "y,x" of a pixel or of a patch's top-left corner. */
typedef struct xai_tensor_space_opts {
    size_t patch;               /* side of a square feature; 0 or 1 = pixels */
    const double *baseline;     /* c*h*w values, or NULL */
    double fill;                /* baseline value when baseline is NULL */
} xai_tensor_space_opts;

xai_status xai_space_tensor_new(const double *x, size_t c, size_t h, size_t w,
                                const xai_tensor_space_opts *opts, xai_space **out,
                                xai_error *err);
/* The feature grid of a tensor space: features are laid out row-major in
 * grid_h x grid_w (h x w for pixels). Zeros for other spaces. */
void xai_space_tensor_grid(const xai_space *s, size_t *grid_h, size_t *grid_w);

/* ---- faithfulness ------------------------------------------------------ */

/* Pixel flipping (Samek et al. 2017) over the features of an evaluator's
 * space: order features by decreasing attribution (ties by index), then
 *   deletion:  start from the all-ones mask, remove the next `step` features,
 *              record f_t, until everything is removed;
 *   insertion: start from all zeros and add features in the same order.
 * curve[0] is the score before any change; curve has n_steps + 1 entries,
 * n_steps = ceil(d / step). AOPC = mean over k = 0..n_steps of
 * (curve_del[0] - curve_del[k]) (higher: more faithful). Areas are the
 * trapezoid areas under each curve with x in [0, 1]. */
typedef struct xai_faithfulness {
    size_t n_steps;
    double *deletion;           /* n_steps + 1 scores (free with xai_free) */
    double *insertion;          /* n_steps + 1 scores (free with xai_free) */
    double aopc;
    double deletion_area, insertion_area;
} xai_faithfulness;

/* attr: d scores for the features of ev's space; target: output column;
 * step 0 = 1. On error the arrays are NULL. */
xai_status xai_faithfulness_run(xai_eval *ev, const double *attr, size_t target, size_t step,
                                xai_faithfulness *out, xai_error *err);
/* Frees the two curves (not the struct); NULL is fine. */
void xai_faithfulness_clear(xai_faithfulness *f);

/* ---- training (for examples and tests) --------------------------------- */

/* One step of plain SGD on the mean softmax cross-entropy of the logits over
 * n samples with integer labels. loss (may be NULL) gets the mean loss before
 * the step. Training does not touch explanations: call it single-threaded. */
xai_status xai_nn_sgd_step(xai_nn *net, const float *x, const int32_t *labels, size_t n,
                           float lr, double *loss, xai_error *err);

#ifdef __cplusplus
}
#endif
#endif
