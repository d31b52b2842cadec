/* Snapshots sent to followers: a marker becomes an image of the state.
 *
 * With a durable fsm the snapshots libraft keeps are markers (fsmglue.c):
 * they name the state the node's own store holds and mean nothing
 * elsewhere. When libraft 0.15 sends a snapshot to a follower (one that is
 * new, wiped, or further behind than the trailing log), it asks the io for
 * the last snapshot (snapshot_get) and sends its bytes. This wrapper lets
 * the uv backend load it; if it is a marker, the bytes are replaced with
 * an image of the state as the store holds it now (pinned on the loop
 * thread, compressed in the thread pool by snapshotFrameBuild), before
 * libraft sees them. The image is at or past the marker's index (the state
 * only moves on), and carries its own place in the log, so the follower
 * restores it under the marker's index and term and skips the entries
 * between (fsmAdapterApplyAt): they are committed, the same everywhere.
 *
 * The image is held in memory (raft_malloc'd: libraft frees it with
 * raft_free once sent) while it is sent: about the state's size, for as
 * long as the transfer lasts, once per install. A marker is never sent:
 * if the image cannot be made, libraft gets an error and tries again at
 * its next heartbeat. A build in progress holds the replica open
 * (replicaRelease) so that a close waits for it. */
#include "raft/internal.h"

#include <string.h>

struct snapGet
{
    struct raft_io_snapshot_get inner;
    struct raft_io_snapshot_get *outer;
    struct replica *r;
    struct raft_snapshot *snapshot; /* as loaded, until handed on */
    struct fsmSnapshot *pin;        /* the state the image is made of */
    struct snapshotFrame frame;
    int status;
    uint64_t started_ms;
    uv_work_t work;
};

/* Free a snapshot libraft's loader returned (what libraft's own
 * snapshotClose would do). */
static void snapGetDiscard(struct raft_snapshot *s)
{
    unsigned i;

    raft_configuration_close(&s->configuration);
    for (i = 0; i < s->n_bufs; i++) {
        raft_free(s->bufs[i].base);
    }
    raft_free(s->bufs);
    raft_free(s);
}

/* Hand @g's snapshot, or @status, to libraft and free @g. */
static void snapGetFinish(struct snapGet *g, int status)
{
    struct raft_io_snapshot_get *outer = g->outer;
    struct raft_snapshot *snapshot = g->snapshot;

    if (status != 0 && snapshot != NULL) {
        snapGetDiscard(snapshot);
        snapshot = NULL;
    }
    raft_free(g);
    outer->cb(outer, snapshot, status);
}

static void snapGetWorkCb(uv_work_t *work)
{
    struct snapGet *g = work->data;
    g->status = snapshotFrameBuild(g->pin, NULL, &g->frame);
}

static void snapGetBuiltCb(uv_work_t *work, int status)
{
    struct snapGet *g = work->data;
    struct replica *r = g->r;
    struct raft_buffer *buf;

    fsmSnapshotEnd(g->pin);
    if (status == 0) {
        status = g->status;
    }
    if (status == 0) {
        buf = &g->snapshot->bufs[0];
        raft_free(buf->base);
        buf->base = g->frame.base;
        buf->len = g->frame.len;
        replicaLog(r, REPLICA_LOG_INFO, "snapshot image built for a follower",
                   "index=%llu bytes=%zu compressed=%zu ms=%llu",
                   (unsigned long long)g->snapshot->index, g->frame.raw, g->frame.len,
                   (unsigned long long)(replicaMonotonicMs() - g->started_ms));
    } else {
        replicaLog(r, REPLICA_LOG_WARN, "snapshot image failed", "rv=%d", status);
        status = RAFT_IOERR;
    }
    snapGetFinish(g, status);
    replicaRelease(r);
}

static void snapGetLoadedCb(struct raft_io_snapshot_get *req,
                            struct raft_snapshot *snapshot,
                            int status)
{
    struct snapGet *g = req->data;
    struct replica *r = g->r;
    int rv;

    g->snapshot = snapshot;
    if (status != 0 || snapshot == NULL || snapshot->n_bufs != 1 ||
        !fsmIsMarker(snapshot->bufs[0].base, snapshot->bufs[0].len)) {
        snapGetFinish(g, status);
        return;
    }
    if (r->closing) {
        snapGetFinish(g, RAFT_CANCELED);
        return;
    }
    g->started_ms = replicaMonotonicMs();
    rv = fsmAdapterSettle(&r->adapter) == 0 ? fsmSnapshotBegin(r->config.fsm, &g->pin) : RAFT_IOERR;
    if (rv != 0) {
        replicaLog(r, REPLICA_LOG_WARN, "snapshot image failed", "rv=%d error=\"%s\"", rv,
                   fsmErrmsg(r->config.fsm));
        snapGetFinish(g, RAFT_IOERR);
        return;
    }
    g->work.data = g;
    rv = uv_queue_work(r->loop, &g->work, snapGetWorkCb, snapGetBuiltCb);
    if (rv != 0) {
        fsmSnapshotEnd(g->pin);
        snapGetFinish(g, RAFT_IOERR);
        return;
    }
    r->handles_open++;
}

int replicaSnapshotGet(struct raft_io *io,
                       struct raft_io_snapshot_get *req,
                       raft_io_snapshot_get_cb cb)
{
    struct replica *r = replicaOfIo(io);
    struct snapGet *g;
    int rv;

    g = raft_malloc(sizeof *g);
    if (g == NULL) {
        return RAFT_NOMEM;
    }
    memset(g, 0, sizeof *g);
    g->inner.data = g;
    g->outer = req;
    g->r = r;
    req->cb = cb;
    rv = r->uv_methods.snapshot_get(io, &g->inner, snapGetLoadedCb);
    if (rv != 0) {
        raft_free(g);
    }
    return rv;
}
