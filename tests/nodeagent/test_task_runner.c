/*
 * test_task_runner: the task runner on a real event loop, with raw_exec
 * running /bin/sh scripts and the mock driver: events in Nomad's order,
 * exit codes, stop with KillSignal then SIGKILL, the environment, log
 * rotation, restart policies. Every wait is bounded; durations are only
 * checked from below.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_fixture.h"
#include "common/mem.h"
#include "testutil.h"

#define WAIT_MS 20000

static char task_dir_file[512];

static struct agent_task_runner *start_runner(struct fx *f, struct agent_task_runner_config *cfg)
{
    struct agent_task_runner *r = NULL;
    struct cv_err err = {0};
    int rc = agent_task_runner_new(cfg, &r, &err);
    if (rc != 0) {
        print_error("new: %s: %s\n", err.path, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(agent_task_runner_start(r, &err), 0);
    (void)f;
    return r;
}

static bool path_exists(void *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool group_gone(int pgid)
{
    return kill(-pgid, 0) != 0 && errno == ESRCH;
}

static bool group_gone_pred(void *arg)
{
    return group_gone(*(int *)arg);
}

static void test_raw_exec_success(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch",
             "'Driver': 'raw_exec', 'Config': {'command': '/bin/sh',"
             " 'args': ['-c', 'echo hello > out.txt; exit 0']}",
             NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    char types[512];
    fx_event_types(st, types, sizeof types);
    assert_string_equal(types, "Received,Task Setup,Started,Terminated");
    assert_string_equal(st->state, "dead");
    assert_false(st->failed);
    assert_i64_equal(fx_last_event(st, "Terminated")->exit_code, 0);
    assert_string_equal(fx_last_event(st, "Terminated")->display_message, "Exit Code: 0");
    assert_true(*st->started_at && *st->finished_at);
    /* The task ran in its task directory. */
    snprintf(task_dir_file, sizeof task_dir_file, "%s/alloc/%s/t1/out.txt", f.dir, FX_ALLOC_ID);
    char *out = fx_read(task_dir_file);
    assert_non_null(out);
    assert_string_equal(out, "hello\n");
    cv_free(out);
    assert_true(f.updates >= 3);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_raw_exec_exit_code(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch",
             "'Driver': 'raw_exec', 'Config': {'command': 'sh', 'args': ['-c', 'exit 3']}",
             "{'Attempts': 0, 'Interval': 60000000000, 'Delay': 0, 'Mode': 'fail'}");
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    char types[512];
    fx_event_types(st, types, sizeof types);
    assert_string_equal(types, "Received,Task Setup,Started,Terminated,Not Restarting");
    assert_i64_equal(fx_last_event(st, "Terminated")->exit_code, 3);
    assert_string_equal(fx_last_event(st, "Not Restarting")->restart_reason,
                        "Policy allows no restarts");
    assert_true(st->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_raw_exec_bad_command(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch", "'Driver': 'raw_exec', 'Config': {'command': 'no-such-program-x'}",
             "{'Attempts': 0, 'Interval': 60000000000, 'Delay': 0, 'Mode': 'fail'}");
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_true(agent_task_runner_done(r));
    const struct cv_task_event *ev = fx_last_event(st, "Driver Failure");
    assert_non_null(ev);
    assert_non_null(strstr(ev->driver_error, "no-such-program-x"));
    assert_true(st->failed);
    agent_task_runner_free(r);
    /* A Config without command is refused before anything runs. */
    cv_alloc_free(f.alloc);
    fx_alloc(&f, "batch", "'Driver': 'raw_exec', 'Config': {'args': ['x']}", NULL);
    cfg = fx_config(&f);
    struct cv_err err = {0};
    assert_int_equal(agent_task_runner_new(&cfg, &r, &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.command");
    fx_done(&f);
}

static void test_raw_exec_stop(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service",
             "'Driver': 'raw_exec', 'Config': {'command': '/bin/sh', 'args': ['-c', 'sleep 60']}",
             NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_runner_running(r));
    int pgid = agent_task_runner_pid(r);
    assert_true(pgid > 1);
    assert_int_equal(getpgid(pgid), pgid);
    agent_task_runner_kill(r, NULL);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    char types[512];
    fx_event_types(st, types, sizeof types);
    assert_string_equal(types, "Received,Task Setup,Started,Killing,Terminated,Killed");
    assert_false(st->failed);
    assert_string_equal(fx_last_event(st, "Killing")->display_message,
                        "Sent interrupt. Waiting 5s before force killing");
    assert_i64_equal(fx_last_event(st, "Terminated")->signal, SIGINT);
    assert_true(fx_run_until(&f, group_gone_pred, &pgid, WAIT_MS));
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_raw_exec_sigkill_escalation(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    /* The shell and its sleeps ignore SIGINT and SIGTERM (ignored
     * dispositions survive exec), then say they are ready. */
    fx_alloc(&f, "service",
             "'Driver': 'raw_exec', 'KillTimeout': 300000000, 'KillSignal': 'SIGTERM',"
             " 'Config': {'command': '/bin/sh', 'args': ['-c',"
             " 'trap : INT TERM; trap - EXIT; touch ready; while :; do sleep 0.05; done']}",
             NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    char ready[512];
    snprintf(ready, sizeof ready, "%s/alloc/%s/t1/ready", f.dir, FX_ALLOC_ID);
    assert_true(fx_run_until(&f, path_exists, ready, WAIT_MS));
    int pgid = agent_task_runner_pid(r);
    int64_t t0 = fx_now_ms();
    agent_task_runner_kill(r, "stopping for the test");
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    assert_true(fx_now_ms() - t0 >= 300);
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_i64_equal(fx_last_event(st, "Terminated")->signal, SIGKILL);
    assert_string_equal(fx_last_event(st, "Killing")->display_message, "stopping for the test");
    assert_non_null(fx_last_event(st, "Killed"));
    assert_true(fx_run_until(&f, group_gone_pred, &pgid, WAIT_MS));
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_raw_exec_environment(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch",
             "'Driver': 'raw_exec', 'Env': {'GREETING': 'hi'},"
             " 'Resources': {'CPU': 100, 'MemoryMB': 64},"
             " 'Config': {'command': '/usr/bin/env'}",
             NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    char path[512];
    snprintf(path, sizeof path, "%s/alloc/%s/alloc/logs/t1.stdout.0", f.dir, FX_ALLOC_ID);
    char *out = fx_read(path);
    assert_non_null(out);
    static const char *const want[] = {
        "GREETING=hi\n",
        "NOMAD_ALLOC_ID=" FX_ALLOC_ID "\n",
        "CARAVAN_ALLOC_ID=" FX_ALLOC_ID "\n",
        "NOMAD_TASK_NAME=t1\n",
        "CARAVAN_GROUP_NAME=grp\n",
        "NOMAD_JOB_ID=app\n",
        "NOMAD_DC=dc1\n",
        "NOMAD_REGION=global\n",
        "NOMAD_CPU_LIMIT=100\n",
        "CARAVAN_MEMORY_LIMIT=64\n",
        "NOMAD_ALLOC_INDEX=0\n",
        "NOMAD_NAMESPACE=default\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i])) {
            print_error("missing %s in:\n%s\n", want[i], out);
            fail();
        }
    }
    char dirline[600];
    snprintf(dirline, sizeof dirline, "NOMAD_TASK_DIR=%s/alloc/%s/t1/local\n", f.dir, FX_ALLOC_ID);
    assert_non_null(strstr(out, dirline));
    cv_free(out);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_raw_exec_log_rotation(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch",
             "'Driver': 'raw_exec', 'Config': {'command': '/bin/sh', 'args': ['-c',"
             " 'i=0; while [ $i -lt 60 ]; do echo 0123456789012345678901234567890123456789;"
             " i=$((i+1)); sleep 0.02; done']}",
             NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    cfg.log_max_bytes = 300;
    cfg.log_max_files = 3;
    cfg.log_check_interval = 20 * CV_NSEC_PER_MSEC;
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/alloc/%s/alloc/logs", f.dir, FX_ALLOC_ID);
    /* 60 lines of 41 bytes over more than a second, checked every 20 ms:
     * several rotations; at most 3 files remain (the live .0 and the two
     * newest copies). */
    int copies = 0, highest = 0;
    for (int i = 1; i < 200; i++) {
        snprintf(p, sizeof p, "%s/t1.stdout.%d", dir, i);
        if (path_exists(p)) {
            copies++;
            highest = i;
        }
    }
    assert_true(copies >= 1 && copies <= 2);
    assert_true(highest >= 2);
    snprintf(p, sizeof p, "%s/t1.stdout.0", dir);
    assert_true(path_exists(p));
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_restart_fail_mode(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service",
             "'Driver': 'raw_exec', 'Config': {'command': '/bin/sh', 'args': ['-c',"
             " 'echo run >> $NOMAD_ALLOC_DIR/data/runs; exit 1']}",
             "{'Attempts': 2, 'Interval': 600000000000, 'Delay': 20000000, 'Mode': 'fail'}");
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_true(st->failed);
    assert_u64_equal(st->restarts, 2);
    assert_true(*st->last_restart);
    const struct cv_task_event *last = &st->events.items[st->events.len - 1];
    assert_string_equal(last->type, "Not Restarting");
    assert_string_equal(last->restart_reason,
                        "Exceeded allowed attempts 2 in interval 10m0s and mode is \"fail\"");
    const struct cv_task_event *rs = fx_last_event(st, "Restarting");
    assert_true(rs->start_delay >= 20 * CV_NSEC_PER_MSEC);
    char path[512];
    snprintf(path, sizeof path, "%s/alloc/%s/alloc/data/runs", f.dir, FX_ALLOC_ID);
    char *runs = fx_read(path);
    assert_non_null(runs);
    assert_string_equal(runs, "run\nrun\nrun\n");
    cv_free(runs);
    agent_task_runner_free(r);
    fx_done(&f);
}

static bool restarts_at_least_2(void *runner)
{
    return agent_task_runner_state(runner)->restarts >= 2;
}

static bool running_after_2(void *runner)
{
    const struct cv_task_state *st = agent_task_runner_state(runner);
    return st->restarts >= 2 && strcmp(st->state, "running") == 0;
}

static void test_restart_delay_mode_waits(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    /* One attempt per 600 ms interval: the second failure waits for the
     * interval to end instead of failing the task. */
    fx_alloc(&f, "service", "'Driver': 'mock', 'Config': {'run_for': '10ms', 'exit_code': 1}",
             "{'Attempts': 1, 'Interval': 5000000000, 'Delay': 10000000, 'Mode': 'delay'}");
    /* Job validation wants intervals of 5 s or more, as Nomad's; the runner
     * takes what it is given, and a short one keeps the test short. */
    f.alloc->job->task_groups.items[0].restart_policy->interval = 600 * CV_NSEC_PER_MSEC;
    struct agent_task_runner_config cfg = fx_config(&f);
    int64_t t0 = fx_now_ms();
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, restarts_at_least_2, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    const struct cv_task_event *rs = fx_last_event(st, "Restarting");
    assert_string_equal(rs->restart_reason, "Exceeded allowed attempts, applying a delay");
    assert_true(rs->start_delay > 0);
    assert_false(st->failed);
    assert_string_equal(st->state, "pending");
    assert_true(fx_run_until(&f, running_after_2, r, WAIT_MS));
    /* It started again no earlier than the end of the first interval. */
    assert_true(fx_now_ms() - t0 >= 600);
    agent_task_runner_kill(r, NULL);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    assert_false(agent_task_runner_state(r)->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_mock_run_for_and_exit_code(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "batch", "'Driver': 'mock', 'Config': {'run_for': '30ms'}", NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    int64_t t0 = fx_now_ms();
    struct agent_task_runner *r = start_runner(&f, &cfg);
    assert_true(fx_runner_running(r));
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    assert_true(fx_now_ms() - t0 >= 30);
    assert_false(agent_task_runner_state(r)->failed);
    agent_task_runner_free(r);
    cv_alloc_free(f.alloc);

    fx_alloc(&f, "batch", "'Driver': 'mock', 'Config': {'run_for': 0, 'exit_code': 7}",
             "{'Attempts': 0, 'Interval': 60000000000, 'Delay': 0, 'Mode': 'fail'}");
    cfg = fx_config(&f);
    r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_i64_equal(fx_last_event(st, "Terminated")->exit_code, 7);
    assert_true(st->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_mock_start_errors(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service", "'Driver': 'mock', 'Config': {'start_error': 'no luck'}", NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    const struct cv_task_state *st = agent_task_runner_state(r);
    char types[512];
    fx_event_types(st, types, sizeof types);
    assert_string_equal(types, "Received,Task Setup,Driver Failure,Not Restarting");
    assert_string_equal(fx_last_event(st, "Driver Failure")->driver_error, "no luck");
    assert_string_equal(fx_last_event(st, "Not Restarting")->restart_reason,
                        "Error was unrecoverable");
    assert_true(st->failed);
    agent_task_runner_free(r);
    cv_alloc_free(f.alloc);

    fx_alloc(&f, "service",
             "'Driver': 'mock', 'Config': {'start_error': 'later',"
             " 'start_error_recoverable': true}",
             "{'Attempts': 1, 'Interval': 600000000000, 'Delay': 1000000, 'Mode': 'fail'}");
    cfg = fx_config(&f);
    r = start_runner(&f, &cfg);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    st = agent_task_runner_state(r);
    fx_event_types(st, types, sizeof types);
    assert_string_equal(types,
                        "Received,Task Setup,Driver Failure,Restarting,Driver Failure,"
                        "Not Restarting");
    assert_true(st->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

static void test_mock_kill_escalates(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service",
             "'Driver': 'mock', 'KillTimeout': 50000000, 'Config': {'kill_after': '10s'}", NULL);
    struct agent_task_runner_config cfg = fx_config(&f);
    struct agent_task_runner *r = start_runner(&f, &cfg);
    agent_task_runner_kill(r, NULL);
    assert_true(fx_run_until(&f, fx_runner_done, r, WAIT_MS));
    const struct cv_task_state *st = agent_task_runner_state(r);
    assert_i64_equal(fx_last_event(st, "Terminated")->signal, SIGKILL);
    assert_false(st->failed);
    agent_task_runner_free(r);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_raw_exec_success),
        CV_TEST(test_raw_exec_exit_code),
        CV_TEST(test_raw_exec_bad_command),
        CV_TEST(test_raw_exec_stop),
        CV_TEST(test_raw_exec_sigkill_escalation),
        CV_TEST(test_raw_exec_environment),
        CV_TEST(test_raw_exec_log_rotation),
        CV_TEST(test_restart_fail_mode),
        CV_TEST(test_restart_delay_mode_waits),
        CV_TEST(test_mock_run_for_and_exit_code),
        CV_TEST(test_mock_start_errors),
        CV_TEST(test_mock_kill_escalates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
