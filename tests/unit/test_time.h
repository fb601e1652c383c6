/* test_time.h - waiting and timing in the unit tests (src/base/clock.h is
 * the clock): tests that check deadlines and cancellation measure with
 * now_s() and pace themselves with sleep_ms(). */
#ifndef QVL_TEST_TIME_H
#define QVL_TEST_TIME_H

#include <time.h>

#include "base/clock.h"

static inline double now_s(void) { return clock_ms() / 1e3; }

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

#endif
