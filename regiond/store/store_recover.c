/*
 * store_recover: opening an embedded store's directory (format in
 * store_embedded.h and docs/store.md).
 *
 * 1. Leftover *.tmp files are removed: they are writes that never finished.
 * 2. meta and snapshot are read and checked (a bad CRC refuses to start).
 * 3. Segments are scanned in order; each starts at the index its header
 *    names, which must continue the previous one. A segment ends at a zero
 *    record header or when no record fits. The scan stops at the first record
 *    that is not valid (CRC, length, index): the end of the valid prefix.
 * 4. What lies after that end decides between a torn tail and corruption.
 *    Only the last batch (everything written since the last fdatasync) can
 *    be torn; all its records name the same batch start, which is at most
 *    the index expected at the end. A valid record further on that names a
 *    LATER batch proves the bad spot was synced before: that is corruption
 *    in the middle, and the store refuses to open, naming file and offset.
 *    Otherwise the tail is torn: it is zeroed (and trailing segments
 *    removed) so that no stale record ever follows the end of the log.
 * 5. Segments wholly before meta's first index are deleted (a head
 *    truncation that crashed half-way); a missing piece of the log is
 *    corruption.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/store/crc32c.h"
#include "regiond/store/store_embedded_internal.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads a whole file into a new buffer. */
static int read_all(struct emb *e, int fd, const char *name, unsigned char **out, uint64_t *size,
                    struct cv_err *err)
{
    int rc = e->fs->size(e->fs, fd, size);
    if (rc != 0) {
        return emb_fs_err(err, rc, "stat", name);
    }
    unsigned char *buf = cv_malloc(*size ? (size_t)*size : 1);
    size_t got = 0;
    rc = e->fs->pread(e->fs, fd, buf, (size_t)*size, 0, &got);
    if (rc != 0 || got != *size) {
        cv_free(buf);
        return emb_fs_err(err, rc ? rc : -EIO, "read", name);
    }
    *out = buf;
    return 0;
}

static int load_meta(struct emb *e, struct cv_err *err)
{
    char path[EMB_PATH_MAX];
    emb_path(e, "meta", path);
    e->term = e->vote = 0;
    e->first_index = 1;
    int fd, rc = e->fs->open(e->fs, path, 0, &fd);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return emb_fs_err(err, rc, "open", path);
    }
    unsigned char m[EMB_META_SIZE];
    size_t got = 0;
    rc = e->fs->pread(e->fs, fd, m, sizeof m, 0, &got);
    e->fs->close(e->fs, fd);
    if (rc != 0) {
        return emb_fs_err(err, rc, "read", path);
    }
    if (got != sizeof m || memcmp(m, EMB_META_MAGIC, 8) != 0 ||
        emb_get32(m + 40) != store_crc32c(0, m, 40) || emb_get64(m + 32) == 0) {
        return cv_err_setf(err, CV_EIO, "corrupt meta file %s at offset 0", path);
    }
    if (emb_get32(m + 8) != EMB_VERSION) {
        return cv_err_setf(err, CV_EIO, "meta file %s has version %u, this build reads %u", path,
                           emb_get32(m + 8), EMB_VERSION);
    }
    e->term = emb_get64(m + 16);
    e->vote = emb_get64(m + 24);
    e->first_index = emb_get64(m + 32);
    return 0;
}

static int load_snapshot(struct emb *e, struct cv_err *err)
{
    char path[EMB_PATH_MAX];
    emb_path(e, "snapshot", path);
    int fd, rc = e->fs->open(e->fs, path, 0, &fd);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return emb_fs_err(err, rc, "open", path);
    }
    unsigned char *buf = NULL;
    uint64_t size = 0;
    if ((rc = read_all(e, fd, path, &buf, &size, err)) != 0) {
        e->fs->close(e->fs, fd);
        return rc;
    }
    uint32_t conf_len = size >= EMB_SNAP_HDR ? emb_get32(buf + 12) : 0;
    bool ok = size >= EMB_SNAP_HDR && memcmp(buf, EMB_SNAP_MAGIC, 8) == 0 &&
              emb_get32(buf + 8) == EMB_VERSION && conf_len <= STORE_CONF_MAX &&
              EMB_SNAP_HDR + conf_len <= size &&
              emb_get32(buf + 44) ==
                  store_crc32c(store_crc32c(0, buf, 44), buf + EMB_SNAP_HDR, conf_len) &&
              emb_get64(buf + 32) == size - EMB_SNAP_HDR - conf_len &&
              emb_get32(buf + 40) == store_crc32c(0, buf + EMB_SNAP_HDR + conf_len,
                                                  (size_t)(size - EMB_SNAP_HDR - conf_len));
    if (!ok) {
        cv_free(buf);
        e->fs->close(e->fs, fd);
        return cv_err_setf(err, CV_EIO, "corrupt snapshot file %s (size %" PRIu64 ")", path, size);
    }
    e->has_snap = true;
    e->snap_fd = fd;
    e->snap.index = emb_get64(buf + 16);
    e->snap.term = emb_get64(buf + 24);
    e->snap.size = emb_get64(buf + 32);
    e->snap.conf_len = conf_len;
    if (conf_len) {
        void *conf = cv_malloc(conf_len);
        memcpy(conf, buf + EMB_SNAP_HDR, conf_len);
        e->snap.conf = conf;
    }
    cv_free(buf);
    return 0;
}

/* A record at `off` that passes every check; fills index/batch/size. */
static bool record_valid(const unsigned char *buf, uint64_t size, uint64_t off, uint64_t *index,
                         uint64_t *batch, uint64_t *rec_size)
{
    if (off + EMB_REC_HDR > size) {
        return false;
    }
    const unsigned char *p = buf + off;
    uint32_t len = emb_get32(p + 4);
    uint64_t idx = emb_get64(p + 8), b = emb_get64(p + 24);
    if (len > STORE_ENTRY_MAX || off + EMB_REC_HDR + len > size || idx == 0 || b == 0 || b > idx ||
        emb_get32(p) != store_crc32c(0, p + 4, EMB_REC_HDR - 4 + len)) {
        return false;
    }
    *index = idx;
    *batch = b;
    *rec_size = emb_rec_size(len);
    return true;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* Looks in buf[from, size) for a valid record of a batch after `expect`. */
static bool later_batch_in(const unsigned char *buf, uint64_t size, uint64_t from, uint64_t expect,
                           uint64_t *where)
{
    for (uint64_t off = emb_align8(from); off + EMB_REC_HDR <= size; off += 8) {
        const unsigned char *p = buf + off;
        uint64_t b = emb_get64(p + 24);
        uint64_t index, batch, rs;
        if (b > expect && record_valid(buf, size, off, &index, &batch, &rs)) {
            *where = off;
            return true;
        }
    }
    return false;
}

struct scan
{
    uint64_t expect; /* index the next record must have */
    size_t broken;   /* segment where the valid prefix ended early; nsegs: none */
    uint64_t stop;   /* offset of the end of the valid prefix in the last scanned segment */
    char why[128];
};

/* Opens segment `seq`, scans its valid prefix into a new e->segs entry. */
static int scan_segment(struct emb *e, uint64_t seq, struct scan *sc, unsigned char **buf_out,
                        uint64_t *size_out, struct cv_err *err)
{
    char name[64], path[EMB_PATH_MAX];
    emb_seg_name(seq, name, sizeof name);
    emb_path(e, name, path);
    int fd, rc = e->fs->open(e->fs, path, 0, &fd);
    if (rc != 0) {
        return emb_fs_err(err, rc, "open", path);
    }
    unsigned char *buf;
    uint64_t size;
    if ((rc = read_all(e, fd, path, &buf, &size, err)) != 0) {
        e->fs->close(e->fs, fd);
        return rc;
    }
    if (size < EMB_SEG_HDR || memcmp(buf, EMB_SEG_MAGIC, 8) != 0 ||
        emb_get32(buf + 32) != store_crc32c(0, buf, 32) || emb_get64(buf + 16) != seq ||
        emb_get32(buf + 8) != EMB_VERSION) {
        cv_free(buf);
        e->fs->close(e->fs, fd);
        return cv_err_setf(err, CV_EIO, "corrupt segment header in %s at offset 0", path);
    }
    if (e->nsegs == e->segcap) {
        e->segcap = e->segcap ? e->segcap * 2 : 8;
        e->segs = cv_reallocarray(e->segs, e->segcap, sizeof *e->segs);
    }
    struct emb_segment *seg = &e->segs[e->nsegs++];
    *seg = (struct emb_segment){.seq = seq, .fd = fd, .size = size, .first = emb_get64(buf + 24)};
    uint64_t off = EMB_SEG_HDR;
    if (sc->expect != 0 && seg->first != sc->expect) {
        snprintf(sc->why, sizeof sc->why, "segment starts at index %" PRIu64 ", expected %" PRIu64,
                 seg->first, sc->expect);
        sc->broken = e->nsegs - 1;
    } else {
        sc->expect = seg->first;
        for (;;) {
            uint64_t index, batch, rs;
            if (off + EMB_REC_HDR > size || all_zero(buf + off, EMB_REC_HDR)) {
                break;
            }
            if (!record_valid(buf, size, off, &index, &batch, &rs) || index != sc->expect) {
                snprintf(sc->why, sizeof sc->why, "bad record, expected index %" PRIu64,
                         sc->expect);
                sc->broken = e->nsegs - 1;
                break;
            }
            emb_seg_push_off(seg, index, off);
            sc->expect++;
            off += rs;
        }
    }
    seg->end = off;
    sc->stop = off;
    *buf_out = buf;
    *size_out = size;
    return 0;
}

/* Zeroes the non-zero bytes of buf[from, size) in the segment's file. */
static int zero_tail(struct emb *e, struct emb_segment *seg, const unsigned char *buf,
                     uint64_t size, uint64_t from, bool *changed, struct cv_err *err)
{
    uint64_t last = size;
    while (last > from && buf[last - 1] == 0) {
        last--;
    }
    if (last <= from) {
        return 0;
    }
    unsigned char *zeros = cv_calloc(1, (size_t)(last - from));
    int rc = e->fs->pwrite(e->fs, seg->fd, zeros, (size_t)(last - from), from);
    cv_free(zeros);
    if (rc == 0) {
        rc = e->fs->fdatasync(e->fs, seg->fd);
    }
    *changed = true;
    char name[64];
    emb_seg_name(seg->seq, name, sizeof name);
    return rc ? emb_fs_err(err, rc, "zero the torn tail of", name) : 0;
}

/* A damaged record with an acknowledged batch after it is not a torn tail:
 * acknowledged data would be lost by truncating, so recovery stops. */
static int refuse_corrupt(const struct emb *e, const char *file, uint64_t offset,
                          const struct scan *sc, uint64_t later, struct cv_err *err)
{
    return cv_err_setf(err, CV_EIO,
                       "corrupt record in %s/%s at offset %" PRIu64
                       " (%s), and a later batch follows at offset %" PRIu64
                       ": refusing to start, see docs/store.md",
                       e->dir, file, offset, sc->broken != SIZE_MAX ? sc->why : "zeroed record",
                       later);
}

static int scan_log(struct emb *e, uint64_t *seqs, size_t nseqs, struct cv_err *err)
{
    struct scan sc = {.expect = 0, .broken = SIZE_MAX};
    unsigned char *buf = NULL;
    uint64_t size = 0;
    int rc = 0;
    size_t k = 0;
    /* The valid prefix: stop at the first segment that breaks it. */
    for (; k < nseqs; k++) {
        cv_free(buf);
        buf = NULL;
        if ((rc = scan_segment(e, seqs[k], &sc, &buf, &size, err)) != 0) {
            goto out;
        }
        if (sc.broken != SIZE_MAX) {
            break;
        }
    }
    if (k == nseqs && nseqs > 0) {
        k = nseqs - 1; /* not broken: only the last segment's tail may be torn */
    }
    /* Everything after the end: the rest of segment k, then whole segments. */
    uint64_t expect = sc.expect, where;
    char bad[64];
    if (nseqs > 0) {
        emb_seg_name(seqs[k], bad, sizeof bad);
        uint64_t bad_off = sc.stop;
        if (later_batch_in(buf, size, sc.stop, expect, &where)) {
            rc = refuse_corrupt(e, bad, bad_off, &sc, where, err);
            goto out;
        }
        for (size_t j = k + 1; j < nseqs; j++) {
            char name[64], path[EMB_PATH_MAX];
            emb_seg_name(seqs[j], name, sizeof name);
            emb_path(e, name, path);
            unsigned char *other;
            uint64_t osize;
            int fd;
            if ((rc = e->fs->open(e->fs, path, 0, &fd)) != 0) {
                rc = emb_fs_err(err, rc, "open", path);
                goto out;
            }
            rc = read_all(e, fd, path, &other, &osize, err);
            e->fs->close(e->fs, fd);
            if (rc != 0) {
                goto out;
            }
            bool later = later_batch_in(other, osize, EMB_SEG_HDR, expect, &where);
            cv_free(other);
            if (later) {
                rc = refuse_corrupt(e, bad, bad_off, &sc, where, err);
                goto out;
            }
        }
        /* Torn: zero the tail, remove the segments after (newest first). */
        bool changed = false;
        struct emb_segment *lastseg = &e->segs[e->nsegs - 1];
        if (lastseg->first + lastseg->n != expect) {
            /* Its header does not continue the log: the whole segment is the
             * torn part (created for the last batch, written out of order). */
            if ((rc = emb_seg_remove(e, e->nsegs - 1, err)) != 0) {
                goto out;
            }
            changed = true;
        } else if ((rc = zero_tail(e, lastseg, buf, size, sc.stop, &changed, err))) {
            goto out;
        }
        for (size_t j = nseqs; j-- > k + 1;) {
            char name[64], path[EMB_PATH_MAX];
            emb_seg_name(seqs[j], name, sizeof name);
            emb_path(e, name, path);
            if ((rc = e->fs->unlink(e->fs, path)) != 0) {
                rc = emb_fs_err(err, rc, "unlink", path);
                goto out;
            }
            changed = true;
        }
        if (changed) {
            cv_log(CV_LOG_WARN, "store", "truncated a torn tail",
                   "file=%s offset=%" PRIu64 " reason=\"%s\"", bad, bad_off,
                   sc.broken != SIZE_MAX ? sc.why : "unsynced bytes after the end");
        }
        if (changed && (rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
            rc = emb_fs_err(err, rc, "fsync directory", e->dir);
            goto out;
        }
    }
    e->last_index = expect ? expect - 1 : 0;
out:
    cv_free(buf);
    return rc;
}

/* Step 5: drop what lies wholly before first_index; make sure a segment
 * exists for appends. */
static int trim_head(struct emb *e, struct cv_err *err)
{
    int rc;
    bool removed = false;
    if (e->nsegs > 0 && e->last_index + 1 < e->first_index) {
        /* All stale (a head truncation past the end crashed before its
         * removals): start over at first_index. */
        while (e->nsegs > 0) {
            if ((rc = emb_seg_remove(e, 0, err)) != 0) {
                return rc;
            }
        }
        removed = true;
    } else if (e->nsegs > 0 && e->segs[0].first > e->first_index) {
        char name[64];
        emb_seg_name(e->segs[0].seq, name, sizeof name);
        return cv_err_setf(err, CV_EIO,
                           "log in %s starts at index %" PRIu64 " (%s) but meta says %" PRIu64
                           ": entries are missing",
                           e->dir, e->segs[0].first, name, e->first_index);
    }
    while (e->nsegs > 1 && e->segs[1].first <= e->first_index) {
        if ((rc = emb_seg_remove(e, 0, err)) != 0) {
            return rc;
        }
        removed = true;
    }
    if (removed && (rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        return emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    if (e->last_index + 1 < e->first_index) {
        e->last_index = e->first_index - 1;
    }
    if (e->nsegs == 0) {
        return emb_seg_create(e, e->seg_size, e->last_index + 1, err);
    }
    return 0;
}

int emb_recover(struct emb *e, struct cv_err *err)
{
    int rc = e->fs->mkdir(e->fs, e->dir);
    if (rc != 0) {
        return emb_fs_err(err, rc, "create directory", e->dir);
    }
    char **names;
    size_t n;
    if ((rc = e->fs->list(e->fs, e->dir, &names, &n)) != 0) {
        return emb_fs_err(err, rc, "list", e->dir);
    }
    uint64_t *seqs = cv_calloc(n + 1, sizeof *seqs);
    size_t nseqs = 0;
    bool removed = false;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(names[i]);
        char path[EMB_PATH_MAX];
        if (len > 4 && strcmp(names[i] + len - 4, ".tmp") == 0) {
            emb_path(e, names[i], path);
            if ((rc = e->fs->unlink(e->fs, path)) != 0) {
                rc = emb_fs_err(err, rc, "unlink", path);
            }
            removed = true;
        } else if (len == 20 && strncmp(names[i], "seg-", 4) == 0 &&
                   strspn(names[i] + 4, "0123456789abcdef") == 16) {
            seqs[nseqs++] = strtoull(names[i] + 4, NULL, 16);
        }
    }
    store_fs_names_free(names, n);
    if (rc == 0 && removed && (rc = e->fs->fsync_dir(e->fs, e->dir)) != 0) {
        rc = emb_fs_err(err, rc, "fsync directory", e->dir);
    }
    qsort(seqs, nseqs, sizeof *seqs, cmp_u64);
    e->next_seq = nseqs ? seqs[nseqs - 1] + 1 : 1;
    if (rc == 0 && (rc = load_meta(e, err)) == 0 && (rc = load_snapshot(e, err)) == 0 &&
        (rc = scan_log(e, seqs, nseqs, err)) == 0) {
        rc = trim_head(e, err);
    }
    cv_free(seqs);
    return rc;
}
