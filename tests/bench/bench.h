/* The benchmark's shared parts: options, the table's rows, the machine's
 * ceilings (bench.c runs the scenarios, ceilings.c measures the machine,
 * report.c prints the table and writes the JSON). */
#ifndef QRAFT_BENCH_H
#define QRAFT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/bench/hist.h"

#define ROWS_MAX 32
#define NODES 3

/* Command-line options. */
struct benchOptions
{
    const char *servers;
    const char *dir;
    const char *script;
    const char *json;
    const char *commit;
    bool quick;
    double seconds; /* length of a timed scenario */
};
extern struct benchOptions opt;

/* One row of the table. */
struct row
{
    char id[8];
    char name[96];
    bool measured;
    double msgs_s;   /* < 0: not applicable */
    double mb_s;     /* < 0: not applicable */
    bool has_lat;    /* latency percentiles below are meaningful */
    double p50_ms, p90_ms, p99_ms, p999_ms, max_ms;
    uint64_t n;      /* operations counted */
    uint64_t errors; /* operations that did not succeed */
    char note[256];
};
extern struct row rows[ROWS_MAX];
extern unsigned n_rows;

/* The machine's ceilings, measured in the same run. */
struct ceilings
{
    struct hist fsync;
    double fsync_rate; /* appends + fdatasync per second */
    struct hist rtt;
    double best_one_ms; /* fsync p50 + 2 loopback round trips */
};
extern struct ceilings ceil_;

/* Monotonic nanoseconds. */
uint64_t nowNs(void);
/* Print "bench: ..." and exit 1. */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);

/* Measure fsync of small appends in opt.dir, and loopback round trips. */
void ceilFsync(void);
void ceilRtt(void);

/* Print the table; write opt.json. */
void printTable(void);
void writeJson(void);

#endif /* QRAFT_BENCH_H */
