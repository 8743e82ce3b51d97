/*
 * test_err: the error-code table, error values, field paths and error lists.
 */
#include <string.h>

#include "common/err.h"
#include "testutil.h"

struct code_row
{
    int code;
    const char *text;
    int http;
};

/* Written out by hand, not generated from the X-macro, so a change to the
 * table shows up here as a deliberate edit. */
static const struct code_row expected_codes[] = {
    {CV_OK, "ok", 200},
    {CV_EINVAL, "invalid argument", 400},
    {CV_EPARSE, "malformed input", 400},
    {CV_EVALIDATE, "validation failed", 400},
    {CV_ETOOBIG, "input too large", 413},
    {CV_ENOTFOUND, "not found", 404},
    {CV_EEXIST, "already exists", 409},
    {CV_EUNSUPPORTED, "not supported", 400},
    {CV_EIO, "input/output error", 500},
    {CV_ETIMEDOUT, "timed out", 504},
    {CV_ENOTLEADER, "not the leader", 503},
    {CV_ESHUTDOWN, "shutting down", 503},
    {CV_EUNAVAILABLE, "unavailable", 503},
    {CV_EINTERNAL, "internal error", 500},
    {CV_ECONFLICT, "conflict", 409},
};

static void test_strerror_and_http_status(void **state)
{
    (void)state;
    size_t n = sizeof expected_codes / sizeof expected_codes[0];
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(cv_strerror(expected_codes[i].code), expected_codes[i].text);
        assert_int_equal(cv_error_http_status(expected_codes[i].code), expected_codes[i].http);
    }
    assert_int_equal(CV_ENOTFOUND, -5);
    assert_int_equal(cv_error_http_status(CV_ENOTFOUND), 404);
    assert_int_equal(cv_error_http_status(CV_ETOOBIG), 413);
}

static void test_every_table_code_is_known(void **state)
{
    (void)state;
    size_t count = 0;
#define CHECK_CODE(name, value, text, http)                      \
    assert_int_equal(name, -(value));                            \
    assert_string_equal(cv_strerror(name), text);                \
    assert_string_not_equal(cv_strerror(name), "unknown error"); \
    assert_int_equal(cv_error_http_status(name), http);          \
    count++;
    CV_ERROR_TABLE(CHECK_CODE)
#undef CHECK_CODE
    /* the hand-written table above covers the whole X-macro */
    assert_int_equal(count + 1, sizeof expected_codes / sizeof expected_codes[0]);
}

static void test_unknown_code(void **state)
{
    (void)state;
    assert_string_equal(cv_strerror(-9999), "unknown error");
    assert_int_equal(cv_error_http_status(-9999), 500);
    assert_string_equal(cv_strerror(1), "unknown error");
}

static void test_setf_and_format(void **state)
{
    (void)state;
    struct cv_err err;
    char buf[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX];

    assert_int_equal(cv_err_setf(&err, CV_ENOTFOUND, "job %s not found", "web"), CV_ENOTFOUND);
    assert_int_equal(err.code, CV_ENOTFOUND);
    assert_string_equal(err.path, "");
    assert_string_equal(err.msg, "job web not found");
    assert_string_equal(cv_err_format(&err, buf, sizeof buf), "job web not found");

    assert_int_equal(
        cv_err_set_pathf(&err, CV_EVALIDATE, "TaskGroups[0].Count", "must be >= %d", 0),
        CV_EVALIDATE);
    assert_string_equal(err.path, "TaskGroups[0].Count");
    assert_string_equal(cv_err_format(&err, buf, sizeof buf), "TaskGroups[0].Count: must be >= 0");

    /* setf after set_pathf clears the path */
    cv_err_setf(&err, CV_EIO, "disk");
    assert_string_equal(err.path, "");

    /* a NULL path is an empty one */
    cv_err_set_pathf(&err, CV_EINVAL, NULL, "x");
    assert_string_equal(err.path, "");

    /* format into a small buffer is cut and terminated */
    cv_err_set_pathf(&err, CV_EINVAL, "abc", "defghij");
    char small[6];
    assert_string_equal(cv_err_format(&err, small, sizeof small), "abc: ");

    cv_err_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.msg, "");
    assert_string_equal(err.path, "");
}

static void test_null_err_returns_code(void **state)
{
    (void)state;
    assert_int_equal(cv_err_setf(NULL, CV_EIO, "x"), CV_EIO);
    assert_int_equal(cv_err_set_pathf(NULL, CV_EEXIST, "p", "x"), CV_EEXIST);
    cv_err_clear(NULL);
}

static void test_wrapf(void **state)
{
    (void)state;
    struct cv_err err;
    cv_err_set_pathf(&err, CV_EIO, "Seg", "short read");
    assert_int_equal(cv_err_wrapf(&err, "load segment %u", 3u), CV_EIO);
    assert_string_equal(err.msg, "load segment 3: short read");
    assert_string_equal(err.path, "Seg");
    assert_int_equal(err.code, CV_EIO);
    cv_err_wrapf(&err, "open log");
    assert_string_equal(err.msg, "open log: load segment 3: short read");
}

static void test_wrapf_truncates_long_messages(void **state)
{
    (void)state;
    struct cv_err err;
    char longmsg[CV_ERR_MSG_MAX];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    cv_err_setf(&err, CV_EPARSE, "%s", longmsg);
    assert_int_equal(strlen(err.msg), CV_ERR_MSG_MAX - 1);

    cv_err_wrapf(&err, "ctx");
    assert_int_equal(strlen(err.msg), CV_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg, "ctx: mmm", 8);
    assert_int_equal(err.code, CV_EPARSE);

    /* a context longer than the whole message also stays terminated */
    char longctx[2 * CV_ERR_MSG_MAX];
    memset(longctx, 'c', sizeof longctx - 1);
    longctx[sizeof longctx - 1] = '\0';
    cv_err_wrapf(&err, "%s", longctx);
    assert_int_equal(strlen(err.msg), CV_ERR_MSG_MAX - 1);
    assert_int_equal(err.msg[0], 'c');
    assert_int_equal(err.msg[CV_ERR_MSG_MAX - 2], 'c');
}

static void test_path_join(void **state)
{
    (void)state;
    char out[CV_ERR_PATH_MAX];
    cv_path_join(out, "TaskGroups[0]", "Name");
    assert_string_equal(out, "TaskGroups[0].Name");
    cv_path_join(out, "", "Name");
    assert_string_equal(out, "Name");
    cv_path_join(out, "TaskGroups[0]", "");
    assert_string_equal(out, "TaskGroups[0]");
    cv_path_join(out, "", "");
    assert_string_equal(out, "");

    cv_path_index(out, "TaskGroups[0]", "Tasks", 2);
    assert_string_equal(out, "TaskGroups[0].Tasks[2]");
    cv_path_index(out, "", "Tasks", 0);
    assert_string_equal(out, "Tasks[0]");
    cv_path_index(out, "Tasks", "", 7);
    assert_string_equal(out, "Tasks[7]");
    cv_path_index(out, "", "", 12345);
    assert_string_equal(out, "[12345]");
}

static void test_path_truncation(void **state)
{
    (void)state;
    char prefix[CV_ERR_PATH_MAX + 50];
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    char out[CV_ERR_PATH_MAX];

    cv_path_join(out, prefix, "Name");
    assert_int_equal(strlen(out), CV_ERR_PATH_MAX - 1);
    assert_int_equal(out[0], 'p');

    cv_path_index(out, prefix, "Tasks", 3);
    assert_int_equal(strlen(out), CV_ERR_PATH_MAX - 1);

    /* exactly at the limit: the last character survives */
    char fit[CV_ERR_PATH_MAX];
    memset(fit, 'f', CV_ERR_PATH_MAX - 3);
    fit[CV_ERR_PATH_MAX - 3] = '\0';
    cv_path_join(out, fit, "X"); /* 253 + "." + "X" = 255 */
    assert_int_equal(strlen(out), CV_ERR_PATH_MAX - 1);
    assert_int_equal(out[CV_ERR_PATH_MAX - 2], 'X');
}

static void test_errlist(void **state)
{
    (void)state;
    struct cv_errlist list;
    cv_errlist_init(&list);
    assert_int_equal(list.len, 0);
    assert_null(list.items);

    cv_errlist_addf(&list, "Job.Name", "must not be empty");
    cv_errlist_addf(&list, "", "whole input: %d problems", 2);
    cv_errlist_addf(&list, NULL, "null path");
    for (int i = 0; i < 40; i++) { /* grows past several capacities */
        cv_errlist_addf(&list, "Items", "error %d", i);
    }
    assert_int_equal(list.len, 43);

    char buf[128];
    assert_string_equal(cv_errlist_format(&list, 0, buf, sizeof buf),
                        "Job.Name: must not be empty");
    assert_string_equal(cv_errlist_format(&list, 1, buf, sizeof buf), "whole input: 2 problems");
    assert_string_equal(list.items[2].path, "");
    assert_string_equal(cv_errlist_format(&list, 2, buf, sizeof buf), "null path");
    assert_string_equal(cv_errlist_format(&list, 42, buf, sizeof buf), "Items: error 39");
    assert_string_equal(list.items[3].msg, "error 0");

    char tiny[5];
    assert_string_equal(cv_errlist_format(&list, 0, tiny, sizeof tiny), "Job.");

    cv_errlist_free(&list);
    assert_int_equal(list.len, 0);
    assert_null(list.items);
    /* freeing twice is harmless: free leaves an empty list */
    cv_errlist_free(&list);
}

static void test_errlist_truncate(void **state)
{
    (void)state;
    struct cv_errlist list;
    cv_errlist_init(&list);
    for (int i = 0; i < 10; i++) {
        cv_errlist_addf(&list, "P", "e%d", i);
    }
    cv_errlist_truncate(&list, 10); /* nothing to drop */
    assert_int_equal(list.len, 10);
    cv_errlist_truncate(&list, 20);
    assert_int_equal(list.len, 10);

    cv_errlist_truncate(&list, 7);
    char buf[64];
    assert_int_equal(list.len, 8);
    assert_string_equal(cv_errlist_format(&list, 6, buf, sizeof buf), "P: e6");
    assert_string_equal(cv_errlist_format(&list, 7, buf, sizeof buf), "... and 3 more errors");
    cv_errlist_free(&list);

    cv_errlist_init(&list);
    cv_errlist_addf(&list, "a", "x");
    cv_errlist_addf(&list, "b", "y");
    cv_errlist_truncate(&list, 1);
    assert_int_equal(list.len, 2);
    assert_string_equal(cv_errlist_format(&list, 1, buf, sizeof buf), "... and 1 more error");
    cv_errlist_free(&list);

    cv_errlist_init(&list);
    cv_errlist_addf(&list, "a", "x");
    cv_errlist_truncate(&list, 0);
    assert_int_equal(list.len, 1);
    assert_string_equal(cv_errlist_format(&list, 0, buf, sizeof buf), "... and 1 more error");
    cv_errlist_free(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_strerror_and_http_status),
        CV_TEST(test_every_table_code_is_known),
        CV_TEST(test_unknown_code),
        CV_TEST(test_setf_and_format),
        CV_TEST(test_null_err_returns_code),
        CV_TEST(test_wrapf),
        CV_TEST(test_wrapf_truncates_long_messages),
        CV_TEST(test_path_join),
        CV_TEST(test_path_truncation),
        CV_TEST(test_errlist),
        CV_TEST(test_errlist_truncate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
