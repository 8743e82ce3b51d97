/*
 * store_internal: what an adaptor implements under store.h.
 *
 * store.c owns the queue, the worker thread, completion delivery, argument
 * checks and the fail-stop state. An adaptor supplies synchronous backend
 * operations that store.c calls on its worker thread (or, in manual mode, in
 * store_dispatch), one at a time and in submission order:
 *
 *   append   writes entries, need not make them durable;
 *   sync     makes every appended entry durable (one call per group commit);
 *   others   are durable when they return (store.c syncs appends first).
 *
 * A backend returns 0 or a negative CV_E* code with a message. CV_EIO means
 * the medium failed: store.c enters fail-stop and calls nothing but close
 * afterwards. Other codes (CV_ENOTFOUND from snapshot_get) fail that call only.
 */
#ifndef CV_STORE_INTERNAL_H
#define CV_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/store/store.h"

struct store_backend_ops
{
    const char *name;
    int (*append)(void *b, const struct store_entry *entries, size_t n, struct cv_err *err);
    int (*sync)(void *b, struct cv_err *err);
    int (*truncate_tail)(void *b, uint64_t index, struct cv_err *err);
    int (*truncate_head)(void *b, uint64_t index, struct cv_err *err);
    int (*set_term_vote)(void *b, uint64_t term, uint64_t vote, struct cv_err *err);
    /* meta is the same for every chunk of one snapshot; finish is true on the
     * last chunk, which must leave the snapshot durable and current. */
    int (*snapshot_put)(void *b, const struct store_snapshot_meta *meta, uint64_t offset,
                        const void *data, size_t len, bool finish, struct cv_err *err);
    /* Fills *meta (conf borrowed from the backend) and copies up to max_len
     * bytes into buf; *len gets the count. */
    int (*snapshot_get)(void *b, struct store_snapshot_meta *meta, uint64_t offset, void *buf,
                        size_t max_len, size_t *len, struct cv_err *err);
    /* Returns a new block from store_entries_alloc. */
    int (*read)(void *b, uint64_t from, uint64_t to, struct store_entry **entries, size_t *n,
                struct cv_err *err);
    void (*close)(void *b);
};

/* Wraps an opened backend (takes ownership of `b`: ops->close releases it).
 * `state` is what the backend recovered; store.c keeps the bounds. With
 * `manual`, no thread is started: store_dispatch performs the operations,
 * which makes a simulation deterministic. */
struct store *store_new(const struct store_backend_ops *ops, void *b,
                        const struct store_state *state, bool manual);

/* One allocation holding n entries followed by `data_bytes` of payload; the
 * caller points each entry's data inside it (store_entries_data). */
struct store_entry *store_entries_alloc(size_t n, size_t data_bytes);
unsigned char *store_entries_data(struct store_entry *entries, size_t n);

#endif
