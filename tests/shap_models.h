// shap_models.h — in-process games for the Shapley estimators' tests
// (kernelshap_test.cc, shapley_sampling_test.cc): a model f on rows, a point
// x and a background, seen through masks as the interventional game
//     v(z) = sum_b w_b f(z ? x : b),
// which is what a tabular space and the evaluator compute. Exact Shapley
// values come from enumerating all 2^d coalitions and the engine's
// xd_shapley_exact_from_values.
#ifndef XAI_TESTS_SHAP_MODELS_H
#define XAI_TESTS_SHAP_MODELS_H

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

extern "C" {
#include "methods/kernelshap.h"
}

namespace shapt {

struct Game {
    size_t d = 0;
    std::vector<double> x;                      // d
    std::vector<double> bg;                     // nb x d
    std::function<double(const double *)> f;
    size_t calls = 0;                           // masks evaluated

    double value(const uint8_t *z) const {
        size_t nb = bg.size() / d;
        std::vector<double> row(d);
        double s = 0;
        for (size_t b = 0; b < nb; b++) {
            for (size_t j = 0; j < d; j++) row[j] = z[j] ? x[j] : bg[b * d + j];
            s += f(row.data());
        }
        return s / (double)nb;
    }

    // Exact Shapley values by enumeration (d <= 20).
    std::vector<double> exact() const {
        size_t n = (size_t)1 << d;
        std::vector<double> v(n), phi(d);
        std::vector<uint8_t> z(d);
        for (size_t s = 0; s < n; s++) {
            for (size_t j = 0; j < d; j++) z[j] = (s >> j) & 1;
            v[s] = value(z.data());
        }
        EXPECT_EQ(XAI_OK, xd_shapley_exact_from_values(d, v.data(), phi.data()));
        return phi;
    }
};

inline xai_status game_eval(void *ctx, const uint8_t *masks, size_t n, double *y, xai_error *) {
    Game *g = static_cast<Game *>(ctx);
    for (size_t i = 0; i < n; i++) y[i] = g->value(masks + i * g->d);
    g->calls += n;
    return XAI_OK;
}

inline xd_oracle oracle_of(Game *g) {
    xd_oracle o;
    o.eval = game_eval;
    o.ctx = g;
    o.progress = nullptr;
    return o;
}

// Deterministic pseudo-random numbers for building games (not the library's rng).
inline double hash_unit(uint64_t i) {
    uint64_t z = i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

inline void fill_points(Game &g, size_t d, size_t nb, uint64_t seed) {
    g.d = d;
    g.x.resize(d);
    g.bg.resize(nb * d);
    for (size_t j = 0; j < d; j++) g.x[j] = 2.0 * hash_unit(seed * 1000 + j) - 0.5;
    for (size_t i = 0; i < nb * d; i++) g.bg[i] = 2.0 * hash_unit(seed * 7919 + 100000 + i) - 1.0;
}

// f(u) = c + sum w_j u_j: phi_j = w_j (x_j - mean_b b_j) exactly.
inline Game linear_game(size_t d, size_t nb, uint64_t seed, std::vector<double> *w_out = nullptr) {
    Game g;
    fill_points(g, d, nb, seed);
    std::vector<double> w(d);
    for (size_t j = 0; j < d; j++) w[j] = 3.0 * hash_unit(seed * 31 + j) - 1.5;
    if (w_out) *w_out = w;
    g.f = [w, d](const double *u) {
        double s = 0.25;
        for (size_t j = 0; j < d; j++) s += w[j] * u[j];
        return s;
    };
    return g;
}

// Products and maxima of features: f = u0 u1 + u2 u3 u4 + max(u5.., u8) + sum of
// small linear terms; features past the 9th only enter linearly.
inline Game nonlinear_game(size_t d, size_t nb, uint64_t seed) {
    Game g;
    fill_points(g, d, nb, seed);
    g.f = [d](const double *u) {
        double s = u[0] * u[1];
        if (d > 4) s += u[2] * u[3] * u[4];
        if (d > 8) s += std::max(std::max(u[5], u[6]), std::max(u[7], u[8]));
        for (size_t j = 0; j < d; j++) s += 0.1 * (double)(j % 3) * u[j];
        return s;
    };
    return g;
}

// A game of every order: a logistic score of a weighted sum plus a product
// over all features. Its odd part has characters of every odd order, so no
// 3-additive surrogate fits it exactly (unlike nonlinear_game, whose
// dividends stop at order 4).
inline Game dense_game(size_t d, size_t nb, uint64_t seed) {
    Game g;
    fill_points(g, d, nb, seed);
    std::vector<double> c(d);
    for (size_t j = 0; j < d; j++) c[j] = 2.0 * hash_unit(seed * 53 + j) - 1.0;
    g.f = [c, d](const double *u) {
        double s = 0, p = 1;
        for (size_t j = 0; j < d; j++) s += c[j] * u[j], p *= 1.0 + 0.3 * u[j];
        return 2.0 / (1.0 + std::exp(-s)) + 0.5 * p;
    };
    return g;
}

// A text-like game on word indicators (x = 1, background = 0): a logistic
// score of "word 1 present", "words 2 and 3 both present", "last word absent"
// (d >= 4).
inline Game word_game(size_t d) {
    Game g;
    g.d = d;
    g.x.assign(d, 1.0);
    g.bg.assign(d, 0.0);
    g.f = [d](const double *u) {
        double z = -1.0 + 2.0 * u[1] + 1.5 * u[2] * u[3] - 1.0 * u[d - 1] + 0.5 * u[0];
        return 1.0 / (1.0 + std::exp(-z));
    };
    return g;
}

inline double sum(const std::vector<double> &v) {
    double s = 0;
    for (double a : v) s += a;
    return s;
}

}  // namespace shapt

#endif
