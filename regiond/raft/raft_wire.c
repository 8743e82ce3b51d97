/*
 * raft_wire: encoding and decoding of Raft messages (see raft_wire.h, and
 * docs/raft.md for the layout of each type).
 *
 * Both directions walk the same per-type field order. The encoder first
 * checks the message and computes its exact size (raft_wire_size), reserves
 * that much once and writes through a cursor that asserts it never passes
 * the reserved end. The decoder reads through a cursor that knows how many
 * bytes are left: every read checks that first, and every length or count is
 * compared with what is left (and with its limit) before anything is
 * indexed by it, so no arithmetic on a hostile value can overflow. It
 * writes the first problem it meets into the caller's message buffer and
 * stops.
 *
 * What it does not do: check what only the Raft core can judge (whether the
 * entries are contiguous, whether a term is current); raft_recv() does that.
 */
#include "regiond/raft/raft_wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

/* Fixed sizes of the parts of an encoding (docs/raft.md). */
#define HEADER_BYTES          26 /* version, type, from, to, term */
#define VOTE_BYTES            17 /* last_log_index, last_log_term, flags */
#define VOTE_RESULT_BYTES     1  /* flags */
#define APPEND_BYTES          36 /* prev_index, prev_term, commit, read_seq, n_entries */
#define ENTRY_BYTES           21 /* term, index, type, data length (then the data) */
#define APPEND_RESULT_BYTES   33 /* flags, match_index, reject_hint, last_index, read_seq */
#define META_BYTES            25 /* index, term, size, n_servers (then the servers) */
#define SERVER_BYTES          9  /* id, flags */
#define CHUNK_BYTES           12 /* offset, data length (then the data) */
#define SNAPSHOT_RESULT_BYTES 40 /* index, term, size, offset, match_index */

/* Flag bits; every other bit of a flags byte must be 0. */
#define FLAG_TRANSFER 0x01u /* PREVOTE, VOTE */
#define FLAG_GRANTED  0x01u /* PREVOTE_RESULT, VOTE_RESULT */
#define FLAG_REJECTED 0x01u /* APPEND_RESULT */
#define FLAG_VOTER    0x01u /* a server of a snapshot's configuration */

const char *raft_wire_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define RAFT_WIRE_ERROR_CASE(name, value, text) \
    case name:                                  \
        return text;
        RAFT_WIRE_ERROR_TABLE(RAFT_WIRE_ERROR_CASE)
#undef RAFT_WIRE_ERROR_CASE
    }
    return "unknown raft wire error";
}

static bool known_type(uint64_t type)
{
    return type >= RAFT_MSG_PREVOTE && type <= RAFT_MSG_SNAPSHOT_RESULT;
}

static bool known_entry_type(uint64_t type)
{
    return type >= RAFT_COMMAND && type <= RAFT_CONFIG;
}

/* ---- checks shared by both directions ---------------------------------------- */

/* The server list of a snapshot: at most RAFT_MAX_SERVERS, ids not 0 and
 * distinct (it becomes the configuration in force once installed). Returns
 * the index of the first bad server, or -1. */
static int bad_server(const struct raft_server *servers, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (servers[i].id == 0) {
            return (int)i;
        }
        for (size_t j = 0; j < i; j++) {
            if (servers[j].id == servers[i].id) {
                return (int)i;
            }
        }
    }
    return -1;
}

/* A chunk lies within its snapshot; written so that nothing overflows. */
static bool chunk_inside(uint64_t offset, uint64_t len, uint64_t size)
{
    return len <= size && offset <= size - len;
}

int raft_wire_size(const struct raft_msg *m, size_t *size)
{
    size_t n = HEADER_BYTES;
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        n += VOTE_BYTES;
        break;
    case RAFT_MSG_PREVOTE_RESULT:
    case RAFT_MSG_VOTE_RESULT:
        n += VOTE_RESULT_BYTES;
        break;
    case RAFT_MSG_APPEND:
        if (m->n_entries > RAFT_WIRE_MAX_ENTRIES) {
            return RAFT_WIRE_ETOOMANY;
        }
        assert(m->n_entries == 0 || m->entries != NULL);
        n += APPEND_BYTES;
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            if (!known_entry_type((uint64_t)e->type)) {
                return RAFT_WIRE_EENTRYTYPE;
            }
            if (e->len > RAFT_MAX_ENTRY_BYTES || e->len > SIZE_MAX - n - ENTRY_BYTES) {
                return RAFT_WIRE_ELENGTH;
            }
            assert(e->len == 0 || e->data != NULL);
            n += ENTRY_BYTES + e->len;
        }
        break;
    case RAFT_MSG_APPEND_RESULT:
        n += APPEND_RESULT_BYTES;
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        if (m->snapshot.n_servers > RAFT_MAX_SERVERS ||
            bad_server(m->snapshot.servers, m->snapshot.n_servers) >= 0) {
            return RAFT_WIRE_ESERVERS;
        }
        if (m->len > UINT32_MAX) {
            return RAFT_WIRE_ELENGTH;
        }
        if (!chunk_inside(m->offset, m->len, m->snapshot.size)) {
            return RAFT_WIRE_ECHUNK;
        }
        assert(m->len == 0 || m->data != NULL);
        n += META_BYTES + m->snapshot.n_servers * SERVER_BYTES + CHUNK_BYTES;
        if (m->len > SIZE_MAX - n) {
            return RAFT_WIRE_ELENGTH;
        }
        n += m->len;
        break;
    case RAFT_MSG_SNAPSHOT_RESULT:
        n += SNAPSHOT_RESULT_BYTES;
        break;
    default:
        return RAFT_WIRE_ETYPE;
    }
    *size = n;
    return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

/* A cursor over the bytes reserved for one message. */
struct writer
{
    uint8_t *p;
    uint8_t *end;
};

static void put_u8(struct writer *w, unsigned v)
{
    assert(w->end - w->p >= 1);
    *w->p++ = (uint8_t)v;
}

static void put_u32(struct writer *w, uint32_t v)
{
    assert(w->end - w->p >= 4);
    for (int shift = 24; shift >= 0; shift -= 8) {
        *w->p++ = (uint8_t)(v >> shift);
    }
}

static void put_u64(struct writer *w, uint64_t v)
{
    assert(w->end - w->p >= 8);
    for (int shift = 56; shift >= 0; shift -= 8) {
        *w->p++ = (uint8_t)(v >> shift);
    }
}

static void put_bytes(struct writer *w, const void *data, size_t len)
{
    assert((size_t)(w->end - w->p) >= len);
    if (len > 0) {
        memcpy(w->p, data, len);
        w->p += len;
    }
}

static void put_meta(struct writer *w, const struct raft_snapshot_meta *meta, bool servers)
{
    put_u64(w, meta->index);
    put_u64(w, meta->term);
    put_u64(w, meta->size);
    if (servers) {
        put_u8(w, (unsigned)meta->n_servers);
        for (size_t i = 0; i < meta->n_servers; i++) {
            put_u64(w, meta->servers[i].id);
            put_u8(w, meta->servers[i].voter ? FLAG_VOTER : 0);
        }
    }
}

int raft_wire_encode(const struct raft_msg *m, struct cv_buf *out)
{
    size_t size = 0;
    int rc = raft_wire_size(m, &size);
    if (rc != 0) {
        return rc;
    }
    cv_buf_reserve(out, size);
    struct writer w = {(uint8_t *)out->data + out->len, (uint8_t *)out->data + out->len + size};

    put_u8(&w, RAFT_WIRE_VERSION);
    put_u8(&w, (unsigned)m->type);
    put_u64(&w, m->from);
    put_u64(&w, m->to);
    put_u64(&w, m->term);
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        put_u64(&w, m->last_log_index);
        put_u64(&w, m->last_log_term);
        put_u8(&w, m->transfer ? FLAG_TRANSFER : 0);
        break;
    case RAFT_MSG_PREVOTE_RESULT:
    case RAFT_MSG_VOTE_RESULT:
        put_u8(&w, m->granted ? FLAG_GRANTED : 0);
        break;
    case RAFT_MSG_APPEND:
        put_u64(&w, m->prev_index);
        put_u64(&w, m->prev_term);
        put_u64(&w, m->commit);
        put_u64(&w, m->read_seq);
        put_u32(&w, (uint32_t)m->n_entries);
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            put_u64(&w, e->term);
            put_u64(&w, e->index);
            put_u8(&w, (unsigned)e->type);
            put_u32(&w, (uint32_t)e->len);
            put_bytes(&w, e->data, e->len);
        }
        break;
    case RAFT_MSG_APPEND_RESULT:
        put_u8(&w, m->rejected ? FLAG_REJECTED : 0);
        put_u64(&w, m->match_index);
        put_u64(&w, m->reject_hint);
        put_u64(&w, m->last_index);
        put_u64(&w, m->read_seq);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        put_meta(&w, &m->snapshot, true);
        put_u64(&w, m->offset);
        put_u32(&w, (uint32_t)m->len);
        put_bytes(&w, m->data, m->len);
        break;
    case RAFT_MSG_SNAPSHOT_RESULT:
        /* The receiver matches the answer by index, term and size only. */
        put_meta(&w, &m->snapshot, false);
        put_u64(&w, m->offset);
        put_u64(&w, m->match_index);
        break;
    }
    assert(w.p == w.end);
    out->len += size;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

/* A cursor over the bytes not yet read, and where to say what went wrong. */
struct reader
{
    const uint8_t *p;
    size_t left;
    char *errmsg;
    size_t errmsg_size;
};

static int fail(struct reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, int code, const char *fmt, ...)
{
    if (r->errmsg_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->errmsg, r->errmsg_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Each get_* reads a big-endian integer named `field` (for the message). */
static int get_uint(struct reader *r, size_t width, uint64_t *v, const char *field)
{
    if (r->left < width) {
        return fail(r, RAFT_WIRE_ETRUNCATED, "%s: needs %zu bytes, %zu left", field, width,
                    r->left);
    }
    uint64_t x = 0;
    for (size_t i = 0; i < width; i++) {
        x = (x << 8) | r->p[i];
    }
    r->p += width;
    r->left -= width;
    *v = x;
    return 0;
}

static int get_u64(struct reader *r, uint64_t *v, const char *field)
{
    return get_uint(r, 8, v, field);
}

/* A flags byte in which only the bits of `defined` may be set. */
static int get_flags(struct reader *r, unsigned defined, unsigned *flags, const char *field)
{
    uint64_t v = 0;
    int rc = get_uint(r, 1, &v, field);
    if (rc != 0) {
        return rc;
    }
    if ((v & ~(uint64_t)defined) != 0) {
        return fail(r, RAFT_WIRE_EFLAGS, "%s: undefined bits in 0x%02x", field, (unsigned)v);
    }
    *flags = (unsigned)v;
    return 0;
}

/* A byte string of `len` bytes (already read): it must all be present. */
static int get_bytes(struct reader *r, size_t len, const void **data, const char *field)
{
    if (len > r->left) {
        return fail(r, RAFT_WIRE_ELENGTH, "%s: length %zu exceeds the %zu bytes left", field, len,
                    r->left);
    }
    *data = r->p; /* never NULL: points into the input, even when len is 0 */
    r->p += len;
    r->left -= len;
    return 0;
}

static int decode_vote(struct reader *r, struct raft_msg *m)
{
    unsigned flags = 0;
    int rc;
    if ((rc = get_u64(r, &m->last_log_index, "last_log_index")) != 0 ||
        (rc = get_u64(r, &m->last_log_term, "last_log_term")) != 0 ||
        (rc = get_flags(r, FLAG_TRANSFER, &flags, "vote flags")) != 0) {
        return rc;
    }
    m->transfer = (flags & FLAG_TRANSFER) != 0;
    return 0;
}

static int decode_vote_result(struct reader *r, struct raft_msg *m)
{
    unsigned flags = 0;
    int rc = get_flags(r, FLAG_GRANTED, &flags, "vote result flags");
    if (rc != 0) {
        return rc;
    }
    m->granted = (flags & FLAG_GRANTED) != 0;
    return 0;
}

static int decode_entry(struct reader *r, size_t i, struct raft_entry *e)
{
    /* Field names carry the entry's position: "entries[3].len". */
    char field[48];
    uint64_t type = 0;
    uint64_t len = 0;
    int rc;
    snprintf(field, sizeof field, "entries[%zu].term", i);
    if ((rc = get_u64(r, &e->term, field)) != 0) {
        return rc;
    }
    snprintf(field, sizeof field, "entries[%zu].index", i);
    if ((rc = get_u64(r, &e->index, field)) != 0) {
        return rc;
    }
    snprintf(field, sizeof field, "entries[%zu].type", i);
    if ((rc = get_uint(r, 1, &type, field)) != 0) {
        return rc;
    }
    if (!known_entry_type(type)) {
        return fail(r, RAFT_WIRE_EENTRYTYPE, "%s: unknown entry type %u", field, (unsigned)type);
    }
    e->type = (enum raft_entry_type)type;
    snprintf(field, sizeof field, "entries[%zu].len", i);
    if ((rc = get_uint(r, 4, &len, field)) != 0) {
        return rc;
    }
    if (len > RAFT_MAX_ENTRY_BYTES) {
        return fail(r, RAFT_WIRE_ELENGTH, "%s: length %u exceeds the entry limit %u", field,
                    (unsigned)len, RAFT_MAX_ENTRY_BYTES);
    }
    e->len = (size_t)len;
    return get_bytes(r, e->len, &e->data, field);
}

static int decode_append(struct reader *r, struct raft_msg *m, struct raft_entry *entries,
                         size_t cap)
{
    uint64_t n = 0;
    int rc;
    if ((rc = get_u64(r, &m->prev_index, "prev_index")) != 0 ||
        (rc = get_u64(r, &m->prev_term, "prev_term")) != 0 ||
        (rc = get_u64(r, &m->commit, "commit")) != 0 ||
        (rc = get_u64(r, &m->read_seq, "read_seq")) != 0 ||
        (rc = get_uint(r, 4, &n, "n_entries")) != 0) {
        return rc;
    }
    if (n > RAFT_WIRE_MAX_ENTRIES) {
        return fail(r, RAFT_WIRE_ETOOMANY, "n_entries: %u exceeds the limit %u", (unsigned)n,
                    (unsigned)RAFT_WIRE_MAX_ENTRIES);
    }
    if (n > cap) {
        return fail(r, RAFT_WIRE_ETOOMANY, "n_entries: %u exceeds the receiver's room for %zu",
                    (unsigned)n, cap);
    }
    /* Bounded by the limit above, so the product cannot overflow. */
    if (n * ENTRY_BYTES > r->left) {
        return fail(r, RAFT_WIRE_ELENGTH, "n_entries: %u entries need at least %u bytes, %zu left",
                    (unsigned)n, (unsigned)(n * ENTRY_BYTES), r->left);
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = decode_entry(r, i, &entries[i])) != 0) {
            return rc;
        }
    }
    m->entries = n > 0 ? entries : NULL;
    m->n_entries = (size_t)n;
    return 0;
}

static int decode_append_result(struct reader *r, struct raft_msg *m)
{
    unsigned flags = 0;
    int rc;
    if ((rc = get_flags(r, FLAG_REJECTED, &flags, "append result flags")) != 0 ||
        (rc = get_u64(r, &m->match_index, "match_index")) != 0 ||
        (rc = get_u64(r, &m->reject_hint, "reject_hint")) != 0 ||
        (rc = get_u64(r, &m->last_index, "last_index")) != 0 ||
        (rc = get_u64(r, &m->read_seq, "read_seq")) != 0) {
        return rc;
    }
    m->rejected = (flags & FLAG_REJECTED) != 0;
    return 0;
}

static int decode_meta(struct reader *r, struct raft_snapshot_meta *meta, bool servers)
{
    int rc;
    if ((rc = get_u64(r, &meta->index, "snapshot.index")) != 0 ||
        (rc = get_u64(r, &meta->term, "snapshot.term")) != 0 ||
        (rc = get_u64(r, &meta->size, "snapshot.size")) != 0) {
        return rc;
    }
    if (!servers) {
        return 0;
    }
    uint64_t n = 0;
    if ((rc = get_uint(r, 1, &n, "snapshot.n_servers")) != 0) {
        return rc;
    }
    if (n > RAFT_MAX_SERVERS) {
        return fail(r, RAFT_WIRE_ESERVERS, "snapshot.n_servers: %u exceeds the limit %d",
                    (unsigned)n, RAFT_MAX_SERVERS);
    }
    for (size_t i = 0; i < n; i++) {
        char field[48];
        unsigned flags = 0;
        snprintf(field, sizeof field, "snapshot.servers[%zu].id", i);
        if ((rc = get_u64(r, &meta->servers[i].id, field)) != 0) {
            return rc;
        }
        snprintf(field, sizeof field, "snapshot.servers[%zu].flags", i);
        if ((rc = get_flags(r, FLAG_VOTER, &flags, field)) != 0) {
            return rc;
        }
        meta->servers[i].voter = (flags & FLAG_VOTER) != 0;
    }
    meta->n_servers = (size_t)n;
    int bad = bad_server(meta->servers, meta->n_servers);
    if (bad >= 0) {
        return fail(r, RAFT_WIRE_ESERVERS, "snapshot.servers[%d].id: %s", bad,
                    meta->servers[bad].id == 0 ? "0 is no server" : "listed twice");
    }
    return 0;
}

static int decode_snapshot(struct reader *r, struct raft_msg *m)
{
    uint64_t len = 0;
    int rc;
    if ((rc = decode_meta(r, &m->snapshot, true)) != 0 ||
        (rc = get_u64(r, &m->offset, "offset")) != 0 || (rc = get_uint(r, 4, &len, "len")) != 0) {
        return rc;
    }
    /* Length before position: a chunk cut short is reported as such. */
    if (len > r->left) {
        return fail(r, RAFT_WIRE_ELENGTH, "len: length %llu exceeds the %zu bytes left",
                    (unsigned long long)len, r->left);
    }
    if (!chunk_inside(m->offset, len, m->snapshot.size)) {
        return fail(r, RAFT_WIRE_ECHUNK, "offset: chunk of %llu bytes at %llu is past size %llu",
                    (unsigned long long)len, (unsigned long long)m->offset,
                    (unsigned long long)m->snapshot.size);
    }
    m->len = (size_t)len;
    return get_bytes(r, m->len, &m->data, "data");
}

static int decode_snapshot_result(struct reader *r, struct raft_msg *m)
{
    int rc;
    if ((rc = decode_meta(r, &m->snapshot, false)) != 0 ||
        (rc = get_u64(r, &m->offset, "offset")) != 0 ||
        (rc = get_u64(r, &m->match_index, "match_index")) != 0) {
        return rc;
    }
    return 0;
}

int raft_wire_decode(const void *buf, size_t len, struct raft_msg *out, struct raft_entry *entries,
                     size_t cap, char *errmsg, size_t errmsg_size)
{
    assert(buf != NULL || len == 0);
    assert(entries != NULL || cap == 0);
    assert(errmsg != NULL || errmsg_size == 0);
    struct reader r = {buf, len, errmsg, errmsg_size};
    memset(out, 0, sizeof *out);

    uint64_t version = 0;
    uint64_t type = 0;
    int rc;
    if ((rc = get_uint(&r, 1, &version, "version")) != 0) {
        return rc;
    }
    if (version != RAFT_WIRE_VERSION) {
        return fail(&r, RAFT_WIRE_EVERSION, "version: %u is not %d", (unsigned)version,
                    RAFT_WIRE_VERSION);
    }
    if ((rc = get_uint(&r, 1, &type, "type")) != 0) {
        return rc;
    }
    if (!known_type(type)) {
        return fail(&r, RAFT_WIRE_ETYPE, "type: unknown message type %u", (unsigned)type);
    }
    out->type = (enum raft_msg_type)type;
    if ((rc = get_u64(&r, &out->from, "from")) != 0 || (rc = get_u64(&r, &out->to, "to")) != 0 ||
        (rc = get_u64(&r, &out->term, "term")) != 0) {
        return rc;
    }

    switch (out->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        rc = decode_vote(&r, out);
        break;
    case RAFT_MSG_PREVOTE_RESULT:
    case RAFT_MSG_VOTE_RESULT:
        rc = decode_vote_result(&r, out);
        break;
    case RAFT_MSG_APPEND:
        rc = decode_append(&r, out, entries, cap);
        break;
    case RAFT_MSG_APPEND_RESULT:
        rc = decode_append_result(&r, out);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        break;
    case RAFT_MSG_SNAPSHOT:
        rc = decode_snapshot(&r, out);
        break;
    case RAFT_MSG_SNAPSHOT_RESULT:
        rc = decode_snapshot_result(&r, out);
        break;
    }
    if (rc != 0) {
        return rc;
    }
    if (r.left != 0) {
        return fail(&r, RAFT_WIRE_ETRAILING, "trailing bytes: %zu after the end of the message",
                    r.left);
    }
    return 0;
}
