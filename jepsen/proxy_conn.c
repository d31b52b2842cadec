/* One proxied connection: the front socket a dialler opened on a front
 * port, the back socket to the node's real port, and the two directions
 * between them, each a queue of chunks released on time.
 *
 * The happy path of a raft connection is: accept; read the handshake
 * exactly (the alloc callback offers only the bytes still missing, so it
 * may arrive in any number of pieces); map its server id to the dialler's
 * node index, which gives the directed link (dialler, node of this front
 * port); queue the handshake bytes unchanged as the first chunk; connect
 * to the node's back port; forward both ways. A client connection skips
 * the handshake: its link is (PROXY_CLIENT, node) from the accept on.
 * Each chunk read is queued with its release time (now + the link's delay
 * +- jitter, never before the previous chunk's), and the direction's timer
 * writes the chunks that are due, in order.
 *
 * Faults, applied by proxyConnRefresh whenever the link table changes:
 * - a STALL of the link a direction travels stops reading its source and
 *   writes nothing; a connection whose own link is stalled when it becomes
 *   known is held: no upstream until the stall lifts;
 * - a RESET of the connection's link (or, for a client connection, of the
 *   reply link (node, PROXY_CLIENT)) closes both sockets with RST, at once
 *   for live connections, as soon as the link is known for new ones.
 *
 * Failure modes are:
 * - a bad handshake (protocol not 1, unknown server id, address length 0
 *   or above PROXY_ADDRESS_MAX): the front is closed, nothing is dialled;
 * - the back port refuses (the node is down) or the connect fails: the
 *   front is reset;
 * - one side ends (EOF): what is queued towards the other side is flushed,
 *   then both are closed; one side resets: the other is reset; any other
 *   read or write error: both are closed;
 * - more than PROXY_QUEUE_HIGH bytes queued in one direction: its source
 *   is not read until the queue is below PROXY_QUEUE_LOW.
 * Closing frees the queued chunks at once; chunks in uv_write are freed by
 * their callbacks (ECANCELED), and the connection by the last close.
 */
#include "jepsen/proxy_internal.h"

#include <stdlib.h>
#include <string.h>

static void pipeFlush(struct proxyPipe *pp);
static void pipeUpdateReading(struct proxyPipe *pp);

/* A little-endian uint64 at @b. */
static uint64_t connGet64(const unsigned char *b)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | b[i];
    }
    return v;
}

static bool linkStalled(struct proxy *p, int from, int to)
{
    return proxyLinkOf(p, from, to)->cut == PROXY_CUT_STALL;
}

/* Whether a RESET cut applies to @c (its link must be known). */
static bool connResetCut(const struct proxyConn *c)
{
    if (proxyLinkOf(c->p, c->from, c->to)->cut == PROXY_CUT_RESET) {
        return true;
    }
    return c->from == PROXY_CLIENT && proxyLinkOf(c->p, c->to, PROXY_CLIENT)->cut == PROXY_CUT_RESET;
}

static void connHandleClosedCb(uv_handle_t *handle)
{
    struct proxyConn *c = handle->data;

    if (--c->handles == 0) {
        free(c);
    }
}

static void pipeTimerClosedCb(uv_handle_t *handle)
{
    struct proxyPipe *pp = handle->data;
    struct proxyConn *c = pp->conn;

    if (--c->handles == 0) {
        free(c);
    }
}

/* Close a socket, with RST if @reset (a socket that cannot take SO_LINGER,
 * such as one still connecting, is closed plainly). */
static void connCloseTcp(uv_tcp_t *tcp, bool reset)
{
    if (reset && uv_tcp_close_reset(tcp, connHandleClosedCb) == 0) {
        return;
    }
    uv_close((uv_handle_t *)tcp, connHandleClosedCb);
}

/* Drop the chunks still waiting in @pp. */
static void pipeDiscard(struct proxyPipe *pp)
{
    struct proxyChunk *ch = pp->head;

    while (ch != NULL) {
        struct proxyChunk *next = ch->next;
        pp->conn->p->stats.held_bytes -= ch->len;
        pp->queued -= ch->len;
        free(ch);
        ch = next;
    }
    pp->head = pp->tail = NULL;
}

void proxyConnClose(struct proxyConn *c, bool reset)
{
    struct proxy *p = c->p;

    if (c->state == PROXY_CONN_CLOSING) {
        return;
    }
    c->state = PROXY_CONN_CLOSING;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        p->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    pipeDiscard(&c->up);
    pipeDiscard(&c->down);
    uv_close((uv_handle_t *)&c->up.timer, pipeTimerClosedCb);
    uv_close((uv_handle_t *)&c->down.timer, pipeTimerClosedCb);
    connCloseTcp(&c->front, reset);
    if (c->back_init) {
        connCloseTcp(&c->back, reset);
    }
}

/* The cut RESET @c: count it and close with RST. */
static void connReset(struct proxyConn *c)
{
    c->p->stats.resets++;
    proxyConnClose(c, true);
}

/* Close @c if @pp's source has ended and everything it read is written. */
static void pipeMaybeFinish(struct proxyPipe *pp)
{
    if (pp->eof && pp->queued == 0) {
        proxyConnClose(pp->conn, false);
    }
}

static void pipeWriteCb(uv_write_t *req, int status)
{
    struct proxyChunk *ch = req->data;
    struct proxyPipe *pp = ch->pipe;
    struct proxyConn *c = pp->conn;

    pp->writing -= ch->len;
    pp->queued -= ch->len;
    if (status == 0) {
        c->p->stats.bytes += ch->len;
    }
    free(ch);
    if (c->state == PROXY_CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        proxyConnClose(c, status == UV_ECONNRESET);
        return;
    }
    pipeMaybeFinish(pp);
    if (c->state != PROXY_CONN_CLOSING) {
        pipeUpdateReading(pp);
    }
}

static void pipeTimerCb(uv_timer_t *timer)
{
    pipeFlush(timer->data);
}

/* Whether @pp may write now: the back socket is connected and the link
 * its bytes travel is not stalled. */
static bool pipeFlows(const struct proxyPipe *pp)
{
    const struct proxyConn *c = pp->conn;

    return c->state == PROXY_CONN_OPEN && !linkStalled(c->p, pp->from, pp->to);
}

/* Write the chunks that are due, arm the timer for the next one. May close
 * the connection. */
static void pipeFlush(struct proxyPipe *pp)
{
    struct proxyConn *c = pp->conn;
    uint64_t now;

    if (!pipeFlows(pp)) {
        uv_timer_stop(&pp->timer);
        return;
    }
    now = proxyNowUs();
    while (pp->head != NULL && pp->head->release_us <= now) {
        struct proxyChunk *ch = pp->head;
        uv_buf_t buf = uv_buf_init(ch->data, (unsigned)ch->len);
        int rv;

        pp->head = ch->next;
        if (pp->head == NULL) {
            pp->tail = NULL;
        }
        c->p->stats.held_bytes -= ch->len;
        ch->req.data = ch;
        rv = uv_write(&ch->req, pp->dst, &buf, 1, pipeWriteCb);
        if (rv != 0) {
            pp->queued -= ch->len;
            free(ch);
            proxyConnClose(c, false);
            return;
        }
        pp->writing += ch->len;
    }
    if (pp->head != NULL) {
        uint64_t wait_us = pp->head->release_us - now;
        uv_timer_start(&pp->timer, pipeTimerCb, (wait_us + 999) / 1000, 0);
    } else {
        uv_timer_stop(&pp->timer);
    }
}

/* Queue @len bytes read from @pp's source, with their release time. */
static int pipeQueue(struct proxyPipe *pp, const void *data, size_t len)
{
    struct proxyConn *c = pp->conn;
    struct proxyChunk *ch = malloc(sizeof *ch + len);
    uint64_t release;

    if (ch == NULL) {
        return -1;
    }
    release = proxyReleaseTime(c->p, pp->from, pp->to);
    if (release < pp->last_release_us) {
        release = pp->last_release_us;
    }
    pp->last_release_us = release;
    ch->next = NULL;
    ch->pipe = pp;
    ch->release_us = release;
    ch->len = len;
    memcpy(ch->data, data, len);
    if (pp->tail != NULL) {
        pp->tail->next = ch;
    } else {
        pp->head = ch;
    }
    pp->tail = ch;
    pp->queued += len;
    c->p->stats.held_bytes += len;
    return 0;
}

static void connAllocCb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct proxyConn *c = handle->data;

    (void)suggested;
    if (c->state == PROXY_CONN_HANDSHAKE) {
        /* Only what the handshake still lacks: nothing past it is read. */
        *buf = uv_buf_init((char *)c->hs + c->hs_len, (unsigned)(c->hs_need - c->hs_len));
        return;
    }
    *buf = uv_buf_init(c->p->read_buf, sizeof c->p->read_buf);
}

/* Connect @c to its node's back port. */
static void connUpstream(struct proxyConn *c);

/* @c's link is known: reset it, hold it, or connect it. */
static void connLinkKnown(struct proxyConn *c)
{
    c->up.from = c->from;
    c->up.to = c->to;
    c->down.from = c->to;
    c->down.to = c->from;
    if (connResetCut(c)) {
        connReset(c);
        return;
    }
    if (c->hs_len > 0 && pipeQueue(&c->up, c->hs, c->hs_len) != 0) {
        proxyConnClose(c, false);
        return;
    }
    if (linkStalled(c->p, c->from, c->to)) {
        c->state = PROXY_CONN_HELD;
        pipeUpdateReading(&c->up);
        return;
    }
    connUpstream(c);
}

/* @n more handshake bytes arrived: parse what is complete. */
static void connHandshake(struct proxyConn *c, size_t n)
{
    struct proxy *p = c->p;
    uint64_t protocol, id, addr_len;

    c->hs_len += n;
    if (c->hs_len < c->hs_need) {
        return;
    }
    if (c->hs_need == PROXY_PREAMBLE_LEN) {
        protocol = connGet64(c->hs);
        addr_len = connGet64(c->hs + 16);
        if (protocol != PROXY_HANDSHAKE_PROTOCOL || addr_len == 0 || addr_len > PROXY_ADDRESS_MAX) {
            goto bad;
        }
        c->hs_need = PROXY_PREAMBLE_LEN + (size_t)addr_len;
        return;
    }
    id = connGet64(c->hs + 8);
    c->from = PROXY_CLIENT;
    for (unsigned i = 0; i < p->config.n_nodes; i++) {
        if (p->config.raft_id[i] == id) {
            c->from = (int)i;
        }
    }
    if (c->from == PROXY_CLIENT) {
        goto bad;
    }
    connLinkKnown(c);
    return;

bad:
    p->stats.bad_handshakes++;
    proxyConnClose(c, false);
}

/* @pp's source sent @nread (a chunk, or an error or EOF). */
static void pipeRead(struct proxyPipe *pp, ssize_t nread, const uv_buf_t *buf)
{
    struct proxyConn *c = pp->conn;

    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            proxyConnClose(c, nread == UV_ECONNRESET);
            return;
        }
        pp->eof = true;
        pipeUpdateReading(pp);
        pipeMaybeFinish(pp);
        return;
    }
    if (pipeQueue(pp, buf->base, (size_t)nread) != 0) {
        proxyConnClose(c, false);
        return;
    }
    pipeFlush(pp);
    if (c->state != PROXY_CONN_CLOSING) {
        pipeUpdateReading(pp);
    }
}

static void connFrontReadCb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct proxyConn *c = stream->data;

    if (c->state == PROXY_CONN_CLOSING) {
        return;
    }
    if (c->state == PROXY_CONN_HANDSHAKE && nread > 0) {
        connHandshake(c, (size_t)nread);
        return;
    }
    if (c->state == PROXY_CONN_HANDSHAKE && nread < 0) {
        proxyConnClose(c, nread == UV_ECONNRESET);
        return;
    }
    pipeRead(&c->up, nread, buf);
}

static void connBackReadCb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct proxyConn *c = stream->data;

    if (c->state == PROXY_CONN_CLOSING) {
        return;
    }
    pipeRead(&c->down, nread, buf);
}

/* Start or stop reading @pp's source as its state asks: not before the
 * back socket is open (up may read while connecting), not while the link
 * is stalled, not under backpressure, not after EOF. */
static void pipeUpdateReading(struct proxyPipe *pp)
{
    struct proxyConn *c = pp->conn;
    bool want;

    if (pp->queued > PROXY_QUEUE_HIGH) {
        pp->paused = true;
    } else if (pp->queued < PROXY_QUEUE_LOW) {
        pp->paused = false;
    }
    if (pp == &c->up) {
        want = c->state == PROXY_CONN_CONNECTING || c->state == PROXY_CONN_OPEN;
    } else {
        want = c->state == PROXY_CONN_OPEN;
    }
    want = want && !pp->paused && !pp->eof && !linkStalled(c->p, pp->from, pp->to);
    if (want && !pp->reading) {
        uv_read_cb cb = pp == &c->up ? connFrontReadCb : connBackReadCb;
        if (uv_read_start(pp->src, connAllocCb, cb) != 0) {
            proxyConnClose(c, false);
            return;
        }
        pp->reading = true;
    } else if (!want && pp->reading) {
        uv_read_stop(pp->src);
        pp->reading = false;
    }
}

static void connConnectCb(uv_connect_t *req, int status)
{
    struct proxyConn *c = req->data;

    if (c->state == PROXY_CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        c->p->stats.upstream_failures++;
        proxyConnClose(c, true);
        return;
    }
    c->state = PROXY_CONN_OPEN;
    uv_tcp_nodelay(&c->back, 1);
    proxyConnRefresh(c);
}

static void connUpstream(struct proxyConn *c)
{
    struct sockaddr_in addr;
    uint16_t port = c->raft ? c->p->config.raft_back[c->to] : c->p->config.client_back[c->to];
    int rv;

    rv = uv_tcp_init(&c->p->loop, &c->back);
    if (rv != 0) {
        proxyConnClose(c, true);
        return;
    }
    c->back.data = c;
    c->back_init = true;
    c->handles++;
    c->connect.data = c;
    uv_ip4_addr("127.0.0.1", port, &addr);
    rv = uv_tcp_connect(&c->connect, &c->back, (const struct sockaddr *)&addr, connConnectCb);
    if (rv != 0) {
        c->p->stats.upstream_failures++;
        proxyConnClose(c, true);
        return;
    }
    c->state = PROXY_CONN_CONNECTING;
    pipeUpdateReading(&c->up);
}

void proxyConnRefresh(struct proxyConn *c)
{
    if (c->state == PROXY_CONN_HANDSHAKE || c->state == PROXY_CONN_CLOSING) {
        return; /* the link is not known yet, or no longer matters */
    }
    if (connResetCut(c)) {
        connReset(c);
        return;
    }
    if (c->state == PROXY_CONN_HELD) {
        if (linkStalled(c->p, c->from, c->to)) {
            return;
        }
        connUpstream(c);
        return; /* the rest follows the connect */
    }
    pipeUpdateReading(&c->up);
    if (c->state != PROXY_CONN_CLOSING) {
        pipeUpdateReading(&c->down);
    }
    if (c->state != PROXY_CONN_CLOSING) {
        pipeFlush(&c->up);
    }
    if (c->state != PROXY_CONN_CLOSING) {
        pipeFlush(&c->down);
    }
}

/* Set up one direction of @c. */
static void pipeInit(struct proxyConn *c, struct proxyPipe *pp, uv_stream_t *src, uv_stream_t *dst)
{
    pp->conn = c;
    pp->src = src;
    pp->dst = dst;
    uv_timer_init(&c->p->loop, &pp->timer); /* cannot fail on unix */
    pp->timer.data = pp;
    c->handles++;
}

void proxyConnAccept(struct proxyListener *l)
{
    struct proxy *p = l->p;
    struct proxyConn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        return; /* out of memory: libuv leaves it pending, the port stalls */
    }
    c->p = p;
    c->raft = l->raft;
    c->to = l->node;
    c->from = PROXY_CLIENT;
    if (uv_tcp_init(&p->loop, &c->front) != 0) {
        free(c);
        return;
    }
    c->front.data = c;
    c->handles = 1;
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->front) != 0) {
        uv_close((uv_handle_t *)&c->front, connHandleClosedCb);
        return;
    }
    p->stats.connections++;
    uv_tcp_nodelay(&c->front, 1);
    pipeInit(c, &c->up, (uv_stream_t *)&c->front, (uv_stream_t *)&c->back);
    pipeInit(c, &c->down, (uv_stream_t *)&c->back, (uv_stream_t *)&c->front);
    c->next = p->conns;
    if (p->conns != NULL) {
        p->conns->prev = c;
    }
    p->conns = c;
    if (!c->raft) {
        c->state = PROXY_CONN_HELD; /* until connLinkKnown says otherwise */
        connLinkKnown(c);
        return;
    }
    c->state = PROXY_CONN_HANDSHAKE;
    c->hs_need = PROXY_PREAMBLE_LEN;
    if (uv_read_start((uv_stream_t *)&c->front, connAllocCb, connFrontReadCb) != 0) {
        proxyConnClose(c, false);
        return;
    }
    c->up.reading = true;
}
