/*
 * reconcile_internal: the rules the two reconcilers share, defined in
 * reconcile.c. Only schedd/reconcile.c and schedd/reconcile_system.c
 * include this header; the rest of the tree goes through reconcile.h and
 * reconcile_system.h.
 */
#ifndef SCH_RECONCILE_INTERNAL_H
#define SCH_RECONCILE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/job.h"

/* True when alloc runs job as it is now: its copy of the job has the same
 * Version and JobModifyIndex. An allocation without its job is never
 * current. */
bool sch_alloc_job_current(const struct cv_allocation *alloc, const struct cv_job *job);

/* Nomad's RescheduleTracker.RescheduleEligible: true when policy p (may be
 * NULL: never) leaves an attempt at time now, counting tracker t's events
 * (may be NULL) younger than the interval as used. Unlimited always is. */
bool sch_reschedule_eligible(const struct cv_reschedule_policy *p,
                             const struct cv_reschedule_tracker *t, int64_t now);

/* Returns a new tracker: a's events (a borrowed) plus this attempt (time
 * now, a's ID and node). Released by sch_reconcile_result_free with the
 * placement that holds it. */
struct cv_reschedule_tracker *sch_tracker_with_attempt(const struct cv_allocation *a, int64_t now);

#endif
