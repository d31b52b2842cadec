/* Private to node/: the server and its connections. */
#ifndef QRAFT_NODE_INTERNAL_H
#define QRAFT_NODE_INTERNAL_H

#include <uv.h>

#include "client/qraft.h"
#include "fsm/fsm.h"
#include "node/node.h"
#include "raft/replica.h"

struct conn;

struct server
{
    uv_loop_t loop;
    const struct nodeConfig *config;
    struct fsm *fsm;
    struct replica *replica;
    uv_tcp_t listener;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    struct conn *conns; /* open connections, a doubly linked list */
    bool stopping;
    int exit_code;
};

/* One client connection. Freed only when its handle is closed and no
 * request of it is still in flight (refs). */
struct conn
{
    uv_tcp_t tcp;
    struct server *server;
    struct qraft_wire_reader reader;
    unsigned refs;       /* 1 for the open handle, 1 per request in flight */
    unsigned in_flight;  /* requests waiting for a reply */
    size_t write_queued; /* reply bytes handed to uv_write, not yet written */
    bool reading;
    bool closing;
    struct conn *prev, *next;
};

/* Accept a connection on the listener. */
void connAccept(struct server *s);

/* Queue a reply frame (malloc'd; ownership passes to the connection). */
void connWrite(struct conn *c, void *frame, size_t len);

/* Queue an error reply. */
void connWriteError(struct conn *c, uint64_t id, int code, const char *message,
                    const char *leader);

/* Close the connection (idempotent). */
void connClose(struct conn *c);

/* A request of @c starts or ends (flow control and lifetime). */
void connRequestBegin(struct conn *c);
void connRequestEnd(struct conn *c);

/* Decode and serve one frame payload. */
void dispatchFrame(struct conn *c, const void *payload, size_t len);

/* The client address of node @id, or NULL if unknown. */
const char *serverClientAddr(struct server *s, uint64_t id);

#endif /* QRAFT_NODE_INTERNAL_H */
