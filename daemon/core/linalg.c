/* linalg.c — dense solvers for the methods (see linalg.h), on LAPACKE/CBLAS.
 *
 * The systems here are small (p is a number of features, at most a few
 * hundred) and the designs tall (n samples in the thousands), so every fit
 * goes through the p x p normal equations: one dsyrk pass over the rows in
 * chunks (bounded scratch), then a Cholesky solve. Centring before forming
 * the Gram matrix keeps the intercept fit well conditioned. When Cholesky
 * refuses (a singular design, alpha = 0 with a constant column) the same
 * system is solved by SVD for its minimum-norm solution.
 */
#include <math.h>
#include <string.h>
#include <cblas.h>
#include <lapacke.h>
#include "core.h"
#include "linalg.h"

enum { CHUNK_ROWS = 256 };

void xd_linalg_mirror_upper(double *G, size_t p) {
    enum { TILE = 32 };         /* the reads go down columns: a tile at a time */
    for (size_t i0 = 0; i0 < p; i0 += TILE)
        for (size_t j0 = 0; j0 <= i0; j0 += TILE)
            for (size_t i = i0; i < XD_MIN(i0 + TILE, p); i++)
                for (size_t j = j0; j < XD_MIN(j0 + TILE, i); j++) G[i * p + j] = G[j * p + i];
}

static xai_status svd_solve(const double *A, size_t p, double *B, size_t nrhs, xai_error *err) {
    double *a = xd_try_malloc(xd_mul(xd_mul(p, p), sizeof *a));
    double *s = xd_try_malloc(xd_mul(p, sizeof *s));
    xai_status st = XAI_OK;
    if (a == NULL || s == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "linalg: %zu x %zu system", p, p);
        goto cleanup;
    }
    memcpy(a, A, p * p * sizeof *a);
    lapack_int rank = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)p, (lapack_int)p,
                                     (lapack_int)nrhs, a, (lapack_int)p, B, (lapack_int)nrhs, s,
                                     1e-12, &rank);
    if (info != 0)
        st = xd_err(err, XAI_ERR_NUMERIC, "linalg: least squares failed (dgelsd info %d)",
                    (int)info);
cleanup:
    xd_free(s);
    xd_free(a);
    return st;
}

xai_status xd_linalg_sym_solve(double *A, size_t p, double *B, size_t nrhs,
                               int *rank_deficient, xai_error *err) {
    if (rank_deficient) *rank_deficient = 0;
    if (p == 0 || nrhs == 0) return XAI_OK;
    double *diag = xd_try_malloc(xd_mul(p, sizeof *diag));
    double *b = xd_try_malloc(xd_mul(xd_mul(p, nrhs), sizeof *b));
    xai_status st = XAI_OK;
    if (diag == NULL || b == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "linalg: %zu x %zu system", p, p);
        goto cleanup;
    }
    /* A is symmetric, so its row-major layout is already column-major, and
     * Cholesky works on it in place: LAPACK's 'U' triangle is the row-major
     * lower one, so the strict upper triangle (and the saved diagonal) give
     * A back afterwards, with no p x p copy. Only B is transposed. */
    for (size_t i = 0; i < p; i++) diag[i] = A[i * p + i];
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < nrhs; j++) b[j * p + i] = B[i * nrhs + j];
    lapack_int info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', (lapack_int)p, (lapack_int)nrhs, A,
                                    (lapack_int)p, b, (lapack_int)p);
    for (size_t i = 0; i < p; i++) A[i * p + i] = diag[i];
    xd_linalg_mirror_upper(A, p);
    if (info == 0) {
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < nrhs; j++) B[i * nrhs + j] = b[j * p + i];
    } else if (info > 0) {
        if (rank_deficient) *rank_deficient = 1;
        st = svd_solve(A, p, B, nrhs, err);
    } else {
        st = xd_err(err, XAI_ERR_INTERNAL, "linalg: dposv argument %d", (int)-info);
    }
cleanup:
    xd_free(b);
    xd_free(diag);
    return st;
}

/* The one pass over rows behind every Gram matrix, in chunks of CHUNK_ROWS
 * rows scaled by sqrt(w) (rows with w <= 0 skipped): G += c Xc^T W Xc with
 * Xc = X - xbar (xbar NULL: no centring), and, when r is not NULL,
 * r += Xc^T W (y - ybar). buf holds CHUNK_ROWS x p. */
static void gram_pass(const double *X, size_t n, size_t p, const double *w, double c,
                      const double *xbar, const double *y, double ybar, double *buf, double *G,
                      double *r) {
    size_t i = 0;
    while (i < n) {
        size_t m = 0;
        for (; i < n && m < CHUNK_ROWS; i++) {
            double wi = w ? w[i] : 1.0;
            if (!(wi > 0)) continue;
            double s = sqrt(wi), dy = r ? wi * (y[i] - ybar) : 0.0;
            for (size_t j = 0; j < p; j++) {
                double xc = X[i * p + j] - (xbar ? xbar[j] : 0.0);
                buf[m * p + j] = s * xc;
                if (r) r[j] += dy * xc;
            }
            m++;
        }
        if (m > 0)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)p, (blasint)m, c, buf,
                        (blasint)p, 1.0, G, (blasint)p);
    }
    xd_linalg_mirror_upper(G, p);
}

xai_status xd_linalg_wgram(const double *X, size_t n, size_t p, const double *w, double c,
                           double *G, xai_error *err) {
    if (p == 0) return XAI_OK;
    double *buf = xd_try_malloc(xd_mul(xd_mul(CHUNK_ROWS, p), sizeof *buf));
    if (buf == NULL) return xd_err(err, XAI_ERR_NOMEM, "linalg: gram scratch for %zu columns", p);
    gram_pass(X, n, p, w, c, NULL, NULL, 0.0, buf, G, NULL);
    xd_free(buf);
    return XAI_OK;
}

void xd_linalg_matmul(const double *X, size_t m, size_t p, const double *V, size_t q, double *T) {
    if (m == 0 || q == 0) return;
    if (p == 0) {
        memset(T, 0, m * q * sizeof *T);
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)m, (blasint)q, (blasint)p,
                1.0, X, (blasint)p, V, (blasint)q, 0.0, T, (blasint)q);
}

/* Weighted means of the columns of X and of y; returns the weight sum. */
static double weighted_means(const double *X, size_t n, size_t p, const double *y,
                             const double *w, double *xbar, double *ybar) {
    double sw = 0, sy = 0;
    memset(xbar, 0, p * sizeof *xbar);
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi;
        sy += wi * y[i];
        for (size_t j = 0; j < p; j++) xbar[j] += wi * X[i * p + j];
    }
    if (sw > 0) {
        for (size_t j = 0; j < p; j++) xbar[j] /= sw;
        *ybar = sy / sw;
    }
    return sw;
}

xai_status xd_linalg_ridge(const double *X, size_t n, size_t p, const double *y,
                           const double *w, double alpha, double *beta, double *intercept,
                           xai_error *err) {
    double *xbar = xd_try_calloc(p + 1, sizeof *xbar);
    double *buf = xd_try_malloc(xd_mul(xd_mul(CHUNK_ROWS, p) + 1, sizeof *buf));
    double *G = xd_try_calloc(xd_mul(p, p) + 1, sizeof *G);
    double ybar = 0;
    xai_status st = XAI_OK;
    *intercept = 0;
    if (xbar == NULL || buf == NULL || G == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "ridge: %zu x %zu design", n, p);
        goto cleanup;
    }
    if (!(weighted_means(X, n, p, y, w, xbar, &ybar) > 0)) {
        st = xd_err(err, XAI_ERR_INVALID, "ridge: sample weights sum to zero");
        goto cleanup;
    }
    memset(beta, 0, p * sizeof *beta);
    gram_pass(X, n, p, w, 1.0, xbar, y, ybar, buf, G, beta);  /* centred G and Xc^T W yc */
    for (size_t j = 0; j < p; j++) G[j * p + j] += alpha;
    st = xd_linalg_sym_solve(G, p, beta, 1, NULL, err);
    if (st != XAI_OK) goto cleanup;
    *intercept = ybar;
    for (size_t j = 0; j < p; j++) *intercept -= xbar[j] * beta[j];
cleanup:
    xd_free(G);
    xd_free(buf);
    xd_free(xbar);
    return st;
}

xai_status xd_linalg_sandwich_cov(double *A, size_t p, double *S, xai_error *err) {
    xai_status st = xd_linalg_sym_solve(A, p, S, p, NULL, err);            /* A^-1 S */
    if (st != XAI_OK) return st;
    for (size_t i = 0; i < p; i++)                                          /* (A^-1 S)^T */
        for (size_t j = 0; j < i; j++) {
            double t = S[i * p + j];
            S[i * p + j] = S[j * p + i];
            S[j * p + i] = t;
        }
    return xd_linalg_sym_solve(A, p, S, p, NULL, err);                     /* A^-1 S A^-1 */
}

xai_status xd_linalg_sandwich(double *A, size_t p, double *g, size_t m, double *cov,
                              xai_error *err) {
    if (p == 0) return XAI_OK;
    if (m < 2) {
        for (size_t i = 0; i < p * p; i++) cov[i] = NAN;
        return XAI_OK;
    }
    for (size_t j = 0; j < p; j++) {
        double mean = 0;
        for (size_t u = 0; u < m; u++) mean += g[u * p + j];
        mean /= (double)m;
        for (size_t u = 0; u < m; u++) g[u * p + j] -= mean;
    }
    memset(cov, 0, p * p * sizeof *cov);
    xai_status st = xd_linalg_wgram(g, m, p, NULL, (double)m / (double)(m - 1), cov, err);
    return st == XAI_OK ? xd_linalg_sandwich_cov(A, p, cov, err) : st;
}

double xd_linalg_weighted_r2(const double *X, size_t n, size_t p, const double *y,
                             const double *w, const double *beta, double intercept) {
    double sw = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi;
        sy += wi * y[i];
    }
    double ybar = sw > 0 ? sy / sw : 0, ss_res = 0, ss_tot = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, yhat = intercept;
        for (size_t j = 0; j < p; j++) yhat += X[i * p + j] * beta[j];
        ss_res += wi * (y[i] - yhat) * (y[i] - yhat);
        ss_tot += wi * (y[i] - ybar) * (y[i] - ybar);
    }
    if (ss_tot == 0) return ss_res == 0 ? 1.0 : 0.0;
    return 1.0 - ss_res / ss_tot;
}
