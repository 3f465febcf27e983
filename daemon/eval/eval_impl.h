/* eval_impl.h — private interface between the evaluator and its cache.
 *
 * The cache maps (model cache_id, 128-bit hash of one rendered input) to the
 * k outputs of the model on that input. The evaluator works on batches of
 * rendered inputs, so both calls take a whole batch and lock once.
 */
#ifndef XD_EVAL_IMPL_H
#define XD_EVAL_IMPL_H

#include "xai/eval.h"
#include "core/core.h"

/* Looks up rows idx[0..n) of `keys`. For each hit, copies the k values to
 * out + idx[i] * k and sets hit[idx[i]] = 1. Returns the number of hits. */
size_t xd_cache_lookup(xai_cache *c, uint64_t cache_id, const xd_hash128 *keys,
                       const size_t *idx, size_t n, size_t k, double *out, uint8_t *hit);

/* Stores rows idx[0..n): key keys[idx[i]], values vals + idx[i] * k. Evicts
 * least recently used entries to stay within max_bytes; an entry that
 * cannot be stored (bigger than the cache, out of memory) is skipped. */
void xd_cache_store(xai_cache *c, uint64_t cache_id, const xd_hash128 *keys,
                    const size_t *idx, size_t n, size_t k, const double *vals);

#endif
