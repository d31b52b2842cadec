/* Test harness for the state machine (see fsmtest.h). */
#include "tests/lib/fsmtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/tmpdir.h"

struct ft *ftOpen(uint32_t window, uint64_t idle_ms, uint32_t inflight_max)
{
    return ftOpenSweep(window, idle_ms, inflight_max, 0);
}

/* Open an fsm as @conf says, in a fresh directory. */
static struct ft *ftOpenConf(struct fsmConfig *conf)
{
    char errmsg[256];
    struct ft *t = calloc(1, sizeof *t);

    assert_non_null(t);
    t->dir = tmpdirMake();
    assert_non_null(t->dir);
    conf->dir = t->dir;
    t->conf = *conf;
    assert_int_equal(fsmOpen(&t->conf, &t->f, errmsg), 0);
    t->cid = 7;
    t->now = 1000000;
    msgpack_unpacked_init(&t->u);
    msgpack_sbuffer_init(&t->args);
    return t;
}

struct ft *ftOpenDurable(uint32_t window, uint64_t idle_ms)
{
    struct fsmConfig conf;

    fsmConfigDefaults(&conf);
    conf.map_size = (size_t)256 << 20;
    conf.session_window = window;
    conf.session_idle_ms = idle_ms;
    conf.durable = true;
    return ftOpenConf(&conf);
}

void ftReopen(struct ft *t)
{
    char errmsg[256];

    fsmClose(t->f);
    t->f = NULL;
    assert_int_equal(fsmOpen(&t->conf, &t->f, errmsg), 0);
}

struct ft *ftOpenSweep(uint32_t window, uint64_t idle_ms, uint32_t inflight_max,
                       uint32_t sweep_keys)
{
    struct fsmConfig conf;

    fsmConfigDefaults(&conf);
    conf.map_size = (size_t)256 << 20;
    conf.session_window = window;
    conf.session_idle_ms = idle_ms;
    if (inflight_max > 0) {
        conf.inflight_max = inflight_max;
    }
    if (sweep_keys > 0) {
        conf.sweep_keys = sweep_keys;
    }
    return ftOpenConf(&conf);
}

void ftClose(struct ft *t)
{
    msgpack_unpacked_destroy(&t->u);
    msgpack_sbuffer_destroy(&t->args);
    fsmClose(t->f);
    tmpdirRemove(t->dir);
    free(t);
}

/* A JSON cursor. */
struct json
{
    const char *p;
    msgpack_packer pk;
};

/* Skip white space. */
static void jsonWs(struct json *j)
{
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t') {
        j->p++;
    }
}

/* Read a JSON string (escapes: \" \\ \n \t \uXXXX for < 0x80 only) into a
 * malloc'd buffer. */
static char *jsonStr(struct json *j, size_t *len)
{
    size_t cap = strlen(j->p) + 1;
    char *s = malloc(cap);
    size_t n = 0;

    assert_non_null(s);
    assert_int_equal(*j->p, '"');
    j->p++;
    while (*j->p != '"') {
        assert_true(*j->p != '\0');
        if (*j->p == '\\') {
            j->p++;
            switch (*j->p) {
                case 'n':
                    s[n++] = '\n';
                    break;
                case 't':
                    s[n++] = '\t';
                    break;
                case 'u': {
                    unsigned v;
                    assert_int_equal(sscanf(j->p + 1, "%4x", &v), 1);
                    s[n++] = (char)v;
                    j->p += 4;
                    break;
                }
                default:
                    s[n++] = *j->p;
                    break;
            }
            j->p++;
            continue;
        }
        s[n++] = *j->p++;
    }
    j->p++;
    *len = n;
    return s;
}

/* Read one JSON value and pack it. */
static void jsonValue(struct json *j)
{
    jsonWs(j);
    if (*j->p == '{' || *j->p == '[') {
        bool obj = *j->p == '{';
        const char *start = ++j->p;
        uint32_t n = 1;
        int depth = 0;
        bool instr = false;
        const char *p = start;
        while (*p == ' ' || *p == '\n') {
            p++;
        }
        if (*p == '}' || *p == ']') {
            n = 0;
        }
        /* Count the elements: commas at depth 0, plus one. */
        for (; n > 0 && depth >= 0; p++) {
            assert_true(*p != '\0');
            if (instr) {
                if (*p == '\\') {
                    p++;
                } else if (*p == '"') {
                    instr = false;
                }
                continue;
            }
            if (*p == '"') {
                instr = true;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                depth--;
            } else if (*p == ',' && depth == 0) {
                n++;
            }
        }
        if (obj) {
            msgpack_pack_map(&j->pk, n);
        } else {
            msgpack_pack_array(&j->pk, n);
        }
        jsonWs(j);
        while (*j->p != '}' && *j->p != ']') {
            if (obj) {
                jsonValue(j);
                jsonWs(j);
                assert_int_equal(*j->p, ':');
                j->p++;
            }
            jsonValue(j);
            jsonWs(j);
            if (*j->p == ',') {
                j->p++;
                jsonWs(j);
            }
        }
        j->p++;
        return;
    }
    if (*j->p == '"') {
        size_t len;
        char *s = jsonStr(j, &len);
        if (len >= 4 && memcmp(s, "bin:", 4) == 0) {
            msgpack_pack_bin_with_body(&j->pk, s + 4, len - 4);
        } else {
            msgpack_pack_str_with_body(&j->pk, s, len);
        }
        free(s);
        return;
    }
    if (strncmp(j->p, "true", 4) == 0) {
        msgpack_pack_true(&j->pk);
        j->p += 4;
        return;
    }
    if (strncmp(j->p, "false", 5) == 0) {
        msgpack_pack_false(&j->pk);
        j->p += 5;
        return;
    }
    {
        char *end;
        long long v = strtoll(j->p, &end, 10);
        assert_true(end != j->p);
        j->p = end;
        if (v < 0) {
            msgpack_pack_int64(&j->pk, v);
        } else {
            msgpack_pack_uint64(&j->pk, (uint64_t)v);
        }
    }
}

/* Build args from @fmt/@ap. */
static void ftArgsV(struct ft *t, const char *fmt, va_list ap)
{
    struct json j;
    char *text;

    assert_true(vasprintf(&text, fmt, ap) >= 0);
    msgpack_sbuffer_clear(&t->args);
    msgpack_packer_init(&j.pk, &t->args, msgpack_sbuffer_write);
    j.p = text;
    jsonValue(&j);
    free(text);
}

void ftArgs(struct ft *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ftArgsV(t, fmt, ap);
    va_end(ap);
}

/* Decode t->raw into t->u. */
static const msgpack_object *ftDecode(struct ft *t)
{
    size_t off = 0;

    assert_non_null(t->raw.data);
    assert_int_equal(msgpack_unpack_next(&t->u, t->raw.data, t->raw.len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, t->raw.len);
    assert_int_equal(t->u.data.type, MSGPACK_OBJECT_MAP);
    return &t->u.data;
}

const msgpack_object *ftApplyRaw(struct ft *t, const void *buf, size_t len)
{
    assert_int_equal(fsmApply(t->f, buf, len, &t->raw), 0);
    return ftDecode(t);
}

void ftCommandNext(struct ft *t, unsigned op, struct fsmCommand *c)
{
    memset(c, 0, sizeof *c);
    c->op = op;
    c->now_ms = t->now;
    c->client_id = t->cid;
    c->seq = ++t->seq;
    c->ack = c->seq;
    c->args = t->args.data;
    c->args_len = t->args.size;
}

const msgpack_object *ftApplyCmd(struct ft *t, unsigned op, uint64_t cid,
                                 uint64_t seq, uint64_t ack)
{
    struct fsmCommand c;
    const msgpack_object *o;
    char errmsg[256];
    enum fsmError check;
    void *buf;
    size_t len;

    memset(&c, 0, sizeof c);
    c.op = op;
    c.now_ms = t->now;
    c.client_id = cid;
    c.seq = seq;
    c.ack = ack;
    c.wait = t->wait && op == FSM_OP_RECEIVE_MESSAGE;
    c.args = t->args.data;
    c.args_len = t->args.size;
    check = fsmCommandCheck(&c, errmsg, sizeof errmsg);
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
    o = ftApplyRaw(t, buf, len);
    free(buf);
    /* fsmCommandCheck agrees with apply on every malformed request. */
    if (check != FSM_ERR_NONE && strcmp(ftCode(o), "OutOfOrder") != 0 &&
        strcmp(ftCode(o), "SessionExpired") != 0 &&
        strcmp(ftCode(o), "TooManyInFlight") != 0) {
        assert_string_equal(ftCode(o), fsmErrorName(check));
        assert_string_equal(ftMsg(o), errmsg);
    }
    return o;
}

const msgpack_object *ftDo(struct ft *t, unsigned op, const char *fmt, ...)
{
    va_list ap;
    const msgpack_object *o;

    va_start(ap, fmt);
    ftArgsV(t, fmt, ap);
    va_end(ap);
    if (!fsmOpMutates(op)) {
        return ftApplyCmd(t, op, 0, 0, 0);
    }
    o = ftApplyCmd(t, op, t->cid, t->seq + 1, t->seq + 1);
    if (!t->raw.would_wait) {
        t->seq++;
    }
    return o;
}

const msgpack_object *ftQuery(struct ft *t, unsigned op, const char *fmt, ...)
{
    struct fsmCommand c;
    va_list ap;

    va_start(ap, fmt);
    ftArgsV(t, fmt, ap);
    va_end(ap);
    memset(&c, 0, sizeof c);
    c.op = op;
    c.now_ms = t->now;
    c.args = t->args.data;
    c.args_len = t->args.size;
    assert_int_equal(fsmQuery(t->f, &c, &t->raw), 0);
    return ftDecode(t);
}

void ftTick(struct ft *t)
{
    assert_string_equal(ftCode(ftDo(t, FSM_OP_TICK, "{}")), "ok");
}

const msgpack_object *ftGet(const msgpack_object *o, const char *key)
{
    uint32_t i;

    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    for (i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

const char *ftStr(const msgpack_object *o)
{
    static char buf[8][4096];
    static int which;
    char *b = buf[which = (which + 1) % 8];

    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_true(o->via.str.size < sizeof buf[0]);
    memcpy(b, o->via.str.ptr, o->via.str.size);
    b[o->via.str.size] = '\0';
    return b;
}

const char *ftS(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ftGet(o, key);

    if (v == NULL) {
        fail_msg("no field %s", key);
    }
    return ftStr(v);
}

uint64_t ftU(const msgpack_object *o, const char *key)
{
    const msgpack_object *v = ftGet(o, key);

    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return v->via.u64;
}

const char *ftCode(const msgpack_object *o)
{
    const msgpack_object *ok = ftGet(o, "ok");

    assert_non_null(ok);
    assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
    if (ok->via.boolean) {
        return "ok";
    }
    return ftS(o, "code");
}

const char *ftMsg(const msgpack_object *o)
{
    return ftS(o, "message");
}

const msgpack_object *ftArr(const msgpack_object *o, const char *key)
{
    const msgpack_object *v;

    if (strcmp(ftCode(o), "ok") != 0) {
        fail_msg("%s: %s", ftCode(o), ftMsg(o));
    }
    v = ftGet(o, key);
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
    return v;
}

uint8_t *ftSnapshot(struct ft *t, size_t *len)
{
    struct fsmSnapshot *s;
    void *buf;

    assert_int_equal(fsmSnapshotBegin(t->f, &s), 0);
    assert_int_equal(fsmSnapshotWrite(s, malloc, &buf, len), 0);
    fsmSnapshotEnd(s);
    return buf;
}

/* Big-endian integer of @n bytes at @p. */
static uint64_t snapBe(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* What a walk over one table of a snapshot counts (snapTable). */
struct snapCount
{
    uint64_t prefix; /* 0: every entry */
    uint64_t entries;
    size_t value_bytes;
};

/* The table of snapshot @snap at @off: its name into @name (32 bytes);
 * if it is @want's, its entries counted into @count. Returns the offset
 * past it. */
static size_t snapTable(const uint8_t *snap, size_t off, char name[32], const char *want,
                        struct snapCount *count)
{
    size_t nlen = snap[off];
    uint64_t n;

    assert_true(nlen < 32);
    memcpy(name, snap + off + 1, nlen);
    name[nlen] = '\0';
    off += 1 + nlen;
    if (want == NULL || strcmp(name, want) != 0) {
        count = NULL;
    }
    n = snapBe(snap + off, 8);
    off += 8;
    for (uint64_t e = 0; e < n; e++) {
        size_t k = (size_t)snapBe(snap + off, 4);
        size_t v = (size_t)snapBe(snap + off + 4 + k, 4);
        if (count != NULL &&
            (count->prefix == 0 || (k >= 8 && snapBe(snap + off + 4, 8) == count->prefix))) {
            count->entries++;
            count->value_bytes += v;
        }
        off += 8 + k + v;
    }
    return off;
}

uint64_t ftTableEntries(struct ft *t, const char *name, uint64_t prefix, size_t *value_bytes)
{
    size_t len;
    uint8_t *snap = ftSnapshot(t, &len);
    uint32_t ntables = (uint32_t)snapBe(snap + 12, 4);
    struct snapCount count = {prefix, 0, 0};
    size_t off = 16;
    bool seen = false;

    for (uint32_t i = 0; i < ntables; i++) {
        char table[32];
        off = snapTable(snap, off, table, name, &count);
        seen = seen || strcmp(table, name) == 0;
    }
    assert_int_equal(off + 32, len);
    assert_true(seen);
    free(snap);
    if (value_bytes != NULL) {
        *value_bytes = count.value_bytes;
    }
    return count.entries;
}

uint8_t *ftSame(struct ft *a, struct ft *b, size_t *len)
{
    char da[33], db[33];
    size_t lb;
    uint8_t *sa = ftSnapshot(a, len);
    uint8_t *sb = ftSnapshot(b, &lb);

    assert_int_equal(*len, lb);
    assert_memory_equal(sa, sb, lb);
    fsmDigest(a->f, da);
    fsmDigest(b->f, db);
    assert_string_equal(da, db);
    free(sb);
    return sa;
}

uint8_t *ftState(struct ft *t, size_t *outlen)
{
    size_t len;
    uint8_t *snap = ftSnapshot(t, &len);
    uint8_t *out = malloc(len);
    uint32_t ntables = (uint32_t)snapBe(snap + 12, 4);
    size_t off = 16;
    size_t o = 0;

    assert_non_null(out);
    for (uint32_t i = 0; i < ntables; i++) {
        char name[32];
        size_t start = off;
        off = snapTable(snap, off, name, NULL, NULL);
        if (strcmp(name, "meta") != 0 && strcmp(name, "sessions") != 0 &&
            strcmp(name, "replies") != 0) {
            memcpy(out + o, snap + start, off - start);
            o += off - start;
        }
    }
    assert_int_equal(off + 32, len);
    free(snap);
    *outlen = o;
    return out;
}

void ftRefused(struct ft *t, unsigned op, const char *code, const char *msg,
               const char *json)
{
    const msgpack_object *o;
    size_t la;
    size_t lb;
    uint8_t *a = ftState(t, &la);
    uint8_t *b;

    o = ftDo(t, op, "%s", json);
    if (strcmp(ftCode(o), code) != 0) {
        fail_msg("%s %s: expected %s, got %s (%s)", fsmOpName(op), json, code,
                 ftCode(o), strcmp(ftCode(o), "ok") ? ftMsg(o) : "");
    }
    if (msg != NULL && strstr(ftMsg(o), msg) == NULL) {
        fail_msg("%s %s: message '%s' lacks '%s'", fsmOpName(op), json,
                 ftMsg(o), msg);
    }
    b = ftState(t, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

const char *ftSend(struct ft *t, const char *q, const char *body)
{
    const msgpack_object *o = ftDo(
        t, FSM_OP_SEND_MESSAGE, "{\"QueueName\":\"%s\",\"MessageBody\":\"%s\"}",
        q, body);

    if (strcmp(ftCode(o), "ok") != 0) {
        fail_msg("send: %s %s", ftCode(o), ftMsg(o));
    }
    return ftS(o, "MessageId");
}

const msgpack_object *ftRecv(struct ft *t, const char *q, int max, int vis)
{
    const msgpack_object *o;

    if (vis >= 0) {
        o = ftDo(t, FSM_OP_RECEIVE_MESSAGE,
                 "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":%d,"
                 "\"VisibilityTimeout\":%d,\"AttributeNames\":[\"All\"],"
                 "\"MessageAttributeNames\":[\"All\"]}",
                 q, max, vis);
    } else {
        o = ftDo(t, FSM_OP_RECEIVE_MESSAGE,
                 "{\"QueueName\":\"%s\",\"MaxNumberOfMessages\":%d,"
                 "\"AttributeNames\":[\"All\"],"
                 "\"MessageAttributeNames\":[\"All\"]}",
                 q, max);
    }
    return ftArr(o, "Messages");
}

const char *ftAttr(struct ft *t, const char *q, const char *name)
{
    const msgpack_object *o =
        ftQuery(t, FSM_OP_GET_QUEUE_ATTRIBUTES,
                "{\"QueueName\":\"%s\",\"AttributeNames\":[\"%s\"]}", q, name);
    const msgpack_object *a;

    if (strcmp(ftCode(o), "ok") != 0) {
        fail_msg("attrs: %s %s", ftCode(o), ftMsg(o));
    }
    a = ftGet(o, "Attributes");
    assert_non_null(a);
    a = ftGet(a, name);
    return a != NULL ? ftStr(a) : NULL;
}
