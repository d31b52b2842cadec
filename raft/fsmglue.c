/* The raft_fsm version 3 adapter over fsm/ (the wrappers that make disk
 * errors fail-stop are in guardio.c; the LZ4 images of the state in
 * frame.c; images for snapshot installs in snapget.c).
 *
 * Snapshots are markers when the fsm is durable (qraftd; DESIGN.md
 * "Storage"). The state lives in LMDB, which survives restarts with
 * every commit synced, and records its place in the raft log with every
 * commit (fsmSetIndex). `snapshot` commits and writes a marker naming
 * that place (fsmMarker), `snapshot_async` syncs the store (fsmSync) in
 * the thread pool before libraft writes the marker and drops the log
 * before it. So a snapshot costs a commit and an fsync whatever the
 * state's size, and they come every GLUE_LOG_MIN_BYTES (8 MiB) of log,
 * with GLUE_MARKER_TRAILING_BYTES kept behind: libraft 0.15 holds the log
 * since the last snapshot and the trailing entries in memory, which is
 * most of what the node's memory then comes to. A follower that falls
 * further behind than that gets an image (snapget.c) instead of the log. On start,
 * libraft restores the marker (fsmRestoreMarker checks that the store
 * holds that place or a later one) and replays the log after it;
 * fsmAdapterApplyAt skips what the store holds already. A follower that
 * needs a snapshot gets an image of the leader's state as it is then
 * (snapget.c), whose place is at or past the marker's index: it skips
 * the entries that image holds in the same way.
 *
 * Without a durable fsm (raft_fixture in tests/sim), a snapshot is an
 * image of the whole state: raft calls `snapshot` on the loop thread,
 * where fsmSnapshotBegin commits pending writes and pins an LMDB read
 * transaction at the applied state; then `snapshot_async` in the thread
 * pool, where snapshotFrameBuild serialises and compresses it while
 * applies go on; then `snapshot_finalize` on the loop thread, which frees
 * everything. Because finalize is set, raft never frees the snapshot
 * buffers itself. Failure modes: out of memory or a store error in the
 * thread pool fail that snapshot only (libraft tries again at the next
 * threshold); a failed sync of the store stops the node (its writes may
 * be lost, fsyncgate).
 *
 * Pacing of image snapshots. An image serialises the whole state, so
 * taking one every N entries costs O(state) per N entries: with a large
 * backlog (a million 1 KiB messages is 1 GB) that is most of the node's
 * work. After each snapshot the threshold becomes the number of entries,
 * at the recent average entry size, that add up to the snapshot's size:
 * the log then grows to about the state's size between snapshots, and
 * snapshotting costs O(1) per byte appended. --snapshot-log-max caps it:
 * the threshold never exceeds the number of entries that add up to that
 * many bytes (even below --snapshot-threshold). libraft counts entries,
 * and an entry is a batch of commands whose size follows the load, so
 * glueApply also counts the log's bytes since the last snapshot and asks
 * for a snapshot at once (threshold 1) when they reach the budget: the
 * last snapshot's size (at least GLUE_LOG_MIN_BYTES, which is all that
 * markers get), or --snapshot-log-max if smaller. Before the first snapshot and when
 * the state shrinks below half of the last snapshot (a drained backlog),
 * fsmAdapterRepace (about once a second) paces by the state as it is now.
 * The entries kept behind a snapshot are bounded in bytes as well
 * (GLUE_TRAILING_BYTES, markers GLUE_MARKER_TRAILING_BYTES; never more
 * than --snapshot-trailing entries).
 *
 * Memory. libraft 0.15 keeps every entry since the last snapshot (and
 * snapshot_trailing more) in memory, one allocation each, and drops them
 * all at once when a snapshot is done. glibc keeps freed heap pages
 * resident below the top of the heap, so after each restore, and after a
 * snapshot at most once every GLUE_TRIM_INTERVAL_MS, malloc_trim(0) gives
 * the free pages back (trim_ms in the log line); a trim a snapshot owes
 * is made up within about a second (fsmAdapterTrimOwed, from the loop).
 * Not after every snapshot: under load they come several times a second,
 * and each trim gave back pages that the next entries faulted in again
 * (row 2 of the bench: 50.4k -> 53.5k msgs/s with one trim a second, the
 * nodes' memory 10 MiB more at a backlog). An image snapshot under
 * libraft's uv backend is written to a
 * scratch file as it is made and handed over as a mapping of it
 * (frame.c); under raft_fixture it stays in memory.
 *
 * Apply: fsmApply returns non-zero only when the store failed. Every node
 * would fail at the same entry, and a non-zero return would make libraft
 * retry the entry forever, so the node stops instead.
 *
 * Deferred apply (followers, with defer_follower: qraftd). libraft 0.15
 * applies what a follower learns is committed inside the callback of its
 * log append, before it answers the leader (appendFollowerCb:
 * replicationApply, then sendAppendEntriesResult). A batch of a thousand
 * sends takes ~10 ms to apply, and the leader's commit, so every client's
 * reply, waited for it: a follower's answer came after its fsync and its
 * apply of the batch before. So a follower's glueApply only records the
 * entry (struct glueStaged), and fsmAdapterSettle applies the recorded
 * entries in order: from the loop's check and prepare handles (replica.c),
 * so within the loop iteration that recorded them, and before anything
 * else here reads or replaces the state (a snapshot, a restore, an apply
 * as leader). The recorded buffers are libraft's log entries: committed,
 * so never truncated; libraft drops them from memory only after a
 * snapshot (which settles first) or when an InstallSnapshot message
 * restarts the log (guardio.c settles before handing it to raft), or at
 * close (replica.c settles before raft_close). In qraftd the check and
 * prepare handles hand the recorded entries to the applier's thread
 * (applier.c) instead of applying them on the loop: libraft's last_applied
 * then runs ahead of the state until the thread catches up, and a settle
 * first takes the state back from the thread (every fsm call on the loop
 * of a follower is behind one: replicaSettle, replicaNow,
 * replicaGetStatus). Without the thread (raft_fixture, the simulator) the
 * handles settle on the loop, within the iteration that recorded them.
 */
#include "raft/internal.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

uint64_t replicaMonotonicMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct fsmAdapter *adapterOf(struct raft_fsm *fsm)
{
    return fsm->data;
}

static void adapterLog(struct fsmAdapter *a, int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void adapterLog(struct fsmAdapter *a, int level, const char *msg, const char *fmt, ...)
{
    char kv[512];
    va_list ap;

    if (a->log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(kv, sizeof kv, fmt, ap);
    va_end(ap);
    a->log(a->arg, level, msg, kv);
}

/* The store failed under @a: log it and stop the node. */
static int glueApplyFailed(struct fsmAdapter *a, int rv)
{
    adapterLog(a, REPLICA_LOG_ERROR, "state machine store failed", "rv=%d error=\"%s\"", rv,
               fsmErrmsg(a->fsm));
    if (a->fatal != NULL) {
        a->fatal(a->arg, "state machine store failed", RAFT_IOERR);
    }
    return RAFT_IOERR;
}

void *glueGrow(void *arr, uint32_t *cap, uint32_t need, size_t size, uint32_t first)
{
    uint32_t n = *cap > 0 ? *cap : first;
    void *grown;

    if (need <= *cap) {
        return arr;
    }
    while (n < need) {
        n *= 2;
    }
    grown = raft_realloc(arr, (size_t)n * size);
    if (grown != NULL) {
        *cap = n;
    }
    return grown;
}

/* Keep a copy of the reply of command @i of a batch. */
static int glueKeepReply(struct fsmAdapter *a, uint32_t i, const struct fsmReply *reply)
{
    struct fsmReply *replies =
        glueGrow(a->replies, &a->replies_cap, i + 1, sizeof *replies, 64);

    if (replies == NULL) {
        return RAFT_NOMEM;
    }
    a->replies = replies;
    if (a->reply_bytes_len + reply->len > a->reply_bytes_cap) {
        size_t cap = a->reply_bytes_cap > 0 ? a->reply_bytes_cap : 65536;
        char *bytes;
        while (cap < a->reply_bytes_len + reply->len) {
            cap *= 2;
        }
        bytes = raft_realloc(a->reply_bytes, cap);
        if (bytes == NULL) {
            return RAFT_NOMEM;
        }
        a->reply_bytes = bytes;
        a->reply_bytes_cap = cap;
    }
    memcpy(a->reply_bytes + a->reply_bytes_len, reply->data, reply->len);
    a->replies[i] = *reply;
    /* An offset until the batch is done: the buffer may still move. */
    a->replies[i].data = (const void *)(uintptr_t)a->reply_bytes_len;
    a->reply_bytes_len += reply->len;
    return 0;
}

/* Apply every command of a batch entry whose framing is sound, in order,
 * but the first @skip (the state holds them); keep their replies when a
 * request may wait for them (the leader). */
static int glueApplyBatch(struct fsmAdapter *a, struct batchReader *r, uint32_t skip)
{
    bool keep = a->raft == NULL || raft_state(a->raft) == RAFT_LEADER;
    const void *cmd;
    size_t len;
    uint32_t i = 0;
    uint32_t c = 0;
    int rv;

    if (a->reply_bytes_cap > GLUE_REPLY_BYTES_KEEP) {
        /* A batch of large receives grew it: do not hold that for ever. */
        raft_free(a->reply_bytes);
        a->reply_bytes = NULL;
        a->reply_bytes_cap = 0;
    }
    a->reply_bytes_len = 0;
    if (skip > 0) {
        /* Replayed after a restart or an install: nobody waits here. */
        keep = false;
    }
    while (batchReaderNext(r, &cmd, &len)) {
        if (c++ < skip) {
            a->skipped++;
            continue;
        }
        rv = fsmApply(a->fsm, cmd, len, &a->reply);
        if (rv != 0) {
            return glueApplyFailed(a, rv);
        }
        if (keep) {
            rv = glueKeepReply(a, i, &a->reply);
            if (rv != 0) {
                /* The state is applied; only the replies are lost: the
                 * requests get an unknown outcome, and retries the stored
                 * replies. */
                keep = false;
                i = 0;
                continue;
            }
        }
        i += keep ? 1 : 0;
    }
    for (uint32_t k = 0; k < i; k++) {
        a->replies[k].data = a->reply_bytes + (uintptr_t)a->replies[k].data;
    }
    a->result.n = i;
    a->result.replies = a->replies;
    return 0;
}

/* Count entry @buf into the log's budget since the last snapshot. */
static void glueCountEntry(struct fsmAdapter *a, const struct raft_buffer *buf)
{
    a->applied_bytes += buf->len;
    a->applied_entries++;
    if (a->raft != NULL && !a->log_budget_hit &&
        a->applied_bytes >= fsmAdapterLogBudget(a->log_basis, a->log_max)) {
        /* The log since the last snapshot reached its budget in bytes:
         * snapshot after this entry, whatever the entry count says (see
         * "Pacing": entries are batches whose size follows the load). */
        a->log_budget_hit = true;
        raft_set_snapshot_threshold(a->raft, 1);
    }
}

/* How many commands of entry @index the state holds already (a restart
 * replays the log after the marker, an install the log after the
 * snapshot's index, and the store may be further on: fsm.h fsmPosition);
 * UINT32_MAX for all of them. Records @index as the state's place.
 * Commands are counted, not entries: a large entry may have been
 * committed in part (STORE_TXN_SPLIT_BYTES). */
static uint32_t glueSkipOf(struct fsm *fsm, uint64_t index)
{
    uint64_t pos_index;
    uint32_t pos_cmds;

    fsmPosition(fsm, &pos_index, &pos_cmds);
    if (index != 0 && index < pos_index) {
        return UINT32_MAX;
    }
    if (index == 0) {
        return 0;
    }
    fsmSetIndex(fsm, index);
    return index == pos_index ? pos_cmds : 0;
}

/* Apply entry @buf at raft index @index to the state, keeping the replies
 * for a request that may wait for them (the leader). */
static int glueApplyEntry(struct fsmAdapter *a, uint64_t index, const struct raft_buffer *buf)
{
    struct batchReader r;
    uint32_t skip = glueSkipOf(a->fsm, index);
    int rv;

    a->result.n = 0;
    a->result.replies = a->replies;
    if (batchIs(buf->base, buf->len) && batchReaderInit(&r, buf->base, buf->len) == 0) {
        return glueApplyBatch(a, &r, skip);
    }
    /* A single-command entry (older logs, tests), or a batch whose framing
     * is wrong: one command, which may not decode. */
    if (skip > 0) {
        a->skipped++;
        return 0;
    }
    rv = fsmApply(a->fsm, buf->base, buf->len, &a->reply);
    if (rv != 0) {
        return glueApplyFailed(a, rv);
    }
    a->result.n = 1;
    a->result.replies = &a->reply;
    return 0;
}

int fsmAdapterApplyRecorded(struct fsm *fsm, const struct glueStaged *e, uint64_t *skipped)
{
    struct fsmReply reply;
    struct batchReader r;
    uint32_t skip = glueSkipOf(fsm, e->index);
    const void *cmd;
    size_t len;
    uint32_t c = 0;
    int rv;

    if (!batchIs(e->buf.base, e->buf.len) ||
        batchReaderInit(&r, e->buf.base, e->buf.len) != 0) {
        /* As glueApplyEntry: one command. */
        if (skip > 0) {
            (*skipped)++;
            return 0;
        }
        return fsmApply(fsm, e->buf.base, e->buf.len, &reply);
    }
    while (batchReaderNext(&r, &cmd, &len)) {
        if (c++ < skip) {
            (*skipped)++;
            continue;
        }
        rv = fsmApply(fsm, cmd, len, &reply);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int fsmAdapterSettle(struct fsmAdapter *a)
{
    uint32_t n = a->staged_n;
    uint32_t i;
    int rv;

    /* The applier's entries come before those still recorded here. */
    rv = applierReclaim(a);
    if (rv != 0) {
        a->staged_n = 0;
        if (a->applier.fatal_reported) {
            return RAFT_IOERR;
        }
        a->applier.fatal_reported = true;
        return glueApplyFailed(a, rv);
    }
    a->staged_n = 0;
    for (i = 0; i < n; i++) {
        rv = fsmAdapterApplyRecorded(a->fsm, &a->staged[i], &a->skipped);
        if (rv != 0) {
            return glueApplyFailed(a, rv);
        }
    }
    return 0;
}

int fsmAdapterHandOff(struct fsmAdapter *a)
{
    /* Out of memory to queue them, they are applied here; after a store
     * failure on the thread, the settle takes the state back and stops the
     * node. */
    if (a->applier.running && applierHandOff(a) == 0) {
        return 0;
    }
    return fsmAdapterSettle(a);
}

int fsmAdapterApplyAt(struct fsmAdapter *a, uint64_t index, const struct raft_buffer *buf,
                      void **result)
{
    int rv;

    *result = &a->result;
    a->result.n = 0;
    rv = fsmAdapterSettle(a);
    if (rv != 0) {
        return rv;
    }
    glueCountEntry(a, buf);
    return glueApplyEntry(a, index, buf);
}

/* Record entry @buf for fsmAdapterSettle. 0, or RAFT_NOMEM (the caller then
 * applies it at once). */
static int glueStage(struct fsmAdapter *a, uint64_t index, const struct raft_buffer *buf)
{
    struct glueStaged *staged =
        glueGrow(a->staged, &a->staged_cap, a->staged_n + 1, sizeof *staged, 16);

    if (staged == NULL) {
        return RAFT_NOMEM;
    }
    a->staged = staged;
    a->staged[a->staged_n].index = index;
    a->staged[a->staged_n].buf = *buf;
    a->staged_n++;
    return 0;
}

static int glueApply(struct raft_fsm *fsm,
                     const struct raft_buffer *buf,
                     void **result)
{
    struct fsmAdapter *a = adapterOf(fsm);
    /* libraft 0.15 sets last_applied after apply returns
     * (replicationApply): the entry is the next one. */
    uint64_t index = a->raft != NULL ? raft_last_applied(a->raft) + 1 : 0;

    if (a->defer_follower && a->raft != NULL && raft_state(a->raft) == RAFT_FOLLOWER &&
        glueStage(a, index, buf) == 0) {
        /* Counted now: libraft asks whether to snapshot right after. */
        glueCountEntry(a, buf);
        a->result.n = 0;
        *result = &a->result;
        return 0;
    }
    return fsmAdapterApplyAt(a, index, buf, result);
}

static int glueSnapshot(struct raft_fsm *fsm,
                        struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct fsmAdapter *a = adapterOf(fsm);
    int rv;

    if (a->snapshot != NULL || a->marker != NULL) {
        return RAFT_BUSY;
    }
    /* The snapshot is of the state at libraft's last_applied. */
    if (fsmAdapterSettle(a) != 0) {
        return RAFT_IOERR;
    }
    a->snapshot_started_ms = replicaMonotonicMs();
    *bufs = NULL;
    *n_bufs = 0;
    if (a->markers) {
        a->marker = raft_malloc(FSM_MARKER_LEN);
        if (a->marker == NULL) {
            return RAFT_NOMEM;
        }
        rv = fsmMarker(a->fsm, a->marker);
        if (rv != 0) {
            adapterLog(a, REPLICA_LOG_WARN, "snapshot marker failed", "rv=%d error=\"%s\"", rv,
                       fsmErrmsg(a->fsm));
            raft_free(a->marker);
            a->marker = NULL;
            return rv == FSM_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
        }
        return 0;
    }
    rv = fsmSnapshotBegin(a->fsm, &a->snapshot);
    if (rv != 0) {
        adapterLog(a, REPLICA_LOG_WARN, "snapshot begin failed", "rv=%d error=\"%s\"", rv,
                   fsmErrmsg(a->fsm));
        a->snapshot = NULL;
        return rv == FSM_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    return 0;
}

/* Runs in the thread pool: touches only the pinned snapshot or the
 * marker, and the adapter's snapshot fields. */
static int glueSnapshotAsync(struct raft_fsm *fsm,
                             struct raft_buffer *bufs[],
                             unsigned *n_bufs)
{
    struct fsmAdapter *a = adapterOf(fsm);
    struct raft_buffer *array;
    struct snapshotFrame frame;
    int rv;

    array = raft_malloc(sizeof *array);
    if (array == NULL) {
        return RAFT_NOMEM;
    }
    if (a->marker != NULL) {
        /* The marker's state must be on disk before libraft writes the
         * marker and drops the log before it. */
        if (fsmSync(a->fsm) != 0) {
            a->sync_failed = true; /* fatal, from finalize on the loop */
            raft_free(array);
            return RAFT_IOERR;
        }
        array[0].base = a->marker;
        array[0].len = FSM_MARKER_LEN;
    } else {
        rv = snapshotFrameBuild(a->snapshot, a->scratch_dir, &frame);
        if (rv != 0) {
            a->scratch_rv = frame.scratch_rv; /* logged by finalize */
            raft_free(array);
            return rv;
        }
        a->snapshot_raw_bytes = frame.raw;
        if (frame.mapped) {
            a->snapshot_map = frame.base;
            a->snapshot_map_len = frame.len;
        }
        array[0].base = frame.base;
        array[0].len = frame.len;
    }
    *bufs = array;
    *n_bufs = 1;
    return 0;
}

/* At most one malloc_trim after snapshots in this many ms (see "Memory"). */
#define GLUE_TRIM_INTERVAL_MS 1000

/* See "Memory" above: hand the pages of freed log entries and snapshot
 * buffers back to the kernel, unless the last time was less than
 * GLUE_TRIM_INTERVAL_MS ago and not @now_or_never (then it is owed:
 * fsmAdapterTrimOwed). Returns the time it took, in ms. */
static uint64_t glueReturnMemory(struct fsmAdapter *a, bool now_or_never)
{
    uint64_t start = replicaMonotonicMs();

    if (!now_or_never && start - a->trimmed_ms < GLUE_TRIM_INTERVAL_MS) {
        a->trim_owed = true;
        return 0;
    }
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    a->trim_owed = false;
    a->trimmed_ms = replicaMonotonicMs();
    return a->trimmed_ms - start;
}

void fsmAdapterTrimOwed(struct fsmAdapter *a)
{
    if (a->trim_owed) {
        (void)glueReturnMemory(a, false);
    }
}

/* The log between two image snapshots may reach the last snapshot's size
 * (the state), but is never cut below this; with markers it is this. */
#define GLUE_LOG_MIN_BYTES ((uint64_t)8 << 20)

/* Average bytes of the entries applied since the last snapshot (1 KiB
 * when none), never 0. */
static uint64_t glueAverageEntry(uint64_t applied_bytes, uint64_t applied_entries)
{
    uint64_t avg = applied_entries > 0 ? applied_bytes / applied_entries : 1024;
    return avg > 0 ? avg : 1;
}

unsigned fsmAdapterThreshold(uint64_t snapshot_bytes,
                             uint64_t applied_bytes,
                             uint64_t applied_entries,
                             unsigned base_threshold,
                             uint64_t log_max)
{
    uint64_t avg = glueAverageEntry(applied_bytes, applied_entries);
    uint64_t threshold;

    threshold = snapshot_bytes / avg;
    if (threshold < base_threshold) {
        threshold = base_threshold;
    }
    if (log_max != 0 && threshold > log_max / avg) {
        threshold = log_max / avg > 0 ? log_max / avg : 1;
    }
    return threshold > UINT32_MAX ? UINT32_MAX : (unsigned)threshold;
}

uint64_t fsmAdapterLogBudget(uint64_t state_bytes, uint64_t log_max)
{
    uint64_t budget = state_bytes > GLUE_LOG_MIN_BYTES ? state_bytes : GLUE_LOG_MIN_BYTES;

    if (log_max != 0 && log_max < budget) {
        budget = log_max;
    }
    return budget;
}

unsigned fsmAdapterTrailing(uint64_t applied_bytes,
                            uint64_t applied_entries,
                            unsigned base_trailing,
                            uint64_t trailing_bytes)
{
    uint64_t trailing = trailing_bytes / glueAverageEntry(applied_bytes, applied_entries);

    if (trailing < GLUE_TRAILING_MIN) {
        trailing = GLUE_TRAILING_MIN;
    }
    return trailing < base_trailing ? (unsigned)trailing : base_trailing;
}

/* See "Pacing" above. */
static void glueSnapshotPace(struct fsmAdapter *a, size_t snapshot_bytes, uint64_t trim_ms)
{
    unsigned threshold;

    if (a->raft == NULL) {
        return;
    }
    /* A marker's size says nothing of the state's (snapshot_raw_bytes
     * stays 0): the log budget is the floor. */
    threshold = fsmAdapterThreshold(a->snapshot_raw_bytes, a->applied_bytes, a->applied_entries,
                                    a->base_threshold, a->log_max);
    raft_set_snapshot_threshold(a->raft, threshold);
    raft_set_snapshot_trailing(
        a->raft, fsmAdapterTrailing(a->applied_bytes, a->applied_entries, a->base_trailing,
                                    a->markers ? GLUE_MARKER_TRAILING_BYTES : GLUE_TRAILING_BYTES));
    a->log_basis = a->snapshot_raw_bytes;
    a->applied_bytes = 0;
    a->applied_entries = 0;
    a->log_budget_hit = false;
    adapterLog(a, REPLICA_LOG_INFO, "snapshot taken",
               "bytes=%zu ms=%llu next_after_entries=%llu trim_ms=%llu compressed=%zu kind=%s",
               (size_t)a->snapshot_raw_bytes,
               (unsigned long long)(replicaMonotonicMs() - a->snapshot_started_ms),
               (unsigned long long)threshold, (unsigned long long)trim_ms, snapshot_bytes,
               a->markers ? "marker" : "image");
}

void fsmAdapterRepace(struct fsmAdapter *a)
{
    uint64_t used;
    uint64_t capacity;
    uint64_t basis = a->snapshot_raw_bytes;

    if (a->raft == NULL || a->markers || a->snapshot != NULL || a->log_budget_hit ||
        fsmStoreUsage(a->fsm, &used, &capacity) != 0) {
        return;
    }
    /* Before the first snapshot, pace by the state as it is now. Once the
     * state shrank to less than half of the last snapshot (a backlog
     * drained): likewise, so that a smaller snapshot comes soon rather than
     * after a log as long as the old state (a node that restarts would
     * restore the old large one and replay all of that log). */
    if (basis == 0 || used < basis / 2) {
        basis = used;
    }
    a->log_basis = basis;
    raft_set_snapshot_threshold(a->raft, fsmAdapterThreshold(basis, a->applied_bytes,
                                                             a->applied_entries,
                                                             a->base_threshold, a->log_max));
}

/* libraft 0.15 calls this after it has dropped the log entries the snapshot
 * covers (takeSnapshotCb: logSnapshot, then takeSnapshotClose). */
static int glueSnapshotFinalize(struct raft_fsm *fsm,
                                struct raft_buffer *bufs[],
                                unsigned *n_bufs)
{
    struct fsmAdapter *a = adapterOf(fsm);
    bool taken = *bufs != NULL;
    size_t bytes = 0;
    unsigned i;

    if (taken) {
        for (i = 0; i < *n_bufs; i++) {
            bytes += (*bufs)[i].len;
            if ((*bufs)[i].base == a->snapshot_map) {
                snapshotFrameRelease(a->snapshot_map, a->snapshot_map_len, true);
                a->snapshot_map = NULL;
            } else {
                raft_free((*bufs)[i].base);
            }
        }
        raft_free(*bufs);
    } else {
        raft_free(a->marker); /* the sync failed */
    }
    a->marker = NULL;
    *bufs = NULL;
    *n_bufs = 0;
    if (a->sync_failed) {
        adapterLog(a, REPLICA_LOG_ERROR, "state machine sync failed", "rv=%d", RAFT_IOERR);
        if (a->fatal != NULL) {
            a->fatal(a->arg, "state machine sync failed", RAFT_IOERR);
        }
        return 0;
    }
    if (a->snapshot != NULL) {
        fsmSnapshotEnd(a->snapshot);
        a->snapshot = NULL;
    }
    if (a->scratch_rv != 0) {
        /* Not fatal: libraft tries again at its next threshold. */
        adapterLog(a, REPLICA_LOG_WARN, "snapshot scratch file failed", "rv=%d dir=\"%s\"",
                   a->scratch_rv, a->scratch_dir);
        a->scratch_rv = 0;
    }
    if (taken) {
        glueSnapshotPace(a, bytes, glueReturnMemory(a, false));
    }
    return 0;
}

/* On success the buffer's memory becomes ours (libraft 0.15 snapshotRestore
 * does not free it). On failure libraft keeps it. */
static int glueRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct fsmAdapter *a = adapterOf(fsm);
    struct raft_buffer plain = *buf;
    uint64_t pos_index;
    uint32_t pos_cmds;
    int rv;

    /* Recorded entries come before the snapshot (libraft restores only
     * past last_applied): apply them, then let the snapshot replace them. */
    rv = fsmAdapterSettle(a);
    if (rv != 0) {
        return rv;
    }
    if (fsmIsMarker(buf->base, buf->len)) {
        /* A restart: the store holds the state (see the top). */
        rv = fsmRestoreMarker(a->fsm, buf->base, buf->len);
        if (rv != 0) {
            adapterLog(a, REPLICA_LOG_ERROR, "snapshot marker refused", "rv=%d error=\"%s\"", rv,
                       fsmErrmsg(a->fsm));
            return rv == FSM_ECORRUPT ? RAFT_CORRUPT : RAFT_IOERR;
        }
        raft_free(buf->base);
        fsmPosition(a->fsm, &pos_index, &pos_cmds);
        adapterLog(a, REPLICA_LOG_INFO, "snapshot restored",
                   "kind=marker state_index=%llu state_commands=%u",
                   (unsigned long long)pos_index, (unsigned)pos_cmds);
        return 0;
    }
    /* libraft's uv loader hands us the snapshot decompressed; an install
     * and raft_fixture (tests/sim) hand us the frame as it was made. */
    if (snapshotIsFrame(buf->base, buf->len)) {
        rv = snapshotFrameDecompress(buf, &plain);
        if (rv != 0) {
            adapterLog(a, REPLICA_LOG_ERROR, "snapshot restore failed", "rv=%d error=\"%s\"",
                       rv, "cannot decompress");
            return rv;
        }
    }
    rv = fsmRestore(a->fsm, plain.base, plain.len);
    if (plain.base != buf->base) {
        raft_free(plain.base);
    }
    if (rv != 0) {
        adapterLog(a, REPLICA_LOG_ERROR, "snapshot restore failed", "rv=%d error=\"%s\"", rv,
                   fsmErrmsg(a->fsm));
        return rv == FSM_ECORRUPT ? RAFT_CORRUPT : RAFT_IOERR;
    }
    raft_free(buf->base);
    if (a->markers && a->raft != NULL) {
        /* A marker after the next entry: the image's file would otherwise
         * stay the node's snapshot, and a restart would restore it whole
         * again instead of trusting the store. */
        a->log_budget_hit = true;
        raft_set_snapshot_threshold(a->raft, 1);
    }
    fsmPosition(a->fsm, &pos_index, &pos_cmds);
    adapterLog(a, REPLICA_LOG_INFO, "snapshot restored",
               "bytes=%zu trim_ms=%llu kind=image state_index=%llu state_commands=%u", buf->len,
               (unsigned long long)glueReturnMemory(a, true), (unsigned long long)pos_index,
               (unsigned)pos_cmds);
    return 0;
}

void fsmAdapterInit(struct fsmAdapter *a, struct fsm *fsm)
{
    memset(a, 0, sizeof *a);
    a->fsm = fsm;
    /* The replica seeds its own (replicaInit); the fixture tests keep this
     * one. */
    replicaCommitPaceInit(&a->pace, 1, replicaMonotonicMs());
    a->raft_fsm.version = 3;
    a->raft_fsm.data = a;
    a->raft_fsm.apply = glueApply;
    a->raft_fsm.snapshot = glueSnapshot;
    a->raft_fsm.restore = glueRestore;
    a->raft_fsm.snapshot_finalize = glueSnapshotFinalize;
    a->raft_fsm.snapshot_async = glueSnapshotAsync;
}

void fsmAdapterClose(struct fsmAdapter *a)
{
    applierStop(a);
    raft_free(a->staged);
    a->staged = NULL;
    a->staged_n = 0;
    a->staged_cap = 0;
    raft_free(a->replies);
    raft_free(a->reply_bytes);
    a->replies = NULL;
    a->replies_cap = 0;
    a->reply_bytes = NULL;
    a->reply_bytes_cap = 0;
    a->reply_bytes_len = 0;
}
