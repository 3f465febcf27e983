/* exact_shapley.c — Shapley values by enumerating all 2^d coalitions.
 *
 * The game is v(S) = f_t(mask of S): the model on the input with exactly the
 * features of S kept. Every coalition is evaluated (the evaluator batches and
 * caches) in chunks, and then
 *
 *   phi_i = sum_{S not containing i} |S|! (d-|S|-1)! / d! * (v(S+i) - v(S)),
 *
 * in double with the d weights precomputed. Coalition S is the integer whose
 * bit i is set when feature i is in S, so v is indexed by bitmask. Cost:
 * 2^d model inputs and d 2^d additions, hence the limit d <= 20. This is the
 * ground truth the sampling methods are tested against. Several targets
 * are several games over the same 2^d outputs.
 *
 * Chunks are sized by time, so progress (and the check for cancellation
 * and deadlines, which runs before each model call) comes about every
 * CHUNK_SECONDS of work whatever the model's speed: the first chunk is
 * CHUNK_FIRST masks, and each next one is scaled by CHUNK_SECONDS over the
 * last one's wall time (at most x4, at least /2, within [CHUNK_MIN,
 * CHUNK_MAX], CHUNK_MAX bounding memory). The values do not depend on the
 * chunking: each coalition is one mask evaluated once.
 */
#include <string.h>
#include "../core/core.h"
#include "method.h"

#define CHUNK_FIRST ((size_t)1024)
#define CHUNK_MIN ((size_t)256)
#define CHUNK_MAX ((size_t)1 << 16)
#define CHUNK_SECONDS 0.1

/* w[s] = s!(d-s-1)!/d! = 1 / (d * C(d-1, s)) for s in [0, d). */
static void shapley_weights(size_t d, double *w) {
    double c = 1.0;     /* C(d-1, s) */
    for (size_t s = 0; s < d; s++) {
        w[s] = 1.0 / ((double)d * c);
        c = c * (double)(d - 1 - s) / (double)(s + 1);
    }
}

xai_status xd_shapley_exact_from_values(size_t d, const double *v, double *phi) {
    if (d > XD_SHAPLEY_EXACT_MAX_D) return XAI_ERR_LIMIT;
    double w[XD_SHAPLEY_EXACT_MAX_D + 1] = {0};  /* w[d]: the full coalition, unused */
    shapley_weights(d, w);
    for (size_t i = 0; i < d; i++) phi[i] = 0.0;
    size_t n = (size_t)1 << d;
    for (size_t s = 0; s < n; s++) {
        double ws = w[__builtin_popcountll((unsigned long long)s)];
        for (size_t i = 0; i < d; i++)
            if (!((s >> i) & 1)) phi[i] += ws * (v[s | ((size_t)1 << i)] - v[s]);
    }
    return XAI_OK;
}

/* The next chunk after one of c masks that took `seconds`. */
static size_t next_chunk(size_t c, double seconds) {
    double scale = seconds > 0 ? CHUNK_SECONDS / seconds : 4.0;
    scale = scale > 4.0 ? 4.0 : scale < 0.5 ? 0.5 : scale;
    double next = (double)c * scale;
    if (next < (double)CHUNK_MIN) return CHUNK_MIN;
    if (next > (double)CHUNK_MAX) return CHUNK_MAX;
    return (size_t)next;
}

/* Evaluates v over all 2^d coalitions into v[t 2^d + S], per target t. */
static xai_status eval_game(const xd_method_ctx *mc, double *v, xai_error *err) {
    size_t d = mc->d, n = (size_t)1 << d, chunk = XD_MIN(n, CHUNK_FIRST);
    uint8_t *masks = xd_try_malloc(xd_mul(XD_MIN(n, CHUNK_MAX), d ? d : 1));
    if (masks == NULL) return xd_err(err, XAI_ERR_NOMEM, "exact_shapley: masks of %zu features", d);
    xai_status st = XAI_OK;
    for (size_t base = 0, c = 0; base < n && st == XAI_OK; base += c) {
        c = XD_MIN(chunk, n - base);
        for (size_t r = 0; r < c; r++)
            for (size_t i = 0; i < d; i++) masks[r * d + i] = ((base + r) >> i) & 1;
        double t0 = xd_now();
        st = xd_method_eval_targets(mc, masks, c, v + base, 1, n, err);
        xai_eval_set_progress(mc->ev, (double)(base + c) / (double)n);
        chunk = next_chunk(c, xd_now() - t0);
    }
    xd_free(masks);
    return st;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    *out = NULL;
    size_t d = mc->d;
    if (d > XD_SHAPLEY_EXACT_MAX_D)
        return xd_err(err, XAI_ERR_LIMIT, "exact_shapley: %zu features, at most %d (2^d coalitions)",
                      d, XD_SHAPLEY_EXACT_MAX_D);
    size_t n = (size_t)1 << d;
    size_t kt = mc->n_targets;
    double *v = xd_try_malloc(xd_mul(xd_mul(n, kt), sizeof *v));
    xai_result *r = xd_method_result_new(mc, "exact_shapley");
    xai_status st = XAI_OK;
    if (v == NULL || r == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "exact_shapley: %zu coalitions", n);
        goto cleanup;
    }
    st = eval_game(mc, v, err);
    if (st != XAI_OK) goto cleanup;
    for (size_t t = 0; t < kt; t++) {
        xd_shapley_exact_from_values(d, v + t * n, r->values + t * d);
        xd_method_set_base(r, t, v[t * n]);
    }
    r->extra = xai_value_map();
    if (r->extra == NULL || xai_value_set_int(r->extra, "coalitions", (int64_t)n) != XAI_OK) {
        st = xd_err(err, XAI_ERR_NOMEM, "exact_shapley: result");
        goto cleanup;
    }
    *out = r;
    r = NULL;
cleanup:
    xai_result_free(r);
    xd_free(v);
    return st;
}

static const xai_param_info params[] = {{NULL, NULL, NULL, NULL, NULL}};

const xd_method xd_method_exact_shapley = {"exact_shapley", run, params, true};
