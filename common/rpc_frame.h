/*
 * rpc_frame: the wire format of Caravan's RPC, one frame at a time.
 *
 * Pure encoding and decoding over byte buffers: no sockets, no libevent, no
 * allocation on the decode path, so it can be unit-tested and fuzzed on its
 * own. The connection layer (rpc.h) feeds it what the socket delivered.
 *
 * A frame is a 20-byte fixed header, then the method name, the error
 * message and the payload, all integers big-endian (docs/rpc.md):
 *
 *   offset size  field
 *        0    4  length of the rest of the frame (frame size - 4)
 *        4    1  magic 0xCA
 *        5    1  version 1
 *        6    1  kind: 1 request, 2 response, 3 one-way message
 *        7    1  method length M
 *        8    8  request id
 *       16    2  status: 0, or the value of a CV_E* code (CV_ENOTFOUND -> 5)
 *       18    2  error message length E
 *       20    M  method name (requests and messages only)
 *     20+M    E  error message (responses with a non-zero status only)
 *   20+M+E    -  payload, opaque, up to the end of the frame
 *
 * The decoder checks everything it can from the fixed header alone, before
 * the body has arrived, so a reader never buffers more than the frame
 * limit for a frame it will refuse.
 */
#ifndef CV_RPC_FRAME_H
#define CV_RPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define RPC_FRAME_MAGIC       0xCA
#define RPC_FRAME_VERSION     1
#define RPC_FRAME_HEADER_SIZE 20
/* Longest method name ("Raft.AppendEntries"); bytes 0x21..0x7e only. */
#define RPC_METHOD_MAX 128
/* Longest error message a response carries; longer ones are cut. */
#define RPC_ERR_MSG_MAX 1024
/* Longest part of a frame before its payload. */
#define RPC_FRAME_PREFIX_MAX (RPC_FRAME_HEADER_SIZE + RPC_METHOD_MAX + RPC_ERR_MSG_MAX)
/* Default and bounds of the per-frame size limit (whole frame, prefix
 * included). */
#define RPC_DEFAULT_MAX_FRAME ((size_t)16 * 1024 * 1024)
#define RPC_MIN_MAX_FRAME     ((size_t)4096)
#define RPC_MAX_MAX_FRAME     ((size_t)1024 * 1024 * 1024)

enum rpc_frame_kind
{
    RPC_FRAME_REQUEST = 1,  /* expects one response with the same id */
    RPC_FRAME_RESPONSE = 2, /* answers a request; id 0 = the connection is being closed */
    RPC_FRAME_MESSAGE = 3,  /* one-way: no response, id 0 */
};

/* One decoded (or to-be-encoded) frame. Strings are not NUL-terminated. */
struct rpc_frame
{
    enum rpc_frame_kind kind;
    uint64_t id;         /* requests: not 0; responses: the request's id; messages: 0 */
    const char *method;  /* requests and messages: 1..RPC_METHOD_MAX bytes */
    size_t method_len;   /* responses: 0 */
    int status;          /* responses: 0 or a negative CV_E* code; others: 0 */
    const char *err_msg; /* only with a non-zero status; no NUL bytes */
    size_t err_msg_len;  /* 0..RPC_ERR_MSG_MAX */
    const void *payload; /* opaque bytes; may be NULL when payload_len is 0 */
    size_t payload_len;
};

/* Checks that `f` is a frame the decoder would accept and sets *frame_len to
 * its encoded size. Returns 0, CV_EINVAL (with what is wrong) or CV_ETOOBIG
 * when the frame would exceed `max_frame` bytes. */
int rpc_frame_check(const struct rpc_frame *f, size_t max_frame, size_t *frame_len,
                    struct cv_err *err);

/* Writes everything of `f` that precedes the payload into `out` and sets
 * *prefix_len to its length and *frame_len to the whole frame's; the caller
 * sends the payload right after. Same checks and returns as
 * rpc_frame_check. Lets a sender avoid copying a large payload twice. */
int rpc_frame_encode_prefix(const struct rpc_frame *f, size_t max_frame,
                            uint8_t out[RPC_FRAME_PREFIX_MAX], size_t *prefix_len,
                            size_t *frame_len, struct cv_err *err);

/* Appends the whole encoded frame to `out`. Same checks and returns as
 * rpc_frame_check; `out` is unchanged on failure. */
int rpc_frame_encode(const struct rpc_frame *f, size_t max_frame, struct cv_buf *out,
                     struct cv_err *err);

/* Decodes the frame at the start of data[0..len).
 *
 * Returns 0 and sets *frame_len to the number of bytes the frame occupies
 * (or, when the header is incomplete, to RPC_FRAME_HEADER_SIZE). When
 * *frame_len <= len the frame is complete and `out` is filled with
 * pointers into `data` (borrowed: valid while data is); otherwise more
 * bytes are needed and `out` is untouched.
 *
 * Returns CV_EPARSE (bad magic, unsupported version, unknown kind, bad
 * lengths, a field not allowed for the kind) or CV_ETOOBIG (frame over
 * `max_frame`), with a message naming the problem. Whatever is wrong in the
 * fixed header is reported as soon as the header is there. */
int rpc_frame_decode(const void *data, size_t len, size_t max_frame, struct rpc_frame *out,
                     size_t *frame_len, struct cv_err *err);

/* Returns "request", "response", "message" or "unknown". */
const char *rpc_frame_kind_name(int kind);

#endif
