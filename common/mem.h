/*
 * mem: the one allocation family every Caravan module uses.
 *
 * cv_malloc and friends never return NULL: memory exhaustion is fatal in
 * every Caravan process (the OOM handler logs and aborts), so callers do not
 * check. Inputs from outside are bounded by explicit limits *before* they
 * are allocated for (see json.h), which is what keeps hostile input from
 * reaching this handler.
 *
 * The allocator behind the family can be swapped (cv_mem_set_allocator):
 * tests install a counting allocator and assert that every test ends with
 * zero live allocations.
 */
#ifndef CV_MEM_H
#define CV_MEM_H

#include <stddef.h>

struct cv_allocator
{
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
};

/* Installs `a` (copied) as the process-wide allocator; NULL restores libc.
 * Call only when no Caravan allocation is live. */
void cv_mem_set_allocator(const struct cv_allocator *a);

void *cv_malloc(size_t size);
void *cv_calloc(size_t count, size_t size);
void *cv_realloc(void *ptr, size_t size);
/* Returns a new array of count*size bytes; aborts on overflow. */
void *cv_reallocarray(void *ptr, size_t count, size_t size);
void cv_free(void *ptr);
char *cv_strdup(const char *s);
char *cv_strndup(const char *s, size_t n);

/* A counting allocator over libc, for tests and leak checks; safe to use
 * from several threads (read the fields when they are quiet). */
struct cv_mem_counter
{
    size_t live;  /* allocations not yet freed */
    size_t total; /* allocations ever made */
};
/* Installs a counting allocator that records into `counter` (borrowed, must
 * outlive its installation). */
void cv_mem_count_into(struct cv_mem_counter *counter);

#endif
