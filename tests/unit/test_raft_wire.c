/*
 * test_raft_wire: the wire format of Raft messages (regiond/raft/raft_wire.h).
 *
 * Round trips of every message type, with empty and full entry batches,
 * snapshot chunks and the boundary values of every field; the exact bytes of
 * one message (the format is a contract between servers of different
 * builds); every kind of malformed input, each refused with its own code
 * and a message naming the field; every prefix of valid encodings refused;
 * and a seeded random loop of round trips and single-byte corruptions.
 *
 * Decoding always reads from a heap copy of exactly the bytes under test,
 * so AddressSanitizer catches a read one byte past the end.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "regiond/raft/raft_wire.h"

static struct raft_entry scratch[RAFT_WIRE_MAX_ENTRIES];

/* ---- a deterministic random source ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return n ? rng_next() % n : 0;
}

/* A value that is often a boundary: 0, 1, the largest, or anything. */
static uint64_t rng_u64(void)
{
    switch (rng_below(6)) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return UINT64_MAX;
    case 3:
        return UINT64_MAX - 1;
    case 4:
        return rng_below(1000);
    default:
        return rng_next();
    }
}

/* ---- comparing messages -------------------------------------------------------- */

/* `m` with the fields its type does not carry set to zero: what a decoder
 * must produce from m's encoding. */
static struct raft_msg normalized(const struct raft_msg *m)
{
    struct raft_msg n;
    memset(&n, 0, sizeof n);
    n.type = m->type;
    n.from = m->from;
    n.to = m->to;
    n.term = m->term;
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        n.last_log_index = m->last_log_index;
        n.last_log_term = m->last_log_term;
        n.transfer = m->transfer;
        break;
    case RAFT_MSG_PREVOTE_RESULT:
    case RAFT_MSG_VOTE_RESULT:
        n.granted = m->granted;
        break;
    case RAFT_MSG_APPEND:
        n.prev_index = m->prev_index;
        n.prev_term = m->prev_term;
        n.entries = m->entries;
        n.n_entries = m->n_entries;
        n.commit = m->commit;
        n.read_seq = m->read_seq;
        break;
    case RAFT_MSG_APPEND_RESULT:
        n.rejected = m->rejected;
        n.match_index = m->match_index;
        n.reject_hint = m->reject_hint;
        n.last_index = m->last_index;
        n.read_seq = m->read_seq;
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        n.snapshot = m->snapshot;
        n.offset = m->offset;
        n.data = m->data;
        n.len = m->len;
        break;
    case RAFT_MSG_SNAPSHOT_RESULT:
        n.snapshot.index = m->snapshot.index;
        n.snapshot.term = m->snapshot.term;
        n.snapshot.size = m->snapshot.size;
        n.offset = m->offset;
        n.match_index = m->match_index;
        break;
    }
    return n;
}

static bool same_bytes(const void *a, const void *b, size_t len)
{
    return len == 0 || memcmp(a, b, len) == 0;
}

/* Returns the name of the first field where `got` differs from `want`
 * (compared field by field, data by content), or NULL when they are equal. */
static const char *msg_diff(const struct raft_msg *want, const struct raft_msg *got)
{
#define SAME(field)                  \
    if (want->field != got->field) { \
        return #field;               \
    }
    SAME(type);
    SAME(from);
    SAME(to);
    SAME(term);
    SAME(last_log_index);
    SAME(last_log_term);
    SAME(granted);
    SAME(transfer);
    SAME(prev_index);
    SAME(prev_term);
    SAME(n_entries);
    SAME(commit);
    SAME(rejected);
    SAME(match_index);
    SAME(reject_hint);
    SAME(last_index);
    SAME(read_seq);
    SAME(snapshot.index);
    SAME(snapshot.term);
    SAME(snapshot.size);
    SAME(snapshot.n_servers);
    SAME(offset);
    SAME(len);
#undef SAME
    if ((want->n_entries == 0) != (got->entries == NULL)) {
        return "entries";
    }
    for (size_t i = 0; i < want->n_entries; i++) {
        const struct raft_entry *a = &want->entries[i];
        const struct raft_entry *b = &got->entries[i];
        if (a->term != b->term || a->index != b->index || a->type != b->type || a->len != b->len ||
            !same_bytes(a->data, b->data, a->len)) {
            return "entries[i]";
        }
    }
    for (size_t i = 0; i < want->snapshot.n_servers; i++) {
        if (want->snapshot.servers[i].id != got->snapshot.servers[i].id ||
            want->snapshot.servers[i].voter != got->snapshot.servers[i].voter) {
            return "snapshot.servers[i]";
        }
    }
    if (!same_bytes(want->data, got->data, want->len)) {
        return "data";
    }
    return NULL;
}

/* ---- encoding and decoding ----------------------------------------------------- */

/* Decodes bytes[0..len) from a heap copy of exactly that size; *copy (to
 * free with cv_free) holds the bytes the decoded message points into. */
static int decode_copy(const void *bytes, size_t len, struct raft_msg *out, void **copy,
                       char *errmsg, size_t errmsg_size)
{
    *copy = NULL;
    if (len > 0) {
        *copy = cv_malloc(len);
        memcpy(*copy, bytes, len);
    }
    return raft_wire_decode(*copy, len, out, scratch, RAFT_WIRE_MAX_ENTRIES, errmsg, errmsg_size);
}

/* Encodes m, checks the size raft_wire_size announced, decodes, and checks
 * that the result equals m (normalized) and re-encodes to the same bytes.
 * Returns the length of the encoding. */
static size_t check_round_trip(const struct raft_msg *m, const char *what)
{
    struct cv_buf enc = CV_BUF_INIT;
    size_t size = 0;
    int rc = raft_wire_size(m, &size);
    if (rc != 0) {
        print_error("%s: raft_wire_size: %s\n", what, raft_wire_strerror(rc));
        fail();
    }
    rc = raft_wire_encode(m, &enc);
    if (rc != 0) {
        print_error("%s: raft_wire_encode: %s\n", what, raft_wire_strerror(rc));
        fail();
    }
    assert_u64_equal(enc.len, size);

    struct raft_msg got;
    void *copy = NULL;
    char errmsg[RAFT_WIRE_ERRMSG_MAX];
    rc = decode_copy(enc.data, enc.len, &got, &copy, errmsg, sizeof errmsg);
    if (rc != 0) {
        print_error("%s: raft_wire_decode: %s: %s\n", what, raft_wire_strerror(rc), errmsg);
        fail();
    }
    struct raft_msg want = normalized(m);
    const char *diff = msg_diff(&want, &got);
    if (diff) {
        print_error("%s: %s differs after the round trip\n", what, diff);
        fail();
    }
    /* Zero-copy: data points into the decoded buffer, never NULL. */
    for (size_t i = 0; i < got.n_entries; i++) {
        const char *d = got.entries[i].data;
        assert_non_null(d);
        assert_true(d >= (const char *)copy && d + got.entries[i].len <= (char *)copy + enc.len);
    }
    if (got.type == RAFT_MSG_SNAPSHOT) {
        const char *d = got.data;
        assert_non_null(d);
        assert_true(d >= (const char *)copy && d + got.len <= (char *)copy + enc.len);
    }

    struct cv_buf again = CV_BUF_INIT;
    assert_int_equal(raft_wire_encode(&got, &again), 0);
    assert_u64_equal(again.len, enc.len);
    assert_memory_equal(again.data, enc.data, enc.len);

    cv_buf_free(&again);
    cv_free(copy);
    cv_buf_free(&enc);
    return size;
}

/* ---- building messages --------------------------------------------------------- */

static struct raft_msg msg_of(enum raft_msg_type type)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = 1;
    m.to = 2;
    m.term = 7;
    return m;
}

static const char payload[] = "the quick brown fox jumps over the lazy dog";

static struct raft_msg snapshot_msg(size_t n_servers)
{
    struct raft_msg m = msg_of(RAFT_MSG_SNAPSHOT);
    m.snapshot.index = 1000;
    m.snapshot.term = 6;
    m.snapshot.size = 4096;
    for (size_t i = 0; i < n_servers; i++) {
        m.snapshot.servers[i].id = 100 + i;
        m.snapshot.servers[i].voter = i % 3 != 2;
    }
    m.snapshot.n_servers = n_servers;
    m.offset = 256;
    m.data = payload;
    m.len = sizeof payload - 1;
    return m;
}

/* An AppendEntries of n entries from index prev+1, cycling through the
 * entry types, with data from `payload` of varying lengths (0 included). */
static struct raft_msg append_msg(struct raft_entry *entries, size_t n)
{
    struct raft_msg m = msg_of(RAFT_MSG_APPEND);
    m.prev_index = 41;
    m.prev_term = 6;
    m.commit = 40;
    m.read_seq = 3;
    for (size_t i = 0; i < n; i++) {
        entries[i].term = 6 + i / 10;
        entries[i].index = m.prev_index + 1 + i;
        entries[i].type = (enum raft_entry_type)(RAFT_COMMAND + i % 4);
        entries[i].data = payload;
        entries[i].len = i % (sizeof payload);
    }
    m.entries = n > 0 ? entries : NULL;
    m.n_entries = n;
    return m;
}

/* ---- round trips --------------------------------------------------------------- */

static void test_round_trip_every_type(void **state)
{
    (void)state;
    struct raft_msg m = msg_of(RAFT_MSG_PREVOTE);
    m.last_log_index = 12;
    m.last_log_term = 5;
    check_round_trip(&m, "prevote");
    m.type = RAFT_MSG_VOTE;
    m.transfer = true;
    check_round_trip(&m, "vote with transfer");

    m = msg_of(RAFT_MSG_PREVOTE_RESULT);
    m.granted = true;
    check_round_trip(&m, "prevote result");
    m.type = RAFT_MSG_VOTE_RESULT;
    m.granted = false;
    check_round_trip(&m, "vote result");

    struct raft_entry entries[8];
    m = append_msg(entries, 8);
    check_round_trip(&m, "append");

    m = msg_of(RAFT_MSG_APPEND_RESULT);
    m.match_index = 48;
    m.last_index = 48;
    m.read_seq = 3;
    check_round_trip(&m, "append result");
    m.rejected = true;
    m.reject_hint = 30;
    check_round_trip(&m, "append rejection");

    m = msg_of(RAFT_MSG_TIMEOUT_NOW);
    assert_u64_equal(check_round_trip(&m, "timeout now"), 26);

    m = snapshot_msg(5);
    check_round_trip(&m, "snapshot");

    m = msg_of(RAFT_MSG_SNAPSHOT_RESULT);
    m.snapshot.index = 1000;
    m.snapshot.term = 6;
    m.snapshot.size = 4096;
    m.offset = 512;
    m.match_index = 0;
    check_round_trip(&m, "snapshot result");
    m.offset = 4096;
    m.match_index = 1000;
    check_round_trip(&m, "snapshot result, installed");
}

/* Fields a type does not carry are not sent, and decode as zero. */
static void test_unused_fields_are_not_sent(void **state)
{
    (void)state;
    struct raft_entry entry = {9, 9, RAFT_COMMAND, payload, 3};
    for (int t = RAFT_MSG_PREVOTE; t <= RAFT_MSG_SNAPSHOT_RESULT; t++) {
        struct raft_msg m;
        memset(&m, 0xA5, sizeof m); /* every field set, bools included */
        m.type = (enum raft_msg_type)t;
        m.granted = m.transfer = m.rejected = true;
        for (size_t i = 0; i < RAFT_MAX_SERVERS; i++) {
            m.snapshot.servers[i].voter = false;
        }
        m.n_entries = t == RAFT_MSG_APPEND ? 1 : 12345;
        m.entries = &entry;
        m.snapshot.n_servers = 0;
        m.snapshot.size = UINT64_MAX;
        m.offset = 0;
        m.data = payload;
        m.len = 4;
        char what[32];
        snprintf(what, sizeof what, "type %d", t);
        check_round_trip(&m, what);
    }
}

static void test_round_trip_boundary_values(void **state)
{
    (void)state;
    static const uint64_t values[] = {
        0, 1, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        uint64_t x = values[v];
        struct raft_entry entry = {x, x, RAFT_CONFIG, payload, 0};
        for (int t = RAFT_MSG_PREVOTE; t <= RAFT_MSG_SNAPSHOT_RESULT; t++) {
            struct raft_msg m;
            memset(&m, 0, sizeof m);
            m.type = (enum raft_msg_type)t;
            m.from = m.to = m.term = x;
            m.last_log_index = m.last_log_term = x;
            m.prev_index = m.prev_term = m.commit = x;
            m.match_index = m.reject_hint = m.last_index = m.read_seq = x;
            m.snapshot.index = m.snapshot.term = m.snapshot.size = x;
            m.offset = x; /* an empty chunk at the very end of the snapshot */
            m.granted = m.transfer = m.rejected = x & 1;
            if (t == RAFT_MSG_APPEND) {
                m.entries = &entry;
                m.n_entries = 1;
            }
            if (t == RAFT_MSG_SNAPSHOT && x != 0) {
                m.snapshot.servers[0] = (struct raft_server){x, true};
                m.snapshot.n_servers = 1;
            }
            char what[64];
            snprintf(what, sizeof what, "type %d, value %" PRIu64, t, x);
            check_round_trip(&m, what);
        }
    }
}

static void test_round_trip_entry_batches(void **state)
{
    (void)state;
    static struct raft_entry entries[RAFT_WIRE_MAX_ENTRIES];

    struct raft_msg m = append_msg(entries, 0);
    assert_u64_equal(check_round_trip(&m, "heartbeat"), 62);

    m = append_msg(entries, 1);
    check_round_trip(&m, "one empty entry");

    m = append_msg(entries, RAFT_MAX_BATCH_ENTRIES);
    check_round_trip(&m, "a leader's largest batch");

    m = append_msg(entries, RAFT_WIRE_MAX_ENTRIES);
    check_round_trip(&m, "the most entries the wire takes");

    /* A batch as large in bytes as a leader makes, in few entries. */
    char *big = cv_malloc(RAFT_MAX_BATCH_BYTES);
    for (size_t i = 0; i < RAFT_MAX_BATCH_BYTES; i++) {
        big[i] = (char)(i * 31 + 7);
    }
    m = append_msg(entries, 4);
    entries[1].data = big;
    entries[1].len = RAFT_MAX_BATCH_BYTES / 2;
    entries[3].data = big + 1;
    entries[3].len = RAFT_MAX_BATCH_BYTES - 1;
    check_round_trip(&m, "a large batch");
    cv_free(big);
}

/* An entry of exactly RAFT_MAX_ENTRY_BYTES goes through. */
static void test_round_trip_largest_entry(void **state)
{
    (void)state;
    char *data = cv_calloc(1, RAFT_MAX_ENTRY_BYTES);
    data[0] = 'a';
    data[RAFT_MAX_ENTRY_BYTES - 1] = 'z';
    struct raft_entry entries[1];
    struct raft_msg m = append_msg(entries, 1);
    entries[0].data = data;
    entries[0].len = RAFT_MAX_ENTRY_BYTES;
    check_round_trip(&m, "largest entry");
    cv_free(data);
}

static void test_round_trip_snapshot_chunks(void **state)
{
    (void)state;
    for (size_t n = 0; n <= RAFT_MAX_SERVERS; n++) {
        struct raft_msg m = snapshot_msg(n);
        check_round_trip(&m, "servers");
    }
    struct raft_msg m = snapshot_msg(3);
    m.offset = 0;
    check_round_trip(&m, "first chunk");
    m.offset = m.snapshot.size - m.len;
    check_round_trip(&m, "last chunk");
    m.offset = m.snapshot.size;
    m.len = 0;
    check_round_trip(&m, "empty chunk at the end");
    m.snapshot.size = 0;
    m.offset = 0;
    check_round_trip(&m, "empty snapshot");
    m.snapshot.size = UINT64_MAX;
    m.offset = UINT64_MAX - 10;
    m.len = 10;
    check_round_trip(&m, "chunk ending at 2^64 - 1");
}

/* The bytes of one message, pinned: servers of different builds must agree. */
static void test_exact_bytes(void **state)
{
    (void)state;
    struct raft_msg m = msg_of(RAFT_MSG_VOTE);
    m.from = 0x0102030405060708ull;
    m.to = 2;
    m.term = 0x1122;
    m.last_log_index = 0xA0B0C0D0E0F00010ull;
    m.last_log_term = 3;
    m.transfer = true;
    static const uint8_t want[] = {
        1,    3,                                        /* version, type */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* from */
        0,    0,    0,    0,    0,    0,    0,    2,    /* to */
        0,    0,    0,    0,    0,    0,    0x11, 0x22, /* term */
        0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0, 0x00, 0x10, /* last_log_index */
        0,    0,    0,    0,    0,    0,    0,    3,    /* last_log_term */
        0x01,                                           /* flags: transfer */
    };
    struct cv_buf enc = CV_BUF_INIT;
    cv_buf_append(&enc, "xy", 2); /* the encoding is appended */
    assert_int_equal(raft_wire_encode(&m, &enc), 0);
    assert_u64_equal(enc.len, 2 + sizeof want);
    assert_memory_equal(enc.data, "xy", 2);
    assert_memory_equal(enc.data + 2, want, sizeof want);
    assert_int_equal(enc.data[enc.len], '\0');
    cv_buf_free(&enc);

    struct raft_entry entry = {0x0A, 0x0B, RAFT_BARRIER, "hi", 2};
    m = msg_of(RAFT_MSG_APPEND);
    m.prev_index = 0x0A - 1;
    m.prev_term = 0x09;
    m.commit = 0x08;
    m.read_seq = 0x07;
    m.entries = &entry;
    m.n_entries = 1;
    static const uint8_t want_append[] = {
        1,   5,                        /* version, type */
        0,   0,   0, 0, 0, 0, 0, 1,    /* from */
        0,   0,   0, 0, 0, 0, 0, 2,    /* to */
        0,   0,   0, 0, 0, 0, 0, 7,    /* term */
        0,   0,   0, 0, 0, 0, 0, 9,    /* prev_index */
        0,   0,   0, 0, 0, 0, 0, 9,    /* prev_term */
        0,   0,   0, 0, 0, 0, 0, 8,    /* commit */
        0,   0,   0, 0, 0, 0, 0, 7,    /* read_seq */
        0,   0,   0, 1,                /* n_entries */
        0,   0,   0, 0, 0, 0, 0, 0x0A, /* entries[0].term */
        0,   0,   0, 0, 0, 0, 0, 0x0B, /* entries[0].index */
        3,                             /* entries[0].type: barrier */
        0,   0,   0, 2,                /* entries[0].len */
        'h', 'i',                      /* entries[0].data */
    };
    cv_buf_init(&enc);
    assert_int_equal(raft_wire_encode(&m, &enc), 0);
    assert_u64_equal(enc.len, sizeof want_append);
    assert_memory_equal(enc.data, want_append, sizeof want_append);
    cv_buf_free(&enc);
}

/* ---- malformed input ----------------------------------------------------------- */

/* Hand-built bytes. */
struct bytes
{
    uint8_t b[1024];
    size_t n;
};

static void put8(struct bytes *w, unsigned v)
{
    assert_true(w->n < sizeof w->b);
    w->b[w->n++] = (uint8_t)v;
}

static void put32(struct bytes *w, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8) {
        put8(w, (uint8_t)(v >> s));
    }
}

static void put64(struct bytes *w, uint64_t v)
{
    for (int s = 56; s >= 0; s -= 8) {
        put8(w, (uint8_t)(v >> s));
    }
}

static void put_header(struct bytes *w, unsigned type)
{
    w->n = 0;
    put8(w, RAFT_WIRE_VERSION);
    put8(w, type);
    put64(w, 1);
    put64(w, 2);
    put64(w, 7);
}

/* Expects w to be refused with `code` and a message containing `needle`. */
#define assert_refused(w, code, needle) check_refused((w)->b, (w)->n, code, needle, __LINE__)

static void check_refused(const void *bytes, size_t len, int code, const char *needle, int line)
{
    struct raft_msg m;
    void *copy = NULL;
    char errmsg[RAFT_WIRE_ERRMSG_MAX] = "";
    int rc = decode_copy(bytes, len, &m, &copy, errmsg, sizeof errmsg);
    cv_free(copy);
    if (rc != code || !strstr(errmsg, needle)) {
        print_error("line %d: got %d (%s) \"%s\", expected %d (%s) with \"%s\"\n", line, rc,
                    raft_wire_strerror(rc), errmsg, code, raft_wire_strerror(code), needle);
        fail();
    }
}

static void test_rejects_version_and_type(void **state)
{
    (void)state;
    struct bytes w;
    check_refused(NULL, 0, RAFT_WIRE_ETRUNCATED, "version", __LINE__);
    static const unsigned versions[] = {0, 2, 255};
    for (size_t i = 0; i < 3; i++) {
        put_header(&w, RAFT_MSG_TIMEOUT_NOW);
        w.b[0] = (uint8_t)versions[i];
        assert_refused(&w, RAFT_WIRE_EVERSION, "version");
    }
    static const unsigned types[] = {0, 10, 255};
    for (size_t i = 0; i < 3; i++) {
        put_header(&w, types[i]);
        assert_refused(&w, RAFT_WIRE_ETYPE, "type");
    }
    /* The version is judged first: a future version may renumber types. */
    put_header(&w, 200);
    w.b[0] = 2;
    assert_refused(&w, RAFT_WIRE_EVERSION, "version");
}

static void test_rejects_truncated_header(void **state)
{
    (void)state;
    struct bytes w;
    put_header(&w, RAFT_MSG_TIMEOUT_NOW);
    w.n = 1;
    assert_refused(&w, RAFT_WIRE_ETRUNCATED, "type");
    w.n = 9;
    assert_refused(&w, RAFT_WIRE_ETRUNCATED, "from");
    w.n = 17;
    assert_refused(&w, RAFT_WIRE_ETRUNCATED, "to");
    w.n = 25;
    assert_refused(&w, RAFT_WIRE_ETRUNCATED, "term");
    w.n = 26;
    struct raft_msg m;
    void *copy = NULL;
    assert_int_equal(decode_copy(w.b, w.n, &m, &copy, NULL, 0), 0);
    cv_free(copy);
}

static void test_rejects_trailing_bytes(void **state)
{
    (void)state;
    struct raft_entry entries[3];
    struct raft_msg msgs[9];
    for (int t = RAFT_MSG_PREVOTE; t <= RAFT_MSG_SNAPSHOT_RESULT; t++) {
        msgs[t - 1] = msg_of((enum raft_msg_type)t);
    }
    msgs[RAFT_MSG_APPEND - 1] = append_msg(entries, 3);
    msgs[RAFT_MSG_SNAPSHOT - 1] = snapshot_msg(3);
    for (size_t i = 0; i < 9; i++) {
        struct cv_buf enc = CV_BUF_INIT;
        assert_int_equal(raft_wire_encode(&msgs[i], &enc), 0);
        cv_buf_append(&enc, "\0", 1);
        check_refused(enc.data, enc.len, RAFT_WIRE_ETRAILING, "trailing bytes: 1 after", __LINE__);
        cv_buf_append(&enc, "abc", 3);
        check_refused(enc.data, enc.len, RAFT_WIRE_ETRAILING, "trailing bytes: 4 after", __LINE__);
        cv_buf_free(&enc);
    }
}

/* The fixed part of an AppendEntries, up to its entry count. */
static void put_append(struct bytes *w, uint32_t n_entries)
{
    put_header(w, RAFT_MSG_APPEND);
    put64(w, 41);
    put64(w, 6);
    put64(w, 40);
    put64(w, 0);
    put32(w, n_entries);
}

static void put_entry(struct bytes *w, unsigned type, uint32_t len)
{
    put64(w, 6);
    put64(w, 42);
    put8(w, type);
    put32(w, len);
}

static void test_rejects_entry_counts(void **state)
{
    (void)state;
    struct bytes w;
    put_append(&w, RAFT_WIRE_MAX_ENTRIES + 1);
    assert_refused(&w, RAFT_WIRE_ETOOMANY, "n_entries: 1025 exceeds the limit 1024");
    put_append(&w, UINT32_MAX);
    assert_refused(&w, RAFT_WIRE_ETOOMANY, "n_entries");
    /* Within the limit but more than the bytes present could hold. */
    put_append(&w, RAFT_WIRE_MAX_ENTRIES);
    assert_refused(&w, RAFT_WIRE_ELENGTH, "n_entries: 1024 entries need at least");
    put_append(&w, 2);
    put_entry(&w, RAFT_COMMAND, 0);
    assert_refused(&w, RAFT_WIRE_ELENGTH, "n_entries");
    put_entry(&w, RAFT_COMMAND, 0);
    struct raft_msg m;
    void *copy = NULL;
    assert_int_equal(decode_copy(w.b, w.n, &m, &copy, NULL, 0), 0);
    assert_u64_equal(m.n_entries, 2);
    assert_ptr_equal(m.entries, scratch);
    cv_free(copy);

    /* More than the receiver made room for. */
    struct raft_entry small[1];
    char errmsg[RAFT_WIRE_ERRMSG_MAX];
    assert_int_equal(raft_wire_decode(w.b, w.n, &m, small, 1, errmsg, sizeof errmsg),
                     RAFT_WIRE_ETOOMANY);
    assert_non_null(strstr(errmsg, "room for 1"));
    struct raft_entry two[2];
    assert_int_equal(raft_wire_decode(w.b, w.n, &m, two, 2, NULL, 0), 0);
    assert_ptr_equal(m.entries, two);
    put_append(&w, 0);
    assert_int_equal(raft_wire_decode(w.b, w.n, &m, NULL, 0, NULL, 0), 0);
    assert_null(m.entries);
}

static void test_rejects_entry_lengths_and_types(void **state)
{
    (void)state;
    struct bytes w;
    put_append(&w, 1);
    put_entry(&w, RAFT_COMMAND, 5);
    put8(&w, 'a');
    assert_refused(&w, RAFT_WIRE_ELENGTH, "entries[0].len: length 5 exceeds the 1 bytes left");

    put_append(&w, 2);
    put_entry(&w, RAFT_COMMAND, 0);
    put_entry(&w, RAFT_COMMAND, UINT32_MAX);
    assert_refused(&w, RAFT_WIRE_ELENGTH, "entries[1].len: length 4294967295 exceeds the entry");
    put_append(&w, 1);
    put_entry(&w, RAFT_COMMAND, RAFT_MAX_ENTRY_BYTES + 1);
    assert_refused(&w, RAFT_WIRE_ELENGTH, "exceeds the entry limit");
    put_append(&w, 1);
    put_entry(&w, RAFT_COMMAND, RAFT_MAX_ENTRY_BYTES);
    assert_refused(&w, RAFT_WIRE_ELENGTH, "bytes left");

    static const unsigned bad_types[] = {0, RAFT_CONFIG + 1, 255};
    for (size_t i = 0; i < 3; i++) {
        put_append(&w, 2);
        put_entry(&w, RAFT_NOOP, 0);
        put_entry(&w, bad_types[i], 0);
        assert_refused(&w, RAFT_WIRE_EENTRYTYPE, "entries[1].type: unknown entry type");
    }
}

/* The fixed part of a snapshot message, up to its server count. */
static void put_snapshot_meta(struct bytes *w, uint64_t size, unsigned n_servers)
{
    put_header(w, RAFT_MSG_SNAPSHOT);
    put64(w, 1000);
    put64(w, 6);
    put64(w, size);
    put8(w, n_servers);
}

static void test_rejects_server_lists(void **state)
{
    (void)state;
    struct bytes w;
    put_snapshot_meta(&w, 10, RAFT_MAX_SERVERS + 1);
    for (int i = 0; i < RAFT_MAX_SERVERS + 1; i++) {
        put64(&w, (uint64_t)i + 1);
        put8(&w, 1);
    }
    put64(&w, 0);
    put32(&w, 0);
    assert_refused(&w, RAFT_WIRE_ESERVERS, "snapshot.n_servers: 10 exceeds the limit 9");
    put_snapshot_meta(&w, 10, 255);
    assert_refused(&w, RAFT_WIRE_ESERVERS, "snapshot.n_servers");

    put_snapshot_meta(&w, 10, 2);
    put64(&w, 5);
    put8(&w, 1);
    put64(&w, 0);
    put8(&w, 0);
    put64(&w, 0);
    put32(&w, 0);
    assert_refused(&w, RAFT_WIRE_ESERVERS, "snapshot.servers[1].id: 0 is no server");

    put_snapshot_meta(&w, 10, 3);
    put64(&w, 5);
    put8(&w, 1);
    put64(&w, 6);
    put8(&w, 1);
    put64(&w, 5);
    put8(&w, 0);
    put64(&w, 0);
    put32(&w, 0);
    assert_refused(&w, RAFT_WIRE_ESERVERS, "snapshot.servers[2].id: listed twice");
}

static void test_rejects_undefined_flags(void **state)
{
    (void)state;
    static const unsigned bad[] = {0x02, 0x80, 0xFF};
    for (size_t i = 0; i < 3; i++) {
        struct bytes w;
        put_header(&w, RAFT_MSG_VOTE);
        put64(&w, 1);
        put64(&w, 1);
        put8(&w, bad[i]);
        assert_refused(&w, RAFT_WIRE_EFLAGS, "vote flags: undefined bits");

        put_header(&w, RAFT_MSG_PREVOTE_RESULT);
        put8(&w, bad[i]);
        assert_refused(&w, RAFT_WIRE_EFLAGS, "vote result flags");

        put_header(&w, RAFT_MSG_APPEND_RESULT);
        put8(&w, bad[i]);
        for (int f = 0; f < 4; f++) {
            put64(&w, 0);
        }
        assert_refused(&w, RAFT_WIRE_EFLAGS, "append result flags");

        put_snapshot_meta(&w, 10, 1);
        put64(&w, 5);
        put8(&w, bad[i]);
        put64(&w, 0);
        put32(&w, 0);
        assert_refused(&w, RAFT_WIRE_EFLAGS, "snapshot.servers[0].flags");
    }
}

static void test_rejects_chunks_outside_the_snapshot(void **state)
{
    (void)state;
    struct bytes w;
    put_snapshot_meta(&w, 10, 0);
    put64(&w, 8);
    put32(&w, 3);
    put8(&w, 'a');
    put8(&w, 'b');
    put8(&w, 'c');
    assert_refused(&w, RAFT_WIRE_ECHUNK, "chunk of 3 bytes at 8 is past size 10");

    put_snapshot_meta(&w, 10, 0);
    put64(&w, 11);
    put32(&w, 0);
    assert_refused(&w, RAFT_WIRE_ECHUNK, "offset");

    /* offset + len wraps around 2^64: still outside. */
    put_snapshot_meta(&w, UINT64_MAX, 0);
    put64(&w, UINT64_MAX);
    put32(&w, 1);
    put8(&w, 'a');
    assert_refused(&w, RAFT_WIRE_ECHUNK, "offset");

    /* A length beyond the bytes present is reported as that first. */
    put_snapshot_meta(&w, 10, 0);
    put64(&w, 0);
    put32(&w, 100);
    put8(&w, 'a');
    assert_refused(&w, RAFT_WIRE_ELENGTH, "len: length 100 exceeds the 1 bytes left");
}

/* Every code has its own text, and the message buffer is cut, never overrun. */
static void test_error_texts(void **state)
{
    (void)state;
    static const int codes[] = {RAFT_WIRE_EVERSION,   RAFT_WIRE_ETYPE,    RAFT_WIRE_ETRUNCATED,
                                RAFT_WIRE_ELENGTH,    RAFT_WIRE_ETOOMANY, RAFT_WIRE_ESERVERS,
                                RAFT_WIRE_EENTRYTYPE, RAFT_WIRE_EFLAGS,   RAFT_WIRE_ECHUNK,
                                RAFT_WIRE_ETRAILING};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] < -7); /* apart from RAFT_E* */
        for (size_t j = 0; j < i; j++) {
            assert_true(codes[i] != codes[j]);
            assert_string_not_equal(raft_wire_strerror(codes[i]), raft_wire_strerror(codes[j]));
        }
    }
    assert_string_equal(raft_wire_strerror(0), "success");
    assert_string_equal(raft_wire_strerror(-1), "unknown raft wire error");

    struct bytes w;
    put_append(&w, RAFT_WIRE_MAX_ENTRIES + 1);
    char small[8];
    memset(small, 'x', sizeof small);
    struct raft_msg m;
    assert_int_equal(raft_wire_decode(w.b, w.n, &m, scratch, RAFT_WIRE_MAX_ENTRIES, small, 5),
                     RAFT_WIRE_ETOOMANY);
    assert_string_equal(small, "n_en");
    assert_int_equal(small[5], 'x');
}

/* ---- the encoder refuses what a decoder would -------------------------------------- */

static void check_encode_refused(const struct raft_msg *m, int code, int line)
{
    struct cv_buf out = CV_BUF_INIT;
    cv_buf_append(&out, "keep", 4);
    size_t size = 0;
    int rc_size = raft_wire_size(m, &size);
    int rc = raft_wire_encode(m, &out);
    if (rc != code || rc_size != code) {
        print_error("line %d: encode %d, size %d, expected %d\n", line, rc, rc_size, code);
        fail();
    }
    assert_u64_equal(out.len, 4);
    assert_memory_equal(out.data, "keep", 5);
    cv_buf_free(&out);
}

static void test_encoder_refusals(void **state)
{
    (void)state;
    struct raft_msg m = msg_of(RAFT_MSG_TIMEOUT_NOW);
    m.type = (enum raft_msg_type)0;
    check_encode_refused(&m, RAFT_WIRE_ETYPE, __LINE__);
    m.type = (enum raft_msg_type)(RAFT_MSG_SNAPSHOT_RESULT + 1);
    check_encode_refused(&m, RAFT_WIRE_ETYPE, __LINE__);

    static struct raft_entry entries[RAFT_WIRE_MAX_ENTRIES + 1];
    m = append_msg(entries, RAFT_WIRE_MAX_ENTRIES + 1);
    check_encode_refused(&m, RAFT_WIRE_ETOOMANY, __LINE__);
    m = append_msg(entries, 3);
    entries[2].type = (enum raft_entry_type)0;
    check_encode_refused(&m, RAFT_WIRE_EENTRYTYPE, __LINE__);
    entries[2].type = (enum raft_entry_type)(RAFT_CONFIG + 1);
    check_encode_refused(&m, RAFT_WIRE_EENTRYTYPE, __LINE__);
    entries[2].type = RAFT_COMMAND;
    entries[2].len = RAFT_MAX_ENTRY_BYTES + 1; /* refused before the data is read */
    check_encode_refused(&m, RAFT_WIRE_ELENGTH, __LINE__);

    m = snapshot_msg(RAFT_MAX_SERVERS);
    m.snapshot.n_servers = RAFT_MAX_SERVERS + 1;
    check_encode_refused(&m, RAFT_WIRE_ESERVERS, __LINE__);
    m = snapshot_msg(3);
    m.snapshot.servers[1].id = 0;
    check_encode_refused(&m, RAFT_WIRE_ESERVERS, __LINE__);
    m = snapshot_msg(3);
    m.snapshot.servers[2].id = m.snapshot.servers[0].id;
    check_encode_refused(&m, RAFT_WIRE_ESERVERS, __LINE__);
    m = snapshot_msg(3);
    m.offset = m.snapshot.size - m.len + 1;
    check_encode_refused(&m, RAFT_WIRE_ECHUNK, __LINE__);
    m.snapshot.size = UINT64_MAX;
    m.offset = UINT64_MAX;
    check_encode_refused(&m, RAFT_WIRE_ECHUNK, __LINE__);
    m = snapshot_msg(3);
    m.snapshot.size = UINT64_MAX;
    m.len = (size_t)UINT32_MAX + 1; /* refused before the data is read */
    check_encode_refused(&m, RAFT_WIRE_ELENGTH, __LINE__);
}

/* ---- truncation ---------------------------------------------------------------- */

/* Every proper prefix of a valid encoding is refused, as cut short. */
static void check_every_prefix_refused(const struct raft_msg *m, const char *what)
{
    struct cv_buf enc = CV_BUF_INIT;
    assert_int_equal(raft_wire_encode(m, &enc), 0);
    for (size_t len = 0; len < enc.len; len++) {
        struct raft_msg got;
        void *copy = NULL;
        char errmsg[RAFT_WIRE_ERRMSG_MAX] = "";
        int rc = decode_copy(enc.data, len, &got, &copy, errmsg, sizeof errmsg);
        cv_free(copy);
        if ((rc != RAFT_WIRE_ETRUNCATED && rc != RAFT_WIRE_ELENGTH) || errmsg[0] == '\0') {
            print_error("%s: prefix of %zu of %zu bytes: %d (%s) \"%s\"\n", what, len, enc.len, rc,
                        raft_wire_strerror(rc), errmsg);
            fail();
        }
    }
    cv_buf_free(&enc);
}

static void test_every_truncation_rejected(void **state)
{
    (void)state;
    struct raft_entry entries[12];
    for (int t = RAFT_MSG_PREVOTE; t <= RAFT_MSG_SNAPSHOT_RESULT; t++) {
        struct raft_msg m = msg_of((enum raft_msg_type)t);
        check_every_prefix_refused(&m, "bare");
    }
    struct raft_msg m = append_msg(entries, 12);
    check_every_prefix_refused(&m, "append");
    for (size_t n = 0; n <= RAFT_MAX_SERVERS; n += 3) {
        m = snapshot_msg(n);
        check_every_prefix_refused(&m, "snapshot");
    }
}

/* ---- random messages ----------------------------------------------------------- */

#define POOL_BYTES 4096

static void random_msg(struct raft_msg *m, struct raft_entry *entries, const char *pool)
{
    memset(m, 0, sizeof *m);
    m->type = (enum raft_msg_type)(RAFT_MSG_PREVOTE + rng_below(9));
    m->from = rng_u64();
    m->to = rng_u64();
    m->term = rng_u64();
    /* Every field gets a value, used by the type or not. */
    m->last_log_index = rng_u64();
    m->last_log_term = rng_u64();
    m->granted = rng_below(2);
    m->transfer = rng_below(2);
    m->prev_index = rng_u64();
    m->prev_term = rng_u64();
    m->commit = rng_u64();
    m->rejected = rng_below(2);
    m->match_index = rng_u64();
    m->reject_hint = rng_u64();
    m->last_index = rng_u64();
    m->read_seq = rng_u64();
    m->snapshot.index = rng_u64();
    m->snapshot.term = rng_u64();

    size_t n = rng_below(8) == 0 ? rng_below(RAFT_WIRE_MAX_ENTRIES + 1) : rng_below(6);
    for (size_t i = 0; i < n; i++) {
        entries[i].term = rng_u64();
        entries[i].index = rng_u64();
        entries[i].type = (enum raft_entry_type)(RAFT_COMMAND + rng_below(4));
        entries[i].len = rng_below(8) == 0 ? 0 : rng_below(64);
        entries[i].data = pool + rng_below(POOL_BYTES - 64);
    }
    m->entries = entries;
    m->n_entries = m->type == RAFT_MSG_APPEND ? n : rng_below(100);

    /* Servers: distinct non-zero ids. */
    size_t n_servers = rng_below(RAFT_MAX_SERVERS + 1);
    for (size_t i = 0; i < n_servers; i++) {
        m->snapshot.servers[i].id = rng_below(2) ? i + 1 : UINT64_MAX - i;
        m->snapshot.servers[i].voter = rng_below(2);
    }
    m->snapshot.n_servers = n_servers;

    m->len = rng_below(POOL_BYTES);
    m->data = pool + rng_below(POOL_BYTES - m->len + 1);
    m->snapshot.size = rng_below(2) ? rng_u64() : m->len + rng_below(1000);
    if (m->snapshot.size < m->len) {
        m->snapshot.size = m->len;
    }
    m->offset = rng_below(m->snapshot.size - m->len + 1);
    if (rng_below(4) == 0) {
        m->offset = m->snapshot.size - m->len; /* the last chunk */
    }
}

static void test_random_round_trips(void **state)
{
    (void)state;
    static struct raft_entry entries[RAFT_WIRE_MAX_ENTRIES];
    char *pool = cv_malloc(POOL_BYTES);
    for (size_t i = 0; i < POOL_BYTES; i++) {
        pool[i] = (char)i;
    }
    static const uint64_t seeds[] = {1, 2, 3, 0xC0FFEE, 20240601};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        rng_state = seeds[s];
        for (size_t iter = 0; iter < 400; iter++) {
            struct raft_msg m;
            random_msg(&m, entries, pool);
            char what[64];
            snprintf(what, sizeof what, "seed %" PRIu64 " iteration %zu", seeds[s], iter);
            check_round_trip(&m, what);

            /* A corrupted copy: refused, or accepted only as the exact
             * encoding of what it decodes to (the format is canonical). */
            struct cv_buf enc = CV_BUF_INIT;
            assert_int_equal(raft_wire_encode(&m, &enc), 0);
            enc.data[rng_below(enc.len)] ^= (char)(1u << rng_below(8));
            struct raft_msg got;
            void *copy = NULL;
            char errmsg[RAFT_WIRE_ERRMSG_MAX] = "";
            int rc = decode_copy(enc.data, enc.len, &got, &copy, errmsg, sizeof errmsg);
            if (rc == 0) {
                struct cv_buf again = CV_BUF_INIT;
                assert_int_equal(raft_wire_encode(&got, &again), 0);
                if (again.len != enc.len || memcmp(again.data, enc.data, enc.len) != 0) {
                    print_error("%s: corrupted encoding decoded but re-encoded differently\n",
                                what);
                    fail();
                }
                cv_buf_free(&again);
            } else if (errmsg[0] == '\0') {
                print_error("%s: refused without a message\n", what);
                fail();
            }
            cv_free(copy);
            cv_buf_free(&enc);
        }
    }
    cv_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_round_trip_every_type),
        CV_TEST(test_unused_fields_are_not_sent),
        CV_TEST(test_round_trip_boundary_values),
        CV_TEST(test_round_trip_entry_batches),
        CV_TEST(test_round_trip_largest_entry),
        CV_TEST(test_round_trip_snapshot_chunks),
        CV_TEST(test_exact_bytes),
        CV_TEST(test_rejects_version_and_type),
        CV_TEST(test_rejects_truncated_header),
        CV_TEST(test_rejects_trailing_bytes),
        CV_TEST(test_rejects_entry_counts),
        CV_TEST(test_rejects_entry_lengths_and_types),
        CV_TEST(test_rejects_server_lists),
        CV_TEST(test_rejects_undefined_flags),
        CV_TEST(test_rejects_chunks_outside_the_snapshot),
        CV_TEST(test_error_texts),
        CV_TEST(test_encoder_refusals),
        CV_TEST(test_every_truncation_rejected),
        CV_TEST(test_random_round_trips),
    };
    return cmocka_run_group_tests_name("raft_wire", tests, NULL, NULL);
}
