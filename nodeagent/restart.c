/*
 * restart: Nomad's restart tracker, with its reasons spelled as Nomad's.
 */
#include "nodeagent/restart.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"

#define JITTER_FRACTION 0.25

void agent_restart_init(struct agent_restart_tracker *t, const struct cv_restart_policy *policy,
                        const char *job_type, int64_t now, uint64_t seed)
{
    bool batch = job_type && (strcmp(job_type, CV_JOB_TYPE_BATCH) == 0 ||
                              strcmp(job_type, CV_JOB_TYPE_SYSBATCH) == 0);
    memset(t, 0, sizeof *t);
    /* Nomad's defaults: service 2 in 30m, batch 3 in 24h, 15s, "fail". */
    t->attempts = batch ? 3 : 2;
    t->interval = batch ? 24 * 3600 * CV_NSEC_PER_SEC : 30 * 60 * CV_NSEC_PER_SEC;
    t->delay = 15 * CV_NSEC_PER_SEC;
    if (policy) {
        if (policy->attempts != CV_UNSET && policy->attempts >= 0) {
            t->attempts = policy->attempts;
        }
        if (policy->interval != CV_UNSET && policy->interval > 0) {
            t->interval = policy->interval;
        }
        if (policy->delay != CV_UNSET && policy->delay >= 0) {
            t->delay = policy->delay;
        }
        t->mode_delay = policy->mode && strcmp(policy->mode, "delay") == 0;
    }
    t->on_success = !batch;
    t->interval_start = now;
    t->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

/* splitmix64: small, seeded, reproducible. */
static uint64_t next_rand(struct agent_restart_tracker *t)
{
    uint64_t z = (t->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t jittered_delay(struct agent_restart_tracker *t)
{
    int64_t d = t->delay > 0 ? t->delay : 1;
    int64_t r = (int64_t)(next_rand(t) % (uint64_t)d);
    return d + (int64_t)((double)r * JITTER_FRACTION);
}

void agent_restart_next(struct agent_restart_tracker *t, int64_t now, bool start_error,
                        bool recoverable, bool successful, struct agent_restart_result *out)
{
    memset(out, 0, sizeof *out);
    bool success_exit = !start_error && successful;
    if (t->attempts == 0) {
        snprintf(out->reason, sizeof out->reason, "Policy allows no restarts");
        out->decision =
            !t->on_success && success_exit ? AGENT_RESTART_TERMINATED : AGENT_RESTART_FAIL;
        return;
    }
    if (now > t->interval_start + t->interval) {
        t->count = 0;
        t->interval_start = now;
    }
    t->count++;
    if (start_error) {
        if (!recoverable) {
            snprintf(out->reason, sizeof out->reason, "Error was unrecoverable");
            out->decision = AGENT_RESTART_FAIL;
            return;
        }
    } else if (success_exit && !t->on_success) {
        snprintf(out->reason, sizeof out->reason,
                 "Restart unnecessary as task terminated successfully");
        out->decision = AGENT_RESTART_TERMINATED;
        return;
    }
    if (t->count > t->attempts) {
        if (!t->mode_delay) {
            char d[32];
            snprintf(out->reason, sizeof out->reason,
                     "Exceeded allowed attempts %lld in interval %s and mode is \"fail\"",
                     (long long)t->attempts, agent_fmt_duration(t->interval, d, sizeof d));
            out->decision = AGENT_RESTART_FAIL;
            return;
        }
        snprintf(out->reason, sizeof out->reason, "Exceeded allowed attempts, applying a delay");
        out->decision = AGENT_RESTART_RESTART;
        out->delay = t->interval_start + t->interval - now;
        if (out->delay < 0) {
            out->delay = 0;
        }
        return;
    }
    snprintf(out->reason, sizeof out->reason, "Restart within policy");
    out->decision = AGENT_RESTART_RESTART;
    out->delay = jittered_delay(t);
}

/* Go's fmtFrac/fmtInt: v with `prec` decimal places, trailing zeros and a
 * trailing point dropped. */
static void frac(char *buf, size_t size, uint64_t v, int prec, const char *unit)
{
    uint64_t p = 1;
    for (int i = 0; i < prec; i++) {
        p *= 10;
    }
    uint64_t whole = v / p, f = v % p;
    if (f == 0) {
        snprintf(buf, size, "%llu%s", (unsigned long long)whole, unit);
        return;
    }
    char digits[24];
    snprintf(digits, sizeof digits, "%0*llu", prec, (unsigned long long)f);
    size_t n = strlen(digits);
    while (n > 0 && digits[n - 1] == '0') {
        digits[--n] = '\0';
    }
    snprintf(buf, size, "%llu.%s%s", (unsigned long long)whole, digits, unit);
}

const char *agent_fmt_duration(int64_t d, char *buf, size_t size)
{
    const char *sign = d < 0 ? "-" : "";
    uint64_t u = d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;
    char tmp[64];
    if (u == 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    if (u < 1000) {
        snprintf(tmp, sizeof tmp, "%lluns", (unsigned long long)u);
    } else if (u < 1000000) {
        frac(tmp, sizeof tmp, u, 3, "µs");
    } else if (u < 1000000000) {
        frac(tmp, sizeof tmp, u, 6, "ms");
    } else {
        uint64_t secs = u / 1000000000, ns = u % 1000000000;
        uint64_t h = secs / 3600, m = (secs / 60) % 60;
        char s[32];
        frac(s, sizeof s, (secs % 60) * 1000000000 + ns, 9, "s");
        if (h > 0) {
            snprintf(tmp, sizeof tmp, "%lluh%llum%s", (unsigned long long)h, (unsigned long long)m,
                     s);
        } else if (m > 0) {
            snprintf(tmp, sizeof tmp, "%llum%s", (unsigned long long)m, s);
        } else {
            snprintf(tmp, sizeof tmp, "%s", s);
        }
    }
    snprintf(buf, size, "%s%s", sign, tmp);
    return buf;
}
