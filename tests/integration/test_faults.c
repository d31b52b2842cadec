/* Faults below the protocol: a disk error stops the node (fail-stop) and
 * loses nothing acknowledged; a corrupt raft segment is a start error, never
 * skipped (auto-recovery off). */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"

static struct testCluster cluster;
static bool clusterUp;

static int stopCluster(void **state)
{
    (void)state;
    if (clusterUp) {
        testClusterStop(&cluster, true);
        clusterUp = false;
    }
    return 0;
}

static bool logHas(unsigned node, const char *needle)
{
    char path[300];
    char line[2048];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof path, "%s/log", cluster.nodes[node].dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

/* Print node @i's log, for a failure's context. */
static void dumpLog(unsigned i)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tail -n 40 %s/log", cluster.nodes[i].dir);
    if (system(cmd) != 0) {
        printf("(no log for node %u)\n", i + 1);
    }
}

/* Wait (bounded) for node @i to exit on its own; its wait status or -1. */
static int waitExit(unsigned i, int timeout_ms)
{
    uint64_t deadline = testNowMs() + (uint64_t)timeout_ms;
    int status;

    while (testNowMs() < deadline) {
        if (waitpid(cluster.nodes[i].pid, &status, WNOHANG) == cluster.nodes[i].pid) {
            cluster.nodes[i].pid = 0;
            return status;
        }
        testSleepMs(20);
    }
    return -1;
}

static void sendMany(qraft_client *client, const char *queue, unsigned n, unsigned first)
{
    char body[32];
    unsigned i;
    for (i = 0; i < n; i++) {
        snprintf(body, sizeof body, "msg-%05u", first + i);
        assert_int_equal(qraft_send(client, queue, body, strlen(body), NULL, NULL), QRAFT_OK);
    }
}

static unsigned drainCount(qraft_client *client, const char *queue)
{
    unsigned total = 0;
    unsigned empty = 0;
    unsigned rounds = 0;
    while (empty < 3 && rounds++ < 1000) {
        struct qraft_message *msgs;
        size_t got;
        size_t k;
        struct qraft_receive_params params = {.max = 10, .visibility_s = 120, .wait_s = 0};
        assert_int_equal(qraft_receive(client, queue, &params, &msgs, &got), QRAFT_OK);
        empty = got == 0 ? empty + 1 : 0;
        for (k = 0; k < got; k++) {
            assert_int_equal(qraft_delete(client, queue, msgs[k].receipt), QRAFT_OK);
        }
        total += (unsigned)got;
        qraft_messages_free(msgs, got);
    }
    return total;
}

static void test_disk_error_stops_node(void **state)
{
    qraft_client *client;
    struct qraft_node_status a;
    struct qraft_node_status b;
    unsigned round;
    unsigned sent = 0;
    int status;
    (void)state;

    /* Node 3's 5th log append reports a disk error. A follower that is
     * catching up gets many entries per append, so keep sending (bounded)
     * until it has stopped. */
    memset(&cluster, 0, sizeof cluster);
    assert_int_equal(testClusterStart(&cluster, 3, 17600, FLAGS, 30000), 0);
    clusterUp = true;
    assert_int_not_equal(testNodeStop(&cluster, 2, SIGTERM, 15000), -1);
    snprintf(cluster.node_extra[2], sizeof cluster.node_extra[2], "--fault-append-after 5");
    assert_int_equal(testNodeStart(&cluster, 2), 0);

    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "disk", NULL, 0, NULL, 0), QRAFT_OK);
    status = -1;
    for (round = 0; round < 30 && status == -1; round++) {
        sendMany(client, "disk", 20, round * 20);
        sent += 20;
        status = waitExit(2, 500);
    }
    assert_true(status != -1);
    assert_true(WIFEXITED(status));
    printf("# node 3 exited with status %d after an injected append error (%u sends)\n",
           WEXITSTATUS(status), sent);
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_true(logHas(2, "fatal"));

    /* Nothing acknowledged was lost; the node comes back without the fault
     * and agrees with the others. */
    sendMany(client, "disk", 20, sent);
    sent += 20;
    assert_int_equal(drainCount(client, "disk"), sent);
    cluster.node_extra[2][0] = '\0';
    assert_int_equal(testNodeStart(&cluster, 2), 0);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assert_int_equal(testNodeStatus(&cluster, 0, &a), 0);
    assert_int_equal(testNodeStatus(&cluster, 2, &b), 0);
    assert_int_equal(a.applied_index, b.applied_index);
    assert_string_equal(a.digest, b.digest);
    qraft_close(client);
    stopCluster(NULL);
}

/* Flip one byte in the middle of the largest closed segment of node @i. */
static void corruptSegment(unsigned i)
{
    char dir[300];
    char best[600] = "";
    off_t best_size = 0;
    struct dirent *e;
    DIR *d;
    int fd;
    unsigned char byte;

    snprintf(dir, sizeof dir, "%s/raft", cluster.nodes[i].dir);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        unsigned long long first;
        unsigned long long last;
        char path[600];
        struct stat st;
        if (sscanf(e->d_name, "%16llu-%16llu", &first, &last) != 2) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && st.st_size > best_size) {
            best_size = st.st_size;
            snprintf(best, sizeof best, "%s", path);
        }
    }
    closedir(d);
    assert_true(best_size > 64);
    printf("# corrupting %s (%lld bytes) at offset %lld\n", best, (long long)best_size,
           (long long)(best_size / 2));
    fd = open(best, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, best_size / 2), 1);
    byte ^= 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, best_size / 2), 1);
    close(fd);
}

static void test_corrupt_segment_refused(void **state)
{
    qraft_client *client;
    int status;
    (void)state;

    memset(&cluster, 0, sizeof cluster);
    assert_int_equal(testClusterStart(&cluster, 3, 17800, FLAGS, 30000), 0);
    clusterUp = true;
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "seg", NULL, 0, NULL, 0), QRAFT_OK);
    sendMany(client, "seg", 200, 0);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);

    /* A clean restart turns node 3's open segment into a closed one. */
    assert_int_not_equal(testNodeStop(&cluster, 2, SIGTERM, 15000), -1);
    assert_int_equal(testNodeStart(&cluster, 2), 0);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assert_int_not_equal(testNodeStop(&cluster, 2, SIGTERM, 15000), -1);

    corruptSegment(2);
    assert_int_equal(testNodeStart(&cluster, 2), 0);
    status = waitExit(2, 10000);
    assert_true(status != -1);
    assert_true(WIFEXITED(status));
    printf("# node 3 refused to start on a corrupt segment: exit status %d\n",
           WEXITSTATUS(status));
    if (WEXITSTATUS(status) != 2) {
        dumpLog(2);
    }
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(logHas(2, "cannot start raft"));

    /* The two others go on serving. */
    sendMany(client, "seg", 10, 200);
    assert_int_equal(drainCount(client, "seg"), 210);
    qraft_close(client);
    stopCluster(NULL);
}

/* Cut the newest snapshot file of node @i to half its length; with
 * @frame, the newest that is an LZ4 frame (an image a follower installed:
 * its magic stays, and libraft 0.15 alone spins for ever decompressing
 * it), else the newest (a marker, raft/fsmglue.c). */
static void truncateSnapshot(unsigned i, bool frame)
{
    static const unsigned char magic[4] = {0x04, 0x22, 0x4d, 0x18};
    unsigned char head[4];
    char dir[300];
    char path[600];
    char best[600] = "";
    char newest[300] = "";
    off_t size = 0;
    struct dirent *e;
    struct stat st;
    FILE *f;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/raft", cluster.nodes[i].dir);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "snapshot-", 9) != 0 ||
            (len > 5 && strcmp(e->d_name + len - 5, ".meta") == 0)) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        if (fread(head, 1, sizeof head, f) != sizeof head) {
            memset(head, 0, sizeof head);
        }
        fclose(f);
        if (frame && memcmp(head, magic, sizeof magic) != 0) {
            continue;
        }
        /* snapshot-TERM-INDEX-TIMESTAMP: the one with the largest index. */
        if (newest[0] == '\0' || strverscmp(e->d_name, newest) > 0) {
            snprintf(newest, sizeof newest, "%s", e->d_name);
        }
    }
    closedir(d);
    assert_true(newest[0] != '\0');
    snprintf(best, sizeof best, "%s/%s", dir, newest);
    assert_int_equal(stat(best, &st), 0);
    size = st.st_size;
    assert_true(size > 64);
    printf("# cutting %s from %lld to %lld bytes\n", best, (long long)size,
           (long long)(size / 2));
    assert_int_equal(truncate(best, size / 2), 0);
}

/* Start node @i on a damaged snapshot: it must exit with status 2 (not
 * hang) and say @why in its log. */
static void assertRefusesToStart(unsigned i, const char *why)
{
    int status;

    assert_int_equal(testNodeStart(&cluster, i), 0);
    status = waitExit(i, 10000);
    assert_true(status != -1); /* it did not hang */
    assert_true(WIFEXITED(status));
    printf("# node %u refused to start: exit status %d\n", i + 1, WEXITSTATUS(status));
    if (WEXITSTATUS(status) != 2 || !logHas(i, why)) {
        dumpLog(i);
    }
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(logHas(i, why));
}

/* Node @i lost everything: it rejoins from a leader's image. */
static void wipeAndRejoin(unsigned i)
{
    char cmd[700];

    snprintf(cmd, sizeof cmd, "rm -rf '%s/raft' '%s/state'", cluster.nodes[i].dir,
             cluster.nodes[i].dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(testNodeStart(&cluster, i), 0);
}

/* A cut-short snapshot file is refused at start, never spun on: the
 * node's own marker, then the image it installed after it was wiped. */
static void test_truncated_snapshot_refused(void **state)
{
    qraft_client *client;
    (void)state;

    memset(&cluster, 0, sizeof cluster);
    assert_int_equal(testClusterStart(&cluster, 3, 17900,
                                      FLAGS " --snapshot-threshold 64 --snapshot-trailing 16",
                                      30000),
                     0);
    clusterUp = true;
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "snap", NULL, 0, NULL, 0), QRAFT_OK);
    sendMany(client, "snap", 300, 0);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);

    assert_int_not_equal(testNodeStop(&cluster, 2, SIGTERM, 15000), -1);
    truncateSnapshot(2, false);
    assertRefusesToStart(2, "snapshot is corrupt");

    wipeAndRejoin(2);
    sendMany(client, "snap", 10, 300);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assert_true(logHas(2, "kind=image"));
    assert_int_not_equal(testNodeStop(&cluster, 2, SIGTERM, 15000), -1);
    truncateSnapshot(2, true);
    assertRefusesToStart(2, "cut short");

    wipeAndRejoin(2);
    sendMany(client, "snap", 10, 310);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assert_int_equal(drainCount(client, "snap"), 320);
    qraft_close(client);
    stopCluster(NULL);
}

/* A small map: sends are refused with OverLimit before the store is full
 * (never a map-full at apply, which would stop every node), and accepted
 * again once messages are gone. */
static void test_store_high_water(void **state)
{
    static char body[200 * 1024];
    qraft_client *client;
    struct qraft_node_status a;
    struct qraft_node_status b;
    unsigned sent = 0;
    unsigned i;
    int rv = QRAFT_OK;
    (void)state;

    memset(&cluster, 0, sizeof cluster);
    assert_int_equal(testClusterStart(&cluster, 3, 18400, FLAGS " --map-size 16", 30000), 0);
    clusterUp = true;
    assert_int_equal(qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000},
                                &client),
                     0);
    assert_int_equal(qraft_create_queue(client, "big", NULL, 0, NULL, 0), QRAFT_OK);
    /* A refused request consumes its session sequence: the same client
     * goes on. */
    {
        struct qraft_receive_params bad = {.max = 11, .visibility_s = -1, .wait_s = 0};
        struct qraft_message *msgs;
        size_t n;
        assert_int_equal(qraft_receive(client, "big", &bad, &msgs, &n),
                         QRAFT_EINVALID_PARAMETER);
    }
    memset(body, 'x', sizeof body);
    for (i = 0; i < 200 && rv == QRAFT_OK; i++) {
        rv = qraft_send(client, "big", body, sizeof body, NULL, NULL);
        if (rv == QRAFT_OK) {
            sent++;
        }
    }
    printf("# %u sends of 200 KiB accepted with a 16 MiB map, then: %s\n", sent,
           qraft_errmsg(client));
    assert_int_equal(rv, QRAFT_EOVER_LIMIT);
    assert_true(sent >= 20 && sent < 80);
    /* Every node is still up and agrees. */
    for (i = 0; i < cluster.n; i++) {
        assert_int_equal(testNodeStatus(&cluster, i, &a), 0);
    }
    /* Room again once the messages are gone. */
    assert_int_equal(qraft_purge_queue(client, "big"), QRAFT_OK);
    testSleepMs(100);
    assert_int_equal(qraft_send(client, "big", body, sizeof body, NULL, NULL), QRAFT_OK);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
    assert_int_equal(testNodeStatus(&cluster, 0, &a), 0);
    assert_int_equal(testNodeStatus(&cluster, 2, &b), 0);
    assert_int_equal(a.applied_index, b.applied_index);
    assert_string_equal(a.digest, b.digest);
    qraft_close(client);
    stopCluster(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disk_error_stops_node, stopCluster),
        cmocka_unit_test_teardown(test_corrupt_segment_refused, stopCluster),
        cmocka_unit_test_teardown(test_truncated_snapshot_refused, stopCluster),
        cmocka_unit_test_teardown(test_store_high_water, stopCluster),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/faults", tests, NULL, NULL);
}
