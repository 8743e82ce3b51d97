/*
 * test_agent_units: the nodeagent's pure parts: duration and signal
 * parsing, Go's duration format, the restart tracker (Nomad's rules with
 * explicit times), log rotation, raw_exec config validation, the task
 * environment, the mock driver without a loop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_fixture.h"
#include "common/mem.h"
#include "nodeagent/driver.h"
#include "nodeagent/logs.h"
#include "nodeagent/restart.h"
#include "nodeagent/task_env.h"
#include "testutil.h"

#define SEC CV_NSEC_PER_SEC
#define MS  CV_NSEC_PER_MSEC

static int64_t dur(const char *json)
{
    struct cv_json_doc *doc;
    assert_int_equal(cv_json_parse(json, strlen(json), NULL, &doc, NULL), 0);
    int64_t v = -42;
    int rc = drv_parse_duration(cv_json_doc_root(doc), &v);
    cv_json_doc_free(doc);
    return rc == 0 ? v : -1;
}

static void test_parse_duration(void **state)
{
    (void)state;
    assert_i64_equal(dur("\"10s\""), 10 * SEC);
    assert_i64_equal(dur("\"500ms\""), 500 * MS);
    assert_i64_equal(dur("\"1m30s\""), 90 * SEC);
    assert_i64_equal(dur("\"1.5s\""), 1500 * MS);
    assert_i64_equal(dur("\"2h\""), 7200 * SEC);
    assert_i64_equal(dur("\"0\""), 0);
    assert_i64_equal(dur("1500"), 1500);
    assert_i64_equal(dur("\"10\""), -1);
    assert_i64_equal(dur("\"s\""), -1);
    assert_i64_equal(dur("\"-1s\""), -1);
    assert_i64_equal(dur("true"), -1);
}

static void test_fmt_duration_and_signals(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(agent_fmt_duration(15 * SEC, b, sizeof b), "15s");
    assert_string_equal(agent_fmt_duration(30 * 60 * SEC, b, sizeof b), "30m0s");
    assert_string_equal(agent_fmt_duration(24 * 3600 * SEC, b, sizeof b), "24h0m0s");
    assert_string_equal(agent_fmt_duration(500 * MS, b, sizeof b), "500ms");
    assert_string_equal(agent_fmt_duration(16200 * MS, b, sizeof b), "16.2s");
    assert_string_equal(agent_fmt_duration(0, b, sizeof b), "0s");
    assert_int_equal(drv_parse_signal("SIGINT"), SIGINT);
    assert_int_equal(drv_parse_signal("term"), SIGTERM);
    assert_int_equal(drv_parse_signal("SIGKILL"), SIGKILL);
    assert_int_equal(drv_parse_signal("SIGNOPE"), -1);
}

static struct cv_restart_policy policy(int64_t attempts, int64_t interval, int64_t delay,
                                       const char *mode)
{
    struct cv_restart_policy p = {attempts, interval, delay, (char *)mode, CV_OPTBOOL_UNSET};
    return p;
}

static void test_restart_fail_mode(void **state)
{
    (void)state;
    struct cv_restart_policy p = policy(2, 60 * SEC, 1 * SEC, "fail");
    struct agent_restart_tracker t;
    struct agent_restart_result r;
    agent_restart_init(&t, &p, "service", 1000 * SEC, 7);
    agent_restart_next(&t, 1001 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    /* Delay plus up to 25% jitter. */
    assert_true(r.delay >= 1 * SEC && r.delay < 1250 * MS);
    assert_string_equal(r.reason, "Restart within policy");
    agent_restart_next(&t, 1002 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    agent_restart_next(&t, 1003 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_FAIL);
    assert_string_equal(r.reason,
                        "Exceeded allowed attempts 2 in interval 1m0s and mode is \"fail\"");
    /* A new interval resets the count. */
    agent_restart_init(&t, &p, "service", 1000 * SEC, 7);
    agent_restart_next(&t, 1001 * SEC, false, false, false, &r);
    agent_restart_next(&t, 1002 * SEC, false, false, false, &r);
    agent_restart_next(&t, 1061 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    assert_i64_equal(t.count, 1);
}

static void test_restart_delay_mode(void **state)
{
    (void)state;
    struct cv_restart_policy p = policy(1, 60 * SEC, 1 * SEC, "delay");
    struct agent_restart_tracker t;
    struct agent_restart_result r;
    agent_restart_init(&t, &p, "service", 1000 * SEC, 7);
    agent_restart_next(&t, 1010 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    agent_restart_next(&t, 1020 * SEC, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    assert_i64_equal(r.delay, 40 * SEC); /* until the interval ends */
    assert_string_equal(r.reason, "Exceeded allowed attempts, applying a delay");
    agent_restart_next(&t, 1061 * SEC, false, false, false, &r);
    assert_string_equal(r.reason, "Restart within policy");
}

static void test_restart_batch_service_and_errors(void **state)
{
    (void)state;
    struct cv_restart_policy p = policy(2, 60 * SEC, 0, "fail");
    struct agent_restart_tracker t;
    struct agent_restart_result r;
    agent_restart_init(&t, &p, "batch", 0, 1);
    agent_restart_next(&t, 1, false, false, true, &r);
    assert_int_equal(r.decision, AGENT_RESTART_TERMINATED);
    agent_restart_init(&t, &p, "service", 0, 1);
    agent_restart_next(&t, 1, false, false, true, &r);
    assert_int_equal(r.decision, AGENT_RESTART_RESTART);
    agent_restart_next(&t, 2, true, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_FAIL);
    assert_string_equal(r.reason, "Error was unrecoverable");
    struct cv_restart_policy none = policy(0, 60 * SEC, 0, "fail");
    agent_restart_init(&t, &none, "batch", 0, 1);
    agent_restart_next(&t, 1, false, false, true, &r);
    assert_int_equal(r.decision, AGENT_RESTART_TERMINATED);
    agent_restart_next(&t, 1, false, false, false, &r);
    assert_int_equal(r.decision, AGENT_RESTART_FAIL);
    assert_string_equal(r.reason, "Policy allows no restarts");
    /* Nomad's defaults when no policy is given. */
    agent_restart_init(&t, NULL, "batch", 0, 1);
    assert_i64_equal(t.attempts, 3);
    assert_i64_equal(t.interval, 24 * 3600 * SEC);
    agent_restart_init(&t, NULL, "service", 0, 1);
    assert_i64_equal(t.attempts, 2);
    assert_i64_equal(t.delay, 15 * SEC);
}

static void write_bytes(const char *path, size_t n, const char *mode)
{
    FILE *fp = fopen(path, mode);
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++) {
        fputc('a' + (int)(i % 26), fp);
    }
    fclose(fp);
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_log_rotation(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    char live[512], p[512];
    snprintf(live, sizeof live, "%s/web.stdout.0", f.dir);
    assert_int_equal(agent_logs_rotate(live, 100, 3, NULL), 0); /* no file yet */
    write_bytes(live, 50, "w");
    assert_int_equal(agent_logs_rotate(live, 100, 3, NULL), 0);
    write_bytes(live, 100, "a");
    assert_int_equal(agent_logs_rotate(live, 100, 3, NULL), 1);
    assert_i64_equal(size_of(live), 0);
    snprintf(p, sizeof p, "%s/web.stdout.1", f.dir);
    assert_i64_equal(size_of(p), 150);
    for (int i = 0; i < 3; i++) {
        write_bytes(live, 101 + (size_t)i, "a");
        assert_int_equal(agent_logs_rotate(live, 100, 3, NULL), 1);
    }
    /* max_files 3: the live file and the two newest copies (.3 and .4). */
    snprintf(p, sizeof p, "%s/web.stdout.1", f.dir);
    assert_i64_equal(size_of(p), -1);
    snprintf(p, sizeof p, "%s/web.stdout.2", f.dir);
    assert_i64_equal(size_of(p), -1);
    snprintf(p, sizeof p, "%s/web.stdout.3", f.dir);
    assert_i64_equal(size_of(p), 102);
    snprintf(p, sizeof p, "%s/web.stdout.4", f.dir);
    assert_i64_equal(size_of(p), 103);
    struct cv_err err = {0};
    assert_int_equal(agent_logs_rotate("/tmp/x.log", 1, 3, &err), CV_EINVAL);
    fx_done(&f);
}

static int validate(const char *json, struct cv_err *err)
{
    struct cv_json_doc *doc;
    assert_int_equal(cv_json_parse(json, strlen(json), NULL, &doc, NULL), 0);
    int rc = drv_raw_exec.validate(cv_json_doc_root(doc), err);
    cv_json_doc_free(doc);
    return rc;
}

static void test_raw_exec_validation(void **state)
{
    (void)state;
    struct cv_err err = {0};
    assert_int_equal(validate("{\"command\": \"/bin/true\", \"args\": [\"a\"]}", &err), 0);
    assert_int_equal(validate("{\"args\": []}", &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.command");
    assert_int_equal(validate("{\"command\": 3}", &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.command");
    assert_int_equal(validate("{\"command\": \"x\", \"args\": \"a b\"}", &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.args");
    assert_int_equal(validate("{\"command\": \"x\", \"args\": [1]}", &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.args");
    assert_int_equal(validate("{\"command\": \"x\", \"image\": \"y\"}", &err), CV_EINVAL);
    assert_non_null(strstr(err.msg, "image"));
    assert_ptr_equal(drv_find("raw_exec"), &drv_raw_exec);
    assert_ptr_equal(drv_find("mock"), &drv_mock);
    assert_null(drv_find("docker"));
}

static bool has(char **env, const char *kv)
{
    for (; *env; env++) {
        if (strcmp(*env, kv) == 0) {
            return true;
        }
    }
    return false;
}

static void test_task_env(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    fx_alloc(&f, "service",
             "'Driver': 'mock', 'Env': {'MODE': 'prod', 'NOMAD_ALLOC_ID': 'spoof'},"
             " 'Resources': {'CPU': 250, 'MemoryMB': 128}",
             NULL);
    const struct cv_task *t = &f.alloc->job->task_groups.items[0].tasks.items[0];
    struct agent_task_env_info info = {f.alloc,        t, "dc1", "/a/alloc", "/a/t1/local",
                                       "/a/t1/secrets"};
    char **env = agent_task_env_build(&info);
    assert_true(has(env, "MODE=prod"));
    assert_true(has(env, "NOMAD_ALLOC_ID=" FX_ALLOC_ID));
    assert_true(has(env, "CARAVAN_ALLOC_ID=" FX_ALLOC_ID));
    assert_true(has(env, "NOMAD_ALLOC_NAME=app.grp[0]"));
    assert_true(has(env, "NOMAD_ALLOC_INDEX=0"));
    assert_true(has(env, "CARAVAN_TASK_NAME=t1"));
    assert_true(has(env, "NOMAD_GROUP_NAME=grp"));
    assert_true(has(env, "NOMAD_JOB_NAME=app"));
    assert_true(has(env, "NOMAD_JOB_ID=app"));
    assert_true(has(env, "NOMAD_NAMESPACE=default"));
    assert_true(has(env, "NOMAD_REGION=global"));
    assert_true(has(env, "CARAVAN_DC=dc1"));
    assert_true(has(env, "NOMAD_ALLOC_DIR=/a/alloc"));
    assert_true(has(env, "NOMAD_TASK_DIR=/a/t1/local"));
    assert_true(has(env, "NOMAD_CPU_LIMIT=250"));
    assert_true(has(env, "CARAVAN_MEMORY_LIMIT=128"));
    assert_true(has(env, "PATH=/usr/local/bin:/usr/bin:/bin"));
    agent_task_env_free(env);
    fx_done(&f);
}

static void test_mock_driver_alone(void **state)
{
    (void)state;
    struct cv_manual_clock mc;
    cv_manual_clock_init(&mc, 0, 1000 * SEC);
    const char *cfg = "{\"run_for\": \"2s\", \"exit_code\": 3, \"kill_after\": \"1s\"}";
    struct cv_json_doc *doc;
    assert_int_equal(cv_json_parse(cfg, strlen(cfg), NULL, &doc, NULL), 0);
    struct drv_task t = {.config = cv_json_doc_root(doc), .clock = &mc.clock};
    struct drv_handle *h;
    assert_int_equal(drv_mock.start(&t, &h, NULL), 0);
    struct drv_exit e;
    assert_int_equal(drv_mock.poll(h, &e), DRV_RUNNING);
    assert_i64_equal(drv_mock.next_poll(h), 2 * SEC);
    cv_manual_clock_advance(&mc, 2 * SEC);
    assert_int_equal(drv_mock.poll(h, &e), DRV_EXITED);
    assert_i64_equal(e.exit_code, 3);
    drv_mock.destroy(h);
    /* A signal takes kill_after to act; SIGKILL acts at once. */
    assert_int_equal(drv_mock.start(&t, &h, NULL), 0);
    assert_int_equal(drv_mock.signal(h, SIGINT, NULL), 0);
    cv_manual_clock_advance(&mc, 500 * MS);
    assert_int_equal(drv_mock.poll(h, &e), DRV_RUNNING);
    assert_int_equal(drv_mock.signal(h, SIGKILL, NULL), 0);
    assert_int_equal(drv_mock.poll(h, &e), DRV_EXITED);
    assert_i64_equal(e.signal, SIGKILL);
    drv_mock.destroy(h);
    cv_json_doc_free(doc);
    const char *bad = "{\"run_for\": \"soon\"}";
    assert_int_equal(cv_json_parse(bad, strlen(bad), NULL, &doc, NULL), 0);
    struct cv_err err = {0};
    assert_int_equal(drv_mock.validate(cv_json_doc_root(doc), &err), CV_EINVAL);
    assert_string_equal(err.path, "Config.run_for");
    cv_json_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_parse_duration),
        CV_TEST(test_fmt_duration_and_signals),
        CV_TEST(test_restart_fail_mode),
        CV_TEST(test_restart_delay_mode),
        CV_TEST(test_restart_batch_service_and_errors),
        CV_TEST(test_log_rotation),
        CV_TEST(test_raw_exec_validation),
        CV_TEST(test_task_env),
        CV_TEST(test_mock_driver_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
