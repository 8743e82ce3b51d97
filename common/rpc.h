/*
 * rpc: request/response and one-way messages over TCP, on libevent
 * bufferevents. Raft's transport, leader forwarding and the client RPCs of
 * nodeagent (register, heartbeat, status updates) ride on it.
 *
 * Frames are length-prefixed (rpc_frame.h, docs/rpc.md). A server listens,
 * dispatches each request or message to the handler registered for its
 * method, and lets the handler reply later (after a Raft commit, say). A
 * client pool keeps one multiplexed connection per peer address, opened on
 * first use and reopened by the first call after it failed; responses may
 * come back in any order and are matched by request id.
 *
 * Memory is bounded per connection: a frame over the size limit closes the
 * connection; when a peer does not read, its queued output is capped
 * (calls fail fast, messages are dropped, the server stops reading from a
 * client until its replies drain).
 *
 * Threads: none of this is thread-safe. A pool or a server and everything
 * made from it belong to the thread running its event_base; callbacks run
 * on that thread, from inside event_base_loop().
 *
 * Signals: a write to a connection the peer reset raises SIGPIPE; programs
 * linking this ignore it (signal(SIGPIPE, SIG_IGN) in main).
 *
 * Addresses are "IPv4:port" or "[IPv6]:port" with a numeric host; there is
 * no name resolution here.
 */
#ifndef CV_RPC_H
#define CV_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/rpc_frame.h"

struct event_base;

/* Defaults of the options below. */
#define RPC_DEFAULT_HIGH_WATER         ((size_t)8 * 1024 * 1024)
#define RPC_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define RPC_DEFAULT_MAX_CONNS          1024
/* Longest "host:port" string, brackets included. */
#define RPC_ADDR_MAX 64

/* Counters of a pool or a server; fields that do not apply stay 0. */
struct rpc_stats
{
    uint64_t frames_in;       /* frames decoded */
    uint64_t frames_out;      /* frames queued for sending */
    uint64_t bytes_in;        /* bytes of the frames decoded */
    uint64_t bytes_out;       /* bytes of the frames queued */
    uint64_t conns_opened;    /* connections started (pool) or accepted (server) */
    uint64_t conns_open;      /* connections open now (pool: connecting included) */
    uint64_t conns_failed;    /* connections closed by an error (I/O, protocol, timeout) */
    uint64_t conns_rejected;  /* server: accepted over max_conns and closed at once */
    uint64_t protocol_errors; /* malformed frames received (each closes its connection) */
    uint64_t timeouts;        /* pool: calls that timed out */
    uint64_t late_replies;    /* pool: responses to calls no longer waiting (timed out) */
    uint64_t rejected_slow;   /* pool: calls refused because the peer was slow */
    uint64_t drops;           /* pool: messages dropped (slow peer); server: replies whose
                                 connection was gone, messages to unknown methods */
    uint64_t pauses;          /* server: times a connection's reading was paused */
    uint64_t queued_bytes;    /* bytes waiting in output buffers now */
};

/* ---- client ----------------------------------------------------------------- */

struct rpc_pool;

struct rpc_pool_options
{
    /* Largest frame sent or accepted, whole frame (default 16 MiB). */
    size_t max_frame;
    /* Bytes queued to one peer above which calls fail fast with
     * CV_EUNAVAILABLE and messages are dropped (default 8 MiB). A
     * connection therefore holds at most high_water + max_frame bytes. */
    size_t high_water;
    /* A connection not established after this long fails (default 5 s). */
    int connect_timeout_ms;
};

/* Fills `o` with the defaults. */
void rpc_pool_options_init(struct rpc_pool_options *o);

/* The outcome of a call, as its callback sees it. */
struct rpc_result
{
    /* 0, or a negative CV_E* code: the handler's status, or the pool's own:
     * CV_ETIMEDOUT, CV_EUNAVAILABLE (could not connect, connection lost,
     * closed by the peer), CV_EPARSE (the peer sent a malformed frame),
     * CV_ESHUTDOWN (the pool was freed). */
    int status;
    const char *err_msg; /* "" when status is 0; otherwise says what failed */
    const void *payload; /* the response's payload; NULL when len is 0 */
    size_t len;
};

/* Runs exactly once per accepted call. `res` and what it points to are
 * borrowed for the duration of the callback: copy what you keep. It may
 * call rpc_call/rpc_send, but not rpc_pool_free. */
typedef void (*rpc_done_fn)(const struct rpc_result *res, void *arg);

/* Creates a pool on `base` (borrowed; must outlive the pool). `opts` is
 * copied; NULL means the defaults. Returns 0 or CV_EINVAL for options out of
 * range. */
int rpc_pool_new(struct event_base *base, const struct rpc_pool_options *opts,
                 struct rpc_pool **out, struct cv_err *err);

/* Fails every pending call with CV_ESHUTDOWN (their callbacks run inside
 * this call), drops queued messages, closes every connection and frees the
 * pool. Must not be called from one of the pool's callbacks. NULL is a
 * no-op. */
void rpc_pool_free(struct rpc_pool *pool);

/* Sends a request for `method` with payload[0..len) (borrowed; copied
 * before returning) to `addr`, connecting first when there is no live
 * connection to it.
 *
 * Returns 0 when the call was queued: `cb` then runs exactly once, later,
 * never from inside rpc_call, with the response, or CV_ETIMEDOUT after
 * timeout_ms (0 = no timeout), or a connection failure. Returns a negative
 * code when the call was refused at once, and `cb` never runs: CV_EINVAL
 * (bad address, method or arguments), CV_ETOOBIG (frame over max_frame),
 * CV_EUNAVAILABLE (the peer is slow: more than high_water bytes queued;
 * or the socket could not be created), CV_ESHUTDOWN (pool being freed). */
int rpc_call(struct rpc_pool *pool, const char *addr, const char *method, const void *payload,
             size_t len, int timeout_ms, rpc_done_fn cb, void *arg, struct cv_err *err);

/* Sends a one-way message: no response, no confirmation. Delivery is best
 * effort: a message queued on a connection that then fails is lost, and
 * one is dropped (and counted in stats.drops) when the peer is slow. Raft
 * tolerates both. Returns 0 when queued, or the same refusals as
 * rpc_call. */
int rpc_send(struct rpc_pool *pool, const char *addr, const char *method, const void *payload,
             size_t len, struct cv_err *err);

/* Copies the pool's counters into `out`. */
void rpc_pool_stats(const struct rpc_pool *pool, struct rpc_stats *out);

/* ---- server ----------------------------------------------------------------- */

struct rpc_server;
/* One request or message being handled. */
struct rpc_call;

struct rpc_server_options
{
    /* Largest frame accepted or sent, whole frame (default 16 MiB). */
    size_t max_frame;
    /* Unsent reply bytes on one connection above which the server stops
     * reading from it (default 8 MiB) ... */
    size_t high_water;
    /* ... until they fall to this many (default high_water / 4). */
    size_t low_water;
    /* Connections accepted at once; more are closed on arrival (default
     * 1024). */
    size_t max_conns;
};

/* Fills `o` with the defaults. */
void rpc_server_options_init(struct rpc_server_options *o);

/* Handles one request or message. `payload` is borrowed for the duration
 * of the call: copy what you keep.
 *
 * For a request, the handler owns `call` until it passes it to rpc_reply,
 * exactly once, now or later. For a one-way message
 * (rpc_call_is_message), `call` is borrowed for the duration of the
 * handler; no reply is sent (rpc_reply on it does nothing). */
typedef void (*rpc_handler_fn)(struct rpc_call *call, const void *payload, size_t len, void *arg);

/* Creates a server on `base` (borrowed; must outlive the server). `opts`
 * is copied; NULL means the defaults. Returns 0 or CV_EINVAL. */
int rpc_server_new(struct event_base *base, const struct rpc_server_options *opts,
                   struct rpc_server **out, struct cv_err *err);

/* Listens on `addr` ("127.0.0.1:4647"; port 0 picks a free port, see
 * rpc_server_port). Returns 0, CV_EINVAL (bad address, already listening),
 * CV_EUNAVAILABLE ("address 127.0.0.1:4647 already in use", or not
 * available on this machine) or CV_EIO (any other socket error). */
int rpc_server_listen(struct rpc_server *server, const char *addr, struct cv_err *err);

/* The port the server is bound to (0 before rpc_server_listen). */
uint16_t rpc_server_port(const struct rpc_server *server);

/* Routes `method` to `fn` with `arg` (borrowed). Returns 0, CV_EINVAL (bad
 * method name) or CV_EEXIST (a handler is already registered for it). */
int rpc_server_handle(struct rpc_server *server, const char *method, rpc_handler_fn fn, void *arg,
                      struct cv_err *err);

/* Stops listening, closes every connection and frees the server. Calls the
 * handlers still hold stay valid: their rpc_reply drops the reply and
 * frees them. Must not be called from a handler. NULL is a no-op. */
void rpc_server_free(struct rpc_server *server);

/* Copies the server's counters into `out`. */
void rpc_server_stats(const struct rpc_server *server, struct rpc_stats *out);

/* Answers a request and releases `call`, which must not be used again.
 * `status` is 0 or a negative CV_E* code; `err_msg` (NULL for none, cut to
 * RPC_ERR_MSG_MAX bytes) says what failed; payload[0..len) is borrowed and
 * copied. A reply too big for a frame is replaced by a CV_ETOOBIG error.
 *
 * Returns 0 when the reply was queued; CV_EUNAVAILABLE when the connection
 * is gone (the reply is dropped; the client has already been told);
 * CV_ETOOBIG when the reply was replaced by an error. Safe to call after
 * the connection or the server was closed. On a one-way message's call it
 * does nothing and returns 0. */
int rpc_reply(struct rpc_call *call, int status, const char *err_msg, const void *payload,
              size_t len);

/* The method called (NUL-terminated; borrowed from the call). */
const char *rpc_call_method(const struct rpc_call *call);
/* True for a one-way message (no reply expected). */
bool rpc_call_is_message(const struct rpc_call *call);
/* The peer's address, "127.0.0.1:53412" (borrowed from the call). */
const char *rpc_call_peer(const struct rpc_call *call);

#endif
