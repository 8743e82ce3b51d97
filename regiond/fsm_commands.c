/*
 * fsm_commands: the FSM's commands, each three ways: how the leader encodes
 * it, how every server decodes it and how it is applied to the state store
 * inside the entry's transaction; and the encoding and application helpers
 * every command uses (fsm_internal.h). The node commands are in
 * fsm_nodes.c, the member readers every decoder uses in fsm_decode.c.
 * fsm.c does the rest (header, transaction, outcome, counters, logs).
 *
 * Decoding treats the body as hostile. Model objects (Job, Node,
 * Evaluation, a plan's Allocation) go through their model's decoder, as at
 * the API's border: decode, defaults, validation. What enters the state is
 * then canonical and valid whatever the entry held, which the state store
 * needs (it trusts its objects, and its snapshots reproduce canonical
 * objects only). A client's allocation update is decoded with the raw
 * codec and only the fields the state takes from it are checked: clients
 * send stripped allocations, which the full validation would refuse. The
 * command's own fields (IDs, statuses, flags) are checked here. A body key
 * this server does not know is ignored: that is what lets a newer leader
 * add an optional field (docs/fsm.md, "Versioning"); a known key with the
 * wrong shape is an error. A JSON null is an absent value, as in Go.
 *
 * Application follows Nomad's FSM and state store (nomad/fsm.go,
 * nomad/state/state_store.go) command by command; the comments say where
 * it refuses. Every write goes through state.h, which fills CreateIndex,
 * ModifyIndex, Version and Status and keeps Nomad's rules on each table.
 */
#include "regiond/fsm_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/jsongen.h"
#include "common/mem.h"

static const char *const client_statuses[] = {CV_ALLOC_CLIENT_PENDING,
                                              CV_ALLOC_CLIENT_RUNNING,
                                              CV_ALLOC_CLIENT_COMPLETE,
                                              CV_ALLOC_CLIENT_FAILED,
                                              CV_ALLOC_CLIENT_LOST,
                                              CV_ALLOC_CLIENT_UNKNOWN,
                                              NULL};
static const char *const task_states[] = {CV_TASK_STATE_PENDING, CV_TASK_STATE_RUNNING,
                                          CV_TASK_STATE_DEAD, NULL};

/* ---- encoding --------------------------------------------------------------------- */

struct cv_jgen *fsm_enc_begin(void)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    return g;
}

/* Closes the body and writes header + body into out. */
int fsm_enc_finish(struct cv_jgen *g, enum fsm_command type, struct cv_buf *out, struct cv_err *err)
{
    cv_jgen_object_end(g);
    cv_buf_reset(out);
    const char *text = NULL;
    size_t len = 0;
    int rc = cv_jgen_finish(g, &text, &len, err);
    if (rc != 0) {
        cv_err_wrapf(err, "encode %s", fsm_command_name(type));
    } else if (len > FSM_MAX_ENTRY_BYTES - FSM_HEADER_BYTES) {
        rc = cv_err_setf(err, CV_ETOOBIG, "encode %s: the entry would be %zu bytes, over %zu",
                         fsm_command_name(type), len + FSM_HEADER_BYTES, FSM_MAX_ENTRY_BYTES);
    } else {
        const unsigned char header[FSM_HEADER_BYTES] = {(unsigned char)type, FSM_COMMAND_VERSION};
        cv_buf_append(out, header, sizeof header);
        cv_buf_append(out, text, len);
    }
    cv_jgen_free(g);
    return rc;
}

static void enc_eval(struct cv_jgen *g, const struct cv_evaluation *eval)
{
    if (eval) {
        cv_jgen_key(g, "Eval");
        cv_eval_encode(eval, g);
    }
}

void fsm_enc_evals(struct cv_jgen *g, const char *key, const struct cv_evaluation *const *evals,
                   size_t n)
{
    cv_jgen_key(g, key);
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < n; i++) {
        cv_eval_encode(evals[i], g);
    }
    cv_jgen_array_end(g);
}

void fsm_enc_strings(struct cv_jgen *g, const char *key, const char *const *s, size_t n)
{
    cv_jgen_key(g, key);
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < n; i++) {
        cv_jgen_string(g, s[i]);
    }
    cv_jgen_array_end(g);
}

void fsm_enc_string(struct cv_jgen *g, const char *key, const char *value)
{
    cv_jgen_key(g, key);
    cv_jgen_string(g, value);
}

int fsm_encode_job_register(const struct cv_job *job, const struct cv_evaluation *eval,
                            struct cv_buf *out, struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    cv_jgen_key(g, "Job");
    cv_job_encode(job, g);
    enc_eval(g, eval);
    return fsm_enc_finish(g, FSM_JOB_REGISTER, out, err);
}

int fsm_encode_job_deregister(const char *job_id, bool purge, int64_t submit_time,
                              const struct cv_evaluation *eval, struct cv_buf *out,
                              struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_string(g, "JobID", job_id);
    cv_jgen_key(g, "Purge");
    cv_jgen_bool(g, purge);
    cv_jgen_key(g, "SubmitTime");
    cv_jgen_int(g, submit_time);
    enc_eval(g, eval);
    return fsm_enc_finish(g, FSM_JOB_DEREGISTER, out, err);
}

int fsm_encode_eval_update(const struct cv_evaluation *const *evals, size_t n, struct cv_buf *out,
                           struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_evals(g, "Evals", evals, n);
    return fsm_enc_finish(g, FSM_EVAL_UPDATE, out, err);
}

int fsm_encode_eval_delete(const char *const *eval_ids, size_t n_evals,
                           const char *const *alloc_ids, size_t n_allocs, struct cv_buf *out,
                           struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_strings(g, "Evals", eval_ids, n_evals);
    fsm_enc_strings(g, "Allocs", alloc_ids, n_allocs);
    return fsm_enc_finish(g, FSM_EVAL_DELETE, out, err);
}

int fsm_encode_alloc_client_update(const struct cv_allocation *const *allocs, size_t n_allocs,
                                   const struct cv_evaluation *const *evals, size_t n_evals,
                                   struct cv_buf *out, struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    cv_jgen_key(g, "Allocs");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < n_allocs; i++) {
        /* A stripped allocation, as Nomad's client sends it: the fields
         * left zero are written empty and ignored on apply. Borrowed
         * pointers only: tmp is never released. */
        const struct cv_allocation *a = allocs[i];
        struct cv_allocation tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.id = a->id;
        tmp.node_id = a->node_id;
        tmp.client_status = a->client_status;
        tmp.client_description = a->client_description;
        tmp.task_states.items = a->task_states.items;
        tmp.task_states.len = a->task_states.len;
        tmp.modify_time = a->modify_time;
        cv_alloc_encode(&tmp, g);
    }
    cv_jgen_array_end(g);
    fsm_enc_evals(g, "Evals", evals, n_evals);
    return fsm_enc_finish(g, FSM_ALLOC_CLIENT_UPDATE, out, err);
}

int fsm_encode_plan_apply(const struct fsm_plan *plan, struct cv_buf *out, struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_string(g, "EvalID", plan->eval_id);
    cv_jgen_key(g, "AllocsUpdated");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < plan->n_updated; i++) {
        cv_alloc_encode(plan->allocs_updated[i], g);
    }
    cv_jgen_array_end(g);
    cv_jgen_key(g, "AllocsStopped");
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < plan->n_stopped; i++) {
        const struct fsm_alloc_stop *s = &plan->allocs_stopped[i];
        cv_jgen_object_begin(g);
        fsm_enc_string(g, "ID", s->id);
        fsm_enc_string(g, "DesiredDescription", s->desired_description);
        fsm_enc_string(g, "ClientStatus", s->client_status);
        fsm_enc_string(g, "FollowupEvalID", s->followup_eval_id);
        cv_jgen_key(g, "ModifyTime");
        cv_jgen_int(g, s->modify_time);
        cv_jgen_object_end(g);
    }
    cv_jgen_array_end(g);
    enc_eval(g, plan->eval);
    return fsm_enc_finish(g, FSM_PLAN_APPLY, out, err);
}

/* ---- decoding: model objects ------------------------------------------------------ */

static int decode_job(const struct cv_json *v, const char *path, struct cv_job **out,
                      struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_job_decode(v, out, &errs) != 0) {
        return fsm_list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    return 0;
}

static int decode_alloc(const struct cv_json *v, const char *path, struct cv_allocation **out,
                        struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_alloc_decode(v, out, &errs) != 0) {
        return fsm_list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    return 0;
}

/* A client's allocation update: the raw codec, then checks on what the
 * state takes from it (ID, ClientStatus, TaskStates), the defaults of task
 * states filled as the model does. */
static int decode_client_update(const struct cv_json *v, const char *path,
                                struct cv_allocation **out, struct cv_err *err)
{
    if (v->type != CV_JSON_OBJECT) {
        return fsm_bad(err, path, "must be an object, got %s", cv_json_type_name(v->type));
    }
    struct cv_allocation *a = cv_malloc(sizeof *a);
    cv_init(&cv_allocation_schema, a);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_decode(&cv_allocation_schema, v, a, "", &errs) == 0) {
        cv_check_uuid(&errs, "", "ID", a->id, true);
        cv_check_vocab(&errs, "", "ClientStatus", a->client_status, client_statuses);
        for (size_t i = 0; i < a->task_states.len; i++) {
            struct cv_task_state *ts = &a->task_states.items[i];
            char ts_path[CV_ERR_PATH_MAX];
            cv_path_join(ts_path, "TaskStates", ts->key);
            if (!ts->state[0]) {
                cv_set_string(&ts->state, CV_TASK_STATE_PENDING);
            }
            cv_check_vocab(&errs, ts_path, "State", ts->state, task_states);
            cv_check_time(&errs, ts_path, "LastRestart", ts->last_restart);
            cv_check_time(&errs, ts_path, "StartedAt", ts->started_at);
            cv_check_time(&errs, ts_path, "FinishedAt", ts->finished_at);
        }
    }
    if (errs.len) {
        cv_alloc_free(a);
        return fsm_list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    *out = a;
    return 0;
}

/* Allocations, with the model's decoder (plans) or as client updates. */
static int get_allocs(const struct cv_json *obj, const char *key, bool client,
                      struct cv_allocation ***out, size_t *n, struct cv_err *err)
{
    const struct cv_json *arr;
    int rc = fsm_get_array(obj, key, client, &arr, err);
    if (rc || !arr || arr->u.array.len == 0) {
        return rc;
    }
    *out = cv_calloc(arr->u.array.len, sizeof **out);
    for (size_t i = 0; i < arr->u.array.len && rc == 0; i++) {
        char path[CV_ERR_PATH_MAX];
        cv_path_index(path, "", key, i);
        const struct cv_json *v = arr->u.array.items[i];
        rc = client ? decode_client_update(v, path, &(*out)[i], err)
                    : decode_alloc(v, path, &(*out)[i], err);
        *n += rc == 0;
    }
    return rc;
}

static int get_stops(const struct cv_json *obj, struct fsm_cmd *c, struct cv_err *err)
{
    const struct cv_json *arr;
    int rc = fsm_get_array(obj, "AllocsStopped", false, &arr, err);
    if (rc || !arr || arr->u.array.len == 0) {
        return rc;
    }
    c->stops = cv_calloc(arr->u.array.len, sizeof *c->stops);
    for (size_t i = 0; i < arr->u.array.len; i++) {
        char path[CV_ERR_PATH_MAX], field[CV_ERR_PATH_MAX];
        cv_path_index(path, "", "AllocsStopped", i);
        const struct cv_json *v = arr->u.array.items[i];
        if (v->type != CV_JSON_OBJECT) {
            return fsm_bad(err, path, "must be an object, got %s", cv_json_type_name(v->type));
        }
        struct fsm_alloc_stop *s = &c->stops[i];
        /* The member helpers name the key alone; prefix it with the path. */
        if ((rc = fsm_get_uuid(v, "ID", true, &s->id, err)) != 0 ||
            (rc = fsm_get_string(v, "DesiredDescription", false, &s->desired_description, err)) !=
                0 ||
            (rc = fsm_get_string(v, "ClientStatus", false, &s->client_status, err)) != 0 ||
            (s->client_status[0] &&
             (rc = fsm_check_vocab(s->client_status, "ClientStatus", client_statuses, err)) != 0) ||
            (rc = fsm_get_uuid(v, "FollowupEvalID", false, &s->followup_eval_id, err)) != 0 ||
            (rc = fsm_get_int(v, "ModifyTime", &s->modify_time, err)) != 0) {
            if (err) {
                cv_path_join(field, path, err->path);
                memcpy(err->path, field, sizeof field);
            }
            return rc;
        }
        c->n_stops++;
    }
    return 0;
}

/* ---- decoding: commands -------------------------------------------------------------- */

static int check_eval_job(const struct cv_evaluation *eval, const char *job_id, struct cv_err *err)
{
    if (eval && strcmp(eval->job_id, job_id) != 0) {
        return fsm_bad(err, "Eval.JobID", "must be the job's ID \"%.64s\", got \"%.64s\"", job_id,
                       eval->job_id);
    }
    return 0;
}

static int dec_job_register(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(b, "Job");
    int rc = v ? decode_job(v, "Job", &c->job, err) : fsm_bad(err, "Job", "is required");
    if (rc == 0) {
        rc = fsm_get_eval(b, &c->eval, err);
    }
    return rc ? rc : check_eval_job(c->eval, c->job->id, err);
}

static int dec_job_deregister(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc;
    if ((rc = fsm_get_string(b, "JobID", true, &c->job_id, err)) != 0 ||
        (rc = fsm_get_bool(b, "Purge", &c->purge, err)) != 0 ||
        (rc = fsm_get_int(b, "SubmitTime", &c->submit_time, err)) != 0 ||
        (rc = fsm_get_eval(b, &c->eval, err)) != 0) {
        return rc;
    }
    return check_eval_job(c->eval, c->job_id, err);
}

static int dec_eval_update(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    return fsm_get_evals(b, "Evals", true, &c->evals, &c->n_evals, err);
}

static int dec_eval_delete(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc = fsm_get_uuids(b, "Evals", false, &c->ids, &c->n_ids, err);
    return rc ? rc : fsm_get_uuids(b, "Allocs", false, &c->alloc_ids, &c->n_alloc_ids, err);
}

static int dec_alloc_client_update(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc = get_allocs(b, "Allocs", true, &c->allocs, &c->n_allocs, err);
    return rc ? rc : fsm_get_evals(b, "Evals", false, &c->evals, &c->n_evals, err);
}

static int dec_plan_apply(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc;
    if ((rc = fsm_get_uuid(b, "EvalID", true, &c->eval_id, err)) != 0 ||
        (rc = get_allocs(b, "AllocsUpdated", false, &c->allocs, &c->n_allocs, err)) != 0 ||
        (rc = get_stops(b, c, err)) != 0) {
        return rc;
    }
    return fsm_get_eval(b, &c->eval, err);
}

typedef int (*dec_fn)(const struct cv_json *body, struct fsm_cmd *c, struct cv_err *err);

static const dec_fn decoders[FSM_COMMAND_MAX + 1] = {
    [FSM_JOB_REGISTER] = dec_job_register,
    [FSM_JOB_DEREGISTER] = dec_job_deregister,
    [FSM_NODE_REGISTER] = fsm_node_decode,
    [FSM_NODE_STATUS] = fsm_node_decode,
    [FSM_NODE_ELIGIBILITY] = fsm_node_decode,
    [FSM_NODE_DEREGISTER] = fsm_node_decode,
    [FSM_EVAL_UPDATE] = dec_eval_update,
    [FSM_EVAL_DELETE] = dec_eval_delete,
    [FSM_ALLOC_CLIENT_UPDATE] = dec_alloc_client_update,
    [FSM_PLAN_APPLY] = dec_plan_apply,
    [FSM_NODE_DRAIN] = fsm_node_decode,
};

int fsm_cmd_decode(unsigned type, const struct cv_json *body, struct fsm_cmd **out,
                   struct cv_err *err)
{
    *out = NULL;
    if (type == 0 || type > FSM_COMMAND_MAX || !decoders[type]) {
        return cv_err_setf(err, CV_EINTERNAL, "no decoder for command type %u", type);
    }
    if (body->type != CV_JSON_OBJECT) {
        return fsm_bad(err, "", "the body must be a JSON object, got %s",
                       cv_json_type_name(body->type));
    }
    struct fsm_cmd *c = cv_calloc(1, sizeof *c);
    c->type = type;
    int rc = decoders[type](body, c, err);
    if (rc != 0) {
        fsm_cmd_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void fsm_cmd_free(struct fsm_cmd *c)
{
    if (!c) {
        return;
    }
    cv_job_free(c->job);
    cv_node_free(c->node);
    cv_eval_free(c->eval);
    for (size_t i = 0; i < c->n_evals; i++) {
        cv_eval_free(c->evals[i]);
    }
    for (size_t i = 0; i < c->n_allocs; i++) {
        cv_alloc_free(c->allocs[i]);
    }
    cv_free(c->evals);
    cv_free(c->allocs);
    cv_free(c->ids);
    cv_free(c->alloc_ids);
    cv_free(c->stops);
    cv_free(c->drain.force_deadline);
    cv_free(c->drain.started_at);
    cv_free(c);
}

/* ---- application ---------------------------------------------------------------------- */

/* Writes the command's single "Eval" (the state takes it), recording its
 * ID in res. */
static int put_eval(struct fsm_cmd *c, struct state_txn *txn, struct fsm_result *res,
                    struct cv_err *err)
{
    if (!c->eval) {
        return 0;
    }
    char id[FSM_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", c->eval->id);
    int rc = state_txn_upsert_evals(txn, &c->eval, 1, err);
    if (rc == 0) {
        c->eval = NULL;
        memcpy(res->eval_id, id, sizeof id);
    }
    return rc;
}

int fsm_put_evals(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    if (c->n_evals == 0) {
        return 0;
    }
    int rc = state_txn_upsert_evals(txn, c->evals, c->n_evals, err);
    if (rc == 0) {
        c->n_evals = 0;
    }
    return rc;
}

/* Nomad's applyUpsertJob: the job, then its evaluation, whose
 * JobModifyIndex is the entry's index. */
static int apply_job_register(struct fsm_cmd *c, struct state_txn *txn, uint64_t index,
                              struct fsm_result *res, struct cv_err *err)
{
    int rc = state_txn_upsert_job(txn, c->job, err);
    if (rc) {
        return rc;
    }
    res->job_version = c->job->version;
    res->job_modify_index = c->job->job_modify_index;
    c->job = NULL;
    if (c->eval) {
        c->eval->job_modify_index = index;
    }
    return put_eval(c, txn, res, err);
}

/* Nomad's handleJobDeregister: purge deletes the job and its versions (its
 * allocations and evaluations stay until garbage collection, as Nomad's);
 * stop upserts a copy with Stop set, which makes a new version. A job that
 * does not exist is refused either way, and so is the whole entry. */
static int apply_job_deregister(struct fsm_cmd *c, struct state_txn *txn, uint64_t index,
                                struct fsm_result *res, struct cv_err *err)
{
    int rc;
    if (c->purge) {
        rc = state_txn_delete_job(txn, c->job_id, err);
    } else {
        const struct cv_job *cur = state_job(state_txn_view(txn), c->job_id);
        if (!cur) {
            return cv_err_setf(err, CV_ENOTFOUND, "job \"%.64s\" does not exist to be stopped",
                               c->job_id);
        }
        struct cv_job *stopped = cv_job_copy(cur);
        stopped->stop = true;
        if (c->submit_time) {
            stopped->submit_time = c->submit_time;
        }
        rc = state_txn_upsert_job(txn, stopped, err);
        if (rc) {
            cv_job_free(stopped);
        } else {
            res->job_version = stopped->version;
            res->job_modify_index = stopped->job_modify_index;
        }
    }
    if (rc) {
        return rc;
    }
    if (c->eval) {
        c->eval->job_modify_index = index;
    }
    return put_eval(c, txn, res, err);
}

/* Evaluations of jobs that do not exist are written: Nomad's UpsertEvals
 * does not require the job (a job's status is updated when it exists). */
static int apply_eval_update(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    return fsm_put_evals(c, txn, err);
}

/* Unknown IDs are skipped, as Nomad's DeleteEval does. */
static int apply_eval_delete(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    return state_txn_delete_evals(txn, c->ids, c->n_ids, c->alloc_ids, c->n_alloc_ids, err);
}

/* Records that an allocation on node_id stopped running. */
static void note_freed(struct fsm_result *res, const char *node_id)
{
    if (!node_id || !node_id[0]) {
        return;
    }
    for (size_t i = 0; i < res->n_freed_nodes; i++) {
        if (strcmp(res->freed_nodes[i], node_id) == 0) {
            return;
        }
    }
    if (res->n_freed_nodes == FSM_FREED_NODES_MAX) {
        res->freed_overflow = true;
        return;
    }
    snprintf(res->freed_nodes[res->n_freed_nodes++], FSM_ID_MAX + 1, "%s", node_id);
}

/* Whether a stored allocation still holds its node's resources. */
static bool holds_resources(const struct cv_allocation *a)
{
    return a && !cv_alloc_client_terminal(a->client_status) &&
           strcmp(a->desired_status, CV_ALLOC_DESIRED_RUN) == 0;
}

/* Nomad's applyAllocClientUpdate (updates for unknown allocations are
 * dropped), with its evaluations in the same transaction. */
static int apply_alloc_client_update(struct fsm_cmd *c, struct state_txn *txn,
                                     struct fsm_result *res, struct cv_err *err)
{
    const struct state_snap *view = state_txn_view(txn);
    for (size_t i = 0; i < c->n_allocs; i++) {
        const struct cv_allocation *ex = state_alloc(view, c->allocs[i]->id);
        if (holds_resources(ex) && cv_alloc_client_terminal(c->allocs[i]->client_status)) {
            note_freed(res, ex->node_id);
        }
    }
    int rc = state_txn_update_allocs_from_client(txn, c->allocs, c->n_allocs, err);
    if (rc) {
        return rc;
    }
    c->n_allocs = 0; /* the state took (and freed) every update */
    return fsm_put_evals(c, txn, err);
}

/* The stored allocation with Nomad's AllocationDiff applied to a copy; its
 * job is left out, so the state shares the stored one. NULL when the
 * allocation does not exist. */
static struct cv_allocation *stopped_copy(const struct state_snap *view,
                                          const struct fsm_alloc_stop *s)
{
    const struct cv_allocation *ex = state_alloc(view, s->id);
    if (!ex) {
        return NULL;
    }
    struct cv_allocation tmp = *ex; /* shallow: only read */
    tmp.job = NULL;
    struct cv_allocation *a = cv_alloc_copy(&tmp);
    cv_set_string(&a->desired_status, CV_ALLOC_DESIRED_STOP);
    cv_set_string(&a->desired_description, s->desired_description);
    if (s->client_status[0]) {
        cv_set_string(&a->client_status, s->client_status);
    }
    if (s->followup_eval_id[0]) {
        cv_set_string(&a->followup_eval_id, s->followup_eval_id);
    }
    if (s->modify_time) {
        a->modify_time = s->modify_time;
    }
    return a;
}

/* Nomad's UpsertPlanResults: the plan's evaluation gets the entry's index
 * as ModifyIndex (refused when it does not exist: "unable to find eval
 * id"), then the stopped allocations and the placements are upserted in
 * one call, stops first. Stopping an allocation that does not exist
 * refuses the whole plan. The plan's evaluation is still pending when its
 * plan commits (the worker completes it afterwards), so rewriting it does
 * not trigger the state's cancellation of blocked evaluations. */
static int apply_plan(struct fsm_cmd *c, struct state_txn *txn, struct fsm_result *res,
                      struct cv_err *err)
{
    int rc;
    if (!c->eval || strcmp(c->eval->id, c->eval_id) != 0) {
        const struct cv_evaluation *ex = state_eval(state_txn_view(txn), c->eval_id);
        if (!ex) {
            return cv_err_setf(err, CV_ENOTFOUND, "evaluation \"%s\" of the plan does not exist",
                               c->eval_id);
        }
        struct cv_evaluation *touched = cv_eval_copy(ex);
        if ((rc = state_txn_upsert_evals(txn, &touched, 1, err)) != 0) {
            cv_eval_free(touched);
            return rc;
        }
    }
    size_t n = c->n_stops + c->n_allocs;
    if (n) {
        struct cv_allocation **all = cv_calloc(n, sizeof *all);
        const struct state_snap *view = state_txn_view(txn);
        rc = 0;
        size_t made = 0;
        for (; made < c->n_stops; made++) {
            const struct cv_allocation *ex = state_alloc(view, c->stops[made].id);
            if (holds_resources(ex)) {
                note_freed(res, ex->node_id);
            }
            all[made] = stopped_copy(view, &c->stops[made]);
            if (!all[made]) {
                rc = cv_err_setf(err, CV_ENOTFOUND,
                                 "allocation \"%s\" to stop does not exist (AllocsStopped[%zu])",
                                 c->stops[made].id, made);
                break;
            }
        }
        if (rc == 0) {
            for (size_t i = 0; i < c->n_allocs; i++) {
                all[c->n_stops + i] = c->allocs[i];
            }
            rc = state_txn_upsert_allocs(txn, all, n, err);
        }
        if (rc) {
            for (size_t i = 0; i < made; i++) {
                cv_alloc_free(all[i]);
            }
        } else {
            c->n_allocs = 0;
        }
        cv_free(all);
        if (rc) {
            return rc;
        }
    }
    return put_eval(c, txn, res, err);
}

int fsm_cmd_apply(struct fsm_cmd *c, struct state_txn *txn, uint64_t index, struct fsm_result *res,
                  struct cv_err *err)
{
    switch ((enum fsm_command)c->type) {
    case FSM_JOB_REGISTER:
        return apply_job_register(c, txn, index, res, err);
    case FSM_JOB_DEREGISTER:
        return apply_job_deregister(c, txn, index, res, err);
    case FSM_NODE_REGISTER:
    case FSM_NODE_STATUS:
    case FSM_NODE_ELIGIBILITY:
    case FSM_NODE_DEREGISTER:
    case FSM_NODE_DRAIN:
        return fsm_node_apply(c, txn, err);
    case FSM_EVAL_UPDATE:
        return apply_eval_update(c, txn, err);
    case FSM_EVAL_DELETE:
        return apply_eval_delete(c, txn, err);
    case FSM_ALLOC_CLIENT_UPDATE:
        return apply_alloc_client_update(c, txn, res, err);
    case FSM_PLAN_APPLY:
        return apply_plan(c, txn, res, err);
    }
    return cv_err_setf(err, CV_EINTERNAL, "no command of type %u", c->type);
}
