/* DeleteQueue and PurgeQueue of a large queue on a real 3-node cluster
 * (fsm/sweep.c, raft/replica.c replicaSweep): the delete is acknowledged at
 * once, the name is gone at once, sends to another queue keep being
 * acknowledged while the leader proposes sweep slices, no election
 * happens, the slices stop once every dead key is gone (the applied index
 * stands still: ticks are off), and every node ends with the same digest.
 *
 * Ports 27001-27003 (raft) and 27011-27013 (clients); no other test uses
 * them. Every loop is bounded in count and time; every node is stopped by
 * PID. The times printed are for information, never asserted tightly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"
#define RAFT_PORT 27001
#define CLIENT_PORT 27011

/* Messages of the large queue, and keys of each (messages, msgstate,
 * ready, retention), and the default slice budget. */
#define LARGE 50000
#define KEYS_PER_MESSAGE 4
#define SLICE_KEYS 4096

static struct testCluster cluster;
static qraft_client *client;

/* Lay the cluster out on our ports (testClusterStart's layout needs ports
 * 100 apart) and start it; ready once a write is acknowledged. */
static int clusterStart(void)
{
    char servers[sizeof cluster.servers];
    size_t off = 0;
    uint64_t deadline;
    unsigned i;
    int rv;

    memset(&cluster, 0, sizeof cluster);
    cluster.n = 3;
    cluster.base_port = RAFT_PORT - 1;
    snprintf(cluster.extra, sizeof cluster.extra, "%s", FLAGS);
    snprintf(cluster.dir, sizeof cluster.dir, "/tmp/qraft-test-XXXXXX");
    if (mkdtemp(cluster.dir) == NULL) {
        return -1;
    }
    for (i = 0; i < cluster.n; i++) {
        struct testNode *node = &cluster.nodes[i];
        node->id = i + 1;
        snprintf(node->dir, sizeof node->dir, "%s/node%u", cluster.dir, i + 1);
        mkdir(node->dir, 0755);
        snprintf(node->raft_addr, sizeof node->raft_addr, "127.0.0.1:%d", RAFT_PORT + (int)i);
        snprintf(node->client_addr, sizeof node->client_addr, "127.0.0.1:%d",
                 CLIENT_PORT + (int)i);
        off += (size_t)snprintf(servers + off, sizeof servers - off, "%s%s", i == 0 ? "" : ",",
                                node->client_addr);
    }
    memcpy(cluster.servers, servers, sizeof servers);
    for (i = 0; i < cluster.n; i++) {
        if (testNodeStart(&cluster, i) != 0) {
            testClusterStop(&cluster, true);
            return -1;
        }
    }
    if (qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 30000}, &client) != 0) {
        testClusterStop(&cluster, true);
        return -1;
    }
    deadline = testNowMs() + 30000;
    do {
        rv = qraft_create_queue(client, "big", NULL, 0, NULL, 0);
    } while (rv != 0 && testNowMs() < deadline);
    return rv;
}

static int setup(void **state)
{
    (void)state;
    return clusterStart();
}

static int teardown(void **state)
{
    (void)state;
    if (client != NULL) {
        qraft_close(client);
        client = NULL;
    }
    testClusterStop(&cluster, true);
    return 0;
}

/* Callback of the pipelined sends: counts the acknowledged ones. */
static void sentCb(void *arg, int status, const struct qraft_send_result *result)
{
    unsigned *ok = arg;

    (void)result;
    *ok += status == QRAFT_OK;
}

/* Fill @queue with @n small messages, pipelined. */
static void fill(const char *queue, unsigned n)
{
    unsigned ok = 0;
    char body[64];
    unsigned i;

    for (i = 0; i < n; i++) {
        size_t len = (size_t)snprintf(body, sizeof body, "message %u of %s", i, queue);
        assert_int_equal(qraft_send_async(client, queue, body, len, NULL, sentCb, &ok), 0);
    }
    assert_int_equal(qraft_wait(client), 0);
    assert_int_equal(ok, n);
}

/* Status of the leader (asserted to exist). */
static void leaderStatus(struct qraft_node_status *st)
{
    int leader = testClusterLeader(&cluster, 10000);

    assert_true(leader >= 0);
    assert_int_equal(testNodeStatus(&cluster, (unsigned)leader, st), 0);
}

/* Wait until the leader's applied index stands still for 1 s (bounded by
 * 60 s): the sweep is over. Returns the index; *last_ms (if not NULL) gets
 * when it last moved. */
static uint64_t waitQuiet(uint64_t *last_ms)
{
    uint64_t deadline = testNowMs() + 60000;
    uint64_t last = 0;
    uint64_t since = testNowMs();
    struct qraft_node_status st;

    while (testNowMs() < deadline) {
        leaderStatus(&st);
        if (st.applied_index != last) {
            last = st.applied_index;
            since = testNowMs();
        } else if (testNowMs() - since >= 1000) {
            if (last_ms != NULL) {
                *last_ms = since;
            }
            return last;
        }
        testSleepMs(50);
    }
    fail_msg("the leader's applied index never stood still: the sweep does not end");
    return 0;
}

/* Every node at the same applied index, with the same digest. */
static void sameDigests(void)
{
    struct qraft_node_status st[3];
    unsigned i;

    assert_int_equal(testClusterWaitCaughtUp(&cluster, 30000), 0);
    for (i = 0; i < cluster.n; i++) {
        assert_int_equal(testNodeStatus(&cluster, i, &st[i]), 0);
    }
    for (i = 1; i < cluster.n; i++) {
        assert_int_equal(st[i].applied_index, st[0].applied_index);
        assert_string_equal(st[i].digest, st[0].digest);
    }
}

/* Blocking sends to @queue while the sweep goes on: each acknowledged;
 * the slowest, in ms. */
static uint64_t sendsDuring(const char *queue, unsigned n)
{
    uint64_t worst = 0;
    unsigned i;

    for (i = 0; i < n; i++) {
        uint64_t t0 = testNowMs();
        assert_int_equal(qraft_send(client, queue, "during", 6, NULL, NULL), QRAFT_OK);
        if (testNowMs() - t0 > worst) {
            worst = testNowMs() - t0;
        }
    }
    return worst;
}

static void test_deleteLargeQueue(void **state)
{
    struct qraft_node_status before, after;
    char **names = NULL;
    size_t n_names = 0;
    uint64_t t0, took, worst, start, end, last;
    size_t i;

    (void)state;
    assert_int_equal(qraft_create_queue(client, "other", NULL, 0, NULL, 0), QRAFT_OK);
    t0 = testNowMs();
    fill("big", LARGE);
    printf("# %u messages sent in %llu ms\n", LARGE, (unsigned long long)(testNowMs() - t0));
    start = waitQuiet(NULL);
    leaderStatus(&before);

    t0 = testNowMs();
    assert_int_equal(qraft_delete_queue(client, "big"), QRAFT_OK);
    took = testNowMs() - t0;
    /* Gone at once. */
    assert_int_equal(qraft_list_queues(client, "big", 0, NULL, &names, &n_names, NULL), QRAFT_OK);
    assert_int_equal(n_names, 0);
    qraft_strings_free(names, n_names);
    assert_int_equal(qraft_send(client, "big", "x", 1, NULL, NULL), QRAFT_EQUEUE_DOES_NOT_EXIST);
    /* Sends to another queue keep being acknowledged meanwhile. */
    worst = sendsDuring("other", 100);
    end = waitQuiet(&last);
    leaderStatus(&after);
    printf("# DeleteQueue of %u messages acknowledged in %llu ms; 100 sends during the "
           "sweep, the slowest %llu ms; %llu entries applied after the fill; the sweep "
           "ended within %llu ms of the delete\n",
           LARGE, (unsigned long long)took, (unsigned long long)worst,
           (unsigned long long)(end - start), (unsigned long long)(last - t0));
    /* No election: the same leader and term all along. */
    assert_int_equal(after.term, before.term);
    assert_int_equal(after.leader_id, before.leader_id);
    /* The removal took slices of their own: at least as many entries as
     * slices (the delete, the sends and the slices), and it ended. */
    assert_true(end - start >= (uint64_t)LARGE * KEYS_PER_MESSAGE / SLICE_KEYS);
    assert_true(worst < 10000);
    sameDigests();
    for (i = 0; i < cluster.n; i++) {
        assert_true(cluster.nodes[i].pid != 0);
    }
}

static void test_purgeLargeQueue(void **state)
{
    struct qraft_receive_params rp = {10, 30, 0};
    struct qraft_message *msgs = NULL;
    size_t n = 0;
    uint64_t start, end;

    (void)state;
    assert_int_equal(qraft_create_queue(client, "purged", NULL, 0, NULL, 0), QRAFT_OK);
    fill("purged", LARGE / 5);
    start = waitQuiet(NULL);
    assert_int_equal(qraft_purge_queue(client, "purged"), QRAFT_OK);
    assert_int_equal(qraft_send(client, "purged", "after", 5, NULL, NULL), QRAFT_OK);
    end = waitQuiet(NULL);
    assert_true(end - start >= (uint64_t)LARGE / 5 * KEYS_PER_MESSAGE / SLICE_KEYS);
    /* Only the message sent after the purge is left. */
    assert_int_equal(qraft_receive(client, "purged", &rp, &msgs, &n), QRAFT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0].body_len, 5);
    assert_memory_equal(msgs[0].body, "after", 5);
    qraft_messages_free(msgs, n);
    sameDigests();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleteLargeQueue),
        cmocka_unit_test(test_purgeLargeQueue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
