/* An allocation-free msgpack reader.
 *
 * msgpack_unpack_next() allocates from the element counts an array or map
 * header declares before reading the elements (a 5-byte input can ask for
 * 100 GB). Log entries and their args come from clients, so fsm/ reads
 * them with this reader instead: it checks every value is complete and
 * well formed, returns strings as pointers into the input, and never
 * allocates. Nesting is bounded (MP_DEPTH_MAX) so that recursion is too. */
#include <string.h>

#include "internal.h"

/* Deepest nesting accepted (args need 5: args, Entries, entry,
 * MessageAttributes, attribute). */
#define MP_DEPTH_MAX 32

/* Take @n bytes. */
static bool mpTake(struct mpReader *r, size_t n, const uint8_t **out)
{
    if (r->left < n) {
        return false;
    }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

/* Read an unsigned big-endian integer of @n bytes. */
static bool mpBe(struct mpReader *r, size_t n, uint64_t *v)
{
    const uint8_t *b;
    size_t i;

    if (!mpTake(r, n, &b)) {
        return false;
    }
    *v = 0;
    for (i = 0; i < n; i++) {
        *v = *v << 8 | b[i];
    }
    return true;
}

/* Read @n bytes of body for a str/bin/ext. */
static bool mpBytes(struct mpReader *r, uint64_t n, enum mpType t,
                    struct mpVal *v)
{
    const uint8_t *b;

    if (n > r->left || !mpTake(r, (size_t)n, &b)) {
        return false;
    }
    v->type = t;
    v->ptr = b;
    v->len = (size_t)n;
    return true;
}

static bool mpNextDepth(struct mpReader *r, struct mpVal *v, int depth);

/* Read the @n elements (@pairs: 2n) of a container, checking each. */
static bool mpContainer(struct mpReader *r, uint64_t n, bool pairs,
                        enum mpType t, struct mpVal *v, int depth)
{
    uint64_t count = pairs ? 2 * n : n;
    const uint8_t *start = r->p;
    struct mpVal e;
    uint64_t i;

    if (depth >= MP_DEPTH_MAX || n > UINT32_MAX || count > r->left) {
        return false; /* every element takes at least one byte */
    }
    for (i = 0; i < count; i++) {
        if (!mpNextDepth(r, &e, depth + 1)) {
            return false;
        }
    }
    v->type = t;
    v->n = (uint32_t)n;
    v->ptr = start;
    v->len = (size_t)(r->p - start);
    return true;
}

/* Read one value at nesting @depth. */
static bool mpNextDepth(struct mpReader *r, struct mpVal *v, int depth)
{
    const uint8_t *start = r->p;
    const uint8_t *b;
    uint64_t n = 0;
    uint8_t t;
    bool ok;

    memset(v, 0, sizeof *v);
    if (!mpTake(r, 1, &b)) {
        return false;
    }
    t = b[0];
    if (t <= 0x7f) {
        v->type = MP_UINT;
        v->u = t;
        ok = true;
    } else if (t >= 0xe0) {
        v->type = MP_INT;
        v->i = (int8_t)t;
        ok = true;
    } else if (t <= 0x8f) {
        ok = mpContainer(r, t & 0x0f, true, MP_MAP, v, depth);
    } else if (t <= 0x9f) {
        ok = mpContainer(r, t & 0x0f, false, MP_ARRAY, v, depth);
    } else if (t <= 0xbf) {
        ok = mpBytes(r, t & 0x1f, MP_STR, v);
    } else {
        switch (t) {
            case 0xc0:
                v->type = MP_NIL;
                ok = true;
                break;
            case 0xc2:
            case 0xc3:
                v->type = MP_BOOL;
                v->b = t == 0xc3;
                ok = true;
                break;
            case 0xc4:
            case 0xc5:
            case 0xc6:
                ok = mpBe(r, (size_t)1 << (t - 0xc4), &n) &&
                     mpBytes(r, n, MP_BIN, v);
                break;
            case 0xc7:
            case 0xc8:
            case 0xc9:
                ok = mpBe(r, (size_t)1 << (t - 0xc7), &n) &&
                     mpBytes(r, n + 1, MP_EXT, v);
                break;
            case 0xca:
            case 0xcb:
                ok = mpTake(r, t == 0xca ? 4 : 8, &b);
                v->type = MP_FLOAT;
                break;
            case 0xcc:
            case 0xcd:
            case 0xce:
            case 0xcf:
                ok = mpBe(r, (size_t)1 << (t - 0xcc), &n);
                v->type = MP_UINT;
                v->u = n;
                break;
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3: {
                size_t w = (size_t)1 << (t - 0xd0);
                int64_t s;
                ok = mpBe(r, w, &n);
                if (w < 8 && (n >> (w * 8 - 1)) != 0) {
                    n |= ~(uint64_t)0 << (w * 8);
                }
                memcpy(&s, &n, sizeof s);
                if (s >= 0) {
                    v->type = MP_UINT;
                    v->u = (uint64_t)s;
                } else {
                    v->type = MP_INT;
                    v->i = s;
                }
                break;
            }
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                ok = mpBytes(r, 1 + ((uint64_t)1 << (t - 0xd4)), MP_EXT, v);
                break;
            case 0xd9:
            case 0xda:
            case 0xdb:
                ok = mpBe(r, (size_t)1 << (t - 0xd9), &n) &&
                     mpBytes(r, n, MP_STR, v);
                break;
            case 0xdc:
            case 0xdd:
                ok = mpBe(r, t == 0xdc ? 2 : 4, &n) &&
                     mpContainer(r, n, false, MP_ARRAY, v, depth);
                break;
            case 0xde:
            case 0xdf:
                ok = mpBe(r, t == 0xde ? 2 : 4, &n) &&
                     mpContainer(r, n, true, MP_MAP, v, depth);
                break;
            default: /* 0xc1 is never used */
                ok = false;
                break;
        }
    }
    v->raw = start;
    v->raw_len = (size_t)(r->p - start);
    return ok;
}

bool mpNext(struct mpReader *r, struct mpVal *v)
{
    return mpNextDepth(r, v, 0);
}

void mpEnter(const struct mpVal *v, struct mpReader *r)
{
    r->p = v->ptr;
    r->left = v->len;
}

bool mpIs(const struct mpVal *v, const char *s)
{
    size_t i;

    if (v->type != MP_STR) {
        return false;
    }
    /* No strlen first: keys are short, and most comparisons (argsFind
     * over a map's keys) differ in their first bytes. */
    for (i = 0; i < v->len; i++) {
        if (s[i] == '\0' || (uint8_t)s[i] != v->ptr[i]) {
            return false;
        }
    }
    return s[i] == '\0';
}
