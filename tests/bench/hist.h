/* A latency histogram in the manner of HdrHistogram: log-linear buckets.
 *
 * Values (nanoseconds) below 128 have a bucket each; above, every power of
 * two is split into 64 equal buckets, so a recorded value is known to
 * within 1/64 (1.6%) of itself, from 1 ns to 2^64 ns, in 3,776 counters.
 * Recording is one shift and an increment; histograms of several threads
 * are merged after the run.
 *
 * Coordinated omission. A closed-loop generator waits for a reply before
 * it sends again, so a stall of the server delays the sends that would
 * have seen it, and the stall is recorded once instead of for every send
 * it held up. An open-loop run fixes the time of every send in advance
 * (start + i * interval) and measures from that intended time, so the
 * queueing behind a stall is counted (histRecord of now - intended). For
 * a run that cannot schedule its sends, histRecordCorrected adds the
 * samples that were held back, as HdrHistogram's recordValueWithExpected-
 * Interval does. */
#ifndef QRAFT_BENCH_HIST_H
#define QRAFT_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)           /* 128 */
#define HIST_HALF (HIST_SUB / 2)                 /* 64 */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_HALF + HIST_HALF) /* 3776 */

struct hist
{
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;   /* values recorded */
    uint64_t max; /* largest value recorded, exact */
    uint64_t min; /* smallest, exact; UINT64_MAX when empty */
    double sum;   /* for the mean */
};

/* An empty histogram. */
void histInit(struct hist *h);

/* Record one value (ns). */
void histRecord(struct hist *h, uint64_t v);

/* Record @v and, when it exceeds @interval (the expected time between two
 * sends), the values v - interval, v - 2 * interval, ... down to interval:
 * the sends a closed loop held back during the stall. */
void histRecordCorrected(struct hist *h, uint64_t v, uint64_t interval);

/* Add every count of @from into @into. */
void histMerge(struct hist *into, const struct hist *from);

/* The value at quantile @q (0..1): the midpoint of the bucket that holds
 * it, capped at the exact max. 0 for an empty histogram. */
uint64_t histQuantile(const struct hist *h, double q);

/* Mean of the recorded values, 0 when empty. */
double histMean(const struct hist *h);

#endif /* QRAFT_BENCH_HIST_H */
