/* Log-linear latency histogram: see hist.h. */
#include "tests/bench/hist.h"

#include <string.h>

/* Bucket of a value: below 128 the value itself; above, with e = msb - 6,
 * e * 64 + (v >> e), where v >> e is in [64, 128). */
static unsigned histIndex(uint64_t v)
{
    if (v < HIST_SUB) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - (HIST_SUB_BITS - 1);
    return e * HIST_HALF + (unsigned)(v >> e);
}

/* Midpoint of bucket @i. */
static uint64_t histValue(unsigned i)
{
    if (i < HIST_SUB) {
        return i;
    }
    unsigned e = i / HIST_HALF - 1;
    uint64_t m = i - e * HIST_HALF;
    uint64_t lo = m << e;
    return lo + ((1ull << e) >> 1);
}

void histInit(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void histRecord(struct hist *h, uint64_t v)
{
    h->counts[histIndex(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max) {
        h->max = v;
    }
    if (v < h->min) {
        h->min = v;
    }
}

void histRecordCorrected(struct hist *h, uint64_t v, uint64_t interval)
{
    histRecord(h, v);
    if (interval == 0) {
        return;
    }
    for (uint64_t missing = v; missing > interval;) {
        missing -= interval;
        histRecord(h, missing);
    }
}

void histMerge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        into->counts[i] += from->counts[i];
    }
    into->n += from->n;
    into->sum += from->sum;
    if (from->max > into->max) {
        into->max = from->max;
    }
    if (from->min < into->min) {
        into->min = from->min;
    }
}

uint64_t histQuantile(const struct hist *h, double q)
{
    if (h->n == 0) {
        return 0;
    }
    if (q >= 1.0) {
        return h->max;
    }
    /* The rank of the value wanted, 1-based: the smallest value that at
     * least q of the values are at or below. */
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = histValue(i);
            return v > h->max ? h->max : (v < h->min ? h->min : v);
        }
    }
    return h->max;
}

double histMean(const struct hist *h)
{
    return h->n ? h->sum / (double)h->n : 0.0;
}
