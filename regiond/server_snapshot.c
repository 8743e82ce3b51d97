/*
 * server_snapshot: Raft snapshots of the state store (see server.h).
 *
 * Taking one: on a tick, when `snapshot_threshold` entries were applied
 * since the last snapshot, the state as of the applied index (an immutable
 * state snapshot, safe to read from any thread) is serialized
 * (fsm_snapshot_write) into memory by a thread of its own, so a large state
 * never stalls the loop (heartbeats, elections, requests). When the thread
 * is done, a later tick writes the bytes to the store in chunks; when the
 * last chunk is durable, Raft is told (raft_snapshot_taken), the durable
 * log is cut at index - trailing, and the bytes replace the previous
 * snapshot's in memory: they are what a follower too far behind is sent
 * (raft_io.snapshot_read is synchronous).
 *
 * Receiving one: chunks from the leader are written to the store and kept
 * in memory; raft_io.snapshot_install then restores the FSM from them and
 * cuts the durable log as Raft asks, in order with the appends that follow.
 *
 * At start the latest durable snapshot is read back and restored before
 * Raft starts; its configuration blob lists the voters.
 *
 * The configuration blob: one byte n, then n times (id: 8 bytes big-endian,
 * voter: 1 byte).
 */
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/server_internal.h"
#include "regiond/store/store.h"

#define CHUNK_BYTES ((size_t)1 << 20)

static size_t conf_encode(const struct raft_snapshot_meta *meta, unsigned char *out)
{
    size_t n = 0;
    out[n++] = (unsigned char)meta->n_servers;
    for (size_t i = 0; i < meta->n_servers; i++) {
        uint64_t id = meta->servers[i].id;
        for (int b = 7; b >= 0; b--) {
            out[n + (size_t)b] = (unsigned char)(id & 0xff);
            id >>= 8;
        }
        n += 8;
        out[n++] = meta->servers[i].voter ? 1 : 0;
    }
    return n;
}

static int conf_decode(const unsigned char *in, size_t len, struct raft_snapshot_meta *meta)
{
    if (len < 1 || in[0] > RAFT_MAX_SERVERS || len != 1 + (size_t)in[0] * 9) {
        return CV_EPARSE;
    }
    meta->n_servers = in[0];
    for (size_t i = 0; i < meta->n_servers; i++) {
        const unsigned char *p = in + 1 + i * 9;
        uint64_t id = 0;
        for (int b = 0; b < 8; b++) {
            id = (id << 8) | p[b];
        }
        meta->servers[i] = (struct raft_server){.id = id, .voter = p[8] != 0};
    }
    return 0;
}

static int buf_writer(void *arg, const void *data, size_t len)
{
    cv_buf_append(arg, data, len);
    return 0;
}

struct buf_reader
{
    const unsigned char *data;
    size_t len, off;
};

static int buf_read(void *arg, void *buf, size_t cap, size_t *got)
{
    struct buf_reader *r = arg;
    size_t n = r->len - r->off < cap ? r->len - r->off : cap;
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    *got = n;
    return 0;
}

static int restore_from(struct srv *s, const void *data, size_t len, struct cv_err *err)
{
    struct buf_reader r = {data, len, 0};
    return fsm_restore(s->fsm, buf_read, &r, err);
}

/* ---- taking a snapshot ---------------------------------------------------------- */

struct taking
{
    struct srv *s;
    struct raft_snapshot_meta meta;
    bool last;
};

static void on_snapshot_put(void *arg, int status, const struct cv_err *err)
{
    struct taking *t = arg;
    struct srv *s = t->s;
    bool last = t->last;
    struct raft_snapshot_meta meta = t->meta;
    cv_free(t);
    if (!last) {
        return;
    }
    s->taking = false;
    if (status != 0) {
        cv_log(CV_LOG_ERROR, "server", "snapshot not written", "error=\"%s\"", err ? err->msg : "");
        cv_buf_reset(&s->snap_new);
        return;
    }
    if (!s->raft) {
        return; /* shutting down */
    }
    uint64_t trailing = s->cfg.trailing_logs ? s->cfg.trailing_logs : SRV_TRAILING_LOGS;
    int rc = raft_snapshot_taken(s->raft, meta.index, meta.size, trailing);
    if (rc != 0) {
        cv_log(CV_LOG_WARN, "server", "Raft did not take the snapshot", "index=%llu error=%s",
               (unsigned long long)meta.index, raft_strerror(rc));
        return;
    }
    struct cv_buf old = s->snap_local;
    s->snap_local = s->snap_new;
    s->snap_new = old;
    cv_buf_reset(&s->snap_new);
    s->snap_local_meta = meta;
    s->has_snap_local = true;
    if (meta.index > trailing) {
        store_truncate_head(s->store, meta.index - trailing, NULL, NULL);
    }
    cv_log(CV_LOG_INFO, "server", "snapshot taken", "index=%llu bytes=%llu",
           (unsigned long long)meta.index, (unsigned long long)meta.size);
}

static void *serialize_main(void *arg)
{
    struct srv *s = arg;
    s->snap_rc = fsm_snapshot_write(s->snap_src, buf_writer, &s->snap_new, &s->snap_err);
    atomic_store(&s->snap_ready, true);
    return NULL;
}

/* Joins the serializing thread once it is done (or, with wait, blocks for
 * it). Returns true when it was joined. */
static bool join_serializer(struct srv *s, bool wait)
{
    if (!s->snap_thread_running || (!wait && !atomic_load(&s->snap_ready))) {
        return false;
    }
    pthread_join(s->snap_thread, NULL);
    s->snap_thread_running = false;
    state_snapshot_release(s->snap_src);
    s->snap_src = NULL;
    return true;
}

/* Hands the serialized bytes to the store in chunks. */
static void write_serialized(struct srv *s)
{
    struct raft_snapshot_meta meta = s->snap_new_meta;
    if (s->snap_rc != 0) {
        cv_log(CV_LOG_ERROR, "server", "cannot serialize the state", "error=\"%s\"",
               s->snap_err.msg);
        s->taking = false;
        return;
    }
    meta.size = s->snap_new.len;
    unsigned char conf[1 + RAFT_MAX_SERVERS * 9];
    struct store_snapshot_meta sm = {.index = meta.index,
                                     .term = meta.term,
                                     .size = meta.size,
                                     .conf = conf,
                                     .conf_len = conf_encode(&meta, conf)};
    size_t off = 0;
    do {
        size_t n = meta.size - off < CHUNK_BYTES ? meta.size - off : CHUNK_BYTES;
        struct taking *t = cv_malloc(sizeof *t);
        *t = (struct taking){s, meta, off + n == meta.size};
        if (store_snapshot_put(s->store, &sm, off, s->snap_new.data + off, n, on_snapshot_put, t) !=
            0) {
            cv_free(t);
            s->taking = false;
            return;
        }
        off += n;
    } while (off < meta.size);
}

void srv__snapshot_maybe(struct srv *s)
{
    if (join_serializer(s, false)) {
        write_serialized(s);
        return;
    }
    uint64_t threshold =
        s->cfg.snapshot_threshold ? s->cfg.snapshot_threshold : SRV_SNAPSHOT_THRESHOLD;
    const struct raft_snapshot_meta *last = raft_snapshot(s->raft);
    uint64_t applied = raft_applied_index(s->raft);
    uint64_t since = applied - (last ? last->index : 0);
    if (s->taking || since < threshold) {
        return;
    }
    struct state_snap *snap = state_snapshot(s->state);
    struct raft_snapshot_meta meta = {0};
    meta.index = state_snap_index(snap);
    meta.term = raft_term_at(s->raft, meta.index);
    if (meta.term == 0) {
        state_snapshot_release(snap);
        return; /* not in the log (just installed): the next tick tries again */
    }
    struct raft_server servers[RAFT_MAX_SERVERS];
    meta.n_servers = raft_configuration(s->raft, servers, RAFT_MAX_SERVERS);
    memcpy(meta.servers, servers, meta.n_servers * sizeof servers[0]);
    cv_buf_reset(&s->snap_new);
    s->snap_new_meta = meta;
    s->snap_src = snap;
    s->snap_rc = 0;
    cv_err_clear(&s->snap_err);
    atomic_store(&s->snap_ready, false);
    if (pthread_create(&s->snap_thread, NULL, serialize_main, s) != 0) {
        cv_log(CV_LOG_ERROR, "server", "cannot start the snapshot thread", "index=%llu",
               (unsigned long long)meta.index);
        state_snapshot_release(snap);
        s->snap_src = NULL;
        return;
    }
    s->snap_thread_running = true;
    s->taking = true;
}

/* ---- the raft_io hooks ---------------------------------------------------------- */

static int io_snapshot_read(struct raft_io *io, const struct raft_snapshot_meta *meta,
                            uint64_t offset, void *buf, size_t cap, size_t *len)
{
    struct srv *s = io->data;
    if (!s->has_snap_local || s->snap_local_meta.index != meta->index ||
        s->snap_local.len != meta->size) {
        return RAFT_EIO;
    }
    size_t n = 0;
    if (offset < s->snap_local.len) {
        n = s->snap_local.len - offset < cap ? s->snap_local.len - (size_t)offset : cap;
        memcpy(buf, s->snap_local.data + offset, n);
    }
    *len = n;
    return 0;
}

static void on_recv_written(void *arg, int status, const struct cv_err *err)
{
    struct srv *s = arg;
    if (status != 0) {
        cv_log(CV_LOG_ERROR, "server", "received snapshot not written", "error=\"%s\"",
               err ? err->msg : "");
    }
    if (s->raft) {
        raft_snapshot_written(s->raft, status == 0 ? 0 : RAFT_EIO);
    }
}

static void io_snapshot_write(struct raft_io *io, const struct raft_snapshot_meta *meta,
                              uint64_t offset, const void *data, size_t len)
{
    struct srv *s = io->data;
    if (offset == 0) {
        cv_buf_reset(&s->snap_recv);
    }
    if (offset != s->snap_recv.len) {
        raft_snapshot_written(s->raft, RAFT_EIO);
        return;
    }
    cv_buf_append(&s->snap_recv, data, len);
    unsigned char conf[1 + RAFT_MAX_SERVERS * 9];
    struct store_snapshot_meta sm = {.index = meta->index,
                                     .term = meta->term,
                                     .size = meta->size,
                                     .conf = conf,
                                     .conf_len = conf_encode(meta, conf)};
    if (store_snapshot_put(s->store, &sm, offset, data, len, on_recv_written, s) != 0) {
        raft_snapshot_written(s->raft, RAFT_EIO);
    }
}

static void io_snapshot_install(struct raft_io *io, const struct raft_snapshot_meta *meta,
                                bool keep_log)
{
    struct srv *s = io->data;
    struct cv_err err = {0};
    if (s->snap_recv.len != meta->size ||
        restore_from(s, s->snap_recv.data, s->snap_recv.len, &err) != 0) {
        /* The snapshot is durable but unusable: this server cannot follow. */
        cv_log(CV_LOG_ERROR, "server", "cannot restore the received snapshot",
               "index=%llu error=\"%s\"", (unsigned long long)meta->index, err.msg);
        return;
    }
    uint64_t first = store_first_index(s->store), last = store_last_index(s->store);
    if (!keep_log && meta->index + 1 <= last && meta->index + 1 >= first) {
        store_truncate_tail(s->store, meta->index + 1, NULL, NULL);
    }
    store_truncate_head(s->store, meta->index, NULL, NULL);
    /* What we received is now our latest snapshot, servable in turn. */
    struct cv_buf tmp = s->snap_local;
    s->snap_local = s->snap_recv;
    s->snap_recv = tmp;
    cv_buf_reset(&s->snap_recv);
    s->snap_local_meta = *meta;
    s->has_snap_local = true;
    cv_log(CV_LOG_INFO, "server", "installed a snapshot from the leader", "index=%llu bytes=%llu",
           (unsigned long long)meta->index, (unsigned long long)meta->size);
}

void srv__snapshot_io(struct srv *s)
{
    cv_buf_init(&s->snap_local);
    cv_buf_init(&s->snap_recv);
    cv_buf_init(&s->snap_new);
    atomic_init(&s->snap_ready, false);
    s->io.snapshot_read = io_snapshot_read;
    s->io.snapshot_write = io_snapshot_write;
    s->io.snapshot_install = io_snapshot_install;
}

void srv__snapshot_join(struct srv *s)
{
    join_serializer(s, true);
}

void srv__snapshot_free(struct srv *s)
{
    join_serializer(s, true);
    cv_buf_free(&s->snap_new);
    cv_buf_free(&s->snap_local);
    cv_buf_free(&s->snap_recv);
}

/* ---- at start ------------------------------------------------------------------- */

struct chunk_read
{
    int status;
    struct cv_err err;
    struct cv_buf *into;
    size_t got;
};

static void on_chunk(void *arg, int status, const struct cv_err *err,
                     const struct store_snapshot_meta *meta, uint64_t offset, const void *data,
                     size_t len)
{
    (void)meta;
    (void)offset;
    struct chunk_read *c = arg;
    c->status = status;
    if (err) {
        c->err = *err;
    }
    if (status == 0) {
        cv_buf_append(c->into, data, len);
    }
    c->got = len;
}

int srv__snapshot_load(struct srv *s, const struct store_state *st, struct raft_snapshot_meta *meta,
                       bool *loaded, struct cv_err *err)
{
    *loaded = false;
    if (!st->has_snapshot) {
        return 0;
    }
    memset(meta, 0, sizeof *meta);
    meta->index = st->snapshot.index;
    meta->term = st->snapshot.term;
    meta->size = st->snapshot.size;
    if (conf_decode(st->snapshot.conf, st->snapshot.conf_len, meta) != 0) {
        return cv_err_setf(err, CV_EIO, "the latest snapshot (index %llu) has a bad configuration",
                           (unsigned long long)meta->index);
    }
    cv_buf_reset(&s->snap_local);
    while (s->snap_local.len < meta->size) {
        struct chunk_read c = {.into = &s->snap_local};
        if (store_snapshot_get(s->store, s->snap_local.len, CHUNK_BYTES, on_chunk, &c) != 0) {
            return cv_err_setf(err, CV_EINTERNAL, "cannot read the snapshot back");
        }
        store_drain(s->store);
        if (c.status != 0 || c.got == 0) {
            return cv_err_setf(err, c.status ? c.status : CV_EIO, "reading the snapshot: %s",
                               c.status ? c.err.msg : "shorter than its size");
        }
    }
    int rc = restore_from(s, s->snap_local.data, s->snap_local.len, err);
    if (rc != 0) {
        return cv_err_wrapf(err, "restoring the snapshot at index %llu",
                            (unsigned long long)meta->index);
    }
    s->snap_local_meta = *meta;
    s->has_snap_local = true;
    *loaded = true;
    return 0;
}
