/*
 * cluster_net: the simulated network of the cluster fixture (see cluster.h).
 *
 * A message is copied, with its entries' data and any snapshot chunk, into
 * one allocation when sent, and delivered by an event after its link's
 * latency (plus, by chance, a reordering delay). A send into a cut link or
 * lost by chance is dropped at once; a cut found at delivery drops it then;
 * a delivery to a paused server is held until it resumes. A sample of sent
 * messages is kept to be replayed much later (stale messages).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "tests/sim/cluster_internal.h"

const char *sim_msg_name(enum raft_msg_type t)
{
    switch (t) {
    case RAFT_MSG_PREVOTE:
        return "PREVOTE";
    case RAFT_MSG_PREVOTE_RESULT:
        return "PREVOTE_RESULT";
    case RAFT_MSG_VOTE:
        return "VOTE";
    case RAFT_MSG_VOTE_RESULT:
        return "VOTE_RESULT";
    case RAFT_MSG_APPEND:
        return "APPEND";
    case RAFT_MSG_APPEND_RESULT:
        return "APPEND_RESULT";
    case RAFT_MSG_TIMEOUT_NOW:
        return "TIMEOUT_NOW";
    case RAFT_MSG_SNAPSHOT:
        return "SNAPSHOT";
    case RAFT_MSG_SNAPSHOT_RESULT:
        return "SNAPSHOT_RESULT";
    default:
        return "?";
    }
}

/* ---- messages ------------------------------------------------------------ */

static struct sim_msg *msg_copy(const struct raft_msg *m)
{
    size_t data_len = 0;
    for (size_t i = 0; i < m->n_entries; i++) {
        data_len += m->entries[i].len;
    }
    size_t size =
        sizeof(struct sim_msg) + m->n_entries * sizeof(struct raft_entry) + data_len + m->len;
    struct sim_msg *copy = cv_malloc(size);
    copy->m = *m;
    copy->counted = false;
    copy->injected = false;
    struct raft_entry *entries = (struct raft_entry *)(copy + 1);
    unsigned char *data = (unsigned char *)(entries + m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) {
        entries[i] = m->entries[i];
        if (m->entries[i].len > 0) {
            memcpy(data, m->entries[i].data, m->entries[i].len);
        }
        entries[i].data = data;
        data += m->entries[i].len;
    }
    copy->m.entries = m->n_entries ? entries : NULL;
    if (m->len > 0) { /* a snapshot chunk */
        memcpy(data, m->data, m->len);
        copy->m.data = data;
    } else {
        copy->m.data = NULL;
    }
    return copy;
}

static void msg_uncount(struct sim_cluster *c, struct sim_msg *msg)
{
    if (msg->counted) {
        c->s[msg->m.from - 1].stats.inflight_append[msg->m.to - 1]--;
        msg->counted = false;
    }
}

static void schedule_delivery(struct sim_cluster *c, struct sim_msg *msg, uint64_t delay)
{
    struct sim_event e = {.time = c->now + delay, .kind = SIM_EV_DELIVER, .msg = msg};
    sim_ev_push(c, e);
}

static uint64_t link_latency(struct sim_cluster *c, unsigned from, unsigned to)
{
    uint64_t lat = sim_prng_range(&c->prng, c->lat_min[from][to], c->lat_max[from][to]);
    if (c->reorder && sim_prng_chance(&c->prng, c->reorder)) {
        lat += sim_prng_range(&c->prng, 0, 5 * (uint64_t)c->o.election_ms);
    }
    return lat;
}

static void deliver_copy(struct sim_cluster *c, unsigned from, unsigned to,
                         const struct raft_msg *m)
{
    struct sim_msg *msg = msg_copy(m);
    if (m->type == RAFT_MSG_APPEND && m->n_entries > 0) {
        struct sim_stats *st = &c->s[from].stats;
        msg->counted = true;
        if (++st->inflight_append[to] > st->max_inflight_append[to]) {
            st->max_inflight_append[to] = st->inflight_append[to];
        }
    }
    schedule_delivery(c, msg, link_latency(c, from, to));
}

static void stale_keep(struct sim_cluster *c, const struct raft_msg *m)
{
    struct sim_msg *msg = msg_copy(m);
    if (c->n_stale < SIM_STALE_POOL) {
        c->stale[c->n_stale++] = msg;
        return;
    }
    size_t j = sim_prng_range(&c->prng, 0, SIM_STALE_POOL - 1);
    cv_free(c->stale[j]);
    c->stale[j] = msg;
}

void sim_net_send(struct sim_cluster *c, struct sim_server *s, const struct raft_msg *m)
{
    if (m->to < 1 || m->to > c->n || m->to == s->id || m->from != s->id) {
        sim_fail(c, "message addressing", "server %" PRIu64 " sent %s from %" PRIu64 " to %" PRIu64,
                 s->id, sim_msg_name(m->type), m->from, m->to);
        return;
    }
    unsigned to = (unsigned)m->to - 1;
    if (c->cut[s->idx][to] || (c->loss && sim_prng_chance(&c->prng, c->loss))) {
        return;
    }
    deliver_copy(c, s->idx, to, m);
    if (c->dup && sim_prng_chance(&c->prng, c->dup)) {
        deliver_copy(c, s->idx, to, m);
    }
    if (sim_prng_chance(&c->prng, 20)) {
        stale_keep(c, m);
    }
}

void sim_fire_delivery(struct sim_cluster *c, const struct sim_event *e)
{
    struct sim_msg *msg = e->msg;
    msg_uncount(c, msg);
    unsigned to = (unsigned)msg->m.to - 1, from = (unsigned)msg->m.from - 1;
    struct sim_server *s = &c->s[to];
    if (!s->r || (!msg->injected && from < c->n && c->cut[from][to])) {
        cv_free(msg);
        return;
    }
    if (s->paused) {
        sim_hold(s, e);
        return;
    }
    const struct raft_msg *m = &msg->m;
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        sim_log(c,
                "deliver %s %" PRIu64 "->%" PRIu64 " term=%" PRIu64 " last=%" PRIu64 "/%" PRIu64
                "%s",
                sim_msg_name(m->type), m->from, m->to, m->term, m->last_log_index, m->last_log_term,
                m->transfer ? " transfer" : "");
        break;
    case RAFT_MSG_APPEND:
        sim_log(c,
                "deliver APPEND %" PRIu64 "->%" PRIu64 " term=%" PRIu64 " prev=%" PRIu64 "/%" PRIu64
                " n=%zu commit=%" PRIu64,
                m->from, m->to, m->term, m->prev_index, m->prev_term, m->n_entries, m->commit);
        break;
    case RAFT_MSG_APPEND_RESULT:
        sim_log(c,
                "deliver APPEND_RESULT %" PRIu64 "->%" PRIu64 " term=%" PRIu64 " %s match=%" PRIu64
                " hint=%" PRIu64 " last=%" PRIu64,
                m->from, m->to, m->term, m->rejected ? "rejected" : "ok", m->match_index,
                m->reject_hint, m->last_index);
        break;
    default:
        sim_log(c, "deliver %s %" PRIu64 "->%" PRIu64 " term=%" PRIu64 "%s", sim_msg_name(m->type),
                m->from, m->to, m->term, m->granted ? " granted" : "");
    }
    c->depth++;
    raft_recv(s->r, &msg->m);
    c->depth--;
    cv_free(msg);
}

/* ---- network ---------------------------------------------------------------------- */

void sim_net_cut(struct sim_cluster *c, unsigned from, unsigned to, bool cut)
{
    c->cut[from][to] = cut;
}

void sim_net_disconnect(struct sim_cluster *c, unsigned a, unsigned b)
{
    c->cut[a][b] = c->cut[b][a] = true;
}

void sim_net_isolate(struct sim_cluster *c, unsigned i)
{
    sim_log(c, "server %u isolated", i);
    for (unsigned j = 0; j < c->n; j++) {
        if (j != i) {
            sim_net_disconnect(c, i, j);
        }
    }
}

void sim_net_heal(struct sim_cluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
}

void sim_net_set_latency(struct sim_cluster *c, unsigned from, unsigned to, uint32_t min_ms,
                         uint32_t max_ms)
{
    c->lat_min[from][to] = min_ms;
    c->lat_max[from][to] = max_ms < min_ms ? min_ms : max_ms;
}

void sim_net_set_faults(struct sim_cluster *c, unsigned loss, unsigned dup, unsigned reorder)
{
    c->loss = loss;
    c->dup = dup;
    c->reorder = reorder;
}

void sim_net_replay_stale(struct sim_cluster *c, unsigned count)
{
    for (unsigned k = 0; k < count && c->n_stale > 0; k++) {
        size_t j = sim_prng_range(&c->prng, 0, c->n_stale - 1);
        struct sim_msg *msg = c->stale[j];
        c->stale[j] = c->stale[--c->n_stale];
        sim_log(c, "replay stale %s %" PRIu64 "->%" PRIu64 " term=%" PRIu64,
                sim_msg_name(msg->m.type), msg->m.from, msg->m.to, msg->m.term);
        schedule_delivery(c, msg, sim_prng_range(&c->prng, 0, 5));
    }
}

void sim_net_inject(struct sim_cluster *c, const struct raft_msg *msg, uint64_t delay_ms)
{
    assert(msg->to >= 1 && msg->to <= c->n);
    struct sim_msg *copy = msg_copy(msg);
    copy->injected = true;
    schedule_delivery(c, copy, delay_ms);
}

void sim_set_msg_hook(struct sim_cluster *c, sim_msg_hook hook, void *arg)
{
    c->hook = hook;
    c->hook_arg = arg;
}

const struct sim_stats *sim_stats(const struct sim_cluster *c, unsigned i)
{
    return &c->s[i].stats;
}

void sim_stats_reset(struct sim_cluster *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        struct sim_stats *st = &c->s[i].stats;
        uint64_t inflight[SIM_MAX_SERVERS];
        memcpy(inflight, st->inflight_append, sizeof inflight);
        memset(st, 0, sizeof *st);
        memcpy(st->inflight_append, inflight, sizeof inflight);
    }
}
