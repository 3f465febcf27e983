// nn_test_util.h — helpers for the native-network tests: a reference forward
// pass in double written independently of daemon/nn (plain loops over the
// public description of each layer), central finite differences on it, and
// small random networks of every layer kind.
#ifndef NN_TEST_UTIL_H
#define NN_TEST_UTIL_H

#include <gtest/gtest.h>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "xai/nn.h"
#include "xai/rng.h"
#include "xai/value.h"

namespace nnt {

using Vec = std::vector<double>;

struct Shape {
    size_t c, h, w;
};

inline Shape out_shape(const xai_nn *net, size_t l) {  // l = (size_t)-1: the input
    size_t s[3];
    xai_nn_layer_shape(net, l, s);
    return {s[0], s[1], s[2]};
}

// The (first) input shape of layer l, the output shape of layer l - 1 for
// l == n_layers.
inline Shape in_shape(const xai_nn *net, size_t l) {
    size_t in[2];
    if (l < xai_nn_n_layers(net) && xai_nn_layer_inputs(net, l, in) >= 1) return out_shape(net, in[0]);
    return out_shape(net, l - 1);
}

inline Vec ref_conv(const xai_nn *net, size_t l, const Vec &x) {
    Shape i = in_shape(net, l), o = out_shape(net, l);
    size_t kh, kw, st, pad, nw, nb;
    const float *w, *b;
    xai_nn_layer_geometry(net, l, &kh, &kw, &st, &pad);
    xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
    Vec y(o.c * o.h * o.w);
    for (size_t oc = 0; oc < o.c; oc++)
        for (size_t oy = 0; oy < o.h; oy++)
            for (size_t ox = 0; ox < o.w; ox++) {
                double acc = b[oc];
                for (size_t c = 0; c < i.c; c++)
                    for (size_t ky = 0; ky < kh; ky++)
                        for (size_t kx = 0; kx < kw; kx++) {
                            long iy = (long)(oy * st + ky) - (long)pad;
                            long ix = (long)(ox * st + kx) - (long)pad;
                            if (iy < 0 || ix < 0 || iy >= (long)i.h || ix >= (long)i.w) continue;
                            acc += (double)w[((oc * i.c + c) * kh + ky) * kw + kx] *
                                   x[(c * i.h + (size_t)iy) * i.w + (size_t)ix];
                        }
                y[(oc * o.h + oy) * o.w + ox] = acc;
            }
    return y;
}

inline Vec ref_pool(const xai_nn *net, size_t l, const Vec &x, bool is_max) {
    Shape i = in_shape(net, l), o = out_shape(net, l);
    size_t kh, kw, st, pad;
    xai_nn_layer_geometry(net, l, &kh, &kw, &st, &pad);
    if (kh == 0) kh = i.h, kw = i.w, st = 1;  // global average pooling
    Vec y(o.c * o.h * o.w);
    for (size_t c = 0; c < o.c; c++)
        for (size_t oy = 0; oy < o.h; oy++)
            for (size_t ox = 0; ox < o.w; ox++) {
                double m = -INFINITY, s = 0;
                for (size_t ky = 0; ky < kh; ky++)
                    for (size_t kx = 0; kx < kw; kx++) {
                        double v = x[(c * i.h + oy * st + ky) * i.w + ox * st + kx];
                        m = std::max(m, v);
                        s += v;
                    }
                y[(c * o.h + oy) * o.w + ox] = is_max ? m : s / (double)(kh * kw);
            }
    return y;
}

// Runs layers [0, upto) in double; a layer reads the outputs its inputs
// name (xai_nn_layer_inputs), so graphs run too.
inline Vec ref_forward(const xai_nn *net, Vec input, size_t upto) {
    std::vector<Vec> outs;
    Vec x;
    for (size_t l = 0; l < upto; l++) {
        size_t in[2] = {(size_t)-1, (size_t)-1};
        size_t n_in = xai_nn_layer_inputs(net, l, in);
        x = in[0] == (size_t)-1 ? input : outs[in[0]];
        const Vec &x2 = n_in < 2 ? x : in[1] == (size_t)-1 ? input : outs[in[1]];
        Vec y;
        switch (xai_nn_layer_kind_of(net, l)) {
        case XAI_NN_ADD: y = x; for (size_t i = 0; i < y.size(); i++) y[i] += x2[i]; break;
        case XAI_NN_CONCAT: y = x; y.insert(y.end(), x2.begin(), x2.end()); break;
        case XAI_NN_DENSE: {
            size_t nw, nb;
            const float *w, *b;
            xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
            size_t k = nw / nb;
            y.assign(nb, 0);
            for (size_t o = 0; o < nb; o++) {
                double acc = b[o];
                for (size_t j = 0; j < k; j++) acc += (double)w[o * k + j] * x[j];
                y[o] = acc;
            }
            break;
        }
        case XAI_NN_CONV2D: y = ref_conv(net, l, x); break;
        case XAI_NN_MAXPOOL2D: y = ref_pool(net, l, x, true); break;
        case XAI_NN_AVGPOOL2D:
        case XAI_NN_GLOBAL_AVGPOOL: y = ref_pool(net, l, x, false); break;
        case XAI_NN_RELU: y = x; for (double &v : y) v = v > 0 ? v : 0; break;
        case XAI_NN_TANH: y = x; for (double &v : y) v = std::tanh(v); break;
        case XAI_NN_SIGMOID: y = x; for (double &v : y) v = 1 / (1 + std::exp(-v)); break;
        case XAI_NN_SOFTMAX: {
            y = x;
            double m = *std::max_element(y.begin(), y.end()), z = 0;
            for (double &v : y) z += (v = std::exp(v - m));
            for (double &v : y) v /= z;
            break;
        }
        default: y = x; break;
        }
        outs.push_back(y);
    }
    return upto ? outs.back() : input;
}

inline size_t n_logit_layers(const xai_nn *net) { return xai_nn_logit_layer(net) + 1; }

// Central differences of logit t at x, in double (step h).
inline Vec fd_grad(const xai_nn *net, const Vec &x, size_t t, double h = 1e-5) {
    Vec g(x.size());
    size_t L = n_logit_layers(net);
    for (size_t i = 0; i < x.size(); i++) {
        Vec a = x, b = x;
        a[i] += h;
        b[i] -= h;
        g[i] = (ref_forward(net, a, L)[t] - ref_forward(net, b, L)[t]) / (2 * h);
    }
    return g;
}

// ||a - b|| / max(||b||, tiny): a norm-wise relative error.
inline double rel_err(const float *a, const Vec &b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < b.size(); i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return std::sqrt(num) / std::max(std::sqrt(den), 1e-12);
}

inline std::vector<float> random_input(size_t n, uint64_t seed, double lo = -1, double hi = 1) {
    xai_rng r;
    xai_rng_seed(&r, seed, 7);
    std::vector<float> x(n);
    for (float &v : x) v = (float)(lo + (hi - lo) * xai_rng_uniform(&r));
    return x;
}

// Sets every bias of net to zero, weights unchanged (conservation tests).
inline void zero_biases(xai_nn *net) {
    for (size_t l = 0; l < xai_nn_n_layers(net); l++) {
        const float *w, *b;
        size_t nw, nb;
        xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
        if (nw == 0) continue;
        std::vector<float> wc(w, w + nw);
        xai_error e;
        ASSERT_EQ(xai_nn_set_weights(net, l, wc.data(), nw, nullptr, 0, &e), XAI_OK);
    }
}

// A reference file written by tests/data/make_*_fixture.py (msgpack), or
// nullptr after a test failure saying why. Free with xai_value_free.
inline xai_value *read_reference(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (bytes.empty()) {
        ADD_FAILURE() << path << ": missing or empty";
        return nullptr;
    }
    xai_value *ref = nullptr;
    xai_error e;
    xai_unpack_limits lim = {16, 1 << 20, 1 << 24};
    if (xai_value_unpack(bytes.data(), bytes.size(), &lim, &ref, &e) != XAI_OK) {
        ADD_FAILURE() << path << ": " << e.message;
        return nullptr;
    }
    return ref;
}

}  // namespace nnt

#endif
