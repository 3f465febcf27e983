/* linalg.h — the few dense solvers the methods need, on LAPACKE and CBLAS.
 *
 * Matrices are row-major doubles. Nothing here is hand-written elimination:
 * Gram matrices come from cblas_dsyrk / cblas_dgemv, positive definite
 * systems from LAPACKE_dposv (Cholesky), and singular or indefinite ones
 * fall back to LAPACKE_dgelsd (SVD least squares, the minimum-norm solution),
 * so a rank-deficient design never fails, it gets the pseudo-inverse answer
 * (what numpy.linalg.lstsq returns).
 *
 * Errors: XAI_ERR_NOMEM when a work buffer cannot be had, XAI_ERR_NUMERIC
 * when LAPACK reports a failure (an SVD that does not converge).
 */
#ifndef XD_LINALG_H
#define XD_LINALG_H

#include <stddef.h>
#include "xai/xai.h"

/* Solves A X = B for symmetric p x p A (row-major, lower triangle and upper
 * both filled) and p x nrhs B, overwriting B with X. A is factored in
 * place and given back on return (its lower triangle rebuilt from the
 * upper, so a symmetric A is unchanged bit for bit): no p x p copy.
 * Cholesky first; when A is not positive definite, the minimum-norm least
 * squares solution by SVD (rcond 1e-12 relative to the largest singular
 * value). *rank_deficient (may be NULL) tells which path was taken. */
xai_status xd_linalg_sym_solve(double *A, size_t p, double *B, size_t nrhs,
                               int *rank_deficient, xai_error *err);

/* Copies the upper triangle of the p x p row-major G onto the lower. */
void xd_linalg_mirror_upper(double *G, size_t p);

/* G += c * X^T diag(w) X for X n x p (row-major), G p x p, full symmetric
 * result; w NULL means unit weights. Rows with w <= 0 are skipped. */
xai_status xd_linalg_wgram(const double *X, size_t n, size_t p, const double *w, double c,
                           double *G, xai_error *err);

/* Weighted ridge regression with an unpenalized intercept, as scikit-learn's
 * Ridge(alpha, fit_intercept=True).fit(X, y, sample_weight=w): X and y are
 * centred at their w-weighted means, beta solves
 *     (Xc^T W Xc + alpha I) beta = Xc^T W yc,
 * and intercept = ybar - xbar . beta. alpha = 0 is plain weighted least
 * squares (minimum-norm when the design is singular). w NULL = unit weights;
 * weights must be >= 0 with a positive sum. beta has p entries. */
xai_status xd_linalg_ridge(const double *X, size_t n, size_t p, const double *y,
                           const double *w, double alpha, double *beta, double *intercept,
                           xai_error *err);

/* The sandwich (delta-method) covariance of an M-estimator whose estimating
 * equations are A theta = sum_u g_u over m i.i.d. units: the m x p scores g
 * (row-major, overwritten: centred in place) give S = m/(m-1) sum_u (g_u -
 * gbar)(g_u - gbar)^T, and cov (p x p, caller's) = A^-1 S A^-1. m < 2 gives
 * a cov of NaN. */
xai_status xd_linalg_sandwich(double *A, size_t p, double *g, size_t m, double *cov,
                              xai_error *err);
/* The last step alone: S (p x p, symmetric) becomes A^-1 S A^-1 in place. */
xai_status xd_linalg_sandwich_cov(double *A, size_t p, double *S, xai_error *err);

/* T = X V for X m x p and V p x q (row-major; T m x q, the caller's), by
 * cblas_dgemm. */
void xd_linalg_matmul(const double *X, size_t m, size_t p, const double *V, size_t q, double *T);
/* Weighted R^2 of the fit (beta, intercept) on (X, y, w), as scikit-learn's
 * r2_score with sample_weight: 1 - sum w (y - yhat)^2 / sum w (y - ybar)^2.
 * When y is constant: 1 if the fit is perfect, else 0 (scikit-learn's rule). */
double xd_linalg_weighted_r2(const double *X, size_t n, size_t p, const double *y,
                             const double *w, const double *beta, double intercept);

#endif
