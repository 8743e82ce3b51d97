/*
 * test_agent_fingerprint: the node the agent registers
 * (nodeagent/fingerprint.h): every attribute present and sane, resources
 * from the machine, drivers as configured, and a node ID that is stable
 * across calls with one data dir and refused, not replaced, when corrupt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "nodeagent/agent_config.h"
#include "nodeagent/fingerprint.h"
#include "testutil.h"

struct fixture
{
    char dir[64];
    struct agent_config cfg;
};

static int setup(void **state)
{
    cv_test_setup(state);
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/agent-fp-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    agent_config_init(&f->cfg);
    const char *argv[] = {"nodeagent", "-dev",    "-data-dir",   f->dir,
                          "-meta",     "rack=r1", "-node-class", "web"};
    struct cv_err err = {0};
    assert_int_equal(agent_config_parse_args(&f->cfg, 8, (char **)argv, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/node-id", f->dir);
    unlink(path);
    rmdir(f->dir);
    agent_config_free(&f->cfg);
    free(f);
    *state = NULL;
    return cv_test_teardown(state);
}

static long long attr_int(const struct cv_node *n, const char *key)
{
    const char *v = cv_strmap_get(&n->attributes, key);
    if (!v) {
        fail_msg("attribute %s missing", key);
    }
    return atoll(v);
}

static void test_fields(void **state)
{
    struct fixture *f = *state;
    struct cv_node *n = NULL;
    struct cv_err err = {0};
    if (agent_fingerprint(&f->cfg, NULL, &n, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_true(cv_uuid_valid(n->id));
    assert_true(cv_uuid_valid(n->secret_id));
    assert_string_equal(n->status, "ready");
    assert_string_equal(n->datacenter, "dc1");
    assert_string_equal(n->node_class, "web");
    assert_string_equal(n->node_pool, "default");
    assert_string_equal(cv_strmap_get(&n->meta, "rack"), "r1");
    static const char *const keys[] = {"kernel.name", "kernel.version", "os.name", "cpu.arch",
                                       "unique.hostname"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = cv_strmap_get(&n->attributes, keys[i]);
        if (!v || !*v) {
            fail_msg("attribute %s missing or empty", keys[i]);
        }
    }
    assert_string_equal(cv_strmap_get(&n->attributes, "kernel.name"), "linux");
    long long cores = attr_int(n, "cpu.numcores");
    long long compute = attr_int(n, "cpu.totalcompute");
    long long mem = attr_int(n, "memory.totalbytes");
    assert_true(cores >= 1 && cores <= 65535);
    assert_true(compute >= cores * 100); /* at least 100 MHz a core */
    assert_true(mem >= 64LL * 1024 * 1024);
    assert_string_equal(cv_strmap_get(&n->attributes, "driver.raw_exec"), "1");
    assert_string_equal(cv_strmap_get(&n->attributes, "driver.mock"), "1");
    assert_non_null(n->node_resources);
    assert_int_equal(n->node_resources->cpu.cpu_shares, compute);
    assert_int_equal(n->node_resources->cpu.total_cpu_cores, cores);
    assert_int_equal(n->node_resources->memory.memory_mb, mem / (1024 * 1024));
    assert_true(n->node_resources->disk.disk_mb > 0);
    assert_int_equal(n->drivers.len, 2);
    for (size_t i = 0; i < n->drivers.len; i++) {
        assert_true(n->drivers.items[i].detected);
        assert_true(n->drivers.items[i].healthy);
    }
    cv_node_free(n);
}

static void test_drivers_follow_config(void **state)
{
    struct fixture *f = *state;
    f->cfg.raw_exec = false;
    struct cv_node *n = NULL;
    struct cv_err err = {0};
    assert_int_equal(agent_fingerprint(&f->cfg, NULL, &n, &err), 0);
    assert_null(cv_strmap_get(&n->attributes, "driver.raw_exec"));
    assert_int_equal(n->drivers.len, 1);
    assert_string_equal(n->drivers.items[0].key, "mock");
    cv_node_free(n);
}

static void test_id_stable(void **state)
{
    struct fixture *f = *state;
    struct cv_node *a = NULL, *b = NULL;
    struct cv_err err = {0};
    assert_int_equal(agent_fingerprint(&f->cfg, NULL, &a, &err), 0);
    assert_int_equal(agent_fingerprint(&f->cfg, NULL, &b, &err), 0);
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->secret_id, b->secret_id);
    assert_string_not_equal(a->id, a->secret_id);
    char id[CV_UUID_LEN + 1], secret[CV_UUID_LEN + 1];
    assert_int_equal(agent_node_identity(f->dir, id, secret, &err), 0);
    assert_string_equal(id, a->id);
    cv_node_free(a);
    cv_node_free(b);
}

static void test_corrupt_id_refused(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/node-id", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"ID\": \"not-a-uuid\", \"SecretID\": \"x\"}", fp);
    fclose(fp);
    char id[CV_UUID_LEN + 1], secret[CV_UUID_LEN + 1];
    struct cv_err err = {0};
    assert_int_equal(agent_node_identity(f->dir, id, secret, &err), CV_EPARSE);
    assert_non_null(strstr(err.msg, "node-id"));
    assert_non_null(strstr(err.msg, "ID: must be a UUID"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drivers_follow_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_id_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
