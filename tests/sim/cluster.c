/*
 * cluster: the simulated cluster fixture (see cluster.h for the model).
 *
 * This file holds the event loop, the life cycle and the proposals; the
 * servers' raft_io, disk and network are in cluster_io.c, the invariants in
 * check.c. One binary heap of events ordered by (time, seq) drives
 * everything; seq grows with every scheduling, so equal times fire in
 * scheduling order. A crash requested while the library is on the stack
 * (from an armed crash point or a hook) is deferred to the end of the
 * current event, since an instance cannot be freed from inside itself.
 */
#include "tests/sim/cluster.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "tests/sim/cluster_internal.h"

void sim_options_default(struct sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->n_servers = 3;
    o->seed = 1;
    o->election_ms = 200;
    o->heartbeat_ms = 40;
    o->pre_vote = true;
    o->check_quorum = true;
    o->net_min_ms = 1;
    o->net_max_ms = 20;
    o->disk_min_ms = 1;
    o->disk_max_ms = 8;
    o->max_drift_permille = 50;
    o->max_offset_ms = 100000;
    o->randomize_links = true;
    o->snapshots = true;
}

void sim_log(struct sim_cluster *c, const char *fmt, ...)
{
    if (!c->o.verbose) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("[t=%" PRIu64 " step=%" PRIu64 "] ", c->now, c->steps);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void sim_fail(struct sim_cluster *c, const char *invariant, const char *fmt, ...)
{
    if (c->failed) {
        return;
    }
    c->failed = true;
    int n =
        snprintf(c->failure, sizeof c->failure,
                 "seed=%" PRIu64 " step=%" PRIu64 " time=%" PRIu64 "ms invariant=%s: ", c->o.seed,
                 c->steps, c->now, invariant);
    if (n > 0 && (size_t)n < sizeof c->failure) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->failure + n, sizeof c->failure - (size_t)n, fmt, ap);
        va_end(ap);
    }
    sim_log(c, "INVARIANT FAILED: %s", c->failure);
}

/* ---- the event heap ------------------------------------------------------ */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_ev_push(struct sim_cluster *c, struct sim_event e)
{
    e.seq = c->seq++;
    if (c->ev_len == c->ev_cap) {
        c->ev_cap = c->ev_cap ? c->ev_cap * 2 : 64;
        c->ev = cv_reallocarray(c->ev, c->ev_cap, sizeof *c->ev);
    }
    size_t i = c->ev_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(&e, &c->ev[parent])) {
            break;
        }
        c->ev[i] = c->ev[parent];
        i = parent;
    }
    c->ev[i] = e;
}

static struct sim_event ev_pop(struct sim_cluster *c)
{
    assert(c->ev_len > 0);
    struct sim_event top = c->ev[0];
    struct sim_event last = c->ev[--c->ev_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sim_event *best = &last;
        if (l < c->ev_len && ev_before(&c->ev[l], best)) {
            m = l;
            best = &c->ev[l];
        }
        if (r < c->ev_len && ev_before(&c->ev[r], best)) {
            m = r;
        }
        if (m == i) {
            break;
        }
        c->ev[i] = c->ev[m];
        i = m;
    }
    if (c->ev_len > 0) {
        c->ev[i] = last;
    }
    return top;
}

void sim_at(struct sim_cluster *c, uint64_t delay_ms, sim_call_fn fn, void *arg)
{
    struct sim_event e = {.time = c->now + delay_ms, .kind = SIM_EV_CALL, .fn = fn, .arg = arg};
    sim_ev_push(c, e);
}

bool sim_step(struct sim_cluster *c)
{
    if (c->failed || c->ev_len == 0) {
        return !c->failed;
    }
    struct sim_event e = ev_pop(c);
    assert(e.time >= c->now);
    c->now = e.time;
    c->steps++;
    c->digest = sim_mix(sim_mix(sim_mix(c->digest, e.time), e.kind), e.server);
    switch (e.kind) {
    case SIM_EV_TICK:
        sim_fire_tick(c, &e);
        break;
    case SIM_EV_DELIVER:
        c->digest = sim_mix(c->digest, e.msg->m.type * 16 + e.msg->m.to);
        sim_fire_delivery(c, &e);
        break;
    case SIM_EV_DISK:
        sim_fire_disk(c, &e);
        break;
    case SIM_EV_CALL:
        e.fn(c, e.arg);
        break;
    }
    for (unsigned i = 0; i < c->n; i++) {
        if (c->s[i].crash_pending) {
            sim_do_crash(c, &c->s[i], c->s[i].crash_torn);
        }
    }
    sim_check_step(c);
    return !c->failed;
}

bool sim_run_for(struct sim_cluster *c, uint64_t ms)
{
    uint64_t deadline = c->now + ms;
    while (!c->failed && c->ev_len > 0 && c->ev[0].time <= deadline) {
        sim_step(c);
    }
    if (!c->failed) {
        c->now = deadline;
    }
    return !c->failed;
}

bool sim_run_until(struct sim_cluster *c, sim_pred pred, void *arg, uint64_t max_ms)
{
    uint64_t deadline = c->now + max_ms;
    for (;;) {
        if (c->failed) {
            return false;
        }
        if (pred(c, arg)) {
            return true;
        }
        if (c->ev_len == 0 || c->ev[0].time > deadline) {
            c->now = deadline;
            return pred(c, arg);
        }
        sim_step(c);
    }
}

static bool has_leader(struct sim_cluster *c, void *arg)
{
    (void)arg;
    return sim_leader(c) >= 0;
}

bool sim_run_until_leader(struct sim_cluster *c, uint64_t max_ms)
{
    return sim_run_until(c, has_leader, NULL, max_ms);
}

/* ---- life cycle ---------------------------------------------------------------- */

struct sim_cluster *sim_cluster_new(const struct sim_options *o)
{
    assert(o->n_servers >= 1 && o->n_servers <= SIM_MAX_SERVERS);
    struct sim_cluster *c = cv_calloc(1, sizeof *c);
    c->o = *o;
    c->n = o->n_servers;
    sim_prng_seed(&c->prng, o->seed);
    sim_checker_init(c);
    for (unsigned a = 0; a < c->n; a++) {
        for (unsigned b = 0; b < c->n; b++) {
            uint32_t lo = o->net_min_ms, hi = o->net_max_ms;
            if (o->randomize_links) {
                lo = (uint32_t)sim_prng_range(&c->prng, o->net_min_ms, o->net_max_ms);
                hi = (uint32_t)sim_prng_range(&c->prng, lo, o->net_max_ms);
            }
            c->lat_min[a][b] = lo;
            c->lat_max[a][b] = hi;
        }
    }
    for (unsigned i = 0; i < c->n; i++) {
        struct sim_server *s = &c->s[i];
        s->c = c;
        s->idx = i;
        s->id = i + 1;
        sim_server_init_io(s);
        int64_t d = o->max_drift_permille;
        s->drift = (int64_t)sim_prng_range(&c->prng, 0, (uint64_t)(2 * d)) - d;
        s->offset = sim_prng_range(&c->prng, 0, o->max_offset_ms);
        s->disk_min = o->disk_min_ms;
        s->disk_max = o->disk_max_ms;
        struct sim_event tick = {
            .time = sim_prng_range(&c->prng, 0, SIM_TICK_MS - 1), .kind = SIM_EV_TICK, .server = i};
        sim_ev_push(c, tick);
    }
    for (unsigned i = 0; i < c->n; i++) {
        sim_restart(c, i);
    }
    return c;
}

static void check_callbacks(struct sim_cluster *c)
{
    for (size_t k = 0; k < c->n_props; k++) {
        const struct sim_proposal *p = c->props[k];
        if (p->rc == 0 && p->calls != 1) {
            sim_fail(c, "proposal callback exactly once",
                     "proposal %" PRIu64 " (index %" PRIu64 " on server %u) got %u callbacks",
                     p->id, p->index, p->server, p->calls);
            return;
        }
    }
    for (size_t k = 0; k < c->n_reads; k++) {
        const struct sim_read *rd = c->reads[k];
        if (rd->rc == 0 && rd->calls != 1) {
            sim_fail(c, "read callback exactly once",
                     "read %" PRIu64 " on server %u got %u callbacks", rd->id, rd->server,
                     rd->calls);
            return;
        }
    }
}

bool sim_cluster_shutdown(struct sim_cluster *c)
{
    if (!c->shut_down) {
        c->shut_down = true;
        for (unsigned i = 0; i < c->n; i++) {
            struct sim_server *s = &c->s[i];
            if (s->r) {
                s->freeing = true;
                c->depth++;
                raft_free(s->r);
                c->depth--;
                s->r = NULL;
                s->freeing = false;
            }
        }
        check_callbacks(c);
    }
    return !c->failed;
}

void sim_cluster_free(struct sim_cluster *c)
{
    if (!c) {
        return;
    }
    sim_cluster_shutdown(c);
    for (size_t k = 0; k < c->ev_len; k++) {
        cv_free(c->ev[k].msg);
    }
    cv_free(c->ev);
    for (unsigned i = 0; i < c->n; i++) {
        sim_server_release(&c->s[i]);
    }
    for (size_t k = 0; k < c->n_stale; k++) {
        cv_free(c->stale[k]);
    }
    for (size_t k = 0; k < c->n_props; k++) {
        cv_free(c->props[k]);
    }
    cv_free(c->props);
    for (size_t k = 0; k < c->n_reads; k++) {
        cv_free(c->reads[k]);
    }
    cv_free(c->reads);
    sim_checker_free(c);
    cv_free(c);
}

/* ---- servers -------------------------------------------------------------------- */

uint64_t sim_now(const struct sim_cluster *c)
{
    return c->now;
}

uint64_t sim_steps(const struct sim_cluster *c)
{
    return c->steps;
}

unsigned sim_n_servers(const struct sim_cluster *c)
{
    return c->n;
}

const struct sim_options *sim_options(const struct sim_cluster *c)
{
    return &c->o;
}

struct sim_prng *sim_prng(struct sim_cluster *c)
{
    return &c->prng;
}

uint64_t sim_digest(const struct sim_cluster *c)
{
    return c->digest;
}

const char *sim_failure(const struct sim_cluster *c)
{
    return c->failed ? c->failure : NULL;
}

struct raft *sim_raft(struct sim_cluster *c, unsigned i)
{
    assert(i < c->n);
    return c->s[i].r;
}

bool sim_is_up(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].r != NULL;
}

bool sim_is_paused(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].paused;
}

bool sim_is_failstopped(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].failstopped;
}

int sim_leader(struct sim_cluster *c)
{
    int best = -1;
    raft_term best_term = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct sim_server *s = &c->s[i];
        if (s->r && !s->paused && raft_state(s->r) == RAFT_LEADER &&
            (best < 0 || raft_current_term(s->r) > best_term)) {
            best = (int)i;
            best_term = raft_current_term(s->r);
        }
    }
    return best;
}

void sim_heal_all(struct sim_cluster *c)
{
    sim_log(c, "heal everything");
    sim_net_heal(c);
    sim_net_set_faults(c, 0, 0, 0);
    for (unsigned i = 0; i < c->n; i++) {
        struct sim_server *s = &c->s[i];
        s->arm = SIM_ARM_NONE;
        sim_resume(c, i);
        if (s->failstopped) {
            continue;
        }
        s->disk_fail = false;
        sim_disk_set_latency(c, i, c->o.disk_min_ms, c->o.disk_max_ms);
        if (!s->r) {
            sim_restart(c, i);
        }
    }
}

/* ---- proposals ---------------------------------------------------------------------- */

static void proposal_cb(void *data, int status, raft_index index)
{
    struct sim_proposal *p = data;
    p->calls++;
    p->status = status;
    sim_check_proposal_cb(p->c, p, status, index);
    if (status == 0 && p->calls == 1) {
        p->c->n_acked++;
        if (index > p->c->max_acked) {
            p->c->max_acked = index;
        }
    }
}

int sim_propose(struct sim_cluster *c, unsigned i, enum raft_entry_type type, size_t len,
                uint64_t *id)
{
    struct sim_server *s = &c->s[i];
    if (!s->r) {
        return RAFT_ESHUTDOWN;
    }
    if (len < 12) {
        len = 12;
    }
    if (c->n_props == c->props_cap) {
        c->props_cap = c->props_cap ? c->props_cap * 2 : 64;
        c->props = cv_reallocarray(c->props, c->props_cap, sizeof *c->props);
    }
    struct sim_proposal *p = cv_calloc(1, sizeof *p);
    c->props[c->n_props++] = p;
    p->c = c;
    p->id = c->n_props;
    p->server = i;
    unsigned char *buf = cv_malloc(len);
    memcpy(buf, "SIMP", 4);
    for (int b = 0; b < 8; b++) {
        buf[4 + b] = (unsigned char)(p->id >> (8 * b));
    }
    for (size_t b = 12; b < len; b++) {
        buf[b] = (unsigned char)sim_prng_next(&c->prng);
    }
    raft_index index = 0;
    c->depth++;
    int rc = raft_propose(s->r, type, buf, len, proposal_cb, p, &index);
    c->depth--;
    cv_free(buf);
    p->rc = rc;
    p->index = rc == 0 ? index : 0;
    if (rc != 0 && p->calls > 0) {
        sim_fail(c, "refused proposal gets no callback",
                 "proposal %" PRIu64 " refused with %d got a callback", p->id, rc);
    }
    sim_log(c, "propose #%" PRIu64 " on server %u: %s index=%" PRIu64, p->id, i,
            rc ? raft_strerror(rc) : "ok", p->index);
    if (id) {
        *id = p->id;
    }
    return rc;
}

bool sim_proposal_done(const struct sim_cluster *c, uint64_t id, int *status, raft_index *index)
{
    assert(id >= 1 && id <= c->n_props);
    const struct sim_proposal *p = c->props[id - 1];
    if (status) {
        *status = p->rc ? p->rc : p->status;
    }
    if (index) {
        *index = p->index;
    }
    return p->rc != 0 || p->calls > 0;
}

uint64_t sim_proposals(const struct sim_cluster *c)
{
    return c->n_props;
}

uint64_t sim_proposals_acked(const struct sim_cluster *c)
{
    return c->n_acked;
}

raft_index sim_max_acked_index(const struct sim_cluster *c)
{
    return c->max_acked;
}

static void read_cb(void *data, int status, raft_index index)
{
    struct sim_read *rd = data;
    rd->calls++;
    rd->status = status;
    rd->index = index;
    sim_check_read_cb(rd->c, rd, status, index);
}

int sim_read(struct sim_cluster *c, unsigned i, uint64_t *id)
{
    struct sim_server *s = &c->s[i];
    if (!s->r) {
        return RAFT_ESHUTDOWN;
    }
    if (c->n_reads == c->reads_cap) {
        c->reads_cap = c->reads_cap ? c->reads_cap * 2 : 64;
        c->reads = cv_reallocarray(c->reads, c->reads_cap, sizeof *c->reads);
    }
    struct sim_read *rd = cv_calloc(1, sizeof *rd);
    c->reads[c->n_reads++] = rd;
    rd->c = c;
    rd->id = c->n_reads;
    rd->server = i;
    rd->min_index = c->max_acked;
    c->depth++;
    int rc = raft_read_index(s->r, read_cb, rd);
    c->depth--;
    rd->rc = rc;
    if (rc != 0 && rd->calls > 0) {
        sim_fail(c, "refused read gets no callback",
                 "read %" PRIu64 " refused with %d got a callback", rd->id, rc);
    }
    sim_log(c, "read #%" PRIu64 " on server %u: %s", rd->id, i, rc ? raft_strerror(rc) : "ok");
    if (id) {
        *id = rd->id;
    }
    return rc;
}

bool sim_read_done(const struct sim_cluster *c, uint64_t id, int *status, raft_index *index)
{
    assert(id >= 1 && id <= c->n_reads);
    const struct sim_read *rd = c->reads[id - 1];
    if (status) {
        *status = rd->rc ? rd->rc : rd->status;
    }
    if (index) {
        *index = rd->index;
    }
    return rd->rc != 0 || rd->calls > 0;
}

int sim_transfer(struct sim_cluster *c, unsigned i, unsigned target)
{
    struct sim_server *s = &c->s[i];
    if (!s->r) {
        return RAFT_ESHUTDOWN;
    }
    c->depth++;
    int rc = raft_transfer(s->r, target + 1);
    c->depth--;
    sim_log(c, "transfer leadership %u -> %u: %s", i, target, rc ? raft_strerror(rc) : "ok");
    return rc;
}
