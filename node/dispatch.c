/* Request dispatch: from a decoded frame to a reply.
 *
 * The node refuses before the log only what is malformed (the codec's
 * errors) and what is retryable (NotLeader, Unavailable); every other rule
 * is the state machine's, so that its refusal is stored in the client's
 * session like any reply (DESIGN.md "Client sessions"). A well-formed
 * mutating request therefore always reaches the log when this node leads.
 */
#include "node/internal.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request waiting for the log (proposal) or a barrier (read). */
struct pending
{
    struct conn *conn;
    uint64_t id;
    unsigned fsm_op;
};

static void packStr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Send a map packed into @sb (no id) as the reply to @id. */
static void replyPacked(struct conn *c, uint64_t id, msgpack_sbuffer *sb)
{
    void *frame;
    size_t len;

    if (qraft_wire_encode_reply(id, sb->data, sb->size, &frame, &len) != 0) {
        connWriteError(c, id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
        return;
    }
    connWrite(c, frame, len);
}

static void replyNotLeader(struct conn *c, uint64_t id)
{
    struct server *s = c->server;
    struct replicaStatus st;
    const char *leader = NULL;
    char message[96];

    replicaGetStatus(s->replica, &st);
    if (st.leader_id != 0 && st.leader_id != s->config->id) {
        leader = serverClientAddr(s, st.leader_id);
        snprintf(message, sizeof message, "not the leader; the leader is node %llu",
                 (unsigned long long)st.leader_id);
    } else {
        snprintf(message, sizeof message, "not the leader; no leader known");
    }
    connWriteError(c, id, QRAFT_ENOTLEADER, message, leader != NULL ? leader : "");
}

/* Answer a refusal of replicaPropose/replicaRead (nothing was proposed). */
static void replyRefused(struct conn *c, uint64_t id, int rv)
{
    switch (rv) {
        case REPLICA_ENOTLEADER:
            replyNotLeader(c, id);
            break;
        case REPLICA_ENOTREADY:
            connWriteError(c, id, QRAFT_EUNAVAILABLE,
                           "leader elected, not ready yet: retry", NULL);
            break;
        case REPLICA_ESHUTDOWN:
            connWriteError(c, id, QRAFT_EUNAVAILABLE, "node shutting down: retry", NULL);
            break;
        default:
            connWriteError(c, id, QRAFT_EINTERNAL, "out of memory", NULL);
            break;
    }
}

static void helloServe(struct conn *c, const struct qraft_request *req)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char message[96];

    if (req->version != QRAFT_PROTOCOL_VERSION) {
        snprintf(message, sizeof message, "protocol version %u not supported; this node speaks %d",
                 req->version, QRAFT_PROTOCOL_VERSION);
        connWriteError(c, req->id, QRAFT_EMALFORMED, message, NULL);
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    packStr(&pk, "ok");
    msgpack_pack_true(&pk);
    packStr(&pk, "version");
    msgpack_pack_uint32(&pk, QRAFT_PROTOCOL_VERSION);
    packStr(&pk, "node");
    msgpack_pack_uint64(&pk, c->server->config->id);
    replyPacked(c, req->id, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static const struct nodePeer *peerOf(struct server *s, uint64_t id)
{
    size_t i;
    for (i = 0; i < s->config->n_peers; i++) {
        if (s->config->peers[i].id == id) {
            return &s->config->peers[i];
        }
    }
    return NULL;
}

const char *serverClientAddr(struct server *s, uint64_t id)
{
    const struct nodePeer *p = peerOf(s, id);
    if (id == s->config->id) {
        return s->config->client_addr;
    }
    return p != NULL ? p->client_addr : NULL;
}

static void statusServe(struct conn *c, const struct qraft_request *req)
{
    struct server *s = c->server;
    struct replicaStatus st;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char digest[33];
    size_t i;

    replicaGetStatus(s->replica, &st);
    fsmDigest(s->fsm, digest);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 11);
    packStr(&pk, "ok");
    msgpack_pack_true(&pk);
    packStr(&pk, "node");
    msgpack_pack_uint64(&pk, s->config->id);
    packStr(&pk, "zone");
    packStr(&pk, s->config->zone);
    packStr(&pk, "role");
    packStr(&pk, st.role);
    packStr(&pk, "state");
    packStr(&pk, st.state);
    packStr(&pk, "term");
    msgpack_pack_uint64(&pk, st.term);
    packStr(&pk, "last_index");
    msgpack_pack_uint64(&pk, st.last_index);
    packStr(&pk, "applied");
    msgpack_pack_uint64(&pk, st.applied_index);
    packStr(&pk, "leader");
    msgpack_pack_uint64(&pk, st.leader_id);
    packStr(&pk, "digest");
    packStr(&pk, digest);
    packStr(&pk, "members");
    msgpack_pack_array(&pk, st.n_members);
    for (i = 0; i < st.n_members; i++) {
        const struct replicaMember *m = &st.members[i];
        const struct nodePeer *p = peerOf(s, m->id);
        const char *zone = m->id == s->config->id ? s->config->zone : p != NULL ? p->zone : "";
        const char *client = serverClientAddr(s, m->id);
        msgpack_pack_map(&pk, 5);
        packStr(&pk, "id");
        msgpack_pack_uint64(&pk, m->id);
        packStr(&pk, "zone");
        packStr(&pk, zone);
        packStr(&pk, "raft");
        packStr(&pk, m->raft_addr);
        packStr(&pk, "client");
        packStr(&pk, client != NULL ? client : "");
        packStr(&pk, "role");
        packStr(&pk, m->role);
    }
    replyPacked(c, req->id, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static struct pending *pendingNew(struct conn *c, uint64_t id, unsigned fsm_op)
{
    struct pending *p = malloc(sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->conn = c;
    p->id = id;
    p->fsm_op = fsm_op;
    connRequestBegin(c);
    return p;
}

static void pendingDone(struct pending *p)
{
    connRequestEnd(p->conn);
    free(p);
}

static void proposedCb(void *arg, int status, const struct fsmReply *reply)
{
    struct pending *p = arg;
    void *frame;
    size_t len;

    if (status == REPLICA_OK) {
        if (qraft_wire_encode_reply(p->id, reply->data, reply->len, &frame, &len) == 0) {
            connWrite(p->conn, frame, len);
        } else {
            connWriteError(p->conn, p->id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
        }
    } else {
        connWriteError(p->conn, p->id, QRAFT_EUNKNOWN_OUTCOME,
                       "leadership lost while the request was in flight: it may or may not "
                       "have been applied; retry with the same sequence",
                       NULL);
    }
    pendingDone(p);
}

static void queryAfterBarrierCb(void *arg, int status)
{
    struct pending *p = arg;
    struct server *s = p->conn->server;
    struct fsmCommand cmd;
    struct fsmReply reply;
    void *frame;
    size_t len;

    if (status != REPLICA_OK) {
        connWriteError(p->conn, p->id, QRAFT_EUNAVAILABLE,
                       "leadership lost before the read: retry", NULL);
        pendingDone(p);
        return;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.op = p->fsm_op;
    cmd.visibility_s = -1;
    if (fsmQuery(s->fsm, &cmd, &reply) != 0) {
        connWriteError(p->conn, p->id, QRAFT_EINTERNAL, fsmErrmsg(s->fsm), NULL);
    } else if (qraft_wire_encode_reply(p->id, reply.data, reply.len, &frame, &len) == 0) {
        connWrite(p->conn, frame, len);
    } else {
        connWriteError(p->conn, p->id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
    }
    pendingDone(p);
}

/* The fsm op of a wire op that goes through the log or a barrier. */
static unsigned fsmOpOf(int op)
{
    switch (op) {
        case QRAFT_OP_QUEUE_CREATE:
            return FSM_OP_QUEUE_CREATE;
        case QRAFT_OP_QUEUE_DELETE:
            return FSM_OP_QUEUE_DELETE;
        case QRAFT_OP_QUEUE_LIST:
            return FSM_OP_QUEUE_LIST;
        case QRAFT_OP_SEND:
            return FSM_OP_SEND;
        case QRAFT_OP_RECEIVE:
            return FSM_OP_RECEIVE;
        case QRAFT_OP_DELETE:
            return FSM_OP_DELETE;
        default:
            return 0;
    }
}

static void readServe(struct conn *c, const struct qraft_request *req, unsigned fsm_op)
{
    struct pending *p = pendingNew(c, req->id, fsm_op);
    int rv;

    if (p == NULL) {
        connWriteError(c, req->id, QRAFT_EINTERNAL, "out of memory", NULL);
        return;
    }
    rv = replicaRead(c->server->replica, queryAfterBarrierCb, p);
    if (rv != 0) {
        replyRefused(c, req->id, rv);
        pendingDone(p);
    }
}

static void proposeServe(struct conn *c, const struct qraft_request *req, unsigned fsm_op)
{
    struct fsmCommand cmd;
    struct pending *p;
    int rv;

    memset(&cmd, 0, sizeof cmd);
    cmd.op = fsm_op;
    cmd.client_id = req->client_id;
    cmd.seq = req->seq;
    cmd.ack = req->ack;
    cmd.queue = req->queue;
    cmd.queue_len = req->queue_len;
    cmd.body = req->body;
    cmd.body_len = req->body_len;
    cmd.receipt = req->receipt;
    cmd.receipt_len = req->receipt_len;
    cmd.max_messages = req->max_messages;
    cmd.visibility_s = req->visibility_s;

    p = pendingNew(c, req->id, fsm_op);
    if (p == NULL) {
        connWriteError(c, req->id, QRAFT_EINTERNAL, "out of memory", NULL);
        return;
    }
    rv = replicaPropose(c->server->replica, &cmd, proposedCb, p);
    if (rv != 0) {
        replyRefused(c, req->id, rv);
        pendingDone(p);
    }
}

void dispatchFrame(struct conn *c, const void *payload, size_t len)
{
    struct qraft_request req;
    char errmsg[256];
    unsigned fsm_op;
    int rv;

    rv = qraft_wire_decode_request(payload, len, &req, errmsg, sizeof errmsg);
    if (rv != 0) {
        connWriteError(c, req.id, rv, errmsg, NULL);
        return;
    }
    switch (req.op) {
        case QRAFT_OP_HELLO:
            helloServe(c, &req);
            return;
        case QRAFT_OP_STATUS:
            statusServe(c, &req);
            return;
        default:
            break;
    }
    fsm_op = fsmOpOf(req.op);
    if (fsm_op == 0) {
        connWriteError(c, req.id, QRAFT_EUNKNOWN_OP, "unknown operation", NULL);
    } else if (fsmOpMutates(fsm_op)) {
        proposeServe(c, &req, fsm_op);
    } else {
        readServe(c, &req, fsm_op);
    }
}
