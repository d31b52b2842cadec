/* Arguments of the message ops: message attributes, send and batch
 * entries, and ReceiveMessage's attribute-name lists. Parsing rules as in
 * args.c, whose primitives (argsFind, argsStr, argsNum, ...) this uses. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* True if @c is allowed in a MessageGroupId / MessageDeduplicationId:
 * alphanumerics and punctuation. */
static bool argsIdChar(char c)
{
    return (c >= '!' && c <= '~');
}

/* A group or deduplication id: 1..128 of argsIdChar. */
static bool argsIdValid(const struct fsmStr *s)
{
    size_t i;

    if (s->len == 0 || s->len > FSM_GROUP_MAX) {
        return false;
    }
    for (i = 0; i < s->len; i++) {
        if (!argsIdChar(s->p[i])) {
            return false;
        }
    }
    return true;
}

/* A batch entry id: 1..80 of [A-Za-z0-9_-]. */
static bool argsBatchIdValid(const struct fsmStr *s)
{
    size_t i;

    if (s->len == 0 || s->len > FSM_BATCH_ID_MAX) {
        return false;
    }
    for (i = 0; i < s->len; i++) {
        char c = s->p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* A message attribute name: 1..256 of [A-Za-z0-9_.-], no leading or
 * trailing '.', no "..", not starting with "AWS." or "Amazon." (any case). */
static bool argsAttrNameValid(const struct fsmStr *s)
{
    size_t i;

    if (s->len == 0 || s->len > FSM_MSG_ATTR_NAME_MAX || s->p[0] == '.' ||
        s->p[s->len - 1] == '.') {
        return false;
    }
    if ((s->len >= 4 && strncasecmp(s->p, "aws.", 4) == 0) ||
        (s->len >= 7 && strncasecmp(s->p, "amazon.", 7) == 0)) {
        return false;
    }
    for (i = 0; i < s->len; i++) {
        char c = s->p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
            return false;
        }
        if (c == '.' && i > 0 && s->p[i - 1] == '.') {
            return false;
        }
    }
    return true;
}

/* True if @s is a decimal number: [+-]digits[.digits][(e|E)[+-]digits]. */
static bool argsNumberText(const struct fsmStr *s)
{
    size_t i = 0;
    size_t d = 0;

    if (i < s->len && (s->p[i] == '+' || s->p[i] == '-')) {
        i++;
    }
    while (i < s->len && s->p[i] >= '0' && s->p[i] <= '9') {
        i++;
        d++;
    }
    if (i < s->len && s->p[i] == '.') {
        i++;
        while (i < s->len && s->p[i] >= '0' && s->p[i] <= '9') {
            i++;
            d++;
        }
    }
    if (d == 0) {
        return false;
    }
    if (i < s->len && (s->p[i] == 'e' || s->p[i] == 'E')) {
        size_t x = 0;
        i++;
        if (i < s->len && (s->p[i] == '+' || s->p[i] == '-')) {
            i++;
        }
        while (i < s->len && s->p[i] >= '0' && s->p[i] <= '9') {
            i++;
            x++;
        }
        if (x == 0) {
            return false;
        }
    }
    return i == s->len;
}

/* Parse the MessageAttributes map @map into @m (sorted by name). */
static int argsMsgAttrs(const struct mpVal *map, struct sendEntry *m,
                        struct argErr *e)
{
    struct mpReader r;
    uint32_t i;

    if (map->type != MP_MAP) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "MessageAttributes must be a map.");
    }
    if (map->n > FSM_MSG_ATTRS_MAX) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Number of message attributes [%u] exceeds the allowed "
                       "maximum [%d].",
                       map->n, FSM_MSG_ATTRS_MAX);
    }
    mpEnter(map, &r);
    for (i = 0; i < map->n; i++) {
        struct msgAttr *at = &m->attrs[i];
        struct mpVal k;
        struct mpVal v;
        struct mpVal val;
        bool present;
        const char *t;
        size_t base;
        size_t j;
        mpNext(&r, &k);
        mpNext(&r, &v);
        if (k.type != MP_STR) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Message attribute names must be strings.");
        }
        at->name.p = (const char *)k.ptr;
        at->name.len = k.len;
        if (!argsAttrNameValid(&at->name)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Message attribute name '%.*s' is invalid: 1 to "
                           "256 of A-Z, a-z, 0-9, '_', '-', '.', with no "
                           "leading, trailing or double '.', and no AWS. or "
                           "Amazon. prefix.",
                           (int)(k.len > 64 ? 64 : k.len), (const char *)k.ptr);
        }
        for (j = 0; j < i; j++) {
            if (m->attrs[j].name.len == k.len &&
                memcmp(m->attrs[j].name.p, k.ptr, k.len) == 0) {
                return argFail(e, FSM_ERR_INVALID_PARAMETER,
                               "Message attribute name '%.*s' is repeated.",
                               (int)k.len, (const char *)k.ptr);
            }
        }
        if (v.type != MP_MAP) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Message attribute '%.*s' must be a map.",
                           (int)k.len, (const char *)k.ptr);
        }
        if (argsString(&v, "DataType", false, &at->type, &present, e) != 0) {
            return -1;
        }
        if (!present || at->type.len == 0) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "The message attribute '%.*s' must contain "
                           "non-empty message attribute type.",
                           (int)k.len, (const char *)k.ptr);
        }
        t = at->type.p;
        base = at->type.len;
        for (j = 0; j < at->type.len; j++) {
            if (t[j] == '.') {
                base = j;
                break;
            }
        }
        if (at->type.len > FSM_MSG_ATTR_TYPE_MAX ||
            !utilSqsText(t, at->type.len, NULL) ||
            !((base == 6 && memcmp(t, "String", 6) == 0) ||
              (base == 6 && memcmp(t, "Number", 6) == 0) ||
              (base == 6 && memcmp(t, "Binary", 6) == 0)) ||
            (base < at->type.len && base + 1 == at->type.len)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "The type of message attribute '%.*s' is invalid: "
                           "String, Number or Binary, optionally followed by "
                           "'.' and a label.",
                           (int)k.len, (const char *)k.ptr);
        }
        at->binary = memcmp(t, "Binary", 6) == 0;
        if (!argsFind(&v, at->binary ? "BinaryValue" : "StringValue", &val) ||
            (at->binary ? val.type != MP_BIN && val.type != MP_STR
                        : val.type != MP_STR) ||
            val.len == 0) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "The message attribute '%.*s' must contain a "
                           "non-empty %s.",
                           (int)k.len, (const char *)k.ptr,
                           at->binary ? "BinaryValue" : "StringValue");
        }
        at->value.p = (const char *)val.ptr;
        at->value.len = val.len;
        if (!at->binary && !utilSqsText(val.ptr, val.len, NULL)) {
            return argFail(e, FSM_ERR_INVALID_MESSAGE_CONTENTS,
                           "The message attribute '%.*s' contains characters "
                           "outside the allowed set.",
                           (int)k.len, (const char *)k.ptr);
        }
        if (memcmp(t, "Number", 6) == 0 && !argsNumberText(&at->value)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Could not cast message attribute '%.*s' value to "
                           "number.",
                           (int)k.len, (const char *)k.ptr);
        }
        m->size += at->name.len + at->type.len + at->value.len;
    }
    m->nattrs = map->n;
    /* Sort by name (insertion sort: at most 10). */
    for (i = 1; i < m->nattrs; i++) {
        struct msgAttr x = m->attrs[i];
        uint32_t j = i;
        while (j > 0) {
            const struct fsmStr *p = &m->attrs[j - 1].name;
            size_t n = p->len < x.name.len ? p->len : x.name.len;
            int c = memcmp(p->p, x.name.p, n);
            if (c < 0 || (c == 0 && p->len < x.name.len)) {
                break;
            }
            m->attrs[j] = m->attrs[j - 1];
            j--;
        }
        m->attrs[j] = x;
    }
    return 0;
}

/* Size of a send entry's body and attributes, counted before any check
 * (for BatchRequestTooLong). */
static size_t argsEntrySize(const struct mpVal *map)
{
    struct mpVal v;
    size_t size = 0;

    if (argsFind(map, "MessageBody", &v) && (v.type == MP_STR || v.type == MP_BIN)) {
        size += v.len;
    }
    if (argsFind(map, "MessageAttributes", &v) && v.type == MP_MAP) {
        struct mpReader r;
        uint32_t i;
        mpEnter(&v, &r);
        for (i = 0; i < v.n; i++) {
            struct mpVal k;
            struct mpVal a;
            struct mpVal x;
            mpNext(&r, &k);
            mpNext(&r, &a);
            size += k.len;
            if (argsFind(&a, "DataType", &x)) {
                size += x.len;
            }
            if (argsFind(&a, "StringValue", &x) || argsFind(&a, "BinaryValue", &x)) {
                size += x.len;
            }
        }
    }
    return size;
}

/* Parse one message to send from map @map, for a queue of type @fifo. */
/* MessageSystemAttributes of a send: only AWSTraceHeader, a String. */
static int argsSysAttrs(const struct mpVal *map, struct sendEntry *m, struct argErr *e)
{
    struct mpReader r;
    uint32_t i;

    if (map->type != MP_MAP) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageSystemAttributes is invalid. "
                       "Reason: must be a map.");
    }
    mpEnter(map, &r);
    for (i = 0; i < map->n; i++) {
        struct mpVal k, v;
        struct fsmStr type, value;
        size_t chars;
        bool present;

        mpNext(&r, &k);
        mpNext(&r, &v);
        if (!mpIs(&k, "AWSTraceHeader")) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Message system attribute name %.*s is invalid: "
                           "only AWSTraceHeader may be set.",
                           k.type == MP_STR ? (int)(k.len > 64 ? 64 : k.len) : 0,
                           k.type == MP_STR ? (const char *)k.ptr : "");
        }
        if (argsString(&v, "DataType", true, &type, &present, e) != 0 ||
            argsString(&v, "StringValue", true, &value, &present, e) != 0) {
            return -1;
        }
        if (type.len != 6 || memcmp(type.p, "String", 6) != 0 || value.len == 0 ||
            value.len > FSM_TRACE_MAX || !utilSqsText(value.p, value.len, &chars)) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Value for message system attribute AWSTraceHeader "
                           "is invalid: a String of 1 to %d characters.",
                           FSM_TRACE_MAX);
        }
        m->trace = value;
    }
    return 0;
}

int argsSendEntry(const struct mpVal *map, bool fifo,
                         struct sendEntry *m, struct argErr *e)
{
    struct mpVal v;
    bool present;
    size_t chars;

    m->size = 0;
    if (!argsFind(map, "MessageBody", &v)) {
        return argsMissing(e, "MessageBody");
    }
    if (v.type != MP_STR && v.type != MP_BIN) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageBody is invalid. Reason: "
                       "must be a string.");
    }
    m->body.p = (const char *)v.ptr;
    m->body.len = v.len;
    if (v.len == 0) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageBody is invalid. Reason: "
                       "must not be empty.");
    }
    if (!utilSqsText(v.ptr, v.len, &chars)) {
        return argFail(e, FSM_ERR_INVALID_MESSAGE_CONTENTS,
                       "Invalid binary character in the message body: the "
                       "characters allowed are #x9 | #xA | #xD | #x20 to "
                       "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.");
    }
    m->size = v.len;
    if (argsFind(map, "MessageAttributes", &v) && argsMsgAttrs(&v, m, e) != 0) {
        return -1;
    }
    if (argsFind(map, "MessageSystemAttributes", &v) && argsSysAttrs(&v, m, e) != 0) {
        return -1;
    }
    if (m->size > FSM_BODY_MAX) {
        return argFail(e, FSM_ERR_MESSAGE_TOO_LONG,
                       "The message is %zu bytes (body and attributes), the "
                       "maximum is %d bytes.",
                       m->size, FSM_BODY_MAX);
    }
    if (argsNum(map, "DelaySeconds", 0, FSM_DELAY_MAX_S, false, &m->delay,
                &m->has_delay, e) != 0) {
        return -1;
    }
    if (fifo && m->has_delay) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter DelaySeconds is invalid. Reason: "
                       "The request include parameter that is not valid for "
                       "this queue type.");
    }
    if (argsString(map, "MessageGroupId", false, &m->group, &present, e) != 0) {
        return -1;
    }
    if (present && !argsIdValid(&m->group)) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageGroupId is invalid. Reason: "
                       "must be 1 to %d alphanumeric or punctuation "
                       "characters.",
                       FSM_GROUP_MAX);
    }
    if (fifo && !present) {
        return argsMissing(e, "MessageGroupId");
    }
    if (argsString(map, "MessageDeduplicationId", false, &m->dedup, &present, e) !=
        0) {
        return -1;
    }
    if (present && !fifo) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageDeduplicationId is "
                       "invalid. Reason: The request include parameter that "
                       "is not valid for this queue type.");
    }
    if (present && !argsIdValid(&m->dedup)) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageDeduplicationId is invalid. "
                       "Reason: must be 1 to %d alphanumeric or punctuation "
                       "characters.",
                       FSM_DEDUP_MAX);
    }
    return 0;
}

/* Parse a receipt entry from map @map (@vis: VisibilityTimeout too). */
int argsReceiptEntry(const struct mpVal *map, bool vis,
                            struct receiptEntry *r, struct argErr *e)
{
    bool present;
    bool ok;

    if (argsString(map, "ReceiptHandle", true, &r->receipt, &present, e) != 0) {
        return -1;
    }
    if (utilReceiptParse(r->receipt.p, r->receipt.len, &r->qid, &r->seq,
                         &r->count, &ok) != 0 ||
        !ok) {
        return argFail(e, FSM_ERR_RECEIPT_INVALID,
                       "The input receipt handle \"%.*s\" is not a valid "
                       "receipt handle.",
                       (int)(r->receipt.len > 64 ? 64 : r->receipt.len),
                       r->receipt.p);
    }
    if (vis && argsNum(map, "VisibilityTimeout", 0, FSM_VISIBILITY_MAX_S, true,
                       &r->vis, &present, e) != 0) {
        return -1;
    }
    return 0;
}

/* Parse the Entries of a batch: shape (count, ids, distinct), then each
 * entry with @one into its own error slot. */
int argsBatch(const struct mpVal *map, struct args *a, unsigned op,
                     struct argErr *e)
{
    struct mpVal list;
    struct mpReader r;
    size_t total = 0;
    uint32_t i;
    uint32_t j;

    if (!argsFind(map, "Entries", &list) ||
        (list.type == MP_ARRAY && list.n == 0)) {
        return argFail(e, FSM_ERR_EMPTY_BATCH,
                       "There should be at least one entry in the request.");
    }
    if (list.type != MP_ARRAY) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter Entries is invalid. Reason: must "
                       "be an array.");
    }
    if (list.n > FSM_BATCH_MAX) {
        return argFail(e, FSM_ERR_TOO_MANY_ENTRIES,
                       "Maximum number of entries per request are %d. You "
                       "have sent %u.",
                       FSM_BATCH_MAX, list.n);
    }
    mpEnter(&list, &r);
    a->n = list.n;
    for (i = 0; i < list.n; i++) {
        struct mpVal ent;
        struct fsmStr id;
        bool present;
        mpNext(&r, &ent);
        if (ent.type != MP_MAP) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Value for parameter Entries is invalid. Reason: "
                           "every entry must be a map.");
        }
        if (argsString(&ent, "Id", false, &id, &present, e) != 0 || !present ||
            !argsBatchIdValid(&id)) {
            return argFail(e, FSM_ERR_INVALID_BATCH_ENTRY_ID,
                           "A batch entry id can only contain alphanumeric "
                           "characters, hyphens and underscores. It can be at "
                           "most %d letters long.",
                           FSM_BATCH_ID_MAX);
        }
        for (j = 0; j < i; j++) {
            const struct fsmStr *o = op == FSM_OP_SEND_MESSAGE_BATCH
                                         ? &a->send[j].id
                                         : &a->rcpt[j].id;
            if (o->len == id.len && memcmp(o->p, id.p, id.len) == 0) {
                return argFail(e, FSM_ERR_BATCH_IDS_NOT_DISTINCT,
                               "Id %.*s repeated.", (int)id.len, id.p);
            }
        }
        if (op == FSM_OP_SEND_MESSAGE_BATCH) {
            struct sendEntry *m = &a->send[i];
            memset(m, 0, sizeof *m);
            m->id = id;
            total += argsEntrySize(&ent);
            argsSendEntry(&ent, a->fifo, m, &m->err);
        } else {
            struct receiptEntry *c = &a->rcpt[i];
            memset(c, 0, sizeof *c);
            c->id = id;
            argsReceiptEntry(&ent, op == FSM_OP_CHANGE_VISIBILITY_BATCH, c,
                             &c->err);
        }
    }
    if (total > FSM_BODY_MAX) {
        return argFail(e, FSM_ERR_BATCH_TOO_LONG,
                       "Batch requests cannot be longer than %d bytes. You "
                       "have sent %zu bytes.",
                       FSM_BODY_MAX, total);
    }
    return 0;
}

/* Parse the system attribute list @key of a ReceiveMessage (AttributeNames
 * or MessageSystemAttributeNames) into a->sysnames (ORed: the union of
 * both lists is returned). "All" asks for every one. Unknown names are
 * ignored, as SQS does in practice for AttributeNames (it accepts queue
 * attribute names there too); a list that is not an array of strings is
 * InvalidParameterValue. */
int argsSysAttrNames(const struct mpVal *map, const char *key,
                            struct args *a, struct argErr *e)
{
    static const char *const names[SYSATTR_COUNT] = {
#define SYSATTR__NAME(CODE, NAME) NAME,
        FSM_SYSATTRS(SYSATTR__NAME)
#undef SYSATTR__NAME
    };
    struct mpVal list;
    struct mpReader r;
    uint32_t i;
    unsigned j;

    if (!argsFind(map, key, &list)) {
        return 0;
    }
    if (list.type != MP_ARRAY) {
        goto bad;
    }
    mpEnter(&list, &r);
    for (i = 0; i < list.n; i++) {
        struct mpVal v;
        mpNext(&r, &v);
        if (v.type != MP_STR) {
            goto bad;
        }
        if (mpIs(&v, "All")) {
            a->sysnames = ATTR_BIT(SYSATTR_COUNT) - 1;
            continue;
        }
        for (j = 0; j < SYSATTR_COUNT; j++) {
            if (mpIs(&v, names[j])) {
                a->sysnames |= ATTR_BIT(j);
                break;
            }
        }
    }
    return 0;

bad:
    return argFail(e, FSM_ERR_INVALID_PARAMETER,
                   "Value for parameter %s is invalid. Reason: must be an "
                   "array of strings.",
                   key);
}

/* Parse MessageAttributeNames of a ReceiveMessage: an array of at most
 * FSM_MSG_ATTR_NAMES_MAX strings, each "All" or ".*" (every attribute), a
 * name, or a prefix written "name.*" (attributes whose name starts with
 * "name."). Names and prefixes follow the syntax of attribute names
 * (argsAttrNameValid); a string that cannot match anything is
 * InvalidAttributeName rather than silently returning nothing. The cap
 * bounds the matching work of one receive on every node. */
int argsMsgAttrNames(const struct mpVal *map, struct args *a,
                            struct argErr *e)
{
    struct mpReader r;
    uint32_t i;

    a->msgattr_all = false;
    a->msgnames.n = 0;
    if (!argsFind(map, "MessageAttributeNames", &a->msgnames)) {
        a->msgnames.n = 0;
        return 0;
    }
    if (a->msgnames.type != MP_ARRAY) {
        a->msgnames.n = 0;
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageAttributeNames is invalid. "
                       "Reason: must be an array of strings.");
    }
    if (a->msgnames.n > FSM_MSG_ATTR_NAMES_MAX) {
        return argFail(e, FSM_ERR_INVALID_PARAMETER,
                       "Value for parameter MessageAttributeNames is invalid. "
                       "Reason: at most %d names, %u given.",
                       FSM_MSG_ATTR_NAMES_MAX, a->msgnames.n);
    }
    mpEnter(&a->msgnames, &r);
    for (i = 0; i < a->msgnames.n; i++) {
        struct mpVal v;
        struct fsmStr s;
        mpNext(&r, &v);
        if (v.type != MP_STR) {
            return argFail(e, FSM_ERR_INVALID_PARAMETER,
                           "Value for parameter MessageAttributeNames is "
                           "invalid. Reason: must be an array of strings.");
        }
        if (mpIs(&v, "All") || mpIs(&v, ".*")) {
            a->msgattr_all = true;
            continue;
        }
        s.p = (const char *)v.ptr;
        s.len = v.len;
        if (s.len > 2 && s.p[s.len - 2] == '.' && s.p[s.len - 1] == '*') {
            s.len -= 2; /* a prefix: "name.*" */
        }
        if (!argsAttrNameValid(&s)) {
            return argFail(e, FSM_ERR_INVALID_ATTRIBUTE_NAME,
                           "Message attribute name '%.*s' is invalid: 1 to "
                           "256 of A-Z, a-z, 0-9, '_', '-', '.', with no "
                           "leading, trailing or double '.', and no AWS. or "
                           "Amazon. prefix, optionally followed by .* (a "
                           "prefix).",
                           (int)(v.len > 64 ? 64 : v.len), (const char *)v.ptr);
        }
    }
    return 0;
}
