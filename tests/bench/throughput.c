/* Rows 1-3: sends and drains through one queue.
 *
 * 1, 2, 2a-2d, 2o: the load generator (load.c) against a fresh queue for
 * opt.seconds: one send in flight, 16 connections x 64 in flight at
 * several body sizes, SendMessageBatch, and an open loop at half of row
 * 2's rate.
 * 3: fill a backlog with pipelined sends, then drain it with 16 consumers
 * doing receive (10) + DeleteMessageBatch.
 *
 * Failure modes: a send or receive that fails counts as an error in the
 * row; the drain is bounded in time and its note says how much of the
 * backlog it read. */
#include <stdio.h>

#include "client/qraft.h"
#include "tests/bench/bench.h"

double scenarioSend(const char *id, const char *name, size_t size, unsigned conns,
                    unsigned window, unsigned batch, double rate, const char *note)
{
    char queue[64];
    snprintf(queue, sizeof queue, "bench-%s", id);
    queueFresh(queue);
    struct load l = {queue, size,  conns, window, batch, opt.seconds,
                     0,     rate,  NULL,  false,  false, 0};
    struct loadResult r;
    printf("  %-4s %s ...\n", id, name);
    fflush(stdout);
    loadRun(&l, &r, NULL);
    struct row *row = rowAdd(id, name);
    rowFromLoad(row, &l, &r);
    snprintf(row->note, sizeof row->note, "%s", note);
    queueDrop(queue);
    return row->msgs_s;
}

/* Scenario 3: fill a backlog with pipelined sends, then drain it with
 * consumers doing receive (10) + DeleteMessageBatch. */
void scenarioDrain(void)
{
    const char *queue = "bench-3";
    uint64_t backlog = opt.quick ? 20000 : 100000;
    queueFresh(queue);
    printf("  3    receive + delete, draining %llu ...\n", (unsigned long long)backlog);
    fflush(stdout);
    struct load l = {queue, 1024, 16, 64, 0, 0, backlog / 16, 0, NULL, false, false, 0};
    struct loadResult fill;
    loadRun(&l, &fill, NULL);
    /* Every warm-up message is in the backlog too. */
    uint64_t target = fill.ok + l.conns;

    struct drainResult d;
    printf("  3    filled %llu, draining ...\n", (unsigned long long)target);
    fflush(stdout);
    double cpu0 = nodesCpuSeconds();
    drainQueue(queue, 16, target, opt.quick ? 30 : 120, &d);
    double cpu1 = nodesCpuSeconds();
    if (cpu0 >= 0 && cpu1 >= 0 && d.deleted > 0) {
        /* scripts/bench-cpu shows this line: the drain's share alone. */
        printf("  3    drain: nodes' CPU %.0f ms, %.1f us per message deleted\n",
               (cpu1 - cpu0) * 1e3, (cpu1 - cpu0) * 1e6 / (double)d.deleted);
        fflush(stdout);
    }
    struct row *row = rowAdd("3", "receive+delete 1 KiB, 16 consumers, batches of 10");
    row->measured = true;
    row->n = d.deleted;
    row->errors = d.errors;
    row->msgs_s = (double)row->n / d.elapsed;
    row->mb_s = row->msgs_s * 1024 / 1e6;
    rowLatency(row, &d.h);
    snprintf(row->note, sizeof row->note,
             "%llu of %llu drained; latency: one receive + DeleteMessageBatch; fill ran at %.0f "
             "msgs/s",
             (unsigned long long)row->n, (unsigned long long)target,
             fill.elapsed > 0 ? (double)fill.ok / fill.elapsed : 0);
    queueDrop(queue);
}
