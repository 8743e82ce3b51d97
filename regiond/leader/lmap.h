/*
 * lmap: a hash map from NUL-terminated string keys to pointers, for the
 * leader's in-memory tables (evaluations by ID, jobs, nodes).
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), at most 3/4 full; the table doubles when it fills and halves
 * when it is under 1/8 full. Keys come from outside (job and node IDs), so
 * the hash is SipHash-1-3 under a key the owner draws at random: a client
 * cannot pick IDs that all land in one probe chain.
 *
 * The map stores the key pointer, not a copy: the key must stay valid and
 * unchanged while its entry is in the map. The usual pattern is a key that
 * points into the value (`lmap_put(m, e->id, e)`). The map never frees keys
 * or values.
 */
#ifndef LMAP_H
#define LMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lmap_slot
{
    const char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
};

struct lmap
{
    struct lmap_slot *slots; /* cap slots; NULL while cap is 0 */
    size_t cap;              /* 0 or a power of two */
    size_t len;
    uint64_t k0, k1; /* SipHash key */
};

/* An empty map hashing under (k0, k1). Allocates nothing. */
void lmap_init(struct lmap *m, uint64_t k0, uint64_t k1);
/* Frees the table; keys and values are the caller's. The map is empty and
 * usable afterwards. */
void lmap_free(struct lmap *m);

static inline size_t lmap_len(const struct lmap *m)
{
    return m->len;
}

/* The value under key, or NULL. */
void *lmap_get(const struct lmap *m, const char *key);
/* Maps key (borrowed, see above) to value (not NULL). Returns the value it
 * replaces, or NULL; on replacement the stored key pointer becomes `key`. */
void *lmap_put(struct lmap *m, const char *key, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *lmap_remove(struct lmap *m, const char *key);

/* Iteration in table order: start with *pos = 0; each call that returns
 * true yields one entry. The map must not change during an iteration. */
bool lmap_next(const struct lmap *m, size_t *pos, const char **key, void **value);

/* SipHash-1-3 of len bytes under (k0, k1); exposed for tests. */
uint64_t lmap_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1);

#endif
