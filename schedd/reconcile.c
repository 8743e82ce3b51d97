/*
 * reconcile: Nomad's allocation reconciler for service and batch jobs.
 *
 * Each task group is handled on its own (reconcile_group). Its allocations
 * become slots: LIVE (running or pending on a node that is up), KEPT
 * (terminal but counting toward Count: batch completions, failed
 * allocations out of reschedule attempts) and REPLACE (lost, migrating or
 * reschedulable failed allocations, whose replacement takes their name).
 * Count is met by dropping replacements of lost, then of migrating
 * allocations, then the highest-indexed LIVE and REPLACE slots, and by
 * filling the lowest free indexes. Only then are the surviving LIVE slots
 * compared with the job, so an allocation about to be stopped is never also
 * updated. See docs/schedd.md ("Reconciliation").
 */
#include "schedd/reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "schedd/reconcile_internal.h"

enum slot_kind
{
    SLOT_LIVE,
    SLOT_KEPT,
    SLOT_REPLACE,
};

struct slot
{
    const struct cv_allocation *alloc;
    int64_t index;
    enum slot_kind kind;
    enum sch_place_reason reason; /* SLOT_REPLACE */
    bool dropped;
};

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool is_batch(const struct cv_job *job)
{
    return str_eq(job->type, CV_JOB_TYPE_BATCH);
}

/* The N of "...[N]", or -1. */
static int64_t name_index(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    const char *open = strrchr(name, '[');
    if (open == NULL || open[1] == '\0') {
        return -1;
    }
    char *end = NULL;
    long long v = strtoll(open + 1, &end, 10);
    if (end == open + 1 || strcmp(end, "]") != 0 || v < 0) {
        return -1;
    }
    return (int64_t)v;
}

static bool strmap_eq(const struct cv_strmap *a, const struct cv_strmap *b)
{
    if (a->len != b->len) {
        return false;
    }
    for (size_t i = 0; i < a->len; i++) {
        if (strcmp(a->items[i].key, b->items[i].key) != 0 ||
            strcmp(a->items[i].value, b->items[i].value) != 0) {
            return false;
        }
    }
    return true;
}

/* A shallow copy of t with the fields that may change in place cleared. It
 * borrows everything else from t and must not be freed. */
static struct cv_task task_destructive_part(const struct cv_task *t)
{
    struct cv_task c = *t;
    memset(&c.constraints, 0, sizeof c.constraints);
    memset(&c.affinities, 0, sizeof c.affinities);
    c.restart_policy = NULL;
    c.kill_timeout = 0;
    c.leader = false;
    c.shutdown_delay = 0;
    c.kill_signal = NULL;
    c.kind = NULL;
    return c;
}

static struct cv_task_group group_destructive_part(const struct cv_task_group *g)
{
    struct cv_task_group c = *g;
    c.name = NULL;
    c.count = 0;
    memset(&c.constraints, 0, sizeof c.constraints);
    memset(&c.affinities, 0, sizeof c.affinities);
    memset(&c.tasks, 0, sizeof c.tasks); /* compared one by one */
    memset(&c.spreads, 0, sizeof c.spreads);
    c.restart_policy = NULL;
    c.reschedule_policy = NULL;
    c.update = NULL;
    c.migrate = NULL;
    c.shutdown_delay = 0;
    return c;
}

bool sch_group_update_destructive(const struct cv_job *old_job, const struct cv_task_group *old_tg,
                                  const struct cv_job *new_job, const struct cv_task_group *new_tg)
{
    if (old_job == NULL || old_tg == NULL) {
        return true; /* nothing to prove the running tasks still fit */
    }
    if (!strmap_eq(&old_job->meta, &new_job->meta)) {
        return true;
    }
    struct cv_task_group a = group_destructive_part(old_tg);
    struct cv_task_group b = group_destructive_part(new_tg);
    if (!cv_equal(&cv_task_group_schema, &a, &b)) {
        return true;
    }
    if (old_tg->tasks.len != new_tg->tasks.len) {
        return true;
    }
    for (size_t i = 0; i < old_tg->tasks.len; i++) {
        struct cv_task ta = task_destructive_part(&old_tg->tasks.items[i]);
        struct cv_task tb = task_destructive_part(&new_tg->tasks.items[i]);
        if (!cv_equal(&cv_task_schema, &ta, &tb)) {
            return true;
        }
    }
    return false;
}

static const struct cv_task_group *find_group(const struct cv_job *job, const char *name)
{
    if (job == NULL || name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < job->task_groups.len; i++) {
        if (str_eq(job->task_groups.items[i].name, name)) {
            return &job->task_groups.items[i];
        }
    }
    return NULL;
}

bool sch_alloc_job_current(const struct cv_allocation *alloc, const struct cv_job *job)
{
    return alloc->job != NULL && alloc->job->version == job->version &&
           alloc->job->job_modify_index == job->job_modify_index;
}

/* Nomad's RescheduleTracker.RescheduleEligible: events younger than the
 * interval are the attempts used. */
bool sch_reschedule_eligible(const struct cv_reschedule_policy *p,
                             const struct cv_reschedule_tracker *t, int64_t now)
{
    if (p == NULL) {
        return false;
    }
    if (p->unlimited == 1) {
        return true;
    }
    if (p->attempts <= 0) {
        return false;
    }
    int64_t used = 0;
    if (t != NULL) {
        for (size_t i = 0; i < t->events.len; i++) {
            if (now - t->events.items[i].reschedule_time < p->interval) {
                used++;
            }
        }
    }
    return used < p->attempts;
}

struct cv_reschedule_tracker *sch_tracker_with_attempt(const struct cv_allocation *a, int64_t now)
{
    struct cv_reschedule_tracker *t = cv_calloc(1, sizeof *t);
    size_t old = a->reschedule_tracker != NULL ? a->reschedule_tracker->events.len : 0;
    t->events.items = cv_calloc(old + 1, sizeof *t->events.items);
    for (size_t i = 0; i < old; i++) {
        const struct cv_reschedule_event *e = &a->reschedule_tracker->events.items[i];
        struct cv_reschedule_event *c = &t->events.items[i];
        c->reschedule_time = e->reschedule_time;
        c->delay = e->delay;
        c->prev_alloc_id = e->prev_alloc_id ? cv_strdup(e->prev_alloc_id) : NULL;
        c->prev_node_id = e->prev_node_id ? cv_strdup(e->prev_node_id) : NULL;
    }
    struct cv_reschedule_event *ev = &t->events.items[old];
    ev->reschedule_time = now;
    ev->prev_alloc_id = cv_strdup(a->id);
    ev->prev_node_id = a->node_id ? cv_strdup(a->node_id) : NULL;
    t->events.len = old + 1;
    return t;
}

static void tracker_free(struct cv_reschedule_tracker *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->events.len; i++) {
        cv_free(t->events.items[i].prev_alloc_id);
        cv_free(t->events.items[i].prev_node_id);
    }
    cv_free(t->events.items);
    cv_free(t->last_reschedule);
    cv_free(t);
}

/* Appends to a CV_VEC, growing it by one; returns the new zeroed element. */
#define VEC_PUSH(v) \
    (vec_grow((void **)&(v).items, &(v).len, sizeof *(v).items), &(v).items[(v).len - 1])

static void vec_grow(void **items, size_t *len, size_t size)
{
    *items = cv_reallocarray(*items, *len + 1, size);
    memset((char *)*items + *len * size, 0, size);
    (*len)++;
}

static void add_stop(struct sch_reconcile_result *out, const struct cv_allocation *a,
                     const char *desc, const char *client_status)
{
    struct sch_stop *s = VEC_PUSH(out->stop);
    s->alloc_id = cv_strdup(a->id);
    s->description = desc;
    s->client_status = client_status;
}

static void add_place(struct sch_reconcile_result *out, const char *group, char *name,
                      const struct cv_allocation *prev, enum sch_place_reason reason)
{
    struct sch_placement *p = VEC_PUSH(out->place);
    p->task_group = cv_strdup(group);
    p->name = name;
    p->previous_id = prev != NULL ? cv_strdup(prev->id) : NULL;
    p->reason = reason;
}

static char *alloc_name(const char *job_id, const char *group, int64_t index)
{
    int len = snprintf(NULL, 0, "%s.%s[%lld]", job_id, group, (long long)index);
    char *s = cv_malloc((size_t)len + 1);
    snprintf(s, (size_t)len + 1, "%s.%s[%lld]", job_id, group, (long long)index);
    return s;
}

/* Nomad's computeStop order: replacements of lost allocations go first
 * (nothing runs for them), then of migrating ones, then the highest index
 * among the rest; at one index a replacement before a live allocation, then
 * by ID for a fixed order. */
static int drop_class(const struct slot *s)
{
    if (s->kind != SLOT_REPLACE) {
        return 2;
    }
    return s->reason == SCH_PLACE_LOST ? 0 : s->reason == SCH_PLACE_MIGRATE ? 1 : 2;
}

static int cmp_drop_order(const void *pa, const void *pb)
{
    const struct slot *a = *(const struct slot *const *)pa;
    const struct slot *b = *(const struct slot *const *)pb;
    if (drop_class(a) != drop_class(b)) {
        return drop_class(a) < drop_class(b) ? -1 : 1;
    }
    if (a->index != b->index) {
        return a->index > b->index ? -1 : 1;
    }
    if (a->kind != b->kind) {
        return a->kind == SLOT_REPLACE ? -1 : 1;
    }
    return strcmp(b->alloc->id, a->alloc->id);
}

/* Stops every live allocation of a group that should not run at all. */
static void stop_group(const struct cv_allocation *const *allocs, size_t n, const char *group,
                       const char *desc, struct sch_reconcile_result *out,
                       struct sch_desired_updates *du)
{
    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (!str_eq(a->task_group, group)) {
            continue;
        }
        if (str_eq(a->desired_status, CV_ALLOC_DESIRED_STOP) ||
            str_eq(a->desired_status, CV_ALLOC_DESIRED_EVICT) ||
            (a->client_status != NULL && cv_alloc_client_terminal(a->client_status))) {
            du->ignore++;
            continue;
        }
        add_stop(out, a, desc, NULL);
        du->stop++;
    }
}

static void reconcile_group(const struct cv_job *job, const struct cv_task_group *tg,
                            const struct cv_allocation *const *allocs, size_t n,
                            sch_node_state_fn node_state, void *ctx, int64_t now,
                            struct sch_reconcile_result *out, struct sch_desired_updates *du)
{
    struct slot *slots = cv_calloc(n + 1, sizeof *slots);
    struct slot **cands = cv_calloc(n + 1, sizeof *cands);
    size_t ns = 0, nc = 0;
    bool batch = is_batch(job);

    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (!str_eq(a->task_group, tg->name)) {
            continue;
        }
        bool stopped = str_eq(a->desired_status, CV_ALLOC_DESIRED_STOP) ||
                       str_eq(a->desired_status, CV_ALLOC_DESIRED_EVICT);
        bool complete = str_eq(a->client_status, CV_ALLOC_CLIENT_COMPLETE);
        struct slot s = {.alloc = a, .index = name_index(a->name)};
        if (batch && complete) {
            s.kind = SLOT_KEPT; /* ran to completion: done, whatever was asked since */
        } else if (stopped || complete || str_eq(a->client_status, CV_ALLOC_CLIENT_LOST)) {
            du->ignore++;
            continue;
        } else if (str_eq(a->client_status, CV_ALLOC_CLIENT_FAILED)) {
            if (a->next_allocation != NULL && a->next_allocation[0] != '\0') {
                du->ignore++; /* already replaced */
                continue;
            }
            if (sch_reschedule_eligible(tg->reschedule_policy, a->reschedule_tracker, now)) {
                s.kind = SLOT_REPLACE;
                s.reason = SCH_PLACE_RESCHEDULE;
            } else {
                s.kind = SLOT_KEPT;
            }
        } else {
            enum sch_node_state st = node_state != NULL ? node_state(ctx, a->node_id) : SCH_NODE_UP;
            if (st == SCH_NODE_DOWN || st == SCH_NODE_GONE) {
                add_stop(out, a, SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
                du->stop++;
                s.kind = SLOT_REPLACE;
                s.reason = SCH_PLACE_LOST;
            } else if (st == SCH_NODE_DRAINING) {
                add_stop(out, a, SCH_DESC_MIGRATING, NULL);
                s.kind = SLOT_REPLACE;
                s.reason = SCH_PLACE_MIGRATE;
            } else {
                s.kind = SLOT_LIVE;
            }
        }
        slots[ns++] = s;
    }

    /* Meet Count from above: drop the highest indexes among what could go. */
    int64_t kept = (int64_t)ns;
    for (size_t i = 0; i < ns; i++) {
        if (slots[i].kind != SLOT_KEPT) {
            cands[nc++] = &slots[i];
        }
    }
    qsort(cands, nc, sizeof *cands, cmp_drop_order);
    for (size_t i = 0; i < nc && kept > tg->count; i++) {
        cands[i]->dropped = true;
        kept--;
        if (cands[i]->kind == SLOT_LIVE) {
            add_stop(out, cands[i]->alloc, SCH_DESC_NOT_NEEDED, NULL);
            du->stop++;
        }
        /* a dropped replacement is simply not placed; the migrating or
         * lost allocation was stopped above, a failed one stays failed */
    }

    /* What remains: ignore, update or replace. */
    const struct cv_task_group *old_tg;
    for (size_t i = 0; i < ns; i++) {
        struct slot *s = &slots[i];
        const struct cv_allocation *a = s->alloc;
        if (s->dropped) {
            continue;
        }
        switch (s->kind) {
        case SLOT_KEPT:
            du->ignore++;
            break;
        case SLOT_REPLACE:
            add_place(out, tg->name, cv_strdup(a->name), a, s->reason);
            if (s->reason == SCH_PLACE_RESCHEDULE) {
                out->place.items[out->place.len - 1].reschedule_tracker =
                    sch_tracker_with_attempt(a, now);
            }
            if (s->reason == SCH_PLACE_MIGRATE) {
                du->migrate++;
            } else {
                du->place++;
            }
            break;
        case SLOT_LIVE:
            if (sch_alloc_job_current(a, job)) {
                du->ignore++;
                break;
            }
            old_tg = find_group(a->job, tg->name);
            if (sch_group_update_destructive(a->job, old_tg, job, tg)) {
                add_stop(out, a, SCH_DESC_UPDATING, NULL);
                add_place(out, tg->name, cv_strdup(a->name), a, SCH_PLACE_DESTRUCTIVE);
                du->destructive++;
            } else {
                char **id = VEC_PUSH(out->inplace);
                *id = cv_strdup(a->id);
                du->inplace++;
            }
            break;
        }
    }

    /* Meet Count from below: the lowest indexes no remaining slot holds. */
    if (kept < tg->count) {
        size_t width = (size_t)tg->count + ns;
        bool *used = cv_calloc(width, sizeof *used);
        for (size_t i = 0; i < ns; i++) {
            if (!slots[i].dropped && slots[i].index >= 0 && (size_t)slots[i].index < width) {
                used[slots[i].index] = true;
            }
        }
        size_t next = 0;
        for (; kept < tg->count; kept++) {
            while (used[next]) {
                next++;
            }
            used[next] = true;
            add_place(out, tg->name, alloc_name(job->id, tg->name, (int64_t)next), NULL,
                      SCH_PLACE_NEW);
            du->place++;
        }
        cv_free(used);
    }
    cv_free(cands);
    cv_free(slots);
}

static struct sch_desired_updates *find_desired(struct sch_reconcile_result *out, const char *group)
{
    for (size_t i = 0; i < out->desired.len; i++) {
        if (str_eq(out->desired.items[i].task_group, group)) {
            return &out->desired.items[i];
        }
    }
    return NULL;
}

static struct sch_desired_updates *add_desired(struct sch_reconcile_result *out, const char *group)
{
    struct sch_desired_updates *du = VEC_PUSH(out->desired);
    du->task_group = cv_strdup(group);
    return du;
}

int sch_reconcile(const struct cv_job *job, const struct cv_allocation *const *allocs, size_t n,
                  sch_node_state_fn node_state, void *ctx, int64_t now,
                  struct sch_reconcile_result *out, struct cv_err *err)
{
    memset(out, 0, sizeof *out);
    if (job != NULL && !str_eq(job->type, CV_JOB_TYPE_SERVICE) &&
        !str_eq(job->type, CV_JOB_TYPE_BATCH)) {
        return cv_err_setf(err, CV_EUNSUPPORTED, "reconcile: job type %s is not service or batch",
                           job->type != NULL ? job->type : "(none)");
    }
    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (a->id == NULL || a->task_group == NULL || name_index(a->name) < 0) {
            return cv_err_setf(err, CV_EINVAL,
                               "reconcile: allocation %zu lacks an ID, a task group or an "
                               "indexed name",
                               i);
        }
    }

    bool stopping = job == NULL || job->stop;
    if (job != NULL) {
        for (size_t g = 0; g < job->task_groups.len; g++) {
            const struct cv_task_group *tg = &job->task_groups.items[g];
            struct sch_desired_updates *du = add_desired(out, tg->name);
            if (stopping) {
                stop_group(allocs, n, tg->name, SCH_DESC_NOT_NEEDED, out, du);
            } else {
                reconcile_group(job, tg, allocs, n, node_state, ctx, now, out, du);
            }
        }
    }
    /* Groups that only allocations name: the job dropped them, or is gone. */
    for (size_t i = 0; i < n; i++) {
        const char *group = allocs[i]->task_group;
        if (find_desired(out, group) != NULL) {
            continue;
        }
        struct sch_desired_updates *du = add_desired(out, group);
        stop_group(allocs, n, group, SCH_DESC_NOT_NEEDED, out, du);
    }
    return 0;
}

void sch_reconcile_result_free(struct sch_reconcile_result *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->place.len; i++) {
        cv_free(r->place.items[i].task_group);
        cv_free(r->place.items[i].name);
        cv_free(r->place.items[i].previous_id);
        cv_free(r->place.items[i].node_id);
        tracker_free(r->place.items[i].reschedule_tracker);
    }
    cv_free(r->place.items);
    for (size_t i = 0; i < r->stop.len; i++) {
        cv_free(r->stop.items[i].alloc_id);
    }
    cv_free(r->stop.items);
    for (size_t i = 0; i < r->inplace.len; i++) {
        cv_free(r->inplace.items[i]);
    }
    cv_free(r->inplace.items);
    for (size_t i = 0; i < r->desired.len; i++) {
        cv_free(r->desired.items[i].task_group);
    }
    cv_free(r->desired.items);
    memset(r, 0, sizeof *r);
}
