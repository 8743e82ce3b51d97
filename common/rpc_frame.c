/*
 * rpc_frame: encoding and decoding of one RPC frame (layout in rpc_frame.h
 * and docs/rpc.md).
 *
 * The encoder and the decoder apply one set of rules, in two steps: the
 * fixed-header rules (kind, lengths, id and status allowed for the kind,
 * size against the limit) need only the first 20 bytes; the body rules
 * (method characters, no NUL in the error message) need the whole frame.
 * Sharing them is what makes "everything the encoder writes, the decoder
 * reads back identically" hold, which the fuzz target checks.
 */
#include "common/rpc_frame.h"

#include <string.h>

#define STATUS_MAX 0xFFFF /* the wire holds the code's value in 16 bits */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

const char *rpc_frame_kind_name(int kind)
{
    switch (kind) {
    case RPC_FRAME_REQUEST:
        return "request";
    case RPC_FRAME_RESPONSE:
        return "response";
    case RPC_FRAME_MESSAGE:
        return "message";
    default:
        return "unknown";
    }
}

/* The rules that need only the fixed header. `code` is the error to report
 * a broken rule with: CV_EINVAL for the encoder, CV_EPARSE for the decoder.
 * `total` is the whole frame's size. */
static int check_header(int code, int kind, uint64_t id, size_t method_len, int status,
                        size_t err_msg_len, uint64_t total, size_t max_frame, struct cv_err *err)
{
    if (kind != RPC_FRAME_REQUEST && kind != RPC_FRAME_RESPONSE && kind != RPC_FRAME_MESSAGE) {
        return cv_err_setf(err, code, "unknown frame kind %d", kind);
    }
    const char *name = rpc_frame_kind_name(kind);
    if (total > max_frame) {
        return cv_err_setf(err, CV_ETOOBIG, "%s frame of %llu bytes is over the limit of %zu bytes",
                           name, (unsigned long long)total, max_frame);
    }
    if (kind == RPC_FRAME_RESPONSE) {
        if (method_len != 0) {
            return cv_err_setf(err, code, "response carries a method name");
        }
    } else {
        if (method_len == 0) {
            return cv_err_setf(err, code, "%s without a method name", name);
        }
        if (method_len > RPC_METHOD_MAX) {
            return cv_err_setf(err, code, "method name of %zu bytes is over the limit of %d",
                               method_len, RPC_METHOD_MAX);
        }
        if (status != 0 || err_msg_len != 0) {
            return cv_err_setf(err, code, "%s carries a status", name);
        }
    }
    if (kind == RPC_FRAME_REQUEST && id == 0) {
        return cv_err_setf(err, code, "request with id 0");
    }
    if (kind == RPC_FRAME_RESPONSE && id == 0 && status == 0) {
        /* id 0 is the "connection closing" notice, which always says why */
        return cv_err_setf(err, code, "response with id 0 and no error status");
    }
    if (kind == RPC_FRAME_MESSAGE && id != 0) {
        return cv_err_setf(err, code, "message with a request id");
    }
    if (status > 0 || status < -STATUS_MAX) {
        return cv_err_setf(err, code, "status %d is not 0 or a CV_E* code", status);
    }
    if (err_msg_len > RPC_ERR_MSG_MAX) {
        return cv_err_setf(err, code, "error message of %zu bytes is over the limit of %d",
                           err_msg_len, RPC_ERR_MSG_MAX);
    }
    if (status == 0 && err_msg_len != 0) {
        return cv_err_setf(err, code, "error message without an error status");
    }
    if (total < (uint64_t)RPC_FRAME_HEADER_SIZE + method_len + err_msg_len) {
        return cv_err_setf(err, code,
                           "method (%zu bytes) and error message (%zu bytes) run past the end of "
                           "a %llu-byte frame",
                           method_len, err_msg_len, (unsigned long long)total);
    }
    return 0;
}

/* The rules on the variable-length fields' contents. */
static int check_body(int code, const char *method, size_t method_len, const char *err_msg,
                      size_t err_msg_len, struct cv_err *err)
{
    for (size_t i = 0; i < method_len; i++) {
        unsigned char c = (unsigned char)method[i];
        if (c < 0x21 || c > 0x7e) {
            return cv_err_setf(err, code, "method name has byte 0x%02x at offset %zu", c, i);
        }
    }
    if (err_msg_len && memchr(err_msg, '\0', err_msg_len)) {
        return cv_err_setf(err, code, "error message contains a NUL byte");
    }
    return 0;
}

int rpc_frame_check(const struct rpc_frame *f, size_t max_frame, size_t *frame_len,
                    struct cv_err *err)
{
    if ((f->method_len && !f->method) || (f->err_msg_len && !f->err_msg) ||
        (f->payload_len && !f->payload)) {
        return cv_err_setf(err, CV_EINVAL, "frame field with a length but no data");
    }
    /* Sizes beyond any limit are refused before the sum could overflow. */
    if (f->payload_len > RPC_MAX_MAX_FRAME || f->method_len > RPC_MAX_MAX_FRAME ||
        f->err_msg_len > RPC_MAX_MAX_FRAME) {
        return cv_err_setf(err, CV_ETOOBIG, "%s frame is over the limit of %zu bytes",
                           rpc_frame_kind_name((int)f->kind), max_frame);
    }
    uint64_t total =
        (uint64_t)RPC_FRAME_HEADER_SIZE + f->method_len + f->err_msg_len + f->payload_len;
    if (max_frame > RPC_MAX_MAX_FRAME) {
        max_frame = RPC_MAX_MAX_FRAME; /* the length field must fit in 32 bits */
    }
    int rc = check_header(CV_EINVAL, (int)f->kind, f->id, f->method_len, f->status, f->err_msg_len,
                          total, max_frame, err);
    if (rc == 0) {
        rc = check_body(CV_EINVAL, f->method, f->method_len, f->err_msg, f->err_msg_len, err);
    }
    if (rc == 0 && frame_len) {
        *frame_len = (size_t)total;
    }
    return rc;
}

int rpc_frame_encode_prefix(const struct rpc_frame *f, size_t max_frame,
                            uint8_t out[RPC_FRAME_PREFIX_MAX], size_t *prefix_len,
                            size_t *frame_len, struct cv_err *err)
{
    size_t total = 0;
    int rc = rpc_frame_check(f, max_frame, &total, err);
    if (rc != 0) {
        return rc;
    }
    put_u32(out, (uint32_t)(total - 4));
    out[4] = RPC_FRAME_MAGIC;
    out[5] = RPC_FRAME_VERSION;
    out[6] = (uint8_t)f->kind;
    out[7] = (uint8_t)f->method_len;
    put_u64(out + 8, f->id);
    put_u16(out + 16, (uint16_t)-f->status);
    put_u16(out + 18, (uint16_t)f->err_msg_len);
    size_t n = RPC_FRAME_HEADER_SIZE;
    if (f->method_len) {
        memcpy(out + n, f->method, f->method_len);
        n += f->method_len;
    }
    if (f->err_msg_len) {
        memcpy(out + n, f->err_msg, f->err_msg_len);
        n += f->err_msg_len;
    }
    *prefix_len = n;
    if (frame_len) {
        *frame_len = total;
    }
    return 0;
}

int rpc_frame_encode(const struct rpc_frame *f, size_t max_frame, struct cv_buf *out,
                     struct cv_err *err)
{
    uint8_t prefix[RPC_FRAME_PREFIX_MAX];
    size_t prefix_len;
    int rc = rpc_frame_encode_prefix(f, max_frame, prefix, &prefix_len, NULL, err);
    if (rc != 0) {
        return rc;
    }
    cv_buf_reserve(out, prefix_len + f->payload_len);
    cv_buf_append(out, prefix, prefix_len);
    cv_buf_append(out, f->payload, f->payload_len);
    return 0;
}

int rpc_frame_decode(const void *data, size_t len, size_t max_frame, struct rpc_frame *out,
                     size_t *frame_len, struct cv_err *err)
{
    const uint8_t *p = data;
    if (len < RPC_FRAME_HEADER_SIZE) {
        /* Garbage is named as early as the bytes allow, so that a reader
         * waiting for a header that will never come is not the only sign. */
        if (len > 4 && p[4] != RPC_FRAME_MAGIC) {
            return cv_err_setf(err, CV_EPARSE,
                               "bad magic byte 0x%02x (expected 0x%02x): not a Caravan RPC stream",
                               p[4], RPC_FRAME_MAGIC);
        }
        *frame_len = RPC_FRAME_HEADER_SIZE;
        return 0;
    }
    if (p[4] != RPC_FRAME_MAGIC) {
        return cv_err_setf(err, CV_EPARSE,
                           "bad magic byte 0x%02x (expected 0x%02x): not a Caravan RPC stream",
                           p[4], RPC_FRAME_MAGIC);
    }
    if (p[5] != RPC_FRAME_VERSION) {
        return cv_err_setf(err, CV_EPARSE, "unsupported protocol version %u (this build speaks %d)",
                           p[5], RPC_FRAME_VERSION);
    }
    uint64_t total = (uint64_t)get_u32(p) + 4;
    int kind = p[6];
    size_t method_len = p[7];
    uint64_t id = get_u64(p + 8);
    int status = -(int)get_u16(p + 16);
    size_t err_msg_len = get_u16(p + 18);
    if (total < RPC_FRAME_HEADER_SIZE) {
        return cv_err_setf(err, CV_EPARSE, "frame length %llu is shorter than the %d-byte header",
                           (unsigned long long)total, RPC_FRAME_HEADER_SIZE);
    }
    int rc =
        check_header(CV_EPARSE, kind, id, method_len, status, err_msg_len, total, max_frame, err);
    if (rc != 0) {
        return rc;
    }
    *frame_len = (size_t)total; /* <= max_frame, so it fits */
    if (len < total) {
        return 0;
    }
    const char *method = (const char *)p + RPC_FRAME_HEADER_SIZE;
    const char *err_msg = method + method_len;
    rc = check_body(CV_EPARSE, method, method_len, err_msg, err_msg_len, err);
    if (rc != 0) {
        return rc;
    }
    size_t prefix = RPC_FRAME_HEADER_SIZE + method_len + err_msg_len;
    out->kind = (enum rpc_frame_kind)kind;
    out->id = id;
    out->method = method;
    out->method_len = method_len;
    out->status = status;
    out->err_msg = err_msg;
    out->err_msg_len = err_msg_len;
    out->payload = p + prefix;
    out->payload_len = (size_t)total - prefix;
    return 0;
}
