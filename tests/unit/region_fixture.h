/*
 * region_fixture: a one-server region inside a test process, for tests of
 * what clients and scheduler workers do over RPC: the server core on an
 * embedded store in a temporary directory, the leader's duties, the
 * workers' RPCs, client allocation updates and watches, two scheduler worker threads,
 * and an RPC pool to call it. Helpers register nodes over "Node.Register",
 * write jobs with their evaluations through Raft, wait (bounded) for
 * evaluations and allocations, and check that no node is overcommitted.
 */
#ifndef CV_TEST_REGION_FIXTURE_H
#define CV_TEST_REGION_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/evaluation.h"
#include "common/random.h"
#include "common/rpc.h"
#include "regiond/alloc_updates.h"
#include "regiond/client_allocs.h"
#include "regiond/duties.h"
#include "regiond/sched_workers.h"
#include "regiond/server.h"
#include "regiond/workers.h"

struct region_fx
{
    struct event_base *base;
    struct srv *srv;
    struct duties *duties;
    struct workers *workers;
    struct alloc_updates *alloc_updates;
    struct client_allocs *client_allocs;
    struct sched_workers *sched;
    struct rpc_pool *pool;
    char dir[512];
    char addr[RPC_ADDR_MAX];
};

extern struct region_fx rfx;

/* cmocka setup/teardown (per test: a fresh region each time). */
int region_setup(void **state);
int region_teardown(void **state);

/* Serves the loop for about ms milliseconds. */
void region_serve_ms(int ms);
/* Serves the loop until pred holds, at most ~20 s; returns pred(). */
bool region_run_until(bool (*pred)(void));

struct region_answer
{
    int status;
    char msg[256];
    char body[4096];
};

/* Calls method with the JSON args and waits for the answer. */
struct region_answer region_call(const char *method, const char *args);

/* Registers a ready node in dc1 with the mock driver; writes its ID. */
void region_register_node(const char *name, int cpu, int memory_mb, char id[CV_UUID_LEN + 1]);
/* Writes job_text and a pending evaluation for it; writes the eval's ID. */
void region_submit_job(const char *job_text, char eval_id[CV_UUID_LEN + 1]);
/* Waits for the evaluation to be terminal; returns a copy (free it). */
struct cv_evaluation *region_wait_eval(const char *id);
/* The job's live allocations (checks that no two share a name). */
size_t region_live_allocs(const char *job_id);
/* Writes the IDs of up to max live allocations of the job; returns how many. */
size_t region_alloc_ids(const char *job_id, char ids[][CV_UUID_LEN + 1], size_t max);
/* Fails the test when a node holds more than it has. */
void region_assert_no_overcommit(void);

#endif
