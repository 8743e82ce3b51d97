/*
 * arena: blocks of at least 16 KiB; a request larger than a quarter block
 * gets a block of its own so that big strings do not waste the rest.
 */
#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "common/mem.h"

#define ARENA_BLOCK_SIZE ((size_t)16 * 1024)

struct cv_arena_block
{
    struct cv_arena_block *next;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

void cv_arena_init(struct cv_arena *a)
{
    a->head = NULL;
    a->used = 0;
    a->total = 0;
}

void cv_arena_free(struct cv_arena *a)
{
    struct cv_arena_block *b = a->head;
    while (b) {
        struct cv_arena_block *next = b->next;
        cv_free(b);
        b = next;
    }
    cv_arena_init(a);
}

static struct cv_arena_block *new_block(size_t size)
{
    struct cv_arena_block *b = cv_malloc(sizeof *b + size);
    b->size = size;
    b->next = NULL;
    return b;
}

void *cv_arena_alloc(struct cv_arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align) {
        cv_malloc(SIZE_MAX); /* aborts: the size cannot exist */
    }
    size = (size + align - 1) & ~(align - 1);
    a->total += size;

    if (size > ARENA_BLOCK_SIZE / 4) {
        /* Own block, linked behind the head so the head keeps filling. */
        struct cv_arena_block *b = new_block(size);
        if (a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            a->head = b;
            a->used = size;
        }
        return b->data;
    }
    if (!a->head || a->head->size - a->used < size) {
        struct cv_arena_block *b = new_block(ARENA_BLOCK_SIZE);
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += size;
    return p;
}

char *cv_arena_strndup(struct cv_arena *a, const char *s, size_t len)
{
    char *copy = cv_arena_alloc(a, len + 1);
    if (len) {
        memcpy(copy, s, len);
    }
    copy[len] = '\0';
    return copy;
}
