/*
 * testutil: leak-checking fixture and typed asserts for cmocka tests.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

static struct cv_mem_counter counter;

int cv_test_setup(void **state)
{
    (void)state;
    cv_mem_count_into(&counter);
    return 0;
}

int cv_test_teardown(void **state)
{
    (void)state;
    size_t live = counter.live;
    cv_mem_set_allocator(NULL);
    if (live != 0) {
        print_error("test leaked %zu allocation(s)\n", live);
        return -1;
    }
    return 0;
}

void cv_assert_i64_eq(int64_t actual, int64_t expected, const char *expr, const char *file,
                      int line)
{
    if (actual != expected) {
        print_error("%s is %" PRId64 ", expected %" PRId64 "\n", expr, actual, expected);
        _fail(file, line);
    }
}

void cv_assert_u64_eq(uint64_t actual, uint64_t expected, const char *expr, const char *file,
                      int line)
{
    if (actual != expected) {
        print_error("%s is %" PRIu64 ", expected %" PRIu64 "\n", expr, actual, expected);
        _fail(file, line);
    }
}

char *cv_test_read_file(const char *relative_path, size_t *len)
{
    const char *root = getenv("CARAVAN_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root ? root : "tests", relative_path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s\n", path);
        fail();
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = cv_malloc((size_t)size + 1);
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    data[got] = '\0';
    if (len) {
        *len = got;
    }
    return data;
}

char *cv_test_quotes(const char *single_quoted)
{
    char *out = cv_strdup(single_quoted);
    for (char *p = out; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return out;
}

void cv_test_print_errors(const struct cv_errlist *errs)
{
    char line[1024];
    for (size_t i = 0; i < errs->len; i++) {
        print_error("  %s\n", cv_errlist_format(errs, i, line, sizeof line));
    }
}

bool cv_test_errors_are(int rc, const struct cv_errlist *errs, const char *const *expected,
                        size_t n)
{
    char line[1024];
    bool same = rc == CV_EVALIDATE && errs->len == n;
    for (size_t i = 0; same && i < n; i++) {
        same = strcmp(cv_errlist_format(errs, i, line, sizeof line), expected[i]) == 0;
        if (!same) {
            print_error("error %zu: \"%s\" != \"%s\"\n", i, line, expected[i]);
        }
    }
    if (!same) {
        print_error("rc %d, %zu errors (expected %zu):\n", rc, errs->len, n);
        cv_test_print_errors(errs);
    }
    return same;
}
