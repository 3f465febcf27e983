/* lime.h — private interface of LIME: the surrogate fit on given samples
 * (what tests drive directly), the text sampler and kernel, and the tabular
 * sampler. lime.c is the method on top.
 *
 * Conventions follow lime 0.2 (marcotcr/lime): the interpretable data X has
 * one row per sample and row 0 is the explained instance; the surrogate is
 * scikit-learn's Ridge(alpha, fit_intercept=True) with sample weights.
 */
#ifndef XD_LIME_H
#define XD_LIME_H

#include <stdbool.h>
#include "method.h"

typedef enum {
    XD_LIME_SEL_NONE = 0,       /* every feature */
    XD_LIME_SEL_HIGHEST,        /* top k by |coef * X[0]| of a ridge with alpha 0.01 */
    XD_LIME_SEL_FORWARD,        /* greedy by weighted R^2 of an unpenalized fit */
    XD_LIME_SEL_AUTO            /* forward when k <= 6, else highest */
} xd_lime_selection;

/* Parses "none" | "highest_weights" | "forward_selection" | "auto". */
xai_status xd_lime_parse_selection(const char *s, xd_lime_selection *out, xai_error *err);
const char *xd_lime_selection_name(xd_lime_selection s);

typedef struct xd_lime_fit {
    double *coef;               /* d, caller's buffer: 0 for features not selected */
    double *se;                 /* d, caller's buffer: sandwich standard errors (0 if not selected) */
    size_t *selected;           /* d, caller's buffer: the selected features, in selection order */
    size_t n_selected;
    xd_lime_selection used;     /* AUTO resolved */
    double intercept;
    double score;               /* weighted R^2 of the surrogate on the samples */
    double local_pred;          /* surrogate at row 0 */
} xd_lime_fit;

/* Fits the surrogate: selects up to k features of X (n x d, row 0 the
 * instance) by `sel`, then ridge(alpha) on them with weights w against y.
 * Standard errors: the sandwich over the n - 1 sampled rows (row 0 is fixed),
 * scores w_i r_i (x_i - xbar) - alpha beta / (n - 1). */
xai_status xd_lime_fit_data(const double *X, size_t n, size_t d, const double *y,
                            const double *w, xd_lime_selection sel, size_t k, double alpha,
                            xd_lime_fit *out, xai_error *err);

/* Text sampling (LimeTextExplainer): row 0 keeps everything; every other row
 * removes m features, m uniform in [1, d], chosen uniformly without
 * replacement. masks is n x d; scratch and pick hold d each. */
void xd_lime_text_masks(xai_rng *r, size_t d, size_t n, uint8_t *masks, size_t *scratch,
                        size_t *pick);

/* Text kernel: distance = 100 x cosine distance between the mask and the
 * all-ones mask (1 - sqrt(kept / d); an empty mask is at distance 100),
 * weight = sqrt(exp(-distance^2 / width^2)). */
void xd_lime_text_weights(const uint8_t *masks, size_t n, size_t d, double width, double *w);

/* Tabular sampling (LimeTabularExplainer), see lime_tabular.c. */
typedef struct xd_lime_tab_opts {
    size_t n;                   /* samples, row 0 = x */
    bool discretize;            /* quartile bins (default) or continuous */
    double kernel_width;        /* <= 0: 0.75 sqrt(d) */
} xd_lime_tab_opts;

/* Fills X (n x d interpretable rows), rows (n x d model inputs) and w (n
 * weights) for x against the background (nb x d). conditions, when not NULL,
 * gets d malloc'd strings describing x's bin ("1.5 < x2 <= 3"), or NULL
 * entries in continuous mode; free each with xd_free. */
xai_status xd_lime_tabular_sample(const double *x, size_t d, const double *bg, size_t nb,
                                  const char *const *names, const xd_lime_tab_opts *o,
                                  xai_rng *r, double *X, double *rows, double *w,
                                  char **conditions, xai_error *err);

#endif
