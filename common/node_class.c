/*
 * node_class: a node's computed class (see cv_node_compute_class in
 * node.h).
 *
 * FNV-1a 64 over the fields in a fixed order; maps are hashed in key order
 * (sorted here, since input order is the client's), each string followed by
 * a NUL so that ("ab","c") and ("a","bc") differ. Keys starting with
 * "unique." are left out: they differ on every node by definition.
 */
#include "common/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return hash_bytes(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct cv_kv *)a)->key, ((const struct cv_kv *)b)->key);
}

static uint64_t hash_map(uint64_t h, const char *name, const struct cv_strmap *m)
{
    h = hash_str(h, name);
    if (m->len == 0) {
        return h;
    }
    struct cv_kv *sorted = cv_calloc(m->len, sizeof *sorted);
    memcpy(sorted, m->items, m->len * sizeof *sorted);
    qsort(sorted, m->len, sizeof *sorted, by_key);
    for (size_t i = 0; i < m->len; i++) {
        if (strncmp(sorted[i].key, "unique.", 7) == 0) {
            continue;
        }
        h = hash_str(h, sorted[i].key);
        h = hash_str(h, sorted[i].value);
    }
    cv_free(sorted);
    return h;
}

static int driver_by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void cv_node_compute_class(struct cv_node *node)
{
    uint64_t h = FNV_OFFSET;
    h = hash_str(h, node->datacenter);
    h = hash_str(h, node->node_class);
    h = hash_str(h, node->node_pool);
    h = hash_map(h, "attributes", &node->attributes);
    h = hash_map(h, "meta", &node->meta);
    size_t n = node->drivers.len;
    const char **usable = cv_calloc(n ? n : 1, sizeof *usable);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (node->drivers.items[i].detected && node->drivers.items[i].healthy) {
            usable[k++] = node->drivers.items[i].key;
        }
    }
    qsort(usable, k, sizeof *usable, driver_by_key);
    h = hash_str(h, "drivers");
    for (size_t i = 0; i < k; i++) {
        h = hash_str(h, usable[i]);
    }
    cv_free(usable);
    char text[24];
    snprintf(text, sizeof text, "v1:%016llx", (unsigned long long)h);
    cv_set_string(&node->computed_class, text);
}
