/*
 * http_fwd: an HTTP request a follower hands to the leader, and the answer
 * that comes back, as bytes that can ride on the RPC layer (method
 * HTTP_FWD_METHOD, common/rpc.h).
 *
 * A follower that must not answer a request itself (a write, or a read
 * without ?stale) encodes it with http_fwd_encode_request and sends it to
 * the leader; the leader decodes it, runs it through http_handle_forwarded
 * (the same code path as a request of its own), encodes the answer with
 * http_fwd_encode_response and replies; the follower decodes that and
 * relays status, headers and body to its client unchanged.
 *
 * Format (all integers big-endian), version 1:
 *
 *   request:  u8 version=1, u8 kind=1, u32 timeout_ms,
 *             u16 len + method, u32 len + uri, u32 len + body
 *   response: u8 version=1, u8 kind=2, u16 status, u8 header count,
 *             count x (u16 len + name, u16 len + value), u32 len + body
 *
 * A binary format rather than JSON because a body is whatever bytes a
 * client sent (not necessarily UTF-8) and is relayed as is. Decoders treat
 * their input as hostile: every length is checked against what is left and
 * against the limits below, trailing bytes are an error, nothing is read
 * past the end.
 */
#ifndef CV_HTTP_FWD_H
#define CV_HTTP_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* The RPC method the daemon registers on the leader for forwarded requests. */
#define HTTP_FWD_METHOD "http.forward"

#define HTTP_FWD_VERSION        1
#define HTTP_FWD_MAX_METHOD     16
#define HTTP_FWD_MAX_URI        ((size_t)64 * 1024)
#define HTTP_FWD_MAX_HEADERS    16
#define HTTP_FWD_MAX_HEADER_LEN 1024

/* A request as the leader needs it. Every pointer is borrowed. */
struct http_fwd_request
{
    const char *method; /* "GET", "PUT", "POST", "DELETE" ... */
    const char *uri;    /* path and query as the client sent them: "/v1/job/web?index=7" */
    const void *body;   /* NULL when body_len is 0 */
    size_t body_len;
    /* How long the leader may take to answer (a blocking query's wait plus
     * its jitter and a margin): the forwarder's RPC timeout. */
    uint32_t timeout_ms;
};

struct http_fwd_header
{
    const char *name;
    const char *value;
};

/* An answer. Every pointer is borrowed. */
struct http_fwd_response
{
    int status; /* HTTP status, 100..599 */
    /* Content-Type, Allow and the X-Nomad-* headers the client must see. */
    struct http_fwd_header headers[HTTP_FWD_MAX_HEADERS];
    size_t n_headers;
    const void *body; /* NULL when body_len is 0 */
    size_t body_len;
};

/* Replaces out's contents with the encoded request. CV_EINVAL when a field
 * is over its limit (method, uri) or body_len is over max_body. */
int http_fwd_encode_request(const struct http_fwd_request *req, size_t max_body, struct cv_buf *out,
                            struct cv_err *err);
/* Replaces out's contents with the encoded response. CV_EINVAL when a
 * header or the status is out of range. */
int http_fwd_encode_response(const struct http_fwd_response *resp, struct cv_buf *out,
                             struct cv_err *err);

/* A decoded message: one allocation holding the struct, its strings
 * (NUL-terminated) and its body. Free with http_fwd_decoded_free. */
struct http_fwd_decoded_request
{
    struct http_fwd_request req;
};
struct http_fwd_decoded_response
{
    struct http_fwd_response resp;
};

/* Decodes data[0..len) (borrowed). Returns 0 and *out, or CV_EPARSE naming
 * what is wrong (CV_ETOOBIG when the body is over max_body). */
int http_fwd_decode_request(const void *data, size_t len, size_t max_body,
                            struct http_fwd_decoded_request **out, struct cv_err *err);
int http_fwd_decode_response(const void *data, size_t len, size_t max_body,
                             struct http_fwd_decoded_response **out, struct cv_err *err);
/* Frees a decoded request or response; NULL is ignored. */
void http_fwd_decoded_free(void *decoded);

/* The value of a response header (name compared without case), or NULL. */
const char *http_fwd_header_get(const struct http_fwd_response *resp, const char *name);

#endif
