/* anchors_bits.c — counting over bit rows for the anchors search: for each
 * candidate, how many samples kept all its features, and how many of those
 * held.
 *
 * The search counts candidates bit-sliced (a row per feature over the
 * samples, a bit per sample), so its cost is ANDs and popcounts. Built for
 * baseline x86-64 (no -mpopcnt), __builtin_popcountll is a call into
 * libgcc; on x86-64 with GCC or Clang each loop is compiled a second time
 * for the POPCNT instruction and chosen per call (a call covers a whole
 * level or parent) from the CPU's features. Elsewhere, or without POPCNT,
 * it counts with inline arithmetic (xd_popcount64). Both give the same
 * counts.
 */
#include "anchors_impl.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define XD_POPCNT_DISPATCH 1
#endif

/* The loops, inlined into each version below; `hw` is a constant in each,
 * so the other popcount disappears. */
XD_ALWAYS_INLINE size_t bits(uint64_t x, bool hw) {
    return hw ? (size_t)__builtin_popcountll(x) : xd_popcount64(x);
}

XD_ALWAYS_INLINE size_t count_both(const uint64_t *a, const uint64_t *b, const uint64_t *lab,
                                size_t RW, size_t *pos, bool hw) {
    size_t n = 0, p = 0;
    for (size_t r = 0; r < RW; r++) {
        uint64_t both = a[r] & b[r];
        n += bits(both, hw);
        if (lab) p += bits(both & lab[r], hw);
    }
    if (lab) *pos = p;
    return n;
}

XD_ALWAYS_INLINE void count_sets(const uint64_t *rows, size_t RW, const uint64_t *lab,
                              const uint32_t *orders, size_t size, size_t count, uint64_t *acc,
                              double *n, double *pos, bool hw) {
    for (size_t i = 0; i < count; i++) {
        const uint32_t *ord = orders + i * size;
        const uint64_t *first = rows + (size_t)ord[0] * RW;
        const uint64_t *last = rows + (size_t)ord[size - 1] * RW;
        if (size > 2) {     /* all but the last feature into acc */
            for (size_t r = 0; r < RW; r++) acc[r] = first[r];
            for (size_t k = 1; k + 1 < size; k++)
                for (size_t r = 0; r < RW; r++) acc[r] &= rows[(size_t)ord[k] * RW + r];
            first = acc;
        }
        size_t p = 0, c = count_both(first, last, lab, RW, &p, hw);
        n[i] += (double)c;
        pos[i] += (double)p;
    }
}

XD_ALWAYS_INLINE void count_children(const uint64_t *base, const uint64_t *rows, size_t RW,
                                  const uint64_t *lab, const size_t *slot, size_t m, double *n,
                                  double *pos, bool hw) {
    for (size_t f = 0; f < m; f++) {
        if (slot[f] == SIZE_MAX) continue;
        size_t p = 0, c = count_both(base, rows + f * RW, lab, RW, &p, hw);
        n[slot[f]] += (double)c;
        pos[slot[f]] += (double)p;
    }
}

/* The versions: plain, and on x86-64 one for POPCNT, chosen per call. */
static size_t both_plain(const uint64_t *a, const uint64_t *b, const uint64_t *lab, size_t RW,
                         size_t *pos) {
    return count_both(a, b, lab, RW, pos, false);
}
static void sets_plain(const uint64_t *rows, size_t RW, const uint64_t *lab,
                       const uint32_t *orders, size_t size, size_t count, uint64_t *acc,
                       double *n, double *pos) {
    count_sets(rows, RW, lab, orders, size, count, acc, n, pos, false);
}
static void children_plain(const uint64_t *base, const uint64_t *rows, size_t RW,
                           const uint64_t *lab, const size_t *slot, size_t m, double *n,
                           double *pos) {
    count_children(base, rows, RW, lab, slot, m, n, pos, false);
}

#ifdef XD_POPCNT_DISPATCH
#define POPCNT __attribute__((target("popcnt")))
POPCNT static size_t both_popcnt(const uint64_t *a, const uint64_t *b, const uint64_t *lab,
                                 size_t RW, size_t *pos) {
    return count_both(a, b, lab, RW, pos, true);
}
POPCNT static void sets_popcnt(const uint64_t *rows, size_t RW, const uint64_t *lab,
                               const uint32_t *orders, size_t size, size_t count, uint64_t *acc,
                               double *n, double *pos) {
    count_sets(rows, RW, lab, orders, size, count, acc, n, pos, true);
}
POPCNT static void children_popcnt(const uint64_t *base, const uint64_t *rows, size_t RW,
                                   const uint64_t *lab, const size_t *slot, size_t m, double *n,
                                   double *pos) {
    count_children(base, rows, RW, lab, slot, m, n, pos, true);
}
#define HAVE_POPCNT() xd_cpu_has(XD_ISA_POPCNT)
#else
#define HAVE_POPCNT() 0
#define both_popcnt both_plain
#define sets_popcnt sets_plain
#define children_popcnt children_plain
#endif

size_t xd_anchor_count_both(const uint64_t *a, const uint64_t *b, const uint64_t *lab, size_t RW,
                            size_t *pos) {
    if (HAVE_POPCNT()) return both_popcnt(a, b, lab, RW, pos);
    return both_plain(a, b, lab, RW, pos);
}

void xd_anchor_count_sets(const uint64_t *rows, size_t RW, const uint64_t *lab,
                          const uint32_t *orders, size_t size, size_t count, uint64_t *acc,
                          double *n, double *pos) {
    if (size == 0) return;
    if (HAVE_POPCNT()) sets_popcnt(rows, RW, lab, orders, size, count, acc, n, pos);
    else sets_plain(rows, RW, lab, orders, size, count, acc, n, pos);
}

void xd_anchor_count_children(const uint64_t *base, const uint64_t *rows, size_t RW,
                              const uint64_t *lab, const size_t *slot, size_t m, double *n,
                              double *pos) {
    if (HAVE_POPCNT()) children_popcnt(base, rows, RW, lab, slot, m, n, pos);
    else children_plain(base, rows, RW, lab, slot, m, n, pos);
}
