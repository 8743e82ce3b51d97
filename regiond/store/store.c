/*
 * store: the queue, worker thread and completion delivery every adaptor
 * shares (the contract is in store.h, the backend's side in
 * store_internal.h).
 *
 * The caller's thread validates and copies each call into an `op` and
 * appends it to the submit list. The worker takes the whole list at once (a
 * "round") and applies it in order: appends are written as they come and
 * synced once, before the first op of the round that must not overtake them
 * and at the end of the round, so everything queued while the previous round
 * was syncing shares one sync (group commit). Finished ops go to the done
 * list, in order, and the eventfd is bumped; store_dispatch() runs their
 * callbacks on the caller's thread.
 *
 * Fail-stop: the first CV_EIO from the backend is kept in `fail`; every op
 * that was not yet durable (since the last good sync) and every later op
 * completes with it, and the backend is never called again except to close.
 */
#include "regiond/store/store.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "regiond/store/store_internal.h"

#define SNAPSHOT_CHUNK_MAX (64u * 1024u * 1024u)

enum op_type
{
    OP_APPEND,
    OP_TRUNCATE_TAIL,
    OP_TRUNCATE_HEAD,
    OP_TERM_VOTE,
    OP_SNAPSHOT_PUT,
    OP_SNAPSHOT_GET,
    OP_READ,
};

struct op
{
    struct op *next;
    enum op_type type;
    union
    {
        store_done_cb done;
        store_read_cb read;
        store_chunk_cb chunk;
    } cb;
    void *arg;
    int status;
    struct cv_err *err; /* set when status != 0 */
    /* arguments */
    uint64_t a, b;               /* index | term,vote | from,to | offset */
    struct store_entry *entries; /* OP_APPEND input, OP_READ result */
    size_t n;
    struct store_snapshot_meta meta; /* OP_SNAPSHOT_PUT input, GET result; conf owned */
    void *data;                      /* chunk, owned */
    size_t len;
    bool finish;
};

struct store
{
    const struct store_backend_ops *ops;
    void *backend;
    bool manual;
    int efd;
    pthread_t thread;
    bool thread_started;

    /* Guards the submit and done lists, `stopping` and `fail`. */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker waits here for submissions */
    struct op *submit_head, **submit_tail;
    struct op *done_head, **done_tail;
    bool stopping;
    struct cv_err fail; /* fail.code != 0 once failed */

    /* Caller's thread only. */
    uint64_t first, last;
    size_t inflight;
    bool put_open;
    uint64_t put_index, put_term, put_size, put_next;
};

struct store_entry *store_entries_alloc(size_t n, size_t data_bytes)
{
    size_t head = n * sizeof(struct store_entry);
    return cv_malloc(head + data_bytes + 1);
}

unsigned char *store_entries_data(struct store_entry *entries, size_t n)
{
    return (unsigned char *)entries + n * sizeof(struct store_entry);
}

void store_entries_free(struct store_entry *entries, size_t n)
{
    (void)n;
    cv_free(entries);
}

void store_state_free(struct store_state *state)
{
    if (state) {
        cv_free((void *)state->snapshot.conf);
        state->snapshot.conf = NULL;
        state->snapshot.conf_len = 0;
    }
}

/* ---- worker side ------------------------------------------------------------ */

static void op_fail(struct op *op, const struct cv_err *err)
{
    if (op->status != 0) {
        return;
    }
    op->status = err->code;
    op->err = cv_malloc(sizeof *op->err);
    *op->err = *err;
    if (op->type == OP_READ && op->entries) {
        store_entries_free(op->entries, op->n);
        op->entries = NULL;
        op->n = 0;
    }
}

static void enter_fail(struct store *s, const struct cv_err *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->fail.code == 0) {
        s->fail = *err;
    }
    pthread_mutex_unlock(&s->lock);
    cv_log(CV_LOG_ERROR, "store", "fail-stop: refusing further writes", "adaptor=%s error=\"%s\"",
           s->ops->name, err->msg);
}

static bool failed_now(struct store *s, struct cv_err *out)
{
    pthread_mutex_lock(&s->lock);
    bool failed = s->fail.code != 0;
    if (failed) {
        *out = s->fail;
    }
    pthread_mutex_unlock(&s->lock);
    return failed;
}

static int perform(struct store *s, struct op *op, struct cv_err *err)
{
    void *b = s->backend;
    switch (op->type) {
    case OP_APPEND:
        return op->n ? s->ops->append(b, op->entries, op->n, err) : 0;
    case OP_TRUNCATE_TAIL:
        return s->ops->truncate_tail(b, op->a, err);
    case OP_TRUNCATE_HEAD:
        return s->ops->truncate_head(b, op->a, err);
    case OP_TERM_VOTE:
        return s->ops->set_term_vote(b, op->a, op->b, err);
    case OP_SNAPSHOT_PUT:
        return s->ops->snapshot_put(b, &op->meta, op->a, op->data, op->len, op->finish, err);
    case OP_SNAPSHOT_GET: {
        struct store_snapshot_meta meta;
        op->data = cv_malloc(op->len ? op->len : 1);
        size_t got = 0;
        int rc = s->ops->snapshot_get(b, &meta, op->a, op->data, op->len, &got, err);
        if (rc == 0) {
            op->meta = meta;
            op->meta.conf = NULL;
            if (meta.conf_len) {
                void *conf = cv_malloc(meta.conf_len);
                memcpy(conf, meta.conf, meta.conf_len);
                op->meta.conf = conf;
            }
            op->len = got;
        }
        return rc;
    }
    case OP_READ:
        if (op->a > op->b) {
            op->entries = store_entries_alloc(0, 0);
            op->n = 0;
            return 0;
        }
        return s->ops->read(b, op->a, op->b, &op->entries, &op->n, err);
    }
    return cv_err_setf(err, CV_EINTERNAL, "unknown store operation %d", (int)op->type);
}

/* Applies one round of ops in order; see the comment at the top. */
static void run_round(struct store *s, struct op *list)
{
    struct cv_err err;
    struct op *unsynced_from = NULL; /* first op not yet covered by a sync */
    bool dirty = false;              /* appends written since the last sync */

    for (struct op *op = list; op; op = op->next) {
        if (failed_now(s, &err)) {
            op_fail(op, &err);
            continue;
        }
        bool overtakes =
            op->type != OP_APPEND && op->type != OP_READ && op->type != OP_SNAPSHOT_GET;
        if (overtakes && dirty) {
            cv_err_clear(&err);
            int rc = s->ops->sync(s->backend, &err);
            if (rc != 0) {
                enter_fail(s, &err);
                for (struct op *p = unsynced_from; p != op; p = p->next) {
                    op_fail(p, &err);
                }
                op_fail(op, &err);
                continue;
            }
            dirty = false;
            unsynced_from = NULL;
        }
        if (!unsynced_from) {
            unsynced_from = op;
        }
        cv_err_clear(&err);
        int rc = perform(s, op, &err);
        if (rc != 0) {
            if (err.code == 0) {
                cv_err_setf(&err, rc, "%s", cv_strerror(rc));
            }
            if (rc == CV_EIO || rc == CV_EINTERNAL) {
                enter_fail(s, &err);
                for (struct op *p = unsynced_from; p != op; p = p->next) {
                    op_fail(p, &err);
                }
            }
            op_fail(op, &err);
            continue;
        }
        if (op->type == OP_APPEND && op->n) {
            dirty = true;
        }
        if (overtakes) {
            unsynced_from = NULL;
        }
    }
    if (dirty && !failed_now(s, &err)) {
        cv_err_clear(&err);
        if (s->ops->sync(s->backend, &err) != 0) {
            enter_fail(s, &err);
            for (struct op *p = unsynced_from; p; p = p->next) {
                op_fail(p, &err);
            }
        }
    }

    struct op *tail = list;
    while (tail->next) {
        tail = tail->next;
    }
    pthread_mutex_lock(&s->lock);
    *s->done_tail = list;
    s->done_tail = &tail->next;
    pthread_mutex_unlock(&s->lock);
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof one);
    (void)w; /* EAGAIN only when the counter is saturated: still readable */
}

static void *worker_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->submit_head && !s->stopping) {
            pthread_cond_wait(&s->wake, &s->lock);
        }
        if (!s->submit_head) {
            break;
        }
        struct op *list = s->submit_head;
        s->submit_head = NULL;
        s->submit_tail = &s->submit_head;
        pthread_mutex_unlock(&s->lock);
        run_round(s, list);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- caller side ------------------------------------------------------------ */

/* Like an allocation failure: the process cannot run without these. */
static void fatal(const char *what, int errnum)
{
    cv_log(CV_LOG_ERROR, "store", "fatal", "what=\"%s\" error=\"%s\"", what, strerror(errnum));
    abort();
}

struct store *store_new(const struct store_backend_ops *ops, void *b,
                        const struct store_state *state, bool manual)
{
    struct store *s = cv_calloc(1, sizeof *s);
    s->ops = ops;
    s->backend = b;
    s->manual = manual;
    s->first = state->first_index;
    s->last = state->last_index;
    s->submit_tail = &s->submit_head;
    s->done_tail = &s->done_head;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        fatal("eventfd failed", errno);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (!manual) {
        int rc = pthread_create(&s->thread, NULL, worker_main, s);
        if (rc != 0) {
            fatal("cannot start the store thread", rc);
        }
        s->thread_started = true;
    }
    return s;
}

static struct op *op_new(enum op_type type, void *arg)
{
    struct op *op = cv_calloc(1, sizeof *op);
    op->type = type;
    op->arg = arg;
    return op;
}

static void submit(struct store *s, struct op *op)
{
    s->inflight++;
    pthread_mutex_lock(&s->lock);
    *s->submit_tail = op;
    s->submit_tail = &op->next;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->manual) {
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof one);
        (void)w;
    }
}

int store_append(struct store *s, const struct store_entry *entries, size_t n, store_done_cb cb,
                 void *arg)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index != s->last + 1 + i) {
            return CV_EINVAL;
        }
        if (entries[i].len > STORE_ENTRY_MAX || (entries[i].len && !entries[i].data)) {
            return CV_EINVAL;
        }
        total += entries[i].len;
    }
    struct op *op = op_new(OP_APPEND, arg);
    op->cb.done = cb;
    op->entries = store_entries_alloc(n, total);
    op->n = n;
    unsigned char *p = store_entries_data(op->entries, n);
    for (size_t i = 0; i < n; i++) {
        op->entries[i] = entries[i];
        op->entries[i].data = p;
        if (entries[i].len) {
            memcpy(p, entries[i].data, entries[i].len);
        }
        p += entries[i].len;
    }
    s->last += n;
    submit(s, op);
    return 0;
}

int store_truncate_tail(struct store *s, uint64_t index, store_done_cb cb, void *arg)
{
    if (index < s->first || index > s->last + 1) {
        return CV_EINVAL;
    }
    struct op *op = op_new(OP_TRUNCATE_TAIL, arg);
    op->cb.done = cb;
    op->a = index;
    s->last = index - 1;
    submit(s, op);
    return 0;
}

int store_truncate_head(struct store *s, uint64_t index, store_done_cb cb, void *arg)
{
    if (index == UINT64_MAX) {
        return CV_EINVAL;
    }
    struct op *op = op_new(OP_TRUNCATE_HEAD, arg);
    op->cb.done = cb;
    op->a = index;
    if (index >= s->last) {
        s->first = index + 1;
        s->last = index;
    } else if (index >= s->first) {
        s->first = index + 1;
    }
    submit(s, op);
    return 0;
}

int store_set_term_vote(struct store *s, uint64_t term, uint64_t vote, store_done_cb cb, void *arg)
{
    struct op *op = op_new(OP_TERM_VOTE, arg);
    op->cb.done = cb;
    op->a = term;
    op->b = vote;
    submit(s, op);
    return 0;
}

int store_snapshot_put(struct store *s, const struct store_snapshot_meta *meta, uint64_t offset,
                       const void *data, size_t len, store_done_cb cb, void *arg)
{
    if (meta->conf_len > STORE_CONF_MAX || (meta->conf_len && !meta->conf) || (len && !data) ||
        offset > meta->size || len > meta->size - offset) {
        return CV_EINVAL;
    }
    if (offset != 0 && (!s->put_open || s->put_index != meta->index || s->put_term != meta->term ||
                        s->put_size != meta->size || s->put_next != offset)) {
        return CV_EINVAL;
    }
    struct op *op = op_new(OP_SNAPSHOT_PUT, arg);
    op->cb.done = cb;
    op->meta = *meta;
    op->meta.conf = NULL;
    if (meta->conf_len) {
        void *conf = cv_malloc(meta->conf_len);
        memcpy(conf, meta->conf, meta->conf_len);
        op->meta.conf = conf;
    }
    op->a = offset;
    op->data = cv_malloc(len ? len : 1);
    if (len) {
        memcpy(op->data, data, len);
    }
    op->len = len;
    op->finish = offset + len == meta->size;
    s->put_open = !op->finish;
    s->put_index = meta->index;
    s->put_term = meta->term;
    s->put_size = meta->size;
    s->put_next = offset + len;
    submit(s, op);
    return 0;
}

int store_read(struct store *s, uint64_t from, uint64_t to, store_read_cb cb, void *arg)
{
    if (from <= to && (from < s->first || to > s->last)) {
        return CV_EINVAL;
    }
    struct op *op = op_new(OP_READ, arg);
    op->cb.read = cb;
    op->a = from;
    op->b = to;
    submit(s, op);
    return 0;
}

int store_snapshot_get(struct store *s, uint64_t offset, size_t max_len, store_chunk_cb cb,
                       void *arg)
{
    struct op *op = op_new(OP_SNAPSHOT_GET, arg);
    op->cb.chunk = cb;
    op->a = offset;
    op->len = max_len > SNAPSHOT_CHUNK_MAX ? SNAPSHOT_CHUNK_MAX : max_len;
    submit(s, op);
    return 0;
}

int store_event_fd(const struct store *s)
{
    return s->efd;
}

static void op_complete(struct op *op)
{
    const struct cv_err *err = op->err;
    switch (op->type) {
    case OP_READ:
        if (op->cb.read) {
            struct store_entry *entries = op->entries;
            op->entries = NULL;
            op->cb.read(op->arg, op->status, err, op->status ? NULL : entries,
                        op->status ? 0 : op->n);
        } else if (op->entries) {
            store_entries_free(op->entries, op->n);
            op->entries = NULL;
        }
        break;
    case OP_SNAPSHOT_GET:
        if (op->cb.chunk) {
            op->cb.chunk(op->arg, op->status, err, op->status ? NULL : &op->meta, op->a,
                         op->status ? NULL : op->data, op->status ? 0 : op->len);
        }
        break;
    default:
        if (op->cb.done) {
            op->cb.done(op->arg, op->status, err);
        }
        break;
    }
    if (op->type == OP_APPEND) {
        store_entries_free(op->entries, op->n);
    }
    cv_free((void *)op->meta.conf);
    cv_free(op->data);
    cv_free(op->err);
    cv_free(op);
}

size_t store_dispatch(struct store *s)
{
    if (s->manual) {
        pthread_mutex_lock(&s->lock);
        struct op *list = s->submit_head;
        s->submit_head = NULL;
        s->submit_tail = &s->submit_head;
        pthread_mutex_unlock(&s->lock);
        if (list) {
            run_round(s, list);
        }
    }
    uint64_t counter;
    ssize_t r = read(s->efd, &counter, sizeof counter);
    (void)r;
    pthread_mutex_lock(&s->lock);
    struct op *list = s->done_head;
    s->done_head = NULL;
    s->done_tail = &s->done_head;
    pthread_mutex_unlock(&s->lock);
    size_t ran = 0;
    while (list) {
        struct op *next = list->next;
        s->inflight--;
        op_complete(list);
        ran++;
        list = next;
    }
    return ran;
}

void store_drain(struct store *s)
{
    while (s->inflight > 0) {
        if (!s->manual) {
            struct pollfd pfd = {.fd = s->efd, .events = POLLIN};
            int rc = poll(&pfd, 1, -1);
            if (rc < 0 && errno != EINTR) {
                cv_log(CV_LOG_ERROR, "store", "poll failed", "errno=%d", errno);
                abort();
            }
        }
        store_dispatch(s);
    }
}

int store_failed(const struct store *s, struct cv_err *err)
{
    struct store *m = (struct store *)s; /* the lock is not part of the value */
    pthread_mutex_lock(&m->lock);
    int code = m->fail.code;
    if (code && err) {
        *err = m->fail;
    }
    pthread_mutex_unlock(&m->lock);
    return code;
}

uint64_t store_first_index(const struct store *s)
{
    return s->first;
}

uint64_t store_last_index(const struct store *s)
{
    return s->last;
}

const char *store_adaptor_name(const struct store *s)
{
    return s->ops->name;
}

void store_close(struct store *s)
{
    if (!s) {
        return;
    }
    store_drain(s);
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    s->ops->close(s->backend);
    close(s->efd);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    cv_free(s);
}
