/*
 * server: one region server's core: its Raft instance, the persistence
 * adaptor under it, the transport between the servers and the FSM that
 * applies committed entries to the state store.
 *
 * How it works. Everything runs on one libevent loop. A 10 ms timer ticks
 * Raft; the store's event fd wakes the loop to deliver completions
 * (term/vote durable, entries durable); Raft messages travel as one-way RPC
 * messages "raft.msg" (raft_wire.h encoding) to the peers' RPC addresses;
 * committed entries are applied to the FSM in order, and a local
 * proposal's callback then gets the FSM's result for its entry.
 *
 * Snapshots: after every `snapshot_threshold` applied entries the state
 * store is written (fsm_snapshot_write) to the store as a Raft snapshot and
 * the log before it is dropped, keeping `trailing_logs` entries; a follower
 * too far behind receives the snapshot (InstallSnapshot) and restores its
 * state from it; at start the latest snapshot is restored before the log
 * after it is applied again.
 *
 * What it does not do (yet): membership changes at run time (the voters
 * are the configured servers).
 *
 * Not thread-safe: the loop's thread makes every call.
 */
#ifndef CV_REGIOND_SERVER_H
#define CV_REGIOND_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/rpc.h"
#include "regiond/fsm.h"
#include "regiond/raft/raft.h"
#include "regiond/state/state.h"

struct event_base;
struct srv;

enum srv_store_kind
{
    SRV_STORE_EMBEDDED,
    SRV_STORE_POSTGRES,
};

struct srv_peer
{
    uint64_t id;
    char addr[RPC_ADDR_MAX]; /* RPC address, "host:port" */
};

struct srv_config
{
    uint64_t id;                                 /* this server's Raft id, 1.. */
    char rpc_bind[RPC_ADDR_MAX];                 /* where to listen, "host:port" (port 0: any) */
    char rpc_advertise[RPC_ADDR_MAX];            /* what peers dial ("" : rpc_bind) */
    struct srv_peer peers[RAFT_MAX_SERVERS - 1]; /* the other voters */
    size_t n_peers;

    enum srv_store_kind store;
    const char *data_dir;     /* embedded: the log's directory (borrowed) */
    uint64_t segment_size;    /* embedded: 0 for the default */
    const char *pg_conninfo;  /* postgres (borrowed) */
    const char *pg_schema;    /* postgres (borrowed) */
    unsigned pg_reconnect_ms; /* postgres: 0 for the default */

    uint32_t election_timeout_ms; /* 0: Raft's default */
    uint32_t heartbeat_ms;        /* 0: Raft's default */
    /* A snapshot of the state is taken once this many entries were applied
     * since the last one (0: SRV_SNAPSHOT_THRESHOLD); `trailing` entries
     * before it stay in the log for followers a little behind (0:
     * SRV_TRAILING_LOGS). */
    uint64_t snapshot_threshold;
    uint64_t trailing_logs;
};

#define SRV_SNAPSHOT_THRESHOLD 8192u
#define SRV_TRAILING_LOGS      10240u

/* Opens the store, recovers the log, starts Raft as a follower, listens for
 * RPC and registers "raft.msg". Returns 0, or an error naming what failed
 * (a busy port, an unreadable data dir, a corrupt log, an unreachable
 * database). */
int srv_new(struct event_base *base, const struct srv_config *cfg, struct srv **out,
            struct cv_err *err);

/* Stops everything and frees the server; pending proposals fail with
 * CV_ESHUTDOWN. NULL is ignored. */
void srv_free(struct srv *s);

/* The result of a proposal: status 0 and the entry's index and FSM result
 * once applied here; or CV_ENOTLEADER (leadership lost: the entry may still
 * commit), CV_EIO (the store failed), CV_ESHUTDOWN. `res` is borrowed for
 * the call. */
typedef void (*srv_propose_cb)(void *arg, int status, uint64_t index, const struct fsm_result *res);

/* Proposes an FSM command (copied). cb may be NULL. Returns 0 (cb fires later) or
 * CV_ENOTLEADER / CV_EBUSY-like errors at once (cb never fires). */
int srv_propose(struct srv *s, const void *cmd, size_t len, srv_propose_cb cb, void *arg,
                struct cv_err *err);

/* Called on every server right after each command entry is applied, with
 * the FSM's result (borrowed for the call). Must not call into Raft. One
 * hook; NULL removes it. */
typedef void (*srv_apply_hook)(void *arg, uint64_t index, const struct fsm_result *res);
void srv_set_apply_hook(struct srv *s, srv_apply_hook fn, void *arg);

/* Hands leadership to another voter when this server leads, so a graceful
 * shutdown does not wait for an election timeout. Returns 0 when a transfer
 * started, CV_ENOTLEADER when there is nothing to hand over. */
int srv_transfer_leadership(struct srv *s);

/* Hands an RPC call this follower received to the leader as `method` and
 * relays the leader's answer (CV_EUNAVAILABLE at once when no leader is
 * known). Services register a leader-only variant of each method under
 * that name, never relayed again, so a relay cannot loop. */
void srv_relay(struct srv *s, struct rpc_call *call, const char *method, const void *payload,
               size_t len);

/* The RPC server and client pool, for other services (HTTP forwarding,
 * client RPCs) to register on and dial with. */
struct rpc_server *srv_rpc_server(struct srv *s);
struct rpc_pool *srv_rpc_pool(struct srv *s);
uint16_t srv_rpc_port(const struct srv *s);

struct state_store *srv_state(struct srv *s);
bool srv_is_leader(const struct srv *s);
/* Leading with an entry of the current term committed: the leader's state
 * holds every committed write, so it may answer consistent reads. */
bool srv_is_ready_leader(const struct srv *s);
/* The leader's id and RPC address ("" when unknown). */
uint64_t srv_leader_id(const struct srv *s);
const char *srv_leader_addr(const struct srv *s);
/* Milliseconds since a leader was last heard from (0 on the leader). */
uint64_t srv_last_contact_ms(const struct srv *s);
uint64_t srv_id(const struct srv *s);
/* Every voter's id and address, this server's included; returns the count. */
size_t srv_peers(const struct srv *s, struct srv_peer *out, size_t cap);
/* Raft's view, for agent/self and operators. */
const struct raft *srv_raft(const struct srv *s);
/* True once the store failed: the daemon must exit (fail-stop). */
bool srv_failed(const struct srv *s, struct cv_err *err);

#endif
