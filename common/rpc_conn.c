/*
 * rpc_conn: the pieces of a connection the RPC client and server share
 * (rpc_internal.h): addresses, socket options, and moving whole frames
 * between a bufferevent and the frame codec.
 *
 * Reading: the fixed header is copied out first and checked on its own, so
 * a malformed or oversized frame is refused after 20 bytes, whatever the
 * length field claims. Only a frame that passed is made contiguous
 * (evbuffer_pullup) and decoded in full; its size is already known to be
 * within the limit, which bounds the copy.
 */
#include "common/rpc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"

int rpc_addr_parse(const char *addr, bool allow_port0, struct sockaddr_storage *ss, int *sslen,
                   struct cv_err *err)
{
    if (!addr || !*addr) {
        return cv_err_setf(err, CV_EINVAL, "empty address: expected host:port");
    }
    size_t len = strlen(addr);
    if (len >= RPC_ADDR_MAX) {
        return cv_err_setf(err, CV_EINVAL, "address \"%.*s...\" is too long", 32, addr);
    }
    /* "[v6]:port" or "v4:port": the host ends where the port's colon is. */
    const char *colon = strrchr(addr, ':');
    char host[RPC_ADDR_MAX];
    const char *h = addr;
    size_t hlen = colon ? (size_t)(colon - addr) : 0;
    if (addr[0] == '[') {
        if (!colon || hlen < 2 || colon[-1] != ']') {
            return cv_err_setf(err, CV_EINVAL, "address \"%s\" is not [IPv6]:port", addr);
        }
        h = addr + 1;
        hlen -= 2;
    } else if (!colon || strchr(addr, ':') != colon) {
        return cv_err_setf(err, CV_EINVAL, "address \"%s\" is not host:port", addr);
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    size_t digits = strlen(p);
    unsigned long port = 0;
    for (size_t i = 0; i < digits; i++) {
        if (p[i] < '0' || p[i] > '9') {
            digits = 0;
            break;
        }
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (digits == 0 || digits > 5 || port > 65535 || (port == 0 && !allow_port0)) {
        return cv_err_setf(err, CV_EINVAL, "address \"%s\" has no valid port (1 to 65535)", addr);
    }

    memset(ss, 0, sizeof *ss);
    if (addr[0] == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
            return cv_err_setf(err, CV_EINVAL, "address \"%s\": \"%s\" is not an IPv6 address",
                               addr, host);
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sslen = (int)sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            return cv_err_setf(err, CV_EINVAL,
                               "address \"%s\": \"%s\" is not a numeric IPv4 address (no name "
                               "resolution here)",
                               addr, host);
        }
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *sslen = (int)sizeof *in;
    }
    return 0;
}

void rpc_addr_format(const struct sockaddr *sa, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, size, "(family %d)", sa->sa_family);
    }
}

static void set_opt(evutil_socket_t fd, int level, int name, int value, const char *what)
{
    if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
        cv_log(CV_LOG_DEBUG, RPC_LOG, "setsockopt failed", "option=%s error=\"%s\"", what,
               strerror(errno));
    }
}

void rpc_socket_tune(evutil_socket_t fd)
{
    /* Requests are small and latency-bound; Nagle would hold them back. */
    set_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    /* A peer that vanished without a FIN (power loss, partition) is noticed
     * by keepalive even on a connection with nothing in flight. */
    set_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
#ifdef TCP_KEEPIDLE
    set_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, RPC_KEEPALIVE_IDLE_S, "TCP_KEEPIDLE");
#endif
#ifdef TCP_KEEPINTVL
    set_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, RPC_KEEPALIVE_INTVL_S, "TCP_KEEPINTVL");
#endif
#ifdef TCP_KEEPCNT
    set_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, RPC_KEEPALIVE_CNT, "TCP_KEEPCNT");
#endif
}

int rpc_read_frame(struct evbuffer *input, size_t max_frame, struct rpc_frame *f, size_t *frame_len,
                   struct cv_err *err)
{
    size_t avail = evbuffer_get_length(input);
    if (avail == 0) {
        return 0;
    }
    uint8_t header[RPC_FRAME_HEADER_SIZE];
    size_t n = avail < sizeof header ? avail : sizeof header;
    if (evbuffer_copyout(input, header, n) != (ev_ssize_t)n) {
        return cv_err_setf(err, CV_EIO, "cannot read the input buffer");
    }
    size_t need;
    int rc = rpc_frame_decode(header, n, max_frame, f, &need, err);
    if (rc != 0) {
        return rc;
    }
    if (need > avail) {
        return 0;
    }
    const unsigned char *data = evbuffer_pullup(input, (ev_ssize_t)need);
    if (!data) {
        return cv_err_setf(err, CV_EIO, "cannot read the input buffer");
    }
    rc = rpc_frame_decode(data, need, max_frame, f, frame_len, err);
    if (rc != 0) {
        return rc;
    }
    return 1;
}

int rpc_write_frame(struct bufferevent *bev, const struct rpc_frame *f, size_t max_frame,
                    size_t *frame_len, struct cv_err *err)
{
    uint8_t prefix[RPC_FRAME_PREFIX_MAX];
    size_t prefix_len, total;
    int rc = rpc_frame_encode_prefix(f, max_frame, prefix, &prefix_len, &total, err);
    if (rc != 0) {
        return rc;
    }
    struct evbuffer *out = bufferevent_get_output(bev);
    /* Room for the whole frame is made first, so that the two appends
     * cannot fail halfway and leave half a frame on the stream. */
    if (evbuffer_expand(out, prefix_len + f->payload_len) != 0 ||
        evbuffer_add(out, prefix, prefix_len) != 0 ||
        (f->payload_len && evbuffer_add(out, f->payload, f->payload_len) != 0)) {
        return cv_err_setf(err, CV_EIO, "cannot queue a %zu-byte frame", total);
    }
    if (frame_len) {
        *frame_len = total;
    }
    return 0;
}

const char *rpc_socket_error(void)
{
    return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
}
