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
#include <event2/event.h>

#include "common/buf.h"
#include "common/job.h"
#include "common/random.h"
#include "regiond/duties.h"
#include "regiond/fsm.h"
#include "regiond/sched_workers.h"
#include "regiond/server.h"
#include "regiond/state/state.h"
#include "regiond/workers.h"
#include "schedd/rank.h"
#include "store_testutil.h"
#include "testutil.h"

struct fx
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct workers *workers;
    struct sched_workers *sched;
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

/* Serves the loop (the workers call it) until pred holds, at most ~20 s. */
static bool run_until(bool (*pred)(void))
{
    for (int i = 0; i < 2000 && !pred(); i++) {
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
};

static struct answer *pending;

static void on_answer(const struct rpc_result *res, void *arg)
{
    struct answer *a = arg;
    a->done = true;
    a->status = res->status;
    snprintf(a->msg, sizeof a->msg, "%s", res->err_msg ? res->err_msg : "");
}

static bool answered(void)
{
    return pending->done;
}

static void register_node(const char *name, int cpu, int memory_mb)
{
    char id[CV_UUID_LEN + 1];
    cv_uuid_generate(id);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"Node\": {\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"%s\","
             " \"Status\": \"ready\", \"Attributes\": {\"kernel.name\": \"linux\"},"
             " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": %d},"
             " \"Memory\": {\"MemoryMB\": %d}, \"Disk\": {\"DiskMB\": 10000}}}}",
             id, name, cpu, memory_mb);
    struct answer a = {0};
    pending = &a;
    assert_int_equal(
        rpc_call(x.pool, x.addr, "Node.Register", body, strlen(body), 15000, on_answer, &a, NULL),
        0);
    assert_true(run_until(answered));
    if (a.status != 0) {
        print_message("Node.Register: %s\n", a.msg);
    }
    assert_int_equal(a.status, 0);
}

/* Writes job_text and a pending evaluation for it; returns the eval's ID. */
static void submit_job(const char *job_text, char eval_id[CV_UUID_LEN + 1])
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_job *job = NULL;
    if (cv_job_parse(job_text, strlen(job_text), &job, &errs) != 0) {
        char one[CV_ERR_MSG_MAX];
        fail_msg("job: %s", cv_errlist_format(&errs, 0, one, sizeof one));
    }
    cv_errlist_free(&errs);
    struct cv_evaluation *eval = cv_eval_new();
    cv_uuid_generate(eval_id);
    cv_set_string(&eval->id, eval_id);
    cv_set_string(&eval->type, job->type);
    cv_set_string(&eval->job_id, job->id);
    cv_set_string(&eval->triggered_by, CV_EVAL_TRIGGER_JOB_REGISTER);
    eval->priority = job->priority;
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    assert_int_equal(fsm_encode_job_register(job, eval, &cmd, NULL), 0);
    assert_int_equal(srv_propose(x.srv, cmd.data, cmd.len, NULL, NULL, NULL), 0);
    cv_buf_free(&cmd);
    cv_job_free(job);
    cv_eval_free(eval);
}

static const char *watched_eval;

static bool eval_terminal(void)
{
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    const struct cv_evaluation *e = state_eval(snap, watched_eval);
    bool done = e != NULL && cv_eval_terminal(e->status);
    state_snapshot_release(snap);
    return done;
}

/* Waits for the evaluation to complete; returns a copy (free it). */
static struct cv_evaluation *wait_eval(const char *id)
{
    watched_eval = id;
    assert_true(run_until(eval_terminal));
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    struct cv_evaluation *copy = cv_eval_copy(state_eval(snap, id));
    state_snapshot_release(snap);
    return copy;
}

/* Live allocations of job; checks that no two share a name. */
static size_t live_allocs(const char *job_id)
{
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    struct state_iter it;
    state_iter_allocs_by_job(snap, job_id, &it);
    const char *names[256];
    size_t n = 0;
    for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL;) {
        if (sch_alloc_terminal(a)) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            assert_string_not_equal(names[i], a->name);
        }
        assert_true(n < 256);
        names[n++] = a->name;
    }
    state_snapshot_release(snap);
    return n;
}

/* No node holds more CPU or memory than it has. */
static void assert_no_overcommit(void)
{
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
    struct state_iter nodes;
    state_iter_nodes(snap, NULL, &nodes);
    for (const struct cv_node *n; (n = state_iter_next(&nodes)) != NULL;) {
        const struct cv_allocation *list[256];
        size_t k = 0;
        struct state_iter it;
        state_iter_allocs_by_node(snap, n->id, &it);
        for (const struct cv_allocation *a; (a = state_iter_next(&it)) != NULL && k < 256;) {
            list[k++] = a;
        }
        struct sch_usage u;
        sch_node_usage(n, list, k, NULL, &u);
        const char *dim = NULL;
        if (!sch_fits(&u, &dim)) {
            fail_msg("node %s is overcommitted in %s", n->name, dim);
        }
    }
    state_snapshot_release(snap);
}

/* The job's evaluations still blocked. */
static size_t blocked_evals(const char *job_id)
{
    struct state_snap *snap = state_snapshot(srv_state(x.srv));
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
    return live_allocs(target_job) == target_count;
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
    register_node("a", 1000, 1024);
    register_node("b", 1000, 1024);
    register_node("c", 1000, 1024);
    char eval_id[CV_UUID_LEN + 1];
    submit_job(WEB_JOB, eval_id);
    struct cv_evaluation *e = wait_eval(eval_id);
    assert_string_equal(e->status, CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(e->failed_tg_allocs.len, 0);
    assert_int_equal(cv_intmap_get(&e->queued_allocations, "g", -1), 0);
    assert_string_equal(e->blocked_eval, "");
    cv_eval_free(e);
    assert_int_equal(live_allocs("web"), 6);
    assert_no_overcommit();
}

static void test_nothing_fits_blocks_then_a_new_node_unblocks(void **state)
{
    (void)state;
    register_node("small", 1000, 1024);
    char eval_id[CV_UUID_LEN + 1];
    submit_job(
        "{\"ID\": \"big\", \"Type\": \"service\", \"Datacenters\": [\"dc1\"],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2, \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 1500, \"MemoryMB\": 128}}]}]}",
        eval_id);
    struct cv_evaluation *e = wait_eval(eval_id);
    assert_string_equal(e->status, CV_EVAL_STATUS_COMPLETE);
    assert_int_equal(e->failed_tg_allocs.len, 1);
    assert_int_equal(failed_metric(e, "g", "dimension", "cpu"), 1);
    assert_int_equal(e->failed_tg_allocs.items[0].metric.coalesced_failures, 1);
    assert_int_equal(cv_intmap_get(&e->queued_allocations, "g", -1), 2);
    assert_true(strlen(e->blocked_eval) == 36);
    char blocked[CV_UUID_LEN + 1];
    snprintf(blocked, sizeof blocked, "%s", e->blocked_eval);
    cv_eval_free(e);
    assert_int_equal(live_allocs("big"), 0);

    /* A node with room joins: the blocked evaluation runs and places both.
     * (It may have run once more before, and blocked again under a new ID:
     * follow the chain to its end.) */
    register_node("large", 4000, 4096);
    target_job = "big";
    target_count = 2;
    assert_true(run_until(job_has_target));
    struct cv_evaluation *last = NULL;
    for (int hops = 0; hops < 10; hops++) {
        e = wait_eval(blocked);
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
    assert_no_overcommit();
}

static void test_constraint_failure_is_explained(void **state)
{
    (void)state;
    register_node("linux-1", 1000, 1024);
    char eval_id[CV_UUID_LEN + 1];
    submit_job(
        "{\"ID\": \"win\", \"Type\": \"batch\", \"Datacenters\": [\"dc1\"],"
        " \"Constraints\": [{\"LTarget\": \"${attr.kernel.name}\", \"RTarget\":"
        " \"windows\", \"Operand\": \"=\"}],"
        " \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 1, \"Tasks\": [{\"Name\": \"t\","
        " \"Driver\": \"mock\", \"Resources\": {\"CPU\": 100, \"MemoryMB\": 64}}]}]}",
        eval_id);
    struct cv_evaluation *e = wait_eval(eval_id);
    assert_int_equal(e->failed_tg_allocs.len, 1);
    assert_int_equal(failed_metric(e, "g", "constraint", "${attr.kernel.name} = windows"), 1);
    assert_int_equal(e->failed_tg_allocs.items[0].metric.nodes_filtered, 1);
    cv_eval_free(e);
}

static void test_stopping_a_job_stops_its_allocations(void **state)
{
    (void)state;
    register_node("a", 2000, 2048);
    register_node("b", 2000, 2048);
    char eval_id[CV_UUID_LEN + 1];
    submit_job(WEB_JOB, eval_id);
    cv_eval_free(wait_eval(eval_id));
    assert_int_equal(live_allocs("web"), 6);

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
    assert_int_equal(srv_propose(x.srv, cmd.data, cmd.len, NULL, NULL, NULL), 0);
    cv_buf_free(&cmd);
    cv_eval_free(eval);
    cv_eval_free(wait_eval(eval_id));
    assert_int_equal(live_allocs("web"), 0);
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
        rpc_pool_new(x.base, NULL, &x.pool, &err) != 0 || !run_until(is_active)) {
        return -1;
    }
    struct sched_workers_config swc = {
        .rpc_addr = x.addr, .state = srv_state(x.srv), .n_workers = 2};
    return sched_workers_start(&swc, &x.sched, &err);
}

static bool workers_exited(void)
{
    return sched_workers_running(x.sched) == 0;
}

static int teardown(void **state)
{
    (void)state;
    sched_workers_request_stop(x.sched);
    run_until(workers_exited);
    sched_workers_stop(x.sched);
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
        cmocka_unit_test_setup_teardown(test_places_within_capacity_and_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_fits_blocks_then_a_new_node_unblocks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_constraint_failure_is_explained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopping_a_job_stops_its_allocations, setup, teardown),
    };
    return cmocka_run_group_tests_name("sched_workers", tests, NULL, NULL);
}
