/*
 * http_fwd: encoding and decoding of forwarded HTTP requests and their
 * answers (see http_fwd.h for the format).
 *
 * Decoding is two passes over the input: the first checks every length and
 * adds up the bytes the strings need, the second copies them into one
 * allocation after the struct, so a decoded message is freed with one call
 * and a truncated input never allocates more than its own size.
 */
#include "regiond/http_fwd.h"

#include <string.h>
#include <strings.h>

#include "common/mem.h"

#define KIND_REQUEST  1
#define KIND_RESPONSE 2

/* ---- writing ------------------------------------------------------------------- */

static void put_u8(struct cv_buf *b, unsigned v)
{
    cv_buf_append_char(b, (char)(unsigned char)v);
}

static void put_u16(struct cv_buf *b, unsigned v)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    cv_buf_append(b, p, sizeof p);
}

static void put_u32(struct cv_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    cv_buf_append(b, p, sizeof p);
}

static void put_bytes16(struct cv_buf *b, const char *s, size_t len)
{
    put_u16(b, (unsigned)len);
    cv_buf_append(b, s, len);
}

static void put_bytes32(struct cv_buf *b, const void *s, size_t len)
{
    put_u32(b, (uint32_t)len);
    if (len) {
        cv_buf_append(b, s, len);
    }
}

int http_fwd_encode_request(const struct http_fwd_request *req, size_t max_body, struct cv_buf *out,
                            struct cv_err *err)
{
    cv_buf_reset(out);
    size_t mlen = req->method ? strlen(req->method) : 0;
    size_t ulen = req->uri ? strlen(req->uri) : 0;
    if (mlen == 0 || mlen > HTTP_FWD_MAX_METHOD) {
        return cv_err_setf(err, CV_EINVAL, "forwarded request: method of %zu bytes", mlen);
    }
    if (ulen == 0 || ulen > HTTP_FWD_MAX_URI) {
        return cv_err_setf(err, CV_EINVAL, "forwarded request: uri of %zu bytes", ulen);
    }
    if (req->body_len > max_body || req->body_len > UINT32_MAX) {
        return cv_err_setf(err, CV_EINVAL, "forwarded request: body of %zu bytes is over %zu",
                           req->body_len, max_body);
    }
    put_u8(out, HTTP_FWD_VERSION);
    put_u8(out, KIND_REQUEST);
    put_u32(out, req->timeout_ms);
    put_bytes16(out, req->method, mlen);
    put_bytes32(out, req->uri, ulen);
    put_bytes32(out, req->body, req->body_len);
    return 0;
}

int http_fwd_encode_response(const struct http_fwd_response *resp, struct cv_buf *out,
                             struct cv_err *err)
{
    cv_buf_reset(out);
    if (resp->status < 100 || resp->status > 599) {
        return cv_err_setf(err, CV_EINVAL, "forwarded response: status %d", resp->status);
    }
    if (resp->n_headers > HTTP_FWD_MAX_HEADERS) {
        return cv_err_setf(err, CV_EINVAL, "forwarded response: %zu headers", resp->n_headers);
    }
    if (resp->body_len > UINT32_MAX) {
        return cv_err_setf(err, CV_EINVAL, "forwarded response: body of %zu bytes", resp->body_len);
    }
    for (size_t i = 0; i < resp->n_headers; i++) {
        size_t n = strlen(resp->headers[i].name), v = strlen(resp->headers[i].value);
        if (n == 0 || n > HTTP_FWD_MAX_HEADER_LEN || v > HTTP_FWD_MAX_HEADER_LEN) {
            return cv_err_setf(err, CV_EINVAL, "forwarded response: header %zu is too long", i);
        }
    }
    put_u8(out, HTTP_FWD_VERSION);
    put_u8(out, KIND_RESPONSE);
    put_u16(out, (unsigned)resp->status);
    put_u8(out, (unsigned)resp->n_headers);
    for (size_t i = 0; i < resp->n_headers; i++) {
        put_bytes16(out, resp->headers[i].name, strlen(resp->headers[i].name));
        put_bytes16(out, resp->headers[i].value, strlen(resp->headers[i].value));
    }
    put_bytes32(out, resp->body, resp->body_len);
    return 0;
}

/* ---- reading ------------------------------------------------------------------- */

struct reader
{
    const unsigned char *p;
    size_t left;
    bool bad;
};

static unsigned long get_n(struct reader *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return 0;
    }
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | r->p[i];
    }
    r->p += n;
    r->left -= n;
    return v;
}

/* Takes len bytes; NULL (and the reader marked bad) when fewer are left. */
static const unsigned char *get_bytes(struct reader *r, size_t len)
{
    if (r->bad || r->left < len) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += len;
    r->left -= len;
    return at;
}

struct span
{
    const unsigned char *p;
    size_t len;
};

static struct span get_span(struct reader *r, size_t len_bytes)
{
    struct span s;
    s.len = get_n(r, len_bytes);
    s.p = get_bytes(r, s.len);
    if (!s.p) {
        s.len = 0;
    }
    return s;
}

static bool has_nul(struct span s)
{
    return s.len && memchr(s.p, '\0', s.len) != NULL;
}

/* Copies a span into the arena as a NUL-terminated string. */
static char *arena_put(char **arena, struct span s)
{
    char *at = *arena;
    if (s.len) {
        memcpy(at, s.p, s.len);
    }
    at[s.len] = '\0';
    *arena += s.len + 1;
    return at;
}

static int check_header(struct reader *r, unsigned kind, struct cv_err *err)
{
    unsigned version = (unsigned)get_n(r, 1);
    unsigned got = (unsigned)get_n(r, 1);
    if (r->bad) {
        return cv_err_setf(err, CV_EPARSE, "forwarded message is truncated");
    }
    if (version != HTTP_FWD_VERSION) {
        return cv_err_setf(err, CV_EPARSE, "forwarded message of version %u, not %u", version,
                           HTTP_FWD_VERSION);
    }
    if (got != kind) {
        return cv_err_setf(err, CV_EPARSE, "forwarded message of kind %u, not %u", got, kind);
    }
    return 0;
}

int http_fwd_decode_request(const void *data, size_t len, size_t max_body,
                            struct http_fwd_decoded_request **out, struct cv_err *err)
{
    *out = NULL;
    struct reader r = {data, len, false};
    int rc = check_header(&r, KIND_REQUEST, err);
    if (rc) {
        return rc;
    }
    uint32_t timeout_ms = (uint32_t)get_n(&r, 4);
    struct span method = get_span(&r, 2);
    struct span uri = get_span(&r, 4);
    size_t body_len = get_n(&r, 4);
    if (!r.bad && body_len > max_body) {
        return cv_err_setf(err, CV_ETOOBIG, "forwarded request body of %zu bytes is over %zu",
                           body_len, max_body);
    }
    const unsigned char *body = get_bytes(&r, body_len);
    if (r.bad) {
        return cv_err_setf(err, CV_EPARSE, "forwarded request is truncated");
    }
    if (r.left) {
        return cv_err_setf(err, CV_EPARSE, "forwarded request has %zu bytes after its end", r.left);
    }
    if (method.len == 0 || method.len > HTTP_FWD_MAX_METHOD || has_nul(method)) {
        return cv_err_setf(err, CV_EPARSE, "forwarded request has a bad method");
    }
    if (uri.len == 0 || uri.len > HTTP_FWD_MAX_URI || has_nul(uri)) {
        return cv_err_setf(err, CV_EPARSE, "forwarded request has a bad uri");
    }
    struct http_fwd_decoded_request *d =
        cv_malloc(sizeof *d + method.len + 1 + uri.len + 1 + body_len + 1);
    char *arena = (char *)(d + 1);
    d->req.method = arena_put(&arena, method);
    d->req.uri = arena_put(&arena, uri);
    d->req.body = body_len ? arena_put(&arena, (struct span){body, body_len}) : NULL;
    d->req.body_len = body_len;
    d->req.timeout_ms = timeout_ms;
    *out = d;
    return 0;
}

int http_fwd_decode_response(const void *data, size_t len, size_t max_body,
                             struct http_fwd_decoded_response **out, struct cv_err *err)
{
    *out = NULL;
    struct reader r = {data, len, false};
    int rc = check_header(&r, KIND_RESPONSE, err);
    if (rc) {
        return rc;
    }
    int status = (int)get_n(&r, 2);
    size_t n = get_n(&r, 1);
    if (!r.bad && n > HTTP_FWD_MAX_HEADERS) {
        return cv_err_setf(err, CV_EPARSE, "forwarded response has %zu headers", n);
    }
    struct span names[HTTP_FWD_MAX_HEADERS], values[HTTP_FWD_MAX_HEADERS];
    size_t need = 0;
    for (size_t i = 0; i < n && !r.bad; i++) {
        names[i] = get_span(&r, 2);
        values[i] = get_span(&r, 2);
        if (!r.bad &&
            (names[i].len == 0 || names[i].len > HTTP_FWD_MAX_HEADER_LEN ||
             values[i].len > HTTP_FWD_MAX_HEADER_LEN || has_nul(names[i]) || has_nul(values[i]))) {
            return cv_err_setf(err, CV_EPARSE, "forwarded response has a bad header %zu", i);
        }
        need += names[i].len + values[i].len + 2;
    }
    size_t body_len = get_n(&r, 4);
    if (!r.bad && body_len > max_body) {
        return cv_err_setf(err, CV_ETOOBIG, "forwarded response body of %zu bytes is over %zu",
                           body_len, max_body);
    }
    const unsigned char *body = get_bytes(&r, body_len);
    if (r.bad) {
        return cv_err_setf(err, CV_EPARSE, "forwarded response is truncated");
    }
    if (r.left) {
        return cv_err_setf(err, CV_EPARSE, "forwarded response has %zu bytes after its end",
                           r.left);
    }
    if (status < 100 || status > 599) {
        return cv_err_setf(err, CV_EPARSE, "forwarded response has status %d", status);
    }
    struct http_fwd_decoded_response *d = cv_malloc(sizeof *d + need + body_len + 1);
    memset(&d->resp, 0, sizeof d->resp);
    char *arena = (char *)(d + 1);
    d->resp.status = status;
    d->resp.n_headers = n;
    for (size_t i = 0; i < n; i++) {
        d->resp.headers[i].name = arena_put(&arena, names[i]);
        d->resp.headers[i].value = arena_put(&arena, values[i]);
    }
    d->resp.body = body_len ? arena_put(&arena, (struct span){body, body_len}) : NULL;
    d->resp.body_len = body_len;
    *out = d;
    return 0;
}

void http_fwd_decoded_free(void *decoded)
{
    cv_free(decoded);
}

const char *http_fwd_header_get(const struct http_fwd_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            return resp->headers[i].value;
        }
    }
    return NULL;
}
