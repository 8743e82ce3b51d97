/*
 * test_raft_replication: replication in the simulated cluster: refused
 * proposals, a deposed leader's uncommitted tail, a follower far behind,
 * pipelining, leadership lost with proposals pending, a leader's disk error.
 */
#include "tests/sim/scenario.h"

static bool applied_up_to(struct sim_cluster *c, unsigned i, raft_index index)
{
    struct raft *r = sim_raft(c, i);
    return r && raft_applied_index(r) >= index;
}

struct catch_up
{
    unsigned server, leader;
};

static bool caught_up(struct sim_cluster *c, void *arg)
{
    const struct catch_up *cu = arg;
    return applied_up_to(c, cu->server, raft_commit_index(sim_raft(c, cu->leader)));
}

static bool other_leader(struct sim_cluster *c, void *arg)
{
    int leader = sim_leader(c);
    return leader >= 0 && (unsigned)leader != *(unsigned *)arg;
}

static bool not_leader(struct sim_cluster *c, void *arg)
{
    return raft_state(sim_raft(c, *(unsigned *)arg)) != RAFT_LEADER;
}

/* A proposal on a follower is refused at once and never called back. */
static void test_propose_on_follower_is_refused(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 7);
    unsigned leader = sc_leader(c);
    unsigned f = (leader + 2) % 3;
    uint64_t id;
    assert_int_equal(sim_propose(c, f, RAFT_COMMAND, 32, &id), RAFT_ENOTLEADER);
    int status = 0;
    assert_true(sim_proposal_done(c, id, &status, NULL));
    assert_int_equal(status, RAFT_ENOTLEADER);
    sc_commit(c, leader, 5);
    sc_run(c, 5 * SC_ET); /* the fixture fails on any callback for it */
    sc_free(c);
}

/* An old leader cut off with uncommitted entries steps down; its pending
 * proposals fail with RAFT_ELEADERSHIPLOST; when it comes back, the new
 * leader's entries replace its tail, with few rejections thanks to the
 * conflict hints. */
static void test_old_leader_rejoins_and_is_overwritten(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned old = sc_leader(c);
        sc_commit(c, old, 5);
        sim_net_isolate(c, old);
        uint64_t first = 0, last = 0;
        for (int k = 0; k < 20; k++) {
            assert_int_equal(sim_propose(c, old, RAFT_COMMAND, 32, &last), 0);
            first = first ? first : last;
        }
        raft_index tail;
        sim_proposal_done(c, first, NULL, &tail);
        assert_true(sim_run_until(c, other_leader, &old, 10 * SC_ET));
        unsigned next = (unsigned)sim_leader(c);
        sc_commit(c, next, 300);
        assert_true(sim_run_until(c, not_leader, &old, 4 * SC_ET)); /* check-quorum */
        for (uint64_t id = first; id <= last; id++) {
            int status = 0;
            assert_true(sim_proposal_done(c, id, &status, NULL));
            assert_int_equal(status, RAFT_ELEADERSHIPLOST);
        }

        sim_stats_reset(c);
        sim_net_heal(c);
        struct catch_up cu = {.server = old, .leader = next};
        assert_true(sim_run_until(c, caught_up, &cu, 10 * SC_ET));
        sc_ok(c);
        struct raft *r = sim_raft(c, old), *l = sim_raft(c, next);
        assert_int_equal(raft_state(r), RAFT_FOLLOWER);
        assert_u64_equal(raft_current_term(r), raft_current_term(l));
        assert_u64_equal(raft_leader(r), next + 1);
        for (raft_index i = tail; i < tail + 20; i++) {
            assert_u64_equal(raft_term_at(r, i), raft_term_at(l, i));
            assert_true(raft_term_at(r, i) > raft_term_at(r, tail - 1));
        }
        uint64_t rejections = sim_stats(c, old)->append_rejections;
        if (rejections > 5) {
            print_error("%llu rejections to repair 20 conflicting and 300 missing entries\n",
                        (unsigned long long)rejections);
            fail();
        }
        sc_free(c);
    }
}

/* A follower cut off while a thousand entries commit catches up when it
 * returns, with far fewer rejections than entries it lacks. */
static void test_far_behind_follower_catches_up(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct sim_cluster *c = sc_new(5, seed);
        unsigned leader = sc_leader(c);
        unsigned f = (leader + 3) % 5;
        sim_net_isolate(c, f);
        for (int round = 0; round < 10; round++) {
            sc_commit(c, leader, 100);
        }
        raft_index behind =
            raft_commit_index(sim_raft(c, leader)) - raft_last_index(sim_raft(c, f));
        assert_true(behind >= 1000);
        sim_stats_reset(c);
        sim_net_heal(c);
        struct catch_up cu = {.server = f, .leader = leader};
        assert_true(sim_run_until(c, caught_up, &cu, 10 * SC_ET));
        sc_ok(c);
        uint64_t rejections = sim_stats(c, f)->append_rejections;
        if (rejections > 5) {
            print_error("%llu rejections for %llu missing entries\n",
                        (unsigned long long)rejections, (unsigned long long)behind);
            fail();
        }
        sc_free(c);
    }
}

/* Proposals arriving faster than the round trip keep several AppendEntries
 * in flight to each follower. */
static void test_pipelining(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 3);
    unsigned leader = sc_leader(c);
    sc_commit(c, leader, 1);
    for (unsigned a = 0; a < 3; a++) {
        for (unsigned b = 0; b < 3; b++) {
            sim_net_set_latency(c, a, b, 20, 20);
        }
    }
    sc_run(c, 100);
    sim_stats_reset(c);
    uint64_t id = 0;
    for (int k = 0; k < 50; k++) {
        assert_int_equal(sim_propose(c, leader, RAFT_COMMAND, 64, &id), 0);
        sc_run(c, 2);
    }
    assert_true(sim_run_until(c, sc_done_pred, &id, 10 * SC_ET));
    sc_ok(c);
    for (unsigned p = 0; p < 3; p++) {
        if (p != leader) {
            uint64_t most = sim_stats(c, leader)->max_inflight_append[p];
            if (most < 2) {
                print_error("at most %llu AppendEntries in flight to server %u\n",
                            (unsigned long long)most, p);
                fail();
            }
        }
    }
    sc_free(c);
}

/* Proposals pending when leadership is lost get RAFT_ELEADERSHIPLOST, both
 * when check-quorum deposes the leader and when a higher term does. */
static void test_leadership_lost_fails_pending(void **state)
{
    (void)state;
    for (int check_quorum = 1; check_quorum >= 0; check_quorum--) {
        struct sim_options o;
        struct sim_cluster *c = sc_new(3, 11);
        o = *sim_options(c);
        sim_cluster_free(c);
        o.check_quorum = check_quorum;
        c = sim_cluster_new(&o);
        unsigned leader = sc_leader(c);
        sc_commit(c, leader, 2);
        sim_net_isolate(c, leader);
        uint64_t ids[5];
        for (int k = 0; k < 5; k++) {
            assert_int_equal(sim_propose(c, leader, RAFT_COMMAND, 32, &ids[k]), 0);
        }
        if (!check_quorum) {
            assert_true(sim_run_until(c, other_leader, &leader, 10 * SC_ET));
            sim_net_heal(c);
        }
        assert_true(sim_run_until(c, not_leader, &leader, 10 * SC_ET));
        sc_ok(c);
        for (int k = 0; k < 5; k++) {
            int status = 0;
            assert_true(sim_proposal_done(c, ids[k], &status, NULL));
            assert_int_equal(status, RAFT_ELEADERSHIPLOST);
        }
        sim_net_heal(c);
        sc_commit(c, sc_leader(c), 2);
        sc_free(c);
    }
}

/* A disk error on the leader: it fail-stops (RAFT_FAILED), its pending
 * proposals fail with RAFT_EIO, it never acknowledges again (the fixture
 * checks), and the others elect a new leader that commits. */
static void test_disk_error_on_leader(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        sc_commit(c, leader, 2);
        sim_disk_fail(c, leader);
        uint64_t ids[3];
        for (int k = 0; k < 3; k++) {
            assert_int_equal(sim_propose(c, leader, RAFT_COMMAND, 32, &ids[k]), 0);
        }
        assert_true(sim_run_until(c, not_leader, &leader, SC_ET));
        sc_ok(c);
        assert_int_equal(raft_state(sim_raft(c, leader)), RAFT_FAILED);
        assert_true(sim_is_failstopped(c, leader));
        for (int k = 0; k < 3; k++) {
            int status = 0;
            assert_true(sim_proposal_done(c, ids[k], &status, NULL));
            assert_int_equal(status, RAFT_EIO);
        }
        unsigned next = sc_leader(c);
        assert_int_not_equal(next, leader);
        sc_commit(c, next, 3);
        sc_run(c, 5 * SC_ET);
        assert_int_equal(raft_state(sim_raft(c, leader)), RAFT_FAILED);
        assert_int_not_equal(sim_propose(c, leader, RAFT_COMMAND, 32, NULL), 0);
        sc_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_propose_on_follower_is_refused),
        CV_TEST(test_old_leader_rejoins_and_is_overwritten),
        CV_TEST(test_far_behind_follower_catches_up),
        CV_TEST(test_pipelining),
        CV_TEST(test_leadership_lost_fails_pending),
        CV_TEST(test_disk_error_on_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
