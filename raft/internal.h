/* Private to raft/: the replica's state, shared by its files. */
#ifndef QRAFT_RAFT_INTERNAL_H
#define QRAFT_RAFT_INTERNAL_H

#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdbool.h>

#include <raft.h>
#include <raft/uv.h>

#include "raft/replica.h"

/* A proposal batch being written (batch.c): one raft entry holding every
 * command proposed in a loop iteration. @base is from raft_malloc. */
struct batchWriter
{
    char *base;
    size_t len;
    size_t cap;
    uint32_t n;                 /* commands so far */
    struct fsmBodiesAt *unhashed; /* commands whose body entries still
                                     lack their MD5 (fsmCommandFindBodies) */
    uint32_t n_unhashed;
    uint32_t cap_unhashed;
};

/* Append @cmd to the batch (the header is written with the first). The
 * MD5s of cmd->bodies (fsmCommandFindBodies) are written at
 * batchWriterTake. Returns 0, RAFT_NOMEM, or RAFT_INVALID for a command
 * that cannot be encoded; on error the batch is as it was before the call. */
int batchWriterAdd(struct batchWriter *w, const struct fsmCommand *cmd);

/* Hash the message bodies of the batch's commands into their entries
 * (fsmBodiesHash: all at once), hand the finished entry to @buf (for
 * raft_apply) and reset @w. */
void batchWriterTake(struct batchWriter *w, struct raft_buffer *buf);

/* Free what @w holds and reset it. */
void batchWriterDiscard(struct batchWriter *w);

/* Whether an entry is in the batch format (its magic; framing unchecked). */
bool batchIs(const void *buf, size_t len);

/* The commands of a batch entry, in order. */
struct batchReader
{
    const unsigned char *p;
    uint32_t left;
};

/* Check the whole framing of a batch entry: 0 if every length is sound,
 * -1 otherwise (nothing of the entry may then be applied as a batch). */
int batchReaderInit(struct batchReader *r, const void *buf, size_t len);

/* The next command of the batch; false after the last. */
bool batchReaderNext(struct batchReader *r, const void **cmd, size_t *len);

/* What glueApply hands raft as an entry's result: one reply per command of
 * the entry (one for a single-command entry), valid until the next apply.
 * On followers (who have no request to answer) @n is 0. */
struct glueResult
{
    uint32_t n;
    const struct fsmReply *replies;
};

/* A committed entry a follower has not applied to the state yet. @buf
 * points into libraft's log (see fsmglue.c "Deferred apply"). */
struct glueStaged
{
    uint64_t index;
    struct raft_buffer buf;
};

/* When the state machine's write transaction is committed next: @due_ms
 * after @committed_ms (monotonic), or once @due_bytes are written; both
 * drawn anew after each commit (replicaCommitDraw, replica.c). Used by
 * whoever holds the state: the loop, or a follower's applier thread. */
struct commitPace
{
    uint64_t committed_ms;
    uint64_t due_ms;
    uint64_t due_bytes;
    uint64_t rng;
};

/* A follower's applies and store commits on a thread of their own
 * (applier.c). The state belongs to the loop thread or to the applier's,
 * never to both: the loop hands entries over (applierHandOff), which gives
 * the thread the state, and takes it back (applierReclaim) before anything
 * on the loop reads or writes it. Fields after @mu are under it. */
struct applier
{
    bool running;          /* the thread was started (loop's) */
    bool fatal_reported;   /* the loop stopped the node for a failure */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;   /* to the thread: entries, reclaim or stop */
    pthread_cond_t done;   /* to the loop: the state is handed back */
    struct glueStaged *queue; /* handed over, not taken by the thread yet */
    uint32_t queue_n;
    uint32_t queue_cap;
    bool engaged;          /* the thread holds the state */
    bool reclaim;          /* the loop asks for it back */
    bool stop;
    int failed;            /* the store failed on the thread: RAFT_IOERR */
    uint64_t skipped;      /* commands the state held already */
    uint64_t applied;      /* entries applied on the thread, in all */
    uint64_t commits;      /* commits made there, in all */
};

/* The raft_fsm version 3 adapter over fsm/ (fsmglue.c). The replica embeds
 * one; the simulation tests (tests/sim) put one on each fixture server, so
 * that they run the same glue as qraftd. */
struct fsmAdapter
{
    struct raft_fsm raft_fsm; /* handed to raft_init / raft_fixture_grow */
    struct fsm *fsm;
    struct fsmReply reply;         /* the reply of the entry being applied */
    /* The replies of a batch entry (copied: each fsmApply reuses the fsm's
     * reply buffer), and the result handed to raft. */
    struct fsmReply *replies;
    uint32_t replies_cap;
    char *reply_bytes;
    size_t reply_bytes_len;
    size_t reply_bytes_cap;
    struct glueResult result;
    struct fsmSnapshot *snapshot;  /* between `snapshot` and finalize */
    /* The fsm is durable: snapshots are markers (fsm.h), made in
     * `snapshot`, synced in `snapshot_async`, raft_malloc'd until
     * finalize. */
    bool markers;
    uint8_t *marker;
    bool sync_failed; /* fsmSync failed in the thread pool: fatal */
    uint64_t skipped; /* commands the state held already (replay) */
    /* With @scratch_dir (libraft's uv directory; NULL under raft_fixture),
     * the compressed snapshot goes to an unnamed file there as it is made,
     * and libraft gets it as a read-only mapping of that file. */
    const char *scratch_dir;
    void *snapshot_map; /* that mapping, until finalize */
    size_t snapshot_map_len;
    int scratch_rv; /* writing the scratch file failed (RAFT_NOSPACE...) */
    /* Snapshot pacing (glueSnapshotFinalize): when @raft is set, after each
     * snapshot its threshold becomes the number of entries whose bytes add
     * up to the snapshot's size, and never less than @base_threshold; nor
     * more than the number whose bytes add up to @log_max, when set. */
    struct raft *raft;
    unsigned base_threshold;
    unsigned base_trailing; /* --snapshot-trailing: entries, at most */
    uint64_t log_max;
    bool log_budget_hit; /* the log passed fsmAdapterLogBudget: a snapshot
                            was asked for */
    uint64_t applied_bytes;   /* entry bytes applied since the last snapshot */
    uint64_t applied_entries; /* ... and their number */
    uint64_t snapshot_started_ms; /* monotonic, when `snapshot` began */
    uint64_t snapshot_raw_bytes;  /* the last snapshot before compression */
    uint64_t log_basis; /* the state's size the log budget follows: the last
                           snapshot, or the state as it is now (Repace) */
    uint64_t trimmed_ms; /* monotonic, the last malloc_trim (fsmglue.c) */
    bool trim_owed;      /* a snapshot freed entries since then */
    /* Deferred apply (fsmglue.c): a follower's entries, recorded by
     * glueApply, applied to the state by fsmAdapterSettle. */
    bool defer_follower;
    struct glueStaged *staged;
    uint32_t staged_n;
    uint32_t staged_cap;
    /* With the applier started (qraftd), recorded entries are applied on
     * its thread; without (the fixture tests, the simulator), on the loop. */
    struct applier applier;
    struct commitPace pace; /* commits of the state's write transaction */
    /* A store failure in apply or restore: the node must stop. */
    void (*fatal)(void *arg, const char *what, int rv);
    /* Log sink, as replicaConfig.log; may be NULL. */
    void (*log)(void *arg, int level, const char *msg, const char *kv);
    void *arg;
};

/* Pre-vote, except after a long time without a leader (prevote.c). */
struct preVoteGuard
{
    uint64_t leaderless_since; /* ms; 0 while a leader is known */
    bool off;                  /* pre-vote turned off */
};

/* Update @g for raft @r at time @now_ms (any monotonic clock): turn
 * pre-vote off after a long time without a leader, back on once one is
 * known. Returns whether it changed (g->off tells how). */
bool preVoteGuardUpdate(struct preVoteGuard *g, struct raft *r, uint64_t now_ms);

/* Guards against two libraft 0.15 bugs on the follower side
 * (appendguard.c): entries from index 1 sent to a follower that compacted
 * index 1 away (log corruption), and successful answers that claim stale
 * entries as matching (commit safety). */
struct appendGuard
{
    raft_term term;       /* leader term of `confirmed` */
    raft_index confirmed; /* log known to match that leader's up to here */
};

/* Every received message, before raft @r sees it. */
void appendGuardRecv(struct appendGuard *g, struct raft *r, struct raft_message *m);

/* Every message about to be sent: returns @m, or @copy with a successful
 * AppendEntries answer's last_log_index clamped. */
const struct raft_message *appendGuardSend(struct appendGuard *g,
                                           const struct raft_message *m,
                                           struct raft_message *copy);

/* libraft's TCP transport behind a wrapper that turns Nagle's algorithm
 * off on every raft connection (transport.c). raft_uv_init gets &outer. */
struct replicaTransport
{
    struct raft_uv_transport outer; /* what raft sees */
    struct raft_uv_transport inner; /* raft_uv_tcp */
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
};

/* raft_uv_tcp_init, wrapped. Returns 0 or a RAFT_* code. */
int replicaTransportInit(struct replicaTransport *w, uv_loop_t *loop);

/* raft_uv_tcp_close of the inner transport (after raft_uv_close). */
void replicaTransportClose(struct replicaTransport *w);

/* Monotonic milliseconds (CLOCK_MONOTONIC), for durations and pacing. */
uint64_t replicaMonotonicMs(void);

/* The reply copies of a batch (fsmglue.c) are kept in a buffer reused from
 * one batch to the next, unless it grew beyond this. */
#define GLUE_REPLY_BYTES_KEEP ((size_t)4 << 20)

/* Pacing (fsmglue.c): the snapshot threshold, in entries, after a snapshot
 * of @snapshot_bytes, when @applied_entries of @applied_bytes were applied
 * since the one before: the entries that add up to the snapshot's size at
 * their average size, at least @base_threshold, and at most those that add
 * up to @log_max bytes (0: no such bound; it wins over @base_threshold, and
 * the result is at least 1). */
unsigned fsmAdapterThreshold(uint64_t snapshot_bytes,
                             uint64_t applied_bytes,
                             uint64_t applied_entries,
                             unsigned base_threshold,
                             uint64_t log_max);

/* Bytes of log since the last snapshot at which the next is asked for at
 * once: @state_bytes (the last snapshot's size, or the state's as it is
 * now), at least 8 MiB, or @log_max if set and smaller. */
uint64_t fsmAdapterLogBudget(uint64_t state_bytes, uint64_t log_max);

/* Entries kept behind an image snapshot add up to about this many bytes;
 * behind a marker, which comes every 8 MiB of log, to this many: libraft
 * 0.15 holds them in memory, and a follower further behind gets an image
 * of the state instead (snapget.c). */
#define GLUE_TRAILING_BYTES ((uint64_t)64 << 20)
#define GLUE_MARKER_TRAILING_BYTES ((uint64_t)16 << 20)
#define GLUE_TRAILING_MIN 64u

/* Entries to keep behind a snapshot: those that add up to about
 * @trailing_bytes at their average size, at least GLUE_TRAILING_MIN, at
 * most @base_trailing. */
unsigned fsmAdapterTrailing(uint64_t applied_bytes,
                            uint64_t applied_entries,
                            unsigned base_trailing,
                            uint64_t trailing_bytes);

/* Pace by the state as it is now before the first snapshot and when it
 * shrank below half of the last snapshot (see fsmglue.c "Pacing"). Call
 * about once a second. */
void fsmAdapterRepace(struct fsmAdapter *a);

/* Give freed memory back to the kernel if a snapshot freed some and the
 * last time was GLUE_TRIM_INTERVAL_MS ago (fsmglue.c "Memory"); the loop
 * calls it about once a second. */
void fsmAdapterTrimOwed(struct fsmAdapter *a);

/* Apply entry @buf at raft index @index (0: unknown, apply everything),
 * skipping the commands the state holds already (fsmPosition): glueApply
 * with the index libraft is at. */
int fsmAdapterApplyAt(struct fsmAdapter *a, uint64_t index, const struct raft_buffer *buf,
                      void **result);

/* Apply the entries a follower's glueApply recorded (see fsmglue.c
 * "Deferred apply"), in order, and take the state back from the applier:
 * after it the loop holds the state at libraft's last_applied. 0, or
 * RAFT_IOERR when the store failed (the fatal callback has been called;
 * the rest are dropped). */
int fsmAdapterSettle(struct fsmAdapter *a);

/* The raft_malloc'd array @arr of @*cap elements of @size, grown (doubling
 * from @first) to hold at least @need; *cap is updated. NULL when out of
 * memory (@arr is left as it was). fsmglue.c. */
void *glueGrow(void *arr, uint32_t *cap, uint32_t need, size_t size, uint32_t first);

/* The loop's check and prepare handles: hand the recorded entries to the
 * applier when it runs, else settle. 0 or as fsmAdapterSettle. */
int fsmAdapterHandOff(struct fsmAdapter *a);

/* Apply recorded entry @e to @fsm, nobody waiting for its replies (the
 * commands the state holds already are skipped and counted in @skipped).
 * 0, or the fsm's error code when the store failed. */
int fsmAdapterApplyRecorded(struct fsm *fsm, const struct glueStaged *e, uint64_t *skipped);

/* applier.c. Start the thread (0, or an errno: then entries are applied
 * on the loop as before). */
int applierStart(struct fsmAdapter *a);

/* Take the state back (waits for the thread to apply what it was handed
 * and to commit), then end the thread. Safe to call when not started. */
void applierStop(struct fsmAdapter *a);

/* Hand @a->staged over, if any (they are emptied). 0; RAFT_NOMEM (nothing
 * handed over, the caller settles on the loop); RAFT_IOERR when the store
 * failed on the thread (the caller takes the state back and stops the
 * node). */
int applierHandOff(struct fsmAdapter *a);

/* Take the state back: waits until the thread has applied everything it
 * was handed and committed. 0, or RAFT_IOERR if the store failed there.
 * A no-op when the thread does not hold the state. */
int applierReclaim(struct fsmAdapter *a);

/* Whether the thread holds the state (then the loop must not commit). */
bool applierEngaged(struct fsmAdapter *a);

/* Commit @fsm's write transaction if @p says it is due at @now_ms; or
 * now, whatever @p says (replicaCommitNow). Either way a commit draws the
 * next bounds. 0, or the fsm's error from fsmFlush. */
int replicaCommitIfDue(struct commitPace *p, struct fsm *fsm, uint64_t now_ms);
int replicaCommitNow(struct commitPace *p, struct fsm *fsm, uint64_t now_ms);

/* Start @p at @now_ms with a draw seeded by @seed. */
void replicaCommitPaceInit(struct commitPace *p, uint64_t seed, uint64_t now_ms);

/* A compressed image of the state (frame.c): an LZ4 frame in libraft's
 * format, raft_malloc'd, or with a scratch directory a read-only mapping
 * of an unnamed file there (@mapped). */
struct snapshotFrame
{
    void *base;
    size_t len;
    bool mapped;
    size_t raw;     /* bytes before compression */
    int scratch_rv; /* the scratch file failed: RAFT_NOSPACE or RAFT_IOERR */
};

/* Build the image of pinned state @snap (thread pool). 0 or a RAFT_* code;
 * on failure nothing is left to free. */
int snapshotFrameBuild(struct fsmSnapshot *snap, const char *scratch_dir, struct snapshotFrame *out);

/* Free an image's bytes (munmap if @mapped, else raft_free). */
void snapshotFrameRelease(void *base, size_t len, bool mapped);

/* Decompress frame @buf into @out (raft_malloc'd). RAFT_CORRUPT if it is
 * damaged, RAFT_NOMEM. */
int snapshotFrameDecompress(const struct raft_buffer *buf, struct raft_buffer *out);

/* Fill @a's raft_fsm (version 3, async snapshots) over @fsm. */
void fsmAdapterInit(struct fsmAdapter *a, struct fsm *fsm);

/* Free what the adapter allocated (not the fsm). */
void fsmAdapterClose(struct fsmAdapter *a);

struct replica
{
    uv_loop_t *loop;
    struct replicaConfig config;
    char *dir;       /* owned copy of config.dir */
    char *raft_addr; /* owned copy of config.raft_addr */
    struct raft raft;
    struct raft_io io;
    struct replicaTransport transport;
    struct fsmAdapter adapter;

    /* libraft's own I/O methods, which ours wrap to catch disk errors. */
    struct
    {
        int (*append)(struct raft_io *io,
                      struct raft_io_append *req,
                      const struct raft_entry entries[],
                      unsigned n,
                      raft_io_append_cb cb);
        int (*truncate)(struct raft_io *io, raft_index index);
        int (*snapshot_put)(struct raft_io *io,
                            unsigned trailing,
                            struct raft_io_snapshot_put *req,
                            const struct raft_snapshot *snapshot,
                            raft_io_snapshot_put_cb cb);
        int (*set_term)(struct raft_io *io, raft_term term);
        int (*set_vote)(struct raft_io *io, raft_id server_id);
        int (*start)(struct raft_io *io,
                     unsigned msecs,
                     raft_io_tick_cb tick,
                     raft_io_recv_cb recv);
        int (*send)(struct raft_io *io,
                    struct raft_io_send *req,
                    const struct raft_message *message,
                    raft_io_send_cb cb);
        int (*snapshot_get)(struct raft_io *io,
                            struct raft_io_snapshot_get *req,
                            raft_io_snapshot_get_cb cb);
    } uv_methods;
    struct appendGuard append_guard;
    raft_io_recv_cb raft_recv; /* raft's own receive callback */


    /* Leadership readiness: the barrier of the current term. */
    struct raft_barrier barrier;
    bool barrier_pending;
    raft_term barrier_term;
    raft_term ready_term; /* term whose barrier was applied, 0 if none */
    raft_term logged_term;
    int logged_state;
    raft_id logged_leader;

    struct preVoteGuard prevote;
    uint64_t last_stamp;      /* last now_ms this leader stamped */
    uint64_t last_stamp_mono; /* monotonic ms when it did */
    bool clock_behind_logged; /* warned that the wall clock is behind */
    unsigned appends;    /* log appends so far (for the fault seam) */

    /* Proposals of this loop iteration not yet handed to raft (one entry,
     * flushed by the check and prepare handles), and who waits for each. */
    struct batchWriter batch;
    struct proposalBatch *batch_waiters;

    uint64_t repaced_ms; /* monotonic ms of the last fsmAdapterRepace */
    uint64_t trim_checked_ms; /* ... and of fsmAdapterTrimOwed */

    uv_prepare_t prepare; /* flushes the fsm's write batch */
    uv_check_t check;     /* watches leadership */
    uv_timer_t tick;      /* housekeeping proposals */
    bool sweep_inflight;  /* a sweep slice is proposed and not yet
                             answered (one at a time) */

    /* Closing. */
    bool closing;
    bool fatal;
    struct raft_transfer transfer;
    unsigned handles_open;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* The replica whose io (libraft's, wrapped by guardio.c) @io is. */
static inline struct replica *replicaOfIo(struct raft_io *io)
{
    return (struct replica *)((char *)io - offsetof(struct replica, io));
}

/* Log through the configured sink; @kv is "k=v k=v" or NULL. */
void replicaLog(struct replica *r, int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One of the replica's handles, or a snapshot image being built
 * (snapget.c), is done: the last one frees the closed replica. */
void replicaRelease(struct replica *r);

/* Stop the node: a disk or store error. Never returns to raft normally:
 * the fatal callback exits the process. */
void replicaFatal(struct replica *r, const char *what, int rv);


/* Whether snapshot bytes start with the LZ4 frame magic (snapcheck.c). */
bool snapshotIsFrame(const void *buf, size_t len);

/* Read every LZ4-framed snapshot file in raft directory @dir through a
 * decoder: libraft 0.15 spins for ever on a frame cut short (snapcheck.c).
 * 0, or -1 with the file and the damage in @errmsg (256 bytes). */
int replicaCheckSnapshots(const char *dir, char *errmsg);

/* The io's snapshot_get: a marker is replaced with an image of the state
 * before libraft sends it (snapget.c). */
int replicaSnapshotGet(struct raft_io *io,
                       struct raft_io_snapshot_get *req,
                       raft_io_snapshot_get_cb cb);

/* The state machine's commits (see replica.c): draw from @rng
 * (xorshift64, not 0) when the next is due, after @due_ms or @due_bytes
 * written, each at least half and less than one and a half times these. */
#define REPLICA_COMMIT_MS 100
#define REPLICA_COMMIT_BYTES ((uint64_t)4 << 20)
void replicaCommitDraw(uint64_t *rng, uint64_t *due_ms, uint64_t *due_bytes);

/* Put wrappers around libraft's disk methods (fail-stop on errors) and its
 * messages (the append guard): guardio.c. */
void replicaWrapIo(struct replica *r);

/* libraft's log checksum (CRC-32, polynomial 0x04C11DB7, most significant
 * bit first, initial value @crc, no final xor): crc.c, which also gives
 * libraft's byteCrc32 this body. logChecksum folds with carry-less
 * multiplies where logChecksumFolds() says the CPU can, and uses the
 * tables of logChecksumSliced (eight bytes a step) otherwise. */
uint32_t logChecksum(const void *buf, size_t size, uint32_t crc);
uint32_t logChecksumSliced(const void *buf, size_t size, uint32_t crc);
bool logChecksumFolds(void);

/* uvpatch.c: libraft's UvOsIoDestroy (io_destroy of a closed segment's AIO
 * context) runs on a reaper thread, not the loop. */
int __real_UvOsIoDestroy(aio_context_t ctx);
int __wrap_UvOsIoDestroy(aio_context_t ctx);
/* Contexts handed to the reaper and not destroyed yet; hold the reaper
 * (it destroys nothing until released) or release it. For tests. */
unsigned uvPatchReapPending(void);
void uvPatchReapHold(bool hold);

#endif /* QRAFT_RAFT_INTERNAL_H */
