/* Log entries: the envelope of struct fsmCommand.
 *
 * An entry is one msgpack map with string keys, then 0 to 7 zero bytes that
 * pad its length to a multiple of 8 (libraft's uv writer needs it). Keys,
 * in the order the encoder writes them:
 *
 *   "v"     uint  format version, 1                       always
 *   "op"    uint  enum fsmOp value                        always
 *   "now"   uint  now_ms stamped by the leader            always
 *   "cid"   uint  client id, non-zero                     mutating ops only
 *   "seq"   uint  session sequence, from 1                mutating ops only
 *   "ack"   uint  acknowledged mark                       mutating ops only
 *   "w"     true  long poll in progress                   ReceiveMessage,
 *                                                         only when true
 *   "rf"    uint  a refusal the node decided (fsmError)   mutating ops,
 *                                                         only when set
 *   "bd"    bin   fsmCommand.bodies: the proposer's MD5   SendMessage(Batch),
 *                 of message bodies, 24 bytes per body,   only when set
 *                 at most 10
 *   "args"  map   the op's arguments, raw                 when not empty
 *
 * The decoder is strict on the envelope: exactly one map, each key at most
 * once, only the keys above for its op, each of its type, required keys
 * present, args one well-formed map (checked with the allocation-free
 * reader of mp.c), and the bytes after the map zero and fewer than 8.
 * Anything else is FSM_ECORRUPT. What args hold is checked by the op
 * (args.c), so that a malformed argument is a normal stored error reply. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Format version written in "v". */
#define CMD_VERSION 1

/* Known keys (also their order in the encoding). */
#define CMD_KEYS(X)                                                          \
    X(CMD_K_V, "v")                                                          \
    X(CMD_K_OP, "op")                                                        \
    X(CMD_K_NOW, "now")                                                      \
    X(CMD_K_CID, "cid")                                                      \
    X(CMD_K_SEQ, "seq")                                                      \
    X(CMD_K_ACK, "ack")                                                      \
    X(CMD_K_W, "w")                                                          \
    X(CMD_K_RF, "rf")                                                        \
    X(CMD_K_BD, "bd")                                                        \
    X(CMD_K_ARGS, "args")

enum {
#define CMD__KEY_ENUM(CODE, NAME) CODE,
    CMD_KEYS(CMD__KEY_ENUM)
#undef CMD__KEY_ENUM
    CMD_NKEYS
};

/* Key names, indexed by key number. */
static const char *const cmdKeyNames[CMD_NKEYS] = {
#define CMD__KEY_NAME(CODE, NAME) NAME,
    CMD_KEYS(CMD__KEY_NAME)
#undef CMD__KEY_NAME
};

#define CMD_BIT(I) (1u << (I))
#define CMD_SESSION (CMD_BIT(CMD_K_CID) | CMD_BIT(CMD_K_SEQ) | CMD_BIT(CMD_K_ACK))

const char *fsmOpName(unsigned op)
{
    switch (op) {
#define FSM__OP_NAME(CODE, VALUE, NAME, MUTATES)                             \
    case CODE:                                                               \
        return NAME;
        FSM_OPS(FSM__OP_NAME)
#undef FSM__OP_NAME
        default:
            return NULL;
    }
}

unsigned fsmOpByName(const char *name, size_t len)
{
#define FSM__OP_BY_NAME(CODE, VALUE, NAME, MUTATES)                          \
    if (len == strlen(NAME) && memcmp(name, NAME, len) == 0) {               \
        return CODE;                                                         \
    }
    FSM_OPS(FSM__OP_BY_NAME)
#undef FSM__OP_BY_NAME
    return 0;
}

bool fsmOpMutates(unsigned op)
{
    switch (op) {
#define FSM__OP_MUTATES(CODE, VALUE, NAME, MUTATES)                          \
    case CODE:                                                               \
        return MUTATES;
        FSM_OPS(FSM__OP_MUTATES)
#undef FSM__OP_MUTATES
        default:
            return false;
    }
}

bool fsmOpReads(unsigned op)
{
    return op == FSM_OP_LIST_QUEUES || op == FSM_OP_GET_QUEUE_ATTRIBUTES ||
           op == FSM_OP_LIST_QUEUE_TAGS || op == FSM_OP_LIST_DLQ_SOURCES;
}

const char *fsmErrorName(enum fsmError e)
{
    switch (e) {
#define FSM__ERROR_NAME(CODE, NAME)                                          \
    case CODE:                                                               \
        return NAME;
        FSM_ERRORS(FSM__ERROR_NAME)
#undef FSM__ERROR_NAME
        default:
            return NULL;
    }
}

/* True if @args/@len is empty or exactly one well-formed map. */
static bool cmdArgsValid(const void *args, size_t len)
{
    struct mpReader r = {args, len};
    struct mpVal v;

    if (args == NULL || len == 0) {
        return true;
    }
    return mpNext(&r, &v) && v.type == MP_MAP && r.left == 0;
}

/* True if @op may carry body digests ("bd"), and @len is a whole number
 * of them, at most FSM_BODY_DIGESTS_MAX bytes. */
static bool cmdBodiesValid(unsigned op, size_t len)
{
    return (op == FSM_OP_SEND_MESSAGE || op == FSM_OP_SEND_MESSAGE_BATCH) && len > 0 &&
           len % FSM_BODY_DIGEST_LEN == 0 && len <= FSM_BODY_DIGESTS_MAX;
}

/* Output of the encoder: the caller's write callback, latched on its first
 * failure so that no later write can produce a short map. */
struct cmdOut
{
    int (*write)(void *data, const char *buf, size_t len);
    void *data;
    size_t len;
    bool failed;
};

/* msgpack write callback into a struct cmdOut. */
static int cmdWrite(void *data, const char *buf, size_t len)
{
    struct cmdOut *o = data;

    if (o->failed || o->write(o->data, buf, len) != 0) {
        o->failed = true;
        return -1;
    }
    o->len += len;
    return 0;
}

/* Pack a key name. */
static void cmdPackKey(msgpack_packer *pk, unsigned k)
{
    msgpack_pack_str_with_body(pk, cmdKeyNames[k], strlen(cmdKeyNames[k]));
}

int fsmCommandPack(const struct fsmCommand *cmd,
                   int (*write)(void *data, const char *buf, size_t len),
                   void *data,
                   size_t *len,
                   struct fsmCommandPlaces *at)
{
    static const char zeros[8] = {0};
    struct cmdOut o = {write, data, 0, false};
    msgpack_packer pk;
    bool mutates = fsmOpMutates(cmd->op);
    bool wait = cmd->wait && cmd->op == FSM_OP_RECEIVE_MESSAGE;
    bool args = cmd->args != NULL && cmd->args_len > 0;
    bool refuse = cmd->refuse != FSM_ERR_NONE;
    bool bodies = cmd->bodies != NULL && cmd->bodies_len > 0;

    *len = 0;
    if (fsmOpName(cmd->op) == NULL ||
        (mutates && (cmd->client_id == 0 || cmd->seq == 0)) ||
        (cmd->wait && !wait) || !cmdArgsValid(cmd->args, cmd->args_len) ||
        (refuse && (!mutates || fsmErrorName(cmd->refuse) == NULL)) ||
        (bodies && !cmdBodiesValid(cmd->op, cmd->bodies_len))) {
        return FSM_ECORRUPT;
    }
    msgpack_packer_init(&pk, &o, cmdWrite);
    msgpack_pack_map(&pk, 3 + (mutates ? 3u : 0u) + (wait ? 1u : 0u) +
                              (refuse ? 1u : 0u) + (bodies ? 1u : 0u) +
                              (args ? 1u : 0u));
    cmdPackKey(&pk, CMD_K_V);
    msgpack_pack_uint64(&pk, CMD_VERSION);
    cmdPackKey(&pk, CMD_K_OP);
    msgpack_pack_uint64(&pk, cmd->op);
    cmdPackKey(&pk, CMD_K_NOW);
    msgpack_pack_uint64(&pk, cmd->now_ms);
    if (mutates) {
        cmdPackKey(&pk, CMD_K_CID);
        msgpack_pack_uint64(&pk, cmd->client_id);
        cmdPackKey(&pk, CMD_K_SEQ);
        msgpack_pack_uint64(&pk, cmd->seq);
        cmdPackKey(&pk, CMD_K_ACK);
        msgpack_pack_uint64(&pk, cmd->ack);
    }
    if (wait) {
        cmdPackKey(&pk, CMD_K_W);
        msgpack_pack_true(&pk);
    }
    if (refuse) {
        cmdPackKey(&pk, CMD_K_RF);
        msgpack_pack_uint64(&pk, cmd->refuse);
    }
    if (at != NULL) {
        at->bodies = 0;
        at->args = 0;
    }
    if (bodies) {
        cmdPackKey(&pk, CMD_K_BD);
        msgpack_pack_bin(&pk, cmd->bodies_len);
        if (at != NULL) {
            at->bodies = o.len;
        }
        msgpack_pack_bin_body(&pk, cmd->bodies, cmd->bodies_len);
    }
    if (args) {
        cmdPackKey(&pk, CMD_K_ARGS);
        if (at != NULL) {
            at->args = o.len;
        }
        cmdWrite(&o, cmd->args, cmd->args_len);
    }
    if (o.len % 8 != 0) {
        cmdWrite(&o, zeros, 8 - o.len % 8);
    }
    if (o.failed) {
        return FSM_ENOMEM;
    }
    *len = o.len;
    return 0;
}

/* fsmCommandPack write callback into a msgpack_sbuffer. */
static int cmdBufferWrite(void *data, const char *buf, size_t len)
{
    return msgpack_sbuffer_write(data, buf, len) != 0 ? -1 : 0;
}

int fsmCommandEncode(const struct fsmCommand *cmd,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len)
{
    msgpack_sbuffer sb = {0, NULL, 0};
    size_t n;
    void *out;
    int rv;

    *buf = NULL;
    *len = 0;
    rv = fsmCommandPack(cmd, cmdBufferWrite, &sb, &n, NULL);
    if (rv != 0) {
        msgpack_sbuffer_destroy(&sb);
        return rv;
    }
    out = alloc(n);
    if (out == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return FSM_ENOMEM;
    }
    memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    *buf = out;
    *len = n;
    return 0;
}

/* Number of the key named by @v, or -1. */
static int cmdKeyIndex(const struct mpVal *v)
{
    static const uint8_t lens[CMD_NKEYS] = {
#define CMD__KEY_LEN(CODE, NAME) sizeof(NAME) - 1,
        CMD_KEYS(CMD__KEY_LEN)
#undef CMD__KEY_LEN
    };
    int k;

    if (v->type != MP_STR) {
        return -1;
    }
    for (k = 0; k < CMD_NKEYS; k++) {
        if (v->len == lens[k] && memcmp(v->ptr, cmdKeyNames[k], v->len) == 0) {
            return k;
        }
    }
    return -1;
}

/* Store value @v of key @k into @cmd; false on a wrong type or range. */
static bool cmdSetField(struct fsmCommand *cmd, int k, const struct mpVal *v)
{
    if (k == CMD_K_ARGS) {
        if (v->type != MP_MAP) {
            return false;
        }
        cmd->args = v->raw;
        cmd->args_len = v->raw_len;
        return true;
    }
    if (k == CMD_K_W) {
        cmd->wait = true;
        return v->type == MP_BOOL && v->b;
    }
    if (k == CMD_K_BD) {
        /* Its length is checked against the op once the op is known. */
        cmd->bodies = v->ptr;
        cmd->bodies_len = v->len;
        return v->type == MP_BIN;
    }
    if (v->type != MP_UINT) {
        return false;
    }
    switch (k) {
        case CMD_K_V:
            return v->u == CMD_VERSION;
        case CMD_K_OP:
            if (v->u > 0xffff || fsmOpName((unsigned)v->u) == NULL) {
                return false;
            }
            cmd->op = (unsigned)v->u;
            return true;
        case CMD_K_NOW:
            cmd->now_ms = v->u;
            return true;
        case CMD_K_CID:
            cmd->client_id = v->u;
            return v->u != 0;
        case CMD_K_SEQ:
            cmd->seq = v->u;
            return v->u != 0;
        case CMD_K_ACK:
            cmd->ack = v->u;
            return true;
        case CMD_K_RF:
            if (v->u == FSM_ERR_NONE || v->u > 0xffff ||
                fsmErrorName((enum fsmError)v->u) == NULL) {
                return false;
            }
            cmd->refuse = (unsigned)v->u;
            return true;
        default:
            return false;
    }
}

int fsmCommandDecode(const void *buf, size_t len, struct fsmCommand *cmd)
{
    struct mpReader r = {buf, len};
    struct mpVal map;
    unsigned present = 0;
    unsigned required;
    unsigned allowed;
    size_t i;

    memset(cmd, 0, sizeof *cmd);
    if (buf == NULL || !mpNext(&r, &map) || map.type != MP_MAP ||
        map.n > CMD_NKEYS) {
        goto err;
    }
    {
        struct mpReader e;
        uint32_t j;
        mpEnter(&map, &e);
        for (j = 0; j < map.n; j++) {
            struct mpVal key;
            struct mpVal val;
            int k;
            if (!mpNext(&e, &key) || (k = cmdKeyIndex(&key)) < 0 ||
                (present & CMD_BIT(k)) || !mpNext(&e, &val) ||
                !cmdSetField(cmd, k, &val)) {
                goto err;
            }
            present |= CMD_BIT(k);
        }
    }
    /* Padding: fewer than 8 bytes, all zero. */
    if (r.left >= 8) {
        goto err;
    }
    for (i = 0; i < r.left; i++) {
        if (r.p[i] != 0) {
            goto err;
        }
    }
    required = CMD_BIT(CMD_K_V) | CMD_BIT(CMD_K_OP) | CMD_BIT(CMD_K_NOW);
    allowed = required | CMD_BIT(CMD_K_ARGS);
    if (!(present & CMD_BIT(CMD_K_OP))) {
        goto err;
    }
    if (fsmOpMutates(cmd->op)) {
        required |= CMD_SESSION;
        allowed |= CMD_SESSION | CMD_BIT(CMD_K_RF);
    }
    if (cmd->op == FSM_OP_RECEIVE_MESSAGE) {
        allowed |= CMD_BIT(CMD_K_W);
    }
    if (cmd->op == FSM_OP_SEND_MESSAGE || cmd->op == FSM_OP_SEND_MESSAGE_BATCH) {
        allowed |= CMD_BIT(CMD_K_BD);
    }
    if ((present & required) != required || (present & ~allowed) != 0 ||
        ((present & CMD_BIT(CMD_K_BD)) && !cmdBodiesValid(cmd->op, cmd->bodies_len))) {
        goto err;
    }
    return 0;

err:
    memset(cmd, 0, sizeof *cmd);
    return FSM_ECORRUPT;
}
