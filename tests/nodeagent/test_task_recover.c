/*
 * test_task_recover: the runner's persisted state and reattachment after
 * an agent restart: the same process is adopted (never started twice), a
 * process that died meanwhile is reported and the restart policy applied,
 * a recycled pid is not adopted, a malformed file is an error naming it.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent_fixture.h"
#include "common/mem.h"
#include "testutil.h"

#define WAIT_MS 20000

static const char SLEEP_TASK[] =
    "'Driver': 'raw_exec', 'Config': {'command': '/bin/sleep', 'args': ['30']}";
static const char NO_RESTART[] =
    "{'Attempts': 0, 'Interval': 60000000000, 'Delay': 0, 'Mode': 'fail'}";

/* Processes whose process group is pgid (field 5 of /proc/<pid>/stat). */
static int count_group(int pgid)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[1024];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp) {
            continue;
        }
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        char st;
        int ppid, pgrp;
        if (p && sscanf(p + 2, "%c %d %d", &st, &ppid, &pgrp) == 3 && pgrp == pgid && st != 'Z') {
            n++;
        }
    }
    closedir(d);
    return n;
}

static struct agent_task_runner *new_started(struct fx *f)
{
    struct agent_task_runner_config cfg = fx_config(f);
    struct agent_task_runner *r = NULL;
    assert_int_equal(agent_task_runner_new(&cfg, &r, NULL), 0);
    assert_int_equal(agent_task_runner_start(r, NULL), 0);
    return r;
}

static struct agent_task_runner *recover(struct fx *f)
{
    struct agent_task_runner_config cfg = fx_config(f);
    struct agent_task_runner *r = NULL;
    struct cv_err err = {0};
    int rc = agent_task_runner_recover(&cfg, &r, &err);
    if (rc != 0) {
        print_error("recover: %s\n", err.msg);
    }
    assert_int_equal(rc, 0);
    return r;
}

static int count_events(const struct cv_task_state *st, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < st->events.len; i++) {
        n += strcmp(st->events.items[i].type, type) == 0;
    }
    return n;
}

static bool group_gone(void *arg)
{
    return kill(-*(int *)arg, 0) != 0 && errno == ESRCH;
}

static void stop_and_check(struct fx *f, struct agent_task_runner *r, int pgid)
{
    agent_task_runner_kill(r, NULL);
    assert_true(fx_run_until(f, fx_runner_done, r, WAIT_MS));
    assert_non_null(fx_last_event(agent_task_runner_state(r), "Killed"));
    assert_true(fx_run_until(f, group_gone, &pgid, WAIT_MS));
}

static void test_reattach_same_agent_process(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", SLEEP_TASK, NULL);
    struct agent_task_runner *r = new_started(&f);
    int pid = agent_task_runner_pid(r);
    assert_true(pid > 1);
    size_t events = agent_task_runner_state(r)->events.len;
    agent_task_runner_free(r); /* the agent "crashes": nothing is killed */
    assert_int_equal(kill(pid, 0), 0);

    r = recover(&f);
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_string_equal(st->state, "running");
    assert_int_equal(agent_task_runner_pid(r), pid);
    assert_u64_equal(st->events.len, events);
    assert_int_equal(count_events(st, "Started"), 1);
    fx_run_for(&f, 100);
    assert_int_equal(count_group(pid), 1);
    stop_and_check(&f, r, pid);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_reattach_after_agent_exit(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", SLEEP_TASK, NULL);
    /* A child process plays the first agent: it starts the task, then
     * exits without stopping it; the task is then nobody's child here. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t agent = fork();
    assert_true(agent >= 0);
    if (agent == 0) {
        struct event_base *b = event_base_new();
        struct agent_task_runner_config cfg = fx_config(&f);
        cfg.base = b;
        struct agent_task_runner *r = NULL;
        int pid = 0;
        if (agent_task_runner_new(&cfg, &r, NULL) == 0 && agent_task_runner_start(r, NULL) == 0) {
            pid = agent_task_runner_pid(r);
        }
        ssize_t n = write(pipefd[1], &pid, sizeof pid);
        _exit(n == sizeof pid ? 0 : 1);
    }
    close(pipefd[1]);
    int pid = 0;
    assert_int_equal(read(pipefd[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(agent, &status, 0), agent);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, 0), 0);

    struct agent_task_runner *r = recover(&f);
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_string_equal(st->state, "running");
    assert_int_equal(agent_task_runner_pid(r), pid);
    assert_int_equal(count_events(st, "Started"), 1);
    fx_run_for(&f, 100);
    assert_false(agent_task_runner_done(r));
    assert_int_equal(count_group(pid), 1);
    /* Not our child: its exit status is unknown, the kill still works. */
    stop_and_check(&f, r, pid);
    st = agent_task_runner_state(r);
    assert_i64_equal(fx_last_event(st, "Terminated")->exit_code, -1);
    assert_false(st->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

static bool started_twice(void *runner)
{
    return count_events(agent_task_runner_state(runner), "Started") >= 2 &&
           strcmp(agent_task_runner_state(runner)->state, "running") == 0;
}

static void test_task_died_while_agent_down(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", SLEEP_TASK,
             "{'Attempts': 1, 'Interval': 60000000000, 'Delay': 1000000, 'Mode': 'fail'}");
    struct agent_task_runner *r = new_started(&f);
    int pid = agent_task_runner_pid(r);
    agent_task_runner_free(r);
    assert_int_equal(kill(-pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);

    r = recover(&f);
    const struct cv_task_state *st = agent_task_runner_state(r);
    const struct cv_task_event *t = fx_last_event(st, "Terminated");
    assert_non_null(t);
    assert_i64_equal(t->exit_code, -1);
    assert_non_null(strstr(t->message, "task not running when the agent restarted"));
    assert_string_equal(cv_strmap_get(&t->details, "exit_code"), "-1");
    /* The restart policy applies: one attempt, so it starts again. */
    assert_non_null(fx_last_event(st, "Restarting"));
    assert_true(fx_run_until(&f, started_twice, r, WAIT_MS));
    int pid2 = agent_task_runner_pid(r);
    assert_true(pid2 > 1 && pid2 != pid);
    stop_and_check(&f, r, pid2);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_recycled_pid_not_adopted(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", SLEEP_TASK, NO_RESTART);
    struct agent_task_runner *r = new_started(&f);
    int pid = agent_task_runner_pid(r);
    char path[600];
    snprintf(path, sizeof path, "%s", agent_task_runner_state_path(r));
    agent_task_runner_free(r);
    /* Same pid, another start time: as if the pid had been reused. */
    char *text = fx_read(path);
    assert_non_null(text);
    char *p = strstr(text, "\"StartTime\":");
    assert_non_null(p);
    unsigned long long st0 = strtoull(p + strlen("\"StartTime\":"), NULL, 10);
    char *end = p + strlen("\"StartTime\":");
    while (*end >= '0' && *end <= '9') {
        end++;
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%.*s\"StartTime\":%llu%s", (int)(p - text), text, st0 + 1, end);
    fclose(fp);
    cv_free(text);

    r = recover(&f);
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_true(agent_task_runner_done(r));
    assert_true(st->failed);
    const struct cv_task_event *t = fx_last_event(st, "Terminated");
    assert_i64_equal(t->exit_code, -1);
    assert_non_null(strstr(t->message, "belongs to another process"));
    assert_int_equal(agent_task_runner_pid(r), 0);
    /* The process was neither adopted nor signalled. */
    fx_run_for(&f, 50);
    assert_int_equal(kill(pid, 0), 0);
    agent_task_runner_free(r);
    kill(-pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    fx_done(&f);
}

static void test_malformed_and_missing_state(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", SLEEP_TASK, NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = NULL;
    struct cv_err err = {0};
    assert_int_equal(agent_task_runner_recover(&cfg, &r, &err), CV_ENOTFOUND);
    assert_null(r);

    char path[600];
    snprintf(path, sizeof path, "%s/allocs/%s/t1.json", f.dir, FX_ALLOC_ID);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"Version\": 1, \"AllocID\": ", fp);
    fclose(fp);
    assert_int_equal(agent_task_runner_recover(&cfg, &r, &err), CV_EPARSE);
    assert_non_null(strstr(err.msg, path));
    assert_null(r);

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"Version\": 1, \"AllocID\": \"" FX_ALLOC_ID
          "\", \"Task\": \"t1\","
          " \"Driver\": \"raw_exec\", \"Restart\": {\"Count\": 0, \"IntervalStart\": 0},"
          " \"TaskState\": {\"State\": \"running\"}, \"Handle\": {\"Pid\": \"x\"}}",
          fp);
    fclose(fp);
    assert_int_equal(agent_task_runner_recover(&cfg, &r, &err), CV_EPARSE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "Handle.Pid"));

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"Version\": 2}", fp);
    fclose(fp);
    assert_int_equal(agent_task_runner_recover(&cfg, &r, &err), CV_EPARSE);
    assert_non_null(strstr(err.msg, "Version"));
    fx_done(&f);
}

static void test_dead_task_stays_dead(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch", "'Driver': 'mock', 'Config': {'run_for': 0}", NULL);
    struct agent_task_runner *r = new_started(&f);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    size_t events = agent_task_runner_state(r)->events.len;
    agent_task_runner_free(r);
    r = recover(&f);
    assert_true(agent_task_runner_done(r));
    assert_u64_equal(agent_task_runner_state(r)->events.len, events);
    assert_false(agent_task_runner_state(r)->failed);
    assert_int_equal(agent_task_runner_forget(r, NULL), 0);
    agent_task_runner_free(r);
    struct agent_task_runner_config cfg = fx_config(&f);
    assert_int_equal(agent_task_runner_recover(&cfg, &r, NULL), CV_ENOTFOUND);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_reattach_same_agent_process), CV_TEST(test_reattach_after_agent_exit),
        CV_TEST(test_task_died_while_agent_down),  CV_TEST(test_recycled_pid_not_adopted),
        CV_TEST(test_malformed_and_missing_state), CV_TEST(test_dead_task_stays_dead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
