/* space.h — perturbation spaces: what a mask means for one input.
 *
 * An input x is split into d interpretable features. A mask z in {0,1}^d
 * (one byte per feature, nonzero keeps the feature) selects which features
 * stay; the space renders a mask into model inputs:
 *
 *  - text: features are token positions, or distinct tokens (bag of words:
 *    masking a word removes all its occurrences). A removed token becomes the
 *    mask token (default "UNK") or is deleted (its bytes vanish, separators
 *    stay). The all-ones mask renders the original text byte for byte.
 *    One model input (a text) per mask.
 *  - tabular: features are the columns of a row x. A mask renders into one
 *    row per background row b: column j is x_j where z_j = 1 and b_j where
 *    z_j = 0. The evaluator reports the background-weighted mean of the model
 *    over those rows: the interventional expectation E_b[f(z ? x : b)] that
 *    KernelSHAP estimates. With one background row it is f of that one row.
 *  - tensor (in nn.h): features are pixels or patches of an NCHW tensor; a
 *    removed feature takes a baseline value.
 *
 * A space is immutable after creation and may be shared by threads. It
 * copies everything it is given.
 */
#ifndef XAI_SPACE_H
#define XAI_SPACE_H

#include <stdbool.h>
#include "xai.h"
#include "text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a model takes as input. */
typedef enum xai_input_kind {
    XAI_INPUT_TEXT = 1,   /* a batch of UTF-8 strings */
    XAI_INPUT_ROWS = 2    /* a batch of rows of doubles (tabular, tensors flattened) */
} xai_input_kind;

typedef struct xai_space xai_space;

typedef struct xai_text_space_opts {
    const char *mask_token;   /* NULL = "UNK"; ignored when delete_removed */
    bool delete_removed;      /* removed tokens vanish instead of being replaced */
    bool bag_of_words;        /* features = distinct tokens; default positions */
} xai_text_space_opts;

/* A text space over `toks` (copied). opts may be NULL for the defaults. */
xai_status xai_space_text_new(const xai_tokens *toks, const xai_text_space_opts *opts,
                              xai_space **out, xai_error *err);

typedef struct xai_tabular_space_opts {
    const double *background;     /* n_background x d, row-major; required */
    size_t n_background;          /* >= 1 */
    const double *weights;        /* n_background weights >= 0, or NULL for uniform */
    const char *const *feature_names; /* d names, or NULL for "x0", "x1", ... */
} xai_tabular_space_opts;

/* A tabular space around row x[0..d). */
xai_status xai_space_tabular_new(const double *x, size_t d, const xai_tabular_space_opts *opts,
                                 xai_space **out, xai_error *err);

/* Summarizes a background by weighted k-means (what shap.kmeans does for
 * KernelExplainer): rows is n x d (row-major), weights n values >= 0 or NULL
 * for uniform. k-means++ seeding from `seed`, Lloyd iterations to a fixed
 * point (at most 300), the best of 4 starts by weighted inertia. With
 * round_values each centre coordinate is replaced by the nearest value that
 * column takes in the data. centers (k x d) and center_weights (k, the
 * clusters' weight shares, summing to 1) are the caller's buffers; *k_out
 * (<= k, <= n) is the number of non-empty clusters written. */
xai_status xai_background_kmeans(const double *rows, size_t n, size_t d, const double *weights,
                                 size_t k, uint64_t seed, bool round_values, double *centers,
                                 double *center_weights, size_t *k_out, xai_error *err);

void xai_space_free(xai_space *s);

/* Number of features d. */
size_t xai_space_n_features(const xai_space *s);
/* What the space renders for the model. */
xai_input_kind xai_space_input_kind(const xai_space *s);
/* Name of feature i: the token text (text), the column name (tabular),
 * "c,y,x" or the patch origin (tensor). Lives as long as the space. */
const char *xai_space_feature_name(const xai_space *s, size_t i);
/* Model inputs rendered per mask (n_background for tabular, else 1). */
size_t xai_space_rows_per_mask(const xai_space *s);
/* Columns of each rendered row (ROWS spaces), 0 for text. */
size_t xai_space_n_cols(const xai_space *s);

/* Text spaces: the tokens, and the feature that token j belongs to. NULL and
 * (size_t)-1 for other spaces. */
const xai_tokens *xai_space_text_tokens(const xai_space *s);
size_t xai_space_text_token_feature(const xai_space *s, size_t token);
/* Renders mask[0..d) as a text (for examples shown to people).
 * *out is malloc'd and NUL-terminated (free with xai_free). */
xai_status xai_space_text_render(const xai_space *s, const uint8_t *mask,
                                 char **out, size_t *len, xai_error *err);

/* Tabular spaces: x (d values), and the background (rows, count, normalized
 * weights summing to 1). NULL for other spaces. */
const double *xai_space_tabular_x(const xai_space *s);
const double *xai_space_tabular_background(const xai_space *s, size_t *n,
                                           const double **weights);

#ifdef __cplusplus
}
#endif
#endif
