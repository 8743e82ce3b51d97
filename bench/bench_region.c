/*
 * bench_region: job registrations per second through the HTTP API of a
 * 3-server region on 127.0.0.1, and leader failover time, beside etcd.
 *
 * Caravan: three real regiond processes (tests/e2e/cluster.h: flags only,
 * embedded store with fsync, default Raft timing) in a temporary directory.
 *   load       for 1, 16 and 64 clients, each client a thread with its own
 *              keep-alive HTTP/1.1 connection sending PUT /v1/jobs with a
 *              distinct job ID, for SECONDS; one more row of 64 clients
 *              through a follower (which forwards to the leader). Per row:
 *              registrations/s, p50/p99 latency, errors, and the times a
 *              server lost or replaced the leader it knew ("flaps"), seen by
 *              a thread that polls every server's /v1/status/leader every
 *              100 ms.
 *   failover   10 times: kill -9 the leader, then time until a write succeeds
 *              through another server (a fresh attempt is started every
 *              10 ms, alternating between the survivors, so an attempt that
 *              hangs on the dead leader does not hide the first that
 *              succeeds); restart the killed server and wait until it has
 *              the last write. Each time and the median.
 * etcd, when `etcd` is on the PATH: a 3-member cluster on loopback ports of
 * its own, in the same directory, and the same load with the same client
 * code through its HTTP JSON gateway (POST /v3/kv/put, base64 key and
 * value; the value is the job body, so the same size), the same number of
 * writes as caravan's row, and the same failover measurement (leader from
 * /v3/maintenance/status). Both clusters run for the whole benchmark and
 * each row (and each failover round) runs caravan then etcd back to back,
 * so a drifting shared disk moves both alike; the idle cluster only sends
 * heartbeats meanwhile. Each row prints both and the ratio.
 *
 * Yardsticks: the core count and the disk's fsync rate (4 KiB
 * pwrite+fdatasync in the temporary directory) at the start, right before
 * each row and at the end (a shared machine's disk drifts). Nothing is
 * asserted; figures are printed beside the targets of issue 5 (>= 5x etcd's
 * writes/s at the same concurrency, median failover < 600 ms, no leader
 * change under load).
 *
 *   bench_region [REGIOND] [SECONDS]     (REGIOND: default $CARAVAN_REGIOND,
 *                                         else the build's; SECONDS: 5)
 *
 * Every wait has a deadline. Whatever it started is SIGKILLed at exit, on
 * failure and on SIGINT/SIGTERM/SIGHUP, and the directory removed (kept
 * with CARAVAN_E2E_KEEP=1, with the servers' logs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"

#ifndef CARAVAN_REGIOND_PATH
#define CARAVAN_REGIOND_PATH ""
#endif

#define N_SERVERS        3
#define FAILOVER_ROUNDS  10
#define REQ_TIMEOUT_MS   10000 /* one request of the load */
#define PROBE_EVERY_MS   10    /* failover: a new write attempt this often */
#define PROBE_MAX        512   /* attempts in flight */
#define PROBE_TIMEOUT_MS 15000
#define FAILOVER_WAIT_MS 30000 /* no new leader serving by then: the round failed */
#define CATCHUP_WAIT_MS  60000
#define MONITOR_EVERY_MS 100
#define LIMIT_FACTOR     10 /* a row with a write budget runs at most this many times longer */
#define TARGET_RATIO     5.0
#define TARGET_FAILOVER  600.0 /* ms, median */

/* The job of tests/e2e/test_region.c. IDs have a fixed width, so every body
 * has the same size. */
#define JOB_TEMPLATE                                                                          \
    "{\"Job\":{\"ID\":\"%s\",\"Name\":\"%s\",\"Type\":\"service\",\"Datacenters\":[\"dc1\"]," \
    "\"TaskGroups\":[{\"Name\":\"web\",\"Count\":%d,\"Tasks\":[{\"Name\":\"server\","         \
    "\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/sleep\",\"args\":[\"600\"]},"     \
    "\"Resources\":{\"CPU\":100,\"MemoryMB\":64}}]}]}}"
#define ID_FORMAT "bench-%c%02u-%03u-%08llu"

enum sys
{
    SYS_CARAVAN,
    SYS_ETCD,
};

/* ---- what runs, for the cleanup ------------------------------------------------ */

static struct e2e_cluster cluster;
static bool cluster_made;

struct etcd_member
{
    pid_t pid; /* 0 when not running */
    int client_port, peer_port;
    char data_dir[512];
    char log_path[512];
};
static struct etcd_member etcd[N_SERVERS];
static char etcd_bin[512];
static char etcd_initial_cluster[512];
static char etcd_token[64];

/* rm -rf of the directory, prepared before any signal can arrive so the
 * handler only calls async-signal-safe functions. */
static char rm_dir[256];
static char *rm_argv[] = {"/bin/rm", "-rf", rm_dir, NULL};
static bool keep_dir;

static void kill_all(void)
{
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (cluster_made && cluster.servers[i].pid > 0) {
            kill(cluster.servers[i].pid, SIGKILL);
        }
        if (etcd[i].pid > 0) {
            kill(etcd[i].pid, SIGKILL);
        }
    }
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (cluster_made && cluster.servers[i].pid > 0) {
            waitpid(cluster.servers[i].pid, NULL, 0);
            cluster.servers[i].pid = 0;
        }
        if (etcd[i].pid > 0) {
            waitpid(etcd[i].pid, NULL, 0);
            etcd[i].pid = 0;
        }
    }
}

static void on_signal(int sig)
{
    kill_all();
    if (cluster_made && !keep_dir) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(rm_argv[0], rm_argv);
            _exit(127);
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
    }
    _exit(128 + sig);
}

static void cleanup(void)
{
    kill_all();
    if (cluster_made) {
        cluster_made = false;
        e2e_cluster_destroy(&cluster);
    }
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_region: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (cluster_made) {
        for (size_t i = 0; i < N_SERVERS; i++) {
            e2e_server_dump_log(&cluster, i);
        }
    }
    exit(1); /* atexit: cleanup */
}

/* ---- time and small helpers ----------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of a sorted array, nearest rank. */
static uint64_t quantile(const uint64_t *v, size_t n, double q)
{
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t)(q * (double)n + 0.999999);
    return v[rank == 0 ? 0 : rank - 1];
}

/* memmem is not POSIX. */
static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

static size_t base64(const char *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len) {
            v |= (unsigned)p[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= p[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static void job_id(char *out, size_t cap, char phase, unsigned run, unsigned thread,
                   unsigned long long seq)
{
    snprintf(out, cap, ID_FORMAT, phase, run % 100, thread % 1000, seq % 100000000ull);
}

static size_t job_body(char *out, size_t cap, const char *id)
{
    return (size_t)snprintf(out, cap, JOB_TEMPLATE, id, id, 1);
}

/* A whole request for `sys` writing the object `id` (a job, or a key whose
 * value is the same job body). Returns its length. */
static size_t write_request(enum sys sys, int port, const char *id, bool keep_alive, char *out,
                            size_t cap)
{
    char job[1024];
    size_t jl = job_body(job, sizeof job, id);
    char body[2048];
    size_t bl;
    if (sys == SYS_CARAVAN) {
        memcpy(body, job, jl + 1);
        bl = jl;
    } else {
        char key[128], k64[192], v64[1400];
        size_t kl = (size_t)snprintf(key, sizeof key, "/bench/%s", id);
        base64(key, kl, k64);
        base64(job, jl, v64);
        bl = (size_t)snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
    }
    return (size_t)snprintf(out, cap,
                            "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            sys == SYS_CARAVAN ? "PUT" : "POST",
                            sys == SYS_CARAVAN ? "/v1/jobs" : "/v3/kv/put", port,
                            keep_alive ? "" : "Connection: close\r\n", bl, body);
}

/* ---- the keep-alive client --------------------------------------------------------- */

/* One HTTP/1.1 connection reused across requests; answers framed by
 * Content-Length or chunked encoding; reconnects when the server closed it. */
struct kconn
{
    int fd; /* -1 when not connected */
    int port;
    bool reused; /* a request was answered on fd already */
    char *buf;
    size_t len, cap;
};

static void kconn_close(struct kconn *k)
{
    if (k->fd >= 0) {
        close(k->fd);
    }
    k->fd = -1;
    k->len = 0;
    k->reused = false;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    uint64_t t = now_ns();
    if (t >= deadline) {
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int ms = (int)((deadline - t) / 1000000u) + 1;
    int r = poll(&p, 1, ms);
    return r == 1 ? 0 : -1;
}

static int tcp_connect(int port, uint64_t deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (wait_fd(fd, POLLOUT, deadline) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool header_value(const char *head, size_t hlen, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *end = head + hlen;
    const char *line = memchr(head, '\n', hlen); /* skip the status line */
    while (line && line < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < line + len && (*v == ' ' || *v == '\t')) {
                v++;
            }
            size_t vl = (size_t)(line + len - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) {
                vl--;
            }
            snprintf(out, cap, "%.*s", (int)vl, v);
            return true;
        }
        line = eol;
    }
    return false;
}

/* Whether buf[off..len) holds a whole chunked body; *end is where it ends. */
static bool chunked_complete(const char *buf, size_t off, size_t len, size_t *end)
{
    for (;;) {
        const char *crlf = find(buf + off, len - off, "\r\n");
        if (!crlf) {
            return false;
        }
        unsigned long n = strtoul(buf + off, NULL, 16);
        off = (size_t)(crlf - buf) + 2;
        if (n == 0) {
            /* no trailers expected: the last chunk is "0\r\n\r\n" */
            if (len - off < 2) {
                return false;
            }
            *end = off + 2;
            return true;
        }
        if (len - off < n + 2) {
            return false;
        }
        off += n + 2;
    }
}

static int kconn_recv(struct kconn *k, uint64_t deadline)
{
    if (k->cap - k->len < 4096) {
        k->cap = k->cap ? k->cap * 2 : 16384;
        if (k->cap > (16u << 20)) {
            return -1;
        }
        k->buf = realloc(k->buf, k->cap);
        if (!k->buf) {
            die("out of memory");
        }
    }
    for (;;) {
        ssize_t r = recv(k->fd, k->buf + k->len, k->cap - k->len - 1, 0);
        if (r > 0) {
            k->len += (size_t)r;
            return 0;
        }
        if (r == 0) {
            return -1;
        }
        if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        if (wait_fd(k->fd, POLLIN, deadline) != 0) {
            return -1;
        }
    }
}

/* Sends req and reads its answer. Returns the HTTP status, or -1 when no
 * whole answer came by the deadline (the connection is then closed). The
 * body is k->buf[*body_off..*body_end). */
static int kconn_do(struct kconn *k, const char *req, size_t rlen, uint64_t deadline,
                    size_t *body_off, size_t *body_end)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (k->fd < 0) {
            k->fd = tcp_connect(k->port, deadline);
            if (k->fd < 0) {
                return -1;
            }
        }
        bool reused = k->reused;
        size_t sent = 0;
        while (sent < rlen) {
            ssize_t w = send(k->fd, req + sent, rlen - sent, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(k->fd, POLLOUT, deadline) != 0) {
                    break;
                }
            } else {
                break;
            }
        }
        size_t hdr_end = 0;
        bool got_any = false;
        if (sent == rlen) {
            for (;;) {
                const char *sep = find(k->buf, k->len, "\r\n\r\n");
                if (sep) {
                    hdr_end = (size_t)(sep - k->buf) + 4;
                    break;
                }
                if (kconn_recv(k, deadline) != 0) {
                    break;
                }
                got_any = true;
            }
        }
        if (hdr_end == 0) {
            kconn_close(k);
            /* A kept-alive connection the server closed while idle: send
             * again on a new one (nothing of this request was answered). */
            if (reused && !got_any && now_ns() < deadline) {
                continue;
            }
            return -1;
        }
        if (k->len < 12 || strncmp(k->buf, "HTTP/1.", 7) != 0) {
            kconn_close(k);
            return -1;
        }
        int status = atoi(k->buf + 9);
        char v[64];
        size_t end = 0;
        bool complete = false;
        if (header_value(k->buf, hdr_end, "Content-Length", v, sizeof v)) {
            size_t cl = strtoul(v, NULL, 10);
            while (k->len < hdr_end + cl) {
                if (kconn_recv(k, deadline) != 0) {
                    kconn_close(k);
                    return -1;
                }
            }
            end = hdr_end + cl;
            complete = true;
        } else if (header_value(k->buf, hdr_end, "Transfer-Encoding", v, sizeof v) &&
                   strcasecmp(v, "chunked") == 0) {
            while (!(complete = chunked_complete(k->buf, hdr_end, k->len, &end))) {
                if (kconn_recv(k, deadline) != 0) {
                    kconn_close(k);
                    return -1;
                }
            }
        } else {
            while (kconn_recv(k, deadline) == 0) {
            }
            end = k->len;
            complete = true;
        }
        bool close_after = !complete || (header_value(k->buf, hdr_end, "Connection", v, sizeof v) &&
                                         strcasecmp(v, "close") == 0);
        if (body_off) {
            *body_off = hdr_end;
            *body_end = end;
        }
        /* The caller reads the body before the next request; what follows
         * it (nothing, for a client that waits for each answer) is kept. */
        memmove(k->buf, k->buf + end, k->len - end);
        k->len -= end;
        k->reused = true;
        if (close_after) {
            close(k->fd);
            k->fd = -1;
            k->reused = false;
            k->len = 0;
        }
        return status;
    }
    return -1;
}

/* ---- leader of one server, as that server sees it ----------------------------------- */

/* The leader server `port` reports: "" when it knows none; false when it did
 * not answer. Caravan: its leader's RPC address; etcd: the leader's member
 * id. With `self`, also this server's own identity (etcd: member id). */
static bool leader_seen(enum sys sys, int port, char *out, size_t cap, char *self, size_t self_cap)
{
    struct e2e_response r;
    out[0] = '\0';
    if (sys == SYS_CARAVAN) {
        if (e2e_http(port, "GET", "/v1/status/leader", NULL, 1000, &r) != 0) {
            return false;
        }
        bool ok = r.status == 200 && r.body[0] == '"';
        if (ok) {
            const char *q = strchr(r.body + 1, '"');
            snprintf(out, cap, "%.*s", q ? (int)(q - r.body - 1) : 0, r.body + 1);
        }
        e2e_response_free(&r);
        return ok;
    }
    if (e2e_http(port, "POST", "/v3/maintenance/status", "{}", 1000, &r) != 0) {
        return false;
    }
    bool ok = r.status == 200;
    const char *l = ok ? strstr(r.body, "\"leader\":\"") : NULL;
    if (l) {
        l += 10;
        const char *q = strchr(l, '"');
        snprintf(out, cap, "%.*s", q ? (int)(q - l) : 0, l);
        if (strcmp(out, "0") == 0) {
            out[0] = '\0';
        }
    }
    if (self) {
        self[0] = '\0';
        const char *m = ok ? strstr(r.body, "\"member_id\":\"") : NULL;
        if (m) {
            m += 13;
            const char *q = strchr(m, '"');
            snprintf(self, self_cap, "%.*s", q ? (int)(q - m) : 0, m);
        }
    }
    e2e_response_free(&r);
    return ok;
}

static int client_port(enum sys sys, size_t i)
{
    return sys == SYS_CARAVAN ? cluster.servers[i].http_port : etcd[i].client_port;
}

static bool running(enum sys sys, size_t i)
{
    return sys == SYS_CARAVAN ? cluster.servers[i].pid > 0 : etcd[i].pid > 0;
}

/* Polls every running server until they agree on one leader; its index, or
 * -1 at the deadline. */
static int wait_leader(enum sys sys, int timeout_ms)
{
    if (sys == SYS_CARAVAN) {
        return e2e_wait_leader(&cluster, timeout_ms);
    }
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (now_ns() < deadline) {
        char lead[N_SERVERS][64], self[N_SERVERS][64];
        bool agreed = true;
        int leader = -1;
        for (size_t i = 0; i < N_SERVERS && agreed; i++) {
            if (!running(sys, i)) {
                continue;
            }
            if (!leader_seen(sys, client_port(sys, i), lead[i], sizeof lead[i], self[i],
                             sizeof self[i]) ||
                !lead[i][0]) {
                agreed = false;
                break;
            }
            if (strcmp(lead[i], self[i]) == 0) {
                leader = (int)i;
            }
        }
        for (size_t i = 0; agreed && leader >= 0 && i < N_SERVERS; i++) {
            if (running(sys, i) && strcmp(lead[i], lead[leader]) != 0) {
                agreed = false;
            }
        }
        if (agreed && leader >= 0) {
            return leader;
        }
        sleep_ms(50);
    }
    return -1;
}

/* ---- leader monitor ("flapping") --------------------------------------------------- */

struct monitor
{
    pthread_t th;
    enum sys sys;
    atomic_bool stop;
    unsigned changes[N_SERVERS];    /* a server lost or replaced the leader it knew */
    unsigned leaderless[N_SERVERS]; /* polls answered with no leader known */
    unsigned unanswered[N_SERVERS];
    unsigned polls;
};

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    char last[N_SERVERS][64] = {{0}};
    uint64_t next = now_ns();
    while (!atomic_load(&m->stop)) {
        for (size_t i = 0; i < N_SERVERS; i++) {
            char cur[64];
            if (!leader_seen(m->sys, client_port(m->sys, i), cur, sizeof cur, NULL, 0)) {
                m->unanswered[i]++;
                continue;
            }
            if (!cur[0]) {
                m->leaderless[i]++;
            }
            /* Losing the leader counts, even when the same server wins the
             * election that follows: it is an election under load. */
            if (last[i][0] && strcmp(last[i], cur) != 0) {
                m->changes[i]++;
            }
            snprintf(last[i], sizeof last[i], "%s", cur);
        }
        m->polls++;
        next += MONITOR_EVERY_MS * 1000000u;
        uint64_t t = now_ns();
        if (next > t) {
            sleep_ms((int)((next - t) / 1000000u));
        } else {
            next = t;
        }
    }
    return NULL;
}

/* ---- the load ---------------------------------------------------------------------- */

struct worker
{
    pthread_t th;
    enum sys sys;
    int port;
    unsigned run, idx;
    pthread_barrier_t *start;
    const uint64_t *end_ns;
    atomic_ullong *issued;    /* writes started by all workers of the row */
    unsigned long long limit; /* stop after this many writes (0: none) */
    uint64_t *lat;
    size_t n, cap;
    uint64_t errors;
    uint64_t finished_ns;
    char first_error[200];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct kconn k = {.fd = -1, .port = w->port};
    char req[4096], id[64];
    unsigned long long seq = 0;
    pthread_barrier_wait(w->start);
    uint64_t end = *w->end_ns;
    while (now_ns() < end) {
        if (w->limit && atomic_fetch_add(w->issued, 1) >= w->limit) {
            break;
        }
        job_id(id, sizeof id, w->sys == SYS_CARAVAN ? 'c' : 'e', w->run, w->idx, seq++);
        size_t rl = write_request(w->sys, w->port, id, true, req, sizeof req);
        uint64_t t0 = now_ns();
        size_t bo = 0, be = 0;
        int status = kconn_do(&k, req, rl, t0 + REQ_TIMEOUT_MS * 1000000ull, &bo, &be);
        uint64_t t1 = now_ns();
        if (status == 200) {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 4096;
                w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
                if (!w->lat) {
                    die("out of memory");
                }
            }
            w->lat[w->n++] = t1 - t0;
        } else {
            if (w->errors++ == 0) {
                if (status < 0) {
                    snprintf(w->first_error, sizeof w->first_error, "no answer");
                } else {
                    snprintf(w->first_error, sizeof w->first_error, "%d %.*s", status,
                             (int)(be - bo > 120 ? 120 : be - bo), k.buf ? k.buf + bo : "");
                }
            }
            if (status < 0 && now_ns() < end) {
                sleep_ms(1); /* a refused connection must not spin */
            }
        }
    }
    w->finished_ns = now_ns();
    kconn_close(&k);
    free(k.buf);
    return NULL;
}

struct row
{
    const char *name;
    unsigned clients;
    bool via_follower;
};

static const struct row rows[] = {
    {"to the leader", 1, false},
    {"to the leader", 16, false},
    {"to the leader", 64, false},
    {"via a follower", 64, true},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

struct result
{
    bool measured;
    double rate; /* successful writes per second */
    double p50_ms, p99_ms;
    uint64_t ok, errors;
    unsigned changes, leaderless, unanswered;
    char first_error[200];
};

/* One row: for `seconds`, or with `limit` until that many writes were
 * sent (bounded by LIMIT_FACTOR times `seconds`). */
static void run_load(enum sys sys, const struct row *row, unsigned run, double seconds,
                     unsigned long long limit, struct result *res)
{
    memset(res, 0, sizeof *res);
    int leader = wait_leader(sys, 30000);
    if (leader < 0) {
        die("%s: no leader before a load run", sys == SYS_CARAVAN ? "regiond" : "etcd");
    }
    size_t target = row->via_follower ? ((size_t)leader + 1) % N_SERVERS : (size_t)leader;
    struct monitor mon = {.sys = sys};
    atomic_init(&mon.stop, false);
    if (pthread_create(&mon.th, NULL, monitor_main, &mon) != 0) {
        die("pthread_create");
    }
    struct worker *w = calloc(row->clients, sizeof *w);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, row->clients + 1);
    uint64_t end = 0;
    atomic_ullong issued;
    atomic_init(&issued, 0);
    for (unsigned i = 0; i < row->clients; i++) {
        w[i] = (struct worker){.sys = sys,
                               .port = client_port(sys, target),
                               .run = run,
                               .idx = i,
                               .start = &start,
                               .end_ns = &end,
                               .issued = &issued,
                               .limit = limit};
    }
    for (unsigned i = 0; i < row->clients; i++) {
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            die("pthread_create");
        }
    }
    uint64_t t0 = now_ns();
    end = t0 + (uint64_t)((limit ? LIMIT_FACTOR : 1) * seconds * 1e9);
    pthread_barrier_wait(&start); /* publishes `end` to the workers */
    uint64_t last = t0;
    size_t total = 0;
    for (unsigned i = 0; i < row->clients; i++) {
        pthread_join(w[i].th, NULL);
        last = w[i].finished_ns > last ? w[i].finished_ns : last;
        total += w[i].n;
        res->errors += w[i].errors;
        if (!res->first_error[0] && w[i].first_error[0]) {
            snprintf(res->first_error, sizeof res->first_error, "%s", w[i].first_error);
        }
    }
    atomic_store(&mon.stop, true);
    pthread_join(mon.th, NULL);
    pthread_barrier_destroy(&start);
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t o = 0;
    for (unsigned i = 0; i < row->clients; i++) {
        memcpy(all + o, w[i].lat, w[i].n * sizeof *all);
        o += w[i].n;
        free(w[i].lat);
    }
    free(w);
    qsort(all, total, sizeof *all, cmp_u64);
    res->measured = true;
    res->ok = total;
    res->rate = (double)total / ((double)(last - t0) / 1e9);
    res->p50_ms = (double)quantile(all, total, 0.50) / 1e6;
    res->p99_ms = (double)quantile(all, total, 0.99) / 1e6;
    free(all);
    for (size_t i = 0; i < N_SERVERS; i++) {
        res->changes = mon.changes[i] > res->changes ? mon.changes[i] : res->changes;
        res->leaderless += mon.leaderless[i];
        res->unanswered += mon.unanswered[i];
    }
    fprintf(stderr,
            "  %-7s %-14s %2u clients: %8.0f writes/s  p50 %7.2f ms  p99 %7.2f ms  errors %" PRIu64
            "  flaps %u (polls %u, leaderless %u, unanswered %u)%s%s\n",
            sys == SYS_CARAVAN ? "caravan" : "etcd", row->name, row->clients, res->rate,
            res->p50_ms, res->p99_ms, res->errors, res->changes, mon.polls, res->leaderless,
            res->unanswered, res->first_error[0] ? "  first error: " : "", res->first_error);
}

/* ---- failover ---------------------------------------------------------------------- */

struct probe
{
    int fd;
    bool sent;
    uint64_t started;
    size_t len;
    char id[64];
    char req[4096];
    size_t rlen;
    char buf[512];
};

/* Starts a write attempt to port: connect (non-blocking) and, once
 * connected, send. Returns false when the connection was refused at once. */
static bool probe_start(struct probe *p, enum sys sys, int port, const char *id)
{
    memset(p, 0, sizeof *p);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (p->fd < 0) {
        return false;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(p->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(p->fd);
        p->fd = -1;
        return false;
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    p->rlen = write_request(sys, port, id, false, p->req, sizeof p->req);
    p->started = now_ns();
    return true;
}

static void probe_close(struct probe *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    p->fd = -1;
}

/* Advances a probe on a poll event: 1 when its write succeeded (200), 0
 * while in flight, -1 when it ended otherwise. */
static int probe_step(struct probe *p, short revents)
{
    if (!p->sent && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        /* small request, empty socket buffer: one send takes it whole */
        if (soerr != 0 || send(p->fd, p->req, p->rlen, MSG_NOSIGNAL) != (ssize_t)p->rlen) {
            return -1;
        }
        p->sent = true;
        return 0;
    }
    if (p->sent && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t r = recv(p->fd, p->buf + p->len, sizeof p->buf - 1 - p->len, 0);
        if (r <= 0) {
            return r < 0 && errno == EAGAIN ? 0 : -1;
        }
        p->len += (size_t)r;
        p->buf[p->len] = '\0';
        if (p->len >= 12) {
            /* the status line decides: a 200 is sent once the write is applied */
            return strncmp(p->buf, "HTTP/1.", 7) == 0 && atoi(p->buf + 9) == 200 ? 1 : -1;
        }
    }
    return 0;
}

/* From now until a write succeeds through one of the servers in `to`: a
 * new attempt every PROBE_EVERY_MS. Returns the ms from t0 to the first
 * success (its ID in id_out), or -1 at the deadline. */
static double probe_until_write(enum sys sys, const size_t *to, size_t n_to, uint64_t t0,
                                unsigned round, char *id_out, size_t id_cap)
{
    struct probe *probes = calloc(PROBE_MAX, sizeof *probes);
    struct pollfd *pfd = calloc(PROBE_MAX, sizeof *pfd);
    for (size_t i = 0; i < PROBE_MAX; i++) {
        probes[i].fd = -1;
    }
    uint64_t deadline = t0 + FAILOVER_WAIT_MS * 1000000ull, next = now_ns();
    unsigned long long seq = 0;
    double result = -1;
    while (result < 0 && now_ns() < deadline) {
        uint64_t t = now_ns();
        if (t >= next) {
            for (size_t i = 0; i < PROBE_MAX; i++) {
                if (probes[i].fd < 0) {
                    char id[64];
                    job_id(id, sizeof id, sys == SYS_CARAVAN ? 'f' : 'g', round, 999, seq);
                    probe_start(&probes[i], sys, client_port(sys, to[seq % n_to]), id);
                    seq++;
                    break;
                }
            }
            next = t + PROBE_EVERY_MS * 1000000ull;
        }
        size_t np = 0;
        size_t map[PROBE_MAX];
        for (size_t i = 0; i < PROBE_MAX; i++) {
            if (probes[i].fd < 0) {
                continue;
            }
            if (t > probes[i].started + PROBE_TIMEOUT_MS * 1000000ull) {
                probe_close(&probes[i]);
                continue;
            }
            pfd[np] =
                (struct pollfd){.fd = probes[i].fd, .events = probes[i].sent ? POLLIN : POLLOUT};
            map[np++] = i;
        }
        int wait = next > t ? (int)((next - t) / 1000000u) + 1 : 0;
        if (poll(pfd, np, wait) <= 0) {
            continue;
        }
        for (size_t j = 0; j < np && result < 0; j++) {
            if (!pfd[j].revents) {
                continue;
            }
            struct probe *p = &probes[map[j]];
            int r = probe_step(p, pfd[j].revents);
            if (r == 1) {
                result = (double)(now_ns() - t0) / 1e6;
                snprintf(id_out, id_cap, "%s", p->id);
            }
            if (r != 0) {
                probe_close(p);
            }
        }
    }
    for (size_t i = 0; i < PROBE_MAX; i++) {
        probe_close(&probes[i]);
    }
    free(probes);
    free(pfd);
    return result;
}

static int etcd_start(size_t i);

/* Whether server i holds the object `id` in its own state (no forwarding). */
static bool has_object(enum sys sys, size_t i, const char *id)
{
    struct e2e_response r;
    bool found = false;
    if (sys == SYS_CARAVAN) {
        char path[160];
        snprintf(path, sizeof path, "/v1/job/%s?stale", id);
        if (e2e_http(client_port(sys, i), "GET", path, NULL, 2000, &r) == 0) {
            found = r.status == 200;
            e2e_response_free(&r);
        }
        return found;
    }
    char key[128], k64[192], body[256];
    size_t kl = (size_t)snprintf(key, sizeof key, "/bench/%s", id);
    base64(key, kl, k64);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"serializable\":true}", k64);
    if (e2e_http(client_port(sys, i), "POST", "/v3/kv/range", body, 2000, &r) == 0) {
        found = r.status == 200 && strstr(r.body, "\"kvs\"") != NULL;
        e2e_response_free(&r);
    }
    return found;
}

/* One kill -9 round: the ms from the kill until a write succeeded through
 * another server, or -1 when none did by the deadline. */
static double failover_round(enum sys sys, unsigned round)
{
    const char *name = sys == SYS_CARAVAN ? "caravan" : "etcd";
    int leader = wait_leader(sys, 30000);
    if (leader < 0) {
        die("%s: no leader before failover round %u", name, round + 1);
    }
    size_t to[N_SERVERS - 1], n_to = 0;
    for (size_t i = 0; i < N_SERVERS; i++) {
        if ((int)i != leader) {
            to[n_to++] = i;
        }
    }
    uint64_t t0 = now_ns();
    if (sys == SYS_CARAVAN) {
        e2e_server_stop(&cluster, (size_t)leader, SIGKILL);
    } else {
        kill(etcd[leader].pid, SIGKILL);
        waitpid(etcd[leader].pid, NULL, 0);
        etcd[leader].pid = 0;
    }
    char id[64] = "";
    double ms = probe_until_write(sys, to, n_to, t0, round, id, sizeof id);
    int rc = sys == SYS_CARAVAN ? e2e_server_start(&cluster, (size_t)leader)
                                : etcd_start((size_t)leader);
    if (rc != 0) {
        die("%s: restart of server %d failed", name, leader + 1);
    }
    /* Caught up: the restarted server holds the write that succeeded. */
    uint64_t deadline = now_ns() + CATCHUP_WAIT_MS * 1000000ull;
    double catchup = -1;
    while (id[0] && now_ns() < deadline) {
        if (has_object(sys, (size_t)leader, id)) {
            catchup = (double)(now_ns() - t0) / 1e6;
            break;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "  %-7s failover %2u: killed server %d, a write served after %.0f ms%s", name,
            round + 1, leader + 1, ms, ms < 0 ? " (never)" : "");
    if (catchup >= 0) {
        fprintf(stderr, "; restarted, caught up %.0f ms after the kill\n", catchup);
    } else {
        fprintf(stderr, "; restarted, not caught up within %d s\n", CATCHUP_WAIT_MS / 1000);
    }
    return ms;
}

/* ---- etcd ---------------------------------------------------------------------------- */

static bool find_on_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(out, cap, "%.*s/%s", (int)len, path, name);
        if (len > 0 && access(out, X_OK) == 0) {
            return true;
        }
        path += len + (colon ? 1 : 0);
    }
    return false;
}

static void etcd_version(char *out, size_t cap)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' --version 2>/dev/null", etcd_bin);
    snprintf(out, cap, "?");
    FILE *f = popen(cmd, "r");
    if (!f) {
        return;
    }
    char line[128];
    if (fgets(line, sizeof line, f) && strncmp(line, "etcd Version: ", 14) == 0) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(out, cap, "%s", line + 14);
    }
    pclose(f);
}

static int etcd_start(size_t i)
{
    struct etcd_member *m = &etcd[i];
    char name[16], client[64], peer[64];
    snprintf(name, sizeof name, "m%zu", i + 1);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", m->client_port);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", m->peer_port);
    const char *argv[] = {etcd_bin,
                          "--name",
                          name,
                          "--data-dir",
                          m->data_dir,
                          "--listen-client-urls",
                          client,
                          "--advertise-client-urls",
                          client,
                          "--listen-peer-urls",
                          peer,
                          "--initial-advertise-peer-urls",
                          peer,
                          "--initial-cluster",
                          etcd_initial_cluster,
                          "--initial-cluster-token",
                          etcd_token,
                          "--initial-cluster-state",
                          "new",
                          "--logger",
                          "zap",
                          "--log-outputs",
                          "stderr",
                          NULL};
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        int fd = open(m->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    m->pid = pid;
    return 0;
}

static bool etcd_setup(void)
{
    size_t len = 0;
    snprintf(etcd_token, sizeof etcd_token, "bench-region-%ld", (long)getpid());
    for (size_t i = 0; i < N_SERVERS; i++) {
        struct etcd_member *m = &etcd[i];
        m->client_port = e2e_free_port(SOCK_STREAM);
        m->peer_port = e2e_free_port(SOCK_STREAM);
        if (m->client_port < 0 || m->peer_port < 0) {
            return false;
        }
        snprintf(m->data_dir, sizeof m->data_dir, "%s/etcd-%zu", cluster.dir, i + 1);
        snprintf(m->log_path, sizeof m->log_path, "%s/etcd-%zu.log", cluster.dir, i + 1);
        len += (size_t)snprintf(etcd_initial_cluster + len, sizeof etcd_initial_cluster - len,
                                "%sm%zu=http://127.0.0.1:%d", i ? "," : "", i + 1, m->peer_port);
    }
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (etcd_start(i) != 0) {
            return false;
        }
    }
    return true;
}

/* ---- the yardstick and the report ------------------------------------------------------ */

/* 4 KiB pwrite + fdatasync at the end of a file, for `seconds`: syncs/s. */
static double fsync_rate(const char *dir, double seconds)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fsync-yardstick", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return 0;
    }
    static char block[4096];
    memset(block, 'x', sizeof block);
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), n = 0;
    off_t off = 0;
    while (now_ns() < end) {
        if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block || fdatasync(fd) != 0) {
            break;
        }
        off += (off_t)sizeof block;
        n++;
    }
    double rate = (double)n / ((double)(now_ns() - start) / 1e9);
    close(fd);
    unlink(path);
    return rate;
}

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c += 2;
                c[strcspn(c, "\n")] = '\0';
                snprintf(out, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static double median(const double *v, size_t n)
{
    double s[FAILOVER_ROUNDS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= 0) {
            s[k++] = v[i];
        }
    }
    if (k == 0) {
        return -1;
    }
    qsort(s, k, sizeof *s, cmp_double);
    return k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
}

static bool all_digits(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if ((*s < '0' || *s > '9') && *s != '.') {
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    double seconds = 5;
    const char *regiond = getenv("CARAVAN_REGIOND");
    if (!regiond || !regiond[0]) {
        regiond = CARAVAN_REGIOND_PATH;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fprintf(stderr, "usage: %s [REGIOND] [SECONDS]\n", argv[0]);
            return 2;
        }
        if (all_digits(argv[i])) {
            seconds = atof(argv[i]);
        } else {
            regiond = argv[i];
        }
    }
    if (seconds <= 0 || seconds > 600) {
        fprintf(stderr, "bench_region: SECONDS must be in (0, 600]\n");
        return 2;
    }
    if (!regiond[0] || access(regiond, X_OK) != 0) {
        fprintf(stderr, "bench_region: no regiond binary (argument or $CARAVAN_REGIOND): %s\n",
                regiond[0] ? regiond : "(none)");
        return 2;
    }
    setenv("CARAVAN_REGIOND", regiond, 1);
    keep_dir = getenv("CARAVAN_E2E_KEEP") != NULL;
    bool have_etcd = find_on_path("etcd", etcd_bin, sizeof etcd_bin);

    signal(SIGPIPE, SIG_IGN);
    if (e2e_cluster_init(&cluster, N_SERVERS) != 0) {
        return 1;
    }
    snprintf(rm_dir, sizeof rm_dir, "%s", cluster.dir);
    cluster_made = true;
    atexit(cleanup);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    char cpu[128], job[1024], id[64];
    cpu_model(cpu, sizeof cpu);
    job_id(id, sizeof id, 'c', 0, 0, 0);
    size_t job_size = job_body(job, sizeof job, id);
    double fsync_before = fsync_rate(cluster.dir, 1.0);
    printf("bench_region: job registrations through the HTTP API of 3 servers on 127.0.0.1\n");
    printf("machine: %ld cores (%s); temporary directory %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu,
           cluster.dir);
    printf("yardstick: 4 KiB pwrite+fdatasync there: %.0f syncs/s\n", fsync_before);
    printf("caravan: %s, embedded store (fsync on), default Raft timing\n", regiond);
    char etcd_ver[128] = "";
    if (have_etcd) {
        etcd_version(etcd_ver, sizeof etcd_ver);
        printf("etcd: %s %s, 3 members on 127.0.0.1 started by the benchmark (fsync on)\n",
               etcd_bin, etcd_ver);
    } else {
        printf("etcd: not installed (apt-get install etcd-server), ratios not measured\n");
    }
    printf(
        "load: per client a thread and a keep-alive HTTP/1.1 connection, %.0f s per row; "
        "caravan PUT /v1/jobs, a %zu-byte job, distinct IDs",
        seconds, job_size);
    if (have_etcd) {
        printf("; etcd POST /v3/kv/put (JSON gateway), a %zu-byte key, the %zu-byte job as value",
               strlen("/bench/") + strlen(id), job_size);
    }
    printf(
        "\ntargets (issue 5): >= %.0fx etcd's writes/s at the same concurrency; median failover "
        "< %.0f ms; no leader change under load\n",
        TARGET_RATIO, TARGET_FAILOVER);
    fflush(stdout);

    /* Both clusters run from here on, so each row and each failover round
     * measures the two back to back, on the same disk weather. */
    struct result ours[N_ROWS], theirs[N_ROWS];
    memset(theirs, 0, sizeof theirs);
    double ours_fo[FAILOVER_ROUNDS], theirs_fo[FAILOVER_ROUNDS], row_fsync[N_ROWS];
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (e2e_server_start(&cluster, i) != 0) {
            die("start regiond %zu", i + 1);
        }
    }
    if (wait_leader(SYS_CARAVAN, 30000) < 0) {
        die("regiond: no leader within 30 s");
    }
    fprintf(stderr, "caravan: 3 servers up, leader elected\n");
    if (have_etcd) {
        if (!etcd_setup() || wait_leader(SYS_ETCD, 30000) < 0) {
            for (size_t i = 0; i < N_SERVERS; i++) {
                fprintf(stderr, "see %s\n", etcd[i].log_path);
            }
            die("etcd: no leader within 30 s");
        }
        fprintf(stderr, "etcd: 3 members up, leader elected\n");
    }
    for (size_t r = 0; r < N_ROWS; r++) {
        row_fsync[r] = fsync_rate(cluster.dir, 0.5);
        run_load(SYS_CARAVAN, &rows[r], (unsigned)r, seconds, 0, &ours[r]);
        if (have_etcd) {
            /* the same number of writes as caravan's row */
            run_load(SYS_ETCD, &rows[r], (unsigned)r, seconds, ours[r].ok + ours[r].errors,
                     &theirs[r]);
        }
    }
    for (unsigned round = 0; round < FAILOVER_ROUNDS; round++) {
        ours_fo[round] = failover_round(SYS_CARAVAN, round);
        if (have_etcd) {
            theirs_fo[round] = failover_round(SYS_ETCD, round);
        }
    }
    kill_all();
    size_t ours_rounds = FAILOVER_ROUNDS, theirs_rounds = have_etcd ? FAILOVER_ROUNDS : 0;
    double fsync_after = fsync_rate(cluster.dir, 1.0);

    /* ---- report ---- */
    printf("\n%-15s %7s %6s | %-38s | %-38s | %s\n", "", "", "disk", "caravan (regiond)",
           have_etcd ? "etcd" : "etcd (not installed)", "ratio");
    printf("%-15s %7s %6s | %9s %7s %7s %6s %5s | %9s %7s %7s %6s %5s | %s\n", "writes", "clients",
           "syncs", "per s", "p50 ms", "p99 ms", "errors", "flaps", "per s", "p50 ms", "p99 ms",
           "errors", "flaps", "caravan/etcd");
    for (size_t r = 0; r < N_ROWS; r++) {
        const struct result *a = &ours[r], *b = &theirs[r];
        printf("%-15s %7u %6.0f | %9.0f %7.2f %7.2f %6" PRIu64 " %5u | ", rows[r].name,
               rows[r].clients, row_fsync[r], a->rate, a->p50_ms, a->p99_ms, a->errors, a->changes);
        if (b->measured) {
            double ratio = b->rate > 0 ? a->rate / b->rate : 0;
            printf("%9.0f %7.2f %7.2f %6" PRIu64 " %5u | %5.2fx (target >= %.0fx: %s)\n", b->rate,
                   b->p50_ms, b->p99_ms, b->errors, b->changes, ratio, TARGET_RATIO,
                   ratio >= TARGET_RATIO ? "met" : "not met");
        } else {
            printf("%9s %7s %7s %6s %5s | not measured\n", "-", "-", "-", "-", "-");
        }
    }
    printf(
        "(disk syncs: 4 KiB pwrite+fdatasync per second in the temporary directory right before "
        "the row;\n flaps: times one server (the most) lost or replaced the leader it knew, polled "
        "every %d ms, during the row%s)\n",
        MONITOR_EVERY_MS, have_etcd ? ";\n etcd writes as many keys as caravan's row did" : "");

    printf("\nfailover: kill -9 of the leader until a write succeeds through another server, ms\n");
    printf("%-8s %10s %10s\n", "round", "caravan", have_etcd ? "etcd" : "");
    for (size_t i = 0; i < FAILOVER_ROUNDS; i++) {
        printf("%-8zu", i + 1);
        if (i < ours_rounds) {
            printf(" %10.0f", ours_fo[i]);
        } else {
            printf(" %10s", "-");
        }
        if (i < theirs_rounds) {
            printf(" %10.0f", theirs_fo[i]);
        }
        printf("\n");
    }
    double m_ours = median(ours_fo, ours_rounds);
    double m_theirs = have_etcd ? median(theirs_fo, theirs_rounds) : -1;
    printf("%-8s %10.0f", "median", m_ours);
    if (have_etcd) {
        printf(" %10.0f", m_theirs);
    }
    printf("   (target < %.0f ms: %s", TARGET_FAILOVER,
           m_ours >= 0 && m_ours < TARGET_FAILOVER ? "met" : "not met");
    if (m_theirs > 0) {
        printf("; caravan/etcd %.2fx", m_ours / m_theirs);
    }
    printf(")\n");
    printf("(a round that never served within %d s prints -1 and is left out of the median)\n",
           FAILOVER_WAIT_MS / 1000);
    printf("yardstick again at the end: %.0f fdatasync/s (%.0f at the start)\n", fsync_after,
           fsync_before);
    return 0; /* atexit: cleanup */
}
