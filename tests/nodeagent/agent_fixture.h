/*
 * agent_fixture: what the nodeagent tests share: a temporary data dir, an
 * event loop, allocations built from a few parameters, bounded waits.
 */
#ifndef CV_AGENT_FIXTURE_H
#define CV_AGENT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/allocation.h"
#include "nodeagent/task_runner.h"

#define FX_ALLOC_ID "5f1ac0ab-0b3e-4b0f-af4b-1fbd0e0c3c11"

struct fx
{
    char dir[256];
    struct event_base *base;
    struct cv_allocation *alloc;
    int updates;
};

/* Makes the temporary dir and the loop. */
void fx_init(struct fx *f);
/* Removes the dir, frees the loop and the allocation. */
void fx_done(struct fx *f);

/* Builds f->alloc: one job of `type` with a group "grp" and one task "t1"
 * whose fields after Name are task_json (Nomad JSON, ' for "), and the
 * group's RestartPolicy restart_json (NULL for the default). */
void fx_alloc(struct fx *f, const char *type, const char *task_json, const char *restart_json);

/* A runner config for f->alloc's task t1 in f->dir (counts updates). */
struct agent_task_runner_config fx_config(struct fx *f);

/* Runs the loop until pred(arg) or timeout_ms; returns pred's last answer. */
bool fx_run_until(struct fx *f, bool (*pred)(void *), void *arg, int64_t timeout_ms);
/* Runs the loop for ms. */
void fx_run_for(struct fx *f, int64_t ms);

bool fx_runner_done(void *runner);
bool fx_runner_running(void *runner);

/* Monotonic milliseconds. */
int64_t fx_now_ms(void);

/* The types of the state's events, joined by ",". */
void fx_event_types(const struct cv_task_state *st, char *buf, size_t size);
/* The last event of a type, or NULL. */
const struct cv_task_event *fx_last_event(const struct cv_task_state *st, const char *type);

/* Reads a whole file into a new buffer (cv_free), or NULL. */
char *fx_read(const char *path);

#endif
