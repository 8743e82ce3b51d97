/*
 * election: pre-votes and votes (Raft §5.2, thesis §9.6 for pre-vote), with
 * the leader lease that keeps a returning server from deposing a leader the
 * others still follow.
 */
#include <string.h>

#include "regiond/raft/raft_internal.h"

/* ---- votes -------------------------------------------------------------------- */

static bool log_up_to_date(const struct raft *r, raft_term last_log_term, raft_index last_log_index)
{
    return last_log_term > raft__last_term(r) ||
           (last_log_term == raft__last_term(r) && last_log_index >= raft__last_index(r));
}

static void reply_vote(struct raft *r, const struct raft_msg *m, enum raft_msg_type type,
                       raft_term term, bool granted)
{
    struct raft_msg out = {0};
    out.type = type;
    out.to = m->from;
    out.term = term;
    out.granted = granted;
    raft__send_msg(r, &out);
}

void raft__on_prevote(struct raft *r, const struct raft_msg *m)
{
    bool grant = m->term > r->term && !raft__in_leader_lease(r) &&
                 log_up_to_date(r, m->last_log_term, m->last_log_index);
    reply_vote(r, m, RAFT_MSG_PREVOTE_RESULT, grant ? m->term : r->term, grant);
}

void raft__on_vote(struct raft *r, const struct raft_msg *m)
{
    if (m->term < r->term) {
        reply_vote(r, m, RAFT_MSG_VOTE_RESULT, r->term, false);
        return;
    }
    if (m->term > r->term) {
        if (!m->transfer && raft__in_leader_lease(r)) {
            return; /* a leader we follow is alive: this candidate is disruptive */
        }
        raft__become_follower(r, m->term, 0);
    }
    bool grant = (r->vote == 0 || r->vote == m->from) && r->state == RAFT_FOLLOWER &&
                 log_up_to_date(r, m->last_log_term, m->last_log_index);
    if (grant && r->vote != m->from) {
        r->vote = m->from;
        raft__persist_term_vote(r);
    }
    if (grant) {
        raft__reset_election_timer(r);
    }
    reply_vote(r, m, RAFT_MSG_VOTE_RESULT, r->term, grant);
}

void raft__on_vote_result(struct raft *r, const struct raft_msg *m, bool pre)
{
    int pos = raft__server_position(r, m->from);
    if (pos < 0) {
        return;
    }
    if (pre) {
        if (r->state != RAFT_PRECANDIDATE) {
            return;
        }
        if (m->granted && m->term == r->term + 1) {
            r->granted[pos] = true;
            if (raft__count_granted(r) >= raft__quorum(r)) {
                raft__become_candidate(r, false);
            }
        } else if (!m->granted && m->term > r->term) {
            raft__become_follower(r, m->term, 0);
        }
        return;
    }
    if (m->term > r->term) {
        raft__become_follower(r, m->term, 0);
        return;
    }
    if (r->state != RAFT_CANDIDATE || m->term < r->term || !m->granted) {
        return;
    }
    r->granted[pos] = true;
    if (raft__count_granted(r) >= raft__quorum(r)) {
        raft__become_leader(r);
    }
}
