/* Three real qraftd processes on loopback: failover under a pipelined load,
 * catch-up of a restarted node, a full restart, and snapshot install to a
 * node left behind a compacted log. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define SENDS 2000
#define KILL_AFTER 1000

/* Common flags: fast elections, no housekeeping ticks (so that the applied
 * index stands still once the load stops and digests can be compared). */
#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"

/* The cluster of the running test, stopped by the teardown even when an
 * assertion fails half-way. */
static struct testCluster *activeCluster;

static int stopActiveCluster(void **state)
{
    (void)state;
    if (activeCluster != NULL) {
        testClusterStop(activeCluster, getenv("QRAFT_TEST_KEEP") == NULL);
        activeCluster = NULL;
    }
    return 0;
}

struct failoverRun
{
    struct testCluster *cluster;
    int leader;           /* index of the leader killed */
    unsigned acked;       /* sends acknowledged */
    unsigned failed;      /* sends that completed with an error */
    bool killed;
    uint64_t killed_at;   /* ms */
    uint64_t first_ack_after_kill; /* ms */
    uint64_t last_ack;    /* ms */
    uint64_t max_gap;     /* longest time without an ack after the kill: the failover stall */
    unsigned char status[SENDS]; /* 1 acked, 2 failed */
};

struct sendArg
{
    struct failoverRun *run;
    unsigned index;
};

static struct sendArg sendArgs[SENDS];

static void sentCb(void *arg, int status, const struct qraft_send_result *result)
{
    struct sendArg *a = arg;
    struct failoverRun *run = a->run;
    (void)result;

    if (status == QRAFT_OK) {
        run->status[a->index] = 1;
        run->acked++;
        uint64_t now = testNowMs();
        if (run->killed && run->first_ack_after_kill == 0) {
            run->first_ack_after_kill = now;
        }
        if (run->killed && now - run->last_ack > run->max_gap) {
            run->max_gap = now - run->last_ack;
        }
        run->last_ack = now;
    } else {
        run->status[a->index] = 2;
        run->failed++;
        fprintf(stderr, "send %u failed: %s\n", a->index, qraft_errname(status));
    }
    if (!run->killed && run->acked == KILL_AFTER) {
        run->killed = true;
        run->killed_at = testNowMs();
        testNodeStop(run->cluster, (unsigned)run->leader, SIGKILL, 5000);
        printf("# killed leader node %d with SIGKILL after %u acknowledged sends\n",
               run->leader + 1, run->acked);
    }
}

/* Receive and delete until the queue stays empty; count each body. */
static unsigned drain(qraft_client *client, const char *queue, unsigned *counts, unsigned n)
{
    unsigned received = 0;
    unsigned empty = 0;
    unsigned rounds = 0;

    while (empty < 3 && rounds++ < 10 * n) {
        struct qraft_message *msgs;
        size_t got;
        size_t k;
        struct qraft_receive_params params = {.max = 10, .visibility_s = 120, .wait_s = 0};
        int rv = qraft_receive(client, queue, &params, &msgs, &got);
        assert_int_equal(rv, QRAFT_OK);
        if (got == 0) {
            empty++;
            continue;
        }
        empty = 0;
        for (k = 0; k < got; k++) {
            unsigned idx;
            char body[32];
            snprintf(body, sizeof body, "%.*s", (int)msgs[k].body_len, (char *)msgs[k].body);
            assert_int_equal(sscanf(body, "msg-%u", &idx), 1);
            assert_true(idx < n);
            counts[idx]++;
            received++;
            assert_int_equal(qraft_delete(client, queue, msgs[k].receipt), QRAFT_OK);
        }
        qraft_messages_free(msgs, got);
    }
    return received;
}

static void assertDigestsAgree(struct testCluster *c)
{
    struct qraft_node_status st[TEST_NODES_MAX];
    unsigned i;

    for (i = 0; i < c->n; i++) {
        assert_int_equal(testNodeStatus(c, i, &st[i]), 0);
    }
    for (i = 1; i < c->n; i++) {
        assert_int_equal(st[i].applied_index, st[0].applied_index);
        assert_string_equal(st[i].digest, st[0].digest);
    }
    printf("# all %u nodes at applied index %llu with digest %s\n", c->n,
           (unsigned long long)st[0].applied_index, st[0].digest);
}

static void test_failover_and_restart(void **state)
{
    static struct testCluster cluster;
    static struct failoverRun run;
    static unsigned counts[SENDS];
    qraft_client *client;
    uint64_t t0;
    unsigned i;
    unsigned received;
    unsigned duplicates = 0;
    int new_leader;
    char body[32];
    (void)state;

    assert_int_equal(testClusterStart(&cluster, 3, 17000, FLAGS, 30000), 0);
    activeCluster = &cluster;
    run.cluster = &cluster;
    run.leader = testClusterLeader(&cluster, 10000);
    assert_true(run.leader >= 0);

    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 30000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "orders", NULL, 0, NULL, 0), QRAFT_OK);

    t0 = testNowMs();
    for (i = 0; i < SENDS; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        sendArgs[i].run = &run;
        sendArgs[i].index = i;
        assert_int_equal(qraft_send_async(client, "orders", body, strlen(body), NULL, sentCb,
                                          &sendArgs[i]),
                         QRAFT_OK);
    }
    assert_int_equal(qraft_wait(client), QRAFT_OK);
    assert_true(run.killed);
    new_leader = testClusterLeader(&cluster, 10000);
    assert_true(new_leader >= 0);
    assert_int_not_equal(new_leader, run.leader);
    printf("# %u sends in %llu ms: %u acknowledged, %u failed\n", SENDS,
           (unsigned long long)(testNowMs() - t0), run.acked, run.failed);
    printf("# after SIGKILL of the leader: longest stall between acknowledgements %llu ms "
           "(the failover); new leader node %d\n",
           (unsigned long long)run.max_gap, new_leader + 1);
    assert_int_equal(run.acked, SENDS);
    assert_true(run.max_gap < 10000);

    received = drain(client, "orders", counts, SENDS);
    for (i = 0; i < SENDS; i++) {
        if (counts[i] > 1) {
            duplicates++;
        }
        if (run.status[i] == 1) {
            assert_int_equal(counts[i], 1);
        }
    }
    printf("# received %u messages, %u duplicates\n", received, duplicates);
    assert_int_equal(received, SENDS);

    /* The killed node comes back and catches up. */
    assert_int_equal(testNodeStart(&cluster, (unsigned)run.leader), 0);
    t0 = testNowMs();
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    printf("# restarted node %d caught up in %llu ms\n", run.leader + 1,
           (unsigned long long)(testNowMs() - t0));
    assertDigestsAgree(&cluster);

    /* Messages left in a queue survive stopping every node. */
    assert_int_equal(qraft_create_queue(client, "durable", NULL, 0, NULL, 0), QRAFT_OK);
    for (i = 0; i < 50; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        assert_int_equal(qraft_send(client, "durable", body, strlen(body), NULL, NULL), QRAFT_OK);
    }
    qraft_close(client);
    for (i = 0; i < cluster.n; i++) {
        int status = testNodeStop(&cluster, i, SIGTERM, 15000);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    t0 = testNowMs();
    for (i = 0; i < cluster.n; i++) {
        assert_int_equal(testNodeStart(&cluster, i), 0);
    }
    assert_true(testClusterLeader(&cluster, 20000) >= 0);
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    {
        char **names;
        size_t n;
        assert_int_equal(qraft_list_queues(client, NULL, 0, NULL, &names, &n, NULL), QRAFT_OK);
        printf("# after a full restart (%llu ms to a readable leader): %zu queues\n",
               (unsigned long long)(testNowMs() - t0), n);
        assert_int_equal(n, 3); /* durable, orders, ready-probe */
        assert_string_equal(names[0], "durable");
        assert_string_equal(names[1], "orders");
        qraft_strings_free(names, n);
    }
    memset(counts, 0, sizeof counts);
    assert_int_equal(drain(client, "durable", counts, SENDS), 50);
    for (i = 0; i < 50; i++) {
        assert_int_equal(counts[i], 1);
    }
    qraft_close(client);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assertDigestsAgree(&cluster);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

/* The "snapshot taken" lines in node @i's log: how many, and the largest
 * next_after_entries among them in *most. */
static unsigned snapshotsTaken(struct testCluster *c, unsigned i, unsigned long long *most)
{
    char path[300];
    char line[1024];
    unsigned long long next;
    unsigned n = 0;
    const char *at;
    FILE *f;

    *most = 0;
    snprintf(path, sizeof path, "%s/log", c->nodes[i].dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "snapshot taken") != NULL &&
            (at = strstr(line, "next_after_entries=")) != NULL &&
            sscanf(at, "next_after_entries=%llu", &next) == 1) {
            n++;
            *most = next > *most ? next : *most;
        }
    }
    fclose(f);
    return n;
}

/* Whether node @i's log has a line holding both @a and @b; the last such
 * line goes to @out (@len bytes) if not NULL. */
static bool nodeLogHas(struct testCluster *c, unsigned i, const char *a, const char *b,
                       char *out, size_t len)
{
    char path[300];
    char line[1024];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof path, "%s/log", c->nodes[i].dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)) {
            found = true;
            if (out != NULL) {
                snprintf(out, len, "%s", line);
            }
        }
    }
    fclose(f);
    return found;
}

/* Start @c (3 nodes at @port with @flags) as the running test's cluster,
 * open a client, create @queue and send it msg-00000.. msg-@n-1, one at a
 * time; *@follower is the node after the leader. */
static qraft_client *startWithQueue(struct testCluster *c, int port, const char *flags,
                                    const char *queue, unsigned n, unsigned *follower)
{
    qraft_client *client;
    char body[32];
    unsigned i;
    int leader;

    assert_int_equal(testClusterStart(c, 3, port, flags, 30000), 0);
    activeCluster = c;
    leader = testClusterLeader(c, 10000);
    assert_true(leader >= 0);
    *follower = (unsigned)(leader + 1) % 3;
    assert_int_equal(qraft_open(c->servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, queue, NULL, 0, NULL, 0), QRAFT_OK);
    for (i = 0; i < n; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        assert_int_equal(qraft_send(client, queue, body, strlen(body), NULL, NULL), QRAFT_OK);
    }
    return client;
}

/* A follower down while the leader compacts its log gets a snapshot. */
static void test_snapshot_install(void **state)
{
    static struct testCluster cluster;
    qraft_client *client;
    struct qraft_node_status st;
    char body[32];
    char path[300];
    char line[1024];
    unsigned i;
    int leader;
    unsigned follower;
    bool restored = false;
    unsigned extra = 0;
    FILE *f;
    uint64_t t0;
    (void)state;

    assert_int_equal(testClusterStart(&cluster, 3, 17200,
                                      FLAGS " --snapshot-threshold 64 --snapshot-trailing 16",
                                      30000),
                     0);
    activeCluster = &cluster;
    leader = testClusterLeader(&cluster, 10000);
    assert_true(leader >= 0);
    follower = (unsigned)(leader + 1) % 3;
    assert_int_equal(testNodeStop(&cluster, follower, SIGKILL, 5000) != -1, 1);

    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "snap", NULL, 0, NULL, 0), QRAFT_OK);
    for (i = 0; i < 600; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        assert_int_equal(qraft_send(client, "snap", body, strlen(body), NULL, NULL), QRAFT_OK);
    }
    assert_int_equal(testNodeStatus(&cluster, (unsigned)leader, &st), 0);
    printf("# leader at index %llu while node %u was down\n",
           (unsigned long long)st.applied_index, follower + 1);

    assert_int_equal(testNodeStart(&cluster, follower), 0);
    t0 = testNowMs();
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    printf("# node %u caught up in %llu ms\n", follower + 1,
           (unsigned long long)(testNowMs() - t0));
    assertDigestsAgree(&cluster);

    /* The leader's snapshots are markers (raft/fsmglue.c): the follower
     * got an image of the leader's state made for it (raft/snapget.c). */
    snprintf(path, sizeof path, "%s/log", cluster.nodes[follower].dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "snapshot restored") != NULL && strstr(line, "kind=image") != NULL) {
            restored = true;
        }
    }
    fclose(f);
    assert_true(restored);
    snprintf(path, sizeof path, "%s/log", cluster.nodes[leader].dir);
    f = fopen(path, "r");
    assert_non_null(f);
    restored = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "snapshot image built for a follower") != NULL) {
            restored = true;
        }
    }
    fclose(f);
    assert_true(restored);

    /* One entry after the image brings the follower a marker of its own
     * (not 64: --snapshot-threshold), so that a restart trusts its store
     * instead of restoring the image again. */
    if (!nodeLogHas(&cluster, follower, "snapshot taken", "kind=marker", NULL, 0)) {
        assert_int_equal(qraft_send(client, "snap", "msg-00599", 9, NULL, NULL), QRAFT_OK);
        assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
        extra = 1;
    }
    assert_true(nodeLogHas(&cluster, follower, "snapshot taken", "kind=marker", NULL, 0));

    /* Markers cost the same at any state size: they follow
     * --snapshot-threshold, not the state's size. */
    {
        unsigned long long most = 0;
        unsigned n = snapshotsTaken(&cluster, (unsigned)leader, &most);
        printf("# leader took %u snapshots, the largest interval %llu entries\n", n, most);
        assert_true(n >= 600 / 64 - 1);
        assert_true(most <= 64);
    }

    /* Every message is still there. */
    {
        static unsigned counts[600];
        assert_int_equal(drain(client, "snap", counts, 600), 600 + extra);
    }

    qraft_close(client);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

/* A follower SIGKILLed under load restarts from its own marker: its store
 * went on committing after the marker, so the log it replays holds
 * entries the store has already; they are skipped (raft/fsmglue.c), and
 * the node ends where the others are, every message there once. */
static void test_restart_from_marker(void **state)
{
    static struct testCluster cluster;
    static unsigned counts[700];
    qraft_client *client;
    char body[32];
    char line[1024];
    unsigned i;
    unsigned follower;
    uint64_t t0;
    (void)state;

    client = startWithQueue(&cluster, 17500, FLAGS " --snapshot-threshold 64", "marker", 600,
                            &follower);
    /* Past a marker (every 64 entries) by 30 entries or so; half a second
     * for the store to commit them (raft/replica.c commits at most every
     * 100 ms): the store then holds more than the marker names. */
    assert_true(nodeLogHas(&cluster, follower, "snapshot taken", "kind=marker", NULL, 0));
    usleep(500 * 1000);
    assert_int_equal(testNodeStop(&cluster, follower, SIGKILL, 5000) != -1, 1);
    for (i = 600; i < 700; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        assert_int_equal(qraft_send(client, "marker", body, strlen(body), NULL, NULL), QRAFT_OK);
    }
    assert_int_equal(testNodeStart(&cluster, follower), 0);
    t0 = testNowMs();
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    printf("# node %u restarted from its marker and caught up in %llu ms\n", follower + 1,
           (unsigned long long)(testNowMs() - t0));
    assert_true(nodeLogHas(&cluster, follower, "snapshot restored", "kind=marker", line,
                           sizeof line));
    printf("# %s", strstr(line, "msg="));
    /* The store was ahead of the marker (at a multiple of 64). */
    assert_true(sscanf(strstr(line, "state_index="), "state_index=%u", &i) == 1 && i % 64 != 0);
    assertDigestsAgree(&cluster);
    assert_int_equal(drain(client, "marker", counts, 700), 700);
    for (i = 0; i < 700; i++) {
        assert_int_equal(counts[i], 1);
    }
    qraft_close(client);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

/* --snapshot-log-max bounds the log between snapshots in bytes, and wins
 * over --snapshot-threshold: with a threshold no load here reaches and a
 * 1 MiB bound, 3 MiB of sends make the leader snapshot, each time with an
 * interval of at most 1 MiB of entries. */
static void test_snapshot_log_max(void **state)
{
    static struct testCluster cluster;
    static char body[60 * 1024];
    qraft_client *client;
    unsigned long long most = 0;
    unsigned snapshots;
    unsigned i;
    int leader;
    (void)state;

    assert_int_equal(testClusterStart(&cluster, 3, 17700,
                                      FLAGS " --snapshot-threshold 100000 --snapshot-log-max 1",
                                      30000),
                     0);
    activeCluster = &cluster;
    leader = testClusterLeader(&cluster, 10000);
    assert_true(leader >= 0);
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "bounded", NULL, 0, NULL, 0), QRAFT_OK);
    memset(body, 'b', sizeof body);
    for (i = 0; i < 50; i++) {
        assert_int_equal(qraft_send(client, "bounded", body, sizeof body, NULL, NULL), QRAFT_OK);
    }
    snapshots = snapshotsTaken(&cluster, (unsigned)leader, &most);
    /* Entries of about 60 KiB: at most 1 MiB of them. */
    assert_true(most <= 1048576 / (50 * 1024));
    printf("# leader took %u snapshots with a 1 MiB log bound\n", snapshots);
    assert_true(snapshots >= 1);
    qraft_close(client);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

/* A node whose state stays small snapshots once its log passes 8 MiB,
 * also before its first snapshot: it used to wait for --snapshot-log-max
 * (512 MiB by default), holding that whole log in memory. Three queues of
 * 60 x 60 KiB, each deleted once full: about 10.5 MiB of log, under 4 MiB
 * of state at any time, and an entry threshold no load here reaches. */
static void test_snapshot_small_state(void **state)
{
    static struct testCluster cluster;
    static char body[60 * 1024];
    qraft_client *client;
    unsigned long long most = 0;
    char name[32];
    unsigned q, i;
    (void)state;

    assert_int_equal(testClusterStart(&cluster, 3, 17700, FLAGS " --snapshot-threshold 100000",
                                      30000),
                     0);
    activeCluster = &cluster;
    assert_true(testClusterLeader(&cluster, 10000) >= 0);
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    memset(body, 's', sizeof body);
    for (q = 0; q < 3; q++) {
        snprintf(name, sizeof name, "small-%u", q);
        assert_int_equal(qraft_create_queue(client, name, NULL, 0, NULL, 0), QRAFT_OK);
        for (i = 0; i < 60; i++) {
            assert_int_equal(qraft_send(client, name, body, sizeof body, NULL, NULL), QRAFT_OK);
        }
        assert_int_equal(qraft_delete_queue(client, name), QRAFT_OK);
    }
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    for (i = 0; i < 3; i++) {
        unsigned n = snapshotsTaken(&cluster, i, &most);
        printf("# node %u took %u snapshots of a small state\n", i + 1, n);
        assert_true(n >= 1);
    }
    qraft_close(client);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

/* A follower that lost its data (wiped) installs the leader's snapshot and
 * then gets the entries after it at once: libraft 0.15 alone kept it in
 * snapshot state until its 30 s install timeout (raft/appendguard.c). */
static void test_wiped_follower(void **state)
{
    static struct testCluster cluster;
    qraft_client *client;
    char body[32];
    char cmd[600];
    unsigned i;
    unsigned follower;
    uint64_t t0, took;
    (void)state;

    client = startWithQueue(&cluster, 17300,
                            FLAGS " --snapshot-threshold 64 --snapshot-trailing 16", "wiped", 300,
                            &follower);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);

    assert_int_equal(testNodeStop(&cluster, follower, SIGKILL, 5000) != -1, 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/raft' '%s/state'", cluster.nodes[follower].dir,
             cluster.nodes[follower].dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(testNodeStart(&cluster, follower), 0);
    for (i = 300; i < 310; i++) {
        snprintf(body, sizeof body, "msg-%05u", i);
        assert_int_equal(qraft_send(client, "wiped", body, strlen(body), NULL, NULL), QRAFT_OK);
    }
    t0 = testNowMs();
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 25000), 0);
    took = testNowMs() - t0;
    printf("# wiped node %u caught up in %llu ms\n", follower + 1, (unsigned long long)took);
    assert_true(took < 15000);
    assertDigestsAgree(&cluster);
    qraft_close(client);
    testClusterStop(&cluster, true);
    activeCluster = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover_and_restart, stopActiveCluster),
        cmocka_unit_test_teardown(test_snapshot_install, stopActiveCluster),
        cmocka_unit_test_teardown(test_wiped_follower, stopActiveCluster),
        cmocka_unit_test_teardown(test_restart_from_marker, stopActiveCluster),
        cmocka_unit_test_teardown(test_snapshot_log_max, stopActiveCluster),
        cmocka_unit_test_teardown(test_snapshot_small_state, stopActiveCluster),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/cluster", tests, NULL, NULL);
}
