/* The workload: what each client asks for, drawn from the seed, and what it
 * keeps from the replies (receipts to delete or change later, and the
 * MessageIds of acknowledged sends, which invariant 2 checks).
 *
 * Queues: "sim-a" and "sim-b" (standard; sim-b is the one purged, and
 * deleted and created again, now and then: its old messages must never
 * come back, while the sweeper removes them slice by slice) and
 * "sim-f.fifo" (FIFO, explicit deduplication ids, four groups).
 * Every body is unique, so the model can tell messages apart by body too.
 */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* Queue default visibility timeouts, seconds (set at creation). */
static const unsigned queueVisibility[SIM_QUEUES] = {2, 3, 3};

/* Pack the common "QueueName" pair. */
static void packQueue(struct sim *sim, msgpack_packer *pk, unsigned q)
{
    mpPackStr(pk, "QueueName");
    mpPackStr(pk, sim->queue_names[q]);
}

static void submit(struct simClient *c, unsigned op, unsigned q, msgpack_sbuffer *sb)
{
    struct fsmCommand cmd;
    char errmsg[256];
    enum fsmError e;

    memset(&cmd, 0, sizeof cmd);
    cmd.op = op;
    cmd.client_id = c->id;
    cmd.seq = 1;
    cmd.args = sb->data;
    cmd.args_len = sb->size;
    /* qraftd refuses before the log what this check refuses, and the
     * client library never sends it: a refusal is a workload bug. */
    e = fsmCommandCheck(&cmd, errmsg, sizeof errmsg);
    if (e != FSM_ERR_NONE) {
        simFail(c->sim, SIM_INV_LIVENESS, 0, "workload bug: the node would refuse %s: %s: %s",
                fsmOpName(op), fsmErrorName(e), errmsg);
    }
    simClientSubmit(c, op, q, sb->data, sb->size);
}

/* CreateQueue of queue @q, with its attributes (the same each time: a
 * create of an existing queue is then a no-op). */
static void issueCreate(struct sim *sim, struct simClient *c, unsigned q)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char vis[16];

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    packQueue(sim, &pk, q);
    mpPackStr(&pk, "Attributes");
    msgpack_pack_map(&pk, sim->queue_fifo[q] ? 3 : 1);
    snprintf(vis, sizeof vis, "%u", queueVisibility[q]);
    mpPackStr(&pk, "VisibilityTimeout");
    mpPackStr(&pk, vis);
    if (sim->queue_fifo[q]) {
        mpPackStr(&pk, "FifoQueue");
        mpPackStr(&pk, "true");
        mpPackStr(&pk, "ContentBasedDeduplication");
        mpPackStr(&pk, "false");
    }
    submit(c, FSM_OP_CREATE_QUEUE, q, &sb);
    msgpack_sbuffer_destroy(&sb);
}

void simWorkloadSetup(struct sim *sim)
{
    unsigned q;

    sim->queue_names[0] = "sim-a";
    sim->queue_names[1] = "sim-b";
    sim->queue_names[2] = "sim-f.fifo";
    sim->queue_fifo[0] = false;
    sim->queue_fifo[1] = false;
    sim->queue_fifo[2] = true;
    for (q = 0; q < SIM_QUEUES; q++) {
        issueCreate(sim, &sim->clients[0], q);
    }
}

/* The send arguments (without QueueName) of one message into queue @q. */
static unsigned packSendArgs(struct sim *sim, struct simClient *c, msgpack_packer *pk,
                             unsigned q, unsigned n_extra)
{
    char body[64], id[32];
    unsigned n = 1;

    snprintf(body, sizeof body, "c%u-s%llu-n%u-%llx", c->index,
             (unsigned long long)c->next_seq, c->issued, (unsigned long long)simRand(&sim->rng));
    if (sim->queue_fifo[q]) {
        n += 2;
    } else if (simChance(&sim->rng, 25)) {
        n += 1;
    }
    msgpack_pack_map(pk, n + n_extra);
    mpPackStr(pk, "MessageBody");
    mpPackStr(pk, body);
    if (sim->queue_fifo[q]) {
        unsigned dedupe;
        snprintf(id, sizeof id, "g%u", simRandN(&sim->rng, 4));
        mpPackStr(pk, "MessageGroupId");
        mpPackStr(pk, id);
        /* Now and then reuse a recent deduplication id. */
        if (sim->fsm_dedupe_counter > 0 && simChance(&sim->rng, 10)) {
            unsigned back = simRandN(&sim->rng, 5);
            dedupe = sim->fsm_dedupe_counter > back ? sim->fsm_dedupe_counter - back : 1;
        } else {
            dedupe = ++sim->fsm_dedupe_counter;
        }
        snprintf(id, sizeof id, "d%u", dedupe);
        mpPackStr(pk, "MessageDeduplicationId");
        mpPackStr(pk, id);
    } else if (n == 2) {
        mpPackStr(pk, "DelaySeconds");
        msgpack_pack_uint32(pk, 1 + simRandN(&sim->rng, 3));
    }
    return n;
}

static void issueSend(struct sim *sim, struct simClient *c, unsigned q)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer entry;
    msgpack_packer epk;
    msgpack_unpacked u;
    size_t off = 0;

    /* Build the message args as a map, then splice QueueName in front. */
    msgpack_sbuffer_init(&entry);
    msgpack_packer_init(&epk, &entry, msgpack_sbuffer_write);
    packSendArgs(sim, c, &epk, q, 0);
    msgpack_unpacked_init(&u);
    msgpack_unpack_next(&u, entry.data, entry.size, &off);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, u.data.via.map.size + 1);
    packQueue(sim, &pk, q);
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        msgpack_pack_object(&pk, u.data.via.map.ptr[i].key);
        msgpack_pack_object(&pk, u.data.via.map.ptr[i].val);
    }
    submit(c, FSM_OP_SEND_MESSAGE, q, &sb);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&entry);
    msgpack_sbuffer_destroy(&sb);
}

static void issueSendBatch(struct sim *sim, struct simClient *c, unsigned q)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    unsigned i, n = 2 + simRandN(&sim->rng, 4);
    char id[16];

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    packQueue(sim, &pk, q);
    mpPackStr(&pk, "Entries");
    msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        /* A map of the send args plus "Id": packSendArgs counts it. */
        struct simClient tmp = *c;
        tmp.issued = c->issued * 16 + i;
        packSendArgs(sim, &tmp, &pk, q, 1);
        snprintf(id, sizeof id, "e%u", i);
        mpPackStr(&pk, "Id");
        mpPackStr(&pk, id);
    }
    submit(c, FSM_OP_SEND_MESSAGE_BATCH, q, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void issueReceive(struct sim *sim, struct simClient *c, unsigned q, unsigned max,
                         int vis)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, vis >= 0 ? 3 : 2);
    packQueue(sim, &pk, q);
    mpPackStr(&pk, "MaxNumberOfMessages");
    msgpack_pack_uint32(&pk, max);
    if (vis >= 0) {
        mpPackStr(&pk, "VisibilityTimeout");
        msgpack_pack_uint32(&pk, (uint32_t)vis);
    }
    submit(c, FSM_OP_RECEIVE_MESSAGE, q, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* Delete (vis < 0) or change the visibility of a remembered receipt. */
static void issueReceiptOp(struct sim *sim, struct simClient *c, unsigned k, int vis)
{
    struct simReceipt *rc = &c->receipts[k];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, vis >= 0 ? 3 : 2);
    packQueue(sim, &pk, rc->queue);
    mpPackStr(&pk, "ReceiptHandle");
    mpPackStr(&pk, rc->handle);
    if (vis >= 0) {
        mpPackStr(&pk, "VisibilityTimeout");
        msgpack_pack_uint32(&pk, (uint32_t)vis);
    }
    submit(c, vis >= 0 ? FSM_OP_CHANGE_VISIBILITY : FSM_OP_DELETE_MESSAGE, rc->queue, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void forgetReceipt(struct simClient *c, unsigned k)
{
    c->receipts[k] = c->receipts[--c->n_receipts];
}

/* PurgeQueue or DeleteQueue (@op) of queue @q. */
static void issueQueueOp(struct sim *sim, struct simClient *c, unsigned op, unsigned q)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    packQueue(sim, &pk, q);
    submit(c, op, q, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* One new request from client @c. */
static void issueOne(struct sim *sim, struct simClient *c)
{
    static const int visChoices[] = {0, 1, 2, 4, -1};
    unsigned q = simRandN(&sim->rng, SIM_QUEUES);
    unsigned roll = simRandN(&sim->rng, 100);
    unsigned k;

    if (roll < 30) {
        issueSend(sim, c, q);
    } else if (roll < 38) {
        issueSendBatch(sim, c, q);
    } else if (roll < 68 || c->n_receipts == 0) {
        issueReceive(sim, c, q, 1 + simRandN(&sim->rng, 10),
                     visChoices[simRandN(&sim->rng, 5)]);
    } else if (roll < 87) {
        k = simRandN(&sim->rng, c->n_receipts);
        issueReceiptOp(sim, c, k, -1);
        /* Mostly forget it; sometimes keep it, to delete with it again. */
        if (simChance(&sim->rng, 85)) {
            forgetReceipt(c, k);
        }
    } else if (roll < 99) {
        k = simRandN(&sim->rng, c->n_receipts);
        issueReceiptOp(sim, c, k, (int)simRandN(&sim->rng, 4));
    } else {
        /* sim-b: mostly purged; or deleted, and created again (refused
         * for 60 s after the delete; a no-op while it exists). */
        roll = simRandN(&sim->rng, 4);
        if (roll < 2) {
            issueQueueOp(sim, c, FSM_OP_PURGE_QUEUE, 1);
        } else if (roll == 2) {
            issueQueueOp(sim, c, FSM_OP_DELETE_QUEUE, 1);
        } else {
            issueCreate(sim, c, 1);
        }
    }
}

void simWorkloadTick(struct sim *sim)
{
    unsigned i;
    unsigned quota = sim->p.ops / sim->p.n_clients + 1;

    for (i = 0; i < sim->p.n_clients; i++) {
        struct simClient *c = &sim->clients[i];
        if (c->issued < quota && simClientHasRoom(c) && simChance(&sim->rng, sim->p.issue_rate)) {
            issueOne(sim, c);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Replies. */

static void addAck(struct sim *sim, struct simClient *c, uint64_t seq, const msgpack_object *id)
{
    struct simAck *a;

    if (sim->n_acks == sim->acks_cap) {
        sim->acks_cap = sim->acks_cap ? sim->acks_cap * 2 : 256;
        sim->acks = realloc(sim->acks, sim->acks_cap * sizeof *sim->acks);
    }
    a = &sim->acks[sim->n_acks++];
    memset(a, 0, sizeof *a);
    mpStr(id, a->id, sizeof a->id);
    a->client = c->index;
    a->seq = seq;
}

static void addReceipt(struct simClient *c, unsigned q, const msgpack_object *h)
{
    unsigned k;

    if (c->n_receipts < SIM_RECEIPTS) {
        k = c->n_receipts++;
    } else {
        k = simRandN(&c->sim->rng, SIM_RECEIPTS);
    }
    c->receipts[k].queue = q;
    mpStr(h, c->receipts[k].handle, sizeof c->receipts[k].handle);
}

void simWorkloadReply(struct simClient *c, struct simRequest *r, const void *reply, size_t len)
{
    struct sim *sim = c->sim;
    msgpack_unpacked u;
    const msgpack_object *ok, *v, *id;
    size_t off = 0;
    uint32_t i;

    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, reply, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        simFail(sim, SIM_INV_SENT, 0, "client %u seq %llu: reply is not a msgpack map", c->index,
                (unsigned long long)r->seq);
        goto out;
    }
    ok = mpGet(&u.data, "ok");
    if (ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
        goto out;
    }
    switch (r->op) {
        case FSM_OP_SEND_MESSAGE:
            id = mpGet(&u.data, "MessageId");
            if (id != NULL) {
                addAck(sim, c, r->seq, id);
            }
            break;
        case FSM_OP_SEND_MESSAGE_BATCH:
            v = mpGet(&u.data, "Successful");
            for (i = 0; v != NULL && v->type == MSGPACK_OBJECT_ARRAY && i < v->via.array.size;
                 i++) {
                id = mpGet(&v->via.array.ptr[i], "MessageId");
                if (id != NULL) {
                    addAck(sim, c, r->seq, id);
                }
            }
            break;
        case FSM_OP_RECEIVE_MESSAGE:
            v = mpGet(&u.data, "Messages");
            for (i = 0; v != NULL && v->type == MSGPACK_OBJECT_ARRAY && i < v->via.array.size;
                 i++) {
                const msgpack_object *h = mpGet(&v->via.array.ptr[i], "ReceiptHandle");
                if (h != NULL) {
                    addReceipt(c, r->queue, h);
                }
                if (c->drain) {
                    sim->drain_got++;
                }
            }
            break;
        default:
            break;
    }
out:
    msgpack_unpacked_destroy(&u);
}

/* ------------------------------------------------------------------------ */
/* The drain of the final phase: receive everything with a long visibility
 * timeout and delete it, queue by queue, until receives come back empty. */

void simDrainReceive(struct sim *sim, struct simClient *c, unsigned queue)
{
    issueReceive(sim, c, queue, 10, 600);
}

bool simDrainDeletes(struct sim *sim, struct simClient *c)
{
    while (c->n_receipts > 0 && simClientHasRoom(c)) {
        issueReceiptOp(sim, c, c->n_receipts - 1, -1);
        c->n_receipts--;
    }
    return c->n_receipts > 0;
}
