/*
 * log: the in-memory Raft log of one instance: entries with owned data,
 * indexed from 1. Internal to regiond/raft.
 */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include <stddef.h>

#include "regiond/raft/raft.h"

struct raft_log
{
    struct raft_entry *entries; /* entries[i] holds index i + 1; data owned */
    size_t len;
    size_t cap;
};

void raft_log_init(struct raft_log *log);
void raft_log_free(struct raft_log *log);
raft_index raft_log_last_index(const struct raft_log *log);
/* The term at index; 0 for index 0 or past the end. */
raft_term raft_log_term(const struct raft_log *log, raft_index index);
/* The entry at index, or NULL. */
const struct raft_entry *raft_log_get(const struct raft_log *log, raft_index index);
/* Appends a copy of an entry whose index must be last + 1. */
void raft_log_append(struct raft_log *log, raft_term term, enum raft_entry_type type,
                     const void *data, size_t len);
/* Drops every entry from `index` on. */
void raft_log_truncate(struct raft_log *log, raft_index index);

#endif
