/*
 * log: leveled, structured logging, one line per event:
 *
 *   2026-11-25T03:21:58.123Z info raft became leader term=5 peers=3
 *
 * A fixed message names what happened; details follow as key=value pairs
 * in printf form. The level check happens before any argument is formatted,
 * so a debug line in a hot path costs one comparison when debug is off.
 * Lines go to stderr unless another sink is set; each line is written with
 * one call, so lines of different threads do not interleave.
 */
#ifndef CV_LOG_H
#define CV_LOG_H

#include <stdio.h>

#include "common/clock.h"

enum cv_log_level
{
    CV_LOG_DEBUG = 0,
    CV_LOG_INFO = 1,
    CV_LOG_WARN = 2,
    CV_LOG_ERROR = 3,
};

/* Lines below `level` are dropped. Default CV_LOG_INFO. */
void cv_log_set_level(enum cv_log_level level);
enum cv_log_level cv_log_get_level(void);
/* Parses "debug", "info", "warn" or "error"; returns 0 or CV_EINVAL. */
int cv_log_parse_level(const char *name, enum cv_log_level *out);
/* Lines go to `sink` (borrowed; NULL restores stderr). */
void cv_log_set_sink(FILE *sink);
/* Timestamps come from `clock` (borrowed; NULL restores the system clock). */
void cv_log_set_clock(const struct cv_clock *clock);

/* Writes one line. `details` is a printf format for the key=value part and
 * may be "" when there are none. Use the cv_log() macro instead. */
void cv_log_write(enum cv_log_level level, const char *component, const char *msg,
                  const char *details, ...) __attribute__((format(printf, 4, 5)));

#define cv_log(level, component, msg, ...)                          \
    do {                                                            \
        if ((level) >= cv_log_get_level()) {                        \
            cv_log_write((level), (component), (msg), __VA_ARGS__); \
        }                                                           \
    } while (0)

#endif
