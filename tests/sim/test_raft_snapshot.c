/*
 * test_raft_snapshot: log compaction and InstallSnapshot in the simulated
 * cluster: a follower too far behind gets the snapshot in chunks, a crash
 * in the middle of the transfer, and restarts from snapshots.
 */
#include "tests/sim/scenario.h"

#define BIG_SNAPSHOT (600u << 10) /* three chunks of 256 KiB */

struct catch_up
{
    unsigned server, leader;
};

static bool caught_up(struct sim_cluster *c, void *arg)
{
    const struct catch_up *cu = arg;
    struct raft *r = sim_raft(c, cu->server);
    return r && raft_applied_index(r) >= raft_commit_index(sim_raft(c, cu->leader));
}

/* Leader and one follower commit `count` entries while the third server is
 * cut off, then the leader snapshots with few trailing entries. */
static void leave_behind(struct sim_cluster *c, unsigned leader, unsigned f, unsigned count)
{
    sim_net_isolate(c, f);
    for (unsigned k = 0; k < count; k += 100) {
        sc_commit(c, leader, 100);
    }
    assert_int_equal(sim_take_snapshot(c, leader, BIG_SNAPSHOT, 10), 0);
    raft_index snap = sim_snapshot_index(c, leader);
    assert_true(snap >= count);
    assert_true(raft_last_index(sim_raft(c, f)) + 10 < snap);
    sim_stats_reset(c);
}

/* A follower whose next entry the leader compacted away gets the snapshot,
 * chunk by chunk, then the entries after it. */
static void test_far_behind_follower_gets_snapshot(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        unsigned f = (leader + 1) % 3;
        leave_behind(c, leader, f, 300);
        sim_net_heal(c);
        struct catch_up cu = {.server = f, .leader = leader};
        assert_true(sim_run_until(c, caught_up, &cu, 20 * SC_ET));
        sc_ok(c);
        assert_true(sim_stats(c, leader)->sent[RAFT_MSG_SNAPSHOT] >= 3);
        assert_u64_equal(sim_snapshot_index(c, f), sim_snapshot_index(c, leader));
        raft_index last = sc_commit(c, leader, 20);
        cu.server = f;
        assert_true(sim_run_until(c, caught_up, &cu, 10 * SC_ET));
        assert_true(raft_applied_index(sim_raft(c, f)) >= last);
        sc_free(c);
    }
}

struct chunk_crash
{
    unsigned f;
    int crashes;
};

/* Crashes the follower when the leader sends it a chunk past the first. */
static bool crash_mid_transfer(struct sim_cluster *c, void *arg, const struct raft_msg *m)
{
    struct chunk_crash *cc = arg;
    if (m->type == RAFT_MSG_SNAPSHOT && m->to == cc->f + 1 && m->offset > 0 && cc->crashes == 0) {
        cc->crashes++;
        sim_crash(c, cc->f, SIM_CRASH_CLEAN); /* deferred to the end of the event */
    }
    return true;
}

static void restart_cb(struct sim_cluster *c, void *arg)
{
    sim_restart(c, *(unsigned *)arg);
}

/* The follower crashes in the middle of receiving the snapshot: the part
 * written is not a snapshot; after restart the transfer starts over and
 * the follower catches up. */
static void test_crash_during_snapshot_transfer(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        unsigned f = (leader + 2) % 3;
        leave_behind(c, leader, f, 300);
        raft_index before = sim_snapshot_index(c, f);
        struct chunk_crash cc = {.f = f};
        sim_set_msg_hook(c, crash_mid_transfer, &cc);
        sim_net_heal(c);
        uint64_t deadline = sim_now(c) + 20 * SC_ET;
        while (cc.crashes == 0 && sim_now(c) < deadline) {
            sim_step(c);
            sc_ok(c);
        }
        assert_int_equal(cc.crashes, 1);
        sc_run(c, 1);
        assert_false(sim_is_up(c, f));
        assert_u64_equal(sim_snapshot_index(c, f), before); /* half a snapshot is none */
        sim_at(c, SC_ET / 2, restart_cb, &f);
        struct catch_up cu = {.server = f, .leader = leader};
        assert_true(sim_run_until(c, caught_up, &cu, 20 * SC_ET));
        sc_ok(c);
        assert_u64_equal(sim_snapshot_index(c, f), sim_snapshot_index(c, leader));
        sim_set_msg_hook(c, NULL, NULL);
        sc_commit(c, sc_leader(c), 5);
        sc_free(c);
    }
}

/* Every server snapshots (with different trailing entries), everyone
 * crashes and restarts from its snapshot and log, and the cluster goes on. */
static void test_restart_from_snapshots(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        sc_commit(c, leader, 150);
        sc_run(c, SC_ET); /* let the followers apply */
        for (unsigned i = 0; i < 3; i++) {
            assert_int_equal(sim_take_snapshot(c, i, 1000 + i, 5 * i), 0);
        }
        sc_commit(c, leader, 30);
        raft_index snaps[3];
        for (unsigned i = 0; i < 3; i++) {
            snaps[i] = sim_snapshot_index(c, i);
            sim_crash(c, i, SIM_CRASH_TORN);
        }
        for (unsigned i = 0; i < 3; i++) {
            sim_restart(c, i);
            sc_ok(c);
            assert_u64_equal(raft_applied_index(sim_raft(c, i)), snaps[i]);
        }
        leader = sc_leader(c);
        raft_index last = sc_commit(c, leader, 10);
        sc_run(c, 2 * SC_ET);
        for (unsigned i = 0; i < 3; i++) {
            assert_true(raft_applied_index(sim_raft(c, i)) >= last);
        }
        assert_true(sim_check_acked_applied(c));
        sc_free(c);
    }
}

static bool sent_snapshot(struct sim_cluster *c, void *arg)
{
    return sim_stats(c, *(unsigned *)arg)->sent[RAFT_MSG_SNAPSHOT] > 0;
}

struct past
{
    unsigned server;
    raft_index index;
};

static bool applied_past(struct sim_cluster *c, void *arg)
{
    const struct past *p = arg;
    return raft_applied_index(sim_raft(c, p->server)) > p->index;
}

/* A snapshot from the leader is still being written when a new leader's
 * entries carry the follower past it and the follower snapshots itself: the
 * older snapshot must not replace the newer one when its write completes
 * (the log no longer reaches back to it), and the follower must restart.
 * (Bug 6 of the simulator's first runs: the received snapshot became the
 * latest, and the entry after it was in neither the log nor a snapshot.) */
static void test_received_snapshot_overtaken_by_own(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 5);
    unsigned leader = sc_leader(c);
    unsigned f = (leader + 1) % 3, other = (leader + 2) % 3;
    sim_net_isolate(c, f);
    sc_commit(c, leader, 300);
    assert_int_equal(sim_take_snapshot(c, leader, 100, 0), 0);
    raft_index x = sim_snapshot_index(c, leader);
    sim_stats_reset(c);
    sim_disk_set_latency(c, f, 150, 150);
    sim_net_heal(c);
    assert_true(sim_run_until(c, sent_snapshot, &leader, 10 * SC_ET));
    sc_run(c, 20); /* delivered: the write is under way */
    assert_int_equal(sim_transfer(c, leader, other), 0);
    struct past p = {.server = f, .index = x};
    assert_true(sim_run_until(c, applied_past, &p, 10 * SC_ET));
    sc_ok(c);
    assert_int_equal(sim_take_snapshot(c, f, 100, 0), 0);
    raft_index own = sim_snapshot_index(c, f);
    assert_true(own > x);
    sc_run(c, 2 * SC_ET); /* the leader's snapshot write completes */
    assert_true(sim_snapshot_index(c, f) >= own);
    sim_crash(c, f, SIM_CRASH_CLEAN);
    sim_restart(c, f);
    sc_ok(c);
    sim_disk_set_latency(c, f, 1, 3);
    struct catch_up cu = {.server = f, .leader = (unsigned)sc_leader(c)};
    assert_true(sim_run_until(c, caught_up, &cu, 10 * SC_ET));
    sc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_far_behind_follower_gets_snapshot),
        CV_TEST(test_crash_during_snapshot_transfer),
        CV_TEST(test_restart_from_snapshots),
        CV_TEST(test_received_snapshot_overtaken_by_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
