// ridge_reference.h — an independent weighted ridge for the tests of the
// LAPACKE solvers (linalg_test.cc) and of LIME's surrogate (lime_test.cc):
// the augmented normal equations in long double, solved by Gaussian
// elimination with partial pivoting. Nothing here shares code with
// daemon/core/linalg.c.
#ifndef XAI_TESTS_RIDGE_REFERENCE_H
#define XAI_TESTS_RIDGE_REFERENCE_H

#include <cmath>
#include <utility>
#include <vector>

namespace ridgeref {

typedef std::vector<long double> LVec;

// Solves the dense system M x = r (M row-major, m x m) in long double.
inline LVec gauss_solve(std::vector<long double> M, LVec r, size_t m) {
    for (size_t c = 0; c < m; c++) {
        size_t piv = c;
        for (size_t i = c + 1; i < m; i++)
            if (std::fabs(M[i * m + c]) > std::fabs(M[piv * m + c])) piv = i;
        for (size_t j = 0; j < m; j++) std::swap(M[c * m + j], M[piv * m + j]);
        std::swap(r[c], r[piv]);
        for (size_t i = c + 1; i < m; i++) {
            long double f = M[i * m + c] / M[c * m + c];
            for (size_t j = c; j < m; j++) M[i * m + j] -= f * M[c * m + j];
            r[i] -= f * r[c];
        }
    }
    LVec x(m);
    for (size_t c = m; c-- > 0;) {
        long double s = r[c];
        for (size_t j = c + 1; j < m; j++) s -= M[c * m + j] * x[j];
        x[c] = s / M[c * m + c];
    }
    return x;
}

// Ridge with an unpenalized intercept: minimize sum w (y - b - X beta)^2 +
// alpha |beta|^2. The gradient is zero where [X1^T W X1 + alpha P] theta =
// X1^T W y, X1 = X with a column of ones appended, P = diag(1..1, 0).
// Returns (beta_0 .. beta_{p-1}, b).
inline LVec ridge(const std::vector<double> &X, size_t n, size_t p, const std::vector<double> &y,
                  const std::vector<double> &w, double alpha) {
    size_t m = p + 1;
    std::vector<long double> M(m * m, 0.0L);
    LVec r(m, 0.0L);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < m; a++) {
            long double xa = a < p ? X[i * p + a] : 1.0L;
            r[a] += (long double)w[i] * xa * y[i];
            for (size_t b = 0; b < m; b++)
                M[a * m + b] += (long double)w[i] * xa * (b < p ? X[i * p + b] : 1.0L);
        }
    for (size_t a = 0; a < p; a++) M[a * m + a] += alpha;
    return gauss_solve(M, r, m);
}

}  // namespace ridgeref

#endif
