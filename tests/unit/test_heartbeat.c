/*
 * test_heartbeat: the leader's node heartbeat timers on a manual clock:
 * the TTL grows with the node count and keeps the fleet under the rate,
 * expiry only after TTL + grace, the failover TTL a new leader gives every
 * node, clear, stop, and a 10,000-node fleet heartbeating on time for an
 * hour of simulated time without one node marked down.
 */
#include "testutil.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "regiond/leader/heartbeat.h"
#include "regiond/leader/lheap.h"

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
    struct hb_config cfg;
    struct hb *h;
    struct cv_manual_clock clock;
};

static void fixture_init(struct fixture *f)
{
    f->seed = 0x2545f4914f6cdd1dULL;
    hb_config_default(&f->cfg);
    f->cfg.random = xorshift;
    f->cfg.random_ctx = &f->seed;
    assert_int_equal(hb_new(&f->cfg, &f->h, NULL), 0);
    cv_manual_clock_init(&f->clock, 1000 * (uint64_t)SEC, 0);
}

static uint64_t now(struct fixture *f)
{
    return cv_clock_monotonic_ns(&f->clock.clock);
}

static void test_defaults_are_nomads(void **state)
{
    (void)state;
    struct hb_config cfg;
    hb_config_default(&cfg);
    assert_u64_equal(cfg.min_ttl_ns, 10 * SEC);
    assert_true(cfg.max_per_second == 50.0);
    assert_u64_equal(cfg.grace_ns, 10 * SEC);
    assert_u64_equal(cfg.failover_ttl_ns, 300 * SEC);
}

static void test_bad_config_is_rejected(void **state)
{
    (void)state;
    struct hb_config cfg;
    struct hb *h;
    struct cv_err err = {0};
    hb_config_default(&cfg);
    assert_int_equal(hb_new(&cfg, &h, &err), CV_EINVAL); /* no random source */
    assert_null(h);
    uint64_t seed = 1;
    cfg.random = xorshift;
    cfg.random_ctx = &seed;
    cfg.max_per_second = 0;
    assert_int_equal(hb_new(&cfg, &h, &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "per second"));
}

static void test_ttl_grows_with_node_count_and_respects_rate(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    /* Up to 500 nodes the minimum holds; then nodes / rate. */
    assert_u64_equal(hb_ttl_base(&f.cfg, 0), 10 * SEC);
    assert_u64_equal(hb_ttl_base(&f.cfg, 1), 10 * SEC);
    assert_u64_equal(hb_ttl_base(&f.cfg, 500), 10 * SEC);
    assert_u64_equal(hb_ttl_base(&f.cfg, 5000), 100 * SEC);
    assert_u64_equal(hb_ttl_base(&f.cfg, 10000), 200 * SEC);
    uint64_t prev = 0;
    for (size_t n = 1; n <= 100000; n = n * 3 + 1) {
        uint64_t base = hb_ttl_base(&f.cfg, n);
        assert_true(base >= prev);
        /* n nodes each heartbeating at most once a base: n / base <= rate. */
        assert_true((double)n / ((double)base / SEC) <= f.cfg.max_per_second + 1e-9);
        for (int i = 0; i < 50; i++) {
            uint64_t ttl = hb_ttl(f.h, n);
            assert_true(ttl >= base && ttl < 2 * base);
        }
        prev = base;
    }
    /* A different rate scales the same way. */
    struct hb_config slow = f.cfg;
    slow.max_per_second = 5;
    assert_u64_equal(hb_ttl_base(&slow, 5000), 1000 * SEC);
    hb_free(f.h);
}

static void test_reset_needs_leadership(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct cv_err err = {0};
    uint64_t ttl = 99;
    assert_false(hb_enabled(f.h));
    assert_int_equal(hb_reset(f.h, "n1", now(&f), &ttl, &err), CV_ENOTLEADER);
    assert_string_equal(err.msg, "failed to reset heartbeat since server is not leader");
    assert_u64_equal(ttl, 0);
    assert_u64_equal(hb_count(f.h), 0);
    hb_initialize(f.h, NULL, 0, now(&f));
    assert_int_equal(hb_reset(f.h, "", now(&f), &ttl, &err), CV_EINVAL);
    assert_int_equal(hb_reset(f.h, NULL, now(&f), &ttl, &err), CV_EINVAL);
    hb_free(f.h);
}

static void test_expiry_after_ttl_plus_grace_only(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    hb_initialize(f.h, NULL, 0, now(&f));
    uint64_t ttl;
    uint64_t t0 = now(&f);
    assert_int_equal(hb_reset(f.h, "n1", t0, &ttl, NULL), 0);
    assert_true(ttl >= 10 * SEC && ttl < 20 * SEC);
    uint64_t expiry;
    assert_true(hb_expiry(f.h, "n1", &expiry));
    assert_u64_equal(expiry, t0 + ttl + 10 * SEC);
    assert_u64_equal(hb_next_deadline(f.h), expiry);

    struct hb_node_list out;
    hb_node_list_init(&out);
    /* Past the TTL, inside the grace: still alive. */
    cv_manual_clock_advance(&f.clock, ttl + 5 * SEC);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 0);
    cv_manual_clock_advance(&f.clock, 5 * SEC - 1);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 0);
    /* At TTL + grace: down. */
    cv_manual_clock_advance(&f.clock, 1);
    cv_log_set_level(CV_LOG_ERROR);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 1);
    cv_log_set_level(CV_LOG_INFO);
    assert_u64_equal(out.len, 1);
    assert_string_equal(out.ids[0], "n1");
    assert_u64_equal(hb_count(f.h), 0);
    assert_u64_equal(hb_next_deadline(f.h), UINT64_MAX);
    hb_node_list_free(&out);
    hb_free(f.h);
}

static void test_heartbeat_pushes_expiry_back(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    hb_initialize(f.h, NULL, 0, now(&f));
    struct hb_node_list out;
    hb_node_list_init(&out);
    uint64_t ttl;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(hb_reset(f.h, "n1", now(&f), &ttl, NULL), 0);
        cv_manual_clock_advance(&f.clock, ttl); /* the client heartbeats after its TTL */
        assert_u64_equal(hb_tick(f.h, now(&f), &out), 0);
    }
    assert_u64_equal(hb_count(f.h), 1);
    hb_free(f.h);
}

static void test_failover_ttl_on_initialize(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    const char *nodes[] = {"a", "b", "c", "b"};
    uint64_t t0 = now(&f);
    hb_initialize(f.h, nodes, 4, t0);
    assert_true(hb_enabled(f.h));
    assert_u64_equal(hb_count(f.h), 3);
    for (int i = 0; i < 3; i++) {
        uint64_t expiry;
        assert_true(hb_expiry(f.h, nodes[i], &expiry));
        assert_u64_equal(expiry, t0 + 300 * SEC);
    }
    /* "a" heartbeats to the new leader and gets an ordinary TTL. */
    cv_manual_clock_advance(&f.clock, 30 * SEC);
    uint64_t ttl;
    assert_int_equal(hb_reset(f.h, "a", now(&f), &ttl, NULL), 0);
    uint64_t expiry_a;
    assert_true(hb_expiry(f.h, "a", &expiry_a));
    assert_u64_equal(expiry_a, now(&f) + ttl + 10 * SEC);
    assert_u64_equal(hb_next_deadline(f.h), expiry_a);

    /* A minute in, nobody is down; well past the plain TTL + grace. */
    struct hb_node_list out;
    hb_node_list_init(&out);
    cv_manual_clock_advance(&f.clock, 30 * SEC);
    cv_log_set_level(CV_LOG_ERROR);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 1); /* "a" stopped after one heartbeat */
    assert_string_equal(out.ids[0], "a");
    cv_manual_clock_advance(&f.clock, 300 * SEC - 60 * SEC - 1);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 0);
    cv_manual_clock_advance(&f.clock, 1);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 2);
    cv_log_set_level(CV_LOG_INFO);
    /* Equal expiries come out in the order of their last reset: "b" was
     * listed twice, so "c" first. */
    assert_string_equal(out.ids[1], "c");
    assert_string_equal(out.ids[2], "b");
    hb_node_list_free(&out);

    /* A second initialize starts over. */
    hb_initialize(f.h, nodes, 1, now(&f));
    assert_u64_equal(hb_count(f.h), 1);
    hb_free(f.h);
}

static void test_clear_and_stop(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    const char *nodes[] = {"a", "b"};
    hb_initialize(f.h, nodes, 2, now(&f));
    assert_true(hb_clear(f.h, "a"));
    assert_false(hb_clear(f.h, "a"));
    assert_false(hb_expiry(f.h, "a", NULL));
    assert_u64_equal(hb_count(f.h), 1);

    hb_stop(f.h);
    assert_false(hb_enabled(f.h));
    assert_u64_equal(hb_count(f.h), 0);
    assert_u64_equal(hb_next_deadline(f.h), UINT64_MAX);
    struct hb_node_list out;
    hb_node_list_init(&out);
    cv_manual_clock_advance(&f.clock, 3600 * SEC);
    assert_u64_equal(hb_tick(f.h, now(&f), &out), 0);
    assert_int_equal(hb_reset(f.h, "b", now(&f), NULL, NULL), CV_ENOTLEADER);
    hb_free(f.h);
}

/* A client as Nomad's: heartbeats again TTL after each answer. */
struct client
{
    uint64_t next; /* when it heartbeats next */
    int id;
    size_t pos;
};

static bool client_before(const void *pa, const void *pb)
{
    const struct client *a = pa, *b = pb;
    return a->next != b->next ? a->next < b->next : a->id < b->id;
}

/* 10,000 nodes, one simulated hour after a failover: nobody expires while
 * everyone heartbeats on time, and the leader sees at most the rate. */
static void test_fleet_stays_under_rate_and_up(void **state)
{
    (void)state;
    enum
    {
        N = 10000
    };
    struct fixture f;
    fixture_init(&f);
    static struct client clients[N];
    static char ids[N][24];
    static const char *idp[N];
    struct lheap q;
    lheap_init(&q, client_before, offsetof(struct client, pos));
    uint64_t seed = 99;
    uint64_t t0 = now(&f);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "node-%05d", i);
        idp[i] = ids[i];
        /* After the election every client finds the new leader within 10 s. */
        clients[i] = (struct client){t0 + xorshift(&seed) % (10 * SEC), i, LHEAP_NONE};
        lheap_push(&q, &clients[i]);
    }
    hb_initialize(f.h, idp, N, t0);
    assert_u64_equal(hb_count(f.h), N);

    struct hb_node_list out;
    hb_node_list_init(&out);
    uint64_t window_start = t0 + 600 * SEC; /* past the first round of TTLs */
    uint64_t end = t0 + 3600 * SEC;
    size_t beats_in_window = 0;
    struct client *c;
    while ((c = lheap_peek(&q)) != NULL && c->next < end) {
        /* The leader's timers run up to this heartbeat first. */
        assert_u64_equal(hb_tick(f.h, c->next, &out), 0);
        uint64_t ttl;
        assert_int_equal(hb_reset(f.h, ids[c->id], c->next, &ttl, NULL), 0);
        assert_true(ttl >= 200 * SEC && ttl < 400 * SEC);
        if (c->next >= window_start) {
            beats_in_window++;
        }
        c->next += ttl;
        lheap_fix(&q, c);
    }
    double rate = (double)beats_in_window / (double)((end - window_start) / SEC);
    assert_true(rate <= 50.0);
    assert_true(rate > 20.0); /* about 2/3 of the rate: TTLs average 1.5 base */
    assert_u64_equal(hb_count(f.h), N);
    assert_u64_equal(out.len, 0);
    lheap_free(&q);

    /* The fleet goes silent: each node is down TTL + grace after its last
     * heartbeat, and every one of them exactly once. */
    cv_log_set_level(CV_LOG_ERROR);
    assert_u64_equal(hb_tick(f.h, end + 410 * SEC, &out), N);
    cv_log_set_level(CV_LOG_INFO);
    assert_u64_equal(hb_count(f.h), 0);
    hb_node_list_free(&out);
    hb_free(f.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_defaults_are_nomads),
        CV_TEST(test_bad_config_is_rejected),
        CV_TEST(test_ttl_grows_with_node_count_and_respects_rate),
        CV_TEST(test_reset_needs_leadership),
        CV_TEST(test_expiry_after_ttl_plus_grace_only),
        CV_TEST(test_heartbeat_pushes_expiry_back),
        CV_TEST(test_failover_ttl_on_initialize),
        CV_TEST(test_clear_and_stop),
        CV_TEST(test_fleet_stays_under_rate_and_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
