/*
 * sched_state: the scheduler's read interface (schedd/sched.h, struct
 * sch_state) over a state store snapshot, and the scheduler's plan turned
 * into the verifier's (plan.h). The only place where schedd meets regiond.
 */
#ifndef CV_REGIOND_SCHED_STATE_H
#define CV_REGIOND_SCHED_STATE_H

#include "regiond/plan.h"
#include "regiond/state/state.h"
#include "schedd/sched.h"

/* Fills out to read snap (borrowed: keep it until the scheduler's outcome
 * is freed). */
void sched_state_init(struct sch_state *out, const struct state_snap *snap);

/* Like sched_state_init, but job job_id reads as `job` (borrowed) instead of
 * the stored version: the dry run of a job not yet registered. */
struct sched_state_override
{
    const struct state_snap *snap;
    const struct cv_job *job;
};
void sched_state_init_override(struct sch_state *out, struct sched_state_override *ov);

/* Moves the scheduler's plan into a new verifier plan: the allocations are
 * taken (sp->allocs is left empty), the strings copied. token is the
 * evaluation's delivery token. Returns the new plan (free with plan_free). */
struct plan *sched_plan_to_plan(struct sch_plan *sp, const char *token);

#endif
