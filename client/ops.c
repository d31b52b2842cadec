/* One public call per operation, the parsing of their replies, and
 * qraft_node_status (a one-shot connection of its own, no session).
 *
 * Replies are read with the wire cursor: unknown keys are skipped, a known
 * key of the wrong type is a protocol error (QRAFT_EPROTO). Results are
 * copied out of the frame before the call returns.
 */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most messages a receive reply may carry before we call it broken. */
#define OPS_MESSAGES_MAX 1000

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */

int opsReplyHead(const void *payload, size_t len, struct opsReplyHead *h)
{
    struct wireCursor cur;
    struct wireValue m;
    struct wireValue k;
    struct wireValue v;
    bool hasOk = false;
    size_t i;

    memset(h, 0, sizeof *h);
    wireCursorInit(&cur, payload, len);
    if (wireNext(&cur, &m) != 0 || m.type != WIRE_MAP) {
        return QRAFT_EPROTO;
    }
    for (i = 0; i < m.len; i++) {
        if (wireNext(&cur, &k) != 0 || wireSkipElements(&cur, &k) != 0 ||
            wireNext(&cur, &v) != 0 || wireSkipElements(&cur, &v) != 0) {
            return QRAFT_EPROTO;
        }
        if (wireStrEq(&k, "id") && v.type == WIRE_UINT) {
            h->hasId = true;
            h->id = v.u;
        } else if (wireStrEq(&k, "ok") && v.type == WIRE_BOOL) {
            hasOk = true;
            h->ok = v.b;
        } else if (wireStrEq(&k, "code") && v.type == WIRE_STR) {
            h->codeName = v;
        } else if (wireStrEq(&k, "message") && v.type == WIRE_STR) {
            h->message = v;
        } else if (wireStrEq(&k, "leader") && v.type == WIRE_STR) {
            h->leader = v;
        }
    }
    if (!hasOk) {
        return QRAFT_EPROTO;
    }
    h->code = QRAFT_OK;
    if (!h->ok) {
        h->code = h->codeName.type == WIRE_STR
                      ? qraft_errcode(h->codeName.ptr, h->codeName.len)
                      : QRAFT_EINTERNAL;
        if (h->code == QRAFT_OK) {
            h->code = QRAFT_EPROTO; /* ok=false with code "OK" */
        }
    }
    return 0;
}

/* Parse one message map at @cur into @m. */
static int opsParseMessage(struct wireCursor *cur, struct qraft_message *m)
{
    struct wireValue map;
    struct wireValue k;
    struct wireValue v;
    bool id = false;
    bool receipt = false;
    size_t i;
    if (wireNext(cur, &map) != 0 || map.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < map.len; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &v) != 0 || wireSkipElements(cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "msg_id")) {
            if (wireStrCopy(&v, m->id, sizeof m->id) != 0) {
                return -1;
            }
            id = true;
        } else if (wireStrEq(&k, "receipt")) {
            if (wireStrCopy(&v, m->receipt, sizeof m->receipt) != 0) {
                return -1;
            }
            receipt = true;
        } else if (wireStrEq(&k, "body")) {
            if ((v.type != WIRE_BIN && v.type != WIRE_STR) || m->body != NULL) {
                return -1;
            }
            m->body = malloc(v.len + 1);
            if (m->body == NULL) {
                return -1;
            }
            if (v.len > 0) {
                memcpy(m->body, v.ptr, v.len);
            }
            ((char *)m->body)[v.len] = '\0';
            m->body_len = v.len;
        } else if (wireStrEq(&k, "receive_count") ||
                   wireStrEq(&k, "sent_ms") ||
                   wireStrEq(&k, "first_receive_ms")) {
            if (v.type != WIRE_UINT) {
                return -1;
            }
            if (k.len == strlen("receive_count")) {
                m->receive_count =
                    v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)v.u;
            } else if (k.len == strlen("sent_ms")) {
                m->sent_ms = v.u;
            } else {
                m->first_receive_ms = v.u;
            }
        }
    }
    return id && receipt && m->body != NULL ? 0 : -1;
}

/* Parse a "messages" array whose header @v was just read. */
static int opsParseMessages(struct clientReq *r,
                            struct wireCursor *cur,
                            const struct wireValue *v)
{
    size_t i;
    if (v->type != WIRE_ARRAY || v->len > OPS_MESSAGES_MAX ||
        r->msgs != NULL) {
        return QRAFT_EPROTO;
    }
    if (v->len == 0) {
        return 0;
    }
    r->msgs = calloc(v->len, sizeof *r->msgs);
    if (r->msgs == NULL) {
        return QRAFT_ENOMEM;
    }
    r->nMsgs = v->len;
    for (i = 0; i < v->len; i++) {
        if (opsParseMessage(cur, &r->msgs[i]) != 0) {
            return QRAFT_EPROTO;
        }
    }
    return 0;
}

/* Parse a "queues" array whose header @v was just read. */
static int opsParseNames(struct clientReq *r,
                         struct wireCursor *cur,
                         const struct wireValue *v)
{
    struct wireValue s;
    size_t i;
    if (v->type != WIRE_ARRAY || r->names != NULL) {
        return QRAFT_EPROTO;
    }
    if (v->len == 0) {
        return 0;
    }
    r->names = calloc(v->len, sizeof *r->names);
    if (r->names == NULL) {
        return QRAFT_ENOMEM;
    }
    r->nNames = v->len;
    for (i = 0; i < v->len; i++) {
        if (wireNext(cur, &s) != 0 || s.type != WIRE_STR) {
            return QRAFT_EPROTO;
        }
        r->names[i] = malloc(s.len + 1);
        if (r->names[i] == NULL) {
            return QRAFT_ENOMEM;
        }
        wireStrCopy(&s, r->names[i], s.len + 1);
    }
    return 0;
}

int opsParseResult(struct clientReq *r, const void *payload, size_t len)
{
    struct wireCursor cur;
    struct wireValue m;
    struct wireValue k;
    struct wireValue v;
    bool msgId = false;
    size_t i;
    int rv = 0;

    wireCursorInit(&cur, payload, len);
    if (wireNext(&cur, &m) != 0 || m.type != WIRE_MAP) {
        rv = QRAFT_EPROTO;
        goto err;
    }
    for (i = 0; i < m.len && rv == 0; i++) {
        if (wireNext(&cur, &k) != 0 || wireSkipElements(&cur, &k) != 0 ||
            wireNext(&cur, &v) != 0) {
            rv = QRAFT_EPROTO;
            break;
        }
        if (r->op == QRAFT_OP_SEND && wireStrEq(&k, "msg_id")) {
            rv = wireStrCopy(&v, r->msgId, sizeof r->msgId) == 0
                     ? 0
                     : QRAFT_EPROTO;
            msgId = true;
        } else if (r->op == QRAFT_OP_RECEIVE && wireStrEq(&k, "messages")) {
            rv = opsParseMessages(r, &cur, &v);
        } else if (r->op == QRAFT_OP_QUEUE_LIST && wireStrEq(&k, "queues")) {
            rv = opsParseNames(r, &cur, &v);
        } else if (wireSkipElements(&cur, &v) != 0) {
            rv = QRAFT_EPROTO;
        }
    }
    if (rv == 0 && r->op == QRAFT_OP_SEND && !msgId) {
        rv = QRAFT_EPROTO;
    }
    if (rv != 0) {
        goto err;
    }
    return 0;
err:
    qraft_messages_free(r->msgs, r->nMsgs);
    qraft_strings_free(r->names, r->nNames);
    r->msgs = NULL;
    r->names = NULL;
    r->nMsgs = r->nNames = 0;
    snprintf(r->errmsg, sizeof r->errmsg, "%s: %s reply %s",
             qraft_errname(rv), qraft_op_name(r->op),
             rv == QRAFT_ENOMEM ? "too large for memory" : "is malformed");
    return rv;
}

/* ---------------------------------------------------------------------- */
/* Operations                                                              */

/* Run @r to completion; free it. */
static int opsRun(qraft_client *c, struct clientReq *r)
{
    struct clientReq *done;
    int rv = clientCall(c, r, &done);
    clientReqFree(done);
    return rv;
}

/* Checks common to every call: client usable, strings present. */
static int opsCheck(qraft_client *c, const char *a, const char *b)
{
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    if (clientBusy(c)) {
        return QRAFT_EINVAL;
    }
    if (a == NULL || b == NULL) {
        clientErrf(c, "InvalidArgument: a required argument is NULL");
        return QRAFT_EINVAL;
    }
    return 0;
}

/* Fail with QRAFT_ENOMEM. */
static int opsNoMem(qraft_client *c)
{
    clientErrf(c, "NoMemory: out of memory");
    return QRAFT_ENOMEM;
}

QRAFT_API int qraft_queue_create(qraft_client *c,
                                 const char *name,
                                 int visibility_s)
{
    struct clientReq *r;
    int rv = opsCheck(c, name, "");
    if (rv != 0) {
        return rv;
    }
    if (visibility_s < -1) {
        clientErrf(c, "InvalidArgument: visibility must be -1 or 0 or more");
        return QRAFT_EINVAL;
    }
    r = clientReqNew(c, QRAFT_OP_QUEUE_CREATE, name, NULL, 0, NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    r->visibility = visibility_s;
    return opsRun(c, r);
}

QRAFT_API int qraft_queue_delete(qraft_client *c, const char *name)
{
    struct clientReq *r;
    int rv = opsCheck(c, name, "");
    if (rv != 0) {
        return rv;
    }
    r = clientReqNew(c, QRAFT_OP_QUEUE_DELETE, name, NULL, 0, NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    return opsRun(c, r);
}

QRAFT_API int qraft_queue_list(qraft_client *c, char ***names, size_t *n)
{
    struct clientReq *r;
    struct clientReq *done;
    int rv = opsCheck(c, "", "");
    if (rv != 0) {
        return rv;
    }
    if (names == NULL || n == NULL) {
        clientErrf(c, "InvalidArgument: a required argument is NULL");
        return QRAFT_EINVAL;
    }
    *names = NULL;
    *n = 0;
    r = clientReqNew(c, QRAFT_OP_QUEUE_LIST, NULL, NULL, 0, NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    rv = clientCall(c, r, &done);
    if (rv == QRAFT_OK) {
        *names = done->names;
        *n = done->nNames;
        done->names = NULL;
        done->nNames = 0;
    }
    clientReqFree(done);
    return rv;
}

QRAFT_API void qraft_strings_free(char **names, size_t n)
{
    size_t i;
    if (names == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

QRAFT_API int qraft_send(qraft_client *c,
                         const char *queue,
                         const void *body,
                         size_t len,
                         char *msg_id)
{
    struct clientReq *r;
    struct clientReq *done;
    int rv = opsCheck(c, queue, body != NULL || len == 0 ? "" : NULL);
    if (rv != 0) {
        return rv;
    }
    r = clientReqNew(c, QRAFT_OP_SEND, queue, body != NULL ? body : "", len,
                     NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    rv = clientCall(c, r, &done);
    if (rv == QRAFT_OK && msg_id != NULL) {
        memcpy(msg_id, done->msgId, QRAFT_MESSAGE_ID_MAX);
    }
    clientReqFree(done);
    return rv;
}

QRAFT_API int qraft_send_async(qraft_client *c,
                               const char *queue,
                               const void *body,
                               size_t len,
                               qraft_send_cb cb,
                               void *arg)
{
    struct clientReq *r;
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    if (queue == NULL || (body == NULL && len > 0)) {
        clientErrf(c, "InvalidArgument: a required argument is NULL");
        return QRAFT_EINVAL;
    }
    r = clientReqNew(c, QRAFT_OP_SEND, queue, body != NULL ? body : "", len,
                     NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    r->cb = cb;
    r->arg = arg;
    clientSubmitAsync(c, r);
    clientPump(c);
    return 0;
}

QRAFT_API int qraft_receive(qraft_client *c,
                            const char *queue,
                            unsigned max,
                            int visibility_s,
                            struct qraft_message **msgs,
                            size_t *n)
{
    struct clientReq *r;
    struct clientReq *done;
    int rv = opsCheck(c, queue, msgs != NULL && n != NULL ? "" : NULL);
    if (rv != 0) {
        return rv;
    }
    *msgs = NULL;
    *n = 0;
    if (max == 0 || visibility_s < -1) {
        clientErrf(c, "InvalidArgument: max must be 1 or more, visibility "
                   "-1 or 0 or more");
        return QRAFT_EINVAL;
    }
    r = clientReqNew(c, QRAFT_OP_RECEIVE, queue, NULL, 0, NULL);
    if (r == NULL) {
        return opsNoMem(c);
    }
    r->maxMessages = max;
    r->visibility = visibility_s;
    rv = clientCall(c, r, &done);
    if (rv == QRAFT_OK) {
        *msgs = done->msgs;
        *n = done->nMsgs;
        done->msgs = NULL;
        done->nMsgs = 0;
    }
    clientReqFree(done);
    return rv;
}

QRAFT_API void qraft_messages_free(struct qraft_message *msgs, size_t n)
{
    size_t i;
    if (msgs == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(msgs[i].body);
    }
    free(msgs);
}

QRAFT_API int qraft_delete(qraft_client *c,
                           const char *queue,
                           const char *receipt)
{
    struct clientReq *r;
    int rv = opsCheck(c, queue, receipt);
    if (rv != 0) {
        return rv;
    }
    r = clientReqNew(c, QRAFT_OP_DELETE, queue, NULL, 0, receipt);
    if (r == NULL) {
        return opsNoMem(c);
    }
    return opsRun(c, r);
}

/* ---------------------------------------------------------------------- */
/* Node status                                                             */

/* Copy a string value into @dst, cut to fit. Other types are ignored. */
static void opsCopyCut(const struct wireValue *v, char *dst, size_t cap)
{
    size_t n;
    if (v->type != WIRE_STR) {
        return;
    }
    n = v->len < cap - 1 ? v->len : cap - 1;
    memcpy(dst, v->ptr, n);
    dst[n] = '\0';
}

/* Parse one member map. */
static int opsParseMember(struct wireCursor *cur, struct qraft_member *m)
{
    struct wireValue map;
    struct wireValue k;
    struct wireValue v;
    size_t i;
    if (wireNext(cur, &map) != 0 || map.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < map.len; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, &v) != 0 || wireSkipElements(cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "id") && v.type == WIRE_UINT) {
            m->id = v.u;
        } else if (wireStrEq(&k, "zone")) {
            opsCopyCut(&v, m->zone, sizeof m->zone);
        } else if (wireStrEq(&k, "raft")) {
            opsCopyCut(&v, m->raft_addr, sizeof m->raft_addr);
        } else if (wireStrEq(&k, "client")) {
            opsCopyCut(&v, m->client_addr, sizeof m->client_addr);
        } else if (wireStrEq(&k, "role")) {
            opsCopyCut(&v, m->role, sizeof m->role);
        }
    }
    return 0;
}

/* Parse a status reply (after its head was checked). */
static int opsParseStatus(const void *payload,
                          size_t len,
                          struct qraft_node_status *st)
{
    struct wireCursor cur;
    struct wireValue m;
    struct wireValue k;
    struct wireValue v;
    struct qraft_member spare;
    size_t i;
    size_t j;

    wireCursorInit(&cur, payload, len);
    if (wireNext(&cur, &m) != 0) {
        return -1;
    }
    for (i = 0; i < m.len; i++) {
        if (wireNext(&cur, &k) != 0 || wireSkipElements(&cur, &k) != 0 ||
            wireNext(&cur, &v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, "members") && v.type == WIRE_ARRAY) {
            for (j = 0; j < v.len; j++) {
                struct qraft_member *mem = &spare;
                if (st->n_members < 16) {
                    mem = &st->members[st->n_members++];
                }
                memset(mem, 0, sizeof *mem);
                if (opsParseMember(&cur, mem) != 0) {
                    return -1;
                }
            }
            continue;
        }
        if (wireSkipElements(&cur, &v) != 0) {
            return -1;
        }
        if (v.type == WIRE_UINT) {
            if (wireStrEq(&k, "node")) {
                st->id = v.u;
            } else if (wireStrEq(&k, "term")) {
                st->term = v.u;
            } else if (wireStrEq(&k, "last_index")) {
                st->last_index = v.u;
            } else if (wireStrEq(&k, "applied")) {
                st->applied_index = v.u;
            } else if (wireStrEq(&k, "leader")) {
                st->leader_id = v.u;
            }
        } else if (wireStrEq(&k, "zone")) {
            opsCopyCut(&v, st->zone, sizeof st->zone);
        } else if (wireStrEq(&k, "role")) {
            opsCopyCut(&v, st->role, sizeof st->role);
        } else if (wireStrEq(&k, "state")) {
            opsCopyCut(&v, st->state, sizeof st->state);
        } else if (wireStrEq(&k, "digest")) {
            opsCopyCut(&v, st->digest, sizeof st->digest);
        }
    }
    return 0;
}

QRAFT_API int qraft_node_status(const char *addr,
                                int timeout_ms,
                                struct qraft_node_status *st,
                                char *errmsg,
                                size_t errmsg_len)
{
    struct netAddr a;
    struct qraft_request q;
    struct qraft_wire_reader rd;
    struct opsReplyHead h;
    void *f1 = NULL;
    void *f2 = NULL;
    size_t l1;
    size_t l2;
    const void *payload;
    size_t plen;
    char err[256] = "";
    int64_t deadline;
    int fd = -1;
    int rv;

    wireErrf(errmsg, errmsg_len, "%s", "");
    if (st == NULL || addr == NULL) {
        wireErrf(errmsg, errmsg_len, "InvalidArgument: NULL argument");
        return QRAFT_EINVAL;
    }
    memset(st, 0, sizeof *st);
    if (netAddrParse(addr, strlen(addr), &a) != 0) {
        wireErrf(errmsg, errmsg_len,
                 "InvalidArgument: bad address '%.100s' (want host:port)",
                 addr);
        return QRAFT_EINVAL;
    }
    deadline = netNow() + (timeout_ms > 0 ? timeout_ms : 10000);
    qraft_wire_reader_init(&rd, NET_REPLY_FRAME_MAX);

    /* hello (id 1) and status (id 2), pipelined. */
    memset(&q, 0, sizeof q);
    q.visibility_s = -1;
    q.id = 1;
    q.op = QRAFT_OP_HELLO;
    q.version = QRAFT_PROTOCOL_VERSION;
    rv = qraft_wire_encode_request(&q, &f1, &l1);
    q.id = 2;
    q.op = QRAFT_OP_STATUS;
    if (rv == 0) {
        rv = qraft_wire_encode_request(&q, &f2, &l2);
    }
    if (rv != 0) {
        snprintf(err, sizeof err, "out of memory");
        goto err;
    }
    rv = netDial(&a, deadline, &fd, err, sizeof err);
    if (rv == 0) {
        rv = netWriteAll(fd, f1, l1, deadline, err, sizeof err);
    }
    if (rv == 0) {
        rv = netWriteAll(fd, f2, l2, deadline, err, sizeof err);
    }
    while (rv == 0) {
        rv = netReadFrame(fd, &rd, deadline, &payload, &plen, err, sizeof err);
        if (rv != 0) {
            break;
        }
        if (opsReplyHead(payload, plen, &h) != 0 || !h.hasId) {
            snprintf(err, sizeof err, "malformed reply");
            rv = QRAFT_EPROTO;
            break;
        }
        if (!h.ok) {
            snprintf(err, sizeof err, "%s %.*s: %.*s",
                     h.id == 1 ? "hello:" : "status:",
                     (int)(h.codeName.len > 40 ? 40 : h.codeName.len),
                     h.codeName.ptr != NULL ? h.codeName.ptr : "",
                     (int)(h.message.len > 150 ? 150 : h.message.len),
                     h.message.ptr != NULL ? h.message.ptr : "");
            rv = h.code;
            break;
        }
        if (h.id == 2) {
            if (opsParseStatus(payload, plen, st) != 0) {
                snprintf(err, sizeof err, "malformed status reply");
                rv = QRAFT_EPROTO;
            }
            break;
        }
    }
    if (rv != 0) {
        goto err;
    }
    close(fd);
    free(f1);
    free(f2);
    qraft_wire_reader_close(&rd);
    return 0;
err:
    if (fd >= 0) {
        close(fd);
    }
    free(f1);
    free(f2);
    qraft_wire_reader_close(&rd);
    snprintf(st->state, sizeof st->state, "unavailable");
    wireErrf(errmsg, errmsg_len, "%s: %s%s%s", qraft_errname(rv),
             strncmp(err, a.text, strlen(a.text)) == 0 ? "" : a.text,
             strncmp(err, a.text, strlen(a.text)) == 0 ? "" : ": ", err);
    return rv;
}
