/*
 * test_workers: a scheduler worker's round trip against a one-server region
 * in this process (server core, leader duties, workers' RPCs over loopback):
 * dequeue an evaluation with its token, submit a plan that fits (committed:
 * the allocation is in the state), submit one that overcommits the node
 * (rejected with a refresh index, nothing written), update and ack the
 * evaluation; and the errors: a wrong token, an ack of what is not
 * outstanding, a dequeue that times out with no evaluation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/job.h"
#include "regiond/duties.h"
#include "regiond/fsm.h"
#include "regiond/server.h"
#include "regiond/state/state.h"
#include "regiond/workers.h"
#include "store_testutil.h"
#include "testutil.h"

#define NODE_ID   "10000000-0000-4000-8000-000000000001"
#define EVAL_ID   "30000000-0000-4000-8000-000000000001"
#define ALLOC1_ID "20000000-0000-4000-8000-000000000001"
#define ALLOC2_ID "20000000-0000-4000-8000-000000000002"

struct fx
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct workers *workers;
    struct rpc_pool *pool;
    char dir[512];
    char addr[RPC_ADDR_MAX];
};

static struct fx x;

static void run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(x.base, &tv);
    event_base_dispatch(x.base);
}

static bool run_until(bool (*pred)(void))
{
    for (int i = 0; i < 1000 && !pred(); i++) {
        run_ms(10);
    }
    return pred();
}

static bool is_active(void)
{
    return duties_active(x.duties);
}

struct answer
{
    bool done;
    int status;
    char msg[256];
    char body[8192];
};

static struct answer *pending;

static void on_answer(const struct rpc_result *res, void *arg)
{
    struct answer *a = arg;
    a->done = true;
    a->status = res->status;
    snprintf(a->msg, sizeof a->msg, "%s", res->err_msg ? res->err_msg : "");
    snprintf(a->body, sizeof a->body, "%.*s", (int)res->len, (const char *)res->payload);
}

static bool answered(void)
{
    return pending->done;
}

static struct answer call(const char *method, const char *args)
{
    struct answer a = {0};
    pending = &a;
    assert_int_equal(
        rpc_call(x.pool, x.addr, method, args, strlen(args), 15000, on_answer, &a, NULL), 0);
    assert_true(run_until(answered));
    if (a.status != 0) {
        print_message("%s: %d %s\n", method, a.status, a.msg);
    }
    return a;
}

/* The value of "Key": "..." in a flat JSON answer. */
static void json_string(const char *body, const char *key, char *out, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":\"", key);
    const char *p = strstr(body, needle);
    assert_non_null(p);
    p += strlen(needle);
    const char *end = strchr(p, '"');
    assert_non_null(end);
    snprintf(out, size, "%.*s", (int)(end - p), p);
}

static unsigned long long json_uint(const char *body, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *p = strstr(body, needle);
    assert_non_null(p);
    return strtoull(p + strlen(needle), NULL, 10);
}

static void register_job(void)
{
    const char *job_text =
        "{\"ID\": \"web\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\"}]}]}";
    const char *eval_text = "{\"ID\": \"" EVAL_ID
                            "\", \"Priority\": 50, \"Type\": \"service\","
                            " \"JobID\": \"web\", \"TriggeredBy\": \"job-register\","
                            " \"Status\": \"pending\"}";
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    struct cv_evaluation *eval = NULL;
    assert_int_equal(cv_job_parse(job_text, strlen(job_text), &job, &errs), 0);
    assert_int_equal(cv_eval_parse(eval_text, strlen(eval_text), &eval, &errs), 0);
    cv_errlist_free(&errs);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    assert_int_equal(fsm_encode_job_register(job, eval, &cmd, NULL), 0);
    assert_int_equal(srv_propose(x.srv, cmd.data, cmd.len, NULL, NULL, NULL), 0);
    cv_buf_free(&cmd);
    cv_job_free(job);
    cv_eval_free(eval);
}

/* A plan placing one allocation of `cpu` MHz on the node. */
static void plan_json(char *out, size_t size, const char *token, const char *alloc_id, int cpu,
                      unsigned long long snapshot_index)
{
    snprintf(out, size,
             "{\"Plan\": {\"EvalID\": \"" EVAL_ID
             "\", \"EvalToken\": \"%s\", \"Priority\": 50,"
             " \"Job\": {\"ID\": \"web\"}, \"SnapshotIndex\": %llu,"
             " \"NodeAllocation\": {\"" NODE_ID "\": [{\"ID\": \"%s\", \"EvalID\": \"" EVAL_ID
             "\", \"Name\": \"web.g[0]\", \"NodeID\": \"" NODE_ID
             "\", \"JobID\": \"web\","
             " \"TaskGroup\": \"g\", \"AllocatedResources\": {\"Tasks\": {\"t\": {\"Cpu\":"
             " {\"CpuShares\": %d}, \"Memory\": {\"MemoryMB\": 64}}}, \"Shared\": {\"DiskMB\":"
             " 10}}}]}}}",
             token, snapshot_index, alloc_id, cpu);
}

static bool has_alloc(const char *id)
{
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    bool found = state_alloc(snap, id) != NULL;
    state_snapshot_release(snap);
    return found;
}

static void test_worker_round_trip(void **state)
{
    (void)state;
    struct answer a =
        call("Node.Register", "{\"Node\": {\"ID\": \"" NODE_ID
                              "\", \"Datacenter\": \"dc1\","
                              " \"Name\": \"client-1\", \"Status\": \"ready\","
                              " \"NodeResources\": {\"Cpu\": {\"CpuShares\": 1000},"
                              " \"Memory\": {\"MemoryMB\": 1024}, \"Disk\": {\"DiskMB\": 1000}}}}");
    assert_int_equal(a.status, 0);
    register_job();

    /* Dequeue: the evaluation and a token. */
    a = call("Eval.Dequeue", "{\"Schedulers\": [\"service\", \"batch\"], \"TimeoutMs\": 5000}");
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.body, EVAL_ID));
    char token[64];
    json_string(a.body, "Token", token, sizeof token);
    assert_int_equal(strlen(token), 36);
    unsigned long long index = json_uint(a.body, "ModifyIndex");

    /* A wrong token is refused. */
    char body[4096];
    plan_json(body, sizeof body, "00000000-0000-4000-8000-000000000000", ALLOC1_ID, 500, index);
    a = call("Plan.Submit", body);
    assert_int_equal(a.status, CV_EINVAL);

    /* A plan that fits commits. */
    plan_json(body, sizeof body, token, ALLOC1_ID, 600, index);
    a = call("Plan.Submit", body);
    assert_int_equal(a.status, 0);
    assert_true(json_uint(a.body, "AllocIndex") > index);
    assert_int_equal(json_uint(a.body, "RefreshIndex"), 0);
    assert_true(has_alloc(ALLOC1_ID));

    /* One that would overcommit the node's CPU is rejected for that node. */
    plan_json(body, sizeof body, token, ALLOC2_ID, 600, index);
    a = call("Plan.Submit", body);
    assert_int_equal(a.status, 0);
    assert_int_equal(json_uint(a.body, "AllocIndex"), 0);
    assert_true(json_uint(a.body, "RefreshIndex") > index);
    assert_non_null(strstr(a.body, NODE_ID));
    assert_false(has_alloc(ALLOC2_ID));

    /* The worker completes its evaluation and acks it. */
    char update[1024];
    snprintf(update, sizeof update,
             "{\"Token\": \"%s\", \"Evals\": [{\"ID\": \"" EVAL_ID
             "\", \"Priority\": 50,"
             " \"Type\": \"service\", \"JobID\": \"web\", \"TriggeredBy\": \"job-register\","
             " \"Status\": \"complete\"}]}",
             token);
    a = call("Eval.Update", update);
    assert_int_equal(a.status, 0);
    char ack[256];
    snprintf(ack, sizeof ack, "{\"EvalID\": \"" EVAL_ID "\", \"Token\": \"%s\"}", token);
    a = call("Eval.Ack", ack);
    assert_int_equal(a.status, 0);
    a = call("Eval.Ack", ack);
    assert_int_equal(a.status, CV_ENOTFOUND);

    /* Nothing ready: the dequeue answers null at its deadline. */
    a = call("Eval.Dequeue", "{\"Schedulers\": [\"service\"], \"TimeoutMs\": 100}");
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.body, "\"Eval\":null"));
    a = call("Eval.Dequeue", "{\"Schedulers\": []}");
    assert_int_equal(a.status, CV_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    memset(&x, 0, sizeof x);
    x.base = event_base_new();
    store_test_mkdtemp(x.dir, sizeof x.dir);
    struct srv_config sc = {.id = 1, .store = SRV_STORE_EMBEDDED, .data_dir = x.dir};
    snprintf(sc.rpc_bind, sizeof sc.rpc_bind, "127.0.0.1:0");
    sc.election_timeout_ms = 100;
    sc.heartbeat_ms = 20;
    struct cv_err err = {0};
    if (srv_new(x.base, &sc, &x.srv, &err) != 0) {
        return -1;
    }
    snprintf(x.addr, sizeof x.addr, "127.0.0.1:%u", (unsigned)srv_rpc_port(x.srv));
    struct duties_config dc;
    duties_config_default(&dc);
    if (duties_new(x.base, x.srv, &dc, &x.duties, &err) != 0 ||
        workers_new(x.base, x.srv, x.duties, &x.workers, &err) != 0 ||
        rpc_pool_new(x.base, NULL, &x.pool, &err) != 0) {
        return -1;
    }
    return run_until(is_active) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rpc_pool_free(x.pool);
    workers_free(x.workers);
    duties_free(x.duties);
    srv_free(x.srv);
    event_base_free(x.base);
    store_test_rmdir(x.dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_round_trip),
    };
    return cmocka_run_group_tests_name("workers", tests, setup, teardown);
}
