/*
 * alloc_logs: `caravan alloc logs`, a task's stdout or stderr.
 *
 * The logs live on the node that runs the allocation, so the command asks
 * three parties: the server for the allocation (an ID or a prefix) and its
 * task names, the server again for the node's HTTPAddr, and then that
 * node's agent (GET /v1/client/fs/logs/<alloc>, docs/nodeagent.md), whose
 * plain-text answer is copied to stdout as it arrives. -f keeps reading
 * until the task is dead and its log drained, or the command is stopped.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "common/buf.h"
#include "common/mem.h"

#define MAX_TASKS 64
/* A followed log may stay silent for long: this bounds one silence. */
#define FOLLOW_TIMEOUT_MS (24 * 3600 * 1000)

static const char alloc_logs_usage[] =
    "Usage: caravan alloc logs [options] <allocation> [<task>]\n"
    "\n"
    "  Prints a task's stdout (or stderr), read from the agent of the node that\n"
    "  runs the allocation (its HTTPAddr). The task may be left out when the\n"
    "  allocation's group has only one.\n"
    "\n"
    "Logs Options:\n"
    "  -stderr     Print the task's stderr instead of its stdout.\n"
    "  -f          Follow: keep printing what the task writes until it is dead.\n"
    "  -tail       Print only the end of the log: the last -c bytes.\n"
    "  -c <bytes>  With -tail, how many bytes (default 10240).\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static void to_stdout(const void *data, size_t len, void *arg)
{
    (void)arg;
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

/* The task names of the allocation's group into names; returns how many. */
static size_t group_tasks(const struct cv_json *alloc, const char **names, size_t max)
{
    const char *group = cli_jstr(alloc, "TaskGroup");
    const struct cv_json *groups = cli_jget(cli_jget(alloc, "Job"), "TaskGroups");
    size_t n = 0;
    for (size_t i = 0; i < cli_jlen(groups); i++) {
        const struct cv_json *g = groups->u.array.items[i];
        if (strcmp(cli_jstr(g, "Name"), group) != 0) {
            continue;
        }
        const struct cv_json *tasks = cli_jget(g, "Tasks");
        for (size_t k = 0; k < cli_jlen(tasks) && n < max; k++) {
            names[n++] = cli_jstr(tasks->u.array.items[k], "Name");
        }
    }
    return n;
}

static void print_tasks(const char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
    }
    fprintf(stderr, "\n");
}

/* Picks the task: the one named (it must be in the group) or the group's
 * only one. Prints the error and returns NULL otherwise. */
static const char *pick_task(const struct cv_json *alloc, const char *wanted)
{
    const char *names[MAX_TASKS];
    size_t n = group_tasks(alloc, names, MAX_TASKS);
    if (wanted) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(names[i], wanted) == 0) {
                return wanted;
            }
        }
        if (n == 0) {
            return wanted; /* no job in the answer: the agent will judge */
        }
        fprintf(stderr, "Error: task \"%s\" is not in allocation %s; its tasks: ", wanted,
                cli_jstr(alloc, "ID"));
        print_tasks(names, n);
        return NULL;
    }
    if (n == 1) {
        return names[0];
    }
    if (n == 0) {
        fprintf(stderr, "Error: allocation %s has no tasks\n", cli_jstr(alloc, "ID"));
        return NULL;
    }
    fprintf(stderr, "Error: allocation %s has several tasks, name one: ", cli_jstr(alloc, "ID"));
    print_tasks(names, n);
    return NULL;
}

/* Points agent at the node's HTTPAddr ("host:port"). */
static int agent_ctx(const struct cli_ctx *ctx, const char *node_id, const char *addr,
                     struct cli_ctx *agent)
{
    *agent = *ctx;
    agent->region = NULL;
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!addr[0] || !colon || colon == addr || (size_t)(colon - addr) >= sizeof agent->host ||
        *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "Error: node %s has no usable HTTP address (HTTPAddr \"%s\")\n", node_id,
                addr);
        return -1;
    }
    snprintf(agent->host, sizeof agent->host, "%.*s", (int)(colon - addr), addr);
    agent->port = (int)port;
    return 0;
}

static int read_logs(const struct cli_ctx *agent, const char *path, bool follow)
{
    struct cli_http_resp resp;
    struct cv_err err = {0};
    int rc = cli_http_stream(agent, path, follow ? FOLLOW_TIMEOUT_MS : CLI_API_TIMEOUT_MS,
                             to_stdout, NULL, &resp, &err);
    if (rc != 0) {
        fprintf(stderr, "Error reading logs: %s\n", err.msg);
        return CLI_EXIT_FAILURE;
    }
    int code = CLI_EXIT_OK;
    if (resp.status < 200 || resp.status > 299) {
        char *nl = resp.body ? strchr(resp.body, '\n') : NULL;
        if (nl) {
            *nl = '\0';
        }
        fprintf(stderr, "Error reading logs: Unexpected response code: %d (%s)\n", resp.status,
                resp.body ? resp.body : "");
        code = CLI_EXIT_FAILURE;
    } else if (resp.len > 0) {
        to_stdout(resp.body, resp.len, NULL);
    }
    cli_http_resp_free(&resp);
    return code;
}

int cli_alloc_logs(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool use_stderr = false, follow = false, tail = false;
    int64_t bytes = -1;
    const struct cli_flag flags[] = {
        {"stderr", CLI_FLAG_BOOL, &use_stderr},
        {"f", CLI_FLAG_BOOL, &follow},
        {"tail", CLI_FLAG_BOOL, &tail},
        {"c", CLI_FLAG_INT, &bytes},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    const char *prefix = "caravan alloc logs";
    int code;
    int first = cli_parse_flags(prefix, alloc_logs_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first < 1 || argc - first > 2) {
        return cli_usage_error(prefix, alloc_logs_usage,
                               "expected an allocation ID and optionally a task");
    }
    if (bytes != -1 && (!tail || bytes < 0)) {
        return cli_usage_error(prefix, alloc_logs_usage,
                               tail ? "-c must not be negative" : "-c needs -tail");
    }
    char id[128];
    if (cli_resolve_prefix(&ctx, "allocation", "/v1/allocations", "/v1/allocation", argv[first], id,
                           sizeof id) != 0) {
        return CLI_EXIT_FAILURE;
    }
    struct cv_buf path = CV_BUF_INIT;
    char *esc = cli_http_escape(id);
    cv_buf_appendf(&path, "/v1/allocation/%s", esc);
    cv_free(esc);
    struct cli_reply alloc, node;
    int rc = cli_api_get(&ctx, "querying allocation", cv_buf_str(&path), &alloc);
    cv_buf_free(&path);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    code = CLI_EXIT_FAILURE;
    const char *task = pick_task(alloc.root, argc - first == 2 ? argv[first + 1] : NULL);
    if (!task) {
        goto out_alloc;
    }
    const char *node_id = cli_jstr(alloc.root, "NodeID");
    if (!node_id[0]) {
        fprintf(stderr, "Error: allocation %s is not placed on a node\n", id);
        goto out_alloc;
    }
    esc = cli_http_escape(node_id);
    cv_buf_appendf(&path, "/v1/node/%s", esc);
    cv_free(esc);
    rc = cli_api_get(&ctx, "querying node", cv_buf_str(&path), &node);
    cv_buf_free(&path);
    if (rc != 0) {
        goto out_alloc;
    }
    struct cli_ctx agent;
    if (agent_ctx(&ctx, node_id, cli_jstr(node.root, "HTTPAddr"), &agent) == 0) {
        char *eid = cli_http_escape(id);
        char *etask = cli_http_escape(task);
        cv_buf_appendf(&path, "/v1/client/fs/logs/%s?task=%s&type=%s", eid, etask,
                       use_stderr ? "stderr" : "stdout");
        if (tail) {
            cv_buf_appendf(&path, "&origin=end&offset=%" PRId64, bytes < 0 ? 10240 : bytes);
        }
        if (follow) {
            cv_buf_append_str(&path, "&follow=true");
        }
        cv_free(eid);
        cv_free(etask);
        code = read_logs(&agent, cv_buf_str(&path), follow);
        cv_buf_free(&path);
    }
    cli_reply_free(&node);
out_alloc:
    cli_reply_free(&alloc);
    return code;
}
