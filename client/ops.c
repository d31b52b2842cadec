/* Reply parsing shared by the operations, the checks every call makes,
 * and qraft_node_status (a one-shot connection of its own, no session).
 *
 * Replies are read with the wire cursor: unknown keys are skipped, a known
 * key of the wrong type is a protocol error (QRAFT_EPROTO). The engine
 * keeps a copy of a successful reply in the request; each call parses it
 * once the request has completed and copies its results out.
 */
#include "client/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most elements of an array or map in a reply before we call it broken. */
#define OPS_ELEMENTS_MAX 100000

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

int opsParseResult(struct clientReq *r, const void *payload, size_t len)
{
    int rv = 0;
    if (r->async && r->complete == NULL) {
        rv = opsSendResult(payload, len, &r->sent);
        if (rv != 0) {
            snprintf(r->errmsg, sizeof r->errmsg,
                     "ProtocolError: SendMessage reply is malformed");
        }
        return rv;
    }
    r->reply = malloc(len > 0 ? len : 1);
    if (r->reply == NULL) {
        snprintf(r->errmsg, sizeof r->errmsg,
                 "NoMemory: reply too large for memory");
        return QRAFT_ENOMEM;
    }
    memcpy(r->reply, payload, len);
    r->replyLen = len;
    return 0;
}

int opsFind(const void *payload,
            size_t len,
            const char *key,
            struct wireCursor *cur,
            struct wireValue *v)
{
    struct wireValue m;
    struct wireValue k;
    size_t i;
    wireCursorInit(cur, payload, len);
    if (wireNext(cur, &m) != 0 || m.type != WIRE_MAP) {
        return -1;
    }
    for (i = 0; i < m.len; i++) {
        if (wireNext(cur, &k) != 0 || wireSkipElements(cur, &k) != 0 ||
            wireNext(cur, v) != 0) {
            return -1;
        }
        if (wireStrEq(&k, key)) {
            return 1;
        }
        if (wireSkipElements(cur, v) != 0) {
            return -1;
        }
    }
    return 0;
}

int opsText(const struct wireValue *v, char *dst, size_t cap)
{
    if (v->type == WIRE_UINT) {
        int n = snprintf(dst, cap, "%" PRIu64, v->u);
        return n >= 0 && (size_t)n < cap ? 0 : -1;
    }
    if (v->type != WIRE_STR) {
        return -1;
    }
    return wireStrCopy(v, dst, cap);
}

char *opsDup(const struct wireValue *v)
{
    char *d;
    char num[24];
    const char *src = v->ptr;
    size_t len = v->len;
    if (v->type == WIRE_UINT) {
        snprintf(num, sizeof num, "%" PRIu64, v->u);
        src = num;
        len = strlen(num);
    } else if (v->type != WIRE_STR && v->type != WIRE_BIN) {
        return NULL;
    }
    d = malloc(len + 1);
    if (d != NULL) {
        if (len > 0) {
            memcpy(d, src, len);
        }
        d[len] = '\0';
    }
    return d;
}

int opsStrings(struct wireCursor *cur,
               const struct wireValue *v,
               char ***out,
               size_t *n)
{
    struct wireValue s;
    char **names;
    size_t i;
    *out = NULL;
    *n = 0;
    if (v->type != WIRE_ARRAY || v->len > OPS_ELEMENTS_MAX) {
        return QRAFT_EPROTO;
    }
    if (v->len == 0) {
        return 0;
    }
    names = calloc(v->len, sizeof *names);
    if (names == NULL) {
        return QRAFT_ENOMEM;
    }
    for (i = 0; i < v->len; i++) {
        if (wireNext(cur, &s) != 0 || s.type != WIRE_STR) {
            qraft_strings_free(names, v->len);
            return QRAFT_EPROTO;
        }
        names[i] = opsDup(&s);
        if (names[i] == NULL) {
            qraft_strings_free(names, v->len);
            return QRAFT_ENOMEM;
        }
    }
    *out = names;
    *n = v->len;
    return 0;
}

int opsStrMap(struct wireCursor *cur,
              const struct wireValue *v,
              struct qraft_attr **out,
              size_t *n)
{
    struct wireValue k;
    struct wireValue x;
    struct qraft_attr *attrs;
    size_t i;
    int rv = QRAFT_EPROTO;
    *out = NULL;
    *n = 0;
    if (v->type != WIRE_MAP || v->len > OPS_ELEMENTS_MAX) {
        return QRAFT_EPROTO;
    }
    if (v->len == 0) {
        return 0;
    }
    attrs = calloc(v->len, sizeof *attrs);
    if (attrs == NULL) {
        return QRAFT_ENOMEM;
    }
    for (i = 0; i < v->len; i++) {
        if (wireNext(cur, &k) != 0 || k.type != WIRE_STR ||
            wireNext(cur, &x) != 0 ||
            (x.type != WIRE_STR && x.type != WIRE_UINT)) {
            goto err;
        }
        attrs[i].name = opsDup(&k);
        attrs[i].value = opsDup(&x);
        if (attrs[i].name == NULL || attrs[i].value == NULL) {
            rv = QRAFT_ENOMEM;
            goto err;
        }
    }
    *out = attrs;
    *n = v->len;
    return 0;
err:
    qraft_attrs_free(attrs, v->len);
    return rv;
}

int opsSendResult(const void *payload,
                  size_t len,
                  struct qraft_send_result *res)
{
    static const char *const keys[] = {"MessageId", "MD5OfMessageBody",
                                       "MD5OfMessageAttributes",
                                       "SequenceNumber"};
    char *const dst[] = {res->message_id, res->md5_body, res->md5_attrs,
                         res->sequence_number};
    const size_t cap[] = {sizeof res->message_id, sizeof res->md5_body,
                          sizeof res->md5_attrs,
                          sizeof res->sequence_number};
    struct wireCursor cur;
    struct wireValue v;
    size_t i;
    int found;
    memset(res, 0, sizeof *res);
    for (i = 0; i < 4; i++) {
        found = opsFind(payload, len, keys[i], &cur, &v);
        if (found < 0 || (found == 0 && i == 0) ||
            (found == 1 && opsText(&v, dst[i], cap[i]) != 0)) {
            return QRAFT_EPROTO;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Calls                                                                   */

int opsRun(qraft_client *c, struct clientReq *r, struct clientReq **done)
{
    struct clientReq *d;
    int rv;
    if (done != NULL) {
        *done = NULL;
    }
    if (r == NULL) {
        clientErrf(c, "NoMemory: out of memory");
        return QRAFT_ENOMEM;
    }
    rv = clientCall(c, r, &d);
    if (rv == QRAFT_OK && done != NULL) {
        *done = d;
    } else {
        clientReqFree(d);
    }
    return rv;
}

int opsCheck(qraft_client *c, const void *a, const void *b)
{
    if (c == NULL) {
        return QRAFT_EINVAL;
    }
    if (clientBusy(c)) {
        return QRAFT_EINVAL;
    }
    if (a == NULL || b == NULL) {
        return opsInval(c, "a required argument is NULL");
    }
    return 0;
}

int opsInval(qraft_client *c, const char *why)
{
    clientErrf(c, "InvalidArgument: %s", why);
    return QRAFT_EINVAL;
}

int opsBadReply(qraft_client *c, struct clientReq *r, const char *what)
{
    clientErrf(c, "ProtocolError: %s reply %s", clientOpName(r->op), what);
    clientReqFree(r);
    return QRAFT_EPROTO;
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

QRAFT_API void qraft_attrs_free(struct qraft_attr *attrs, size_t n)
{
    size_t i;
    if (attrs == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free((char *)attrs[i].name);
        free((char *)attrs[i].value);
    }
    free(attrs);
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
    q.id = 1;
    q.op = clientOpName(CLIENT_OP_HELLO);
    q.op_len = strlen(q.op);
    q.version = QRAFT_PROTOCOL_VERSION;
    rv = qraft_wire_encode_request(&q, &f1, &l1);
    q.id = 2;
    q.op = clientOpName(CLIENT_OP_STATUS);
    q.op_len = strlen(q.op);
    q.version = 0;
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
