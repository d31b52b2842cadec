/* Queue attributes on a queue record: the attribute side of the queue ops
 * of queue.c. attrs.c parses an Attributes map into a struct attrSet
 * (names, values, the RedrivePolicy and RedriveAllowPolicy texts); this
 * file takes a parsed set to a stored queue record and back:
 * - queueCheckRedrive: a RedrivePolicy's dead-letter queue exists, is not
 *   the queue itself, is of the same type, and its RedriveAllowPolicy
 *   permits the source (attrAllowPermits);
 * - queueApplyAttrs: write the given attributes into a record;
 * - queueAttrsDiffer: CreateQueue of an existing name, the first
 *   attribute whose value would change (QueueAlreadyExists);
 * - GetQueueAttributes (each attribute packed as SQS's string value) and
 *   SetQueueAttributes.
 *
 * The happy path for SetQueueAttributes is: find the queue, check the
 * redrive target, apply the set, stamp modified_ms, write the record back.
 * Failure modes are: a missing queue (QueueDoesNotExist) or a rejected
 * RedrivePolicy (InvalidParameterValue), both replied before any write so
 * the tables stay untouched; a store error, returned as is (fail-stop). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ARN prefix reported in QueueArn. */
#define QUEUE_ARN_PREFIX "arn:aws:sqs:us-east-1:000000000000:"

/* Check a RedrivePolicy of @set for queue @name of type @fifo: the
 * dead-letter queue exists, is another queue, and of the same type.
 * *ok false: the error reply is written. */
int queueCheckRedrive(struct fsm *f, const struct fsmStr *name,
                      bool fifo, const struct attrSet *set, bool *ok)
{
    struct queueRecord d;
    bool found;
    int rv;

    *ok = true;
    if (!(set->given & ATTR_BIT(ATTR_REDRIVE)) || set->dlq.len == 0) {
        return 0;
    }
    *ok = false;
    if (set->dlq.len == name->len && memcmp(set->dlq.p, name->p, name->len) == 0) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Value for parameter RedrivePolicy is invalid. "
                             "Reason: a queue cannot be its own dead-letter "
                             "queue.");
    }
    rv = queueGet(f, set->dlq.p, set->dlq.len, &d, &found);
    if (rv != 0) {
        return rv;
    }
    if (!found) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Value for parameter RedrivePolicy is invalid. "
                             "Reason: Dead letter target does not exist.");
    }
    if (((d.flags & QUEUE_F_FIFO) != 0) != fifo) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Value for parameter RedrivePolicy is invalid. "
                             "Reason: Dead-letter queue must be same type of "
                             "queue as the source.");
    }
    if (!attrAllowPermits(d.allow, d.allow_len, name)) {
        return fsmReplyError(f, FSM_ERR_INVALID_PARAMETER,
                             "Value for parameter RedrivePolicy is invalid. "
                             "Reason: the RedriveAllowPolicy of %.*s does not "
                             "allow %.*s as a source queue.",
                             (int)set->dlq.len, set->dlq.p, (int)name->len, name->p);
    }
    *ok = true;
    return 0;
}

/* Apply the attributes given in @set to @q. */
void queueApplyAttrs(struct queueRecord *q, const struct attrSet *set)
{
    uint32_t g = set->given;

    if (g & ATTR_BIT(ATTR_VISIBILITY)) {
        q->vis = set->vis;
    }
    if (g & ATTR_BIT(ATTR_RETENTION)) {
        q->retention = set->retention;
    }
    if (g & ATTR_BIT(ATTR_DELAY)) {
        q->delay = set->delay;
    }
    if (g & ATTR_BIT(ATTR_MAXSIZE)) {
        q->maxsize = set->maxsize;
    }
    if (g & ATTR_BIT(ATTR_WAIT)) {
        q->wait = set->wait;
    }
    if (g & ATTR_BIT(ATTR_REDRIVE)) {
        q->redrive_len = set->dlq.len > 0 ? set->redrive.len : 0;
        q->dlq_len = set->dlq.len;
        if (set->dlq.len > 0) {
            memcpy(q->redrive, set->redrive.p, q->redrive_len);
            memcpy(q->dlq, set->dlq.p, set->dlq.len);
        }
        q->max_rc = set->dlq.len > 0 ? set->max_rc : 0;
    }
    if (g & ATTR_BIT(ATTR_ALLOW)) {
        q->allow_len = set->allow.len;
        memcpy(q->allow, set->allow.p, set->allow.len);
    }
    if ((g & ATTR_BIT(ATTR_FIFO)) && set->fifo) {
        q->flags |= QUEUE_F_FIFO;
    }
    if (g & ATTR_BIT(ATTR_CBD)) {
        q->flags = (uint8_t)(set->cbd ? q->flags | QUEUE_F_CBD
                                      : q->flags & ~QUEUE_F_CBD);
    }
    if (g & ATTR_BIT(ATTR_SCOPE)) {
        q->flags = (uint8_t)(set->scope_group ? q->flags | QUEUE_F_SCOPE_GROUP
                                              : q->flags & ~QUEUE_F_SCOPE_GROUP);
    }
    if (g & ATTR_BIT(ATTR_THROUGHPUT)) {
        q->flags = (uint8_t)(set->tp_group ? q->flags | QUEUE_F_TP_GROUP
                                           : q->flags & ~QUEUE_F_TP_GROUP);
    }
}

/* The first attribute of @set whose value differs from @q's, or -1. */
int queueAttrsDiffer(const struct queueRecord *q,
                     const struct attrSet *set)
{
    struct queueRecord t = *q;
    unsigned a;

    queueApplyAttrs(&t, set);
    for (a = 0; a < ATTR_COUNT; a++) {
        bool same = true;
        if (!(set->given & ATTR_BIT(a))) {
            continue;
        }
        switch (a) {
            case ATTR_VISIBILITY:
                same = t.vis == q->vis;
                break;
            case ATTR_RETENTION:
                same = t.retention == q->retention;
                break;
            case ATTR_DELAY:
                same = t.delay == q->delay;
                break;
            case ATTR_MAXSIZE:
                same = t.maxsize == q->maxsize;
                break;
            case ATTR_WAIT:
                same = t.wait == q->wait;
                break;
            case ATTR_REDRIVE:
                same = t.max_rc == q->max_rc && t.dlq_len == q->dlq_len &&
                       memcmp(t.dlq, q->dlq, q->dlq_len) == 0;
                break;
            case ATTR_ALLOW:
                same = t.allow_len == q->allow_len &&
                       memcmp(t.allow, q->allow, q->allow_len) == 0;
                break;
            default:
                same = t.flags == q->flags;
                break;
        }
        if (!same) {
            return (int)a;
        }
    }
    return -1;
}

/* Pack attribute @a of @q as a string value. */
static void queuePackAttr(struct fsm *f, const struct queueRecord *q,
                          unsigned a, const uint64_t counts[3])
{
    char buf[64 + FSM_QUEUE_NAME_MAX];
    const char *s = buf;
    uint64_t n = 0;
    bool num = true;

    switch (a) {
        case ATTR_VISIBILITY:
            n = q->vis;
            break;
        case ATTR_RETENTION:
            n = q->retention;
            break;
        case ATTR_DELAY:
            n = q->delay;
            break;
        case ATTR_MAXSIZE:
            n = q->maxsize;
            break;
        case ATTR_WAIT:
            n = q->wait;
            break;
        case ATTR_NVISIBLE:
            n = counts[0];
            break;
        case ATTR_NINFLIGHT:
            n = counts[1];
            break;
        case ATTR_NDELAYED:
            n = counts[2];
            break;
        case ATTR_CREATED:
            n = q->created_ms / 1000;
            break;
        case ATTR_MODIFIED:
            n = q->modified_ms / 1000;
            break;
        default:
            num = false;
            break;
    }
    if (num) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
    } else if (a == ATTR_REDRIVE) {
        fsmPackStrN(&f->pk, q->redrive, q->redrive_len);
        return;
    } else if (a == ATTR_ALLOW) {
        fsmPackStrN(&f->pk, q->allow, q->allow_len);
        return;
    } else if (a == ATTR_ARN) {
        snprintf(buf, sizeof buf, "%s%.*s", QUEUE_ARN_PREFIX,
                 (int)q->name_len, q->name);
    } else if (a == ATTR_FIFO) {
        s = "true";
    } else if (a == ATTR_CBD) {
        s = (q->flags & QUEUE_F_CBD) ? "true" : "false";
    } else if (a == ATTR_SCOPE) {
        s = (q->flags & QUEUE_F_SCOPE_GROUP) ? "messageGroup" : "queue";
    } else {
        s = (q->flags & QUEUE_F_TP_GROUP) ? "perMessageGroupId" : "perQueue";
    }
    fsmPackStr(&f->pk, s);
}

/* True if attribute @a is reported for @q. */
static bool queueHasAttr(const struct queueRecord *q, unsigned a)
{
    if (a == ATTR_REDRIVE) {
        return q->dlq_len > 0;
    }
    if (a == ATTR_ALLOW) {
        return q->allow_len > 0;
    }
    if (a == ATTR_FIFO || a == ATTR_CBD || a == ATTR_SCOPE ||
        a == ATTR_THROUGHPUT) {
        return (q->flags & QUEUE_F_FIFO) != 0;
    }
    return true;
}

int queueGetAttributes(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    uint64_t counts[3] = {0, 0, 0};
    uint32_t n = 0;
    unsigned a;
    bool found;
    int rv;

    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    if (f->args.names & (ATTR_BIT(ATTR_NVISIBLE) | ATTR_BIT(ATTR_NINFLIGHT) |
                         ATTR_BIT(ATTR_NDELAYED))) {
        rv = msgCounts(f, &q, cmd->now_ms, &counts[0], &counts[1], &counts[2]);
        if (rv != 0) {
            return rv;
        }
    }
    for (a = 0; a < ATTR_COUNT; a++) {
        n += (f->args.names & ATTR_BIT(a)) && queueHasAttr(&q, a);
    }
    fsmReplyOk(f, 1);
    fsmPackStr(&f->pk, "Attributes");
    msgpack_pack_map(&f->pk, n);
    for (a = 0; a < ATTR_COUNT; a++) {
        if ((f->args.names & ATTR_BIT(a)) && queueHasAttr(&q, a)) {
            fsmPackStr(&f->pk, attrName(a));
            queuePackAttr(f, &q, a, counts);
        }
    }
    return 0;
}

int queueSetAttributes(struct fsm *f, const struct fsmCommand *cmd)
{
    struct queueRecord q;
    bool found;
    bool ok;
    int rv;

    rv = queueFind(f, &f->args.name, &q, &found);
    if (rv != 0 || !found) {
        return rv;
    }
    rv = queueCheckRedrive(f, &f->args.name, f->args.fifo, &f->args.attrs, &ok);
    if (rv != 0 || !ok) {
        return rv;
    }
    queueApplyAttrs(&q, &f->args.attrs);
    q.modified_ms = cmd->now_ms;
    rv = queuePut(f, &q);
    if (rv != 0) {
        return rv;
    }
    fsmReplyOk(f, 0);
    return 0;
}
