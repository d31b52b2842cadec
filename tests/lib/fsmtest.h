/* Test harness for the state machine: an fsm in a temp dir, args built
 * from JSON text, applies with explicit now_ms, reply fields read back.
 *
 * Args: ftDo(t, op, "{\"QueueName\":\"%s\"}", q) formats the text, then
 * turns it into a msgpack map: objects, arrays, strings, integers, true,
 * false. A string written "bin:TEXT" becomes a msgpack bin of TEXT.
 * Mutating ops get the harness session's next sequence (ack = seq);
 * others go through fsmApply too (ftQuery uses fsmQuery). */
#ifndef QRAFT_TESTS_FSMTEST_H
#define QRAFT_TESTS_FSMTEST_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm/fsm.h"

/* One fsm under test. */
struct ft
{
    char *dir;
    struct fsm *f;
    uint64_t cid;         /* session of mutating ops */
    uint64_t seq;         /* its last sequence */
    uint64_t now;         /* now_ms of the next command */
    bool wait;            /* fsmCommand.wait of the next ReceiveMessage */
    msgpack_unpacked u;   /* the last reply, decoded */
    struct fsmReply raw;  /* the last reply */
    msgpack_sbuffer args; /* the last args built */
    struct fsmConfig conf; /* as opened (ftReopen) */
};

/* Open a fresh fsm (inflight_max 0: the default). */
struct ft *ftOpen(uint32_t window, uint64_t idle_ms, uint32_t inflight_max);

/* The same with a sweep slice of at most @sweep_keys keys (0: the
 * default). */
struct ft *ftOpenSweep(uint32_t window, uint64_t idle_ms, uint32_t inflight_max,
                       uint32_t sweep_keys);

/* Open a fresh durable fsm (fsmConfig.durable: LMDB kept across
 * ftReopen, snapshot markers). */
struct ft *ftOpenDurable(uint32_t window, uint64_t idle_ms);

/* Close the fsm and open it again on the same directory and config: a
 * restart. */
void ftReopen(struct ft *t);

/* Close and remove everything. */
void ftClose(struct ft *t);

/* Build args from JSON text (printf format) into t->args. */
void ftArgs(struct ft *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Encode and apply a command of @op with the args in t->args, at t->now,
 * with session (@cid, @seq, @ack) for mutating ops. */
const msgpack_object *ftApplyCmd(struct ft *t, unsigned op, uint64_t cid,
                                 uint64_t seq, uint64_t ack);

/* Fill @c as the harness session's next command of @op, with the args in
 * t->args, at t->now (for tests that encode or batch it themselves). */
void ftCommandNext(struct ft *t, unsigned op, struct fsmCommand *c);

/* Apply @op with args from JSON (the harness session, next sequence). */
const msgpack_object *ftDo(struct ft *t, unsigned op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fsmQuery @op with args from JSON. */
const msgpack_object *ftQuery(struct ft *t, unsigned op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Apply raw entry bytes. */
const msgpack_object *ftApplyRaw(struct ft *t, const void *buf, size_t len);

/* Apply a tick at t->now. */
void ftTick(struct ft *t);

/* Value of @key in map @o, or NULL. */
const msgpack_object *ftGet(const msgpack_object *o, const char *key);

/* String @o as a NUL-terminated copy (rotating static buffers). */
const char *ftStr(const msgpack_object *o);

/* String field @key of map @o. */
const char *ftS(const msgpack_object *o, const char *key);

/* Unsigned field @key of map @o. */
uint64_t ftU(const msgpack_object *o, const char *key);

/* "ok", or the error code of a reply. */
const char *ftCode(const msgpack_object *o);

/* The error message of a reply. */
const char *ftMsg(const msgpack_object *o);

/* Array field @key of a success reply (asserted). */
const msgpack_object *ftArr(const msgpack_object *o, const char *key);

/* The state without meta, sessions and replies (malloc'd; *len). */
uint8_t *ftState(struct ft *t, size_t *len);

/* A whole snapshot (malloc'd; *len). */
uint8_t *ftSnapshot(struct ft *t, size_t *len);

/* Entries of table @name in @t's state, and the bytes of their values;
 * with @prefix non-zero only those whose key starts with it (8 bytes,
 * big-endian). The table must exist. */
uint64_t ftTableEntries(struct ft *t, const char *name, uint64_t prefix, size_t *value_bytes);

/* Assert equal snapshots and digests of @a and @b; returns @a's snapshot
 * (malloc'd; *len). */
uint8_t *ftSame(struct ft *a, struct ft *b, size_t *len);

/* Assert that @op with @json is refused with @code (and, if non-NULL, a
 * message containing @msg) and that the state did not change. */
void ftRefused(struct ft *t, unsigned op, const char *code, const char *msg,
               const char *json);

/* Send @body to @q; returns the MessageId. */
const char *ftSend(struct ft *t, const char *q, const char *body);

/* Receive up to @max from @q with visibility @vis (-1: default), asking
 * for every system and message attribute ("All"): the Messages array. */
const msgpack_object *ftRecv(struct ft *t, const char *q, int max, int vis);

/* Attribute @name of queue @q (GetQueueAttributes through fsmQuery). */
const char *ftAttr(struct ft *t, const char *q, const char *name);

#endif /* QRAFT_TESTS_FSMTEST_H */
