/*
 * raft: the consensus core: roles, elections, replication, commit, apply.
 *
 * How it works, in one place (Raft thesis chapter 3 with the extensions of
 * chapter 9 and etcd's flow control):
 *
 * Elections. A follower whose election timer expires runs a pre-vote at
 * term+1 without changing its own term; only when a quorum would vote for
 * it does it become a candidate, bump its term and vote for itself. A
 * server that heard from a leader less than an election timeout ago
 * refuses pre-votes and votes (the leader lease), so a server returning
 * from a partition cannot depose a healthy leader. With check-quorum, a
 * leader that has not heard from a quorum within an election timeout
 * steps down.
 *
 * Persistence. Term and vote are persisted through io->persist; until that
 * completes every outgoing message waits in the outbox. Log writes go
 * through io->append, one request outstanding at a time: entries that
 * arrive meanwhile are written together by the next request (group commit
 * for free under load). `dirty_from` is the first index not yet handed to
 * io->append (or changed since); everything below it and up to the last
 * completed request is durable.
 *
 * Replication. The leader keeps per follower the highest index known to
 * match (match) and the next index to send (next). A follower in PROBE
 * mode gets one AppendEntries at a time until one succeeds; then it enters
 * REPLICATE mode, where up to RAFT_MAX_INFLIGHT messages are sent without
 * waiting, next advancing optimistically. A rejection carries a hint (the
 * first index of the conflicting term, or one past the follower's last
 * entry), so a follower far behind costs one round trip per term, not per
 * entry. Heartbeats are empty AppendEntries at prev = match; a follower
 * that acknowledged nothing since the last heartbeat falls back to PROBE.
 *
 * Commit. The leader commits the highest index a quorum has durably
 * stored, counting itself by its own durable index, and only when that
 * entry is of the current term (thesis §3.6.2); a no-op appended on
 * election lets it commit promptly.
 */
#include "regiond/raft/raft.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/raft/raft_internal.h"

const char *raft_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case RAFT_ENOTLEADER:
        return "not the leader";
    case RAFT_ELEADERSHIPLOST:
        return "leadership lost before the entry committed";
    case RAFT_ESHUTDOWN:
        return "shutting down";
    case RAFT_EIO:
        return "persistence failed";
    case RAFT_EINVAL:
        return "invalid argument";
    case RAFT_ETOOBIG:
        return "entry too large";
    case RAFT_EBUSY:
        return "a leadership transfer is in progress";
    }
    return "unknown error";
}

const char *raft_state_name(enum raft_state state)
{
    static const char *const names[] = {"follower", "precandidate", "candidate", "leader",
                                        "failed"};
    return (unsigned)state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

void raft_config_default(struct raft_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->election_timeout_ms = 1000;
    cfg->heartbeat_ms = 100;
    cfg->pre_vote = true;
    cfg->check_quorum = true;
}

/* ---- helpers ------------------------------------------------------------- */

uint64_t raft__now(struct raft *r)
{
    return r->io->now_ms(r->io);
}

size_t raft__quorum(const struct raft *r)
{
    size_t voters = 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        voters += r->servers[i].voter;
    }
    return voters / 2 + 1;
}

raft_index raft__last_index(const struct raft *r)
{
    return raft_log_last_index(&r->log);
}

raft_term raft__last_term(const struct raft *r)
{
    return raft_log_term(&r->log, raft__last_index(r));
}

int raft__server_position(const struct raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_servers; i++) {
        if (r->servers[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

void raft__reset_election_timer(struct raft *r)
{
    uint64_t base = r->cfg.election_timeout_ms;
    r->election_deadline = raft__now(r) + base + r->io->random(r->io) % base;
}

/* True while a leader was heard from within the minimum election timeout:
 * votes and pre-votes are then refused, so that a server coming back from a
 * partition cannot depose a leader the others still follow. */
bool raft__in_leader_lease(struct raft *r)
{
    if (!r->cfg.check_quorum && !r->cfg.pre_vote) {
        return false;
    }
    if (r->state == RAFT_LEADER) {
        return true;
    }
    return r->leader != 0 && raft__now(r) - r->leader_contact < r->cfg.election_timeout_ms;
}

/* ---- sending and persistence ----------------------------------------------- */

void raft__send_msg(struct raft *r, struct raft_msg *m)
{
    m->from = r->cfg.id;
    if (!r->persisting) {
        r->io->send(r->io, m);
        return;
    }
    /* Only followers and candidates persist, and they send no entries. */
    if (m->n_entries != 0 || m->len != 0 || r->outbox_len == OUTBOX_MAX) {
        return; /* dropping is always safe: the peer will ask again */
    }
    if (!r->outbox) {
        r->outbox = cv_calloc(OUTBOX_MAX, sizeof *r->outbox);
    }
    r->outbox[r->outbox_len++] = *m;
}

void raft__persist_term_vote(struct raft *r)
{
    if (r->persisting) {
        r->persist_again = true;
        return;
    }
    r->persisting = true;
    r->io->persist(r->io, r->term, r->vote);
}

void raft__set_term(struct raft *r, raft_term term, raft_id vote)
{
    r->term = term;
    r->vote = vote;
    raft__persist_term_vote(r);
}

/* Hands the entries not yet written to io->append, unless a request is
 * outstanding (its completion will come back here). */
void raft__flush_appends(struct raft *r)
{
    raft_index last = raft__last_index(r);
    if (r->append_last != 0 || r->dirty_from > last || r->state == RAFT_FAILED) {
        return;
    }
    r->append_last = last;
    r->io->append(r->io, raft_log_get(&r->log, r->dirty_from), last - r->dirty_from + 1);
    r->dirty_from = last + 1;
}

void raft__truncate_log(struct raft *r, raft_index from)
{
    raft_log_truncate(&r->log, from);
    if (r->config_index >= from) {
        raft__config_from_log(r); /* the change was undone: the one before is in force */
    }
    if (r->dirty_from > from) {
        r->dirty_from = from;
    }
    if (r->durable >= from) {
        r->durable = from - 1;
    }
    if (r->verified >= from) {
        r->verified = from - 1;
    }
}

/* ---- proposals and applying ---------------------------------------------- */

/* Removes and returns the oldest pending proposal. The array is compacted
 * lazily so that resolving a large batch costs O(n). */
static struct pending pop_pending(struct raft *r)
{
    struct pending p = r->pending[r->pending_head++];
    if (r->pending_head == r->pending_len) {
        r->pending_head = 0;
        r->pending_len = 0;
    } else if (r->pending_head > 1024 && r->pending_head * 2 > r->pending_len) {
        memmove(r->pending, r->pending + r->pending_head,
                (r->pending_len - r->pending_head) * sizeof *r->pending);
        r->pending_len -= r->pending_head;
        r->pending_head = 0;
    }
    return p;
}

/* Each callback runs after its proposal left the array, so a callback may
 * propose again. */
void raft__fail_pending(struct raft *r, int status)
{
    size_t n = r->pending_len - r->pending_head;
    for (size_t i = 0; i < n && r->pending_head < r->pending_len; i++) {
        struct pending p = pop_pending(r);
        p.cb(p.data, status, p.index);
    }
}

void raft__apply_committed(struct raft *r)
{
    raft_index upto = r->commit < raft__last_index(r) ? r->commit : raft__last_index(r);
    while (r->applied < upto) {
        r->applied++;
        r->io->apply(r->io, raft_log_get(&r->log, r->applied));
    }
    /* A proposal succeeded when the entry applied at its index is its own;
     * another term's entry there means it was overwritten. */
    while (r->pending_head < r->pending_len && r->pending[r->pending_head].index <= r->applied) {
        struct pending p = pop_pending(r);
        bool ours = raft_log_term(&r->log, p.index) == p.term;
        p.cb(p.data, ours ? 0 : RAFT_ELEADERSHIPLOST, p.index);
    }
    raft__process_reads(r);
}

void raft__advance_commit(struct raft *r, raft_index commit)
{
    if (commit > r->commit) {
        r->commit = commit;
        raft__apply_committed(r);
        raft__config_maybe_step_down(r);
    }
}

/* ---- roles ----------------------------------------------------------------- */

void raft__become_follower(struct raft *r, raft_term term, raft_id leader)
{
    bool was_leader = r->state == RAFT_LEADER;
    bool was_follower = r->state == RAFT_FOLLOWER;
    if (term > r->term) {
        raft__set_term(r, term, 0);
        r->verified = 0;
        r->ack_owed = 0;
        r->read_seq_seen = 0;
    }
    r->state = RAFT_FOLLOWER;
    r->leader = leader;
    if (leader) {
        r->leader_contact = raft__now(r);
    }
    /* A follower's timer restarts only when it hears from a leader (or
     * grants a vote, in election.c): a higher term alone, say from a
     * candidate whose vote it refuses, must not hold back its own election
     * (Raft Fig. 2), or a doomed candidate could keep the one server that
     * can win from ever timing out. */
    if (leader || !was_follower) {
        raft__reset_election_timer(r);
    }
    if (was_leader) {
        r->transferee = 0;
        raft__fail_pending(r, RAFT_ELEADERSHIPLOST);
        raft__fail_reads(r, RAFT_ELEADERSHIPLOST);
    }
}

void raft__broadcast_append(struct raft *r)
{
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i != r->self) {
            raft__send_append(r, &r->peers[i], false);
        }
    }
}

void raft__become_leader(struct raft *r)
{
    r->state = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->transferee = 0;
    r->leader_contact = raft__now(r);
    for (size_t i = 0; i < r->n_servers; i++) {
        struct peer *p = &r->peers[i];
        memset(p, 0, sizeof *p);
        p->id = r->servers[i].id;
        p->next = raft__last_index(r) + 1;
        p->mode = PEER_PROBE;
        p->recent_active = true;
    }
    r->heartbeat_due = raft__now(r) + r->cfg.heartbeat_ms;
    r->quorum_check_due = raft__now(r) + r->cfg.election_timeout_ms;
    /* A no-op of the new term lets the leader commit what it inherited. */
    raft_log_append(&r->log, r->term, RAFT_NOOP, NULL, 0);
    raft__flush_appends(r);
    raft__broadcast_append(r);
}

void raft__request_votes(struct raft *r, enum raft_msg_type type, raft_term term, bool transfer)
{
    memset(r->granted, 0, sizeof r->granted);
    if (r->self >= 0) {
        r->granted[r->self] = true;
    }
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i == r->self || !r->servers[i].voter) {
            continue;
        }
        struct raft_msg m = {0};
        m.type = type;
        m.to = r->servers[i].id;
        m.term = term;
        m.last_log_index = raft__last_index(r);
        m.last_log_term = raft__last_term(r);
        m.transfer = transfer;
        raft__send_msg(r, &m);
    }
}

size_t raft__count_granted(const struct raft *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        n += r->granted[i] && r->servers[i].voter;
    }
    return n;
}

void raft__become_candidate(struct raft *r, bool transfer)
{
    r->state = RAFT_CANDIDATE;
    r->leader = 0;
    raft__set_term(r, r->term + 1, r->cfg.id);
    r->verified = 0;
    r->ack_owed = 0;
    r->read_seq_seen = 0;
    raft__reset_election_timer(r);
    raft__request_votes(r, RAFT_MSG_VOTE, r->term, transfer);
    if (raft__count_granted(r) >= raft__quorum(r) && !r->persisting) {
        raft__become_leader(r); /* a single-server cluster whose vote is durable */
    }
}

void raft__start_election(struct raft *r)
{
    if (!r->cfg.pre_vote) {
        raft__become_candidate(r, false);
        return;
    }
    r->state = RAFT_PRECANDIDATE;
    r->leader = 0;
    raft__reset_election_timer(r);
    raft__request_votes(r, RAFT_MSG_PREVOTE, r->term + 1, false);
    if (raft__count_granted(r) >= raft__quorum(r)) {
        raft__become_candidate(r, false);
    }
}

/* ---- public entry points -------------------------------------------------------- */

void raft_recv(struct raft *r, const struct raft_msg *m)
{
    if (r->state == RAFT_FAILED || m->to != r->cfg.id || m->from == r->cfg.id) {
        return;
    }
    /* Answers come only from members; a request may come from a server we
     * do not know yet (a leader or candidate of a configuration that is not
     * in our log yet). */
    bool request = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT ||
                   m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE ||
                   m->type == RAFT_MSG_TIMEOUT_NOW;
    if (!request && raft__server_position(r, m->from) < 0) {
        return;
    }
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
        raft__on_prevote(r, m);
        return;
    case RAFT_MSG_PREVOTE_RESULT:
        raft__on_vote_result(r, m, true);
        return;
    case RAFT_MSG_VOTE:
        raft__on_vote(r, m);
        return;
    case RAFT_MSG_VOTE_RESULT:
        raft__on_vote_result(r, m, false);
        return;
    case RAFT_MSG_APPEND:
        if (m->term < r->term) {
            /* A deposed leader: tell it the term so that it steps down. */
            raft__reject_append(r, m, 0);
            return;
        }
        raft__follower_on_append(r, m);
        return;
    case RAFT_MSG_SNAPSHOT:
        if (m->term < r->term) {
            raft__reject_append(r, m, 0); /* tells the deposed leader our term */
            return;
        }
        raft__on_snapshot(r, m);
        return;
    case RAFT_MSG_SNAPSHOT_RESULT:
        if (m->term > r->term) {
            raft__become_follower(r, m->term, 0);
        } else if (m->term == r->term && r->state == RAFT_LEADER) {
            raft__on_snapshot_result(r, m);
        }
        return;
    case RAFT_MSG_TIMEOUT_NOW:
        if (m->term == r->term && r->state == RAFT_FOLLOWER && r->leader == m->from &&
            raft__self_voter(r)) {
            raft__campaign_now(r);
        }
        return;
    case RAFT_MSG_APPEND_RESULT:
        if (m->term > r->term) {
            raft__become_follower(r, m->term, 0);
        } else if (m->term == r->term && r->state == RAFT_LEADER) {
            raft__leader_on_append_result(r, m);
        }
        return;
    }
}

void raft_tick(struct raft *r)
{
    if (r->state == RAFT_FAILED) {
        return;
    }
    uint64_t t = raft__now(r);
    if (r->state == RAFT_LEADER) {
        if (r->cfg.check_quorum && t >= r->quorum_check_due) {
            r->quorum_check_due = t + r->cfg.election_timeout_ms;
            raft__leader_check_quorum(r);
            if (r->state != RAFT_LEADER) {
                return;
            }
        }
        if (r->transferee && t >= r->transfer_deadline) {
            r->transferee = 0; /* the target did not take over: carry on leading */
        }
        if (t >= r->heartbeat_due) {
            r->heartbeat_due = t + r->cfg.heartbeat_ms;
            raft__leader_heartbeat(r);
        }
        return;
    }
    if (t >= r->election_deadline) {
        if (raft__self_voter(r)) {
            raft__start_election(r);
        } else {
            raft__reset_election_timer(r); /* not a voter: wait for a leader */
        }
    }
}

void raft__fail_stop(struct raft *r)
{
    r->state = RAFT_FAILED;
    r->leader = 0;
    r->outbox_len = 0;
    r->transferee = 0;
    raft__fail_pending(r, RAFT_EIO);
    raft__fail_reads(r, RAFT_EIO);
}

void raft_persisted(struct raft *r, int status)
{
    if (r->state == RAFT_FAILED) {
        return;
    }
    if (status != 0) {
        raft__fail_stop(r);
        return;
    }
    if (r->persist_again) {
        r->persist_again = false;
        r->io->persist(r->io, r->term, r->vote);
        return;
    }
    r->persisting = false;
    for (size_t i = 0; i < r->outbox_len; i++) {
        r->io->send(r->io, &r->outbox[i]);
    }
    r->outbox_len = 0;
    if (r->state == RAFT_CANDIDATE && raft__count_granted(r) >= raft__quorum(r)) {
        raft__become_leader(r); /* a single-server cluster, now that its vote is durable */
    }
}

void raft_appended(struct raft *r, raft_index last, int status)
{
    if (r->state == RAFT_FAILED) {
        return;
    }
    if (status != 0) {
        raft__fail_stop(r);
        return;
    }
    if (last != r->append_last) {
        return; /* not the request we made: ignore rather than trust it */
    }
    r->append_last = 0;
    /* Everything below dirty_from was in this or an earlier request; a
     * truncation or an installed snapshot since may have set more. */
    raft_index durable = last < r->dirty_from - 1 ? last : r->dirty_from - 1;
    if (durable > r->durable) {
        r->durable = durable;
    }
    raft__flush_appends(r);
    if (r->state == RAFT_LEADER) {
        raft__leader_maybe_commit(r);
    } else if (r->ack_owed) {
        raft__send_ack(r);
    }
}

int raft_propose(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                 raft_propose_cb cb, void *cb_data, raft_index *index)
{
    if (type != RAFT_COMMAND && type != RAFT_BARRIER) {
        return RAFT_EINVAL;
    }
    return raft__propose_entry(r, type, data, len, cb, cb_data, index);
}

int raft__propose_entry(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                        raft_propose_cb cb, void *cb_data, raft_index *index)
{
    if (r->state == RAFT_FAILED) {
        return RAFT_EIO;
    }
    if (r->state != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (r->transferee) {
        return RAFT_EBUSY;
    }
    if (len > RAFT_MAX_ENTRY_BYTES) {
        return RAFT_ETOOBIG;
    }
    raft_log_append(&r->log, r->term, type, data, len);
    raft_index at = raft__last_index(r);
    if (type == RAFT_CONFIG) {
        raft__config_appended(r, raft_log_get(&r->log, at));
    }
    if (r->pending_len == r->pending_cap) {
        r->pending_cap = r->pending_cap ? r->pending_cap * 2 : 64;
        r->pending = cv_reallocarray(r->pending, r->pending_cap, sizeof *r->pending);
    }
    r->pending[r->pending_len++] = (struct pending){at, r->term, cb, cb_data};
    if (index) {
        *index = at;
    }
    raft__flush_appends(r);
    raft__replicate_new_entries(r);
    raft__leader_maybe_commit(r); /* a single voter commits alone */
    return 0;
}

/* A bootstrap configuration lists distinct, non-zero ids and this server,
 * or nothing at all (a server joining an existing cluster). */
static bool config_valid(const struct raft_config *cfg)
{
    if (cfg->id == 0 || cfg->n_servers > RAFT_MAX_SERVERS || cfg->election_timeout_ms == 0 ||
        cfg->heartbeat_ms == 0 || cfg->heartbeat_ms >= cfg->election_timeout_ms) {
        return false;
    }
    bool self = cfg->n_servers == 0;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        if (cfg->servers[i] == 0) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (cfg->servers[j] == cfg->servers[i]) {
                return false;
            }
        }
        self = self || cfg->servers[i] == cfg->id;
    }
    return self;
}

struct raft *raft_new(const struct raft_config *cfg, struct raft_io *io,
                      const struct raft_durable *durable, int *err)
{
    if (!config_valid(cfg)) {
        if (err) {
            *err = RAFT_EINVAL;
        }
        return NULL;
    }
    struct raft *r = cv_calloc(1, sizeof *r);
    r->cfg = *cfg;
    r->io = io;
    r->state = RAFT_FOLLOWER;
    raft_log_init(&r->log);
    r->term = durable ? durable->term : 0;
    r->vote = durable ? durable->vote : 0;
    if (durable && durable->snapshot) {
        r->snapshot = *durable->snapshot;
        r->has_snapshot = true;
        raft_log_reset(&r->log, r->snapshot.index, r->snapshot.term);
        r->commit = r->snapshot.index;
        r->applied = r->snapshot.index;
    }
    for (size_t i = 0; durable && i < durable->n_entries; i++) {
        const struct raft_entry *e = &durable->entries[i];
        if (e->index <= r->log.offset) {
            continue; /* covered by the snapshot */
        }
        if (e->index != raft__last_index(r) + 1) {
            raft_free(r);
            if (err) {
                *err = RAFT_EINVAL; /* a hole: not a log this instance could have written */
            }
            return NULL;
        }
        raft_log_append(&r->log, e->term, e->type, e->data, e->len);
    }
    r->durable = raft__last_index(r);
    r->dirty_from = r->durable + 1;
    raft__config_from_log(r);
    raft__reset_election_timer(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r) {
        return;
    }
    raft__fail_pending(r, RAFT_ESHUTDOWN);
    raft__fail_reads(r, RAFT_ESHUTDOWN);
    raft_log_free(&r->log);
    cv_free(r->chunk);
    cv_free(r->outbox);
    cv_free(r->pending);
    cv_free(r);
}

enum raft_state raft_state(const struct raft *r)
{
    return r->state;
}

raft_term raft_current_term(const struct raft *r)
{
    return r->term;
}

raft_id raft_leader(const struct raft *r)
{
    return r->leader;
}

raft_index raft_commit_index(const struct raft *r)
{
    return r->commit;
}

raft_index raft_applied_index(const struct raft *r)
{
    return r->applied;
}

raft_index raft_last_index(const struct raft *r)
{
    return raft__last_index(r);
}

raft_term raft_term_at(const struct raft *r, raft_index index)
{
    return raft_log_term(&r->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    return raft_log_get(&r->log, index);
}
