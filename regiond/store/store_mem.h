/*
 * store_mem: the in-memory adaptor.
 *
 * Keeps the log, term/vote and the latest snapshot in a `struct
 * store_mem_disk` that outlives the store opened on it, so closing and
 * reopening the store is a restart that keeps everything written. It is the
 * reference the conformance suite compares the other adaptors with and the
 * disk the Raft simulator gives each server; with `manual`, operations run
 * only inside store_dispatch, so a simulation stays deterministic.
 *
 * It does not model power loss (writes are durable when applied); the
 * embedded adaptor on the simulated file system (store_fs_sim.h) does.
 */
#ifndef CV_STORE_MEM_H
#define CV_STORE_MEM_H

#include <stdbool.h>

#include "common/err.h"
#include "regiond/store/store.h"

struct store_mem_disk;

/* Returns a new, empty disk; free with store_mem_disk_free once no store is
 * open on it. */
struct store_mem_disk *store_mem_disk_new(void);
void store_mem_disk_free(struct store_mem_disk *disk);

/* Makes the sync after `after` more successful ones fail with CV_EIO, as a
 * medium error would (fault injection for the fail-stop tests). */
void store_mem_disk_fail_sync(struct store_mem_disk *disk, unsigned after);

/* Opens a store on `disk` (borrowed; must outlive the store; one store at a
 * time) and fills *state (release with store_state_free). Never fails today;
 * returns 0. */
int store_mem_open(struct store_mem_disk *disk, bool manual, struct store **out,
                   struct store_state *state, struct cv_err *err);

#endif
