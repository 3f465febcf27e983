/* cache.c — the shared LRU cache of model outputs, bounded in bytes.
 *
 * Key: (cache_id of the model, keyed 128-bit hash of the model's identity
 * and the rendered input: xd_key_hash, XXH3-128 with a per-process random
 * secret). The input itself is not stored: two distinct inputs collide with
 * probability ~2^-128, and since the secret never leaves the process a
 * client cannot aim for a collision to plant outputs for another's input.
 * Value: the model's k outputs on that input.
 *
 * Layout: every entry is one allocation (node + its k doubles) on a doubly
 * linked recency list (head = most recent) and in an open-addressing hash
 * table (linear probing, backward-shift deletion, so no tombstones). A slot
 * holds the entry's mixed key next to its pointer, so probing a big table
 * touches one cache line per step and dereferences only the entry that
 * matches. An entry's cost is its allocation plus two table slots (the table
 * is kept at most half full); the sum of costs never exceeds max_bytes,
 * which is reached by evicting from the tail before inserting.
 *
 * Thread safety: one mutex around every public operation; the evaluator
 * batches lookups and stores so it takes the lock once per batch.
 */
#include <pthread.h>
#include <string.h>
#include "eval_impl.h"

typedef struct node {
    struct node *prev, *next;
    uint64_t id;
    xd_hash128 h;
    size_t k;
    double v[];
} node;

typedef struct slot {
    uint64_t tag;           /* mix(id, h); meaningful when e != NULL */
    node *e;
} slot;

struct xai_cache {
    pthread_mutex_t lock;
    slot *slots;
    size_t cap;             /* power of two */
    size_t count;
    node *head, *tail;
    size_t bytes, max_bytes;
    uint64_t hits, misses, evictions;
};

static size_t entry_cost(size_t k) {
    return sizeof(node) + k * sizeof(double) + 2 * sizeof(slot);
}

static uint64_t tag_of(uint64_t id, xd_hash128 h) { return h.lo ^ (id * 0x9e3779b97f4a7c15ULL); }

static size_t home_of(const xai_cache *c, uint64_t tag) {
    return (size_t)(tag ^ (tag >> 29)) & (c->cap - 1);
}

xai_status xai_cache_new(size_t max_bytes, xai_cache **out, xai_error *err) {
    *out = NULL;
    xai_cache *c = xd_try_calloc(1, sizeof *c);
    if (c == NULL) return xd_err(err, XAI_ERR_NOMEM, "cache: out of memory");
    c->cap = 1024;
    c->slots = xd_try_calloc(c->cap, sizeof *c->slots);
    if (c->slots == NULL) {
        xd_free(c);
        return xd_err(err, XAI_ERR_NOMEM, "cache: out of memory");
    }
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return XAI_OK;
}

void xai_cache_free(xai_cache *c) {
    if (c == NULL) return;
    for (node *e = c->head, *next; e; e = next) {
        next = e->next;
        xd_free(e);
    }
    xd_free(c->slots);
    pthread_mutex_destroy(&c->lock);
    xd_free(c);
}

void xai_cache_get_stats(xai_cache *c, xai_cache_stats *out) {
    memset(out, 0, sizeof *out);
    if (c == NULL) return;
    pthread_mutex_lock(&c->lock);
    out->entries = c->count;
    out->bytes = c->bytes;
    out->max_bytes = c->max_bytes;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    pthread_mutex_unlock(&c->lock);
}

/* Index of the slot holding (id, h), or of the empty slot ending its probe. */
static size_t probe(const xai_cache *c, uint64_t id, xd_hash128 h) {
    uint64_t tag = tag_of(id, h);
    size_t i = home_of(c, tag);
    for (;;) {
        const slot *sl = &c->slots[i];
        if (sl->e == NULL) return i;
        if (sl->tag == tag && sl->e->h.lo == h.lo && sl->e->h.hi == h.hi && sl->e->id == id)
            return i;
        i = (i + 1) & (c->cap - 1);
    }
}

static void list_unlink(xai_cache *c, node *e) {
    if (e->prev) e->prev->next = e->next; else c->head = e->next;
    if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(xai_cache *c, node *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (c->tail == NULL) c->tail = e;
}

/* Removes slot i and shifts the rest of its cluster back (no tombstones). */
static void table_delete(xai_cache *c, size_t i) {
    size_t mask = c->cap - 1;
    c->slots[i].e = NULL;
    for (size_t j = (i + 1) & mask; c->slots[j].e; j = (j + 1) & mask) {
        size_t home = home_of(c, c->slots[j].tag);
        /* slot j may move to the hole i when i lies cyclically in [home, j). */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            c->slots[i] = c->slots[j];
            c->slots[j].e = NULL;
            i = j;
        }
    }
    c->count--;
}

/* Unlinks and frees entry e (list, table, byte count). Under the lock. */
static void remove_entry(xai_cache *c, node *e) {
    table_delete(c, probe(c, e->id, e->h));
    list_unlink(c, e);
    c->bytes -= entry_cost(e->k);
    xd_free(e);
}

static void evict_tail(xai_cache *c) {
    remove_entry(c, c->tail);
    c->evictions++;
}

/* Doubles the table; false when memory runs out (the old table stays). */
static bool table_grow(xai_cache *c) {
    size_t ncap = c->cap * 2;
    slot *ns = xd_try_calloc(ncap, sizeof *ns);
    if (ns == NULL) return false;
    slot *old = c->slots;
    size_t ocap = c->cap;
    c->slots = ns;
    c->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].e == NULL) continue;
        size_t j = home_of(c, old[i].tag);
        while (ns[j].e) j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    xd_free(old);
    return true;
}

size_t xd_cache_lookup(xai_cache *c, uint64_t cache_id, const xd_hash128 *keys,
                       const size_t *idx, size_t n, size_t k, double *out, uint8_t *hit) {
    size_t hits = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        size_t r = idx[i];
        node *e = c->slots[probe(c, cache_id, keys[r])].e;
        if (e == NULL || e->k != k) continue;
        memcpy(out + r * k, e->v, k * sizeof(double));
        hit[r] = 1;
        hits++;
        if (c->head != e) {
            list_unlink(c, e);
            list_push_front(c, e);
        }
    }
    c->hits += hits;
    c->misses += n - hits;
    pthread_mutex_unlock(&c->lock);
    return hits;
}

static void store_one(xai_cache *c, uint64_t id, xd_hash128 h, size_t k, const double *v) {
    size_t cost = entry_cost(k);
    if (cost > c->max_bytes) return;
    size_t i = probe(c, id, h);
    if (c->slots[i].e) {                /* already there: refresh */
        node *e = c->slots[i].e;
        if (e->k == k) memcpy(e->v, v, k * sizeof(double));
        return;
    }
    bool moved = false;                 /* did the table change under i? */
    while (c->bytes + cost > c->max_bytes && c->tail) {
        evict_tail(c);
        moved = true;
    }
    if ((c->count + 1) * 2 > c->cap) {
        if (!table_grow(c)) return;
        moved = true;
    }
    node *e = xd_try_malloc(sizeof(node) + k * sizeof(double));
    if (e == NULL) return;
    e->id = id;
    e->h = h;
    e->k = k;
    memcpy(e->v, v, k * sizeof(double));
    if (moved) i = probe(c, id, h);
    c->slots[i].tag = tag_of(id, h);
    c->slots[i].e = e;
    c->count++;
    c->bytes += cost;
    list_push_front(c, e);
}

void xd_cache_store(xai_cache *c, uint64_t cache_id, const xd_hash128 *keys,
                    const size_t *idx, size_t n, size_t k, const double *vals) {
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) store_one(c, cache_id, keys[idx[i]], k, vals + idx[i] * k);
    pthread_mutex_unlock(&c->lock);
}

void xai_cache_get_model_stats(xai_cache *c, uint64_t cache_id, xai_cache_stats *out) {
    memset(out, 0, sizeof *out);
    if (c == NULL) return;
    pthread_mutex_lock(&c->lock);
    for (const node *e = c->head; e; e = e->next)
        if (e->id == cache_id) {
            out->entries++;
            out->bytes += entry_cost(e->k);
        }
    out->max_bytes = c->max_bytes;
    pthread_mutex_unlock(&c->lock);
}

size_t xai_cache_clear(xai_cache *c, const uint64_t *cache_id) {
    if (c == NULL) return 0;
    size_t removed = 0;
    pthread_mutex_lock(&c->lock);
    for (node *e = c->head, *next; e; e = next) {
        next = e->next;
        if (cache_id && e->id != *cache_id) continue;
        remove_entry(c, e);
        removed++;
    }
    pthread_mutex_unlock(&c->lock);
    return removed;
}
