/* faithfulness.c — pixel flipping (Samek et al. 2017): deletion and insertion
 * curves and AOPC for any attribution over any evaluator's features.
 *
 * Features are ranked by decreasing attribution (ties by index, so the order
 * is deterministic). Step k of deletion removes the first k*step ranked
 * features from the full input; step k of insertion keeps only them. Masks
 * are evaluated in chunks through the evaluator, so a network, a local
 * function or a remote model are all measured the same way, with its cache.
 */
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "xai/nn.h"

#define MASK_CHUNK 256

typedef struct {
    double v;
    size_t i;
} ranked;

static int by_value_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Scores of masks k = 0..steps where mask k holds the first min(k*step, d)
 * ranked features at `on` and the rest at !on. */
static xai_status curve(xai_eval *ev, const size_t *order, size_t d, size_t step, size_t steps,
                        bool delete, size_t target, double *out, xai_error *err) {
    size_t k = xai_eval_n_outputs(ev), n = steps + 1, m = XD_MIN(n, (size_t)MASK_CHUNK);
    uint8_t *masks = xd_try_malloc(xd_mul(m, d ? d : 1));
    double *y = xd_try_malloc(xd_mul(xd_mul(m, k), sizeof *y));
    xai_status st = masks && y ? XAI_OK : xd_err(err, XAI_ERR_NOMEM, "faithfulness: %zu masks", m);
    for (size_t k0 = 0; st == XAI_OK && k0 < n; k0 += m) {
        size_t nk = XD_MIN(m, n - k0);
        for (size_t r = 0; r < nk; r++) {
            uint8_t *z = masks + r * d;
            size_t first = XD_MIN((k0 + r) * step, d);
            memset(z, delete ? 1 : 0, d);
            for (size_t j = 0; j < first; j++) z[order[j]] = delete ? 0 : 1;
        }
        st = xai_eval_masks(ev, masks, nk, y, err);
        for (size_t r = 0; st == XAI_OK && r < nk; r++) out[k0 + r] = y[r * k + target];
    }
    xd_free(masks);
    xd_free(y);
    return st;
}

static double area(const double *c, size_t steps) {
    if (steps == 0) return c[0];
    double a = 0;
    for (size_t k = 0; k < steps; k++) a += 0.5 * (c[k] + c[k + 1]);
    return a / (double)steps;
}

void xai_faithfulness_clear(xai_faithfulness *f) {
    if (f == NULL) return;
    xd_free(f->deletion);
    xd_free(f->insertion);
    f->deletion = f->insertion = NULL;
}

xai_status xai_faithfulness_run(xai_eval *ev, const double *attr, size_t target, size_t step,
                                xai_faithfulness *out, xai_error *err) {
    memset(out, 0, sizeof *out);
    size_t d = xai_eval_n_features(ev);
    if (target >= xai_eval_n_outputs(ev))
        return xd_err(err, XAI_ERR_INVALID, "faithfulness: target %zu is not an output", target);
    if (step == 0) step = 1;
    size_t steps = d == 0 ? 0 : (d + step - 1) / step;
    ranked *r = xd_try_malloc(xd_mul(d ? d : 1, sizeof *r));
    size_t *order = xd_try_malloc(xd_mul(d ? d : 1, sizeof *order));
    out->deletion = xd_try_malloc(xd_mul(steps + 1, sizeof(double)));
    out->insertion = xd_try_malloc(xd_mul(steps + 1, sizeof(double)));
    xai_status st = XAI_OK;
    if (!r || !order || !out->deletion || !out->insertion) {
        st = xd_err(err, XAI_ERR_NOMEM, "faithfulness: %zu features", d);
        goto cleanup;
    }
    for (size_t i = 0; i < d; i++) r[i] = (ranked){attr[i], i};
    qsort(r, d, sizeof *r, by_value_desc);
    for (size_t i = 0; i < d; i++) order[i] = r[i].i;
    st = curve(ev, order, d, step, steps, true, target, out->deletion, err);
    if (st == XAI_OK) st = curve(ev, order, d, step, steps, false, target, out->insertion, err);
    if (st != XAI_OK) goto cleanup;
    out->n_steps = steps;
    double s = 0;
    for (size_t k = 0; k <= steps; k++) s += out->deletion[0] - out->deletion[k];
    out->aopc = s / (double)(steps + 1);
    out->deletion_area = area(out->deletion, steps);
    out->insertion_area = area(out->insertion, steps);
cleanup:
    if (st != XAI_OK) xai_faithfulness_clear(out);
    xd_free(r);
    xd_free(order);
    return st;
}
