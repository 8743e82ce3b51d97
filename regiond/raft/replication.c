/*
 * replication: AppendEntries on both sides. The leader streams entries to
 * each follower (PROBE until one lands, then up to RAFT_MAX_INFLIGHT
 * messages in flight), heartbeats, checks its quorum and commits; a
 * follower matches the leader's log, truncates a conflicting suffix,
 * answers with a hint when it cannot match, and acknowledges only what is
 * durable. The overview is at the top of raft.c.
 */
#include <string.h>

#include "regiond/raft/raft_internal.h"

/* ---- leader: replication ----------------------------------------------------- */

static void inflight_push(struct peer *p, raft_index last)
{
    unsigned slot = (p->inflight_head + p->inflight_count) % RAFT_MAX_INFLIGHT;
    p->inflight[slot] = last;
    p->inflight_count++;
}

/* Frees the slots of messages acknowledged up to `match`. */
static void inflight_free_to(struct peer *p, raft_index match)
{
    while (p->inflight_count && p->inflight[p->inflight_head] <= match) {
        p->inflight_head = (p->inflight_head + 1) % RAFT_MAX_INFLIGHT;
        p->inflight_count--;
    }
}

static void enter_probe(struct peer *p, raft_index next)
{
    p->mode = PEER_PROBE;
    p->next = next;
    p->probe_sent = false;
    p->inflight_head = 0;
    p->inflight_count = 0;
}

/* Sends entries from p->next, or an empty heartbeat at p->match. */
void raft__send_append(struct raft *r, struct peer *p, bool heartbeat)
{
    struct raft_msg m = {0};
    m.type = RAFT_MSG_APPEND;
    m.to = p->id;
    m.term = r->term;
    m.read_seq = r->read_seq;
    raft_index last = raft__last_index(r);

    if (heartbeat) {
        /* At match, which the follower holds; at 0 (always held) when the
         * entry at match was compacted away and its term is unknown here. */
        raft_index prev = p->match >= r->log.offset ? p->match : 0;
        m.prev_index = prev;
        m.prev_term = raft_log_term(&r->log, prev);
        m.commit = r->commit < prev ? r->commit : prev;
        raft__send_msg(r, &m);
        return;
    }
    if (p->mode != PEER_SNAPSHOT && p->next <= r->log.offset) {
        /* What it needs next was compacted: it gets the snapshot. */
        p->mode = PEER_SNAPSHOT;
        p->snap = r->snapshot;
        p->snap_offset = 0;
        p->snap_sent = false;
    }
    if (p->mode == PEER_SNAPSHOT) {
        raft__send_snapshot_chunk(r, p);
        return;
    }
    if (p->mode == PEER_PROBE ? p->probe_sent : p->inflight_count == RAFT_MAX_INFLIGHT) {
        return;
    }
    if (p->mode == PEER_REPLICATE && p->next > last) {
        return; /* nothing new; heartbeats carry the commit index */
    }
    m.prev_index = p->next - 1;
    m.prev_term = raft_log_term(&r->log, m.prev_index);
    size_t n = 0, bytes = 0;
    for (raft_index i = p->next; i <= last && n < RAFT_MAX_BATCH_ENTRIES; i++) {
        bytes += raft_log_get(&r->log, i)->len;
        if (n > 0 && bytes > RAFT_MAX_BATCH_BYTES) {
            break;
        }
        n++;
    }
    m.entries = n ? raft_log_get(&r->log, p->next) : NULL;
    m.n_entries = n;
    m.commit = r->commit;
    raft__send_msg(r, &m);

    if (p->mode == PEER_PROBE) {
        p->probe_sent = true;
    } else {
        p->next += n;
        inflight_push(p, p->next - 1);
    }
}

/* New entries on the leader. A follower with a message in flight gets them
 * with its next message, sent when that one is acknowledged, so that under
 * load one AppendEntries carries many entries; a full batch goes at once,
 * keeping up to RAFT_MAX_INFLIGHT messages in the pipeline. */
void raft__replicate_new_entries(struct raft *r)
{
    raft_index last = raft__last_index(r);
    for (size_t i = 0; i < r->n_servers; i++) {
        struct peer *p = &r->peers[i];
        if ((int)i == r->self) {
            continue;
        }
        if (p->mode == PEER_REPLICATE && p->inflight_count > 0 &&
            last - p->next + 1 < RAFT_MAX_BATCH_ENTRIES) {
            continue;
        }
        raft__send_append(r, p, false);
    }
}

void raft__leader_maybe_commit(struct raft *r)
{
    /* The voters' durable indexes (a leader being removed does not count
     * itself), sorted descending: the quorum-th is on a quorum. */
    raft_index matches[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        if (r->servers[i].voter) {
            matches[n++] = (int)i == r->self ? r->durable : r->peers[i].match;
        }
    }
    if (n == 0) {
        return;
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && matches[j] > matches[j - 1]; j--) {
            raft_index t = matches[j];
            matches[j] = matches[j - 1];
            matches[j - 1] = t;
        }
    }
    raft_index candidate = matches[raft__quorum(r) - 1];
    if (candidate > r->commit && raft_log_term(&r->log, candidate) == r->term) {
        raft__advance_commit(r, candidate);
    }
}

void raft__leader_on_append_result(struct raft *r, const struct raft_msg *m)
{
    int pos = raft__server_position(r, m->from);
    if (pos < 0) {
        return;
    }
    struct peer *p = &r->peers[pos];
    p->recent_active = true;
    if (m->read_seq > p->read_seq) {
        p->read_seq = m->read_seq;
        raft__process_reads(r);
    }
    if (m->rejected) {
        if (p->mode == PEER_SNAPSHOT || m->reject_hint <= p->match) {
            return; /* stale: answers a message sent before a later success */
        }
        raft_index next = m->reject_hint;
        if (next > m->last_index + 1) {
            next = m->last_index + 1;
        }
        if (next <= p->match) {
            next = p->match + 1;
        }
        enter_probe(p, next);
        raft__send_append(r, p, false);
        return;
    }
    if (m->match_index > p->match) {
        p->match = m->match_index;
        p->progressed = true;
    }
    if (p->mode == PEER_PROBE && p->match + 1 >= p->next) {
        /* The follower holds everything before next: stream from here on. */
        p->mode = PEER_REPLICATE;
        p->probe_sent = false;
        p->inflight_head = 0;
        p->inflight_count = 0;
        if (p->next <= p->match) {
            p->next = p->match + 1;
        }
    } else if (p->mode == PEER_REPLICATE) {
        inflight_free_to(p, p->match);
    }
    raft__leader_maybe_commit(r);
    if (r->state == RAFT_LEADER) {
        raft__send_append(r, p, false);
        raft__maybe_send_timeout_now(r, p);
    }
}

void raft__leader_heartbeat(struct raft *r)
{
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i == r->self) {
            continue;
        }
        struct peer *p = &r->peers[i];
        if (p->mode == PEER_SNAPSHOT) {
            p->snap_sent = p->snap_sent && p->progressed; /* resend a chunk that got no answer */
        } else if (p->match < raft__last_index(r) && !p->progressed) {
            /* Nothing acknowledged for a whole interval: a message was lost,
             * or the follower restarted. Resend from what it has. */
            enter_probe(p, p->match + 1);
        } else if (p->mode == PEER_PROBE) {
            p->probe_sent = false;
        }
        p->progressed = false;
        raft__send_append(r, p, true);
        raft__send_append(r, p, false);
    }
}

void raft__leader_check_quorum(struct raft *r)
{
    size_t active = raft__self_voter(r) ? 1 : 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i != r->self) {
            active += r->peers[i].recent_active && r->servers[i].voter;
            r->peers[i].recent_active = false;
        }
    }
    if (active < raft__quorum(r)) {
        raft__become_follower(r, r->term, 0);
    }
}

/* ---- follower: AppendEntries ------------------------------------------------ */

void raft__send_ack(struct raft *r)
{
    raft_index match = r->ack_owed < r->durable ? r->ack_owed : r->durable;
    if (r->leader == 0 || r->state != RAFT_FOLLOWER) {
        return;
    }
    struct raft_msg m = {0};
    m.type = RAFT_MSG_APPEND_RESULT;
    m.to = r->leader;
    m.term = r->term;
    m.match_index = match;
    m.last_index = raft__last_index(r);
    m.read_seq = r->read_seq_seen;
    raft__send_msg(r, &m);
    if (match >= r->ack_owed) {
        r->ack_owed = 0;
    }
}

void raft__reject_append(struct raft *r, const struct raft_msg *m, raft_index hint)
{
    struct raft_msg out = {0};
    out.type = RAFT_MSG_APPEND_RESULT;
    out.to = m->from;
    out.term = r->term;
    out.rejected = true;
    out.reject_hint = hint;
    out.last_index = raft__last_index(r);
    out.read_seq = m->term == r->term ? m->read_seq : 0;
    raft__send_msg(r, &out);
}

void raft__follower_on_append(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->term || r->state != RAFT_FOLLOWER || r->leader != m->from) {
        raft__become_follower(r, m->term, m->from);
    }
    r->leader_contact = raft__now(r);
    raft__reset_election_timer(r);
    if (m->read_seq > r->read_seq_seen) {
        r->read_seq_seen = m->read_seq;
    }

    if (m->prev_index > raft__last_index(r)) {
        raft__reject_append(r, m, raft__last_index(r) + 1);
        return;
    }
    /* Entries at or below our snapshot are committed, so they match. */
    raft_term have = raft_log_term(&r->log, m->prev_index);
    if (m->prev_index > r->log.offset && have != m->prev_term) {
        /* Hint: the first index of our conflicting term (never at or below
         * commit, which matches every leader's log). */
        raft_index hint = m->prev_index;
        while (hint - 1 > r->commit && raft_log_term(&r->log, hint - 1) == have) {
            hint--;
        }
        raft__reject_append(r, m, hint);
        return;
    }

    for (size_t i = 0; i < m->n_entries; i++) {
        if (m->entries[i].index != m->prev_index + 1 + i) {
            return; /* not contiguous: a corrupt message */
        }
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index <= r->log.offset) {
            continue; /* covered by our snapshot */
        }
        if (e->index <= raft__last_index(r)) {
            if (raft_log_term(&r->log, e->index) == e->term) {
                continue; /* already have it */
            }
            if (e->index <= r->commit) {
                return; /* a committed entry never changes: this message is corrupt */
            }
            raft__truncate_log(r, e->index);
        }
        raft_log_append(&r->log, e->term, e->type, e->data, e->len);
        if (e->type == RAFT_CONFIG) {
            raft__config_appended(r, raft_log_get(&r->log, e->index));
        }
    }
    raft__flush_appends(r);

    raft_index matched = m->prev_index + m->n_entries;
    if (matched > r->verified) {
        r->verified = matched;
    }
    raft_index commit = m->commit < matched ? m->commit : matched;
    raft__advance_commit(r, commit);
    if (matched > r->ack_owed) {
        r->ack_owed = matched;
    }
    /* Answer now with what is durable (a heartbeat's answer keeps the
     * leader's quorum check alive); the rest is acknowledged when written. */
    raft__send_ack(r);
}
