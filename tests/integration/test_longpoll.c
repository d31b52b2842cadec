/* Long polling end to end on a real 3-node cluster: a waiting receive is
 * woken by a send within milliseconds, by a delay or a visibility timeout
 * ending, times out on time (its own WaitTimeSeconds or the queue's
 * default), and survives the loss of the leader it waits on. Waits are
 * 1-2 s; every bound below is generous, and every wait is bounded. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"

static struct testCluster cluster;
static qraft_client *client;

static int setup(void **state)
{
    (void)state;
    if (testClusterStart(&cluster, 3, 18000, FLAGS, 30000) != 0) {
        return -1;
    }
    return qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 20000}, &client);
}

static int teardown(void **state)
{
    (void)state;
    qraft_close(client);
    testClusterStop(&cluster, true);
    return 0;
}

/* A receive on its own client and thread. */
struct waiter
{
    const char *queue;
    int wait_s;
    int visibility_s;
    pthread_t thread;
    int rv;
    size_t n;
    char body[64];
    uint32_t receive_count;
    uint64_t returned_at;
};

static void *waiterMain(void *arg)
{
    struct waiter *w = arg;
    struct qraft_receive_params params = {.max = 1, .visibility_s = w->visibility_s,
                                          .wait_s = w->wait_s};
    struct qraft_message *msgs = NULL;
    qraft_client *c;

    w->rv = qraft_open(cluster.servers, &(struct qraft_options){.timeout_ms = 30000}, &c);
    if (w->rv != 0) {
        return NULL;
    }
    w->rv = qraft_receive(c, w->queue, &params, &msgs, &w->n);
    w->returned_at = testNowMs();
    if (w->rv == 0 && w->n > 0) {
        snprintf(w->body, sizeof w->body, "%.*s", (int)msgs[0].body_len, (char *)msgs[0].body);
        w->receive_count = msgs[0].receive_count;
    }
    qraft_messages_free(msgs, w->n);
    qraft_close(c);
    return NULL;
}

static void waiterStart(struct waiter *w, const char *queue, int wait_s, int visibility_s)
{
    memset(w, 0, sizeof *w);
    w->queue = queue;
    w->wait_s = wait_s;
    w->visibility_s = visibility_s;
    assert_int_equal(pthread_create(&w->thread, NULL, waiterMain, w), 0);
}

static void createQueue(const char *name, const struct qraft_attr *attrs, size_t n)
{
    assert_int_equal(qraft_create_queue(client, name, attrs, n, NULL, 0), QRAFT_OK);
}

static void test_woken_by_send(void **state)
{
    struct waiter w;
    uint64_t sent_at;
    (void)state;

    createQueue("lp-send", NULL, 0);
    waiterStart(&w, "lp-send", 10, -1);
    testSleepMs(500); /* let it park */
    assert_int_equal(qraft_send(client, "lp-send", "wake", 4, NULL, NULL), QRAFT_OK);
    sent_at = testNowMs();
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.body, "wake");
    printf("# long poll returned %lld ms after the send was acknowledged\n",
           (long long)(w.returned_at - sent_at));
    assert_true(w.returned_at < sent_at + 1000);
}

static void test_times_out_on_time(void **state)
{
    struct waiter w;
    uint64_t t0;
    (void)state;

    createQueue("lp-empty", NULL, 0);
    t0 = testNowMs();
    waiterStart(&w, "lp-empty", 1, -1);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 0);
    printf("# an empty 1 s long poll returned after %llu ms\n",
           (unsigned long long)(w.returned_at - t0));
    assert_true(w.returned_at - t0 >= 950);
    assert_true(w.returned_at - t0 < 3000);
}

static void test_queue_default_wait(void **state)
{
    const struct qraft_attr attrs[] = {{"ReceiveMessageWaitTimeSeconds", "1"}};
    struct waiter w;
    uint64_t t0;
    (void)state;

    createQueue("lp-default", attrs, 1);
    t0 = testNowMs();
    waiterStart(&w, "lp-default", -1, -1);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 0);
    printf("# the queue's 1 s default wait returned after %llu ms\n",
           (unsigned long long)(w.returned_at - t0));
    assert_true(w.returned_at - t0 >= 950);
    assert_true(w.returned_at - t0 < 3000);
}

static void test_woken_by_delay_end(void **state)
{
    struct qraft_send_params params = QRAFT_SEND_PARAMS_INIT;
    struct waiter w;
    uint64_t t0;
    (void)state;

    createQueue("lp-delay", NULL, 0);
    params.delay_s = 1;
    t0 = testNowMs();
    assert_int_equal(qraft_send(client, "lp-delay", "late", 4, &params, NULL), QRAFT_OK);
    waiterStart(&w, "lp-delay", 5, -1);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 1);
    printf("# a message delayed 1 s reached a long poll after %llu ms\n",
           (unsigned long long)(w.returned_at - t0));
    assert_true(w.returned_at - t0 >= 950);
    assert_true(w.returned_at - t0 < 3000);
}

static void test_woken_by_visibility_end(void **state)
{
    struct qraft_receive_params params = {.max = 1, .visibility_s = 1, .wait_s = 0};
    struct qraft_message *msgs;
    struct waiter w;
    size_t n;
    uint64_t t0;
    (void)state;

    createQueue("lp-vis", NULL, 0);
    assert_int_equal(qraft_send(client, "lp-vis", "again", 5, NULL, NULL), QRAFT_OK);
    assert_int_equal(qraft_receive(client, "lp-vis", &params, &msgs, &n), QRAFT_OK);
    assert_int_equal(n, 1);
    qraft_messages_free(msgs, n);
    t0 = testNowMs();
    waiterStart(&w, "lp-vis", 5, -1);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.receive_count, 2);
    printf("# a message whose 1 s visibility timeout ended reached a long poll after %llu ms\n",
           (unsigned long long)(w.returned_at - t0));
    assert_true(w.returned_at - t0 < 3000);
}

/* A waiter whose connection closes is dropped: it must not take a message
 * sent afterwards (it would hold it invisible for 30 s). */
static void test_dropped_with_its_connection(void **state)
{
    struct qraft_message *msgs;
    size_t n;
    pid_t pid;
    int status;
    (void)state;

    createQueue("lp-drop", NULL, 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("QRAFT_SERVERS", cluster.servers, 1);
        execl("bin/qraft", "qraft", "recv", "lp-drop", "--wait", "20", (char *)NULL);
        _exit(127);
    }
    testSleepMs(700); /* parked at the leader by now */
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    testSleepMs(100);
    assert_int_equal(qraft_send(client, "lp-drop", "mine", 4, NULL, NULL), QRAFT_OK);
    assert_int_equal(qraft_receive(client, "lp-drop",
                                   &(struct qraft_receive_params){.max = 1, .visibility_s = -1,
                                                                  .wait_s = 0},
                                   &msgs, &n),
                     QRAFT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0].receive_count, 1);
    qraft_messages_free(msgs, n);
}

static void test_survives_leader_loss(void **state)
{
    struct waiter w;
    int leader;
    (void)state;

    createQueue("lp-failover", NULL, 0);
    leader = testClusterLeader(&cluster, 5000);
    assert_true(leader >= 0);
    waiterStart(&w, "lp-failover", 15, -1);
    testSleepMs(500);
    assert_int_not_equal(testNodeStop(&cluster, (unsigned)leader, SIGKILL, 5000), -1);
    /* The main client follows the new leader; the waiter's client gets
     * NotLeader or a reset, retries there and waits again. */
    assert_int_equal(qraft_send(client, "lp-failover", "after", 5, NULL, NULL), QRAFT_OK);
    pthread_join(w.thread, NULL);
    assert_int_equal(w.rv, QRAFT_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.body, "after");
    assert_int_equal(testNodeStart(&cluster, (unsigned)leader), 0);
    assert_int_equal(testClusterWaitCaughtUp(&cluster, 20000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_woken_by_send),
        cmocka_unit_test(test_times_out_on_time),
        cmocka_unit_test(test_queue_default_wait),
        cmocka_unit_test(test_woken_by_delay_end),
        cmocka_unit_test(test_woken_by_visibility_end),
        cmocka_unit_test(test_dropped_with_its_connection),
        cmocka_unit_test(test_survives_leader_loss),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/longpoll", tests, setup, teardown);
}
