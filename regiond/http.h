/*
 * http: the region server's HTTP JSON API, the Nomad-compatible subset of
 * /v1 (docs/http-api.md lists every endpoint), on libevent's evhttp.
 *
 * How it works. Every request, whether it arrived on the socket or was
 * forwarded by a follower (http_handle_forwarded), becomes one request
 * context that goes through the same steps: route (404 for an unknown
 * path, 405 with Allow for a method the path does not take), parse the
 * query (index, wait, stale, prefix, region, pretty: 400 on a bad value),
 * then:
 *
 *   - writes (register, stop, purge, eligibility) and reads without
 *     ?stale are answered by the leader: a follower hands the request to
 *     backend->forward and relays the leader's answer; with no leader the
 *     client gets 503 at once;
 *   - reads run against a state snapshot: O(1) to take, never blocked by
 *     the FSM. With ?index=N the read is a blocking query: while the
 *     index of what it read is <= N it registers a state watch on the
 *     tables it reads and waits for it or for the deadline (wait, default
 *     5 min, at most 10 min, plus up to wait/16 of jitter, as Nomad), then
 *     runs again; a return does not promise a change (Nomad's rule);
 *   - writes validate at the border (the job model: every problem with its
 *     field path, 400), build one FSM command (regiond/fsm.h: a job
 *     register carries the job and its evaluation in one Raft entry),
 *     propose it through backend->propose and answer once it is applied
 *     (or failed), with the Raft index. Nothing is written before the
 *     command commits, and a command commits whole or not at all.
 *
 * Every answer carries X-Nomad-KnownLeader and X-Nomad-LastContact; reads
 * and writes carry X-Nomad-Index. Errors are plain text with Nomad's
 * status codes (400, 404, 405, 413, 500, 501, 503).
 *
 * Threads. Everything runs on the thread of the event_base given to
 * http_server_new, except the state watch callback, which runs on the
 * thread that commits into the state store: it only calls event_active()
 * on the request's wake-up event. In the daemon that thread IS the loop
 * thread; when it is another thread, libevent's locking must be on
 * (evthread_use_pthreads() before the event_base is created).
 *
 * What it does not do: ACLs (X-Nomad-Token is ignored), TLS, namespaces
 * other than "default", cross-region forwarding (?region= naming another
 * region is answered "No path to region"), moving allocations off a draining
 * node (the drain is recorded; the drainer comes with the scheduler).
 */
#ifndef CV_HTTP_H
#define CV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "regiond/http_fwd.h"

struct event_base;
struct state_store;
struct fsm_result;
struct http_server;

/* Defaults of http_options. Nomad's HTTP port; a body limit of 16 MiB
 * (Nomad sets none; the job model's own parse limit applies inside it). */
#define HTTP_DEFAULT_PORT     4646
#define HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)
/* Nomad's blocking query limits: default and maximum wait, jitter fraction. */
#define HTTP_DEFAULT_WAIT_MS   (5u * 60u * 1000u)
#define HTTP_MAX_WAIT_MS       (10u * 60u * 1000u)
#define HTTP_WAIT_JITTER_FRACT 16
/* Longest "host:port" the backend reports. */
#define HTTP_ADDR_MAX 64

/* The outcome of a proposal: status 0 with the entry's Raft index and the
 * FSM's result once it is applied on this server; or a negative CV_E*
 * (CV_ENOTLEADER, CV_EIO, CV_ESHUTDOWN...) and res NULL. res is borrowed
 * for the call. The same shape as srv_propose_cb. */
typedef void (*http_propose_cb)(void *arg, int status, uint64_t index,
                                const struct fsm_result *res);

/* The leader's answer to a forwarded request: status 0 and resp (borrowed
 * for the call); or a negative CV_E* when it could not be had
 * (CV_EUNAVAILABLE: no leader or the leader unreachable; CV_ETIMEDOUT) and
 * resp NULL. */
typedef void (*http_fwd_cb)(void *arg, int status, const struct http_fwd_response *resp);

/* How the API reaches the server. Every function is called on the loop
 * thread; `data` is passed back to each. */
struct http_backend
{
    void *data;
    /* The state store reads and watches go to. */
    struct state_store *(*state)(void *data);
    /* True on the leader once it is ready for consistent reads and writes. */
    bool (*is_leader)(void *data);
    /* True when a leader is known (this server or another). */
    bool (*known_leader)(void *data);
    /* Milliseconds since the leader was last heard from; 0 on the leader. */
    uint64_t (*last_contact_ms)(void *data);
    /* Proposes an FSM command (copied before returning). Returns 0, and cb
     * runs exactly once later (never from inside this call); or a negative
     * CV_E* at once (CV_ENOTLEADER on a follower) and cb never runs. */
    int (*propose)(void *data, const void *cmd, size_t len, http_propose_cb cb, void *arg);
    /* Sends req to the leader (req->timeout_ms bounds the wait), which
     * answers it with http_handle_forwarded, and gives its answer to cb.
     * Returns 0, and cb runs exactly once later (never from inside this
     * call); or a negative CV_E* at once (CV_EUNAVAILABLE when no leader
     * is known) and cb never runs. req is borrowed for the call. */
    int (*forward)(void *data, const struct http_fwd_request *req, http_fwd_cb cb, void *arg);
    /* Writes the leader's RPC address ("10.0.0.1:4647") into buf; "" when
     * no leader is known. */
    void (*leader_addr)(void *data, char buf[HTTP_ADDR_MAX]);
    /* Writes the RPC addresses of the region's voters (this server's
     * included) into addrs; returns how many (at most cap). */
    size_t (*peers)(void *data, char (*addrs)[HTTP_ADDR_MAX], size_t cap);
};

struct http_options
{
    const char *bind_addr; /* numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
    uint16_t port;         /* 0: any free port (see http_server_port) */
    size_t max_body;       /* request bodies over this get 413; 0: HTTP_DEFAULT_MAX_BODY */
    /* For ?region=, agent/self and new evaluations; NULL: "global", "dc1". */
    const char *region;
    const char *datacenter;
    const char *node_name; /* agent/self's member name; NULL: "regiond" */
    const char *rpc_addr;  /* this server's RPC address, for agent/self; NULL: "" */
    /* agent/self's "config" object as JSON text (copied; rcfg_to_json's
     * output); NULL: a minimal one from the fields above. Must be a JSON
     * object, else http_server_new fails with CV_EINVAL. */
    const char *agent_config_json;
};

/* Creates the server and starts listening. base and backend are borrowed
 * and must outlive the server; opts is copied (NULL for the defaults).
 * Returns NULL with err filled on failure (CV_EUNAVAILABLE: the address is
 * in use or not available; CV_EINVAL: bad options). */
struct http_server *http_server_new(struct event_base *base, const struct http_backend *backend,
                                    const struct http_options *opts, struct cv_err *err);

/* Stops listening and frees the server. Requests still in progress are
 * dropped (their connections closed); a forwarded request still waiting
 * gets 503 through its callback, inside this call; proposals and forwards
 * still outstanding in the backend keep a small record that their
 * callback frees when it runs, so the backend may outlive the server or
 * fail them later. NULL is ignored. */
void http_server_free(struct http_server *srv);

/* The port the server listens on. */
uint16_t http_server_port(const struct http_server *srv);

/* Runs a request forwarded by a follower as if it had arrived here. cb
 * runs exactly once with status 0 and the answer, possibly from inside
 * this call (a 404, or a read answered at once), and at the latest inside
 * http_server_free. req is borrowed for the call. The request is answered
 * here even when this server is no longer the leader (a write then fails
 * with 503): a forwarded request is never forwarded again, so two servers
 * that each believe the other leads cannot bounce a request between them. */
void http_handle_forwarded(struct http_server *srv, const struct http_fwd_request *req,
                           http_fwd_cb cb, void *arg);

/* Counters, for tests and metrics. */
struct http_stats
{
    uint64_t requests;      /* requests received (socket or forwarded) */
    uint64_t forwarded_out; /* requests this server forwarded to the leader */
    uint64_t forwarded_in;  /* requests forwarded to this server */
    uint64_t proposals;     /* FSM commands proposed */
    uint64_t blocked;       /* blocking queries that had to wait */
    uint64_t waiting;       /* blocking queries waiting now */
};
void http_server_stats(const struct http_server *srv, struct http_stats *out);

#endif
