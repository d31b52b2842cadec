/* One client connection: a read buffer cut into frames, replies written in
 * one uv_write per connection per loop iteration, flow control, and a
 * close that waits for requests in flight.
 *
 * The happy path of a reply is:
 * - connWrite appends the frame to the connection's output (out[]) and,
 *   unless a write of it is in flight, puts the connection on the server's
 *   flush list (once) and asks for a non-blocking poll (serverFlushSoon);
 * - after the poll phase of the loop iteration, server.c's check handle
 *   calls connFlushAll: each listed connection hands all of its output to
 *   ONE uv_write (one writev of every frame), and the list is emptied. So
 *   the replies that the reads and raft callbacks of one iteration produce
 *   go out together, and a reply produced before the poll (a timer) does
 *   not wait for the next I/O event;
 * - writeCb frees the frames. Only one write per connection is in flight:
 *   replies produced meanwhile stay in out[], and writeCb lists the
 *   connection again, so they go at the next flush.
 *
 * Why an array of frames and not a copy buffer: the frames are already
 * malloc'd by the encoder, so keeping their pointers costs no byte copy (a
 * receive reply can be MiBs) and no allocation per reply; the two arrays
 * (out[] and sent[], the frames of the write in flight) trade places at
 * each write and are reused, so the steady state allocates nothing of
 * ours. libuv copies the uv_buf_t array into its request (a malloc above 4
 * frames): one per write, not per reply. A growable byte buffer would copy
 * every byte once more and keep the largest burst allocated. The write
 * request lives in the connection, since at most one is in flight.
 *
 * Flow control: a connection stops reading while it has more than
 * CONN_IN_FLIGHT_MAX requests waiting for the log or more than
 * CONN_WRITE_QUEUED_MAX reply bytes queued (in out[] or handed to libuv),
 * and resumes below half of each.
 * A frame above the configured maximum, or a stream that cannot be cut into
 * frames, gets one error reply and the connection is closed; nothing else is
 * affected. The limit is checked from the 4-byte header, before allocating.
 *
 * Failure modes: a write that fails, or out of memory for the output
 * array, closes the connection; connClose drops the output not yet handed
 * to libuv at once, and libuv cancels the write in flight (writeCb frees
 * its frames). A close after writes (connCloseAfterWrites) hands the
 * output over first, waiting for the write in flight if there is one, and
 * shuts the stream down after it. Lifetime: refs counts the open handle,
 * each request in flight and the write in flight.
 */
#include "node/internal.h"

#include <stdlib.h>
#include <string.h>

#define CONN_IN_FLIGHT_MAX 4096
#define CONN_WRITE_QUEUED_MAX ((size_t)64 << 20)

/* First size of an output array, in frames. */
#define CONN_OUT_FIRST 8

/* An output array larger than this (frames) is freed once emptied, so
 * that an idle connection does not keep a burst's worth. */
#define CONN_OUT_KEEP 1024

/* Free the @n frames of @bufs (not the array). */
static void connFreeFrames(uv_buf_t *bufs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(bufs[i].base);
    }
}

static void connFree(struct conn *c)
{
    connFreeFrames(c->out, c->n_out);
    free(c->out);
    connFreeFrames(c->sent, c->n_sent);
    free(c->sent);
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

/* Put @c on the server's flush list (once). */
static void connFlushListAdd(struct conn *c)
{
    struct server *s = c->server;

    if (c->flush_listed) {
        return;
    }
    c->flush_listed = true;
    c->flush_prev = NULL;
    c->flush_next = s->flush;
    if (s->flush != NULL) {
        s->flush->flush_prev = c;
    }
    s->flush = c;
    serverFlushSoon(s);
}

/* Take @c off the server's flush list, if it is on it. */
static void connFlushListRemove(struct conn *c)
{
    struct server *s = c->server;

    if (!c->flush_listed) {
        return;
    }
    c->flush_listed = false;
    if (c->flush_prev != NULL) {
        c->flush_prev->flush_next = c->flush_next;
    } else {
        s->flush = c->flush_next;
    }
    if (c->flush_next != NULL) {
        c->flush_next->flush_prev = c->flush_prev;
    }
    c->flush_prev = c->flush_next = NULL;
}

/* Free the output not yet handed to libuv. */
static void connDropOutput(struct conn *c)
{
    size_t i;

    for (i = 0; i < c->n_out; i++) {
        c->write_queued -= c->out[i].len;
        free(c->out[i].base);
    }
    c->n_out = 0;
}

/* Take @c out of the server's lists and refuse further work on it. */
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
    connFlushListRemove(c);
    longpollConnClosed(s, c);
}

/* Close the handle of an unlinked connection now: its output is dropped,
 * and libuv cancels the write in flight. */
static void connCloseNow(struct conn *c)
{
    c->shutdown_wanted = false;
    connFlushListRemove(c);
    connDropOutput(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, closedCb);
    }
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
    connCloseNow(c);
}

static void writeCb(uv_write_t *req, int status);

/* Hand the whole output of @c to one uv_write. Only when no write of @c is
 * in flight and out[] is not empty. Returns 0, or a libuv error (the
 * frames are freed; the caller closes). */
static int connSend(struct conn *c)
{
    uv_buf_t *bufs = c->sent;
    size_t cap = c->cap_sent;
    size_t i;
    int rv;

    /* out[] becomes sent[], and the empty sent[] the next out[]. */
    c->sent = c->out;
    c->cap_sent = c->cap_out;
    c->n_sent = c->n_out;
    c->out = bufs;
    c->cap_out = cap;
    c->n_out = 0;
    c->sent_bytes = 0;
    for (i = 0; i < c->n_sent; i++) {
        c->sent_bytes += c->sent[i].len;
    }
    c->write_req.data = c;
    rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, c->sent, (unsigned)c->n_sent,
                  writeCb);
    if (rv != 0) {
        connFreeFrames(c->sent, c->n_sent);
        c->write_queued -= c->sent_bytes;
        c->n_sent = 0;
        c->sent_bytes = 0;
        return rv;
    }
    c->writing = true;
    c->refs++;
    return 0;
}

static void shutdownCb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    (void)status;
    free(req);
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, closedCb);
    }
}

/* Hand what is left of the output over, then shut the stream down (libuv
 * runs the shutdown after the writes queued before it). Only when no write
 * is in flight. */
static void connShutdown(struct conn *c)
{
    uv_shutdown_t *req;

    c->shutdown_wanted = false;
    if (c->n_out > 0 && connSend(c) != 0) {
        connCloseNow(c);
        return;
    }
    req = malloc(sizeof *req);
    if (req == NULL) {
        connCloseNow(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdownCb) != 0) {
        free(req);
        connCloseNow(c);
    }
}

/* Close after the replies already queued are written (uv_close alone would
 * cancel them): used to deliver a last error before dropping a stream.
 * Replies produced after this are dropped. */
static void connCloseAfterWrites(struct conn *c)
{
    if (c->closing) {
        return;
    }
    connUnlink(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    c->shutdown_wanted = true;
    if (!c->writing) {
        connShutdown(c);
    }
    /* Else writeCb shuts it down. */
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

/* The coalesced write of @req's connection is done (or failed, or was
 * cancelled by a close): free its frames, then write what came meanwhile. */
static void writeCb(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    connFreeFrames(c->sent, c->n_sent);
    c->write_queued -= c->sent_bytes;
    c->n_sent = 0;
    c->sent_bytes = 0;
    c->writing = false;
    if (c->cap_sent > CONN_OUT_KEEP) {
        free(c->sent);
        c->sent = NULL;
        c->cap_sent = 0;
    }
    if (status != 0) {
        if (c->shutdown_wanted) {
            connCloseNow(c);
        } else {
            connClose(c);
        }
    } else if (c->shutdown_wanted) {
        connShutdown(c);
    } else if (!c->closing) {
        if (c->n_out > 0) {
            connFlushListAdd(c);
        }
        updateFlow(c);
    }
    connUnref(c);
}

void connFlushAll(struct server *s)
{
    struct conn *c;

    while ((c = s->flush) != NULL) {
        connFlushListRemove(c);
        if (!c->closing && !c->writing && c->n_out > 0 && connSend(c) != 0) {
            connClose(c);
        }
    }
}

/* Make room for one more frame in out[]. Returns 0, or -1 when out of
 * memory. */
static int connOutGrow(struct conn *c)
{
    size_t cap = c->cap_out == 0 ? CONN_OUT_FIRST : c->cap_out * 2;
    uv_buf_t *bufs;

    if (c->n_out < c->cap_out) {
        return 0;
    }
    bufs = realloc(c->out, cap * sizeof *bufs);
    if (bufs == NULL) {
        return -1;
    }
    c->out = bufs;
    c->cap_out = cap;
    return 0;
}

void connWrite(struct conn *c, void *frame, size_t len)
{
    if (c->sink != NULL) {
        if (c->closing) {
            free(frame);
        } else {
            c->sink(c, frame, len);
        }
        return;
    }
    if (c->closing) {
        free(frame);
        return;
    }
    if (connOutGrow(c) != 0) {
        free(frame);
        connClose(c);
        return;
    }
    c->out[c->n_out].base = frame;
    c->out[c->n_out].len = len;
    c->n_out++;
    c->write_queued += len;
    if (!c->writing) {
        connFlushListAdd(c);
    }
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
