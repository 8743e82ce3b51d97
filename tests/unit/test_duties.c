/*
 * test_duties: the leader's duties on a one-server region in this process
 * (real server core, embedded store in a temporary directory, loopback RPC):
 * the duties start once the server leads; a node registers through the
 * "Node.Register" RPC and gets a TTL; a heartbeat with an unchanged status
 * writes nothing to Raft; a registered job's evaluation reaches the broker;
 * a node that stops heartbeating is marked down with its allocation lost
 * and an evaluation for its job; bad calls get clear errors.
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
#include "store_testutil.h"
#include "testutil.h"

#define NODE_ID   "10000000-0000-4000-8000-000000000001"
#define EVAL_ID   "30000000-0000-4000-8000-000000000001"
#define ALLOC_ID  "20000000-0000-4000-8000-000000000001"
#define ALLOC2_ID "20000000-0000-4000-8000-000000000002"
#define EVAL2_ID  "30000000-0000-4000-8000-000000000002"
#define NODE2_ID  "10000000-0000-4000-8000-000000000002"
#define EVAL3_ID  "30000000-0000-4000-8000-000000000003"

struct fx
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct rpc_pool *pool;
    char dir[512];
    char addr[RPC_ADDR_MAX];
};

static void run_ms(struct fx *x, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(x->base, &tv);
    event_base_dispatch(x->base);
}

/* Runs the loop until pred holds or 10 s pass. */
static bool run_until(struct fx *x, bool (*pred)(struct fx *x))
{
    for (int i = 0; i < 1000 && !pred(x); i++) {
        run_ms(x, 10);
    }
    return pred(x);
}

static bool is_active(struct fx *x)
{
    return duties_active(x->duties);
}

struct answer
{
    bool done;
    int status;
    char msg[256];
    char body[1024];
};

static void on_answer(const struct rpc_result *res, void *arg)
{
    struct answer *a = arg;
    a->done = true;
    a->status = res->status;
    snprintf(a->msg, sizeof a->msg, "%s", res->err_msg ? res->err_msg : "");
    snprintf(a->body, sizeof a->body, "%.*s", (int)res->len, (const char *)res->payload);
}

static struct answer *pending_answer;

static bool answered(struct fx *x)
{
    (void)x;
    return pending_answer->done;
}

static struct answer call(struct fx *x, const char *method, const char *args)
{
    struct answer a = {0};
    pending_answer = &a;
    assert_int_equal(
        rpc_call(x->pool, x->addr, method, args, strlen(args), 5000, on_answer, &a, NULL), 0);
    assert_true(run_until(x, answered));
    return a;
}

static uint64_t state_index(struct fx *x)
{
    struct state_snap *snap = state_snapshot(srv_state(x->srv));
    uint64_t index = state_snap_index(snap);
    state_snapshot_release(snap);
    return index;
}

struct proposed
{
    bool done;
    int status;
};

static struct proposed *pending_proposal;

static void on_proposed(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    (void)index;
    struct proposed *p = arg;
    p->done = true;
    p->status = status == 0 && res->outcome == FSM_APPLIED ? 0 : -1;
}

static bool proposal_done(struct fx *x)
{
    (void)x;
    return pending_proposal->done;
}

static void propose(struct fx *x, struct cv_buf *cmd)
{
    struct proposed p = {0};
    pending_proposal = &p;
    assert_int_equal(srv_propose(x->srv, cmd->data, cmd->len, on_proposed, &p, NULL), 0);
    assert_true(run_until(x, proposal_done));
    assert_int_equal(p.status, 0);
}

static bool node_down(struct fx *x)
{
    struct state_snap *snap = state_snapshot(srv_state(x->srv));
    const struct cv_node *node = state_node(snap, NODE_ID);
    const struct cv_allocation *a = state_alloc(snap, ALLOC_ID);
    bool down =
        node && strcmp(node->status, "down") == 0 && a && strcmp(a->client_status, "lost") == 0;
    state_snapshot_release(snap);
    return down;
}

static void register_job_with_alloc(struct fx *x)
{
    const char *job_text =
        "{\"ID\": \"web\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\"}]}]}";
    const char *eval_text = "{\"ID\": \"" EVAL_ID
                            "\", \"Priority\": 50, \"Type\": \"service\","
                            " \"JobID\": \"web\", \"TriggeredBy\": \"job-register\","
                            " \"Status\": \"pending\"}";
    const char *alloc_text = "{\"ID\": \"" ALLOC_ID "\", \"EvalID\": \"" EVAL_ID
                             "\","
                             " \"Name\": \"web.g[0]\", \"NodeID\": \"" NODE_ID
                             "\","
                             " \"JobID\": \"web\", \"TaskGroup\": \"g\"}";
    const char *alloc2_text = "{\"ID\": \"" ALLOC2_ID "\", \"EvalID\": \"" EVAL_ID
                              "\","
                              " \"Name\": \"web.g[1]\", \"NodeID\": \"" NODE_ID
                              "\","
                              " \"JobID\": \"web\", \"TaskGroup\": \"g\"}";
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    struct cv_evaluation *eval = NULL;
    struct cv_allocation *alloc = NULL;
    struct cv_allocation *alloc2 = NULL;
    assert_int_equal(cv_job_parse(job_text, strlen(job_text), &job, &errs), 0);
    assert_int_equal(cv_eval_parse(eval_text, strlen(eval_text), &eval, &errs), 0);
    assert_int_equal(cv_alloc_parse(alloc_text, strlen(alloc_text), &alloc, &errs), 0);
    assert_int_equal(cv_alloc_parse(alloc2_text, strlen(alloc2_text), &alloc2, &errs), 0);
    cv_errlist_free(&errs);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    assert_int_equal(fsm_encode_job_register(job, eval, &cmd, NULL), 0);
    propose(x, &cmd);
    const struct cv_allocation *placed[] = {alloc, alloc2};
    struct fsm_plan plan = {.eval_id = EVAL_ID, .allocs_updated = placed, .n_updated = 2};
    cv_buf_reset(&cmd);
    assert_int_equal(fsm_encode_plan_apply(&plan, &cmd, NULL), 0);
    propose(x, &cmd);
    cv_buf_free(&cmd);
    cv_job_free(job);
    cv_eval_free(eval);
    cv_alloc_free(alloc);
    cv_alloc_free(alloc2);
}

static bool eval_in_broker(struct fx *x)
{
    return broker_eval_state(duties_broker(x->duties), EVAL_ID) == BROKER_EVAL_READY;
}

static bool eval2_blocked(struct fx *x)
{
    return broker_is_blocked(duties_broker(x->duties), EVAL2_ID);
}

static bool eval2_ready(struct fx *x)
{
    return broker_eval_state(duties_broker(x->duties), EVAL2_ID) == BROKER_EVAL_READY;
}

/* Writes a blocked evaluation of job_id, blocked on a snapshot of the
 * current state: the changes the test makes next come later, so they
 * concern it. */
static void write_blocked_eval(struct fx *x, const char *eval_id, const char *job_id)
{
    struct state_snap *snap = state_snapshot(srv_state(x->srv));
    unsigned long long snapshot_index = (unsigned long long)state_snap_index(snap);
    state_snapshot_release(snap);
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\": \"%s\", \"Priority\": 50, \"Type\": \"batch\", \"JobID\": \"%s\","
             " \"TriggeredBy\": \"job-register\", \"Status\": \"blocked\","
             " \"SnapshotIndex\": %llu}",
             eval_id, job_id, snapshot_index);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_evaluation *eval = NULL;
    assert_int_equal(cv_eval_parse(text, strlen(text), &eval, &errs), 0);
    cv_errlist_free(&errs);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    const struct cv_evaluation *evals[] = {eval};
    assert_int_equal(fsm_encode_eval_update(evals, 1, &cmd, NULL), 0);
    propose(x, &cmd);
    cv_buf_free(&cmd);
    cv_eval_free(eval);
}

/* A blocked evaluation waits in the broker until a node registers. */
static void block_then_unblock(struct fx *x)
{
    write_blocked_eval(x, EVAL2_ID, "other");
    assert_true(run_until(x, eval2_blocked));
    struct answer a = call(x, "Node.Register",
                           "{\"Node\": {\"ID\": \"" NODE2_ID
                           "\", \"Datacenter\": \"dc1\","
                           " \"Name\": \"client-2\", \"Status\": \"ready\"}}");
    assert_int_equal(a.status, 0);
    assert_true(run_until(x, eval2_ready));
}

static bool eval3_ready(struct fx *x)
{
    return broker_eval_state(duties_broker(x->duties), EVAL3_ID) == BROKER_EVAL_READY;
}

static bool eval3_blocked(struct fx *x)
{
    return broker_is_blocked(duties_broker(x->duties), EVAL3_ID);
}

/* A blocked evaluation is queued again when an allocation on a node of its
 * class finishes and frees capacity. */
static void unblock_when_capacity_freed(struct fx *x)
{
    write_blocked_eval(x, EVAL3_ID, "third");
    assert_true(run_until(x, eval3_blocked));
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    /* The second allocation placed earlier (on node 1) completes. */
    const char *alloc_text = "{\"ID\": \"" ALLOC2_ID "\", \"EvalID\": \"" EVAL_ID
                             "\","
                             " \"Name\": \"web.g[1]\", \"NodeID\": \"" NODE_ID
                             "\","
                             " \"JobID\": \"web\", \"TaskGroup\": \"g\","
                             " \"ClientStatus\": \"complete\"}";
    struct cv_allocation *alloc = NULL;
    assert_int_equal(cv_alloc_parse(alloc_text, strlen(alloc_text), &alloc, &errs), 0);
    cv_errlist_free(&errs);
    const struct cv_allocation *allocs[] = {alloc};
    cv_buf_reset(&cmd);
    assert_int_equal(fsm_encode_alloc_client_update(allocs, 1, NULL, 0, &cmd, NULL), 0);
    propose(x, &cmd);
    cv_alloc_free(alloc);
    cv_buf_free(&cmd);
    assert_true(run_until(x, eval3_ready));
}

static void test_leader_duties(void **state)
{
    (void)state;
    struct fx x = {0};
    x.base = event_base_new();
    store_test_mkdtemp(x.dir, sizeof x.dir);
    struct srv_config sc = {.id = 1, .store = SRV_STORE_EMBEDDED, .data_dir = x.dir};
    snprintf(sc.rpc_bind, sizeof sc.rpc_bind, "127.0.0.1:0");
    sc.election_timeout_ms = 100;
    sc.heartbeat_ms = 20;
    struct cv_err err = {0};
    assert_int_equal(srv_new(x.base, &sc, &x.srv, &err), 0);
    snprintf(x.addr, sizeof x.addr, "127.0.0.1:%u", (unsigned)srv_rpc_port(x.srv));
    struct duties_config dc;
    duties_config_default(&dc);
    dc.heartbeat.min_ttl_ns = 300 * CV_NSEC_PER_MSEC;
    dc.heartbeat.grace_ns = 200 * CV_NSEC_PER_MSEC;
    dc.heartbeat.failover_ttl_ns = 600 * CV_NSEC_PER_MSEC;
    assert_int_equal(duties_new(x.base, x.srv, &dc, &x.duties, &err), 0);
    assert_int_equal(rpc_pool_new(x.base, NULL, &x.pool, &err), 0);

    assert_true(run_until(&x, is_active));

    /* Register: the answer carries a TTL of at least the minimum. */
    struct answer a = call(&x, "Node.Register",
                           "{\"Node\": {\"ID\": \"" NODE_ID
                           "\", \"Datacenter\": \"dc1\","
                           " \"Name\": \"client-1\", \"Status\": \"ready\","
                           " \"NodeResources\": {\"Cpu\": {\"CpuShares\": 4000},"
                           " \"Memory\": {\"MemoryMB\": 8192}, \"Disk\": {\"DiskMB\": 10000}}}}");
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.body, "\"HeartbeatTTL\":"));
    unsigned long long ttl = strtoull(strstr(a.body, "\"HeartbeatTTL\":") + 15, NULL, 10);
    assert_true(ttl >= 300ull * 1000 * 1000);
    /* The leader computed the node's class. */
    struct state_snap *snap0 = state_snapshot(srv_state(x.srv));
    assert_memory_equal(state_node(snap0, NODE_ID)->computed_class, "v1:", 3);
    state_snapshot_release(snap0);

    /* A heartbeat with the same status writes nothing. */
    uint64_t before = state_index(&x);
    a = call(&x, "Node.UpdateStatus", "{\"NodeID\": \"" NODE_ID "\", \"Status\": \"ready\"}");
    assert_int_equal(a.status, 0);
    assert_u64_equal(state_index(&x), before);

    /* The job's evaluation reaches the broker. */
    register_job_with_alloc(&x);
    assert_true(run_until(&x, eval_in_broker));

    /* Bad calls. */
    a = call(&x, "Node.UpdateStatus",
             "{\"NodeID\": \"90000000-0000-4000-8000-000000000009\", \"Status\": \"ready\"}");
    assert_int_equal(a.status, CV_ENOTFOUND);
    a = call(&x, "Node.UpdateStatus", "{\"NodeID\": \"" NODE_ID "\", \"Status\": \"sleepy\"}");
    assert_int_equal(a.status, CV_EINVAL);
    a = call(&x, "Node.Register", "{\"Node\": ");
    assert_int_equal(a.status, CV_EPARSE);
    a = call(&x, "Node.Register", "{\"Node\": {\"ID\": \"not-a-uuid\"}}");
    assert_int_equal(a.status, CV_EVALIDATE);

    /* Keep node 1 alive for the next check. */
    a = call(&x, "Node.UpdateStatus", "{\"NodeID\": \"" NODE_ID "\", \"Status\": \"ready\"}");
    assert_int_equal(a.status, 0);
    unblock_when_capacity_freed(&x);
    block_then_unblock(&x);

    /* No more heartbeats: TTL + grace later the node is down, its
     * allocation lost, and its job has a node-update evaluation. */
    assert_true(run_until(&x, node_down));
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    struct state_iter it;
    state_iter_evals_by_job(snap, "web", &it);
    bool node_update = false;
    for (const struct cv_evaluation *e; (e = state_iter_next(&it));) {
        node_update |=
            strcmp(e->triggered_by, "node-update") == 0 && strcmp(e->node_id, NODE_ID) == 0;
    }
    state_snapshot_release(snap);
    assert_true(node_update);

    rpc_pool_free(x.pool);
    duties_free(x.duties);
    srv_free(x.srv);
    event_base_free(x.base);
    store_test_rmdir(x.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_duties),
    };
    return cmocka_run_group_tests_name("duties", tests, NULL, NULL);
}
