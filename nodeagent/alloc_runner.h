/*
 * alloc_runner: one allocation on this node, its task runners and its
 * ClientStatus.
 *
 * The runner keeps a copy of the allocation (with its Job), persisted in
 * <data dir>/client/<alloc id>.json so a restarted agent can rebuild it,
 * and one task runner (task_runner.h) per task of the allocation's group.
 * The tasks start together (no lifecycle hooks). When a task fails for
 * good, its siblings are killed, as Nomad does.
 *
 * ClientStatus follows Nomad's getClientStatus over the task states: any
 * task dead and failed -> "failed"; else any running -> "running"; else any
 * pending -> "pending"; else (all dead) -> "complete".
 *
 * on_update runs after every change of a task's state, never from inside
 * agent_alloc_runner_new/recover/start (those report once, at their end,
 * when anything changed), so the owner sees whole allocations only.
 *
 * Freeing a runner leaves its tasks running and its files in place for the
 * next agent; agent_alloc_runner_forget deletes the files.
 */
#ifndef CV_AGENT_ALLOC_RUNNER_H
#define CV_AGENT_ALLOC_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/jsongen.h"

struct event_base;
struct agent_alloc_runner;

typedef void (*agent_alloc_update_cb)(struct agent_alloc_runner *ar, void *arg);

struct agent_alloc_runner_config
{
    struct event_base *base;      /* borrowed; must outlive the runner */
    const struct cv_clock *clock; /* borrowed; NULL: the system clock */
    const char *data_dir;         /* borrowed, copied */
    const char *datacenter;       /* borrowed, copied */
    agent_alloc_update_cb on_update;
    void *arg;
};

/* Where allocations are persisted: <data_dir>/client. */
#define AGENT_ALLOC_DIR "client"

/* Creates the runner for `alloc` (borrowed, copied; needs its Job),
 * persists it, and makes a task runner per task. Nothing starts yet. */
int agent_alloc_runner_new(const struct agent_alloc_runner_config *cfg,
                           const struct cv_allocation *alloc, struct agent_alloc_runner **out,
                           struct cv_err *err);

/* Starts every task. */
void agent_alloc_runner_start(struct agent_alloc_runner *ar);

/* Rebuilds the runner of allocation `alloc_id` from its persisted file and
 * recovers each task (reattaching to running ones; a task that has no
 * state file yet is started). CV_ENOTFOUND when there is no file. */
int agent_alloc_runner_recover(const struct agent_alloc_runner_config *cfg, const char *alloc_id,
                               struct agent_alloc_runner **out, struct cv_err *err);

/* Takes a newer version of the allocation from the servers (borrowed,
 * copied): a DesiredStatus other than "run" kills the tasks. */
void agent_alloc_runner_update(struct agent_alloc_runner *ar, const struct cv_allocation *alloc);

/* Kills every task (reason may be NULL). */
void agent_alloc_runner_kill(struct agent_alloc_runner *ar, const char *reason);

/* The allocation as last given (borrowed). */
const struct cv_allocation *agent_alloc_runner_alloc(const struct agent_alloc_runner *ar);
/* True when every task is dead. */
bool agent_alloc_runner_done(const struct agent_alloc_runner *ar);
/* Nomad's ClientStatus and ClientDescription (static strings). */
const char *agent_alloc_runner_client_status(const struct agent_alloc_runner *ar,
                                             const char **description);
/* Whether the allocation runs a task named `task`; *done (may be NULL)
 * tells whether it is dead. */
bool agent_alloc_runner_task(const struct agent_alloc_runner *ar, const char *task, bool *done);
/* The pid of task `task`, or 0. */
int agent_alloc_runner_pid(const struct agent_alloc_runner *ar, const char *task);

/* Writes the status update the servers take (Node.UpdateAlloc's element):
 * {"ID", "NodeID", "ClientStatus", "ClientDescription", "TaskStates",
 * "ModifyTime"}. */
void agent_alloc_runner_encode_update(const struct agent_alloc_runner *ar, const char *node_id,
                                      int64_t modify_time, struct cv_jgen *g);

/* Deletes the persisted files (allocation and task states). */
void agent_alloc_runner_forget(struct agent_alloc_runner *ar);

/* Frees the runner; tasks keep running. NULL is ignored. */
void agent_alloc_runner_free(struct agent_alloc_runner *ar);

#endif
