/*
 * client_allocs: the RPCs a client agent watches its allocations with
 * (Nomad's Node.GetClientAllocs and Alloc.GetAllocs), served by any server
 * from its own state: reads need no leader.
 *
 *   Node.GetClientAllocs {"NodeID", "MinQueryIndex", "MaxQueryTimeMs"}
 *       -> {"Allocs": {"<alloc id>": <AllocModifyIndex>, ...}, "Index"}
 *       A blocking query: while the node's allocations' highest
 *       AllocModifyIndex is at most MinQueryIndex, the answer waits (up to
 *       MaxQueryTimeMs, default 5 minutes, at most 10 minutes) for a change,
 *       then answers what it has. Index is that highest AllocModifyIndex
 *       (at least 1), so the next query blocks until the server changed
 *       something the client must act on; the client's own status reports
 *       do not wake it. An unknown node is CV_ENOTFOUND.
 *   Alloc.GetAllocs {"AllocIDs": ["...", ...]} (1 to 1024)
 *       -> {"Allocs": [<allocation with its Job>, ...], "Index"}: the
 *       allocations that exist, in the order asked; missing ones are left
 *       out (garbage collected meanwhile).
 *
 * The client fetches the map, then the allocations whose AllocModifyIndex
 * changed: a quiet fleet costs the server nothing, a changed allocation
 * one read.
 */
#ifndef CV_REGIOND_CLIENT_ALLOCS_H
#define CV_REGIOND_CLIENT_ALLOCS_H

#include "common/err.h"
#include "regiond/server.h"

#define CLIENT_ALLOCS_DEFAULT_WAIT_MS 300000
#define CLIENT_ALLOCS_MAX_WAIT_MS     600000
#define CLIENT_ALLOCS_MAX_IDS         1024

struct event_base;
struct client_allocs;

/* Registers the RPCs on the server's RPC server. */
int client_allocs_new(struct event_base *base, struct srv *srv, struct client_allocs **out,
                      struct cv_err *err);
/* Answers every waiting query (what it has now) and frees. */
void client_allocs_free(struct client_allocs *ca);

#endif
