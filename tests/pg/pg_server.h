/*
 * pg_server: a real, throwaway PostgreSQL server for tests and benchmarks.
 *
 * pg_server_start makes a temporary directory (under $TMPDIR, else /tmp),
 * runs initdb in it (trust authentication, superuser role `caravan`, UTF8,
 * locale C) and starts the server with `pg_ctl start -w` on 127.0.0.1 and a
 * random port from PG_SERVER_PORT_MIN..PG_SERVER_PORT_MAX, retrying another
 * port when the chosen one is taken. The Unix socket goes into the temporary
 * directory, never the system's; the server log is `server.log` there.
 * fsync and synchronous_commit keep their defaults (on): crash tests rely on
 * acknowledged commits surviving pg_server_crash.
 *
 * PostgreSQL refuses to run as root. When the process is root (CI), every
 * initdb/pg_ctl is forked, drops to the user `nobody` (setgroups, setgid,
 * setuid) and only then execs; the temporary directory belongs to that user.
 * Otherwise they run as the calling user.
 *
 * The bin dir is CARAVAN_PG_BINDIR from the environment when set, else the
 * one CMake found at configure time (the newest /usr/lib/postgresql/N/bin,
 * else the directory of `initdb` on the PATH).
 *
 * Every child is waited for with a time bound (killed when over it). On
 * Linux the calling process becomes a child subreaper, so the postmaster
 * that pg_ctl leaves behind is its child and is reaped after each stop.
 *
 * A watchdog process per server (/bin/sh in a session of its own) holds the
 * read end of a pipe from the test process: when the test dies without
 * pg_server_destroy (a failed assert() or ASan report, SIGKILL), the pipe
 * closes and the watchdog stops the server (SIGQUIT to the postmaster:
 * immediate shutdown) and removes the directory. ctest's TIMEOUT kills the
 * whole process tree, server included; only the directory is left then.
 *
 * Not thread-safe: one thread drives a server. Functions return 0 or a
 * negative CV_E* code and fill `err` (may be NULL); a failure to start
 * carries the tail of initdb's or the server's log.
 */
#ifndef CV_PG_SERVER_H
#define CV_PG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

#define PG_SERVER_PORT_MIN     20000
#define PG_SERVER_PORT_MAX     32000 /* below Linux's ephemeral ports (32768-) */
#define PG_SERVER_PATH_MAX     512
#define PG_SERVER_CONNINFO_MAX 256

struct pg_server
{
    /* Read these. */
    char conninfo[PG_SERVER_CONNINFO_MAX]; /* "host=127.0.0.1 port=N user=caravan
                                              dbname=postgres" */
    int port;
    char dir[PG_SERVER_PATH_MAX];     /* temporary directory: sockets, logs */
    char datadir[PG_SERVER_PATH_MAX]; /* dir/data */
    bool running;

    /* Private. */
    char bindir[PG_SERVER_PATH_MAX];
    bool drop_privileges; /* run children as `uid`/`gid` (we are root) */
    uid_t uid;
    gid_t gid;
    pid_t postmaster_pid; /* 0 when unknown */
    int watchdog_fd;      /* write end of the watchdog's pipe, -1 when none */
    pid_t watchdog_pid;   /* 0 when none */
};

/* Creates, initializes and starts a new server into *srv (any previous
 * content is ignored). `extra_conf` (may be NULL) is appended to
 * postgresql.conf as is: lines such as "max_connections = 20\n". On failure
 * everything is removed again and *srv is left so that pg_server_destroy is a
 * no-op. Returns 0, CV_ENOTFOUND (no usable bin dir), CV_EIO (initdb or the
 * server failed; the message ends with the log's last lines) or
 * CV_ETIMEDOUT. */
int pg_server_start(struct pg_server *srv, const char *extra_conf, struct cv_err *err);

/* `pg_ctl stop -m immediate`: the postmaster and its backends quit without a
 * checkpoint, as after a crash; the next start runs WAL recovery. */
int pg_server_crash(struct pg_server *srv, struct cv_err *err);

/* `pg_ctl stop -m fast`: a clean shutdown. */
int pg_server_stop(struct pg_server *srv, struct cv_err *err);

/* Starts the stopped (or crashed) server again on the same directory and
 * port; fails (CV_EIO) when that port has been taken meanwhile. */
int pg_server_restart(struct pg_server *srv, struct cv_err *err);

/* Runs one SQL statement as the superuser on database `postgres`, through a
 * connection of its own. */
int pg_server_exec(const struct pg_server *srv, const char *sql, struct cv_err *err);

/* CREATE DATABASE name (the name is quoted as an identifier). */
int pg_server_create_database(const struct pg_server *srv, const char *name, struct cv_err *err);

/* Writes the conninfo for database `dbname` (quoted for libpq here) into
 * out; returns out. */
const char *pg_server_conninfo(const struct pg_server *srv, const char *dbname, char *out,
                               size_t size);

/* Stops the server when it runs (immediate: its data is thrown away), tells
 * the watchdog and removes the directory recursively. Safe after a failed
 * pg_server_start and when called twice. */
void pg_server_destroy(struct pg_server *srv);

#endif
