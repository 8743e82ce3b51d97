/*
 * e2e_nodes: simulated client nodes registered over RPC (e2e_nodes.h).
 *
 * One loop drives everything: it starts calls while fewer than
 * max_inflight are outstanding (retries first, once due), then runs the
 * event loop once; a 10 ms timer wakes it so the deadline and the retries'
 * delays are noticed even when no answer comes. At the deadline the pool
 * is freed, which fails the calls still in flight.
 */
#include "e2e_nodes.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/random.h"
#include "common/rpc.h"

#define CALL_TIMEOUT_MS 15000
#define RETRY_DELAY_MS  50
#define TICK_MS         10

enum reg_state
{
    REG_TODO,
    REG_INFLIGHT,
    REG_WAITING, /* to be sent again at retry_at */
    REG_DONE,
    REG_FAILED,
};

struct reg
{
    struct run *run;
    size_t i;
    enum reg_state state;
    unsigned attempts;
    long long retry_at;
};

struct run
{
    const char *const *addrs;
    size_t n_addrs;
    const struct e2e_node_spec *spec;
    struct rpc_pool *pool;
    struct reg *regs;
    size_t n;
    size_t next;     /* the first node never sent */
    size_t inflight; /* calls outstanding */
    size_t waiting;  /* nodes in REG_WAITING */
    size_t finished; /* nodes DONE or FAILED */
    bool closing;    /* the pool is being freed: answers are final */
    long long last_answer_ms;
    struct e2e_nodes_result *out;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool retryable(int status)
{
    return status == CV_ENOTLEADER || status == CV_EUNAVAILABLE || status == CV_ETIMEDOUT ||
           status == CV_ESHUTDOWN;
}

static void fail_reg(struct run *r, struct reg *g, int status, const char *msg)
{
    g->state = REG_FAILED;
    r->finished++;
    r->out->failed++;
    if (!r->out->first_error[0]) {
        snprintf(r->out->first_error, sizeof r->out->first_error, "node %zu: %s: %.300s", g->i,
                 cv_strerror(status), msg ? msg : "");
    }
}

static void on_registered(const struct rpc_result *res, void *arg)
{
    struct reg *g = arg;
    struct run *r = g->run;
    r->inflight--;
    r->last_answer_ms = now_ms();
    if (res->status == 0) {
        g->state = REG_DONE;
        r->finished++;
        r->out->registered++;
        return;
    }
    if (!r->closing && retryable(res->status) && g->attempts <= E2E_NODES_RETRIES) {
        g->state = REG_WAITING;
        g->retry_at = now_ms() + (long long)RETRY_DELAY_MS * g->attempts;
        r->waiting++;
        r->out->retries++;
        return;
    }
    fail_reg(r, g, res->status, res->err_msg);
}

/* The node's JSON, as a client sends it. */
static size_t node_body(const struct e2e_node_spec *s, size_t index, const char *id, char *buf,
                        size_t cap)
{
    char klass[160] = "";
    if (s->node_class && s->node_class[0]) {
        snprintf(klass, sizeof klass, " \"NodeClass\": \"%s\",", s->node_class);
    }
    const char *prefix = s->name_prefix ? s->name_prefix : "sim";
    unsigned racks = s->racks ? s->racks : 1;
    int len = snprintf(
        buf, cap,
        "{\"Node\": {\"ID\": \"%s\", \"SecretID\": \"%s\", \"Name\": \"%s-%zu\","
        " \"Datacenter\": \"%s\",%s \"Status\": \"ready\","
        " \"Attributes\": {\"kernel.name\": \"linux\", \"unique.hostname\": \"%s-%zu\"},"
        " \"Meta\": {\"rack\": \"r%zu\"},"
        " \"Drivers\": {\"mock\": {\"Detected\": true, \"Healthy\": true}},"
        " \"NodeResources\": {\"Cpu\": {\"CpuShares\": %lld}, \"Memory\": {\"MemoryMB\": %lld},"
        " \"Disk\": {\"DiskMB\": %lld}},"
        " \"ReservedResources\": {\"Cpu\": {\"CpuShares\": %lld}, \"Memory\": {\"MemoryMB\": %lld},"
        " \"Disk\": {\"DiskMB\": %lld}}}}",
        id, id, prefix, index, s->datacenter ? s->datacenter : "dc1", klass, prefix, index,
        index % racks, (long long)(s->cpu_mhz ? s->cpu_mhz : 4000),
        (long long)(s->memory_mb ? s->memory_mb : 8192),
        (long long)(s->disk_mb ? s->disk_mb : 100000), (long long)s->reserved_cpu_mhz,
        (long long)s->reserved_memory_mb, (long long)s->reserved_disk_mb);
    return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

static void send_reg(struct run *r, struct reg *g, long long deadline)
{
    char body[2048];
    size_t len =
        node_body(r->spec, r->spec->first_index + g->i, r->out->ids[g->i], body, sizeof body);
    if (len == 0) {
        fail_reg(r, g, CV_EINVAL, "node JSON too long");
        return;
    }
    const char *addr = r->addrs[(g->i + g->attempts) % r->n_addrs];
    long long left = deadline - now_ms();
    int timeout = left < CALL_TIMEOUT_MS ? (int)(left > 1 ? left : 1) : CALL_TIMEOUT_MS;
    g->attempts++;
    struct cv_err err = {0};
    if (rpc_call(r->pool, addr, "Node.Register", body, len, timeout, on_registered, g, &err) != 0) {
        if (retryable(err.code) && g->attempts <= E2E_NODES_RETRIES) {
            g->state = REG_WAITING;
            g->retry_at = now_ms() + (long long)RETRY_DELAY_MS * g->attempts;
            r->waiting++;
            r->out->retries++;
        } else {
            fail_reg(r, g, err.code, err.msg);
        }
        return;
    }
    g->state = REG_INFLIGHT;
    r->inflight++;
}

/* Starts what may start now: due retries first, then new nodes. */
static void launch(struct run *r, size_t max_inflight, long long deadline)
{
    long long t = now_ms();
    for (size_t i = 0; r->waiting > 0 && i < r->n && r->inflight < max_inflight; i++) {
        struct reg *g = &r->regs[i];
        if (g->state == REG_WAITING && g->retry_at <= t) {
            r->waiting--;
            send_reg(r, g, deadline);
        }
    }
    while (r->next < r->n && r->inflight < max_inflight) {
        send_reg(r, &r->regs[r->next++], deadline);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

int e2e_nodes_register(const char *const *addrs, size_t n_addrs, size_t n,
                       const struct e2e_node_spec *spec, unsigned max_inflight, int deadline_ms,
                       struct e2e_nodes_result *out)
{
    memset(out, 0, sizeof *out);
    if (n_addrs == 0 || max_inflight == 0 || max_inflight > E2E_NODES_MAX_INFLIGHT) {
        snprintf(out->first_error, sizeof out->first_error, "bad arguments");
        return -1;
    }
    /* A write to a connection the peer reset must not kill the caller. */
    signal(SIGPIPE, SIG_IGN);
    out->n = n;
    out->ids = calloc(n ? n : 1, sizeof *out->ids);
    struct run r = {.addrs = addrs, .n_addrs = n_addrs, .spec = spec, .n = n, .out = out};
    r.regs = calloc(n ? n : 1, sizeof *r.regs);
    for (size_t i = 0; i < n; i++) {
        r.regs[i] = (struct reg){.run = &r, .i = i};
        cv_uuid_generate(out->ids[i]);
    }
    struct event_base *base = event_base_new();
    struct cv_err err = {0};
    if (!base || rpc_pool_new(base, NULL, &r.pool, &err) != 0) {
        snprintf(out->first_error, sizeof out->first_error, "no event loop: %.200s", err.msg);
        if (base) {
            event_base_free(base);
        }
        free(r.regs);
        out->failed = n;
        return -1;
    }
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval every = {0, TICK_MS * 1000};
    event_add(tick, &every);

    long long start = now_ms();
    long long deadline = start + deadline_ms;
    r.last_answer_ms = start;
    while (r.finished < n && now_ms() < deadline) {
        launch(&r, max_inflight, deadline);
        event_base_loop(base, EVLOOP_ONCE);
    }
    r.closing = true;
    event_free(tick);
    rpc_pool_free(r.pool); /* fails what is still in flight: answers are final now */
    event_base_free(base);
    for (size_t i = 0; i < n; i++) {
        struct reg *g = &r.regs[i];
        if (g->state == REG_TODO || g->state == REG_WAITING || g->state == REG_INFLIGHT) {
            fail_reg(&r, g, CV_ETIMEDOUT, "deadline passed");
        }
        if (g->state != REG_DONE) {
            out->ids[i][0] = '\0';
        }
    }
    out->seconds = (double)(r.last_answer_ms - start) / 1000.0;
    free(r.regs);
    return out->registered == n ? 0 : -1;
}

void e2e_nodes_result_free(struct e2e_nodes_result *r)
{
    free(r->ids);
    memset(r, 0, sizeof *r);
}
