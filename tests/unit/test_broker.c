/*
 * test_broker: the leader's evaluation broker on a manual clock: priority
 * then FIFO order, one evaluation per job in flight, cancellation of older
 * pending ones on ack, nack delays and redelivery, the delivery limit and
 * the failed queue, the unack timeout and touch/pause, tokens, delayed
 * evaluations, blocked evaluations and their unblocking, leadership
 * changes, stats, a 100,000-evaluation run, and a seeded random sequence
 * of operations whose invariants are checked after every step.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/leader/broker.h"

#define SEC CV_NSEC_PER_SEC

static uint64_t xorshift(void *ctx)
{
    uint64_t *s = ctx;
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

struct fixture
{
    uint64_t seed;
    struct broker_config cfg;
    struct broker *b;
    struct cv_manual_clock clock;
    size_t ready_calls;
    size_t disabled_calls;
    char last_ready_type[32];
};

static void on_ready(void *ctx, const char *type)
{
    struct fixture *f = ctx;
    if (type) {
        f->ready_calls++;
        snprintf(f->last_ready_type, sizeof f->last_ready_type, "%s", type);
    } else {
        f->disabled_calls++;
    }
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->seed = 0x9e3779b97f4a7c15ULL;
    broker_config_default(&f->cfg);
    f->cfg.random = xorshift;
    f->cfg.random_ctx = &f->seed;
    f->cfg.on_ready = on_ready;
    f->cfg.on_ready_ctx = f;
    assert_int_equal(broker_new(&f->cfg, &f->b, NULL), 0);
    broker_set_enabled(f->b, true);
    cv_manual_clock_init(&f->clock, 1000 * (uint64_t)SEC, 0);
}

static void fixture_free(struct fixture *f)
{
    struct cv_err err = {0};
    int rc = broker_verify(f->b, &err);
    if (rc != 0) {
        print_error("broker_verify: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    broker_free(f->b);
}

static uint64_t now(struct fixture *f)
{
    return cv_clock_monotonic_ns(&f->clock.clock);
}

static void advance(struct fixture *f, uint64_t ns)
{
    cv_manual_clock_advance(&f->clock, ns);
}

static struct broker_eval mk(const char *id, const char *job, const char *type, int64_t priority,
                             uint64_t index)
{
    struct broker_eval e;
    memset(&e, 0, sizeof e);
    e.id = id;
    e.job_id = job;
    e.type = type;
    e.priority = priority;
    e.create_index = index;
    e.modify_index = index;
    return e;
}

static void enqueue(struct fixture *f, const char *id, const char *job, const char *type,
                    int64_t priority, uint64_t index)
{
    struct broker_eval e = mk(id, job, type, priority, index);
    assert_int_equal(broker_enqueue(f->b, &e, now(f)), 0);
}

static const char *const ALL[] = {"service", "batch", "system", "sysbatch", "_core"};

/* Dequeues from every type; asserts something came and that it is `id`.
 * The token is left in `token`. */
static void expect_dequeue(struct fixture *f, const char *id, char token[BROKER_TOKEN_SIZE])
{
    struct broker_eval *ev = NULL;
    assert_int_equal(broker_dequeue(f->b, ALL, 5, now(f), &ev, token), 0);
    if (!ev) {
        print_error("expected %s, the broker had nothing ready\n", id);
        fail();
    }
    assert_string_equal(ev->id, id);
    broker_eval_free(ev);
}

static void expect_nothing_ready(struct fixture *f)
{
    struct broker_eval *ev = (void *)1;
    char token[BROKER_TOKEN_SIZE];
    assert_int_equal(broker_dequeue(f->b, ALL, 5, now(f), &ev, token), 0);
    if (ev) {
        print_error("expected nothing ready, got %s\n", ev->id);
        broker_eval_free(ev);
        fail();
    }
}

static void ack(struct fixture *f, const char *id, const char *token)
{
    assert_int_equal(broker_ack(f->b, id, token, now(f), NULL), 0);
}

static void drain_ids(struct fixture *f, bool failed, const char **expect, size_t n)
{
    struct broker_eval_list list;
    broker_eval_list_init(&list);
    size_t got = failed ? broker_drain_failed(f->b, 1000, &list)
                        : broker_drain_cancelable(f->b, 1000, &list);
    assert_u64_equal(got, n);
    assert_u64_equal(list.len, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list.items[i]->id, expect[i]);
    }
    broker_eval_list_free(&list);
}

/* ---- configuration, leadership ----------------------------------------- */

static void test_config_defaults_and_checks(void **state)
{
    (void)state;
    struct broker_config cfg;
    broker_config_default(&cfg);
    assert_u64_equal(cfg.nack_timeout_ns, 60 * SEC);
    assert_u64_equal(cfg.initial_nack_delay_ns, 1 * SEC);
    assert_u64_equal(cfg.subsequent_nack_delay_ns, 20 * SEC);
    assert_int_equal(cfg.delivery_limit, 3);
    struct broker *b;
    struct cv_err err = {0};
    assert_int_equal(broker_new(&cfg, &b, &err), CV_EINVAL); /* no random source */
    assert_null(b);
    uint64_t seed = 1;
    cfg.random = xorshift;
    cfg.random_ctx = &seed;
    cfg.delivery_limit = 0;
    assert_int_equal(broker_new(&cfg, &b, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "delivery limit"));
    cfg.delivery_limit = 3;
    cfg.nack_timeout_ns = 0;
    assert_int_equal(broker_new(&cfg, &b, &err), CV_EINVAL);
}

static void test_disabled_broker_refuses_work(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    broker_set_enabled(f.b, false);
    assert_false(broker_enabled(f.b));
    struct broker_eval e = mk("e1", "j1", "service", 50, 1);
    assert_int_equal(broker_enqueue(f.b, &e, now(&f)), CV_ENOTLEADER);
    assert_int_equal(broker_block(f.b, &e, NULL, now(&f), NULL), CV_ENOTLEADER);
    struct broker_eval *out;
    char token[BROKER_TOKEN_SIZE];
    assert_int_equal(broker_dequeue(f.b, ALL, 5, now(&f), &out, token), CV_ENOTLEADER);
    assert_null(out);
    fixture_free(&f);
}

static void test_enqueue_checks_and_dedups(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct broker_eval e = mk("e1", "j1", "service", 50, 1);
    assert_int_equal(broker_enqueue(f.b, &e, now(&f)), 0);
    assert_int_equal(broker_enqueue(f.b, &e, now(&f)), CV_EEXIST);
    struct broker_eval bad = mk("e2", NULL, "service", 50, 2);
    assert_int_equal(broker_enqueue(f.b, &bad, now(&f)), CV_EINVAL);
    bad = mk("e2", "j2", "", 50, 2);
    assert_int_equal(broker_enqueue(f.b, &bad, now(&f)), CV_EINVAL);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.ready, 1);
    fixture_free(&f);
}

/* ---- order ----------------------------------------------------------------- */

static void test_priority_then_fifo(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    enqueue(&f, "low", "j1", "service", 10, 1);
    enqueue(&f, "mid-a", "j2", "service", 50, 3);
    enqueue(&f, "high", "j3", "service", 90, 4);
    enqueue(&f, "mid-b", "j4", "service", 50, 5);
    /* Enqueued after mid-b but created before mid-a: CreateIndex decides. */
    enqueue(&f, "mid-0", "j5", "service", 50, 2);
    const char *order[] = {"high", "mid-0", "mid-a", "mid-b", "low"};
    char token[BROKER_TOKEN_SIZE];
    for (int i = 0; i < 5; i++) {
        expect_dequeue(&f, order[i], token);
    }
    expect_nothing_ready(&f);
    fixture_free(&f);
}

static void test_dequeue_by_type(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    enqueue(&f, "s1", "j1", "service", 50, 1);
    enqueue(&f, "b1", "j2", "batch", 70, 2);
    enqueue(&f, "c1", "j3", "_core", 50, 3);
    enqueue(&f, "s2", "j4", "service", 50, 4);
    const char *const svc[] = {"service"};
    const char *const svc_core[] = {"service", "_core", "nonexistent"};
    assert_u64_equal(broker_ready_count(f.b, svc, 1), 2);
    assert_u64_equal(broker_ready_count(f.b, ALL, 5), 4);

    struct broker_eval *ev;
    char token[BROKER_TOKEN_SIZE];
    /* Only the asked types; b1's higher priority does not matter here. */
    assert_int_equal(broker_dequeue(f.b, svc_core, 3, now(&f), &ev, token), 0);
    assert_string_equal(ev->id, "s1"); /* same priority as c1, created first */
    broker_eval_free(ev);
    assert_int_equal(broker_dequeue(f.b, svc_core, 3, now(&f), &ev, token), 0);
    assert_string_equal(ev->id, "c1");
    assert_string_equal(ev->type, "_core");
    broker_eval_free(ev);
    /* Across types the higher priority wins. */
    expect_dequeue(&f, "b1", token);
    expect_dequeue(&f, "s2", token);
    assert_u64_equal(broker_ready_count(f.b, ALL, 5), 0);
    fixture_free(&f);
}

static void test_dequeue_returns_a_copy_with_every_field(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct cv_bool_kv classes[] = {{(char *)"c1", true}, {(char *)"c2", false}};
    struct broker_eval e = mk("e1", "j1", "system", 50, 7);
    e.namespace = "ops";
    e.triggered_by = "node-update";
    e.node_id = "n1";
    e.modify_index = 9;
    e.classes = classes;
    e.nclasses = 2;
    assert_int_equal(broker_enqueue(f.b, &e, now(&f)), 0);
    struct broker_eval *ev;
    char token[BROKER_TOKEN_SIZE];
    assert_int_equal(broker_dequeue(f.b, ALL, 5, now(&f), &ev, token), 0);
    assert_string_equal(ev->namespace, "ops");
    assert_string_equal(ev->job_id, "j1");
    assert_string_equal(ev->triggered_by, "node-update");
    assert_string_equal(ev->node_id, "n1");
    assert_u64_equal(ev->create_index, 7);
    assert_u64_equal(ev->modify_index, 9);
    assert_u64_equal(ev->nclasses, 2);
    assert_string_equal(ev->classes[1].key, "c2");
    assert_false(ev->classes[1].value);
    broker_eval_free(ev);
    fixture_free(&f);
}

static void test_from_cv_evaluation(void **state)
{
    (void)state;
    struct cv_evaluation *cv = cv_eval_new();
    cv_set_string(&cv->id, "a1b2c3d4-0000-4000-8000-000000000001");
    cv_set_string(&cv->job_id, "web");
    cv_set_string(&cv->type, "service");
    cv->priority = 70;
    cv->create_index = 11;
    cv->wait = 5 * SEC;
    struct broker_eval e;
    broker_eval_from_cv(cv, &e);
    assert_string_equal(e.id, cv->id);
    assert_string_equal(e.namespace, "default");
    assert_int_equal(e.priority, 70);
    assert_u64_equal(e.wait_ns, 5 * SEC);
    assert_u64_equal(e.wait_until, 0);
    /* The model's absent strings are empty; the broker's are NULL. */
    assert_null(e.node_id);
    assert_null(e.triggered_by);
    struct broker_eval *copy = broker_eval_copy(&e);
    cv_eval_free(cv);
    assert_string_equal(copy->job_id, "web");
    broker_eval_free(copy);
}

static void test_tokens_are_fresh_uuids(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    enqueue(&f, "e1", "j1", "service", 50, 1);
    char t1[BROKER_TOKEN_SIZE], t2[BROKER_TOKEN_SIZE];
    expect_dequeue(&f, "e1", t1);
    assert_int_equal(strlen(t1), 36);
    assert_int_equal(t1[8], '-');
    assert_int_equal(t1[14], '4');
    assert_int_equal(broker_nack(f.b, "e1", t1, now(&f), NULL), 0);
    advance(&f, 1 * SEC);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "e1", t2);
    assert_string_not_equal(t1, t2);
    char cur[BROKER_TOKEN_SIZE];
    assert_true(broker_outstanding(f.b, "e1", cur));
    assert_string_equal(cur, t2);
    fixture_free(&f);
}

/* ---- one per job ------------------------------------------------------------ */

static void test_one_eval_per_job_in_flight(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    enqueue(&f, "a1", "jobA", "service", 50, 1);
    enqueue(&f, "a2", "jobA", "service", 90, 2);
    enqueue(&f, "b1", "jobB", "service", 10, 3);
    assert_int_equal(broker_eval_state(f.b, "a1"), BROKER_EVAL_READY);
    assert_int_equal(broker_eval_state(f.b, "a2"), BROKER_EVAL_PENDING);
    char ta[BROKER_TOKEN_SIZE], tb[BROKER_TOKEN_SIZE];
    /* a2's priority does not jump the queue: it waits behind a1. */
    expect_dequeue(&f, "a1", ta);
    expect_dequeue(&f, "b1", tb);
    expect_nothing_ready(&f);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.unacked, 2);
    assert_u64_equal(st.total.pending, 1);
    ack(&f, "a1", ta);
    assert_int_equal(broker_eval_state(f.b, "a1"), BROKER_EVAL_NONE);
    expect_dequeue(&f, "a2", ta);
    /* A job's evals in other namespaces are other jobs. */
    struct broker_eval other = mk("x1", "jobA", "service", 50, 4);
    other.namespace = "ops";
    assert_int_equal(broker_enqueue(f.b, &other, now(&f)), 0);
    assert_int_equal(broker_eval_state(f.b, "x1"), BROKER_EVAL_READY);
    fixture_free(&f);
}

static void test_ack_keeps_newest_pending_and_cancels_older(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "cur", "j", "service", 50, 1);
    expect_dequeue(&f, "cur", token);
    enqueue(&f, "p2", "j", "service", 50, 2);
    enqueue(&f, "p4", "j", "service", 50, 4);
    enqueue(&f, "p3", "j", "service", 50, 3);
    drain_ids(&f, false, NULL, 0);
    ack(&f, "cur", token);
    assert_int_equal(broker_eval_state(f.b, "p4"), BROKER_EVAL_READY);
    assert_int_equal(broker_eval_state(f.b, "p2"), BROKER_EVAL_NONE);
    assert_int_equal(broker_eval_state(f.b, "p3"), BROKER_EVAL_NONE);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.cancelable, 2);
    assert_u64_equal(st.total.pending, 0);
    const char *cancelled[] = {"p3", "p2"}; /* the order they left the heap */
    drain_ids(&f, false, cancelled, 2);
    broker_stats(f.b, &st);
    assert_u64_equal(st.cancelable, 0);

    /* As Nomad: a higher priority beats a newer index among pending ones. */
    expect_dequeue(&f, "p4", token);
    enqueue(&f, "urgent", "j", "service", 90, 5);
    enqueue(&f, "newer", "j", "service", 50, 6);
    ack(&f, "p4", token);
    assert_int_equal(broker_eval_state(f.b, "urgent"), BROKER_EVAL_READY);
    const char *c2[] = {"newer"};
    drain_ids(&f, false, c2, 1);
    fixture_free(&f);
}

static void test_drain_cancelable_in_batches(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    char ids[50][8];
    enqueue(&f, "cur", "j", "service", 50, 1);
    expect_dequeue(&f, "cur", token);
    for (int i = 0; i < 50; i++) {
        snprintf(ids[i], sizeof ids[i], "p%02d", i);
        enqueue(&f, ids[i], "j", "service", 50, (uint64_t)(10 + i));
    }
    ack(&f, "cur", token);
    struct broker_eval_list list;
    broker_eval_list_init(&list);
    size_t total = 0, got;
    while ((got = broker_drain_cancelable(f.b, 7, &list)) > 0) {
        assert_true(got <= 7);
        total += got;
    }
    assert_u64_equal(total, 49);
    assert_u64_equal(list.len, 49);
    for (size_t i = 0; i < list.len; i++) {
        assert_string_not_equal(list.items[i]->id, "p49"); /* the newest stays */
    }
    broker_eval_list_free(&list);
    fixture_free(&f);
}

/* ---- nack, delivery limit, timeouts ----------------------------------- */

static void test_nack_delay_then_redelivery(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "e1", "j", "service", 50, 1);
    enqueue(&f, "e2", "j", "service", 50, 2);
    expect_dequeue(&f, "e1", token);
    assert_int_equal(broker_nack(f.b, "e1", token, now(&f), NULL), 0);
    /* Waiting out the initial nack delay, and still holding its job. */
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_WAITING);
    assert_int_equal(broker_eval_state(f.b, "e2"), BROKER_EVAL_PENDING);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 1 * SEC);
    advance(&f, 1 * SEC - 1);
    broker_tick(f.b, now(&f));
    expect_nothing_ready(&f);
    advance(&f, 1);
    size_t calls = f.ready_calls;
    broker_tick(f.b, now(&f));
    assert_u64_equal(f.ready_calls, calls + 1);
    expect_dequeue(&f, "e1", token);
    /* Second nack: (2-1) * 20 s. */
    assert_int_equal(broker_nack(f.b, "e1", token, now(&f), NULL), 0);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 20 * SEC);
    advance(&f, 20 * SEC);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "e1", token);
    ack(&f, "e1", token);
    expect_dequeue(&f, "e2", token);
    fixture_free(&f);
}

static void test_delivery_limit_sends_to_failed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    cv_log_set_level(CV_LOG_ERROR);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "e1", "j", "service", 50, 1);
    enqueue(&f, "e2", "j", "service", 50, 2);
    for (int delivery = 1; delivery <= 3; delivery++) {
        broker_tick(f.b, now(&f));
        expect_dequeue(&f, "e1", token);
        assert_int_equal(broker_nack(f.b, "e1", token, now(&f), NULL), 0);
        advance(&f, 60 * SEC);
    }
    cv_log_set_level(CV_LOG_INFO);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_FAILED);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.failed, 1);
    struct broker_counts svc;
    broker_type_stats(f.b, "service", &svc);
    assert_u64_equal(svc.failed, 1);
    /* The failed eval holds its job until the leader drains it. */
    broker_tick(f.b, now(&f));
    expect_nothing_ready(&f);
    const char *failed[] = {"e1"};
    drain_ids(&f, true, failed, 1);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_NONE);
    expect_dequeue(&f, "e2", token);
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.failed, 0);
    fixture_free(&f);
}

static void test_unack_timeout_nacks(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    cv_log_set_level(CV_LOG_ERROR);
    char t1[BROKER_TOKEN_SIZE], t2[BROKER_TOKEN_SIZE];
    enqueue(&f, "e1", "j", "service", 50, 1);
    expect_dequeue(&f, "e1", t1);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 60 * SEC);
    advance(&f, 60 * SEC - 1);
    broker_tick(f.b, now(&f));
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_UNACKED);
    advance(&f, 1);
    broker_tick(f.b, now(&f));
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_WAITING);
    /* The worker that timed out cannot ack any more. */
    struct cv_err err = {0};
    assert_int_equal(broker_ack(f.b, "e1", t1, now(&f), &err), CV_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not outstanding"));
    advance(&f, 1 * SEC);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "e1", t2);
    /* Nor once the evaluation is out again under a new token. */
    assert_int_equal(broker_ack(f.b, "e1", t1, now(&f), &err), CV_EINVAL);
    ack(&f, "e1", t2);
    cv_log_set_level(CV_LOG_INFO);
    fixture_free(&f);
}

static void test_touch_extends_and_pause_stops_the_timer(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "e1", "j", "service", 50, 1);
    expect_dequeue(&f, "e1", token);
    advance(&f, 50 * SEC);
    assert_int_equal(broker_outstanding_touch(f.b, "e1", token, now(&f), NULL), 0);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 60 * SEC);
    advance(&f, 50 * SEC);
    broker_tick(f.b, now(&f));
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_UNACKED);

    /* Paused (the plan waits in the plan queue): no deadline at all. */
    assert_int_equal(broker_outstanding_pause(f.b, "e1", token, NULL), 0);
    assert_u64_equal(broker_next_deadline(f.b), UINT64_MAX);
    assert_int_equal(broker_outstanding_touch(f.b, "e1", token, now(&f), NULL), 0);
    assert_u64_equal(broker_next_deadline(f.b), UINT64_MAX);
    advance(&f, 3600 * SEC);
    broker_tick(f.b, now(&f));
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_UNACKED);
    assert_int_equal(broker_outstanding_resume(f.b, "e1", token, now(&f), NULL), 0);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 60 * SEC);
    /* A paused delivery can be acked too. */
    assert_int_equal(broker_outstanding_pause(f.b, "e1", token, NULL), 0);
    ack(&f, "e1", token);
    assert_u64_equal(broker_next_deadline(f.b), UINT64_MAX);
    fixture_free(&f);
}

static void test_wrong_token_and_unknown_eval(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "e1", "j", "service", 50, 1);
    struct cv_err err = {0};
    /* Ready but not delivered: not outstanding. */
    assert_int_equal(broker_ack(f.b, "e1", "x", now(&f), &err), CV_ENOTFOUND);
    expect_dequeue(&f, "e1", token);
    const char *wrong = "00000000-0000-4000-8000-000000000000";
    assert_int_equal(broker_ack(f.b, "e1", wrong, now(&f), &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "token does not match"));
    assert_int_equal(broker_nack(f.b, "e1", wrong, now(&f), &err), CV_EINVAL);
    assert_int_equal(broker_outstanding_touch(f.b, "e1", wrong, now(&f), &err), CV_EINVAL);
    assert_int_equal(broker_outstanding_pause(f.b, "e1", wrong, &err), CV_EINVAL);
    assert_int_equal(broker_outstanding_resume(f.b, "e1", wrong, now(&f), &err), CV_EINVAL);
    assert_int_equal(broker_ack(f.b, "e1", NULL, now(&f), &err), CV_EINVAL);
    assert_int_equal(broker_ack(f.b, "nope", token, now(&f), &err), CV_ENOTFOUND);
    assert_int_equal(broker_nack(f.b, "nope", token, now(&f), &err), CV_ENOTFOUND);
    assert_false(broker_outstanding(f.b, "nope", NULL));
    /* Still outstanding after all that. */
    ack(&f, "e1", token);
    assert_int_equal(broker_ack(f.b, "e1", token, now(&f), &err), CV_ENOTFOUND);
    fixture_free(&f);
}

/* ---- delayed evaluations ------------------------------------------------ */

static void test_delayed_evals_become_ready_on_time(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    struct broker_eval later = mk("later", "j1", "service", 50, 1);
    later.wait_until = now(&f) + 30 * SEC;
    struct broker_eval wait = mk("wait", "j2", "service", 50, 2);
    wait.wait_ns = 10 * SEC;
    struct broker_eval past = mk("past", "j3", "service", 50, 3);
    past.wait_until = now(&f) - 1; /* already due */
    assert_int_equal(broker_enqueue(f.b, &later, now(&f)), 0);
    assert_int_equal(broker_enqueue(f.b, &wait, now(&f)), 0);
    assert_int_equal(broker_enqueue(f.b, &past, now(&f)), 0);
    assert_int_equal(broker_eval_state(f.b, "later"), BROKER_EVAL_WAITING);
    assert_int_equal(broker_eval_state(f.b, "wait"), BROKER_EVAL_WAITING);
    expect_dequeue(&f, "past", token);
    ack(&f, "past", token);
    expect_nothing_ready(&f);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.waiting, 2);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 10 * SEC);
    advance(&f, 10 * SEC);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "wait", token);
    ack(&f, "wait", token);
    assert_u64_equal(broker_next_deadline(f.b), now(&f) + 20 * SEC);
    advance(&f, 20 * SEC - 1);
    broker_tick(f.b, now(&f));
    expect_nothing_ready(&f);
    advance(&f, 1);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "later", token);
    ack(&f, "later", token);
    fixture_free(&f);
}

static void test_delayed_eval_waits_behind_its_job(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    struct broker_eval d = mk("delayed", "j", "service", 50, 2);
    d.wait_ns = 5 * SEC;
    assert_int_equal(broker_enqueue(f.b, &d, now(&f)), 0);
    /* A delayed eval does not hold its job. */
    enqueue(&f, "now", "j", "service", 50, 1);
    expect_dequeue(&f, "now", token);
    advance(&f, 5 * SEC);
    broker_tick(f.b, now(&f));
    assert_int_equal(broker_eval_state(f.b, "delayed"), BROKER_EVAL_PENDING);
    ack(&f, "now", token);
    expect_dequeue(&f, "delayed", token);
    fixture_free(&f);
}

/* ---- blocked evaluations ------------------------------------------------ */

static void block(struct fixture *f, struct broker_eval *e, enum broker_block_outcome expect)
{
    enum broker_block_outcome out;
    assert_int_equal(broker_block(f->b, e, NULL, now(f), &out), 0);
    assert_int_equal(out, expect);
}

static void test_unblock_by_class(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct cv_bool_kv c1_only[] = {{(char *)"c1", true}, {(char *)"c2", false}};
    struct cv_bool_kv c3[] = {{(char *)"c3", true}};
    struct broker_eval e1 = mk("e1", "j1", "service", 50, 10);
    e1.classes = c1_only;
    e1.nclasses = 2;
    struct broker_eval e2 = mk("e2", "j2", "batch", 50, 11);
    e2.escaped = true;
    struct broker_eval e3 = mk("e3", "j3", "service", 50, 12);
    e3.classes = c3;
    e3.nclasses = 1;
    block(&f, &e1, BROKER_BLOCK_TRACKED);
    block(&f, &e2, BROKER_BLOCK_TRACKED);
    block(&f, &e3, BROKER_BLOCK_TRACKED);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.blocked, 3);
    assert_u64_equal(st.blocked_escaped, 1);
    assert_true(broker_is_blocked(f.b, "e1"));
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_NONE);
    expect_nothing_ready(&f);

    /* c2: e1 found it ineligible; e3 never saw it; e2 escaped. */
    assert_u64_equal(broker_unblock_class(f.b, "c2", 20, now(&f)), 2);
    assert_true(broker_is_blocked(f.b, "e1"));
    assert_false(broker_is_blocked(f.b, "e2"));
    assert_int_equal(broker_eval_state(f.b, "e2"), BROKER_EVAL_READY);
    assert_int_equal(broker_eval_state(f.b, "e3"), BROKER_EVAL_READY);
    assert_u64_equal(broker_unblock_class(f.b, "c2", 21, now(&f)), 0);
    assert_u64_equal(broker_unblock_class(f.b, "c1", 22, now(&f)), 1);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_READY);
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.blocked, 0);
    assert_u64_equal(st.total.ready, 3);
    fixture_free(&f);
}

/* A change at an index the evaluation's snapshot already had does not
 * unblock it: it planned with that capacity and found none. */
static void test_unblock_ignores_changes_the_eval_planned_with(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct cv_bool_kv c1[] = {{(char *)"c1", true}};
    struct broker_eval e1 = mk("e1", "j1", "service", 50, 10);
    e1.classes = c1;
    e1.nclasses = 1;
    e1.snapshot_index = 30;
    struct broker_eval e2 = mk("e2", "j2", "service", 50, 11);
    e2.escaped = true;
    e2.snapshot_index = 30;
    block(&f, &e1, BROKER_BLOCK_TRACKED);
    block(&f, &e2, BROKER_BLOCK_TRACKED);
    assert_u64_equal(broker_unblock_class(f.b, "c1", 25, now(&f)), 0);
    assert_u64_equal(broker_unblock_class(f.b, "c1", 30, now(&f)), 0);
    assert_true(broker_is_blocked(f.b, "e1"));
    assert_true(broker_is_blocked(f.b, "e2"));
    assert_u64_equal(broker_unblock_class(f.b, "c1", 31, now(&f)), 2);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_READY);
    assert_int_equal(broker_eval_state(f.b, "e2"), BROKER_EVAL_READY);
    fixture_free(&f);
}

static void test_one_blocked_eval_per_job(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct broker_eval old = mk("old", "j", "service", 50, 10);
    struct broker_eval newer = mk("newer", "j", "service", 50, 20);
    struct broker_eval stale = mk("stale", "j", "service", 50, 5);
    /* Scheduled at a later snapshot than its creation: that index counts. */
    stale.snapshot_index = 25;
    struct broker_eval older = mk("older", "j", "service", 50, 3);
    block(&f, &old, BROKER_BLOCK_TRACKED);
    block(&f, &newer, BROKER_BLOCK_TRACKED);
    const char *c1[] = {"old"};
    drain_ids(&f, false, c1, 1);
    block(&f, &stale, BROKER_BLOCK_TRACKED); /* max(5, 25) = 25 > 20 */
    const char *c2[] = {"newer"};
    drain_ids(&f, false, c2, 1);
    block(&f, &older, BROKER_BLOCK_DUPLICATE);
    const char *c3[] = {"older"};
    drain_ids(&f, false, c3, 1);
    assert_true(broker_is_blocked(f.b, "stale"));
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.blocked, 1);
    /* Blocking the same evaluation again replaces it, cancelling nothing. */
    block(&f, &stale, BROKER_BLOCK_TRACKED);
    drain_ids(&f, false, NULL, 0);
    fixture_free(&f);
}

static void test_missed_unblock_reenqueues_at_once(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    assert_u64_equal(broker_unblock_class(f.b, "c1", 100, now(&f)), 0);
    struct cv_bool_kv elig[] = {{(char *)"c1", true}};
    struct cv_bool_kv inelig[] = {{(char *)"c1", false}};
    struct cv_bool_kv other[] = {{(char *)"c9", true}};

    /* Scheduled at 90, before c1 gained capacity at 100, and could use c1. */
    struct broker_eval a = mk("a", "ja", "service", 50, 80);
    a.snapshot_index = 90;
    a.classes = elig;
    a.nclasses = 1;
    block(&f, &a, BROKER_BLOCK_REENQUEUED);
    assert_int_equal(broker_eval_state(f.b, "a"), BROKER_EVAL_READY);
    /* Never saw c1 at all. */
    struct broker_eval b = mk("b", "jb", "service", 50, 80);
    b.snapshot_index = 90;
    b.classes = other;
    b.nclasses = 1;
    block(&f, &b, BROKER_BLOCK_REENQUEUED);
    /* Escaped, scheduled before an unblock. */
    struct broker_eval c = mk("c", "jc", "service", 50, 80);
    c.snapshot_index = 99;
    c.escaped = true;
    block(&f, &c, BROKER_BLOCK_REENQUEUED);
    /* c1 is no use to it. */
    struct broker_eval d = mk("d", "jd", "service", 50, 80);
    d.snapshot_index = 90;
    d.classes = inelig;
    d.nclasses = 1;
    block(&f, &d, BROKER_BLOCK_TRACKED);
    /* Scheduled after the unblock: it saw the capacity. */
    struct broker_eval e = mk("e", "je", "service", 50, 80);
    e.snapshot_index = 100;
    e.classes = elig;
    e.nclasses = 1;
    block(&f, &e, BROKER_BLOCK_TRACKED);
    fixture_free(&f);
}

static void test_unblock_node_and_failed_and_untrack(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct broker_eval s1 = mk("s1", "sys1", "system", 50, 1);
    s1.node_id = "n1";
    struct broker_eval s2 = mk("s2", "sys2", "system", 50, 2);
    s2.node_id = "n1";
    struct broker_eval s3 = mk("s3", "sys3", "system", 50, 3);
    s3.node_id = "n2";
    struct broker_eval m = mk("m", "jm", "service", 50, 4);
    m.triggered_by = CV_EVAL_TRIGGER_MAX_PLANS;
    struct broker_eval u = mk("u", "ju", "service", 50, 5);
    u.namespace = "ops";
    block(&f, &s1, BROKER_BLOCK_TRACKED);
    block(&f, &s2, BROKER_BLOCK_TRACKED);
    block(&f, &s3, BROKER_BLOCK_TRACKED);
    block(&f, &m, BROKER_BLOCK_TRACKED);
    block(&f, &u, BROKER_BLOCK_TRACKED);
    assert_u64_equal(broker_unblock_node(f.b, "n1", now(&f)), 2);
    assert_int_equal(broker_eval_state(f.b, "s1"), BROKER_EVAL_READY);
    assert_int_equal(broker_eval_state(f.b, "s2"), BROKER_EVAL_READY);
    assert_true(broker_is_blocked(f.b, "s3"));
    assert_u64_equal(broker_unblock_node(f.b, "n1", now(&f)), 0);
    assert_u64_equal(broker_unblock_failed(f.b, now(&f)), 1);
    assert_int_equal(broker_eval_state(f.b, "m"), BROKER_EVAL_READY);
    assert_false(broker_untrack(f.b, NULL, "ju")); /* wrong namespace */
    assert_true(broker_untrack(f.b, "ops", "ju"));
    assert_false(broker_is_blocked(f.b, "u"));
    assert_int_equal(broker_eval_state(f.b, "u"), BROKER_EVAL_NONE);
    drain_ids(&f, false, NULL, 0);
    /* Unblocking by class takes the node-tied ones too. */
    assert_u64_equal(broker_unblock_class(f.b, "any", 10, now(&f)), 1);
    assert_u64_equal(broker_unblock_node(f.b, "n2", now(&f)), 0);
    fixture_free(&f);
}

static void test_reblock_while_outstanding(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    /* A worker holds e1 and finds it still cannot place: it re-blocks the
     * same evaluation with its token. */
    enqueue(&f, "e1", "j", "service", 50, 1);
    expect_dequeue(&f, "e1", token);
    struct broker_eval e1 = mk("e1", "j", "service", 50, 1);
    e1.snapshot_index = 5;
    enum broker_block_outcome out;
    assert_int_equal(broker_block(f.b, &e1, token, now(&f), &out), 0);
    assert_int_equal(out, BROKER_BLOCK_TRACKED);
    /* Capacity arrives before the worker acks: queued after the ack. */
    assert_u64_equal(broker_unblock_class(f.b, "c", 10, now(&f)), 1);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_UNACKED);
    ack(&f, "e1", token);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_READY);

    /* The same with a nack: the re-block came from a failed run, dropped.
     * (Scheduled after the unblock at 10, or it would be re-enqueued at
     * once as having missed it.) */
    expect_dequeue(&f, "e1", token);
    e1.snapshot_index = 10;
    assert_int_equal(broker_block(f.b, &e1, token, now(&f), &out), 0);
    assert_int_equal(out, BROKER_BLOCK_TRACKED);
    assert_u64_equal(broker_unblock_class(f.b, "c", 11, now(&f)), 1);
    assert_int_equal(broker_nack(f.b, "e1", token, now(&f), NULL), 0);
    advance(&f, 1 * SEC);
    broker_tick(f.b, now(&f));
    expect_dequeue(&f, "e1", token);
    ack(&f, "e1", token);
    assert_int_equal(broker_eval_state(f.b, "e1"), BROKER_EVAL_NONE);
    fixture_free(&f);
}

/* ---- leadership, stats -------------------------------------------------- */

static void test_disable_drops_everything(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    cv_log_set_level(CV_LOG_ERROR);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "ready", "j1", "service", 50, 1);
    enqueue(&f, "out", "j2", "batch", 50, 2);
    enqueue(&f, "pending", "j2", "batch", 50, 3);
    struct broker_eval d = mk("delayed", "j3", "service", 50, 4);
    d.wait_ns = 10 * SEC;
    assert_int_equal(broker_enqueue(f.b, &d, now(&f)), 0);
    struct broker_eval bl = mk("blocked", "j4", "service", 50, 5);
    assert_int_equal(broker_block(f.b, &bl, NULL, now(&f), NULL), 0);
    const char *const batch[] = {"batch"};
    struct broker_eval *ev;
    assert_int_equal(broker_dequeue(f.b, batch, 1, now(&f), &ev, token), 0);
    broker_eval_free(ev);
    /* A failed one with two pending behind it. */
    enqueue(&f, "f", "j5", "system", 50, 6);
    enqueue(&f, "c", "j5", "system", 50, 7);
    enqueue(&f, "c2", "j5", "system", 50, 8);
    for (int i = 0; i < 3; i++) {
        char t[BROKER_TOKEN_SIZE];
        advance(&f, 60 * SEC);
        broker_tick(f.b, now(&f));
        const char *const sys[] = {"system"};
        assert_int_equal(broker_dequeue(f.b, sys, 1, now(&f), &ev, t), 0);
        assert_string_equal(ev->id, "f");
        broker_eval_free(ev);
        assert_int_equal(broker_nack(f.b, "f", t, now(&f), NULL), 0);
    }
    assert_int_equal(broker_eval_state(f.b, "f"), BROKER_EVAL_FAILED);
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_true(st.total.ready > 0 && st.total.failed == 1 && st.total.blocked == 1);

    broker_set_enabled(f.b, false);
    assert_u64_equal(f.disabled_calls, 1);
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.ready + st.total.unacked + st.total.pending + st.total.waiting +
                         st.total.blocked + st.total.failed + st.cancelable,
                     0);
    assert_u64_equal(broker_next_deadline(f.b), UINT64_MAX);
    assert_int_equal(broker_ack(f.b, "out", token, now(&f), NULL), CV_ENOTFOUND);
    assert_false(broker_is_blocked(f.b, "blocked"));
    size_t pos = 0;
    assert_false(broker_type_stats_next(f.b, &pos, NULL, NULL));

    /* Enabling again starts empty; the same IDs can come back. */
    broker_set_enabled(f.b, true);
    assert_u64_equal(f.disabled_calls, 1);
    expect_nothing_ready(&f);
    enqueue(&f, "out", "j2", "batch", 50, 2);
    expect_dequeue(&f, "out", token);
    cv_log_set_level(CV_LOG_INFO);
    fixture_free(&f);
}

static void test_stats_by_type_and_ready_callback(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    char token[BROKER_TOKEN_SIZE];
    enqueue(&f, "s1", "j1", "service", 50, 1);
    assert_string_equal(f.last_ready_type, "service");
    enqueue(&f, "s2", "j1", "service", 50, 2); /* pending: no callback */
    assert_u64_equal(f.ready_calls, 1);
    enqueue(&f, "b1", "j2", "batch", 50, 3);
    assert_string_equal(f.last_ready_type, "batch");
    struct broker_eval bl = mk("x", "j3", "batch", 50, 4);
    assert_int_equal(broker_block(f.b, &bl, NULL, now(&f), NULL), 0);
    expect_dequeue(&f, "s1", token);

    struct broker_counts svc, bat, none;
    broker_type_stats(f.b, "service", &svc);
    broker_type_stats(f.b, "batch", &bat);
    broker_type_stats(f.b, "sysbatch", &none);
    assert_u64_equal(svc.unacked, 1);
    assert_u64_equal(svc.pending, 1);
    assert_u64_equal(svc.ready, 0);
    assert_u64_equal(bat.ready, 1);
    assert_u64_equal(bat.blocked, 1);
    assert_u64_equal(none.ready + none.blocked, 0);
    size_t pos = 0, ntypes = 0;
    const char *name;
    struct broker_counts c;
    while (broker_type_stats_next(f.b, &pos, &name, &c)) {
        assert_true(strcmp(name, "service") == 0 || strcmp(name, "batch") == 0);
        ntypes++;
    }
    assert_u64_equal(ntypes, 2);
    fixture_free(&f);
}

/* ---- scale -------------------------------------------------------------------- */

/* 100,000 evaluations over 10,000 jobs: enqueue, then dequeue and ack
 * everything. Each dequeue must be the best ready one, and each job's
 * evaluations must be handled one at a time. */
static void test_hundred_thousand_evals(void **state)
{
    (void)state;
    enum
    {
        EVALS = 100000,
        JOBS = 10000
    };
    struct fixture f;
    fixture_init(&f);
    char id[32], job[32];
    static bool job_seen[JOBS];
    size_t njobs = 0;
    uint64_t seed = 7;
    for (int i = 0; i < EVALS; i++) {
        snprintf(id, sizeof id, "eval-%06d", i);
        int j = (int)(xorshift(&seed) % JOBS);
        njobs += !job_seen[j];
        job_seen[j] = true;
        snprintf(job, sizeof job, "job-%05d", j);
        struct broker_eval e = mk(id, job, i % 3 == 0 ? "batch" : "service",
                                  (int64_t)(1 + xorshift(&seed) % 100), (uint64_t)i + 1);
        assert_int_equal(broker_enqueue(f.b, &e, now(&f)), 0);
    }
    struct broker_stats st;
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.ready + st.total.pending, EVALS);
    /* One evaluation per job is ready, the rest wait behind it. */
    assert_u64_equal(st.total.ready, njobs);

    size_t acked = 0;
    struct broker_eval *ev;
    char token[BROKER_TOKEN_SIZE];
    struct broker_eval_list cancelled;
    broker_eval_list_init(&cancelled);
    while (broker_dequeue(f.b, ALL, 5, now(&f), &ev, token) == 0 && ev) {
        assert_int_equal(broker_ack(f.b, ev->id, token, now(&f), NULL), 0);
        broker_eval_free(ev);
        acked++;
        broker_drain_cancelable(f.b, SIZE_MAX, &cancelled);
    }
    assert_u64_equal(acked + cancelled.len, EVALS);
    /* Each job's first evaluation, then at most one kept per ack (the
     * newest of those that piled up meanwhile): here all piled up at once,
     * so exactly two per job with more than one evaluation. */
    assert_true(acked >= njobs && acked <= 2 * njobs);
    broker_eval_list_free(&cancelled);
    broker_stats(f.b, &st);
    assert_u64_equal(st.total.ready + st.total.pending + st.total.unacked, 0);
    fixture_free(&f);
}

/* ---- the property test ------------------------------------------------------ */

enum outcome
{
    OUT_NONE,
    OUT_ACKED,
    OUT_FAILED,
    OUT_CANCELLED,
};

#define P_MAX_EVALS 4096
#define P_JOBS      12
#define P_TYPES     3

static const char *const P_TYPE_NAMES[P_TYPES] = {"service", "batch", "system"};
static const char *const P_CLASSES[] = {"c0", "c1", "c2", "c3"};

struct pmodel
{
    struct fixture f;
    uint64_t rng;
    uint64_t index;
    size_t n;
    char ids[P_MAX_EVALS][16];
    int job[P_MAX_EVALS];
    int type[P_MAX_EVALS];
    int64_t priority[P_MAX_EVALS];
    uint64_t create_index[P_MAX_EVALS];
    enum outcome outcome[P_MAX_EVALS];
    char token[P_MAX_EVALS][BROKER_TOKEN_SIZE]; /* last token the worker got */
    size_t live[P_MAX_EVALS];                   /* indexes without an outcome */
    size_t nlive;
};

static uint64_t prand(struct pmodel *m, uint64_t n)
{
    return xorshift(&m->rng) % n;
}

static size_t find(struct pmodel *m, const char *id)
{
    (void)m;
    return (size_t)strtoul(id + 1, NULL, 10);
}

static void set_outcome(struct pmodel *m, size_t i, enum outcome o)
{
    if (m->outcome[i] != OUT_NONE) {
        print_error("eval %s ended twice (%d then %d)\n", m->ids[i], m->outcome[i], o);
        fail();
    }
    m->outcome[i] = o;
    for (size_t k = 0; k < m->nlive; k++) {
        if (m->live[k] == i) {
            m->live[k] = m->live[--m->nlive];
            return;
        }
    }
    fail_msg("eval %s was not live", m->ids[i]);
}

static struct broker_eval pnew(struct pmodel *m, size_t *idx)
{
    assert_true(m->n < P_MAX_EVALS);
    size_t i = m->n++;
    snprintf(m->ids[i], sizeof m->ids[i], "e%zu", i);
    m->job[i] = (int)prand(m, P_JOBS);
    m->type[i] = (int)prand(m, P_TYPES);
    static const int64_t prios[] = {10, 50, 90};
    m->priority[i] = prios[prand(m, 3)];
    m->create_index[i] = ++m->index;
    m->outcome[i] = OUT_NONE;
    m->token[i][0] = '\0';
    m->live[m->nlive++] = i;
    static char jobs[P_JOBS][8];
    snprintf(jobs[m->job[i]], sizeof jobs[0], "job%d", m->job[i]);
    struct broker_eval e = mk(m->ids[i], jobs[m->job[i]], P_TYPE_NAMES[m->type[i]], m->priority[i],
                              m->create_index[i]);
    *idx = i;
    return e;
}

static void drain(struct pmodel *m, bool failed, size_t max)
{
    struct broker_eval_list list;
    broker_eval_list_init(&list);
    if (failed) {
        broker_drain_failed(m->f.b, max, &list);
    } else {
        broker_drain_cancelable(m->f.b, max, &list);
    }
    for (size_t k = 0; k < list.len; k++) {
        set_outcome(m, find(m, list.items[k]->id), failed ? OUT_FAILED : OUT_CANCELLED);
    }
    broker_eval_list_free(&list);
}

/* The invariants, over every evaluation still in the broker. Cancelable
 * evaluations are in neither the queues nor the blocked set, and the
 * broker has no lookup for them: the leader drains them all first. */
static void pcheck(struct pmodel *m)
{
    drain(m, false, SIZE_MAX);
    struct cv_err err = {0};
    if (broker_verify(m->f.b, &err) != 0) {
        fail_msg("broker_verify: %s", err.msg);
    }
    int unacked[P_JOBS] = {0}, current[P_JOBS] = {0}, pending[P_JOBS] = {0};
    size_t queued = 0, blocked = 0;
    for (size_t k = 0; k < m->nlive; k++) {
        size_t i = m->live[k];
        enum broker_eval_state s = broker_eval_state(m->f.b, m->ids[i]);
        bool is_blocked = broker_is_blocked(m->f.b, m->ids[i]);
        /* Exactly one place: queued or blocked. */
        if ((s != BROKER_EVAL_NONE) + is_blocked != 1) {
            fail_msg("eval %s: state %d, blocked %d", m->ids[i], s, is_blocked);
        }
        queued += s != BROKER_EVAL_NONE;
        blocked += is_blocked;
        unacked[m->job[i]] += s == BROKER_EVAL_UNACKED;
        current[m->job[i]] +=
            s == BROKER_EVAL_UNACKED || s == BROKER_EVAL_READY || s == BROKER_EVAL_FAILED;
        pending[m->job[i]] += s == BROKER_EVAL_PENDING;
    }
    for (int j = 0; j < P_JOBS; j++) {
        if (unacked[j] > 1 || current[j] > 1) {
            fail_msg("job%d: %d in flight, %d current", j, unacked[j], current[j]);
        }
    }
    (void)pending;
    /* Ended evaluations are gone from the broker. */
    for (size_t i = 0; i < m->n; i++) {
        if (m->outcome[i] != OUT_NONE) {
            assert_int_equal(broker_eval_state(m->f.b, m->ids[i]), BROKER_EVAL_NONE);
            assert_false(broker_is_blocked(m->f.b, m->ids[i]));
        }
    }
    struct broker_stats st;
    broker_stats(m->f.b, &st);
    assert_u64_equal(
        st.total.ready + st.total.unacked + st.total.pending + st.total.waiting + st.total.failed,
        queued);
    assert_u64_equal(st.total.blocked, blocked);
}

static void pdequeue(struct pmodel *m)
{
    const char *types[P_TYPES];
    size_t n = 0;
    for (int t = 0; t < P_TYPES; t++) {
        if (prand(m, 3) != 0) {
            types[n++] = P_TYPE_NAMES[t];
        }
    }
    struct broker_eval *ev;
    char token[BROKER_TOKEN_SIZE];
    assert_int_equal(broker_dequeue(m->f.b, types, n, now(&m->f), &ev, token), 0);
    if (!ev) {
        assert_u64_equal(broker_ready_count(m->f.b, types, n), 0);
        return;
    }
    size_t i = find(m, ev->id);
    /* Nothing ready of the asked types comes before what was handed out. */
    for (size_t k = 0; k < m->nlive; k++) {
        size_t o = m->live[k];
        if (broker_eval_state(m->f.b, m->ids[o]) != BROKER_EVAL_READY) {
            continue;
        }
        bool asked = false;
        for (size_t t = 0; t < n; t++) {
            asked |= strcmp(types[t], P_TYPE_NAMES[m->type[o]]) == 0;
        }
        if (asked && (m->priority[o] > ev->priority ||
                      (m->priority[o] == ev->priority && m->create_index[o] < ev->create_index))) {
            fail_msg("dequeued %s before %s", ev->id, m->ids[o]);
        }
    }
    memcpy(m->token[i], token, BROKER_TOKEN_SIZE);
    broker_eval_free(ev);
}

/* Acks, nacks or touches the delivery the worker of a random live eval
 * holds, with its token or a wrong one; the broker must answer as its
 * public state says it should. */
static void pfinish(struct pmodel *m, int what)
{
    size_t held[P_MAX_EVALS], n = 0;
    for (size_t k = 0; k < m->nlive; k++) {
        if (m->token[m->live[k]][0] != '\0') {
            held[n++] = m->live[k];
        }
    }
    if (n == 0) {
        return;
    }
    size_t i = held[prand(m, n)];
    char token[BROKER_TOKEN_SIZE];
    memcpy(token, m->token[i], sizeof token);
    if (prand(m, 8) == 0) {
        token[0] = token[0] == 'a' ? 'b' : 'a';
    }
    char current[BROKER_TOKEN_SIZE];
    bool out = broker_outstanding(m->f.b, m->ids[i], current);
    int expect = !out ? CV_ENOTFOUND : strcmp(current, token) != 0 ? CV_EINVAL : 0;
    int rc;
    uint64_t t = now(&m->f);
    if (what == 0) {
        rc = broker_ack(m->f.b, m->ids[i], token, t, NULL);
        if (rc == 0) {
            set_outcome(m, i, OUT_ACKED);
        }
    } else if (what == 1) {
        rc = broker_nack(m->f.b, m->ids[i], token, t, NULL);
    } else {
        rc = broker_outstanding_touch(m->f.b, m->ids[i], token, t, NULL);
    }
    assert_int_equal(rc, expect);
}

static void pblock(struct pmodel *m)
{
    size_t i;
    struct broker_eval e = pnew(m, &i);
    struct cv_bool_kv classes[4];
    size_t nc = 0;
    for (int c = 0; c < 4; c++) {
        if (prand(m, 2)) {
            classes[nc++] = (struct cv_bool_kv){(char *)P_CLASSES[c], prand(m, 2) == 0};
        }
    }
    e.classes = classes;
    e.nclasses = nc;
    e.escaped = prand(m, 6) == 0;
    e.snapshot_index = m->index > 5 ? m->index - prand(m, 5) : m->index;
    if (prand(m, 5) == 0) {
        e.node_id = prand(m, 2) ? "n0" : "n1";
    }
    if (prand(m, 6) == 0) {
        e.triggered_by = CV_EVAL_TRIGGER_MAX_PLANS;
    }
    assert_int_equal(broker_block(m->f.b, &e, NULL, now(&m->f), NULL), 0);
}

static void property_run(uint64_t seed, int steps)
{
    struct pmodel *m = cv_calloc(1, sizeof *m);
    fixture_init(&m->f);
    m->rng = seed;
    for (int step = 0; step < steps && m->n + 2 < P_MAX_EVALS; step++) {
        size_t i;
        switch (prand(m, 16)) {
        case 0:
        case 1:
        case 2: {
            struct broker_eval e = pnew(m, &i);
            if (prand(m, 8) == 0) {
                e.wait_ns = prand(m, 5) * SEC;
            }
            assert_int_equal(broker_enqueue(m->f.b, &e, now(&m->f)), 0);
            break;
        }
        case 3:
        case 4:
        case 5:
            pdequeue(m);
            break;
        case 6:
        case 7:
            pfinish(m, 0);
            break;
        case 8:
            pfinish(m, 1);
            break;
        case 9:
            pfinish(m, 2);
            break;
        case 10:
            advance(&m->f, prand(m, 30) * SEC);
            broker_tick(m->f.b, now(&m->f));
            break;
        case 11:
            drain(m, prand(m, 2) == 0, 1 + prand(m, 4));
            break;
        case 12:
            pblock(m);
            break;
        case 13:
            broker_unblock_class(m->f.b, P_CLASSES[prand(m, 4)], ++m->index, now(&m->f));
            break;
        case 14:
            broker_unblock_node(m->f.b, prand(m, 2) ? "n0" : "n1", now(&m->f));
            break;
        default:
            broker_unblock_failed(m->f.b, now(&m->f));
            break;
        }
        pcheck(m);
    }

    /* Wind down: unblock everything, let every timer run, work off the
     * queues; every evaluation must end exactly once. */
    for (int round = 0; m->nlive > 0; round++) {
        assert_true(round < 1000);
        broker_unblock_class(m->f.b, "c-new", ++m->index, now(&m->f));
        advance(&m->f, 120 * SEC);
        broker_tick(m->f.b, now(&m->f));
        struct broker_eval *ev;
        char token[BROKER_TOKEN_SIZE];
        while (broker_dequeue(m->f.b, P_TYPE_NAMES, P_TYPES, now(&m->f), &ev, token) == 0 && ev) {
            size_t k = find(m, ev->id);
            broker_eval_free(ev);
            assert_int_equal(broker_ack(m->f.b, m->ids[k], token, now(&m->f), NULL), 0);
            set_outcome(m, k, OUT_ACKED);
        }
        drain(m, true, SIZE_MAX);
        drain(m, false, SIZE_MAX);
        pcheck(m);
    }
    size_t ended[4] = {0};
    for (size_t k = 0; k < m->n; k++) {
        assert_true(m->outcome[k] != OUT_NONE);
        ended[m->outcome[k]]++;
    }
    print_message("ended: acked %zu failed %zu cancelled %zu of %zu\n", ended[1], ended[2],
                  ended[3], m->n);
    /* The run exercised every ending. */
    if (steps >= 2000) {
        assert_true(ended[OUT_ACKED] > 0 && ended[OUT_FAILED] > 0 && ended[OUT_CANCELLED] > 0);
    }
    struct broker_stats st;
    broker_stats(m->f.b, &st);
    assert_u64_equal(st.total.ready + st.total.unacked + st.total.pending + st.total.waiting +
                         st.total.failed + st.total.blocked + st.cancelable,
                     0);
    fixture_free(&m->f);
    cv_free(m);
}

static void test_property_random_operations(void **state)
{
    (void)state;
    cv_log_set_level(CV_LOG_ERROR);
    const char *env = getenv("CARAVAN_BROKER_SEEDS");
    int seeds = env ? atoi(env) : 20;
    for (int s = 1; s <= seeds; s++) {
        uint64_t seed = 0x1234567ULL * (uint64_t)s + 1;
        print_message("seed %" PRIu64 "\n", seed);
        property_run(seed, 3000);
    }
    cv_log_set_level(CV_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_config_defaults_and_checks),
        CV_TEST(test_disabled_broker_refuses_work),
        CV_TEST(test_enqueue_checks_and_dedups),
        CV_TEST(test_priority_then_fifo),
        CV_TEST(test_dequeue_by_type),
        CV_TEST(test_dequeue_returns_a_copy_with_every_field),
        CV_TEST(test_from_cv_evaluation),
        CV_TEST(test_tokens_are_fresh_uuids),
        CV_TEST(test_one_eval_per_job_in_flight),
        CV_TEST(test_ack_keeps_newest_pending_and_cancels_older),
        CV_TEST(test_drain_cancelable_in_batches),
        CV_TEST(test_nack_delay_then_redelivery),
        CV_TEST(test_delivery_limit_sends_to_failed),
        CV_TEST(test_unack_timeout_nacks),
        CV_TEST(test_touch_extends_and_pause_stops_the_timer),
        CV_TEST(test_wrong_token_and_unknown_eval),
        CV_TEST(test_delayed_evals_become_ready_on_time),
        CV_TEST(test_delayed_eval_waits_behind_its_job),
        CV_TEST(test_unblock_by_class),
        CV_TEST(test_unblock_ignores_changes_the_eval_planned_with),
        CV_TEST(test_one_blocked_eval_per_job),
        CV_TEST(test_missed_unblock_reenqueues_at_once),
        CV_TEST(test_unblock_node_and_failed_and_untrack),
        CV_TEST(test_reblock_while_outstanding),
        CV_TEST(test_disable_drops_everything),
        CV_TEST(test_stats_by_type_and_ready_callback),
        CV_TEST(test_hundred_thousand_evals),
        CV_TEST(test_property_random_operations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
