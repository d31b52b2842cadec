/* Log entries: the encoding of struct fsmCommand.
 *
 * An entry is one msgpack map with string keys, then 0 to 7 zero bytes that
 * pad its length to a multiple of 8 (libraft's uv writer needs it). Keys:
 *
 *   "v"       uint  format version, 1                      always
 *   "op"      uint  enum fsmOp value                       always
 *   "now"     uint  now_ms stamped by the leader           always
 *   "cid"     uint  client id, non-zero                    mutating ops only
 *   "seq"     uint  session sequence, from 1               mutating ops only
 *   "ack"     uint  acknowledged mark                      mutating ops only
 *   "queue"   str   queue name         queue_create, queue_delete, send,
 *                                      recv, delete
 *   "body"    bin   message body       send
 *   "receipt" str   receipt handle     delete
 *   "max"     uint  max_messages       recv, optional (absent: 0)
 *   "vis"     int   visibility_s       queue_create and recv, optional
 *                                      (absent: -1)
 *
 * The encoder writes the keys in this order and only those its op uses.
 * The decoder is strict: exactly one map, each key at most once, only the
 * keys its op uses, each of its type (any msgpack integer width is accepted
 * for a value in range), required keys present, and the bytes after the map
 * zero and fewer than 8. Anything else is FSM_ECORRUPT.
 *
 * The decoder is hand-written rather than msgpack_unpack_next(): the
 * library allocates from the element counts an array or map header declares
 * before reading the elements (a 5-byte input can ask for 100 GB), and our
 * entries are one flat map of scalars, so a reader that allocates nothing
 * is both simpler and safe on arbitrary bytes. Strings and bins are
 * returned as pointers into the input buffer. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Format version written in "v". */
#define CMD_VERSION 1

/* Bits of the known keys (also their order in the encoding). */
#define CMD_KEYS(X)                                                          \
    X(CMD_K_V, "v")                                                          \
    X(CMD_K_OP, "op")                                                        \
    X(CMD_K_NOW, "now")                                                      \
    X(CMD_K_CID, "cid")                                                      \
    X(CMD_K_SEQ, "seq")                                                      \
    X(CMD_K_ACK, "ack")                                                      \
    X(CMD_K_QUEUE, "queue")                                                  \
    X(CMD_K_BODY, "body")                                                    \
    X(CMD_K_RECEIPT, "receipt")                                              \
    X(CMD_K_MAX, "max")                                                      \
    X(CMD_K_VIS, "vis")

enum {
#define CMD__KEY_ENUM(CODE, NAME) CODE##_I,
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
#define CMD_ALWAYS (CMD_BIT(CMD_K_V_I) | CMD_BIT(CMD_K_OP_I) | CMD_BIT(CMD_K_NOW_I))
#define CMD_SESSION                                                          \
    (CMD_BIT(CMD_K_CID_I) | CMD_BIT(CMD_K_SEQ_I) | CMD_BIT(CMD_K_ACK_I))

/* Keys an op requires (*required) and may carry (*allowed). Returns false
 * for an unknown op. */
static bool cmdOpKeys(unsigned op, unsigned *required, unsigned *allowed)
{
    unsigned req = CMD_ALWAYS;
    unsigned opt = 0;

    switch (op) {
        case FSM_OP_QUEUE_CREATE:
            req |= CMD_BIT(CMD_K_QUEUE_I);
            opt |= CMD_BIT(CMD_K_VIS_I);
            break;
        case FSM_OP_QUEUE_DELETE:
            req |= CMD_BIT(CMD_K_QUEUE_I);
            break;
        case FSM_OP_QUEUE_LIST:
        case FSM_OP_TICK:
            break;
        case FSM_OP_SEND:
            req |= CMD_BIT(CMD_K_QUEUE_I) | CMD_BIT(CMD_K_BODY_I);
            break;
        case FSM_OP_RECEIVE:
            req |= CMD_BIT(CMD_K_QUEUE_I);
            opt |= CMD_BIT(CMD_K_MAX_I) | CMD_BIT(CMD_K_VIS_I);
            break;
        case FSM_OP_DELETE:
            req |= CMD_BIT(CMD_K_QUEUE_I) | CMD_BIT(CMD_K_RECEIPT_I);
            break;
        default:
            return false;
    }
    if (fsmOpMutates(op)) {
        req |= CMD_SESSION;
    }
    *required = req;
    *allowed = req | opt;
    return true;
}

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

/* Output of the encoder: a buffer that latches an allocation failure, so
 * that no later write can produce a short map. */
struct cmdOut
{
    msgpack_sbuffer sb;
    bool oom;
};

/* msgpack write callback into a struct cmdOut. */
static int cmdWrite(void *data, const char *buf, size_t len)
{
    struct cmdOut *o = data;

    if (o->oom || msgpack_sbuffer_write(&o->sb, buf, len) != 0) {
        o->oom = true;
        return -1;
    }
    return 0;
}

/* Pack a key name. */
static void cmdPackKey(msgpack_packer *pk, unsigned k)
{
    msgpack_pack_str_with_body(pk, cmdKeyNames[k], strlen(cmdKeyNames[k]));
}

int fsmCommandEncode(const struct fsmCommand *cmd,
                     void *(*alloc)(size_t),
                     void **buf,
                     size_t *len)
{
    struct cmdOut o = {{0, NULL, 0}, false};
    msgpack_packer pk;
    unsigned required;
    unsigned allowed;
    unsigned present;
    unsigned n = 0;
    unsigned k;
    size_t padded;
    void *out;

    *buf = NULL;
    *len = 0;
    if (!cmdOpKeys(cmd->op, &required, &allowed)) {
        return FSM_ECORRUPT;
    }
    if (fsmOpMutates(cmd->op) && (cmd->client_id == 0 || cmd->seq == 0)) {
        return FSM_ECORRUPT;
    }
    present = required;
    if ((allowed & CMD_BIT(CMD_K_MAX_I)) && cmd->max_messages != 0) {
        present |= CMD_BIT(CMD_K_MAX_I);
    }
    if ((allowed & CMD_BIT(CMD_K_VIS_I)) && cmd->visibility_s != -1) {
        present |= CMD_BIT(CMD_K_VIS_I);
    }
    for (k = 0; k < CMD_NKEYS; k++) {
        n += (present >> k) & 1;
    }

    msgpack_packer_init(&pk, &o, cmdWrite);
    msgpack_pack_map(&pk, n);
    for (k = 0; k < CMD_NKEYS; k++) {
        if (!(present & CMD_BIT(k))) {
            continue;
        }
        cmdPackKey(&pk, k);
        switch (k) {
            case CMD_K_V_I:
                msgpack_pack_uint64(&pk, CMD_VERSION);
                break;
            case CMD_K_OP_I:
                msgpack_pack_uint64(&pk, cmd->op);
                break;
            case CMD_K_NOW_I:
                msgpack_pack_uint64(&pk, cmd->now_ms);
                break;
            case CMD_K_CID_I:
                msgpack_pack_uint64(&pk, cmd->client_id);
                break;
            case CMD_K_SEQ_I:
                msgpack_pack_uint64(&pk, cmd->seq);
                break;
            case CMD_K_ACK_I:
                msgpack_pack_uint64(&pk, cmd->ack);
                break;
            case CMD_K_QUEUE_I:
                msgpack_pack_str_with_body(&pk, cmd->queue != NULL ? cmd->queue : "",
                                           cmd->queue != NULL ? cmd->queue_len : 0);
                break;
            case CMD_K_BODY_I:
                msgpack_pack_bin_with_body(&pk, cmd->body != NULL ? cmd->body : "",
                                           cmd->body != NULL ? cmd->body_len : 0);
                break;
            case CMD_K_RECEIPT_I:
                msgpack_pack_str_with_body(
                    &pk, cmd->receipt != NULL ? cmd->receipt : "",
                    cmd->receipt != NULL ? cmd->receipt_len : 0);
                break;
            case CMD_K_MAX_I:
                msgpack_pack_uint64(&pk, cmd->max_messages);
                break;
            case CMD_K_VIS_I:
                msgpack_pack_int64(&pk, cmd->visibility_s);
                break;
        }
    }
    if (o.oom) {
        msgpack_sbuffer_destroy(&o.sb);
        return FSM_ENOMEM;
    }
    padded = (o.sb.size + 7) & ~(size_t)7;
    out = alloc(padded);
    if (out == NULL) {
        msgpack_sbuffer_destroy(&o.sb);
        return FSM_ENOMEM;
    }
    memcpy(out, o.sb.data, o.sb.size);
    memset((char *)out + o.sb.size, 0, padded - o.sb.size);
    msgpack_sbuffer_destroy(&o.sb);
    *buf = out;
    *len = padded;
    return 0;
}

/* Kinds of msgpack values the decoder accepts. */
enum cmdKind { CMD_UINT, CMD_NEGINT, CMD_STR, CMD_BIN };

/* One decoded value. */
struct cmdValue
{
    enum cmdKind kind;
    uint64_t u;       /* CMD_UINT */
    int64_t i;        /* CMD_NEGINT (< 0) */
    const void *ptr;  /* CMD_STR, CMD_BIN: into the input */
    size_t len;
};

/* A position in the input. */
struct cmdReader
{
    const uint8_t *p;
    size_t left;
};

/* Take @n bytes; false if the input is shorter. */
static bool cmdTake(struct cmdReader *r, size_t n, const uint8_t **out)
{
    if (r->left < n) {
        return false;
    }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

/* Read an unsigned big-endian integer of @n (1, 2, 4, 8) bytes. */
static bool cmdReadBe(struct cmdReader *r, size_t n, uint64_t *v)
{
    const uint8_t *b;
    size_t i;

    if (!cmdTake(r, n, &b)) {
        return false;
    }
    *v = 0;
    for (i = 0; i < n; i++) {
        *v = *v << 8 | b[i];
    }
    return true;
}

/* Store a signed integer @v into @out as CMD_UINT or CMD_NEGINT. */
static void cmdSigned(int64_t v, struct cmdValue *out)
{
    if (v >= 0) {
        out->kind = CMD_UINT;
        out->u = (uint64_t)v;
    } else {
        out->kind = CMD_NEGINT;
        out->i = v;
    }
}

/* Read a string or bin body of length @n. */
static bool cmdReadBytes(struct cmdReader *r,
                         size_t n,
                         enum cmdKind kind,
                         struct cmdValue *out)
{
    const uint8_t *b;

    if (!cmdTake(r, n, &b)) {
        return false;
    }
    out->kind = kind;
    out->ptr = b;
    out->len = n;
    return true;
}

/* Read one value: an integer, a str or a bin. Anything else (nil, bool,
 * float, array, map, ext) and truncation give false. */
static bool cmdReadValue(struct cmdReader *r, struct cmdValue *out)
{
    const uint8_t *b;
    uint64_t n;
    uint8_t t;

    if (!cmdTake(r, 1, &b)) {
        return false;
    }
    t = b[0];
    if (t <= 0x7f) { /* positive fixint */
        out->kind = CMD_UINT;
        out->u = t;
        return true;
    }
    if (t >= 0xe0) { /* negative fixint */
        cmdSigned((int64_t)(int8_t)t, out);
        return true;
    }
    if (t >= 0xa0 && t <= 0xbf) { /* fixstr */
        return cmdReadBytes(r, t & 0x1f, CMD_STR, out);
    }
    switch (t) {
        case 0xcc: /* uint 8..64 */
        case 0xcd:
        case 0xce:
        case 0xcf:
            if (!cmdReadBe(r, (size_t)1 << (t - 0xcc), &n)) {
                return false;
            }
            out->kind = CMD_UINT;
            out->u = n;
            return true;
        case 0xd0: /* int 8..64 */
        case 0xd1:
        case 0xd2:
        case 0xd3: {
            size_t w = (size_t)1 << (t - 0xd0);
            int64_t v;
            if (!cmdReadBe(r, w, &n)) {
                return false;
            }
            if (w < 8 && (n >> (w * 8 - 1)) != 0) { /* sign-extend */
                n |= ~(uint64_t)0 << (w * 8);
            }
            memcpy(&v, &n, sizeof v);
            cmdSigned(v, out);
            return true;
        }
        case 0xd9: /* str 8..32 */
        case 0xda:
        case 0xdb:
            if (!cmdReadBe(r, (size_t)1 << (t - 0xd9), &n)) {
                return false;
            }
            return n <= r->left && cmdReadBytes(r, (size_t)n, CMD_STR, out);
        case 0xc4: /* bin 8..32 */
        case 0xc5:
        case 0xc6:
            if (!cmdReadBe(r, (size_t)1 << (t - 0xc4), &n)) {
                return false;
            }
            return n <= r->left && cmdReadBytes(r, (size_t)n, CMD_BIN, out);
        default:
            return false;
    }
}

/* Read a map header. */
static bool cmdReadMap(struct cmdReader *r, uint64_t *n)
{
    const uint8_t *b;

    if (!cmdTake(r, 1, &b)) {
        return false;
    }
    if (b[0] >= 0x80 && b[0] <= 0x8f) {
        *n = b[0] & 0x0f;
        return true;
    }
    if (b[0] == 0xde) {
        return cmdReadBe(r, 2, n);
    }
    if (b[0] == 0xdf) {
        return cmdReadBe(r, 4, n);
    }
    return false;
}

/* Number of the key named by @v, or -1. */
static int cmdKeyIndex(const struct cmdValue *v)
{
    int k;

    if (v->kind != CMD_STR) {
        return -1;
    }
    for (k = 0; k < CMD_NKEYS; k++) {
        if (strlen(cmdKeyNames[k]) == v->len &&
            memcmp(cmdKeyNames[k], v->ptr, v->len) == 0) {
            return k;
        }
    }
    return -1;
}

/* Store value @v of key @k into @cmd; false on a wrong type or range. */
static bool cmdSetField(struct fsmCommand *cmd, int k, const struct cmdValue *v)
{
    switch (k) {
        case CMD_K_QUEUE_I:
        case CMD_K_RECEIPT_I:
            if (v->kind != CMD_STR) {
                return false;
            }
            if (k == CMD_K_QUEUE_I) {
                cmd->queue = v->ptr;
                cmd->queue_len = v->len;
            } else {
                cmd->receipt = v->ptr;
                cmd->receipt_len = v->len;
            }
            return true;
        case CMD_K_BODY_I:
            if (v->kind != CMD_BIN) {
                return false;
            }
            cmd->body = v->ptr;
            cmd->body_len = v->len;
            return true;
        case CMD_K_VIS_I:
            if (v->kind == CMD_NEGINT) {
                cmd->visibility_s = v->i;
                return true;
            }
            if (v->kind != CMD_UINT || v->u > INT64_MAX) {
                return false;
            }
            cmd->visibility_s = (int64_t)v->u;
            return true;
        default:
            break;
    }
    /* The rest are unsigned integers. */
    if (v->kind != CMD_UINT) {
        return false;
    }
    switch (k) {
        case CMD_K_V_I:
            return v->u == CMD_VERSION;
        case CMD_K_OP_I:
            if (v->u > 0xffff || fsmOpName((unsigned)v->u) == NULL) {
                return false;
            }
            cmd->op = (unsigned)v->u;
            return true;
        case CMD_K_NOW_I:
            cmd->now_ms = v->u;
            return true;
        case CMD_K_CID_I:
            cmd->client_id = v->u;
            return v->u != 0;
        case CMD_K_SEQ_I:
            cmd->seq = v->u;
            return v->u != 0;
        case CMD_K_ACK_I:
            cmd->ack = v->u;
            return true;
        case CMD_K_MAX_I:
            if (v->u > UINT32_MAX) {
                return false;
            }
            cmd->max_messages = (uint32_t)v->u;
            return true;
        default:
            return false;
    }
}

int fsmCommandDecode(const void *buf, size_t len, struct fsmCommand *cmd)
{
    struct cmdReader r = {buf, len};
    unsigned present = 0;
    unsigned required;
    unsigned allowed;
    uint64_t n;
    uint64_t i;

    memset(cmd, 0, sizeof *cmd);
    cmd->visibility_s = -1;
    if (buf == NULL || !cmdReadMap(&r, &n) || n > CMD_NKEYS) {
        goto err;
    }
    for (i = 0; i < n; i++) {
        struct cmdValue key;
        struct cmdValue val;
        int k;
        if (!cmdReadValue(&r, &key) || (k = cmdKeyIndex(&key)) < 0 ||
            (present & CMD_BIT(k)) || !cmdReadValue(&r, &val) ||
            !cmdSetField(cmd, k, &val)) {
            goto err;
        }
        present |= CMD_BIT(k);
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
    if (!(present & CMD_BIT(CMD_K_OP_I)) ||
        !cmdOpKeys(cmd->op, &required, &allowed) ||
        (present & required) != required || (present & ~allowed) != 0) {
        goto err;
    }
    return 0;

err:
    memset(cmd, 0, sizeof *cmd);
    cmd->visibility_s = -1;
    return FSM_ECORRUPT;
}
