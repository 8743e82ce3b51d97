/*
 * logs: the task log files and their rotation.
 *
 * A task writes <alloc dir>/alloc/logs/<task>.stdout.0 and .stderr.0 itself
 * (raw_exec opens them O_APPEND in the child), so the agent cannot rotate
 * them by switching descriptors. It rotates copy-truncate style instead:
 * when the live file (.0) is larger than the limit, its content is copied
 * to <task>.stdout.N, N one above the highest index present (1 for the
 * first), and the live file is truncated to zero; the task's O_APPEND
 * writes then continue at the new end. Files beyond max_files in all (the
 * live one included) are deleted, lowest index first.
 *
 * So .0 is always the live, newest file, and among the rotated files a
 * higher index is newer: the whole log in order is .1, .2, ... .N, then .0.
 * (Nomad's logmon writes the newest into the highest index instead; it can,
 * because its logmon process owns the pipe the task writes to.)
 *
 * Copy-truncate loses what the task writes between the end of the copy and
 * the truncation; the window is one ftruncate() call.
 */
#ifndef CV_AGENT_LOGS_H
#define CV_AGENT_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Nomad's defaults (LogConfig). */
#define AGENT_LOGS_DEFAULT_MAX_FILES 10
#define AGENT_LOGS_DEFAULT_MAX_BYTES (10 * 1024 * 1024)

/* Rotates live_path (".../<task>.stdout.0") when it holds more than
 * max_bytes, then keeps at most max_files files of that stream. Returns 1
 * when it rotated, 0 when there was nothing to do, or a CV_E* code. */
int agent_logs_rotate(const char *live_path, int64_t max_bytes, int64_t max_files,
                      struct cv_err *err);

#endif
