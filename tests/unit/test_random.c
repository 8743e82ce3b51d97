/*
 * test_random: UUIDs are well-formed version 4 UUIDs and do not repeat,
 * also across the per-thread buffer's refills and between a parent and its
 * forked child; random numbers are not all the same.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* A child forked with UUID bytes buffered must not issue the parent's next
 * UUIDs. */
static void test_fork_does_not_repeat_uuids(void **state)
{
    (void)state;
    char first[CV_UUID_LEN + 1];
    cv_uuid_generate(first); /* fills this thread's buffer */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char mine[CV_UUID_LEN + 1];
        cv_uuid_generate(mine);
        ssize_t n = write(fds[1], mine, CV_UUID_LEN);
        _exit(n == CV_UUID_LEN ? 0 : 1);
    }
    close(fds[1]);
    char theirs[CV_UUID_LEN + 1] = "";
    ssize_t got = read(fds[0], theirs, CV_UUID_LEN);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(got, CV_UUID_LEN);
    theirs[CV_UUID_LEN] = '\0';
    char mine[CV_UUID_LEN + 1];
    cv_uuid_generate(mine);
    assert_string_not_equal(mine, theirs);
    assert_string_not_equal(first, theirs);
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
        CV_TEST(test_fork_does_not_repeat_uuids),
        CV_TEST(test_random_numbers_vary),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
