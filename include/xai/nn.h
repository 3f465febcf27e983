/* nn.h — native neural networks: build or load a small network, run it on
 * batches, and explain it with gradients and layer-wise relevance propagation.
 *
 * A network is a chain of layers over NCHW float32 tensors: dense, conv2d
 * (kernel, stride, zero padding), maxpool2d, avgpool2d, global average pool,
 * flatten, relu, tanh, sigmoid and softmax (last layer only); conv1d and
 * token pooling for sequences (text networks, below); or a graph of them,
 * with branches joined by add (skip connections) and concat. Batch norm is
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
#include "methods.h"

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
    XAI_NN_SOFTMAX = 10,
    XAI_NN_CONV1D = 11,
    XAI_NN_TOKEN_POOL = 12,
    XAI_NN_ADD = 13,
    XAI_NN_CONCAT = 14,
    XAI_NN_LAYERNORM = 15,
    XAI_NN_ATTENTION = 16
} xai_nn_layer_kind;

/* How token_pool reduces the positions of each channel. Stable numbers. */
typedef enum xai_nn_pool_mode {
    XAI_NN_POOL_MEAN = 0,
    XAI_NN_POOL_MAX = 1,
    XAI_NN_POOL_SUM = 2
} xai_nn_pool_mode;

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
/* 1-D convolution over the positions of a sequence c x 1 x L (a text
 * network's embedded tokens: c = the embedding dimension, L = the tokens):
 * kernel k, stride, zero padding on both ends of the sequence; output
 * out_channels x 1 x ((L + 2p - k)/s + 1). Weights out x c x k
 * (torch.nn.Conv1d's layout). */
xai_status xai_nn_add_conv1d(xai_nn *net, size_t out_channels, size_t kernel, size_t stride,
                             size_t padding, xai_error *err);
/* Pooling over all positions of each channel (c x h x w -> c x 1 x 1):
 * the mean, the max (the first maximum wins the gradient) or the sum. On
 * a text network the positions are the tokens, however many the text has. */
xai_status xai_nn_add_token_pool(xai_nn *net, xai_nn_pool_mode mode, xai_error *err);
xai_status xai_nn_add_flatten(xai_nn *net, xai_error *err);
xai_status xai_nn_add_relu(xai_nn *net, xai_error *err);
xai_status xai_nn_add_tanh(xai_nn *net, xai_error *err);
xai_status xai_nn_add_sigmoid(xai_nn *net, xai_error *err);
xai_status xai_nn_add_softmax(xai_nn *net, xai_error *err);
/* Sequence layers over c x 1 x L (channel = feature, position = token):
 * layer norm normalises each position over its c features, y = gamma (x -
 * mean) / sqrt(var + eps) + beta (gamma, beta: the layer's weights and
 * biases, c each; gamma starts at 1); multi-head self-attention
 * (torch.nn.MultiheadAttention, batch_first, self-attention, no dropout):
 * Q, K, V = W_in x + b_in split in three, per head softmax(Q_h^T K_h /
 * sqrt(c / heads)) over the keys, outputs concatenated and W_out applied.
 * Weights: in_proj_weight (3c x c) then out_proj.weight (c x c), 4 c^2
 * floats; biases in_proj_bias (3c) then out_proj.bias (c). A text of n
 * tokens attends over exactly its n tokens, which is what torch computes
 * for it with a key padding mask over the padded positions. heads must
 * divide c. */
xai_status xai_nn_add_layernorm(xai_nn *net, float eps, xai_error *err);
xai_status xai_nn_add_attention(xai_nn *net, size_t heads, xai_error *err);
/* The attention weights of attention layer `layer` for n inputs: out gets
 * n x heads x L x L floats, row i of head h the weights query i gives the
 * keys (each row sums to 1). */
xai_status xai_nn_attention_weights(const xai_nn *net, size_t layer, const float *x, size_t n,
                                    float *out, xai_error *err);

/* Graphs. A layer reads the output of the layer added before it, unless
 * branch_from names another: the next layer added reads the output of
 * layer `from` ((size_t)-1: the network's input), and the layers after it
 * follow on from there. add and concat join two tensors: the current one
 * (the last layer's output, or the branch point) and the output of layer
 * `other` ((size_t)-1: the input). add sums them element-wise (same shape;
 * a skip connection); concat stacks their channels (same h x w; the
 * current tensor's channels first, like torch.cat((x, y), dim=1)). Layers
 * are kept in the order added, which is a topological order. */
xai_status xai_nn_branch_from(xai_nn *net, size_t from, xai_error *err);
xai_status xai_nn_add_add(xai_nn *net, size_t other, xai_error *err);
xai_status xai_nn_add_concat(xai_nn *net, size_t other, xai_error *err);
/* The layers whose outputs layer `layer` reads (in[0], and in[1] for add
 * and concat; (size_t)-1 = the network input); returns how many (0 for an
 * index out of range). */
size_t xai_nn_layer_inputs(const xai_nn *net, size_t layer, size_t in[2]);

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
 *   gamma       the generalised gamma rule (zennit's Gamma): where z_k > 0,
 *               q = a_j^+ (w_jk + gamma w_jk^+) + a_j^- (w_jk + gamma w_jk^-),
 *               bias b_k + gamma b_k^+ in the denominator; where z_k < 0,
 *               q = a_j^+ (w_jk + gamma w_jk^-) + a_j^- (w_jk + gamma w_jk^+),
 *               bias b_k + gamma b_k^-; z_k = 0 sends nothing. For a_j >= 0
 *               and z_k > 0 this is the original rule, a_j (w + gamma w^+)
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
 * add splits each element's relevance between its summands in proportion
 * to their values, a / (a + b) and b / (a + b) (zennit's residual
 * canonizer: its Sum under the Norm rule), stabilised by pool_epsilon;
 * concat gives each input its channels' relevance.
 * Other layers: max pooling gives each window's relevance to its winner,
 * average pooling (and global average pooling) in proportion to the inputs
 * (LRP-0 on the pooling as a linear map, stabilised by pool_epsilon), flatten and
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
 *   EPSILON_GAMMA_BOX z^B on the first conv layer, gamma on the other conv
 *                     layers, epsilon on dense (zennit's EpsilonGammaBox: an
 *                     MLP gets epsilon everywhere; ask for z^B on a first
 *                     dense layer with a per-layer list)
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
    double epsilon;             /* epsilon rule; < 0 = 1e-6 */
    double gamma;               /* < 0 = 0.25 */
    double alpha;               /* alpha-beta: alpha, beta = alpha - 1; < 1 = 2 */
    float low, high;            /* z^B bounds when low_v/high_v are NULL;
                                   both 0 = the sample's min and max */
    const float *low_v, *high_v;/* per-pixel bounds (input_size floats), or NULL */
    double pool_epsilon;        /* average-pooling stabilizer (zennit: 1e-6 whatever
                                   the rules' epsilon); < 0 = 1e-6 */
} xai_nn_lrp_opts;

/* Fills opts with the defaults (composite NONE, epsilon 1e-6, gamma 0.25,
 * alpha 2, bounds from the data, pool_epsilon 1e-6). */
void xai_nn_lrp_opts_init(xai_nn_lrp_opts *opts);

/* Relevance of every input for targets (see the conventions at the top).
 * opts NULL = defaults. */
xai_status xai_nn_lrp(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                      const xai_nn_lrp_opts *opts, float *out, xai_error *err);
/* The relevance at the input of every layer, for tests and for inspection:
 * per_layer[l] (caller-allocated, n x (size of layer l's input) floats) for
 * l in [0, logit_layer]; a NULL entry is skipped. per_layer[logit_layer + 1]
 * gets the starting relevance at the logits. In a network with branches
 * per_layer[l] is the relevance at the output of layer l - 1 (the input for
 * l = 0), which is layer l's input only when it reads the layer before. */
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

/* CAM (Zhou et al. 2016), for networks whose logits are a dense layer over
 * a global average pool (flatten between them allowed) of feature maps A
 * (C x H' x W'): map = sum_c w_tc A_c with w the dense weights of the
 * target (no bias), then max(map, 0) if `relu`; sizes as Grad-CAM's. It
 * equals H'W' times Grad-CAM at A (the gradient of logit t at A_c is
 * w_tc / H'W' everywhere). XAI_ERR_INVALID for other networks. */
xai_status xai_nn_cam(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                      bool relu, bool upsample, float *out, xai_error *err);
/* Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times Grad-CAM
 * at `layer` (with ReLU, upsampled to the input's H x W), the map repeated
 * over channels; out gets n x input_size floats. */
xai_status xai_nn_guided_gradcam(const xai_nn *net, size_t layer, const float *x, size_t n,
                                 const int64_t *targets, float *out, xai_error *err);
/* The output of layer `layer` for n inputs (filter and activation maps):
 * out gets n x (the layer's c*h*w) floats. */
xai_status xai_nn_activations(const xai_nn *net, size_t layer, const float *x, size_t n,
                              float *out, xai_error *err);

/* ---- activation maximization ---------------------------------------------
 * Gradient ascent on the input for one unit of any layer (a class logit by
 * default), or the mean of one channel over its positions (Erhan et al.
 * 2009; Simonyan et al. 2013; jitter and blur after Yosinski et al. 2015).
 * Each step: x += lr (dA/dx - 2 l2 x), the gradient taken at x rolled by a
 * random shift of up to `jitter` pixels in y and x (and rolled back); every
 * blur_every steps a [1 2 1]/4 blur along rows and columns; then x is
 * clipped to [low, high] (when low < high) and scaled into ||x|| <=
 * norm_bound (when > 0). Deterministic: the start noise (uniform in the
 * range, or in [-0.01, 0.01]) and the shifts come from `seed`. */
typedef struct xai_nn_actmax_opts {
    size_t layer;               /* (size_t)-1 = the logit layer */
    size_t unit;                /* index into the layer's c*h*w outputs, or a channel */
    bool channel;               /* maximise the mean of channel `unit` */
    size_t steps;               /* 100 */
    double lr;                  /* step size, > 0 (0.1) */
    double l2;                  /* L2 decay >= 0 (0) */
    size_t jitter;              /* pixels (0) */
    size_t blur_every;          /* steps (0: never) */
    double low, high;           /* input range (none when low >= high) */
    double norm_bound;          /* (0: none) */
    uint64_t seed;
    const float *start;         /* input_size floats, or NULL for seeded noise */
} xai_nn_actmax_opts;

void xai_nn_actmax_opts_init(xai_nn_actmax_opts *o);
/* x gets the input found (input_size floats); activations (steps + 1
 * doubles, may be NULL) the objective before any step and after each. */
xai_status xai_nn_activation_max(const xai_nn *net, const xai_nn_actmax_opts *o, float *x,
                                 double *activations, xai_error *err);

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
 *                   "low", "high", "pool_epsilon" numbers
 *   "smoothgrad"    "base" method name (saliency), "n_samples" (50),
 *                   "sigma" (0.15), "kind" "plain" | "squared" | "vargrad",
 *                   plus the base method's params
 *   "gradcam"       "layer" int (default: the last conv layer), "relu" bool
 *                   (true), "upsample" bool (true)
 *   "cam"           "relu" (true), "upsample" (true): xai_nn_cam; rank 2
 *   "guided_gradcam" "layer" (the last conv layer): input-shaped map
 *   "activations"   "layer" int (required): the layer's output, rank 3 in
 *                   the layer's shape
 *   "activation_max" (x may be NULL) "layer" (logits), "unit" (0),
 *                   "channel" bool, "steps" (100), "lr" (0.1), "l2" (0),
 *                   "jitter" (0), "blur_every" (0), "low", "high" (no
 *                   range), "norm_bound" (0), "start" bool (false: seeded
 *                   noise; true: start from x), "seed": the input found,
 *                   input-shaped; fx = the final objective; extra
 *                   {"activations": steps + 1 values, "layer", "unit",
 *                   "channel"}; target = the unit on the logits, else -1
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
/* The one-line description of native method `method`, NULL when unknown. */
const char *xai_nn_method_doc(const char *method);
/* The number of parameters native method `method` (a name of
 * xai_nn_method_names()) takes, 0 when unknown: "seed" and "target" first,
 * then its own, then those of text networks only ("attention" on every
 * method but gradcam and activation_max; activation_max's "length").
 * smoothgrad also takes its base method's parameters. */
size_t xai_nn_method_n_params(const char *method);
/* Parameter i < xai_nn_method_n_params(method), NULL past the end: the
 * defaults are the ones xai_nn_explain uses. Static data; nothing to free. */
const xai_param_info *xai_nn_method_param(const char *method, size_t i);

/* ---- text networks ------------------------------------------------------
 * A text network reads a text: xaid's PCRE2 tokenizer (include/xai/text.h)
 * splits it into tokens, each token (ASCII letters folded to lower case
 * when `lowercase`) is looked up in the vocabulary (out-of-vocabulary
 * tokens get index `oov`), and the embedding (n_vocab x dim float32, the
 * layout of torch.nn.Embedding.weight) turns the n tokens into a sequence
 * dim x 1 x n: channel = embedding dimension, position = token. The layers
 * then run on that sequence: conv1d over positions, activations,
 * token_pool (mean / max / sum over the tokens) down to a vector, dense
 * layers. Layers before the pooling take any number of tokens; the network
 * is instantiated for each text's length (the weights are shared), so a
 * text of n tokens runs exactly as torch runs it on those n tokens.
 *
 * The network's nominal input (xai_nn_input_size, xai_nn_gradient, ...) is
 * the sequence of max_len tokens, dim x 1 x max_len; the text functions
 * below are what a caller normally uses. */
typedef struct xai_nn_text_opts {
    const char *const *vocab;   /* n_vocab distinct UTF-8 strings */
    size_t n_vocab;
    size_t dim;                 /* embedding dimension >= 1 */
    size_t oov;                 /* index of the out-of-vocabulary entry, < n_vocab */
    bool lowercase;             /* fold A-Z to a-z before the lookup */
    const char *pattern;        /* token pattern; NULL or "" = XAI_DEFAULT_TOKEN_PATTERN */
    size_t max_len;             /* most tokens a text may have; 0 = 512 */
} xai_nn_text_opts;

/* A text network without layers (embedding zero; set it with
 * xai_nn_set_embedding). XAI_ERR_INVALID for duplicate or empty words, an
 * oov out of range, zero dim; XAI_ERR_PATTERN for a pattern that does not
 * compile. */
xai_status xai_nn_new_text(const xai_nn_text_opts *opts, xai_nn **out, xai_error *err);
/* Sets the embedding, n_vocab x dim floats (nw must be exactly that). */
xai_status xai_nn_set_embedding(xai_nn *net, const float *w, size_t nw, xai_error *err);
/* Whether net reads text; its embedding (NULL, 0 for other networks). */
bool xai_nn_is_text(const xai_nn *net);
void xai_nn_get_embedding(const xai_nn *net, const float **w, size_t *n_vocab, size_t *dim);
/* The vocabulary index of one token (after case folding), or the oov index.
 * (size_t)-1 for a network that is not a text network. */
size_t xai_nn_token_index(const xai_nn *net, const char *token, size_t len);
/* Tokenizes text[0..len) with the network's tokenizer and looks every token
 * up. *toks (free with xai_tokens_free) and *ids (toks->n entries, free
 * with xai_free) are the caller's; both NULL on error. XAI_ERR_LIMIT when
 * the text has more than max_len tokens. */
xai_status xai_nn_text_ids(const xai_nn *net, const char *text, size_t len, xai_tokens **toks,
                           int64_t **ids, xai_error *err);
/* The network's logits (or its final outputs, `logits` false) for each of
 * n texts: out gets n x k floats. A text must have at least as many tokens
 * as the layers need (a conv1d's kernel, without padding). */
xai_status xai_nn_text_forward(const xai_nn *net, const char *const *texts, const size_t *lens,
                               size_t n, bool logits, float *out, xai_error *err);

/* A native method on one text, with one value per token: the method runs on
 * the embedded sequence (dim x n values) exactly as xai_nn_explain runs it
 * on a tensor, and token t's value is the sum over the dim embedding values
 * of token t (gradient x input, integrated gradients and LRP summed are the
 * token's share of the logit: LRP conserves per token, IG is complete over
 * the tokens; saliency sums the gradient, or its absolute values with
 * "abs"). The result looks like a sampling method's on a text space:
 * d = n tokens, feature names = the tokens' text, the text and every
 * token's span, token_feature[t] = t, rank 0; target and fx as in
 * xai_nn_explain. Methods and params as xai_nn_explain, except gradcam
 * (not for text networks) and "baseline" (dim x n numbers: an embedded
 * baseline; default zeros); "attention": true adds extra.attention, for
 * every attention layer {"layer", "heads", "weights": heads x n x n}
 * (xai_nn_attention_weights); "activation_max" takes "length" (8)
 * positions and needs no text (text may be NULL). XAI_ERR_INVALID for a network that does not
 * read text, a text without tokens, or too few tokens for its layers. */
xai_status xai_nn_explain_text(const xai_nn *net, const char *method, const char *text,
                               size_t len, const xai_value *params, xai_result **out,
                               xai_error *err);

/* Occlusion on token indices, without rendering text: values[t] =
 * f_target(text) - f_target(text with token t replaced by the index of
 * mask_token (NULL = "UNK"; the oov index when it is not in the
 * vocabulary)), all n + 1 sequences in one batch. What the sampling
 * occlusion computes through a text space whose mask token is mask_token
 * (window 1), without re-tokenizing. target < 0 = the predicted class. The
 * result is shaped as xai_nn_explain_text's (method "occlusion"). */
xai_status xai_nn_text_occlusion(const xai_nn *net, const char *text, size_t len,
                                 const char *mask_token, int64_t target, xai_result **out,
                                 xai_error *err);

/* ---- the network as a model for sampling methods ----------------------- */

/* Fills *model so the evaluator can call the network: ROWS input of
 * input_size doubles, n_outputs = output_size; outputs are what
 * xai_nn_forward returns (softmax probabilities when the network ends in
 * softmax), or the logits when `logits` is set. The model borrows `net`
 * (ctx = net), which must outlive it. name may be NULL. */
void xai_nn_model(const xai_nn *net, bool logits, const char *name, xai_model *model);
/* The same for a text network: a TEXT model; each text is tokenized and
 * embedded by the network (xai_nn_text_forward). */
void xai_nn_text_model(const xai_nn *net, bool logits, const char *name, xai_model *model);

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
 * n samples with integer labels (chains only: a network with branches is
 * XAI_ERR_INVALID). loss (may be NULL) gets the mean loss before
 * the step. Training does not touch explanations: call it single-threaded. */
xai_status xai_nn_sgd_step(xai_nn *net, const float *x, const int32_t *labels, size_t n,
                           float lr, double *loss, xai_error *err);

#ifdef __cplusplus
}
#endif
#endif
