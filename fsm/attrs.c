/* Queue attributes: names, and parsing of an Attributes map (str -> str) as
 * CreateQueue and SetQueueAttributes give it.
 *
 * Values are strings, as in SQS. Numbers are decimal digits ("30"),
 * booleans "true"/"false" (any case). RedrivePolicy is a JSON object
 * {"deadLetterTargetArn": ARN or queue name, "maxReceiveCount": N or "N"}:
 * a small reader for that flat object is here (no escapes in strings); its
 * text is kept as given, and the dead-letter queue's name (after the ARN's
 * last ':') and the count are parsed out. An empty RedrivePolicy removes
 * the policy.
 *
 * Errors (as SQS): an unknown or read-only name, or a FIFO-only attribute
 * on a standard queue, is InvalidAttributeName; a bad value is
 * InvalidAttributeValue; a malformed RedrivePolicy is
 * InvalidParameterValue. Whether the dead-letter queue exists is checked
 * by the op (queueattrs.c), not here. RedriveAllowPolicy ({"redrivePermission":
 * "allowAll"|"denyAll"|"byQueue", "sourceQueueArns": [...]}) is kept as
 * given once it parses (InvalidAttributeValue otherwise); queueattrs.c asks
 * attrAllowPermits when a source names the queue in its RedrivePolicy. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Attribute names, indexed by enum attrId. */
static const char *const attrNames[ATTR_COUNT] = {
#define ATTR__NAME(CODE, NAME, WRITABLE, FIFO) NAME,
    FSM_ATTRS(ATTR__NAME)
#undef ATTR__NAME
};

/* Whether an attribute may be written, indexed by enum attrId. */
static const bool attrWritable[ATTR_COUNT] = {
#define ATTR__WRITABLE(CODE, NAME, WRITABLE, FIFO) WRITABLE,
    FSM_ATTRS(ATTR__WRITABLE)
#undef ATTR__WRITABLE
};

/* Whether an attribute exists only on FIFO queues. */
static const bool attrFifoOnly[ATTR_COUNT] = {
#define ATTR__FIFO(CODE, NAME, WRITABLE, FIFO) FIFO,
    FSM_ATTRS(ATTR__FIFO)
#undef ATTR__FIFO
};

int argFail(struct argErr *e, enum fsmError code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int attrByName(const char *name, size_t len)
{
    unsigned a;

    for (a = 0; a < ATTR_COUNT; a++) {
        if (strlen(attrNames[a]) == len && memcmp(attrNames[a], name, len) == 0) {
            return (int)a;
        }
    }
    return -1;
}

const char *attrName(unsigned a)
{
    return a < ATTR_COUNT ? attrNames[a] : NULL;
}

/* Parse decimal digits (at most 10) into *out. */
static bool attrDigits(const char *s, size_t len, uint64_t *out)
{
    size_t i;

    if (len == 0 || len > 10) {
        return false;
    }
    *out = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        *out = *out * 10 + (uint64_t)(s[i] - '0');
    }
    return true;
}

/* Parse a number attribute within [lo, hi]. */
static int attrNumber(unsigned a, const struct mpVal *v, uint32_t lo,
                      uint32_t hi, uint32_t *out, struct argErr *e)
{
    uint64_t n;

    if (!attrDigits((const char *)v->ptr, v->len, &n) || n < lo || n > hi) {
        return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_VALUE,
                       "Invalid value for the parameter %s. Reason: must be "
                       "an integer between %u and %u.",
                       attrNames[a], lo, hi);
    }
    *out = (uint32_t)n;
    return 0;
}

/* Parse a boolean attribute. */
static int attrBool(unsigned a, const struct mpVal *v, bool *out,
                    struct argErr *e)
{
    if (v->len == 4 && strncasecmp((const char *)v->ptr, "true", 4) == 0) {
        *out = true;
        return 0;
    }
    if (v->len == 5 && strncasecmp((const char *)v->ptr, "false", 5) == 0) {
        *out = false;
        return 0;
    }
    return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_VALUE,
                   "Invalid value for the parameter %s. Reason: must be true "
                   "or false.",
                   attrNames[a]);
}

/* Parse a two-valued attribute: *out is true for @yes, false for @no. */
static int attrChoice(unsigned a, const struct mpVal *v, const char *no,
                      const char *yes, bool *out, struct argErr *e)
{
    if (mpIs(v, yes) || mpIs(v, no)) {
        *out = mpIs(v, yes);
        return 0;
    }
    return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_VALUE,
                   "Invalid value for the parameter %s. Reason: must be %s "
                   "or %s.",
                   attrNames[a], no, yes);
}

/* A cursor over RedrivePolicy text. */
struct json
{
    const char *p;
    const char *end;
};

/* Skip JSON white space. */
static void jsonWs(struct json *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

/* Read a JSON string without escapes. */
static bool jsonStr(struct json *j, struct fsmStr *out)
{
    const char *s;

    jsonWs(j);
    if (j->p >= j->end || *j->p != '"') {
        return false;
    }
    s = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\' || (unsigned char)*j->p < 0x20) {
            return false;
        }
        j->p++;
    }
    if (j->p >= j->end) {
        return false;
    }
    out->p = s;
    out->len = (size_t)(j->p - s);
    j->p++;
    return true;
}

/* Read a JSON value that is a string or an unsigned integer: both are
 * returned as their text. */
static bool jsonScalar(struct json *j, struct fsmStr *out)
{
    const char *s;

    jsonWs(j);
    if (j->p < j->end && *j->p == '"') {
        return jsonStr(j, out);
    }
    s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }
    out->p = s;
    out->len = (size_t)(j->p - s);
    return out->len > 0;
}

/* Expect character @c. */
static bool jsonChar(struct json *j, char c)
{
    jsonWs(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

/* Parse a RedrivePolicy's text into @out. */
static int attrRedrive(const struct mpVal *v, struct attrSet *out,
                       struct argErr *e)
{
    struct json j = {(const char *)v->ptr, (const char *)v->ptr + v->len};
    struct fsmStr arn = {NULL, 0};
    struct fsmStr count = {NULL, 0};
    uint64_t n;
    bool fifo;

    out->redrive.p = (const char *)v->ptr;
    out->redrive.len = v->len;
    out->dlq.len = 0;
    out->max_rc = 0;
    if (v->len == 0) {
        return 0; /* removes the policy */
    }
    if (v->len > FSM_REDRIVE_MAX || !jsonChar(&j, '{')) {
        goto notjson;
    }
    if (!jsonChar(&j, '}')) {
        for (;;) {
            struct fsmStr key;
            struct fsmStr val;
            if (!jsonStr(&j, &key) || !jsonChar(&j, ':') ||
                !jsonScalar(&j, &val)) {
                goto notjson;
            }
            if (key.len == 19 && memcmp(key.p, "deadLetterTargetArn", 19) == 0) {
                arn = val;
            } else if (key.len == 15 && memcmp(key.p, "maxReceiveCount", 15) == 0) {
                count = val;
            }
            if (jsonChar(&j, '}')) {
                break;
            }
            if (!jsonChar(&j, ',')) {
                goto notjson;
            }
        }
    }
    jsonWs(&j);
    if (j.p != j.end) {
        goto notjson;
    }
    if (arn.p == NULL) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter RedrivePolicy is invalid. Reason: "
                       "Redrive policy does not contain mandatory attribute: "
                       "deadLetterTargetArn.");
    }
    if (count.p == NULL) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter RedrivePolicy is invalid. Reason: "
                       "Redrive policy does not contain mandatory attribute: "
                       "maxReceiveCount.");
    }
    if (!attrDigits(count.p, count.len, &n) || n < 1 ||
        n > FSM_MAX_RECEIVE_COUNT_MAX) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter RedrivePolicy is invalid. Reason: "
                       "Invalid value for maxReceiveCount: %.*s, valid values "
                       "are from 1 to %d both inclusive.",
                       (int)(count.len > 20 ? 20 : count.len), count.p,
                       FSM_MAX_RECEIVE_COUNT_MAX);
    }
    out->dlq.p = out->dlq_buf;
    if (utilArnQueue(arn.p, arn.len, out->dlq_buf, &out->dlq.len) != 0 ||
        !utilQueueName(out->dlq.p, out->dlq.len, &fifo)) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter RedrivePolicy is invalid. Reason: "
                       "deadLetterTargetArn does not name a queue.");
    }
    out->max_rc = (uint32_t)n;
    return 0;

notjson:
    return argFail(e, FSM_ERR_INVALID_PARAMETER,
                   "Value for parameter RedrivePolicy is invalid. Reason: "
                   "Redrive policy is not a valid JSON map.");
}

/* A RedriveAllowPolicy, parsed. */
struct allowPolicy
{
    int permission; /* ALLOW_ALL, ALLOW_DENY, ALLOW_BY_QUEUE */
    struct fsmStr sources[FSM_ALLOW_SOURCES_MAX]; /* queue names (in names) */
    char names[FSM_ALLOW_SOURCES_MAX][FSM_QUEUE_NAME_MAX];
    size_t n_sources;
};

enum { ALLOW_ALL, ALLOW_DENY, ALLOW_BY_QUEUE };

/* Parse a RedriveAllowPolicy: {"redrivePermission": "allowAll" |
 * "denyAll" | "byQueue", "sourceQueueArns": [ARN, ...]} with 1 to 10
 * ARNs for byQueue and none otherwise. The queue names are the ARNs'
 * parts after their last ':'. A sentence for SQS's reply in @why. */
static bool allowParse(const char *text, size_t len, struct allowPolicy *out,
                       const char **why)
{
    struct json j = {text, text + len};
    struct fsmStr perm = {NULL, 0};
    bool has_sources = false;

    memset(out, 0, sizeof *out);
    *why = "Redrive allow policy is not a valid JSON map.";
    if (len > FSM_ALLOW_MAX || !jsonChar(&j, '{')) {
        return false;
    }
    if (!jsonChar(&j, '}')) {
        for (;;) {
            struct fsmStr key;
            if (!jsonStr(&j, &key) || !jsonChar(&j, ':')) {
                return false;
            }
            if (key.len == 17 && memcmp(key.p, "redrivePermission", 17) == 0) {
                if (!jsonStr(&j, &perm)) {
                    return false;
                }
            } else if (key.len == 15 && memcmp(key.p, "sourceQueueArns", 15) == 0) {
                has_sources = true;
                if (!jsonChar(&j, '[')) {
                    return false;
                }
                if (!jsonChar(&j, ']')) {
                    for (;;) {
                        struct fsmStr arn;
                        size_t k = out->n_sources;
                        if (!jsonStr(&j, &arn)) {
                            return false;
                        }
                        if (k == FSM_ALLOW_SOURCES_MAX) {
                            *why = "sourceQueueArns holds at most 10 ARNs.";
                            return false;
                        }
                        if (utilArnQueue(arn.p, arn.len, out->names[k],
                                         &out->sources[k].len) != 0) {
                            *why = "a sourceQueueArns entry does not name a queue.";
                            return false;
                        }
                        out->sources[k].p = out->names[k];
                        out->n_sources++;
                        if (jsonChar(&j, ']')) {
                            break;
                        }
                        if (!jsonChar(&j, ',')) {
                            return false;
                        }
                    }
                }
            } else {
                *why = "Redrive allow policy has an unknown key.";
                return false;
            }
            if (jsonChar(&j, '}')) {
                break;
            }
            if (!jsonChar(&j, ',')) {
                return false;
            }
        }
    }
    jsonWs(&j);
    if (j.p != j.end) {
        return false;
    }
    if (perm.len == 8 && memcmp(perm.p, "allowAll", 8) == 0) {
        out->permission = ALLOW_ALL;
    } else if (perm.len == 7 && memcmp(perm.p, "denyAll", 7) == 0) {
        out->permission = ALLOW_DENY;
    } else if (perm.len == 7 && memcmp(perm.p, "byQueue", 7) == 0) {
        out->permission = ALLOW_BY_QUEUE;
    } else {
        *why = "redrivePermission must be allowAll, denyAll or byQueue.";
        return false;
    }
    if (out->permission == ALLOW_BY_QUEUE && out->n_sources == 0) {
        *why = "redrivePermission byQueue needs 1 to 10 sourceQueueArns.";
        return false;
    }
    if (out->permission != ALLOW_BY_QUEUE && has_sources) {
        *why = "sourceQueueArns goes only with redrivePermission byQueue.";
        return false;
    }
    return true;
}

bool attrAllowPermits(const char *text, size_t len, const struct fsmStr *source)
{
    struct allowPolicy p;
    const char *why;
    size_t i;

    if (len == 0) {
        return true;
    }
    if (!allowParse(text, len, &p, &why)) {
        return true; /* stored only after a successful parse */
    }
    if (p.permission != ALLOW_BY_QUEUE) {
        return p.permission == ALLOW_ALL;
    }
    for (i = 0; i < p.n_sources; i++) {
        if (p.sources[i].len == source->len &&
            memcmp(p.sources[i].p, source->p, source->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Parse a RedriveAllowPolicy attribute into @out. */
static int attrAllow(const struct mpVal *v, struct attrSet *out, struct argErr *e)
{
    struct allowPolicy p;
    const char *why;

    out->allow.p = (const char *)v->ptr;
    out->allow.len = v->len;
    if (v->len == 0) {
        return 0; /* removes the policy */
    }
    if (!allowParse((const char *)v->ptr, v->len, &p, &why)) {
        return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_VALUE,
                       "Invalid value for the parameter RedriveAllowPolicy. Reason: %s",
                       why);
    }
    return 0;
}

int attrsParse(const struct mpVal *map, bool create, bool fifo,
               struct attrSet *out, struct argErr *e)
{
    struct mpReader r;
    uint32_t i;

    memset(out, 0, sizeof *out);
    if (map->type != MP_MAP) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Attributes must be a map of strings to strings.");
    }
    mpEnter(map, &r);
    for (i = 0; i < map->n; i++) {
        struct mpVal k;
        struct mpVal v;
        int a;
        int rv = 0;
        mpNext(&r, &k); /* well formed: checked by mpNext of the map */
        mpNext(&r, &v);
        if (k.type != MP_STR) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Attribute names must be strings.");
        }
        a = attrByName((const char *)k.ptr, k.len);
        if (a < 0 || (attrFifoOnly[a] && !fifo && a != ATTR_FIFO)) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Unknown Attribute %.*s.",
                           (int)(k.len > 256 ? 256 : k.len), (const char *)k.ptr);
        }
        if (!attrWritable[a]) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Attribute %s is read-only.", attrNames[a]);
        }
        if (a == ATTR_FIFO && !create) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Attribute FifoQueue cannot be changed.");
        }
        if (v.type != MP_STR) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_VALUE,
                           "Invalid value for the parameter %s. Reason: "
                           "attribute values must be strings.",
                           attrNames[a]);
        }
        switch (a) {
            case ATTR_VISIBILITY:
                rv = attrNumber((unsigned)a, &v, 0, FSM_VISIBILITY_MAX_S,
                                &out->vis, e);
                break;
            case ATTR_RETENTION:
                rv = attrNumber((unsigned)a, &v, FSM_RETENTION_MIN_S,
                                FSM_RETENTION_MAX_S, &out->retention, e);
                break;
            case ATTR_DELAY:
                rv = attrNumber((unsigned)a, &v, 0, FSM_DELAY_MAX_S,
                                &out->delay, e);
                break;
            case ATTR_MAXSIZE:
                rv = attrNumber((unsigned)a, &v, FSM_MAXSIZE_MIN, FSM_BODY_MAX,
                                &out->maxsize, e);
                break;
            case ATTR_WAIT:
                rv = attrNumber((unsigned)a, &v, 0, FSM_WAIT_MAX_S, &out->wait,
                                e);
                break;
            case ATTR_REDRIVE:
                rv = attrRedrive(&v, out, e);
                break;
            case ATTR_ALLOW:
                rv = attrAllow(&v, out, e);
                break;
            case ATTR_FIFO:
                rv = attrBool((unsigned)a, &v, &out->fifo, e);
                break;
            case ATTR_CBD:
                rv = attrBool((unsigned)a, &v, &out->cbd, e);
                break;
            case ATTR_SCOPE:
                rv = attrChoice((unsigned)a, &v, "queue", "messageGroup",
                                &out->scope_group, e);
                break;
            case ATTR_THROUGHPUT:
                rv = attrChoice((unsigned)a, &v, "perQueue",
                                "perMessageGroupId", &out->tp_group, e);
                break;
            default:
                break;
        }
        if (rv != 0) {
            return rv;
        }
        out->given |= ATTR_BIT(a);
    }
    return 0;
}
