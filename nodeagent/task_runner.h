/*
 * task_runner: runs one task of an allocation through its driver, on the
 * agent's libevent loop, and keeps its Nomad TaskState.
 *
 * Lifecycle, as Nomad's task runner (events in Nomad's words):
 *
 *   agent_task_runner_new()      the task is known; state "pending"
 *   agent_task_runner_start()    "Received", "Task Setup" (directories),
 *                                driver start -> "Started", state "running"
 *                                (or "Driver Failure" and the restart policy)
 *   the task exits               "Terminated" (ExitCode, Signal), then the
 *                                restart policy (restart.h): "Restarting"
 *                                (state "pending", after the delay a new
 *                                start), or "Not Restarting" (dead, Failed),
 *                                or, for a batch task that succeeded, dead
 *   agent_task_runner_kill()     "Killing" (KillTimeout), KillSignal to the
 *                                task, SIGKILL after KillTimeout; when it has
 *                                exited "Terminated" then "Killed": dead,
 *                                not Failed
 *
 * Every change of the state is first persisted (task_state_file.c), then
 * reported to on_update. The persisted file, <data dir>/allocs/<alloc
 * id>/<task>.json, holds the TaskState, the restart tracker and the
 * driver's handle; agent_task_runner_recover() rebuilds a runner from it
 * after an agent restart and reattaches to the task when the driver proves
 * it is the same one (raw_exec: pid and start time), never starting it a
 * second time. A task that is gone is reported "Terminated" with ExitCode
 * -1 and an exit message saying the status is unknown, and that counts as
 * a failure for the restart policy.
 *
 * Directories: the allocation directory (agent's choice, by default
 * <data dir>/alloc/<alloc id>) holds alloc/{logs,data,tmp} and
 * <task>/{local,secrets,tmp}; the task runs in <alloc dir>/<task>.
 *
 * Threads: a runner belongs to its event loop's thread.
 */
#ifndef CV_AGENT_TASK_RUNNER_H
#define CV_AGENT_TASK_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/clock.h"
#include "common/err.h"

struct event_base;
struct agent_task_runner;

/* Called after each state change; the state is borrowed for the call. */
typedef void (*agent_task_update_cb)(struct agent_task_runner *r, const struct cv_task_state *st,
                                     void *arg);

struct agent_task_runner_config
{
    struct event_base *base;           /* borrowed; must outlive the runner */
    const struct cv_clock *clock;      /* borrowed; NULL: the system clock */
    const struct cv_allocation *alloc; /* borrowed, copied: needs its Job */
    const char *task_name;
    const char *data_dir;   /* holds allocs/<alloc id>/<task>.json */
    const char *alloc_dir;  /* NULL: <data_dir>/alloc/<alloc id> */
    const char *datacenter; /* the node's, for NOMAD_DC */
    uint64_t seed;          /* restart jitter; 0: a fixed default */
    /* Log rotation: 0 takes Task.LogConfig, then Nomad's defaults (10 files
     * of 10 MiB). log_check_interval: ns between size checks, 0: 1 s. */
    int64_t log_max_bytes;
    int64_t log_max_files;
    int64_t log_check_interval;
    agent_task_update_cb on_update;
    void *arg;
};

/* Creates a runner for a task of cfg->alloc; checks the task exists, its
 * driver is known and its Config valid. Nothing starts yet. */
int agent_task_runner_new(const struct agent_task_runner_config *cfg,
                          struct agent_task_runner **out, struct cv_err *err);

/* Starts the task (Received, Task Setup, then the driver). Returns 0 even
 * when the driver fails: that is a task event, not an API error. Returns an
 * error when the directories cannot be made, or when already started. */
int agent_task_runner_start(struct agent_task_runner *r, struct cv_err *err);

/* Rebuilds a runner from its persisted file after an agent restart.
 * Returns CV_ENOTFOUND when there is no file, CV_EPARSE naming the file
 * (and the field) when it is malformed or for another task. On success the
 * runner is either watching the reattached task, or has recorded that the
 * task is gone (and applied the restart policy), or is dead as it was. */
int agent_task_runner_recover(const struct agent_task_runner_config *cfg,
                              struct agent_task_runner **out, struct cv_err *err);

/* Asks the task to stop (reason may be NULL). The runner reaches "dead"
 * asynchronously; on_update reports it. A no-op once dead. */
void agent_task_runner_kill(struct agent_task_runner *r, const char *reason);

/* The current state (borrowed, valid until the next loop iteration). */
const struct cv_task_state *agent_task_runner_state(const struct agent_task_runner *r);
/* True once the state is "dead" and nothing more will happen. */
bool agent_task_runner_done(const struct agent_task_runner *r);
/* The persisted file's path (borrowed). */
const char *agent_task_runner_state_path(const struct agent_task_runner *r);
/* The process id of the task, or 0 (drivers without processes, not running). */
int agent_task_runner_pid(const struct agent_task_runner *r);

/* Deletes the persisted file (when the allocation is garbage collected). */
int agent_task_runner_forget(struct agent_task_runner *r, struct cv_err *err);

/* Frees the runner without stopping the task: the task keeps running and
 * its persisted file stays, for a new agent to recover. NULL is ignored. */
void agent_task_runner_free(struct agent_task_runner *r);

/* Nomad's task event types. */
#define AGENT_EV_RECEIVED       "Received"
#define AGENT_EV_SETUP          "Task Setup"
#define AGENT_EV_STARTED        "Started"
#define AGENT_EV_TERMINATED     "Terminated"
#define AGENT_EV_RESTARTING     "Restarting"
#define AGENT_EV_NOT_RESTARTING "Not Restarting"
#define AGENT_EV_KILLING        "Killing"
#define AGENT_EV_KILLED         "Killed"
#define AGENT_EV_DRIVER_FAILURE "Driver Failure"
#define AGENT_EV_SETUP_FAILURE  "Setup Failure"

#endif
