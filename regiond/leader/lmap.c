/*
 * lmap: string-keyed hash map with linear probing (see lmap.h).
 *
 * Backward-shift deletion keeps every probe chain contiguous: after a slot
 * is emptied, each following entry of the cluster that would be reachable
 * from an earlier slot moves back into the hole. Lookups therefore stop at
 * the first empty slot and never meet a tombstone. The full 64-bit hash is
 * kept in each slot so that growing needs no rehash and most mismatches are
 * rejected without a strcmp.
 */
#include "regiond/leader/lmap.h"

#include <assert.h>
#include <string.h>

#include "common/mem.h"

#define LMAP_MIN_CAP 16

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND()         \
    do {                   \
        v0 += v1;          \
        v1 = rotl(v1, 13); \
        v1 ^= v0;          \
        v0 = rotl(v0, 32); \
        v2 += v3;          \
        v3 = rotl(v3, 16); \
        v3 ^= v2;          \
        v0 += v3;          \
        v3 = rotl(v3, 21); \
        v3 ^= v0;          \
        v2 += v1;          \
        v1 = rotl(v1, 17); \
        v1 ^= v2;          \
        v2 = rotl(v2, 32); \
    } while (0)

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

uint64_t lmap_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1)
{
    const unsigned char *in = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - (len % 8);
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND();
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++) {
        last |= (uint64_t)in[whole + i] << (8 * i);
    }
    v3 ^= last;
    SIPROUND();
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND();
    SIPROUND();
    SIPROUND();
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_key(const struct lmap *m, const char *key)
{
    return lmap_siphash(key, strlen(key), m->k0, m->k1);
}

void lmap_init(struct lmap *m, uint64_t k0, uint64_t k1)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
    m->k0 = k0;
    m->k1 = k1;
}

void lmap_free(struct lmap *m)
{
    cv_free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const struct lmap *m, const char *key, uint64_t hash)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash & mask;
    while (m->slots[i].key != NULL) {
        if (m->slots[i].hash == hash && strcmp(m->slots[i].key, key) == 0) {
            return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

static void resize(struct lmap *m, size_t cap)
{
    struct lmap_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = cv_calloc(cap, sizeof *m->slots);
    m->cap = cap;
    size_t mask = cap - 1;
    for (size_t j = 0; j < old_cap; j++) {
        if (old[j].key == NULL) {
            continue;
        }
        size_t i = (size_t)old[j].hash & mask;
        while (m->slots[i].key != NULL) {
            i = (i + 1) & mask;
        }
        m->slots[i] = old[j];
    }
    cv_free(old);
}

void *lmap_get(const struct lmap *m, const char *key)
{
    if (m->len == 0) {
        return NULL;
    }
    size_t i = find_slot(m, key, hash_key(m, key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

void *lmap_put(struct lmap *m, const char *key, void *value)
{
    assert(key != NULL && value != NULL);
    if (m->cap == 0 || (m->len + 1) * 4 > m->cap * 3) {
        resize(m, m->cap ? m->cap * 2 : LMAP_MIN_CAP);
    }
    uint64_t hash = hash_key(m, key);
    size_t i = find_slot(m, key, hash);
    struct lmap_slot *s = &m->slots[i];
    void *old = NULL;
    if (s->key != NULL) {
        old = s->value;
    } else {
        m->len++;
    }
    s->key = key;
    s->value = value;
    s->hash = hash;
    return old;
}

void *lmap_remove(struct lmap *m, const char *key)
{
    if (m->len == 0) {
        return NULL;
    }
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, hash_key(m, key));
    if (m->slots[i].key == NULL) {
        return NULL;
    }
    void *value = m->slots[i].value;
    /* Backward shift: move each later entry of the cluster into the hole
     * unless its home slot lies cyclically in (hole, j]. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->slots[j].key == NULL) {
            break;
        }
        size_t home = (size_t)m->slots[j].hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = NULL;
    m->slots[hole].value = NULL;
    m->len--;
    if (m->cap > LMAP_MIN_CAP && m->len * 8 < m->cap) {
        resize(m, m->cap / 2);
    }
    return value;
}

bool lmap_next(const struct lmap *m, size_t *pos, const char **key, void **value)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].key != NULL) {
            *pos = i + 1;
            if (key) {
                *key = m->slots[i].key;
            }
            if (value) {
                *value = m->slots[i].value;
            }
            return true;
        }
    }
    *pos = m->cap;
    return false;
}
