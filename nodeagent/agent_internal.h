/*
 * agent_internal: the agent's struct, shared by agent.c (registration,
 * heartbeats, failover, lifecycle), alloc_watch.c (the allocation watch)
 * and updates.c (the status update queue). Nothing else includes it.
 */
#ifndef CV_AGENT_INTERNAL_H
#define CV_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/node.h"
#include "common/random.h"
#include "nodeagent/agent.h"
#include "nodeagent/alloc_runner.h"

struct event;
struct rpc_pool;
struct agent_http;

/* Timeouts and intervals, ms. */
#define AGENT_RPC_TIMEOUT_MS     5000
#define AGENT_WATCH_WAIT_MS      30000
#define AGENT_BACKOFF_MIN_MS     250
#define AGENT_BACKOFF_MAX_MS     10000
#define AGENT_HEARTBEAT_MIN_MS   1000
#define AGENT_HEARTBEAT_DFLT_MS  5000
#define AGENT_UPDATE_INTERVAL_MS 200
#define AGENT_UPDATE_MAX_BATCH   1024

/* An allocation the agent knows of. */
struct agent_alloc
{
    char id[CV_UUID_LEN + 1];
    uint64_t modify_index;         /* the AllocModifyIndex last acted on */
    struct agent_alloc_runner *ar; /* NULL: known, nothing runs here */
    bool seen;                     /* in the latest GetClientAllocs map */
    bool gone;                     /* vanished from the map: forget once done */
};

/* A queued status update: one allocation's JSON object. */
struct agent_update
{
    char id[CV_UUID_LEN + 1];
    char *json; /* owned */
};

struct agent_update_list
{
    struct agent_update *items;
    size_t len, cap;
};

struct agent
{
    struct event_base *base;
    const struct agent_config *cfg;
    const struct cv_clock *clock;
    struct rpc_pool *pool;
    bool own_pool;
    struct cv_node *node;
    size_t server; /* index into cfg->servers of the current server */
    bool stopping;
    bool freeing;

    /* registration and heartbeats (agent.c) */
    bool registered;
    bool hb_inflight;
    uint64_t ttl_ns;
    int hb_backoff_ms;
    struct event *hb_ev;

    /* allocations and their watch (alloc_watch.c) */
    struct agent_alloc *allocs;
    size_t n_allocs, cap_allocs;
    bool watch_started;
    bool watch_inflight;
    uint64_t watch_index;
    int watch_backoff_ms;
    char **fetch;          /* ids to fetch with Alloc.GetAllocs */
    uint64_t *fetch_index; /* their AllocModifyIndex in the map */
    size_t n_fetch;
    uint64_t pending_index; /* the map's Index, taken once fetched */
    struct event *watch_ev;
    struct event *reap_ev;

    /* status updates (updates.c) */
    struct agent_update_list queue;
    struct agent_update_list inflight;
    int upd_backoff_ms;
    uint64_t upd_next_ns; /* monotonic: no call before this */
    struct event *upd_ev;

    /* the HTTP API (agent_http.c); NULL when http_port is 0 */
    struct agent_http *http;

    /* shutdown */
    void (*done)(void *arg);
    void *done_arg;
    uint64_t shutdown_deadline_ns;
    struct event *stop_ev;
};

/* agent.c */
const char *agent_server_addr(const struct agent *a);
/* The call to `addr` failed: move on to the next server (once per server). */
void agent_server_failed(struct agent *a, const char *addr, const char *what, const char *msg);
/* Next backoff: doubles *ms within [AGENT_BACKOFF_MIN_MS, max_ms], returns
 * it with up to 25% jitter. */
int agent_backoff_next(int *ms, int max_ms);
uint64_t agent_now_ns(const struct agent *a);
void agent_timer_ms(struct event *ev, int ms);

/* alloc_watch.c */
int agent_watch_init(struct agent *a, struct cv_err *err);
/* Recovers every allocation persisted in the data dir. */
void agent_watch_recover(struct agent *a);
void agent_watch_start(struct agent *a);
void agent_watch_free(struct agent *a);

/* updates.c */
int agent_updates_init(struct agent *a, struct cv_err *err);
/* Queues an update of allocation `id`, replacing a queued one; takes
 * ownership of json. */
void agent_updates_queue(struct agent *a, const char *id, char *json);
/* Drops the queued updates of allocation `id`. */
void agent_updates_drop(struct agent *a, const char *id);
/* Whether nothing is queued or in flight. */
bool agent_updates_idle(const struct agent *a);
void agent_updates_free(struct agent *a);

/* agent_http.c */
/* Listens on cfg->bind_addr:cfg->http_port (nothing when the port is 0)
 * and sets the node's HTTPAddr. A port it cannot bind is logged, not
 * fatal: the agent then runs without its HTTP API and no HTTPAddr. */
int agent_http_start(struct agent *a, struct cv_err *err);
/* Closes the listener and every open log stream. */
void agent_http_free(struct agent *a);
/* The runner of a known allocation, or NULL (alloc_watch.c). */
struct agent_alloc_runner *agent_watch_find(struct agent *a, const char *alloc_id);

#endif
