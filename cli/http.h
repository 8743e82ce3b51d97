/*
 * http: the caravan command's blocking HTTP/1.1 client.
 *
 * One request at a time over libevent's evhttp client on an event_base of
 * its own: the request is made, the loop runs until the answer or the
 * timeout, and the answer is handed back. Each request has a connection of
 * its own (a monitor makes a few dozen at most, on loopback or a LAN, so
 * keeping one alive is not worth its states). No TLS, no redirects, no
 * retries: a
 * failure to connect is reported at once, in words an operator can act on
 * ("connection refused to 127.0.0.1:4646").
 */
#ifndef CV_CLI_HTTP_H
#define CV_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "common/err.h"

struct cli_http_resp
{
    int status;     /* the HTTP status */
    uint64_t index; /* X-Nomad-Index, 0 when absent */
    char *body;     /* NUL-terminated, owned; free with cli_http_resp_free */
    size_t len;
};

/* Sends `method` `path` (with its query; "?region=" is added from ctx) to
 * ctx's server, with the token header and `body` (may be NULL) as JSON,
 * and waits up to timeout_ms for the whole answer. Returns 0 when an
 * answer came, whatever its status; CV_EUNAVAILABLE when the server could
 * not be reached or closed the connection, CV_ETIMEDOUT on the timeout,
 * each with err saying what happened. */
int cli_http_request(const struct cli_ctx *ctx, const char *method, const char *path,
                     const char *body, int timeout_ms, struct cli_http_resp *out,
                     struct cv_err *err);
void cli_http_resp_free(struct cli_http_resp *r);

/* Receives a streamed answer's bytes (borrowed for the call). */
typedef void (*cli_http_sink)(const void *data, size_t len, void *arg);

/* A GET whose 2xx answer goes to `sink` as it arrives (a followed log)
 * instead of out->body; a non-2xx answer's body is kept in out->body as
 * cli_http_request does. timeout_ms bounds the silence between reads. */
int cli_http_stream(const struct cli_ctx *ctx, const char *path, int timeout_ms, cli_http_sink sink,
                    void *arg, struct cli_http_resp *out, struct cv_err *err);

/* Percent-escapes `s` for a path segment or query value into a new
 * string (cv_free). */
char *cli_http_escape(const char *s);

#endif
