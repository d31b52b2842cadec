/* The checker: a model of the queues, driven by the applied log.
 *
 * Every server records what it applies (simLogRecord); the first server to
 * apply an index defines it and every other one must apply the same bytes
 * and produce the same reply bytes (invariant 1, checked as the run goes;
 * the final snapshots are compared in cluster.c).
 *
 * After the run, simModelCheck replays the log in index order. The model
 * does not decide outcomes: it takes each reply as the state machine gave
 * it, and checks that the reply is possible given everything before it:
 *   - sessions: a seq is applied once, in order, with no gaps; a retry gets
 *     the stored reply byte for byte, or for a ReceiveMessage that reply
 *     less messages deleted or purged since (3);
 *   - a delivered message was sent, with that body, into that queue, and is
 *     neither deleted (by an acknowledged delete with its latest receipt) nor
 *     purged (3);
 *   - a delivered message was visible at the command's now_ms: not delayed,
 *     not within the visibility timeout of an earlier receive or of an
 *     acknowledged ChangeMessageVisibility (5);
 *   - FIFO: in each group, deliveries follow send order; nothing of a group
 *     is delivered while another of its messages is in flight; a send whose
 *     deduplication id was accepted less than 5 minutes before creates no
 *     message (4);
 *   - at the end (after the drain), no message sent is still in the queue,
 *     and every MessageId a client was acknowledged exists (2).
 * Where a reply leaves the state ambiguous (a delete or visibility change
 * acknowledged with a receipt older than the latest), the message is marked
 * uncertain and checked no further.
 */
#include "tests/sim/sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deduplication interval of FIFO queues (SQS: 5 minutes), and a margin
 * around its end where either outcome is accepted. */
#define DEDUPE_MS 300000u
#define DEDUPE_MARGIN_MS 1000u

const char *simInvariantName(int inv)
{
    switch (inv) {
        case SIM_INV_IDENTICAL:
            return "1 (every server has byte-identical state)";
        case SIM_INV_LOST:
            return "2 (nothing acknowledged is lost)";
        case SIM_INV_SENT:
            return "3 (nothing delivered that was not sent; retries apply once)";
        case SIM_INV_FIFO:
            return "4 (FIFO order, group blocking, deduplication)";
        case SIM_INV_VISIBLE:
            return "5 (never delivered while invisible)";
        case SIM_INV_LIVENESS:
            return "liveness (the healed cluster converges)";
        default:
            return "?";
    }
}

void simFail(struct sim *sim, int inv, raft_index index, const char *fmt, ...)
{
    va_list ap;

    if (sim->failure.inv != SIM_INV_NONE) {
        return;
    }
    sim->failure.inv = inv;
    sim->failure.index = index;
    va_start(ap, fmt);
    vsnprintf(sim->failure.text, sizeof sim->failure.text, fmt, ap);
    va_end(ap);
    simEvent(sim, "FAILURE: invariant %d: %s", inv, sim->failure.text);
}

void simLogRecord(struct sim *sim,
                  unsigned s,
                  raft_index index,
                  const void *buf,
                  size_t len,
                  const void *reply,
                  size_t reply_len)
{
    struct simEntry *e;

    if (index >= sim->log_cap) {
        size_t cap = sim->log_cap ? sim->log_cap : 1024;
        while (cap <= index) {
            cap *= 2;
        }
        sim->log = realloc(sim->log, cap * sizeof *sim->log);
        memset(sim->log + sim->log_cap, 0, (cap - sim->log_cap) * sizeof *sim->log);
        sim->log_cap = cap;
    }
    e = &sim->log[index];
    if (!e->set) {
        if (reply == NULL) {
            /* Only a server that applied the entry before records it
             * first: one that skips it holds it from an image. */
            simFail(sim, SIM_INV_IDENTICAL, index,
                    "server %u skipped entry %llu, which no server had applied", s,
                    (unsigned long long)index);
            return;
        }
        e->set = true;
        e->server = s;
        e->buf = malloc(len);
        memcpy(e->buf, buf, len);
        e->len = len;
        e->reply = malloc(reply_len);
        memcpy(e->reply, reply, reply_len);
        e->reply_len = reply_len;
        e->time = sim->f.time;
        if (index > sim->log_max) {
            sim->log_max = index;
        }
        return;
    }
    if (e->len != len || memcmp(e->buf, buf, len) != 0) {
        simFail(sim, SIM_INV_IDENTICAL, index,
                "server %u applied a different entry at index %llu than server %u", s,
                (unsigned long long)index, e->server);
    } else if (reply != NULL &&
               (e->reply_len != reply_len || memcmp(e->reply, reply, reply_len) != 0)) {
        simFail(sim, SIM_INV_IDENTICAL, index,
                "server %u replied differently to entry %llu than server %u (the state "
                "machines diverged)",
                s, (unsigned long long)index, e->server);
    }
}

/* ------------------------------------------------------------------------ */
/* A string-keyed map to indexes (open addressing). */

struct mMap
{
    char **keys;
    unsigned *vals;
    size_t cap, n;
};

static uint64_t mapHash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    }
    return h;
}

static unsigned *mapFind(struct mMap *m, const char *key)
{
    size_t i;

    if (m->cap == 0) {
        return NULL;
    }
    for (i = mapHash(key) & (m->cap - 1); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1)) {
        if (strcmp(m->keys[i], key) == 0) {
            return &m->vals[i];
        }
    }
    return NULL;
}

static void mapPut(struct mMap *m, const char *key, unsigned val)
{
    size_t i;
    unsigned *v = mapFind(m, key);

    if (v != NULL) {
        *v = val;
        return;
    }
    if ((m->n + 1) * 2 > m->cap) {
        struct mMap bigger = {0};
        bigger.cap = m->cap ? m->cap * 2 : 256;
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        for (i = 0; i < m->cap; i++) {
            if (m->keys[i] != NULL) {
                size_t j = mapHash(m->keys[i]) & (bigger.cap - 1);
                while (bigger.keys[j] != NULL) {
                    j = (j + 1) & (bigger.cap - 1);
                }
                bigger.keys[j] = m->keys[i];
                bigger.vals[j] = m->vals[i];
            }
        }
        bigger.n = m->n;
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    for (i = mapHash(key) & (m->cap - 1); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1)) {
    }
    m->keys[i] = strdup(key);
    m->vals[i] = val;
    m->n++;
}

static void mapFree(struct mMap *m)
{
    size_t i;
    for (i = 0; i < m->cap; i++) {
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
}

/* ------------------------------------------------------------------------ */
/* Model state. */

enum { M_LIVE, M_DELETED, M_PURGED, M_UNSURE };

struct mMsg
{
    char id[FSM_MESSAGE_ID_LEN + 8];
    char body[96];
    char group[16];
    unsigned queue;
    unsigned order;        /* send order within its queue */
    raft_index sent_index;
    raft_index gone_index; /* delete or purge */
    uint64_t sent_now;     /* now_ms of the send */
    uint64_t visible_at;   /* state machine clock */
    bool received;
    bool vis_unknown;
    int state;
    char receipt[FSM_RECEIPT_MAX + 1]; /* latest */
    bool in_reply;         /* scratch: delivered by the receive at hand */
};

/* Where a session's reply to a seq was stored: the command that first
 * applied it, and its reply. */
struct mStored
{
    raft_index index; /* 0: none */
    unsigned k;       /* command of that entry, from 1 */
    const void *reply;
    size_t reply_len;
};

struct mSession
{
    uint64_t cid;
    uint64_t last;
    uint64_t ack;
    struct mStored *stored; /* by seq */
    size_t cap;
};

struct model
{
    struct sim *sim;
    struct mMsg *msgs;
    size_t n_msgs, cap_msgs;
    struct mMap ids;      /* MessageId -> msg */
    struct mMap receipts; /* receipt -> msg */
    struct mMap dedupe;   /* "queue/dedupe id" -> msg that accepted it */
    struct mMap aliases;  /* MessageId of a deduplicated send -> index */
    struct mSession sessions[SIM_CLIENTS_MAX * 4];
    unsigned n_sessions;
    unsigned queue_vis[SIM_QUEUES]; /* default visibility, seconds */
    unsigned queue_sent[SIM_QUEUES];
    raft_index index; /* entry at hand */
    unsigned k;       /* its command at hand, from 1 */
    uint64_t now;
};

static int queueOf(struct model *m, const msgpack_object *name)
{
    unsigned q;
    for (q = 0; q < SIM_QUEUES; q++) {
        if (mpStrEq(name, m->sim->queue_names[q])) {
            return (int)q;
        }
    }
    return -1;
}

static struct mMsg *msgById(struct model *m, const char *id)
{
    unsigned *v = mapFind(&m->ids, id);
    return v != NULL ? &m->msgs[*v] : NULL;
}

static struct mSession *session(struct model *m, uint64_t cid)
{
    unsigned i;

    for (i = 0; i < m->n_sessions; i++) {
        if (m->sessions[i].cid == cid) {
            return &m->sessions[i];
        }
    }
    if (m->n_sessions == sizeof m->sessions / sizeof m->sessions[0]) {
        return NULL;
    }
    m->sessions[m->n_sessions].cid = cid;
    return &m->sessions[m->n_sessions++];
}

static void storeReply(struct mSession *s, uint64_t seq, const struct mStored *at)
{
    if (seq >= s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap <= seq) {
            cap *= 2;
        }
        s->stored = realloc(s->stored, cap * sizeof *s->stored);
        memset(s->stored + s->cap, 0, (cap - s->cap) * sizeof *s->stored);
        s->cap = cap;
    }
    s->stored[seq] = *at;
}

/* One message accepted by a send (or a batch entry) with @args. */
static void modelSend(struct model *m, int q, const msgpack_object *args, const msgpack_object *id)
{
    struct sim *sim = m->sim;
    struct mMsg *msg;
    char sid[FSM_MESSAGE_ID_LEN + 8];
    char key[64], dd[32] = "";
    uint64_t delay = 0;
    unsigned *d;
    bool unsure = false;

    if (!mpStr(id, sid, sizeof sid)) {
        simFail(sim, SIM_INV_SENT, m->index, "a send was acknowledged without a MessageId");
        return;
    }
    if (sim->queue_fifo[q] && mpStr(mpGet(args, "MessageDeduplicationId"), dd, sizeof dd)) {
        snprintf(key, sizeof key, "%d/%s", q, dd);
        d = mapFind(&m->dedupe, key);
        if (d != NULL) {
            uint64_t age = m->now - m->msgs[*d].sent_now;
            if (age + DEDUPE_MARGIN_MS < DEDUPE_MS) {
                /* A duplicate: no new message. */
                if (msgById(m, sid) == NULL) {
                    mapPut(&m->aliases, sid, (unsigned)m->index);
                }
                return;
            }
            unsure = age < DEDUPE_MS + DEDUPE_MARGIN_MS;
        }
    }
    if (msgById(m, sid) != NULL) {
        simFail(sim, SIM_INV_SENT, m->index,
                "two sends were given the same MessageId %s (the first at #%llu)", sid,
                (unsigned long long)msgById(m, sid)->sent_index);
        return;
    }
    if (m->n_msgs == m->cap_msgs) {
        m->cap_msgs = m->cap_msgs ? m->cap_msgs * 2 : 256;
        m->msgs = realloc(m->msgs, m->cap_msgs * sizeof *m->msgs);
    }
    msg = &m->msgs[m->n_msgs];
    memset(msg, 0, sizeof *msg);
    snprintf(msg->id, sizeof msg->id, "%s", sid);
    mpStr(mpGet(args, "MessageBody"), msg->body, sizeof msg->body);
    mpStr(mpGet(args, "MessageGroupId"), msg->group, sizeof msg->group);
    msg->queue = (unsigned)q;
    msg->order = m->queue_sent[q]++;
    msg->sent_index = m->index;
    msg->sent_now = m->now;
    mpU64(mpGet(args, "DelaySeconds"), &delay);
    msg->visible_at = m->now + delay * 1000;
    msg->state = unsure ? M_UNSURE : M_LIVE;
    mapPut(&m->ids, sid, (unsigned)m->n_msgs);
    if (sim->queue_fifo[q] && dd[0] != '\0' && !unsure) {
        mapPut(&m->dedupe, key, (unsigned)m->n_msgs);
    }
    m->n_msgs++;
}

/* Check a FIFO delivery of @msg against the rest of its group. */
static void checkFifo(struct model *m, struct mMsg *msg)
{
    size_t k;

    for (k = 0; k < m->n_msgs; k++) {
        struct mMsg *o = &m->msgs[k];
        if (o == msg || o->queue != msg->queue || strcmp(o->group, msg->group) != 0 ||
            o->state != M_LIVE || o->in_reply || o->vis_unknown) {
            continue;
        }
        if (o->received && m->now < o->visible_at) {
            simFail(m->sim, SIM_INV_FIFO, m->index,
                    "group %s served while its message %s (sent at #%llu) is in flight "
                    "until t=%.3fs: delivered %s",
                    msg->group, o->id, (unsigned long long)o->sent_index,
                    (double)(o->visible_at - SIM_EPOCH_MS) / 1000.0, msg->id);
            return;
        }
        if (o->order < msg->order) {
            simFail(m->sim, SIM_INV_FIFO, m->index,
                    "group %s out of order: %s (sent at #%llu) delivered while %s, sent "
                    "before it at #%llu, is still in the queue",
                    msg->group, msg->id, (unsigned long long)msg->sent_index, o->id,
                    (unsigned long long)o->sent_index);
            return;
        }
    }
}

static void modelReceive(struct model *m, int q, const msgpack_object *args,
                         const msgpack_object *reply)
{
    struct sim *sim = m->sim;
    const msgpack_object *list = mpGet(reply, "Messages");
    uint64_t vis = m->queue_vis[q];
    uint32_t i;

    mpU64(mpGet(args, "VisibilityTimeout"), &vis);
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
        return;
    }
    for (i = 0; i < list->via.array.size && sim->failure.inv == SIM_INV_NONE; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char id[FSM_MESSAGE_ID_LEN + 8], body[96], receipt[FSM_RECEIPT_MAX + 1];
        struct mMsg *msg;

        mpStr(mpGet(o, "MessageId"), id, sizeof id);
        mpStr(mpGet(o, "Body"), body, sizeof body);
        mpStr(mpGet(o, "ReceiptHandle"), receipt, sizeof receipt);
        msg = msgById(m, id);
        if (msg == NULL) {
            unsigned *alias = mapFind(&m->aliases, id);
            if (alias != NULL) {
                simFail(sim, SIM_INV_FIFO, m->index,
                        "delivered %s, the MessageId of a send at #%u that was a duplicate "
                        "within the deduplication interval",
                        id, *alias);
            } else {
                simFail(sim, SIM_INV_SENT, m->index,
                        "delivered MessageId %s (body \"%s\"), which no applied send created",
                        id, body);
            }
            return;
        }
        if (msg->queue != (unsigned)q || strcmp(msg->body, body) != 0) {
            simFail(sim, SIM_INV_SENT, m->index,
                    "delivered %s from %s with body \"%s\"; it was sent to %s with body \"%s\"",
                    id, sim->queue_names[q], body, sim->queue_names[msg->queue], msg->body);
            return;
        }
        if (msg->state == M_DELETED || msg->state == M_PURGED) {
            simFail(sim, SIM_INV_SENT, m->index,
                    "delivered %s (sent at #%llu), which was %s at #%llu", id,
                    (unsigned long long)msg->sent_index,
                    msg->state == M_DELETED ? "deleted by an acknowledged delete" : "purged",
                    (unsigned long long)msg->gone_index);
            return;
        }
        if (!msg->vis_unknown && m->now < msg->visible_at) {
            simFail(sim, SIM_INV_VISIBLE, m->index,
                    "delivered %s at t=%.3fs, but it is invisible until t=%.3fs (%s)", id,
                    (double)(m->now - SIM_EPOCH_MS) / 1000.0,
                    (double)(msg->visible_at - SIM_EPOCH_MS) / 1000.0,
                    msg->received ? "visibility timeout" : "delay");
            return;
        }
        if (sim->queue_fifo[q] && msg->state == M_LIVE) {
            checkFifo(m, msg);
        }
        msg->in_reply = true;
        msg->received = true;
        msg->vis_unknown = false;
        msg->visible_at = m->now + vis * 1000;
        snprintf(msg->receipt, sizeof msg->receipt, "%s", receipt);
        mapPut(&m->receipts, receipt, (unsigned)(msg - m->msgs));
    }
    for (i = 0; i < list->via.array.size; i++) {
        char id[FSM_MESSAGE_ID_LEN + 8];
        struct mMsg *msg;
        mpStr(mpGet(&list->via.array.ptr[i], "MessageId"), id, sizeof id);
        if ((msg = msgById(m, id)) != NULL) {
            msg->in_reply = false;
        }
    }
}

/* An acknowledged DeleteMessage (vis < 0) or ChangeMessageVisibility. */
static void modelReceiptOp(struct model *m, const msgpack_object *args, int64_t vis)
{
    char receipt[FSM_RECEIPT_MAX + 1];
    unsigned *v;
    struct mMsg *msg;
    bool latest;

    mpStr(mpGet(args, "ReceiptHandle"), receipt, sizeof receipt);
    v = mapFind(&m->receipts, receipt);
    if (v == NULL) {
        return;
    }
    msg = &m->msgs[*v];
    latest = strcmp(msg->receipt, receipt) == 0;
    if (vis < 0) {
        if (latest && (msg->state == M_LIVE || msg->state == M_UNSURE)) {
            msg->state = M_DELETED;
            msg->gone_index = m->index;
        } else if (!latest && msg->state == M_LIVE) {
            msg->state = M_UNSURE;
        }
    } else if (latest) {
        msg->visible_at = m->now + (uint64_t)vis * 1000;
        msg->vis_unknown = false;
    } else {
        msg->vis_unknown = true;
    }
}

static void modelPurge(struct model *m, int q)
{
    size_t k;
    for (k = 0; k < m->n_msgs; k++) {
        struct mMsg *msg = &m->msgs[k];
        if (msg->queue == (unsigned)q && (msg->state == M_LIVE || msg->state == M_UNSURE)) {
            msg->state = M_PURGED;
            msg->gone_index = m->index;
        }
    }
}

static void modelCreate(struct model *m, int q, const msgpack_object *args)
{
    char vis[16];
    if (mpStr(mpGet(mpGet(args, "Attributes"), "VisibilityTimeout"), vis, sizeof vis)) {
        m->queue_vis[q] = (unsigned)atoi(vis);
    }
}

/* The effects of an applied (not retried, not refused) command. */
static void modelEffects(struct model *m, const struct fsmCommand *cmd,
                         const msgpack_object *args, const msgpack_object *reply)
{
    const msgpack_object *list, *entries;
    int q = queueOf(m, mpGet(args, "QueueName"));
    uint64_t vis = 0;
    uint32_t i, j;

    if (q < 0) {
        return;
    }
    switch (cmd->op) {
        case FSM_OP_CREATE_QUEUE:
            modelCreate(m, q, args);
            break;
        case FSM_OP_SEND_MESSAGE:
            modelSend(m, q, args, mpGet(reply, "MessageId"));
            break;
        case FSM_OP_SEND_MESSAGE_BATCH:
            list = mpGet(reply, "Successful");
            entries = mpGet(args, "Entries");
            if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || entries == NULL ||
                entries->type != MSGPACK_OBJECT_ARRAY) {
                break;
            }
            for (i = 0; i < list->via.array.size; i++) {
                const msgpack_object *done = mpGet(&list->via.array.ptr[i], "Id");
                for (j = 0; j < entries->via.array.size; j++) {
                    const msgpack_object *e = &entries->via.array.ptr[j];
                    const msgpack_object *eid = mpGet(e, "Id");
                    if (done != NULL && eid != NULL && eid->type == MSGPACK_OBJECT_STR &&
                        done->type == MSGPACK_OBJECT_STR &&
                        done->via.str.size == eid->via.str.size &&
                        memcmp(done->via.str.ptr, eid->via.str.ptr, eid->via.str.size) == 0) {
                        modelSend(m, q, e, mpGet(&list->via.array.ptr[i], "MessageId"));
                    }
                }
            }
            break;
        case FSM_OP_RECEIVE_MESSAGE:
            modelReceive(m, q, args, reply);
            break;
        case FSM_OP_DELETE_MESSAGE:
            modelReceiptOp(m, args, -1);
            break;
        case FSM_OP_CHANGE_VISIBILITY:
            mpU64(mpGet(args, "VisibilityTimeout"), &vis);
            modelReceiptOp(m, args, (int64_t)vis);
            break;
        case FSM_OP_PURGE_QUEUE:
        case FSM_OP_DELETE_QUEUE:
            /* Its messages are gone for good (a queue created again under
             * the name starts empty). */
            modelPurge(m, q);
            break;
        default:
            break;
    }
}

/* Whether @reply, to a retry of a ReceiveMessage first answered @first, is
 * that reply less messages that are gone since (fsm/recvreply.c rebuilds
 * a retried receive's reply from the messages table): both ok, the
 * retry's Messages equal to the first's in order with some left out, and
 * every one left out deleted, purged, or possibly deleted (M_UNSURE). */
static bool retryReceiveShorter(struct model *m, const struct mStored *first, const void *reply,
                                size_t reply_len)
{
    msgpack_unpacked ua, ub;
    const msgpack_object *a, *b;
    bool ok = false;
    size_t off = 0;
    uint32_t i, j = 0;

    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ub);
    if (msgpack_unpack_next(&ua, first->reply, first->reply_len, &off) != MSGPACK_UNPACK_SUCCESS) {
        goto out;
    }
    off = 0;
    if (msgpack_unpack_next(&ub, reply, reply_len, &off) != MSGPACK_UNPACK_SUCCESS) {
        goto out;
    }
    a = mpGet(&ua.data, "Messages");
    b = mpGet(&ub.data, "Messages");
    if (a == NULL || b == NULL || a->type != MSGPACK_OBJECT_ARRAY ||
        b->type != MSGPACK_OBJECT_ARRAY || b->via.array.size >= a->via.array.size) {
        goto out;
    }
    for (i = 0; i < a->via.array.size; i++) {
        char id[FSM_MESSAGE_ID_LEN + 8];
        struct mMsg *msg;
        if (j < b->via.array.size &&
            msgpack_object_equal(a->via.array.ptr[i], b->via.array.ptr[j])) {
            j++;
            continue;
        }
        mpStr(mpGet(&a->via.array.ptr[i], "MessageId"), id, sizeof id);
        msg = msgById(m, id);
        if (msg == NULL || msg->state == M_LIVE) {
            goto out;
        }
    }
    ok = j == b->via.array.size;
out:
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ub);
    return ok;
}

/* Replay command @m->k of entry @m->index, @buf, whose reply is @reply. */
static void modelCommand(struct model *m, const void *buf, size_t len, const void *reply,
                         size_t reply_len)
{
    struct sim *sim = m->sim;
    raft_index index = m->index;
    struct fsmCommand cmd;
    msgpack_unpacked ua, ur;
    const msgpack_object *ok;
    struct mSession *s;
    struct mStored at;
    char code[64];
    size_t off = 0;
    bool is_ok;

    if (fsmCommandDecode(buf, len, &cmd) != 0) {
        simFail(sim, SIM_INV_SENT, index, "command %u of entry %llu does not decode", m->k,
                (unsigned long long)index);
        return;
    }
    if (reply == NULL) {
        simFail(sim, SIM_INV_IDENTICAL, index, "command %u of entry %llu has no reply", m->k,
                (unsigned long long)index);
        return;
    }
    m->now = cmd.now_ms;
    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ur);
    if (cmd.args_len > 0) {
        msgpack_unpack_next(&ua, cmd.args, cmd.args_len, &off);
    }
    off = 0;
    if (msgpack_unpack_next(&ur, reply, reply_len, &off) != MSGPACK_UNPACK_SUCCESS) {
        simFail(sim, SIM_INV_SENT, index, "the reply to command %u of entry %llu is not msgpack",
                m->k, (unsigned long long)index);
        goto out;
    }
    ok = mpGet(&ur.data, "ok");
    is_ok = ok != NULL && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    code[0] = '\0';
    if (!is_ok) {
        mpStr(mpGet(&ur.data, "code"), code, sizeof code);
    }
    if (cmd.client_id == 0) {
        goto out; /* housekeeping */
    }
    s = session(m, cmd.client_id);
    if (s == NULL) {
        goto out;
    }
    if (cmd.seq <= s->last) {
        const struct mStored *f = cmd.seq < s->cap && s->stored[cmd.seq].index != 0
                                      ? &s->stored[cmd.seq]
                                      : NULL;
        if (strcmp(code, "SessionExpired") == 0 && cmd.seq < s->ack) {
            goto out;
        }
        if (f == NULL || ((f->reply_len != reply_len || memcmp(f->reply, reply, reply_len) != 0) &&
                          !(cmd.op == FSM_OP_RECEIVE_MESSAGE &&
                            retryReceiveShorter(m, f, reply, reply_len)))) {
            simFail(sim, SIM_INV_SENT, index,
                    "retry of seq %llu (command %u of entry %llu; first applied at #%llu "
                    "command %u) got a different reply than the first: applied twice?",
                    (unsigned long long)cmd.seq, m->k, (unsigned long long)index,
                    (unsigned long long)(f != NULL ? f->index : 0), f != NULL ? f->k : 0);
        }
        goto out;
    }
    if (cmd.seq > s->last + 1) {
        if (strcmp(code, "OutOfOrder") != 0 && strcmp(code, "TooManyInFlight") != 0) {
            simFail(sim, SIM_INV_SENT, index,
                    "seq %llu applied (reply %s, command %u of the entry) although the "
                    "session's last applied seq is %llu: a gap",
                    (unsigned long long)cmd.seq, is_ok ? "ok" : code, m->k,
                    (unsigned long long)s->last);
        }
        goto out;
    }
    if (strcmp(code, "TooManyInFlight") == 0) {
        goto out;
    }
    if (strcmp(code, "OutOfOrder") == 0 || strcmp(code, "SessionExpired") == 0) {
        simFail(sim, SIM_INV_SENT, index,
                "seq %llu (command %u of the entry) is the next of its session (last applied "
                "%llu) but got %s",
                (unsigned long long)cmd.seq, m->k, (unsigned long long)s->last, code);
        goto out;
    }
    s->last = cmd.seq;
    if (cmd.ack > s->ack) {
        s->ack = cmd.ack;
    }
    at.index = index;
    at.k = m->k;
    at.reply = reply;
    at.reply_len = reply_len;
    storeReply(s, cmd.seq, &at);
    if (is_ok) {
        modelEffects(m, &cmd, &ua.data, &ur.data);
    }
out:
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ur);
}

/* Replay one entry: each of its commands, in order. */
static void modelEntry(struct model *m, raft_index index)
{
    struct simEntry *e = &m->sim->log[index];
    struct simCommands r;
    const void *cmd, *reply;
    size_t len, reply_len;

    m->index = index;
    simCommandsInit(&r, e->buf, e->len, e->reply, e->reply_len);
    while (m->sim->failure.inv == SIM_INV_NONE &&
           simCommandsNext(&r, &cmd, &len, &reply, &reply_len)) {
        m->k = r.k;
        modelCommand(m, cmd, len, reply, reply_len);
    }
    if (m->sim->failure.inv == SIM_INV_NONE && r.reply_off != e->reply_len) {
        simFail(m->sim, SIM_INV_IDENTICAL, index,
                "entry %llu has more replies than commands", (unsigned long long)index);
    }
}

int simModelCheck(struct sim *sim)
{
    struct model *m = calloc(1, sizeof *m);
    raft_index i;
    size_t k;
    unsigned q;

    m->sim = sim;
    for (q = 0; q < SIM_QUEUES; q++) {
        m->queue_vis[q] = FSM_VISIBILITY_DEFAULT_S;
    }
    for (i = 1; i <= sim->log_max && sim->failure.inv == SIM_INV_NONE; i++) {
        if (sim->log[i].set) {
            modelEntry(m, i);
        }
    }
    if (sim->failure.inv != SIM_INV_NONE && m->index != 0) {
        /* Which command of a batch entry the model was replaying. */
        size_t used = strlen(sim->failure.text);
        snprintf(sim->failure.text + used, sizeof sim->failure.text - used,
                 " [replaying command %u of entry #%llu]", m->k, (unsigned long long)m->index);
    }
    /* Invariant 2: after the drain, nothing sent may remain. */
    for (k = 0; k < m->n_msgs && sim->failure.inv == SIM_INV_NONE; k++) {
        struct mMsg *msg = &m->msgs[k];
        if (msg->state == M_LIVE) {
            simFail(sim, SIM_INV_LOST, msg->sent_index,
                    "message %s (body \"%s\", %s, sent at #%llu, %s) was never deleted nor "
                    "purged, yet the final drain did not get it",
                    msg->id, msg->body, sim->queue_names[msg->queue],
                    (unsigned long long)msg->sent_index,
                    msg->received ? "delivered before" : "never delivered");
        }
    }
    for (k = 0; k < sim->n_acks && sim->failure.inv == SIM_INV_NONE; k++) {
        if (msgById(m, sim->acks[k].id) == NULL && mapFind(&m->aliases, sim->acks[k].id) == NULL) {
            simFail(sim, SIM_INV_LOST, 0,
                    "client %u was acknowledged MessageId %s (seq %llu), which no applied "
                    "send created",
                    sim->acks[k].client, sim->acks[k].id, (unsigned long long)sim->acks[k].seq);
        }
    }
    mapFree(&m->ids);
    mapFree(&m->receipts);
    mapFree(&m->dedupe);
    mapFree(&m->aliases);
    for (q = 0; q < m->n_sessions; q++) {
        free(m->sessions[q].stored);
    }
    free(m->msgs);
    free(m);
    return sim->failure.inv == SIM_INV_NONE ? 0 : -1;
}
