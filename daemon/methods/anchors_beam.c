/* anchors_beam.c — the anchors search: beam search over anchor size, with
 * KL-LUCB choosing the best candidates of each size and a precision test
 * deciding each chosen candidate against the threshold.
 *
 * Samples are kept for the whole search (the store) and shared: a sample
 * drawn under anchor B in which every feature of A holds, with B ⊆ A, is a
 * draw from A's distribution (the features of A \ B happened to be kept, the
 * rest were perturbed as under A), so it counts for A. A child therefore
 * starts with its parent's samples in which the new feature was kept, and
 * also with those of the empty anchor and of every other subset. The rule
 * depends on the masks only, never on the labels, so counts stay unbiased.
 *
 * Each sampling round (the warm-up, a KL-LUCB round, a round of precision
 * tests, a pooled draw) draws for all the arms it names and asks the
 * sampler to evaluate them in one evaluator request.
 *
 * A size where no candidate can be valid (every upper bound below the
 * threshold) is not narrowed by KL-LUCB: all its candidates become parents
 * (when their children stay under max_expand), and the next size starts
 * with one pooled draw under the features its candidates share, which
 * serves all of them at once. Tied candidates (two halves of a conjunction)
 * otherwise cost KL-LUCB thousands of draws to separate for nothing.
 *
 * Cost per candidate (a level of m features can hold m^2 / 2 of them):
 * children are counted from the store bit-sliced (one bit row per feature,
 * a child's count is a popcount of its parent's valid samples AND the new
 * feature's row), text coverage depends on the size alone, candidate
 * arrays are written only as children are added, and KL-LUCB sorts its
 * arms once and then re-sorts incrementally.
 *
 * Memory: a candidate is its features in order (32-bit numbers; its set is
 * rebuilt from them when needed) and its counts. Each size's candidates and
 * KL-LUCB's scratch share one block, and the two blocks of a search (the
 * parents' size and the children's) are reused from size to size. Fresh
 * pages cost more than the counting (a page fault per 4 KiB, several
 * microseconds on a virtual machine). glibc's mmap and trim thresholds
 * follow the largest block freed, so after the first searches it serves
 * one large block from its heap and keeps it there for the next search,
 * where separate arrays per level would add up past the trim threshold and
 * go back to the system after every search.
 *
 * The chosen anchor's reported numbers come from samples the search never
 * saw: p->fresh_samples draws under it after the search (and, for tabular,
 * fresh model-free coverage samples). The search's own counts of the
 * winner are biased upwards (it won because its counts looked good); the
 * fresh ones are not, and success is an exact binomial test on them, so
 * an anchor whose precision is below the threshold comes back as a
 * success with probability at most delta.
 *
 * Invariants: store rows are append-only; a candidate's (n, pos) are the
 * counts of the store samples valid for it; the search compares coverage
 * on model-free samples of the empty anchor.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "anchors_impl.h"
#include "binom_bounds.h"
#include "kl_lucb.h"

/* The candidates of one size, all in `block` (kept for a later size). */
typedef struct cands {
    size_t count, cap, size;
    uint32_t *orders;           /* cap x size: features in the order added */
    double *n, *pos, *cov;
    void *lucb_work;            /* KL-LUCB's scratch for cap arms */
    void *block;
    size_t block_bytes;
} cands;

/* A remembered anchor (the best valid one, the best-precision fallback). */
typedef struct pick {
    bool set;
    size_t size;
    size_t *order;
    double cov, mean;
} pick;

typedef struct search {
    const xd_anchor_params *p;
    xd_anchor_sampler *smp;
    size_t m, W;
    xd_anchor_store st;
    uint64_t *cov_bits;         /* m x CW: bit i of row f = feature f holds in coverage sample i */
    uint64_t *cov_acc;          /* CW words: coverage samples where a parent holds */
    size_t n_cov, CW;
    uint64_t *set, *shared;     /* W words each, scratch */
    cands *cur;                 /* the level KL-LUCB works on */
    size_t budget;              /* rows the search may draw: max_samples less the fresh ones */
    size_t lucb_rounds, rounds;
} search;

/* ---- candidates ----------------------------------------------------- */

static void cands_release(cands *c) {
    xd_free(c->block);
    memset(c, 0, sizeof *c);
}

/* Room for cap candidates of `size` features, none yet (cands_push adds
 * them), in c's block when it is large enough. Not zeroed: a level has
 * room for n_top * m children and uses about half. */
static xai_status cands_alloc(cands *c, size_t cap, size_t size, xai_error *err) {
    cap = cap ? cap : 1;
    size_t work = xd_lucb_work_size(cap);
    size_t bytes = xd_mul(cap, 3 * sizeof(double) + (size ? size : 1) * sizeof(uint32_t));
    bytes = bytes > SIZE_MAX - work ? SIZE_MAX : bytes + work;
    if (bytes > c->block_bytes) {
        cands_release(c);
        c->block = xd_try_malloc(bytes);
        if (c->block == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu candidates", cap);
        c->block_bytes = bytes;
    }
    c->count = 0;
    c->cap = cap;
    c->size = size;
    c->n = c->block;
    c->pos = c->n + cap;
    c->cov = c->pos + cap;
    c->lucb_work = c->cov + cap;
    c->orders = (uint32_t *)((char *)c->lucb_work + work);
    return XAI_OK;
}

/* Adds an empty candidate without samples (count < cap); its index. */
static size_t cands_push(cands *c) {
    size_t i = c->count++;
    c->n[i] = c->pos[i] = c->cov[i] = 0;
    return i;
}

/* The feature set (W words) of candidate i. */
static void cand_set(const cands *c, size_t i, size_t W, uint64_t *set) {
    const uint32_t *ord = c->orders + i * c->size;
    memset(set, 0, W * sizeof *set);
    for (size_t k = 0; k < c->size; k++) xd_anchor_add(set, ord[k]);
}

/* acc (CW words) = the coverage samples in which every feature of set
 * holds: the AND of the features' bit rows. */
static void coverage_acc(const search *s, const uint64_t *set, uint64_t *acc) {
    for (size_t w = 0; w < s->CW; w++) acc[w] = ~(uint64_t)0;
    if (s->n_cov % 64) acc[s->CW - 1] = ((uint64_t)1 << (s->n_cov % 64)) - 1;
    for (size_t sw = 0; sw < s->W; sw++)
        for (uint64_t e = set[sw]; e; e &= e - 1) {
            const uint64_t *row = s->cov_bits + (sw * 64 + (size_t)__builtin_ctzll(e)) * s->CW;
            for (size_t w = 0; w < s->CW; w++) acc[w] &= row[w];
        }
}

/* Coverage: the fraction of coverage samples in which the whole set holds
 * (or the sampler's exact value). */
static double coverage_of(const search *s, const uint64_t *set, size_t size) {
    if (s->smp->exact_coverage) return s->smp->exact_coverage(s->smp, size);
    if (s->n_cov == 0) return 0.0;
    coverage_acc(s, set, s->cov_acc);
    size_t c = xd_anchor_count_both(s->cov_acc, s->cov_acc, NULL, s->CW, NULL);
    return (double)c / (double)s->n_cov;
}

/* Coverage of a parent plus feature f, s->cov_acc holding the parent's
 * coverage_acc (sampled coverage only). */
static double child_coverage(const search *s, size_t f) {
    if (s->n_cov == 0) return 0.0;
    size_t c = xd_anchor_count_both(s->cov_acc, s->cov_bits + f * s->CW, NULL, s->CW, NULL);
    return (double)c / (double)s->n_cov;
}

/* ---- sampling rounds ------------------------------------------------ */

/* Makes room for `total` more samples in the store, within the budget, and
 * clears their hold sets. */
static xai_status draw_begin(search *s, size_t total, xai_error *err) {
    if (s->st.n + total > s->budget)
        return xd_err(err, XAI_ERR_LIMIT, "anchors: the budget of %zu sampled rows (max_samples) "
                      "is spent", s->p->max_samples);
    xai_status st = xd_anchor_store_reserve(&s->st, total, err);
    if (st == XAI_OK) memset(s->st.holds + s->st.n * s->W, 0, total * s->W * sizeof *s->st.holds);
    return st;
}

/* Draws count samples under `set` into store rows [off, off + count), a
 * run of their own. */
static xai_status draw_under(search *s, const uint64_t *set, size_t off, size_t count,
                             xai_error *err) {
    xai_status st = xd_anchor_store_add_run(&s->st, off, set, err);
    if (st == XAI_OK) st = s->smp->draw(s->smp, set, count, s->st.holds + off * s->W, err);
    return st;
}

/* Asks the model about the `total` samples drawn since draw_begin, in one
 * evaluator request, and keeps them. */
static xai_status draw_commit(search *s, size_t total, xai_error *err) {
    xai_status st = s->smp->evaluate(s->smp, s->st.label + s->st.n, err);
    if (st != XAI_OK) return st;
    s->st.n += total;
    s->rounds++;
    return XAI_OK;
}

/* Draws counts[r] samples under candidate arms[r] of c for every r, asks the
 * model once, and adds the results to the store and to the arms' counts. */
static xai_status draw_round(search *s, cands *c, const size_t *arms, const size_t *counts,
                             size_t n_req, xai_error *err) {
    size_t total = 0;
    for (size_t r = 0; r < n_req; r++) total += counts[r];
    xai_status st = draw_begin(s, total, err);
    size_t off = s->st.n;
    for (size_t r = 0; r < n_req && st == XAI_OK; r++) {
        cand_set(c, arms[r], s->W, s->set);
        st = draw_under(s, s->set, off, counts[r], err);
        off += counts[r];
    }
    if (st == XAI_OK) st = draw_commit(s, total, err);
    if (st != XAI_OK) return st;
    off = s->st.n - total;
    for (size_t r = 0; r < n_req; r++) {
        double pos = 0;
        for (size_t i = 0; i < counts[r]; i++) pos += s->st.label[off + i];
        c->n[arms[r]] += (double)counts[r];
        c->pos[arms[r]] += pos;
        off += counts[r];
    }
    return XAI_OK;
}

static xai_status lucb_draw(void *ctx, const size_t *arms, const size_t *counts, size_t n_req,
                            xai_error *err) {
    search *s = ctx;
    return draw_round(s, s->cur, arms, counts, n_req, err);
}

static xd_lucb_opts lucb_opts(const xd_anchor_params *p, size_t top_n) {
    xd_lucb_opts o;
    memset(&o, 0, sizeof o);
    o.top_n = top_n;
    o.epsilon = p->epsilon;
    o.delta = p->delta;
    o.batch = p->batch;
    o.adaptive = p->adaptive;
    o.min_batch = p->min_batch;
    return o;
}

/* beta of the precision test: delta shared by the beam's candidates. */
static double test_beta(const search *s) {
    double tests = 1.0 + (double)(s->p->beam - 1) * (double)s->m;
    return log(tests / s->p->delta);
}

/* The lower bound a candidate must reach to be valid: the threshold, or
 * with the references' rule threshold - epsilon_stop. */
static double accept_edge(const xd_anchor_params *p) {
    return p->accept_epsilon_stop ? p->threshold - p->epsilon_stop : p->threshold;
}

/* Whether a candidate with mean `mean` and lower bound lb is valid: mean
 * >= t and lb >= t (lb > t - eps_stop with the references' rule). */
static bool accepted(const xd_anchor_params *p, double mean, double lb) {
    if (mean < p->threshold) return false;
    return p->accept_epsilon_stop ? lb > accept_edge(p) : lb >= accept_edge(p);
}

/* Samples each chosen candidate until its precision is decided against the
 * threshold: mean >= t with lb reaching accept_edge, or mean < t with
 * ub < t + eps_stop. All undecided candidates share each round. */
static xai_status decide(search *s, cands *c, const size_t *top, size_t n_top, xai_error *err) {
    const xd_anchor_params *p = s->p;
    xd_lucb_opts o = lucb_opts(p, 1);
    double beta = test_beta(s);
    size_t arms[n_top ? n_top : 1], counts[n_top ? n_top : 1];
    for (;;) {
        size_t nreq = 0;
        for (size_t j = 0; j < n_top; j++) {
            size_t i = top[j];
            double mean = c->pos[i] / c->n[i], lv = beta / c->n[i];
            bool above = mean >= p->threshold;
            double edge = above ? accept_edge(p) : p->threshold + p->epsilon_stop;
            bool more = above ? xd_kl_lower(mean, lv) < edge : xd_kl_upper(mean, lv) >= edge;
            if (more) arms[nreq] = i, counts[nreq++] = xd_lucb_draw_size(&o, c->n[i], mean, edge, beta);
        }
        if (nreq == 0) return XAI_OK;
        xai_status st = draw_round(s, c, arms, counts, nreq, err);
        if (st != XAI_OK) return st;
    }
}

/* ---- the beam ------------------------------------------------------- */

/* The size of a \ b (sets of W words), counted up to 2; when it is 1, *f
 * is its feature. */
static size_t extra_features(const uint64_t *a, const uint64_t *b, size_t W, size_t *f) {
    size_t extra = 0;
    for (size_t w = 0; w < W && extra < 2; w++) {
        uint64_t e = a[w] & ~b[w];
        if (e == 0) continue;
        extra += xd_popcount64(e);
        *f = w * 64 + (size_t)__builtin_ctzll(e);
    }
    return extra;
}

/* Marks in skip (W words) the features f for which parent j + f is also
 * an earlier parent i + one feature: it was made (or filtered) with that
 * parent. psets holds the parents' sets (W words each). Parents have equal
 * sizes, so parent i ⊆ parent j + f exactly when i \ j = {f}. */
static void made_before(const search *s, const uint64_t *psets, size_t j, uint64_t *skip) {
    size_t W = s->W, f = 0;
    const uint64_t *pj = psets + j * W;
    memset(skip, 0, W * sizeof *skip);
    for (size_t i = 0; i < j; i++)
        if (extra_features(psets + i * W, pj, W, &f) == 1) xd_anchor_add(skip, f);
}

/* Adds to the children of parent `pset` (slot[f] = index of child pset+f,
 * or SIZE_MAX) the store samples valid for them: a sample counts for
 * pset+f when pset and f hold in it and it was drawn under pset or a
 * subset plus at most f. Works run by run on bit rows: `held` (RW words)
 * gets the samples where pset holds; those of runs drawn under a subset
 * of pset go to `base`, and a child's count is then the popcount of base
 * AND its feature's row; a run drawn under pset's subset plus one feature
 * g counts for child pset+g alone. */
static void parent_stats(const search *s, const uint64_t *pset, const size_t *slot,
                         const uint64_t *rows, size_t RW, uint64_t *base, uint64_t *held,
                         cands *out) {
    size_t W = s->W;
    const uint64_t *lab = rows + s->m * RW;
    for (size_t r = 0; r < RW; r++) held[r] = xd_anchor_range_bits(r, 0, s->st.n);
    for (size_t w = 0; w < W; w++)
        for (uint64_t e = pset[w]; e; e &= e - 1) {
            const uint64_t *fr = rows + (w * 64 + (size_t)__builtin_ctzll(e)) * RW;
            for (size_t r = 0; r < RW; r++) held[r] &= fr[r];
        }
    memset(base, 0, RW * sizeof *base);
    for (size_t k = 0; k < s->st.runs; k++) {
        size_t g = 0, a = s->st.run_start[k], b = xd_anchor_store_run_end(&s->st, k);
        size_t extra = extra_features(s->st.run_under + k * W, pset, W, &g);
        if (a == b || extra > 1 || (extra == 1 && slot[g] == SIZE_MAX)) continue;
        const uint64_t *gr = rows + g * RW;
        size_t n = 0, pos = 0;
        for (size_t r = a / 64; r <= (b - 1) / 64; r++) {
            uint64_t in = held[r] & xd_anchor_range_bits(r, a, b);
            if (extra == 0) {
                base[r] |= in;
                continue;
            }
            n += xd_popcount64(in & gr[r]);
            pos += xd_popcount64(in & gr[r] & lab[r]);
        }
        if (extra == 1) out->n[slot[g]] += (double)n, out->pos[slot[g]] += (double)pos;
    }
    xd_anchor_count_children(base, rows, RW, lab, slot, s->m, out->n, out->pos);
}

/* Adds parent tj's children (those not made before and whose coverage
 * beats best_cov) to out; slot[f] gets the child index of feature f. */
static void add_children(search *s, const cands *prev, size_t tj, const uint64_t *pset,
                         const uint64_t *skip, double best_cov, size_t *slot, cands *out) {
    size_t size = prev->size + 1;
    bool exact = s->smp->exact_coverage != NULL;
    double cov_exact = exact ? s->smp->exact_coverage(s->smp, size) : 0.0;
    if (!exact && s->n_cov) coverage_acc(s, pset, s->cov_acc);
    const uint32_t *pord = prev->orders + tj * prev->size;
    for (size_t f = 0; f < s->m; f++) {
        slot[f] = SIZE_MAX;
        if (xd_anchor_has(pset, f) || xd_anchor_has(skip, f)) continue;
        double cov = exact ? cov_exact : child_coverage(s, f);
        if (!(cov > best_cov)) continue;
        size_t i = out->count++;
        uint32_t *ord = out->orders + i * size;
        out->n[i] = out->pos[i] = 0;
        for (size_t k = 0; k + 1 < size; k++) ord[k] = pord[k];
        ord[size - 1] = (uint32_t)f;
        out->cov[i] = cov;
        slot[f] = i;
    }
}

/* The children of prev's chosen candidates whose coverage beats best_cov,
 * with their counts from the store. */
static xai_status children(search *s, const cands *prev, const size_t *top, size_t n_top,
                           double best_cov, cands *out, xai_error *err) {
    size_t W = s->W, RW = 0;
    xai_status st = cands_alloc(out, xd_mul(n_top, s->m), prev->size + 1, err);
    if (st != XAI_OK) return st;
    uint64_t *rows = xd_anchor_store_rows(&s->st, s->m, 0, &RW);
    size_t *slot = xd_try_malloc(xd_mul(s->m + 1, sizeof *slot));
    uint64_t *scratch = xd_try_malloc(xd_mul(2 * RW + W, sizeof *scratch));
    uint64_t *psets = xd_try_malloc(xd_mul(xd_mul(n_top, W), sizeof *psets));
    if (rows == NULL || slot == NULL || scratch == NULL || psets == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "anchors: %zu features, %zu samples", s->m, s->st.n);
        goto cleanup;
    }
    for (size_t j = 0; j < n_top; j++) cand_set(prev, top[j], W, psets + j * W);
    for (size_t j = 0; j < n_top; j++) {
        uint64_t *base = scratch, *held = scratch + RW, *skip = scratch + 2 * RW;
        made_before(s, psets, j, skip);
        add_children(s, prev, top[j], psets + j * W, skip, best_cov, slot, out);
        if (s->smp->shares) parent_stats(s, psets + j * W, slot, rows, RW, base, held, out);
    }
cleanup:
    xd_free(rows);
    xd_free(slot);
    xd_free(scratch);
    xd_free(psets);
    return st;
}

static void remember(pick *pk, const cands *c, size_t i, double mean) {
    xd_free(pk->order);
    pk->set = true;
    pk->size = c->size;
    pk->order = xd_malloc((c->size ? c->size : 1) * sizeof *pk->order);
    for (size_t k = 0; k < c->size; k++) pk->order[k] = c->orders[i * c->size + k];
    pk->cov = c->cov[i];
    pk->mean = mean;
}

/* Updates the best valid anchor and the fallback from the chosen candidates
 * of one size; true when the search should stop here. */
static bool judge(const search *s, const cands *c, const size_t *top, size_t n_top, pick *best,
                  pick *fallback) {
    const xd_anchor_params *p = s->p;
    double beta = test_beta(s);
    bool stop = false;
    for (size_t j = 0; j < n_top; j++) {
        size_t i = top[j];
        double mean = c->pos[i] / c->n[i];
        double lb = xd_kl_lower(mean, beta / c->n[i]);
        if (!fallback->set || mean > fallback->mean) remember(fallback, c, i, mean);
        if (!accepted(p, mean, lb)) continue;
        if (!best->set || c->cov[i] > best->cov) {
            remember(best, c, i, mean);
            if (p->stop_on_first || c->cov[i] >= 1.0) stop = true;
        }
    }
    return stop;
}

/* Level 0: the empty anchor, drawn `warmup` times and then in batches while
 * its precision looks above the threshold but is not yet proved. */
static xai_status warm_up(search *s, cands *root, bool *empty_ok, xai_error *err) {
    const xd_anchor_params *p = s->p;
    xai_status st = cands_alloc(root, 1, 0, err);
    if (st != XAI_OK) return st;
    cands_push(root);
    root->cov[0] = 1.0;
    size_t arm = 0, cnt = p->warmup ? p->warmup : 1;
    st = draw_round(s, root, &arm, &cnt, 1, err);
    double beta = log(1.0 / p->delta);
    for (;;) {
        if (st != XAI_OK) return st;
        double mean = root->pos[0] / root->n[0], lb = xd_kl_lower(mean, beta / root->n[0]);
        *empty_ok = lb > p->threshold || s->m == 0;
        if (!(mean > p->threshold && lb < p->threshold - p->epsilon)) return XAI_OK;
        cnt = p->batch;
        st = draw_round(s, root, &arm, &cnt, 1, err);
    }
}

/* True when no candidate of the level can be valid: each one's upper bound
 * at the precision test's confidence is below the threshold. The bound
 * never exceeds Pinsker's cap p + sqrt(level / 2) (plus the bisection's
 * tolerance), which settles most candidates without a bisection. */
static bool hopeless(const search *s, const cands *c) {
    double beta = test_beta(s), t = s->p->threshold;
    for (size_t i = 0; i < c->count; i++) {
        if (!(c->n[i] > 0)) return false;
        double mean = c->pos[i] / c->n[i], lv = beta / c->n[i];
        if (mean + sqrt(lv / 2.0) + 2 * XD_KL_TOL < t) continue;
        if (xd_kl_upper(mean, lv) >= t) return false;
    }
    return true;
}

/* Counts the store samples [n0, store end) for every candidate (of one
 * feature or more) whose features they all kept, bit-sliced: one bit row
 * over the new samples per feature (zero past the last sample), so a
 * candidate costs |A| ANDs of a row instead of a subset test per sample. */
static xai_status count_new(search *s, cands *c, size_t n0, xai_error *err) {
    size_t R = s->st.n - n0, RW = 0, size = c->size;
    uint64_t *rows = xd_anchor_store_rows(&s->st, s->m, n0, &RW);
    if (rows == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu pooled samples", R);
    const uint64_t *lab = rows + s->m * RW;
    xd_anchor_count_sets(rows, RW, lab, c->orders, size, c->count, rows + (s->m + 1) * RW, c->n,
                         c->pos);
    xd_free(rows);
    return XAI_OK;
}

/* One draw for a whole level: under the features all candidates share,
 * enough rows that a candidate expects about `warmup` samples of its own
 * (capped at 8 warmups), then each new sample counts for every candidate
 * whose features it kept. */
static xai_status pool_draw(search *s, cands *c, xai_error *err) {
    size_t W = s->W, k = 0, n0 = s->st.n;
    uint64_t *shared = s->shared;
    cand_set(c, 0, W, shared);
    bool none = false;
    for (size_t i = 1; i < c->count && !none; i++) {  /* until nothing is shared */
        cand_set(c, i, W, s->set);
        uint64_t any = 0;
        for (size_t w = 0; w < W; w++) any |= shared[w] &= s->set[w];
        none = any == 0;
    }
    for (size_t w = 0; w < W; w++) k += xd_popcount64(shared[w]);
    double base = coverage_of(s, shared, k), ratio = 0;
    for (size_t i = 0; i < c->count; i++) ratio += c->cov[i] / (base > 0 ? base : 1.0);
    ratio /= (double)c->count;
    double want = ratio > 0 ? ceil((double)s->p->warmup / ratio) : 0;
    size_t rows = (size_t)fmin(want, 8.0 * (double)s->p->warmup);
    if (rows == 0) return XAI_OK;
    xai_status st = draw_begin(s, rows, err);
    if (st == XAI_OK) st = draw_under(s, shared, s->st.n, rows, err);
    if (st == XAI_OK) st = draw_commit(s, rows, err);
    if (st == XAI_OK) st = count_new(s, c, n0, err);
    return st;
}

/* Whether to keep every candidate of this level as a parent instead of
 * choosing: the level cannot hold an anchor, and its children stay under
 * max_expand (each parent adds m - size features, each child has size + 1
 * parents). */
static bool expand_all(const search *s, const cands *c) {
    double kids = (double)c->count * (double)(s->m - c->size) / (double)(c->size + 1);
    return s->p->expand_hopeless && s->smp->shares && kids <= (double)s->p->max_expand &&
           hopeless(s, c);
}

/* Runs one level: its chosen candidates in *top (n_top of them), and
 * whether the search stops here. */
static xai_status level(search *s, cands *c, bool pooled, size_t **top, size_t *n_top,
                        bool *expanded, pick *best, pick *fallback, bool *stop, xai_error *err) {
    const xd_anchor_params *p = s->p;
    *stop = false;
    *expanded = expand_all(s, c);
    if (*expanded) {
        *n_top = c->count;
        *top = xd_malloc(c->count * sizeof **top);
        for (size_t i = 0; i < c->count; i++) (*top)[i] = i;
        xd_lucb_sort_by_mean(c->count, c->n, c->pos, *top);
        if (!fallback->set || c->pos[(*top)[0]] / c->n[(*top)[0]] > fallback->mean)
            remember(fallback, c, (*top)[0], c->pos[(*top)[0]] / c->n[(*top)[0]]);
        return XAI_OK;
    }
    xai_status st = pooled ? pool_draw(s, c, err) : XAI_OK;
    *n_top = XD_MIN(p->beam, c->count);
    *top = xd_malloc(*n_top * sizeof **top);
    xd_lucb_opts o = lucb_opts(p, *n_top);
    o.work = c->lucb_work;
    size_t rounds = 0;
    s->cur = c;
    if (st == XAI_OK) st = xd_kl_lucb(c->count, c->n, c->pos, &o, lucb_draw, s, *top, &rounds, err);
    s->lucb_rounds += rounds;
    if (st == XAI_OK) st = decide(s, c, *top, *n_top, err);
    if (st == XAI_OK) *stop = judge(s, c, *top, *n_top, best, fallback);
    return st;
}

/* Beam search from the root lv[0]; leaves the best valid anchor in *best,
 * else the best-precision candidate in *fallback. The sizes alternate
 * between lv[0] and lv[1], each reusing the block of two sizes before. */
static xai_status beam(search *s, cands lv[2], pick *best, pick *fallback, xai_error *err) {
    const xd_anchor_params *p = s->p;
    size_t n_top = 1, max_size = p->max_size ? XD_MIN(p->max_size, s->m) : s->m, cur = 0;
    size_t *top = xd_calloc(1, sizeof *top), *top2 = NULL;
    bool expanded = false, stop = false;
    xai_status st = XAI_OK;
    for (size_t size = 1; size <= max_size && st == XAI_OK && !stop; size++) {
        cands *prev = &lv[cur], *next = &lv[1 - cur];
        st = children(s, prev, top, n_top, best->set ? best->cov : -1.0, next, err);
        if (st != XAI_OK || next->count == 0) break;
        size_t n2 = 0;
        st = level(s, next, expanded, &top2, &n2, &expanded, best, fallback, &stop, err);
        cur = 1 - cur;
        xd_free(top);
        top = top2;
        top2 = NULL;
        n_top = n2;
    }
    xd_free(top);
    return st;
}

/* Up to p->n_examples samples of the anchor where the prediction held, and
 * as many where it did not. */
static xai_status examples(search *s, const uint64_t *set, xd_anchor_found *f, xai_error *err) {
    f->held = xai_value_array();
    f->not_held = xai_value_array();
    if (f->held == NULL || f->not_held == NULL) goto nomem;
    for (size_t k = 0; k < s->st.runs; k++) {
        const uint64_t *under = s->st.run_under + k * s->W;
        if (!xd_anchor_subset(under, set, s->W)) continue;
        if (!s->smp->shares && !xd_anchor_subset(set, under, s->W)) continue;
        for (size_t i = s->st.run_start[k]; i < xd_anchor_store_run_end(&s->st, k); i++) {
            const uint64_t *h = s->st.holds + i * s->W;
            if (!xd_anchor_subset(set, h, s->W)) continue;
            xai_value *into = s->st.label[i] ? f->held : f->not_held;
            if (xai_value_len(into) >= s->p->n_examples) continue;
            xai_value *ex = s->smp->example(s->smp, i, h);
            if (ex == NULL || xai_value_push(into, ex) != XAI_OK) goto nomem;
        }
    }
    return XAI_OK;
nomem:
    return xd_err(err, XAI_ERR_NOMEM, "anchors: examples");
}

/* Draws p->fresh_samples samples under `set` after the search, as a run
 * of their own, and counts how many held. */
static xai_status fresh_precision(search *s, const uint64_t *set, xd_anchor_found *f,
                                  xai_error *err) {
    size_t n = s->p->fresh_samples, n0 = s->st.n;
    s->budget = s->p->max_samples;
    xai_status st = draw_begin(s, n, err);
    if (st == XAI_OK) st = draw_under(s, set, n0, n, err);
    if (st == XAI_OK) st = draw_commit(s, n, err);
    if (st != XAI_OK) return st;
    f->fresh_n = n;
    f->fresh_pos = 0;
    for (size_t i = n0; i < n0 + n; i++) f->fresh_pos += s->st.label[i];
    return XAI_OK;
}

/* The coverage of `set` (size features): exact when the sampler knows it,
 * else the share of fresh model-free samples (not those the search
 * compared candidates on) in which the whole set holds. */
static xai_status fresh_coverage(search *s, const uint64_t *set, size_t size,
                                 xd_anchor_found *f, xai_error *err) {
    if (s->smp->exact_coverage) {
        f->coverage = s->smp->exact_coverage(s->smp, size);
        return XAI_OK;
    }
    size_t n = s->p->coverage_samples, held = 0;
    uint64_t *holds = xd_try_calloc(xd_mul(n, s->W), sizeof *holds);
    if (holds == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu coverage samples", n);
    xai_status st = s->smp->coverage(s->smp, n, holds, err);
    for (size_t i = 0; st == XAI_OK && i < n; i++) held += xd_anchor_subset(set, holds + i * s->W, s->W);
    xd_free(holds);
    f->coverage = (double)held / (double)n;
    f->coverage_n = n;
    return st;
}

/* Fills *f for the anchor given by its features in order; `valid` says
 * whether the search accepted it. Precision, bounds and coverage come from
 * fresh samples; success needs the search's acceptance and, unless the
 * references' rule is asked for, an exact binomial test on the fresh
 * samples rejecting precision < threshold at level delta. */
static xai_status describe(search *s, const size_t *order, size_t size, bool valid,
                           xd_anchor_found *f, xai_error *err) {
    const xd_anchor_params *p = s->p;
    uint64_t *set = xd_calloc(s->W, sizeof *set);
    for (size_t j = 0; j < size; j++) xd_anchor_add(set, order[j]);
    f->size = size;
    f->order = xd_malloc((size ? size : 1) * sizeof *f->order);
    if (size) memcpy(f->order, order, size * sizeof *order);
    xd_anchor_store_count(&s->st, set, !s->smp->shares, &f->n, &f->pos);
    xai_status st = fresh_precision(s, set, f, err);
    if (st == XAI_OK) st = fresh_coverage(s, set, size, f, err);
    if (st == XAI_OK) st = examples(s, set, f, err);
    xd_free(set);
    if (st != XAI_OK) return st;
    f->precision = (double)f->fresh_pos / (double)f->fresh_n;
    f->lower = xd_binom_lower(f->fresh_pos, f->fresh_n, p->delta);
    f->upper = xd_binom_upper(f->fresh_pos, f->fresh_n, p->delta);
    f->valid = valid;
    f->success = valid && (p->accept_epsilon_stop ||
                           xd_binom_tail_ge(f->fresh_pos, f->fresh_n, p->threshold) <= p->delta);
    f->total_samples = s->st.n;
    f->lucb_rounds = s->lucb_rounds;
    f->rounds = s->rounds;
    return XAI_OK;
}

/* Draws the coverage samples and stores them by feature (cov_bits). */
static xai_status coverage_samples(search *s, xai_error *err) {
    if (s->smp->exact_coverage || s->p->coverage_samples == 0) return XAI_OK;
    s->n_cov = s->p->coverage_samples;
    s->CW = (s->n_cov + 63) / 64;
    uint64_t *holds = xd_try_calloc(xd_mul(s->n_cov, s->W), sizeof *holds);
    s->cov_bits = xd_try_calloc(xd_mul(s->CW, s->m ? s->m : 1), sizeof *s->cov_bits);
    s->cov_acc = xd_try_malloc(xd_mul(s->CW, sizeof *s->cov_acc));
    xai_status st = XAI_OK;
    if (holds == NULL || s->cov_bits == NULL || s->cov_acc == NULL)
        st = xd_err(err, XAI_ERR_NOMEM, "anchors: %zu coverage samples", s->n_cov);
    if (st == XAI_OK) st = s->smp->coverage(s->smp, s->n_cov, holds, err);
    for (size_t i = 0; st == XAI_OK && i < s->n_cov; i++)
        for (size_t f = 0; f < s->m; f++)
            if (xd_anchor_has(holds + i * s->W, f))
                s->cov_bits[f * s->CW + i / 64] |= (uint64_t)1 << (i % 64);
    xd_free(holds);
    return st;
}

xai_status xd_anchor_search(const xd_anchor_params *p, xd_anchor_sampler *smp,
                            xd_anchor_found *out, xai_error *err) {
    memset(out, 0, sizeof *out);
    search s;
    memset(&s, 0, sizeof s);
    s.p = p;
    s.smp = smp;
    s.m = smp->m;
    s.W = XD_ANCHOR_WORDS(smp->m) ? XD_ANCHOR_WORDS(smp->m) : 1;
    s.st.W = s.W;
    s.budget = p->max_samples - XD_MIN(p->fresh_samples, p->max_samples);
    cands lv[2];
    memset(lv, 0, sizeof lv);
    pick best = {0}, fallback = {0};
    bool empty_ok = false;
    if (s.m > UINT32_MAX)
        return xd_err(err, XAI_ERR_LIMIT, "anchors: %zu features (at most 2^32 - 1)", s.m);
    s.set = xd_try_malloc(xd_mul(2 * s.W, sizeof *s.set));
    s.shared = s.set ? s.set + s.W : NULL;
    xai_status st = s.set ? XAI_OK : xd_err(err, XAI_ERR_NOMEM, "anchors: %zu features", s.m);
    if (st == XAI_OK) st = coverage_samples(&s, err);
    if (st == XAI_OK) st = warm_up(&s, &lv[0], &empty_ok, err);
    if (st != XAI_OK) goto cleanup;
    if (empty_ok) {
        st = describe(&s, NULL, 0, true, out, err);
        goto cleanup;
    }
    st = beam(&s, lv, &best, &fallback, err);
    if (st != XAI_OK) goto cleanup;
    if (best.set) st = describe(&s, best.order, best.size, true, out, err);
    else if (fallback.set) st = describe(&s, fallback.order, fallback.size, false, out, err);
    else st = describe(&s, NULL, 0, false, out, err);
cleanup:
    if (st != XAI_OK) xd_anchor_found_release(out);
    cands_release(&lv[0]);
    cands_release(&lv[1]);
    xd_free(best.order);
    xd_free(fallback.order);
    xd_free(s.set);
    xd_free(s.cov_bits);
    xd_free(s.cov_acc);
    xd_anchor_store_release(&s.st);
    return st;
}

void xd_anchor_found_release(xd_anchor_found *f) {
    xd_free(f->order);
    xai_value_free(f->held);
    xai_value_free(f->not_held);
    memset(f, 0, sizeof *f);
}

void xd_anchor_labels(const double *out, size_t n, size_t k, size_t target, double fx1,
                      uint8_t *labels) {
    for (size_t i = 0; i < n; i++) {
        const double *y = out + i * k;
        if (k == 1) {
            labels[i] = (y[0] >= 0.5) == (fx1 >= 0.5);
            continue;
        }
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (y[j] > y[best]) best = j;
        labels[i] = best == target;
    }
}

void xd_anchor_sampler_free(xd_anchor_sampler *s) {
    if (s && s->destroy) s->destroy(s);
}
