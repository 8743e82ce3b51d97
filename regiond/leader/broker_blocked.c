/*
 * broker_blocked: the blocked-evaluation tracker: evaluations that found no
 * room, kept until a change may give them some (broker_block, the
 * broker_unblock_* calls, broker_untrack).
 *
 * A job has at most one blocked evaluation, the one of the latest index; an
 * older one goes to the cancelable list. A "captured" evaluation names the
 * computed node classes it found eligible or not and is unblocked by any
 * class but those it found ineligible; an "escaped" one (its constraints
 * escape the classes) is unblocked by any class. Each unblocked class keeps
 * the latest index it was unblocked at, so an evaluation blocked on an older
 * snapshot that such an unblock concerns is queued again at once instead of
 * waiting (missed_unblock). Unblocking moves the evaluation copy into the
 * queues, with the delivery token it was blocked under, if any.
 */
#include "regiond/leader/broker.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/leader/broker_internal.h"
#include "regiond/leader/lmap.h"

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

/* True when the evaluation planned on a snapshot that already had the
 * change made at `index`: unblocking it would only repeat what it found. */
static bool planned_with(const struct broker_eval *ev, uint64_t index)
{
    return ev->snapshot_index != 0 && ev->snapshot_index >= index;
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
    broker__count(b, bl->type, BC_BLOCKED, -1);
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
    size_t keysize = broker__job_key_size(ev->namespace, ev->job_id);
    struct bblocked *bl = cv_calloc(1, sizeof *bl + keysize);
    broker__make_job_key(bl->job_key, keysize, ev->namespace, ev->job_id);
    bl->ev = ev;
    bl->type = broker__get_type(b, ev->type);
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
    broker__count(b, bl->type, BC_BLOCKED, +1);
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
    if (!broker__valid_eval(ev)) {
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
    size_t keysize = broker__job_key_size(copy->namespace, copy->job_id);
    char *key = cv_malloc(keysize);
    broker__make_job_key(key, keysize, copy->namespace, copy->job_id);
    struct bblocked *existing = lmap_get(&b->blocked_jobs, key);
    cv_free(key);
    if (existing) {
        if (latest_index(existing->ev) <= latest_index(copy)) {
            broker__list_push(&b->cancelable, untrack_blocked(b, existing, NULL, NULL));
        } else {
            broker__list_push(&b->cancelable, copy);
            *outcome = BROKER_BLOCK_DUPLICATE;
            return 0;
        }
    }
    if (missed_unblock(b, copy)) {
        *outcome = BROKER_BLOCK_REENQUEUED;
        (void)broker__enqueue_owned(b, copy, token, now);
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
    (void)broker__enqueue_owned(b, ev, has_token ? token : NULL, now);
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
    struct bblocked *bl = b->escaped;
    while (bl) {
        struct bblocked *next = bl->next;
        if (!planned_with(bl->ev, index)) {
            unblock_one(b, bl, now);
            n++;
        }
        bl = next;
    }
    /* Captured ones unless they found this class ineligible. The walk is
     * over every captured evaluation; each one unblocked leaves the list,
     * so the cost beyond the work done is the ineligible ones skipped. */
    bl = b->captured;
    while (bl) {
        struct bblocked *next = bl->next;
        if (class_eligibility(bl->ev, computed_class) != 0 && !planned_with(bl->ev, index)) {
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
    size_t keysize = broker__job_key_size(ns, job_id);
    char *key = cv_malloc(keysize);
    broker__make_job_key(key, keysize, ns, job_id);
    struct bblocked *bl = lmap_get(&b->blocked_jobs, key);
    cv_free(key);
    if (!bl) {
        return false;
    }
    broker_eval_free(untrack_blocked(b, bl, NULL, NULL));
    return true;
}
