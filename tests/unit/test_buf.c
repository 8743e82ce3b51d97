/*
 * test_buf: the growable, always NUL-terminated byte buffer.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "testutil.h"

static void test_empty_buffer(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    assert_null(b.data);
    assert_string_equal(cv_buf_str(&b), "");
    cv_buf_reset(&b); /* on a never-used buffer */
    cv_buf_truncate(&b, 0);
    assert_string_equal(cv_buf_str(&b), "");
    cv_buf_free(&b);

    cv_buf_init(&b);
    cv_buf_append(&b, "", 0); /* allocates, stays empty and terminated */
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(cv_buf_str(&b), "");
    cv_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_append(void **state)
{
    (void)state;
    struct cv_buf b;
    cv_buf_init(&b);
    cv_buf_append(&b, "abc", 3);
    cv_buf_append_str(&b, "def");
    cv_buf_append_char(&b, 'g');
    assert_int_equal(b.len, 7);
    assert_string_equal(cv_buf_str(&b), "abcdefg");
    assert_int_equal(b.data[b.len], '\0');

    /* binary data with NULs keeps its length */
    cv_buf_append(&b, "\0x\0", 3);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data + 7, "\0x\0", 3);
    assert_int_equal(b.data[10], '\0');
    cv_buf_free(&b);
}

static void test_appendf_growth(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    /* 20000 numbers: dozens of kilobytes, many doublings */
    size_t expect_len = 0;
    char tmp[32];
    for (int i = 0; i < 20000; i++) {
        cv_buf_appendf(&b, "%d,", i);
        expect_len += (size_t)snprintf(tmp, sizeof tmp, "%d,", i);
        assert_true(b.cap > b.len);
    }
    assert_int_equal(b.len, expect_len);
    assert_int_equal(strlen(cv_buf_str(&b)), expect_len);
    assert_memory_equal(b.data, "0,1,2,3,", 8);
    assert_memory_equal(b.data + b.len - 6, "19999,", 6);

    /* one append far larger than the current capacity */
    struct cv_buf big = CV_BUF_INIT;
    cv_buf_appendf(&big, "%s", "x");
    cv_buf_appendf(&big, "%0*d", 100000, 7);
    assert_int_equal(big.len, 100001);
    assert_int_equal(big.data[100000], '7');
    assert_int_equal(big.data[100001], '\0');
    assert_int_equal(big.data[1], '0');
    cv_buf_free(&big);

    /* an empty format appends nothing */
    size_t before = b.len;
    cv_buf_appendf(&b, "%s", "");
    assert_int_equal(b.len, before);
    cv_buf_free(&b);
}

static void test_truncate_and_reset(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append_str(&b, "hello world");
    cv_buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(cv_buf_str(&b), "hello");
    cv_buf_truncate(&b, 50); /* longer than len: no change */
    assert_string_equal(cv_buf_str(&b), "hello");
    cv_buf_append_str(&b, "!");
    assert_string_equal(cv_buf_str(&b), "hello!");

    size_t cap = b.cap;
    char *data = b.data;
    cv_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(cv_buf_str(&b), "");
    assert_int_equal(b.cap, cap); /* memory kept */
    assert_ptr_equal(b.data, data);
    cv_buf_append_str(&b, "again");
    assert_string_equal(cv_buf_str(&b), "again");
    cv_buf_truncate(&b, 0);
    assert_string_equal(cv_buf_str(&b), "");
    cv_buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_reserve(&b, 1000);
    assert_true(b.cap >= 1001);
    char *data = b.data;
    for (int i = 0; i < 1000; i++) {
        cv_buf_append_char(&b, 'a');
    }
    assert_ptr_equal(b.data, data); /* reserved room: no reallocation */
    assert_int_equal(b.len, 1000);
    cv_buf_free(&b);
}

static void test_take(void **state)
{
    (void)state;
    struct cv_buf b = CV_BUF_INIT;
    cv_buf_append_str(&b, "owned");
    char *s = cv_buf_take(&b);
    assert_string_equal(s, "owned");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(cv_buf_str(&b), "");
    /* the buffer is usable again and independent of s */
    cv_buf_append_str(&b, "next");
    assert_string_equal(s, "owned");
    cv_free(s);

    char *t = cv_buf_take(&b);
    assert_string_equal(t, "next");
    cv_free(t);

    /* taking from an empty buffer gives a new empty string, never NULL */
    char *e = cv_buf_take(&b);
    assert_non_null(e);
    assert_string_equal(e, "");
    cv_free(e);
    cv_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_empty_buffer),       CV_TEST(test_append),  CV_TEST(test_appendf_growth),
        CV_TEST(test_truncate_and_reset), CV_TEST(test_reserve), CV_TEST(test_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
