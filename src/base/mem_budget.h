/* mem_budget.h - the memory budget of --max-memory: sizes written as text,
 * what the process and its machine (or container) hold, and the bytes
 * promised to work in progress.
 *
 * The budget is a promise kept by counting, not by measuring: the process
 * holds `base` bytes that stay (weights, caches sized at start) and running
 * work reserves, before it starts, an upper bound of what it will allocate.
 * Work that does not fit waits or is refused, so the kernel's OOM killer
 * never has to choose. What the counting cannot see (allocator slack,
 * libraries' own caches) is what the margin between the budget and the
 * service's MemoryMax is for (docs/deploy.md).
 *
 * Promises: reserved never exceeds limit - base (a reservation that would
 * pass it fails and changes nothing); releasing never makes it negative;
 * every call is thread-safe.
 */
#ifndef QVL_MEM_BUDGET_H
#define QVL_MEM_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* Parses "6G", "512M", "1.5G", "64k", "123456" (bytes; suffixes K/M/G/T,
 * powers of 1024, an optional trailing B/iB) or "off"/"0" (0: no budget).
 * "auto" is the caller's to handle. Returns 0, or -1 with err set
 * (QVL_E_BAD_INPUT naming the text). */
int mem_size_parse(const char *text, uint64_t *bytes, qvl_error *err);

/* The share of the memory this process may use (mem_system_bytes) that
 * "auto" budgets: the rest is left for what the counting does not see. */
#define MEM_AUTO_SHARE 0.9

/* A --max-memory setting to bytes: "auto" (or NULL) is MEM_AUTO_SHARE of
 * mem_system_bytes() now (0, no budget, when that cannot be read), else as
 * mem_size_parse. Returns 0, or -1 with err set. */
int mem_limit_from_setting(const char *setting, uint64_t *bytes, qvl_error *err);

/* bytes as "3.1 GiB", "512.0 MiB", "900 KiB" (powers of 1024, as
 * mem_size_parse and systemd's MemoryMax read "G" and "M") into buf.
 * Returns buf. Cannot fail. */
char *mem_size_text(uint64_t bytes, char buf[24]);

/* The process's resident memory now (/proc/self/statm), or 0 when it
 * cannot be read. */
uint64_t mem_rss_bytes(void);

/* The memory this process may use in all: the smaller of its cgroup's
 * limit (systemd MemoryMax, docker --memory; v2 memory.max or v1
 * memory.limit_in_bytes) and MemAvailable plus what it holds already.
 * 0 when neither can be read. */
uint64_t mem_system_bytes(void);

typedef struct mem_budget mem_budget;

/* A budget of limit bytes of which base are held for good. NULL when out of
 * memory. */
mem_budget *mem_budget_create(uint64_t limit, uint64_t base);
void mem_budget_free(mem_budget *b);

uint64_t mem_budget_limit(const mem_budget *b);
uint64_t mem_budget_base(const mem_budget *b);
uint64_t mem_budget_reserved(mem_budget *b);

/* The most any one piece of work can ever reserve: limit - base (0 when
 * base passes limit). */
uint64_t mem_budget_room(const mem_budget *b);

/* Reserves bytes when they fit beside what is reserved now: true, or false
 * with nothing changed. */
bool mem_budget_try_reserve(mem_budget *b, uint64_t bytes);

/* Gives back bytes reserved earlier (more than is reserved clamps to 0). */
void mem_budget_release(mem_budget *b, uint64_t bytes);

/* Counts a piece of work that had to wait for memory (its caller counts
 * each piece once), and reads the count. */
void mem_budget_count_wait(mem_budget *b);
uint64_t mem_budget_waits(mem_budget *b);

#endif
