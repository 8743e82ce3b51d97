/*
 * job_diff: what changes between two versions of a job, as Nomad's
 * structs.Job.Diff (nomad/structs/diff.go) computes it and its API returns
 * it as the "Diff" of a JobPlanResponse: a JobDiff of TaskGroupDiffs of
 * TaskDiffs, each with FieldDiffs and ObjectDiffs.
 *
 * How it works: each level (job, group, task, policy...) is flattened into
 * a sorted map of Nomad's field names to their values as Go prints them
 * ("Count" -> "3", "Meta[owner]" -> "team-a", "KillTimeout" ->
 * "5000000000"), and two maps give the fields that were Added, Deleted or
 * Edited (or None, in a contextual diff). Lists without identity
 * (constraints, affinities, spreads, networks) are sets: an element in only
 * one version is Deleted or Added, a changed one is both. Groups and tasks
 * are matched by name. With the scheduler's decisions (DesiredTGUpdates),
 * the diff is annotated as Nomad's scheduler.Annotate does: each group's
 * Updates counts, "forces create"/"forces destroy" on a Count change, and
 * each changed task's "forces in-place update" or "forces create/destroy
 * update".
 *
 * Differences from Nomad: spreads are diffed ("Spread" objects with
 * "SpreadTarget" objects; Nomad's diff omits them); the objects Caravan
 * does not model (services, templates, volumes, artifacts...) never appear.
 */
#ifndef CV_REGIOND_JOB_DIFF_H
#define CV_REGIOND_JOB_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/job.h"
#include "common/jsongen.h"
#include "schedd/reconcile.h"

/* Writes the JobDiff of old -> new_job (both borrowed) to g as one JSON
 * object: {"Type", "ID", "Fields", "Objects", "TaskGroups"}.
 *
 * old NULL: the job is new ("Added"); new_job NULL: it is gone
 * ("Deleted"); not both. When both are given they must have the same ID.
 *
 * updates[0..n_updates) (borrowed; may be NULL): the scheduler's decisions
 * per group. When non-NULL the diff is annotated (see above); groups
 * without an entry get "Updates": null. NULL: a plain diff, every
 * "Updates" and "Annotations" null.
 *
 * contextual: Nomad's contextual flag: inside a changed object, the fields
 * that did not change are listed too, with Type "None". */
void job_diff_encode(const struct cv_job *old, const struct cv_job *new_job,
                     const struct sch_desired_updates *updates, size_t n_updates, bool contextual,
                     struct cv_jgen *g);

#endif
