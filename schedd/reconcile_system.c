/*
 * reconcile_system: Nomad's node reconciler for system and sysbatch jobs.
 *
 * Each task group is handled on its own (reconcile_group). Its allocations
 * are sorted by node ID (then by their position in the input, so equal
 * nodes keep a fixed order), which turns "the allocations of this group on
 * node X" into a binary search: a group costs O((A + N) log A) for A
 * allocations and N candidates, not A x N. The candidates are visited in
 * the caller's order (on_candidate), then the runs of allocations on other
 * nodes in node ID order (off_candidate). The candidate IDs are sorted once
 * per call to answer "is this node a candidate?".
 *
 * On a candidate the newest live allocation stays (older duplicates are
 * stopped) and is compared with the job; with none live, the latest
 * terminal one decides between a replacement and nothing (place_on_empty).
 * See reconcile_system.h for the rules and docs/schedd.md ("System and
 * sysbatch jobs") for where they differ from Nomad.
 */
#include "schedd/reconcile_system.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "schedd/rank.h"
#include "schedd/reconcile_internal.h"

/* An allocation, or a node ID, and its position in the caller's array. */
struct entry
{
    const struct cv_allocation *alloc;
    const char *node_id;
    size_t pos;
};

/* What one group's pass needs, passed down instead of nine arguments. */
struct group_pass
{
    const struct cv_job *job;
    const struct cv_task_group *tg;
    bool sysbatch;
    sch_node_state_fn node_state;
    void *ctx;
    int64_t now;
    struct sch_reconcile_result *out;
    struct sch_desired_updates *du;
};

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int cmp_entry(const void *pa, const void *pb)
{
    const struct entry *a = pa;
    const struct entry *b = pb;
    int c = strcmp(a->node_id, b->node_id);
    if (c != 0) {
        return c;
    }
    return a->pos < b->pos ? -1 : a->pos > b->pos ? 1 : 0;
}

/* The first entry of e[0..n) (sorted) on node_id, or n. */
static size_t lower_bound(const struct entry *e, size_t n, const char *node_id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(e[mid].node_id, node_id) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The end of the run of entries on e[lo]'s node: the first index past lo
 * on another node (lo itself when lo == n). */
static size_t run_end(const struct entry *e, size_t n, size_t lo)
{
    size_t hi = lo;
    while (hi < n && strcmp(e[hi].node_id, e[lo].node_id) == 0) {
        hi++;
    }
    return hi;
}

static bool is_candidate(const struct entry *cands, size_t n, const char *node_id)
{
    size_t i = lower_bound(cands, n, node_id);
    return i < n && strcmp(cands[i].node_id, node_id) == 0;
}

/* True when a is newer than b: a higher CreateIndex, then a higher ID. */
static bool newer(const struct cv_allocation *a, const struct cv_allocation *b)
{
    if (a->create_index != b->create_index) {
        return a->create_index > b->create_index;
    }
    return strcmp(a->id, b->id) > 0;
}

static const struct cv_task_group *find_group(const struct cv_job *job, const char *name)
{
    if (job == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < job->task_groups.len; i++) {
        if (str_eq(job->task_groups.items[i].name, name)) {
            return &job->task_groups.items[i];
        }
    }
    return NULL;
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

static char *alloc_name(const char *job_id, const char *group)
{
    int len = snprintf(NULL, 0, "%s.%s[0]", job_id, group);
    char *s = cv_malloc((size_t)len + 1);
    snprintf(s, (size_t)len + 1, "%s.%s[0]", job_id, group);
    return s;
}

static struct sch_placement *add_place(const struct group_pass *g, const char *node_id,
                                       const struct cv_allocation *prev,
                                       enum sch_place_reason reason)
{
    struct sch_placement *p = VEC_PUSH(g->out->place);
    p->task_group = cv_strdup(g->tg->name);
    p->name = alloc_name(g->job->id, g->tg->name);
    p->previous_id = prev != NULL ? cv_strdup(prev->id) : NULL;
    p->node_id = cv_strdup(node_id);
    p->reason = reason;
    return p;
}

/* Stops every live allocation of a group that should not run at all. */
static void stop_group(const struct cv_allocation *const *allocs, size_t n, const char *group,
                       struct sch_reconcile_result *out, struct sch_desired_updates *du)
{
    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (!str_eq(a->task_group, group)) {
            continue;
        }
        if (sch_alloc_terminal(a)) {
            du->ignore++;
            continue;
        }
        add_stop(out, a, SCH_DESC_NOT_NEEDED, NULL);
        du->stop++;
    }
}

/* The live allocation kept on a candidate: current, or updated. */
static void update_live(const struct group_pass *g, const char *node_id,
                        const struct cv_allocation *a)
{
    if (sch_alloc_job_current(a, g->job)) {
        g->du->ignore++;
        return;
    }
    const struct cv_task_group *old_tg = find_group(a->job, g->tg->name);
    if (sch_group_update_destructive(a->job, old_tg, g->job, g->tg)) {
        add_stop(g->out, a, SCH_DESC_UPDATING, NULL);
        add_place(g, node_id, a, SCH_PLACE_DESTRUCTIVE);
        g->du->destructive++;
    } else {
        char **id = VEC_PUSH(g->out->inplace);
        *id = cv_strdup(a->id);
        g->du->inplace++;
    }
}

/* A candidate with no live allocation of the group; prev is the latest
 * terminal one there, or NULL. */
static void place_on_empty(const struct group_pass *g, const char *node_id,
                           const struct cv_allocation *prev)
{
    if (prev == NULL) {
        add_place(g, node_id, NULL, SCH_PLACE_NEW);
        g->du->place++;
        return;
    }
    bool failed = str_eq(prev->client_status, CV_ALLOC_CLIENT_FAILED);
    if (!g->sysbatch) {
        /* A system job runs everywhere, always: whatever ended it. */
        enum sch_place_reason reason = SCH_PLACE_NEW;
        if (failed) {
            reason = SCH_PLACE_RESCHEDULE;
        } else if (str_eq(prev->client_status, CV_ALLOC_CLIENT_LOST)) {
            reason = SCH_PLACE_LOST;
        }
        add_place(g, node_id, prev, reason);
        g->du->place++;
        return;
    }
    /* Sysbatch: the work on this node is done (or given up) for this
     * version of the tasks. A new version reruns it, as Nomad's
     * evictAndPlace does; the allocation is terminal already, so there is
     * nothing to stop. */
    if (!sch_alloc_job_current(prev, g->job) &&
        sch_group_update_destructive(prev->job, find_group(prev->job, g->tg->name), g->job,
                                     g->tg)) {
        add_place(g, node_id, prev, SCH_PLACE_DESTRUCTIVE);
        g->du->destructive++;
        return;
    }
    if (failed &&
        sch_reschedule_eligible(g->tg->reschedule_policy, prev->reschedule_tracker, g->now)) {
        struct sch_placement *p = add_place(g, node_id, prev, SCH_PLACE_RESCHEDULE);
        p->reschedule_tracker = sch_tracker_with_attempt(prev, g->now);
        g->du->place++;
        return;
    }
    g->du->ignore++;
}

/* run[0..k): the group's allocations on candidate node_id, any status. */
static void on_candidate(const struct group_pass *g, const char *node_id, const struct entry *run,
                         size_t k)
{
    const struct cv_allocation *keep = NULL; /* the newest live */
    const struct cv_allocation *last = NULL; /* the newest terminal */
    for (size_t i = 0; i < k; i++) {
        const struct cv_allocation *a = run[i].alloc;
        const struct cv_allocation **best = sch_alloc_terminal(a) ? &last : &keep;
        if (*best == NULL || newer(a, *best)) {
            *best = a;
        }
    }
    for (size_t i = 0; i < k; i++) {
        const struct cv_allocation *a = run[i].alloc;
        if (a == keep || a == last) {
            continue;
        }
        if (sch_alloc_terminal(a)) {
            g->du->ignore++;
        } else {
            add_stop(g->out, a, SCH_DESC_NOT_NEEDED, NULL);
            g->du->stop++;
        }
    }
    if (keep != NULL) {
        if (last != NULL) {
            g->du->ignore++;
        }
        update_live(g, node_id, keep);
    } else {
        place_on_empty(g, node_id, last);
    }
}

/* run[0..k): the group's allocations on node_id, which is not a candidate.
 * Nothing is placed there. Nomad stops the allocations of an up node that
 * left the job's datacenters or pool but keeps those of an ineligible one;
 * node_state does not tell the two apart, so both are kept, and not updated:
 * a destructive update would need a placement the node no longer takes. */
static void off_candidate(const struct group_pass *g, const char *node_id, const struct entry *run,
                          size_t k)
{
    const struct cv_allocation *keep = NULL;
    for (size_t i = 0; i < k; i++) {
        const struct cv_allocation *a = run[i].alloc;
        if (!sch_alloc_terminal(a) && (keep == NULL || newer(a, keep))) {
            keep = a;
        }
    }
    if (keep == NULL) {
        g->du->ignore += (int64_t)k;
        return;
    }
    enum sch_node_state st = g->node_state != NULL ? g->node_state(g->ctx, node_id) : SCH_NODE_UP;
    for (size_t i = 0; i < k; i++) {
        const struct cv_allocation *a = run[i].alloc;
        if (sch_alloc_terminal(a)) {
            g->du->ignore++;
        } else if (st == SCH_NODE_DOWN || st == SCH_NODE_GONE) {
            add_stop(g->out, a, SCH_DESC_LOST, CV_ALLOC_CLIENT_LOST);
            g->du->stop++;
        } else if (st == SCH_NODE_DRAINING) {
            /* system allocations do not migrate: nothing replaces them */
            add_stop(g->out, a, SCH_DESC_MIGRATING, NULL);
            g->du->migrate++;
        } else if (a != keep) {
            add_stop(g->out, a, SCH_DESC_NOT_NEEDED, NULL);
            g->du->stop++;
        } else {
            g->du->ignore++;
        }
    }
}

static void reconcile_group(const struct group_pass *g, const struct cv_node *const *nodes,
                            size_t n_nodes, const struct entry *cands,
                            const struct cv_allocation *const *allocs, size_t n)
{
    struct entry *e = cv_calloc(n + 1, sizeof *e);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (str_eq(allocs[i]->task_group, g->tg->name)) {
            e[m++] = (struct entry){.alloc = allocs[i], .node_id = allocs[i]->node_id, .pos = i};
        }
    }
    qsort(e, m, sizeof *e, cmp_entry);

    for (size_t c = 0; c < n_nodes; c++) {
        const char *id = nodes[c]->id;
        size_t lo = lower_bound(e, m, id);
        size_t k = lo < m && strcmp(e[lo].node_id, id) == 0 ? run_end(e, m, lo) - lo : 0;
        on_candidate(g, id, e + lo, k);
    }
    size_t lo = 0;
    while (lo < m) {
        size_t hi = run_end(e, m, lo);
        if (!is_candidate(cands, n_nodes, e[lo].node_id)) {
            off_candidate(g, e[lo].node_id, e + lo, hi - lo);
        }
        lo = hi;
    }
    cv_free(e);
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

/* Checks the input and returns the candidates sorted by ID in *sorted (a
 * new array, NULL when there are none). */
static int check_input(const struct cv_job *job, const struct cv_node *const *nodes, size_t n_nodes,
                       const struct cv_allocation *const *allocs, size_t n, struct entry **sorted,
                       struct cv_err *err)
{
    *sorted = NULL;
    if (job != NULL && !str_eq(job->type, CV_JOB_TYPE_SYSTEM) &&
        !str_eq(job->type, CV_JOB_TYPE_SYSBATCH)) {
        return cv_err_setf(err, CV_EINVAL, "reconcile: job type %s is not system or sysbatch",
                           job->type != NULL ? job->type : "(none)");
    }
    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (a->id == NULL || a->task_group == NULL || a->node_id == NULL || a->node_id[0] == '\0') {
            return cv_err_setf(err, CV_EINVAL,
                               "reconcile: allocation %zu lacks an ID, a task group or a node", i);
        }
    }
    struct entry *c = cv_calloc(n_nodes + 1, sizeof *c);
    for (size_t i = 0; i < n_nodes; i++) {
        if (nodes[i] == NULL || nodes[i]->id == NULL) {
            cv_free(c);
            return cv_err_setf(err, CV_EINVAL, "reconcile: candidate node %zu has no ID", i);
        }
        c[i] = (struct entry){.node_id = nodes[i]->id, .pos = i};
    }
    qsort(c, n_nodes, sizeof *c, cmp_entry);
    for (size_t i = 1; i < n_nodes; i++) {
        if (strcmp(c[i - 1].node_id, c[i].node_id) == 0) {
            int rc =
                cv_err_setf(err, CV_EINVAL, "reconcile: node %s is listed twice", c[i].node_id);
            cv_free(c);
            return rc;
        }
    }
    *sorted = c;
    return 0;
}

int sch_reconcile_system(const struct cv_job *job, const struct cv_node *const *nodes,
                         size_t n_nodes, const struct cv_allocation *const *allocs, size_t n,
                         sch_node_state_fn node_state, void *ctx, int64_t now,
                         struct sch_reconcile_result *out, struct cv_err *err)
{
    memset(out, 0, sizeof *out);
    struct entry *cands;
    int rc = check_input(job, nodes, n_nodes, allocs, n, &cands, err);
    if (rc != 0) {
        return rc;
    }

    bool stopping = job == NULL || job->stop;
    if (job != NULL) {
        for (size_t i = 0; i < job->task_groups.len; i++) {
            const struct cv_task_group *tg = &job->task_groups.items[i];
            struct sch_desired_updates *du = add_desired(out, tg->name);
            if (stopping || tg->count <= 0) {
                stop_group(allocs, n, tg->name, out, du);
                continue;
            }
            struct group_pass g = {
                .job = job,
                .tg = tg,
                .sysbatch = str_eq(job->type, CV_JOB_TYPE_SYSBATCH),
                .node_state = node_state,
                .ctx = ctx,
                .now = now,
                .out = out,
                .du = du,
            };
            reconcile_group(&g, nodes, n_nodes, cands, allocs, n);
        }
    }
    /* Groups that only allocations name: the job dropped them, or is gone. */
    for (size_t i = 0; i < n; i++) {
        const char *group = allocs[i]->task_group;
        if (find_desired(out, group) == NULL) {
            stop_group(allocs, n, group, out, add_desired(out, group));
        }
    }
    cv_free(cands);
    return 0;
}
