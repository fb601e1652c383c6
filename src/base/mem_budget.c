/* mem_budget.c - see mem_budget.h. The counter is a mutex-guarded integer:
 * reservations happen once per request, so contention is no concern. */
#include "base/mem_budget.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct mem_budget {
    pthread_mutex_t mu;
    uint64_t limit, base, reserved, waits;
};

int mem_size_parse(const char *text, uint64_t *bytes, qvl_error *err) {
    *bytes = 0;
    if (!text || !strcasecmp(text, "off")) return 0;
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (end == text || errno || !(v >= 0) || isspace((unsigned char)*text))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "memory size '%s': give bytes or a number with K, M, G or T "
                             "(e.g. 6G, 512M), or off", text);
    double unit = 1;
    const char *units = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        unit = pow(1024, (double)(u - units + 1));
        end++;
        if (*end == 'i' || *end == 'I') end++;
    }
    if (*end == 'b' || *end == 'B') end++;
    if (*end || v * unit > 1e18)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "memory size '%s': give bytes or a number with K, M, G or T "
                             "(e.g. 6G, 512M), or off", text);
    *bytes = (uint64_t)(v * unit);
    return 0;
}

int mem_limit_from_setting(const char *setting, uint64_t *bytes, qvl_error *err) {
    if (setting && strcasecmp(setting, "auto") != 0) return mem_size_parse(setting, bytes, err);
    *bytes = (uint64_t)(MEM_AUTO_SHARE * (double)mem_system_bytes());
    return 0;
}

char *mem_size_text(uint64_t bytes, char buf[24]) {
    if (bytes >= 1ull << 30) snprintf(buf, 24, "%.1f GiB", bytes / 1073741824.0);
    else if (bytes >= 1ull << 20) snprintf(buf, 24, "%.1f MiB", bytes / 1048576.0);
    else snprintf(buf, 24, "%.0f KiB", bytes / 1024.0);
    return buf;
}

uint64_t mem_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f) fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

/* The first number in a file, or 0 ("max", missing, unreadable). */
static uint64_t read_number(const char *path) {
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (f && fscanf(f, "%llu", &v) != 1) v = 0;
    if (f) fclose(f);
    return v;
}

/* The limit of this process's memory cgroup, or 0 for none. v1 reports
 * "no limit" as a huge number, which the min in mem_system_bytes drops. */
static uint64_t cgroup_limit(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[1024], path[1200];
    uint64_t limit = 0;
    while (!limit && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *ctl = strchr(line, ':'), *where = ctl ? strchr(ctl + 1, ':') : NULL;
        if (!where) continue;
        *where++ = 0;
        ctl++;
        if (!*ctl) snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", where);   /* v2 */
        else if (!strcmp(ctl, "memory")) snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
                                                  where);
        else continue;
        limit = read_number(path);
    }
    fclose(f);
    return limit;
}

static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

uint64_t mem_system_bytes(void) {
    uint64_t avail = mem_available(), cg = cgroup_limit();
    if (avail) avail += mem_rss_bytes();
    if (!avail) return cg;
    return cg && cg < avail ? cg : avail;
}

mem_budget *mem_budget_create(uint64_t limit, uint64_t base) {
    mem_budget *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->limit = limit;
    b->base = base;
    return b;
}

void mem_budget_free(mem_budget *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

uint64_t mem_budget_limit(const mem_budget *b) { return b->limit; }
uint64_t mem_budget_base(const mem_budget *b) { return b->base; }
uint64_t mem_budget_room(const mem_budget *b) { return b->base < b->limit ? b->limit - b->base : 0; }

uint64_t mem_budget_reserved(mem_budget *b) {
    pthread_mutex_lock(&b->mu);
    uint64_t r = b->reserved;
    pthread_mutex_unlock(&b->mu);
    return r;
}

bool mem_budget_try_reserve(mem_budget *b, uint64_t bytes) {
    pthread_mutex_lock(&b->mu);
    bool ok = bytes <= mem_budget_room(b) - b->reserved;
    if (ok) b->reserved += bytes;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void mem_budget_release(mem_budget *b, uint64_t bytes) {
    pthread_mutex_lock(&b->mu);
    b->reserved = bytes < b->reserved ? b->reserved - bytes : 0;
    pthread_mutex_unlock(&b->mu);
}

void mem_budget_count_wait(mem_budget *b) {
    pthread_mutex_lock(&b->mu);
    b->waits++;
    pthread_mutex_unlock(&b->mu);
}

uint64_t mem_budget_waits(mem_budget *b) {
    pthread_mutex_lock(&b->mu);
    uint64_t w = b->waits;
    pthread_mutex_unlock(&b->mu);
    return w;
}
