/* One client connection: a read buffer cut into frames, replies queued with
 * uv_write, flow control, and a close that waits for requests in flight.
 *
 * Flow control: a connection stops reading while it has more than
 * CONN_IN_FLIGHT_MAX requests waiting for the log or more than
 * CONN_WRITE_QUEUED_MAX reply bytes queued, and resumes below half of each.
 * A frame above the configured maximum, or a stream that cannot be cut into
 * frames, gets one error reply and the connection is closed; nothing else is
 * affected. The limit is checked from the 4-byte header, before allocating.
 */
#include "node/internal.h"

#include <stdlib.h>
#include <string.h>

#define CONN_IN_FLIGHT_MAX 4096
#define CONN_WRITE_QUEUED_MAX ((size_t)64 << 20)

struct connWrite
{
    uv_write_t req;
    struct conn *conn;
    void *frame;
    size_t len;
};

static void connFree(struct conn *c)
{
    qraft_wire_reader_close(&c->reader);
    free(c);
}

static void connUnref(struct conn *c)
{
    if (--c->refs == 0) {
        connFree(c);
    }
}

static void closedCb(uv_handle_t *handle)
{
    connUnref(handle->data);
}

/* Take @c out of the server's list and refuse further work on it. */
static void connUnlink(struct conn *c)
{
    struct server *s = c->server;

    c->closing = true;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    longpollConnClosed(s, c);
}

void connClose(struct conn *c)
{
    if (c->closing) {
        return;
    }
    if (c->sink != NULL) {
        c->closing = true;
        longpollConnClosed(c->server, c);
        connUnref(c);
        return;
    }
    connUnlink(c);
    uv_close((uv_handle_t *)&c->tcp, closedCb);
}

static void shutdownCb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    (void)status;
    free(req);
    uv_close((uv_handle_t *)&c->tcp, closedCb);
}

/* Close after the replies already queued are written (uv_close alone would
 * cancel them): used to deliver a last error before dropping a stream. */
static void connCloseAfterWrites(struct conn *c)
{
    uv_shutdown_t *req;

    if (c->closing) {
        return;
    }
    connUnlink(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    req = malloc(sizeof *req);
    if (req == NULL) {
        uv_close((uv_handle_t *)&c->tcp, closedCb);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdownCb) != 0) {
        free(req);
        uv_close((uv_handle_t *)&c->tcp, closedCb);
    }
}

static void allocCb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)handle;
    (void)suggested;
    /* Bytes are copied into the frame reader at once, so one static slab
     * serves every connection of this single-threaded loop. */
    buf->base = slab;
    buf->len = sizeof slab;
}

static void readCb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void updateFlow(struct conn *c)
{
    bool over = c->in_flight > CONN_IN_FLIGHT_MAX || c->write_queued > CONN_WRITE_QUEUED_MAX;
    bool under = c->in_flight <= CONN_IN_FLIGHT_MAX / 2 &&
                 c->write_queued <= CONN_WRITE_QUEUED_MAX / 2;

    if (c->closing || c->sink != NULL) {
        return;
    }
    if (c->reading && over) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    } else if (!c->reading && under) {
        if (uv_read_start((uv_stream_t *)&c->tcp, allocCb, readCb) == 0) {
            c->reading = true;
        }
    }
}

static void readCb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    const void *payload;
    size_t len;
    int rv = 0;

    if (nread < 0) {
        connClose(c);
        return;
    }
    if (nread == 0) {
        return;
    }
    if (qraft_wire_reader_feed(&c->reader, buf->base, (size_t)nread) != 0) {
        nodeLog(NODE_LOG_WARN, "connection read buffer: out of memory", NULL);
        connClose(c);
        return;
    }
    /* Hold a reference: a request may complete synchronously. */
    c->refs++;
    while (!c->closing && (rv = qraft_wire_reader_next(&c->reader, &payload, &len)) == 1) {
        dispatchFrame(c, payload, len);
    }
    if (!c->closing && rv != 0 && rv != 1) {
        char message[128];
        snprintf(message, sizeof message, "frame above the maximum of %zu bytes",
                 c->server->config->max_frame);
        nodeLog(NODE_LOG_WARN, "closing connection", "reason=\"%s\"", message);
        connWriteError(c, 0, QRAFT_EFRAME_TOO_LARGE, message, NULL);
        connCloseAfterWrites(c);
    }
    updateFlow(c);
    connUnref(c);
}

static void writeCb(uv_write_t *req, int status)
{
    struct connWrite *w = req->data;
    struct conn *c = w->conn;

    c->write_queued -= w->len;
    free(w->frame);
    free(w);
    if (status != 0) {
        connClose(c);
    } else {
        updateFlow(c);
    }
    connUnref(c);
}

void connWrite(struct conn *c, void *frame, size_t len)
{
    struct connWrite *w;
    uv_buf_t buf;

    if (c->sink != NULL) {
        if (c->closing) {
            free(frame);
        } else {
            c->sink(c, frame, len);
        }
        return;
    }
    if (uv_is_closing((uv_handle_t *)&c->tcp)) {
        free(frame);
        return;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(frame);
        connClose(c);
        return;
    }
    w->req.data = w;
    w->conn = c;
    w->frame = frame;
    w->len = len;
    buf = uv_buf_init(frame, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, writeCb) != 0) {
        free(frame);
        free(w);
        connClose(c);
        return;
    }
    c->refs++;
    c->write_queued += len;
}

void connWriteError(struct conn *c, uint64_t id, int code, const char *message,
                    const char *leader)
{
    void *frame;
    size_t len;

    if (qraft_wire_encode_error(id, code, message, leader, &frame, &len) != 0) {
        connClose(c);
        return;
    }
    connWrite(c, frame, len);
}

void connRequestBegin(struct conn *c)
{
    c->refs++;
    c->in_flight++;
}

void connRequestEnd(struct conn *c)
{
    c->in_flight--;
    updateFlow(c);
    connUnref(c);
}

struct conn *connVirtual(struct server *s,
                         void (*sink)(struct conn *c, void *frame, size_t len),
                         void *arg)
{
    struct conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        return NULL;
    }
    c->server = s;
    c->refs = 1;
    c->sink = sink;
    c->sink_arg = arg;
    return c;
}

void connAccept(struct server *s)
{
    struct conn *c;

    c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->server = s;
    c->refs = 1;
    qraft_wire_reader_init(&c->reader, s->config->max_frame);
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, closedCb);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, allocCb, readCb) == 0) {
        c->reading = true;
    } else {
        connClose(c);
    }
}
