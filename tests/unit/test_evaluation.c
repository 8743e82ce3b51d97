/*
 * test_evaluation: the Evaluation model through its public face: an
 * evaluation as Nomad's API shows it (with failed task group metrics, class
 * eligibility and queued allocations) decodes; encoding round-trips byte
 * for byte; copies are deep; validation, type, unknown-field and vocabulary
 * errors carry exact paths and messages.
 *
 * JSON in this file is written with single quotes, turned into double
 * quotes by cv_test_quotes(), so that it stays readable.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/evaluation.h"
#include "common/mem.h"

#define EVAL_ID    "8a0c6b3c-7f09-4a6f-b1a2-2f2d8a6a9b01"
#define BLOCKED_ID "3e5d2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0"
#define NODE_ID    "f7476465-4d6e-c0de-26d0-e383c49be941"

static struct cv_evaluation *parse_ok(const char *single_quoted)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *obj = NULL;
    int rc = cv_eval_parse(text, strlen(text), &obj, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    cv_free(text);
    assert_int_equal(rc, 0);
    assert_non_null(obj);
    return obj;
}

static void expect_errors(const char *single_quoted, const char *const *expected, size_t n)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *obj = NULL;
    int rc = cv_eval_parse(text, strlen(text), &obj, &errs);
    cv_free(text);
    bool same = cv_test_errors_are(rc, &errs, expected, n) && !obj;
    cv_errlist_free(&errs);
    cv_eval_free(obj);
    assert_true(same);
}

#define EXPECT_ERRORS(text, ...)                                              \
    do {                                                                      \
        const char *const expected_[] = {__VA_ARGS__};                        \
        expect_errors(text, expected_, sizeof expected_ / sizeof *expected_); \
    } while (0)

#define BASE_NO_STATUS                                      \
    "'ID': '" EVAL_ID                                       \
    "', 'Priority': 50, 'Type': 'service', 'JobID': 'web'," \
    " 'TriggeredBy': 'job-register'"

/* What `nomad eval status -json` prints for a placement that failed. */
static const char NOMAD_EVAL[] =
    "{'ID': '" EVAL_ID
    "', 'Namespace': 'default', 'Priority': 50, 'Type': 'service',"
    " 'TriggeredBy': 'job-register', 'JobID': 'web', 'JobModifyIndex': 12,"
    " 'NodeID': '', 'NodeModifyIndex': 0, 'DeploymentID': '', 'Status': 'complete',"
    " 'StatusDescription': '', 'Wait': 0, 'WaitUntil': '0001-01-01T00:00:00Z',"
    " 'NextEval': '', 'PreviousEval': '', 'BlockedEval': '" BLOCKED_ID
    "', 'RelatedEvals': null,"
    " 'FailedTGAllocs': {'frontend': {'NodesEvaluated': 3, 'NodesFiltered': 3,"
    "   'NodesInPool': 3, 'NodePool': 'default', 'NodesAvailable': {'dc1': 3},"
    "   'ClassFiltered': null, 'ConstraintFiltered': {'${attr.kernel.name} = windows': 3},"
    "   'NodesExhausted': 0, 'ClassExhausted': null, 'DimensionExhausted': null,"
    "   'QuotaExhausted': null, 'ResourcesExhausted': null, 'Scores': null,"
    "   'ScoreMetaData': null, 'AllocationTime': 52000, 'CoalescedFailures': 2},"
    "  'backend': null},"
    " 'PlanAnnotations': null, 'ClassEligibility': {'v1:456': true, 'v1:123': false},"
    " 'EscapedComputedClass': false, 'QuotaLimitReached': '',"
    " 'MissingNonNodeResources': null, 'AnnotatePlan': false,"
    " 'QueuedAllocations': {'frontend': 3, 'backend': 0}, 'SnapshotIndex': 14,"
    " 'CreateIndex': 13, 'ModifyIndex': 16, 'CreateTime': 1717171799000000000,"
    " 'ModifyTime': 1717171800000000000}";

static void test_decode_nomad_eval(void **state)
{
    (void)state;
    struct cv_evaluation *e = parse_ok(NOMAD_EVAL);
    assert_string_equal(e->id, EVAL_ID);
    assert_i64_equal(e->priority, 50);
    assert_string_equal(e->type, "service");
    assert_string_equal(e->triggered_by, CV_EVAL_TRIGGER_JOB_REGISTER);
    assert_u64_equal(e->job_modify_index, 12);
    assert_string_equal(e->status, CV_EVAL_STATUS_COMPLETE);
    assert_string_equal(e->wait_until, "0001-01-01T00:00:00Z");
    assert_string_equal(e->blocked_eval, BLOCKED_ID);

    /* Sorted by task group; a null metric stays at its zero value. */
    assert_int_equal(e->failed_tg_allocs.len, 2);
    assert_string_equal(e->failed_tg_allocs.items[0].key, "backend");
    assert_i64_equal(e->failed_tg_allocs.items[0].metric.nodes_evaluated, 0);
    assert_string_equal(e->failed_tg_allocs.items[0].metric.node_pool, "");
    const struct cv_alloc_metric *m = &e->failed_tg_allocs.items[1].metric;
    assert_string_equal(e->failed_tg_allocs.items[1].key, "frontend");
    assert_i64_equal(m->nodes_filtered, 3);
    assert_i64_equal(cv_intmap_get(&m->constraint_filtered, "${attr.kernel.name} = windows", 0), 3);
    assert_i64_equal(m->coalesced_failures, 2);

    assert_int_equal(e->class_eligibility.len, 2);
    assert_string_equal(e->class_eligibility.items[0].key, "v1:123");
    assert_false(e->class_eligibility.items[0].value);
    assert_true(e->class_eligibility.items[1].value);
    assert_i64_equal(cv_intmap_get(&e->queued_allocations, "frontend", -1), 3);
    assert_i64_equal(cv_intmap_get(&e->queued_allocations, "backend", -1), 0);
    assert_u64_equal(e->snapshot_index, 14);
    assert_i64_equal(e->modify_time, 1717171800000000000);
    assert_true(cv_eval_terminal(e->status));
    cv_eval_free(e);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cv_evaluation *e = parse_ok("{" BASE_NO_STATUS "}");
    assert_string_equal(e->namespace, "default");
    assert_string_equal(e->status, CV_EVAL_STATUS_PENDING);
    assert_false(cv_eval_terminal(e->status));
    cv_eval_free(e);

    e = cv_eval_new();
    assert_string_equal(e->status, CV_EVAL_STATUS_PENDING);
    assert_string_equal(e->id, "");
    cv_eval_free(e);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cv_evaluation *e = parse_ok(NOMAD_EVAL);
    char *first = cv_eval_to_json(e, false);
    assert_non_null(first);
    assert_null(strstr(first, "\"RelatedEvals\""));
    assert_non_null(strstr(first, "\"ClassEligibility\":{\"v1:123\":false,\"v1:456\":true}"));
    assert_non_null(strstr(first, "\"QueuedAllocations\":{\"backend\":0,\"frontend\":3}"));

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *again = NULL;
    int rc = cv_eval_parse(first, strlen(first), &again, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    assert_true(cv_eval_equal(e, again));
    char *second = cv_eval_to_json(again, false);
    assert_string_equal(first, second);

    cv_free(first);
    cv_free(second);
    cv_eval_free(again);
    cv_eval_free(e);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct cv_evaluation *e = parse_ok(NOMAD_EVAL);
    struct cv_evaluation *c = cv_eval_copy(e);
    assert_true(cv_eval_equal(e, c));
    assert_ptr_not_equal(c->failed_tg_allocs.items, e->failed_tg_allocs.items);
    assert_ptr_not_equal(c->failed_tg_allocs.items[1].key, e->failed_tg_allocs.items[1].key);
    assert_ptr_not_equal(c->failed_tg_allocs.items[1].metric.nodes_available.items,
                         e->failed_tg_allocs.items[1].metric.nodes_available.items);
    assert_ptr_not_equal(c->class_eligibility.items, e->class_eligibility.items);

    c->class_eligibility.items[0].value = true;
    assert_false(cv_eval_equal(e, c));
    assert_false(e->class_eligibility.items[0].value);
    c->class_eligibility.items[0].value = false;
    assert_true(cv_eval_equal(e, c));
    cv_intmap_set(&c->failed_tg_allocs.items[1].metric.class_exhausted, "large", 2);
    assert_false(cv_eval_equal(e, c));
    assert_int_equal(e->failed_tg_allocs.items[1].metric.class_exhausted.len, 0);

    cv_eval_free(c);
    cv_eval_free(e);
}

static void test_required_and_ids(void **state)
{
    (void)state;
    EXPECT_ERRORS("{}", "ID: is required", "Priority: must be between 1 and 32767, got 0",
                  "Type: is required", "TriggeredBy: is required", "JobID: is required");
    EXPECT_ERRORS(
        "{'ID': 'e1', 'Priority': 32768, 'Type': 'service', 'JobID': 'web',"
        " 'TriggeredBy': 'node-update', 'NodeID': 'n1', 'DeploymentID': 'd1',"
        " 'NextEval': 'x', 'PreviousEval': '" EVAL_ID "', 'BlockedEval': 'y'}",
        "ID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"e1\"",
        "Priority: must be between 1 and 32767, got 32768",
        "NodeID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"n1\"",
        "DeploymentID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"d1\"",
        "NextEval: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"x\"",
        "BlockedEval: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"y\"");
}

static void test_vocabularies(void **state)
{
    (void)state;
    EXPECT_ERRORS("{'ID': '" EVAL_ID
                  "', 'Priority': 50, 'Type': 'batchy', 'JobID': 'web',"
                  " 'TriggeredBy': 'job-registered', 'Status': 'cancelled'}",
                  "Type: must be one of service, batch, system, sysbatch, _core; got \"batchy\"",
                  "TriggeredBy: must be one of job-register, job-deregister, periodic-job, "
                  "node-drain, node-update, alloc-stop, scheduled, rolling-update, "
                  "deployment-watcher, failed-follow-up, max-plan-attempts, alloc-failure, "
                  "queued-allocs, preemption, job-scaling, max-disconnect-timeout, reconnect, "
                  "alloc-reschedule; got \"job-registered\"",
                  "Status: must be one of blocked, pending, complete, failed, canceled; got "
                  "\"cancelled\"");
    /* The core scheduler's evaluations pass. */
    struct cv_evaluation *e = parse_ok("{'ID': '" EVAL_ID
                                       "', 'Priority': 32767, 'Type': '_core',"
                                       " 'JobID': 'eval-gc', 'TriggeredBy': 'scheduled',"
                                       " 'Status': 'blocked'}");
    assert_string_equal(e->type, CV_EVAL_TYPE_CORE);
    cv_eval_free(e);
    assert_true(cv_eval_terminal(CV_EVAL_STATUS_FAILED));
    assert_true(cv_eval_terminal(CV_EVAL_STATUS_CANCELED));
    assert_false(cv_eval_terminal(CV_EVAL_STATUS_BLOCKED));
}

static void test_wait_and_queues(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE_NO_STATUS
                  ", 'Wait': -1, 'WaitUntil': '2024-05-31',"
                  " 'QueuedAllocations': {'web': -2}}",
                  "Wait: must not be negative, got -1",
                  "WaitUntil: must be an RFC 3339 time, got \"2024-05-31\"",
                  "QueuedAllocations.web: must not be negative, got -2");
}

static void test_wrong_types(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE_NO_STATUS
                  ", 'Wait': '5s', 'ClassEligibility': {'v1:1': 'yes'},"
                  " 'FailedTGAllocs': {'g': 3, 'h': {'NodesAvailable': []}},"
                  " 'QueuedAllocations': {'web': 1.5}, 'SnapshotIndex': true}",
                  "Wait: must be an integer, got string",
                  "ClassEligibility.v1:1: must be a boolean, got string",
                  "FailedTGAllocs.g: must be an object, got number",
                  "FailedTGAllocs.h.NodesAvailable: must be an object, got array",
                  "QueuedAllocations.web: must be an integer, got 1.5",
                  "SnapshotIndex: must be a non-negative integer, got boolean");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE_NO_STATUS
                  ", 'LeaderACL': 'x', 'jobID': 'web2',"
                  " 'FailedTGAllocs': {'g': {'NodesEvaluted': 1}}}",
                  "LeaderACL: unknown field in Evaluation",
                  "jobID: unknown field (did you mean \"JobID\"?)",
                  "FailedTGAllocs.g.NodesEvaluted: unknown field in AllocationMetric");
}

static void test_not_an_object(void **state)
{
    (void)state;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *e = NULL;
    assert_int_equal(cv_eval_parse("null", 4, &e, &errs), CV_EVALIDATE);
    assert_null(e);
    assert_int_equal(errs.len, 1);
    assert_string_equal(errs.items[0].msg, "an evaluation must be a JSON object, got null");
    cv_errlist_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_decode_nomad_eval), CV_TEST(test_defaults),
        CV_TEST(test_round_trip),        CV_TEST(test_copy_is_deep),
        CV_TEST(test_required_and_ids),  CV_TEST(test_vocabularies),
        CV_TEST(test_wait_and_queues),   CV_TEST(test_wrong_types),
        CV_TEST(test_unknown_fields),    CV_TEST(test_not_an_object),
    };
    return cmocka_run_group_tests_name("evaluation", tests, NULL, NULL);
}
