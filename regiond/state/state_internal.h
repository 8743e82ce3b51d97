/*
 * state_internal: what the state store's files share: the reference-
 * counted object wrapper, the persistent AVL tree (state_tree.c), the
 * state root (a snapshot) and its trees, the store and its transaction
 * (state.c, state_txn.c), and key building.
 */
#ifndef CV_STATE_INTERNAL_H
#define CV_STATE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regiond/state/state.h"

/* ---- objects ---------------------------------------------------------------
 * A model object the store owns, shared by every tree node (in every state)
 * that points at it. Immutable once in a tree.
 */
enum state_kind
{
    STATE_K_JOB,
    STATE_K_NODE,
    STATE_K_ALLOC,
    STATE_K_EVAL,
};

struct state_obj
{
    atomic_size_t refs;
    enum state_kind kind;
    void *ptr; /* struct cv_job *, cv_node *, cv_allocation *, cv_evaluation * */
    /* Allocations only: the job object alloc->job points into; that
     * pointer is borrowed from it, never owned by the allocation. */
    struct state_obj *job;
};

/* Returns a new object with one reference, owning ptr. For an allocation,
 * job is a reference the object takes over (alloc->job must point at its
 * job); NULL otherwise. */
struct state_obj *state_obj_new(enum state_kind kind, void *ptr, struct state_obj *job);
struct state_obj *state_obj_retain(struct state_obj *o);
void state_obj_release(struct state_obj *o);

/* ---- persistent AVL tree ---------------------------------------------------
 * A node is shared by every tree (state) that reaches it and counts its
 * parents plus the roots that point at it. A node reachable through a
 * chain of nodes with one reference each is the writer's alone and is
 * changed in place; any other is copied first (path copying). Readers never
 * take references on nodes, only on states, so a count of 1 cannot grow
 * behind the writer's back.
 *
 * Mutating functions consume the caller's reference on the tree passed in
 * and return one on the resulting tree.
 */
struct state_tnode
{
    atomic_size_t refs;
    struct state_tnode *left, *right;
    struct state_obj *obj; /* one reference */
    uint32_t klen;
    int32_t height;
    char key[]; /* klen bytes, not NUL-terminated (composite keys hold NULs) */
};

struct state_tnode *state_tree_retain(struct state_tnode *t);
void state_tree_release(struct state_tnode *t);
/* Returns the object under key (borrowed), or NULL. */
struct state_obj *state_tree_get(const struct state_tnode *t, const char *key, size_t klen);
/* Puts obj (the tree takes a reference of its own) under key. When the key
 * was present, *old receives the replaced object's reference (the caller
 * releases it); otherwise *old is NULL. */
struct state_tnode *state_tree_put(struct state_tnode *t, const char *key, size_t klen,
                                   struct state_obj *obj, struct state_obj **old);
/* Removes key, which must be present; *old receives the removed object's
 * reference. */
struct state_tnode *state_tree_del(struct state_tnode *t, const char *key, size_t klen,
                                   struct state_obj **old);
/* Positions it at the first key >= prefix (or prefix "\0" when composite)
 * and limits it to keys starting with that. */
void state_tree_iter(const struct state_tnode *t, const char *prefix, size_t prefix_len,
                     bool composite, struct state_iter *it);
/* Like state_iter_next, returning the object wrapper. */
struct state_obj *state_tree_next(struct state_iter *it);
/* Checks the AVL and order invariants of the whole tree (tests, asserts);
 * returns its number of nodes. */
size_t state_tree_check(const struct state_tnode *t);

/* ---- states ------------------------------------------------------------- */

/* Trees of a state: primary tables and their secondary indexes. */
enum state_tree_id
{
    STATE_T_JOBS,            /* job ID */
    STATE_T_JOB_VERSIONS,    /* job ID \0 big-endian (UINT64_MAX - version) */
    STATE_T_NODES,           /* node ID */
    STATE_T_ALLOCS,          /* alloc ID */
    STATE_T_ALLOCS_BY_JOB,   /* job ID \0 alloc ID */
    STATE_T_ALLOCS_BY_NODE,  /* node ID \0 alloc ID */
    STATE_T_EVALS,           /* eval ID */
    STATE_T_EVALS_BY_JOB,    /* job ID \0 eval ID */
    STATE_T_EVALS_BY_STATUS, /* status \0 eval ID */
    STATE_T_COUNT
};

struct state_snap
{
    atomic_size_t refs;
    uint64_t index;
    uint64_t table_index[STATE_TABLE_COUNT];
    struct state_tnode *tree[STATE_T_COUNT]; /* one reference each */
    size_t count[STATE_T_COUNT];
};

/* Returns a new state (one reference) sharing every tree of from, or an
 * empty one when from is NULL. */
struct state_snap *state_snap_clone(const struct state_snap *from);
/* Puts obj under key in tree id of an exclusively held state, keeping the
 * row count; releases a replaced object. */
void state_snap_put(struct state_snap *s, enum state_tree_id id, const char *key, size_t klen,
                    struct state_obj *obj);
/* Removes key if present; returns whether it was. */
bool state_snap_del(struct state_snap *s, enum state_tree_id id, const char *key, size_t klen);

/* ---- the store and its transaction -------------------------------------------------
 * state.c begins, commits and aborts the transaction and publishes states;
 * state_txn.c writes into txn->work and reads the store's configuration.
 */
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

/* Publishes s (taking its reference) in place of the store's state and
 * fires every watch: state_restore's last step. */
void state_store_replace(struct state_store *st, struct state_snap *s);

/* ---- keys ----------------------------------------------------------------- */

/* A key built from one or two parts ("a\0b"), on the stack when small. */
struct state_key
{
    char *p;
    size_t len;
    char small[128];
};

void state_key_make(struct state_key *k, const char *a, const char *b);
/* "<job id>\0" + 8 bytes that sort newer versions first. */
void state_key_version(struct state_key *k, const char *job_id, uint64_t version);
void state_key_done(struct state_key *k);

/* Puts a node, allocation or evaluation in its primary tree and secondary
 * indexes, replacing old (the object it updates, or NULL): a secondary key
 * that changed is moved. */
void state_index_put(struct state_snap *s, const struct state_obj *old, struct state_obj *o);
/* Removes a node, allocation or evaluation from its trees. */
void state_index_del(struct state_snap *s, const struct state_obj *o);

#endif
