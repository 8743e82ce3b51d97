/*
 * test_raft_membership: scenarios for the leader duties that need no
 * client entry of their own: membership changes (removing the leader,
 * adding a server back as a non-voter and promoting it), leadership
 * transfer under load, and linearizable reads, including a read asked of a
 * leader that was cut off. The fixture checks every safety invariant after
 * every step.
 */
#include "tests/sim/scenario.h"

#include <string.h>

struct change
{
    int calls;
    int status;
};

static void on_change(void *data, int status, raft_index index)
{
    (void)index;
    struct change *ch = data;
    ch->calls++;
    ch->status = status;
}

static bool change_done(struct sim_cluster *c, void *arg)
{
    (void)c;
    return ((struct change *)arg)->calls > 0;
}

static size_t voters(struct raft *r, raft_id *ids)
{
    struct raft_server servers[RAFT_MAX_SERVERS];
    size_t n = raft_configuration(r, servers, RAFT_MAX_SERVERS), v = 0;
    for (size_t i = 0; i < n; i++) {
        if (servers[i].voter) {
            ids[v++] = servers[i].id;
        }
    }
    return v;
}

static bool leader_other_than(struct sim_cluster *c, void *arg)
{
    int leader = sim_leader(c);
    return leader >= 0 && leader != *(int *)arg;
}

/* Removing the leader: it keeps leading until the change commits, then
 * steps down and never campaigns again; the other two go on committing. */
static void test_remove_the_leader(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 21);
    unsigned old = sc_leader(c);
    sc_commit(c, old, 5);

    struct change ch = {0};
    assert_int_equal(raft_remove(sim_raft(c, old), old + 1, on_change, &ch), 0);
    /* one change at a time */
    struct change second = {0};
    assert_int_equal(raft_remove(sim_raft(c, old), (old + 1) % 3 + 1, on_change, &second),
                     RAFT_EBUSY);
    assert_true(sim_run_until(c, change_done, &ch, 10 * SC_ET));
    sc_ok(c);
    assert_int_equal(ch.status, 0);
    assert_int_equal(second.calls, 0);

    int was = (int)old;
    assert_true(sim_run_until(c, leader_other_than, &was, 10 * SC_ET));
    sc_ok(c);
    unsigned leader = (unsigned)sim_leader(c);
    assert_int_not_equal(raft_state(sim_raft(c, old)), RAFT_LEADER);
    raft_id ids[RAFT_MAX_SERVERS];
    assert_int_equal(voters(sim_raft(c, leader), ids), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(ids[i] != old + 1);
    }
    sc_commit(c, leader, 5);

    /* The removed server is not a voter: it never starts an election. */
    raft_term term = raft_current_term(sim_raft(c, leader));
    sim_net_isolate(c, old);
    sc_run(c, 10 * SC_ET);
    assert_int_not_equal(raft_state(sim_raft(c, old)), RAFT_CANDIDATE);
    assert_int_not_equal(raft_state(sim_raft(c, old)), RAFT_PRECANDIDATE);
    assert_u64_equal(raft_current_term(sim_raft(c, leader)), term);
    sc_free(c);
}

static bool caught_up(struct sim_cluster *c, void *arg)
{
    unsigned *who = arg; /* {leader, server} */
    struct raft *r = sim_raft(c, who[0]);
    return r && raft_match_index(r, who[1] + 1) >= raft_last_index(r);
}

/* A removed server comes back as a non-voter, catches up, is promoted,
 * and then counts: with it as a voter the cluster survives losing one of
 * the other two. */
static void test_add_back_catch_up_and_promote(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 22);
    unsigned leader = sc_leader(c);
    unsigned out = (leader + 1) % 3;
    struct change ch = {0};
    assert_int_equal(raft_remove(sim_raft(c, leader), out + 1, on_change, &ch), 0);
    assert_true(sim_run_until(c, change_done, &ch, 10 * SC_ET));
    sc_commit(c, leader, 20); /* entries it does not have */

    memset(&ch, 0, sizeof ch);
    assert_int_equal(raft_add(sim_raft(c, leader), out + 1, on_change, &ch), 0);
    assert_true(sim_run_until(c, change_done, &ch, 10 * SC_ET));
    sc_ok(c);
    assert_int_equal(ch.status, 0);
    raft_id ids[RAFT_MAX_SERVERS];
    assert_int_equal(voters(sim_raft(c, leader), ids), 2); /* a non-voter first */
    /* promote refuses a server that is not a non-voter */
    assert_int_equal(raft_promote(sim_raft(c, leader), leader + 1, on_change, &ch), RAFT_EINVAL);

    unsigned who[2] = {leader, out};
    assert_true(sim_run_until(c, caught_up, who, 10 * SC_ET));
    memset(&ch, 0, sizeof ch);
    assert_int_equal(raft_promote(sim_raft(c, leader), out + 1, on_change, &ch), 0);
    assert_true(sim_run_until(c, change_done, &ch, 10 * SC_ET));
    sc_ok(c);
    assert_int_equal(voters(sim_raft(c, leader), ids), 3);

    /* Cut the third server off: the leader and the promoted one are a quorum. */
    unsigned third = 3 - leader - out;
    sim_net_isolate(c, third);
    sc_commit(c, (unsigned)sim_leader(c), 5);
    sc_free(c);
}

static bool is_leader(struct sim_cluster *c, void *arg)
{
    return sim_leader(c) == *(int *)arg;
}

/* Leadership transfer while proposals keep arriving: the target takes over
 * within an election timeout, proposals are refused with RAFT_EBUSY while
 * the transfer runs (never lost silently), and every acknowledged one is
 * applied exactly once (checked by the fixture). */
static void test_transfer_under_load(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(5, 23);
    unsigned old = sc_leader(c);
    sc_commit(c, old, 10);
    int target = (int)(old + 2) % 5;
    int busy = 0, started = 0;
    uint64_t id = 0;
    for (int k = 0; k < 200 && sim_leader(c) != target; k++) {
        int rc = sim_propose(c, old, RAFT_COMMAND, 48, &id);
        busy += rc == RAFT_EBUSY;
        if (k == 20) {
            assert_int_equal(sim_transfer(c, old, (unsigned)target), 0);
            started = 1;
            assert_int_equal(sim_transfer(c, old, (unsigned)target), RAFT_EBUSY);
        }
        sc_run(c, 2);
    }
    assert_true(started);
    assert_true(sim_run_until(c, is_leader, &target, SC_ET));
    sc_ok(c);
    assert_true(busy > 0);
    sc_commit(c, (unsigned)target, 5);
    sc_free(c);
}

static bool read_done(struct sim_cluster *c, void *arg)
{
    return sim_read_done(c, *(uint64_t *)arg, NULL, NULL);
}

/* A read on the leader is served at an index covering every acknowledged
 * proposal; a read asked of a leader cut off from the others never
 * succeeds: it fails once that leader steps down. */
static void test_read_index(void **state)
{
    (void)state;
    struct sim_cluster *c = sc_new(3, 24);
    unsigned leader = sc_leader(c);
    raft_index last = sc_commit(c, leader, 10);

    uint64_t rid = 0;
    assert_int_equal(sim_read(c, leader, &rid), 0);
    assert_true(sim_run_until(c, read_done, &rid, 5 * SC_ET));
    sc_ok(c);
    int status = -1;
    raft_index at = 0;
    assert_true(sim_read_done(c, rid, &status, &at));
    assert_int_equal(status, 0);
    assert_true(at >= last);

    /* On a follower: refused at once. */
    unsigned follower = (leader + 1) % 3;
    assert_int_equal(sim_read(c, follower, NULL), RAFT_ENOTLEADER);

    /* Cut the leader off, then ask it: the read cannot be confirmed. */
    sim_net_isolate(c, leader);
    assert_int_equal(sim_read(c, leader, &rid), 0);
    assert_true(sim_run_until(c, read_done, &rid, 10 * SC_ET));
    sc_ok(c);
    assert_true(sim_read_done(c, rid, &status, &at));
    assert_int_equal(status, RAFT_ELEADERSHIPLOST);
    sc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_the_leader),
        cmocka_unit_test(test_add_back_catch_up_and_promote),
        cmocka_unit_test(test_transfer_under_load),
        cmocka_unit_test(test_read_index),
    };
    return cmocka_run_group_tests_name("raft_membership", tests, NULL, NULL);
}
