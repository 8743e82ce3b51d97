/*
 * bench_c1m: a million allocations end to end, on three real regiond
 * processes on 127.0.0.1 (Nomad's "C1M" challenge).
 *
 * The region: three regiond (tests/e2e/cluster.h: embedded store with
 * fsync, default Raft timing unless --election-ms, the default number of
 * scheduler workers, heartbeat min TTL one hour so simulated nodes never
 * time out) in a temporary directory. Then:
 *   nodes  --nodes simulated nodes register through Node.Register
 *          (tests/e2e/e2e_nodes.h: 256 calls in flight over the three
 *          servers); registrations per second.
 *   jobs   --jobs jobs (service, or --type batch) whose counts sum to
 *          --allocs, PUT /v1/jobs by 8 threads through the three servers as
 *          fast as they are answered. Nodes are sized for 125% of their
 *          share (allocs / nodes allocations of 20 MHz, 16 MB, 150 MB disk).
 *   wait   from the first submit until every allocation is committed. The
 *          cheap signal is GET /v1/evaluations on the leader (a few entries
 *          per job): a worker writes an evaluation complete only after its
 *          plans committed, so a job whose evaluation is complete with
 *          nothing queued or failed is placed. Then one GET /v1/jobs, whose
 *          JobSummary per job is counted from its allocations when read (one
 *          walk of every allocation on the leader's loop: too costly to
 *          poll), confirms the exact count. Polls are spaced by 4 times what
 *          the last took (250 ms to 2 s). A thread asks every server for
 *          /v1/status/leader each 100 ms: how long its event loop makes a
 *          request wait, and how often the leader changes.
 * Printed: registrations/s, submit time, seconds to all committed and
 * allocations/s, evaluations by status, loop answer times and leader
 * changes, each server's peak RSS (VmHWM), RSS growth per allocation and
 * data directory size, beside the yardstick (Nomad's C1M, 2016) and the
 * target (< 60 s end to end). Nothing is asserted. Every wait has a
 * deadline; the run gives up after --timeout-min minutes (15) with what it
 * measured, and stops early when the servers' RSS passes 85% of memory.
 *
 *   bench_c1m [--quick] [--nodes N] [--allocs N] [--jobs N] [--type T]
 *             [--timeout-min M] [--election-ms MS] [--regiond PATH]
 *   --quick: 1,000 nodes and 100,000 allocations.
 *
 * Whatever it started is SIGKILLed at exit, on failure and on
 * SIGINT/SIGTERM/SIGHUP, and the directory removed (kept with
 * CARAVAN_E2E_KEEP=1, with the servers' logs).
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "common/json.h"
#include "e2e_nodes.h"

#ifndef CARAVAN_REGIOND_PATH
#define CARAVAN_REGIOND_PATH ""
#endif

#define N_SERVERS      3
#define N_SUBMITTERS   8
#define REG_INFLIGHT   256
#define ALLOC_CPU      20  /* MHz */
#define ALLOC_MEM      16  /* MB */
#define ALLOC_DISK     150 /* MB: more than the default LogConfig's 100 MB */
#define HEADROOM       1.25
#define POLL_MIN_MS    250
#define POLL_MAX_MS    2000
#define PROGRESS_MS    5000
#define RSS_LIMIT_FRAC 0.85
#define TARGET_S       60.0

/* ---- what runs, for the cleanup ------------------------------------------------ */

static struct e2e_cluster cluster;
static bool cluster_made;
static char rm_dir[256];
static char *rm_argv[] = {"/bin/rm", "-rf", rm_dir, NULL};
static bool keep_dir;

static void kill_all(void)
{
    for (size_t i = 0; cluster_made && i < N_SERVERS; i++) {
        if (cluster.servers[i].pid > 0) {
            kill(cluster.servers[i].pid, SIGKILL);
        }
    }
    for (size_t i = 0; cluster_made && i < N_SERVERS; i++) {
        if (cluster.servers[i].pid > 0) {
            waitpid(cluster.servers[i].pid, NULL, 0);
            cluster.servers[i].pid = 0;
        }
    }
}

static void on_signal(int sig)
{
    kill_all();
    if (cluster_made && !keep_dir) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(rm_argv[0], rm_argv);
            _exit(127);
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
    }
    _exit(128 + sig);
}

static void cleanup(void)
{
    kill_all();
    if (cluster_made) {
        cluster_made = false;
        e2e_cluster_destroy(&cluster);
    }
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_c1m: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    for (size_t i = 0; cluster_made && i < N_SERVERS; i++) {
        e2e_server_dump_log(&cluster, i);
    }
    exit(1); /* atexit: cleanup */
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- /proc ------------------------------------------------------------------------ */

/* A "Key:   123 kB" line of /proc/<pid>/status, in kB; 0 when absent. */
static long long proc_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long long kb = 0;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0) {
            kb = atoll(line + kl);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

static long long mem_total_kb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "MemTotal:", 9) == 0) {
            kb = atoll(line + 9);
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

static long long servers_rss_kb(void)
{
    long long sum = 0;
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (cluster.servers[i].pid > 0) {
            sum += proc_status_kb(cluster.servers[i].pid, "VmRSS:");
        }
    }
    return sum;
}

/* Bytes under a directory (regular files), bounded depth. */
static long long dir_bytes(const char *path, int depth)
{
    DIR *d = depth < 8 ? opendir(path) : NULL;
    if (!d) {
        return 0;
    }
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            sum += dir_bytes(p, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            sum += st.st_size;
        }
    }
    closedir(d);
    return sum;
}

/* ---- JSON over HTTP ------------------------------------------------------------------- */

static const struct cv_json_limits big_limits = {.max_bytes = 512u << 20,
                                                 .max_depth = 64,
                                                 .max_string = 1u << 20,
                                                 .max_nodes = 1u << 27};

static struct cv_json_doc *get_json(int port, const char *path, int timeout_ms)
{
    struct e2e_response r;
    if (e2e_http(port, "GET", path, NULL, timeout_ms, &r) != 0) {
        return NULL;
    }
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (r.status != 200 || cv_json_parse(r.body, strlen(r.body), &big_limits, &doc, &err) != 0) {
        fprintf(stderr, "GET %s: %d %s\n", path, r.status, r.status == 200 ? err.msg : r.body);
    }
    e2e_response_free(&r);
    return doc;
}

static const struct cv_json *jget(const struct cv_json *obj, const char *key)
{
    return obj && obj->type == CV_JSON_OBJECT ? cv_json_object_get(obj, key) : NULL;
}

static int64_t jint(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = jget(obj, key);
    int64_t n = 0;
    if (v && v->type == CV_JSON_NUMBER) {
        cv_json_int64(v, &n);
    }
    return n;
}

static const char *jstr(const struct cv_json *obj, const char *key)
{
    const struct cv_json *v = jget(obj, key);
    return v && v->type == CV_JSON_STRING ? v->u.string.ptr : "";
}

struct count
{
    long long placed; /* Starting + Running + Complete over every job */
    long long queued;
    size_t jobs;
};

/* Exact: sums the JobSummary of every job the leader lists. Costs the
 * leader one walk of every allocation, on its event loop. */
static bool count_committed(int port, struct count *c)
{
    memset(c, 0, sizeof *c);
    struct cv_json_doc *doc = get_json(port, "/v1/jobs", 120000);
    if (!doc) {
        return false;
    }
    const struct cv_json *jobs = cv_json_doc_root(doc);
    for (size_t k = 0; jobs->type == CV_JSON_ARRAY && k < jobs->u.array.len; k++) {
        const struct cv_json *sum = jget(jget(jobs->u.array.items[k], "JobSummary"), "Summary");
        c->jobs++;
        for (size_t g = 0; sum && sum->type == CV_JSON_OBJECT && g < sum->u.object.len; g++) {
            const struct cv_json *tg = sum->u.object.members[g].value;
            c->placed += jint(tg, "Starting") + jint(tg, "Running") + jint(tg, "Complete");
            c->queued += jint(tg, "Queued");
        }
    }
    cv_json_doc_free(doc);
    return true;
}

struct eval_count
{
    size_t jobs_done; /* jobs with a complete evaluation that left nothing queued */
    long long allocs_done;
    size_t complete, failed, blocked, max_plans, pending, canceled;
};

/* Cheap: the evaluations (a few per job, not per allocation). A worker
 * writes an evaluation complete once its plans committed, so a job whose
 * complete evaluation queued nothing and failed nothing has all of its
 * allocations committed. */
static bool count_evals(int port, size_t n_jobs, long long per_job, long long remainder, bool *done,
                        struct eval_count *c)
{
    memset(c, 0, sizeof *c);
    struct cv_json_doc *doc = get_json(port, "/v1/evaluations", 120000);
    if (!doc) {
        return false;
    }
    const struct cv_json *ev = cv_json_doc_root(doc);
    for (size_t i = 0; ev->type == CV_JSON_ARRAY && i < ev->u.array.len; i++) {
        const struct cv_json *e = ev->u.array.items[i];
        const char *st = jstr(e, "Status");
        c->complete += strcmp(st, "complete") == 0;
        c->failed += strcmp(st, "failed") == 0;
        c->pending += strcmp(st, "pending") == 0;
        c->canceled += strcmp(st, "canceled") == 0;
        if (strcmp(st, "blocked") == 0) {
            c->blocked++;
            c->max_plans += strcmp(jstr(e, "TriggeredBy"), "max-plan-attempts") == 0;
        }
        const struct cv_json *failed = jget(e, "FailedTGAllocs");
        bool clean = strcmp(st, "complete") == 0 && jint(jget(e, "QueuedAllocations"), "g") == 0 &&
                     (!failed || failed->type != CV_JSON_OBJECT || failed->u.object.len == 0);
        unsigned k = 0;
        if (clean && sscanf(jstr(e, "JobID"), "c1m-%u", &k) == 1 && k < n_jobs) {
            done[k] = true;
        }
    }
    for (size_t k = 0; k < n_jobs; k++) {
        if (done[k]) {
            c->jobs_done++;
            c->allocs_done += per_job + ((long long)k < remainder ? 1 : 0);
        }
    }
    cv_json_doc_free(doc);
    return true;
}

/* ---- the loops' latency and the leader, seen from outside ------------------------- */

#define MON_EVERY_MS 100
#define MON_MAX      20000

/* Every MON_EVERY_MS, GET /v1/status/leader from each server (answered on
 * its event loop without touching the state): how long a loop is busy, and
 * how often the leader changes. */
struct monitor
{
    pthread_t thread;
    atomic_bool stop;
    unsigned lat_ms[N_SERVERS][MON_MAX]; /* one per sample */
    size_t n[N_SERVERS];
    unsigned timeouts[N_SERVERS];
    unsigned changes; /* times the leader one server reports changed */
};

static void *monitor_thread(void *arg)
{
    struct monitor *m = arg;
    char last[N_SERVERS][64] = {{0}};
    while (!atomic_load(&m->stop)) {
        for (size_t i = 0; i < N_SERVERS; i++) {
            if (cluster.servers[i].pid <= 0) {
                continue;
            }
            long long t = e2e_now_ms();
            struct e2e_response r;
            if (e2e_http(cluster.servers[i].http_port, "GET", "/v1/status/leader", NULL, 2000,
                         &r) != 0) {
                m->timeouts[i]++;
                continue;
            }
            if (m->n[i] < MON_MAX) {
                m->lat_ms[i][m->n[i]++] = (unsigned)(e2e_now_ms() - t);
            }
            if (i == 0 && r.status == 200 && strcmp(r.body, last[i]) != 0) {
                m->changes += last[i][0] != '\0';
                snprintf(last[i], sizeof last[i], "%s", r.body);
            }
            e2e_response_free(&r);
        }
        sleep_ms(MON_EVERY_MS);
    }
    return NULL;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* ---- submitting ------------------------------------------------------------------------ */

struct submitter
{
    size_t n_jobs;
    long long per_job, remainder;
    const char *type;
    atomic_size_t next;
    atomic_size_t ok, errors;
    long long last_ack_ms;
    pthread_mutex_t lock; /* guards last_ack_ms and first_error */
    char first_error[256];
};

static void *submit_thread(void *arg)
{
    struct submitter *s = arg;
    char body[1024];
    for (;;) {
        size_t k = atomic_fetch_add(&s->next, 1);
        if (k >= s->n_jobs) {
            break;
        }
        long long count = s->per_job + ((long long)k < s->remainder ? 1 : 0);
        snprintf(body, sizeof body,
                 "{\"Job\": {\"ID\": \"c1m-%04zu\", \"Name\": \"c1m-%04zu\", \"Type\": \"%s\","
                 " \"Datacenters\": [\"dc1\"], \"TaskGroups\": [{\"Name\": \"g\", \"Count\": %lld,"
                 " \"EphemeralDisk\": {\"SizeMB\": %d}, \"Tasks\": [{\"Name\": \"t\","
                 " \"Driver\": \"mock\", \"Resources\": {\"CPU\": %d, \"MemoryMB\": %d}}]}]}}",
                 k, k, s->type, count, ALLOC_DISK, ALLOC_CPU, ALLOC_MEM);
        int port = cluster.servers[k % N_SERVERS].http_port;
        int status = -1;
        char err[160] = "no answer";
        for (int attempt = 0; attempt < 20 && status != 200; attempt++) {
            struct e2e_response r;
            if (e2e_http(port, "PUT", "/v1/jobs", body, 60000, &r) == 0) {
                status = r.status;
                snprintf(err, sizeof err, "%d %.120s", r.status, r.body);
                e2e_response_free(&r);
            }
            if (status == 503 || status == -1) {
                sleep_ms(100); /* no leader for a moment: try again */
            } else {
                break;
            }
        }
        pthread_mutex_lock(&s->lock);
        if (status == 200) {
            atomic_fetch_add(&s->ok, 1);
            s->last_ack_ms = e2e_now_ms();
        } else {
            atomic_fetch_add(&s->errors, 1);
            if (!s->first_error[0]) {
                snprintf(s->first_error, sizeof s->first_error, "job %zu: %s", k, err);
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ---- the run --------------------------------------------------------------------------- */

struct opts
{
    size_t nodes, allocs, jobs;
    const char *type;
    const char *regiond;
    int timeout_min;
    unsigned election_ms; /* raft.election_timeout_ms; 0: the default */
};

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--nodes N] [--allocs N] [--jobs N] [--type service|batch]\n"
            "          [--timeout-min M] [--election-ms MS] [--regiond PATH]\n",
            argv0);
    exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){10000, 1000000, 100, "service", NULL, 15, 0};
    o->regiond = getenv("CARAVAN_REGIOND");
    if (!o->regiond || !o->regiond[0]) {
        o->regiond = CARAVAN_REGIOND_PATH;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->nodes = 1000;
            o->allocs = 100000;
        } else if (strcmp(a, "--nodes") == 0 && v) {
            o->nodes = strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--allocs") == 0 && v) {
            o->allocs = strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--jobs") == 0 && v) {
            o->jobs = strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--type") == 0 && v) {
            o->type = v, i++;
        } else if (strcmp(a, "--timeout-min") == 0 && v) {
            o->timeout_min = atoi(v), i++;
        } else if (strcmp(a, "--election-ms") == 0 && v) {
            o->election_ms = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--regiond") == 0 && v) {
            o->regiond = v, i++;
        } else {
            usage(argv[0]);
        }
    }
    if (o->nodes == 0 || o->nodes > 1000000 || o->jobs == 0 || o->jobs > 10000 ||
        o->allocs < o->jobs || o->timeout_min <= 0 || o->timeout_min > 120 ||
        (o->election_ms && (o->election_ms < 50 || o->election_ms > 60000)) ||
        (strcmp(o->type, "service") != 0 && strcmp(o->type, "batch") != 0)) {
        usage(argv[0]);
    }
    if (!o->regiond[0] || access(o->regiond, X_OK) != 0) {
        fprintf(stderr, "bench_c1m: no regiond binary (--regiond or $CARAVAN_REGIOND)\n");
        exit(2);
    }
}

static void start_cluster(const struct opts *o)
{
    if (e2e_cluster_init(&cluster, N_SERVERS) != 0) {
        exit(1);
    }
    snprintf(rm_dir, sizeof rm_dir, "%s", cluster.dir);
    cluster_made = true;
    atexit(cleanup);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    char raft[96] = "";
    if (o->election_ms) {
        snprintf(raft, sizeof raft, ", \"raft\": {\"election_timeout_ms\": %u}", o->election_ms);
    }
    snprintf(cluster.config_json, sizeof cluster.config_json,
             "{\"heartbeat\": {\"min_ttl_s\": 3600}%s}", raft);
    for (size_t i = 0; i < N_SERVERS; i++) {
        if (e2e_server_start(&cluster, i) != 0) {
            die("start regiond %zu", i + 1);
        }
    }
}

static void print_evals(int port)
{
    struct cv_json_doc *doc = get_json(port, "/v1/evaluations", 60000);
    if (!doc) {
        return;
    }
    const struct cv_json *ev = cv_json_doc_root(doc);
    size_t complete = 0, failed = 0, blocked = 0, pending = 0, canceled = 0, max_plans = 0;
    for (size_t i = 0; ev->type == CV_JSON_ARRAY && i < ev->u.array.len; i++) {
        const struct cv_json *e = ev->u.array.items[i];
        const char *st = jstr(e, "Status");
        complete += strcmp(st, "complete") == 0;
        failed += strcmp(st, "failed") == 0;
        pending += strcmp(st, "pending") == 0;
        canceled += strcmp(st, "canceled") == 0;
        if (strcmp(st, "blocked") == 0) {
            blocked++;
            max_plans += strcmp(jstr(e, "TriggeredBy"), "max-plan-attempts") == 0;
        }
    }
    printf(
        "evaluations: %zu complete, %zu failed, %zu blocked (%zu max-plan-attempts), "
        "%zu pending, %zu canceled\n",
        complete, failed, blocked, max_plans, pending, canceled);
    cv_json_doc_free(doc);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o);
    setenv("CARAVAN_REGIOND", o.regiond, 1);
    keep_dir = getenv("CARAVAN_E2E_KEEP") != NULL;
    signal(SIGPIPE, SIG_IGN);
    long long run_start = e2e_now_ms();
    long long give_up = run_start + (long long)o.timeout_min * 60000;
    long long mem_kb = mem_total_kb();
    size_t per_node = (o.allocs + o.nodes - 1) / o.nodes;
    long long node_cpu = (long long)((double)per_node * ALLOC_CPU * HEADROOM) + 100;
    long long node_mem = (long long)((double)per_node * ALLOC_MEM * HEADROOM) + 100;
    long long node_disk = (long long)((double)per_node * ALLOC_DISK * HEADROOM) + 100;

    printf(
        "bench_c1m: %zu allocations (%zu %s jobs) on %zu simulated nodes, 3 regiond on "
        "127.0.0.1\n",
        o.allocs, o.jobs, o.type, o.nodes);
    printf(
        "machine: %ld cores, %.1f GiB; regiond %s (embedded store, fsync on, default "
        "schedulers, election timeout %s)\n",
        sysconf(_SC_NPROCESSORS_ONLN), (double)mem_kb / 1048576.0, o.regiond,
        o.election_ms ? "set by --election-ms" : "default");
    if (o.election_ms) {
        printf("raft.election_timeout_ms: %u\n", o.election_ms);
    }
    printf(
        "node: %lld MHz, %lld MB, %lld MB disk (%zu allocations of %d MHz, %d MB, %d MB "
        "disk, +25%%)\n",
        node_cpu, node_mem, node_disk, per_node, ALLOC_CPU, ALLOC_MEM, ALLOC_DISK);
    printf(
        "yardstick: Nomad C1M: 1,000,000 containers on 5,000 nodes in under 5 minutes "
        "(HashiCorp, 2016)\ntarget: < %.0f s end to end\n",
        TARGET_S);
    fflush(stdout);

    start_cluster(&o);
    int leader = e2e_wait_leader(&cluster, 60000);
    if (leader < 0) {
        die("no leader within 60 s");
    }
    fprintf(stderr, "servers up: pids");
    for (size_t i = 0; i < N_SERVERS; i++) {
        fprintf(stderr, " %d%s", (int)cluster.servers[i].pid, (int)i == leader ? " (leader)" : "");
    }
    fprintf(stderr, "; directory %s\n", cluster.dir);
    long long rss_idle[N_SERVERS];
    for (size_t i = 0; i < N_SERVERS; i++) {
        rss_idle[i] = proc_status_kb(cluster.servers[i].pid, "VmRSS:");
    }

    /* ---- nodes ---- */
    char addrs[N_SERVERS][64];
    const char *addr_ptrs[N_SERVERS];
    for (size_t i = 0; i < N_SERVERS; i++) {
        snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%d", cluster.servers[i].rpc_port);
        addr_ptrs[i] = addrs[i];
    }
    struct e2e_node_spec spec = {.cpu_mhz = node_cpu,
                                 .memory_mb = node_mem,
                                 .disk_mb = node_disk,
                                 .racks = 25,
                                 .name_prefix = "sim"};
    struct e2e_nodes_result nr;
    long long left = give_up - e2e_now_ms();
    e2e_nodes_register(addr_ptrs, N_SERVERS, o.nodes, &spec, REG_INFLIGHT,
                       (int)(left > 600000 ? 600000 : left), &nr);
    printf("nodes: %zu registered in %.2f s: %.0f registrations/s (%zu retries, %zu failed)%s%s\n",
           nr.registered, nr.seconds, nr.seconds > 0 ? (double)nr.registered / nr.seconds : 0,
           nr.retries, nr.failed, nr.first_error[0] ? ": " : "", nr.first_error);
    fflush(stdout);
    size_t registered = nr.registered;
    e2e_nodes_result_free(&nr);
    if (registered == 0) {
        die("no node registered");
    }
    leader = e2e_wait_leader(&cluster, 30000);
    if (leader < 0) {
        die("no leader after the registrations");
    }
    long long rss_nodes[N_SERVERS];
    for (size_t i = 0; i < N_SERVERS; i++) {
        rss_nodes[i] = proc_status_kb(cluster.servers[i].pid, "VmRSS:");
    }

    /* ---- jobs ---- */
    struct submitter s = {.n_jobs = o.jobs,
                          .per_job = (long long)(o.allocs / o.jobs),
                          .remainder = (long long)(o.allocs % o.jobs),
                          .type = o.type};
    pthread_mutex_init(&s.lock, NULL);
    pthread_t threads[N_SUBMITTERS];
    long long t0 = e2e_now_ms();
    for (size_t i = 0; i < N_SUBMITTERS; i++) {
        pthread_create(&threads[i], NULL, submit_thread, &s);
    }
    for (size_t i = 0; i < N_SUBMITTERS; i++) {
        pthread_join(threads[i], NULL);
    }
    printf("jobs: %zu submitted in %.2f s (%zu errors)%s%s\n", atomic_load(&s.ok),
           (double)(s.last_ack_ms - t0) / 1000.0, atomic_load(&s.errors),
           s.first_error[0] ? ": " : "", s.first_error);
    fflush(stdout);
    if (atomic_load(&s.ok) == 0) {
        die("no job was accepted");
    }

    /* ---- until every allocation is committed ---- */
    struct monitor *mon = calloc(1, sizeof *mon);
    pthread_create(&mon->thread, NULL, monitor_thread, mon);
    bool *done = calloc(o.jobs, sizeof *done);
    struct count c = {0};
    struct eval_count ec = {0};
    long long done_ms = 0, last_progress = 0, polls = 0, poll_ms_sum = 0, poll_ms_max = 0;
    long long peak_rss = 0;
    const char *stop_reason = "timeout";
    bool exact_phase = false; /* every job's evaluation is clean: count exactly */
    while (e2e_now_ms() < give_up) {
        long long p0 = e2e_now_ms();
        int port = cluster.servers[leader].http_port;
        bool ok = exact_phase ? count_committed(port, &c)
                              : count_evals(port, o.jobs, s.per_job, s.remainder, done, &ec);
        long long took = e2e_now_ms() - p0;
        polls++;
        poll_ms_sum += took;
        poll_ms_max = took > poll_ms_max ? took : poll_ms_max;
        long long rss = servers_rss_kb();
        peak_rss = rss > peak_rss ? rss : peak_rss;
        if (ok && !exact_phase && ec.jobs_done == o.jobs) {
            done_ms = e2e_now_ms(); /* confirmed (or not) by the exact count below */
            exact_phase = true;
            continue;
        }
        if (ok && exact_phase) {
            if (c.placed >= (long long)o.allocs) {
                done_ms = done_ms ? done_ms : e2e_now_ms();
                stop_reason = "done";
                break;
            }
            done_ms = 0; /* the evaluations said done, the allocations do not: poll them */
        }
        if (rss > (long long)((double)mem_kb * RSS_LIMIT_FRAC)) {
            stop_reason = "memory";
            break;
        }
        if (!ok) {
            int l = e2e_wait_leader(&cluster, 10000);
            leader = l >= 0 ? l : leader;
        }
        if (e2e_now_ms() - last_progress >= PROGRESS_MS) {
            last_progress = e2e_now_ms();
            fprintf(stderr,
                    "  t=%6.1f s: %zu jobs / %lld allocations done; evaluations %zu complete, "
                    "%zu pending, %zu failed, %zu blocked; RSS %.2f GiB; leader changes %u\n",
                    (double)(last_progress - t0) / 1000.0, ec.jobs_done, ec.allocs_done,
                    ec.complete, ec.pending, ec.failed, ec.blocked, (double)rss / 1048576.0,
                    mon->changes);
        }
        long long interval = took * 4 < POLL_MIN_MS ? POLL_MIN_MS : took * 4;
        sleep_ms(interval > POLL_MAX_MS ? POLL_MAX_MS : interval);
    }
    if (strcmp(stop_reason, "done") != 0) {
        done_ms = 0;
        if (!exact_phase) {
            count_committed(cluster.servers[leader].http_port, &c); /* what did commit */
        }
    }
    atomic_store(&mon->stop, true);
    pthread_join(mon->thread, NULL);
    free(done);
    long long end = done_ms ? done_ms : e2e_now_ms();
    double secs = (double)(end - t0) / 1000.0;

    /* ---- report ---- */
    printf(
        "\nresult: %s; %lld of %zu allocations committed %.1f s after the first submit "
        "(%.0f allocations/s)\n",
        stop_reason, c.placed, o.allocs, secs, secs > 0 ? (double)c.placed / secs : 0);
    printf(
        "counting: GET /v1/evaluations on the leader until every job's evaluation is "
        "complete with nothing queued, then GET /v1/jobs (summaries: one walk of every "
        "allocation) for the exact count; %lld polls, %.0f ms mean, %lld ms max\n",
        polls, polls ? (double)poll_ms_sum / (double)polls : 0, poll_ms_max);
    print_evals(cluster.servers[leader].http_port);
    printf(
        "leader changes seen by server 1: %u; event-loop answer time of GET "
        "/v1/status/leader every %d ms:\n",
        mon->changes, MON_EVERY_MS);
    for (size_t i = 0; i < N_SERVERS; i++) {
        size_t n = mon->n[i];
        qsort(mon->lat_ms[i], n, sizeof mon->lat_ms[i][0], cmp_unsigned);
        printf(
            "  server %u: %zu answers, p50 %u ms, p99 %u ms, max %u ms, %u without an answer "
            "in 2 s\n",
            cluster.servers[i].id, n, n ? mon->lat_ms[i][n / 2] : 0,
            n ? mon->lat_ms[i][(n * 99) / 100] : 0, n ? mon->lat_ms[i][n - 1] : 0,
            mon->timeouts[i]);
    }
    free(mon);
    printf("%-8s %8s %12s %12s %12s %14s %12s\n", "server", "role", "idle MiB", "nodes MiB",
           "VmHWM MiB", "B/allocation", "data MiB");
    for (size_t i = 0; i < N_SERVERS; i++) {
        long long hwm = proc_status_kb(cluster.servers[i].pid, "VmHWM:");
        double per = c.placed > 0 ? (double)(hwm - rss_nodes[i]) * 1024.0 / (double)c.placed : 0;
        printf("%-8u %8s %12.0f %12.0f %12.0f %14.0f %12.0f\n", cluster.servers[i].id,
               (int)i == leader ? "leader" : "follower", (double)rss_idle[i] / 1024.0,
               (double)rss_nodes[i] / 1024.0, (double)hwm / 1024.0, per,
               (double)dir_bytes(cluster.servers[i].data_dir, 0) / 1048576.0);
    }
    printf(
        "(B/allocation: (VmHWM - RSS after the nodes registered) / allocations committed; "
        "the three servers' RSS peaked at %.2f GiB together, as polled)\n",
        (double)peak_rss / 1048576.0);
    printf(
        "yardstick: Nomad C1M: 1,000,000 containers on 5,000 nodes in under 5 minutes "
        "(HashiCorp, 2016)\n");
    printf("target: < %.0f s end to end: %s\n", TARGET_S,
           done_ms && o.allocs >= 1000000 && secs < TARGET_S ? "met"
           : o.allocs < 1000000                              ? "not a full run"
                                                             : "not met");
    return done_ms ? 0 : 1; /* atexit: cleanup */
}
