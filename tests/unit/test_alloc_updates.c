/*
 * test_alloc_updates: "Node.UpdateAlloc", the RPC client agents report
 * their allocations' status with, on a one-server region in this process
 * whose scheduler workers place a job first: updates from several callers
 * within the batch interval land in one Raft entry (one index for all),
 * the state takes the client's status and task states, a failed
 * allocation brings an "alloc-failure" evaluation and is replaced, and
 * updates of allocations that no longer exist are dropped and named, and
 * every malformed or foreign update is refused with what was wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/evaluation.h"
#include "common/rpc.h"
#include "regiond/server.h"
#include "regiond/state/state.h"
#include "region_fixture.h"

#define JOB                                                                           \
    "{\"ID\": \"web\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"            \
    " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2, \"Tasks\": [{\"Name\": \"t\"," \
    " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}"

static char node_id[CV_UUID_LEN + 1];
static char alloc_ids[2][CV_UUID_LEN + 1];

/* A node and a job of two allocations placed on it. */
static void place_job(void)
{
    region_register_node("client-1", 4000, 4096, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(JOB, eval_id);
    cv_eval_free(region_wait_eval(eval_id));
    assert_int_equal(region_alloc_ids("web", alloc_ids, 2), 2);
}

static void update_json(char *out, size_t size, const char *alloc_id, const char *node,
                        const char *status)
{
    snprintf(out, size,
             "{\"Allocs\": [{\"ID\": \"%s\", \"NodeID\": \"%s\", \"ClientStatus\": \"%s\","
             " \"ClientDescription\": \"from the test\", \"TaskStates\": {\"t\": {\"State\":"
             " \"running\", \"Failed\": false, \"Restarts\": 0}}}]}",
             alloc_id, node, status);
}

static const struct cv_allocation *stored(struct state_snap *snap, const char *id)
{
    const struct cv_allocation *a = state_alloc(snap, id);
    assert_non_null(a);
    return a;
}

struct two_calls
{
    int done;
    int status[2];
    char body[2][256];
};

static struct two_calls *calls;

static void on_done(const struct rpc_result *res, void *arg)
{
    int i = (int)(intptr_t)arg;
    calls->status[i] = res->status;
    snprintf(calls->body[i], sizeof calls->body[i], "%.*s", (int)res->len,
             (const char *)res->payload);
    calls->done++;
}

static bool both_done(void)
{
    return calls->done == 2;
}

static void test_updates_are_batched_into_one_entry(void **state)
{
    (void)state;
    place_job();
    char a[1024], b[1024];
    update_json(a, sizeof a, alloc_ids[0], node_id, "running");
    update_json(b, sizeof b, alloc_ids[1], node_id, "running");
    struct two_calls c = {0};
    calls = &c;
    assert_int_equal(rpc_call(rfx.pool, rfx.addr, "Node.UpdateAlloc", a, strlen(a), 15000, on_done,
                              (void *)(intptr_t)0, NULL),
                     0);
    assert_int_equal(rpc_call(rfx.pool, rfx.addr, "Node.UpdateAlloc", b, strlen(b), 15000, on_done,
                              (void *)(intptr_t)1, NULL),
                     0);
    assert_true(region_run_until(both_done));
    assert_int_equal(c.status[0], 0);
    assert_int_equal(c.status[1], 0);
    assert_non_null(strstr(c.body[0], "\"Index\":"));
    /* One Raft entry for both callers. */
    assert_string_equal(c.body[0], c.body[1]);

    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    for (int i = 0; i < 2; i++) {
        const struct cv_allocation *s = stored(snap, alloc_ids[i]);
        assert_string_equal(s->client_status, "running");
        assert_string_equal(s->client_description, "from the test");
        assert_int_equal(s->task_states.len, 1);
        assert_string_equal(s->task_states.items[0].state, "running");
        assert_string_equal(s->desired_status, "run"); /* not the client's to change */
    }
    state_snapshot_release(snap);
}

static bool replaced(void)
{
    return region_live_allocs("web") == 2;
}

static bool has_failure_eval(void)
{
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    struct state_iter it;
    state_iter_evals_by_job(snap, "web", &it);
    bool found = false;
    for (const struct cv_evaluation *e; (e = state_iter_next(&it)) != NULL;) {
        found = found || strcmp(e->triggered_by, CV_EVAL_TRIGGER_RETRY_FAILED_ALLOC) == 0;
    }
    state_snapshot_release(snap);
    return found;
}

static void test_failed_allocation_is_evaluated_and_replaced(void **state)
{
    (void)state;
    place_job();
    char body[1024];
    update_json(body, sizeof body, alloc_ids[0], node_id, "failed");
    struct region_answer a = region_call("Node.UpdateAlloc", body);
    assert_int_equal(a.status, 0);
    assert_true(has_failure_eval());
    /* The scheduler replaces it: two live allocations again, the failed
     * one no longer among them. */
    assert_true(region_run_until(replaced));
    char now[2][CV_UUID_LEN + 1];
    assert_int_equal(region_alloc_ids("web", now, 2), 2);
    assert_string_not_equal(now[0], alloc_ids[0]);
    assert_string_not_equal(now[1], alloc_ids[0]);
    region_assert_no_overcommit();
}

static void expect_refusal(const char *body, int code, const char *words)
{
    struct region_answer a = region_call("Node.UpdateAlloc", body);
    assert_int_equal(a.status, code);
    if (strstr(a.msg, words) == NULL) {
        fail_msg("\"%s\" does not say \"%s\"", a.msg, words);
    }
}

/* An update of an allocation that no longer exists is dropped, not an
 * error: the others of the call are written. */
static void test_unknown_allocations_are_dropped(void **state)
{
    (void)state;
    place_job();
    char body[1024];
    snprintf(body, sizeof body,
             "{\"Allocs\": [{\"ID\": \"00000000-0000-4000-8000-00000000dead\", \"NodeID\": \"%s\","
             " \"ClientStatus\": \"running\"}, {\"ID\": \"%s\", \"NodeID\": \"%s\","
             " \"ClientStatus\": \"running\"}]}",
             node_id, alloc_ids[1], node_id);
    struct region_answer a = region_call("Node.UpdateAlloc", body);
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.body, "\"Dropped\":[\"00000000-0000-4000-8000-00000000dead\"]"));
    assert_null(strstr(a.body, "\"Index\":0"));
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    assert_string_equal(stored(snap, alloc_ids[1])->client_status, "running");
    state_snapshot_release(snap);

    /* Only unknown ones: nothing to write, index 0. */
    update_json(body, sizeof body, "00000000-0000-4000-8000-00000000dead", node_id, "running");
    a = region_call("Node.UpdateAlloc", body);
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.body, "\"Index\":0"));
}

static void test_bad_updates_are_refused(void **state)
{
    (void)state;
    place_job();
    char body[1024];
    expect_refusal("{}", CV_EINVAL, "Allocs");
    expect_refusal("{\"Allocs\": []}", CV_EINVAL, "Allocs");
    expect_refusal("{\"Allocs\": {}}", CV_EINVAL, "Allocs");
    expect_refusal("{\"Allocs\": [7]}", CV_EVALIDATE, "Allocs[0]");
    expect_refusal("[1, 2]", CV_EPARSE, "object");
    expect_refusal("{\"Allocs\": [{\"ID\": \"x\"", CV_EPARSE, "");
    update_json(body, sizeof body, alloc_ids[0], node_id, "sleeping");
    expect_refusal(body, CV_EVALIDATE, "ClientStatus");
    update_json(body, sizeof body, alloc_ids[0], "00000000-0000-4000-8000-00000000beef", "running");
    expect_refusal(body, CV_EINVAL, "is not on node");
    snprintf(body, sizeof body,
             "{\"Allocs\": [{\"ID\": \"%s\", \"NodeID\": \"%s\", \"ClientStatus\": \"running\","
             " \"Bogus\": 1}]}",
             alloc_ids[0], node_id);
    expect_refusal(body, CV_EVALIDATE, "Bogus");
    /* Nothing of the refused calls was written. */
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    assert_string_equal(stored(snap, alloc_ids[0])->client_status, "pending");
    state_snapshot_release(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_updates_are_batched_into_one_entry, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_failed_allocation_is_evaluated_and_replaced,
                                        region_setup, region_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_allocations_are_dropped, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_bad_updates_are_refused, region_setup,
                                        region_teardown),
    };
    return cmocka_run_group_tests_name("alloc_updates", tests, NULL, NULL);
}
