/* Row 10, failover: SIGKILL the leader under load, time to the next
 * acknowledged send (issued after the kill), then count acknowledged sends
 * that never arrive.
 *
 * A tracked load (4 connections x 16 in flight, 256 B bodies that name
 * their sender and number) runs on its own thread. Each kill: find the
 * leader, SIGKILL it by the PID in its pid file, wait for the first
 * acknowledgement of a send issued after the kill, restart the node with
 * scripts/cluster and wait until it has caught up. Then the load stops and
 * the queue is read back (and deleted as read): every acknowledged send
 * must be there.
 *
 * Failure modes: no leader or no pid file, no acknowledgement within 30 s,
 * or a node that does not come back ends the kills early, said in the
 * note; a failed receive in the read-back is retried (bounded) and
 * counted. Lost acknowledged sends make the bench exit 2 (bench.c). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "client/qraft.h"
#include "tests/bench/bench.h"

/* What the load thread runs and fills. */
struct failoverArg
{
    struct load *l;
    struct loadResult *r;
    struct sendTrack **tracks;
};

/* The load thread: the tracked load until the stop flag. */
static void *failoverLoad(void *arg)
{
    struct failoverArg *a = arg;
    loadRun(a->l, a->r, a->tracks);
    return NULL;
}

void scenarioFailover(void)
{
    const char *queue = "bench-10";
    unsigned kills = opt.quick ? 2 : 10;
    queueFresh(queue);
    printf("  10   failover, %u leader kills under load ...\n", kills);
    fflush(stdout);
    atomic_int stop = 0;
    struct load l = {queue, 256, 4, 16, 0, 0, 0, 0, &stop, true, false, 0};
    struct loadResult r;
    struct sendTrack *tracks = NULL;
    struct failoverArg fa = {&l, &r, &tracks};
    pthread_t th;
    uint64_t load_t0 = nowNs();
    pthread_create(&th, NULL, failoverLoad, &fa);
    sleepNs(1000000000);

    struct hist h;
    histInit(&h);
    unsigned done = 0;
    char note[256] = "";
    for (unsigned k = 0; k < kills; k++) {
        int leader = leaderId();
        pid_t pid = leader > 0 ? nodePid(leader) : 0;
        if (pid <= 0) {
            snprintf(note, sizeof note, "kill %u: no leader or no pid file", k + 1);
            break;
        }
        uint64_t t = nowNs();
        loadAckWatchStart(t);
        kill(pid, SIGKILL);
        uint64_t deadline = t + 30000000000ull;
        while (loadAckFirst() == 0 && nowNs() < deadline) {
            sleepNs(1000000);
        }
        uint64_t ack = loadAckFirst();
        loadAckWatchStop();
        if (ack == 0) {
            snprintf(note, sizeof note, "kill %u: no acknowledged send within 30 s", k + 1);
            break;
        }
        histRecord(&h, ack - t);
        done++;
        printf("       kill %u: node %d at %.3f s, next ack after %.0f ms\n", k + 1, leader,
               (double)(t - load_t0) / 1e9, (double)(ack - t) / 1e6);
        fflush(stdout);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s restart %d --dir %s >/dev/null", opt.script, leader,
                 opt.dir);
        if (system(cmd) != 0 || !nodeCaughtUp(leader, 30)) {
            snprintf(note, sizeof note, "kill %u: node %d did not come back", k + 1, leader);
            break;
        }
        sleepNs(500000000);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);

    /* Read everything back: each acknowledged send must be there. */
    uint8_t **seen = calloc(l.conns, sizeof *seen);
    for (unsigned i = 0; i < l.conns; i++) {
        seen[i] = calloc(tracks[i].issued + 1, 1);
    }
    qraft_client *c;
    uint64_t dups = 0, got = 0, read_errors = 0;
    qraft_open(opt.servers, NULL, &c);
    /* A 1 s long poll, so that an empty answer means empty; a failed
     * receive is retried (bounded), never taken for the end. */
    struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 3600, 1};
    for (unsigned empties = 0, fails = 0; empties < 3 && fails < 100;) {
        struct qraft_message *m;
        size_t n;
        if (qraft_receive(c, queue, &p, &m, &n) != 0) {
            fails++;
            read_errors++;
            sleepNs(100000000);
            continue;
        }
        fails = 0;
        if (n == 0) {
            empties++;
            continue;
        }
        empties = 0;
        struct qraft_delete_entry de[QRAFT_RECEIVE_MAX];
        struct qraft_batch_result dr[QRAFT_RECEIVE_MAX];
        for (size_t i = 0; i < n; i++) {
            unsigned w;
            unsigned long long s;
            if (sscanf(m[i].body, "c%u-%llu ", &w, &s) == 2 && w < l.conns &&
                s < tracks[w].issued) {
                dups += seen[w][s];
                seen[w][s] = 1;
                got++;
            }
            de[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
        }
        /* Deleted as read: a queue holds at most 120,000 messages in
         * flight (SQS's limit), and a run can ack more than that. */
        if (qraft_delete_batch(c, queue, de, n, dr) != 0) {
            read_errors++;
        }
        qraft_messages_free(m, n);
    }
    /* What the queue says it holds, beside what was read. */
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible"};
    struct qraft_attr *qa = NULL;
    size_t n_qa = 0;
    char counts[96] = "";
    if (qraft_get_queue_attributes(c, queue, names, 2, &qa, &n_qa) == 0 && n_qa == 2) {
        snprintf(counts, sizeof counts, "; left in the queue: %s visible, %s in flight",
                 qa[0].value, qa[1].value);
    }
    qraft_attrs_free(qa, n_qa);
    qraft_close(c);
    uint64_t lost = 0, unknown = 0, acked = 0;
    unsigned ranges = 0;
    for (unsigned i = 0; i < l.conns; i++) {
        for (uint64_t s = 0; s < tracks[i].issued; s++) {
            if (tracks[i].outcome[s] == SENT_OK) {
                acked++;
                lost += !seen[i][s];
            } else {
                unknown++;
            }
            /* Each run of lost sends, printed with when they were acked,
             * to set beside the kills above. */
            if (tracks[i].outcome[s] == SENT_OK && !seen[i][s] &&
                (s == 0 || seen[i][s - 1] || tracks[i].outcome[s - 1] != SENT_OK)) {
                uint64_t e = s;
                while (e + 1 < tracks[i].issued && tracks[i].outcome[e + 1] == SENT_OK &&
                       !seen[i][e + 1]) {
                    e++;
                }
                if (ranges++ < 20) {
                    printf("       lost: connection %u sends %llu-%llu (%llu), acked at "
                           "%.3f-%.3f s\n",
                           i, (unsigned long long)s, (unsigned long long)e,
                           (unsigned long long)(e - s + 1), tracks[i].ack_ms[s] / 1e3,
                           tracks[i].ack_ms[e] / 1e3);
                }
            }
        }
        free(seen[i]);
        free(tracks[i].outcome);
        free(tracks[i].ack_ms);
    }
    free(seen);
    free(tracks);

    struct row *row = rowAdd("10", "failover: SIGKILL the leader under load (4 x 16, 256 B)");
    row->measured = done > 0;
    row->n = done;
    row->errors = lost;
    rowLatency(row, &h);
    row->msgs_s = (double)r.ok / r.elapsed;
    snprintf(row->note, sizeof row->note,
             "%u kills; next ack median %.0f ms, max %.0f ms; %llu acked, %llu lost, %llu "
             "duplicated, %llu not acked (outcome unknown); %llu receive errors in the "
             "read-back%s%s%s",
             done, (double)histQuantile(&h, 0.5) / 1e6, (double)h.max / 1e6,
             (unsigned long long)acked, (unsigned long long)lost, (unsigned long long)dups,
             (unsigned long long)unknown, (unsigned long long)read_errors, counts,
             note[0] ? "; " : "", note);
    (void)got;
    queueDrop(queue);
}
