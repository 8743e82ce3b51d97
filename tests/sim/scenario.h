/*
 * scenario: helpers shared by the targeted Raft scenario tests
 * (tests/sim/test_raft_*.c), over the cluster fixture.
 *
 * Scenarios use fixed latencies and no clock drift so their timing claims
 * (a step-down within two election timeouts) are exact; the fixture still
 * checks every safety invariant after every step, and each helper fails
 * the test on the first violation. SIM_VERBOSE=1 in the environment traces
 * every event of a scenario on stdout.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "tests/sim/cluster.h"

#define SC_ET 200 /* election timeout base of every scenario, ms */

static inline struct sim_cluster *sc_new(unsigned n, uint64_t seed)
{
    struct sim_options o;
    sim_options_default(&o);
    o.n_servers = n;
    o.seed = seed;
    o.election_ms = SC_ET;
    o.heartbeat_ms = SC_ET / 5;
    o.net_min_ms = 2;
    o.net_max_ms = 6;
    o.disk_min_ms = 1;
    o.disk_max_ms = 3;
    o.max_drift_permille = 0;
    o.randomize_links = false;
    o.verbose = getenv("SIM_VERBOSE") != NULL; /* trace a scenario: SIM_VERBOSE=1 */
    return sim_cluster_new(&o);
}

#define sc_ok(c) sc_ok_at((c), __FILE__, __LINE__)
static inline void sc_ok_at(struct sim_cluster *c, const char *file, int line)
{
    const char *failure = sim_failure(c);
    if (failure) {
        print_error("invariant violated: %s\n", failure);
        _fail(file, line);
    }
}

/* Runs until a leader exists (within 10 election timeouts) and returns it. */
#define sc_leader(c) sc_leader_at((c), __FILE__, __LINE__)
static inline unsigned sc_leader_at(struct sim_cluster *c, const char *file, int line)
{
    bool found = sim_run_until_leader(c, 10 * SC_ET);
    sc_ok_at(c, file, line);
    if (!found) {
        print_error("no leader within %d ms\n", 10 * SC_ET);
        _fail(file, line);
    }
    return (unsigned)sim_leader(c);
}

static inline bool sc_done_pred(struct sim_cluster *c, void *arg)
{
    return sim_proposal_done(c, *(uint64_t *)arg, NULL, NULL);
}

/* Proposes `count` entries on server i and runs until the last is done;
 * every one must commit. Returns the index of the last. */
#define sc_commit(c, i, count) sc_commit_at((c), (i), (count), __FILE__, __LINE__)
static inline raft_index sc_commit_at(struct sim_cluster *c, unsigned i, unsigned count,
                                      const char *file, int line)
{
    uint64_t first = 0, id = 0;
    for (unsigned k = 0; k < count; k++) {
        int rc = sim_propose(c, i, RAFT_COMMAND, 32, &id);
        if (rc != 0) {
            print_error("proposal on server %u refused: %s\n", i, raft_strerror(rc));
            _fail(file, line);
        }
        first = first ? first : id;
    }
    sim_run_until(c, sc_done_pred, &id, 20 * SC_ET);
    sc_ok_at(c, file, line);
    raft_index index = 0;
    for (uint64_t p = first; p <= id; p++) {
        int status = 0;
        if (!sim_proposal_done(c, p, &status, &index) || status != 0) {
            print_error("proposal %llu not committed (status %d)\n", (unsigned long long)p, status);
            _fail(file, line);
        }
    }
    return index;
}

/* Runs for ms and fails on any violation. */
#define sc_run(c, ms) sc_run_at((c), (ms), __FILE__, __LINE__)
static inline void sc_run_at(struct sim_cluster *c, uint64_t ms, const char *file, int line)
{
    sim_run_for(c, ms);
    sc_ok_at(c, file, line);
}

/* Shuts down (checking every callback came) and frees. */
#define sc_free(c) sc_free_at((c), __FILE__, __LINE__)
static inline void sc_free_at(struct sim_cluster *c, const char *file, int line)
{
    sim_cluster_shutdown(c);
    const char *failure = sim_failure(c);
    if (failure) {
        print_error("invariant violated: %s\n", failure);
    }
    sim_cluster_free(c);
    if (failure) {
        _fail(file, line);
    }
}

#endif
