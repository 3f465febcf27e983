/* lime_text.c — LIME's text sampler and kernel (LimeTextExplainer of lime
 * 0.2): masks that remove a uniform number of features, and the cosine
 * kernel of width 25 on 100 x cosine distance to the instance.
 *
 * The space decides what a feature is (bag of words: a distinct word, all
 * its occurrences go together; positions: one token), so this file only
 * deals in masks. Row 0 is the instance itself (all ones).
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "lime.h"

void xd_lime_text_masks(xai_rng *r, size_t d, size_t n, uint8_t *masks, size_t *scratch,
                        size_t *pick) {
    if (n == 0) return;
    memset(masks, 1, n * d);
    for (size_t i = 1; i < n && d > 0; i++) {
        size_t m = 1 + (size_t)xai_rng_below(r, d);
        xai_rng_sample(r, d, m, pick, scratch);
        for (size_t j = 0; j < m; j++) masks[i * d + pick[j]] = 0;
    }
}

void xd_lime_text_weights(const uint8_t *masks, size_t n, size_t d, double width, double *w) {
    for (size_t i = 0; i < n; i++) {
        size_t kept = 0;
        for (size_t j = 0; j < d; j++) kept += masks[i * d + j] != 0;
        /* cosine similarity of a 0/1 vector with `kept` ones and all-ones:
         * kept / (sqrt(kept) sqrt(d)); scikit-learn treats a zero vector as
         * similarity 0 */
        double sim = kept && d ? sqrt((double)kept / (double)d) : 0.0;
        double dist = 100.0 * (1.0 - sim);
        w[i] = sqrt(exp(-(dist * dist) / (width * width)));
    }
}
