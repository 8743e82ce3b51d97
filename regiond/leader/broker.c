/*
 * broker: the leader's evaluation broker and blocked-evaluation tracker
 * (contract in broker.h).
 *
 * Every evaluation in the queues is one `struct bentry`, found by ID in
 * `evals`, and in exactly one container according to its state:
 *
 *   WAITING_DELAY  `waiting` heap (by due time): Wait/WaitUntil not reached
 *   PENDING        its job's `pending` heap (priority desc, ModifyIndex desc)
 *   READY          its type's `ready` heap (priority desc, CreateIndex asc)
 *   UNACKED        `unack` heap (by nack deadline), or none while paused
 *   WAITING_NACK   `waiting` heap: nacked, waiting out its nack delay
 *   FAILED         the failed FIFO
 *
 * A job (`struct bjob`, keyed by namespace and job ID) has at most one
 * `active` evaluation: the one READY, UNACKED, WAITING_NACK or FAILED. A
 * job exists only while it has an active evaluation; pending ones exist
 * only behind an active one. An entry's one `pos` field serves whichever
 * heap it is in, since the containers are exclusive.
 *
 * Blocked evaluations are `struct bblocked`, found by ID and by job (one
 * per job), on the captured or the escaped list, and on their node's list
 * when they name a node. Unblocking moves the evaluation copy into the
 * queues without copying it again.
 *
 * Counters per state are kept per scheduler type (`struct btype`, which
 * also owns the type's ready heap) and in total, updated in one place
 * (set_state), so stats are O(1) and broker_verify can recount them.
 */
#include "regiond/leader/broker.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

enum bstate
{
    BS_NONE = 0,
    BS_WAITING_DELAY,
    BS_PENDING,
    BS_READY,
    BS_UNACKED,
    BS_WAITING_NACK,
    BS_FAILED,
};

/* Indexes into a counter array; the public struct broker_counts is built
 * from it. */
enum bcount
{
    BC_READY,
    BC_UNACKED,
    BC_PENDING,
    BC_WAITING,
    BC_BLOCKED,
    BC_FAILED,
    BC_N,
};

struct btype
{
    struct lheap ready;
    size_t counts[BC_N];
    char name[];
};

struct bjob;

struct bentry
{
    struct broker_eval *ev; /* owned */
    struct bjob *job;       /* NULL while WAITING_DELAY */
    struct btype *type;
    enum bstate state;
    size_t pos;   /* position in the heap of its state */
    uint64_t seq; /* order of arrival, the last tie-break */
    uint64_t due; /* WAITING_*: when ready; UNACKED: nack deadline */
    unsigned dequeues;
    bool paused;
    char token[BROKER_TOKEN_SIZE];
    struct broker_eval *requeue; /* re-blocked while outstanding; owned */
    struct bentry *next_failed;
    char job_key[]; /* see make_job_key */
};

struct bjob
{
    struct bentry *active;
    struct lheap pending;
    char key[];
};

struct bblocked
{
    struct broker_eval *ev; /* owned */
    struct btype *type;
    bool has_token;
    char token[BROKER_TOKEN_SIZE];
    struct bblocked *prev, *next;           /* captured or escaped list */
    struct bblocked *node_prev, *node_next; /* per node, when ev->node_id */
    char job_key[];
};

struct bunblock
{
    uint64_t index;
    char cls[];
};

struct broker
{
    struct broker_config cfg;
    bool enabled;
    uint64_t seq;
    uint64_t k0, k1;

    struct lmap evals; /* id => bentry */
    struct lmap jobs;  /* job key => bjob */
    struct lmap types; /* name => btype */
    struct lheap waiting;
    struct lheap unack;
    struct bentry *failed_head, *failed_tail;
    struct broker_eval_list cancelable;
    size_t cancelable_head; /* items before it were drained */

    struct lmap blocked;       /* id => bblocked */
    struct lmap blocked_jobs;  /* job key => bblocked */
    struct lmap blocked_nodes; /* node id => first bblocked of the node */
    struct bblocked *captured;
    struct bblocked *escaped;
    size_t blocked_escaped;
    struct lmap unblocks; /* computed class => bunblock */
    uint64_t max_unblock_index;

    size_t counts[BC_N];
};

/* ---- evaluation copies --------------------------------------------------- */

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *pack_str(char **p, const char *s)
{
    if (!s) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *out = *p;
    *p += n;
    return out;
}

struct broker_eval *broker_eval_copy(const struct broker_eval *ev)
{
    const char *ns = ev->namespace ? ev->namespace : "default";
    size_t size = sizeof(struct broker_eval) + ev->nclasses * sizeof(struct cv_bool_kv);
    size += str_size(ev->id) + str_size(ns) + str_size(ev->job_id) + str_size(ev->type) +
            str_size(ev->triggered_by) + str_size(ev->node_id);
    for (size_t i = 0; i < ev->nclasses; i++) {
        size += str_size(ev->classes[i].key);
    }
    /* The struct and the class array hold pointers and 64-bit integers,
     * so the class array right after the struct is aligned. */
    char *block = cv_malloc(size);
    struct broker_eval *c = (struct broker_eval *)(void *)block;
    *c = *ev;
    struct cv_bool_kv *classes = (struct cv_bool_kv *)(void *)(block + sizeof *c);
    char *p = (char *)(classes + ev->nclasses);
    c->id = pack_str(&p, ev->id);
    c->namespace = pack_str(&p, ns);
    c->job_id = pack_str(&p, ev->job_id);
    c->type = pack_str(&p, ev->type);
    c->triggered_by = pack_str(&p, ev->triggered_by);
    c->node_id = pack_str(&p, ev->node_id);
    for (size_t i = 0; i < ev->nclasses; i++) {
        classes[i].value = ev->classes[i].value;
        classes[i].key = (char *)(uintptr_t)pack_str(&p, ev->classes[i].key);
    }
    c->classes = ev->nclasses ? classes : NULL;
    assert((size_t)(p - block) == size);
    return c;
}

void broker_eval_free(struct broker_eval *ev)
{
    cv_free(ev);
}

/* The model keeps absent strings as ""; the broker wants NULL. */
static const char *or_null(const char *s)
{
    return s && s[0] ? s : NULL;
}

void broker_eval_from_cv(const struct cv_evaluation *ev, struct broker_eval *out)
{
    memset(out, 0, sizeof *out);
    out->id = ev->id;
    out->namespace = or_null(ev->namespace);
    out->job_id = ev->job_id;
    out->type = ev->type;
    out->triggered_by = or_null(ev->triggered_by);
    out->node_id = or_null(ev->node_id);
    out->priority = ev->priority;
    out->create_index = ev->create_index;
    out->modify_index = ev->modify_index;
    out->snapshot_index = ev->snapshot_index;
    out->wait_ns = ev->wait > 0 ? (uint64_t)ev->wait : 0;
    out->classes = ev->class_eligibility.items;
    out->nclasses = ev->class_eligibility.len;
    out->escaped = ev->escaped_computed_class;
}

void broker_eval_list_init(struct broker_eval_list *list)
{
    list->items = NULL;
    list->len = 0;
    list->cap = 0;
}

static void list_push(struct broker_eval_list *list, struct broker_eval *ev)
{
    if (list->len == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->items = cv_reallocarray(list->items, list->cap, sizeof *list->items);
    }
    list->items[list->len++] = ev;
}

void broker_eval_list_free(struct broker_eval_list *list)
{
    for (size_t i = 0; i < list->len; i++) {
        broker_eval_free(list->items[i]);
    }
    cv_free(list->items);
    broker_eval_list_init(list);
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* "<len of namespace>:<namespace>/<job>": unambiguous whatever the names
 * contain. Writes into buf (size from job_key_size). */
static size_t job_key_size(const char *ns, const char *job_id)
{
    return 21 + 1 + strlen(ns) + 1 + strlen(job_id) + 1;
}

static void make_job_key(char *buf, size_t size, const char *ns, const char *job_id)
{
    snprintf(buf, size, "%zu:%s/%s", strlen(ns), ns, job_id);
}

static void make_token(struct broker *b, char out[BROKER_TOKEN_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r[2] = {b->cfg.random(b->cfg.random_ctx), b->cfg.random(b->cfg.random_ctx)};
    unsigned char bytes[16];
    for (int i = 0; i < 16; i++) {
        bytes[i] = (unsigned char)(r[i / 8] >> (8 * (i % 8)));
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = hex[bytes[i] >> 4];
        *p++ = hex[bytes[i] & 0x0f];
    }
    *p = '\0';
}

static bool valid_eval(const struct broker_eval *ev)
{
    return ev && ev->id && ev->id[0] && ev->job_id && ev->job_id[0] && ev->type && ev->type[0];
}

/* ---- orderings -------------------------------------------------------------- */

static bool ready_before(const void *pa, const void *pb)
{
    const struct bentry *a = pa, *b = pb;
    if (a->ev->priority != b->ev->priority) {
        return a->ev->priority > b->ev->priority;
    }
    if (a->ev->create_index != b->ev->create_index) {
        return a->ev->create_index < b->ev->create_index;
    }
    return a->seq < b->seq;
}

/* The first out of a job's pending heap is the one kept on ack. */
static bool pending_before(const void *pa, const void *pb)
{
    const struct bentry *a = pa, *b = pb;
    if (a->ev->priority != b->ev->priority) {
        return a->ev->priority > b->ev->priority;
    }
    if (a->ev->modify_index != b->ev->modify_index) {
        return a->ev->modify_index > b->ev->modify_index;
    }
    if (a->ev->create_index != b->ev->create_index) {
        return a->ev->create_index > b->ev->create_index;
    }
    return a->seq > b->seq;
}

static bool due_before(const void *pa, const void *pb)
{
    const struct bentry *a = pa, *b = pb;
    if (a->due != b->due) {
        return a->due < b->due;
    }
    return a->seq < b->seq;
}

/* ---- counters and types ------------------------------------------------ */

static struct btype *get_type(struct broker *b, const char *name)
{
    struct btype *t = lmap_get(&b->types, name);
    if (t) {
        return t;
    }
    size_t n = strlen(name) + 1;
    t = cv_calloc(1, sizeof *t + n);
    memcpy(t->name, name, n);
    lheap_init(&t->ready, ready_before, offsetof(struct bentry, pos));
    lmap_put(&b->types, t->name, t);
    return t;
}

static int state_counter(enum bstate s)
{
    switch (s) {
    case BS_WAITING_DELAY:
    case BS_WAITING_NACK:
        return BC_WAITING;
    case BS_PENDING:
        return BC_PENDING;
    case BS_READY:
        return BC_READY;
    case BS_UNACKED:
        return BC_UNACKED;
    case BS_FAILED:
        return BC_FAILED;
    case BS_NONE:
        break;
    }
    return -1;
}

static void count(struct broker *b, struct btype *t, int c, int delta)
{
    if (c < 0) {
        return;
    }
    assert(delta > 0 || (b->counts[c] > 0 && t->counts[c] > 0));
    b->counts[c] += (size_t)delta;
    t->counts[c] += (size_t)delta;
}

static void set_state(struct broker *b, struct bentry *e, enum bstate s)
{
    count(b, e->type, state_counter(e->state), -1);
    e->state = s;
    count(b, e->type, state_counter(s), +1);
}

static void notify_ready(struct broker *b, const char *type)
{
    if (b->cfg.on_ready) {
        b->cfg.on_ready(b->cfg.on_ready_ctx, type);
    }
}

/* ---- configuration and life cycle ------------------------------------- */

void broker_config_default(struct broker_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->nack_timeout_ns = BROKER_DEFAULT_NACK_TIMEOUT_NS;
    cfg->initial_nack_delay_ns = BROKER_DEFAULT_INITIAL_NACK_DELAY_NS;
    cfg->subsequent_nack_delay_ns = BROKER_DEFAULT_SUBSEQUENT_NACK_DELAY_NS;
    cfg->delivery_limit = BROKER_DEFAULT_DELIVERY_LIMIT;
}

static void init_tables(struct broker *b)
{
    lmap_init(&b->evals, b->k0, b->k1);
    lmap_init(&b->jobs, b->k0, b->k1);
    lmap_init(&b->types, b->k0, b->k1);
    lmap_init(&b->blocked, b->k0, b->k1);
    lmap_init(&b->blocked_jobs, b->k0, b->k1);
    lmap_init(&b->blocked_nodes, b->k0, b->k1);
    lmap_init(&b->unblocks, b->k0, b->k1);
    lheap_init(&b->waiting, due_before, offsetof(struct bentry, pos));
    lheap_init(&b->unack, due_before, offsetof(struct bentry, pos));
    b->failed_head = b->failed_tail = NULL;
    broker_eval_list_init(&b->cancelable);
    b->cancelable_head = 0;
    b->captured = b->escaped = NULL;
    b->blocked_escaped = 0;
    b->max_unblock_index = 0;
    memset(b->counts, 0, sizeof b->counts);
}

int broker_new(const struct broker_config *cfg, struct broker **out, struct cv_err *err)
{
    *out = NULL;
    if (!cfg->random) {
        return cv_err_setf(err, CV_EINVAL, "broker: a random source is required");
    }
    if (cfg->nack_timeout_ns == 0) {
        return cv_err_setf(err, CV_EINVAL, "broker: nack timeout must be positive");
    }
    if (cfg->delivery_limit == 0) {
        return cv_err_setf(err, CV_EINVAL, "broker: delivery limit must be at least 1");
    }
    struct broker *b = cv_calloc(1, sizeof *b);
    b->cfg = *cfg;
    b->k0 = cfg->random(cfg->random_ctx);
    b->k1 = cfg->random(cfg->random_ctx);
    init_tables(b);
    *out = b;
    return 0;
}

static void free_entry(struct bentry *e)
{
    broker_eval_free(e->ev);
    broker_eval_free(e->requeue);
    cv_free(e);
}

/* Frees everything and leaves empty tables. */
static void flush(struct broker *b)
{
    size_t pos = 0;
    void *v;
    while (lmap_next(&b->evals, &pos, NULL, &v)) {
        free_entry(v);
    }
    pos = 0;
    while (lmap_next(&b->jobs, &pos, NULL, &v)) {
        struct bjob *j = v;
        lheap_free(&j->pending);
        cv_free(j);
    }
    pos = 0;
    while (lmap_next(&b->types, &pos, NULL, &v)) {
        struct btype *t = v;
        lheap_free(&t->ready);
        cv_free(t);
    }
    pos = 0;
    while (lmap_next(&b->blocked, &pos, NULL, &v)) {
        struct bblocked *bl = v;
        broker_eval_free(bl->ev);
        cv_free(bl);
    }
    pos = 0;
    while (lmap_next(&b->unblocks, &pos, NULL, &v)) {
        cv_free(v);
    }
    lmap_free(&b->evals);
    lmap_free(&b->jobs);
    lmap_free(&b->types);
    lmap_free(&b->blocked);
    lmap_free(&b->blocked_jobs);
    lmap_free(&b->blocked_nodes);
    lmap_free(&b->unblocks);
    lheap_free(&b->waiting);
    lheap_free(&b->unack);
    for (size_t i = b->cancelable_head; i < b->cancelable.len; i++) {
        broker_eval_free(b->cancelable.items[i]);
    }
    cv_free(b->cancelable.items);
    init_tables(b);
}

void broker_free(struct broker *b)
{
    if (!b) {
        return;
    }
    flush(b);
    cv_free(b);
}

void broker_set_enabled(struct broker *b, bool enabled)
{
    if (b->enabled == enabled) {
        return;
    }
    b->enabled = enabled;
    if (!enabled) {
        size_t queued = lmap_len(&b->evals), blocked = lmap_len(&b->blocked);
        flush(b);
        cv_log(CV_LOG_INFO, "broker", "disabled", "dropped_evals=%zu dropped_blocked=%zu", queued,
               blocked);
        notify_ready(b, NULL);
    } else {
        cv_log(CV_LOG_INFO, "broker", "enabled", "%s", "");
    }
}

bool broker_enabled(const struct broker *b)
{
    return b->enabled;
}

/* ---- the queues ------------------------------------------------------------ */

static struct bjob *get_job(struct broker *b, const char *key)
{
    struct bjob *j = lmap_get(&b->jobs, key);
    if (j) {
        return j;
    }
    size_t n = strlen(key) + 1;
    j = cv_calloc(1, sizeof *j + n);
    memcpy(j->key, key, n);
    lheap_init(&j->pending, pending_before, offsetof(struct bentry, pos));
    lmap_put(&b->jobs, j->key, j);
    return j;
}

static void drop_job_if_idle(struct broker *b, struct bjob *j)
{
    if (j->active == NULL && lheap_len(&j->pending) == 0) {
        lmap_remove(&b->jobs, j->key);
        lheap_free(&j->pending);
        cv_free(j);
    }
}

static void push_ready(struct broker *b, struct bentry *e)
{
    assert(e->job && e->job->active == e);
    set_state(b, e, BS_READY);
    lheap_push(&e->type->ready, e);
    notify_ready(b, e->type->name);
}

/* An evaluation whose time has come: ready if its job has no current
 * evaluation, pending behind it otherwise. */
static void make_ready_or_pending(struct broker *b, struct bentry *e)
{
    struct bjob *j = get_job(b, e->job_key);
    e->job = j;
    if (j->active == NULL) {
        j->active = e;
        push_ready(b, e);
    } else {
        assert(j->active != e);
        set_state(b, e, BS_PENDING);
        lheap_push(&j->pending, e);
    }
}

/* Removes an entry that is in no container and returns its evaluation. */
static struct broker_eval *take_entry(struct broker *b, struct bentry *e)
{
    set_state(b, e, BS_NONE);
    lmap_remove(&b->evals, e->ev->id);
    struct broker_eval *ev = e->ev;
    e->ev = NULL;
    free_entry(e);
    return ev;
}

/* The job's current evaluation is gone: the best pending one becomes
 * current and every other pending one is superseded (cancelable). */
static void promote_pending(struct broker *b, struct bjob *j)
{
    assert(j->active == NULL);
    struct bentry *next = lheap_pop(&j->pending);
    if (next) {
        struct bentry *old;
        while ((old = lheap_pop(&j->pending)) != NULL) {
            list_push(&b->cancelable, take_entry(b, old));
        }
        j->active = next;
        push_ready(b, next);
    }
    drop_job_if_idle(b, j);
}

/* Queues an owned copy. With a token, an evaluation already delivered
 * under that token is queued again once that delivery is acked. */
static int enqueue_owned(struct broker *b, struct broker_eval *ev, const char *token, uint64_t now)
{
    if (!b->enabled) {
        broker_eval_free(ev);
        return CV_ENOTLEADER;
    }
    struct bentry *e = lmap_get(&b->evals, ev->id);
    if (e) {
        if (token && e->state == BS_UNACKED && strcmp(e->token, token) == 0) {
            broker_eval_free(e->requeue);
            e->requeue = ev;
            return 0;
        }
        broker_eval_free(ev);
        return CV_EEXIST;
    }
    size_t keysize = job_key_size(ev->namespace, ev->job_id);
    e = cv_calloc(1, sizeof *e + keysize);
    make_job_key(e->job_key, keysize, ev->namespace, ev->job_id);
    e->ev = ev;
    e->pos = LHEAP_NONE;
    e->seq = ++b->seq;
    e->type = get_type(b, ev->type);
    lmap_put(&b->evals, ev->id, e);

    uint64_t due = 0;
    if (ev->wait_ns > 0) {
        due = add_sat(now, ev->wait_ns);
    }
    if (ev->wait_until > due) {
        due = ev->wait_until;
    }
    if (due > now) {
        e->due = due;
        set_state(b, e, BS_WAITING_DELAY);
        lheap_push(&b->waiting, e);
        return 0;
    }
    make_ready_or_pending(b, e);
    return 0;
}

int broker_enqueue(struct broker *b, const struct broker_eval *ev, uint64_t now)
{
    if (!valid_eval(ev)) {
        return CV_EINVAL;
    }
    if (!b->enabled) {
        return CV_ENOTLEADER;
    }
    if (lmap_get(&b->evals, ev->id)) {
        return CV_EEXIST;
    }
    return enqueue_owned(b, broker_eval_copy(ev), NULL, now);
}

int broker_dequeue(struct broker *b, const char *const *types, size_t ntypes, uint64_t now,
                   struct broker_eval **out, char token[BROKER_TOKEN_SIZE])
{
    *out = NULL;
    if (!b->enabled) {
        return CV_ENOTLEADER;
    }
    struct bentry *best = NULL;
    for (size_t i = 0; i < ntypes; i++) {
        struct btype *t = lmap_get(&b->types, types[i]);
        struct bentry *head = t ? lheap_peek(&t->ready) : NULL;
        if (head && (!best || ready_before(head, best))) {
            best = head;
        }
    }
    if (!best) {
        return 0;
    }
    lheap_remove(&best->type->ready, best);
    make_token(b, best->token);
    best->dequeues++;
    best->paused = false;
    best->due = add_sat(now, b->cfg.nack_timeout_ns);
    set_state(b, best, BS_UNACKED);
    lheap_push(&b->unack, best);
    memcpy(token, best->token, BROKER_TOKEN_SIZE);
    *out = broker_eval_copy(best->ev);
    return 0;
}

size_t broker_ready_count(const struct broker *b, const char *const *types, size_t ntypes)
{
    size_t n = 0;
    for (size_t i = 0; i < ntypes; i++) {
        const struct btype *t = lmap_get(&b->types, types[i]);
        if (t) {
            n += lheap_len(&t->ready);
        }
    }
    return n;
}

static struct bentry *find_outstanding(const struct broker *b, const char *eval_id,
                                       const char *token, struct cv_err *err, int *rc)
{
    struct bentry *e = lmap_get(&b->evals, eval_id);
    if (!e || e->state != BS_UNACKED) {
        *rc = cv_err_setf(err, CV_ENOTFOUND, "evaluation %s is not outstanding", eval_id);
        return NULL;
    }
    if (!token || strcmp(e->token, token) != 0) {
        *rc = cv_err_setf(err, CV_EINVAL, "evaluation %s: token does not match", eval_id);
        return NULL;
    }
    *rc = 0;
    return e;
}

static void leave_unack(struct broker *b, struct bentry *e)
{
    if (!e->paused) {
        lheap_remove(&b->unack, e);
    }
    e->paused = false;
}

int broker_ack(struct broker *b, const char *eval_id, const char *token, uint64_t now,
               struct cv_err *err)
{
    int rc;
    struct bentry *e = find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    leave_unack(b, e);
    struct broker_eval *requeue = e->requeue;
    e->requeue = NULL;
    struct bjob *j = e->job;
    assert(j->active == e);
    j->active = NULL;
    broker_eval_free(take_entry(b, e));
    promote_pending(b, j);
    if (requeue) {
        (void)enqueue_owned(b, requeue, NULL, now);
    }
    return 0;
}

/* Nomad's nackReenqueueDelay, from the number of deliveries so far. */
static uint64_t nack_delay(const struct broker *b, unsigned dequeues)
{
    if (dequeues == 0) {
        return 0;
    }
    if (dequeues == 1) {
        return b->cfg.initial_nack_delay_ns;
    }
    uint64_t n = dequeues - 1;
    uint64_t d = b->cfg.subsequent_nack_delay_ns;
    return d != 0 && n > UINT64_MAX / d ? UINT64_MAX : n * d;
}

static void nack_entry(struct broker *b, struct bentry *e, uint64_t now)
{
    leave_unack(b, e);
    broker_eval_free(e->requeue); /* the run that re-blocked it failed */
    e->requeue = NULL;
    e->token[0] = '\0';
    if (e->dequeues >= b->cfg.delivery_limit) {
        cv_log(CV_LOG_WARN, "broker", "eval reached delivery limit",
               "eval_id=%s job_id=%s limit=%u", e->ev->id, e->ev->job_id, b->cfg.delivery_limit);
        set_state(b, e, BS_FAILED);
        e->next_failed = NULL;
        if (b->failed_tail) {
            b->failed_tail->next_failed = e;
        } else {
            b->failed_head = e;
        }
        b->failed_tail = e;
        return;
    }
    uint64_t delay = nack_delay(b, e->dequeues);
    if (delay == 0) {
        push_ready(b, e);
        return;
    }
    e->due = add_sat(now, delay);
    set_state(b, e, BS_WAITING_NACK);
    lheap_push(&b->waiting, e);
}

int broker_nack(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                struct cv_err *err)
{
    int rc;
    struct bentry *e = find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    nack_entry(b, e, now);
    return 0;
}

int broker_outstanding_touch(struct broker *b, const char *eval_id, const char *token, uint64_t now,
                             struct cv_err *err)
{
    int rc;
    struct bentry *e = find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    if (!e->paused) {
        e->due = add_sat(now, b->cfg.nack_timeout_ns);
        lheap_fix(&b->unack, e);
    }
    return 0;
}

int broker_outstanding_pause(struct broker *b, const char *eval_id, const char *token,
                             struct cv_err *err)
{
    int rc;
    struct bentry *e = find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    if (!e->paused) {
        lheap_remove(&b->unack, e);
        e->paused = true;
    }
    return 0;
}

int broker_outstanding_resume(struct broker *b, const char *eval_id, const char *token,
                              uint64_t now, struct cv_err *err)
{
    int rc;
    struct bentry *e = find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    e->due = add_sat(now, b->cfg.nack_timeout_ns);
    if (e->paused) {
        e->paused = false;
        lheap_push(&b->unack, e);
    } else {
        lheap_fix(&b->unack, e);
    }
    return 0;
}

bool broker_outstanding(const struct broker *b, const char *eval_id, char token[BROKER_TOKEN_SIZE])
{
    const struct bentry *e = lmap_get(&b->evals, eval_id);
    if (!e || e->state != BS_UNACKED) {
        return false;
    }
    if (token) {
        memcpy(token, e->token, BROKER_TOKEN_SIZE);
    }
    return true;
}

void broker_tick(struct broker *b, uint64_t now)
{
    if (!b->enabled) {
        return;
    }
    struct bentry *e;
    while ((e = lheap_peek(&b->unack)) != NULL && e->due <= now) {
        cv_log(CV_LOG_WARN, "broker", "eval nack timeout", "eval_id=%s job_id=%s deliveries=%u",
               e->ev->id, e->ev->job_id, e->dequeues);
        nack_entry(b, e, now);
    }
    while ((e = lheap_peek(&b->waiting)) != NULL && e->due <= now) {
        lheap_pop(&b->waiting);
        if (e->state == BS_WAITING_NACK) {
            push_ready(b, e);
        } else {
            make_ready_or_pending(b, e);
        }
    }
}

uint64_t broker_next_deadline(const struct broker *b)
{
    uint64_t next = UINT64_MAX;
    const struct bentry *e = lheap_peek(&b->unack);
    if (e) {
        next = e->due;
    }
    e = lheap_peek(&b->waiting);
    if (e && e->due < next) {
        next = e->due;
    }
    return next;
}

size_t broker_drain_failed(struct broker *b, size_t max, struct broker_eval_list *out)
{
    size_t n = 0;
    while (n < max && b->failed_head) {
        struct bentry *e = b->failed_head;
        b->failed_head = e->next_failed;
        if (!b->failed_head) {
            b->failed_tail = NULL;
        }
        struct bjob *j = e->job;
        assert(j->active == e);
        j->active = NULL;
        list_push(out, take_entry(b, e));
        promote_pending(b, j);
        n++;
    }
    return n;
}

size_t broker_drain_cancelable(struct broker *b, size_t max, struct broker_eval_list *out)
{
    size_t n = 0;
    while (n < max && b->cancelable_head < b->cancelable.len) {
        list_push(out, b->cancelable.items[b->cancelable_head++]);
        n++;
    }
    /* Compact once the drained prefix is the larger half. */
    if (b->cancelable_head > 0 && b->cancelable_head * 2 >= b->cancelable.len) {
        size_t left = b->cancelable.len - b->cancelable_head;
        memmove(b->cancelable.items, b->cancelable.items + b->cancelable_head,
                left * sizeof *b->cancelable.items);
        b->cancelable.len = left;
        b->cancelable_head = 0;
    }
    return n;
}

/* ---- blocked evaluations ------------------------------------------------ */

static uint64_t latest_index(const struct broker_eval *ev)
{
    return ev->create_index > ev->snapshot_index ? ev->create_index : ev->snapshot_index;
}

/* 1: eligible, 0: ineligible, -1: the evaluation never saw the class. */
static int class_eligibility(const struct broker_eval *ev, const char *cls)
{
    for (size_t i = 0; i < ev->nclasses; i++) {
        if (strcmp(ev->classes[i].key, cls) == 0) {
            return ev->classes[i].value ? 1 : 0;
        }
    }
    return -1;
}

/* Did an unblock after the evaluation's snapshot concern it? Cheap unless
 * some class was unblocked after that snapshot. */
static bool missed_unblock(const struct broker *b, const struct broker_eval *ev)
{
    if (b->max_unblock_index <= ev->snapshot_index) {
        return false;
    }
    if (ev->escaped) {
        return true;
    }
    size_t pos = 0;
    void *v;
    while (lmap_next(&b->unblocks, &pos, NULL, &v)) {
        const struct bunblock *u = v;
        if (u->index > ev->snapshot_index && class_eligibility(ev, u->cls) != 0) {
            return true;
        }
    }
    return false;
}

static void node_list_add(struct broker *b, struct bblocked *bl)
{
    struct bblocked *head = lmap_get(&b->blocked_nodes, bl->ev->node_id);
    bl->node_prev = NULL;
    bl->node_next = head;
    if (head) {
        head->node_prev = bl;
    }
    lmap_put(&b->blocked_nodes, bl->ev->node_id, bl);
}

static void node_list_remove(struct broker *b, struct bblocked *bl)
{
    if (bl->node_prev) {
        bl->node_prev->node_next = bl->node_next;
    } else if (bl->node_next) {
        /* The map's key points into the head: re-key on the new head. */
        lmap_put(&b->blocked_nodes, bl->node_next->ev->node_id, bl->node_next);
    } else {
        lmap_remove(&b->blocked_nodes, bl->ev->node_id);
    }
    if (bl->node_next) {
        bl->node_next->node_prev = bl->node_prev;
    }
}

/* Unlinks a tracked blocked evaluation, frees its record and returns its
 * evaluation copy (and token, when it has one). */
static struct broker_eval *untrack_blocked(struct broker *b, struct bblocked *bl,
                                           char token[BROKER_TOKEN_SIZE], bool *has_token)
{
    struct bblocked **list = bl->ev->escaped ? &b->escaped : &b->captured;
    if (bl->prev) {
        bl->prev->next = bl->next;
    } else {
        *list = bl->next;
    }
    if (bl->next) {
        bl->next->prev = bl->prev;
    }
    if (bl->ev->node_id) {
        node_list_remove(b, bl);
    }
    lmap_remove(&b->blocked, bl->ev->id);
    lmap_remove(&b->blocked_jobs, bl->job_key);
    count(b, bl->type, BC_BLOCKED, -1);
    if (bl->ev->escaped) {
        b->blocked_escaped--;
    }
    if (token) {
        memcpy(token, bl->token, BROKER_TOKEN_SIZE);
    }
    if (has_token) {
        *has_token = bl->has_token;
    }
    struct broker_eval *ev = bl->ev;
    cv_free(bl);
    return ev;
}

static void track_blocked(struct broker *b, struct broker_eval *ev, const char *token)
{
    size_t keysize = job_key_size(ev->namespace, ev->job_id);
    struct bblocked *bl = cv_calloc(1, sizeof *bl + keysize);
    make_job_key(bl->job_key, keysize, ev->namespace, ev->job_id);
    bl->ev = ev;
    bl->type = get_type(b, ev->type);
    if (token) {
        bl->has_token = true;
        snprintf(bl->token, sizeof bl->token, "%s", token);
    }
    struct bblocked **list = ev->escaped ? &b->escaped : &b->captured;
    bl->next = *list;
    if (*list) {
        (*list)->prev = bl;
    }
    *list = bl;
    if (ev->node_id) {
        node_list_add(b, bl);
    }
    lmap_put(&b->blocked, ev->id, bl);
    lmap_put(&b->blocked_jobs, bl->job_key, bl);
    count(b, bl->type, BC_BLOCKED, +1);
    if (ev->escaped) {
        b->blocked_escaped++;
    }
}

int broker_block(struct broker *b, const struct broker_eval *ev, const char *token, uint64_t now,
                 enum broker_block_outcome *outcome)
{
    enum broker_block_outcome dummy;
    if (!outcome) {
        outcome = &dummy;
    }
    *outcome = BROKER_BLOCK_TRACKED;
    if (!valid_eval(ev)) {
        return CV_EINVAL;
    }
    if (!b->enabled) {
        return CV_ENOTLEADER;
    }
    struct broker_eval *copy = broker_eval_copy(ev);
    /* The same evaluation blocked again replaces its own record. */
    struct bblocked *same = lmap_get(&b->blocked, copy->id);
    if (same) {
        broker_eval_free(untrack_blocked(b, same, NULL, NULL));
    }
    size_t keysize = job_key_size(copy->namespace, copy->job_id);
    char *key = cv_malloc(keysize);
    make_job_key(key, keysize, copy->namespace, copy->job_id);
    struct bblocked *existing = lmap_get(&b->blocked_jobs, key);
    cv_free(key);
    if (existing) {
        if (latest_index(existing->ev) <= latest_index(copy)) {
            list_push(&b->cancelable, untrack_blocked(b, existing, NULL, NULL));
        } else {
            list_push(&b->cancelable, copy);
            *outcome = BROKER_BLOCK_DUPLICATE;
            return 0;
        }
    }
    if (missed_unblock(b, copy)) {
        *outcome = BROKER_BLOCK_REENQUEUED;
        (void)enqueue_owned(b, copy, token, now);
        return 0;
    }
    track_blocked(b, copy, token);
    return 0;
}

static void unblock_one(struct broker *b, struct bblocked *bl, uint64_t now)
{
    char token[BROKER_TOKEN_SIZE];
    bool has_token;
    struct broker_eval *ev = untrack_blocked(b, bl, token, &has_token);
    /* CV_EEXIST: already queued under its ID, nothing to add. */
    (void)enqueue_owned(b, ev, has_token ? token : NULL, now);
}

size_t broker_unblock_class(struct broker *b, const char *computed_class, uint64_t index,
                            uint64_t now)
{
    if (!b->enabled || !computed_class) {
        return 0;
    }
    struct bunblock *u = lmap_get(&b->unblocks, computed_class);
    if (!u) {
        size_t n = strlen(computed_class) + 1;
        u = cv_calloc(1, sizeof *u + n);
        memcpy(u->cls, computed_class, n);
        lmap_put(&b->unblocks, u->cls, u);
    }
    if (index > u->index) {
        u->index = index;
    }
    if (index > b->max_unblock_index) {
        b->max_unblock_index = index;
    }
    size_t n = 0;
    /* Any node may suit an escaped evaluation. */
    while (b->escaped) {
        unblock_one(b, b->escaped, now);
        n++;
    }
    /* Captured ones unless they found this class ineligible. The walk is
     * over every captured evaluation; each one unblocked leaves the list,
     * so the cost beyond the work done is the ineligible ones skipped. */
    struct bblocked *bl = b->captured;
    while (bl) {
        struct bblocked *next = bl->next;
        if (class_eligibility(bl->ev, computed_class) != 0) {
            unblock_one(b, bl, now);
            n++;
        }
        bl = next;
    }
    return n;
}

size_t broker_unblock_node(struct broker *b, const char *node_id, uint64_t now)
{
    if (!b->enabled || !node_id) {
        return 0;
    }
    size_t n = 0;
    struct bblocked *bl;
    while ((bl = lmap_get(&b->blocked_nodes, node_id)) != NULL) {
        unblock_one(b, bl, now);
        n++;
    }
    return n;
}

static size_t unblock_failed_list(struct broker *b, struct bblocked *bl, uint64_t now)
{
    size_t n = 0;
    while (bl) {
        struct bblocked *next = bl->next;
        if (bl->ev->triggered_by && strcmp(bl->ev->triggered_by, CV_EVAL_TRIGGER_MAX_PLANS) == 0) {
            unblock_one(b, bl, now);
            n++;
        }
        bl = next;
    }
    return n;
}

size_t broker_unblock_failed(struct broker *b, uint64_t now)
{
    if (!b->enabled) {
        return 0;
    }
    size_t n = unblock_failed_list(b, b->captured, now);
    return n + unblock_failed_list(b, b->escaped, now);
}

bool broker_untrack(struct broker *b, const char *namespace, const char *job_id)
{
    if (!b->enabled || !job_id) {
        return false;
    }
    const char *ns = namespace ? namespace : "default";
    size_t keysize = job_key_size(ns, job_id);
    char *key = cv_malloc(keysize);
    make_job_key(key, keysize, ns, job_id);
    struct bblocked *bl = lmap_get(&b->blocked_jobs, key);
    cv_free(key);
    if (!bl) {
        return false;
    }
    broker_eval_free(untrack_blocked(b, bl, NULL, NULL));
    return true;
}

/* ---- inspection ------------------------------------------------------------ */

enum broker_eval_state broker_eval_state(const struct broker *b, const char *eval_id)
{
    const struct bentry *e = lmap_get(&b->evals, eval_id);
    if (!e) {
        return BROKER_EVAL_NONE;
    }
    switch (e->state) {
    case BS_WAITING_DELAY:
    case BS_WAITING_NACK:
        return BROKER_EVAL_WAITING;
    case BS_PENDING:
        return BROKER_EVAL_PENDING;
    case BS_READY:
        return BROKER_EVAL_READY;
    case BS_UNACKED:
        return BROKER_EVAL_UNACKED;
    case BS_FAILED:
        return BROKER_EVAL_FAILED;
    case BS_NONE:
        break;
    }
    return BROKER_EVAL_NONE;
}

bool broker_is_blocked(const struct broker *b, const char *eval_id)
{
    return lmap_get(&b->blocked, eval_id) != NULL;
}

static void fill_counts(const size_t c[BC_N], struct broker_counts *out)
{
    out->ready = c[BC_READY];
    out->unacked = c[BC_UNACKED];
    out->pending = c[BC_PENDING];
    out->waiting = c[BC_WAITING];
    out->blocked = c[BC_BLOCKED];
    out->failed = c[BC_FAILED];
}

void broker_stats(const struct broker *b, struct broker_stats *out)
{
    fill_counts(b->counts, &out->total);
    out->blocked_escaped = b->blocked_escaped;
    out->cancelable = b->cancelable.len - b->cancelable_head;
}

void broker_type_stats(const struct broker *b, const char *type, struct broker_counts *out)
{
    static const size_t zero[BC_N];
    const struct btype *t = lmap_get(&b->types, type);
    fill_counts(t ? t->counts : zero, out);
}

bool broker_type_stats_next(const struct broker *b, size_t *pos, const char **type,
                            struct broker_counts *out)
{
    void *v;
    if (!lmap_next(&b->types, pos, NULL, &v)) {
        return false;
    }
    const struct btype *t = v;
    if (type) {
        *type = t->name;
    }
    if (out) {
        fill_counts(t->counts, out);
    }
    return true;
}

#define VERIFY(cond, ...)                                       \
    do {                                                        \
        if (!(cond)) {                                          \
            return cv_err_setf(err, CV_EINTERNAL, __VA_ARGS__); \
        }                                                       \
    } while (0)

static int verify_entry(const struct broker *b, const struct bentry *e, struct cv_err *err)
{
    const char *id = e->ev->id;
    VERIFY(lmap_get(&b->types, e->ev->type) == e->type, "eval %s: wrong type record", id);
    const struct bjob *j = e->state == BS_WAITING_DELAY ? NULL : lmap_get(&b->jobs, e->job_key);
    switch (e->state) {
    case BS_WAITING_DELAY:
        VERIFY(lheap_contains(&b->waiting, e), "eval %s: delayed but not waiting", id);
        break;
    case BS_PENDING:
        VERIFY(j && e->job == j, "eval %s: pending without its job", id);
        VERIFY(lheap_contains(&j->pending, e), "eval %s: not in its job's pending queue", id);
        VERIFY(j->active && j->active != e, "eval %s: pending behind no evaluation", id);
        break;
    case BS_READY:
        VERIFY(lheap_contains(&e->type->ready, e), "eval %s: ready but not queued", id);
        break;
    case BS_UNACKED:
        VERIFY(e->paused ? !lheap_contains(&b->unack, e) : lheap_contains(&b->unack, e),
               "eval %s: unacked but not timed", id);
        VERIFY(e->token[0] != '\0', "eval %s: unacked without a token", id);
        break;
    case BS_WAITING_NACK:
        VERIFY(lheap_contains(&b->waiting, e), "eval %s: nacked but not waiting", id);
        break;
    case BS_FAILED:
        break;
    case BS_NONE:
        VERIFY(false, "eval %s: in the table without a state", id);
    }
    if (e->state == BS_READY || e->state == BS_UNACKED || e->state == BS_WAITING_NACK ||
        e->state == BS_FAILED) {
        VERIFY(j && e->job == j && j->active == e, "eval %s: not its job's current one", id);
    }
    VERIFY(e->requeue == NULL || e->state == BS_UNACKED, "eval %s: requeue while not out", id);
    return 0;
}

int broker_verify(const struct broker *b, struct cv_err *err)
{
    size_t counts[BC_N] = {0};
    size_t pos = 0;
    void *v;
    while (lmap_next(&b->evals, &pos, NULL, &v)) {
        const struct bentry *e = v;
        int rc = verify_entry(b, e, err);
        if (rc) {
            return rc;
        }
        counts[state_counter(e->state)]++;
    }
    size_t nfailed = 0;
    for (const struct bentry *e = b->failed_head; e; e = e->next_failed) {
        VERIFY(e->state == BS_FAILED, "failed queue holds eval %s in another state", e->ev->id);
        nfailed++;
    }
    VERIFY(nfailed == counts[BC_FAILED], "failed queue length %zu, %zu failed", nfailed,
           counts[BC_FAILED]);
    size_t npending = 0;
    pos = 0;
    while (lmap_next(&b->jobs, &pos, NULL, &v)) {
        const struct bjob *j = v;
        VERIFY(j->active != NULL, "job %s has no current evaluation", j->key);
        VERIFY(lheap_valid(&j->pending), "job %s: pending heap out of order", j->key);
        npending += lheap_len(&j->pending);
    }
    VERIFY(npending == counts[BC_PENDING], "pending heaps hold %zu, %zu pending", npending,
           counts[BC_PENDING]);
    VERIFY(lheap_valid(&b->waiting) && lheap_valid(&b->unack), "timer heap out of order");
    VERIFY(lheap_len(&b->waiting) == counts[BC_WAITING], "waiting heap length");

    size_t blocked = 0, escaped = 0;
    for (int list = 0; list < 2; list++) {
        const struct bblocked *prev = NULL;
        for (const struct bblocked *bl = list ? b->escaped : b->captured; bl; bl = bl->next) {
            VERIFY(bl->prev == prev, "blocked list links broken at %s", bl->ev->id);
            VERIFY(bl->ev->escaped == (list == 1), "blocked eval %s on the wrong list", bl->ev->id);
            VERIFY(lmap_get(&b->blocked, bl->ev->id) == bl, "blocked eval %s not indexed",
                   bl->ev->id);
            VERIFY(lmap_get(&b->blocked_jobs, bl->job_key) == bl,
                   "blocked eval %s is not its job's", bl->ev->id);
            blocked++;
            escaped += list;
            prev = bl;
        }
    }
    VERIFY(blocked == lmap_len(&b->blocked) && blocked == lmap_len(&b->blocked_jobs),
           "blocked lists hold %zu, tables %zu and %zu", blocked, lmap_len(&b->blocked),
           lmap_len(&b->blocked_jobs));
    VERIFY(escaped == b->blocked_escaped, "escaped count");
    counts[BC_BLOCKED] = blocked;

    size_t by_type[BC_N] = {0};
    size_t nready = 0;
    pos = 0;
    while (lmap_next(&b->types, &pos, NULL, &v)) {
        const struct btype *t = v;
        VERIFY(lheap_valid(&t->ready), "type %s: ready heap out of order", t->name);
        VERIFY(lheap_len(&t->ready) == t->counts[BC_READY], "type %s: ready count", t->name);
        nready += lheap_len(&t->ready);
        for (int c = 0; c < BC_N; c++) {
            by_type[c] += t->counts[c];
        }
    }
    VERIFY(nready == counts[BC_READY], "ready heaps hold %zu, %zu ready", nready, counts[BC_READY]);
    for (int c = 0; c < BC_N; c++) {
        VERIFY(counts[c] == b->counts[c] && by_type[c] == b->counts[c],
               "counter %d: recounted %zu, total %zu, by type %zu", c, counts[c], b->counts[c],
               by_type[c]);
    }
    return 0;
}
