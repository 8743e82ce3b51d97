/*
 * task_env: the environment a task starts with.
 *
 * The task's Env first, then Nomad's variables, each under its NOMAD_ name
 * and again under CARAVAN_ (NOMAD_ALLOC_ID and CARAVAN_ALLOC_ID...):
 * ALLOC_ID, ALLOC_NAME, ALLOC_INDEX, TASK_NAME, GROUP_NAME, JOB_NAME,
 * JOB_ID, NAMESPACE, REGION, DC, ALLOC_DIR, TASK_DIR, SECRETS_DIR,
 * CPU_LIMIT, MEMORY_LIMIT. These win over a task Env entry of the same
 * name, so a job cannot misreport where it runs. PATH is
 * /usr/local/bin:/usr/bin:/bin unless Env sets it; nothing else of the
 * agent's own environment is passed on.
 */
#ifndef CV_AGENT_TASK_ENV_H
#define CV_AGENT_TASK_ENV_H

#include "common/allocation.h"
#include "common/job.h"

struct agent_task_env_info
{
    const struct cv_allocation *alloc; /* with its Job */
    const struct cv_task *task;
    const char *datacenter; /* the node's */
    const char *alloc_dir;  /* NOMAD_ALLOC_DIR: <alloc dir>/alloc */
    const char *task_dir;   /* NOMAD_TASK_DIR: <alloc dir>/<task>/local */
    const char *secrets_dir;
};

/* Returns a new NULL-terminated, sorted array of "KEY=value" strings; free
 * with agent_task_env_free. */
char **agent_task_env_build(const struct agent_task_env_info *info);
void agent_task_env_free(char **env);

#endif
