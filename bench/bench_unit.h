/* bench_unit.h — the deterministic numbers the benchmarks build their
 * models from: unit(i) in [0, 1) from a hash of i (splitmix64's finalizer),
 * the same for every run and machine, and not the library's RNG. */
#ifndef XAI_BENCH_UNIT_H
#define XAI_BENCH_UNIT_H

#include <stdint.h>

static inline double unit(uint64_t i) {
    uint64_t z = i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

#endif
