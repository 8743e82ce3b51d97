/*
 * server_internal: what server.c and server_snapshot.c share.
 */
#ifndef CV_REGIOND_SERVER_INTERNAL_H
#define CV_REGIOND_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "regiond/server.h"

struct event;
struct store;
struct store_state;

/* A proposal made here, waiting for its entry to be applied. */
struct proposal
{
    struct proposal *next;
    struct srv *s;
    uint64_t index;
    bool applied;
    struct fsm_result res;
    srv_propose_cb cb;
    void *arg;
};

struct append_req
{
    struct srv *s;
    uint64_t last;
};

struct srv
{
    struct event_base *base;
    struct srv_config cfg;
    char self_addr[RPC_ADDR_MAX];

    struct store *store;
    struct event *store_ev;
    struct raft *raft;
    struct raft_io io;
    struct event *tick_ev;
    uint64_t rng;

    struct rpc_server *rpc;
    struct rpc_pool *pool;
    struct cv_buf wire;
    struct raft_entry *wire_entries;

    struct state_store *state;
    struct fsm *fsm;
    struct proposal *props; /* oldest first */
    srv_apply_hook apply_hook;
    void *apply_hook_arg;

    uint64_t leader_heard_ms; /* when the leader last spoke to us */
    bool fatal_logged;

    /* Raft snapshots (server_snapshot.c). */
    struct cv_buf snap_local; /* the latest snapshot's bytes, for snapshot_read */
    struct raft_snapshot_meta snap_local_meta;
    bool has_snap_local;
    bool taking; /* a snapshot is being serialized or written to the store */
    /* The serializing thread (server_snapshot.c): it writes snap_src into
     * snap_new and sets snap_ready; only the loop thread reads the rest. */
    pthread_t snap_thread;
    bool snap_thread_running;
    atomic_bool snap_ready;
    struct state_snap *snap_src;
    struct cv_buf snap_new;
    struct raft_snapshot_meta snap_new_meta;
    int snap_rc;
    struct cv_err snap_err;
    struct cv_buf snap_recv; /* the snapshot a leader is sending us */
};

uint64_t srv__mono_ms(void);

/* Snapshots: the raft_io hooks, the threshold check after applies, and
 * loading the latest snapshot at start (fills *meta; false when none). */
void srv__snapshot_io(struct srv *s);
void srv__snapshot_maybe(struct srv *s);
int srv__snapshot_load(struct srv *s, const struct store_state *st, struct raft_snapshot_meta *meta,
                       bool *loaded, struct cv_err *err);
/* Waits for a snapshot being serialized (shutdown). */
void srv__snapshot_join(struct srv *s);
void srv__snapshot_free(struct srv *s);

#endif
