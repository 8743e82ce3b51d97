/*
 * test_client_allocs: the allocation watch of client agents,
 * "Node.GetClientAllocs" (a blocking query over the node's allocations'
 * AllocModifyIndex) and "Alloc.GetAllocs", on a one-server region in this
 * process whose scheduler places a job first: the first query answers at
 * once with the node's allocations; a query at that index waits, is not
 * woken by the client's own status report, and answers when the server
 * changes an allocation (the job is stopped); a quiet query answers at its
 * deadline; the allocations come whole, with their job; bad arguments and
 * unknown nodes are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/evaluation.h"
#include "common/rpc.h"
#include "regiond/fsm.h"
#include "regiond/server.h"
#include "region_fixture.h"

#define JOB                                                                           \
    "{\"ID\": \"web\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"            \
    " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2, \"Tasks\": [{\"Name\": \"t\"," \
    " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}"

static char node_id[CV_UUID_LEN + 1];
static char alloc_ids[2][CV_UUID_LEN + 1];

static void place_job(void)
{
    region_register_node("client-1", 4000, 4096, node_id);
    char eval_id[CV_UUID_LEN + 1];
    region_submit_job(JOB, eval_id);
    cv_eval_free(region_wait_eval(eval_id));
    assert_int_equal(region_alloc_ids("web", alloc_ids, 2), 2);
}

static unsigned long long index_of(const char *body)
{
    const char *p = strstr(body, "\"Index\":");
    assert_non_null(p);
    return strtoull(p + strlen("\"Index\":"), NULL, 10);
}

struct async
{
    bool done;
    int status;
    char body[4096];
};

static struct async *watching;

static void on_done(const struct rpc_result *res, void *arg)
{
    struct async *a = arg;
    a->done = true;
    a->status = res->status;
    snprintf(a->body, sizeof a->body, "%.*s", (int)res->len, (const char *)res->payload);
}

static bool watch_done(void)
{
    return watching->done;
}

static void start_watch(struct async *a, unsigned long long min_index, int wait_ms)
{
    char args[256];
    snprintf(args, sizeof args,
             "{\"NodeID\": \"%s\", \"MinQueryIndex\": %llu, \"MaxQueryTimeMs\": %d}", node_id,
             min_index, wait_ms);
    memset(a, 0, sizeof *a);
    watching = a;
    assert_int_equal(rpc_call(rfx.pool, rfx.addr, "Node.GetClientAllocs", args, strlen(args), 30000,
                              on_done, a, NULL),
                     0);
}

static void stop_job(void)
{
    struct cv_evaluation *eval = cv_eval_new();
    char eval_id[CV_UUID_LEN + 1];
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
}

static void test_watch_answers_on_server_changes_only(void **state)
{
    (void)state;
    place_job();
    struct async first;
    start_watch(&first, 0, 5000);
    assert_true(region_run_until(watch_done));
    assert_int_equal(first.status, 0);
    assert_non_null(strstr(first.body, alloc_ids[0]));
    assert_non_null(strstr(first.body, alloc_ids[1]));
    unsigned long long index = index_of(first.body);
    assert_true(index > 1);

    /* At that index the query waits; the client's own report does not
     * wake it. */
    struct async second;
    start_watch(&second, index, 20000);
    char update[512];
    snprintf(update, sizeof update,
             "{\"Allocs\": [{\"ID\": \"%s\", \"NodeID\": \"%s\", \"ClientStatus\": \"running\"}]}",
             alloc_ids[0], node_id);
    struct region_answer a = region_call("Node.UpdateAlloc", update);
    assert_int_equal(a.status, 0);
    region_serve_ms(300);
    assert_false(second.done);

    /* The server stops the job: the allocations change, the watch answers. */
    stop_job();
    assert_true(region_run_until(watch_done));
    assert_int_equal(second.status, 0);
    assert_true(index_of(second.body) > index);
}

static void test_quiet_watch_answers_at_its_deadline(void **state)
{
    (void)state;
    place_job();
    struct async first;
    start_watch(&first, 0, 1000);
    assert_true(region_run_until(watch_done));
    unsigned long long index = index_of(first.body);
    struct async quiet;
    start_watch(&quiet, index, 200);
    assert_true(region_run_until(watch_done));
    assert_int_equal(quiet.status, 0);
    assert_int_equal(index_of(quiet.body), index);
}

static void test_get_allocs_whole_with_job(void **state)
{
    (void)state;
    place_job();
    char args[256];
    snprintf(args, sizeof args,
             "{\"AllocIDs\": [\"%s\", \"00000000-0000-4000-8000-00000000dead\", \"%s\"]}",
             alloc_ids[1], alloc_ids[0]);
    struct region_answer a = region_call("Alloc.GetAllocs", args);
    assert_int_equal(a.status, 0);
    const char *first = strstr(a.body, alloc_ids[1]);
    const char *second = strstr(a.body, alloc_ids[0]);
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second); /* the order asked */
    assert_null(strstr(a.body, "00000000-0000-4000-8000-00000000dead"));
    assert_non_null(strstr(a.body, "\"Job\":{"));
    assert_non_null(strstr(a.body, "\"TaskGroups\""));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    place_job();
    struct region_answer a = region_call("Node.GetClientAllocs", "{}");
    assert_int_equal(a.status, CV_EINVAL);
    assert_non_null(strstr(a.msg, "NodeID"));
    a = region_call("Node.GetClientAllocs",
                    "{\"NodeID\": \"00000000-0000-4000-8000-00000000beef\"}");
    assert_int_equal(a.status, CV_ENOTFOUND);
    assert_non_null(strstr(a.msg, "not registered"));
    char args[256];
    snprintf(args, sizeof args, "{\"NodeID\": \"%s\", \"MinQueryIndex\": -1}", node_id);
    a = region_call("Node.GetClientAllocs", args);
    assert_int_equal(a.status, CV_EINVAL);
    snprintf(args, sizeof args, "{\"NodeID\": \"%s\", \"MaxQueryTimeMs\": \"soon\"}", node_id);
    a = region_call("Node.GetClientAllocs", args);
    assert_int_equal(a.status, CV_EINVAL);
    a = region_call("Alloc.GetAllocs", "{\"AllocIDs\": []}");
    assert_int_equal(a.status, CV_EINVAL);
    a = region_call("Alloc.GetAllocs", "{\"AllocIDs\": [1]}");
    assert_int_equal(a.status, CV_EINVAL);
    a = region_call("Alloc.GetAllocs", "not json");
    assert_int_equal(a.status, CV_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_watch_answers_on_server_changes_only, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_quiet_watch_answers_at_its_deadline, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_get_allocs_whole_with_job, region_setup,
                                        region_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, region_setup, region_teardown),
    };
    return cmocka_run_group_tests_name("client_allocs", tests, NULL, NULL);
}
