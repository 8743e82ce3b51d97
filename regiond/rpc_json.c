/*
 * rpc_json: shared pieces of the server's JSON RPC handlers (rpc_json.h).
 */
#include "regiond/rpc_json.h"

void rpcj_reply_error(struct rpc_call *call, int code, const char *msg)
{
    rpc_reply(call, code, msg, NULL, 0);
}

struct cv_json_doc *rpcj_parse_object(struct rpc_call *call, const void *payload, size_t len)
{
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (cv_json_parse(payload, len, NULL, &doc, &err) != 0) {
        rpcj_reply_error(call, err.code, err.msg);
        return NULL;
    }
    if (cv_json_doc_root(doc)->type != CV_JSON_OBJECT) {
        cv_json_doc_free(doc);
        rpcj_reply_error(call, CV_EPARSE, "the arguments must be a JSON object");
        return NULL;
    }
    return doc;
}

const char *rpcj_string(const struct cv_json_doc *doc, const char *key)
{
    const struct cv_json *v = cv_json_object_get(cv_json_doc_root(doc), key);
    return v && v->type == CV_JSON_STRING ? v->u.string.ptr : NULL;
}

void rpcj_reply_json(struct rpc_call *call, struct cv_jgen *g)
{
    const char *text = NULL;
    size_t len = 0;
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        rpc_reply(call, 0, NULL, text, len);
    } else {
        rpcj_reply_error(call, CV_EINTERNAL, "cannot encode the answer");
    }
    cv_jgen_free(g);
}

bool rpcj_require_active_leader(struct rpc_call *call, bool active)
{
    if (!active) {
        rpcj_reply_error(call, CV_ENOTLEADER, "this server is not the region's active leader");
    }
    return active;
}
