/*
 * cluster: real regiond processes for the multi-process tests (cluster.h).
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long e2e_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool can_bind(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) {
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* A port free now for both TCP and UDP, below Linux's ephemeral range
 * (32768-60999) so that no outgoing connection of the servers themselves
 * can take it before the server binds it. Ports already handed out in this
 * cluster are skipped. */
static int free_port(const struct e2e_cluster *c)
{
    static unsigned seed;
    if (seed == 0) {
        seed = (unsigned)getpid() ^ (unsigned)e2e_now_ms();
    }
    for (int tries = 0; tries < 200; tries++) {
        seed = seed * 1103515245u + 12345u;
        int port = 20000 + (int)((seed >> 8) % 12000);
        bool taken = false;
        for (size_t i = 0; i < E2E_MAX_SERVERS; i++) {
            const struct e2e_server *s = &c->servers[i];
            taken |= s->http_port == port || s->rpc_port == port || s->serf_port == port;
        }
        if (!taken && can_bind(SOCK_STREAM, port) && can_bind(SOCK_DGRAM, port)) {
            return port;
        }
    }
    return -1;
}

int e2e_free_port(int type)
{
    /* The range and reasons of free_port; ports handed out before are
     * skipped even while nothing is bound to them yet. */
    static int given[64];
    static size_t n_given;
    static unsigned seed;
    if (seed == 0) {
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)e2e_now_ms();
    }
    for (int tries = 0; tries < 200 && n_given < sizeof given / sizeof given[0]; tries++) {
        seed = seed * 1103515245u + 12345u;
        int port = 20000 + (int)((seed >> 8) % 12000);
        bool taken = false;
        for (size_t i = 0; i < n_given; i++) {
            taken |= given[i] == port;
        }
        if (!taken && can_bind(type, port)) {
            given[n_given++] = port;
            return port;
        }
    }
    return -1;
}

int e2e_cluster_init(struct e2e_cluster *c, size_t n)
{
    memset(c, 0, sizeof *c);
    const char *bin = getenv("CARAVAN_REGIOND");
    if (!bin || n == 0 || n > E2E_MAX_SERVERS) {
        fprintf(stderr, "e2e: set CARAVAN_REGIOND to the regiond binary (1-5 servers)\n");
        return -1;
    }
    snprintf(c->regiond, sizeof c->regiond, "%s", bin);
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/caravan-e2e-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        perror("e2e: mkdtemp");
        return -1;
    }
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        struct e2e_server *s = &c->servers[i];
        s->id = (unsigned)i + 1;
        s->http_port = free_port(c);
        s->rpc_port = free_port(c);
        s->serf_port = free_port(c);
        snprintf(s->data_dir, sizeof s->data_dir, "%s/data-%u", c->dir, s->id);
        snprintf(s->log_path, sizeof s->log_path, "%s/regiond-%u.log", c->dir, s->id);
        if (s->http_port < 0 || s->rpc_port < 0 || s->serf_port < 0) {
            fprintf(stderr, "e2e: no free port\n");
            return -1;
        }
    }
    return 0;
}

int e2e_server_start(struct e2e_cluster *c, size_t i)
{
    struct e2e_server *s = &c->servers[i];
    char id[16], http[16], rpc[16], serf[16], expect[16];
    snprintf(id, sizeof id, "%u", s->id);
    snprintf(http, sizeof http, "%d", s->http_port);
    snprintf(rpc, sizeof rpc, "%d", s->rpc_port);
    snprintf(serf, sizeof serf, "%d", s->serf_port);
    snprintf(expect, sizeof expect, "%zu", c->n);
    char peers[E2E_MAX_SERVERS][64];
    const char *argv[64];
    size_t a = 0;
    argv[a++] = c->regiond;
    char extra[300];
    if (c->config_json[0]) {
        snprintf(extra, sizeof extra, "%s/extra.json", c->dir);
        FILE *f = fopen(extra, "w");
        if (!f || fputs(c->config_json, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "e2e: cannot write %s\n", extra);
            return -1;
        }
        argv[a++] = "-config";
        argv[a++] = extra;
    }
    argv[a++] = "-server-id";
    argv[a++] = id;
    argv[a++] = "-bind";
    argv[a++] = "127.0.0.1";
    argv[a++] = "-http-port";
    argv[a++] = http;
    argv[a++] = "-rpc-port";
    argv[a++] = rpc;
    argv[a++] = "-serf-port";
    argv[a++] = serf;
    argv[a++] = "-data-dir";
    argv[a++] = s->data_dir;
    argv[a++] = "-bootstrap-expect";
    argv[a++] = expect;
    argv[a++] = "-name";
    argv[a++] = "e2e";
    for (size_t j = 0; j < c->n; j++) {
        if (j == i) {
            continue;
        }
        snprintf(peers[j], sizeof peers[j], "%u@127.0.0.1:%d", c->servers[j].id,
                 c->servers[j].rpc_port);
        argv[a++] = "-peer";
        argv[a++] = peers[j];
    }
    argv[a] = NULL;

    pid_t pid = fork();
    if (pid < 0) {
        perror("e2e: fork");
        return -1;
    }
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "e2e: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    return 0;
}

int e2e_server_stop(struct e2e_cluster *c, size_t i, int sig)
{
    struct e2e_server *s = &c->servers[i];
    if (s->pid <= 0) {
        return -1;
    }
    kill(s->pid, sig);
    if (sig != SIGKILL && sig != SIGTERM) {
        return 0;
    }
    long long deadline = e2e_now_ms() + 15000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            break;
        }
        if (e2e_now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        sleep_ms(10);
    }
    s->pid = 0;
    return status;
}

static void remove_tree(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
}

void e2e_cluster_destroy(struct e2e_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->servers[i].pid > 0) {
            e2e_server_stop(c, i, SIGKILL);
        }
    }
    if (c->dir[0] && !getenv("CARAVAN_E2E_KEEP")) {
        remove_tree(c->dir);
    }
}

bool e2e_log_contains(const struct e2e_cluster *c, size_t i, const char *text)
{
    FILE *f = fopen(c->servers[i].log_path, "r");
    if (!f) {
        return false;
    }
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        found = strstr(line, text) != NULL;
    }
    fclose(f);
    return found;
}

void e2e_server_dump_log(const struct e2e_cluster *c, size_t i)
{
    FILE *f = fopen(c->servers[i].log_path, "r");
    if (!f) {
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 6000 ? size - 6000 : 0, SEEK_SET);
    char buf[6001];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- regiond %u log (tail) ----\n%s\n----\n", c->servers[i].id, buf);
}

/* ---- HTTP ----------------------------------------------------------------------- */

static int wait_fd(int fd, short events, long long deadline)
{
    long long left = deadline - e2e_now_ms();
    if (left <= 0) {
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, (int)left) == 1 ? 0 : -1;
}

int e2e_http(int port, const char *method, const char *path, const char *body, int timeout_ms,
             struct e2e_response *out)
{
    memset(out, 0, sizeof *out);
    long long deadline = e2e_now_ms() + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    if (wait_fd(fd, POLLOUT, deadline) != 0) {
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
        close(fd);
        return -1;
    }
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 512 + strlen(path) + blen;
    char *req = malloc(cap);
    int hl = snprintf(req, cap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\nContent-Type: application/json\r\n\r\n",
                      method, path, port, blen);
    memcpy(req + hl, body ? body : "", blen);
    size_t total = (size_t)hl + blen, sent = 0;
    while (sent < total) {
        ssize_t w = send(fd, req + sent, total - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 0) {
                break;
            }
        } else {
            break;
        }
    }
    free(req);
    size_t rcap = 4096, rlen = 0;
    char *resp = malloc(rcap);
    for (;;) {
        if (rlen + 1024 > rcap) {
            rcap *= 2;
            resp = realloc(resp, rcap);
        }
        ssize_t r = recv(fd, resp + rlen, rcap - rlen - 1, 0);
        if (r > 0) {
            rlen += (size_t)r;
        } else if (r == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (wait_fd(fd, POLLIN, deadline) != 0) {
                break;
            }
        } else {
            break;
        }
    }
    close(fd);
    resp[rlen] = '\0';
    char *sep = strstr(resp, "\r\n\r\n");
    if (rlen < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || !sep) {
        free(resp);
        return -1;
    }
    out->status = atoi(resp + 9);
    *sep = '\0';
    out->headers = strdup(resp);
    char *b = sep + 4;
    /* A chunked answer: join the chunks. */
    char te[64];
    if (e2e_header(out, "Transfer-Encoding", te, sizeof te) && strcasecmp(te, "chunked") == 0) {
        size_t o = 0;
        char *p = b;
        for (;;) {
            size_t n = strtoul(p, &p, 16);
            p = strstr(p, "\r\n");
            if (!p || n == 0) {
                break;
            }
            p += 2;
            memmove(b + o, p, n);
            o += n;
            p += n + 2;
        }
        b[o] = '\0';
    }
    out->body = strdup(b);
    free(resp);
    return 0;
}

void e2e_response_free(struct e2e_response *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

bool e2e_header(const struct e2e_response *r, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') {
                v++;
            }
            size_t vl = len - (size_t)(v - line);
            snprintf(out, size, "%.*s", (int)vl, v);
            return true;
        }
        line = end ? end + 2 : NULL;
    }
    return false;
}

int e2e_wait_leader(struct e2e_cluster *c, int timeout_ms)
{
    long long deadline = e2e_now_ms() + timeout_ms;
    while (e2e_now_ms() < deadline) {
        int leader = -1;
        bool agreed = true;
        for (size_t i = 0; i < c->n && agreed; i++) {
            if (c->servers[i].pid <= 0) {
                continue;
            }
            struct e2e_response r;
            if (e2e_http(c->servers[i].http_port, "GET", "/v1/status/leader", NULL, 1000, &r) !=
                    0 ||
                r.status != 200) {
                if (r.status) {
                    e2e_response_free(&r);
                }
                agreed = false;
                break;
            }
            int port = -1;
            const char *colon = strrchr(r.body, ':');
            if (colon) {
                port = atoi(colon + 1);
            }
            e2e_response_free(&r);
            int idx = -1;
            for (size_t j = 0; j < c->n; j++) {
                if (c->servers[j].rpc_port == port) {
                    idx = (int)j;
                }
            }
            if (idx < 0 || c->servers[idx].pid <= 0 || (leader >= 0 && idx != leader)) {
                agreed = false;
            }
            leader = idx;
        }
        if (agreed && leader >= 0) {
            return leader;
        }
        sleep_ms(50);
    }
    return -1;
}
