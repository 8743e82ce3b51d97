/*
 * daemon: a running region server: the server core (server.h) and the HTTP
 * API (http.h) on one event loop, bridged: the API's backend calls go to the
 * server, and requests a follower must not answer itself travel to the
 * leader as the RPC "http.forward", where the same HTTP code answers them.
 *
 * main.c parses the configuration and signals; this module builds and tears
 * down everything else, so tests can run a daemon in-process too.
 */
#ifndef CV_REGIOND_DAEMON_H
#define CV_REGIOND_DAEMON_H

#include <stdbool.h>

#include "common/err.h"
#include "regiond/config/regiond_config.h"

struct event_base;
struct daemon;

/* Starts the server and its HTTP API from a validated configuration
 * (borrowed: it must outlive the daemon). Returns 0, or an error naming what
 * failed (a busy port, an unreadable data dir, a corrupt log...). */
int daemon_start(struct event_base *base, const struct rcfg *cfg, struct daemon **out,
                 struct cv_err *err);

/* Begins a graceful stop: when this server leads, leadership is handed to
 * another voter first; `done` is called (once) when the daemon may be freed,
 * at the latest after timeout_ms. */
void daemon_shutdown(struct daemon *d, unsigned timeout_ms, void (*done)(void *arg), void *arg);

/* True when the store failed: the process must exit (fail-stop). */
bool daemon_failed(const struct daemon *d, struct cv_err *err);

void daemon_free(struct daemon *d);

#endif
