/*
 * driver_raw_exec: runs Config.command with Config.args as a plain process
 * of the agent's user, with no isolation (Nomad's raw_exec).
 *
 * The child becomes the leader of a new session and process group
 * (setsid), so signals go to the whole group: everything the task forked
 * stops with it. Its working directory is the task directory; stdin is
 * /dev/null; stdout and stderr are the task's log files, opened O_APPEND by
 * the child itself, so the files (not a pipe to the agent) receive the
 * output and an agent restart loses nothing. Signal dispositions are reset
 * to their defaults and every other descriptor is closed at exec.
 *
 * Errors before exec (chdir, opening a log file, execve) travel back to the
 * parent over a close-on-exec pipe, so start() reports them synchronously
 * and no half-started task is left behind.
 *
 * A handle knows the process by its pid and its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot): a recovered handle is trusted
 * only when both match, so a recycled pid is never adopted, or signalled.
 * Exits are seen with a pidfd (pidfd_open, Linux 5.3+) when the kernel has
 * one, else by polling. The exit code is known only for a child of this
 * process (waitpid); a process recovered from a previous agent that exits
 * is reported with an unknown code.
 *
 * When the leader exits, the rest of its process group is sent SIGKILL, as
 * Nomad's executor does for raw_exec without cgroups.
 */
#define _GNU_SOURCE /* pipe2(), close_range(), syscall() */
#include "nodeagent/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "nodeagent/proc.h"

struct raw_handle
{
    struct drv_handle base;
    pid_t pid; /* also the process group and session id */
    uint64_t start_time;
    bool child; /* ours to waitpid() */
    int pidfd;  /* -1 when the kernel has none */
    bool exited;
    struct drv_exit exit;
    char *stdout_path;
    char *stderr_path;
};

#define RAW_POLL_NS (200 * CV_NSEC_PER_MSEC)

static int raw_validate(const struct cv_json *config, struct cv_err *err)
{
    if (!config || config->type != CV_JSON_OBJECT) {
        return cv_err_set_pathf(err, CV_EINVAL, "Config",
                                "raw_exec needs a Config object with \"command\"");
    }
    for (size_t i = 0; i < config->u.object.len; i++) {
        const char *k = config->u.object.members[i].key;
        if (strcmp(k, "command") != 0 && strcmp(k, "args") != 0) {
            return cv_err_set_pathf(err, CV_EINVAL, "Config",
                                    "raw_exec does not support \"%s\" (known: command, args)", k);
        }
    }
    const struct cv_json *cmd = cv_json_object_get(config, "command");
    if (!cmd) {
        return cv_err_set_pathf(err, CV_EINVAL, "Config.command", "is required");
    }
    if (cmd->type != CV_JSON_STRING || cmd->u.string.len == 0 ||
        strlen(cmd->u.string.ptr) != cmd->u.string.len) {
        return cv_err_set_pathf(err, CV_EINVAL, "Config.command", "must be a non-empty string");
    }
    const struct cv_json *args = cv_json_object_get(config, "args");
    if (args && args->type != CV_JSON_NULL) {
        if (args->type != CV_JSON_ARRAY) {
            return cv_err_set_pathf(err, CV_EINVAL, "Config.args", "must be an array of strings");
        }
        for (size_t i = 0; i < args->u.array.len; i++) {
            const struct cv_json *a = args->u.array.items[i];
            if (a->type != CV_JSON_STRING || strlen(a->u.string.ptr) != a->u.string.len) {
                return cv_err_set_pathf(err, CV_EINVAL, "Config.args",
                                        "element %zu must be a string without NUL", i);
            }
        }
    }
    return 0;
}

static const char *env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);
    for (; env && *env; env++) {
        if (strncmp(*env, key, n) == 0 && (*env)[n] == '=') {
            return *env + n + 1;
        }
    }
    return NULL;
}

/* Finds the program: a name with a slash is taken as it is (relative to
 * the task directory), a bare name is searched in the task's PATH. */
static int resolve_command(const struct drv_task *t, const char *cmd, char *out, size_t size,
                           struct cv_err *err)
{
    if (strchr(cmd, '/')) {
        int n = cmd[0] == '/' ? snprintf(out, size, "%s", cmd)
                              : snprintf(out, size, "%s/%s", t->task_dir, cmd);
        if (n < 0 || (size_t)n >= size) {
            return cv_err_set_pathf(err, CV_EINVAL, "Config.command", "path too long");
        }
        if (access(out, X_OK) != 0) {
            return cv_err_set_pathf(err, CV_EINVAL, "Config.command", "%s: %s", out,
                                    strerror(errno));
        }
        return 0;
    }
    const char *path = env_get(t->env, "PATH");
    if (!path) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path) {
        const char *colon = strchrnul(path, ':');
        int n = snprintf(out, size, "%.*s/%s", (int)(colon - path), path, cmd);
        struct stat st;
        if (n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0) {
            return 0;
        }
        path = *colon ? colon + 1 : colon;
    }
    return cv_err_set_pathf(err, CV_EINVAL, "Config.command",
                            "\"%s\" not found in PATH or not executable", cmd);
}

/* What the child reports when it fails before exec. */
struct child_failure
{
    int stage; /* 1 chdir, 2 stdout, 3 stderr, 4 stdin, 5 exec */
    int error;
};

static const char *const stage_names[] = {
    "",    "chdir to the task directory", "open stdout log", "open stderr log", "open /dev/null",
    "exec"};

static void child_fail(int fd, int stage)
{
    struct child_failure f = {stage, errno};
    ssize_t n = write(fd, &f, sizeof f);
    (void)n;
    _exit(127);
}

/* Between fork and exec: async-signal-safe calls only. */
static void child_exec(const struct drv_task *t, const char *path, char **argv, int errfd)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            sigaction(s, &dfl, NULL);
        }
    }
    setsid();
    if (chdir(t->task_dir) != 0) {
        child_fail(errfd, 1);
    }
    int out = open(t->stdout_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
        child_fail(errfd, 2);
    }
    int errlog = open(t->stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (errlog < 0) {
        child_fail(errfd, 3);
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        child_fail(errfd, 4);
    }
    /* dup2 clears close-on-exec on 0..2; everything else closes at exec. */
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errlog, 2) < 0) {
        child_fail(errfd, 4);
    }
    close_range(3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
    execve(path, argv, t->env);
    child_fail(errfd, 5);
}

static int pidfd_for(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        return (int)fd;
    }
#else
    (void)pid;
#endif
    return -1;
}

static struct raw_handle *handle_new(pid_t pid, uint64_t start_time, bool child, const char *out,
                                     const char *errp)
{
    struct raw_handle *h = cv_calloc(1, sizeof *h);
    h->base.ops = &drv_raw_exec;
    h->pid = pid;
    h->start_time = start_time;
    h->child = child;
    h->pidfd = pidfd_for(pid);
    h->stdout_path = cv_strdup(out ? out : "");
    h->stderr_path = cv_strdup(errp ? errp : "");
    return h;
}

static int raw_start(const struct drv_task *t, struct drv_handle **out, struct drv_err *derr)
{
    struct cv_err *err = derr ? &derr->err : NULL;
    if (derr) {
        derr->recoverable = false;
    }
    int rc = raw_validate(t->config, err);
    if (rc != 0) {
        return rc;
    }
    const struct cv_json *cmd = cv_json_object_get(t->config, "command");
    const struct cv_json *args = cv_json_object_get(t->config, "args");
    size_t nargs = args && args->type == CV_JSON_ARRAY ? args->u.array.len : 0;
    char path[PATH_MAX];
    rc = resolve_command(t, cmd->u.string.ptr, path, sizeof path, err);
    if (rc != 0) {
        return rc;
    }
    /* argv[0] is the command as written, as a shell would pass it. */
    char **argv = cv_calloc(nargs + 2, sizeof *argv);
    argv[0] = (char *)cmd->u.string.ptr;
    for (size_t i = 0; i < nargs; i++) {
        argv[i + 1] = (char *)args->u.array.items[i]->u.string.ptr;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = cv_err_setf(err, CV_EIO, "pipe: %s", strerror(errno));
        goto err_after_argv;
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (derr) {
            derr->recoverable = true;
        }
        rc = cv_err_setf(err, CV_EIO, "fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        goto err_after_argv;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child_exec(t, path, argv, pipefd[1]);
    }
    close(pipefd[1]);
    struct child_failure f;
    ssize_t n;
    do {
        n = read(pipefd[0], &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof f) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        int stage = f.stage >= 1 && f.stage <= 5 ? f.stage : 5;
        rc = cv_err_setf(err, CV_EINVAL, "%s %s: %s", stage_names[stage],
                         stage == 5   ? path
                         : stage == 1 ? t->task_dir
                                      : "",
                         strerror(f.error));
        goto err_after_argv;
    }
    uint64_t start_time = 0;
    (void)agent_proc_start_time(pid, &start_time, NULL);
    *out = &handle_new(pid, start_time, true, t->stdout_path, t->stderr_path)->base;
    cv_free(argv);
    return 0;

err_after_argv:
    cv_free(argv);
    return rc;
}

/* True while the handle's process is the one it started as. */
static bool same_process(const struct raw_handle *h)
{
    uint64_t st;
    char state;
    if (agent_proc_start_time(h->pid, &st, &state) != 0) {
        return false;
    }
    return st == h->start_time;
}

static int raw_signal(struct drv_handle *base, int sig, struct cv_err *err)
{
    struct raw_handle *h = (struct raw_handle *)base;
    if (h->exited) {
        return 0;
    }
    /* A child cannot be recycled before we reap it; anything else is checked
     * first so that a reused pid never receives the signal. */
    if (!h->child && !same_process(h)) {
        return 0;
    }
    if (kill(-h->pid, sig) != 0 && kill(h->pid, sig) != 0 && errno != ESRCH) {
        return cv_err_setf(err, CV_EIO, "kill %d: %s", (int)h->pid, strerror(errno));
    }
    return 0;
}

static void record_exit(struct raw_handle *h, const struct drv_exit *e)
{
    h->exit = *e;
    h->exited = true;
    /* What the task left behind in its group goes with it. */
    (void)kill(-h->pid, SIGKILL);
    if (h->pidfd >= 0) {
        close(h->pidfd);
        h->pidfd = -1;
    }
}

static enum drv_poll_result raw_poll(struct drv_handle *base, struct drv_exit *out)
{
    struct raw_handle *h = (struct raw_handle *)base;
    if (!h->exited) {
        struct drv_exit e = {.exit_code = -1};
        if (h->child) {
            int status;
            pid_t r;
            do {
                r = waitpid(h->pid, &status, WNOHANG);
            } while (r < 0 && errno == EINTR);
            if (r == 0) {
                return DRV_RUNNING;
            }
            if (r == h->pid && WIFEXITED(status)) {
                e.exit_code = WEXITSTATUS(status);
            } else if (r == h->pid && WIFSIGNALED(status)) {
                /* As Nomad's executor: code 128+signal, and the signal. */
                e.exit_code = 128 + WTERMSIG(status);
                e.signal = WTERMSIG(status);
            } else {
                e.unknown = true;
                snprintf(e.message, sizeof e.message, "waitpid: %s",
                         r < 0 ? strerror(errno) : "unexpected status");
            }
        } else {
            if (same_process(h)) {
                char state = 0;
                uint64_t st;
                if (agent_proc_start_time(h->pid, &st, &state) == 0 && state != 'Z') {
                    return DRV_RUNNING;
                }
            }
            e.unknown = true;
            snprintf(e.message, sizeof e.message,
                     "process %d exited while not a child of this agent; exit status unknown",
                     (int)h->pid);
        }
        record_exit(h, &e);
    }
    *out = h->exit;
    return DRV_EXITED;
}

static int raw_wait_fd(struct drv_handle *base)
{
    return ((struct raw_handle *)base)->pidfd;
}

static int64_t raw_next_poll(struct drv_handle *base)
{
    (void)base;
    return RAW_POLL_NS;
}

static void raw_encode(const struct drv_handle *base, struct cv_jgen *g)
{
    const struct raw_handle *h = (const struct raw_handle *)base;
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Pid");
    cv_jgen_int(g, h->pid);
    cv_jgen_key(g, "StartTime");
    cv_jgen_uint(g, h->start_time);
    cv_jgen_key(g, "StdoutPath");
    cv_jgen_string(g, h->stdout_path);
    cv_jgen_key(g, "StderrPath");
    cv_jgen_string(g, h->stderr_path);
    cv_jgen_object_end(g);
}

static int raw_recover(const struct drv_task *t, const struct cv_json *state,
                       struct drv_handle **out, struct cv_err *err)
{
    (void)t;
    const struct cv_json *jpid = state ? cv_json_object_get(state, "Pid") : NULL;
    const struct cv_json *jst = state ? cv_json_object_get(state, "StartTime") : NULL;
    const struct cv_json *jout = state ? cv_json_object_get(state, "StdoutPath") : NULL;
    const struct cv_json *jerr = state ? cv_json_object_get(state, "StderrPath") : NULL;
    int64_t pid;
    uint64_t start_time;
    if (!jpid || jpid->type != CV_JSON_NUMBER || cv_json_int64(jpid, &pid) != 0 || pid <= 1 ||
        pid > INT_MAX) {
        return cv_err_set_pathf(err, CV_EPARSE, "Handle.Pid", "must be a process id above 1");
    }
    if (!jst || jst->type != CV_JSON_NUMBER || cv_json_uint64(jst, &start_time) != 0) {
        return cv_err_set_pathf(err, CV_EPARSE, "Handle.StartTime", "must be an unsigned integer");
    }
    if ((jout && jout->type != CV_JSON_STRING) || (jerr && jerr->type != CV_JSON_STRING)) {
        return cv_err_set_pathf(err, CV_EPARSE, "Handle", "log paths must be strings");
    }
    uint64_t now_start;
    char pstate;
    if (agent_proc_start_time((pid_t)pid, &now_start, &pstate) != 0) {
        return cv_err_setf(err, CV_ENOTFOUND, "process %lld is gone", (long long)pid);
    }
    if (now_start != start_time) {
        return cv_err_setf(err, CV_ENOTFOUND,
                           "pid %lld belongs to another process (start time %llu, expected %llu)",
                           (long long)pid, (unsigned long long)now_start,
                           (unsigned long long)start_time);
    }
    /* Still our child when this process is the agent that started it (a
     * runner freed and rebuilt in one process): then its exit code is known. */
    int status;
    pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
    bool child = r >= 0;
    if (!child && pstate == 'Z') {
        return cv_err_setf(err, CV_ENOTFOUND, "process %lld has exited", (long long)pid);
    }
    struct raw_handle *h =
        handle_new((pid_t)pid, start_time, child, jout ? jout->u.string.ptr : NULL,
                   jerr ? jerr->u.string.ptr : NULL);
    if (r == (pid_t)pid) {
        struct drv_exit e = {.exit_code = -1};
        if (WIFEXITED(status)) {
            e.exit_code = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            e.exit_code = 128 + WTERMSIG(status);
            e.signal = WTERMSIG(status);
        }
        record_exit(h, &e);
    }
    *out = &h->base;
    return 0;
}

static int raw_pid(const struct drv_handle *base)
{
    return (int)((const struct raw_handle *)base)->pid;
}

static void raw_destroy(struct drv_handle *base)
{
    struct raw_handle *h = (struct raw_handle *)base;
    if (!h) {
        return;
    }
    if (h->pidfd >= 0) {
        close(h->pidfd);
    }
    cv_free(h->stdout_path);
    cv_free(h->stderr_path);
    cv_free(h);
}

const struct drv_ops drv_raw_exec = {
    .name = "raw_exec",
    .validate = raw_validate,
    .start = raw_start,
    .signal = raw_signal,
    .poll = raw_poll,
    .wait_fd = raw_wait_fd,
    .next_poll = raw_next_poll,
    .encode = raw_encode,
    .recover = raw_recover,
    .pid = raw_pid,
    .destroy = raw_destroy,
};
