/*
 * test_sched_workers: the scheduler worker threads against a one-server
 * region in this process (server core, leader duties, the workers' RPCs on
 * loopback): nodes register through Node.Register, jobs and their
 * evaluations are written through Raft, and two worker threads must carry
 * each evaluation to its end: allocations placed within capacity, the
 * evaluation completed with its metrics, a blocked evaluation when nothing
 * fits that is retried when a node joins, constraints explained, a stopped
 * job's allocations stopped.
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
#include "regiond/server.h"
#include "regiond/state/state.h"
#include "region_fixture.h"

/* The job's evaluations still blocked. */
static size_t blocked_evals(const char *job_id)
{
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    struct state_iter it;
    state_iter_evals_by_job(snap, job_id, &it);
    size_t n = 0;
    for (const struct cv_evaluation *e; (e = state_iter_next(&it)) != NULL;) {
        n += strcmp(e->status, CV_EVAL_STATUS_BLOCKED) == 0;
    }
    state_snapshot_release(snap);
    return n;
}

static const char *target_job;
static size_t target_count;

static bool job_has_target(void)
{
    return region_live_allocs(target_job) == target_count;
}

static int64_t failed_metric(const struct cv_evaluation *e, const char *group, const char *which,
                             const char *key)
{
    for (size_t i = 0; i < e->failed_tg_allocs.len; i++) {
        const struct cv_tg_metric *m = &e->failed_tg_allocs.items[i];
        if (strcmp(m->key, group) != 0) {
            continue;
        }
        if (strcmp(which, "dimension") == 0) {
            return cv_intmap_get(&m->metric.dimension_exhausted, key, -1);
        }
        return cv_intmap_get(&m->metric.constraint_filtered, key, -1);
    }
    return -1;
}

#define WEB_JOB                                                                       \
    "{\"ID\": \"web\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"            \
    " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 6, \"Tasks\": [{\"Name\": \"t\"," \
    " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 300, \"MemoryMB\": 128}}]}]}"

static void test_places_within_capacity_and_completes(void **state)
{
    (void)state;
    char node_id[CV_UUID_LEN + 1];
    region_register_node("a", 1000, 1024, node_id);
    region_register_node("b", 1000, 1024, node_id);
    region_register_node("c", 1000, 1024, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(WEB_JOB, eval_id);
    struct cv_evaluation *e = region_wait_eval(eval_id);
    assert_string_equal(e->status, CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(e->failed_tg_allocs.len, 0);
    assert_int_equal(cv_intmap_get(&e->queued_allocations, "g", -1), 0);
    assert_string_equal(e->blocked_eval, "");
    cv_eval_free(e);
    assert_int_equal(region_live_allocs("web"), 6);
    region_assert_no_overcommit();
}

static void test_nothing_fits_blocks_then_a_new_node_unblocks(void **state)
{
    (void)state;
    char node_id[CV_UUID_LEN + 1];
    region_register_node("small", 1000, 1024, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(
        "{\"ID\": \"big\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2, \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 1500, \"MemoryMB\": 128}}]}]}",
        eval_id);
    struct cv_evaluation *e = region_wait_eval(eval_id);
    assert_string_equal(e->status, CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(e->failed_tg_allocs.len, 1);
    assert_int_equal(failed_metric(e, "g", "dimension", "cpu"), 1);
    assert_int_equal(e->failed_tg_allocs.items[0].metric.coalesced_failures, 1);
    assert_int_equal(cv_intmap_get(&e->queued_allocations, "g", -1), 2);
    assert_true(strlen(e->blocked_eval) == 36);
    char blocked[CV_UUID_LEN + 1];
    snprintf(blocked, sizeof blocked, "%s", e->blocked_eval);
    cv_eval_free(e);
    assert_int_equal(region_live_allocs("big"), 0);

    /* A node with room joins: the blocked evaluation runs and places both.
     * (It may have run once more before, and blocked again under a new ID:
     * follow the chain to its end.) */
    region_register_node("large", 4000, 4096, node_id);
    target_job = "big";
    target_count = 2;
    assert_true(region_run_until(job_has_target));
    struct cv_evaluation *last = NULL;
    for (int hops = 0; hops < 10; hops++) {
        e = region_wait_eval(blocked);
        if (e->failed_tg_allocs.len == 0) {
            last = e;
            break;
        }
        assert_true(strlen(e->blocked_eval) == 36);
        snprintf(blocked, sizeof blocked, "%s", e->blocked_eval);
        cv_eval_free(e);
    }
    assert_non_null(last);
    assert_string_equal(last->status, CV_EVAL_STATUS_COMPLETE);
    assert_string_equal(last->blocked_eval, "");
    cv_eval_free(last);
    assert_int_equal(blocked_evals("big"), 0);
    region_assert_no_overcommit();
}

static void test_constraint_failure_is_explained(void **state)
{
    (void)state;
    char node_id[CV_UUID_LEN + 1];
    region_register_node("linux-1", 1000, 1024, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(
        "{\"ID\": \"win\", \"Type\": \"batch\", \"Datacenters\": [\"dc1\"],"
        " \"Constraints\": [{\"LTarget\": \"${attr.kernel.name}\", \"RTarget\":"
        " \"windows\", \"Operand\": \"=\"}],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 1, \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}",
        eval_id);
    struct cv_evaluation *e = region_wait_eval(eval_id);
    assert_int_equal(e->failed_tg_allocs.len, 1);
    assert_int_equal(failed_metric(e, "g", "constraint", "${attr.kernel.name} = windows"), 1);
    assert_int_equal(e->failed_tg_allocs.items[0].metric.nodes_filtered, 1);
    cv_eval_free(e);
}

static void test_stopping_a_job_stops_its_allocations(void **state)
{
    (void)state;
    char node_id[CV_UUID_LEN + 1];
    region_register_node("a", 2000, 2048, node_id);
    region_register_node("b", 2000, 2048, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(WEB_JOB, eval_id);
    cv_eval_free(region_wait_eval(eval_id));
    assert_int_equal(region_live_allocs("web"), 6);

    struct cv_evaluation *eval = cv_eval_new();
    cv_uuid_generate(eval_id);
    cv_set_string(&eval->id, eval_id);
    cv_set_string(&eval->type, "service");
    cv_set_string(&eval->job_id, "web");
    cv_set_string(&eval->triggered_by, CV_EVAL_TRIGGER_JOB_DEREGISTER);
    eval->priority = 50;
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    assert_int_equal(fsm_encode_job_deregister("web", false, 0, eval, &cmd, NULL), 0);
    assert_int_equal(srv_propose(rfx.srv, cmd.data, cmd.len, NULL, NULL, NULL), 0);
    cv_buf_free(&cmd);
    cv_eval_free(eval);
    cv_eval_free(region_wait_eval(eval_id));
    assert_int_equal(region_live_allocs("web"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_places_within_capacity_and_completes, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_nothing_fits_blocks_then_a_new_node_unblocks,
                                        region_setup, region_teardown),
        cmocka_unit_test_setup_teardown(test_constraint_failure_is_explained, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_stopping_a_job_stops_its_allocations, region_setup,
                                        region_teardown),
    };
    return cmocka_run_group_tests_name("sched_workers", tests, NULL, NULL);
}
