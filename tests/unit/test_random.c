/*
 * test_random: UUIDs are well-formed version 4 UUIDs and do not repeat;
 * random numbers are not all the same.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/node.h"
#include "common/random.h"

static int compare(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_uuids_are_valid_and_distinct(void **state)
{
    (void)state;
    enum
    {
        COUNT = 2000
    };
    char(*ids)[CV_UUID_LEN + 1] = calloc(COUNT, sizeof *ids);
    for (size_t i = 0; i < COUNT; i++) {
        cv_uuid_generate(ids[i]);
        assert_int_equal(strlen(ids[i]), CV_UUID_LEN);
        assert_true(cv_uuid_valid(ids[i]));
        assert_int_equal(ids[i][14], '4');           /* version */
        assert_non_null(strchr("89ab", ids[i][19])); /* variant */
    }
    qsort(ids, COUNT, sizeof *ids, compare);
    for (size_t i = 1; i < COUNT; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    free(ids);
}

static void test_random_numbers_vary(void **state)
{
    (void)state;
    uint64_t first = cv_random_u64();
    bool varied = false;
    for (int i = 0; i < 16 && !varied; i++) {
        varied = cv_random_u64() != first;
    }
    assert_true(varied);
    unsigned char buf[64] = {0};
    cv_random_bytes(buf, sizeof buf);
    bool nonzero = false;
    for (size_t i = 0; i < sizeof buf; i++) {
        nonzero |= buf[i] != 0;
    }
    assert_true(nonzero);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_uuids_are_valid_and_distinct),
        CV_TEST(test_random_numbers_vary),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
