/*
 * test_region: a region of three real regiond processes on 127.0.0.1.
 *
 * One cluster serves the whole program (starting it is the slow part); the
 * tests run in order and each leaves it with three servers up. They cover
 * the election, writes through a follower, kill -9 of the leader while jobs
 * are registered (nothing acknowledged is lost, a new leader serves), a
 * restarted server catching up, one down long enough to need the leader's
 * snapshot, a blocking query woken by a write, and the API's answers to bad
 * input. The servers snapshot every 16 entries and keep 4, so snapshots and
 * log compaction run all the time. Every wait polls with a deadline.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cluster.h"

static struct e2e_cluster cluster;

#define JOB_TEMPLATE                                                                          \
    "{\"Job\":{\"ID\":\"%s\",\"Name\":\"%s\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"]," \
    "\"TaskGroups\":[{\"Name\":\"web\",\"Count\":%d,\"Tasks\":[{\"Name\":\"server\","         \
    "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\",\"args\":[\"600\"]},"     \
    "\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}"

static void dump_logs(void)
{
    for (size_t i = 0; i < cluster.n; i++) {
        e2e_server_dump_log(&cluster, i);
    }
}

static int leader_or_fail(int timeout_ms)
{
    int leader = e2e_wait_leader(&cluster, timeout_ms);
    if (leader < 0) {
        dump_logs();
    }
    assert_true(leader >= 0);
    return leader;
}

static size_t other_than(size_t i)
{
    return (i + 1) % cluster.n;
}

/* Registers job `id` through server i; returns the HTTP status. */
static int register_job(size_t i, const char *id, int count)
{
    char body[1024];
    snprintf(body, sizeof body, JOB_TEMPLATE, id, id, count);
    struct e2e_response r;
    if (e2e_http(cluster.servers[i].http_port, "PUT", "/v1/jobs", body, 10000, &r) != 0) {
        return -1;
    }
    int status = r.status;
    if (status != 200) {
        print_error("register %s via server %u: %d %s\n", id, cluster.servers[i].id, status,
                    r.body);
    } else {
        assert_non_null(strstr(r.body, "\"EvalID\""));
    }
    e2e_response_free(&r);
    return status;
}

/* Whether server i has job `id` (a stale read: its own state). */
static bool has_job(size_t i, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/job/%s?stale", id);
    struct e2e_response r;
    if (e2e_http(cluster.servers[i].http_port, "GET", path, NULL, 2000, &r) != 0) {
        return false;
    }
    bool found = r.status == 200;
    e2e_response_free(&r);
    return found;
}

static void wait_for_job(size_t i, const char *id, int timeout_ms)
{
    long long deadline = e2e_now_ms() + timeout_ms;
    while (!has_job(i, id)) {
        if (e2e_now_ms() > deadline) {
            print_error("server %u never showed job %s\n", cluster.servers[i].id, id);
            dump_logs();
            fail();
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void test_three_servers_elect_one_leader(void **state)
{
    (void)state;
    int leader = leader_or_fail(20000);
    print_message("leader: server %u\n", cluster.servers[leader].id);
}

static void test_write_through_a_follower(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    size_t follower = other_than((size_t)leader);
    assert_int_equal(register_job(follower, "through-follower", 2), 200);
    for (size_t i = 0; i < cluster.n; i++) {
        wait_for_job(i, "through-follower", 10000);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    int port = cluster.servers[leader].http_port;
    struct e2e_response r;
    /* malformed JSON */
    assert_int_equal(e2e_http(port, "PUT", "/v1/jobs", "{\"Job\": {", 5000, &r), 0);
    assert_int_equal(r.status, 400);
    e2e_response_free(&r);
    /* a job the validator refuses names the field */
    assert_int_equal(e2e_http(port, "PUT", "/v1/jobs",
                              "{\"Job\":{\"ID\":\"bad\",\"Name\":\"bad\",\"Type\":\"service\","
                              "\"Datacenters\":[\"dc1\"],\"TaskGroups\":[]}}",
                              5000, &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "TaskGroups"));
    e2e_response_free(&r);
    /* unknown job */
    assert_int_equal(e2e_http(port, "GET", "/v1/job/no-such-job", NULL, 5000, &r), 0);
    assert_int_equal(r.status, 404);
    e2e_response_free(&r);
    /* wrong method */
    assert_int_equal(e2e_http(port, "PATCH", "/v1/jobs", "{}", 5000, &r), 0);
    assert_int_equal(r.status, 405);
    e2e_response_free(&r);
    /* a body over the limit */
    size_t big = 17u * 1024 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    assert_int_equal(e2e_http(port, "PUT", "/v1/jobs", body, 20000, &r), 0);
    free(body);
    assert_int_equal(r.status, 413);
    e2e_response_free(&r);
    /* nothing was written by any of it */
    assert_false(has_job((size_t)leader, "bad"));
}

struct blocking
{
    int port;
    char index[32];
    int status;
    long long waited_ms;
    bool saw_job;
};

static void *blocking_get(void *arg)
{
    struct blocking *b = arg;
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs?index=%s&wait=30s", b->index);
    long long start = e2e_now_ms();
    struct e2e_response r;
    if (e2e_http(b->port, "GET", path, NULL, 40000, &r) == 0) {
        b->status = r.status;
        b->saw_job = strstr(r.body, "woken-by-write") != NULL;
        e2e_response_free(&r);
    }
    b->waited_ms = e2e_now_ms() - start;
    return NULL;
}

static void test_blocking_query_wakes_on_write(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    struct e2e_response r;
    assert_int_equal(e2e_http(cluster.servers[leader].http_port, "GET", "/v1/jobs", NULL, 5000, &r),
                     0);
    assert_int_equal(r.status, 200);
    struct blocking b = {.port = cluster.servers[leader].http_port};
    assert_true(e2e_header(&r, "X-Nomad-Index", b.index, sizeof b.index));
    e2e_response_free(&r);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blocking_get, &b), 0);
    /* Give the query time to park, then write. (Waking early would fail the
     * saw_job check below, not this test's timing.) */
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(register_job((size_t)leader, "woken-by-write", 1), 200);
    pthread_join(t, NULL);
    assert_int_equal(b.status, 200);
    assert_true(b.saw_job);
    assert_true(b.waited_ms < 30000); /* woken, not timed out */
}

static void test_kill_leader_loses_nothing_acknowledged(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    size_t via = other_than((size_t)leader);
    char id[64];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "before-kill-%d", i);
        assert_int_equal(register_job(via, id, 1), 200);
    }
    long long killed_at = e2e_now_ms();
    e2e_server_stop(&cluster, (size_t)leader, SIGKILL);
    int next = leader_or_fail(20000);
    long long failover = e2e_now_ms() - killed_at;
    print_message("failover after kill -9 of the leader: %lld ms (server %u -> %u)\n", failover,
                  cluster.servers[leader].id, cluster.servers[next].id);
    assert_true(next != leader);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "before-kill-%d", i);
        wait_for_job((size_t)next, id, 10000);
    }
    assert_int_equal(register_job((size_t)next, "after-kill", 1), 200);
    /* The killed server comes back and catches up. */
    assert_int_equal(e2e_server_start(&cluster, (size_t)leader), 0);
    wait_for_job((size_t)leader, "after-kill", 20000);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "before-kill-%d", i);
        wait_for_job((size_t)leader, id, 10000);
    }
}

static void test_restarted_follower_catches_up(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    size_t follower = other_than((size_t)leader);
    int status = e2e_server_stop(&cluster, follower, SIGTERM);
    /* A graceful stop exits 0 (and, under the sanitizers, without leaks). */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char id[64];
    /* Far more entries than the leader keeps after a snapshot: the
     * follower can only catch up from the leader's snapshot. */
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "while-down-%d", i);
        assert_int_equal(register_job((size_t)leader, id, 1), 200);
    }
    assert_int_equal(e2e_server_start(&cluster, follower), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "while-down-%d", i);
        wait_for_job(follower, id, 20000);
    }
    assert_true(e2e_log_contains(&cluster, follower, "installed a snapshot from the leader"));
}

/* SIGTERM on the leader hands leadership over before exiting. */
static void test_graceful_stop_of_the_leader(void **state)
{
    (void)state;
    int leader = leader_or_fail(10000);
    long long start = e2e_now_ms();
    int status = e2e_server_stop(&cluster, (size_t)leader, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    int next = leader_or_fail(20000);
    print_message("graceful stop of the leader: a new leader serves after %lld ms\n",
                  e2e_now_ms() - start);
    assert_true(next != leader);
    assert_int_equal(register_job((size_t)next, "after-graceful-stop", 1), 200);
    assert_int_equal(e2e_server_start(&cluster, (size_t)leader), 0);
    wait_for_job((size_t)leader, "after-graceful-stop", 20000);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (e2e_cluster_init(&cluster, 3) != 0) {
        return -1;
    }
    snprintf(cluster.config_json, sizeof cluster.config_json,
             "{\"raft\": {\"snapshot_threshold\": 16, \"trailing_logs\": 4}}");
    for (size_t i = 0; i < cluster.n; i++) {
        if (e2e_server_start(&cluster, i) != 0) {
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    e2e_cluster_destroy(&cluster);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_servers_elect_one_leader),
        cmocka_unit_test(test_write_through_a_follower),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_blocking_query_wakes_on_write),
        cmocka_unit_test(test_kill_leader_loses_nothing_acknowledged),
        cmocka_unit_test(test_restarted_follower_catches_up),
        cmocka_unit_test(test_graceful_stop_of_the_leader),
    };
    return cmocka_run_group_tests_name("region", tests, group_setup, group_teardown);
}
