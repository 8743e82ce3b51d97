/*
 * store_fs_sim: a simulated file system in memory that can lose power.
 *
 * Like SQLite's crash VFS (test6.c), it keeps for every file what a reader
 * sees and what is durable, and the writes made since the file's last
 * fdatasync; for the namespace, the creations, renames and removals since the
 * last directory fsync. store_fs_sim_crash_at_sync arms a power cut at the
 * Nth sync from now (fdatasync or directory fsync): that call and every
 * later one fail with -EIO, as if the process died there. A power cycle then
 * rebuilds the durable state, and the unsynced writes are
 *
 *   KEEP  all applied (the kernel flushed them before the cut),
 *   DROP  all lost,
 *   TORN  applied or not per 512-byte sector, some sectors filled with
 *         garbage, and a random prefix of the namespace changes applied.
 *
 * It can also fail the Nth sync or write with an error (EIO, ENOSPC) without
 * a crash, for fail-stop tests. Paths are plain strings in one flat
 * namespace; directories are implicit. Not thread-safe beyond one user at a
 * time (the store's worker or the test, not both at once).
 */
#ifndef CV_STORE_FS_SIM_H
#define CV_STORE_FS_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "regiond/store/store_fs.h"

enum store_fs_sim_mode
{
    STORE_FS_SIM_KEEP,
    STORE_FS_SIM_DROP,
    STORE_FS_SIM_TORN,
};

/* A new, empty file system; `seed` drives the TORN choices. */
struct store_fs *store_fs_sim_new(uint64_t seed);
void store_fs_sim_free(struct store_fs *fs);

/* Power is cut during the nth sync from now (n >= 1). */
void store_fs_sim_crash_at_sync(struct store_fs *fs, unsigned n);
/* True once the armed cut happened. */
bool store_fs_sim_crashed(const struct store_fs *fs);
/* Restores power: the durable state, plus unsynced changes per `mode`,
 * becomes the state; open files are forgotten. */
void store_fs_sim_power_cycle(struct store_fs *fs, enum store_fs_sim_mode mode);

/* The sync after `after` more good ones returns `neg_errno` (no crash). */
void store_fs_sim_fail_sync(struct store_fs *fs, unsigned after, int neg_errno);
/* The write (pwrite or prealloc) after `after` more good ones returns
 * `neg_errno` and writes nothing. */
void store_fs_sim_fail_write(struct store_fs *fs, unsigned after, int neg_errno);
/* Syncs made so far (fdatasync and directory fsync). */
unsigned store_fs_sim_syncs(const struct store_fs *fs);

#endif
