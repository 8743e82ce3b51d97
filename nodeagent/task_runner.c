/*
 * task_runner: one task's lifecycle on the event loop (see task_runner.h).
 *
 * The runner is a small state machine (enum agent_phase) moved by four
 * libevent events: the driver's wait descriptor (a pidfd for raw_exec), a
 * timer for polling and restart delays, the SIGKILL escalation timer, and
 * the periodic log rotation check. Each transition records Nomad's task
 * event, persists the state file, then calls on_update, in that order, so
 * what the agent reports upstream is always on disk first.
 */
#include "nodeagent/task_runner.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/codec.h"
#include "common/log.h"
#include "common/mem.h"
#include "nodeagent/logs.h"
#include "nodeagent/task_env.h"
#include "nodeagent/task_runner_internal.h"

#define MAX_EVENTS           10 /* Nomad keeps the 10 most recent */
#define DEFAULT_KILL_TIMEOUT (5 * CV_NSEC_PER_SEC)
#define MAX_KILL_TIMEOUT     (30 * CV_NSEC_PER_SEC) /* Nomad's client max_kill_timeout */

static void arm_watch(struct agent_task_runner *r);
static void do_start(struct agent_task_runner *r);

/* ---- small helpers ------------------------------------------------------ */

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = cv_malloc(la + lb + 2);
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static int mkdir_p(const char *path, struct cv_err *err)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n < 0 || (size_t)n >= sizeof buf) {
        return cv_err_setf(err, CV_EINVAL, "path too long: %s", path);
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return cv_err_setf(err, CV_EIO, "mkdir %s: %s", buf, strerror(errno));
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        return cv_err_setf(err, CV_EIO, "mkdir %s: %s", buf, strerror(errno));
    }
    return 0;
}

static struct timeval tv_of(int64_t ns)
{
    if (ns < 0) {
        ns = 0;
    }
    struct timeval tv = {(time_t)(ns / CV_NSEC_PER_SEC),
                         (suseconds_t)((ns % CV_NSEC_PER_SEC) / CV_NSEC_PER_USEC)};
    return tv;
}

/* Go's time.Time in JSON: RFC 3339 with nanoseconds, trailing zeros cut. */
static void rfc3339(int64_t ns, char *buf, size_t size)
{
    time_t secs = (time_t)(ns / CV_NSEC_PER_SEC);
    long frac = (long)(ns % CV_NSEC_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32], f[16] = "";
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac > 0) {
        snprintf(f, sizeof f, ".%09ld", frac);
        size_t n = strlen(f);
        while (f[n - 1] == '0') {
            f[--n] = '\0';
        }
    }
    snprintf(buf, size, "%s%sZ", date, f);
}

static void set_time(char **field, int64_t ns)
{
    char buf[64];
    rfc3339(ns, buf, sizeof buf);
    cv_set_string(field, buf);
}

/* ---- events and state --------------------------------------------------- */

static void event_init(struct agent_task_runner *r, struct cv_task_event *ev, const char *type)
{
    cv_init(&cv_task_event_schema, ev);
    cv_set_string(&ev->type, type);
    ev->time = cv_clock_wall_ns(r->clock);
}

static void detail_int(struct cv_task_event *ev, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    cv_strmap_set(&ev->details, key, buf);
}

/* Nomad's populateEventDisplayMessage for the types the runner emits. */
static void display_message(struct cv_task_event *ev)
{
    char buf[512], d[32];
    const char *t = ev->type;
    if (strcmp(t, AGENT_EV_RECEIVED) == 0) {
        snprintf(buf, sizeof buf, "Task received by client");
    } else if (strcmp(t, AGENT_EV_SETUP) == 0) {
        snprintf(buf, sizeof buf, "%s", ev->message);
    } else if (strcmp(t, AGENT_EV_STARTED) == 0) {
        snprintf(buf, sizeof buf, "Task started by client");
    } else if (strcmp(t, AGENT_EV_TERMINATED) == 0) {
        int n = snprintf(buf, sizeof buf, "Exit Code: %" PRId64, ev->exit_code);
        if (ev->signal != 0) {
            n += snprintf(buf + n, sizeof buf - (size_t)n, ", Signal: %" PRId64, ev->signal);
        }
        if (*ev->message) {
            snprintf(buf + n, sizeof buf - (size_t)n, ", Exit Message: \"%s\"", ev->message);
        }
    } else if (strcmp(t, AGENT_EV_RESTARTING) == 0) {
        agent_fmt_duration(ev->start_delay, d, sizeof d);
        if (*ev->restart_reason && strcmp(ev->restart_reason, "Restart within policy") != 0) {
            snprintf(buf, sizeof buf, "%s - Task restarting in %s", ev->restart_reason, d);
        } else {
            snprintf(buf, sizeof buf, "Task restarting in %s", d);
        }
    } else if (strcmp(t, AGENT_EV_NOT_RESTARTING) == 0) {
        snprintf(buf, sizeof buf, "%s",
                 *ev->restart_reason ? ev->restart_reason : "Task exceeded restart policy");
    } else if (strcmp(t, AGENT_EV_KILLING) == 0) {
        if (*ev->kill_reason) {
            snprintf(buf, sizeof buf, "%s", ev->kill_reason);
        } else {
            snprintf(buf, sizeof buf, "Sent interrupt. Waiting %s before force killing",
                     agent_fmt_duration(ev->kill_timeout, d, sizeof d));
        }
    } else if (strcmp(t, AGENT_EV_KILLED) == 0) {
        snprintf(buf, sizeof buf, "%s",
                 *ev->kill_error ? ev->kill_error : "Task successfully killed");
    } else if (strcmp(t, AGENT_EV_DRIVER_FAILURE) == 0) {
        snprintf(buf, sizeof buf, "%s",
                 *ev->driver_error ? ev->driver_error : "Failed to start task");
    } else if (strcmp(t, AGENT_EV_SETUP_FAILURE) == 0) {
        snprintf(buf, sizeof buf, "Task setup failed: %s", ev->setup_error);
    } else {
        snprintf(buf, sizeof buf, "%s", ev->message);
    }
    cv_set_string(&ev->display_message, buf);
}

/* Appends ev (its content moves into the state) and applies its effects on
 * the state, as Nomad's appendTaskEvent does. */
static void append_event(struct agent_task_runner *r, struct cv_task_event *ev)
{
    display_message(ev);
    if (strcmp(ev->type, AGENT_EV_RESTARTING) == 0) {
        r->state.restarts++;
        set_time(&r->state.last_restart, ev->time);
    }
    if (ev->fails_task) {
        r->state.failed = true;
    }
    if (r->state.events.len == MAX_EVENTS) {
        cv_release(&cv_task_event_schema, &r->state.events.items[0]);
        memmove(&r->state.events.items[0], &r->state.events.items[1],
                (MAX_EVENTS - 1) * sizeof r->state.events.items[0]);
        r->state.events.len--;
    }
    r->state.events.items = cv_reallocarray(r->state.events.items, r->state.events.len + 1,
                                            sizeof *r->state.events.items);
    r->state.events.items[r->state.events.len++] = *ev;
    memset(ev, 0, sizeof *ev);
}

/* Persists, then reports. A failed write is logged: the task goes on, and
 * the next change writes the whole state again. */
static void commit(struct agent_task_runner *r)
{
    struct cv_err err = {0};
    if (agent_state_save(r, &err) != 0) {
        cv_log(CV_LOG_ERROR, "agent", "cannot persist task state", "alloc=%s task=%s err=\"%s\"",
               r->alloc->id, r->task_name, err.msg);
    }
    if (r->on_update) {
        r->on_update(r, &r->state, r->arg);
    }
}

/* Moves to `state` with Nomad's UpdateState rules, recording ev if given. */
static void update_state(struct agent_task_runner *r, const char *state, struct cv_task_event *ev)
{
    int64_t now = cv_clock_wall_ns(r->clock);
    if (ev) {
        append_event(r, ev);
    }
    if (strcmp(state, CV_TASK_STATE_RUNNING) == 0 &&
        strcmp(r->state.state, CV_TASK_STATE_RUNNING) != 0) {
        set_time(&r->state.started_at, now);
    }
    if (strcmp(state, CV_TASK_STATE_DEAD) == 0) {
        if (!*r->state.finished_at) {
            set_time(&r->state.finished_at, now);
        }
        r->phase = AGENT_PHASE_DEAD;
    }
    cv_set_string(&r->state.state, state);
    commit(r);
}

/* ---- watching the task -------------------------------------------------- */

static void stop_watching(struct agent_task_runner *r)
{
    if (r->wait_ev) {
        event_free(r->wait_ev);
        r->wait_ev = NULL;
    }
    evtimer_del(r->timer_ev);
    evtimer_del(r->kill_ev);
    evtimer_del(r->logs_ev);
}

static void finish_dead(struct agent_task_runner *r, struct cv_task_event *ev)
{
    stop_watching(r);
    update_state(r, CV_TASK_STATE_DEAD, ev);
}

/* After an exit or a failed start: the restart policy decides. */
static void apply_policy(struct agent_task_runner *r, bool start_error, bool recoverable,
                         bool successful)
{
    struct agent_restart_result res;
    agent_restart_next(&r->restart, cv_clock_wall_ns(r->clock), start_error, recoverable,
                       successful, &res);
    struct cv_task_event ev;
    switch (res.decision) {
    case AGENT_RESTART_TERMINATED:
        finish_dead(r, NULL);
        return;
    case AGENT_RESTART_FAIL:
        event_init(r, &ev, AGENT_EV_NOT_RESTARTING);
        cv_set_string(&ev.restart_reason, res.reason);
        cv_strmap_set(&ev.details, "restart_reason", res.reason);
        ev.fails_task = true;
        cv_strmap_set(&ev.details, "fails_task", "true");
        finish_dead(r, &ev);
        return;
    case AGENT_RESTART_RESTART:
        event_init(r, &ev, AGENT_EV_RESTARTING);
        cv_set_string(&ev.restart_reason, res.reason);
        cv_strmap_set(&ev.details, "restart_reason", res.reason);
        ev.start_delay = res.delay;
        detail_int(&ev, "start_delay", res.delay);
        r->phase = AGENT_PHASE_RESTARTING;
        evtimer_del(r->logs_ev);
        update_state(r, CV_TASK_STATE_PENDING, &ev);
        struct timeval tv = tv_of(res.delay);
        evtimer_add(r->timer_ev, &tv);
        return;
    }
}

static void handle_exit(struct agent_task_runner *r, const struct drv_exit *e)
{
    if (r->wait_ev) {
        event_free(r->wait_ev);
        r->wait_ev = NULL;
    }
    evtimer_del(r->timer_ev);
    evtimer_del(r->kill_ev);
    if (r->h) {
        r->drv->destroy(r->h);
        r->h = NULL;
    }
    struct cv_task_event ev;
    event_init(r, &ev, AGENT_EV_TERMINATED);
    ev.exit_code = e->exit_code;
    ev.signal = e->signal;
    detail_int(&ev, "exit_code", e->exit_code);
    detail_int(&ev, "signal", e->signal);
    if (e->message[0]) {
        cv_set_string(&ev.message, e->message);
        cv_strmap_set(&ev.details, "exit_message", e->message);
    }
    append_event(r, &ev);
    cv_log(CV_LOG_INFO, "agent", "task exited", "alloc=%s task=%s code=%" PRId64 " signal=%" PRId64,
           r->alloc->id, r->task_name, e->exit_code, e->signal);
    if (r->killing) {
        event_init(r, &ev, AGENT_EV_KILLED);
        finish_dead(r, &ev);
        return;
    }
    apply_policy(r, false, false, drv_exit_successful(e));
}

static void check_task(struct agent_task_runner *r)
{
    if (!r->h) {
        return;
    }
    struct drv_exit e;
    if (r->drv->poll(r->h, &e) == DRV_EXITED) {
        handle_exit(r, &e);
        return;
    }
    arm_watch(r);
}

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    check_task(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_task_runner *r = arg;
    if (r->phase == AGENT_PHASE_RESTARTING) {
        do_start(r);
    } else if (r->phase == AGENT_PHASE_RUNNING) {
        check_task(r);
    }
}

static void on_kill_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_task_runner *r = arg;
    if (!r->h) {
        return;
    }
    cv_log(CV_LOG_WARN, "agent", "task outlived its kill timeout, sending SIGKILL",
           "alloc=%s task=%s", r->alloc->id, r->task_name);
    struct cv_err err = {0};
    (void)r->drv->signal(r->h, SIGKILL, &err);
    evtimer_del(r->timer_ev);
    struct timeval now = {0, 0};
    evtimer_add(r->timer_ev, &now);
}

static void on_logs(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent_task_runner *r = arg;
    const char *paths[] = {r->stdout_path, r->stderr_path};
    for (size_t i = 0; i < 2; i++) {
        struct cv_err err = {0};
        if (agent_logs_rotate(paths[i], r->log_max_bytes, r->log_max_files, &err) < 0) {
            cv_log(CV_LOG_WARN, "agent", "log rotation failed", "task=%s err=\"%s\"", r->task_name,
                   err.msg);
        }
    }
}

/* Waits for the task: on its wait descriptor when it has one, else by
 * polling when the driver says it is worth it. */
static void arm_watch(struct agent_task_runner *r)
{
    int fd = r->drv->wait_fd(r->h);
    if (fd >= 0) {
        if (!r->wait_ev) {
            r->wait_ev = event_new(r->base, fd, EV_READ, on_wait, r);
        }
        event_add(r->wait_ev, NULL);
        return;
    }
    struct timeval tv = tv_of(r->drv->next_poll(r->h));
    evtimer_add(r->timer_ev, &tv);
}

static void arm_logs(struct agent_task_runner *r)
{
    if (r->drv == &drv_raw_exec) {
        struct timeval tv = tv_of(r->log_check_interval);
        event_add(r->logs_ev, &tv);
    }
}

static struct drv_task task_desc(const struct agent_task_runner *r)
{
    struct drv_task t = {
        .alloc_id = r->alloc->id,
        .task_name = r->task_name,
        .config = r->task->config ? cv_json_doc_root(r->task->config) : NULL,
        .env = r->env,
        .task_dir = r->task_dir,
        .stdout_path = r->stdout_path,
        .stderr_path = r->stderr_path,
        .clock = r->clock,
    };
    return t;
}

static void do_start(struct agent_task_runner *r)
{
    struct drv_task t = task_desc(r);
    struct drv_err derr = {0};
    struct drv_handle *h = NULL;
    int rc = r->drv->start(&t, &h, &derr);
    struct cv_task_event ev;
    if (rc != 0) {
        char msg[CV_ERR_MSG_MAX + CV_ERR_PATH_MAX + 2];
        cv_err_format(&derr.err, msg, sizeof msg);
        event_init(r, &ev, AGENT_EV_DRIVER_FAILURE);
        cv_set_string(&ev.driver_error, msg);
        cv_strmap_set(&ev.details, "driver_error", msg);
        append_event(r, &ev);
        apply_policy(r, true, derr.recoverable, false);
        return;
    }
    r->h = h;
    r->phase = AGENT_PHASE_RUNNING;
    event_init(r, &ev, AGENT_EV_STARTED);
    update_state(r, CV_TASK_STATE_RUNNING, &ev);
    arm_watch(r);
    arm_logs(r);
}

/* ---- construction ------------------------------------------------------- */

static const struct cv_task_group *find_group(const struct cv_allocation *a)
{
    for (size_t i = 0; a->job && i < a->job->task_groups.len; i++) {
        if (strcmp(a->job->task_groups.items[i].name, a->task_group) == 0) {
            return &a->job->task_groups.items[i];
        }
    }
    return NULL;
}

int agent_task_runner_new(const struct agent_task_runner_config *cfg,
                          struct agent_task_runner **out, struct cv_err *err)
{
    if (!cfg || !cfg->base || !cfg->alloc || !cfg->task_name || !cfg->data_dir) {
        return cv_err_setf(err, CV_EINVAL,
                           "task runner needs a base, an allocation, a task "
                           "name and a data dir");
    }
    if (!cfg->alloc->job) {
        return cv_err_setf(err, CV_EINVAL, "allocation %s carries no job", cfg->alloc->id);
    }
    const struct cv_task_group *tg = find_group(cfg->alloc);
    if (!tg) {
        return cv_err_setf(err, CV_ENOTFOUND, "allocation %s: task group \"%s\" not in its job",
                           cfg->alloc->id, cfg->alloc->task_group);
    }
    const struct cv_task *task = NULL;
    size_t ti = 0;
    for (; ti < tg->tasks.len; ti++) {
        if (strcmp(tg->tasks.items[ti].name, cfg->task_name) == 0) {
            task = &tg->tasks.items[ti];
            break;
        }
    }
    if (!task) {
        return cv_err_setf(err, CV_ENOTFOUND, "allocation %s: no task \"%s\" in group \"%s\"",
                           cfg->alloc->id, cfg->task_name, tg->name);
    }
    const struct drv_ops *drv = drv_find(task->driver);
    if (!drv) {
        return cv_err_set_pathf(err, CV_EUNSUPPORTED, "Driver",
                                "driver \"%s\" is not available (raw_exec, mock)", task->driver);
    }
    int rc = drv->validate(task->config ? cv_json_doc_root(task->config) : NULL, err);
    if (rc != 0) {
        return rc;
    }
    int sig = SIGINT; /* Nomad's default kill_signal */
    if (task->kill_signal && *task->kill_signal) {
        sig = drv_parse_signal(task->kill_signal);
        if (sig < 0) {
            return cv_err_set_pathf(err, CV_EINVAL, "KillSignal", "unknown signal \"%s\"",
                                    task->kill_signal);
        }
    }

    struct agent_task_runner *r = cv_calloc(1, sizeof *r);
    r->base = cfg->base;
    r->clock = cfg->clock ? cfg->clock : cv_clock_system();
    r->alloc = cv_alloc_copy(cfg->alloc);
    /* The copy has the group the original had (checked above). */
    const struct cv_task_group *g2 = find_group(r->alloc);
    if (g2 == NULL) {
        abort();
    }
    r->task = &g2->tasks.items[ti];
    r->drv = drv;
    r->kill_signal = sig;
    r->kill_timeout = task->kill_timeout > 0 ? task->kill_timeout : DEFAULT_KILL_TIMEOUT;
    if (r->kill_timeout > MAX_KILL_TIMEOUT) {
        r->kill_timeout = MAX_KILL_TIMEOUT;
    }
    r->task_name = cv_strdup(cfg->task_name);
    r->datacenter = cv_strdup(cfg->datacenter ? cfg->datacenter : "");
    if (cfg->alloc_dir) {
        r->alloc_dir = cv_strdup(cfg->alloc_dir);
    } else {
        char *a = join(cfg->data_dir, "alloc");
        r->alloc_dir = join(a, r->alloc->id);
        cv_free(a);
    }
    r->task_dir = join(r->alloc_dir, r->task_name);
    char *allocs = join(cfg->data_dir, "allocs");
    r->state_dir = join(allocs, r->alloc->id);
    cv_free(allocs);
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s.json", r->task_name);
    r->state_path = join(r->state_dir, name);
    char *shared = join(r->alloc_dir, "alloc");
    char *logs = join(shared, "logs");
    snprintf(name, sizeof name, "%s.stdout.0", r->task_name);
    r->stdout_path = join(logs, name);
    snprintf(name, sizeof name, "%s.stderr.0", r->task_name);
    r->stderr_path = join(logs, name);
    cv_free(logs);
    char *local = join(r->task_dir, "local");
    char *secrets = join(r->task_dir, "secrets");
    struct agent_task_env_info info = {r->alloc, r->task, r->datacenter, shared, local, secrets};
    r->env = agent_task_env_build(&info);
    cv_free(shared);
    cv_free(local);
    cv_free(secrets);

    const struct cv_log_config *lc = r->task->log_config;
    r->log_max_bytes = cfg->log_max_bytes > 0           ? cfg->log_max_bytes
                       : lc && lc->max_file_size_mb > 0 ? lc->max_file_size_mb * 1024 * 1024
                                                        : AGENT_LOGS_DEFAULT_MAX_BYTES;
    r->log_max_files = cfg->log_max_files > 0    ? cfg->log_max_files
                       : lc && lc->max_files > 0 ? lc->max_files
                                                 : AGENT_LOGS_DEFAULT_MAX_FILES;
    r->log_check_interval = cfg->log_check_interval > 0 ? cfg->log_check_interval : CV_NSEC_PER_SEC;

    cv_init(&cv_task_state_schema, &r->state);
    r->state.key = cv_strdup(r->task_name);
    cv_set_string(&r->state.state, CV_TASK_STATE_PENDING);
    const struct cv_restart_policy *rp =
        r->task->restart_policy ? r->task->restart_policy : g2->restart_policy;
    agent_restart_init(&r->restart, rp, r->alloc->job->type, cv_clock_wall_ns(r->clock), cfg->seed);
    r->timer_ev = evtimer_new(r->base, on_timer, r);
    r->kill_ev = evtimer_new(r->base, on_kill_timeout, r);
    r->logs_ev = event_new(r->base, -1, EV_PERSIST, on_logs, r);
    r->on_update = cfg->on_update;
    r->arg = cfg->arg;
    r->phase = AGENT_PHASE_NEW;

    rc = mkdir_p(r->state_dir, err);
    if (rc != 0) {
        agent_task_runner_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int make_dirs(struct agent_task_runner *r, struct cv_err *err)
{
    static const char *const shared[] = {"alloc/logs", "alloc/data", "alloc/tmp"};
    static const char *const own[] = {"local", "secrets", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        char *a = join(r->alloc_dir, shared[i]);
        char *b = join(r->task_dir, own[i]);
        int rc = mkdir_p(a, err);
        if (rc == 0) {
            rc = mkdir_p(b, err);
        }
        cv_free(a);
        cv_free(b);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void setup_failed(struct agent_task_runner *r, const struct cv_err *cause)
{
    struct cv_task_event ev;
    event_init(r, &ev, AGENT_EV_SETUP_FAILURE);
    cv_set_string(&ev.setup_error, cause->msg);
    cv_strmap_set(&ev.details, "setup_error", cause->msg);
    ev.fails_task = true;
    cv_strmap_set(&ev.details, "fails_task", "true");
    finish_dead(r, &ev);
}

int agent_task_runner_start(struct agent_task_runner *r, struct cv_err *err)
{
    if (r->phase != AGENT_PHASE_NEW) {
        return cv_err_setf(err, CV_EINVAL, "task %s already started", r->task_name);
    }
    struct cv_task_event ev;
    event_init(r, &ev, AGENT_EV_RECEIVED);
    update_state(r, CV_TASK_STATE_PENDING, &ev);
    struct cv_err derr = {0};
    int rc = make_dirs(r, &derr);
    if (rc != 0) {
        setup_failed(r, &derr);
        if (err) {
            *err = derr;
        }
        return rc;
    }
    event_init(r, &ev, AGENT_EV_SETUP);
    cv_set_string(&ev.message, "Building Task Directory");
    cv_strmap_set(&ev.details, "message", "Building Task Directory");
    append_event(r, &ev);
    do_start(r);
    return 0;
}

int agent_task_runner_recover(const struct agent_task_runner_config *cfg,
                              struct agent_task_runner **out, struct cv_err *err)
{
    struct agent_task_runner *r;
    int rc = agent_task_runner_new(cfg, &r, err);
    if (rc != 0) {
        return rc;
    }
    struct cv_json_doc *hdoc = NULL;
    bool killing = false;
    rc = agent_state_load(r, &hdoc, &killing, err);
    if (rc != 0) {
        agent_task_runner_free(r);
        return rc;
    }
    *out = r;
    if (strcmp(r->state.state, CV_TASK_STATE_DEAD) == 0) {
        r->phase = AGENT_PHASE_DEAD;
        cv_json_doc_free(hdoc);
        return 0;
    }
    r->killing = killing;
    if (!hdoc) {
        /* Down between two starts (or before the first): start now. */
        struct cv_err derr = {0};
        if (make_dirs(r, &derr) != 0) {
            setup_failed(r, &derr);
            return 0;
        }
        do_start(r);
        return 0;
    }
    struct drv_task t = task_desc(r);
    struct cv_err derr = {0};
    struct drv_handle *h = NULL;
    rc = r->drv->recover(&t, cv_json_doc_root(hdoc), &h, &derr);
    cv_json_doc_free(hdoc);
    r->phase = AGENT_PHASE_RUNNING;
    if (rc == 0) {
        r->h = h;
        cv_log(CV_LOG_INFO, "agent", "reattached to task", "alloc=%s task=%s pid=%d", r->alloc->id,
               r->task_name, r->drv->pid(h));
        if (killing) {
            struct timeval tv = tv_of(r->kill_timeout);
            evtimer_add(r->kill_ev, &tv);
        }
        check_task(r);
        if (r->phase == AGENT_PHASE_RUNNING) {
            arm_logs(r);
        }
        return 0;
    }
    if (rc != CV_ENOTFOUND) {
        cv_err_setf(err, CV_EPARSE, "%s: %s%s%s", r->state_path, derr.path, *derr.path ? ": " : "",
                    derr.msg);
        *out = NULL;
        agent_task_runner_free(r);
        return CV_EPARSE;
    }
    struct drv_exit e = {.exit_code = -1, .unknown = true};
    snprintf(e.message, sizeof e.message, "task not running when the agent restarted (%.200s)",
             derr.msg);
    handle_exit(r, &e);
    return 0;
}

/* ---- control and queries ----------------------------------------------- */

void agent_task_runner_kill(struct agent_task_runner *r, const char *reason)
{
    if (r->phase == AGENT_PHASE_DEAD || r->killing) {
        return;
    }
    r->killing = true;
    struct cv_task_event ev;
    event_init(r, &ev, AGENT_EV_KILLING);
    ev.kill_timeout = r->kill_timeout;
    char d[32];
    cv_strmap_set(&ev.details, "kill_timeout", agent_fmt_duration(r->kill_timeout, d, sizeof d));
    if (reason && *reason) {
        cv_set_string(&ev.kill_reason, reason);
        cv_strmap_set(&ev.details, "kill_reason", reason);
    }
    if (r->phase != AGENT_PHASE_RUNNING || !r->h) {
        /* Nothing runs (not started, or between restarts). */
        append_event(r, &ev);
        event_init(r, &ev, AGENT_EV_KILLED);
        finish_dead(r, &ev);
        return;
    }
    append_event(r, &ev);
    commit(r);
    struct cv_err err = {0};
    if (r->drv->signal(r->h, r->kill_signal, &err) != 0) {
        cv_log(CV_LOG_WARN, "agent", "kill signal failed", "task=%s err=\"%s\"", r->task_name,
               err.msg);
    }
    struct timeval tv = tv_of(r->kill_timeout);
    evtimer_add(r->kill_ev, &tv);
    /* Look at once: a task may die of the signal before the next poll. */
    evtimer_del(r->timer_ev);
    struct timeval now = {0, 0};
    evtimer_add(r->timer_ev, &now);
}

const struct cv_task_state *agent_task_runner_state(const struct agent_task_runner *r)
{
    return &r->state;
}

bool agent_task_runner_done(const struct agent_task_runner *r)
{
    return r->phase == AGENT_PHASE_DEAD;
}

const char *agent_task_runner_state_path(const struct agent_task_runner *r)
{
    return r->state_path;
}

int agent_task_runner_pid(const struct agent_task_runner *r)
{
    return r->h ? r->drv->pid(r->h) : 0;
}

int agent_task_runner_forget(struct agent_task_runner *r, struct cv_err *err)
{
    if (unlink(r->state_path) != 0 && errno != ENOENT) {
        return cv_err_setf(err, CV_EIO, "unlink %s: %s", r->state_path, strerror(errno));
    }
    return 0;
}

void agent_task_runner_free(struct agent_task_runner *r)
{
    if (!r) {
        return;
    }
    if (r->wait_ev) {
        event_free(r->wait_ev);
    }
    event_free(r->timer_ev);
    event_free(r->kill_ev);
    event_free(r->logs_ev);
    if (r->h) {
        r->drv->destroy(r->h);
    }
    cv_free(r->state.key);
    r->state.key = NULL;
    cv_release(&cv_task_state_schema, &r->state);
    agent_task_env_free(r->env);
    cv_alloc_free(r->alloc);
    cv_free(r->task_name);
    cv_free(r->datacenter);
    cv_free(r->alloc_dir);
    cv_free(r->task_dir);
    cv_free(r->state_dir);
    cv_free(r->state_path);
    cv_free(r->stdout_path);
    cv_free(r->stderr_path);
    cv_free(r);
}
