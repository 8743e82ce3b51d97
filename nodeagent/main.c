/*
 * nodeagent: the client agent.
 *
 *   nodeagent -dev                   servers 127.0.0.1:4647, temporary data dir,
 *                                    raw_exec and mock drivers
 *   nodeagent -config FILE [flags]   a client of a region
 *   nodeagent -simulate N [flags]    N simulated nodes (mock driver) in this
 *                                    process, for scale runs (simulate.h)
 *   nodeagent -h                     every flag
 *
 * main parses the configuration, sets up logging and the signals, and runs
 * the agent (agent.h) on one libevent loop:
 *   SIGTERM, SIGINT  stop watching, flush the queued status updates (at
 *                    most 5 s), exit 0, leaving the tasks running for the
 *                    next agent to reattach; a second signal exits at once;
 *   SIGHUP           reopens the log file (after logrotate moved it).
 * Exit status: 0 after a stop, 1 when the agent cannot start, 2 on bad
 * usage or configuration.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/log.h"
#include "nodeagent/agent.h"
#include "nodeagent/agent_config.h"
#include "nodeagent/simulate.h"

#define SHUTDOWN_TIMEOUT_MS 5000

struct main_ctx
{
    struct event_base *base;
    struct agent_config cfg;
    struct agent *agent;
    struct agent_fleet *fleet;
    FILE *log;
    bool stopping;
};

static void on_stopped(void *arg)
{
    struct main_ctx *m = arg;
    event_base_loopbreak(m->base);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct main_ctx *m = arg;
    if (m->stopping) {
        cv_log(CV_LOG_WARN, "nodeagent", "second signal: stopping now", "signal=%d", (int)sig);
        event_base_loopbreak(m->base);
        return;
    }
    m->stopping = true;
    cv_log(CV_LOG_INFO, "nodeagent", "stopping, tasks keep running", "signal=%d", (int)sig);
    if (m->fleet) {
        agent_fleet_shutdown(m->fleet, SHUTDOWN_TIMEOUT_MS, on_stopped, m);
    } else {
        agent_shutdown(m->agent, SHUTDOWN_TIMEOUT_MS, on_stopped, m);
    }
}

static int open_log(struct main_ctx *m)
{
    if (!m->cfg.log_file[0]) {
        return 0;
    }
    FILE *f = fopen(m->cfg.log_file, "a");
    if (!f) {
        return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    cv_log_set_sink(f);
    if (m->log) {
        fclose(m->log);
    }
    m->log = f;
    return 0;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct main_ctx *m = arg;
    if (!m->cfg.log_file[0]) {
        return;
    }
    if (open_log(m) != 0) {
        cv_log(CV_LOG_ERROR, "nodeagent", "cannot reopen the log file", "path=%s", m->cfg.log_file);
        return;
    }
    cv_log(CV_LOG_INFO, "nodeagent", "log file reopened", "path=%s", m->cfg.log_file);
}

static int run(struct main_ctx *m)
{
    struct cv_err err = {0};
    m->base = event_base_new();
    if (!m->base) {
        fprintf(stderr, "nodeagent: cannot create the event loop\n");
        return 1;
    }
    int rc = m->cfg.simulate > 0
                 ? agent_fleet_new(m->base, &m->cfg, m->cfg.simulate, &m->fleet, &err)
                 : agent_new(m->base, &m->cfg, NULL, &m->agent, &err);
    if (rc != 0) {
        fprintf(stderr, "nodeagent: %s\n", err.msg);
        cv_log(CV_LOG_ERROR, "nodeagent", "cannot start", "error=\"%s\"", err.msg);
        event_base_free(m->base);
        return 1;
    }
    cv_log(CV_LOG_INFO, "nodeagent", "started", "node=%s nodes=%d data_dir=%s servers=%zu",
           m->fleet ? agent_fleet_node_id(m->fleet, 0) : agent_node_id(m->agent),
           m->fleet ? m->cfg.simulate : 1, m->cfg.data_dir, m->cfg.n_servers);
    struct event *term = evsignal_new(m->base, SIGTERM, on_stop_signal, m);
    struct event *intr = evsignal_new(m->base, SIGINT, on_stop_signal, m);
    struct event *hup = evsignal_new(m->base, SIGHUP, on_hup, m);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_add(hup, NULL);
    event_base_dispatch(m->base);
    agent_free(m->agent);
    agent_fleet_free(m->fleet);
    event_free(term);
    event_free(intr);
    event_free(hup);
    event_base_free(m->base);
    cv_log(CV_LOG_INFO, "nodeagent", "stopped", "exit=%d", 0);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct main_ctx m;
    memset(&m, 0, sizeof m);
    agent_config_init(&m.cfg);
    struct cv_err err = {0};
    int rc = agent_config_parse_args(&m.cfg, argc, argv, &err);
    if (rc == AGENT_CONFIG_HELP) {
        agent_config_free(&m.cfg);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "nodeagent: %s\n", err.msg);
        agent_config_free(&m.cfg);
        return 2;
    }
    cv_log_set_level(m.cfg.log_level);
    if (open_log(&m) != 0) {
        fprintf(stderr, "nodeagent: log_file: cannot open %s\n", m.cfg.log_file);
        agent_config_free(&m.cfg);
        return 2;
    }
    if (m.cfg.dev) {
        fprintf(stderr, "nodeagent: -dev: data dir %s, servers %s\n", m.cfg.data_dir,
                m.cfg.servers[0]);
    }
    int status = run(&m);
    agent_config_free(&m.cfg);
    if (m.log) {
        cv_log_set_sink(NULL);
        fclose(m.log);
    }
    return status;
}
