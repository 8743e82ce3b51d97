/*
 * test_server: three server cores (regiond/server.h) in one process, on one
 * event loop, over real loopback RPC and real embedded stores in temporary
 * directories: they elect a leader, a proposal is applied by every FSM, a
 * follower refuses proposals, and a restarted server recovers its log and
 * applies it again. The multi-process suite (tests/e2e) covers the daemon.
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
#include "regiond/fsm.h"
#include "regiond/server.h"
#include "regiond/state/state.h"
#include "store_testutil.h"
#include "testutil.h"

#define N 3

struct cluster
{
    struct event_base *base;
    struct srv *srv[N];
    struct srv_config cfg[N];
    char dirs[N][512];
};

static void config(struct cluster *c, size_t i, const uint16_t ports[N])
{
    struct srv_config *sc = &c->cfg[i];
    memset(sc, 0, sizeof *sc);
    sc->id = i + 1;
    snprintf(sc->rpc_bind, sizeof sc->rpc_bind, "127.0.0.1:%u", (unsigned)ports[i]);
    for (size_t j = 0; j < N; j++) {
        if (j != i) {
            struct srv_peer *p = &sc->peers[sc->n_peers++];
            p->id = j + 1;
            snprintf(p->addr, sizeof p->addr, "127.0.0.1:%u", (unsigned)ports[j]);
        }
    }
    sc->store = SRV_STORE_EMBEDDED;
    sc->data_dir = c->dirs[i];
    sc->segment_size = 1u << 20;
    sc->election_timeout_ms = 300;
    sc->heartbeat_ms = 30;
}

static void start(struct cluster *c, size_t i)
{
    struct cv_err err = {0};
    int rc = srv_new(c->base, &c->cfg[i], &c->srv[i], &err);
    if (rc != 0) {
        print_error("server %zu: %s\n", i + 1, err.msg);
    }
    assert_int_equal(rc, 0);
}

/* Runs the loop until pred holds or 10 s pass. */
static bool run_until(struct cluster *c, bool (*pred)(struct cluster *c, void *arg), void *arg)
{
    for (int i = 0; i < 1000; i++) {
        if (pred(c, arg)) {
            return true;
        }
        struct timeval ten_ms = {0, 10000};
        event_base_loopexit(c->base, &ten_ms);
        event_base_dispatch(c->base);
    }
    return pred(c, arg);
}

static bool one_leader(struct cluster *c, void *arg)
{
    int *leader = arg;
    int count = 0;
    for (size_t i = 0; i < N; i++) {
        if (c->srv[i] && srv_is_leader(c->srv[i])) {
            *leader = (int)i;
            count++;
        }
    }
    if (count != 1) {
        return false;
    }
    /* Everyone running knows it. */
    for (size_t i = 0; i < N; i++) {
        if (c->srv[i] && srv_leader_id(c->srv[i]) != (uint64_t)*leader + 1) {
            return false;
        }
    }
    return true;
}

struct proposed
{
    bool done;
    int status;
    uint64_t index;
    struct fsm_result res;
};

static void on_proposed(void *arg, int status, uint64_t index, const struct fsm_result *res)
{
    struct proposed *p = arg;
    p->done = true;
    p->status = status;
    p->index = index;
    if (res) {
        p->res = *res;
    }
}

static bool proposal_done(struct cluster *c, void *arg)
{
    (void)c;
    return ((struct proposed *)arg)->done;
}

static bool job_everywhere(struct cluster *c, void *arg)
{
    for (size_t i = 0; i < N; i++) {
        if (!c->srv[i]) {
            continue;
        }
        struct state_snap *snap = state_snapshot(srv_state(c->srv[i]));
        bool found = state_job(snap, arg) != NULL;
        state_snapshot_release(snap);
        if (!found) {
            return false;
        }
    }
    return true;
}

static void register_job(struct cluster *c, int leader, const char *id)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ID\":\"%s\",\"Name\":\"%s\",\"Type\":\"batch\",\"Datacenters\":[\"dc1\"],"
             "\"TaskGroups\":[{\"Name\":\"g\",\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"mock\"}]}]}",
             id, id);
    struct cv_job *job = NULL;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    assert_int_equal(cv_job_parse(text, strlen(text), &job, &errs), 0);
    cv_errlist_free(&errs);
    struct cv_buf cmd;
    cv_buf_init(&cmd);
    assert_int_equal(fsm_encode_job_register(job, NULL, &cmd, NULL), 0);
    cv_job_free(job);
    struct proposed p = {0};
    /* A follower refuses at once. */
    int follower = (leader + 1) % N;
    if (!c->srv[follower]) {
        follower = (leader + 2) % N;
    }
    assert_int_equal(srv_propose(c->srv[follower], cmd.data, cmd.len, on_proposed, &p, NULL),
                     CV_ENOTLEADER);
    assert_int_equal(srv_propose(c->srv[leader], cmd.data, cmd.len, on_proposed, &p, NULL), 0);
    cv_buf_free(&cmd);
    assert_true(run_until(c, proposal_done, &p));
    assert_int_equal(p.status, 0);
    assert_int_equal(p.res.outcome, FSM_APPLIED);
    assert_true(p.index > 0);
    assert_true(run_until(c, job_everywhere, (void *)id));
}

static void run_cluster(uint64_t snapshot_threshold, uint64_t trailing, int jobs_while_down)
{
    struct cluster c = {0};
    c.base = event_base_new();
    uint16_t ports[N];
    /* Reserve ports by listening on port 0 first. */
    for (size_t i = 0; i < N; i++) {
        store_test_mkdtemp(c.dirs[i], sizeof c.dirs[i]);
        struct srv_config probe = {.id = i + 1, .store = SRV_STORE_EMBEDDED};
        snprintf(probe.rpc_bind, sizeof probe.rpc_bind, "127.0.0.1:0");
        probe.data_dir = c.dirs[i];
        struct cv_err err = {0};
        struct srv *s = NULL;
        assert_int_equal(srv_new(c.base, &probe, &s, &err), 0);
        ports[i] = srv_rpc_port(s);
        srv_free(s);
        store_test_rmdir(c.dirs[i]);
        store_test_mkdtemp(c.dirs[i], sizeof c.dirs[i]);
    }
    for (size_t i = 0; i < N; i++) {
        config(&c, i, ports);
        c.cfg[i].snapshot_threshold = snapshot_threshold;
        c.cfg[i].trailing_logs = trailing;
        start(&c, i);
    }
    int leader = -1;
    assert_true(run_until(&c, one_leader, &leader));
    register_job(&c, leader, "first");

    /* Restart a follower: it reads its log back and applies it again. */
    size_t f = (size_t)(leader + 1) % N;
    srv_free(c.srv[f]);
    c.srv[f] = NULL;
    register_job(&c, leader, "second");
    char id[32];
    for (int i = 0; i < jobs_while_down; i++) {
        snprintf(id, sizeof id, "while-down-%d", i);
        register_job(&c, leader, id);
    }
    start(&c, f);
    assert_true(run_until(&c, job_everywhere, "first"));
    assert_true(run_until(&c, job_everywhere, "second"));
    for (int i = 0; i < jobs_while_down; i++) {
        snprintf(id, sizeof id, "while-down-%d", i);
        assert_true(run_until(&c, job_everywhere, id));
    }
    /* Every server restarts from its own snapshot and log. */
    for (size_t i = 0; i < N; i++) {
        srv_free(c.srv[i]);
        c.srv[i] = NULL;
    }
    for (size_t i = 0; i < N; i++) {
        start(&c, i);
    }
    assert_true(run_until(&c, one_leader, &leader));
    assert_true(run_until(&c, job_everywhere, "first"));
    for (int i = 0; i < jobs_while_down; i++) {
        snprintf(id, sizeof id, "while-down-%d", i);
        assert_true(run_until(&c, job_everywhere, id));
    }

    for (size_t i = 0; i < N; i++) {
        srv_free(c.srv[i]);
        store_test_rmdir(c.dirs[i]);
    }
    event_base_free(c.base);
}

static void test_replicate_and_recover(void **state)
{
    (void)state;
    run_cluster(0, 0, 3);
}

/* Snapshots every 4 entries keeping 1: the restarted follower is too far
 * behind for the log and must be sent the leader's snapshot, and every
 * server restarts from its own snapshot. */
static void test_snapshot_catch_up(void **state)
{
    (void)state;
    run_cluster(4, 1, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicate_and_recover),
        cmocka_unit_test(test_snapshot_catch_up),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
