/* ReceiveRequestAttemptId of FIFO receives, at the leader: a receive
 * retried with the same attempt id within 5 minutes gets the first one's
 * reply again (the same messages and receipt handles), whichever node it
 * came through.
 *
 * The happy path: a FIFO ReceiveMessage whose args carry
 * ReceiveRequestAttemptId is looked up here before it is proposed; on a
 * hit the stored reply is sent and nothing is proposed. A receive that
 * delivered messages leaves its reply here when it completes. Only
 * requests that carry an attempt id are affected (node/http passes it
 * through; libqraft never sends one).
 *
 * Failure modes and limits: the cache is this leader's, not replicated: a
 * retry after a leader change is a new receive. A hit does not consume the
 * request's session sequence (node/http's forwarder then starts a fresh
 * session, nothing having been applied). At most ATTEMPTS_MAX replies are
 * kept; an allocation failure keeps nothing.
 */
#include "node/internal.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define ATTEMPTS_TTL_MS (5u * 60u * 1000u)
#define ATTEMPTS_MAX 10000
#define ATTEMPT_ID_MAX 128

struct attempt
{
    char key[FSM_QUEUE_NAME_MAX + 1 + ATTEMPT_ID_MAX + 1]; /* queue NUL id */
    size_t key_len;
    void *reply;
    size_t reply_len;
    uint64_t at;
    struct attempt *next;
};

/* The string value of @name in msgpack map @o, or false. */
static bool strOf(const msgpack_object *o, const char *name, const char **s, size_t *len)
{
    uint32_t i;
    size_t n = strlen(name);

    if (o->type != MSGPACK_OBJECT_MAP) {
        return false;
    }
    for (i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, name, n) == 0 && v->type == MSGPACK_OBJECT_STR) {
            *s = v->via.str.ptr;
            *len = v->via.str.size;
            return true;
        }
    }
    return false;
}

bool attemptKeyOf(const void *args, size_t args_len, char *key, size_t *key_len)
{
    msgpack_unpacked u;
    size_t off = 0;
    const char *queue, *id;
    size_t qlen, ilen;
    bool ok = false;

    if (args == NULL) {
        return false;
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, args, args_len, &off) == MSGPACK_UNPACK_SUCCESS &&
        strOf(&u.data, "ReceiveRequestAttemptId", &id, &ilen) &&
        strOf(&u.data, "QueueName", &queue, &qlen) && ilen > 0 && ilen <= ATTEMPT_ID_MAX &&
        qlen > 5 && qlen <= FSM_QUEUE_NAME_MAX && memcmp(queue + qlen - 5, ".fifo", 5) == 0) {
        memcpy(key, queue, qlen);
        key[qlen] = '\0';
        memcpy(key + qlen + 1, id, ilen);
        *key_len = qlen + 1 + ilen;
        ok = true;
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

static void attemptFree(struct attempt *a)
{
    free(a->reply);
    free(a);
}

bool attemptsGet(struct server *s, const char *key, size_t key_len, const void **reply,
                 size_t *len)
{
    uint64_t now = uv_now(&s->loop);
    struct attempt *a;

    for (a = s->attempts; a != NULL; a = a->next) {
        if (a->key_len == key_len && memcmp(a->key, key, key_len) == 0 &&
            now - a->at <= ATTEMPTS_TTL_MS) {
            *reply = a->reply;
            *len = a->reply_len;
            return true;
        }
    }
    return false;
}

/* Whether reply @data is ok with a non-empty Messages array. */
static bool delivered(const void *data, size_t len)
{
    msgpack_unpacked u;
    size_t off = 0;
    bool yes = false;
    uint32_t i;

    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object *k = &u.data.via.map.ptr[i].key;
            const msgpack_object *v = &u.data.via.map.ptr[i].val;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 8 &&
                memcmp(k->via.str.ptr, "Messages", 8) == 0 && v->type == MSGPACK_OBJECT_ARRAY) {
                yes = v->via.array.size > 0;
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return yes;
}

void attemptsPut(struct server *s, const char *key, size_t key_len, const void *reply,
                 size_t len)
{
    uint64_t now = uv_now(&s->loop);
    struct attempt **link;
    struct attempt *a;
    unsigned kept = 0;

    if (key_len > sizeof a->key || !delivered(reply, len)) {
        return;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->reply = malloc(len)) == NULL) {
        free(a);
        return;
    }
    memcpy(a->key, key, key_len);
    a->key_len = key_len;
    memcpy(a->reply, reply, len);
    a->reply_len = len;
    a->at = now;
    a->next = s->attempts;
    s->attempts = a;
    /* Drop what expired, and what is past the cap (the oldest). */
    for (link = &s->attempts; *link != NULL;) {
        struct attempt *e = *link;
        if (now - e->at > ATTEMPTS_TTL_MS || kept >= ATTEMPTS_MAX) {
            *link = e->next;
            attemptFree(e);
        } else {
            kept++;
            link = &e->next;
        }
    }
}

void attemptsClose(struct server *s)
{
    while (s->attempts != NULL) {
        struct attempt *a = s->attempts;
        s->attempts = a->next;
        attemptFree(a);
    }
}
