/*
 * test_allocation: the Allocation model through its public face: an
 * allocation as Nomad's API shows it (with its job, resources, task states,
 * reschedule history and metrics) decodes; encoding round-trips byte for
 * byte; copies are deep; validation, type, unknown-field and vocabulary
 * errors carry exact paths and messages; the embedded job is checked too.
 *
 * JSON in this file is written with single quotes, turned into double
 * quotes by cv_test_quotes(), so that it stays readable.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"

#define ALLOC_ID "5f1ac0ab-0b3e-9b0f-2f4b-1fbd0e0c3c11"
#define EVAL_ID  "8a0c6b3c-7f09-4a6f-b1a2-2f2d8a6a9b01"
#define NODE_ID  "f7476465-4d6e-c0de-26d0-e383c49be941"
#define PREV_ID  "0b7d9e52-6c1a-4c3e-8d0e-9e2a1c4b5d66"

static struct cv_allocation *parse_ok(const char *single_quoted)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *obj = NULL;
    int rc = cv_alloc_parse(text, strlen(text), &obj, &errs);
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
    struct cv_allocation *obj = NULL;
    int rc = cv_alloc_parse(text, strlen(text), &obj, &errs);
    cv_free(text);
    bool same = cv_test_errors_are(rc, &errs, expected, n) && !obj;
    cv_errlist_free(&errs);
    cv_alloc_free(obj);
    assert_true(same);
}

#define EXPECT_ERRORS(text, ...)                                              \
    do {                                                                      \
        const char *const expected_[] = {__VA_ARGS__};                        \
        expect_errors(text, expected_, sizeof expected_ / sizeof *expected_); \
    } while (0)

/* The fields every valid allocation needs, for the error tests. */
#define BASE                                                             \
    "'ID': '" ALLOC_ID "', 'EvalID': '" EVAL_ID "', 'NodeID': '" NODE_ID \
    "', 'Name': 'web.frontend[0]', 'JobID': 'web', 'TaskGroup': 'frontend'"

/* What `nomad alloc status -json` prints, trimmed. */
static const char NOMAD_ALLOC[] =
    "{'ID': '" ALLOC_ID "', 'Namespace': 'default', 'EvalID': '" EVAL_ID
    "', 'Name': 'web.frontend[0]', 'NodeID': '" NODE_ID
    "', 'NodeName': 'client-1', 'JobID': 'web',"
    " 'Job': {'ID': 'web', 'Name': 'web', 'Type': 'service', 'Datacenters': ['dc1'],"
    "  'TaskGroups': [{'Name': 'frontend', 'Count': 1, 'Tasks': [{'Name': 'server',"
    "   'Driver': 'docker', 'Config': {'image': 'nginx:1.25'},"
    "   'Resources': {'CPU': 500, 'MemoryMB': 256}}]}],"
    "  'Status': 'running', 'Version': 2, 'CreateIndex': 10, 'ModifyIndex': 12,"
    "  'JobModifyIndex': 12},"
    " 'TaskGroup': 'frontend',"
    " 'Resources': {'CPU': 500, 'MemoryMB': 256, 'DiskMB': 300},"
    " 'TaskResources': {'server': {'CPU': 500, 'MemoryMB': 256}},"
    " 'AllocatedResources': {'Tasks': {'server': {'Cpu': {'CpuShares': 500},"
    "   'Memory': {'MemoryMB': 256, 'MemoryMaxMB': 512}, 'Networks': null, 'Devices': null}},"
    "  'Shared': {'DiskMB': 300, 'Networks': [{'Mode': 'host', 'IP': '10.0.0.5',"
    "    'DynamicPorts': [{'Label': 'http', 'Value': 23456, 'To': 8080,"
    "     'HostNetwork': 'default'}]}],"
    "   'Ports': [{'Label': 'http', 'Value': 23456, 'To': 8080, 'HostIP': '10.0.0.5'}]}},"
    " 'Services': null,"
    " 'Metrics': {'NodesEvaluated': 3, 'NodesFiltered': 1, 'NodesInPool': 3,"
    "  'NodePool': 'default', 'NodesAvailable': {'dc1': 3},"
    "  'ClassFiltered': {'small': 1}, 'ConstraintFiltered': {'${attr.kernel.name} = linux': 1},"
    "  'NodesExhausted': 0, 'ClassExhausted': null, 'DimensionExhausted': {},"
    "  'QuotaExhausted': null, 'ResourcesExhausted': null, 'Scores': null,"
    "  'ScoreMetaData': [{'NodeID': '" NODE_ID
    "', 'Scores': {'binpack': 0.5753, 'job-anti-affinity': 0},"
    "   'NormScore': 0.28765}],"
    "  'AllocationTime': 123456, 'CoalescedFailures': 0},"
    " 'DesiredStatus': 'run', 'DesiredDescription': '',"
    " 'DesiredTransition': {'Migrate': null, 'Reschedule': true, 'ForceReschedule': null,"
    "  'NoShutdownDelay': null, 'MigrateDisablePlacement': null},"
    " 'ClientStatus': 'running', 'ClientDescription': 'Tasks are running',"
    " 'TaskStates': {'server': {'State': 'running', 'Failed': false, 'Restarts': 1,"
    "   'LastRestart': '2024-05-31T16:10:00.5Z', 'StartedAt': '2024-05-31T16:10:01Z',"
    "   'FinishedAt': '0001-01-01T00:00:00Z',"
    "   'Events': [{'Type': 'Received', 'Time': 1717171800000000000,"
    "     'DisplayMessage': 'Task received by client', 'Details': {}, 'Message': '',"
    "     'FailsTask': false, 'ExitCode': 0, 'Signal': 0, 'KillTimeout': 0},"
    "    {'Type': 'Terminated', 'Time': 1717171900000000000,"
    "     'DisplayMessage': 'Exit Code: 137, Signal: 9',"
    "     'Details': {'exit_code': '137', 'signal': '9', 'oom_killed': 'true'},"
    "     'ExitCode': 137, 'Signal': 9, 'KillTimeout': 5000000000,"
    "     'GenericSource': ''}]}},"
    " 'DeploymentID': '', 'DeploymentStatus': {'Healthy': true, 'Canary': false},"
    " 'FollowupEvalID': '', 'PreviousAllocation': '" PREV_ID
    "', 'NextAllocation': '',"
    " 'RescheduleTracker': {'Events': [{'RescheduleTime': 1717171700000000000,"
    "   'PrevAllocID': '" PREV_ID "', 'PrevNodeID': '" NODE_ID
    "', 'Delay': 30000000000}],"
    "  'LastReschedule': 'ok'},"
    " 'NetworkStatus': null, 'PreemptedAllocations': null, 'PreemptedByAllocation': '',"
    " 'CreateIndex': 15, 'ModifyIndex': 20, 'AllocModifyIndex': 15,"
    " 'CreateTime': 1717171799000000000, 'ModifyTime': 1717171901000000000}";

static void test_decode_nomad_alloc(void **state)
{
    (void)state;
    struct cv_allocation *a = parse_ok(NOMAD_ALLOC);
    assert_string_equal(a->id, ALLOC_ID);
    assert_string_equal(a->eval_id, EVAL_ID);
    assert_string_equal(a->name, "web.frontend[0]");
    assert_string_equal(a->node_name, "client-1");
    assert_non_null(a->job);
    assert_string_equal(a->job->id, "web");
    assert_u64_equal(a->job->version, 2);
    /* The embedded job is canonicalized like a submitted one. */
    assert_i64_equal(a->job->priority, 50);
    assert_i64_equal(a->job->task_groups.items[0].tasks.items[0].resources->cpu, 500);

    const struct cv_allocated_resources *r = a->allocated_resources;
    assert_non_null(r);
    assert_int_equal(r->tasks.len, 1);
    assert_string_equal(r->tasks.items[0].key, "server");
    assert_i64_equal(r->tasks.items[0].cpu.cpu_shares, 500);
    assert_i64_equal(r->tasks.items[0].memory.memory_max_mb, 512);
    assert_i64_equal(r->shared.disk_mb, 300);
    assert_int_equal(r->shared.ports.len, 1);
    assert_string_equal(r->shared.ports.items[0].host_ip, "10.0.0.5");
    assert_i64_equal(r->shared.networks.items[0].dynamic_ports.items[0].to, 8080);

    const struct cv_alloc_metric *m = a->metrics;
    assert_non_null(m);
    assert_i64_equal(m->nodes_evaluated, 3);
    assert_i64_equal(cv_intmap_get(&m->nodes_available, "dc1", -1), 3);
    assert_i64_equal(cv_intmap_get(&m->constraint_filtered, "${attr.kernel.name} = linux", -1), 1);
    assert_i64_equal(cv_intmap_get(&m->class_exhausted, "x", -1), -1);
    assert_int_equal(m->score_meta_data.len, 1);
    assert_int_equal(m->score_meta_data.items[0].scores.len, 2);
    assert_string_equal(m->score_meta_data.items[0].scores.items[0].key, "binpack");
    assert_true(m->score_meta_data.items[0].scores.items[0].value == 0.5753);
    assert_true(m->score_meta_data.items[0].norm_score == 0.28765);
    assert_i64_equal(m->allocation_time, 123456);

    assert_string_equal(a->desired_status, CV_ALLOC_DESIRED_RUN);
    assert_true(a->desired_transition.reschedule);
    assert_false(a->desired_transition.migrate);
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_RUNNING);

    assert_int_equal(a->task_states.len, 1);
    const struct cv_task_state *ts = &a->task_states.items[0];
    assert_string_equal(ts->key, "server");
    assert_string_equal(ts->state, CV_TASK_STATE_RUNNING);
    assert_u64_equal(ts->restarts, 1);
    assert_string_equal(ts->finished_at, "0001-01-01T00:00:00Z");
    assert_int_equal(ts->events.len, 2);
    assert_string_equal(ts->events.items[1].type, "Terminated");
    assert_i64_equal(ts->events.items[1].time, 1717171900000000000);
    assert_i64_equal(ts->events.items[1].exit_code, 137);
    assert_i64_equal(ts->events.items[1].kill_timeout, 5000000000);
    assert_string_equal(cv_strmap_get(&ts->events.items[1].details, "oom_killed"), "true");

    assert_non_null(a->reschedule_tracker);
    assert_int_equal(a->reschedule_tracker->events.len, 1);
    assert_i64_equal(a->reschedule_tracker->events.items[0].delay, 30000000000);
    assert_string_equal(a->reschedule_tracker->last_reschedule, "ok");
    assert_u64_equal(a->alloc_modify_index, 15);
    assert_i64_equal(a->modify_time, 1717171901000000000);
    cv_alloc_free(a);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cv_allocation *a = parse_ok("{" BASE ", 'TaskStates': {'t': {}}}");
    assert_string_equal(a->namespace, "default");
    assert_string_equal(a->desired_status, CV_ALLOC_DESIRED_RUN);
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_PENDING);
    assert_string_equal(a->task_states.items[0].state, CV_TASK_STATE_PENDING);
    assert_null(a->job);
    assert_null(a->metrics);
    cv_alloc_free(a);

    a = cv_alloc_new();
    assert_string_equal(a->client_status, CV_ALLOC_CLIENT_PENDING);
    cv_alloc_free(a);

    struct cv_intmap m = {0};
    cv_intmap_set(&m, "b", 2);
    cv_intmap_set(&m, "a", 1);
    cv_intmap_set(&m, "b", 3);
    assert_int_equal(m.len, 2);
    assert_string_equal(m.items[0].key, "a");
    assert_i64_equal(cv_intmap_get(&m, "b", 0), 3);
    for (size_t i = 0; i < m.len; i++) {
        cv_free(m.items[i].key);
    }
    cv_free(m.items);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cv_allocation *a = parse_ok(NOMAD_ALLOC);
    char *first = cv_alloc_to_json(a, false);
    assert_non_null(first);
    assert_null(strstr(first, "\"TaskResources\""));
    assert_null(strstr(first, "\"DeploymentStatus\""));
    assert_non_null(strstr(first, "\"binpack\":0.5753"));

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *again = NULL;
    int rc = cv_alloc_parse(first, strlen(first), &again, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    assert_true(cv_alloc_equal(a, again));
    char *second = cv_alloc_to_json(again, true);
    char *third = cv_alloc_to_json(again, false);
    assert_string_equal(first, third);
    assert_non_null(strstr(second, "\n"));

    cv_free(first);
    cv_free(second);
    cv_free(third);
    cv_alloc_free(again);
    cv_alloc_free(a);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct cv_allocation *a = parse_ok(NOMAD_ALLOC);
    struct cv_allocation *c = cv_alloc_copy(a);
    assert_true(cv_alloc_equal(a, c));
    assert_ptr_not_equal(c->job, a->job);
    assert_ptr_not_equal(c->job->task_groups.items, a->job->task_groups.items);
    assert_ptr_not_equal(c->metrics->nodes_available.items, a->metrics->nodes_available.items);
    assert_ptr_not_equal(c->metrics->nodes_available.items[0].key,
                         a->metrics->nodes_available.items[0].key);
    assert_ptr_not_equal(c->task_states.items[0].events.items,
                         a->task_states.items[0].events.items);

    c->metrics->score_meta_data.items[0].scores.items[0].value = 0.9;
    assert_false(cv_alloc_equal(a, c));
    c->metrics->score_meta_data.items[0].scores.items[0].value = 0.5753;
    assert_true(cv_alloc_equal(a, c));
    cv_intmap_set(&c->metrics->nodes_available, "dc2", 1);
    assert_false(cv_alloc_equal(a, c));
    assert_int_equal(a->metrics->nodes_available.len, 1);
    cv_set_string(&c->job->task_groups.items[0].name, "other");
    assert_string_equal(a->job->task_groups.items[0].name, "frontend");

    cv_alloc_free(c);
    cv_alloc_free(a);
}

static void test_required_ids(void **state)
{
    (void)state;
    EXPECT_ERRORS("{}", "ID: is required", "EvalID: is required", "Name: is required",
                  "NodeID: is required", "JobID: is required", "TaskGroup: is required");
    EXPECT_ERRORS("{'ID': '" ALLOC_ID "', 'NodeID': '" NODE_ID
                  "', 'Name': 'web.frontend[0]', 'JobID': 'web', 'TaskGroup': 'frontend',"
                  " 'EvalID': 'eval-1', 'DeploymentID': 'x', 'FollowupEvalID': 'y',"
                  " 'PreviousAllocation': 'z', 'NextAllocation': 'w',"
                  " 'PreemptedAllocations': ['" PREV_ID
                  "', ''], 'PreemptedByAllocation': 'v',"
                  " 'RescheduleTracker': {'Events': [{'PrevAllocID': 'a', 'PrevNodeID': ''}]}}",
                  "EvalID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"eval-1\"",
                  "DeploymentID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"x\"",
                  "FollowupEvalID: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"y\"",
                  "PreviousAllocation: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"z\"",
                  "NextAllocation: must be a UUID (8-4-4-4-12 lowercase hex digits), got \"w\"",
                  "RescheduleTracker.Events[0].PrevAllocID: must be a UUID (8-4-4-4-12 lowercase "
                  "hex digits), got \"a\"",
                  "PreemptedAllocations[1]: is required",
                  "PreemptedByAllocation: must be a UUID (8-4-4-4-12 lowercase hex digits), got "
                  "\"v\"");
}

static void test_vocabularies(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE
                  ", 'DesiredStatus': 'running', 'ClientStatus': 'dead',"
                  " 'TaskStates': {'b': {'State': 'done'}, 'a': {'State': 'dead'}}}",
                  "DesiredStatus: must be one of run, stop, evict; got \"running\"",
                  "ClientStatus: must be one of pending, running, complete, failed, lost, "
                  "unknown; got \"dead\"",
                  "TaskStates.b.State: must be one of pending, running, dead; got \"done\"");
    assert_true(cv_alloc_client_terminal(CV_ALLOC_CLIENT_COMPLETE));
    assert_true(cv_alloc_client_terminal(CV_ALLOC_CLIENT_FAILED));
    assert_true(cv_alloc_client_terminal(CV_ALLOC_CLIENT_LOST));
    assert_false(cv_alloc_client_terminal(CV_ALLOC_CLIENT_PENDING));
    assert_false(cv_alloc_client_terminal(CV_ALLOC_CLIENT_RUNNING));
    assert_false(cv_alloc_client_terminal(CV_ALLOC_CLIENT_UNKNOWN));
    assert_false(cv_alloc_client_terminal(""));
}

static void test_resources_and_times(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE
                  ", 'AllocatedResources': {'Tasks': {'t': {'Cpu': {'CpuShares': -1},"
                  "   'Memory': {'MemoryMB': -2, 'MemoryMaxMB': -3},"
                  "   'Networks': [{'ReservedPorts': [{'Value': 65536}]}]}},"
                  "  'Shared': {'DiskMB': -4, 'Ports': [{'Label': 'http', 'Value': -1,"
                  "   'To': 70000}]}},"
                  " 'TaskStates': {'t': {'State': 'dead', 'StartedAt': 'yesterday',"
                  "   'FinishedAt': '2024-05-31T16:10:01'}}}",
                  "AllocatedResources.Tasks.t.Cpu.CpuShares: must not be negative, got -1",
                  "AllocatedResources.Tasks.t.Memory.MemoryMB: must not be negative, got -2",
                  "AllocatedResources.Tasks.t.Memory.MemoryMaxMB: must be -1 (no limit) or more, "
                  "got -3",
                  "AllocatedResources.Tasks.t.Networks[0].ReservedPorts[0].Value: must be "
                  "between 0 and 65535, got 65536",
                  "AllocatedResources.Shared.DiskMB: must not be negative, got -4",
                  "AllocatedResources.Shared.Ports[0].Value: must be between 0 and 65535, got -1",
                  "AllocatedResources.Shared.Ports[0].To: must be between -1 and 65535, got 70000",
                  "TaskStates.t.StartedAt: must be an RFC 3339 time, got \"yesterday\"",
                  "TaskStates.t.FinishedAt: must be an RFC 3339 time, got "
                  "\"2024-05-31T16:10:01\"");
}

static void test_embedded_job(void **state)
{
    (void)state;
    /* The job's own rules apply under "Job", and the allocation must point
     * into it. */
    EXPECT_ERRORS("{'ID': '" ALLOC_ID "', 'EvalID': '" EVAL_ID "', 'NodeID': '" NODE_ID
                  "', 'Name': 'web.frontend[0]', 'JobID': 'api', 'TaskGroup': 'backend',"
                  " 'Job': {'ID': 'web', 'TaskGroups': [{'Name': 'frontend', 'Tasks': [{'Name':"
                  " 'server'}]}]}}",
                  "Job.TaskGroups[0].Tasks[0].Driver: is required",
                  "JobID: must match Job.ID (\"web\"), got \"api\"",
                  "TaskGroup: names no task group of Job: \"backend\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE
                  ", 'CreateTime': '2024', 'DesiredTransition': {'Migrate': 1},"
                  " 'TaskStates': {'t': {'Restarts': -1, 'Events': {}}},"
                  " 'Metrics': {'NodesAvailable': {'dc1': 'three'},"
                  "  'ScoreMetaData': [{'Scores': {'binpack': '1'}}]},"
                  " 'PreemptedAllocations': 'x', 'Job': []}",
                  "CreateTime: must be an integer, got string",
                  "DesiredTransition.Migrate: must be a boolean, got number",
                  "TaskStates.t.Restarts: -1 is out of range (0 to 18446744073709551615)",
                  "TaskStates.t.Events: must be an array, got object",
                  "Metrics.NodesAvailable.dc1: must be an integer, got string",
                  "Metrics.ScoreMetaData[0].Scores.binpack: must be a number, got string",
                  "PreemptedAllocations: must be an array of strings, got string",
                  "Job: must be an object, got array", "Job.ID: is required",
                  "Job.TaskGroups: must have at least one task group",
                  "JobID: must match Job.ID (\"\"), got \"web\"",
                  "TaskGroup: names no task group of Job: \"frontend\"");
}

static void test_unknown_and_unsupported(void **state)
{
    (void)state;
    EXPECT_ERRORS("{" BASE
                  ", 'JobType': 'service', 'clientStatus': 'running',"
                  " 'AllocatedResources': {'Tasks': {'t': {'Devices': [{'Name': 'gpu'}]}},"
                  "  'Shared': {'Ports': [{'HostNetwork': 'x'}]}},"
                  " 'TaskStates': {'t': {'Events': [{'Kind': 'x'}]}}}",
                  "JobType: unknown field in Allocation",
                  "clientStatus: unknown field (did you mean \"ClientStatus\"?)",
                  "AllocatedResources.Tasks.t.Devices: not supported by Caravan",
                  "AllocatedResources.Shared.Ports[0].HostNetwork: unknown field in PortMapping",
                  "TaskStates.t.Events[0].Kind: unknown field in TaskEvent");
}

static void test_not_an_object(void **state)
{
    (void)state;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_allocation *a = NULL;
    assert_int_equal(cv_alloc_parse("\"x\"", 3, &a, &errs), CV_EVALIDATE);
    assert_null(a);
    assert_int_equal(errs.len, 1);
    assert_string_equal(errs.items[0].msg, "an allocation must be a JSON object, got string");
    cv_errlist_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_decode_nomad_alloc),  CV_TEST(test_defaults),
        CV_TEST(test_round_trip),          CV_TEST(test_copy_is_deep),
        CV_TEST(test_required_ids),        CV_TEST(test_vocabularies),
        CV_TEST(test_resources_and_times), CV_TEST(test_embedded_job),
        CV_TEST(test_wrong_types),         CV_TEST(test_unknown_and_unsupported),
        CV_TEST(test_not_an_object),
    };
    return cmocka_run_group_tests_name("allocation", tests, NULL, NULL);
}
