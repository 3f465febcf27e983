/* anchors_impl.h — the parts of the anchors method and how they meet:
 * the search (anchors_beam.c) works on feature sets through a sampler,
 * keeps the samples in a store (anchors_store.c) and counts candidates over
 * bit rows (anchors_bits.c); the text and tabular samplers
 * (anchors_text.c, anchors_tabular.c) turn an anchor into model inputs and
 * say which features hold in each sample; anchors.c reads the options and
 * builds the result.
 *
 * A feature of the search is a token feature of the text space or a
 * predicate of the tabular discretizer; there are m of them. A feature set
 * is a bitset of XD_ANCHOR_WORDS(m) 64-bit words. A sample records the set
 * it was drawn under and the set of features that hold in it ("kept" tokens,
 * satisfied predicates) and whether the model's prediction held.
 */
#ifndef XD_ANCHORS_IMPL_H
#define XD_ANCHORS_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "../core/core.h"
#include "method.h"

#define XD_ANCHOR_WORDS(m) (((m) + 63) / 64)

static inline bool xd_anchor_has(const uint64_t *set, size_t i) {
    return (set[i >> 6] >> (i & 63)) & 1u;
}
static inline void xd_anchor_add(uint64_t *set, size_t i) {
    set[i >> 6] |= (uint64_t)1 << (i & 63);
}
/* a ⊆ b */
static inline bool xd_anchor_subset(const uint64_t *a, const uint64_t *b, size_t words) {
    for (size_t w = 0; w < words; w++)
        if (a[w] & ~b[w]) return false;
    return true;
}

/* The options, read once by anchors.c (docs/METHODS.md, "anchors"). */
typedef struct xd_anchor_params {
    double threshold;        /* precision the anchor must reach */
    double delta;            /* 1 - confidence */
    double epsilon;          /* tau: KL-LUCB tolerance */
    double epsilon_stop;     /* tolerance of the precision test */
    bool accept_epsilon_stop;   /* the references' rule: valid when lb > threshold - epsilon_stop */
    size_t fresh_samples;    /* draws of the chosen anchor that decide and report its precision */
    size_t batch;            /* draws per arm per round (the most, when adaptive) */
    size_t min_batch;        /* smallest adaptive draw */
    bool adaptive;           /* rounds draw min(batch, max(min_batch, n/2)) */
    size_t beam;             /* candidates kept per size */
    size_t warmup;           /* draws of the empty anchor first */
    size_t coverage_samples; /* model-free samples for coverage */
    size_t max_size;         /* largest anchor; 0 = m */
    bool stop_on_first;      /* stop at the first size with a valid anchor */
    bool expand_hopeless;    /* a level that cannot hold an anchor keeps all its candidates */
    size_t max_expand;       /* ... when its children number at most this */
    size_t max_samples;      /* budget of sampled rows; past it, XAI_ERR_LIMIT */
    size_t n_examples;       /* examples shown per kind */
} xd_anchor_params;

/* A sampler: draws samples given an anchor and asks the model about them. */
typedef struct xd_anchor_sampler xd_anchor_sampler;
struct xd_anchor_sampler {
    size_t m;   /* features */
    /* A sample drawn under B in which every feature of A ⊇ B holds is a
     * draw from A's distribution (text, where features are kept
     * independently), so it counts for A. When false (tabular: a sample
     * under A copies A's columns jointly from one background row, which a
     * sample under B does not), only samples drawn under A itself count. */
    bool shares;
    /* Draws n samples under `anchor` into a pending batch and writes their
     * hold sets (n x words) to holds. */
    xai_status (*draw)(xd_anchor_sampler *s, const uint64_t *anchor, size_t n,
                       uint64_t *holds, xai_error *err);
    /* Evaluates the pending batch (all draws since the last call) in one
     * evaluator request; labels[i] = 1 when the prediction held. */
    xai_status (*evaluate)(xd_anchor_sampler *s, uint8_t *labels, xai_error *err);
    /* n hold sets under the empty anchor, without the model. */
    xai_status (*coverage)(xd_anchor_sampler *s, size_t n, uint64_t *holds, xai_error *err);
    /* When not NULL: the exact coverage of any anchor of `size` features
     * (text, where features are kept independently, so it depends on the
     * size alone), used instead of coverage samples. */
    double (*exact_coverage)(const xd_anchor_sampler *s, size_t size);
    /* An example for people: sample number `i` (in draw order) with hold set
     * `holds`. NULL on out of memory. */
    xai_value *(*example)(xd_anchor_sampler *s, size_t i, const uint64_t *holds);
    void (*destroy)(xd_anchor_sampler *s);   /* frees impl and s */
    void *impl;
};

/* What the search found. The precision, its bounds and the coverage come
 * from fresh samples drawn after the anchor was chosen. */
typedef struct xd_anchor_found {
    size_t size;
    size_t *order;          /* the features, in the order they were added */
    double n, pos;          /* the search's samples of the anchor and how many held */
    size_t fresh_n, fresh_pos;  /* the fresh samples of the anchor and how many held */
    size_t coverage_n;      /* samples behind the coverage (0: exact) */
    double precision, lower, upper, coverage;
    bool valid;             /* the search's rule accepted it */
    bool success;
    size_t total_samples;   /* rows drawn, the fresh ones included */
    size_t lucb_rounds;
    size_t rounds;          /* sampling rounds, each one evaluator request */
    xai_value *held;        /* examples (arrays), owned */
    xai_value *not_held;
} xd_anchor_found;

/* The samples of a search (anchors_store.c): hold sets of W words and
 * labels (1 when the prediction held), in runs drawn under one set each;
 * run k is samples [run_start[k], xd_anchor_store_run_end(st, k)). Zeroed
 * with W set is empty. */
typedef struct xd_anchor_store {
    size_t W, n, cap;
    uint64_t *holds;            /* cap x W */
    uint8_t *label;             /* cap */
    size_t runs, runs_cap;
    size_t *run_start;
    uint64_t *run_under;        /* runs_cap x W */
} xd_anchor_store;

/* Room for `extra` more samples after n. */
xai_status xd_anchor_store_reserve(xd_anchor_store *st, size_t extra, xai_error *err);
/* Starts a run at sample `start`, drawn under `under`. */
xai_status xd_anchor_store_add_run(xd_anchor_store *st, size_t start, const uint64_t *under,
                                   xai_error *err);
/* The end of run k (its samples count once kept: below n). */
size_t xd_anchor_store_run_end(const xd_anchor_store *st, size_t k);
void xd_anchor_store_release(xd_anchor_store *st);
/* The samples valid for `set` (drawn under a subset of it, every feature
 * of it holding; with `exact`, drawn under the set itself) and how many of
 * them held. */
void xd_anchor_store_count(const xd_anchor_store *st, const uint64_t *set, bool exact, double *n,
                           double *pos);
/* Samples [n0, n) by feature, m features: row f (RW words) has bit j set
 * when feature f holds in sample n0 + j; row m is the labels, row m + 1
 * scratch; bits past the last sample are 0. Free with xd_free; NULL on out
 * of memory. */
uint64_t *xd_anchor_store_rows(const xd_anchor_store *st, size_t m, size_t n0, size_t *RW);
/* Word w of a bit row over samples: the bits of samples [a, b), a < b. */
uint64_t xd_anchor_range_bits(size_t w, size_t a, size_t b);

/* Counting over bit rows of RW words (anchors_bits.c); lab is the row of
 * the samples where the prediction held.
 *
 * The bits set in both a and b; when lab is not NULL, *pos = those also
 * set in lab. */
size_t xd_anchor_count_both(const uint64_t *a, const uint64_t *b, const uint64_t *lab, size_t RW,
                            size_t *pos);
/* For each of `count` feature sets (orders: count x size feature numbers,
 * size >= 1) adds to n[i] the bits set in all its features' rows (row f at
 * rows + f * RW) and to pos[i] those also set in lab. acc: RW words of
 * scratch. */
void xd_anchor_count_sets(const uint64_t *rows, size_t RW, const uint64_t *lab,
                          const uint32_t *orders, size_t size, size_t count, uint64_t *acc,
                          double *n, double *pos);
/* For each feature f < m with slot[f] != SIZE_MAX, adds to n[slot[f]] the
 * bits set in both base and row f, and to pos[slot[f]] those also set in
 * lab. */
void xd_anchor_count_children(const uint64_t *base, const uint64_t *rows, size_t RW,
                              const uint64_t *lab, const size_t *slot, size_t m, double *n,
                              double *pos);

/* Runs the beam search. On success fills *out (free with
 * xd_anchor_found_release). */
xai_status xd_anchor_search(const xd_anchor_params *p, xd_anchor_sampler *smp,
                            xd_anchor_found *out, xai_error *err);
void xd_anchor_found_release(xd_anchor_found *f);

/* Labels from outputs: 1 when the argmax over k outputs is `target` (for
 * k = 1: when f >= 0.5 agrees with f(x) >= 0.5, fx1 being f(x)). */
void xd_anchor_labels(const double *out, size_t n, size_t k, size_t target, double fx1,
                      uint8_t *labels);

/* The samplers. Each borrows mc (and its evaluator) for its lifetime. */
xai_status xd_anchor_text_sampler(const xd_method_ctx *mc, double p_remove,
                                  xd_anchor_sampler **out, xai_error *err);
xai_status xd_anchor_tabular_sampler(const xd_method_ctx *mc, const xai_value *params,
                                     xd_anchor_sampler **out, xai_error *err);
void xd_anchor_sampler_free(xd_anchor_sampler *s);
/* Tabular: the predicate of feature i ("x0 > 1.5"), its column, its
 * operator (">", "<=", "==") and value. */
const char *xd_anchor_tabular_name(const xd_anchor_sampler *s, size_t i, size_t *column,
                                   const char **op, double *value);

#endif
