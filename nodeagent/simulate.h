/*
 * simulate: a fleet of simulated nodes in one process (`nodeagent
 * -simulate N`), for scale runs and benchmarks of the servers.
 *
 * Each node is a whole agent (agent.h): its own node ID and data dir
 * (<data_dir>/sim-<i>), name (<name>-<i>), heartbeats, allocation watch and
 * status updates, running its tasks with the mock driver only (raw_exec is
 * never enabled in a fleet). They share one event loop and one RPC pool, so
 * the fleet holds one connection per server, not one per node, and their
 * first registrations are spread over up to 10 s (1 ms per node).
 *
 * What it does not do: give nodes different resources or attributes (all
 * share the machine's fingerprint, so they share one computed class).
 */
#ifndef CV_AGENT_SIMULATE_H
#define CV_AGENT_SIMULATE_H

#include <stddef.h>

#include "common/err.h"
#include "nodeagent/agent_config.h"

struct event_base;
struct agent_fleet;

#define AGENT_FLEET_MAX 100000

/* Starts n nodes (1..AGENT_FLEET_MAX) on base from cfg (borrowed; each node
 * gets a derived copy). */
int agent_fleet_new(struct event_base *base, const struct agent_config *cfg, int n,
                    struct agent_fleet **out, struct cv_err *err);

/* Stops every node (agent_shutdown); done(arg) runs once all are done. */
void agent_fleet_shutdown(struct agent_fleet *f, int timeout_ms, void (*done)(void *arg),
                          void *arg);

/* Frees the fleet; tasks (mock) simply stop existing. NULL is ignored. */
void agent_fleet_free(struct agent_fleet *f);

size_t agent_fleet_size(const struct agent_fleet *f);
/* Node i's ID (borrowed). */
const char *agent_fleet_node_id(const struct agent_fleet *f, size_t i);

#endif
