/*
 * restart: the restart policy of one task, decided exactly as Nomad's
 * client does (client/allocrunner/taskrunner/restarts/restarts.go).
 *
 * After every exit or start failure the tracker answers one of:
 *   AGENT_RESTART_TERMINATED  the task is done and did not fail: a batch (or
 *                             sysbatch) task that exited successfully;
 *   AGENT_RESTART_RESTART     start it again after `delay`;
 *   AGENT_RESTART_FAIL        do not restart; the task fails.
 *
 * The rules, in Nomad's order:
 *   1. Attempts == 0: a successful exit of a batch task terminates, anything
 *      else fails ("Policy allows no restarts").
 *   2. When the current interval (Interval long, from the tracker's start or
 *      its last reset) has ended, the count resets to 0 and a new interval
 *      starts now. The count is then incremented.
 *   3. An unrecoverable start error fails ("Error was unrecoverable"); a
 *      successful exit of a batch task terminates.
 *   4. count > Attempts: mode "fail" fails ("Exceeded allowed attempts N in
 *      interval D and mode is \"fail\""); mode "delay" restarts when the
 *      interval ends ("Exceeded allowed attempts, applying a delay"), after
 *      which rule 2 resets the count.
 *   5. Otherwise restart after Delay plus jitter ("Restart within policy"):
 *      Delay + rand[0, Delay) * 0.25 (Delay 0 counts as 1 ns).
 *
 * A service task's successful exit counts as a restart like a failure,
 * as Nomad's does. Times are wall-clock nanoseconds, so the interval
 * survives an agent restart when the tracker is persisted.
 */
#ifndef CV_AGENT_RESTART_H
#define CV_AGENT_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/job.h"

enum agent_restart_decision
{
    AGENT_RESTART_TERMINATED,
    AGENT_RESTART_RESTART,
    AGENT_RESTART_FAIL,
};

struct agent_restart_tracker
{
    int64_t attempts;
    int64_t interval;       /* ns */
    int64_t delay;          /* ns */
    bool mode_delay;        /* "delay" rather than "fail" */
    bool on_success;        /* a successful exit restarts too (not batch) */
    int64_t count;          /* restarts counted in the current interval */
    int64_t interval_start; /* wall ns */
    uint64_t rng;           /* jitter state */
};

struct agent_restart_result
{
    enum agent_restart_decision decision;
    int64_t delay; /* ns, for AGENT_RESTART_RESTART */
    char reason[160];
};

/* Sets the tracker up from a policy (NULL: Nomad's default for job_type) and
 * the job's type; now is wall ns; seed feeds the jitter. */
void agent_restart_init(struct agent_restart_tracker *t, const struct cv_restart_policy *policy,
                        const char *job_type, int64_t now, uint64_t seed);

/* Decides after an exit (successful tells whether it was a success) or,
 * when start_error is true, after a failed start (recoverable or not). */
void agent_restart_next(struct agent_restart_tracker *t, int64_t now, bool start_error,
                        bool recoverable, bool successful, struct agent_restart_result *out);

/* Writes d as Go's time.Duration.String() does ("15s", "1m30s", "500ms",
 * "1.5s", "0s"); returns buf. */
const char *agent_fmt_duration(int64_t d, char *buf, size_t size);

#endif
