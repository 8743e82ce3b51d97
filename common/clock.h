/*
 * clock: monotonic and wall time behind an interface tests can replace.
 *
 * Logic never calls clock_gettime() or time() itself: it asks a
 * `struct cv_clock`. Daemons pass cv_clock_system(); tests and simulations
 * pass a manual clock whose time moves only when the test says so.
 */
#ifndef CV_CLOCK_H
#define CV_CLOCK_H

#include <stdint.h>

#define CV_NSEC_PER_USEC ((int64_t)1000)
#define CV_NSEC_PER_MSEC ((int64_t)1000000)
#define CV_NSEC_PER_SEC  ((int64_t)1000000000)

struct cv_clock
{
    /* Nanoseconds on a clock that never goes backwards. */
    uint64_t (*monotonic_ns)(const struct cv_clock *clock);
    /* Nanoseconds since the Unix epoch (may jump). */
    int64_t (*wall_ns)(const struct cv_clock *clock);
};

/* The process's real clocks. Returns a static, shared clock. */
const struct cv_clock *cv_clock_system(void);

static inline uint64_t cv_clock_monotonic_ns(const struct cv_clock *clock)
{
    return clock->monotonic_ns(clock);
}

static inline int64_t cv_clock_wall_ns(const struct cv_clock *clock)
{
    return clock->wall_ns(clock);
}

/* A clock that moves only when told to. Embed it and pass &m->clock. */
struct cv_manual_clock
{
    struct cv_clock clock;
    uint64_t monotonic;
    int64_t wall;
};

void cv_manual_clock_init(struct cv_manual_clock *m, uint64_t monotonic_ns, int64_t wall_ns);
/* Moves both clocks forward by delta_ns. */
void cv_manual_clock_advance(struct cv_manual_clock *m, uint64_t delta_ns);
/* Sets the wall clock alone (a jump, as NTP may make). */
void cv_manual_clock_set_wall(struct cv_manual_clock *m, int64_t wall_ns);

#endif
