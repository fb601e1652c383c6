/* fail_alloc.h - allocation-failure injection for unit tests.
 *
 * A test binary linked with fail_alloc.c and the linker's
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 *         --wrap=strndup,--wrap=posix_memalign,--wrap=aligned_alloc
 * (FAIL_ALLOC_LDFLAGS in the Makefile) sends every such call made by the
 * objects it links (the test and libqvl.a) through counting wrappers. After
 * fail_alloc_arm(n) the n-th counted allocation returns NULL (ENOMEM), once;
 * every other one succeeds. Allocations inside shared libraries (glibc's own,
 * jansson, libjpeg, libpng, libwebp, OpenBLAS) are not seen.
 *
 * Thread-safe: the count is atomic, so allocations on pool threads count
 * too (in whatever order the threads make them).
 *
 * Usage, a sweep over every failure point of an operation:
 *     for (long n = 1;; n++) {
 *         fail_alloc_arm(n);
 *         int rc = operation();
 *         fail_alloc_disarm();
 *         if (!fail_alloc_fired()) break;   // the operation needs < n allocations: done
 *         CHECK(rc != 0);                   // it noticed the failure
 *     }
 */
#ifndef QVL_FAIL_ALLOC_H
#define QVL_FAIL_ALLOC_H

#include <stdbool.h>

/* Restarts the count; the n-th allocation from now fails (n >= 1). */
void fail_alloc_arm(long n);

/* Restarts the count; no allocation fails (the count still runs). */
void fail_alloc_disarm(void);

/* Allocations counted since the last arm or disarm. */
long fail_alloc_count(void);

/* Whether the armed failure has happened since the last fail_alloc_arm. */
bool fail_alloc_fired(void);

/* The distinct call sites (return addresses) of the allocations counted
 * since the last arm or disarm, in order of first use: first[i] receives
 * the number (as fail_alloc_arm counts) of site i's first allocation, for
 * up to max sites. Returns how many sites there were. A sweep too long to
 * fail every allocation can still fail each site once. */
long fail_alloc_sites(long *first, long max);

#endif
