/* Arguments of the ops: parse a command's args map into struct args.
 *
 * Every op is parse + execute. Parsing is stateless: it checks presence,
 * types, ranges and syntax, with SQS's error codes (MissingParameter for a
 * missing required parameter, InvalidParameterValue for a wrong type,
 * range or syntax, InvalidAttributeName/Value for attributes, the batch
 * errors for a batch's shape). fsmCommandCheck() runs only this (the node
 * answers reads that fail it at once); fsmApply() runs it again, and a
 * parse error there is a normal stored reply.
 *
 * Rules: unknown keys are ignored (SQS ignores extra parameters); numbers
 * are msgpack integers or decimal strings (SQS's query protocol sends
 * strings); names of queues that cannot exist give QueueDoesNotExist;
 * whether a queue is FIFO is known from its name (".fifo"), so FIFO rules
 * on sends are checked here too. A batch entry's own errors are kept in the
 * entry (its err) and reported in Failed; only the batch's shape fails the
 * whole request. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Find @key in map @map (first occurrence). */
bool argsFind(const struct mpVal *map, const char *key, struct mpVal *out)
{
    struct mpReader r;
    uint32_t i;

    if (map == NULL || map->type != MP_MAP) {
        return false;
    }
    mpEnter(map, &r);
    for (i = 0; i < map->n; i++) {
        struct mpVal k;
        mpNext(&r, &k);
        mpNext(&r, out);
        if (mpIs(&k, key)) {
            return true;
        }
    }
    return false;
}

/* Reply text for a missing parameter. */
int argsMissing(struct argErr *e, const char *key)
{
    return argFail(e, FSM_ERR_MISSING_PARAMETER,
                   "The request must contain the parameter %s.", key);
}

/* A string parameter; *present false if absent (then not an error unless
 * @required). */
int argsString(const struct mpVal *map, const char *key, bool required,
                   struct fsmStr *out, bool *present, struct argErr *e)
{
    struct mpVal v;

    *present = false;
    out->p = NULL;
    out->len = 0;
    if (!argsFind(map, key, &v)) {
        return required ? argsMissing(e, key) : 0;
    }
    if (v.type != MP_STR) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter %s is invalid. Reason: must be a "
                       "string.",
                       key);
    }
    out->p = (const char *)v.ptr;
    out->len = v.len;
    *present = true;
    return 0;
}

/* An integer parameter within [lo, hi]: a msgpack integer or a decimal
 * string. */
int argsNum(const struct mpVal *map, const char *key, uint32_t lo,
                   uint32_t hi, bool required, uint32_t *out, bool *present,
                   struct argErr *e)
{
    struct mpVal v;
    uint64_t n = 0;
    bool neg = false;

    *present = false;
    if (!argsFind(map, key, &v)) {
        return required ? argsMissing(e, key) : 0;
    }
    if (v.type == MP_UINT) {
        n = v.u;
    } else if (v.type == MP_INT) {
        neg = true;
    } else if (v.type == MP_STR) {
        size_t i = 0;
        if (v.len > 0 && v.ptr[0] == '-') {
            neg = true;
            i = 1;
        }
        if (i == v.len || v.len > 20) {
            goto notint;
        }
        for (; i < v.len; i++) {
            if (v.ptr[i] < '0' || v.ptr[i] > '9') {
                goto notint;
            }
            n = n > UINT64_MAX / 10 ? UINT64_MAX : n * 10 + (v.ptr[i] - '0');
        }
    } else {
        goto notint;
    }
    if (neg || n < lo || n > hi) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter %s is invalid. Reason: must be "
                       "between %u and %u.",
                       key, lo, hi);
    }
    *out = (uint32_t)n;
    *present = true;
    return 0;

notint:
    return argFail(e, FSM_ERR_INVALID_PARAMETER,
                   "Value for parameter %s is invalid. Reason: must be an "
                   "integer.",
                   key);
}

/* The queue name under @key: required; syntax checked. */
static int argsQueue(const struct mpVal *map, const char *key, bool create,
                     struct args *a, struct argErr *e)
{
    bool present;

    if (argsString(map, key, true, &a->name, &present, e) != 0) {
        return -1;
    }
    if (!utilQueueName(a->name.p, a->name.len, &a->fifo)) {
        if (create) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Can only include alphanumeric characters, "
                           "hyphens, or underscores. 1 to %d in length",
                           FSM_QUEUE_BARE_MAX);
        }
        if (key[0] == 'S' || key[0] == 'D') { /* move task */
            return argFail(e, FSM_ERR_RESOURCE_NOT_FOUND,
                           "The resource that you specified for the %s "
                           "parameter doesn't exist.",
                           key);
        }
        return argFail(e, FSM_ERR_QUEUE_DOES_NOT_EXIST,
                       "The specified queue does not exist.");
    }
    return 0;
}

/* Validate a Tags map (str -> str): sizes and count. */
static int argsTags(const struct mpVal *v, struct argErr *e)
{
    struct mpReader r;
    uint32_t i;

    if (v->type != MP_MAP) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter Tags is invalid. Reason: must be a "
                       "map of strings to strings.");
    }
    if (v->n > FSM_TAGS_MAX) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Too many tags: %u given, a queue can have at most %d.",
                       v->n, FSM_TAGS_MAX);
    }
    mpEnter(v, &r);
    for (i = 0; i < v->n; i++) {
        struct mpVal k;
        struct mpVal x;
        size_t kc = 0;
        size_t vc = 0;
        mpNext(&r, &k);
        mpNext(&r, &x);
        if (k.type != MP_STR || x.type != MP_STR ||
            !utilSqsText(k.ptr, k.len, &kc) || !utilSqsText(x.ptr, x.len, &vc)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Tag keys and values must be strings.");
        }
        if (kc == 0 || kc > FSM_TAG_KEY_MAX || k.len > 500) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Tag keys must be 1 to %d characters long.",
                           FSM_TAG_KEY_MAX);
        }
        if (vc > FSM_TAG_VALUE_MAX) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Tag values must be at most %d characters long.",
                           FSM_TAG_VALUE_MAX);
        }
        if (k.len >= 4 && strncasecmp((const char *)k.ptr, "aws:", 4) == 0) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Tag keys must not start with aws:.");
        }
    }
    return 0;
}

/* Parse MaxResults and NextToken (ListQueues, ListDeadLetterSourceQueues). */
static int argsPaging(const struct mpVal *map, struct args *a, struct argErr *e)
{
    struct fsmStr tok;

    if (argsNum(map, "MaxResults", 1, FSM_LIST_MAX, false, &a->max,
                &a->has_max, e) != 0 ||
        argsString(map, "NextToken", false, &tok, &a->has_token, e) != 0) {
        return -1;
    }
    if (a->has_token) {
        if (tok.len == 0 || tok.len % 2 != 0 ||
            tok.len > 2 * FSM_QUEUE_NAME_MAX ||
            !utilUnhex(tok.p, tok.len / 2, a->token)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Invalid NextToken value.");
        }
        a->token_len = tok.len / 2;
    }
    return 0;
}

/* Parse AttributeNames of GetQueueAttributes into a mask. */
static int argsAttrNames(const struct mpVal *map, struct args *a,
                         struct argErr *e)
{
    struct mpVal list;
    struct mpReader r;
    uint32_t i;

    if (!argsFind(map, "AttributeNames", &list)) {
        a->names = ATTR_BIT(ATTR_COUNT) - 1;
        return 0;
    }
    if (list.type != MP_ARRAY) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter AttributeNames is invalid. "
                       "Reason: must be an array of strings.");
    }
    a->names = 0;
    mpEnter(&list, &r);
    for (i = 0; i < list.n; i++) {
        struct mpVal v;
        int at;
        mpNext(&r, &v);
        if (mpIs(&v, "All")) {
            a->names = ATTR_BIT(ATTR_COUNT) - 1;
            continue;
        }
        if (v.type != MP_STR ||
            (at = attrByName((const char *)v.ptr, v.len)) < 0) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Unknown Attribute %.*s.",
                           v.type == MP_STR ? (int)(v.len > 256 ? 256 : v.len) : 0,
                           v.type == MP_STR ? (const char *)v.ptr : "");
        }
        a->names |= ATTR_BIT(at);
    }
    return 0;
}

int argsParse(const struct fsmCommand *cmd, struct args *a, struct argErr *e)
{
    static const uint8_t empty[] = {0x80};
    struct mpReader r = {cmd->args != NULL ? cmd->args : empty,
                         cmd->args != NULL && cmd->args_len > 0 ? cmd->args_len
                                                                 : 1};
    struct mpVal map;
    struct mpVal v;
    bool present;
    unsigned op = cmd->op;

    if (cmd->args == NULL || cmd->args_len == 0) {
        r.p = empty;
        r.left = 1;
    }
    a->name.p = NULL;
    a->name.len = 0;
    a->fifo = false;
    a->has_tags = false;
    a->has_max = false;
    a->has_token = false;
    a->has_vis = false;
    a->has_wait = false;
    a->sysnames = 0;
    a->msgattr_all = false;
    a->msgnames.n = 0;
    a->n = 0;
    e->code = FSM_ERR_NONE;
    e->msg[0] = '\0';
    if (!mpNext(&r, &map) || map.type != MP_MAP) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER, "args must be a map.");
    }
    switch (op) {
        case FSM_OP_CREATE_QUEUE:
            if (argsQueue(&map, "QueueName", true, a, e) != 0) {
                return -1;
            }
            memset(&a->attrs, 0, sizeof a->attrs);
            if (argsFind(&map, "Attributes", &v) &&
                attrsParse(&v, true, a->fifo, &a->attrs, e) != 0) {
                return -1;
            }
            if (a->fifo && !((a->attrs.given & ATTR_BIT(ATTR_FIFO)) &&
                             a->attrs.fifo)) {
                return argFail(e, FSM_ERR_INVALID_PARAMETER,
                               "Can only include alphanumeric characters, "
                               "hyphens, or underscores. 1 to %d in length "
                               "(a name ending in .fifo needs "
                               "FifoQueue=true).",
                               FSM_QUEUE_BARE_MAX);
            }
            if (!a->fifo && a->attrs.fifo) {
                return argFail(e, FSM_ERR_INVALID_PARAMETER,
                               "The name of a FIFO queue can only include "
                               "alphanumeric characters, hyphens, or "
                               "underscores, must end with .fifo suffix and "
                               "be 1 to %d in length.",
                               FSM_QUEUE_BARE_MAX);
            }
            if (argsFind(&map, "Tags", &a->tags)) {
                a->has_tags = true;
                return argsTags(&a->tags, e);
            }
            return 0;
        case FSM_OP_DELETE_QUEUE:
        case FSM_OP_PURGE_QUEUE:
        case FSM_OP_LIST_QUEUE_TAGS:
            return argsQueue(&map, "QueueName", false, a, e);
        case FSM_OP_LIST_QUEUES:
            if (argsString(&map, "QueueNamePrefix", false, &a->prefix, &present,
                        e) != 0) {
                return -1;
            }
            return argsPaging(&map, a, e);
        case FSM_OP_LIST_DLQ_SOURCES:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            return argsPaging(&map, a, e);
        case FSM_OP_GET_QUEUE_ATTRIBUTES:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            return argsAttrNames(&map, a, e);
        case FSM_OP_SET_QUEUE_ATTRIBUTES:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            if (!argsFind(&map, "Attributes", &v)) {
                return argsMissing(e, "Attributes");
            }
            return attrsParse(&v, false, a->fifo, &a->attrs, e);
        case FSM_OP_TAG_QUEUE:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            if (!argsFind(&map, "Tags", &a->tags)) {
                return argsMissing(e, "Tags");
            }
            a->has_tags = true;
            return argsTags(&a->tags, e);
        case FSM_OP_UNTAG_QUEUE: {
            struct mpReader t;
            uint32_t i;
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            if (!argsFind(&map, "TagKeys", &a->tags)) {
                return argsMissing(e, "TagKeys");
            }
            if (a->tags.type != MP_ARRAY) {
                goto badkeys;
            }
            mpEnter(&a->tags, &t);
            for (i = 0; i < a->tags.n; i++) {
                mpNext(&t, &v);
                if (v.type != MP_STR) {
                    goto badkeys;
                }
            }
            a->has_tags = true;
            return 0;
        badkeys:
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Value for parameter TagKeys is invalid. Reason: "
                           "must be an array of strings.");
        }
        case FSM_OP_SEND_MESSAGE:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            memset(&a->send[0], 0, sizeof a->send[0]);
            a->n = 1;
            return argsSendEntry(&map, a->fifo, &a->send[0], e);
        case FSM_OP_SEND_MESSAGE_BATCH:
        case FSM_OP_DELETE_MESSAGE_BATCH:
        case FSM_OP_CHANGE_VISIBILITY_BATCH:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            return argsBatch(&map, a, op, e);
        case FSM_OP_RECEIVE_MESSAGE:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            a->max = 1;
            if (argsNum(&map, "MaxNumberOfMessages", 1, FSM_RECEIVE_MAX, false,
                        &a->max, &a->has_max, e) != 0 ||
                argsNum(&map, "VisibilityTimeout", 0, FSM_VISIBILITY_MAX_S,
                        false, &a->vis, &a->has_vis, e) != 0 ||
                argsNum(&map, "WaitTimeSeconds", 0, FSM_WAIT_MAX_S, false,
                        &a->wait, &a->has_wait, e) != 0) {
                return -1;
            }
            if (!a->has_max) {
                a->max = 1;
            }
            a->sysnames = 0;
            if (argsSysAttrNames(&map, "AttributeNames", a, e) != 0 ||
                argsSysAttrNames(&map, "MessageSystemAttributeNames", a, e) !=
                    0) {
                return -1;
            }
            return argsMsgAttrNames(&map, a, e);
        case FSM_OP_DELETE_MESSAGE:
        case FSM_OP_CHANGE_VISIBILITY:
            if (argsQueue(&map, "QueueName", false, a, e) != 0) {
                return -1;
            }
            memset(&a->rcpt[0], 0, sizeof a->rcpt[0]);
            a->n = 1;
            return argsReceiptEntry(&map, op == FSM_OP_CHANGE_VISIBILITY,
                                    &a->rcpt[0], e);
        case FSM_OP_START_MESSAGE_MOVE_TASK: {
            struct args d;
            if (argsQueue(&map, "SourceQueueName", false, a, e) != 0) {
                return -1;
            }
            a->dest.p = NULL;
            a->dest.len = 0;
            if (argsFind(&map, "DestinationQueueName", &v)) {
                d.name.len = 0;
                if (argsQueue(&map, "DestinationQueueName", false, &d, e) != 0) {
                    return -1;
                }
                a->dest = d.name;
            }
            return 0;
        }
        case FSM_OP_TICK:
        case FSM_OP_SWEEP:
            return 0;
        default:
            return argFail(e, FSM_ERR_INVALID_COMMAND, "unknown op %u", op);
    }
}

enum fsmError fsmCommandCheck(const struct fsmCommand *cmd,
                              char *errmsg,
                              size_t errmsg_len)
{
    static __thread struct args a; /* large: keep it off the stack */
    struct argErr e;

    if (argsParse(cmd, &a, &e) != 0) {
        if (errmsg != NULL && errmsg_len > 0) {
            snprintf(errmsg, errmsg_len, "%s", e.msg);
        }
        return e.code;
    }
    if (errmsg != NULL && errmsg_len > 0) {
        errmsg[0] = '\0';
    }
    return FSM_ERR_NONE;
}

bool fsmCommandQueue(const struct fsmCommand *cmd, const char **name,
                     size_t *len)
{
    struct mpReader r = {cmd->args, cmd->args_len};
    struct mpVal map;
    struct mpVal v;
    const char *key = cmd->op == FSM_OP_START_MESSAGE_MOVE_TASK
                          ? "SourceQueueName"
                          : "QueueName";

    if (cmd->args == NULL || cmd->args_len == 0 || !mpNext(&r, &map) ||
        !argsFind(&map, key, &v) || v.type != MP_STR) {
        return false;
    }
    *name = (const char *)v.ptr;
    *len = v.len;
    return true;
}
