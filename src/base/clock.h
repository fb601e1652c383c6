/* clock.h - the one clock qvl measures durations and deadlines with. */
#ifndef QVL_CLOCK_H
#define QVL_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock: only differences mean anything, and
 * they are immune to the wall clock being set. Cannot fail. */
static inline double clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
