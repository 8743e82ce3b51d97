/*
 * fsm_internal: what fsm.c (entries, transactions, counters, snapshots) and
 * fsm_commands.c (each command's encoding, decoding and application) share.
 */
#ifndef CV_FSM_INTERNAL_H
#define CV_FSM_INTERNAL_H

#include <stdint.h>

#include "common/err.h"
#include "common/json.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"

/* A decoded command. Its strings may point into the JSON document it was
 * decoded from, which must outlive it. */
struct fsm_cmd;

/* Decodes the body of a command of a known type (1..FSM_COMMAND_MAX) into a
 * new command. On failure returns CV_EPARSE with err naming the field
 * ("Evals[2].ID: must be a UUID"), and *out is NULL. Touches no state. */
int fsm_cmd_decode(unsigned type, const struct cv_json *body, struct fsm_cmd **out,
                   struct cv_err *err);

/* Applies the command inside txn (the entry's transaction at `index`) and
 * fills res's command-specific fields. Returns 0, or the state's error
 * with err filled: the caller then aborts the transaction. Objects the
 * state took are no longer the command's. */
int fsm_cmd_apply(struct fsm_cmd *c, struct state_txn *txn, uint64_t index, struct fsm_result *res,
                  struct cv_err *err);

/* Frees the command and the objects it still owns. NULL is ignored. */
void fsm_cmd_free(struct fsm_cmd *c);

#endif
