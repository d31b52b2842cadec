/* Row 10, failover: SIGKILL the leader under load, time to the next
 * acknowledged send (issued after the kill), then count acknowledged sends
 * that never arrive.
 *
 * The happy path: the cluster is made fresh (stopped by scripts/cluster,
 * every node's raft/ and state/ removed, started again on the same ports;
 * see below why), then a tracked load (4 connections x 16 in flight, 256 B
 * bodies that name their sender and number) runs on its own thread. Each
 * kill: find the leader, SIGKILL it by the PID in its pid file, wait for
 * the first acknowledgement of a send issued after the kill, restart the
 * node with scripts/cluster and wait until it has caught up (the next kill
 * needs three live voters, or the next ack would wait for a restart, not a
 * failover). Then the load stops and FAILOVER_READERS consumers read the
 * queue back (deleting as they read): every acknowledged send must be
 * there.
 *
 * Why a fresh cluster: so that the row measures failover alone, the same
 * run alone or after the others. (Before snapshot markers, rows 7-9 left
 * each node with a 1.1 GB image of the backlog as its snapshot, which a
 * killed node restored, 14 s, before it replayed every entry since: it
 * was not back within 30 s, and a full run did one kill.) The row runs
 * last (bench.c), so nothing after it needs the old data.
 *
 * Bounds: the kills stop at the row's time bound (FAILOVER_KILLS_S, said
 * in the note with the number done), each wait is bounded (30 s for an
 * ack, 30 s to catch up, both cut to what is left of the bound), and the
 * read-back ends after 3 empty 1 s long polls per reader, 100 failures in
 * a row, or FAILOVER_READ_S.
 *
 * Failure modes: a cluster that does not start again, no leader or no pid
 * file, no acknowledgement in time, or a node that does not come back ends
 * the kills early, said in the note; a failed receive in the read-back is
 * retried and counted. Lost acknowledged sends make the bench exit 2
 * (bench.c); a read-back cut by its bound counts what it did not read as
 * unread, not lost, and says so. */
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

/* Time bound of the kills (s), full run and QUICK. */
#define FAILOVER_KILLS_S 60
#define FAILOVER_KILLS_QUICK_S 25
/* Time bound of the read-back (s). */
#define FAILOVER_READ_S 60
/* Consumers reading the queue back. */
#define FAILOVER_READERS 8

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

/* Run `scripts/cluster ARGS --dir DIR`, its output discarded; true if it
 * exited 0. */
static bool failoverScript(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s --dir '%s' >/dev/null 2>&1", opt.script, args, opt.dir);
    return system(cmd) == 0;
}

/* Stop the cluster, remove every node's raft/ and state/ (flags, PID files
 * and logs stay), start it again on the same ports, and reopen the admin
 * client. False, with @why, if a step failed. */
static bool failoverFreshCluster(char *why, size_t len)
{
    char cmd[1024];
    qraft_close(admin);
    admin = NULL;
    if (!failoverScript("stop")) {
        snprintf(why, len, "the cluster did not stop");
        return false;
    }
    for (int i = 1; i <= NODES; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s/node%d/raft' '%s/node%d/state'", opt.dir, i,
                 opt.dir, i);
        if (system(cmd) != 0) {
            snprintf(why, len, "node %d's data could not be removed", i);
            return false;
        }
    }
    /* start waits (30 s at most) for a leader. */
    if (!failoverScript("start")) {
        snprintf(why, len, "the fresh cluster did not start");
        return false;
    }
    if (qraft_open(opt.servers, NULL, &admin) != 0) {
        snprintf(why, len, "no client on the fresh cluster");
        return false;
    }
    return true;
}

/* Seconds (at least 1, at most @cap) left before @deadline (nowNs). */
static int failoverLeft(uint64_t deadline, int cap)
{
    uint64_t now = nowNs();
    if (now >= deadline) {
        return 1;
    }
    uint64_t s = (deadline - now + 999999999ull) / 1000000000ull;
    return s < (uint64_t)cap ? (int)s : cap;
}

/* The read-back, shared by its consumers. */
struct readBack
{
    const char *queue;
    unsigned conns;                /* connections of the load */
    const struct sendTrack *tracks;
    uint8_t **seen;                /* [conns][issued]: read back */
    pthread_mutex_t lock;          /* guards seen, dups, got */
    uint64_t deadline;             /* nowNs */
    uint64_t dups, got;
    atomic_uint_fast64_t read_errors;
    atomic_int cut;                /* a reader ended by a bound */
};

/* One reader: receive (1 s long poll, messages hidden an hour, so a second
 * delivery is a duplicate) and delete what it read, until 3 empty answers
 * in a row; a failed receive is retried, never taken for the end. */
static void *readBackMain(void *arg)
{
    struct readBack *rb = arg;
    qraft_client *c;
    if (qraft_open(opt.servers, NULL, &c) != 0) {
        atomic_store(&rb->cut, 1);
        return NULL;
    }
    struct qraft_receive_params p = {QRAFT_RECEIVE_MAX, 3600, 1};
    unsigned empties = 0, fails = 0;
    while (empties < 3) {
        if (fails >= 100 || nowNs() >= rb->deadline) {
            atomic_store(&rb->cut, 1);
            break;
        }
        struct qraft_message *m;
        size_t n;
        if (qraft_receive(c, rb->queue, &p, &m, &n) != 0) {
            fails++;
            atomic_fetch_add(&rb->read_errors, 1);
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
        pthread_mutex_lock(&rb->lock);
        for (size_t i = 0; i < n; i++) {
            unsigned w;
            unsigned long long s;
            if (sscanf(m[i].body, "c%u-%llu ", &w, &s) == 2 && w < rb->conns &&
                s < rb->tracks[w].issued) {
                rb->dups += rb->seen[w][s];
                rb->seen[w][s] = 1;
                rb->got++;
            }
            de[i] = (struct qraft_delete_entry){NULL, m[i].receipt};
        }
        pthread_mutex_unlock(&rb->lock);
        /* Deleted as read: a queue holds at most 120,000 messages in
         * flight (SQS's limit), and a run can ack more than that. */
        if (qraft_delete_batch(c, rb->queue, de, n, dr) != 0) {
            atomic_fetch_add(&rb->read_errors, 1);
        }
        qraft_messages_free(m, n);
    }
    qraft_close(c);
    return NULL;
}

void scenarioFailover(void)
{
    const char *queue = "bench-10";
    unsigned kills = opt.quick ? 1 : 10; /* QUICK stays under 2 minutes */
    char note[256] = "";
    printf("  10   failover, %u leader kills under load (on a fresh cluster) ...\n", kills);
    fflush(stdout);
    uint64_t fresh_t0 = nowNs();
    if (!failoverFreshCluster(note, sizeof note)) {
        struct row *row = rowAdd("10", "failover: SIGKILL the leader under load (4 x 16, 256 B)");
        snprintf(row->note, sizeof row->note, "not run: %s", note);
        return;
    }
    double fresh_s = (double)(nowNs() - fresh_t0) / 1e9;
    queueFresh(queue);
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
    uint64_t kills_t0 = nowNs();
    uint64_t kills_end = kills_t0 +
                         (uint64_t)(opt.quick ? FAILOVER_KILLS_QUICK_S : FAILOVER_KILLS_S) *
                             1000000000ull;
    double back_max_s = 0;
    for (unsigned k = 0; k < kills; k++) {
        if (nowNs() >= kills_end) {
            snprintf(note, sizeof note, "the row's bound (%d s) ended the kills",
                     opt.quick ? FAILOVER_KILLS_QUICK_S : FAILOVER_KILLS_S);
            break;
        }
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
        char cmd[64];
        snprintf(cmd, sizeof cmd, "restart %d", leader);
        bool back = failoverScript(cmd) && nodeCaughtUp(leader, failoverLeft(kills_end, 30));
        double back_s = (double)(nowNs() - ack) / 1e9;
        back_max_s = back_s > back_max_s ? back_s : back_max_s;
        printf("       kill %u: node %d at %.3f s, next ack after %.0f ms, restarted and caught "
               "up %.1f s later\n",
               k + 1, leader, (double)(t - load_t0) / 1e9, (double)(ack - t) / 1e6, back_s);
        fflush(stdout);
        if (!back) {
            snprintf(note, sizeof note, "kill %u: node %d not back and caught up within %.0f s",
                     k + 1, leader, back_s);
            break;
        }
        sleepNs(500000000);
    }
    double kills_s = (double)(nowNs() - kills_t0) / 1e9;
    atomic_store(&stop, 1);
    pthread_join(th, NULL);

    /* Read everything back: each acknowledged send must be there. */
    uint64_t read_t0 = nowNs();
    struct readBack rb = {.queue = queue, .conns = l.conns, .tracks = tracks,
                          .deadline = read_t0 + FAILOVER_READ_S * 1000000000ull};
    pthread_mutex_init(&rb.lock, NULL);
    rb.seen = calloc(l.conns, sizeof *rb.seen);
    for (unsigned i = 0; i < l.conns; i++) {
        rb.seen[i] = calloc(tracks[i].issued + 1, 1);
    }
    pthread_t readers[FAILOVER_READERS];
    for (unsigned i = 0; i < FAILOVER_READERS; i++) {
        pthread_create(&readers[i], NULL, readBackMain, &rb);
    }
    for (unsigned i = 0; i < FAILOVER_READERS; i++) {
        pthread_join(readers[i], NULL);
    }
    pthread_mutex_destroy(&rb.lock);
    double read_s = (double)(nowNs() - read_t0) / 1e9;
    bool cut = atomic_load(&rb.cut) != 0;
    uint8_t **seen = rb.seen;

    /* What the queue says it holds, beside what was read. */
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible"};
    struct qraft_attr *qa = NULL;
    size_t n_qa = 0;
    char counts[96] = "";
    if (qraft_get_queue_attributes(admin, queue, names, 2, &qa, &n_qa) == 0 && n_qa == 2) {
        snprintf(counts, sizeof counts, "; left in the queue: %s visible, %s in flight",
                 qa[0].value, qa[1].value);
    }
    qraft_attrs_free(qa, n_qa);
    uint64_t missing = 0, unknown = 0, acked = 0;
    unsigned ranges = 0;
    for (unsigned i = 0; i < l.conns; i++) {
        for (uint64_t s = 0; s < tracks[i].issued; s++) {
            if (tracks[i].outcome[s] == SENT_OK) {
                acked++;
                missing += !seen[i][s];
            } else {
                unknown++;
            }
            /* Each run of missing sends, printed with when they were
             * acked, to set beside the kills above. */
            if (tracks[i].outcome[s] == SENT_OK && !seen[i][s] &&
                (s == 0 || seen[i][s - 1] || tracks[i].outcome[s - 1] != SENT_OK)) {
                uint64_t e = s;
                while (e + 1 < tracks[i].issued && tracks[i].outcome[e + 1] == SENT_OK &&
                       !seen[i][e + 1]) {
                    e++;
                }
                if (ranges++ < 20) {
                    printf("       %s: connection %u sends %llu-%llu (%llu), acked at "
                           "%.3f-%.3f s\n",
                           cut ? "unread" : "lost", i, (unsigned long long)s,
                           (unsigned long long)e, (unsigned long long)(e - s + 1),
                           tracks[i].ack_ms[s] / 1e3, tracks[i].ack_ms[e] / 1e3);
                }
            }
        }
        free(seen[i]);
        free(tracks[i].outcome);
        free(tracks[i].ack_ms);
    }
    free(seen);
    free(tracks);
    /* A read-back cut by its bound proves nothing about what it did not
     * read: those are unread, not lost. */
    uint64_t lost = cut ? 0 : missing;
    uint64_t unread = cut ? missing : 0;

    struct row *row = rowAdd("10", "failover: SIGKILL the leader under load (4 x 16, 256 B)");
    row->measured = done > 0;
    row->n = done;
    row->errors = lost;
    rowLatency(row, &h);
    row->msgs_s = (double)r.ok / r.elapsed;
    snprintf(row->note, sizeof row->note,
             "%u kills in %.0f s (fresh cluster); next ack median %.0f ms, max %.0f ms; %llu "
             "acked, %llu lost, %llu duplicated, %llu not acked (outcome unknown)%s; %llu "
             "receive errors in the read-back (%.0f s)%s%s%s",
             done, kills_s, (double)histQuantile(&h, 0.5) / 1e6, (double)h.max / 1e6,
             (unsigned long long)acked, (unsigned long long)lost, (unsigned long long)rb.dups,
             (unsigned long long)unknown, unread > 0 ? ", read-back cut: some unread" : "",
             (unsigned long long)atomic_load(&rb.read_errors), read_s, counts,
             note[0] ? "; " : "", note);
    rowExtra(row,
             "\"kills\": %u, \"kills_s\": %.1f, \"fresh_cluster_s\": %.1f, \"back_max_s\": %.1f, "
             "\"read_back_s\": %.1f, \"read_back_cut\": %s, \"unread\": %llu, \"got\": %llu",
             done, kills_s, fresh_s, back_max_s, read_s, cut ? "true" : "false",
             (unsigned long long)unread, (unsigned long long)rb.got);
    queueDrop(queue);
}
