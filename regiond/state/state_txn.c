/*
 * state_txn: what a write transaction does to the state, table by table:
 * Nomad's rules (nomad/state/state_store.go) for jobs and their versions,
 * nodes, allocations and evaluations, and the secondary indexes every write
 * keeps (state_index_put and state_index_del, which restore uses too).
 * state.c begins, commits and aborts the transaction.
 *
 * Every call writes into txn->work, the next state, which the transaction
 * holds alone; the trees copy a shared path on its first write. A call
 * that fails does so before it writes anything. The fields the state owns
 * (CreateIndex, ModifyIndex, a job's Version and Status) are set here,
 * whatever the caller passed, and each table written gets the
 * transaction's index, which commit uses to fire the watches. Writes to
 * allocations and evaluations recompute the statuses of the jobs they
 * touch (Nomad's setJobStatuses).
 *
 * What it does not do: check objects beyond what its rules need (the FSM
 * decoded them through the model's checks), or publish anything.
 */
#include "regiond/state/state.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/state/state_internal.h"

static bool streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

/* ---- secondary indexes ------------------------------------------------------------ */

static void put1(struct state_snap *s, enum state_tree_id id, const char *a, struct state_obj *o)
{
    struct state_key k;
    state_key_make(&k, a, NULL);
    state_snap_put(s, id, k.p, k.len, o);
    state_key_done(&k);
}

static void del1(struct state_snap *s, enum state_tree_id id, const char *a)
{
    struct state_key k;
    state_key_make(&k, a, NULL);
    state_snap_del(s, id, k.p, k.len);
    state_key_done(&k);
}

/* Puts o under "a\0b" in a secondary index, first removing the entry of
 * the object it replaces when that one's key differs. */
static void put2(struct state_snap *s, enum state_tree_id id, const char *old_a, const char *a,
                 const char *b, struct state_obj *o)
{
    if (old_a && !streq(old_a, a)) {
        struct state_key k;
        state_key_make(&k, old_a, b);
        state_snap_del(s, id, k.p, k.len);
        state_key_done(&k);
    }
    struct state_key k;
    state_key_make(&k, a, b);
    state_snap_put(s, id, k.p, k.len, o);
    state_key_done(&k);
}

static void del2(struct state_snap *s, enum state_tree_id id, const char *a, const char *b)
{
    struct state_key k;
    state_key_make(&k, a, b);
    state_snap_del(s, id, k.p, k.len);
    state_key_done(&k);
}

/* Secondary indexes first, primary last: replacing or removing the primary
 * entry may free the old object, whose keys are read until then. */
void state_index_put(struct state_snap *s, const struct state_obj *old, struct state_obj *o)
{
    assert(!old || old->kind == o->kind);
    switch (o->kind) {
    case STATE_K_NODE: {
        const struct cv_node *n = o->ptr;
        put1(s, STATE_T_NODES, n->id, o);
        break;
    }
    case STATE_K_ALLOC: {
        const struct cv_allocation *a = o->ptr;
        const struct cv_allocation *prev = old ? old->ptr : NULL;
        assert(!prev || streq(prev->id, a->id));
        put2(s, STATE_T_ALLOCS_BY_JOB, prev ? prev->job_id : NULL, a->job_id, a->id, o);
        put2(s, STATE_T_ALLOCS_BY_NODE, prev ? prev->node_id : NULL, a->node_id, a->id, o);
        put1(s, STATE_T_ALLOCS, a->id, o);
        break;
    }
    case STATE_K_EVAL: {
        const struct cv_evaluation *e = o->ptr;
        const struct cv_evaluation *prev = old ? old->ptr : NULL;
        assert(!prev || streq(prev->id, e->id));
        put2(s, STATE_T_EVALS_BY_JOB, prev ? prev->job_id : NULL, e->job_id, e->id, o);
        put2(s, STATE_T_EVALS_BY_STATUS, prev ? prev->status : NULL, e->status, e->id, o);
        put1(s, STATE_T_EVALS, e->id, o);
        break;
    }
    case STATE_K_JOB:
        assert(!"jobs are put by upsert_job");
        break;
    }
}

void state_index_del(struct state_snap *s, const struct state_obj *o)
{
    switch (o->kind) {
    case STATE_K_NODE: {
        const struct cv_node *n = o->ptr;
        del1(s, STATE_T_NODES, n->id);
        break;
    }
    case STATE_K_ALLOC: {
        const struct cv_allocation *a = o->ptr;
        del2(s, STATE_T_ALLOCS_BY_JOB, a->job_id, a->id);
        del2(s, STATE_T_ALLOCS_BY_NODE, a->node_id, a->id);
        del1(s, STATE_T_ALLOCS, a->id);
        break;
    }
    case STATE_K_EVAL: {
        const struct cv_evaluation *e = o->ptr;
        del2(s, STATE_T_EVALS_BY_JOB, e->job_id, e->id);
        del2(s, STATE_T_EVALS_BY_STATUS, e->status, e->id);
        del1(s, STATE_T_EVALS, e->id);
        break;
    }
    case STATE_K_JOB:
        assert(!"jobs are deleted by delete_job");
        break;
    }
}

/* ---- transactions: helpers ------------------------------------------------------ */

static void touch(struct state_txn *txn, unsigned mask)
{
    txn->touched |= mask;
    for (int t = 0; t < STATE_TABLE_COUNT; t++) {
        if (mask & STATE_MASK(t)) {
            txn->work->table_index[t] = txn->index;
        }
    }
}

static struct state_obj *get_obj(const struct state_txn *txn, enum state_tree_id id,
                                 const char *key)
{
    return state_tree_get(txn->work->tree[id], key, strlen(key));
}

/* A list of IDs (job IDs whose status may have changed...), copied: the
 * objects they came from may be freed before the list is used. */
struct id_item
{
    char *id;
    char *alloc; /* a job's allocation this call wrote, or NULL */
};

struct id_list
{
    struct id_item *items;
    size_t len, cap;
};

static void id_list_push(struct id_list *l, const char *id, const char *alloc)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = cv_reallocarray(l->items, l->cap, sizeof *l->items);
    }
    l->items[l->len].id = cv_strdup(id);
    l->items[l->len].alloc = alloc ? cv_strdup(alloc) : NULL;
    l->len++;
}

static void id_list_add(struct id_list *l, const char *id)
{
    id_list_push(l, id, NULL);
}

static void id_list_free(struct id_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        cv_free(l->items[i].id);
        cv_free(l->items[i].alloc);
    }
    cv_free(l->items);
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct id_item *)a)->id, ((const struct id_item *)b)->id);
}

static bool alloc_terminal(const struct cv_allocation *a)
{
    return streq(a->desired_status, CV_ALLOC_DESIRED_STOP) ||
           streq(a->desired_status, CV_ALLOC_DESIRED_EVICT) ||
           cv_alloc_client_terminal(a->client_status);
}

/* Nomad's getJobStatus: system jobs run until stopped; otherwise a job
 * with a live allocation is running, one with a live evaluation pending,
 * and one whose allocations and evaluations are all terminal (or were just
 * garbage collected) dead. */
static const char *job_status(const struct state_snap *s, const struct cv_job *job,
                              bool eval_delete)
{
    if (streq(job->type, CV_JOB_TYPE_SYSTEM)) {
        return job->stop ? CV_JOB_STATUS_DEAD : CV_JOB_STATUS_RUNNING;
    }
    struct state_iter it;
    bool has_alloc = false, has_eval = false;
    const struct cv_allocation *a;
    state_iter_allocs_by_job(s, job->id, &it);
    while ((a = state_iter_next(&it))) {
        has_alloc = true;
        if (!alloc_terminal(a)) {
            return CV_JOB_STATUS_RUNNING;
        }
    }
    const struct cv_evaluation *e;
    state_iter_evals_by_job(s, job->id, &it);
    while ((e = state_iter_next(&it))) {
        has_eval = true;
        if (!cv_eval_terminal(e->status)) {
            return CV_JOB_STATUS_PENDING;
        }
    }
    return eval_delete || has_eval || has_alloc ? CV_JOB_STATUS_DEAD : CV_JOB_STATUS_PENDING;
}

/* True when the allocation the call wrote for job_id is still there, the
 * job's, and live. */
static bool alloc_live(const struct state_txn *txn, const char *job_id, const char *alloc_id)
{
    const struct state_obj *o = alloc_id ? get_obj(txn, STATE_T_ALLOCS, alloc_id) : NULL;
    const struct cv_allocation *a = o ? o->ptr : NULL;
    return a && streq(a->job_id, job_id) && !alloc_terminal(a);
}

/* Nomad's setJobStatuses: a job whose status changes is replaced by a copy
 * with the new status and ModifyIndex (its tracked version is not).
 *
 * Shortcut: a job with a live allocation that this call wrote is running
 * (unless it is a system job, whose status does not depend on allocations)
 * without a scan of its allocations, so the common writes (placements,
 * "running" updates) cost O(log n) however many allocations the job has. */
static void set_job_statuses(struct state_txn *txn, struct id_list *l, bool eval_delete)
{
    if (l->len > 1) {
        qsort(l->items, l->len, sizeof *l->items, cmp_item);
    }
    for (size_t i = 0; i < l->len; i++) {
        bool live = alloc_live(txn, l->items[i].id, l->items[i].alloc);
        while (i + 1 < l->len && strcmp(l->items[i].id, l->items[i + 1].id) == 0) {
            i++;
            live = live || alloc_live(txn, l->items[i].id, l->items[i].alloc);
        }
        struct state_obj *jo = get_obj(txn, STATE_T_JOBS, l->items[i].id);
        if (!jo) {
            continue;
        }
        const struct cv_job *job = jo->ptr;
        const char *status = live && !streq(job->type, CV_JOB_TYPE_SYSTEM)
                                 ? CV_JOB_STATUS_RUNNING
                                 : job_status(txn->work, job, eval_delete);
        if (streq(job->status, status)) {
            continue;
        }
        struct cv_job *copy = cv_job_copy(job);
        cv_set_string(&copy->status, status);
        copy->modify_index = txn->index;
        struct state_obj *o = state_obj_new(STATE_K_JOB, copy, NULL);
        put1(txn->work, STATE_T_JOBS, copy->id, o);
        state_obj_release(o);
        touch(txn, STATE_MASK(STATE_JOBS));
    }
    id_list_free(l);
}

/* ---- jobs ------------------------------------------------------------------------- */

/* Returns a new array with the versions of a job in job_versions, newest
 * first; *n gets their number and *stable the position of the newest
 * stable one (SIZE_MAX if none). Collected before anything is deleted:
 * deleting while iterating would walk nodes the deletion frees. */
static uint64_t *job_versions(const struct state_txn *txn, const char *job_id, size_t *n,
                              size_t *stable)
{
    size_t cap = 8;
    uint64_t *versions = cv_reallocarray(NULL, cap, sizeof *versions);
    struct state_iter it;
    const struct cv_job *v;
    *n = 0;
    *stable = SIZE_MAX;
    state_iter_job_versions(txn->work, job_id, &it);
    while ((v = state_iter_next(&it))) {
        if (*n == cap) {
            cap *= 2;
            versions = cv_reallocarray(versions, cap, sizeof *versions);
        }
        if (v->stable && *stable == SIZE_MAX) {
            *stable = *n;
        }
        versions[(*n)++] = v->version;
    }
    return versions;
}

static void del_version(struct state_txn *txn, const char *job_id, uint64_t version)
{
    struct state_key k;
    state_key_version(&k, job_id, version);
    state_snap_del(txn->work, STATE_T_JOB_VERSIONS, k.p, k.len);
    state_key_done(&k);
}

/* Records o (the job just upserted) in job_versions and trims the job's
 * versions to the configured number, keeping the newest stable version
 * even when it is older than those (Nomad's upsertJobVersion). */
static void record_version(struct state_txn *txn, struct state_obj *o)
{
    const struct cv_job *job = o->ptr;
    struct state_key k;
    state_key_version(&k, job->id, job->version);
    state_snap_put(txn->work, STATE_T_JOB_VERSIONS, k.p, k.len, o);
    state_key_done(&k);

    size_t keep = txn->st->cfg.job_tracked_versions, n, stable;
    uint64_t *versions = job_versions(txn, job->id, &n, &stable);
    if (stable != SIZE_MAX && stable >= keep) {
        /* the newest stable version takes the place of the oldest kept one */
        uint64_t t = versions[keep - 1];
        versions[keep - 1] = versions[stable];
        versions[stable] = t;
    }
    for (size_t i = keep; i < n; i++) {
        del_version(txn, job->id, versions[i]);
    }
    cv_free(versions);
}

int state_txn_upsert_job(struct state_txn *txn, struct cv_job *job, struct cv_err *err)
{
    if (empty(job->id)) {
        return cv_err_setf(err, CV_EINVAL, "job has no ID");
    }
    const struct state_obj *exo = get_obj(txn, STATE_T_JOBS, job->id);
    if (exo) {
        const struct cv_job *ex = exo->ptr;
        job->create_index = ex->create_index;
        if (job->version <= ex->version) {
            job->version = ex->version + 1;
        }
    } else {
        job->create_index = txn->index;
    }
    job->modify_index = txn->index;
    job->job_modify_index = txn->index;
    cv_set_string(&job->status, job_status(txn->work, job, false));

    struct state_obj *o = state_obj_new(STATE_K_JOB, job, NULL);
    put1(txn->work, STATE_T_JOBS, job->id, o);
    record_version(txn, o);
    state_obj_release(o);
    touch(txn, STATE_MASK(STATE_JOBS) | STATE_MASK(STATE_JOB_VERSIONS));
    return 0;
}

int state_txn_delete_job(struct state_txn *txn, const char *job_id, struct cv_err *err)
{
    if (!get_obj(txn, STATE_T_JOBS, job_id)) {
        return cv_err_setf(err, CV_ENOTFOUND, "job \"%s\" not found", job_id);
    }
    char *id = cv_strdup(job_id); /* job_id may be the deleted job's own */
    del1(txn->work, STATE_T_JOBS, id);
    size_t n, stable;
    uint64_t *versions = job_versions(txn, id, &n, &stable);
    for (size_t i = 0; i < n; i++) {
        del_version(txn, id, versions[i]);
    }
    cv_free(versions);
    cv_free(id);
    touch(txn, STATE_MASK(STATE_JOBS) | STATE_MASK(STATE_JOB_VERSIONS));
    return 0;
}

/* ---- nodes ------------------------------------------------------------------------- */

/* Replaces node's drain strategy with a deep copy of ds (NULL: none). The
 * copy goes through the model's copy, so its strings are canonical ("" for
 * an absent time) whatever ds holds. */
static void node_set_drain(struct cv_node *node, const struct cv_drain_strategy *ds)
{
    struct cv_node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.drain_strategy = (struct cv_drain_strategy *)ds; /* only read */
    struct cv_node *copy = cv_node_copy(&tmp);
    struct cv_drain_strategy *old = node->drain_strategy;
    node->drain_strategy = copy->drain_strategy;
    copy->drain_strategy = old;
    cv_node_free(copy);
}

int state_txn_upsert_node(struct state_txn *txn, struct cv_node *node, struct cv_err *err)
{
    if (empty(node->id)) {
        return cv_err_setf(err, CV_EINVAL, "node has no ID");
    }
    const struct state_obj *exo = get_obj(txn, STATE_T_NODES, node->id);
    if (exo) {
        /* Drain and eligibility are the operator's, not the client's. */
        const struct cv_node *ex = exo->ptr;
        node->create_index = ex->create_index;
        node->drain = ex->drain;
        cv_set_string(&node->scheduling_eligibility, ex->scheduling_eligibility);
        if (ex->drain_strategy || node->drain_strategy) {
            node_set_drain(node, ex->drain_strategy);
        }
    } else {
        node->create_index = txn->index;
    }
    node->modify_index = txn->index;
    struct state_obj *o = state_obj_new(STATE_K_NODE, node, NULL);
    state_index_put(txn->work, exo, o);
    state_obj_release(o);
    touch(txn, STATE_MASK(STATE_NODES));
    return 0;
}

/* Stores a copy of the node, changed by the caller, in place of exo. */
static struct cv_node *node_copy_for_update(struct state_txn *txn, const struct state_obj *exo)
{
    struct cv_node *copy = cv_node_copy(exo->ptr);
    copy->modify_index = txn->index;
    return copy;
}

static void node_store(struct state_txn *txn, const struct state_obj *exo, struct cv_node *copy)
{
    struct state_obj *o = state_obj_new(STATE_K_NODE, copy, NULL);
    state_index_put(txn->work, exo, o);
    state_obj_release(o);
    touch(txn, STATE_MASK(STATE_NODES));
}

int state_txn_update_node_status(struct state_txn *txn, const char *node_id, const char *status,
                                 int64_t updated_at, struct cv_err *err)
{
    const struct state_obj *exo = get_obj(txn, STATE_T_NODES, node_id);
    if (!exo) {
        return cv_err_setf(err, CV_ENOTFOUND, "node \"%s\" not found", node_id);
    }
    struct cv_node *copy = node_copy_for_update(txn, exo);
    cv_set_string(&copy->status, status);
    copy->status_updated_at = updated_at;
    node_store(txn, exo, copy);
    return 0;
}

int state_txn_update_node_eligibility(struct state_txn *txn, const char *node_id,
                                      const char *eligibility, struct cv_err *err)
{
    if (!streq(eligibility, CV_NODE_ELIGIBLE) && !streq(eligibility, CV_NODE_INELIGIBLE)) {
        return cv_err_setf(err, CV_EINVAL, "unknown scheduling eligibility \"%s\"", eligibility);
    }
    const struct state_obj *exo = get_obj(txn, STATE_T_NODES, node_id);
    if (!exo) {
        return cv_err_setf(err, CV_ENOTFOUND, "node \"%s\" not found", node_id);
    }
    const struct cv_node *ex = exo->ptr;
    if (ex->drain_strategy && streq(eligibility, CV_NODE_ELIGIBLE)) {
        return cv_err_setf(err, CV_EINVAL,
                           "can not set node's scheduling eligibility to eligible while it is "
                           "draining");
    }
    struct cv_node *copy = node_copy_for_update(txn, exo);
    cv_set_string(&copy->scheduling_eligibility, eligibility);
    node_store(txn, exo, copy);
    return 0;
}

/* Nomad's updateNodeDrainImpl: the strategy replaces the node's, a drain
 * makes the node ineligible, and turning it off makes it eligible only when
 * asked (a node an operator had made ineligible before draining it stays
 * so otherwise). */
int state_txn_update_node_drain(struct state_txn *txn, const char *node_id,
                                const struct cv_drain_strategy *strategy, bool mark_eligible,
                                int64_t updated_at, struct cv_err *err)
{
    const struct state_obj *exo = get_obj(txn, STATE_T_NODES, node_id);
    if (!exo) {
        return cv_err_setf(err, CV_ENOTFOUND, "node \"%s\" not found", node_id);
    }
    struct cv_node *copy = node_copy_for_update(txn, exo);
    node_set_drain(copy, strategy);
    copy->drain = strategy != NULL;
    if (strategy) {
        cv_set_string(&copy->scheduling_eligibility, CV_NODE_INELIGIBLE);
    } else if (mark_eligible) {
        cv_set_string(&copy->scheduling_eligibility, CV_NODE_ELIGIBLE);
    }
    copy->status_updated_at = updated_at;
    node_store(txn, exo, copy);
    return 0;
}

int state_txn_delete_nodes(struct state_txn *txn, const char *const *ids, size_t n,
                           struct cv_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!get_obj(txn, STATE_T_NODES, ids[i])) {
            return cv_err_setf(err, CV_ENOTFOUND, "node \"%s\" not found", ids[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        del1(txn->work, STATE_T_NODES, ids[i]); /* a repeated ID is gone already */
    }
    touch(txn, STATE_MASK(STATE_NODES));
    return 0;
}

/* ---- allocations ------------------------------------------------------------------- */

/* Moves a deep copy of from->task_states into a->task_states, freeing
 * what a had. */
static void take_task_states(struct cv_allocation *a, const struct cv_allocation *from)
{
    struct cv_allocation tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.task_states = from->task_states;
    struct cv_allocation *copy = cv_alloc_copy(&tmp);
    tmp.task_states = a->task_states;
    a->task_states = copy->task_states;
    copy->task_states = tmp.task_states;
    cv_alloc_free(copy);
}

int state_txn_upsert_allocs(struct state_txn *txn, struct cv_allocation *const *allocs, size_t n,
                            struct cv_err *err)
{
    /* Check everything first: a failed call changes nothing. */
    for (size_t i = 0; i < n; i++) {
        const struct cv_allocation *a = allocs[i];
        if (empty(a->id) || empty(a->job_id) || empty(a->node_id)) {
            return cv_err_setf(err, CV_EINVAL,
                               "allocation %zu (\"%s\") needs an ID, a JobID and a NodeID", i,
                               a->id ? a->id : "");
        }
        if (a->job || get_obj(txn, STATE_T_ALLOCS, a->id) ||
            get_obj(txn, STATE_T_JOBS, a->job_id)) {
            continue;
        }
        bool earlier = false; /* replaces one of this batch */
        for (size_t j = 0; j < i && !earlier; j++) {
            earlier = streq(allocs[j]->id, a->id);
        }
        if (!earlier) {
            return cv_err_setf(err, CV_ENOTFOUND,
                               "allocation \"%s\" has no job and job \"%s\" is not in the state",
                               a->id, a->job_id);
        }
    }
    struct id_list jobs = {0};
    for (size_t i = 0; i < n; i++) {
        struct cv_allocation *a = allocs[i];
        const struct state_obj *exo = get_obj(txn, STATE_T_ALLOCS, a->id);
        const struct cv_allocation *ex = exo ? exo->ptr : NULL;
        struct state_obj *job;
        if (a->job) {
            job = state_obj_new(STATE_K_JOB, a->job, NULL);
        } else if (exo) {
            job = state_obj_retain(exo->job);
        } else {
            job = state_obj_retain(get_obj(txn, STATE_T_JOBS, a->job_id));
        }
        a->job = job->ptr; /* borrowed from now on */
        if (ex) {
            a->create_index = ex->create_index;
            if (ex->task_states.len || a->task_states.len) {
                take_task_states(a, ex);
            }
            if (!streq(a->client_status, CV_ALLOC_CLIENT_LOST) &&
                !streq(a->client_status, CV_ALLOC_CLIENT_UNKNOWN)) {
                cv_set_string(&a->client_status, ex->client_status);
                cv_set_string(&a->client_description, ex->client_description);
            }
            if (!streq(ex->job_id, a->job_id)) {
                id_list_add(&jobs, ex->job_id);
            }
        } else {
            a->create_index = txn->index;
        }
        a->modify_index = txn->index;
        a->alloc_modify_index = txn->index;
        id_list_push(&jobs, a->job_id, a->id);
        struct state_obj *o = state_obj_new(STATE_K_ALLOC, a, job);
        state_index_put(txn->work, exo, o);
        state_obj_release(o);
    }
    touch(txn, STATE_MASK(STATE_ALLOCS));
    set_job_statuses(txn, &jobs, false);
    return 0;
}

int state_txn_update_allocs_from_client(struct state_txn *txn, struct cv_allocation *const *updates,
                                        size_t n, struct cv_err *err)
{
    (void)err; /* nothing can fail: unknown allocations are dropped */
    struct id_list jobs = {0};
    for (size_t i = 0; i < n; i++) {
        struct cv_allocation *u = updates[i];
        const struct state_obj *exo = empty(u->id) ? NULL : get_obj(txn, STATE_T_ALLOCS, u->id);
        if (exo) {
            const struct cv_allocation *ex = exo->ptr;
            struct cv_allocation tmp = *ex; /* shallow: only read */
            tmp.job = NULL;                 /* shared, not copied */
            struct cv_allocation *copy = cv_alloc_copy(&tmp);
            copy->job = ex->job;
            /* Swap the client's fields in; u takes the copies' old values
             * and frees them with itself. tmp serves as the swap space. */
            tmp.client_status = copy->client_status;
            copy->client_status = u->client_status;
            u->client_status = tmp.client_status;
            tmp.client_description = copy->client_description;
            copy->client_description = u->client_description;
            u->client_description = tmp.client_description;
            tmp.task_states = copy->task_states;
            copy->task_states = u->task_states;
            u->task_states = tmp.task_states;
            copy->modify_time = u->modify_time;
            copy->modify_index = txn->index;
            id_list_push(&jobs, copy->job_id, copy->id);
            struct state_obj *o = state_obj_new(STATE_K_ALLOC, copy, state_obj_retain(exo->job));
            state_index_put(txn->work, exo, o);
            state_obj_release(o);
        }
        cv_alloc_free(u);
    }
    touch(txn, STATE_MASK(STATE_ALLOCS));
    set_job_statuses(txn, &jobs, false);
    return 0;
}

/* ---- evaluations --------------------------------------------------------------- */

/* Nomad's nestedUpsertEval: once an evaluation of a job completes without
 * failed placements, the job's blocked evaluations are canceled. */
static void cancel_blocked(struct state_txn *txn, const char *job_id)
{
    struct id_list blocked = {0};
    struct state_iter it;
    const struct cv_evaluation *e;
    state_iter_evals_by_job(txn->work, job_id, &it);
    while ((e = state_iter_next(&it))) {
        if (streq(e->status, CV_EVAL_STATUS_BLOCKED)) {
            id_list_add(&blocked, e->id);
        }
    }
    for (size_t i = 0; i < blocked.len; i++) {
        const struct state_obj *exo = get_obj(txn, STATE_T_EVALS, blocked.items[i].id);
        struct cv_evaluation *copy = cv_eval_copy(exo->ptr);
        cv_set_string(&copy->status, CV_EVAL_STATUS_CANCELED);
        size_t len = strlen(copy->id) + 32;
        char *desc = cv_malloc(len);
        snprintf(desc, len, "evaluation \"%s\" successful", copy->id);
        cv_free(copy->status_description);
        copy->status_description = desc;
        copy->modify_index = txn->index;
        struct state_obj *o = state_obj_new(STATE_K_EVAL, copy, NULL);
        state_index_put(txn->work, exo, o);
        state_obj_release(o);
    }
    id_list_free(&blocked);
}

int state_txn_upsert_evals(struct state_txn *txn, struct cv_evaluation *const *evals, size_t n,
                           struct cv_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (empty(evals[i]->id) || empty(evals[i]->job_id)) {
            return cv_err_setf(err, CV_EINVAL, "evaluation %zu (\"%s\") needs an ID and a JobID", i,
                               evals[i]->id ? evals[i]->id : "");
        }
    }
    struct id_list jobs = {0};
    for (size_t i = 0; i < n; i++) {
        struct cv_evaluation *e = evals[i];
        if (streq(e->status, CV_EVAL_STATUS_COMPLETE) && e->failed_tg_allocs.len == 0) {
            cancel_blocked(txn, e->job_id);
        }
        const struct state_obj *exo = get_obj(txn, STATE_T_EVALS, e->id);
        if (exo) {
            const struct cv_evaluation *ex = exo->ptr;
            e->create_index = ex->create_index;
            if (!streq(ex->job_id, e->job_id)) {
                id_list_add(&jobs, ex->job_id);
            }
        } else {
            e->create_index = txn->index;
        }
        e->modify_index = txn->index;
        id_list_add(&jobs, e->job_id);
        struct state_obj *o = state_obj_new(STATE_K_EVAL, e, NULL);
        state_index_put(txn->work, exo, o);
        state_obj_release(o);
    }
    touch(txn, STATE_MASK(STATE_EVALS));
    set_job_statuses(txn, &jobs, false);
    return 0;
}

int state_txn_delete_evals(struct state_txn *txn, const char *const *eval_ids, size_t n_evals,
                           const char *const *alloc_ids, size_t n_allocs, struct cv_err *err)
{
    (void)err;
    struct id_list jobs = {0};
    for (size_t i = 0; i < n_evals; i++) {
        const struct state_obj *o = get_obj(txn, STATE_T_EVALS, eval_ids[i]);
        if (o) {
            id_list_add(&jobs, ((const struct cv_evaluation *)o->ptr)->job_id);
            state_index_del(txn->work, o);
        }
    }
    for (size_t i = 0; i < n_allocs; i++) {
        const struct state_obj *o = get_obj(txn, STATE_T_ALLOCS, alloc_ids[i]);
        if (o) {
            id_list_add(&jobs, ((const struct cv_allocation *)o->ptr)->job_id);
            state_index_del(txn->work, o);
        }
    }
    touch(txn, STATE_MASK(STATE_EVALS) | STATE_MASK(STATE_ALLOCS));
    set_job_statuses(txn, &jobs, true);
    return 0;
}
