/*
 * server: Raft + store + transport + FSM on one event loop (see server.h).
 *
 * The raft_io given to the library:
 *   send     encodes the message (raft_wire.h) and sends it as the one-way
 *            RPC "raft.msg" to the peer; a slow or down peer drops it, which
 *            Raft tolerates;
 *   persist  store_set_term_vote, completion -> raft_persisted;
 *   append   store_truncate_tail when the entries overwrite the log's tail,
 *            then store_append, completion -> raft_appended;
 *   apply    fsm_apply for commands; the result is kept on the local
 *            proposal of that index, if any, whose callback Raft fires right
 *            after the batch of applies.
 * The store runs its disk or database work on its own thread and delivers
 * completions through its event fd, which the loop watches.
 */
#include "regiond/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "regiond/raft/raft_wire.h"
#include "regiond/store/store.h"
#include "regiond/store/store_embedded.h"
#include "regiond/store/store_pg.h"
#include "regiond/server_internal.h"

#define TICK_MS     10
#define RAFT_METHOD "raft.msg"

uint64_t srv__mono_ms(void)
{
    return cv_clock_monotonic_ns(cv_clock_system()) / (uint64_t)CV_NSEC_PER_MSEC;
}

static const char *peer_addr(const struct srv *s, uint64_t id)
{
    if (id == s->cfg.id) {
        return s->self_addr;
    }
    for (size_t i = 0; i < s->cfg.n_peers; i++) {
        if (s->cfg.peers[i].id == id) {
            return s->cfg.peers[i].addr;
        }
    }
    return NULL;
}

static int raft_to_cv(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case RAFT_ENOTLEADER:
    case RAFT_ELEADERSHIPLOST:
        return CV_ENOTLEADER;
    case RAFT_ESHUTDOWN:
        return CV_ESHUTDOWN;
    case RAFT_EIO:
        return CV_EIO;
    case RAFT_ETOOBIG:
        return CV_ETOOBIG;
    case RAFT_EBUSY:
        return CV_EUNAVAILABLE;
    default:
        return CV_EINVAL;
    }
}

/* ---- raft_io ------------------------------------------------------------------- */

static void io_send(struct raft_io *io, const struct raft_msg *msg)
{
    struct srv *s = io->data;
    const char *addr = peer_addr(s, msg->to);
    if (!addr) {
        return;
    }
    cv_buf_reset(&s->wire);
    if (raft_wire_encode(msg, &s->wire) != 0) {
        cv_log(CV_LOG_ERROR, "server", "cannot encode a Raft message", "type=%d to=%llu",
               (int)msg->type, (unsigned long long)msg->to);
        return;
    }
    /* A refusal (slow or unreachable peer) is a lost message: Raft resends. */
    rpc_send(s->pool, addr, RAFT_METHOD, s->wire.data, s->wire.len, NULL);
}

static void on_persisted(void *arg, int status, const struct cv_err *err)
{
    struct srv *s = arg;
    if (status != 0) {
        cv_log(CV_LOG_ERROR, "server", "term and vote not durable", "error=\"%s\"",
               err ? err->msg : "");
    }
    if (!s->raft) {
        return; /* shutting down */
    }
    raft_persisted(s->raft, status == 0 ? 0 : RAFT_EIO);
}

static void io_persist(struct raft_io *io, raft_term term, raft_id vote)
{
    struct srv *s = io->data;
    if (store_set_term_vote(s->store, term, vote, on_persisted, s) != 0) {
        raft_persisted(s->raft, RAFT_EIO);
    }
}

static void on_truncated(void *arg, int status, const struct cv_err *err)
{
    (void)arg;
    if (status != 0) {
        /* The store is fail-stopped: the append queued behind fails too. */
        cv_log(CV_LOG_ERROR, "server", "log truncation failed", "error=\"%s\"",
               err ? err->msg : "");
    }
}

static void on_appended(void *arg, int status, const struct cv_err *err)
{
    struct append_req *req = arg;
    struct srv *s = req->s;
    uint64_t last = req->last;
    cv_free(req);
    if (status != 0) {
        cv_log(CV_LOG_ERROR, "server", "log append failed", "error=\"%s\"", err ? err->msg : "");
    }
    if (!s->raft) {
        return; /* shutting down */
    }
    raft_appended(s->raft, last, status == 0 ? 0 : RAFT_EIO);
}

static void io_append(struct raft_io *io, const struct raft_entry *entries, size_t n)
{
    struct srv *s = io->data;
    uint64_t first = entries[0].index;
    if (first <= store_last_index(s->store)) {
        store_truncate_tail(s->store, first, on_truncated, s);
    }
    struct store_entry *se = cv_calloc(n, sizeof *se);
    for (size_t i = 0; i < n; i++) {
        se[i] = (struct store_entry){.index = entries[i].index,
                                     .term = entries[i].term,
                                     .type = (uint8_t)entries[i].type,
                                     .data = entries[i].data,
                                     .len = entries[i].len};
    }
    struct append_req *req = cv_malloc(sizeof *req);
    *req = (struct append_req){s, entries[n - 1].index};
    int rc = store_append(s->store, se, n, on_appended, req);
    cv_free(se);
    if (rc != 0) {
        cv_free(req);
        raft_appended(s->raft, entries[n - 1].index, RAFT_EIO);
    }
}

static void io_apply(struct raft_io *io, const struct raft_entry *entry)
{
    struct srv *s = io->data;
    struct proposal *p = s->props;
    while (p && p->index < entry->index) {
        p = p->next;
    }
    struct fsm_result scratch;
    struct fsm_result *res = (p && p->index == entry->index) ? &p->res : &scratch;
    memset(res, 0, sizeof *res);
    if (entry->type == RAFT_COMMAND) {
        fsm_apply(s->fsm, entry->index, entry->data, entry->len, res);
        if (s->apply_hook) {
            s->apply_hook(s->apply_hook_arg, entry->index, res);
        }
    } else {
        fsm_apply_noop(s->fsm, entry->index);
    }
    if (res != &scratch) {
        p->applied = true;
    }
}

static uint64_t io_now_ms(struct raft_io *io)
{
    (void)io;
    return srv__mono_ms();
}

static uint64_t io_random(struct raft_io *io)
{
    struct srv *s = io->data;
    /* xorshift64*: election jitter needs spread, not secrecy. */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1DULL;
}

/* ---- events --------------------------------------------------------------------- */

static void check_store(struct srv *s)
{
    struct cv_err err = {0};
    if (!s->fatal_logged && store_failed(s->store, &err) != 0) {
        s->fatal_logged = true;
        cv_log(CV_LOG_ERROR, "server", "the store failed: this server stops serving",
               "error=\"%s\"", err.msg);
    }
}

static void on_store_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct srv *s = arg;
    store_dispatch(s->store);
    check_store(s);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct srv *s = arg;
    raft_tick(s->raft);
    srv__snapshot_maybe(s);
}

static void on_raft_msg(struct rpc_call *call, const void *payload, size_t len, void *arg)
{
    (void)call;
    struct srv *s = arg;
    struct raft_msg msg;
    char why[RAFT_WIRE_ERRMSG_MAX];
    int rc = raft_wire_decode(payload, len, &msg, s->wire_entries, RAFT_WIRE_MAX_ENTRIES, why,
                              sizeof why);
    if (rc != 0) {
        cv_log(CV_LOG_WARN, "server", "dropped a malformed Raft message", "peer=%s error=\"%s\"",
               rpc_call_peer(call), why);
        return;
    }
    if (msg.to != s->cfg.id) {
        return;
    }
    if (msg.type == RAFT_MSG_APPEND || msg.type == RAFT_MSG_SNAPSHOT ||
        msg.type == RAFT_MSG_TIMEOUT_NOW) {
        s->leader_heard_ms = srv__mono_ms();
    }
    raft_recv(s->raft, &msg);
}

/* ---- proposals ------------------------------------------------------------------ */

static void on_proposed(void *data, int status, raft_index index)
{
    struct proposal *p = data;
    struct srv *s = p->s;
    /* Callbacks come in index order: p is the oldest proposal. */
    struct proposal **link = &s->props;
    while (*link && *link != p) {
        link = &(*link)->next;
    }
    if (*link) {
        *link = p->next;
    }
    int cv = raft_to_cv(status);
    if (cv == 0 && !p->applied) {
        cv = CV_EINTERNAL;
    }
    if (p->cb) {
        p->cb(p->arg, cv, index, cv == 0 ? &p->res : NULL);
    }
    cv_free(p);
}

int srv_propose(struct srv *s, const void *cmd, size_t len, srv_propose_cb cb, void *arg,
                struct cv_err *err)
{
    struct proposal *p = cv_calloc(1, sizeof *p);
    p->s = s;
    p->cb = cb;
    p->arg = arg;
    raft_index index = 0;
    int rc = raft_propose(s->raft, RAFT_COMMAND, cmd, len, on_proposed, p, &index);
    if (rc != 0) {
        cv_free(p);
        return cv_err_setf(err, raft_to_cv(rc), "cannot propose: %s", raft_strerror(rc));
    }
    p->index = index;
    struct proposal **link = &s->props;
    while (*link) {
        link = &(*link)->next;
    }
    *link = p;
    return 0;
}

/* ---- open ----------------------------------------------------------------------- */

static int open_store(struct srv *s, struct store_state *st, struct cv_err *err)
{
    if (s->cfg.store == SRV_STORE_POSTGRES) {
        struct store_pg_config pc = {.conninfo = s->cfg.pg_conninfo,
                                     .schema = s->cfg.pg_schema,
                                     .reconnect_timeout_ms = s->cfg.pg_reconnect_ms};
        return store_pg_open(&pc, &s->store, st, err);
    }
    struct store_embedded_config ec = {.dir = s->cfg.data_dir, .segment_size = s->cfg.segment_size};
    return store_embedded_open(&ec, &s->store, st, err);
}

struct read_result
{
    int status;
    struct cv_err err;
    struct store_entry *entries;
    size_t n;
};

static void on_read(void *arg, int status, const struct cv_err *err, struct store_entry *entries,
                    size_t n)
{
    struct read_result *r = arg;
    r->status = status;
    if (err) {
        r->err = *err;
    }
    r->entries = entries;
    r->n = n;
}

/* Reads the durable log and starts Raft from it. The FSM starts empty and
 * is rebuilt by applying the log again as commits become known. */
static int start_raft(struct srv *s, const struct store_state *st, struct cv_err *err)
{
    struct read_result rr = {0};
    if (st->last_index >= st->first_index) {
        if (store_read(s->store, st->first_index, st->last_index, on_read, &rr) != 0) {
            return cv_err_setf(err, CV_EINTERNAL, "cannot read back the log");
        }
        store_drain(s->store);
        if (rr.status != 0) {
            return cv_err_setf(err, rr.status, "reading back the log: %s", rr.err.msg);
        }
    }
    struct raft_entry *entries = cv_calloc(rr.n ? rr.n : 1, sizeof *entries);
    for (size_t i = 0; i < rr.n; i++) {
        entries[i] = (struct raft_entry){.term = rr.entries[i].term,
                                         .index = rr.entries[i].index,
                                         .type = (enum raft_entry_type)rr.entries[i].type,
                                         .data = rr.entries[i].data,
                                         .len = rr.entries[i].len};
    }
    struct raft_config rc;
    raft_config_default(&rc);
    rc.id = s->cfg.id;
    rc.servers[rc.n_servers++] = s->cfg.id;
    for (size_t i = 0; i < s->cfg.n_peers; i++) {
        rc.servers[rc.n_servers++] = s->cfg.peers[i].id;
    }
    if (s->cfg.election_timeout_ms) {
        rc.election_timeout_ms = s->cfg.election_timeout_ms;
    }
    if (s->cfg.heartbeat_ms) {
        rc.heartbeat_ms = s->cfg.heartbeat_ms;
    }
    struct raft_durable durable = {
        .term = st->term, .vote = st->vote, .entries = entries, .n_entries = rr.n};
    struct raft_snapshot_meta snap;
    bool loaded = false;
    int lrc = srv__snapshot_load(s, st, &snap, &loaded, err);
    if (lrc != 0) {
        cv_free(entries);
        if (rr.entries) {
            store_entries_free(rr.entries, rr.n);
        }
        return lrc;
    }
    if (loaded) {
        durable.snapshot = &snap;
    }
    int code = 0;
    s->raft = raft_new(&rc, &s->io, &durable, &code);
    cv_free(entries);
    if (rr.entries) {
        store_entries_free(rr.entries, rr.n);
    }
    if (!s->raft) {
        return cv_err_setf(err, CV_EINVAL, "cannot start Raft: %s", raft_strerror(code));
    }
    return 0;
}

int srv_new(struct event_base *base, const struct srv_config *cfg, struct srv **out,
            struct cv_err *err)
{
    struct srv *s = cv_calloc(1, sizeof *s);
    s->base = base;
    s->cfg = *cfg;
    cv_buf_init(&s->wire);
    s->wire_entries = cv_calloc(RAFT_WIRE_MAX_ENTRIES, sizeof *s->wire_entries);
    if (getrandom(&s->rng, sizeof s->rng, 0) != (ssize_t)sizeof s->rng || s->rng == 0) {
        s->rng = srv__mono_ms() | 1;
    }
    s->io = (struct raft_io){.data = s,
                             .send = io_send,
                             .persist = io_persist,
                             .append = io_append,
                             .apply = io_apply,
                             .now_ms = io_now_ms,
                             .random = io_random};
    srv__snapshot_io(s);
    s->state = state_store_new(NULL);
    s->fsm = fsm_new(s->state);

    struct store_state st = {0};
    int rc = rpc_server_new(base, NULL, &s->rpc, err);
    if (rc == 0) {
        rc = rpc_server_listen(s->rpc, cfg->rpc_bind, err);
    }
    if (rc == 0) {
        rc = rpc_pool_new(base, NULL, &s->pool, err);
    }
    if (rc == 0) {
        rc = open_store(s, &st, err);
    }
    if (rc == 0) {
        rc = start_raft(s, &st, err);
    }
    store_state_free(&st);
    if (rc != 0) {
        srv_free(s);
        return rc;
    }
    if (cfg->rpc_advertise[0]) {
        snprintf(s->self_addr, sizeof s->self_addr, "%s", cfg->rpc_advertise);
    } else {
        snprintf(s->self_addr, sizeof s->self_addr, "%s", cfg->rpc_bind);
        char *colon = strrchr(s->self_addr, ':');
        if (colon && strcmp(colon, ":0") == 0) {
            snprintf(colon + 1, sizeof s->self_addr - (size_t)(colon + 1 - s->self_addr), "%u",
                     (unsigned)rpc_server_port(s->rpc));
        }
    }
    rpc_server_handle(s->rpc, RAFT_METHOD, on_raft_msg, s, NULL);
    s->store_ev =
        event_new(base, store_event_fd(s->store), EV_READ | EV_PERSIST, on_store_event, s);
    event_add(s->store_ev, NULL);
    s->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, s);
    struct timeval tick = {0, TICK_MS * 1000};
    event_add(s->tick_ev, &tick);
    s->leader_heard_ms = srv__mono_ms();
    cv_log(CV_LOG_INFO, "server", "started", "id=%llu rpc=%s store=%s term=%llu last_index=%llu",
           (unsigned long long)cfg->id, s->self_addr, store_adaptor_name(s->store),
           (unsigned long long)raft_current_term(s->raft),
           (unsigned long long)raft_last_index(s->raft));
    *out = s;
    return 0;
}

void srv_free(struct srv *s)
{
    if (!s) {
        return;
    }
    if (s->tick_ev) {
        event_free(s->tick_ev);
    }
    /* The serializing thread reads a state snapshot: let it finish first. */
    srv__snapshot_join(s);
    if (s->raft) {
        struct raft *r = s->raft;
        /* Completions still queued in the store run in store_close below;
         * with raft NULL they no longer reach the freed instance. */
        s->raft = NULL;
        raft_free(r); /* fails local proposals: their callbacks run here */
    }
    if (s->store_ev) {
        event_free(s->store_ev);
    }
    if (s->store) {
        store_close(s->store);
    }
    rpc_server_free(s->rpc);
    rpc_pool_free(s->pool);
    fsm_free(s->fsm);
    state_store_free(s->state);
    cv_buf_free(&s->wire);
    cv_free(s->wire_entries);
    srv__snapshot_free(s);
    cv_free(s);
}

void srv_set_apply_hook(struct srv *s, srv_apply_hook fn, void *arg)
{
    s->apply_hook = fn;
    s->apply_hook_arg = arg;
}

/* ---- relaying calls to the leader ---------------------------------------------- */

#define RELAY_TIMEOUT_MS 10000

static void on_relayed(const struct rpc_result *res, void *arg)
{
    rpc_reply(arg, res->status, res->err_msg, res->payload, res->len);
}

void srv_relay(struct srv *s, struct rpc_call *call, const char *method, const void *payload,
               size_t len)
{
    const char *leader = srv_leader_addr(s);
    if (!leader[0] || srv_is_leader(s)) {
        rpc_reply(call, CV_EUNAVAILABLE, "no leader is known in this region", NULL, 0);
        return;
    }
    struct cv_err err = {0};
    if (rpc_call(s->pool, leader, method, payload, len, RELAY_TIMEOUT_MS, on_relayed, call, &err) !=
        0) {
        rpc_reply(call, err.code, err.msg, NULL, 0);
    }
}

/* ---- accessors ------------------------------------------------------------------ */

int srv_transfer_leadership(struct srv *s)
{
    if (raft_state(s->raft) != RAFT_LEADER || s->cfg.n_peers == 0) {
        return CV_ENOTLEADER;
    }
    /* The most up-to-date peer takes over fastest. */
    uint64_t best = 0, best_match = 0;
    for (size_t i = 0; i < s->cfg.n_peers; i++) {
        uint64_t match = raft_match_index(s->raft, s->cfg.peers[i].id);
        if (!best || match > best_match) {
            best = s->cfg.peers[i].id;
            best_match = match;
        }
    }
    return raft_transfer(s->raft, best) == 0 ? 0 : CV_EUNAVAILABLE;
}

struct rpc_server *srv_rpc_server(struct srv *s)
{
    return s->rpc;
}

struct rpc_pool *srv_rpc_pool(struct srv *s)
{
    return s->pool;
}

uint16_t srv_rpc_port(const struct srv *s)
{
    return rpc_server_port(s->rpc);
}

struct state_store *srv_state(struct srv *s)
{
    return s->state;
}

bool srv_is_leader(const struct srv *s)
{
    return raft_state(s->raft) == RAFT_LEADER;
}

bool srv_is_ready_leader(const struct srv *s)
{
    return srv_is_leader(s) &&
           raft_term_at(s->raft, raft_commit_index(s->raft)) == raft_current_term(s->raft);
}

uint64_t srv_leader_id(const struct srv *s)
{
    return raft_leader(s->raft);
}

const char *srv_leader_addr(const struct srv *s)
{
    const char *addr = peer_addr(s, raft_leader(s->raft));
    return addr ? addr : "";
}

uint64_t srv_last_contact_ms(const struct srv *s)
{
    if (srv_is_leader(s)) {
        return 0;
    }
    return srv__mono_ms() - s->leader_heard_ms;
}

uint64_t srv_id(const struct srv *s)
{
    return s->cfg.id;
}

size_t srv_peers(const struct srv *s, struct srv_peer *out, size_t cap)
{
    size_t n = 0;
    if (n < cap) {
        out[n].id = s->cfg.id;
        snprintf(out[n].addr, sizeof out[n].addr, "%s", s->self_addr);
        n++;
    }
    for (size_t i = 0; i < s->cfg.n_peers && n < cap; i++) {
        out[n++] = s->cfg.peers[i];
    }
    return n;
}

const struct raft *srv_raft(const struct srv *s)
{
    return s->raft;
}

bool srv_failed(const struct srv *s, struct cv_err *err)
{
    return store_failed(s->store, err) != 0 || raft_state(s->raft) == RAFT_FAILED;
}
