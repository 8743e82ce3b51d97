/*
 * arena: a bump allocator for objects that all die together (a parsed JSON
 * document, one request's scratch). Blocks come from cv_malloc; nothing is
 * freed on its own, everything is freed by cv_arena_free().
 */
#ifndef CV_ARENA_H
#define CV_ARENA_H

#include <stddef.h>

struct cv_arena_block;

struct cv_arena
{
    struct cv_arena_block *head; /* newest block first */
    size_t used;                 /* bytes used in head */
    size_t total;                /* bytes handed out, for limits and tests */
};

void cv_arena_init(struct cv_arena *a);
void cv_arena_free(struct cv_arena *a);
/* Returns `size` bytes aligned for any object, valid until cv_arena_free. */
void *cv_arena_alloc(struct cv_arena *a, size_t size);
/* Copies `len` bytes and appends a NUL. */
char *cv_arena_strndup(struct cv_arena *a, const char *s, size_t len);

#endif
