/*
 * fsm_internal: what fsm.c (entries, transactions, counters, snapshots),
 * fsm_commands.c (the commands' dispatch, the encoding and application
 * helpers, the job, evaluation, allocation and plan commands),
 * fsm_decode.c (the decoding helpers) and fsm_nodes.c (the node commands)
 * share.
 */
#ifndef CV_FSM_INTERNAL_H
#define CV_FSM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/json.h"
#include "common/jsongen.h"
#include "common/node.h"
#include "regiond/fsm.h"
#include "regiond/state/state.h"

/* A decoded command. Its `const char *` strings point into the JSON
 * document it was decoded from, which must outlive it; the objects and the
 * arrays are its own until the state takes them. */
struct fsm_cmd
{
    unsigned type;
    struct cv_job *job;         /* JobRegister */
    struct cv_node *node;       /* NodeRegister */
    struct cv_evaluation *eval; /* the single "Eval"; NULL when none */
    const char *job_id;         /* JobDeregister */
    bool purge;
    int64_t submit_time;
    const char *node_id; /* NodeStatus, NodeEligibility, NodeDrain */
    const char *status;
    const char *eligibility;
    int64_t updated_at;
    bool draining;                  /* NodeDrain: a DrainStrategy was given */
    struct cv_drain_strategy drain; /* its strings are the command's own */
    bool mark_eligible;
    const char *eval_id; /* PlanApply */
    const char **ids;    /* NodeIDs; EvalDelete's Evals */
    size_t n_ids;
    const char **alloc_ids; /* EvalDelete's Allocs */
    size_t n_alloc_ids;
    struct cv_evaluation **evals;
    size_t n_evals;
    struct cv_allocation **allocs; /* client updates; a plan's AllocsUpdated */
    size_t n_allocs;
    struct fsm_alloc_stop *stops; /* a plan's AllocsStopped */
    size_t n_stops;
};

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

/* ---- fsm_nodes.c: the node commands ------------------------------------------------ */

/* Decodes the body (a JSON object) of the node command c->type into c. */
int fsm_node_decode(const struct cv_json *body, struct fsm_cmd *c, struct cv_err *err);
/* Applies the node command c->type inside txn. */
int fsm_node_apply(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err);

/* ---- fsm_commands.c: encoding helpers ---------------------------------------------- */

/* A new generator with the body's object open. */
struct cv_jgen *fsm_enc_begin(void);
/* Closes the body and writes header + body into out; frees g. Returns 0,
 * CV_EINVAL (a string that is not UTF-8) or CV_ETOOBIG, out left empty. */
int fsm_enc_finish(struct cv_jgen *g, enum fsm_command type, struct cv_buf *out,
                   struct cv_err *err);
void fsm_enc_string(struct cv_jgen *g, const char *key, const char *value);
void fsm_enc_strings(struct cv_jgen *g, const char *key, const char *const *s, size_t n);
void fsm_enc_evals(struct cv_jgen *g, const char *key, const struct cv_evaluation *const *evals,
                   size_t n);

/* ---- fsm_decode.c: decoding helpers --------------------------------------------------
 * Each returns 0, or CV_EPARSE with err's path naming the key (a member
 * helper names the key alone: a caller decoding a nested object prefixes
 * the path). Strings are borrowed from the document.
 */

/* Sets err (CV_EPARSE at path) and returns CV_EPARSE. */
int fsm_bad(struct cv_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The first problem of errs (a model's decoder's or checks'), under path,
 * as err. Frees the list. */
int fsm_list_failed(struct cv_err *err, const char *path, struct cv_errlist *errs);
/* The member `key` of an object; NULL when absent or null (Go's nil). */
const struct cv_json *fsm_member(const struct cv_json *obj, const char *key);
/* A string member without NUL characters; "" when absent and not
 * required (required also refuses ""). */
int fsm_get_string(const struct cv_json *obj, const char *key, bool required, const char **out,
                   struct cv_err *err);
/* A string member that is a UUID ("" allowed when not required). */
int fsm_get_uuid(const struct cv_json *obj, const char *key, bool required, const char **out,
                 struct cv_err *err);
/* value is one of the NULL-terminated `allowed`. */
int fsm_check_vocab(const char *value, const char *path, const char *const *allowed,
                    struct cv_err *err);
/* A boolean member; false when absent. */
int fsm_get_bool(const struct cv_json *obj, const char *key, bool *out, struct cv_err *err);
/* A 64-bit integer member; 0 when absent. */
int fsm_get_int(const struct cv_json *obj, const char *key, int64_t *out, struct cv_err *err);
/* An array member; *arr NULL when absent (an error when required). */
int fsm_get_array(const struct cv_json *obj, const char *key, bool required,
                  const struct cv_json **arr, struct cv_err *err);
/* An array of UUIDs into a new array of borrowed pointers (*out; the
 * caller's command frees it); nothing when absent and not required. */
int fsm_get_uuids(const struct cv_json *obj, const char *key, bool required, const char ***out,
                  size_t *n, struct cv_err *err);
/* The optional member "Eval" through the model's decoder (*out new; the
 * command frees it); *out untouched when absent. */
int fsm_get_eval(const struct cv_json *obj, struct cv_evaluation **out, struct cv_err *err);
/* An array of evaluations through the model's decoder, into a new array
 * (*out, *n the ones decoded; the command frees them). */
int fsm_get_evals(const struct cv_json *obj, const char *key, bool required,
                  struct cv_evaluation ***out, size_t *n, struct cv_err *err);

/* ---- fsm_commands.c: application helpers -------------------------------------------- */

/* Upserts the command's "Evals"; the state takes them. */
int fsm_put_evals(struct fsm_cmd *c, struct state_txn *txn, struct cv_err *err);

#endif
