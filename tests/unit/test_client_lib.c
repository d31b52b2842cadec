/* Unit tests of the client library's session engine against the scripted
 * fake server of test_client_fake.h: connect and hello, NotLeader
 * following, resends after a dropped connection, UnknownOutcome,
 * OutOfOrder, SessionExpired, backoff, deadlines, async completion. The
 * operations' args and results are tested in test_client_ops.c.
 */
#include "test_client_fake.h"

/* ---------------------------------------------------------------------- */
/* Async bookkeeping                                                       */

#define N_ASYNC 100

/* Outcomes of the async sends of one test. */
struct asyncLog
{
    int calls[N_ASYNC];
    int status[N_ASYNC];
    char ids[N_ASYNC][QRAFT_MESSAGE_ID_MAX];
};

static struct asyncLog alog;

static void asyncCb(void *arg,
                    int status,
                    const struct qraft_send_result *res)
{
    int i = (int)(intptr_t)arg;
    alog.calls[i]++;
    alog.status[i] = status;
    if (res != NULL) {
        snprintf(alog.ids[i], sizeof alog.ids[i], "%s", res->message_id);
    }
}

/* Queue @n async sends, wait, check each completed once with m-<seq>. */
static void sendAsyncAndCheck(qraft_client *c, int n)
{
    char want[32];
    int i;
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < n; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, NULL, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    assert_int_equal(qraft_wait(c), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_OK);
        snprintf(want, sizeof want, "m-%d", i + 1);
        assert_string_equal(alog.ids[i], want);
    }
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */

static void connectAndHello(void **state)
{
    struct fake *f = fakeStart(1, NULL, false);
    qraft_client *c = openClient(f->addr, 2000);
    struct qraft_send_result res;
    (void)state;
    assert_int_equal(qraft_send(c, "q", "hi", 2, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-1");
    assert_int_equal(qraft_create_queue(c, "q", NULL, 0, NULL, 0), 0);
    assert_int_equal(qraft_delete_queue(c, "q"), 0);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->conns, 1);
    assert_int_equal(f->hellos, 1);
    assert_int_equal(f->helloVersion, QRAFT_PROTOCOL_VERSION);
    assert_int_equal(f->nSeen, 3);
    assert_true(f->seen[0].cid != 0);
    assert_int_equal(f->seen[0].seq, 1);
    assert_int_equal(f->seen[0].ack, 1);
    assert_int_equal(f->seen[2].seq, 3);
    assert_int_equal(f->seen[2].ack, 3); /* 1 and 2 answered */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 3);
    qraft_close(c);
    fakeStop(f);
}

static void openRejectsBadLists(void **state)
{
    qraft_client *c = (qraft_client *)1;
    (void)state;
    assert_int_equal(qraft_open("", NULL, &c), QRAFT_EINVAL);
    assert_null(c);
    assert_int_equal(qraft_open("localhost", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:1,", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:0", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:65536", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:12x", NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open(NULL, NULL, &c), QRAFT_EINVAL);
    assert_int_equal(qraft_open("a:1,[::1]:2,localhost:65535", NULL, &c), 0);
    qraft_close(c);
}

/* Every request: NotLeader pointing at f->leader. */
static int hookNotLeader(struct fake *f,
                         const struct qraft_request *req,
                         int nth,
                         int *code,
                         const char **leader)
{
    (void)req;
    (void)nth;
    *code = QRAFT_ENOTLEADER;
    *leader = f->leader;
    return FAKE_ERROR;
}

static void notLeaderFollowsHint(void **state)
{
    struct fake *b = fakeStart(2, NULL, false);
    struct fake *a = fakeStart(1, hookNotLeader, false);
    qraft_client *c;
    struct qraft_send_result res;
    char servers[80];
    (void)state;
    a->leader = b->addr;
    /* Only a is listed: the hint alone leads to b. */
    snprintf(servers, sizeof servers, "%s", a->addr);
    c = openClient(servers, 3000);
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-1");
    pthread_mutex_lock(&a->mu);
    assert_int_equal(a->nSeen, 1);
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&b->mu);
    assert_int_equal(b->nSeen, 1);
    assert_int_equal(b->seen[0].seq, 1);
    assert_int_equal(b->hellos, 1);
    pthread_mutex_unlock(&b->mu);
    assert_int_equal(qraft_send(c, "q", "y", 1, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-2");
    qraft_close(c);
    fakeStop(a);
    fakeStop(b);
}

static void notLeaderWithoutHintTriesNext(void **state)
{
    struct fake *b = fakeStart(2, NULL, false);
    struct fake *a = fakeStart(1, hookNotLeader, false);
    qraft_client *c;
    char servers[80];
    int64_t t0;
    (void)state;
    a->leader = ""; /* no leader known */
    snprintf(servers, sizeof servers, "%s,%s", a->addr, b->addr);
    c = openClient(servers, 3000);
    t0 = nowMs();
    assert_int_equal(qraft_create_queue(c, "q", NULL, 0, NULL, 0), 0);
    assert_true(nowMs() - t0 >= 40); /* after the 50 ms backoff */
    assertApplied(b, 1);
    qraft_close(c);
    fakeStop(a);
    fakeStop(b);
}

/* First connection: normal up to seq 30, then silent (applied) up to 40,
 * then hang up. Afterwards normal. */
static int hookDrop(struct fake *f,
                    const struct qraft_request *req,
                    int nth,
                    int *code,
                    const char **leader)
{
    (void)nth;
    (void)code;
    (void)leader;
    if (f->conns > 1 || req->seq <= 30) {
        return FAKE_NORMAL;
    }
    if (req->seq < 40) {
        return FAKE_APPLY_SILENT;
    }
    if (req->seq == 40) {
        return FAKE_APPLY_HANGUP;
    }
    return FAKE_SWALLOW;
}

static void dropMidPipelineResendsInOrder(void **state)
{
    struct fake *f = fakeStart(1, hookDrop, false);
    qraft_client *c = openClient(f->addr, 5000);
    uint64_t cid;
    uint64_t expect = 31;
    int i;
    (void)state;
    sendAsyncAndCheck(c, N_ASYNC);
    assertApplied(f, N_ASYNC);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->conns, 2);
    assert_int_equal(f->outOfOrder, 0);
    cid = f->seen[0].cid;
    for (i = 0; i < f->nSeen; i++) {
        assert_int_equal(f->seen[i].cid, cid);
        if (f->seen[i].conn == 2) {
            /* From the first unanswered (31), in order, no gap. */
            assert_int_equal(f->seen[i].seq, expect);
            expect++;
        }
    }
    assert_int_equal(expect, N_ASYNC + 1);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* First sighting of seq 1: applied, but answered UnknownOutcome. */
static int hookUnknownOutcome(struct fake *f,
                              const struct qraft_request *req,
                              int nth,
                              int *code,
                              const char **leader)
{
    (void)f;
    (void)leader;
    if (req->seq == 1 && nth == 1) {
        *code = QRAFT_EUNKNOWN_OUTCOME;
        return FAKE_APPLY_ERROR;
    }
    return FAKE_NORMAL;
}

static void unknownOutcomeResendsSameSeq(void **state)
{
    struct fake *f = fakeStart(1, hookUnknownOutcome, false);
    qraft_client *c = openClient(f->addr, 3000);
    struct qraft_send_result res;
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-1");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 2);
    assert_int_equal(f->seen[1].seq, 1);
    assert_int_equal(f->seen[1].cid, f->seen[0].cid);
    assert_true(f->seen[1].id != f->seen[0].id); /* a fresh frame id */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 1); /* once */
    qraft_close(c);
    fakeStop(f);
}

/* First sighting of seq 3: lost (no reply, not applied). */
static int hookLose3(struct fake *f,
                     const struct qraft_request *req,
                     int nth,
                     int *code,
                     const char **leader)
{
    (void)f;
    (void)code;
    (void)leader;
    return req->seq == 3 && nth == 1 ? FAKE_SWALLOW : FAKE_NORMAL;
}

static void outOfOrderResendsFromFirstUnanswered(void **state)
{
    struct fake *f = fakeStart(1, hookLose3, false);
    qraft_client *c = openClient(f->addr, 3000);
    int i;
    (void)state;
    sendAsyncAndCheck(c, 10);
    assertApplied(f, 10);
    pthread_mutex_lock(&f->mu);
    assert_true(f->outOfOrder >= 1);
    /* 1..10 once, then one resend from 3 (the first unanswered) to 10. */
    assert_int_equal(f->nSeen, 18);
    for (i = 0; i < 10; i++) {
        assert_int_equal(f->seen[i].seq, (uint64_t)i + 1);
    }
    for (i = 10; i < 18; i++) {
        assert_int_equal(f->seen[i].seq, (uint64_t)i - 7);
    }
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* Swallow everything until the test says otherwise (via f->leader). */
static int hookSilentUntilTold(struct fake *f,
                               const struct qraft_request *req,
                               int nth,
                               int *code,
                               const char **leader)
{
    (void)req;
    (void)nth;
    (void)code;
    (void)leader;
    return f->leader == NULL ? FAKE_SWALLOW : FAKE_NORMAL;
}

static void timeoutKeepsRequestInSession(void **state)
{
    struct fake *f = fakeStart(1, hookSilentUntilTold, false);
    qraft_client *c = openClient(f->addr, 300);
    struct qraft_send_result res;
    int64_t t0 = nowMs();
    int64_t took;
    uint64_t cid;
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, &res), QRAFT_ETIMEDOUT);
    took = nowMs() - t0;
    assert_true(took >= 290);
    assert_true(took < 1300);
    assert_non_null(strstr(qraft_errmsg(c), "Timeout"));

    pthread_mutex_lock(&f->mu);
    f->leader = "answer now";
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(qraft_send(c, "q", "y", 1, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-2");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    cid = f->seen[0].cid;
    assert_int_equal(f->seen[0].seq, 1);
    assert_int_equal(f->seen[1].seq, 1); /* resent, same seq and session */
    assert_int_equal(f->seen[1].cid, cid);
    assert_int_equal(f->seen[1].conn, 2);
    assert_int_equal(f->seen[2].seq, 2);
    assert_int_equal(f->seen[2].ack, 1); /* 1 not answered when 2 left */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 2);
    qraft_close(c);
    fakeStop(f);
}

/* Callbacks of async receives and deletes: how often, with what. */
static struct
{
    int receives, deletes;
    int status;
    bool msgs_null, results_null;
    size_t n;
} rlog;

static void receivedCb(void *arg, int status, const struct qraft_message *msgs, size_t n)
{
    (void)arg;
    rlog.receives++;
    rlog.status = status;
    rlog.msgs_null = msgs == NULL;
    rlog.n = n;
}

static void deletedCb(void *arg, int status, const struct qraft_batch_result *res, size_t n)
{
    (void)arg;
    rlog.deletes++;
    rlog.status = status;
    rlog.results_null = res == NULL;
    rlog.n = n;
}

/* Bad arguments are refused at the call (the callback never runs); a
 * receive and a delete that get no reply call back once, at their
 * deadline, with nothing. */
static void asyncReceiveAndDelete(void **state)
{
    struct fake *f = fakeStart(1, hookSilentUntilTold, false);
    qraft_client *c = openClient(f->addr, 200);
    struct qraft_receive_params none = {0, -1, 0};
    struct qraft_delete_entry e[QRAFT_BATCH_MAX + 1];
    (void)state;
    memset(&rlog, 0, sizeof rlog);
    for (int i = 0; i <= QRAFT_BATCH_MAX; i++) {
        e[i] = (struct qraft_delete_entry){NULL, "r"};
    }
    assert_int_equal(qraft_receive_async(c, "q", &none, receivedCb, NULL), QRAFT_EINVAL);
    assert_non_null(strstr(qraft_errmsg(c), "max must be 1 or more"));
    assert_int_equal(qraft_receive_async(c, NULL, NULL, receivedCb, NULL), QRAFT_EINVAL);
    assert_int_equal(qraft_delete_batch_async(c, "q", e, 0, deletedCb, NULL), QRAFT_EINVAL);
    assert_int_equal(qraft_delete_batch_async(c, "q", e, QRAFT_BATCH_MAX + 1, deletedCb, NULL),
                     QRAFT_EINVAL);
    assert_non_null(strstr(qraft_errmsg(c), "1..10 entries"));
    e[3].receipt = NULL;
    assert_int_equal(qraft_delete_batch_async(c, "q", e, 5, deletedCb, NULL), QRAFT_EINVAL);
    assert_non_null(strstr(qraft_errmsg(c), "NULL receipt"));
    e[3].receipt = "r";
    assert_int_equal(rlog.receives + rlog.deletes, 0);

    assert_int_equal(qraft_receive_async(c, "q", NULL, receivedCb, NULL), 0);
    assert_int_equal(qraft_wait(c), QRAFT_ETIMEDOUT);
    assert_int_equal(rlog.receives, 1);
    assert_int_equal(rlog.status, QRAFT_ETIMEDOUT);
    assert_true(rlog.msgs_null);
    assert_int_equal(rlog.n, 0);
    assert_int_equal(qraft_delete_batch_async(c, "q", e, 4, deletedCb, NULL), 0);
    assert_int_equal(qraft_wait(c), QRAFT_ETIMEDOUT);
    assert_int_equal(rlog.deletes, 1);
    assert_int_equal(rlog.status, QRAFT_ETIMEDOUT);
    assert_true(rlog.results_null);
    assert_int_equal(rlog.n, 4);
    qraft_close(c);
    fakeStop(f);
}

static void asyncTimeoutCallsBackOnce(void **state)
{
    struct fake *f = fakeStart(1, hookSilentUntilTold, false);
    qraft_client *c = openClient(f->addr, 200);
    int64_t t0 = nowMs();
    int i;
    (void)state;
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < 5; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, NULL, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    assert_int_equal(qraft_wait(c), QRAFT_ETIMEDOUT);
    assert_true(nowMs() - t0 < 1200);
    for (i = 0; i < 5; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_ETIMEDOUT);
    }
    /* Later calls resend them first; their replies are dropped. */
    pthread_mutex_lock(&f->mu);
    f->leader = "answer now";
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(qraft_create_queue(c, "q", NULL, 0, NULL, 0), 0);
    assertApplied(f, 6);
    for (i = 0; i < 5; i++) {
        assert_int_equal(alog.calls[i], 1);
    }
    qraft_close(c);
    fakeStop(f);
}

static void unreachableFailsAtDeadline(void **state)
{
    struct fake *hole = fakeStart(1, NULL, true);
    char a1[32];
    char a2[32];
    char servers[80];
    qraft_client *c;
    int64_t t0;
    int rv;
    (void)state;
    closedAddr(a1, sizeof a1);
    closedAddr(a2, sizeof a2);
    snprintf(servers, sizeof servers, "%s,%s", a1, a2);
    c = openClient(servers, 300);
    t0 = nowMs();
    rv = qraft_send(c, "q", "x", 1, NULL, NULL);
    assert_int_equal(rv, QRAFT_EUNAVAILABLE);
    assert_true(nowMs() - t0 >= 290);
    assert_true(nowMs() - t0 < 1300);
    assert_non_null(strstr(qraft_errmsg(c), "refused"));
    /* Nothing was sent: QRAFT_EUNAVAILABLE says so (not Timeout). */
    qraft_close(c);

    /* A server that accepts TCP but never answers hello. */
    c = openClient(hole->addr, 300);
    t0 = nowMs();
    rv = qraft_delete_queue(c, "q");
    assert_true(rv == QRAFT_EUNAVAILABLE || rv == QRAFT_ETIMEDOUT);
    assert_true(nowMs() - t0 >= 290);
    assert_true(nowMs() - t0 < 1300);
    qraft_close(c);
    fakeStop(hole);
}

/* Every session request: a business error. */
static int hookQueueMissing(struct fake *f,
                            const struct qraft_request *req,
                            int nth,
                            int *code,
                            const char **leader)
{
    (void)f;
    (void)req;
    (void)nth;
    (void)leader;
    *code = QRAFT_EQUEUE_DOES_NOT_EXIST;
    return FAKE_APPLY_ERROR;
}

static void serverErrorFillsErrmsg(void **state)
{
    struct fake *f = fakeStart(1, hookQueueMissing, false);
    qraft_client *c = openClient(f->addr, 2000);
    (void)state;
    assert_int_equal(qraft_send(c, "nope", "x", 1, NULL, NULL),
                     QRAFT_EQUEUE_DOES_NOT_EXIST);
    assert_string_equal(qraft_errmsg(c),
                        "QueueDoesNotExist: fake says QueueDoesNotExist");
    /* Refusals are final: the next request follows at once. */
    assert_int_equal(qraft_delete_queue(c, "nope"),
                     QRAFT_EQUEUE_DOES_NOT_EXIST);
    assertApplied(f, 2);
    qraft_close(c);
    fakeStop(f);
}

/* Unavailable twice, then normal. */
static int hookUnavailableTwice(struct fake *f,
                                const struct qraft_request *req,
                                int nth,
                                int *code,
                                const char **leader)
{
    (void)f;
    (void)req;
    (void)leader;
    if (nth <= 2) {
        *code = QRAFT_EUNAVAILABLE;
        return FAKE_ERROR;
    }
    return FAKE_NORMAL;
}

static void unavailableBacksOff(void **state)
{
    struct fake *f = fakeStart(1, hookUnavailableTwice, false);
    qraft_client *c = openClient(f->addr, 3000);
    int64_t t0 = nowMs();
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, NULL), 0);
    assert_true(nowMs() - t0 >= 140); /* 50 + 100 ms */
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    assert_int_equal(f->seen[2].seq, 1);
    assert_int_equal(f->conns, 1); /* same connection */
    pthread_mutex_unlock(&f->mu);
    assertApplied(f, 1);
    qraft_close(c);
    fakeStop(f);
}

/* SessionExpired to the first attempt of seq 2 (of the first session). */
static int hookExpireFirst(struct fake *f,
                           const struct qraft_request *req,
                           int nth,
                           int *code,
                           const char **leader)
{
    (void)leader;
    (void)nth;
    if (f->nSeen == 2) {
        *code = QRAFT_ESESSION_EXPIRED;
        return FAKE_ERROR;
    }
    (void)req;
    return FAKE_NORMAL;
}

static void sessionExpiredStartsNewSession(void **state)
{
    struct fake *f = fakeStart(1, hookExpireFirst, false);
    qraft_client *c = openClient(f->addr, 3000);
    struct qraft_send_result res;
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, &res), 0);
    assert_int_equal(qraft_send(c, "q", "y", 1, NULL, &res), 0);
    assert_string_equal(res.message_id, "m-1"); /* renumbered in the new session */
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->nSeen, 3);
    assert_int_equal(f->seen[1].seq, 2);
    assert_int_equal(f->seen[2].seq, 1);
    assert_true(f->seen[2].cid != f->seen[1].cid);
    pthread_mutex_unlock(&f->mu);
    qraft_close(c);
    fakeStop(f);
}

/* seq 1: UnknownOutcome first (not applied), then SessionExpired. */
static int hookExpireRetry(struct fake *f,
                           const struct qraft_request *req,
                           int nth,
                           int *code,
                           const char **leader)
{
    (void)f;
    (void)req;
    (void)leader;
    *code = nth == 1 ? QRAFT_EUNKNOWN_OUTCOME : QRAFT_ESESSION_EXPIRED;
    return FAKE_ERROR;
}

static void sessionExpiredOnRetryFails(void **state)
{
    struct fake *f = fakeStart(1, hookExpireRetry, false);
    qraft_client *c = openClient(f->addr, 3000);
    (void)state;
    assert_int_equal(qraft_send(c, "q", "x", 1, NULL, NULL),
                     QRAFT_ESESSION_EXPIRED);
    assert_non_null(strstr(qraft_errmsg(c), "SessionExpired"));
    qraft_close(c);
    fakeStop(f);
}

static void nodeStatusParses(void **state)
{
    struct fake *f = fakeStart(2, NULL, false);
    struct qraft_node_status st;
    char err[256];
    char addr[32];
    (void)state;
    assert_int_equal(qraft_node_status(f->addr, 2000, &st, err, sizeof err),
                     0);
    assert_int_equal(st.id, 2);
    assert_string_equal(st.zone, "az2");
    assert_string_equal(st.role, "voter");
    assert_string_equal(st.state, "follower");
    assert_int_equal(st.term, 7);
    assert_int_equal(st.last_index, 1234);
    assert_int_equal(st.applied_index, 1230);
    assert_int_equal(st.leader_id, 1);
    assert_string_equal(st.digest, "0123456789abcdef0123456789abcdef");
    assert_int_equal(st.n_members, 3);
    assert_int_equal(st.members[2].id, 3);
    assert_string_equal(st.members[2].zone, "az3");
    assert_string_equal(st.members[2].raft_addr, "127.0.0.1:7003");
    assert_string_equal(st.members[2].client_addr, "127.0.0.1:7103");
    assert_string_equal(st.members[2].role, "standby");
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->hellos, 1);
    assert_string_equal(f->seen[0].op, "status");
    pthread_mutex_unlock(&f->mu);
    fakeStop(f);

    closedAddr(addr, sizeof addr);
    assert_int_equal(qraft_node_status(addr, 500, &st, err, sizeof err),
                     QRAFT_EUNAVAILABLE);
    assert_string_equal(st.state, "unavailable");
    assert_non_null(strstr(err, "Unavailable: "));
    assert_int_equal(qraft_node_status("nonsense", 500, &st, err, sizeof err),
                     QRAFT_EINVAL);
}

static void closeCompletesQueuedAsync(void **state)
{
    char addr[32];
    qraft_client *c;
    int i;
    (void)state;
    closedAddr(addr, sizeof addr);
    c = openClient(addr, 1000);
    memset(&alog, 0, sizeof alog);
    for (i = 0; i < 3; i++) {
        assert_int_equal(qraft_send_async(c, "q", "x", 1, NULL, asyncCb,
                                          (void *)(intptr_t)i),
                         0);
    }
    qraft_close(c);
    for (i = 0; i < 3; i++) {
        assert_int_equal(alog.calls[i], 1);
        assert_int_equal(alog.status[i], QRAFT_EUNAVAILABLE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connectAndHello),
        cmocka_unit_test(openRejectsBadLists),
        cmocka_unit_test(notLeaderFollowsHint),
        cmocka_unit_test(notLeaderWithoutHintTriesNext),
        cmocka_unit_test(dropMidPipelineResendsInOrder),
        cmocka_unit_test(unknownOutcomeResendsSameSeq),
        cmocka_unit_test(outOfOrderResendsFromFirstUnanswered),
        cmocka_unit_test(timeoutKeepsRequestInSession),
        cmocka_unit_test(asyncTimeoutCallsBackOnce),
        cmocka_unit_test(asyncReceiveAndDelete),
        cmocka_unit_test(unreachableFailsAtDeadline),
        cmocka_unit_test(serverErrorFillsErrmsg),
        cmocka_unit_test(unavailableBacksOff),
        cmocka_unit_test(sessionExpiredStartsNewSession),
        cmocka_unit_test(sessionExpiredOnRetryFails),
        cmocka_unit_test(nodeStatusParses),
        cmocka_unit_test(closeCompletesQueuedAsync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
