/*
 * alloc_watch: the agent's allocations and their watch (agent.h, step 4).
 *
 * One loop, one call in flight at a time:
 *
 *   Node.GetClientAllocs {NodeID, MinQueryIndex, MaxQueryTimeMs}
 *     -> {"Allocs": {id: AllocModifyIndex}, "Index"}
 *   allocations known here but missing from the map: killed, forgotten once
 *   their tasks are dead; those new or whose AllocModifyIndex moved: fetched
 *   with Alloc.GetAllocs (1024 per call), then acted on;
 *   MinQueryIndex = Index, and again.
 *
 * A failed call (any server may answer; a follower's state may lag, which
 * only delays) fails over and retries after a backoff without moving the
 * index, so nothing is skipped. Acting on an allocation:
 *   unknown, DesiredStatus "run", not terminal on the server: a new
 *     alloc runner, persisted, its tasks started;
 *   unknown, not to run, still "pending" on the server: reported
 *     "complete" at once (it never started here);
 *   unknown, to run, but a task's driver is disabled here (or the runner
 *     cannot be made): reported "failed" with the reason, so the servers
 *     place it elsewhere;
 *   known: the runner takes the new version (a stop or evict kills it).
 * Allocations persisted in the data dir are recovered before the first
 * call (agent_watch_recover), so a restarted agent reattaches instead of
 * starting them again.
 */
#include "nodeagent/agent_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/json.h"
#include "common/jsongen.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rpc.h"

#define FETCH_MAX 1024

/* ---- the table of allocations ------------------------------------------------------ */

static struct agent_alloc *find_alloc(struct agent *a, const char *id)
{
    for (size_t i = 0; i < a->n_allocs; i++) {
        if (strcmp(a->allocs[i].id, id) == 0) {
            return &a->allocs[i];
        }
    }
    return NULL;
}

struct agent_alloc_runner *agent_watch_find(struct agent *a, const char *alloc_id)
{
    struct agent_alloc *e = find_alloc(a, alloc_id);
    return e ? e->ar : NULL;
}

static struct agent_alloc *add_alloc(struct agent *a, const char *id)
{
    if (a->n_allocs == a->cap_allocs) {
        a->cap_allocs = a->cap_allocs ? a->cap_allocs * 2 : 16;
        a->allocs = cv_reallocarray(a->allocs, a->cap_allocs, sizeof *a->allocs);
    }
    struct agent_alloc *e = &a->allocs[a->n_allocs++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    return e;
}

static void queue_runner_update(struct agent *a, struct agent_alloc_runner *ar)
{
    struct cv_jgen *g = cv_jgen_new(false);
    agent_alloc_runner_encode_update(ar, a->node->id, cv_clock_wall_ns(a->clock), g);
    const char *text = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    if (cv_jgen_finish(g, &text, &len, &err) == 0) {
        agent_updates_queue(a, agent_alloc_runner_alloc(ar)->id, cv_strndup(text, len));
    } else {
        cv_log(CV_LOG_ERROR, "agent", "cannot encode allocation update", "alloc=%s err=\"%s\"",
               agent_alloc_runner_alloc(ar)->id, err.msg);
    }
    cv_jgen_free(g);
}

static void on_runner_update(struct agent_alloc_runner *ar, void *arg)
{
    struct agent *a = arg;
    if (a->freeing) {
        return;
    }
    const char *desc = "";
    const char *status = agent_alloc_runner_client_status(ar, &desc);
    cv_log(CV_LOG_DEBUG, "agent", "allocation changed", "alloc=%s status=%s",
           agent_alloc_runner_alloc(ar)->id, status);
    queue_runner_update(a, ar);
    if (agent_alloc_runner_done(ar)) {
        event_active(a->reap_ev, EV_TIMEOUT, 0);
    }
}

/* Frees the runners of vanished allocations whose tasks are all dead,
 * outside of their callbacks. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent *a = arg;
    size_t j = 0;
    for (size_t i = 0; i < a->n_allocs; i++) {
        struct agent_alloc *e = &a->allocs[i];
        if (e->gone && (!e->ar || agent_alloc_runner_done(e->ar))) {
            if (e->ar) {
                agent_alloc_runner_forget(e->ar);
                agent_alloc_runner_free(e->ar);
            }
            cv_log(CV_LOG_INFO, "agent", "allocation forgotten", "alloc=%s", e->id);
            agent_updates_drop(a, e->id);
            continue;
        }
        a->allocs[j++] = *e;
    }
    a->n_allocs = j;
}

static struct agent_alloc_runner_config runner_config(struct agent *a)
{
    struct agent_alloc_runner_config rc = {
        .base = a->base,
        .clock = a->clock,
        .data_dir = a->cfg->data_dir,
        .datacenter = a->cfg->datacenter,
        .on_update = on_runner_update,
        .arg = a,
    };
    return rc;
}

void agent_watch_recover(struct agent *a)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", a->cfg->data_dir, AGENT_ALLOC_DIR);
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct agent_alloc_runner_config rc = runner_config(a);
    struct dirent *de;
    for (int n = 0; n < 1000000 && (de = readdir(d)) != NULL; n++) {
        size_t len = strlen(de->d_name);
        if (len != CV_UUID_LEN + 5 || strcmp(de->d_name + CV_UUID_LEN, ".json") != 0) {
            continue;
        }
        char id[CV_UUID_LEN + 1];
        memcpy(id, de->d_name, CV_UUID_LEN);
        id[CV_UUID_LEN] = '\0';
        if (!cv_uuid_valid(id) || find_alloc(a, id)) {
            continue;
        }
        struct agent_alloc_runner *ar = NULL;
        struct cv_err err = {0};
        if (agent_alloc_runner_recover(&rc, id, &ar, &err) != 0) {
            cv_log(CV_LOG_ERROR, "agent", "cannot recover allocation", "alloc=%s err=\"%s\"", id,
                   err.msg);
            continue;
        }
        struct agent_alloc *e = add_alloc(a, id);
        e->ar = ar;
        e->modify_index = agent_alloc_runner_alloc(ar)->alloc_modify_index;
        const char *status = agent_alloc_runner_client_status(ar, NULL);
        cv_log(CV_LOG_INFO, "agent", "allocation recovered", "alloc=%s status=%s", id, status);
        queue_runner_update(a, ar);
    }
    closedir(d);
}

/* ---- acting on the servers' allocations --------------------------------------------- */

/* Reports a status for an allocation this agent does not run. */
static void queue_status(struct agent *a, const struct cv_allocation *alloc, const char *status,
                         const char *description)
{
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    cv_jgen_key(g, "ID");
    cv_jgen_string(g, alloc->id);
    cv_jgen_key(g, "NodeID");
    cv_jgen_string(g, a->node->id);
    cv_jgen_key(g, "ClientStatus");
    cv_jgen_string(g, status);
    cv_jgen_key(g, "ClientDescription");
    cv_jgen_string(g, description);
    cv_jgen_key(g, "TaskStates");
    cv_jgen_object_begin(g);
    cv_jgen_object_end(g);
    cv_jgen_key(g, "ModifyTime");
    cv_jgen_int(g, cv_clock_wall_ns(a->clock));
    cv_jgen_object_end(g);
    const char *text = NULL;
    size_t len = 0;
    if (cv_jgen_finish(g, &text, &len, NULL) == 0) {
        agent_updates_queue(a, alloc->id, cv_strndup(text, len));
    }
    cv_jgen_free(g);
}

/* Whether every task's driver is enabled here; names the first that is
 * not in msg. The scheduler only places tasks on nodes whose driver.<name>
 * attribute says so, but a disabled raw_exec must never run, whatever the
 * servers send. */
static bool drivers_enabled(const struct agent *a, const struct cv_allocation *alloc, char *msg,
                            size_t size)
{
    for (size_t i = 0; alloc->job && i < alloc->job->task_groups.len; i++) {
        const struct cv_task_group *tg = &alloc->job->task_groups.items[i];
        if (strcmp(tg->name, alloc->task_group) != 0) {
            continue;
        }
        for (size_t j = 0; j < tg->tasks.len; j++) {
            const char *d = tg->tasks.items[j].driver;
            bool on = (strcmp(d, "raw_exec") == 0 && a->cfg->raw_exec) ||
                      (strcmp(d, "mock") == 0 && a->cfg->mock);
            if (!on) {
                snprintf(msg, size, "task %s: driver %s is not enabled on this node",
                         tg->tasks.items[j].name, d);
                return false;
            }
        }
    }
    return true;
}

static void apply_alloc(struct agent *a, const struct cv_allocation *alloc, uint64_t index)
{
    struct agent_alloc *e = find_alloc(a, alloc->id);
    if (!e) {
        e = add_alloc(a, alloc->id);
    }
    e->modify_index = index;
    bool run = strcmp(alloc->desired_status, CV_ALLOC_DESIRED_RUN) == 0;
    if (e->ar) {
        agent_alloc_runner_update(e->ar, alloc);
        return;
    }
    if (run && !cv_alloc_client_terminal(alloc->client_status)) {
        struct agent_alloc_runner_config rc = runner_config(a);
        struct cv_err err = {0};
        if (!drivers_enabled(a, alloc, err.msg, sizeof err.msg) ||
            agent_alloc_runner_new(&rc, alloc, &e->ar, &err) != 0) {
            /* Failed, so the servers place it elsewhere. */
            cv_log(CV_LOG_ERROR, "agent", "cannot run allocation", "alloc=%s err=\"%s\"", alloc->id,
                   err.msg);
            queue_status(a, alloc, CV_ALLOC_CLIENT_FAILED, err.msg);
            return;
        }
        cv_log(CV_LOG_INFO, "agent", "starting allocation", "alloc=%s name=%s", alloc->id,
               alloc->name);
        agent_alloc_runner_start(e->ar);
    } else if (!run && strcmp(alloc->client_status, CV_ALLOC_CLIENT_PENDING) == 0) {
        queue_status(a, alloc, CV_ALLOC_CLIENT_COMPLETE, "stopped before it started");
    }
}

/* ---- the loop ------------------------------------------------------------------------ */

static void watch_retry(struct agent *a, const char *addr, const char *what, const char *msg)
{
    agent_server_failed(a, addr, what, msg);
    agent_timer_ms(a->watch_ev, agent_backoff_next(&a->watch_backoff_ms, AGENT_BACKOFF_MAX_MS));
}

struct watch_call
{
    struct agent *a;
    char addr[RPC_ADDR_MAX];
    size_t n_ids; /* GetAllocs: how many of a->fetch were asked */
};

static void clear_fetch(struct agent *a)
{
    for (size_t i = 0; i < a->n_fetch; i++) {
        cv_free(a->fetch[i]);
    }
    a->n_fetch = 0;
}

static void on_get_allocs(const struct rpc_result *res, void *arg)
{
    struct watch_call *c = arg;
    struct agent *a = c->a;
    a->watch_inflight = false;
    if (a->freeing || a->stopping) {
        cv_free(c);
        return;
    }
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (res->status != 0 || cv_json_parse(res->payload, res->len, NULL, &doc, &err) != 0) {
        watch_retry(a, c->addr, "Alloc.GetAllocs", res->status ? res->err_msg : err.msg);
        cv_free(c);
        return;
    }
    const struct cv_json *list = cv_json_object_get(cv_json_doc_root(doc), "Allocs");
    size_t answered = 0;
    for (size_t i = 0; list && list->type == CV_JSON_ARRAY && i < list->u.array.len; i++) {
        struct cv_allocation *alloc = NULL;
        struct cv_errlist errs;
        cv_errlist_init(&errs);
        if (cv_alloc_decode(list->u.array.items[i], &alloc, &errs) != 0) {
            char msg[CV_ERR_MSG_MAX];
            cv_log(CV_LOG_ERROR, "agent", "cannot decode allocation", "err=\"%s\"",
                   cv_errlist_format(&errs, 0, msg, sizeof msg));
            answered++; /* answered, unusable: asking again would not help */
        } else {
            uint64_t index = alloc->alloc_modify_index;
            for (size_t k = 0; k < c->n_ids; k++) {
                if (strcmp(a->fetch[k], alloc->id) == 0) {
                    index = a->fetch_index[k];
                    answered++;
                }
            }
            apply_alloc(a, alloc, index);
            cv_alloc_free(alloc);
        }
        cv_errlist_free(&errs);
    }
    cv_json_doc_free(doc);
    /* An allocation asked for and not answered was collected meanwhile,
     * or this server lags the one that gave the map: look at the map again
     * (after a pause) rather than move past it. */
    for (size_t k = 0; k < c->n_ids; k++) {
        cv_free(a->fetch[k]);
    }
    bool missing = answered < c->n_ids;
    memmove(a->fetch, a->fetch + c->n_ids, (a->n_fetch - c->n_ids) * sizeof *a->fetch);
    memmove(a->fetch_index, a->fetch_index + c->n_ids,
            (a->n_fetch - c->n_ids) * sizeof *a->fetch_index);
    a->n_fetch -= c->n_ids;
    if (missing) {
        clear_fetch(a);
        cv_free(c);
        agent_timer_ms(a->watch_ev, agent_backoff_next(&a->watch_backoff_ms, AGENT_BACKOFF_MAX_MS));
        return;
    }
    if (a->n_fetch == 0) {
        a->watch_index = a->pending_index;
    }
    a->watch_backoff_ms = 0;
    cv_free(c);
    agent_timer_ms(a->watch_ev, 0);
}

static void on_client_allocs(const struct rpc_result *res, void *arg)
{
    struct watch_call *c = arg;
    struct agent *a = c->a;
    a->watch_inflight = false;
    if (a->freeing || a->stopping) {
        cv_free(c);
        return;
    }
    struct cv_json_doc *doc = NULL;
    struct cv_err err = {0};
    if (res->status != 0 || cv_json_parse(res->payload, res->len, NULL, &doc, &err) != 0) {
        watch_retry(a, c->addr, "Node.GetClientAllocs", res->status ? res->err_msg : err.msg);
        cv_free(c);
        return;
    }
    const struct cv_json *root = cv_json_doc_root(doc);
    const struct cv_json *map = cv_json_object_get(root, "Allocs");
    const struct cv_json *idx = cv_json_object_get(root, "Index");
    uint64_t index = 0;
    if (!map || map->type != CV_JSON_OBJECT || !idx || idx->type != CV_JSON_NUMBER ||
        cv_json_uint64(idx, &index) != 0) {
        cv_json_doc_free(doc);
        watch_retry(a, c->addr, "Node.GetClientAllocs", "malformed answer");
        cv_free(c);
        return;
    }
    for (size_t i = 0; i < a->n_allocs; i++) {
        a->allocs[i].seen = false;
    }
    clear_fetch(a);
    a->fetch = cv_reallocarray(a->fetch, map->u.object.len + 1, sizeof *a->fetch);
    a->fetch_index = cv_reallocarray(a->fetch_index, map->u.object.len + 1, sizeof *a->fetch_index);
    for (size_t i = 0; i < map->u.object.len; i++) {
        const struct cv_json_member *m = &map->u.object.members[i];
        uint64_t mi = 0;
        if (!cv_uuid_valid(m->key) || m->value->type != CV_JSON_NUMBER ||
            cv_json_uint64(m->value, &mi) != 0) {
            continue;
        }
        struct agent_alloc *e = find_alloc(a, m->key);
        if (e) {
            e->seen = true;
        }
        if (!e || e->modify_index != mi) {
            a->fetch[a->n_fetch] = cv_strdup(m->key);
            a->fetch_index[a->n_fetch++] = mi;
        }
    }
    cv_json_doc_free(doc);
    bool reap = false;
    for (size_t i = 0; i < a->n_allocs; i++) {
        struct agent_alloc *e = &a->allocs[i];
        if (!e->seen && !e->gone) {
            e->gone = true;
            reap = true;
            cv_log(CV_LOG_INFO, "agent", "allocation removed by the servers", "alloc=%s", e->id);
            if (e->ar) {
                agent_alloc_runner_kill(e->ar, "allocation removed by the servers");
            }
        }
    }
    if (reap) {
        event_active(a->reap_ev, EV_TIMEOUT, 0);
    }
    a->pending_index = index;
    if (a->n_fetch == 0) {
        a->watch_index = index;
    }
    a->watch_backoff_ms = 0;
    cv_free(c);
    agent_timer_ms(a->watch_ev, 0);
}

static int call_json(struct agent *a, struct watch_call *c, const char *method, struct cv_jgen *g,
                     int timeout_ms, rpc_done_fn cb)
{
    const char *body = NULL;
    size_t len = 0;
    struct cv_err err = {0};
    int rc = cv_jgen_finish(g, &body, &len, &err);
    if (rc == 0) {
        rc = rpc_call(a->pool, c->addr, method, body, len, timeout_ms, cb, c, &err);
    }
    cv_jgen_free(g);
    if (rc != 0) {
        watch_retry(a, c->addr, method, err.msg);
        cv_free(c);
        return rc;
    }
    a->watch_inflight = true;
    return 0;
}

static void on_watch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct agent *a = arg;
    if (a->watch_inflight || a->stopping) {
        return;
    }
    struct watch_call *c = cv_calloc(1, sizeof *c);
    c->a = a;
    snprintf(c->addr, sizeof c->addr, "%s", agent_server_addr(a));
    struct cv_jgen *g = cv_jgen_new(false);
    cv_jgen_object_begin(g);
    if (a->n_fetch > 0) {
        c->n_ids = a->n_fetch < FETCH_MAX ? a->n_fetch : FETCH_MAX;
        cv_jgen_key(g, "AllocIDs");
        cv_jgen_array_begin(g);
        for (size_t i = 0; i < c->n_ids; i++) {
            cv_jgen_string(g, a->fetch[i]);
        }
        cv_jgen_array_end(g);
        cv_jgen_object_end(g);
        call_json(a, c, "Alloc.GetAllocs", g, AGENT_RPC_TIMEOUT_MS, on_get_allocs);
        return;
    }
    cv_jgen_key(g, "NodeID");
    cv_jgen_string(g, a->node->id);
    cv_jgen_key(g, "MinQueryIndex");
    cv_jgen_uint(g, a->watch_index);
    cv_jgen_key(g, "MaxQueryTimeMs");
    cv_jgen_uint(g, AGENT_WATCH_WAIT_MS);
    cv_jgen_object_end(g);
    call_json(a, c, "Node.GetClientAllocs", g, AGENT_WATCH_WAIT_MS + AGENT_RPC_TIMEOUT_MS,
              on_client_allocs);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int agent_watch_init(struct agent *a, struct cv_err *err)
{
    (void)err;
    a->watch_ev = evtimer_new(a->base, on_watch_timer, a);
    a->reap_ev = evtimer_new(a->base, on_reap, a);
    return 0;
}

void agent_watch_start(struct agent *a)
{
    if (a->watch_started) {
        return;
    }
    a->watch_started = true;
    agent_timer_ms(a->watch_ev, 0);
}

void agent_watch_free(struct agent *a)
{
    if (a->watch_ev) {
        event_free(a->watch_ev);
    }
    if (a->reap_ev) {
        event_free(a->reap_ev);
    }
    for (size_t i = 0; i < a->n_allocs; i++) {
        agent_alloc_runner_free(a->allocs[i].ar);
    }
    cv_free(a->allocs);
    clear_fetch(a);
    cv_free(a->fetch);
    cv_free(a->fetch_index);
}
