/*
 * testutil: leak-checking fixture and typed asserts for cmocka tests.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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
