/* Private to node/: the server and its connections. */
#ifndef QRAFT_NODE_INTERNAL_H
#define QRAFT_NODE_INTERNAL_H

#include <uv.h>

#include "client/qraft.h"
#include "fsm/fsm.h"
#include "node/node.h"
#include "raft/replica.h"

struct attempt;
struct conn;
struct http;
struct pending;
struct waitQueue;

/* Leader-local long polls: receives parked until a message may be
 * deliverable or their wait ends (longpoll.c). */
struct longpoll
{
    uv_timer_t timer;          /* earliest deadline or visibility time */
    struct waitQueue *queues;  /* queues that have waiters */
    unsigned n_waiters;
};

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
    /* Reply batching (conn.c): connections with output to write, and the
     * handles that write it once per loop iteration. */
    struct conn *flush;     /* the flush list, doubly linked */
    uv_check_t flush_check; /* after the poll: connFlushAll */
    uv_idle_t flush_idle;   /* active while the list may be non-empty: the
                               poll does not block */
    struct longpoll longpoll;
    /* Store capacity (dispatch.c storeHasRoom): live bytes and map size as
     * last measured, when, and the bytes of growing requests in flight. */
    uint64_t store_used;
    uint64_t store_capacity;
    uint64_t store_measured_at;
    uint64_t growth_in_flight;
    uint64_t store_logged_at; /* last "refusing sends" log line */
    struct http *http;        /* the HTTP endpoint (node/http), or NULL */
    struct attempt *attempts; /* FIFO receive replies by attempt id (attempts.c) */
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
    size_t write_queued; /* reply bytes in out[] or handed to uv_write */
    bool reading;
    bool closing;
    struct conn *prev, *next;
    /* Output (conn.c): frames not yet handed to libuv, in reply order, and
     * the frames of the one write in flight. Each frame is malloc'd. */
    uv_buf_t *out;        /* replies not yet handed to libuv */
    size_t n_out, cap_out; /* frames in out[], and its size */
    uv_buf_t *sent;       /* replies of the write in flight */
    size_t n_sent, cap_sent; /* frames in sent[], and its size */
    size_t sent_bytes;    /* bytes of sent[] */
    uv_write_t write_req; /* the write in flight, when writing */
    bool writing;
    bool shutdown_wanted; /* closing after writes: shut down once the
                             write in flight is done */
    bool flush_listed;    /* on server.flush */
    struct conn *flush_prev, *flush_next; /* neighbours on server.flush */
    /* A virtual connection (connVirtual: node/http's requests served on
     * this node) has no socket and is in no list: its reply frames go to
     * sink, which owns them. */
    void (*sink)(struct conn *c, void *frame, size_t len);
    void *sink_arg;
};

/* A request waiting for the log, a barrier or a long poll. */
struct pending
{
    struct conn *conn;
    uint64_t id;
    unsigned fsm_op;
    uint64_t client_id, seq, ack;
    void *args; /* owned copy of the args (reads and receives), or NULL */
    size_t args_len;
    char queue[FSM_QUEUE_NAME_MAX + 1]; /* the queue addressed, or "" */
    char attempt[FSM_QUEUE_NAME_MAX + 1 + 128 + 1]; /* FIFO receive: queue NUL
                                                       ReceiveRequestAttemptId */
    size_t attempt_len; /* 0: none */
    size_t growth; /* bytes counted in server.growth_in_flight */
    /* While parked in a long poll: */
    struct waitQueue *wq;
    struct pending *wprev, *wnext;
    uint64_t deadline; /* loop time (ms) at which the wait ends */
};

/* Propose @p (again): a receive with @wait true may come back WouldWait
 * and be parked. On a refusal, replies and frees @p. */
void dispatchPropose(struct pending *p, bool wait);

/* Reply to @p with an error and free it. */
void dispatchFail(struct pending *p, int code, const char *message);

void longpollInit(struct server *s);
/* Fail every waiter with @code and close the timer (shutdown). */
void longpollClose(struct server *s, int code, const char *message);
/* Park @p, which came back WouldWait, for up to @wait_s seconds; the fsm
 * says a message may become deliverable at @next_visible_ms (0: unknown). */
void longpollPark(struct server *s, struct pending *p, uint32_t wait_s,
                  uint64_t next_visible_ms);
/* A command on @queue was applied: wake up to @wake waiters of it (all of
 * every queue if @wake_all), and remember @next_visible_ms. */
void longpollNotify(struct server *s, const char *queue, uint32_t wake, bool wake_all,
                    uint64_t next_visible_ms);
/* Drop the waiters of a closing connection. */
void longpollConnClosed(struct server *s, struct conn *c);
/* Drop the waiter of connection @c whose request id is @id, if parked
 * (the "cancel" op); true if one was. */
bool longpollCancel(struct server *s, struct conn *c, uint64_t id);
/* This node no longer leads: every waiter gets NotLeader. */
void longpollLeadershipLost(struct server *s);

/* ReceiveRequestAttemptId (attempts.c): the key of a FIFO receive's args
 * that carry one (into @key, FSM_QUEUE_NAME_MAX + 130 bytes), or false. */
bool attemptKeyOf(const void *args, size_t args_len, char *key, size_t *key_len);
/* The reply kept for @key, valid until the next call, or false. */
bool attemptsGet(struct server *s, const char *key, size_t key_len, const void **reply,
                 size_t *len);
/* Keep @reply for @key if it delivered messages. */
void attemptsPut(struct server *s, const char *key, size_t key_len, const void *reply,
                 size_t len);
/* Drop every kept reply. */
void attemptsClose(struct server *s);

/* Accept a connection on the listener. */
void connAccept(struct server *s);

/* Queue a reply frame (malloc'd; ownership passes to the connection). It
 * goes out with the connection's other replies at the end of this loop
 * iteration (connFlushAll). */
void connWrite(struct conn *c, void *frame, size_t len);

/* Hand the output of every connection on the flush list to one uv_write
 * each, and empty the list (server.c's check handle, once per loop
 * iteration). */
void connFlushAll(struct server *s);

/* A connection joined the flush list: the loop's next poll must not block,
 * so that the flush runs without waiting for I/O (server.c). */
void serverFlushSoon(struct server *s);

/* Queue an error reply. */
void connWriteError(struct conn *c, uint64_t id, int code, const char *message,
                    const char *leader);

/* A virtual connection whose replies go to @sink (which owns each frame).
 * Feed it requests with dispatchFrame; connClose drops its long-poll
 * waiters; it is freed once closed and its last request has ended. NULL
 * when out of memory. */
struct conn *connVirtual(struct server *s,
                         void (*sink)(struct conn *c, void *frame, size_t len),
                         void *arg);

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
