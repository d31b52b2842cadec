/* The wire codec: frames, requests, replies, error names. No I/O.
 *
 * Reading uses the msgpack cursor of mpread.c (wireNext/wireSkip), which
 * allocates nothing and points into the payload; writing uses msgpack-c's
 * packer over an sbuffer.
 *
 * Decoding a request is strict: one map, string keys, known keys of the
 * right type and at most once, required keys present, and nothing after
 * the map. Unknown keys are skipped whatever they hold.
 */
#include "client/internal.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Error and op names                                                      */

/* Wire names of the error codes, by code. */
static const char *const wireErrNames[] = {
#define WIRE__ERR_NAME(CODE, NAME, TEXT) NAME,
    QRAFT_ERRORS(WIRE__ERR_NAME)
#undef WIRE__ERR_NAME
};

/* Sentences of the error codes, by code. */
static const char *const wireErrTexts[] = {
#define WIRE__ERR_TEXT(CODE, NAME, TEXT) TEXT,
    QRAFT_ERRORS(WIRE__ERR_TEXT)
#undef WIRE__ERR_TEXT
};

/* Names of the ops, by enum qraft_op (index 0 is QRAFT_OP_UNKNOWN). */
static const char *const wireOpNames[] = {
    "unknown",
#define WIRE__OP_NAME(CODE, NAME) NAME,
    QRAFT_OPS(WIRE__OP_NAME)
#undef WIRE__OP_NAME
};

#define WIRE_N_OPS (sizeof(wireOpNames) / sizeof(wireOpNames[0]))

QRAFT_API const char *qraft_errname(int code)
{
    if (code < 0 || code >= QRAFT_ERROR_COUNT) {
        return "UnknownError";
    }
    return wireErrNames[code];
}

QRAFT_API const char *qraft_strerror(int code)
{
    if (code < 0 || code >= QRAFT_ERROR_COUNT) {
        return "unknown error code";
    }
    return wireErrTexts[code];
}

QRAFT_API int qraft_errcode(const char *name, size_t len)
{
    int i;
    if (name == NULL) {
        return QRAFT_EINTERNAL;
    }
    for (i = 0; i < QRAFT_ERROR_COUNT; i++) {
        if (strlen(wireErrNames[i]) == len &&
            memcmp(wireErrNames[i], name, len) == 0) {
            return i;
        }
    }
    return QRAFT_EINTERNAL;
}

QRAFT_API const char *qraft_op_name(int op)
{
    if (op <= QRAFT_OP_UNKNOWN || (size_t)op >= WIRE_N_OPS) {
        return "unknown";
    }
    return wireOpNames[op];
}

bool wireOpHasSession(int op)
{
    switch (op) {
        case QRAFT_OP_QUEUE_CREATE:
        case QRAFT_OP_QUEUE_DELETE:
        case QRAFT_OP_SEND:
        case QRAFT_OP_RECEIVE:
        case QRAFT_OP_DELETE:
            return true;
        default:
            return false;
    }
}

void wireErrf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (buf == NULL || len == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Frame reader                                                            */

QRAFT_API void qraft_wire_reader_init(struct qraft_wire_reader *r,
                                      size_t max_frame)
{
    memset(r, 0, sizeof *r);
    r->max_frame = max_frame;
}

QRAFT_API void qraft_wire_reader_close(struct qraft_wire_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = r->start = 0;
}

QRAFT_API int qraft_wire_reader_feed(struct qraft_wire_reader *r,
                                     const void *data,
                                     size_t len)
{
    size_t live;
    size_t need;
    size_t cap;
    char *buf;
    if (len == 0) {
        return 0;
    }
    /* Drop consumed bytes first: payloads handed out earlier are invalid
     * from here on, as documented. */
    if (r->start > 0) {
        live = r->len - r->start;
        if (live > 0) {
            memmove(r->buf, r->buf + r->start, live);
        }
        r->len = live;
        r->start = 0;
    }
    if (len > SIZE_MAX - r->len) {
        return QRAFT_ENOMEM;
    }
    need = r->len + len;
    if (need > r->cap) {
        cap = r->cap > 0 ? r->cap : 4096;
        while (cap < need) {
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        }
        buf = realloc(r->buf, cap);
        if (buf == NULL) {
            return QRAFT_ENOMEM;
        }
        r->buf = buf;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

QRAFT_API int qraft_wire_reader_next(struct qraft_wire_reader *r,
                                     const void **payload,
                                     size_t *len)
{
    const unsigned char *h;
    size_t avail = r->len - r->start;
    uint32_t n;
    if (avail < 4) {
        if (avail == 0) {
            r->len = r->start = 0;
        }
        return 0;
    }
    h = (const unsigned char *)r->buf + r->start;
    n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
        (uint32_t)h[3];
    if (n > r->max_frame) {
        return QRAFT_EFRAME_TOO_LARGE;
    }
    if (avail - 4 < n) {
        return 0;
    }
    *payload = r->buf + r->start + 4;
    *len = n;
    r->start += 4 + (size_t)n;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                                */

/* A packer writing into an sbuffer whose first 4 bytes are the frame
 * length, filled in by wireFrameEnd(). */
struct wireOut
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rv; /* sticky: non-zero once a write failed */
};

static void wireOutInit(struct wireOut *o)
{
    static const char zero[4] = {0, 0, 0, 0};
    msgpack_sbuffer_init(&o->sb);
    msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
    o->rv = msgpack_sbuffer_write(&o->sb, zero, 4);
}

static void wireOutStr(struct wireOut *o, const char *s, size_t len)
{
    if (o->rv == 0) {
        o->rv = msgpack_pack_str(&o->pk, len);
    }
    if (o->rv == 0 && len > 0) {
        o->rv = msgpack_pack_str_body(&o->pk, s, len);
    }
}

static void wireOutKey(struct wireOut *o, const char *key)
{
    wireOutStr(o, key, strlen(key));
}

static void wireOutUint(struct wireOut *o, const char *key, uint64_t x)
{
    wireOutKey(o, key);
    if (o->rv == 0) {
        o->rv = msgpack_pack_uint64(&o->pk, x);
    }
}

/* Finish the frame: fill in the length and hand the buffer over. */
static int wireFrameEnd(struct wireOut *o, void **frame, size_t *len)
{
    size_t n;
    unsigned char *p;
    if (o->rv != 0 || o->sb.size - 4 > UINT32_MAX) {
        msgpack_sbuffer_destroy(&o->sb);
        return QRAFT_ENOMEM;
    }
    n = o->sb.size - 4;
    p = (unsigned char *)o->sb.data;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    *len = o->sb.size;
    *frame = msgpack_sbuffer_release(&o->sb);
    return 0;
}

QRAFT_API int qraft_wire_encode_request(const struct qraft_request *req,
                                        void **frame,
                                        size_t *len)
{
    struct wireOut o;
    bool session;
    bool body;
    size_t n = 2;
    if (req == NULL || frame == NULL || len == NULL ||
        req->op <= QRAFT_OP_UNKNOWN || (size_t)req->op >= WIRE_N_OPS) {
        return QRAFT_EINVAL;
    }
    session = wireOpHasSession(req->op) || req->client_id != 0;
    body = req->body != NULL || req->op == QRAFT_OP_SEND;
    n += session ? 3 : 0;
    n += req->op == QRAFT_OP_HELLO;
    n += req->queue != NULL;
    n += body;
    n += req->receipt != NULL;
    n += req->max_messages > 0;
    n += req->visibility_s >= 0;

    wireOutInit(&o);
    if (o.rv == 0) {
        o.rv = msgpack_pack_map(&o.pk, n);
    }
    wireOutUint(&o, "id", req->id);
    wireOutKey(&o, "op");
    wireOutStr(&o, wireOpNames[req->op], strlen(wireOpNames[req->op]));
    if (session) {
        wireOutUint(&o, "cid", req->client_id);
        wireOutUint(&o, "seq", req->seq);
        wireOutUint(&o, "ack", req->ack);
    }
    if (req->op == QRAFT_OP_HELLO) {
        wireOutUint(&o, "version", req->version);
    }
    if (req->queue != NULL) {
        wireOutKey(&o, "queue");
        wireOutStr(&o, req->queue, req->queue_len);
    }
    if (body) {
        wireOutKey(&o, "body");
        if (o.rv == 0) {
            o.rv = msgpack_pack_bin(&o.pk, req->body_len);
        }
        if (o.rv == 0 && req->body_len > 0) {
            o.rv = msgpack_pack_bin_body(&o.pk, req->body, req->body_len);
        }
    }
    if (req->receipt != NULL) {
        wireOutKey(&o, "receipt");
        wireOutStr(&o, req->receipt, req->receipt_len);
    }
    if (req->max_messages > 0) {
        wireOutUint(&o, "max", req->max_messages);
    }
    if (req->visibility_s >= 0) {
        wireOutUint(&o, "visibility", (uint64_t)req->visibility_s);
    }
    return wireFrameEnd(&o, frame, len);
}

QRAFT_API int qraft_wire_encode_reply(uint64_t id,
                                      const void *body,
                                      size_t body_len,
                                      void **frame,
                                      size_t *len)
{
    struct wireCursor cur;
    struct wireValue v;
    const unsigned char *pairs;
    struct wireOut o;
    if (frame == NULL || len == NULL) {
        return QRAFT_EINVAL;
    }
    wireCursorInit(&cur, body, body_len);
    if (wireNext(&cur, &v) != 0 || v.type != WIRE_MAP || v.len >= UINT32_MAX) {
        return QRAFT_EMALFORMED;
    }
    pairs = cur.p;
    if (wireSkipElements(&cur, &v) != 0 || cur.p != cur.end) {
        return QRAFT_EMALFORMED;
    }
    wireOutInit(&o);
    if (o.rv == 0) {
        o.rv = msgpack_pack_map(&o.pk, v.len + 1);
    }
    wireOutUint(&o, "id", id);
    if (o.rv == 0 && cur.end > pairs) {
        o.rv = msgpack_sbuffer_write(&o.sb, (const char *)pairs,
                                     (size_t)(cur.end - pairs));
    }
    return wireFrameEnd(&o, frame, len);
}

QRAFT_API int qraft_wire_encode_error(uint64_t id,
                                      int code,
                                      const char *message,
                                      const char *leader,
                                      void **frame,
                                      size_t *len)
{
    struct wireOut o;
    const char *name = qraft_errname(code);
    if (frame == NULL || len == NULL) {
        return QRAFT_EINVAL;
    }
    if (message == NULL) {
        message = qraft_strerror(code);
    }
    wireOutInit(&o);
    if (o.rv == 0) {
        o.rv = msgpack_pack_map(&o.pk, leader != NULL ? 5 : 4);
    }
    wireOutUint(&o, "id", id);
    wireOutKey(&o, "ok");
    if (o.rv == 0) {
        o.rv = msgpack_pack_false(&o.pk);
    }
    wireOutKey(&o, "code");
    wireOutStr(&o, name, strlen(name));
    wireOutKey(&o, "message");
    wireOutStr(&o, message, strlen(message));
    if (leader != NULL) {
        wireOutKey(&o, "leader");
        wireOutStr(&o, leader, strlen(leader));
    }
    return wireFrameEnd(&o, frame, len);
}

/* ---------------------------------------------------------------------- */
/* Decoding a request                                                      */

/* Keys a request may carry, one bit each for the duplicate check. */
enum {
    WIRE_K_ID,
    WIRE_K_OP,
    WIRE_K_CID,
    WIRE_K_SEQ,
    WIRE_K_ACK,
    WIRE_K_VERSION,
    WIRE_K_QUEUE,
    WIRE_K_BODY,
    WIRE_K_RECEIPT,
    WIRE_K_MAX,
    WIRE_K_VISIBILITY,
    WIRE_K_COUNT
};

/* Key names, by WIRE_K_*. */
static const char *const wireKeyNames[WIRE_K_COUNT] = {
    "id",    "op",   "cid",     "seq", "ack",       "version",
    "queue", "body", "receipt", "max", "visibility"};

/* Index of a key, or -1 for a key we do not know. */
static int wireKeyIndex(const struct wireValue *k)
{
    int i;
    for (i = 0; i < WIRE_K_COUNT; i++) {
        if (wireStrEq(k, wireKeyNames[i])) {
            return i;
        }
    }
    return -1;
}

/* Copy up to 32 bytes of @v into @out (size >= 40) as printable text. */
static void wirePrintable(const struct wireValue *v, char *out)
{
    size_t i;
    size_t n = v->len < 32 ? v->len : 32;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v->ptr[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    strcpy(out + n, v->len > 32 ? "..." : "");
}

/* Find a valid "id" anywhere in the map, so that an error reply can echo
 * it even if another key is bad. Best effort: stops at broken bytes. */
static void wireScanId(struct wireCursor cur, size_t pairs, uint64_t *id)
{
    struct wireValue k;
    struct wireValue v;
    size_t i;
    for (i = 0; i < pairs; i++) {
        if (wireNext(&cur, &k) != 0 || wireSkipElements(&cur, &k) != 0) {
            return;
        }
        if (wireStrEq(&k, "id")) {
            if (wireNext(&cur, &v) != 0) {
                return;
            }
            if (v.type == WIRE_UINT) {
                *id = v.u;
                return;
            }
            if (wireSkipElements(&cur, &v) != 0) {
                return;
            }
        } else if (wireSkip(&cur) != 0) {
            return;
        }
    }
}

/* Store the value @v of known key @key into @req. Returns 0 or -1 for a
 * value of the wrong type. */
static int wireDecodeValue(int key,
                           const struct wireValue *v,
                           struct qraft_request *req,
                           struct wireValue *op)
{
    switch (key) {
        case WIRE_K_OP:
            if (v->type != WIRE_STR) {
                return -1;
            }
            *op = *v;
            return 0;
        case WIRE_K_QUEUE:
        case WIRE_K_RECEIPT:
            if (v->type != WIRE_STR) {
                return -1;
            }
            if (key == WIRE_K_QUEUE) {
                req->queue = v->ptr;
                req->queue_len = v->len;
            } else {
                req->receipt = v->ptr;
                req->receipt_len = v->len;
            }
            return 0;
        case WIRE_K_BODY:
            if (v->type != WIRE_BIN && v->type != WIRE_STR) {
                return -1;
            }
            req->body = v->ptr;
            req->body_len = v->len;
            return 0;
        default:
            break;
    }
    if (v->type != WIRE_UINT) {
        return -1;
    }
    switch (key) {
        case WIRE_K_ID:
            req->id = v->u;
            break;
        case WIRE_K_CID:
            req->client_id = v->u;
            break;
        case WIRE_K_SEQ:
            req->seq = v->u;
            break;
        case WIRE_K_ACK:
            req->ack = v->u;
            break;
        case WIRE_K_VERSION:
            /* Out of range values saturate: still a number, so the node
             * answers with a version mismatch, not a type error. */
            req->version = v->u > UINT32_MAX ? UINT32_MAX : (uint32_t)v->u;
            break;
        case WIRE_K_MAX:
            req->max_messages =
                v->u > UINT32_MAX ? UINT32_MAX : (uint32_t)v->u;
            break;
        case WIRE_K_VISIBILITY:
            req->visibility_s =
                v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
            break;
        default:
            break;
    }
    return 0;
}

/* Check what @req->op requires. Returns 0 or QRAFT_EMALFORMED. */
static int wireCheckRequired(const struct qraft_request *req,
                             unsigned seen,
                             char *errmsg,
                             size_t errmsg_len)
{
    static const int sessionKeys[] = {WIRE_K_CID, WIRE_K_SEQ, WIRE_K_ACK};
    const char *op = wireOpNames[req->op];
    size_t i;
    if (wireOpHasSession(req->op)) {
        for (i = 0; i < 3; i++) {
            if (!(seen & (1u << sessionKeys[i]))) {
                wireErrf(errmsg, errmsg_len,
                         "missing key '%s': op '%s' needs a session",
                         wireKeyNames[sessionKeys[i]], op);
                return QRAFT_EMALFORMED;
            }
        }
        if (req->client_id == 0) {
            wireErrf(errmsg, errmsg_len, "key 'cid' must not be 0");
            return QRAFT_EMALFORMED;
        }
        if (req->seq == 0) {
            wireErrf(errmsg, errmsg_len, "key 'seq' must be 1 or more");
            return QRAFT_EMALFORMED;
        }
        if (!(seen & (1u << WIRE_K_QUEUE))) {
            wireErrf(errmsg, errmsg_len, "missing key 'queue' for op '%s'",
                     op);
            return QRAFT_EMALFORMED;
        }
    }
    if (req->op == QRAFT_OP_SEND && !(seen & (1u << WIRE_K_BODY))) {
        wireErrf(errmsg, errmsg_len, "missing key 'body' for op 'send'");
        return QRAFT_EMALFORMED;
    }
    if (req->op == QRAFT_OP_DELETE && !(seen & (1u << WIRE_K_RECEIPT))) {
        wireErrf(errmsg, errmsg_len, "missing key 'receipt' for op 'delete'");
        return QRAFT_EMALFORMED;
    }
    return 0;
}

QRAFT_API int qraft_wire_decode_request(const void *payload,
                                        size_t len,
                                        struct qraft_request *req,
                                        char *errmsg,
                                        size_t errmsg_len)
{
    struct wireCursor cur;
    struct wireValue map;
    struct wireValue k;
    struct wireValue v;
    struct wireValue op;
    char shown[40];
    unsigned seen = 0;
    size_t i;
    int key;
    int o;

    if (req == NULL) {
        return QRAFT_EINVAL;
    }
    memset(req, 0, sizeof *req);
    req->visibility_s = -1;
    memset(&op, 0, sizeof op);
    wireErrf(errmsg, errmsg_len, "%s", "");

    wireCursorInit(&cur, payload, len);
    if (wireNext(&cur, &map) != 0 || map.type != WIRE_MAP) {
        wireErrf(errmsg, errmsg_len, "the payload is not a msgpack map");
        return QRAFT_EMALFORMED;
    }
    wireScanId(cur, map.len, &req->id);

    for (i = 0; i < map.len; i++) {
        if (wireNext(&cur, &k) != 0) {
            wireErrf(errmsg, errmsg_len, "the map is truncated");
            return QRAFT_EMALFORMED;
        }
        if (k.type != WIRE_STR) {
            wireErrf(errmsg, errmsg_len, "map keys must be strings");
            return QRAFT_EMALFORMED;
        }
        key = wireKeyIndex(&k);
        if (key < 0) {
            if (wireSkip(&cur) != 0) {
                wireErrf(errmsg, errmsg_len, "the map is truncated");
                return QRAFT_EMALFORMED;
            }
            continue;
        }
        if (seen & (1u << key)) {
            wireErrf(errmsg, errmsg_len, "key '%s' appears twice",
                     wireKeyNames[key]);
            return QRAFT_EMALFORMED;
        }
        seen |= 1u << key;
        if (wireNext(&cur, &v) != 0 || wireSkipElements(&cur, &v) != 0) {
            wireErrf(errmsg, errmsg_len, "the map is truncated");
            return QRAFT_EMALFORMED;
        }
        if (wireDecodeValue(key, &v, req, &op) != 0) {
            wireErrf(errmsg, errmsg_len, "key '%s' must be %s",
                     wireKeyNames[key],
                     key == WIRE_K_OP || key == WIRE_K_QUEUE ||
                             key == WIRE_K_RECEIPT
                         ? "a string"
                         : key == WIRE_K_BODY ? "binary"
                                              : "an unsigned integer");
            return QRAFT_EMALFORMED;
        }
    }
    if (cur.p != cur.end) {
        wireErrf(errmsg, errmsg_len, "bytes after the map");
        return QRAFT_EMALFORMED;
    }
    if (!(seen & (1u << WIRE_K_ID))) {
        wireErrf(errmsg, errmsg_len, "missing key 'id'");
        return QRAFT_EMALFORMED;
    }
    if (!(seen & (1u << WIRE_K_OP))) {
        wireErrf(errmsg, errmsg_len, "missing key 'op'");
        return QRAFT_EMALFORMED;
    }
    for (o = QRAFT_OP_UNKNOWN + 1; (size_t)o < WIRE_N_OPS; o++) {
        if (wireStrEq(&op, wireOpNames[o])) {
            req->op = o;
        }
    }
    if (req->op == QRAFT_OP_UNKNOWN) {
        wirePrintable(&op, shown);
        wireErrf(errmsg, errmsg_len, "unknown op '%s'", shown);
        return QRAFT_EUNKNOWN_OP;
    }
    return wireCheckRequired(req, seen, errmsg, errmsg_len);
}
