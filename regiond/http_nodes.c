/*
 * http_nodes: /v1/nodes, /v1/node/:id, /v1/node/:id/allocations,
 * /v1/node/:id/eligibility and /v1/node/:id/drain.
 *
 * A node is shown to API clients without its SecretID (Nomad's
 * Node.Sanitize): the secret authenticates the node's own client.
 *
 * Drain is refused with 501: the FSM has no command that writes a drain
 * strategy yet (regiond/fsm.h), and answering 200 without draining would
 * be worse than saying so.
 */
#include <string.h>

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

static void on_eligibility(struct http_ctx *c, int status, uint64_t index,
                           const struct fsm_result *res)
{
    if (status != 0 || !res || res->outcome != FSM_APPLIED) {
        http_reply_apply_error(c, status, res);
        return;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "NodeModifyIndex");
    cv_jgen_uint(g, index);
    cv_jgen_key(g, "EvalIDs");
    cv_jgen_null(g);
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

void http_node_drain(struct http_ctx *c)
{
    http_reply_error(c, 501,
                     "node drain is not supported yet: the servers have no command that "
                     "writes a drain strategy (use /v1/node/%s/eligibility to stop placements)",
                     c->id);
}
