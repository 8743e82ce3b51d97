/*
 * state_fixture: what the test_state_* programs share: object builders
 * (jobs, nodes, allocations, evaluations decoded from JSON with the model's
 * decoders, so they are canonical as the FSM's will be, with IDs made from
 * a kind digit and a number) and write helpers (one call, one transaction).
 */
#ifndef CV_STATE_FIXTURE_H
#define CV_STATE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/allocation.h"
#include "common/err.h"
#include "common/evaluation.h"
#include "common/job.h"
#include "common/node.h"
#include "regiond/state/state.h"

/* A watch callback counting its firings and keeping the last index. */
struct fired
{
    int count;
    uint64_t index;
};

void uuid(char out[37], unsigned kind, unsigned n);

struct cv_job *mk_job(const char *id, const char *type);

struct cv_node *mk_node(unsigned n);

struct cv_allocation *mk_alloc(unsigned n, const char *job_id, unsigned node,
                               const struct cv_job *job);

struct cv_evaluation *mk_eval(unsigned n, const char *job_id, const char *status);

const char *alloc_id(unsigned n);

const char *eval_id(unsigned n);

const char *node_id(unsigned n);

void put_job(struct state_store *st, uint64_t index, struct cv_job *job);

void put_node(struct state_store *st, uint64_t index, struct cv_node *node);

void put_alloc(struct state_store *st, uint64_t index, struct cv_allocation *a);

void put_eval(struct state_store *st, uint64_t index, struct cv_evaluation *e);

size_t iter_count(struct state_iter *it);

void on_fire(void *arg, uint64_t index);

#endif
