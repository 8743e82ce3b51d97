/*
 * raft_internal: the instance's state and the functions the files of
 * regiond/raft share (raft.c: roles, persistence, apply, the public calls;
 * election.c: pre-votes and votes; replication.c: AppendEntries on both
 * sides). Internal names carry the raft__ prefix. Not for other modules.
 */
#ifndef RAFT_INTERNAL_H
#define RAFT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regiond/raft/log.h"
#include "regiond/raft/raft.h"

#define OUTBOX_MAX 1024

#define SNAPSHOT_CHUNK ((size_t)256 * 1024) /* bytes of snapshot per InstallSnapshot message */

enum peer_mode
{
    PEER_PROBE,
    PEER_REPLICATE,
    PEER_SNAPSHOT, /* the entries it needs were compacted: it gets the snapshot */
};

struct peer
{
    raft_id id;
    raft_index next;  /* next index to send */
    raft_index match; /* highest index known to be replicated */
    enum peer_mode mode;
    bool probe_sent;    /* PROBE: a message is out, wait for it or the heartbeat */
    bool recent_active; /* heard from since the last quorum check */
    bool progressed;    /* match moved since the last heartbeat */
    raft_index inflight[RAFT_MAX_INFLIGHT]; /* REPLICATE: last index of each message out */
    uint64_t read_seq;                      /* highest read round it echoed */
    struct raft_snapshot_meta snap;         /* SNAPSHOT: the snapshot being sent */
    uint64_t snap_offset;                   /* SNAPSHOT: the next chunk's offset */
    bool snap_sent;                         /* SNAPSHOT: a chunk is out */
    unsigned inflight_head;
    unsigned inflight_count;
};

struct pending_read
{
    uint64_t seq;     /* the heartbeat round that must be echoed by a quorum */
    raft_index index; /* the commit index when the read arrived */
    bool confirmed;
    raft_read_cb cb;
    void *data;
};

struct pending
{
    raft_index index;
    raft_term term;
    raft_propose_cb cb;
    void *data;
};

struct raft
{
    struct raft_config cfg;
    struct raft_io *io;
    enum raft_state state;

    raft_term term;
    raft_id vote;
    raft_id leader;
    struct raft_log log;
    raft_index commit;
    raft_index applied;

    /* Disk. */
    raft_index durable;      /* highest index known durable locally */
    raft_index dirty_from;   /* first index not yet handed to io->append */
    raft_index append_last;  /* last index of the outstanding request, 0 when none */
    bool persisting;         /* an io->persist is outstanding */
    bool persist_again;      /* term or vote changed while it was */
    struct raft_msg *outbox; /* messages held until term and vote are durable */
    size_t outbox_len;

    /* Follower: highest index known to match the current leader's log, and
     * the highest such index an acknowledgement is owed for. */
    raft_index verified;
    raft_index ack_owed;
    uint64_t read_seq_seen; /* the leader's latest read round, echoed in answers */

    /* Timers (milliseconds of io->now_ms). */
    uint64_t election_deadline;
    uint64_t heartbeat_due;
    uint64_t quorum_check_due;
    uint64_t leader_contact; /* when the current leader was last heard from */

    /* Elections: granted[i] for servers[i]. */
    bool granted[RAFT_MAX_SERVERS];

    /* The configuration in force (the last RAFT_CONFIG entry of the log, or
     * the bootstrap one when there is none) and, on a leader, one peer per
     * server of it, in the same order; ours is unused. */
    struct raft_server servers[RAFT_MAX_SERVERS];
    size_t n_servers;
    raft_index config_index; /* the entry that set it; 0 for the bootstrap configuration */
    int self;                /* our position in servers, -1 when not a member */
    struct peer peers[RAFT_MAX_SERVERS];

    /* Snapshots: the latest one taken or installed, the one being received
     * from the leader, and the buffer chunks are read into. */
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    bool receiving;
    struct raft_snapshot_meta recv;
    uint64_t recv_offset;  /* bytes of recv durably written */
    uint64_t recv_pending; /* end of the chunk being written, when writing */
    bool recv_writing;
    void *chunk;

    /* Leadership transfer. */
    raft_id transferee;
    uint64_t transfer_deadline;

    /* Reads waiting for a quorum's confirmation and then for apply, in
     * arrival order; the current read round. */
    struct pending_read *reads;
    size_t reads_len;
    size_t reads_cap;
    uint64_t read_seq;

    struct pending *pending; /* proposals awaiting their outcome, [pending_head, pending_len) */
    size_t pending_head;
    size_t pending_len;
    size_t pending_cap;
};

uint64_t raft__now(struct raft *r);
size_t raft__quorum(const struct raft *r);
raft_index raft__last_index(const struct raft *r);
raft_term raft__last_term(const struct raft *r);
int raft__server_position(const struct raft *r, raft_id id);
void raft__reset_election_timer(struct raft *r);
bool raft__in_leader_lease(struct raft *r);
void raft__send_msg(struct raft *r, struct raft_msg *m);
void raft__persist_term_vote(struct raft *r);
void raft__set_term(struct raft *r, raft_term term, raft_id vote);
void raft__flush_appends(struct raft *r);
void raft__truncate_log(struct raft *r, raft_index from);
void raft__fail_pending(struct raft *r, int status);
void raft__apply_committed(struct raft *r);
void raft__advance_commit(struct raft *r, raft_index commit);
void raft__become_follower(struct raft *r, raft_term term, raft_id leader);
void raft__broadcast_append(struct raft *r);
void raft__become_leader(struct raft *r);
void raft__request_votes(struct raft *r, enum raft_msg_type type, raft_term term, bool transfer);
size_t raft__count_granted(const struct raft *r);
void raft__become_candidate(struct raft *r, bool transfer);
void raft__start_election(struct raft *r);
void raft__send_append(struct raft *r, struct peer *p, bool heartbeat);
void raft__replicate_new_entries(struct raft *r);
void raft__leader_maybe_commit(struct raft *r);
void raft__leader_on_append_result(struct raft *r, const struct raft_msg *m);
void raft__leader_heartbeat(struct raft *r);
void raft__leader_check_quorum(struct raft *r);
void raft__follower_on_append(struct raft *r, const struct raft_msg *m);
void raft__reject_append(struct raft *r, const struct raft_msg *m, raft_index hint);
void raft__send_ack(struct raft *r);
void raft__on_prevote(struct raft *r, const struct raft_msg *m);
void raft__on_vote(struct raft *r, const struct raft_msg *m);
void raft__on_vote_result(struct raft *r, const struct raft_msg *m, bool pre);
void raft__process_reads(struct raft *r);
void raft__send_snapshot_chunk(struct raft *r, struct peer *p);
void raft__on_snapshot(struct raft *r, const struct raft_msg *m);
void raft__on_snapshot_result(struct raft *r, const struct raft_msg *m);
void raft__config_install(struct raft *r, const struct raft_server *servers, size_t n,
                          raft_index index);
int raft__config_decode(const void *data, size_t len, struct raft_server *out);
void raft__fail_stop(struct raft *r);
bool raft__is_voter(const struct raft *r, size_t i);
bool raft__self_voter(const struct raft *r);
void raft__config_from_log(struct raft *r);
void raft__config_appended(struct raft *r, const struct raft_entry *e);
void raft__config_maybe_step_down(struct raft *r);
int raft__propose_entry(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                        raft_propose_cb cb, void *cb_data, raft_index *index);
void raft__fail_reads(struct raft *r, int status);
void raft__maybe_send_timeout_now(struct raft *r, struct peer *p);
void raft__campaign_now(struct raft *r);

#endif
