/*
 * alloc_updates: the "Node.UpdateAlloc" RPC client agents call to report
 * their allocations' status, batched on the leader (Nomad's
 * Node.UpdateAlloc and its batchUpdateInterval).
 *
 *   Node.UpdateAlloc {"Allocs": [{"ID", "NodeID", "ClientStatus",
 *                     "ClientDescription", "TaskStates", "ModifyTime"}, ...]}
 *       -> {"Index", "Dropped": [...]}: the Raft index at which the updates
 *          were applied (0 when none was written), and the IDs of the
 *          updates dropped because their allocation no longer exists
 *          (garbage collected while the client was reporting).
 *
 * Only what a client is the authority on is taken (the fields above; any
 * other allocation field sent is decoded and ignored). An update for an
 * allocation on another node than the one it names refuses the whole call
 * (a confused or hostile client).
 * The input is hostile: every field is checked and the first problem is
 * answered with its path ("Allocs[2].ClientStatus: must be one of ...").
 *
 * Batching. The leader holds the valid updates of every caller for up to
 * ALLOC_UPDATES_BATCH_MS (50 ms, Nomad's interval) or until
 * ALLOC_UPDATES_BATCH_MAX updates are waiting, then writes them in ONE Raft
 * entry, so a fleet of agents reporting at once costs a few entries per
 * second, not one per agent. Every caller of the batch is answered when
 * the entry is applied. A later update of an allocation in the same batch
 * replaces the earlier one.
 *
 * Failed allocations. When an update moves an allocation to "failed"
 * while its job still wants it running, the same entry carries one
 * evaluation per job (TriggeredBy "alloc-failure"), so the scheduler
 * replaces it per the job's reschedule policy.
 *
 * A follower relays the call to the leader as "Leader.Node.UpdateAlloc".
 */
#ifndef CV_REGIOND_ALLOC_UPDATES_H
#define CV_REGIOND_ALLOC_UPDATES_H

#include "common/err.h"
#include "regiond/duties.h"
#include "regiond/server.h"

#define ALLOC_UPDATES_BATCH_MS  50
#define ALLOC_UPDATES_BATCH_MAX 4096
/* The most updates one call may carry. */
#define ALLOC_UPDATES_CALL_MAX 1024

struct event_base;
struct alloc_updates;

/* Registers the RPCs on the server's RPC server. */
int alloc_updates_new(struct event_base *base, struct srv *srv, struct duties *duties,
                      struct alloc_updates **out, struct cv_err *err);
/* Answers the callers still waiting with CV_ESHUTDOWN and frees. */
void alloc_updates_free(struct alloc_updates *u);

#endif
