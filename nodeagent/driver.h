/*
 * driver: how the agent runs a task, whatever runs it.
 *
 * A driver is a table of operations (struct drv_ops) over an opaque handle,
 * one handle per running task. The task runner (task_runner.h) owns the
 * handle and drives it:
 *
 *   start    launches the task and returns a handle, or an error that says
 *            whether trying again may help (drv_err.recoverable);
 *   signal   sends a signal to the task (raw_exec: to its process group);
 *   poll     asks, without blocking, whether the task has exited and how;
 *   wait_fd  optionally gives a descriptor that becomes readable when the
 *            task may have exited (raw_exec: a pidfd), so the runner need
 *            not poll; next_poll says when polling is worth it otherwise;
 *   encode   writes what a new agent needs to find the task again;
 *   recover  rebuilds a handle from that, after an agent restart, when the
 *            task is provably the same one (raw_exec: pid and start time);
 *   destroy  frees the handle. It never stops the task: an agent that exits
 *            leaves its tasks running for the next agent to recover.
 *
 * Drivers: "raw_exec" (driver_raw_exec.c, fork/exec) and "mock"
 * (driver_mock.c, timers only). drv_find() looks one up by name.
 *
 * Drivers do no I/O on an event loop and keep no global state; time comes
 * from the task's cv_clock.
 */
#ifndef CV_DRIVER_H
#define CV_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "common/jsongen.h"

/* What a driver needs to start one task. Everything is borrowed and needs
 * to stay valid only during the call. */
struct drv_task
{
    const char *alloc_id;
    const char *task_name;
    const struct cv_json *config; /* Task.Config; NULL when absent */
    char *const *env;             /* "KEY=value" strings, NULL-terminated */
    const char *task_dir;         /* the working directory (exists) */
    const char *stdout_path;      /* log files (their directory exists) */
    const char *stderr_path;
    const struct cv_clock *clock;
};

/* How a task ended. */
struct drv_exit
{
    int64_t exit_code; /* -1 when unknown */
    int64_t signal;    /* the signal that ended it, 0 for none */
    bool unknown;      /* the task ended out of sight: code and signal unknown */
    char message[256]; /* "" or why (mock: its exit_err_msg) */
};

/* Whether an exit counts as a success for the restart policy. */
static inline bool drv_exit_successful(const struct drv_exit *e)
{
    return !e->unknown && e->exit_code == 0 && e->signal == 0;
}

/* A start error, with Nomad's notion of recoverable: a recoverable error is
 * worth a restart under the policy, an unrecoverable one fails the task. */
struct drv_err
{
    struct cv_err err;
    bool recoverable;
};

enum drv_poll_result
{
    DRV_RUNNING = 0,
    DRV_EXITED = 1,
};

/* Every driver's handle starts with this; the rest is the driver's. */
struct drv_handle
{
    const struct drv_ops *ops;
};

struct drv_ops
{
    const char *name;
    /* Checks Task.Config (NULL when absent); messages name the field. */
    int (*validate)(const struct cv_json *config, struct cv_err *err);
    /* Starts the task. On success *out is a new handle. */
    int (*start)(const struct drv_task *task, struct drv_handle **out, struct drv_err *err);
    /* Sends sig (a signal number) to the task; 0 once the task is gone. */
    int (*signal)(struct drv_handle *h, int sig, struct cv_err *err);
    /* Returns DRV_RUNNING or DRV_EXITED (then *out describes the exit; later
     * calls keep returning the same exit). Never blocks. */
    enum drv_poll_result (*poll)(struct drv_handle *h, struct drv_exit *out);
    /* A descriptor readable once the task may have exited, or -1. Owned by
     * the handle. */
    int (*wait_fd)(struct drv_handle *h);
    /* Nanoseconds until the next poll is worth making, for when wait_fd is
     * -1: the mock driver knows when its task ends. */
    int64_t (*next_poll)(struct drv_handle *h);
    /* Writes the handle's state as one JSON object. */
    void (*encode)(const struct drv_handle *h, struct cv_jgen *g);
    /* Rebuilds a handle from encode()'s object. Returns 0 with *out set
     * (poll tells whether the task still runs), CV_ENOTFOUND when the task is
     * not there any more (or is not provably the same task), or CV_EPARSE
     * when the state is malformed. */
    int (*recover)(const struct drv_task *task, const struct cv_json *state,
                   struct drv_handle **out, struct cv_err *err);
    /* The task's process id (its process group's too), or 0 for none. */
    int (*pid)(const struct drv_handle *h);
    /* Frees the handle; the task is left as it is. */
    void (*destroy)(struct drv_handle *h);
};

extern const struct drv_ops drv_raw_exec;
extern const struct drv_ops drv_mock;

/* Returns the driver named `name`, or NULL. */
const struct drv_ops *drv_find(const char *name);

/* Parses a duration: a JSON integer of nanoseconds, or a string as Go's
 * time.ParseDuration takes it ("10s", "500ms", "1m30s", "2h"; units ns,
 * us, ms, s, m, h; no sign). Returns 0 or CV_EINVAL. */
int drv_parse_duration(const struct cv_json *v, int64_t *out_ns);

/* Parses a signal name as Nomad's KillSignal takes it ("SIGINT", "SIGTERM",
 * "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"...), with or without
 * the SIG prefix. Returns the number, or -1. */
int drv_parse_signal(const char *name);

#endif
