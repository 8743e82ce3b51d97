/*
 * lheap: an indexed binary heap of pointers, for the leader's queues (ready
 * evaluations by priority, timers by deadline).
 *
 * The owner gives an ordering (`before(a, b)`: a comes out first) and the
 * offset of a `size_t` inside each item where the heap keeps the item's
 * position. With it an item can be removed, or moved after its key
 * changed, in O(log n) without a search. An item is in at most one heap
 * per position field.
 */
#ifndef LHEAP_H
#define LHEAP_H

#include <stdbool.h>
#include <stddef.h>

/* True when a must come out before b. Must be a strict weak order. */
typedef bool (*lheap_before_fn)(const void *a, const void *b);

struct lheap
{
    void **items;
    size_t len;
    size_t cap;
    lheap_before_fn before;
    size_t pos_offset; /* offsetof(item type, its size_t position) */
};

/* The position an item holds while it is in no heap. */
#define LHEAP_NONE ((size_t)-1)

void lheap_init(struct lheap *h, lheap_before_fn before, size_t pos_offset);
/* Frees the array; the items are the caller's. Usable again afterwards. */
void lheap_free(struct lheap *h);

static inline size_t lheap_len(const struct lheap *h)
{
    return h->len;
}

static inline void *lheap_peek(const struct lheap *h)
{
    return h->len ? h->items[0] : NULL;
}

/* Adds an item that is in no heap of this position field. */
void lheap_push(struct lheap *h, void *item);
/* Removes and returns the first item, or NULL when empty. */
void *lheap_pop(struct lheap *h);
/* Removes an item that is in this heap. */
void lheap_remove(struct lheap *h, void *item);
/* Restores the order after the key of an item in this heap changed. */
void lheap_fix(struct lheap *h, void *item);
/* True when item is in this heap (its position names it). */
bool lheap_contains(const struct lheap *h, const void *item);
/* Checks the heap property and every position; for tests. */
bool lheap_valid(const struct lheap *h);

#endif
