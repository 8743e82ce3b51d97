/*
 * fingerprint: the machine as a Nomad Node (fingerprint.h).
 *
 * The node is written as JSON with cv_jgen and read back through
 * cv_node_parse, so what the agent sends went through the same decoder and
 * validation the servers apply: a fingerprint the servers would refuse
 * fails here, at start, with the field's path.
 */
#include "nodeagent/fingerprint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/mem.h"

#define FALLBACK_MHZ_PER_CORE 1000

/* ---- identity ----------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int make_dir(const char *path, struct cv_err *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        return cv_err_setf(err, CV_EINVAL, "data_dir: path too long");
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return cv_err_setf(err, CV_EIO, "mkdir %s: %s", buf, strerror(errno));
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        return cv_err_setf(err, CV_EIO, "mkdir %s: %s", buf, strerror(errno));
    }
    return 0;
}

static int read_identity(const char *path, char *id, char *secret, struct cv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return errno == ENOENT ? CV_ENOTFOUND
                               : cv_err_setf(err, CV_EIO, "%s: %s", path, strerror(errno));
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct cv_json_doc *doc = NULL;
    struct cv_err perr = {0};
    if (cv_json_parse(buf, n, NULL, &doc, &perr) != 0) {
        return cv_err_setf(err, CV_EPARSE, "%s: %s", path, perr.msg);
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    const struct cv_json *vid = cv_json_object_get(root, "ID");
    const struct cv_json *vsec = cv_json_object_get(root, "SecretID");
    int rc = 0;
    if (!vid || vid->type != CV_JSON_STRING || !cv_uuid_valid(vid->u.string.ptr)) {
        rc = cv_err_setf(err, CV_EPARSE, "%s: ID: must be a UUID", path);
    } else if (!vsec || vsec->type != CV_JSON_STRING || !cv_uuid_valid(vsec->u.string.ptr)) {
        rc = cv_err_setf(err, CV_EPARSE, "%s: SecretID: must be a UUID", path);
    } else {
        memcpy(id, vid->u.string.ptr, CV_UUID_LEN + 1);
        memcpy(secret, vsec->u.string.ptr, CV_UUID_LEN + 1);
    }
    cv_json_doc_free(doc);
    return rc;
}

int agent_node_identity(const char *data_dir, char id[CV_UUID_LEN + 1],
                        char secret[CV_UUID_LEN + 1], struct cv_err *err)
{
    int rc = make_dir(data_dir, err);
    if (rc != 0) {
        return rc;
    }
    char path[PATH_MAX];
    char tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s", data_dir, AGENT_NODE_ID_FILE);
    rc = read_identity(path, id, secret, err);
    if (rc != CV_ENOTFOUND) {
        return rc;
    }
    cv_uuid_generate(id);
    cv_uuid_generate(secret);
    char text[128];
    int len = snprintf(text, sizeof text, "{\"ID\": \"%s\", \"SecretID\": \"%s\"}\n", id, secret);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return cv_err_setf(err, CV_EIO, "%s: %s", tmp, strerror(errno));
    }
    bool ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0 || fsync_dir(data_dir) != 0) {
        unlink(tmp);
        return cv_err_setf(err, CV_EIO, "cannot write %s: %s", path, strerror(ok ? errno : saved));
    }
    return 0;
}

/* ---- the machine -------------------------------------------------------------- */

struct machine
{
    int64_t cores;
    int64_t mhz; /* per core */
    int64_t mem_bytes;
    int64_t disk_total;
    int64_t disk_free;
    struct utsname uts;
    char os_name[64];
};

static void read_cpu(struct machine *m)
{
    m->cores = 0;
    double mhz = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        for (int lines = 0; lines < 1000000 && fgets(line, sizeof line, f); lines++) {
            double v = 0;
            if (strncmp(line, "processor", 9) == 0) {
                m->cores++;
            } else if (mhz == 0 && sscanf(line, "cpu MHz : %lf", &v) == 1 && v > 0) {
                mhz = v;
            }
        }
        fclose(f);
    }
    if (m->cores <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        m->cores = n > 0 ? n : 1;
    }
    if (mhz <= 0) {
        /* ARM and some VMs do not say in cpuinfo: try cpufreq (kHz). */
        f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
        long long khz = 0;
        if (f) {
            if (fscanf(f, "%lld", &khz) != 1) {
                khz = 0;
            }
            fclose(f);
        }
        mhz = khz > 0 ? (double)khz / 1000.0 : FALLBACK_MHZ_PER_CORE;
    }
    m->mhz = (int64_t)mhz;
}

static void read_memory(struct machine *m)
{
    m->mem_bytes = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        for (int lines = 0; lines < 10000 && fgets(line, sizeof line, f); lines++) {
            long long kb = 0;
            if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) {
                m->mem_bytes = kb * 1024;
                break;
            }
        }
        fclose(f);
    }
    if (m->mem_bytes <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES);
        long page = sysconf(_SC_PAGESIZE);
        m->mem_bytes = pages > 0 && page > 0 ? (int64_t)pages * page : (int64_t)1 << 30;
    }
}

static void read_os_name(struct machine *m)
{
    size_t n = strnlen(m->uts.sysname, sizeof m->os_name - 1);
    memcpy(m->os_name, m->uts.sysname, n);
    m->os_name[n] = '\0';
    FILE *f = fopen("/etc/os-release", "r");
    if (!f) {
        return;
    }
    char line[256];
    for (int lines = 0; lines < 1000 && fgets(line, sizeof line, f); lines++) {
        if (strncmp(line, "ID=", 3) == 0) {
            char *v = line + 3;
            v[strcspn(v, "\r\n")] = '\0';
            if (*v == '"') {
                v++;
                v[strcspn(v, "\"")] = '\0';
            }
            if (*v) {
                n = strnlen(v, sizeof m->os_name - 1);
                memcpy(m->os_name, v, n);
                m->os_name[n] = '\0';
            }
            break;
        }
    }
    fclose(f);
}

static int read_machine(const char *data_dir, struct machine *m, struct cv_err *err)
{
    memset(m, 0, sizeof *m);
    if (uname(&m->uts) != 0) {
        snprintf(m->uts.sysname, sizeof m->uts.sysname, "Linux");
        snprintf(m->uts.release, sizeof m->uts.release, "unknown");
        snprintf(m->uts.machine, sizeof m->uts.machine, "unknown");
        snprintf(m->uts.nodename, sizeof m->uts.nodename, "localhost");
    }
    read_cpu(m);
    read_memory(m);
    read_os_name(m);
    struct statvfs vfs;
    if (statvfs(data_dir, &vfs) != 0) {
        return cv_err_setf(err, CV_EIO, "statvfs %s: %s", data_dir, strerror(errno));
    }
    m->disk_total = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
    m->disk_free = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    return 0;
}

/* Go's runtime.GOARCH for the kernel's machine name, as Nomad reports. */
static const char *go_arch(const char *machine)
{
    if (strcmp(machine, "x86_64") == 0) {
        return "amd64";
    }
    if (strcmp(machine, "aarch64") == 0) {
        return "arm64";
    }
    if (machine[0] == 'i' && strcmp(machine + 2, "86") == 0) {
        return "386";
    }
    return machine;
}

static void lowercase(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

static void attr(struct cv_jgen *g, const char *k, const char *v)
{
    cv_jgen_key(g, k);
    cv_jgen_string(g, v);
}

static void attr_int(struct cv_jgen *g, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    attr(g, k, buf);
}

static void driver_info(struct cv_jgen *g, const char *name, const char *now)
{
    cv_jgen_key(g, name);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Detected");
    cv_jgen_bool(g, true);
    cv_jgen_key(g, "Healthy");
    cv_jgen_bool(g, true);
    attr(g, "HealthDescription", "Healthy");
    attr(g, "UpdateTime", now);
    cv_jgen_object_end(g);
}

static void write_node(struct cv_jgen *g, const struct agent_config *cfg, const struct machine *m,
                       const char *id, const char *secret, const char *now)
{
    char kernel[sizeof m->uts.sysname];
    memcpy(kernel, m->uts.sysname, sizeof kernel);
    kernel[sizeof kernel - 1] = '\0';
    lowercase(kernel);
    cv_jgen_object_begin(g);
    attr(g, "ID", id);
    attr(g, "SecretID", secret);
    attr(g, "Datacenter", cfg->datacenter);
    attr(g, "Name", cfg->name);
    attr(g, "NodeClass", cfg->node_class);
    attr(g, "NodePool", cfg->node_pool);
    attr(g, "Status", CV_NODE_STATUS_READY);
    cv_jgen_key(g, "Attributes");
    cv_jgen_object_begin(g);
    attr(g, "kernel.name", kernel);
    attr(g, "kernel.version", m->uts.release);
    attr(g, "os.name", m->os_name);
    attr(g, "cpu.arch", go_arch(m->uts.machine));
    attr(g, "unique.hostname", m->uts.nodename);
    attr_int(g, "cpu.numcores", m->cores);
    attr_int(g, "cpu.frequency", m->mhz);
    attr_int(g, "cpu.totalcompute", m->mhz * m->cores);
    attr_int(g, "memory.totalbytes", m->mem_bytes);
    attr_int(g, "unique.storage.bytestotal", m->disk_total);
    attr_int(g, "unique.storage.bytesfree", m->disk_free);
    attr(g, "caravan.version", CARAVAN_VERSION);
    if (cfg->raw_exec) {
        attr(g, "driver.raw_exec", "1");
    }
    if (cfg->mock) {
        attr(g, "driver.mock", "1");
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Meta");
    cv_jgen_object_begin(g);
    for (size_t i = 0; i < cfg->meta.len; i++) {
        attr(g, cfg->meta.items[i].key, cfg->meta.items[i].value);
    }
    cv_jgen_object_end(g);
    cv_jgen_key(g, "NodeResources");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Cpu");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "CpuShares");
    cv_jgen_int(g, m->mhz * m->cores);
    cv_jgen_key(g, "TotalCpuCores");
    cv_jgen_int(g, m->cores > UINT16_MAX ? UINT16_MAX : m->cores);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Memory");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "MemoryMB");
    cv_jgen_int(g, m->mem_bytes / (1024 * 1024));
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Disk");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "DiskMB");
    cv_jgen_int(g, m->disk_free / (1024 * 1024));
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "ReservedResources");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "Cpu");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "CpuShares");
    cv_jgen_int(g, cfg->reserved_cpu);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Memory");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "MemoryMB");
    cv_jgen_int(g, cfg->reserved_memory_mb);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Disk");
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "DiskMB");
    cv_jgen_int(g, cfg->reserved_disk_mb);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Networks");
    cv_jgen_object_begin(g);
    attr(g, "ReservedHostPorts", cfg->reserved_ports);
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "Drivers");
    cv_jgen_object_begin(g);
    if (cfg->mock) {
        driver_info(g, "mock", now);
    }
    if (cfg->raw_exec) {
        driver_info(g, "raw_exec", now);
    }
    cv_jgen_object_end(g);
    cv_jgen_object_end(g);
}

int agent_fingerprint(const struct agent_config *cfg, const struct cv_clock *clock,
                      struct cv_node **out, struct cv_err *err)
{
    *out = NULL;
    char id[CV_UUID_LEN + 1];
    char secret[CV_UUID_LEN + 1];
    int rc = agent_node_identity(cfg->data_dir, id, secret, err);
    if (rc != 0) {
        return rc;
    }
    struct machine m;
    if ((rc = read_machine(cfg->data_dir, &m, err)) != 0) {
        return rc;
    }
    int64_t wall = cv_clock_wall_ns(clock ? clock : cv_clock_system());
    time_t secs = (time_t)(wall / CV_NSEC_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char now[40];
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);

    struct cv_jgen *g = cv_jgen_new(false);
    write_node(g, cfg, &m, id, secret, now);
    const char *text = NULL;
    size_t len = 0;
    rc = cv_jgen_finish(g, &text, &len, err);
    if (rc == 0) {
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        rc = cv_node_parse(text, len, out, &errs);
        if (rc != 0) {
            char msg[CV_ERR_MSG_MAX];
            cv_errlist_format(&errs, 0, msg, sizeof msg);
            rc = cv_err_setf(err, rc, "fingerprint: %s", msg);
        }
        cv_errlist_free(&errs);
    }
    cv_jgen_free(g);
    return rc;
}
