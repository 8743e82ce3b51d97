/*
 * test_mem: the allocation family and the counting allocator.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "testutil.h"

static void test_counting_allocator_counts(void **state)
{
    (void)state;
    struct cv_mem_counter c = {99, 99};
    cv_mem_count_into(&c);
    assert_u64_equal(c.live, 0);
    assert_u64_equal(c.total, 0);

    void *a = cv_malloc(10);
    void *b = cv_malloc(0); /* a zero-byte request is still a live block */
    assert_non_null(b);
    assert_u64_equal(c.live, 2);
    assert_u64_equal(c.total, 2);

    /* growing a live block neither adds nor removes one */
    a = cv_realloc(a, 4096);
    assert_u64_equal(c.live, 2);
    assert_u64_equal(c.total, 2);

    /* realloc of NULL is a new block */
    void *d = cv_realloc(NULL, 16);
    assert_u64_equal(c.live, 3);
    assert_u64_equal(c.total, 3);

    cv_free(a);
    cv_free(b);
    cv_free(NULL); /* no effect on the counts */
    assert_u64_equal(c.live, 1);
    cv_free(d);
    assert_u64_equal(c.live, 0);
    assert_u64_equal(c.total, 3);

    char *s = cv_strdup("x");
    assert_u64_equal(c.live, 1);
    assert_u64_equal(c.total, 4);
    cv_free(s);
    assert_u64_equal(c.live, 0);
}

struct tagged
{
    int mallocs, reallocs, frees;
};

static void *tagged_malloc(void *ctx, size_t size)
{
    ((struct tagged *)ctx)->mallocs++;
    return malloc(size);
}

static void *tagged_realloc(void *ctx, void *ptr, size_t size)
{
    ((struct tagged *)ctx)->reallocs++;
    return realloc(ptr, size);
}

static void tagged_free(void *ctx, void *ptr)
{
    ((struct tagged *)ctx)->frees++;
    free(ptr);
}

static void test_custom_allocator_receives_calls(void **state)
{
    (void)state;
    struct tagged t = {0, 0, 0};
    struct cv_allocator a = {tagged_malloc, tagged_realloc, tagged_free, &t};
    cv_mem_set_allocator(&a);
    char *p = cv_malloc(8);
    p = cv_realloc(p, 64);
    cv_free(p);
    cv_mem_set_allocator(NULL);
    assert_int_equal(t.mallocs, 1);
    assert_int_equal(t.reallocs, 1);
    assert_int_equal(t.frees, 1);

    /* after NULL restores libc, the custom allocator sees nothing */
    p = cv_malloc(8);
    free(p);
    assert_int_equal(t.mallocs, 1);
}

static void test_calloc_zeroes(void **state)
{
    (void)state;
    /* dirty a block and free it, so calloc is likely to get dirty memory back */
    unsigned char *dirty = cv_malloc(4096);
    memset(dirty, 0xa5, 4096);
    cv_free(dirty);

    unsigned char *p = cv_calloc(512, 8);
    for (size_t i = 0; i < 4096; i++) {
        assert_int_equal(p[i], 0);
    }
    cv_free(p);

    /* zero elements still gives a block that can be freed */
    void *z = cv_calloc(0, 16);
    assert_non_null(z);
    cv_free(z);
}

static void test_strndup(void **state)
{
    (void)state;
    char *s = cv_strndup("hello", 3);
    assert_string_equal(s, "hel");
    cv_free(s);

    /* n beyond the string: stops at its NUL */
    s = cv_strndup("hi", 100);
    assert_string_equal(s, "hi");
    assert_int_equal(s[2], '\0');
    cv_free(s);

    s = cv_strndup("abc", 0);
    assert_string_equal(s, "");
    cv_free(s);

    /* an unterminated source is read no further than n */
    char raw[4] = {'w', 'x', 'y', 'z'};
    s = cv_strndup(raw, sizeof raw);
    assert_string_equal(s, "wxyz");
    cv_free(s);

    s = cv_strdup("");
    assert_string_equal(s, "");
    cv_free(s);
}

static void test_reallocarray(void **state)
{
    (void)state;
    uint64_t *v = cv_reallocarray(NULL, 4, sizeof *v);
    for (uint64_t i = 0; i < 4; i++) {
        v[i] = i * 1000;
    }
    v = cv_reallocarray(v, 100000, sizeof *v);
    for (uint64_t i = 0; i < 4; i++) {
        assert_u64_equal(v[i], i * 1000); /* contents kept across growth */
    }
    v[99999] = 7;
    assert_u64_equal(v[99999], 7);
    v = cv_reallocarray(v, 2, sizeof *v);
    assert_u64_equal(v[1], 1000);
    cv_free(v);
}

/* Runs fn in a child and returns the signal that ended it, or 0. */
static int child_signal(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* keep the sanitizers' and the allocator's report off the test output */
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 2);
        }
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void overflow_reallocarray(void)
{
    cv_mem_set_allocator(NULL);
    (void)cv_reallocarray(NULL, SIZE_MAX / 2 + 1, 2);
}

static void overflow_calloc(void)
{
    cv_mem_set_allocator(NULL);
    (void)cv_calloc(SIZE_MAX / 8 + 1, 8);
}

static void test_overflow_aborts(void **state)
{
    (void)state;
    assert_int_equal(child_signal(overflow_reallocarray), SIGABRT);
    assert_int_equal(child_signal(overflow_calloc), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_counting_allocator_counts),
        CV_TEST(test_custom_allocator_receives_calls),
        CV_TEST(test_calloc_zeroes),
        CV_TEST(test_strndup),
        CV_TEST(test_reallocarray),
        CV_TEST(test_overflow_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
