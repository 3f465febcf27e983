/* eval.h — models, the shared output cache, and the evaluator.
 *
 * A model is a predict callback: a batch of inputs in, an n x k matrix of
 * doubles out (k = n_outputs, usually class probabilities). In-process C
 * functions, native networks and remote models behind ZeroMQ all look the
 * same from here.
 *
 * The evaluator is the only way methods reach a model. Given masks, it
 *   1. removes duplicate masks within the request,
 *   2. renders each unique mask through the space,
 *   3. looks every rendered input up in the cache, keyed by the model's
 *      cache_id and a keyed 128-bit hash (XXH3-128 with a per-process
 *      random secret) of the model's identity and the rendered bytes,
 *   4. sends the misses (themselves deduplicated) to the model in calls
 *      bounded by max_rows_per_call and max_bytes_per_call,
 *   5. validates each answer: exactly n x k values, all finite; anything else
 *      is XAI_ERR_MODEL_OUTPUT and nothing of that call is cached,
 *   6. combines per-mask outputs (the background-weighted mean for tabular),
 * and counts everything in xai_eval_stats. Between model calls it calls the
 * check callback, through which the daemon enforces deadlines, cancellation
 * and progress reports; a non-OK status from it ends the request with that
 * status.
 *
 * An evaluator belongs to one job and one thread. The cache may be shared by
 * any number of evaluators and threads (it has its own lock).
 */
#ifndef XAI_EVAL_H
#define XAI_EVAL_H

#include <stdbool.h>
#include "xai.h"
#include "space.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A batch of model inputs. TEXT: texts[i] of text_lens[i] bytes (not
 * necessarily NUL-terminated). ROWS: rows is n x cols, row-major. */
typedef struct xai_batch {
    xai_input_kind kind;
    size_t n;
    const char *const *texts;
    const size_t *text_lens;
    size_t cols;
    const double *rows;
} xai_batch;

/* Fills out[0 .. batch->n * k) and returns XAI_OK, or returns an error
 * (XAI_ERR_MODEL, XAI_ERR_MODEL_UNAVAILABLE, ...) with a message. The
 * evaluator pre-fills `out` with NaN, so entries left unwritten are caught
 * as invalid output. Called from the evaluator's thread. */
typedef xai_status (*xai_predict_fn)(void *ctx, const xai_batch *batch,
                                     double *out, xai_error *err);

typedef struct xai_model {
    const char *name;           /* for messages; may be NULL */
    uint64_t cache_id;          /* distinct per model sharing a cache */
    uint64_t identity;          /* what the model is now (for a remote model a
                                   digest of its `info` answer and version);
                                   seeds every cache key, so a model that comes
                                   back as another gets none of the old entries */
    xai_input_kind kind;
    size_t n_outputs;           /* k >= 1 */
    const char *const *class_names; /* k names, or NULL */
    size_t n_cols;              /* ROWS: columns the model takes; 0 = unchecked */
    xai_predict_fn predict;
    void *ctx;
} xai_model;

/* ---- cache ---------------------------------------------------------- */

typedef struct xai_cache xai_cache;

/* An LRU cache of model outputs bounded by `max_bytes` (entries and their
 * bookkeeping counted). Thread-safe. */
xai_status xai_cache_new(size_t max_bytes, xai_cache **out, xai_error *err);
void xai_cache_free(xai_cache *c);

typedef struct xai_cache_stats {
    size_t entries, bytes, max_bytes;
    uint64_t hits, misses, evictions;
} xai_cache_stats;
void xai_cache_get_stats(xai_cache *c, xai_cache_stats *out);
/* Entries and bytes of one model (cache_id) into out; the other fields are
 * 0 (the cache counts hits per lookup, not per model). Walks every entry. */
void xai_cache_get_model_stats(xai_cache *c, uint64_t cache_id, xai_cache_stats *out);
/* Removes the entries of model `cache_id`, or every entry when cache_id is
 * NULL. Returns how many were removed. NULL cache: 0. */
size_t xai_cache_clear(xai_cache *c, const uint64_t *cache_id);

/* ---- evaluator ------------------------------------------------------ */

typedef struct xai_eval xai_eval;

typedef struct xai_eval_opts {
    size_t max_rows_per_call;   /* 0 = 1000 */
    size_t max_bytes_per_call;  /* rendered input bytes per call; 0 = 16 MiB */
    xai_cache *cache;           /* shared cache, or NULL for a private one */
    size_t cache_bytes;         /* size of the private cache; 0 = 64 MiB */
    bool no_cache;              /* disable caching (dedup within a request stays) */
} xai_eval_opts;

typedef struct xai_eval_stats {
    uint64_t masks_asked;       /* masks (or raw inputs) requested by the method */
    uint64_t masks_unique;      /* after removing duplicates within requests */
    uint64_t rows_asked;        /* model inputs those unique masks rendered to */
    uint64_t cache_hits;        /* rendered inputs answered by the cache */
    uint64_t rows_sent;         /* inputs actually sent to the model */
    uint64_t model_calls;
    double model_seconds;       /* wall time inside predict */
    double render_seconds;      /* wall time rendering and hashing */
    double eval_seconds;        /* wall time inside xai_eval_masks / xai_eval_inputs */
    double eval_cpu_seconds;    /* CPU time of the calling thread there */
} xai_eval_stats;

/* Called before each model call with the current stats and the method's last
 * progress fraction. Return XAI_OK to go on, anything else to stop. */
typedef xai_status (*xai_eval_check_fn)(void *ctx, const xai_eval_stats *stats,
                                        double progress, xai_error *err);

/* The evaluator borrows `space` and model->ctx (they must outlive it) and
 * copies *model. A ROWS model with n_cols set must match the space. */
xai_status xai_eval_new(const xai_model *model, const xai_space *space,
                        const xai_eval_opts *opts, xai_eval **out, xai_error *err);
void xai_eval_free(xai_eval *ev);

void xai_eval_set_check(xai_eval *ev, xai_eval_check_fn fn, void *ctx);
/* Methods report how far they are, in [0, 1]. */
void xai_eval_set_progress(xai_eval *ev, double fraction);

/* Evaluates n masks (n x d bytes, row-major) into out (n x k, row-major). */
xai_status xai_eval_masks(xai_eval *ev, const uint8_t *masks, size_t n,
                          double *out, xai_error *err);

/* Evaluates raw model inputs (for methods that sample inputs, not masks:
 * tabular LIME and Anchors) with the same dedup, cache, batching and checks.
 * One output row per input; no background averaging. */
xai_status xai_eval_inputs(xai_eval *ev, const xai_batch *in, double *out,
                           xai_error *err);

size_t xai_eval_n_features(const xai_eval *ev);
size_t xai_eval_n_outputs(const xai_eval *ev);
const xai_space *xai_eval_space(const xai_eval *ev);
const xai_model *xai_eval_model(const xai_eval *ev);
const xai_eval_stats *xai_eval_get_stats(const xai_eval *ev);

#ifdef __cplusplus
}
#endif
#endif
