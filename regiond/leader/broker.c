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
 * (broker__set_state), so stats are O(1) and broker_verify can recount them.
 *
 * The files: this one has the evaluation copies, the life cycle and the
 * queues (enqueue, dequeue, ack, the failed and cancelable queues);
 * broker_timers.c what the clock drives (nacks and their delays, the nack
 * deadlines of outstanding evaluations, broker_tick); broker_blocked.c the
 * blocked evaluations; broker_inspect.c the states, the counters and
 * broker_verify. broker_internal.h declares what they share.
 */
#include "regiond/leader/broker.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/leader/broker_internal.h"
#include "regiond/leader/lheap.h"
#include "regiond/leader/lmap.h"

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

void broker__list_push(struct broker_eval_list *list, struct broker_eval *ev)
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

uint64_t broker__add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* "<len of namespace>:<namespace>/<job>": unambiguous whatever the names
 * contain. Writes into buf (size from broker__job_key_size). */
size_t broker__job_key_size(const char *ns, const char *job_id)
{
    return 21 + 1 + strlen(ns) + 1 + strlen(job_id) + 1;
}

void broker__make_job_key(char *buf, size_t size, const char *ns, const char *job_id)
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

bool broker__valid_eval(const struct broker_eval *ev)
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

struct btype *broker__get_type(struct broker *b, const char *name)
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

int broker__state_counter(enum bstate s)
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

void broker__count(struct broker *b, struct btype *t, int c, int delta)
{
    if (c < 0) {
        return;
    }
    assert(delta > 0 || (b->counts[c] > 0 && t->counts[c] > 0));
    b->counts[c] += (size_t)delta;
    t->counts[c] += (size_t)delta;
}

void broker__set_state(struct broker *b, struct bentry *e, enum bstate s)
{
    broker__count(b, e->type, broker__state_counter(e->state), -1);
    e->state = s;
    broker__count(b, e->type, broker__state_counter(s), +1);
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

void broker__push_ready(struct broker *b, struct bentry *e)
{
    assert(e->job && e->job->active == e);
    broker__set_state(b, e, BS_READY);
    lheap_push(&e->type->ready, e);
    notify_ready(b, e->type->name);
}

/* An evaluation whose time has come: ready if its job has no current
 * evaluation, pending behind it otherwise. */
void broker__make_ready_or_pending(struct broker *b, struct bentry *e)
{
    struct bjob *j = get_job(b, e->job_key);
    e->job = j;
    if (j->active == NULL) {
        j->active = e;
        broker__push_ready(b, e);
    } else {
        assert(j->active != e);
        broker__set_state(b, e, BS_PENDING);
        lheap_push(&j->pending, e);
    }
}

/* Removes an entry that is in no container and returns its evaluation. */
static struct broker_eval *take_entry(struct broker *b, struct bentry *e)
{
    broker__set_state(b, e, BS_NONE);
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
            broker__list_push(&b->cancelable, take_entry(b, old));
        }
        j->active = next;
        broker__push_ready(b, next);
    }
    drop_job_if_idle(b, j);
}

/* Queues an owned copy. With a token, an evaluation already delivered
 * under that token is queued again once that delivery is acked. */
int broker__enqueue_owned(struct broker *b, struct broker_eval *ev, const char *token, uint64_t now)
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
    size_t keysize = broker__job_key_size(ev->namespace, ev->job_id);
    e = cv_calloc(1, sizeof *e + keysize);
    broker__make_job_key(e->job_key, keysize, ev->namespace, ev->job_id);
    e->ev = ev;
    e->pos = LHEAP_NONE;
    e->seq = ++b->seq;
    e->type = broker__get_type(b, ev->type);
    lmap_put(&b->evals, ev->id, e);

    uint64_t due = 0;
    if (ev->wait_ns > 0) {
        due = broker__add_sat(now, ev->wait_ns);
    }
    if (ev->wait_until > due) {
        due = ev->wait_until;
    }
    if (due > now) {
        e->due = due;
        broker__set_state(b, e, BS_WAITING_DELAY);
        lheap_push(&b->waiting, e);
        return 0;
    }
    broker__make_ready_or_pending(b, e);
    return 0;
}

int broker_enqueue(struct broker *b, const struct broker_eval *ev, uint64_t now)
{
    if (!broker__valid_eval(ev)) {
        return CV_EINVAL;
    }
    if (!b->enabled) {
        return CV_ENOTLEADER;
    }
    if (lmap_get(&b->evals, ev->id)) {
        return CV_EEXIST;
    }
    return broker__enqueue_owned(b, broker_eval_copy(ev), NULL, now);
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
    best->due = broker__add_sat(now, b->cfg.nack_timeout_ns);
    broker__set_state(b, best, BS_UNACKED);
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

struct bentry *broker__find_outstanding(const struct broker *b, const char *eval_id,
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

void broker__leave_unack(struct broker *b, struct bentry *e)
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
    struct bentry *e = broker__find_outstanding(b, eval_id, token, err, &rc);
    if (!e) {
        return rc;
    }
    broker__leave_unack(b, e);
    struct broker_eval *requeue = e->requeue;
    e->requeue = NULL;
    struct bjob *j = e->job;
    assert(j->active == e);
    j->active = NULL;
    broker_eval_free(take_entry(b, e));
    promote_pending(b, j);
    if (requeue) {
        (void)broker__enqueue_owned(b, requeue, NULL, now);
    }
    return 0;
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
        broker__list_push(out, take_entry(b, e));
        promote_pending(b, j);
        n++;
    }
    return n;
}

size_t broker_drain_cancelable(struct broker *b, size_t max, struct broker_eval_list *out)
{
    size_t n = 0;
    while (n < max && b->cancelable_head < b->cancelable.len) {
        broker__list_push(out, b->cancelable.items[b->cancelable_head++]);
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
