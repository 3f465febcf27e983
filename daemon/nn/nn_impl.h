/* nn_impl.h — what a native network is inside libxai: layers with shapes and
 * weights, the forward trace that backward passes read, and the per-layer
 * primitives the files of daemon/nn share.
 *
 * Invariants: layer i reads a tensor of shape in_c x in_h x in_w and writes
 * out_c x out_h x out_w; layer i's output shape is layer i+1's input shape;
 * only the last layer may be softmax. Dense weights are out x in row-major,
 * conv weights out_c x in_c x kh x kw: both are an O x K matrix with K the
 * fan-in, so dense is conv with a 1x1 "image". Tensors are NCHW, one sample
 * after the other.
 */
#ifndef XD_NN_IMPL_H
#define XD_NN_IMPL_H

#include <stdatomic.h>
#include "xai/nn.h"
#include "xai/text.h"

typedef struct xd_nn_layer {
    xai_nn_layer_kind kind;
    size_t in_c, in_h, in_w;
    size_t out_c, out_h, out_w;
    size_t kh, kw, stride, pad; /* conv and pooling; pad: left/right (and top/bottom for conv2d) */
    size_t pad_h;               /* top/bottom padding (conv2d: = pad; conv1d: 0) */
    xai_nn_pool_mode mode;      /* token_pool */
    size_t src, src2;           /* trace index of the input(s): 0 = the network input,
                                   k = the output of layer k - 1 (a chain: src = l) */
    size_t in2_c, in2_h, in2_w; /* add, concat: the second input's shape */
    size_t heads;               /* attention */
    float eps;                  /* layernorm */
    float *w;                   /* O x K (dense/conv), owned */
    float *b;                   /* O, owned */
    size_t nw, nb;
} xd_nn_layer;

#define XD_NN_POOL 12

/* Marks a function whose loops are plain element-wise passes worth SIMD.
 * The library builds at -O2, where GCC (unlike clang) vectorizes only loops
 * whose trip count it knows; these loops never reorder a sum, so results
 * do not change. */
#if defined(__GNUC__) && !defined(__clang__)
#define XD_NN_SIMD __attribute__((optimize("tree-vectorize")))
#else
#define XD_NN_SIMD
#endif

/* Marks a layout or pooling loop worth an AVX2 copy, chosen at load time
 * where the CPU has it (GCC's target_clones; the library itself builds for
 * x86-64-v2). The loops copy, select and add without reordering any sum, so
 * both copies give the same bits (checked on the digits CNN: gradient x
 * input and LRP at batch 1024, identical); the AVX2 copy makes the CNN's
 * gradient ~20% cheaper in CPU time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define XD_NN_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define XD_NN_AVX2_CLONE
#endif

/* What makes a network read text (text.c): the tokenizer, the vocabulary
 * and the embedding. */
typedef struct xd_nn_text {
    size_t n_vocab, dim, oov, max_len;
    bool lowercase;
    char *pattern;       /* NULL = the default */
    char **words;        /* n_vocab, owned */
    size_t *sorted;      /* word indices in strcmp order, for lookups */
    float *emb;          /* n_vocab x dim, owned */
    xai_tokenizer *tok;
} xd_nn_text;

struct xai_nn {
    size_t in_c, in_h, in_w;
    size_t n, cap;
    xd_nn_layer *layers;
    xd_nn_text *text;               /* NULL unless the network reads text */
    bool borrowed;                  /* an instance (xd_nn_instance): weights and
                                       text belong to the network it was made from */
    size_t branch;                  /* building: 1 + the trace index the next layer
                                       reads; 0 = the last layer's output */
    void *_Atomic pool[XD_NN_POOL]; /* scratch.c: reusable buffers */
};

/* Layers with an O x K weight matrix: dense, conv2d, conv1d. */
static inline bool xd_nn_is_linear(const xd_nn_layer *L) {
    return L->kind == XAI_NN_DENSE || L->kind == XAI_NN_CONV2D || L->kind == XAI_NN_CONV1D;
}
static inline bool xd_nn_is_conv(const xd_nn_layer *L) {
    return L->kind == XAI_NN_CONV2D || L->kind == XAI_NN_CONV1D;
}
/* Pooling kinds, as windows: max or a scaled sum (mean: 1/window). */
static inline bool xd_nn_pool_is_max(const xd_nn_layer *L) {
    return L->kind == XAI_NN_MAXPOOL2D || (L->kind == XAI_NN_TOKEN_POOL && L->mode == XAI_NN_POOL_MAX);
}
static inline float xd_nn_pool_scale(const xd_nn_layer *L) {
    if (L->kind == XAI_NN_TOKEN_POOL && L->mode == XAI_NN_POOL_SUM) return 1.0f;
    return 1.0f / (float)(L->kh * L->kw);
}
static inline bool xd_nn_is_pool(const xd_nn_layer *L) {
    return L->kind == XAI_NN_MAXPOOL2D || L->kind == XAI_NN_AVGPOOL2D ||
           L->kind == XAI_NN_GLOBAL_AVGPOOL || L->kind == XAI_NN_TOKEN_POOL;
}

/* Whether every layer reads the one before it (no branch, add or concat):
 * such networks take the fused chain passes of backward.c. */
static inline bool xd_nn_is_chain(const xai_nn *net) {
    for (size_t l = 0; l < net->n; l++)
        if (net->layers[l].src != l || net->layers[l].kind == XAI_NN_ADD ||
            net->layers[l].kind == XAI_NN_CONCAT)
            return false;
    return true;
}
static inline bool xd_nn_is_merge(const xd_nn_layer *L) {
    return L->kind == XAI_NN_ADD || L->kind == XAI_NN_CONCAT;
}

/* graph.c: add / concat forward on n samples (a, b: the two inputs);
 * xd_nn_graph_backward below. */
void xd_nn_merge_fwd(const xd_nn_layer *L, const float *a, const float *b, size_t n, float *out);

/* attention.c: layer norm and self-attention on n samples (c x 1 x L
 * each). bwd: gin from gout; `detach` treats the attention weights and the
 * layer norm's 1/sigma as constants (the conservative propagation of Ali et
 * al. 2022, for LRP), else the true gradient. lrp: the relevance rin of rout
 * under that rule with stabiliser eps. */
static inline bool xd_nn_is_seq(const xd_nn_layer *L) {
    return L->kind == XAI_NN_LAYERNORM || L->kind == XAI_NN_ATTENTION;
}
xai_status xd_nn_seq_fwd(const xd_nn_layer *L, const float *in, size_t n, float *out,
                         xai_error *err);
xai_status xd_nn_seq_bwd(const xd_nn_layer *L, bool detach, const float *in, const float *gout,
                         size_t n, float *gin, xai_error *err);
xai_status xd_nn_seq_lrp(const xd_nn_layer *L, float eps, const float *in, const float *outv,
                         const float *rout, size_t n, float *rin, xai_error *err);

/* Frees a network's text part (text.c); NULL is fine. */
void xd_nn_text_free(xd_nn_text *t);
/* The embedded sequence of n token ids: dim x 1 x n floats into out. */
void xd_nn_embed(const xai_nn *net, const int64_t *ids, size_t n, float *out);
/* Runs m sequences of n token ids each (ids: m x n) through a text network
 * instantiated for n tokens; out gets m x (n_logits, or output_size when
 * !logits) floats. */
xai_status xd_nn_text_run(const xai_nn *net, const int64_t *ids, size_t m, size_t n, bool logits,
                          float *out, xai_error *err);

/* The network tmpl laid out for inputs tmpl->in_c x tmpl->in_h x width:
 * the same layers and weights (borrowed: tmpl must outlive it), every
 * shape recomputed; an error naming the first layer that does not fit.
 * Free with xai_nn_free. */
xai_status xd_nn_instance(const xai_nn *tmpl, size_t width, xai_nn **out, xai_error *err);

/* Layer l is a ReLU right after a dense or conv layer, a pair one pass
 * does: forward, the product writes the ReLU's output too
 * (xd_nn_linear_fwd_relu); backward, the ReLU's mask rides into the
 * product (XD_NN_PRE_RELU). */
static inline bool xd_nn_relu_on_linear(const xai_nn *net, size_t l) {
    if (l == 0 || net->layers[l].kind != XAI_NN_RELU || net->layers[l].src != l) return false;
    return xd_nn_is_linear(&net->layers[l - 1]);
}

/* Reusable scratch of at least n floats (NULL on out of memory), returned
 * with give(); clear() frees the pool (xai_nn_free). See scratch.c. */
float *xd_nn_scratch_take(const xai_nn *net, size_t n_floats);
void xd_nn_scratch_give(const xai_nn *net, float *p);
void xd_nn_scratch_clear(xai_nn *net);

/* Floats per sample at the input of layer l (l == n: the network's output). */
size_t xd_nn_act_size(const xai_nn *net, size_t l);
/* Rows of the O x K weight matrix and its K. */
static inline size_t xd_nn_fan_in(const xd_nn_layer *L) {
    return L->nw / (L->nb ? L->nb : 1);
}

/* A forward pass kept for backward passes: act[l] is the input of layer l
 * (n x act_size(l) floats) for l = 0..top, act[top] the output of layer
 * top - 1. One buffer holds them all. */
typedef struct xd_nn_trace {
    const xai_nn *net; /* owner of buf's pool */
    size_t n, top;
    float **act; /* top + 1 pointers into buf */
    float *buf;
} xd_nn_trace;

/* Runs layers [0, top) on x (copied into act[0]). XAI_ERR_NOMEM when the
 * buffers do not fit. Release with xd_nn_trace_free (also after failure). */
xai_status xd_nn_trace_run(const xai_nn *net, const float *x, size_t n, size_t top, xd_nn_trace *t,
                           xai_error *err);
void xd_nn_trace_free(xd_nn_trace *t);

/* Linear maps of a dense or conv layer on n samples, with weights w (O x K,
 * possibly modified copies of L->w):
 *   fwd:  out = W in (+ bias b when not NULL)
 *   bwd:  gin = W^T gout  (the gradient with respect to the input)
 *   wgrad: dw += gout in^T, db += sum gout (training)
 * Conv goes through im2col into a scratch buffer from net's pool:
 * XAI_ERR_NOMEM if it cannot be had. */
xai_status xd_nn_linear_fwd(const xai_nn *net, const xd_nn_layer *L, const float *w, const float *b,
                            const float *in, size_t n, float *out, xai_error *err);
xai_status xd_nn_linear_bwd(const xai_nn *net, const xd_nn_layer *L, const float *w,
                            const float *gout, size_t n, float *gin, xai_error *err);
xai_status xd_nn_linear_wgrad(const xai_nn *net, const xd_nn_layer *L, const float *in,
                              const float *gout, size_t n, float *dw, float *db, xai_error *err);

/* An element-wise map fused into a backward product, applied to gout on
 * its way in (in the copy that lays it out for sgemm); aux is n x the
 * layer's output size, like gout:
 *   XD_NN_PRE_NONE  gout as is
 *   XD_NN_PRE_RELU  gout where aux > 0, else 0: the gradient through the
 *                   ReLU above the layer, aux that ReLU's input
 *   XD_NN_PRE_LRP   LRP's s = gout / (aux + eps sign aux), 0 where that
 *                   denominator is 0, aux the layer's output z */
typedef enum { XD_NN_PRE_NONE, XD_NN_PRE_RELU, XD_NN_PRE_LRP } xd_nn_pre_kind;
typedef struct xd_nn_pre {
    xd_nn_pre_kind kind;
    const float *aux;
    float eps;
} xd_nn_pre;

/* linear_fwd that also writes max(out, 0) into relu when it is not NULL
 * (a ReLU layer that follows, fused); linear_bwd with gout through pre
 * (NULL: none). */
xai_status xd_nn_linear_fwd_relu(const xai_nn *net, const xd_nn_layer *L, const float *w,
                                 const float *b, const float *in, size_t n, float *out,
                                 float *relu, xai_error *err);
xai_status xd_nn_linear_bwd_pre(const xai_nn *net, const xd_nn_layer *L, const float *w,
                                const xd_nn_pre *pre, const float *gout, size_t n, float *gin,
                                xai_error *err);

/* s[i] = R[i] / (z[i] + eps sign z[i]), 0 where that denominator is 0. */
void xd_nn_lrp_divide(const float *R, const float *z, size_t sz, float eps, float *s);

/* out = max(in, 0), element-wise (forward.c). */
void xd_nn_relu_fwd(const float *in, size_t sz, float *out);

/* Softmax of one row z[0..k) into p; returns log sum exp z (for losses). */
double xd_nn_softmax_row(const float *z, size_t k, float *p);

/* Forward of one layer without weights (pooling, activations, flatten,
 * softmax) on n samples. */
void xd_nn_simple_fwd(const xd_nn_layer *L, const float *in, size_t n, float *out);

/* How a backward pass treats each layer. */
typedef enum xd_nn_mode { XD_NN_GRAD, XD_NN_GUIDED, XD_NN_DECONV, XD_NN_LRP } xd_nn_mode;

/* One LRP rule resolved for one layer, with its parameters. */
typedef struct xd_nn_lrp_rule {
    xai_nn_rule rule;
    float eps, gamma, alpha, beta;
    const float *low, *high; /* z^B: n x K bounds for this pass */
} xd_nn_lrp_rule;

typedef struct xd_nn_bwd {
    xd_nn_mode mode;
    const xd_nn_lrp_rule *rules; /* LRP: one per layer */
    float pool_eps;              /* LRP stabilizer for average pooling */
    size_t stop;                 /* result at the input of layer `stop` */
    float *const *per_layer;     /* optional copies of the signal at each layer's input */
} xd_nn_bwd;

/* The backward walk of a network with branches (graph.c): the contract of
 * xd_nn_backward, which hands such networks to it. */
xai_status xd_nn_graph_backward(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b,
                                const float *seed, float *out, xai_error *err);
/* One layer's backward step (backward.c) with gin for its (first) input;
 * not for add / concat. */
xai_status xd_nn_step(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b, size_t l,
                      const float *gout, float *gin, xai_error *err);

/* Propagates `seed` (n x act_size(t->top)) down through layers top-1 ..
 * stop; out gets n x act_size(stop). */
xai_status xd_nn_backward(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b,
                          const float *seed, float *out, xai_error *err);

/* Forward to the logits, targets per sample (NULL: argmax), a seed of one
 * at each target (times the logit's value under LRP), then the backward
 * walk down to b->stop into out. logits_out (n x n_logits) may be NULL.
 * When keep is not NULL it receives the forward trace on success (free it
 * with xd_nn_trace_free), zeroed otherwise. */
xai_status xd_nn_explain_pass(const xai_nn *net, const xd_nn_bwd *b, const float *x, size_t n,
                              const int64_t *targets, float *out, float *logits_out,
                              xd_nn_trace *keep, xai_error *err);

/* Backward of a layer without weights under GRAD/GUIDED/DECONV (pooling,
 * activations, flatten): in/outv are the layer's stored input and output. */
void xd_nn_simple_bwd(const xd_nn_layer *L, xd_nn_mode mode, const float *in, const float *outv,
                      const float *gout, size_t n, float *gin);
/* LRP through one layer (dense/conv by rule; pooling proportional or to the
 * winner; others pass through). */
xai_status xd_nn_lrp_layer(const xai_nn *net, const xd_nn_layer *L, const xd_nn_lrp_rule *r,
                           float pool_eps, const float *in, const float *outv, const float *rout,
                           size_t n, float *rin, xai_error *err);

/* Per-sample targets: copies `targets` (checked against k) or takes the
 * argmax of each row of logits (n x k). */
xai_status xd_nn_targets(const int64_t *targets, const float *logits, size_t n, size_t k,
                         size_t *out, xai_error *err);

/* The parameter tables of the native method families (params.c), each
 * ended by a NULL name: the one source of the keys explain.c accepts. */
extern const xai_param_info xd_nn_params_common[], xd_nn_params_saliency[], xd_nn_params_ig[],
    xd_nn_params_lrp[], xd_nn_params_smooth[], xd_nn_params_gradcam[], xd_nn_params_cam[],
    xd_nn_params_guided_gradcam[], xd_nn_params_activations[], xd_nn_params_actmax[],
    xd_nn_params_text_attention[], xd_nn_params_text_length[];
/* Whether native method `method` lists parameter `key` (params.c). */
bool xd_nn_method_takes(const char *method, const char *key);

#endif
