/*
 * state_snapshot: the FSM's snapshot of the state store for Raft log
 * compaction, and the restore that rebuilds a state from one.
 *
 * Format (docs/state.md): text lines, each "<16 hex digits> <JSON>\n" where
 * the digits are the FNV-1a 64 hash of the JSON, so damage is caught and
 * the damaged record named. Line 0 is the header (format name, version,
 * the state's index and its table indexes); then one record per row; the
 * last line is an end record with the number of records, which is how a
 * stream cut at a line boundary is told from a complete one.
 *
 * Jobs are shared between the jobs table, job_versions and allocations
 * (alloc->job). Each distinct job object is written once, as a JobObj
 * record with a sequence number (Ref), before the first record that refers
 * to it; Job, JobVersion and Alloc records refer to it by Ref, so a
 * restored state shares its jobs exactly as the original did and 100,000
 * allocations of one job do not carry 100,000 copies of it.
 *
 * Objects are written with the model's encoders and read back with the
 * codec's raw decode (no defaults, no validation: they were checked when
 * they entered the state), which reproduces canonical objects exactly.
 */
#include "regiond/state/state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"
#include "common/model.h"
#include "regiond/state/state_internal.h"

#define FORMAT_NAME    "caravan-state"
#define FORMAT_VERSION 1

/* Largest line restore accepts; a job is at most a few MiB of JSON. */
#define RECORD_MAX  ((size_t)64 * 1024 * 1024)
#define FLUSH_BYTES ((size_t)64 * 1024)
#define HASH_DIGITS 16

static const char *const table_names[STATE_TABLE_COUNT] = {
    [STATE_JOBS] = "Jobs",   [STATE_JOB_VERSIONS] = "JobVersions",
    [STATE_NODES] = "Nodes", [STATE_ALLOCS] = "Allocs",
    [STATE_EVALS] = "Evals",
};

static uint64_t fnv1a(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- writing ----------------------------------------------------------------------- */

/* Job objects already written, by address: open addressing, linear
 * probing, grown at half full. */
struct ptrmap
{
    const void **keys;
    uint64_t *refs;
    size_t cap, len;
};

static size_t ptr_hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static uint64_t ptrmap_get(const struct ptrmap *m, const void *p)
{
    if (!m->cap) {
        return 0;
    }
    for (size_t i = ptr_hash(p, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) {
            return 0;
        }
        if (m->keys[i] == p) {
            return m->refs[i];
        }
    }
}

static void ptrmap_set(struct ptrmap *m, const void *p, uint64_t ref);

static void ptrmap_grow(struct ptrmap *m)
{
    struct ptrmap old = *m;
    m->cap = old.cap ? 2 * old.cap : 64;
    m->len = 0;
    m->keys = cv_calloc(m->cap, sizeof *m->keys);
    m->refs = cv_calloc(m->cap, sizeof *m->refs);
    for (size_t i = 0; i < old.cap; i++) {
        if (old.keys[i]) {
            ptrmap_set(m, old.keys[i], old.refs[i]);
        }
    }
    cv_free(old.keys);
    cv_free(old.refs);
}

static void ptrmap_set(struct ptrmap *m, const void *p, uint64_t ref)
{
    if (2 * (m->len + 1) > m->cap) {
        ptrmap_grow(m);
    }
    size_t i = ptr_hash(p, m->cap);
    while (m->keys[i]) {
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = p;
    m->refs[i] = ref;
    m->len++;
}

struct writer
{
    state_write_fn fn;
    void *arg;
    struct cv_buf buf;
    uint64_t records; /* written after the header */
    uint64_t next_ref;
    struct ptrmap jobs;
    int rc;
    struct cv_err *err;
};

static void flush(struct writer *w)
{
    if (w->rc == 0 && w->buf.len) {
        w->rc = w->fn(w->arg, w->buf.data, w->buf.len);
        if (w->rc) {
            cv_err_setf(w->err, w->rc, "write state snapshot after record %" PRIu64 ": %s",
                        w->records, cv_strerror(w->rc));
        }
    }
    cv_buf_reset(&w->buf);
}

/* Appends the generator's document as one line and frees the generator. */
static void emit(struct writer *w, struct cv_jgen *g)
{
    const char *text;
    size_t len;
    struct cv_err e;
    if (cv_jgen_finish(g, &text, &len, &e) != 0) {
        /* Only invalid UTF-8 fails, and the model's strings were checked
         * on the way in: a broken invariant, reported all the same. */
        if (w->rc == 0) {
            w->rc = cv_err_setf(w->err, CV_EINTERNAL,
                                "encode state snapshot record %" PRIu64 ": %s", w->records, e.msg);
        }
    } else if (w->rc == 0) {
        cv_buf_appendf(&w->buf, "%016" PRIx64 " ", fnv1a(text, len));
        cv_buf_append(&w->buf, text, len);
        cv_buf_append_char(&w->buf, '\n');
    }
    cv_jgen_free(g);
    if (w->buf.len >= FLUSH_BYTES) {
        flush(w);
    }
}

static struct cv_jgen *record(const char *type)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Type");
    cv_jgen_string(g, type);
    return g;
}

/* Returns the Ref of a job object, writing its JobObj record first when it
 * is the first time the object is met. */
static uint64_t job_ref(struct writer *w, const struct state_obj *o)
{
    uint64_t ref = ptrmap_get(&w->jobs, o);
    if (ref) {
        return ref;
    }
    ref = ++w->next_ref;
    ptrmap_set(&w->jobs, o, ref);
    struct cv_jgen *g = record("JobObj");
    cv_jgen_key(g, "Ref");
    cv_jgen_uint(g, ref);
    cv_jgen_key(g, "Job");
    cv_job_encode(o->ptr, g);
    cv_jgen_object_end(g);
    w->records++;
    emit(w, g);
    return ref;
}

static void write_job_refs(struct writer *w, const struct state_snap *s, enum state_tree_id id,
                           const char *type)
{
    struct state_iter it;
    const struct state_obj *o;
    state_tree_iter(s->tree[id], NULL, 0, false, &it);
    while (w->rc == 0 && (o = state_tree_next(&it))) {
        uint64_t ref = job_ref(w, o);
        struct cv_jgen *g = record(type);
        cv_jgen_key(g, "Ref");
        cv_jgen_uint(g, ref);
        cv_jgen_object_end(g);
        w->records++;
        emit(w, g);
    }
}

int state_snapshot_write(const struct state_snap *snap, state_write_fn fn, void *arg,
                         struct cv_err *err)
{
    struct writer w = {.fn = fn, .arg = arg, .err = err};
    cv_buf_init(&w.buf);

    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Format");
    cv_jgen_string(g, FORMAT_NAME);
    cv_jgen_key(g, "Version");
    cv_jgen_int(g, FORMAT_VERSION);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, snap->index);
    cv_jgen_key(g, "TableIndexes");
    cv_jgen_object_begin(g);
    for (int t = 0; t < STATE_TABLE_COUNT; t++) {
        cv_jgen_key(g, table_names[t]);
        cv_jgen_uint(g, snap->table_index[t]);
    }
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
    emit(&w, g);

    write_job_refs(&w, snap, STATE_T_JOBS, "Job");
    write_job_refs(&w, snap, STATE_T_JOB_VERSIONS, "JobVersion");

    struct state_iter it;
    const struct state_obj *o;
    state_tree_iter(snap->tree[STATE_T_NODES], NULL, 0, false, &it);
    while (w.rc == 0 && (o = state_tree_next(&it))) {
        g = record("Node");
        cv_jgen_key(g, "Node");
        cv_node_encode(o->ptr, g);
        cv_jgen_object_end(g);
        w.records++;
        emit(&w, g);
    }
    state_tree_iter(snap->tree[STATE_T_ALLOCS], NULL, 0, false, &it);
    while (w.rc == 0 && (o = state_tree_next(&it))) {
        uint64_t ref = job_ref(&w, o->job);
        struct cv_allocation tmp = *(const struct cv_allocation *)o->ptr;
        tmp.job = NULL; /* by reference */
        g = record("Alloc");
        cv_jgen_key(g, "JobRef");
        cv_jgen_uint(g, ref);
        cv_jgen_key(g, "Alloc");
        cv_alloc_encode(&tmp, g);
        cv_jgen_object_end(g);
        w.records++;
        emit(&w, g);
    }
    state_tree_iter(snap->tree[STATE_T_EVALS], NULL, 0, false, &it);
    while (w.rc == 0 && (o = state_tree_next(&it))) {
        g = record("Eval");
        cv_jgen_key(g, "Eval");
        cv_eval_encode(o->ptr, g);
        cv_jgen_object_end(g);
        w.records++;
        emit(&w, g);
    }

    g = record("End");
    cv_jgen_key(g, "Records");
    cv_jgen_uint(g, w.records);
    cv_jgen_object_end(g);
    emit(&w, g);
    flush(&w);

    cv_buf_free(&w.buf);
    cv_free(w.jobs.keys);
    cv_free(w.jobs.refs);
    return w.rc;
}

/* ---- reading ------------------------------------------------------------------------ */

struct reader
{
    state_read_fn fn;
    void *arg;
    char *buf;
    size_t start, len, cap; /* unread bytes are buf[start, len) */
    bool eof;
};

/* Returns 0 with the next line (NUL-terminated in place, without its
 * newline) or *line NULL at a clean end of stream; CV_EPARSE for a last
 * line without its newline or a line over RECORD_MAX; the reader's error. */
static int read_line(struct reader *r, uint64_t rec, char **line, size_t *len, struct cv_err *err)
{
    size_t scanned = r->start;
    for (;;) {
        char *nl = r->len > scanned ? memchr(r->buf + scanned, '\n', r->len - scanned) : NULL;
        if (nl) {
            *nl = '\0';
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start = (size_t)(nl - r->buf) + 1;
            return 0;
        }
        scanned = r->len;
        if (r->eof) {
            if (r->start < r->len) {
                return cv_err_setf(err, CV_EPARSE,
                                   "state snapshot is truncated: record %" PRIu64 " is incomplete",
                                   rec);
            }
            *line = NULL;
            return 0;
        }
        if (r->start > 0) { /* slide the partial line to the front */
            memmove(r->buf, r->buf + r->start, r->len - r->start);
            r->len -= r->start;
            scanned -= r->start;
            r->start = 0;
        }
        if (r->len == r->cap) {
            if (r->cap >= RECORD_MAX) {
                return cv_err_setf(err, CV_EPARSE,
                                   "state snapshot record %" PRIu64 " is longer than %zu bytes",
                                   rec, RECORD_MAX);
            }
            r->cap = r->cap ? 2 * r->cap : FLUSH_BYTES;
            r->buf = cv_realloc(r->buf, r->cap);
        }
        size_t got = 0;
        int rc = r->fn(r->arg, r->buf + r->len, r->cap - r->len, &got);
        if (rc) {
            return cv_err_setf(err, rc, "read state snapshot record %" PRIu64 ": %s", rec,
                               cv_strerror(rc));
        }
        if (got == 0) {
            r->eof = true;
        }
        r->len += got;
    }
}

struct restore
{
    struct state_snap *s;
    struct state_obj **jobs; /* by Ref - 1, one reference each */
    size_t njobs, cap;
};

static int bad(struct cv_err *err, uint64_t rec, const char *type, const char *what)
{
    return cv_err_setf(err, CV_EPARSE, "state snapshot record %" PRIu64 " (%s): %s", rec, type,
                       what);
}

static int get_uint(const struct cv_json *obj, const char *key, uint64_t *out)
{
    const struct cv_json *v = cv_json_object_get(obj, key);
    if (!v || v->type != CV_JSON_NUMBER || cv_json_uint64(v, out) != 0) {
        return CV_EPARSE;
    }
    return 0;
}

/* Decodes member `key` of a record into a new object of schema s. */
static int decode(const struct cv_schema *s, const struct cv_json *rec_v, const char *key,
                  uint64_t rec, const char *type, void **out, struct cv_err *err)
{
    const struct cv_json *v = cv_json_object_get(rec_v, key);
    if (!v || v->type != CV_JSON_OBJECT) {
        char what[64];
        snprintf(what, sizeof what, "%s is missing", key);
        return bad(err, rec, type, what);
    }
    void *obj = cv_malloc(s->size);
    cv_init(s, obj);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_decode(s, v, obj, key, &errs) != 0) {
        char line[CV_ERR_MSG_MAX];
        cv_errlist_format(&errs, 0, line, sizeof line);
        cv_errlist_free(&errs);
        cv_model_free(s, obj);
        return bad(err, rec, type, line);
    }
    cv_errlist_free(&errs);
    *out = obj;
    return 0;
}

static struct state_obj *ref_job(const struct restore *rs, const struct cv_json *v, const char *key)
{
    uint64_t ref;
    if (get_uint(v, key, &ref) != 0 || ref == 0 || ref > rs->njobs) {
        return NULL;
    }
    return rs->jobs[ref - 1];
}

static int restore_record(struct restore *rs, const struct cv_json *v, uint64_t rec,
                          const char *type, struct cv_err *err)
{
    struct state_snap *s = rs->s;
    if (strcmp(type, "JobObj") == 0) {
        uint64_t ref;
        if (get_uint(v, "Ref", &ref) != 0 || ref != rs->njobs + 1) {
            return bad(err, rec, type, "Ref is not the next job reference");
        }
        struct cv_job *job;
        int rc = decode(&cv_job_schema, v, "Job", rec, type, (void **)&job, err);
        if (rc) {
            return rc;
        }
        if (rs->njobs == rs->cap) {
            rs->cap = rs->cap ? 2 * rs->cap : 16;
            rs->jobs = cv_reallocarray(rs->jobs, rs->cap, sizeof *rs->jobs);
        }
        rs->jobs[rs->njobs++] = state_obj_new(STATE_K_JOB, job, NULL);
        return 0;
    }
    if (strcmp(type, "Job") == 0 || strcmp(type, "JobVersion") == 0) {
        struct state_obj *o = ref_job(rs, v, "Ref");
        if (!o) {
            return bad(err, rec, type, "Ref names no job written before");
        }
        const struct cv_job *job = o->ptr;
        struct state_key k;
        if (!*job->id) {
            return bad(err, rec, type, "the job has no ID");
        }
        enum state_tree_id id = strcmp(type, "Job") == 0 ? STATE_T_JOBS : STATE_T_JOB_VERSIONS;
        if (id == STATE_T_JOBS) {
            state_key_make(&k, job->id, NULL);
        } else {
            state_key_version(&k, job->id, job->version);
        }
        bool dup = state_tree_get(s->tree[id], k.p, k.len) != NULL;
        if (!dup) {
            state_snap_put(s, id, k.p, k.len, o);
        }
        state_key_done(&k);
        return dup ? bad(err, rec, type, "the job is already in the table") : 0;
    }
    if (strcmp(type, "Node") == 0) {
        struct cv_node *n;
        int rc = decode(&cv_node_schema, v, "Node", rec, type, (void **)&n, err);
        if (rc) {
            return rc;
        }
        if (!*n->id || state_node(s, n->id)) {
            cv_node_free(n);
            return bad(err, rec, type, "the node has no ID or is there already");
        }
        struct state_obj *o = state_obj_new(STATE_K_NODE, n, NULL);
        state_index_put(s, NULL, o);
        state_obj_release(o);
        return 0;
    }
    if (strcmp(type, "Alloc") == 0) {
        struct state_obj *job = ref_job(rs, v, "JobRef");
        if (!job) {
            return bad(err, rec, type, "JobRef names no job written before");
        }
        struct cv_allocation *a;
        int rc = decode(&cv_allocation_schema, v, "Alloc", rec, type, (void **)&a, err);
        if (rc) {
            return rc;
        }
        if (!*a->id || !*a->job_id || !*a->node_id || a->job || state_alloc(s, a->id)) {
            cv_alloc_free(a);
            return bad(err, rec, type,
                       "the allocation lacks an ID, JobID or NodeID, embeds its job, or is there "
                       "already");
        }
        a->job = job->ptr;
        struct state_obj *o = state_obj_new(STATE_K_ALLOC, a, state_obj_retain(job));
        state_index_put(s, NULL, o);
        state_obj_release(o);
        return 0;
    }
    if (strcmp(type, "Eval") == 0) {
        struct cv_evaluation *e;
        int rc = decode(&cv_evaluation_schema, v, "Eval", rec, type, (void **)&e, err);
        if (rc) {
            return rc;
        }
        if (!*e->id || !*e->job_id || state_eval(s, e->id)) {
            cv_eval_free(e);
            return bad(err, rec, type, "the evaluation lacks an ID or JobID, or is there already");
        }
        struct state_obj *o = state_obj_new(STATE_K_EVAL, e, NULL);
        state_index_put(s, NULL, o);
        state_obj_release(o);
        return 0;
    }
    return bad(err, rec, type, "unknown record type");
}

/* Parses line `rec` (its hash checked) into *doc. */
static int parse_line(char *line, size_t len, uint64_t rec, struct cv_json_doc **doc,
                      struct cv_err *err)
{
    uint64_t want = 0;
    bool ok = len > HASH_DIGITS + 1 && line[HASH_DIGITS] == ' ';
    for (size_t i = 0; ok && i < HASH_DIGITS; i++) {
        char c = line[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        ok = d >= 0;
        want = want << 4 | (uint64_t)(d & 0xf);
    }
    if (!ok) {
        return cv_err_setf(err, CV_EPARSE, "state snapshot record %" PRIu64 " is not a record line",
                           rec);
    }
    const char *json = line + HASH_DIGITS + 1;
    size_t jlen = len - HASH_DIGITS - 1;
    if (fnv1a(json, jlen) != want) {
        return cv_err_setf(err, CV_EPARSE,
                           "state snapshot record %" PRIu64 " is damaged (checksum mismatch)", rec);
    }
    const struct cv_json_limits limits = {
        .max_bytes = RECORD_MAX, .max_depth = 96, .max_string = RECORD_MAX, .max_nodes = SIZE_MAX};
    struct cv_err perr;
    if (cv_json_parse(json, jlen, &limits, doc, &perr) != 0) {
        return cv_err_setf(err, CV_EPARSE, "state snapshot record %" PRIu64 ": %s", rec, perr.msg);
    }
    const struct cv_json *root = cv_json_doc_root(*doc);
    if (root->type != CV_JSON_OBJECT) {
        cv_json_doc_free(*doc);
        *doc = NULL;
        return cv_err_setf(err, CV_EPARSE, "state snapshot record %" PRIu64 " is not an object",
                           rec);
    }
    return 0;
}

static int read_header(struct reader *r, struct state_snap *s, struct cv_err *err)
{
    char *line;
    size_t len;
    int rc = read_line(r, 0, &line, &len, err);
    if (rc) {
        return rc;
    }
    if (!line) {
        return cv_err_setf(err, CV_EPARSE, "state snapshot is empty");
    }
    struct cv_json_doc *doc;
    if ((rc = parse_line(line, len, 0, &doc, err)) != 0) {
        return rc;
    }
    const struct cv_json *h = cv_json_doc_root(doc);
    const struct cv_json *fmt = cv_json_object_get(h, "Format");
    uint64_t version = 0;
    if (!fmt || fmt->type != CV_JSON_STRING || strcmp(fmt->u.string.ptr, FORMAT_NAME) != 0) {
        rc = cv_err_setf(err, CV_EPARSE,
                         "not a Caravan state snapshot (header has no Format \"%s\")", FORMAT_NAME);
    } else if (get_uint(h, "Version", &version) != 0 || version != FORMAT_VERSION) {
        rc = cv_err_setf(err, CV_EUNSUPPORTED,
                         "state snapshot format version %" PRIu64 " is not supported (want %d)",
                         version, FORMAT_VERSION);
    } else if (get_uint(h, "Index", &s->index) != 0) {
        rc = cv_err_setf(err, CV_EPARSE, "state snapshot header has no Index");
    } else {
        const struct cv_json *ti = cv_json_object_get(h, "TableIndexes");
        for (int t = 0; rc == 0 && t < STATE_TABLE_COUNT; t++) {
            if (!ti || ti->type != CV_JSON_OBJECT ||
                get_uint(ti, table_names[t], &s->table_index[t]) != 0) {
                rc = cv_err_setf(err, CV_EPARSE, "state snapshot header has no TableIndexes.%s",
                                 table_names[t]);
            }
        }
    }
    cv_json_doc_free(doc);
    return rc;
}

int state_restore(struct state_store *st, state_read_fn fn, void *arg, struct cv_err *err)
{
    struct reader r = {.fn = fn, .arg = arg};
    struct restore rs = {.s = state_snap_clone(NULL)};
    int rc = read_header(&r, rs.s, err);
    uint64_t rec = 0;
    bool ended = false;
    while (rc == 0) {
        char *line;
        size_t len;
        rc = read_line(&r, rec + 1, &line, &len, err);
        if (rc) {
            break;
        }
        if (!line) {
            if (!ended) {
                rc = cv_err_setf(err, CV_EPARSE,
                                 "state snapshot is truncated: no end record after record %" PRIu64,
                                 rec);
            }
            break;
        }
        rec++;
        if (ended) {
            rc = cv_err_setf(err, CV_EPARSE, "state snapshot has data after its end record");
            break;
        }
        struct cv_json_doc *doc;
        if ((rc = parse_line(line, len, rec, &doc, err)) != 0) {
            break;
        }
        const struct cv_json *v = cv_json_doc_root(doc);
        const struct cv_json *t = cv_json_object_get(v, "Type");
        if (!t || t->type != CV_JSON_STRING) {
            rc = cv_err_setf(err, CV_EPARSE, "state snapshot record %" PRIu64 " has no Type", rec);
        } else if (strcmp(t->u.string.ptr, "End") == 0) {
            uint64_t n;
            if (get_uint(v, "Records", &n) != 0 || n != rec - 1) {
                rc = bad(err, rec, "End", "the record count does not match");
            }
            ended = true;
        } else {
            rc = restore_record(&rs, v, rec, t->u.string.ptr, err);
        }
        cv_json_doc_free(doc);
    }
    for (size_t i = 0; i < rs.njobs; i++) {
        state_obj_release(rs.jobs[i]);
    }
    cv_free(rs.jobs);
    cv_free(r.buf);
    if (rc) {
        state_snapshot_release(rs.s);
        return rc;
    }
    state_store_replace(st, rs.s);
    return 0;
}
