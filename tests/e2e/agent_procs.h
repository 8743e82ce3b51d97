/*
 * agent_procs: what the end-to-end tests of the client agent look at on
 * this machine: a file's text, a task's pid from the agent's persisted task
 * state, the processes of a `sleep N` task, whether a pid is alive, and a
 * string member of parsed JSON.
 */
#ifndef CV_TEST_E2E_AGENT_PROCS_H
#define CV_TEST_E2E_AGENT_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/json.h"

/* Reads up to size - 1 bytes of path into buf, NUL-terminated. */
bool e2e_read_file(const char *path, char *buf, size_t size);

/* The string member key of obj, "" when absent or not a string. */
const char *e2e_jstr(const struct cv_json *obj, const char *key);

/* The pid the agent with data_dir persisted for task `task` of the
 * allocation (<data_dir>/allocs/<alloc>/<task>.json, Handle.Pid), 0 if none. */
pid_t e2e_task_pid(const char *data_dir, const char *alloc_id, const char *task);

/* Processes whose command line is exactly `sleep <secs>` (any path to
 * sleep); their pids go to pids[0..max) when pids is not NULL. Returns how
 * many there are. */
int e2e_find_sleeps(long secs, pid_t *pids, int max);

/* kill(pid, 0) succeeds. */
bool e2e_alive(pid_t pid);

#endif
