/* The wire codec: frames, requests, replies, error names. No I/O.
 *
 * Reading uses the msgpack cursor of mpread.c (wireNext/wireSkip), which
 * allocates nothing and points into the payload; writing uses msgpack-c's
 * packer over an sbuffer.
 *
 * Decoding a request reads the envelope only: one map, string keys, known
 * keys (id, op, cid, seq, ack, version, args) of the right type and at
 * most once, id and op present, and nothing after the map. Unknown keys
 * are skipped whatever they hold. The args map is checked to be
 * well-formed msgpack and handed over as bytes: what it holds is the
 * node's and the state machine's business.
 */
#include "client/internal.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Error names                                                             */

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

/* Check that [p, p + len) is exactly one well-formed msgpack map. */
static bool wireIsOneMap(const void *p, size_t len)
{
    struct wireCursor cur;
    struct wireValue v;
    wireCursorInit(&cur, p, len);
    return wireNext(&cur, &v) == 0 && v.type == WIRE_MAP &&
           wireSkipElements(&cur, &v) == 0 && cur.p == cur.end;
}

QRAFT_API int qraft_wire_encode_request(const struct qraft_request *req,
                                        void **frame,
                                        size_t *len)
{
    struct wireOut o;
    bool session;
    size_t n = 2;
    if (req == NULL || frame == NULL || len == NULL || req->op == NULL ||
        req->op_len == 0 ||
        (req->args != NULL && !wireIsOneMap(req->args, req->args_len))) {
        return QRAFT_EINVAL;
    }
    session = req->client_id != 0;
    n += session ? 3 : 0;
    n += req->version != 0;
    n += req->args != NULL;

    wireOutInit(&o);
    if (o.rv == 0) {
        o.rv = msgpack_pack_map(&o.pk, n);
    }
    wireOutUint(&o, "id", req->id);
    wireOutKey(&o, "op");
    wireOutStr(&o, req->op, req->op_len);
    if (session) {
        wireOutUint(&o, "cid", req->client_id);
        wireOutUint(&o, "seq", req->seq);
        wireOutUint(&o, "ack", req->ack);
    }
    if (req->version != 0) {
        wireOutUint(&o, "version", req->version);
    }
    if (req->args != NULL) {
        wireOutKey(&o, "args");
        if (o.rv == 0) {
            o.rv = msgpack_sbuffer_write(&o.sb, req->args, req->args_len);
        }
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
    WIRE_K_ARGS,
    WIRE_K_COUNT
};

/* Key names, by WIRE_K_*. */
static const char *const wireKeyNames[WIRE_K_COUNT] = {
    "id", "op", "cid", "seq", "ack", "version", "args"};

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

/* Store the value @v of known key @key (whose bytes start at @start and
 * end at @end) into @req. Returns 0 or -1 for a value of the wrong type. */
static int wireDecodeValue(int key,
                           const struct wireValue *v,
                           const unsigned char *start,
                           const unsigned char *end,
                           struct qraft_request *req)
{
    switch (key) {
        case WIRE_K_OP:
            if (v->type != WIRE_STR) {
                return -1;
            }
            req->op = v->ptr;
            req->op_len = v->len;
            return 0;
        case WIRE_K_ARGS:
            if (v->type != WIRE_MAP) {
                return -1;
            }
            req->args = start;
            req->args_len = (size_t)(end - start);
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
        default: /* WIRE_K_VERSION */
            /* Out of range values saturate: still a number, so the node
             * answers with a version mismatch, not a type error. */
            req->version = v->u > UINT32_MAX ? UINT32_MAX : (uint32_t)v->u;
            break;
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
    const unsigned char *start;
    unsigned seen = 0;
    size_t i;
    int key;

    if (req == NULL) {
        return QRAFT_EINVAL;
    }
    memset(req, 0, sizeof *req);
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
        start = cur.p;
        if (wireNext(&cur, &v) != 0 || wireSkipElements(&cur, &v) != 0) {
            wireErrf(errmsg, errmsg_len, "the map is truncated");
            return QRAFT_EMALFORMED;
        }
        if (wireDecodeValue(key, &v, start, cur.p, req) != 0) {
            wireErrf(errmsg, errmsg_len, "key '%s' must be %s",
                     wireKeyNames[key],
                     key == WIRE_K_OP     ? "a string"
                     : key == WIRE_K_ARGS ? "a map"
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
    return 0;
}
