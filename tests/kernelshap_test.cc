// kernelshap_test.cc — KernelSHAP (daemon/methods/kernelshap*.c) against
// exact Shapley values from enumeration, closed forms for linear models, the
// efficiency identity, the schedule's counts, reproducibility, the coverage
// of its standard errors, and the method through xai_explain.
#include <gtest/gtest.h>
#include <cstring>
#include <map>
#include <string>

#include "engine_fixtures.h"
#include "shap_models.h"
extern "C" {
#include "core/core.h"
}

using shapt::Game;

namespace {

struct KsRun {
    std::vector<double> phi, se;
    xd_shap_out out{};
    xd_kshap_info info{};
};

// KernelSHAP on oracle orc over d features; size_weight as in xd_kshap_info.
KsRun kshap_on(xd_oracle orc, size_t d, xd_kshap_opts o, double *size_weight = nullptr) {
    KsRun r;
    r.phi.assign(d + 1, 0.0);
    r.se.assign(d + 1, 0.0);
    r.out.phi = r.phi.data();
    r.out.se = r.se.data();
    r.info.size_weight = size_weight;
    xai_error err;
    EXPECT_EQ(XAI_OK, xd_kernelshap(&orc, d, &o, &r.out, &r.info, &err)) << err.message;
    r.phi.resize(d);
    r.se.resize(d);
    return r;
}

KsRun kshap(Game &g, xd_kshap_opts o) { return kshap_on(shapt::oracle_of(&g), g.d, o); }

xd_kshap_opts opts(uint64_t seed = 0) {
    xd_kshap_opts o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    return o;
}

double max_abs_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

}  // namespace

TEST(KernelShap, DefaultBudgetEnumeratesAndIsExactUpToEleven) {
    // 2d + 2048 >= 2^d - 2 for d <= 11, so the cap makes every coalition a
    // sample, every size passes shap's enumeration test, and the regression
    // with the Shapley kernel weights is the Shapley value itself.
    for (size_t d : {4, 8, 11}) {
        for (int kind = 0; kind < 3; kind++) {
            Game g = kind == 0   ? shapt::linear_game(d, 3, d)
                     : kind == 1 ? shapt::nonlinear_game(d, 3, d)
                                 : shapt::word_game(d);
            std::vector<double> exact = g.exact();
            KsRun r = kshap(g, opts());
            EXPECT_LT(max_abs_diff(exact, r.phi), 1e-9) << "d=" << d << " kind=" << kind;
            EXPECT_EQ(((size_t)1 << d), r.out.n_evals);  // 2^d - 2 coalitions + empty + full
            EXPECT_EQ(d / 2, r.info.n_full_sizes);
            EXPECT_TRUE(r.out.converged);
            for (double s : r.se) EXPECT_EQ(0.0, s);
        }
    }
}

TEST(KernelShap, LinearModelsAreExactAtAnyBudget) {
    // An additive game is fitted without residual by any design of full
    // rank, so phi_j = w_j (x_j - mean_b b_j) exactly, and the sandwich
    // standard errors (built from residuals) vanish.
    for (size_t d : {12, 16}) {
        std::vector<double> w;
        Game g = shapt::linear_game(d, 4, 77 + d, &w);
        KsRun r = kshap(g, opts(3));
        for (size_t j = 0; j < d; j++) {
            double mean = 0;
            for (size_t b = 0; b < 4; b++) mean += g.bg[b * d + j] / 4;
            EXPECT_NEAR(w[j] * (g.x[j] - mean), r.phi[j], 1e-9) << j;
            EXPECT_LT(r.se[j], 1e-9);
        }
    }
}

TEST(KernelShap, EfficiencyHoldsInEveryMode) {
    for (size_t d : {12, 16}) {
        Game g = shapt::nonlinear_game(d, 2, d);
        std::vector<uint8_t> zero(d, 0), one(d, 1);
        double gap = g.value(one.data()) - g.value(zero.data());
        for (int mode = 0; mode < 4; mode++) {
            xd_kshap_opts o = opts(mode);
            o.shap_schedule = mode == 1;
            o.tol = mode == 2 ? 0.05 : 0;
            o.nsamples = mode == 3 ? 300 : 0;
            KsRun r = kshap(g, o);
            EXPECT_NEAR(gap, shapt::sum(r.phi), 1e-9) << "d=" << d << " mode=" << mode;
        }
        // logit link: sum phi = logit(v(1)) - logit(v(0)) on a game in (0, 1)
        Game w = shapt::word_game(d);
        xd_kshap_opts o = opts(1);
        o.link = XD_LINK_LOGIT;
        KsRun r = kshap(w, o);
        auto logit = [](double p) { return std::log(p / (1 - p)); };
        EXPECT_NEAR(logit(w.value(one.data())) - logit(w.value(zero.data())), shapt::sum(r.phi),
                    1e-9);
        EXPECT_NEAR(logit(w.value(zero.data())), r.out.base, 1e-12);
    }
}

TEST(KernelShap, BudgetCountsDistinctCoalitions) {
    // d = 16: auto budget 2*16 + 2048 = 2080. Kernel weights per size s
    // (15/(s(16-s)), doubled for s <= 7): 2, 1.0714, 0.7692, ... summing to
    // 6.2217. Size 1: 2080 * 2/6.2217 = 668.6 >= 32 subsets, enumerated.
    // Size 2: 2048 * 1.0714/4.2217 = 519.8 >= 240, enumerated. Size 3:
    // 1808 * 0.7692/3.1503 = 441.5 < 1120, so it stops: 1808 are drawn. A
    // repeat adds weight only, so exactly 2080 distinct coalitions plus empty
    // and full reach the oracle.
    Game g = shapt::nonlinear_game(16, 2, 5);
    KsRun r = kshap(g, opts(9));
    EXPECT_EQ(2u, r.info.n_full_sizes);
    EXPECT_EQ(1808u, r.info.n_sampled);
    EXPECT_EQ(2082u, r.out.n_evals);
    EXPECT_EQ(2082u, g.calls);
    // The improved schedule draws distinct pairs only: 1808 / 2 draws.
    EXPECT_EQ(904u, r.info.n_draws);
    // shap's schedule spends the same budget (its enumeration test is the
    // same), but a repeated draw costs a draw and no budget.
    xd_kshap_opts o = opts(9);
    o.shap_schedule = true;
    KsRun s = kshap(g, o);
    EXPECT_EQ(2u, s.info.n_full_sizes);
    EXPECT_EQ(1808u, s.info.n_sampled);
    EXPECT_GE(s.info.n_draws, 904u);  // each draw adds at most a pair
}

namespace {
// Counts how often each coalition reaches the oracle.
struct Recorder {
    Game *g;
    std::map<std::string, int> seen;
};
xai_status record_eval(void *ctx, const uint8_t *m, size_t n, double *y, xai_error *e) {
    Recorder *r = static_cast<Recorder *>(ctx);
    for (size_t i = 0; i < n; i++) r->seen[std::string((const char *)m + i * r->g->d, r->g->d)]++;
    return shapt::game_eval(r->g, m, n, y, e);
}
size_t middle_without_complement(size_t d, bool shap_schedule, uint64_t seed) {
    Game g = shapt::nonlinear_game(d, 1, 4);
    Recorder rec{&g, {}};
    xd_kshap_opts ko = opts(seed);
    ko.shap_schedule = shap_schedule;
    ko.nsamples = 400;
    kshap_on(xd_oracle{record_eval, &rec, nullptr}, d, ko);
    size_t lonely = 0;
    for (const auto &kv : rec.seen) {
        const std::string &s = kv.first;
        size_t ones = 0;
        std::string c = s;
        for (char &ch : c) ones += (ch ^= 1) == 0;
        if (ones == d / 2 && !rec.seen.count(c)) lonely++;
    }
    return lonely;
}
}  // namespace

TEST(KernelShap, ImprovedScheduleEvaluatesDistinctComplementPairs) {
    // Improved: every drawn coalition is new (rejection inside its size), so
    // no mask reaches the oracle twice, even across tol batches; every
    // coalition but empty and full comes with its complement; and each draw
    // is one pair (n_sampled = 2 n_draws).
    for (size_t d : {10, 13, 16}) {
        for (double tol : {0.0, 1e-9}) {
            Game g = shapt::dense_game(d, 1, 6);
            Recorder c{&g, {}};
            xd_kshap_opts ko = opts(d);
            ko.nsamples = 700;
            ko.tol = tol;
            ko.batch = 100;
            KsRun r = kshap_on(xd_oracle{record_eval, &c, nullptr}, d, ko);
            size_t total = 0;
            for (const auto &kv : c.seen) {
                EXPECT_EQ(1, kv.second) << "d=" << d;
                std::string comp = kv.first;
                for (char &ch : comp) ch ^= 1;
                EXPECT_EQ(1u, c.seen.count(comp)) << "d=" << d;
                total += (size_t)kv.second;
            }
            EXPECT_EQ(r.out.n_evals, total);
            EXPECT_EQ(2 * r.info.n_draws, r.info.n_sampled);
            if (tol > 0) {
                EXPECT_GT(r.out.n_batches, 1u);
            }
        }
    }
}

TEST(KernelShap, ImprovedWeightsPerSizeAreTheKernelMass) {
    // The Shapley kernel gives each coalition of size s the weight
    // (d-1) / (C(d,s) s (d-s)), so size s as a whole carries
    // mu(s) = (d-1)/(s(d-s)) / sum_t (d-1)/(t(d-t)) (t = 1..d-1) of the total.
    // The improved schedule gives every size exactly that mass, enumerated
    // or drawn; shap's schedule shares the drawn sizes' mass by counts, so a
    // size's total is random and misses mu(s).
    for (size_t d : {9, 12, 16}) {
        double norm = 0;
        for (size_t t = 1; t < d; t++) norm += 1.0 / (double)(t * (d - t));
        for (int shap = 0; shap < 2; shap++) {
            Game g = shapt::nonlinear_game(d, 1, 2);
            std::vector<double> sw(d + 1, -1.0);
            xd_kshap_opts o = opts(4);
            o.nsamples = 300;
            o.shap_schedule = shap == 1;
            KsRun r = kshap_on(shapt::oracle_of(&g), d, o, sw.data());
            ASSERT_LT(r.info.n_full_sizes, d / 2);  // some sizes are drawn
            EXPECT_EQ(0.0, sw[0]);
            EXPECT_EQ(0.0, sw[d]);
            double worst = 0;
            for (size_t s = 1; s < d; s++)
                worst = std::max(worst, std::fabs(sw[s] - 1.0 / (double)(s * (d - s)) / norm));
            if (shap == 0) {
                EXPECT_LT(worst, 1e-12) << "d=" << d;
            } else {
                EXPECT_GT(worst, 1e-4) << "d=" << d;
            }
        }
    }
}

TEST(KernelShap, ImprovedIsMoreAccurateThanShapAtEqualBudget) {
    // Mean over 20 seeds of max |phi - exact| on a nonlinear d = 16 game at
    // 1000 coalitions: the stratified, distinct-pair schedule must beat
    // shap's (bench/shap_accuracy.c measures by how much).
    Game g = shapt::nonlinear_game(16, 2, 17);
    std::vector<double> exact = g.exact();
    double err[2] = {0, 0};
    for (int shap = 0; shap < 2; shap++)
        for (uint64_t seed = 0; seed < 20; seed++) {
            xd_kshap_opts o = opts(seed);
            o.nsamples = 1000;
            o.shap_schedule = shap == 1;
            err[shap] += max_abs_diff(exact, kshap(g, o).phi) / 20;
        }
    printf("kernelshap mean max error: improved %.5f shap %.5f\n", err[0], err[1]);
    EXPECT_LT(err[0], err[1]);
}

TEST(KernelShap, ThreeWayTermsMakeOrderFourGamesExact) {
    // Over complement pairs only the odd part of a game enters the fit, and
    // the odd part of a game whose dividends stop at order 4 (u0 u1,
    // u2 u3 u4, max of four) is additive plus three-way characters. At
    // d = 12 and 2500 coalitions all C(12,3) = 220 triples fit (2500 / 8 -
    // 12 >= 220), so the surrogate holds the game's odd part and its Shapley
    // value is exact from a sample; the additive fit alone is not.
    for (uint64_t seed = 0; seed < 5; seed++) {
        Game g = shapt::nonlinear_game(12, 2, 30 + seed);
        std::vector<double> exact = g.exact();
        xd_kshap_opts o = opts(seed);
        o.nsamples = 2500;
        KsRun r = kshap(g, o);
        EXPECT_EQ(220u, r.info.n_triples);
        EXPECT_LT(max_abs_diff(exact, r.phi), 1e-9) << "seed " << seed;
        EXPECT_NEAR(shapt::sum(exact), shapt::sum(r.phi), 1e-9);
        for (double s : r.se) EXPECT_LT(s, 1e-9);
        o.additive_only = true;
        KsRun a = kshap(g, o);
        EXPECT_EQ(0u, a.info.n_triples);
        EXPECT_GT(max_abs_diff(exact, a.phi), 1e-5) << "seed " << seed;
    }
}

namespace {

// Random coalitions over d features whose weights take `classes` values.
struct BitRows {
    size_t d, n;
    std::vector<uint8_t> z;
    std::vector<size_t> first;
    std::vector<double> w;
};

BitRows bit_rows(size_t d, size_t n, size_t classes, uint64_t h) {
    BitRows r{d, n, std::vector<uint8_t>(n * d), std::vector<size_t>(n), std::vector<double>(n)};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) r.z[i * d + j] = shapt::hash_unit(h++) < 0.5;
        r.first[i] = i;
        r.w[i] = 0.25 + 0.5 * (double)(size_t)(shapt::hash_unit(h++) * (double)classes);
    }
    return r;
}

// chi_T with +1 for a feature in, -1 for one out.
double chi(const uint8_t *z, const std::vector<size_t> &set) {
    double c = 1;
    for (size_t j : set) c *= z[j] ? 1.0 : -1.0;
    return c;
}

// The regression column of a feature (z_j - z_last) or a triple (chi_T + 1
// - 2 z_last), written out: what the bits must reproduce.
double column(const uint8_t *z, const std::vector<size_t> &set, size_t last) {
    if (set.size() == 1) return (double)z[set[0]] - (double)z[last];
    return chi(z, set) + 1.0 - 2.0 * z[last];
}

// Columns: features 0..d-2, then some triples (one holding the last).
std::vector<std::vector<size_t>> some_columns(size_t d) {
    std::vector<std::vector<size_t>> cols;
    for (size_t j = 0; j + 1 < d; j++) cols.push_back({j});
    cols.push_back({0, 1, 2});
    cols.push_back({1, 4, d - 1});
    cols.push_back({2, 3, 5});
    return cols;
}

void set_columns(xd_kshap_bits *b, const std::vector<std::vector<size_t>> &cols, size_t last,
                 std::vector<double> &val) {
    for (size_t p = 0; p < cols.size(); p++) {
        xd_kshap_bits_column(b, p, cols[p].data(), cols[p].size(), last);
        val.push_back(cols[p].size() == 1 ? 1.0 : 2.0);
    }
}

}  // namespace

TEST(KernelShapBits, RowsGramAndProductsMatchTheWrittenOutDesign) {
    // 150 rows in 3 weight classes (so classes are padded inside words): the
    // rows' bits, times 2 a_p (1 - 2 z_last), are the columns above; the Gram
    // is sum w x x^T; bits_times is the 0/1 pattern times V and bits_tsum its
    // transpose times y. With the CPU's kernels, without AVX-512 and with the
    // portable code alone, bit for bit the same.
    const size_t d = 9, last = d - 1;
    BitRows r = bit_rows(d, 150, 3, 7);
    auto cols = some_columns(d);
    size_t P = cols.size();
    // X is read back as the product with the identity (padded to qs columns).
    const size_t qs = 16;
    ASSERT_LE(P, qs);
    std::vector<double> V(P * qs), I(P * qs, 0.0), y(64 * 8, 0.0);
    for (size_t i = 0; i < V.size(); i++) V[i] = shapt::hash_unit(900 + i) - 0.5;
    for (size_t p = 0; p < P; p++) I[p * qs + p] = 1.0;
    const xd_isa_limit limits[3] = {XD_ISA_ALL, XD_ISA_BELOW_AVX512, XD_ISA_NONE};
    std::vector<double> G[3], X[3], T[3], Y[3];
    for (int v = 0; v < 3; v++) {
        xd_cpu_limit(limits[v]);
        xd_kshap_bits b;
        bool fits = false;
        xai_error err;
        ASSERT_EQ(XAI_OK, xd_kshap_bits_init(&b, r.z.data(), d, r.first.data(), r.w.data(), r.n,
                                             P, &fits, &err));
        ASSERT_TRUE(fits);
        EXPECT_EQ(3u, b.n_class);
        std::vector<double> val;
        set_columns(&b, cols, last, val);
        G[v].assign(P * P, 0);
        X[v].assign(r.n * qs, 0);
        T[v].assign(r.n * qs, 0);
        Y[v].assign(P, 0);
        xd_kshap_bits_gram(&b, val.data(), P, G[v].data());
        xd_kshap_bits_times(&b, 0, r.n, I.data(), qs, X[v].data());
        xd_kshap_bits_times(&b, 0, r.n, V.data(), qs, T[v].data());
        ASSERT_LE(64 * b.W, y.size());
        for (size_t u = 0; u < r.n; u++) y[b.pos[u]] = shapt::hash_unit(7000 + u) - 0.5;
        xd_kshap_bits_tsum(&b, y.data(), P, Y[v].data());
        xd_kshap_bits_release(&b);
    }
    xd_cpu_limit(XD_ISA_ALL);
    for (int v = 1; v < 3; v++) {
        EXPECT_EQ(0, memcmp(G[0].data(), G[v].data(), P * P * sizeof(double))) << v;
        EXPECT_EQ(0, memcmp(X[0].data(), X[v].data(), r.n * qs * sizeof(double))) << v;
        EXPECT_EQ(0, memcmp(T[0].data(), T[v].data(), r.n * qs * sizeof(double))) << v;
        EXPECT_EQ(0, memcmp(Y[0].data(), Y[v].data(), P * sizeof(double))) << v;
    }
    std::vector<double> ysum(P, 0.0);
    for (size_t u = 0; u < r.n; u++) {
        const uint8_t *z = &r.z[u * d];
        double sign = z[last] ? -1.0 : 1.0;
        for (size_t p = 0; p < P; p++) {
            // x_p = 2 a_p D_p (1 - 2 z_last), 2 a_p = 1 for a feature, 2 for a triple
            double two_a = cols[p].size() == 1 ? 1.0 : 2.0, has = X[0][u * qs + p];
            ASSERT_EQ(column(z, cols[p], last), two_a * has * sign) << u << " " << p;
            ysum[p] += has * (shapt::hash_unit(7000 + u) - 0.5);
            // odd: the complement's column is the negative
            std::vector<uint8_t> c(z, z + d);
            for (auto &bit : c) bit ^= 1;
            EXPECT_EQ(-column(z, cols[p], last), column(c.data(), cols[p], last));
        }
        for (size_t j = 0; j < qs; j++) {
            double t = 0;
            for (size_t p = 0; p < P; p++) t += X[0][u * qs + p] * V[p * qs + j];
            EXPECT_NEAR(t, T[0][u * qs + j], 1e-12);
        }
    }
    for (size_t p = 0; p < P; p++) EXPECT_NEAR(ysum[p], Y[0][p], 1e-12);
    for (size_t p = 0; p < P; p++)
        for (size_t q = 0; q < P; q++) {
            double g = 0;
            for (size_t u = 0; u < r.n; u++) {
                const uint8_t *z = &r.z[u * d];
                g += r.w[u] * column(z, cols[p], last) * column(z, cols[q], last);
            }
            EXPECT_NEAR(g, G[0][p * P + q], 1e-12 * r.n);
        }
}

TEST(KernelShapBits, TooManyWeightsDoNotFit) {
    const size_t d = 5, n = 200;
    BitRows r = bit_rows(d, n, 1, 3);
    for (size_t i = 0; i < n; i++) r.w[i] = 1.0 + (double)i;   // 200 distinct weights
    ASSERT_LT((size_t)XD_KSHAP_MAX_CLASSES, n);
    xd_kshap_bits b;
    bool fits = true;
    xai_error err;
    ASSERT_EQ(XAI_OK, xd_kshap_bits_init(&b, r.z.data(), d, r.first.data(), r.w.data(), n, 4,
                                         &fits, &err));
    EXPECT_FALSE(fits);
    xd_kshap_bits_release(&b);
}

TEST(KernelShap, ScreeningFindsPlantedTriples) {
    // Residuals made of two three-way characters (plus small noise) rank
    // exactly those two triples first, with either version of the kernels.
    const size_t d = 9, n = 3000;
    BitRows r = bit_rows(d, n, 4, 1);
    std::vector<size_t> t1 = {1, 4, 7}, t2 = {0, 2, 8};
    std::vector<double> wr(n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *z = &r.z[i * d];
        double res = 2.0 * chi(z, t1) - 1.0 * chi(z, t2) + 0.1 * (shapt::hash_unit(5000 + i) - 0.5);
        wr[i] = r.w[i] * res;
    }
    EXPECT_EQ(84u, xd_kshap_n_triples(d));
    for (xd_isa_limit limit : {XD_ISA_ALL, XD_ISA_BELOW_AVX512, XD_ISA_NONE}) {
        xd_cpu_limit(limit);
        xd_kshap_bits b;
        bool fits = false;
        xai_error err;
        ASSERT_EQ(XAI_OK, xd_kshap_bits_init(&b, r.z.data(), d, r.first.data(), r.w.data(), n,
                                             d - 1, &fits, &err));
        ASSERT_TRUE(fits);
        size_t got[6];
        ASSERT_EQ(XAI_OK, xd_kshap_screen_triples(&b, r.z.data(), r.first.data(), wr.data(), 2,
                                                  got, &err));
        EXPECT_EQ(t1, std::vector<size_t>(got, got + 3));
        EXPECT_EQ(t2, std::vector<size_t>(got + 3, got + 6));
        xd_kshap_bits_release(&b);
    }
    xd_cpu_limit(XD_ISA_ALL);
}

TEST(KernelShap, PortableKernelsGiveTheSameBits) {
    // The whole estimator with the default three-way terms, with the CPU's
    // kernels, without AVX-512 and with the portable ones alone: identical
    // values and standard errors (every version adds the same numbers in the
    // same order).
    // d = 40 has more than 31 standard-error columns, past the AVX-512 row
    // sums; efficiency holds to rounding either way.
    for (size_t d : {20, 40}) {
        Game g = shapt::nonlinear_game(d, 3, 8);
        KsRun a = kshap(g, opts(5));
        for (xd_isa_limit limit : {XD_ISA_BELOW_AVX512, XD_ISA_NONE}) {
            xd_cpu_limit(limit);
            KsRun b = kshap(g, opts(5));
            xd_cpu_limit(XD_ISA_ALL);
            EXPECT_EQ(0, memcmp(a.phi.data(), b.phi.data(), a.phi.size() * sizeof(double)));
            EXPECT_EQ(0, memcmp(a.se.data(), b.se.data(), a.se.size() * sizeof(double)));
        }
        EXPECT_GT(a.info.n_triples, 0u);
        std::vector<uint8_t> zero(d, 0), one(d, 1);
        EXPECT_NEAR(g.value(one.data()) - g.value(zero.data()), shapt::sum(a.phi), 1e-9);
        for (double s : a.se) EXPECT_TRUE(std::isfinite(s) && s > 0);
    }
}

TEST(KernelShap, MiddleSizeIsPairedUnlessShapSchedule) {
    // d = 10, 400 samples: sizes 1 (20) and 2 (90) enumerated, the rest drawn.
    // Improved: every drawn middle coalition (size 5) comes with its
    // complement, except possibly the very last one when the budget ends.
    // shap: the middle is drawn alone, so many lack their complement.
    EXPECT_LE(middle_without_complement(10, false, 1), 1u);
    EXPECT_GT(middle_without_complement(10, true, 1), 10u);
}

TEST(KernelShap, SameSeedSameBitsOtherSeedOtherValues) {
    Game g = shapt::nonlinear_game(14, 2, 8);
    KsRun a = kshap(g, opts(42)), b = kshap(g, opts(42)), c = kshap(g, opts(43));
    EXPECT_EQ(0, memcmp(a.phi.data(), b.phi.data(), a.phi.size() * sizeof(double)));
    EXPECT_EQ(0, memcmp(a.se.data(), b.se.data(), a.se.size() * sizeof(double)));
    EXPECT_GT(max_abs_diff(a.phi, c.phi), 0.0);
}

TEST(KernelShap, StandardErrorsCoverTheExactValues) {
    // 200 seeds x 16 features of a game of every order at two small budgets:
    // the 95% interval phi +- 1.96 se must hold the exact value for at least
    // 90% of the pairs, with the three-way terms (the default) and without.
    // At 600 coalitions the draws' leverages are computed (HC3, Student
    // stretch): 0.980 with triples, 0.952 without; at 2000 N P^2 is past
    // LEV_WORK and the triples' share is N / (N - m) (HC1): 0.959 and 0.956.
    Game g = shapt::dense_game(16, 2, 21);
    std::vector<double> exact = g.exact();
    for (size_t budget : {600, 2000}) {
        for (int additive = 0; additive < 2; additive++) {
            size_t hit = 0, total = 0, triples = 0;
            double err = 0;
            for (uint64_t seed = 0; seed < 200; seed++) {
                xd_kshap_opts o = opts(seed);
                o.nsamples = budget;
                o.additive_only = additive == 1;
                KsRun r = kshap(g, o);
                triples += r.info.n_triples;
                err += max_abs_diff(exact, r.phi) / 200;
                for (size_t j = 0; j < 16; j++, total++)
                    hit += std::fabs(r.phi[j] - exact[j]) <= 1.96 * r.se[j];
            }
            double coverage = (double)hit / (double)total;
            EXPECT_GE(coverage, 0.90) << "budget " << budget << " additive " << additive;
            EXPECT_EQ(additive == 1, triples == 0);
            printf("kernelshap budget %zu additive_only %d: coverage %.4f, mean triples %zu, "
                   "mean max error %.5f\n", budget, additive, coverage, triples / 200, err);
        }
    }
}

namespace {

// Share of the per-feature 95% intervals phi_j +- 1.96 se_j that hold the
// exact value, over `seeds` seeds; runs whose errors are withheld count in
// *withheld and not in the share.
double coverage(Game &g, const std::vector<double> &exact, xd_kshap_opts o, size_t seeds,
                size_t *withheld) {
    size_t hit = 0, total = 0;
    *withheld = 0;
    for (uint64_t seed = 0; seed < seeds; seed++) {
        o.seed = seed;
        KsRun r = kshap(g, o);
        if (r.info.stderr_reason) {
            (*withheld)++;
            continue;
        }
        for (size_t j = 0; j < g.d; j++, total++)
            hit += std::fabs(r.phi[j] - exact[j]) <= 1.96 * r.se[j];
    }
    return total ? (double)hit / (double)total : 0.0;
}

}  // namespace

TEST(KernelShap, SmallBudgetIntervalsCover) {
    // The small budgets, 200 seeds each, every per-feature interval
    // counted: a text-like game (a logistic of word indicators, every
    // order) at d = 12 with 150 and 300 coalitions (7 and 26 screened
    // triples), and games of every order at d = 6 with 24 (6 draws: five
    // unknowns pinned by sizes 1 enumerated and six pairs) and d = 8 with
    // 60. Before the leverage-corrected, collapsed, Student-stretched
    // errors these covered 0.75-0.88 (60 seeds); each must now lie in
    // [0.90, 0.98], for the default, without triples and for shap's
    // schedule.
    struct Case { const char *name; size_t d, budget; };
    const Case cases[] = {{"text", 12, 150}, {"text", 12, 300}, {"dense", 6, 24},
                          {"dense", 8, 60}};
    for (const Case &c : cases) {
        Game g = std::string(c.name) == "text" ? shapt::word_game(c.d)
                                               : shapt::dense_game(c.d, 2, 40 + c.d);
        std::vector<double> exact = g.exact();
        for (int mode = 0; mode < 3; mode++) {
            xd_kshap_opts o = opts();
            o.nsamples = c.budget;
            o.additive_only = mode == 1;
            o.shap_schedule = mode == 2;
            size_t withheld = 0;
            double cov = coverage(g, exact, o, 200, &withheld);
            printf("kernelshap %s d=%zu budget %zu mode %d: coverage %.4f (%zu withheld)\n",
                   c.name, c.d, c.budget, mode, cov, withheld);
            EXPECT_EQ(0u, withheld) << c.name << " d=" << c.d;
            std::string what = std::string(c.name) + " d=" + std::to_string(c.d) + " budget " +
                               std::to_string(c.budget) + " mode " + std::to_string(mode);
            EXPECT_GE(cov, 0.90) << what;
            EXPECT_LE(cov, 0.98) << what;
        }
    }
}

TEST(KernelShap, NoHonestErrorIsWithheldWithItsReason) {
    // d = 6 with 6 coalitions: three pairs cannot pin five unknowns (rank-
    // deficient); d = 12 with 26: 13 pairs pin the 11 unknowns, but some
    // pair is the only one to reach a direction of the fit (leverage 1),
    // so its residual is 0 whatever the game and the draws say nothing of
    // that direction's variance; d = 8 with 16: 8 pairs for 7 unknowns
    // leave one residual degree of freedom, too few for a variance. Each
    // way the errors are NaN with a reason, never a small number.
    struct Case { size_t d, budget; const char *reason; };
    const Case cases[] = {{6, 6, "rank-deficient"}, {12, 26, "alone determines"},
                          {8, 16, "residual degrees"}};
    for (const Case &c : cases) {
        Game g = shapt::dense_game(c.d, 2, 3);
        xd_kshap_opts o = opts(1);
        o.nsamples = c.budget;
        KsRun r = kshap(g, o);
        ASSERT_NE(nullptr, r.info.stderr_reason) << c.d;
        EXPECT_NE(nullptr, strstr(r.info.stderr_reason, c.reason)) << r.info.stderr_reason;
        for (double s : r.se) EXPECT_TRUE(std::isnan(s));
        std::vector<uint8_t> zero(c.d, 0), one(c.d, 1);   // the values still add up
        EXPECT_NEAR(g.value(one.data()) - g.value(zero.data()), shapt::sum(r.phi), 1e-9);
    }
    // Through xai_explain: stderrs nil and extra.stderr_reason; with enough
    // coalitions the errors are back, with their degrees of freedom.
    std::vector<double> w = {1.0, -2.0, 3.0, 0.5, 1.5, -1.0}, x(6, 1.0), bg(6, 0.0);
    LinearModel m(w, x, bg);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "kernelshap", {{"nsamples", 6}}, &r, &err)) << err.message;
    EXPECT_EQ(nullptr, r->stderrs);
    const xai_value *why = xai_value_get(r->extra, "stderr_reason");
    ASSERT_NE(nullptr, why);
    EXPECT_NE(nullptr, strstr(xai_value_get_str(why, nullptr), "rank-deficient"));
    xai_result_free(r);
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "kernelshap", {{"nsamples", 30}}, &r, &err))
        << err.message;
    EXPECT_NE(nullptr, r->stderrs);
    EXPECT_EQ(nullptr, xai_value_get(r->extra, "stderr_reason"));
    xai_result_free(r);
}

TEST(KernelShap, TriplesThatLeaveNoErrorGiveWayToFewer) {
    // The text-like game at d = 12 with 140 coalitions asks for 6 triples
    // (140/8 - 11); in a seed or two one of them is reached by a single
    // pair (leverage 1) and the errors would be withheld. The fit then
    // keeps the best 3 (then 1, then none) instead: over 100 seeds no run
    // is withheld, some run has fewer than 6 triples, and efficiency holds
    // in every one.
    Game g = shapt::word_game(12);
    std::vector<uint8_t> zero(12, 0), one(12, 1);
    double gap = g.value(one.data()) - g.value(zero.data());
    size_t fewer = 0;
    for (uint64_t seed = 0; seed < 100; seed++) {
        xd_kshap_opts o = opts(seed);
        o.nsamples = 140;
        KsRun r = kshap(g, o);
        EXPECT_EQ(nullptr, r.info.stderr_reason) << "seed " << seed;
        EXPECT_LE(r.info.n_triples, 6u);
        fewer += r.info.n_triples < 6;
        EXPECT_NEAR(gap, shapt::sum(r.phi), 1e-9);
    }
    printf("kernelshap d=12 budget 140: %zu of 100 runs fell back to fewer triples\n", fewer);
    EXPECT_GT(fewer, 0u);
}

TEST(KernelShap, StudentQuantileAndCollapsedStrata) {
    // t_0.975(df): the t density integrated from 0 to it (Simpson, 20000
    // steps) is 0.475, at table points and between them.
    for (double df : {1.0, 1.1, 2.2, 7.0, 13.0, 45.0, 300.0}) {
        double q = xd_kshap_t975(df);
        double c = std::exp(std::lgamma((df + 1) / 2) - std::lgamma(df / 2)) / std::sqrt(df * M_PI);
        auto pdf = [&](double t) { return c * std::pow(1 + t * t / df, -(df + 1) / 2); };
        const int n = 20000;
        double h = q / n, s = pdf(0) + pdf(q);
        for (int i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(i * h);
        EXPECT_NEAR(0.475, s * h / 3, 3e-4) << df;
    }
    EXPECT_TRUE(std::isinf(xd_kshap_t975(0.5)));
    // Strata with 1, 3, 0, 1 and 2 draws (one projection): the first pools
    // with the second (4 draws), the lone fourth with the fifth (3): groups
    // {0, 1} and {3, 4}; and a last short group would join the one before
    // (checked below). Each group's variance is f n/(n-1) times its sum of squares about its
    // own mean, f = 1 - n / (pairs of its strata).
    std::vector<std::vector<double>> t = {{0.5}, {1.0, -2.0, 0.25}, {}, {3.0}, {-1.0, 0.5}};
    const double pop[5] = {10, 20, 5, 8, 4};
    std::vector<size_t> seen;
    std::vector<double> mean, m2;
    for (auto &v : t) {
        double mu = 0, q = 0;
        for (double a : v) mu += a / (double)v.size();
        for (double a : v) q += (a - mu) * (a - mu);
        seen.push_back(v.size());
        mean.push_back(v.empty() ? 0 : mu);
        m2.push_back(q);
    }
    double var, df;
    EXPECT_EQ(2u, xd_kshap_strata_var(1, 5, seen.data(), mean.data(), m2.data(), pop, &var, &df));
    auto group = [&](std::vector<double> v, double popn, double *a) {
        double n = (double)v.size(), mu = 0, q = 0;
        for (double x : v) mu += x / n;
        for (double x : v) q += (x - mu) * (x - mu);
        *a = (1 - n / popn) * n / (n - 1) * q;
        return n;
    };
    double a1, a2;
    double n1 = group({0.5, 1.0, -2.0, 0.25}, 10 + 20, &a1);
    double n2 = group({3.0, -1.0, 0.5}, 8 + 4, &a2);
    EXPECT_NEAR(a1 + a2, var, 1e-12);
    EXPECT_NEAR((a1 + a2) * (a1 + a2) / (a1 * a1 / (n1 - 1) + a2 * a2 / (n2 - 1)), df, 1e-9);
    // 2 draws then 1: the short last group joins the first, one group of 3.
    std::vector<double> mean3 = {0.25, 3.0}, m23 = {0.125, 0.0};   // {0, 0.5}, {3}
    size_t two_one[2] = {2, 1};
    EXPECT_EQ(1u, xd_kshap_strata_var(1, 2, two_one, mean3.data(), m23.data(), pop, &var, &df));
    double a3;
    group({0.0, 0.5, 3.0}, 10 + 20, &a3);
    EXPECT_NEAR(a3, var, 1e-12);
    // A single draw in all: no group, no variance.
    size_t one[2] = {1, 0};
    EXPECT_EQ(0u, xd_kshap_strata_var(1, 2, one, mean.data(), m2.data(), pop, &var, &df));
}

TEST(KernelShap, ToleranceStopsEarlyAndSaysSo) {
    Game g = shapt::dense_game(16, 2, 3);
    xd_kshap_opts o = opts(5);
    o.nsamples = 3000;
    // Sizes 1-3 are enumerated (1392 coalitions); the first batch leaves the
    // relative standard error well above 0.003, which takes several batches
    // of 200 to reach, short of the budget.
    o.tol = 0.003;
    o.batch = 200;
    KsRun r = kshap(g, o);
    printf("tol 0.003: %zu batches, %zu evaluations, rel_se %.5f\n", (size_t)r.out.n_batches,
           (size_t)r.out.n_evals, r.out.rel_se);
    EXPECT_TRUE(r.out.converged);
    EXPECT_LT(r.out.rel_se, 0.003);
    EXPECT_LT(r.out.n_evals, 3002u);
    EXPECT_GT(r.out.n_batches, 5u);
    // An unreachable tolerance spends the budget and reports no convergence.
    o.tol = 1e-9;
    o.nsamples = 1500;
    KsRun s = kshap(g, o);
    EXPECT_FALSE(s.out.converged);
    EXPECT_EQ(1502u, s.out.n_evals);
}

TEST(KernelShap, ErrorShrinksWithBudget) {
    // Mean absolute error over seeds at 500 vs 8000 samples (d = 16): the
    // estimator is consistent, so 16x the samples must cut it well down.
    Game g = shapt::dense_game(16, 2, 12);
    std::vector<double> exact = g.exact();
    double err[2] = {0, 0};
    size_t budgets[2] = {500, 8000};
    for (int b = 0; b < 2; b++)
        for (uint64_t seed = 0; seed < 10; seed++) {
            xd_kshap_opts o = opts(seed);
            o.nsamples = budgets[b];
            err[b] += max_abs_diff(exact, kshap(g, o).phi);
        }
    EXPECT_LT(err[1], 0.5 * err[0]);
}

// ---- through xai_explain on the evaluator ---------------------------------

TEST(KernelShap, MethodOnTabularSpaceMatchesClosedFormAndZeroesConstants) {
    // f = 1 + sum w_j u_j; feature 2 equals every background row, so it is
    // not varying: exactly 0, and KernelSHAP runs on the other 4.
    std::vector<double> w = {1.0, -2.0, 3.0, 0.5, 1.5};
    std::vector<double> x = {1.0, 2.0, 7.0, -1.0, 0.5};
    std::vector<double> bg = {0, 0, 7, 0, 0, 1, 1, 7, 1, 1, 2, -1, 7, 3, 0};
    LinearModel m(w, x, bg);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "kernelshap", {{"seed", 1}}, &r, &err)) << err.message;
    ASSERT_EQ(5u, r->d);
    for (size_t j = 0; j < 5; j++) {
        double mean = (bg[j] + bg[5 + j] + bg[10 + j]) / 3;
        EXPECT_NEAR(w[j] * (x[j] - mean), r->values[j], 1e-9) << j;
    }
    EXPECT_EQ(0.0, r->values[2]);
    ASSERT_NE(nullptr, r->stderrs);
    EXPECT_EQ(4, xai_value_get_int(xai_value_get(r->extra, "n_varying")));
    double sum = 0;
    for (size_t j = 0; j < 5; j++) sum += r->values[j];
    EXPECT_NEAR(r->fx - r->base_value, sum, 1e-9);
    xai_result_free(r);
}

TEST(KernelShap, MethodOnTextMatchesExactShapley) {
    // Additive word model, positions as features: each word's value is its
    // score (UNK scores 0), and exact_shapley agrees.
    WordModel m({{"free", 0.4}, {"money", 0.3}, {"now", -0.1}}, "get free money now, free!");
    xai_result *r = nullptr, *ex = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "kernelshap", {{"target", 1}}, &r, &err)) << err.message;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "exact_shapley", {{"target", 1}}, &ex, &err)) << err.message;
    ASSERT_EQ(ex->d, r->d);
    for (size_t j = 0; j < r->d; j++) EXPECT_NEAR(ex->values[j], r->values[j], 1e-9) << j;
    EXPECT_NEAR(0.4, r->values[1], 1e-9);  // tokens: get free money now free
    EXPECT_NEAR(0.0, r->base_value, 1e-12);
    xai_result_free(r);
    xai_result_free(ex);
}

TEST(KernelShap, BadOptionsAreErrors) {
    std::vector<double> w = {1.0, 2.0}, x = {1.0, 1.0}, bg = {0.0, 0.0};
    LinearModel m(w, x, bg);
    xai_value *p = xai_value_map();
    xai_value_set_str(p, "link", "probit");
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(XAI_ERR_INVALID, xai_explain(m.ev, "kernelshap", p, &r, &err));
    EXPECT_NE(nullptr, strstr(err.message, "link"));
    xai_value_free(p);
    EXPECT_EQ(nullptr, r);
}

TEST(KernelShap, InteractionOptionsSetTheThreeWayTerms) {
    // d = 14 at 1000 coalitions: min(C(14,3), 1000/8 - 13, 512) = 112 triples
    // by default, `max_interactions` caps them, `interactions: false` drops
    // them; a linear model is exact in every case.
    std::vector<double> w(14), x(14), bg(28);
    for (size_t j = 0; j < 14; j++) {
        w[j] = 0.5 - 0.1 * (double)j;
        x[j] = 1.0 + (double)(j % 3);
        bg[j] = 0.5 * (double)(j % 4);
        bg[14 + j] = -1.0;
    }
    LinearModel m(w, x, bg);
    struct Case { bool off; int64_t max; size_t triples; } cases[] = {
        {false, 0, 112}, {false, 7, 7}, {true, 0, 0}};
    for (const Case &c : cases) {
        xai_value *p = xai_value_map();
        xai_value_set_int(p, "nsamples", 1000);
        if (c.off) xai_value_set_bool(p, "interactions", false);
        if (c.max) xai_value_set_int(p, "max_interactions", c.max);
        xai_result *r = nullptr;
        xai_error err;
        ASSERT_EQ(XAI_OK, xai_explain(m.ev, "kernelshap", p, &r, &err)) << err.message;
        xai_value_free(p);
        EXPECT_EQ((int64_t)c.triples, xai_value_get_int(xai_value_get(r->extra, "n_triples")));
        for (size_t j = 0; j < 14; j++)
            EXPECT_NEAR(w[j] * (x[j] - (bg[j] + bg[14 + j]) / 2), r->values[j], 1e-9) << j;
        xai_result_free(r);
    }
    for (int64_t bad : {0, 513}) {
        xai_value *p = xai_value_map();
        xai_value_set_int(p, "max_interactions", bad);
        xai_result *r = nullptr;
        xai_error err;
        EXPECT_EQ(XAI_ERR_INVALID, xai_explain(m.ev, "kernelshap", p, &r, &err));
        EXPECT_NE(nullptr, strstr(err.message, "max_interactions"));
        EXPECT_EQ(nullptr, r);
        xai_value_free(p);
    }
}

// ---- background summarization ---------------------------------------------

TEST(KernelShap, KmeansFindsSeparatedClustersAndTheirWeights) {
    // Three points near (0, 0), one at (10, 20), two near (-5, 5); k = 3.
    // The clusters are unambiguous, so the centres are the cluster means
    // (before rounding) and the weights 3/6, 1/6, 2/6 in some order.
    std::vector<double> rows = {0, 0, 0.2, 0, 0, 0.4, 10, 20, -5, 5, -5.2, 5};
    std::vector<double> c(6), cw(3);
    size_t k = 0;
    ASSERT_EQ(XAI_OK, xai_background_kmeans(rows.data(), 6, 2, nullptr, 3, 1, false, c.data(),
                                            cw.data(), &k, nullptr));
    ASSERT_EQ(3u, k);
    double seen = 0;
    for (size_t i = 0; i < 3; i++) {
        if (std::fabs(c[2 * i] - 0.2 / 3) < 1e-12) {
            EXPECT_NEAR(0.4 / 3, c[2 * i + 1], 1e-12);
            EXPECT_NEAR(0.5, cw[i], 1e-12);
            seen += 1;
        } else if (c[2 * i] == 10) {
            EXPECT_EQ(20, c[2 * i + 1]);
            EXPECT_NEAR(1.0 / 6, cw[i], 1e-12);
            seen += 10;
        } else {
            EXPECT_NEAR(-5.1, c[2 * i], 1e-12);
            EXPECT_NEAR(2.0 / 6, cw[i], 1e-12);
            seen += 100;
        }
    }
    EXPECT_EQ(111, seen);
    // Rounding snaps every coordinate to a value its column takes.
    ASSERT_EQ(XAI_OK, xai_background_kmeans(rows.data(), 6, 2, nullptr, 3, 1, true, c.data(),
                                            cw.data(), &k, nullptr));
    for (size_t i = 0; i < 6; i++) {
        bool found = false;
        for (size_t r = 0; r < 6; r++) found |= rows[2 * r + i % 2] == c[i];
        EXPECT_TRUE(found) << c[i];
    }
}

TEST(KernelShap, BackgroundKmeansOptionSummarizesTheBackground) {
    // Background: (0, 0) three times and (10, 20) once; k = 2 gives exactly
    // those two rows with weights 3/4 and 1/4, whose mean (2.5, 5) is the
    // data's: the linear model's values are unchanged, and each coalition
    // now renders 2 rows instead of 4.
    std::vector<double> w = {1.0, -2.0}, x = {4.0, 1.0};
    std::vector<double> bg = {0, 0, 0, 0, 10, 20, 0, 0};
    LinearModel m(w, x, bg);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "kernelshap", {{"background_kmeans", 2}}, &r, &err))
        << err.message;
    EXPECT_NEAR(1.0 * (4.0 - 2.5), r->values[0], 1e-9);
    EXPECT_NEAR(-2.0 * (1.0 - 5.0), r->values[1], 1e-9);
    EXPECT_EQ(2, xai_value_get_int(xai_value_get(r->extra, "background_kmeans")));
    const xai_value *ks = xai_value_get(r->extra, "kmeans_stats");
    ASSERT_NE(nullptr, ks);
    // masks: empty and full, then 2 coalitions ({0}, {1}); 2 rows each = 8 rows
    // at most (the full mask may already be cached).
    EXPECT_LE(xai_value_get_int(xai_value_get(ks, "rows_sent")), 8);
    xai_result_free(r);
}

TEST(KernelShap, BackgroundKmeansNeedsATabularSpace) {
    WordModel m({{"a", 0.1}}, "a b c");
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(XAI_ERR_INVALID, explain_with(m.ev, "kernelshap", {{"background_kmeans", 2}}, &r, &err));
}
