/* One connection of the client: dial and hello, the output buffer, writes,
 * and dropping the connection with the backoff before the next one.
 *
 * Which server comes next: the leader named by the last NotLeader reply if
 * any, else the next of the list (round robin). When: at once after a
 * NotLeader with a leader (unless more hops than servers went by without a
 * completed request), else after the backoff, 50 ms, then 100 ms,
 * reset when a request completes. A connect plus hello gets at most
 * CLIENT_CONNECT_MS before the next server is tried.
 */
#include "client/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Drop the connection; every pending request will be resent, in order,
 * on the next one. @why goes into lastErr. */
void clientDisconnect(qraft_client *c, const char *why)
{
    struct clientReq *r;
    int64_t now = netNow();
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    qraft_wire_reader_close(&c->rd);
    qraft_wire_reader_init(&c->rd, NET_REPLY_FRAME_MAX);
    c->outLen = c->outOff = 0;
    for (r = c->head; r != NULL; r = r->next) {
        r->inFlight = false;
    }
    c->inFlight = 0;
    if (why != NULL && why != c->lastErr) {
        snprintf(c->lastErr, sizeof c->lastErr, "%s", why);
    }
    c->hops++;
    if (c->hasHint && c->hops <= c->nServers + 1) {
        c->connectAt = now;
        return;
    }
    c->backoffMs = c->backoffMs == 0 ? CLIENT_BACKOFF_MIN : c->backoffMs * 2;
    if (c->backoffMs > CLIENT_BACKOFF_MAX) {
        c->backoffMs = CLIENT_BACKOFF_MAX;
    }
    c->connectAt = now + c->backoffMs;
}

/* Check a hello reply. Returns 0 or an error with lastErr set. */
static int clientCheckHello(qraft_client *c,
                            const struct netAddr *a,
                            uint64_t id,
                            const void *payload,
                            size_t len)
{
    struct opsReplyHead h;
    struct wireCursor cur;
    struct wireValue m;
    struct wireValue k;
    struct wireValue v;
    size_t i;
    if (opsReplyHead(payload, len, &h) != 0 || !h.hasId || h.id != id) {
        snprintf(c->lastErr, sizeof c->lastErr, "%s: bad hello reply",
                 a->text);
        return QRAFT_EPROTO;
    }
    if (!h.ok) {
        snprintf(c->lastErr, sizeof c->lastErr, "%s: hello: %.*s: %.*s",
                 a->text, (int)(h.codeName.len > 40 ? 40 : h.codeName.len),
                 h.codeName.ptr != NULL ? h.codeName.ptr : "",
                 (int)(h.message.len > 120 ? 120 : h.message.len),
                 h.message.ptr != NULL ? h.message.ptr : "");
        return h.code;
    }
    wireCursorInit(&cur, payload, len);
    if (wireNext(&cur, &m) != 0) {
        return QRAFT_EPROTO;
    }
    for (i = 0; i < m.len; i++) {
        if (wireNext(&cur, &k) != 0 || wireNext(&cur, &v) != 0 ||
            wireSkipElements(&cur, &v) != 0) {
            return QRAFT_EPROTO;
        }
        if (wireStrEq(&k, "version") &&
            (v.type != WIRE_UINT || v.u != QRAFT_PROTOCOL_VERSION)) {
            snprintf(c->lastErr, sizeof c->lastErr,
                     "%s: server speaks another protocol version", a->text);
            return QRAFT_EPROTO;
        }
    }
    return 0;
}

/* Connect to the next server (the leader hint first) and say hello, by
 * @deadline at the latest. Returns 0, or an error after scheduling the
 * next attempt. */
int clientConnect(qraft_client *c, int64_t deadline)
{
    struct netAddr a;
    struct qraft_request hello;
    void *frame = NULL;
    size_t flen;
    const void *payload;
    size_t plen;
    int64_t until = netNow() + CLIENT_CONNECT_MS;
    int fd = -1;
    int rv;

    if (until > deadline) {
        until = deadline;
    }
    if (c->hasHint) {
        a = c->hint;
        c->hasHint = false;
    } else {
        a = c->servers[c->nextServer];
        c->nextServer = (c->nextServer + 1) % c->nServers;
    }
    rv = netDial(&a, until, &fd, c->lastErr, sizeof c->lastErr);
    if (rv != 0) {
        goto err;
    }
    memset(&hello, 0, sizeof hello);
    hello.op = clientOpName(CLIENT_OP_HELLO);
    hello.op_len = strlen(hello.op);
    hello.id = ++c->helloCount & CLIENT_ATTEMPT_MAX;
    hello.version = QRAFT_PROTOCOL_VERSION;
    rv = qraft_wire_encode_request(&hello, &frame, &flen);
    if (rv != 0) {
        snprintf(c->lastErr, sizeof c->lastErr, "out of memory");
        goto err;
    }
    rv = netWriteAll(fd, frame, flen, until, c->lastErr, sizeof c->lastErr);
    free(frame);
    if (rv == 0) {
        rv = netReadFrame(fd, &c->rd, until, &payload, &plen, c->lastErr,
                          sizeof c->lastErr);
    }
    if (rv == 0) {
        rv = clientCheckHello(c, &a, hello.id, payload, plen);
    }
    if (rv != 0) {
        goto err;
    }
    c->fd = fd;
    c->everConnected = true;
    snprintf(c->peer, sizeof c->peer, "%s", a.text);
    return 0;
err:
    if (fd >= 0) {
        close(fd);
    }
    if (strncmp(c->lastErr, a.text, strlen(a.text)) != 0) {
        char tmp[sizeof c->lastErr];
        snprintf(tmp, sizeof tmp, "%s: %s", a.text, c->lastErr);
        memcpy(c->lastErr, tmp, sizeof tmp);
    }
    clientDisconnect(c, c->lastErr);
    return rv;
}

/* Append @len bytes to the output buffer. */
int clientOut(qraft_client *c, const void *data, size_t len)
{
    size_t cap;
    char *p;
    if (c->outOff > 0 && c->outOff == c->outLen) {
        c->outOff = c->outLen = 0;
    }
    if (c->outLen + len > c->outCap) {
        if (c->outOff > 0) {
            memmove(c->out, c->out + c->outOff, c->outLen - c->outOff);
            c->outLen -= c->outOff;
            c->outOff = 0;
        }
        cap = c->outCap > 0 ? c->outCap : 65536;
        while (cap < c->outLen + len) {
            cap *= 2;
        }
        if (cap > c->outCap) {
            p = realloc(c->out, cap);
            if (p == NULL) {
                return QRAFT_ENOMEM;
            }
            c->out = p;
            c->outCap = cap;
        }
    }
    memcpy(c->out + c->outLen, data, len);
    c->outLen += len;
    return 0;
}

/* Write what the socket takes now. */
void clientFlush(qraft_client *c)
{
    ssize_t n;
    char why[300];
    while (c->fd >= 0 && c->outOff < c->outLen) {
        n = send(c->fd, c->out + c->outOff, c->outLen - c->outOff,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->outOff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        snprintf(why, sizeof why, "%s: write: %s", c->peer, strerror(errno));
        clientDisconnect(c, why);
        return;
    }
    if (c->outOff == c->outLen) {
        c->outOff = c->outLen = 0;
    }
}

/* A random non-zero 64-bit client id. */
uint64_t clientRandomId(void)
{
    uint64_t x = 0;
    struct timespec ts;
    while (x == 0) {
        if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) {
            clock_gettime(CLOCK_REALTIME, &ts);
            x = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
                ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&x;
        }
    }
    return x;
}

