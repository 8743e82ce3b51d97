/*
 * testutil: what every cmocka test program shares.
 *
 * cv_test_setup/cv_test_teardown install a counting allocator around each
 * test and fail the test when it ends with live allocations. Typed asserts
 * print both sides, which cmocka 1.1.5's integer asserts do not for
 * signed or 64-bit values.
 */
#ifndef CV_TESTUTIL_H
#define CV_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int cv_test_setup(void **state);
int cv_test_teardown(void **state);

/* A test entry with the leak-checking fixture. */
#define CV_TEST(fn) cmocka_unit_test_setup_teardown(fn, cv_test_setup, cv_test_teardown)

void cv_assert_i64_eq(int64_t actual, int64_t expected, const char *expr, const char *file,
                      int line);
void cv_assert_u64_eq(uint64_t actual, uint64_t expected, const char *expr, const char *file,
                      int line);

#define assert_i64_equal(a, b) cv_assert_i64_eq((a), (b), #a, __FILE__, __LINE__)
#define assert_u64_equal(a, b) cv_assert_u64_eq((a), (b), #a, __FILE__, __LINE__)

/* Reads a file under the tests/ folder (CARAVAN_TEST_DATA) into a new
 * NUL-terminated buffer; fails the test when it cannot. */
char *cv_test_read_file(const char *relative_path, size_t *len);

#endif
