/*
 * test_agent_config: the agent's configuration (nodeagent/agent_config.h):
 * defaults, -dev, JSON files, flags over files, and every error naming its
 * key or flag.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "nodeagent/agent_config.h"
#include "testutil.h"

static int parse(struct agent_config *c, struct cv_err *err, int argc, const char *const *argv)
{
    agent_config_init(c);
    memset(err, 0, sizeof *err);
    return agent_config_parse_args(c, argc, (char **)argv, err);
}

static void assert_err_has(const struct cv_err *err, const char *text)
{
    if (!strstr(err->msg, text)) {
        fail_msg("error \"%s\" does not contain \"%s\"", err->msg, text);
    }
}

static void test_dev(void **state)
{
    (void)state;
    struct agent_config c;
    struct cv_err err;
    const char *argv[] = {"nodeagent", "-dev"};
    assert_int_equal(parse(&c, &err, 2, argv), 0);
    assert_int_equal(c.n_servers, 1);
    assert_string_equal(c.servers[0], "127.0.0.1:4647");
    assert_string_equal(c.datacenter, "dc1");
    assert_true(c.raw_exec);
    assert_true(c.mock);
    assert_true(c.data_dir_is_temp);
    assert_true(c.data_dir[0] == '/');
    assert_true(c.name[0] != '\0');
    assert_int_equal(rmdir(c.data_dir), 0);
    agent_config_free(&c);
}

static void test_file_and_flags(void **state)
{
    (void)state;
    char path[] = "/tmp/agent-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json =
        "{\"servers\": [\"127.0.0.1:5001\", \"127.0.0.2:5002\"], \"data_dir\": \"/var/x\","
        " \"datacenter\": \"east\", \"name\": \"n1\", \"node_class\": \"web\","
        " \"node_pool\": \"pool-a\", \"meta\": {\"rack\": \"r1\", \"zone\": \"z\"},"
        " \"drivers\": {\"raw_exec\": {\"enabled\": true}},"
        " \"reserved\": {\"cpu\": 200, \"memory\": 256, \"disk\": 1024, \"reserved_ports\": "
        "\"22\"}, \"log_level\": \"debug\"}";
    assert_int_equal(write(fd, json, strlen(json)), (int)strlen(json));
    close(fd);
    struct agent_config c;
    struct cv_err err;
    const char *argv[] = {"nodeagent", "-dc",     "west",     "-config",  path,
                          "-meta",     "rack=r9", "-name=n2", "-servers", "127.0.0.1:6000"};
    int rc = parse(&c, &err, 10, argv);
    unlink(path);
    if (rc != 0) {
        fail_msg("%s", err.msg);
    }
    /* Flags win over the file whatever their position. */
    assert_string_equal(c.datacenter, "west");
    assert_string_equal(c.name, "n2");
    assert_int_equal(c.n_servers, 1);
    assert_string_equal(c.servers[0], "127.0.0.1:6000");
    assert_string_equal(c.data_dir, "/var/x");
    assert_string_equal(c.node_class, "web");
    assert_string_equal(c.node_pool, "pool-a");
    assert_string_equal(cv_strmap_get(&c.meta, "rack"), "r9");
    assert_string_equal(cv_strmap_get(&c.meta, "zone"), "z");
    assert_true(c.raw_exec);
    assert_false(c.mock);
    assert_int_equal(c.reserved_cpu, 200);
    assert_int_equal(c.reserved_memory_mb, 256);
    assert_int_equal(c.reserved_disk_mb, 1024);
    assert_string_equal(c.reserved_ports, "22");
    assert_int_equal(c.log_level, CV_LOG_DEBUG);
    agent_config_free(&c);
}

static void test_defaults_outside_dev(void **state)
{
    (void)state;
    struct agent_config c;
    struct cv_err err;
    const char *argv[] = {"nodeagent", "-servers", "127.0.0.1:4647", "-data-dir", "rel/dir"};
    assert_int_equal(parse(&c, &err, 5, argv), 0);
    assert_false(c.raw_exec); /* as Nomad: raw_exec is opt-in */
    assert_false(c.mock);
    assert_true(c.data_dir[0] == '/'); /* made absolute */
    assert_int_equal(c.http_port, AGENT_DEFAULT_HTTP_PORT);
    assert_string_equal(c.bind_addr, "127.0.0.1");
    assert_non_null(strstr(c.data_dir, "/rel/dir"));
    agent_config_free(&c);
}

struct json_case
{
    const char *json;
    const char *error;
};

static void test_json_errors(void **state)
{
    (void)state;
    static const struct json_case cases[] = {
        {"{\"servers\": \"127.0.0.1:4647\"}", "servers: expected array, got string"},
        {"{\"servers\": []}", "servers: expected 1 to 16 addresses"},
        {"{\"servers\": [\"nohost\"]}", "servers[0]: expected host:port"},
        {"{\"servers\": [\"1.2.3.4:0\"]}", "servers[0]: port must be 1 to 65535"},
        {"{\"datacentre\": \"x\"}", "datacentre: unknown field"},
        {"{\"meta\": {\"a\": 1}}", "meta.a: expected string, got number"},
        {"{\"drivers\": {\"docker\": {}}}", "drivers.docker: unknown driver"},
        {"{\"drivers\": {\"raw_exec\": {\"enable\": true}}}", "drivers.raw_exec.enable: unknown"},
        {"{\"drivers\": {\"raw_exec\": {\"enabled\": \"yes\"}}}",
         "drivers.raw_exec.enabled: expected boolean"},
        {"{\"reserved\": {\"cpu\": -1}}", "reserved.cpu: must not be negative"},
        {"{\"reserved\": {\"memory\": 1.5}}", "reserved.memory: expected an integer"},
        {"{\"reserved\": {\"gpu\": 1}}", "reserved.gpu: unknown field"},
        {"{\"log_level\": \"loud\"}", "log_level: must be debug, info, warn or error"},
        {"{\"http_port\": 0}", "http_port: must be 1 to 65535"},
        {"{\"http_port\": \"80\"}", "http_port: expected number"},
        {"{\"bind_addr\": 1}", "bind_addr: expected string"},
        {"[1]", "expected object"},
        {"{\"name\": ", "test.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_config c;
        agent_config_init(&c);
        struct cv_err err = {0};
        int rc =
            agent_config_apply_json(&c, cases[i].json, strlen(cases[i].json), "test.json", &err);
        if (rc == 0) {
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        }
        assert_err_has(&err, cases[i].error);
        assert_err_has(&err, "test.json");
        agent_config_free(&c);
    }
}

struct flag_case
{
    const char *argv[6];
    int argc;
    const char *error;
};

static void test_flag_errors(void **state)
{
    (void)state;
    static const struct flag_case cases[] = {
        {{"nodeagent", "-servers", "127.0.0.1"}, 3, "-servers: expected host:port"},
        {{"nodeagent", "-dev", "-meta", "rack"}, 4, "-meta: expected key=value"},
        {{"nodeagent", "-dev", "-log-level", "x"}, 4, "-log-level: must be debug"},
        {{"nodeagent", "-dev", "-bogus", "1"}, 4, "-bogus: unknown flag"},
        {{"nodeagent", "-dev", "-dc"}, 3, "-dc: needs a value"},
        {{"nodeagent", "-dev", "-dc", ""}, 4, "-dc: must not be empty"},
        {{"nodeagent", "-servers", "127.0.0.1:4647"}, 3, "data_dir: required outside -dev"},
        {{"nodeagent", "-data-dir", "/x"}, 3, "servers: at least one"},
        {{"nodeagent", "-config", "/nonexistent/agent.json"}, 3, "-config /nonexistent"},
        {{"nodeagent", "stray"}, 2, "unexpected argument"},
        {{"nodeagent", "-dev", "-http-port", "70000"}, 4, "-http-port: must be 1 to 65535"},
        {{"nodeagent", "-dev", "-bind", ""}, 4, "-bind: must not be empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_config c;
        struct cv_err err;
        int rc = parse(&c, &err, cases[i].argc, cases[i].argv);
        if (rc == 0) {
            fail_msg("case %zu accepted", i);
        }
        assert_err_has(&err, cases[i].error);
        if (c.data_dir_is_temp) {
            rmdir(c.data_dir);
        }
        agent_config_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_dev),         CV_TEST(test_file_and_flags), CV_TEST(test_defaults_outside_dev),
        CV_TEST(test_json_errors), CV_TEST(test_flag_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
