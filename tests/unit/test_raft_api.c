/*
 * test_raft_api: the Raft library's public calls on a single instance whose
 * raft_io records what it is asked to do: argument checks, the errors of a
 * follower, the durability gates (nothing sent before term and vote are
 * durable; nothing acknowledged before it is durable), fail-stop, and a
 * single-server cluster that elects itself and commits. Whole-cluster
 * behaviour is tested by the simulator in tests/sim.
 */
#include "testutil.h"

#include <string.h>

#include "regiond/raft/raft.h"

/* A raft_io that records calls instead of doing them. */
struct recorder
{
    struct raft_io io;
    uint64_t now;
    struct raft_msg sent[64];
    size_t n_sent;
    size_t persists;
    raft_term persisted_term;
    raft_id persisted_vote;
    size_t appends;
    raft_index append_first;
    raft_index append_last;
    raft_index applied[64];
    size_t n_applied;
    size_t snapshot_writes;
    uint64_t snapshot_write_len;
};

static void rec_send(struct raft_io *io, const struct raft_msg *m)
{
    struct recorder *rec = io->data;
    if (rec->n_sent < 64) {
        rec->sent[rec->n_sent] = *m;
        rec->sent[rec->n_sent].entries = NULL; /* not kept past the call */
        rec->n_sent++;
    }
}

static void rec_persist(struct raft_io *io, raft_term term, raft_id vote)
{
    struct recorder *rec = io->data;
    rec->persists++;
    rec->persisted_term = term;
    rec->persisted_vote = vote;
}

static void rec_append(struct raft_io *io, const struct raft_entry *entries, size_t n)
{
    struct recorder *rec = io->data;
    rec->appends++;
    rec->append_first = entries[0].index;
    rec->append_last = entries[n - 1].index;
}

static void rec_apply(struct raft_io *io, const struct raft_entry *entry)
{
    struct recorder *rec = io->data;
    if (rec->n_applied < 64) {
        rec->applied[rec->n_applied++] = entry->index;
    }
}

static void rec_snapshot_write(struct raft_io *io, const struct raft_snapshot_meta *meta,
                               uint64_t offset, const void *data, size_t len)
{
    (void)meta;
    (void)offset;
    (void)data;
    struct recorder *rec = io->data;
    rec->snapshot_writes++;
    rec->snapshot_write_len = len;
}

static uint64_t rec_now(struct raft_io *io)
{
    return ((struct recorder *)io->data)->now;
}

static uint64_t rec_random(struct raft_io *io)
{
    (void)io;
    return 0; /* every election timeout is the base */
}

static void recorder_init(struct recorder *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->io = (struct raft_io){
        .data = rec,
        .send = rec_send,
        .persist = rec_persist,
        .append = rec_append,
        .apply = rec_apply,
        .now_ms = rec_now,
        .random = rec_random,
        .snapshot_write = rec_snapshot_write,
    };
}

static struct raft *new_server(struct recorder *rec, size_t n_servers)
{
    struct raft_config cfg;
    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.n_servers = n_servers;
    for (size_t i = 0; i < n_servers; i++) {
        cfg.servers[i] = (raft_id)i + 1;
    }
    int err = 0;
    struct raft *r = raft_new(&cfg, &rec->io, NULL, &err);
    assert_non_null(r);
    return r;
}

struct outcome
{
    int calls;
    int status;
    raft_index index;
};

static void record_outcome(void *data, int status, raft_index index)
{
    struct outcome *o = data;
    o->calls++;
    o->status = status;
    o->index = index;
}

static void test_bad_configurations(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft_config cfg;
    raft_config_default(&cfg);
    int err = 0;

    cfg.id = 4; /* not among the servers */
    cfg.n_servers = 3;
    cfg.servers[0] = 1;
    cfg.servers[1] = 2;
    cfg.servers[2] = 3;
    assert_null(raft_new(&cfg, &rec.io, NULL, &err));
    assert_int_equal(err, RAFT_EINVAL);

    cfg.id = 1;
    cfg.servers[2] = 2; /* a duplicate */
    err = 0;
    assert_null(raft_new(&cfg, &rec.io, NULL, &err));
    assert_int_equal(err, RAFT_EINVAL);

    cfg.servers[2] = 3;
    cfg.heartbeat_ms = cfg.election_timeout_ms; /* heartbeats must be shorter */
    err = 0;
    assert_null(raft_new(&cfg, &rec.io, NULL, &err));
    assert_int_equal(err, RAFT_EINVAL);

    cfg.heartbeat_ms = 100;
    cfg.n_servers = 0; /* joining: allowed */
    struct raft *r = raft_new(&cfg, &rec.io, NULL, &err);
    assert_non_null(r);
    raft_free(r);
}

static void test_follower_refuses_work(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 3);
    struct outcome o = {0};
    assert_int_equal(raft_state(r), RAFT_FOLLOWER);
    assert_int_equal(raft_propose(r, RAFT_COMMAND, "x", 1, record_outcome, &o, NULL),
                     RAFT_ENOTLEADER);
    assert_int_equal(raft_read_index(r, record_outcome, &o), RAFT_ENOTLEADER);
    assert_int_equal(raft_transfer(r, 2), RAFT_ENOTLEADER);
    assert_int_equal(raft_add(r, 9, record_outcome, &o), RAFT_ENOTLEADER);
    assert_int_equal(o.calls, 0); /* refused at once: no callback */
    assert_string_equal(raft_strerror(RAFT_ENOTLEADER), "not the leader");
    raft_free(r);
}

/* A pre-vote changes nothing durable; the real election persists term and
 * vote and holds its vote requests until that is durable. */
static void test_votes_wait_for_durable_term(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 3);

    rec.now = 1000; /* the election timeout (random() is 0) */
    raft_tick(r);
    assert_int_equal(raft_state(r), RAFT_PRECANDIDATE);
    assert_int_equal(rec.persists, 0);
    assert_int_equal(rec.n_sent, 2);
    assert_int_equal(rec.sent[0].type, RAFT_MSG_PREVOTE);
    assert_u64_equal(rec.sent[0].term, 1);

    struct raft_msg grant = {
        .type = RAFT_MSG_PREVOTE_RESULT, .from = 2, .to = 1, .term = 1, .granted = true};
    rec.n_sent = 0;
    raft_recv(r, &grant);
    assert_int_equal(raft_state(r), RAFT_CANDIDATE);
    assert_u64_equal(raft_current_term(r), 1);
    assert_int_equal(rec.persists, 1);
    assert_u64_equal(rec.persisted_term, 1);
    assert_u64_equal(rec.persisted_vote, 1);
    assert_int_equal(rec.n_sent, 0); /* held until the vote is durable */

    raft_persisted(r, 0);
    assert_int_equal(rec.n_sent, 2);
    assert_int_equal(rec.sent[0].type, RAFT_MSG_VOTE);

    struct raft_msg vote = {
        .type = RAFT_MSG_VOTE_RESULT, .from = 3, .to = 1, .term = 1, .granted = true};
    raft_recv(r, &vote);
    assert_int_equal(raft_state(r), RAFT_LEADER);
    assert_int_equal(raft_leader(r), 1);
    /* the no-op of the new term went to the disk */
    assert_int_equal(rec.appends, 1);
    assert_u64_equal(rec.append_last, 1);
    assert_u64_equal(raft_term_at(r, 1), 1);
    raft_free(r);
}

/* A follower acknowledges entries only once they are durable. */
static void test_ack_only_durable_entries(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 3);
    struct raft_entry entries[2] = {
        {.term = 1, .index = 1, .type = RAFT_COMMAND, .data = "a", .len = 1},
        {.term = 1, .index = 2, .type = RAFT_COMMAND, .data = "b", .len = 1},
    };
    struct raft_msg append = {.type = RAFT_MSG_APPEND,
                              .from = 2,
                              .to = 1,
                              .term = 1,
                              .entries = entries,
                              .n_entries = 2,
                              .commit = 0};
    raft_recv(r, &append);
    assert_int_equal(rec.persists, 1); /* the new term */
    raft_persisted(r, 0);
    assert_int_equal(rec.appends, 1);
    /* what was sent so far acknowledges nothing beyond index 0 */
    for (size_t i = 0; i < rec.n_sent; i++) {
        assert_int_equal(rec.sent[i].type, RAFT_MSG_APPEND_RESULT);
        assert_u64_equal(rec.sent[i].match_index, 0);
    }
    rec.n_sent = 0;
    raft_appended(r, 2, 0);
    assert_int_equal(rec.n_sent, 1);
    assert_false(rec.sent[0].rejected);
    assert_u64_equal(rec.sent[0].match_index, 2);
    raft_free(r);
}

/* A chunk whose offset + length wraps around 2^64 must be refused, not
 * written: the length is what a transport decoded from a peer. */
static void test_snapshot_chunk_length_cannot_wrap(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 3);
    static const char data[16];
    struct raft_msg chunk = {.type = RAFT_MSG_SNAPSHOT,
                             .from = 2,
                             .to = 1,
                             .term = 1,
                             .snapshot = {.index = 10, .term = 1, .size = 100, .n_servers = 3},
                             .offset = 0,
                             .data = data,
                             .len = 10};
    for (size_t i = 0; i < 3; i++) {
        chunk.snapshot.servers[i] = (struct raft_server){.id = i + 1, .voter = true};
    }
    raft_recv(r, &chunk);
    raft_persisted(r, 0);
    assert_int_equal(rec.snapshot_writes, 1);
    raft_snapshot_written(r, 0);
    /* The next chunk starts at 10; a length of 2^64 - 5 wraps 10 + len to 4. */
    chunk.offset = 10;
    chunk.len = SIZE_MAX - 4;
    raft_recv(r, &chunk);
    assert_int_equal(rec.snapshot_writes, 1);
    /* A sound next chunk is still taken. */
    chunk.len = 10;
    raft_recv(r, &chunk);
    assert_int_equal(rec.snapshot_writes, 2);
    assert_u64_equal(rec.snapshot_write_len, 10);
    raft_free(r);
}

static void test_single_server_commits_alone(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 1);
    rec.now = 1000;
    raft_tick(r);
    raft_persisted(r, 0);
    assert_int_equal(raft_state(r), RAFT_LEADER);
    raft_appended(r, 1, 0); /* the no-op */

    struct outcome o = {0};
    raft_index index = 0;
    assert_int_equal(raft_propose(r, RAFT_COMMAND, "cmd", 3, record_outcome, &o, &index), 0);
    assert_u64_equal(index, 2);
    assert_int_equal(o.calls, 0); /* not durable yet */
    raft_appended(r, 2, 0);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, 0);
    assert_u64_equal(o.index, 2);
    assert_int_equal(rec.n_applied, 2);

    struct outcome read = {0};
    assert_int_equal(raft_read_index(r, record_outcome, &read), 0);
    assert_int_equal(read.calls, 1);
    assert_int_equal(read.status, 0);
    assert_u64_equal(read.index, 2);

    assert_int_equal(raft_propose(r, RAFT_NOOP, NULL, 0, record_outcome, &o, NULL), RAFT_EINVAL);
    raft_free(r);
}

/* A disk error is fail-stop: pending work fails with RAFT_EIO and the
 * instance refuses everything after. */
static void test_disk_error_is_fail_stop(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 1);
    rec.now = 1000;
    raft_tick(r);
    raft_persisted(r, 0);
    raft_appended(r, 1, 0);
    struct outcome o = {0};
    assert_int_equal(raft_propose(r, RAFT_COMMAND, "x", 1, record_outcome, &o, NULL), 0);
    raft_appended(r, 2, RAFT_EIO);
    assert_int_equal(raft_state(r), RAFT_FAILED);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, RAFT_EIO);
    assert_int_equal(raft_propose(r, RAFT_COMMAND, "y", 1, record_outcome, &o, NULL), RAFT_EIO);
    size_t sent = rec.n_sent;
    rec.now += 10000;
    raft_tick(r);
    assert_int_equal(rec.n_sent, sent); /* silent for good */
    raft_free(r);
}

static void test_shutdown_fails_pending(void **state)
{
    (void)state;
    struct recorder rec;
    recorder_init(&rec);
    struct raft *r = new_server(&rec, 1);
    rec.now = 1000;
    raft_tick(r);
    raft_persisted(r, 0);
    struct outcome o = {0};
    assert_int_equal(raft_propose(r, RAFT_COMMAND, "x", 1, record_outcome, &o, NULL), 0);
    raft_free(r);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, RAFT_ESHUTDOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_bad_configurations),          CV_TEST(test_follower_refuses_work),
        CV_TEST(test_votes_wait_for_durable_term), CV_TEST(test_ack_only_durable_entries),
        CV_TEST(test_single_server_commits_alone), CV_TEST(test_disk_error_is_fail_stop),
        CV_TEST(test_shutdown_fails_pending),      CV_TEST(test_snapshot_chunk_length_cannot_wrap),
    };
    return cmocka_run_group_tests_name("raft_api", tests, NULL, NULL);
}
