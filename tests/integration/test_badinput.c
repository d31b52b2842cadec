/* Bad input on the client port of a real node: oversized and truncated
 * frames, bytes that are not msgpack, unknown ops, wrong types. Each gets a
 * clear error (or the connection closed for a stream that cannot be cut into
 * frames), the node keeps serving everyone else, and the state is unchanged
 * (same applied index and digest). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "tests/integration/cluster.h"

#define MAX_FRAME 4096

static struct testCluster cluster;
static int leaderIndex;

static int setup(void **state)
{
    (void)state;
    if (testClusterStart(&cluster, 3, 17400,
                         "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0 "
                         "--max-frame 4096",
                         30000) != 0) {
        return -1;
    }
    leaderIndex = testClusterLeader(&cluster, 10000);
    return leaderIndex < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    testClusterStop(&cluster, true);
    return 0;
}

static int dial(unsigned node)
{
    struct sockaddr_in sa;
    const char *addr = cluster.nodes[node].client_addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void writeAll(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void writeFrame(int fd, const void *payload, size_t len)
{
    unsigned char header[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                               (unsigned char)(len >> 8), (unsigned char)len};
    writeAll(fd, header, 4);
    writeAll(fd, payload, len);
}

/* A decoded reply and the copy of the frame its strings point into. */
struct reply
{
    msgpack_unpacked u;
    char *copy;
};

static void replyFree(struct reply *r)
{
    msgpack_unpacked_destroy(&r->u);
    free(r->copy);
}

/* Read one reply frame (bounded by 5 s). Returns 1, or 0 on EOF. */
static int readReply(int fd, struct reply *result)
{
    struct qraft_wire_reader reader;
    char buf[65536];
    const void *payload;
    size_t len;
    uint64_t deadline = testNowMs() + 5000;

    qraft_wire_reader_init(&reader, 1 << 20);
    while (qraft_wire_reader_next(&reader, &payload, &len) != 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        assert_true(testNowMs() < deadline);
        assert_true(poll(&pfd, 1, 100) >= 0);
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            qraft_wire_reader_close(&reader);
            return 0;
        }
        assert_int_equal(qraft_wire_reader_feed(&reader, buf, (size_t)n), 0);
    }
    result->copy = malloc(len);
    assert_non_null(result->copy);
    memcpy(result->copy, payload, len);
    qraft_wire_reader_close(&reader);
    msgpack_unpacked_init(&result->u);
    assert_int_equal(msgpack_unpack_next(&result->u, result->copy, len, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    return 1;
}

/* The string value of @key in @map, or NULL. */
static const char *mapStr(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    uint32_t i;
    for (i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0 &&
            kv->val.type == MSGPACK_OBJECT_STR) {
            snprintf(out, cap, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
            return out;
        }
    }
    return NULL;
}

/* Expect one error reply with @code on @fd. */
static void expectError(int fd, const char *code)
{
    struct reply reply;
    char got[64];
    char message[256];

    assert_int_equal(readReply(fd, &reply), 1);
    assert_int_equal(reply.u.data.type, MSGPACK_OBJECT_MAP);
    assert_non_null(mapStr(&reply.u.data, "code", got, sizeof got));
    assert_non_null(mapStr(&reply.u.data, "message", message, sizeof message));
    printf("# %s: %s\n", got, message);
    assert_string_equal(got, code);
    replyFree(&reply);
}

/* Encode a map request with the given packer body. */
static void packStr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void stateOf(struct qraft_node_status *st)
{
    assert_int_equal(testNodeStatus(&cluster, (unsigned)leaderIndex, st), 0);
}

static void assertStateUnchanged(const struct qraft_node_status *before)
{
    struct qraft_node_status after;
    stateOf(&after);
    assert_int_equal(after.applied_index, before->applied_index);
    assert_string_equal(after.digest, before->digest);
}

/* Another client is served all along. */
static void assertOthersServed(void)
{
    struct qraft_node_status st;
    unsigned i;
    for (i = 0; i < cluster.n; i++) {
        assert_int_equal(testNodeStatus(&cluster, i, &st), 0);
    }
}

static void test_frame_too_large(void **state)
{
    struct qraft_node_status before;
    unsigned char header[4];
    uint32_t len = MAX_FRAME + 1;
    int fd;
    struct reply reply;
    (void)state;

    stateOf(&before);
    fd = dial((unsigned)leaderIndex);
    header[0] = (unsigned char)(len >> 24);
    header[1] = (unsigned char)(len >> 16);
    header[2] = (unsigned char)(len >> 8);
    header[3] = (unsigned char)len;
    writeAll(fd, header, 4);
    expectError(fd, "FrameTooLarge");
    assert_int_equal(readReply(fd, &reply), 0); /* then closed */
    close(fd);
    assertOthersServed();
    assertStateUnchanged(&before);
}

static void test_frame_at_limit(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct reply reply;
    char pad[MAX_FRAME];
    int fd;
    (void)state;

    /* A hello whose padding key brings the payload to exactly MAX_FRAME. */
    memset(pad, 'x', sizeof pad);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 7);
    packStr(&pk, "op");
    packStr(&pk, "hello");
    packStr(&pk, "version");
    msgpack_pack_uint32(&pk, 1);
    packStr(&pk, "pad");
    {
        size_t used = sb.size + 3; /* str16 header */
        msgpack_pack_str(&pk, MAX_FRAME - used);
        msgpack_pack_str_body(&pk, pad, MAX_FRAME - used);
    }
    assert_int_equal(sb.size, MAX_FRAME);
    fd = dial((unsigned)leaderIndex);
    writeFrame(fd, sb.data, sb.size);
    assert_int_equal(readReply(fd, &reply), 1);
    replyFree(&reply);
    msgpack_sbuffer_destroy(&sb);
    close(fd);
}

static void test_truncated_frame(void **state)
{
    struct qraft_node_status before;
    unsigned char partial[] = {0, 0, 0, 50, 0x82, 0xa2, 'i', 'd'};
    int fd;
    (void)state;

    stateOf(&before);
    fd = dial((unsigned)leaderIndex);
    writeAll(fd, partial, sizeof partial);
    close(fd); /* the peer goes away mid-frame */
    assertOthersServed();
    assertStateUnchanged(&before);
}

static void test_not_msgpack(void **state)
{
    struct qraft_node_status before;
    const char junk[] = "GET / HTTP/1.1\r\n\r\n";
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct reply reply;
    int fd;
    (void)state;

    stateOf(&before);
    fd = dial((unsigned)leaderIndex);
    /* A well-framed payload that is not msgpack: an error, then more work
     * on the same connection. */
    writeFrame(fd, junk, sizeof junk - 1);
    expectError(fd, "MalformedRequest");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 2);
    packStr(&pk, "op");
    packStr(&pk, "hello");
    packStr(&pk, "version");
    msgpack_pack_uint32(&pk, 1);
    writeFrame(fd, sb.data, sb.size);
    assert_int_equal(readReply(fd, &reply), 1);
    replyFree(&reply);
    msgpack_sbuffer_destroy(&sb);
    close(fd);

    /* Raw bytes with no frame structure: a huge declared length. */
    fd = dial((unsigned)leaderIndex);
    writeAll(fd, junk, sizeof junk - 1);
    expectError(fd, "FrameTooLarge");
    close(fd);
    assertOthersServed();
    assertStateUnchanged(&before);
}

static void test_unknown_op_and_wrong_types(void **state)
{
    struct qraft_node_status before;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int fd;
    (void)state;

    stateOf(&before);
    fd = dial((unsigned)leaderIndex);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 1);
    packStr(&pk, "op");
    packStr(&pk, "launch_missiles");
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "UnknownOperation");

    /* SendMessage without a session: refused before the log */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 3);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 2);
    packStr(&pk, "op");
    packStr(&pk, "SendMessage");
    packStr(&pk, "args");
    msgpack_pack_map(&pk, 2);
    packStr(&pk, "QueueName");
    packStr(&pk, "q");
    packStr(&pk, "MessageBody");
    packStr(&pk, "hi");
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "MalformedRequest");

    /* args that are not a map */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 3);
    packStr(&pk, "id");
    msgpack_pack_uint64(&pk, 4);
    packStr(&pk, "op");
    packStr(&pk, "ListQueues");
    packStr(&pk, "args");
    msgpack_pack_array(&pk, 0);
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "MalformedRequest");

    /* an id that is a string */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    packStr(&pk, "id");
    packStr(&pk, "one");
    packStr(&pk, "op");
    packStr(&pk, "hello");
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "MalformedRequest");

    /* not a map at all */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 1);
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "MalformedRequest");

    msgpack_sbuffer_destroy(&sb);
    close(fd);
    assertOthersServed();
    assertStateUnchanged(&before);
}

/* SendMessage with a session and a queue name that is a number. */
static void packBadSend(msgpack_packer *pk, uint64_t id, uint64_t seq)
{
    msgpack_pack_map(pk, 6);
    packStr(pk, "id");
    msgpack_pack_uint64(pk, id);
    packStr(pk, "op");
    packStr(pk, "SendMessage");
    packStr(pk, "cid");
    msgpack_pack_uint64(pk, 77);
    packStr(pk, "seq");
    msgpack_pack_uint64(pk, seq);
    packStr(pk, "ack");
    msgpack_pack_uint64(pk, seq);
    packStr(pk, "args");
    msgpack_pack_map(pk, 2);
    packStr(pk, "QueueName");
    msgpack_pack_int(pk, 42);
    packStr(pk, "MessageBody");
    packStr(pk, "hi");
}

/* A session request the state machine refuses still consumes its sequence
 * (the refusal is stored in the log): a retry gets the same answer, and the
 * next sequence is not OutOfOrder. */
static void test_refusal_consumes_sequence(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int fd;
    (void)state;

    fd = dial((unsigned)leaderIndex);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    packBadSend(&pk, 1, 1);
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "InvalidParameterValue");
    writeFrame(fd, sb.data, sb.size); /* retry of seq 1 */
    expectError(fd, "InvalidParameterValue");
    msgpack_sbuffer_clear(&sb);
    packBadSend(&pk, 2, 2); /* seq 2 follows seq 1: applied, not OutOfOrder */
    writeFrame(fd, sb.data, sb.size);
    expectError(fd, "InvalidParameterValue");
    msgpack_sbuffer_destroy(&sb);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_too_large),
        cmocka_unit_test(test_frame_at_limit),
        cmocka_unit_test(test_truncated_frame),
        cmocka_unit_test(test_not_msgpack),
        cmocka_unit_test(test_unknown_op_and_wrong_types),
        cmocka_unit_test(test_refusal_consumes_sequence),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/badinput", tests, setup, teardown);
}
