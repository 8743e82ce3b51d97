/*
 * test_job: the job model through its public face, cv_job_parse: Nomad's
 * defaults per job type, merging of job-level policies into groups and of
 * group restart policies into tasks, idempotent canonicalization, copy and
 * equality, and that one answer lists every problem.
 */
#include "testutil.h"

#include <string.h>

#include "common/clock.h"
#include "common/job.h"
#include "common/mem.h"

#define SEC(n) ((int64_t)(n)*CV_NSEC_PER_SEC)

/* Parses text that must be a valid job. */
static struct cv_job *parse_ok(const char *text)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    int rc = cv_job_parse(text, strlen(text), &job, &errs);
    if (rc != 0) {
        char line[1024];
        for (size_t i = 0; i < errs.len; i++) {
            print_error("%s\n", cv_errlist_format(&errs, i, line, sizeof line));
        }
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    assert_non_null(job);
    return job;
}

#define MINIMAL(type)                         \
    "{\"ID\": \"j\", \"Type\": \"" type       \
    "\", \"TaskGroups\": [{\"Name\": \"g\", " \
    "\"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\"}]}]}"

static void test_service_defaults(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("service"));
    assert_string_equal(job->name, "j");
    assert_string_equal(job->region, "global");
    assert_string_equal(job->namespace, "default");
    assert_string_equal(job->node_pool, "default");
    assert_i64_equal(job->priority, 50);
    assert_int_equal(job->datacenters.len, 1);
    assert_string_equal(job->datacenters.items[0], "*");
    assert_non_null(job->update);
    assert_i64_equal(job->update->stagger, SEC(30));
    assert_i64_equal(job->update->max_parallel, 1);
    assert_string_equal(job->update->health_check, "checks");
    assert_i64_equal(job->update->min_healthy_time, SEC(10));
    assert_i64_equal(job->update->healthy_deadline, SEC(300));
    assert_i64_equal(job->update->progress_deadline, SEC(600));

    const struct cv_task_group *g = &job->task_groups.items[0];
    assert_i64_equal(g->count, 1);
    assert_i64_equal(g->ephemeral_disk->size_mb, 300);
    assert_i64_equal(g->restart_policy->attempts, 2);
    assert_i64_equal(g->restart_policy->interval, SEC(1800));
    assert_i64_equal(g->restart_policy->delay, SEC(15));
    assert_string_equal(g->restart_policy->mode, "fail");
    assert_non_null(g->reschedule_policy);
    assert_i64_equal(g->reschedule_policy->delay, SEC(30));
    assert_string_equal(g->reschedule_policy->delay_function, "exponential");
    assert_i64_equal(g->reschedule_policy->max_delay, SEC(3600));
    assert_true(g->reschedule_policy->unlimited);
    assert_non_null(g->update);
    assert_non_null(g->migrate);
    assert_i64_equal(g->migrate->max_parallel, 1);
    assert_i64_equal(g->migrate->healthy_deadline, SEC(300));

    const struct cv_task *t = &g->tasks.items[0];
    assert_i64_equal(t->resources->cpu, 100);
    assert_i64_equal(t->resources->cores, 0);
    assert_i64_equal(t->resources->memory_mb, 300);
    assert_i64_equal(t->kill_timeout, SEC(5));
    assert_i64_equal(t->log_config->max_files, 10);
    assert_i64_equal(t->log_config->max_file_size_mb, 10);
    assert_true(cv_equal(&cv_task_group_schema, g, g));
    assert_i64_equal(t->restart_policy->attempts, 2);
    cv_job_free(job);
}

static void test_batch_defaults(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("batch"));
    const struct cv_task_group *g = &job->task_groups.items[0];
    assert_null(job->update);
    assert_null(g->update);
    assert_null(g->migrate);
    assert_i64_equal(g->restart_policy->attempts, 3);
    assert_i64_equal(g->restart_policy->interval, SEC(86400));
    assert_i64_equal(g->reschedule_policy->attempts, 1);
    assert_i64_equal(g->reschedule_policy->interval, SEC(86400));
    assert_i64_equal(g->reschedule_policy->delay, SEC(5));
    assert_string_equal(g->reschedule_policy->delay_function, "constant");
    assert_false(g->reschedule_policy->unlimited);
    cv_job_free(job);
}

static void test_system_and_sysbatch_defaults(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("system"));
    const struct cv_task_group *g = &job->task_groups.items[0];
    assert_non_null(job->update);
    assert_null(g->reschedule_policy);
    assert_null(g->migrate);
    assert_i64_equal(g->restart_policy->attempts, 2);
    cv_job_free(job);

    job = parse_ok(MINIMAL("sysbatch"));
    g = &job->task_groups.items[0];
    assert_null(job->update);
    assert_null(g->reschedule_policy);
    assert_i64_equal(g->restart_policy->attempts, 3);
    cv_job_free(job);
}

static void test_cores_leave_cpu_zero(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(
        "{\"ID\": \"j\", \"TaskGroups\": [{\"Name\": \"g\", \"Tasks\": [{\"Name\": \"t\", "
        "\"Driver\": \"raw_exec\", \"Resources\": {\"Cores\": 2}}]}]}");
    const struct cv_resources *r = job->task_groups.items[0].tasks.items[0].resources;
    assert_i64_equal(r->cores, 2);
    assert_i64_equal(r->cpu, 0);
    assert_i64_equal(r->memory_mb, 300);
    cv_job_free(job);
}

static void test_policies_merge_down(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(
        "{\"ID\": \"j\", \"Update\": {\"MaxParallel\": 4, \"Stagger\": 5000000000},"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Update\": {\"MaxParallel\": 2},"
        " \"RestartPolicy\": {\"Attempts\": 7},"
        " \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\","
        "              \"RestartPolicy\": {\"Delay\": 1000000000}}]}]}");
    const struct cv_task_group *g = &job->task_groups.items[0];
    assert_i64_equal(g->update->max_parallel, 2);           /* the group's own */
    assert_i64_equal(g->update->stagger, SEC(5));           /* from the job */
    assert_i64_equal(g->update->min_healthy_time, SEC(10)); /* default */
    assert_i64_equal(g->restart_policy->attempts, 7);
    assert_i64_equal(g->restart_policy->delay, SEC(15));
    const struct cv_task *t = &g->tasks.items[0];
    assert_i64_equal(t->restart_policy->attempts, 7); /* from the group */
    assert_i64_equal(t->restart_policy->delay, SEC(1));
    cv_job_free(job);
}

/* An explicit false lower down overrides a true higher up, and an absent
 * bool takes the default, as with Nomad's pointer fields. */
static void test_bools_merge_as_three_states(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(
        "{\"ID\": \"j\", \"Update\": {\"AutoRevert\": true},"
        " \"Reschedule\": {\"Unlimited\": true},"
        " \"TaskGroups\": ["
        "  {\"Name\": \"a\", \"Update\": {\"AutoRevert\": false},"
        "   \"ReschedulePolicy\": {\"Attempts\": 3, \"Interval\": 3600000000000,"
        "                        \"Unlimited\": false},"
        "   \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\"}]},"
        "  {\"Name\": \"b\", \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\"}]}]}");
    const struct cv_task_group *a = &job->task_groups.items[0];
    const struct cv_task_group *b = &job->task_groups.items[1];
    assert_int_equal(a->update->auto_revert, 0);
    assert_int_equal(a->reschedule_policy->unlimited, 0);
    assert_i64_equal(a->reschedule_policy->attempts, 3);
    assert_int_equal(b->update->auto_revert, 1);
    assert_int_equal(b->update->auto_promote, 0);
    assert_int_equal(b->reschedule_policy->unlimited, 1);
    cv_job_free(job);

    /* a partial policy on a service job keeps unlimited rescheduling */
    job = parse_ok(
        "{\"ID\": \"j\", \"TaskGroups\": [{\"Name\": \"g\","
        " \"ReschedulePolicy\": {\"Delay\": 60000000000},"
        " \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\"}]}]}");
    const struct cv_reschedule_policy *p = job->task_groups.items[0].reschedule_policy;
    assert_int_equal(p->unlimited, 1);
    assert_i64_equal(p->delay, SEC(60));
    assert_string_equal(p->delay_function, "exponential");
    cv_job_free(job);
}

static void test_canonicalize_is_idempotent(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("service"));
    struct cv_job *copy = cv_job_copy(job);
    cv_job_canonicalize(copy);
    assert_true(cv_job_equal(job, copy));
    cv_job_free(copy);
    cv_job_free(job);
}

static void test_wrapper_and_bare_job_are_the_same(void **state)
{
    (void)state;
    struct cv_job *bare = parse_ok(MINIMAL("batch"));
    struct cv_job *wrapped = parse_ok("{\"Job\": " MINIMAL("batch") "}");
    assert_true(cv_job_equal(bare, wrapped));
    cv_job_free(bare);
    cv_job_free(wrapped);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("service"));
    struct cv_job *copy = cv_job_copy(job);
    assert_true(cv_job_equal(job, copy));
    cv_set_string(&copy->task_groups.items[0].tasks.items[0].name, "other");
    copy->task_groups.items[0].count = 9;
    assert_false(cv_job_equal(job, copy));
    assert_string_equal(job->task_groups.items[0].tasks.items[0].name, "t");
    assert_i64_equal(job->task_groups.items[0].count, 1);
    cv_job_free(copy);
    cv_job_free(job);
}

/* One answer lists the decoding errors and the rule violations together. */
static void test_every_problem_is_reported(void **state)
{
    (void)state;
    const char *text =
        "{\"ID\": \"a b\", \"Priority\": \"high\", \"Colour\": 1,"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": -2, \"Tasks\": []}]}";
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    assert_int_equal(cv_job_parse(text, strlen(text), &job, &errs), CV_EVALIDATE);
    assert_null(job);
    const char *expected[] = {
        "Priority: must be an integer, got string",
        "Colour: unknown field in Job",
        "ID: must not contain a space",
        "TaskGroups[0].Count: must not be negative, got -2",
        "TaskGroups[0].Tasks: must have at least one task",
    };
    assert_int_equal(errs.len, sizeof expected / sizeof expected[0]);
    char line[1024];
    for (size_t i = 0; i < errs.len; i++) {
        assert_string_equal(cv_errlist_format(&errs, i, line, sizeof line), expected[i]);
    }
    cv_errlist_free(&errs);
}

static void test_not_an_object(void **state)
{
    (void)state;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    assert_int_equal(cv_job_parse("[1]", 3, &job, &errs), CV_EVALIDATE);
    assert_int_equal(errs.len, 1);
    assert_string_equal(errs.items[0].msg, "a job must be a JSON object, got array");
    cv_errlist_free(&errs);

    cv_errlist_init(&errs);
    assert_int_equal(cv_job_parse("{", 1, &job, &errs), CV_EPARSE);
    assert_int_equal(errs.len, 1);
    assert_non_null(strstr(errs.items[0].msg, "premature EOF"));
    cv_errlist_free(&errs);
}

static void test_encoding_has_nomad_shape(void **state)
{
    (void)state;
    struct cv_job *job = parse_ok(MINIMAL("batch"));
    char *json = cv_job_to_json(job, false);
    assert_non_null(strstr(json, "\"ID\":\"j\""));
    assert_non_null(strstr(json, "\"Priority\":50"));
    assert_non_null(strstr(json, "\"KillTimeout\":5000000000"));
    assert_non_null(strstr(json, "\"Update\":null"));
    assert_null(strstr(json, "Vault")); /* unsupported fields are not written */
    cv_free(json);
    cv_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_service_defaults),
        CV_TEST(test_batch_defaults),
        CV_TEST(test_system_and_sysbatch_defaults),
        CV_TEST(test_cores_leave_cpu_zero),
        CV_TEST(test_policies_merge_down),
        CV_TEST(test_bools_merge_as_three_states),
        CV_TEST(test_canonicalize_is_idempotent),
        CV_TEST(test_wrapper_and_bare_job_are_the_same),
        CV_TEST(test_copy_is_deep),
        CV_TEST(test_every_problem_is_reported),
        CV_TEST(test_not_an_object),
        CV_TEST(test_encoding_has_nomad_shape),
    };
    return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
