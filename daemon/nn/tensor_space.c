/* tensor_space.c — the tensor perturbation space: features are pixels or
 * square patches of a c x h x w input; a removed feature takes the baseline.
 *
 * A feature covers every channel of its pixels. `owner[y * w + x]` is the
 * feature of each position, so rendering a mask is one pass over the tensor
 * that picks x or the baseline per value. One model row per mask.
 */
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "space/space_impl.h"
#include "nn_impl.h"

typedef struct tensor {
    size_t c, h, w, patch, gh, gw;
    double *x, *base; /* c*h*w each */
    size_t *owner;    /* h*w feature indices */
} tensor;

static xai_status render(const xai_space *s, const uint8_t *mask, xd_inputs *out, xai_error *err) {
    const tensor *t = s->impl;
    double *row = xd_inputs_push_row(out);
    if (row == NULL) return xd_err(err, XAI_ERR_NOMEM, "tensor: rendering a row");
    size_t hw = t->h * t->w;
    for (size_t ch = 0; ch < t->c; ch++) {
        const double *x = t->x + ch * hw, *b = t->base + ch * hw;
        double *r = row + ch * hw;
        for (size_t p = 0; p < hw; p++) r[p] = mask[t->owner[p]] ? x[p] : b[p];
    }
    return XAI_OK;
}

static void free_tensor(tensor *t) {
    if (t == NULL) return;
    xd_free(t->x);
    xd_free(t->base);
    xd_free(t->owner);
    xd_free(t);
}

static void destroy(xai_space *s) {
    free_tensor(s->impl);
}

static const xd_space_vtab tensor_vtab = {"tensor", render, destroy};

/* Fills owner[] and the feature names "y,x" (top-left of each patch). */
static void layout(xai_space *s, tensor *t) {
    for (size_t y = 0; y < t->h; y++)
        for (size_t x = 0; x < t->w; x++)
            t->owner[y * t->w + x] = (y / t->patch) * t->gw + x / t->patch;
    for (size_t gy = 0; gy < t->gh; gy++)
        for (size_t gx = 0; gx < t->gw; gx++) {
            char name[48];
            snprintf(name, sizeof name, "%zu,%zu", gy * t->patch, gx * t->patch);
            s->feature_names[gy * t->gw + gx] = xd_strdup(name);
        }
}

xai_status xai_space_tensor_new(const double *x, size_t c, size_t h, size_t w,
                                const xai_tensor_space_opts *opts, xai_space **out,
                                xai_error *err) {
    *out = NULL;
    size_t n = xd_mul(xd_mul(c, h), w);
    if (x == NULL || n == 0 || n > ((size_t)1 << 26))
        return xd_err(err, XAI_ERR_INVALID, "tensor space: shape %zux%zux%zu is empty or too large",
                      c, h, w);
    size_t patch = opts && opts->patch > 1 ? opts->patch : 1;
    tensor *t = xd_try_calloc(1, sizeof *t);
    if (t == NULL) return xd_err(err, XAI_ERR_NOMEM, "tensor space");
    *t = (tensor){c,    h,    w,   patch, (h + patch - 1) / patch, (w + patch - 1) / patch,
                  NULL, NULL, NULL};
    t->x = xd_try_malloc(n * sizeof *t->x);
    t->base = xd_try_malloc(n * sizeof *t->base);
    t->owner = xd_try_malloc(h * w * sizeof *t->owner);
    xai_space *s = xd_space_alloc(&tensor_vtab, XAI_INPUT_ROWS, t->gh * t->gw, 1, n);
    if (s == NULL || !t->x || !t->base || !t->owner) {
        xai_space_free(s);
        free_tensor(t);
        return xd_err(err, XAI_ERR_NOMEM, "tensor space: %zu values", n);
    }
    s->impl = t;
    memcpy(t->x, x, n * sizeof *t->x);
    for (size_t i = 0; i < n; i++)
        t->base[i] = opts && opts->baseline ? opts->baseline[i] : opts ? opts->fill : 0.0;
    layout(s, t);
    *out = s;
    return XAI_OK;
}

void xai_space_tensor_grid(const xai_space *s, size_t *grid_h, size_t *grid_w) {
    const tensor *t = s && s->vt == &tensor_vtab ? s->impl : NULL;
    *grid_h = t ? t->gh : 0;
    *grid_w = t ? t->gw : 0;
}
