/*
 * cluster_internal: the structures shared by the cluster fixture
 * (cluster.c) and its invariant checker (check.c). Nothing else includes it.
 */
#ifndef SIM_CLUSTER_INTERNAL_H
#define SIM_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/cluster.h"

#define SIM_STALE_POOL 24

/* A message in transit: the raft_msg with its entries and their data
 * copied into the same allocation. */
struct sim_msg
{
    struct raft_msg m;
    bool counted;  /* counted in the sender's inflight_append */
    bool injected; /* by sim_net_inject: partitions do not apply */
};

enum sim_event_kind
{
    SIM_EV_TICK,
    SIM_EV_DELIVER,
    SIM_EV_DISK,
    SIM_EV_CALL,
};

struct sim_event
{
    uint64_t time;
    uint64_t seq; /* tie-break: the event scheduled first fires first */
    enum sim_event_kind kind;
    unsigned server;
    uint64_t incarnation; /* SIM_EV_DISK: stale once the server crashed */
    struct sim_msg *msg;  /* SIM_EV_DELIVER: owned */
    sim_call_fn fn;       /* SIM_EV_CALL */
    void *arg;
};

/* An entry with owned data, as the disk keeps it. */
struct sim_entry
{
    raft_term term;
    enum raft_entry_type type;
    unsigned char *data;
    size_t len;
    uint64_t chain; /* hash of this entry and every one before it */
};

/* The log as the server asked the disk to make it (raft_io.append calls
 * applied in order, durable or not): a hash chain per index. */
struct sim_mentry
{
    raft_term term;
    uint64_t chain;
};

enum sim_req_kind
{
    SIM_REQ_PERSIST,
    SIM_REQ_APPEND,
    SIM_REQ_SNAP_CHUNK, /* raft_io.snapshot_write */
    SIM_REQ_LOG_RESET,  /* raft_io.snapshot_install: the log restarts after the snapshot */
};

struct sim_req
{
    enum sim_req_kind kind;
    raft_term term; /* PERSIST */
    raft_id vote;
    struct sim_entry *entries; /* APPEND: owned */
    size_t n;
    raft_index first;               /* APPEND: index of entries[0] */
    struct raft_snapshot_meta meta; /* SNAP_CHUNK, LOG_RESET */
    uint64_t offset;                /* SNAP_CHUNK */
    size_t len;
    uint64_t chain; /* LOG_RESET: the history's chain at meta.index */
    bool keep_log;  /* LOG_RESET: only the entries up to meta.index go */
};

struct sim_server
{
    struct sim_cluster *c;
    unsigned idx;
    raft_id id;
    struct raft_io io;
    struct raft *r; /* NULL while crashed */
    uint64_t incarnation;
    bool paused;
    bool failstopped; /* told of a disk error */
    bool disk_fail;
    bool freeing; /* inside raft_free */

    /* Clock: offset + jump + now * (1000 + drift) / 1000. */
    int64_t drift;
    uint64_t offset;
    uint32_t tick_phase;

    /* Disk. */
    uint32_t disk_min, disk_max;
    struct sim_req *q; /* FIFO of requests in flight */
    size_t q_len, q_cap;
    uint64_t q_last_done; /* completion time of the newest request */
    bool persist_outstanding;
    raft_term d_term;
    raft_id d_vote;
    struct sim_entry *dlog; /* durable log, dlog[k] holds index dbase + k + 1 */
    size_t dlog_len, dlog_cap;
    raft_index dbase; /* what the log no longer holds (snapshot, head truncation) */
    uint64_t dbase_chain;
    bool has_snap; /* a durable snapshot: its meta and its contents' chain */
    struct raft_snapshot_meta snap;
    uint64_t snap_chain;
    bool recv_active; /* a snapshot being received, durable up to recv_offset */
    struct raft_snapshot_meta recv;
    uint64_t recv_offset;
    raft_term req_term; /* the last term/vote requested (durable or not) */
    raft_id req_vote;
    struct sim_mentry *mlog; /* mlog[k] holds index mbase + k + 1 */
    size_t mlog_len, mlog_cap;
    raft_index mbase;
    raft_term mbase_term;
    uint64_t mbase_chain;

    /* Events held while paused. */
    struct sim_event *held;
    size_t held_len, held_cap;

    /* Crash arming. */
    enum sim_arm arm;
    enum raft_msg_type arm_msg;
    bool crash_pending; /* crash at the end of the current event */
    bool crash_torn;
    bool muted; /* armed crash before send fired: drop everything else */

    /* What the checker saw of this incarnation. */
    raft_index applied; /* the state machine's index (apply calls, snapshots) */
    uint64_t fsm_chain; /* the chain of what it applied: its state */
    raft_index seen_commit;
    raft_term seen_term;
    raft_term checked_leader_term; /* leader completeness checked for this term */
    raft_term leader_term;         /* led in this term at the end of the last step */
    raft_index leader_last;        /* its last index then */
    raft_index trunc_from;         /* lowest index truncated during this step, or 0 */

    struct sim_stats stats;
};

struct sim_proposal
{
    struct sim_cluster *c;
    uint64_t id;
    unsigned server;
    int rc; /* raft_propose's result */
    raft_index index;
    unsigned calls;
    int status;
};

struct sim_read
{
    struct sim_cluster *c;
    uint64_t id;
    unsigned server;
    int rc;               /* raft_read_index's result */
    raft_index min_index; /* the highest acknowledged index when asked */
    raft_index index;
    unsigned calls;
    int status;
};

/* An open-addressing map from two 64-bit keys to two 64-bit values. Only
 * looked up, never iterated: its layout cannot leak into a run. */
struct sim_map_slot
{
    uint64_t k1, k2, v1, v2;
    bool used;
};
struct sim_map
{
    struct sim_map_slot *slots;
    size_t cap, len;
};

/* A committed (or applied) entry at one index of the one history. */
struct sim_hentry
{
    raft_term term;
    enum raft_entry_type type;
    uint64_t hash;
    uint64_t payload; /* proposal id, 0 when not a sim payload */
    /* The lowest term a server was in when it knew the entry committed:
     * every leader of a later term must hold it (UINT64_MAX: not yet known). */
    raft_term commit_term;
    uint64_t chain; /* the chain of indexes 1..this one */
    bool chain_known;
};

struct sim_checker
{
    struct sim_map logs;     /* (index, term) -> (chain, entry hash) */
    struct sim_map leaders;  /* (term, 0) -> leader id */
    struct sim_map votes;    /* (server id, term) -> candidate granted */
    struct sim_map payloads; /* (proposal id, 0) -> index in history */
    struct sim_hentry *hist; /* hist[i] holds index i + 1 */
    size_t hist_len, hist_cap;
    struct sim_prng prng; /* sampling only: independent of the run's draws */
};

struct sim_cluster
{
    struct sim_options o;
    unsigned n;
    struct sim_prng prng;
    uint64_t now, steps, seq, digest;
    unsigned depth; /* calls into the library on the stack */
    bool failed, shut_down;
    char failure[768];

    struct sim_event *ev; /* binary min-heap on (time, seq) */
    size_t ev_len, ev_cap;

    struct sim_server s[SIM_MAX_SERVERS];

    bool cut[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    uint32_t lat_min[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    uint32_t lat_max[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    unsigned loss, dup, reorder;
    struct sim_msg *stale[SIM_STALE_POOL];
    size_t n_stale;
    sim_msg_hook hook;
    void *hook_arg;

    struct sim_proposal **props; /* props[id - 1] */
    size_t n_props, props_cap;
    uint64_t n_acked;
    struct sim_read **reads; /* reads[id - 1] */
    size_t n_reads, reads_cap;
    raft_index max_acked;

    struct sim_checker chk;
};

/* cluster.c */
void sim_ev_push(struct sim_cluster *c, struct sim_event e);

/* cluster_net.c */
const char *sim_msg_name(enum raft_msg_type t);
void sim_net_send(struct sim_cluster *c, struct sim_server *s, const struct raft_msg *m);
void sim_fire_delivery(struct sim_cluster *c, const struct sim_event *e);

/* cluster_io.c */
/* Keeps an event of a paused server until it resumes. */
void sim_hold(struct sim_server *s, const struct sim_event *e);
void sim_server_init_io(struct sim_server *s);
/* Frees what a server holds (its instance must be gone). */
void sim_server_release(struct sim_server *s);
void sim_fire_tick(struct sim_cluster *c, const struct sim_event *e);
void sim_fire_disk(struct sim_cluster *c, const struct sim_event *e);
/* Crashes s now; never with the library on the stack. */
void sim_do_crash(struct sim_cluster *c, struct sim_server *s, bool torn);

/* check.c */
void sim_checker_init(struct sim_cluster *c);
void sim_checker_free(struct sim_cluster *c);
uint64_t sim_entry_hash(raft_term term, enum raft_entry_type type, const void *data, size_t len);
/* raft_io.append made: the mirror log of s is updated, check log matching. */
void sim_check_append(struct sim_cluster *c, struct sim_server *s, const struct raft_entry *e,
                      size_t n);
void sim_check_persist(struct sim_cluster *c, struct sim_server *s, raft_term term, raft_id vote);
void sim_check_send(struct sim_cluster *c, struct sim_server *s, const struct raft_msg *m);
void sim_check_apply(struct sim_cluster *c, struct sim_server *s, const struct raft_entry *e);
void sim_check_proposal_cb(struct sim_cluster *c, struct sim_proposal *p, int status,
                           raft_index index);
/* The history's chain at index (0 for index 0); false when not known. */
bool sim_hist_chain(const struct sim_cluster *c, raft_index index, uint64_t *chain);
/* The history's term at index, 0 when not known. */
raft_term sim_hist_term(const struct sim_cluster *c, raft_index index);
/* 8 bytes of the contents of the snapshot at index whose state has `chain`. */
uint64_t sim_snap_word(raft_index index, uint64_t chain, uint64_t word);
/* raft_io.snapshot_write: the chunk is the history's state at meta->index. */
void sim_check_snapshot_chunk(struct sim_cluster *c, struct sim_server *s,
                              const struct raft_snapshot_meta *meta, uint64_t offset,
                              const void *data, size_t len);
void sim_check_read_cb(struct sim_cluster *c, struct sim_read *rd, int status, raft_index index);
/* After every step. */
void sim_check_step(struct sim_cluster *c);
/* Resets what the checker tracks of a server's incarnation. */
void sim_check_reset_server(struct sim_server *s);

#endif
