/*
 * node: Nomad's Node on the codec engine: field tables, defaults,
 * validation, and the UUID / RFC 3339 / vocabulary checks the allocation
 * and evaluation modules share.
 *
 * Validation covers what the servers rely on when they schedule onto a
 * node: a UUID for ID, a datacenter and a name, statuses from Nomad's
 * vocabularies, non-negative resources and ports within 0..65535. It does
 * not check attributes or driver details, which are the client's business.
 */
#include "common/node.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/model.h"

/* ---- field tables ---------------------------------------------------------- */

static const struct cv_field node_cpu_fields[] = {
    F_INT("CpuShares", struct cv_node_cpu, cpu_shares),
    F_INT_RANGE("TotalCpuCores", struct cv_node_cpu, total_cpu_cores, 0, UINT16_MAX),
    F_JSON("ReservableCpuCores", struct cv_node_cpu, reservable_cpu_cores),
};
static const struct cv_schema node_cpu_schema =
    CV_SCHEMA("NodeCpuResources", struct cv_node_cpu, NULL, node_cpu_fields);

static const struct cv_field reserved_cpu_fields[] = {
    F_INT("CpuShares", struct cv_node_reserved_cpu, cpu_shares),
};
static const struct cv_schema reserved_cpu_schema =
    CV_SCHEMA("NodeReservedCpuResources", struct cv_node_reserved_cpu, NULL, reserved_cpu_fields);

static const struct cv_field node_memory_fields[] = {
    F_INT("MemoryMB", struct cv_node_memory, memory_mb),
};
static const struct cv_schema node_memory_schema =
    CV_SCHEMA("NodeMemoryResources", struct cv_node_memory, NULL, node_memory_fields);

static const struct cv_field node_disk_fields[] = {
    F_INT("DiskMB", struct cv_node_disk, disk_mb),
};
static const struct cv_schema node_disk_schema =
    CV_SCHEMA("NodeDiskResources", struct cv_node_disk, NULL, node_disk_fields);

static const struct cv_field node_resources_fields[] = {
    F_STRUCT("Cpu", struct cv_node_resources, cpu, &node_cpu_schema),
    F_STRUCT("Memory", struct cv_node_resources, memory, &node_memory_schema),
    F_STRUCT("Disk", struct cv_node_resources, disk, &node_disk_schema),
    F_ARRAY("Networks", struct cv_node_resources, networks, &cv_network_resource_schema),
    F_UNSUPPORTED("Devices"),
    F_INT("MinDynamicPort", struct cv_node_resources, min_dynamic_port),
    F_INT("MaxDynamicPort", struct cv_node_resources, max_dynamic_port),
};
static const struct cv_schema node_resources_schema =
    CV_SCHEMA("NodeResources", struct cv_node_resources, NULL, node_resources_fields);

static const struct cv_field reserved_networks_fields[] = {
    F_STRING("ReservedHostPorts", struct cv_node_reserved_networks, reserved_host_ports),
};
static const struct cv_schema reserved_networks_schema =
    CV_SCHEMA("NodeReservedNetworkResources", struct cv_node_reserved_networks, NULL,
              reserved_networks_fields);

static const struct cv_field reserved_resources_fields[] = {
    F_STRUCT("Cpu", struct cv_node_reserved_resources, cpu, &reserved_cpu_schema),
    F_STRUCT("Memory", struct cv_node_reserved_resources, memory, &node_memory_schema),
    F_STRUCT("Disk", struct cv_node_reserved_resources, disk, &node_disk_schema),
    F_STRUCT("Networks", struct cv_node_reserved_resources, networks, &reserved_networks_schema),
};
static const struct cv_schema reserved_resources_schema = CV_SCHEMA(
    "NodeReservedResources", struct cv_node_reserved_resources, NULL, reserved_resources_fields);

/* DrainSpec is embedded anonymously in Go, so its fields sit at this level. */
static const struct cv_field drain_strategy_fields[] = {
    F_INT("Deadline", struct cv_drain_strategy, deadline),
    F_BOOL("IgnoreSystemJobs", struct cv_drain_strategy, ignore_system_jobs),
    F_STRING("ForceDeadline", struct cv_drain_strategy, force_deadline),
    F_STRING("StartedAt", struct cv_drain_strategy, started_at),
};
static const struct cv_schema drain_strategy_schema =
    CV_SCHEMA("DrainStrategy", struct cv_drain_strategy, NULL, drain_strategy_fields);

static const struct cv_field driver_info_fields[] = {
    F_STRMAP("Attributes", struct cv_driver_info, attributes),
    F_BOOL("Detected", struct cv_driver_info, detected),
    F_BOOL("Healthy", struct cv_driver_info, healthy),
    F_STRING("HealthDescription", struct cv_driver_info, health_description),
    F_STRING("UpdateTime", struct cv_driver_info, update_time),
};
static const struct cv_schema driver_info_schema =
    CV_SCHEMA("DriverInfo", struct cv_driver_info, NULL, driver_info_fields);

static const struct cv_field node_fields[] = {
    F_STRING("ID", struct cv_node, id),
    F_STRING("SecretID", struct cv_node, secret_id),
    F_STRING("Datacenter", struct cv_node, datacenter),
    F_STRING("Name", struct cv_node, name),
    F_STRING("HTTPAddr", struct cv_node, http_addr),
    F_BOOL("TLSEnabled", struct cv_node, tls_enabled),
    F_STRMAP("Attributes", struct cv_node, attributes),
    F_STRUCT_PTR("NodeResources", struct cv_node, node_resources, &node_resources_schema),
    F_STRUCT_PTR("ReservedResources", struct cv_node, reserved_resources,
                 &reserved_resources_schema),
    F_STRMAP("Links", struct cv_node, links),
    F_STRMAP("Meta", struct cv_node, meta),
    F_STRING("NodeClass", struct cv_node, node_class),
    F_STRING("NodePool", struct cv_node, node_pool),
    F_STRING("ComputedClass", struct cv_node, computed_class),
    F_BOOL("Drain", struct cv_node, drain),
    F_STRUCT_PTR("DrainStrategy", struct cv_node, drain_strategy, &drain_strategy_schema),
    F_STRING("SchedulingEligibility", struct cv_node, scheduling_eligibility),
    F_STRING("Status", struct cv_node, status),
    F_STRING("StatusDescription", struct cv_node, status_description),
    F_INT("StatusUpdatedAt", struct cv_node, status_updated_at),
    F_STRUCT_MAP("Drivers", struct cv_node, drivers, &driver_info_schema),
    F_INT("NodeMaxAllocs", struct cv_node, node_max_allocs),
    F_UINT("CreateIndex", struct cv_node, create_index),
    F_UINT("ModifyIndex", struct cv_node, modify_index),
    /* Written by the servers or deprecated: echoed back by clients. */
    F_IGNORED("Resources"),
    F_IGNORED("Reserved"),
    F_IGNORED("Events"),
    F_IGNORED("LastDrain"),
    F_IGNORED("CgroupParent"),
    /* Client configuration Caravan does not schedule on yet. */
    F_UNSUPPORTED("HostVolumes"),
    F_UNSUPPORTED("HostNetworks"),
    F_UNSUPPORTED("CSIControllerPlugins"),
    F_UNSUPPORTED("CSINodePlugins"),
    F_UNSUPPORTED("GCVolumesOnNodeGC"),
};
const struct cv_schema cv_node_schema = CV_SCHEMA("Node", struct cv_node, NULL, node_fields);

/* ---- shared format checks ---------------------------------------------------- */

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool cv_uuid_valid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_lower_hex(s[i])) {
            return false;
        }
    }
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits at *p as a number and advances; -1 on mismatch. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static bool expect_char(const char **p, char c)
{
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

bool cv_rfc3339_valid(const char *s)
{
    static const int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int year = digits(&p, 4);
    if (year < 0 || !expect_char(&p, '-')) {
        return false;
    }
    int month = digits(&p, 2);
    if (month < 1 || month > 12 || !expect_char(&p, '-')) {
        return false;
    }
    int day = digits(&p, 2);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int max_day = (month == 2 && !leap) ? 28 : days_in[month - 1];
    if (day < 1 || day > max_day || (*p != 'T' && *p != 't')) {
        return false;
    }
    p++;
    int hour = digits(&p, 2);
    if (hour < 0 || hour > 23 || !expect_char(&p, ':')) {
        return false;
    }
    int minute = digits(&p, 2);
    if (minute < 0 || minute > 59 || !expect_char(&p, ':')) {
        return false;
    }
    int second = digits(&p, 2);
    if (second < 0 || second > 60) { /* 60: a leap second */
        return false;
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) {
            return false;
        }
        while (is_digit(*p)) {
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        return p[1] == '\0';
    }
    if (*p != '+' && *p != '-') {
        return false;
    }
    p++;
    int off_h = digits(&p, 2);
    if (off_h < 0 || off_h > 23 || !expect_char(&p, ':')) {
        return false;
    }
    int off_m = digits(&p, 2);
    return off_m >= 0 && off_m <= 59 && *p == '\0';
}

static void failf(struct cv_errlist *errs, const char *prefix, const char *field, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static void failf(struct cv_errlist *errs, const char *prefix, const char *field, const char *fmt,
                  ...)
{
    char path[CV_ERR_PATH_MAX];
    cv_path_join(path, prefix, field);
    va_list ap;
    va_start(ap, fmt);
    cv_errlist_vaddf(errs, path, fmt, ap);
    va_end(ap);
}

void cv_check_uuid(struct cv_errlist *errs, const char *path, const char *field, const char *value,
                   bool required)
{
    if (!value[0]) {
        if (required) {
            failf(errs, path, field, "is required");
        }
    } else if (!cv_uuid_valid(value)) {
        failf(errs, path, field, "must be a UUID (8-4-4-4-12 lowercase hex digits), got \"%.64s\"",
              value);
    }
}

void cv_check_time(struct cv_errlist *errs, const char *path, const char *field, const char *value)
{
    if (value[0] && !cv_rfc3339_valid(value)) {
        failf(errs, path, field, "must be an RFC 3339 time, got \"%.64s\"", value);
    }
}

void cv_check_vocab(struct cv_errlist *errs, const char *path, const char *field, const char *value,
                    const char *const *allowed)
{
    for (const char *const *a = allowed; *a; a++) {
        if (strcmp(value, *a) == 0) {
            return;
        }
    }
    struct cv_buf list;
    cv_buf_init(&list);
    for (const char *const *a = allowed; *a; a++) {
        cv_buf_appendf(&list, "%s%s", a == allowed ? "" : ", ", *a);
    }
    failf(errs, path, field, "must be one of %s; got \"%.64s\"", cv_buf_str(&list), value);
    cv_buf_free(&list);
}

/* ---- validation -------------------------------------------------------------- */

void cv_check_non_negative(struct cv_errlist *errs, const char *path, const char *field,
                           int64_t value)
{
    if (value < 0) {
        failf(errs, path, field, "must not be negative, got %" PRId64, value);
    }
}

static void check_port_number(struct cv_errlist *errs, const char *path, const char *field,
                              int64_t value, int64_t min)
{
    if (value < min || value > CV_PORT_MAX) {
        failf(errs, path, field, "must be between %" PRId64 " and %d, got %" PRId64, min,
              CV_PORT_MAX, value);
    }
}

static void check_ports(struct cv_errlist *errs, const char *path, const char *field,
                        const struct cv_port *ports, size_t n)
{
    char pp[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cv_path_index(pp, path, field, i);
        check_port_number(errs, pp, "Value", ports[i].value, 0);
        check_port_number(errs, pp, "To", ports[i].to, -1);
    }
}

void cv_check_networks(struct cv_errlist *errs, const char *path, const struct cv_network *nets,
                       size_t n)
{
    char np[CV_ERR_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cv_path_index(np, path, "Networks", i);
        cv_check_non_negative(errs, np, "MBits", nets[i].mbits);
        check_ports(errs, np, "ReservedPorts", nets[i].reserved_ports.items,
                    nets[i].reserved_ports.len);
        check_ports(errs, np, "DynamicPorts", nets[i].dynamic_ports.items,
                    nets[i].dynamic_ports.len);
    }
}

static void check_cores(struct cv_errlist *errs, const char *path, const struct cv_json_doc *doc)
{
    if (!doc) {
        return;
    }
    const struct cv_json *v = cv_json_doc_root(doc);
    bool ok = v->type == CV_JSON_ARRAY;
    for (size_t i = 0; ok && i < v->u.array.len; i++) {
        int64_t core;
        const struct cv_json *item = v->u.array.items[i];
        ok = item->type == CV_JSON_NUMBER && cv_json_int64(item, &core) == 0 && core >= 0 &&
             core <= UINT16_MAX;
    }
    if (!ok) {
        failf(errs, path, "ReservableCpuCores", "must be an array of core numbers (0 to %d)",
              UINT16_MAX);
    }
}

/* Nomad's ParsePortRanges: "80,443,8000-8100", spaces allowed around items. */
static bool port_ranges_valid(const char *s)
{
    const char *p = s;
    while (*p) {
        long lo = -1, hi;
        while (*p == ' ') {
            p++;
        }
        if (!is_digit(*p)) {
            return false;
        }
        for (lo = 0; is_digit(*p) && lo <= CV_PORT_MAX; p++) {
            lo = lo * 10 + (*p - '0');
        }
        hi = lo;
        if (*p == '-') {
            p++;
            if (!is_digit(*p)) {
                return false;
            }
            for (hi = 0; is_digit(*p) && hi <= CV_PORT_MAX; p++) {
                hi = hi * 10 + (*p - '0');
            }
        }
        while (*p == ' ') {
            p++;
        }
        if (lo > CV_PORT_MAX || hi > CV_PORT_MAX || hi < lo || (*p && *p != ',')) {
            return false;
        }
        if (*p == ',') {
            p++;
            if (!*p) {
                return false;
            }
        }
    }
    return true;
}

static void check_resources(struct cv_errlist *errs, const struct cv_node_resources *r)
{
    const char *path = "NodeResources";
    char sub[CV_ERR_PATH_MAX];
    cv_path_join(sub, path, "Cpu");
    cv_check_non_negative(errs, sub, "CpuShares", r->cpu.cpu_shares);
    check_cores(errs, sub, r->cpu.reservable_cpu_cores);
    cv_path_join(sub, path, "Memory");
    cv_check_non_negative(errs, sub, "MemoryMB", r->memory.memory_mb);
    cv_path_join(sub, path, "Disk");
    cv_check_non_negative(errs, sub, "DiskMB", r->disk.disk_mb);
    cv_check_networks(errs, path, r->networks.items, r->networks.len);
    if (r->min_dynamic_port != 0) {
        check_port_number(errs, path, "MinDynamicPort", r->min_dynamic_port, 1);
    }
    if (r->max_dynamic_port != 0) {
        check_port_number(errs, path, "MaxDynamicPort", r->max_dynamic_port, 1);
    }
    if (r->min_dynamic_port > 0 && r->max_dynamic_port > 0 &&
        r->min_dynamic_port > r->max_dynamic_port) {
        failf(errs, path, "MinDynamicPort",
              "must not be greater than MaxDynamicPort (%" PRId64 "), got %" PRId64,
              r->max_dynamic_port, r->min_dynamic_port);
    }
}

static void check_reserved(struct cv_errlist *errs, const struct cv_node_reserved_resources *r)
{
    const char *path = "ReservedResources";
    cv_check_non_negative(errs, "ReservedResources.Cpu", "CpuShares", r->cpu.cpu_shares);
    cv_check_non_negative(errs, "ReservedResources.Memory", "MemoryMB", r->memory.memory_mb);
    cv_check_non_negative(errs, "ReservedResources.Disk", "DiskMB", r->disk.disk_mb);
    if (!port_ranges_valid(r->networks.reserved_host_ports)) {
        char sub[CV_ERR_PATH_MAX];
        cv_path_join(sub, path, "Networks");
        failf(errs, sub, "ReservedHostPorts",
              "must be a list of ports and ranges within 0-65535 (\"22,8000-8100\"), got "
              "\"%.64s\"",
              r->networks.reserved_host_ports);
    }
}

int cv_node_validate(const struct cv_node *node, struct cv_errlist *errs)
{
    static const char *const statuses[] = {CV_NODE_STATUS_INITIALIZING, CV_NODE_STATUS_READY,
                                           CV_NODE_STATUS_DOWN, CV_NODE_STATUS_DISCONNECTED, NULL};
    static const char *const eligibilities[] = {CV_NODE_ELIGIBLE, CV_NODE_INELIGIBLE, NULL};
    size_t before = errs->len;

    cv_check_uuid(errs, "", "ID", node->id, true);
    if (!node->datacenter[0]) {
        failf(errs, "", "Datacenter", "is required");
    }
    if (!node->name[0]) {
        failf(errs, "", "Name", "is required");
    }
    cv_check_vocab(errs, "", "SchedulingEligibility", node->scheduling_eligibility, eligibilities);
    cv_check_vocab(errs, "", "Status", node->status, statuses);
    cv_check_non_negative(errs, "", "StatusUpdatedAt", node->status_updated_at);
    cv_check_non_negative(errs, "", "NodeMaxAllocs", node->node_max_allocs);
    if (node->node_resources) {
        check_resources(errs, node->node_resources);
    }
    if (node->reserved_resources) {
        check_reserved(errs, node->reserved_resources);
    }
    if (node->drain_strategy) {
        cv_check_time(errs, "DrainStrategy", "ForceDeadline", node->drain_strategy->force_deadline);
        cv_check_time(errs, "DrainStrategy", "StartedAt", node->drain_strategy->started_at);
    }
    for (size_t i = 0; i < node->drivers.len; i++) {
        const struct cv_driver_info *d = &node->drivers.items[i];
        char path[CV_ERR_PATH_MAX];
        cv_path_join(path, "Drivers", d->key);
        cv_check_time(errs, path, "UpdateTime", d->update_time);
    }
    return errs->len > before ? CV_EVALIDATE : 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void fill_string(char **field, const char *value)
{
    if (!(*field)[0]) {
        cv_set_string(field, value);
    }
}

void cv_node_canonicalize(struct cv_node *node)
{
    fill_string(&node->status, CV_NODE_STATUS_INITIALIZING);
    fill_string(&node->scheduling_eligibility, CV_NODE_ELIGIBLE);
    fill_string(&node->node_pool, CV_NODE_POOL_DEFAULT);
}

static void model_canonicalize(void *obj)
{
    cv_node_canonicalize(obj);
}

static int model_validate(const void *obj, struct cv_errlist *errs)
{
    return cv_node_validate(obj, errs);
}

static const struct cv_model node_model = {&cv_node_schema, "a node", NULL, model_canonicalize,
                                           model_validate};

struct cv_node *cv_node_new(void)
{
    return cv_model_new(&node_model);
}

int cv_node_decode(const struct cv_json *v, struct cv_node **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_decode(&node_model, v, &obj, errs);
    *out = obj;
    return rc;
}

int cv_node_parse(const char *text, size_t len, struct cv_node **out, struct cv_errlist *errs)
{
    void *obj = NULL;
    int rc = cv_model_parse(&node_model, text, len, &obj, errs);
    *out = obj;
    return rc;
}

void cv_node_encode(const struct cv_node *obj, struct cv_jgen *g)
{
    cv_encode(&cv_node_schema, obj, g);
}

char *cv_node_to_json(const struct cv_node *obj, bool pretty)
{
    return cv_model_to_json(&cv_node_schema, obj, pretty);
}

struct cv_node *cv_node_copy(const struct cv_node *obj)
{
    return cv_model_copy(&cv_node_schema, obj);
}

bool cv_node_equal(const struct cv_node *a, const struct cv_node *b)
{
    return cv_equal(&cv_node_schema, a, b);
}

void cv_node_free(struct cv_node *obj)
{
    cv_model_free(&cv_node_schema, obj);
}
