/*
 * task_env: builds a task's environment as a sorted string map, then
 * flattens it (see task_env.h for the rules).
 */
#include "nodeagent/task_env.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/mem.h"

static void set_both(struct cv_strmap *m, const char *name, const char *value)
{
    char key[64];
    snprintf(key, sizeof key, "NOMAD_%s", name);
    cv_strmap_set(m, key, value ? value : "");
    snprintf(key, sizeof key, "CARAVAN_%s", name);
    cv_strmap_set(m, key, value ? value : "");
}

/* "job.group[3]" -> "3"; "0" when the name has no index. */
static void alloc_index(const char *name, char *out, size_t size)
{
    const char *open = name ? strrchr(name, '[') : NULL;
    const char *close = open ? strchr(open, ']') : NULL;
    if (!open || !close || close == open + 1) {
        snprintf(out, size, "0");
        return;
    }
    snprintf(out, size, "%.*s", (int)(close - open - 1), open + 1);
}

char **agent_task_env_build(const struct agent_task_env_info *info)
{
    struct cv_strmap m = {0};
    const struct cv_allocation *a = info->alloc;
    const struct cv_job *job = a->job;
    const struct cv_task *t = info->task;
    cv_strmap_set(&m, "PATH", "/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; i < t->env.len; i++) {
        cv_strmap_set(&m, t->env.items[i].key, t->env.items[i].value);
    }
    char buf[64];
    set_both(&m, "ALLOC_ID", a->id);
    set_both(&m, "ALLOC_NAME", a->name);
    alloc_index(a->name, buf, sizeof buf);
    set_both(&m, "ALLOC_INDEX", buf);
    set_both(&m, "TASK_NAME", t->name);
    set_both(&m, "GROUP_NAME", a->task_group);
    set_both(&m, "JOB_NAME", job && job->name && *job->name ? job->name : a->job_id);
    set_both(&m, "JOB_ID", job && job->id && *job->id ? job->id : a->job_id);
    set_both(&m, "NAMESPACE", a->namespace);
    set_both(&m, "REGION", job ? job->region : "");
    set_both(&m, "DC", info->datacenter);
    set_both(&m, "ALLOC_DIR", info->alloc_dir);
    set_both(&m, "TASK_DIR", info->task_dir);
    set_both(&m, "SECRETS_DIR", info->secrets_dir);
    int64_t cpu = t->resources && t->resources->cpu != CV_UNSET ? t->resources->cpu : 0;
    int64_t mem = t->resources && t->resources->memory_mb != CV_UNSET ? t->resources->memory_mb : 0;
    snprintf(buf, sizeof buf, "%" PRId64, cpu);
    set_both(&m, "CPU_LIMIT", buf);
    snprintf(buf, sizeof buf, "%" PRId64, mem);
    set_both(&m, "MEMORY_LIMIT", buf);

    char **env = cv_calloc(m.len + 1, sizeof *env);
    for (size_t i = 0; i < m.len; i++) {
        size_t kl = strlen(m.items[i].key), vl = strlen(m.items[i].value);
        env[i] = cv_malloc(kl + vl + 2);
        memcpy(env[i], m.items[i].key, kl);
        env[i][kl] = '=';
        memcpy(env[i] + kl + 1, m.items[i].value, vl + 1);
        cv_free(m.items[i].key);
        cv_free(m.items[i].value);
    }
    cv_free(m.items);
    return env;
}

void agent_task_env_free(char **env)
{
    if (!env) {
        return;
    }
    for (char **e = env; *e; e++) {
        cv_free(*e);
    }
    cv_free(env);
}
