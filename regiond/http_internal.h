/*
 * http_internal: what the HTTP API's files share: the request context, the
 * endpoint table's types, the reply helpers and the JSON helpers.
 *
 *   http.c          server, contexts, forwarding, blocking queries, replies
 *   http_route.c    the endpoint table, URI and query decoding, routing,
 *                   query options
 *   http_json.c     JSON helpers: list stubs as subsets of a model's fields,
 *                   request body parsing, UUIDs
 *   http_jobs.c     /v1/jobs, /v1/job/:id and its sub-resources
 *   http_plan.c     /v1/job/:id/plan: a dry run of the scheduler
 *   http_nodes.c    /v1/nodes, /v1/node/:id, eligibility, drain
 *   http_allocs.c   /v1/allocations, /v1/allocation/:id, /v1/evaluations,
 *                   /v1/evaluation/:id
 *   http_status.c   /v1/status/leader, /v1/status/peers, /v1/agent/self
 *
 * A read handler fills the context's response from a snapshot and says
 * which index it read at; the framework decides whether to answer or to
 * wait (blocking queries). A write handler starts its work and ends with
 * http_reply_* or http_propose (whose completion ends it).
 */
#ifndef CV_HTTP_INTERNAL_H
#define CV_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "regiond/fsm.h"
#include "regiond/http.h"
#include "regiond/state/state.h"

struct event;
struct evhttp_request;

/* Methods, as bits (the endpoint table's masks). */
enum http_method
{
    HTTP_M_GET = 1u << 0,
    HTTP_M_PUT = 1u << 1,
    HTTP_M_POST = 1u << 2,
    HTTP_M_DELETE = 1u << 3,
    HTTP_M_HEAD = 1u << 4,
    HTTP_M_OPTIONS = 1u << 5,
    HTTP_M_PATCH = 1u << 6,
    HTTP_M_OTHER = 1u << 7,
};
#define HTTP_M_WRITE (HTTP_M_PUT | HTTP_M_POST)

enum http_kind
{
    HTTP_READ,  /* a state read: the leader's unless ?stale, may block */
    HTTP_WRITE, /* a Raft write: always the leader's */
    HTTP_LOCAL, /* answered by whichever server gets it */
};

struct http_ctx;

/* A query parameter, percent-decoded. */
struct http_param
{
    char *key;
    char *value;
};

/* At most this many query parameters; more get 400. */
#define HTTP_MAX_PARAMS 64

/* Fills c's response from snap and sets *index to the index the answer
 * reflects (0: the index of the endpoint's tables). */
typedef void (*http_read_fn)(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
/* Starts a write or a local answer; ends, now or later, with a reply. */
typedef void (*http_start_fn)(struct http_ctx *c);
/* The completion of http_propose. */
typedef void (*http_applied_fn)(struct http_ctx *c, int status, uint64_t index,
                                const struct fsm_result *res);

struct http_endpoint
{
    const char *name;   /* for logs: "job.register" */
    const char *prefix; /* the path, or for object routes its part before the ID */
    /* NULL: the path is exactly prefix. Otherwise an object route whose ID
     * sits between prefix and suffix ("" for the object itself). */
    const char *suffix;
    unsigned methods; /* HTTP_M_* */
    enum http_kind kind;
    unsigned tables; /* STATE_MASK bits a read reads (X-Nomad-Index, watches) */
    http_read_fn read;
    http_start_fn start;
};

struct http_server
{
    struct event_base *base;
    struct http_backend backend;
    struct evhttp *evhttp;
    uint16_t port;
    size_t max_body;
    char region[64];
    char datacenter[64];
    char node_name[128];
    char rpc_addr[HTTP_ADDR_MAX];
    struct cv_json_doc *agent_config; /* NULL: built from the fields above */
    struct http_ctx *live;            /* every request in progress */
    struct http_stats stats;
};

struct http_ctx
{
    struct http_server *srv; /* NULL once the server is freed */
    struct http_ctx *prev, *next;

    /* Where the request came from: a socket, or a follower. */
    struct evhttp_request *evreq;
    http_fwd_cb fwd_cb;
    void *fwd_arg;
    bool forwarded;

    /* The request. */
    unsigned method;
    char method_name[HTTP_FWD_MAX_METHOD + 1];
    char *uri;                 /* as received, for forwarding */
    char *path;                /* percent-decoded */
    struct http_param *params; /* the query, decoded */
    size_t n_params;
    char *body;
    size_t body_len;
    const struct http_endpoint *ep;
    char *id; /* the object ID of an object route, decoded */

    /* Query options. */
    bool stale;
    bool pretty;
    bool blocking;
    uint64_t min_index;
    uint64_t wait_ms;

    /* A blocking query's wait. */
    struct state_watch watch;
    bool watch_armed;
    bool timed_out;
    struct event *wake_ev;
    struct event *timer_ev;

    /* A proposal or forward the backend holds a pointer to us for. */
    bool in_backend;
    http_applied_fn applied;
    bool replied;

    /* The response. */
    int status;
    struct cv_buf out;
    bool json;
    bool has_index;
    uint64_t index;
    char allow[64];
    /* A relayed answer from the leader (forwarded out). */
    const struct http_fwd_response *relay;

    /* Scratch a write handler keeps across its proposal. */
    char scratch_id[FSM_ID_MAX + 1];
    uint64_t scratch_index;
};

/* ---- http_route.c -------------------------------------------------------------- */

/* Decodes c->uri, finds the endpoint (c->ep, c->id) and parses the query
 * options. Returns false after replying (400, 404, 405, 500). */
bool http_parse_request(struct http_ctx *c);
/* HTTP_M_* for a method name; HTTP_M_OTHER when unknown. */
unsigned http_method_bit(const char *name);

/* ---- http.c -------------------------------------------------------------------- */

/* The query parameter's value, or NULL when absent. */
const char *http_query(const struct http_ctx *c, const char *name);
/* Go's strconv.ParseBool over an optional parameter: absent or empty ->
 * dflt; returns false on a bad value, with a 400 set as the answer (not
 * sent: a read handler returns, a write handler calls http_reply). */
bool http_query_bool(struct http_ctx *c, const char *name, bool dflt, bool *out);

/* Replies with an error: plain text, the status, the message. */
void http_reply_error(struct http_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends the answer set so far (status, c->out, c->json). */
void http_reply(struct http_ctx *c);
/* Replies with c->out as JSON and c->status (200 unless set). */
void http_reply_json(struct http_ctx *c);

/* For read handlers: sets a plain-text error as the answer (the framework
 * still sends the index headers). */
void http_set_error(struct http_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Proposes cmd; `applied` runs once with the outcome (and must reply). On
 * an immediate refusal it replies 503/500 itself. */
void http_propose(struct http_ctx *c, const struct cv_buf *cmd, http_applied_fn applied);
/* Replies to a failed proposal or a rejected command with the right status. */
void http_reply_apply_error(struct http_ctx *c, int status, const struct fsm_result *res);

/* The server's state, a snapshot of it, its leader view. */
struct state_store *http_state(const struct http_ctx *c);
bool http_known_leader(const struct http_ctx *c);
uint64_t http_last_contact(const struct http_ctx *c);

/* The wall clock, in Unix nanoseconds. */
int64_t http_now_ns(void);

/* ---- http_json.c --------------------------------------------------------------- */

#define HTTP_PICK_MAX 40

/* A subset of a model's fields: the part of a list stub the model encodes. */
struct http_pick
{
    struct cv_schema schema;
    struct cv_field fields[HTTP_PICK_MAX];
};

/* Fills p with the fields of s named in `names` (NULL-terminated), in s's
 * order. Every name must exist in s (asserted). */
void http_pick_init(struct http_pick *p, const struct cv_schema *s, const char *const *names);
/* Fills p with every field of s except those named in `names`. */
void http_pick_except(struct http_pick *p, const struct cv_schema *s, const char *const *names);

/* Writes the members of a stub beyond the picked fields, between
 * object_begin and object_end of g. */
typedef void (*http_extra_fn)(struct cv_jgen *g, const void *obj, const void *arg);

/* Appends one JSON object to out: obj's picked fields, then what extra
 * writes (may be NULL). Returns 0, or CV_EINVAL when the generator failed. */
int http_json_stub(struct cv_buf *out, const struct http_pick *p, const void *obj,
                   http_extra_fn extra, const void *arg);
/* Appends a whole object with its schema. */
int http_json_object(struct cv_buf *out, const struct cv_schema *s, const void *obj);
/* Appends what fn writes to a generator (one JSON value). */
int http_json_gen(struct cv_buf *out, void (*fn)(struct cv_jgen *g, const void *arg),
                  const void *arg);

/* Writes Nomad's QueryMeta members (Index, LastContact, KnownLeader,
 * NextToken) into an open object. */
void http_json_query_meta(struct cv_jgen *g, const struct http_ctx *c, uint64_t index);

/* Parses the body as a JSON object (400 on failure, replied); NULL then. */
struct cv_json_doc *http_parse_body(struct http_ctx *c);

/* Optional typed members of a request body. Each returns false after
 * replying 400 when the member has the wrong type. */
bool http_body_bool(struct http_ctx *c, const struct cv_json *obj, const char *key, bool *out);
bool http_body_uint(struct http_ctx *c, const struct cv_json *obj, const char *key, uint64_t *out);
bool http_body_int(struct http_ctx *c, const struct cv_json *obj, const char *key, int64_t *out);
/* A string member; *out borrowed from the document, NULL when absent. */
bool http_body_string(struct http_ctx *c, const struct cv_json *obj, const char *key,
                      const char **out);

/* Writes a new random (version 4) UUID, as Nomad formats them. */
void http_uuid(char out[FSM_ID_MAX + 1]);
/* A random value in [0, n). */
uint64_t http_random(uint64_t n);

/* ---- the endpoints ------------------------------------------------------------- */

void http_jobs_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_versions(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_evaluations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_summary(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_job_register(struct http_ctx *c);
void http_job_deregister(struct http_ctx *c);
void http_job_plan(struct http_ctx *c);

/* What register and plan share (http_jobs.c). The request's "Job" member:
 * an object with a string ID, equal to the path's job ID when the path has
 * one. NULL after replying 400. */
const struct cv_json *http_job_member(struct http_ctx *c, const struct cv_json *body);
/* Decodes, canonicalizes and validates the job (cv_job_decode): a new job,
 * or NULL after replying 400 with every problem, one "path: message" per
 * line. */
struct cv_job *http_job_decode(struct http_ctx *c, const struct cv_json *jv);
/* Nomad's Job.SpecChanged: equal but for Status, Version, Stable,
 * SubmitTime and the indexes. job is modified during the call and
 * restored. */
bool http_job_spec_changed(const struct cv_job *old, struct cv_job *job);

void http_nodes_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_node_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_node_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_node_eligibility(struct http_ctx *c);
void http_node_drain(struct http_ctx *c);

void http_allocs_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_alloc_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_evals_list(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_eval_get(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
void http_eval_allocations(struct http_ctx *c, const struct state_snap *snap, uint64_t *index);
/* Appends an allocation's AllocListStub (Nomad's default fields, plus
 * AllocatedResources when resources, without TaskStates unless
 * task_states). */
int http_alloc_stub(struct cv_buf *out, const struct cv_allocation *a, bool resources,
                    bool task_states);

void http_status_leader(struct http_ctx *c);
void http_status_peers(struct http_ctx *c);
void http_agent_self(struct http_ctx *c);

#endif
