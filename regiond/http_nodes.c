/*
 * http_nodes: /v1/nodes, /v1/node/:id, /v1/node/:id/allocations,
 * /v1/node/:id/eligibility and /v1/node/:id/drain.
 *
 * A node is shown to API clients without its SecretID (Nomad's
 * Node.Sanitize): the secret authenticates the node's own client.
 *
 * Drain follows Nomad's Node.UpdateDrain: the leader turns the request's
 * DrainSpec into a DrainStrategy (StartedAt now, or kept from a drain
 * already under way; ForceDeadline now + Deadline for a positive
 * Deadline) and proposes it as one FSM command, which also makes the node
 * ineligible (or eligible again when a drain ends with MarkEligible).
 * What this does not do: move allocations off the node (the drainer's
 * work, which comes with the scheduler), or create the evaluations Nomad
 * creates when a node becomes eligible again, so EvalIDs is always [].
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

#include "regiond/http_internal.h"

struct node_stub_opts
{
    bool os;
};

static void node_stub_extra(struct cv_jgen *g, const void *obj, const void *arg)
{
    const struct cv_node *n = obj;
    const struct node_stub_opts *o = arg;
    const char *addr = cv_strmap_get(&n->attributes, "unique.network.ip-address");
    const char *version = cv_strmap_get(&n->attributes, "nomad.version");
    cv_jgen_key(g, "Address");
    cv_jgen_string(g, addr ? addr : "");
    cv_jgen_key(g, "Version");
    cv_jgen_string(g, version ? version : "");
    if (o->os) {
        const char *os = cv_strmap_get(&n->attributes, "os.name");
        cv_jgen_key(g, "Attributes");
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "os.name");
        cv_jgen_string(g, os ? os : "");
        cv_jgen_object_end(g);
    }
    cv_jgen_key(g, "HostVolumes");
    cv_jgen_null(g);
    cv_jgen_key(g, "LastDrain");
    cv_jgen_null(g);
}

void http_nodes_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    bool resources, os;
    if (!http_query_bool(c, "resources", false, &resources) ||
        !http_query_bool(c, "os", false, &os)) {
        return;
    }
    static const char *const fields[] = {"ID",
                                         "Datacenter",
                                         "Name",
                                         "NodePool",
                                         "NodeClass",
                                         "Drain",
                                         "SchedulingEligibility",
                                         "Status",
                                         "StatusDescription",
                                         "Drivers",
                                         "CreateIndex",
                                         "ModifyIndex",
                                         NULL,
                                         NULL,
                                         NULL};
    static const char *const with_resources[] = {"ID",
                                                 "Datacenter",
                                                 "Name",
                                                 "NodePool",
                                                 "NodeClass",
                                                 "Drain",
                                                 "SchedulingEligibility",
                                                 "Status",
                                                 "StatusDescription",
                                                 "Drivers",
                                                 "CreateIndex",
                                                 "ModifyIndex",
                                                 "NodeResources",
                                                 "ReservedResources",
                                                 NULL};
    struct http_pick pick;
    http_pick_init(&pick, &cv_node_schema, resources ? with_resources : fields);
    struct node_stub_opts o = {os};
    cv_buf_append_char(&c->out, '[');
    struct state_iter it;
    state_iter_nodes(snap, http_query(c, "prefix"), &it);
    const struct cv_node *n;
    size_t count = 0;
    while ((n = state_iter_next(&it))) {
        if (count++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_json_stub(&c->out, &pick, n, node_stub_extra, &o) != 0) {
            http_set_error(c, 500, "could not encode the answer");
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

static void node_secret_blank(struct cv_jgen *g, const void *obj, const void *arg)
{
    (void)obj;
    (void)arg;
    cv_jgen_key(g, "SecretID");
    cv_jgen_string(g, "");
}

void http_node_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    const struct cv_node *n = state_node(snap, c->id);
    if (!n) {
        http_set_error(c, 404, "node not found");
        return;
    }
    *index = n->modify_index;
    static const char *const secret[] = {"SecretID", NULL};
    struct http_pick pick;
    http_pick_except(&pick, &cv_node_schema, secret);
    if (http_json_stub(&c->out, &pick, n, node_secret_blank, NULL) != 0) {
        http_set_error(c, 500, "could not encode the answer");
    }
}

void http_node_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index)
{
    (void)index;
    struct state_iter it;
    state_iter_allocs_by_node(snap, c->id, &it);
    const struct cv_allocation *a;
    cv_buf_append_char(&c->out, '[');
    size_t n = 0;
    while ((a = state_iter_next(&it))) {
        if (n++) {
            cv_buf_append_char(&c->out, ',');
        }
        if (http_json_object(&c->out, &cv_allocation_schema, a) != 0) {
            http_set_error(c, 500, "could not encode the answer");
            return;
        }
    }
    cv_buf_append_char(&c->out, ']');
}

/* ---- eligibility -------------------------------------------------------------------- */

/* Answers an applied node update with Nomad's NodeEligibilityUpdateResponse
 * / NodeDrainUpdateResponse: {"NodeModifyIndex", "EvalIDs", "EvalCreateIndex",
 * "Index"}, no evaluation created; EvalIDs is [] or null (Go's nil slice). */
static void reply_node_update(struct http_ctx *c, uint64_t index, bool eval_ids_empty)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "NodeModifyIndex");
    cv_jgen_uint(g, index);
    cv_jgen_key(g, "EvalIDs");
    if (eval_ids_empty) {
        cv_jgen_array_begin(g);
        cv_jgen_array_end(g);
    } else {
        cv_jgen_null(g);
    }
    cv_jgen_key(g, "EvalCreateIndex");
    cv_jgen_uint(g, 0);
    cv_jgen_key(g, "Index");
    cv_jgen_uint(g, index);
    cv_jgen_object_end(g);
    const char *text;
    size_t len;
    cv_buf_reset(&c->out);
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        cv_buf_append(&c->out, text, len);
    }
    cv_jgen_free(g);
    c->has_index = true;
    c->index = index;
    http_reply_json(c);
}

static void on_eligibility(struct http_ctx *c, int status, uint64_t index,
                           const struct fsm_result *res)
{
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        http_reply_apply_error(c, status, res);
        return;
    }
    reply_node_update(c, index, false);
}

void http_node_eligibility(struct http_ctx *c)
{
    struct cv_json_doc *doc = http_parse_body(c);
    if (!doc) {
        return;
    }
    const struct cv_json *body = cv_json_doc_root(doc);
    const char *elig = NULL, *node_id = NULL;
    struct state_snap *snap = NULL;
    struct cv_buf cmd = CV_BUF_INIT;
    if (!http_body_string(c, body, "Eligibility", &elig) ||
        !http_body_string(c, body, "NodeID", &node_id)) {
        goto out;
    }
    if (!node_id || !*node_id) {
        node_id = c->id;
    }
    if (!elig || (strcmp(elig, CV_NODE_ELIGIBLE) != 0 && strcmp(elig, CV_NODE_INELIGIBLE) != 0)) {
        http_reply_error(c, 400, "invalid scheduling eligibility \"%s\"", elig ? elig : "");
        goto out;
    }
    snap = state_snapshot(http_state(c));
    const struct cv_node *n = state_node(snap, node_id);
    if (!n) {
        http_reply_error(c, 404, "node not found");
        goto out;
    }
    if (n->drain_strategy && strcmp(elig, CV_NODE_ELIGIBLE) == 0) {
        http_reply_error(c, 400,
                         "can not set node's scheduling eligibility to eligible while it is "
                         "draining");
        goto out;
    }
    struct cv_err err = {0};
    int rc = fsm_encode_node_eligibility(node_id, elig, &cmd, &err);
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, cv_error_http_status(rc), "%s", cv_err_format(&err, msg, sizeof msg));
        goto out;
    }
    http_propose(c, &cmd, on_eligibility);
out:
    cv_buf_free(&cmd);
    state_snapshot_release(snap);
    cv_json_doc_free(doc);
}

/* ---- drain -------------------------------------------------------------------------- */

/* Go's zero time.Time as encoding/json writes it: Nomad's ForceDeadline
 * for a drain without a deadline (Nomad's clients parse the field as a
 * time, so it cannot be ""). */
#define GO_ZERO_TIME "0001-01-01T00:00:00Z"

/* Long enough for "2006-01-02T15:04:05.999999999Z" with room to spare. */
#define TIME_TEXT_MAX 48

/* Unix time sec + nsec as Go's RFC3339Nano in UTC, as Nomad writes a
 * time.Time: the fraction without its trailing zeros, none when 0. */
static void format_time(int64_t sec, int64_t nsec, char out[TIME_TEXT_MAX])
{
    time_t t = (time_t)sec;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&t, &tm)) {
        n = strftime(out, TIME_TEXT_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    }
    if (n == 0) {
        snprintf(out, TIME_TEXT_MAX, "%s", GO_ZERO_TIME);
        return;
    }
    if (nsec > 0) {
        char frac[12];
        int len = snprintf(frac, sizeof frac, ".%09lld", (long long)nsec);
        while (len > 1 && frac[len - 1] == '0') {
            frac[--len] = '\0';
        }
        snprintf(out + n, TIME_TEXT_MAX - n, "%sZ", frac);
    } else {
        snprintf(out + n, TIME_TEXT_MAX - n, "Z");
    }
}

/* now_ns + delta_ns (both non-negative) as a time; split into seconds
 * first, so a Deadline near the int64 limit cannot overflow. */
static void format_time_after(int64_t now_ns, int64_t delta_ns, char out[TIME_TEXT_MAX])
{
    int64_t sec = now_ns / CV_NSEC_PER_SEC + delta_ns / CV_NSEC_PER_SEC;
    int64_t nsec = now_ns % CV_NSEC_PER_SEC + delta_ns % CV_NSEC_PER_SEC;
    if (nsec >= CV_NSEC_PER_SEC) {
        sec++;
        nsec -= CV_NSEC_PER_SEC;
    }
    format_time(sec, nsec, out);
}

/* What a drain request asks for. */
struct drain_request
{
    bool has_spec; /* DrainSpec given: start or update a drain; else end it */
    int64_t deadline;
    bool ignore_system_jobs;
    bool mark_eligible;
};

/* Nomad's api.NodeUpdateDrainRequest: {"NodeID", "DrainSpec": {"Deadline":
 * ns, "IgnoreSystemJobs": bool} or null, "MarkEligible": bool, "Meta":
 * {string: string}}. Unknown members are ignored, as Go's decoder does; a
 * known one of the wrong type is 400 naming its path. NodeID is checked
 * and ignored: the path names the node, as in Nomad's handler. Meta is
 * checked and dropped: Nomad keeps it in the node's LastDrain, which
 * Caravan does not model. Returns false after replying. */
static bool parse_drain(struct http_ctx *c, const struct cv_json *body, struct drain_request *req)
{
    const char *node_id;
    if (!http_body_string(c, body, "NodeID", &node_id) ||
        !http_body_bool(c, body, "MarkEligible", &req->mark_eligible)) {
        return false;
    }
    const struct cv_json *spec = cv_json_object_get(body, "DrainSpec");
    if (spec && spec->type != CV_JSON_NULL) {
        if (spec->type != CV_JSON_OBJECT) {
            http_reply_error(c, 400, "DrainSpec: must be an object, not %s",
                             cv_json_type_name(spec->type));
            return false;
        }
        req->has_spec = true;
        const struct cv_json *v = cv_json_object_get(spec, "Deadline");
        if (v && v->type != CV_JSON_NULL &&
            (v->type != CV_JSON_NUMBER || cv_json_int64(v, &req->deadline) != 0)) {
            http_reply_error(c, 400,
                             "DrainSpec.Deadline: must be an integer (nanoseconds; -1 forces "
                             "the drain, 0 sets no deadline)");
            return false;
        }
        v = cv_json_object_get(spec, "IgnoreSystemJobs");
        if (v && v->type != CV_JSON_NULL) {
            if (v->type != CV_JSON_BOOL) {
                http_reply_error(c, 400, "DrainSpec.IgnoreSystemJobs: must be a boolean, not %s",
                                 cv_json_type_name(v->type));
                return false;
            }
            req->ignore_system_jobs = v->u.boolean;
        }
    }
    const struct cv_json *meta = cv_json_object_get(body, "Meta");
    if (meta && meta->type != CV_JSON_NULL) {
        if (meta->type != CV_JSON_OBJECT) {
            http_reply_error(c, 400, "Meta: must be an object, not %s",
                             cv_json_type_name(meta->type));
            return false;
        }
        for (size_t i = 0; i < meta->u.object.len; i++) {
            const struct cv_json_member *m = &meta->u.object.members[i];
            if (m->value->type != CV_JSON_STRING && m->value->type != CV_JSON_NULL) {
                http_reply_error(c, 400, "Meta.%.64s: must be a string, not %s", m->key,
                                 cv_json_type_name(m->value->type));
                return false;
            }
        }
    }
    return true;
}

static void on_drain(struct http_ctx *c, int status, uint64_t index, const struct fsm_result *res)
{
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        http_reply_apply_error(c, status, res);
        return;
    }
    reply_node_update(c, index, true);
}

void http_node_drain(struct http_ctx *c)
{
    struct cv_json_doc *doc = http_parse_body(c);
    if (!doc) {
        return;
    }
    struct drain_request req = {0};
    struct state_snap *snap = NULL;
    struct cv_buf cmd = CV_BUF_INIT;
    if (!parse_drain(c, cv_json_doc_root(doc), &req)) {
        goto out;
    }
    snap = state_snapshot(http_state(c));
    const struct cv_node *n = state_node(snap, c->id);
    if (!n) {
        http_reply_error(c, 404, "node not found");
        goto out;
    }
    int64_t now = http_now_ns();
    char started[TIME_TEXT_MAX], force[TIME_TEXT_MAX];
    struct cv_drain_strategy ds = {0};
    if (req.has_spec) {
        ds.deadline = req.deadline;
        ds.ignore_system_jobs = req.ignore_system_jobs;
        /* An update of a drain under way keeps its start (Nomad's rule);
         * the deadline counts from now either way. */
        if (n->drain_strategy && n->drain_strategy->started_at[0]) {
            ds.started_at = n->drain_strategy->started_at;
        } else {
            format_time_after(now, 0, started);
            ds.started_at = started;
        }
        if (req.deadline > 0) {
            format_time_after(now, req.deadline, force);
        } else {
            snprintf(force, sizeof force, "%s", GO_ZERO_TIME);
        }
        ds.force_deadline = force;
    }
    struct cv_err err = {0};
    int rc = fsm_encode_node_drain(c->id, req.has_spec ? &ds : NULL, req.mark_eligible,
                                   now / CV_NSEC_PER_SEC, &cmd, &err);
    if (rc != 0) {
        char msg[CV_ERR_PATH_MAX + CV_ERR_MSG_MAX + 4];
        http_reply_error(c, cv_error_http_status(rc), "%s", cv_err_format(&err, msg, sizeof msg));
        goto out;
    }
    http_propose(c, &cmd, on_drain);
out:
    cv_buf_free(&cmd);
    state_snapshot_release(snap);
    cv_json_doc_free(doc);
}
