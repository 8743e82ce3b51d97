/*
 * test_raft_election: elections in the simulated cluster: one leader,
 * pre-vote against a flapping server, check-quorum, and the vote that must
 * survive a crash.
 */
#include "tests/sim/scenario.h"

static raft_id leader_id(struct sim_cluster *c, unsigned i)
{
    return raft_leader(sim_raft(c, i));
}

/* Three servers elect exactly one leader, which everyone follows and which
 * keeps its term while nothing goes wrong. */
static void test_three_servers_elect_one_leader(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        raft_term term = raft_current_term(sim_raft(c, leader));
        sc_run(c, 10 * SC_ET);
        unsigned leaders = 0;
        for (unsigned i = 0; i < 3; i++) {
            struct raft *r = sim_raft(c, i);
            leaders += raft_state(r) == RAFT_LEADER;
            assert_u64_equal(raft_current_term(r), term);
            assert_u64_equal(leader_id(c, i), leader + 1);
        }
        assert_int_equal(leaders, 1);
        assert_int_equal(sim_leader(c), (int)leader);
        sc_free(c);
    }
}

/* A follower cut off again and again runs pre-votes that fail, so its term
 * never rises; when it rejoins, the healthy leader keeps its term. */
static void test_prevote_keeps_flapping_server_from_disrupting(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct sim_cluster *c = sc_new(3, seed);
        unsigned leader = sc_leader(c);
        sc_commit(c, leader, 3);
        raft_term term = raft_current_term(sim_raft(c, leader));
        unsigned f = (leader + 1) % 3;
        for (int flap = 0; flap < 5; flap++) {
            sim_net_isolate(c, f);
            sc_run(c, 4 * SC_ET); /* several election timeouts alone */
            assert_u64_equal(raft_current_term(sim_raft(c, f)), term);
            sim_net_heal(c);
            sc_run(c, 30);
        }
        sc_run(c, 5 * SC_ET);
        assert_int_equal(sim_leader(c), (int)leader);
        assert_u64_equal(raft_current_term(sim_raft(c, leader)), term);
        assert_u64_equal(raft_current_term(sim_raft(c, f)), term);
        assert_u64_equal(leader_id(c, f), leader + 1);
        sc_commit(c, leader, 1);
        sc_free(c);
    }
}

/* A leader cut off from the majority steps down within about two election
 * timeouts (check-quorum), and the majority elects another. */
static void test_check_quorum_steps_down_isolated_leader(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct sim_cluster *c = sc_new(5, seed);
        unsigned leader = sc_leader(c);
        sc_commit(c, leader, 2);
        sim_net_isolate(c, leader);
        uint64_t cut_at = sim_now(c);
        while (raft_state(sim_raft(c, leader)) == RAFT_LEADER && sim_now(c) - cut_at <= 4 * SC_ET) {
            sim_step(c);
            sc_ok(c);
        }
        uint64_t took = sim_now(c) - cut_at;
        if (took > 2 * SC_ET + SIM_TICK_MS) {
            print_error("isolated leader stepped down after %llu ms\n", (unsigned long long)took);
            fail();
        }
        assert_int_not_equal(raft_state(sim_raft(c, leader)), RAFT_LEADER);
        unsigned next = sc_leader(c);
        assert_int_not_equal(next, leader);
        sc_commit(c, next, 2);
        sc_free(c);
    }
}

struct vote_watch
{
    raft_id from, to;
    raft_term term;
    int replies, granted;
};

static bool watch_votes(struct sim_cluster *c, void *arg, const struct raft_msg *m)
{
    (void)c;
    struct vote_watch *w = arg;
    if (m->type == RAFT_MSG_VOTE_RESULT && m->from == w->from && m->to == w->to &&
        m->term == w->term) {
        w->replies++;
        w->granted += m->granted;
    }
    return true;
}

static bool is_down(struct sim_cluster *c, void *arg)
{
    return !sim_is_up(c, *(unsigned *)arg);
}

/* A server that crashes right after granting its vote (or right after the
 * vote became durable, before it could answer) must not grant another
 * candidate in the same term after restart. */
static void test_vote_survives_crash(void **state)
{
    (void)state;
    static const enum sim_arm arms[] = {SIM_ARM_AFTER_SEND, SIM_ARM_AFTER_VOTE_DURABLE};
    for (size_t a = 0; a < 2; a++) {
        for (uint64_t seed = 1; seed <= 10; seed++) {
            struct sim_cluster *c = sc_new(3, seed);
            unsigned v = 1; /* the voter: it cannot campaign, since nobody hears it */
            sim_net_cut(c, v, 0, true);
            sim_net_cut(c, v, 2, true);
            sim_arm_crash(c, v, arms[a], RAFT_MSG_VOTE_RESULT);
            assert_true(sim_run_until(c, is_down, &v, 20 * SC_ET));
            sc_ok(c);
            raft_term term = sim_durable_term(c, v);
            raft_id voted = sim_durable_vote(c, v);
            assert_true(voted == 1 || voted == 3);
            raft_id other = voted == 1 ? 3 : 1;

            sim_net_isolate(c, v);
            sim_restart(c, v);
            struct vote_watch w = {.from = v + 1, .to = other, .term = term};
            sim_set_msg_hook(c, watch_votes, &w);
            struct raft_msg ask = {.type = RAFT_MSG_VOTE,
                                   .from = other,
                                   .to = v + 1,
                                   .term = term,
                                   .last_log_index = 1000,
                                   .last_log_term = term};
            sim_net_inject(c, &ask, 1);
            sc_run(c, 50);
            assert_int_equal(w.replies, 1);
            assert_int_equal(w.granted, 0);
            assert_u64_equal(sim_durable_vote(c, v), voted);
            assert_u64_equal(sim_durable_term(c, v), term);
            sim_set_msg_hook(c, NULL, NULL);
            sim_heal_all(c);
            sc_commit(c, sc_leader(c), 1);
            sc_free(c);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_three_servers_elect_one_leader),
        CV_TEST(test_prevote_keeps_flapping_server_from_disrupting),
        CV_TEST(test_check_quorum_steps_down_isolated_leader),
        CV_TEST(test_vote_survives_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
