/*
 * state_tree: the state store's building blocks: reference-counted object
 * wrappers and a persistent AVL tree keyed by byte strings.
 *
 * Why an AVL tree. The tables need ordered keys (ID prefixes, and range
 * scans over composite keys for the secondary indexes), which rules out
 * hash tries; a deterministic shape makes runs reproducible (no treap
 * priorities); and a binary node is the smallest unit to copy, so a write
 * copies O(log n) nodes of ~64 bytes. A B-tree would copy fewer but larger
 * nodes and needs more code for the same guarantees; go-memdb's radix
 * trees buy prefix compression we do not need for UUID keys.
 *
 * Persistence. A tree node counts the parents and roots that point at it.
 * The writer changes a node in place only when it reaches it through nodes
 * that all have one reference (Rust's Rc::make_mut rule): nobody else can
 * see it. Any other node is copied first, the copy taking references on its
 * children and its object. Within one transaction the first write to a
 * path copies it and the following writes reuse the copies in place.
 * Readers only ever hold references on whole states (state.c), never on
 * nodes, so a node's count cannot go from 1 to 2 while the writer looks at
 * it; it can only fall, when a reader releases an old state, which is why
 * counts are atomic: the thread that drops a count to zero frees the node.
 *
 * Memory ordering. Counts are incremented relaxed (a new reference is
 * always made from an existing one) and decremented acq_rel, so everything
 * a thread did with a node happens before the thread that frees it frees
 * it. The writer's "count is 1" test is an acquire load for the same
 * reason: the reader that released the other reference is done with it.
 */
#include "regiond/state/state_internal.h"

#include <assert.h>
#include <string.h>

#include "common/mem.h"

/* ---- objects ---------------------------------------------------------------- */

struct state_obj *state_obj_new(enum state_kind kind, void *ptr, struct state_obj *job)
{
    assert(ptr != NULL);
    assert((kind == STATE_K_ALLOC) == (job != NULL));
    struct state_obj *o = cv_malloc(sizeof *o);
    atomic_init(&o->refs, 1);
    o->kind = kind;
    o->ptr = ptr;
    o->job = job;
    return o;
}

struct state_obj *state_obj_retain(struct state_obj *o)
{
    atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    return o;
}

void state_obj_release(struct state_obj *o)
{
    if (!o || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    switch (o->kind) {
    case STATE_K_JOB:
        cv_job_free(o->ptr);
        break;
    case STATE_K_NODE:
        cv_node_free(o->ptr);
        break;
    case STATE_K_ALLOC: {
        struct cv_allocation *a = o->ptr;
        a->job = NULL; /* borrowed from o->job */
        cv_alloc_free(a);
        state_obj_release(o->job);
        break;
    }
    case STATE_K_EVAL:
        cv_eval_free(o->ptr);
        break;
    }
    cv_free(o);
}

/* ---- nodes ------------------------------------------------------------------ */

static int height(const struct state_tnode *n)
{
    return n ? n->height : 0;
}

static void fix_height(struct state_tnode *n)
{
    int l = height(n->left), r = height(n->right);
    n->height = 1 + (l > r ? l : r);
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) {
        return c;
    }
    return alen < blen ? -1 : alen > blen;
}

static struct state_tnode *node_new(const char *key, size_t klen)
{
    assert(klen < UINT32_MAX);
    struct state_tnode *n = cv_malloc(sizeof *n + klen);
    atomic_init(&n->refs, 1);
    n->left = n->right = NULL;
    n->obj = NULL;
    n->klen = (uint32_t)klen;
    n->height = 1;
    if (klen) {
        memcpy(n->key, key, klen);
    }
    return n;
}

struct state_tnode *state_tree_retain(struct state_tnode *t)
{
    if (t) {
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    }
    return t;
}

void state_tree_release(struct state_tnode *t)
{
    /* Recursion on the left, a loop on the right: depth stays within the
     * tree's height. */
    while (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        struct state_tnode *right = t->right;
        state_tree_release(t->left);
        state_obj_release(t->obj);
        cv_free(t);
        t = right;
    }
}

/* Consumes the caller's reference on n and returns a node the caller alone
 * holds: n itself when its count is 1, else a copy. */
static struct state_tnode *own(struct state_tnode *n)
{
    if (atomic_load_explicit(&n->refs, memory_order_acquire) == 1) {
        return n;
    }
    struct state_tnode *c = node_new(n->key, n->klen);
    c->left = state_tree_retain(n->left);
    c->right = state_tree_retain(n->right);
    c->obj = state_obj_retain(n->obj);
    c->height = n->height;
    state_tree_release(n);
    return c;
}

/* Rotations and rebalancing take exclusively held nodes. */
static struct state_tnode *rotate_right(struct state_tnode *n)
{
    struct state_tnode *l = own(n->left);
    n->left = l->right;
    fix_height(n);
    l->right = n;
    fix_height(l);
    return l;
}

static struct state_tnode *rotate_left(struct state_tnode *n)
{
    struct state_tnode *r = own(n->right);
    n->right = r->left;
    fix_height(n);
    r->left = n;
    fix_height(r);
    return r;
}

static struct state_tnode *rebalance(struct state_tnode *n)
{
    int bf = height(n->left) - height(n->right);
    if (bf > 1) {
        if (height(n->left->left) < height(n->left->right)) {
            n->left = rotate_left(own(n->left));
        }
        return rotate_right(n);
    }
    if (bf < -1) {
        if (height(n->right->right) < height(n->right->left)) {
            n->right = rotate_right(own(n->right));
        }
        return rotate_left(n);
    }
    fix_height(n);
    return n;
}

struct state_obj *state_tree_get(const struct state_tnode *t, const char *key, size_t klen)
{
    while (t) {
        int c = key_cmp(key, klen, t->key, t->klen);
        if (c == 0) {
            return t->obj;
        }
        t = c < 0 ? t->left : t->right;
    }
    return NULL;
}

struct state_tnode *state_tree_put(struct state_tnode *t, const char *key, size_t klen,
                                   struct state_obj *obj, struct state_obj **old)
{
    if (!t) {
        struct state_tnode *n = node_new(key, klen);
        n->obj = state_obj_retain(obj);
        *old = NULL;
        return n;
    }
    t = own(t);
    int c = key_cmp(key, klen, t->key, t->klen);
    if (c == 0) {
        *old = t->obj;
        t->obj = state_obj_retain(obj);
        return t;
    }
    if (c < 0) {
        t->left = state_tree_put(t->left, key, klen, obj, old);
    } else {
        t->right = state_tree_put(t->right, key, klen, obj, old);
    }
    return rebalance(t);
}

/* Detaches the smallest node of t (held exclusively afterwards, with no
 * children) into *min; returns what remains of t. */
static struct state_tnode *detach_min(struct state_tnode *t, struct state_tnode **min)
{
    t = own(t);
    if (!t->left) {
        struct state_tnode *right = t->right;
        t->right = NULL;
        *min = t;
        return right;
    }
    t->left = detach_min(t->left, min);
    return rebalance(t);
}

struct state_tnode *state_tree_del(struct state_tnode *t, const char *key, size_t klen,
                                   struct state_obj **old)
{
    assert(t != NULL); /* the key must be present */
    t = own(t);
    int c = key_cmp(key, klen, t->key, t->klen);
    if (c < 0) {
        t->left = state_tree_del(t->left, key, klen, old);
        return rebalance(t);
    }
    if (c > 0) {
        t->right = state_tree_del(t->right, key, klen, old);
        return rebalance(t);
    }
    *old = t->obj;
    struct state_tnode *left = t->left, *right = t->right;
    cv_free(t); /* held exclusively: its references moved to left, right, *old */
    if (!left || !right) {
        return left ? left : right;
    }
    struct state_tnode *min = NULL;
    right = detach_min(right, &min);
    min->left = left;
    min->right = right;
    return rebalance(min);
}

size_t state_tree_check(const struct state_tnode *t)
{
    if (!t) {
        return 0;
    }
    assert(atomic_load(&t->refs) >= 1);
    assert(t->obj != NULL);
    if (t->left) {
        assert(key_cmp(t->left->key, t->left->klen, t->key, t->klen) < 0);
    }
    if (t->right) {
        assert(key_cmp(t->right->key, t->right->klen, t->key, t->klen) > 0);
    }
    int l = height(t->left), r = height(t->right);
    assert(t->height == 1 + (l > r ? l : r));
    assert(l - r <= 1 && r - l <= 1);
    (void)l;
    (void)r;
    return 1 + state_tree_check(t->left) + state_tree_check(t->right);
}

/* ---- iteration ---------------------------------------------------------------- */

/* Compares key with the probe: prefix, followed by a NUL when composite. */
static int probe_cmp(const char *key, size_t klen, const char *p, size_t plen, bool composite)
{
    size_t m = klen < plen ? klen : plen;
    int c = m ? memcmp(key, p, m) : 0;
    if (c) {
        return c;
    }
    if (klen < plen) {
        return -1;
    }
    if (!composite) {
        return klen > plen;
    }
    if (klen == plen) {
        return -1; /* key == prefix, before prefix "\0" */
    }
    if (key[plen] != '\0') {
        return 1;
    }
    return klen > plen + 1;
}

static bool has_prefix(const struct state_tnode *n, const struct state_iter *it)
{
    size_t need = it->prefix_len + (it->composite ? 1 : 0);
    return n->klen >= need &&
           (it->prefix_len == 0 || !memcmp(n->key, it->prefix, it->prefix_len)) &&
           (!it->composite || n->key[it->prefix_len] == '\0');
}

static void push(struct state_iter *it, const struct state_tnode *n)
{
    assert(it->depth < STATE_ITER_DEPTH);
    it->stack[it->depth++] = n;
}

void state_tree_iter(const struct state_tnode *t, const char *prefix, size_t prefix_len,
                     bool composite, struct state_iter *it)
{
    it->depth = 0;
    it->prefix = prefix ? prefix : "";
    it->prefix_len = prefix ? prefix_len : 0;
    it->composite = composite;
    while (t) {
        if (probe_cmp(t->key, t->klen, it->prefix, it->prefix_len, composite) >= 0) {
            push(it, t);
            t = t->left;
        } else {
            t = t->right;
        }
    }
}

struct state_obj *state_tree_next(struct state_iter *it)
{
    if (it->depth == 0) {
        return NULL;
    }
    const struct state_tnode *n = it->stack[--it->depth];
    if (!has_prefix(n, it)) {
        it->depth = 0; /* keys are sorted: nothing further matches */
        return NULL;
    }
    for (const struct state_tnode *c = n->right; c; c = c->left) {
        push(it, c);
    }
    return n->obj;
}

/* ---- keys --------------------------------------------------------------------- */

static char *key_buf(struct state_key *k, size_t len)
{
    k->len = len;
    k->p = len <= sizeof k->small ? k->small : cv_malloc(len);
    return k->p;
}

void state_key_make(struct state_key *k, const char *a, const char *b)
{
    size_t alen = strlen(a);
    size_t blen = b ? strlen(b) : 0;
    char *p = key_buf(k, alen + (b ? 1 + blen : 0));
    memcpy(p, a, alen);
    if (b) {
        p[alen] = '\0';
        memcpy(p + alen + 1, b, blen);
    }
}

void state_key_version(struct state_key *k, const char *job_id, uint64_t version)
{
    size_t alen = strlen(job_id);
    char *p = key_buf(k, alen + 1 + 8);
    memcpy(p, job_id, alen);
    p[alen] = '\0';
    uint64_t inv = UINT64_MAX - version; /* newest first */
    for (int i = 0; i < 8; i++) {
        p[alen + 1 + (size_t)i] = (char)(unsigned char)(inv >> (56 - 8 * i));
    }
}

void state_key_done(struct state_key *k)
{
    if (k->p != k->small) {
        cv_free(k->p);
    }
    k->p = NULL;
}
