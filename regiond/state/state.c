/*
 * state: the store, its states and snapshots, the getters and iterators,
 * the transaction's lifecycle (begin, commit, abort) and the watches. What
 * a transaction writes, table by table, is in state_txn.c.
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
#include <string.h>

#include "common/mem.h"
#include "regiond/state/state_internal.h"

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

/* ---- transactions and watches ---------------------------------------------------- */

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
