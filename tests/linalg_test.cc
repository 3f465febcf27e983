// linalg_test.cc — the LAPACKE-backed solvers of daemon/core/linalg.c
// against an independent solver (ridge_reference.h: normal equations in long
// double, solved by Gaussian elimination with partial pivoting).
#include <gtest/gtest.h>
#include <cstring>
#include <cmath>
#include <vector>

#include "ridge_reference.h"

extern "C" {
#include "core/linalg.h"
#include "xai/rng.h"
}

namespace {

using ridgeref::LVec;

struct Problem {
    size_t n, p;
    std::vector<double> X, y, w;
};

Problem random_problem(size_t n, size_t p, uint64_t seed, bool binary) {
    xai_rng r;
    xai_rng_seed(&r, seed, 0);
    Problem pr{n, p, std::vector<double>(n * p), std::vector<double>(n), std::vector<double>(n)};
    for (size_t i = 0; i < n * p; i++)
        pr.X[i] = binary ? (double)xai_rng_below(&r, 2) : xai_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        pr.y[i] = xai_rng_normal(&r);
        pr.w[i] = 0.1 + xai_rng_uniform(&r);
    }
    return pr;
}

}  // namespace

TEST(Linalg, RidgeMatchesLongDoubleNormalEquations) {
    for (double alpha : {1.0, 0.01, 0.0}) {
        Problem pr = random_problem(300, 7, 11, true);
        std::vector<double> beta(pr.p);
        double b0 = 0;
        xai_error err;
        ASSERT_EQ(XAI_OK, xd_linalg_ridge(pr.X.data(), pr.n, pr.p, pr.y.data(), pr.w.data(),
                                          alpha, beta.data(), &b0, &err));
        LVec ref = ridgeref::ridge(pr.X, pr.n, pr.p, pr.y, pr.w, alpha);
        for (size_t j = 0; j < pr.p; j++) EXPECT_NEAR((double)ref[j], beta[j], 1e-10) << alpha;
        EXPECT_NEAR((double)ref[pr.p], b0, 1e-10) << alpha;
    }
}

TEST(Linalg, LeastSquaresRecoversAnExactLinearModel) {
    // y = 2 - x0 + 3 x2 exactly: alpha = 0 must give those numbers back.
    Problem pr = random_problem(50, 3, 5, false);
    for (size_t i = 0; i < pr.n; i++) pr.y[i] = 2.0 - pr.X[i * 3] + 3.0 * pr.X[i * 3 + 2];
    double beta[3], b0;
    ASSERT_EQ(XAI_OK, xd_linalg_ridge(pr.X.data(), pr.n, 3, pr.y.data(), pr.w.data(), 0.0, beta,
                                      &b0, nullptr));
    EXPECT_NEAR(-1.0, beta[0], 1e-12);
    EXPECT_NEAR(0.0, beta[1], 1e-12);
    EXPECT_NEAR(3.0, beta[2], 1e-12);
    EXPECT_NEAR(2.0, b0, 1e-12);
    EXPECT_NEAR(1.0, xd_linalg_weighted_r2(pr.X.data(), pr.n, 3, pr.y.data(), pr.w.data(), beta, b0),
                1e-12);
}

TEST(Linalg, SingularSystemGetsTheMinimumNormSolution) {
    // [[1,1],[1,1]] x = [2,2]: every x0 + x1 = 2 solves it; the minimum norm
    // one is (1, 1). Cholesky fails, so the SVD path must take over.
    double A[4] = {1, 1, 1, 1}, b[2] = {2, 2};
    int deficient = 0;
    ASSERT_EQ(XAI_OK, xd_linalg_sym_solve(A, 2, b, 1, &deficient, nullptr));
    EXPECT_EQ(1, deficient);
    EXPECT_NEAR(1.0, b[0], 1e-12);
    EXPECT_NEAR(1.0, b[1], 1e-12);
}

TEST(Linalg, SymSolveGivesABackBitForBit) {
    // Cholesky runs in A's own storage; both paths must hand A back as it was.
    // [[4,2,0],[2,5,1],[0,1,3]] x = A (1,2,3) = (8,15,11).
    double A[9] = {4, 2, 0, 2, 5, 1, 0, 1, 3}, A0[9], b[3] = {8, 15, 11};
    memcpy(A0, A, sizeof A);
    int deficient = 1;
    ASSERT_EQ(XAI_OK, xd_linalg_sym_solve(A, 3, b, 1, &deficient, nullptr));
    EXPECT_EQ(0, deficient);
    EXPECT_NEAR(1.0, b[0], 1e-12);
    EXPECT_NEAR(2.0, b[1], 1e-12);
    EXPECT_NEAR(3.0, b[2], 1e-12);
    EXPECT_EQ(0, memcmp(A, A0, sizeof A));
    double S[4] = {1, 1, 1, 1}, S0[4], c[2] = {2, 2};
    memcpy(S0, S, sizeof S);
    ASSERT_EQ(XAI_OK, xd_linalg_sym_solve(S, 2, c, 1, &deficient, nullptr));
    EXPECT_EQ(1, deficient);
    EXPECT_EQ(0, memcmp(S, S0, sizeof S));
}

TEST(Linalg, ConstantColumnWithoutPenaltyStillSolves) {
    // A constant column is absorbed by the intercept; centred it is all zero,
    // so its coefficient is 0 in the minimum-norm solution.
    Problem pr = random_problem(40, 2, 9, false);
    for (size_t i = 0; i < pr.n; i++) {
        pr.X[i * 2 + 1] = 4.0;
        pr.y[i] = 1.5 * pr.X[i * 2] + 0.5;
    }
    double beta[2], b0;
    ASSERT_EQ(XAI_OK, xd_linalg_ridge(pr.X.data(), pr.n, 2, pr.y.data(), pr.w.data(), 0.0, beta,
                                      &b0, nullptr));
    EXPECT_NEAR(1.5, beta[0], 1e-12);
    EXPECT_NEAR(0.0, beta[1], 1e-12);
    EXPECT_NEAR(0.5, b0, 1e-12);
}

TEST(Linalg, WeightedGramMatchesTheSum) {
    Problem pr = random_problem(600, 5, 3, false);  // more rows than one chunk
    std::vector<double> G(25, 1.0);                 // accumulates onto existing values
    ASSERT_EQ(XAI_OK, xd_linalg_wgram(pr.X.data(), pr.n, 5, pr.w.data(), 0.5, G.data(), nullptr));
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 5; b++) {
            long double s = 1.0L;
            for (size_t i = 0; i < pr.n; i++)
                s += 0.5L * pr.w[i] * pr.X[i * 5 + a] * pr.X[i * 5 + b];
            EXPECT_NEAR((double)s, G[a * 5 + b], 1e-10);
        }
}

TEST(Linalg, MatmulMatchesTheSums) {
    Problem pr = random_problem(300, 4, 5, false);
    std::vector<double> V = {1, 0, -2, 0.5, 0, 1, 1, -1, 3, 0.25, 0, 2};   // 4 x 3
    std::vector<double> T(300 * 3, 7.0);                                  // overwritten
    xd_linalg_matmul(pr.X.data(), pr.n, 4, V.data(), 3, T.data());
    for (size_t i = 0; i < pr.n; i++)
        for (size_t j = 0; j < 3; j++) {
            long double s = 0;
            for (size_t a = 0; a < 4; a++) s += (long double)pr.X[i * 4 + a] * V[a * 3 + j];
            EXPECT_NEAR((double)s, T[i * 3 + j], 1e-12) << i << "," << j;
        }
}

TEST(Linalg, WeightedR2ByHand) {
    // x = (0, 1, 2), y = (0, 1, 3), w = (1, 1, 2); fit yhat = x.
    // ybar = (0 + 1 + 6) / 4 = 1.75; ss_tot = 1*3.0625 + 1*0.5625 + 2*1.5625 = 6.75;
    // ss_res = 0 + 0 + 2*1 = 2; R^2 = 1 - 2/6.75.
    double X[3] = {0, 1, 2}, y[3] = {0, 1, 3}, w[3] = {1, 1, 2}, beta[1] = {1};
    EXPECT_NEAR(1.0 - 2.0 / 6.75, xd_linalg_weighted_r2(X, 3, 1, y, w, beta, 0.0), 1e-15);
}

TEST(Linalg, ZeroWeightsAreAnError) {
    double X[2] = {1, 2}, y[2] = {1, 2}, w[2] = {0, 0}, beta[1], b0;
    xai_error err;
    EXPECT_EQ(XAI_ERR_INVALID, xd_linalg_ridge(X, 2, 1, y, w, 1.0, beta, &b0, &err));
}

TEST(Linalg, SandwichIsTheSampleCovarianceWhenAIsTheIdentity) {
    // A = I: cov = m/(m-1) * (1/m)... = the unbiased sample covariance of the
    // rows times m (a sum of m scores). Rows (1,0), (3,2), (2,4): means (2, 2);
    // deviations (-1,-2), (1,0), (0,2); sum of outer products
    // [[2, 2], [2, 8]]; times m/(m-1) = 3/2: [[3, 3], [3, 12]].
    double A[4] = {1, 0, 0, 1}, g[6] = {1, 0, 3, 2, 2, 4}, cov[4];
    ASSERT_EQ(XAI_OK, xd_linalg_sandwich(A, 2, g, 3, cov, nullptr));
    EXPECT_NEAR(3.0, cov[0], 1e-12);
    EXPECT_NEAR(3.0, cov[1], 1e-12);
    EXPECT_NEAR(3.0, cov[2], 1e-12);
    EXPECT_NEAR(12.0, cov[3], 1e-12);
    // A = 2I halves on both sides: a quarter.
    double A2[4] = {2, 0, 0, 2}, g2[6] = {1, 0, 3, 2, 2, 4};
    ASSERT_EQ(XAI_OK, xd_linalg_sandwich(A2, 2, g2, 3, cov, nullptr));
    EXPECT_NEAR(0.75, cov[0], 1e-12);
    EXPECT_NEAR(3.0, cov[3], 1e-12);
}
