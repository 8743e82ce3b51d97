/*
 * test_node_loss: one real regiond and two real nodeagents on 127.0.0.1
 * (tests/e2e/cluster.h starts the server, with heartbeat.min_ttl_s 1 and
 * heartbeat.grace_s 1 so a silent node is noticed within seconds; this file
 * starts the agents from $CARAVAN_NODEAGENT, each with its own data dir and
 * name, raw_exec enabled).
 *
 *   node loss: a service job of count 1 runs `sleep` on one node; kill -9 of
 *              that node's agent (its task keeps running, orphaned) makes
 *              the leader mark the node down, the allocation lost, and
 *              place a new allocation, which runs on the other node;
 *              DELETE /v1/job/:id then stops the new task (process gone).
 *
 * Every wait polls with a deadline; whatever was started is killed by pid at
 * the end (CARAVAN_E2E_KEEP=1 keeps the directory and the logs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define WAIT_MS      20000
#define LOSS_WAIT_MS 60000
#define N_AGENTS     2
#define MAX_PIDS     8

struct agent
{
    pid_t pid;
    char name[32];
    char data_dir[600];
    char log_path[600];
    char node_id[64];
    int http_port; /* each agent its own: two on one host */
};

struct world
{
    struct e2e_cluster c;
    char agent_bin[512];
    char config_path[600];
    struct agent agents[N_AGENTS];
    pid_t tasks[MAX_PIDS]; /* task processes to kill at the end */
    size_t n_tasks;
    long sleep_secs; /* unique per run, to find our own `sleep` processes */
};

static struct world W;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void dump_agent_log(const struct agent *a)
{
    FILE *f = fopen(a->log_path, "r");
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
    fprintf(stderr, "---- nodeagent %s log (tail) ----\n%s\n----\n", a->name, buf);
}

static void fail_with_logs(const char *what)
{
    for (size_t i = 0; i < N_AGENTS; i++) {
        dump_agent_log(&W.agents[i]);
    }
    e2e_server_dump_log(&W.c, 0);
    fail_msg("%s", what);
}

/* ---- the agent processes -------------------------------------------------------- */

static pid_t agent_start(const struct agent *a)
{
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", W.c.servers[0].rpc_port);
    char http_port[16];
    snprintf(http_port, sizeof http_port, "%d", a->http_port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(a->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(W.agent_bin, W.agent_bin, "-config", W.config_path, "-servers", servers, "-data-dir",
              a->data_dir, "-name", a->name, "-dc", "dc1", "-log-level", "debug", "-http-port",
              http_port, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Sends sig and waits (15 s at most); returns the exit status, 128+signal,
 * or -1. */
static int agent_stop(struct agent *a, int sig)
{
    if (a->pid <= 0) {
        return -1;
    }
    kill(a->pid, sig);
    long long deadline = e2e_now_ms() + 15000;
    int status = 0;
    while (e2e_now_ms() < deadline) {
        pid_t r = waitpid(a->pid, &status, WNOHANG);
        if (r == a->pid) {
            a->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(20);
    }
    kill(a->pid, SIGKILL);
    waitpid(a->pid, &status, 0);
    a->pid = 0;
    return -1;
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

/* The node's Status as the server lists it into out ("" when absent). */
static void node_status(const char *node_id, char *out, size_t size)
{
    struct cv_json_doc *doc = get_json("/v1/nodes");
    const struct cv_json *list = doc ? cv_json_doc_root(doc) : NULL;
    out[0] = '\0';
    for (size_t i = 0; list && list->type == CV_JSON_ARRAY && i < list->u.array.len; i++) {
        const struct cv_json *n = list->u.array.items[i];
        if (strcmp(e2e_jstr(n, "ID"), node_id) == 0) {
            snprintf(out, size, "%s", e2e_jstr(n, "Status"));
        }
    }
    cv_json_doc_free(doc);
}

static void wait_nodes_ready(void)
{
    long long deadline = e2e_now_ms() + WAIT_MS;
    while (e2e_now_ms() < deadline) {
        size_t ready = 0;
        for (size_t i = 0; i < N_AGENTS; i++) {
            struct agent *a = &W.agents[i];
            char text[256], path[700], status[32];
            snprintf(path, sizeof path, "%s/node-id", a->data_dir);
            if (!a->node_id[0] && e2e_read_file(path, text, sizeof text)) {
                const char *p = strstr(text, "\"ID\": \"");
                if (p) {
                    snprintf(a->node_id, sizeof a->node_id, "%.36s", p + 7);
                }
            }
            if (a->node_id[0]) {
                node_status(a->node_id, status, sizeof status);
                ready += strcmp(status, "ready") == 0;
            }
        }
        if (ready == N_AGENTS) {
            return;
        }
        sleep_ms(100);
    }
    fail_with_logs("the agents' nodes did not become ready");
}

static void submit_service_job(const char *id)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"Job\": {\"ID\": \"%s\", \"Name\": \"%s\", \"Type\": \"service\","
             " \"Datacenters\": [\"dc1\"], \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 1,"
             " \"Tasks\": [{\"Name\": \"t\", \"Driver\": \"raw_exec\","
             " \"Config\": {\"command\": \"/bin/sleep\", \"args\": [\"%ld\"]},"
             " \"KillTimeout\": 2000000000,"
             " \"Resources\": {\"CPU\": 100, \"MemoryMB\": 32}}]}]}}",
             id, id, W.sleep_secs);
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
    char node_id[64];
    char client_status[32];
    char desired_status[32];
};

/* The job's allocations (at most max) into out; their number, or -1 when
 * the server did not answer. */
static int job_allocs(const char *job, struct alloc_view *out, int max)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/job/%s/allocations", job);
    struct cv_json_doc *doc = get_json(path);
    const struct cv_json *list = doc ? cv_json_doc_root(doc) : NULL;
    int n = -1;
    if (list && list->type == CV_JSON_ARRAY) {
        n = 0;
        for (size_t i = 0; i < list->u.array.len && n < max; i++, n++) {
            const struct cv_json *a = list->u.array.items[i];
            struct alloc_view *v = &out[n];
            snprintf(v->id, sizeof v->id, "%s", e2e_jstr(a, "ID"));
            snprintf(v->node_id, sizeof v->node_id, "%s", e2e_jstr(a, "NodeID"));
            snprintf(v->client_status, sizeof v->client_status, "%s", e2e_jstr(a, "ClientStatus"));
            snprintf(v->desired_status, sizeof v->desired_status, "%s",
                     e2e_jstr(a, "DesiredStatus"));
        }
    }
    cv_json_doc_free(doc);
    return n;
}

/* The pid the task runner of `a` persisted for task t of the allocation. */
static pid_t task_pid(const struct agent *a, const char *alloc_id)
{
    return e2e_task_pid(a->data_dir, alloc_id, "t");
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

static int agent_of_node(const char *node_id)
{
    for (int i = 0; i < N_AGENTS; i++) {
        if (strcmp(W.agents[i].node_id, node_id) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- the test -------------------------------------------------------------------- */

static void test_node_loss_replaces_alloc(void **state)
{
    (void)state;
    const char *job = "lost1";
    submit_service_job(job);

    /* The allocation runs on one of the two nodes. */
    struct alloc_view allocs[8], first = {0};
    long long deadline = e2e_now_ms() + WAIT_MS;
    bool running = false;
    while (!running && e2e_now_ms() < deadline) {
        int n = job_allocs(job, allocs, 8);
        if (n == 1 && strcmp(allocs[0].client_status, "running") == 0) {
            first = allocs[0];
            running = true;
        } else {
            sleep_ms(50);
        }
    }
    if (!running) {
        fail_with_logs("the job's allocation did not run");
    }
    int lost = agent_of_node(first.node_id);
    assert_true(lost >= 0);
    int other = 1 - lost;
    struct agent *la = &W.agents[lost], *oa = &W.agents[other];
    fprintf(stderr, "node loss: alloc %s runs on %s (%s)\n", first.id, la->name, la->node_id);
    pid_t old_pid = 0;
    deadline = e2e_now_ms() + WAIT_MS;
    while ((old_pid = task_pid(la, first.id)) <= 0 && e2e_now_ms() < deadline) {
        sleep_ms(20);
    }
    assert_true(old_pid > 0);
    remember_task(old_pid);
    assert_true(e2e_alive(old_pid));

    /* kill -9 of that node's agent; its task is left running, orphaned. */
    assert_int_equal(agent_stop(la, SIGKILL), 128 + SIGKILL);
    assert_true(e2e_alive(old_pid));

    /* The node goes down, its allocation is lost, a new one runs elsewhere. */
    char status[32] = "", seen_node[128] = "";
    struct alloc_view old_view = first, repl = {0};
    bool down = false, old_lost = false, replaced = false;
    deadline = e2e_now_ms() + LOSS_WAIT_MS;
    while (!(down && old_lost && replaced) && e2e_now_ms() < deadline) {
        node_status(la->node_id, status, sizeof status);
        if (status[0] && !strstr(seen_node, status)) {
            size_t l = strlen(seen_node);
            snprintf(seen_node + l, sizeof seen_node - l, "%s,", status);
        }
        down = strcmp(status, "down") == 0;
        int n = job_allocs(job, allocs, 8);
        old_lost = replaced = false;
        for (int i = 0; i < n; i++) {
            if (strcmp(allocs[i].id, first.id) == 0) {
                old_view = allocs[i];
                old_lost = strcmp(allocs[i].client_status, "lost") == 0 ||
                           strcmp(allocs[i].desired_status, "stop") == 0;
            } else if (strcmp(allocs[i].client_status, "running") == 0 &&
                       strcmp(allocs[i].node_id, oa->node_id) == 0) {
                repl = allocs[i];
                replaced = true;
            }
        }
        if (!(down && old_lost && replaced)) {
            sleep_ms(200);
        }
    }
    fprintf(
        stderr, "node loss: node statuses seen %s; old alloc %s/%s; replacement %s on %s (%s)\n",
        seen_node, old_view.client_status, old_view.desired_status, repl.id[0] ? repl.id : "(none)",
        repl.node_id[0] ? repl.node_id : "-", repl.client_status[0] ? repl.client_status : "-");
    if (!down) {
        fail_with_logs("the killed agent's node was never marked down");
    }
    if (!old_lost) {
        fail_with_logs("the lost node's allocation was never marked lost or stopped");
    }
    if (!replaced) {
        fail_with_logs("the lost allocation was never replaced on the other node");
    }
    assert_string_equal(status, "down");
    assert_string_not_equal(repl.id, first.id);
    assert_string_equal(repl.node_id, oa->node_id);
    assert_string_equal(repl.client_status, "running");
    char other_status[32];
    node_status(oa->node_id, other_status, sizeof other_status);
    assert_string_equal(other_status, "ready");

    /* The orphan is the test's to clean up: no agent watches it any more. */
    kill(old_pid, SIGKILL);

    pid_t new_pid = 0;
    deadline = e2e_now_ms() + WAIT_MS;
    while ((new_pid = task_pid(oa, repl.id)) <= 0 && e2e_now_ms() < deadline) {
        sleep_ms(20);
    }
    assert_true(new_pid > 0);
    remember_task(new_pid);
    assert_true(new_pid != old_pid);
    assert_true(e2e_alive(new_pid));

    /* Stopping the job stops the replacement's task. */
    struct e2e_response r;
    char path[128];
    snprintf(path, sizeof path, "/v1/job/%s", job);
    assert_int_equal(e2e_http(W.c.servers[0].http_port, "DELETE", path, NULL, 5000, &r), 0);
    assert_int_equal(r.status, 200);
    e2e_response_free(&r);
    deadline = e2e_now_ms() + WAIT_MS;
    while (e2e_alive(new_pid) && e2e_now_ms() < deadline) {
        sleep_ms(20);
    }
    if (e2e_alive(new_pid)) {
        fail_with_logs("the replacement's task outlived the job's stop");
    }
    assert_int_equal(kill(new_pid, 0), -1);
    assert_int_equal(errno, ESRCH);
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
    if (e2e_cluster_init(&W.c, 1) != 0) {
        return -1;
    }
    snprintf(W.c.config_json, sizeof W.c.config_json,
             "{\"heartbeat\": {\"min_ttl_s\": 1, \"grace_s\": 1}}\n");
    if (e2e_server_start(&W.c, 0) != 0) {
        return -1;
    }
    if (e2e_wait_leader(&W.c, WAIT_MS) < 0) {
        e2e_server_dump_log(&W.c, 0);
        return -1;
    }
    snprintf(W.config_path, sizeof W.config_path, "%s/agent.json", W.c.dir);
    FILE *f = fopen(W.config_path, "w");
    if (!f) {
        return -1;
    }
    fputs(
        "{\"drivers\": {\"raw_exec\": {\"enabled\": true}}, \"meta\": {\"test\": \"node_loss\"}}\n",
        f);
    fclose(f);
    for (size_t i = 0; i < N_AGENTS; i++) {
        struct agent *a = &W.agents[i];
        snprintf(a->name, sizeof a->name, "loss-agent-%zu", i);
        snprintf(a->data_dir, sizeof a->data_dir, "%s/agent%zu", W.c.dir, i);
        snprintf(a->log_path, sizeof a->log_path, "%s/agent%zu.log", W.c.dir, i);
        a->http_port = e2e_free_port(SOCK_STREAM);
        if (a->http_port <= 0) {
            return -1;
        }
        a->pid = agent_start(a);
        if (a->pid <= 0) {
            return -1;
        }
    }
    wait_nodes_ready();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_AGENTS; i++) {
        agent_stop(&W.agents[i], SIGKILL);
    }
    for (size_t i = 0; i < W.n_tasks; i++) {
        if (W.tasks[i] > 0) {
            kill(W.tasks[i], SIGKILL);
        }
    }
    /* A task started that the test never saw the pid of. */
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
        cmocka_unit_test(test_node_loss_replaces_alloc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
