/* The raft transport: libraft's TCP transport, with TCP_NODELAY on every
 * raft connection.
 *
 * libraft 0.15's uv TCP transport never turns Nagle's algorithm off. A
 * node that sends a small message (an AppendEntries result, a heartbeat)
 * while an earlier one is unacknowledged then has it held back by the
 * kernel until the ACK comes: with a few concurrent clients every raft
 * round trip grows from about 1 ms to about 10 ms (measured: 16 consumers
 * doing receive + delete, 1 ms per operation alone, 10-15 ms together).
 *
 * The wrapper is a raft_uv_transport of its own in front of the real one
 * (the inner). raft_uv_init sees only the outer one and keeps its state in
 * outer->data; the inner calls back with itself (accept, close) or with
 * the request (connect), so each callback goes through a trampoline here
 * that turns Nagle off on the new stream and then calls raft's callback
 * with what raft expects. */
#include "raft/internal.h"

#include <string.h>

/* raft's connect callback. A connect request cannot name the wrapper (its
 * data field is raft's), and raft passes the same function on every call
 * (uv_send.c's uvClientConnectCb), so one pointer serves the process. */
static raft_uv_connect_cb raftConnectCb;

static void noDelay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP) {
        uv_tcp_nodelay((uv_tcp_t *)stream, 1);
    }
}

static void copyErrmsg(struct replicaTransport *w)
{
    memcpy(w->outer.errmsg, w->inner.errmsg, sizeof w->outer.errmsg);
}

static int transportInit(struct raft_uv_transport *outer, raft_id id, const char *address)
{
    struct replicaTransport *w = outer->impl;
    int rv = w->inner.init(&w->inner, id, address);
    if (rv != 0) {
        copyErrmsg(w);
    }
    return rv;
}

static void acceptTrampoline(struct raft_uv_transport *inner,
                             raft_id id,
                             const char *address,
                             struct uv_stream_s *stream)
{
    struct replicaTransport *w = inner->data;
    noDelay(stream);
    w->accept_cb(&w->outer, id, address, stream);
}

static int transportListen(struct raft_uv_transport *outer, raft_uv_accept_cb cb)
{
    struct replicaTransport *w = outer->impl;
    int rv;

    w->accept_cb = cb;
    rv = w->inner.listen(&w->inner, acceptTrampoline);
    if (rv != 0) {
        copyErrmsg(w);
    }
    return rv;
}

static void connectTrampoline(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    if (status == 0) {
        noDelay(stream);
    }
    req->cb = raftConnectCb;
    raftConnectCb(req, stream, status);
}

static int transportConnect(struct raft_uv_transport *outer,
                            struct raft_uv_connect *req,
                            raft_id id,
                            const char *address,
                            raft_uv_connect_cb cb)
{
    struct replicaTransport *w = outer->impl;
    int rv;

    if (raftConnectCb != NULL && raftConnectCb != cb) {
        /* Not the callback this wrapper knows: connect without it. */
        rv = w->inner.connect(&w->inner, req, id, address, cb);
    } else {
        raftConnectCb = cb;
        rv = w->inner.connect(&w->inner, req, id, address, connectTrampoline);
    }
    if (rv != 0) {
        copyErrmsg(w);
    }
    return rv;
}

static void closeTrampoline(struct raft_uv_transport *inner)
{
    struct replicaTransport *w = inner->data;
    if (w->close_cb != NULL) {
        w->close_cb(&w->outer);
    }
}

static void transportClose(struct raft_uv_transport *outer, raft_uv_transport_close_cb cb)
{
    struct replicaTransport *w = outer->impl;
    w->close_cb = cb;
    w->inner.close(&w->inner, closeTrampoline);
}

int replicaTransportInit(struct replicaTransport *w, uv_loop_t *loop)
{
    int rv;

    memset(w, 0, sizeof *w);
    rv = raft_uv_tcp_init(&w->inner, loop);
    if (rv != 0) {
        return rv;
    }
    w->inner.data = w;
    w->outer.impl = w;
    w->outer.init = transportInit;
    w->outer.listen = transportListen;
    w->outer.connect = transportConnect;
    w->outer.close = transportClose;
    return 0;
}

void replicaTransportClose(struct replicaTransport *w)
{
    raft_uv_tcp_close(&w->inner);
}
