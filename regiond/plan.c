/*
 * plan: the plan verifier (plan.h): plans built by hand or decoded from a
 * worker's JSON, the overlay of plans proposed but not yet applied, and
 * the node-by-node check of a plan against a state snapshot seen through
 * that overlay. It plays the part of Nomad's evaluatePlan,
 * evaluateNodePlan and structs.AllocsFit (nomad/plan_apply.go,
 * nomad/structs/funcs.go).
 *
 * The module's files:
 *
 *   plan.c          plans, results, and what an allocation uses (its sums
 *                   and host ports, whether it counts), shared by the others;
 *   plan_json.c     a plan from and to a worker's JSON;
 *   plan_overlay.c  the overlay;
 *   plan_check.c    the check of one node and of the whole plan;
 *   plan_internal.h what they share and nobody else sees (plan__*).
 *
 * What is not here: logging (the applier logs rejections with the reasons
 * given in the result), time, Raft, the plan queue.
 */
#include "regiond/plan.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/allocation.h"
#include "common/mem.h"
#include "regiond/plan_internal.h"

#define PLAN_DEFAULT_PRIORITY 50

const char *plan__str_or_empty(const char *s)
{
    return s ? s : "";
}

int plan__cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- plans ------------------------------------------------------------------------------ */

struct plan *plan_new(void)
{
    struct plan *p = cv_calloc(1, sizeof *p);
    p->eval_id = cv_strdup("");
    p->eval_token = cv_strdup("");
    p->job_id = cv_strdup("");
    p->priority = PLAN_DEFAULT_PRIORITY;
    return p;
}

void plan_free(struct plan *p)
{
    if (!p) {
        return;
    }
    for (size_t i = 0; i < p->n_stops; i++) {
        struct plan_stop *s = &p->stops[i];
        cv_free(s->node_id);
        cv_free(s->alloc_id);
        cv_free(s->desired_description);
        cv_free(s->client_status);
        cv_free(s->followup_eval_id);
    }
    for (size_t i = 0; i < p->n_allocs; i++) {
        cv_alloc_free(p->allocs[i]);
    }
    cv_free(p->stops);
    cv_free(p->allocs);
    cv_free(p->eval_id);
    cv_free(p->eval_token);
    cv_free(p->job_id);
    cv_free(p);
}

void plan_add_stop(struct plan *p, const char *node_id, const char *alloc_id,
                   const char *desired_description, const char *client_status,
                   const char *followup_eval_id)
{
    if (p->n_stops == p->cap_stops) {
        p->cap_stops = p->cap_stops ? p->cap_stops * 2 : 8;
        p->stops = cv_reallocarray(p->stops, p->cap_stops, sizeof *p->stops);
    }
    struct plan_stop *s = &p->stops[p->n_stops++];
    s->node_id = cv_strdup(plan__str_or_empty(node_id));
    s->alloc_id = cv_strdup(plan__str_or_empty(alloc_id));
    s->desired_description = cv_strdup(plan__str_or_empty(desired_description));
    s->client_status = cv_strdup(plan__str_or_empty(client_status));
    s->followup_eval_id = cv_strdup(plan__str_or_empty(followup_eval_id));
}

void plan_add_alloc(struct plan *p, struct cv_allocation *alloc)
{
    assert(alloc);
    if (p->n_allocs == p->cap_allocs) {
        p->cap_allocs = p->cap_allocs ? p->cap_allocs * 2 : 8;
        p->allocs = cv_reallocarray(p->allocs, p->cap_allocs, sizeof *p->allocs);
    }
    p->allocs[p->n_allocs++] = alloc;
}

/* ---- what an allocation uses -------------------------------------------------------------- */

int64_t plan__sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

static bool desired_stopped(const char *desired)
{
    return strcmp(desired, CV_ALLOC_DESIRED_STOP) == 0 ||
           strcmp(desired, CV_ALLOC_DESIRED_EVICT) == 0;
}

/* An allocation of the state uses its node's resources unless it is
 * terminal (Nomad's TerminalStatus): told to stop or evict, or complete,
 * failed or lost on its client. */
bool plan__state_alloc_counts(const struct cv_allocation *a)
{
    return !desired_stopped(a->desired_status) && !cv_alloc_client_terminal(a->client_status);
}

/* A placement (of the plan or the overlay) counts unless it stops or
 * marks the allocation lost. Its other client statuses are not trusted:
 * the state keeps the stored allocation's client status over a plan's
 * (except lost and unknown), so a placement saying "complete" may well
 * keep running. */
bool plan__placement_counts(const struct cv_allocation *a)
{
    return !desired_stopped(a->desired_status) &&
           strcmp(a->client_status, CV_ALLOC_CLIENT_LOST) != 0;
}

/* Nomad's AllocatedResources.Comparable, without lifecycles: every task's
 * CPU and memory summed (Caravan's allocations do not carry their tasks'
 * lifecycles, so a prestart task's share is added, not maxed: a
 * conservative count), plus the shared disk. */
struct usage plan__alloc_usage(const struct cv_allocation *a)
{
    struct usage u = {0, 0, 0};
    const struct cv_allocated_resources *r = a->allocated_resources;
    if (!r) {
        return u;
    }
    for (size_t i = 0; i < r->tasks.len; i++) {
        u.cpu = plan__sat_add(u.cpu, r->tasks.items[i].cpu.cpu_shares);
        u.memory_mb = plan__sat_add(u.memory_mb, r->tasks.items[i].memory.memory_mb);
    }
    u.disk_mb = r->shared.disk_mb;
    return u;
}

static void each_network_port(const struct cv_network *n, port_fn fn, void *ctx)
{
    for (size_t i = 0; i < n->reserved_ports.len; i++) {
        fn(ctx, n->ip, n->reserved_ports.items[i].value);
    }
    for (size_t i = 0; i < n->dynamic_ports.len; i++) {
        fn(ctx, n->ip, n->dynamic_ports.items[i].value);
    }
}

/* The host ports an allocation holds, as Nomad's NetworkIndex.AddAllocs
 * reads them: the shared Ports when there are any; otherwise the ports of
 * the group's networks and of each task's first network. */
void plan__each_alloc_port(const struct cv_allocation *a, port_fn fn, void *ctx)
{
    const struct cv_allocated_resources *r = a->allocated_resources;
    if (!r) {
        return;
    }
    if (r->shared.ports.len) {
        for (size_t i = 0; i < r->shared.ports.len; i++) {
            fn(ctx, r->shared.ports.items[i].host_ip, r->shared.ports.items[i].value);
        }
        return;
    }
    for (size_t i = 0; i < r->shared.networks.len; i++) {
        each_network_port(&r->shared.networks.items[i], fn, ctx);
    }
    for (size_t i = 0; i < r->tasks.len; i++) {
        if (r->tasks.items[i].networks.len) {
            each_network_port(&r->tasks.items[i].networks.items[0], fn, ctx);
        }
    }
}

/* ---- results ------------------------------------------------------------------------------ */

void plan_result_init(struct plan_result *r)
{
    memset(r, 0, sizeof *r);
    r->eval_id = "";
}

void plan_result_free(struct plan_result *r)
{
    cv_free(r->allocs);
    cv_free(r->stops);
    cv_free(r->rejected);
    plan_result_init(r);
}

bool plan_result_is_noop(const struct plan_result *r)
{
    return r->n_allocs == 0 && r->n_stops == 0;
}

void plan_result_fsm(const struct plan_result *r, struct fsm_plan *out)
{
    memset(out, 0, sizeof *out);
    out->eval_id = r->eval_id;
    out->allocs_updated = r->allocs;
    out->n_updated = r->n_allocs;
    out->allocs_stopped = r->stops;
    out->n_stopped = r->n_stops;
    out->eval = NULL;
}
