/*
 * test_nodeagent: one real regiond and one real nodeagent on 127.0.0.1
 * (tests/e2e/cluster.h starts the server; this file starts the agent from
 * $CARAVAN_NODEAGENT with raw_exec enabled and a data dir in the cluster's
 * temporary directory). Jobs go in over the HTTP API.
 *
 *   batch:     a raw_exec shell script writes $NOMAD_TASK_DIR/out; its
 *              allocation is seen running or complete, then complete, and
 *              the file is in the agent's data dir;
 *   stop:      a service job's `sleep` runs; DELETE /v1/job/:id stops it:
 *              the process is gone (ESRCH) and the allocation complete;
 *   reattach:  kill -9 of the agent while a `sleep` runs; the agent restarted
 *              on the same data dir reattaches: the same pid runs, exactly
 *              one such process exists, the allocation is still running;
 *   logs:      a raw_exec task's stdout and stderr are read back from the
 *              agent's HTTP API (GET /v1/client/fs/logs/..., whole and
 *              tail, 404/400 errors) and with `caravan alloc logs`
 *              ($CARAVAN_CLI), followed too;
 *   sigterm:   SIGTERM stops the agent with status 0 and leaves the task
 *              running (the test then kills it by pid).
 *
 * Every wait polls with a deadline; whatever was started is killed by pid at
 * the end (CARAVAN_E2E_KEEP=1 keeps the directory and the logs).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent_procs.h"
#include "cluster.h"
#include "common/json.h"

#define WAIT_MS  20000
#define MAX_PIDS 8

struct world
{
    struct e2e_cluster c;
    pid_t agent;
    char agent_bin[512];
    char data_dir[600];
    char log_path[600];
    char config_path[600];
    char node_id[64];
    pid_t tasks[MAX_PIDS]; /* task processes to kill at the end */
    size_t n_tasks;
    long sleep_secs; /* unique per run, to count our own `sleep` processes */
    int dead_port;   /* a server address where nothing listens */
    int http_port;   /* the agent's HTTP API */
    char cli_bin[512];
};

static struct world W;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void dump_agent_log(void)
{
    FILE *f = fopen(W.log_path, "r");
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
    fprintf(stderr, "---- nodeagent log (tail) ----\n%s\n----\n", buf);
}

static void fail_with_logs(const char *what)
{
    dump_agent_log();
    e2e_server_dump_log(&W.c, 0);
    fail_msg("%s", what);
}

/* ---- the agent process ---------------------------------------------------------- */

static pid_t agent_start(void)
{
    /* A dead address first: registration has to fail over. */
    char servers[64], http_port[16];
    snprintf(http_port, sizeof http_port, "%d", W.http_port);
    snprintf(servers, sizeof servers, "127.0.0.1:%d,127.0.0.1:%d", W.dead_port,
             W.c.servers[0].rpc_port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(W.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(W.agent_bin, W.agent_bin, "-config", W.config_path, "-servers", servers, "-data-dir",
              W.data_dir, "-dc", "dc1", "-log-level", "debug", "-http-port", http_port,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Sends sig and waits (15 s at most); returns the exit status, 128+signal,
 * or -1. */
static int agent_stop(int sig)
{
    if (W.agent <= 0) {
        return -1;
    }
    kill(W.agent, sig);
    long long deadline = e2e_now_ms() + 15000;
    int status = 0;
    while (e2e_now_ms() < deadline) {
        pid_t r = waitpid(W.agent, &status, WNOHANG);
        if (r == W.agent) {
            W.agent = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(20);
    }
    kill(W.agent, SIGKILL);
    waitpid(W.agent, &status, 0);
    W.agent = 0;
    return -1;
}

/* How many times the agent's log says `text` (its last 1 MiB). */
static int log_count(const char *text)
{
    char *buf = calloc(1, 1 << 20);
    FILE *f = fopen(W.log_path, "r");
    int n = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size > (1 << 20) - 1 ? size - (1 << 20) + 1 : 0, SEEK_SET);
        size_t len = fread(buf, 1, (1 << 20) - 1, f);
        buf[len] = '\0';
        fclose(f);
        for (const char *p = buf; (p = strstr(p, text)) != NULL; p++) {
            n++;
        }
    }
    free(buf);
    return n;
}

/* Restarts the agent and waits until it has registered again. */
static void agent_restart_registered(void)
{
    int before = log_count("info agent registered");
    W.agent = agent_start();
    assert_true(W.agent > 0);
    long long deadline = e2e_now_ms() + WAIT_MS;
    while (log_count("info agent registered") == before && e2e_now_ms() < deadline) {
        sleep_ms(50);
    }
    if (log_count("info agent registered") == before) {
        fail_with_logs("the restarted agent did not register");
    }
}

/* ---- HTTP and JSON -------------------------------------------------------------- */

static struct cv_json_doc *get_json(const char *path)
{
    struct e2e_response r;
    if (e2e_http(W.c.servers[0].http_port, "GET", path, NULL, 5000, &r) != 0) {
        return NULL;
    }
    struct cv_json_doc *doc = NULL;
    if (r.status != 200 || cv_json_parse(r.body, strlen(r.body), NULL, &doc, NULL) != 0) {
        doc = NULL;
    }
    e2e_response_free(&r);
    return doc;
}

static bool node_ready(void)
{
    struct cv_json_doc *doc = get_json("/v1/nodes");
    bool ready = false;
    const struct cv_json *list = doc ? cv_json_doc_root(doc) : NULL;
    for (size_t i = 0; list && list->type == CV_JSON_ARRAY && i < list->u.array.len; i++) {
        const struct cv_json *n = list->u.array.items[i];
        if (strcmp(e2e_jstr(n, "ID"), W.node_id) == 0 &&
            strcmp(e2e_jstr(n, "Status"), "ready") == 0) {
            ready = true;
        }
    }
    cv_json_doc_free(doc);
    return ready;
}

static void wait_node_ready(void)
{
    long long deadline = e2e_now_ms() + WAIT_MS;
    while (e2e_now_ms() < deadline) {
        char text[256];
        char path[700];
        snprintf(path, sizeof path, "%s/node-id", W.data_dir);
        if (!W.node_id[0] && e2e_read_file(path, text, sizeof text)) {
            const char *p = strstr(text, "\"ID\": \"");
            if (p) {
                snprintf(W.node_id, sizeof W.node_id, "%.36s", p + 7);
            }
        }
        if (W.node_id[0] && node_ready()) {
            return;
        }
        sleep_ms(100);
    }
    fail_with_logs("the agent's node did not become ready");
}

static void submit_job(const char *id, const char *type, const char *command, const char *args)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"Job\": {\"ID\": \"%s\", \"Name\": \"%s\", \"Type\": \"%s\","
             " \"Datacenters\": [\"dc1\"], \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 1,"
             " \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\","
             " \"Config\": {\"command\": \"%s\", \"args\": %s},"
             " \"KillTimeout\": 2000000000,"
             " \"Resources\": {\"CPU\": 100, \"MemoryMB\": 32}}]}]}}",
             id, id, type, command, args);
    struct e2e_response r;
    assert_int_equal(e2e_http(W.c.servers[0].http_port, "POST", "/v1/jobs", body, 5000, &r), 0);
    if (r.status != 200) {
        fprintf(stderr, "POST /v1/jobs: %d %s\n", r.status, r.body);
    }
    assert_int_equal(r.status, 200);
    e2e_response_free(&r);
}

struct alloc_view
{
    char id[64];
    char client_status[32];
    char desired_status[32];
};

/* The job's first allocation; false when it has none yet. */
static bool job_alloc(const char *job, struct alloc_view *out)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/job/%s/allocations", job);
    struct cv_json_doc *doc = get_json(path);
    const struct cv_json *list = doc ? cv_json_doc_root(doc) : NULL;
    bool found = false;
    if (list && list->type == CV_JSON_ARRAY && list->u.array.len > 0) {
        const struct cv_json *a = list->u.array.items[0];
        snprintf(out->id, sizeof out->id, "%s", e2e_jstr(a, "ID"));
        snprintf(out->client_status, sizeof out->client_status, "%s", e2e_jstr(a, "ClientStatus"));
        snprintf(out->desired_status, sizeof out->desired_status, "%s",
                 e2e_jstr(a, "DesiredStatus"));
        found = true;
    }
    cv_json_doc_free(doc);
    return found;
}

/* Waits until the job's allocation has `status`; records every status
 * seen into seen (comma-separated). */
static void wait_alloc_status(const char *job, const char *status, struct alloc_view *out,
                              char *seen, size_t seen_size)
{
    long long deadline = e2e_now_ms() + WAIT_MS;
    if (seen) {
        seen[0] = '\0';
    }
    while (e2e_now_ms() < deadline) {
        if (job_alloc(job, out)) {
            if (seen && !strstr(seen, out->client_status)) {
                size_t l = strlen(seen);
                snprintf(seen + l, seen_size - l, "%s,", out->client_status);
            }
            if (strcmp(out->client_status, status) == 0) {
                return;
            }
        }
        sleep_ms(50);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "job %s: allocation not %s (last: \"%s\")", job, status,
             out->client_status);
    fail_with_logs(msg);
}

/* The pid the task runner persisted for task t of the allocation. */
static pid_t task_pid(const char *alloc_id)
{
    return e2e_task_pid(W.data_dir, alloc_id, "t");
}

static void remember_task(pid_t pid)
{
    if (pid > 0 && W.n_tasks < MAX_PIDS) {
        W.tasks[W.n_tasks++] = pid;
    }
}

/* Processes whose command line is exactly `sleep <W.sleep_secs>`; their
 * pids go to pids[0..max) when given. */
static int find_sleeps(pid_t *pids, int max)
{
    return e2e_find_sleeps(W.sleep_secs, pids, max);
}

static int count_sleeps(void)
{
    return find_sleeps(NULL, 0);
}

/* ---- the tests ------------------------------------------------------------------- */

static void test_batch_job(void **state)
{
    (void)state;
    submit_job("batch1", "batch", "/bin/sh",
               "[\"-c\", \"echo hello > \\\"$NOMAD_TASK_DIR/out\\\"; echo done\"]");
    struct alloc_view a;
    char seen[128];
    wait_alloc_status("batch1", "complete", &a, seen, sizeof seen);
    fprintf(stderr, "batch1: statuses seen %s\n", seen);
    char path[800], text[64];
    snprintf(path, sizeof path, "%s/alloc/%s/t/local/out", W.data_dir, a.id);
    if (!e2e_read_file(path, text, sizeof text)) {
        fail_with_logs("the batch task's file is missing");
    }
    assert_string_equal(text, "hello\n");
}

/* Runs `caravan -address <server> alloc logs args...`; its stdout into out
 * (size bytes); returns its exit status or -1. */
static int run_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3)
{
    if (!W.cli_bin[0]) {
        return -1;
    }
    int p[2];
    if (pipe(p) != 0) {
        return -1;
    }
    char addr[64];
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d", W.c.servers[0].http_port);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(W.cli_bin, W.cli_bin, "alloc", "logs", "-address", addr, a1, a2, a3, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0) {
        len += (size_t)n;
    }
    out[len] = '\0';
    close(p[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* GET path from the agent's HTTP API: the status, the body into out. */
static int agent_get(const char *path, char *out, size_t size)
{
    struct e2e_response r;
    if (e2e_http(W.http_port, "GET", path, NULL, 5000, &r) != 0) {
        return -1;
    }
    snprintf(out, size, "%s", r.body);
    int status = r.status;
    e2e_response_free(&r);
    return status;
}

static void test_alloc_logs(void **state)
{
    (void)state;
    submit_job("logs1", "batch", "/bin/sh", "[\"-c\", \"echo line1; echo line2; echo oops >&2\"]");
    struct alloc_view a;
    wait_alloc_status("logs1", "complete", &a, NULL, 0);
    char path[256], body[4096];
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=t&type=stdout", a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 200);
    assert_string_equal(body, "line1\nline2\n");
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=t&type=stderr", a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 200);
    assert_string_equal(body, "oops\n");
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=t&type=stdout&origin=end&offset=6",
             a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 200);
    assert_string_equal(body, "line2\n");
    /* follow on a dead task: everything, then the end */
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=t&type=stdout&follow=true", a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 200);
    assert_non_null(strstr(body, "line1\nline2\n"));
    /* errors */
    assert_int_equal(agent_get("/v1/client/fs/logs/00000000-0000-0000-0000-000000000000"
                               "?task=t&type=stdout",
                               body, sizeof body),
                     404);
    assert_string_equal(body, "unknown allocation\n");
    assert_int_equal(agent_get("/v1/client/fs/logs/..%2F..?task=t&type=stdout", body, sizeof body),
                     404);
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=..&type=stdout", a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 404);
    snprintf(path, sizeof path, "/v1/client/fs/logs/%s?task=t&type=stdin", a.id);
    assert_int_equal(agent_get(path, body, sizeof body), 400);

    /* the CLI: by prefix, the only task by default, stderr, tail, follow */
    if (!W.cli_bin[0]) {
        skip();
    }
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.8s", a.id);
    assert_int_equal(run_cli(body, sizeof body, prefix, NULL, NULL), 0);
    assert_string_equal(body, "line1\nline2\n");
    assert_int_equal(run_cli(body, sizeof body, "-stderr", a.id, "t"), 0);
    assert_string_equal(body, "oops\n");
    assert_int_equal(run_cli(body, sizeof body, "-tail", "-c=6", a.id), 0);
    assert_string_equal(body, "line2\n");
    assert_int_equal(run_cli(body, sizeof body, "-f", a.id, NULL), 0);
    assert_string_equal(body, "line1\nline2\n");
    assert_int_equal(run_cli(body, sizeof body, a.id, "nosuchtask", NULL), 1);
    assert_int_equal(run_cli(body, sizeof body, "zz", NULL, NULL), 1);

    /* -f on a running task: the lines as they come, the end once it died */
    submit_job("logs2", "batch", "/bin/sh",
               "[\"-c\", \"for i in 1 2 3 4 5; do echo n$i; sleep 0.2; done\"]");
    wait_alloc_status("logs2", "running", &a, NULL, 0);
    assert_int_equal(run_cli(body, sizeof body, "-f", a.id, NULL), 0);
    assert_string_equal(body, "n1\nn2\nn3\nn4\nn5\n");
}

static void test_stop_service_job(void **state)
{
    (void)state;
    char args[64];
    snprintf(args, sizeof args, "[\"%ld\"]", W.sleep_secs);
    submit_job("svc1", "service", "/bin/sleep", args);
    struct alloc_view a;
    wait_alloc_status("svc1", "running", &a, NULL, 0);
    pid_t pid = task_pid(a.id);
    assert_true(pid > 0);
    remember_task(pid);
    assert_true(e2e_alive(pid));
    struct e2e_response r;
    assert_int_equal(e2e_http(W.c.servers[0].http_port, "DELETE", "/v1/job/svc1", NULL, 5000, &r),
                     0);
    assert_int_equal(r.status, 200);
    e2e_response_free(&r);
    wait_alloc_status("svc1", "complete", &a, NULL, 0);
    long long deadline = e2e_now_ms() + WAIT_MS;
    while (e2e_alive(pid) && e2e_now_ms() < deadline) {
        sleep_ms(20);
    }
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_string_equal(a.desired_status, "stop");
}

static void test_reattach_after_kill9(void **state)
{
    (void)state;
    char args[64];
    snprintf(args, sizeof args, "[\"%ld\"]", W.sleep_secs);
    submit_job("svc2", "service", "/bin/sleep", args);
    struct alloc_view a;
    wait_alloc_status("svc2", "running", &a, NULL, 0);
    pid_t pid = task_pid(a.id);
    assert_true(pid > 0);
    remember_task(pid);
    assert_int_equal(count_sleeps(), 1);

    assert_int_equal(agent_stop(SIGKILL), 128 + SIGKILL);
    assert_true(e2e_alive(pid)); /* the task outlives its agent */
    agent_restart_registered();
    if (log_count("reattached to task") < 1) {
        fail_with_logs("the restarted agent did not reattach");
    }
    wait_node_ready();
    /* Give a task started twice the time to show up: a few watch rounds. */
    sleep_ms(1500);
    assert_true(e2e_alive(pid));
    assert_int_equal(task_pid(a.id), pid);
    assert_int_equal(count_sleeps(), 1);
    struct alloc_view b;
    assert_true(job_alloc("svc2", &b));
    assert_string_equal(b.id, a.id);
    assert_string_equal(b.client_status, "running");
}

static void test_sigterm_leaves_tasks(void **state)
{
    (void)state;
    struct alloc_view a;
    assert_true(job_alloc("svc2", &a));
    pid_t pid = task_pid(a.id);
    assert_true(pid > 0 && e2e_alive(pid));
    assert_int_equal(agent_stop(SIGTERM), 0);
    sleep_ms(200);
    assert_true(e2e_alive(pid));
    assert_int_equal(count_sleeps(), 1);
}

/* Whether the allocation's task t has an event of `type`, as the servers
 * have it. */
static bool server_has_event(const char *alloc_id, const char *type)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/allocation/%s", alloc_id);
    struct cv_json_doc *doc = get_json(path);
    const struct cv_json *ts = doc ? cv_json_object_get(cv_json_doc_root(doc), "TaskStates") : NULL;
    const struct cv_json *t = ts ? cv_json_object_get(ts, "t") : NULL;
    const struct cv_json *evs = t ? cv_json_object_get(t, "Events") : NULL;
    bool found = false;
    for (size_t i = 0; evs && evs->type == CV_JSON_ARRAY && i < evs->u.array.len; i++) {
        found = found || strcmp(e2e_jstr(evs->u.array.items[i], "Type"), type) == 0;
    }
    cv_json_doc_free(doc);
    return found;
}

/* A status change made while the only server is down reaches it once it is
 * back: the agent keeps its updates until a call succeeds. */
static void test_server_restart_keeps_updates(void **state)
{
    (void)state;
    agent_restart_registered();
    struct alloc_view a;
    assert_true(job_alloc("svc2", &a));
    pid_t pid = task_pid(a.id);
    assert_true(pid > 0 && e2e_alive(pid));
    assert_false(server_has_event(a.id, "Terminated"));

    assert_true(e2e_server_stop(&W.c, 0, SIGKILL) >= -1);
    kill(pid, SIGKILL);
    /* The agent notices (its task file says so) while no server answers. */
    char path[800], *text = calloc(1, 1 << 20);
    snprintf(path, sizeof path, "%s/allocs/%s/t.json", W.data_dir, a.id);
    long long deadline = e2e_now_ms() + WAIT_MS;
    bool noticed = false;
    while (!noticed && e2e_now_ms() < deadline) {
        noticed = e2e_read_file(path, text, 1 << 20) && strstr(text, "\"Terminated\"") != NULL;
        sleep_ms(20);
    }
    free(text);
    if (!noticed) {
        fail_with_logs("the agent did not record the task's death");
    }
    sleep_ms(500); /* a few failed update rounds */
    assert_int_equal(e2e_server_start(&W.c, 0), 0);
    assert_true(e2e_wait_leader(&W.c, WAIT_MS) >= 0);
    deadline = e2e_now_ms() + WAIT_MS;
    while (!server_has_event(a.id, "Terminated") && e2e_now_ms() < deadline) {
        sleep_ms(100);
    }
    if (!server_has_event(a.id, "Terminated")) {
        fail_with_logs("the task's death never reached the restarted server");
    }
}

/* ---- set-up ---------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    const char *bin = getenv("CARAVAN_NODEAGENT");
    if (!bin) {
        fprintf(stderr, "e2e: set CARAVAN_NODEAGENT to the nodeagent binary\n");
        return -1;
    }
    snprintf(W.agent_bin, sizeof W.agent_bin, "%s", bin);
    W.sleep_secs = 300000 + (long)(getpid() % 100000);
    W.dead_port = e2e_free_port(SOCK_STREAM);
    W.http_port = e2e_free_port(SOCK_STREAM);
    const char *cli = getenv("CARAVAN_CLI");
    snprintf(W.cli_bin, sizeof W.cli_bin, "%s", cli ? cli : "");
    if (e2e_cluster_init(&W.c, 1) != 0 || e2e_server_start(&W.c, 0) != 0) {
        return -1;
    }
    if (e2e_wait_leader(&W.c, WAIT_MS) < 0) {
        e2e_server_dump_log(&W.c, 0);
        return -1;
    }
    snprintf(W.data_dir, sizeof W.data_dir, "%s/agent", W.c.dir);
    snprintf(W.log_path, sizeof W.log_path, "%s/agent.log", W.c.dir);
    snprintf(W.config_path, sizeof W.config_path, "%s/agent.json", W.c.dir);
    FILE *f = fopen(W.config_path, "w");
    if (!f) {
        return -1;
    }
    fputs(
        "{\"drivers\": {\"raw_exec\": {\"enabled\": true}, \"mock\": {\"enabled\": true}},"
        " \"name\": \"e2e-agent\", \"meta\": {\"test\": \"nodeagent\"}}\n",
        f);
    fclose(f);
    W.agent = agent_start();
    if (W.agent <= 0) {
        return -1;
    }
    wait_node_ready();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agent_stop(SIGKILL);
    for (size_t i = 0; i < W.n_tasks; i++) {
        if (W.tasks[i] > 0) {
            kill(W.tasks[i], SIGKILL);
        }
    }
    /* A task the agent restarted after the test killed its first process. */
    pid_t more[MAX_PIDS];
    int n = find_sleeps(more, MAX_PIDS);
    for (int i = 0; i < n && i < MAX_PIDS; i++) {
        kill(more[i], SIGKILL);
    }
    e2e_cluster_destroy(&W.c);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_job),
        cmocka_unit_test(test_alloc_logs),
        cmocka_unit_test(test_stop_service_job),
        cmocka_unit_test(test_reattach_after_kill9),
        cmocka_unit_test(test_sigterm_leaves_tasks),
        cmocka_unit_test(test_server_restart_keeps_updates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
