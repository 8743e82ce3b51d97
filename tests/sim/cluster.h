/*
 * cluster: a whole Raft cluster in one process, on a simulated network, a
 * simulated disk per server and virtual time, for the simulator (raft-sim)
 * and the targeted scenario tests.
 *
 * How it works. Each server is a `struct raft` driven through a
 * `struct raft_io` implemented here: sends become delivery events, persist
 * and append requests become disk-completion events, now_ms() reads the
 * server's own (skewed) clock, random() draws from the cluster's one seeded
 * generator. Time is virtual milliseconds. sim_step() fires the single
 * earliest pending event (a delivery, a disk completion, a tick every
 * SIM_TICK_MS per server, or a scheduled call such as a fault or a client
 * proposal); ties go to the event scheduled first. Nothing depends on
 * addresses or wall time, so a seed replays the same run.
 *
 * After every step the cluster checks the safety invariants (check.c):
 * election safety, log matching, leader append-only, leader completeness,
 * state machine safety, commit-is-durable-on-a-quorum, durable term and
 * vote before any message of that term, no double vote across restarts,
 * acknowledgement only of durable entries, fail-stop after a disk error,
 * exactly one callback per accepted proposal. The first violation is kept
 * (sim_failure()) and every later sim_step() returns false.
 *
 * The disk. Requests complete in the order made (one FIFO per server) after
 * a latency drawn per request. A completed request is durable; a crash
 * drops every request still in flight and may tear the oldest one (an
 * append keeps a prefix of its entries, possibly only its truncation; a
 * persist is either written or not). A disk told to fail reports RAFT_EIO
 * for every request from then on.
 *
 * Servers are numbered 0..n-1 here; their raft ids are 1..n.
 */
#ifndef SIM_CLUSTER_H
#define SIM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "regiond/raft/raft.h"
#include "tests/sim/prng.h"

#define SIM_MAX_SERVERS RAFT_MAX_SERVERS
#define SIM_TICK_MS     10
#define SIM_MSG_TYPES   16 /* above every enum raft_msg_type */

struct sim_cluster;

struct sim_options
{
    unsigned n_servers;
    uint64_t seed;
    uint32_t election_ms;  /* raft_config.election_timeout_ms */
    uint32_t heartbeat_ms; /* raft_config.heartbeat_ms */
    bool pre_vote;
    bool check_quorum;
    /* Each directed link gets a latency range drawn inside [net_min, net_max]. */
    uint32_t net_min_ms;
    uint32_t net_max_ms;
    uint32_t disk_min_ms;
    uint32_t disk_max_ms;
    /* Each server's clock runs at (1000 + d)/1000 of virtual time, d drawn
     * in [-max_drift, max_drift], from an offset in [0, max_offset_ms]. */
    uint32_t max_drift_permille;
    uint32_t max_offset_ms;
    bool randomize_links; /* false: every link uses [net_min, net_max] */
    bool snapshots;       /* provide raft_io's snapshot functions (sim_take_snapshot) */
    bool verbose;         /* trace every event on stdout */
};

/* Defaults: 3 servers, seed 1, election 200 ms, heartbeat 40 ms, pre-vote
 * and check-quorum on, network 1..20 ms, disk 1..8 ms, drift ±5 %. */
void sim_options_default(struct sim_options *o);

/* Creates the cluster and starts every server from an empty disk. */
struct sim_cluster *sim_cluster_new(const struct sim_options *o);
/* Stops every server (pending proposals get RAFT_ESHUTDOWN), then checks
 * that every accepted proposal got exactly one callback. Returns false
 * when that or an earlier invariant failed. Idempotent. */
bool sim_cluster_shutdown(struct sim_cluster *c);
/* Shuts down (if not done) and frees everything. */
void sim_cluster_free(struct sim_cluster *c);

/* ---- running ---------------------------------------------------------- */

/* Fires the earliest event and checks the invariants. False once an
 * invariant failed. */
bool sim_step(struct sim_cluster *c);
/* Runs every event up to now + ms; false on an invariant failure. */
bool sim_run_for(struct sim_cluster *c, uint64_t ms);
typedef bool (*sim_pred)(struct sim_cluster *c, void *arg);
/* Runs until pred holds (checked before the first step and after each),
 * for at most max_ms. True when pred holds. */
bool sim_run_until(struct sim_cluster *c, sim_pred pred, void *arg, uint64_t max_ms);
/* Runs until some server leads (see sim_leader). */
bool sim_run_until_leader(struct sim_cluster *c, uint64_t max_ms);

typedef void (*sim_call_fn)(struct sim_cluster *c, void *arg);
/* Schedules fn(c, arg) as an event delay_ms from now. */
void sim_at(struct sim_cluster *c, uint64_t delay_ms, sim_call_fn fn, void *arg);

uint64_t sim_now(const struct sim_cluster *c);
uint64_t sim_steps(const struct sim_cluster *c);
unsigned sim_n_servers(const struct sim_cluster *c);
const struct sim_options *sim_options(const struct sim_cluster *c);
/* The cluster's generator, for drivers that make random decisions. */
struct sim_prng *sim_prng(struct sim_cluster *c);
/* A digest of every event fired so far: equal digests, equal runs. */
uint64_t sim_digest(const struct sim_cluster *c);

/* The first invariant violation, or NULL. */
const char *sim_failure(const struct sim_cluster *c);
/* Records a failure found by a test or driver (printf-style). */
void sim_fail(struct sim_cluster *c, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a line of trace when verbose (printf-style). */
void sim_log(struct sim_cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- servers ---------------------------------------------------------- */

/* The instance of server i, or NULL while it is crashed. */
struct raft *sim_raft(struct sim_cluster *c, unsigned i);
bool sim_is_up(const struct sim_cluster *c, unsigned i);
bool sim_is_paused(const struct sim_cluster *c, unsigned i);
/* True once the server was told of a disk error (it must stay RAFT_FAILED). */
bool sim_is_failstopped(const struct sim_cluster *c, unsigned i);
/* The server that leads in the highest term among running, unpaused
 * servers, or -1. */
int sim_leader(struct sim_cluster *c);

enum sim_crash
{
    SIM_CRASH_CLEAN, /* every in-flight disk request is lost */
    SIM_CRASH_TORN,  /* the oldest in-flight request is torn, the rest lost */
};

/* Crashes server i now (raft_free, in-flight disk requests dropped or torn). */
void sim_crash(struct sim_cluster *c, unsigned i, enum sim_crash how);
/* Starts a new instance of a crashed server from its durable state. */
void sim_restart(struct sim_cluster *c, unsigned i);

/* Crash points between persistence steps, armed for the next occurrence. */
enum sim_arm
{
    SIM_ARM_NONE,
    SIM_ARM_AFTER_DURABLE,      /* next disk request becomes durable; crash before raft hears */
    SIM_ARM_AFTER_NOTIFY,       /* crash right after raft handled the next disk completion */
    SIM_ARM_AT_REQUEST,         /* crash (torn) right after raft makes its next disk request */
    SIM_ARM_BEFORE_SEND,        /* crash instead of sending the next message of msg_type */
    SIM_ARM_AFTER_SEND,         /* crash right after sending the next message of msg_type */
    SIM_ARM_AFTER_VOTE_DURABLE, /* a persist with a vote became durable; crash before raft hears */
};
/* The send crash points fire, for VOTE_RESULT and PREVOTE_RESULT, only on a
 * granted vote, and for APPEND_RESULT only on a successful acknowledgement. */
void sim_arm_crash(struct sim_cluster *c, unsigned i, enum sim_arm arm,
                   enum raft_msg_type msg_type);

/* A paused server gets no ticks, deliveries or disk completions (they are
 * held and handed over on resume); its clock keeps running. */
void sim_pause(struct sim_cluster *c, unsigned i);
void sim_resume(struct sim_cluster *c, unsigned i);
/* Moves server i's clock forward by ms (a jump). */
void sim_clock_jump(struct sim_cluster *c, unsigned i, uint64_t ms);

/* From now on every disk request of server i fails with RAFT_EIO. */
void sim_disk_fail(struct sim_cluster *c, unsigned i);
void sim_disk_set_latency(struct sim_cluster *c, unsigned i, uint32_t min_ms, uint32_t max_ms);
/* Server i's state machine snapshots itself at its applied index, as the
 * caller of raft_snapshot_taken() does: the snapshot (`size` bytes, made of
 * the history up to that index) is durable at once, then the durable log
 * drops what it covers but `trailing` entries. Returns raft_snapshot_taken's
 * result (RAFT_EINVAL when snapshots are off or nothing new is applied). */
int sim_take_snapshot(struct sim_cluster *c, unsigned i, uint64_t size, raft_index trailing);
/* The index of server i's durable snapshot, or 0. */
raft_index sim_snapshot_index(const struct sim_cluster *c, unsigned i);
raft_term sim_durable_term(const struct sim_cluster *c, unsigned i);
raft_id sim_durable_vote(const struct sim_cluster *c, unsigned i);
raft_index sim_durable_last(const struct sim_cluster *c, unsigned i);

/* ---- network ---------------------------------------------------------- */

/* Cuts or restores the one-way link from -> to (checked at send and at delivery). */
void sim_net_cut(struct sim_cluster *c, unsigned from, unsigned to, bool cut);
/* Cuts both directions between a and b. */
void sim_net_disconnect(struct sim_cluster *c, unsigned a, unsigned b);
/* Cuts every link to and from server i. */
void sim_net_isolate(struct sim_cluster *c, unsigned i);
/* Restores every link. */
void sim_net_heal(struct sim_cluster *c);
void sim_net_set_latency(struct sim_cluster *c, unsigned from, unsigned to, uint32_t min_ms,
                         uint32_t max_ms);
/* Probabilities in permille: drop a message; deliver it twice; delay it
 * by up to 5 election timeouts beyond its link latency (reordering). */
void sim_net_set_faults(struct sim_cluster *c, unsigned loss, unsigned dup, unsigned reorder);
/* Keeps a copy of a sample of sent messages; replays up to `count` of
 * them now, whatever their term (stale messages). */
void sim_net_replay_stale(struct sim_cluster *c, unsigned count);
/* Delivers a copy of msg (from/to are raft ids) after delay_ms, whatever
 * the partitions. */
void sim_net_inject(struct sim_cluster *c, const struct raft_msg *msg, uint64_t delay_ms);

/* Called for every message a server sends, before the network sees it;
 * return false to drop it. */
typedef bool (*sim_msg_hook)(struct sim_cluster *c, void *arg, const struct raft_msg *msg);
void sim_set_msg_hook(struct sim_cluster *c, sim_msg_hook hook, void *arg);

/* Heals every fault: links, loss, duplication, reordering, paused servers
 * resumed, crashed servers restarted, failing disks repaired (except on
 * fail-stopped servers, which stay as they are), disk latencies reset. */
void sim_heal_all(struct sim_cluster *c);

struct sim_stats
{
    uint64_t sent[SIM_MSG_TYPES];              /* messages sent, by enum raft_msg_type */
    uint64_t append_rejections;                /* APPEND_RESULT rejections sent */
    uint64_t append_requests;                  /* raft_io.append calls */
    uint64_t inflight_append[SIM_MAX_SERVERS]; /* APPEND with entries now in transit to a peer */
    uint64_t max_inflight_append[SIM_MAX_SERVERS]; /* the most ever */
};
/* Counters of server i, kept across its restarts. */
const struct sim_stats *sim_stats(const struct sim_cluster *c, unsigned i);
void sim_stats_reset(struct sim_cluster *c);

/* ---- proposals -------------------------------------------------------- */

/* Proposes a fresh unique payload (`len` bytes, at least 12) on server i.
 * Returns raft_propose's result; *id (optional) names the proposal. */
int sim_propose(struct sim_cluster *c, unsigned i, enum raft_entry_type type, size_t len,
                uint64_t *id);
/* Whether proposal `id` got its callback, with its status and index. */
bool sim_proposal_done(const struct sim_cluster *c, uint64_t id, int *status, raft_index *index);
/* How many proposals were made, and how many got a success callback. */
uint64_t sim_proposals(const struct sim_cluster *c);
uint64_t sim_proposals_acked(const struct sim_cluster *c);

/* Asks server i for a linearizable read (raft_read_index) and returns its
 * result; *id (optional) names the read. The checker verifies that a read
 * served at index x comes after every proposal acknowledged before it was
 * asked (no stale read from a deposed leader) and that x is applied on the
 * server when the callback runs. */
int sim_read(struct sim_cluster *c, unsigned i, uint64_t *id);
bool sim_read_done(const struct sim_cluster *c, uint64_t id, int *status, raft_index *index);
/* raft_transfer on server i towards server target. */
int sim_transfer(struct sim_cluster *c, unsigned i, unsigned target);

/* The entries known committed (by any server), in index order. */
raft_index sim_history_len(const struct sim_cluster *c);
/* Checks that every proposal acknowledged with success is applied exactly
 * once by every running server that is not fail-stopped. */
bool sim_check_acked_applied(struct sim_cluster *c);
/* The highest index of a proposal acknowledged with success (0: none). */
raft_index sim_max_acked_index(const struct sim_cluster *c);
/* The lowest applied index among running, non-fail-stopped servers. */
raft_index sim_min_applied(struct sim_cluster *c);

#endif
