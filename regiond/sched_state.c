/*
 * sched_state: schedd's read interface over a state snapshot (see
 * sched_state.h).
 */
#include "regiond/sched_state.h"

#include <string.h>

#include "common/mem.h"

static const struct cv_job *snap_job(void *ctx, const char *job_id)
{
    return state_job(ctx, job_id);
}

static const struct cv_node *snap_node(void *ctx, const char *node_id)
{
    return state_node(ctx, node_id);
}

static void snap_each_node(void *ctx, sch_visit_node_fn fn, void *arg)
{
    struct state_iter it;
    state_iter_nodes(ctx, NULL, &it);
    const struct cv_node *n;
    while ((n = state_iter_next(&it)) != NULL) {
        fn(arg, n);
    }
}

static void snap_each_job_alloc(void *ctx, const char *job_id, sch_visit_alloc_fn fn, void *arg)
{
    struct state_iter it;
    state_iter_allocs_by_job(ctx, job_id, &it);
    const struct cv_allocation *a;
    while ((a = state_iter_next(&it)) != NULL) {
        fn(arg, a);
    }
}

static void snap_each_node_alloc(void *ctx, const char *node_id, sch_visit_alloc_fn fn, void *arg)
{
    struct state_iter it;
    state_iter_allocs_by_node(ctx, node_id, &it);
    const struct cv_allocation *a;
    while ((a = state_iter_next(&it)) != NULL) {
        fn(arg, a);
    }
}

void sched_state_init(struct sch_state *out, const struct state_snap *snap)
{
    *out = (struct sch_state){
        /* The interface passes ctx as void *; the snapshot is only read. */
        .ctx = (void *)snap,
        .index = state_snap_index(snap),
        .job = snap_job,
        .node = snap_node,
        .each_node = snap_each_node,
        .each_job_alloc = snap_each_job_alloc,
        .each_node_alloc = snap_each_node_alloc,
    };
}

static const struct cv_job *override_job(void *ctx, const char *job_id)
{
    const struct sched_state_override *ov = ctx;
    if (ov->job != NULL && strcmp(ov->job->id, job_id) == 0) {
        return ov->job;
    }
    return state_job(ov->snap, job_id);
}

static const struct cv_node *override_node(void *ctx, const char *node_id)
{
    const struct sched_state_override *ov = ctx;
    return state_node(ov->snap, node_id);
}

static void override_each_node(void *ctx, sch_visit_node_fn fn, void *arg)
{
    const struct sched_state_override *ov = ctx;
    snap_each_node((void *)ov->snap, fn, arg);
}

static void override_each_job_alloc(void *ctx, const char *job_id, sch_visit_alloc_fn fn, void *arg)
{
    const struct sched_state_override *ov = ctx;
    snap_each_job_alloc((void *)ov->snap, job_id, fn, arg);
}

static void override_each_node_alloc(void *ctx, const char *node_id, sch_visit_alloc_fn fn,
                                     void *arg)
{
    const struct sched_state_override *ov = ctx;
    snap_each_node_alloc((void *)ov->snap, node_id, fn, arg);
}

void sched_state_init_override(struct sch_state *out, struct sched_state_override *ov)
{
    *out = (struct sch_state){
        .ctx = ov,
        .index = state_snap_index(ov->snap),
        .job = override_job,
        .node = override_node,
        .each_node = override_each_node,
        .each_job_alloc = override_each_job_alloc,
        .each_node_alloc = override_each_node_alloc,
    };
}

struct plan *sched_plan_to_plan(struct sch_plan *sp, const char *token)
{
    struct plan *p = plan_new();
    cv_free(p->eval_id);
    p->eval_id = cv_strdup(sp->eval_id != NULL ? sp->eval_id : "");
    cv_free(p->eval_token);
    p->eval_token = cv_strdup(token != NULL ? token : "");
    cv_free(p->job_id);
    p->job_id = cv_strdup(sp->job_id != NULL ? sp->job_id : "");
    p->priority = sp->priority;
    p->all_at_once = sp->all_at_once;
    p->snapshot_index = sp->snapshot_index;
    for (size_t i = 0; i < sp->stops.len; i++) {
        const struct sch_plan_stop *s = &sp->stops.items[i];
        plan_add_stop(p, s->node_id, s->alloc_id, s->description, s->client_status, NULL);
    }
    for (size_t i = 0; i < sp->allocs.len; i++) {
        plan_add_alloc(p, sp->allocs.items[i]);
    }
    cv_free(sp->allocs.items);
    sp->allocs.items = NULL;
    sp->allocs.len = 0;
    return p;
}
