/*
 * test_job_corpus: runs the job decoding corpus in tests/corpus.
 *
 * Each valid/ file must parse, and survive the round trip: encoding the job,
 * parsing the encoding and encoding again gives an equal job and the same
 * bytes (canonicalization is idempotent, encoding deterministic).
 * Each invalid/NAME.json must fail with exactly the lines of invalid/NAME.err,
 * the same lines `caravan job validate` prints on stderr.
 *
 * The directories are listed at run time, so a file added to the corpus is
 * tested without touching this program; the minimum counts make an empty
 * or missing directory a failure rather than a silent pass.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/job.h"
#include "common/mem.h"

#define MIN_VALID   8
#define MIN_INVALID 45

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the sorted names of the *.json files in tests/<dir>; *count gets
 * how many. Free with free_names(). */
static char **list_json(const char *dir, size_t *count)
{
    const char *root = getenv("CARAVAN_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root ? root : "tests", dir);
    DIR *d = opendir(path);
    if (!d) {
        print_error("cannot open directory %s\n", path);
        fail();
    }
    char **names = NULL;
    size_t len = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".json")) {
            continue;
        }
        names = cv_reallocarray(names, len + 1, sizeof *names);
        names[len++] = cv_strdup(e->d_name);
    }
    closedir(d);
    if (len) {
        qsort(names, len, sizeof *names, compare_names);
    }
    *count = len;
    return names;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cv_free(names[i]);
    }
    cv_free(names);
}

/* Parses text, expecting success; prints the errors when it fails. */
static struct cv_job *parse_ok(const char *what, const char *text, size_t len)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse(text, len, &job, &errs);
    if (rc != 0) {
        char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        print_error("%s: expected a valid job, got:\n", what);
        for (size_t i = 0; i < errs.len; i++) {
            print_error("  %s\n", cv_errlist_format(&errs, i, line, sizeof line));
        }
    }
    cv_errlist_free(&errs);
    return job;
}

/* Checks one valid file; returns false (after printing why) on failure.
 * Everything is freed before returning so the fixture's leak check holds. */
static bool check_valid(const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "corpus/valid/%s", name);
    size_t len = 0;
    char *text = cv_test_read_file(rel, &len);
    bool ok = false;
    char *first = NULL, *second = NULL;
    struct cv_job *reparsed = NULL;

    struct cv_job *job = parse_ok(rel, text, len);
    if (!job) {
        goto out;
    }
    first = cv_job_to_json(job, false);
    if (!first) {
        print_error("%s: cv_job_to_json failed\n", rel);
        goto out;
    }
    reparsed = parse_ok("the encoding of the job", first, strlen(first));
    if (!reparsed) {
        print_error("%s: its encoding does not parse back:\n%s\n", rel, first);
        goto out;
    }
    if (!cv_job_equal(job, reparsed)) {
        print_error("%s: the job parsed from its encoding differs from the original\n", rel);
        goto out;
    }
    second = cv_job_to_json(reparsed, false);
    if (!second || strcmp(first, second) != 0) {
        print_error("%s: encoding is not stable:\nfirst:  %s\nsecond: %s\n", rel, first,
                    second ? second : "(null)");
        goto out;
    }
    ok = true;
out:
    cv_free(second);
    cv_job_free(reparsed);
    cv_free(first);
    cv_job_free(job);
    cv_free(text);
    return ok;
}

/* Compares the formatted errors with the expected text, line by line. */
static bool errors_match(const char *rel, const struct cv_errlist *errs, const char *expected)
{
    struct cv_buf got = CV_BUF_INIT;
    char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
    for (size_t i = 0; i < errs->len; i++) {
        cv_buf_append_str(&got, cv_errlist_format(errs, i, line, sizeof line));
        cv_buf_append_char(&got, '\n');
    }
    bool same = strcmp(cv_buf_str(&got), expected) == 0;
    if (!same) {
        print_error("%s: errors differ\n--- expected\n%s--- got\n%s---\n", rel, expected,
                    cv_buf_str(&got));
    }
    cv_buf_free(&got);
    return same;
}

static bool check_invalid(const char *name)
{
    char rel[512], err_rel[512];
    snprintf(rel, sizeof rel, "corpus/invalid/%s", name);
    snprintf(err_rel, sizeof err_rel, "corpus/invalid/%.*s.err", (int)(strlen(name) - 5), name);
    size_t len = 0;
    char *text = cv_test_read_file(rel, &len);
    char *expected = cv_test_read_file(err_rel, NULL);

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse(text, len, &job, &errs);
    bool ok = true;
    if (rc == 0) {
        print_error("%s: expected an error, the job was accepted\n", rel);
        cv_job_free(job);
        ok = false;
    } else if (job) {
        print_error("%s: failed but returned a job\n", rel);
        ok = false;
    } else if (errs.len == 0) {
        print_error("%s: failed (%s) without an error message\n", rel, cv_strerror(rc));
        ok = false;
    } else {
        ok = errors_match(rel, &errs, expected);
    }
    cv_errlist_free(&errs);
    cv_free(expected);
    cv_free(text);
    return ok;
}

static void test_valid_corpus(void **state)
{
    (void)state;
    size_t count = 0;
    char **names = list_json("corpus/valid", &count);
    size_t failed = 0;
    for (size_t i = 0; i < count; i++) {
        failed += !check_valid(names[i]);
    }
    free_names(names, count);
    if (count < MIN_VALID) {
        print_error("found %zu valid corpus files, expected at least %d\n", count, MIN_VALID);
        fail();
    }
    assert_u64_equal(failed, 0);
}

static void test_invalid_corpus(void **state)
{
    (void)state;
    size_t count = 0;
    char **names = list_json("corpus/invalid", &count);
    size_t failed = 0;
    for (size_t i = 0; i < count; i++) {
        failed += !check_invalid(names[i]);
    }
    free_names(names, count);
    if (count < MIN_INVALID) {
        print_error("found %zu invalid corpus files, expected at least %d\n", count, MIN_INVALID);
        fail();
    }
    assert_u64_equal(failed, 0);
}

/* Every .err file has its .json: a renamed input must not leave a stale
 * expectation behind that nothing checks. */
static void test_invalid_corpus_is_paired(void **state)
{
    (void)state;
    const char *root = getenv("CARAVAN_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/invalid", root ? root : "tests");
    DIR *d = opendir(path);
    if (!d) {
        print_error("cannot open directory %s\n", path);
        fail();
    }
    size_t orphans = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".err")) {
            continue;
        }
        char json[4096 + 256];
        snprintf(json, sizeof json, "%s/%.*s.json", path, (int)(strlen(e->d_name) - 4), e->d_name);
        FILE *f = fopen(json, "rb");
        if (f) {
            fclose(f);
        } else {
            print_error("%s has no matching .json\n", e->d_name);
            orphans++;
        }
    }
    closedir(d);
    assert_u64_equal(orphans, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_valid_corpus),
        CV_TEST(test_invalid_corpus),
        CV_TEST(test_invalid_corpus_is_paired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
