/*
 * task_runner_internal: the runner's struct, shared by task_runner.c (the
 * lifecycle) and task_state_file.c (persistence). Nothing else includes it.
 */
#ifndef CV_AGENT_TASK_RUNNER_INTERNAL_H
#define CV_AGENT_TASK_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/allocation.h"
#include "nodeagent/driver.h"
#include "nodeagent/restart.h"
#include "nodeagent/task_runner.h"

struct event;

enum agent_phase
{
    AGENT_PHASE_NEW,        /* not started */
    AGENT_PHASE_RUNNING,    /* the driver runs it (h != NULL) */
    AGENT_PHASE_RESTARTING, /* waiting for the restart delay */
    AGENT_PHASE_DEAD,
};

struct agent_task_runner
{
    struct event_base *base;
    const struct cv_clock *clock;
    struct cv_allocation *alloc; /* owned copy */
    const struct cv_task *task;  /* inside alloc->job */
    const struct drv_ops *drv;
    struct drv_handle *h;
    char *task_name;
    char *datacenter;
    char *alloc_dir;  /* <alloc dir> */
    char *task_dir;   /* <alloc dir>/<task> */
    char *state_dir;  /* <data dir>/allocs/<alloc id> */
    char *state_path; /* state_dir/<task>.json */
    char *stdout_path;
    char *stderr_path;
    char **env;

    struct cv_task_state state;
    struct agent_restart_tracker restart;
    enum agent_phase phase;
    bool killing;
    int kill_signal;
    int64_t kill_timeout;

    int64_t log_max_bytes;
    int64_t log_max_files;
    int64_t log_check_interval;

    struct event *wait_ev;  /* the driver's wait fd */
    struct event *timer_ev; /* polling, restart delay, deferred work */
    struct event *kill_ev;  /* SIGKILL escalation */
    struct event *logs_ev;  /* log rotation checks */

    agent_task_update_cb on_update;
    void *arg;
};

/* Writes the runner's state file atomically (temp file, fsync, rename,
 * fsync of the directory). */
int agent_state_save(const struct agent_task_runner *r, struct cv_err *err);

/* Loads the runner's state file into r->state and r->restart; *handle gets
 * a new document holding the driver's handle object (NULL when there is
 * none). Errors name the file. */
int agent_state_load(struct agent_task_runner *r, struct cv_json_doc **handle, bool *killing,
                     struct cv_err *err);

#endif
