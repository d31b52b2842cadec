/* Proposal batches (raft/batch.c) through the production glue
 * (raft/fsmglue.c): a batch entry must leave the state, the digest and the
 * replies exactly as its commands applied as separate entries would; an
 * entry whose framing is wrong must apply as one undecodable command on
 * every node, never half of it. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "raft/internal.h"
#include "tests/lib/fsmtest.h"

#define N_SENDS 5

/* Two fsms with the same queue: one gets a batch, the other the same
 * commands one by one. */
struct pair
{
    struct ft *batched;
    struct ft *single;
    struct fsmAdapter adapter; /* over batched->f */
};

static int pairSetUp(void **state)
{
    struct pair *p = calloc(1, sizeof *p);

    assert_non_null(p);
    p->batched = ftOpen(1024, 3600000, 0);
    p->single = ftOpen(1024, 3600000, 0);
    ftDo(p->batched, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    ftDo(p->single, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    fsmAdapterInit(&p->adapter, p->batched->f);
    *state = p;
    return 0;
}

static int pairTearDown(void **state)
{
    struct pair *p = *state;

    fsmAdapterClose(&p->adapter);
    ftClose(p->batched);
    ftClose(p->single);
    free(p);
    return 0;
}

/* Send command @i of the test, with its args built in @t->args. */
static void sendCommand(struct ft *t, unsigned i, struct fsmCommand *c)
{
    ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"body %u\"}", i);
    memset(c, 0, sizeof *c);
    c->op = FSM_OP_SEND_MESSAGE;
    c->now_ms = t->now + i;
    c->client_id = 42;
    c->seq = i + 1;
    c->ack = 1;
    c->args = t->args.data;
    c->args_len = t->args.size;
}

/* Apply @buf through the glue of @p. */
static const struct glueResult *glueApplyEntry(struct pair *p, void *buf, size_t len)
{
    struct raft_buffer b = {buf, len};
    void *result = NULL;

    assert_int_equal(p->adapter.raft_fsm.apply(&p->adapter.raft_fsm, &b, &result), 0);
    assert_non_null(result);
    return result;
}

static void assertSameDigest(struct pair *p)
{
    char a[33];
    char b[33];

    fsmDigest(p->batched->f, a);
    fsmDigest(p->single->f, b);
    assert_string_equal(a, b);
}

/* N sends in one entry: one reply per command, each equal to the reply of
 * the same command applied alone, and the same digest. */
static void batchAppliesLikeSeparateEntries(void **state)
{
    struct pair *p = *state;
    struct batchWriter w = {0};
    struct raft_buffer entry;
    const struct glueResult *res;
    struct fsmCommand c;
    char *replies[N_SENDS];
    size_t lens[N_SENDS];
    unsigned i;

    for (i = 0; i < N_SENDS; i++) {
        sendCommand(p->batched, i, &c);
        assert_int_equal(batchWriterAdd(&w, &c), 0);
    }
    assert_int_equal(w.n, N_SENDS);
    assert_int_equal(w.len % 8, 0);
    batchWriterTake(&w, &entry);
    assert_null(w.base);
    assert_true(batchIs(entry.base, entry.len));

    res = glueApplyEntry(p, entry.base, entry.len);
    assert_int_equal(res->n, N_SENDS);
    for (i = 0; i < N_SENDS; i++) {
        lens[i] = res->replies[i].len;
        replies[i] = malloc(lens[i]);
        assert_non_null(replies[i]);
        memcpy(replies[i], res->replies[i].data, lens[i]);
        assert_true(res->replies[i].wake > 0); /* a send wakes a waiter */
    }
    raft_free(entry.base);

    for (i = 0; i < N_SENDS; i++) {
        void *buf;
        size_t len;
        struct fsmReply r;
        sendCommand(p->single, i, &c);
        assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
        assert_int_equal(fsmApply(p->single->f, buf, len, &r), 0);
        assert_int_equal(r.len, lens[i]);
        assert_memory_equal(r.data, replies[i], lens[i]);
        free(buf);
        free(replies[i]);
    }
    assertSameDigest(p);
    assert_int_equal(fsmFlush(p->batched->f), 0);
    assert_int_equal(fsmFlush(p->single->f), 0);
}

/* A single-command entry (older logs) still applies through the glue. */
static void singleEntryStillApplies(void **state)
{
    struct pair *p = *state;
    struct fsmCommand c;
    struct fsmReply r;
    const struct glueResult *res;
    void *buf;
    size_t len;

    sendCommand(p->batched, 0, &c);
    assert_int_equal(fsmCommandEncode(&c, malloc, &buf, &len), 0);
    res = glueApplyEntry(p, buf, len);
    assert_int_equal(res->n, 1);
    assert_int_equal(fsmApply(p->single->f, buf, len, &r), 0);
    assert_int_equal(r.len, res->replies[0].len);
    free(buf);
    assertSameDigest(p);
}

/* Ways to break the framing of a sound two-command batch. */
enum breakage {
    BREAK_COUNT_ZERO,
    BREAK_COUNT_HIGH,
    BREAK_LENGTH_ODD,
    BREAK_LENGTH_PAST_END,
    BREAK_RESERVED,
    BREAK_TRAILING,
    BREAK_TRUNCATED,
    BREAK_N
};

static void putBe32(unsigned char *q, uint32_t v)
{
    q[0] = (unsigned char)(v >> 24);
    q[1] = (unsigned char)(v >> 16);
    q[2] = (unsigned char)(v >> 8);
    q[3] = (unsigned char)v;
}

/* A batch whose framing is wrong, in any of the ways above, applies on
 * every node as one command that does not decode: an InvalidCommand reply,
 * nothing sent, the digest of that one entry. */
static void brokenFramingAppliesAsOneBadCommand(void **state)
{
    struct pair *p = *state;
    unsigned k;

    for (k = 0; k < BREAK_N; k++) {
        struct batchWriter w = {0};
        struct raft_buffer entry;
        struct fsmCommand c;
        const struct glueResult *res;
        struct fsmReply r;
        unsigned char *e;
        size_t len;
        unsigned i;

        for (i = 0; i < 2; i++) {
            sendCommand(p->batched, 10 + k * 2 + i, &c);
            assert_int_equal(batchWriterAdd(&w, &c), 0);
        }
        batchWriterTake(&w, &entry);
        e = raft_realloc(entry.base, entry.len + 8);
        assert_non_null(e);
        len = entry.len;
        switch (k) {
            case BREAK_COUNT_ZERO:
                putBe32(e + 4, 0);
                break;
            case BREAK_COUNT_HIGH:
                putBe32(e + 4, 3);
                break;
            case BREAK_LENGTH_ODD:
                putBe32(e + 8, 12);
                break;
            case BREAK_LENGTH_PAST_END:
                putBe32(e + 8, (uint32_t)len);
                break;
            case BREAK_RESERVED:
                e[15] = 1;
                break;
            case BREAK_TRAILING:
                memset(e + len, 0, 8);
                len += 8;
                break;
            default:
                len -= 8;
                break;
        }
        res = glueApplyEntry(p, e, len);
        assert_int_equal(res->n, 1);
        {
            msgpack_unpacked u;
            size_t off = 0;
            const msgpack_object *code;
            msgpack_unpacked_init(&u);
            assert_int_equal(msgpack_unpack_next(&u, res->replies[0].data,
                                                 res->replies[0].len, &off),
                             MSGPACK_UNPACK_SUCCESS);
            code = ftGet(&u.data, "code");
            assert_non_null(code);
            assert_int_equal(code->type, MSGPACK_OBJECT_STR);
            assert_memory_equal(code->via.str.ptr, "InvalidCommand", code->via.str.size);
            msgpack_unpacked_destroy(&u);
        }
        assert_int_equal(fsmApply(p->single->f, e, len, &r), 0);
        assertSameDigest(p);
        raft_free(e);
    }
    /* Nothing was sent by any of them. */
    {
        const msgpack_object *o =
            ftQuery(p->batched, FSM_OP_GET_QUEUE_ATTRIBUTES,
                    "{\"QueueName\":\"q\",\"AttributeNames\":[\"All\"]}");
        const msgpack_object *attrs = ftGet(o, "Attributes");
        const msgpack_object *visible;
        assert_non_null(attrs);
        visible = ftGet(attrs, "ApproximateNumberOfMessages");
        assert_non_null(visible);
        assert_int_equal(visible->type, MSGPACK_OBJECT_STR);
        assert_memory_equal(visible->via.str.ptr, "0", 1);
    }
}

/* A command that cannot be encoded is left out whole: the batch is as it
 * was before the call. */
static void writerRefusesBadCommandWhole(void **state)
{
    struct pair *p = *state;
    struct batchWriter w = {0};
    struct fsmCommand c;
    size_t len;

    sendCommand(p->batched, 0, &c);
    assert_int_equal(batchWriterAdd(&w, &c), 0);
    len = w.len;
    c.op = 9999; /* no such op */
    assert_int_equal(batchWriterAdd(&w, &c), RAFT_INVALID);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.len, len);
    sendCommand(p->batched, 0, &c);
    c.client_id = 0; /* a mutating op without a session */
    assert_int_equal(batchWriterAdd(&w, &c), RAFT_INVALID);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.len, len);
    batchWriterDiscard(&w);
    assert_null(w.base);
}

/* One command of client 42 at sequence @seq, its args built from @json. */
static void commandOf(struct ft *t, unsigned op, uint64_t seq, const char *json,
                      struct fsmCommand *c)
{
    ftArgs(t, "%s", json);
    memset(c, 0, sizeof *c);
    c->op = op;
    c->now_ms = t->now + seq;
    c->client_id = 42;
    c->seq = seq;
    c->ack = seq;
    c->args = t->args.data;
    c->args_len = t->args.size;
}

/* Apply @n_receives ReceiveMessage of 10 as one batch, from sequence
 * *@seq on; returns the bytes of their replies. */
static size_t applyReceiveBatch(struct pair *p, unsigned n_receives, uint64_t *seq)
{
    struct batchWriter w = {0};
    struct raft_buffer entry;
    const struct glueResult *res;
    struct fsmCommand c;
    size_t bytes = 0;
    unsigned i;

    for (i = 0; i < n_receives; i++) {
        commandOf(p->batched, FSM_OP_RECEIVE_MESSAGE, (*seq)++,
                  "{\"QueueName\":\"q\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":600}",
                  &c);
        assert_int_equal(batchWriterAdd(&w, &c), 0);
    }
    batchWriterTake(&w, &entry);
    res = glueApplyEntry(p, entry.base, entry.len);
    assert_int_equal(res->n, n_receives);
    for (i = 0; i < res->n; i++) {
        bytes += res->replies[i].len;
    }
    raft_free(entry.base);
    return bytes;
}

/* The glue's reply buffer (GLUE_REPLY_BYTES_KEEP, 4 MiB): grown to exactly
 * the bound by a batch of large receives, it is kept for the next batch
 * (a freed one would regrow to 2 MiB only); grown past it, it is freed
 * before the next. */
static void replyBufferKeptAtBoundFreedPast(void **state)
{
    struct pair *p = *state;
    static char body[200 * 1024 + 1];
    uint64_t seq = 1;
    size_t bytes;
    unsigned i;

    memset(body, 'r', sizeof body - 1);
    for (i = 0; i < 60; i++) {
        ftSend(p->batched, "q", body);
    }
    /* Two receives of 10 x 200 KiB: between 2 and 4 MiB of replies. */
    bytes = applyReceiveBatch(p, 2, &seq);
    assert_true(bytes > GLUE_REPLY_BYTES_KEEP / 2 && bytes <= GLUE_REPLY_BYTES_KEEP);
    assert_int_equal(p->adapter.reply_bytes_cap, GLUE_REPLY_BYTES_KEEP);
    bytes = applyReceiveBatch(p, 1, &seq);
    assert_true(bytes > GLUE_REPLY_BYTES_KEEP / 4);
    assert_int_equal(p->adapter.reply_bytes_cap, GLUE_REPLY_BYTES_KEEP);

    /* Three receives of 10: past the bound. */
    bytes = applyReceiveBatch(p, 3, &seq);
    assert_true(bytes > GLUE_REPLY_BYTES_KEEP);
    assert_int_equal(p->adapter.reply_bytes_cap, 2 * GLUE_REPLY_BYTES_KEEP);
    /* The next (an empty receive): freed, then grown to its first step. */
    bytes = applyReceiveBatch(p, 1, &seq);
    assert_true(bytes < 65536);
    assert_int_equal(p->adapter.reply_bytes_cap, 65536);
}

/* A finished entry keeps little of the writer's doubling slack: libraft
 * holds it in memory until a snapshot covers it. */
static void takenEntryHasNoSlack(void **state)
{
    struct pair *p = *state;
    struct batchWriter w = {0};
    struct raft_buffer entry;
    struct fsmCommand c;
    unsigned i;

    /* Grow past 64 KiB, to just after a doubling: most of the new half is
     * unused. */
    for (i = 0; i < 10000 && (w.cap < 65536 || w.cap - w.len < w.cap / 4); i++) {
        sendCommand(p->batched, i, &c);
        assert_int_equal(batchWriterAdd(&w, &c), 0);
    }
    assert_true(w.cap >= 65536 && w.cap - w.len >= w.cap / 4);
    batchWriterTake(&w, &entry);
    assert_true(malloc_usable_size(entry.base) < entry.len + 4096 + 64);
    assert_true(batchIs(entry.base, entry.len));
    raft_free(entry.base);
}

/* Check every body entry of the encoded command @buf against OpenSSL's
 * MD5 of the bytes it names; returns how many it has. */
static size_t checkCarriedMd5s(const void *buf, size_t len)
{
    struct fsmCommand c;
    const uint8_t *d;
    size_t i;

    assert_int_equal(fsmCommandDecode(buf, len, &c), 0);
    d = c.bodies;
    for (i = 0; i + FSM_BODY_DIGEST_LEN <= c.bodies_len; i += FSM_BODY_DIGEST_LEN) {
        uint32_t at = (uint32_t)d[i] << 24 | (uint32_t)d[i + 1] << 16 |
                      (uint32_t)d[i + 2] << 8 | d[i + 3];
        uint32_t n = (uint32_t)d[i + 4] << 24 | (uint32_t)d[i + 5] << 16 |
                     (uint32_t)d[i + 6] << 8 | d[i + 7];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        assert_true(at <= c.args_len && n <= c.args_len - at);
        assert_int_equal(EVP_Digest((const uint8_t *)c.args + at, n, md, &mdlen, EVP_md5(), NULL), 1);
        assert_memory_equal(d + i + 8, md, 16);
    }
    return c.bodies_len / FSM_BODY_DIGEST_LEN;
}

/* The proposer finds the bodies of each command as it joins the batch
 * (their MD5s zero) and hashes them all when the batch is taken: every
 * entry carries the MD5 of its body, though the batch's buffer moved as it
 * grew, whatever the body sizes, for SendMessage and SendMessageBatch
 * alike, past the 64 bodies hashed per md5Many call, and a command
 * refused on the way adds nothing to hash. */
static void takenBatchCarriesEveryBodysMd5(void **state)
{
    struct pair *p = *state;
    struct batchWriter w = {0};
    struct raft_buffer entry;
    struct batchReader r;
    uint8_t bodies[FSM_BODY_DIGESTS_MAX];
    char *body = malloc(5000);
    const void *cmd;
    size_t len;
    size_t carried = 0;
    unsigned i;

    assert_non_null(body);
    for (i = 0; i < 70; i++) {
        struct fsmCommand c;
        size_t n = (i * 397) % 4999 + 1;
        memset(body, 'a' + (int)(i % 26), n);
        body[n] = '\0';
        body[0] = (char)('A' + (int)(i % 26));
        ftArgs(p->batched, "{\"QueueName\":\"q\",\"MessageBody\":\"%s\"}", body);
        memset(&c, 0, sizeof c);
        c.op = FSM_OP_SEND_MESSAGE;
        c.client_id = 42;
        c.seq = i + 1;
        c.args = p->batched->args.data;
        c.args_len = p->batched->args.size;
        fsmCommandFindBodies(&c, bodies);
        assert_int_equal(c.bodies_len, FSM_BODY_DIGEST_LEN);
        if (i == 7) {
            c.op = 9999; /* refused whole: nothing noted */
            assert_int_equal(batchWriterAdd(&w, &c), RAFT_INVALID);
            c.op = FSM_OP_SEND_MESSAGE;
        }
        assert_int_equal(batchWriterAdd(&w, &c), 0);
    }
    {
        struct fsmCommand c;
        commandOf(p->batched, FSM_OP_SEND_MESSAGE_BATCH, 71,
                  "{\"QueueName\":\"q\",\"Entries\":["
                  "{\"Id\":\"a\",\"MessageBody\":\"one\"},"
                  "{\"Id\":\"b\",\"MessageBody\":\"two two\"},"
                  "{\"Id\":\"c\",\"MessageBody\":\"three three three\"}]}",
                  &c);
        fsmCommandFindBodies(&c, bodies);
        assert_int_equal(c.bodies_len, 3 * FSM_BODY_DIGEST_LEN);
        assert_int_equal(batchWriterAdd(&w, &c), 0);
    }
    assert_int_equal(w.n_unhashed, 71);
    batchWriterTake(&w, &entry);
    assert_null(w.unhashed);
    assert_int_equal(batchReaderInit(&r, entry.base, entry.len), 0);
    while (batchReaderNext(&r, &cmd, &len)) {
        carried += checkCarriedMd5s(cmd, len);
    }
    assert_int_equal(carried, 73);
    raft_free(entry.base);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(batchAppliesLikeSeparateEntries, pairSetUp,
                                        pairTearDown),
        cmocka_unit_test_setup_teardown(singleEntryStillApplies, pairSetUp, pairTearDown),
        cmocka_unit_test_setup_teardown(brokenFramingAppliesAsOneBadCommand, pairSetUp,
                                        pairTearDown),
        cmocka_unit_test_setup_teardown(takenEntryHasNoSlack, pairSetUp, pairTearDown),
        cmocka_unit_test_setup_teardown(takenBatchCarriesEveryBodysMd5, pairSetUp, pairTearDown),
        cmocka_unit_test_setup_teardown(replyBufferKeptAtBoundFreedPast, pairSetUp,
                                        pairTearDown),
        cmocka_unit_test_setup_teardown(writerRefusesBadCommandWhole, pairSetUp,
                                        pairTearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
