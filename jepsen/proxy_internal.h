/* The fault proxy's private types, shared by proxy.c (lifecycle, control,
 * links, listeners) and proxy_conn.c (one proxied connection). Everything
 * here lives on the proxy's loop thread, except the command slot, which is
 * guarded by struct proxy's mutex.
 */
#ifndef QRAFT_JEPSEN_PROXY_INTERNAL_H
#define QRAFT_JEPSEN_PROXY_INTERNAL_H

#include "jepsen/jepsen.h"

#include <pthread.h>
#include <uv.h>

/* libraft 0.15.0's uv TCP handshake (src/uv_tcp_connect.c
 * uvTcpEncodeHandshake, src/uv_tcp_listen.c uvTcpDecodePreamble): three
 * little-endian uint64 (protocol, server id, address length), then the
 * address, NUL-terminated and padded to a multiple of 8. */
#define PROXY_HANDSHAKE_PROTOCOL 1
#define PROXY_PREAMBLE_LEN 24
#define PROXY_ADDRESS_MAX 1024 /* a longer address is absurd: close */

/* Backpressure: a direction with more than PROXY_QUEUE_HIGH bytes queued or
 * in uv_write stops reading its source until it is below PROXY_QUEUE_LOW. */
#define PROXY_QUEUE_HIGH ((size_t)4 << 20)
#define PROXY_QUEUE_LOW ((size_t)1 << 20)

#define PROXY_READ_BUF 65536 /* one read's buffer, shared by the loop */

/* A link's end index in the tables: node i is i + 1, PROXY_CLIENT is 0. */
#define PROXY_ENDS (JEPSEN_NODES_MAX + 1)

/* The fault state of one directed link. */
struct proxyLink
{
    int cut;           /* 0, PROXY_CUT_STALL or PROXY_CUT_RESET */
    unsigned delay_us; /* one way */
    unsigned jitter_us; /* +- around it */
};

/* A piece of bytes on its way in one direction: queued until its release
 * time, then written with its own uv_write request. */
struct proxyChunk
{
    struct proxyChunk *next; /* in the direction's queue */
    struct proxyPipe *pipe;  /* the direction it belongs to */
    uint64_t release_us;     /* not written before (uv_hrtime, in us) */
    uv_write_t req;          /* while written */
    size_t len;
    char data[];
};

/* One direction of a connection: bytes read from @src, written to @dst,
 * under the delay and the stall of link (from, to). */
struct proxyPipe
{
    struct proxyConn *conn;
    int from, to;             /* the link the bytes travel */
    uv_stream_t *src, *dst;
    uv_timer_t timer;         /* fires at the head chunk's release */
    struct proxyChunk *head, *tail; /* waiting for release */
    size_t queued;            /* bytes waiting or in uv_write */
    size_t writing;           /* bytes in uv_write */
    uint64_t last_release_us; /* release times never go backwards */
    bool reading;             /* uv_read_start is in effect on @src */
    bool paused;              /* backpressure holds the reading */
    bool eof;                 /* @src ended: close once drained */
};

/* Where a connection is in its life. */
enum proxyConnState {
    PROXY_CONN_HANDSHAKE,  /* raft: reading the dialler's handshake */
    PROXY_CONN_HELD,       /* its link is stalled: no upstream yet */
    PROXY_CONN_CONNECTING, /* connecting to the back port */
    PROXY_CONN_OPEN,       /* forwarding both ways */
    PROXY_CONN_CLOSING,    /* handles closing; freed by the last one */
};

/* One proxied connection: the accepted front socket and the back socket
 * to the node's real port. */
struct proxyConn
{
    struct proxy *p;
    struct proxyConn *prev, *next; /* the proxy's live connections */
    enum proxyConnState state;
    bool raft;       /* came in on a raft front port */
    int from, to;    /* its link: dialler (or PROXY_CLIENT) -> node */
    uv_tcp_t front;  /* accepted */
    uv_tcp_t back;   /* to the node's real port, once back_init */
    bool back_init;
    uv_connect_t connect;
    unsigned handles; /* open handles; the last close frees */
    struct proxyPipe up;   /* front -> back, link (from, to) */
    struct proxyPipe down; /* back -> front, link (to, from) */
    size_t hs_len;         /* handshake bytes read so far */
    size_t hs_need;        /* ... and needed in all */
    unsigned char hs[PROXY_PREAMBLE_LEN + PROXY_ADDRESS_MAX];
};

/* A front port: raft or client port of node @node. */
struct proxyListener
{
    struct proxy *p;
    uv_tcp_t tcp;
    int node;
    bool raft;
};

/* What the control calls ask of the loop. */
enum proxyCmdKind {
    PROXY_CMD_CUT,
    PROXY_CMD_UNCUT,
    PROXY_CMD_DELAY,
    PROXY_CMD_HEAL,
    PROXY_CMD_STATS,
    PROXY_CMD_STOP,
};

/* One command, posted under the mutex. */
struct proxyCmd
{
    enum proxyCmdKind kind;
    int from, to;
    int mode;
    unsigned delay_us, jitter_us;
    struct proxyStats *stats_out;
};

struct proxy
{
    struct proxyConfig config;
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    unsigned n_listeners;
    struct proxyListener listeners[2 * JEPSEN_NODES_MAX];
    struct proxyLink links[PROXY_ENDS][PROXY_ENDS]; /* [from + 1][to + 1] */
    struct proxyConn *conns; /* live ones (not closing) */
    struct proxyStats stats;
    uint64_t rng;            /* jitter's xorshift state */
    bool stopping;
    char read_buf[PROXY_READ_BUF];
    /* The command slot: callers queue on busy, wait on done_seq. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool cmd_busy;
    uint64_t cmd_seq, done_seq;
    struct proxyCmd cmd;
};

/* The link from -> to (node indices or PROXY_CLIENT). */
struct proxyLink *proxyLinkOf(struct proxy *p, int from, int to);

/* A release time for a chunk read now on link (from, to). */
uint64_t proxyReleaseTime(struct proxy *p, int from, int to);

/* Microseconds of the monotonic clock. */
uint64_t proxyNowUs(void);

/* A connection arrives on @l: accept it and start its life. */
void proxyConnAccept(struct proxyListener *l);

/* Apply the links' current state to @c: reset it if a RESET cut holds,
 * connect a held one whose stall lifted, start or stop reading, flush. */
void proxyConnRefresh(struct proxyConn *c);

/* Close @c's sockets (plainly, or with RST) and timers; it frees itself. */
void proxyConnClose(struct proxyConn *c, bool reset);

#endif /* QRAFT_JEPSEN_PROXY_INTERNAL_H */
