/* The cluster's time when the leader's wall clock jumps (found by the chaos
 * harness's clock fault). A one-node cluster runs under libfaketime, whose
 * offset file the test rewrites (re-read every second; the monotonic clock,
 * which raft's timers use, is left alone):
 *
 * - a jump forward then back must not freeze the cluster's time: a
 *   message received with a 2 s visibility timeout after the jump comes
 *   back within seconds (before the fix, time stood still at the jumped
 *   value until the wall clock caught up, an hour later);
 * - a jump back must not move it backwards, nor freeze it: a 2 s delay
 *   still ends about 2 s after the send (before the fix, the cluster's
 *   time stood still for the 600 s of the jump, and this case fails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"

static struct testCluster cluster;
static qraft_client *client;
static char clock_file[300];

static void setClock(const char *offset)
{
    FILE *f = fopen(clock_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", offset);
    fclose(f);
    /* libfaketime reads the file at most once a second. */
    testSleepMs(1500);
}

static int setup(void **state)
{
    int rv;
    (void)state;
    if (access(FAKETIME_LIB, R_OK) != 0) {
        fprintf(stderr, "test_clock: %s missing (scripts/install-deps installs faketime)\n",
                FAKETIME_LIB);
        return -1;
    }
    snprintf(clock_file, sizeof clock_file, "/tmp/qraft-test-clock-%d", (int)getpid());
    setClock("+0");
    /* The node inherits these; the test itself runs on the real clock. */
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", clock_file, 1);
    setenv("FAKETIME_CACHE_DURATION", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("NO_FAKE_STAT", "1", 1);
    /* A sanitized qraftd wants its runtime first; libfaketime comes first. */
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 0);
    rv = testClusterStart(&cluster, 1, 18600, FLAGS, 30000);
    unsetenv("LD_PRELOAD");
    if (rv != 0) {
        return -1;
    }
    return qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 10000}, &client);
}

static int teardown(void **state)
{
    (void)state;
    qraft_close(client);
    testClusterStop(&cluster, true);
    unlink(clock_file);
    return 0;
}

/* Receive one message with @visibility_s, waiting up to @wait_s; returns
 * how many came (0 or 1). */
static size_t receiveOne(const char *queue, int visibility_s, int wait_s)
{
    struct qraft_receive_params p = {.max = 1, .visibility_s = visibility_s, .wait_s = wait_s};
    struct qraft_message *msgs = NULL;
    size_t n = 0;
    assert_int_equal(qraft_receive(client, queue, &p, &msgs, &n), QRAFT_OK);
    qraft_messages_free(msgs, n);
    return n;
}

static void test_jump_forward_and_back(void **state)
{
    uint64_t t0;
    (void)state;
    assert_int_equal(qraft_create_queue(client, "clock-fwd", NULL, 0, NULL, 0), QRAFT_OK);
    setClock("+3600s");
    /* The leader stamps this command one hour ahead. */
    assert_int_equal(qraft_send(client, "clock-fwd", "m", 1, NULL, NULL), QRAFT_OK);
    setClock("+0");
    assert_int_equal(receiveOne("clock-fwd", 2, 0), 1);
    /* Hidden for 2 s of the cluster's time, which must go on. */
    t0 = testNowMs();
    assert_int_equal(receiveOne("clock-fwd", 2, 10), 1);
    assert_true(testNowMs() - t0 < 8000);
}

static void test_jump_back(void **state)
{
    uint64_t t0;
    struct qraft_send_params params = QRAFT_SEND_PARAMS_INIT;
    (void)state;
    assert_int_equal(qraft_create_queue(client, "clock-back", NULL, 0, NULL, 0), QRAFT_OK);
    params.delay_s = 2;
    t0 = testNowMs();
    assert_int_equal(qraft_send(client, "clock-back", "d", 1, &params, NULL), QRAFT_OK);
    setClock("-600s");
    /* The delay ends about 2 s after the send, clock or no clock. */
    assert_int_equal(receiveOne("clock-back", 30, 10), 1);
    assert_true(testNowMs() - t0 >= 1900);
    assert_true(testNowMs() - t0 < 9000);
    setClock("+0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jump_forward_and_back),
        cmocka_unit_test(test_jump_back),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/clock", tests, setup, teardown);
}
