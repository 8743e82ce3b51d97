/*
 * store_embedded: the embedded adaptor's write path and backend operations
 * (format and promises in store_embedded.h and docs/store.md; recovery in
 * store_recover.c).
 *
 * Appends are encoded into a write buffer for the last segment; sync writes
 * the buffer with one pwrite and fdatasyncs every segment written since the
 * last sync (two when a batch crossed into a new segment). A record never
 * spans segments: when it does not fit, a new segment is created (bigger
 * than the configured size when the record alone is). Every record carries
 * the index of the first entry written since the last sync (its "batch"), so
 * recovery can tell a torn last batch from a corrupt record that later
 * batches follow.
 */
#include "regiond/store/store_embedded.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/store/crc32c.h"
#include "regiond/store/store_embedded_internal.h"
#include "regiond/store/store_internal.h"

#define WBUF_FLUSH (4u * 1024u * 1024u) /* write out the buffer beyond this */

/* ---- small helpers shared with store_recover.c --------------------------------- */

void emb_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

void emb_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

uint32_t emb_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

uint64_t emb_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

void emb_path(const struct emb *e, const char *name, char *out)
{
    snprintf(out, EMB_PATH_MAX, "%s/%s", e->dir, name);
}

void emb_seg_name(uint64_t seq, char *out, size_t size)
{
    snprintf(out, size, "seg-%016" PRIx64, seq);
}

int emb_fs_err(struct cv_err *err, int rc, const char *what, const char *file)
{
    return cv_err_setf(err, CV_EIO, "%s %s: %s", what, file, strerror(-rc));
}

void emb_seg_push_off(struct emb_segment *seg, uint64_t index, uint64_t off)
{
    assert(index == seg->first + seg->n);
    (void)index;
    if (seg->n == seg->cap) {
        seg->cap = seg->cap ? seg->cap * 2 : 64;
        seg->offs = cv_reallocarray(seg->offs, seg->cap, sizeof *seg->offs);
    }
    seg->offs[seg->n++] = off;
}

int emb_seg_create(struct emb *e, uint64_t size, uint64_t first, struct cv_err *err)
{
    char name[64], tmp[80], path[EMB_PATH_MAX], tmppath[EMB_PATH_MAX];
    uint64_t seq = e->next_seq;
    emb_seg_name(seq, name, sizeof name);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    emb_path(e, name, path);
    emb_path(e, tmp, tmppath);

    int fd, rc = e->fs->open(e->fs, tmppath, STORE_FS_CREATE | STORE_FS_TRUNC, &fd);
    if (rc != 0) {
        return emb_fs_err(err, rc, "create", tmppath);
    }
    unsigned char hdr[EMB_SEG_HDR] = {0};
    memcpy(hdr, EMB_SEG_MAGIC, 8);
    emb_put32(hdr + 8, EMB_VERSION);
    emb_put64(hdr + 16, seq);
    emb_put64(hdr + 24, first);
    emb_put32(hdr + 32, store_crc32c(0, hdr, 32));
    if ((rc = e->fs->pwrite(e->fs, fd, hdr, sizeof hdr, 0)) != 0 ||
        (rc = e->fs->prealloc(e->fs, fd, size)) != 0) {
        emb_fs_err(err, rc, "preallocate", tmppath);
        goto err_after_fd;
    }
    if ((rc = e->fs->fdatasync(e->fs, fd)) != 0) {
        emb_fs_err(err, rc, "fdatasync", tmppath);
        goto err_after_fd;
    }
    if ((rc = e->fs->rename(e->fs, tmppath, path)) != 0) {
        emb_fs_err(err, rc, "rename", tmppath);
        goto err_after_fd;
    }
    if ((rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        emb_fs_err(err, rc, "fsync directory", e->dir);
        goto err_after_fd;
    }
    if (e->nsegs == e->segcap) {
        e->segcap = e->segcap ? e->segcap * 2 : 8;
        e->segs = cv_reallocarray(e->segs, e->segcap, sizeof *e->segs);
    }
    e->segs[e->nsegs++] = (struct emb_segment){
        .seq = seq, .fd = fd, .size = size, .end = EMB_SEG_HDR, .first = first};
    e->next_seq++;
    return 0;

err_after_fd:
    e->fs->close(e->fs, fd);
    return CV_EIO;
}

int emb_seg_remove(struct emb *e, size_t i, struct cv_err *err)
{
    char name[64], path[EMB_PATH_MAX];
    struct emb_segment *seg = &e->segs[i];
    emb_seg_name(seg->seq, name, sizeof name);
    emb_path(e, name, path);
    e->fs->close(e->fs, seg->fd);
    cv_free(seg->offs);
    memmove(&e->segs[i], &e->segs[i + 1], (e->nsegs - i - 1) * sizeof *e->segs);
    e->nsegs--;
    int rc = e->fs->unlink(e->fs, path);
    return rc ? emb_fs_err(err, rc, "unlink", path) : 0;
}

/* Replaces a small file atomically: name.tmp, fdatasync, rename, fsync dir. */
static int replace_file(struct emb *e, const char *name, const void *data, size_t len,
                        struct cv_err *err)
{
    char path[EMB_PATH_MAX], tmppath[EMB_PATH_MAX], tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    emb_path(e, name, path);
    emb_path(e, tmp, tmppath);
    int fd, rc = e->fs->open(e->fs, tmppath, STORE_FS_CREATE | STORE_FS_TRUNC, &fd);
    if (rc != 0) {
        return emb_fs_err(err, rc, "create", tmppath);
    }
    if ((rc = e->fs->pwrite(e->fs, fd, data, len, 0)) != 0) {
        e->fs->close(e->fs, fd);
        return emb_fs_err(err, rc, "write", tmppath);
    }
    if ((rc = e->fs->fdatasync(e->fs, fd)) != 0) {
        e->fs->close(e->fs, fd);
        return emb_fs_err(err, rc, "fdatasync", tmppath);
    }
    e->fs->close(e->fs, fd);
    if ((rc = e->fs->rename(e->fs, tmppath, path)) != 0) {
        return emb_fs_err(err, rc, "rename", tmppath);
    }
    if ((rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        return emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    return 0;
}

int emb_write_meta(struct emb *e, uint64_t term, uint64_t vote, uint64_t first, struct cv_err *err)
{
    unsigned char m[EMB_META_SIZE] = {0};
    memcpy(m, EMB_META_MAGIC, 8);
    emb_put32(m + 8, EMB_VERSION);
    emb_put64(m + 16, term);
    emb_put64(m + 24, vote);
    emb_put64(m + 32, first);
    emb_put32(m + 40, store_crc32c(0, m, 40));
    int rc = replace_file(e, "meta", m, sizeof m, err);
    if (rc == 0) {
        e->term = term;
        e->vote = vote;
        e->first_index = first;
    }
    return rc;
}

/* ---- the write path --------------------------------------------------------- */

static struct emb_segment *last_seg(struct emb *e)
{
    assert(e->nsegs > 0);
    return &e->segs[e->nsegs - 1];
}

static int flush_wbuf(struct emb *e, struct cv_err *err)
{
    if (e->wlen == 0) {
        return 0;
    }
    struct emb_segment *seg = last_seg(e);
    int rc = e->fs->pwrite(e->fs, seg->fd, e->wbuf, e->wlen, e->woff);
    if (rc != 0) {
        char name[64];
        emb_seg_name(seg->seq, name, sizeof name);
        return cv_err_setf(err, CV_EIO, "write %s at offset %" PRIu64 ": %s", name, e->woff,
                           strerror(-rc));
    }
    seg->dirty = true;
    e->woff += e->wlen;
    e->wlen = 0;
    return 0;
}

static int emb_append(void *b, const struct store_entry *entries, size_t n, struct cv_err *err)
{
    struct emb *e = b;
    for (size_t i = 0; i < n; i++) {
        const struct store_entry *en = &entries[i];
        uint64_t need = emb_rec_size(en->len);
        struct emb_segment *seg = last_seg(e);
        if (seg->end + need > seg->size) {
            int rc = flush_wbuf(e, err);
            if (rc == 0) {
                uint64_t size = e->seg_size;
                if (EMB_SEG_HDR + need > size) {
                    size = emb_align8(EMB_SEG_HDR + need + 4095) & ~(uint64_t)4095;
                }
                rc = emb_seg_create(e, size, en->index, err);
            }
            if (rc != 0) {
                return rc;
            }
            seg = last_seg(e);
            e->woff = seg->end;
        }
        if (e->wlen + need > e->wcap) {
            e->wcap = (e->wlen + need) * 2;
            e->wbuf = cv_realloc(e->wbuf, e->wcap);
        }
        if (e->batch_first == 0) {
            e->batch_first = en->index;
        }
        unsigned char *p = e->wbuf + e->wlen;
        memset(p, 0, need);
        emb_put32(p + 4, (uint32_t)en->len);
        emb_put64(p + 8, en->index);
        emb_put64(p + 16, en->term);
        emb_put64(p + 24, e->batch_first);
        p[32] = en->type;
        if (en->len) {
            memcpy(p + EMB_REC_HDR, en->data, en->len);
        }
        emb_put32(p, store_crc32c(0, p + 4, EMB_REC_HDR - 4 + en->len));
        emb_seg_push_off(seg, en->index, seg->end);
        seg->end += need;
        e->wlen += need;
        e->last_index = en->index;
        if (e->wlen >= WBUF_FLUSH) {
            int rc = flush_wbuf(e, err);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int emb_sync(void *b, struct cv_err *err)
{
    struct emb *e = b;
    int rc = flush_wbuf(e, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < e->nsegs; i++) {
        struct emb_segment *seg = &e->segs[i];
        if (!seg->dirty) {
            continue;
        }
        if ((rc = e->fs->fdatasync(e->fs, seg->fd)) != 0) {
            char name[64];
            emb_seg_name(seg->seq, name, sizeof name);
            return emb_fs_err(err, rc, "fdatasync", name);
        }
        seg->dirty = false;
    }
    e->batch_first = 0;
    return 0;
}

/* Index of the segment holding `index`, or nsegs. */
static size_t find_seg(const struct emb *e, uint64_t index)
{
    size_t lo = 0, hi = e->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct emb_segment *s = &e->segs[mid];
        if (s->n == 0 || index < s->first) {
            /* Empty segments only trail the log; treat them as above it. */
            hi = mid;
        } else if (index >= s->first + s->n) {
            lo = mid + 1;
        } else {
            return mid;
        }
    }
    return e->nsegs;
}

static int zero_range(struct emb *e, struct emb_segment *seg, uint64_t from, uint64_t to,
                      struct cv_err *err)
{
    char name[64];
    emb_seg_name(seg->seq, name, sizeof name);
    enum
    {
        CHUNK = 1 << 20
    };
    unsigned char *zeros = cv_calloc(1, CHUNK);
    int rc = 0;
    for (uint64_t off = from; rc == 0 && off < to;) {
        size_t n = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
        rc = e->fs->pwrite(e->fs, seg->fd, zeros, n, off);
        off += n;
    }
    cv_free(zeros);
    if (rc == 0) {
        rc = e->fs->fdatasync(e->fs, seg->fd);
    }
    return rc ? emb_fs_err(err, rc, "zero the tail of", name) : 0;
}

static int emb_truncate_tail(void *b, uint64_t index, struct cv_err *err)
{
    struct emb *e = b;
    if (index > e->last_index) {
        return 0;
    }
    size_t k = find_seg(e, index);
    assert(k < e->nsegs);
    /* Later segments go first, newest first, so a crash leaves a prefix. */
    int rc = 0;
    bool removed = false;
    while (e->nsegs > k + 1) {
        if ((rc = emb_seg_remove(e, e->nsegs - 1, err)) != 0) {
            return rc;
        }
        removed = true;
    }
    if (removed && (rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        return emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    struct emb_segment *seg = &e->segs[k];
    uint64_t from = seg->offs[index - seg->first];
    if ((rc = zero_range(e, seg, from, seg->end, err)) != 0) {
        return rc;
    }
    seg->n = (size_t)(index - seg->first);
    seg->end = from;
    e->woff = from;
    e->last_index = index - 1;
    return 0;
}

static int emb_truncate_head(void *b, uint64_t index, struct cv_err *err)
{
    struct emb *e = b;
    if (index < e->first_index) {
        return 0;
    }
    int rc = emb_write_meta(e, e->term, e->vote, index + 1, err);
    if (rc != 0) {
        return rc;
    }
    if (index >= e->last_index) {
        /* Nothing of the log remains: start a fresh segment at index + 1. */
        while (e->nsegs > 0) {
            if ((rc = emb_seg_remove(e, 0, err)) != 0) {
                return rc;
            }
        }
        e->last_index = index;
        if ((rc = emb_seg_create(e, e->seg_size, index + 1, err)) != 0) {
            return rc;
        }
        e->woff = last_seg(e)->end;
        return 0;
    }
    /* Oldest first, so a crash leaves a suffix; meta already says where the
     * log starts. The last segment holds last_index > index: it stays. */
    bool removed = false;
    while (e->nsegs > 1 && (e->segs[0].n == 0 || e->segs[0].first + e->segs[0].n - 1 <= index)) {
        if ((rc = emb_seg_remove(e, 0, err)) != 0) {
            return rc;
        }
        removed = true;
    }
    if (removed && (rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        return emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    return 0;
}

static int emb_set_term_vote(void *b, uint64_t term, uint64_t vote, struct cv_err *err)
{
    struct emb *e = b;
    return emb_write_meta(e, term, vote, e->first_index, err);
}

static int emb_snapshot_put(void *b, const struct store_snapshot_meta *meta, uint64_t offset,
                            const void *data, size_t len, bool finish, struct cv_err *err)
{
    struct emb *e = b;
    char path[EMB_PATH_MAX], tmppath[EMB_PATH_MAX];
    emb_path(e, "snapshot", path);
    emb_path(e, "snapshot.tmp", tmppath);
    int rc;
    if (offset == 0) {
        if (e->put_fd >= 0) {
            e->fs->close(e->fs, e->put_fd);
            e->put_fd = -1;
        }
        if ((rc = e->fs->open(e->fs, tmppath, STORE_FS_CREATE | STORE_FS_TRUNC, &e->put_fd))) {
            e->put_fd = -1;
            return emb_fs_err(err, rc, "create", tmppath);
        }
        e->put_crc = 0;
    }
    uint64_t data_off = EMB_SNAP_HDR + meta->conf_len;
    if (len && (rc = e->fs->pwrite(e->fs, e->put_fd, data, len, data_off + offset)) != 0) {
        return emb_fs_err(err, rc, "write", tmppath);
    }
    e->put_crc = store_crc32c(e->put_crc, data, len);
    if (!finish) {
        return 0;
    }
    unsigned char *hdr = cv_malloc(EMB_SNAP_HDR + meta->conf_len);
    memset(hdr, 0, EMB_SNAP_HDR);
    memcpy(hdr, EMB_SNAP_MAGIC, 8);
    emb_put32(hdr + 8, EMB_VERSION);
    emb_put32(hdr + 12, (uint32_t)meta->conf_len);
    emb_put64(hdr + 16, meta->index);
    emb_put64(hdr + 24, meta->term);
    emb_put64(hdr + 32, meta->size);
    emb_put32(hdr + 40, e->put_crc);
    if (meta->conf_len) {
        memcpy(hdr + EMB_SNAP_HDR, meta->conf, meta->conf_len);
    }
    uint32_t hcrc = store_crc32c(0, hdr, 44);
    emb_put32(hdr + 44, store_crc32c(hcrc, hdr + EMB_SNAP_HDR, meta->conf_len));
    rc = e->fs->pwrite(e->fs, e->put_fd, hdr, EMB_SNAP_HDR + meta->conf_len, 0);
    cv_free(hdr);
    if (rc != 0) {
        return emb_fs_err(err, rc, "write", tmppath);
    }
    if ((rc = e->fs->fdatasync(e->fs, e->put_fd)) != 0) {
        return emb_fs_err(err, rc, "fdatasync", tmppath);
    }
    if ((rc = e->fs->rename(e->fs, tmppath, path)) != 0) {
        return emb_fs_err(err, rc, "rename", tmppath);
    }
    if ((rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        return emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    if (e->has_snap) {
        e->fs->close(e->fs, e->snap_fd);
        cv_free((void *)e->snap.conf);
    }
    e->snap_fd = e->put_fd;
    e->put_fd = -1;
    e->has_snap = true;
    e->snap = *meta;
    e->snap.conf = NULL;
    if (meta->conf_len) {
        void *conf = cv_malloc(meta->conf_len);
        memcpy(conf, meta->conf, meta->conf_len);
        e->snap.conf = conf;
    }
    return 0;
}

static int emb_snapshot_get(void *b, struct store_snapshot_meta *meta, uint64_t offset, void *buf,
                            size_t max_len, size_t *len, struct cv_err *err)
{
    struct emb *e = b;
    if (!e->has_snap) {
        return cv_err_setf(err, CV_ENOTFOUND, "no snapshot in %s", e->dir);
    }
    *meta = e->snap;
    uint64_t size = e->snap.size;
    size_t n = offset >= size ? 0 : (size - offset < max_len ? (size_t)(size - offset) : max_len);
    size_t got = 0;
    int rc =
        n ? e->fs->pread(e->fs, e->snap_fd, buf, n, EMB_SNAP_HDR + e->snap.conf_len + offset, &got)
          : 0;
    if (rc != 0 || got != n) {
        return emb_fs_err(err, rc ? rc : -EIO, "read", "snapshot");
    }
    *len = n;
    return 0;
}

/* Reads the records [from, to] of one segment with one pread. */
static int read_span(struct emb *e, struct emb_segment *seg, uint64_t from, uint64_t to,
                     unsigned char **span, uint64_t *base, struct cv_err *err)
{
    char name[64];
    emb_seg_name(seg->seq, name, sizeof name);
    uint64_t start = seg->offs[from - seg->first];
    uint64_t stop = to + 1 < seg->first + seg->n ? seg->offs[to + 1 - seg->first] : seg->end;
    unsigned char *buf = cv_malloc(stop - start);
    size_t got = 0;
    int rc = e->fs->pread(e->fs, seg->fd, buf, (size_t)(stop - start), start, &got);
    if (rc != 0 || got != stop - start) {
        cv_free(buf);
        return emb_fs_err(err, rc ? rc : -EIO, "read", name);
    }
    for (uint64_t i = from; i <= to; i++) {
        uint64_t off = seg->offs[i - seg->first];
        const unsigned char *p = buf + (off - start);
        uint32_t len = emb_get32(p + 4);
        if (off + EMB_REC_HDR + len > stop || emb_get64(p + 8) != i ||
            emb_get32(p) != store_crc32c(0, p + 4, EMB_REC_HDR - 4 + len)) {
            cv_free(buf);
            return cv_err_setf(err, CV_EIO, "corrupt record in %s/%s at offset %" PRIu64, e->dir,
                               name, off);
        }
    }
    *span = buf;
    *base = start;
    return 0;
}

static int emb_read(void *b, uint64_t from, uint64_t to, struct store_entry **out, size_t *n_out,
                    struct cv_err *err)
{
    struct emb *e = b;
    int rc = flush_wbuf(e, err);
    if (rc != 0) {
        return rc;
    }
    size_t k0 = find_seg(e, from), k1 = find_seg(e, to);
    if (k0 == e->nsegs || k1 == e->nsegs) {
        return cv_err_setf(err, CV_EINTERNAL, "read [%" PRIu64 ", %" PRIu64 "] outside the log",
                           from, to);
    }
    size_t nspans = k1 - k0 + 1;
    unsigned char **spans = cv_calloc(nspans, sizeof *spans);
    uint64_t *bases = cv_calloc(nspans, sizeof *bases);
    size_t total = 0;
    for (size_t k = k0; rc == 0 && k <= k1; k++) {
        struct emb_segment *seg = &e->segs[k];
        uint64_t a = k == k0 ? from : seg->first, z = k == k1 ? to : seg->first + seg->n - 1;
        rc = read_span(e, seg, a, z, &spans[k - k0], &bases[k - k0], err);
        for (uint64_t i = a; rc == 0 && i <= z; i++) {
            total += emb_get32(spans[k - k0] + (seg->offs[i - seg->first] - bases[k - k0]) + 4);
        }
    }
    if (rc == 0) {
        size_t n = (size_t)(to - from + 1), j = 0;
        struct store_entry *es = store_entries_alloc(n, total);
        unsigned char *d = store_entries_data(es, n);
        for (size_t k = k0; k <= k1; k++) {
            struct emb_segment *seg = &e->segs[k];
            uint64_t a = k == k0 ? from : seg->first, z = k == k1 ? to : seg->first + seg->n - 1;
            for (uint64_t i = a; i <= z; i++) {
                const unsigned char *p =
                    spans[k - k0] + (seg->offs[i - seg->first] - bases[k - k0]);
                size_t len = emb_get32(p + 4);
                memcpy(d, p + EMB_REC_HDR, len);
                es[j++] = (struct store_entry){i, emb_get64(p + 16), p[32], d, len};
                d += len;
            }
        }
        *out = es;
        *n_out = n;
    }
    for (size_t i = 0; i < nspans; i++) {
        cv_free(spans[i]);
    }
    cv_free(spans);
    cv_free(bases);
    return rc;
}

static void emb_free(struct emb *e)
{
    for (size_t i = 0; i < e->nsegs; i++) {
        e->fs->close(e->fs, e->segs[i].fd);
        cv_free(e->segs[i].offs);
    }
    if (e->has_snap) {
        e->fs->close(e->fs, e->snap_fd);
    }
    if (e->put_fd >= 0) {
        e->fs->close(e->fs, e->put_fd);
    }
    cv_free((void *)e->snap.conf);
    cv_free(e->segs);
    cv_free(e->wbuf);
    cv_free(e->dir);
    cv_free(e);
}

static void emb_close(void *b)
{
    emb_free(b);
}

static const struct store_backend_ops emb_ops = {
    .name = "embedded",
    .append = emb_append,
    .sync = emb_sync,
    .truncate_tail = emb_truncate_tail,
    .truncate_head = emb_truncate_head,
    .set_term_vote = emb_set_term_vote,
    .snapshot_put = emb_snapshot_put,
    .snapshot_get = emb_snapshot_get,
    .read = emb_read,
    .close = emb_close,
};

int store_embedded_open(const struct store_embedded_config *cfg, struct store **out,
                        struct store_state *state, struct cv_err *err)
{
    uint64_t seg_size = cfg->segment_size ? cfg->segment_size : STORE_SEGMENT_SIZE_DEFAULT;
    if (!cfg->dir || !*cfg->dir || strlen(cfg->dir) > EMB_PATH_MAX - 64) {
        return cv_err_setf(err, CV_EINVAL, "store directory must be a path");
    }
    if (seg_size < STORE_SEGMENT_SIZE_MIN) {
        return cv_err_setf(err, CV_EINVAL, "segment size must be at least %u bytes, got %" PRIu64,
                           STORE_SEGMENT_SIZE_MIN, seg_size);
    }
    struct emb *e = cv_calloc(1, sizeof *e);
    e->fs = cfg->fs ? cfg->fs : store_fs_posix();
    e->dir = cv_strdup(cfg->dir);
    e->seg_size = emb_align8(seg_size);
    e->put_fd = -1;
    e->snap_fd = -1;
    int rc = emb_recover(e, err);
    if (rc != 0) {
        emb_free(e);
        return rc;
    }
    e->woff = last_seg(e)->end;
    memset(state, 0, sizeof *state);
    state->term = e->term;
    state->vote = e->vote;
    state->first_index = e->first_index;
    state->last_index = e->last_index;
    if (e->has_snap) {
        state->has_snapshot = true;
        state->snapshot = e->snap;
        state->snapshot.conf = NULL;
        if (e->snap.conf_len) {
            void *conf = cv_malloc(e->snap.conf_len);
            memcpy(conf, e->snap.conf, e->snap.conf_len);
            state->snapshot.conf = conf;
        }
    }
    cv_log(CV_LOG_INFO, "store", "opened",
           "adaptor=embedded dir=%s first=%" PRIu64 " last=%" PRIu64 " segments=%zu", e->dir,
           e->first_index, e->last_index, e->nsegs);
    *out = store_new(&emb_ops, e, state, cfg->manual);
    return 0;
}
