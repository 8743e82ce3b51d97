/*
 * regiond_config_check: the checks of the whole configuration
 * (rcfg_validate), the data directory (rcfg_check_data_dir, and -dev's
 * temporary one with rcfg_remove_temp_data_dir) and the probe of the ports
 * (rcfg_check_ports).
 *
 * rcfg_validate runs the pure checks first (distinct ports, servers and
 * peers against bootstrap_expect, the store), filling in what is derived
 * on the way (the server_id of a lone server, advertise, the postgres
 * schema). Only then does it touch the file system: it makes -dev's
 * temporary data directory, creates and probes the data directory, makes
 * its path absolute and opens the log file, removing the temporary
 * directory again if any of it fails. The port probe binds each port and
 * closes it at once, so that a busy one is reported before the daemon
 * starts anything; it keeps none of them.
 */
#define _DEFAULT_SOURCE /* IFF_UP and IFF_LOOPBACK in <net/if.h> */

#include "regiond/config/regiond_config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "regiond/config/regiond_config_internal.h"

#define REMOVE_MAX_DEPTH 32

/* ---- the data directory -------------------------------------------------------- */

/* mkdir -p: creates every missing component of `dir`. On failure returns
 * the errno and writes the component that failed into `failed`. */
static int mkdir_parents(const char *dir, char *failed, size_t failed_size)
{
    char buf[PATH_MAX_LEN + 1];
    size_t n = strlen(dir);
    if (n > PATH_MAX_LEN) {
        snprintf(failed, failed_size, "%.*s...", (int)(failed_size > 4 ? failed_size - 4 : 0), dir);
        return ENAMETOOLONG;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];
        buf[i] = '\0';
        /* Parents get the usual 0755; the data dir itself holds the Raft
         * log and is for this server's user only. */
        if (mkdir(buf, saved == '\0' ? 0700 : 0755) != 0 && errno != EEXIST) {
            int e = errno;
            snprintf(failed, failed_size, "%s", buf);
            return e;
        }
        buf[i] = saved;
    }
    return 0;
}

int rcfg_check_data_dir(const char *dir, struct cv_err *err)
{
    if (!dir || !*dir) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "must be a path");
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e == ENOTDIR) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                    "\"%s\": cannot create: a parent of it is a file, not a "
                                    "directory",
                                    dir);
        }
        if (e != ENOENT) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot access: %s", dir,
                                    strerror(e));
        }
        char failed[PATH_MAX_LEN + 1];
        e = mkdir_parents(dir, failed, sizeof failed);
        if (e != 0) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot create \"%s\": %s",
                                    dir, failed, strerror(e));
        }
        if (stat(dir, &st) != 0) {
            return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot access: %s", dir,
                                    strerror(errno));
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "\"%s\": not a directory", dir);
    }
    DIR *d = opendir(dir);
    if (!d) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "\"%s\": not readable: %s (it must be readable and writable by "
                                "the user regiond runs as)",
                                dir, strerror(errno));
    }
    closedir(d);
    /* access(W_OK) would not see a read-only mount or a full inode table;
     * creating a file does. */
    char probe[PATH_MAX_LEN + 32];
    snprintf(probe, sizeof probe, "%s/.regiond-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "\"%s\": not writable: %s (it must be readable and writable by "
                                "the user regiond runs as)",
                                dir, strerror(errno));
    }
    close(fd);
    unlink(probe);
    return 0;
}

/* Removes `path` and, for a directory, everything under it, without
 * following symbolic links. */
static int remove_tree(const char *path, unsigned depth)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return unlink(path) == 0 ? 0 : errno;
    }
    if (depth > REMOVE_MAX_DEPTH) {
        return ELOOP;
    }
    DIR *d = opendir(path);
    if (!d) {
        return errno;
    }
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        char child[PATH_MAX_LEN + 1];
        if (snprintf(child, sizeof child, "%s/%s", path, ent->d_name) >= (int)sizeof child) {
            rc = ENAMETOOLONG;
            break;
        }
        rc = remove_tree(child, depth + 1);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0) {
        rc = errno;
    }
    return rc;
}

int rcfg_remove_temp_data_dir(struct rcfg *c, struct cv_err *err)
{
    if (!c->data_dir_temp || !c->data_dir) {
        return 0;
    }
    int e = remove_tree(c->data_dir, 0);
    if (e != 0) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot remove: %s", c->data_dir,
                                strerror(e));
    }
    c->data_dir_temp = false;
    return 0;
}

static int make_temp_data_dir(struct rcfg *c, struct cv_err *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) {
        tmp = "/tmp";
    }
    char buf[PATH_MAX_LEN + 1];
    if (snprintf(buf, sizeof buf, "%s/regiond-dev-XXXXXX", tmp) >= (int)sizeof buf) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir", "TMPDIR is too long");
    }
    if (!mkdtemp(buf)) {
        return cv_err_set_pathf(err, CV_EIO, "data_dir",
                                "cannot create a temporary directory in \"%s\": %s", tmp,
                                strerror(errno));
    }
    rcfg__replace_string(&c->data_dir, buf);
    c->data_dir_temp = true;
    return 0;
}

/* ---- validation ---------------------------------------------------------------- */

static bool ipv4_private(uint32_t a)
{
    return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1u) || (a >> 16) == (192u << 8 | 168u) ||
           (a >> 22) == (100u << 2 | 1u); /* 100.64/10, carrier-grade NAT */
}

/* The first non-loopback, non-link-local IPv4 address of an interface that
 * is up, a private one (RFC 1918, RFC 6598) first, as Nomad does. */
static bool first_ipv4(char *out, size_t n)
{
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) != 0) {
        return false;
    }
    const struct sockaddr_in *best = NULL;
    bool best_private = false;
    for (const struct ifaddrs *ifa = all; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !(ifa->ifa_flags & IFF_UP) ||
            (ifa->ifa_flags & IFF_LOOPBACK)) {
            continue;
        }
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ifa->ifa_addr;
        uint32_t a = ntohl(sin->sin_addr.s_addr);
        if ((a >> 24) == 127 || (a >> 16) == (169u << 8 | 254u) || a == 0) {
            continue;
        }
        bool priv = ipv4_private(a);
        if (!best || (priv && !best_private)) {
            best = sin;
            best_private = priv;
        }
    }
    bool found = best && inet_ntop(AF_INET, &best->sin_addr, out, (socklen_t)n) != NULL;
    freeifaddrs(all);
    return found;
}

static int resolve_advertise(struct rcfg *c, struct cv_err *err)
{
    if (c->advertise) {
        return 0;
    }
    if (!rcfg__ip_unspecified(c->bind_addr)) {
        rcfg__replace_string(&c->advertise, c->bind_addr);
        return 0;
    }
    char addr[INET_ADDRSTRLEN];
    if (!first_ipv4(addr, sizeof addr)) {
        return cv_err_set_pathf(err, CV_EINVAL, "advertise",
                                "bind_addr is %s and this machine has no non-loopback IPv4 "
                                "address to advertise: set advertise (or -advertise)",
                                c->bind_addr);
    }
    rcfg__replace_string(&c->advertise, addr);
    return 0;
}

static bool host_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

static int check_ports_distinct(const struct rcfg *c, struct cv_err *err)
{
    if (c->ports.rpc == c->ports.http) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.rpc",
                                "%u is also ports.http: the three ports must differ", c->ports.rpc);
    }
    if (c->ports.serf == c->ports.http) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.serf",
                                "%u is also ports.http: the three ports must differ",
                                c->ports.serf);
    }
    if (c->ports.serf == c->ports.rpc) {
        return cv_err_set_pathf(err, CV_EINVAL, "ports.serf",
                                "%u is also ports.rpc: the three ports must differ", c->ports.serf);
    }
    return 0;
}

static int check_servers(struct rcfg *c, struct cv_err *err)
{
    if (c->dev) {
        if (c->bootstrap_expect != 1) {
            return cv_err_set_pathf(err, CV_EINVAL, "bootstrap_expect",
                                    "must be 1 with -dev, which runs one server, got %u",
                                    c->bootstrap_expect);
        }
        if (c->join || c->n_peers > 0) {
            return cv_err_set_pathf(err, CV_EINVAL, c->join ? "join" : "peers",
                                    "-dev runs one server on its own: remove %s",
                                    c->join ? "join" : "the peers");
        }
    }
    if (c->server_id == 0) {
        if (c->bootstrap_expect != 1 || c->join) {
            return cv_err_set_pathf(err, CV_EINVAL, "server_id",
                                    "required in a region of several servers: number them 1, 2, "
                                    "3... once, and never reuse a number (docs/config.md)");
        }
        c->server_id = 1;
    }
    if (c->join) {
        if (c->n_peers == 0) {
            return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                    "join needs at least one server of the running region to "
                                    "contact");
        }
    } else if (c->bootstrap_expect == 1 && c->n_peers > 0) {
        return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                "bootstrap_expect is 1 (a lone server), so there are no peers, "
                                "got %zu (or set join to add this server to a running region)",
                                c->n_peers);
    } else if (c->n_peers != c->bootstrap_expect - 1) {
        return cv_err_set_pathf(err, CV_EINVAL, "peers",
                                "bootstrap_expect is %u, so list the other %u servers, got %zu "
                                "(or set join to add this server to a running region)",
                                c->bootstrap_expect, c->bootstrap_expect - 1, c->n_peers);
    }
    return 0;
}

/* After advertise is known: no peer is this server or another peer. */
static int check_peers(const struct rcfg *c, struct cv_err *err)
{
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct rcfg_peer *p = &c->peers[i];
        char path[CV_ERR_PATH_MAX];
        char addr[HOST_MAX_LEN + 16];
        cv_path_index(path, "", "peers", i);
        rcfg__format_hostport(addr, sizeof addr, p->host, p->port);
        if (p->id == c->server_id) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "server id %u is this server's own server_id: list the other "
                                    "servers only",
                                    p->id);
        }
        assert(c->advertise != NULL); /* resolve_advertise ran before */
        if (p->port == c->ports.rpc && host_equal(p->host, c->advertise)) {
            return cv_err_set_pathf(err, CV_EINVAL, path,
                                    "%s is this server's own RPC address: list the other servers "
                                    "only",
                                    addr);
        }
        for (size_t j = 0; j < i; j++) {
            const struct rcfg_peer *q = &c->peers[j];
            if (q->id == p->id) {
                return cv_err_set_pathf(err, CV_EINVAL, path, "server id %u is also peers[%zu]",
                                        p->id, j);
            }
            if (q->port == p->port && host_equal(q->host, p->host)) {
                return cv_err_set_pathf(err, CV_EINVAL, path, "address %s is also peers[%zu]", addr,
                                        j);
            }
        }
    }
    return 0;
}

/* caravan_<region>_<name>, lower case, every other character an '_'. */
static void derive_schema(const struct rcfg *c, char *out, size_t n)
{
    char raw[SCHEMA_MAX_LEN * 4];
    snprintf(raw, sizeof raw, "caravan_%s_%s", c->region, c->name);
    size_t len = strlen(raw);
    if (len >= n) {
        len = n - 1;
    }
    if (len > SCHEMA_MAX_LEN) {
        len = SCHEMA_MAX_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = raw[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) {
            ch = '_';
        }
        out[i] = ch;
    }
    out[len] = '\0';
}

static int check_store(struct rcfg *c, struct cv_err *err)
{
    if (c->store.adaptor != RCFG_STORE_POSTGRES) {
        return 0;
    }
    if (!c->store.postgres.conninfo) {
        return cv_err_set_pathf(err, CV_EINVAL, "store.postgres.conninfo",
                                "required when store.adaptor is \"postgres\" (or -pg-conninfo)");
    }
    if (!c->store.postgres.schema) {
        char schema[SCHEMA_MAX_LEN + 1];
        derive_schema(c, schema, sizeof schema);
        rcfg__replace_string(&c->store.postgres.schema, schema);
    }
    if (!rcfg__schema_valid(c->store.postgres.schema)) {
        return cv_err_set_pathf(err, CV_EINVAL, "store.postgres.schema",
                                "\"%s\": use 1 to 63 characters of a-z, 0-9 and _, starting with "
                                "a letter or _ (not pg_)",
                                c->store.postgres.schema);
    }
    return 0;
}

static int check_log_file(const char *path, struct cv_err *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, "log_file", "\"%s\": cannot open for appending: %s",
                                path, strerror(errno));
    }
    close(fd);
    return 0;
}

int rcfg_validate(struct rcfg *c, struct cv_err *err)
{
    if (!c->name) {
        return cv_err_set_pathf(err, CV_EINVAL, "name",
                                "the hostname could not be read: set name (or -name)");
    }
    if (!rcfg__name_valid(c->name)) {
        return cv_err_set_pathf(err, CV_EINVAL, "name",
                                "the hostname \"%s\" is not a valid name: set name (or -name)",
                                c->name);
    }
    if (!c->data_dir && !c->dev) {
        return cv_err_set_pathf(err, CV_EINVAL, "data_dir",
                                "required: set data_dir (or -data-dir); only -dev makes a "
                                "temporary one");
    }
    int rc = check_ports_distinct(c, err);
    if (rc == 0) {
        rc = check_servers(c, err);
    }
    if (rc == 0 && c->raft.heartbeat_ms >= c->raft.election_timeout_ms) {
        rc = cv_err_set_pathf(err, CV_EINVAL, "raft.heartbeat_ms",
                              "must be less than raft.election_timeout_ms (%u), got %u",
                              c->raft.election_timeout_ms, c->raft.heartbeat_ms);
    }
    if (rc == 0) {
        rc = check_store(c, err);
    }
    if (rc == 0) {
        rc = resolve_advertise(c, err);
    }
    if (rc == 0) {
        rc = check_peers(c, err);
    }
    if (rc != 0) {
        return rc;
    }

    /* What touches the file system comes last, after every pure check. */
    bool made_temp = false;
    if (!c->data_dir) {
        rc = make_temp_data_dir(c, err);
        if (rc != 0) {
            return rc;
        }
        made_temp = true;
    }
    rc = rcfg_check_data_dir(c->data_dir, err);
    if (rc == 0) {
        char *abs = realpath(c->data_dir, NULL);
        if (!abs) {
            rc = cv_err_set_pathf(err, CV_EIO, "data_dir", "\"%s\": cannot resolve: %s",
                                  c->data_dir, strerror(errno));
        } else {
            rcfg__replace_string(&c->data_dir, abs);
            free(abs); /* realpath allocates with libc */
        }
    }
    if (rc == 0 && c->log_file) {
        rc = check_log_file(c->log_file, err);
    }
    if (rc != 0 && made_temp) {
        remove_tree(c->data_dir, 0);
        rcfg__replace_string(&c->data_dir, NULL);
        c->data_dir_temp = false;
    }
    return rc;
}

/* ---- probing the ports --------------------------------------------------------- */

static int probe_port(const struct rcfg *c, uint16_t port, int type, const char *key,
                      const char *flag, struct cv_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, c->bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, c->bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sslen = sizeof *sin6;
    } else {
        return cv_err_set_pathf(err, CV_EINVAL, "bind_addr", "must be an IP address, got \"%s\"",
                                c->bind_addr);
    }
    const char *proto = type == SOCK_DGRAM ? "UDP" : "TCP";
    char addr[INET6_ADDRSTRLEN + 16];
    rcfg__format_hostport(addr, sizeof addr, c->bind_addr, port);
    int fd = socket(ss.ss_family, type, 0);
    if (fd < 0) {
        return cv_err_set_pathf(err, CV_EIO, key, "cannot open a %s socket: %s", proto,
                                strerror(errno));
    }
    int one = 1;
    /* The daemon listens with SO_REUSEADDR, so a port in TIME_WAIT is free
     * for it; probe the same way. */
    if (type == SOCK_STREAM) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    int rc = 0;
    if (bind(fd, (const struct sockaddr *)(const void *)&ss, sslen) != 0) {
        int e = errno;
        if (e == EADDRINUSE) {
            rc = cv_err_set_pathf(err, CV_ECONFLICT, key,
                                  "%s %s is already in use (another regiond, or a Nomad agent?): "
                                  "stop it or choose another port with %s or %s",
                                  proto, addr, key, flag);
        } else if (e == EADDRNOTAVAIL) {
            rc = cv_err_set_pathf(err, CV_EINVAL, "bind_addr",
                                  "%s is not an address of this machine", c->bind_addr);
        } else if (e == EACCES) {
            rc = cv_err_set_pathf(err, CV_EIO, key,
                                  "%s %s: permission denied (ports below 1024 need privileges)",
                                  proto, addr);
        } else {
            rc = cv_err_set_pathf(err, CV_EIO, key, "cannot bind %s %s: %s", proto, addr,
                                  strerror(e));
        }
    }
    close(fd);
    return rc;
}

int rcfg_check_ports(const struct rcfg *c, struct cv_err *err)
{
    int rc = probe_port(c, c->ports.http, SOCK_STREAM, "ports.http", "-http-port", err);
    if (rc == 0) {
        rc = probe_port(c, c->ports.rpc, SOCK_STREAM, "ports.rpc", "-rpc-port", err);
    }
    if (rc == 0) {
        rc = probe_port(c, c->ports.serf, SOCK_STREAM, "ports.serf", "-serf-port", err);
    }
    if (rc == 0) {
        rc = probe_port(c, c->ports.serf, SOCK_DGRAM, "ports.serf", "-serf-port", err);
    }
    return rc;
}
