/*
 * test_log: line format, level filtering and level names, written into a
 * memory stream with a manual clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "testutil.h"

/* log.h documents "" as the details of a line without any, but its format
 * attribute makes -Wformat (-Wall) reject an empty format string. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

/* 2026-11-25T03:21:58.123Z */
#define FIXED_WALL_NS (INT64_C(1795576918) * CV_NSEC_PER_SEC + 123 * CV_NSEC_PER_MSEC + 456789)

struct capture
{
    char *text;
    size_t len;
    FILE *f;
    struct cv_manual_clock clock;
};

static int capture_setup(void **state)
{
    cv_test_setup(state);
    struct capture *c = calloc(1, sizeof *c);
    c->f = open_memstream(&c->text, &c->len);
    if (!c->f) {
        return -1;
    }
    cv_manual_clock_init(&c->clock, 0, FIXED_WALL_NS);
    cv_log_set_sink(c->f);
    cv_log_set_clock(&c->clock.clock);
    cv_log_set_level(CV_LOG_INFO);
    *state = c;
    return 0;
}

static int capture_teardown(void **state)
{
    struct capture *c = *state;
    cv_log_set_sink(NULL);
    cv_log_set_clock(NULL);
    cv_log_set_level(CV_LOG_INFO);
    fclose(c->f);
    free(c->text);
    free(c);
    return cv_test_teardown(state);
}

/* The text written so far. */
static const char *captured(struct capture *c)
{
    fflush(c->f);
    return c->len ? c->text : "";
}

static void test_line_format(void **state)
{
    struct capture *c = *state;
    cv_log(CV_LOG_INFO, "raft", "became leader", "term=%d", 5);
    assert_string_equal(captured(c), "2026-11-25T03:21:58.123Z info raft became leader term=5\n");
}

static void test_several_details_and_levels(void **state)
{
    struct capture *c = *state;
    cv_log_set_level(CV_LOG_DEBUG);
    cv_log(CV_LOG_DEBUG, "gossip", "probe", "node=%s rtt_ms=%u", "n1", 12u);
    cv_manual_clock_advance(&c->clock, 1000 * CV_NSEC_PER_MSEC);
    cv_log(CV_LOG_WARN, "http", "slow request", "path=%s", "/v1/jobs");
    cv_log(CV_LOG_ERROR, "store", "fsync failed", "errno=%d", 5);
    assert_string_equal(captured(c),
                        "2026-11-25T03:21:58.123Z debug gossip probe node=n1 rtt_ms=12\n"
                        "2026-11-25T03:21:59.123Z warn http slow request path=/v1/jobs\n"
                        "2026-11-25T03:21:59.123Z error store fsync failed errno=5\n");
}

static void test_no_details(void **state)
{
    struct capture *c = *state;
    cv_log(CV_LOG_INFO, "agent", "started", "");
    assert_string_equal(captured(c), "2026-11-25T03:21:58.123Z info agent started\n");
}

static void test_millis_padding_and_epoch(void **state)
{
    struct capture *c = *state;
    cv_manual_clock_set_wall(&c->clock,
                             INT64_C(946684799) * CV_NSEC_PER_SEC + 7 * CV_NSEC_PER_MSEC);
    cv_log(CV_LOG_INFO, "x", "y", "");
    cv_manual_clock_set_wall(&c->clock, 0);
    cv_log(CV_LOG_INFO, "x", "y", "");
    assert_string_equal(captured(c),
                        "1999-12-31T23:59:59.007Z info x y\n"
                        "1970-01-01T00:00:00.000Z info x y\n");
}

static int formatted;

static int count_format(void)
{
    formatted++;
    return 1;
}

static void test_lines_below_level_dropped(void **state)
{
    struct capture *c = *state;
    cv_log_set_level(CV_LOG_WARN);
    assert_int_equal(cv_log_get_level(), CV_LOG_WARN);
    formatted = 0;
    cv_log(CV_LOG_DEBUG, "a", "debug line", "n=%d", count_format());
    cv_log(CV_LOG_INFO, "a", "info line", "n=%d", count_format());
    /* arguments of a dropped line are never evaluated */
    assert_int_equal(formatted, 0);
    assert_string_equal(captured(c), "");
    cv_log(CV_LOG_WARN, "a", "warn line", "n=%d", count_format());
    cv_log(CV_LOG_ERROR, "a", "error line", "");
    assert_int_equal(formatted, 1);
    assert_string_equal(captured(c),
                        "2026-11-25T03:21:58.123Z warn a warn line n=1\n"
                        "2026-11-25T03:21:58.123Z error a error line\n");

    cv_log_set_level(CV_LOG_ERROR);
    cv_log(CV_LOG_WARN, "a", "dropped", "");
    assert_null(strstr(captured(c), "dropped"));
}

static void test_long_line_truncated_with_newline(void **state)
{
    struct capture *c = *state;
    char *big = malloc(5000);
    memset(big, 'v', 4999);
    big[4999] = '\0';
    cv_log(CV_LOG_INFO, "c", "m", "k=%s", big);
    cv_log(CV_LOG_INFO, "c", "after", "");
    free(big);
    const char *out = captured(c);
    const char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_true(nl - out < 2048);
    assert_true(nl - out > 1000);
    /* the next line starts cleanly after the cut one */
    assert_string_equal(nl + 1, "2026-11-25T03:21:58.123Z info c after\n");
}

static void test_parse_level(void **state)
{
    (void)state;
    enum cv_log_level l = CV_LOG_ERROR;
    assert_int_equal(cv_log_parse_level("debug", &l), 0);
    assert_int_equal(l, CV_LOG_DEBUG);
    assert_int_equal(cv_log_parse_level("info", &l), 0);
    assert_int_equal(l, CV_LOG_INFO);
    assert_int_equal(cv_log_parse_level("warn", &l), 0);
    assert_int_equal(l, CV_LOG_WARN);
    assert_int_equal(cv_log_parse_level("error", &l), 0);
    assert_int_equal(l, CV_LOG_ERROR);

    l = CV_LOG_WARN;
    assert_int_equal(cv_log_parse_level("INFO", &l), CV_EINVAL);
    assert_int_equal(cv_log_parse_level("warning", &l), CV_EINVAL);
    assert_int_equal(cv_log_parse_level("", &l), CV_EINVAL);
    assert_int_equal(cv_log_parse_level("inf", &l), CV_EINVAL);
    assert_int_equal(l, CV_LOG_WARN); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_several_details_and_levels, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_no_details, capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_millis_padding_and_epoch, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_lines_below_level_dropped, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_long_line_truncated_with_newline, capture_setup,
                                        capture_teardown),
        CV_TEST(test_parse_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
