/*
 * rpc_internal: what the RPC client (rpc_client.c) and server
 * (rpc_server.c) share, implemented in rpc_conn.c: address parsing, socket
 * tuning, reading whole frames out of a bufferevent's input and writing
 * frames into its output. Not part of the public interface.
 */
#ifndef CV_RPC_INTERNAL_H
#define CV_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

#include "common/err.h"
#include "common/rpc.h"
#include "common/rpc_frame.h"

/* Log component of every RPC line. */
#define RPC_LOG "rpc"

/* Keepalive: first probe after this many idle seconds, then every
 * RPC_KEEPALIVE_INTVL_S, the connection declared dead after RPC_KEEPALIVE_CNT
 * unanswered probes (about a minute in all). */
#define RPC_KEEPALIVE_IDLE_S  30
#define RPC_KEEPALIVE_INTVL_S 10
#define RPC_KEEPALIVE_CNT     3

/* Parses "1.2.3.4:80" or "[::1]:80": a numeric host and a port, which may
 * be 0 only when `allow_port0` (listening on an ephemeral port). Returns 0
 * or CV_EINVAL naming the address. */
int rpc_addr_parse(const char *addr, bool allow_port0, struct sockaddr_storage *ss, int *sslen,
                   struct cv_err *err);

/* Writes "1.2.3.4:80" or "[::1]:80" into out[size]. */
void rpc_addr_format(const struct sockaddr *sa, char *out, size_t size);

/* Sets TCP_NODELAY and keepalive on a connected socket; failures are
 * logged at debug level and otherwise ignored (they cost latency, not
 * correctness). */
void rpc_socket_tune(evutil_socket_t fd);

/* Takes the next whole frame out of `input`'s front without draining it.
 * Returns 1 with *f pointing into the (pulled-up) buffer and *frame_len
 * set: the caller uses f, then drains frame_len bytes. Returns 0 when the
 * buffer holds no whole frame yet, or a negative code from
 * rpc_frame_decode. */
int rpc_read_frame(struct evbuffer *input, size_t max_frame, struct rpc_frame *f, size_t *frame_len,
                   struct cv_err *err);

/* Queues frame `f` on `bev`'s output (prefix, then payload). Returns 0 and
 * sets *frame_len, or the refusals of rpc_frame_check, or CV_EIO when
 * libevent could not take the bytes. */
int rpc_write_frame(struct bufferevent *bev, const struct rpc_frame *f, size_t max_frame,
                    size_t *frame_len, struct cv_err *err);

/* Returns the message of the last socket error ("Connection refused"). */
const char *rpc_socket_error(void);

#endif
