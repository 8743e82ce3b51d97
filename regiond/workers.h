/*
 * workers: the RPCs scheduler workers call on the leader, and the plan
 * queue behind "Plan.Submit".
 *
 *   Eval.Dequeue {"Schedulers": [...], "TimeoutMs": n}
 *       -> {"Eval": <evaluation> | null, "Token": "..."}: the next ready
 *          evaluation of one of those scheduler types, waiting up to
 *          TimeoutMs (at most 10 s) for one;
 *   Eval.Ack / Eval.Nack {"EvalID", "Token"} -> {};
 *   Eval.Update {"Evals": [...], "Token"}: writes the worker's evaluations
 *       (its own, completed or blocked, and follow-ups) -> {"Index"};
 *   Plan.Submit {"Plan": <plan.h's JSON>} -> {"AllocIndex", "RefreshIndex",
 *       "RejectedNodes": [...], "Placed", "Stopped"}.
 *
 * Every call needs the delivery token of an evaluation the caller holds
 * (broker_outstanding). The plan queue verifies one plan at a time against
 * the latest state plus the plans already proposed but not yet applied (the
 * overlay), so verifying plan N+1 overlaps the Raft commit of plan N; what
 * fits is one Raft entry, and the worker is answered once it is applied.
 * When something was rejected the answer's RefreshIndex tells the worker the
 * index to wait for before planning again.
 *
 * A follower relays each call to the leader as "Leader.<method>".
 */
#ifndef CV_REGIOND_WORKERS_H
#define CV_REGIOND_WORKERS_H

#include "common/err.h"
#include "regiond/duties.h"
#include "regiond/server.h"

struct event_base;
struct workers;

int workers_new(struct event_base *base, struct srv *srv, struct duties *duties,
                struct workers **out, struct cv_err *err);
void workers_free(struct workers *w);

#endif
