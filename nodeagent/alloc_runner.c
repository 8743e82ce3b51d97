/*
 * alloc_runner: one allocation's task runners and ClientStatus
 * (alloc_runner.h).
 *
 * Each task runner reports to on_task_update with a small struct naming
 * its slot, because a task runner may report from inside
 * agent_task_runner_recover, before its pointer is handed back. While the
 * runner is being built or started (`quiet`), reports only mark it
 * changed; the owner hears once at the end.
 */
#include "nodeagent/alloc_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/random.h"
#include "nodeagent/task_runner.h"

#define ALLOC_FILE_MAX (64 * 1024 * 1024)

struct task_slot
{
    struct agent_alloc_runner *ar;
    char *name;
    struct agent_task_runner *tr;
};

struct agent_alloc_runner
{
    struct event_base *base;
    const struct cv_clock *clock;
    char *data_dir;
    char *datacenter;
    char *path; /* <data_dir>/client/<id>.json */
    struct cv_allocation *alloc;
    struct task_slot *tasks;
    size_t n_tasks;
    bool quiet;   /* building or starting: hold reports */
    bool changed; /* a report was held */
    bool killing_siblings;
    agent_alloc_update_cb on_update;
    void *arg;
};

/* ---- persistence --------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int save_alloc(const struct agent_alloc_runner *ar, struct cv_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", ar->data_dir, AGENT_ALLOC_DIR);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return cv_err_setf(err, CV_EIO, "mkdir %s: %s", dir, strerror(errno));
    }
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", ar->path);
    char *text = cv_alloc_to_json(ar->alloc, false);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = cv_err_setf(err, CV_EIO, "%s: %s", tmp, strerror(errno));
    } else {
        bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
        int saved = errno;
        close(fd);
        if (!ok || rename(tmp, ar->path) != 0 || fsync_dir(dir) != 0) {
            rc = cv_err_setf(err, CV_EIO, "cannot write %s: %s", ar->path,
                             strerror(ok ? errno : saved));
            unlink(tmp);
        }
    }
    cv_free(text);
    return rc;
}

static int load_alloc(const char *path, struct cv_allocation **out, struct cv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return errno == ENOENT ? CV_ENOTFOUND
                               : cv_err_setf(err, CV_EIO, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > ALLOC_FILE_MAX) {
        fclose(f);
        return cv_err_setf(err, CV_EPARSE, "%s: empty or too large", path);
    }
    char *buf = cv_malloc((size_t)st.st_size);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    int rc = cv_alloc_parse(buf, n, out, &errs);
    if (rc != 0) {
        char msg[CV_ERR_MSG_MAX];
        rc = cv_err_setf(err, CV_EPARSE, "%s: %s", path,
                         cv_errlist_format(&errs, 0, msg, sizeof msg));
    }
    cv_errlist_free(&errs);
    cv_free(buf);
    return rc;
}

/* ---- status ---------------------------------------------------------------------- */

const char *agent_alloc_runner_client_status(const struct agent_alloc_runner *ar,
                                             const char **description)
{
    bool pending = false, running = false, dead = false, failed = false;
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (!ar->tasks[i].tr) {
            continue;
        }
        const struct cv_task_state *st = agent_task_runner_state(ar->tasks[i].tr);
        if (strcmp(st->state, CV_TASK_STATE_RUNNING) == 0) {
            running = true;
        } else if (strcmp(st->state, CV_TASK_STATE_DEAD) == 0) {
            if (st->failed) {
                failed = true;
            } else {
                dead = true;
            }
        } else {
            pending = true;
        }
    }
    const char *status = CV_ALLOC_CLIENT_PENDING;
    const char *desc = "No tasks have started";
    if (failed) {
        status = CV_ALLOC_CLIENT_FAILED;
        desc = "Failed tasks";
    } else if (running) {
        status = CV_ALLOC_CLIENT_RUNNING;
        desc = "Tasks are running";
    } else if (pending) {
        status = CV_ALLOC_CLIENT_PENDING;
        desc = "No tasks have started";
    } else if (dead) {
        status = CV_ALLOC_CLIENT_COMPLETE;
        desc = "All tasks have completed";
    }
    if (description) {
        *description = desc;
    }
    return status;
}

bool agent_alloc_runner_done(const struct agent_alloc_runner *ar)
{
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (ar->tasks[i].tr && !agent_task_runner_done(ar->tasks[i].tr)) {
            return false;
        }
    }
    return true;
}

const struct cv_allocation *agent_alloc_runner_alloc(const struct agent_alloc_runner *ar)
{
    return ar->alloc;
}

bool agent_alloc_runner_task(const struct agent_alloc_runner *ar, const char *task, bool *done)
{
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (strcmp(ar->tasks[i].name, task) == 0) {
            if (done) {
                *done = !ar->tasks[i].tr || agent_task_runner_done(ar->tasks[i].tr);
            }
            return true;
        }
    }
    return false;
}

int agent_alloc_runner_pid(const struct agent_alloc_runner *ar, const char *task)
{
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (strcmp(ar->tasks[i].name, task) == 0) {
            return agent_task_runner_pid(ar->tasks[i].tr);
        }
    }
    return 0;
}

void agent_alloc_runner_encode_update(const struct agent_alloc_runner *ar, const char *node_id,
                                      int64_t modify_time, struct cv_jgen *g)
{
    const char *desc = "";
    const char *status = agent_alloc_runner_client_status(ar, &desc);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "ID");
    cv_jgen_string(g, ar->alloc->id);
    cv_jgen_key(g, "NodeID");
    cv_jgen_string(g, node_id);
    cv_jgen_key(g, "ClientStatus");
    cv_jgen_string(g, status);
    cv_jgen_key(g, "ClientDescription");
    cv_jgen_string(g, desc);
    cv_jgen_key(g, "TaskStates");
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (!ar->tasks[i].tr) {
            continue;
        }
        cv_jgen_key(g, ar->tasks[i].name);
        cv_encode(&cv_task_state_schema, agent_task_runner_state(ar->tasks[i].tr), g);
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "ModifyTime");
    cv_jgen_int(g, modify_time);
    cv_jgen_object_end(g);
}

/* ---- task reports ---------------------------------------------------------------- */

static void report(struct agent_alloc_runner *ar)
{
    if (ar->quiet) {
        ar->changed = true;
        return;
    }
    ar->changed = false;
    if (ar->on_update) {
        ar->on_update(ar, ar->arg);
    }
}

static void kill_siblings(struct agent_alloc_runner *ar, const struct task_slot *failed)
{
    if (ar->killing_siblings) {
        return;
    }
    ar->killing_siblings = true;
    char reason[256];
    snprintf(reason, sizeof reason, "Sibling task %s failed", failed->name);
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (&ar->tasks[i] != failed && ar->tasks[i].tr) {
            agent_task_runner_kill(ar->tasks[i].tr, reason);
        }
    }
}

static void on_task_update(struct agent_task_runner *tr, const struct cv_task_state *st, void *arg)
{
    struct task_slot *slot = arg;
    struct agent_alloc_runner *ar = slot->ar;
    if (!slot->tr) {
        slot->tr = tr; /* reporting from inside recover */
    }
    if (strcmp(st->state, CV_TASK_STATE_DEAD) == 0 && st->failed) {
        kill_siblings(ar, slot);
    }
    report(ar);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static const struct cv_task_group *find_group(const struct cv_allocation *a)
{
    for (size_t i = 0; a->job && i < a->job->task_groups.len; i++) {
        if (strcmp(a->job->task_groups.items[i].name, a->task_group) == 0) {
            return &a->job->task_groups.items[i];
        }
    }
    return NULL;
}

static struct agent_alloc_runner *runner_create(const struct agent_alloc_runner_config *cfg,
                                                struct cv_allocation *alloc)
{
    struct agent_alloc_runner *ar = cv_calloc(1, sizeof *ar);
    ar->base = cfg->base;
    ar->clock = cfg->clock ? cfg->clock : cv_clock_system();
    ar->data_dir = cv_strdup(cfg->data_dir);
    ar->datacenter = cv_strdup(cfg->datacenter);
    ar->on_update = cfg->on_update;
    ar->arg = cfg->arg;
    ar->alloc = alloc;
    ar->quiet = true;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%s.json", cfg->data_dir, AGENT_ALLOC_DIR, alloc->id);
    ar->path = cv_strdup(path);
    return ar;
}

/* Makes the slots and, with `recover`, rebuilds each task (starting those
 * that never had a state file); otherwise creates them unstarted. */
static int make_tasks(struct agent_alloc_runner *ar, bool recover, struct cv_err *err)
{
    const struct cv_task_group *tg = find_group(ar->alloc);
    if (!tg || tg->tasks.len == 0) {
        return cv_err_setf(err, CV_EINVAL, "allocation %s: task group \"%s\" has no tasks",
                           ar->alloc->id, ar->alloc->task_group);
    }
    ar->tasks = cv_calloc(tg->tasks.len, sizeof *ar->tasks);
    ar->n_tasks = tg->tasks.len;
    for (size_t i = 0; i < ar->n_tasks; i++) {
        ar->tasks[i].ar = ar;
        ar->tasks[i].name = cv_strdup(tg->tasks.items[i].name);
    }
    for (size_t i = 0; i < ar->n_tasks; i++) {
        struct task_slot *slot = &ar->tasks[i];
        struct agent_task_runner_config tc = {
            .base = ar->base,
            .clock = ar->clock,
            .alloc = ar->alloc,
            .task_name = slot->name,
            .data_dir = ar->data_dir,
            .datacenter = ar->datacenter,
            .seed = cv_random_u64() | 1,
            .on_update = on_task_update,
            .arg = slot,
        };
        struct agent_task_runner *tr = NULL;
        int rc = CV_ENOTFOUND;
        if (recover) {
            rc = agent_task_runner_recover(&tc, &tr, err);
            if (rc == CV_ENOTFOUND) {
                cv_err_clear(err);
            }
        }
        bool fresh = rc == CV_ENOTFOUND;
        if (fresh) {
            rc = agent_task_runner_new(&tc, &tr, err);
        }
        if (rc != 0) {
            return cv_err_wrapf(err, "allocation %s task %s", ar->alloc->id, slot->name);
        }
        slot->tr = tr;
        if (recover && fresh) {
            struct cv_err serr = {0};
            if (agent_task_runner_start(tr, &serr) != 0) {
                cv_log(CV_LOG_ERROR, "agent", "cannot start task", "alloc=%s task=%s err=\"%s\"",
                       ar->alloc->id, slot->name, serr.msg);
            }
        }
    }
    return 0;
}

int agent_alloc_runner_new(const struct agent_alloc_runner_config *cfg,
                           const struct cv_allocation *alloc, struct agent_alloc_runner **out,
                           struct cv_err *err)
{
    *out = NULL;
    struct agent_alloc_runner *ar = runner_create(cfg, cv_alloc_copy(alloc));
    int rc = make_tasks(ar, false, err);
    if (rc == 0) {
        rc = save_alloc(ar, err);
    }
    if (rc != 0) {
        agent_alloc_runner_free(ar);
        return rc;
    }
    ar->quiet = false;
    ar->changed = false;
    *out = ar;
    return 0;
}

void agent_alloc_runner_start(struct agent_alloc_runner *ar)
{
    ar->quiet = true;
    for (size_t i = 0; i < ar->n_tasks; i++) {
        struct cv_err err = {0};
        if (agent_task_runner_start(ar->tasks[i].tr, &err) != 0) {
            cv_log(CV_LOG_ERROR, "agent", "cannot start task", "alloc=%s task=%s err=\"%s\"",
                   ar->alloc->id, ar->tasks[i].name, err.msg);
        }
    }
    ar->quiet = false;
    report(ar);
}

int agent_alloc_runner_recover(const struct agent_alloc_runner_config *cfg, const char *alloc_id,
                               struct agent_alloc_runner **out, struct cv_err *err)
{
    *out = NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%s.json", cfg->data_dir, AGENT_ALLOC_DIR, alloc_id);
    struct cv_allocation *alloc = NULL;
    int rc = load_alloc(path, &alloc, err);
    if (rc != 0) {
        return rc;
    }
    struct agent_alloc_runner *ar = runner_create(cfg, alloc);
    rc = make_tasks(ar, true, err);
    if (rc != 0) {
        agent_alloc_runner_free(ar);
        return rc;
    }
    ar->quiet = false;
    ar->changed = false;
    *out = ar;
    return 0;
}

void agent_alloc_runner_update(struct agent_alloc_runner *ar, const struct cv_allocation *alloc)
{
    struct cv_allocation *copy = cv_alloc_copy(alloc);
    cv_alloc_free(ar->alloc);
    ar->alloc = copy;
    struct cv_err err = {0};
    if (save_alloc(ar, &err) != 0) {
        cv_log(CV_LOG_WARN, "agent", "cannot persist allocation", "alloc=%s err=\"%s\"", copy->id,
               err.msg);
    }
    if (strcmp(copy->desired_status, CV_ALLOC_DESIRED_RUN) != 0) {
        char reason[128];
        snprintf(reason, sizeof reason, "allocation desired status is %s", copy->desired_status);
        agent_alloc_runner_kill(ar, reason);
    }
}

void agent_alloc_runner_kill(struct agent_alloc_runner *ar, const char *reason)
{
    /* Kills report one by one: a task with nothing running dies at once. */
    for (size_t i = 0; i < ar->n_tasks; i++) {
        if (ar->tasks[i].tr) {
            agent_task_runner_kill(ar->tasks[i].tr, reason);
        }
    }
}

void agent_alloc_runner_forget(struct agent_alloc_runner *ar)
{
    char dir[PATH_MAX];
    for (size_t i = 0; i < ar->n_tasks; i++) {
        struct cv_err err = {0};
        if (ar->tasks[i].tr && agent_task_runner_forget(ar->tasks[i].tr, &err) != 0) {
            cv_log(CV_LOG_WARN, "agent", "cannot delete task state", "alloc=%s err=\"%s\"",
                   ar->alloc->id, err.msg);
        }
    }
    snprintf(dir, sizeof dir, "%s/allocs/%s", ar->data_dir, ar->alloc->id);
    (void)rmdir(dir);
    if (unlink(ar->path) != 0 && errno != ENOENT) {
        cv_log(CV_LOG_WARN, "agent", "cannot delete allocation file", "path=%s err=\"%s\"",
               ar->path, strerror(errno));
    }
}

void agent_alloc_runner_free(struct agent_alloc_runner *ar)
{
    if (!ar) {
        return;
    }
    for (size_t i = 0; i < ar->n_tasks; i++) {
        agent_task_runner_free(ar->tasks[i].tr);
        cv_free(ar->tasks[i].name);
    }
    cv_free(ar->tasks);
    cv_alloc_free(ar->alloc);
    cv_free(ar->path);
    cv_free(ar->data_dir);
    cv_free(ar->datacenter);
    cv_free(ar);
}
