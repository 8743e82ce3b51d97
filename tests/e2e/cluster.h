/*
 * cluster: real regiond processes on 127.0.0.1 for the multi-process tests.
 *
 * A cluster is a temporary directory (data dirs and logs) and N servers,
 * each started with fork/exec of the regiond binary with flags only (no
 * config file), on ports the kernel said were free a moment before. The
 * tests talk to them over HTTP with a small blocking client, wait by
 * polling with a deadline (never a fixed sleep), and stop them by PID.
 * e2e_cluster_destroy SIGKILLs whatever still runs and removes the
 * directory; a server's log is printed when a test fails, to explain it.
 */
#ifndef CV_TEST_E2E_CLUSTER_H
#define CV_TEST_E2E_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define E2E_MAX_SERVERS 5

struct e2e_server
{
    unsigned id; /* Raft id: index + 1 */
    pid_t pid;   /* 0 when not running */
    int http_port, rpc_port, serf_port;
    char data_dir[512];
    char log_path[512];
};

struct e2e_cluster
{
    size_t n;
    struct e2e_server servers[E2E_MAX_SERVERS];
    char dir[256];
    char regiond[512];
    /* When set (before the first start), written to <dir>/extra.json and
     * given to every server with -config, before the flags. */
    char config_json[1024];
};

/* An HTTP answer: status, headers (raw, "\r\n"-separated) and body, each
 * NUL-terminated and owned (free with e2e_response_free). */
struct e2e_response
{
    int status;
    char *headers;
    char *body;
};

/* Makes the directory and picks ports for n servers; starts none. The
 * regiond binary is taken from $CARAVAN_REGIOND. Returns 0 or -1 with a
 * message on stderr. */
int e2e_cluster_init(struct e2e_cluster *c, size_t n);
/* Starts server i (again, after a kill: same ports and data dir). */
int e2e_server_start(struct e2e_cluster *c, size_t i);
/* Sends sig to server i and, for SIGKILL/SIGTERM, waits (up to 15 s) for
 * it to exit; returns its exit status (or -1). */
int e2e_server_stop(struct e2e_cluster *c, size_t i, int sig);
/* SIGKILLs every running server, waits for them and removes the directory. */
void e2e_cluster_destroy(struct e2e_cluster *c);
/* Whether server i's log (all of it, every run) contains `text`. */
bool e2e_log_contains(const struct e2e_cluster *c, size_t i, const char *text);
/* Prints the last lines of server i's log to stderr. */
void e2e_server_dump_log(const struct e2e_cluster *c, size_t i);

/* One HTTP/1.1 request to 127.0.0.1:port with a deadline. body may be NULL.
 * Returns 0, or -1 when no answer came (connection refused, timeout). */
int e2e_http(int port, const char *method, const char *path, const char *body, int timeout_ms,
             struct e2e_response *out);
void e2e_response_free(struct e2e_response *r);
/* The value of header `name` in r (case-insensitive) copied into out, or
 * false. */
bool e2e_header(const struct e2e_response *r, const char *name, char *out, size_t size);

/* Polls every running server until they agree on one leader; returns its
 * index, or -1 after timeout_ms. */
int e2e_wait_leader(struct e2e_cluster *c, int timeout_ms);

/* Milliseconds on the monotonic clock. */
long long e2e_now_ms(void);

/* A 127.0.0.1 port of `type` (SOCK_STREAM, SOCK_DGRAM) free now, below the
 * ephemeral range like the servers' and never one handed out before by this
 * function, or -1; for other daemons a test or benchmark starts beside. */
int e2e_free_port(int type);

#endif
