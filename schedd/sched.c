/*
 * sched: one evaluation in, one plan out (see sched.h).
 */
#include "schedd/sched.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/random.h"
#include "schedd/place.h"
#include "schedd/reconcile_system.h"

static const char *nonnull(const char *s)
{
    return s != NULL ? s : "";
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(nonnull(a), nonnull(b)) == 0;
}

/* ---- the outcome -------------------------------------------------------------------- */

void sch_outcome_init(struct sch_outcome *o)
{
    memset(o, 0, sizeof *o);
}

static void intmap_free(struct cv_intmap *m)
{
    for (size_t i = 0; i < m->len; i++) {
        cv_free(m->items[i].key);
    }
    cv_free(m->items);
    memset(m, 0, sizeof *m);
}

void sch_outcome_free(struct sch_outcome *o)
{
    struct sch_plan *p = &o->plan;
    cv_free(p->eval_id);
    cv_free(p->job_id);
    for (size_t i = 0; i < p->stops.len; i++) {
        cv_free(p->stops.items[i].node_id);
        cv_free(p->stops.items[i].alloc_id);
    }
    cv_free(p->stops.items);
    for (size_t i = 0; i < p->allocs.len; i++) {
        cv_alloc_free(p->allocs.items[i]);
    }
    cv_free(p->allocs.items);
    for (size_t i = 0; i < o->failed_tg_allocs.len; i++) {
        cv_free(o->failed_tg_allocs.items[i].key);
        cv_release(&cv_alloc_metric_schema, &o->failed_tg_allocs.items[i].metric);
    }
    cv_free(o->failed_tg_allocs.items);
    intmap_free(&o->queued);
    for (size_t i = 0; i < o->desired.len; i++) {
        cv_free(o->desired.items[i].task_group);
    }
    cv_free(o->desired.items);
    for (size_t i = 0; i < o->class_eligibility.len; i++) {
        cv_free(o->class_eligibility.items[i].key);
    }
    cv_free(o->class_eligibility.items);
    memset(o, 0, sizeof *o);
}

bool sch_outcome_blocked(const struct sch_outcome *o)
{
    return o->failed_tg_allocs.len > 0;
}

/* ---- what the scheduler reads -------------------------------------------------------- */

struct alloc_list
{
    const struct cv_allocation **items;
    size_t len, cap;
};

static void collect_alloc(void *arg, const struct cv_allocation *a)
{
    struct alloc_list *l = arg;
    if (l->len == l->cap) {
        l->cap = l->cap != 0 ? l->cap * 2 : 64;
        l->items = cv_reallocarray(l->items, l->cap, sizeof *l->items);
    }
    l->items[l->len++] = a;
}

static int cmp_alloc_id(const void *pa, const void *pb)
{
    const struct cv_allocation *const *a = pa;
    const struct cv_allocation *const *b = pb;
    return strcmp((*a)->id, (*b)->id);
}

/* The job's allocation with this ID (the list is sorted by ID). */
static const struct cv_allocation *find_alloc(const struct alloc_list *l, const char *id)
{
    size_t lo = 0;
    size_t hi = l->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->items[mid]->id, id);
        if (c == 0) {
            return l->items[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static enum sch_node_state node_state(void *ctx, const char *node_id)
{
    const struct sch_state *st = ctx;
    const struct cv_node *n = st->node(st->ctx, node_id);
    if (n == NULL) {
        return SCH_NODE_GONE;
    }
    if (!str_eq(n->status, CV_NODE_STATUS_READY) &&
        !str_eq(n->status, CV_NODE_STATUS_INITIALIZING)) {
        return SCH_NODE_DOWN; /* down or disconnected: its allocations are lost */
    }
    if (n->drain_strategy != NULL) {
        return SCH_NODE_DRAINING;
    }
    return SCH_NODE_UP;
}

static uint64_t seed_of(const struct cv_evaluation *ev, const struct sch_options *opts)
{
    if (opts->seed != 0) {
        return opts->seed;
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the evaluation ID */
    for (const char *p = nonnull(ev->id); *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    }
    return h;
}

/* ---- building the plan ---------------------------------------------------------------- */

struct run
{
    const struct sch_state *st;
    const struct cv_evaluation *ev;
    const struct sch_options *opts;
    const struct cv_job *job;
    struct alloc_list allocs; /* sorted by ID */
    struct sch_stack *stack;
    const struct cv_task_group *tg; /* the group selected in the stack */
    struct cv_alloc_metric metric;  /* of the placement under way */
    struct sch_outcome *out;
};

static const struct cv_task_group *find_group(const struct cv_job *job, const char *name)
{
    for (size_t i = 0; job != NULL && i < job->task_groups.len; i++) {
        if (str_eq(job->task_groups.items[i].name, name)) {
            return &job->task_groups.items[i];
        }
    }
    return NULL;
}

static void add_plan_stop(struct run *r, const struct sch_stop *s)
{
    const struct cv_allocation *a = find_alloc(&r->allocs, s->alloc_id);
    if (a == NULL) {
        return; /* the reconciler only names allocations it was given */
    }
    struct sch_plan *p = &r->out->plan;
    p->stops.items = cv_reallocarray(p->stops.items, p->stops.len + 1, sizeof *p->stops.items);
    p->stops.items[p->stops.len++] = (struct sch_plan_stop){
        .node_id = cv_strdup(nonnull(a->node_id)),
        .alloc_id = cv_strdup(a->id),
        .description = s->description,
        .client_status = s->client_status,
    };
    if (r->stack != NULL) {
        sch_stack_stop(r->stack, a);
    }
}

static void push_alloc(struct run *r, struct cv_allocation *a)
{
    struct sch_plan *p = &r->out->plan;
    p->allocs.items = cv_reallocarray(p->allocs.items, p->allocs.len + 1, sizeof *p->allocs.items);
    p->allocs.items[p->allocs.len++] = a;
}

static struct cv_allocated_resources *group_allocated(const struct cv_task_group *tg)
{
    struct cv_allocated_resources *ar = cv_calloc(1, sizeof *ar);
    if (tg->tasks.len > 0) {
        ar->tasks.items = cv_calloc(tg->tasks.len, sizeof *ar->tasks.items);
    }
    for (size_t i = 0; i < tg->tasks.len; i++) {
        const struct cv_task *t = &tg->tasks.items[i];
        struct cv_allocated_task_resources *tr = &ar->tasks.items[ar->tasks.len++];
        tr->key = cv_strdup(nonnull(t->name));
        if (t->resources != NULL) {
            tr->cpu.cpu_shares = t->resources->cpu;
            tr->memory.memory_mb = t->resources->memory_mb;
            tr->memory.memory_max_mb = t->resources->memory_max_mb;
        }
    }
    if (tg->ephemeral_disk != NULL) {
        ar->shared.disk_mb = tg->ephemeral_disk->size_mb;
    }
    return ar;
}

/* A new allocation of group tg on node; takes the placement's name and
 * reschedule tracker. */
static struct cv_allocation *new_alloc(struct run *r, const struct cv_task_group *tg,
                                       const struct cv_node *node, struct sch_placement *pl)
{
    char id[CV_UUID_LEN + 1];
    cv_uuid_generate(id);
    struct cv_allocation *a = cv_alloc_new();
    cv_set_string(&a->id, id);
    cv_set_string(&a->namespace, nonnull(r->job->namespace));
    cv_set_string(&a->eval_id, nonnull(r->ev->id));
    cv_free(a->name);
    a->name = pl->name;
    pl->name = NULL;
    cv_set_string(&a->node_id, node->id);
    cv_set_string(&a->node_name, nonnull(node->name));
    cv_set_string(&a->job_id, r->job->id);
    cv_set_string(&a->task_group, tg->name);
    a->allocated_resources = group_allocated(tg);
    cv_set_string(&a->desired_status, CV_ALLOC_DESIRED_RUN);
    cv_set_string(&a->client_status, CV_ALLOC_CLIENT_PENDING);
    if (pl->previous_id != NULL) {
        cv_set_string(&a->previous_allocation, pl->previous_id);
    }
    if (pl->reschedule_tracker != NULL) {
        a->reschedule_tracker = pl->reschedule_tracker;
        pl->reschedule_tracker = NULL;
    }
    a->create_time = r->opts->now;
    a->modify_time = r->opts->now;
    return a;
}

/* An in-place update: the allocation as it is, on the job being scheduled. */
static void add_inplace(struct run *r, const char *alloc_id)
{
    const struct cv_allocation *old = find_alloc(&r->allocs, alloc_id);
    const struct cv_task_group *tg = old != NULL ? find_group(r->job, old->task_group) : NULL;
    if (tg == NULL) {
        return;
    }
    struct cv_allocation shallow = *old;
    shallow.job = NULL; /* not copied: the new version is pinned instead */
    struct cv_allocation *a = cv_alloc_copy(&shallow);
    a->job = cv_job_copy(r->job);
    cv_set_string(&a->eval_id, nonnull(r->ev->id));
    a->modify_time = r->opts->now;
    push_alloc(r, a);
}

static struct cv_tg_metric *find_failed(struct sch_outcome *o, const char *group)
{
    for (size_t i = 0; i < o->failed_tg_allocs.len; i++) {
        if (str_eq(o->failed_tg_allocs.items[i].key, group)) {
            return &o->failed_tg_allocs.items[i];
        }
    }
    return NULL;
}

static void reset_metric(struct run *r)
{
    cv_release(&cv_alloc_metric_schema, &r->metric);
    memset(&r->metric, 0, sizeof r->metric);
}

/* The placement under way failed: its metric becomes the group's failure
 * (the first one), or counts as a coalesced failure. */
static void record_failure(struct run *r, const char *group)
{
    struct sch_outcome *o = r->out;
    struct cv_tg_metric *f = find_failed(o, group);
    if (f != NULL) {
        f->metric.coalesced_failures++;
        reset_metric(r);
        return;
    }
    o->failed_tg_allocs.items = cv_reallocarray(
        o->failed_tg_allocs.items, o->failed_tg_allocs.len + 1, sizeof *o->failed_tg_allocs.items);
    o->failed_tg_allocs.items[o->failed_tg_allocs.len++] =
        (struct cv_tg_metric){.key = cv_strdup(group), .metric = r->metric};
    memset(&r->metric, 0, sizeof r->metric);
}

static int select_group(struct run *r, const struct cv_task_group *tg, struct cv_err *err)
{
    if (r->tg == tg) {
        return 0;
    }
    int rc = sch_stack_select_group(r->stack, tg, err);
    r->tg = rc == 0 ? tg : NULL;
    return rc;
}

static void count_queued(struct run *r, const char *group)
{
    cv_intmap_set(&r->out->queued, group, cv_intmap_get(&r->out->queued, group, 0) + 1);
}

/* Places one placement of the reconciler: on a node of the stack's choice
 * (service, batch), or on the placement's node (system, sysbatch). */
static int place_one(struct run *r, struct sch_placement *pl, struct cv_err *err)
{
    const struct cv_task_group *tg = find_group(r->job, pl->task_group);
    if (tg == NULL) {
        return 0; /* the reconciler places only groups of the job */
    }
    if (find_failed(r->out, tg->name) != NULL && pl->node_id == NULL) {
        /* Nomad coalesces: once a group failed, its other placements would
         * visit the same nodes and fail the same way. */
        find_failed(r->out, tg->name)->metric.coalesced_failures++;
        count_queued(r, tg->name);
        return 0;
    }
    int rc = select_group(r, tg, err);
    if (rc != 0) {
        return rc;
    }
    struct sch_resources ask;
    sch_group_resources(tg, &ask);
    const struct cv_node *node = NULL;
    if (pl->node_id == NULL) {
        node = sch_stack_place(r->stack, &ask, &r->metric);
    } else {
        const struct cv_node *want = r->st->node(r->st->ctx, pl->node_id);
        bool filtered = true;
        if (want != NULL && sch_stack_place_on(r->stack, want, &ask, &r->metric, &filtered)) {
            node = want;
        } else if (filtered) {
            /* A system job skips the nodes its constraints rule out. */
            reset_metric(r);
            return 0;
        }
    }
    if (node == NULL) {
        record_failure(r, tg->name);
        count_queued(r, tg->name);
        return 0;
    }
    reset_metric(r);
    push_alloc(r, new_alloc(r, tg, node, pl));
    r->out->placed++;
    return 0;
}

/* ---- service, batch, system, sysbatch ------------------------------------------------- */

struct node_list
{
    const struct cv_job *job;
    const struct cv_node **items;
    size_t len, cap;
};

static void collect_candidate(void *arg, const struct cv_node *n)
{
    struct node_list *l = arg;
    if (!sch_node_candidate(l->job, n)) {
        return;
    }
    if (l->len == l->cap) {
        l->cap = l->cap != 0 ? l->cap * 2 : 64;
        l->items = cv_reallocarray(l->items, l->cap, sizeof *l->items);
    }
    l->items[l->len++] = n;
}

static int reconcile(struct run *r, bool system, struct sch_reconcile_result *rec,
                     struct cv_err *err)
{
    const struct cv_allocation *const *allocs = r->allocs.items;
    if (!system) {
        return sch_reconcile(r->job, allocs, r->allocs.len, node_state, (void *)r->st, r->opts->now,
                             rec, err);
    }
    struct node_list list = {.job = r->job};
    if (r->job != NULL && !r->job->stop) {
        r->st->each_node(r->st->ctx, collect_candidate, &list);
    }
    int rc = sch_reconcile_system(r->job, list.items, list.len, allocs, r->allocs.len, node_state,
                                  (void *)r->st, r->opts->now, rec, err);
    cv_free(list.items);
    return rc;
}

static void take_desired(struct sch_outcome *o, struct sch_reconcile_result *rec)
{
    o->desired.items = rec->desired.items;
    o->desired.len = rec->desired.len;
    rec->desired.items = NULL;
    rec->desired.len = 0;
}

static int run_plan(struct run *r, bool system, struct cv_err *err)
{
    struct sch_reconcile_result rec;
    memset(&rec, 0, sizeof rec);
    int rc = reconcile(r, system, &rec, err);
    if (rc != 0) {
        return rc;
    }
    if (r->job != NULL && !r->job->stop) {
        r->stack =
            sch_stack_new(r->st, r->job, r->allocs.items, r->allocs.len, seed_of(r->ev, r->opts),
                          r->opts->algorithm, r->opts->score_metadata);
    }
    for (size_t i = 0; i < rec.stop.len; i++) {
        add_plan_stop(r, &rec.stop.items[i]);
    }
    for (size_t i = 0; r->stack != NULL && i < rec.inplace.len; i++) {
        add_inplace(r, rec.inplace.items[i]);
    }
    for (size_t i = 0; r->stack != NULL && rc == 0 && i < rec.place.len; i++) {
        if (r->opts->max_placements > 0 && r->out->placed >= r->opts->max_placements) {
            r->out->truncated = true;
            count_queued(r, rec.place.items[i].task_group);
            continue;
        }
        rc = place_one(r, &rec.place.items[i], err);
    }
    if (rc == 0 && r->job != NULL) {
        for (size_t g = 0; g < r->job->task_groups.len; g++) {
            const char *name = r->job->task_groups.items[g].name;
            cv_intmap_set(&r->out->queued, name, cv_intmap_get(&r->out->queued, name, 0));
        }
    }
    if (rc == 0 && r->stack != NULL) {
        r->out->nodes_visited = sch_stack_visits(r->stack);
        if (sch_outcome_blocked(r->out)) {
            sch_stack_class_eligibility(r->stack, r->out);
        }
    }
    take_desired(r->out, &rec);
    sch_reconcile_result_free(&rec);
    return rc;
}

int sch_schedule(const struct sch_state *st, const struct cv_evaluation *ev,
                 const struct sch_options *opts, struct sch_outcome *out, struct cv_err *err)
{
    if (ev->job_id == NULL || ev->job_id[0] == '\0') {
        return cv_err_setf(err, CV_EINVAL, "evaluation %s has no JobID", nonnull(ev->id));
    }
    struct run r = {.st = st, .ev = ev, .opts = opts, .out = out};
    r.job = st->job(st->ctx, ev->job_id);
    const char *type = r.job != NULL ? r.job->type : ev->type;
    bool system = str_eq(type, CV_JOB_TYPE_SYSTEM) || str_eq(type, CV_JOB_TYPE_SYSBATCH);
    if (!system && !str_eq(type, CV_JOB_TYPE_SERVICE) && !str_eq(type, CV_JOB_TYPE_BATCH)) {
        return cv_err_setf(err, CV_EINVAL, "evaluation %s: no scheduler for job type \"%s\"",
                           nonnull(ev->id), nonnull(type));
    }
    st->each_job_alloc(st->ctx, ev->job_id, collect_alloc, &r.allocs);
    if (r.allocs.len > 1) {
        qsort(r.allocs.items, r.allocs.len, sizeof *r.allocs.items, cmp_alloc_id);
    }
    struct sch_plan *p = &out->plan;
    p->eval_id = cv_strdup(nonnull(ev->id));
    p->job_id = cv_strdup(ev->job_id);
    p->priority = ev->priority;
    p->all_at_once = r.job != NULL && r.job->all_at_once;
    p->snapshot_index = st->index;

    int rc = run_plan(&r, system, err);
    reset_metric(&r);
    sch_stack_free(r.stack);
    cv_free(r.allocs.items);
    if (rc != 0) {
        sch_outcome_free(out);
    }
    return rc;
}
