/*
 * feasible: may a node run a task group at all? The first stage of
 * placement, before ranking (bin packing) looks at free resources.
 *
 * The rules, in the order a node is checked (docs/schedd.md has the
 * reasoning and the differences from Nomad):
 *
 *   1. status "ready", eligibility "eligible", no drain strategy;
 *   2. datacenter glob-matches one of the job's Datacenters;
 *   3. node pool is the job's NodePool (or the job's pool is "all");
 *   4. every driver the group's tasks name is detected and healthy;
 *   5. the job's, the group's and its tasks' constraints hold.
 *
 * Step 5 gives the same answer for every node of one computed class
 * (ComputedClass hashes datacenter, attributes, meta, class and pool, minus
 * `unique.` keys), so a checker remembers it per class for its lifetime,
 * which is meant to be one evaluation. Constraints whose targets read
 * `${node.unique.*}`, `${attr.unique.*}` or `${meta.unique.*}` "escape" the
 * class and are checked on every node. A node with an empty ComputedClass
 * is never cached.
 *
 * distinct_hosts and distinct_property depend on the allocations already
 * placed, not on the node alone: sch_check_constraint reports them with
 * SCH_NEEDS_ALLOC_CONTEXT, and the checker skips them and lists them
 * (sch_feasibility_deferred) for the placement stage.
 *
 * This module reads model structs only; it includes nothing from regiond.
 */
#ifndef SCH_FEASIBLE_H
#define SCH_FEASIBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/job.h"
#include "common/node.h"

/* Reasons a node is filtered, as placement metrics count them. A failed
 * constraint's reason is the constraint as Nomad prints it instead:
 * "<LTarget> <Operand> <RTarget>", e.g. "${attr.kernel.name} = linux"
 * (an empty RTarget leaves a trailing space, as Nomad's does). */
#define SCH_REASON_NOT_READY  "node not ready"
#define SCH_REASON_INELIGIBLE "node not eligible"
#define SCH_REASON_DRAINING   "node draining"
#define SCH_REASON_DATACENTER "datacenter"
#define SCH_REASON_NODE_POOL  "node pool"
#define SCH_REASON_DRIVERS    "missing drivers"

/* A job's NodePool that admits nodes of every pool. */
#define SCH_NODE_POOL_ALL "all"

/* True when dc matches pattern, a datacenter name in which `*` stands for
 * any run of characters (Nomad's glob: "*", "dc*", "us-*-1"). */
bool sch_dc_match(const char *pattern, const char *dc);
/* True when dc matches one of the patterns (a job's Datacenters). An empty
 * list matches nothing: canonicalization gives jobs ["*"]. */
bool sch_dcs_match(const struct cv_strings *patterns, const char *dc);

/* True when a node of pool `node_pool` may run a job of pool `job_pool`:
 * equal names, or the job's pool is "all". An empty job pool is "default". */
bool sch_pool_match(const char *job_pool, const char *node_pool);

/* Resolves a constraint target against node, as Nomad's resolveTarget:
 *   ${node.unique.id}, ${node.unique.name}, ${node.datacenter},
 *   ${node.class}, ${node.pool}       the node's field (always set, maybe "")
 *   ${attr.<key>}, ${meta.<key>}      the attribute / meta value, or not set
 *   any other ${...}                   not set (Nomad has no ${node.region})
 *   anything else                      the text itself, a literal
 * Returns the value, borrowed from node or target, or NULL for "not set". */
const char *sch_resolve_target(const struct cv_node *node, const char *target);

/* True when target reads a `unique.` property, which the computed class
 * does not cover: ${node.unique.*}, ${attr.unique.*}, ${meta.unique.*}. */
bool sch_target_escapes(const char *target);

/* sch_check_constraint's results besides negative CV_E* codes. */
enum sch_check
{
    SCH_NODE_LOCAL = 0,         /* *ok holds the answer */
    SCH_NEEDS_ALLOC_CONTEXT = 1 /* distinct_hosts / distinct_property: *ok untouched */
};

/* Checks one constraint (borrowed) on node (borrowed), with Nomad's
 * semantics for each operator:
 *   = == is          both sides set and equal
 *   != not           not both set and equal (a missing side differs)
 *   < <= > >=        both set; integers if both parse as integers, else
 *                    floats if both parse as floats, else byte order
 *   regexp           both set; RTarget (POSIX extended) found in LTarget
 *   set_contains(_all) / set_contains_any
 *                    both set; every / some comma-separated item of RTarget
 *                    is an item of LTarget (items trimmed of spaces)
 *   version, semver  both set; LTarget satisfies RTarget (schedd/version.h)
 *   is_set / is_not_set   LTarget set / not set
 * A regexp or version that does not parse makes the constraint false.
 * Returns SCH_NODE_LOCAL with *ok set, SCH_NEEDS_ALLOC_CONTEXT, or CV_EINVAL
 * for an operand Nomad does not know (err says which). */
int sch_check_constraint(const struct cv_node *node, const struct cv_constraint *c, bool *ok,
                         struct cv_err *err);

/* Writes the constraint as Nomad prints it ("${attr.kernel.name} = linux")
 * into buf, cut to size; returns buf. */
const char *sch_constraint_string(const struct cv_constraint *c, char *buf, size_t size);

/* The feasibility checker of one task group for one evaluation. */
struct sch_feasibility;

struct sch_class_stats
{
    uint64_t hits;     /* constraint verdicts taken from the class cache */
    uint64_t misses;   /* verdicts computed and then cached for the class */
    uint64_t uncached; /* nodes without a ComputedClass, checked in full */
};

/* Builds a checker for task group tg of job (both borrowed; they must stay
 * valid until sch_feasibility_free). Returns 0 and *out a new checker, or
 * CV_EINVAL when a constraint has an unknown operand (err names it; a
 * validated job has none) and *out NULL. */
int sch_feasibility_new(const struct cv_job *job, const struct cv_task_group *tg,
                        struct sch_feasibility **out, struct cv_err *err);
void sch_feasibility_free(struct sch_feasibility *f);

/* Checks node (borrowed). Returns true when feasible; otherwise false and,
 * when reason is not NULL, *reason is why: one of SCH_REASON_* or a
 * constraint string, borrowed from the checker (valid until it is freed).
 * Deferred constraints (distinct_*) are not checked here. */
bool sch_feasibility_check(struct sch_feasibility *f, const struct cv_node *node,
                           const char **reason);

void sch_feasibility_stats(const struct sch_feasibility *f, struct sch_class_stats *out);

/* The constraints (job's first, then the group's) that need allocation
 * context: distinct_hosts and distinct_property, borrowed from the job. */
size_t sch_feasibility_deferred_count(const struct sch_feasibility *f);
const struct cv_constraint *sch_feasibility_deferred(const struct sch_feasibility *f, size_t i);

#endif
