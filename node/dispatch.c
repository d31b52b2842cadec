/* Request dispatch: from a decoded frame to a reply.
 *
 * The node refuses before the log only what the client library never sends
 * (the codec's envelope errors, a missing session) and what is retryable
 * (NotLeader, Unavailable). Every other refusal of a session request is
 * stored in its session like any reply (DESIGN.md "Client sessions"), so
 * a well-formed mutating request always reaches the log when this node
 * leads: one that the state machine's check refuses goes as it is (apply
 * refuses it the same way), and one refused here because the store is
 * past its high-water mark goes as a refusal (cmd.refuse), without args.
 * Reads that fail the check are answered at once.
 *
 * Reads (ListQueues, GetQueueAttributes, ...) wait for a barrier, then ask
 * the state machine. Receives may come back WouldWait and are parked by
 * longpoll.c until something may be deliverable.
 */
#include "node/internal.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    replicaGetStatus(s->replica, &st); /* settles: the digest is the loop's to read */
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

static struct pending *pendingNew(struct conn *c, const struct qraft_request *req,
                                  unsigned fsm_op, bool copy_args)
{
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->conn = c;
    p->id = req->id;
    p->fsm_op = fsm_op;
    p->client_id = req->client_id;
    p->seq = req->seq;
    p->ack = req->ack;
    if (copy_args && req->args_len > 0) {
        p->args = malloc(req->args_len);
        if (p->args == NULL) {
            free(p);
            return NULL;
        }
        memcpy(p->args, req->args, req->args_len);
        p->args_len = req->args_len;
    }
    connRequestBegin(c);
    return p;
}

static void pendingDone(struct pending *p)
{
    p->conn->server->growth_in_flight -= p->growth;
    connRequestEnd(p->conn);
    free(p->args);
    free(p);
}

void dispatchFail(struct pending *p, int code, const char *message)
{
    if (code == QRAFT_ENOTLEADER) {
        replyNotLeader(p->conn, p->id);
    } else {
        connWriteError(p->conn, p->id, code, message, NULL);
    }
    pendingDone(p);
}

/* The command of @p (args in its own copy, or in @args when given). */
static void commandOf(const struct pending *p, const void *args, size_t args_len,
                      struct fsmCommand *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->op = p->fsm_op;
    cmd->client_id = p->client_id;
    cmd->seq = p->seq;
    cmd->ack = p->ack;
    cmd->args = args != NULL ? args : p->args;
    cmd->args_len = args != NULL ? args_len : p->args_len;
}

static void proposedCb(void *arg, int status, const struct fsmReply *reply)
{
    struct pending *p = arg;
    struct server *s = p->conn->server;
    void *frame;
    size_t len;

    if (status == REPLICA_ENOTLEADER || status == REPLICA_ENOMEM ||
        status == REPLICA_ESHUTDOWN) {
        /* Nothing reached the log: the same answers as a refusal. */
        replyRefused(p->conn, p->id, status);
        pendingDone(p);
        return;
    }
    if (status != REPLICA_OK) {
        dispatchFail(p, QRAFT_EUNKNOWN_OUTCOME,
                     "leadership lost while the request was in flight: it may or may not "
                     "have been applied; retry with the same sequence");
        return;
    }
    if (reply->would_wait) {
        if (p->conn->closing) {
            pendingDone(p);
        } else {
            longpollPark(s, p, reply->wait_s, reply->next_visible_ms);
        }
        return;
    }
    if (p->attempt_len > 0) {
        attemptsPut(s, p->attempt, p->attempt_len, reply->data, reply->len);
    }
    if (qraft_wire_encode_reply(p->id, reply->data, reply->len, &frame, &len) == 0) {
        connWrite(p->conn, frame, len);
    } else {
        connWriteError(p->conn, p->id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
    }
    if (p->queue[0] != '\0' || reply->wake_all) {
        longpollNotify(s, p->queue, reply->wake, reply->wake_all, reply->next_visible_ms);
    }
    pendingDone(p);
}

void dispatchPropose(struct pending *p, bool wait)
{
    struct fsmCommand cmd;
    int rv;

    commandOf(p, NULL, 0, &cmd);
    cmd.wait = wait;
    rv = replicaPropose(p->conn->server->replica, &cmd, proposedCb, p);
    if (rv != 0) {
        replyRefused(p->conn, p->id, rv);
        pendingDone(p);
    }
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
        dispatchFail(p, QRAFT_EUNAVAILABLE, "leadership lost before the read: retry");
        return;
    }
    commandOf(p, NULL, 0, &cmd);
    cmd.now_ms = replicaNow(s->replica);
    if (fsmQuery(s->fsm, &cmd, &reply) != 0) {
        connWriteError(p->conn, p->id, QRAFT_EINTERNAL, fsmErrmsg(s->fsm), NULL);
    } else if (qraft_wire_encode_reply(p->id, reply.data, reply.len, &frame, &len) == 0) {
        connWrite(p->conn, frame, len);
    } else {
        connWriteError(p->conn, p->id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
    }
    pendingDone(p);
}

/* Live data may fill this share of the LMDB map; the rest is the reserve
 * for deletes, purges, receives' stored replies, housekeeping, and pages a
 * snapshot's pinned read transaction keeps from reuse (DESIGN.md
 * "Storage": applying must never meet a full map). */
#define STORE_HIGH_WATER_PERCENT 60

/* Ops that make the store grow, refused before the log once it is full. */
static bool opGrows(unsigned op)
{
    return op == FSM_OP_SEND_MESSAGE || op == FSM_OP_SEND_MESSAGE_BATCH ||
           op == FSM_OP_CREATE_QUEUE || op == FSM_OP_TAG_QUEUE ||
           op == FSM_OP_SET_QUEUE_ATTRIBUTES;
}

/* Whether a growing request of @bytes fits under the high-water mark,
 * counting the growing requests still in flight. Measured at most every
 * 50 ms. */
static bool storeHasRoom(struct server *s, size_t bytes, char *errmsg, size_t len)
{
    uint64_t now = uv_now(&s->loop);
    uint64_t limit;

    if (s->store_capacity == 0 || now - s->store_measured_at >= 50) {
        if (replicaSettle(s->replica) != REPLICA_OK ||
            fsmStoreUsage(s->fsm, &s->store_used, &s->store_capacity) != 0) {
            snprintf(errmsg, len, "cannot measure the store: %s", fsmErrmsg(s->fsm));
            return false;
        }
        s->store_measured_at = now;
    }
    limit = s->store_capacity / 100 * STORE_HIGH_WATER_PERCENT;
    if (s->store_used + s->growth_in_flight + bytes <= limit) {
        return true;
    }
    snprintf(errmsg, len,
             "the store holds %llu MiB of its %llu MiB map (high-water mark %d%%): "
             "sends are refused until messages are deleted or --map-size is raised",
             (unsigned long long)(s->store_used >> 20),
             (unsigned long long)(s->store_capacity >> 20), STORE_HIGH_WATER_PERCENT);
    return false;
}

/* Serve a state machine op: check it, then read after a barrier or
 * propose it. */
static void fsmServe(struct conn *c, const struct qraft_request *req, unsigned fsm_op)
{
    struct fsmCommand cmd;
    struct pending *p;
    const char *queue;
    size_t queue_len;
    char errmsg[256];
    char key[FSM_QUEUE_NAME_MAX + 1 + 128 + 1];
    size_t key_len = 0;
    enum fsmError e;
    bool mutates = fsmOpMutates(fsm_op);
    int rv;

    if (mutates && (req->client_id == 0 || req->seq == 0)) {
        connWriteError(c, req->id, QRAFT_EMALFORMED,
                       "this operation changes state: cid and seq are required", NULL);
        return;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.op = fsm_op;
    cmd.client_id = mutates ? req->client_id : 0;
    cmd.seq = mutates ? req->seq : 0;
    cmd.ack = mutates ? req->ack : 0;
    cmd.args = req->args;
    cmd.args_len = req->args_len;
    /* A read is answered here. A session request that the state machine
     * would refuse still goes to the log, where the refusal is stored
     * like any reply: its sequence must be consumed, or every later
     * request of the session would wait behind the gap. */
    e = fsmCommandCheck(&cmd, errmsg, sizeof errmsg);
    if (e != FSM_ERR_NONE && !mutates) {
        const char *name = fsmErrorName(e);
        connWriteError(c, req->id, qraft_errcode(name, strlen(name)), errmsg, NULL);
        return;
    }
    if (e == FSM_ERR_NONE && opGrows(fsm_op) &&
        !storeHasRoom(c->server, req->args_len, errmsg, sizeof errmsg)) {
        /* The refusal goes through the log too, without the args. One log
         * line per 10 s at most: a full store refuses every send. */
        if (uv_now(&c->server->loop) >= c->server->store_logged_at + 10000 ||
            c->server->store_logged_at == 0) {
            nodeLog(NODE_LOG_WARN, "refusing sends", "reason=\"%s\"", errmsg);
            c->server->store_logged_at = uv_now(&c->server->loop);
        }
        cmd.refuse = FSM_ERR_OVER_LIMIT;
        cmd.args = NULL;
        cmd.args_len = 0;
    }
    if (fsm_op == FSM_OP_RECEIVE_MESSAGE && e == FSM_ERR_NONE &&
        attemptKeyOf(req->args, req->args_len, key, &key_len)) {
        const void *kept;
        size_t kept_len;
        void *frame;
        size_t frame_len;
        if (attemptsGet(c->server, key, key_len, &kept, &kept_len)) {
            /* A retried FIFO receive: the first one's reply again. */
            if (qraft_wire_encode_reply(req->id, kept, kept_len, &frame, &frame_len) == 0) {
                connWrite(c, frame, frame_len);
            } else {
                connWriteError(c, req->id, QRAFT_EINTERNAL, "could not encode the reply", NULL);
            }
            return;
        }
    } else {
        key_len = 0;
    }
    /* Reads and receives outlive the frame (barrier, long poll): they keep
     * a copy of their args. */
    p = pendingNew(c, req, fsm_op, !mutates || fsm_op == FSM_OP_RECEIVE_MESSAGE);
    if (p == NULL) {
        connWriteError(c, req->id, QRAFT_EINTERNAL, "out of memory", NULL);
        return;
    }
    if (key_len > 0 && key_len <= sizeof p->attempt) {
        memcpy(p->attempt, key, key_len);
        p->attempt_len = key_len;
    }
    if (fsmCommandQueue(&cmd, &queue, &queue_len) && queue_len < sizeof p->queue) {
        memcpy(p->queue, queue, queue_len);
        p->queue[queue_len] = '\0';
    }
    if (!mutates) {
        rv = replicaRead(c->server->replica, queryAfterBarrierCb, p);
    } else {
        cmd.wait = fsm_op == FSM_OP_RECEIVE_MESSAGE;
        rv = replicaPropose(c->server->replica, &cmd, proposedCb, p);
    }
    if (rv != 0) {
        replyRefused(c, req->id, rv);
        pendingDone(p);
        return;
    }
    if (opGrows(fsm_op) && cmd.refuse == FSM_ERR_NONE) {
        p->growth = req->args_len;
        c->server->growth_in_flight += p->growth;
    }
}

/* "cancel" (node/http's forwarder): drop the long-poll waiter of this
 * connection whose request id is args.id, as if its connection had
 * closed. The cancelled request gets an error reply; cancel itself gets
 * {"ok": true, "cancelled": bool}. */
static void cancelServe(struct conn *c, const struct qraft_request *req)
{
    msgpack_unpacked u;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t target = 0;
    bool found = false;
    size_t off = 0;
    uint32_t i;

    msgpack_unpacked_init(&u);
    if (req->args != NULL &&
        msgpack_unpack_next(&u, req->args, req->args_len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 2 &&
                memcmp(kv->key.via.str.ptr, "id", 2) == 0 &&
                kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                target = kv->val.via.u64;
                found = true;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    if (!found) {
        connWriteError(c, req->id, QRAFT_EMALFORMED, "cancel: args.id is required", NULL);
        return;
    }
    found = longpollCancel(c->server, c, target);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    packStr(&pk, "ok");
    msgpack_pack_true(&pk);
    packStr(&pk, "cancelled");
    if (found) {
        msgpack_pack_true(&pk);
    } else {
        msgpack_pack_false(&pk);
    }
    replyPacked(c, req->id, &sb);
    msgpack_sbuffer_destroy(&sb);
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
    if (req.op_len == 5 && memcmp(req.op, "hello", 5) == 0) {
        helloServe(c, &req);
        return;
    }
    if (req.op_len == 6 && memcmp(req.op, "status", 6) == 0) {
        statusServe(c, &req);
        return;
    }
    if (req.op_len == 6 && memcmp(req.op, "cancel", 6) == 0) {
        cancelServe(c, &req);
        return;
    }
    fsm_op = fsmOpByName(req.op, req.op_len);
    if (fsm_op == 0 || fsm_op == FSM_OP_TICK || fsm_op == FSM_OP_SWEEP) {
        char message[128];
        snprintf(message, sizeof message, "unknown operation '%.*s'",
                 (int)(req.op_len > 64 ? 64 : req.op_len), req.op);
        connWriteError(c, req.id, QRAFT_EUNKNOWN_OP, message, NULL);
        return;
    }
    fsmServe(c, &req, fsm_op);
}
