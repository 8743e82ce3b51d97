/*
 * monitor: follow an evaluation as Nomad's CLI does after `job run` and
 * `job stop`, printing what changes until it finishes.
 *
 * Output (stdout), each line stamped with the time:
 *   ==> <t>: Monitoring evaluation "<short id>"
 *       <t>: Evaluation triggered by job "<job>"
 *       <t>: Allocation "<short>" created: node "<short>", group "<group>"
 *       <t>: Evaluation status changed: "pending" -> "complete"
 *   ==> <t>: Evaluation "<short>" finished with status "complete"
 * or, when placements failed, "... but failed to place all allocations:",
 * the reasons per task group, and the blocked evaluation that waits for
 * capacity (monitoring stops there, as in Nomad). An evaluation that names
 * a NextEval is followed to it.
 *
 * The evaluation is read with blocking queries on its index, so the
 * monitor makes one request per change, not a poll per interval.
 */
#ifndef CV_CLI_MONITOR_H
#define CV_CLI_MONITOR_H

#include <stdint.h>

#include "cli/cli.h"

/* Default bound on the whole monitor (-monitor-timeout). */
#define CLI_MONITOR_TIMEOUT_NS (5 * 60 * (int64_t)1000000000)

/* Follows evaluation eval_id for at most timeout_ns. Returns CLI_EXIT_OK
 * when it completed with everything placed, CLI_EXIT_PLACEMENT when
 * placements failed (or the evaluation is blocked), CLI_EXIT_FAILURE on an
 * error, a failed or cancelled evaluation, or the timeout (one line on
 * stderr says which). */
int cli_monitor_eval(const struct cli_ctx *ctx, const char *eval_id, int64_t timeout_ns);

#endif
