/*
 * fsm_nodes: the FSM's node commands (NodeRegister, NodeStatus,
 * NodeEligibility, NodeDeregister, NodeDrain), each encoded, decoded and
 * applied as fsm_commands.c does the others, with its helpers
 * (fsm_internal.h).
 *
 * The node's operator-owned fields (drain strategy, eligibility) are kept
 * by the state's rules (state.h): a registration cannot undo a drain, a
 * draining node cannot be made eligible, and a drain makes the node
 * ineligible. The FSM checks the shapes of what it decodes and leaves
 * those rules to the state, which refuses the command as a whole.
 *
 * What it does not do: create the evaluations a drain calls for, or drain
 * anything. Moving allocations off a draining node is the drainer's work,
 * which comes with the scheduler; the leader proposes the evaluations.
 */
#include <string.h>

#include "common/mem.h"
#include "regiond/fsm_internal.h"

static const char *const node_statuses[] = {CV_NODE_STATUS_INITIALIZING, CV_NODE_STATUS_READY,
                                            CV_NODE_STATUS_DOWN, CV_NODE_STATUS_DISCONNECTED, NULL};
static const char *const eligibilities[] = {CV_NODE_ELIGIBLE, CV_NODE_INELIGIBLE, NULL};

/* ---- encoding --------------------------------------------------------------------- */

int fsm_encode_node_register(const struct cv_node *node, struct cv_buf *out, struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    cv_jgen_key(g, "Node");
    cv_node_encode(node, g);
    return fsm_enc_finish(g, FSM_NODE_REGISTER, out, err);
}

int fsm_encode_node_status(const char *node_id, const char *status, int64_t updated_at,
                           const struct cv_evaluation *const *evals, size_t n_evals,
                           struct cv_buf *out, struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_string(g, "NodeID", node_id);
    fsm_enc_string(g, "Status", status);
    cv_jgen_key(g, "UpdatedAt");
    cv_jgen_int(g, updated_at);
    fsm_enc_evals(g, "Evals", evals, n_evals);
    return fsm_enc_finish(g, FSM_NODE_STATUS, out, err);
}

int fsm_encode_node_eligibility(const char *node_id, const char *eligibility, struct cv_buf *out,
                                struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_string(g, "NodeID", node_id);
    fsm_enc_string(g, "Eligibility", eligibility);
    return fsm_enc_finish(g, FSM_NODE_ELIGIBILITY, out, err);
}

int fsm_encode_node_deregister(const char *const *node_ids, size_t n, struct cv_buf *out,
                               struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_strings(g, "NodeIDs", node_ids, n);
    return fsm_enc_finish(g, FSM_NODE_DEREGISTER, out, err);
}

int fsm_encode_node_drain(const char *node_id, const struct cv_drain_strategy *strategy,
                          bool mark_eligible, int64_t updated_at, struct cv_buf *out,
                          struct cv_err *err)
{
    struct cv_jgen *g = fsm_enc_begin();
    fsm_enc_string(g, "NodeID", node_id);
    cv_jgen_key(g, "DrainStrategy");
    if (strategy) {
        /* The model's field names (DrainSpec's fields sit at this level in
         * Nomad's JSON, as Go embeds it). */
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "Deadline");
        cv_jgen_int(g, strategy->deadline);
        cv_jgen_key(g, "IgnoreSystemJobs");
        cv_jgen_bool(g, strategy->ignore_system_jobs);
        fsm_enc_string(g, "ForceDeadline", strategy->force_deadline);
        fsm_enc_string(g, "StartedAt", strategy->started_at);
        cv_jgen_object_end(g);
    } else {
        cv_jgen_null(g);
    }
    cv_jgen_key(g, "MarkEligible");
    cv_jgen_bool(g, mark_eligible);
    cv_jgen_key(g, "UpdatedAt");
    cv_jgen_int(g, updated_at);
    return fsm_enc_finish(g, FSM_NODE_DRAIN, out, err);
}

/* ---- decoding ------------------------------------------------------------------------ */

static int decode_node(const struct cv_json *v, const char *path, struct cv_node **out,
                       struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    if (cv_node_decode(v, out, &errs) != 0) {
        return fsm_list_failed(err, path, &errs);
    }
    cv_errlist_free(&errs);
    return 0;
}

static int dec_node_register(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    const struct cv_json *v = fsm_member(b, "Node");
    return v ? decode_node(v, "Node", &c->node, err) : fsm_bad(err, "Node", "is required");
}

static int dec_node_status(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc;
    if ((rc = fsm_get_uuid(b, "NodeID", true, &c->node_id, err)) != 0 ||
        (rc = fsm_get_string(b, "Status", true, &c->status, err)) != 0 ||
        (rc = fsm_check_vocab(c->status, "Status", node_statuses, err)) != 0 ||
        (rc = fsm_get_int(b, "UpdatedAt", &c->updated_at, err)) != 0) {
        return rc;
    }
    return fsm_get_evals(b, "Evals", false, &c->evals, &c->n_evals, err);
}

static int dec_node_eligibility(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc;
    if ((rc = fsm_get_uuid(b, "NodeID", true, &c->node_id, err)) != 0 ||
        (rc = fsm_get_string(b, "Eligibility", true, &c->eligibility, err)) != 0) {
        return rc;
    }
    return fsm_check_vocab(c->eligibility, "Eligibility", eligibilities, err);
}

static int dec_node_deregister(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    return fsm_get_uuids(b, "NodeIDs", true, &c->ids, &c->n_ids, err);
}

/* An RFC 3339 time, or "" (none). */
static int check_time(const char *value, const char *path, struct cv_err *err)
{
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_check_time(&errs, "", path, value);
    return errs.len ? fsm_list_failed(err, "", &errs) : (cv_errlist_free(&errs), 0);
}

/* The members of a DrainStrategy object into c->drain, checked as the
 * node model checks them, so the node the state stores stays valid. */
static int dec_drain_strategy(const struct cv_json *v, struct fsm_cmd *c, struct cv_err *err)
{
    if (v->type != CV_JSON_OBJECT) {
        return fsm_bad(err, "DrainStrategy", "must be an object, got %s",
                       cv_json_type_name(v->type));
    }
    struct cv_drain_strategy *ds = &c->drain;
    const char *force = "", *started = "";
    int rc;
    if ((rc = fsm_get_int(v, "Deadline", &ds->deadline, err)) != 0 ||
        (rc = fsm_get_bool(v, "IgnoreSystemJobs", &ds->ignore_system_jobs, err)) != 0 ||
        (rc = fsm_get_string(v, "ForceDeadline", false, &force, err)) != 0 ||
        (rc = check_time(force, "ForceDeadline", err)) != 0 ||
        (rc = fsm_get_string(v, "StartedAt", false, &started, err)) != 0 ||
        (rc = check_time(started, "StartedAt", err)) != 0) {
        if (err) {
            /* The member helpers name the key alone. */
            char path[CV_ERR_PATH_MAX];
            cv_path_join(path, "DrainStrategy", err->path);
            memcpy(err->path, path, sizeof path);
        }
        return rc;
    }
    c->draining = true;
    ds->force_deadline = cv_strdup(force);
    ds->started_at = cv_strdup(started);
    return 0;
}

static int dec_node_drain(const struct cv_json *b, struct fsm_cmd *c, struct cv_err *err)
{
    int rc;
    if ((rc = fsm_get_uuid(b, "NodeID", true, &c->node_id, err)) != 0 ||
        (rc = fsm_get_bool(b, "MarkEligible", &c->mark_eligible, err)) != 0 ||
        (rc = fsm_get_int(b, "UpdatedAt", &c->updated_at, err)) != 0) {
        return rc;
    }
    if (c->updated_at < 0) {
        /* StatusUpdatedAt, which the node model keeps non-negative. */
        return fsm_bad(err, "UpdatedAt", "must not be negative, got %lld",
                       (long long)c->updated_at);
    }
    const struct cv_json *v = fsm_member(b, "DrainStrategy");
    return v ? dec_drain_strategy(v, c, err) : 0;
}

int fsm_node_decode(const struct cv_json *body, struct fsm_cmd *c, struct cv_err *err)
{
    switch (c->type) {
    case FSM_NODE_REGISTER:
        return dec_node_register(body, c, err);
    case FSM_NODE_STATUS:
        return dec_node_status(body, c, err);
    case FSM_NODE_ELIGIBILITY:
        return dec_node_eligibility(body, c, err);
    case FSM_NODE_DEREGISTER:
        return dec_node_deregister(body, c, err);
    case FSM_NODE_DRAIN:
        return dec_node_drain(body, c, err);
    default:
        return cv_err_setf(err, CV_EINTERNAL, "command type %u is not a node command", c->type);
    }
}

/* ---- application ---------------------------------------------------------------------- */

static int apply_node_register(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    int rc = state_txn_upsert_node(txn, c->node, err);
    if (rc == 0) {
        c->node = NULL;
    }
    return rc;
}

/* Nomad's applyStatusUpdate refuses a status for an unknown node; the
 * evaluations the change creates go in the same transaction. */
static int apply_node_status(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    int rc = state_txn_update_node_status(txn, c->node_id, c->status, c->updated_at, err);
    return rc ? rc : fsm_put_evals(c, txn, err);
}

/* Refuses an unknown node, and making a draining node eligible. */
static int apply_node_eligibility(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    return state_txn_update_node_eligibility(txn, c->node_id, c->eligibility, err);
}

/* Refuses the whole batch when a node is unknown, as Nomad's DeleteNode. */
static int apply_node_deregister(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    return state_txn_delete_nodes(txn, c->ids, c->n_ids, err);
}

/* Nomad's applyDrainUpdate: refused for an unknown node ("node not
 * found"). */
static int apply_node_drain(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    return state_txn_update_node_drain(txn, c->node_id, c->draining ? &c->drain : NULL,
                                       c->mark_eligible, c->updated_at, err);
}

int fsm_node_apply(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err)
{
    switch (c->type) {
    case FSM_NODE_REGISTER:
        return apply_node_register(c, txn, err);
    case FSM_NODE_STATUS:
        return apply_node_status(c, txn, err);
    case FSM_NODE_ELIGIBILITY:
        return apply_node_eligibility(c, txn, err);
    case FSM_NODE_DEREGISTER:
        return apply_node_deregister(c, txn, err);
    case FSM_NODE_DRAIN:
        return apply_node_drain(c, txn, err);
    default:
        return cv_err_setf(err, CV_EINTERNAL, "command type %u is not a node command", c->type);
    }
}
