/*
 * simulate: N agents sharing one loop and one RPC pool (simulate.h).
 */
#include "nodeagent/simulate.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/rpc.h"
#include "nodeagent/agent.h"

#define JITTER_PER_NODE_MS 1
#define JITTER_MAX_MS      10000

struct agent_fleet
{
    struct rpc_pool *pool;
    struct agent_config *cfgs; /* one per node; the agents borrow them */
    struct agent **agents;
    size_t n;
    size_t stopped;
    void (*done)(void *arg);
    void *done_arg;
};

/* Node i's configuration: cfg's, with its own name and data dir, mock only. */
static void derive(struct agent_config *dst, const struct agent_config *src, size_t i)
{
    agent_config_init(dst);
    for (size_t s = 0; s < src->n_servers; s++) {
        dst->servers[dst->n_servers++] = cv_strdup(src->servers[s]);
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/sim-%zu", src->data_dir, i);
    cv_set_string(&dst->data_dir, buf);
    snprintf(buf, sizeof buf, "%s-%zu", src->name, i);
    cv_set_string(&dst->name, buf);
    cv_set_string(&dst->datacenter, src->datacenter);
    cv_set_string(&dst->node_class, src->node_class);
    cv_set_string(&dst->node_pool, src->node_pool);
    cv_set_string(&dst->reserved_ports, src->reserved_ports);
    for (size_t m = 0; m < src->meta.len; m++) {
        cv_strmap_set(&dst->meta, src->meta.items[m].key, src->meta.items[m].value);
    }
    dst->mock = true;
    dst->raw_exec = false;
    dst->http_port = 0; /* simulated nodes run nothing to read logs from */
    dst->reserved_cpu = src->reserved_cpu;
    dst->reserved_memory_mb = src->reserved_memory_mb;
    dst->reserved_disk_mb = src->reserved_disk_mb;
    dst->log_level = src->log_level;
}

int agent_fleet_new(struct event_base *base, const struct agent_config *cfg, int n,
                    struct agent_fleet **out, struct cv_err *err)
{
    *out = NULL;
    if (n < 1 || n > AGENT_FLEET_MAX) {
        return cv_err_setf(err, CV_EINVAL, "-simulate: must be 1 to %d, got %d", AGENT_FLEET_MAX,
                           n);
    }
    struct agent_fleet *f = cv_calloc(1, sizeof *f);
    f->cfgs = cv_calloc((size_t)n, sizeof *f->cfgs);
    f->agents = cv_calloc((size_t)n, sizeof *f->agents);
    int rc = rpc_pool_new(base, NULL, &f->pool, err);
    int jitter = n * JITTER_PER_NODE_MS < JITTER_MAX_MS ? n * JITTER_PER_NODE_MS : JITTER_MAX_MS;
    struct agent_options opts = {.pool = f->pool, .start_jitter_ms = jitter};
    for (size_t i = 0; rc == 0 && i < (size_t)n; i++) {
        derive(&f->cfgs[i], cfg, i);
        f->n = i + 1;
        rc = agent_new_with(base, &f->cfgs[i], NULL, &opts, &f->agents[i], err);
        if (rc != 0) {
            cv_err_wrapf(err, "simulated node %zu", i);
        }
    }
    if (rc != 0) {
        agent_fleet_free(f);
        return rc;
    }
    cv_log(CV_LOG_INFO, "agent", "simulated fleet started", "nodes=%d jitter_ms=%d", n, jitter);
    *out = f;
    return 0;
}

static void on_node_stopped(void *arg)
{
    struct agent_fleet *f = arg;
    if (++f->stopped == f->n && f->done) {
        f->done(f->done_arg);
    }
}

void agent_fleet_shutdown(struct agent_fleet *f, int timeout_ms, void (*done)(void *arg), void *arg)
{
    f->done = done;
    f->done_arg = arg;
    f->stopped = 0;
    for (size_t i = 0; i < f->n; i++) {
        agent_shutdown(f->agents[i], timeout_ms, on_node_stopped, f);
    }
}

void agent_fleet_free(struct agent_fleet *f)
{
    if (!f) {
        return;
    }
    /* The shared pool goes first, its calls failing into agents that
     * ignore them; then the agents. */
    for (size_t i = 0; i < f->n; i++) {
        if (f->agents[i]) {
            agent_detach(f->agents[i]);
        }
    }
    rpc_pool_free(f->pool);
    for (size_t i = 0; i < f->n; i++) {
        agent_free(f->agents[i]);
        agent_config_free(&f->cfgs[i]);
    }
    cv_free(f->agents);
    cv_free(f->cfgs);
    cv_free(f);
}

size_t agent_fleet_size(const struct agent_fleet *f)
{
    return f->n;
}

const char *agent_fleet_node_id(const struct agent_fleet *f, size_t i)
{
    return agent_node_id(f->agents[i]);
}
