/* anchors_store.c — the samples of an anchors search: each sample's hold
 * set (the features that held in it) and label (whether the prediction
 * held), in runs of samples drawn under one feature set.
 *
 * Rows are append-only. A run records the set once instead of per sample,
 * so the validity rule (a sample counts for A when it was drawn under a
 * subset of A and every feature of A holds in it) tests the set once per
 * run. The bit-sliced view (xd_anchor_store_rows) turns the hold sets
 * around, a bit row per feature over the samples, for counting many
 * candidates by ANDs and popcounts (anchors_bits.c).
 */
#include <string.h>
#include "../core/core.h"
#include "anchors_impl.h"

xai_status xd_anchor_store_reserve(xd_anchor_store *st, size_t extra, xai_error *err) {
    if (st->n + extra <= st->cap) return XAI_OK;
    size_t cap = XD_MAX(st->n + extra, 2 * st->cap);
    uint64_t *h = xd_try_realloc(st->holds, xd_mul(xd_mul(cap, st->W), sizeof *h));
    if (h) st->holds = h;
    uint8_t *l = h ? xd_try_realloc(st->label, cap) : NULL;
    if (l == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: storing %zu samples", cap);
    st->label = l;
    st->cap = cap;
    return XAI_OK;
}

xai_status xd_anchor_store_add_run(xd_anchor_store *st, size_t start, const uint64_t *under,
                                   xai_error *err) {
    if (st->runs == st->runs_cap) {
        size_t cap = st->runs_cap ? 2 * st->runs_cap : 16;
        size_t *rs = xd_try_realloc(st->run_start, xd_mul(cap, sizeof *rs));
        if (rs) st->run_start = rs;
        uint64_t *ru = rs ? xd_try_realloc(st->run_under, xd_mul(xd_mul(cap, st->W), sizeof *ru))
                          : NULL;
        if (ru == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu sampling runs", cap);
        st->run_under = ru;
        st->runs_cap = cap;
    }
    st->run_start[st->runs] = start;
    memcpy(st->run_under + st->runs * st->W, under, st->W * sizeof *under);
    st->runs++;
    return XAI_OK;
}

size_t xd_anchor_store_run_end(const xd_anchor_store *st, size_t k) {
    return k + 1 < st->runs ? st->run_start[k + 1] : st->n;
}

void xd_anchor_store_release(xd_anchor_store *st) {
    xd_free(st->holds);
    xd_free(st->label);
    xd_free(st->run_start);
    xd_free(st->run_under);
    memset(st, 0, sizeof *st);
}

void xd_anchor_store_count(const xd_anchor_store *st, const uint64_t *set, bool exact, double *n,
                           double *pos) {
    double nn = 0, pp = 0;
    for (size_t k = 0; k < st->runs; k++) {
        const uint64_t *under = st->run_under + k * st->W;
        if (!xd_anchor_subset(under, set, st->W)) continue;
        if (exact && !xd_anchor_subset(set, under, st->W)) continue;
        for (size_t i = st->run_start[k]; i < xd_anchor_store_run_end(st, k); i++) {
            if (!xd_anchor_subset(set, st->holds + i * st->W, st->W)) continue;
            nn += 1;
            pp += st->label[i];
        }
    }
    *n = nn;
    *pos = pp;
}

uint64_t *xd_anchor_store_rows(const xd_anchor_store *st, size_t m, size_t n0, size_t *RW_out) {
    size_t R = st->n - n0, RW = (R + 63) / 64, W = st->W;
    uint64_t *rows = xd_try_calloc(xd_mul(m + 2, RW ? RW : 1), sizeof *rows);
    if (rows == NULL) return NULL;
    uint64_t *lab = rows + m * RW;
    for (size_t j = 0; j < R; j++) {
        const uint64_t *h = st->holds + (n0 + j) * W, bit = (uint64_t)1 << (j % 64);
        for (size_t w = 0; w < W; w++)
            for (uint64_t e = h[w]; e; e &= e - 1)
                rows[(w * 64 + (size_t)__builtin_ctzll(e)) * RW + j / 64] |= bit;
        if (st->label[n0 + j]) lab[j / 64] |= bit;
    }
    *RW_out = RW;
    return rows;
}

uint64_t xd_anchor_range_bits(size_t w, size_t a, size_t b) {
    uint64_t lo = w == a / 64 ? ~(uint64_t)0 << (a % 64) : ~(uint64_t)0;
    uint64_t hi = w == (b - 1) / 64 && b % 64 ? ((uint64_t)1 << (b % 64)) - 1 : ~(uint64_t)0;
    return lo & hi;
}
