/*
 * test_clock: the system clock and the manual clock.
 */
#include <stdint.h>

#include "common/clock.h"
#include "testutil.h"

static void test_system_clock_monotonic(void **state)
{
    (void)state;
    const struct cv_clock *c = cv_clock_system();
    assert_non_null(c);
    assert_ptr_equal(c, cv_clock_system()); /* shared */
    uint64_t prev = cv_clock_monotonic_ns(c);
    for (int i = 0; i < 100000; i++) {
        uint64_t now = cv_clock_monotonic_ns(c);
        assert_true(now >= prev);
        prev = now;
    }
    /* wall time is after 2020-01-01 and before 2200 */
    int64_t wall = cv_clock_wall_ns(c);
    assert_true(wall > INT64_C(1577836800) * CV_NSEC_PER_SEC);
    assert_true(wall < INT64_C(7258118400) * CV_NSEC_PER_SEC);
}

static void test_manual_clock(void **state)
{
    (void)state;
    struct cv_manual_clock m;
    cv_manual_clock_init(&m, 1000, INT64_C(1795000000) * CV_NSEC_PER_SEC);
    const struct cv_clock *c = &m.clock;
    assert_u64_equal(cv_clock_monotonic_ns(c), 1000);
    assert_i64_equal(cv_clock_wall_ns(c), INT64_C(1795000000) * CV_NSEC_PER_SEC);
    /* it does not move on its own */
    assert_u64_equal(cv_clock_monotonic_ns(c), 1000);

    cv_manual_clock_advance(&m, 5 * CV_NSEC_PER_SEC);
    assert_u64_equal(cv_clock_monotonic_ns(c), 1000 + 5 * (uint64_t)CV_NSEC_PER_SEC);
    assert_i64_equal(cv_clock_wall_ns(c), INT64_C(1795000005) * CV_NSEC_PER_SEC);

    /* a wall jump backwards leaves the monotonic clock alone */
    cv_manual_clock_set_wall(&m, 42);
    assert_i64_equal(cv_clock_wall_ns(c), 42);
    assert_u64_equal(cv_clock_monotonic_ns(c), 1000 + 5 * (uint64_t)CV_NSEC_PER_SEC);

    cv_manual_clock_advance(&m, 8);
    assert_i64_equal(cv_clock_wall_ns(c), 50);
    assert_u64_equal(cv_clock_monotonic_ns(c), 1008 + 5 * (uint64_t)CV_NSEC_PER_SEC);

    cv_manual_clock_advance(&m, 0);
    assert_i64_equal(cv_clock_wall_ns(c), 50);

    /* two manual clocks are independent */
    struct cv_manual_clock other;
    cv_manual_clock_init(&other, 7, -3);
    assert_u64_equal(cv_clock_monotonic_ns(&other.clock), 7);
    assert_i64_equal(cv_clock_wall_ns(&other.clock), -3);
    assert_i64_equal(cv_clock_wall_ns(c), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_system_clock_monotonic),
        CV_TEST(test_manual_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
