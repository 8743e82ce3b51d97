/*
 * lheap: indexed binary heap (see lheap.h). Children of i are 2i+1 and
 * 2i+2; every move writes the item's new position into the item.
 */
#include "regiond/leader/lheap.h"

#include <assert.h>
#include <stdint.h>

#include "common/mem.h"

static inline size_t *pos_of(const struct lheap *h, const void *item)
{
    return (size_t *)((char *)(uintptr_t)item + h->pos_offset);
}

static inline void place(struct lheap *h, size_t i, void *item)
{
    h->items[i] = item;
    *pos_of(h, item) = i;
}

static void sift_up(struct lheap *h, size_t i)
{
    void *item = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->before(item, h->items[parent])) {
            break;
        }
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, item);
}

/* Returns true when the item moved. */
static bool sift_down(struct lheap *h, size_t i)
{
    size_t start = i;
    void *item = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len && h->before(h->items[child + 1], h->items[child])) {
            child++;
        }
        if (!h->before(h->items[child], item)) {
            break;
        }
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, item);
    return i != start;
}

void lheap_init(struct lheap *h, lheap_before_fn before, size_t pos_offset)
{
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
    h->before = before;
    h->pos_offset = pos_offset;
}

void lheap_free(struct lheap *h)
{
    cv_free(h->items);
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
}

void lheap_push(struct lheap *h, void *item)
{
    assert(*pos_of(h, item) == LHEAP_NONE);
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->items = cv_reallocarray(h->items, h->cap, sizeof *h->items);
    }
    h->items[h->len++] = item;
    sift_up(h, h->len - 1);
}

void *lheap_pop(struct lheap *h)
{
    if (h->len == 0) {
        return NULL;
    }
    void *first = h->items[0];
    lheap_remove(h, first);
    return first;
}

void lheap_remove(struct lheap *h, void *item)
{
    assert(lheap_contains(h, item));
    size_t i = *pos_of(h, item);
    *pos_of(h, item) = LHEAP_NONE;
    h->len--;
    if (i == h->len) {
        return;
    }
    place(h, i, h->items[h->len]);
    if (!sift_down(h, i)) {
        sift_up(h, i);
    }
}

void lheap_fix(struct lheap *h, void *item)
{
    assert(lheap_contains(h, item));
    size_t i = *pos_of(h, item);
    if (!sift_down(h, i)) {
        sift_up(h, i);
    }
}

bool lheap_contains(const struct lheap *h, const void *item)
{
    size_t i = *pos_of(h, item);
    return i < h->len && h->items[i] == item;
}

bool lheap_valid(const struct lheap *h)
{
    for (size_t i = 0; i < h->len; i++) {
        if (*pos_of(h, h->items[i]) != i) {
            return false;
        }
        if (i > 0 && h->before(h->items[i], h->items[(i - 1) / 2])) {
            return false;
        }
    }
    return true;
}
