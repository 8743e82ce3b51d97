/*
 * http_status: /v1/status/leader, /v1/status/peers and /v1/agent/self.
 *
 * Every server knows the leader's address and the voters from its own Raft
 * state, so these are answered by whichever server gets them (Nomad
 * forwards the status endpoints to the leader; the answer is the same).
 * agent/self gives the fields Nomad's clients read (config.Region,
 * config.Datacenter, member.Name, stats.nomad.leader) in Nomad's shape;
 * Caravan has no gossip yet, so the member's address and port are the RPC
 * ones.
 */
#include <stdio.h>
#include <string.h>

#include "regiond/http_internal.h"

#ifndef CARAVAN_VERSION
#define CARAVAN_VERSION "0.0.0"
#endif

#define MAX_PEERS 16

static void reply_gen(struct http_ctx *c, struct cv_jgen *g)
{
    const char *text;
    size_t len;
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        cv_buf_append(&c->out, text, len);
        cv_jgen_free(g);
        http_reply_json(c);
    } else {
        cv_jgen_free(g);
        http_reply_error(c, 500, "could not encode the answer");
    }
}

void http_status_leader(struct http_ctx *c)
{
    char addr[HTTP_ADDR_MAX] = "";
    c->srv->backend.leader_addr(c->srv->backend.data, addr);
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_string(g, addr);
    reply_gen(c, g);
}

void http_status_peers(struct http_ctx *c)
{
    char addrs[MAX_PEERS][HTTP_ADDR_MAX];
    size_t n = c->srv->backend.peers(c->srv->backend.data, addrs, MAX_PEERS);
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_array_begin(g);
    for (size_t i = 0; i < n && i < MAX_PEERS; i++) {
        cv_jgen_string(g, addrs[i]);
    }
    cv_jgen_array_end(g);
    reply_gen(c, g);
}

static void kv(struct cv_jgen *g, const char *key, const char *value)
{
    cv_jgen_key(g, key);
    cv_jgen_string(g, value);
}

/* Splits "host:port" / "[v6]:port" into its host and port. */
static void split_addr(const char *addr, char *host, size_t cap, unsigned *port)
{
    *port = 0;
    snprintf(host, cap, "%s", addr);
    char *colon = strrchr(host, ':');
    if (colon && (host[0] != '[' || (colon > host && colon[-1] == ']'))) {
        unsigned p = 0;
        if (sscanf(colon + 1, "%u", &p) == 1) {
            *port = p;
        }
        *colon = '\0';
    }
    if (host[0] == '[') {
        size_t len = strlen(host);
        memmove(host, host + 1, len);
        if (len > 1 && host[len - 2] == ']') {
            host[len - 2] = '\0';
        }
    }
}

/* A minimal agent/self "config" when the daemon gave none. */
static void write_config(struct cv_jgen *g, const struct http_server *srv, unsigned rpc_port)
{
    cv_jgen_object_begin(g);
    kv(g, "Region", srv->region);
    kv(g, "Datacenter", srv->datacenter);
    kv(g, "NodeName", srv->node_name);
    cv_jgen_key(g, "Version");
    cv_jgen_object_begin(g);
    kv(g, "Version", CARAVAN_VERSION);
    kv(g, "VersionPrerelease", "");
    kv(g, "VersionMetadata", "");
    kv(g, "Revision", "");
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Server");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Enabled");
    cv_jgen_bool(g, true);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Client");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Enabled");
    cv_jgen_bool(g, false);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Ports");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "HTTP");
    cv_jgen_uint(g, srv->port);
    cv_jgen_key(g, "RPC");
    cv_jgen_uint(g, rpc_port);
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
}

void http_agent_self(struct http_ctx *c)
{
    struct http_server *srv = c->srv;
    void *data = srv->backend.data;
    bool leader = srv->backend.is_leader(data);
    bool known = srv->backend.known_leader(data);
    char leader_addr[HTTP_ADDR_MAX] = "";
    srv->backend.leader_addr(data, leader_addr);
    char addrs[MAX_PEERS][HTTP_ADDR_MAX];
    size_t n_peers = srv->backend.peers(data, addrs, MAX_PEERS);
    char host[HTTP_ADDR_MAX];
    unsigned rpc_port;
    split_addr(srv->rpc_addr, host, sizeof host, &rpc_port);
    char member[sizeof srv->node_name + sizeof srv->region + 2];
    snprintf(member, sizeof member, "%s.%s", srv->node_name, srv->region);
    char buf[32];

    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "config");
    if (srv->agent_config) {
        cv_jgen_value(g, cv_json_doc_root(srv->agent_config));
    } else {
        write_config(g, srv, rpc_port);
    }

    cv_jgen_key(g, "member");
    cv_jgen_object_begin(g);
    kv(g, "Name", member);
    kv(g, "Addr", host);
    cv_jgen_key(g, "Port");
    cv_jgen_uint(g, rpc_port);
    cv_jgen_key(g, "Tags");
    cv_jgen_object_begin(g);
    kv(g, "role", "nomad");
    kv(g, "region", srv->region);
    kv(g, "dc", srv->datacenter);
    kv(g, "build", CARAVAN_VERSION);
    snprintf(buf, sizeof buf, "%u", rpc_port);
    kv(g, "port", buf);
    kv(g, "rpc_addr", host);
    cv_jgen_object_end(g);
    kv(g, "Status", "alive");
    static const char *const proto[] = {"ProtocolMin", "ProtocolMax", "ProtocolCur",
                                        "DelegateMin", "DelegateMax", "DelegateCur"};
    static const unsigned proto_v[] = {1, 5, 2, 2, 5, 4}; /* serf's, as Nomad reports them */
    for (size_t i = 0; i < 6; i++) {
        cv_jgen_key(g, proto[i]);
        cv_jgen_uint(g, proto_v[i]);
    }
    cv_jgen_object_end(g);

    cv_jgen_key(g, "stats");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "nomad");
    cv_jgen_object_begin(g);
    kv(g, "server", "true");
    kv(g, "leader", leader ? "true" : "false");
    kv(g, "leader_addr", leader_addr);
    kv(g, "bootstrap", "false");
    kv(g, "known_regions", "1");
    cv_jgen_object_end(g);
    cv_jgen_key(g, "raft");
    cv_jgen_object_begin(g);
    kv(g, "state", leader ? "Leader" : known ? "Follower" : "Candidate");
    snprintf(buf, sizeof buf, "%zu", n_peers ? n_peers - 1 : 0);
    kv(g, "num_peers", buf);
    snprintf(buf, sizeof buf, "%llums", (unsigned long long)srv->backend.last_contact_ms(data));
    kv(g, "last_contact", leader ? "0" : buf);
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
    reply_gen(c, g);
}
