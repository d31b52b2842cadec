/* A msgpack cursor of our own: reads one value at a time from a buffer,
 * allocates nothing, and skips nested values iteratively.
 *
 * msgpack-c's unpacker allocates an array of N objects as soon as a
 * container declares N elements, before it checks that the bytes are there,
 * so five bytes of input could ask for tens of gigabytes. The cursor checks
 * every declared length against the bytes left first, and its strings and
 * bins point into the buffer. Used by the request and reply decoders.
 */
#include "client/internal.h"

#include <stdio.h>
#include <string.h>
/* msgpack cursor                                                          */

void wireCursorInit(struct wireCursor *cur, const void *data, size_t len)
{
    cur->p = data;
    cur->end = cur->p + (data == NULL ? 0 : len);
}

/* Read an n-byte big-endian unsigned integer, if there. */
static int wireBe(struct wireCursor *cur, unsigned n, uint64_t *out)
{
    uint64_t x = 0;
    unsigned i;
    if ((size_t)(cur->end - cur->p) < n) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        x = (x << 8) | cur->p[i];
    }
    cur->p += n;
    *out = x;
    return 0;
}

/* Take @n bytes as the payload of a str, bin or ext. */
static int wireTake(struct wireCursor *cur, uint64_t n, struct wireValue *v)
{
    if ((uint64_t)(cur->end - cur->p) < n) {
        return -1;
    }
    v->ptr = (const char *)cur->p;
    v->len = (size_t)n;
    cur->p += n;
    return 0;
}

/* Check that a container's @n elements can fit in the bytes left. */
static int wireFits(struct wireCursor *cur, uint64_t n, unsigned per)
{
    if (n > (uint64_t)(cur->end - cur->p) / per) {
        return -1;
    }
    return 0;
}

/* Read a signed big-endian integer of @n bytes into @v. */
static int wireSigned(struct wireCursor *cur, unsigned n, struct wireValue *v)
{
    uint64_t x;
    int64_t s;
    if (wireBe(cur, n, &x) != 0) {
        return -1;
    }
    switch (n) {
        case 1:
            s = (int8_t)x;
            break;
        case 2:
            s = (int16_t)x;
            break;
        case 4:
            s = (int32_t)x;
            break;
        default:
            s = (int64_t)x;
            break;
    }
    if (s >= 0) {
        v->type = WIRE_UINT;
        v->u = (uint64_t)s;
    } else {
        v->type = WIRE_INT;
        v->i = s;
    }
    return 0;
}

int wireNext(struct wireCursor *cur, struct wireValue *v)
{
    unsigned char b;
    uint64_t n;
    memset(v, 0, sizeof *v);
    if (cur->p >= cur->end) {
        return -1;
    }
    b = *cur->p++;
    if (b <= 0x7f) {
        v->type = WIRE_UINT;
        v->u = b;
        return 0;
    }
    if (b >= 0xe0) {
        v->type = WIRE_INT;
        v->i = (int8_t)b;
        return 0;
    }
    if (b <= 0x8f) {
        v->type = WIRE_MAP;
        v->len = b & 0x0f;
        return wireFits(cur, v->len, 2);
    }
    if (b <= 0x9f) {
        v->type = WIRE_ARRAY;
        v->len = b & 0x0f;
        return wireFits(cur, v->len, 1);
    }
    if (b <= 0xbf) {
        v->type = WIRE_STR;
        return wireTake(cur, b & 0x1f, v);
    }
    switch (b) {
        case 0xc0:
            v->type = WIRE_NIL;
            return 0;
        case 0xc2:
        case 0xc3:
            v->type = WIRE_BOOL;
            v->b = b == 0xc3;
            return 0;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            v->type = WIRE_BIN;
            if (wireBe(cur, 1u << (b - 0xc4), &n) != 0) {
                return -1;
            }
            return wireTake(cur, n, v);
        case 0xc7:
        case 0xc8:
        case 0xc9:
            v->type = WIRE_EXT;
            if (wireBe(cur, 1u << (b - 0xc7), &n) != 0) {
                return -1;
            }
            return wireTake(cur, n + 1, v); /* type byte + data */
        case 0xca:
        case 0xcb:
            v->type = WIRE_FLOAT;
            return wireBe(cur, b == 0xca ? 4 : 8, &n);
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            v->type = WIRE_UINT;
            return wireBe(cur, 1u << (b - 0xcc), &v->u);
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            return wireSigned(cur, 1u << (b - 0xd0), v);
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            v->type = WIRE_EXT;
            return wireTake(cur, 1 + (1u << (b - 0xd4)), v);
        case 0xd9:
        case 0xda:
        case 0xdb:
            v->type = WIRE_STR;
            if (wireBe(cur, 1u << (b - 0xd9), &n) != 0) {
                return -1;
            }
            return wireTake(cur, n, v);
        case 0xdc:
        case 0xdd:
            v->type = WIRE_ARRAY;
            if (wireBe(cur, b == 0xdc ? 2 : 4, &n) != 0) {
                return -1;
            }
            v->len = (size_t)n;
            return wireFits(cur, n, 1);
        case 0xde:
        case 0xdf:
            v->type = WIRE_MAP;
            if (wireBe(cur, b == 0xde ? 2 : 4, &n) != 0) {
                return -1;
            }
            v->len = (size_t)n;
            return wireFits(cur, n, 2);
        default: /* 0xc1: never used */
            return -1;
    }
}

/* Skip @pending values. Every value takes at least one byte, so pending
 * never exceeds the bytes left, and the loop ends. */
static int wireSkipN(struct wireCursor *cur, uint64_t pending)
{
    struct wireValue v;
    while (pending > 0) {
        if (pending > (uint64_t)(cur->end - cur->p)) {
            return -1;
        }
        if (wireNext(cur, &v) != 0) {
            return -1;
        }
        pending--;
        if (v.type == WIRE_ARRAY) {
            pending += v.len;
        } else if (v.type == WIRE_MAP) {
            pending += 2 * (uint64_t)v.len;
        }
    }
    return 0;
}

int wireSkip(struct wireCursor *cur)
{
    return wireSkipN(cur, 1);
}

int wireSkipElements(struct wireCursor *cur, const struct wireValue *v)
{
    if (v->type == WIRE_ARRAY) {
        return wireSkipN(cur, v->len);
    }
    if (v->type == WIRE_MAP) {
        return wireSkipN(cur, 2 * (uint64_t)v->len);
    }
    return 0;
}

bool wireStrEq(const struct wireValue *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == WIRE_STR && v->len == n && memcmp(v->ptr, s, n) == 0;
}

int wireStrCopy(const struct wireValue *v, char *dst, size_t cap)
{
    if ((v->type != WIRE_STR && v->type != WIRE_BIN) || v->len >= cap) {
        return -1;
    }
    if (v->len > 0) {
        memcpy(dst, v->ptr, v->len);
    }
    dst[v->len] = '\0';
    return 0;
}
