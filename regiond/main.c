/*
 * regiond: the region server.
 *
 *   regiond -dev                          one server on 127.0.0.1, temporary data
 *   regiond -config FILE [flags]          a server of a 3- or 5-server region
 *   regiond -h                            every flag
 *
 * main parses the configuration (regiond/config), sets up logging and the
 * signals, and runs the daemon (daemon.h) on one libevent loop:
 *   SIGTERM, SIGINT  graceful stop: leadership is handed over first when
 *                    this server leads (at most 5 s); a second signal stops
 *                    at once;
 *   SIGHUP           reopens the log file (after logrotate moved it).
 * Exit status: 0 after a graceful stop, 1 on a startup error or a failed
 * store (fail-stop: the process exits so a supervisor restarts it and
 * recovery decides what the disk or database holds), 2 on bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/log.h"
#include "regiond/config/regiond_config.h"
#include "regiond/daemon.h"

#define SHUTDOWN_TIMEOUT_MS 5000u
#define HEALTH_INTERVAL_MS  200

struct main_ctx
{
    struct event_base *base;
    struct rcfg *cfg;
    struct daemon *daemon;
    FILE *log;
    int exit_code;
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
        cv_log(CV_LOG_WARN, "regiond", "second signal: stopping now", "signal=%d", (int)sig);
        event_base_loopbreak(m->base);
        return;
    }
    m->stopping = true;
    cv_log(CV_LOG_INFO, "regiond", "stopping", "signal=%d", (int)sig);
    daemon_shutdown(m->daemon, SHUTDOWN_TIMEOUT_MS, on_stopped, m);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct main_ctx *m = arg;
    if (!m->cfg->log_file) {
        return;
    }
    FILE *f = fopen(m->cfg->log_file, "a");
    if (!f) {
        cv_log(CV_LOG_ERROR, "regiond", "cannot reopen the log file", "path=%s", m->cfg->log_file);
        return;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    cv_log_set_sink(f);
    if (m->log) {
        fclose(m->log);
    }
    m->log = f;
    cv_log(CV_LOG_INFO, "regiond", "log file reopened", "path=%s", m->cfg->log_file);
}

static void on_health(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct main_ctx *m = arg;
    struct cv_err err = {0};
    if (daemon_failed(m->daemon, &err)) {
        cv_log(CV_LOG_ERROR, "regiond", "exiting: the store failed (fail-stop)", "error=\"%s\"",
               err.msg);
        m->exit_code = 1;
        event_base_loopbreak(m->base);
    }
}

static int run(struct main_ctx *m)
{
    struct cv_err err = {0};
    m->base = event_base_new();
    if (!m->base) {
        fprintf(stderr, "regiond: cannot create the event loop\n");
        return 1;
    }
    if (daemon_start(m->base, m->cfg, &m->daemon, &err) != 0) {
        fprintf(stderr, "regiond: %s\n", err.msg);
        cv_log(CV_LOG_ERROR, "regiond", "cannot start", "error=\"%s\"", err.msg);
        event_base_free(m->base);
        return 1;
    }
    struct event *term = evsignal_new(m->base, SIGTERM, on_stop_signal, m);
    struct event *intr = evsignal_new(m->base, SIGINT, on_stop_signal, m);
    struct event *hup = evsignal_new(m->base, SIGHUP, on_hup, m);
    struct event *health = event_new(m->base, -1, EV_PERSIST, on_health, m);
    struct timeval every = {0, HEALTH_INTERVAL_MS * 1000};
    event_add(term, NULL);
    event_add(intr, NULL);
    event_add(hup, NULL);
    event_add(health, &every);

    event_base_dispatch(m->base);

    event_free(term);
    event_free(intr);
    event_free(hup);
    event_free(health);
    daemon_free(m->daemon);
    event_base_free(m->base);
    cv_log(CV_LOG_INFO, "regiond", "stopped", "exit=%d", m->exit_code);
    return m->exit_code;
}

int main(int argc, char **argv)
{
    /* A peer that resets a connection must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    struct rcfg cfg;
    rcfg_init(&cfg);
    struct cv_err err = {0};
    int rc = rcfg_apply_flags(&cfg, argc, argv, &err);
    if (rc == RCFG_HELP) {
        rcfg_free(&cfg);
        return 0;
    }
    if (rc == 0) {
        rc = rcfg_validate(&cfg, &err);
    }
    if (rc == 0) {
        /* Before anything opens: "ports.rpc: 127.0.0.1:4647 is in use..." */
        rc = rcfg_check_ports(&cfg, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "regiond: %s%s%s\n", err.path[0] ? err.path : "", err.path[0] ? ": " : "",
                err.msg);
        fprintf(stderr, "regiond: run 'regiond -h' for the flags\n");
        rcfg_free(&cfg);
        return 2;
    }
    struct main_ctx m = {.cfg = &cfg};
    cv_log_set_level(cfg.log_level);
    if (cfg.log_file) {
        m.log = fopen(cfg.log_file, "a");
        if (!m.log) {
            fprintf(stderr, "regiond: cannot open the log file %s\n", cfg.log_file);
            rcfg_free(&cfg);
            return 1;
        }
        setvbuf(m.log, NULL, _IOLBF, 0);
        cv_log_set_sink(m.log);
    }
    int code = run(&m);
    if (cfg.dev) {
        rcfg_remove_temp_data_dir(&cfg, NULL);
    }
    cv_log_set_sink(stderr);
    if (m.log) {
        fclose(m.log);
    }
    rcfg_free(&cfg);
    return code;
}
