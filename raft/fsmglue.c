/* The raft_fsm version 3 adapter over fsm/ (the wrappers that make disk
 * errors fail-stop are in guardio.c).
 *
 * Snapshots (DESIGN.md "Storage"): raft calls `snapshot` on the loop thread,
 * where fsmSnapshotBegin commits pending writes and pins an LMDB read
 * transaction at the applied state; then `snapshot_async` in the thread
 * pool, where fsmSnapshotStream serialises that transaction in 1 MiB chunks
 * while applies go on, and each chunk is LZ4-compressed onto one frame
 * (libraft's own frame: libraft's compression is off, its loader still
 * decompresses, and files of earlier builds read the same); then
 * `snapshot_finalize` on the loop thread, which frees everything. Because
 * finalize is set, raft never frees the snapshot buffers itself. Failure
 * modes: out of memory or a store error in the thread pool fail that
 * snapshot only (libraft tries again at the next threshold).
 *
 * Pacing. A snapshot serialises the whole state, so taking one every N
 * entries costs O(state) per N entries: with a large backlog (a million
 * 1 KiB messages is 1 GB) that is most of the node's work. After each
 * snapshot the threshold becomes the number of entries, at the recent
 * average entry size, that add up to the snapshot's size: the log then
 * grows to about the state's size between snapshots (at most about twice
 * the state on disk), and snapshotting costs O(1) per byte appended.
 * libraft 0.15 holds that log in memory, so --snapshot-log-max caps it:
 * the threshold never exceeds the number of entries that add up to that
 * many bytes (even below --snapshot-threshold), and a state larger than
 * the cap is then snapshotted state/cap times per cap of log appended.
 * libraft counts entries, and an entry is a batch of commands whose size
 * follows the load (one command when idle, hundreds under pipelined load),
 * so a count computed from one period's average size can let the next
 * period's log grow far past the state's size. glueApply therefore also
 * counts the log's bytes since the last snapshot and asks for a snapshot
 * at once (threshold 1) when they reach the budget: the last snapshot's
 * size (at least 8 MiB), or --snapshot-log-max if smaller. Before the
 * first snapshot (a new node, or one that restarted: libraft does not
 * say how large the restored snapshot was), and when the state shrinks
 * below half of the last snapshot (a drained backlog), fsmAdapterRepace
 * (called about once a second) paces by the state as it is now: without
 * that, a node that never snapshotted kept every entry since it started
 * in memory until the log reached --snapshot-log-max (hundreds of MiB
 * of log for a few MiB of state). Entries are batches of commands (batch.c), whose size
 * varies with the load, so the entries kept behind a snapshot are bounded
 * in bytes as well (GLUE_TRAILING_BYTES, never more than
 * --snapshot-trailing entries).
 *
 * Memory. libraft 0.15 keeps every entry since the last snapshot (and
 * snapshot_trailing more) in memory, one allocation each, and drops them
 * all at once when a snapshot is done; the snapshot buffers are freed at
 * the same time. glibc keeps freed heap pages resident below the top of
 * the heap (only the top is given back), so without help the node stays at
 * the peak size of its log forever. After each snapshot and each restore,
 * malloc_trim(0) gives the free pages back (trim_ms in the log line: a few
 * ms at most, on the loop thread, once per snapshot).
 * The compressed snapshot (about the state's size: message bodies rarely
 * compress) is not held on the heap while libraft writes it: under
 * libraft's uv backend it is written chunk by chunk to an unnamed scratch
 * file in the raft directory (O_TMPFILE: nothing is left behind by a
 * crash), and libraft gets a read-only mapping of that file, whose pages
 * are page cache the kernel can drop, not anonymous memory. It costs one
 * more write of the snapshot, mostly into the page cache (the file is gone
 * before writeback reaches it, as a rule). Under raft_fixture (no
 * directory) the frame stays in memory.
 *
 * Apply: fsmApply returns non-zero only when the store failed. Every node
 * would fail at the same entry, and a non-zero return would make libraft
 * retry the entry forever, so the node stops instead.
 */
#include "raft/internal.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Bytes of the snapshot fsmSnapshotStream hands over at once. */
#define GLUE_SNAPSHOT_CHUNK ((size_t)1 << 20)

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

/* Keep a copy of the reply of command @i of a batch. */
static int glueKeepReply(struct fsmAdapter *a, uint32_t i, const struct fsmReply *reply)
{
    if (i >= a->replies_cap) {
        uint32_t cap = a->replies_cap > 0 ? a->replies_cap * 2 : 64;
        struct fsmReply *replies = raft_realloc(a->replies, cap * sizeof *replies);
        if (replies == NULL) {
            return RAFT_NOMEM;
        }
        a->replies = replies;
        a->replies_cap = cap;
    }
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

/* Apply every command of a batch entry whose framing is sound, in order;
 * keep their replies when a request may wait for them (the leader). */
static int glueApplyBatch(struct fsmAdapter *a, struct batchReader *r)
{
    bool keep = a->raft == NULL || raft_state(a->raft) == RAFT_LEADER;
    const void *cmd;
    size_t len;
    uint32_t i = 0;
    int rv;

    if (a->reply_bytes_cap > GLUE_REPLY_BYTES_KEEP) {
        /* A batch of large receives grew it: do not hold that for ever. */
        raft_free(a->reply_bytes);
        a->reply_bytes = NULL;
        a->reply_bytes_cap = 0;
    }
    a->reply_bytes_len = 0;
    while (batchReaderNext(r, &cmd, &len)) {
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

static int glueApply(struct raft_fsm *fsm,
                     const struct raft_buffer *buf,
                     void **result)
{
    struct fsmAdapter *a = adapterOf(fsm);
    struct batchReader r;
    int rv;

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
    if (batchIs(buf->base, buf->len) && batchReaderInit(&r, buf->base, buf->len) == 0) {
        rv = glueApplyBatch(a, &r);
        if (rv != 0) {
            return rv;
        }
    } else {
        /* A single-command entry (older logs, tests), or a batch whose
         * framing is wrong: one command, which may not decode. */
        rv = fsmApply(a->fsm, buf->base, buf->len, &a->reply);
        if (rv != 0) {
            return glueApplyFailed(a, rv);
        }
        a->result.n = 1;
        a->result.replies = &a->reply;
    }
    *result = &a->result;
    return 0;
}

static int glueSnapshot(struct raft_fsm *fsm,
                        struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct fsmAdapter *a = adapterOf(fsm);
    int rv;

    if (a->snapshot != NULL) {
        return RAFT_BUSY;
    }
    a->snapshot_started_ms = replicaMonotonicMs();
    rv = fsmSnapshotBegin(a->fsm, &a->snapshot);
    if (rv != 0) {
        adapterLog(a, REPLICA_LOG_WARN, "snapshot begin failed", "rv=%d error=\"%s\"", rv,
                   fsmErrmsg(a->fsm));
        a->snapshot = NULL;
        return rv == FSM_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* The snapshot being compressed: an LZ4 frame that grows chunk by chunk,
 * in memory, or (@fd >= 0) written to an unnamed scratch file as it grows,
 * @p then holding one compressed chunk at a time. */
struct glueFrame
{
    LZ4F_cctx *ctx;
    LZ4F_preferences_t prefs;
    uint8_t *p;   /* raft_malloc'd */
    size_t cap;
    size_t len;
    size_t step;  /* growth, at least */
    int fd;       /* the scratch file, or -1 */
    size_t written; /* bytes of the frame written to @fd */
    int disk_rv;  /* RAFT_NOSPACE or RAFT_IOERR once writing it failed */
};

/* Make room for @need more bytes. */
static int glueFrameReserve(struct glueFrame *z, size_t need)
{
    uint8_t *p;
    size_t cap;

    if (z->cap - z->len >= need) {
        return 0;
    }
    cap = z->cap + (need > z->step ? need : z->step);
    p = raft_realloc(z->p, cap);
    if (p == NULL) {
        return FSM_ENOMEM;
    }
    z->p = p;
    z->cap = cap;
    return 0;
}

/* With a scratch file: write out what @z holds. */
static int glueFrameFlush(struct glueFrame *z)
{
    size_t at = 0;

    while (z->fd >= 0 && at < z->len) {
        ssize_t n = write(z->fd, z->p + at, z->len - at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            z->disk_rv = n < 0 && errno == ENOSPC ? RAFT_NOSPACE : RAFT_IOERR;
            return FSM_ESTORE;
        }
        at += (size_t)n;
    }
    if (z->fd >= 0) {
        z->written += z->len;
        z->len = 0;
    }
    return 0;
}

/* fsmSnapshotStream's sink: compress one chunk onto the frame. */
static int glueFrameSink(void *arg, const void *p, size_t len)
{
    struct glueFrame *z = arg;
    size_t n;

    if (glueFrameReserve(z, LZ4F_compressBound(len, &z->prefs)) != 0) {
        return FSM_ENOMEM;
    }
    n = LZ4F_compressUpdate(z->ctx, z->p + z->len, z->cap - z->len, p, len, NULL);
    if (LZ4F_isError(n)) {
        return FSM_ENOMEM;
    }
    z->len += n;
    return glueFrameFlush(z);
}

/* An unnamed file in @dir (gone with its last descriptor or mapping, a
 * crash included), or -1. */
static int glueScratchOpen(const char *dir)
{
    char path[PATH_MAX];
    int fd = -1;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0 && (size_t)snprintf(path, sizeof path, "%s/qraft-scratch-XXXXXX", dir) <
                      sizeof path) {
        /* No O_TMPFILE on this file system: a named file, unlinked at once. */
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0) {
            unlink(path);
        }
    }
    return fd;
}

/* Runs in the thread pool: touches only the pinned snapshot and the
 * adapter's snapshot fields (see "Memory" above for the scratch file). */
static int glueSnapshotAsync(struct raft_fsm *fsm,
                             struct raft_buffer *bufs[],
                             unsigned *n_bufs)
{
    struct fsmAdapter *a = adapterOf(fsm);
    struct raft_buffer *array = NULL;
    struct glueFrame z;
    void *map;
    size_t total;
    size_t n;
    int rv;

    memset(&z, 0, sizeof z);
    z.fd = -1;
    rv = fsmSnapshotSize(a->snapshot, &total);
    if (rv != 0) {
        goto err;
    }
    /* libraft's own frame settings (src/compress.c): its loader finds the
     * output buffer's size in contentSize. */
    z.prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    z.prefs.frameInfo.contentSize = total;
    z.step = total / 8 > GLUE_SNAPSHOT_CHUNK ? total / 8 : GLUE_SNAPSHOT_CHUNK;
    if (a->scratch_dir != NULL) {
        z.fd = glueScratchOpen(a->scratch_dir);
        if (z.fd < 0) {
            z.disk_rv = errno == ENOSPC ? RAFT_NOSPACE : RAFT_IOERR;
            goto err;
        }
        z.step = LZ4F_compressBound(GLUE_SNAPSHOT_CHUNK, &z.prefs);
    }
    array = raft_malloc(sizeof *array);
    if (array == NULL || LZ4F_isError(LZ4F_createCompressionContext(&z.ctx, LZ4F_VERSION)) ||
        glueFrameReserve(&z, LZ4F_HEADER_SIZE_MAX) != 0) {
        rv = FSM_ENOMEM;
        goto err;
    }
    n = LZ4F_compressBegin(z.ctx, z.p, z.cap, &z.prefs);
    if (LZ4F_isError(n)) {
        rv = FSM_ENOMEM;
        goto err;
    }
    z.len = n;
    rv = fsmSnapshotStream(a->snapshot, GLUE_SNAPSHOT_CHUNK, glueFrameSink, &z);
    if (rv != 0) {
        goto err;
    }
    if (glueFrameReserve(&z, LZ4F_compressBound(0, &z.prefs)) != 0) {
        rv = FSM_ENOMEM;
        goto err;
    }
    n = LZ4F_compressEnd(z.ctx, z.p + z.len, z.cap - z.len, NULL);
    if (LZ4F_isError(n)) {
        rv = FSM_ENOMEM;
        goto err;
    }
    z.len += n;
    rv = glueFrameFlush(&z);
    if (rv != 0) {
        goto err;
    }
    LZ4F_freeCompressionContext(z.ctx);
    z.ctx = NULL;
    a->snapshot_raw_bytes = total;
    if (z.fd >= 0) {
        /* libraft writes the snapshot from these pages: page cache, read
         * back from the scratch file, not a copy on the heap. */
        map = mmap(NULL, z.written, PROT_READ, MAP_SHARED, z.fd, 0);
        if (map == MAP_FAILED) {
            rv = FSM_ENOMEM;
            goto err;
        }
        close(z.fd);
        raft_free(z.p);
        a->snapshot_map = map;
        a->snapshot_map_len = z.written;
        array[0].base = map;
        array[0].len = z.written;
    } else {
        array[0].base = z.p;
        array[0].len = z.len;
    }
    *bufs = array;
    *n_bufs = 1;
    return 0;

err:
    LZ4F_freeCompressionContext(z.ctx);
    if (z.fd >= 0) {
        close(z.fd);
    }
    raft_free(z.p);
    raft_free(array);
    if (z.disk_rv != 0) {
        a->scratch_rv = z.disk_rv; /* logged by finalize, on the loop */
        return z.disk_rv;
    }
    return rv == FSM_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
}

/* See "Memory" above: hand the pages of freed log entries and snapshot
 * buffers back to the kernel. Returns the time it took, in ms. */
static uint64_t glueReturnMemory(void)
{
    uint64_t start = replicaMonotonicMs();
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    return replicaMonotonicMs() - start;
}

/* The log between two snapshots may reach the last snapshot's size (the
 * state), but is never cut below this. */
#define GLUE_LOG_MIN_BYTES ((uint64_t)8 << 20)

/* Entries kept behind a snapshot add up to about this many bytes, but
 * never fewer than GLUE_TRAILING_MIN entries. */
#define GLUE_TRAILING_BYTES ((uint64_t)64 << 20)
#define GLUE_TRAILING_MIN 64u

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
                            unsigned base_trailing)
{
    uint64_t trailing = GLUE_TRAILING_BYTES / glueAverageEntry(applied_bytes, applied_entries);

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
    threshold = fsmAdapterThreshold(a->snapshot_raw_bytes, a->applied_bytes, a->applied_entries,
                                    a->base_threshold, a->log_max);
    raft_set_snapshot_threshold(a->raft, threshold);
    raft_set_snapshot_trailing(a->raft, fsmAdapterTrailing(a->applied_bytes, a->applied_entries,
                                                           a->base_trailing));
    a->log_basis = a->snapshot_raw_bytes;
    a->applied_bytes = 0;
    a->applied_entries = 0;
    a->log_budget_hit = false;
    adapterLog(a, REPLICA_LOG_INFO, "snapshot taken",
               "bytes=%zu ms=%llu next_after_entries=%llu trim_ms=%llu compressed=%zu",
               (size_t)a->snapshot_raw_bytes,
               (unsigned long long)(replicaMonotonicMs() - a->snapshot_started_ms),
               (unsigned long long)threshold, (unsigned long long)trim_ms, snapshot_bytes);
}

void fsmAdapterRepace(struct fsmAdapter *a)
{
    uint64_t used;
    uint64_t capacity;
    uint64_t basis = a->snapshot_raw_bytes;

    if (a->raft == NULL || a->snapshot != NULL || a->log_budget_hit ||
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
                munmap(a->snapshot_map, a->snapshot_map_len);
                a->snapshot_map = NULL;
            } else {
                raft_free((*bufs)[i].base);
            }
        }
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
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
        glueSnapshotPace(a, bytes, glueReturnMemory());
    }
    return 0;
}

/* True if @buf starts with the LZ4 frame magic (fsm/ snapshots start with
 * "QRAFTSN1"). */
static bool glueIsFrame(const struct raft_buffer *buf)
{
    return snapshotIsFrame(buf->base, buf->len);
}

/* Decompress the frame @buf into @out (raft_malloc'd). */
static int glueDecompress(const struct raft_buffer *buf, struct raft_buffer *out)
{
    LZ4F_dctx *ctx = NULL;
    LZ4F_frameInfo_t info;
    size_t in = buf->len;
    size_t at;
    size_t done = 0;
    size_t n = 1;
    int rv = RAFT_CORRUPT;

    out->base = NULL;
    out->len = 0;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
        return RAFT_NOMEM;
    }
    memset(&info, 0, sizeof info);
    if (LZ4F_isError(LZ4F_getFrameInfo(ctx, &info, buf->base, &in)) || info.contentSize == 0 ||
        info.contentSize > SIZE_MAX) {
        goto out;
    }
    at = in;
    out->base = raft_malloc((size_t)info.contentSize);
    if (out->base == NULL) {
        rv = RAFT_NOMEM;
        goto out;
    }
    out->len = (size_t)info.contentSize;
    while (n != 0 && at < buf->len) {
        size_t src = buf->len - at;
        size_t dst = out->len - done;
        n = LZ4F_decompress(ctx, (uint8_t *)out->base + done, &dst, (const uint8_t *)buf->base + at,
                            &src, NULL);
        if (LZ4F_isError(n)) {
            goto out;
        }
        at += src;
        done += dst;
    }
    rv = n == 0 && done == out->len ? 0 : RAFT_CORRUPT;

out:
    LZ4F_freeDecompressionContext(ctx);
    if (rv != 0) {
        raft_free(out->base);
        out->base = NULL;
        out->len = 0;
    }
    return rv;
}

/* On success the buffer's memory becomes ours (libraft 0.15 snapshotRestore
 * does not free it). On failure libraft keeps it. */
static int glueRestore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct fsmAdapter *a = adapterOf(fsm);
    struct raft_buffer plain = *buf;
    int rv;

    /* libraft's uv loader hands us the snapshot decompressed; raft_fixture
     * (tests/sim) hands back the frame glueSnapshotAsync made. */
    if (glueIsFrame(buf)) {
        rv = glueDecompress(buf, &plain);
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
    adapterLog(a, REPLICA_LOG_INFO, "snapshot restored", "bytes=%zu trim_ms=%llu", buf->len,
               (unsigned long long)glueReturnMemory());
    return 0;
}

void fsmAdapterInit(struct fsmAdapter *a, struct fsm *fsm)
{
    memset(a, 0, sizeof *a);
    a->fsm = fsm;
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
    raft_free(a->replies);
    raft_free(a->reply_bytes);
    a->replies = NULL;
    a->replies_cap = 0;
    a->reply_bytes = NULL;
    a->reply_bytes_cap = 0;
    a->reply_bytes_len = 0;
}
