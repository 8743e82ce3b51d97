/*
 * check: the safety invariants the cluster fixture checks continuously.
 *
 * Some are checked where the fact shows up (a raft_io call), the rest after
 * every step by reading each instance through raft.h:
 *   - log matching: every log the servers ask their disks to hold (a mirror
 *     kept per server, with a hash chain per index) and, sampled each step
 *     and in full every SIM_FULL_CHECK steps, every in-memory log, agree
 *     with one map (index, term) -> chain hash. Equal (index, term) with
 *     different chains means two logs share an entry but not its prefix.
 *   - leader append-only: a leader never truncates its log in its term.
 *   - election safety: one map term -> leader for the whole run, across
 *     restarts; a follower's belief of who leads must agree with it.
 *   - leader completeness: a server that becomes leader holds every entry
 *     of the history (every entry any server has committed or applied)
 *     committed in an earlier term, and a current leader of a later term
 *     holds every entry newly known committed.
 *   - state machine safety: one history, index -> entry; every commit and
 *     every apply must match it, applies come in index order, no payload
 *     appears at two indexes, a refused proposal never appears.
 *   - committed is durable: an entry is committed only while it is on the
 *     durable logs (or in the durable snapshots) of a quorum.
 *   - snapshots: every chunk written is the history's state at the
 *     snapshot's index (contents are a function of the history's hash
 *     chain there); a snapshot taken is the server's applied state.
 *   - durability before speech: no message of a term leaves before that
 *     term is durable; a vote is granted only once durable; a server never
 *     grants two candidates in one term, even across restarts; a follower
 *     acknowledges only entries on its durable log.
 *   - fail-stop: after a disk error the instance is RAFT_FAILED, makes no
 *     disk request and sends no acknowledgement, vote or append.
 *   - proposals and reads: one callback each, with a status that fits; a
 *     read is served at an index no lower than any proposal acknowledged
 *     before it was asked (linearizable), and applied by then.
 * All sampling draws from the checker's own generator, so the checks never
 * change a run.
 */
#include <inttypes.h>
#include <string.h>

#include "common/mem.h"
#include "tests/sim/cluster_internal.h"

#define SIM_FULL_CHECK 256

/* ---- the map ----------------------------------------------------------------- */

static size_t map_pos(const struct sim_map *m, uint64_t a, uint64_t b)
{
    return (size_t)(sim_mix(sim_mix(0x5eed, a), b) & (m->cap - 1));
}

static struct sim_map_slot *map_find(struct sim_map *m, uint64_t a, uint64_t b)
{
    if (m->cap == 0) {
        return NULL;
    }
    for (size_t i = map_pos(m, a, b);; i = (i + 1) & (m->cap - 1)) {
        struct sim_map_slot *slot = &m->slots[i];
        if (!slot->used) {
            return NULL;
        }
        if (slot->k1 == a && slot->k2 == b) {
            return slot;
        }
    }
}

static void map_put(struct sim_map *m, uint64_t a, uint64_t b, uint64_t v1, uint64_t v2)
{
    if (2 * (m->len + 1) > m->cap) {
        struct sim_map old = *m;
        m->cap = old.cap ? old.cap * 2 : 256;
        m->slots = cv_calloc(m->cap, sizeof *m->slots);
        m->len = 0;
        for (size_t i = 0; i < old.cap; i++) {
            if (old.slots[i].used) {
                map_put(m, old.slots[i].k1, old.slots[i].k2, old.slots[i].v1, old.slots[i].v2);
            }
        }
        cv_free(old.slots);
    }
    size_t i = map_pos(m, a, b);
    while (m->slots[i].used && !(m->slots[i].k1 == a && m->slots[i].k2 == b)) {
        i = (i + 1) & (m->cap - 1);
    }
    if (!m->slots[i].used) {
        m->len++;
    }
    m->slots[i] = (struct sim_map_slot){.k1 = a, .k2 = b, .v1 = v1, .v2 = v2, .used = true};
}

void sim_checker_init(struct sim_cluster *c)
{
    memset(&c->chk, 0, sizeof c->chk);
    sim_prng_seed(&c->chk.prng, c->o.seed ^ 0xc4ecc4ecULL);
}

void sim_checker_free(struct sim_cluster *c)
{
    cv_free(c->chk.logs.slots);
    cv_free(c->chk.leaders.slots);
    cv_free(c->chk.votes.slots);
    cv_free(c->chk.payloads.slots);
    cv_free(c->chk.hist);
}

void sim_check_reset_server(struct sim_server *s)
{
    s->applied = 0;
    s->seen_commit = 0;
    s->seen_term = 0;
    s->checked_leader_term = 0;
    s->leader_term = 0;
    s->leader_last = 0;
    s->trunc_from = 0;
}

uint64_t sim_entry_hash(raft_term term, enum raft_entry_type type, const void *data, size_t len)
{
    return sim_mix(sim_mix(sim_hash_bytes(data, len), term), (uint64_t)type);
}

static uint64_t payload_id(const struct sim_cluster *c, enum raft_entry_type type, const void *data,
                           size_t len)
{
    const unsigned char *b = data;
    if (type == RAFT_NOOP || len < 12 || memcmp(b, "SIMP", 4) != 0) {
        return 0;
    }
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--) {
        id = (id << 8) | b[4 + i];
    }
    return id >= 1 && id <= c->n_props ? id : 0;
}

/* Checks one (index, term, chain) against the log-matching map. */
static void check_chain(struct sim_cluster *c, const char *where, unsigned server, raft_index index,
                        raft_term term, uint64_t chain, uint64_t hash)
{
    struct sim_map_slot *slot = map_find(&c->chk.logs, index, term);
    if (!slot) {
        map_put(&c->chk.logs, index, term, chain, hash);
    } else if (slot->v1 != chain) {
        sim_fail(c, "log matching",
                 "%s of server %u: entry (index %" PRIu64 ", term %" PRIu64
                 ") %s than in "
                 "another log",
                 where, server, index, term,
                 slot->v2 != hash ? "has other contents" : "follows a different prefix");
    }
}

bool sim_hist_chain(const struct sim_cluster *c, raft_index index, uint64_t *chain)
{
    if (index == 0) {
        *chain = 0;
        return true;
    }
    if (index > c->chk.hist_len || !c->chk.hist[index - 1].chain_known) {
        return false;
    }
    *chain = c->chk.hist[index - 1].chain;
    return true;
}

raft_term sim_hist_term(const struct sim_cluster *c, raft_index index)
{
    return index >= 1 && index <= c->chk.hist_len ? c->chk.hist[index - 1].term : 0;
}

uint64_t sim_snap_word(raft_index index, uint64_t chain, uint64_t word)
{
    return sim_mix(sim_mix(chain, index), word);
}

void sim_check_snapshot_chunk(struct sim_cluster *c, struct sim_server *s,
                              const struct raft_snapshot_meta *meta, uint64_t offset,
                              const void *data, size_t len)
{
    uint64_t chain = 0;
    if (s->failstopped) {
        sim_fail(c, "fail-stop", "server %u writes a snapshot after a disk error", s->idx);
        return;
    }
    if (!sim_hist_chain(c, meta->index, &chain) || sim_hist_term(c, meta->index) != meta->term ||
        offset + len > meta->size) {
        sim_fail(c, "state machine safety",
                 "server %u receives snapshot %" PRIu64 "/%" PRIu64 " (%" PRIu64
                 " bytes, chunk at %" PRIu64 ") that is not of the committed history",
                 s->idx, meta->index, meta->term, meta->size, offset);
        return;
    }
    const unsigned char *b = data;
    for (size_t k = 0; k < len; k++) {
        uint64_t pos = offset + k;
        if (b[k] !=
            (unsigned char)(sim_snap_word(meta->index, chain, pos / 8) >> (8 * (pos % 8)))) {
            sim_fail(c, "state machine safety",
                     "server %u receives snapshot %" PRIu64 " with wrong contents at byte %" PRIu64,
                     s->idx, meta->index, pos);
            return;
        }
    }
}

/* ---- raft_io calls --------------------------------------------------------------- */

void sim_check_append(struct sim_cluster *c, struct sim_server *s, const struct raft_entry *e,
                      size_t n)
{
    if (s->failstopped) {
        sim_fail(c, "fail-stop", "server %u asked to append after a disk error", s->idx);
        return;
    }
    if (n == 0) {
        sim_fail(c, "append contract", "server %u asked to append no entries", s->idx);
        return;
    }
    raft_index first = e[0].index;
    raft_index last = s->mbase + s->mlog_len;
    if (first <= s->mbase || first > last + 1) {
        sim_fail(c, "append contract",
                 "server %u appends at %" PRIu64 " outside its log %" PRIu64 "..%" PRIu64, s->idx,
                 first, s->mbase + 1, last);
        return;
    }
    if (first <= last && (s->trunc_from == 0 || first < s->trunc_from)) {
        s->trunc_from = first;
    }
    s->mlog_len = (size_t)(first - 1 - s->mbase);
    if (s->mlog_len + n > s->mlog_cap) {
        s->mlog_cap = (s->mlog_len + n) * 2;
        s->mlog = cv_reallocarray(s->mlog, s->mlog_cap, sizeof *s->mlog);
    }
    for (size_t k = 0; k < n; k++) {
        raft_term prev_term = s->mlog_len ? s->mlog[s->mlog_len - 1].term : s->mbase_term;
        uint64_t prev_chain = s->mlog_len ? s->mlog[s->mlog_len - 1].chain : s->mbase_chain;
        if (e[k].index != first + k || e[k].term < prev_term || e[k].term == 0) {
            sim_fail(c, "append contract",
                     "server %u appends entry %zu with index %" PRIu64 " term %" PRIu64
                     " after term %" PRIu64,
                     s->idx, k, e[k].index, e[k].term, prev_term);
            return;
        }
        uint64_t hash = sim_entry_hash(e[k].term, e[k].type, e[k].data, e[k].len);
        uint64_t chain = sim_mix(prev_chain, hash);
        s->mlog[s->mlog_len++] = (struct sim_mentry){.term = e[k].term, .chain = chain};
        check_chain(c, "appended log", s->idx, e[k].index, e[k].term, chain, hash);
    }
}

void sim_check_persist(struct sim_cluster *c, struct sim_server *s, raft_term term, raft_id vote)
{
    if (s->failstopped) {
        sim_fail(c, "fail-stop", "server %u asked to persist after a disk error", s->idx);
    } else if (s->persist_outstanding) {
        sim_fail(c, "persist contract", "server %u made a second persist request outstanding",
                 s->idx);
    } else if (term < s->req_term) {
        sim_fail(c, "durable term monotonic",
                 "server %u persists term %" PRIu64 " after term %" PRIu64, s->idx, term,
                 s->req_term);
    } else if (term == s->req_term && s->req_vote != 0 && vote != s->req_vote) {
        sim_fail(c, "one vote per term",
                 "server %u changes its vote in term %" PRIu64 " from %" PRIu64 " to %" PRIu64,
                 s->idx, term, s->req_vote, vote);
    }
}

void sim_check_send(struct sim_cluster *c, struct sim_server *s, const struct raft_msg *m)
{
    bool ack =
        (m->type == RAFT_MSG_APPEND_RESULT && !m->rejected) ||
        ((m->type == RAFT_MSG_VOTE_RESULT || m->type == RAFT_MSG_PREVOTE_RESULT) && m->granted) ||
        m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE ||
        m->type == RAFT_MSG_TIMEOUT_NOW || m->type == RAFT_MSG_SNAPSHOT ||
        m->type == RAFT_MSG_SNAPSHOT_RESULT;
    if (s->failstopped && ack) {
        sim_fail(c, "fail-stop", "server %u sent a %s (granted=%d rejected=%d) after a disk error",
                 s->idx, m->type == RAFT_MSG_APPEND ? "APPEND" : "message", m->granted,
                 m->rejected);
        return;
    }
    if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESULT && m->term > s->d_term) {
        sim_fail(c, "term durable before use",
                 "server %u sent a message (type %d) of term %" PRIu64 " with term %" PRIu64
                 " durable",
                 s->idx, (int)m->type, m->term, s->d_term);
        return;
    }
    if (m->type == RAFT_MSG_VOTE_RESULT && m->granted) {
        /* A grant of an older term is safe once a later term is durable: the
         * server can never vote in that term again. */
        if (s->d_term == m->term && s->d_vote != m->to) {
            sim_fail(c, "vote durable before granted",
                     "server %u granted %" PRIu64 " in term %" PRIu64 " with durable term %" PRIu64
                     " vote %" PRIu64,
                     s->idx, m->to, m->term, s->d_term, s->d_vote);
            return;
        }
        struct sim_map_slot *slot = map_find(&c->chk.votes, s->id, m->term);
        if (slot && slot->v1 != m->to) {
            sim_fail(c, "one vote per term",
                     "server %u granted its term-%" PRIu64 " vote to %" PRIu64 " and to %" PRIu64,
                     s->idx, m->term, slot->v1, m->to);
            return;
        }
        map_put(&c->chk.votes, s->id, m->term, m->to, 0);
    }
    if (m->type == RAFT_MSG_APPEND_RESULT && !m->rejected) {
        /* Durable: on the log (with what raft holds there) or in the snapshot. */
        raft_index mi = m->match_index, dlast = s->dbase + s->dlog_len;
        raft_index snap = s->has_snap ? s->snap.index : 0;
        bool ok = mi <= snap || mi <= s->dbase;
        if (!ok && mi <= dlast) {
            ok = mi <= s->mbase || mi > s->mbase + s->mlog_len ||
                 s->dlog[mi - s->dbase - 1].chain == s->mlog[mi - s->mbase - 1].chain;
        }
        if (!ok) {
            sim_fail(c, "acknowledge only durable entries",
                     "server %u acknowledged up to %" PRIu64 " with %" PRIu64
                     " durable (snapshot %" PRIu64 ")",
                     s->idx, mi, dlast, snap);
        }
    }
    if (m->type == RAFT_MSG_APPEND) {
        for (size_t k = 0; k < m->n_entries; k++) {
            if (m->entries[k].index != m->prev_index + 1 + k || m->entries[k].term > m->term) {
                sim_fail(c, "append message",
                         "server %u sent entry %zu with index %" PRIu64 " term %" PRIu64
                         " after prev %" PRIu64 " in term %" PRIu64,
                         s->idx, k, m->entries[k].index, m->entries[k].term, m->prev_index,
                         m->term);
                return;
            }
        }
    }
}

/* Records or checks one committed entry against the single history. */
static void record_history(struct sim_cluster *c, unsigned server, const char *what,
                           raft_index index, raft_term term, enum raft_entry_type type,
                           const void *data, size_t len, raft_term commit_term)
{
    struct sim_checker *k = &c->chk;
    uint64_t hash = sim_entry_hash(term, type, data, len);
    if (index <= k->hist_len && k->hist[index - 1].term != 0) {
        struct sim_hentry *h = &k->hist[index - 1];
        if (commit_term < h->commit_term) {
            h->commit_term = commit_term;
        }
        if (h->term != term || h->hash != hash) {
            sim_fail(c, "state machine safety",
                     "server %u %s (index %" PRIu64 ", term %" PRIu64
                     ") but the history has "
                     "term %" PRIu64 "%s there",
                     server, what, index, term, h->term,
                     h->term == term ? " with other contents" : "");
        }
        return;
    }
    if (index > k->hist_cap) {
        k->hist_cap = index * 2;
        k->hist = cv_reallocarray(k->hist, k->hist_cap, sizeof *k->hist);
    }
    while (k->hist_len < index) {
        k->hist[k->hist_len++] = (struct sim_hentry){0};
    }
    uint64_t id = payload_id(c, type, data, len);
    k->hist[index - 1] = (struct sim_hentry){
        .term = term, .type = type, .hash = hash, .payload = id, .commit_term = commit_term};
    uint64_t prev = 0;
    if (sim_hist_chain(c, index - 1, &prev)) {
        k->hist[index - 1].chain = sim_mix(prev, hash);
        k->hist[index - 1].chain_known = true;
    }
    if (id == 0) {
        return;
    }
    struct sim_map_slot *slot = map_find(&k->payloads, id, 0);
    if (slot) {
        sim_fail(c, "applied exactly once",
                 "proposal %" PRIu64 " is committed at index %" PRIu64 " and at %" PRIu64, id,
                 slot->v1, index);
        return;
    }
    map_put(&k->payloads, id, 0, index, 0);
    if (c->props[id - 1]->rc != 0) {
        sim_fail(c, "refused proposal never committed",
                 "proposal %" PRIu64 " refused with %d is committed at %" PRIu64, id,
                 c->props[id - 1]->rc, index);
    }
}

void sim_check_apply(struct sim_cluster *c, struct sim_server *s, const struct raft_entry *e)
{
    if (e->index != s->applied + 1) {
        sim_fail(c, "apply in order", "server %u applies index %" PRIu64 " after %" PRIu64, s->idx,
                 e->index, s->applied);
        return;
    }
    s->applied = e->index;
    s->fsm_chain = sim_mix(s->fsm_chain, sim_entry_hash(e->term, e->type, e->data, e->len));
    /* The commit that allowed this apply is recorded, with its term, at the
     * end of the step (the library must not be read from inside io). */
    record_history(c, s->idx, "applies", e->index, e->term, e->type, e->data, e->len, UINT64_MAX);
}

void sim_check_proposal_cb(struct sim_cluster *c, struct sim_proposal *p, int status,
                           raft_index index)
{
    const struct sim_server *s = &c->s[p->server];
    if (p->calls > 1) {
        sim_fail(c, "proposal callback exactly once",
                 "proposal %" PRIu64 " got a second callback (status %d)", p->id, status);
        return;
    }
    switch (status) {
    case 0: {
        const struct sim_checker *k = &c->chk;
        if ((p->index != 0 && index != p->index) || index == 0 || index > k->hist_len ||
            k->hist[index - 1].payload != p->id) {
            sim_fail(c, "acknowledged means applied",
                     "proposal %" PRIu64 " acknowledged at index %" PRIu64 " (proposed at %" PRIu64
                     ") is not what was applied there",
                     p->id, index, p->index);
        }
        break;
    }
    case RAFT_ELEADERSHIPLOST:
        break;
    case RAFT_ESHUTDOWN:
        if (!s->freeing) {
            sim_fail(c, "proposal status", "proposal %" PRIu64 " got ESHUTDOWN outside raft_free",
                     p->id);
        }
        break;
    case RAFT_EIO:
        if (!s->failstopped) {
            sim_fail(c, "proposal status", "proposal %" PRIu64 " got EIO without a disk error",
                     p->id);
        }
        break;
    default:
        sim_fail(c, "proposal status", "proposal %" PRIu64 " completed with %d", p->id, status);
    }
}

void sim_check_read_cb(struct sim_cluster *c, struct sim_read *rd, int status, raft_index index)
{
    const struct sim_server *s = &c->s[rd->server];
    if (rd->calls > 1) {
        sim_fail(c, "read callback exactly once", "read %" PRIu64 " got a second callback", rd->id);
        return;
    }
    switch (status) {
    case 0:
        if (index < rd->min_index) {
            sim_fail(c, "linearizable read",
                     "read %" PRIu64 " on server %u served at index %" PRIu64
                     " though index %" PRIu64 " was acknowledged before it was asked",
                     rd->id, rd->server, index, rd->min_index);
        } else if (s->applied < index) {
            sim_fail(c, "linearizable read",
                     "read %" PRIu64 " on server %u served at index %" PRIu64 " with only %" PRIu64
                     " applied",
                     rd->id, rd->server, index, s->applied);
        }
        break;
    case RAFT_ELEADERSHIPLOST:
        break;
    case RAFT_ESHUTDOWN:
        if (!s->freeing) {
            sim_fail(c, "read status", "read %" PRIu64 " got ESHUTDOWN outside raft_free", rd->id);
        }
        break;
    case RAFT_EIO:
        if (!s->failstopped) {
            sim_fail(c, "read status", "read %" PRIu64 " got EIO without a disk error", rd->id);
        }
        break;
    default:
        sim_fail(c, "read status", "read %" PRIu64 " completed with %d", rd->id, status);
    }
}

/* ---- after every step ---------------------------------------------------------- */

/* The index of the snapshot an instance knows, 0 without one. */
static raft_index snap_index(const struct raft *r)
{
    const struct raft_snapshot_meta *meta = raft_snapshot(r);
    return meta ? meta->index : 0;
}

static void check_quorum_durable(struct sim_cluster *c, unsigned server, raft_index index,
                                 raft_term term)
{
    unsigned holders = 0;
    for (unsigned j = 0; j < c->n; j++) {
        const struct sim_server *t = &c->s[j];
        bool in_log = index > t->dbase && index <= t->dbase + t->dlog_len &&
                      t->dlog[index - t->dbase - 1].term == term;
        holders += in_log || (t->has_snap && t->snap.index >= index);
    }
    if (holders < c->n / 2 + 1) {
        sim_fail(c, "committed is durable on a quorum",
                 "server %u has committed index %" PRIu64 " (term %" PRIu64
                 ") but only %u servers hold it durably",
                 server, index, term, holders);
    }
}

/* Does server s, leading term `term`, hold history entry i where it must? */
static void check_leader_holds(struct sim_cluster *c, struct sim_server *s, raft_term term,
                               raft_index i)
{
    const struct sim_hentry *h = &c->chk.hist[i - 1];
    if (h->term == 0 || h->commit_term >= term) {
        return; /* unknown, or committed in this term or later: no claim on s */
    }
    const struct raft_entry *e = raft_entry_at(s->r, i);
    if (!e && i <= snap_index(s->r)) {
        return; /* in its snapshot, checked against the history once */
    }
    if (!e || e->term != h->term || sim_entry_hash(e->term, e->type, e->data, e->len) != h->hash) {
        sim_fail(c, "leader completeness",
                 "server %u leads term %" PRIu64 " without index %" PRIu64 " (term %" PRIu64
                 ", committed by term %" PRIu64 "; it has %s)",
                 s->idx, term, i, h->term, h->commit_term, e ? "another entry" : "none");
    }
}

/* A new leader holds every entry committed in an earlier term. */
static void check_leader_complete(struct sim_cluster *c, struct sim_server *s, raft_term term)
{
    const struct raft_snapshot_meta *meta = raft_snapshot(s->r);
    if (meta && sim_hist_term(c, meta->index) != meta->term) {
        sim_fail(c, "leader completeness",
                 "server %u leads term %" PRIu64 " with snapshot %" PRIu64 "/%" PRIu64
                 " that is not of the history",
                 s->idx, term, meta->index, meta->term);
        return;
    }
    for (raft_index i = 1; i <= c->chk.hist_len && !c->failed; i++) {
        check_leader_holds(c, s, term, i);
    }
}

/* An entry newly known committed is in every current leader of a later term
 * (it was committed before they could be elected without it). */
static void check_leaders_hold(struct sim_cluster *c, raft_index i)
{
    for (unsigned j = 0; j < c->n && !c->failed; j++) {
        struct sim_server *t = &c->s[j];
        if (t->r && raft_state(t->r) == RAFT_LEADER) {
            check_leader_holds(c, t, raft_current_term(t->r), i);
        }
    }
}

/* Walks the whole in-memory log against the log-matching map. */
static void check_full_log(struct sim_cluster *c, struct sim_server *s)
{
    raft_index last = raft_last_index(s->r), base = snap_index(s->r);
    uint64_t chain = 0;
    if (!sim_hist_chain(c, base, &chain)) {
        return; /* a snapshot of the history is checked when it is written */
    }
    for (raft_index i = base + 1; i <= last && !c->failed; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        if (!e || e->index != i) {
            sim_fail(c, "log readable",
                     "server %u has no entry %" PRIu64 " below its last %" PRIu64, s->idx, i, last);
            return;
        }
        uint64_t hash = sim_entry_hash(e->term, e->type, e->data, e->len);
        chain = sim_mix(chain, hash);
        check_chain(c, "in-memory log", s->idx, i, e->term, chain, hash);
    }
}

/* One in-memory entry against the log-matching map. */
static void check_sample(struct sim_cluster *c, struct sim_server *s, raft_index i)
{
    const struct raft_entry *e = raft_entry_at(s->r, i);
    if (!e && i <= snap_index(s->r)) {
        return; /* compacted */
    }
    if (!e || e->index != i) {
        sim_fail(c, "log readable", "server %u has no entry %" PRIu64 " below its last %" PRIu64,
                 s->idx, i, raft_last_index(s->r));
        return;
    }
    struct sim_map_slot *slot = map_find(&c->chk.logs, i, e->term);
    if (slot && slot->v2 != sim_entry_hash(e->term, e->type, e->data, e->len)) {
        sim_fail(c, "log matching",
                 "server %u holds (index %" PRIu64 ", term %" PRIu64
                 ") with contents other than another log",
                 s->idx, i, e->term);
    }
}

static void check_server(struct sim_cluster *c, struct sim_server *s, bool full)
{
    struct raft *r = s->r;
    enum raft_state state = raft_state(r);
    raft_term term = raft_current_term(r);
    if (term < s->seen_term) {
        sim_fail(c, "term monotonic", "server %u went from term %" PRIu64 " to %" PRIu64, s->idx,
                 s->seen_term, term);
        return;
    }
    s->seen_term = term;
    if (s->failstopped && state != RAFT_FAILED) {
        sim_fail(c, "fail-stop", "server %u is %s after a disk error", s->idx,
                 raft_state_name(state));
        return;
    }
    if (s->d_term > term) {
        sim_fail(c, "term monotonic", "server %u is in term %" PRIu64 " with %" PRIu64 " durable",
                 s->idx, term, s->d_term);
        return;
    }
    raft_index last = raft_last_index(r), commit = raft_commit_index(r);
    raft_index applied = raft_applied_index(r);
    if (commit > last || applied > commit || commit < s->seen_commit || applied != s->applied) {
        sim_fail(c, "commit and apply indexes",
                 "server %u: last %" PRIu64 " commit %" PRIu64 " (was %" PRIu64 ") applied %" PRIu64
                 " (%" PRIu64 " apply calls)",
                 s->idx, last, commit, s->seen_commit, applied, s->applied);
        return;
    }
    for (raft_index i = s->seen_commit + 1; i <= commit && !c->failed; i++) {
        const struct raft_entry *e = raft_entry_at(r, i);
        if (!e && i <= snap_index(r)) {
            continue; /* installed from a snapshot of the history */
        }
        if (!e) {
            sim_fail(c, "log readable", "server %u has no committed entry %" PRIu64, s->idx, i);
            return;
        }
        record_history(c, s->idx, "commits", i, e->term, e->type, e->data, e->len, term);
        check_quorum_durable(c, s->idx, i, e->term);
        check_leaders_hold(c, i);
    }
    s->seen_commit = commit;
    if (state == RAFT_LEADER) {
        struct sim_map_slot *slot = map_find(&c->chk.leaders, term, 0);
        if (slot && slot->v1 != s->id) {
            sim_fail(c, "election safety", "servers %" PRIu64 " and %u both lead term %" PRIu64,
                     slot->v1 - 1, s->idx, term);
            return;
        }
        if (!slot) {
            map_put(&c->chk.leaders, term, 0, s->id, 0);
        }
        if (s->checked_leader_term != term) {
            s->checked_leader_term = term;
            check_leader_complete(c, s, term);
        }
        if (s->leader_term == term && s->trunc_from != 0 && s->trunc_from <= s->leader_last) {
            sim_fail(c, "leader append-only",
                     "server %u truncated its log from %" PRIu64 " while leading term %" PRIu64,
                     s->idx, s->trunc_from, term);
        }
        s->leader_term = term;
        s->leader_last = last;
    } else {
        s->leader_term = 0;
        raft_id believed = raft_leader(r);
        if (believed != 0) {
            struct sim_map_slot *slot = map_find(&c->chk.leaders, term, 0);
            if (slot && slot->v1 != believed) {
                sim_fail(c, "election safety",
                         "server %u believes %" PRIu64 " leads term %" PRIu64 " but %" PRIu64
                         " does",
                         s->idx, believed - 1, term, slot->v1 - 1);
            }
        }
    }
    s->trunc_from = 0;
    if (last > 0 && !c->failed) {
        check_sample(c, s, sim_prng_range(&c->chk.prng, 1, last));
    }
    if (full && !c->failed) {
        check_full_log(c, s);
    }
}

void sim_check_step(struct sim_cluster *c)
{
    bool full = c->steps % SIM_FULL_CHECK == 0;
    for (unsigned i = 0; i < c->n && !c->failed; i++) {
        if (c->s[i].r) {
            check_server(c, &c->s[i], full);
        }
    }
}

/* ---- at the end ------------------------------------------------------------------ */

raft_index sim_history_len(const struct sim_cluster *c)
{
    return c->chk.hist_len;
}

raft_index sim_min_applied(struct sim_cluster *c)
{
    raft_index min = UINT64_MAX;
    for (unsigned i = 0; i < c->n; i++) {
        const struct sim_server *s = &c->s[i];
        if (s->r && !s->failstopped && s->applied < min) {
            min = s->applied;
        }
    }
    return min == UINT64_MAX ? 0 : min;
}

bool sim_check_acked_applied(struct sim_cluster *c)
{
    for (size_t k = 0; k < c->n_props && !c->failed; k++) {
        const struct sim_proposal *p = c->props[k];
        if (p->rc != 0 || p->calls == 0 || p->status != 0) {
            continue;
        }
        for (unsigned i = 0; i < c->n; i++) {
            const struct sim_server *s = &c->s[i];
            if (s->r && !s->failstopped && s->applied < p->index) {
                sim_fail(c, "acknowledged proposals applied everywhere",
                         "proposal %" PRIu64 " acknowledged at index %" PRIu64
                         " is not applied on server %u (applied %" PRIu64 ")",
                         p->id, p->index, i, s->applied);
                break;
            }
        }
    }
    return !c->failed;
}
