/* Building the args map of a request: SQS's parameter names, msgpack
 * values (README "Protocol"). Strings are str, numbers unsigned integers,
 * the message body a str, BinaryValue a bin.
 *
 * The builder writes with msgpack-c's packer into an sbuffer and keeps the
 * first error (an allocation failure) sticky, so that a call packs every
 * field and checks once, in argsEnd. A map's pair count is written first:
 * callers count their optional fields before packing them.
 */
#include "client/internal.h"

#include <stdlib.h>
#include <string.h>

/* Most DelaySeconds a send may ask for (SQS: 15 minutes). */
#define ARGS_DELAY_MAX 900

/* Most message attributes of one message. */
#define ARGS_MSG_ATTRS_MAX 10

void argsInit(struct argsBuf *a, size_t pairs)
{
    msgpack_sbuffer_init(&a->sb);
    msgpack_packer_init(&a->pk, &a->sb, msgpack_sbuffer_write);
    a->rv = msgpack_pack_map(&a->pk, pairs);
}

void argsRawStr(struct argsBuf *a, const char *s, size_t len)
{
    if (a->rv == 0) {
        a->rv = msgpack_pack_str(&a->pk, len);
    }
    if (a->rv == 0 && len > 0) {
        a->rv = msgpack_pack_str_body(&a->pk, s, len);
    }
}

void argsKey(struct argsBuf *a, const char *key)
{
    argsRawStr(a, key, strlen(key));
}

void argsStr(struct argsBuf *a, const char *key, const char *s)
{
    argsKey(a, key);
    argsRawStr(a, s, strlen(s));
}

void argsUint(struct argsBuf *a, const char *key, uint64_t x)
{
    argsKey(a, key);
    if (a->rv == 0) {
        a->rv = msgpack_pack_uint64(&a->pk, x);
    }
}

void argsStrArray(struct argsBuf *a,
                  const char *key,
                  const char *const *v,
                  size_t n)
{
    size_t i;
    argsKey(a, key);
    if (a->rv == 0) {
        a->rv = msgpack_pack_array(&a->pk, n);
    }
    for (i = 0; i < n; i++) {
        argsRawStr(a, v[i], strlen(v[i]));
    }
}

void argsAttrMap(struct argsBuf *a,
                 const char *key,
                 const struct qraft_attr *v,
                 size_t n)
{
    size_t i;
    argsKey(a, key);
    if (a->rv == 0) {
        a->rv = msgpack_pack_map(&a->pk, n);
    }
    for (i = 0; i < n; i++) {
        argsRawStr(a, v[i].name, strlen(v[i].name));
        argsRawStr(a, v[i].value, strlen(v[i].value));
    }
}

/* True for a Binary data type ("Binary" or "Binary.custom"). */
static bool argsIsBinary(const char *type)
{
    return strncmp(type, "Binary", 6) == 0 &&
           (type[6] == '\0' || type[6] == '.');
}

/* Pack MessageAttributes: name -> {DataType, StringValue|BinaryValue}. */
static void argsMsgAttrs(struct argsBuf *a,
                         const struct qraft_message_attr *v,
                         size_t n)
{
    size_t i;
    argsKey(a, "MessageAttributes");
    if (a->rv == 0) {
        a->rv = msgpack_pack_map(&a->pk, n);
    }
    for (i = 0; i < n; i++) {
        argsRawStr(a, v[i].name, strlen(v[i].name));
        if (a->rv == 0) {
            a->rv = msgpack_pack_map(&a->pk, 2);
        }
        argsStr(a, "DataType", v[i].type);
        if (argsIsBinary(v[i].type)) {
            argsKey(a, "BinaryValue");
            if (a->rv == 0) {
                a->rv = msgpack_pack_bin(&a->pk, v[i].len);
            }
            if (a->rv == 0 && v[i].len > 0) {
                a->rv = msgpack_pack_bin_body(&a->pk, v[i].value, v[i].len);
            }
        } else {
            argsKey(a, "StringValue");
            argsRawStr(a, v[i].value, v[i].len);
        }
    }
}

size_t argsSendPairs(const struct qraft_send_params *p)
{
    size_t n = 1; /* MessageBody */
    if (p != NULL) {
        n += p->delay_s >= 0;
        n += p->group_id != NULL;
        n += p->dedup_id != NULL;
        n += p->n_attrs > 0;
    }
    return n;
}

void argsSend(struct argsBuf *a,
              const void *body,
              size_t len,
              const struct qraft_send_params *p)
{
    argsKey(a, "MessageBody");
    argsRawStr(a, body, len);
    if (p == NULL) {
        return;
    }
    if (p->delay_s >= 0) {
        argsUint(a, "DelaySeconds", (uint64_t)p->delay_s);
    }
    if (p->group_id != NULL) {
        argsStr(a, "MessageGroupId", p->group_id);
    }
    if (p->dedup_id != NULL) {
        argsStr(a, "MessageDeduplicationId", p->dedup_id);
    }
    if (p->n_attrs > 0) {
        argsMsgAttrs(a, p->attrs, p->n_attrs);
    }
}

const char *argsSendCheck(const struct qraft_send_params *p)
{
    size_t i;
    if (p == NULL) {
        return NULL;
    }
    if (p->delay_s < -1 || p->delay_s > ARGS_DELAY_MAX) {
        return "delay_s must be -1 or 0..900";
    }
    if (p->n_attrs > ARGS_MSG_ATTRS_MAX) {
        return "at most 10 message attributes";
    }
    if (p->n_attrs > 0 && p->attrs == NULL) {
        return "attrs is NULL but n_attrs is not 0";
    }
    for (i = 0; i < p->n_attrs; i++) {
        if (p->attrs[i].name == NULL || p->attrs[i].type == NULL ||
            (p->attrs[i].value == NULL && p->attrs[i].len > 0)) {
            return "a message attribute has a NULL name, type or value";
        }
    }
    return NULL;
}

int argsEnd(struct argsBuf *a, void **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (a->rv != 0) {
        msgpack_sbuffer_destroy(&a->sb);
        return QRAFT_ENOMEM;
    }
    *len = a->sb.size;
    *out = msgpack_sbuffer_release(&a->sb);
    if (*out == NULL) {
        /* An empty buffer: cannot happen after a map header, but be safe. */
        return QRAFT_ENOMEM;
    }
    return 0;
}
