/*
 * prng: the simulator's one source of randomness, xoshiro256** seeded
 * through splitmix64.
 *
 * Every random decision of a simulated run (latencies, losses, faults,
 * election timeouts handed to raft through raft_io.random) draws from one
 * generator seeded with the run's seed, in the order events fire. That and
 * the fixed tie-break of the event queue are what make a seed reproduce its
 * run exactly. Nothing here is cryptographic.
 */
#ifndef SIM_PRNG_H
#define SIM_PRNG_H

#include <stdbool.h>
#include <stdint.h>

struct sim_prng
{
    uint64_t s[4];
};

static inline uint64_t sim_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void sim_prng_seed(struct sim_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        p->s[i] = sim_splitmix64(&x);
    }
}

static inline uint64_t sim_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim_prng_next(struct sim_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = sim_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sim_rotl(s[3], 45);
    return result;
}

/* A number in [lo, hi] (inclusive). The modulo bias is irrelevant here. */
static inline uint64_t sim_prng_range(struct sim_prng *p, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) {
        return lo;
    }
    return lo + sim_prng_next(p) % (hi - lo + 1);
}

/* True with probability permille/1000. */
static inline bool sim_prng_chance(struct sim_prng *p, unsigned permille)
{
    return sim_prng_next(p) % 1000 < permille;
}

/* A 64-bit mix of two values, for hash chains and map keys. */
static inline uint64_t sim_mix(uint64_t h, uint64_t v)
{
    uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    return sim_splitmix64(&x);
}

/* FNV-1a over bytes, then mixed. */
static inline uint64_t sim_hash_bytes(const void *data, uint64_t len)
{
    const unsigned char *b = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < len; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return sim_mix(h, len);
}

#endif
