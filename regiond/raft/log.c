/*
 * log: a growable array of entries. Entry data is copied in and freed on
 * truncation, so the log owns everything it holds.
 */
#include "regiond/raft/log.h"

#include <string.h>

#include "common/mem.h"

void raft_log_init(struct raft_log *log)
{
    log->entries = NULL;
    log->len = 0;
    log->cap = 0;
}

void raft_log_free(struct raft_log *log)
{
    raft_log_truncate(log, 1);
    cv_free(log->entries);
    raft_log_init(log);
}

raft_index raft_log_last_index(const struct raft_log *log)
{
    return (raft_index)log->len;
}

raft_term raft_log_term(const struct raft_log *log, raft_index index)
{
    return index >= 1 && index <= log->len ? log->entries[index - 1].term : 0;
}

const struct raft_entry *raft_log_get(const struct raft_log *log, raft_index index)
{
    return index >= 1 && index <= log->len ? &log->entries[index - 1] : NULL;
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
    e->index = (raft_index)log->len + 1;
    e->type = type;
    e->data = copy;
    e->len = len;
    log->len++;
}

void raft_log_truncate(struct raft_log *log, raft_index index)
{
    if (index < 1) {
        index = 1;
    }
    while (log->len >= index) {
        cv_free((void *)log->entries[log->len - 1].data);
        log->len--;
    }
}
