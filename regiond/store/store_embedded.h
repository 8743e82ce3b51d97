/*
 * store_embedded: the default persistence adaptor, files in one directory.
 *
 *   meta             term, vote and the log's first index (48 bytes, CRC)
 *   seg-<seq hex>    log segments of a fixed size, preallocated with zeros;
 *                    a 32-byte header, then records (length, index, term,
 *                    type, batch, CRC32C, payload), 8-byte aligned
 *   snapshot         the latest finished snapshot (header, conf, data)
 *   *.tmp            files being written; removed when found at open
 *
 * meta and snapshot are replaced atomically (write the .tmp, fdatasync,
 * rename, fsync the directory); segments are created the same way, and the
 * directory is fsynced after every creation, rename and removal. Appends are
 * written into the current segment and covered by one fdatasync per group
 * commit. Recovery truncates a torn tail (records of the last, unsynced
 * batch) and refuses to open on a corrupt record that has later batches
 * after it, naming the file and offset. docs/store.md has the format.
 */
#ifndef CV_STORE_EMBEDDED_H
#define CV_STORE_EMBEDDED_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/store/store.h"
#include "regiond/store/store_fs.h"

#define STORE_SEGMENT_SIZE_DEFAULT (64u * 1024u * 1024u)
#define STORE_SEGMENT_SIZE_MIN     4096u

struct store_embedded_config
{
    const char *dir;       /* created when missing; borrowed */
    struct store_fs *fs;   /* NULL: store_fs_posix(); borrowed, must outlive the store */
    uint64_t segment_size; /* 0: STORE_SEGMENT_SIZE_DEFAULT; at least _MIN */
    bool manual;           /* no thread: store_dispatch does the work (tests) */
};

/* Opens (creating when empty) and recovers the store in cfg->dir, fills
 * *state (release with store_state_free) and returns 0; or returns CV_EIO
 * (the disk failed, or a corrupt record/file: the message names the file and
 * offset) or CV_EINVAL (bad configuration) and creates nothing. */
int store_embedded_open(const struct store_embedded_config *cfg, struct store **out,
                        struct store_state *state, struct cv_err *err);

#endif
