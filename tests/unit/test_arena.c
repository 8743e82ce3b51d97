/*
 * test_arena: the bump allocator; the leak fixture proves cv_arena_free
 * releases every block.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/mem.h"
#include "testutil.h"

static void assert_aligned(const void *p)
{
    assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
}

static void test_empty_arena(void **state)
{
    (void)state;
    struct cv_arena a;
    cv_arena_init(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
    cv_arena_free(&a);
    cv_arena_free(&a);
}

static void test_many_small_allocs(void **state)
{
    (void)state;
    struct cv_arena a;
    cv_arena_init(&a);
    enum
    {
        N = 10000
    };
    unsigned char **ptrs = cv_calloc(N, sizeof *ptrs);
    for (size_t i = 0; i < N; i++) {
        size_t size = 1 + i % 40;
        ptrs[i] = cv_arena_alloc(&a, size);
        assert_non_null(ptrs[i]);
        assert_aligned(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xff), size);
    }
    /* nothing was overwritten by a later allocation */
    for (size_t i = 0; i < N; i++) {
        size_t size = 1 + i % 40;
        for (size_t j = 0; j < size; j++) {
            assert_int_equal(ptrs[i][j], i & 0xff);
        }
    }
    assert_true(a.total >= (size_t)N);
    cv_free(ptrs);
    cv_arena_free(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
}

static void test_large_allocs_interleaved(void **state)
{
    (void)state;
    struct cv_arena a;
    cv_arena_init(&a);
    enum
    {
        N = 200
    };
    unsigned char *ptrs[N];
    size_t sizes[N];
    /* starts with a large one, so the first block is a private one */
    for (size_t i = 0; i < N; i++) {
        sizes[i] = (i % 3 == 0) ? 4097 + i * 131 : 1 + i % 100;
        if (i % 17 == 0) {
            sizes[i] = 64 * 1024; /* larger than a whole block */
        }
        ptrs[i] = cv_arena_alloc(&a, sizes[i]);
        assert_aligned(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xff), sizes[i]);
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(ptrs[i][0], i & 0xff);
        assert_int_equal(ptrs[i][sizes[i] - 1], i & 0xff);
        for (size_t j = 0; j < sizes[i]; j += 97) {
            assert_int_equal(ptrs[i][j], i & 0xff);
        }
    }
    cv_arena_free(&a);
}

static void test_alignment_of_odd_sizes(void **state)
{
    (void)state;
    struct cv_arena a;
    cv_arena_init(&a);
    for (size_t size = 0; size < 300; size++) {
        void *p = cv_arena_alloc(&a, size);
        assert_aligned(p);
        /* a long double and a pointer can live there */
        if (size >= sizeof(max_align_t)) {
            max_align_t *m = p;
            memset(m, 0, sizeof *m);
        }
    }
    cv_arena_free(&a);
}

static void test_strndup(void **state)
{
    (void)state;
    struct cv_arena a;
    cv_arena_init(&a);
    char *s = cv_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *e = cv_arena_strndup(&a, "", 0);
    assert_string_equal(e, "");
    /* copies exactly len bytes, embedded NULs included */
    char *z = cv_arena_strndup(&a, "a\0b", 3);
    assert_memory_equal(z, "a\0b", 4);
    char big[10000];
    memset(big, 'q', sizeof big);
    char *bs = cv_arena_strndup(&a, big, sizeof big);
    assert_int_equal(strlen(bs), sizeof big);
    assert_string_equal(s, "hello"); /* earlier copies intact */
    cv_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_empty_arena),
        CV_TEST(test_many_small_allocs),
        CV_TEST(test_large_allocs_interleaved),
        CV_TEST(test_alignment_of_odd_sizes),
        CV_TEST(test_strndup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
