/*
 * proc: what the agent reads about a process from /proc.
 *
 * A pid alone does not name a process for long: the kernel reuses pids.
 * (pid, start time) does, because two processes with one pid cannot start
 * in the same clock tick. The start time is field 22 of /proc/<pid>/stat,
 * in clock ticks since boot.
 */
#ifndef CV_AGENT_PROC_H
#define CV_AGENT_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Reads the start time of pid and, when state is not NULL, its state letter
 * (R, S, D, Z...). Returns 0, or CV_ENOTFOUND when there is no such process,
 * or CV_EPARSE when the file does not read as expected. */
int agent_proc_start_time(pid_t pid, uint64_t *start_time, char *state);

#endif
