/* lime_fit.c — LIME's surrogate on given samples: feature selection, the
 * weighted ridge with intercept, its weighted R^2, the local prediction, and
 * sandwich standard errors of the coefficients.
 *
 * Selection, as lime_base.LimeBase.feature_selection:
 *   none              every feature
 *   highest_weights   Ridge(alpha=0.01) on all features; the k largest
 *                     |coef_j * X[0,j]| (ties keep the lower index first, as
 *                     Python's stable sort does)
 *   forward_selection k rounds; each adds the feature whose Ridge(alpha=0)
 *                     fit on the chosen ones plus it has the best weighted
 *                     R^2 (the first best on ties)
 *   auto              forward_selection when k <= 6, else highest_weights
 * The surrogate is then Ridge(alpha) on the selected features. Every fit is
 * xd_linalg_ridge (LAPACKE), nothing hand-solved.
 *
 * Standard errors. The n - 1 perturbed samples are i.i.d.; the ridge
 * solution solves A beta = sum_i g_i with A = Xc^T W Xc + alpha I and
 * per-sample scores g_i = w_i r_i xc_i - alpha beta / (n - 1), so its
 * sampling covariance is A^-1 S A^-1 (xd_linalg_sandwich). This is the
 * run-to-run spread of the coefficients over seeds, not a model-based error.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "../core/linalg.h"
#include "lime.h"

static const char *const sel_names[] = {"none", "highest_weights", "forward_selection", "auto"};

xai_status xd_lime_parse_selection(const char *s, xd_lime_selection *out, xai_error *err) {
    for (size_t i = 0; i < XD_ARRAY_LEN(sel_names); i++)
        if (strcmp(s, sel_names[i]) == 0) {
            *out = (xd_lime_selection)i;
            return XAI_OK;
        }
    return xd_err(err, XAI_ERR_INVALID,
                  "option 'feature_selection' must be none, highest_weights, forward_selection "
                  "or auto, not '%s'", s);
}

const char *xd_lime_selection_name(xd_lime_selection s) { return sel_names[s]; }

/* Columns cols[0..m) of X (n x d) into sub (n x m). */
static void gather(const double *X, size_t n, size_t d, const size_t *cols, size_t m,
                   double *sub) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) sub[i * m + j] = X[i * d + cols[j]];
}

typedef struct scratch {
    double *sub;    /* n x min(k, d): the columns of a subset fit */
    double *beta;   /* d */
    size_t *order;  /* d */
} scratch;

static bool is_identity(const size_t *cols, size_t m, size_t d) {
    if (m != d) return false;
    for (size_t j = 0; j < m; j++)
        if (cols[j] != j) return false;
    return true;
}

/* Ridge on columns cols[0..m) (X itself when they are all of them, in
 * order); returns the weighted R^2 in *score. */
static xai_status fit_cols(const double *X, size_t n, size_t d, const size_t *cols, size_t m,
                           const double *y, const double *w, double alpha, scratch *s,
                           double *b0, double *score, xai_error *err) {
    const double *Z = X;
    if (!is_identity(cols, m, d)) {
        gather(X, n, d, cols, m, s->sub);
        Z = s->sub;
    }
    xai_status st = xd_linalg_ridge(Z, n, m, y, w, alpha, s->beta, b0, err);
    if (st == XAI_OK && score) *score = xd_linalg_weighted_r2(Z, n, m, y, w, s->beta, *b0);
    return st;
}

static xai_status select_highest(const double *X, size_t n, size_t d, const double *y,
                                 const double *w, size_t k, scratch *s, xd_lime_fit *out,
                                 xai_error *err) {
    double b0;
    for (size_t j = 0; j < d; j++) s->order[j] = j;
    xai_status st = fit_cols(X, n, d, s->order, d, y, w, 0.01, s, &b0, NULL, err);
    if (st != XAI_OK) return st;
    /* stable insertion sort by |coef * X[0]| descending */
    for (size_t i = 1; i < d; i++) {
        size_t f = s->order[i], j = i;
        double key = fabs(s->beta[f] * X[f]);
        while (j > 0 && fabs(s->beta[s->order[j - 1]] * X[s->order[j - 1]]) < key) {
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = f;
    }
    out->n_selected = XD_MIN(k, d);
    memcpy(out->selected, s->order, out->n_selected * sizeof *out->selected);
    return XAI_OK;
}

static xai_status select_forward(const double *X, size_t n, size_t d, const double *y,
                                 const double *w, size_t k, scratch *s, xd_lime_fit *out,
                                 xai_error *err) {
    size_t m = XD_MIN(k, d);
    uint8_t *used = xd_try_calloc(d, 1);
    if (used == NULL) return xd_err(err, XAI_ERR_NOMEM, "lime: %zu features", d);
    xai_status st = XAI_OK;
    for (size_t t = 0; t < m && st == XAI_OK; t++) {
        double best_score = -1e8, b0, sc;
        size_t best = 0;
        for (size_t f = 0; f < d && st == XAI_OK; f++) {
            if (used[f]) continue;
            out->selected[t] = f;
            st = fit_cols(X, n, d, out->selected, t + 1, y, w, 0.0, s, &b0, &sc, err);
            if (st == XAI_OK && sc > best_score) best_score = sc, best = f;
        }
        out->selected[t] = best;
        used[best] = 1;
    }
    out->n_selected = m;
    xd_free(used);
    return st;
}

/* Score of sample i (>= 1) for the selected columns into g; xc gets its
 * centred row. g_i = w_i r_i xc_i - alpha beta / (n - 1). */
static void sample_score(const double *X, size_t n, size_t d, const double *y, const double *w,
                         double alpha, double b0, const double *xbar, const xd_lime_fit *out,
                         size_t i, double *g) {
    size_t m = out->n_selected;
    double r = y[i] - b0;
    for (size_t j = 0; j < m; j++) r -= X[i * d + out->selected[j]] * out->coef[out->selected[j]];
    for (size_t j = 0; j < m; j++)
        g[j] = w[i] * r * (X[i * d + out->selected[j]] - xbar[j]) -
               alpha * out->coef[out->selected[j]] / (double)(n - 1);
}

enum { CHUNK = 256 };

/* xbar (weighted means of the selected columns) and A = Xc^T W Xc +
 * alpha I over them, formed in chunks through buf (CHUNK x m). */
static xai_status selected_gram(const double *X, size_t n, size_t d, const double *w,
                                double alpha, const xd_lime_fit *out, double *xbar, double *A,
                                double *buf, xai_error *err) {
    size_t m = out->n_selected;
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        wsum += w[i];
        for (size_t j = 0; j < m; j++) xbar[j] += w[i] * X[i * d + out->selected[j]];
    }
    for (size_t j = 0; j < m; j++) xbar[j] /= wsum;
    xai_status st = XAI_OK;
    for (size_t i0 = 0; i0 < n && st == XAI_OK; i0 += CHUNK) {
        size_t c = XD_MIN((size_t)CHUNK, n - i0);
        for (size_t r = 0; r < c; r++)
            for (size_t j = 0; j < m; j++)
                buf[r * m + j] = X[(i0 + r) * d + out->selected[j]] - xbar[j];
        st = xd_linalg_wgram(buf, c, m, w + i0, 1.0, A, err);
    }
    for (size_t j = 0; j < m; j++) A[j * m + j] += alpha;
    return st;
}

/* Sandwich standard errors of the final fit: S from the scores of samples
 * 1..n-1 (two passes: their mean, then the centred outer products in
 * chunks), cov = A^-1 S A^-1. */
static xai_status fit_errors(const double *X, size_t n, size_t d, const double *y,
                             const double *w, double alpha, double b0, xd_lime_fit *out,
                             xai_error *err) {
    size_t m = out->n_selected;
    double *A = xd_try_calloc(m * m + 1, sizeof *A), *S = xd_try_calloc(m * m + 1, sizeof *S);
    double *xbar = xd_try_calloc(m + 1, sizeof *xbar), *gbar = xd_try_calloc(m + 1, sizeof *gbar);
    double *buf = xd_try_malloc(xd_mul(CHUNK * m + 1, sizeof *buf));
    xai_status st = XAI_OK;
    if (!A || !S || !xbar || !gbar || !buf) {
        st = xd_err(err, XAI_ERR_NOMEM, "lime: errors of %zu coefficients", m);
        goto cleanup;
    }
    st = selected_gram(X, n, d, w, alpha, out, xbar, A, buf, err);
    for (size_t i = 1; i < n; i++) {                                 /* mean score */
        sample_score(X, n, d, y, w, alpha, b0, xbar, out, i, buf);
        for (size_t j = 0; j < m; j++) gbar[j] += buf[j] / (double)(n - 1);
    }
    double f = (double)(n - 1) / (double)(n - 2);
    for (size_t i0 = 1; i0 < n && st == XAI_OK; i0 += CHUNK) {     /* S, in chunks */
        size_t c = XD_MIN((size_t)CHUNK, n - i0);
        for (size_t r = 0; r < c; r++) {
            sample_score(X, n, d, y, w, alpha, b0, xbar, out, i0 + r, buf + r * m);
            for (size_t j = 0; j < m; j++) buf[r * m + j] -= gbar[j];
        }
        st = xd_linalg_wgram(buf, c, m, NULL, f, S, err);
    }
    if (st == XAI_OK) st = xd_linalg_sandwich_cov(A, m, S, err);
    for (size_t j = 0; st == XAI_OK && j < m; j++)
        out->se[out->selected[j]] = sqrt(XD_MAX(S[j * m + j], 0.0));
cleanup:
    xd_free(buf);
    xd_free(gbar);
    xd_free(xbar);
    xd_free(S);
    xd_free(A);
    return st;
}

static xai_status fit_final(const double *X, size_t n, size_t d, const double *y,
                            const double *w, double alpha, scratch *s, xd_lime_fit *out,
                            xai_error *err) {
    size_t m = out->n_selected;
    double b0, score;
    xai_status st = fit_cols(X, n, d, out->selected, m, y, w, alpha, s, &b0, &score, err);
    if (st != XAI_OK) return st;
    memset(out->coef, 0, d * sizeof *out->coef);
    memset(out->se, 0, d * sizeof *out->se);
    out->intercept = b0;
    out->score = score;
    out->local_pred = b0;
    for (size_t j = 0; j < m; j++) {
        out->coef[out->selected[j]] = s->beta[j];
        out->local_pred += s->beta[j] * X[out->selected[j]];
    }
    return n > 2 ? fit_errors(X, n, d, y, w, alpha, b0, out, err) : XAI_OK;
}

xai_status xd_lime_fit_data(const double *X, size_t n, size_t d, const double *y,
                            const double *w, xd_lime_selection sel, size_t k, double alpha,
                            xd_lime_fit *out, xai_error *err) {
    if (n == 0) return xd_err(err, XAI_ERR_INVALID, "lime: no samples");
    scratch s = {
        .sub = xd_try_malloc(xd_mul(xd_mul(n, XD_MIN(k, d)) + 1, sizeof(double))),
        .beta = xd_try_malloc(xd_mul(d + 1, sizeof(double))),
        .order = xd_try_malloc(xd_mul(d + 1, sizeof(size_t))),
    };
    xai_status st = XAI_OK;
    if (!s.sub || !s.beta || !s.order) {
        st = xd_err(err, XAI_ERR_NOMEM, "lime: %zu samples of %zu features", n, d);
        goto cleanup;
    }
    if (sel == XD_LIME_SEL_AUTO) sel = k <= 6 ? XD_LIME_SEL_FORWARD : XD_LIME_SEL_HIGHEST;
    out->used = sel;
    if (sel == XD_LIME_SEL_NONE) {
        for (size_t j = 0; j < d; j++) out->selected[j] = j;
        out->n_selected = d;
    } else if (sel == XD_LIME_SEL_HIGHEST) {
        st = select_highest(X, n, d, y, w, k, &s, out, err);
    } else {
        st = select_forward(X, n, d, y, w, k, &s, out, err);
    }
    if (st == XAI_OK) st = fit_final(X, n, d, y, w, alpha, &s, out, err);
cleanup:
    xd_free(s.order);
    xd_free(s.beta);
    xd_free(s.sub);
    return st;
}
