/* space.c — what every space shares: allocation, the generic accessors of
 * include/xai/space.h, and destruction through the kind's vtable.
 *
 * Kind-specific accessors (text tokens, tabular background) live with their
 * kind in text.c and tabular.c and answer NULL for other kinds by comparing
 * the vtable pointer.
 */
#include <string.h>
#include "../core/core.h"
#include "space_impl.h"

xai_space *xd_space_alloc(const xd_space_vtab *vt, xai_input_kind kind, size_t d,
                          size_t rows_per_mask, size_t n_cols) {
    if (rows_per_mask == 0) return NULL;
    xai_space *s = xd_try_calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->vt = vt;
    s->input_kind = kind;
    s->d = d;
    s->rows_per_mask = rows_per_mask;
    s->n_cols = n_cols;
    s->feature_names = xd_try_calloc(d, sizeof *s->feature_names);
    s->row_weights = xd_try_malloc(xd_mul(rows_per_mask, sizeof *s->row_weights));
    if (s->feature_names == NULL || s->row_weights == NULL) {
        xd_free(s->feature_names);
        xd_free(s->row_weights);
        xd_free(s);
        return NULL;
    }
    for (size_t b = 0; b < rows_per_mask; b++) s->row_weights[b] = 1.0 / (double)rows_per_mask;
    return s;
}

void xai_space_free(xai_space *s) {
    if (s == NULL) return;
    if (s->vt && s->vt->destroy) s->vt->destroy(s);
    if (s->feature_names)
        for (size_t i = 0; i < s->d; i++) xd_free(s->feature_names[i]);
    xd_free(s->feature_names);
    xd_free(s->row_weights);
    xd_free(s);
}

size_t xai_space_n_features(const xai_space *s) { return s ? s->d : 0; }

xai_input_kind xai_space_input_kind(const xai_space *s) { return s->input_kind; }

const char *xai_space_feature_name(const xai_space *s, size_t i) {
    if (s == NULL || i >= s->d) return NULL;
    return s->feature_names[i];
}

size_t xai_space_rows_per_mask(const xai_space *s) { return s ? s->rows_per_mask : 0; }

size_t xai_space_n_cols(const xai_space *s) {
    return s && s->input_kind == XAI_INPUT_ROWS ? s->n_cols : 0;
}
