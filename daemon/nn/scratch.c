/* scratch.c — a small per-network pool of reusable buffers, so repeated
 * passes (a benchmark loop, IG's batches, a server answering requests) do not
 * map, fault in and zero fresh pages for their activations every time.
 *
 * The pool is XD_NN_POOL slots of atomic pointers. take() claims the first
 * buffer big enough by exchanging its slot with NULL (so two threads never
 * share one); give() puts a buffer back, evicting the smallest pooled
 * buffer when all slots are full, so buffers sized for large batches stay. No locks: a network
 * stays usable from several threads at once. Buffers carry their size in a
 * header in front of the memory handed out.
 */
#include <stdatomic.h>
#include "core/core.h"
#include "nn_impl.h"

typedef struct hdr {
    size_t size;
    size_t pad_; /* keeps the payload 16-byte aligned */
} hdr;

/* Claims the first pooled buffer of at least `bytes`; buffers too small
 * for this request go back to the pool (or are freed if it filled up). */
static hdr *claim(xai_nn *m, size_t bytes) {
    for (size_t i = 0; i < XD_NN_POOL; i++) {
        hdr *h = atomic_exchange(&m->pool[i], NULL);
        if (h == NULL) continue;
        if (h->size >= bytes) return h;
        void *expect = NULL;
        if (!atomic_compare_exchange_strong(&m->pool[i], &expect, h)) xd_free(h);
    }
    return NULL;
}

float *xd_nn_scratch_take(const xai_nn *net, size_t n_floats) {
    xai_nn *m = (xai_nn *)net; /* the pool is the network's only mutable part */
    size_t bytes = xd_mul(n_floats ? n_floats : 1, sizeof(float));
    hdr *h = claim(m, bytes);
    if (h != NULL) return (float *)(h + 1);
    if (bytes > SIZE_MAX - sizeof(hdr)) return NULL;
    h = xd_try_malloc(sizeof(hdr) + bytes);
    if (h == NULL) return NULL;
    h->size = bytes;
    return (float *)(h + 1);
}

void xd_nn_scratch_give(const xai_nn *net, float *p) {
    if (p == NULL) return;
    xai_nn *m = (xai_nn *)net;
    hdr *h = (hdr *)p - 1;
    /* Walk the slots carrying the smaller buffer: each exchange hands over
     * ownership, so nothing is lost or shared, and the pool keeps the
     * largest buffers; the one carried out of the last slot is freed. */
    for (size_t i = 0; i < XD_NN_POOL; i++) {
        hdr *old = atomic_exchange(&m->pool[i], h);
        if (old == NULL) return;
        if (old->size < h->size)
            h = old;
        else
            h = atomic_exchange(&m->pool[i], old);
        if (h == NULL) return;
    }
    xd_free(h);
}

void xd_nn_scratch_clear(xai_nn *net) {
    for (size_t i = 0; i < XD_NN_POOL; i++) xd_free(atomic_exchange(&net->pool[i], NULL));
}
