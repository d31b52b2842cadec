/* Executing an operation anywhere: here when this node leads, else at the
 * leader over the cluster's own client protocol (client/wire.c frames).
 *
 * The happy path: a mutating op takes a node-owned session (a client id of
 * this node's, and its next sequence) from a pool, where one session
 * serves one request at a time, so sequences never arrive out of order.
 * When this node leads, the frame is served by dispatch.c on a virtual
 * connection (connVirtual) and its reply comes back through the sink; a
 * follower writes it on a pipelined connection to the leader's client
 * address (from --cluster) and matches the reply by id. The reply is
 * handed to done; the session goes back to the pool with its sequence
 * consumed.
 *
 * Failure modes: NotLeader, Unavailable, UnknownOutcome replies and a
 * forwarding connection that fails are retried (a leader change) with the
 * same client id and sequence, so a retried mutation applies once; no
 * known leader waits and retries. Past the deadline the caller gets
 * ServiceUnavailable. SessionExpired (an idle pooled session that the
 * cluster forgot) retries on a fresh session: nothing was applied. A
 * cancelled request (its HTTP client left) drops its long poll (virtual
 * connection closed here, or the "cancel" op at the leader), and its
 * session is never used again, since its last sequence's fate is unknown.
 */
#include "node/http/http.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "node/internal.h"

enum { EXEC_IDLE = 0, EXEC_LOCAL, EXEC_REMOTE, EXEC_RETRY };

/* A pooled session left idle longer is dropped (the cluster expires
 * sessions idle for --session-idle, an hour by default). */
#define SESSION_IDLE_MAX_MS (10u * 60u * 1000u)
/* Pause before retrying when no leader is known or it is not ready. */
#define RETRY_DELAY_MS 30
/* A forwarded attempt still unanswered this long after another node
 * became the leader is tried again there. */
#define STALE_ATTEMPT_MS 1000

struct httpSession
{
    uint64_t cid;
    uint64_t next_seq;
    uint64_t used_at;
    struct httpSession *next;
};

enum { PEER_CONNECTING, PEER_OPEN, PEER_CLOSED };

struct httpPeer
{
    struct httpCluster *cluster;
    char addr[NODE_ADDR_MAX];
    uv_tcp_t tcp;
    uv_connect_t connect;
    int state;
    struct qraft_wire_reader reader;
    struct httpExec *head; /* attempts in flight on this connection */
    struct httpPeer *next;
};

struct httpCluster
{
    struct server *server;
    struct httpSession *idle;
    unsigned n_idle;
    struct httpPeer *peers;
    struct httpExec *retries;
    uv_timer_t timer;
    uint64_t next_id;
    struct httpClusterStats stats;
};

static void attempt(struct httpExec *e);
static void timerCb(uv_timer_t *t);
static void timerArm(struct httpCluster *c);

/* ---------------------------------------------------------------------- */
/* lists                                                                   */

static void listAdd(struct httpExec **head, struct httpExec *e)
{
    e->prev = NULL;
    e->next = *head;
    if (*head != NULL) {
        (*head)->prev = e;
    }
    *head = e;
}

static void listDel(struct httpExec **head, struct httpExec *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        *head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    e->prev = e->next = NULL;
}

/* ---------------------------------------------------------------------- */
/* sessions                                                                */

static struct httpSession *sessionTake(struct httpCluster *c)
{
    uint64_t now = uv_now(&c->server->loop);
    struct httpSession *s;

    while ((s = c->idle) != NULL) {
        c->idle = s->next;
        c->n_idle--;
        if (now - s->used_at <= SESSION_IDLE_MAX_MS) {
            return s;
        }
        free(s);
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    while (s->cid == 0) {
        if (getrandom(&s->cid, sizeof s->cid, 0) != sizeof s->cid) {
            s->cid = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ now;
        }
    }
    s->next_seq = 1;
    return s;
}

static void sessionRelease(struct httpCluster *c, struct httpSession *s)
{
    s->next_seq++;
    s->used_at = uv_now(&c->server->loop);
    s->next = c->idle;
    c->idle = s;
    c->n_idle++;
}

/* ---------------------------------------------------------------------- */
/* replies                                                                 */

/* The id, ok and code of a reply map. */
static void replyPeek(const void *payload, size_t len, uint64_t *id, bool *ok, char *code,
                      size_t code_len)
{
    msgpack_unpacked u;
    size_t off = 0;
    uint32_t i;

    *id = 0;
    *ok = false;
    code[0] = '\0';
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, payload, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object *k = &u.data.via.map.ptr[i].key;
            const msgpack_object *v = &u.data.via.map.ptr[i].val;
            if (k->type != MSGPACK_OBJECT_STR) {
                continue;
            }
            if (k->via.str.size == 2 && memcmp(k->via.str.ptr, "id", 2) == 0 &&
                v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                *id = v->via.u64;
            } else if (k->via.str.size == 2 && memcmp(k->via.str.ptr, "ok", 2) == 0 &&
                       v->type == MSGPACK_OBJECT_BOOLEAN) {
                *ok = v->via.boolean;
            } else if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "code", 4) == 0 &&
                       v->type == MSGPACK_OBJECT_STR && v->via.str.size < code_len) {
                memcpy(code, v->via.str.ptr, v->via.str.size);
                code[v->via.str.size] = '\0';
            }
        }
    }
    msgpack_unpacked_destroy(&u);
}

static void finish(struct httpExec *e, const char *code, const void *reply, size_t len)
{
    e->where = EXEC_IDLE;
    e->done(e, code, reply, len);
}

/* Retry @e after @delay_ms, unless its deadline has passed. */
static void retryLater(struct httpExec *e, uint64_t delay_ms)
{
    struct httpCluster *c = e->cluster;
    uint64_t now = uv_now(&c->server->loop);

    if (now + delay_ms >= e->deadline) {
        if (e->session != NULL) {
            /* The last attempt's fate may be unknown: never reuse it. */
            free(e->session);
            e->session = NULL;
        }
        finish(e, "ServiceUnavailable", NULL, 0);
        return;
    }
    e->where = EXEC_RETRY;
    e->retry_at = now + delay_ms;
    listAdd(&c->retries, e);
    timerArm(c);
}

static void onReply(struct httpExec *e, const void *payload, size_t len)
{
    struct httpCluster *c = e->cluster;
    char code[64];
    uint64_t id;
    bool ok;

    e->where = EXEC_IDLE;
    replyPeek(payload, len, &id, &ok, code, sizeof code);
    if (!ok && (strcmp(code, "NotLeader") == 0 || strcmp(code, "Unavailable") == 0)) {
        retryLater(e, RETRY_DELAY_MS);
        return;
    }
    if (!ok && strcmp(code, "UnknownOutcome") == 0) {
        retryLater(e, 1);
        return;
    }
    if (!ok && e->session != NULL &&
        (strcmp(code, "SessionExpired") == 0 || strcmp(code, "OutOfOrder") == 0)) {
        /* Nothing was applied: a fresh session. */
        free(e->session);
        e->session = sessionTake(c);
        e->seq = e->session != NULL ? e->session->next_seq : 0;
        if (e->session == NULL) {
            finish(e, "InternalError", NULL, 0);
            return;
        }
        retryLater(e, 1);
        return;
    }
    if (e->session != NULL) {
        sessionRelease(c, e->session);
        e->session = NULL;
    }
    finish(e, NULL, payload, len);
}

/* ---------------------------------------------------------------------- */
/* local                                                                   */

static void localSink(struct conn *vc, void *frame, size_t len)
{
    struct httpExec *e = vc->sink_arg;

    if (e->in_dispatch) {
        free(e->local_reply);
        e->local_reply = frame;
        e->local_reply_len = len;
        return;
    }
    e->vconn = NULL;
    connClose(vc);
    onReply(e, (char *)frame + 4, len - 4);
    free(frame);
}

static void attemptLocal(struct httpExec *e, const void *frame, size_t len)
{
    struct httpCluster *c = e->cluster;
    void *reply;

    e->vconn = connVirtual(c->server, localSink, e);
    if (e->vconn == NULL) {
        retryLater(e, RETRY_DELAY_MS);
        return;
    }
    c->stats.local++;
    e->where = EXEC_LOCAL;
    e->in_dispatch = true;
    dispatchFrame(e->vconn, (const char *)frame + 4, len - 4);
    e->in_dispatch = false;
    if (e->local_reply != NULL) {
        reply = e->local_reply;
        e->local_reply = NULL;
        connClose(e->vconn);
        e->vconn = NULL;
        onReply(e, (char *)reply + 4, e->local_reply_len - 4);
        free(reply);
    }
}

/* ---------------------------------------------------------------------- */
/* forwarding                                                              */

static void peerCloseCb(uv_handle_t *h)
{
    struct httpPeer *p = h->data;
    qraft_wire_reader_close(&p->reader);
    free(p);
}

/* Close @p and retry everything in flight on it. */
static void peerFail(struct httpPeer *p)
{
    struct httpCluster *c = p->cluster;
    struct httpPeer **link;

    if (p->state == PEER_CLOSED) {
        return;
    }
    p->state = PEER_CLOSED;
    for (link = &c->peers; *link != NULL; link = &(*link)->next) {
        if (*link == p) {
            *link = p->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&p->tcp, peerCloseCb);
    while (p->head != NULL) {
        struct httpExec *e = p->head;
        listDel(&p->head, e);
        e->peer = NULL;
        e->where = EXEC_IDLE;
        retryLater(e, RETRY_DELAY_MS);
    }
}

static void peerWriteCb(uv_write_t *req, int status)
{
    struct httpPeer *p = req->data;
    free(((void **)(req + 1))[0]);
    free(req);
    if (status != 0 && status != UV_ECANCELED) {
        peerFail(p);
    }
}

/* Write @frame (ownership passes) to @p. */
static int peerWrite(struct httpPeer *p, void *frame, size_t len)
{
    uv_write_t *req = malloc(sizeof *req + sizeof(void *));
    uv_buf_t buf = uv_buf_init(frame, (unsigned)len);

    if (req == NULL) {
        free(frame);
        return -1;
    }
    req->data = p;
    ((void **)(req + 1))[0] = frame;
    if (uv_write(req, (uv_stream_t *)&p->tcp, &buf, 1, peerWriteCb) != 0) {
        free(frame);
        free(req);
        return -1;
    }
    return 0;
}

static int encodeFrame(struct httpExec *e, void **frame, size_t *len);

/* Write the frames of the attempts not yet sent. */
static void peerFlush(struct httpPeer *p)
{
    struct httpExec *e;

    for (e = p->head; e != NULL; e = e->next) {
        void *frame;
        size_t len;
        if (e->sent) {
            continue;
        }
        if (encodeFrame(e, &frame, &len) != 0 || peerWrite(p, frame, len) != 0) {
            peerFail(p);
            return;
        }
        e->sent = true;
    }
}

static void peerAllocCb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof slab;
}

static void peerReadCb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct httpPeer *p = s->data;
    const void *payload;
    size_t len;
    int rv = 0;

    if (nread < 0) {
        peerFail(p);
        return;
    }
    if (nread == 0) {
        return;
    }
    if (qraft_wire_reader_feed(&p->reader, buf->base, (size_t)nread) != 0) {
        peerFail(p);
        return;
    }
    while (p->state == PEER_OPEN &&
           (rv = qraft_wire_reader_next(&p->reader, &payload, &len)) == 1) {
        struct httpExec *e;
        char code[64];
        uint64_t id;
        bool ok;

        replyPeek(payload, len, &id, &ok, code, sizeof code);
        for (e = p->head; e != NULL && e->id != id; e = e->next) {
        }
        if (e == NULL) {
            continue; /* a cancelled attempt's, or a cancel's */
        }
        listDel(&p->head, e);
        e->peer = NULL;
        onReply(e, payload, len);
    }
    if (p->state == PEER_OPEN && rv != 0 && rv != 1) {
        peerFail(p);
    }
}

static void peerConnectCb(uv_connect_t *req, int status)
{
    struct httpPeer *p = req->data;

    if (p->state == PEER_CLOSED) {
        return;
    }
    if (status != 0 || uv_read_start((uv_stream_t *)&p->tcp, peerAllocCb, peerReadCb) != 0) {
        peerFail(p);
        return;
    }
    p->state = PEER_OPEN;
    peerFlush(p);
}

static struct httpPeer *peerGet(struct httpCluster *c, const char *addr)
{
    struct httpPeer *p;
    struct sockaddr_in sin;
    char host[NODE_ADDR_MAX];
    const char *colon = strrchr(addr, ':');

    for (p = c->peers; p != NULL; p = p->next) {
        if (strcmp(p->addr, addr) == 0) {
            return p;
        }
    }
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (uv_ip4_addr(host, atoi(colon + 1), &sin) != 0) {
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->cluster = c;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    qraft_wire_reader_init(&p->reader, (size_t)64 << 20);
    uv_tcp_init(&c->server->loop, &p->tcp);
    uv_tcp_nodelay(&p->tcp, 1);
    p->tcp.data = p;
    p->connect.data = p;
    p->state = PEER_CONNECTING;
    p->next = c->peers;
    c->peers = p;
    if (uv_tcp_connect(&p->connect, &p->tcp, (struct sockaddr *)&sin, peerConnectCb) != 0) {
        peerFail(p);
        return NULL;
    }
    return p;
}

static void attemptRemote(struct httpExec *e, const char *addr)
{
    struct httpCluster *c = e->cluster;
    struct httpPeer *p = peerGet(c, addr);

    if (p == NULL) {
        retryLater(e, RETRY_DELAY_MS);
        return;
    }
    c->stats.forwarded++;
    e->where = EXEC_REMOTE;
    e->peer = p;
    e->sent = false;
    e->retry_at = uv_now(&c->server->loop); /* when this attempt began */
    listAdd(&p->head, e);
    timerArm(c);
    if (p->state == PEER_OPEN) {
        peerFlush(p);
    }
}

/* ---------------------------------------------------------------------- */
/* attempts                                                                */

static int encodeFrame(struct httpExec *e, void **frame, size_t *len)
{
    struct qraft_request req;
    const char *op = fsmOpName(e->fsm_op);

    memset(&req, 0, sizeof req);
    req.id = e->id;
    req.op = op;
    req.op_len = strlen(op);
    if (e->session != NULL) {
        req.client_id = e->session->cid;
        req.seq = e->seq;
        req.ack = e->seq; /* every earlier sequence of it was answered */
    }
    req.args = e->args;
    req.args_len = e->args_len;
    return qraft_wire_encode_request(&req, frame, len);
}

static void attempt(struct httpExec *e)
{
    struct httpCluster *c = e->cluster;
    struct server *s = c->server;
    struct replicaStatus st;
    const char *addr;
    void *frame;
    size_t len;

    if (e->attempts++ > 0) {
        c->stats.retries++;
    }
    e->id = ++c->next_id;
    replicaGetStatus(s->replica, &st);
    if (st.leader_id == 0) {
        retryLater(e, RETRY_DELAY_MS);
        return;
    }
    if (st.leader_id == s->config->id) {
        if (encodeFrame(e, &frame, &len) != 0) {
            finish(e, "InternalError", NULL, 0);
            return;
        }
        attemptLocal(e, frame, len);
        free(frame);
        return;
    }
    addr = serverClientAddr(s, st.leader_id);
    if (addr == NULL) {
        retryLater(e, RETRY_DELAY_MS);
        return;
    }
    attemptRemote(e, addr);
}

/* The client address of the leader this node knows, or NULL. */
static const char *currentLeaderAddr(struct httpCluster *c)
{
    struct replicaStatus st;

    replicaGetStatus(c->server->replica, &st);
    if (st.leader_id == 0 || st.leader_id == c->server->config->id) {
        return st.leader_id == 0 ? NULL : "";
    }
    return serverClientAddr(c->server, st.leader_id);
}

static void timerCb(uv_timer_t *t)
{
    struct httpCluster *c = t->data;
    uint64_t now = uv_now(&c->server->loop);
    struct httpExec *due = NULL;
    struct httpExec *e, *next;
    struct httpPeer *p;
    const char *leader;

    for (e = c->retries; e != NULL; e = next) {
        next = e->next;
        if (e->retry_at <= now) {
            listDel(&c->retries, e);
            listAdd(&due, e);
        }
    }
    /* Forwarded attempts that hang (a stopped leader, a half-open
     * connection): past the deadline they fail; sent to a node that is no
     * longer the leader for over STALE_ATTEMPT_MS, they are tried again at
     * the new one (the same session sequence: applied once). */
    leader = currentLeaderAddr(c);
    for (p = c->peers; p != NULL; p = p->next) {
        for (e = p->head; e != NULL; e = next) {
            next = e->next;
            if (now >= e->deadline ||
                (leader != NULL && strcmp(leader, p->addr) != 0 &&
                 now - e->retry_at >= STALE_ATTEMPT_MS)) {
                listDel(&p->head, e);
                e->peer = NULL;
                listAdd(&due, e);
            }
        }
    }
    while ((e = due) != NULL) {
        listDel(&due, e);
        e->where = EXEC_IDLE;
        if (now >= e->deadline) {
            free(e->session); /* its last attempt's fate is unknown */
            e->session = NULL;
            finish(e, "ServiceUnavailable", NULL, 0);
        } else {
            attempt(e);
        }
    }
    timerArm(c);
}

/* Keep the timer running while anything waits for a retry or a leader's
 * reply. */
static void timerArm(struct httpCluster *c)
{
    struct httpPeer *p;
    bool busy = c->retries != NULL;

    for (p = c->peers; p != NULL && !busy; p = p->next) {
        busy = p->head != NULL;
    }
    if (busy && !uv_is_active((uv_handle_t *)&c->timer)) {
        uv_timer_start(&c->timer, timerCb, RETRY_DELAY_MS / 3, RETRY_DELAY_MS / 3);
    } else if (!busy) {
        uv_timer_stop(&c->timer);
    }
}

void httpExecStart(struct httpCluster *c, struct httpExec *e)
{
    uint64_t now = uv_now(&c->server->loop);

    e->cluster = c;
    e->session = NULL;
    e->where = EXEC_IDLE;
    e->attempts = 0;
    e->local_reply = NULL;
    e->vconn = NULL;
    e->peer = NULL;
    e->deadline = now + HTTP_LEADER_WAIT_MS + (uint64_t)e->wait_s * 1000u;
    if (fsmOpMutates(e->fsm_op)) {
        e->session = sessionTake(c);
        if (e->session == NULL) {
            finish(e, "InternalError", NULL, 0);
            return;
        }
        e->seq = e->session->next_seq;
    }
    attempt(e);
}

void httpExecCancel(struct httpExec *e)
{
    struct httpCluster *c = e->cluster;

    switch (e->where) {
        case EXEC_LOCAL:
            if (e->vconn != NULL) {
                struct conn *vc = e->vconn;
                e->vconn = NULL;
                vc->sink_arg = NULL;
                connClose(vc);
            }
            break;
        case EXEC_REMOTE:
            if (e->peer != NULL) {
                struct httpPeer *p = e->peer;
                listDel(&p->head, e);
                e->peer = NULL;
                if (e->sent && p->state == PEER_OPEN) {
                    msgpack_sbuffer sb;
                    msgpack_packer pk;
                    struct qraft_request req;
                    void *frame;
                    size_t len;

                    msgpack_sbuffer_init(&sb);
                    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                    msgpack_pack_map(&pk, 1);
                    msgpack_pack_str(&pk, 2);
                    msgpack_pack_str_body(&pk, "id", 2);
                    msgpack_pack_uint64(&pk, e->id);
                    memset(&req, 0, sizeof req);
                    req.id = ++c->next_id;
                    req.op = "cancel";
                    req.op_len = 6;
                    req.args = sb.data;
                    req.args_len = sb.size;
                    if (qraft_wire_encode_request(&req, &frame, &len) == 0) {
                        peerWrite(p, frame, len);
                    }
                    msgpack_sbuffer_destroy(&sb);
                }
            }
            break;
        case EXEC_RETRY:
            listDel(&c->retries, e);
            break;
        default:
            break;
    }
    e->where = EXEC_IDLE;
    free(e->session);
    e->session = NULL;
}

int httpClusterInit(struct server *s, struct httpCluster **out)
{
    struct httpCluster *c = calloc(1, sizeof *c);

    if (c == NULL) {
        return -1;
    }
    c->server = s;
    uv_timer_init(&s->loop, &c->timer);
    c->timer.data = c;
    *out = c;
    return 0;
}

static void clusterFreeCb(uv_handle_t *h)
{
    free(h->data);
}

void httpClusterClose(struct httpCluster *c)
{
    struct httpSession *s;

    while (c->retries != NULL) {
        struct httpExec *e = c->retries;
        httpExecCancel(e);
    }
    while (c->peers != NULL) {
        struct httpPeer *p = c->peers;
        while (p->head != NULL) {
            httpExecCancel(p->head);
        }
        peerFail(p);
    }
    while ((s = c->idle) != NULL) {
        c->idle = s->next;
        free(s);
    }
    uv_close((uv_handle_t *)&c->timer, clusterFreeCb);
}

void httpClusterStatsGet(struct httpCluster *c, struct httpClusterStats *st)
{
    *st = c->stats;
    st->sessions = c->n_idle;
}
