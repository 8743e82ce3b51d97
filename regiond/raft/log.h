/*
 * log: the in-memory Raft log of one instance: entries with owned data. The
 * log may start after a snapshot: it then holds the entries after `offset`
 * and knows the term of the entry at `offset` (the snapshot's last), so
 * that an AppendEntries right after the snapshot can still be matched.
 * Internal to regiond/raft.
 */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include <stddef.h>

#include "regiond/raft/raft.h"

struct raft_log
{
    struct raft_entry *entries; /* entries[i] holds index offset + 1 + i; data owned */
    size_t len;
    size_t cap;
    raft_index offset;     /* the last index compacted away (0: none) */
    raft_term offset_term; /* the term of the entry at offset */
};

void raft_log_init(struct raft_log *log);
void raft_log_free(struct raft_log *log);
raft_index raft_log_last_index(const struct raft_log *log);
/* The term at index: the snapshot's term at offset, 0 below the offset
 * (compacted, unknown), for index 0 and past the end. */
raft_term raft_log_term(const struct raft_log *log, raft_index index);
/* The entry at index, or NULL (compacted or past the end). */
const struct raft_entry *raft_log_get(const struct raft_log *log, raft_index index);
/* Appends a copy of an entry whose index must be last + 1. */
void raft_log_append(struct raft_log *log, raft_term term, enum raft_entry_type type,
                     const void *data, size_t len);
/* Drops every entry from `index` on (index > offset). */
void raft_log_truncate(struct raft_log *log, raft_index index);
/* Drops every entry up to `index` (offset < index <= last), which a
 * snapshot covers. */
void raft_log_compact(struct raft_log *log, raft_index index);
/* Drops everything and continues after a snapshot ending at (index, term). */
void raft_log_reset(struct raft_log *log, raft_index index, raft_term term);

#endif
