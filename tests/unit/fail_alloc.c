/* fail_alloc.c - see fail_alloc.h. The __real_* functions are the C
 * library's (or the sanitizer's) own, bound by the linker's --wrap. */
#include "fail_alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static atomic_long count, fail_at;   /* fail_at 0: never */
static atomic_bool fired;

#define MAX_SITES 4096
static pthread_mutex_t site_mu = PTHREAD_MUTEX_INITIALIZER;
static const void *site_addr[MAX_SITES];
static long site_first[MAX_SITES], n_sites;

/* Zeroes the count and the sites; fail_at is set last, so the n-th
 * allocation is counted from here. */
static void restart(long n) {
    atomic_store(&fail_at, 0);
    pthread_mutex_lock(&site_mu);
    n_sites = 0;
    pthread_mutex_unlock(&site_mu);
    atomic_store(&count, 0);
    atomic_store(&fail_at, n);
}

void fail_alloc_arm(long n) {
    atomic_store(&fired, false);
    restart(n);
}

void fail_alloc_disarm(void) { restart(0); }

long fail_alloc_count(void) { return atomic_load(&count); }

bool fail_alloc_fired(void) { return atomic_load(&fired); }

long fail_alloc_sites(long *first, long max) {
    pthread_mutex_lock(&site_mu);
    long n = n_sites;
    for (long i = 0; i < n && i < max; i++) first[i] = site_first[i];
    pthread_mutex_unlock(&site_mu);
    return n;
}

/* Counts allocation k from call site `site`; true when it is the one to
 * fail. */
static bool should_fail(const void *site) {
    long k = atomic_fetch_add(&count, 1) + 1;
    pthread_mutex_lock(&site_mu);
    long i = 0;
    while (i < n_sites && site_addr[i] != site) i++;
    if (i == n_sites && n_sites < MAX_SITES) {
        site_addr[n_sites] = site;
        site_first[n_sites++] = k;
    }
    pthread_mutex_unlock(&site_mu);
    if (k != atomic_load(&fail_at)) return false;
    atomic_store(&fired, true);
    errno = ENOMEM;
    return true;
}

#define SITE __builtin_return_address(0)

void *__wrap_malloc(size_t n) { return should_fail(SITE) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail(SITE) ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail(SITE) ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail(SITE) ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail(SITE) ? NULL : __real_strndup(s, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) {
    return should_fail(SITE) ? NULL : __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    return should_fail(SITE) ? ENOMEM : __real_posix_memalign(p, align, n);
}
