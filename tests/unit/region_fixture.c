/*
 * region_fixture: a one-server region inside a test process (see
 * region_fixture.h).
 */
#include "region_fixture.h"

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
#include "regiond/fsm.h"
#include "regiond/state/state.h"
#include "schedd/rank.h"
#include "store_testutil.h"

struct region_fx rfx;

static void run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(rfx.base, &tv);
    event_base_dispatch(rfx.base);
}

void region_serve_ms(int ms)
{
    run_ms(ms);
}

bool region_run_until(bool (*pred)(void))
{
    for (int i = 0; i < 2000 && !pred(); i++) {
        run_ms(10);
    }
    return pred();
}

static bool is_active(void)
{
    return duties_active(rfx.duties);
}

struct pending
{
    bool done;
    struct region_answer *a;
};

static struct pending *waiting;

static void on_answer(const struct rpc_result *res, void *arg)
{
    struct pending *p = arg;
    p->done = true;
    p->a->status = res->status;
    snprintf(p->a->msg, sizeof p->a->msg, "%s", res->err_msg ? res->err_msg : "");
    snprintf(p->a->body, sizeof p->a->body, "%.*s", (int)res->len, (const char *)res->payload);
}

static bool answered(void)
{
    return waiting->done;
}

struct region_answer region_call(const char *method, const char *args)
{
    struct region_answer a = {0};
    struct pending p = {.a = &a};
    waiting = &p;
    assert_int_equal(
        rpc_call(rfx.pool, rfx.addr, method, args, strlen(args), 15000, on_answer, &p, NULL), 0);
    assert_true(region_run_until(answered));
    return a;
}

void region_register_node(const char *name, int cpu, int memory_mb, char id[CV_UUID_LEN + 1])
{
    cv_uuid_generate(id);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"Node\": {\"ID\": \"%s\", \"Datacenter\": \"dc1\", \"Name\": \"%s\","
             " \"Status\": \"ready\", \"Attributes\": {\"kernel.name\": \"linux\"},"
             " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}},"
             " \"NodeResources\": {\"Cpu\": {\"CpuShares\": %d},"
             " \"Memory\": {\"MemoryMB\": %d}, \"Disk\": {\"DiskMB\": 10000}}}}",
             id, name, cpu, memory_mb);
    struct region_answer a = region_call("Node.Register", body);
    if (a.status != 0) {
        print_message("Node.Register: %s\n", a.msg);
    }
    assert_int_equal(a.status, 0);
}

void region_submit_job(const char *job_text, char eval_id[CV_UUID_LEN + 1])
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
    assert_int_equal(srv_propose(rfx.srv, cmd.data, cmd.len, NULL, NULL, NULL), 0);
    cv_buf_free(&cmd);
    cv_job_free(job);
    cv_eval_free(eval);
}

static const char *watched_eval;

static bool eval_terminal(void)
{
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    const struct cv_evaluation *e = state_eval(snap, watched_eval);
    bool done = e != NULL && cv_eval_terminal(e->status);
    state_snapshot_release(snap);
    return done;
}

struct cv_evaluation *region_wait_eval(const char *id)
{
    watched_eval = id;
    assert_true(region_run_until(eval_terminal));
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
    struct cv_evaluation *copy = cv_eval_copy(state_eval(snap, id));
    state_snapshot_release(snap);
    return copy;
}

size_t region_alloc_ids(const char *job_id, char ids[][CV_UUID_LEN + 1], size_t max)
{
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
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
        if (ids != NULL && n < max) {
            snprintf(ids[n], CV_UUID_LEN + 1, "%s", a->id);
        }
        names[n++] = a->name;
    }
    state_snapshot_release(snap);
    return n;
}

size_t region_live_allocs(const char *job_id)
{
    return region_alloc_ids(job_id, NULL, 0);
}

void region_assert_no_overcommit(void)
{
    struct state_snap *snap = state_snapshot(srv_state(rfx.srv));
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

int region_setup(void **state)
{
    (void)state;
    memset(&rfx, 0, sizeof rfx);
    rfx.base = event_base_new();
    store_test_mkdtemp(rfx.dir, sizeof rfx.dir);
    struct srv_config sc = {.id = 1, .store = SRV_STORE_EMBEDDED, .data_dir = rfx.dir};
    snprintf(sc.rpc_bind, sizeof sc.rpc_bind, "127.0.0.1:0");
    sc.election_timeout_ms = 100;
    sc.heartbeat_ms = 20;
    struct cv_err err = {0};
    if (srv_new(rfx.base, &sc, &rfx.srv, &err) != 0) {
        return -1;
    }
    snprintf(rfx.addr, sizeof rfx.addr, "127.0.0.1:%u", (unsigned)srv_rpc_port(rfx.srv));
    struct duties_config dc;
    duties_config_default(&dc);
    if (duties_new(rfx.base, rfx.srv, &dc, &rfx.duties, &err) != 0 ||
        workers_new(rfx.base, rfx.srv, rfx.duties, &rfx.workers, &err) != 0 ||
        alloc_updates_new(rfx.base, rfx.srv, rfx.duties, &rfx.alloc_updates, &err) != 0 ||
        client_allocs_new(rfx.base, rfx.srv, &rfx.client_allocs, &err) != 0 ||
        rpc_pool_new(rfx.base, NULL, &rfx.pool, &err) != 0 || !region_run_until(is_active)) {
        return -1;
    }
    /* Small plans, so that a job of a few allocations already commits in
     * several plans one after the other. */
    struct sched_workers_config swc = {.rpc_addr = rfx.addr,
                                       .state = srv_state(rfx.srv),
                                       .n_workers = 2,
                                       .placements_per_plan = 4};
    return sched_workers_start(&swc, &rfx.sched, &err);
}

static bool workers_exited(void)
{
    return sched_workers_running(rfx.sched) == 0;
}

int region_teardown(void **state)
{
    (void)state;
    sched_workers_request_stop(rfx.sched);
    region_run_until(workers_exited);
    sched_workers_stop(rfx.sched);
    rpc_pool_free(rfx.pool);
    client_allocs_free(rfx.client_allocs);
    alloc_updates_free(rfx.alloc_updates);
    workers_free(rfx.workers);
    duties_free(rfx.duties);
    srv_free(rfx.srv);
    event_base_free(rfx.base);
    store_test_rmdir(rfx.dir);
    return 0;
}
