/* SQS actions: the table, and the mapping between SQS's parameters and
 * results (JSON objects with the JSON 1.0 protocol's member names, which
 * query.c also produces) and the state machine's args and replies
 * (msgpack maps keyed by the same names, README "Protocol").
 *
 * The happy path: params -> args renames the queue's identity (QueueUrl ->
 * QueueName, SourceArn -> SourceQueueName, ...), decodes base64 binary
 * values to bin and packs everything else as it is; reply -> result turns
 * bin into base64, queue names into QueueUrls on this node's advertised
 * address, and queue names into ARNs with the configured region and the
 * caller's account.
 *
 * Failure modes: a required QueueUrl missing (MissingParameter), a binary
 * value that is not base64 (InvalidParameterValue), a reply that does not
 * decode (InternalError). Queue names are one namespace across accounts:
 * the account in a QueueUrl is echoed, not checked.
 */
#include "node/http/http.h"

#include <msgpack.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/fsm.h"

#define ACT(NAME, OP, KIND, URL, ENTRY) {NAME, OP, KIND, URL, ENTRY}
static const struct httpAction actions[] = {
    ACT("CreateQueue", FSM_OP_CREATE_QUEUE, HTTP_ACT_FSM, false, NULL),
    ACT("DeleteQueue", FSM_OP_DELETE_QUEUE, HTTP_ACT_FSM, true, NULL),
    ACT("GetQueueUrl", FSM_OP_GET_QUEUE_ATTRIBUTES, HTTP_ACT_GET_URL, false, NULL),
    ACT("ListQueues", FSM_OP_LIST_QUEUES, HTTP_ACT_FSM, false, NULL),
    ACT("GetQueueAttributes", FSM_OP_GET_QUEUE_ATTRIBUTES, HTTP_ACT_FSM, true, NULL),
    ACT("SetQueueAttributes", FSM_OP_SET_QUEUE_ATTRIBUTES, HTTP_ACT_FSM, true, NULL),
    ACT("PurgeQueue", FSM_OP_PURGE_QUEUE, HTTP_ACT_FSM, true, NULL),
    ACT("TagQueue", FSM_OP_TAG_QUEUE, HTTP_ACT_FSM, true, NULL),
    ACT("UntagQueue", FSM_OP_UNTAG_QUEUE, HTTP_ACT_FSM, true, NULL),
    ACT("ListQueueTags", FSM_OP_LIST_QUEUE_TAGS, HTTP_ACT_FSM, true, NULL),
    ACT("ListDeadLetterSourceQueues", FSM_OP_LIST_DLQ_SOURCES, HTTP_ACT_FSM, true, NULL),
    ACT("SendMessage", FSM_OP_SEND_MESSAGE, HTTP_ACT_FSM, true, NULL),
    ACT("SendMessageBatch", FSM_OP_SEND_MESSAGE_BATCH, HTTP_ACT_FSM, true,
        "SendMessageBatchResultEntry"),
    ACT("ReceiveMessage", FSM_OP_RECEIVE_MESSAGE, HTTP_ACT_FSM, true, NULL),
    ACT("DeleteMessage", FSM_OP_DELETE_MESSAGE, HTTP_ACT_FSM, true, NULL),
    ACT("DeleteMessageBatch", FSM_OP_DELETE_MESSAGE_BATCH, HTTP_ACT_FSM, true,
        "DeleteMessageBatchResultEntry"),
    ACT("ChangeMessageVisibility", FSM_OP_CHANGE_VISIBILITY, HTTP_ACT_FSM, true, NULL),
    ACT("ChangeMessageVisibilityBatch", FSM_OP_CHANGE_VISIBILITY_BATCH, HTTP_ACT_FSM, true,
        "ChangeMessageVisibilityBatchResultEntry"),
    ACT("StartMessageMoveTask", FSM_OP_START_MESSAGE_MOVE_TASK, HTTP_ACT_FSM, false, NULL),
    ACT("ListMessageMoveTasks", 0, HTTP_ACT_UNSUPPORTED, false, NULL),
    ACT("CancelMessageMoveTask", 0, HTTP_ACT_UNSUPPORTED, false, NULL),
    ACT("AddPermission", 0, HTTP_ACT_UNSUPPORTED, true, NULL),
    ACT("RemovePermission", 0, HTTP_ACT_UNSUPPORTED, true, NULL),
};

const struct httpAction *httpActionByName(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strlen(actions[i].name) == len && memcmp(actions[i].name, name, len) == 0) {
            return &actions[i];
        }
    }
    return NULL;
}

size_t httpActionIndex(const struct httpAction *a)
{
    return a != NULL ? (size_t)(a - actions) : HTTP_ACTIONS_MAX;
}

const struct httpAction *httpActionAt(size_t i)
{
    return i < sizeof actions / sizeof actions[0] ? &actions[i] : NULL;
}

bool httpQueueNameOfUrl(const char *url, const char **name, size_t *len)
{
    const char *slash = strrchr(url, '/');
    const char *n = slash != NULL ? slash + 1 : url;

    *name = n;
    *len = strlen(n);
    return *len > 0;
}

static int fail(const char **code, const char *name, char *errmsg, size_t len,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(const char **code, const char *name, char *errmsg, size_t len,
                const char *fmt, ...)
{
    va_list ap;

    *code = name;
    va_start(ap, fmt);
    vsnprintf(errmsg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---------------------------------------------------------------------- */
/* base64                                                                  */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of @len bytes into a malloc'd NUL-terminated string. */
static char *b64Encode(const unsigned char *p, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64Val(char c)
{
    const char *p = c != '\0' ? strchr(b64chars, c) : NULL;
    return p != NULL ? (int)(p - b64chars) : -1;
}

/* Decode base64 @s (@len chars, padding optional, no whitespace) into
 * malloc'd *out; -1 if it is not base64. */
static int b64Decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    unsigned char *o;
    size_t i, n = 0;
    unsigned acc = 0;
    int bits = 0;

    while (len > 0 && s[len - 1] == '=') {
        len--;
    }
    o = malloc(len * 3 / 4 + 3);
    if (o == NULL) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        int v = b64Val(s[i]);
        if (v < 0) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *out = o;
    *out_len = n;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* params -> args                                                          */

static void packStr(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

/* Whether @o has an empty MessageBody, which SQS treats as a missing one
 * (MissingParameter): it is left out of the args. */
static bool emptyBody(const json_t *o)
{
    const json_t *b = json_object_get(o, "MessageBody");
    return json_is_string(b) && json_string_length(b) == 0;
}

/* Pack @v as it is; string values under the key BinaryValue are base64
 * and become bin; an empty MessageBody is left out. */
static int packValue(msgpack_packer *pk, const char *key, const json_t *v, const char **code,
                     char *errmsg, size_t errmsg_len)
{
    const char *k;
    json_t *e;
    size_t i;

    switch (json_typeof(v)) {
        case JSON_OBJECT:
            msgpack_pack_map(pk, json_object_size(v) - (emptyBody(v) ? 1 : 0));
            json_object_foreach((json_t *)v, k, e)
            {
                if (strcmp(k, "MessageBody") == 0 && emptyBody(v)) {
                    continue;
                }
                packStr(pk, k, strlen(k));
                if (packValue(pk, k, e, code, errmsg, errmsg_len) != 0) {
                    return -1;
                }
            }
            return 0;
        case JSON_ARRAY:
            msgpack_pack_array(pk, json_array_size(v));
            json_array_foreach(v, i, e)
            {
                if (packValue(pk, key, e, code, errmsg, errmsg_len) != 0) {
                    return -1;
                }
            }
            return 0;
        case JSON_STRING:
            if (key != NULL && strcmp(key, "BinaryValue") == 0) {
                unsigned char *bin;
                size_t n;
                if (b64Decode(json_string_value(v), json_string_length(v), &bin, &n) != 0) {
                    return fail(code, "InvalidParameterValue", errmsg, errmsg_len,
                                "%s is not valid base64.", "BinaryValue");
                }
                msgpack_pack_bin(pk, n);
                msgpack_pack_bin_body(pk, bin, n);
                free(bin);
                return 0;
            }
            packStr(pk, json_string_value(v), json_string_length(v));
            return 0;
        case JSON_INTEGER:
            msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
            return 0;
        case JSON_REAL:
            msgpack_pack_double(pk, json_real_value(v));
            return 0;
        case JSON_TRUE:
            msgpack_pack_true(pk);
            return 0;
        case JSON_FALSE:
            msgpack_pack_false(pk);
            return 0;
        default:
            msgpack_pack_nil(pk);
            return 0;
    }
}

/* The queue name in an ARN (after its last ':'), or the value itself. */
static void arnName(const json_t *v, const char **name, size_t *len)
{
    const char *s = json_string_value(v);
    const char *colon = strrchr(s, ':');

    *name = colon != NULL ? colon + 1 : s;
    *len = strlen(*name);
}

/* Whether @account has a namespace prefix (every account but
 * 000000000000, whose queues are the native protocol's). */
static bool prefixed(const char *account)
{
    return account != NULL && strcmp(account, "000000000000") != 0;
}

/* Pack @name (@len bytes) of @account's namespace as stored. */
static void packQueueName(msgpack_packer *pk, const char *account, const char *name, size_t len)
{
    if (prefixed(account)) {
        msgpack_pack_str(pk, 13 + len);
        msgpack_pack_str_body(pk, account, 12);
        msgpack_pack_str_body(pk, "~", 1);
        msgpack_pack_str_body(pk, name, len);
    } else {
        packStr(pk, name, len);
    }
}

/* Pack the queue an ARN names, as stored: its account's namespace. */
static void packArnQueue(msgpack_packer *pk, const char *account, const char *arn)
{
    const char *name = strrchr(arn, ':');
    const char *acct = NULL;

    if (name != NULL && name - arn >= 13 && name[-13] == ':') {
        acct = name - 12;
    }
    if (acct != NULL) {
        char a[13];
        memcpy(a, acct, 12);
        a[12] = '\0';
        packQueueName(pk, a, name + 1, strlen(name + 1));
    } else {
        packQueueName(pk, account, name != NULL ? name + 1 : arn,
                      strlen(name != NULL ? name + 1 : arn));
    }
}

const char *httpQueueExternal(const char *stored, const char **account)
{
    const char *tilde = strchr(stored, '~');

    if (tilde != NULL && tilde - stored == 12) {
        if (account != NULL) {
            *account = stored; /* 12 digits, not NUL-terminated */
        }
        return tilde + 1;
    }
    if (account != NULL) {
        *account = NULL;
    }
    return stored;
}

int httpArgsBuild(const struct httpAction *action, const json_t *params, const char *account,
                  void **args, size_t *args_len, const char **code, char *errmsg,
                  size_t errmsg_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    const char *key;
    json_t *v;
    json_t *url = json_object_get(params, "QueueUrl");
    size_t n = 0;

    *args = NULL;
    *args_len = 0;
    if (action->needs_url && !json_is_string(url)) {
        return fail(code, url == NULL ? "MissingParameter" : "InvalidParameterValue", errmsg,
                    errmsg_len, "The request must contain the parameter %s.", "QueueUrl");
    }
    json_object_foreach((json_t *)params, key, v)
    {
        if (strcmp(key, "MessageBody") == 0 && emptyBody(params)) {
            continue;
        }
        if (strcmp(key, "QueueOwnerAWSAccountId") != 0 &&
            !(strcmp(key, "QueueUrl") == 0 && !action->needs_url)) {
            n++;
        }
    }
    if (action->kind == HTTP_ACT_GET_URL) {
        n++; /* AttributeNames */
    }
    if (action->fsm_op == FSM_OP_LIST_QUEUES && prefixed(account) &&
        json_object_get(params, "QueueNamePrefix") == NULL) {
        n++; /* the account's namespace */
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    json_object_foreach((json_t *)params, key, v)
    {
        const char *name;
        size_t len;

        if (strcmp(key, "QueueOwnerAWSAccountId") == 0 ||
            (strcmp(key, "MessageBody") == 0 && emptyBody(params))) {
            continue;
        }
        if (strcmp(key, "QueueUrl") == 0) {
            if (!action->needs_url) {
                continue;
            }
            httpQueueNameOfUrl(json_string_value(v), &name, &len);
            packStr(&pk, "QueueName", 9);
            packQueueName(&pk, account, name, len);
        } else if ((strcmp(key, "QueueName") == 0 || strcmp(key, "QueueNamePrefix") == 0) &&
                   json_is_string(v)) {
            packStr(&pk, key, strlen(key));
            packQueueName(&pk, account, json_string_value(v), json_string_length(v));
        } else if ((strcmp(key, "SourceArn") == 0 || strcmp(key, "DestinationArn") == 0) &&
                   json_is_string(v)) {
            if (key[0] == 'S') {
                packStr(&pk, "SourceQueueName", 15);
            } else {
                packStr(&pk, "DestinationQueueName", 20);
            }
            packArnQueue(&pk, account, json_string_value(v));
        } else {
            /* JSON's CreateQueue names its tags "tags". */
            const char *name_out = strcmp(key, "tags") == 0 ? "Tags" : key;
            packStr(&pk, name_out, strlen(name_out));
            if (packValue(&pk, key, v, code, errmsg, errmsg_len) != 0) {
                msgpack_sbuffer_destroy(&sb);
                return -1;
            }
        }
    }
    if (action->kind == HTTP_ACT_GET_URL) {
        packStr(&pk, "AttributeNames", 14);
        msgpack_pack_array(&pk, 1);
        packStr(&pk, "QueueArn", 8);
    }
    if (action->fsm_op == FSM_OP_LIST_QUEUES && prefixed(account) &&
        json_object_get(params, "QueueNamePrefix") == NULL) {
        packStr(&pk, "QueueNamePrefix", 15);
        packQueueName(&pk, account, "", 0);
    }
    *args = sb.data;
    *args_len = sb.size;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* reply -> result                                                         */

static json_t *toJson(const msgpack_object *o)
{
    json_t *j;
    uint32_t i;
    char *b64;

    switch (o->type) {
        case MSGPACK_OBJECT_MAP:
            j = json_object();
            for (i = 0; i < o->via.map.size; i++) {
                const msgpack_object_kv *kv = &o->via.map.ptr[i];
                char key[128];
                if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size >= sizeof key) {
                    continue;
                }
                memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
                key[kv->key.via.str.size] = '\0';
                json_object_set_new(j, key, toJson(&kv->val));
            }
            return j;
        case MSGPACK_OBJECT_ARRAY:
            j = json_array();
            for (i = 0; i < o->via.array.size; i++) {
                json_array_append_new(j, toJson(&o->via.array.ptr[i]));
            }
            return j;
        case MSGPACK_OBJECT_STR:
            j = json_stringn(o->via.str.ptr, o->via.str.size);
            return j != NULL ? j : json_string("");
        case MSGPACK_OBJECT_BIN:
            b64 = b64Encode((const unsigned char *)o->via.bin.ptr, o->via.bin.size);
            j = json_string(b64 != NULL ? b64 : "");
            free(b64);
            return j;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return json_integer((json_int_t)o->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer((json_int_t)o->via.i64);
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean(o->via.boolean);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real(o->via.f64);
        default:
            return json_null();
    }
}

static json_t *queueUrl(const struct httpContext *ctx, const char *name)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s/%s/%s", ctx->advertise, ctx->account, name);
    return json_string(url);
}

static json_t *queueArn(const struct httpContext *ctx, const char *name)
{
    char arn[512];
    snprintf(arn, sizeof arn, "arn:aws:sqs:%s:%s:%s", ctx->region, ctx->account, name);
    return json_string(arn);
}

/* The stored queue names of @list in the caller's namespace, as
 * QueueUrls (names of other namespaces are left out). */
static json_t *urlsOf(const struct httpContext *ctx, const json_t *list)
{
    json_t *urls = json_array();
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        const char *acct;
        const char *name;
        if (!json_is_string(e)) {
            continue;
        }
        name = httpQueueExternal(json_string_value(e), &acct);
        if (prefixed(ctx->account) ? acct != NULL && memcmp(acct, ctx->account, 12) == 0
                                   : acct == NULL) {
            json_array_append_new(urls, queueUrl(ctx, name));
        }
    }
    return urls;
}

/* An ARN the state machine wrote (a fixed prefix, or a bare queue name)
 * with this node's region and the caller's account. */
static void fixArn(const struct httpContext *ctx, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    const char *name;
    size_t len;

    const char *acct;
    char account[13];
    struct httpContext in = *ctx;

    if (!json_is_string(v)) {
        return;
    }
    arnName(v, &name, &len);
    name = httpQueueExternal(name, &acct);
    /* The queue's account is its namespace's. */
    if (acct != NULL) {
        memcpy(account, acct, 12);
        account[12] = '\0';
        in.account = account;
    } else {
        in.account = "000000000000";
    }
    json_object_set_new(obj, key, queueArn(&in, name));
}

/* Failed entries: AWS's codes. */
static void fixFailed(json_t *result)
{
    json_t *failed = json_object_get(result, "Failed");
    size_t i;
    json_t *e;

    json_array_foreach(failed, i, e)
    {
        json_t *c = json_object_get(e, "Code");
        if (json_is_string(c)) {
            const struct httpError *err = httpErrorByName(json_string_value(c));
            if (strcmp(err->query_code, "InternalFailure") != 0) {
                json_object_set_new(e, "Code", json_string(err->query_code));
            }
        }
    }
}

/* MD5OfMessageSystemAttributes of sends that carried system attributes. */
static void addSysMd5(json_t *entry, const json_t *sent)
{
    json_t *sys = json_object_get(sent, "MessageSystemAttributes");
    char md5[33];

    if (json_is_object(sys) && json_object_size(sys) > 0 && httpMd5OfAttributes(sys, md5) == 0) {
        json_object_set_new(entry, "MD5OfMessageSystemAttributes", json_string(md5));
    }
}

/* A send's SequenceNumber as receives report it: 20 digits. */
static void fixSequence(json_t *obj)
{
    json_t *v = json_object_get(obj, "SequenceNumber");
    char text[32];

    if (json_is_integer(v)) {
        snprintf(text, sizeof text, "%020llu", (unsigned long long)json_integer_value(v));
        json_object_set_new(obj, "SequenceNumber", json_string(text));
    } else if (json_is_string(v) && json_string_length(v) < 20) {
        snprintf(text, sizeof text, "%020llu", strtoull(json_string_value(v), NULL, 10));
        json_object_set_new(obj, "SequenceNumber", json_string(text));
    }
}

/* Whether a receive asked for the system attribute @name (or All). */
static bool asked(const json_t *params, const char *name)
{
    static const char *const lists[] = {"AttributeNames", "MessageSystemAttributeNames"};
    size_t l, i;
    json_t *e;

    for (l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(params, lists[l]), i, e)
        {
            if (json_is_string(e) && (strcmp(json_string_value(e), "All") == 0 ||
                                      strcmp(json_string_value(e), name) == 0)) {
                return true;
            }
        }
    }
    return false;
}

static void fixResult(const struct httpAction *a, const struct httpContext *ctx,
                      const json_t *params, json_t *r)
{
    json_t *v;
    size_t i;
    json_t *e;

    json_object_del(r, "ok");
    json_object_del(r, "id");
    switch (a->fsm_op) {
        case FSM_OP_CREATE_QUEUE:
            v = json_object_get(r, "QueueName");
            if (json_is_string(v)) {
                json_object_set_new(r, "QueueUrl",
                                    queueUrl(ctx, httpQueueExternal(json_string_value(v), NULL)));
            }
            json_object_del(r, "QueueName");
            break;
        case FSM_OP_LIST_QUEUES:
        case FSM_OP_LIST_DLQ_SOURCES:
            v = json_object_get(r, "QueueNames");
            /* AWS leaves QueueUrls out of an empty ListQueues. */
            v = urlsOf(ctx, v);
            if (json_array_size(v) > 0 || a->fsm_op == FSM_OP_LIST_DLQ_SOURCES) {
                json_object_set_new(r, "QueueUrls", v);
            } else {
                json_decref(v);
            }
            json_object_del(r, "QueueNames");
            break;
        case FSM_OP_GET_QUEUE_ATTRIBUTES:
            if (a->kind == HTTP_ACT_GET_URL) {
                json_object_clear(r);
                v = json_object_get(params, "QueueName");
                json_object_set_new(r, "QueueUrl",
                                    queueUrl(ctx, json_is_string(v) ? json_string_value(v) : ""));
            } else if (json_array_size(json_object_get(params, "AttributeNames")) == 0) {
                /* SQS returns no attribute unless asked for some. */
                json_object_del(r, "Attributes");
            } else {
                fixArn(ctx, json_object_get(r, "Attributes"), "QueueArn");
            }
            break;
        case FSM_OP_RECEIVE_MESSAGE:
            v = json_object_get(r, "Messages");
            if (json_array_size(v) == 0) {
                json_object_del(r, "Messages");
            }
            json_array_foreach(v, i, e)
            {
                fixArn(ctx, json_object_get(e, "Attributes"), "DeadLetterQueueSourceArn");
                if (asked(params, "SenderId")) {
                    /* No sender is recorded: the caller's account stands in. */
                    json_t *attrs = json_object_get(e, "Attributes");
                    if (attrs == NULL) {
                        attrs = json_object();
                        json_object_set_new(e, "Attributes", attrs);
                    }
                    json_object_set_new(attrs, "SenderId", json_string(ctx->account));
                }
            }
            break;
        case FSM_OP_SEND_MESSAGE:
            addSysMd5(r, params);
            fixSequence(r);
            break;
        case FSM_OP_SEND_MESSAGE_BATCH:
            json_array_foreach(json_object_get(r, "Successful"), i, e)
            {
                size_t j;
                json_t *sent;
                json_array_foreach(json_object_get(params, "Entries"), j, sent)
                {
                    if (json_equal(json_object_get(sent, "Id"), json_object_get(e, "Id"))) {
                        addSysMd5(e, sent);
                    }
                }
                fixSequence(e);
            }
            fixFailed(r);
            break;
        case FSM_OP_DELETE_MESSAGE_BATCH:
        case FSM_OP_CHANGE_VISIBILITY_BATCH:
            fixFailed(r);
            break;
        case FSM_OP_START_MESSAGE_MOVE_TASK:
            v = json_object_get(r, "MovedCount");
            {
                char handle[64];
                snprintf(handle, sizeof handle, "qraft-move-%lld",
                         json_is_integer(v) ? (long long)json_integer_value(v) : 0ll);
                json_object_set_new(r, "TaskHandle", json_string(handle));
            }
            json_object_del(r, "MovedCount");
            break;
        default:
            break;
    }
}

int httpResultBuild(const struct httpAction *action, const struct httpContext *ctx,
                    const json_t *params, const void *reply, size_t reply_len, json_t **result,
                    const char **code, char *codebuf, size_t codebuf_len, char *errmsg,
                    size_t errmsg_len)
{
    msgpack_unpacked u;
    size_t off = 0;
    json_t *r = NULL;
    json_t *ok;
    int rv = -1;

    *result = NULL;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, reply, reply_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        fail(code, "InternalError", errmsg, errmsg_len, "%s", "the reply does not decode");
        goto done;
    }
    r = toJson(&u.data);
    ok = json_object_get(r, "ok");
    if (!json_is_true(ok)) {
        json_t *c = json_object_get(r, "code");
        json_t *m = json_object_get(r, "message");
        snprintf(codebuf, codebuf_len, "%s", json_is_string(c) ? json_string_value(c) : "");
        snprintf(errmsg, errmsg_len, "%s", json_is_string(m) ? json_string_value(m) : "");
        *code = codebuf;
        goto done;
    }
    fixResult(action, ctx, params, r);
    *result = r;
    r = NULL;
    rv = 0;
done:
    json_decref(r);
    msgpack_unpacked_destroy(&u);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* MD5 of message attributes                                               */

static void put32(struct httpBuf *b, size_t n)
{
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    httpBufAdd(b, be, 4);
}

static int cmpStr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int httpMd5OfAttributes(const json_t *attrs, char out[33])
{
    const char *names[64];
    size_t n = 0, i;
    const char *key;
    json_t *v;
    struct httpBuf b;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int rv = -1;

    if (!json_is_object(attrs) || json_object_size(attrs) > 64) {
        return -1;
    }
    json_object_foreach((json_t *)attrs, key, v)
    {
        names[n++] = key;
    }
    qsort(names, n, sizeof names[0], cmpStr);
    httpBufInit(&b);
    for (i = 0; i < n; i++) {
        json_t *a = json_object_get(attrs, names[i]);
        json_t *type = json_object_get(a, "DataType");
        json_t *sv = json_object_get(a, "StringValue");
        json_t *bv = json_object_get(a, "BinaryValue");

        if (!json_is_string(type)) {
            goto done;
        }
        put32(&b, strlen(names[i]));
        httpBufStr(&b, names[i]);
        put32(&b, json_string_length(type));
        httpBufAdd(&b, json_string_value(type), json_string_length(type));
        if (json_is_string(sv)) {
            httpBufAdd(&b, "\x01", 1);
            put32(&b, json_string_length(sv));
            httpBufAdd(&b, json_string_value(sv), json_string_length(sv));
        } else if (json_is_string(bv)) {
            unsigned char *bin;
            size_t blen;
            if (b64Decode(json_string_value(bv), json_string_length(bv), &bin, &blen) != 0) {
                goto done;
            }
            httpBufAdd(&b, "\x02", 1);
            put32(&b, blen);
            httpBufAdd(&b, bin, blen);
            free(bin);
        } else {
            goto done;
        }
    }
    if (b.oom || EVP_Digest(b.p != NULL ? b.p : "", b.len, md, &mdlen, EVP_md5(), NULL) != 1) {
        goto done;
    }
    for (i = 0; i < mdlen && i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    rv = 0;
done:
    httpBufFree(&b);
    return rv;
}
