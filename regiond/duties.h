/*
 * duties: what only the leader does, started when this server wins
 * leadership and stopped when it loses it.
 *
 *   - the eval broker (regiond/leader/broker.h) holds every pending
 *     evaluation of the state, and blocked ones as blocked; evaluations it
 *     gives up on (delivery limit) are written back as failed, and older
 *     evaluations of a job it cancels are written back as canceled;
 *   - heartbeat timers (regiond/leader/heartbeat.h): a node past its TTL
 *     plus grace is marked down in one Raft entry that also carries an
 *     evaluation for every job with allocations on it, and a second entry
 *     marks those allocations lost;
 *   - the node RPCs clients call: "Node.Register" and "Node.UpdateStatus"
 *     (a heartbeat). A heartbeat only resets the leader's timer; Raft is
 *     written only when a node's status changes. A follower relays these
 *     calls to the leader.
 *
 * A new leader waits until an entry of its own term has committed (its
 * state is then current), re-enqueues the pending evaluations and gives
 * every node that is not down the long failover TTL, so an election never
 * marks the fleet down.
 */
#ifndef CV_REGIOND_DUTIES_H
#define CV_REGIOND_DUTIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/leader/broker.h"
#include "regiond/leader/heartbeat.h"
#include "regiond/server.h"

struct event_base;
struct duties;

struct duties_config
{
    struct hb_config heartbeat;  /* random filled in by duties_new */
    struct broker_config broker; /* random and on_ready filled in by duties_new */
};

/* Fills cfg with the defaults of both modules. */
void duties_config_default(struct duties_config *cfg);

/* Starts watching leadership (a timer on base) and registers the node RPCs
 * on the server's RPC server. */
int duties_new(struct event_base *base, struct srv *srv, const struct duties_config *cfg,
               struct duties **out, struct cv_err *err);
void duties_free(struct duties *d);

/* Whether the duties run (this server leads and its state is current). */
bool duties_active(const struct duties *d);
/* The broker, for the scheduler's RPCs and for tests; NULL-safe reads. */
struct broker *duties_broker(struct duties *d);

#endif
