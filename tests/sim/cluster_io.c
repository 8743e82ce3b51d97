/*
 * cluster_io: the servers' side of the simulated cluster: raft_io over the
 * simulated network (cluster_net.c) and disk, crashes, restarts, pauses
 * (see cluster.h for the model).
 *
 * Each server owns a FIFO of disk requests whose completion events carry
 * the server's incarnation: a crash bumps it, which turns the events of
 * dropped requests into no-ops.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "tests/sim/cluster_internal.h"

/* ---- raft_io over the simulation ------------------------------------------ */

/* A send crash point fires on its message type; for answers, only on a
 * grant or a successful acknowledgement (the interesting moment). */
static bool arm_matches(const struct sim_server *s, const struct raft_msg *m)
{
    if (m->type != s->arm_msg) {
        return false;
    }
    switch (m->type) {
    case RAFT_MSG_PREVOTE_RESULT:
    case RAFT_MSG_VOTE_RESULT:
        return m->granted;
    case RAFT_MSG_APPEND_RESULT:
        return !m->rejected;
    default:
        return true;
    }
}

static void io_send(struct raft_io *io, const struct raft_msg *m)
{
    struct sim_server *s = io->data;
    struct sim_cluster *c = s->c;
    if (s->muted || s->freeing) {
        return;
    }
    sim_check_send(c, s, m);
    if ((unsigned)m->type < SIM_MSG_TYPES) {
        s->stats.sent[m->type]++;
    }
    if (m->type == RAFT_MSG_APPEND_RESULT && m->rejected) {
        s->stats.append_rejections++;
    }
    if (s->arm == SIM_ARM_BEFORE_SEND && arm_matches(s, m)) {
        sim_log(c, "server %u crashes before sending %s", s->idx, sim_msg_name(m->type));
        s->arm = SIM_ARM_NONE;
        s->muted = true;
        s->crash_pending = true;
        s->crash_torn = false;
        return;
    }
    if (c->hook && !c->hook(c, c->hook_arg, m)) {
        return;
    }
    sim_net_send(c, s, m);
    if (s->arm == SIM_ARM_AFTER_SEND && arm_matches(s, m)) {
        sim_log(c, "server %u crashes after sending %s", s->idx, sim_msg_name(m->type));
        s->arm = SIM_ARM_NONE;
        s->crash_pending = true;
        s->crash_torn = false;
    }
}

static void enqueue(struct sim_server *s, struct sim_req req)
{
    struct sim_cluster *c = s->c;
    if (s->q_len == s->q_cap) {
        s->q_cap = s->q_cap ? s->q_cap * 2 : 16;
        s->q = cv_reallocarray(s->q, s->q_cap, sizeof *s->q);
    }
    s->q[s->q_len++] = req;
    uint64_t done = c->now + sim_prng_range(&c->prng, s->disk_min, s->disk_max);
    if (done < s->q_last_done) {
        done = s->q_last_done; /* FIFO: never before the request ahead */
    }
    s->q_last_done = done;
    struct sim_event e = {
        .time = done, .kind = SIM_EV_DISK, .server = s->idx, .incarnation = s->incarnation};
    sim_ev_push(c, e);
    if (s->arm == SIM_ARM_AT_REQUEST) {
        sim_log(c, "server %u crashes (torn) at its disk request", s->idx);
        s->arm = SIM_ARM_NONE;
        s->crash_pending = true;
        s->crash_torn = true;
    }
}

static void io_persist(struct raft_io *io, raft_term term, raft_id vote)
{
    struct sim_server *s = io->data;
    if (s->muted || s->freeing) {
        return;
    }
    sim_log(s->c, "server %u persist term=%" PRIu64 " vote=%" PRIu64, s->idx, term, vote);
    sim_check_persist(s->c, s, term, vote);
    s->persist_outstanding = true;
    s->req_term = term;
    s->req_vote = vote;
    struct sim_req req = {.kind = SIM_REQ_PERSIST, .term = term, .vote = vote};
    enqueue(s, req);
}

static void io_append(struct raft_io *io, const struct raft_entry *entries, size_t n)
{
    struct sim_server *s = io->data;
    struct sim_cluster *c = s->c;
    if (s->muted || s->freeing) {
        return;
    }
    s->stats.append_requests++;
    sim_log(c,
            "server %u append %" PRIu64 "..%" PRIu64 " term=%" PRIu64 "..%" PRIu64 " (log %" PRIu64
            ")",
            s->idx, n ? entries[0].index : 0, n ? entries[n - 1].index : 0, n ? entries[0].term : 0,
            n ? entries[n - 1].term : 0, s->mbase + s->mlog_len);
    sim_check_append(c, s, entries, n); /* updates the mirror log */
    if (c->failed || n == 0) {
        return;
    }
    struct sim_req req = {.kind = SIM_REQ_APPEND, .n = n, .first = entries[0].index};
    req.entries = cv_calloc(n, sizeof *req.entries);
    for (size_t i = 0; i < n; i++) {
        struct sim_entry *d = &req.entries[i];
        d->term = entries[i].term;
        d->type = entries[i].type;
        d->len = entries[i].len;
        d->data = cv_malloc(d->len ? d->len : 1);
        if (d->len) {
            memcpy(d->data, entries[i].data, d->len);
        }
        d->chain = s->mlog[entries[i].index - s->mbase - 1].chain;
    }
    enqueue(s, req);
}

static void io_apply(struct raft_io *io, const struct raft_entry *entry)
{
    struct sim_server *s = io->data;
    sim_check_apply(s->c, s, entry);
}

static uint64_t io_now(struct raft_io *io)
{
    struct sim_server *s = io->data;
    return s->offset + s->c->now * (uint64_t)(1000 + s->drift) / 1000;
}

static uint64_t io_random(struct raft_io *io)
{
    struct sim_server *s = io->data;
    return sim_prng_next(&s->c->prng);
}

static bool same_snapshot(const struct raft_snapshot_meta *a, const struct raft_snapshot_meta *b)
{
    return a->index == b->index && a->term == b->term && a->size == b->size;
}

/* The leader feeds a follower from its durable snapshot, whose contents are
 * a function of the history at its index. */
static int io_snapshot_read(struct raft_io *io, const struct raft_snapshot_meta *meta,
                            uint64_t offset, void *buf, size_t cap, size_t *len)
{
    struct sim_server *s = io->data;
    if (!s->has_snap || !same_snapshot(meta, &s->snap)) {
        return RAFT_EIO; /* replaced by a newer one */
    }
    size_t n = offset >= meta->size ? 0 : (size_t)(meta->size - offset);
    n = n < cap ? n : cap;
    unsigned char *out = buf;
    for (size_t k = 0; k < n; k++) {
        uint64_t pos = offset + k;
        out[k] =
            (unsigned char)(sim_snap_word(meta->index, s->snap_chain, pos / 8) >> (8 * (pos % 8)));
    }
    *len = n;
    return 0;
}

static void io_snapshot_write(struct raft_io *io, const struct raft_snapshot_meta *meta,
                              uint64_t offset, const void *data, size_t len)
{
    struct sim_server *s = io->data;
    if (s->muted || s->freeing) {
        return;
    }
    sim_log(s->c, "server %u snapshot write %" PRIu64 "/%" PRIu64 " at %" PRIu64 " (+%zu)", s->idx,
            meta->index, meta->term, offset, len);
    sim_check_snapshot_chunk(s->c, s, meta, offset, data, len);
    struct sim_req req = {.kind = SIM_REQ_SNAP_CHUNK, .meta = *meta, .offset = offset, .len = len};
    enqueue(s, req);
}

static void io_snapshot_install(struct raft_io *io, const struct raft_snapshot_meta *meta,
                                bool keep_log)
{
    struct sim_server *s = io->data;
    struct sim_cluster *c = s->c;
    if (s->muted || s->freeing) {
        return;
    }
    sim_log(c, "server %u installs snapshot %" PRIu64 "/%" PRIu64 "%s", s->idx, meta->index,
            meta->term, keep_log ? " keeping the log after it" : "");
    if (s->failstopped) {
        sim_fail(c, "fail-stop", "server %u installs a snapshot after a disk error", s->idx);
        return;
    }
    if (!s->has_snap || !same_snapshot(&s->snap, meta)) {
        sim_fail(c, "snapshot durable before install",
                 "server %u installs snapshot %" PRIu64 "/%" PRIu64
                 " while its durable snapshot is %" PRIu64 "/%" PRIu64,
                 s->idx, meta->index, meta->term, s->has_snap ? s->snap.index : 0,
                 s->has_snap ? s->snap.term : 0);
        return;
    }
    if (meta->index < s->applied) {
        sim_fail(c, "state machine never goes back",
                 "server %u installs snapshot %" PRIu64 " over a state machine at %" PRIu64
                 " (entries after it would be applied twice)",
                 s->idx, meta->index, s->applied);
        return;
    }
    /* The state machine takes the snapshot's state. Raft's log (so the
     * mirror) drops what the snapshot covers, or everything. */
    s->applied = meta->index;
    s->fsm_chain = s->snap_chain;
    raft_index x = meta->index, mlast = s->mbase + s->mlog_len;
    if (keep_log && x > s->mbase && x <= mlast) {
        const struct sim_mentry *at = &s->mlog[x - s->mbase - 1];
        if (at->term != meta->term || at->chain != s->snap_chain) {
            sim_fail(c, "snapshot install contract",
                     "server %u keeps its log after snapshot %" PRIu64 "/%" PRIu64
                     " but holds term %" PRIu64 " there",
                     s->idx, x, meta->term, at->term);
            return;
        }
        size_t drop = (size_t)(x - s->mbase);
        memmove(s->mlog, s->mlog + drop, (s->mlog_len - drop) * sizeof *s->mlog);
        s->mlog_len -= drop;
    } else if (!keep_log || x > mlast) {
        s->mlog_len = 0;
    }
    if (x > s->mbase) {
        s->mbase = x;
        s->mbase_term = meta->term;
        s->mbase_chain = s->snap_chain;
    }
    struct sim_req req = {
        .kind = SIM_REQ_LOG_RESET, .meta = *meta, .chain = s->snap_chain, .keep_log = keep_log};
    enqueue(s, req);
}

void sim_server_init_io(struct sim_server *s)
{
    s->io = (struct raft_io){.data = s,
                             .send = io_send,
                             .persist = io_persist,
                             .append = io_append,
                             .apply = io_apply,
                             .now_ms = io_now,
                             .random = io_random};
    if (s->c->o.snapshots) {
        s->io.snapshot_read = io_snapshot_read;
        s->io.snapshot_write = io_snapshot_write;
        s->io.snapshot_install = io_snapshot_install;
    }
}

/* ---- the disk -------------------------------------------------------------- */

static void free_req(struct sim_req *req)
{
    for (size_t i = 0; i < req->n; i++) {
        cv_free(req->entries[i].data);
    }
    cv_free(req->entries);
}

/* Drops the durable entries from index `from` on. */
static void dlog_truncate(struct sim_server *s, raft_index from)
{
    while (s->dlog_len > 0 && s->dbase + s->dlog_len >= from) {
        cv_free(s->dlog[--s->dlog_len].data);
    }
}

/* Drops the durable entries up to `upto` (they are in a durable snapshot),
 * even past the log's end: appends still in flight then skip them. */
static void dlog_drop_head(struct sim_server *s, raft_index upto, uint64_t chain)
{
    if (upto <= s->dbase) {
        return;
    }
    size_t drop = upto - s->dbase < s->dlog_len ? (size_t)(upto - s->dbase) : s->dlog_len;
    for (size_t k = 0; k < drop; k++) {
        cv_free(s->dlog[k].data);
    }
    if (drop > 0 && drop < s->dlog_len) {
        memmove(s->dlog, s->dlog + drop, (s->dlog_len - drop) * sizeof *s->dlog);
    }
    s->dlog_len -= drop;
    s->dbase = upto;
    s->dbase_chain = chain;
}

/* Makes the first `keep` entries of an append durable, after its truncation
 * (entries the log dropped for a snapshot are skipped). */
static void apply_append(struct sim_server *s, struct sim_req *req, size_t keep)
{
    raft_index from = req->first > s->dbase ? req->first : s->dbase + 1;
    assert(from <= s->dbase + s->dlog_len + 1);
    dlog_truncate(s, from);
    if (s->dlog_len + keep > s->dlog_cap) {
        s->dlog_cap = (s->dlog_len + keep) * 2;
        s->dlog = cv_reallocarray(s->dlog, s->dlog_cap, sizeof *s->dlog);
    }
    for (size_t i = (size_t)(from - req->first); i < keep; i++) {
        s->dlog[s->dlog_len++] = req->entries[i];
        req->entries[i].data = NULL; /* moved */
    }
}

static void apply_req(struct sim_server *s, struct sim_req *req)
{
    switch (req->kind) {
    case SIM_REQ_PERSIST:
        s->d_term = req->term;
        s->d_vote = req->vote;
        break;
    case SIM_REQ_APPEND:
        apply_append(s, req, req->n);
        break;
    case SIM_REQ_SNAP_CHUNK:
        if (req->offset == 0) { /* a new snapshot abandons any unfinished one */
            s->recv_active = true;
            s->recv = req->meta;
            s->recv_offset = 0;
        }
        if (!s->recv_active || !same_snapshot(&s->recv, &req->meta) ||
            req->offset != s->recv_offset) {
            sim_fail(s->c, "snapshot chunks in order",
                     "server %u writes snapshot %" PRIu64 " at %" PRIu64 ", expected %" PRIu64,
                     s->idx, req->meta.index, req->offset, s->recv_active ? s->recv_offset : 0);
            return;
        }
        s->recv_offset += req->len;
        /* Complete: it replaces the durable snapshot if it is newer. */
        if (s->recv_offset >= req->meta.size) {
            s->recv_active = false;
            if (!s->has_snap || req->meta.index > s->snap.index) {
                s->has_snap = true;
                s->snap = req->meta;
                sim_hist_chain(s->c, req->meta.index, &s->snap_chain); /* checked at write */
            }
        }
        break;
    case SIM_REQ_LOG_RESET: {
        raft_index x = req->meta.index;
        bool holds = x > s->dbase && x <= s->dbase + s->dlog_len;
        if (req->keep_log && holds && s->dlog[x - s->dbase - 1].chain != req->chain) {
            sim_fail(s->c, "snapshot install contract",
                     "server %u keeps its durable log after snapshot %" PRIu64
                     " but holds another entry there",
                     s->idx, x);
            return;
        }
        if (!req->keep_log) {
            dlog_truncate(s, 1);
        }
        if (x > s->dbase) {
            dlog_drop_head(s, x, req->chain);
        }
        break;
    }
    }
}

static struct sim_req pop_req(struct sim_server *s)
{
    assert(s->q_len > 0);
    struct sim_req req = s->q[0];
    memmove(s->q, s->q + 1, (s->q_len - 1) * sizeof *s->q);
    s->q_len--;
    if (req.kind == SIM_REQ_PERSIST) {
        s->persist_outstanding = false;
    }
    return req;
}

void sim_hold(struct sim_server *s, const struct sim_event *e)
{
    if (s->held_len == s->held_cap) {
        s->held_cap = s->held_cap ? s->held_cap * 2 : 16;
        s->held = cv_reallocarray(s->held, s->held_cap, sizeof *s->held);
    }
    s->held[s->held_len++] = *e;
}

static void drop_held(struct sim_server *s)
{
    for (size_t i = 0; i < s->held_len; i++) {
        cv_free(s->held[i].msg);
    }
    s->held_len = 0;
}

/* ---- crashes and restarts --------------------------------------------------- */

void sim_do_crash(struct sim_cluster *c, struct sim_server *s, bool torn)
{
    if (!s->r) {
        return;
    }
    sim_log(c, "server %u crashes%s (disk queue %zu)", s->idx, torn ? " torn" : "", s->q_len);
    s->freeing = true;
    raft_free(s->r);
    s->r = NULL;
    s->freeing = false;
    if (torn && s->q_len > 0 && !s->disk_fail) {
        struct sim_req *head = &s->q[0];
        if (head->kind != SIM_REQ_APPEND) { /* written whole or not at all */
            if (sim_prng_chance(&c->prng, 500)) {
                apply_req(s, head);
            }
        } else {
            /* 0: nothing written; k >= 1: truncated, then k - 1 entries. */
            size_t k = sim_prng_range(&c->prng, 0, head->n);
            if (k > 0) {
                apply_append(s, head, k - 1);
            }
            sim_log(c, "server %u torn append at %" PRIu64 ": kept %zu of %zu", s->idx, head->first,
                    k ? k - 1 : 0, head->n);
        }
    }
    for (size_t i = 0; i < s->q_len; i++) {
        free_req(&s->q[i]);
    }
    s->q_len = 0;
    s->q_last_done = 0;
    s->persist_outstanding = false;
    s->recv_active = false; /* an unfinished snapshot restarts from its first chunk */
    drop_held(s);
    s->incarnation++;
    s->paused = false;
    s->arm = SIM_ARM_NONE;
    s->crash_pending = false;
    s->muted = false;
}

void sim_crash(struct sim_cluster *c, unsigned i, enum sim_crash how)
{
    assert(i < c->n);
    struct sim_server *s = &c->s[i];
    if (c->depth > 0) {
        /* Called from a hook, with the library on the stack: defer. */
        s->crash_pending = true;
        s->crash_torn = how == SIM_CRASH_TORN;
        return;
    }
    sim_do_crash(c, s, how == SIM_CRASH_TORN);
}

static void make_config(struct sim_cluster *c, struct sim_server *s, struct raft_config *cfg)
{
    raft_config_default(cfg);
    cfg->id = s->id;
    cfg->n_servers = c->n;
    for (unsigned j = 0; j < c->n; j++) {
        cfg->servers[j] = j + 1;
    }
    cfg->election_timeout_ms = c->o.election_ms;
    cfg->heartbeat_ms = c->o.heartbeat_ms;
    cfg->pre_vote = c->o.pre_vote;
    cfg->check_quorum = c->o.check_quorum;
}

/* Recovery, as a persistence adaptor does it (Raft §7): with a snapshot
 * the log is kept if it holds the snapshot's last entry with its term, and
 * discarded otherwise (it ends before the snapshot, or an install was cut
 * short before its log reset). */
static void recover_log(struct sim_server *s)
{
    if (!s->has_snap || s->snap.index <= s->dbase) {
        return;
    }
    raft_index x = s->snap.index;
    bool holds = s->dbase + s->dlog_len >= x && s->dlog[x - s->dbase - 1].term == s->snap.term;
    if (!holds) {
        dlog_truncate(s, 1);
        s->dbase = x;
        s->dbase_chain = s->snap_chain;
    }
}

void sim_restart(struct sim_cluster *c, unsigned i)
{
    assert(i < c->n);
    struct sim_server *s = &c->s[i];
    if (s->r) {
        return;
    }
    recover_log(s);
    struct raft_entry *entries = cv_calloc(s->dlog_len ? s->dlog_len : 1, sizeof *entries);
    for (size_t k = 0; k < s->dlog_len; k++) {
        entries[k] = (struct raft_entry){.term = s->dlog[k].term,
                                         .index = s->dbase + k + 1,
                                         .type = s->dlog[k].type,
                                         .data = s->dlog[k].data,
                                         .len = s->dlog[k].len};
    }
    struct raft_durable d = {.term = s->d_term,
                             .vote = s->d_vote,
                             .snapshot = s->has_snap ? &s->snap : NULL,
                             .entries = entries,
                             .n_entries = s->dlog_len};
    struct raft_config cfg;
    make_config(c, s, &cfg);
    int err = 0;
    c->depth++;
    s->r = raft_new(&cfg, &s->io, &d, &err);
    c->depth--;
    cv_free(entries);
    if (!s->r) {
        sim_fail(c, "restart", "raft_new failed for server %u: %s", i, raft_strerror(err));
        return;
    }
    /* What the server asked of its disk is now exactly what is durable. */
    if (s->dlog_len > s->mlog_cap) {
        s->mlog_cap = s->dlog_len * 2;
        s->mlog = cv_reallocarray(s->mlog, s->mlog_cap, sizeof *s->mlog);
    }
    for (size_t k = 0; k < s->dlog_len; k++) {
        s->mlog[k] = (struct sim_mentry){.term = s->dlog[k].term, .chain = s->dlog[k].chain};
    }
    s->mlog_len = s->dlog_len;
    s->mbase = s->dbase;
    s->mbase_chain = s->dbase_chain;
    s->mbase_term = 0;
    if (s->dbase > 0) {
        s->mbase_term =
            s->has_snap && s->snap.index == s->dbase ? s->snap.term : sim_hist_term(c, s->dbase);
    }
    s->req_term = s->d_term;
    s->req_vote = s->d_vote;
    sim_check_reset_server(s);
    /* The state machine was loaded from the snapshot. */
    s->applied = s->seen_commit = s->has_snap ? s->snap.index : 0;
    s->fsm_chain = s->has_snap ? s->snap_chain : 0;
    sim_log(c,
            "server %u starts: term=%" PRIu64 " vote=%" PRIu64 " snapshot=%" PRIu64 " log=%" PRIu64
            "..%" PRIu64,
            i, s->d_term, s->d_vote, s->has_snap ? s->snap.index : 0, s->dbase + 1,
            s->dbase + s->dlog_len);
}

void sim_arm_crash(struct sim_cluster *c, unsigned i, enum sim_arm arm, enum raft_msg_type msg_type)
{
    assert(i < c->n);
    c->s[i].arm = arm;
    c->s[i].arm_msg = msg_type;
}

/* ---- events ------------------------------------------------------------------ */

void sim_fire_tick(struct sim_cluster *c, const struct sim_event *e)
{
    struct sim_server *s = &c->s[e->server];
    if (s->r && !s->paused) {
        c->depth++;
        raft_tick(s->r);
        c->depth--;
    }
    struct sim_event next = {
        .time = e->time + SIM_TICK_MS, .kind = SIM_EV_TICK, .server = e->server};
    sim_ev_push(c, next);
}

void sim_fire_disk(struct sim_cluster *c, const struct sim_event *e)
{
    struct sim_server *s = &c->s[e->server];
    if (e->incarnation != s->incarnation || !s->r) {
        return;
    }
    if (s->paused) {
        sim_hold(s, e);
        return;
    }
    static const char *const kinds[] = {"persist", "append", "snapshot chunk", "log reset"};
    struct sim_req req = pop_req(s);
    int status = s->disk_fail ? RAFT_EIO : 0;
    if (status == 0) {
        apply_req(s, &req);
    }
    raft_index last = req.kind == SIM_REQ_APPEND ? req.first + req.n - 1 : 0;
    sim_log(c, "server %u disk %s done%s (last=%" PRIu64 ")", s->idx, kinds[req.kind],
            status ? " EIO" : "", last);
    enum sim_req_kind kind = req.kind;
    bool persist = kind == SIM_REQ_PERSIST;
    raft_id vote = req.vote;
    free_req(&req);
    if (kind == SIM_REQ_LOG_RESET) {
        return; /* raft is not told: it asked for no completion */
    }
    if (s->arm == SIM_ARM_AFTER_DURABLE ||
        (s->arm == SIM_ARM_AFTER_VOTE_DURABLE && persist && vote != 0 && status == 0)) {
        sim_log(c, "server %u crashes after a durable write, before raft hears", s->idx);
        sim_do_crash(c, s, false);
        return;
    }
    if (status != 0) {
        s->failstopped = true;
    }
    c->depth++;
    if (persist) {
        raft_persisted(s->r, status);
    } else if (kind == SIM_REQ_APPEND) {
        raft_appended(s->r, last, status);
    } else {
        raft_snapshot_written(s->r, status);
    }
    c->depth--;
    if (s->arm == SIM_ARM_AFTER_NOTIFY) {
        sim_log(c, "server %u crashes right after handling a disk completion", s->idx);
        s->arm = SIM_ARM_NONE;
        s->crash_pending = true;
        s->crash_torn = false;
    }
}

void sim_pause(struct sim_cluster *c, unsigned i)
{
    if (c->s[i].r && !c->s[i].paused) {
        sim_log(c, "server %u pauses", i);
        c->s[i].paused = true;
    }
}

void sim_resume(struct sim_cluster *c, unsigned i)
{
    struct sim_server *s = &c->s[i];
    if (!s->paused) {
        return;
    }
    sim_log(c, "server %u resumes (%zu held events)", i, s->held_len);
    s->paused = false;
    for (size_t k = 0; k < s->held_len; k++) {
        struct sim_event e = s->held[k];
        e.time = c->now;
        sim_ev_push(c, e);
    }
    s->held_len = 0;
}

void sim_clock_jump(struct sim_cluster *c, unsigned i, uint64_t ms)
{
    sim_log(c, "server %u clock jumps %" PRIu64 " ms", i, ms);
    c->s[i].offset += ms;
}

void sim_disk_fail(struct sim_cluster *c, unsigned i)
{
    sim_log(c, "server %u disk fails", i);
    c->s[i].disk_fail = true;
}

void sim_disk_set_latency(struct sim_cluster *c, unsigned i, uint32_t min_ms, uint32_t max_ms)
{
    c->s[i].disk_min = min_ms;
    c->s[i].disk_max = max_ms < min_ms ? min_ms : max_ms;
}

raft_term sim_durable_term(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].d_term;
}

raft_id sim_durable_vote(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].d_vote;
}

raft_index sim_durable_last(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].dbase + c->s[i].dlog_len;
}

raft_index sim_snapshot_index(const struct sim_cluster *c, unsigned i)
{
    return c->s[i].has_snap ? c->s[i].snap.index : 0;
}

int sim_take_snapshot(struct sim_cluster *c, unsigned i, uint64_t size, raft_index trailing)
{
    struct sim_server *s = &c->s[i];
    uint64_t chain = 0;
    if (!s->r) {
        return RAFT_ESHUTDOWN;
    }
    raft_index x = s->applied;
    if (!c->o.snapshots || x == 0 || !sim_hist_chain(c, x, &chain)) {
        return RAFT_EINVAL;
    }
    if (chain != s->fsm_chain) {
        sim_fail(c, "state machine safety",
                 "server %u's state machine at %" PRIu64 " is not the history's", i, x);
        return RAFT_EINVAL;
    }
    c->depth++;
    int rc = raft_snapshot_taken(s->r, x, size, trailing);
    const struct raft_snapshot_meta *meta = rc == 0 ? raft_snapshot(s->r) : NULL;
    c->depth--;
    sim_log(c,
            "server %u takes snapshot at %" PRIu64 " (%" PRIu64 " bytes, trailing %" PRIu64 "): %s",
            i, x, size, trailing, rc ? raft_strerror(rc) : "ok");
    if (rc != 0) {
        return rc;
    }
    if (!meta || meta->index != x || meta->size != size || meta->term != sim_hist_term(c, x)) {
        sim_fail(c, "snapshot", "server %u: raft_snapshot() does not describe the snapshot taken",
                 i);
        return RAFT_EINVAL;
    }
    s->has_snap = true;
    s->snap = *meta;
    s->snap_chain = chain;
    /* The caller's head truncation of the durable log. */
    raft_index upto = x > trailing ? x - trailing : 0;
    uint64_t upto_chain = 0;
    if (upto > 0 && sim_hist_chain(c, upto, &upto_chain)) {
        dlog_drop_head(s, upto, upto_chain);
    }
    return 0;
}

void sim_server_release(struct sim_server *s)
{
    for (size_t k = 0; k < s->q_len; k++) {
        free_req(&s->q[k]);
    }
    s->q_len = 0;
    cv_free(s->q);
    dlog_truncate(s, 1);
    cv_free(s->dlog);
    cv_free(s->mlog);
    drop_held(s);
    cv_free(s->held);
}
