/*
 * rpc_json: what the server's JSON RPC handlers share (the node RPCs of
 * duties.c, the scheduler RPCs of workers.c): parsing the arguments as a
 * JSON object, reading a string member, answering with JSON or an error,
 * and refusing a call that only an active leader may answer.
 */
#ifndef CV_REGIOND_RPC_JSON_H
#define CV_REGIOND_RPC_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/rpc.h"

/* Parses the payload as a JSON object (with the default limits). On error
 * answers the call (CV_EPARSE or CV_ETOOBIG with the reason) and returns
 * NULL; otherwise the caller frees the document. */
struct cv_json_doc *rpcj_parse_object(struct rpc_call *call, const void *payload, size_t len);

/* The string member `key` of the document's root object, or NULL when it
 * is missing or not a string. */
const char *rpcj_string(const struct cv_json_doc *doc, const char *key);

/* Answers with an error code and message. */
void rpcj_reply_error(struct rpc_call *call, int code, const char *msg);

/* Answers with the generated JSON (CV_EINTERNAL when generation failed);
 * frees g. */
void rpcj_reply_json(struct rpc_call *call, struct cv_jgen *g);

/* Returns active; when false, answers CV_ENOTLEADER first. */
bool rpcj_require_active_leader(struct rpc_call *call, bool active);

#endif
