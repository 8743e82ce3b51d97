/*
 * log: formats one line into a stack buffer and writes it with one fwrite.
 */
#include "common/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

static enum cv_log_level threshold = CV_LOG_INFO;
static FILE *log_sink;
static const struct cv_clock *log_clock;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cv_log_set_level(enum cv_log_level level)
{
    threshold = level;
}

enum cv_log_level cv_log_get_level(void)
{
    return threshold;
}

int cv_log_parse_level(const char *name, enum cv_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum cv_log_level)i;
            return 0;
        }
    }
    return CV_EINVAL;
}

void cv_log_set_sink(FILE *sink)
{
    log_sink = sink;
}

void cv_log_set_clock(const struct cv_clock *clock)
{
    log_clock = clock;
}

void cv_log_write(enum cv_log_level level, const char *component, const char *msg,
                  const char *details, ...)
{
    char line[2048];
    const struct cv_clock *clock = log_clock ? log_clock : cv_clock_system();
    int64_t now = cv_clock_wall_ns(clock);
    time_t secs = (time_t)(now / CV_NSEC_PER_SEC);
    int millis = (int)((now % CV_NSEC_PER_SEC) / CV_NSEC_PER_MSEC);
    struct tm tm;
    gmtime_r(&secs, &tm);

    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int w = snprintf(line + n, sizeof line - n, ".%03dZ %s %s %s", millis,
                     level_names[level <= CV_LOG_ERROR ? level : CV_LOG_ERROR], component, msg);
    n += w > 0 ? (size_t)w : 0;
    if (details[0] && n < sizeof line - 1) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, details);
        w = vsnprintf(line + n, sizeof line - n, details, ap);
        va_end(ap);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n > sizeof line - 2) {
        n = sizeof line - 2; /* truncated: keep room for the newline */
    }
    line[n++] = '\n';
    FILE *out = log_sink ? log_sink : stderr;
    fwrite(line, 1, n, out);
    fflush(out);
}
