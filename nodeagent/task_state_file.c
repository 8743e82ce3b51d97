/*
 * task_state_file: a task runner's durable state, one JSON file per task:
 *
 *   {"Version": 1, "AllocID": "...", "Task": "web", "Driver": "raw_exec",
 *    "Killing": false,
 *    "Restart": {"Count": 1, "IntervalStart": <wall ns>},
 *    "TaskState": { Nomad's TaskState: State, Failed, Restarts, ... Events },
 *    "Handle": { the driver's handle (driver.h encode) } | null}
 *
 * Written atomically: a temporary file beside it, fsync, rename over the
 * old one, fsync of the directory, so a crash leaves the old file or the
 * new one, never a torn one. Read back with every field checked; an error
 * names the file and the field.
 */
#include "nodeagent/task_runner_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/jsongen.h"
#include "common/mem.h"

#define STATE_VERSION   1
#define STATE_MAX_BYTES (4 * 1024 * 1024)

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int agent_state_save(const struct agent_task_runner *r, struct cv_err *err)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Version");
    cv_jgen_int(g, STATE_VERSION);
    cv_jgen_key(g, "AllocID");
    cv_jgen_string(g, r->alloc->id);
    cv_jgen_key(g, "Task");
    cv_jgen_string(g, r->task_name);
    cv_jgen_key(g, "Driver");
    cv_jgen_string(g, r->drv->name);
    cv_jgen_key(g, "Killing");
    cv_jgen_bool(g, r->killing);
    cv_jgen_key(g, "Restart");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Count");
    cv_jgen_int(g, r->restart.count);
    cv_jgen_key(g, "IntervalStart");
    cv_jgen_int(g, r->restart.interval_start);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "TaskState");
    cv_encode(&cv_task_state_schema, &r->state, g);
    cv_jgen_key(g, "Handle");
    if (r->h) {
        r->drv->encode(r->h, g);
    } else {
        cv_jgen_null(g);
    }
    cv_jgen_object_end(g);
    const char *text;
    size_t len;
    int rc = cv_jgen_finish(g, &text, &len, err);
    if (rc != 0) {
        goto out_after_gen;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = cv_err_setf(err, CV_EIO, "create %s: %s", tmp, strerror(errno));
        goto out_after_gen;
    }
    if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        rc = cv_err_setf(err, CV_EIO, "write %s: %s", tmp, strerror(errno));
        close(fd);
        (void)unlink(tmp);
        goto out_after_gen;
    }
    close(fd);
    if (rename(tmp, r->state_path) != 0) {
        rc = cv_err_setf(err, CV_EIO, "rename %s: %s", tmp, strerror(errno));
        (void)unlink(tmp);
        goto out_after_gen;
    }
    if (fsync_dir(r->state_dir) != 0) {
        rc = cv_err_setf(err, CV_EIO, "fsync %s: %s", r->state_dir, strerror(errno));
    }
out_after_gen:
    cv_jgen_free(g);
    return rc;
}

static char *read_file(const char *path, size_t *len, int *rc, struct cv_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *rc = cv_err_setf(err, errno == ENOENT ? CV_ENOTFOUND : CV_EIO, "%s: %s", path,
                          strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > STATE_MAX_BYTES) {
        *rc = cv_err_setf(err, CV_EPARSE, "%s: larger than %d bytes", path, STATE_MAX_BYTES);
        close(fd);
        return NULL;
    }
    char *buf = cv_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static int bad(struct cv_err *err, const char *path, const char *field, const char *what)
{
    return cv_err_setf(err, CV_EPARSE, "%s: %s %s", path, field, what);
}

static const struct cv_json *get_string(const struct cv_json *root, const char *key)
{
    const struct cv_json *v = cv_json_object_get(root, key);
    return v && v->type == CV_JSON_STRING ? v : NULL;
}

int agent_state_load(struct agent_task_runner *r, struct cv_json_doc **handle, bool *killing,
                     struct cv_err *err)
{
    const char *path = r->state_path;
    size_t len = 0;
    *handle = NULL;
    int rc = 0;
    char *text = read_file(path, &len, &rc, err);
    if (!text) {
        return rc;
    }
    struct cv_json_doc *doc = NULL;
    struct cv_err perr = {0};
    rc = cv_json_parse(text, len, NULL, &doc, &perr);
    cv_free(text);
    if (rc != 0) {
        return cv_err_setf(err, CV_EPARSE, "%s: %s", path, perr.msg);
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    const struct cv_json *v;
    int64_t n;
    if (root->type != CV_JSON_OBJECT) {
        rc = bad(err, path, "(top level)", "must be an object");
        goto out;
    }
    v = cv_json_object_get(root, "Version");
    if (!v || v->type != CV_JSON_NUMBER || cv_json_int64(v, &n) != 0 || n != STATE_VERSION) {
        rc = bad(err, path, "Version", "must be 1");
        goto out;
    }
    v = get_string(root, "AllocID");
    if (!v || strcmp(v->u.string.ptr, r->alloc->id) != 0) {
        rc = bad(err, path, "AllocID", "does not name this allocation");
        goto out;
    }
    v = get_string(root, "Task");
    if (!v || strcmp(v->u.string.ptr, r->task_name) != 0) {
        rc = bad(err, path, "Task", "does not name this task");
        goto out;
    }
    v = get_string(root, "Driver");
    if (!v || strcmp(v->u.string.ptr, r->drv->name) != 0) {
        rc = bad(err, path, "Driver", "does not match the task's driver");
        goto out;
    }
    v = cv_json_object_get(root, "Killing");
    *killing = v && v->type == CV_JSON_BOOL && v->u.boolean;
    v = cv_json_object_get(root, "Restart");
    const struct cv_json *cnt = v ? cv_json_object_get(v, "Count") : NULL;
    const struct cv_json *start = v ? cv_json_object_get(v, "IntervalStart") : NULL;
    int64_t c, s;
    if (!cnt || cnt->type != CV_JSON_NUMBER || cv_json_int64(cnt, &c) != 0 || c < 0 || !start ||
        start->type != CV_JSON_NUMBER || cv_json_int64(start, &s) != 0) {
        rc = bad(err, path, "Restart", "must hold integers Count and IntervalStart");
        goto out;
    }
    v = cv_json_object_get(root, "TaskState");
    if (!v || v->type != CV_JSON_OBJECT) {
        rc = bad(err, path, "TaskState", "must be an object");
        goto out;
    }
    struct cv_task_state st;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    cv_init(&cv_task_state_schema, &st);
    if (cv_decode(&cv_task_state_schema, v, &st, "TaskState", &errs) != 0) {
        char line[CV_ERR_MSG_MAX];
        rc = cv_err_setf(err, CV_EPARSE, "%s: %s", path,
                         cv_errlist_format(&errs, 0, line, sizeof line));
        cv_errlist_free(&errs);
        cv_release(&cv_task_state_schema, &st);
        goto out;
    }
    cv_errlist_free(&errs);
    if (strcmp(st.state, CV_TASK_STATE_PENDING) != 0 &&
        strcmp(st.state, CV_TASK_STATE_RUNNING) != 0 && strcmp(st.state, CV_TASK_STATE_DEAD) != 0) {
        cv_release(&cv_task_state_schema, &st);
        rc = bad(err, path, "TaskState.State", "must be pending, running or dead");
        goto out;
    }
    char *key = r->state.key;
    r->state.key = NULL;
    cv_release(&cv_task_state_schema, &r->state);
    r->state = st;
    r->state.key = key;
    r->restart.count = c;
    r->restart.interval_start = s;
    v = cv_json_object_get(root, "Handle");
    if (v && v->type == CV_JSON_OBJECT) {
        *handle = cv_json_clone(v);
    } else if (v && v->type != CV_JSON_NULL) {
        rc = bad(err, path, "Handle", "must be an object or null");
    }
out:
    cv_json_doc_free(doc);
    return rc;
}
