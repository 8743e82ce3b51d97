/*
 * pg_server: a real, throwaway PostgreSQL server (see pg_server.h).
 *
 * Every program is started by run_child(): fork, drop to the server's user
 * when we are root, chdir into the temporary directory (the caller's working
 * directory may be closed to that user), stdin from /dev/null, stdout and
 * stderr appended to a log file there, every other descriptor closed, exec.
 * The parent polls waitpid() until a deadline and kills the child past it,
 * so no call here blocks for long and no child is left a zombie.
 *
 * `pg_ctl start -w` returns once the postmaster reports "ready" in its pid
 * file. The postmaster is pg_ctl's child, orphaned when pg_ctl exits; so
 * that it is not left a zombie under an init that does not reap (containers),
 * the calling process makes itself a child subreaper (Linux): the orphaned
 * postmaster becomes its child and is reaped after every stop.
 *
 * The watchdog is a child in a session of its own (a terminal's ^C does not
 * reach it); its only input is EOF on a pipe whose write end this process
 * holds (close-on-exec, so no other program inherits it). pg_server_destroy
 * removes the directory, closes the pipe and reaps the watchdog, which then
 * finds nothing to do. ctest's TIMEOUT kills the test's whole process tree,
 * postmaster and watchdog included: the server dies, its directory stays.
 *
 * The port is passed on pg_ctl's command line (`-o "-p N"`) rather than
 * written into postgresql.conf, so a retry on another port after a bind
 * failure needs no editing.
 */
#define _GNU_SOURCE /* setgroups(), pipe2() */

#include "pg_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libpq-fe.h>

#include "common/clock.h"

#ifndef CARAVAN_PG_BINDIR_BUILT
#define CARAVAN_PG_BINDIR_BUILT ""
#endif

#define PG_SERVER_USER "caravan"
/* The user PostgreSQL runs as when we are root. */
#define PG_SERVER_UNPRIVILEGED "nobody"
/* Ports tried before giving up on a start. */
#define PORT_TRIES 12
/* Seconds pg_ctl waits for the server (-t), and our own bound beyond it. */
#define PG_CTL_WAIT_S   "60"
#define PG_CTL_BOUND_MS 90000
#define INITDB_BOUND_MS 180000
/* Bytes of a log's tail that go into an error message / to stderr. */
#define TAIL_MSG    300
#define TAIL_STDERR 2048
/* The longest Unix socket path is 107 bytes; ours is dir + "/.s.PGSQL.NNNNN". */
#define SOCKET_DIR_MAX 90

/* The watchdog: $1 is the directory, stdin the pipe from the test process.
 * It returns from `read` only at EOF: the test closed the pipe (after
 * destroying the server, which leaves nothing to do) or died. The postmaster
 * removes its pid file when it has shut down (`kill -0` would not do: an
 * exited postmaster can linger as a zombie). */
static const char WATCHDOG_SH[] =
    "while IFS= read -r line; do :; done\n"
    "pidfile=\"$1/data/postmaster.pid\"\n"
    "if [ -f \"$pidfile\" ] && IFS= read -r pid < \"$pidfile\"; then\n"
    "  kill -QUIT \"$pid\" 2>/dev/null\n"
    "  i=0\n"
    "  while [ -f \"$pidfile\" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n"
    "fi\n"
    "[ -d \"$1\" ] && rm -rf \"$1\"\n"
    "exit 0\n";

/* ---- small helpers --------------------------------------------------------- */

static uint64_t now_ms(void)
{
    return cv_clock_monotonic_ns(cv_clock_system()) / (uint64_t)CV_NSEC_PER_MSEC;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A port from [PG_SERVER_PORT_MIN, PG_SERVER_PORT_MAX]: the test processes
 * ctest runs in parallel, and a test's forked children, must not all pick
 * the same sequence, so the state is seeded from the clock and the pid. */
static int random_port(void)
{
    static uint64_t x;
    static pid_t seeded_for;
    if (x == 0 || seeded_for != getpid()) {
        seeded_for = getpid();
        x = cv_clock_monotonic_ns(cv_clock_system()) ^ ((uint64_t)seeded_for << 32) ^ 0x9e3779b9u;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return PG_SERVER_PORT_MIN + (int)(x % (PG_SERVER_PORT_MAX - PG_SERVER_PORT_MIN + 1));
}

/* True when nothing listens on (or holds) 127.0.0.1:port right now. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return true; /* let the server find out */
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (const struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static bool join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    return n >= 0 && (size_t)n < size;
}

/* Reads at most `max` bytes from the end of a file into out (NUL-terminated),
 * starting after a line break when it had to cut, without the final one. */
static void file_tail(const char *path, char *out, size_t max)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(out, max, "(no %s)", path);
        return;
    }
    struct stat st;
    off_t from = 0;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)(max - 1)) {
        from = st.st_size - (off_t)(max - 1);
    }
    ssize_t n = pread(fd, out, max - 1, from);
    close(fd);
    if (n <= 0) {
        snprintf(out, max, "(%s is empty)", path);
        return;
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) {
        out[--n] = '\0';
    }
    char *start = out;
    if (from > 0) {
        char *nl = strchr(out, '\n');
        if (nl != NULL && nl[1] != '\0') {
            start = nl + 1;
        }
    }
    memmove(out, start, strlen(start) + 1);
}

static void print_tail(const struct pg_server *srv, const char *log)
{
    char path[PG_SERVER_PATH_MAX + 32];
    char *tail = malloc(TAIL_STDERR);
    if (tail != NULL && join(path, sizeof path, srv->dir, log)) {
        file_tail(path, tail, TAIL_STDERR);
        fprintf(stderr, "--- last lines of %s ---\n%s\n---\n", log, tail);
    }
    free(tail);
}

/* Sets err to "<what>; last lines of <log>: <tail>" and prints longer tails
 * of `log` and `also` (may be NULL) to stderr, since the message has room for
 * a few lines only. */
static int fail_with_log(struct cv_err *err, int code, const struct pg_server *srv, const char *log,
                         const char *also, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail_with_log(struct cv_err *err, int code, const struct pg_server *srv, const char *log,
                         const char *also, const char *fmt, ...)
{
    char what[256], path[PG_SERVER_PATH_MAX + 32], tail[TAIL_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pg_server: %s\n", what);
    if (also != NULL) {
        print_tail(srv, also);
    }
    print_tail(srv, log);
    snprintf(path, sizeof path, "%s/%s", srv->dir, log);
    file_tail(path, tail, sizeof tail);
    return cv_err_setf(err, code, "%s; last lines of %s: %s", what, log, tail);
}

/* Removes `name` under dirfd, recursively, without following symlinks. */
static void remove_tree_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        unlinkat(dirfd, name, 0);
        return;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d == NULL) {
            close(fd);
        } else {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                    remove_tree_at(fd, e->d_name);
                }
            }
            closedir(d); /* closes fd */
        }
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* ---- children ------------------------------------------------------------- */

/* In a forked child: become the server's user. Async-signal-safe only. */
static void child_drop_privileges(const struct pg_server *srv)
{
    if (srv->drop_privileges) {
        if (setgroups(0, NULL) != 0 || setgid(srv->gid) != 0 || setuid(srv->uid) != 0) {
            static const char msg[] = "pg_server: cannot drop privileges\n";
            (void)!write(2, msg, sizeof msg - 1);
            _exit(126);
        }
    }
}

/* In a forked child: descriptors 0..2 from `in`/`out`, none other open. */
static void child_set_fds(int in, int out)
{
    if (in >= 0 && in != 0) {
        dup2(in, 0);
    }
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    for (int fd = 3; fd < 1024; fd++) {
        close(fd);
    }
}

/* Waits for pid up to bound_ms, then kills it (and still waits: SIGKILL
 * makes that short). Returns the wait status, or -1 when it had to kill. */
static int wait_bounded(pid_t pid, uint64_t bound_ms)
{
    uint64_t deadline = now_ms() + bound_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return -1; /* not our child any more: nothing to reap */
        }
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        sleep_ms(5);
    }
}

/* Runs argv[0] (an absolute path) as the server's user with output appended
 * to srv->dir/out_log. Returns 0 when it exited 0; otherwise CV_EIO or
 * CV_ETIMEDOUT with a message naming the program and the tail of report_log
 * (the server's log says why pg_ctl failed, pg_ctl's own output does not). */
static int run_child(const struct pg_server *srv, char *const argv[], const char *out_log,
                     const char *report_log, uint64_t bound_ms, struct cv_err *err)
{
    char path[PG_SERVER_PATH_MAX + 32];
    if (!join(path, sizeof path, srv->dir, out_log)) {
        return cv_err_setf(err, CV_EINVAL, "log path too long under %s", srv->dir);
    }
    const char *also = strcmp(out_log, report_log) != 0 ? out_log : NULL;
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    pid_t pid = fork();
    if (pid < 0) {
        return cv_err_setf(err, CV_EIO, "fork for %s: %s", prog, strerror(errno));
    }
    if (pid == 0) {
        child_drop_privileges(srv);
        if (chdir(srv->dir) != 0) {
            _exit(126);
        }
        int in = open("/dev/null", O_RDONLY);
        int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        child_set_fds(in, out);
        execv(argv[0], argv);
        static const char msg[] = "pg_server: exec failed\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    int status = wait_bounded(pid, bound_ms);
    if (status == -1) {
        return fail_with_log(err, CV_ETIMEDOUT, srv, report_log, also,
                             "%s %s did not finish in %llu s", prog, argv[1],
                             (unsigned long long)(bound_ms / 1000));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    if (WIFEXITED(status)) {
        return fail_with_log(err, CV_EIO, srv, report_log, also, "%s %s exited with status %d",
                             prog, argv[1], WEXITSTATUS(status));
    }
    return fail_with_log(err, CV_EIO, srv, report_log, also, "%s %s killed by signal %d", prog,
                         argv[1], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Starts the watchdog (see the top of the file). */
static int watchdog_start(struct pg_server *srv, struct cv_err *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return cv_err_setf(err, CV_EIO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return cv_err_setf(err, CV_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setsid();
        child_drop_privileges(srv);
        if (chdir("/") != 0) {
            _exit(126);
        }
        int out = open("/dev/null", O_WRONLY);
        child_set_fds(fds[0], out);
        execl("/bin/sh", "sh", "-c", WATCHDOG_SH, "caravan-pg-watchdog", srv->dir, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    srv->watchdog_fd = fds[1];
    srv->watchdog_pid = pid;
    return 0;
}

/* The postmaster's pid from its pid file, 0 when there is none. */
static pid_t postmaster_pid(const struct pg_server *srv)
{
    char path[PG_SERVER_PATH_MAX + 32];
    long pid = 0;
    if (!join(path, sizeof path, srv->datadir, "postmaster.pid")) {
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
            pid = 0;
        }
        fclose(f);
    }
    return (pid_t)pid;
}

/* Reaps the stopped postmaster when it is our child (we are its subreaper);
 * otherwise returns at once. */
static void reap_postmaster(struct pg_server *srv)
{
    if (srv->postmaster_pid > 0) {
        wait_bounded(srv->postmaster_pid, 10000);
        srv->postmaster_pid = 0;
    }
}

/* ---- finding things ----------------------------------------------------------- */

static bool executable_in(const char *dir, const char *prog)
{
    char path[PG_SERVER_PATH_MAX + 32];
    return join(path, sizeof path, dir, prog) && access(path, X_OK) == 0;
}

static int find_bindir(struct pg_server *srv, struct cv_err *err)
{
    const char *env = getenv("CARAVAN_PG_BINDIR");
    const char *dir = env != NULL && env[0] != '\0' ? env : CARAVAN_PG_BINDIR_BUILT;
    if (dir[0] == '\0') {
        return cv_err_setf(err, CV_ENOTFOUND,
                           "no PostgreSQL server: none was found when the build was configured "
                           "and CARAVAN_PG_BINDIR is not set; install the Debian package "
                           "'postgresql-15' (ops/ensure-deps.sh) or set CARAVAN_PG_BINDIR to "
                           "the directory holding initdb and pg_ctl");
    }
    if (strlen(dir) >= sizeof srv->bindir - 16) {
        return cv_err_setf(err, CV_EINVAL, "PostgreSQL bin dir path too long");
    }
    if (!executable_in(dir, "initdb") || !executable_in(dir, "pg_ctl")) {
        return cv_err_setf(
            err, CV_ENOTFOUND,
            "PostgreSQL bin dir %s (%s) holds no executable initdb and pg_ctl; "
            "install 'postgresql-15' or point CARAVAN_PG_BINDIR at the right one",
            dir,
            env != NULL && env[0] != '\0' ? "from CARAVAN_PG_BINDIR" : "found at configure time");
    }
    snprintf(srv->bindir, sizeof srv->bindir, "%s", dir);
    return 0;
}

/* True when every directory on the way to `path` lets others search it, so
 * the unprivileged user can reach a directory made inside it. */
static bool reachable_by_others(const char *path)
{
    char buf[PG_SERVER_PATH_MAX];
    if (path[0] != '/' || strlen(path) >= sizeof buf) {
        return false;
    }
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & S_IXOTH) == 0) {
                return false;
            }
            *p = saved;
            if (saved == '\0') {
                return true;
            }
        }
    }
}

/* $TMPDIR, unless it is relative, holds a quote (it goes into
 * postgresql.conf), is too long for a socket path or out of the server
 * user's reach: then /tmp. */
static const char *temp_base(const struct pg_server *srv)
{
    const char *t = getenv("TMPDIR");
    if (t == NULL || t[0] != '/' || strlen(t) > SOCKET_DIR_MAX - 20 || strchr(t, '\'') ||
        strchr(t, '"') || (srv->drop_privileges && !reachable_by_others(t))) {
        return "/tmp";
    }
    return t;
}

static int make_dir(struct pg_server *srv, struct cv_err *err)
{
    char tmpl[PG_SERVER_PATH_MAX];
    const char *base = temp_base(srv);
    snprintf(tmpl, sizeof tmpl, "%s/caravan-pg-XXXXXX", base);
    if (mkdtemp(tmpl) == NULL) {
        return cv_err_setf(err, CV_EIO, "mkdtemp under %s: %s", base, strerror(errno));
    }
    snprintf(srv->dir, sizeof srv->dir, "%s", tmpl);
    if (srv->drop_privileges && chown(srv->dir, srv->uid, srv->gid) != 0) {
        return cv_err_setf(err, CV_EIO, "chown %s to %s: %s", srv->dir, PG_SERVER_UNPRIVILEGED,
                           strerror(errno));
    }
    if (!join(srv->datadir, sizeof srv->datadir, srv->dir, "data")) {
        return cv_err_setf(err, CV_EINVAL, "path too long under %s", srv->dir);
    }
    return 0;
}

/* ---- the server --------------------------------------------------------------- */

static int run_initdb(struct pg_server *srv, struct cv_err *err)
{
    char prog[PG_SERVER_PATH_MAX + 32];
    join(prog, sizeof prog, srv->bindir, "initdb");
    char *const argv[] = {prog,     "-D",        srv->datadir, "-U",   PG_SERVER_USER,
                          "--auth", "trust",     "--encoding", "UTF8", "--locale",
                          "C",      "--no-sync", NULL};
    return run_child(srv, argv, "initdb.log", "initdb.log", INITDB_BOUND_MS, err);
}

static int write_conf(const struct pg_server *srv, const char *extra_conf, struct cv_err *err)
{
    char path[PG_SERVER_PATH_MAX + 32];
    join(path, sizeof path, srv->datadir, "postgresql.conf");
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        return cv_err_setf(err, CV_EIO, "open %s: %s", path, strerror(errno));
    }
    /* fsync and synchronous_commit are spelled out because crash tests
     * depend on them; extra_conf comes last and may override anything. */
    fprintf(f,
            "\n# pg_server (Caravan tests)\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = '%s'\n"
            "logging_collector = off\n"
            "fsync = on\n"
            "synchronous_commit = on\n"
            "full_page_writes = on\n",
            srv->dir);
    if (extra_conf != NULL) {
        fprintf(f, "%s\n", extra_conf);
    }
    if (fclose(f) != 0) {
        return cv_err_setf(err, CV_EIO, "write %s: %s", path, strerror(errno));
    }
    return 0;
}

static off_t file_size(const char *dir, const char *name)
{
    char path[PG_SERVER_PATH_MAX + 32];
    struct stat st;
    if (!join(path, sizeof path, dir, name) || stat(path, &st) != 0) {
        return 0;
    }
    return st.st_size;
}

/* True when the server log, from byte `from` on, says the port was taken. */
static bool log_says_port_taken(const struct pg_server *srv, off_t from)
{
    char path[PG_SERVER_PATH_MAX + 32];
    join(path, sizeof path, srv->dir, "server.log");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    return strstr(buf, "Address already in use") != NULL ||
           strstr(buf, "could not create any TCP/IP sockets") != NULL;
}

static int pg_ctl(struct pg_server *srv, const char *action, const char *mode, struct cv_err *err)
{
    char prog[PG_SERVER_PATH_MAX + 32], log[PG_SERVER_PATH_MAX + 32], opts[32];
    join(prog, sizeof prog, srv->bindir, "pg_ctl");
    join(log, sizeof log, srv->dir, "server.log");
    snprintf(opts, sizeof opts, "-p %d", srv->port);
    if (strcmp(action, "start") == 0) {
        char *const argv[] = {prog,         "start", "-w", "-t", PG_CTL_WAIT_S, "-D",
                              srv->datadir, "-l",    log,  "-o", opts,          NULL};
        return run_child(srv, argv, "pg_ctl.log", "server.log", PG_CTL_BOUND_MS, err);
    }
    char *const argv[] = {prog, (char *)action, "-w", "-t",         PG_CTL_WAIT_S,
                          "-D", srv->datadir,   "-m", (char *)mode, NULL};
    return run_child(srv, argv, "pg_ctl.log", "server.log", PG_CTL_BOUND_MS, err);
}

static void set_conninfo(struct pg_server *srv)
{
    pg_server_conninfo(srv, "postgres", srv->conninfo, sizeof srv->conninfo);
}

/* Starts on a random free port, retrying when the server could not bind. */
static int start_on_some_port(struct pg_server *srv, struct cv_err *err)
{
    bool tried = false;
    for (int attempt = 0; attempt < PORT_TRIES; attempt++) {
        srv->port = random_port();
        if (!port_free(srv->port)) {
            continue;
        }
        off_t log_at = file_size(srv->dir, "server.log");
        int rc = pg_ctl(srv, "start", NULL, err);
        if (rc == 0 || !log_says_port_taken(srv, log_at)) {
            return rc;
        }
        tried = true;
    }
    if (tried && err != NULL) {
        return cv_err_wrapf(err, "no free port in %d tries", PORT_TRIES);
    }
    return cv_err_setf(err, CV_EIO, "no free port in %d tries", PORT_TRIES);
}

/* pg_ctl stop -m mode, then reaps the postmaster. */
static int stop_server(struct pg_server *srv, const char *mode, struct cv_err *err)
{
    if (srv->postmaster_pid == 0) {
        srv->postmaster_pid = postmaster_pid(srv);
    }
    int rc = pg_ctl(srv, "stop", mode, err);
    if (rc == 0) {
        srv->running = false;
        reap_postmaster(srv);
    }
    return rc;
}

/* Last resort when pg_ctl could not stop the server: SIGKILL the postmaster
 * (its backends notice its death and exit). */
static void kill_postmaster(struct pg_server *srv)
{
    pid_t pid = srv->postmaster_pid > 0 ? srv->postmaster_pid : postmaster_pid(srv);
    if (pid > 0) {
        kill(pid, SIGKILL);
        srv->postmaster_pid = pid;
        reap_postmaster(srv);
    }
    srv->running = false;
}

static void cleanup(struct pg_server *srv)
{
    if (srv->dir[0] != '\0') {
        remove_tree_at(AT_FDCWD, srv->dir);
    }
    if (srv->watchdog_fd >= 0) {
        close(srv->watchdog_fd); /* the watchdog finds nothing left and exits */
    }
    if (srv->watchdog_pid > 0) {
        wait_bounded(srv->watchdog_pid, 10000);
    }
    srv->dir[0] = '\0';
    srv->datadir[0] = '\0';
    srv->conninfo[0] = '\0';
    srv->watchdog_fd = -1;
    srv->watchdog_pid = 0;
    srv->running = false;
    srv->port = 0;
}

/* Makes orphaned descendants (the postmaster, once pg_ctl exits) children
 * of this process, so they can be reaped. */
static void become_subreaper(void)
{
#ifdef PR_SET_CHILD_SUBREAPER
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
}

int pg_server_start(struct pg_server *srv, const char *extra_conf, struct cv_err *err)
{
    memset(srv, 0, sizeof *srv);
    srv->watchdog_fd = -1;
    int rc = find_bindir(srv, err);
    if (rc != 0) {
        return rc;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(PG_SERVER_UNPRIVILEGED);
        if (pw == NULL) {
            return cv_err_setf(err, CV_ENOTFOUND,
                               "running as root, and there is no user '%s' to run PostgreSQL as",
                               PG_SERVER_UNPRIVILEGED);
        }
        srv->drop_privileges = true;
        srv->uid = pw->pw_uid;
        srv->gid = pw->pw_gid;
    }
    become_subreaper();
    if ((rc = make_dir(srv, err)) != 0 || (rc = watchdog_start(srv, err)) != 0 ||
        (rc = run_initdb(srv, err)) != 0 || (rc = write_conf(srv, extra_conf, err)) != 0 ||
        (rc = start_on_some_port(srv, err)) != 0) {
        goto err_after_dir;
    }
    srv->running = true;
    srv->postmaster_pid = postmaster_pid(srv);
    set_conninfo(srv);
    return 0;

err_after_dir:
    /* pg_ctl may have been killed after its postmaster came up. */
    if (postmaster_pid(srv) > 0 && stop_server(srv, "immediate", NULL) != 0) {
        kill_postmaster(srv);
    }
    cleanup(srv);
    return rc;
}

int pg_server_crash(struct pg_server *srv, struct cv_err *err)
{
    if (!srv->running) {
        return 0;
    }
    return stop_server(srv, "immediate", err);
}

int pg_server_stop(struct pg_server *srv, struct cv_err *err)
{
    if (!srv->running) {
        return 0;
    }
    return stop_server(srv, "fast", err);
}

int pg_server_restart(struct pg_server *srv, struct cv_err *err)
{
    if (srv->dir[0] == '\0') {
        return cv_err_setf(err, CV_EINVAL, "restart: the server was never started");
    }
    if (srv->running) {
        return cv_err_setf(err, CV_EINVAL, "restart: the server on port %d still runs", srv->port);
    }
    int rc = pg_ctl(srv, "start", NULL, err);
    if (rc == 0) {
        srv->running = true;
        srv->postmaster_pid = postmaster_pid(srv);
    }
    return rc;
}

const char *pg_server_conninfo(const struct pg_server *srv, const char *dbname, char *out,
                               size_t size)
{
    /* A conninfo value in single quotes, with ' and \ escaped by \. */
    char quoted[PG_SERVER_CONNINFO_MAX];
    size_t n = 0;
    quoted[n++] = '\'';
    for (const char *c = dbname; *c != '\0' && n + 3 < sizeof quoted; c++) {
        if (*c == '\'' || *c == '\\') {
            quoted[n++] = '\\';
        }
        quoted[n++] = *c;
    }
    quoted[n++] = '\'';
    quoted[n] = '\0';
    snprintf(out, size, "host=127.0.0.1 port=%d user=%s dbname=%s", srv->port, PG_SERVER_USER,
             quoted);
    return out;
}

/* Copies PQerrorMessage without its trailing newline. */
static int pq_fail(struct cv_err *err, int code, const char *what, const char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) {
        n--;
    }
    return cv_err_setf(err, code, "%s: %.*s", what, (int)n, msg);
}

int pg_server_exec(const struct pg_server *srv, const char *sql, struct cv_err *err)
{
    char conninfo[PG_SERVER_CONNINFO_MAX + 96];
    /* Both bounds keep a wedged server from hanging the test. */
    snprintf(conninfo, sizeof conninfo,
             "%s connect_timeout=10 options='-c statement_timeout=120000'", srv->conninfo);
    PGconn *conn = PQconnectdb(conninfo);
    if (conn == NULL) {
        return cv_err_setf(err, CV_EIO, "connect to port %d: out of memory", srv->port);
    }
    int rc = 0;
    if (PQstatus(conn) != CONNECTION_OK) {
        rc = pq_fail(err, CV_EUNAVAILABLE, "connect", PQerrorMessage(conn));
    } else {
        PGresult *res = PQexec(conn, sql);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            rc = pq_fail(err, CV_EIO, sql, PQerrorMessage(conn));
        }
        PQclear(res);
    }
    PQfinish(conn);
    return rc;
}

int pg_server_create_database(const struct pg_server *srv, const char *name, struct cv_err *err)
{
    /* Quoted as an identifier: inside "...", a " is doubled. */
    char sql[512];
    size_t n = (size_t)snprintf(sql, sizeof sql, "CREATE DATABASE \"");
    for (const char *c = name; *c != '\0'; c++) {
        if (n + 4 >= sizeof sql) {
            return cv_err_setf(err, CV_EINVAL, "database name too long");
        }
        if (*c == '"') {
            sql[n++] = '"';
        }
        sql[n++] = *c;
    }
    sql[n++] = '"';
    sql[n] = '\0';
    return pg_server_exec(srv, sql, err);
}

void pg_server_destroy(struct pg_server *srv)
{
    if (srv->dir[0] == '\0') {
        return;
    }
    if (srv->running || postmaster_pid(srv) > 0) {
        struct cv_err err = {0};
        if (stop_server(srv, "immediate", &err) != 0) {
            fprintf(stderr, "pg_server: could not stop the server in %s: %s\n", srv->dir, err.msg);
            kill_postmaster(srv);
        }
    }
    cleanup(srv);
}
