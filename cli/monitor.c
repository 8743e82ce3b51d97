/*
 * monitor: follow an evaluation (see monitor.h).
 *
 * Each round reads the evaluation (blocking until its index passes the
 * last one seen) and the allocations it made, compares them with the
 * previous round's state, and prints the differences as Nomad's
 * command/monitor.go does: new allocations ("created", or "modified" when
 * the allocation predates the evaluation), client status changes, and the
 * evaluation's own status change. The deadline bounds the whole chain.
 */
#include "cli/monitor.h"

#include <inttypes.h>
#include <string.h>

#include "cli/api.h"
#include "cli/http.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"

/* Longest single blocking query: short enough that the deadline is kept
 * without a second timer. */
#define MONITOR_MAX_WAIT_MS 30000

struct mon_alloc
{
    char id[64];
    char client[32];
};

struct mon_state
{
    char status[32];
    char job[256];
    char node[64];
    char deployment[64];
    struct mon_alloc *allocs;
    size_t n;
};

static void state_free(struct mon_state *s)
{
    cv_free(s->allocs);
    memset(s, 0, sizeof *s);
}

static const struct mon_alloc *state_find(const struct mon_state *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->allocs[i].id, id) == 0) {
            return &s->allocs[i];
        }
    }
    return NULL;
}

static int64_t now_ns(void)
{
    return (int64_t)cv_clock_monotonic_ns(cv_clock_system());
}

/* Prints what changed from *old to the evaluation and allocations just
 * read, then makes *old the new state. */
static void update(const struct cli_ctx *ctx, struct mon_state *old, const struct cv_json *eval,
                   const struct cv_json *allocs)
{
    char t[64], a[64], b[64];
    struct mon_state now = {0};
    snprintf(now.status, sizeof now.status, "%s", cli_jstr(eval, "Status"));
    snprintf(now.job, sizeof now.job, "%s", cli_jstr(eval, "JobID"));
    snprintf(now.node, sizeof now.node, "%s", cli_jstr(eval, "NodeID"));
    snprintf(now.deployment, sizeof now.deployment, "%s", cli_jstr(eval, "DeploymentID"));
    int64_t eval_index = cli_jint(eval, "CreateIndex");

    if (!old->node[0] && now.node[0]) {
        printf("    %s: Evaluation triggered by node \"%s\"\n", cli_now(t, sizeof t),
               cli_short_id(ctx, now.node, a));
    }
    if (!old->job[0] && now.job[0]) {
        printf("    %s: Evaluation triggered by job \"%s\"\n", cli_now(t, sizeof t), now.job);
    }
    if (!old->deployment[0] && now.deployment[0]) {
        printf("    %s: Evaluation within deployment: \"%s\"\n", cli_now(t, sizeof t),
               cli_short_id(ctx, now.deployment, a));
    }

    size_t n = allocs && allocs->type == CV_JSON_ARRAY ? allocs->u.array.len : 0;
    now.allocs = n ? cv_calloc(n, sizeof *now.allocs) : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *al = allocs->u.array.items[i];
        struct mon_alloc *m = &now.allocs[now.n++];
        snprintf(m->id, sizeof m->id, "%s", cli_jstr(al, "ID"));
        snprintf(m->client, sizeof m->client, "%s", cli_jstr(al, "ClientStatus"));
        const struct mon_alloc *before = state_find(old, m->id);
        if (!before) {
            if (cli_jint(al, "CreateIndex") < eval_index) {
                printf("    %s: Allocation \"%s\" modified: node \"%s\", group \"%s\"\n",
                       cli_now(t, sizeof t), cli_short_id(ctx, m->id, a),
                       cli_short_id(ctx, cli_jstr(al, "NodeID"), b), cli_jstr(al, "TaskGroup"));
            } else if (strcmp(cli_jstr(al, "DesiredStatus"), "run") == 0) {
                printf("    %s: Allocation \"%s\" created: node \"%s\", group \"%s\"\n",
                       cli_now(t, sizeof t), cli_short_id(ctx, m->id, a),
                       cli_short_id(ctx, cli_jstr(al, "NodeID"), b), cli_jstr(al, "TaskGroup"));
            }
        } else if (strcmp(before->client, m->client) != 0) {
            const char *desc = cli_jstr(al, "ClientDescription");
            printf("    %s: Allocation \"%s\" status changed: \"%s\" -> \"%s\"%s%s%s\n",
                   cli_now(t, sizeof t), cli_short_id(ctx, m->id, a), before->client, m->client,
                   desc[0] ? " (" : "", desc, desc[0] ? ")" : "");
        }
    }

    /* Transitions to pending are not news (Nomad skips them too). */
    if (old->status[0] && strcmp(now.status, "pending") != 0 &&
        strcmp(old->status, now.status) != 0) {
        printf("    %s: Evaluation status changed: \"%s\" -> \"%s\"\n", cli_now(t, sizeof t),
               old->status, now.status);
    }
    state_free(old);
    *old = now;
}

/* Prints the end of a finished evaluation; returns the exit code. */
static int finish(const struct cli_ctx *ctx, const struct cv_json *eval)
{
    char t[64], a[64];
    const char *status = cli_jstr(eval, "Status");
    const struct cv_json *failed = cli_jget(eval, "FailedTGAllocs");
    const char *id = cli_jstr(eval, "ID");
    if (cli_jlen(failed) == 0) {
        printf("==> %s: Evaluation \"%s\" finished with status \"%s\"\n", cli_now(t, sizeof t),
               cli_short_id(ctx, id, a), status);
        return strcmp(status, "complete") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    }
    printf(
        "==> %s: Evaluation \"%s\" finished with status \"%s\" but failed to place all "
        "allocations:\n",
        cli_now(t, sizeof t), cli_short_id(ctx, id, a), status);
    const char *groups[256];
    size_t n = cli_sorted_keys(failed, groups, 256);
    for (size_t i = 0; i < n; i++) {
        const struct cv_json *metric = cli_jget(failed, groups[i]);
        int64_t count = cli_jint(metric, "CoalescedFailures") + 1;
        printf("    %s: Task Group \"%s\" (failed to place %" PRId64 " allocation%s):\n",
               cli_now(t, sizeof t), groups[i], count, count > 1 ? "s" : "");
        cli_print_alloc_metrics(stdout, metric, "      ");
    }
    const char *blocked = cli_jstr(eval, "BlockedEval");
    if (blocked[0]) {
        printf("    %s: Evaluation \"%s\" waiting for additional capacity to place remainder\n",
               cli_now(t, sizeof t), cli_short_id(ctx, blocked, a));
    }
    return CLI_EXIT_PLACEMENT;
}

int cli_monitor_eval(const struct cli_ctx *ctx, const char *eval_id, int64_t timeout_ns)
{
    int64_t deadline = now_ns() + timeout_ns;
    char id[128];
    snprintf(id, sizeof id, "%s", eval_id);
    char t[64], a[64];
    printf("==> %s: Monitoring evaluation \"%s\"\n", cli_now(t, sizeof t),
           cli_short_id(ctx, id, a));
    fflush(stdout);

    struct mon_state state = {0};
    uint64_t index = 0;
    int rc = CLI_EXIT_FAILURE;
    for (;;) {
        int64_t left_ms = (deadline - now_ns()) / 1000000;
        if (left_ms <= 0) {
            fprintf(stderr, "Error: timed out waiting for evaluation \"%s\" (still \"%s\")\n",
                    cli_short_id(ctx, id, a), state.status[0] ? state.status : "unknown");
            break;
        }
        int wait_ms = left_ms < MONITOR_MAX_WAIT_MS ? (int)left_ms : MONITOR_MAX_WAIT_MS;
        char *esc = cli_http_escape(id);
        struct cv_buf path = CV_BUF_INIT;
        cv_buf_appendf(&path, "/v1/evaluation/%s", esc);
        struct cli_reply ev, al;
        int err =
            index ? cli_api_block(ctx, "reading evaluation", cv_buf_str(&path), index, wait_ms, &ev)
                  : cli_api_get(ctx, "reading evaluation", cv_buf_str(&path), &ev);
        if (err == 0) {
            cv_buf_appendf(&path, "/allocations");
            err = cli_api_get(ctx, "reading allocations", cv_buf_str(&path), &al);
            if (err != 0) {
                cli_reply_free(&ev);
            }
        }
        cv_free(esc);
        cv_buf_free(&path);
        if (err != 0) {
            break;
        }
        index = ev.index > index ? ev.index : index;
        update(ctx, &state, ev.root, al.root);
        const char *status = cli_jstr(ev.root, "Status");
        bool done = strcmp(status, "complete") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0 || strcmp(status, "cancelled") == 0;
        bool blocked = strcmp(status, "blocked") == 0;
        char next[128];
        snprintf(next, sizeof next, "%s", cli_jstr(ev.root, "NextEval"));
        if (done) {
            rc = finish(ctx, ev.root);
        } else if (blocked) {
            printf("==> %s: Evaluation \"%s\" is blocked, waiting for additional capacity\n",
                   cli_now(t, sizeof t), cli_short_id(ctx, id, a));
            rc = CLI_EXIT_PLACEMENT;
        }
        cli_reply_free(&al);
        cli_reply_free(&ev);
        fflush(stdout);
        if (blocked) {
            break;
        }
        if (done && !next[0]) {
            break;
        }
        if (done) {
            printf("==> %s: Monitoring next evaluation \"%s\"\n", cli_now(t, sizeof t),
                   cli_short_id(ctx, next, a));
            snprintf(id, sizeof id, "%s", next);
            state_free(&state);
            index = 0;
        }
    }
    state_free(&state);
    return rc;
}
