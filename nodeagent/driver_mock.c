/*
 * driver_mock: a simulated task with no process, for tests and scale runs
 * (a subset of Nomad's mock driver).
 *
 * Config (every key optional):
 *   run_for                  duration ("10s", "500ms" or nanoseconds) the
 *                            task runs before it exits by itself; absent:
 *                            it runs until it is killed
 *   exit_code                its exit code when run_for ends (default 0)
 *   exit_signal              the signal it reports then (default 0)
 *   exit_err_msg             the exit message reported then
 *   start_error              start fails with this message
 *   start_error_recoverable  whether that error is worth a restart (false)
 *   kill_after               how long the task takes to exit after a signal
 *                            other than SIGKILL (default 0: at once); longer
 *                            than the kill timeout exercises SIGKILL
 *
 * A task is a start time and a few deadlines; poll() compares them with the
 * task's clock (wall time, so a recovered task resumes where it would have
 * been), and next_poll() says when the next deadline falls, so the runner
 * needs no periodic polling. A signalled task exits with code 128+signal.
 */
#include "nodeagent/driver.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"

struct mock_handle
{
    struct drv_handle base;
    const struct cv_clock *clock;
    int64_t started_at; /* wall ns */
    int64_t run_for;    /* ns; -1: until killed */
    int64_t exit_code;
    int64_t exit_signal;
    char exit_msg[128];
    int64_t kill_after; /* ns */
    int64_t kill_at;    /* wall ns when a signalled task exits; 0: not signalled */
    int kill_signal;
    bool exited;
    struct drv_exit exit;
};

struct mock_config
{
    int64_t run_for;
    int64_t exit_code;
    int64_t exit_signal;
    const char *exit_err_msg;
    const char *start_error;
    bool start_error_recoverable;
    int64_t kill_after;
};

static int int_field(const struct cv_json *v, const char *name, int64_t lo, int64_t hi,
                     int64_t *out, struct cv_err *err)
{
    char path[64];
    snprintf(path, sizeof path, "Config.%s", name);
    if (v->type != CV_JSON_NUMBER || cv_json_int64(v, out) != 0 || *out < lo || *out > hi) {
        return cv_err_set_pathf(err, CV_EINVAL, path, "must be an integer in [%lld, %lld]",
                                (long long)lo, (long long)hi);
    }
    return 0;
}

static int parse_config(const struct cv_json *config, struct mock_config *c, struct cv_err *err)
{
    memset(c, 0, sizeof *c);
    c->run_for = -1;
    c->exit_err_msg = "";
    if (!config || config->type == CV_JSON_NULL) {
        return 0;
    }
    if (config->type != CV_JSON_OBJECT) {
        return cv_err_set_pathf(err, CV_EINVAL, "Config", "must be an object");
    }
    for (size_t i = 0; i < config->u.object.len; i++) {
        const char *k = config->u.object.members[i].key;
        const struct cv_json *v = config->u.object.members[i].value;
        char path[64];
        snprintf(path, sizeof path, "Config.%s", k);
        int rc = 0;
        if (strcmp(k, "run_for") == 0 || strcmp(k, "kill_after") == 0) {
            int64_t *dst = k[0] == 'r' ? &c->run_for : &c->kill_after;
            if (drv_parse_duration(v, dst) != 0) {
                rc = cv_err_set_pathf(err, CV_EINVAL, path,
                                      "must be a duration (\"10s\", \"500ms\" or nanoseconds)");
            }
        } else if (strcmp(k, "exit_code") == 0) {
            rc = int_field(v, k, 0, 255, &c->exit_code, err);
        } else if (strcmp(k, "exit_signal") == 0) {
            rc = int_field(v, k, 0, 64, &c->exit_signal, err);
        } else if (strcmp(k, "exit_err_msg") == 0 || strcmp(k, "start_error") == 0) {
            if (v->type != CV_JSON_STRING) {
                rc = cv_err_set_pathf(err, CV_EINVAL, path, "must be a string");
            } else if (k[1] == 'x') {
                c->exit_err_msg = v->u.string.ptr;
            } else {
                c->start_error = v->u.string.ptr;
            }
        } else if (strcmp(k, "start_error_recoverable") == 0) {
            if (v->type != CV_JSON_BOOL) {
                rc = cv_err_set_pathf(err, CV_EINVAL, path, "must be a boolean");
            } else {
                c->start_error_recoverable = v->u.boolean;
            }
        } else {
            rc = cv_err_set_pathf(err, CV_EINVAL, path,
                                  "unknown mock option (known: run_for, exit_code, exit_signal, "
                                  "exit_err_msg, start_error, start_error_recoverable, "
                                  "kill_after)");
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int mock_validate(const struct cv_json *config, struct cv_err *err)
{
    struct mock_config c;
    return parse_config(config, &c, err);
}

static struct mock_handle *handle_new(const struct cv_clock *clock)
{
    struct mock_handle *h = cv_calloc(1, sizeof *h);
    h->base.ops = &drv_mock;
    h->clock = clock;
    return h;
}

static int mock_start(const struct drv_task *t, struct drv_handle **out, struct drv_err *derr)
{
    struct cv_err *err = derr ? &derr->err : NULL;
    if (derr) {
        derr->recoverable = false;
    }
    struct mock_config c;
    int rc = parse_config(t->config, &c, err);
    if (rc != 0) {
        return rc;
    }
    if (c.start_error) {
        if (derr) {
            derr->recoverable = c.start_error_recoverable;
        }
        return cv_err_setf(err, CV_EUNAVAILABLE, "%s", c.start_error);
    }
    struct mock_handle *h = handle_new(t->clock);
    h->started_at = cv_clock_wall_ns(t->clock);
    h->run_for = c.run_for;
    h->exit_code = c.exit_code;
    h->exit_signal = c.exit_signal;
    snprintf(h->exit_msg, sizeof h->exit_msg, "%s", c.exit_err_msg);
    h->kill_after = c.kill_after;
    *out = &h->base;
    return 0;
}

static void finish(struct mock_handle *h, int64_t code, int64_t sig, const char *msg)
{
    h->exited = true;
    h->exit.exit_code = code;
    h->exit.signal = sig;
    h->exit.unknown = false;
    snprintf(h->exit.message, sizeof h->exit.message, "%s", msg);
}

static int mock_signal(struct drv_handle *base, int sig, struct cv_err *err)
{
    (void)err;
    struct mock_handle *h = (struct mock_handle *)base;
    if (h->exited || sig == 0) {
        return 0;
    }
    if (sig == SIGKILL || h->kill_after == 0) {
        finish(h, 128 + sig, sig, "");
        return 0;
    }
    if (h->kill_at == 0) {
        h->kill_at = cv_clock_wall_ns(h->clock) + h->kill_after;
        h->kill_signal = sig;
    }
    return 0;
}

static enum drv_poll_result mock_poll(struct drv_handle *base, struct drv_exit *out)
{
    struct mock_handle *h = (struct mock_handle *)base;
    if (!h->exited) {
        int64_t now = cv_clock_wall_ns(h->clock);
        if (h->kill_at != 0 && now >= h->kill_at) {
            finish(h, 128 + h->kill_signal, h->kill_signal, "");
        } else if (h->run_for >= 0 && now >= h->started_at + h->run_for) {
            finish(h, h->exit_code, h->exit_signal, h->exit_msg);
        } else {
            return DRV_RUNNING;
        }
    }
    *out = h->exit;
    return DRV_EXITED;
}

static int mock_wait_fd(struct drv_handle *base)
{
    (void)base;
    return -1;
}

static int64_t mock_next_poll(struct drv_handle *base)
{
    struct mock_handle *h = (struct mock_handle *)base;
    int64_t now = cv_clock_wall_ns(h->clock);
    int64_t next = INT64_MAX;
    if (h->kill_at != 0) {
        next = h->kill_at - now;
    }
    if (h->run_for >= 0 && h->started_at + h->run_for - now < next) {
        next = h->started_at + h->run_for - now;
    }
    if (next == INT64_MAX) {
        return 3600 * CV_NSEC_PER_SEC;
    }
    return next < 0 ? 0 : next;
}

static void mock_encode(const struct drv_handle *base, struct cv_jgen *g)
{
    const struct mock_handle *h = (const struct mock_handle *)base;
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "StartedAt");
    cv_jgen_int(g, h->started_at);
    cv_jgen_key(g, "RunFor");
    cv_jgen_int(g, h->run_for);
    cv_jgen_key(g, "ExitCode");
    cv_jgen_int(g, h->exit_code);
    cv_jgen_key(g, "ExitSignal");
    cv_jgen_int(g, h->exit_signal);
    cv_jgen_key(g, "ExitErrMsg");
    cv_jgen_string(g, h->exit_msg);
    cv_jgen_key(g, "KillAfter");
    cv_jgen_int(g, h->kill_after);
    cv_jgen_key(g, "KillAt");
    cv_jgen_int(g, h->kill_at);
    cv_jgen_key(g, "KillSignal");
    cv_jgen_int(g, h->kill_signal);
    cv_jgen_object_end(g);
}

static int get_int(const struct cv_json *state, const char *key, int64_t *out, struct cv_err *err)
{
    const struct cv_json *v = cv_json_object_get(state, key);
    if (!v || v->type != CV_JSON_NUMBER || cv_json_int64(v, out) != 0) {
        char path[64];
        snprintf(path, sizeof path, "Handle.%s", key);
        return cv_err_set_pathf(err, CV_EPARSE, path, "must be an integer");
    }
    return 0;
}

static int mock_recover(const struct drv_task *t, const struct cv_json *state,
                        struct drv_handle **out, struct cv_err *err)
{
    if (!state || state->type != CV_JSON_OBJECT) {
        return cv_err_set_pathf(err, CV_EPARSE, "Handle", "must be an object");
    }
    struct mock_handle *h = handle_new(t->clock);
    int64_t sig = 0;
    int rc;
    if ((rc = get_int(state, "StartedAt", &h->started_at, err)) != 0 ||
        (rc = get_int(state, "RunFor", &h->run_for, err)) != 0 ||
        (rc = get_int(state, "ExitCode", &h->exit_code, err)) != 0 ||
        (rc = get_int(state, "ExitSignal", &h->exit_signal, err)) != 0 ||
        (rc = get_int(state, "KillAfter", &h->kill_after, err)) != 0 ||
        (rc = get_int(state, "KillAt", &h->kill_at, err)) != 0 ||
        (rc = get_int(state, "KillSignal", &sig, err)) != 0) {
        cv_free(h);
        return rc;
    }
    const struct cv_json *msg = cv_json_object_get(state, "ExitErrMsg");
    if (msg && msg->type == CV_JSON_STRING) {
        snprintf(h->exit_msg, sizeof h->exit_msg, "%s", msg->u.string.ptr);
    }
    h->kill_signal = (int)sig;
    *out = &h->base;
    return 0;
}

static int mock_pid(const struct drv_handle *base)
{
    (void)base;
    return 0;
}

static void mock_destroy(struct drv_handle *base)
{
    cv_free(base);
}

const struct drv_ops drv_mock = {
    .name = "mock",
    .validate = mock_validate,
    .start = mock_start,
    .signal = mock_signal,
    .poll = mock_poll,
    .wait_fd = mock_wait_fd,
    .next_poll = mock_next_poll,
    .encode = mock_encode,
    .recover = mock_recover,
    .pid = mock_pid,
    .destroy = mock_destroy,
};
