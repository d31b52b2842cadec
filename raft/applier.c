/* The applier: a follower's applies and store commits, on a thread of
 * their own; and the pace of the state's commits, which the loop follows
 * too (replicaCommitIfDue).
 *
 * Why: a follower's loop thread answers the leader's AppendEntries, and
 * the leader's commit of every client's command waits for a majority of
 * those answers. With the applies (2-3 ms per entry of 300 commands) and
 * the store's commits (pwrite and fdatasync of a few MiB, 5-10 ms; fsm/
 * store.c) on that thread too, ~40% of a follower's loop time under row 2
 * of the bench went to them, and the answers waited behind them: without
 * them (measured with followers that applied nothing) row 2 ran 45%
 * faster. Deferring the apply within the loop iteration (fsmglue.c
 * "Deferred apply") only moved it after the answer's send.
 *
 * Ownership. The state (struct fsm, its LMDB write transaction, and the
 * adapter's commit pace) belongs to one thread at a time. LMDB requires a
 * write transaction to begin and commit on one thread (its writer lock is
 * a thread's), so the state changes hands only with no transaction open:
 * - the loop's check and prepare handles hand recorded entries over
 *   (applierHandOff), which gives the thread the state (engaged);
 * - the thread applies them in order, commits whenever the pace says
 *   (REPLICA_COMMIT_MS / REPLICA_COMMIT_BYTES, drawn per commit), and at
 *   those times when idle;
 * - anything on the loop that reads or replaces the state first calls
 *   fsmAdapterSettle, which takes it back (applierReclaim): the thread
 *   applies what it was handed, commits, and lets go; the loop waits.
 *   That is a snapshot (every 8 MiB of log), an InstallSnapshot, an apply
 *   as leader or candidate, a status or metrics read, close.
 * A leader never hands over, so on a leader a settle is a flag test.
 *
 * The recorded buffers point into libraft's log: committed entries, never
 * truncated; libraft frees them only after a snapshot or on an
 * InstallSnapshot or at close, which all settle first.
 *
 * Failure: a store error on the thread stops its applying (the entries
 * handed over after it are dropped); the thread commits what it applied
 * (the store records how far it got: fsmSetIndex) when the loop takes the
 * state back, and the loop stops the node (fsmglue.c glueApplyFailed):
 * the same fail-stop as an error on the loop. Nothing here logs from the
 * thread. */
#include "raft/internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* The state machine's LMDB write transaction is committed at most every
 * REPLICA_COMMIT_MS (internal.h), or once it has written
 * REPLICA_COMMIT_BYTES. A commit writes every page the transaction
 * dirtied, and the next transaction copies each page again before it
 * changes it: hot pages (index branches, the queue record, a leaf of
 * messages being drained) were copied and written once per loop
 * iteration, a tenth of the nodes' CPU under a drain. With a durable
 * fsm (qraftd) each commit also fsyncs what it wrote (fsm/store.c), on
 * the thread that holds the state: the loop, or a follower's applier
 * (applier.c), which follows the same pace (replicaCommitIfDue). 50 ms /
 * 1 MiB cost row 2 of the bench 15% of its throughput against 100 ms / 4
 * MiB; 30 ms / 1 MiB and 400 ms / 16 MiB were 3-10% slower than it too.
 * Reads of the loop thread go through the open transaction, and a
 * snapshot commits first, so nothing waits on a commit; the raft log is
 * the durable copy of what the store has not committed yet. The bytes
 * bound keeps the pages one transaction dirties, which LMDB keeps for
 * reuse for the life of the process, small.
 *
 * Each bound is drawn anew after every commit, between half and one and a
 * half times these (replicaCommitDraw). The nodes apply the same entries
 * at about the same time, so fixed bounds made all three commit at once:
 * three fsyncs of a few MiB of scattered pages sharing a disk took 17-20
 * ms each, every loop stalled meanwhile, and no majority was left to
 * commit anything (README "Finding where time goes"). Apart, one node's
 * commit leaves the other two a majority. */
void replicaCommitDraw(uint64_t *rng, uint64_t *due_ms, uint64_t *due_bytes)
{
    /* xorshift64: a node's own schedule, nothing replicated depends on it. */
    uint64_t x = *rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    *due_ms = REPLICA_COMMIT_MS / 2 + x % REPLICA_COMMIT_MS;
    *due_bytes = REPLICA_COMMIT_BYTES / 2 + (x >> 20) % REPLICA_COMMIT_BYTES;
}

void replicaCommitPaceInit(struct commitPace *p, uint64_t seed, uint64_t now_ms)
{
    p->rng = seed != 0 ? seed : 1u;
    p->committed_ms = now_ms;
    replicaCommitDraw(&p->rng, &p->due_ms, &p->due_bytes);
}

int replicaCommitNow(struct commitPace *p, struct fsm *fsm, uint64_t now_ms)
{
    p->committed_ms = now_ms;
    replicaCommitDraw(&p->rng, &p->due_ms, &p->due_bytes);
    return fsmFlush(fsm);
}

int replicaCommitIfDue(struct commitPace *p, struct fsm *fsm, uint64_t now_ms)
{
    if (now_ms - p->committed_ms < p->due_ms && fsmPendingBytes(fsm) < p->due_bytes) {
        return 0;
    }
    return replicaCommitNow(p, fsm, now_ms);
}

/* Entries handed over and not taken by the thread yet start at this many
 * slots (then double). */
#define APPLIER_QUEUE_FIRST 64u

/* The absolute CLOCK_MONOTONIC time @ms (monotonic ms) for a timed wait. */
static struct timespec applierDeadline(uint64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    return ts;
}

/* Commit the state if the pace says so (counted in @commits). 0 or the
 * fsm's error code. The thread holds the state. */
static int applierCommitIfDue(struct fsmAdapter *a, uint64_t *commits)
{
    uint64_t committed = a->pace.committed_ms;
    int rv = replicaCommitIfDue(&a->pace, a->fsm, replicaMonotonicMs());

    *commits += a->pace.committed_ms != committed ? 1 : 0;
    return rv;
}

/* Apply @n entries of @work to the state, then commit if due. 0 or the
 * fsm's error code. Runs without the lock: the thread holds the state. */
static int applierApply(struct fsmAdapter *a, const struct glueStaged *work, uint32_t n,
                        uint64_t *skipped, uint64_t *commits)
{
    uint32_t i;
    int rv = 0;

    for (i = 0; i < n && rv == 0; i++) {
        rv = fsmAdapterApplyRecorded(a->fsm, &work[i], skipped);
    }
    return rv == 0 ? applierCommitIfDue(a, commits) : rv;
}

static void *applierMain(void *arg)
{
    struct fsmAdapter *a = arg;
    struct applier *ap = &a->applier;
    struct glueStaged *work = NULL;
    uint32_t work_cap = 0;
    bool uncommitted = false; /* applied since the last commit */

    pthread_mutex_lock(&ap->mu);
    while (!ap->stop || ap->engaged) {
        if (ap->queue_n > 0 && ap->failed == 0) {
            /* Take the queue as it is; the loop goes on filling the other
             * array. */
            struct glueStaged *taken = ap->queue;
            uint32_t taken_cap = ap->queue_cap;
            uint32_t n = ap->queue_n;
            uint64_t skipped = 0;
            uint64_t commits = 0;
            int rv;

            ap->queue = work;
            ap->queue_cap = work_cap;
            ap->queue_n = 0;
            work = taken;
            work_cap = taken_cap;
            pthread_mutex_unlock(&ap->mu);
            rv = applierApply(a, work, n, &skipped, &commits);
            uncommitted = commits == 0;
            pthread_mutex_lock(&ap->mu);
            ap->skipped += skipped;
            ap->applied += n;
            ap->commits += commits;
            if (rv != 0) {
                ap->failed = RAFT_IOERR;
            }
            continue;
        }
        if (ap->queue_n > 0) {
            ap->queue_n = 0; /* failed: dropped, the node stops */
        }
        if (ap->reclaim) {
            int rv;

            pthread_mutex_unlock(&ap->mu);
            /* No transaction may cross to the loop's thread. */
            rv = replicaCommitNow(&a->pace, a->fsm, replicaMonotonicMs());
            uncommitted = false;
            pthread_mutex_lock(&ap->mu);
            ap->commits++;
            if (rv != 0) {
                ap->failed = RAFT_IOERR;
            }
            ap->engaged = false;
            ap->reclaim = false;
            pthread_cond_broadcast(&ap->done);
            continue;
        }
        if (ap->stop) {
            break;
        }
        if (ap->engaged && ap->failed == 0 && uncommitted) {
            /* Idle with applied writes: commit when the pace says. */
            uint64_t due = a->pace.committed_ms + a->pace.due_ms;
            struct timespec ts = applierDeadline(due);
            uint64_t commits = 0;
            int rv;

            if (replicaMonotonicMs() < due &&
                pthread_cond_timedwait(&ap->wake, &ap->mu, &ts) != ETIMEDOUT) {
                continue;
            }
            if (ap->queue_n > 0 || ap->reclaim || ap->stop) {
                continue;
            }
            pthread_mutex_unlock(&ap->mu);
            rv = applierCommitIfDue(a, &commits);
            uncommitted = commits == 0;
            pthread_mutex_lock(&ap->mu);
            ap->commits += commits;
            if (rv != 0) {
                ap->failed = RAFT_IOERR;
            }
            continue;
        }
        pthread_cond_wait(&ap->wake, &ap->mu);
    }
    pthread_mutex_unlock(&ap->mu);
    raft_free(work);
    return NULL;
}

int applierStart(struct fsmAdapter *a)
{
    struct applier *ap = &a->applier;
    pthread_condattr_t attr;
    int rv;

    if (ap->running) {
        return 0;
    }
    memset(ap, 0, sizeof *ap);
    rv = pthread_mutex_init(&ap->mu, NULL);
    if (rv != 0) {
        return rv;
    }
    rv = pthread_condattr_init(&attr);
    if (rv != 0) {
        goto err_mutex;
    }
    rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rv == 0) {
        rv = pthread_cond_init(&ap->wake, &attr);
    }
    pthread_condattr_destroy(&attr);
    if (rv != 0) {
        goto err_mutex;
    }
    rv = pthread_cond_init(&ap->done, NULL);
    if (rv != 0) {
        goto err_wake;
    }
    rv = pthread_create(&ap->thread, NULL, applierMain, a);
    if (rv != 0) {
        goto err_done;
    }
    ap->running = true;
    return 0;

err_done:
    pthread_cond_destroy(&ap->done);
err_wake:
    pthread_cond_destroy(&ap->wake);
err_mutex:
    pthread_mutex_destroy(&ap->mu);
    return rv;
}

int applierReclaim(struct fsmAdapter *a)
{
    struct applier *ap = &a->applier;
    int rv;

    /* Only the loop sets engaged, and the thread clears it only while the
     * loop waits here: the loop may read it without the lock. */
    if (!ap->running || !ap->engaged) {
        return ap->running && ap->failed != 0 ? RAFT_IOERR : 0;
    }
    pthread_mutex_lock(&ap->mu);
    ap->reclaim = true;
    pthread_cond_signal(&ap->wake);
    while (ap->engaged) {
        pthread_cond_wait(&ap->done, &ap->mu);
    }
    a->skipped += ap->skipped;
    ap->skipped = 0;
    rv = ap->failed;
    pthread_mutex_unlock(&ap->mu);
    return rv;
}

int applierHandOff(struct fsmAdapter *a)
{
    struct applier *ap = &a->applier;
    struct glueStaged *grown;
    uint32_t need;
    int rv = 0;

    if (!ap->engaged && a->staged_n > 0 && fsmFlush(a->fsm) != 0) {
        /* LMDB's writer lock belongs to the thread that began the write
         * transaction: none of the loop's may be open when the applier
         * takes the state (it would wait for that lock for ever). A failed
         * commit: the caller's settle applies on the loop, which fails
         * the same way and stops the node. */
        return RAFT_IOERR;
    }
    pthread_mutex_lock(&ap->mu);
    if (ap->failed != 0) {
        rv = RAFT_IOERR;
        goto out;
    }
    if (a->staged_n == 0) {
        goto out;
    }
    need = ap->queue_n + a->staged_n;
    grown = glueGrow(ap->queue, &ap->queue_cap, need, sizeof *grown, APPLIER_QUEUE_FIRST);
    if (grown == NULL) {
        rv = RAFT_NOMEM;
        goto out;
    }
    ap->queue = grown;
    memcpy(ap->queue + ap->queue_n, a->staged, (size_t)a->staged_n * sizeof *a->staged);
    ap->queue_n = need;
    a->staged_n = 0;
    ap->engaged = true;
    pthread_cond_signal(&ap->wake);
out:
    pthread_mutex_unlock(&ap->mu);
    return rv;
}

bool applierEngaged(struct fsmAdapter *a)
{
    return a->applier.running && a->applier.engaged;
}

void applierStop(struct fsmAdapter *a)
{
    struct applier *ap = &a->applier;

    if (!ap->running) {
        return;
    }
    (void)applierReclaim(a); /* a failure was reported by the settle */
    pthread_mutex_lock(&ap->mu);
    ap->stop = true;
    pthread_cond_signal(&ap->wake);
    pthread_mutex_unlock(&ap->mu);
    pthread_join(ap->thread, NULL);
    raft_free(ap->queue);
    ap->queue = NULL;
    ap->queue_n = 0;
    ap->queue_cap = 0;
    pthread_cond_destroy(&ap->done);
    pthread_cond_destroy(&ap->wake);
    pthread_mutex_destroy(&ap->mu);
    ap->running = false;
}
