/*
 * fsm: committed Raft entries in, one state transaction per entry out.
 *
 * fsm_apply reads the two header bytes, parses the JSON body with limits of
 * its own (Raft's entry size; a depth that leaves room for a job inside an
 * allocation inside a plan) and decodes the whole command (fsm_commands.c,
 * fsm_nodes.c) before it opens the transaction, so an entry that does not
 * decode never touches the state. A decoded command is applied in one
 * transaction at the entry's index; if the state refuses any part of it the
 * transaction is aborted, and nothing of the command is visible, ever.
 *
 * The index. Whatever the outcome (applied, rejected, skipped), the state's
 * index moves to the entry's: a refused or undecodable entry commits an
 * empty transaction, which writes no table (watches stay quiet) but
 * advances the index. Every server applies the same entries with the same
 * code, so every server skips and rejects the same ones and their states
 * stay identical, index included; Raft's snapshots and "wait until the
 * state reaches index N" can rely on the state's index being the last
 * applied entry. fsm_apply_noop does the same for Raft's own entries.
 *
 * Counters are atomics so that a metrics endpoint may read them from
 * another thread; everything else runs on the applying thread.
 */
#include "regiond/fsm.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "regiond/fsm_internal.h"

#define SNAPSHOT_FORMAT "caravan-fsm"
/* The header line fsm_restore reads before handing over to the state's
 * restore; ours is 37 bytes. */
#define SNAPSHOT_HEADER_MAX 256

struct fsm
{
    struct state_store *st; /* borrowed */
    _Atomic uint64_t applied;
    _Atomic uint64_t rejected;
    _Atomic uint64_t skipped;
    _Atomic uint64_t noops;
    _Atomic uint64_t last_index;
    _Atomic uint64_t last_skipped_index;
};

/* Limits for an entry's body: the entry is at most Raft's limit; a job
 * accepted at the border (depth 64 with its envelope) sits three levels
 * deeper inside a plan; 8 million values bound the parse tree's memory
 * (some 300 MB) far above any real plan (10,000 allocations are about a
 * million values). */
static const struct cv_json_limits entry_limits = {
    .max_bytes = FSM_MAX_ENTRY_BYTES,
    .max_depth = 96,
    .max_string = 16u << 20,
    .max_nodes = 8u << 20,
};

static const char *const command_names[FSM_COMMAND_MAX + 1] = {
    [FSM_JOB_REGISTER] = "JobRegister",
    [FSM_JOB_DEREGISTER] = "JobDeregister",
    [FSM_NODE_REGISTER] = "NodeRegister",
    [FSM_NODE_STATUS] = "NodeStatus",
    [FSM_NODE_ELIGIBILITY] = "NodeEligibility",
    [FSM_NODE_DEREGISTER] = "NodeDeregister",
    [FSM_EVAL_UPDATE] = "EvalUpdate",
    [FSM_EVAL_DELETE] = "EvalDelete",
    [FSM_ALLOC_CLIENT_UPDATE] = "AllocClientUpdate",
    [FSM_PLAN_APPLY] = "PlanApply",
    [FSM_NODE_DRAIN] = "NodeDrain",
};

const char *fsm_command_name(unsigned type)
{
    if (type == 0 || type > FSM_COMMAND_MAX || !command_names[type]) {
        return "unknown";
    }
    return command_names[type];
}

struct fsm *fsm_new(struct state_store *st)
{
    struct fsm *f = cv_calloc(1, sizeof *f);
    f->st = st;
    struct state_snap *s = state_snapshot(st);
    atomic_store(&f->last_index, state_snap_index(s));
    state_snapshot_release(s);
    return f;
}

void fsm_free(struct fsm *f)
{
    cv_free(f);
}

void fsm_get_stats(const struct fsm *f, struct fsm_stats *out)
{
    struct fsm *m = (struct fsm *)f; /* atomic loads need a non-const object in C11 */
    out->applied = atomic_load_explicit(&m->applied, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&m->rejected, memory_order_relaxed);
    out->skipped = atomic_load_explicit(&m->skipped, memory_order_relaxed);
    out->noops = atomic_load_explicit(&m->noops, memory_order_relaxed);
    out->last_index = atomic_load_explicit(&m->last_index, memory_order_relaxed);
    out->last_skipped_index = atomic_load_explicit(&m->last_skipped_index, memory_order_relaxed);
}

static void count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* ---- applying ------------------------------------------------------------------------ */

static uint64_t state_index(struct fsm *f)
{
    struct state_snap *s = state_snapshot(f->st);
    uint64_t index = state_snap_index(s);
    state_snapshot_release(s);
    return index;
}

/* Moves the state's index to `index` without writing a table. */
static void advance(struct fsm *f, uint64_t index)
{
    state_txn_commit(state_txn_begin(f->st, index));
    atomic_store_explicit(&f->last_index, index, memory_order_relaxed);
}

/* err as one printable line: an error may quote bytes of the entry, and a
 * newline in a log detail would forge a log line. */
static const char *printable(const struct cv_err *err, char *buf, size_t size)
{
    cv_err_format(err, buf, size);
    for (char *p = buf; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            *p = '?';
        } else if (c == '"') {
            *p = '\'';
        }
    }
    return buf;
}

/* Refuses an index the state has reached already. */
static int check_index(struct fsm *f, uint64_t index, struct cv_err *err)
{
    uint64_t cur = state_index(f);
    if (index > cur) {
        return 0;
    }
    cv_log(CV_LOG_ERROR, "fsm", "entry not above the state's index",
           "index=%" PRIu64 " state_index=%" PRIu64, index, cur);
    return cv_err_setf(err, CV_EINVAL,
                       "entry %" PRIu64 " is not above the state's index %" PRIu64
                       ": applied twice or out of order",
                       index, cur);
}

/* Decodes an entry: header, JSON, command. On success *doc and *cmd are
 * the caller's (the command borrows strings from the document). */
static int decode_entry(const unsigned char *p, size_t len, struct cv_json_doc **doc,
                        struct fsm_cmd **cmd, struct cv_err *err)
{
    if (len < FSM_HEADER_BYTES) {
        return cv_err_setf(err, CV_EPARSE, "entry of %zu bytes is shorter than its %d-byte header",
                           len, FSM_HEADER_BYTES);
    }
    unsigned type = p[0], version = p[1];
    if (type == 0 || type > FSM_COMMAND_MAX) {
        return cv_err_setf(err, CV_EUNSUPPORTED, "unknown command type %u", type);
    }
    if (version != FSM_COMMAND_VERSION) {
        return cv_err_setf(err, CV_EUNSUPPORTED,
                           "%s version %u is not supported: this server reads version %d",
                           fsm_command_name(type), version, FSM_COMMAND_VERSION);
    }
    int rc = cv_json_parse((const char *)p + FSM_HEADER_BYTES, len - FSM_HEADER_BYTES,
                           &entry_limits, doc, err);
    if (rc == 0) {
        rc = fsm_cmd_decode(type, cv_json_doc_root(*doc), cmd, err);
    }
    return rc;
}

int fsm_apply(struct fsm *f, uint64_t index, const void *data, size_t len, struct fsm_result *res)
{
    struct fsm_result local;
    if (!res) {
        res = &local;
    }
    memset(res, 0, sizeof *res);
    res->index = index;
    const unsigned char *p = data;
    res->type = len >= 1 ? p[0] : 0;
    if (check_index(f, index, &res->err) != 0) {
        res->outcome = FSM_SKIPPED;
        res->index = state_index(f);
        return CV_EINVAL;
    }

    char line[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 2];
    struct cv_json_doc *doc = NULL;
    struct fsm_cmd *cmd = NULL;
    if (decode_entry(p, len, &doc, &cmd, &res->err) != 0) {
        /* Skipped the same way on every server running this code. */
        advance(f, index);
        res->outcome = FSM_SKIPPED;
        count(&f->skipped);
        atomic_store_explicit(&f->last_skipped_index, index, memory_order_relaxed);
        cv_log(CV_LOG_ERROR, "fsm", "entry skipped",
               "index=%" PRIu64 " type=%u command=%s version=%u bytes=%zu error=\"%s\"", index,
               res->type, fsm_command_name(res->type), len >= 2 ? p[1] : 0u, len,
               printable(&res->err, line, sizeof line));
        cv_json_doc_free(doc);
        return 0;
    }

    struct state_txn *txn = state_txn_begin(f->st, index);
    if (fsm_cmd_apply(cmd, txn, index, res, &res->err) == 0) {
        state_txn_commit(txn);
        atomic_store_explicit(&f->last_index, index, memory_order_relaxed);
        res->outcome = FSM_APPLIED;
        count(&f->applied);
    } else {
        /* Never half-applied: drop every write, keep the index moving. */
        state_txn_abort(txn);
        advance(f, index);
        res->outcome = FSM_REJECTED;
        res->job_version = 0;
        res->job_modify_index = 0;
        res->eval_id[0] = '\0';
        count(&f->rejected);
        cv_log(CV_LOG_WARN, "fsm", "command rejected", "index=%" PRIu64 " command=%s error=\"%s\"",
               index, fsm_command_name(res->type), printable(&res->err, line, sizeof line));
    }
    fsm_cmd_free(cmd);
    cv_json_doc_free(doc);
    return 0;
}

int fsm_apply_noop(struct fsm *f, uint64_t index)
{
    if (check_index(f, index, NULL) != 0) {
        return CV_EINVAL;
    }
    advance(f, index);
    count(&f->noops);
    return 0;
}

/* ---- snapshot and restore -------------------------------------------------------------- */

int fsm_snapshot_write(const struct state_snap *snap, state_write_fn fn, void *arg,
                       struct cv_err *err)
{
    char header[64];
    int n = snprintf(header, sizeof header, "{\"Format\":\"%s\",\"Version\":%d}\n", SNAPSHOT_FORMAT,
                     FSM_SNAPSHOT_VERSION);
    int rc = fn(arg, header, (size_t)n);
    if (rc != 0) {
        return cv_err_setf(err, rc, "write the FSM snapshot header: %s", cv_strerror(rc));
    }
    return state_snapshot_write(snap, fn, arg, err);
}

/* Reads the header line, then serves what it read past it before reading
 * on from the caller's reader. */
struct header_reader
{
    state_read_fn fn;
    void *arg;
    char buf[SNAPSHOT_HEADER_MAX];
    size_t len; /* bytes in buf */
    size_t pos; /* buf[pos..len) is not served yet */
};

static int read_rest(void *arg, void *out, size_t cap, size_t *got)
{
    struct header_reader *r = arg;
    if (r->pos < r->len) {
        size_t n = r->len - r->pos < cap ? r->len - r->pos : cap;
        memcpy(out, r->buf + r->pos, n);
        r->pos += n;
        *got = n;
        return 0;
    }
    return r->fn(r->arg, out, cap, got);
}

static int check_header(const char *line, size_t len, struct cv_err *err)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err perr = {0};
    if (cv_json_parse(line, len, NULL, &doc, &perr) != 0) {
        return cv_err_setf(err, CV_EPARSE, "not an FSM snapshot: its header is not JSON (%s)",
                           perr.msg);
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    const struct cv_json *format = NULL, *version = NULL;
    if (root->type == CV_JSON_OBJECT) {
        format = cv_json_object_get(root, "Format");
        version = cv_json_object_get(root, "Version");
    }
    uint64_t v = 0;
    int rc = 0;
    if (!format || format->type != CV_JSON_STRING ||
        strcmp(format->u.string.ptr, SNAPSHOT_FORMAT) != 0) {
        rc = cv_err_setf(err, CV_EPARSE, "not an FSM snapshot: its header has no Format \"%s\"",
                         SNAPSHOT_FORMAT);
    } else if (!version || version->type != CV_JSON_NUMBER || cv_json_uint64(version, &v) != 0) {
        rc = cv_err_setf(err, CV_EPARSE, "FSM snapshot header has no Version");
    } else if (v != FSM_SNAPSHOT_VERSION) {
        rc = cv_err_setf(err, CV_EUNSUPPORTED,
                         "FSM snapshot version %" PRIu64
                         " is not supported: this server reads version %d",
                         v, FSM_SNAPSHOT_VERSION);
    }
    cv_json_doc_free(doc);
    return rc;
}

static int read_header(struct header_reader *r, struct cv_err *err)
{
    const char *nl = NULL;
    while (!(nl = memchr(r->buf, '\n', r->len)) && r->len < sizeof r->buf) {
        size_t got = 0;
        int rc = r->fn(r->arg, r->buf + r->len, sizeof r->buf - r->len, &got);
        if (rc != 0) {
            return cv_err_setf(err, rc, "read the FSM snapshot header: %s", cv_strerror(rc));
        }
        if (got == 0) {
            break;
        }
        r->len += got;
    }
    if (!nl) {
        return cv_err_setf(err, CV_EPARSE, "%s",
                           r->len == 0              ? "FSM snapshot is empty"
                           : r->len < sizeof r->buf ? "FSM snapshot is truncated in its header"
                                                    : "not an FSM snapshot: no header line");
    }
    r->pos = (size_t)(nl - r->buf) + 1;
    return check_header(r->buf, (size_t)(nl - r->buf), err);
}

int fsm_restore(struct fsm *f, state_read_fn fn, void *arg, struct cv_err *err)
{
    struct header_reader r = {.fn = fn, .arg = arg};
    int rc = read_header(&r, err);
    if (rc == 0) {
        rc = state_restore(f->st, read_rest, &r, err);
    }
    if (rc != 0) {
        return rc;
    }
    uint64_t index = state_index(f);
    atomic_store_explicit(&f->last_index, index, memory_order_relaxed);
    cv_log(CV_LOG_INFO, "fsm", "state restored from a snapshot", "index=%" PRIu64, index);
    return 0;
}
