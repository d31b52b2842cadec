/* The replica's raft_io: libraft's uv backend with its methods wrapped.
 *
 * Fail-stop disk I/O (canonical/raft #320, #450, #470): libraft 0.15 goes
 * on after a failed append, truncate, snapshot write, term or vote write
 * as if the data might be there. The wrappers stop the node instead
 * (replicaFatal): the happy path passes every call and its callback
 * through unchanged; a failure, returned at once or in the callback, is
 * fatal unless the node is closing (RAFT_CANCELED). The append wrapper
 * can also inject a disk error after N appends (fault_append_after, for
 * the fault tests).
 *
 * Messages to and from raft pass the append guard (appendguard.c) on the
 * way, and snapshots read for sending become images (snapget.c). */
#include "raft/internal.h"

#include <stddef.h>

/* An append in flight: libraft's request, wrapped. */
struct guardedAppend
{
    struct raft_io_append inner;
    struct raft_io_append *outer;
    struct replica *r;
    bool inject_fault; /* report a disk error whatever the outcome */
};

static void guardedAppendCb(struct raft_io_append *req, int status)
{
    struct guardedAppend *g = req->data;
    struct raft_io_append *outer = g->outer;
    struct replica *r = g->r;

    if (g->inject_fault) {
        status = RAFT_IOERR;
    }
    raft_free(g);
    if (status != 0 && status != RAFT_CANCELED && !r->closing) {
        replicaFatal(r, "log append failed", status);
    }
    outer->cb(outer, status);
}

static int guardedAppend(struct raft_io *io,
                         struct raft_io_append *req,
                         const struct raft_entry entries[],
                         unsigned n,
                         raft_io_append_cb cb)
{
    struct replica *r = replicaOfIo(io);
    struct guardedAppend *g;
    int rv;

    g = raft_malloc(sizeof *g);
    if (g == NULL) {
        return RAFT_NOMEM;
    }
    g->inner.data = g;
    g->outer = req;
    g->r = r;
    r->appends++;
    g->inject_fault = r->config.fault_append_after != 0 &&
                      r->appends == r->config.fault_append_after;
    req->cb = cb;
    rv = r->uv_methods.append(io, &g->inner, entries, n, guardedAppendCb);
    if (rv != 0) {
        raft_free(g);
        if (rv == RAFT_IOERR || rv == RAFT_NOSPACE) {
            replicaFatal(r, "log append failed", rv);
        }
    }
    return rv;
}

static int guardedTruncate(struct raft_io *io, raft_index index)
{
    struct replica *r = replicaOfIo(io);
    int rv = r->uv_methods.truncate(io, index);
    if (rv != 0) {
        replicaFatal(r, "log truncate failed", rv);
    }
    return rv;
}

struct guardedSnapshotPut
{
    struct raft_io_snapshot_put inner;
    struct raft_io_snapshot_put *outer;
    struct replica *r;
};

static void guardedSnapshotPutCb(struct raft_io_snapshot_put *req, int status)
{
    struct guardedSnapshotPut *g = req->data;
    struct raft_io_snapshot_put *outer = g->outer;
    struct replica *r = g->r;

    raft_free(g);
    if (status != 0 && status != RAFT_CANCELED && !r->closing) {
        replicaFatal(r, "snapshot write failed", status);
    }
    outer->cb(outer, status);
}

static int guardedSnapshotPut(struct raft_io *io,
                              unsigned trailing,
                              struct raft_io_snapshot_put *req,
                              const struct raft_snapshot *snapshot,
                              raft_io_snapshot_put_cb cb)
{
    struct replica *r = replicaOfIo(io);
    struct guardedSnapshotPut *g;
    int rv;

    g = raft_malloc(sizeof *g);
    if (g == NULL) {
        return RAFT_NOMEM;
    }
    g->inner.data = g;
    g->outer = req;
    g->r = r;
    req->cb = cb;
    rv = r->uv_methods.snapshot_put(io, trailing, &g->inner, snapshot,
                                    guardedSnapshotPutCb);
    if (rv != 0) {
        raft_free(g);
        if (rv == RAFT_IOERR || rv == RAFT_NOSPACE) {
            replicaFatal(r, "snapshot write failed", rv);
        }
    }
    return rv;
}

static int guardedSetTerm(struct raft_io *io, raft_term term)
{
    struct replica *r = replicaOfIo(io);
    int rv = r->uv_methods.set_term(io, term);
    if (rv != 0) {
        replicaFatal(r, "term write failed", rv);
    }
    return rv;
}

static int guardedSetVote(struct raft_io *io, raft_id server_id)
{
    struct replica *r = replicaOfIo(io);
    int rv = r->uv_methods.set_vote(io, server_id);
    if (rv != 0) {
        replicaFatal(r, "vote write failed", rv);
    }
    return rv;
}

/* Messages pass the append guard (appendguard.c) on their way to and from
 * raft. */
static void guardedRecv(struct raft_io *io, struct raft_message *m)
{
    struct replica *r = replicaOfIo(io);
    if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        /* libraft restarts its log on it, freeing the entries a deferred
         * apply points into (fsmglue.c "Deferred apply"). */
        (void)fsmAdapterSettle(&r->adapter);
    }
    appendGuardRecv(&r->append_guard, &r->raft, m);
    r->raft_recv(io, m);
}

static int guardedSend(struct raft_io *io,
                       struct raft_io_send *req,
                       const struct raft_message *m,
                       raft_io_send_cb cb)
{
    struct replica *r = replicaOfIo(io);
    struct raft_message copy;
    /* The transport encodes the message before returning: a copy on the
     * stack is enough. */
    return r->uv_methods.send(io, req, appendGuardSend(&r->append_guard, m, &copy), cb);
}

static int guardedStart(struct raft_io *io,
                        unsigned msecs,
                        raft_io_tick_cb tick,
                        raft_io_recv_cb recv)
{
    struct replica *r = replicaOfIo(io);
    r->raft_recv = recv;
    return r->uv_methods.start(io, msecs, tick, guardedRecv);
}

void replicaWrapIo(struct replica *r)
{
    r->uv_methods.append = r->io.append;
    r->uv_methods.truncate = r->io.truncate;
    r->uv_methods.snapshot_put = r->io.snapshot_put;
    r->uv_methods.set_term = r->io.set_term;
    r->uv_methods.set_vote = r->io.set_vote;
    r->uv_methods.start = r->io.start;
    r->uv_methods.send = r->io.send;
    r->uv_methods.snapshot_get = r->io.snapshot_get;
    r->io.append = guardedAppend;
    r->io.truncate = guardedTruncate;
    r->io.snapshot_put = guardedSnapshotPut;
    r->io.set_term = guardedSetTerm;
    r->io.set_vote = guardedSetVote;
    r->io.start = guardedStart;
    r->io.send = guardedSend;
    r->io.snapshot_get = replicaSnapshotGet;
}
