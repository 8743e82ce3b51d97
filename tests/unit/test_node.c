/*
 * test_node: the Node model through its public face: a node as Nomad's API
 * shows it decodes; encoding round-trips byte for byte; copies are deep;
 * each validation rule, type error, unknown or unsupported field is
 * reported with its exact path and message; and the UUID / RFC 3339 checks.
 *
 * JSON in this file is written with single quotes, turned into double
 * quotes by cv_test_quotes(), so that it stays readable.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/node.h"

#define NODE_ID "f7476465-4d6e-c0de-26d0-e383c49be941"

/* Returns a new copy of s with every ' turned into ". */
static struct cv_node *parse_ok(const char *single_quoted)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *obj = NULL;
    int rc = cv_node_parse(text, strlen(text), &obj, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    cv_free(text);
    assert_int_equal(rc, 0);
    assert_non_null(obj);
    return obj;
}

static void expect_errors(const char *single_quoted, const char *const *expected, size_t n)
{
    char *text = cv_test_quotes(single_quoted);
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *obj = NULL;
    int rc = cv_node_parse(text, strlen(text), &obj, &errs);
    cv_free(text);
    bool same = cv_test_errors_are(rc, &errs, expected, n) && !obj;
    cv_errlist_free(&errs);
    cv_node_free(obj);
    assert_true(same);
}

#define EXPECT_ERRORS(text, ...)                                              \
    do {                                                                      \
        const char *const expected_[] = {__VA_ARGS__};                        \
        expect_errors(text, expected_, sizeof expected_ / sizeof *expected_); \
    } while (0)

/* What `nomad node status -json` prints for a Linux client, trimmed. */
static const char NOMAD_NODE[] =
    "{'ID': '" NODE_ID
    "', 'SecretID': '', 'Datacenter': 'dc1', 'Name': 'client-1',"
    " 'HTTPAddr': '10.0.0.5:4646', 'TLSEnabled': false,"
    " 'Attributes': {'cpu.arch': 'amd64', 'kernel.name': 'linux', 'unique.hostname': 'client-1'},"
    " 'Resources': {'CPU': 8000, 'MemoryMB': 16000, 'DiskMB': 100000, 'Networks': null},"
    " 'Reserved': {'CPU': 100, 'MemoryMB': 256, 'DiskMB': 0},"
    " 'NodeResources': {'Cpu': {'CpuShares': 8000, 'TotalCpuCores': 4,"
    "   'ReservableCpuCores': [0, 1, 2, 3]},"
    "  'Memory': {'MemoryMB': 15990}, 'Disk': {'DiskMB': 95000},"
    "  'Networks': [{'Mode': 'host', 'Device': 'eth0', 'CIDR': '10.0.0.5/32', 'IP': '10.0.0.5',"
    "   'MBits': 1000, 'DNS': null, 'ReservedPorts': null, 'DynamicPorts': null,"
    "   'Hostname': ''}],"
    "  'Devices': null, 'MinDynamicPort': 20000, 'MaxDynamicPort': 32000},"
    " 'ReservedResources': {'Cpu': {'CpuShares': 100}, 'Memory': {'MemoryMB': 256},"
    "  'Disk': {'DiskMB': 0}, 'Networks': {'ReservedHostPorts': '22,8000-8100'}},"
    " 'Links': {'aws.ec2': 'us-east-1a.i-0123'}, 'Meta': {'rack': 'r1'},"
    " 'NodeClass': 'large', 'NodePool': 'default', 'CgroupParent': 'nomad.slice',"
    " 'Drain': true, 'DrainStrategy': {'Deadline': 3600000000000, 'IgnoreSystemJobs': true,"
    "  'ForceDeadline': '2024-05-31T17:08:37.5+02:00', 'StartedAt': '2024-05-31T16:08:37Z'},"
    " 'SchedulingEligibility': 'ineligible', 'Status': 'ready', 'StatusDescription': '',"
    " 'StatusUpdatedAt': 1717171717,"
    " 'Events': [{'Message': 'Node registered', 'Subsystem': 'Cluster', 'Details': null,"
    "  'Timestamp': '2024-05-31T16:08:37Z', 'CreateIndex': 0}],"
    " 'Drivers': {'raw_exec': {'Attributes': {'driver.raw_exec': 'true'}, 'Detected': true,"
    "   'Healthy': true, 'HealthDescription': 'Healthy',"
    "   'UpdateTime': '2024-05-31T16:08:37.123456789Z'},"
    "  'docker': {'Attributes': null, 'Detected': false, 'Healthy': false,"
    "   'HealthDescription': 'Driver docker is not detected',"
    "   'UpdateTime': '2024-05-31T16:08:37Z'}},"
    " 'HostVolumes': null, 'GCVolumesOnNodeGC': false, 'HostNetworks': null,"
    " 'CSIControllerPlugins': null, 'CSINodePlugins': {}, 'LastDrain': null,"
    " 'CreateIndex': 7, 'ModifyIndex': 9, 'NodeMaxAllocs': 0}";

static void test_decode_nomad_node(void **state)
{
    (void)state;
    struct cv_node *n = parse_ok(NOMAD_NODE);
    assert_string_equal(n->id, NODE_ID);
    assert_string_equal(n->datacenter, "dc1");
    assert_string_equal(n->name, "client-1");
    assert_string_equal(n->http_addr, "10.0.0.5:4646");
    assert_int_equal(n->attributes.len, 3);
    assert_string_equal(cv_strmap_get(&n->attributes, "kernel.name"), "linux");
    assert_non_null(n->node_resources);
    assert_i64_equal(n->node_resources->cpu.cpu_shares, 8000);
    assert_i64_equal(n->node_resources->cpu.total_cpu_cores, 4);
    assert_non_null(n->node_resources->cpu.reservable_cpu_cores);
    assert_i64_equal(n->node_resources->memory.memory_mb, 15990);
    assert_i64_equal(n->node_resources->disk.disk_mb, 95000);
    assert_int_equal(n->node_resources->networks.len, 1);
    assert_string_equal(n->node_resources->networks.items[0].ip, "10.0.0.5");
    assert_i64_equal(n->node_resources->networks.items[0].mbits, 1000);
    assert_i64_equal(n->node_resources->min_dynamic_port, 20000);
    assert_i64_equal(n->node_resources->max_dynamic_port, 32000);
    assert_non_null(n->reserved_resources);
    assert_i64_equal(n->reserved_resources->cpu.cpu_shares, 100);
    assert_i64_equal(n->reserved_resources->memory.memory_mb, 256);
    assert_string_equal(n->reserved_resources->networks.reserved_host_ports, "22,8000-8100");
    assert_string_equal(cv_strmap_get(&n->links, "aws.ec2"), "us-east-1a.i-0123");
    assert_string_equal(cv_strmap_get(&n->meta, "rack"), "r1");
    assert_string_equal(n->node_class, "large");
    assert_string_equal(n->node_pool, "default");
    assert_true(n->drain);
    assert_non_null(n->drain_strategy);
    assert_i64_equal(n->drain_strategy->deadline, 3600000000000);
    assert_true(n->drain_strategy->ignore_system_jobs);
    assert_string_equal(n->drain_strategy->started_at, "2024-05-31T16:08:37Z");
    assert_string_equal(n->scheduling_eligibility, CV_NODE_INELIGIBLE);
    assert_string_equal(n->status, CV_NODE_STATUS_READY);
    assert_i64_equal(n->status_updated_at, 1717171717);
    /* Struct maps are sorted by key, as Go's encoder writes them. */
    assert_int_equal(n->drivers.len, 2);
    assert_string_equal(n->drivers.items[0].key, "docker");
    assert_false(n->drivers.items[0].detected);
    assert_string_equal(n->drivers.items[1].key, "raw_exec");
    assert_true(n->drivers.items[1].healthy);
    assert_string_equal(cv_strmap_get(&n->drivers.items[1].attributes, "driver.raw_exec"), "true");
    assert_u64_equal(n->create_index, 7);
    assert_u64_equal(n->modify_index, 9);
    cv_node_free(n);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cv_node *n = parse_ok("{'ID': '" NODE_ID "', 'Datacenter': 'dc1', 'Name': 'c'}");
    assert_string_equal(n->status, CV_NODE_STATUS_INITIALIZING);
    assert_string_equal(n->scheduling_eligibility, CV_NODE_ELIGIBLE);
    assert_string_equal(n->node_pool, CV_NODE_POOL_DEFAULT);
    assert_null(n->node_resources);
    assert_null(n->drain_strategy);

    struct cv_node *fresh = cv_node_new();
    assert_string_equal(fresh->status, CV_NODE_STATUS_INITIALIZING);
    assert_string_equal(fresh->scheduling_eligibility, CV_NODE_ELIGIBLE);
    assert_string_equal(fresh->node_pool, CV_NODE_POOL_DEFAULT);
    assert_string_equal(fresh->id, "");
    cv_node_free(fresh);
    cv_node_free(n);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cv_node *n = parse_ok(NOMAD_NODE);
    char *first = cv_node_to_json(n, false);
    assert_non_null(first);
    /* Output-only fields are dropped, unsupported ones never written. */
    assert_null(strstr(first, "\"Events\""));
    assert_null(strstr(first, "\"CgroupParent\""));
    assert_null(strstr(first, "\"HostVolumes\""));
    assert_non_null(strstr(first, "\"ReservableCpuCores\":[0,1,2,3]"));

    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *again = NULL;
    int rc = cv_node_parse(first, strlen(first), &again, &errs);
    if (rc != 0) {
        cv_test_print_errors(&errs);
    }
    cv_errlist_free(&errs);
    assert_int_equal(rc, 0);
    assert_true(cv_node_equal(n, again));
    char *second = cv_node_to_json(again, false);
    assert_string_equal(first, second);

    cv_free(first);
    cv_free(second);
    cv_node_free(again);
    cv_node_free(n);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct cv_node *n = parse_ok(NOMAD_NODE);
    struct cv_node *c = cv_node_copy(n);
    assert_true(cv_node_equal(n, c));
    assert_ptr_not_equal(c->name, n->name);
    assert_ptr_not_equal(c->node_resources, n->node_resources);
    assert_ptr_not_equal(c->node_resources->networks.items, n->node_resources->networks.items);
    assert_ptr_not_equal(c->drivers.items, n->drivers.items);
    assert_ptr_not_equal(c->drivers.items[1].key, n->drivers.items[1].key);
    assert_ptr_not_equal(c->node_resources->cpu.reservable_cpu_cores,
                         n->node_resources->cpu.reservable_cpu_cores);

    /* Changing the copy leaves the original alone. */
    cv_set_string(&c->drivers.items[1].health_description, "Unhealthy");
    assert_false(cv_node_equal(n, c));
    assert_string_equal(n->drivers.items[1].health_description, "Healthy");
    cv_set_string(&c->drivers.items[1].health_description, "Healthy");
    assert_true(cv_node_equal(n, c));
    c->node_resources->networks.items[0].mbits = 10;
    assert_false(cv_node_equal(n, c));
    assert_i64_equal(n->node_resources->networks.items[0].mbits, 1000);

    cv_node_free(c);
    cv_node_free(n);
}

static void test_required_and_ids(void **state)
{
    (void)state;
    EXPECT_ERRORS("{}", "ID: is required", "Datacenter: is required", "Name: is required");
    EXPECT_ERRORS(
        "{'ID': 'F7476465-4D6E-C0DE-26D0-E383C49BE941', 'Datacenter': 'dc1',"
        " 'Name': 'c'}",
        "ID: must be a UUID (8-4-4-4-12 lowercase hex digits), got "
        "\"F7476465-4D6E-C0DE-26D0-E383C49BE941\"");
}

static void test_vocabularies(void **state)
{
    (void)state;
    EXPECT_ERRORS("{'ID': '" NODE_ID
                  "', 'Datacenter': 'dc1', 'Name': 'c', 'Status': 'running',"
                  " 'SchedulingEligibility': 'maybe'}",
                  "SchedulingEligibility: must be one of eligible, ineligible; got \"maybe\"",
                  "Status: must be one of initializing, ready, down, disconnected; got "
                  "\"running\"");
    /* Every status of the vocabulary passes. */
    const char *statuses[] = {"initializing", "ready", "down", "disconnected"};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{'ID': '" NODE_ID "', 'Datacenter': 'd', 'Name': 'c', 'Status': '%s'}",
                 statuses[i]);
        struct cv_node *n = parse_ok(text);
        assert_string_equal(n->status, statuses[i]);
        cv_node_free(n);
    }
}

static void test_resources_and_ports(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{'ID': '" NODE_ID
        "', 'Datacenter': 'dc1', 'Name': 'c', 'NodeMaxAllocs': -1,"
        " 'NodeResources': {'Cpu': {'CpuShares': -1, 'ReservableCpuCores': [0, -1]},"
        "  'Memory': {'MemoryMB': -5}, 'Disk': {'DiskMB': -6},"
        "  'Networks': [{'MBits': -1, 'ReservedPorts': [{'Label': 'ssh', 'Value': 70000,"
        "   'To': -2}]}],"
        "  'MinDynamicPort': 70000, 'MaxDynamicPort': -3},"
        " 'ReservedResources': {'Cpu': {'CpuShares': -7}, 'Memory': {'MemoryMB': -8},"
        "  'Disk': {'DiskMB': -9}, 'Networks': {'ReservedHostPorts': '22,abc'}}}",
        "NodeMaxAllocs: must not be negative, got -1",
        "NodeResources.Cpu.CpuShares: must not be negative, got -1",
        "NodeResources.Cpu.ReservableCpuCores: must be an array of core numbers (0 to 65535)",
        "NodeResources.Memory.MemoryMB: must not be negative, got -5",
        "NodeResources.Disk.DiskMB: must not be negative, got -6",
        "NodeResources.Networks[0].MBits: must not be negative, got -1",
        "NodeResources.Networks[0].ReservedPorts[0].Value: must be between 0 and 65535, got 70000",
        "NodeResources.Networks[0].ReservedPorts[0].To: must be between -1 and 65535, got -2",
        "NodeResources.MinDynamicPort: must be between 1 and 65535, got 70000",
        "NodeResources.MaxDynamicPort: must be between 1 and 65535, got -3",
        "ReservedResources.Cpu.CpuShares: must not be negative, got -7",
        "ReservedResources.Memory.MemoryMB: must not be negative, got -8",
        "ReservedResources.Disk.DiskMB: must not be negative, got -9",
        "ReservedResources.Networks.ReservedHostPorts: must be a list of ports and ranges within "
        "0-65535 (\"22,8000-8100\"), got \"22,abc\"");
    EXPECT_ERRORS("{'ID': '" NODE_ID
                  "', 'Datacenter': 'dc1', 'Name': 'c',"
                  " 'NodeResources': {'MinDynamicPort': 30000, 'MaxDynamicPort': 20000}}",
                  "NodeResources.MinDynamicPort: must not be greater than MaxDynamicPort "
                  "(20000), got 30000");
    /* Port range lists Nomad accepts, and some it does not. */
    const char *good[] = {"", "22", "22, 80", "8000-8100,22", "0-65535"};
    const char *bad[] = {"22,", "-5", "100-50", "65536", "1-2-3", "a"};
    char text[512];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(text, sizeof text,
                 "{'ID': '" NODE_ID
                 "', 'Datacenter': 'd', 'Name': 'c',"
                 " 'ReservedResources': {'Networks': {'ReservedHostPorts': '%s'}}}",
                 good[i]);
        cv_node_free(parse_ok(text));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text,
                 "{'ID': '" NODE_ID
                 "', 'Datacenter': 'd', 'Name': 'c',"
                 " 'ReservedResources': {'Networks': {'ReservedHostPorts': '%s'}}}",
                 bad[i]);
        char *json = cv_test_quotes(text);
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        struct cv_node *n = NULL;
        assert_int_equal(cv_node_parse(json, strlen(json), &n, &errs), CV_EVALIDATE);
        assert_int_equal(errs.len, 1);
        assert_string_equal(errs.items[0].path, "ReservedResources.Networks.ReservedHostPorts");
        cv_errlist_free(&errs);
        cv_free(json);
    }
}

static void test_times(void **state)
{
    (void)state;
    EXPECT_ERRORS(
        "{'ID': '" NODE_ID
        "', 'Datacenter': 'dc1', 'Name': 'c',"
        " 'DrainStrategy': {'ForceDeadline': 'tomorrow', 'StartedAt': '2024-13-01T00:00:00Z'},"
        " 'Drivers': {'exec': {'UpdateTime': '2024-05-31 16:08:37'}}}",
        "DrainStrategy.ForceDeadline: must be an RFC 3339 time, got \"tomorrow\"",
        "DrainStrategy.StartedAt: must be an RFC 3339 time, got \"2024-13-01T00:00:00Z\"",
        "Drivers.exec.UpdateTime: must be an RFC 3339 time, got \"2024-05-31 16:08:37\"");
}

static void test_wrong_types(void **state)
{
    (void)state;
    EXPECT_ERRORS("{'ID': '" NODE_ID
                  "', 'Datacenter': 'dc1', 'Name': 5, 'TLSEnabled': 'yes',"
                  " 'Attributes': {'a': 1}, 'NodeResources': {'Cpu': {'TotalCpuCores': 70000},"
                  "  'Memory': []}, 'Drivers': [], 'CreateIndex': -1, 'StatusUpdatedAt': 1.5}",
                  "Name: must be a string, got number", "TLSEnabled: must be a boolean, got string",
                  "Attributes.a: must be a string, got number",
                  "NodeResources.Cpu.TotalCpuCores: 70000 is out of range (0 to 65535)",
                  "NodeResources.Memory: must be an object, got array",
                  "Drivers: must be an object, got array",
                  "CreateIndex: -1 is out of range (0 to 18446744073709551615)",
                  /* no "Name: is required" too: the decoding error said it */
                  "StatusUpdatedAt: must be an integer, got 1.5");
}

static void test_unknown_and_unsupported(void **state)
{
    (void)state;
    EXPECT_ERRORS("{'ID': '" NODE_ID
                  "', 'Datacenter': 'dc1', 'Name': 'c', 'name': 'x', 'Colour': 'red',"
                  " 'HostVolumes': {'data': {'Path': '/srv', 'ReadOnly': false}},"
                  " 'GCVolumesOnNodeGC': true,"
                  " 'NodeResources': {'Devices': [{'Name': 'gpu'}], 'Cpu': {'Shares': 1}}}",
                  "name: unknown field (did you mean \"Name\"?)", "Colour: unknown field in Node",
                  "HostVolumes: not supported by Caravan",
                  "GCVolumesOnNodeGC: not supported by Caravan",
                  "NodeResources.Devices: not supported by Caravan",
                  "NodeResources.Cpu.Shares: unknown field in NodeCpuResources");
}

static void test_not_an_object(void **state)
{
    (void)state;
    struct cv_errlist errs;
    cv_errlist_init(&errs);
    struct cv_node *n = NULL;
    assert_int_equal(cv_node_parse("[]", 2, &n, &errs), CV_EVALIDATE);
    assert_null(n);
    assert_int_equal(errs.len, 1);
    assert_string_equal(errs.items[0].msg, "a node must be a JSON object, got array");
    cv_errlist_free(&errs);

    cv_errlist_init(&errs);
    assert_int_equal(cv_node_parse("{", 1, &n, &errs), CV_EPARSE);
    assert_int_equal(errs.len, 1);
    cv_errlist_free(&errs);
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(cv_uuid_valid(NODE_ID));
    assert_true(cv_uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(cv_uuid_valid(""));
    assert_false(cv_uuid_valid("f7476465-4d6e-c0de-26d0-e383c49be94"));   /* short */
    assert_false(cv_uuid_valid("f7476465-4d6e-c0de-26d0-e383c49be9411")); /* long */
    assert_false(cv_uuid_valid("f7476465-4d6e-c0de-26d0-e383c49bE941"));  /* upper */
    assert_false(cv_uuid_valid("f7476465-4d6e-c0de-26d0e-383c49be941"));  /* dash moved */
    assert_false(cv_uuid_valid("g7476465-4d6e-c0de-26d0-e383c49be941"));
}

static void test_rfc3339_valid(void **state)
{
    (void)state;
    assert_true(cv_rfc3339_valid("0001-01-01T00:00:00Z")); /* Go's zero time */
    assert_true(cv_rfc3339_valid("2024-02-29T23:59:59.999999999Z"));
    assert_true(cv_rfc3339_valid("2024-05-31T16:08:37-07:00"));
    assert_true(cv_rfc3339_valid("2016-12-31T23:59:60Z"));
    assert_false(cv_rfc3339_valid(""));
    assert_false(cv_rfc3339_valid("2023-02-29T00:00:00Z")); /* not a leap year */
    assert_false(cv_rfc3339_valid("2024-05-31T16:08:37"));  /* no offset */
    assert_false(cv_rfc3339_valid("2024-05-31T24:00:00Z"));
    assert_false(cv_rfc3339_valid("2024-05-31T16:08:37.Z"));
    assert_false(cv_rfc3339_valid("2024-05-31T16:08:37Z "));
    assert_false(cv_rfc3339_valid("2024-5-31T16:08:37Z"));
    assert_false(cv_rfc3339_valid("2024-05-31T16:08:37+0200"));
}

#define CLASS_NODE                                                        \
    "{'ID': '%s', 'Datacenter': 'dc1', 'Name': '%s', 'NodeClass': 'web'," \
    " 'Attributes': {%s}, 'Meta': {'rack': 'r1'},"                        \
    " 'Drivers': {'mock': {'Detected': true, 'Healthy': true}}}"

/* One class per kind of node: map order and unique values do not matter;
 * what placement can tell apart does. */
static void test_computed_class(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, CLASS_NODE, "10000000-0000-4000-8000-000000000001", "a",
             "'kernel.name': 'linux', 'unique.hostname': 'a'");
    struct cv_node *a = parse_ok(text);
    snprintf(text, sizeof text, CLASS_NODE, "10000000-0000-4000-8000-000000000002", "b",
             "'unique.hostname': 'b', 'kernel.name': 'linux'");
    struct cv_node *b = parse_ok(text);
    snprintf(text, sizeof text, CLASS_NODE, "10000000-0000-4000-8000-000000000003", "c",
             "'kernel.name': 'darwin'");
    struct cv_node *c = parse_ok(text);
    cv_node_compute_class(a);
    cv_node_compute_class(b);
    cv_node_compute_class(c);
    assert_int_equal(strlen(a->computed_class), 19);
    assert_memory_equal(a->computed_class, "v1:", 3);
    assert_string_equal(a->computed_class, b->computed_class);
    assert_string_not_equal(a->computed_class, c->computed_class);
    /* An unhealthy driver is not one placement can use. */
    b->drivers.items[0].healthy = false;
    cv_node_compute_class(b);
    assert_string_not_equal(a->computed_class, b->computed_class);
    cv_node_free(a);
    cv_node_free(b);
    cv_node_free(c);
    /* No attributes, meta or drivers at all. */
    struct cv_node *bare = parse_ok(
        "{'ID': '10000000-0000-4000-8000-000000000004', 'Datacenter': 'dc1', 'Name': 'd'}");
    cv_node_compute_class(bare);
    assert_int_equal(strlen(bare->computed_class), 19);
    cv_node_free(bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CV_TEST(test_decode_nomad_node),   CV_TEST(test_defaults),
        CV_TEST(test_round_trip),          CV_TEST(test_copy_is_deep),
        CV_TEST(test_required_and_ids),    CV_TEST(test_vocabularies),
        CV_TEST(test_resources_and_ports), CV_TEST(test_times),
        CV_TEST(test_wrong_types),         CV_TEST(test_unknown_and_unsupported),
        CV_TEST(test_not_an_object),       CV_TEST(test_uuid_valid),
        CV_TEST(test_rfc3339_valid),       CV_TEST(test_computed_class),
    };
    return cmocka_run_group_tests_name("node", tests, NULL, NULL);
}
