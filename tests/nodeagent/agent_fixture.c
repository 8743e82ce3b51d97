/*
 * agent_fixture: temporary directories, allocations and bounded waits for
 * the nodeagent tests.
 */
#define _GNU_SOURCE /* mkdtemp() */
#include "agent_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/mem.h"
#include "testutil.h"

void fx_init(struct fx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cv-agent-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->base = event_base_new();
    assert_non_null(f->base);
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                    continue;
                }
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void fx_done(struct fx *f)
{
    rm_rf(f->dir);
    if (f->base) {
        event_base_free(f->base);
    }
    cv_alloc_free(f->alloc);
    f->alloc = NULL;
}

void fx_alloc(struct fx *f, const char *type, const char *task_json, const char *restart_json)
{
    char json[8192];
    snprintf(json, sizeof json,
             "{'ID': '" FX_ALLOC_ID
             "', 'EvalID': '8a0c6b3c-7f09-4a6f-b1a2-2f2d8a6a9b01',"
             " 'NodeID': 'f7476465-4d6e-40de-a6d0-e383c49be941', 'Name': 'app.grp[0]',"
             " 'JobID': 'app', 'TaskGroup': 'grp', 'Namespace': 'default',"
             " 'Job': {'ID': 'app', 'Name': 'app', 'Type': '%s', 'Region': 'global',"
             "  'Datacenters': ['dc1'], 'TaskGroups': [{'Name': 'grp', 'Count': 1%s%s,"
             "  'Tasks': [{'Name': 't1', %s}]}]}}",
             type, restart_json ? ", 'RestartPolicy': " : "", restart_json ? restart_json : "",
             task_json);
    char *text = cv_test_quotes(json);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    int rc = cv_alloc_parse(text, strlen(text), &f->alloc, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    cv_free(text);
    assert_int_equal(rc, 0);
}

static void count_update(struct agent_task_runner *r, const struct cv_task_state *st, void *arg)
{
    (void)r;
    (void)st;
    ((struct fx *)arg)->updates++;
}

struct agent_task_runner_config fx_config(struct fx *f)
{
    struct agent_task_runner_config cfg = {
        .base = f->base,
        .alloc = f->alloc,
        .task_name = "t1",
        .data_dir = f->dir,
        .datacenter = "dc1",
        .seed = 42,
        .on_update = count_update,
        .arg = f,
    };
    return cfg;
}

int64_t fx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool fx_run_until(struct fx *f, bool (*pred)(void *), void *arg, int64_t timeout_ms)
{
    int64_t deadline = fx_now_ms() + timeout_ms;
    while (!pred(arg)) {
        if (fx_now_ms() > deadline) {
            return false;
        }
        struct timeval tv = {0, 10000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    return true;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

void fx_run_for(struct fx *f, int64_t ms)
{
    (void)fx_run_until(f, never, NULL, ms);
}

bool fx_runner_done(void *runner)
{
    return agent_task_runner_done(runner);
}

bool fx_runner_running(void *runner)
{
    return strcmp(agent_task_runner_state(runner)->state, CV_TASK_STATE_RUNNING) == 0;
}

void fx_event_types(const struct cv_task_state *st, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < st->events.len && n < size; i++) {
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "", st->events.items[i].type);
    }
}

const struct cv_task_event *fx_last_event(const struct cv_task_state *st, const char *type)
{
    for (size_t i = st->events.len; i > 0; i--) {
        if (strcmp(st->events.items[i - 1].type, type) == 0) {
            return &st->events.items[i - 1];
        }
    }
    return NULL;
}

char *fx_read(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = cv_malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = cv_realloc(buf, cap);
        }
    }
    fclose(fp);
    buf[len] = '\0';
    return buf;
}
