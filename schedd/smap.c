/*
 * smap: a map from borrowed strings to sizes (see smap.h).
 */
#include "schedd/smap.h"

#include <stdint.h>
#include <string.h>

#include "common/mem.h"

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static struct sch_smap_entry *smap_slot(const struct sch_smap *m, const char *key)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)hash_str(key) & mask;; i = (i + 1) & mask) {
        struct sch_smap_entry *e = &m->items[i];
        if (e->key == NULL || strcmp(e->key, key) == 0) {
            return e;
        }
    }
}

size_t *sch_smap_get(const struct sch_smap *m, const char *key)
{
    if (m->cap == 0) {
        return NULL;
    }
    struct sch_smap_entry *e = smap_slot(m, key);
    return e->key != NULL ? &e->value : NULL;
}

size_t *sch_smap_put(struct sch_smap *m, const char *key)
{
    if ((m->len + 1) * 2 > m->cap) {
        struct sch_smap old = *m;
        m->cap = old.cap != 0 ? old.cap * 2 : 16;
        m->items = cv_calloc(m->cap, sizeof *m->items);
        for (size_t i = 0; i < old.cap; i++) {
            if (old.items[i].key != NULL) {
                *smap_slot(m, old.items[i].key) = old.items[i];
            }
        }
        cv_free(old.items);
    }
    struct sch_smap_entry *e = smap_slot(m, key);
    if (e->key == NULL) {
        e->key = key;
        e->value = 0;
        m->len++;
    }
    return &e->value;
}

void sch_smap_free(struct sch_smap *m)
{
    cv_free(m->items);
    memset(m, 0, sizeof *m);
}
