/* The session engine of libqraft: one connection, a pending list, resends.
 *
 * The happy path of a request is:
 * - clientReqNew() gives it the next seq (session ops) and a uid;
 * - it joins the pending list, which is in seq order;
 * - clientFill() encodes it with a fresh frame id (uid and attempt number)
 *   and the current ack (the seq of the first pending session request);
 * - the reply, matched by frame id, completes it: the blocking caller takes
 *   its result, or its callback runs, exactly once.
 *
 * Possible failure modes, and what the engine does:
 * - connect refused, reset, EOF, a bad reply or hello: drop the connection,
 *   wait the backoff (50 ms, then 100 ms, reset by any completed
 *   request), connect to the next server of the list, resend every pending
 *   request in seq order;
 * - NotLeader: the same, but go at once to the leader named in the reply
 *   (with the backoff only after more hops than servers without progress);
 * - Unavailable, TooManyInFlight: resend that request after its own backoff
 *   (50 ms, then 100 ms); later session requests wait behind it;
 * - UnknownOutcome: resend that request (same seq) at once;
 * - OutOfOrder: resend every pending session request from the first
 *   unanswered, in seq order;
 * - SessionExpired to the first attempt under the current session: new
 *   client id, pending requests renumbered from seq 1 (those whose caller
 *   already timed out are dropped: their outcome was reported unknown), and
 *   resent; to a later attempt: the request completes with that error;
 * - deadline: the call returns QRAFT_ETIMEDOUT, but the request stays in the
 *   session (its reply will be dropped) and is resent in order by later
 *   calls, since the server applies a session's requests with no gaps. If it
 *   was in flight, the connection is dropped: a server that does not answer
 *   in time may be a partitioned leader.
 *
 * Retryable errors are acted on only for the current attempt of a request;
 * a final reply (success or business error) to any attempt of the current
 * session completes the request if it is still pending.
 */
#include "client/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void clientErrf(qraft_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Requests and the pending list                                           */

/* Wire names of the operations, by enum clientOp. */
static const char *const clientOpNames[] = {
#define CLIENT__OP_NAME(CODE, NAME, SESSION) NAME,
    CLIENT_OPS(CLIENT__OP_NAME)
#undef CLIENT__OP_NAME
};

/* Whether each operation carries the session, by enum clientOp. */
static const bool clientOpSession[] = {
#define CLIENT__OP_SESSION(CODE, NAME, SESSION) SESSION,
    CLIENT_OPS(CLIENT__OP_SESSION)
#undef CLIENT__OP_SESSION
};

const char *clientOpName(int op)
{
    return op >= 0 && op < CLIENT_OP_COUNT ? clientOpNames[op] : "unknown";
}

bool clientOpHasSession(int op)
{
    return op >= 0 && op < CLIENT_OP_COUNT && clientOpSession[op];
}

struct clientReq *clientReqNew(qraft_client *c,
                               int op,
                               void *args,
                               size_t argsLen)
{
    struct clientReq *r = calloc(1, sizeof *r);
    if (r == NULL) {
        free(args);
        return NULL;
    }
    r->op = op;
    r->sessionFirst = 1;
    r->args = args;
    r->argsLen = argsLen;
    r->uid = c->nextUid++;
    if (clientOpHasSession(op)) {
        r->seq = c->nextSeq++;
    }
    return r;
}

void clientReqFree(struct clientReq *r)
{
    if (r == NULL) {
        return;
    }
    free(r->args);
    free(r->reply);
    free(r->results);
    free(r);
}

/* Call the callback of async request @r with @status. */
static void clientNotify(struct clientReq *r, int status)
{
    if (r->complete != NULL) {
        r->complete(r, status);
    } else if (r->cb != NULL) {
        r->cb(r->arg, status, status == QRAFT_OK ? &r->sent : NULL);
    }
}

/* Append @r to the pending list. */
static void clientAppend(qraft_client *c, struct clientReq *r)
{
    r->next = NULL;
    r->prev = c->tail;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
}

/* Take @r out of the pending list. */
static void clientUnlink(qraft_client *c, struct clientReq *r)
{
    if (r->inFlight) {
        r->inFlight = false;
        c->inFlight--;
    }
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        c->tail = r->prev;
    }
    r->prev = r->next = NULL;
}

/* The request of @uid, or NULL if it completed already. Replies mostly
 * answer the head, so the search is short. */
static struct clientReq *clientFind(qraft_client *c, uint64_t uid)
{
    struct clientReq *r;
    for (r = c->head; r != NULL; r = r->next) {
        if (r->uid == uid) {
            return r;
        }
    }
    return NULL;
}

/* The ack mark: lowest seq not yet answered. */
static uint64_t clientAck(const qraft_client *c)
{
    const struct clientReq *r;
    for (r = c->head; r != NULL; r = r->next) {
        if (r->seq != 0) {
            return r->seq;
        }
    }
    return c->nextSeq;
}

/* Mark @r as needing a new attempt. */
static void clientUnsend(qraft_client *c, struct clientReq *r)
{
    if (r->inFlight) {
        r->inFlight = false;
        c->inFlight--;
    }
}

/* Complete @r with @status: result already in @r. Runs the callback of an
 * async request, frees what nobody waits for. */
static void clientFinish(qraft_client *c, struct clientReq *r, int status)
{
    clientUnlink(c, r);
    r->done = true;
    r->status = status;
    if (r->async) {
        if (!r->abandoned) {
            clientNotify(r, status);
        }
        clientReqFree(r);
    } else if (r->abandoned) {
        clientReqFree(r);
    }
}

/* Complete @r from its final reply. */
static void clientComplete(qraft_client *c,
                           struct clientReq *r,
                           const struct opsReplyHead *h,
                           const void *payload,
                           size_t len)
{
    int status = QRAFT_OK;
    c->backoffMs = 0;
    c->hops = 0;
    if (h->ok) {
        status = opsParseResult(r, payload, len);
    } else {
        status = h->code;
        snprintf(r->errmsg, sizeof r->errmsg, "%.*s: %.*s",
                 (int)(h->codeName.len > 64 ? 64 : h->codeName.len),
                 h->codeName.ptr != NULL ? h->codeName.ptr : "",
                 (int)(h->message.len > 180 ? 180 : h->message.len),
                 h->message.ptr != NULL ? h->message.ptr : "");
    }
    clientFinish(c, r, status);
}

/* Start a new session: new client id, pending requests renumbered. */
static void clientResetSession(qraft_client *c)
{
    struct clientReq *r;
    struct clientReq *next;
    uint64_t seq = 1;
    c->cid = clientRandomId();
    for (r = c->head; r != NULL; r = next) {
        next = r->next;
        if (r->seq == 0) {
            continue;
        }
        if (r->abandoned) {
            clientUnlink(c, r);
            clientReqFree(r);
            continue;
        }
        clientUnsend(c, r);
        r->seq = seq++;
        r->sessionFirst = r->attempts + 1;
        r->retryAt = 0;
        r->retries = 0;
    }
    c->nextSeq = seq;
}

/* Encode the next attempt of @r into the output buffer. */
static int clientEncode(qraft_client *c, struct clientReq *r, uint64_t ack)
{
    struct qraft_request q;
    void *frame;
    size_t flen;
    int rv;
    memset(&q, 0, sizeof q);
    q.id = r->uid << CLIENT_ATTEMPT_BITS | (r->attempts + 1);
    q.op = clientOpName(r->op);
    q.op_len = strlen(q.op);
    if (r->seq != 0) {
        q.client_id = c->cid;
        q.seq = r->seq;
        q.ack = ack;
    }
    q.args = r->args;
    q.args_len = r->argsLen;
    rv = qraft_wire_encode_request(&q, &frame, &flen);
    if (rv != 0) {
        return rv;
    }
    rv = clientOut(c, frame, flen);
    free(frame);
    if (rv != 0) {
        return rv;
    }
    r->attempts++;
    r->inFlight = true;
    c->inFlight++;
    return 0;
}

/* Encode every request that may be sent now, in list order. A session
 * request waiting for its backoff holds back the later ones. */
static void clientFill(qraft_client *c, int64_t now)
{
    struct clientReq *r;
    struct clientReq *next;
    uint64_t ack = clientAck(c);
    bool held = false;
    for (r = c->head; r != NULL; r = next) {
        next = r->next;
        if (c->inFlight >= c->window || c->outLen - c->outOff >= CLIENT_OUT_BUDGET) {
            return;
        }
        if (r->inFlight || (r->seq != 0 && held)) {
            continue;
        }
        if (r->retryAt > now) {
            held = held || r->seq != 0;
            continue;
        }
        if (r->seq != 0 && r->seq - ack >= c->window) {
            return;
        }
        if (r->attempts >= CLIENT_ATTEMPT_MAX) {
            snprintf(r->errmsg, sizeof r->errmsg,
                     "Unavailable: gave up after %u attempts", r->attempts);
            clientFinish(c, r, QRAFT_EUNAVAILABLE);
            continue;
        }
        if (clientEncode(c, r, ack) != 0) {
            return; /* out of memory: try again on the next round */
        }
    }
}

/* Act on a retryable error reply to the current attempt of @r. */
static void clientRetry(qraft_client *c,
                        struct clientReq *r,
                        const struct opsReplyHead *h,
                        uint32_t att)
{
    char why[300];
    int64_t delay;
    struct clientReq *q;
    switch (h->code) {
        case QRAFT_ENOTLEADER:
            if (h->leader.type == WIRE_STR && h->leader.len > 0 &&
                netAddrParse(h->leader.ptr, h->leader.len, &c->hint) == 0) {
                c->hasHint = true;
            }
            snprintf(why, sizeof why, "%s: not the leader", c->peer);
            clientDisconnect(c, why);
            return;
        case QRAFT_EUNAVAILABLE:
        case QRAFT_ETOO_MANY_IN_FLIGHT:
            delay = CLIENT_BACKOFF_MIN << (r->retries < 4 ? r->retries : 4);
            if (delay > CLIENT_BACKOFF_MAX) {
                delay = CLIENT_BACKOFF_MAX;
            }
            r->retries++;
            r->retryAt = netNow() + delay;
            return;
        case QRAFT_EUNKNOWN_OUTCOME:
            return; /* already unsent: resent at once, same seq */
        case QRAFT_EOUT_OF_ORDER:
            for (q = c->head; q != NULL; q = q->next) {
                if (q->seq != 0) {
                    clientUnsend(c, q);
                }
            }
            return;
        case QRAFT_ESESSION_EXPIRED:
            if (att == r->sessionFirst) {
                clientResetSession(c);
                return;
            }
            clientComplete(c, r, h, NULL, 0);
            return;
        default:
            return;
    }
}

/* True for the errors that ask for a resend. */
static bool clientRetryable(int code)
{
    switch (code) {
        case QRAFT_ENOTLEADER:
        case QRAFT_EUNAVAILABLE:
        case QRAFT_ETOO_MANY_IN_FLIGHT:
        case QRAFT_EUNKNOWN_OUTCOME:
        case QRAFT_EOUT_OF_ORDER:
        case QRAFT_ESESSION_EXPIRED:
            return true;
        default:
            return false;
    }
}

/* Handle one reply frame. */
static void clientHandleFrame(qraft_client *c, const void *payload, size_t len)
{
    struct opsReplyHead h;
    struct clientReq *r;
    uint64_t uid;
    uint32_t att;
    bool current;
    char why[300];

    if (opsReplyHead(payload, len, &h) != 0 || !h.hasId) {
        snprintf(why, sizeof why, "%s: malformed reply", c->peer);
        clientDisconnect(c, why);
        return;
    }
    uid = h.id >> CLIENT_ATTEMPT_BITS;
    att = (uint32_t)(h.id & CLIENT_ATTEMPT_MAX);
    r = uid == 0 ? NULL : clientFind(c, uid);
    if (r == NULL || att < r->sessionFirst || att > r->attempts) {
        return; /* completed already, or an attempt of an older session */
    }
    current = att == r->attempts;
    if (current) {
        clientUnsend(c, r);
    }
    if (h.ok || !clientRetryable(h.code)) {
        clientComplete(c, r, &h, payload, len);
        return;
    }
    if (!current) {
        return; /* a newer attempt is on its way */
    }
    if (r->seq == 0 && h.code != QRAFT_ENOTLEADER) {
        /* No session (ListQueues, ...): just try it again shortly. */
        r->retryAt = netNow() + CLIENT_BACKOFF_MIN;
        return;
    }
    clientRetry(c, r, &h, att);
}

/* Read what the socket has and handle every complete frame. */
static void clientReadAvail(qraft_client *c)
{
    char buf[65536];
    const void *payload;
    size_t len;
    ssize_t n;
    int rv;
    char why[300];
    while (c->fd >= 0) {
        n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            snprintf(why, sizeof why, "%s: connection closed by the server",
                     c->peer);
            clientDisconnect(c, why);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            snprintf(why, sizeof why, "%s: read: %s", c->peer,
                     strerror(errno));
            clientDisconnect(c, why);
            return;
        }
        if (qraft_wire_reader_feed(&c->rd, buf, (size_t)n) != 0) {
            clientDisconnect(c, "out of memory");
            return;
        }
        while (c->fd >= 0) {
            rv = qraft_wire_reader_next(&c->rd, &payload, &len);
            if (rv == 0) {
                break;
            }
            if (rv != 1) {
                snprintf(why, sizeof why, "%s: reply frame too large",
                         c->peer);
                clientDisconnect(c, why);
                return;
            }
            clientHandleFrame(c, payload, len);
        }
    }
}

/* Time out async requests past their deadline (callback once with
 * QRAFT_ETIMEDOUT). They stay in the session. */
static void clientExpire(qraft_client *c, int64_t now)
{
    struct clientReq *r;
    bool stuck = false;
    for (r = c->head; r != NULL; r = r->next) {
        if (!r->async || r->abandoned || r->deadline > now) {
            continue;
        }
        r->abandoned = true;
        c->asyncTimedOut = true;
        stuck = stuck || r->inFlight;
        clientNotify(r, QRAFT_ETIMEDOUT);
    }
    if (stuck && c->fd >= 0) {
        clientDisconnect(c, "no reply before the deadline");
    }
}

/* Earliest time something must happen: an async deadline, or (with
 * @backoffs) the end of a request's backoff. */
static int64_t clientNextWake(const qraft_client *c,
                              int64_t deadline,
                              bool backoffs)
{
    const struct clientReq *r;
    int64_t wake = deadline;
    for (r = c->head; r != NULL; r = r->next) {
        if (r->async && !r->abandoned && r->deadline < wake) {
            wake = r->deadline;
        }
        if (backoffs && !r->inFlight && r->retryAt > 0 &&
            r->retryAt < wake) {
            wake = r->retryAt;
        }
    }
    return wake;
}

/* One round of I/O: encode, wait until @wake for the socket, write, read. */
static void clientStep(qraft_client *c, int64_t wake)
{
    short events = POLLIN;
    int rv;
    clientFill(c, netNow());
    if (c->outOff < c->outLen) {
        events |= POLLOUT;
    }
    rv = netWait(c->fd, events, wake);
    if (rv < 0) {
        clientDisconnect(c, "poll failed");
        return;
    }
    if (rv & POLLOUT) {
        clientFlush(c);
    }
    if (c->fd >= 0 && (rv & (POLLIN | POLLHUP | POLLERR))) {
        clientReadAvail(c);
    }
}

/* What clientRun waits for. */
typedef bool (*clientDoneFn)(const qraft_client *c, const void *arg);

/* Drive the connection until @done or @deadline. Returns 0 or
 * QRAFT_ETIMEDOUT. */
static int clientRun(qraft_client *c,
                     clientDoneFn done,
                     const void *arg,
                     int64_t deadline)
{
    int64_t now;
    int64_t wake;
    int rv;
    c->running = true;
    for (;;) {
        now = netNow();
        clientExpire(c, now);
        if (done(c, arg)) {
            rv = 0;
            break;
        }
        if (now >= deadline) {
            rv = QRAFT_ETIMEDOUT;
            break;
        }
        wake = clientNextWake(c, deadline, c->fd >= 0);
        if (c->fd < 0) {
            if (now < c->connectAt) {
                netSleepUntil(c->connectAt < wake ? c->connectAt : wake);
            } else {
                clientConnect(c, wake);
            }
            continue;
        }
        clientStep(c, wake);
    }
    c->running = false;
    return rv;
}

/* Done when @arg (a request) has completed. */
static bool clientReqDone(const qraft_client *c, const void *arg)
{
    (void)c;
    return ((const struct clientReq *)arg)->done;
}

/* Done when no async request waits for its callback. */
static bool clientAsyncDone(const qraft_client *c, const void *arg)
{
    const struct clientReq *r;
    (void)arg;
    for (r = c->head; r != NULL; r = r->next) {
        if (r->async && !r->abandoned) {
            return false;
        }
    }
    return true;
}

int clientCall(qraft_client *c, struct clientReq *r, struct clientReq **done)
{
    int rv;
    int ms = r->timeoutMs > 0 ? r->timeoutMs : c->timeoutMs;
    *done = NULL;
    r->deadline = netNow() + ms;
    clientAppend(c, r);
    rv = clientRun(c, clientReqDone, r, r->deadline);
    if (rv == 0) {
        if (r->status != QRAFT_OK) {
            snprintf(c->errmsg, sizeof c->errmsg, "%s", r->errmsg);
        }
        *done = r;
        return r->status;
    }
    if (r->attempts == 0 && (r->seq == 0 || r == c->tail)) {
        /* Never sent: it can be forgotten, its seq given back. */
        clientUnlink(c, r);
        if (r->seq != 0) {
            c->nextSeq--;
        }
        clientReqFree(r);
        if (!c->everConnected) {
            clientErrf(c, "Unavailable: no server reachable (%s)",
                       c->lastErr);
        } else {
            clientErrf(c, "Unavailable: not sent within %d ms (%s)", ms,
                       c->lastErr);
        }
        return QRAFT_EUNAVAILABLE;
    }
    clientErrf(c, "Timeout: no reply within %d ms; the request stays in "
               "the session and is resent by later calls (last problem: %s)",
               ms, c->lastErr[0] != '\0' ? c->lastErr : "none");
    if (r->seq == 0) {
        clientUnlink(c, r);
        clientReqFree(r);
        return QRAFT_ETIMEDOUT;
    }
    r->abandoned = true;
    if (r->inFlight && c->fd >= 0) {
        clientDisconnect(c, "no reply before the deadline");
    }
    return QRAFT_ETIMEDOUT;
}

void clientPump(qraft_client *c)
{
    if (c->running || c->fd < 0) {
        return;
    }
    c->running = true;
    clientStep(c, netNow());
    c->running = false;
}

void clientSubmitAsync(qraft_client *c, struct clientReq *r)
{
    r->async = true;
    r->deadline = netNow() + (r->timeoutMs > 0 ? r->timeoutMs : c->timeoutMs);
    clientAppend(c, r);
    clientPump(c);
}

/* ---------------------------------------------------------------------- */
/* Public calls of the client itself                                       */

QRAFT_API int qraft_open(const char *servers,
                         const struct qraft_options *opts,
                         qraft_client **out)
{
    qraft_client *c;
    char err[256];
    int rv;
    if (out == NULL) {
        return QRAFT_EINVAL;
    }
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        return QRAFT_ENOMEM;
    }
    rv = netAddrList(servers, &c->servers, &c->nServers, err, sizeof err);
    if (rv != 0) {
        free(c);
        return rv;
    }
    c->fd = -1;
    qraft_wire_reader_init(&c->rd, NET_REPLY_FRAME_MAX);
    c->cid = clientRandomId();
    c->nextSeq = 1;
    c->nextUid = 1;
    c->timeoutMs = CLIENT_TIMEOUT_DEFAULT;
    c->window = CLIENT_WINDOW_DEFAULT;
    if (opts != NULL && opts->timeout_ms > 0) {
        c->timeoutMs = opts->timeout_ms;
    }
    if (opts != NULL && opts->window > 0) {
        c->window = opts->window;
    }
    *out = c;
    return 0;
}

QRAFT_API void qraft_close(qraft_client *c)
{
    struct clientReq *r;
    if (c == NULL) {
        return;
    }
    while ((r = c->head) != NULL) {
        clientUnlink(c, r);
        if (r->async && !r->abandoned) {
            clientNotify(r, QRAFT_EUNAVAILABLE);
        }
        clientReqFree(r);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    qraft_wire_reader_close(&c->rd);
    free(c->out);
    free(c->servers);
    free(c);
}

QRAFT_API const char *qraft_errmsg(const qraft_client *c)
{
    return c != NULL ? c->errmsg : "no client";
}

QRAFT_API void qraft_set_timeout(qraft_client *c, int timeout_ms)
{
    if (c != NULL) {
        c->timeoutMs = timeout_ms > 0 ? timeout_ms : CLIENT_TIMEOUT_DEFAULT;
    }
}

QRAFT_API int qraft_wait(qraft_client *c)
{
    int rv;
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    if (c->running) {
        clientErrf(c, "InvalidArgument: qraft_wait called from a callback");
        return QRAFT_EINVAL;
    }
    clientRun(c, clientAsyncDone, NULL, NET_NEVER);
    rv = c->asyncTimedOut ? QRAFT_ETIMEDOUT : QRAFT_OK;
    if (rv != QRAFT_OK) {
        clientErrf(c, "Timeout: some requests got no reply before their "
                   "deadline (%s)", c->lastErr[0] != '\0' ? c->lastErr : "no detail");
    }
    c->asyncTimedOut = false;
    return rv;
}

bool clientBusy(qraft_client *c)
{
    if (c->running) {
        clientErrf(c, "InvalidArgument: blocking call from a callback");
        return true;
    }
    return false;
}
