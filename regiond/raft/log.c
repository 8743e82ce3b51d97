/*
 * log: a growable array of entries after an offset. Entry data is copied in
 * and freed when the entry is truncated or compacted away, so the log owns
 * everything it holds.
 */
#include "regiond/raft/log.h"

#include <string.h>

#include "common/mem.h"

void raft_log_init(struct raft_log *log)
{
    memset(log, 0, sizeof *log);
}

static void free_range(struct raft_log *log, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        cv_free((void *)log->entries[i].data);
    }
}

void raft_log_free(struct raft_log *log)
{
    free_range(log, 0, log->len);
    cv_free(log->entries);
    raft_log_init(log);
}

raft_index raft_log_last_index(const struct raft_log *log)
{
    return log->offset + (raft_index)log->len;
}

raft_term raft_log_term(const struct raft_log *log, raft_index index)
{
    if (index == 0 || index < log->offset || index > raft_log_last_index(log)) {
        return 0;
    }
    if (index == log->offset) {
        return log->offset_term;
    }
    return log->entries[index - log->offset - 1].term;
}

const struct raft_entry *raft_log_get(const struct raft_log *log, raft_index index)
{
    if (index <= log->offset || index > raft_log_last_index(log)) {
        return NULL;
    }
    return &log->entries[index - log->offset - 1];
}

void raft_log_append(struct raft_log *log, raft_term term, enum raft_entry_type type,
                     const void *data, size_t len)
{
    if (log->len == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 64;
        log->entries = cv_reallocarray(log->entries, log->cap, sizeof *log->entries);
    }
    void *copy = NULL;
    if (len) {
        copy = cv_malloc(len);
        memcpy(copy, data, len);
    }
    struct raft_entry *e = &log->entries[log->len];
    e->term = term;
    e->index = raft_log_last_index(log) + 1;
    e->type = type;
    e->data = copy;
    e->len = len;
    log->len++;
}

void raft_log_truncate(struct raft_log *log, raft_index index)
{
    if (index <= log->offset) {
        index = log->offset + 1;
    }
    if (index > raft_log_last_index(log)) {
        return;
    }
    size_t keep = (size_t)(index - log->offset - 1);
    free_range(log, keep, log->len);
    log->len = keep;
}

void raft_log_compact(struct raft_log *log, raft_index index)
{
    if (index <= log->offset || index > raft_log_last_index(log)) {
        return;
    }
    size_t drop = (size_t)(index - log->offset);
    raft_term term = log->entries[drop - 1].term;
    free_range(log, 0, drop);
    memmove(log->entries, log->entries + drop, (log->len - drop) * sizeof *log->entries);
    log->len -= drop;
    log->offset = index;
    log->offset_term = term;
}

void raft_log_reset(struct raft_log *log, raft_index index, raft_term term)
{
    free_range(log, 0, log->len);
    log->len = 0;
    log->offset = index;
    log->offset_term = term;
}
