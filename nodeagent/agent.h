/*
 * agent: the node agent, a Nomad client on one libevent loop.
 *
 * What it does, in order (docs/nodeagent.md, "The agent"):
 *   1. fingerprints the machine (fingerprint.h) and recovers the
 *      allocations persisted in the data dir, reattaching to their tasks
 *      (alloc_runner.h), before talking to any server;
 *   2. registers (Node.Register, Status "ready"), retrying with backoff and
 *      failing over between the configured servers (agent.c);
 *   3. heartbeats (Node.UpdateStatus) at half the HeartbeatTTL the server
 *      answered (at least 1 s), failing over; a server that no longer
 *      knows the node (a new cluster) makes it register again (agent.c);
 *   4. watches its allocations with the blocking Node.GetClientAllocs and
 *      fetches those that changed with Alloc.GetAllocs: new ones to run
 *      start, stopped ones are killed, vanished ones are killed and
 *      forgotten (alloc_watch.c);
 *   5. reports every change of an allocation's status in batches
 *      (Node.UpdateAlloc, every 200 ms, at most 1024 per call), keeping each
 *      update until a server accepted it; a later update of an allocation
 *      replaces the queued one (updates.c).
 * Any server relays to the leader, so every call goes to the "current"
 * server; an error or timeout moves the agent to the next one.
 *
 * Stopping (agent_shutdown) stops the watch and the heartbeats, flushes the
 * queued updates for a bounded time, and leaves every task running, as
 * Nomad's client does: the next agent on this data dir reattaches.
 */
#ifndef CV_AGENT_H
#define CV_AGENT_H

#include "common/clock.h"
#include "common/err.h"
#include "nodeagent/agent_config.h"

struct event_base;
struct rpc_pool;
struct agent;

/* What agent_new_with takes beyond the configuration. */
struct agent_options
{
    /* A pool shared by several agents (-simulate: one connection per server
     * for the whole fleet), borrowed: it must be freed before the agents,
     * after agent_detach on each. NULL: the agent makes its own. */
    struct rpc_pool *pool;
    /* The first registration waits a random 0..start_jitter_ms, so a fleet
     * started at once does not register in one burst. */
    int start_jitter_ms;
};

/* Creates the agent on `base` (borrowed; cfg borrowed too, both must
 * outlive it): fingerprint, recovery, then registration begins. clock NULL
 * is the system clock. */
int agent_new(struct event_base *base, const struct agent_config *cfg, const struct cv_clock *clock,
              struct agent **out, struct cv_err *err);

/* agent_new with options (NULL: the defaults). */
int agent_new_with(struct event_base *base, const struct agent_config *cfg,
                   const struct cv_clock *clock, const struct agent_options *opts,
                   struct agent **out, struct cv_err *err);

/* Makes the agent ignore every RPC answer from now on, so that a shared
 * pool can be freed (failing the agent's calls) before agent_free. */
void agent_detach(struct agent *a);

/* Begins a graceful stop; `done(arg)` runs once the queued updates are sent
 * or timeout_ms passed. The agent must then be freed. */
void agent_shutdown(struct agent *a, int timeout_ms, void (*done)(void *arg), void *arg);

/* Frees the agent, leaving its tasks running. NULL is ignored. */
void agent_free(struct agent *a);

/* The node's ID (borrowed). */
const char *agent_node_id(const struct agent *a);

#endif
