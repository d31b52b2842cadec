/* Rows 4-6: messages flowing through a queue.
 *
 * 4, end to end: producers (row 2's load, open loop at half of row 2's
 * measured rate) and 16 consumers (receive 10 with a 1 s long poll, then
 * DeleteMessageBatch) at once. Each body starts with its send's due time
 * ("t<ns> "); a consumer records receive time minus that time, so the
 * latency covers queueing at the producer (coordinated omission), the
 * send's replication, the wait in the queue and the receive's replication.
 *
 * 5, long poll: 1,000 consumers, one blocking libqraft client each on a
 * thread with a small stack (libqraft has no async receive), each waiting
 * in ReceiveMessage with WaitTimeSeconds 20 on one queue. First the
 * leader's CPU over an idle wait with every waiter parked; then sends one
 * at a time, spaced out: the time from the send's acknowledgement to the
 * first consumer holding the message. Then one message per waiter wakes
 * every thread, and each sees the stop flag.
 *
 * 6, FIFO: row 2's load on a FIFO queue, every send with its own
 * deduplication id, spread over 1 and over 100 message groups.
 *
 * Failure modes: a consumer's receive that fails counts as an error and
 * the consumer goes on; every loop is bounded in time; messages a row
 * could not account for are printed in its note. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/bench/bench.h"

/* ---------------------------------------------------------------------- */
/* 4: end to end                                                           */

/* One consumer of row 4. */
struct e2eConsumer
{
    const char *queue;
    atomic_int *stop;         /* producers done and everything received */
    atomic_uint_fast64_t *got; /* stamped messages received, all consumers */
    uint64_t deadline;
    uint64_t errors;
    struct hist h; /* send due time to receive */
};

/* A row 4 consumer: receive, record each stamped body's age, delete. */
static void *e2eConsumerMain(void *arg)
{
    struct e2eConsumer *cs = arg;
    qraft_client *c;
    if (qraft_open(opt.servers, NULL, &c) != 0) {
        cs->errors++;
        return NULL;
    }
    struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 600, 1};
    while (!atomic_load(cs->stop) && nowNs() < cs->deadline) {
        struct qraft_message *m;
        size_t n;
        if (qraft_receive(c, cs->queue, &p, &m, &n) != 0) {
            cs->errors++;
            continue;
        }
        uint64_t now = nowNs();
        struct qraft_delete_entry e[QRAFT_RECEIVE_MAX];
        struct qraft_batch_result res[QRAFT_RECEIVE_MAX];
        for (size_t i = 0; i < n; i++) {
            unsigned long long t;
            if (sscanf(m[i].body, "t%llu ", &t) == 1 && t <= now) {
                histRecord(&cs->h, now - t);
                atomic_fetch_add(cs->got, 1);
            }
            e[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
        }
        if (n > 0 && qraft_delete_batch(c, cs->queue, e, n, res) != 0) {
            cs->errors += n;
        }
        qraft_messages_free(m, n);
    }
    qraft_close(c);
    return NULL;
}

void scenarioEndToEnd(double row2_rate)
{
    const char *queue = "bench-4";
    enum { CONSUMERS = 16 };
    double rate = row2_rate > 0 ? row2_rate / 2 : 1000;
    queueFresh(queue);
    printf("  4    end to end at %.0f msgs/s ...\n", rate);
    fflush(stdout);

    atomic_int stop = 0;
    atomic_uint_fast64_t got = 0;
    struct e2eConsumer *cs = calloc(CONSUMERS, sizeof *cs);
    pthread_t th[CONSUMERS];
    uint64_t deadline = nowNs() + (uint64_t)((opt.seconds + 30) * 1e9);
    for (unsigned i = 0; i < CONSUMERS; i++) {
        cs[i] = (struct e2eConsumer){queue, &stop, &got, deadline, 0, {{0}}};
        histInit(&cs[i].h);
        pthread_create(&th[i], NULL, e2eConsumerMain, &cs[i]);
    }
    struct load l = {queue, 1024, 16, 64, 0, opt.seconds, 0, rate, NULL, false, true, 0};
    struct loadResult r;
    loadRun(&l, &r, NULL);
    /* Let the consumers take what is left, for at most 30 s. */
    uint64_t tail_start = nowNs();
    while (atomic_load(&got) < r.ok && nowNs() < deadline) {
        sleepNs(10000000);
    }
    double tail = (double)(nowNs() - tail_start) / 1e9;
    atomic_store(&stop, 1);
    struct hist h;
    histInit(&h);
    uint64_t errors = 0;
    for (unsigned i = 0; i < CONSUMERS; i++) {
        pthread_join(th[i], NULL);
        histMerge(&h, &cs[i].h);
        errors += cs[i].errors;
    }
    free(cs);

    struct row *row = rowAdd("4", "end to end 1 KiB, 16 x 64 open loop + 16 consumers");
    row->measured = true;
    row->n = h.n;
    row->errors = errors + r.err;
    row->msgs_s = r.elapsed > 0 ? (double)r.ok / r.elapsed : 0;
    row->mb_s = row->msgs_s * 1024 / 1e6;
    rowLatency(row, &h);
    snprintf(row->note, sizeof row->note,
             "target %.0f msgs/s (half of row 2); latency: send due time to receive; %llu sent, "
             "%llu received; consumers needed %.1f s after the producers stopped; send p50 "
             "%.3f ms",
             rate, (unsigned long long)r.ok, (unsigned long long)h.n, tail,
             (double)histQuantile(&r.h, 0.5) / 1e6);
    rowExtra(row, "\"target_msgs_per_s\": %.1f, \"sent\": %llu, \"received\": %llu", rate,
             (unsigned long long)r.ok, (unsigned long long)h.n);
    rowExtra(row, "\"consumer_tail_s\": %.2f, \"send_p50_ms\": %.4f, \"send_p99_ms\": %.4f", tail,
             (double)histQuantile(&r.h, 0.5) / 1e6, (double)histQuantile(&r.h, 0.99) / 1e6);
    queueDrop(queue);
}

/* ---------------------------------------------------------------------- */
/* 5: long poll                                                            */

#define LP_WAITERS 1000
#define LP_MAX_SENDS 200

/* State the 1,000 waiters share. */
struct longPoll
{
    const char *queue;
    atomic_int stop;
    atomic_uint started;    /* waiters that have issued their first receive */
    atomic_uint failed;     /* waiters that could not connect */
    atomic_uint_fast64_t errors;
    /* First time a consumer held message i ("lp<i>"), 0: not yet. */
    atomic_uint_fast64_t held[LP_MAX_SENDS];
};

/* A row 5 waiter: long polls until the stop flag, noting the first time
 * each numbered message is held. */
static void *lpWaiterMain(void *arg)
{
    struct longPoll *lp = arg;
    qraft_client *c;
    if (qraft_open(opt.servers, NULL, &c) != 0) {
        atomic_fetch_add(&lp->failed, 1);
        return NULL;
    }
    struct qraft_receive_params p = {1, 600, QRAFT_WAIT_MAX};
    bool first = true;
    /* At most one receive per second of the scenario's bound, and the
     * stop flag ends it after the wait in progress (at most 20 s). */
    uint64_t deadline = nowNs() + 300000000000ull;
    while (!atomic_load(&lp->stop) && nowNs() < deadline) {
        struct qraft_message *m;
        size_t n;
        if (first) {
            atomic_fetch_add(&lp->started, 1);
            first = false;
        }
        if (qraft_receive(c, lp->queue, &p, &m, &n) != 0) {
            atomic_fetch_add(&lp->errors, 1);
            sleepNs(100000000);
            continue;
        }
        uint64_t now = nowNs();
        for (size_t i = 0; i < n; i++) {
            unsigned idx;
            if (sscanf(m[i].body, "lp%u", &idx) == 1 && idx < LP_MAX_SENDS) {
                uint_fast64_t zero = 0;
                atomic_compare_exchange_strong(&lp->held[idx], &zero, now);
            }
            qraft_delete(c, lp->queue, m[i].receipt);
        }
        qraft_messages_free(m, n);
    }
    qraft_close(c);
    return NULL;
}

void scenarioLongPoll(void)
{
    const char *queue = "bench-5";
    unsigned sends = opt.quick ? 30 : LP_MAX_SENDS;
    double idle_s = opt.quick ? 3 : 10;
    queueFresh(queue);
    printf("  5    long poll, %d waiters ...\n", LP_WAITERS);
    fflush(stdout);

    /* Two descriptors a waiter at most (its socket, and a spare). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * LP_WAITERS + 256) {
        rl.rlim_cur = rl.rlim_max < 2 * LP_WAITERS + 256 ? rl.rlim_max : 2 * LP_WAITERS + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct longPoll *lp = calloc(1, sizeof *lp);
    lp->queue = queue;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t *th = calloc(LP_WAITERS, sizeof *th);
    unsigned n_threads = 0;
    uint64_t t_start = nowNs();
    for (unsigned i = 0; i < LP_WAITERS; i++) {
        if (pthread_create(&th[n_threads], &attr, lpWaiterMain, lp) == 0) {
            n_threads++;
        }
    }
    pthread_attr_destroy(&attr);
    /* Every waiter has issued its receive; give the leader time to park
     * them all (each park is one replicated command answering WouldWait). */
    uint64_t limit = nowNs() + 60000000000ull;
    while (atomic_load(&lp->started) + atomic_load(&lp->failed) < n_threads && nowNs() < limit) {
        sleepNs(10000000);
    }
    double connect_s = (double)(nowNs() - t_start) / 1e9;
    sleepNs(opt.quick ? 1500000000ull : 3000000000ull);

    /* The leader's CPU while every waiter is parked and nothing happens. */
    int leader = leaderId();
    int pid = leader > 0 ? nodePid(leader) : 0;
    double cpu0 = pid > 0 ? procCpuSeconds(pid) : -1;
    uint64_t t0 = nowNs();
    sleepNs((uint64_t)(idle_s * 1e9));
    double cpu1 = pid > 0 ? procCpuSeconds(pid) : -1;
    double idle_s_real = (double)(nowNs() - t0) / 1e9;
    double idle_cpu = cpu0 >= 0 && cpu1 >= 0 ? 100.0 * (cpu1 - cpu0) / idle_s_real : -1;

    /* Sends spaced out: each waits for a consumer to hold its message (at
     * most 2 s), then 20 ms more. */
    struct hist h, from_issue;
    histInit(&h);
    histInit(&from_issue);
    uint64_t send_errors = 0, missed = 0, before_ack = 0;
    for (unsigned i = 0; i < sends; i++) {
        char body[32];
        int len = snprintf(body, sizeof body, "lp%u", i);
        uint64_t issued = nowNs();
        if (qraft_send(admin, queue, body, (size_t)len, NULL, NULL) != 0) {
            send_errors++;
            continue;
        }
        uint64_t acked = nowNs();
        uint64_t wait_until = acked + 2000000000ull;
        while (atomic_load(&lp->held[i]) == 0 && nowNs() < wait_until) {
            sleepNs(200000);
        }
        uint64_t held = atomic_load(&lp->held[i]);
        if (held == 0) {
            missed++;
        } else {
            /* A consumer may hold it before the producer has read its
             * acknowledgement: then the time from the ack is 0. */
            before_ack += held < acked;
            histRecord(&h, held > acked ? held - acked : 0);
            histRecord(&from_issue, held - issued);
        }
        sleepNs(20000000);
    }

    /* Wake every waiter: one message each; each sees the stop flag. */
    atomic_store(&lp->stop, 1);
    for (unsigned i = 0; i < n_threads; i += QRAFT_BATCH_MAX) {
        struct qraft_send_entry e[QRAFT_BATCH_MAX];
        struct qraft_batch_result res[QRAFT_BATCH_MAX];
        for (unsigned j = 0; j < QRAFT_BATCH_MAX; j++) {
            e[j] = (struct qraft_send_entry){NULL, "stop", 4, NULL};
        }
        qraft_send_batch(admin, queue, e, QRAFT_BATCH_MAX, res);
    }
    for (unsigned i = 0; i < n_threads; i++) {
        pthread_join(th[i], NULL);
    }
    free(th);

    struct row *row = rowAdd("5", "long poll: 1,000 waiters, ack to first consumer holding it");
    row->measured = h.n > 0;
    row->n = h.n;
    row->errors = send_errors + missed + atomic_load(&lp->errors) + atomic_load(&lp->failed);
    rowLatency(row, &h);
    snprintf(row->note, sizeof row->note,
             "%u waiters (%u could not connect, all up in %.1f s); leader CPU idle with them "
             "parked: %.1f%% of a core over %.0f s; %u sends spaced out, %llu not held within "
             "2 s; from the send's issue: p50 %.3f ms, p99 %.3f ms",
             n_threads, atomic_load(&lp->failed), connect_s, idle_cpu, idle_s, sends,
             (unsigned long long)missed, (double)histQuantile(&from_issue, 0.5) / 1e6,
             (double)histQuantile(&from_issue, 0.99) / 1e6);
    rowExtra(row, "\"waiters\": %u, \"leader_idle_cpu_percent\": %.2f, \"idle_window_s\": %.0f",
             n_threads, idle_cpu, idle_s);
    rowExtra(row, "\"sends\": %u, \"not_held\": %llu, \"held_before_ack\": %llu", sends,
             (unsigned long long)missed, (unsigned long long)before_ack);
    rowExtra(row, "\"from_issue_p50_ms\": %.4f, \"from_issue_p99_ms\": %.4f",
             (double)histQuantile(&from_issue, 0.5) / 1e6,
             (double)histQuantile(&from_issue, 0.99) / 1e6);
    free(lp);
    queueDrop(queue);
}

/* ---------------------------------------------------------------------- */
/* 6: FIFO                                                                 */

/* One FIFO row: row 2's load over @groups message groups. */
static void fifoRow(const char *id, const char *queue, unsigned groups)
{
    char name[96];
    snprintf(name, sizeof name, "FIFO send 1 KiB, 16 x 64 in flight, %u group%s", groups,
             groups == 1 ? "" : "s");
    queueFreshFifo(queue);
    printf("  %-4s %s ...\n", id, name);
    fflush(stdout);
    struct load l = {queue, 1024, 16, 64, 0, opt.seconds, 0, 0, NULL, false, false, groups};
    struct loadResult r;
    loadRun(&l, &r, NULL);
    struct row *row = rowAdd(id, name);
    rowFromLoad(row, &l, &r);
    snprintf(row->note, sizeof row->note,
             "every send with its own MessageDeduplicationId; groups round-robin");
    queueDrop(queue);
}

void scenarioFifo(void)
{
    fifoRow("6", "bench-6a.fifo", 1);
    fifoRow("6b", "bench-6b.fifo", 100);
}
