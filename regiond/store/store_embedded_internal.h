/*
 * store_embedded_internal: the embedded adaptor's state and on-disk layout,
 * shared by its write path (store_embedded.c) and its recovery
 * (store_recover.c). Nothing outside those two files includes it.
 */
#ifndef CV_STORE_EMBEDDED_INTERNAL_H
#define CV_STORE_EMBEDDED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/store/store.h"
#include "regiond/store/store_fs.h"

#define EMB_SEG_MAGIC  "CVSTSEG1"
#define EMB_META_MAGIC "CVSTMETA"
#define EMB_SNAP_MAGIC "CVSTSNAP"
#define EMB_VERSION    1u
#define EMB_SEG_HDR    40u /* magic 8, version 4, 0 4, seq 8, first index 8, crc 4, 0 4 */
#define EMB_REC_HDR    40u /* crc 4, len 4, index 8, term 8, batch 8, type 1, 0 7 */
#define EMB_META_SIZE  48u /* magic 8, version 4, 0 4, term, vote, first 8 each, crc 4, 0 4 */
#define EMB_SNAP_HDR                                                 \
    48u /* magic 8, version 4, conf_len 4, index, term, size 8 each, \
           data crc 4, header crc 4 (over [0,44) and conf) */
#define EMB_PATH_MAX 4096

struct emb_segment
{
    uint64_t seq;
    int fd;
    uint64_t size;  /* file size: its capacity */
    uint64_t end;   /* where the next record goes */
    uint64_t first; /* index of its first record (from the header; also when n == 0) */
    uint64_t *offs; /* offs[i]: offset of record first + i */
    size_t n, cap;
    bool dirty; /* written since its last fdatasync */
};

struct emb
{
    struct store_fs *fs;
    char *dir;
    uint64_t seg_size;
    struct emb_segment *segs; /* by seq; the last one takes appends */
    size_t nsegs, segcap;
    uint64_t next_seq;
    uint64_t term, vote, first_index; /* as in meta */
    uint64_t last_index;
    uint64_t batch_first; /* first index written since the last sync; 0: none */
    /* Records encoded but not yet written, for the last segment at woff. */
    unsigned char *wbuf;
    size_t wlen, wcap;
    uint64_t woff;
    /* The latest snapshot, and the one being written. */
    bool has_snap;
    struct store_snapshot_meta snap; /* conf owned */
    int snap_fd;
    int put_fd; /* -1 when none */
    uint32_t put_crc;
};

static inline uint64_t emb_align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static inline uint64_t emb_rec_size(size_t len)
{
    return EMB_REC_HDR + emb_align8(len);
}

void emb_put32(unsigned char *p, uint32_t v);
void emb_put64(unsigned char *p, uint64_t v);
uint32_t emb_get32(const unsigned char *p);
uint64_t emb_get64(const unsigned char *p);

/* Writes "dir/name" into out (EMB_PATH_MAX). */
void emb_path(const struct emb *e, const char *name, char *out);
void emb_seg_name(uint64_t seq, char *out, size_t size);
/* Turns a -errno from the fs into CV_EIO with "what file: strerror". */
int emb_fs_err(struct cv_err *err, int rc, const char *what, const char *file);

void emb_seg_push_off(struct emb_segment *seg, uint64_t index, uint64_t off);
/* Creates seg-<next_seq> of `size` bytes whose first record will be
 * `first` (tmp, header, zeros, fdatasync, rename, fsync dir), adds it last. */
int emb_seg_create(struct emb *e, uint64_t size, uint64_t first, struct cv_err *err);
/* Closes and unlinks segment i (no directory fsync) and forgets it. */
int emb_seg_remove(struct emb *e, size_t i, struct cv_err *err);
int emb_write_meta(struct emb *e, uint64_t term, uint64_t vote, uint64_t first, struct cv_err *err);

/* Recovery (store_recover.c): loads meta, the snapshot and the segments of
 * a directory into `e` (fs, dir, seg_size set), cleaning a torn tail. */
int emb_recover(struct emb *e, struct cv_err *err);

#endif
