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
#include <stdbool.h>
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

struct cv_errlist;

/* Returns a new copy of s with every ' turned into ", so JSON in tests can
 * be written without escapes. Free with cv_free. */
char *cv_test_quotes(const char *single_quoted);
/* Prints every error of the list, one per line, for a failing test. */
void cv_test_print_errors(const struct cv_errlist *errs);
/* True when rc is CV_EVALIDATE and errs holds exactly expected[0..n) as
 * formatted "path: msg" lines; prints the difference otherwise. */
bool cv_test_errors_are(int rc, const struct cv_errlist *errs, const char *const *expected,
                        size_t n);

/* Reads a file under the tests/ folder (CARAVAN_TEST_DATA) into a new
 * NUL-terminated buffer; fails the test when it cannot. */
char *cv_test_read_file(const char *relative_path, size_t *len);

#endif
