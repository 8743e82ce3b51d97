/*
 * raft-sim: the deterministic Raft simulator.
 *
 *   raft-sim [--seeds N] [--first-seed S] [--servers 3|5] [--steps K]
 *            [--election-ms MS] [--check-determinism] [--verbose]
 *
 * Each seed runs one cluster (cluster.h) through three phases:
 *   1. faults, for K steps: a nemesis fires every few hundred simulated
 *      milliseconds and picks a fault (partitions symmetric and one-way, an
 *      isolated leader, crashes clean or torn, crashes armed at a
 *      persistence step, pauses longer than an election timeout, clock
 *      jumps, slow and failing disks, loss, duplication, reordering, stale
 *      messages replayed, leadership transfers, everyone crashing at once)
 *      while a client proposes unique payloads and asks for reads;
 *   2. heal: every fault is lifted (fail-stopped servers stay down); within
 *      10 election timeouts (30 without pre-vote) a leader must commit a new proposal and serve a
 *      read, then within 10 more every live server must have applied every
 *      acknowledged proposal;
 *   3. shutdown: every accepted proposal and read got exactly one callback.
 * The invariants are checked after every step (check.c). A failing seed is
 * printed with the command line that replays it; exit status 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/cluster.h"

struct args
{
    uint64_t seeds, first_seed, steps;
    unsigned servers;
    uint32_t election_ms;
    bool verbose, determinism;
};

struct driver;
struct server_arg
{
    struct driver *d;
    unsigned i;
};

struct driver
{
    struct sim_cluster *c;
    unsigned n;
    uint64_t et; /* election timeout base, ms */
    bool faults; /* the fault phase is on */
    unsigned disk_failures;
    struct server_arg srv[SIM_MAX_SERVERS];
};

static struct sim_prng *rng(struct driver *d)
{
    return sim_prng(d->c);
}

static unsigned pick(struct driver *d, unsigned n)
{
    return (unsigned)sim_prng_range(rng(d), 0, n - 1);
}

/* A running server other than a fail-stopped one, or -1. */
static int pick_up(struct driver *d)
{
    unsigned start = pick(d, d->n);
    for (unsigned k = 0; k < d->n; k++) {
        unsigned i = (start + k) % d->n;
        if (sim_is_up(d->c, i) && !sim_is_failstopped(d->c, i)) {
            return (int)i;
        }
    }
    return -1;
}

static void restart_cb(struct sim_cluster *c, void *arg)
{
    struct server_arg *a = arg;
    if (!sim_is_up(c, a->i) && !sim_is_failstopped(c, a->i)) {
        sim_restart(c, a->i);
    }
}

static void resume_cb(struct sim_cluster *c, void *arg)
{
    struct server_arg *a = arg;
    sim_resume(c, a->i);
}

static void disk_restore_cb(struct sim_cluster *c, void *arg)
{
    struct server_arg *a = arg;
    const struct sim_options *o = sim_options(c);
    sim_disk_set_latency(c, a->i, o->disk_min_ms, o->disk_max_ms);
}

static void schedule_restart(struct driver *d, unsigned i)
{
    sim_at(d->c, sim_prng_range(rng(d), 10, 4 * d->et), restart_cb, &d->srv[i]);
}

static void partition(struct driver *d)
{
    unsigned side = (unsigned)sim_prng_range(rng(d), 1, (1u << d->n) - 2);
    sim_log(d->c, "nemesis: partition %#x | %#x", side, ((1u << d->n) - 1) & ~side);
    for (unsigned a = 0; a < d->n; a++) {
        for (unsigned b = 0; b < d->n; b++) {
            if (((side >> a) & 1) != ((side >> b) & 1)) {
                sim_net_cut(d->c, a, b, true);
            }
        }
    }
}

static void one_way(struct driver *d)
{
    unsigned cuts = (unsigned)sim_prng_range(rng(d), 1, d->n);
    for (unsigned k = 0; k < cuts; k++) {
        unsigned a = pick(d, d->n), b = pick(d, d->n);
        if (a != b) {
            sim_log(d->c, "nemesis: cut %u -> %u", a, b);
            sim_net_cut(d->c, a, b, true);
        }
    }
}

static void crash_one(struct driver *d)
{
    int i = pick_up(d);
    if (i < 0) {
        return;
    }
    sim_crash(d->c, (unsigned)i, sim_prng_chance(rng(d), 500) ? SIM_CRASH_TORN : SIM_CRASH_CLEAN);
    schedule_restart(d, (unsigned)i);
}

static void arm_crash(struct driver *d)
{
    static const enum raft_msg_type types[] = {RAFT_MSG_APPEND_RESULT, RAFT_MSG_VOTE_RESULT,
                                               RAFT_MSG_APPEND, RAFT_MSG_VOTE,
                                               RAFT_MSG_PREVOTE_RESULT};
    int i = pick_up(d);
    if (i < 0) {
        return;
    }
    enum sim_arm arm =
        (enum sim_arm)sim_prng_range(rng(d), SIM_ARM_AFTER_DURABLE, SIM_ARM_AFTER_VOTE_DURABLE);
    enum raft_msg_type type = types[pick(d, sizeof types / sizeof types[0])];
    sim_log(d->c, "nemesis: arm crash point %d (message %d) on server %d", (int)arm, (int)type, i);
    sim_arm_crash(d->c, (unsigned)i, arm, type);
    /* Restart it some time after the crash point is likely to have fired. */
    sim_at(d->c, sim_prng_range(rng(d), d->et, 5 * d->et), restart_cb, &d->srv[i]);
}

static void pause_one(struct driver *d)
{
    int leader = sim_leader(d->c);
    int i = leader >= 0 && sim_prng_chance(rng(d), 600) ? leader : pick_up(d);
    if (i < 0) {
        return;
    }
    sim_pause(d->c, (unsigned)i);
    sim_at(d->c, sim_prng_range(rng(d), d->et, 3 * d->et), resume_cb, &d->srv[i]);
}

static void nemesis_action(struct driver *d)
{
    struct sim_cluster *c = d->c;
    unsigned roll = pick(d, 100);
    int leader = sim_leader(c);
    if (roll < 10) {
        partition(d);
    } else if (roll < 17) {
        one_way(d);
    } else if (roll < 25) {
        if (leader >= 0) {
            sim_net_isolate(c, (unsigned)leader);
        }
    } else if (roll < 40) {
        sim_log(c, "nemesis: heal network");
        sim_net_heal(c);
    } else if (roll < 50) {
        crash_one(d);
    } else if (roll < 60) {
        arm_crash(d);
    } else if (roll < 66) {
        pause_one(d);
    } else if (roll < 68) {
        int i = pick_up(d);
        if (i >= 0 && d->disk_failures < (d->n - 1) / 2) {
            d->disk_failures++;
            sim_disk_fail(c, (unsigned)i);
        }
    } else if (roll < 72) {
        unsigned i = pick(d, d->n);
        uint32_t lo = (uint32_t)sim_prng_range(rng(d), 10, d->et / 2);
        sim_log(c, "nemesis: server %u disk slow (%u ms)", i, lo);
        sim_disk_set_latency(c, i, lo, 2 * lo);
        sim_at(c, sim_prng_range(rng(d), d->et, 5 * d->et), disk_restore_cb, &d->srv[i]);
    } else if (roll < 80) {
        unsigned loss = (unsigned)sim_prng_range(rng(d), 0, 200);
        unsigned dup = (unsigned)sim_prng_range(rng(d), 0, 100);
        unsigned reorder = (unsigned)sim_prng_range(rng(d), 0, 50);
        sim_log(c, "nemesis: loss %u dup %u reorder %u permille", loss, dup, reorder);
        sim_net_set_faults(c, loss, dup, reorder);
    } else if (roll < 88) {
        sim_net_replay_stale(c, (unsigned)sim_prng_range(rng(d), 1, 6));
    } else if (roll < 92) {
        sim_clock_jump(c, pick(d, d->n), sim_prng_range(rng(d), d->et / 2, 3 * d->et));
    } else if (roll < 97) {
        if (leader >= 0) {
            unsigned target = pick(d, d->n);
            if (target != (unsigned)leader) {
                sim_transfer(c, (unsigned)leader, target);
            }
        }
    } else if (roll < 99) {
        crash_one(d);
        crash_one(d);
    } else {
        sim_log(c, "nemesis: everyone crashes");
        for (unsigned i = 0; i < d->n; i++) {
            if (sim_is_up(c, i) && !sim_is_failstopped(c, i)) {
                sim_crash(c, i, SIM_CRASH_TORN);
                schedule_restart(d, i);
            }
        }
    }
}

static void nemesis_cb(struct sim_cluster *c, void *arg)
{
    struct driver *d = arg;
    if (!d->faults) {
        return;
    }
    nemesis_action(d);
    sim_at(c, sim_prng_range(rng(d), d->et / 5, 2 * d->et), nemesis_cb, d);
}

static void client_cb(struct sim_cluster *c, void *arg)
{
    struct driver *d = arg;
    if (!d->faults) {
        return;
    }
    int leader = sim_leader(c);
    int target = leader >= 0 && sim_prng_chance(rng(d), 850) ? leader : pick_up(d);
    if (target >= 0 && !sim_is_paused(c, (unsigned)target)) {
        unsigned burst = sim_prng_chance(rng(d), 100) ? (unsigned)sim_prng_range(rng(d), 2, 20) : 1;
        for (unsigned k = 0; k < burst; k++) {
            enum raft_entry_type type = sim_prng_chance(rng(d), 50) ? RAFT_BARRIER : RAFT_COMMAND;
            sim_propose(c, (unsigned)target, type, sim_prng_range(rng(d), 12, 200), NULL);
        }
        if (sim_prng_chance(rng(d), 150)) {
            sim_read(c, (unsigned)target, NULL);
        }
    }
    sim_at(c, sim_prng_range(rng(d), 1, 30), client_cb, d);
}

/* The state machine's owner snapshots now and then, as the daemon will. */
static void snapshot_cb(struct sim_cluster *c, void *arg)
{
    struct driver *d = arg;
    if (!d->faults) {
        return;
    }
    int i = pick_up(d);
    if (i >= 0 && !sim_is_paused(c, (unsigned)i)) {
        raft_index applied = raft_applied_index(sim_raft(c, (unsigned)i));
        if (applied >= sim_snapshot_index(c, (unsigned)i) + 20) {
            uint64_t size = sim_prng_chance(rng(d), 700) ? sim_prng_range(rng(d), 16, 4096)
                                                         : sim_prng_range(rng(d), 4096, 700 << 10);
            sim_take_snapshot(c, (unsigned)i, size, sim_prng_range(rng(d), 0, 64));
        }
    }
    sim_at(c, sim_prng_range(rng(d), d->et / 4, 2 * d->et), snapshot_cb, d);
}

static bool proposal_done(struct sim_cluster *c, void *arg)
{
    return sim_proposal_done(c, *(uint64_t *)arg, NULL, NULL);
}

static bool read_done(struct sim_cluster *c, void *arg)
{
    return sim_read_done(c, *(uint64_t *)arg, NULL, NULL);
}

static bool caught_up(struct sim_cluster *c, void *arg)
{
    return sim_min_applied(c) >= *(raft_index *)arg;
}

/* After the heal: a leader commits a new proposal and serves a read within
 * 10 election timeouts, then every live server catches up within 10 more.
 * Without pre-vote the first bound is 30 election timeouts: a server whose
 * log is behind then still runs elections it cannot win, and when only one
 * server can win (the others failed) it gets through only in the rounds
 * where its random timeout beats the loser's by a network latency. */
static void liveness(struct driver *d)
{
    struct sim_cluster *c = d->c;
    uint64_t bound = (sim_options(c)->pre_vote ? 10 : 30) * d->et;
    uint64_t deadline = sim_now(c) + bound;
    bool committed = false, read = false;
    while (!sim_failure(c) && sim_now(c) < deadline && !(committed && read)) {
        if (!sim_run_until_leader(c, deadline - sim_now(c))) {
            break;
        }
        unsigned leader = (unsigned)sim_leader(c);
        uint64_t id;
        int status = -1;
        if (!committed && sim_propose(c, leader, RAFT_COMMAND, 16, &id) == 0) {
            sim_run_until(c, proposal_done, &id, deadline - sim_now(c));
            committed = sim_proposal_done(c, id, &status, NULL) && status == 0;
        } else if (committed && sim_read(c, leader, &id) == 0) {
            sim_run_until(c, read_done, &id, deadline - sim_now(c));
            read = sim_read_done(c, id, &status, NULL) && status == 0;
        } else {
            sim_run_for(c, SIM_TICK_MS);
        }
    }
    if (sim_failure(c)) {
        return;
    }
    if (!committed || !read) {
        sim_fail(c, "liveness",
                 "%s within %" PRIu64 " ms (%" PRIu64 " election timeouts) of the heal",
                 sim_leader(c) < 0 ? "no leader"
                 : !committed      ? "no proposal committed"
                                   : "no read served",
                 bound, bound / d->et);
        return;
    }
    raft_index target = sim_max_acked_index(c);
    if (!sim_run_until(c, caught_up, &target, 10 * d->et) && !sim_failure(c)) {
        sim_fail(c, "liveness",
                 "live servers applied only up to %" PRIu64 " of %" PRIu64 " within %" PRIu64 " ms",
                 sim_min_applied(c), target, 10 * d->et);
        return;
    }
    sim_check_acked_applied(c);
}

struct result
{
    bool ok;
    uint64_t digest, steps, acked, time;
    char failure[800];
};

static void run_seed(const struct args *a, uint64_t seed, struct result *res)
{
    struct sim_prng setup;
    sim_prng_seed(&setup, seed ^ 0x5e7u);
    struct sim_options o;
    sim_options_default(&o);
    o.n_servers = a->servers;
    o.seed = seed;
    o.election_ms = a->election_ms;
    o.heartbeat_ms = a->election_ms / 5;
    o.net_max_ms = (uint32_t)sim_prng_range(&setup, 2, a->election_ms / 5);
    o.disk_max_ms = (uint32_t)sim_prng_range(&setup, 1, a->election_ms / 10);
    o.max_drift_permille = (uint32_t)sim_prng_range(&setup, 0, 100);
    o.pre_vote = !sim_prng_chance(&setup, 125);
    o.check_quorum = !sim_prng_chance(&setup, 125);
    o.snapshots = !sim_prng_chance(&setup, 250);
    o.verbose = a->verbose;

    struct driver d = {.n = a->servers, .et = a->election_ms, .faults = true};
    d.c = sim_cluster_new(&o);
    for (unsigned i = 0; i < d.n; i++) {
        d.srv[i] = (struct server_arg){.d = &d, .i = i};
    }
    sim_log(d.c,
            "seed %" PRIu64
            ": %u servers, network 1..%u ms, disk 1..%u ms, drift %u, "
            "pre-vote %d, check-quorum %d, snapshots %d",
            seed, o.n_servers, o.net_max_ms, o.disk_max_ms, o.max_drift_permille, o.pre_vote,
            o.check_quorum, o.snapshots);
    sim_at(d.c, d.et, nemesis_cb, &d);
    sim_at(d.c, 1, client_cb, &d);
    if (o.snapshots) {
        sim_at(d.c, d.et, snapshot_cb, &d);
    }
    while (sim_steps(d.c) < a->steps && sim_step(d.c)) {
    }
    if (!sim_failure(d.c)) {
        d.faults = false;
        sim_heal_all(d.c);
        liveness(&d);
    }
    sim_cluster_shutdown(d.c);
    const char *failure = sim_failure(d.c);
    res->ok = failure == NULL;
    snprintf(res->failure, sizeof res->failure, "%s", failure ? failure : "");
    res->digest = sim_digest(d.c);
    res->steps = sim_steps(d.c);
    res->acked = sim_proposals_acked(d.c);
    res->time = sim_now(d.c);
    sim_cluster_free(d.c);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: raft-sim [--seeds N] [--first-seed S] [--servers 3|5] [--steps K]\n"
            "                [--election-ms MS] [--check-determinism] [--verbose]\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, struct args *a)
{
    *a =
        (struct args){.seeds = 1, .first_seed = 1, .steps = 8000, .servers = 3, .election_ms = 200};
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        const char *flag = argv[i];
        if (!strcmp(flag, "--verbose")) {
            a->verbose = true;
        } else if (!strcmp(flag, "--check-determinism")) {
            a->determinism = true;
        } else if (i + 1 < argc && parse_u64(argv[i + 1], &v)) {
            i++;
            if (!strcmp(flag, "--seeds")) {
                a->seeds = v;
            } else if (!strcmp(flag, "--first-seed")) {
                a->first_seed = v;
            } else if (!strcmp(flag, "--steps")) {
                a->steps = v;
            } else if (!strcmp(flag, "--servers") && v >= 1 && v <= SIM_MAX_SERVERS) {
                a->servers = (unsigned)v;
            } else if (!strcmp(flag, "--election-ms") && v >= 50 && v <= 100000) {
                a->election_ms = (uint32_t)v;
            } else {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    struct args a;
    if (!parse_args(argc, argv, &a)) {
        usage();
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0); /* for the report only, never for decisions */
    uint64_t passed = 0, failed = 0, acked = 0, simulated = 0;
    static struct result res, again;
    for (uint64_t k = 0; k < a.seeds; k++) {
        uint64_t seed = a.first_seed + k;
        run_seed(&a, seed, &res);
        if (res.ok && a.determinism) {
            run_seed(&a, seed, &again);
            if (again.digest != res.digest || again.steps != res.steps || !again.ok) {
                res.ok = false;
                snprintf(res.failure, sizeof res.failure,
                         "seed=%" PRIu64
                         " invariant=determinism: two runs differ (digest %016" PRIx64
                         " vs %016" PRIx64 ", steps %" PRIu64 " vs %" PRIu64 ")",
                         seed, res.digest, again.digest, res.steps, again.steps);
            }
        }
        acked += res.acked;
        simulated += res.time;
        if (res.ok) {
            passed++;
            continue;
        }
        failed++;
        printf("raft-sim: FAILED %s\n", res.failure);
        printf("raft-sim: reproduce with: raft-sim --seeds 1 --first-seed %" PRIu64
               " --servers %u --steps %" PRIu64 " --election-ms %u --verbose\n",
               seed, a.servers, a.steps, a.election_ms);
        fflush(stdout);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("raft-sim: %" PRIu64 " proposals acknowledged, %.1f s simulated, %.2f s elapsed\n",
           acked, (double)simulated / 1000.0, secs);
    printf("raft-sim: %" PRIu64 " seeds, %u servers, %" PRIu64 " steps: %" PRIu64
           " passed, %" PRIu64 " failed\n",
           a.seeds, a.servers, a.steps, passed, failed);
    return failed ? 1 : 0;
}
