/*
 * clock: the system clock and the manual clock used by tests.
 */
#include "common/clock.h"

#include <stddef.h>
#include <time.h>

static uint64_t system_monotonic_ns(const struct cv_clock *clock)
{
    (void)clock;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * (uint64_t)CV_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int64_t system_wall_ns(const struct cv_clock *clock)
{
    (void)clock;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CV_NSEC_PER_SEC + (int64_t)ts.tv_nsec;
}

static const struct cv_clock system_clock = {system_monotonic_ns, system_wall_ns};

const struct cv_clock *cv_clock_system(void)
{
    return &system_clock;
}

/* The manual clock is the first member of cv_manual_clock, so the
 * containing struct is recovered by a cast. */
static uint64_t manual_monotonic_ns(const struct cv_clock *clock)
{
    const struct cv_manual_clock *m = (const struct cv_manual_clock *)clock;
    return m->monotonic;
}

static int64_t manual_wall_ns(const struct cv_clock *clock)
{
    const struct cv_manual_clock *m = (const struct cv_manual_clock *)clock;
    return m->wall;
}

void cv_manual_clock_init(struct cv_manual_clock *m, uint64_t monotonic_ns, int64_t wall_ns)
{
    m->clock.monotonic_ns = manual_monotonic_ns;
    m->clock.wall_ns = manual_wall_ns;
    m->monotonic = monotonic_ns;
    m->wall = wall_ns;
}

void cv_manual_clock_advance(struct cv_manual_clock *m, uint64_t delta_ns)
{
    m->monotonic += delta_ns;
    m->wall += (int64_t)delta_ns;
}

void cv_manual_clock_set_wall(struct cv_manual_clock *m, int64_t wall_ns)
{
    m->wall = wall_ns;
}
