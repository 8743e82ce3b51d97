/*
 * raft: Caravan's consensus library, the heart of every region.
 *
 * The library has no I/O of its own and no global state. Everything it does
 * to the world goes through `struct raft_io`, which the caller provides:
 * sending a message, persisting term and vote, appending to and truncating
 * the log, applying committed entries, reading the clock and drawing random
 * numbers. The daemon implements it over TCP and a persistence adaptor; the
 * deterministic simulator (tests/sim) implements it over a simulated network
 * and disk, so the same code runs in both.
 *
 * Driving it. The caller feeds the instance four kinds of events and the
 * library reacts by calling back into raft_io:
 *   raft_tick()            time passed (call every few milliseconds)
 *   raft_recv()            a message arrived from a peer
 *   raft_propose()         a client wants an entry replicated
 *   raft_persisted(), raft_appended()
 *                          a persistence request completed
 * Calls are not thread-safe: one thread drives an instance. The functions
 * of raft_io must not call back into the library; a proposal's callback
 * may call raft_propose() (and nothing else that changes the instance).
 *
 * Durability rules the library keeps (Raft §5, thesis §3):
 *   - Nothing leaves the server in a term until that term and the vote cast
 *     in it are durable: while a raft_io.persist request is outstanding,
 *     outgoing messages wait in the instance and are sent once
 *     raft_persisted() reports success.
 *   - A follower acknowledges entries only once raft_appended() reports them
 *     durable; the leader counts itself toward a quorum the same way.
 *   - A persistence failure is fail-stop: the instance stops acknowledging,
 *     steps down if it leads, fails every pending proposal and refuses all
 *     further work (raft_state() == RAFT_FAILED). It never retries.
 *
 * Log entries are opaque bytes with a type; the library knows nothing of
 * jobs. The implemented protocol: randomized election timeouts, pre-vote,
 * check-quorum, log replication with pipelining (up to
 * RAFT_MAX_INFLIGHT AppendEntries in flight per peer) and batching (many
 * entries per message and per append request), commit by quorum of entries
 * of the current term only (§5.4.2), a no-op appended on election,
 * conflict hints for fast log backtracking, leadership transfer
 * (TimeoutNow, thesis §3.10) and linearizable reads through read index
 * (thesis §6.4).
 */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_id; /* a server's id; 0 means "none" */
typedef uint64_t raft_term;
typedef uint64_t raft_index; /* log positions start at 1; 0 means "none" */

/* Results, as negative numbers (0 is success). */
#define RAFT_ENOTLEADER      (-1) /* this server does not lead */
#define RAFT_ELEADERSHIPLOST (-2) /* it led, but lost leadership before the entry committed */
#define RAFT_ESHUTDOWN       (-3) /* the instance was closed */
#define RAFT_EIO             (-4) /* persistence failed; the instance is fail-stopped */
#define RAFT_EINVAL          (-5) /* bad argument */
#define RAFT_ETOOBIG         (-6) /* entry larger than RAFT_MAX_ENTRY_BYTES */
#define RAFT_EBUSY           (-7) /* a leadership transfer is in progress */

/* Returns a static description of a RAFT_E* code. */
const char *raft_strerror(int code);

#define RAFT_MAX_SERVERS       9
#define RAFT_MAX_INFLIGHT      64         /* AppendEntries in flight per peer */
#define RAFT_MAX_BATCH_ENTRIES 512        /* entries per AppendEntries */
#define RAFT_MAX_BATCH_BYTES   (1u << 20) /* payload bytes per AppendEntries */
#define RAFT_MAX_ENTRY_BYTES   (64u << 20)

enum raft_entry_type
{
    RAFT_COMMAND = 1, /* an FSM command */
    RAFT_NOOP = 2,    /* appended by a new leader to commit its term */
    RAFT_BARRIER = 3, /* commits like a command; the FSM ignores it */
    RAFT_CONFIG = 4,  /* a configuration change (raft_add/promote/remove); data is internal */
};

struct raft_entry
{
    raft_term term;
    raft_index index;
    enum raft_entry_type type;
    const void *data; /* borrowed: valid for the duration of the call that shows it */
    size_t len;
};

struct raft_server
{
    raft_id id;
    bool voter;
};

/* A snapshot of the state machine: the last entry it covers and the
 * configuration in force at that entry. */
struct raft_snapshot_meta
{
    raft_index index;
    raft_term term;
    uint64_t size; /* bytes of snapshot data */
    struct raft_server servers[RAFT_MAX_SERVERS];
    size_t n_servers;
};

enum raft_msg_type
{
    RAFT_MSG_PREVOTE = 1,
    RAFT_MSG_PREVOTE_RESULT,
    RAFT_MSG_VOTE,
    RAFT_MSG_VOTE_RESULT,
    RAFT_MSG_APPEND,
    RAFT_MSG_APPEND_RESULT,
    RAFT_MSG_TIMEOUT_NOW, /* leadership transfer: start an election now */
    RAFT_MSG_SNAPSHOT,    /* InstallSnapshot: one chunk of the leader's snapshot */
    RAFT_MSG_SNAPSHOT_RESULT,
};

/* One message between two servers. All fields are plain values except
 * `entries`, an array of n_entries whose data the receiver must not keep
 * beyond the call. A transport serializes the fields it needs. */
struct raft_msg
{
    enum raft_msg_type type;
    raft_id from;
    raft_id to;
    raft_term term; /* the sender's term (for a pre-vote, the term it would take) */

    /* PREVOTE, VOTE: the candidate's last log position. */
    raft_index last_log_index;
    raft_term last_log_term;
    /* PREVOTE_RESULT, VOTE_RESULT: whether the vote was granted. */
    bool granted;
    /* PREVOTE, VOTE: the election was asked for by the leader (TimeoutNow),
     * so the voters' leader lease does not apply. */
    bool transfer;

    /* APPEND: the entry before `entries`, the entries, the leader's commit. */
    raft_index prev_index;
    raft_term prev_term;
    const struct raft_entry *entries;
    size_t n_entries;
    raft_index commit;

    /* APPEND_RESULT: success with the highest index now durable and
     * matching (match_index), or a rejection with the index the leader
     * should try next (reject_hint) and the follower's last index. */
    bool rejected;
    raft_index match_index;
    raft_index reject_hint;
    raft_index last_index;

    /* APPEND: the leader's read round; APPEND_RESULT: echoed back. A quorum
     * echoing a round confirms the reads waiting on it (read index). */
    uint64_t read_seq;

    /* SNAPSHOT: which snapshot, and the chunk of it at `offset` (data
     * borrowed for the call). SNAPSHOT_RESULT: the same snapshot and the
     * offset the follower expects next (snapshot.size once installed). */
    struct raft_snapshot_meta snapshot;
    uint64_t offset;
    const void *data;
    size_t len;
};

struct raft;

/* What the library asks of the world. Every function is required. */
struct raft_io
{
    void *data; /* for the implementation */

    /* Sends a message. The transport copies what it needs before returning
     * and may drop it: Raft tolerates loss, duplication and reordering. */
    void (*send)(struct raft_io *io, const struct raft_msg *msg);

    /* Starts making (term, vote) durable; completion is reported with
     * raft_persisted(). At most one is outstanding at a time; a later
     * request supersedes an earlier one only after it completed. */
    void (*persist)(struct raft_io *io, raft_term term, raft_id vote);

    /* Starts appending entries[0..n) (contiguous indexes) to the durable
     * log. When entries[0].index is not one past the current last durable
     * entry, the log from that index on is truncated first, in the same
     * request. Requests are carried out in the order made; completion is
     * reported with raft_appended(), with the index of the request's last
     * entry. The data is borrowed for the call: copy it. */
    void (*append)(struct raft_io *io, const struct raft_entry *entries, size_t n);

    /* Applies a committed entry to the state machine. Called once per
     * entry, in index order, for every type; the state machine acts on
     * RAFT_COMMAND and ignores the others. */
    void (*apply)(struct raft_io *io, const struct raft_entry *entry);

    /* Milliseconds on a clock that never goes backwards. */
    uint64_t (*now_ms)(struct raft_io *io);

    /* A random number, for election timeouts. */
    uint64_t (*random)(struct raft_io *io);

    /* ---- snapshots: optional (NULL when the caller never calls
     * raft_snapshot_taken(); then no InstallSnapshot is ever needed). ---- */

    /* Reads up to `cap` bytes of the local snapshot `meta` from `offset`
     * into buf and sets *len (0 past the end). Returns 0, or RAFT_EIO when
     * that snapshot cannot be read (for instance it was replaced by a newer
     * one). Called on the leader to feed a follower that is too far behind. */
    int (*snapshot_read)(struct raft_io *io, const struct raft_snapshot_meta *meta, uint64_t offset,
                         void *buf, size_t cap, size_t *len);

    /* Starts writing a chunk of a snapshot received from the leader; chunks
     * come in order from offset 0 (which abandons any unfinished one) and
     * the chunk that reaches meta->size completes it: the snapshot is then
     * durable and replaces the previous one if its index is higher (an older
     * one completing after the server took a newer snapshot is dropped).
     * Completion is reported with raft_snapshot_written(). Data borrowed for
     * the call. */
    void (*snapshot_write)(struct raft_io *io, const struct raft_snapshot_meta *meta,
                           uint64_t offset, const void *data, size_t len);

    /* The snapshot `meta`, written by snapshot_write, must now replace the
     * state machine's state, and the durable log must drop what the
     * snapshot covers, in order with the appends that follow: with
     * keep_log, the entries up to meta->index (the log holds that entry,
     * with meta->term, and the entries after it stay: they may be committed);
     * without, every entry (the log contradicts the snapshot). Either way the
     * log continues at meta->index + 1. */
    void (*snapshot_install)(struct raft_io *io, const struct raft_snapshot_meta *meta,
                             bool keep_log);
};

/* The durable state read back at start (what raft_io.persist and
 * raft_io.append made durable before the server stopped). */
struct raft_durable
{
    raft_term term;
    raft_id vote;
    /* The latest durable snapshot, or NULL. The caller has loaded it into
     * the state machine before raft_new(): the instance starts with commit
     * and applied at its index. */
    const struct raft_snapshot_meta *snapshot;
    /* The durable log, consecutive indexes; entries[0] is index 1, or any
     * index up to one past the snapshot's (entries the snapshot covers are
     * dropped). Borrowed for the call. */
    const struct raft_entry *entries;
    size_t n_entries;
};

struct raft_config
{
    raft_id id;                        /* this server, one of servers[] */
    raft_id servers[RAFT_MAX_SERVERS]; /* every voter, this one included */
    size_t n_servers;
    uint32_t election_timeout_ms; /* base; each timeout is drawn in [base, 2*base) */
    uint32_t heartbeat_ms;        /* leader's AppendEntries interval when idle */
    bool pre_vote;                /* run a pre-vote before each election */
    bool check_quorum;            /* step down without a quorum's contact */
};

/* Fills `cfg` with defaults: election 1000 ms, heartbeat 100 ms, pre-vote
 * and check-quorum on. The caller sets id and servers. */
void raft_config_default(struct raft_config *cfg);

/* Creates an instance as a follower from its durable state. `io` must
 * outlive the instance; `durable` is copied. The commit and applied indexes
 * start at the snapshot's index (0 without one): the state machine is
 * rebuilt by applying the log again from there as commits become known.
 * Returns NULL with *err set to RAFT_EINVAL for a bad configuration, or a
 * log that does not start at 1 or right after the snapshot. */
struct raft *raft_new(const struct raft_config *cfg, struct raft_io *io,
                      const struct raft_durable *durable, int *err);

/* Fails every pending proposal with RAFT_ESHUTDOWN, then frees the
 * instance. Completions still outstanding in io are simply never reported. */
void raft_free(struct raft *r);

/* Time moved on: runs election and heartbeat timers against io->now_ms(). */
void raft_tick(struct raft *r);

/* A message from a peer. Borrowed for the call. Messages with a stale term,
 * from unknown servers or addressed elsewhere are ignored. */
void raft_recv(struct raft *r, const struct raft_msg *msg);

/* The outstanding persist request completed; status 0 or RAFT_EIO. */
void raft_persisted(struct raft *r, int status);

/* The append request ending at `last_index` completed; status 0 or RAFT_EIO. */
void raft_appended(struct raft *r, raft_index last_index, int status);

/* Called with the outcome of a proposal: status 0 and the entry's index
 * once it is applied, or a RAFT_E* error. Always called exactly once.
 * RAFT_ELEADERSHIPLOST and RAFT_ESHUTDOWN mean the outcome is unknown: the
 * entry may still commit under the next leader. */
typedef void (*raft_propose_cb)(void *data, int status, raft_index index);

/* Proposes an entry (data copied). On a leader returns 0 and sets *index;
 * cb fires later. Otherwise returns an error at once and cb never fires. */
int raft_propose(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                 raft_propose_cb cb, void *cb_data, raft_index *index);

/* Hands leadership to `target` (a voter): the leader stops taking
 * proposals (they fail with RAFT_EBUSY), brings the target up to date and
 * tells it to start an election at once. If the target has not taken over
 * within an election timeout, the transfer is abandoned and the leader
 * carries on. Returns 0, RAFT_ENOTLEADER, RAFT_EBUSY (a transfer is already
 * under way) or RAFT_EINVAL (target unknown or this server). */
int raft_transfer(struct raft *r, raft_id target);

/* The id of the server leadership is being handed to, or 0. */
raft_id raft_transferee(const struct raft *r);

/* Called with the outcome of a read: status 0 and the index the read may be
 * served at (every entry up to it is applied when this runs), or an error. */
typedef void (*raft_read_cb)(void *data, int status, raft_index index);

/* Linearizable read (read index): the leader notes its commit index,
 * confirms with a round of heartbeats that a quorum still follows it, and
 * calls cb once the state machine has applied up to that index; the caller
 * then reads its state machine. A new leader first waits for its no-op to
 * commit. Returns 0 (cb fires later, exactly once: RAFT_ELEADERSHIPLOST if
 * leadership is lost first, RAFT_ESHUTDOWN on raft_free) or
 * RAFT_ENOTLEADER / RAFT_EIO at once. */
int raft_read_index(struct raft *r, raft_read_cb cb, void *cb_data);

/* ---- snapshots and log compaction ------------------------------------------------
 *
 * The caller decides when to snapshot (every N applied entries, say): it
 * serializes its state machine as of an applied index, makes that durable,
 * then calls raft_snapshot_taken(). The instance records the snapshot (it
 * is what a follower too far behind will be sent, chunk by chunk, through
 * io->snapshot_read) and drops from memory the entries it covers, keeping
 * `trailing` of them so that a follower only a little behind still gets
 * entries rather than the whole snapshot. Dropping the same entries from
 * the durable log is the caller's (the persistence adaptor's head
 * truncation). Returns 0, or RAFT_EINVAL when index is 0, above the
 * applied index, or not above the previous snapshot's. */
int raft_snapshot_taken(struct raft *r, raft_index index, uint64_t size, raft_index trailing);

/* The outstanding snapshot_write completed; status 0 or RAFT_EIO. A
 * completed snapshot whose index the state machine has already applied
 * (AppendEntries overtook it) is not installed, but it is durable and so
 * becomes the latest snapshot. */
void raft_snapshot_written(struct raft *r, int status);

/* The latest snapshot the instance knows (taken or installed), or NULL. */
const struct raft_snapshot_meta *raft_snapshot(const struct raft *r);

/* ---- membership: one server at a time (thesis §4.1) ----------------------------
 *
 * A change is an entry of the log and is in force on each server from the
 * moment that server appends it, committed or not; a leader accepts one
 * change at a time (RAFT_EBUSY while the previous one is uncommitted). Add a
 * server as a non-voter, let it catch up (raft_match_index), promote it to
 * voter; remove any server, the leader included: a removed leader steps down
 * once the change commits. Each returns 0 with cb firing once the change is
 * applied (like raft_propose), or an error at once: RAFT_ENOTLEADER,
 * RAFT_EBUSY, RAFT_EINVAL (add: already a member, or RAFT_MAX_SERVERS
 * reached; promote: not a non-voter; remove: not a member, or the last
 * voter). */
int raft_add(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data);
int raft_promote(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data);
int raft_remove(struct raft *r, raft_id id, raft_propose_cb cb, void *cb_data);

/* Copies the configuration in force into out[0..cap) and returns how many
 * servers it has. */
size_t raft_configuration(const struct raft *r, struct raft_server *out, size_t cap);

/* On a leader: the highest index known replicated on server `id` (its own
 * durable index for the leader itself); 0 when unknown or not leading. */
raft_index raft_match_index(const struct raft *r, raft_id id);

enum raft_state
{
    RAFT_FOLLOWER,
    RAFT_PRECANDIDATE,
    RAFT_CANDIDATE,
    RAFT_LEADER,
    RAFT_FAILED, /* persistence failed: fail-stopped */
};

enum raft_state raft_state(const struct raft *r);
const char *raft_state_name(enum raft_state state);
raft_term raft_current_term(const struct raft *r);
raft_id raft_leader(const struct raft *r); /* the known leader of this term, or 0 */
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
/* The term of the entry at index (0 when there is none). */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* The entry at index, borrowed until the next call into the library, or
 * NULL. For tests and for reading the log back. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);

#endif
