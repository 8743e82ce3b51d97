/*
 * smap: a small open-addressing hash map from strings to size_t values,
 * for the placement engine's per-evaluation indexes (node ID -> slot,
 * stopped allocation IDs, property values -> counts, classes -> flags).
 *
 * Keys are borrowed, not copied: they must outlive the map (they point into
 * the state snapshot's objects, which do). Nothing is ever removed.
 */
#ifndef SCH_SMAP_H
#define SCH_SMAP_H

#include <stddef.h>

struct sch_smap_entry
{
    const char *key; /* NULL: free */
    size_t value;
};

/* Zero-initialise (`struct sch_smap m = {0};`) before use. */
struct sch_smap
{
    struct sch_smap_entry *items;
    size_t cap; /* a power of two, or 0 */
    size_t len;
};

/* The value of key, or NULL when absent. */
size_t *sch_smap_get(const struct sch_smap *m, const char *key);
/* The value of key (borrowed), inserted as 0 when new. */
size_t *sch_smap_put(struct sch_smap *m, const char *key);
/* Frees the table (not the keys) and leaves the map empty. */
void sch_smap_free(struct sch_smap *m);

#endif
