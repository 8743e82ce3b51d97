/*
 * node: `caravan node status|drain|eligibility`.
 *
 * Nodes are named by ID or a unique ID prefix (at least two characters),
 * looked up with /v1/nodes?prefix=. Drain and eligibility are writes the
 * leader applies; this command prints what was set. Caravan's servers do
 * not yet move allocations off a draining node, so `node drain` does not
 * monitor a drain to its end as Nomad's does: it sets the strategy and
 * returns (-detach is accepted and changes nothing).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "cli/table.h"
#include "common/buf.h"
#include "common/jsongen.h"
#include "common/mem.h"

/* Drivers detected and healthy, comma-separated, sorted. */
static void drivers(const struct cv_json *node, struct cv_buf *out)
{
    const struct cv_json *d = cli_jget(node, "Drivers");
    const char *names[64];
    size_t n = cli_sorted_keys(d, names, 64);
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *info = cli_jget(d, names[i]);
        if (cli_jbool(info, "Detected") && cli_jbool(info, "Healthy")) {
            cv_buf_appendf(out, "%s%s", out->len ? "," : "", names[i]);
        }
    }
}

static int node_list(const struct cli_ctx *ctx)
{
    struct cli_reply r;
    if (cli_api_get(ctx, "querying node status", "/v1/nodes", &r) != 0) {
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_OK;
    if (ctx->json) {
        rc = cli_print_json(r.root);
    } else if (cli_jlen(r.root) > 0) { /* Nomad prints nothing for no nodes */
        struct cli_table *t = cli_table_new("  ");
        cli_table_addf(
            t, ctx->verbose ? "ID|Node Pool|DC|Name|Class|Address|Version|Drain|Eligibility|Status"
                            : "ID|Node Pool|DC|Name|Class|Drain|Eligibility|Status");
        for (size_t i = 0; i < cli_jlen(r.root); i++) {
            const struct cv_json *n = r.root->u.array.items[i];
            char id[64];
            const char *cls = cli_jstr(n, "NodeClass");
            if (ctx->verbose) {
                cli_table_addf(t, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s",
                               cli_short_id(ctx, cli_jstr(n, "ID"), id), cli_jstr(n, "NodePool"),
                               cli_jstr(n, "Datacenter"), cli_jstr(n, "Name"),
                               cls[0] ? cls : "<none>", cli_jstr(n, "Address"),
                               cli_jstr(n, "Version"), cli_jbool(n, "Drain") ? "true" : "false",
                               cli_jstr(n, "SchedulingEligibility"), cli_jstr(n, "Status"));
            } else {
                cli_table_addf(t, "%s|%s|%s|%s|%s|%s|%s|%s",
                               cli_short_id(ctx, cli_jstr(n, "ID"), id), cli_jstr(n, "NodePool"),
                               cli_jstr(n, "Datacenter"), cli_jstr(n, "Name"),
                               cls[0] ? cls : "<none>", cli_jbool(n, "Drain") ? "true" : "false",
                               cli_jstr(n, "SchedulingEligibility"), cli_jstr(n, "Status"));
            }
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    cli_reply_free(&r);
    return rc;
}

static int node_show(const struct cli_ctx *ctx, const char *prefix)
{
    char id[128];
    if (cli_resolve_prefix(ctx, "node", "/v1/nodes", "/v1/node", prefix, id, sizeof id) != 0) {
        return CLI_EXIT_FAILURE;
    }
    char *esc = cli_http_escape(id);
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/node/%s", esc);
    struct cli_reply r, al;
    int rc = cli_api_get(ctx, "querying node info", cv_buf_str(&path), &r);
    if (rc == 0 && !ctx->json) {
        cv_buf_appendf(&path, "/allocations");
        rc = cli_api_get(ctx, "querying node allocations", cv_buf_str(&path), &al);
        if (rc != 0) {
            cli_reply_free(&r);
        }
    }
    cv_free(esc);
    cv_buf_free(&path);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (ctx->json) {
        rc = cli_print_json(r.root);
        cli_reply_free(&r);
        return rc;
    }
    const struct cv_json *n = r.root;
    char a[64], b[64];
    struct cv_buf drv = CV_BUF_INIT;
    drivers(n, &drv);
    const char *cls = cli_jstr(n, "NodeClass");
    struct cli_table *t = cli_table_new(" = ");
    cli_table_addf(t, "ID|%s", cli_short_id(ctx, cli_jstr(n, "ID"), a));
    cli_table_addf(t, "Name|%s", cli_jstr(n, "Name"));
    cli_table_addf(t, "Node Pool|%s", cli_jstr(n, "NodePool"));
    cli_table_addf(t, "Class|%s", cls[0] ? cls : "<none>");
    cli_table_addf(t, "DC|%s", cli_jstr(n, "Datacenter"));
    cli_table_addf(t, "Drain|%s", cli_jbool(n, "Drain") ? "true" : "false");
    cli_table_addf(t, "Eligibility|%s", cli_jstr(n, "SchedulingEligibility"));
    cli_table_addf(t, "Status|%s", cli_jstr(n, "Status"));
    cli_table_addf(t, "Address|%s", cli_jstr(n, "HTTPAddr"));
    cli_table_addf(t, "Drivers|%s", drv.len ? cv_buf_str(&drv) : "<none>");
    cli_table_print(t, stdout);
    cli_table_free(t);
    cv_buf_free(&drv);

    printf("\nAllocations\n");
    if (cli_jlen(al.root) == 0) {
        printf("No allocations placed\n");
    } else {
        t = cli_table_new("  ");
        cli_table_addf(t, "ID|Eval ID|Job ID|Task Group|Version|Desired|Status|Created");
        for (size_t i = 0; i < cli_jlen(al.root); i++) {
            const struct cv_json *x = al.root->u.array.items[i];
            char created[64];
            cli_table_addf(t, "%s|%s|%s|%s|%" PRId64 "|%s|%s|%s",
                           cli_short_id(ctx, cli_jstr(x, "ID"), a),
                           cli_short_id(ctx, cli_jstr(x, "EvalID"), b), cli_jstr(x, "JobID"),
                           cli_jstr(x, "TaskGroup"), cli_jint(cli_jget(x, "Job"), "Version"),
                           cli_jstr(x, "DesiredStatus"), cli_jstr(x, "ClientStatus"),
                           cli_format_ago(cli_jint(x, "CreateTime"), created, sizeof created));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    cli_reply_free(&al);
    cli_reply_free(&r);
    return CLI_EXIT_OK;
}

static const char status_usage[] =
    "Usage: caravan node status [options] [node]\n"
    "\n"
    "  Without a node, lists the registered nodes (nothing when there are none,\n"
    "  as Nomad). With one (an ID or a unique prefix), prints it and its\n"
    "  allocations.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int node_status(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    int first = cli_parse_flags("caravan node status", status_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first > 1) {
        return cli_usage_error("caravan node status", status_usage, "expected at most one node");
    }
    return argc == first ? node_list(&ctx) : node_show(&ctx, argv[first]);
}

/* Resolves the node and, when it was named by a prefix and -yes was not
 * given, asks as Nomad does. Returns 0 to go on, 1 when the operator said
 * no (*exit_code then holds the exit), -1 on an error. */
static int pick_node(const struct cli_ctx *ctx, const char *prefix, bool yes, const char *question,
                     char *id, size_t size)
{
    if (cli_resolve_prefix(ctx, "node", "/v1/nodes", "/v1/node", prefix, id, size) != 0) {
        return -1;
    }
    if (strcmp(id, prefix) == 0 || yes) {
        return 0;
    }
    printf("Are you sure you want to %s node \"%s\"? [y/N] ", question, id);
    fflush(stdout);
    char line[16] = "";
    if (!fgets(line, sizeof line, stdin) || strcmp(line, "y\n") != 0) {
        printf("\nCanceling drain toggle\n");
        return 1;
    }
    return 0;
}

static int post(const struct cli_ctx *ctx, const char *what, const char *id, const char *suffix,
                struct cv_jgen *g)
{
    const char *body;
    size_t len;
    struct cv_err err = {0};
    if (cv_jgen_finish(g, &body, &len, &err) != 0) {
        fprintf(stderr, "Error %s: %s\n", what, err.msg);
        return -1;
    }
    char *esc = cli_http_escape(id);
    struct cv_buf path = CV_BUF_INIT;
    cv_buf_appendf(&path, "/v1/node/%s/%s", esc, suffix);
    cv_free(esc);
    struct cli_reply r;
    int rc = cli_api_call(ctx, what, "PUT", cv_buf_str(&path), body, &r);
    cv_buf_free(&path);
    if (rc == 0) {
        if (ctx->json) {
            cli_print_json(r.root);
        }
        cli_reply_free(&r);
    }
    return rc;
}

static const char drain_usage[] =
    "Usage: caravan node drain [options] -enable|-disable <node>\n"
    "\n"
    "  Sets or clears a node's drain strategy. A draining node is ineligible for\n"
    "  new placements. (Caravan's servers do not move allocations off a draining\n"
    "  node yet: the command sets the strategy and returns.)\n"
    "\n"
    "Drain Options:\n"
    "  -enable             Start draining the node.\n"
    "  -disable            Stop draining it (it becomes eligible again unless\n"
    "                      -keep-ineligible).\n"
    "  -deadline=<d>       Time allowed before the drain is forced (default 1h).\n"
    "  -force              Force the drain now (deadline -1).\n"
    "  -no-deadline        Drain without a deadline.\n"
    "  -ignore-system      Leave system jobs' allocations in place.\n"
    "  -keep-ineligible    With -disable, keep the node ineligible.\n"
    "  -m=<message>        A message recorded with the drain.\n"
    "  -yes                Do not ask when the node was named by a prefix.\n"
    "  -detach             Accepted; the command never waits for the drain.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int node_drain(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool enable = false, disable = false, force = false, no_deadline = false, ignore_sys = false,
         keep = false, yes = false, detach = false;
    int64_t deadline = 3600 * (int64_t)1000000000;
    const char *message = NULL;
    const struct cli_flag flags[] = {
        {"enable", CLI_FLAG_BOOL, &enable},
        {"disable", CLI_FLAG_BOOL, &disable},
        {"deadline", CLI_FLAG_DURATION, &deadline},
        {"force", CLI_FLAG_BOOL, &force},
        {"no-deadline", CLI_FLAG_BOOL, &no_deadline},
        {"ignore-system", CLI_FLAG_BOOL, &ignore_sys},
        {"keep-ineligible", CLI_FLAG_BOOL, &keep},
        {"m", CLI_FLAG_STRING, &message},
        {"yes", CLI_FLAG_BOOL, &yes},
        {"detach", CLI_FLAG_BOOL, &detach},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    const char *prefix = "caravan node drain";
    int code;
    int first = cli_parse_flags(prefix, drain_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    (void)detach;
    if (enable == disable) {
        return cli_usage_error(prefix, drain_usage,
                               "exactly one of -enable and -disable is needed");
    }
    if (force && no_deadline) {
        return cli_usage_error(prefix, drain_usage, "-force and -no-deadline exclude each other");
    }
    if (deadline <= 0 && !force && !no_deadline) {
        return cli_usage_error(prefix, drain_usage, "-deadline must be positive");
    }
    if (argc - first != 1) {
        return cli_usage_error(prefix, drain_usage, "expected one node ID");
    }
    char id[128];
    int pick =
        pick_node(&ctx, argv[first], yes,
                  enable ? "enable drain mode for" : "disable drain mode for", id, sizeof id);
    if (pick != 0) {
        return pick < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "NodeID");
    cv_jgen_string(g, id);
    cv_jgen_key(g, "DrainSpec");
    if (enable) {
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "Deadline");
        cv_jgen_int(g, force ? -1 : no_deadline ? 0 : deadline);
        cv_jgen_key(g, "IgnoreSystemJobs");
        cv_jgen_bool(g, ignore_sys);
        cv_jgen_object_end(g);
    } else {
        cv_jgen_null(g);
    }
    cv_jgen_key(g, "MarkEligible");
    cv_jgen_bool(g, disable && !keep);
    if (message) {
        cv_jgen_key(g, "Meta");
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "message");
        cv_jgen_string(g, message);
        cv_jgen_object_end(g);
    }
    cv_jgen_object_end(g);
    int rc = post(&ctx, "updating drain specification", id, "drain", g);
    cv_jgen_free(g);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (!ctx.json) {
        char t[64];
        printf("%s: Node \"%s\" drain strategy %s\n", cli_now(t, sizeof t), id,
               enable ? "set" : "unset");
    }
    return CLI_EXIT_OK;
}

static const char elig_usage[] =
    "Usage: caravan node eligibility [options] -enable|-disable <node>\n"
    "\n"
    "  Makes a node eligible or ineligible for new placements. Allocations\n"
    "  already on it stay.\n"
    "\n"
    "Eligibility Options:\n"
    "  -enable   Mark the node eligible.\n"
    "  -disable  Mark the node ineligible.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int node_eligibility(int argc, char **argv)
{
    struct cli_ctx ctx;
    bool enable = false, disable = false;
    const struct cli_flag flags[] = {
        {"enable", CLI_FLAG_BOOL, &enable},
        {"disable", CLI_FLAG_BOOL, &disable},
        {NULL, CLI_FLAG_BOOL, NULL},
    };
    const char *prefix = "caravan node eligibility";
    int code;
    int first = cli_parse_flags(prefix, elig_usage, flags, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (enable == disable) {
        return cli_usage_error(prefix, elig_usage, "exactly one of -enable and -disable is needed");
    }
    if (argc - first != 1) {
        return cli_usage_error(prefix, elig_usage, "expected one node ID");
    }
    char id[128];
    if (cli_resolve_prefix(&ctx, "node", "/v1/nodes", "/v1/node", argv[first], id, sizeof id) !=
        0) {
        return CLI_EXIT_FAILURE;
    }
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "NodeID");
    cv_jgen_string(g, id);
    cv_jgen_key(g, "Eligibility");
    cv_jgen_string(g, enable ? "eligible" : "ineligible");
    cv_jgen_object_end(g);
    int rc = post(&ctx, "updating scheduling eligibility", id, "eligibility", g);
    cv_jgen_free(g);
    if (rc != 0) {
        return CLI_EXIT_FAILURE;
    }
    if (!ctx.json) {
        printf("Node \"%s\" scheduling eligibility set: %s for scheduling\n", id,
               enable ? "eligible" : "ineligible");
    }
    return CLI_EXIT_OK;
}

static const struct cli_command node_commands[] = {
    {"drain", "Set or clear a node's drain strategy", node_drain},
    {"eligibility", "Mark a node eligible or ineligible for placements", node_eligibility},
    {"status", "List nodes, or show one node and its allocations", node_status},
    {NULL, NULL, NULL},
};

static const char node_usage[] =
    "Usage: caravan node <subcommand> [options] [args]\n"
    "\n"
    "  Work with client nodes.\n";

int cli_node(int argc, char **argv)
{
    return cli_dispatch("caravan node", node_usage, node_commands, argc, argv);
}
