/*
 * read: linearizable reads through read index (thesis §6.4) and leadership
 * transfer (thesis §3.10), the two leader duties that need no log entry.
 *
 * A read notes the commit index and joins the current read round; the next
 * heartbeats carry the round's number, and once a quorum (the leader
 * included) has echoed it, nobody else can have been leader when the read
 * arrived, so serving it at that commit index is linearizable. It is
 * answered once the state machine has applied that far. A new leader does
 * not know the commit index until its no-op commits, so reads wait for that.
 */
#include <string.h>

#include "common/mem.h"
#include "regiond/raft/raft_internal.h"

static bool committed_in_term(const struct raft *r)
{
    return raft_log_term(&r->log, r->commit) == r->term;
}

static size_t echoed(const struct raft *r, uint64_t seq)
{
    size_t n = raft__self_voter(r) ? 1 : 0;
    for (size_t i = 0; i < r->n_servers; i++) {
        n += (int)i != r->self && r->servers[i].voter && r->peers[i].read_seq >= seq;
    }
    return n;
}

void raft__process_reads(struct raft *r)
{
    if (r->state != RAFT_LEADER) {
        return;
    }
    size_t done = 0;
    for (size_t i = 0; i < r->reads_len; i++) {
        struct pending_read *rd = &r->reads[i];
        if (!rd->confirmed && rd->index == 0 && committed_in_term(r)) {
            rd->index = r->commit; /* it arrived before the no-op committed */
        }
        if (!rd->confirmed && rd->index != 0 && echoed(r, rd->seq) >= raft__quorum(r)) {
            rd->confirmed = true;
        }
    }
    /* Answer, in order, the confirmed reads whose index is applied. */
    while (done < r->reads_len && r->reads[done].confirmed && r->reads[done].index <= r->applied) {
        done++;
    }
    if (done == 0) {
        return;
    }
    struct pending_read *answered = cv_reallocarray(NULL, done, sizeof *answered);
    memcpy(answered, r->reads, done * sizeof *answered);
    memmove(r->reads, r->reads + done, (r->reads_len - done) * sizeof *r->reads);
    r->reads_len -= done;
    for (size_t i = 0; i < done; i++) {
        answered[i].cb(answered[i].data, 0, answered[i].index);
    }
    cv_free(answered);
}

void raft__fail_reads(struct raft *r, int status)
{
    size_t n = r->reads_len;
    struct pending_read *failed = r->reads;
    r->reads = NULL;
    r->reads_len = 0;
    r->reads_cap = 0;
    for (size_t i = 0; i < n; i++) {
        failed[i].cb(failed[i].data, status, failed[i].index);
    }
    cv_free(failed);
}

int raft_read_index(struct raft *r, raft_read_cb cb, void *cb_data)
{
    if (r->state == RAFT_FAILED) {
        return RAFT_EIO;
    }
    if (r->state != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    if (r->reads_len == r->reads_cap) {
        r->reads_cap = r->reads_cap ? r->reads_cap * 2 : 16;
        r->reads = cv_reallocarray(r->reads, r->reads_cap, sizeof *r->reads);
    }
    struct pending_read *rd = &r->reads[r->reads_len++];
    rd->seq = ++r->read_seq;
    rd->index = committed_in_term(r) ? r->commit : 0;
    rd->confirmed = false;
    rd->cb = cb;
    rd->data = cb_data;
    for (size_t i = 0; i < r->n_servers; i++) {
        if ((int)i != r->self) {
            raft__send_append(r, &r->peers[i], true);
        }
    }
    raft__process_reads(r); /* a single server confirms alone */
    return 0;
}

/* ---- leadership transfer ------------------------------------------------------ */

void raft__maybe_send_timeout_now(struct raft *r, struct peer *p)
{
    if (r->transferee != p->id || p->match != raft__last_index(r)) {
        return;
    }
    struct raft_msg m = {0};
    m.type = RAFT_MSG_TIMEOUT_NOW;
    m.to = p->id;
    m.term = r->term;
    raft__send_msg(r, &m);
}

int raft_transfer(struct raft *r, raft_id target)
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
    int pos = raft__server_position(r, target);
    if (pos < 0 || pos == r->self || !r->servers[pos].voter) {
        return RAFT_EINVAL;
    }
    r->transferee = target;
    r->transfer_deadline = raft__now(r) + r->cfg.election_timeout_ms;
    struct peer *p = &r->peers[pos];
    raft__maybe_send_timeout_now(r, p);
    raft__send_append(r, p, false); /* catch it up if it lags */
    return 0;
}

raft_id raft_transferee(const struct raft *r)
{
    return r->transferee;
}

/* TimeoutNow from our leader: start a real election at once, skipping the
 * pre-vote; the votes carry `transfer` so the others' lease gives way. */
void raft__campaign_now(struct raft *r)
{
    raft__become_candidate(r, true);
}
