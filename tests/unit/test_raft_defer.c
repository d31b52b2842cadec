/* A follower's deferred apply (raft/fsmglue.c "Deferred apply") under
 * libraft's own replication (raft_fixture, three servers, the production
 * glue): libraft counts an entry applied when the follower has only
 * recorded it; fsmAdapterSettle applies the recorded entries in order. The
 * state a follower settles to must be the leader's, and anything that
 * reads or replaces the state in between (a snapshot, a restore, an apply
 * as leader) must settle first. The applier (raft/applier.c) applies the
 * recorded entries on a thread of its own; a settle takes the state
 * back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <raft/fixture.h>

#include "fsm/internal.h"
#include "raft/internal.h"
#include "tests/lib/fsmtest.h"

#define N_SERVERS 3

struct cluster
{
    struct raft_fixture f;
    struct ft *t[N_SERVERS];
    struct fsmAdapter a[N_SERVERS];
    uint32_t leader_replies; /* of the last entry applied on the leader */
    char fatal_what[128];    /* the last adapter's fatal call, if any */
};

static void captureFatal(void *arg, const char *what, int rv)
{
    struct cluster *c = arg;
    (void)rv;
    snprintf(c->fatal_what, sizeof c->fatal_what, "%s", what);
}

static int clusterSetUp(void **state)
{
    struct cluster *c = calloc(1, sizeof *c);
    struct raft_configuration conf;

    assert_non_null(c);
    assert_int_equal(raft_fixture_initialize(&c->f), 0);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        c->t[i] = ftOpen(1024, 3600000, 0);
        fsmAdapterInit(&c->a[i], c->t[i]->f);
        /* raft_init refuses snapshot_async unless io.version >= 2, and
         * the fixture never sets it. */
        c->f.servers[i].io.version = 2;
        assert_int_equal(raft_fixture_grow(&c->f, &c->a[i].raft_fsm), 0);
        c->a[i].raft = &c->f.servers[i].raft;
        c->a[i].defer_follower = true;
    }
    assert_int_equal(raft_fixture_configuration(&c->f, N_SERVERS, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&c->f), 0);
    raft_fixture_elect(&c->f, 0);
    *state = c;
    return 0;
}

static int clusterTearDown(void **state)
{
    struct cluster *c = *state;

    raft_fixture_close(&c->f);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        fsmAdapterClose(&c->a[i]);
        ftClose(c->t[i]);
    }
    free(c);
    return 0;
}

/* A batch entry in @t's session: create queue @q (if @create), then
 * @sends messages to it. */
static struct raft_buffer makeEntry(struct ft *t, const char *q, bool create, unsigned sends)
{
    struct batchWriter w;
    struct fsmCommand cmd;
    struct raft_buffer buf;

    memset(&w, 0, sizeof w);
    if (create) {
        ftArgs(t, "{\"QueueName\":\"%s\"}", q);
        ftCommandNext(t, FSM_OP_CREATE_QUEUE, &cmd);
        assert_int_equal(batchWriterAdd(&w, &cmd), 0);
    }
    for (unsigned i = 0; i < sends; i++) {
        ftArgs(t, "{\"QueueName\":\"%s\",\"MessageBody\":\"m%u\"}", q, i);
        ftCommandNext(t, FSM_OP_SEND_MESSAGE, &cmd);
        assert_int_equal(batchWriterAdd(&w, &cmd), 0);
    }
    batchWriterTake(&w, &buf);
    return buf;
}

static struct raft_buffer copyOf(const struct raft_buffer *b)
{
    struct raft_buffer copy = {raft_malloc(b->len), b->len};
    assert_non_null(copy.base);
    memcpy(copy.base, b->base, b->len);
    return copy;
}

static void appliedCb(struct raft_apply *req, int status, void *result)
{
    struct cluster *c = req->data;
    const struct glueResult *res = result;

    assert_int_equal(status, 0);
    c->leader_replies = res->n;
    free(req);
}

/* Propose @entry on the leader (server 0; raft owns it from here) and step
 * until every server's libraft has applied it. Returns its index. */
static raft_index commit(struct cluster *c, struct raft_buffer entry)
{
    struct raft_apply *req = malloc(sizeof *req);
    struct raft *leader = &c->f.servers[0].raft;

    assert_non_null(req);
    req->data = c;
    assert_int_equal(raft_apply(leader, req, &entry, 1, appliedCb), 0);
    raft_index index = raft_last_index(leader);
    assert_true(raft_fixture_step_until_applied(&c->f, N_SERVERS, index, 10000));
    return index;
}

static uint64_t stateIndex(struct ft *t)
{
    uint64_t index;
    uint32_t cmds;
    fsmPosition(t->f, &index, &cmds);
    return index;
}

static void digestOf(struct ft *t, char out[33])
{
    fsmDigest(t->f, out);
}

/* Followers record what libraft applies and reach the leader's state when
 * they settle; the leader applies at once, with every reply. */
static void followersSettleToTheLeadersState(void **state)
{
    struct cluster *c = *state;
    char leader[33];
    char follower[33];
    raft_index index;

    index = commit(c, makeEntry(c->t[0], "q", true, 3));
    assert_int_equal(c->leader_replies, 4);
    assert_int_equal(stateIndex(c->t[0]), index);
    assert_int_equal(c->a[0].staged_n, 0);
    digestOf(c->t[0], leader);
    for (unsigned i = 1; i < N_SERVERS; i++) {
        assert_int_equal(raft_last_applied(&c->f.servers[i].raft), index);
        assert_true(c->a[i].staged_n > 0);
        assert_true(stateIndex(c->t[i]) < index);
        assert_int_equal(fsmAdapterSettle(&c->a[i]), 0);
        assert_int_equal(c->a[i].staged_n, 0);
        assert_int_equal(stateIndex(c->t[i]), index);
        digestOf(c->t[i], follower);
        assert_string_equal(follower, leader);
        assert_string_equal(ftAttr(c->t[i], "q", "ApproximateNumberOfMessages"), "3");
    }
    /* Settling twice changes nothing. */
    assert_int_equal(fsmAdapterSettle(&c->a[1]), 0);
    digestOf(c->t[1], follower);
    assert_string_equal(follower, leader);
}

/* A snapshot is of the state at libraft's last_applied: a follower's
 * snapshot settles first. A restore settles first too (libraft frees the
 * log the recorded entries point into), then replaces the state. */
static void snapshotAndRestoreSettleFirst(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];
    struct fsmAdapter *a2 = &c->a[2];
    struct raft_buffer *bufs = NULL;
    struct raft_buffer image;
    unsigned n = 0;
    char leader[33];
    char got[33];
    raft_index index;

    index = commit(c, makeEntry(c->t[0], "q", true, 5));
    digestOf(c->t[0], leader);
    assert_true(a1->staged_n > 0);
    assert_int_equal(a1->raft_fsm.snapshot(&a1->raft_fsm, &bufs, &n), 0);
    assert_int_equal(a1->staged_n, 0);
    assert_int_equal(stateIndex(c->t[1]), index);
    digestOf(c->t[1], got);
    assert_string_equal(got, leader);
    assert_int_equal(a1->raft_fsm.snapshot_async(&a1->raft_fsm, &bufs, &n), 0);
    assert_int_equal(n, 1);
    image = copyOf(&bufs[0]);
    assert_int_equal(a1->raft_fsm.snapshot_finalize(&a1->raft_fsm, &bufs, &n), 0);

    assert_true(a2->staged_n > 0);
    assert_int_equal(a2->raft_fsm.restore(&a2->raft_fsm, &image), 0); /* owns it now */
    assert_int_equal(a2->staged_n, 0);
    assert_int_equal(stateIndex(c->t[2]), index);
    digestOf(c->t[2], got);
    assert_string_equal(got, leader);
}

/* An entry applied outside a follower's deferral (as leader, or replayed)
 * comes after the recorded ones: they are applied first, in order. */
static void applyAtSettlesFirst(void **state)
{
    struct cluster *c = *state;
    struct ft *ref = ftOpen(1024, 3600000, 0);
    struct fsmAdapter refa;
    struct raft_buffer e1 = makeEntry(c->t[0], "q", true, 2);
    struct raft_buffer e2 = makeEntry(c->t[0], "q", false, 3);
    struct raft_buffer e1copy = copyOf(&e1);
    raft_index i1;
    void *result;
    char want[33];
    char got[33];

    i1 = commit(c, e1);
    fsmAdapterInit(&refa, ref->f);
    assert_int_equal(fsmAdapterApplyAt(&refa, i1, &e1copy, &result), 0);
    assert_int_equal(fsmAdapterApplyAt(&refa, i1 + 1, &e2, &result), 0);
    digestOf(ref, want);

    assert_true(c->a[1].staged_n > 0);
    assert_int_equal(fsmAdapterApplyAt(&c->a[1], i1 + 1, &e2, &result), 0);
    assert_int_equal(c->a[1].staged_n, 0);
    digestOf(c->t[1], got);
    assert_string_equal(got, want);
    assert_string_equal(ftAttr(c->t[1], "q", "ApproximateNumberOfMessages"), "5");

    fsmAdapterClose(&refa);
    ftClose(ref);
    raft_free(e1copy.base);
    raft_free(e2.base);
}

/* A heap whose realloc fails while @failRealloc is set. */
static bool failRealloc;

static void *heapMalloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}
static void heapFree(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}
static void *heapCalloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    return calloc(nmemb, size);
}
static void *heapRealloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return failRealloc ? NULL : realloc(ptr, size);
}
static void *heapAlignedAlloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return aligned_alloc(alignment, size);
}
static void heapAlignedFree(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

/* Without memory to record an entry, a follower applies it at once. */
static void noMemoryToRecordAppliesAtOnce(void **state)
{
    struct cluster *c = *state;
    struct raft_heap heap = {NULL,       heapMalloc,       heapFree,       heapCalloc,
                             heapRealloc, heapAlignedAlloc, heapAlignedFree};
    struct fsmAdapter *a1 = &c->a[1];
    struct raft_buffer e = makeEntry(c->t[0], "q", true, 1);
    uint64_t next = raft_last_applied(&c->f.servers[1].raft) + 1;
    void *result = NULL;

    assert_int_equal(a1->staged_cap, 0); /* the first record reallocs */
    raft_heap_set(&heap);
    failRealloc = true;
    assert_int_equal(a1->raft_fsm.apply(&a1->raft_fsm, &e, &result), 0);
    failRealloc = false;
    raft_heap_set_default();
    assert_int_equal(a1->staged_n, 0);
    assert_int_equal(stateIndex(c->t[1]), next);
    assert_string_equal(ftAttr(c->t[1], "q", "ApproximateNumberOfMessages"), "1");
    raft_free(e.base);
}

/* The store fails while a follower settles: the node is stopped (the
 * fatal callback), settle reports it, and what was recorded is dropped
 * (libraft's log keeps it; the node must not go on). */
static void storeFailureWhileSettlingIsFatal(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];

    commit(c, makeEntry(c->t[0], "q", true, 2));
    assert_true(a1->staged_n > 0);
    a1->fatal = captureFatal;
    a1->arg = c;
    c->t[1]->f->failed = true; /* as after an LMDB error */
    assert_int_equal(fsmAdapterSettle(a1), RAFT_IOERR);
    assert_string_equal(c->fatal_what, "state machine store failed");
    assert_int_equal(a1->staged_n, 0);
    c->t[1]->f->failed = false;
}

/* Start the applier of both followers. */
static void startAppliers(struct cluster *c)
{
    for (unsigned i = 1; i < N_SERVERS; i++) {
        assert_int_equal(applierStart(&c->a[i]), 0);
    }
}

/* Wait (bounded: 5 s) until @a's thread has applied @n entries in all;
 * true if it did. */
static bool waitApplied(struct fsmAdapter *a, uint64_t n)
{
    for (unsigned i = 0; i < 5000; i++) {
        pthread_mutex_lock(&a->applier.mu);
        uint64_t applied = a->applier.applied;
        pthread_mutex_unlock(&a->applier.mu);
        if (applied >= n) {
            return true;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return false;
}

/* Handed over, the entries are applied on the thread: the thread holds
 * the state until a settle takes it back, committed, at the leader's. */
static void applierAppliesWhatItIsHanded(void **state)
{
    struct cluster *c = *state;
    char leader[33];
    char follower[33];
    raft_index index;

    startAppliers(c);
    index = commit(c, makeEntry(c->t[0], "q", true, 3));
    index = commit(c, makeEntry(c->t[0], "q", false, 4));
    digestOf(c->t[0], leader);
    for (unsigned i = 1; i < N_SERVERS; i++) {
        struct fsmAdapter *a = &c->a[i];
        uint32_t recorded = a->staged_n;
        assert_true(recorded >= 2);
        assert_int_equal(fsmAdapterHandOff(a), 0);
        assert_int_equal(a->staged_n, 0);
        assert_true(applierEngaged(a));
        assert_true(waitApplied(a, recorded));
        assert_int_equal(fsmAdapterSettle(a), 0);
        assert_false(applierEngaged(a));
        assert_int_equal(fsmPendingBytes(c->t[i]->f), 0); /* committed there */
        assert_int_equal(stateIndex(c->t[i]), index);
        digestOf(c->t[i], follower);
        assert_string_equal(follower, leader);
        assert_string_equal(ftAttr(c->t[i], "q", "ApproximateNumberOfMessages"), "7");
    }
}

/* The loop may hold a write transaction when it hands entries over (a
 * read, an apply as leader before): it commits it first, or the thread
 * would wait for LMDB's writer lock for ever, and the loop for the
 * thread. Entries recorded since a settle go after those handed before. */
static void applierTakesTheStateWithNoTransactionOpen(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];
    char leader[33];
    char got[33];
    raft_index index;

    startAppliers(c);
    commit(c, makeEntry(c->t[0], "q", true, 2));
    assert_int_equal(fsmAdapterSettle(a1), 0);
    /* A read on the loop opens the store's transaction. */
    assert_string_equal(ftAttr(c->t[1], "q", "ApproximateNumberOfMessages"), "2");
    commit(c, makeEntry(c->t[0], "q", false, 3));
    assert_int_equal(fsmAdapterHandOff(a1), 0);
    index = commit(c, makeEntry(c->t[0], "q", false, 1));
    assert_true(a1->staged_n > 0); /* recorded, not handed over yet */
    assert_int_equal(fsmAdapterSettle(a1), 0);
    assert_int_equal(stateIndex(c->t[1]), index);
    digestOf(c->t[0], leader);
    digestOf(c->t[1], got);
    assert_string_equal(got, leader);
}

/* Idle with what it applied, the thread commits on its pace, not only
 * when the loop takes the state back. */
static void applierCommitsOnItsPace(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];
    uint64_t commits = 0;

    startAppliers(c);
    commit(c, makeEntry(c->t[0], "q", true, 2));
    /* Not due when the entry is applied: in 100 ms, or at 1 GiB. */
    a1->pace.committed_ms = replicaMonotonicMs();
    a1->pace.due_ms = 100;
    a1->pace.due_bytes = (uint64_t)1 << 30;
    assert_int_equal(fsmAdapterHandOff(a1), 0);
    assert_true(waitApplied(a1, 1));
    for (unsigned i = 0; i < 200 && commits == 0; i++) {
        struct timespec ms = {0, 10000000};
        nanosleep(&ms, NULL);
        pthread_mutex_lock(&a1->applier.mu);
        commits = a1->applier.commits;
        pthread_mutex_unlock(&a1->applier.mu);
    }
    assert_true(commits > 0);
    assert_true(applierEngaged(a1)); /* still the thread's */
    assert_int_equal(fsmAdapterSettle(a1), 0);
    assert_int_equal(fsmPendingBytes(c->t[1]->f), 0);
}

/* Start the appliers, catch node 1's fatal calls, and commit a first
 * entry (node 1 records it). */
static void watchFollowerFatal(struct cluster *c)
{
    startAppliers(c);
    c->a[1].fatal = captureFatal;
    c->a[1].arg = c;
    commit(c, makeEntry(c->t[0], "q", true, 1));
}

/* The store fails on the thread: it stops applying, the loop's next
 * hand-over or settle takes the state back and stops the node, once. */
static void applierStoreFailureIsFatalOnce(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];

    watchFollowerFatal(c);
    assert_int_equal(fsmAdapterHandOff(a1), 0);
    assert_true(waitApplied(a1, 1));
    pthread_mutex_lock(&a1->applier.mu);
    c->t[1]->f->failed = true; /* as after an LMDB error */
    pthread_mutex_unlock(&a1->applier.mu);
    commit(c, makeEntry(c->t[0], "q", false, 2));
    assert_int_equal(fsmAdapterHandOff(a1), 0); /* still engaged */
    assert_true(waitApplied(a1, 2));
    assert_int_equal(fsmAdapterHandOff(a1), RAFT_IOERR);
    assert_string_equal(c->fatal_what, "state machine store failed");
    assert_false(applierEngaged(a1));
    c->fatal_what[0] = '\0';
    assert_int_equal(fsmAdapterSettle(a1), RAFT_IOERR);
    assert_string_equal(c->fatal_what, ""); /* reported once */
    c->t[1]->f->failed = false;
}

/* The loop's transaction cannot be committed when it would hand the
 * state over: nothing is handed over, the entries are applied on the
 * loop, which fails the same way and stops the node. */
static void applierHandOffAfterAFailedCommitIsFatal(void **state)
{
    struct cluster *c = *state;
    struct fsmAdapter *a1 = &c->a[1];

    watchFollowerFatal(c);
    assert_true(a1->staged_n > 0);
    c->t[1]->f->failed = true; /* as after an LMDB error */
    assert_int_equal(fsmAdapterHandOff(a1), RAFT_IOERR);
    assert_string_equal(c->fatal_what, "state machine store failed");
    assert_false(applierEngaged(a1));
    assert_int_equal(a1->staged_n, 0);
    c->t[1]->f->failed = false;
}

int main(void)
{
    /* A hand-over that deadlocks (the loop waiting for the thread, the
     * thread for LMDB's writer lock) must fail the run, not hang it. */
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(followersSettleToTheLeadersState, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(snapshotAndRestoreSettleFirst, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(applyAtSettlesFirst, clusterSetUp, clusterTearDown),
        cmocka_unit_test_setup_teardown(noMemoryToRecordAppliesAtOnce, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(storeFailureWhileSettlingIsFatal, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(applierAppliesWhatItIsHanded, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(applierTakesTheStateWithNoTransactionOpen, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(applierCommitsOnItsPace, clusterSetUp, clusterTearDown),
        cmocka_unit_test_setup_teardown(applierStoreFailureIsFatalOnce, clusterSetUp,
                                        clusterTearDown),
        cmocka_unit_test_setup_teardown(applierHandOffAfterAFailedCommitIsFatal, clusterSetUp,
                                        clusterTearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
