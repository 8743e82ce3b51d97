/*
 * plan_internal: what the plan module's files share (plan.c, plan_json.c,
 * plan_overlay.c, plan_check.c) and nobody outside sees. plan.h is the
 * module's contract; nothing here is part of it.
 *
 * Names of shared functions carry plan__ (double underscore: internal).
 */
#ifndef CV_PLAN_INTERNAL_H
#define CV_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "regiond/plan.h"

/* ---- helpers (plan.c) ------------------------------------------------------------------- */

/* s, or "" when s is NULL. */
const char *plan__str_or_empty(const char *s);
/* qsort comparator over an array of const char *. */
int plan__cmp_str_ptr(const void *a, const void *b);

/* ---- what an allocation uses (plan.c) ----------------------------------------------------- */

struct usage
{
    int64_t cpu; /* MHz shares */
    int64_t memory_mb;
    int64_t disk_mb;
};

/* a + b, saturated at INT64_MIN / INT64_MAX. */
int64_t plan__sat_add(int64_t a, int64_t b);
/* Whether an allocation of the state uses its node's resources. */
bool plan__state_alloc_counts(const struct cv_allocation *a);
/* Whether a placement of the plan or the overlay uses its node's resources. */
bool plan__placement_counts(const struct cv_allocation *a);
/* What an allocation uses of its node: CPU shares, memory and disk. */
struct usage plan__alloc_usage(const struct cv_allocation *a);

typedef void (*port_fn)(void *ctx, const char *ip, int64_t port);

/* Calls fn for each host port the allocation holds. */
void plan__each_alloc_port(const struct cv_allocation *a, port_fn fn, void *ctx);

/* ---- the overlay (plan_overlay.c) ---------------------------------------------------------- */

struct ov_port
{
    char *ip;
    int64_t port;
};

/* What the check reads of a placement in flight. */
struct ov_alloc
{
    char *id;
    char *node_id;
    bool counts; /* plan__placement_counts() */
    struct usage use;
    struct ov_port *ports;
    size_t n_ports;
};

struct ov_entry
{
    uint64_t ticket;
    uint64_t commit_index; /* 0 while in flight */
    char **stops;          /* allocation IDs, sorted */
    size_t n_stops;
    struct ov_alloc *allocs; /* sorted by (node, ID) */
    size_t n_allocs;
    struct ov_alloc **by_id; /* the same, sorted by ID */
};

struct plan_overlay
{
    struct ov_entry *entries; /* in ticket order */
    size_t n, cap;
    uint64_t last_ticket;
};

/* True when entry e stops allocation id. */
bool plan__entry_stops(const struct ov_entry *e, const char *id);
/* Entry e's placement of allocation id, NULL when none. */
const struct ov_alloc *plan__entry_placement(const struct ov_entry *e, const char *id);
/* The first of e's placements on node_id (or e->n_allocs). */
size_t plan__entry_node_start(const struct ov_entry *e, const char *node_id);

#endif
