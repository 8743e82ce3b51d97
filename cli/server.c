/*
 * server: `caravan server members`, `caravan operator raft list-peers`
 * and the top-level `caravan status`.
 *
 * Caravan's servers do not serve /v1/agent/members or
 * /v1/operator/raft/configuration yet, so both commands are built from what
 * exists: /v1/status/peers (the voters' RPC addresses, as the answering
 * server knows them), /v1/status/leader and /v1/agent/self (the answering
 * server's own name, build, datacenter and region). Only the answering
 * server is known by name; the others are shown by address, with what
 * cannot be known marked "unknown".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api.h"
#include "cli/cli.h"
#include "cli/table.h"
#include "common/jsongen.h"

struct cluster_view
{
    struct cli_reply peers, leader, self;
    char self_addr[300]; /* member Addr:Port, the RPC address */
};

static int load_view(const struct cli_ctx *ctx, struct cluster_view *v)
{
    if (cli_api_get(ctx, "querying peers", "/v1/status/peers", &v->peers) != 0) {
        return -1;
    }
    if (cli_api_get(ctx, "querying leader", "/v1/status/leader", &v->leader) != 0) {
        cli_reply_free(&v->peers);
        return -1;
    }
    if (cli_api_get(ctx, "querying agent info", "/v1/agent/self", &v->self) != 0) {
        cli_reply_free(&v->leader);
        cli_reply_free(&v->peers);
        return -1;
    }
    const struct cv_json *m = cli_jget(v->self.root, "member");
    snprintf(v->self_addr, sizeof v->self_addr, "%s:%" PRId64, cli_jstr(m, "Addr"),
             cli_jint(m, "Port"));
    return 0;
}

static void free_view(struct cluster_view *v)
{
    cli_reply_free(&v->self);
    cli_reply_free(&v->leader);
    cli_reply_free(&v->peers);
}

static size_t peer_count(const struct cluster_view *v)
{
    return v->peers.root->type == CV_JSON_ARRAY ? v->peers.root->u.array.len : 0;
}

static const char *peer(const struct cluster_view *v, size_t i)
{
    const struct cv_json *p = v->peers.root->u.array.items[i];
    return p->type == CV_JSON_STRING ? p->u.string.ptr : "";
}

static bool is_leader(const struct cluster_view *v, const char *addr)
{
    return v->leader.root->type == CV_JSON_STRING &&
           strcmp(v->leader.root->u.string.ptr, addr) == 0;
}

/* "host:port" split at the last colon. */
static void split(const char *addr, char *host, size_t size, const char **port)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    snprintf(host, size, "%.*s", (int)n, addr);
    *port = colon ? colon + 1 : "";
}

static const char members_usage[] =
    "Usage: caravan server members [options]\n"
    "\n"
    "  Lists the region's servers: the Raft voters the answering server knows,\n"
    "  which one leads, and the answering server's name, build and datacenter\n"
    "  (other servers' are not known until gossip is built: \"unknown\").\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int server_members(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    const char *prefix = "caravan server members";
    int first = cli_parse_flags(prefix, members_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (first != argc) {
        return cli_usage_error(prefix, members_usage, "takes no arguments");
    }
    struct cluster_view v;
    if (load_view(&ctx, &v) != 0) {
        return CLI_EXIT_FAILURE;
    }
    const struct cv_json *m = cli_jget(v.self.root, "member");
    const struct cv_json *tags = cli_jget(m, "Tags");
    int rc = CLI_EXIT_OK;
    if (ctx.json) {
        /* The shape of Nomad's /v1/agent/members, from what is known. */
        struct cv_jgen *g = cv_jgen_new(true);
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "ServerName");
        cv_jgen_string(g, cli_jstr(m, "Name"));
        cv_jgen_key(g, "ServerRegion");
        cv_jgen_string(g, cli_jstr(tags, "region"));
        cv_jgen_key(g, "ServerDC");
        cv_jgen_string(g, cli_jstr(tags, "dc"));
        cv_jgen_key(g, "Members");
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < peer_count(&v); i++) {
            bool self = strcmp(peer(&v, i), v.self_addr) == 0;
            char host[256];
            const char *port;
            split(peer(&v, i), host, sizeof host, &port);
            cv_jgen_object_begin(g);
            cv_jgen_key(g, "Name");
            cv_jgen_string(g, self ? cli_jstr(m, "Name") : "unknown");
            cv_jgen_key(g, "Addr");
            cv_jgen_string(g, host);
            cv_jgen_key(g, "Port");
            cv_jgen_int(g, strtol(port, NULL, 10));
            cv_jgen_key(g, "Status");
            cv_jgen_string(g, self ? cli_jstr(m, "Status") : "unknown");
            cv_jgen_key(g, "Leader");
            cv_jgen_bool(g, is_leader(&v, peer(&v, i)));
            cv_jgen_key(g, "Tags");
            if (self && tags) {
                cv_jgen_value(g, tags);
            } else {
                cv_jgen_null(g);
            }
            cv_jgen_object_end(g);
        }
        cv_jgen_array_end(g);
        cv_jgen_object_end(g);
        const char *text;
        size_t len;
        if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
            printf("%.*s\n", (int)len, text);
        } else {
            rc = CLI_EXIT_FAILURE;
        }
        cv_jgen_free(g);
    } else {
        struct cli_table *t = cli_table_new("  ");
        cli_table_addf(t, "Name|Address|Port|Status|Leader|Raft Version|Build|Datacenter|Region");
        for (size_t i = 0; i < peer_count(&v); i++) {
            bool self = strcmp(peer(&v, i), v.self_addr) == 0;
            char host[256];
            const char *port;
            split(peer(&v, i), host, sizeof host, &port);
            cli_table_addf(t, "%s|%s|%s|%s|%s|-|%s|%s|%s", self ? cli_jstr(m, "Name") : "unknown",
                           host, port, self ? cli_jstr(m, "Status") : "unknown",
                           is_leader(&v, peer(&v, i)) ? "true" : "false",
                           self ? cli_jstr(tags, "build") : "unknown",
                           self ? cli_jstr(tags, "dc") : "unknown", cli_jstr(tags, "region"));
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    free_view(&v);
    return rc;
}

static const char peers_usage[] =
    "Usage: caravan operator raft list-peers [options]\n"
    "\n"
    "  Lists the Raft voters as the answering server knows them and which one\n"
    "  leads. Servers are identified by their RPC address.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

static int raft_list_peers(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    const char *prefix = "caravan operator raft list-peers";
    int first = cli_parse_flags(prefix, peers_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (first != argc) {
        return cli_usage_error(prefix, peers_usage, "takes no arguments");
    }
    struct cluster_view v;
    if (load_view(&ctx, &v) != 0) {
        return CLI_EXIT_FAILURE;
    }
    const struct cv_json *m = cli_jget(v.self.root, "member");
    int rc = CLI_EXIT_OK;
    if (ctx.json) {
        /* The shape of Nomad's /v1/operator/raft/configuration. */
        struct cv_jgen *g = cv_jgen_new(true);
        cv_jgen_object_begin(g);
        cv_jgen_key(g, "Servers");
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < peer_count(&v); i++) {
            bool self = strcmp(peer(&v, i), v.self_addr) == 0;
            cv_jgen_object_begin(g);
            cv_jgen_key(g, "ID");
            cv_jgen_string(g, peer(&v, i));
            cv_jgen_key(g, "Node");
            cv_jgen_string(g, self ? cli_jstr(m, "Name") : peer(&v, i));
            cv_jgen_key(g, "Address");
            cv_jgen_string(g, peer(&v, i));
            cv_jgen_key(g, "Leader");
            cv_jgen_bool(g, is_leader(&v, peer(&v, i)));
            cv_jgen_key(g, "Voter");
            cv_jgen_bool(g, true);
            cv_jgen_object_end(g);
        }
        cv_jgen_array_end(g);
        cv_jgen_key(g, "Index");
        cv_jgen_uint(g, v.peers.index);
        cv_jgen_object_end(g);
        const char *text;
        size_t len;
        if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
            printf("%.*s\n", (int)len, text);
        } else {
            rc = CLI_EXIT_FAILURE;
        }
        cv_jgen_free(g);
    } else {
        struct cli_table *t = cli_table_new("  ");
        cli_table_addf(t, "Node|ID|Address|State|Voter|RaftProtocol");
        for (size_t i = 0; i < peer_count(&v); i++) {
            bool self = strcmp(peer(&v, i), v.self_addr) == 0;
            cli_table_addf(t, "%s|%s|%s|%s|true|-", self ? cli_jstr(m, "Name") : peer(&v, i),
                           peer(&v, i), peer(&v, i),
                           is_leader(&v, peer(&v, i)) ? "leader" : "follower");
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    free_view(&v);
    return rc;
}

static const struct cli_command server_commands[] = {
    {"members", "List the region's servers", server_members},
    {NULL, NULL, NULL},
};

static const char server_usage[] =
    "Usage: caravan server <subcommand> [options]\n"
    "\n"
    "  Work with the region's servers.\n";

int cli_server(int argc, char **argv)
{
    return cli_dispatch("caravan server", server_usage, server_commands, argc, argv);
}

static const struct cli_command raft_commands[] = {
    {"list-peers", "List the Raft voters and the leader", raft_list_peers},
    {NULL, NULL, NULL},
};

static const char raft_usage[] =
    "Usage: caravan operator raft <subcommand> [options]\n"
    "\n"
    "  Look at the region's Raft configuration.\n";

static int operator_raft(int argc, char **argv)
{
    return cli_dispatch("caravan operator raft", raft_usage, raft_commands, argc, argv);
}

static const struct cli_command operator_commands[] = {
    {"raft", "Look at the Raft configuration", operator_raft},
    {NULL, NULL, NULL},
};

static const char operator_usage[] =
    "Usage: caravan operator <subcommand> [options]\n"
    "\n"
    "  Operator commands.\n";

int cli_operator(int argc, char **argv)
{
    return cli_dispatch("caravan operator", operator_usage, operator_commands, argc, argv);
}

static const char status_usage[] =
    "Usage: caravan status [options] [job]\n"
    "\n"
    "  Without an argument, lists every job (as `caravan job status`); with a job\n"
    "  ID or prefix, prints that job's status.\n"
    "\n" CLI_GLOBAL_OPTIONS_HELP;

int cli_status(int argc, char **argv)
{
    struct cli_ctx ctx;
    int code;
    int first = cli_parse_flags("caravan status", status_usage, NULL, &ctx, argc, argv, &code);
    if (first < 0) {
        return code;
    }
    if (argc - first > 1) {
        return cli_usage_error("caravan status", status_usage, "expected at most one job ID");
    }
    if (argc == first) {
        return cli_job_list(&ctx);
    }
    return cli_job_status(argc, argv);
}
