/*
 * state: the store, its states and snapshots, the write transaction with
 * Nomad's rules for each table, the getters and the watches.
 *
 * A state (struct state_snap) is a root holding one persistent tree per
 * table and secondary index (state_tree.c). The store points at the current
 * state. A transaction clones the current root (O(1): it shares the trees),
 * writes into the clone, whose changed paths are copied on first write and
 * then changed in place, and commit swaps the store's pointer to the clone.
 *
 * Publication and memory ordering. `st->mu` guards the `current` pointer
 * only: commit takes it for the swap, state_snapshot for reading the
 * pointer and taking a reference. Everything the writer stored into the
 * new state happens before its unlock, and the reader's lock of the same
 * mutex happens after, so a reader that gets the new root sees all of it.
 * Nothing reachable from a published root is written again (the writer's
 * next transaction copies before writing), so readers need no lock after
 * that. The mutex is held for a pointer copy and an atomic increment: a
 * reader never waits for a transaction, only for another pointer swap.
 *
 * Watches (blocking queries) live on a list guarded by `st->watch_mu`,
 * which is held while callbacks run so that state_watch_remove is final.
 */
#include "regiond/state/state.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/state/state_internal.h"

struct state_txn
{
    struct state_store *st;
    struct state_snap *work; /* the next state, held by the transaction alone */
    uint64_t index;
    unsigned touched; /* STATE_MASK bits of the tables written */
};

struct state_store
{
    pthread_mutex_t mu; /* guards `current` (the pointer, not the state) */
    struct state_snap *current;
    pthread_mutex_t watch_mu; /* guards the watch list; held while callbacks run */
    struct state_watch *watch_head, *watch_tail; /* fired in registration order */
    struct state_config cfg;
    struct state_txn txn; /* the writer's; valid while in_txn */
    bool in_txn;          /* written and read by the writer thread only */
};

static bool streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

static const enum state_tree_id table_tree[STATE_TABLE_COUNT] = {
    [STATE_JOBS] = STATE_T_JOBS,   [STATE_JOB_VERSIONS] = STATE_T_JOB_VERSIONS,
    [STATE_NODES] = STATE_T_NODES, [STATE_ALLOCS] = STATE_T_ALLOCS,
    [STATE_EVALS] = STATE_T_EVALS,
};

/* ---- states ------------------------------------------------------------------- */

struct state_snap *state_snap_clone(const struct state_snap *from)
{
    struct state_snap *s = cv_calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    if (from) {
        s->index = from->index;
        memcpy(s->table_index, from->table_index, sizeof s->table_index);
        memcpy(s->count, from->count, sizeof s->count);
        for (int i = 0; i < STATE_T_COUNT; i++) {
            s->tree[i] = state_tree_retain(from->tree[i]);
        }
    }
    return s;
}

struct state_snap *state_snapshot_retain(const struct state_snap *snap)
{
    struct state_snap *s = (struct state_snap *)snap; /* the count is not the state */
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void state_snapshot_release(struct state_snap *snap)
{
    if (!snap || atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (int i = 0; i < STATE_T_COUNT; i++) {
        state_tree_release(snap->tree[i]);
    }
    cv_free(snap);
}

void state_snap_put(struct state_snap *s, enum state_tree_id id, const char *key, size_t klen,
                    struct state_obj *obj)
{
    struct state_obj *old = NULL;
    s->tree[id] = state_tree_put(s->tree[id], key, klen, obj, &old);
    if (old) {
        state_obj_release(old);
    } else {
        s->count[id]++;
    }
}

bool state_snap_del(struct state_snap *s, enum state_tree_id id, const char *key, size_t klen)
{
    if (!state_tree_get(s->tree[id], key, klen)) {
        return false;
    }
    struct state_obj *old = NULL;
    s->tree[id] = state_tree_del(s->tree[id], key, klen, &old);
    state_obj_release(old);
    assert(s->count[id] > 0);
    s->count[id]--;
    return true;
}

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

/* ---- the store ---------------------------------------------------------------- */

struct state_store *state_store_new(const struct state_config *cfg)
{
    struct state_store *st = cv_calloc(1, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->watch_mu, NULL);
    if (cfg) {
        st->cfg = *cfg;
    }
    if (st->cfg.job_tracked_versions == 0) {
        st->cfg.job_tracked_versions = STATE_JOB_TRACKED_VERSIONS;
    }
    st->current = state_snap_clone(NULL);
    return st;
}

void state_store_free(struct state_store *st)
{
    if (!st) {
        return;
    }
    assert(!st->in_txn);
    assert(st->watch_head == NULL);
    state_snapshot_release(st->current);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->watch_mu);
    cv_free(st);
}

struct state_snap *state_snapshot(struct state_store *st)
{
    pthread_mutex_lock(&st->mu);
    struct state_snap *s = state_snapshot_retain(st->current);
    pthread_mutex_unlock(&st->mu);
    return s;
}

uint64_t state_snap_index(const struct state_snap *snap)
{
    return snap->index;
}

uint64_t state_table_index(const struct state_snap *snap, enum state_table table)
{
    assert(table < STATE_TABLE_COUNT);
    return snap->table_index[table];
}

uint64_t state_tables_index(const struct state_snap *snap, unsigned mask)
{
    uint64_t max = 0;
    for (int t = 0; t < STATE_TABLE_COUNT; t++) {
        if ((mask & STATE_MASK(t)) && snap->table_index[t] > max) {
            max = snap->table_index[t];
        }
    }
    return max;
}

size_t state_table_count(const struct state_snap *snap, enum state_table table)
{
    assert(table < STATE_TABLE_COUNT);
    return snap->count[table_tree[table]];
}

/* ---- getters and iterators -------------------------------------------------------- */

static const void *get1(const struct state_snap *s, enum state_tree_id id, const char *key)
{
    const struct state_obj *o = state_tree_get(s->tree[id], key, strlen(key));
    return o ? o->ptr : NULL;
}

const struct cv_job *state_job(const struct state_snap *snap, const char *id)
{
    return get1(snap, STATE_T_JOBS, id);
}

const struct cv_job *state_job_version(const struct state_snap *snap, const char *id,
                                       uint64_t version)
{
    struct state_key k;
    state_key_version(&k, id, version);
    const struct state_obj *o = state_tree_get(snap->tree[STATE_T_JOB_VERSIONS], k.p, k.len);
    state_key_done(&k);
    return o ? o->ptr : NULL;
}

const struct cv_node *state_node(const struct state_snap *snap, const char *id)
{
    return get1(snap, STATE_T_NODES, id);
}

const struct cv_allocation *state_alloc(const struct state_snap *snap, const char *id)
{
    return get1(snap, STATE_T_ALLOCS, id);
}

const struct cv_evaluation *state_eval(const struct state_snap *snap, const char *id)
{
    return get1(snap, STATE_T_EVALS, id);
}

static void iter(const struct state_snap *s, enum state_tree_id id, const char *prefix,
                 bool composite, struct state_iter *it)
{
    state_tree_iter(s->tree[id], prefix, prefix ? strlen(prefix) : 0, composite, it);
}

void state_iter_jobs(const struct state_snap *snap, const char *prefix, struct state_iter *it)
{
    iter(snap, STATE_T_JOBS, prefix, false, it);
}

void state_iter_job_versions(const struct state_snap *snap, const char *job_id,
                             struct state_iter *it)
{
    iter(snap, STATE_T_JOB_VERSIONS, job_id, true, it);
}

void state_iter_nodes(const struct state_snap *snap, const char *prefix, struct state_iter *it)
{
    iter(snap, STATE_T_NODES, prefix, false, it);
}

void state_iter_allocs(const struct state_snap *snap, const char *prefix, struct state_iter *it)
{
    iter(snap, STATE_T_ALLOCS, prefix, false, it);
}

void state_iter_allocs_by_job(const struct state_snap *snap, const char *job_id,
                              struct state_iter *it)
{
    iter(snap, STATE_T_ALLOCS_BY_JOB, job_id, true, it);
}

void state_iter_allocs_by_node(const struct state_snap *snap, const char *node_id,
                               struct state_iter *it)
{
    iter(snap, STATE_T_ALLOCS_BY_NODE, node_id, true, it);
}

void state_iter_evals(const struct state_snap *snap, const char *prefix, struct state_iter *it)
{
    iter(snap, STATE_T_EVALS, prefix, false, it);
}

void state_iter_evals_by_job(const struct state_snap *snap, const char *job_id,
                             struct state_iter *it)
{
    iter(snap, STATE_T_EVALS_BY_JOB, job_id, true, it);
}

void state_iter_evals_by_status(const struct state_snap *snap, const char *status,
                                struct state_iter *it)
{
    iter(snap, STATE_T_EVALS_BY_STATUS, status, true, it);
}

const void *state_iter_next(struct state_iter *it)
{
    const struct state_obj *o = state_tree_next(it);
    return o ? o->ptr : NULL;
}

/* ---- transactions: helpers ------------------------------------------------------ */

struct state_txn *state_txn_begin(struct state_store *st, uint64_t index)
{
    assert(!st->in_txn);
    assert(index > st->current->index);
    st->in_txn = true;
    struct state_txn *txn = &st->txn;
    txn->st = st;
    txn->work = state_snap_clone(st->current);
    txn->index = index;
    txn->touched = 0;
    return txn;
}

const struct state_snap *state_txn_view(const struct state_txn *txn)
{
    return txn->work;
}

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

/* ---- commit, abort, watches ---------------------------------------------------- */

static void watch_unlink(struct state_store *st, struct state_watch *w)
{
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        st->watch_head = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    } else {
        st->watch_tail = w->prev;
    }
    w->prev = w->next = NULL;
    w->armed = false;
}

static void fire_watches(struct state_store *st, unsigned tables, uint64_t index, bool all)
{
    pthread_mutex_lock(&st->watch_mu);
    struct state_watch *w = st->watch_head;
    while (w) {
        struct state_watch *next = w->next;
        if (all || ((w->tables & tables) && index > w->min_index)) {
            watch_unlink(st, w);
            w->fn(w->arg, index);
        }
        w = next;
    }
    pthread_mutex_unlock(&st->watch_mu);
}

/* Swaps the current state for s (whose reference the store takes). */
static void publish(struct state_store *st, struct state_snap *s)
{
    pthread_mutex_lock(&st->mu);
    struct state_snap *old = st->current;
    st->current = s;
    pthread_mutex_unlock(&st->mu);
    state_snapshot_release(old); /* frees what no snapshot still holds */
}

uint64_t state_txn_commit(struct state_txn *txn)
{
    struct state_store *st = txn->st;
    assert(st->in_txn && txn == &st->txn);
    uint64_t index = txn->index;
    unsigned touched = txn->touched;
    txn->work->index = index;
    publish(st, txn->work);
    txn->work = NULL;
    st->in_txn = false;
    if (touched) {
        fire_watches(st, touched, index, false);
    }
    return index;
}

void state_txn_abort(struct state_txn *txn)
{
    struct state_store *st = txn->st;
    assert(st->in_txn && txn == &st->txn);
    state_snapshot_release(txn->work);
    txn->work = NULL;
    st->in_txn = false;
}

bool state_watch_add(struct state_store *st, struct state_watch *w, unsigned tables,
                     uint64_t min_index, state_watch_fn fn, void *arg)
{
    /* The current index is read under watch_mu: a commit publishes before
     * it takes watch_mu to fire, so either this reads the new index or the
     * commit finds w registered. */
    pthread_mutex_lock(&st->watch_mu);
    pthread_mutex_lock(&st->mu);
    uint64_t index = state_tables_index(st->current, tables);
    pthread_mutex_unlock(&st->mu);
    if (index > min_index) {
        pthread_mutex_unlock(&st->watch_mu);
        return false;
    }
    w->tables = tables;
    w->min_index = min_index;
    w->fn = fn;
    w->arg = arg;
    w->armed = true;
    w->next = NULL;
    w->prev = st->watch_tail;
    if (st->watch_tail) {
        st->watch_tail->next = w;
    } else {
        st->watch_head = w;
    }
    st->watch_tail = w;
    pthread_mutex_unlock(&st->watch_mu);
    return true;
}

bool state_watch_remove(struct state_store *st, struct state_watch *w)
{
    pthread_mutex_lock(&st->watch_mu);
    bool armed = w->armed;
    if (armed) {
        watch_unlink(st, w);
    }
    pthread_mutex_unlock(&st->watch_mu);
    return armed;
}

void state_store_replace(struct state_store *st, struct state_snap *s)
{
    assert(!st->in_txn);
    publish(st, s);
    fire_watches(st, STATE_ALL_TABLES, s->index, true);
}
