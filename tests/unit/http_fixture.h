/*
 * http_fixture: what the test_http_* programs share: a fake region-server
 * backend (a real state store and the real FSM; proposals applied from a
 * zero-delay event, forwards handed to a second server), a libevent HTTP
 * client whose waits are bounded by a guard timer, JSON accessors and the
 * test data (web.json, a node, an allocation).
 */
#ifndef CV_HTTP_FIXTURE_H
#define CV_HTTP_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "common/buf.h"
#include "common/json.h"
#include "regiond/fsm.h"
#include "regiond/http.h"
#include "regiond/http_fwd.h"
#include "regiond/state/state.h"

#define GUARD_MS 10000

struct tfx;

struct srv_be
{
    struct tfx *x;
    struct state_store *st;
    struct fsm *fsm;
    uint64_t index;
    bool leader;
    bool known_leader;
    struct srv_be *leader_be; /* where forwards go; NULL: none (CV_EUNAVAILABLE) */
    struct http_server *http;
};

/* An operation the backend holds: a proposal not yet applied, or a
 * forward not yet answered. */
struct op
{
    struct tfx *x;
    struct op *prev, *next;
    struct srv_be *be;
    struct event *ev;
    bool is_forward;
    bool dispatched; /* a forward handed to the leader */
    void *cmd;
    size_t len;
    http_propose_cb pcb;
    struct http_fwd_decoded_request *req;
    http_fwd_cb fcb;
    void *arg;
};

struct tfx
{
    struct event_base *base;
    struct srv_be a, b; /* a: the leader; b: a follower when used */
    struct op *ops;
    uint64_t forwards;
};

struct reply
{
    bool done;
    int status;
    char *body;
    size_t len;
    char index[32];
    char known_leader[16];
    char last_contact[32];
    char allow[64];
    char content_type[64];
    struct evhttp_connection *conn;
    uint64_t sent_ns;
    uint64_t got_ns;
};

/* agent/self's config for the next server made (NULL: the default). */
extern const char *next_agent_config;

extern const char NODE_ID[37];
extern const char ALLOC_ID[37];

void tfx_init(struct tfx *x, size_t max_body);

void tfx_add_follower(struct tfx *x);

void tfx_free(struct tfx *x);

void start(struct tfx *x, struct srv_be *be, const char *method, const char *uri, const char *body,
           size_t body_len, struct reply *r);

void wait_reply(struct tfx *x, struct reply *r);

void spin(struct tfx *x);

void reply_free(struct reply *r);

void request(struct tfx *x, struct srv_be *be, const char *method, const char *uri,
             const char *body, struct reply *r);

struct cv_json_doc *jparse(const struct reply *r);

const struct cv_json *jget(const struct cv_json *o, const char *key);

const char *jstr(const struct cv_json *o, const char *key);

uint64_t juint(const struct cv_json *o, const char *key);

bool jbool(const struct cv_json *o, const char *key);

size_t jlen(const struct cv_json *v);

void expect_status(const struct reply *r, int status);

uint64_t header_u64(const char *v);

char *web_job(void);

char *job_text(const char *id, int count);

void register_node(struct srv_be *be);

void place_alloc(struct srv_be *be, const char *eval_id);

void register_job(struct tfx *x, struct srv_be *be, const char *text, char eval_id[37]);

#endif
