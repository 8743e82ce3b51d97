/*
 * mem: allocation family over a swappable allocator. Exhaustion aborts.
 */
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *libc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void libc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static const struct cv_allocator libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};
static struct cv_allocator current = {libc_malloc, libc_realloc, libc_free, NULL};

void cv_mem_set_allocator(const struct cv_allocator *a)
{
    current = a ? *a : libc_allocator;
}

static void out_of_memory(size_t size)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
    abort();
}

void *cv_malloc(size_t size)
{
    void *p = current.malloc(current.ctx, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *cv_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        out_of_memory(SIZE_MAX);
    }
    void *p = cv_malloc(count * size);
    memset(p, 0, count * size);
    return p;
}

void *cv_realloc(void *ptr, size_t size)
{
    void *p = current.realloc(current.ctx, ptr, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *cv_reallocarray(void *ptr, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        out_of_memory(SIZE_MAX);
    }
    return cv_realloc(ptr, count * size);
}

void cv_free(void *ptr)
{
    if (ptr) {
        current.free(current.ctx, ptr);
    }
}

char *cv_strdup(const char *s)
{
    return cv_strndup(s, strlen(s));
}

char *cv_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = cv_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* The counting allocator tracks live blocks by count only: realloc of a
 * live block neither adds nor removes one. Counts are updated atomically,
 * since worker threads (the store's writer) allocate too. */
static void *counting_malloc(void *ctx, size_t size)
{
    struct cv_mem_counter *c = ctx;
    void *p = malloc(size);
    if (p) {
        __atomic_fetch_add(&c->live, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->total, 1, __ATOMIC_RELAXED);
    }
    return p;
}

static void *counting_realloc(void *ctx, void *ptr, size_t size)
{
    struct cv_mem_counter *c = ctx;
    void *p = realloc(ptr, size);
    if (p && !ptr) {
        __atomic_fetch_add(&c->live, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->total, 1, __ATOMIC_RELAXED);
    }
    return p;
}

static void counting_free(void *ctx, void *ptr)
{
    struct cv_mem_counter *c = ctx;
    __atomic_fetch_sub(&c->live, 1, __ATOMIC_RELAXED);
    free(ptr);
}

void cv_mem_count_into(struct cv_mem_counter *counter)
{
    struct cv_allocator a = {counting_malloc, counting_realloc, counting_free, counter};
    counter->live = 0;
    counter->total = 0;
    cv_mem_set_allocator(&a);
}
