/*
 * driver: the driver table and the parsers drivers and the runner share
 * (durations as Go writes them, signal names as Nomad's KillSignal).
 */
#include "nodeagent/driver.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

const struct drv_ops *drv_find(const char *name)
{
    static const struct drv_ops *const all[] = {&drv_raw_exec, &drv_mock};
    if (!name) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(all[i]->name, name) == 0) {
            return all[i];
        }
    }
    return NULL;
}

static int64_t unit_ns(const char *s, size_t len)
{
    static const struct
    {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", CV_NSEC_PER_USEC},
        {"µs", CV_NSEC_PER_USEC},
        {"ms", CV_NSEC_PER_MSEC},
        {"s", CV_NSEC_PER_SEC},
        {"m", 60 * CV_NSEC_PER_SEC},
        {"h", 3600 * CV_NSEC_PER_SEC},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].name) == len && memcmp(units[i].name, s, len) == 0) {
            return units[i].ns;
        }
    }
    return 0;
}

int drv_parse_duration(const struct cv_json *v, int64_t *out_ns)
{
    if (!v) {
        return CV_EINVAL;
    }
    if (v->type == CV_JSON_NUMBER) {
        int64_t n;
        if (cv_json_int64(v, &n) != 0 || n < 0) {
            return CV_EINVAL;
        }
        *out_ns = n;
        return 0;
    }
    if (v->type != CV_JSON_STRING || v->u.string.len == 0) {
        return CV_EINVAL;
    }
    const char *s = v->u.string.ptr;
    const char *end = s + v->u.string.len;
    if (strcmp(s, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    /* Go's rule: a sequence of decimal numbers, each with an optional
     * fraction and a unit. Fractions are kept to nanoseconds. */
    double total = 0;
    while (s < end) {
        double num = 0;
        int digits = 0;
        while (s < end && *s >= '0' && *s <= '9') {
            num = num * 10 + (*s - '0');
            s++;
            digits++;
        }
        if (s < end && *s == '.') {
            s++;
            double scale = 0.1;
            while (s < end && *s >= '0' && *s <= '9') {
                num += (*s - '0') * scale;
                scale /= 10;
                s++;
                digits++;
            }
        }
        if (digits == 0) {
            return CV_EINVAL;
        }
        const char *u = s;
        while (s < end && !(*s >= '0' && *s <= '9') && *s != '.') {
            s++;
        }
        int64_t mult = unit_ns(u, (size_t)(s - u));
        if (mult == 0) {
            return CV_EINVAL;
        }
        total += num * (double)mult;
        if (total > 9.2e18) {
            return CV_ETOOBIG;
        }
    }
    *out_ns = (int64_t)total;
    return 0;
}

int drv_parse_signal(const char *name)
{
    static const struct
    {
        const char *name;
        int sig;
    } sigs[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"ALRM", SIGALRM},
        {"ABRT", SIGABRT}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    };
    if (!name) {
        return -1;
    }
    if (strncasecmp(name, "SIG", 3) == 0) {
        name += 3;
    }
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (strcasecmp(sigs[i].name, name) == 0) {
            return sigs[i].sig;
        }
    }
    return -1;
}
