/*
 * store_mem: the in-memory adaptor (see store_mem.h).
 *
 * The disk holds an array of entries [first, first + n) with their payloads
 * copied, term/vote, the latest snapshot and the one being written. Every
 * backend call applies at once; sync only consumes an injected fault.
 */
#include "regiond/store/store_mem.h"

#include <assert.h>
#include <string.h>

#include "common/mem.h"
#include "regiond/store/store_internal.h"

struct mem_entry
{
    uint64_t term;
    uint8_t type;
    unsigned char *data;
    size_t len;
};

struct mem_snapshot
{
    bool present;
    struct store_snapshot_meta meta; /* conf owned */
    unsigned char *data;             /* meta.size bytes */
};

struct store_mem_disk
{
    bool open;
    uint64_t term, vote;
    uint64_t first; /* index of entries[0] */
    struct mem_entry *entries;
    size_t n, cap;
    struct mem_snapshot snap, pending;
    bool fail_armed;
    unsigned fail_after;
};

struct store_mem_disk *store_mem_disk_new(void)
{
    struct store_mem_disk *d = cv_calloc(1, sizeof *d);
    d->first = 1;
    return d;
}

static void snapshot_clear(struct mem_snapshot *s)
{
    cv_free((void *)s->meta.conf);
    cv_free(s->data);
    memset(s, 0, sizeof *s);
}

static void drop_entries(struct store_mem_disk *d, size_t from)
{
    for (size_t i = from; i < d->n; i++) {
        cv_free(d->entries[i].data);
    }
    d->n = from;
}

void store_mem_disk_free(struct store_mem_disk *d)
{
    if (!d) {
        return;
    }
    drop_entries(d, 0);
    cv_free(d->entries);
    snapshot_clear(&d->snap);
    snapshot_clear(&d->pending);
    cv_free(d);
}

void store_mem_disk_fail_sync(struct store_mem_disk *d, unsigned after)
{
    d->fail_armed = true;
    d->fail_after = after;
}

static int mem_append(void *b, const struct store_entry *entries, size_t n, struct cv_err *err)
{
    (void)err;
    struct store_mem_disk *d = b;
    if (d->n + n > d->cap) {
        d->cap = (d->n + n) * 2;
        d->entries = cv_reallocarray(d->entries, d->cap, sizeof *d->entries);
    }
    for (size_t i = 0; i < n; i++) {
        struct mem_entry *e = &d->entries[d->n++];
        e->term = entries[i].term;
        e->type = entries[i].type;
        e->len = entries[i].len;
        e->data = cv_malloc(e->len ? e->len : 1);
        if (e->len) {
            memcpy(e->data, entries[i].data, e->len);
        }
    }
    return 0;
}

static int mem_sync(void *b, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    if (d->fail_armed) {
        if (d->fail_after == 0) {
            d->fail_armed = false;
            return cv_err_setf(err, CV_EIO, "mem: injected sync failure");
        }
        d->fail_after--;
    }
    return 0;
}

static int mem_truncate_tail(void *b, uint64_t index, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    int rc = mem_sync(b, err);
    if (rc == 0) {
        drop_entries(d, (size_t)(index - d->first));
    }
    return rc;
}

static int mem_truncate_head(void *b, uint64_t index, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    int rc = mem_sync(b, err);
    if (rc != 0 || index < d->first) {
        return rc;
    }
    uint64_t last = d->first + d->n - 1;
    if (index >= last) {
        drop_entries(d, 0);
    } else {
        size_t k = (size_t)(index - d->first + 1);
        for (size_t i = 0; i < k; i++) {
            cv_free(d->entries[i].data);
        }
        memmove(d->entries, d->entries + k, (d->n - k) * sizeof *d->entries);
        d->n -= k;
    }
    d->first = index + 1;
    return 0;
}

static int mem_set_term_vote(void *b, uint64_t term, uint64_t vote, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    int rc = mem_sync(b, err);
    if (rc == 0) {
        d->term = term;
        d->vote = vote;
    }
    return rc;
}

static int mem_snapshot_put(void *b, const struct store_snapshot_meta *meta, uint64_t offset,
                            const void *data, size_t len, bool finish, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    if (offset == 0) {
        snapshot_clear(&d->pending);
        d->pending.meta = *meta;
        d->pending.meta.conf = NULL;
        if (meta->conf_len) {
            void *conf = cv_malloc(meta->conf_len);
            memcpy(conf, meta->conf, meta->conf_len);
            d->pending.meta.conf = conf;
        }
        d->pending.data = cv_malloc(meta->size ? meta->size : 1);
    }
    if (len) {
        memcpy(d->pending.data + offset, data, len);
    }
    if (!finish) {
        return 0;
    }
    int rc = mem_sync(b, err);
    if (rc == 0) {
        snapshot_clear(&d->snap);
        d->snap = d->pending;
        d->snap.present = true;
        memset(&d->pending, 0, sizeof d->pending);
    }
    return rc;
}

static int mem_snapshot_get(void *b, struct store_snapshot_meta *meta, uint64_t offset, void *buf,
                            size_t max_len, size_t *len, struct cv_err *err)
{
    struct store_mem_disk *d = b;
    if (!d->snap.present) {
        return cv_err_setf(err, CV_ENOTFOUND, "mem: no snapshot");
    }
    *meta = d->snap.meta;
    uint64_t size = d->snap.meta.size;
    size_t n = offset >= size ? 0 : (size - offset < max_len ? (size_t)(size - offset) : max_len);
    if (n) {
        memcpy(buf, d->snap.data + offset, n);
    }
    *len = n;
    return 0;
}

static int mem_read(void *b, uint64_t from, uint64_t to, struct store_entry **out, size_t *n_out,
                    struct cv_err *err)
{
    struct store_mem_disk *d = b;
    if (from < d->first || to >= d->first + d->n) {
        return cv_err_setf(err, CV_EINTERNAL, "mem: read [%llu, %llu] outside the log",
                           (unsigned long long)from, (unsigned long long)to);
    }
    size_t n = (size_t)(to - from + 1), total = 0;
    size_t base = (size_t)(from - d->first);
    for (size_t i = 0; i < n; i++) {
        total += d->entries[base + i].len;
    }
    struct store_entry *es = store_entries_alloc(n, total);
    unsigned char *p = store_entries_data(es, n);
    for (size_t i = 0; i < n; i++) {
        const struct mem_entry *e = &d->entries[base + i];
        es[i] = (struct store_entry){from + i, e->term, e->type, p, e->len};
        if (e->len) {
            memcpy(p, e->data, e->len);
        }
        p += e->len;
    }
    *out = es;
    *n_out = n;
    return 0;
}

static void mem_close(void *b)
{
    struct store_mem_disk *d = b;
    snapshot_clear(&d->pending);
    d->open = false;
}

static const struct store_backend_ops mem_ops = {
    .name = "mem",
    .append = mem_append,
    .sync = mem_sync,
    .truncate_tail = mem_truncate_tail,
    .truncate_head = mem_truncate_head,
    .set_term_vote = mem_set_term_vote,
    .snapshot_put = mem_snapshot_put,
    .snapshot_get = mem_snapshot_get,
    .read = mem_read,
    .close = mem_close,
};

int store_mem_open(struct store_mem_disk *disk, bool manual, struct store **out,
                   struct store_state *state, struct cv_err *err)
{
    (void)err;
    assert(!disk->open);
    disk->open = true;
    memset(state, 0, sizeof *state);
    state->term = disk->term;
    state->vote = disk->vote;
    state->first_index = disk->first;
    state->last_index = disk->first + disk->n - 1;
    if (disk->snap.present) {
        state->has_snapshot = true;
        state->snapshot = disk->snap.meta;
        state->snapshot.conf = NULL;
        if (disk->snap.meta.conf_len) {
            void *conf = cv_malloc(disk->snap.meta.conf_len);
            memcpy(conf, disk->snap.meta.conf, disk->snap.meta.conf_len);
            state->snapshot.conf = conf;
        }
    }
    *out = store_new(&mem_ops, disk, state, manual);
    return 0;
}
