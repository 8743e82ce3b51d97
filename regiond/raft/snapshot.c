/*
 * snapshot: log compaction and InstallSnapshot (Raft §7, thesis chapter 5).
 *
 * The caller snapshots its state machine and reports it with
 * raft_snapshot_taken(); the in-memory log then drops what the snapshot
 * covers, but for `trailing` entries. A follower whose next entry was
 * dropped is sent the snapshot instead, one SNAPSHOT_CHUNK at a time: the
 * leader reads each chunk through io->snapshot_read and sends the next when
 * the follower acknowledges the last, resending after a heartbeat interval
 * without progress. The follower writes the chunks in order through
 * io->snapshot_write, and once the last is durable installs the snapshot
 * (io->snapshot_install): its state machine takes the snapshot's state, its
 * log restarts after the snapshot's index, and the configuration in force
 * is the snapshot's.
 */
#include <string.h>

#include "common/mem.h"
#include "regiond/raft/raft_internal.h"

static bool same_snapshot(const struct raft_snapshot_meta *a, const struct raft_snapshot_meta *b)
{
    return a->index == b->index && a->term == b->term && a->size == b->size;
}

/* The configuration in force at `index` (<= last): the last RAFT_CONFIG
 * entry at or before it, else the previous snapshot's, else the bootstrap. */
static void config_at(const struct raft *r, raft_index index, struct raft_snapshot_meta *meta)
{
    if (r->config_index <= index) {
        memcpy(meta->servers, r->servers, r->n_servers * sizeof *r->servers);
        meta->n_servers = r->n_servers;
        return;
    }
    for (raft_index i = index; i > r->log.offset; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        int n = e->type == RAFT_CONFIG ? raft__config_decode(e->data, e->len, meta->servers) : -1;
        if (n >= 0) {
            meta->n_servers = (size_t)n;
            return;
        }
    }
    if (r->has_snapshot) {
        memcpy(meta->servers, r->snapshot.servers, r->snapshot.n_servers * sizeof *meta->servers);
        meta->n_servers = r->snapshot.n_servers;
        return;
    }
    for (size_t i = 0; i < r->cfg.n_servers; i++) {
        meta->servers[i] = (struct raft_server){r->cfg.servers[i], true};
    }
    meta->n_servers = r->cfg.n_servers;
}

int raft_snapshot_taken(struct raft *r, raft_index index, uint64_t size, raft_index trailing)
{
    if (index == 0 || index > r->applied || raft_log_term(&r->log, index) == 0 ||
        (r->has_snapshot && index <= r->snapshot.index)) {
        return RAFT_EINVAL;
    }
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = index;
    meta.term = raft_log_term(&r->log, index);
    meta.size = size;
    config_at(r, index, &meta);
    r->snapshot = meta;
    r->has_snapshot = true;

    /* Drop what the snapshot covers, keeping `trailing` entries; never an
     * entry not yet handed to the disk. */
    raft_index upto = index > trailing ? index - trailing : 0;
    if (upto >= r->dirty_from) {
        upto = r->dirty_from - 1;
    }
    if (upto > r->log.offset) {
        raft_log_compact(&r->log, upto);
    }
    return 0;
}

const struct raft_snapshot_meta *raft_snapshot(const struct raft *r)
{
    return r->has_snapshot ? &r->snapshot : NULL;
}

/* ---- leader ------------------------------------------------------------------ */

void raft__send_snapshot_chunk(struct raft *r, struct peer *p)
{
    if (p->mode != PEER_SNAPSHOT || p->snap_sent) {
        return;
    }
    if (!r->has_snapshot || !r->io->snapshot_read) {
        return;
    }
    if (!same_snapshot(&p->snap, &r->snapshot)) {
        /* a newer snapshot was taken: send that one instead, from the start */
        p->snap = r->snapshot;
        p->snap_offset = 0;
    }
    if (!r->chunk) {
        r->chunk = cv_malloc(SNAPSHOT_CHUNK);
    }
    size_t len = 0;
    if (r->io->snapshot_read(r->io, &p->snap, p->snap_offset, r->chunk, SNAPSHOT_CHUNK, &len) !=
        0) {
        return; /* unreadable now; the next heartbeat tries again */
    }
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT;
    m.to = p->id;
    m.term = r->term;
    m.snapshot = p->snap;
    m.offset = p->snap_offset;
    m.data = r->chunk;
    m.len = len;
    raft__send_msg(r, &m);
    p->snap_sent = true;
}

void raft__on_snapshot_result(struct raft *r, const struct raft_msg *m)
{
    int pos = raft__server_position(r, m->from);
    if (pos < 0) {
        return;
    }
    struct peer *p = &r->peers[pos];
    p->recent_active = true;
    if (p->mode != PEER_SNAPSHOT || !same_snapshot(&m->snapshot, &p->snap)) {
        return; /* an answer about another snapshot */
    }
    if (m->offset >= p->snap.size) {
        /* Done: the follower holds all the snapshot covers (match_index may
         * be lower when part of it is not yet durable there). */
        if (m->match_index > p->match) {
            p->match = m->match_index;
        }
        p->progressed = true;
        p->mode = PEER_PROBE;
        p->next = p->snap.index + 1;
        p->probe_sent = false;
        raft__leader_maybe_commit(r);
        if (r->state == RAFT_LEADER) {
            raft__send_append(r, p, false);
        }
        return;
    }
    if (m->offset != p->snap_offset) {
        p->progressed = m->offset > p->snap_offset;
        p->snap_offset = m->offset;
    }
    p->snap_sent = false;
    raft__send_snapshot_chunk(r, p);
}

/* ---- follower ---------------------------------------------------------------- */

static void reply(struct raft *r, const struct raft_snapshot_meta *meta, uint64_t offset,
                  raft_index match)
{
    struct raft_msg out;
    memset(&out, 0, sizeof out);
    out.type = RAFT_MSG_SNAPSHOT_RESULT;
    out.to = r->leader;
    out.term = r->term;
    out.snapshot = *meta;
    out.offset = offset;
    out.match_index = match;
    raft__send_msg(r, &out);
}

/* We already hold everything the snapshot covers: tell the leader it is
 * done, acknowledging only what is durable here. */
static void hold_all(struct raft *r, const struct raft_snapshot_meta *meta)
{
    reply(r, meta, meta->size, meta->index < r->durable ? meta->index : r->durable);
}

void raft__on_snapshot(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->term || r->state != RAFT_FOLLOWER || r->leader != m->from) {
        raft__become_follower(r, m->term, m->from);
    }
    r->leader_contact = raft__now(r);
    raft__reset_election_timer(r);
    const struct raft_snapshot_meta *meta = &m->snapshot;

    if (r->recv_writing) {
        return; /* one write at a time; the leader resends after a heartbeat interval */
    }
    if (meta->index <= r->commit) {
        hold_all(r, meta);
        return;
    }
    if (r->receiving && same_snapshot(&r->recv, meta)) {
        if (m->offset != r->recv_offset) {
            reply(r, meta, r->recv_offset, 0); /* resume where we are */
            return;
        }
    } else if (m->offset != 0) {
        reply(r, meta, 0, 0); /* a snapshot we have no start of: from the beginning */
        return;
    } else {
        r->receiving = true;
        r->recv = *meta;
        r->recv_offset = 0;
    }
    /* Written so that an offset near UINT64_MAX cannot wrap the sum. */
    if (m->offset > meta->size || m->len > meta->size - m->offset || !r->io->snapshot_write) {
        return; /* a chunk past the end: corrupt */
    }
    r->recv_writing = true;
    r->recv_pending = m->offset + m->len;
    r->io->snapshot_write(r->io, meta, m->offset, m->data, m->len);
}

/* Replaces the state machine by the received snapshot. When the log holds
 * the snapshot's last entry with its term, the entries after it are kept
 * (Raft Fig. 13, step 6): they may be acknowledged, committed entries. */
static void install(struct raft *r)
{
    const struct raft_snapshot_meta *meta = &r->recv;
    bool keep_log = raft_log_term(&r->log, meta->index) == meta->term;
    r->io->snapshot_install(r->io, meta, keep_log);
    if (keep_log) {
        raft_log_compact(&r->log, meta->index);
        if (r->verified < meta->index) {
            r->verified = meta->index;
        }
    } else {
        raft_log_reset(&r->log, meta->index, meta->term);
        r->verified = meta->index;
        r->ack_owed = 0;
        /* The entries after the snapshot are gone: nothing past it is
         * durable or waits to be written. */
        r->dirty_from = meta->index + 1;
        r->durable = meta->index;
    }
    /* Entries up to the snapshot need no writing any more: it holds them. */
    if (r->dirty_from <= meta->index) {
        r->dirty_from = meta->index + 1;
    }
    if (r->durable < meta->index) {
        r->durable = meta->index;
    }
    if (meta->index > r->commit) {
        r->commit = meta->index;
    }
    r->applied = meta->index;
    r->snapshot = *meta;
    r->has_snapshot = true;
    r->receiving = false;
    raft__config_from_log(r);
}

void raft_snapshot_written(struct raft *r, int status)
{
    if (r->state == RAFT_FAILED || !r->recv_writing) {
        return;
    }
    if (status != 0) {
        raft__fail_stop(r);
        return;
    }
    r->recv_writing = false;
    r->recv_offset = r->recv_pending;
    struct raft_snapshot_meta meta = r->recv;
    if (r->recv_offset < meta.size) {
        if (r->state == RAFT_FOLLOWER && r->leader) {
            reply(r, &meta, r->recv_offset, 0);
        }
        return;
    }
    r->receiving = false;
    if (meta.index <= r->applied) {
        /* AppendEntries got us past it while it was written: installing would
         * take the state machine back. Durable, it is our latest snapshot
         * unless we took a newer one meanwhile (the adaptor keeps the newer). */
        if (!r->has_snapshot || meta.index > r->snapshot.index) {
            r->snapshot = meta;
            r->has_snapshot = true;
        }
        if (r->state == RAFT_FOLLOWER && r->leader) {
            hold_all(r, &meta);
        }
        return;
    }
    install(r);
    if (r->state == RAFT_FOLLOWER && r->leader) {
        reply(r, &meta, meta.size, meta.index);
    }
}
